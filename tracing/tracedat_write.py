"""trace.dat output: the file ``trace-cmd record``/``extract`` writes, for ``trace-cmd report``.

Models trace-cmd 3.1.6's lib/trace-cmd/trace-output.c (FORMAT-NOTES 7, 8; the layout was copied
from ../shared/traces/trace-mm-workload.dat, written by ``trace-cmd extract``):

* **version 7** (the default, :func:`_write_v7`): ``output_write_init`` (magic, version,
  endianness, long size, page size, compression name and version, offset of the first OPTIONS
  section), then one section per piece of metadata, each with the header
  ``out_write_section_header`` writes (u16 id, u16 flags, u32 description-string offset, **u64**
  size) and, with compression, compressed as one block (``out_compression_end``: u32 compressed
  size, u32 uncompressed size, the zstd frame) -- HEADER INFO, FTRACE EVENTS, EVENT FORMATS,
  KALLSYMS, PRINTK, CMDLINES -- then the first OPTIONS section (``write_options``: the section
  offsets, TRACECLOCK, UNAME, VERSION, TRACEID, CPUSTAT per CPU, CMDLINES, CPUCOUNT, and DONE
  holding the offset of the next OPTIONS section), the flyrecord section
  (``out_write_cpu_data``: each CPU's pages page-aligned, with compression in chunks of
  ``PAGES_IN_CHUNK`` pages as ``tracecmd_compress_copy_from`` writes them), the second OPTIONS
  section (the BUFFER option, DONE 0) and the STRINGS section (``save_string_section``);
* **version 6** (:func:`_write_v6`): the same metadata inline and uncompressed, the CPU count,
  ``options  `` (ended by a bare u16 0, ``write_options_v6``), ``flyrecord`` with the per-CPU
  offset/size pairs and the ``[clock]`` string (``save_clock``), then the pages.

The CPU data is the kernel's ring-buffer sub-buffer pages (kernel/trace/ring_buffer.c), copied
as ``trace_pipe_raw`` returns them: :class:`memsim.ring.TraceBuffer` already keeps its records in
that format, and :func:`pack_pages` lays out records from anywhere else (a parsed text trace)
the same way.  A CPU's pages are a list of bytes, or a :class:`PageFile`: the pages
``trace-cmd record`` appended to a per-CPU file while tracing (``trace.dat.cpuN``), read back
from disk as the file is assembled.

Everything is little-endian with an 8-byte long (x86-64), as memsim's records are.
"""
from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import (Any, BinaryIO, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple)

from memsim.errors import TraceError, UsageError
from memsim.fileio import atomic_write
from memsim.tracing.text import irq_info_flags  # noqa: F401  (part of this module's API)

__all__ = [
    "FILE_VERSIONS",
    "COMPRESSIONS",
    "TRACE_CLOCKS",
    "CpuStat",
    "PageFile",
    "write_trace_dat",
    "dump_trace_dat",
    "write_buffer_trace_dat",
    "buffer_cpu_stats",
    "pack_pages",
    "encode_record",
    "irq_info_flags",
]

MAGIC = b"\x17\x08\x44tracing"
FILE_VERSIONS = (6, 7)
#: ``none`` or a compression algorithm trace-cmd 3.1.6 reads (``trace-cmd list -c``).
COMPRESSIONS = ("zstd", "none")
#: The x86-64 ``trace_clock`` file; the selected clock is printed in brackets.
TRACE_CLOCKS = ("local", "global", "counter", "uptime", "perf", "mono", "mono_raw", "boot",
                "tai", "x86-tsc")

# lib/trace-cmd/include/private/trace-cmd-private.h: TRACECMD_OPTION_*
OPTION_DONE = 0
OPTION_CPUSTAT = 2
OPTION_BUFFER = 3
OPTION_TRACECLOCK = 4
OPTION_UNAME = 5
OPTION_CPUCOUNT = 8
OPTION_VERSION = 9
OPTION_TRACEID = 11
OPTION_STRINGS = 15
OPTION_HEADER_INFO = 16
OPTION_FTRACE_EVENTS = 17
OPTION_EVENT_FORMATS = 18
OPTION_KALLSYMS = 19
OPTION_PRINTK = 20
OPTION_CMDLINES = 21
SEC_FL_COMPRESS = 1                 # TRACECMD_SEC_FL_COMPRESS
PAGES_IN_CHUNK = 10                 # trace-output.c: flyrecord data is compressed 10 pages a chunk

