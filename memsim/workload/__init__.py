"""Workload files: schema, YAML loader with file:line:column errors, and the runner."""
