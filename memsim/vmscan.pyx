# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Page reclaim (mm/vmscan.c of v5.14, with the v6.18 differences the profiles switch on).

WORK IN PROGRESS (issue 10, "Reclaim"): direct reclaim from the allocator's slow path
(``PhysMem.reclaim``, installed here) and the LRU side of reclaim — isolation from the tail of a
list, shrink_page_list for page-cache pages of the built-in file mapping (a clean page is
dropped from ``i_pages``), putback, shrink_active_list's deactivation, get_scan_count with no
swap (anon is not scanned: ``swap_ops`` has no swap-out yet), the priority loop of
do_try_to_free_pages and the counters.  Not yet: kswapd, the vmscan
events, dirty pages, the mapping's evict op for plugins' a_ops, and the reverse map in C
(page_referenced / try_to_unmap still go through Rmap's Python methods per mapped page).
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from libc.string cimport memset
from memsim._types cimport (pfn_t, gfp_t, NIL32, GFP_DMA_, GFP_DMA32_, GFP_THISNODE_, PG_lru, PG_active, PG_referenced, PG_swapbacked,
                            PG_unevictable, PG_dirty, PG_head, PAGE_MAPPING_ANON, MAX_NR_ZONES)
from memsim.page cimport page
from memsim.physmem cimport (PhysMem, lruvec, LRU_INACTIVE_ANON, LRU_ACTIVE_ANON,
                             LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_ACTIVE, NR_LRU_LISTS)
from memsim.mm cimport MmCore, AddressSpace
from memsim.vmstat cimport (__count_vm_events, __mod_lruvec_page_state, __count_zid_vm_events,
                            PGSCAN_KSWAPD, PGSCAN_DIRECT, PGSTEAL_KSWAPD, PGSTEAL_DIRECT,
                            PGSCAN_ANON, PGSCAN_FILE, PGSTEAL_ANON, PGSTEAL_FILE, PGACTIVATE,
                            PGDEACTIVATE, PGREFILL, NR_ISOLATED_ANON, NR_ISOLATED_FILE,
                            NR_FILE_PAGES, ALLOCSTALL_DMA)

LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")


cdef inline int gfp_zone(gfp_t gfp) noexcept nogil:
    """gfp_zone() on x86-64 without a populated ZONE_MOVABLE (as memsim.physmem's)."""
    if gfp & GFP_DMA_:
        return 0
    if gfp & GFP_DMA32_:
        return 1
    return 2


cdef uint64_t _try_to_free_pages(void* ctx, gfp_t gfp, unsigned int order, int nid) except? 0xffffffffffffffff:
    """The allocator's reclaim op: try_to_free_pages() over the zonelist from node ``nid``
    (shrink_zones: that node, then the others in order; only it for __GFP_THISNODE)."""
    cdef Vmscan v = <Vmscan>ctx
    cdef uint64_t got = 0
    cdef int i, n, nodes = 1 if gfp & GFP_THISNODE_ else v.pm.nr_nodes
    __count_zid_vm_events(v.pm.vs, ALLOCSTALL_DMA, gfp_zone(gfp), 1)
    for i in range(nodes):
        n = (nid + i) % v.pm.nr_nodes
        got += v.do_try_to_free_pages(n, SWAP_CLUSTER_MAX - got if got < SWAP_CLUSTER_MAX else 1,
                                      gfp, order, gfp_zone(gfp), False)
        if got >= SWAP_CLUSTER_MAX:
            break
    return got


cdef class Vmscan:
    """Reclaim over a machine's LRU lists (mm/vmscan.c); installs itself as the allocator's
    reclaim op (direct reclaim)."""

    def __cinit__(self, PhysMem pm, MmCore core):
        self.pm = pm
        self.core = core
        self.swappiness = 60
        pm.reclaim.try_to_free_pages = _try_to_free_pages
        pm.reclaim.ctx = <void*>self

    def __dealloc__(self):
        if self.pm is not None and self.pm.reclaim.ctx == <void*>self:
            self.pm.reclaim.try_to_free_pages = NULL
            self.pm.reclaim.ctx = NULL

    cdef int isolate_lru_pages(self, uint64_t nr_to_scan, lruvec* lv, pfn_t* dst, int lru,
                               uint64_t* nr_scanned) except -1:
        """isolate_lru_pages() (v6.18 isolate_lru_folios): take up to ``nr_to_scan`` pages from
        the tail of list ``lru`` (the oldest), clearing PG_lru; NR_ISOLATED_* counts them."""
        cdef int n = 0
        cdef pfn_t pfn
        cdef page* p
        cdef uint64_t scanned = 0
        while scanned < nr_to_scan and lv.head[lru] != NIL32:
            pfn = self.pm.mem_map[lv.head[lru]].lru_prev          # the tail
            p = &self.pm.mem_map[pfn]
            self.pm.lruvec_del_folio(lv, pfn)
            p.flags &= ~(1ULL << PG_lru)
            __mod_lruvec_page_state(self.pm.vs, p, NR_ISOLATED_ANON + (lru >= LRU_INACTIVE_FILE), 1)
            dst[n] = pfn
            n += 1
            scanned += 1
        nr_scanned[0] = scanned
        return n

    cdef int _putback(self, lruvec* lv, pfn_t pfn, int lru_base) except -1:
        """move_pages_to_lru() of one page: PG_lru again, at the head of the list its flags
        name (PG_active set by the caller activates it)."""
        cdef page* p = &self.pm.mem_map[pfn]
        __mod_lruvec_page_state(self.pm.vs, p, NR_ISOLATED_ANON + (lru_base >= LRU_INACTIVE_FILE), -1)
        p.flags |= 1ULL << PG_lru
        self.pm.lruvec_add_folio(lv, pfn)
        return 0

    cdef bint remove_mapping(self, AddressSpace mapping, pfn_t pfn, bint reclaimed) except -1:
        """__remove_mapping(): a page whose only reference is the page cache's leaves i_pages
        (__delete_from_page_cache; the workingset part packs a shadow here when ``reclaimed``,
        workingset_eviction) and is no longer a page-cache page; False when someone else still
        holds it (the page_ref_freeze(page, 2) test) and it stays."""
        cdef page* p = &self.pm.mem_map[pfn]
        if p._mapcount > 0 or p._refcount != 1 or mapping.i_pages.get(p.index) != pfn:
            return False
        del mapping.i_pages[p.index]
        __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_PAGES, -1)
        p.mapping = 0
        return True

    cdef uint64_t shrink_page_list(self, pfn_t* pages, int n, lruvec* lv, scan_control* sc,
                                   reclaim_stat* stat) except? 0xffffffffffffffff:
        """shrink_page_list() for what memsim can reclaim today: a page-cache page of the
        built-in file mapping that is clean and, once unmapped (try_to_unmap), referenced by the
        cache alone is deleted from i_pages (__remove_mapping) and freed; page_check_references
        activates a page referenced by more than one PTE or twice, keeps a referenced one on the
        inactive list; anything else goes back.  Returns the pages reclaimed."""
        cdef int i, nfree = 0
        cdef pfn_t pfn
        cdef page* p
        cdef int ref_ptes
        cdef bint ref_page
        cdef AddressSpace mapping
        cdef uint64_t reclaimed = 0
        cdef pfn_t tofree[SWAP_CLUSTER_MAX]
        for i in range(n):
            pfn = pages[i]
            p = &self.pm.mem_map[pfn]
            if p.mapping & PAGE_MAPPING_ANON or p.flags & (1ULL << PG_swapbacked) or p.mapping == 0:
                self._putback(lv, pfn, LRU_INACTIVE_ANON)   # no swap-out op: keep (activate_locked)
                continue
            # page_check_references()
            ref_ptes = self.core.rmap.page_referenced(pfn) if p._mapcount > 0 else 0
            ref_page = (p.flags >> PG_referenced) & 1
            p.flags &= ~(1ULL << PG_referenced)
            if ref_ptes:
                p.flags |= 1ULL << PG_referenced
                if ref_page or ref_ptes > 1:
                    p.flags |= 1ULL << PG_active                # PAGEREF_ACTIVATE
                    __count_vm_events(self.pm.vs, PGACTIVATE, 1)
                self._putback(lv, pfn, LRU_INACTIVE_FILE)       # PAGEREF_KEEP
                continue
            if p.flags & (1ULL << PG_dirty):
                self._putback(lv, pfn, LRU_INACTIVE_FILE)       # no writeback in the core yet
                continue
            mapping = self.core.rmap.mappings.get(p.mapping)
            if mapping is None or mapping.has_a_ops:            # a plugin's evict op: not yet
                self._putback(lv, pfn, LRU_INACTIVE_FILE)
                continue
            if p._mapcount > 0 and sc.may_unmap:
                self.core.rmap.try_to_unmap(pfn)
            if not self.remove_mapping(mapping, pfn, True):
                self._putback(lv, pfn, LRU_INACTIVE_FILE)
                continue
            __mod_lruvec_page_state(self.pm.vs, p, NR_ISOLATED_FILE, -1)
            p._refcount = 0
            self.pm.mem_cgroup_uncharge(pfn)
            tofree[nfree] = pfn
            nfree += 1
            reclaimed += 1
        self.pm.free_unref_page_list(tofree, nfree)
        return reclaimed

    cdef uint64_t shrink_inactive_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except? 0xffffffffffffffff:
        """shrink_inactive_list(): lru_add_drain, isolate a batch from the tail, shrink it;
        pgscan_kswapd/direct, pgscan_anon/file, pgsteal_*."""
        cdef pfn_t pages[SWAP_CLUSTER_MAX]
        cdef uint64_t scanned = 0, reclaimed
        cdef int n
        cdef reclaim_stat stat
        memset(&stat, 0, sizeof(stat))
        if nr_to_scan > SWAP_CLUSTER_MAX:
            nr_to_scan = SWAP_CLUSTER_MAX
        self.pm.lru_add_drain()
        n = self.isolate_lru_pages(nr_to_scan, lv, pages, lru, &scanned)
        if n == 0:
            return 0
        sc.nr_scanned += scanned
        __count_vm_events(self.pm.vs, PGSCAN_KSWAPD if sc.kswapd else PGSCAN_DIRECT, scanned)
        __count_vm_events(self.pm.vs, PGSCAN_FILE if lru >= LRU_INACTIVE_FILE else PGSCAN_ANON, scanned)
        reclaimed = self.shrink_page_list(pages, n, lv, sc, &stat)
        __count_vm_events(self.pm.vs, PGSTEAL_KSWAPD if sc.kswapd else PGSTEAL_DIRECT, reclaimed)
        __count_vm_events(self.pm.vs, PGSTEAL_FILE if lru >= LRU_INACTIVE_FILE else PGSTEAL_ANON, reclaimed)
        return reclaimed

    cdef int shrink_active_list(self, uint64_t nr_to_scan, lruvec* lv, scan_control* sc, int lru) except -1:
        """shrink_active_list(): isolate from the active tail; a mapped executable file page
        whose PTEs were young stays active (not modelled: memsim has no VM_EXEC text yet), every
        other page is deactivated to the inactive list's head (pgrefill, pgdeactivate)."""
        cdef pfn_t pages[SWAP_CLUSTER_MAX]
        cdef uint64_t scanned = 0
        cdef int n, i
        cdef page* p
        if nr_to_scan > SWAP_CLUSTER_MAX:
            nr_to_scan = SWAP_CLUSTER_MAX
        self.pm.lru_add_drain()
        n = self.isolate_lru_pages(nr_to_scan, lv, pages, lru, &scanned)
        __count_vm_events(self.pm.vs, PGREFILL, scanned)
        for i in range(n):
            p = &self.pm.mem_map[pages[i]]
            if p._mapcount > 0:
                self.core.rmap.page_referenced(pages[i])      # the young bits are cleared
            p.flags &= ~((1ULL << PG_active) | (1ULL << PG_referenced))
            self._putback(lv, pages[i], lru - LRU_ACTIVE)
        __count_vm_events(self.pm.vs, PGDEACTIVATE, n)
        return 0

    cdef uint64_t shrink_list(self, int lru, uint64_t nr_to_scan, lruvec* lv, scan_control* sc) except? 0xffffffffffffffff:
        """shrink_list(): an active list is shrunk only while its inactive list is low
        (inactive_is_low: inactive * inactive_ratio < active, ratio 1 below 1 GiB)."""
        if lru & LRU_ACTIVE:
            if lv.nr_pages[lru - LRU_ACTIVE] < lv.nr_pages[lru]:
                self.shrink_active_list(nr_to_scan, lv, sc, lru)
            return 0
        return self.shrink_inactive_list(nr_to_scan, lv, sc, lru)

    cdef int shrink_lruvec(self, lruvec* lv, scan_control* sc) except -1:
        """shrink_lruvec() with get_scan_count()'s SCAN_FILE (no swap: anon is not scanned):
        each file list's size >> priority, SWAP_CLUSTER_MAX at a time, until nr_to_reclaim."""
        cdef uint64_t nr[NR_LRU_LISTS]
        cdef uint64_t chunk
        cdef int lru
        for lru in range(NR_LRU_LISTS):
            nr[lru] = 0
        nr[LRU_INACTIVE_FILE] = lv.nr_pages[LRU_INACTIVE_FILE] >> sc.priority
        nr[LRU_ACTIVE_FILE] = lv.nr_pages[LRU_ACTIVE_FILE] >> sc.priority
        while nr[LRU_INACTIVE_FILE] or nr[LRU_ACTIVE_FILE]:
            for lru in (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE):
                if nr[lru]:
                    chunk = nr[lru] if nr[lru] < SWAP_CLUSTER_MAX else SWAP_CLUSTER_MAX
                    nr[lru] -= chunk
                    sc.nr_reclaimed += self.shrink_list(lru, chunk, lv, sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
        # the kernel ends by deactivating when the inactive file list runs low
        if lv.nr_pages[LRU_INACTIVE_FILE] < lv.nr_pages[LRU_ACTIVE_FILE]:
            self.shrink_active_list(SWAP_CLUSTER_MAX, lv, sc, LRU_ACTIVE_FILE)
        return 0

    cdef uint64_t do_try_to_free_pages(self, int nid, uint64_t nr_to_reclaim, gfp_t gfp, int order,
                                       int reclaim_idx, bint kswapd) except? 0xffffffffffffffff:
        """do_try_to_free_pages() on node ``nid``: priority 12 down to 0 until
        ``nr_to_reclaim`` pages are reclaimed.  Returns the pages reclaimed."""
        cdef scan_control sc
        sc.nr_to_reclaim = nr_to_reclaim
        sc.gfp_mask = gfp
        sc.order = order
        sc.reclaim_idx = reclaim_idx
        sc.may_unmap = True
        sc.may_swap = False
        sc.kswapd = kswapd
        sc.nr_scanned = 0
        sc.nr_reclaimed = 0
        sc.priority = DEF_PRIORITY
        while sc.priority >= 0:
            self.shrink_lruvec(&self.pm.lruvecs[nid], &sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
            sc.priority -= 1
        return sc.nr_reclaimed

    def try_to_free_pages(self, int nid, uint64_t nr_to_reclaim=SWAP_CLUSTER_MAX,
                          gfp_t gfp=0xcc0, int order=0):
        """try_to_free_pages() of node ``nid`` alone from Python: allocstall_<gfp_zone(gfp)>,
        then do_try_to_free_pages.  Returns the pages reclaimed."""
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        __count_zid_vm_events(self.pm.vs, ALLOCSTALL_DMA, gfp_zone(gfp), 1)
        return self.do_try_to_free_pages(nid, nr_to_reclaim, gfp, order, gfp_zone(gfp), False)
