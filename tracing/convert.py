"""A trace read out again: as kernel or trace-cmd text, or as a trace.dat.

What ``memsim trace report`` and ``memsim trace convert`` do, as a library (docs/traces.md):

* :func:`open_input` opens any trace (:func:`memsim.tracing.reader.open_trace`) and
  :func:`guarded_records` reads its records, with a damaged or truncated (compressed) input
  turned into one :class:`~memsim.errors.TraceError` line instead of a traceback;
* :func:`render_text` writes a header and one line per record to a text stream
  (:class:`~memsim.tracing.report.Renderer`, set up from the reader's meta);
  :func:`write_text` does it for a reader's records, optionally selected
  (:mod:`memsim.tracing.select`);
* :class:`DatBuilder` encodes records into ring-buffer pages and writes a trace.dat
  (:mod:`memsim.tracing.tracedat_write`), turning printed ``%pS`` symbols back into addresses;
* :func:`problems_summary` says what a reader skipped, and refuses an input of which nothing
  could be read;
* :func:`atomic_output` writes a file all at once or not at all.

Example::

    from memsim.tracing.convert import DatBuilder, guarded_records, open_input, write_text

    with open_input("trace.txt.gz") as r, open("trace.txt", "w") as out:
        nread, nwritten = write_text(r, out, style="trace-cmd")
    with open_input("trace.txt.gz") as r:
        b = DatBuilder(r)
        b.add_all(guarded_records(r))
        b.write("trace.dat", version=7, compression="zstd")
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple

from memsim.errors import MemsimError, TraceError, UsageError
from memsim.fileio import atomic_write
from memsim.tracing.reader import decompress_errors
from memsim.tracing.select import EventMatcher, Selection, select

SHOW_PROBLEMS = 10              # problems_summary lists this many skipped spots, then a count


# -- reading -----------------------------------------------------------------------------------
@contextlib.contextmanager
def read_errors(path: str) -> Iterator[None]:
    """Decompression and decoding failures of the input ``path`` raised in the block become
    one-line :class:`~memsim.errors.TraceError`\\ s (MemsimErrors and a closed pipe pass)."""
    name = "<stdin>" if path == "-" else path
    try:
        yield
    except (MemsimError, BrokenPipeError):
        raise
    except (UnicodeDecodeError,) + decompress_errors() as e:   # gzip/zstd damage, I/O errors
        problem = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise TraceError(name, f"cannot read the trace: {problem}",
                         "is the file complete and a trace?") from None


def open_input(path: str, *, formats_dir: Optional[str] = None, strict: bool = False,
               buffer: Optional[str] = None):
    """The reader of ``path`` (``-`` = standard input), with the format files of the tracefs
    ``events/`` directory ``formats_dir`` consulted first (see :func:`open_trace`); ``buffer``
    reads only that buffer (tracefs instance) of a trace.dat or trace-cmd report text."""
    from memsim.tracing.reader import open_trace
    formats = None
    if formats_dir is not None:
        from memsim.tracing.formats import FormatSet
        formats = FormatSet.from_dir(formats_dir)
    with read_errors(path):
        return open_trace(path, formats=formats, strict=strict, buffer=buffer)


def guarded_records(reader) -> Iterator:
    """``reader.records()``, with read errors turned into TraceError (:func:`read_errors`)."""
    with read_errors(reader.path):
        yield from reader.records()


def guarded_batches(reader, size: int = 65536, payloads: bool = False) -> Iterator:
    """``reader.batches(size, payloads)``, with read errors turned into TraceError
    (:func:`read_errors`)."""
    with read_errors(reader.path):
        yield from reader.batches(size, payloads) if payloads else reader.batches(size)


def problems_summary(reader, *, nrecords: int, show: int = SHOW_PROBLEMS) -> List[str]:
    """The lines to print about the spots ``reader`` skipped: the first ``show`` as
    ``file:line: problem``, then ``... and N more`` and a count (nothing when none was skipped).

    :param nrecords: how many records were read; when none was and spots were skipped, the
        input is not a trace at all: raises :class:`~memsim.errors.TraceError`.
    """
    n = getattr(reader, "nproblems", 0)
    lines = [str(p) for p in reader.problems[:show]]
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


def buffer_counts(reader) -> Optional[Dict[str, int]]:
    """The records of every buffer of a trace with tracefs instance buffers, by name (``top``
    for the top level), once ``reader`` has been read; None for a trace of one buffer.

    A trace.dat read with ``buffer=NAME`` decodes the other buffers again to count them."""
    meta = getattr(reader, "meta", {}) or {}
    names = meta.get("buffers") or []
    if not any(names):
        return None
    counts = dict(meta.get("buffer_records") or {})
    if meta.get("buffer") is not None and hasattr(reader, "buffer_counts"):
        counts = reader.buffer_counts()
    return {(n or "top"): counts.get(n, 0) for n in names}


def empty_buffer_warning(reader, nrecords: int) -> Optional[str]:
    """When ``nrecords`` (what was read) is 0 and other buffers of the trace hold records:
    ``<problem>; <fix>`` naming them, so that an empty instance never passes for an empty
    trace (None otherwise)."""
    if nrecords:
        return None
    counts = buffer_counts(reader)
    if not counts or not any(counts.values()):
        return None
    want = (getattr(reader, "meta", {}) or {}).get("buffer")
    held = ", ".join(f"{n} {c}" for n, c in counts.items() if c)
    return (f"buffer {(want or 'top')!r} of {reader.name} holds no events, other buffers do "
            f"({held}); choose one with --buffer NAME")


# -- writing -----------------------------------------------------------------------------------
#: output names that are compressed, and how
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd"}


def output_compression(path: Optional[str]) -> Optional[str]:
    """``gzip`` or ``zstd`` for an output named ``*.gz`` or ``*.zst``, else None."""
    if not path:
        return None
    return COMPRESSED_SUFFIXES.get(os.path.splitext(path)[1].lower())


def uncompressed_name(path: str) -> str:
    """``path`` without its ``.gz``/``.zst`` suffix (``trace.dat.gz`` -> ``trace.dat``)."""
    return os.path.splitext(path)[0] if output_compression(path) else path


def _compressor(f: IO[bytes], how: str) -> IO[bytes]:
    if how == "gzip":
        import gzip
        return gzip.GzipFile(fileobj=f, mode="wb", mtime=0)    # type: ignore[return-value]
    import zstandard
    return zstandard.ZstdCompressor().stream_writer(f, closefd=False)


@contextlib.contextmanager
def atomic_output(path: Optional[str], where: str) -> Iterator[IO[str]]:
    """Standard output for None/``-``; else a temporary text file next to ``path``, renamed over
    it when the block succeeds and removed when it fails; gzip- or zstd-compressed when
    ``path`` ends in ``.gz`` or ``.zst``.  ``where`` (an option name) is the place a
    :class:`~memsim.errors.UsageError` names when the directory is not writable."""
    if path is None or path == "-":
        yield sys.stdout
        return
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UsageError(where, f"directory {d} does not exist", "create it first")
    how = output_compression(path)
    try:
        if how is None:
            with atomic_write(path) as f:
                yield f
            return
        import io
        with atomic_write(path, binary=True) as raw:
            with io.TextIOWrapper(_compressor(raw, how), encoding="utf-8", newline="\n") as t:
                yield t
    except OSError as e:
        raise UsageError(where, f"cannot write {path}: {e.strerror}", "write somewhere else") from None


def compress_into(src: str, path: str, where: str) -> None:
    """The file ``src`` compressed (``.gz``/``.zst`` of ``path``) into ``path``, atomically."""
    import shutil
    how = output_compression(path)
    try:
        with open(src, "rb") as i, atomic_write(path, binary=True) as raw:
            with _compressor(raw, how or "gzip") as z:
                shutil.copyfileobj(i, z, 1 << 20)
    except OSError as e:
        raise UsageError(where, f"cannot write {path}: {e.strerror}", "write somewhere else") from None


# -- text --------------------------------------------------------------------------------------
def _header_meta(meta: Dict[str, Any], count: Optional[int], cpus_seen: int) -> Dict[str, Any]:
    """The meta for :meth:`Renderer.header`: ``count`` (the lines printed) replaces the input's
    entry counts when given; the CPUs seen stand in for an unknown CPU count."""
    m = dict(meta)
    if count is not None:
        m["entries"] = m["entries_written"] = count
    if not m.get("ncpus"):
        m["ncpus"] = cpus_seen
    return m


def _chain(first, it):
    yield first
    yield from it


def render_text(reader, records: Iterable, out: IO[str], *, style: str = "kernel",
                ns: bool = False, exact_count: bool = False,
                on_empty: Optional[Any] = None) -> int:
    """A header and one line per record of ``records`` (read by ``reader``) to ``out``, in
    ``style`` (``kernel`` or ``trace-cmd``, see :mod:`memsim.tracing.report`); returns the
    number of records written.

    The kernel header's entry counts are the input's (its ``#`` header or trace.dat CPUSTAT:
    ``meta["entries"]``) unless ``exact_count`` (the records are a selection) or the input had
    none: then they are the number of lines printed.  When the header needs what only the
    records tell (that count, or the CPU count of a headerless text), the lines are spooled to
    a temporary file (memory stays flat) until it is known.

    ``on_empty()`` is called before the header when there is no record to print: it raises
    when the input is not a trace, so that nothing is printed before the error.
    """
    from memsim.tracing.report import Renderer
    r = Renderer.for_reader(style, reader, ns=ns)
    meta = getattr(reader, "meta", {}) or {}
    it = iter(records)
    first = next(it, None)
    no_entries = meta.get("entries") is None
    if first is None:
        if on_empty is not None:
            on_empty()
        out.write(r.header(_header_meta(meta, 0 if exact_count or no_entries else None, 0)))
        return 0
    need_count = style == "kernel" and (exact_count or no_entries)
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


def write_text(reader, out: IO[str], *, style: str = "kernel", ns: bool = False,
               selection: Optional[Selection] = None,
               matcher: Optional[EventMatcher] = None,
               progress: Any = None) -> Tuple[int, int]:
    """Every record of ``reader`` that ``selection`` selects as text to ``out``
    (:func:`render_text`); returns (records read, records written).

    ``matcher`` is ``selection``'s :class:`EventMatcher`, passed when the caller wants to know
    afterwards which globs matched nothing; ``progress`` a
    :class:`memsim.progress.TraceProgress` that counts what is read.
    """
    sel = selection or Selection()
    if _batch_reader(reader):
        return _write_text_batches(reader, out, style=style, ns=ns, selection=sel,
                                   matcher=matcher, progress=progress)
    nread = 0

    def counting(recs):
        nonlocal nread
        if progress is not None:
            recs = progress.records(recs)
        for rec in recs:
            nread += 1
            yield rec

    def empty() -> None:
        if nread == 0:
            problems_summary(reader, nrecords=0)        # raises: not a trace

    written = render_text(reader, select(counting(guarded_records(reader)), sel, matcher), out,
                          style=style, ns=ns, exact_count=sel.active, on_empty=empty)
    return nread, written


def _batch_reader(reader) -> bool:
    """Whether ``reader`` decodes straight into column batches (text and trace.dat)."""
    from memsim.tracing.textparse import TextReader
    from memsim.tracing.tracedat import DatReader
    if isinstance(reader, TextReader):      # not lines with buffer columns (read as Records)
        return (getattr(reader, "meta", {}) or {}).get("buffer_width") is None
    return isinstance(reader, DatReader)


def _write_text_batches(reader, out: IO[str], *, style: str, ns: bool, selection: Selection,
                        matcher: Optional[EventMatcher],
                        progress: Any = None) -> Tuple[int, int]:
    """:func:`write_text` from column batches (:meth:`~memsim.tracing.report.Renderer.batch_text`,
    a selection by :func:`~memsim.tracing.select.select_columns`): the same text, without a
    Python object per record, written as UTF-8 bytes to ``out``'s buffer when it has one."""
    from memsim.tracing.report import Renderer
    from memsim.tracing.select import select_columns
    r = Renderer.for_reader(style, reader, ns=ns)
    meta = getattr(reader, "meta", {}) or {}
    exact_count = selection.active
    if exact_count and selection.events and matcher is None:
        matcher = EventMatcher(selection.events)
    nread = 0
    n = 0
    maxcpu = 0

    def chunks():
        nonlocal n, nread, maxcpu
        batches = guarded_batches(reader, payloads=True)
        for cols in progress.batches(batches) if progress is not None else batches:
            nread += len(cols)
            if exact_count:
                cols = select_columns(cols, selection, matcher)
            text = r.batch_text(cols)
            if not text:
                continue
            n += len(cols)
            for t in cols.tables.values():
                if len(t):
                    maxcpu = max(maxcpu, max(t.columns["cpu"]))
            yield text

    def raw_writer(stream):
        raw = getattr(stream, "buffer", None)
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if raw is not None and enc == "utf8":
            stream.flush()
            return raw.write
        return lambda b: stream.write(b.decode("utf-8"))

    it = chunks()
    first = next(it, None)
    no_entries = meta.get("entries") is None
    if first is None:
        if nread == 0:
            problems_summary(reader, nrecords=0)    # raises when the input is not a trace
        out.write(r.header(_header_meta(meta, 0 if exact_count or no_entries else None, 0)))
        return nread, 0
    need_count = style == "kernel" and (exact_count or no_entries)
    if not need_count and meta.get("ncpus"):
        out.write(r.header(_header_meta(meta, None, maxcpu + 1)))
        write = raw_writer(out)
        for text in _chain(first, it):
            write(text)
        return nread, n
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b") as spool:
        for text in _chain(first, it):
            spool.write(text)
        out.write(r.header(_header_meta(meta, n if need_count else None, maxcpu + 1)))
        write = raw_writer(out)
        spool.seek(0)
        while True:
            chunk = spool.read(1 << 20)
            if not chunk:
                break
            write(chunk)
    return nread, n


