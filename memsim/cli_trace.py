"""``memsim trace``: read, summarise, plot and convert traces (docs/traces.md).

Thin, as the rest of the CLI (STYLE 10, 12): click parses the options into a frozen options
object; the ``run_*`` functions below take that object and drive the library
(:func:`memsim.tracing.reader.open_trace`, :mod:`memsim.tracing.report`, :mod:`memsim.tracing.stats`,
:mod:`memsim.tracing.plot`, :mod:`memsim.tracing.tracedat_write`) without knowing about click.
Every error a user can cause is one line ``memsim: <where>: <problem>; <fix>`` and an exit code
(:class:`memsim.errors.MemsimError`), never a traceback.

Lines a reader skips are reported on standard error after the run: the first ``SHOW_PROBLEMS``
as ``file:line: problem``, then ``... and N more`` and a count; the exit status stays 0.  With
``--strict`` the first one stops the command (exit 2).
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import sys
import tempfile
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

import click

from memsim.errors import MemsimError, TraceError, UsageError

SHOW_PROBLEMS = 10
STYLES = ("kernel", "trace-cmd")


# -- options objects ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOptions:
    """Which trace to read and how: ``path`` (``-`` = standard input), an optional tracefs
    ``events/`` directory of format files, and strict mode (stop at the first bad line)."""

    path: str
    formats_dir: Optional[str] = None
    strict: bool = False


@dataclass(frozen=True)
class Selection:
    """The records ``report`` prints: set_event-style globs, pids, cpus, a time window in ns
    (both ends inclusive).  Empty tuples / None select everything."""

    events: Tuple[str, ...] = ()
    pids: Tuple[int, ...] = ()
    cpus: Tuple[int, ...] = ()
    t_from: Optional[int] = None
    t_to: Optional[int] = None

    @property
    def active(self) -> bool:
        return bool(self.events or self.pids or self.cpus or self.t_from is not None
                    or self.t_to is not None)


@dataclass(frozen=True)
class ReportOptions:
    read: ReadOptions
    select: Selection = Selection()
    style: str = "kernel"
    ns: bool = False
    out: Optional[str] = None


@dataclass(frozen=True)
class StatsOptions:
    read: ReadOptions
    as_json: bool = False
    timeline: bool = False


@dataclass(frozen=True)
class PlotOptions:
    read: ReadOptions
    out: str = "trace.png"


@dataclass(frozen=True)
class ConvertOptions:
    read: ReadOptions
    out: str = "-"
    to: str = "kernel"                 # kernel | trace-cmd | dat
    dat_version: int = 7
    compression: str = "zstd"          # zstd | none


# -- shared pieces -----------------------------------------------------------------------------
_TIME_RE = re.compile(r"^\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-zµμ]*)\s*$", re.I)
_TIME_UNITS = {"": 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "µs": 10**3, "μs": 10**3, "ns": 1}
TIME_FORMS = "write seconds as the trace prints them (440.44) or a number with a unit (440440ms, 5us, 12ns)"


def parse_time(value: str, option: str) -> int:
    """``440.44`` (seconds) or ``440440ms``/``5us``/``12ns`` -> nanoseconds of the trace clock."""
    m = _TIME_RE.match(value)
    unit = m.group("unit").lower() if m else None
    if m is None or unit not in _TIME_UNITS:
        raise UsageError(option, f"{value!r} is not a time", TIME_FORMS)
    ns = Fraction(m.group("num")) * _TIME_UNITS[unit]
    if ns.denominator != 1:
        raise UsageError(option, f"{value!r} is not a whole number of nanoseconds", TIME_FORMS)
    return int(ns)


class EventMatcher:
    """set_event-style globs: ``kmem:*``, ``kmem:mm_page_*``, ``*:rss_stat``, ``rss_stat``.

    A glob with a colon matches ``system:event`` part by part (an empty part matches all); a glob
    without one matches the event name *or* the system name (``kmem`` selects every kmem event,
    as ``echo kmem > set_event`` does).  Matching is case-sensitive, as in tracefs.
    """

    def __init__(self, globs: Sequence[str]):
        self.globs = tuple(globs)
        self.used = set()
        self._cache: Dict[Tuple[str, str], bool] = {}

    def _one(self, glob: str, system: str, event: str) -> bool:
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

    def unused(self) -> List[str]:
        return [g for g in self.globs if g not in self.used]


def select(records: Iterator, sel: Selection, matcher: Optional[EventMatcher] = None) -> Iterator:
    """The records of ``records`` that ``sel`` selects, streaming."""
    if not sel.active:
        yield from records
        return
    match = matcher or (EventMatcher(sel.events) if sel.events else None)
    pids = frozenset(sel.pids) if sel.pids else None
    cpus = frozenset(sel.cpus) if sel.cpus else None
    lo, hi = sel.t_from, sel.t_to
    for rec in records:
        if pids is not None and rec.pid not in pids:
            continue
        if cpus is not None and rec.cpu not in cpus:
            continue
        if lo is not None and rec.ts < lo:
            continue
        if hi is not None and rec.ts > hi:
            continue
        if match is not None and not match(rec.system, rec.event):
            continue
        yield rec


def open_reader(opts: ReadOptions):
    """The reader for ``opts.path`` (with ``--formats`` consulted first)."""
    from memsim.tracing.reader import open_trace
    formats = None
    if opts.formats_dir is not None:
        from memsim.tracing.formats import FormatSet
        formats = FormatSet.from_dir(opts.formats_dir)
    with _read_errors(opts.path):
        return open_trace(opts.path, formats=formats, strict=opts.strict)


@contextlib.contextmanager
def _read_errors(path: str):
    """Decompression and decoding failures of the input as a one-line TraceError."""
    name = "<stdin>" if path == "-" else path
    try:
        yield
    except (MemsimError, BrokenPipeError):
        raise
    except (EOFError, UnicodeDecodeError, zlib.error) as e:
        raise TraceError(name, f"cannot read the trace: {e}", "is the file complete and a trace?") from None
    except OSError as e:        # gzip.BadGzipFile, truncated files, I/O errors
        raise TraceError(name, f"cannot read the trace: {e.strerror or e}",
                         "is the file complete and a trace?") from None
    except Exception as e:
        if type(e).__module__.startswith("zstandard") or type(e).__name__ == "ZstdError":
            raise TraceError(name, f"cannot decompress: {e}", "is the .zst file complete?") from None
        raise


def records_of(reader) -> Iterator:
    """``reader.records()`` with read errors turned into TraceError."""
    with _read_errors(reader.path):
        yield from reader.records()


def problems_summary(reader, *, nrecords: int) -> List[str]:
    """What to print on stderr about skipped spots, or raise when nothing at all could be read."""
    n = getattr(reader, "nproblems", 0)
    lines = [str(p) for p in reader.problems[:SHOW_PROBLEMS]]
    if n > len(lines):
        lines.append(f"... and {n - len(lines)} more")
    if n:
        lines.append(f"{reader.name}: {n} spot(s) skipped; use --strict to stop at the first")
    if n and nrecords == 0:
        first = reader.problems[0] if reader.problems else None
        why = f" ({n} spot(s) skipped, the first {first.where}: {first.problem})" if first else ""
        raise TraceError(reader.name, f"no trace events could be read{why}",
                         "give a kernel trace/trace_pipe text, trace-cmd report output or a trace.dat file")
    return lines


def _echo_problems(reader, nrecords: int) -> None:
    for line in problems_summary(reader, nrecords=nrecords):
        click.echo(line, err=True)


def check_writable(path: str, option: str, example: str) -> None:
    """Refuse, before any work, an output that is a directory or cannot be created."""
    from memsim.tracing.plot import check_output
    check_output(path, option, example)


@contextlib.contextmanager
def atomic_output(path: Optional[str], option: str) -> Iterator[IO[str]]:
    """Standard output for None/``-``; else a temporary file next to ``path``, renamed over it
    when the block succeeds and removed when it fails."""
    if path is None or path == "-":
        yield sys.stdout
        return
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".memsim-", dir=d)
    except OSError as e:
        raise UsageError(option, f"cannot write to {d}: {e.strerror}", "write somewhere else") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- report ------------------------------------------------------------------------------------
_TEXT_DIALECTS = {"trace": "kernel", "trace_pipe": "kernel", "trace-cmd-report": "trace-cmd"}


def normalized_meta(meta: Dict[str, Any]) -> Dict[str, Any]:
    """A reader's meta in the terms :class:`~memsim.tracing.report.Renderer` reads.

    The text reader gives ``entries`` as ``(in buffer, written)``, its ``clock`` as ``ns`` or
    ``counter`` and its dialect as ``trace``/``trace_pipe``/``trace-cmd-report``; the renderer
    takes ``entries``/``entries_written`` as numbers, a trace clock name (``local`` ..) and a
    payload dialect (``kernel``/``trace-cmd``).
    """
    m = dict(meta)
    e = m.get("entries")
    if isinstance(e, (tuple, list)) and len(e) == 2:
        m["entries"], m["entries_written"] = int(e[0]), int(e[1])
    if m.get("clock") in (None, "ns"):
        m["clock"] = "local"
    return m


def make_renderer(style: str, reader, ns: bool):
    """A Renderer set up for ``reader``: its formats, kallsyms, clock, flags and payload dialect."""
    from memsim.tracing.report import Renderer
    meta = normalized_meta(getattr(reader, "meta", {}) or {})
    dialect = meta.get("dialect")
    width = meta.get("flags_width")
    # a kernel text without the irq-info column prints none back; other inputs get the default
    flags = not (dialect in ("trace", "trace_pipe") and width is None)
    return Renderer(style, reader.formats, ns=ns, kallsyms=getattr(reader, "kallsyms", None),
                    clock=meta.get("clock") or "local", flags=flags, width=width or 5,
                    payload_style=_TEXT_DIALECTS.get(dialect))


def _entries(meta: Dict[str, Any]) -> Optional[int]:
    """The entry count the input's own header (or trace.dat CPUSTAT) gave, if any."""
    e = meta.get("entries")
    return e if isinstance(e, int) else None


