# cython: language_level=3
"""Declarations of :mod:`memsim.tracing._flyrecord` (the trace.dat hot loop), for ``cimport``.

The field kinds (``FK_*``, chosen by :func:`memsim.tracing.tracedat.field_kind`), the per-CPU page
cursor, and the extension types: :class:`EventLayout` (how one event's fields are decoded),
:class:`ColumnSink` (one event's columns in a batch) and :class:`FlyDecoder` (the merge of the
per-CPU page streams).  The implementation and the docstrings are in ``_flyrecord.pyx``.
"""
from cpython.array cimport array
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

# How a field of a record is decoded (set by memsim.tracing.tracedat from the format file)
cdef enum:
    FK_UINT = 0         # unsigned integer of 1, 2, 4 or 8 bytes
    FK_SINT = 1         # signed integer of 1, 2, 4 or 8 bytes
    FK_CHARS = 2        # char name[N]: a NUL-terminated string
    FK_LOC_STR = 3      # __data_loc char[]: u32 offset | len << 16 of a string
    FK_REL_STR = 4      # __rel_loc char[]: offset relative to the end of the field
    FK_ARRAY = 5        # type name[N] of integers
    FK_LOC_ARRAY = 6    # __data_loc type[] of integers
    FK_REL_ARRAY = 7    # __rel_loc type[] of integers
    FK_RAW = 8          # an integer of another size (little/big endian as the file)

cdef struct cpu_cursor:
    const uint8_t* block        # current block of whole pages (bytes object in FlyDecoder.blocks)
    Py_ssize_t block_len
    Py_ssize_t page_off         # start of the next page in the block
    const uint8_t* data         # data area of the current page
    uint32_t size               # bytes of data in the current page (commit)
    uint32_t pos                # offset of the next record header in the data area
    uint64_t ts                 # running timestamp of the page
    uint64_t rec_ts             # current record: timestamp, payload, length
    const uint8_t* rec
    uint32_t rec_len
    int64_t page_no             # index of the current page in this CPU's stream
    uint32_t page_size          # sub-buffer size of this stream's buffer
    bint has_page
    bint has_rec
    bint done


cdef class EventLayout:
    cdef readonly int type_id
    cdef readonly object system
    cdef readonly object name
    cdef readonly object full_name
    cdef readonly tuple names
    cdef readonly tuple colnames   # the column of each field (memsim.tracing.columns.column_name)
    cdef int nfields
    cdef int* kind
    cdef int* offset
    cdef int* size
    cdef int* elem
    cdef uint32_t min_len
    cdef tuple int_q            # per field: "q"/"Q" typecode for an integer column, None otherwise


cdef class ColumnSink:
    cdef EventLayout L
    cdef array seq, ts, cpu, pid
    cdef list comm, flags, buffer
    cdef list cols                  # per field: array (integers) or list
    cdef Py_ssize_t n               # rows filled
    cdef Py_ssize_t cap             # rows the arrays have room for
    cdef int64_t* cptr[4]           # data of seq, ts, cpu, pid
    cdef int64_t** fptr             # per field: data of its array, NULL for a list

    cdef int reserve(self, Py_ssize_t cap) except -1


cdef class FlyDecoder:
    cdef int ncpus
    cdef cpu_cursor* cur
    cdef list cpu_ids
    cdef list buffer_names      # per stream: the tracefs instance ("" = the top level)
    cdef list labels            # per stream: where its damage is reported ("cpu 1")
    cdef list sources
    cdef list blocks
    cdef list layouts           # 65536 entries by common_type: EventLayout, False, None (not asked)
    cdef object reader
    cdef object name
    cdef object record_cls
    cdef object irq_info
    cdef int width
    cdef uint32_t page_size
    cdef uint32_t data_off
    cdef int long_size
    cdef bint big
    cdef bint swap
    cdef int64_t ts_offset
    cdef dict comms
    cdef list flag_strs
    cdef int last_pid
    cdef object last_comm
    cdef readonly list missed           # per stream: events lost before pages (-1 = unknown)
    cdef readonly list missed_pages     # per stream: pages that say events were lost before them
    cdef readonly int64_t nrecords
    cdef readonly list counts           # per stream: records yielded
    cdef int cur_cpu
    cdef dict sinks
    cdef int64_t seq

    cdef int bad(self, int c, str msg) except -1
    cdef int next_page(self, int c) except -1
    cdef int next_record(self, int c) except -1
    cdef int advance(self) except -1
    cdef object comm_of(self, int pid)
    cdef object flags_of(self, uint8_t flags, uint8_t preempt)
    cdef object field_value(self, EventLayout L, int i, const uint8_t* p, uint32_t n)
    cdef EventLayout layout_of(self, int c)