# kernel/trace/ring_buffer.c sub-buffers, as memsim.ring lays them out
SUBBUF_SIZE = 4096
BUF_PAGE_HDR_SIZE = 16              # u64 time_stamp + local_t commit

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PAGE_HDR = struct.Struct("<QQ")


# -- per-CPU statistics ------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuStat:
    """``per_cpu/cpuN/stats`` (kernel/trace/trace.c ``tracing_stats_read``) as trace-cmd
    extract reads it after draining the buffer: ``entries`` and ``bytes`` are 0 then, every
    event counts as read, and ``oldest event ts`` is the time stamp of the last page read.
    Times are ns of the trace clock."""

    read_events: int
    dropped_events: int = 0
    oldest_event_ts: int = 0
    now_ts: int = 0
    entries: int = 0
    overrun: int = 0
    commit_overrun: int = 0
    bytes: int = 0

    def text(self, cpu: int, ns_clock: bool = True) -> str:
        """The CPUSTAT option's text: ``CPU: N`` (added by trace-cmd) and the stats file."""
        def stamp(ns: int) -> str:
            if not ns_clock:
                return f"{ns}"
            us = (ns + 500) // 1000                         # ns2usecs rounds
            return "%5d.%06d" % divmod(us, 1000000)
        return (f"CPU: {cpu}\n"
                f"entries: {self.entries}\n"
                f"overrun: {self.overrun}\n"
                f"commit overrun: {self.commit_overrun}\n"
                f"bytes: {self.bytes}\n"
                f"oldest event ts: {stamp(self.oldest_event_ts)}\n"
                f"now ts: {stamp(self.now_ts)}\n"
                f"dropped events: {self.dropped_events}\n"
                f"read events: {self.read_events}\n")


class PageFile:
    """One CPU's sub-buffer pages in a binary file, appended as they fill and read back in
    order: a sequence of pages (``len``, indexing, slices, iteration) that
    :func:`write_trace_dat` copies into the trace.dat without holding them in memory.

    ``f`` is a readable, writable binary file (``tempfile.TemporaryFile()``: it disappears when
    closed, even if the process dies); the PageFile owns it (:meth:`close`).
    """

    CHUNK = 256                             # pages read at a time while iterating

    def __init__(self, f: BinaryIO, page_size: int = SUBBUF_SIZE):
        self.f = f
        self.page_size = page_size
        self.nr_pages = 0

    def append(self, data: bytes) -> None:
        """Append whole pages (``len(data)`` a multiple of the page size)."""
        if len(data) % self.page_size:
            raise ValueError(f"{len(data)} bytes are not whole {self.page_size}-byte pages")
        self.f.write(data)
        self.nr_pages += len(data) // self.page_size

    def _read(self, first: int, count: int) -> bytes:
        self.f.flush()
        return os.pread(self.f.fileno(), count * self.page_size, first * self.page_size)

    def __len__(self) -> int:
        return self.nr_pages

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.nr_pages)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            data = self._read(start, max(0, stop - start))
            ps = self.page_size
            return [data[i:i + ps] for i in range(0, len(data), ps)]
        if index < 0:
            index += self.nr_pages
        if not 0 <= index < self.nr_pages:
            raise IndexError("page index out of range")
        return self._read(index, 1)

    def __iter__(self) -> Any:
        for first in range(0, self.nr_pages, self.CHUNK):
            yield from self[first:first + self.CHUNK]

    def close(self) -> None:
        self.f.close()


def _pages_stat(pages: Sequence[bytes]) -> CpuStat:
    """What a CPU's pages tell: their records, the last page's time stamp, the last record's."""
    from memsim.ring import decode_subbuffer
    count = 0
    last_ts = 0
    for page in pages:
        recs = decode_subbuffer(page)
        count += len(recs)
        if recs:
            last_ts = recs[-1][0]
    oldest = _PAGE_HDR.unpack_from(pages[-1])[0] if pages else 0
    return CpuStat(read_events=count, oldest_event_ts=oldest, now_ts=last_ts)


