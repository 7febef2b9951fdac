"""Tracing: event declarations, format files, kernel-exact text output (and, later, parsing)."""
