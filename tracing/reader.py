"""Open any trace: :func:`open_trace` picks the reader from the file's first bytes.

* trace.dat (magic ``17 08 44 tracing``, versions 6 and 7): :class:`memsim.tracing.tracedat.DatReader`;
* text (the kernel's ``trace`` with or without flags/TGID columns, ``trace_pipe`` output,
  ``trace-cmd report`` output): :class:`memsim.tracing.textparse.TextReader`;
* either of them gzip- or zstd-compressed (``.gz``/``.zst``), decompressed as a stream.

Every reader streams: :meth:`TraceReader.records` yields one :class:`Record` at a time and
:meth:`TraceReader.batches` one :class:`Columns` of at most ``size`` events at a time, so memory
stays flat on a multi-gigabyte trace.  A spot that cannot be parsed becomes a :class:`Problem`
(``file:line: problem``), counted and skipped, or with ``strict=True`` a :class:`TraceError` at
the first one.
"""
from __future__ import annotations

import io
import os
import stat
import sys
from typing import IO, Any, Iterator, List, Optional, Tuple

from memsim.errors import TraceError
from memsim.tracing.columns import ColumnBuilder, Columns
from memsim.tracing.formats import FormatSet, default_formats
from memsim.tracing.record import Problem, Record

DAT_MAGIC = b"\x17\x08\x44tracing"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_KEPT_PROBLEMS = 1000


class TraceReader:
    """Base of the readers: problem bookkeeping and the generic columnar path."""

    kind = "trace"

    def __init__(self, path: str, formats: Optional[FormatSet] = None, strict: bool = False):
        self.path = path
        self.name = path if path != "-" else "<stdin>"
        self.formats = formats if formats is not None else default_formats()
        self.strict = strict
        self.problems: List[Problem] = []     # the first MAX_KEPT_PROBLEMS
        self.nproblems = 0
        self.meta: dict = {}

    def problem(self, where: str, problem: str) -> None:
        """Record a skipped spot, or raise it at once in strict mode."""
        if self.strict:
            raise TraceError(where, problem, "fix the input, or leave out --strict to skip such spots")
        self.nproblems += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(Problem(where, problem))

    def records(self) -> Iterator[Record]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Record]:
        return self.records()

    def batches(self, size: int = 65536, payloads: bool = False) -> Iterator[Columns]:
        """Columns of at most ``size`` events at a time, in file order (``seq`` keeps counting).

        ``payloads``: each :class:`~memsim.tracing.columns.EventTable` also keeps its rows'
        payload texts as printed (``payloads``), for readers of text; others ignore it."""
        b = ColumnBuilder()
        n = 0
        for rec in self.records():
            b.add(rec)
            n += 1
            if n == size:
                yield b.build()
                n = 0
        if n:
            yield b.build()

    def columns(self) -> Columns:
        """The whole trace as columns (memory grows with the trace; prefer :meth:`batches`)."""
        return Columns.concat(self.batches())

    def position(self) -> Optional[Tuple[int, int]]:
        """How far reading has got: (bytes read, bytes in all) of the input file, for a
        progress display; None when unknown (standard input, a pipe)."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_file(path: str) -> IO[bytes]:
    """``open(path, "rb")``, with the reasons it fails turned into TraceErrors."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise TraceError(path, "no such file", "check the path") from None
    except IsADirectoryError:
        raise TraceError(path, "is a directory", "give a trace file") from None
    except OSError as e:
        raise TraceError(path, f"cannot open: {e.strerror}") from None


def open_stream(path: str) -> IO[bytes]:
    """A binary stream of ``path`` (``-`` is standard input), gzip/zstd decompressed."""
    raw: IO[bytes] = sys.stdin.buffer if path == "-" else open_file(path)
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head[:2] == GZIP_MAGIC:
        import gzip
        return gzip.GzipFile(fileobj=raw, mode="rb")          # type: ignore[return-value]
    if head == ZSTD_MAGIC:
        return io.BufferedReader(_ZstdStream(raw), buffer_size=1 << 20)
    return raw


