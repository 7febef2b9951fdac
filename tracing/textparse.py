"""Text traces read back: the kernel's ``trace`` file, ``trace_pipe`` output and
``trace-cmd report`` text (FORMAT-NOTES 1-4, 6, 9, 10).

:class:`TextReader` accepts, auto-detected per file and robust per line:

* the kernel's ``trace`` file: the ``#`` header (``tracer:``,
  ``entries-in-buffer/entries-written: A/B   #P:N``, the flag legend), then the lines
  ``trace_print_context`` prints -- ``"%16s-%-7d "`` comm/pid, ``"(%7d) "`` TGID with
  options/record-tgid (``(-------)`` when unknown), ``"[%03d] "`` CPU, the irq-info flags of
  ``trace_print_lat_fmt`` (5 characters, 4 on older kernels, none with noirq-info), the
  timestamp (``" %5lu.%06lu"``, µs, or a raw ``%12llu`` for the counter/uptime/x86-tsc clocks),
  the bare event name and the payload its TP_printk printed;
* ``trace_pipe`` output: the same lines without a header, plus ``CPU:N [LOST k EVENTS]`` /
  ``[LOST EVENTS]`` lines (``print_trace_line``), kept in ``meta["lost"]`` as
  ``(cpu, count or None)``;
* ``trace-cmd report`` text (trace-cmd ``print_trace_fmt``): ``cpus=N`` first, no flags column,
  the event name padded to 21 columns; also ``-t`` (nanosecond timestamps), ``-l`` (latency
  columns) and ``-R`` (raw fields, read through the keyed fallback).

Timestamps become ``ts`` in ns: ``sec * 1e9 + usec * 1000`` for µs text, exact for 9
decimals, the raw count for integer clocks (``meta["clock"]`` is ``"local"`` or ``"counter"``).
Payloads go through the inverse of the event's print fmt (:mod:`memsim.tracing.payload`).

The hot loop is the Cython :mod:`memsim.tracing._textscan`: it reads chunks of
:attr:`TextReader.CHUNK` bytes and fills per-event typed columns without building a Record
(:meth:`TextReader.batches`), or builds Records (:meth:`TextReader.records`).

``trace-cmd report`` of a trace.dat with instance buffers starts every event line with the
buffer's name, right-aligned to the longest name, and ``": "`` (``print_handle_file``; spaces for
the top-level buffer): the column is recognised on the first event line, taken off every line
and kept as the record's ``buffer``; ``meta["buffers"]`` lists the names seen,
``meta["buffer_records"]`` the lines of each (all buffers, once read) and
``meta["buffer_width"]`` the column's width.  ``buffer=NAME`` keeps one buffer's lines.

ftrace's ``print`` event (``echo TEXT > trace_marker``) is read back from both dialects: the
kernel prints it as ``tracing_mark_write: TEXT`` (the symbol of ``ip`` where the event name
goes), trace-cmd as ``print: tracing_mark_write: TEXT``.  The record is ``ftrace:print`` with
``ip`` the printed symbol (a str; an int when trace-cmd printed an address) and ``buf`` the text
with the newline the kernel stores (``trace_marker`` adds one, the line ends there).

``meta`` follows the schema of :mod:`memsim.tracing.record` (``format`` ``"text"``;
``dialect`` ``"kernel"``, ``"trace_pipe"`` or ``"trace-cmd"``; ``ncpus`` from ``#P:`` or
``cpus=``; ``entries``/``entries_written`` from the header; ``clock`` ``"local"`` or, for
integer timestamps, ``"counter"``; ``flags_width``; ``tgid``; ``lost``), plus ``tracer``
(the header's ``# tracer:``, or None).  The layout keys (``flags_width``, ``tgid``, ``clock``)
are known once the first event line has been seen: on opening, when it is in the first chunk.
"""
from __future__ import annotations

import re
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

from memsim.errors import TraceError
from memsim.tracing import _textscan
from memsim.tracing.columns import Columns
from memsim.tracing.formats import FormatSet
from memsim.tracing.payload import PayloadPattern, compile_payload, unknown_payload
from memsim.tracing.reader import TraceReader, decompress_errors, open_stream, stream_position
from memsim.tracing.record import Record, new_meta

