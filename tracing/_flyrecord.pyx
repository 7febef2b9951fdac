# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The hot loop of the trace.dat reader: ring-buffer pages -> records or typed columns.

Models libtraceevent's kbuffer-parse.c (``kbuffer_load_subbuffer``, ``translate_data``,
``update_pointers``, ``kbuffer_next_event``) and trace-cmd's trace-input.c
(``tracecmd_peek_next_data``), which together decide what ``trace-cmd report`` prints:

* a sub-buffer page is ``u64 timestamp``, a ``long`` commit (``COMMIT_MASK`` = low 27 bits of
  data bytes; bit 31 ``MISSING_EVENTS``, bit 30 ``MISSING_STORED`` = the lost-event count is the
  ``long`` after the data) and the records;
* a record header is ``type_len:5, time_delta:27`` (type_len in the top bits of a big-endian
  word); type_len 1-28 carries ``4 * type_len`` bytes, 0 a u32 length (itself included, rounded
  up to 4), 29 padding (``time_delta`` 0: the rest of the page is unused), 30 a time extend
  (``array[0] << 27 | time_delta`` added), 31 an absolute time stamp whose top 5 bits come from
  the running time (``TS_MSB``); as in ``update_pointers``, every type's delta is added;
* the CPUs are merged by timestamp, the lowest CPU winning a tie (``tracecmd_peek_next_data``
  takes a CPU only if its record is strictly earlier); the streams of several buffers (tracefs
  instances) are merged the same way, the top-level buffer's first and then the instances' in
  file order, as trace-read.c ``read_data_info`` merges its handles (a record is taken from a
  later handle only if it is strictly earlier), so one merge over all the streams in that order
  gives ``trace-cmd report``'s order.

