"""memsim: a Linux memory-management emulator.

The Cython core (physical memory, mm and page tables, faults, rss counters, trace ring buffers)
lives in this package; subsystems are pluggy plugins (memsim.plugins), tracing is memsim.tracing,
and workloads are YAML files run by the ``memsim`` CLI.  Nothing happens at import (STYLE 9).
"""
__version__ = "0.1.0"