_ENTRIES_RE = re.compile(rb"#\s*entries-in-buffer/entries-written:\s*(\d{1,20})/(\d{1,20})\s*"
                         rb"#P:(\d{1,9})")
_TRACER_RE = re.compile(rb"#\s*tracer:\s*(\S*)")
_CPUS_RE = re.compile(rb"cpus=(\d{1,9})\s*$")
_LOST_RE = re.compile(rb"\s*(?:CPU:?\s*(\d{1,9})\s*)?\[(?:LOST (\d{1,20}) EVENTS|LOST EVENTS|"
                      rb"(\d{1,20}) EVENTS DROPPED)\]\s*$")
# trace-cmd report's other non-event lines
_REPORT_MISC_RE = re.compile(rb"(?:CPU \d+ is empty|version = \d+|cpus=\d+|\s*)\s*$")
# trace-cmd report's "%16s-%-5d [%03d]": the pid and CPU after the 16 columns of the comm
_PID_CPU_RE = re.compile(rb"-\d+\s*\[\d{3,}\]")
#: the symbol in ftrace print's ip of a trace_marker write (kernel/trace/trace.c)
MARKER_SYMBOL = "tracing_mark_write"
_PRINT = "ftrace:print"


def buffer_column(line: bytes) -> Optional[int]:
    """The width of trace-cmd's buffer column (``"%*s: "``, instance name and colon and space)
    before the comm of a ``trace-cmd report`` event line, or None when the line has none."""
    m = _PID_CPU_RE.search(line, 16)
    if m is None or m.start() <= 16:
        return None
    w = m.start() - 16
    pre = line[:w]
    if w < 3 or not (pre.endswith(b": ") or pre == b" " * w) or pre[:1] == b":":
        return None
    return w


def _print_fields(fields: Dict[str, Any]) -> Dict[str, Any]:
    """An ftrace print record's fields as the binary record has them: ``ip`` (the printed
    symbol, or the address trace-cmd printed when it had none) and ``buf`` with its newline."""
    ip = fields.pop("arg0", None)
    if ip is None:
        ip = fields.get("ip", MARKER_SYMBOL)
    if isinstance(ip, str) and ip.startswith("0x"):
        try:
            ip = int(ip, 16)
        except ValueError:
            pass
    buf = fields.get("buf")
    buf = "" if buf is None else str(buf)
    return {"ip": ip, "buf": buf if buf.endswith("\n") else buf + "\n"}


