# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""vmstat: the zone, node and event counters of mm/vmstat.c, kept in C as the kernel keeps them.

The enums are those of Linux v5.14 (include/linux/mmzone.h, include/linux/vm_event_item.h) for an
x86-64 configuration with CONFIG_NUMA, CONFIG_ZSMALLOC, CONFIG_SWAP, CONFIG_TRANSPARENT_HUGEPAGE
(with PUD), CONFIG_HUGETLB_PAGE, CONFIG_COMPACTION, CONFIG_MIGRATION, CONFIG_NUMA_BALANCING and
CONFIG_MEMORY_BALLOON, and without CONFIG_CMA or CONFIG_SHADOW_CALL_STACK: the configuration
whose /proc/vmstat memsim prints.  The v6.18 text maps its names onto these counters
(memsim.mmstat); an item only 6.18 has is computed from memsim's state or printed as 0.

Where the counters live, as in the kernel:

* ``zone_vmstat.vm_stat[]`` (zone->vm_stat) and the machine-wide ``vm_zone_stat[]``, with a
  per-CPU ``per_cpu_zonestat`` of s8 differentials and a stat_threshold in front of them;
  the NUMA events (numa_hit, ...) as per-CPU unsigned longs per zone, folded when read;
* ``node_vmstat.vm_stat[]`` (pgdat->vm_stat) and ``vm_node_stat[]``, with ``per_cpu_nodestat``;
* ``vm_event_states[cpu].event[]``: per-CPU event counters, summed when read (all_vm_events).

Differentials are folded into the zone, node and global counters when they pass the threshold,
by ``refresh_cpu_vm_stats`` (vmstat_update, every ``stat_interval`` of emulated time) and by a
write to /proc/sys/vm/stat_refresh: /proc/vmstat lags the true value by at most
threshold x CPUs per item, as on a real machine.

C code updates a counter with no Python call: ``cimport`` this module and call the ``cdef inline``
helpers below on the machine's ``vmstat_t*`` (``PhysMem.vs``), e.g.::

    from memsim.vmstat cimport __mod_zone_page_state, __count_vm_events, NR_FREE_PAGES, PGFREE
    __count_vm_events(self.pm.vs, PGFREE, 1)