# -- trace.dat ---------------------------------------------------------------------------------
_SYMBOL_RE = re.compile(r"^(?P<name>[A-Za-z_.$][\w.$]*)\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)$")


_NAME_RE = re.compile(r"^[A-Za-z_.$][\w.$]*$")


def symbol_addr(text: str) -> Optional[int]:
    """The address of a printed ``%pS`` text (``mm_alloc+0x1a/0x50``) or ``%ps`` text (a bare
    name: ftrace print's ``tracing_mark_write``) in memsim's kallsyms, or None unless it names
    a memsim symbol (and an offset inside it)."""
    from memsim.tracing.kallsyms import default_kallsyms
    ks = default_kallsyms()
    if _NAME_RE.match(text):
        try:
            return ks.symbol_addr(text)
        except KeyError:
            return None
    m = _SYMBOL_RE.match(text)
    if m is None:
        return None
    try:
        addr = ks.symbol_addr(m.group("name")) + int(m.group("off"), 16)
    except KeyError:
        return None
    hit = ks.lookup(addr)
    return addr if hit is not None and hit[0] == m.group("name") else None


def _dat_formats(reader):
    """An empty FormatSet for the output file with the reader's header_page/header_event
    (memsim's when it has none), filled by :meth:`DatBuilder.decl_of` as events appear."""
    from memsim.tracing.formats import FormatSet
    fs = FormatSet()
    src = reader.formats
    fs.header_page = getattr(src, "header_page", None)
    fs.header_event = getattr(src, "header_event", None)
    if fs.header_page is None:
        from memsim.tracing.formatfile import header_event, header_page
        fs.header_page, fs.header_event = header_page(), header_event()
    return fs


