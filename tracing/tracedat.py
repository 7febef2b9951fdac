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

A file recorded from tracefs instances (``trace-cmd record -B NAME``, ``extract -B NAME``) holds
one buffer per instance next to the top-level one (``tracecmd_buffer_instance_handle``): in
version 7 each has its BUFFER option (name, clock, page size, per-CPU data) and its own flyrecord
section; in version 6 the BUFFER option holds only the offset of the instance's own
``flyrecord`` tag, followed like the top-level one by each CPU's data offset and size and the
``[clock]`` string.  The CPUSTAT options of an instance follow a CPUSTAT that says
``Buffer: NAME``.  Every buffer is read, merged in ``trace-cmd report`` order, and each record
says which buffer it came from (:attr:`Record.buffer <memsim.tracing.record.Record>`, ``""`` for
the top level); ``buffer=NAME`` reads one.

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

from memsim.errors import TraceError, UsageError
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
    """The file's /proc/kallsyms, for ``%pS`` (``lookup(addr) -> (name, offset, size)``).

    The text (a hundred thousand lines) is parsed on the first :meth:`lookup`; a
    :meth:`symbol_addr` before that (a print fmt naming ``vmemmap_base``) searches the text."""

    def __init__(self, text: str):
        self._text = text
        self._starts: Optional[List[int]] = None

    def _parse(self) -> None:
        pairs = []
        for line in self._text.splitlines():
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
        if self._starts is None:
            self._parse()
        return len(self._starts)

    def lookup(self, addr: int) -> Optional[Tuple[str, int, int]]:
        if self._starts is None:
            self._parse()
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
        if self._starts is not None:
            return self._by_name.get(name)
        # the lines naming it, as _parse reads them: the highest address wins, as in _by_name
        text = self._text
        found = None
        i = text.find(name)
        while i >= 0:
            ls = text.rfind("\n", 0, i) + 1
            le = text.find("\n", i)
            le = len(text) if le < 0 else le
            parts = text[ls:le].split()
            if len(parts) >= 3 and parts[2] == name:
                try:
                    addr = int(parts[0], 16)
                except ValueError:
                    addr = None
                if addr is not None and (found is None or addr > found):
                    found = addr
            i = text.find(name, le)
        return found


TOP = "top"                     # how the command line names the top-level buffer


class DatBuffer:
    """One ring buffer of the file: the top level (``name`` ``""``) or a tracefs instance.

    ``cpus`` is ``(cpu, offset, size)`` of each CPU's data, ``cpustat`` the CPUSTAT texts that
    belong to it, ``offset`` where its flyrecord tag (v6) or section (v7) starts.
    """

    __slots__ = ("name", "offset", "clock", "page_size", "cpus", "cpustat")

    def __init__(self, name: str, offset: int, clock: str, page_size: int,
                 cpus: List[Tuple[int, int, int]]):
        self.name = name
        self.offset = offset
        self.clock = clock
        self.page_size = page_size
        self.cpus = cpus
        self.cpustat: List[str] = []

    @property
    def label(self) -> str:
        """The name as the command line spells it (``top`` for the top level)."""
        return self.name or TOP

    @property
    def has_data(self) -> bool:
        return any(size for _, _, size in self.cpus)

    def __repr__(self) -> str:
        return f"DatBuffer({self.label!r}, cpus={self.cpus!r})"