The helpers run on the current CPU (``vs.cpu`` points at ``Current.cpu``), like this_cpu ops.
"""
from libc.stdint cimport int8_t, int64_t, uint64_t
from memsim._types cimport MAX_NR_ZONES, MIGRATE_CMA, PAGE_SHIFT, PG_NODE_SHIFT, PG_ZONE_SHIFT
from memsim.page cimport page

# enum numa_stat_item (v5.14: NUMA events, per-CPU per zone, folded on read)
cpdef enum numa_stat_item:
    NUMA_HIT                    # allocated in intended node
    NUMA_MISS                   # allocated in non intended node
    NUMA_FOREIGN                # was intended here, hit elsewhere
    NUMA_INTERLEAVE_HIT         # interleaver preferred this zone
    NUMA_LOCAL                  # allocation from local node
    NUMA_OTHER                  # allocation from other node
    NR_VM_NUMA_EVENT_ITEMS

# enum zone_stat_item
cpdef enum zone_stat_item:
    NR_FREE_PAGES
    NR_ZONE_INACTIVE_ANON       # NR_ZONE_LRU_BASE
    NR_ZONE_ACTIVE_ANON
    NR_ZONE_INACTIVE_FILE
    NR_ZONE_ACTIVE_FILE
    NR_ZONE_UNEVICTABLE
    NR_ZONE_WRITE_PENDING       # dirty, writeback and unstable pages
    NR_MLOCK                    # mlock()ed pages found and moved off LRU
    NR_BOUNCE
    NR_ZSPAGES                  # allocated in zsmalloc
    NR_FREE_CMA_PAGES
    NR_VM_ZONE_STAT_ITEMS

# enum node_stat_item
cpdef enum node_stat_item:
    NR_INACTIVE_ANON            # NR_LRU_BASE
    NR_ACTIVE_ANON
    NR_INACTIVE_FILE
    NR_ACTIVE_FILE
    NR_UNEVICTABLE
    NR_SLAB_RECLAIMABLE_B       # in bytes through the API, kept in pages
    NR_SLAB_UNRECLAIMABLE_B
    NR_ISOLATED_ANON            # temporary isolated pages from anon lru
    NR_ISOLATED_FILE
    WORKINGSET_NODES
    WORKINGSET_REFAULT_ANON     # WORKINGSET_REFAULT_BASE
    WORKINGSET_REFAULT_FILE
    WORKINGSET_ACTIVATE_ANON    # WORKINGSET_ACTIVATE_BASE
    WORKINGSET_ACTIVATE_FILE
    WORKINGSET_RESTORE_ANON     # WORKINGSET_RESTORE_BASE
    WORKINGSET_RESTORE_FILE
    WORKINGSET_NODERECLAIM
    NR_ANON_MAPPED              # mapped anonymous pages
    NR_FILE_MAPPED              # pagecache pages mapped into pagetables
    NR_FILE_PAGES
    NR_FILE_DIRTY
    NR_WRITEBACK
    NR_WRITEBACK_TEMP           # writeback using temporary buffers
    NR_SHMEM                    # shmem pages (included tmpfs/GEM pages)
    NR_SHMEM_THPS
    NR_SHMEM_PMDMAPPED
    NR_FILE_THPS
    NR_FILE_PMDMAPPED
    NR_ANON_THPS
    NR_VMSCAN_WRITE
    NR_VMSCAN_IMMEDIATE         # prioritise for reclaim when writeback ends
    NR_DIRTIED                  # page dirtyings since bootup
    NR_WRITTEN                  # page writings since bootup
    NR_KERNEL_MISC_RECLAIMABLE  # reclaimable non-slab kernel pages
    NR_FOLL_PIN_ACQUIRED        # via: pin_user_page(), gup flag: FOLL_PIN
    NR_FOLL_PIN_RELEASED        # pages returned via unpin_user_page()
    NR_KERNEL_STACK_KB          # measured in KiB
    NR_PAGETABLE                # used for pagetables
    NR_SWAPCACHE
    NR_HUGETLB                  # in-use hugetlb folios' pages (v6.18's nr_hugetlb; v5.14 prints
                                # no such item): lruvec_stat_mod_folio(folio, NR_HUGETLB, +-nr) in
                                # alloc_hugetlb_folio / free_huge_folio, the hugetlb plugin's
    NR_VM_NODE_STAT_ITEMS

# enum writeback_stat_item (computed when /proc/vmstat is read: global_dirty_limits)
cpdef enum writeback_stat_item:
    NR_DIRTY_THRESHOLD
    NR_DIRTY_BG_THRESHOLD
    NR_VM_WRITEBACK_STAT_ITEMS

# enum vm_event_item (FOR_ALL_ZONES on x86-64: DMA, DMA32, NORMAL, MOVABLE)
cpdef enum vm_event_item:
    PGPGIN
    PGPGOUT
    PSWPIN
    PSWPOUT
    PGALLOC_DMA
    PGALLOC_DMA32
    PGALLOC_NORMAL
    PGALLOC_MOVABLE
    ALLOCSTALL_DMA
    ALLOCSTALL_DMA32
    ALLOCSTALL_NORMAL
    ALLOCSTALL_MOVABLE
    PGSCAN_SKIP_DMA
    PGSCAN_SKIP_DMA32
    PGSCAN_SKIP_NORMAL
    PGSCAN_SKIP_MOVABLE
    PGFREE
    PGACTIVATE
    PGDEACTIVATE
    PGLAZYFREE
    PGFAULT
    PGMAJFAULT
    PGLAZYFREED
    PGREFILL
    PGREUSE
    PGSTEAL_KSWAPD
    PGSTEAL_DIRECT
    PGSCAN_KSWAPD
    PGSCAN_DIRECT
    PGSCAN_DIRECT_THROTTLE
    PGSCAN_ANON
    PGSCAN_FILE
    PGSTEAL_ANON
    PGSTEAL_FILE
    PGSCAN_ZONE_RECLAIM_FAILED
    PGINODESTEAL
    SLABS_SCANNED
    KSWAPD_INODESTEAL
    KSWAPD_LOW_WMARK_HIT_QUICKLY
    KSWAPD_HIGH_WMARK_HIT_QUICKLY
    PAGEOUTRUN
    PGROTATED
    DROP_PAGECACHE
    DROP_SLAB
    OOM_KILL
    NUMA_PTE_UPDATES
    NUMA_HUGE_PTE_UPDATES
    NUMA_HINT_FAULTS
    NUMA_HINT_FAULTS_LOCAL
    NUMA_PAGE_MIGRATE
    PGMIGRATE_SUCCESS
    PGMIGRATE_FAIL
    THP_MIGRATION_SUCCESS
    THP_MIGRATION_FAIL
    THP_MIGRATION_SPLIT
    COMPACTMIGRATE_SCANNED
    COMPACTFREE_SCANNED
    COMPACTISOLATED
    COMPACTSTALL
    COMPACTFAIL
    COMPACTSUCCESS
    KCOMPACTD_WAKE
    KCOMPACTD_MIGRATE_SCANNED
    KCOMPACTD_FREE_SCANNED
    HTLB_BUDDY_PGALLOC
    HTLB_BUDDY_PGALLOC_FAIL
    UNEVICTABLE_PGCULLED        # culled to noreclaim list
    UNEVICTABLE_PGSCANNED       # scanned for reclaimability
    UNEVICTABLE_PGRESCUED       # rescued from noreclaim list
    UNEVICTABLE_PGMLOCKED
    UNEVICTABLE_PGMUNLOCKED
    UNEVICTABLE_PGCLEARED       # on COW, page truncate
    UNEVICTABLE_PGSTRANDED      # unable to isolate on unlock
    THP_FAULT_ALLOC
    THP_FAULT_FALLBACK
    THP_FAULT_FALLBACK_CHARGE
    THP_COLLAPSE_ALLOC
    THP_COLLAPSE_ALLOC_FAILED
    THP_FILE_ALLOC
    THP_FILE_FALLBACK
    THP_FILE_FALLBACK_CHARGE
    THP_FILE_MAPPED
    THP_SPLIT_PAGE
    THP_SPLIT_PAGE_FAILED
    THP_DEFERRED_SPLIT_PAGE
    THP_SPLIT_PMD
    THP_SPLIT_PUD
    THP_ZERO_PAGE_ALLOC
    THP_ZERO_PAGE_ALLOC_FAILED
    THP_SWPOUT
    THP_SWPOUT_FALLBACK
    BALLOON_INFLATE
    BALLOON_DEFLATE
    BALLOON_MIGRATE
    SWAP_RA
    SWAP_RA_HIT
    DIRECT_MAP_LEVEL2_SPLIT
    DIRECT_MAP_LEVEL3_SPLIT
    NR_VM_EVENT_ITEMS

cdef enum:
    HPAGE_PMD_NR = 512

# struct per_cpu_zonestat
cdef struct per_cpu_zonestat:
    int8_t vm_stat_diff[NR_VM_ZONE_STAT_ITEMS]
    int8_t stat_threshold
    uint64_t vm_numa_event[NR_VM_NUMA_EVENT_ITEMS]

# struct per_cpu_nodestat
cdef struct per_cpu_nodestat:
    int8_t stat_threshold
    int8_t vm_node_stat_diff[NR_VM_NODE_STAT_ITEMS]

# The vmstat part of struct zone.
cdef struct zone_vmstat:
    int64_t vm_stat[NR_VM_ZONE_STAT_ITEMS]
    uint64_t vm_numa_event[NR_VM_NUMA_EVENT_ITEMS]    # folded NUMA events
    per_cpu_zonestat* per_cpu_zonestats                 # one per CPU; NULL: unpopulated zone

# The vmstat part of struct pglist_data.
cdef struct node_vmstat:
    int64_t vm_stat[NR_VM_NODE_STAT_ITEMS]
    per_cpu_nodestat* per_cpu_nodestats                 # one per CPU

# struct vm_event_state
cdef struct vm_event_state:
    uint64_t event[NR_VM_EVENT_ITEMS]

# memcg's part of the lruvec counters (mod_memcg_lruvec_state): installed by the memcg plugin,
# NULL by default.  Called by __mod_lruvec_page_state after the node counter with the page, the
# node_stat_item and the delta in pages (bytes for NR_SLAB_*_B).
ctypedef void (*mod_memcg_lruvec_fn)(void* ctx, page* p, int nid, int item, int64_t delta) noexcept

cdef struct lruvec_stat_ops:
    mod_memcg_lruvec_fn mod_memcg_lruvec_state
    void* ctx

# Everything vmstat holds for one machine; PhysMem.vs points here.
cdef struct vmstat_t:
    int nr_nodes
    int ncpus
    int* cpu                            # &Current.cpu: smp_processor_id()
    zone_vmstat* zones                  # nr_nodes * MAX_NR_ZONES, indexed nid * MAX_NR_ZONES + zid
    node_vmstat* nodes                  # nr_nodes
    int64_t vm_zone_stat[NR_VM_ZONE_STAT_ITEMS]
    int64_t vm_node_stat[NR_VM_NODE_STAT_ITEMS]
    uint64_t vm_numa_event[NR_VM_NUMA_EVENT_ITEMS]
    vm_event_state* vm_event_states     # one per CPU
    lruvec_stat_ops lruvec_ops


cdef class VmStat:
    cdef vmstat_t vs
    cdef readonly object cur            # the Current whose cpu field vs.cpu points at
    cdef void refresh_cpu_vm_stats(self, int cpu) noexcept
    cdef void fold_vm_numa_events(self) noexcept


# -- helpers (include/linux/vmstat.h, mm/vmstat.c) ----------------------------------------------

cdef inline void zone_page_state_add(vmstat_t* vs, int zone_idx, int item, int64_t x) noexcept nogil:
    """zone_page_state_add(): into the zone's and the global counter."""
    vs.zones[zone_idx].vm_stat[item] += x
    vs.vm_zone_stat[item] += x