def _header_meta(meta: Dict[str, Any], count: Optional[int], cpus_seen: int) -> Dict[str, Any]:
    """The meta for :meth:`Renderer.header`: ``count`` (the lines printed) replaces the input's
    entry counts when given; the CPUs seen stand in for an unknown CPU count."""
    m = dict(meta)
    if count is not None:
        m["entries"] = m["entries_written"] = count
    if not m.get("ncpus"):
        m["ncpus"] = cpus_seen
    return m


def render_text(reader, records: Iterator, out: IO[str], style: str, ns: bool,
                exact_count: bool) -> int:
    """Header + one line per record to ``out``; returns the number of records written.

    The kernel header's entry counts are the input's (its ``#`` header or trace.dat CPUSTAT)
    unless ``exact_count`` (a selection is active) or the input had none: then they are the
    number of lines printed.  When the header needs what only the records tell (that count, or
    the CPU count of a headerless text), the lines are spooled to a temporary file (memory
    stays flat) until it is known.
    """
    r = make_renderer(style, reader, ns)
    it = iter(records)
    first = next(it, None)
    meta = normalized_meta(getattr(reader, "meta", {}) or {})
    if first is None:
        out.write(r.header(_header_meta(meta, 0 if exact_count or _entries(meta) is None else None, 0)))
        return 0
    need_count = style == "kernel" and (exact_count or _entries(meta) is None)
    if not need_count and meta.get("ncpus"):
        out.write(r.header(_header_meta(meta, None, first.cpu + 1)))
        n = 0
        buf: List[str] = []
        for rec in _chain(first, it):
            buf.append(r.line(rec))
            n += 1
            if len(buf) >= 4096:
                out.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
        return n
    n = 0
    maxcpu = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8", newline="\n") as spool:
        for rec in _chain(first, it):
            spool.write(r.line(rec) + "\n")
            n += 1
            if rec.cpu > maxcpu:
                maxcpu = rec.cpu
        out.write(r.header(_header_meta(meta, n if need_count else None, maxcpu + 1)))
        spool.seek(0)
        while True:
            chunk = spool.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    return n


