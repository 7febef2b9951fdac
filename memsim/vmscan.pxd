# cython: language_level=3
"""Page reclaim (mm/vmscan.c): scan_control and the shrink_* paths over the LRU lists."""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem, lruvec
from memsim.mm cimport MmCore, AddressSpace

cdef enum:
    SWAP_CLUSTER_MAX = 32
    DEF_PRIORITY = 12

# struct reclaim_stat (v5.14 mm/vmscan.c): what shrink_page_list saw, for the
# mm_vmscan_lru_shrink_inactive event and the dirty/writeback throttling
cdef struct reclaim_stat:
    unsigned int nr_dirty
    unsigned int nr_unqueued_dirty
    unsigned int nr_congested
    unsigned int nr_writeback
    unsigned int nr_immediate
    unsigned int nr_pageout
    unsigned int nr_activate[2]         # [0] anon, [1] file
    unsigned int nr_ref_keep
    unsigned int nr_unmap_fail
    unsigned int nr_lazyfree_fail

# struct scan_control (the parts memsim uses)
cdef struct scan_control:
    uint64_t nr_to_reclaim
    gfp_t gfp_mask
    int order
    int priority
    int reclaim_idx
    bint may_unmap
    bint may_swap
    bint kswapd                         # current_is_kswapd()
    uint64_t nr_scanned
    uint64_t nr_reclaimed

cdef class Vmscan:
    cdef PhysMem pm
    cdef MmCore core
    cdef public int swappiness          # vm_swappiness (/proc/sys/vm/swappiness), 60
    cdef uint64_t shrink_list(self, int lru, uint64_t nr_to_scan, lruvec* lv, scan_control* sc) except? 0xffffffffffffffff
    cdef uint64_t shrink_inactive_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except? 0xffffffffffffffff
    cdef int shrink_active_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except -1
    cdef int isolate_lru_pages(self, uint64_t nr_to_scan, lruvec* lv, pfn_t* dst, int lru,
                               uint64_t* nr_scanned) except -1
    cdef uint64_t shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                   reclaim_stat* stat) except? 0xffffffffffffffff
    cdef bint remove_mapping(self, AddressSpace mapping, pfn_t pfn, bint reclaimed) except -1
    cdef int shrink_lruvec(self, lruvec* lv, scan_control* sc) except -1
    cdef int _putback(self, lruvec* lv, pfn_t pfn, int lru_base) except -1
    cdef uint64_t do_try_to_free_pages(self, int nid, uint64_t nr_to_reclaim, gfp_t gfp, int order,
                                       int reclaim_idx, bint kswapd) except? 0xffffffffffffffff
