"""trace-cmd's ``trace.dat``, versions 6 and 7, read as :class:`~memsim.tracing.record.Record`\\ s.

Models trace-cmd 3.1.6's lib/trace-cmd/trace-input.c (``tracecmd_read_headers``,
``handle_options``, ``read_cpu_data``/``init_cpu_data``, ``tracecmd_peek_next_data``) and
trace-cmd.dat.v6(5)/v7(5), corrected by FORMAT-NOTES 7-8 where the files disagree with the man
pages (a v7 section size is a u64; the BUFFER option carries a u32 sub-buffer size).

* version 6: the headers follow one another (header_page/header_event, ftrace formats, event
  formats, kallsyms, printk formats, cmdlines, CPU count, options, ``flyrecord``) and the per-CPU
  data is raw ring-buffer pages;
* version 7: everything lives in sections (``u16 id, u16 flags, u32 description, u64 size``,
  zstd-compressed when flags bit 0 is set); a chain of OPTIONS sections points at them, and a
  BUFFER option gives the per-CPU data, stored as compressed chunks (``u32 count``, then
  ``u32 compressed size, u32 uncompressed size, bytes`` each) or as raw pages.

The file is memory-mapped (or, for a pipe or a compressed file, read into memory by
:func:`memsim.tracing.reader.open_trace`); the pages are decoded one block at a time by the
Cython core (:mod:`memsim.tracing._flyrecord`), so memory stays flat on a multi-gigabyte trace.
Records come out in ``trace-cmd report`` order.  Damage (a truncated file, a lost section, a bad
record header) is reported as a :class:`~memsim.tracing.record.Problem` and skipped, or raised as
a :class:`~memsim.errors.TraceError` in strict mode; nothing in a file causes a traceback.
"""
from __future__ import annotations

import bisect
import mmap
import os
import re
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

from memsim.errors import TraceError
from memsim.tracing.columns import Columns, EventTable
from memsim.tracing.formats import FormatSet, default_formats, parse_format
from memsim.tracing.reader import DAT_MAGIC, TraceReader, open_file
from memsim.tracing.record import Record, new_meta
from memsim.tracing.text import irq_info

# trace-cmd.h enum tracecmd_option_id
OPT_DONE, OPT_DATE, OPT_CPUSTAT, OPT_BUFFER, OPT_TRACECLOCK, OPT_UNAME = 0, 1, 2, 3, 4, 5
OPT_OFFSET, OPT_CPUCOUNT, OPT_VERSION, OPT_TRACEID, OPT_TSC2NSEC = 7, 8, 9, 11, 14
OPT_BUFFER_TEXT = 22
# v7 section ids (options 16-21 hold the offset of the section with the same id)
SEC_OPTIONS, SEC_FLYRECORD = 0, 3
SEC_HEADER_INFO, SEC_FTRACE_EVENTS, SEC_EVENT_FORMATS = 16, 17, 18
SEC_KALLSYMS, SEC_PRINTK, SEC_CMDLINES = 19, 20, 21
SECTION_NAMES = {SEC_HEADER_INFO: "header_page/header_event", SEC_FTRACE_EVENTS: "ftrace formats",
                 SEC_EVENT_FORMATS: "event formats", SEC_KALLSYMS: "kallsyms",
                 SEC_PRINTK: "printk formats", SEC_CMDLINES: "saved cmdlines"}
# FK_* of _flyrecord.pyx
FK_UINT, FK_SINT, FK_CHARS, FK_LOC_STR, FK_REL_STR = 0, 1, 2, 3, 4
FK_ARRAY, FK_LOC_ARRAY, FK_REL_ARRAY, FK_RAW = 5, 6, 7, 8

BLOCK_PAGES = 256               # raw pages handed to the decoder at a time (1 MiB of 4 KiB pages)
RECORDS_CHUNK = 4096
NS_CLOCKS = ("local", "global", "perf", "mono", "mono_raw", "boot", "tai")
MAX_SECTION = 1 << 31           # larger "sizes" of metadata are damage, not data


class _Short(Exception):
    """A read past the end of the data (truncation or a bad size): ``where`` and what."""

    def __init__(self, at: int, what: str):
        super().__init__(at, what)
        self.at = at
        self.what = what


class _Cur:
    """A bounds-checked cursor over ``data[pos:end]`` in the file's byte order."""

    __slots__ = ("data", "pos", "end", "e", "base")

    def __init__(self, data, pos: int, end: int, big: bool, base: int = 0):
        self.data = data
        self.pos = pos
        self.end = min(end, len(data))
        self.e = ">" if big else "<"
        self.base = base            # file offset of data[0] (decompressed sections: the section)

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Short(self.base + self.pos, what)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def int(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "big" if self.e == ">" else "little")

    def cstr(self, what: str, limit: int = 4096) -> str:
        data = self.data
        stop = min(self.end, self.pos + limit)
        i = data.find(b"\0", self.pos, stop)
        if i < 0:
            raise _Short(self.base + self.pos, what)
        s = bytes(data[self.pos:i]).decode("utf-8", "replace")
        self.pos = i + 1
        return s

    def text(self, n: int, what: str) -> str:
        return self.take(n, what).decode("utf-8", "replace")