def _chain(first, it):
    yield first
    yield from it


def run_report(opts: ReportOptions) -> None:
    if opts.out not in (None, "-"):
        check_writable(opts.out, "-o", "out.txt")
    reader = open_reader(opts.read)
    matcher = EventMatcher(opts.select.events) if opts.select.events else None
    counted = [0]

    def counting(recs):
        for rec in recs:
            counted[0] += 1
            yield rec

    with reader:
        recs = select(counting(records_of(reader)), opts.select, matcher)
        with atomic_output(opts.out, "-o") as out:
            render_text(reader, recs, out, opts.style, opts.ns, exact_count=opts.select.active)
            problems = problems_summary(reader, nrecords=counted[0])   # raises: nothing written
        for line in problems:
            click.echo(line, err=True)
    if matcher is not None:
        for g in matcher.unused():
            click.echo(f"memsim: warning: -e {g!r} matched no event of the trace", err=True)


# -- stats -------------------------------------------------------------------------------------
def run_stats(opts: StatsOptions) -> None:
    from memsim.tracing.stats import TraceStats, format_stats
    reader = open_reader(opts.read)
    with reader:
        st = TraceStats(timeline=opts.timeline).update(records_of(reader))
        _echo_problems(reader, st.total)
        doc = st.as_dict(reader)
    if opts.as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(format_stats(doc))