A damaged page (commit larger than the page, a record running past the data) is reported through
the reader's ``problem()`` (raising in strict mode) and the rest of that page is skipped.
"""
from cpython.array cimport array, resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.long cimport PyLong_AsLongLong
from cpython.list cimport PyList_GET_ITEM
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memchr, memcpy

import sys

from memsim.tracing.columns import column_name

cdef extern from *:
    """
    #include <stdint.h>
    static inline uint16_t ms_bswap16(uint16_t v) { return __builtin_bswap16(v); }
    static inline uint32_t ms_bswap32(uint32_t v) { return __builtin_bswap32(v); }
    static inline uint64_t ms_bswap64(uint64_t v) { return __builtin_bswap64(v); }
    """
    uint16_t ms_bswap16(uint16_t v) nogil
    uint32_t ms_bswap32(uint32_t v) nogil
    uint64_t ms_bswap64(uint64_t v) nogil

# The field kinds (FK_*), the page cursor and the cdef classes' attributes are declared in
# _flyrecord.pxd.

# the record header's encoding, declared once next to memsim's ring buffer, which writes it
from memsim.ring cimport (RINGBUF_TYPE_PADDING, RINGBUF_TYPE_TIME_EXTEND, RINGBUF_TYPE_TIME_STAMP,
                          TS_DELTA_MASK, TS_SHIFT)

cdef uint64_t TS_MASK = TS_DELTA_MASK
cdef uint64_t TS_MSB = 0xf8ULL << 56
cdef uint64_t COMMIT_MASK = (1ULL << 27) - 1
cdef uint64_t MISSING_EVENTS = 1ULL << 31
cdef uint64_t MISSING_STORED = 1ULL << 30
cdef bint HOST_BIG = sys.byteorder == "big"


cdef inline uint16_t rd16(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return ms_bswap16(v) if swap else v


cdef inline uint32_t rd32(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return ms_bswap32(v) if swap else v


cdef inline uint64_t rd64(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return ms_bswap64(v) if swap else v


cdef inline uint64_t rd_uint(const uint8_t* p, int size, bint swap) noexcept nogil:
    if size == 8:
        return rd64(p, swap)
    if size == 4:
        return rd32(p, swap)
    if size == 2:
        return rd16(p, swap)
    return p[0]


cdef inline int64_t rd_sint(const uint8_t* p, int size, bint swap) noexcept nogil:
    if size == 8:
        return <int64_t>rd64(p, swap)
    if size == 4:
        return <int32_t>rd32(p, swap)
    if size == 2:
        return <int16_t>rd16(p, swap)
    return <int8_t>p[0]


cdef inline object c_string(const uint8_t* p, Py_ssize_t n):
    """A NUL-terminated string of at most ``n`` bytes, as str (invalid UTF-8 replaced)."""
    cdef const void* z = memchr(p, 0, n)
    if z != NULL:
        n = <const uint8_t*>z - p
    return PyUnicode_DecodeUTF8(<const char*>p, n, "replace")


cdef class EventLayout:
    """How to decode the fields of one event (built from its format file's field lines).

    ``specs``: ``(name, kind, offset, size, elem_size)`` per field, kind one of the FK_*
    constants above.
    """


    def __cinit__(self, int type_id, system, name, specs):
        cdef int i, n = len(specs)
        self.type_id = type_id
        self.system = system
        self.name = name
        self.full_name = f"{system}:{name}" if system else name
        self.nfields = n
        self.kind = <int*>calloc(n + 1, sizeof(int))
        self.offset = <int*>calloc(n + 1, sizeof(int))
        self.size = <int*>calloc(n + 1, sizeof(int))
        self.elem = <int*>calloc(n + 1, sizeof(int))
        if not (self.kind and self.offset and self.size and self.elem):
            raise MemoryError()
        names = []
        int_q = []
        self.min_len = 8
        for i in range(n):
            fname, kind, off, size, elem = specs[i]
            names.append(fname)
            self.kind[i] = kind
            self.offset[i] = off
            self.size[i] = size
            self.elem[i] = elem if elem > 0 else 1
            if off + size > <int>self.min_len:
                self.min_len = off + size
            if kind == FK_UINT:
                int_q.append("Q" if size == 8 else "q")
            elif kind == FK_SINT:
                int_q.append("q")
            else:
                int_q.append(None)
        self.names = tuple(names)
        self.colnames = tuple(column_name(f) for f in names)
        self.int_q = tuple(int_q)

    def __dealloc__(self):
        free(self.kind)
        free(self.offset)
        free(self.size)
        free(self.elem)


cdef class ColumnSink:
    """The columns of one event inside one batch: integer columns are arrays filled through
    C pointers, grown by doubling (:meth:`reserve`), cut to length by :meth:`build`."""


    def __cinit__(self, EventLayout L):
        cdef int i
        self.L = L
        self.n = 0
        self.cap = 0
        self.seq = array("q")
        self.ts = array("q")
        self.cpu = array("q")
        self.pid = array("q")
        self.comm = []
        self.flags = []
        self.buffer = []
        self.cols = []
        self.fptr = <int64_t**>calloc(L.nfields + 1, sizeof(int64_t*))
        if self.fptr == NULL:
            raise MemoryError()
        for i in range(L.nfields):
            q = L.int_q[i]
            self.cols.append(array(q) if q is not None else [])
        self.reserve(256)

    def __dealloc__(self):
        free(self.fptr)

    cdef int reserve(self, Py_ssize_t cap) except -1:
        """Room for ``cap`` rows in every integer column (the pointers follow the arrays)."""
        cdef int i
        cdef array a
        for i, a in enumerate((self.seq, self.ts, self.cpu, self.pid)):
            resize(a, cap)
            self.cptr[i] = <int64_t*>a.data.as_voidptr
        for i in range(self.L.nfields):
            o = <object>PyList_GET_ITEM(self.cols, i)
            if type(o) is array:
                resize(<array>o, cap)
                self.fptr[i] = <int64_t*>(<array>o).data.as_voidptr
            else:
                self.fptr[i] = NULL
        self.cap = cap
        return 0

    def build(self):
        cdef Py_ssize_t n = self.n
        cdef int i
        for a in (self.seq, self.ts, self.cpu, self.pid):
            resize(<array>a, n)
        for o in self.cols:
            if type(o) is array:
                resize(<array>o, n)
        cols = {"seq": self.seq, "ts": self.ts, "cpu": self.cpu, "pid": self.pid,
                "tgid": array("q", b"\xff" * (8 * n)), "comm": self.comm, "flags": self.flags,
                "buffer": self.buffer}
        for name, col in zip(self.L.colnames, self.cols):
            cols[name] = col
        return cols


cdef class FlyDecoder:
    """Merges the per-CPU page streams of one or more buffers and decodes their records.

    ``sources``: one iterator per CPU (of each buffer) yielding ``bytes`` blocks of whole pages
    (the last block of a truncated file may end inside a page); ``cpu_ids`` the CPU number of
    each; ``buffers`` the buffer (tracefs instance) name of each (default ``""``),
    ``page_sizes`` its sub-buffer size (default ``page_size``) and ``labels`` where its damage
    is reported (default ``"cpu N"``);
    ``layouts``: a list of 65536 entries indexed by common_type: an :class:`EventLayout`, False
    (no format) or None (not asked yet: ``reader._layout_for(type_id)`` gives it when first met);
    ``reader``: the reader whose ``problem(where, text)`` records damage; ``comms``: pid -> comm
    (already ``<idle>`` for 0); ``irq_info``: ``irq_info(flags, preempt, width)``.
    """


    def __cinit__(self, sources, cpu_ids, layouts, reader, name, record_cls, irq_info,
                  int width, comms, uint32_t page_size=4096, int long_size=8, bint big=False,
                  int64_t ts_offset=0, buffers=None, page_sizes=None, labels=None):
        cdef int c
        self.ncpus = len(sources)
        self.cur = <cpu_cursor*>calloc(max(self.ncpus, 1), sizeof(cpu_cursor))
        if self.cur == NULL:
            raise MemoryError()
        self.sources = list(sources)
        self.cpu_ids = list(cpu_ids)
        self.buffer_names = list(buffers) if buffers is not None else [""] * self.ncpus
        self.labels = (list(labels) if labels is not None
                       else [f"cpu {cpu}" for cpu in self.cpu_ids])
        if len(self.buffer_names) != self.ncpus or len(self.labels) != self.ncpus:
            raise ValueError("buffers and labels need one entry per source")
        self.blocks = [None] * self.ncpus
        self.layouts = layouts
        if len(self.layouts) != 65536:
            raise ValueError("layouts must have 65536 entries (one per common_type)")
        self.reader = reader
        self.name = name
        self.record_cls = record_cls
        self.irq_info = irq_info
        self.width = width
        self.page_size = page_size
        self.long_size = long_size
        self.data_off = 8 + long_size
        self.big = big
        self.swap = big != HOST_BIG
        self.ts_offset = ts_offset
        self.comms = dict(comms)
        self.flag_strs = [None] * 65536
        self.last_pid = -1
        self.last_comm = None
        self.missed = [0] * self.ncpus
        self.missed_pages = [0] * self.ncpus
        self.counts = [0] * self.ncpus
        self.nrecords = 0
        self.cur_cpu = -1
        self.sinks = {}
        self.seq = 0
        for c in range(self.ncpus):
            self.cur[c].page_no = -1
            self.cur[c].page_size = page_sizes[c] if page_sizes is not None else page_size

    def __dealloc__(self):
        free(self.cur)

    # -- pages -----------------------------------------------------------------------------
    cdef int bad(self, int c, str msg) except -1:
        """Report damage in CPU ``c``'s current page and skip the rest of it."""
        self.cur[c].has_page = 0
        self.reader.problem(f"{self.name}: {self.labels[c]} page {self.cur[c].page_no}", msg)
        return 0

    cdef int next_page(self, int c) except -1:
        """kbuffer_load_subbuffer: load CPU ``c``'s next page; 0 when its stream has ended."""
        cdef cpu_cursor* cu = &self.cur[c]
        cdef const uint8_t* page
        cdef Py_ssize_t avail
        cdef uint64_t commit, size, lost
        while True:
            if cu.block == NULL or cu.page_off >= cu.block_len:
                cu.block = NULL
                self.blocks[c] = None
                src = self.sources[c]
                if src is None:
                    return 0
                try:
                    blk = next(src)
                except StopIteration:
                    self.sources[c] = None
                    return 0
                if not isinstance(blk, bytes):
                    blk = bytes(blk)
                self.blocks[c] = blk
                cu.block = <const uint8_t*>PyBytes_AS_STRING(blk)
                cu.block_len = PyBytes_GET_SIZE(blk)
                cu.page_off = 0
                continue
            avail = cu.block_len - cu.page_off
            page = cu.block + cu.page_off
            cu.page_off += cu.page_size
            if avail < <Py_ssize_t>self.data_off:
                continue                        # a fragment of a page: the reader reports it
            cu.page_no += 1
            cu.ts = rd64(page, self.swap)
            commit = rd64(page + 8, self.swap) if self.long_size == 8 else rd32(page + 8, self.swap)
            size = commit & COMMIT_MASK
            if size > cu.page_size - self.data_off:
                self.reader.problem(f"{self.name}: {self.labels[c]} page {cu.page_no}",
                                    f"the page header says {size} bytes of data, more than a "
                                    f"{cu.page_size}-byte page holds; page skipped")
                continue
            if commit & MISSING_EVENTS:
                self.missed_pages[c] += 1
                if (commit & MISSING_STORED and
                        self.data_off + size + self.long_size <= <uint64_t>avail):
                    lost = (rd64(page + self.data_off + size, self.swap) if self.long_size == 8
                            else rd32(page + self.data_off + size, self.swap))
                    if self.missed[c] >= 0:
                        self.missed[c] += lost
                else:
                    self.missed[c] = -1
            if size > <uint64_t>(avail - self.data_off):
                size = avail - self.data_off    # truncated file: keep the complete records
            cu.data = page + self.data_off
            cu.size = <uint32_t>size
            cu.pos = 0
            cu.has_page = 1
            return 1

    cdef int next_record(self, int c) except -1:
        """kbuffer_next_event: position CPU ``c`` on its next data record; 0 at its end."""
        cdef cpu_cursor* cu = &self.cur[c]
        cdef uint32_t h, tl, delta, ln, start
        cdef uint64_t ext
        cdef bint swap = self.swap
        cu.has_rec = 0
        while True:
            if not cu.has_page:
                if not self.next_page(c):
                    cu.done = 1
                    return 0
            if <uint64_t>cu.pos + 4 > cu.size:
                cu.has_page = 0
                continue
            h = rd32(cu.data + cu.pos, swap)
            if self.big:
                tl = h >> 27
                delta = h & TS_MASK
            else:
                tl = h & 31
                delta = h >> 5
            if tl == RINGBUF_TYPE_PADDING:
                if delta == 0:                  # null event: the rest of the page is unused
                    cu.has_page = 0
                    continue
                if <uint64_t>cu.pos + 8 > cu.size:
                    self.bad(c, f"padding at byte {cu.pos} runs past the page's "
                                f"{cu.size} bytes of data; rest of the page skipped")
                    continue
                ln = rd32(cu.data + cu.pos + 4, swap)
                if <uint64_t>cu.pos + 4 + ln > cu.size:
                    self.bad(c, f"padding of {ln} bytes at byte {cu.pos} runs past the page's "
                                f"{cu.size} bytes of data; rest of the page skipped")
                    continue
                cu.ts += delta
                cu.pos += 4 + ln
                continue
            if tl == RINGBUF_TYPE_TIME_EXTEND or tl == RINGBUF_TYPE_TIME_STAMP:
                if <uint64_t>cu.pos + 8 > cu.size:
                    self.bad(c, f"time {'extend' if tl == 30 else 'stamp'} at byte {cu.pos} "
                                f"runs past the page's {cu.size} bytes of data; "
                                f"rest of the page skipped")
                    continue
                ext = (<uint64_t>rd32(cu.data + cu.pos + 4, swap) << TS_SHIFT) + delta
                if tl == RINGBUF_TYPE_TIME_EXTEND:
                    cu.ts += ext
                else:
                    cu.ts = ext | (cu.ts & TS_MSB)
                cu.pos += 8
                continue
            if tl == 0:
                if <uint64_t>cu.pos + 8 > cu.size:
                    self.bad(c, f"record header at byte {cu.pos} runs past the page's "
                                f"{cu.size} bytes of data; rest of the page skipped")
                    continue
                ln = rd32(cu.data + cu.pos + 4, swap)
                if ln < 4 or ln > cu.page_size:
                    self.bad(c, f"record at byte {cu.pos} has a bad length {ln}; "
                                f"rest of the page skipped")
                    continue
                ln = (ln - 4 + 3) & ~3u
                start = cu.pos + 8
            else:
                ln = tl * 4
                start = cu.pos + 4
            if <uint64_t>start + ln > cu.size:
                self.bad(c, f"record of {ln} bytes at byte {cu.pos} runs past the page's "
                            f"{cu.size} bytes of data; rest of the page skipped")
                continue
            cu.ts += delta
            cu.rec = cu.data + start
            cu.rec_len = ln
            cu.rec_ts = cu.ts
            cu.pos = start + ln
            cu.has_rec = 1
            return 1

    cdef int advance(self) except -1:
        """tracecmd_peek_next_data + tracecmd_read_data: select the next record of all CPUs
        (``self.cur_cpu``); 0 when every CPU has ended."""
        cdef int c, best = -1
        cdef uint64_t ts = 0
        if self.cur_cpu >= 0:
            self.next_record(self.cur_cpu)
        else:
            for c in range(self.ncpus):
                self.next_record(c)
        for c in range(self.ncpus):
            if self.cur[c].has_rec and (best < 0 or self.cur[c].rec_ts < ts):
                best = c
                ts = self.cur[c].rec_ts
        self.cur_cpu = best
        if best < 0:
            self.cur_cpu = -2           # finished: do not read further
            return 0
        return 1

    # -- record contents -------------------------------------------------------------------
    cdef object comm_of(self, int pid):
        """libtraceevent find_cmdline / the kernel's __trace_find_cmdline."""
        if pid == self.last_pid:
            return self.last_comm
        cdef PyObject* hit = PyDict_GetItem(self.comms, pid)
        comm = <object>hit if hit != NULL else ("<idle>" if pid == 0 else "<...>")
        self.last_pid = pid
        self.last_comm = comm
        return comm

    cdef object flags_of(self, uint8_t flags, uint8_t preempt):
        cdef int key = flags | (<int>preempt << 8)
        s = <object>PyList_GET_ITEM(self.flag_strs, key)
        if s is None:
            s = self.irq_info(flags, preempt, self.width)
            self.flag_strs[key] = s
        return s

    cdef object field_value(self, EventLayout L, int i, const uint8_t* p, uint32_t n):
        cdef int kind = L.kind[i]
        cdef int off = L.offset[i]
        cdef int size = L.size[i]
        cdef int elem = L.elem[i]
        cdef uint32_t loc, start, ln
        cdef int j
        cdef bint swap = self.swap
        if kind == FK_UINT:
            return rd_uint(p + off, size, swap)
        if kind == FK_SINT:
            return rd_sint(p + off, size, swap)
        if kind == FK_CHARS:
            if size == 0 and n > <uint32_t>off:  # char buf[]: the rest of the record (ftrace print)
                return c_string(p + off, n - off)
            return c_string(p + off, size)
        if kind == FK_RAW:
            v = int.from_bytes(p[off:off + size], "big" if self.big else "little",
                               signed=bool(elem > 1))
            return v
        if kind == FK_ARRAY:
            return [rd_uint(p + off + j * elem, elem, swap) for j in range(size // elem)]
        # __data_loc / __rel_loc: u32 offset | length << 16
        loc = rd32(p + off, swap)
        start = loc & 0xffff
        ln = loc >> 16
        if kind == FK_REL_STR or kind == FK_REL_ARRAY:
            start += off + size
        if start > n:
            start = n
        if start + ln > n:
            ln = n - start
        if kind == FK_LOC_STR or kind == FK_REL_STR:
            return c_string(p + start, ln)
        return [rd_uint(p + start + j * elem, elem, swap) for j in range(ln // elem)]

    cdef EventLayout layout_of(self, int c):
        """The layout of CPU ``c``'s current record, or None (reported) when it cannot be
        decoded."""
        cdef cpu_cursor* cu = &self.cur[c]
        cdef uint16_t type_id
        if cu.rec_len < 8:
            self.reader.problem(f"{self.name}: {self.labels[c]} page {cu.page_no}",
                                f"record of {cu.rec_len} bytes is shorter than the 8-byte "
                                f"common header; record skipped")
            return None
        type_id = rd16(cu.rec, self.swap)
        L = <object>PyList_GET_ITEM(self.layouts, type_id)
        if L is None:                   # first met: the reader parses its format now
            L = self.reader._layout_for(type_id)
            self.layouts[type_id] = L
        if L is False:
            self.reader.problem(f"{self.name}: {self.labels[c]} page {cu.page_no}",
                                f"record of event type {type_id}, which no format in the file "
                                f"describes; record skipped")
            return None
        if cu.rec_len < (<EventLayout>L).min_len:
            self.reader.problem(f"{self.name}: {self.labels[c]} page {cu.page_no}",
                                f"{(<EventLayout>L).full_name} record of {cu.rec_len} bytes is "
                                f"shorter than its format ({(<EventLayout>L).min_len} bytes); "
                                f"record skipped")
            return None
        return <EventLayout>L

    # -- output ----------------------------------------------------------------------------
    def read_records(self, Py_ssize_t n):
        """Up to ``n`` next records as Record objects (an empty list at the end)."""
        cdef list out = []
        cdef int c, i, pid
        cdef cpu_cursor* cu
        cdef EventLayout L
        cdef const uint8_t* p
        cdef dict fields
        cls = self.record_cls
        new = cls.__new__
        while len(out) < n and self.cur_cpu != -2:
            if not self.advance():
                break
            c = self.cur_cpu
            cu = &self.cur[c]
            L = self.layout_of(c)
            if L is None:
                continue
            p = cu.rec
            pid = <int32_t>rd32(p + 4, self.swap)
            fields = {}
            for i in range(L.nfields):
                PyDict_SetItem(fields, <object>PyTuple_GET_ITEM(L.names, i),
                               self.field_value(L, i, p, cu.rec_len))
            rec = new(cls)
            rec.system = L.system
            rec.event = L.name
            rec.pid = pid
            rec.tgid = None
            rec.comm = self.comm_of(pid)
            rec.cpu = self.cpu_ids[c]
            rec.ts = <int64_t>cu.rec_ts + self.ts_offset
            rec.flags = self.flags_of(p[2], p[3])
            rec.fields = fields
            rec.payload = None
            rec.buffer = <object>PyList_GET_ITEM(self.buffer_names, c)
            out.append(rec)
            self.counts[c] += 1
            self.nrecords += 1
        return out

    def read_columns(self, Py_ssize_t n):
        """Up to ``n`` next records as ``{full_name: {column: array or list}}`` and the number
        of records; 0 records at the end.  ``seq`` counts across calls."""
        cdef int c, i, pid
        cdef Py_ssize_t got = 0, r
        cdef cpu_cursor* cu
        cdef EventLayout L
        cdef EventLayout last_L = None
        cdef ColumnSink sink = None
        cdef const uint8_t* p
        cdef uint32_t ln
        cdef int kind
        cdef bint swap = self.swap
        cdef dict sinks = {}
        cdef PyObject* hit
        while got < n and self.cur_cpu != -2:
            if not self.advance():
                break
            c = self.cur_cpu
            cu = &self.cur[c]
            L = self.layout_of(c)
            if L is None:
                continue
            if L is not last_L:
                hit = PyDict_GetItem(sinks, L)
                if hit == NULL:
                    sink = ColumnSink(L)
                    sinks[L] = sink
                else:
                    sink = <ColumnSink>hit
                last_L = L
            if sink.n == sink.cap:
                sink.reserve(sink.cap * 2)
            r = sink.n
            p = cu.rec
            ln = cu.rec_len
            pid = <int32_t>rd32(p + 4, swap)
            sink.cptr[0][r] = self.seq
            sink.cptr[1][r] = <int64_t>cu.rec_ts + self.ts_offset
            sink.cptr[2][r] = <int64_t>PyLong_AsLongLong(<object>PyList_GET_ITEM(self.cpu_ids, c))
            sink.cptr[3][r] = pid
            sink.comm.append(self.comm_of(pid))
            sink.flags.append(self.flags_of(p[2], p[3]))
            sink.buffer.append(<object>PyList_GET_ITEM(self.buffer_names, c))
            for i in range(L.nfields):
                kind = L.kind[i]
                if kind == FK_UINT:
                    sink.fptr[i][r] = <int64_t>rd_uint(p + L.offset[i], L.size[i], swap)
                elif kind == FK_SINT:
                    sink.fptr[i][r] = rd_sint(p + L.offset[i], L.size[i], swap)
                else:
                    (<list>PyList_GET_ITEM(sink.cols, i)).append(self.field_value(L, i, p, ln))
            sink.n = r + 1
            self.seq += 1
            self.counts[c] += 1
            self.nrecords += 1
            got += 1
        return {(<ColumnSink>s).L.full_name: (<ColumnSink>s).build() for s in sinks.values()}, got
