"""Tracing: event declarations, format files, kernel-exact text output, and the trace frontend.

The frontend's entry points are importable from here (loaded on first use, so importing
``memsim.tracing`` stays cheap)::

    from memsim.tracing import open_trace
    with open_trace("trace.dat") as r:
        for rec in r.records(): ...

* :func:`open_trace` (``reader``): any text or trace.dat trace, compressed or not;
* :class:`Record`, :class:`Problem` (``record``), :class:`Columns` (``columns``);
* :class:`FormatSet` (``formats``): event formats from tracefs, a trace.dat or memsim;
* :class:`Renderer` (``report``): records back to kernel or trace-cmd text;
* :func:`write_trace_dat` (``tracedat_write``): a trace.dat that trace-cmd reads.
"""
from importlib import import_module

_EXPORTS = {
    "open_trace": "reader", "TraceReader": "reader",
    "Record": "record", "Problem": "record",
    "Columns": "columns", "EventTable": "columns",
    "FormatSet": "formats", "parse_format": "formats",
    "Renderer": "report",
    "write_trace_dat": "tracedat_write",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'memsim.tracing' has no attribute {name!r}")
    return getattr(import_module(f"memsim.tracing.{mod}"), name)