# -- plot --------------------------------------------------------------------------------------
def run_plot(opts: PlotOptions) -> None:
    from memsim.tracing.plot import PlotData, check_output, render
    check_output(opts.out, "-o")
    reader = open_reader(opts.read)
    with reader:
        data = PlotData().update(records_of(reader))
        _echo_problems(reader, data.total)
    panels = render(data, opts.out, title=os.path.basename(reader.name))
    click.echo(f"{opts.out}: {', '.join(panels) or 'no events'}", err=True)


# -- convert -----------------------------------------------------------------------------------
def _dat_formats(reader):
    """A FormatSet for the output file, filled by :meth:`_DatBuilder.decl_of` as events appear."""
    from memsim.tracing.formats import FormatSet
    fs = FormatSet()
    src = reader.formats
    fs.header_page = getattr(src, "header_page", None)
    fs.header_event = getattr(src, "header_event", None)
    if fs.header_page is None:
        from memsim.tracing.formatfile import header_event, header_page
        fs.header_page, fs.header_event = header_page(), header_event()
    return fs


class _DatBuilder:
    """Records -> encoded records per CPU, with the formats they need and unique type ids."""

    def __init__(self, reader):
        from memsim.tracing.tracedat_write import encode_record
        self.symbols = 0                            # %pS texts turned back into addresses
        self.zeroed: Dict[str, int] = {}            # event.field -> values written as 0
        self.encode = encode_record
        self.src = reader.formats
        self.out = _dat_formats(reader)
        self.ids: Dict[str, int] = {}
        self.decls: Dict[str, Any] = {}
        self.per_cpu: Dict[int, List[Tuple[int, bytes]]] = {}
        self.comms: Dict[int, str] = {}
        self.skipped: Dict[str, int] = {}
        self.count = 0

    def decl_of(self, rec):
        name = rec.full_name
        if name in self.decls:
            return self.decls[name]
        decl = self.src.by_name(name) or (self.src.by_name(rec.event) if rec.system == "" else None)
        if decl is not None:
            tid = self.src.id_of(decl.full_name)
            if tid is None or tid in self.ids.values() or not 0 < tid < 0xFFFF:
                tid = max(list(self.ids.values()) + [1000]) + 1
            self.ids[decl.full_name] = tid
            self.out.add(decl, tid)
        self.decls[name] = decl
        return decl

    def numeric_fields(self, decl, rec):
        """``rec`` with every numeric field of ``decl`` a number: a printed ``%pS`` symbol
        (``mm_alloc+0x1a/0x50``) becomes its address in memsim's kallsyms (which then go into
        the file), anything else that is not a number becomes 0 and is counted."""
        fixed = None
        for f in decl.fields:
            v = rec.fields.get(f.name)
            if not isinstance(v, str) or f.is_data_loc or f.is_array:
                continue
            n = _symbol_addr(v)
            if n is not None:
                self.symbols += 1
            else:
                try:
                    n = int(v, 0)
                except ValueError:
                    n = 0
                    key = f"{decl.full_name}.{f.name}"
                    self.zeroed[key] = self.zeroed.get(key, 0) + 1
            if fixed is None:
                fixed = dict(rec.fields)
            fixed[f.name] = n
        if fixed is None:
            return rec
        from memsim.tracing.record import Record
        return Record(rec.system, rec.event, rec.pid, rec.tgid, rec.comm, rec.cpu, rec.ts,
                      rec.flags, fixed, rec.payload)

    def add(self, rec) -> None:
        decl = self.decl_of(rec)
        if decl is None:
            self.skipped[rec.full_name] = self.skipped.get(rec.full_name, 0) + 1
            return
        rec = self.numeric_fields(decl, rec)
        data = self.encode(decl, self.ids[decl.full_name], rec)
        self.per_cpu.setdefault(rec.cpu, []).append((rec.ts, data))
        if rec.comm and rec.comm not in ("<...>", "<idle>") and rec.pid:
            self.comms[rec.pid] = rec.comm
        self.count += 1