cdef inline void node_page_state_add(vmstat_t* vs, int nid, int item, int64_t x) noexcept nogil:
    """node_page_state_add(): into the node's and the global counter."""
    vs.nodes[nid].vm_stat[item] += x
    vs.vm_node_stat[item] += x


cdef inline void __mod_zone_page_state(vmstat_t* vs, int zone_idx, int item, int64_t delta) noexcept nogil:
    """__mod_zone_page_state(): add to this CPU's differential; past the threshold, fold it.

    ``zone_idx`` is nid * MAX_NR_ZONES + zone number (memsim's zone array index)."""
    cdef per_cpu_zonestat* pcp = &vs.zones[zone_idx].per_cpu_zonestats[vs.cpu[0]]
    cdef int64_t x = delta + pcp.vm_stat_diff[item]
    cdef int64_t t = pcp.stat_threshold
    if x > t or x < -t:
        zone_page_state_add(vs, zone_idx, item, x)
        x = 0
    pcp.vm_stat_diff[item] = <int8_t>x


cdef inline void __inc_zone_state(vmstat_t* vs, int zone_idx, int item) noexcept nogil:
    """__inc_zone_state(): +1, overstepping by half the threshold when it folds."""
    cdef per_cpu_zonestat* pcp = &vs.zones[zone_idx].per_cpu_zonestats[vs.cpu[0]]
    cdef int64_t v = pcp.vm_stat_diff[item] + 1
    cdef int64_t t = pcp.stat_threshold
    cdef int64_t overstep
    if v > t:
        overstep = t >> 1
        zone_page_state_add(vs, zone_idx, item, v + overstep)
        v = -overstep
    pcp.vm_stat_diff[item] = <int8_t>v


