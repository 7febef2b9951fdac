# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Per-CPU ring buffers of binary trace records, in the kernel's sub-buffer page format.

Models kernel/trace/ring_buffer.c: each CPU owns ``nr_pages`` sub-buffer pages of 4096 bytes, a
16-byte header (u64 timestamp of the first record, u64 commit = bytes of data) and records with a
32-bit header (type_len:5, time_delta:27).  Payloads up to 112 bytes use type_len = len/4; larger
ones store the length in the next word (type_len 0).  Deltas of 2**27 ns or more are preceded by a
time-extend record (type_len 30).  Unlike the kernel's default overwrite mode, a full buffer drops
the new record and counts it (``options/overwrite`` = 0), so what was written is never lost.
"""
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

# RINGBUF_TYPE_*, TS_SHIFT and TS_DELTA_MASK are declared in ring.pxd
cdef uint64_t TS_MASK = TS_DELTA_MASK


cdef class Clock:
    def __init__(self, uint64_t start=0):
        self.now = start


cdef class TraceBuffer:
    """One ring buffer per emulated CPU (``buffer_size_kb`` each, like tracefs)."""

    def __cinit__(self, int ncpus, uint32_t buffer_size_kb=1408, Clock clock=None):
        cdef int c
        self.ncpus = ncpus
        self.cpus = <cpu_buffer*>calloc(ncpus, sizeof(cpu_buffer))
        if self.cpus == NULL:
            raise MemoryError()
        cdef uint32_t nr_pages = max(2, (buffer_size_kb * 1024) // SUBBUF_SIZE)
        for c in range(ncpus):
            # calloc: pages cost host memory only once records are written to them
            self.cpus[c].pages = <uint8_t*>calloc(nr_pages, SUBBUF_SIZE)
            if self.cpus[c].pages == NULL:
                raise MemoryError()
            self.cpus[c].nr_pages = nr_pages
        memset(self.core, 0, sizeof(self.core))
        for c in range(N_EVENT_SLOTS):
            self.core[c].str_off = 0xffff
        self.clock = clock if clock is not None else Clock()
        self.any_enabled = False

    def __dealloc__(self):
        cdef int c
        if self.cpus != NULL:
            for c in range(self.ncpus):
                free(self.cpus[c].pages)
            free(self.cpus)

    @property
    def ncpus(self):
        return self.ncpus

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
        if cb.entries > 0 or cb.tail > 0 or cb.head_page > 0:
            delta = ts - cb.last_ts if ts >= cb.last_ts else 0
        else:
            delta = 0
        if cb.tail > 0 and delta > TS_MASK:
            need += 8
        if cb.tail + need > SUBBUF_SIZE - SUBBUF_HDR:
            if cb.head_page + 1 >= cb.nr_pages:
                cb.dropped += 1
                return 0
            cb.head_page += 1
            cb.tail = 0
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
        return 0

    cdef int emit(self, int ev, int cpu, int32_t pid, const uint64_t* vals,
                  const char* s, uint32_t slen) except -1:
        """Pack core event ``ev`` from ``vals`` (the core's value order) and write it."""
        cdef event_slot* sl = &self.core[ev]
        cdef uint8_t buf[512]
        cdef int i
        cdef uint32_t length = sl.fixed_size
        memset(buf, 0, sl.fixed_size)
        (<uint16_t*>buf)[0] = sl.type_id
        buf[2] = sl.common_flags
        buf[3] = sl.preempt_count
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
        """Per-CPU (entries, dropped)."""
        return [(self.cpus[c].entries, self.cpus[c].dropped) for c in range(self.ncpus)]

    def subbuffers(self, int cpu):
        """The used sub-buffer pages of one CPU as bytes objects (what trace_pipe_raw returns)."""
        cdef cpu_buffer* cb = &self.cpus[cpu]
        out = []
        cdef uint32_t p
        cdef uint32_t last = cb.head_page
        if cb.tail == 0 and cb.head_page == 0:
            return out
        for p in range(last + 1):
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