def run_convert(opts: ConvertOptions) -> None:
    if opts.to == "dat":
        if opts.out == "-":
            raise UsageError("OUT", "trace.dat cannot go to standard output", "give a file name ending in .dat")
        if opts.dat_version == 6 and opts.compression != "none":
            raise UsageError("--compression", "trace.dat version 6 cannot be compressed",
                             "use --dat-version 7, or --compression none")
    if opts.out != "-":
        check_writable(opts.out, "OUT", "trace.dat" if opts.to == "dat" else "trace.txt")
    reader = open_reader(opts.read)
    with reader:
        if opts.to != "dat":
            counted = [0]

            def counting(recs):
                for rec in recs:
                    counted[0] += 1
                    yield rec
            with atomic_output(opts.out, "OUT") as out:
                render_text(reader, counting(records_of(reader)), out, opts.to, False, exact_count=False)
                problems = problems_summary(reader, nrecords=counted[0])
            for line in problems:
                click.echo(line, err=True)
            return
        from memsim.tracing.tracedat_write import pack_pages, write_trace_dat
        b = _DatBuilder(reader)
        seen = 0
        for rec in records_of(reader):
            seen += 1
            b.add(rec)
        _echo_problems(reader, seen)
        meta = getattr(reader, "meta", {}) or {}
        ncpus = max([c + 1 for c in b.per_cpu] + [_int(meta.get("ncpus")), _int(meta.get("cpus")), 1])
        # pack_pages wants each CPU's records in time order (a text trace is merged by time)
        cpu_pages = [pack_pages(sorted(b.per_cpu.get(cpu, []), key=lambda r: r[0]))
                     for cpu in range(ncpus)]
        kallsyms = getattr(reader, "kallsyms_text", None)
        if not isinstance(kallsyms, str):
            kallsyms = ""
        if b.symbols and not kallsyms:
            from memsim.tracing.kallsyms import kallsyms_text
            kallsyms = kallsyms_text()          # the addresses the %pS symbols were given
        write_trace_dat(opts.out, formats=b.out, cpu_pages=cpu_pages, cmdlines=b.comms,
                        kallsyms=kallsyms, version=opts.dat_version, compression=opts.compression)
    if b.skipped:
        names = ", ".join(f"{n} ({c})" for n, c in sorted(b.skipped.items()))
        click.echo(f"memsim: warning: {sum(b.skipped.values())} record(s) of events with no format "
                   f"skipped: {names}; give the formats with --formats DIR", err=True)
    if b.zeroed:
        names = ", ".join(f"{n} ({c})" for n, c in sorted(b.zeroed.items()))
        click.echo(f"memsim: warning: {sum(b.zeroed.values())} printed value(s) that are not numbers "
                   f"written as 0: {names}; a trace.dat keeps the raw field values", err=True)
    click.echo(f"{opts.out}: {b.count} events, {ncpus} CPU(s), trace.dat v{opts.dat_version}"
               f"{' zstd' if opts.compression == 'zstd' else ''}", err=True)


