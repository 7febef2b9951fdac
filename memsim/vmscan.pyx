# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Page reclaim (mm/vmscan.c of v5.14, with the v6.18 differences the profiles switch on).

The classic two-list LRU reclaim (v6.18 built without MGLRU, or with lru_gen disabled, which
is what memsim models: the multi-generational LRU of v6.18 is not modelled):

- direct reclaim from the allocator's slow path (``PhysMem.reclaim.try_to_free_pages``,
  installed here): try_to_free_pages -> do_try_to_free_pages -> shrink_zones -> shrink_node ->
  shrink_lruvec -> shrink_list -> shrink_inactive_list / shrink_active_list;
- kswapd (one per node): wakeup_kswapd from the allocator's slow path, and the pieces of
  kswapd() / balance_pgdat() / kswapd_try_to_sleep() that memsim.kswapd's task body calls
  at its preemption points;
- get_scan_count with vm.swappiness and the anon/file costs (lru_note_cost), inactive_is_low,
  shrink_lruvec's proportional scan once nr_to_reclaim is met;
- the counters (pgscan_*, pgsteal_*, pgrefill, pgdeactivate, pgactivate, pageoutrun,
  kswapd_*_wmark_hit_quickly, allocstall_*) and the vmscan trace events.

shrink_page_list (see its docstring) as the kernel has it: page_check_references, add_to_swap
through ``swap_ops.swap_out`` (anon is scanned only when it is set: can_reclaim_anon_pages),
try_to_unmap through the reverse map in C, pageout through the mapping's ``a_ops.writepage`` or
``swap_ops.swap_writepage`` (vmscan:mm_vmscan_writepage / write_folio), under a block plug
(``MmCore.blk_start_plug``), and __remove_mapping (i_pages' slots keep a workingset shadow
entry).
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from memsim._types cimport (pfn_t, gfp_t, NIL32, GFP_DMA_, GFP_DMA32_, GFP_HIGHMEM_, GFP_MOVABLE_, GFP_THISNODE_, GFP_KERNEL,
                            GFP_IO_, GFP_FS_, PG_lru, PG_active, PG_referenced, PG_swapbacked,
                            PG_workingset, PG_unevictable, PG_dirty, PG_head, PG_writeback,
                            PG_reclaim, PG_mlocked, PG_owner_priv_1, PAGE_MAPPING_ANON, MAX_NR_ZONES,
                            PG_tail, PG_zero, PAGE_SIZE, PAGE_SHIFT, PTE_PFN_MASK,
                            _PAGE_PRESENT, _PAGE_SPECIAL, _PAGE_ACCESSED)
from memsim.page cimport page
from memsim.physmem cimport (PhysMem, lruvec, zone, LRU_INACTIVE_ANON, LRU_ACTIVE_ANON,
                             LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_ACTIVE, LRU_FILE, NR_LRU_LISTS)
from memsim.mm cimport (MmCore, MmStruct, AddressSpace, address_space_operations, writeback_control,
                        WB_SYNC_NONE, AOP_WRITEPAGE_ACTIVATE, AS_EXITING)
from memsim.ring cimport (EV_MM_VMSCAN_KSWAPD_WAKE, EV_MM_VMSCAN_KSWAPD_SLEEP,
                          EV_MM_VMSCAN_WAKEUP_KSWAPD, EV_MM_VMSCAN_LRU_ISOLATE,
                          EV_MM_VMSCAN_LRU_SHRINK_INACTIVE, EV_MM_VMSCAN_LRU_SHRINK_ACTIVE)
from memsim.vmstat cimport (page_to_nid, __mod_node_page_state, NR_VMSCAN_WRITE,
                            NR_VMSCAN_IMMEDIATE, NR_SWAPCACHE, __count_vm_events, __mod_lruvec_page_state, __count_zid_vm_events,
                            page_zonenum, zone_page_state_snapshot,
                            PGSCAN_KSWAPD, PGSCAN_DIRECT, PGSTEAL_KSWAPD, PGSTEAL_DIRECT,
                            PGSCAN_ANON, PGSCAN_FILE, PGSTEAL_ANON, PGSTEAL_FILE, PGACTIVATE,
                            PGDEACTIVATE, PGREFILL, NR_ISOLATED_ANON, NR_ISOLATED_FILE,
                            NR_FILE_PAGES, ALLOCSTALL_DMA, PGSCAN_SKIP_DMA, PAGEOUTRUN,
                            KSWAPD_LOW_WMARK_HIT_QUICKLY, KSWAPD_HIGH_WMARK_HIT_QUICKLY,
                            NR_ZONE_INACTIVE_ANON, NR_ZONE_ACTIVE_ANON, NR_ZONE_INACTIVE_FILE,
                            NR_ZONE_ACTIVE_FILE, NR_FREE_PAGES, WORKINGSET_ACTIVATE_ANON,
                            WORKINGSET_ACTIVATE_FILE)

# enum page_references and pageout_t (mm/vmscan.c)
cdef enum:
    PAGEREF_RECLAIM = 0
    PAGEREF_RECLAIM_CLEAN = 1
    PAGEREF_KEEP = 2
    PAGEREF_ACTIVATE = 3

cdef enum:
    PAGE_KEEP = 0
    PAGE_ACTIVATE = 1
    PAGE_SUCCESS = 2
    PAGE_CLEAN = 3

cdef enum:
    PG_swapcache = PG_owner_priv_1
    VM_EXEC = 0x4
    VM_LOCKED = 0x2000
    # the core C event slot issue 10 gives vmscan:mm_vmscan_writepage (v6.18 mm_vmscan_write_folio)
    EV_MM_VMSCAN_WRITEPAGE = 22

LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")
SCAN_BALANCE_NAMES = ("SCAN_EQUAL", "SCAN_FRACT", "SCAN_ANON", "SCAN_FILE")

cdef enum:
    MAX_RECLAIM_RETRIES = 16
    # GFP_RECLAIM_MASK (mm/internal.h), for try_to_free_mem_cgroup_pages()'s gfp_mask
    GFP_RECLAIM_MASK = 0xbece0
    WMARK_MIN = 0
    WMARK_HIGH = 2
    RECLAIM_WB_ANON = 0x0001
    RECLAIM_WB_FILE = 0x0002
    RECLAIM_WB_ASYNC = 0x0008


cdef inline int gfp_zone(gfp_t gfp) noexcept nogil:
    """gfp_zone() as GFP_ZONE_TABLE has it on x86-64: __GFP_HIGHMEM | __GFP_MOVABLE (user
    pages) is ZONE_MOVABLE (3) even when that zone is empty, so their direct reclaim counts
    allocstall_movable and reports classzone=3, as the kernel's does."""
    if gfp & GFP_DMA_:
        return 0
    if gfp & GFP_DMA32_:
        return 1
    if (gfp & (GFP_HIGHMEM_ | GFP_MOVABLE_)) == (GFP_HIGHMEM_ | GFP_MOVABLE_):
        return 3
    return 2


cdef inline uint64_t int_sqrt(uint64_t x) noexcept nogil:
    """int_sqrt(): the integer square root, rounded down."""
    cdef uint64_t r = 0, b = 1ULL << 62, t
    while b > x:
        b >>= 2
    while b:
        t = r + b
        if x >= t:
            x -= t
            r = (r >> 1) + b
        else:
            r >>= 1
        b >>= 2
    return r


cdef inline bint inactive_list_is_low(uint64_t inactive, uint64_t active) noexcept nogil:
    """inactive_is_low()'s test: inactive * int_sqrt(10 * gb) < active, gb being the two
    lists' size in GiB (the ratio is 1 below 1 GiB)."""
    cdef uint64_t gb = (inactive + active) >> (30 - 12)
    cdef uint64_t ratio = int_sqrt(10 * gb) if gb else 1
    return inactive * ratio < active


def inactive_is_low_pages(uint64_t inactive, uint64_t active):
    """inactive_is_low() for lists of ``inactive`` and ``active`` pages."""
    return inactive_list_is_low(inactive, active)


cdef inline int64_t file_folio_nr(page* p) noexcept nogil:
    """folio_nr_pages() of a page-cache folio (a large folio of a regular file: v6.18 diskfs
    readahead), which reclaim counts in pages as the kernel does; 1 for every other page --
    an anonymous or shmem THP is kept whole by memsim's reclaim (never split) and counts as
    one, as it always has."""
    if p.flags & (1ULL << PG_head) and not (p.mapping & PAGE_MAPPING_ANON) \
            and not (p.flags & (1ULL << PG_swapbacked)):
        return 1LL << p.compound_order
    return 1


cdef inline int trace_reclaim_flags(bint file) noexcept nogil:
    """trace_reclaim_flags(): RECLAIM_WB_FILE or _ANON, with RECLAIM_WB_ASYNC."""
    return (RECLAIM_WB_FILE if file else RECLAIM_WB_ANON) | RECLAIM_WB_ASYNC


cdef void init_direct_sc(scan_control* sc, uint64_t nr_to_reclaim, gfp_t gfp, int order) noexcept:
    """try_to_free_pages()'s scan_control: direct reclaim of the whole machine."""
    memset(sc, 0, sizeof(scan_control))
    sc.nr_to_reclaim = nr_to_reclaim
    sc.gfp_mask = gfp
    sc.order = order
    sc.reclaim_idx = gfp_zone(gfp)
    sc.may_unmap = True
    sc.may_swap = True
    sc.may_writepage = True
    sc.kswapd = False
    sc.priority = DEF_PRIORITY


cdef uint64_t _try_to_free_pages(void* ctx, gfp_t gfp, unsigned int order, int nid) except? 0xffffffffffffffff:
    """The allocator's reclaim op: try_to_free_pages() over the zonelist from node ``nid``
    (shrink_zones: that node, then the others in order; only it for __GFP_THISNODE)."""
    cdef Vmscan v = <Vmscan>ctx
    cdef scan_control sc
    init_direct_sc(&sc, SWAP_CLUSTER_MAX, gfp, order)
    return v.do_try_to_free_pages(nid, 1 if gfp & GFP_THISNODE_ else v.pm.nr_nodes, &sc)


cdef int _wakeup_kswapd(void* ctx, int nid, int zid, gfp_t gfp, unsigned int order,
                        int highest_zoneidx) except -1:
    return (<Vmscan>ctx).wakeup_kswapd(nid, zid, gfp, order, highest_zoneidx)