def stream_position(stream: IO[bytes]) -> Optional[Tuple[int, int]]:
    """(bytes read, file size) of the regular file under ``stream`` -- through the gzip and
    zstd decompressors of :func:`open_stream` -- or None when it is not a regular file."""
    import gzip
    s: Any = stream
    for _ in range(4):
        if isinstance(s, gzip.GzipFile):
            s = s.fileobj
        elif isinstance(s, _ZstdStream):
            s = s._raw
        elif isinstance(s, io.BufferedReader) and isinstance(s.raw, _ZstdStream):
            s = s.raw
        else:
            break
    try:
        st = os.fstat(s.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return s.tell(), st.st_size
    except (AttributeError, OSError, ValueError):
        return None


def decompress_errors() -> tuple:
    """What reading a damaged (compressed) stream can raise."""
    import zlib

    import zstandard
    return (OSError, EOFError, ValueError, zlib.error, zstandard.ZstdError)


class _ZstdStream(io.RawIOBase):
    """A zstd-compressed stream (one or more frames), decompressed as it is read.

    Unlike ``zstandard``'s stream reader, it notices a file cut inside a frame: it raises
    :class:`EOFError` there, as :mod:`gzip` does, so the reader reports what is missing.
    """

    def __init__(self, raw: IO[bytes]):
        import zstandard
        self._zstd = zstandard
        self._raw = raw
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._buf = b""
        self._pos = 0
        self._started = False          # bytes fed to the current frame

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self._pos >= len(self._buf):
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._started and not self._d.eof:
                    raise EOFError("the zstd data ends inside a frame (the file is truncated)")
                return 0
            self._buf, self._pos = b"", 0
            while chunk:
                self._started = True
                out = self._d.decompress(chunk)
                self._buf += out
                chunk = b""
                if self._d.eof:                 # the next frame, if any, starts in unused_data
                    chunk = self._d.unused_data
                    self._d = self._zstd.ZstdDecompressor().decompressobj()
                    self._started = False
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_trace(path: str, *, formats: Optional[FormatSet] = None, strict: bool = False,
               registry=None, buffer: Optional[str] = None) -> TraceReader:
    """The right reader for ``path``.

    ``buffer``: read only this buffer (tracefs instance, ``top`` the top level) of a trace.dat
    or of a ``trace-cmd report`` text with instance buffers; a name the trace lacks is a
    :class:`~memsim.errors.UsageError`.  None reads every buffer.

    ``formats`` are consulted before the trace's own and memsim's (see
    :mod:`memsim.tracing.formats`); ``registry`` is a machine's
    :class:`~memsim.tracing.events.EventRegistry` (default: the built-in events).
    """
    stream = open_stream(path)
    try:
        head = stream.peek(len(DAT_MAGIC))[:len(DAT_MAGIC)] if hasattr(stream, "peek") else b""
    except decompress_errors() as e:
        stream.close()
        raise TraceError(path, f"cannot decompress the start of the file: {e}",
                         "is the file complete and a trace?") from None
    if head.startswith(DAT_MAGIC[:3]):
        from memsim.tracing.tracedat import DatReader
        if path == "-" or not isinstance(stream, io.BufferedReader) or not isinstance(stream.raw, io.FileIO):
            # trace.dat is read by offset: a pipe or a compressed file is read into memory
            data = stream.read()
            return DatReader(path, data=data, formats=formats, strict=strict, registry=registry,
                             buffer=buffer)
        stream.close()
        return DatReader(path, formats=formats, strict=strict, registry=registry, buffer=buffer)
    from memsim.tracing.textparse import TextReader
    extra = [formats] if formats is not None else []
    try:
        return TextReader(path, stream, formats=default_formats(registry, extra), strict=strict,
                          buffer=buffer)
    except BaseException:
        stream.close()
        raise


def is_trace_dat(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(3) == DAT_MAGIC[:3]
    except OSError:
        return False


__all__ = ["TraceReader", "open_trace", "open_stream", "is_trace_dat", "Record", "Problem",
           "Columns", "FormatSet"]