_SYMBOL_RE = re.compile(r"^(?P<name>[A-Za-z_.$][\w.$]*)\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)$")


def _symbol_addr(text: str) -> Optional[int]:
    """The address of a ``%pS`` text in memsim's kallsyms, if it names a memsim symbol."""
    m = _SYMBOL_RE.match(text)
    if m is None:
        return None
    from memsim.tracing.kallsyms import default_kallsyms
    ks = default_kallsyms()
    try:
        addr = ks.symbol_addr(m.group("name")) + int(m.group("off"), 16)
    except KeyError:
        return None
    hit = ks.lookup(addr)
    return addr if hit is not None and hit[0] == m.group("name") else None


def _int(v) -> int:
    return v if isinstance(v, int) else 0


# -- click -------------------------------------------------------------------------------------
def _fail(err: MemsimError) -> None:
    click.echo(f"memsim: {err}", err=True)
    sys.exit(err.exit_code)


def _guard(fn, opts) -> None:
    """Run ``fn(opts)``: MemsimError -> one line and its exit code; a closed pipe -> quiet."""
    try:
        fn(opts)
    except MemsimError as e:
        _fail(e)
    except BrokenPipeError:
        # the reader of our output went away (| head): not an error of ours
        with contextlib.suppress(Exception):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def _read_opts(path, formats_dir, strict) -> ReadOptions:
    return ReadOptions(path=path, formats_dir=formats_dir, strict=strict)


file_argument = click.argument("file", metavar="FILE", type=click.Path(allow_dash=True))
formats_option = click.option(
    "--formats", "formats_dir", metavar="DIR", type=click.Path(file_okay=False),
    help="Extra event formats: a tracefs events/ directory or a <system>/<event>/format tree. "
         "A text trace consults them before memsim's own; a trace.dat only for events it lacks.")
strict_option = click.option(
    "--strict", is_flag=True,
    help="Stop with exit status 2 at the first line that cannot be parsed (default: skip it, "
         "report it on stderr).")


@click.group("trace", context_settings={"help_option_names": ["-h", "--help"]})
def trace():
    """Read traces: the kernel's trace/trace_pipe text, trace-cmd report text, trace.dat v6/v7.

    Inputs may be gzip- or zstd-compressed; FILE - reads text from standard input.  Lines that
    cannot be parsed are skipped and listed on stderr (exit status 0) unless --strict is given.
    See docs/traces.md.
    """


@trace.command(short_help="Print the events of a trace, optionally selected.")
@file_argument
@click.option("-e", "--event", "events", multiple=True, metavar="GLOB",
              help="Only these events (repeatable or comma-separated), as set_event globs: "
                   "kmem:*, rss_stat, kmem:mm_page_*, kmem (a whole system).")
@click.option("--pid", "pids", multiple=True, type=int, metavar="N", help="Only this pid (repeatable).")
@click.option("--cpu", "cpus", multiple=True, type=int, metavar="N", help="Only this CPU (repeatable).")
@click.option("--from", "t_from", metavar="T",
              help="Only events at or after T: seconds as printed (440.44) or with a unit (440440ms).")
@click.option("--to", "t_to", metavar="T", help="Only events at or before T (same forms as --from).")
@click.option("--style", type=click.Choice(STYLES), default="kernel", show_default=True,
              help="kernel: the trace file layout with its # header; trace-cmd: trace-cmd report's.")
