"""The kernel's ``trace`` file, byte for byte (tracepoints.md 2.4, FORMAT-NOTES 1-3).

A line is ``trace_print_context`` + the event's payload (kernel/trace/trace_output.c)::

    "%16s-%-7d " comm, pid | "[%03d] " cpu | irq-info | " %5lu.%06lu" | ": " name ": " payload

* irq-info has 4 characters on v5.14 and 5 on v6.18 (migrate-disable depth); v6.18 also knows
  BH-disabled (``b``/``D``, flag 0x80) and lazy resched (``L``/``l``/``b``/``B``, flag 0x02 --
  the bit that was IRQS_NOSUPPORT, ``X``, before 6.12).
* the timestamp is ``ns2usecs`` (kernel/trace/trace.c), which ROUNDS to the nearest
  microsecond (``nsec += 500``) before splitting into seconds and microseconds.
* records of all CPUs are merged by timestamp (``trace_find_next_entry``: the lowest CPU wins a
  tie, each CPU's records stay in order).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from operator import itemgetter
from typing import (Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TextIO,
                    Tuple)

from memsim.profiles import get_profile
from memsim.tracing.printfmt import compile_decl

# trace_entry flag bits (include/linux/trace_events.h)
TRACE_FLAG_IRQS_OFF = 0x01
TRACE_FLAG_IRQS_NOSUPPORT = 0x02        # v5.14; v6.12+ reuses the bit for NEED_RESCHED_LAZY
TRACE_FLAG_NEED_RESCHED_LAZY = 0x02
TRACE_FLAG_NEED_RESCHED = 0x04
TRACE_FLAG_HARDIRQ = 0x08
TRACE_FLAG_SOFTIRQ = 0x10
TRACE_FLAG_PREEMPT_RESCHED = 0x20
TRACE_FLAG_NMI = 0x40
TRACE_FLAG_BH_OFF = 0x80                # v5.19+

_HEADER_4 = (
    "#                                _-----=> irqs-off\n"
    "#                               / _----=> need-resched\n"
    "#                              | / _---=> hardirq/softirq\n"
    "#                              || / _--=> preempt-depth\n"
    "#                              ||| /     delay\n"
    "#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION\n"
    "#              | |         |   ||||      |         |\n"
)
_HEADER_5 = (
    "#                                _-----=> irqs-off/BH-disabled\n"
    "#                               / _----=> need-resched\n"
    "#                              | / _---=> hardirq/softirq\n"
    "#                              || / _--=> preempt-depth\n"
    "#                              ||| / _-=> migrate-disable\n"
    "#                              |||| /     delay\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n"
)


def _width(profile_name: str) -> int:
    return get_profile(profile_name).trace_flags_width


def trace_header(profile_name: str, entries_in_buffer: int, entries_written: int,
                 ncpus: int) -> str:
    """The 11/12 ``#`` lines before the events (default options: irq-info on, no TGID)."""
    legend = _HEADER_4 if _width(profile_name) == 4 else _HEADER_5
    return ("# tracer: nop\n#\n"
            f"# entries-in-buffer/entries-written: {entries_in_buffer}/{entries_written}"
            f"   #P:{ncpus}\n#\n" + legend)


def irq_info(common_flags: int, preempt_count: int, width: int) -> str:
    """``trace_print_lat_fmt``: 4 characters (v5.14) or 5 (v6.18)."""
    f = common_flags
    nmi, hard, soft = f & TRACE_FLAG_NMI, f & TRACE_FLAG_HARDIRQ, f & TRACE_FLAG_SOFTIRQ
    hardsoft = ("Z" if nmi and hard else "z" if nmi else "H" if hard and soft else
                "h" if hard else "s" if soft else ".")
    nr, pr = f & TRACE_FLAG_NEED_RESCHED, f & TRACE_FLAG_PREEMPT_RESCHED
    if width == 4:
        irqs = "d" if f & TRACE_FLAG_IRQS_OFF else "X" if f & TRACE_FLAG_IRQS_NOSUPPORT else "."
        resched = "N" if nr and pr else "n" if nr else "p" if pr else "."
        return f"{irqs}{resched}{hardsoft}{'%x' % preempt_count if preempt_count else '.'}"
    irq, bh = f & TRACE_FLAG_IRQS_OFF, f & TRACE_FLAG_BH_OFF
    irqs = "D" if irq and bh else "d" if irq else "b" if bh else "."
    lazy = f & TRACE_FLAG_NEED_RESCHED_LAZY
    resched = {(1, 1, 1): "B", (1, 0, 1): "N", (0, 1, 1): "L", (1, 1, 0): "b",
               (1, 0, 0): "n", (0, 0, 1): "p", (0, 1, 0): "l"}.get(
        (bool(nr), bool(lazy), bool(pr)), ".")
    low, high = preempt_count & 0xF, (preempt_count >> 4) & 0xF
    return (f"{irqs}{resched}{hardsoft}{'%x' % low if low else '.'}"
            f"{'%x' % high if high else '.'}")