cdef inline void __dec_zone_state(vmstat_t* vs, int zone_idx, int item) noexcept nogil:
    """__dec_zone_state(): -1, overstepping by half the threshold when it folds."""
    cdef per_cpu_zonestat* pcp = &vs.zones[zone_idx].per_cpu_zonestats[vs.cpu[0]]
    cdef int64_t v = pcp.vm_stat_diff[item] - 1
    cdef int64_t t = pcp.stat_threshold
    cdef int64_t overstep
    if v < -t:
        overstep = t >> 1
        zone_page_state_add(vs, zone_idx, item, v - overstep)
        v = overstep
    pcp.vm_stat_diff[item] = <int8_t>v


cdef inline void mod_zone_page_state(vmstat_t* vs, int zone_idx, int item, int64_t delta) noexcept nogil:
    """mod_zone_page_state(): the irq-safe variant; the same arithmetic in memsim."""
    __mod_zone_page_state(vs, zone_idx, item, delta)


cdef inline void __mod_zone_freepage_state(vmstat_t* vs, int zone_idx, int64_t nr_pages,
                                           int migratetype) noexcept nogil:
    """__mod_zone_freepage_state(): NR_FREE_PAGES, and NR_FREE_CMA_PAGES for a CMA block.

    The caller skips MIGRATE_ISOLATE blocks, as __free_one_page / __isolate_free_page do."""
    __mod_zone_page_state(vs, zone_idx, NR_FREE_PAGES, nr_pages)
    if migratetype == MIGRATE_CMA:
        __mod_zone_page_state(vs, zone_idx, NR_FREE_CMA_PAGES, nr_pages)


