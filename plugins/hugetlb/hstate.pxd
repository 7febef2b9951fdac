# cython: language_level=3
"""The hugetlb pool (mm/hugetlb.c): struct hstate, its per-node free lists and counters, and
the pool primitives every other hugetlb module builds on (resize, reservations, faults,
alloc_contig_range).  ``cimport`` this to call them from C; Python sees the counters and thin
``def`` wrappers."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem

# The hugetlb page flags kept in the head page's private word (enum hugetlb_page_flags).
cdef enum:
    HPG_restore_reserve = 1 << 0
    HPG_migratable = 1 << 1
    HPG_temporary = 1 << 2
    HPG_freed = 1 << 3

cdef enum:
    HUGETLB_MAX_NODES = 64              # node masks are one 64-bit word
    HUGE_MAX_HSTATE = 2


cdef class Hstate:
    """struct hstate: one huge page size."""
    cdef readonly Hugetlb hugetlb
    cdef readonly int index             # hstate_index(): 0 for 2 MiB, 1 for 1 GiB
    cdef readonly unsigned int order
    cdef readonly str name              # "hugepages-2048kB"
    cdef readonly object resize_lock    # memsim.sched.Mutex, or None before the scheduler seam
    cdef public int next_nid_to_alloc
    cdef public int next_nid_to_free
    cdef public uint64_t max_huge_pages
    cdef public uint64_t nr_huge_pages
    cdef public uint64_t free_huge_pages
    cdef public uint64_t resv_huge_pages
    cdef public uint64_t surplus_huge_pages
    cdef public uint64_t nr_overcommit_huge_pages
    cdef public unsigned int demote_order   # v5.16+: the order a demote splits a page into (0: none)
    cdef uint64_t nr_huge_pages_node[HUGETLB_MAX_NODES]
    cdef uint64_t free_huge_pages_node[HUGETLB_MAX_NODES]
    cdef uint64_t surplus_huge_pages_node[HUGETLB_MAX_NODES]
    cdef uint32_t freelist[HUGETLB_MAX_NODES]   # hugepage_freelists[node]: circular, head first (LIFO)
    cdef uint32_t activelist                    # hugepage_activelist

    cdef bint is_gigantic(self) noexcept
    cdef uint64_t persistent(self) noexcept
    cdef int pick_alloc_node(self, int* cursor, uint64_t mask) noexcept
    cdef int pick_free_node(self, uint64_t mask) noexcept
    cdef pfn_t alloc_buddy_huge_page(self, gfp_t gfp, int nid, uint64_t* noretry) except? 0xfffffffffffffffe
    cdef pfn_t _alloc_gigantic_page(self, gfp_t gfp, int nid) except? 0xfffffffffffffffe
    cdef pfn_t alloc_fresh_huge_page(self, gfp_t gfp, int nid, uint64_t* noretry) except? 0xfffffffffffffffe
    cdef int prep_new_huge_page(self, pfn_t head) except -1
    cdef int prep_account_new_huge_page(self, int nid) except -1
    cdef int enqueue_huge_page(self, pfn_t head) except -1
    cdef pfn_t dequeue_huge_page_node_exact(self, int nid) except? 0xfffffffffffffffe
    cdef int remove_hugetlb_page(self, pfn_t head, bint adjust_surplus) except -1
    cdef int update_and_free_page(self, pfn_t head) except -1
    cdef pfn_t alloc_pool_huge_page(self, uint64_t mask, uint64_t* noretry, int* cursor) except? 0xfffffffffffffffe
    cdef pfn_t remove_pool_huge_page(self, uint64_t mask, bint acct_surplus) except? 0xfffffffffffffffe
    cdef bint adjust_pool_surplus(self, uint64_t mask, int delta) except -1
    cdef pfn_t alloc_surplus_huge_page(self, gfp_t gfp, int nid, uint64_t mask) except? 0xfffffffffffffffe
    cdef int free_huge_page(self, pfn_t head) except -1


cdef class Hugetlb:
    """The plugin's state on one machine: the hstates, the ops table the allocator calls
    (memsim.physmem's hugetlb_page_ops), and what the kernel profile and the seed switches
    decide."""
    cdef readonly PhysMem pm
    cdef readonly list hstates          # [Hstate]; hstates[0] is 2 MiB, hstates[1] 1 GiB
    cdef readonly Hstate default_hstate
    cdef readonly int nr_nodes
    cdef readonly uint64_t memory_nodes # node_states[N_MEMORY] as a mask
    cdef public gfp_t htlb_alloc_mask   # htlb_alloc_mask(h): GFP_HIGHUSER_MOVABLE of the profile
    cdef public bint contig_alloc       # CONFIG_CONTIG_ALLOC: gigantic pages at run time
    cdef public bint v6                 # v6.18 profile: folio-era behaviour (batching, NR_HUGETLB...)
    cdef public bint node_count_persistent  # v6.x: a node write counts persistent pages, not all
    cdef public object task_work        # callable(fn) queuing the completion of a free, or None
    cdef public bint resize_mutex       # hugetlb-resize-mutex: set_max_huge_pages takes resize_lock
    cdef public dict stats              # what the model counts for the patch metrics
    cdef public long shm_group          # sysctl_hugetlb_shm_group
    cdef public object contig           # memsim.plugins.hugetlb.contig.Contig (alloc_contig_range)
    cdef public int sync_free           # > 0: the plugin's own code is putting pages: free at once
    cdef public object mappings         # memsim.plugins.hugetlb.fault.HugetlbMaps (mappings, faults)

    cdef Hstate page_hstate(self, pfn_t head)