# irq-info characters -> trace_entry flag bits: the inverse of irq_info's choices
_IRQS = {"D": TRACE_FLAG_IRQS_OFF | TRACE_FLAG_BH_OFF, "d": TRACE_FLAG_IRQS_OFF,
         "b": TRACE_FLAG_BH_OFF, "X": TRACE_FLAG_IRQS_NOSUPPORT, ".": 0}
_NR, _PR, _LAZY = TRACE_FLAG_NEED_RESCHED, TRACE_FLAG_PREEMPT_RESCHED, TRACE_FLAG_NEED_RESCHED_LAZY
_RESCHED_4 = {"N": _NR | _PR, "n": _NR, "p": _PR, ".": 0}
_RESCHED_5 = {"B": _NR | _LAZY | _PR, "N": _NR | _PR, "L": _LAZY | _PR, "b": _NR | _LAZY,
              "n": _NR, "p": _PR, "l": _LAZY, ".": 0}
_HARDSOFT = {"Z": TRACE_FLAG_NMI | TRACE_FLAG_HARDIRQ, "z": TRACE_FLAG_NMI,
             "H": TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ, "h": TRACE_FLAG_HARDIRQ,
             "s": TRACE_FLAG_SOFTIRQ, ".": 0}


def irq_info_flags(text: Optional[str]) -> Tuple[int, int]:
    """``(common_flags, common_preempt_count)`` of an irq-info column (``d..2.``, ``dN.1``):
    the inverse of ``trace_print_lat_fmt`` (:func:`irq_info`) for 4 and 5
    characters.  None (no flags column) gives (0, 0)."""
    if not text:
        return 0, 0
    if len(text) not in (4, 5):
        raise ValueError(f"irq-info {text!r} has {len(text)} characters; expected 4 or 5")
    try:
        flags = _IRQS[text[0]] | (_RESCHED_5 if len(text) == 5 else _RESCHED_4)[text[1]] \
            | _HARDSOFT[text[2]]
        preempt = 0 if text[3] == "." else int(text[3], 16)
        if len(text) == 5 and text[4] != ".":
            preempt |= int(text[4], 16) << 4
    except (KeyError, ValueError):
        raise ValueError(f"irq-info {text!r} is not what the kernel prints") from None
    return flags, preempt


def comm_of(pid: int, comms: Mapping[int, str]) -> str:
    """``__trace_find_cmdline``: "<idle>" for pid 0, "<...>" when unknown, at most 15 chars."""
    if pid == 0:
        return "<idle>"
    c = comms.get(pid)
    return "<...>" if c is None else c[:15]


def format_line(comm: str, pid: int, cpu: int, flags: int, preempt: int, ts_ns: int,
                event_name: str, payload: str, width: int) -> str:
    """One ``trace`` line without the trailing newline."""
    us = (ts_ns + 500) // 1000
    return (f"{comm:>16}-{pid:<7} [{cpu:03d}] {irq_info(flags, preempt, width)} "
            f"{us // 1000000:5d}.{us % 1000000:06d}: {event_name}: {payload}")