def buffer_cpu_stats(tb: Any, cpu_pages: Optional[Sequence[Sequence[bytes]]] = None
                     ) -> List[CpuStat]:
    """The CPUSTAT of each CPU of a :class:`memsim.ring.TraceBuffer`: the records in it counted as
    read, those overwritten as ``overrun`` (``options/overwrite`` = 1, the default), those
    dropped while it was full as ``dropped events`` (overwrite = 0), and the clock's current
    time as ``now ts``.  ``cpu_pages``: ``tb``'s pages, if already taken (a streamed buffer's
    :class:`PageFile` s: every record written was read)."""
    out = []
    for cpu in range(tb.ncpus):
        st = tb.cpu_stats(cpu)
        pages = tb.subbuffers(cpu) if cpu_pages is None else cpu_pages[cpu]
        oldest = _PAGE_HDR.unpack_from(pages[-1])[0] if len(pages) else 0
        out.append(CpuStat(read_events=st["entries"], dropped_events=st["dropped"],
                           overrun=st["overrun"], oldest_event_ts=oldest, now_ts=tb.clock.now))
    return out


# -- record pages --------------------------------------------------------------------------------
def pack_pages(records: Iterable[Tuple[int, bytes]], page_size: int = SUBBUF_SIZE) -> List[bytes]:
    """Lay out one CPU's records as ring-buffer sub-buffer pages (what ``trace_pipe_raw`` returns).

    ``records`` are ``(ts_ns, record_bytes)`` in time order, each record starting with the
    common header.  They are written through memsim's own ring buffer
    (:class:`memsim.ring.TraceBuffer`, kernel/trace/ring_buffer.c's layout: page time stamps,
    ``type_len``/``time_delta`` headers, ``type_len`` 0 for records over 112 bytes, time extends
    for deltas of 2**27 ns or more), so a converted trace has the pages a memsim run would have.

    Raises ValueError for a time stamp before the previous one, a record too long for a page, or
    a page size other than the ring buffer's 4096 bytes.
    """
    from memsim.ring import Clock, TraceBuffer
    if page_size != SUBBUF_SIZE:
        raise ValueError(f"page size {page_size}: memsim's ring buffer lays out "
                         f"{SUBBUF_SIZE}-byte sub-buffers")
    recs = list(records)
    room = SUBBUF_SIZE - BUF_PAGE_HDR_SIZE
    need = 0
    last_ts = 0
    for n, (ts, rec) in enumerate(recs):
        if ts < 0 or ts < last_ts:
            raise ValueError(f"record {n}: time stamp {ts} is "
                             + ("negative" if ts < 0 else f"before the previous one ({last_ts}); "
                                "give one CPU's records in time order"))
        if len(rec) > room - 8:
            raise ValueError(f"record {n}: {len(rec)} bytes do not fit a {SUBBUF_SIZE}-byte page "
                             f"(at most {room - 8} bytes)")
        last_ts = ts
        need += len(rec) + 16            # header, length word, time extend, padding at most
    if not recs:
        return []
    # a page left more than half empty was closed by a record bigger than that half
    nr_pages = 2 * need // room + 2
    clock = Clock(0)
    tb = TraceBuffer(1, (nr_pages * SUBBUF_SIZE + 1023) // 1024, clock, overwrite=False)
    for ts, rec in recs:
        clock.now = ts
        tb.write_record(0, rec)
    assert tb.stats()[0][1] == 0, "pack_pages: the ring buffer was sized too small"
    return tb.subbuffers(0)


def encode_record(decl: Any, type_id: int, rec: Any) -> bytes:
    """The binary record of ``rec`` (a :class:`memsim.tracing.record.Record`) as the kernel
    writes it: the common header (``type_id``, the flags and preempt count of ``rec.flags`` --
    or of ``common_flags``/``common_preempt_count`` among its fields -- and ``rec.pid``), then
    the fields of ``decl`` (:class:`~memsim.tracing.events.EventDecl`, via
    :meth:`RecordCodec.pack`; ``__data_loc`` strings appended after the fixed part).

    A field ``rec`` lacks (a value the text did not print, such as a hashed ``%p``) is written
    as 0, or an empty string; values ``decl`` has no field for are left out.
    """
    fields = rec.fields
    if "common_flags" in fields and "common_preempt_count" in fields:
        flags, preempt = int(fields["common_flags"]), int(fields["common_preempt_count"])
    else:
        flags, preempt = irq_info_flags(rec.flags)
    values: Dict[str, Any] = {}
    for f in decl.fields:
        v = fields.get(f.name)
        if v is None:
            v = "" if (f.is_data_loc or f.is_array) else 0
        elif not (f.is_data_loc or f.is_array) and not isinstance(v, int):
            try:
                v = int(v, 0) if isinstance(v, str) else int(v)
            except (TypeError, ValueError):
                raise TraceError(f"{decl.full_name}", f"field {f.name} is {v!r}, not a number",
                                 "give the field's numeric value") from None
        values[f.name] = v
    return decl.codec.pack(type_id, flags, preempt, int(rec.pid), values)


# -- the file --------------------------------------------------------------------------------
class _Zstd:
    """trace-compress-zstd.c: ``ZSTD_compress2`` with the default level and no content size."""

    name = "zstd"

    def __init__(self) -> None:
        import zstandard
        self.version = "%d.%d.%d" % tuple(zstandard.ZSTD_VERSION[:3])
        self._c = zstandard.ZstdCompressor(write_content_size=False)

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)


