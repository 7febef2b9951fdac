"""memcg: memory cgroups (issue 15)."""
