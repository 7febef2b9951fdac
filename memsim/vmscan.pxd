# cython: language_level=3
"""Page reclaim (mm/vmscan.c): scan_control and the shrink_* paths over the LRU lists."""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem, lruvec
from memsim.mm cimport MmCore, AddressSpace
from memsim.shrinker cimport ShrinkerList

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

cdef enum scan_balance:
    SCAN_EQUAL = 0
    SCAN_FRACT = 1
    SCAN_ANON = 2
    SCAN_FILE = 3

cdef enum:
    DEACTIVATE_ANON = 1
    DEACTIVATE_FILE = 2

# struct scan_control (the parts memsim uses)
cdef struct scan_control:
    uint64_t nr_to_reclaim
    gfp_t gfp_mask
    int order
    int priority
    int reclaim_idx
    bint may_unmap
    bint may_swap
    bint may_writepage
    bint kswapd                         # current_is_kswapd()
    unsigned int may_deactivate         # DEACTIVATE_ANON | DEACTIVATE_FILE (prepare_scan_count)
    bint skipped_deactivate
    bint cache_trim_mode
    bint file_is_tiny
    uint64_t anon_cost                  # the lruvec's anon_cost / file_cost when shrink_node began
    uint64_t file_cost
    uint64_t nr_scanned
    uint64_t nr_reclaimed
    # sc->nr: what shrink_inactive_list saw in this shrink_node pass
    uint64_t nr_dirty
    uint64_t nr_unqueued_dirty
    uint64_t nr_congested
    uint64_t nr_writeback
    uint64_t nr_immediate
    uint64_t nr_taken
    uint64_t nr_file_taken
    # memcg (v5.14 struct scan_control): the memcg limit reclaim is for (a memcg id; 0: global
    # reclaim, target_mem_cgroup NULL), and memory.low's two passes
    int target_mem_cgroup
    bint memcg_low_reclaim              # the second pass: below-low memcgs are reclaimed too
    bint memcg_low_skipped              # a below-low memcg was skipped (or its scan cut)

# memcg's part of reclaim (mm/memcontrol.c as mm/vmscan.c calls it), installed by the memcg plugin
# in ``Vmscan.memcg``; memcgs are named by id, 0 meaning the root memcg (and, as a reclaim
# target, none: global reclaim).  NULL ops (no memcg): shrink_node shrinks the node's lruvec
# alone, as with CONFIG_MEMCG off.  The memcgs themselves are walked with
# ``PhysMem.lru_ops.mem_cgroup_iter`` and their lruvecs found with ``mem_cgroup_lruvec``.
# mem_cgroup_calculate_protection: the effective emin / elow of ``memcg`` under reclaim of ``root``.
# mem_cgroup_below_min / _below_low: emin / elow >= usage (v6.3+: never for the root memcg or the
#   reclaim target itself: mem_cgroup_unprotected).
# mem_cgroup_protection: what get_scan_count scales the scan by (0, 0 when memcg is the target).
# mem_cgroup_size: page_counter_read(&memcg->memory).  mem_cgroup_online: css online.
# memcg_memory_event: memory.events ``event`` (MEMCG_LOW) of ``memcg``.
# count_memcg_events: __count_memcg_events() of a vm_event_item (pgscan, pgsteal, pgrefill, ...).
ctypedef void (*mem_cgroup_calculate_protection_fn)(void* ctx, int root, int memcg) noexcept
ctypedef bint (*mem_cgroup_below_fn)(void* ctx, int root, int memcg) noexcept
ctypedef void (*mem_cgroup_protection_fn)(void* ctx, int root, int memcg, uint64_t* min,
                                          uint64_t* low) noexcept
ctypedef uint64_t (*mem_cgroup_size_fn)(void* ctx, int memcg) noexcept
ctypedef bint (*mem_cgroup_online_fn)(void* ctx, int memcg) noexcept
ctypedef void (*memcg_memory_event_fn)(void* ctx, int memcg, int event) noexcept
ctypedef void (*count_memcg_events_fn)(void* ctx, int memcg, int item, uint64_t n) noexcept

# mem_cgroup_get_nr_swap_pages: the free swap slots memcg ``memcg`` may still use (v2: limited by
#   swap.max of it and its ancestors); can_reclaim_anon_pages() of that memcg's lruvec scans anon
#   only when some are left.  NULL: the global count.
ctypedef int64_t (*mem_cgroup_get_nr_swap_pages_fn)(void* ctx, int memcg) noexcept

cdef struct memcg_reclaim_ops:
    mem_cgroup_calculate_protection_fn mem_cgroup_calculate_protection
    mem_cgroup_below_fn mem_cgroup_below_min
    mem_cgroup_below_fn mem_cgroup_below_low
    mem_cgroup_protection_fn mem_cgroup_protection
    mem_cgroup_size_fn mem_cgroup_size
    mem_cgroup_online_fn mem_cgroup_online
    memcg_memory_event_fn memcg_memory_event
    count_memcg_events_fn count_memcg_events
    mem_cgroup_get_nr_swap_pages_fn mem_cgroup_get_nr_swap_pages
    void* ctx

cdef enum:
    MEMCG_LOW_EVENT = 0                 # enum memcg_memory_event MEMCG_LOW

# The kswapd part of struct pglist_data, one per node (Vmscan.pgdat).
cdef struct pgdat_kswapd:
    int kswapd_order
    int kswapd_highest_zoneidx          # MAX_NR_ZONES: none asked for
    int kswapd_failures                 # balance_pgdat runs that reclaimed nothing, in a row
    bint kswapd_wait_active             # waitqueue_active(&pgdat->kswapd_wait)
    scan_control sc                     # balance_pgdat()'s scan_control while kswapd runs