class _Output:
    """struct tracecmd_output of a version 7 file: the pending options, the metadata strings,
    and where the next OPTIONS section's offset goes (``options_start``)."""

    def __init__(self, f: BinaryIO, compress: Optional[_Zstd]):
        self.f = f
        self.compress = compress
        self.strings = bytearray()
        self.options: List[Tuple[int, bytes]] = []
        self.options_start = 0

    def tell(self) -> int:
        return self.f.tell()

    def write(self, data: bytes) -> None:
        self.f.write(data)

    def patch_u64(self, at: int, value: int) -> None:
        here = self.f.tell()
        self.f.seek(at)
        self.f.write(_U64.pack(value))
        self.f.seek(here)

    def add_string(self, s: str) -> int:
        """``add_string``: a section description's offset in the STRINGS section."""
        pos = len(self.strings)
        self.strings += s.encode() + b"\0"
        return pos

    def add_option(self, option_id: int, data: bytes) -> None:
        self.options.append((option_id, data))

    def section_header(self, section_id: int, description: str, compress: bool,
                       option: bool) -> Tuple[int, bool]:
        """``out_write_section_header``; returns (where the size goes, compressed?)."""
        compress = compress and self.compress is not None
        if option:
            self.add_option(section_id, _U64.pack(self.tell()))
        self.write(_U16.pack(section_id) + _U16.pack(SEC_FL_COMPRESS if compress else 0)
                   + _U32.pack(self.add_string(description)))
        at = self.tell()
        self.write(_U64.pack(0))
        return at, compress

    def update_section_header(self, at: int) -> None:
        """``out_update_section_header``: the size is everything after the size field."""
        self.patch_u64(at, self.tell() - at - 8)

    def section(self, section_id: int, description: str, payload: bytes,
                option: bool = True) -> None:
        """One metadata section, compressed as one block (``out_compression_end``)."""
        at, compress = self.section_header(section_id, description, True, option)
        if compress:
            assert self.compress is not None
            z = self.compress.compress(payload)
            self.write(_U32.pack(len(z)) + _U32.pack(len(payload)) + z)
        else:
            self.write(payload)
        self.update_section_header(at)

    def write_options(self) -> None:
        """``write_options``: the pending options as a new OPTIONS section, linked from the
        previous one's DONE (or from the file header), ending in DONE 0."""
        start = self.tell()
        self.patch_u64(self.options_start, start)
        at, _ = self.section_header(OPTION_DONE, "options", False, False)
        for option_id, data in self.options:
            self.write(_U16.pack(option_id) + _U32.pack(len(data)) + data)
        self.options = []
        self.write(_U16.pack(OPTION_DONE) + _U32.pack(8))
        self.options_start = self.tell()
        self.write(_U64.pack(0))
        self.update_section_header(at)