class TextReader(TraceReader):
    """Reader of text traces (see the module docstring).

    ``stream`` is a binary stream of the (already decompressed) text; without one ``path`` is
    opened with :func:`memsim.tracing.reader.open_stream`.  ``formats`` gives the events'
    print fmts (:func:`memsim.tracing.formats.default_formats` when None).
    """

    kind = "text"
    CHUNK = 4 << 20

    def __init__(self, path: str, stream: Optional[IO[bytes]] = None,
                 formats: Optional[FormatSet] = None, strict: bool = False,
                 chunk_size: int = CHUNK, buffer: Optional[str] = None):
        super().__init__(path, formats, strict)
        self._want = buffer
        self._stream = stream if stream is not None else open_stream(path)
        self.chunk_size = max(1, int(chunk_size))
        self.patterns: Dict[str, PayloadPattern] = {}
        self._used = False
        self._eof = False
        self._reset()
        self._head = self._read()
        self._sniff(self._head)

    # -- state -------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.meta = new_meta("text", dialect="trace_pipe", tracer=None, buffers=[""],
                             buffer=None, buffer_width=None, buffer_records={})
        self._layout_known = False          # the first event line has set the layout keys
        self._prints = False                # an ftrace print event was resolved
        self.problems = []
        self.nproblems = 0
        self._legend_width: Optional[int] = None
        self._scanner = _textscan.Scanner(self._resolve, self._on_other, self.strict)

    def _rewind(self) -> None:
        """A second pass: start over if the stream can seek, else refuse."""
        if not self._used:
            self._used = True
            return
        seekable = getattr(self._stream, "seekable", None)
        if seekable is None or not seekable():
            raise TraceError(self.name, "the trace was already read and its stream cannot seek",
                             "open the trace again to read it a second time")
        self._stream.seek(0)
        self._eof = False
        self._reset()
        self._head = self._read()
        self._sniff(self._head)
        self._used = True

    def position(self) -> Optional[Tuple[int, int]]:
        """(bytes of the file read, its size): the compressed bytes of a compressed file."""
        if self._stream.closed:
            return None
        return stream_position(self._stream)

    def _read(self) -> bytes:
        """The next chunk (``read1`` pieces, so that what a corrupt or truncated compressed
        stream gave before the damage is kept); the damage ends the trace with a problem
        (a TraceError in strict mode)."""
        if self._eof:
            return b""
        read1 = getattr(self._stream, "read1", None) or self._stream.read
        parts: List[bytes] = []
        total = 0
        error = None
        try:
            while total < self.chunk_size:
                b = read1(self.chunk_size - total)
                if not b:
                    self._eof = True
                    break
                parts.append(b)
                total += len(b)
        except decompress_errors() as e:
            error = e
            self._eof = True
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if error is not None:
            # every line the kernel writes ends in a newline: what follows the last one was cut
            # short by the damage, and is dropped rather than read as a shorter value
            keep = data.rfind(b"\n") + 1
            cut = len(data) - keep
            data = data[:keep]
            self.problem(self.name, f"cannot read further: {error}"
                         + (f"; the {cut} bytes of the line it cut short were dropped" if cut else ""))
        return data

    # -- callbacks of the scanner ------------------------------------------------------------
    def _resolve(self, name: bytes) -> Tuple[str, str, str, Any, PayloadPattern]:
        bare = name.decode("utf-8", "replace")
        decl = self.formats.by_name(bare)
        if decl is None and bare == MARKER_SYMBOL and self.formats.get(_PRINT) is not None:
            # the kernel's trace_print_print: "tracing_mark_write: TEXT", the whole payload is buf
            from dataclasses import replace
            decl = replace(self.formats.get(_PRINT), print_fmt='"%s", REC->buf')
            self._prints = True
            pat = self.patterns[bare] = compile_payload(decl)
            return decl.full_name, decl.system, decl.name, pat.program(), pat
        if decl is not None and decl.full_name == _PRINT:
            self._prints = True
        if decl is None:
            pat = unknown_payload()
            self.patterns[bare] = pat
            return bare, "", bare, None, pat
        pat = self.patterns.get(decl.full_name)
        if pat is None:
            pat = self.patterns[decl.full_name] = compile_payload(decl)
        return decl.full_name, decl.system, decl.name, pat.program(), pat

    def _on_other(self, lineno: int, line: bytes) -> bool:
        """A line that is not an event: header, cpus=, LOST; False if it is junk."""
        if line.startswith(b"#"):
            self._header_line(line)
            return True
        m = _LOST_RE.match(line)
        if m is not None:
            cpu = int(m.group(1)) if m.group(1) is not None else None
            count = m.group(2) or m.group(3)
            self.meta["lost"].append((cpu, int(count) if count is not None else None))
            return True
        m = _CPUS_RE.match(line)
        if m is not None:
            self.meta["ncpus"] = int(m.group(1))
            if lineno == 1:
                self.meta["dialect"] = "trace-cmd"
            return True
        return _REPORT_MISC_RE.match(line) is not None

    def _header_line(self, line: bytes) -> None:
        m = _ENTRIES_RE.match(line)
        if m is not None:
            self.meta["entries"] = int(m.group(1))
            self.meta["entries_written"] = int(m.group(2))
            self.meta["ncpus"] = int(m.group(3))
            self.meta["dialect"] = "kernel"
            return
        m = _TRACER_RE.match(line)
        if m is not None:
            self.meta["tracer"] = m.group(1).decode("utf-8", "replace")
            self.meta["dialect"] = "kernel"
            return
        if b"irqs-off/BH-disabled" in line:
            self._legend_width = 5
        elif b"irqs-off" in line and self._legend_width is None:
            self._legend_width = 4
        elif b"TGID" in line:
            self.meta["tgid"] = True

    def _sniff(self, head: bytes) -> None:
        """Header meta and the first event line's layout, before any event is read."""
        for raw in head.split(b"\n", 200)[:200]:
            line = raw.rstrip(b"\r")
            if not line.strip() or line.startswith(b"#"):
                if line.startswith(b"#"):
                    self._header_line(line)
                continue
            if _CPUS_RE.match(line):
                self.meta["dialect"] = "trace-cmd"
                self.meta["ncpus"] = int(_CPUS_RE.match(line).group(1))
                continue
            w = buffer_column(line) if self.meta["dialect"] == "trace-cmd" else None
            if w is not None:
                self.meta["buffer_width"] = w - 2
                line = line[w:]
            hdr, _ = _textscan.parse_line_header(line)
            if hdr is None:
                continue
            self._first_event(hdr)
            break
        if self.meta["flags_width"] is None and self._legend_width is not None:
            self.meta["flags_width"] = self._legend_width
        want = self._want
        if want is not None and want not in ("", "top") and self.meta["buffer_width"] is None:
            from memsim.errors import UsageError
            raise UsageError("--buffer", f"{self.name} has no buffer {want!r} (a text trace "
                                         f"without trace-cmd's buffer column is one buffer)",
                             "leave out --buffer")
        if want is not None:
            self.meta["buffer"] = "" if want == "top" else want

    def _first_event(self, hdr: Dict[str, Any]) -> None:
        self._layout_known = True
        if "flags_width" in hdr:
            self.meta["flags_width"] = hdr["flags_width"]
        else:
            self.meta["flags_width"] = len(hdr["flags"]) if hdr["flags"] else None
        if hdr["has_tgid"]:
            self.meta["tgid"] = True
        self.meta["clock"] = "counter" if hdr["ts_int"] else "local"
        if hdr.get("padded") and self.meta["dialect"] == "trace_pipe":
            self.meta["dialect"] = "trace-cmd"

    # -- reading -----------------------------------------------------------------------------
    def _fill(self, buf: bytearray, n: int) -> int:
        """Read into ``buf[n:]`` until it is full or the stream ends; the new fill.  As
        :meth:`_read`: pieces at a time, and damage ends the trace with a problem, dropping
        the bytes after the last newline of what this call read."""
        if self._eof:
            return n
        start = n
        cap = len(buf)
        readinto1 = getattr(self._stream, "readinto1", None)
        error = None
        try:
            with memoryview(buf) as mv:
                while n < cap:
                    if readinto1 is not None:
                        k = readinto1(mv[n:])
                    else:
                        b = self._stream.read(cap - n)
                        k = len(b)
                        mv[n:n + k] = b
                    if not k:
                        self._eof = True
                        break
                    n += k
        except decompress_errors() as e:
            error = e
            self._eof = True
        if error is not None:
            keep = buf.rfind(b"\n", start, n) + 1
            keep = keep if keep else start
            cut = n - keep
            n = keep
            self.problem(self.name, f"cannot read further: {error}"
                         + (f"; the {cut} bytes of the line it cut short were dropped" if cut else ""))
        return n

    def _chunks(self) -> Iterator[Tuple[bytearray, int]]:
        """(buffer, end): the text in pieces that end on a line boundary (the last one may not),
        read into one reused buffer (the scanner copies what it keeps)."""
        head = self._head
        self._head = b""
        buf = bytearray(max(self.chunk_size, len(head), 1))
        buf[:len(head)] = head
        n = len(head)
        while True:
            n = self._fill(buf, n)
            if not n:
                return
            if self._eof:
                yield buf, n
                return
            cut = buf.rfind(b"\n", 0, n) + 1
            if not cut:                             # a line longer than the buffer
                buf.extend(bytes(len(buf)))
                continue
            yield buf, cut
            rest = n - cut
            buf[:rest] = buf[cut:n]
            n = rest

    def _drain_problems(self) -> None:
        sc = self._scanner
        if sc.problems:
            probs = list(sc.problems)
            sc.problems.clear()
            for lineno, msg in probs:
                self.problem(f"{self.name}:{lineno}", msg)

    def _runs(self) -> Iterator[Tuple[bytes, int, str]]:
        """(buffer, end, name): :meth:`_chunks` with trace-cmd's buffer column taken off, cut
        into runs of lines of one buffer (``name``).  Without the column: the chunks, ``""``."""
        width = self.meta["buffer_width"]
        if width is None:
            for buf, end in self._chunks():
                yield buf, end, ""
            return
        w = width + 2
        names = self.meta["buffers"]
        for buf, end in self._chunks():
            run: List[bytes] = []
            run_name = None
            for line in buf[:end].splitlines(keepends=True):
                pre = line[:w]
                if len(line) > w and (pre.endswith(b": ") or pre == b" " * w):
                    name = pre[:-2].strip().decode("utf-8", "replace")
                    line = line[w:]
                else:
                    name = run_name or ""
                if name != run_name and run:
                    data = b"".join(run)
                    yield data, len(data), run_name or ""
                    run = []
                if name not in names:
                    names.append(name)
                run_name = name
                run.append(line)
            if run:
                data = b"".join(run)
                yield data, len(data), run_name or ""

    def _fix_prints(self, recs: List[Record]) -> None:
        for rec in recs:
            if rec.event == "print" and rec.system == "ftrace":
                rec.fields = _print_fields(rec.fields)

    def records(self) -> Iterator[Record]:
        """One :class:`Record` per event line, in file order."""
        self._rewind()
        sc = self._scanner
        out: List[Record] = []
        want = self.meta["buffer"]
        for buf, end, name in self._runs():
            pos = 0
            while pos < end:
                pos, _, stop = sc.scan(buf, pos, end, True, 16384, out)
                if sc.first is not None and not self._layout_known:
                    self._first_event(sc.first)
                if out:
                    if self._prints:
                        self._fix_prints(out)
                    counts = self.meta["buffer_records"]
                    counts[name] = counts.get(name, 0) + len(out)
                    if name:
                        for rec in out:
                            rec.buffer = name
                    if want is None or want == name:
                        yield from out
                    out.clear()
                self._drain_problems()
                if stop == 2:
                    return
        self._check_buffer_seen()

    def _check_buffer_seen(self) -> None:
        """``buffer=NAME`` that no line of a trace with buffer columns named: a UsageError."""
        want = self.meta["buffer"]
        if want and want not in self.meta["buffers"]:
            from memsim.errors import UsageError
            names = ", ".join(n or "top" for n in self.meta["buffers"])
            raise UsageError("--buffer", f"{self.name} has no buffer {want!r} (it has: {names})",
                             "give one of those names")

    def batches(self, size: int = 65536, payloads: bool = False) -> Iterator[Columns]:
        """Columns of at most ``size`` events at a time, filled by the Cython scanner (through
        Records when lines carry trace-cmd's buffer column); with ``payloads`` each table's
        ``payloads`` holds its rows' payload texts (not through Records)."""
        if self.meta["buffer_width"] is not None:
            yield from TraceReader.batches(self, size)
            return
        for cols in self._scan_batches(size, payloads):
            t = cols.tables.get(_PRINT)
            if t is not None and self._prints:
                fixed = [_print_fields(dict(zip(("arg0", "ip", "buf"), vals)))
                         for vals in zip(t.columns.get("arg0") or [None] * len(t),
                                         t.columns.get("ip") or [MARKER_SYMBOL] * len(t),
                                         t.columns.get("buf") or [""] * len(t))]
                t.columns.pop("arg0", None)
                t.columns["ip"] = [f["ip"] for f in fixed]
                t.columns["buf"] = [f["buf"] for f in fixed]
            yield cols

    def _scan_batches(self, size: int, payloads: bool = False) -> Iterator[Columns]:
        self._rewind()
        size = max(1, int(size))
        sc = self._scanner
        sc.keep_payloads = payloads
        out: List[Record] = []
        for buf, end in self._chunks():
            pos = 0
            while pos < end:
                pos, _, stop = sc.scan(buf, pos, end, False, size - sc.batch_rows, out)
                if sc.first is not None and not self._layout_known:
                    self._first_event(sc.first)
                if stop == 2:
                    self._drain_problems()
                    return
                self._drain_problems()
                if sc.batch_rows >= size:
                    yield sc.build()
        if sc.batch_rows:
            yield sc.build()

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:
            pass


__all__ = ["TextReader"]
