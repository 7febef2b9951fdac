# cython: language_level=3
"""The mm's invariants against the page tables (--check), checked on what changed (memsim.mmcheck)."""
from libc.stdint cimport int32_t, int64_t, uint64_t
from memsim._types cimport pfn_t
from memsim.mm cimport MmCore, MmStruct, PageTables
from memsim.physmem cimport PhysMem

cdef enum:
    NR_TABLE_COUNTS = 5                 # MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES, hugetlb

cdef class TableShadow:
    cdef uint64_t mm_seq                # the mm whose tables it belongs to
    cdef uint64_t base                  # the first address it maps
    cdef int level                      # 2 pud, 3 pmd, 4 pte table
    cdef uint64_t snap[512]             # its entries at the last check
    cdef int64_t counts[NR_TABLE_COUNTS]    # pages its entries add to each counter

cdef struct pfn_vec:
    pfn_t* v
    size_t n
    size_t cap

cdef class MmCheck:
    cdef MmCore core
    cdef PageTables pgt
    cdef PhysMem pm
    cdef bint ready                     # the shadow is complete (a full check was made)
    cdef int32_t* pte_maps              # per pfn: present, non-special PTEs mapping it
    cdef int32_t* leaf_maps             # per head pfn: huge leaves mapping it
    cdef dict tables                    # table pfn -> TableShadow
    cdef dict totals                    # mm seq -> list of NR_TABLE_COUNTS page counts
    cdef pfn_vec touched                # pfns whose PTEs changed since the last check
    cdef pfn_vec touched_leaves         # heads whose huge leaves changed
    cdef pfn_vec heads
    cdef readonly uint64_t tables_examined   # statistics: tables diffed by the last check
    cdef void _drop_changes(self) noexcept
    cdef int _reset(self) except -1
    cdef int _map(self, uint64_t e, int level, int sign) except -1
    cdef int _count(self, TableShadow sh, MmStruct mm, int64_t* counts) except -1
    cdef int _update(self, pfn_t table, uint64_t mm_seq, uint64_t addr, int level,
                     dict mms) except -1
    cdef int _forget(self, pfn_t table) except -1
    cdef int _walk_tables(self, MmStruct mm, pfn_t table, int level, uint64_t base,
                          dict pending) except -1
    cdef list _verify(self, list rss)
