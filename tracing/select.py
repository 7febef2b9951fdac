"""Which records of a trace to keep: event globs, pids, CPUs and a time window.

What ``memsim trace report -e GLOB --pid N --cpu N --from T --to T`` selects, as a library:

* :class:`Selection`: the frozen description of a selection (empty = everything);
* :class:`EventMatcher`: tracefs ``set_event``-style globs (``kmem:*``, ``*:rss_stat``, ``kmem``),
  remembering which globs matched something so that a caller can warn about the others;
* :func:`select`: the records of a stream that a selection keeps, streaming;
* :func:`parse_time`: ``440.44`` (seconds, as a trace prints them) or ``440440ms``/``5us``/
  ``12ns`` as nanoseconds of the trace clock.

Example::

    from memsim.tracing.reader import open_trace
    from memsim.tracing.select import Selection, select, parse_time

    sel = Selection(events=("kmem:rss_stat",), pids=(6923,), t_from=parse_time("440.44", "--from"))
    with open_trace("trace.dat") as r:
        for rec in select(r.records(), sel):
            ...
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from memsim.errors import UsageError

_TIME_RE = re.compile(r"^\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-zµμ]*)\s*$", re.I)
_TIME_UNITS = {"": 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "µs": 10**3, "μs": 10**3, "ns": 1}
TIME_FORMS = ("write seconds as the trace prints them (440.44) or a number with a unit "
              "(440440ms, 5us, 12ns)")


def parse_time(value: str, option: str) -> int:
    """``440.44`` (seconds) or ``440440ms``/``5us``/``12ns`` -> nanoseconds of the trace clock.

    :param option: where the value came from (``--from``), named by the
        :class:`~memsim.errors.UsageError` raised for a value that is not a time or not a whole
        number of nanoseconds.
    """
    m = _TIME_RE.match(value)
    unit = m.group("unit").lower() if m else None
    if m is None or unit not in _TIME_UNITS:
        raise UsageError(option, f"{value!r} is not a time", TIME_FORMS)
    ns = Fraction(m.group("num")) * _TIME_UNITS[unit]
    if ns.denominator != 1:
        raise UsageError(option, f"{value!r} is not a whole number of nanoseconds", TIME_FORMS)
    return int(ns)


@dataclass(frozen=True)
class Selection:
    """The records to keep: set_event-style globs, pids, cpus, a time window in ns (both ends
    inclusive).  Empty tuples / None select everything."""

    events: Tuple[str, ...] = ()
    pids: Tuple[int, ...] = ()
    cpus: Tuple[int, ...] = ()
    t_from: Optional[int] = None
    t_to: Optional[int] = None

    @property
    def active(self) -> bool:
        """True when the selection leaves anything out."""
        return bool(self.events or self.pids or self.cpus or self.t_from is not None
                    or self.t_to is not None)


class EventMatcher:
    """set_event-style globs: ``kmem:*``, ``kmem:mm_page_*``, ``*:rss_stat``, ``rss_stat``.

    A glob with a colon matches ``system:event`` part by part (an empty part matches all); a glob
    without one matches the event name *or* the system name (``kmem`` selects every kmem event,
    as ``echo kmem > set_event`` does).  Matching is case-sensitive, as in tracefs.

    ``matcher(system, event)`` answers (cached per event); :meth:`unused` lists the globs that
    have matched nothing so far; :meth:`unkept` those that matched events of the trace of which
    the rest of the selection (pids, CPUs, time window) kept none (:func:`select` asks the
    matcher about every record and tells it which it kept, :meth:`keep`).
    """

    def __init__(self, globs: Sequence[str]):
        self.globs = tuple(globs)
        self.used: Set[str] = set()
        self.kept: Set[str] = set()
        self._cache: Dict[Tuple[str, str], bool] = {}
        self._kept_events: Set[Tuple[str, str]] = set()

    @staticmethod
    def _one(glob: str, system: str, event: str) -> bool:
        if ":" in glob:
            sg, _, eg = glob.partition(":")
            return fnmatch.fnmatchcase(system, sg or "*") and fnmatch.fnmatchcase(event, eg or "*")
        return fnmatch.fnmatchcase(event, glob) or (bool(system) and fnmatch.fnmatchcase(system, glob))

    def __call__(self, system: str, event: str) -> bool:
        key = (system, event)
        hit = self._cache.get(key)
        if hit is None:
            matched = [g for g in self.globs if self._one(g, system, event)]
            self.used.update(matched)
            hit = self._cache[key] = bool(matched)
        return hit

    def keep(self, system: str, event: str) -> None:
        """A record of ``system:event`` was selected: the globs matching it are :attr:`kept`."""
        key = (system, event)
        if key not in self._kept_events:
            self._kept_events.add(key)
            self.kept.update(g for g in self.globs if self._one(g, system, event))

    def unused(self) -> List[str]:
        """The globs that matched no event seen so far, in the order given."""
        return [g for g in self.globs if g not in self.used]

    def unkept(self) -> List[str]:
        """The globs that matched events of which no record was selected, in the order given."""
        return [g for g in self.globs if g in self.used and g not in self.kept]


def select(records: Iterable, sel: Selection, matcher: Optional[EventMatcher] = None) -> Iterator:
    """The records of ``records`` that ``sel`` selects, streaming.

    ``matcher`` is the :class:`EventMatcher` of ``sel.events`` when the caller wants to ask it
    afterwards which globs matched nothing; one is made when it is not given.
    """
    if not sel.active:
        yield from records
        return
    match = matcher or (EventMatcher(sel.events) if sel.events else None)
    pids = frozenset(sel.pids) if sel.pids else None
    cpus = frozenset(sel.cpus) if sel.cpus else None
    lo, hi = sel.t_from, sel.t_to
    for rec in records:
        # the event first, so the matcher knows every event of the trace, not of the window
        if match is not None and not match(rec.system, rec.event):
            continue
        if pids is not None and rec.pid not in pids:
            continue
        if cpus is not None and rec.cpu not in cpus:
            continue
        if lo is not None and rec.ts < lo:
            continue
        if hi is not None and rec.ts > hi:
            continue
        if match is not None:
            match.keep(rec.system, rec.event)
        yield rec


def select_columns(cols, sel: Selection, matcher: Optional[EventMatcher] = None):
    """The rows of a :class:`~memsim.tracing.columns.Columns` batch that ``sel`` selects, as a
    new batch whose ``seq`` are renumbered ``0..n-1`` in file order (what :func:`select` keeps
    of the batch's records, in the same order; ``matcher`` learns the same)."""
    from array import array as _array
    from memsim.tracing.columns import Columns, EventTable
    match = matcher or (EventMatcher(sel.events) if sel.events else None)
    pids = frozenset(sel.pids) if sel.pids else None
    cpus = frozenset(sel.cpus) if sel.cpus else None
    lo, hi = sel.t_from, sel.t_to
    kept = {}
    for name, t in cols.tables.items():
        n = len(t)
        if not n:
            continue
        system, _, event = name.rpartition(":")
        if match is not None and not match(system, event):
            continue
        c = t.columns
        idx = range(n)
        if pids is not None:
            pid = c["pid"]
            idx = [i for i in idx if pid[i] in pids]
        if cpus is not None:
            cpu = c["cpu"]
            idx = [i for i in idx if cpu[i] in cpus]
        if lo is not None or hi is not None:
            ts = c["ts"]
            idx = [i for i in idx if (lo is None or ts[i] >= lo) and (hi is None or ts[i] <= hi)]
        if not len(idx):
            continue
        if match is not None:
            match.keep(system, event)
        if len(idx) == n:
            kept[name] = t
            continue
        sub = {k: (_array(col.typecode, [col[i] for i in idx]) if isinstance(col, _array)
                   else [col[i] for i in idx]) for k, col in c.items()}
        kept[name] = EventTable(name, sub, None if t.payloads is None
                                else [t.payloads[i] for i in idx])
    rank = {q: i for i, q in enumerate(sorted(q for t in kept.values() for q in t.columns["seq"]))}
    out = {}
    for name, t in kept.items():
        cols2 = dict(t.columns)
        cols2["seq"] = _array("q", [rank[q] for q in t.columns["seq"]])
        out[name] = EventTable(name, cols2, t.payloads)
    return Columns(out)


__all__ = ["Selection", "EventMatcher", "select", "select_columns", "parse_time", "TIME_FORMS"]
