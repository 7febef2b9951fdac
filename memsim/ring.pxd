# cython: language_level=3
"""Per-CPU trace ring buffers and the emulated clock (kernel/trace/ring_buffer.c)."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

# Events emitted from C: the core's (slots 0..15, below) and the plugins' that declare a value
# order (EventDecl.c_values; slots from 16, given out by the EventRegistry).  Their layout comes
# from the active profile's declarations (memsim.tracing), bound into an event_slot each; C code
# tests ``tb.core[slot].enabled`` and calls ``tb.emit(slot, cpu, pid, vals, s, slen)``.
cdef enum:
    EV_RSS_STAT = 0
    EV_MM_PAGE_ALLOC = 1
    EV_MM_PAGE_FREE = 2
    EV_KMALLOC = 3
    EV_KFREE = 4
    EV_KMEM_CACHE_ALLOC = 5
    EV_KMEM_CACHE_FREE = 6
    EV_MM_PAGE_FREE_BATCHED = 7
    EV_MM_PAGE_ALLOC_ZONE_LOCKED = 8
    EV_MM_PAGE_PCPU_DRAIN = 9
    EV_KMALLOC_NODE = 10
    EV_KMEM_CACHE_ALLOC_NODE = 11
    EV_MM_LRU_INSERTION = 12
    EV_MM_LRU_ACTIVATE = 13
    EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN = 14
    EV_MM_VMSCAN_DIRECT_RECLAIM_END = 15
    EV_MM_VMSCAN_KSWAPD_WAKE = 16
    EV_MM_VMSCAN_KSWAPD_SLEEP = 17
    EV_MM_VMSCAN_WAKEUP_KSWAPD = 18
    EV_MM_VMSCAN_LRU_ISOLATE = 19
    EV_MM_VMSCAN_LRU_SHRINK_INACTIVE = 20
    EV_MM_VMSCAN_LRU_SHRINK_ACTIVE = 21
    EV_MM_SHRINK_SLAB_START = 23        # memsim.shrinker: do_shrink_slab
    EV_MM_SHRINK_SLAB_END = 24
    EV_RECLAIM_RETRY_ZONE = 25
    EV_MM_FILEMAP_ADD_TO_PAGE_CACHE = 26        # issue 12: the page cache (filemap.h)
    EV_MM_FILEMAP_DELETE_FROM_PAGE_CACHE = 27
    EV_MM_FILEMAP_FAULT = 28
    EV_MM_MIGRATE_PAGES = 29                    # issue 13: migrate_pages() (migrate.h)
    EV_MM_MIGRATE_PAGES_START = 30              # v6.18 only (a v5.14 machine never enables it)
    N_CORE_EVENTS = 32              # slots 0..31: the core's own events (EV_* above; 16-25 given out by issue 10, 26-28 by issue 12, 29-30 by issue 13)
    FIRST_PLUGIN_SLOT = 32          # slots 32..95: plugin events emitted from C
    N_EVENT_SLOTS = 96
    MAX_EVENT_FIELDS = 16
    SUBBUF_SIZE = 4096
    SUBBUF_HDR = 16

# The record header of a sub-buffer page (kernel/trace/ring_buffer.c, events/header_event):
# type_len:5, time_delta:27.  Shared by the writer here and the trace.dat decoder
# (memsim.tracing._flyrecord), which cimports them.
cdef enum:
    RINGBUF_TYPE_DATA_TYPE_LEN_MAX = 28
    RINGBUF_TYPE_PADDING = 29
    RINGBUF_TYPE_TIME_EXTEND = 30
    RINGBUF_TYPE_TIME_STAMP = 31
    TS_SHIFT = 27
    TS_DELTA_MASK = (1 << 27) - 1

cdef struct event_slot:
    uint16_t type_id
    uint8_t enabled
    uint8_t common_flags
    uint8_t preempt_count
    uint8_t nfields
    uint16_t fixed_size             # bytes of the fixed record (common header + fields)
    uint16_t off[MAX_EVENT_FIELDS]  # offset of each value, in the core's value order
    uint8_t size[MAX_EVENT_FIELDS]  # 0 = the field is absent in this profile
    uint16_t str_off                # offset of a __data_loc string field, 0xffff = none

# What a full ring does when a record needs a new page (TraceBuffer.mode; also in Python):
cpdef enum:
    RING_DROP = 0                   # options/overwrite = 0: the new record is dropped
    RING_OVERWRITE = 1              # options/overwrite = 1 (the kernel's default): the oldest
                                    #   page is overwritten, its records counted as overrun
    RING_STREAM = 2                 # a reader takes the full pages (trace-cmd record): the ring
                                    #   grows until it does, so no record is lost

cdef struct cpu_buffer:
    uint8_t* pages
    uint32_t* page_entries          # records on each page
    uint32_t nr_pages               # pages allocated
    uint32_t first_page             # oldest page in the buffer
    uint32_t used_pages             # pages in the buffer, first_page .. head_page (ring order)
    uint32_t head_page              # page being written
    uint32_t tail                   # write offset in the head page's data area
    uint64_t last_ts                # timestamp of the previous record on this CPU
    uint64_t entries                # records written (entries-written)
    uint64_t overrun                # of those, records lost to overwriting (RING_OVERWRITE)
    uint64_t dropped                # records not written: the buffer was full (RING_DROP)

cdef class Clock:
    """The emulated nanosecond clock (trace_clock_local of the emulated machine)."""
    cdef public uint64_t now

# trace_entry flag bits a record's context adds (include/linux/trace_events.h; the text
# renderer's tracing.text.TRACE_FLAG_*): what C code sets in TraceBuffer.ctx_flags.
cdef enum:
    TRACE_FLAG_IRQS_OFF = 0x01
    TRACE_FLAG_HARDIRQ = 0x08
    TRACE_FLAG_SOFTIRQ = 0x10

cdef class TraceBuffer:
    cdef int ncpus
    cdef readonly int mode                  # RING_DROP, RING_OVERWRITE or RING_STREAM
    cdef cpu_buffer* cpus
    cdef event_slot core[N_EVENT_SLOTS]     # by slot: the core's events, then plugins' C events
    cdef readonly Clock clock
    cdef public bint any_enabled
    # The context of the records being written (tracing_gen_ctx()): flag bits OR-ed into each
    # record's common_flags and a depth added to its preempt count, on top of the event's own
    # values.  0 and 0 outside such a section; C code that models a section the kernel runs
    # in another context (a softirq, under a spinlock) sets them around it and restores them.
    cdef public uint8_t ctx_flags
    cdef public uint8_t ctx_preempt
    cdef object __weakref__                 # EventRegistry keeps the buffers it updates weakly
    cdef int write(self, int cpu, const uint8_t* data, uint32_t length) except -1
    cdef int next_page(self, cpu_buffer* cb) except -1
    cdef int emit(self, int ev, int cpu, int32_t pid, const uint64_t* vals,
                  const char* s, uint32_t slen) except -1