cdef inline void __mod_node_page_state(vmstat_t* vs, int nid, int item, int64_t delta) noexcept nogil:
    """__mod_node_page_state(): byte items (NR_SLAB_*_B) are converted to pages first."""
    cdef per_cpu_nodestat* pcp = &vs.nodes[nid].per_cpu_nodestats[vs.cpu[0]]
    cdef int64_t x, t
    if item == NR_SLAB_RECLAIMABLE_B or item == NR_SLAB_UNRECLAIMABLE_B:
        delta >>= PAGE_SHIFT            # vmstat_item_in_bytes(): multiples of PAGE_SIZE
    x = delta + pcp.vm_node_stat_diff[item]
    t = pcp.stat_threshold
    if x > t or x < -t:
        node_page_state_add(vs, nid, item, x)
        x = 0
    pcp.vm_node_stat_diff[item] = <int8_t>x


cdef inline void __inc_node_state(vmstat_t* vs, int nid, int item) noexcept nogil:
    """__inc_node_state(): +1, overstepping by half the threshold when it folds."""
    cdef per_cpu_nodestat* pcp = &vs.nodes[nid].per_cpu_nodestats[vs.cpu[0]]
    cdef int64_t v = pcp.vm_node_stat_diff[item] + 1
    cdef int64_t t = pcp.stat_threshold
    cdef int64_t overstep
    if v > t:
        overstep = t >> 1
        node_page_state_add(vs, nid, item, v + overstep)
        v = -overstep
    pcp.vm_node_stat_diff[item] = <int8_t>v


cdef inline void __dec_node_state(vmstat_t* vs, int nid, int item) noexcept nogil:
    """__dec_node_state(): -1, overstepping by half the threshold when it folds."""
    cdef per_cpu_nodestat* pcp = &vs.nodes[nid].per_cpu_nodestats[vs.cpu[0]]
    cdef int64_t v = pcp.vm_node_stat_diff[item] - 1
    cdef int64_t t = pcp.stat_threshold
    cdef int64_t overstep
    if v < -t:
        overstep = t >> 1
        node_page_state_add(vs, nid, item, v - overstep)
        v = overstep
    pcp.vm_node_stat_diff[item] = <int8_t>v


cdef inline void mod_node_page_state(vmstat_t* vs, int nid, int item, int64_t delta) noexcept nogil:
    """mod_node_page_state(): the irq-safe variant; the same arithmetic in memsim."""
    __mod_node_page_state(vs, nid, item, delta)


cdef inline int page_to_nid(page* p) noexcept nogil:
    """page_to_nid(): the node recorded in page->flags."""
    return <int>((p.flags >> PG_NODE_SHIFT) & 0xff)


cdef inline int page_zonenum(page* p) noexcept nogil:
    """page_zonenum(): the zone recorded in page->flags."""
    return <int>((p.flags >> PG_ZONE_SHIFT) & 0xff)