class TextRenderer:
    """Renders a TraceBuffer as the kernel's ``trace`` file.

    ``comms`` maps pid -> comm (the saved-cmdlines cache); ``ptr_key`` is the boot's %p key
    (memsim.hashptr.key_from_seed).  Formatters are compiled once per event at construction.
    """

    CHUNK = 8192

    def __init__(self, registry: Any, profile_name: str, comms: Mapping[int, str],
                 ptr_key: Tuple[int, int] = (0, 0), kallsyms: Any = None):
        self.registry = registry
        self.profile_name = profile_name
        self.width = _width(profile_name)
        self.comms = comms
        self.ptr_key = ptr_key
        self.kallsyms = kallsyms
        self._types: Dict[int, Tuple[Any, Any, str]] = {}
        for type_id, decl in registry.items():
            self._compile(type_id, decl)
        self._prefix: Dict[int, Dict[bytes, str]] = {}

    def _compile(self, type_id: int, decl: Any) -> Tuple[Any, Any, str]:
        fmt = compile_decl(decl, ptr_key=self.ptr_key, kallsyms=self.kallsyms)
        codec = decl.codec
        unpack = codec.unpack if codec.has_strings else codec.dec.unpack_from
        t = self._types[type_id] = (unpack, fmt.payload_tuple, f": {decl.name}: ")
        return t

    def _late_type(self, type_id: int) -> Any:
        """An event registered after this renderer was built, or None if unknown."""
        try:
            decl = self.registry.by_id(type_id)
        except KeyError:
            return None
        return self._compile(type_id, decl)

    def header(self, tb: Any) -> str:
        """print_event_info(): ``entries-in-buffer`` counts the records in the buffer,
        ``entries-written`` those plus the ones overwritten (get_total_entries); records dropped
        while the buffer was full (overwrite off) count in neither."""
        stats = [tb.cpu_stats(cpu) for cpu in range(tb.ncpus)]
        return trace_header(self.profile_name, sum(s["entries"] for s in stats),
                            sum(s["written"] for s in stats), tb.ncpus)

    @staticmethod
    def merged(tb: Any) -> List[Tuple[int, int, bytes]]:
        """(ts, cpu, payload) of every record, in ``trace`` order."""
        recs: List[Tuple[int, int, bytes]] = []
        for cpu in range(tb.ncpus):
            recs.extend([(ts, cpu, p) for ts, p in tb.records(cpu)])
        recs.sort(key=itemgetter(0, 1))       # stable: per-CPU order kept on equal (ts, cpu)
        return recs

    def lines(self, tb: Any) -> Iterator[str]:
        """The event lines (with newlines), no header: what ``trace_pipe`` would print."""
        return self.format_records(self.merged(tb))

    def format_records(self, recs: Iterable[Tuple[int, int, bytes]]) -> Iterator[str]:
        """The lines (with newlines) of ``(ts, cpu, payload)`` records, in the order given
        (``print_trace_fmt``: trace_print_context, then the event's print fmt).  Comms are
        looked up when the call starts."""
        types = self._types
        width = self.width
        comms = self.comms
        # per CPU: raw header bytes (flags, preempt, pid) -> "comm-pid [cpu] irq " prefix
        self._prefix = prefixes = defaultdict(dict)   # comms may have changed since last time
        last_us = -1
        stamp = ""
        for ts, cpu, p in recs:
            us = (ts + 500) // 1000                 # ns2usecs rounds
            if us != last_us:
                last_us = us
                stamp = "%5d.%06d" % divmod(us, 1000000)
            pcache = prefixes[cpu]
            key = p[2:8]
            prefix = pcache.get(key)
            if prefix is None:
                pid = int.from_bytes(p[4:8], "little", signed=True)
                prefix = (f"{comm_of(pid, comms):>16}-{pid:<7} [{cpu:03d}] "
                          f"{irq_info(p[2], p[3], width)} ")
                pcache[key] = prefix
            t = types.get(p[0] | p[1] << 8)
            if t is None:
                t = self._late_type(p[0] | p[1] << 8)
            if t is None:
                yield f"{prefix}{stamp}: Unknown type {p[0] | p[1] << 8}\n"
            else:
                yield f"{prefix}{stamp}{t[2]}{t[1](t[0](p))}\n"

    def render(self, tb: Any, out: TextIO) -> None:
        """Write the ``trace`` file (header + lines) of ``tb`` to ``out``."""
        out.write(self.header(tb))
        self.write_lines(self.lines(tb), out)

    def write_lines(self, lines: Iterable[str], out: TextIO) -> None:
        """Write ``lines`` to ``out`` in chunks of :attr:`CHUNK` lines."""
        buf: List[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= self.CHUNK:
                out.write("".join(buf))
                buf.clear()
        if buf:
            out.write("".join(buf))


class TextStream:
    """The lines of the ``trace`` file for records that arrive while the run goes on, CPU by
    CPU (as a reader of ``trace_pipe`` gets them), written in the file's order: by time
    stamp, the lowest CPU first on a tie, each CPU's records in their order.

    A record can be written once no record still to come can sort before it.  Every record is
    stamped with the emulated clock, which never goes back, and each CPU's records come in
    order; so when every CPU's records up to now have been :meth:`add`-ed, whatever comes later
    sorts at ``(now, 0)`` or after, and :meth:`flush` with ``until=(now, 0)`` writes exactly
    the records that are final: those stamped before now, and CPU 0's stamped now.  In
    general ``until=(ts, cpu)`` writes the records whose ``(ts, cpu)`` is at most that (CPU
    ``cpu``'s own records stamped ``ts`` included: its later ones come after them);
    ``flush()`` writes everything (the end of the run).  Records a flush writes all come
    after those of the flushes before it, so the file is in order as a whole.
    """

    def __init__(self, renderer: TextRenderer, ncpus: int, out: TextIO):
        self.renderer = renderer
        self.out = out
        self.pending: List[List[Tuple[int, bytes]]] = [[] for _ in range(ncpus)]
        #: lines written so far
        self.written = 0

    def add(self, cpu: int, records: Sequence[Tuple[int, bytes]]) -> None:
        """``cpu``'s next records, ``(ts, payload)`` in the order it wrote them."""
        self.pending[cpu].extend(records)

    def flush(self, until: Optional[Tuple[int, int]] = None) -> int:
        """Write the records up to ``until`` = ``(ts, cpu)`` (all without it); returns how many."""
        batch: List[Tuple[int, int, bytes]] = []
        for cpu, recs in enumerate(self.pending):
            if not recs:
                continue
            if until is None:
                n = len(recs)
            elif cpu <= until[1]:
                n = bisect_right(recs, until[0], key=itemgetter(0))
            else:
                n = bisect_left(recs, until[0], key=itemgetter(0))
            if n:
                batch.extend([(ts, cpu, p) for ts, p in recs[:n]])
                del recs[:n]
        if not batch:
            return 0
        batch.sort(key=itemgetter(0, 1))          # stable: each CPU's order kept on a tie
        self.renderer.write_lines(self.renderer.format_records(batch), self.out)
        self.written += len(batch)
        return len(batch)
