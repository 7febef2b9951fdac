# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Per-CPU ring buffers of binary trace records, in the kernel's sub-buffer page format.

Models kernel/trace/ring_buffer.c: each CPU owns ``nr_pages`` sub-buffer pages of 4096 bytes, a
16-byte header (u64 timestamp of the first record, u64 commit = bytes of data) and records with a
32-bit header (type_len:5, time_delta:27).  Payloads up to 112 bytes use type_len = len/4; larger
ones store the length in the next word (type_len 0).  Deltas of 2**27 ns or more are preceded by a
time-extend record (type_len 30).

What a full buffer does is the tracefs ``options/overwrite`` switch (:attr:`TraceBuffer.mode`):
``RING_OVERWRITE`` (the kernel's default) overwrites the oldest page and counts its records as
``overrun``; ``RING_DROP`` (overwrite = 0) drops the new record and counts it as ``dropped``.
``RING_STREAM`` is the ring as ``trace-cmd record`` drains it through ``trace_pipe_raw``: a
reader takes the full pages (:meth:`TraceBuffer.take_pages`) at the run's preemption points, and
until it does the buffer grows, so no record is ever lost.  Writing a record never calls Python.
"""
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memmove, memset
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

# RINGBUF_TYPE_*, TS_SHIFT and TS_DELTA_MASK are declared in ring.pxd
cdef uint64_t TS_MASK = TS_DELTA_MASK


cdef class Clock:
    def __init__(self, uint64_t start=0):
        self.now = start


cdef class TraceBuffer:
    """One ring buffer per emulated CPU (``buffer_size_kb`` each, like tracefs)."""

    def __cinit__(self, int ncpus, uint32_t buffer_size_kb=1408, Clock clock=None,
                  bint overwrite=True):
        cdef int c
        self.ncpus = ncpus
        self.mode = RING_OVERWRITE if overwrite else RING_DROP
        self.cpus = <cpu_buffer*>calloc(ncpus, sizeof(cpu_buffer))
        if self.cpus == NULL:
            raise MemoryError()
        cdef uint32_t nr_pages = max(2, (buffer_size_kb * 1024) // SUBBUF_SIZE)
        for c in range(ncpus):
            # calloc: pages cost host memory only once records are written to them
            self.cpus[c].pages = <uint8_t*>calloc(nr_pages, SUBBUF_SIZE)
            self.cpus[c].page_entries = <uint32_t*>calloc(nr_pages, sizeof(uint32_t))
            if self.cpus[c].pages == NULL or self.cpus[c].page_entries == NULL:
                raise MemoryError()
            self.cpus[c].nr_pages = nr_pages
            self.cpus[c].used_pages = 1
        memset(self.core, 0, sizeof(self.core))
        for c in range(N_EVENT_SLOTS):
            self.core[c].str_off = 0xffff
        self.clock = clock if clock is not None else Clock()
        self.any_enabled = False
        self.ctx_flags = 0
        self.ctx_preempt = 0

    def __dealloc__(self):
        cdef int c
        if self.cpus != NULL:
            for c in range(self.ncpus):
                free(self.cpus[c].pages)
                free(self.cpus[c].page_entries)
            free(self.cpus)

    @property
    def ncpus(self):
        return self.ncpus

    @property
    def overwrite(self):
        """options/overwrite: whether a full buffer overwrites its oldest page (else it drops
        the new record).  Always False while streaming (nothing is lost)."""
        return self.mode == RING_OVERWRITE

    @property
    def nr_pages(self):
        """Sub-buffer pages per CPU (buffer_size_kb * 1024 / 4096, at least 2)."""
        return self.cpus[0].nr_pages if self.ncpus else 0

    def start_streaming(self):
        """Switch to RING_STREAM before any record is written: from now on a reader takes the
        full pages (:meth:`take_pages`) and the buffer grows until it does."""
        cdef int c
        for c in range(self.ncpus):
            if self.cpus[c].entries or self.cpus[c].dropped:
                raise ValueError("the trace buffer already holds records; stream from the start")
        self.mode = RING_STREAM

    # -- binding core events to declarations -------------------------------------------------
    def bind_core_event(self, int ev, int type_id, int fixed_size, offsets, sizes,
                        int str_off=0xffff, int common_flags=0, int preempt_count=0):
        """Give core event ``ev`` its record layout: offsets/sizes in the core's value order."""
        cdef int i
        if not 0 <= ev < N_EVENT_SLOTS or len(offsets) > MAX_EVENT_FIELDS:
            raise ValueError(f"bad core event slot {ev}")
        self.core[ev].type_id = type_id
        self.core[ev].fixed_size = fixed_size
        self.core[ev].nfields = len(offsets)
        for i in range(len(offsets)):
            self.core[ev].off[i] = offsets[i]
            self.core[ev].size[i] = sizes[i]
        self.core[ev].str_off = str_off
        self.core[ev].common_flags = common_flags
        self.core[ev].preempt_count = preempt_count

    def set_core_enabled(self, int ev, bint on):
        if not 0 <= ev < N_EVENT_SLOTS:
            raise ValueError(f"bad event slot {ev}")
        self.core[ev].enabled = on and self.core[ev].fixed_size > 0
        self.any_enabled = any(self.core[i].enabled for i in range(N_EVENT_SLOTS))

    def core_enabled(self, int ev):
        if not 0 <= ev < N_EVENT_SLOTS:
            raise ValueError(f"bad event slot {ev}")
        return bool(self.core[ev].enabled)

    # -- writing ---------------------------------------------------------------------------
    cdef int write(self, int cpu, const uint8_t* data, uint32_t length) except -1:
        """Append one record (rb_reserve_next_event + rb_commit), timestamped with the clock."""
        cdef cpu_buffer* cb = &self.cpus[cpu]
        cdef uint64_t ts = self.clock.now
        cdef uint32_t plen = (length + 3) & ~3u
        cdef uint32_t need = plen + 4
        if plen > RINGBUF_TYPE_DATA_TYPE_LEN_MAX * 4:
            need += 4
        cdef uint64_t delta
        cdef uint8_t* page
        cdef uint32_t* hdr
        if need > SUBBUF_SIZE - SUBBUF_HDR:          # would run past the end of any page
            raise ValueError(f"a {length}-byte trace record does not fit a {SUBBUF_SIZE}-byte "
                             f"sub-buffer (at most {SUBBUF_SIZE - SUBBUF_HDR - 8} bytes)")
        if cb.entries > 0:
            delta = ts - cb.last_ts if ts >= cb.last_ts else 0
        else:
            delta = 0
        if cb.tail > 0 and delta > TS_MASK:
            need += 8
        if cb.tail + need > SUBBUF_SIZE - SUBBUF_HDR:
            if not self.next_page(cb):
                cb.dropped += 1
                return 0
        page = cb.pages + <uint64_t>cb.head_page * SUBBUF_SIZE
        if cb.tail == 0:
            (<uint64_t*>page)[0] = ts
            delta = 0
        elif delta > TS_MASK:
            hdr = <uint32_t*>(page + SUBBUF_HDR + cb.tail)
            hdr[0] = RINGBUF_TYPE_TIME_EXTEND | <uint32_t>((delta & TS_MASK) << 5)
            hdr[1] = <uint32_t>(delta >> TS_SHIFT)
            cb.tail += 8
            delta = 0
        hdr = <uint32_t*>(page + SUBBUF_HDR + cb.tail)
        if plen <= RINGBUF_TYPE_DATA_TYPE_LEN_MAX * 4:
            hdr[0] = (plen >> 2) | <uint32_t>(delta << 5)
            memcpy(<uint8_t*>hdr + 4, data, length)
            if plen > length:
                memset(<uint8_t*>hdr + 4 + length, 0, plen - length)
            cb.tail += 4 + plen
        else:
            hdr[0] = <uint32_t>(delta << 5)
            hdr[1] = plen + 4
            memcpy(<uint8_t*>hdr + 8, data, length)
            if plen > length:
                memset(<uint8_t*>hdr + 8 + length, 0, plen - length)
            cb.tail += 8 + plen
        (<uint64_t*>page)[1] = cb.tail
        cb.last_ts = ts
        cb.entries += 1
        cb.page_entries[cb.head_page] += 1
        return 0

    cdef int next_page(self, cpu_buffer* cb) except -1:
        """rb_move_tail(): the head page is full, the writer moves to the next one.  0 when it
        cannot (RING_DROP and every page is used: the record is dropped); RING_OVERWRITE
        first frees the oldest page (rb_handle_head_page: its records become overrun);
        RING_STREAM grows the buffer when the reader has not taken the full pages yet."""
        cdef uint32_t n
        cdef uint8_t* pages
        cdef uint32_t* counts
        if self.mode == RING_STREAM:
            if cb.head_page + 1 >= cb.nr_pages:
                n = cb.nr_pages * 2
                pages = <uint8_t*>realloc(cb.pages, <size_t>n * SUBBUF_SIZE)
                if pages == NULL:
                    raise MemoryError()
                cb.pages = pages
                counts = <uint32_t*>realloc(cb.page_entries, <size_t>n * sizeof(uint32_t))
                if counts == NULL:
                    raise MemoryError()
                cb.page_entries = counts
                cb.nr_pages = n
            cb.head_page += 1
            cb.used_pages += 1
        elif cb.used_pages < cb.nr_pages:
            cb.head_page = (cb.head_page + 1) % cb.nr_pages
            cb.used_pages += 1
        elif self.mode == RING_OVERWRITE:
            cb.overrun += cb.page_entries[cb.first_page]
            cb.first_page = (cb.first_page + 1) % cb.nr_pages
            cb.head_page = (cb.head_page + 1) % cb.nr_pages
        else:
            return 0
        memset(cb.pages + <uint64_t>cb.head_page * SUBBUF_SIZE, 0, SUBBUF_SIZE)
        cb.page_entries[cb.head_page] = 0
        cb.tail = 0
        return 1

    cdef int emit(self, int ev, int cpu, int32_t pid, const uint64_t* vals,
                  const char* s, uint32_t slen) except -1:
        """Pack core event ``ev`` from ``vals`` (the core's value order) and write it, with the
        event's flags and preempt count plus the current context's (ctx_flags, ctx_preempt)."""
        cdef event_slot* sl = &self.core[ev]
        cdef uint8_t buf[512]
        cdef int i
        cdef uint32_t length = sl.fixed_size
        memset(buf, 0, sl.fixed_size)
        (<uint16_t*>buf)[0] = sl.type_id
        buf[2] = sl.common_flags | self.ctx_flags
        buf[3] = sl.preempt_count + self.ctx_preempt
        (<int32_t*>(buf + 4))[0] = pid
        for i in range(sl.nfields):
            if sl.size[i] == 8:
                memcpy(buf + sl.off[i], &vals[i], 8)
            elif sl.size[i] == 4:
                (<uint32_t*>(buf + sl.off[i]))[0] = <uint32_t>vals[i]
            elif sl.size[i] == 2:
                (<uint16_t*>(buf + sl.off[i]))[0] = <uint16_t>vals[i]
            elif sl.size[i] == 1:
                buf[sl.off[i]] = <uint8_t>vals[i]
        if sl.str_off != 0xffff:
            if slen + 1 + length > sizeof(buf):
                slen = sizeof(buf) - length - 1
            (<uint32_t*>(buf + sl.str_off))[0] = length | ((slen + 1) << 16)
            memcpy(buf + length, s, slen)
            buf[length + slen] = 0
            length += slen + 1
        return self.write(cpu, buf, length)

    def write_record(self, int cpu, bytes record):
        """Write an already-packed record (common header included): the path for Python events."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu {cpu} out of range")
        self.write(cpu, <const uint8_t*><char*>record, len(record))

    def emit_core(self, int ev, int cpu, int pid, values, str s=None):
        """Python entry to the core emitter (tests, Python-side subsystems)."""
        cdef uint64_t vals[MAX_EVENT_FIELDS]
        cdef int i
        if not 0 <= ev < N_EVENT_SLOTS or len(values) > MAX_EVENT_FIELDS:
            raise ValueError(f"bad event slot {ev} or too many values")
        for i, v in enumerate(values):
            vals[i] = <uint64_t>(v & 0xffffffffffffffff)
        b = s.encode() if s is not None else b""
        if self.core[ev].enabled:
            self.emit(ev, cpu, pid, vals, b, len(b))

    # -- reading ---------------------------------------------------------------------------
    def stats(self):
        """Per-CPU (records written, records dropped because the buffer was full)."""
        return [(self.cpus[c].entries, self.cpus[c].dropped) for c in range(self.ncpus)]

    def cpu_stats(self, int cpu):
        """per_cpu/cpuN/stats of one CPU: ``entries`` (records in the buffer), ``overrun``
        (overwritten), ``dropped`` (refused while full, overwrite off) and ``written`` (entries
        + overrun: what the trace file's ``entries-written`` counts)."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu {cpu} out of range")
        cdef cpu_buffer* cb = &self.cpus[cpu]
        return {"entries": cb.entries - cb.overrun, "overrun": cb.overrun,
                "dropped": cb.dropped, "written": cb.entries}

    def lost(self):
        """Records lost on every CPU: overwritten plus dropped (0 while streaming)."""
        cdef int c
        cdef uint64_t n = 0
        for c in range(self.ncpus):
            n += self.cpus[c].overrun + self.cpus[c].dropped
        return n

    def full_pages(self):
        """Full pages waiting for the reader, on every CPU (RING_STREAM)."""
        cdef int c
        cdef uint64_t n = 0
        if self.mode != RING_STREAM:
            return 0
        for c in range(self.ncpus):
            n += self.cpus[c].head_page
        return n

    def take_pages(self, int cpu):
        """RING_STREAM: the full pages of ``cpu`` not taken yet, oldest first, as one bytes
        object (4096 bytes a page; ring_buffer_read_page() of each); the page being written
        stays.  The empty bytes when there is none."""
        if self.mode != RING_STREAM:
            raise ValueError("take_pages needs a streaming buffer (start_streaming)")
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu {cpu} out of range")
        cdef cpu_buffer* cb = &self.cpus[cpu]
        cdef uint32_t n = cb.head_page
        if n == 0:
            return b""
        out = (<char*>cb.pages)[:<uint64_t>n * SUBBUF_SIZE]
        memmove(cb.pages, cb.pages + <uint64_t>n * SUBBUF_SIZE, SUBBUF_SIZE)
        cb.page_entries[0] = cb.page_entries[n]
        cb.head_page = 0
        cb.used_pages = 1
        return out

    def head_page(self, int cpu):
        """A copy of the page ``cpu`` is writing (b"" while it holds no record): with
        :meth:`take_pages`, what a reader of trace_pipe sees."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu {cpu} out of range")
        cdef cpu_buffer* cb = &self.cpus[cpu]
        if cb.tail == 0:
            return b""
        return (<char*>cb.pages)[<uint64_t>cb.head_page * SUBBUF_SIZE:
                                 <uint64_t>(cb.head_page + 1) * SUBBUF_SIZE]

    def subbuffers(self, int cpu):
        """The used sub-buffer pages of one CPU as bytes objects, oldest first (what
        trace_pipe_raw returns; while streaming, the pages not taken yet)."""
        cdef cpu_buffer* cb = &self.cpus[cpu]
        out = []
        cdef uint32_t i, p
        if cb.tail == 0:                    # nothing written yet (a new page is written at once)
            return out
        for i in range(cb.used_pages):
            p = (cb.first_page + i) % cb.nr_pages
            out.append((<char*>cb.pages)[<uint64_t>p * SUBBUF_SIZE:<uint64_t>(p + 1) * SUBBUF_SIZE])
        return out

    def records(self, int cpu):
        """Decode one CPU's records: yields (timestamp_ns, payload bytes)."""
        for page in self.subbuffers(cpu):
            yield from decode_subbuffer(page)


def decode_subbuffer(bytes page):
    """Decode one sub-buffer page (header + records) into (timestamp_ns, payload) pairs."""
    cdef const uint8_t* p = <const uint8_t*><char*>page
    cdef uint64_t ts = (<const uint64_t*>p)[0]
    cdef uint64_t commit = (<const uint64_t*>p)[1] & ((1ULL << 27) - 1)
    cdef uint64_t pos = 0
    cdef uint32_t h, tl, delta, length
    out = []
    while pos + 4 <= commit:
        h = (<const uint32_t*>(p + SUBBUF_HDR + pos))[0]
        tl = h & 31
        delta = h >> 5
        if tl == RINGBUF_TYPE_PADDING:
            if delta == 0:
                break
            length = (<const uint32_t*>(p + SUBBUF_HDR + pos + 4))[0]
            pos += 4 + length
            continue
        elif tl == RINGBUF_TYPE_TIME_EXTEND:
            ts += delta + ((<uint64_t>(<const uint32_t*>(p + SUBBUF_HDR + pos + 4))[0]) << TS_SHIFT)
            pos += 8
            continue
        elif tl == 31:                          # absolute time stamp
            ts = delta + ((<uint64_t>(<const uint32_t*>(p + SUBBUF_HDR + pos + 4))[0]) << TS_SHIFT)
            pos += 8
            continue
        ts += delta
        if tl == 0:
            length = (<const uint32_t*>(p + SUBBUF_HDR + pos + 4))[0] - 4
            out.append((ts, page[SUBBUF_HDR + pos + 8:SUBBUF_HDR + pos + 8 + length]))
            pos += 8 + length
        else:
            length = tl * 4
            out.append((ts, page[SUBBUF_HDR + pos + 4:SUBBUF_HDR + pos + 4 + length]))
            pos += 4 + length
    return out