def _cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def _pad_to(out: Any, align: int) -> int:
    pos = out.tell()
    aligned = (pos + align - 1) & ~(align - 1)
    if aligned > pos:
        out.write(bytes(aligned - pos))
    return aligned


def _clock_list(clock: str) -> str:
    clocks = list(TRACE_CLOCKS) if clock in TRACE_CLOCKS else list(TRACE_CLOCKS) + [clock]
    return " ".join(f"[{c}]" if c == clock else c for c in clocks) + "\n"


@dataclass(frozen=True)
class _Meta:
    """Everything but the CPU data, already in the bytes the file stores."""

    page_size: int
    header_page: bytes
    header_event: bytes
    ftrace_formats: List[bytes]
    systems: List[Tuple[str, List[bytes]]]
    kallsyms: bytes
    printk: bytes
    cmdlines: bytes
    options: List[Tuple[int, bytes]]      # TRACECLOCK, UNAME, VERSION, TRACEID, CPUSTAT...
    clock: str


def _header_info(meta: _Meta) -> bytes:
    return (b"header_page\0" + _U64.pack(len(meta.header_page)) + meta.header_page
            + b"header_event\0" + _U64.pack(len(meta.header_event)) + meta.header_event)


def _ftrace_events(meta: _Meta) -> bytes:
    return _U32.pack(len(meta.ftrace_formats)) + b"".join(
        _U64.pack(len(t)) + t for t in meta.ftrace_formats)


def _event_formats(meta: _Meta) -> bytes:
    parts = [_U32.pack(len(meta.systems))]
    for system, texts in meta.systems:
        parts.append(_cstr(system) + _U32.pack(len(texts)))
        parts += [_U64.pack(len(t)) + t for t in texts]
    return b"".join(parts)


