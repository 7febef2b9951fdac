"""What every trace reader yields: :class:`Record` (one event) and :class:`Problem` (one bad spot).

The same model comes out of every input (the kernel's ``trace`` text, ``trace_pipe``,
``trace-cmd report`` text, trace.dat v6/v7, from a real kernel or from memsim), so a tool written
against it does not care where the trace came from.

Reader meta
-----------
Every reader also describes its input in ``reader.meta``, one dict with the same keys whatever
the input (:func:`new_meta` gives the defaults):

==================  =============================================================================
``format``          ``"text"`` or ``"trace.dat"`` (``"ring buffer"`` for
                    :meth:`DatReader.from_subbuffers <memsim.tracing.tracedat.DatReader.from_subbuffers>`)
``dialect``         text: ``"kernel"`` (the ``trace`` file, with its ``#`` header),
                    ``"trace_pipe"`` (the same lines, no header) or ``"trace-cmd"``
                    (``trace-cmd report`` output); None for a trace.dat
``ncpus``           the CPU count the input states (``#P:``, ``cpus=``, the file's CPU count),
                    or None when it states none
``entries``         events in the buffer (``entries-in-buffer``, the sum of the trace.dat
                    CPUSTAT ``read events``), or None when the input does not say
``entries_written`` events written (``entries-written``; CPUSTAT ``read events + overrun``),
                    or None
``clock``           the trace clock's name: ``local``, ``global``, ``counter``, ``uptime``,
                    ``x86-tsc``, ... (a trace.dat records it; a text trace with decimal
                    µs/ns timestamps is ``local`` and one with integer timestamps ``counter``)
``flags_width``     the irq-info column: 5 or 4 characters, or None when the input has none
``tgid``            True when the records carry a TGID
``lost``            ``[(cpu or None, count or None), ...]``: events the input says were lost
                    (``[LOST k EVENTS]`` lines; trace.dat pages with missed events), filled as
                    the records are read
==================  =============================================================================

plus extras of one reader: ``tracer`` (text); ``version``, ``compression``, ``uname``,
``page_size``, ``cpustat``, ``missed_events``, ``nrecords``, ... (trace.dat, see
:class:`~memsim.tracing.tracedat.DatReader`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

FORMATS = ("text", "trace.dat")
TEXT_DIALECTS = ("kernel", "trace_pipe", "trace-cmd")


def new_meta(format: str, **values: Any) -> Dict[str, Any]:
    """A reader's ``meta`` with every key of the schema above at its default, then ``values``."""
    meta: Dict[str, Any] = {"format": format, "dialect": None, "ncpus": None, "entries": None,
                            "entries_written": None, "clock": "local", "flags_width": None,
                            "tgid": False, "lost": []}
    meta.update(values)
    return meta


class Record:
    """One trace event.

    * ``system``/``event``: ``kmem``/``rss_stat`` (``system`` is ``""`` when no format names it);
    * ``pid``, ``tgid`` (None unless the trace has a TGID column or it is known), ``comm``,
      ``cpu``;
    * ``ts``: the timestamp in **nanoseconds** of the trace clock (text has µs precision, so
      ``ts`` is a multiple of 1000 there; integer clocks give the raw count);
    * ``flags``: the irq-info characters as the kernel prints them (``d..2.``; 4 characters on
      older kernels), or None when the input has no flags column;
    * ``fields``: the event's fields by the names of its format file, typed (``int`` for
      numbers, ``str`` for strings).  Symbolic values are resolved to their numbers both ways:
      ``type=MM_ANONPAGES`` and a raw ``member=1`` both give ``fields["member"] == 1``.  Printed
      values that no field can be recovered from (a hashed ``page=%p``) are kept under their
      printed label;
    * ``payload``: the payload text as it was printed (text inputs), else None;
    * ``buffer``: the tracefs instance the event was recorded in (``trace-cmd record -B NAME``),
      ``""`` for the top-level buffer and for inputs that name none.
    """

    __slots__ = ("system", "event", "pid", "tgid", "comm", "cpu", "ts", "flags", "fields",
                 "payload", "buffer")

    def __init__(self, system: str, event: str, pid: int, tgid: Optional[int], comm: str,
                 cpu: int, ts: int, flags: Optional[str], fields: Dict[str, Any],
                 payload: Optional[str] = None, buffer: str = ""):
        self.system = system
        self.event = event
        self.pid = pid
        self.tgid = tgid
        self.comm = comm
        self.cpu = cpu
        self.ts = ts
        self.flags = flags
        self.fields = fields
        self.payload = payload
        self.buffer = buffer

    @property
    def full_name(self) -> str:
        return f"{self.system}:{self.event}" if self.system else self.event

    def key(self):
        """What two records of the same event compare on (the printed payload is left out)."""
        return (self.system, self.event, self.pid, self.tgid, self.comm, self.cpu, self.ts,
                self.flags, self.fields, self.buffer)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        where = f" buffer={self.buffer!r}" if self.buffer else ""
        return (f"Record({self.full_name}{where} pid={self.pid} comm={self.comm!r} "
                f"cpu={self.cpu} ts={self.ts} flags={self.flags!r} fields={self.fields!r})")

    def as_dict(self) -> Dict[str, Any]:
        return {"system": self.system, "event": self.event, "pid": self.pid, "tgid": self.tgid,
                "comm": self.comm, "cpu": self.cpu, "ts": self.ts, "flags": self.flags,
                "fields": dict(self.fields), "buffer": self.buffer}


@dataclass(frozen=True)
class Problem:
    """A spot a reader skipped: ``where`` is ``file:line`` (text) or ``file: cpu N page K`` /
    ``file: offset N`` (trace.dat)."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"