def field_kind(ctype: str, size: int, signed: bool) -> Tuple[int, int]:
    """(FK_* kind, element size) of a format-file field."""
    from memsim.tracing.printfmt import PrintFmtError, ctype_from_words

    def elem_of(words: str) -> Tuple[bool, int]:
        w = words.replace("const ", "").split()
        is_char = bool(w) and w[-1] == "char"
        try:
            bits = ctype_from_words(w).bits if w else 8
        except (PrintFmtError, ValueError, IndexError):
            bits = 8
        return is_char, max(1, bits // 8)

    for prefix, str_kind, arr_kind in (("__data_loc", FK_LOC_STR, FK_LOC_ARRAY),
                                       ("__rel_loc", FK_REL_STR, FK_REL_ARRAY)):
        if ctype.startswith(prefix):
            is_char, elem = elem_of(ctype[len(prefix):].split("[")[0])
            return (str_kind, 1) if is_char else (arr_kind, elem if elem in (1, 2, 4, 8) else 1)
    if "[" in ctype:
        base = ctype[:ctype.index("[")]
        is_char, elem = elem_of(base)
        if is_char:
            return FK_CHARS, 1
        m = re.search(r"\[(\d+)\]", ctype)
        n = int(m.group(1)) if m else 0
        if n > 0 and size % n == 0 and size // n in (1, 2, 4, 8):
            elem = size // n
        if elem not in (1, 2, 4, 8) or size % elem:
            return FK_CHARS, 1
        return FK_ARRAY, elem
    if size in (1, 2, 4, 8):
        return (FK_SINT if signed else FK_UINT), size
    return FK_RAW, 2 if signed else 1


class FileKallsyms:
    """The file's /proc/kallsyms, for ``%pS`` (``lookup(addr) -> (name, offset, size)``)."""

    def __init__(self, text: str):
        pairs = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            try:
                addr = int(parts[0], 16)
            except ValueError:
                continue
            pairs.append((addr, parts[2]))
        pairs.sort()
        self._starts = [a for a, _ in pairs]
        self._names = [n for _, n in pairs]
        self._by_name = {n: a for a, n in pairs}

    def __len__(self) -> int:
        return len(self._starts)

    def lookup(self, addr: int) -> Optional[Tuple[str, int, int]]:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start = self._starts[i]
        j = i + 1
        while j < len(self._starts) and self._starts[j] == start:
            j += 1
        if j == len(self._starts):           # the last symbol holds only its own address
            return (self._names[i], 0, 0) if addr == start else None
        size = self._starts[j] - start
        if addr - start >= size:
            return None
        return self._names[i], addr - start, size

    def symbol_addr(self, name: str) -> Optional[int]:
        return self._by_name.get(name)


class DatReader(TraceReader):
    """A trace.dat file (or its bytes) as records.

    ``formats`` are consulted only for events the file does not describe; ``registry`` (memsim's
    events) only when the file has no event formats at all.  :attr:`formats` holds the file's
    formats with the file's IDs, :attr:`kallsyms_text` its kallsyms.

    :attr:`meta` follows the schema of :mod:`memsim.tracing.record` (``format`` ``"trace.dat"``,
    ``dialect`` None, ``clock`` from the TRACECLOCK option or the buffer, ``entries`` and
    ``entries_written`` from the CPUSTAT options, ``flags_width`` 4 for kernels before 5.15 by
    ``uname``, else 5, ``tgid`` False, ``lost`` from the pages with missed events once the
    records are read), plus what the headers say: ``version``, ``compression``,
    ``compression_version``, ``endian``, ``long_size``, ``page_size``, ``uname``,
    ``tracecmd_version``, ``cpustat`` (the CPUSTAT texts), ``trace_id``, ``ts_offset``,
    ``buffers``/``buffer`` (the instance buffers and the one read), ``cpu_data_size``, and after
    a read ``missed_events``/``missed_pages`` per CPU (-1 events: the count is unknown) and
    ``nrecords``.
    """

    kind = "trace.dat"

    def __init__(self, path: str, *, data: Optional[bytes] = None, formats: Optional[FormatSet] = None,
                 strict: bool = False, registry=None):
        super().__init__(path, formats=FormatSet(), strict=strict)
        self._caller_formats = formats
        self._registry = registry
        self._file = None
        self._mm: Optional[mmap.mmap] = None
        if data is None:
            self._file = open_file(path)
            size = os.fstat(self._file.fileno()).st_size
            if size:
                self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
                self._data = self._mm
            else:
                self._data = b""
        else:
            self._data = data
        self.size = len(self._data)
        self.meta = self._meta_defaults()
        self.comms: Dict[int, str] = {}
        self.printk: Dict[int, str] = {}
        self._kallsyms_text: Optional[str] = None
        self._kallsyms: Optional[FileKallsyms] = None
        self._cpus: List[Tuple[int, int, int]] = []       # (cpu, offset, size) of the data
        self._compressed_data = False
        self._layouts: Optional[list] = None
        self._zstd = None
        self._big = False
        self._long = 8
        self._hdr_long = 8
        try:
            try:
                self._read_headers()
            except (ValueError, KeyError, IndexError, OverflowError, struct.error) as e:
                # a safety net: every damage should have been reported where it was found
                self.problem(self.name, f"the headers cannot be read ({e}); no records")
                self._cpus = []
        except TraceError:
            self.close()
            raise
        self._open_problems = (list(self.problems), self.nproblems)

    # -- meta ------------------------------------------------------------------------------
    @staticmethod
    def _meta_defaults() -> Dict[str, Any]:
        return new_meta("trace.dat", clock="local", flags_width=5, version=None,
                        compression="none", compression_version="", endian="little",
                        long_size=8, page_size=4096, uname=None, tracecmd_version=None,
                        cpustat=[], trace_id=None, ts_offset=0, buffers=[], buffer="",
                        cpu_data_size={}, missed_events={}, missed_pages={})

    def _problem_at(self, offset: int, problem: str) -> None:
        self.problem(f"{self.name}: offset {offset}", problem)

    # -- headers ---------------------------------------------------------------------------
    def _read_headers(self) -> None:
        d = self._data
        if bytes(d[:3]) != DAT_MAGIC[:3] or bytes(d[3:10]) != b"tracing":
            what = "is not a trace.dat file (no '\\x17\\x08Dtracing' magic)" if len(d) >= 10 else \
                f"is only {len(d)} bytes, too short for a trace.dat header"
            self.problem(self.name, what)
            return
        c = _Cur(d, 10, len(d), False)
        try:
            version = c.cstr("the version string", 16)
            endian = c.int(1, "the endianness byte")
            long_size = c.int(1, "the long size byte")
            self._big = endian == 1
            c.e = ">" if self._big else "<"
            page_size = c.int(4, "the page size")
        except _Short as e:
            self._problem_at(e.at, f"the file ends inside the initial header ({e.what})")
            return
        m = self.meta
        m["endian"] = "big" if self._big else "little"
        m["long_size"] = long_size
        if endian not in (0, 1):
            self._problem_at(12, f"endianness byte is {endian}, expected 0 (little) or 1 (big)")
        if not version.isdigit() or int(version) not in (6, 7):
            self._problem_at(10, f"trace.dat version {version!r} is not supported "
                                 f"(memsim reads versions 6 and 7)")
            return
        m["version"] = int(version)
        if page_size < 64 or page_size > (1 << 26) or page_size % 4:
            self._problem_at(c.pos - 4, f"page size {page_size} is not a plausible sub-buffer size")
            return
        m["page_size"] = page_size
        if m["version"] == 6:
            self._read_v6(c)
        else:
            self._read_v7(c)
        self._finish_formats()
        self._finish_meta()

    def _read_header_info(self, c: _Cur) -> None:
        for want in ("header_page", "header_event"):
            name = c.cstr(f"the {want} name", 64)
            if name != want:
                raise _Short(c.base + c.pos, f"expected {want!r}, found {name!r}")
            size = c.int(8, f"the {want} size")
            text = c.text(size, want)
            setattr(self.formats, want, text)
        # the kernel's long size is the size of header_page's commit field
        m = re.search(r"field:\s*local_t\s+commit;\s*offset:\d+;\s*size:(\d+);",
                      self.formats.header_page or "")
        if m and int(m.group(1)) in (4, 8):
            self._hdr_long = int(m.group(1))

    def _read_ftrace_formats(self, c: _Cur) -> None:
        count = c.int(4, "the ftrace format count")
        for i in range(count):
            size = c.int(8, f"the size of ftrace format {i}")
            self._add_format(c.text(size, f"ftrace format {i}"), "ftrace",
                             f"{self.name}: ftrace format {i}")

    def _read_event_formats(self, c: _Cur) -> None:
        nsys = c.int(4, "the event system count")
        for s in range(nsys):
            system = c.cstr(f"the name of event system {s}", 256)
            count = c.int(4, f"the event count of system {system}")
            for i in range(count):
                size = c.int(8, f"the size of {system} format {i}")
                self._add_format(c.text(size, f"{system} format {i}"), system,
                                 f"{self.name}: {system} format {i}")

    def _add_format(self, text: str, system: str, where: str) -> None:
        try:
            type_id, decl = parse_format(text, system, where)
        except TraceError as e:
            self.problem(str(e.where), f"{e.problem}; event skipped")
            return
        except ValueError as e:                 # EventDecl: overlapping or duplicate fields
            self.problem(where, f"{e}; event skipped")
            return
        self.formats.add(decl, type_id)

    def _read_kallsyms(self, c: _Cur) -> None:
        size = c.int(4, "the kallsyms size")
        self._kallsyms_text = c.text(size, "kallsyms")

    def _read_printk(self, c: _Cur) -> None:
        size = c.int(4, "the printk formats size")
        text = c.text(size, "printk formats")
        for line in text.splitlines():
            addr, sep, fmt = line.partition(" : ")
            if not sep:
                continue
            try:
                self.printk[int(addr, 16)] = fmt.strip().strip('"')
            except ValueError:
                continue

    def _read_cmdlines(self, c: _Cur) -> None:
        size = c.int(8, "the cmdlines size")
        text = c.text(size, "saved cmdlines")
        for line in text.splitlines():
            pid, _, comm = line.partition(" ")
            try:
                self.comms[int(pid)] = comm
            except ValueError:
                continue

    def _section(self, what: str, fn, c: _Cur) -> bool:
        try:
            fn(c)
            return True
        except _Short as e:
            end = f"file ends at byte {self.size}" if e.at >= self.size else "section damaged"
            self._problem_at(e.at, f"the {what} are cut off ({e.what}; {end}); "
                                   f"the rest of them is skipped")
            return False

    # -- version 6 -------------------------------------------------------------------------
    def _read_v6(self, c: _Cur) -> None:
        steps = (("header_page/header_event", self._read_header_info),
                 ("ftrace formats", self._read_ftrace_formats),
                 ("event formats", self._read_event_formats),
                 ("kallsyms", self._read_kallsyms),
                 ("printk formats", self._read_printk),
                 ("saved cmdlines", self._read_cmdlines))
        for i, (what, fn) in enumerate(steps):
            if not self._section(what, fn, c):
                missing = [w for w, _ in steps[i + 1:]] + ["CPU data"]
                self._problem_at(c.pos, f"not read: {', '.join(missing)}")
                return
        try:
            ncpus = c.int(4, "the CPU count")
            self.meta["ncpus"] = ncpus
            tag = c.take(10, "the options/flyrecord tag")
            if tag == b"options  \0":
                self._read_options(c, v6=True)
                tag = c.take(10, "the flyrecord tag")
            if tag == b"latency  \0":
                self._problem_at(c.pos - 10, "this is a latency-tracer trace (plain text after the "
                                             "headers), not ring-buffer records; nothing to decode")
                return
            if tag != b"flyrecord\0":
                self._problem_at(c.pos - 10, f"expected 'flyrecord', found {tag!r}; "
                                             f"no CPU data can be read")
                return
            if ncpus > 4096:
                self._problem_at(c.pos, f"{ncpus} CPUs is not plausible; no CPU data read")
                return
            for cpu in range(ncpus):
                off = c.int(8, f"the data offset of cpu {cpu}")
                size = c.int(8, f"the data size of cpu {cpu}")
                self._cpus.append((cpu, off, size))
        except _Short as e:
            self._problem_at(e.at, f"the file ends inside the option/flyrecord headers "
                                   f"({e.what}); no CPU data can be read")
            return
        self._check_raw_cpus()

    # -- options (both versions) -----------------------------------------------------------
    def _read_options(self, c: _Cur, v6: bool, sections: Optional[Dict[int, int]] = None,
                      buffers: Optional[list] = None) -> int:
        """Options until DONE; returns the next options offset (v7) or 0."""
        m = self.meta
        while True:
            opt = c.int(2, "an option id")
            if opt == OPT_DONE and v6:
                return 0
            size = c.int(4, f"the size of option {opt}")
            body = c.take(size, f"option {opt} ({size} bytes)")
            oc = _Cur(body, 0, len(body), self._big)
            try:
                if opt == OPT_DONE:
                    return oc.int(8, "the next options offset") if size >= 8 else 0
                if opt == OPT_CPUSTAT:
                    m["cpustat"].append(body.rstrip(b"\0").decode("utf-8", "replace"))
                elif opt == OPT_TRACECLOCK:
                    text = body.rstrip(b"\0").decode("utf-8", "replace")
                    sel = re.search(r"\[(\S+)\]", text)
                    m["clock"] = sel.group(1) if sel else (text.split() or ["local"])[0]
                elif opt == OPT_UNAME:
                    m["uname"] = body.rstrip(b"\0").decode("utf-8", "replace").strip()
                elif opt == OPT_VERSION:
                    m["tracecmd_version"] = body.rstrip(b"\0").decode("utf-8", "replace").strip()
                elif opt == OPT_CPUCOUNT:
                    m["ncpus"] = oc.int(4, "the CPU count")
                elif opt == OPT_TRACEID:
                    m["trace_id"] = oc.int(8, "the trace id")
                elif opt == OPT_OFFSET:
                    v = oc.int(8, "the time offset")
                    m["ts_offset"] = v - (1 << 64) if v >> 63 else v
                elif opt == OPT_TSC2NSEC:
                    m["tsc2nsec"] = True
                elif opt == OPT_BUFFER:
                    self._read_buffer_option(oc, v6, buffers)
                elif opt == OPT_BUFFER_TEXT:
                    m["buffers"].append(oc.cstr("a text buffer name") if size > 8 else "")
                elif sections is not None and 16 <= opt <= 21 and size >= 8:
                    sections[opt] = oc.int(8, f"the offset of section {opt}")
            except _Short as e:
                self._problem_at(c.pos - size, f"option {opt} of {size} bytes is damaged "
                                               f"({e.what}); option skipped")

    def _read_buffer_option(self, oc: _Cur, v6: bool, buffers: Optional[list]) -> None:
        off = oc.int(8, "the buffer offset")
        name = oc.cstr("the buffer name")
        self.meta["buffers"].append(name)
        if v6 or buffers is None:
            return              # v6 instance buffers are not decoded (see meta["buffers"])
        clock = oc.cstr("the buffer clock")
        page_size = oc.int(4, "the buffer page size")
        ncpus = oc.int(4, "the buffer CPU count")
        cpus = []
        for _ in range(min(ncpus, 4096)):
            cpu = oc.int(4, "a CPU id")
            coff = oc.int(8, f"the data offset of cpu {cpu}")
            csize = oc.int(8, f"the data size of cpu {cpu}")
            cpus.append((cpu, coff, csize))
        buffers.append((name, off, clock, page_size, cpus))

    # -- version 7 -------------------------------------------------------------------------
    def _read_v7(self, c: _Cur) -> None:
        m = self.meta
        try:
            comp = c.cstr("the compression name", 64)
            comp_ver = c.cstr("the compression version", 64)
            first_opts = c.int(8, "the first options offset")
        except _Short as e:
            self._problem_at(e.at, f"the file ends inside the initial header ({e.what})")
            return
        m["compression"], m["compression_version"] = comp or "none", comp_ver
        if comp not in ("none", "", "zstd"):
            self._problem_at(c.pos, f"compression {comp!r} is not supported (memsim reads "
                                    f"zstd and none); sections and CPU data cannot be read")
            return
        if comp == "zstd":
            import zstandard
            self._zstd = zstandard.ZstdDecompressor()
        first_section = c.pos
        sections: Dict[int, int] = {}
        buffers: list = []
        seen = set()
        off = first_opts
        while off and off not in seen and len(seen) < 64:
            seen.add(off)
            sec = self._v7_section(off, "an options section")
            if sec is None:
                break
            sid, body, base = sec
            if sid != SEC_OPTIONS:
                self._problem_at(off, f"section {sid} where the options chain expects options")
                break
            try:
                off = self._read_options(_Cur(body, 0, len(body), self._big, base), False,
                                         sections, buffers)
            except _Short as e:
                self._problem_at(e.at, f"an options section is cut off ({e.what})")
                break
        want = set(SECTION_NAMES)
        if not want <= set(sections) or not buffers:
            self._walk_sections(first_section, sections, buffers, seen)
        readers = {SEC_HEADER_INFO: self._read_header_info,
                   SEC_FTRACE_EVENTS: self._read_ftrace_formats,
                   SEC_EVENT_FORMATS: self._read_event_formats, SEC_KALLSYMS: self._read_kallsyms,
                   SEC_PRINTK: self._read_printk, SEC_CMDLINES: self._read_cmdlines}
        for sid in sorted(SECTION_NAMES):
            what = SECTION_NAMES[sid]
            if sid not in sections:
                self.problem(self.name, f"the {what} section is missing (file ends at byte "
                                        f"{self.size}); {self._consequence(sid)}")
                continue
            sec = self._v7_section(sections[sid], f"the {what} section")
            if sec is None:
                continue
            _, body, base = sec
            self._section(what, readers[sid], _Cur(body, 0, len(body), self._big, base))
        self._choose_buffer(buffers)
        if not self.nproblems:
            self._check_sections(first_section)

    @staticmethod
    def _consequence(sid: int) -> str:
        return {SEC_HEADER_INFO: "assuming the standard page header",
                SEC_FTRACE_EVENTS: "ftrace events cannot be decoded",
                SEC_EVENT_FORMATS: "using memsim's own formats",
                SEC_KALLSYMS: "%pS prints raw addresses",
                SEC_PRINTK: "printk strings are not resolved",
                SEC_CMDLINES: "comms print as <...>"}[sid]

    def _v7_section(self, off: int, what: str):
        """(id, body bytes, file offset of the body) of the section at ``off``, or None."""
        c = _Cur(self._data, off, self.size, self._big)
        try:
            sid = c.int(2, f"the id of {what}")
            flags = c.int(2, f"the flags of {what}")
            c.int(4, f"the description of {what}")
            size = c.int(8, f"the size of {what}")
            if size > MAX_SECTION:
                self._problem_at(off, f"{what} claims {size} bytes; section skipped")
                return None
            if sid == SEC_FLYRECORD:
                return sid, None, c.pos
            if flags & 1:
                if self._zstd is None:
                    self._problem_at(off, f"{what} is compressed but the file names no "
                                          f"compression; section skipped")
                    return None
                csize = c.int(4, f"the compressed size of {what}")
                usize = c.int(4, f"the uncompressed size of {what}")
                raw = c.take(csize, f"{what} ({csize} compressed bytes)")
                try:
                    body = self._unzstd(raw)
                except Exception as e:          # zstandard.ZstdError and friends
                    self._problem_at(off, f"{what} does not decompress ({e}); section skipped")
                    return None
                if len(body) != usize:
                    self._problem_at(off, f"{what} decompresses to {len(body)} bytes, not "
                                          f"{usize}; section skipped")
                    return None
                return sid, body, off
            body = c.take(size, f"{what} ({size} bytes)")
            return sid, body, c.pos - size
        except _Short as e:
            self._problem_at(e.at, f"{what} is cut off or damaged ({e.what}; file ends at "
                                   f"byte {self.size}); section skipped")
            return None

    def _unzstd(self, raw: bytes) -> bytes:
        """Decompress one zstd block (trace-cmd writes frames without a content size)."""
        return self._zstd.decompressobj().decompress(raw)

    def _check_sections(self, off: int) -> None:
        """Walk the sections one after the other to the end of the file, so that a file cut
        inside one that is never read (the STRINGS section at the end) is reported too."""
        for _ in range(4096):
            if off == self.size:
                return
            if off + 16 > self.size:
                self._problem_at(off, f"the file ends inside a section header (file ends at "
                                      f"byte {self.size})")
                return
            c = _Cur(self._data, off, self.size, self._big)
            sid = c.int(2, "id")
            c.int(2, "flags")
            c.int(4, "description")
            size = c.int(8, "size")
            if sid > 64:
                return                                  # not contiguous sections: stop looking
            if off + 16 + size > self.size:
                self._problem_at(off, f"section {sid} of {size} bytes is cut off (file ends at "
                                      f"byte {self.size})")
                return
            off += 16 + size

    def _walk_sections(self, off: int, sections: Dict[int, int], buffers: list, seen: set) -> None:
        """Find sections by walking them one after the other (trace-cmd writes them
        contiguously): used when the options chain is broken, e.g. by truncation."""
        flyrecords = []
        for _ in range(4096):
            if off + 16 > self.size:
                break
            c = _Cur(self._data, off, self.size, self._big)
            sid, _flags = c.int(2, "id"), c.int(2, "flags")
            c.int(4, "description")
            size = c.int(8, "size")
            if sid > 64 or size > self.size:
                break
            if 16 <= sid <= 21:
                sections.setdefault(sid, off)
            elif sid == SEC_OPTIONS and off not in seen:
                seen.add(off)
                sec = self._v7_section(off, "an options section")
                if sec is not None:
                    try:
                        self._read_options(_Cur(sec[1], 0, len(sec[1]), self._big, sec[2]),
                                           False, sections, buffers)
                    except _Short as e:
                        self._problem_at(e.at, f"an options section is cut off ({e.what})")
            elif sid == SEC_FLYRECORD:
                flyrecords.append((off, off + 16 + size, _flags))
            off += 16 + size
        if not buffers and flyrecords:
            self._recover_buffer(flyrecords[0], buffers)

    def _recover_buffer(self, fly: Tuple[int, int, int], buffers: list) -> None:
        """The BUFFER option (written after the data) is lost: find the per-CPU compressed data
        by walking its chunks; each CPU's data starts on a page boundary."""
        start, end, flags = fly
        page = self.meta["page_size"]
        ncpus = self.meta["ncpus"] or 0
        if not flags & 1 or self._zstd is None or not ncpus:
            self.problem(self.name, "the BUFFER option with the per-CPU data offsets is missing "
                                    "(file ends at byte %d); the CPU data cannot be assigned to "
                                    "CPUs" % self.size)
            return
        cpus = []
        off = (start + 16 + page - 1) // page * page
        end = min(end, self.size)
        for cpu in range(ncpus):
            if off + 4 > end:
                break
            c = _Cur(self._data, off, end, self._big)
            count = c.int(4, "chunk count")
            if count > (1 << 24):
                break
            p = c.pos
            for _ in range(count):
                if p + 8 > end:
                    p = end
                    break
                cs = int.from_bytes(self._data[p:p + 4], "big" if self._big else "little")
                p += 8 + cs
            cpus.append((cpu, off, min(p, end) - off - 4))
            off = (min(p, end) + page - 1) // page * page
        self.problem(self.name, "the BUFFER option with the per-CPU data offsets is missing "
                                "(file ends at byte %d); found the data of %d CPU(s) by walking "
                                "the flyrecord section" % (self.size, len(cpus)))
        buffers.append(("", start, self.meta.get("clock", "local"), page, cpus))

    def _choose_buffer(self, buffers: list) -> None:
        if not buffers:
            self.problem(self.name, f"no BUFFER option describes the CPU data (file ends at "
                                    f"byte {self.size}); no records can be read")
            return
        chosen = next((b for b in buffers if b[0] == ""), buffers[0])
        name, off, clock, page_size, cpus = chosen
        self.meta["buffer"] = name
        if clock:
            self.meta["clock"] = clock
        if page_size and page_size != self.meta["page_size"]:
            if 64 <= page_size <= (1 << 26) and page_size % 4 == 0:
                self.meta["page_size"] = page_size
            else:
                self._problem_at(off, f"the buffer's page size {page_size} is not plausible; "
                                      f"using {self.meta['page_size']}")
        if not self.meta["ncpus"]:
            self.meta["ncpus"] = len(cpus)
        self._cpus = cpus
        if self._zstd is not None:
            self._compressed_data = True
            self._check_chunks()
        else:
            self._check_raw_cpus()

    # -- CPU data --------------------------------------------------------------------------
    def _check_raw_cpus(self) -> None:
        page = self.meta["page_size"]
        for cpu, off, size in self._cpus:
            self.meta["cpu_data_size"][cpu] = size
            if not size:
                continue
            total = (size + page - 1) // page
            have = max(0, min(self.size, off + size) - off) // page if off < self.size else 0
            if have < total:
                self.problem(f"{self.name}: cpu {cpu}",
                             f"{total - have} of {total} pages missing (file ends at byte "
                             f"{self.size})")

    def _chunks(self, cpu: int, off: int, size: int, report: bool) -> List[Tuple[int, int, int]]:
        """(offset of the bytes, compressed size, uncompressed size) of one CPU's chunks."""
        out = []
        e = "big" if self._big else "little"
        d = self._data
        if off + 4 > self.size:
            if report:
                self.problem(f"{self.name}: cpu {cpu}", f"all data missing (file ends at byte "
                                                        f"{self.size})")
            return out
        count = int.from_bytes(d[off:off + 4], e)
        p = off + 4
        pages_seen = 0
        page = self.meta["page_size"]
        for i in range(count):
            if p + 8 > self.size:
                cut = i
                break
            cs = int.from_bytes(d[p:p + 4], e)
            us = int.from_bytes(d[p + 4:p + 8], e)
            if p + 8 + cs > self.size:
                cut = i
                break
            if us > (1 << 30) or us % page:
                if report:
                    self._problem_at(p, f"cpu {cpu}: chunk {i} claims {us} uncompressed bytes, "
                                        f"not a whole number of pages; rest of the CPU skipped")
                return out
            out.append((p + 8, cs, us))
            pages_seen += us // page
            p += 8 + cs
        else:
            return out
        if report:
            self.problem(f"{self.name}: cpu {cpu}",
                         f"{count - cut} of {count} compressed chunks missing, "
                         f"{pages_seen} pages read (file ends at byte {self.size})")
        return out

    def _check_chunks(self) -> None:
        for cpu, off, size in self._cpus:
            self.meta["cpu_data_size"][cpu] = size
            if size:
                self._chunks(cpu, off, size, True)

    def _raw_blocks(self, cpu: int, off: int, size: int) -> Iterator[bytes]:
        step = self.meta["page_size"] * BLOCK_PAGES
        end = min(off + size, self.size)
        d = self._data
        while off < end:
            n = min(step, end - off)
            yield d[off:off + n]
            off += n

    def _zstd_blocks(self, cpu: int, off: int, size: int) -> Iterator[bytes]:
        if not size:
            return
        d = self._data
        for i, (p, cs, us) in enumerate(self._chunks(cpu, off, size, False)):
            try:
                block = self._unzstd(d[p:p + cs])
            except Exception as e:
                self._problem_at(p, f"cpu {cpu}: chunk {i} does not decompress ({e}); "
                                    f"rest of the CPU skipped")
                return
            if len(block) != us:
                self._problem_at(p, f"cpu {cpu}: chunk {i} decompresses to {len(block)} bytes, "
                                    f"not {us}; rest of the CPU skipped")
                return
            yield block

    # -- formats and meta ------------------------------------------------------------------
    def _finish_formats(self) -> None:
        if self._caller_formats is not None:
            self.formats.update(self._caller_formats)
        if not len(self.formats) or not any(d.system != "ftrace" for d in self.formats):
            if self.meta["version"] is not None:
                self.formats.update(default_formats(self._registry))

    def _finish_meta(self) -> None:
        m = self.meta
        self._long = self._hdr_long
        m["long_size"] = self._long
        rel = re.match(r"\S+\s+\S+\s+(\d+)\.(\d+)", m["uname"] or "")
        if rel and (int(rel.group(1)), int(rel.group(2))) < (5, 15):
            m["flags_width"] = 4
        read = []
        overrun = 0
        for text in m["cpustat"]:
            r = re.search(r"^read events:\s*(\d+)", text, re.M)
            o = re.search(r"^overrun:\s*(\d+)", text, re.M)
            if r:
                read.append(int(r.group(1)))
            if o:
                overrun += int(o.group(1))
        if read and len(read) == len(m["cpustat"]):
            m["entries"] = sum(read)
            m["entries_written"] = sum(read) + overrun

    @property
    def kallsyms_text(self) -> Optional[str]:
        """The file's kallsyms as stored (``/proc/kallsyms`` lines), or None when it has none."""
        return self._kallsyms_text or None

    @property
    def kallsyms(self) -> Optional[FileKallsyms]:
        """The file's kallsyms (parsed on first use), or None when the file has none."""
        if self._kallsyms is None and self._kallsyms_text:
            self._kallsyms = FileKallsyms(self._kallsyms_text)
        return self._kallsyms

    @property
    def ns_clock(self) -> bool:
        """True when timestamps are nanoseconds (trace-cmd's TRACECMD_FL_IN_USECS)."""
        return self.meta["clock"] in NS_CLOCKS

    # -- decoding --------------------------------------------------------------------------
    def _layouts_list(self) -> list:
        if self._layouts is None:
            from memsim.tracing._flyrecord import EventLayout
            layouts: list = [None] * 65536
            for type_id, decl in self.formats.items():
                if type_id is None or not 0 <= type_id < 65536 or layouts[type_id] is not None:
                    continue
                specs = []
                for f in decl.fields:
                    kind, elem = field_kind(f.ctype, f.size, f.signed)
                    specs.append((f.name, kind, f.offset, f.size, elem))
                layouts[type_id] = EventLayout(type_id, decl.system, decl.name, specs)
            self._layouts = layouts
        return self._layouts

    def _decoder(self):
        from memsim.tracing._flyrecord import FlyDecoder
        self.problems, self.nproblems = list(self._open_problems[0]), self._open_problems[1]
        blocks = self._zstd_blocks if self._compressed_data else self._raw_blocks
        sources = [blocks(cpu, off, size) for cpu, off, size in self._cpus]
        comms = {pid: comm for pid, comm in self.comms.items()}
        comms.setdefault(0, "<idle>")
        return FlyDecoder(sources, [cpu for cpu, _, _ in self._cpus], self._layouts_list(), self,
                          self.name, Record, irq_info, self.meta["flags_width"], comms,
                          self.meta["page_size"], self._long, self._big, self.meta["ts_offset"])

    def _finish(self, dec) -> None:
        lost = []
        for (cpu, _, _), missed, pages in zip(self._cpus, dec.missed, dec.missed_pages):
            if pages:
                self.meta["missed_events"][cpu] = missed
                self.meta["missed_pages"][cpu] = pages
                lost.append((cpu, missed if missed >= 0 else None))
        self.meta["lost"] = lost
        self.meta["nrecords"] = dec.nrecords

    def records(self) -> Iterator[Record]:
        """Every record, in ``trace-cmd report`` order."""
        dec = self._decoder()
        while True:
            chunk = dec.read_records(RECORDS_CHUNK)
            if not chunk:
                break
            yield from chunk
        self._finish(dec)

    def batches(self, size: int = 65536) -> Iterator[Columns]:
        """The records as :class:`Columns` of at most ``size`` events, decoded in Cython straight
        into typed columns (no per-record Python object)."""
        if size <= 0:
            raise ValueError("batch size must be positive")
        dec = self._decoder()
        while True:
            tables, n = dec.read_columns(size)
            if not n:
                break
            yield Columns({name: EventTable(name, cols) for name, cols in tables.items()})
        self._finish(dec)

    def close(self) -> None:
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass
            self._mm = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- memsim's own pages ----------------------------------------------------------------
    @classmethod
    def from_subbuffers(cls, pages_by_cpu, formats: FormatSet, comms=None, *,
                        page_size: int = 4096, flags_width: int = 5, name: str = "<ring buffer>",
                        strict: bool = False) -> "DatReader":
        """A reader over ring-buffer pages already in memory (``TraceBuffer.subbuffers(cpu)``
        of each CPU, or ``trace_pipe_raw`` reads), decoded with the same core."""
        self = cls.__new__(cls)
        TraceReader.__init__(self, name, formats=formats, strict=strict)
        self._data = b""
        self.size = 0
        self._file = self._mm = None
        self.meta = cls._meta_defaults()
        self.meta.update(format="ring buffer", page_size=page_size, ncpus=len(pages_by_cpu),
                         flags_width=flags_width)
        self.comms = dict(comms or {})
        self.printk = {}
        self._kallsyms_text = None
        self._kallsyms = None
        self._layouts = None
        self._zstd = None
        self._big = False
        self._long = 8
        self._compressed_data = False
        blocks = [b"".join(bytes(p) for p in pages) for pages in pages_by_cpu]
        self._cpus = [(cpu, 0, len(b)) for cpu, b in enumerate(blocks)]
        self._mem_blocks = blocks
        self._raw_blocks = lambda cpu, off, size: iter([self._mem_blocks[cpu]] if size else [])
        self._open_problems = ([], 0)
        return self


__all__ = ["DatReader", "FileKallsyms", "field_kind"]