# enum pgdat_flags: bits of pgdat->flags (Vmscan.pgdat_flags[nid]) that shrink_node sets for kswapd
cdef enum:
    PGDAT_DIRTY = 0                     # reclaim found only dirty file pages no one writes yet
    PGDAT_WRITEBACK = 1                 # reclaim found only pages under writeback

cdef class Vmscan:
    cdef PhysMem pm
    cdef MmCore core
    cdef public int swappiness          # vm_swappiness (/proc/sys/vm/swappiness), 60
    cdef public bint lru_cost_rotations # the profile's lru_note_cost (v6.3+: rotations count)
    cdef pgdat_kswapd* pgdat            # one per node
    cdef readonly list kswapd_wait      # pgdat->kswapd_wait per node (memsim.sched.WaitQueue), or None
    cdef memcg_reclaim_ops memcg        # memcg's part (NULL ops: none)
    cdef int memcg_reclaim_begin_slot   # trace slots of mm_vmscan_memcg_reclaim_begin / _end
    cdef int memcg_reclaim_end_slot     #   (plugin C events of the memcg plugin; -1: none)
    cdef public gfp_t gfp_highuser_movable  # the profile's GFP_HIGHUSER_MOVABLE (v5.14: with
                                            # __GFP_SKIP_KASAN_POISON)
    cdef bint can_reclaim_anon_pages(self, int nid, int memcg) noexcept
    cdef bint can_age_anon_pages(self) noexcept
    cdef lruvec* mem_cgroup_lruvec(self, int memcg, int nid) noexcept
    cdef uint64_t lruvec_lru_pages(self, lruvec* lv, int lru) noexcept
    cdef void count_memcg_events(self, lruvec* lv, int item, uint64_t n) noexcept
    cdef bint inactive_is_low(self, lruvec* lv, int inactive_lru) noexcept
    cdef void lru_note_cost(self, lruvec* lv, bint file, uint64_t nr_io, uint64_t nr_rotated) noexcept
    cdef uint64_t lruvec_lru_size(self, lruvec* lv, int lru, int zone_idx) noexcept
    cdef int get_scan_count(self, lruvec* lv, scan_control* sc, uint64_t* nr) except -1
    cdef public ShrinkerList shrinkers  # shrink_node's shrink_slab (memsim.shrinker); None: none
    cdef public bint pageout_file       # reclaim (kswapd) writes dirty file pages: v5.14, not v6.18
    cdef public bint flusher_writeback  # the flusher reclaim wakes writes the file mapping's
                                        # dirty pages reclaim meets (memsim has no flusher threads)
    cdef unsigned long pgdat_flags[256] # pgdat->flags of each node (PGDAT_*)
    cdef reclaim_stat last_stat         # what the last shrink_page_list saw
    cdef uint64_t shrink_list(self, int lru, uint64_t nr_to_scan, lruvec* lv, scan_control* sc) except? 0xffffffffffffffff
    cdef uint64_t shrink_inactive_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except? 0xffffffffffffffff
    cdef int shrink_active_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except -1
    cdef int isolate_lru_pages(self, uint64_t nr_to_scan, lruvec* lv, pfn_t* dst, int lru,
                               uint64_t* nr_scanned, scan_control* sc) except -1
    cdef uint64_t shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                   reclaim_stat* stat) except? 0xffffffffffffffff
    cdef bint remove_mapping(self, AddressSpace mapping, pfn_t pfn, bint reclaimed,
                             scan_control* sc) except -1
    # shrink_page_list's parts (mm/vmscan.c, mm/swap_state.c)
    cdef uint64_t _shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                    reclaim_stat* stat, pfn_t* tofree,
                                    int* nfree_out) except? 0xffffffffffffffff
    cdef int flusher_write(self, AddressSpace mapping, pfn_t pfn) except -1
    cdef int _keep(self, lruvec* lv, pfn_t pfn, bint file) except -1
    cdef int _activate(self, lruvec* lv, pfn_t pfn, bint file, reclaim_stat* stat) except -1
    cdef int page_check_references(self, pfn_t pfn, list vmas) except -1
    cdef int pageout(self, pfn_t pfn, AddressSpace mapping, bint file) except -1
    cdef bint add_to_swap(self, pfn_t pfn) except -1
    cdef bint remove_swap_mapping(self, pfn_t pfn) except -1
    cdef int delete_from_swap_cache(self, pfn_t pfn) except -1
    cdef int shrink_lruvec(self, lruvec* lv, scan_control* sc) except -1
    cdef int prepare_scan_count(self, int nid, scan_control* sc) noexcept
    cdef bint should_continue_reclaim(self, int nid, uint64_t nr_reclaimed, scan_control* sc) noexcept
    cdef int shrink_node(self, int nid, scan_control* sc) except -1
    cdef int shrink_node_memcgs(self, int nid, scan_control* sc) except -1
    cdef uint64_t try_to_free_mem_cgroup_pages(self, int memcg, uint64_t nr_pages, gfp_t gfp,
                                               bint may_swap) except? 0xffffffffffffffff
    cdef void snapshot_refaults(self, int target, int nid) noexcept
    cdef int _putback(self, lruvec* lv, pfn_t pfn, int lru_base) except -1
    cdef uint64_t do_try_to_free_pages(self, int nid, int nodes, scan_control* sc) except? 0xffffffffffffffff
    cdef bint pgdat_balanced(self, int nid, int order, int highest_zoneidx) noexcept
    cdef int wakeup_kswapd(self, int nid, int zid, gfp_t gfp, unsigned int order,
                           int highest_zoneidx) except -1
    cdef bint kswapd_shrink_node(self, int nid, scan_control* sc) except -1
