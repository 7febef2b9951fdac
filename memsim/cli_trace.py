"""``memsim trace``: read, summarise, plot and convert traces (docs/traces.md).

Thin, as the rest of the CLI (STYLE 10, 12): click parses the options into a frozen options
object; the ``run_*`` functions below take that object and call the library
(:mod:`memsim.tracing.convert` to open, render and convert, :mod:`memsim.tracing.select`,
:mod:`memsim.tracing.stats`, :mod:`memsim.tracing.plot`) without knowing about click.
Every error a user can cause is one line ``memsim: <where>: <problem>; <fix>`` and an exit code
(:class:`memsim.errors.MemsimError`), never a traceback.

Lines a reader skips are reported on standard error after the run: the first ten as
``file:line: problem``, then ``... and N more`` and a count
(:func:`memsim.tracing.convert.problems_summary`); the exit status stays 0.  With ``--strict``
the first one stops the command (exit 2).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Optional

import click

from memsim.errors import EXIT_INTERRUPTED, MemsimError, UsageError
from memsim.progress import TraceProgress
from memsim.tracing.select import Selection, parse_time

STYLES = ("kernel", "trace-cmd")        # memsim.tracing.report.STYLES (not imported: startup)


# -- options objects ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOptions:
    """Which trace to read and how: ``path`` (``-`` = standard input), an optional tracefs
    ``events/`` directory of format files, and strict mode (stop at the first bad line)."""

    path: str
    formats_dir: Optional[str] = None
    strict: bool = False
    buffer: Optional[str] = None        # a trace.dat's buffer (tracefs instance); None: all


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


# -- drivers: options object -> library calls --------------------------------------------------
def _open(opts: ReadOptions):
    from memsim.tracing.convert import open_input
    return open_input(opts.path, formats_dir=opts.formats_dir, strict=opts.strict,
                      buffer=opts.buffer)


def _echo_problems(reader, nrecords: int) -> None:
    from memsim.tracing.convert import problems_summary
    for line in problems_summary(reader, nrecords=nrecords):   # raises when nothing was read
        click.echo(line, err=True)


def _warn(text: str) -> None:
    click.echo(f"memsim: warning: {text}", err=True)


def _warn_empty_buffer(reader, nrecords: int) -> None:
    from memsim.tracing.convert import empty_buffer_warning
    text = empty_buffer_warning(reader, nrecords)
    if text:
        _warn(text)


def run_report(opts: ReportOptions, progress: Optional[TraceProgress] = None) -> None:
    from memsim.tracing.convert import atomic_output, problems_summary, write_text
    from memsim.tracing.plot import check_output
    from memsim.tracing.select import EventMatcher
    if opts.out not in (None, "-"):
        check_output(opts.out, "-o", "out.txt")
    progress = progress or TraceProgress("memsim trace report", opts.read.path)
    reader = _open(opts.read)
    progress.reading(reader)
    matcher = EventMatcher(opts.select.events) if opts.select.events else None
    with reader:
        with atomic_output(opts.out, "-o") as out:
            nread, _ = write_text(reader, out, style=opts.style, ns=opts.ns,
                                  selection=opts.select, matcher=matcher, progress=progress)
            progress.stop()
            problems = problems_summary(reader, nrecords=nread)   # raises: nothing written
        for line in problems:
            click.echo(line, err=True)
        _warn_empty_buffer(reader, nread)
    for g in matcher.unused() if matcher is not None else ():
        _warn(f"-e {g!r} matched no event of the trace")
    for g in matcher.unkept() if matcher is not None else ():
        _warn(f"-e {g!r}: the trace has such events, but none where --pid/--cpu/--from/--to "
              f"select")


def run_stats(opts: StatsOptions, progress: Optional[TraceProgress] = None) -> None:
    from memsim.tracing.convert import buffer_counts, guarded_batches
    from memsim.tracing.stats import TraceStats, format_stats
    progress = progress or TraceProgress("memsim trace stats", opts.read.path)
    reader = _open(opts.read)
    progress.reading(reader)
    with reader:
        st = TraceStats(timeline=opts.timeline).update_batches(
            progress.batches(guarded_batches(reader)))
        progress.stop()
        _echo_problems(reader, st.total)
        doc = st.as_dict(reader)
        counts = buffer_counts(reader)
        if counts is not None:
            doc["buffers"] = counts
            doc["buffer"] = opts.read.buffer
        _warn_empty_buffer(reader, st.total)
    click.echo(json.dumps(doc, indent=2) if opts.as_json else format_stats(doc))


def run_plot(opts: PlotOptions, progress: Optional[TraceProgress] = None) -> None:
    from memsim.tracing.convert import guarded_records
    from memsim.tracing.plot import PlotData, check_output, render
    check_output(opts.out, "-o")
    progress = progress or TraceProgress("memsim trace plot", opts.read.path)
    reader = _open(opts.read)
    progress.reading(reader)
    with reader:
        data = PlotData().update(progress.records(guarded_records(reader)))
        progress.stop()
        _echo_problems(reader, data.total)
        _warn_empty_buffer(reader, data.total)
    progress.writing(opts.out)
    panels = render(data, opts.out, title=os.path.basename(reader.name))
    click.echo(f"{opts.out}: {', '.join(panels) or 'no events'}", err=True)


def run_convert(opts: ConvertOptions, progress: Optional[TraceProgress] = None) -> None:
    from memsim.tracing.convert import (DatBuilder, atomic_output, guarded_records,
                                        problems_summary, write_text)
    from memsim.tracing.plot import check_output
    if opts.to == "dat":
        if opts.out == "-":
            raise UsageError("OUT", "trace.dat cannot go to standard output", "give a file name ending in .dat")
        if opts.dat_version == 6 and opts.compression != "none":
            raise UsageError("--dat-compression", "trace.dat version 6 cannot be compressed",
                             "use --dat-version 7, or --dat-compression none")
    if opts.out != "-":
        check_output(opts.out, "OUT", "trace.dat" if opts.to == "dat" else "trace.txt")
    progress = progress or TraceProgress("memsim trace convert", opts.read.path)
    reader = _open(opts.read)
    progress.reading(reader)
    with reader:
        if opts.to != "dat":
            with atomic_output(opts.out, "OUT") as out:
                nread, _ = write_text(reader, out, style=opts.to, progress=progress)
                progress.stop()
                problems = problems_summary(reader, nrecords=nread)
            for line in problems:
                click.echo(line, err=True)
            _warn_empty_buffer(reader, nread)
            return
        b = DatBuilder(reader)
        nread = b.add_all(progress.records(guarded_records(reader)))
        progress.stop()
        _echo_problems(reader, nread)
        _warn_empty_buffer(reader, nread)
        progress.writing(opts.out)
        b.write(opts.out, version=opts.dat_version, compression=opts.compression)
    for text in b.warnings():
        _warn(text)
    click.echo(f"{opts.out}: {b.count} events, {b.ncpus} CPU(s), trace.dat v{opts.dat_version}"
               f"{' zstd' if opts.compression == 'zstd' else ''}", err=True)


# -- click -------------------------------------------------------------------------------------
def _fail(err: MemsimError) -> None:
    click.echo(f"memsim: {err}", err=True)
    sys.exit(err.exit_code)


def _guard(fn, opts, label: str) -> None:
    """Run ``fn(opts)``: MemsimError -> one line and its exit code; a closed pipe -> quiet;
    Ctrl-C -> ``memsim: interrupted while ...`` (how far reading got) and exit code 130, the
    output file (written atomically) left as it was."""
    progress = TraceProgress(label, opts.read.path)
    try:
        fn(opts, progress)
    except MemsimError as e:
        progress.stop()
        _fail(e)
    except KeyboardInterrupt:
        progress.stop()
        out = getattr(opts, "out", None)
        kept = f"; {out} was not written" if out not in (None, "-") else ""
        click.echo(f"memsim: interrupted while {progress.where()}{kept}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # the reader of our output went away (| head): not an error of ours
        with contextlib.suppress(Exception):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def _read_opts(path, formats_dir, strict, buffer=None) -> ReadOptions:
    return ReadOptions(path=path, formats_dir=formats_dir, strict=strict, buffer=buffer)


file_argument = click.argument("file", metavar="FILE", type=click.Path(allow_dash=True))
formats_option = click.option(
    "--formats", "formats_dir", metavar="DIR", type=click.Path(file_okay=False),
    help="Extra event formats: a tracefs events/ directory or a <system>/<event>/format tree. "
         "A text trace consults them before memsim's own; a trace.dat only for events it lacks.")
buffer_option = click.option(
    "--buffer", "buffer", metavar="NAME",
    help="Only the events of this buffer: a tracefs instance of a trace.dat recorded with "
         "trace-cmd record/extract -B NAME (top: the top-level buffer). Default: every buffer.")
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
@buffer_option
@formats_option
@strict_option
@click.option("-o", "--output", "out", metavar="OUT", help="Write to OUT (atomically) instead of stdout.")
def report(file, events, pids, cpus, t_from, t_to, style, ns, buffer, formats_dir, strict, out):
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
    _guard(run_report, ReportOptions(_read_opts(file, formats_dir, strict, buffer), sel, style,
                                     ns, out), "memsim trace report")


@trace.command(short_help="Summarise a trace: counts, RSS per mm, allocator, page cache, memcg.")
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (keys in docs/traces.md).")
@click.option("--timeline", is_flag=True,
              help="With --json, include every rss_stat point (ns, bytes) per mm and counter.")
@buffer_option
@formats_option
@strict_option
def stats(file, as_json, timeline, buffer, formats_dir, strict):
    """Summarise FILE: events per type and pid, RSS per mm, page allocator, page cache, memcg.

    \b
    memsim trace stats trace.txt.gz
    memsim trace stats trace.dat --json | jq .rss
    """
    _guard(run_stats, StatsOptions(_read_opts(file, formats_dir, strict, buffer), as_json,
                                   timeline), "memsim trace stats")


@trace.command(short_help="Draw a trace's timelines into a PNG.")
@file_argument
@click.option("-o", "--output", "out", required=True, metavar="OUT.png", help="The PNG to write (atomically).")
@buffer_option
@formats_option
@strict_option
def plot(file, out, buffer, formats_dir, strict):
    """Draw the timelines of FILE into a PNG: RSS per mm, page allocations and frees, net pages,
    page-cache pages, memcg stat deltas (each panel only when its events are present).

    \b
    memsim trace plot trace.txt.gz -o trace.png
    """
    _guard(run_plot, PlotOptions(_read_opts(file, formats_dir, strict, buffer), out),
           "memsim trace plot")


@trace.command(short_help="Convert between kernel text, trace-cmd text and trace.dat.")
@click.argument("src", metavar="IN", type=click.Path(allow_dash=True))
@click.argument("dst", metavar="OUT", type=click.Path(allow_dash=True))
@click.option("--to", "to", type=click.Choice(("kernel", "trace-cmd", "dat")),
              help="Output type (default: dat when OUT ends in .dat, else kernel text).")
@click.option("--dat-version", type=click.Choice(("6", "7")), default="7", show_default=True,
              help="trace.dat file version (as memsim run --dat-version).")
@click.option("--dat-compression", "compression", type=click.Choice(("zstd", "none")),
              help="trace.dat v7 section compression (default: zstd for v7, none for v6; as "
                   "memsim run --dat-compression).")
@click.option("--compression", "old_compression", type=click.Choice(("zstd", "none")),
              hidden=True)                     # the name before --dat-compression, kept working
@buffer_option
@formats_option
@strict_option
def convert(src, dst, to, dat_version, compression, old_compression, buffer, formats_dir, strict):
    """Convert IN to OUT: text (kernel or trace-cmd style) or trace.dat, either way.

    OUT ending in .gz or .zst is written gzip- or zstd-compressed (a trace.dat as a whole).
    The irq-info column keeps its layout: a 4-character (pre-5.15) text stays 4-character
    through a trace.dat and back.

    \b
    memsim trace convert trace.txt.gz trace.dat
    memsim trace convert trace.dat trace.txt.zst
    memsim trace convert trace.dat - --to trace-cmd
    """
    from memsim.tracing.convert import uncompressed_name
    if to is None:
        to = "dat" if uncompressed_name(dst).endswith(".dat") else "kernel"
    version = int(dat_version)
    if compression is None:
        compression = old_compression
    if compression is None:
        compression = "zstd" if version == 7 else "none"
    _guard(run_convert, ConvertOptions(_read_opts(src, formats_dir, strict, buffer), dst, to,
                                       version, compression), "memsim trace convert")
