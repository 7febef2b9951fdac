"""The error_report trace event (include/trace/events/error_report.h) of v5.14 and v6.18.

``error_report:error_report_end`` marks the end of a report of a kernel error detector: KASAN
emits it in ``end_report()`` after the report's body and before its closing ``====`` line, with
the reported address as ``id`` (tracepoints.md 8).  v5.14 knows two detectors (kfence, kasan);
v6.0 added ``warning`` (the live 6.18 format, kept in catalog/v6.18/error_report).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import ProfileTable
from memsim.tracing.events import EventDecl, layout_fields

#: enum error_detector's values as __print_symbolic lists them
_DETECTORS = ProfileTable("tracing.error_report detectors", {
    "v5.14": '{ 0, "kfence" }, { 1, "kasan" }',
    "v6.18": '{ 0, "kfence" }, { 1, "kasan" }, { 2, "warning" }',
})

#: enum error_detector
ERROR_DETECTOR_KFENCE = 0
ERROR_DETECTOR_KASAN = 1


def error_report_events(profile: str, plugin: str = "kasan") -> List[EventDecl]:
    """error_report:error_report_end of ``profile``."""
    return [EventDecl(
        "error_report", "error_report_end",
        layout_fields([("enum error_detector", "error_detector", 4, False),
                       ("unsigned long", "id", 8, False)]),
        f'"[%s] %lx", __print_symbolic(REC->error_detector, {_DETECTORS[profile]}), REC->id',
        plugin=plugin,
        doc="end_report(): a KASAN report was printed (id: the reported address; the untagged "
            "object for an invalid free), before its closing line.")]