@click.option("--ns", is_flag=True, help="Print nanosecond timestamps (trace-cmd report -t).")
@formats_option
@strict_option
@click.option("-o", "--output", "out", metavar="OUT", help="Write to OUT (atomically) instead of stdout.")
def report(file, events, pids, cpus, t_from, t_to, style, ns, formats_dir, strict, out):
    """Print the events of FILE as text, optionally selected.

    \b
    memsim trace report trace.dat -e kmem:rss_stat --pid 6923
    memsim trace report trace.txt.gz --style trace-cmd --from 440.44 --to 440.45
    """
    try:
        globs = tuple(g.strip() for e in events for g in e.split(",") if g.strip())
        sel = Selection(events=globs, pids=tuple(pids), cpus=tuple(cpus),
                        t_from=parse_time(t_from, "--from") if t_from is not None else None,
                        t_to=parse_time(t_to, "--to") if t_to is not None else None)
        if sel.t_from is not None and sel.t_to is not None and sel.t_from > sel.t_to:
            raise UsageError("--from", f"{t_from} is after --to {t_to}", "swap them")
    except MemsimError as e:
        _fail(e)
    _guard(run_report, ReportOptions(_read_opts(file, formats_dir, strict), sel, style, ns, out))


@trace.command(short_help="Summarise a trace: counts, RSS per mm, allocator, page cache, memcg.")
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (keys in docs/traces.md).")
@click.option("--timeline", is_flag=True,
              help="With --json, include every rss_stat point (ns, bytes) per mm and counter.")
@formats_option
@strict_option
def stats(file, as_json, timeline, formats_dir, strict):
    """Summarise FILE: events per type and pid, RSS per mm, page allocator, page cache, memcg.

    \b
    memsim trace stats trace.txt.gz
    memsim trace stats trace.dat --json | jq .rss
    """
    _guard(run_stats, StatsOptions(_read_opts(file, formats_dir, strict), as_json, timeline))


@trace.command(short_help="Draw a trace's timelines into a PNG.")
@file_argument
@click.option("-o", "--output", "out", required=True, metavar="OUT.png", help="The PNG to write (atomically).")
@formats_option
@strict_option
def plot(file, out, formats_dir, strict):
    """Draw the timelines of FILE into a PNG: RSS per mm, page allocations and frees, net pages,
    page-cache pages, memcg stat deltas (each panel only when its events are present).

    \b
    memsim trace plot trace.txt.gz -o trace.png
    """
    _guard(run_plot, PlotOptions(_read_opts(file, formats_dir, strict), out))


@trace.command(short_help="Convert between kernel text, trace-cmd text and trace.dat.")
@click.argument("src", metavar="IN", type=click.Path(allow_dash=True))
@click.argument("dst", metavar="OUT", type=click.Path(allow_dash=True))
@click.option("--to", "to", type=click.Choice(("kernel", "trace-cmd", "dat")),
              help="Output type (default: dat when OUT ends in .dat, else kernel text).")
@click.option("--dat-version", type=click.Choice(("6", "7")), default="7", show_default=True,
              help="trace.dat file version.")
@click.option("--compression", type=click.Choice(("zstd", "none")),
              help="trace.dat v7 section compression (default: zstd for v7, none for v6).")
@formats_option
@strict_option
def convert(src, dst, to, dat_version, compression, formats_dir, strict):
    """Convert IN to OUT: text (kernel or trace-cmd style) or trace.dat, either way.

    \b
    memsim trace convert trace.txt.gz trace.dat
    memsim trace convert trace.dat trace.txt
    memsim trace convert trace.dat - --to trace-cmd
    """
    if to is None:
        to = "dat" if dst.endswith(".dat") else "kernel"
    version = int(dat_version)
    if compression is None:
        compression = "zstd" if version == 7 else "none"
    _guard(run_convert, ConvertOptions(_read_opts(src, formats_dir, strict), dst, to, version, compression))