cdef inline void __mod_lruvec_page_state(vmstat_t* vs, page* p, int item, int64_t delta) noexcept:
    """__mod_lruvec_page_state(): the page's node counter, then memcg's lruvec (if installed).

    For a tail page pass the head (compound_head), as the kernel's folio does."""
    cdef int nid = page_to_nid(p)
    __mod_node_page_state(vs, nid, item, delta)
    if vs.lruvec_ops.mod_memcg_lruvec_state != NULL:
        vs.lruvec_ops.mod_memcg_lruvec_state(vs.lruvec_ops.ctx, p, nid, item, delta)


cdef inline void mod_lruvec_page_state(vmstat_t* vs, page* p, int item, int64_t delta) noexcept:
    """mod_lruvec_page_state(): the irq-safe variant; the same arithmetic in memsim."""
    __mod_lruvec_page_state(vs, p, item, delta)


cdef inline void __count_vm_events(vmstat_t* vs, int item, uint64_t delta) noexcept nogil:
    """__count_vm_events(): this CPU's event counter."""
    vs.vm_event_states[vs.cpu[0]].event[item] += delta


cdef inline void __count_vm_event(vmstat_t* vs, int item) noexcept nogil:
    """__count_vm_event()."""
    vs.vm_event_states[vs.cpu[0]].event[item] += 1


cdef inline void count_vm_event(vmstat_t* vs, int item) noexcept nogil:
    """count_vm_event(): the preempt-safe variant; the same in memsim."""
    vs.vm_event_states[vs.cpu[0]].event[item] += 1


cdef inline void count_vm_events(vmstat_t* vs, int item, uint64_t delta) noexcept nogil:
    """count_vm_events()."""
    vs.vm_event_states[vs.cpu[0]].event[item] += delta


cdef inline void __count_zid_vm_events(vmstat_t* vs, int item, int zid, uint64_t delta) noexcept nogil:
    """__count_zid_vm_events(): ``item`` is the _DMA member of a FOR_ALL_ZONES group
    (PGALLOC_DMA, ALLOCSTALL_DMA, PGSCAN_SKIP_DMA); ``zid`` picks the zone's member."""
    vs.vm_event_states[vs.cpu[0]].event[item + zid] += delta


cdef inline void __count_numa_events(vmstat_t* vs, int zone_idx, int item, uint64_t delta) noexcept nogil:
    """__count_numa_events(): this CPU's NUMA event of a zone."""
    vs.zones[zone_idx].per_cpu_zonestats[vs.cpu[0]].vm_numa_event[item] += delta


cdef inline void zone_statistics(vmstat_t* vs, int preferred_idx, int zone_idx, int64_t nr_account,
                                 int local_nid) noexcept nogil:
    """zone_statistics(): numa_hit / numa_miss + numa_foreign / numa_local or numa_other for an
    allocation from zone ``zone_idx`` that preferred zone ``preferred_idx``; ``local_nid`` is
    numa_node_id() of the allocating CPU."""
    cdef int nid = zone_idx // MAX_NR_ZONES
    cdef int local_stat = NUMA_LOCAL if nid == local_nid else NUMA_OTHER
    if nid == preferred_idx // MAX_NR_ZONES:
        __count_numa_events(vs, zone_idx, NUMA_HIT, nr_account)
    else:
        __count_numa_events(vs, zone_idx, NUMA_MISS, nr_account)
        __count_numa_events(vs, preferred_idx, NUMA_FOREIGN, nr_account)
    __count_numa_events(vs, zone_idx, local_stat, nr_account)


cdef inline int64_t zone_page_state_snapshot(vmstat_t* vs, int zone_idx, int item) noexcept nogil:
    """zone_page_state_snapshot(): the zone's counter with every CPU's differential folded in
    (what should_reclaim_retry and zone_reclaimable_pages read), never below 0."""
    cdef int64_t x = vs.zones[zone_idx].vm_stat[item]
    cdef int cpu
    if vs.zones[zone_idx].per_cpu_zonestats != NULL:
        for cpu in range(vs.ncpus):
            x += vs.zones[zone_idx].per_cpu_zonestats[cpu].vm_stat_diff[item]
    return x if x > 0 else 0
