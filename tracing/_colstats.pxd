# cython: language_level=3
"""Declarations of :mod:`memsim.tracing._colstats` (the per-row loops of ``trace stats``), for
``cimport``: the rss_stat accumulators :class:`RssCounter` and :class:`MmRss`.  The
implementation and the docstrings are in ``_colstats.pyx``."""
from libc.stdint cimport int64_t

cdef extern from *:
    """
    typedef __int128 ms_i128;
    """
    ctypedef long long ms_i128          # a 128-bit integer (exact sums and RSS totals)


cdef class RssCounter:
    cdef public int64_t first, last, min, max, updates, first_ts, last_ts
    cdef public object ts, size         # array('q') of every point with timeline, else None

    cpdef int update(self, int64_t ts, int64_t size) except -1


cdef class MmRss:
    cdef public object mm_id
    cdef public dict counters           # member -> RssCounter
    cdef public dict tasks              # pid -> comm
    cdef int64_t current[4]             # bytes by member 0..3
    cdef list slots                     # the RssCounter of member 0..3, or None
    cdef ms_i128 peak128                # largest FILE + ANON + SHMEM seen
    cdef public object life             # 0 for the first mm with its id, 1 the next...
    cdef public object owner            # comm-pid (stats.MmLives's rules), or None
    cdef public bint ended              # torn down within the trace