cdef uint64_t _zone_reclaimable_pages(void* ctx, int zone_idx) noexcept:
    """zone_reclaimable_pages(): the zone's file LRU pages, and its anon ones when anon can be
    reclaimed (can_reclaim_anon_pages)."""
    cdef Vmscan v = <Vmscan>ctx
    cdef uint64_t nr = (zone_page_state_snapshot(v.pm.vs, zone_idx, NR_ZONE_INACTIVE_FILE)
                        + zone_page_state_snapshot(v.pm.vs, zone_idx, NR_ZONE_ACTIVE_FILE))
    if v.can_reclaim_anon_pages(zone_idx // MAX_NR_ZONES, 0):
        nr += (zone_page_state_snapshot(v.pm.vs, zone_idx, NR_ZONE_INACTIVE_ANON)
               + zone_page_state_snapshot(v.pm.vs, zone_idx, NR_ZONE_ACTIVE_ANON))
    return nr


cdef void full_scan_control(scan_control* sc, gfp_t gfp) noexcept:
    """A scan_control that may unmap, swap and write, over every zone, at DEF_PRIORITY (the one
    reclaim_pages() and a test's direct pass start from)."""
    memset(sc, 0, sizeof(scan_control))
    sc.gfp_mask = gfp
    sc.priority = DEF_PRIORITY
    sc.reclaim_idx = MAX_NR_ZONES - 1
    sc.may_unmap = True
    sc.may_swap = True
    sc.may_writepage = True


cdef class Vmscan:
    """Reclaim over a machine's LRU lists (mm/vmscan.c); installs itself as the allocator's
    reclaim ops (direct reclaim, wakeup_kswapd, zone_reclaimable_pages)."""

    def __cinit__(self, PhysMem pm, MmCore core):
        cdef int n
        self.pm = pm
        self.core = core
        self.swappiness = 60
        self.lru_cost_rotations = False
        self.kswapd_wait = None
        self.pgdat = <pgdat_kswapd*>calloc(pm.nr_nodes, sizeof(pgdat_kswapd))
        if self.pgdat == NULL:
            raise MemoryError()
        for n in range(pm.nr_nodes):
            # kswapd(): "WRITE_ONCE(pgdat->kswapd_order, 0); kswapd_highest_zoneidx = MAX_NR_ZONES"
            self.pgdat[n].kswapd_highest_zoneidx = MAX_NR_ZONES
        self.pageout_file = True
        self.flusher_writeback = True
        pm.reclaim.try_to_free_pages = _try_to_free_pages
        pm.reclaim.wakeup_kswapd = _wakeup_kswapd
        pm.reclaim.zone_reclaimable_pages = _zone_reclaimable_pages
        pm.reclaim.ctx = <void*>self
        memset(&self.memcg, 0, sizeof(memcg_reclaim_ops))
        self.memcg_reclaim_begin_slot = -1
        self.memcg_reclaim_end_slot = -1
        self.gfp_highuser_movable = 0x100cca

    def __dealloc__(self):
        if self.pm is not None and self.pm.reclaim.ctx == <void*>self:
            self.pm.reclaim.try_to_free_pages = NULL
            self.pm.reclaim.wakeup_kswapd = NULL
            self.pm.reclaim.zone_reclaimable_pages = NULL
            self.pm.reclaim.ctx = NULL
        free(self.pgdat)

    # -- policy helpers ------------------------------------------------------------------------
    cdef bint can_reclaim_anon_pages(self, int nid, int memcg) noexcept:
        """can_reclaim_anon_pages(memcg, nid): is there swap to put anon pages in?  A swap-out
        op is installed (``swap_ops.swap_out``) and free slots are left: memcg's
        mem_cgroup_get_nr_swap_pages() for a memcg's lruvec (``memcg`` != 0, through
        ``memcg_reclaim_ops``), else get_nr_swap_pages() (the op's count); no demotion."""
        if self.core.swap.swap_out == NULL:
            return False
        if memcg != 0 and self.memcg.mem_cgroup_get_nr_swap_pages != NULL:
            return self.memcg.mem_cgroup_get_nr_swap_pages(self.memcg.ctx, memcg) > 0
        return self.core.swap.nr_swap_pages == NULL or \
            self.core.swap.nr_swap_pages(self.core.swap.ctx) > 0

    cdef bint can_age_anon_pages(self) noexcept:
        """v5.14's ``total_swap_pages`` test (v6.x can_age_anon_pages()) of the anon lists'
        background aging: a swap-out op and some swap space, used or not."""
        if self.core.swap.swap_out == NULL:
            return False
        return self.core.swap.total_swap_pages == NULL or \
            self.core.swap.total_swap_pages(self.core.swap.ctx) > 0

    cdef lruvec* mem_cgroup_lruvec(self, int memcg, int nid) noexcept:
        """mem_cgroup_lruvec(memcg, pgdat): the memcg's lruvec on node ``nid`` (memcg 0, the
        root memcg or no memcg: the node's own); NULL when that memcg is freed."""
        if memcg != 0 and self.pm.lru_ops.mem_cgroup_lruvec != NULL:
            return self.pm.lru_ops.mem_cgroup_lruvec(self.pm.lru_ops.ctx, memcg, nid)
        return &self.pm.lruvecs[nid]

    cdef uint64_t lruvec_lru_pages(self, lruvec* lv, int lru) noexcept:
        """lruvec_page_state(lruvec, NR_LRU_BASE + lru): the pages on list ``lru`` of the
        lruvec's memcg and its descendants on its node (memcg lruvec statistics are
        hierarchical); for the node's lruvec, the root memcg's, the node's counter (its zones'
        NR_ZONE_* snapshots)."""
        cdef uint64_t n = 0
        cdef int z, memcg
        cdef lruvec* c
        if lv.memcg_id == 0:
            for z in range(MAX_NR_ZONES):
                n += zone_page_state_snapshot(self.pm.vs, lv.nid * MAX_NR_ZONES + z, NR_ZONE_INACTIVE_ANON + lru)
            return n
        if self.pm.lru_ops.mem_cgroup_iter == NULL:
            return lv.nr_pages[lru]
        memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, lv.memcg_id, 0)
        while memcg:
            c = self.pm.lru_ops.mem_cgroup_lruvec(self.pm.lru_ops.ctx, memcg, lv.nid)
            if c != NULL:
                n += c.nr_pages[lru]
            memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, lv.memcg_id, memcg)
        return n

    cdef void count_memcg_events(self, lruvec* lv, int item, uint64_t n) noexcept:
        """__count_memcg_events(lruvec_memcg(lruvec), item, n)."""
        if self.memcg.count_memcg_events != NULL and n:
            self.memcg.count_memcg_events(self.memcg.ctx, lv.memcg_id, item, n)

    cdef bint inactive_is_low(self, lruvec* lv, int inactive_lru) noexcept:
        """inactive_is_low(): inactive * inactive_ratio < active, where inactive_ratio is
        int_sqrt(10 * gb) for the lists' total size in GiB (1 below 1 GiB); the sizes are the
        lruvec's hierarchical ones (lruvec_page_state)."""
        return inactive_list_is_low(self.lruvec_lru_pages(lv, inactive_lru),
                                    self.lruvec_lru_pages(lv, inactive_lru + LRU_ACTIVE))

    cdef void lru_note_cost(self, lruvec* lv, bint file, uint64_t nr_io, uint64_t nr_rotated) noexcept:
        """lru_note_cost() (mm/swap.c): add the cost of reclaiming from the anon or file lists
        and halve both once they pass a quarter of the LRU pages (a floating average).  v5.14:
        the cost is the pages written out (nr_pageout); v6.3+: nr_io * SWAP_CLUSTER_MAX +
        nr_rotated (``lru_cost_rotations``).  The cost goes to the lruvec and every ancestor
        memcg's on its node (parent_lruvec), each decayed against its hierarchical size."""
        cdef uint64_t cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated if self.lru_cost_rotations else nr_io
        cdef uint64_t lrusize
        while lv != NULL:
            if file:
                lv.file_cost += cost
            else:
                lv.anon_cost += cost
            lrusize = (self.lruvec_lru_pages(lv, LRU_INACTIVE_ANON) + self.lruvec_lru_pages(lv, LRU_ACTIVE_ANON)
                       + self.lruvec_lru_pages(lv, LRU_INACTIVE_FILE) + self.lruvec_lru_pages(lv, LRU_ACTIVE_FILE))
            if lv.file_cost + lv.anon_cost > lrusize // 4:
                lv.file_cost //= 2
                lv.anon_cost //= 2
            if self.pm.lru_ops.parent_lruvec == NULL:
                break
            lv = self.pm.lru_ops.parent_lruvec(self.pm.lru_ops.ctx, lv)

    cdef uint64_t lruvec_lru_size(self, lruvec* lv, int lru, int zone_idx) noexcept:
        """lruvec_lru_size(): the pages of the lruvec's list ``lru`` in the zones up to
        ``zone_idx`` (mem_cgroup_get_zone_lru_size: the lruvec's own, not its descendants')."""
        cdef uint64_t size = 0
        cdef int zid
        cdef int zi
        for zid in range(MAX_NR_ZONES):
            if zid > zone_idx:
                break
            zi = lv.nid * MAX_NR_ZONES + zid
            if self.pm.zones[zi].managed_pages == 0:
                continue
            size += lv.zone_nr_pages[zid * NR_LRU_LISTS + lru]
        return size

    cdef int get_scan_count(self, lruvec* lv, scan_control* sc, uint64_t* nr) except -1:
        """get_scan_count(): how many pages of each evictable list to scan at this priority.
        SCAN_FILE when anon cannot be reclaimed (no swap, or !may_swap); SCAN_EQUAL at
        priority 0 with swappiness; SCAN_ANON when the file lists are tiny (file_is_tiny);
        SCAN_FILE in cache_trim_mode; else SCAN_FRACT: each type's pressure inversely
        proportional to its cost (anon_cost / file_cost), weighted by swappiness and
        200 - swappiness, at least a third of it before swappiness (v6.18's
        calculate_pressure_balance is the same arithmetic).  Each list's size, cut by the
        memcg's memory.min / memory.low protection (mem_cgroup_protection: size - size *
        protection / (usage + 1), at least SWAP_CLUSTER_MAX; memory.low only in the first pass,
        which then sets memcg_low_skipped; v6.18's apply_proportional_protection is the same),
        >> priority; a dying memcg's list scans at least min(size, SWAP_CLUSTER_MAX), and its
        SCAN_FRACT share rounds up."""
        cdef int swappiness = self.swappiness
        cdef int balance
        cdef uint64_t fraction[2]
        cdef uint64_t denominator = 1
        cdef uint64_t total_cost, anon_cost, file_cost, ap, fp, scan
        cdef int lru
        cdef bint file, online = True
        cdef uint64_t lruvec_size, pmin = 0, plow = 0, protection, cgroup_size
        fraction[0] = fraction[1] = 0
        if self.memcg.mem_cgroup_protection != NULL:
            self.memcg.mem_cgroup_protection(self.memcg.ctx, sc.target_mem_cgroup, lv.memcg_id, &pmin, &plow)
            online = self.memcg.mem_cgroup_online(self.memcg.ctx, lv.memcg_id)
        if not sc.may_swap or not self.can_reclaim_anon_pages(lv.nid, lv.memcg_id):
            balance = SCAN_FILE
        elif sc.priority == 0 and swappiness:
            balance = SCAN_EQUAL
        elif sc.file_is_tiny:
            balance = SCAN_ANON
        elif sc.cache_trim_mode:
            balance = SCAN_FILE
        else:
            balance = SCAN_FRACT
            total_cost = sc.anon_cost + sc.file_cost
            anon_cost = total_cost + sc.anon_cost
            file_cost = total_cost + sc.file_cost
            total_cost = anon_cost + file_cost
            ap = swappiness * (total_cost + 1)
            ap //= anon_cost + 1
            fp = (200 - swappiness) * (total_cost + 1)
            fp //= file_cost + 1
            fraction[0] = ap
            fraction[1] = fp
            denominator = ap + fp
        for lru in range(LRU_INACTIVE_ANON, LRU_ACTIVE_FILE + 1):
            file = lru >= LRU_INACTIVE_FILE
            lruvec_size = self.lruvec_lru_size(lv, lru, sc.reclaim_idx)
            scan = lruvec_size
            if pmin or plow:
                cgroup_size = self.memcg.mem_cgroup_size(self.memcg.ctx, lv.memcg_id)
                if not sc.memcg_low_reclaim and plow > pmin:
                    protection = plow               # memory.low scaling: retry before OOM
                    sc.memcg_low_skipped = True
                else:
                    protection = pmin
                if cgroup_size < protection:        # avoid TOCTOU with the protection check
                    cgroup_size = protection
                scan = lruvec_size - lruvec_size * protection // (cgroup_size + 1)
                if scan < SWAP_CLUSTER_MAX:
                    scan = SWAP_CLUSTER_MAX
            scan >>= sc.priority
            if not scan and not online:             # scrape out a deleted cgroup's cache
                scan = lruvec_size if lruvec_size < SWAP_CLUSTER_MAX else SWAP_CLUSTER_MAX
            if balance == SCAN_FRACT:
                if not denominator:
                    scan = 0
                elif online:
                    scan = scan * fraction[file] // denominator
                else:                               # DIV64_U64_ROUND_UP: the last page too
                    scan = (scan * fraction[file] + denominator - 1) // denominator
            elif balance == SCAN_FILE or balance == SCAN_ANON:
                if (balance == SCAN_FILE) != file:
                    scan = 0
            nr[lru] = scan
        nr[NR_LRU_LISTS - 1] = 0
        return balance

    def scan_count(self, int nid, int priority=DEF_PRIORITY, bint may_swap=True,
                   int reclaim_idx=MAX_NR_ZONES - 1):
        """get_scan_count() of node ``nid`` from Python, after shrink_node's
        prepare_scan_count: (scan balance name, {list name: pages to scan})."""
        cdef scan_control sc
        cdef uint64_t nr[NR_LRU_LISTS]
        cdef int balance, lru
        memset(&sc, 0, sizeof(sc))
        sc.priority = priority
        sc.may_swap = may_swap
        sc.reclaim_idx = reclaim_idx
        sc.gfp_mask = GFP_KERNEL
        self.prepare_scan_count(nid, &sc)
        balance = self.get_scan_count(&self.pm.lruvecs[nid], &sc, nr)
        return SCAN_BALANCE_NAMES[balance], {LRU_NAMES[lru]: nr[lru] for lru in range(4)}

    def shrink_lruvec_py(self, int nid, int priority, uint64_t nr_to_reclaim, bint kswapd=False):
        """One shrink_node pass at ``priority`` (prepare_scan_count, then shrink_lruvec of node
        ``nid``) as kswapd or direct reclaim would run it, from Python.  Returns the pages
        reclaimed."""
        cdef scan_control sc
        memset(&sc, 0, sizeof(sc))
        sc.nr_to_reclaim = nr_to_reclaim
        sc.gfp_mask = GFP_KERNEL
        sc.reclaim_idx = MAX_NR_ZONES - 1
        sc.may_unmap = sc.may_swap = sc.may_writepage = True
        sc.kswapd = kswapd
        sc.priority = priority
        self.prepare_scan_count(nid, &sc)
        self.shrink_lruvec(&self.pm.lruvecs[nid], &sc)
        return sc.nr_reclaimed

    def lru_cost(self, int nid):
        """(anon_cost, file_cost) of node ``nid``'s lruvec (lru_note_cost)."""
        return self.pm.lruvecs[nid].anon_cost, self.pm.lruvecs[nid].file_cost

    def set_lru_cost(self, int nid, uint64_t anon_cost, uint64_t file_cost):
        """Set node ``nid``'s lruvec anon_cost / file_cost (tests of get_scan_count)."""
        self.pm.lruvecs[nid].anon_cost = anon_cost
        self.pm.lruvecs[nid].file_cost = file_cost

    # -- the LRU side --------------------------------------------------------------------------
    cdef int isolate_lru_pages(self, uint64_t nr_to_scan, lruvec* lv, pfn_t* dst, int lru,
                               uint64_t* nr_scanned, scan_control* sc) except -1:
        """isolate_lru_pages() (v6.18 isolate_lru_folios): take up to ``nr_to_scan`` pages from
        the tail of list ``lru`` (the oldest), clearing PG_lru; NR_ISOLATED_* counts them.  A
        page of a zone above sc->reclaim_idx is skipped: it goes back to the head of the list
        (with the others skipped, in the kernel's order), counts PGSCAN_SKIP_<zone> and is
        counted in nr_scanned but not against nr_to_scan.  ``mm_vmscan_lru_isolate``."""
        cdef int n = 0
        cdef pfn_t pfn
        cdef page* p
        cdef uint64_t scan = 0, total_scan = 0, skipped = 0, nrp
        cdef uint64_t nr_skipped[MAX_NR_ZONES]
        cdef uint32_t first_skipped = NIL32
        cdef int zid
        cdef uint64_t vals[8]
        for zid in range(MAX_NR_ZONES):
            nr_skipped[zid] = 0
        while scan < nr_to_scan and lv.head[lru] != NIL32:
            pfn = self.pm.mem_map[lv.head[lru]].lru_prev          # the tail
            if pfn == first_skipped:
                break                       # every page left was skipped: the list is "empty"
            p = &self.pm.mem_map[pfn]
            nrp = file_folio_nr(p)
            total_scan += nrp
            zid = page_zonenum(p)
            if zid > sc.reclaim_idx:
                nr_skipped[zid] += nrp
                self.pm.lruvec_del_folio(lv, pfn)
                self.pm.lruvec_add_folio(lv, pfn)              # list_splice(&pages_skipped, src)
                if first_skipped == NIL32:
                    first_skipped = <uint32_t>pfn
                continue
            scan += nrp
            self.pm.lruvec_del_folio(lv, pfn)
            p.flags &= ~(1ULL << PG_lru)
            __mod_lruvec_page_state(self.pm.vs, p, NR_ISOLATED_ANON + (lru >= LRU_INACTIVE_FILE), nrp)
            dst[n] = pfn
            n += 1
        for zid in range(MAX_NR_ZONES):
            if nr_skipped[zid]:
                __count_zid_vm_events(self.pm.vs, PGSCAN_SKIP_DMA, zid, nr_skipped[zid])
                skipped += nr_skipped[zid]
        nr_scanned[0] = total_scan
        if self.pm.tb.core[EV_MM_VMSCAN_LRU_ISOLATE].enabled:
            vals[0] = sc.reclaim_idx; vals[1] = sc.order; vals[2] = nr_to_scan
            vals[3] = total_scan; vals[4] = skipped; vals[5] = n
            vals[6] = 0 if sc.may_unmap else 0x4            # isolate_mode: ISOLATE_UNMAPPED
            vals[7] = lru
            self.pm.tb.emit(EV_MM_VMSCAN_LRU_ISOLATE, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        return n

    cdef int _putback(self, lruvec* lv, pfn_t pfn, int lru_base) except -1:
        """move_pages_to_lru() of one page: PG_lru again, at the head of the list its flags
        name (PG_active set by the caller activates it); an mlocked page goes back through
        putback_lru_page() instead."""
        cdef page* p = &self.pm.mem_map[pfn]
        __mod_lruvec_page_state(self.pm.vs, p, NR_ISOLATED_ANON + (lru_base >= LRU_INACTIVE_FILE),
                                -file_folio_nr(p))
        if p.flags & (1ULL << PG_mlocked):
            # !page_evictable(): putback_lru_page() / folio_putback_lru() through the lru_add
            # batch, whose lru_add_fn culls it to the unevictable list
            p.flags &= ~(1ULL << PG_active)
            return self.pm.lru_cache_add(pfn)
        p.flags |= 1ULL << PG_lru
        self.pm.lruvec_add_folio(lv, pfn)
        if p.flags & (1ULL << PG_active):       # move_pages_to_lru: activations age the clock
            self.pm.workingset_age_nonresident(lv, 1 if not (p.flags & (1ULL << PG_head))
                                               else 1ULL << p.compound_order)
        return 0

    cdef bint remove_mapping(self, AddressSpace mapping, pfn_t pfn, bint reclaimed,
                             scan_control* sc) except -1:
        """__remove_mapping(): a page whose only reference is the page cache's leaves i_pages
        (__delete_from_page_cache) and is no longer a page-cache page; False when someone else
        still holds it (the page_ref_freeze(page, 2) test) and it stays.  A page ``reclaimed``
        from the file LRU (not shmem: PG_swapbacked) leaves a shadow entry in its slot:
        workingset_eviction(page, sc->target_mem_cgroup) -- the clock of the reclaim target's
        lruvec on the page's node and its memcg id (global reclaim: the node's lruvec, the root
        memcg's, stored as id 0) -- unless the mapping is exiting (AS_EXITING, set by
        truncate_inode_pages_final); memsim has no DAX."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t shadow = 0
        cdef int64_t entry
        cdef lruvec* target = NULL
        if p._mapcount > 0 or p._refcount != 1 or p.flags & (1ULL << PG_dirty):
            return False
        if p.flags & (1ULL << PG_head) and self.core.rmap_folio_mapped(pfn):
            return False
        if mapping.a_ops == NULL and (not mapping.i_pages.load(p.index, &entry) or entry != <int64_t>pfn):
            return False
        if reclaimed and not (p.flags & (1ULL << PG_swapbacked)) and not mapping.flags & (1UL << AS_EXITING):
            if sc != NULL and sc.target_mem_cgroup:
                target = self.mem_cgroup_lruvec(sc.target_mem_cgroup, page_to_nid(p))
            shadow = self.core.workingset.workingset_eviction(pfn, target, 0 if target == NULL else target.memcg_id)
        self.core.delete_from_page_cache(mapping, pfn, shadow)
        return True

    cdef uint64_t shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                   reclaim_stat* stat) except? 0xffffffffffffffff:
        """shrink_page_list() (v6.18 shrink_folio_list) over ``n`` isolated order-0 pages; fills
        ``stat`` (struct reclaim_stat) as the kernel does and returns the pages reclaimed.

        Per page: an unevictable (mlocked) page is activated-locked (not activated); a page
        under writeback is activated with PG_reclaim (case 2, nr_writeback) or, for kswapd
        seeing PG_reclaim with PGDAT_WRITEBACK set, counted in nr_immediate (case 1);
        page_check_references() activates a page referenced twice or by two PTEs, keeps one
        referenced once (nr_ref_keep); an anonymous page gets a swap slot from
        ``swap_ops.swap_out`` (add_to_swap; NULL or -ENOMEM: activated, as 5.14 does when
        get_swap_page finds no swap); a mapped page is unmapped through the reverse map
        (try_to_unmap: an anonymous page's PTEs become its swap entry; still mapped:
        nr_unmap_fail, activated).  A dirty file page is written only by kswapd on v5.14, and
        only once it came round again with PG_reclaim while PGDAT_DIRTY is set; otherwise it
        gets PG_reclaim and NR_VMSCAN_IMMEDIATE and is activated (v6.18 never writes file
        pages from reclaim).  memsim has no flusher threads or dirty throttling, so it lets
        the flusher that reclaim wakes (wakeup_flusher_threads) write such a page at once
        (``flusher_writeback``, on by default): write_one_page through the mapping's a_ops
        writepage (NR_WRITTEN, not NR_VMSCAN_WRITE: not reclaim's write), and when the batch's
        plug is flushed end_page_writeback rotates it to the inactive tail.  pageout() writes a dirty page through the mapping's writepage
        (the swap cache's ``swap_writepage``); a page still under writeback goes back to the
        inactive list and end_page_writeback rotates it to the tail, where a later pass reclaims
        it; a page written synchronously is reclaimed at once.  A clean page that only its cache
        holds leaves it (__remove_mapping: ``remove_mapping`` for the page cache, the swap
        cache's delete_from_swap_cache) and is freed.  A page of a mapping whose plugin a_ops has
        no ``delete_from_page_cache`` is kept untouched, and compound pages are kept (memsim does
        not split THPs in reclaim).

        The call runs under a block plug (blk_start_plug, as shrink_lruvec's): a write an op
        submits (MmCore.submit_page_write) waits in it, and the emulated disk completes every
        such write at the call's end (blk_finish_plug), after the kept pages went back to their
        lists: the page is then at the inactive tail, clean, for the next isolation.  An op
        that ends its writes itself ends them when it says (at once, or later)."""
        cdef PhysMem pm = self.pm
        cdef MmCore core = self.core
        cdef int nfree = 0
        cdef uint64_t reclaimed = 0
        cdef pfn_t tofree[SWAP_CLUSTER_MAX]
        memset(stat, 0, sizeof(reclaim_stat))
        core.rmap.walk_cache_begin()
        core.blk_start_plug()
        try:
            reclaimed = self._shrink_page_list(pages, n, lv, sc, stat, tofree, &nfree)
        finally:
            core.rmap.walk_cache_end()
            core.plugged = False
        pm.free_unref_page_list(tofree, nfree)
        __count_vm_events(pm.vs, PGACTIVATE, stat.nr_activate[0] + stat.nr_activate[1])
        core.blk_finish_plug()              # the disk completes the batch's writes
        self.last_stat = stat[0]
        return reclaimed

    cdef uint64_t _shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                    reclaim_stat* stat, pfn_t* tofree,
                                    int* nfree_out) except? 0xffffffffffffffff:
        """shrink_page_list()'s loop over the pages (see shrink_page_list): the pages to free go
        to ``tofree``."""
        cdef PhysMem pm = self.pm
        cdef MmCore core = self.core
        cdef int i, nfree = 0, references, file, res
        cdef pfn_t pfn
        cdef page* p
        cdef bint dirty, writeback, may_enter_fs, was_swapbacked, swapcache
        cdef int unmapped
        cdef object mobj
        cdef AddressSpace mapping, last_mapping = None
        cdef uint64_t last_addr = 0
        cdef uint64_t reclaimed = 0
        cdef int nid
        cdef int64_t nrp
        cdef bint mapped
        for i in range(n):
            pfn = pages[i]
            p = &pm.mem_map[pfn]
            file = not (p.flags & (1ULL << PG_swapbacked))           # page_is_file_lru()
            swapcache = (p.flags & (1ULL << PG_swapcache)) != 0
            nid = page_to_nid(p)
            mapping = None
            nrp = file_folio_nr(p)
            if p.flags & (1ULL << PG_head) and nrp == 1:
                self._keep(lv, pfn, file)                           # no THP split in reclaim
                continue
            mapped = p._mapcount > 0 if nrp == 1 else core.rmap_folio_mapped(pfn)
            if p.flags & ((1ULL << PG_mlocked) | (1ULL << PG_unevictable)):
                self._activate(lv, pfn, file, stat)                 # !page_evictable()
                continue
            if p.mapping == 0 and not swapcache:
                self._keep(lv, pfn, file)
                continue
            # a swap-cache page without page->mapping (a shmem page shmem_writepage moved to
            # the swap cache, or one readahead brought in) is page_mapping()'s swapper space
            if p.mapping != 0 and not (p.mapping & PAGE_MAPPING_ANON):
                if p.mapping != last_addr:              # one lookup per mapping and batch
                    mobj = core.rmap.mappings.get(p.mapping)
                    if mobj is None:
                        self._keep(lv, pfn, file)
                        continue
                    last_addr = p.mapping
                    last_mapping = <AddressSpace>mobj
                mapping = last_mapping
                if mapping.a_ops != NULL and mapping.a_ops.delete_from_page_cache == NULL:
                    self._keep(lv, pfn, file)                       # the cache cannot drop it
                    continue
            if not sc.may_unmap and mapped:
                self._keep(lv, pfn, file)
                continue
            may_enter_fs = (sc.gfp_mask & GFP_FS_) or (swapcache and (sc.gfp_mask & GFP_IO_))
            # page_check_dirty_writeback(): anon and shmem pages are not the flushers'
            if file:
                dirty = (p.flags & (1ULL << PG_dirty)) != 0
                writeback = (p.flags & (1ULL << PG_writeback)) != 0
            else:
                dirty = writeback = False
            if dirty or writeback:
                stat.nr_dirty += nrp
            if dirty and not writeback:
                stat.nr_unqueued_dirty += nrp
            if writeback and p.flags & (1ULL << PG_reclaim):
                stat.nr_congested += nrp
            if p.flags & (1ULL << PG_writeback):
                if sc.kswapd and p.flags & (1ULL << PG_reclaim) and \
                        self.pgdat_flags[nid] & (1UL << PGDAT_WRITEBACK):
                    stat.nr_immediate += nrp                        # case 1
                else:
                    p.flags |= 1ULL << PG_reclaim                   # case 2 (global reclaim:
                    stat.nr_writeback += nrp                        # writeback_throttling_sane)
                self._activate(lv, pfn, file, stat)
                continue
            references = self.page_check_references(pfn, None if mapping is None else mapping.i_mmap)
            if references == PAGEREF_ACTIVATE:
                self._activate(lv, pfn, file, stat)
                continue
            if references == PAGEREF_KEEP:
                stat.nr_ref_keep += 1
                self._keep(lv, pfn, file)
                continue
            # Anonymous process memory has backing store?
            if p.mapping & PAGE_MAPPING_ANON and p.flags & (1ULL << PG_swapbacked) and not swapcache:
                if not (sc.gfp_mask & GFP_IO_):
                    self._keep(lv, pfn, file)
                    continue
                core.rmap.walk_cache_begin()            # an op runs: forget the PTE table
                if not self.add_to_swap(pfn):
                    self._activate(lv, pfn, file, stat)             # activate_locked_split
                    continue
                swapcache = True
                may_enter_fs = True
            # try_to_unmap()
            if nrp > 1 and mapped:          # a large file folio: every page's PTEs (TTU)
                core.rmap.try_to_unmap_folio(pfn, mapping.i_mmap)
                if core.rmap_folio_mapped(pfn):
                    stat.nr_unmap_fail += nrp
                    self._activate(lv, pfn, file, stat)
                    continue
            elif p._mapcount > 0:
                was_swapbacked = (p.flags & (1ULL << PG_swapbacked)) != 0
                unmapped = core.rmap._try_to_unmap(pfn, None if mapping is None else mapping.i_mmap,
                                                   p.private, swapcache, True)
                if p._mapcount > 0:
                    stat.nr_unmap_fail += 1
                    if not was_swapbacked and p.flags & (1ULL << PG_swapbacked):
                        stat.nr_lazyfree_fail += 1
                    if swapcache and unmapped == 0:
                        # no PTE holds the entry: leave the swap cache now (the kernel keeps
                        # the page there until try_to_free_swap; memsim's zap does not free it)
                        self.delete_from_swap_cache(pfn)
                        p._refcount -= 1                    # the swap cache's reference
                        p.flags &= ~(1ULL << PG_dirty)
                    self._activate(lv, pfn, file, stat)
                    continue
            if p.flags & (1ULL << PG_dirty):
                # Only kswapd writes file pages (v5.14), and only when it sees them again
                if file and (not self.pageout_file or not sc.kswapd
                             or not (p.flags & (1ULL << PG_reclaim))
                             or not (self.pgdat_flags[nid] & (1UL << PGDAT_DIRTY))):
                    __mod_node_page_state(pm.vs, nid, NR_VMSCAN_IMMEDIATE, nrp)
                    p.flags |= 1ULL << PG_reclaim
                    if self.flusher_writeback and mapping is not None and p._refcount == 1 \
                            and mapping.a_ops != NULL and mapping.a_ops.writepage != NULL \
                            and core.clear_page_dirty_for_io(pfn):
                        # the flusher reclaim wakes (wakeup_flusher_threads) writes it
                        # (write_one_page); the disk completes the write when the batch's
                        # plug is flushed, after the page went back to the LRU, and the
                        # rotation brings it back to the inactive tail
                        self.flusher_write(mapping, pfn)
                    self._activate(lv, pfn, file, stat)
                    continue
                if references == PAGEREF_RECLAIM_CLEAN or not may_enter_fs or not sc.may_writepage:
                    self._keep(lv, pfn, file)
                    continue
                core.rmap.walk_cache_begin()
                res = self.pageout(pfn, mapping, file)
                if res == PAGE_KEEP:
                    self._keep(lv, pfn, file)
                    continue
                if res == PAGE_ACTIVATE:
                    self._activate(lv, pfn, file, stat)
                    continue
                if res == PAGE_SUCCESS:
                    stat.nr_pageout += nrp
                    # shmem_writepage() moved a shmem page to the swap cache: page_mapping()
                    # is now the swapper space
                    swapcache = (p.flags & (1ULL << PG_swapcache)) != 0
                    if p.flags & (1ULL << PG_writeback):
                        self._keep(lv, pfn, file)                   # in the plug: ends later
                        continue
                    if p.flags & (1ULL << PG_dirty):
                        self._keep(lv, pfn, file)
                        continue
                    # a synchronous write: go ahead and try to reclaim the page
            # __remove_mapping()
            if swapcache:
                if not self.remove_swap_mapping(pfn):
                    self._keep(lv, pfn, file)
                    continue
            elif mapping is None or not self.remove_mapping(mapping, pfn, True, sc):
                self._keep(lv, pfn, file)
                continue
            __mod_lruvec_page_state(pm.vs, p, NR_ISOLATED_ANON + file, -nrp)
            p._refcount = 0
            pm.mem_cgroup_uncharge(pfn)
            if nrp > 1:                     # a large folio goes back to the buddy whole
                pm.free_pages(pfn, p.compound_order)
            else:
                tofree[nfree] = pfn
                nfree += 1
            reclaimed += nrp
        nfree_out[0] = nfree
        return reclaimed

    cdef int flusher_write(self, AddressSpace mapping, pfn_t pfn) except -1:
        """The flusher's write of a dirty page reclaim found (wakeup_flusher_threads ->
        wb_writeback -> do_writepages): write_one_page() through its mapping's a_ops
        writepage.  The write waits in shrink_page_list()'s plug, so it ends (rotating the
        page, PG_reclaim, to the inactive tail) after the batch went back to the LRU."""
        cdef writeback_control wbc
        wbc.nr_to_write = 1024                          # MAX_WRITEBACK_PAGES
        wbc.range_start = 0
        wbc.range_end = 0x7fffffffffffffff
        wbc.sync_mode = WB_SYNC_NONE
        wbc.for_reclaim = False
        self.core.write_one_page(mapping, pfn, &wbc)   # ACTIVATE: the op redirtied it
        return 0

    cdef int _keep(self, lruvec* lv, pfn_t pfn, bint file) except -1:
        """shrink_page_list()'s keep: back to the inactive list's head (move_pages_to_lru)."""
        return self._putback(lv, pfn, LRU_INACTIVE_FILE if file else LRU_INACTIVE_ANON)

    cdef int _activate(self, lruvec* lv, pfn_t pfn, bint file, reclaim_stat* stat) except -1:
        """shrink_page_list()'s activate_locked: PG_active and nr_activate[file] unless the page
        is mlocked (it goes to the unevictable list on putback), then keep."""
        cdef page* p = &self.pm.mem_map[pfn]
        if not (p.flags & (1ULL << PG_mlocked)):
            p.flags |= 1ULL << PG_active
            stat.nr_activate[1 if file else 0] += file_folio_nr(p)
        return self._keep(lv, pfn, file)

    cdef int page_check_references(self, pfn_t pfn, list vmas) except -1:
        """page_check_references(): the young PTEs (page_referenced, which clears them) and
        PG_referenced (test-and-cleared) decide: VM_LOCKED -> PAGEREF_RECLAIM (try_to_unmap
        culls it); referenced by PTEs -> PG_referenced set, and PAGEREF_ACTIVATE if it was
        referenced before or by more than one PTE, or is a file page of a VM_EXEC mapping,
        else PAGEREF_KEEP; not referenced by PTEs -> PAGEREF_RECLAIM_CLEAN for a file page
        with PG_referenced (reclaim it if clean), else PAGEREF_RECLAIM."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t vm_flags = 0, more
        cdef int referenced_ptes = self.core.rmap._page_referenced(pfn, vmas, &vm_flags)
        cdef bint referenced_page = (p.flags >> PG_referenced) & 1
        cdef int64_t nr = file_folio_nr(p), i
        for i in range(1, nr):              # folio_referenced(): every page of a large folio
            if self.pm.mem_map[pfn + i]._mapcount > 0 and not (vm_flags & VM_LOCKED):
                more = 0
                referenced_ptes += self.core.rmap._page_referenced(pfn + i, vmas, &more)
                vm_flags |= more
        p.flags &= ~(1ULL << PG_referenced)
        if vm_flags & VM_LOCKED:
            # v5.14: try_to_unmap() finds the VM_LOCKED VMA and mlocks the page; v6.18
            # (folio_check_references) activates it, folio_referenced() having mlocked it
            return PAGEREF_ACTIVATE if self.pm.mlock_fbatch_enabled else PAGEREF_RECLAIM
        if referenced_ptes:
            p.flags |= 1ULL << PG_referenced
            if referenced_page or referenced_ptes > 1:
                return PAGEREF_ACTIVATE
            if vm_flags & VM_EXEC and not (p.flags & (1ULL << PG_swapbacked)):
                return PAGEREF_ACTIVATE
            return PAGEREF_KEEP
        if referenced_page and not (p.flags & (1ULL << PG_swapbacked)):
            return PAGEREF_RECLAIM_CLEAN
        return PAGEREF_RECLAIM

    cdef int pageout(self, pfn_t pfn, AddressSpace mapping, bint file) except -1:
        """pageout() (v6.18 pageout -> writeout): a page only the cache holds
        (is_page_cache_freeable) is cleaned (clear_page_dirty_for_io: PAGE_CLEAN if it was not
        dirty) and written with PG_reclaim set, through the mapping's a_ops writepage or
        swap_ops.swap_writepage for a swap-cache page; a shmem page's writepage is
        shmem_writepage(), which moves it to the swap cache and writes it there (the caller
        then reclaims it as a swap-cache page).  No writepage (a_ops NULL, or a shmem mapping
        without swap): PAGE_ACTIVATE.
        AOP_WRITEPAGE_ACTIVATE: PG_reclaim cleared, PAGE_ACTIVATE.  A write that finished at
        once loses PG_reclaim.  Then vmscan:mm_vmscan_writepage (write_folio) and
        NR_VMSCAN_WRITE; PAGE_SUCCESS."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef MmCore core = self.core
        cdef writeback_control wbc
        cdef int res = 0
        cdef bint swapcache = (p.flags & (1ULL << PG_swapcache)) != 0
        cdef uint64_t vals[2]
        if p._refcount != 1:
            return PAGE_KEEP
        if swapcache:
            if core.swap.swap_writepage == NULL:
                return PAGE_ACTIVATE
        elif mapping is None:
            return PAGE_KEEP
        elif mapping.a_ops == NULL or mapping.a_ops.writepage == NULL:
            return PAGE_ACTIVATE
        if not core.clear_page_dirty_for_io(pfn):
            return PAGE_CLEAN
        wbc.nr_to_write = SWAP_CLUSTER_MAX
        wbc.range_start = 0
        wbc.range_end = 0x7fffffffffffffff
        wbc.sync_mode = WB_SYNC_NONE
        wbc.for_reclaim = True
        p.flags |= 1ULL << PG_reclaim
        if swapcache:
            res = core.swap.swap_writepage(core.swap.ctx, pfn, p.private, &wbc)
        elif p.flags & (1ULL << PG_swapbacked):
            # shmem_writepage(): the page goes to the swap cache and is written there (or is
            # redirtied: AOP_WRITEPAGE_ACTIVATE)
            res = mapping.a_ops.writepage(mapping.a_ops.ctx, mapping, pfn, &wbc)
        else:                       # a_ops writepage: the write waits in the batch's plug
            res = core.write_one_page(mapping, pfn, &wbc)
        if res == AOP_WRITEPAGE_ACTIVATE:
            p.flags &= ~(1ULL << PG_reclaim)
            return PAGE_ACTIVATE
        if not (p.flags & (1ULL << PG_writeback)):
            p.flags &= ~(1ULL << PG_reclaim)
        if self.pm.tb.core[EV_MM_VMSCAN_WRITEPAGE].enabled:
            vals[0] = pfn
            vals[1] = trace_reclaim_flags(file)
            self.pm.tb.emit(EV_MM_VMSCAN_WRITEPAGE, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_VMSCAN_WRITE, file_folio_nr(p))
        return PAGE_SUCCESS

    cdef bint add_to_swap(self, pfn_t pfn) except -1:
        """add_to_swap() through swap_ops.swap_out: a slot (get_swap_page), the page in the swap
        cache (add_to_swap_cache) and dirtied.  False when there is no swap (the op is NULL),
        no slot or the memcg's swap.max refuses (-ENOMEM)."""
        cdef uint64_t entry = 0
        if self.core.swap.swap_out == NULL:
            return False
        return self.core.swap.swap_out(self.core.swap.ctx, pfn, &entry) == 0

    cdef bint remove_swap_mapping(self, pfn_t pfn) except -1:
        """__remove_mapping() of a swap-cache page: when only the swap cache holds it and it is
        clean, swap_ops.delete_from_swap_cache (mem_cgroup_swapout, __delete_from_swap_cache,
        put_swap_page).  The PTEs keep the entry; the page's own mapping (its anon_vma) goes
        with it."""
        cdef page* p = &self.pm.mem_map[pfn]
        if p._refcount != 1 or p.flags & (1ULL << PG_dirty):
            return False
        self.delete_from_swap_cache(pfn)
        p.mapping = 0
        return True

    cdef int delete_from_swap_cache(self, pfn_t pfn) except -1:
        """swap_ops.delete_from_swap_cache: the page leaves the swap cache (the caller drops
        the swap cache's reference)."""
        cdef page* p = &self.pm.mem_map[pfn]
        self.core.swap.delete_from_swap_cache(self.core.swap.ctx, pfn, p.private)
        return 0

    # -- MADV_PAGEOUT (mm/madvise.c, reclaim_pages) ----------------------------------------------
    def madvise_pageout(self, MmStruct mm, uint64_t start, uint64_t end):
        """madvise_pageout() over [start, end) of ``mm`` (a VMA's part; the caller checked
        can_madv_lru_vma): lru_add_drain(), then madvise_cold_or_pageout_pte_range() -- each
        present PTE of an order-0 page mapped once (page_mapcount() == 1; PMD-mapped and shared
        pages are skipped) is made old, the page loses PG_referenced and is isolated from its
        LRU -- and reclaim_pages(): shrink_page_list() of the isolated pages per lruvec, in
        batches of SWAP_CLUSTER_MAX, with scan_control {GFP_KERNEL, may_writepage, may_unmap,
        may_swap}; what it keeps goes back to its list.  No pgscan / pgsteal (reclaim_pages
        counts none).  Returns (isolated, reclaimed)."""
        cdef PhysMem pm = self.pm
        cdef MmCore core = self.core
        cdef pfn_t batch[SWAP_CLUSTER_MAX]
        cdef int n = 0, err
        cdef uint64_t addr, e, isolated = 0, reclaimed = 0
        cdef uint64_t* pte
        cdef pfn_t pfn
        cdef page* p
        cdef lruvec* lv
        cdef lruvec* cur = NULL
        cdef scan_control sc
        cdef reclaim_stat stat
        full_scan_control(&sc, GFP_KERNEL)
        pm.lru_add_drain()
        addr = start
        while addr < end:
            err = 0
            pte = core.walk(mm, addr, False, &err)
            if pte == NULL or err:
                addr += PAGE_SIZE
                continue
            e = pte[0]
            if not (e & _PAGE_PRESENT) or e & _PAGE_SPECIAL:
                addr += PAGE_SIZE
                continue
            pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            p = &pm.mem_map[pfn]
            if p.flags & ((1ULL << PG_head) | (1ULL << PG_tail) | (1ULL << PG_zero)) or p._mapcount != 1:
                addr += PAGE_SIZE
                continue
            pte[0] = e & ~(<uint64_t>_PAGE_ACCESSED)        # ptep_test_and_clear_young
            p.flags &= ~(1ULL << PG_referenced)
            if p.flags & (1ULL << PG_lru) and not (p.flags & (1ULL << PG_unevictable)):
                lv = pm.folio_lruvec(pfn)
                if (lv != cur and n) or n == SWAP_CLUSTER_MAX:
                    reclaimed += self.shrink_page_list(batch, n, cur, &sc, &stat)
                    n = 0
                cur = lv
                pm.lruvec_del_folio(lv, pfn)
                p.flags &= ~((1ULL << PG_lru) | (1ULL << PG_active))    # ClearPageActive
                __mod_lruvec_page_state(pm.vs, p, NR_ISOLATED_ANON + (0 if p.flags & (1ULL << PG_swapbacked) else 1), 1)
                batch[n] = pfn
                n += 1
                isolated += 1
            addr += PAGE_SIZE
        if n:
            reclaimed += self.shrink_page_list(batch, n, cur, &sc, &stat)
        return isolated, reclaimed

    def set_pgdat_flag(self, int nid, int bit, bint on=True):
        """Set or clear bit ``bit`` (PGDAT_DIRTY 0, PGDAT_WRITEBACK 1) of node ``nid``'s
        pgdat->flags, as shrink_node() does for kswapd."""
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        if on:
            self.pgdat_flags[nid] |= 1UL << bit
        else:
            self.pgdat_flags[nid] &= ~(1UL << bit)

    @property
    def last_reclaim_stat(self):
        """The struct reclaim_stat the last shrink_page_list filled, as a dict."""
        cdef reclaim_stat* st = &self.last_stat
        return {"nr_dirty": st.nr_dirty, "nr_unqueued_dirty": st.nr_unqueued_dirty,
                "nr_congested": st.nr_congested, "nr_writeback": st.nr_writeback,
                "nr_immediate": st.nr_immediate, "nr_pageout": st.nr_pageout,
                "nr_activate": (st.nr_activate[0], st.nr_activate[1]), "nr_ref_keep": st.nr_ref_keep,
                "nr_unmap_fail": st.nr_unmap_fail, "nr_lazyfree_fail": st.nr_lazyfree_fail}

    def shrink_active_list_py(self, int nid, int lru, uint64_t nr_to_scan=SWAP_CLUSTER_MAX,
                              bint kswapd=False):
        """One shrink_active_list() of node ``nid``'s active list ``lru`` (3: file, 1: anon)
        from Python: its pages are deactivated."""
        cdef scan_control sc
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        memset(&sc, 0, sizeof(sc))
        sc.gfp_mask = 0xcc0
        sc.priority = DEF_PRIORITY
        sc.reclaim_idx = MAX_NR_ZONES - 1
        sc.may_unmap = True
        sc.kswapd = kswapd
        self.shrink_active_list(nr_to_scan, &self.pm.lruvecs[nid], &sc, lru)

    def shrink_inactive_list_py(self, int nid, int lru, uint64_t nr_to_scan=SWAP_CLUSTER_MAX,
                                bint kswapd=False, gfp_t gfp=0xcc0):
        """One shrink_inactive_list() of node ``nid``'s list ``lru`` (2: inactive file, 0:
        inactive anon) from Python, as direct reclaim (or kswapd with ``kswapd``) would run it:
        returns (reclaimed, scanned)."""
        cdef scan_control sc
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        full_scan_control(&sc, gfp)
        sc.nr_to_reclaim = nr_to_scan
        sc.kswapd = kswapd
        reclaimed = self.shrink_inactive_list(nr_to_scan, &self.pm.lruvecs[nid], &sc, lru)
        return reclaimed, sc.nr_scanned

    cdef uint64_t shrink_inactive_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except? 0xffffffffffffffff:
        """shrink_inactive_list(): lru_add_drain, isolate a batch from the tail (pgscan_kswapd
        or _direct, pgscan_anon/file, even when nothing was taken), shrink_page_list, pgsteal_*,
        lru_note_cost, sc->nr, ``mm_vmscan_lru_shrink_inactive``."""
        cdef pfn_t pages[SWAP_CLUSTER_MAX]
        cdef uint64_t scanned = 0, reclaimed, taken
        cdef int n, i
        cdef bint file = lru >= LRU_INACTIVE_FILE
        cdef reclaim_stat stat
        cdef uint64_t vals[13]
        memset(&stat, 0, sizeof(stat))
        if nr_to_scan > SWAP_CLUSTER_MAX:
            nr_to_scan = SWAP_CLUSTER_MAX
        self.pm.lru_add_drain()
        n = self.isolate_lru_pages(nr_to_scan, lv, pages, lru, &scanned, sc)
        if not sc.target_mem_cgroup:            # !cgroup_reclaim(sc)
            __count_vm_events(self.pm.vs, PGSCAN_KSWAPD if sc.kswapd else PGSCAN_DIRECT, scanned)
        self.count_memcg_events(lv, PGSCAN_KSWAPD if sc.kswapd else PGSCAN_DIRECT, scanned)
        __count_vm_events(self.pm.vs, PGSCAN_FILE if file else PGSCAN_ANON, scanned)
        if n == 0:
            return 0
        # shrink_page_list's "sc->nr_scanned += nr_pages" for each page it is given
        taken = 0
        for i in range(n):
            taken += file_folio_nr(&self.pm.mem_map[pages[i]])
        sc.nr_scanned += taken
        reclaimed = self.shrink_page_list(pages, n, lv, sc, &stat)
        if not sc.target_mem_cgroup:
            __count_vm_events(self.pm.vs, PGSTEAL_KSWAPD if sc.kswapd else PGSTEAL_DIRECT, reclaimed)
        self.count_memcg_events(lv, PGSTEAL_KSWAPD if sc.kswapd else PGSTEAL_DIRECT, reclaimed)
        __count_vm_events(self.pm.vs, PGSTEAL_FILE if file else PGSTEAL_ANON, reclaimed)
        self.lru_note_cost(lv, file, stat.nr_pageout, scanned - reclaimed)
        sc.nr_dirty += stat.nr_dirty
        sc.nr_congested += stat.nr_congested
        sc.nr_unqueued_dirty += stat.nr_unqueued_dirty
        sc.nr_writeback += stat.nr_writeback
        sc.nr_immediate += stat.nr_immediate
        sc.nr_taken += taken
        if file:
            sc.nr_file_taken += taken
        if self.pm.tb.core[EV_MM_VMSCAN_LRU_SHRINK_INACTIVE].enabled:
            vals[0] = lv.nid; vals[1] = scanned; vals[2] = reclaimed; vals[3] = stat.nr_dirty
            vals[4] = stat.nr_writeback; vals[5] = stat.nr_congested; vals[6] = stat.nr_immediate
            vals[7] = stat.nr_activate[0]; vals[8] = stat.nr_activate[1]; vals[9] = stat.nr_ref_keep
            vals[10] = stat.nr_unmap_fail; vals[11] = <uint64_t><int64_t>sc.priority
            vals[12] = trace_reclaim_flags(file)
            self.pm.tb.emit(EV_MM_VMSCAN_LRU_SHRINK_INACTIVE, self.pm.cur.cpu, self.pm.cur.pid,
                            vals, NULL, 0)
        return reclaimed

    cdef int shrink_active_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except -1:
        """shrink_active_list(): isolate from the active tail (pgrefill), clear the young bits
        of mapped pages (page_referenced), and deactivate every page to the inactive list's
        head, PG_active cleared and PG_workingset set (pgdeactivate); a referenced mapped
        executable file page would stay active (nr_rotated; not modelled: memsim has no
        VM_EXEC text yet).  ``mm_vmscan_lru_shrink_active``."""
        cdef pfn_t pages[SWAP_CLUSTER_MAX]
        cdef uint64_t scanned = 0, vm_flags = 0
        cdef int n, i
        cdef page* p
        cdef uint64_t nr_rotated = 0
        cdef uint64_t vals[7]
        if nr_to_scan > SWAP_CLUSTER_MAX:
            nr_to_scan = SWAP_CLUSTER_MAX
        self.pm.lru_add_drain()
        n = self.isolate_lru_pages(nr_to_scan, lv, pages, lru, &scanned, sc)
        __count_vm_events(self.pm.vs, PGREFILL, scanned)
        self.count_memcg_events(lv, PGREFILL, scanned)
        for i in range(n):
            p = &self.pm.mem_map[pages[i]]
            if p._mapcount > 0:
                self.core.rmap._page_referenced(pages[i], None, &vm_flags)    # the young bits are cleared
            p.flags &= ~(1ULL << PG_active)
            p.flags |= 1ULL << PG_workingset
            self._putback(lv, pages[i], lru - LRU_ACTIVE)
        __count_vm_events(self.pm.vs, PGDEACTIVATE, n)
        self.count_memcg_events(lv, PGDEACTIVATE, n)
        if nr_rotated and self.lru_cost_rotations:
            self.lru_note_cost(lv, lru >= LRU_INACTIVE_FILE, 0, nr_rotated)
        if self.pm.tb.core[EV_MM_VMSCAN_LRU_SHRINK_ACTIVE].enabled:
            vals[0] = lv.nid; vals[1] = n; vals[2] = 0; vals[3] = n; vals[4] = nr_rotated
            vals[5] = <uint64_t><int64_t>sc.priority; vals[6] = trace_reclaim_flags(lru >= LRU_INACTIVE_FILE)
            self.pm.tb.emit(EV_MM_VMSCAN_LRU_SHRINK_ACTIVE, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        return 0

    cdef uint64_t shrink_list(self, int lru, uint64_t nr_to_scan, lruvec* lv, scan_control* sc) except? 0xffffffffffffffff:
        """shrink_list(): an active list is shrunk only when prepare_scan_count allowed its
        type to be deactivated (sc->may_deactivate), else sc->skipped_deactivate."""
        if lru & LRU_ACTIVE:
            if sc.may_deactivate & (1 << (lru >= LRU_INACTIVE_FILE)):
                self.shrink_active_list(nr_to_scan, lv, sc, lru)
            else:
                sc.skipped_deactivate = True
            return 0
        return self.shrink_inactive_list(nr_to_scan, lv, sc, lru)

    cdef int shrink_lruvec(self, lruvec* lv, scan_control* sc) except -1:
        """shrink_lruvec(): get_scan_count, then SWAP_CLUSTER_MAX of each evictable list in
        turn until the targets are scanned.  Once nr_to_reclaim is met (not for direct reclaim
        at DEF_PRIORITY, scan_adjusted), the smaller of anon and file stops and the other's
        remaining scan is cut to the share of its target the smaller had left (proportional
        scan); at the end the anon lists are rebalanced when anon can be aged and
        inactive_is_low(anon)."""
        cdef uint64_t nr[NR_LRU_LISTS]
        cdef uint64_t targets[NR_LRU_LISTS]
        cdef uint64_t nr_to_scan, nr_anon, nr_file, percentage, scan_target, nr_scanned
        cdef uint64_t nr_reclaimed = 0
        cdef uint64_t nr_to_reclaim = sc.nr_to_reclaim
        cdef int lru
        cdef bint scan_adjusted
        self.get_scan_count(lv, sc, nr)
        for lru in range(NR_LRU_LISTS):
            targets[lru] = nr[lru]
        scan_adjusted = not sc.kswapd and sc.priority == DEF_PRIORITY
        while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
            for lru in range(LRU_INACTIVE_ANON, LRU_ACTIVE_FILE + 1):
                if nr[lru]:
                    nr_to_scan = nr[lru] if nr[lru] < SWAP_CLUSTER_MAX else SWAP_CLUSTER_MAX
                    nr[lru] -= nr_to_scan
                    nr_reclaimed += self.shrink_list(lru, nr_to_scan, lv, sc)
            if nr_reclaimed < nr_to_reclaim or scan_adjusted:
                continue
            nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE]
            nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON]
            if not nr_file or not nr_anon:
                break
            if nr_file > nr_anon:
                scan_target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1
                lru = LRU_INACTIVE_ANON
                percentage = nr_anon * 100 // scan_target
            else:
                scan_target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1
                lru = LRU_FILE
                percentage = nr_file * 100 // scan_target
            nr[lru] = 0
            nr[lru + LRU_ACTIVE] = 0
            lru = LRU_INACTIVE_ANON if lru == LRU_FILE else LRU_FILE
            nr_scanned = targets[lru] - nr[lru]
            nr[lru] = targets[lru] * (100 - percentage) // 100
            nr[lru] -= nr[lru] if nr[lru] < nr_scanned else nr_scanned
            lru += LRU_ACTIVE
            nr_scanned = targets[lru] - nr[lru]
            nr[lru] = targets[lru] * (100 - percentage) // 100
            nr[lru] -= nr[lru] if nr[lru] < nr_scanned else nr_scanned
            scan_adjusted = True
        sc.nr_reclaimed += nr_reclaimed
        if self.can_age_anon_pages() and self.inactive_is_low(lv, LRU_INACTIVE_ANON):
            self.shrink_active_list(SWAP_CLUSTER_MAX, lv, sc, LRU_ACTIVE_ANON)
        return 0

    # -- shrink_node -----------------------------------------------------------------------------
    cdef int prepare_scan_count(self, int nid, scan_control* sc) noexcept:
        """shrink_node()'s scan balance set-up (v6.1+ prepare_scan_count) on the reclaim
        target's lruvec (mem_cgroup_lruvec(sc->target_mem_cgroup, pgdat): the node's own for
        global reclaim): its costs; may_deactivate of a type whose refaults moved since the
        last snapshot or whose inactive list is low (hierarchical sizes); cache_trim_mode when
        the inactive file list has pages at this priority and needs no deactivation; for
        global reclaim only, file_is_tiny when the node's file + free pages are at most the
        high watermarks, anon needs no deactivation and has pages at this priority.  memsim
        keeps the workingset activations per node only, so a memcg target compares the
        node's with its snapshot."""
        cdef lruvec* lv = self.mem_cgroup_lruvec(sc.target_mem_cgroup, nid)
        cdef int64_t* ns = self.pm.vs.nodes[nid].vm_stat
        cdef uint64_t file, free_pages = 0, total_high_wmark = 0, anon
        cdef int z
        cdef zone* zn
        if lv == NULL:
            lv = &self.pm.lruvecs[nid]
        sc.anon_cost = lv.anon_cost
        sc.file_cost = lv.file_cost
        if <uint64_t>ns[<int>WORKINGSET_ACTIVATE_ANON] != lv.refaults[0] or self.inactive_is_low(lv, LRU_INACTIVE_ANON):
            sc.may_deactivate |= DEACTIVATE_ANON
        else:
            sc.may_deactivate &= ~DEACTIVATE_ANON
        if <uint64_t>ns[<int>WORKINGSET_ACTIVATE_FILE] != lv.refaults[1] or self.inactive_is_low(lv, LRU_INACTIVE_FILE):
            sc.may_deactivate |= DEACTIVATE_FILE
        else:
            sc.may_deactivate &= ~DEACTIVATE_FILE
        file = self.lruvec_lru_pages(lv, LRU_INACTIVE_FILE)
        sc.cache_trim_mode = (file >> sc.priority) != 0 and not (sc.may_deactivate & DEACTIVATE_FILE)
        if sc.target_mem_cgroup:                # cgroup_reclaim(): file_is_tiny is global's
            return 0
        lv = &self.pm.lruvecs[nid]
        file = self.lruvec_lru_pages(lv, LRU_INACTIVE_FILE) + self.lruvec_lru_pages(lv, LRU_ACTIVE_FILE)
        for z in range(MAX_NR_ZONES):
            zn = &self.pm.zones[nid * MAX_NR_ZONES + z]
            if zn.managed_pages == 0:
                continue
            free_pages += zone_page_state_snapshot(self.pm.vs, nid * MAX_NR_ZONES + z, NR_FREE_PAGES)
            total_high_wmark += zn.wmark[WMARK_HIGH]
        anon = self.lruvec_lru_pages(lv, LRU_INACTIVE_ANON)
        sc.file_is_tiny = (file + free_pages <= total_high_wmark
                           and not (sc.may_deactivate & DEACTIVATE_ANON) and (anon >> sc.priority) != 0)
        return 0

    cdef bint should_continue_reclaim(self, int nid, uint64_t nr_reclaimed, scan_control* sc) noexcept:
        """should_continue_reclaim(): only reclaim/compaction mode (order > 0 and a costly
        order or priority < DEF_PRIORITY - 2) goes round shrink_node again, and memsim has
        no compaction to reclaim for: never."""
        return False

    cdef int shrink_node_memcgs(self, int nid, scan_control* sc) except -1:
        """shrink_node_memcgs(): every memcg of the reclaim target's subtree in
        mem_cgroup_iter's order (the target first; global reclaim: the root memcg, whose lruvec
        is the node's own, then every other, dying ones included):
        mem_cgroup_calculate_protection, then a memcg below its memory.min is skipped, one
        below its memory.low is skipped in the first pass (sc->memcg_low_skipped) and in the
        second (sc->memcg_low_reclaim) reclaimed with memory.events ``low`` counted; the others
        shrink_lruvec, then shrink_slab (memsim's shrinkers are not memcg-aware: only the root
        memcg's turn runs them, as shrink_slab() of a non-root memcg runs only
        shrink_slab_memcg's per-memcg shrinkers).  Without memcg: the node's lruvec alone."""
        cdef int target = sc.target_mem_cgroup
        cdef int memcg
        cdef lruvec* lv
        if self.pm.lru_ops.mem_cgroup_iter == NULL or self.memcg.mem_cgroup_below_min == NULL:
            self.shrink_lruvec(&self.pm.lruvecs[nid], sc)
            if self.shrinkers is not None:
                self.shrinkers.shrink_slab(sc.gfp_mask, nid, NULL, sc.priority)
            return 0
        memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, target, 0)
        while memcg:
            lv = self.pm.lru_ops.mem_cgroup_lruvec(self.pm.lru_ops.ctx, memcg, nid)
            self.memcg.mem_cgroup_calculate_protection(self.memcg.ctx, target, memcg)
            if lv == NULL:
                pass
            elif self.memcg.mem_cgroup_below_min(self.memcg.ctx, target, memcg):
                pass                                # hard protection: OOM if nothing else
            elif self.memcg.mem_cgroup_below_low(self.memcg.ctx, target, memcg) and not sc.memcg_low_reclaim:
                sc.memcg_low_skipped = True         # soft protection, while others can give
            else:
                if self.memcg.mem_cgroup_below_low(self.memcg.ctx, target, memcg):
                    self.memcg.memcg_memory_event(self.memcg.ctx, memcg, MEMCG_LOW_EVENT)
                self.shrink_lruvec(lv, sc)
                if self.shrinkers is not None and lv.memcg_id == 0:
                    self.shrinkers.shrink_slab(sc.gfp_mask, nid, NULL, sc.priority)
            memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, target, memcg)
        return 0

    cdef int shrink_node(self, int nid, scan_control* sc) except -1:
        """shrink_node(): sc->nr reset, prepare_scan_count, shrink_node_memcgs, again while
        should_continue_reclaim; progress resets pgdat->kswapd_failures."""
        cdef uint64_t nr_reclaimed
        while True:
            sc.nr_dirty = sc.nr_unqueued_dirty = sc.nr_congested = sc.nr_writeback = 0
            sc.nr_immediate = sc.nr_taken = sc.nr_file_taken = 0
            nr_reclaimed = sc.nr_reclaimed
            self.prepare_scan_count(nid, sc)
            self.shrink_node_memcgs(nid, sc)
            if not self.should_continue_reclaim(nid, sc.nr_reclaimed - nr_reclaimed, sc):
                break
        if sc.nr_reclaimed - nr_reclaimed:
            self.pgdat[nid].kswapd_failures = 0
        if sc.kswapd:
            # kswapd marks the node: all it took was under writeback (PGDAT_WRITEBACK), or its
            # file pages were all dirty and unqueued (PGDAT_DIRTY: pageout() may write them)
            if sc.nr_writeback and sc.nr_writeback == sc.nr_taken:
                self.pgdat_flags[nid] |= 1UL << PGDAT_WRITEBACK
            if sc.nr_unqueued_dirty == sc.nr_file_taken:
                self.pgdat_flags[nid] |= 1UL << PGDAT_DIRTY
        return 0

    cdef void snapshot_refaults(self, int target, int nid) noexcept:
        """snapshot_refaults(target_memcg, pgdat): the target lruvec remembers the workingset
        activations reclaim has seen (memsim counts them per node)."""
        cdef int64_t* ns = self.pm.vs.nodes[nid].vm_stat
        cdef lruvec* lv = self.mem_cgroup_lruvec(target, nid)
        if lv == NULL:
            return
        lv.refaults[0] = <uint64_t>ns[<int>WORKINGSET_ACTIVATE_ANON]
        lv.refaults[1] = <uint64_t>ns[<int>WORKINGSET_ACTIVATE_FILE]

    cdef uint64_t do_try_to_free_pages(self, int nid, int nodes, scan_control* sc) except? 0xffffffffffffffff:
        """do_try_to_free_pages(): allocstall_<gfp_zone> (not for memcg reclaim), then priority
        12 down to 0, shrink_zones() each time (shrink_node of each of ``nodes`` nodes of the
        zonelist from ``nid``) until sc->nr_to_reclaim pages are reclaimed; the refaults
        snapshot of the target's lruvecs at the end.  Nothing reclaimed while a memcg below its
        memory.low was skipped (sc->memcg_low_skipped): the whole run again from DEF_PRIORITY
        with memcg_low_reclaim ("untapped cgroup reserves? don't OOM, retry").  (The kernel's
        first retry, force_deactivate after skipped_deactivate, is not modelled.)  Returns the
        pages reclaimed."""
        cdef int i
        while True:
            if not sc.target_mem_cgroup:
                __count_zid_vm_events(self.pm.vs, ALLOCSTALL_DMA, sc.reclaim_idx, 1)
            while sc.priority >= 0:
                sc.nr_scanned = 0
                for i in range(nodes):
                    self.shrink_node((nid + i) % self.pm.nr_nodes, sc)
                if sc.nr_reclaimed >= sc.nr_to_reclaim:
                    break
                sc.priority -= 1
            for i in range(nodes):
                self.snapshot_refaults(sc.target_mem_cgroup, (nid + i) % self.pm.nr_nodes)
            if sc.nr_reclaimed:
                return sc.nr_reclaimed
            if not sc.memcg_low_skipped:
                return 0
            sc.priority = DEF_PRIORITY
            sc.memcg_low_reclaim = True
            sc.memcg_low_skipped = False

    def try_to_free_pages(self, int nid, uint64_t nr_to_reclaim=SWAP_CLUSTER_MAX,
                          gfp_t gfp=0xcc0, int order=0):
        """try_to_free_pages() of node ``nid`` alone from Python (as with __GFP_THISNODE):
        allocstall_<gfp_zone(gfp)>, then do_try_to_free_pages.  Returns the pages reclaimed."""
        cdef scan_control sc
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        init_direct_sc(&sc, nr_to_reclaim, gfp, order)
        return self.do_try_to_free_pages(nid, 1, &sc)

    cdef uint64_t try_to_free_mem_cgroup_pages(self, int memcg, uint64_t nr_pages, gfp_t gfp,
                                               bint may_swap) except? 0xffffffffffffffff:
        """try_to_free_mem_cgroup_pages(): reclaim at least max(nr_pages, SWAP_CLUSTER_MAX)
        pages from ``memcg``'s subtree (sc->target_mem_cgroup), every node of the zonelist from
        the running CPU's, every zone (reclaim_idx MAX_NR_ZONES - 1), with the caller's reclaim
        gfp bits on GFP_HIGHUSER_MOVABLE's others, no allocstall; between
        ``mm_vmscan_memcg_reclaim_begin`` (order 0) and ``_end``, as PF_MEMALLOC (the
        allocator does not recurse into reclaim).  Returns the pages reclaimed."""
        cdef scan_control sc
        cdef uint64_t vals[2]
        cdef uint64_t nr
        cdef bint was = self.pm.in_reclaim
        memset(&sc, 0, sizeof(sc))
        sc.nr_to_reclaim = nr_pages if nr_pages > SWAP_CLUSTER_MAX else SWAP_CLUSTER_MAX
        sc.gfp_mask = (gfp & GFP_RECLAIM_MASK) | (self.gfp_highuser_movable & ~GFP_RECLAIM_MASK)
        sc.reclaim_idx = MAX_NR_ZONES - 1
        sc.target_mem_cgroup = memcg
        sc.priority = DEF_PRIORITY
        sc.may_writepage = True
        sc.may_unmap = True
        sc.may_swap = may_swap
        if self.memcg_reclaim_begin_slot >= 0 and self.pm.tb.core[self.memcg_reclaim_begin_slot].enabled:
            vals[0] = 0; vals[1] = sc.gfp_mask
            self.pm.tb.emit(self.memcg_reclaim_begin_slot, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        self.pm.in_reclaim = True           # memalloc_noreclaim_save()
        try:
            nr = self.do_try_to_free_pages(self.pm.cpu_node[self.pm.cur.cpu], self.pm.nr_nodes, &sc)
        finally:
            self.pm.in_reclaim = was
        if self.memcg_reclaim_end_slot >= 0 and self.pm.tb.core[self.memcg_reclaim_end_slot].enabled:
            vals[0] = nr
            self.pm.tb.emit(self.memcg_reclaim_end_slot, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        return nr

    def try_to_free_mem_cgroup_pages_py(self, int memcg, uint64_t nr_pages, gfp_t gfp=0xcc0,
                                        bint may_swap=True):
        """try_to_free_mem_cgroup_pages() of the memcg with id ``memcg`` from Python (the memcg
        plugin's ``reclaim`` slot): the pages reclaimed."""
        if memcg <= 0:
            raise ValueError(f"memcg id {memcg}: memcg limit reclaim needs a memcg's id (> 0)")
        return self.try_to_free_mem_cgroup_pages(memcg, nr_pages, gfp, may_swap)

    def set_memcg_reclaim_events(self, int begin_slot, int end_slot):
        """The trace-buffer slots of vmscan:mm_vmscan_memcg_reclaim_begin / _end (plugin C
        events the memcg plugin declares; -1: not declared)."""
        self.memcg_reclaim_begin_slot = begin_slot
        self.memcg_reclaim_end_slot = end_slot

    # -- kswapd ----------------------------------------------------------------------------------
    cdef bint pgdat_balanced(self, int nid, int order, int highest_zoneidx) noexcept:
        """pgdat_balanced(): some managed zone up to ``highest_zoneidx`` (bottom-up) meets its
        high watermark for ``order`` (zone_watermark_ok_safe); a node with no such zone is
        balanced by definition."""
        cdef int i
        cdef bint any_zone = False
        cdef zone* z
        for i in range(highest_zoneidx + 1):
            if i >= MAX_NR_ZONES:
                break
            z = &self.pm.zones[nid * MAX_NR_ZONES + i]
            if z.managed_pages == 0:
                continue
            any_zone = True
            if self.pm.__zone_watermark_ok(
                    z, order, z.wmark[WMARK_HIGH], highest_zoneidx, 0,
                    zone_page_state_snapshot(self.pm.vs, nid * MAX_NR_ZONES + i, NR_FREE_PAGES)):
                return True
        return not any_zone

    cdef int wakeup_kswapd(self, int nid, int zid, gfp_t gfp, unsigned int order,
                           int highest_zoneidx) except -1:
        """wakeup_kswapd(): raise pgdat->kswapd_highest_zoneidx and kswapd_order to the
        request's; then, when kswapd sleeps on kswapd_wait (waitqueue_active) and the node is
        neither hopeless (kswapd_failures >= MAX_RECLAIM_RETRIES) nor balanced,
        ``mm_vmscan_wakeup_kswapd`` and wake_up_interruptible (kcompactd is not modelled).
        A machine whose kswapd tasks were never started (no scheduler) wakes nobody."""
        cdef pgdat_kswapd* pg = &self.pgdat[nid]
        cdef uint64_t vals[4]
        if pg.kswapd_highest_zoneidx == MAX_NR_ZONES or pg.kswapd_highest_zoneidx < highest_zoneidx:
            pg.kswapd_highest_zoneidx = highest_zoneidx
        if pg.kswapd_order < <int>order:
            pg.kswapd_order = order
        if not pg.kswapd_wait_active:
            return 0
        if pg.kswapd_failures >= MAX_RECLAIM_RETRIES or self.pgdat_balanced(nid, order, highest_zoneidx):
            return 0
        if self.pm.tb.core[EV_MM_VMSCAN_WAKEUP_KSWAPD].enabled:
            vals[0] = nid; vals[1] = zid; vals[2] = order; vals[3] = gfp
            self.pm.tb.emit(EV_MM_VMSCAN_WAKEUP_KSWAPD, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        pg.kswapd_wait_active = False       # autoremove_wake_function
        self.kswapd_wait[nid].wake_up()
        return 0

    cdef bint kswapd_shrink_node(self, int nid, scan_control* sc) except -1:
        """kswapd_shrink_node(): nr_to_reclaim is the sum over the eligible managed zones of
        max(high watermark, SWAP_CLUSTER_MAX); shrink_node; a high order drops to 0 once twice
        its size (compact_gap) is reclaimed.  True when enough was scanned to meet the high
        watermark at 100% efficiency (balance_pgdat then keeps the priority)."""
        cdef int z
        cdef zone* zn
        sc.nr_to_reclaim = 0
        for z in range(sc.reclaim_idx + 1):
            zn = &self.pm.zones[nid * MAX_NR_ZONES + z]
            if zn.managed_pages == 0:
                continue
            sc.nr_to_reclaim += zn.wmark[WMARK_HIGH] if zn.wmark[WMARK_HIGH] > SWAP_CLUSTER_MAX else SWAP_CLUSTER_MAX
        self.shrink_node(nid, sc)
        if sc.order and sc.nr_reclaimed >= (2UL << sc.order):
            sc.order = 0
        return sc.nr_scanned >= sc.nr_to_reclaim

    # The pieces of kswapd() that memsim.kswapd's task body calls (coarse: once per wake-up or
    # per balance_pgdat priority pass, never per page).
    def start_kswapd(self, int nid, wait_queue):
        """kswapd_run(): node ``nid``'s kswapd sleeps on ``wait_queue`` (its kswapd_wait)."""
        if self.kswapd_wait is None:
            self.kswapd_wait = [None] * self.pm.nr_nodes
        self.kswapd_wait[nid] = wait_queue
        self.pgdat[nid].kswapd_wait_active = True

    def set_kswapd_waiting(self, int nid, bint active):
        """prepare_to_wait (True) / finish_wait (False) on node ``nid``'s kswapd_wait."""
        self.pgdat[nid].kswapd_wait_active = active

    def kswapd_state(self, int nid):
        """(kswapd_order, kswapd_highest_zoneidx, kswapd_failures) of node ``nid``."""
        cdef pgdat_kswapd* pg = &self.pgdat[nid]
        return pg.kswapd_order, pg.kswapd_highest_zoneidx, pg.kswapd_failures

    def kswapd_take_request(self, int nid, int prev_highest):
        """kswapd()'s read after kswapd_try_to_sleep: the order and highest zone asked for
        (kswapd_highest_zoneidx(): ``prev_highest`` when none was), which are then reset."""
        cdef pgdat_kswapd* pg = &self.pgdat[nid]
        cdef int order = pg.kswapd_order
        cdef int highest = prev_highest if pg.kswapd_highest_zoneidx == MAX_NR_ZONES else pg.kswapd_highest_zoneidx
        pg.kswapd_order = 0
        pg.kswapd_highest_zoneidx = MAX_NR_ZONES
        return order, highest

    def kswapd_premature_wake(self, int nid, int highest, int reclaim_order):
        """kswapd_try_to_sleep() woken during its short nap: keep the highest zone asked for
        and at least ``reclaim_order``."""
        cdef pgdat_kswapd* pg = &self.pgdat[nid]
        if pg.kswapd_highest_zoneidx == MAX_NR_ZONES:
            pg.kswapd_highest_zoneidx = highest
        if pg.kswapd_order < reclaim_order:
            pg.kswapd_order = reclaim_order

    def prepare_kswapd_sleep(self, int nid, int order, int highest_zoneidx):
        """prepare_kswapd_sleep(): a hopeless node (kswapd_failures >= MAX_RECLAIM_RETRIES)
        or a balanced one lets kswapd sleep."""
        if self.pgdat[nid].kswapd_failures >= MAX_RECLAIM_RETRIES:
            return True
        if self.pgdat_balanced(nid, order, highest_zoneidx):
            # clear_pgdat_congested()
            self.pgdat_flags[nid] &= ~((1UL << PGDAT_DIRTY) | (1UL << PGDAT_WRITEBACK))
            return True
        return False

    def count_wmark_hit_quickly(self, bint low):
        """kswapd_try_to_sleep() could not sleep: kswapd_low_wmark_hit_quickly (woken during
        the nap) or kswapd_high_wmark_hit_quickly (the node was unbalanced after it)."""
        __count_vm_events(self.pm.vs, KSWAPD_LOW_WMARK_HIT_QUICKLY if low else KSWAPD_HIGH_WMARK_HIT_QUICKLY, 1)

    def trace_kswapd_wake(self, int nid, int zid, int order):
        """``mm_vmscan_kswapd_wake`` (kswapd(), before balance_pgdat)."""
        cdef uint64_t vals[3]
        if self.pm.tb.core[EV_MM_VMSCAN_KSWAPD_WAKE].enabled:
            vals[0] = nid; vals[1] = zid; vals[2] = order
            self.pm.tb.emit(EV_MM_VMSCAN_KSWAPD_WAKE, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)

    def trace_kswapd_sleep(self, int nid):
        """``mm_vmscan_kswapd_sleep`` (kswapd_try_to_sleep(), before schedule())."""
        cdef uint64_t vals[1]
        if self.pm.tb.core[EV_MM_VMSCAN_KSWAPD_SLEEP].enabled:
            vals[0] = nid
            self.pm.tb.emit(EV_MM_VMSCAN_KSWAPD_SLEEP, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)

    def balance_pgdat_begin(self, int nid, int order, int highest_zoneidx):
        """balance_pgdat()'s start: pageoutrun, its scan_control (GFP_KERNEL, may_unmap,
        may_swap and may_writepage: no watermark boost in memsim), priority DEF_PRIORITY."""
        cdef scan_control* sc = &self.pgdat[nid].sc
        memset(sc, 0, sizeof(scan_control))
        sc.gfp_mask = GFP_KERNEL
        sc.order = order
        sc.may_unmap = True
        sc.may_swap = True
        sc.may_writepage = True
        sc.kswapd = True
        sc.priority = DEF_PRIORITY
        sc.reclaim_idx = highest_zoneidx
        __count_vm_events(self.pm.vs, PAGEOUTRUN, 1)

    def balance_pgdat_step(self, int nid, int highest_zoneidx):
        """One pass of balance_pgdat()'s priority loop: done (True) when the node is balanced
        for sc.order up to ``highest_zoneidx``, else kswapd_shrink_node (age_active_anon
        first when anon can be reclaimed), the priority raised unless enough was scanned and
        something reclaimed; done too when the priority drops below 1, a pass that reclaimed
        nothing at all counting kswapd_failures."""
        cdef scan_control* sc = &self.pgdat[nid].sc
        cdef uint64_t nr_reclaimed = sc.nr_reclaimed
        cdef bint raise_priority = True
        cdef lruvec* lv = &self.pm.lruvecs[nid]
        cdef lruvec* mlv
        cdef int memcg
        sc.reclaim_idx = highest_zoneidx
        if self.pgdat_balanced(nid, sc.order, highest_zoneidx):
            return True
        # age_active_anon(): background aging of the anon lists, of every memcg's lruvec
        if self.can_age_anon_pages() and self.inactive_is_low(lv, LRU_INACTIVE_ANON):
            if self.pm.lru_ops.mem_cgroup_iter == NULL:
                self.shrink_active_list(SWAP_CLUSTER_MAX, lv, sc, LRU_ACTIVE_ANON)
            else:
                memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, 0, 0)
                while memcg:
                    mlv = self.pm.lru_ops.mem_cgroup_lruvec(self.pm.lru_ops.ctx, memcg, nid)
                    if mlv != NULL:
                        self.shrink_active_list(SWAP_CLUSTER_MAX, mlv, sc, LRU_ACTIVE_ANON)
                    memcg = self.pm.lru_ops.mem_cgroup_iter(self.pm.lru_ops.ctx, 0, memcg)
        sc.nr_scanned = 0
        if self.kswapd_shrink_node(nid, sc):
            raise_priority = False
        nr_reclaimed = sc.nr_reclaimed - nr_reclaimed
        if raise_priority or not nr_reclaimed:
            sc.priority -= 1
        if sc.priority < 1:
            if not sc.nr_reclaimed:
                self.pgdat[nid].kswapd_failures += 1
            return True
        return False

    def balance_pgdat_end(self, int nid):
        """balance_pgdat()'s end: snapshot_refaults; returns (the order kswapd reclaimed for,
        the pages reclaimed)."""
        self.snapshot_refaults(0, nid)
        return self.pgdat[nid].sc.order, self.pgdat[nid].sc.nr_reclaimed