class DatBuilder:
    """Records of ``reader`` -> a trace.dat: encoded per CPU, with the formats they need and
    unique type ids (the encoded records are kept in memory until :meth:`write`).  The records
    of every buffer (tracefs instance) go into the file's one buffer.

    After the records are added, :attr:`count` is the number encoded, :attr:`skipped` the
    records of events with no format (by event), :attr:`zeroed` the printed values that are not
    numbers and were written as 0 (by ``event.field``) and :attr:`symbols` the ``%pS`` texts
    turned back into addresses.
    """

    def __init__(self, reader):
        from memsim.tracing.tracedat_write import encode_record
        self.reader = reader
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
        self.buffers: Dict[str, int] = {}           # buffer name -> records encoded
        self.count = 0

    def decl_of(self, rec):
        """The format of ``rec``'s event (added to the output's formats), or None."""
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
            n = symbol_addr(v)
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
        """Encode one record (or count it in :attr:`skipped` when its event has no format)."""
        decl = self.decl_of(rec)
        if decl is None:
            self.skipped[rec.full_name] = self.skipped.get(rec.full_name, 0) + 1
            return
        buffer = getattr(rec, "buffer", "")
        rec = self.numeric_fields(decl, rec)
        data = self.encode(decl, self.ids[decl.full_name], rec)
        self.per_cpu.setdefault(rec.cpu, []).append((rec.ts, data))
        if rec.comm and rec.comm not in ("<...>", "<idle>") and rec.pid:
            self.comms[rec.pid] = rec.comm
        self.buffers[buffer] = self.buffers.get(buffer, 0) + 1
        self.count += 1

    def add_all(self, records: Iterable) -> int:
        """:meth:`add` every record; returns how many were read (encoded or skipped)."""
        seen = 0
        for rec in records:
            seen += 1
            self.add(rec)
        return seen

    @property
    def ncpus(self) -> int:
        """The CPU count of the output: the input's, or more when the records say so."""
        stated = (getattr(self.reader, "meta", {}) or {}).get("ncpus")
        return max([c + 1 for c in self.per_cpu] + [stated if isinstance(stated, int) else 0, 1])

    def kallsyms(self) -> str:
        """The kallsyms for the file: the input's (a trace.dat's), else memsim's when ``%pS``
        symbols were turned into memsim addresses, else none."""
        text = getattr(self.reader, "kallsyms_text", None)
        if not isinstance(text, str):
            text = ""
        if self.symbols and not text:
            from memsim.tracing.kallsyms import kallsyms_text
            text = kallsyms_text()
        return text

    def uname(self) -> Optional[str]:
        """The UNAME option of the output: the input's (a trace.dat's); for a text whose
        irq-info column has 4 characters (kernels before 5.15, no migrate-disable) a 5.14
        release, which makes readers print 4 characters again; else None (the default)."""
        meta = getattr(self.reader, "meta", {}) or {}
        if meta.get("uname"):
            return meta["uname"]
        if meta.get("flags_width") == 4:
            return "Linux memsim 5.14.0-memsim x86_64"
        return None

    def write(self, path: str, *, version: int = 7, compression: str = "zstd") -> None:
        """Write the trace.dat ``path`` (see :func:`memsim.tracing.tracedat_write.write_trace_dat`);
        a ``path`` ending in ``.gz`` or ``.zst`` gets the whole file compressed so."""
        from memsim.tracing.tracedat_write import pack_pages, write_trace_dat
        # pack_pages wants each CPU's records in time order (a text trace is merged by time)
        cpu_pages = [pack_pages(sorted(self.per_cpu.get(cpu, []), key=lambda r: r[0]))
                     for cpu in range(self.ncpus)]
        if output_compression(path) is None:
            write_trace_dat(path, formats=self.out, cpu_pages=cpu_pages, cmdlines=self.comms,
                            kallsyms=self.kallsyms(), version=version, compression=compression,
                            uname=self.uname())
            return
        d = os.path.dirname(os.path.abspath(path))
        with tempfile.TemporaryDirectory(dir=d if os.path.isdir(d) else None) as tmp:
            plain = os.path.join(tmp, "trace.dat")
            write_trace_dat(plain, formats=self.out, cpu_pages=cpu_pages, cmdlines=self.comms,
                            kallsyms=self.kallsyms(), version=version, compression=compression,
                            uname=self.uname())
            compress_into(plain, path, "OUT")

    def warnings(self) -> List[str]:
        """What the output lacks, one ``<problem>; <fix>`` line each (none when complete)."""
        out = []
        if len(self.buffers) > 1:
            names = ", ".join(f"{n or 'top'} ({c})" for n, c in self.buffers.items())
            out.append(f"the records of {len(self.buffers)} buffers ({names}) went into the "
                       f"output's one buffer; choose one with --buffer NAME")
        if self.skipped:
            names = ", ".join(f"{n} ({c})" for n, c in sorted(self.skipped.items()))
            out.append(f"{sum(self.skipped.values())} record(s) of events with no format "
                       f"skipped: {names}; give the formats with --formats DIR")
        if self.zeroed:
            names = ", ".join(f"{n} ({c})" for n, c in sorted(self.zeroed.items()))
            out.append(f"{sum(self.zeroed.values())} printed value(s) that are not numbers "
                       f"written as 0: {names}; a trace.dat keeps the raw field values")
        return out


__all__ = ["open_input", "read_errors", "buffer_counts", "empty_buffer_warning",
           "output_compression", "uncompressed_name", "compress_into", "COMPRESSED_SUFFIXES", "guarded_records", "guarded_batches", "problems_summary", "atomic_output",
           "render_text", "write_text", "symbol_addr", "DatBuilder", "SHOW_PROBLEMS"]