def _write_v7(f: BinaryIO, meta: _Meta, cpu_pages: Sequence[Sequence[bytes]],
              compress: Optional[_Zstd]) -> None:
    """tracecmd_output_create + tracecmd_output_write_headers + tracecmd_write_cmdlines +
    tracecmd_write_cpus + tracecmd_write_options + tracecmd_write_cpu_data +
    tracecmd_output_close, in the order ``trace-cmd extract`` calls them."""
    out = _Output(f, compress)
    # output_write_init
    out.write(MAGIC + b"7\0" + bytes([0, 8]) + _U32.pack(meta.page_size))
    out.write(_cstr(compress.name) + _cstr(compress.version) if compress else b"none\0\0")
    out.options_start = out.tell()
    out.write(_U64.pack(0))
    # tracecmd_output_write_headers
    out.section(OPTION_HEADER_INFO, "headers", _header_info(meta))
    out.section(OPTION_FTRACE_EVENTS, "ftrace events", _ftrace_events(meta))
    out.section(OPTION_EVENT_FORMATS, "events format", _event_formats(meta))
    out.section(OPTION_KALLSYMS, "kallsyms", _U32.pack(len(meta.kallsyms)) + meta.kallsyms)
    out.section(OPTION_PRINTK, "printk", _U32.pack(len(meta.printk)) + meta.printk)
    for option in meta.options:
        out.add_option(*option)
    # tracecmd_write_cmdlines (save_tracing_file_data: u64 size)
    out.section(OPTION_CMDLINES, "command lines", _U64.pack(len(meta.cmdlines)) + meta.cmdlines)
    out.add_option(OPTION_CPUCOUNT, _U32.pack(len(cpu_pages)))
    out.write_options()
    # out_write_cpu_data
    data_offs = out.tell()
    at, compressed = out.section_header(OPTION_BUFFER, "buffer flyrecord ", True, False)
    cpus: List[Tuple[int, int, int]] = []
    for cpu, pages in enumerate(cpu_pages):
        offset = _pad_to(out, meta.page_size)
        if not pages:
            continue
        if compressed:
            assert compress is not None
            # tracecmd_compress_copy_from: u32 chunk count, then (u32 csize, u32 size, data);
            # the size it reports leaves out the count
            out.write(_U32.pack((len(pages) + PAGES_IN_CHUNK - 1) // PAGES_IN_CHUNK))
            written = 0
            for i in range(0, len(pages), PAGES_IN_CHUNK):
                chunk = b"".join(pages[i:i + PAGES_IN_CHUNK])
                z = compress.compress(chunk)
                out.write(_U32.pack(len(z)) + _U32.pack(len(chunk)) + z)
                written += 8 + len(z)
        else:
            written = 0
            for page in pages:
                out.write(page)
                written += len(page)
        cpus.append((cpu, offset, written))
    # out_add_buffer_option: only CPUs with data are listed
    buf = [_U64.pack(data_offs), _cstr(""), _cstr(meta.clock), _U32.pack(meta.page_size),
           _U32.pack(len(cpus))]
    buf += [_U32.pack(cpu) + _U64.pack(offset) + _U64.pack(size) for cpu, offset, size in cpus]
    out.add_option(OPTION_BUFFER, b"".join(buf))
    out.update_section_header(at)
    out.write_options()
    # tracecmd_output_close: save_string_section
    at, compressed = out.section_header(OPTION_STRINGS, "strings", True, False)
    strings = bytes(out.strings)
    if compressed:
        assert compress is not None
        z = compress.compress(strings)
        out.write(_U32.pack(len(z)) + _U32.pack(len(strings)) + z)
    else:
        out.write(strings)
    out.update_section_header(at)


def _write_v6(f: BinaryIO, meta: _Meta, cpu_pages: Sequence[Sequence[bytes]]) -> None:
    """The version 6 layout: read_header_files ... write_options_v6, out_write_cpu_data."""
    f.write(MAGIC + b"6\0" + bytes([0, 8]) + _U32.pack(meta.page_size))
    f.write(_header_info(meta))
    f.write(_ftrace_events(meta))
    f.write(_event_formats(meta))
    f.write(_U32.pack(len(meta.kallsyms)) + meta.kallsyms)
    f.write(_U32.pack(len(meta.printk)) + meta.printk)
    f.write(_U64.pack(len(meta.cmdlines)) + meta.cmdlines)
    f.write(_U32.pack(len(cpu_pages)))
    f.write(b"options  \0")
    for option_id, data in meta.options + [(OPTION_CPUCOUNT, _U32.pack(len(cpu_pages)))]:
        f.write(_U16.pack(option_id) + _U32.pack(len(data)) + data)
    f.write(_U16.pack(OPTION_DONE))
    f.write(b"flyrecord\0")
    table = f.tell()
    f.write(bytes(16 * len(cpu_pages)))
    clock = f"[{meta.clock}]".encode()
    f.write(_U64.pack(len(clock)) + clock)                      # save_clock
    spans = []
    for pages in cpu_pages:
        offset = _pad_to(f, meta.page_size)
        size = 0
        for page in pages:
            f.write(page)
            size += len(page)
        spans.append((offset, size))
    end = f.tell()
    f.seek(table)
    f.write(b"".join(_U64.pack(o) + _U64.pack(s) for o, s in spans))
    f.seek(end)


def _meta(formats: Any, cmdlines: Mapping[int, str], kallsyms: str, printk: str, clock: str,
          page_size: int, uname: Optional[str], trace_id: int, cpustats: Sequence[CpuStat],
          ftrace_formats: Sequence[str]) -> _Meta:
    from memsim import __version__
    from memsim.tracing.formatfile import format_file, header_event, header_page
    systems: Dict[str, List[bytes]] = {}
    for type_id, decl in formats.items():
        if type_id is None:
            raise TraceError(decl.full_name, "the event has no ID",
                             "give formats whose events all have IDs (a format file's ID: line)")
        systems.setdefault(decl.system, []).append(format_file(decl, type_id).encode())
    hp = formats.header_page if getattr(formats, "header_page", None) else \
        header_page(page_size=page_size)
    he = formats.header_event if getattr(formats, "header_event", None) else header_event()
    lines = "".join(f"{pid} {comm}\n" for pid, comm in sorted(cmdlines.items()) if pid > 0)
    ns_clock = clock in ("local", "global", "perf", "mono", "mono_raw", "boot", "tai")
    options = [
        (OPTION_TRACECLOCK, _cstr(_clock_list(clock))),
        (OPTION_UNAME, _cstr(uname or "Linux memsim x86_64")),
        (OPTION_VERSION, _cstr(f"memsim {__version__}")),
        (OPTION_TRACEID, _U64.pack(trace_id)),
    ]
    options += [(OPTION_CPUSTAT, _cstr(st.text(cpu, ns_clock))) for cpu, st in enumerate(cpustats)]
    return _Meta(page_size=page_size, header_page=hp.encode(), header_event=he.encode(),
                 ftrace_formats=[t.encode() for t in ftrace_formats],
                 systems=list(systems.items()), kallsyms=kallsyms.encode(),
                 printk=printk.encode(), cmdlines=lines.encode(), options=options, clock=clock)


def _check(version: int, compression: str, page_size: int,
           cpu_pages: Sequence[Sequence[bytes]], where: str) -> None:
    if version not in FILE_VERSIONS:
        raise UsageError(where, f"trace.dat version {version} is not supported",
                         "write version 7 (the default) or 6")
    if compression not in COMPRESSIONS:
        raise UsageError(where, f"unknown compression {compression!r}",
                         f"use one of {', '.join(COMPRESSIONS)}")
    if version == 6 and compression != "none":
        raise UsageError(where, f"a version 6 trace.dat cannot be compressed ({compression})",
                         "use compression 'none', or version 7 for a compressed file")
    if page_size < 64 or page_size & (page_size - 1):
        raise UsageError(where, f"page size {page_size} is not a power of two",
                         "use the ring buffer's sub-buffer size, 4096")
    for cpu, pages in enumerate(cpu_pages):
        if isinstance(pages, PageFile):
            if pages.page_size != page_size:
                raise TraceError(where, f"cpu {cpu} has {pages.page_size}-byte pages, "
                                 f"not {page_size}", "give whole sub-buffer pages")
            continue
        for i, page in enumerate(pages):
            if len(page) != page_size:
                raise TraceError(where, f"cpu {cpu} page {i} has {len(page)} bytes, "
                                 f"not {page_size}", "give whole sub-buffer pages (see pack_pages)")


def dump_trace_dat(f: BinaryIO, *, formats: Any, cpu_pages: Sequence[Sequence[bytes]],
                   cmdlines: Mapping[int, str], kallsyms: str = "", printk: str = "",
                   version: int = 7, compression: Optional[str] = None, clock: str = "local",
                   page_size: int = 4096, uname: Optional[str] = None,
                   trace_id: Optional[int] = None, cpustats: Optional[Sequence[CpuStat]] = None,
                   ftrace_formats: Sequence[str] = ()) -> None:
    """Write a trace.dat to ``f`` (a seekable binary file, positioned at 0); see
    :func:`write_trace_dat` for the parameters."""
    if compression is None:
        compression = "zstd" if version == 7 else "none"
    name = getattr(f, "name", None)
    _check(version, compression, page_size, cpu_pages,
           name if isinstance(name, str) else "trace.dat")
    if trace_id is None:
        h = hashlib.blake2b(digest_size=8)
        for pages in cpu_pages:
            for page in pages:
                h.update(page)
        trace_id = int.from_bytes(h.digest(), "little")
    if cpustats is None:
        cpustats = [_pages_stat(pages) for pages in cpu_pages]
    elif len(cpustats) != len(cpu_pages):
        raise ValueError(f"{len(cpustats)} cpustats for {len(cpu_pages)} CPUs; give one per CPU")
    meta = _meta(formats, cmdlines, kallsyms, printk, clock, page_size, uname, trace_id,
                 cpustats, ftrace_formats)
    if version == 6:
        _write_v6(f, meta, cpu_pages)
    else:
        _write_v7(f, meta, cpu_pages, _Zstd() if compression == "zstd" else None)


def write_trace_dat(path: str, *, formats: Any, cpu_pages: Sequence[Sequence[bytes]],
                    cmdlines: Mapping[int, str], kallsyms: str = "", printk: str = "",
                    version: int = 7, compression: Optional[str] = None, clock: str = "local",
                    page_size: int = 4096, uname: Optional[str] = None,
                    trace_id: Optional[int] = None, cpustats: Optional[Sequence[CpuStat]] = None,
                    ftrace_formats: Sequence[str] = ()) -> None:
    """Write a trace.dat that ``trace-cmd report`` reads, atomically (a temporary file in the
    same directory, then ``os.replace``), as trace-cmd 3.1.6's ``extract`` would.

    :param formats: a :class:`~memsim.tracing.formats.FormatSet` (or anything whose
        ``items()`` gives ``(ID, EventDecl)``, such as an EventRegistry); every event goes in
        with its ID, grouped by system, with its ``header_page``/``header_event`` (memsim's
        when unset).
    :param cpu_pages: per CPU, its sub-buffer pages (``page_size`` bytes each), oldest first:
        :meth:`memsim.ring.TraceBuffer.subbuffers` or :func:`pack_pages`.
    :param cmdlines: pid -> comm (the ``saved_cmdlines`` trace-cmd resolves pids with).
    :param kallsyms: ``/proc/kallsyms`` text (memsim's:
        :func:`memsim.tracing.kallsyms.kallsyms_text`).
    :param printk: ``printk_formats`` text.
    :param version: 7 (sections, optionally compressed) or 6 (always uncompressed).
    :param compression: ``zstd`` or ``none``; by default zstd for version 7, none for 6.
        Compressing a version 6 file is a :class:`UsageError`.
    :param clock: the trace clock (``local`` gives ns time stamps).
    :param uname: the UNAME option (``sysname nodename release machine``).
    :param trace_id: the TRACEID option; by default a hash of the CPU data, so the same trace
        gives the same file.
    :param cpustats: per CPU, its :class:`CpuStat`; by default counted from the pages.
    :param ftrace_formats: format files of the ``ftrace`` system (none by default; trace-cmd
        needs them only for ftrace's own events, such as ``function`` or ``print``).
    """
    _check(version, compression or ("zstd" if version == 7 else "none"), page_size, cpu_pages,
           path)
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise TraceError(path, f"directory {d} does not exist", "create it first")
    try:
        with atomic_write(path, seekable=True) as f:
            dump_trace_dat(f, formats=formats, cpu_pages=cpu_pages, cmdlines=cmdlines,
                           kallsyms=kallsyms, printk=printk, version=version,
                           compression=compression, clock=clock, page_size=page_size,
                           uname=uname, trace_id=trace_id, cpustats=cpustats,
                           ftrace_formats=ftrace_formats)
    except OSError as e:
        raise TraceError(path, f"cannot write the trace: {e.strerror}",
                         "check the path, its permissions and free space") from None


def write_buffer_trace_dat(path: str, tb: Any, registry: Any, comms: Mapping[int, str], *,
                           profile_name: str = "v6.18", version: int = 7,
                           compression: Optional[str] = None,
                           cpu_pages: Optional[Sequence[Sequence[bytes]]] = None) -> None:
    """Write what a memsim ring buffer holds as a trace.dat, like ``trace-cmd extract``:

    * ``tb``: the :class:`memsim.ring.TraceBuffer` (its pages, its per-CPU stats);
    * ``registry``: the :class:`~memsim.tracing.events.EventRegistry`; every registered event's
      format goes in, enabled or not, as ``trace-cmd extract`` stores all of tracefs's;
    * ``comms``: pid -> comm of the machine's tasks;
    * ``profile_name``: the kernel profile (header_page's ``char data`` signedness, UNAME);
    * ``cpu_pages``: the pages of each CPU when they are not (all) in ``tb`` any more: what
      ``trace-cmd record`` read from a streaming buffer as it filled (:class:`PageFile` s,
      :class:`memsim.tracing.recorder.TraceRecorder`).
    """
    from memsim.tracing.formatfile import header_page
    from memsim.tracing.formats import FormatSet
    from memsim.tracing.kallsyms import kallsyms_text
    formats = FormatSet.from_registry(registry)
    formats.header_page = header_page(profile_name)
    release = ".".join(profile_name.lstrip("v").split(".")[:2]) + ".0-memsim"
    if cpu_pages is None:
        cpu_pages = [tb.subbuffers(cpu) for cpu in range(tb.ncpus)]
    write_trace_dat(path, formats=formats, cpu_pages=cpu_pages, cmdlines=comms,
                    kallsyms=kallsyms_text(), version=version, compression=compression,
                    uname=f"Linux memsim {release} x86_64",
                    cpustats=buffer_cpu_stats(tb, cpu_pages))