def buffer_label(name: str) -> str:
    """A buffer name as the command line and the reports spell it (``top`` for ``""``)."""
    return name or TOP


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
    ``tracecmd_version``, ``cpustat`` (the CPUSTAT texts of the buffers read), ``trace_id``,
    ``ts_offset``, ``buffers`` (every buffer's name, ``""`` for the top level, in
    ``trace-cmd report`` order), ``buffer`` (the one read, None when all are),
    ``cpu_data_size``, and after a read ``missed_events``/``missed_pages`` per CPU (-1 events:
    the count is unknown), ``nrecords`` and ``buffer_records`` (records per buffer name).

    ``buffer``: read only this buffer (its name, ``""`` or ``"top"`` for the top level); None
    reads them all.  A name the file does not hold is a :class:`~memsim.errors.UsageError`.
    :attr:`buffers` lists the file's :class:`DatBuffer` objects.
    """

    kind = "trace.dat"

    def __init__(self, path: str, *, data: Optional[bytes] = None, formats: Optional[FormatSet] = None,
                 strict: bool = False, registry=None, buffer: Optional[str] = None):
        super().__init__(path, formats=FormatSet(), strict=strict)
        self._want = buffer
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
        self.buffers: List[DatBuffer] = []                 # every buffer of the file
        self._v6_buffers: List[Tuple[str, int]] = []       # v6 BUFFER options: (name, offset)
        self._cpustat_buffer = ""                          # the buffer CPUSTAT options describe
        self._cpustats: Dict[str, List[str]] = {}
        self._streams: List[Tuple[DatBuffer, int, int, int]] = []   # (buffer, cpu, off, size)
        self._chosen: List[DatBuffer] = []                  # the buffers read
        self._v6_clock = ""
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
                self._streams = []
        except (TraceError, UsageError):
            self.close()
            raise
        self._open_problems = (list(self.problems), self.nproblems)

    # -- meta ------------------------------------------------------------------------------
    @staticmethod
    def _meta_defaults() -> Dict[str, Any]:
        return new_meta("trace.dat", clock="local", flags_width=5, version=None,
                        compression="none", compression_version="", endian="little",
                        long_size=8, page_size=4096, uname=None, tracecmd_version=None,
                        cpustat=[], trace_id=None, ts_offset=0, buffers=[], buffer=None,
                        cpu_data_size={}, missed_events={}, missed_pages={},
                        buffer_records={})

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
        self._select_buffers()
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
        # parsed when the event is first needed (a file holds thousands, a trace uses few)
        self.formats.add_text(text, system, where, self._format_problem)

    def _format_problem(self, where: str, problem: str) -> None:
        """A format that does not parse, found at open or later (when its event is first
        needed); one found later is kept for every later pass over the records, as one found
        at open is."""
        self.problem(where, problem)
        if hasattr(self, "_open_problems"):
            from memsim.tracing.reader import MAX_KEPT_PROBLEMS
            from memsim.tracing.record import Problem
            probs, n = self._open_problems
            if len(probs) < MAX_KEPT_PROBLEMS:
                probs = probs + [Problem(where, problem)]
            self._open_problems = (probs, n + 1)

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
            top = DatBuffer("", c.pos - 10, "", self.meta["page_size"],
                            self._v6_cpu_table(c, ncpus, ""))
            top.clock = self._v6_clock
        except _Short as e:
            self._problem_at(e.at, f"the file ends inside the option/flyrecord headers "
                                   f"({e.what}); no CPU data can be read")
            return
        self.buffers.append(top)
        for name, off in self._v6_buffers:
            buf = self._v6_instance(name, off, ncpus)
            if buf is not None:
                self.buffers.append(buf)

    def _v6_cpu_table(self, c: _Cur, ncpus: int, name: str) -> List[Tuple[int, int, int]]:
        """After a ``flyrecord`` tag: each CPU's data offset and size, then the ``[clock]``
        string (read_cpu_data; optional in old files); the clock is kept in ``_v6_clock``."""
        cpus = []
        where = f"buffer {name} " if name else ""
        for cpu in range(ncpus):
            off = c.int(8, f"the data offset of {where}cpu {cpu}")
            size = c.int(8, f"the data size of {where}cpu {cpu}")
            cpus.append((cpu, off, size))
        self._v6_clock = ""
        try:
            n = c.int(8, "the clock size")
            if 0 < n <= 4096:
                sel = re.fullmatch(r"\[([\w-]+)\]\s*", c.text(n, "the clock"))
                self._v6_clock = sel.group(1) if sel else ""
        except _Short:
            pass
        return cpus

    def _v6_instance(self, name: str, off: int, ncpus: int) -> Optional[DatBuffer]:
        """tracecmd_buffer_instance_handle of a version 6 file: the instance's ``flyrecord``
        tag at ``off`` (options before it are skipped), its CPU table and clock."""
        c = _Cur(self._data, off, self.size, self._big)
        try:
            tag = c.take(10, f"the flyrecord tag of buffer {name}")
            if tag == b"options  \0":
                while True:                     # options of the instance: not needed, skipped
                    opt = c.int(2, f"an option id of buffer {name}")
                    if opt == OPT_DONE:
                        break
                    c.take(c.int(4, "an option size"), f"option {opt} of buffer {name}")
                tag = c.take(10, f"the flyrecord tag of buffer {name}")
            if tag != b"flyrecord\0":
                self._problem_at(c.pos - 10, f"buffer {name}: expected 'flyrecord', found "
                                             f"{tag!r}; its CPU data cannot be read")
                return None
            cpus = self._v6_cpu_table(c, ncpus, name)
        except _Short as e:
            self._problem_at(e.at, f"buffer {name}: the file ends inside its flyrecord header "
                                   f"({e.what}); its CPU data cannot be read")
            return None
        return DatBuffer(name, off, self._v6_clock, self.meta["page_size"], cpus)

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
                    text = body.rstrip(b"\0").decode("utf-8", "replace")
                    head = re.match(r"\s*Buffer:\s*(\S*)\s*$", text)
                    if head is not None:        # the CPUSTATs that follow are this instance's
                        self._cpustat_buffer = head.group(1)
                    else:
                        self._cpustats.setdefault(self._cpustat_buffer, []).append(text)
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
        if v6:
            self._v6_buffers.append((name, off))
            return
        if buffers is None:
            return
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
            got, body, base = sec
            if got != sid or body is None:
                self._problem_at(sections[sid], f"the {what} section's header says section id "
                                                f"{got}, not {sid}; section skipped")
                continue
            self._section(what, readers[sid], _Cur(body, 0, len(body), self._big, base))
        self._v7_buffers(buffers)
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
                    body = self._unzstd(raw, usize)
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

    def _unzstd(self, raw: bytes, size: int = 0) -> bytes:
        """Decompress one zstd block (trace-cmd writes frames without a content size);
        ``size``, the uncompressed size the file states, lets it decompress in one piece."""
        if 0 < size <= (1 << 26):       # not a damaged header's absurd size
            try:
                return self._zstd.decompress(raw, max_output_size=size)
            except Exception:
                pass                # more than stated, or damaged: say which below
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

    def _v7_buffers(self, buffers: list) -> None:
        """The BUFFER options: the top level first, then the instances in file order (the order
        trace-read.c adds their handles)."""
        if not buffers:
            self.problem(self.name, f"no BUFFER option describes the CPU data (file ends at "
                                    f"byte {self.size}); no records can be read")
            return
        seen = set()
        for name, off, clock, page_size, cpus in sorted(buffers, key=lambda b: b[0] != ""):
            if name in seen:
                self._problem_at(off, f"a second buffer named {buffer_label(name)!r}; skipped")
                continue
            seen.add(name)
            if page_size and page_size != self.meta["page_size"] and not (
                    64 <= page_size <= (1 << 26) and page_size % 4 == 0):
                self._problem_at(off, f"the page size {page_size} of buffer "
                                      f"{buffer_label(name)!r} is not plausible; using "
                                      f"{self.meta['page_size']}")
                page_size = self.meta["page_size"]
            self.buffers.append(DatBuffer(name, off, clock, page_size or self.meta["page_size"],
                                          cpus))

    def _select_buffers(self) -> None:
        """The buffers to read (``buffer=`` or all), their CPU streams, and the meta they set."""
        m = self.meta
        m["buffers"] = [b.name for b in self.buffers]
        for b in self.buffers:
            b.cpustat = self._cpustats.get(b.name, [])
        chosen = self.buffers
        if self._want is not None:
            chosen = [self.find_buffer(self._want)]
            m["buffer"] = chosen[0].name
        clock = next((b.clock for b in chosen if b.clock and b.has_data),
                     next((b.clock for b in chosen if b.clock), ""))
        if clock:
            m["clock"] = clock
        sizes = {b.page_size for b in chosen if b.has_data}
        if len(sizes) == 1:
            m["page_size"] = sizes.pop()
        if not m["ncpus"] and chosen:
            m["ncpus"] = max(len(b.cpus) for b in chosen)
        m["cpustat"] = [t for b in chosen for t in b.cpustat]
        self._chosen = chosen
        self._streams = [(b, cpu, off, size) for b in chosen for cpu, off, size in b.cpus]
        if self._zstd is not None:
            self._compressed_data = True
            self._check_chunks()
        else:
            self._check_raw_cpus()

    def find_buffer(self, name: str) -> DatBuffer:
        """The buffer called ``name`` (``""`` or ``top`` for the top level, unless an instance
        is called ``top``); a :class:`~memsim.errors.UsageError` when the file has none."""
        for b in self.buffers:
            if b.name == name:
                return b
        if name == TOP:
            for b in self.buffers:
                if b.name == "":
                    return b
        names = ", ".join(b.label for b in self.buffers) or "none"
        raise UsageError("--buffer", f"{self.name} has no buffer {name!r} (it has: {names})",
                         "give one of those names")

    # -- CPU data --------------------------------------------------------------------------
    @staticmethod
    def _where(b: DatBuffer, cpu: int) -> str:
        return f"buffer {b.name} cpu {cpu}" if b.name else f"cpu {cpu}"

    def _check_raw_cpus(self) -> None:
        for b, cpu, off, size in self._streams:
            page = b.page_size
            key = cpu if not b.name else f"{b.name}/{cpu}"
            self.meta["cpu_data_size"][key] = size
            if not size:
                continue
            total = (size + page - 1) // page
            have = max(0, min(self.size, off + size) - off) // page if off < self.size else 0
            if have < total:
                self.problem(f"{self.name}: {self._where(b, cpu)}",
                             f"{total - have} of {total} pages missing (file ends at byte "
                             f"{self.size})")

    def _chunks(self, b: DatBuffer, cpu: int, off: int, size: int,
                report: bool) -> List[Tuple[int, int, int]]:
        """(offset of the bytes, compressed size, uncompressed size) of one CPU's chunks."""
        out = []
        e = "big" if self._big else "little"
        d = self._data
        where = self._where(b, cpu)
        if off + 4 > self.size:
            if report:
                self.problem(f"{self.name}: {where}", f"all data missing (file ends at byte "
                                                      f"{self.size})")
            return out
        count = int.from_bytes(d[off:off + 4], e)
        p = off + 4
        pages_seen = 0
        page = b.page_size
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
                    self._problem_at(p, f"{where}: chunk {i} claims {us} uncompressed bytes, "
                                        f"not a whole number of pages; rest of the CPU skipped")
                return out
            out.append((p + 8, cs, us))
            pages_seen += us // page
            p += 8 + cs
        else:
            return out
        if report:
            self.problem(f"{self.name}: {where}",
                         f"{count - cut} of {count} compressed chunks missing, "
                         f"{pages_seen} pages read (file ends at byte {self.size})")
        return out

    def _check_chunks(self) -> None:
        for b, cpu, off, size in self._streams:
            self.meta["cpu_data_size"][cpu if not b.name else f"{b.name}/{cpu}"] = size
            if size:
                self._chunks(b, cpu, off, size, True)

    def _raw_blocks(self, b: DatBuffer, cpu: int, off: int, size: int) -> Iterator[bytes]:
        step = b.page_size * BLOCK_PAGES
        end = min(off + size, self.size)
        d = self._data
        while off < end:
            n = min(step, end - off)
            yield d[off:off + n]
            self._bytes_done += n
            off += n

    def _zstd_blocks(self, b: DatBuffer, cpu: int, off: int, size: int) -> Iterator[bytes]:
        if not size:
            return
        d = self._data
        where = self._where(b, cpu)
        for i, (p, cs, us) in enumerate(self._chunks(b, cpu, off, size, False)):
            try:
                block = self._unzstd(d[p:p + cs], us)
            except Exception as e:
                self._problem_at(p, f"{where}: chunk {i} does not decompress ({e}); "
                                    f"rest of the CPU skipped")
                return
            if len(block) != us:
                self._problem_at(p, f"{where}: chunk {i} decompresses to {len(block)} bytes, "
                                    f"not {us}; rest of the CPU skipped")
                return
            yield block
            self._bytes_done += cs

    # -- formats and meta ------------------------------------------------------------------
    def _finish_formats(self) -> None:
        if self._caller_formats is not None:
            self.formats.update(self._caller_formats)
        if not len(self.formats) or not any(s != "ftrace" for s in self.formats.system_names()):
            if self.meta["version"] is not None:
                self.formats.update(default_formats(self._registry))

    def _finish_meta(self) -> None:
        m = self.meta
        self._long = self._hdr_long
        m["long_size"] = self._long
        rel = re.match(r"\S+\s+\S+\s+(\d+)\.(\d+)", m["uname"] or "")
        if rel and (int(rel.group(1)), int(rel.group(2))) < (5, 15):
            m["flags_width"] = 4
        # the events of a CPU are those read out of the kernel buffer (extract: all of them)
        # plus those still in it when the stats were taken (record stops the readers later)
        entries = overrun = 0
        complete = bool(self._chosen)
        for b in self._chosen:
            if not b.cpustat:
                complete = complete and not b.has_data
                continue
            for text in b.cpustat:
                r = re.search(r"^read events:\s*(\d+)", text, re.M)
                e = re.search(r"^entries:\s*(\d+)", text, re.M)
                o = re.search(r"^overrun:\s*(\d+)", text, re.M)
                if r is None:
                    complete = False
                    break
                entries += int(r.group(1)) + (int(e.group(1)) if e else 0)
                overrun += int(o.group(1)) if o else 0
        if complete and any(b.cpustat for b in self._chosen):
            m["entries"] = entries
            m["entries_written"] = entries + overrun

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
        """The decoder's layouts by common_type: None until an ID is first met
        (:meth:`_layout_for` fills it), False for an ID no format describes."""
        if self._layouts is None:
            self._layouts = [None] * 65536
        return self._layouts

    def _layout_for(self, type_id: int):
        """The EventLayout of ``type_id`` (its format parsed now), or False."""
        from memsim.tracing._flyrecord import EventLayout
        decl = self.formats.by_id(type_id)
        if decl is None:
            return False
        specs = []
        for f in decl.fields:
            kind, elem = field_kind(f.ctype, f.size, f.signed)
            specs.append((f.name, kind, f.offset, f.size, elem))
        return EventLayout(type_id, decl.system, decl.name, specs)

    def position(self) -> Optional[Tuple[int, int]]:
        """(bytes of the chosen buffers' data decoded, their size), for a progress display."""
        streams = getattr(self, "_streams", None)
        if not streams:
            return None
        return getattr(self, "_bytes_done", 0), sum(size for _, _, _, size in streams)

    def _decoder(self, streams=None, reader=None):
        from memsim.tracing._flyrecord import FlyDecoder
        self._bytes_done = 0
        if reader is None:
            self.problems, self.nproblems = list(self._open_problems[0]), self._open_problems[1]
        streams = self._streams if streams is None else streams
        blocks = self._zstd_blocks if self._compressed_data else self._raw_blocks
        sources = [blocks(b, cpu, off, size) for b, cpu, off, size in streams]
        comms = {pid: comm for pid, comm in self.comms.items()}
        comms.setdefault(0, "<idle>")
        return FlyDecoder(sources, [cpu for _, cpu, _, _ in streams], self._layouts_list(),
                          reader or self, self.name, Record, irq_info, self.meta["flags_width"],
                          comms, self.meta["page_size"], self._long, self._big,
                          self.meta["ts_offset"], buffers=[b.name for b, _, _, _ in streams],
                          page_sizes=[b.page_size for b, _, _, _ in streams],
                          labels=[self._where(b, cpu) for b, cpu, _, _ in streams])

    def _finish(self, dec) -> None:
        lost: List[Tuple[Any, Any]] = []
        missed_events: Dict[int, int] = {}
        missed_pages: Dict[int, int] = {}
        per_buffer: Dict[str, int] = {b.name: 0 for b in self._chosen}
        for (b, cpu, _, _), missed, pages, n in zip(self._streams, dec.missed, dec.missed_pages,
                                                   dec.counts):
            per_buffer[b.name] = per_buffer.get(b.name, 0) + n
            if pages:
                prev = missed_events.get(cpu, 0)
                missed_events[cpu] = -1 if -1 in (prev, missed) else prev + missed
                missed_pages[cpu] = missed_pages.get(cpu, 0) + pages
                lost.append((cpu, missed if missed >= 0 else None))
        self.meta["missed_events"] = missed_events
        self.meta["missed_pages"] = missed_pages
        self.meta["lost"] = lost
        self.meta["nrecords"] = dec.nrecords
        self.meta["buffer_records"] = per_buffer

    def buffer_counts(self) -> Dict[str, int]:
        """Records per buffer of the whole file, by name (``""`` the top level), all buffers
        whatever ``buffer=`` chose: counted by decoding every buffer's pages (their damage is
        not reported again)."""
        class _Quiet:
            strict = False

            @staticmethod
            def problem(where, problem):
                pass

        counts: Dict[str, int] = {}
        for b in self.buffers:
            streams = [(b, cpu, off, size) for cpu, off, size in b.cpus]
            if not b.has_data:
                counts[b.name] = 0
                continue
            saved = self._streams
            try:
                quiet = _Quiet()
                quiet._layout_for = self._layout_for        # formats are parsed when first met
                dec = self._decoder(streams, quiet)
                n = 0
                while True:
                    _, got = dec.read_columns(1 << 16)
                    if not got:
                        break
                    n += got
            finally:
                self._streams = saved
            counts[b.name] = n
        return counts

    def records(self) -> Iterator[Record]:
        """Every record, in ``trace-cmd report`` order."""
        dec = self._decoder()
        while True:
            chunk = dec.read_records(RECORDS_CHUNK)
            if not chunk:
                break
            yield from chunk
        self._finish(dec)

    def batches(self, size: int = 65536, payloads: bool = False) -> Iterator[Columns]:
        """The records as :class:`Columns` of at most ``size`` events, decoded in Cython straight
        into typed columns (no per-record Python object); a trace.dat has no payload texts
        (``payloads`` is ignored)."""
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
        self._want = None
        blocks = [b"".join(bytes(p) for p in pages) for pages in pages_by_cpu]
        top = DatBuffer("", 0, "", page_size, [(cpu, 0, len(b)) for cpu, b in enumerate(blocks)])
        self.buffers = [top]
        self._chosen = [top]
        self._streams = [(top, cpu, off, size) for cpu, off, size in top.cpus]
        self.meta["buffers"] = [""]
        self._mem_blocks = blocks
        self._raw_blocks = lambda b, cpu, off, size: iter([self._mem_blocks[cpu]] if size else [])
        self._open_problems = ([], 0)
        return self


__all__ = ["DatReader", "DatBuffer", "FileKallsyms", "field_kind", "buffer_label", "TOP"]
