# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Physical memory: nodes, zones, the buddy allocator, per-CPU page lists and pageblocks.

Models mm/page_alloc.c of v5.14:

* ``mem_map``: one 64-byte ``struct page`` per frame, in one calloc'd array, so the host only
  backs the metadata of frames that are used.  Like DEFERRED_STRUCT_PAGE_INIT, the struct pages of
  a free max-order block are set up only when the allocator first takes that block, so building
  a 1 TiB machine costs nothing per frame.
* free areas per zone, order (0..10) and migratetype, with split (``expand``) and merge
  (``__free_one_page``), counted as in /proc/buddyinfo;
* per-CPU page lists (``per_cpu_pages`` count/high/batch) in front of the buddy allocator for
  order-0 pages (``rmqueue_pcplist``, ``rmqueue_bulk``, ``free_unref_page``, ``free_pcppages_bulk``);
* watermarks (``__setup_per_zone_wmarks``), lowmem_reserve, zonelists by node distance,
  ``__GFP_THISNODE``;
* pageblock migratetypes with fallback stealing (``__rmqueue_fallback``) and the isolation
  primitive hugetlb's alloc_contig_range builds on (``start_isolate_page_range``,
  ``undo_isolate_page_range``, ``test_pages_isolated``), and alloc_contig_range itself with
  mm/migrate.c's ``migrate_pages`` over its isolated batches (the per-page moves are the mm
  core's and the hugetlb plugin's).

Page contents are real but sparse: bytes written to a frame live in ``content`` (pfn ->
bytearray); a frame never written reads as zeros and costs nothing.  Freeing a frame drops its
bytes (the kernel would leave stale data; memsim hands out zeros).  A frame can instead (or as
well) carry a *stamp*, 8 bytes in ``stamps`` (allocated at the first one): who wrote the page and
when (``touch`` with ``stamp``), which copies of the page keep -- COW, migration, userfaultfd's
COPY -- so a workload can check that two pages hold the same contents without keeping 4 KiB of
bytes per page.  PG_content marks a frame with bytes, a stamp or both.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t

from memsim._types cimport (
    pfn_t, gfp_t, NO_PFN, NIL32, MAX_ORDER, PAGEBLOCK_ORDER, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE, MIGRATE_PCPTYPES, MIGRATE_HIGHATOMIC, MIGRATE_CMA, MIGRATE_ISOLATE,
    MIGRATE_TYPES, ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, MAX_NR_ZONES,
    GFP_DMA_, GFP_DMA32_, GFP_HIGHMEM_, GFP_MOVABLE_, GFP_RECLAIMABLE_, GFP_ZERO_, GFP_COMP_,
    GFP_THISNODE_, GFP_HIGH_, GFP_ACCOUNT_, PG_buddy, PG_pcp, PG_head, PG_tail, PG_content,
    PG_hugetlb, PG_reserved, PG_NODE_SHIFT, PG_ZONE_SHIFT, PAGE_SIZE, mempolicy, MPOL_INTERLEAVE,
    MPOL_PREFERRED_MANY, GFP_NOWARN_, GFP_DIRECT_RECLAIM_, GFP_NORETRY_, GFP_RETRY_MAYFAIL_,
    GFP_NOMEMALLOC_, GFP_HARDWALL_, GFP_NOFAIL_, GFP_KSWAPD_RECLAIM_, PG_lru, PG_active, PG_referenced,
    PG_unevictable, PG_swapbacked, PG_mlocked, PG_workingset, PG_owner_priv_1, PG_private,
    PG_private_2, PG_mappedtodisk, PAGE_MAPPING_ANON,
)
from memsim.mempolicy cimport policy_node, policy_nodemask, interleave_nodes
from memsim.page cimport page
from memsim.ring cimport TraceBuffer, EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE, \
    EV_MM_PAGE_ALLOC_ZONE_LOCKED, EV_MM_PAGE_PCPU_DRAIN, EV_MM_PAGE_FREE_BATCHED, \
    EV_MM_LRU_INSERTION, EV_MM_LRU_ACTIVATE, EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, \
    EV_MM_VMSCAN_DIRECT_RECLAIM_END, EV_RECLAIM_RETRY_ZONE, EV_MM_MIGRATE_PAGES, \
    EV_MM_MIGRATE_PAGES_START
from memsim.task cimport Current, TaskStruct
from memsim.vmstat cimport (
    VmStat, __mod_zone_freepage_state, __mod_zone_page_state, __count_vm_event, __count_vm_events,
    __count_zid_vm_events, __count_numa_events, zone_statistics, NR_FREE_PAGES, NR_FREE_CMA_PAGES,
    PGFREE, PGALLOC_DMA, NUMA_INTERLEAVE_HIT, __mod_lruvec_page_state, page_zonenum,
    NR_INACTIVE_ANON, NR_ZONE_INACTIVE_ANON, NR_ISOLATED_ANON, NR_ISOLATED_FILE, PGACTIVATE, UNEVICTABLE_PGCULLED, UNEVICTABLE_PGRESCUED,
    UNEVICTABLE_PGMLOCKED, UNEVICTABLE_PGMUNLOCKED, UNEVICTABLE_PGCLEARED, UNEVICTABLE_PGSTRANDED, NR_MLOCK, NR_ZONE_WRITE_PENDING, zone_page_state_snapshot,
    PGMIGRATE_SUCCESS, PGMIGRATE_FAIL,
)

ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
cdef enum:
    MLOCK_LRU_FOLIO = 1U << 31          # mlock_lru(): the LRU_FOLIO bit of an mlock_fbatch entry
    MLOCK_NEW_FOLIO = 1U << 30          # mlock_new(): NEW_FOLIO

LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

cdef enum:
    UNIT_ORDER = MAX_ORDER - 1            # deferred init works in max-order blocks
    UNIT_PAGES = 1 << (MAX_ORDER - 1)
    WMARK_MIN = 0
    RELEASE_PAGES_MAX = 512
    PAGEVEC_SIZE = 31               # struct folio_batch (v6.18 folios_put_refs' batches)
    WMARK_LOW = 1
    WMARK_HIGH = 2
    ALLOC_NO_WATERMARKS = 3
    ALLOC_OOM = 4                       # an OOM victim's reserves: the min watermark halved
    PAGE_ALLOC_COSTLY_ORDER = 3
    MAX_OOM_RETRIES = 16                # memsim's bound on a slow path that loops without reclaim
    MAX_RECLAIM_RETRIES = 16            # mm/internal.h

cdef pfn_t DMA_END = (16 << 20) >> 12        # 16 MiB
cdef pfn_t DMA32_END = (4ULL << 30) >> 12    # 4 GiB

# fallbacks[] of mm/page_alloc.c
cdef int FALLBACKS[3][2]
FALLBACKS[MIGRATE_UNMOVABLE][0] = MIGRATE_RECLAIMABLE
FALLBACKS[MIGRATE_UNMOVABLE][1] = MIGRATE_MOVABLE
FALLBACKS[MIGRATE_MOVABLE][0] = MIGRATE_RECLAIMABLE
FALLBACKS[MIGRATE_MOVABLE][1] = MIGRATE_UNMOVABLE
FALLBACKS[MIGRATE_RECLAIMABLE][0] = MIGRATE_UNMOVABLE
FALLBACKS[MIGRATE_RECLAIMABLE][1] = MIGRATE_MOVABLE


cdef inline int gfp_migratetype(gfp_t gfp) noexcept nogil:
    """gfp_migratetype(): MOVABLE and RECLAIMABLE bits shifted to a migratetype."""
    return (gfp & (GFP_MOVABLE_ | GFP_RECLAIMABLE_)) >> 3


cdef inline int gfp_zone(gfp_t gfp) noexcept nogil:
    """gfp_zone() on x86-64 without a populated ZONE_MOVABLE."""
    if gfp & GFP_DMA_:
        return ZONE_DMA
    if gfp & GFP_DMA32_:
        return ZONE_DMA32
    return ZONE_NORMAL


cdef inline int highest_zoneidx(gfp_t gfp) noexcept nogil:
    """ac->highest_zoneidx: gfp_zone() as GFP_ZONE_TABLE has it on x86-64, where
    __GFP_HIGHMEM | __GFP_MOVABLE (user pages) is ZONE_MOVABLE even when that zone is empty.
    The zonelist walk skips the empty zones either way; it matters for what reclaim reports
    (allocstall_movable, classzone=3) and for lowmem_reserve[3] (= [2] without movable pages)."""
    if gfp & GFP_DMA_:
        return ZONE_DMA
    if gfp & GFP_DMA32_:
        return ZONE_DMA32
    if (gfp & (GFP_HIGHMEM_ | GFP_MOVABLE_)) == (GFP_HIGHMEM_ | GFP_MOVABLE_):
        return ZONE_MOVABLE
    return ZONE_NORMAL


cdef int _out_of_memory_py(void* ctx, gfp_t gfp, unsigned int order, int nid,
                           uint64_t nodemask) except -1:
    """The oom_ops slot the core fills in: out_of_memory() is policy, in Python
    (memsim.oom.OomKiller.out_of_memory), called once per OOM."""
    return 1 if (<object>ctx).out_of_memory(gfp, order, nid, nodemask) else 0


cdef inline int32_t compound_refcount(PhysMem pm, pfn_t pfn) noexcept:
    cdef page* p = &pm.mem_map[pfn]
    if p.flags & (1ULL << PG_tail):
        p = &pm.mem_map[p.compound_head]
    return p._refcount



cdef uint64_t VMEMMAP_BASE = 0xffffea0000000000ULL   # x86-64 vmemmap_base without KASLR


cdef inline uint64_t trace_pagemap_flags(page* mem_map, pfn_t pfn) noexcept nogil:
    """trace_pagemap_flags(): PAGEMAP_ANONYMOUS (0x2) or PAGEMAP_FILE (0x4), MAPPED (0x1),
    SWAPCACHE (0x8), SWAPBACKED (0x10), MAPPEDDISK (0x20), BUFFERS (0x40)."""
    cdef page* p = &mem_map[pfn]
    cdef uint64_t f = 0x2 if p.mapping & PAGE_MAPPING_ANON else 0x4
    if p._mapcount > 0 or (p.flags & (1ULL << PG_head) and <int32_t>mem_map[pfn + 1].lru_prev > 0):
        f |= 0x1
    if p.flags & (1ULL << PG_swapbacked):
        f |= 0x10
        if p.flags & (1ULL << PG_owner_priv_1):     # PG_swapcache
            f |= 0x8
    if p.flags & (1ULL << PG_mappedtodisk):
        f |= 0x20
    if p.flags & ((1ULL << PG_private) | (1ULL << PG_private_2)):
        f |= 0x40
    return f


cdef inline int64_t folio_nr_pages(page* p) noexcept nogil:
    """folio_nr_pages() / thp_nr_pages(): 1, or 2^order for a compound head."""
    return (1LL << p.compound_order) if p.flags & (1ULL << PG_head) else 1


cdef inline int page_to_nid_flags(page* p) noexcept nogil:
    return <int>((p.flags >> PG_NODE_SHIFT) & 0xff)


cdef inline int folio_lru_list(page* p) noexcept nogil:
    """folio_lru_list() / page_lru(): LRU_UNEVICTABLE, else inactive or active, anon for a
    PG_swapbacked page, file otherwise (page_is_file_lru)."""
    cdef int lru
    if p.flags & (1ULL << PG_unevictable):
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if p.flags & (1ULL << PG_swapbacked) else LRU_INACTIVE_FILE
    if p.flags & (1ULL << PG_active):
        lru += LRU_ACTIVE
    return lru


cdef uint64_t int_sqrt(uint64_t x) noexcept:
    cdef uint64_t r = 0, b = 1ULL << 62
    while b > x:
        b >>= 2
    while b:
        if x >= r + b:
            x -= r + b
            r = (r >> 1) + b
        else:
            r >>= 1
        b >>= 2
    return r


cdef int zone_batchsize(uint64_t managed) noexcept:
    """zone_batchsize() of v5.14."""
    cdef int64_t batch = min(<int64_t>(managed >> 10), (1024 * 1024) // PAGE_SIZE)
    batch //= 4
    if batch < 1:
        batch = 1
    cdef int64_t n = batch + batch // 2
    cdef int64_t p = 1
    while p * 2 <= n:
        p *= 2
    return <int>(p - 1) if p > 1 else 1


cdef class PhysMem:
    """All physical memory of a machine: its nodes, their zones and every frame's struct page."""

    def __cinit__(self, node_bytes, int ncpus, TraceBuffer tb, Current cur):
        cdef int n, z, c
        cdef pfn_t start = 0, end, zs, ze
        self.nr_nodes = len(node_bytes)
        self.ncpus = ncpus
        if self.nr_nodes < 1 or ncpus < 1:
            raise ValueError("a machine needs at least one node and one CPU")
        for b in node_bytes:
            if b <= 0 or b % (PAGE_SIZE * UNIT_PAGES) != 0:
                raise ValueError(f"node memory {b} is not a positive multiple of 4 MiB")
        self.max_pfn = sum(node_bytes) // PAGE_SIZE
        if self.max_pfn >= NIL32:
            raise ValueError("memsim links free pages by 32-bit pfn: at most 16 TiB of memory")
        self.tb = tb
        self.cur = cur
        self.content = {}
        self.stamps = NULL
        self.pcp_enabled = True
        self.lru_batch_size = 15
        self.mlock_fbatch_enabled = False
        self.folios_put_refs_enabled = False
        self.trace_context = False
        self.mlock_count = NULL
        memset(&self.lru_ops, 0, sizeof(self.lru_ops))
        memset(&self.reclaim, 0, sizeof(self.reclaim))
        self.in_reclaim = False
        memset(&self.memcg, 0, sizeof(self.memcg))
        memset(&self.kasan, 0, sizeof(self.kasan))
        memset(&self.hugetlb, 0, sizeof(self.hugetlb))
        self.free_gigantic_as_folio = False
        self.contig_skip_hugetlb = False
        self.contig_replace_free_hugetlb = False
        self.migrate_stats_in_pages = False
        self.vmstat = VmStat(self.nr_nodes, ncpus, cur)
        self.vs = &self.vmstat.vs
        self.mem_map = <page*>calloc(self.max_pfn, sizeof(page))
        self.pageblock_mt = <uint8_t*>calloc((self.max_pfn >> PAGEBLOCK_ORDER) + 1, 1)
        self.unit_ready = <uint8_t*>calloc((self.max_pfn >> UNIT_ORDER) + 1, 1)
        self.node_start = <pfn_t*>calloc(self.nr_nodes, sizeof(pfn_t))
        self.node_end = <pfn_t*>calloc(self.nr_nodes, sizeof(pfn_t))
        self.node_alloc_pages = <uint64_t*>calloc(self.nr_nodes, sizeof(uint64_t))
        self.node_free_pages_cnt = <uint64_t*>calloc(self.nr_nodes, sizeof(uint64_t))
        self.cpu_node = <int32_t*>calloc(ncpus, sizeof(int32_t))
        self.zones = <zone*>calloc(self.nr_nodes * MAX_NR_ZONES, sizeof(zone))
        self.lruvecs = <lruvec*>calloc(self.nr_nodes, sizeof(lruvec))
        self.fbatches = <cpu_fbatches*>calloc(ncpus, sizeof(cpu_fbatches))
        if self.lruvecs == NULL or self.fbatches == NULL:
            raise MemoryError("cannot reserve host memory for the LRU lists")
        for n in range(self.nr_nodes):
            self.lruvecs[n].nid = n
            for z in range(NR_LRU_LISTS):
                self.lruvecs[n].head[z] = NIL32
        if (self.mem_map == NULL or self.pageblock_mt == NULL or self.unit_ready == NULL
                or self.zones == NULL or self.cpu_node == NULL):
            raise MemoryError("cannot reserve host memory for the frame metadata")
        # memmap_init(): every pageblock starts MOVABLE
        memset(self.pageblock_mt, MIGRATE_MOVABLE, (self.max_pfn >> PAGEBLOCK_ORDER) + 1)
        for c in range(ncpus):
            self.cpu_node[c] = c * self.nr_nodes // ncpus
        for n in range(self.nr_nodes):
            end = start + node_bytes[n] // PAGE_SIZE
            self.node_start[n] = start
            self.node_end[n] = end
            for z in range(MAX_NR_ZONES):
                zp = &self.zones[n * MAX_NR_ZONES + z]
                zp.nid = n
                zp.idx = z
                if z == ZONE_DMA:
                    zs, ze = start, min(end, DMA_END)
                elif z == ZONE_DMA32:
                    zs, ze = max(start, DMA_END), min(end, DMA32_END)
                elif z == ZONE_NORMAL:
                    zs, ze = max(start, DMA32_END), end
                else:
                    zs, ze = end, end
                if ze < zs:
                    ze = zs
                zp.zone_start_pfn = zs
                zp.zone_end_pfn = ze
                self._init_zone(zp, ncpus)
            start = end
        self.watermark_scale_factor = 10
        self._setup_per_zone_wmarks()
        self.vmstat.init_zones([self.zones[i].managed_pages for i in range(self.nr_nodes * MAX_NR_ZONES)],
                               [self.zones[i].free_pages for i in range(self.nr_nodes * MAX_NR_ZONES)])

    def __dealloc__(self):
        cdef int i
        if self.zones != NULL:
            for i in range(self.nr_nodes * MAX_NR_ZONES):
                free(self.zones[i].pcp)
        free(self.zones)
        free(self.mem_map)
        free(self.stamps)
        free(self.pageblock_mt)
        free(self.unit_ready)
        free(self.node_start)
        free(self.node_end)
        free(self.node_alloc_pages)
        free(self.node_free_pages_cnt)
        free(self.cpu_node)
        free(self.lruvecs)
        free(self.fbatches)
        free(self.mlock_count)

    cdef _init_zone(self, zone* z, int ncpus):
        """free_area_init_core + memmap_init_zone: all frames free; max-order units deferred."""
        cdef int o, m, c
        cdef pfn_t pfn, unit_start, unit_end
        for o in range(MAX_ORDER):
            for m in range(MIGRATE_TYPES):
                z.area[o].head[m] = NIL32
        z.pcp = <per_cpu_pages*>calloc(ncpus, sizeof(per_cpu_pages))
        for c in range(ncpus):
            for m in range(MIGRATE_PCPTYPES):
                z.pcp[c].head[m] = NIL32
        z.managed_pages = z.zone_end_pfn - z.zone_start_pfn
        z.deferred_cursor = (z.zone_start_pfn + UNIT_PAGES - 1) >> UNIT_ORDER
        if z.managed_pages == 0:
            return
        unit_start = ((z.zone_start_pfn + UNIT_PAGES - 1) >> UNIT_ORDER) << UNIT_ORDER
        unit_end = (z.zone_end_pfn >> UNIT_ORDER) << UNIT_ORDER
        if unit_end < unit_start:
            unit_end = unit_start
        # whole max-order units are deferred: counted free, struct pages untouched
        z.deferred_units = (unit_end - unit_start) >> UNIT_ORDER
        z.area[UNIT_ORDER].nr_free += z.deferred_units
        z.free_pages += z.deferred_units << UNIT_ORDER
        # the unaligned head and tail are freed now, in the largest aligned blocks that fit
        self._free_range_now(z, z.zone_start_pfn, min(unit_start, z.zone_end_pfn))
        if unit_end >= unit_start:
            self._free_range_now(z, max(unit_end, z.zone_start_pfn), z.zone_end_pfn)

    cdef _free_range_now(self, zone* z, pfn_t start, pfn_t end):
        cdef pfn_t pfn = start
        cdef unsigned int order
        cdef page* p
        while pfn < end:
            order = UNIT_ORDER
            while order > 0 and ((pfn & ((1ULL << order) - 1)) != 0 or pfn + (1ULL << order) > end):
                order -= 1
            p = &self.mem_map[pfn]
            p.flags = (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT)
            self.unit_ready[pfn >> UNIT_ORDER] = 1
            self.free_one_page(z, pfn, order, self.pageblock_mt[pfn >> PAGEBLOCK_ORDER])
            z.free_pages += 1ULL << order
            pfn += 1ULL << order

    cdef _setup_per_zone_wmarks(self):
        """init_per_zone_wmark_min + __setup_per_zone_wmarks + setup_per_zone_lowmem_reserve."""
        cdef uint64_t lowmem = 0, min_free_kbytes, acc
        cdef int i, j, n
        cdef zone* z
        cdef int ratio[MAX_NR_ZONES]
        ratio[ZONE_DMA] = 256
        ratio[ZONE_DMA32] = 256
        ratio[ZONE_NORMAL] = 32
        ratio[ZONE_MOVABLE] = 0
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            lowmem += self.zones[i].managed_pages
        min_free_kbytes = int_sqrt(lowmem * 4 * 16)
        min_free_kbytes = max(128, min(min_free_kbytes, 262144))
        self._min_free_kbytes = min_free_kbytes
        self.setup_per_zone_wmarks()
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            z = &self.zones[i]
            if z.managed_pages == 0:
                continue
            for c in range(self.ncpus):
                z.pcp[c].batch = zone_batchsize(z.managed_pages)
                z.pcp[c].high = max(<int>(z.wmark[WMARK_LOW] // self.ncpus), z.pcp[c].batch * 4)
        for n in range(self.nr_nodes):
            for i in range(MAX_NR_ZONES):
                z = &self.zones[n * MAX_NR_ZONES + i]
                acc = 0
                for j in range(MAX_NR_ZONES):
                    if j <= i:
                        z.lowmem_reserve[j] = 0
                    else:
                        acc += self.zones[n * MAX_NR_ZONES + j].managed_pages
                        z.lowmem_reserve[j] = acc // ratio[i] if ratio[i] else 0

    cdef setup_per_zone_wmarks(self):
        """setup_per_zone_wmarks() / __setup_per_zone_wmarks(): each zone's share of
        min_free_kbytes is its min watermark; low and high lie ``max(min / 4, managed *
        watermark_scale_factor / 10000)`` (mult_frac) and twice that above it.  Every zone of an
        x86-64 machine is lowmem; memsim populates no ZONE_MOVABLE, the one zone 6.18 gives a
        fixed small min instead."""
        cdef uint64_t lowmem = 0, pages_min, tmp, tmp2, m
        cdef int i
        cdef zone* z
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            lowmem += self.zones[i].managed_pages
        pages_min = self._min_free_kbytes >> 2
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            z = &self.zones[i]
            if z.managed_pages == 0:
                continue
            tmp = pages_min * z.managed_pages // lowmem
            z.wmark[WMARK_MIN] = tmp
            m = z.managed_pages
            tmp2 = max(tmp >> 2, (m // 10000) * self.watermark_scale_factor
                       + ((m % 10000) * self.watermark_scale_factor) // 10000)
            z.wmark[WMARK_LOW] = tmp + tmp2
            z.wmark[WMARK_HIGH] = tmp + 2 * tmp2

    def set_min_free_kbytes(self, int min_free_kbytes):
        """min_free_kbytes_sysctl_handler(): a write to /proc/sys/vm/min_free_kbytes (already
        parsed by proc_dointvec_minmax) recomputes the watermarks (setup_per_zone_wmarks); the
        per-CPU list sizes and lowmem reserves stay as set at boot."""
        if min_free_kbytes < 0:
            raise ValueError("min_free_kbytes is at least 0")
        self._min_free_kbytes = min_free_kbytes
        self.setup_per_zone_wmarks()

    def set_watermark_scale_factor(self, int factor):
        """watermark_scale_factor_sysctl_handler(): a write to /proc/sys/vm/watermark_scale_factor
        (already parsed by proc_dointvec_minmax: 1 .. the profile's maximum) recomputes the
        watermarks (setup_per_zone_wmarks)."""
        if factor < 1:
            raise ValueError("watermark_scale_factor is at least 1")
        self.watermark_scale_factor = factor
        self.setup_per_zone_wmarks()

    def set_oom_killer(self, killer):
        """Install the OOM killer the slow path calls when an allocation fails both watermark
        passes (``killer.out_of_memory(gfp, order, nid, nodemask) -> bool``:
        memsim.oom.OomKiller; ``nodemask`` a bit per node, 0 for none), or
        None to let such allocations fail."""
        self.oom_killer = killer
        if killer is None:
            self.oom.out_of_memory = NULL
            self.oom.ctx = NULL
        else:
            self.oom.out_of_memory = _out_of_memory_py
            self.oom.ctx = <void*>killer

    # -- lists ----------------------------------------------------------------------------
    cdef void list_add(self, uint32_t* head, pfn_t pfn) noexcept:
        cdef page* p = &self.mem_map[pfn]
        cdef page* first
        cdef uint32_t last
        self.list_changes += 1
        if head[0] == NIL32:
            p.lru_next = <uint32_t>pfn
            p.lru_prev = <uint32_t>pfn
        else:
            first = &self.mem_map[head[0]]
            last = first.lru_prev
            p.lru_next = head[0]
            p.lru_prev = last
            self.mem_map[last].lru_next = <uint32_t>pfn
            first.lru_prev = <uint32_t>pfn
        head[0] = <uint32_t>pfn

    cdef void list_add_tail(self, uint32_t* head, pfn_t pfn) noexcept:
        cdef uint32_t old = head[0]
        self.list_add(head, pfn)
        if old != NIL32:
            head[0] = old

    cdef void list_del(self, uint32_t* head, pfn_t pfn) noexcept:
        cdef page* p = &self.mem_map[pfn]
        self.list_changes += 1
        if p.lru_next == <uint32_t>pfn:
            head[0] = NIL32
        else:
            self.mem_map[p.lru_prev].lru_next = p.lru_next
            self.mem_map[p.lru_next].lru_prev = p.lru_prev
            if head[0] == <uint32_t>pfn:
                head[0] = p.lru_next
        p.lru_next = NIL32
        p.lru_prev = NIL32

    # -- deferred struct page init ----------------------------------------------------------
    cdef void ready_unit(self, zone* z, uint64_t unit) noexcept:
        """deferred_init_memmap_chunk for one max-order block: make it a real free block."""
        cdef pfn_t pfn = unit << UNIT_ORDER
        cdef page* p = &self.mem_map[pfn]
        self.unit_ready[unit] = 1
        z.deferred_units -= 1
        p.flags = (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT) | (1ULL << PG_buddy)
        p.private = UNIT_ORDER
        p.index = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        p._refcount = 0
        self.list_add_tail(&z.area[UNIT_ORDER].head[p.index], pfn)

    cdef uint32_t area_first(self, zone* z, unsigned int order, int mt) noexcept:
        """First block on free_area[order].free_list[mt], setting up a deferred block if needed."""
        cdef uint32_t h = z.area[order].head[mt]
        cdef uint64_t unit, last_unit
        if h != NIL32 or order != UNIT_ORDER or z.deferred_units == 0:
            return h
        last_unit = z.zone_end_pfn >> UNIT_ORDER
        unit = z.deferred_cursor
        while unit < last_unit and self.unit_ready[unit]:
            unit += 1
        z.deferred_cursor = unit
        while unit < last_unit:
            if not self.unit_ready[unit] and self.pageblock_mt[(unit << UNIT_ORDER) >> PAGEBLOCK_ORDER] == mt:
                self.ready_unit(z, unit)
                return z.area[order].head[mt]
            unit += 1
        return NIL32

    def _ready_range(self, pfn_t start, pfn_t end):
        """Set up the deferred blocks overlapping [start, end) (before isolating them)."""
        cdef uint64_t unit
        cdef zone* z
        for unit in range(start >> UNIT_ORDER, ((end + UNIT_PAGES - 1) >> UNIT_ORDER)):
            if (unit << UNIT_ORDER) < self.max_pfn and not self.unit_ready[unit]:
                z = self.page_zone(unit << UNIT_ORDER)
                self.ready_unit(z, unit)

    # -- zone lookup ----------------------------------------------------------------------
    cdef int page_to_nid(self, pfn_t pfn) noexcept nogil:
        cdef int n
        for n in range(self.nr_nodes):
            if pfn < self.node_end[n]:
                return n
        return self.nr_nodes - 1

    cdef zone* page_zone(self, pfn_t pfn) noexcept nogil:
        cdef int n = self.page_to_nid(pfn)
        cdef int z
        for z in range(MAX_NR_ZONES):
            if self.zones[n * MAX_NR_ZONES + z].zone_start_pfn <= pfn < self.zones[n * MAX_NR_ZONES + z].zone_end_pfn:
                return &self.zones[n * MAX_NR_ZONES + z]
        return &self.zones[n * MAX_NR_ZONES]

    # -- the buddy allocator --------------------------------------------------------------
    cdef pfn_t rmqueue_smallest(self, zone* z, unsigned int order, int mt) noexcept:
        """__rmqueue_smallest + expand: take the smallest block that fits, split the rest."""
        cdef unsigned int current_order, size
        cdef uint32_t pfn
        cdef pfn_t half
        cdef page* p
        for current_order in range(order, MAX_ORDER):
            pfn = self.area_first(z, current_order, mt)
            if pfn == NIL32:
                continue
            self.list_del(&z.area[current_order].head[mt], pfn)
            z.area[current_order].nr_free -= 1
            p = &self.mem_map[pfn]
            p.flags &= ~(1ULL << PG_buddy)
            p.private = 0
            # expand(): put the upper halves back, high half first
            size = 1u << current_order
            while current_order > order:
                current_order -= 1
                size >>= 1
                half = pfn + size
                p = &self.mem_map[half]
                p.flags = (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT) | (1ULL << PG_buddy)
                p.private = current_order
                p.index = mt
                self.list_add(&z.area[current_order].head[mt], half)
                z.area[current_order].nr_free += 1
            return pfn
        return NO_PFN

    cdef pfn_t rmqueue_fallback(self, zone* z, unsigned int order, int start_mt) noexcept:
        """__rmqueue_fallback: steal the largest block of another migratetype.

        Whole pageblocks (order >= pageblock_order, or >= pageblock_order/2 for unmovable and
        reclaimable requests) change owner, as steal_suitable_fallback/can_steal_fallback do.
        """
        cdef int current_order, i, fmt
        cdef uint32_t pfn
        cdef pfn_t pb, pb_start
        if start_mt >= MIGRATE_PCPTYPES:
            return NO_PFN
        current_order = MAX_ORDER - 1
        while current_order >= <int>order:
            for i in range(2):
                fmt = FALLBACKS[start_mt][i]
                pfn = self.area_first(z, current_order, fmt)
                if pfn == NIL32:
                    continue
                if (current_order >= PAGEBLOCK_ORDER // 2 or start_mt == MIGRATE_RECLAIMABLE
                        or start_mt == MIGRATE_UNMOVABLE):
                    self._move_block_owner(z, pfn, current_order, fmt, start_mt)
                    return self.rmqueue_smallest(z, order, start_mt)
                return self.rmqueue_smallest(z, order, fmt)
            current_order -= 1
        return NO_PFN

    cdef _move_block_owner(self, zone* z, pfn_t pfn, int order, int old_mt, int new_mt):
        """steal_suitable_fallback: claim the pageblock(s) and move their free pages over."""
        cdef pfn_t start = (pfn >> PAGEBLOCK_ORDER) << PAGEBLOCK_ORDER
        cdef pfn_t end = max(start + (1ULL << PAGEBLOCK_ORDER), pfn + (1ULL << order))
        cdef pfn_t pb
        for pb in range(start >> PAGEBLOCK_ORDER, end >> PAGEBLOCK_ORDER):
            self.pageblock_mt[pb] = new_mt
        self._move_freepages(z, start, end, new_mt)

    cdef int64_t _move_freepages(self, zone* z, pfn_t start, pfn_t end, int new_mt) except -1:
        """move_freepages(): move every free buddy block in [start, end) to new_mt's list;
        returns the free pages it moved."""
        cdef pfn_t pfn = max(start, z.zone_start_pfn)
        cdef page* p
        cdef unsigned int order
        cdef int64_t moved = 0
        end = min(end, z.zone_end_pfn)
        while pfn < end:
            if not self.unit_ready[pfn >> UNIT_ORDER]:
                pfn = ((pfn >> UNIT_ORDER) + 1) << UNIT_ORDER
                continue
            p = &self.mem_map[pfn]
            if p.flags & (1ULL << PG_buddy):
                order = <unsigned int>p.private
                if p.index != <uint64_t>new_mt:
                    self.list_del(&z.area[order].head[p.index], pfn)
                    p.index = new_mt
                    self.list_add(&z.area[order].head[new_mt], pfn)
                moved += 1 << order
                pfn += 1ULL << order
            else:
                pfn += 1
        return moved

    cdef pfn_t rmqueue(self, zone* z, unsigned int order, int mt) except? 0xfffffffffffffffe:
        """rmqueue(): order-0 from the per-CPU list, else the buddy lists under the zone lock."""
        cdef per_cpu_pages* pcp
        cdef uint32_t pfn
        cdef int lmt = mt
        cdef uint64_t vals[4]
        if order == 0 and self.pcp_enabled and mt < MIGRATE_PCPTYPES:
            pcp = &z.pcp[self.cur.cpu]
            if pcp.head[lmt] == NIL32:
                self.rmqueue_bulk(z, pcp, pcp.batch, lmt)
                if pcp.head[lmt] == NIL32:
                    return NO_PFN
            pfn = pcp.head[lmt]
            self.list_del(&pcp.head[lmt], pfn)
            pcp.count -= 1
            self.mem_map[pfn].flags &= ~(1ULL << PG_pcp)
            return pfn
        pfn_r = self._rmqueue_locked(z, order, mt)
        if pfn_r != NO_PFN:
            __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, -(1 << order),
                                      <int>self.mem_map[pfn_r].index)
        if pfn_r != NO_PFN and self.tb.core[EV_MM_PAGE_ALLOC_ZONE_LOCKED].enabled:
            vals[0] = pfn_r; vals[1] = order; vals[2] = mt; vals[3] = 0
            self.tb.emit(EV_MM_PAGE_ALLOC_ZONE_LOCKED, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        return pfn_r

    cdef pfn_t _rmqueue_locked(self, zone* z, unsigned int order, int mt) noexcept:
        """__rmqueue(): the requested type, then CMA for movable requests, then fallback."""
        cdef pfn_t pfn = self.rmqueue_smallest(z, order, mt)
        if pfn == NO_PFN and mt == MIGRATE_MOVABLE:
            pfn = self.rmqueue_smallest(z, order, MIGRATE_CMA)
        if pfn == NO_PFN:
            pfn = self.rmqueue_fallback(z, order, mt)
        if pfn != NO_PFN:
            z.free_pages -= 1ULL << order
        return pfn

    cdef int rmqueue_bulk(self, zone* z, per_cpu_pages* pcp, int count, int mt) except -1:
        """rmqueue_bulk(): refill a per-CPU list with ``count`` order-0 pages."""
        cdef int i, taken = 0
        cdef int zi = z.nid * MAX_NR_ZONES + z.idx
        cdef pfn_t pfn
        cdef uint64_t vals[4]
        for i in range(count):
            pfn = self._rmqueue_locked(z, 0, mt)
            if pfn == NO_PFN:
                break
            taken += 1
            if self.mem_map[pfn].index == MIGRATE_CMA:
                __mod_zone_page_state(self.vs, zi, NR_FREE_CMA_PAGES, -1)
            if self.tb.core[EV_MM_PAGE_ALLOC_ZONE_LOCKED].enabled:
                vals[0] = pfn; vals[1] = 0; vals[2] = mt; vals[3] = 1
                self.tb.emit(EV_MM_PAGE_ALLOC_ZONE_LOCKED, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            self.mem_map[pfn].flags |= 1ULL << PG_pcp
            self.mem_map[pfn].index = mt
            self.list_add_tail(&pcp.head[mt], pfn)
            pcp.count += 1
        __mod_zone_page_state(self.vs, zi, NR_FREE_PAGES, -taken)
        return 0

    cdef bint zone_watermark_ok(self, zone* z, unsigned int order, uint64_t mark, int highest_zoneidx, gfp_t gfp) noexcept:
        """zone_watermark_ok(): __zone_watermark_ok with the zone's free pages."""
        return self.__zone_watermark_ok(z, order, mark, highest_zoneidx, gfp, <int64_t>z.free_pages)

    cdef bint __zone_watermark_ok(self, zone* z, unsigned int order, uint64_t mark, int highest_zoneidx,
                                  gfp_t gfp, int64_t free_pages) noexcept:
        """__zone_watermark_ok(): ``free_pages`` above the mark plus the lowmem reserve
        (should_reclaim_retry passes free + reclaimable pages)."""
        cdef int64_t min_ = <int64_t>mark
        cdef unsigned int o
        free_pages -= (1 << order) - 1
        if gfp & GFP_HIGH_:
            min_ -= min_ // 2
        if free_pages <= min_ + <int64_t>z.lowmem_reserve[highest_zoneidx]:
            return False
        if order == 0:
            return True
        for o in range(order, MAX_ORDER):
            if z.area[o].nr_free:
                return True
        return False

    cdef pfn_t get_page_from_freelist(self, gfp_t gfp, unsigned int order, int nid, int alloc_wmark,
                                      const uint64_t* nodemask) except? 0xfffffffffffffffe:
        """get_page_from_freelist(): walk the zonelist (this node's zones, then by distance),
        skipping the nodes outside ``nodemask`` (for_next_zone_zonelist_nodemask; NULL = all)."""
        cdef int highest = gfp_zone(gfp)
        cdef int mt = gfp_migratetype(gfp)
        cdef int i, n, zi
        cdef zone* z
        cdef pfn_t pfn
        cdef int nodes = 1 if gfp & GFP_THISNODE_ else self.nr_nodes
        cdef int preferred = -1
        for i in range(nodes):
            n = (nid + i) % self.nr_nodes
            if nodemask != NULL and not ((nodemask[n >> 6] >> (n & 63)) & 1):
                continue
            zi = highest
            while zi >= 0:
                z = &self.zones[n * MAX_NR_ZONES + zi]
                zi -= 1
                if z.managed_pages == 0:
                    continue
                if preferred < 0:           # ac->preferred_zoneref: the zonelist's first zone
                    preferred = n * MAX_NR_ZONES + z.idx
                if alloc_wmark == ALLOC_OOM:
                    if not self.zone_watermark_ok(z, order, z.wmark[WMARK_MIN] - z.wmark[WMARK_MIN] // 2,
                                                  highest, gfp):
                        continue
                elif alloc_wmark != ALLOC_NO_WATERMARKS and not self.zone_watermark_ok(
                        z, order, z.wmark[alloc_wmark], highest, gfp):
                    continue
                pfn = self.rmqueue(z, order, mt)
                if pfn != NO_PFN:
                    __count_zid_vm_events(self.vs, PGALLOC_DMA, z.idx, 1ULL << order)
                    zone_statistics(self.vs, preferred, n * MAX_NR_ZONES + z.idx, 1,
                                    self.cpu_node[self.cur.cpu])
                    return pfn
        return NO_PFN

    cdef pfn_t alloc_pages(self, gfp_t gfp, unsigned int order, int nid) except? 0xfffffffffffffffe:
        """alloc_pages() (``nid`` < 0: the current task's mempolicy, as alloc_pages_current
        applies it) or alloc_pages_node(nid) (``nid`` >= 0: that node first, no policy)."""
        cdef mempolicy* pol
        if nid < 0:
            pol = self.cur.mempolicy
            if pol != NULL and pol.mode != 0 and not (gfp & GFP_THISNODE_):
                if pol.mode == MPOL_INTERLEAVE:
                    return self.alloc_page_interleave(gfp, order, interleave_nodes(pol, self.cpu_node[self.cur.cpu]))
                if pol.mode == MPOL_PREFERRED_MANY:
                    return self.alloc_pages_preferred_many(gfp, order, self.cpu_node[self.cur.cpu], pol)
                return self.alloc_pages_nodemask(gfp, order, policy_node(pol, self.cpu_node[self.cur.cpu]),
                                                 policy_nodemask(pol))
        return self.alloc_pages_nodemask(gfp, order, nid, NULL)

    cdef pfn_t alloc_pages_preferred_many(self, gfp_t gfp, unsigned int order, int nid,
                                          const mempolicy* pol) except? 0xfffffffffffffffe:
        """alloc_pages_preferred_many() (v5.15+): the policy's nodes first, quietly
        (__GFP_NOWARN, no direct reclaim), then any node."""
        cdef pfn_t pfn = self.alloc_pages_nodemask((gfp | GFP_NOWARN_) & ~GFP_DIRECT_RECLAIM_, order,
                                                   nid, pol.nodes)
        if pfn == NO_PFN:
            pfn = self.alloc_pages_nodemask(gfp, order, nid, NULL)
        return pfn

    cdef pfn_t alloc_page_interleave(self, gfp_t gfp, unsigned int order, int nid) except? 0xfffffffffffffffe:
        """alloc_page_interleave(): the interleave node first, then the zonelist; a page from
        that node counts NUMA_INTERLEAVE_HIT in its zone."""
        cdef pfn_t pfn = self.alloc_pages_nodemask(gfp, order, nid, NULL)
        cdef zone* z
        if pfn != NO_PFN and self.page_to_nid(pfn) == nid:
            z = self.page_zone(pfn)
            __count_numa_events(self.vs, z.nid * MAX_NR_ZONES + z.idx, NUMA_INTERLEAVE_HIT, 1)
        return pfn

    cdef pfn_t alloc_pages_nodemask(self, gfp_t gfp, unsigned int order, int nid,
                                    const uint64_t* nodemask) except? 0xfffffffffffffffe:
        """__alloc_pages(): fast path at the low watermark, slow path at min, then the OOM
        killer (:meth:`alloc_pages_slowpath_oom`) when one is installed; then fail.  A
        __GFP_ACCOUNT page is charged to memcg (__memcg_kmem_charge_page) before mm_page_alloc
        is recorded; a failed charge frees it and the allocation fails.

        The slow path starts by waking the kswapd of every node of the zonelist
        (wake_all_kswapds, for a request with __GFP_KSWAPD_RECLAIM); a request that may
        direct-reclaim (__GFP_DIRECT_RECLAIM) and fails at the min watermark goes through
        :meth:`alloc_pages_direct_reclaim` when reclaim is installed (``reclaim`` ops,
        memsim.vmscan); when that fails too, the end of __alloc_pages_slowpath calls the OOM
        killer (:meth:`alloc_pages_slowpath_oom`, ``oom`` ops).  No compaction yet.  A failed
        allocation (``mm_page_alloc`` with page=NULL) is one __alloc_pages_slowpath gives up on.
        """
        cdef pfn_t pfn
        cdef zone* z
        cdef uint64_t vals[4]
        if order >= MAX_ORDER:
            return NO_PFN
        if nid < 0:
            nid = self.cpu_node[self.cur.cpu]
        pfn = self.get_page_from_freelist(gfp, order, nid, WMARK_LOW, nodemask)
        if pfn == NO_PFN:
            # __alloc_pages_slowpath(): ALLOC_KSWAPD wakes every kswapd of the zonelist first
            if gfp & GFP_KSWAPD_RECLAIM_ and self.reclaim.wakeup_kswapd != NULL:
                self.wake_all_kswapds(order, gfp, nid, nodemask)
            pfn = self.get_page_from_freelist(gfp, order, nid, WMARK_MIN, nodemask)
        if pfn == NO_PFN and (gfp & GFP_DIRECT_RECLAIM_) and self.reclaim.try_to_free_pages != NULL \
                and not self.in_reclaim:
            pfn = self.alloc_pages_direct_reclaim(gfp, order, nid, nodemask)
        if pfn == NO_PFN and self.oom.out_of_memory != NULL and not self.in_reclaim:
            pfn = self.alloc_pages_slowpath_oom(gfp, order, nid, nodemask)
        if pfn != NO_PFN:
            self.prep_new_page(pfn, order, gfp)
            z = self.page_zone(pfn)
            z.used_pages += 1ULL << order
            self.node_alloc_pages[z.nid] += 1ULL << order
            if (gfp & GFP_ACCOUNT_) and self.memcg.kmem_charge != NULL:
                if self.memcg.kmem_charge(self.memcg.ctx, pfn, order, gfp) != 0:
                    self.free_pages(pfn, order)
                    pfn = NO_PFN
        if self.tb.core[EV_MM_PAGE_ALLOC].enabled:
            vals[0] = pfn; vals[1] = order; vals[2] = gfp; vals[3] = gfp_migratetype(gfp)
            self.tb.emit(EV_MM_PAGE_ALLOC, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        return pfn

    cdef int wake_all_kswapds(self, unsigned int order, gfp_t gfp, int nid,
                              const uint64_t* nodemask) except -1:
        """wake_all_kswapds(): wakeup_kswapd() once per node of the zonelist (its highest
        managed zone at or below gfp_zone(gfp)), the nodes outside ``nodemask`` skipped; only
        ``nid`` for __GFP_THISNODE (ZONELIST_NOFALLBACK)."""
        cdef int highest = highest_zoneidx(gfp)
        cdef int i, n, zi
        cdef int nodes = 1 if gfp & GFP_THISNODE_ else self.nr_nodes
        for i in range(nodes):
            n = (nid + i) % self.nr_nodes
            if nodemask != NULL and not ((nodemask[n >> 6] >> (n & 63)) & 1):
                continue
            zi = highest
            while zi >= 0 and self.zones[n * MAX_NR_ZONES + zi].managed_pages == 0:
                zi -= 1
            if zi >= 0:
                self.reclaim.wakeup_kswapd(self.reclaim.ctx, n, zi, gfp, order, highest)
        return 0

    cdef bint should_reclaim_retry(self, gfp_t gfp, unsigned int order, int nid, const uint64_t* nodemask,
                                   bint did_some_progress, int* no_progress_loops) except -1:
        """should_reclaim_retry(): no progress (or a costly order) counts a loop, more than
        MAX_RECLAIM_RETRIES of them in a row give up; else retry while some zone of the
        zonelist would pass its min watermark if every reclaimable page were freed
        (zone_reclaimable_pages + NR_FREE_PAGES), ``oom:reclaim_retry_zone`` for each zone
        asked.  (v5.14's congestion_wait for a zone whose dirty and writeback pages are more
        than half the reclaimable ones retries too, so it changes nothing here.)  The
        cond_resched() at its end is no preemption
        point in memsim: an allocation runs to its end in one slice."""
        cdef int highest = highest_zoneidx(gfp)
        cdef int i, n, zi, zx
        cdef int nodes = 1 if gfp & GFP_THISNODE_ else self.nr_nodes
        cdef zone* z
        cdef uint64_t reclaimable, available, min_wmark
        cdef bint wmark
        cdef uint64_t vals[8]
        if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
            no_progress_loops[0] = 0
        else:
            no_progress_loops[0] += 1
        if no_progress_loops[0] > MAX_RECLAIM_RETRIES:
            return False                # unreserve_highatomic_pageblock(): no highatomic reserve
        for i in range(nodes):
            n = (nid + i) % self.nr_nodes
            if nodemask != NULL and not ((nodemask[n >> 6] >> (n & 63)) & 1):
                continue
            zi = highest
            while zi >= 0:
                z = &self.zones[n * MAX_NR_ZONES + zi]
                zx = n * MAX_NR_ZONES + zi
                zi -= 1
                if z.managed_pages == 0:
                    continue
                min_wmark = z.wmark[WMARK_MIN]
                reclaimable = self.reclaim.zone_reclaimable_pages(self.reclaim.ctx, zx)
                available = reclaimable + <uint64_t>zone_page_state_snapshot(self.vs, zx, NR_FREE_PAGES)
                wmark = self.__zone_watermark_ok(z, order, min_wmark, highest, gfp, <int64_t>available)
                if self.tb.core[EV_RECLAIM_RETRY_ZONE].enabled:
                    vals[0] = n; vals[1] = z.idx; vals[2] = order; vals[3] = reclaimable
                    vals[4] = available; vals[5] = min_wmark; vals[6] = no_progress_loops[0]
                    vals[7] = wmark
                    self.tb.emit(EV_RECLAIM_RETRY_ZONE, self.cur.cpu, self.cur.pid, vals, NULL, 0)
                if wmark:
                    # v5.14 (until v5.16's "remove the throttling logic from the page
                    # allocator"): congestion_wait(BLK_RW_ASYNC, HZ/10) and retry when dirty
                    # and writeback pages hold the reclaimable ones back; either way: retry
                    return True
        return False

    cdef pfn_t alloc_pages_direct_reclaim(self, gfp_t gfp, unsigned int order, int nid,
                                          const uint64_t* nodemask) except? 0xfffffffffffffffe:
        """The ``retry:`` loop of __alloc_pages_slowpath() from direct reclaim on:
        wake_all_kswapds again ("kswapd must not go to sleep while we loop"), then
        __alloc_pages_direct_reclaim() — __perform_reclaim (PF_MEMALLOC set so reclaim's own
        allocations do not recurse, ``mm_vmscan_direct_reclaim_begin/_end``), the freelists at
        the min watermark, and on failure drain_all_pages and the freelists once more; no
        compaction; then __GFP_NORETRY and a costly order without __GFP_RETRY_MAYFAIL give up,
        and :meth:`should_reclaim_retry` decides whether to loop.  NO_PFN when reclaim cannot
        help (the OOM killer's place)."""
        cdef pfn_t pfn = NO_PFN
        cdef uint64_t progress
        cdef uint64_t vals[2]
        cdef int no_progress_loops = 0
        cdef bint first = True
        while True:
            if not first and gfp & GFP_KSWAPD_RECLAIM_ and self.reclaim.wakeup_kswapd != NULL:
                self.wake_all_kswapds(order, gfp, nid, nodemask)
            first = False
            if self.tb.core[EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN].enabled:
                vals[0] = order; vals[1] = gfp
                self.tb.emit(EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            self.in_reclaim = True
            try:
                progress = self.reclaim.try_to_free_pages(self.reclaim.ctx, gfp, order, nid)
            finally:
                self.in_reclaim = False
            if self.tb.core[EV_MM_VMSCAN_DIRECT_RECLAIM_END].enabled:
                vals[0] = progress
                self.tb.emit(EV_MM_VMSCAN_DIRECT_RECLAIM_END, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            if progress:
                pfn = self.get_page_from_freelist(gfp, order, nid, WMARK_MIN, nodemask)
                if pfn == NO_PFN:
                    self.drain_all_pages()
                    pfn = self.get_page_from_freelist(gfp, order, nid, WMARK_MIN, nodemask)
                if pfn != NO_PFN:
                    return pfn
            if gfp & GFP_NORETRY_:
                return NO_PFN
            if order > PAGE_ALLOC_COSTLY_ORDER and not (gfp & GFP_RETRY_MAYFAIL_):
                return NO_PFN
            if not self.should_reclaim_retry(gfp, order, nid, nodemask, progress > 0, &no_progress_loops):
                return NO_PFN

    cdef pfn_t alloc_pages_slowpath_oom(self, gfp_t gfp, unsigned int order, int nid,
                                        const uint64_t* nodemask) except? 0xfffffffffffffffe:
        """The end of __alloc_pages_slowpath(), once both watermark passes failed: the
        ``retry:`` loop around __alloc_pages_may_oom (:meth:`alloc_pages_may_oom`).

        Direct reclaim and compaction go BEFORE this: in the kernel the loop is reclaim,
        compaction, should_reclaim_retry(), then the OOM killer only when reclaim made no
        progress; the reclaim work calls __alloc_pages_direct_reclaim ahead of this method and
        comes here when it gives up.  Checks kept from the kernel: no direct reclaim
        (GFP_ATOMIC, GFP_NOWAIT) or __GFP_NORETRY -> nopage; a costly order (> 3) without
        __GFP_RETRY_MAYFAIL -> nopage; an OOM victim (current) retries with ALLOC_OOM (the min
        watermark halved, __zone_watermark_ok) and gives up when even that failed ("avoid
        allocations with no watermarks from looping endlessly"); no progress -> nopage.
        """
        cdef int progress = 0, loops = 0
        cdef int wmark = WMARK_MIN
        cdef pfn_t pfn
        cdef TaskStruct t
        if not (gfp & GFP_DIRECT_RECLAIM_) or (gfp & GFP_NORETRY_):
            return NO_PFN
        if order > PAGE_ALLOC_COSTLY_ORDER and not (gfp & GFP_RETRY_MAYFAIL_):
            return NO_PFN
        while loops < MAX_OOM_RETRIES:
            loops += 1
            pfn = self.alloc_pages_may_oom(gfp, order, nid, nodemask, &progress)
            if pfn != NO_PFN:
                return pfn
            t = self.cur.task
            if t is not None and t.oom_victim and (wmark == ALLOC_OOM or (gfp & GFP_NOMEMALLOC_)):
                return NO_PFN
            if not progress:
                return NO_PFN
            # retry: __gfp_pfmemalloc_flags() gives an OOM victim ALLOC_OOM (oom_reserves_allowed)
            t = self.cur.task
            wmark = ALLOC_OOM if (t is not None and t.oom_victim and not (gfp & GFP_NOMEMALLOC_)) else WMARK_MIN
            pfn = self.get_page_from_freelist(gfp, order, nid, wmark, nodemask)
            if pfn != NO_PFN:
                return pfn
        return NO_PFN

    cdef pfn_t alloc_pages_may_oom(self, gfp_t gfp, unsigned int order, int nid,
                                   const uint64_t* nodemask, int* did_some_progress) except? 0xfffffffffffffffe:
        """__alloc_pages_may_oom(): one more pass at the HIGH watermark (without
        __GFP_DIRECT_RECLAIM), then out_of_memory() unless the order is costly (> 3), the
        request is __GFP_RETRY_MAYFAIL or __GFP_THISNODE, or it is for a zone below
        ZONE_NORMAL ("the OOM killer does not needlessly kill tasks for lowmem").
        ``did_some_progress`` is 1 when out_of_memory() made progress (or __GFP_NOFAIL)."""
        cdef pfn_t pfn
        did_some_progress[0] = 0
        pfn = self.get_page_from_freelist((gfp | GFP_HARDWALL_) & ~GFP_DIRECT_RECLAIM_, order, nid,
                                          WMARK_HIGH, nodemask)
        if pfn != NO_PFN:
            return pfn
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return NO_PFN
        if gfp & (GFP_RETRY_MAYFAIL_ | GFP_THISNODE_):
            return NO_PFN
        if gfp_zone(gfp) < ZONE_NORMAL:
            return NO_PFN
        if self.oom.out_of_memory(self.oom.ctx, gfp, order, nid,
                                  nodemask[0] if nodemask != NULL else 0) or (gfp & GFP_NOFAIL_):
            did_some_progress[0] = 1
        return NO_PFN

    cdef int prep_new_page(self, pfn_t pfn, unsigned int order, gfp_t gfp) except -1:
        """prep_new_page(): refcount 1, __GFP_ZERO clears the bytes, __GFP_COMP makes a compound."""
        cdef page* p = &self.mem_map[pfn]
        cdef zone* z = self.page_zone(pfn)
        cdef uint64_t nodezone = (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT)
        cdef pfn_t i
        if self.content or self.stamps != NULL:
            self.drop_content(pfn, order)
        p.flags = nodezone
        p._refcount = 1
        p._mapcount = 0
        p.mapping = 0
        p.index = 0
        p.private = 0
        p.memcg_data = 0
        p.compound_order = 0
        if self.kasan.alloc_pages != NULL:
            self.kasan.alloc_pages(self.kasan.ctx, pfn, order, gfp)
        if order > 0 and (gfp & GFP_COMP_):
            p.flags |= 1ULL << PG_head
            p.compound_order = order
            for i in range(pfn + 1, pfn + (1ULL << order)):
                self.mem_map[i].flags = nodezone | (1ULL << PG_tail)
                self.mem_map[i].compound_head = <uint32_t>pfn
                self.mem_map[i].index = 0
                self.mem_map[i].private = 0
                self.mem_map[i].mapping = 0
                self.mem_map[i]._refcount = 0
                self.mem_map[i]._mapcount = 0
            self.mem_map[pfn + 1].lru_prev = 0      # the entire (compound) mapcount
        return 0

    cdef int free_pages_prepare(self, pfn_t pfn, unsigned int order) except -1:
        """free_pages_prepare(): mm_page_free, the kmem uncharge (__memcg_kmem_uncharge_page),
        clear the compound, flags and bytes, then KASAN's poisoning.  A user page should have
        been uncharged on its last put (mem_cgroup_uncharge); one that still carries a memcg
        is uncharged here."""
        cdef uint64_t vals[2]
        cdef zone* z = self.page_zone(pfn)
        cdef page* p = &self.mem_map[pfn]
        cdef pfn_t i
        if self.tb.core[EV_MM_PAGE_FREE].enabled:
            vals[0] = pfn; vals[1] = order
            self.tb.emit(EV_MM_PAGE_FREE, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        if p.flags & (1ULL << PG_mlocked):
            # v6.18 (since 6.1's mlock rework) frees a still-mlocked folio so; v5.14 clears
            # PG_mlocked at the last unmap (clear_page_mlock) and never gets here with it
            __mod_zone_page_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, NR_MLOCK, -(1LL << order))
            __count_vm_events(self.vs, UNEVICTABLE_PGCLEARED, 1LL << order)
        if p.memcg_data != 0:
            if p.memcg_data & MEMCG_DATA_KMEM:
                if self.memcg.kmem_uncharge != NULL:
                    self.memcg.kmem_uncharge(self.memcg.ctx, pfn, order)
            elif not (p.memcg_data & MEMCG_DATA_OBJCGS):
                self.mem_cgroup_uncharge(pfn)
        if self.content or self.stamps != NULL:
            self.drop_content(pfn, order)
        if p.flags & (1ULL << PG_head):
            for i in range(pfn + 1, pfn + (1ULL << order)):
                self.mem_map[i].flags &= ~(1ULL << PG_tail)
                self.mem_map[i].compound_head = 0
        p.flags &= (0xffffULL << PG_NODE_SHIFT)
        p._refcount = 0
        p._mapcount = 0
        p.mapping = 0
        p.memcg_data = 0
        p.compound_order = 0
        if self.kasan.free_pages != NULL:
            self.kasan.free_pages(self.kasan.ctx, pfn, order)
        z.used_pages -= 1ULL << order
        self.node_free_pages_cnt[z.nid] += 1ULL << order
        return 0

    cdef int mem_cgroup_uncharge(self, pfn_t pfn) except -1:
        """mem_cgroup_uncharge(): a user page leaves its memcg on its last put.  A kmem page
        (a page table, a large kmalloc) is left alone: memsim's put_page() of one stands for
        the kernel's __free_pages(), whose free_pages_prepare() uncharges it
        (__memcg_kmem_uncharge_page)."""
        if self.mem_map[pfn].memcg_data & MEMCG_DATA_KMEM:
            return 0
        if self.mem_map[pfn].memcg_data != 0 and self.memcg.uncharge != NULL:
            self.memcg.uncharge(self.memcg.ctx, pfn,
                                self.mem_map[pfn].compound_order if self.mem_map[pfn].flags & (1ULL << PG_head) else 0)
        self.mem_map[pfn].memcg_data = 0
        return 0

    cdef int put_page(self, pfn_t pfn) except -1:
        """put_page(): drop a reference (of the compound head for a tail page); on the last
        one, uncharge and free the page, or run the compound page's destructor."""
        cdef page* p = &self.mem_map[pfn]
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.mem_map[pfn]
        p._refcount -= 1
        if p._refcount != 0:
            return 0
        if p.flags & (1ULL << PG_head):
            return self.free_compound(pfn)
        self.page_cache_release(pfn)        # __put_single_page
        self.mem_cgroup_uncharge(pfn)
        return self.free_pages(pfn, 0)

    cdef int free_compound(self, pfn_t head) except -1:
        """__put_compound_page() -> destroy_compound_page(): the HUGETLB_PAGE_DTOR for a
        PG_hugetlb page (the hugetlb plugin's free_huge_page), else free_compound_page()."""
        cdef page* p = &self.mem_map[head]
        if p.flags & (1ULL << PG_hugetlb):
            if self.hugetlb.free_huge_page == NULL:
                raise RuntimeError(f"pfn {head:#x}: a hugetlb page was freed but no hugetlb plugin "
                                   "installed free_huge_page")
            return self.hugetlb.free_huge_page(self.hugetlb.ctx, head)
        self.page_cache_release(head)       # __put_compound_page: not for hugetlb pages
        self.mem_cgroup_uncharge(head)
        return self.free_pages(head, p.compound_order)

    cdef int free_unref_page_commit(self, pfn_t pfn) except -1:
        """free_unref_page_commit(): an order-0 page onto this CPU's list (isolated: to buddy)."""
        cdef zone* z = self.page_zone(pfn)
        cdef page* p = &self.mem_map[pfn]
        cdef per_cpu_pages* pcp
        cdef int mt = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        if mt != MIGRATE_ISOLATE:
            __count_vm_event(self.vs, PGFREE)
        if not self.pcp_enabled or mt == MIGRATE_ISOLATE or mt == MIGRATE_CMA:
            self.free_one_page(z, pfn, 0, mt)
            z.free_pages += 1
            if mt != MIGRATE_ISOLATE:
                __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, 1, mt)
            return 0
        if mt >= MIGRATE_PCPTYPES:
            mt = MIGRATE_MOVABLE
        pcp = &z.pcp[self.cur.cpu]
        p.flags |= 1ULL << PG_pcp
        p.index = mt
        self.list_add(&pcp.head[mt], pfn)
        pcp.count += 1
        if pcp.count >= pcp.high:
            if self.trace_context:
                self.tb.ctx_preempt += 1        # under pcp_spin_trylock(): pinned and locked
            try:
                self.free_pcppages_bulk(z, pcp, pcp.batch)
            finally:
                if self.trace_context:
                    self.tb.ctx_preempt -= 1
        return 0

    cdef int free_pages(self, pfn_t pfn, unsigned int order) except -1:
        """__free_pages(): prepare, then the per-CPU list (order 0) or the buddy lists.  A block
        above the largest buddy order (a gigantic folio from alloc_contig_range) goes back in
        pageblock pieces that merge up to max-order blocks (free_one_page's
        split_large_buddy(), v6.11+)."""
        self.free_pages_prepare(pfn, order)
        if order == 0:
            return self.free_unref_page_commit(pfn)
        return self.free_pages_ok(pfn, order)

    cdef int free_pages_ok(self, pfn_t pfn, unsigned int order) except -1:
        """__free_pages_ok() after free_pages_prepare(): a block of order > 0 onto the buddy
        lists (memsim has no per-CPU lists for orders above 0)."""
        cdef zone* z = self.page_zone(pfn)
        cdef int mt = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
        __count_vm_events(self.vs, PGFREE, 1ULL << order)
        if order >= MAX_ORDER:
            return self.split_large_buddy(z, pfn, order)
        self.free_one_page(z, pfn, order, mt)
        z.free_pages += 1ULL << order
        if mt != MIGRATE_ISOLATE:
            __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, 1 << order, mt)
        return 0

    cdef int split_large_buddy(self, zone* z, pfn_t pfn, unsigned int order) except -1:
        """split_large_buddy(): free a block larger than a pageblock one pageblock at a time,
        each with its pageblock's migratetype (they merge again in __free_one_page)."""
        cdef pfn_t end = pfn + (1ULL << order)
        cdef int mt
        while pfn < end:
            mt = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
            self.free_one_page(z, pfn, PAGEBLOCK_ORDER, mt)
            z.free_pages += 1ULL << PAGEBLOCK_ORDER
            if mt != MIGRATE_ISOLATE:
                __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, 1 << PAGEBLOCK_ORDER, mt)
            pfn += 1ULL << PAGEBLOCK_ORDER
        return 0

    cdef int free_unref_page_list(self, pfn_t* pfns, int n) except -1:
        """free_unref_page_list(): every page's mm_page_free first, then each page's
        mm_page_free_batched and commit, in list order (tracepoints.md scenario 17)."""
        cdef int i
        cdef uint64_t vals[1]
        for i in range(n):
            self.free_pages_prepare(pfns[i], 0)
        for i in range(n):
            if self.tb.core[EV_MM_PAGE_FREE_BATCHED].enabled:
                vals[0] = pfns[i]
                self.tb.emit(EV_MM_PAGE_FREE_BATCHED, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            self.free_unref_page_commit(pfns[i])
        return 0

    cdef int free_unref_folios(self, pfn_t* pfns, unsigned int* orders, int n) except -1:
        """free_unref_folios() (v6.9+): every folio's free_pages_prepare() (mm_page_free) first,
        a block of an order the per-CPU lists do not take (pcp_allowed_order: above
        PAGE_ALLOC_COSTLY_ORDER and not a PMD-sized THP) straight to the buddy lists; then each
        remaining folio's mm_page_free_batched and commit, in batch order.  An order above 0
        still goes to the buddy lists in memsim (no per-order per-CPU lists)."""
        cdef int i, keep = 0
        cdef uint64_t vals[1]
        for i in range(n):
            self.free_pages_prepare(pfns[i], orders[i])
            if orders[i] > PAGE_ALLOC_COSTLY_ORDER and orders[i] != PAGEBLOCK_ORDER:
                self.free_pages_ok(pfns[i], orders[i])
                continue
            pfns[keep] = pfns[i]
            orders[keep] = orders[i]
            keep += 1
        for i in range(keep):
            if self.tb.core[EV_MM_PAGE_FREE_BATCHED].enabled:
                vals[0] = pfns[i]
                self.tb.emit(EV_MM_PAGE_FREE_BATCHED, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            if orders[i] == 0:
                self.free_unref_page_commit(pfns[i])
            else:
                self.free_pages_ok(pfns[i], orders[i])
        return 0

    def free_list(self, pfns):
        """Free order-0 pages through the batched path (free_unref_page_list)."""
        cdef pfn_t arr[1024]
        cdef int i, n = len(pfns)
        if n > 1024:
            raise ValueError("at most 1024 pages per list")
        for i in range(n):
            arr[i] = pfns[i]
        self.free_unref_page_list(arr, n)

    cdef int free_pcppages_bulk(self, zone* z, per_cpu_pages* pcp, int count) except -1:
        """free_pcppages_bulk(): return pages from the per-CPU lists to buddy, round robin."""
        cdef int mt = 0, bmt
        cdef uint32_t pfn
        cdef uint64_t vals[3]
        while count > 0 and pcp.count > 0:
            if pcp.head[mt] == NIL32:
                mt = (mt + 1) % MIGRATE_PCPTYPES
                continue
            pfn = self.mem_map[pcp.head[mt]].lru_prev        # the tail: coldest page
            self.list_del(&pcp.head[mt], pfn)
            pcp.count -= 1
            count -= 1
            self.mem_map[pfn].flags &= ~(1ULL << PG_pcp)
            if self.tb.core[EV_MM_PAGE_PCPU_DRAIN].enabled:
                vals[0] = pfn; vals[1] = 0; vals[2] = mt
                self.tb.emit(EV_MM_PAGE_PCPU_DRAIN, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            bmt = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
            self.free_one_page(z, pfn, 0, bmt if bmt == MIGRATE_ISOLATE else mt)
            z.free_pages += 1
            if bmt != MIGRATE_ISOLATE:
                __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, 1, mt)
            mt = (mt + 1) % MIGRATE_PCPTYPES
        return 0

    cdef int free_one_page(self, zone* z, pfn_t pfn, unsigned int order, int mt) noexcept:
        """__free_one_page(): merge with free buddies up to the max order, then list the block."""
        cdef pfn_t buddy
        cdef page* bp
        cdef page* p
        cdef int bmt
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1ULL << order)
            if buddy < z.zone_start_pfn or buddy >= z.zone_end_pfn:
                break
            bp = &self.mem_map[buddy]
            if not (bp.flags & (1ULL << PG_buddy)) or bp.private != order:
                break
            if order >= PAGEBLOCK_ORDER - 1:
                # do not merge isolated pageblocks with others (has_isolate_pageblock)
                bmt = self.pageblock_mt[buddy >> PAGEBLOCK_ORDER]
                if bmt != mt and (bmt == MIGRATE_ISOLATE or mt == MIGRATE_ISOLATE):
                    break
            self.list_del(&z.area[order].head[bp.index], buddy)
            z.area[order].nr_free -= 1
            bp.flags &= ~(1ULL << PG_buddy)
            bp.private = 0
            pfn = pfn & buddy
            order += 1
        p = &self.mem_map[pfn]
        p.flags = (p.flags & (0xffffULL << PG_NODE_SHIFT)) | (1ULL << PG_buddy)
        if (p.flags >> PG_NODE_SHIFT) == 0:
            p.flags |= (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT)
        p.private = order
        p.index = mt
        self.list_add(&z.area[order].head[mt], pfn)
        z.area[order].nr_free += 1
        return 0

    # -- per-CPU lists ----------------------------------------------------------------------
    def drain_all_pages(self):
        """drain_all_pages(NULL): empty every per-CPU list into the buddy allocator."""
        cdef int i, c
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            if self.zones[i].managed_pages == 0:
                continue
            for c in range(self.ncpus):
                self.free_pcppages_bulk(&self.zones[i], &self.zones[i].pcp[c], self.zones[i].pcp[c].count)


    # -- LRU lists (mm/swap.c, include/linux/mm_inline.h) -------------------------------------
    cdef lruvec* folio_lruvec(self, pfn_t pfn) noexcept:
        """folio_lruvec() / mem_cgroup_page_lruvec(): memcg's lruvec of the page when memcg
        installed ``lru_ops.folio_lruvec``, else the page's node's (pgdat->__lruvec)."""
        cdef lruvec* lv
        if self.lru_ops.folio_lruvec != NULL:
            lv = self.lru_ops.folio_lruvec(self.lru_ops.ctx, pfn)
            if lv != NULL:
                return lv
        return &self.lruvecs[(self.mem_map[pfn].flags >> PG_NODE_SHIFT) & 0xff]

    cdef void update_lru_size(self, lruvec* lv, int lru, page* p, int64_t nr) noexcept:
        """update_lru_size(): the list's size (and its zone's share: lru_zone_size), the node
        (and memcg lruvec) counter NR_INACTIVE_ANON + lru and the zone counter
        NR_ZONE_INACTIVE_ANON + lru."""
        lv.nr_pages[lru] += nr
        lv.zone_nr_pages[page_zonenum(p) * NR_LRU_LISTS + lru] += nr
        __mod_lruvec_page_state(self.vs, p, NR_INACTIVE_ANON + lru, nr)
        __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p),
                              NR_ZONE_INACTIVE_ANON + lru, nr)

    cdef void lruvec_add_folio(self, lruvec* lv, pfn_t pfn) noexcept:
        """lruvec_add_folio() / add_page_to_lru_list(): at the head of its list (folio_lru_list)."""
        self.lruvec_link_folio(lv, pfn, False)

    cdef void lruvec_add_folio_tail(self, lruvec* lv, pfn_t pfn) noexcept:
        """lruvec_add_folio_tail() / add_page_to_lru_list_tail(): at the tail (next to reclaim)."""
        self.lruvec_link_folio(lv, pfn, True)

    cdef inline void lruvec_link_folio(self, lruvec* lv, pfn_t pfn, bint tail) noexcept:
        """The body both share: count the page on the list its flags name, link it at the head
        or the tail."""
        cdef page* p = &self.mem_map[pfn]
        cdef int lru = folio_lru_list(p)
        self.update_lru_size(lv, lru, p, folio_nr_pages(p))
        lru_link(self.mem_map, &lv.head[lru], pfn, tail)
        self.lru_changes += 1

    cdef void lruvec_del_folio(self, lruvec* lv, pfn_t pfn) noexcept:
        """lruvec_del_folio() / del_page_from_lru_list(): off the list its flags name."""
        cdef page* p = &self.mem_map[pfn]
        cdef int lru = folio_lru_list(p)
        lru_unlink(self.mem_map, &lv.head[lru], pfn)
        self.update_lru_size(lv, lru, p, -folio_nr_pages(p))
        self.lru_changes += 1

    cdef int lru_cache_add(self, pfn_t pfn) except -1:
        """lru_cache_add() (v5.14) / folio_add_lru() (v6.18): take a reference and put the page
        in this CPU's lru_add batch; a full batch, or a compound page, moves the batch onto the
        LRU at once (pagevec_add_and_need_flush / folio_batch_add_and_move)."""
        cdef page* p = &self.mem_map[pfn]
        cdef lru_batch* b = &self.fbatches[self.cur.cpu].lru_add
        p._refcount += 1
        b.pfns[b.nr] = <uint32_t>pfn
        b.nr += 1
        if b.nr >= self.lru_batch_size or p.flags & (1ULL << PG_head):
            self.pagevec_lru_add(b)
        return 0

    cdef int lru_cache_add_inactive_or_unevictable(self, pfn_t pfn, bint vm_locked) except -1:
        """lru_cache_add_inactive_or_unevictable() (v5.14) / folio_add_lru_vma() (v6.18): a new
        page of a VMA; ``vm_locked`` is (vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED, whose
        pages are mlocked: v5.14 TestSetPageMlocked and the lru_add batch (the unevictable list
        when the batch is moved), v6.18 mlock_new_folio() through the mlock_fbatch."""
        cdef page* p = &self.mem_map[pfn]
        cdef int64_t nr
        if vm_locked and self.mlock_fbatch_enabled:
            return self.mlock_new_folio(pfn)
        if vm_locked and not (p.flags & (1ULL << PG_mlocked)):
            p.flags |= 1ULL << PG_mlocked
            nr = folio_nr_pages(p)
            __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p),
                                  NR_MLOCK, nr)
            __count_vm_events(self.vs, UNEVICTABLE_PGMLOCKED, nr)
        return self.lru_cache_add(pfn)

    cdef int lru_add_fn(self, pfn_t pfn) except -1:
        """__pagevec_lru_add_fn() (v5.14) / lru_add() (v6.18): PG_lru, an unevictable (mlocked)
        page to LRU_UNEVICTABLE, the page onto its list, then pagemap:mm_lru_insertion."""
        cdef page* p = &self.mem_map[pfn]
        cdef bint was_unevictable = (p.flags >> PG_unevictable) & 1
        cdef int64_t nr = folio_nr_pages(p)
        cdef uint64_t vals[5]
        p.flags &= ~(1ULL << PG_unevictable)
        p.flags |= 1ULL << PG_lru
        if not (p.flags & (1ULL << PG_mlocked)):          # page_evictable()
            if was_unevictable:
                __count_vm_events(self.vs, UNEVICTABLE_PGRESCUED, nr)
        else:
            p.flags &= ~(1ULL << PG_active)
            p.flags |= 1ULL << PG_unevictable
            if self.mlock_count != NULL:
                self.mlock_count[pfn] = 0       # v6.18: underestimate, reclaim fixes it
            if not was_unevictable:
                __count_vm_events(self.vs, UNEVICTABLE_PGCULLED, nr)
        self.lruvec_add_folio(self.folio_lruvec(pfn), pfn)
        if self.tb.core[EV_MM_LRU_INSERTION].enabled:         # trace_mm_lru_insertion(page)
            vals[0] = VMEMMAP_BASE + pfn * sizeof(page); vals[1] = vals[0]; vals[2] = pfn
            vals[3] = folio_lru_list(p); vals[4] = trace_pagemap_flags(self.mem_map, pfn)
            self.tb.emit(EV_MM_LRU_INSERTION, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        return 0

    cdef int pagevec_lru_add(self, lru_batch* b) except -1:
        """__pagevec_lru_add() (v5.14) / folio_batch_move_lru(fbatch, lru_add) (v6.18): every
        page onto the LRU, then release_pages() drops the batch's references (a page unmapped
        and put meanwhile is freed here, off the LRU again)."""
        cdef int i, n = b.nr
        cdef pfn_t pfns[LRU_BATCH_MAX]
        for i in range(n):
            pfns[i] = b.pfns[i]
            self.lru_add_fn(pfns[i])
        b.nr = 0
        return self.release_pages(pfns, n)

    cdef int activate_page(self, pfn_t pfn) except -1:
        """activate_page() (v5.14, CONFIG_SMP) / folio_activate() (v6.18): an inactive evictable
        page on the LRU goes to this CPU's activate batch (holding a reference)."""
        cdef page* p = &self.mem_map[pfn]
        cdef lru_batch* b
        if (p.flags & (1ULL << PG_lru)) and not (p.flags & ((1ULL << PG_active) | (1ULL << PG_unevictable))):
            b = &self.fbatches[self.cur.cpu].lru_activate
            p._refcount += 1
            b.pfns[b.nr] = <uint32_t>pfn
            b.nr += 1
            if b.nr >= self.lru_batch_size or p.flags & (1ULL << PG_head):
                self.pagevec_activate(b)
        return 0

    cdef int pagevec_activate(self, lru_batch* b) except -1:
        """pagevec_lru_move_fn(pvec, __activate_page) (v5.14) / folio_batch_move_lru(fbatch,
        lru_activate) (v6.18): each page still on the LRU and inactive moves to the head of its
        active list (pgactivate, pagemap:mm_lru_activate); then release_pages()."""
        cdef int i, n = b.nr
        cdef pfn_t pfns[LRU_BATCH_MAX]
        cdef pfn_t pfn
        cdef page* p
        cdef lruvec* lv
        cdef uint64_t vals[3]
        for i in range(n):
            pfn = b.pfns[i]
            pfns[i] = pfn
            p = &self.mem_map[pfn]
            if not (p.flags & (1ULL << PG_lru)):
                continue
            if p.flags & ((1ULL << PG_active) | (1ULL << PG_unevictable)):
                continue
            lv = self.folio_lruvec(pfn)
            self.lruvec_del_folio(lv, pfn)
            p.flags |= 1ULL << PG_active
            self.lruvec_add_folio(lv, pfn)
            if self.tb.core[EV_MM_LRU_ACTIVATE].enabled:      # trace_mm_lru_activate(page)
                vals[0] = VMEMMAP_BASE + pfn * sizeof(page); vals[1] = vals[0]; vals[2] = pfn
                self.tb.emit(EV_MM_LRU_ACTIVATE, self.cur.cpu, self.cur.pid, vals, NULL, 0)
            __count_vm_events(self.vs, PGACTIVATE, folio_nr_pages(p))
        b.nr = 0
        return self.release_pages(pfns, n)

    cdef int lru_add_drain_cpu(self, int cpu) except -1:
        """lru_add_drain_cpu(): the CPU's lru_add batch, then its activate batch
        (activate_page_drain / folio_activate_drain), in the kernel's order."""
        if self.fbatches[cpu].lru_add.nr:
            self.pagevec_lru_add(&self.fbatches[cpu].lru_add)
        if self.fbatches[cpu].lru_activate.nr:
            self.pagevec_activate(&self.fbatches[cpu].lru_activate)
        return 0

    cdef int lru_add_drain(self) except -1:
        """lru_add_drain(): this CPU's batches, then (v6.18) mlock_drain_local()."""
        self.lru_add_drain_cpu(self.cur.cpu)
        return self.mlock_drain_cpu(self.cur.cpu)

    cdef int lru_add_drain_all(self) except -1:
        """lru_add_drain_all(): every CPU's batches (the kernel queues the work on each CPU;
        memsim drains them in CPU order from the current task)."""
        cdef int c
        for c in range(self.ncpus):
            self.lru_add_drain_cpu(c)           # lru_add_and_bh_lrus_drain()
            self.mlock_drain_cpu(c)
        return 0

    cdef int mark_page_accessed(self, pfn_t pfn) except -1:
        """mark_page_accessed() (v5.14) / folio_mark_accessed() (v6.18), the second chance: an
        unreferenced page only gets PG_referenced; a referenced inactive one is activated —
        through the activate batch when on the LRU, in place when still in this CPU's lru_add
        batch (__lru_cache_activate_page) — and loses PG_referenced."""
        cdef page* p = &self.mem_map[pfn]
        cdef lru_batch* b
        cdef int i
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.mem_map[pfn]
        if not (p.flags & (1ULL << PG_referenced)):
            p.flags |= 1ULL << PG_referenced
        elif p.flags & (1ULL << PG_unevictable):
            pass
        elif not (p.flags & (1ULL << PG_active)):
            if p.flags & (1ULL << PG_lru):
                self.activate_page(pfn)
            else:
                b = &self.fbatches[self.cur.cpu].lru_add
                for i in range(b.nr - 1, -1, -1):
                    if b.pfns[i] == pfn:
                        p.flags |= 1ULL << PG_active
                        break
            p.flags &= ~(1ULL << PG_referenced)
            self.workingset_activation(pfn)
        return 0

    cdef void workingset_age_nonresident(self, lruvec* lv, uint64_t nr_pages) noexcept:
        """workingset_age_nonresident() (mm/workingset.c): the eviction clock of ``lv`` and of
        every ancestor memcg's lruvec on its node (parent_lruvec, through ``lru_ops``) moves on
        by ``nr_pages``: evictions and activations both age the non-resident pages."""
        while lv != NULL:
            lv.nonresident_age += nr_pages
            if self.lru_ops.parent_lruvec == NULL:
                break
            lv = self.lru_ops.parent_lruvec(self.lru_ops.ctx, lv)

    cdef void workingset_activation(self, pfn_t pfn) noexcept:
        """workingset_activation() (mm/workingset.c), from mark_page_accessed() /
        folio_mark_accessed() when a page is activated: the page's lruvec
        (mem_cgroup_page_lruvec / folio_lruvec) ages by the page's size.  The kernel skips a
        page no memcg charged while memcg is enabled (a VDSO page); memsim's core has no such
        page on the LRU."""
        self.workingset_age_nonresident(self.folio_lruvec(pfn), folio_nr_pages(&self.mem_map[pfn]))

    cdef int page_cache_release(self, pfn_t pfn) noexcept:
        """__page_cache_release(): a page's last reference went: off its LRU list, and
        __clear_page_lru_flags() (PG_lru, PG_active, PG_unevictable)."""
        cdef page* p = &self.mem_map[pfn]
        if p.flags & (1ULL << PG_lru):
            self.lruvec_del_folio(self.folio_lruvec(pfn), pfn)
            p.flags &= ~((1ULL << PG_lru) | (1ULL << PG_active) | (1ULL << PG_unevictable))
        return 0

    cdef int release_pages(self, pfn_t* pfns, int n) except -1:
        """release_pages() (v5.14): drop one reference of each page (a tail's goes to its head);
        a compound page whose last reference goes is destroyed at once, an order-0 page leaves
        the LRU (__page_cache_release), is uncharged and goes on pages_to_free, which
        list_add()s at the head, so free_unref_page_list() frees them in reverse order.
        v6.18 (``folios_put_refs_enabled``): free_pages_and_swap_cache() and folios_put() hand
        folios_put_refs() folio batches of PAGEVEC_SIZE (31), each freed in order by
        free_unref_folios(): its mm_page_free records, then its mm_page_free_batched records.
        A page still referenced (one an lru_add batch holds) keeps its place in the batch of 31
        but is not freed."""
        cdef int i, k, m = 0
        cdef pfn_t pfn
        cdef page* p
        cdef pfn_t tofree[RELEASE_PAGES_MAX]
        if self.folios_put_refs_enabled:
            while n > PAGEVEC_SIZE:
                self.folios_put_refs(pfns, PAGEVEC_SIZE)
                pfns += PAGEVEC_SIZE
                n -= PAGEVEC_SIZE
            return self.folios_put_refs(pfns, n)
        if n > RELEASE_PAGES_MAX:           # the mmu_gather's batches hold at most 510
            self.release_pages(pfns, RELEASE_PAGES_MAX)
            return self.release_pages(pfns + RELEASE_PAGES_MAX, n - RELEASE_PAGES_MAX)
        for i in range(n):
            pfn = self.put_folio_ref(pfns[i], 1ULL << PG_head)
            if pfn != NO_PFN:
                tofree[m] = pfn
                m += 1
        for k in range(m // 2):
            pfn = tofree[k]
            tofree[k] = tofree[m - 1 - k]
            tofree[m - 1 - k] = pfn
        self.free_unref_page_list(tofree, m)
        return 0

    cdef pfn_t put_folio_ref(self, pfn_t pfn, uint64_t free_at_once) except? 0:
        """What release_pages() and folios_put_refs() do per page: drop one reference of its
        folio (a tail's goes to the head).  When that was the last, a folio with a flag of
        ``free_at_once`` is freed at once (v5.14's compound pages, v6.18's hugetlb folios:
        destroy_compound_page / free_huge_folio) and NO_PFN returned; any other leaves the LRU
        (__page_cache_release), is uncharged and is returned, for the caller's free list.
        NO_PFN too while a reference is left."""
        cdef page* p = &self.mem_map[pfn]
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.mem_map[pfn]
        p._refcount -= 1
        if p._refcount != 0:
            return NO_PFN
        if p.flags & free_at_once:
            self.free_compound(pfn)
            return NO_PFN
        self.page_cache_release(pfn)
        if p.memcg_data:
            self.mem_cgroup_uncharge(pfn)
        return pfn

    cdef int folios_put_refs(self, pfn_t* pfns, int n) except -1:
        """folios_put_refs() of one folio batch (at most PAGEVEC_SIZE, 31): drop a reference of
        each folio; a hugetlb folio whose last one goes is freed at once (free_huge_folio);
        every other leaves the LRU (__page_cache_release), is uncharged and stays in the batch,
        in place, for free_unref_folios()."""
        cdef int i, m = 0
        cdef pfn_t pfn
        cdef page* p
        cdef pfn_t tofree[PAGEVEC_SIZE]
        cdef unsigned int orders[PAGEVEC_SIZE]
        for i in range(n):
            pfn = self.put_folio_ref(pfns[i], 1ULL << PG_hugetlb)
            if pfn != NO_PFN:
                p = &self.mem_map[pfn]
                tofree[m] = pfn
                orders[m] = p.compound_order if p.flags & (1ULL << PG_head) else 0
                m += 1
        if m:
            self.free_unref_folios(tofree, orders, m)
        return 0

    # -- mlock (mm/mlock.c) -------------------------------------------------------------------
    cdef bint isolate_lru_page(self, pfn_t pfn) except -1:
        """isolate_lru_page() (v5.14) / folio_isolate_lru() (v6.18): a page on an LRU list leaves
        it (PG_lru cleared, PG_unevictable and PG_active kept) and the caller holds a reference;
        False when it is not on a list (in a per-CPU batch, or isolated by someone else)."""
        cdef page* p = &self.mem_map[pfn]
        if not (p.flags & (1ULL << PG_lru)):
            return False
        p._refcount += 1
        self.lruvec_del_folio(self.folio_lruvec(pfn), pfn)
        p.flags &= ~(1ULL << PG_lru)
        return True

    cdef int putback_lru_page(self, pfn_t pfn) except -1:
        """putback_lru_page() (v5.14) / folio_putback_lru() (v6.18): lru_cache_add() (the page
        goes to this CPU's lru_add batch; lru_add_fn picks its list, evictable or not), then
        put_page() of the isolation's reference."""
        self.lru_cache_add(pfn)
        self.mem_map[pfn]._refcount -= 1
        return 0

    cdef int mlock_vma_page(self, pfn_t pfn) except -1:
        """mlock_vma_page() (v5.14): TestSetPageMlocked; the first time, NR_MLOCK and
        unevictable_pgs_mlocked, and a page on the LRU is isolated and put back
        (putback_lru_page: through the lru_add batch onto the unevictable list, culled there).
        A page not on the LRU (in a batch, or isolated by reclaim) keeps its place: whoever
        puts it on a list sees PG_mlocked."""
        cdef page* p = &self.mem_map[pfn]
        cdef int64_t nr
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.mem_map[pfn]
        if p.flags & (1ULL << PG_mlocked):
            return 0
        p.flags |= 1ULL << PG_mlocked
        nr = folio_nr_pages(p)
        __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p), NR_MLOCK, nr)
        __count_vm_events(self.vs, UNEVICTABLE_PGMLOCKED, nr)
        if self.isolate_lru_page(pfn):
            self.putback_lru_page(pfn)
        return 0

    cdef int clear_page_mlock(self, pfn_t pfn) except -1:
        """clear_page_mlock() (v5.14), from page_remove_rmap() when the last mapping of an
        mlocked page goes: TestClearPageMlocked, NR_MLOCK, unevictable_pgs_cleared, and the page
        isolated and put back (to an evictable list once its batch drains); a page that cannot
        be isolated and is unevictable counts unevictable_pgs_stranded."""
        cdef page* p = &self.mem_map[pfn]
        cdef int64_t nr
        if not (p.flags & (1ULL << PG_mlocked)):
            return 0
        p.flags &= ~(1ULL << PG_mlocked)
        nr = folio_nr_pages(p)
        __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p), NR_MLOCK, -nr)
        __count_vm_events(self.vs, UNEVICTABLE_PGCLEARED, nr)
        if self.isolate_lru_page(pfn):
            self.putback_lru_page(pfn)
        elif p.flags & (1ULL << PG_unevictable):
            __count_vm_events(self.vs, UNEVICTABLE_PGSTRANDED, nr)
        return 0

    cdef int mlock_fbatch_add(self, pfn_t pfn, uint32_t tag) except -1:
        """folio_get() and folio_batch_add() to this CPU's mlock_fbatch; a full batch, or a
        large folio (!folio_may_be_lru_cached), is processed at once (mlock_folio_batch)."""
        cdef page* p = &self.mem_map[pfn]
        cdef lru_batch* b = &self.fbatches[self.cur.cpu].mlock
        if self.mlock_count == NULL:
            if self.max_pfn >= MLOCK_NEW_FOLIO:
                raise ValueError("memsim's mlock_fbatch tags pfns in bits 30-31: at most 4 TiB")
            self.mlock_count = <uint32_t*>calloc(self.max_pfn, sizeof(uint32_t))
            if self.mlock_count == NULL:
                raise MemoryError("cannot reserve host memory for folio->mlock_count")
        p._refcount += 1
        b.pfns[b.nr] = <uint32_t>pfn | tag
        b.nr += 1
        if b.nr >= LRU_BATCH_MAX or p.flags & (1ULL << PG_head):
            self.mlock_folio_batch(b)
        return 0

    cdef int mlock_folio(self, pfn_t pfn) except -1:
        """mlock_folio() (v6.18): folio_test_set_mlocked (the first time NR_MLOCK and
        unevictable_pgs_mlocked), then the folio goes to the mlock_fbatch as mlock_lru()."""
        cdef page* p = &self.mem_map[pfn]
        cdef int64_t nr = folio_nr_pages(p)
        if not (p.flags & (1ULL << PG_mlocked)):
            p.flags |= 1ULL << PG_mlocked
            __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p), NR_MLOCK, nr)
            __count_vm_events(self.vs, UNEVICTABLE_PGMLOCKED, nr)
        return self.mlock_fbatch_add(pfn, MLOCK_LRU_FOLIO)

    cdef int mlock_new_folio(self, pfn_t pfn) except -1:
        """mlock_new_folio() (v6.18), from folio_add_lru_vma() for a new folio of a VM_LOCKED
        VMA: PG_mlocked, NR_MLOCK, unevictable_pgs_mlocked, then the mlock_fbatch as
        mlock_new() (it is not on the LRU yet: __mlock_new_folio adds it)."""
        cdef page* p = &self.mem_map[pfn]
        cdef int64_t nr = folio_nr_pages(p)
        p.flags |= 1ULL << PG_mlocked
        __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p), NR_MLOCK, nr)
        __count_vm_events(self.vs, UNEVICTABLE_PGMLOCKED, nr)
        return self.mlock_fbatch_add(pfn, MLOCK_NEW_FOLIO)

    cdef int munlock_folio(self, pfn_t pfn) except -1:
        """munlock_folio() (v6.18): the folio goes to the mlock_fbatch untagged; clearing
        PG_mlocked is left to __munlock_folio, which checks the mlock_count first."""
        return self.mlock_fbatch_add(pfn, 0)

    cdef int mlock_folio_batch(self, lru_batch* b) except -1:
        """mlock_folio_batch() (v6.18): per folio, by its tag, __mlock_folio (off the LRU onto
        the unevictable list, culled, mlock_count 1 — or one more if already there),
        __mlock_new_folio (onto the unevictable list, culled, mlock_count 1) or __munlock_folio
        (mlock_count - 1; at 0 PG_mlocked cleared, NR_MLOCK, unevictable_pgs_munlocked — or
        _stranded for an unevictable folio off the LRU — and back to an evictable list,
        unevictable_pgs_rescued); a folio off the LRU (isolated, or in an lru_add batch) is only
        (un)flagged.  Then folios_put() drops the batch's references.  memsim keeps
        folio->mlock_count in a side array: the kernel overlays it on lru.prev because it does
        not link unevictable folios, while memsim still links them so --check can walk the
        list."""
        cdef int i, n = b.nr
        cdef pfn_t pfns[LRU_BATCH_MAX]
        cdef pfn_t pfn
        cdef uint32_t tag
        cdef page* p
        cdef lruvec* lv
        cdef int64_t nr
        cdef bint isolated
        for i in range(n):
            tag = b.pfns[i] & (MLOCK_LRU_FOLIO | MLOCK_NEW_FOLIO)
            pfn = b.pfns[i] & ~(<uint32_t>(MLOCK_LRU_FOLIO | MLOCK_NEW_FOLIO))
            pfns[i] = pfn
            p = &self.mem_map[pfn]
            nr = folio_nr_pages(p)
            if tag & MLOCK_NEW_FOLIO:                                   # __mlock_new_folio
                if p.flags & (1ULL << PG_mlocked):
                    p.flags |= 1ULL << PG_unevictable
                    self.mlock_count[pfn] = 1
                    __count_vm_events(self.vs, UNEVICTABLE_PGCULLED, nr)
                p.flags |= 1ULL << PG_lru
                self.lruvec_add_folio(self.folio_lruvec(pfn), pfn)
            elif tag & MLOCK_LRU_FOLIO:                                 # __mlock_folio
                if not (p.flags & (1ULL << PG_lru)):
                    continue
                lv = self.folio_lruvec(pfn)
                if not (p.flags & (1ULL << PG_mlocked)):                # folio_evictable()
                    if p.flags & (1ULL << PG_unevictable):
                        self.lruvec_del_folio(lv, pfn)
                        p.flags &= ~(1ULL << PG_unevictable)
                        self.lruvec_add_folio(lv, pfn)
                        __count_vm_events(self.vs, UNEVICTABLE_PGRESCUED, nr)
                elif p.flags & (1ULL << PG_unevictable):
                    self.mlock_count[pfn] += 1
                else:
                    self.lruvec_del_folio(lv, pfn)
                    p.flags &= ~(1ULL << PG_active)
                    p.flags |= 1ULL << PG_unevictable
                    self.mlock_count[pfn] = 1
                    self.lruvec_add_folio(lv, pfn)
                    __count_vm_events(self.vs, UNEVICTABLE_PGCULLED, nr)
            else:                                                       # __munlock_folio
                isolated = (p.flags & (1ULL << PG_lru)) != 0
                if isolated and p.flags & (1ULL << PG_unevictable):
                    if self.mlock_count[pfn]:
                        self.mlock_count[pfn] -= 1
                    if self.mlock_count[pfn]:
                        continue
                if p.flags & (1ULL << PG_mlocked):
                    p.flags &= ~(1ULL << PG_mlocked)
                    __mod_zone_page_state(self.vs, page_to_nid_flags(p) * MAX_NR_ZONES + page_zonenum(p),
                                          NR_MLOCK, -nr)
                    if isolated or not (p.flags & (1ULL << PG_unevictable)):
                        __count_vm_events(self.vs, UNEVICTABLE_PGMUNLOCKED, nr)
                    else:
                        __count_vm_events(self.vs, UNEVICTABLE_PGSTRANDED, nr)
                if isolated and p.flags & (1ULL << PG_unevictable) and not (p.flags & (1ULL << PG_mlocked)):
                    lv = self.folio_lruvec(pfn)
                    self.lruvec_del_folio(lv, pfn)
                    p.flags &= ~(1ULL << PG_unevictable)
                    self.lruvec_add_folio(lv, pfn)
                    __count_vm_events(self.vs, UNEVICTABLE_PGRESCUED, nr)
        b.nr = 0
        return self.release_pages(pfns, n)

    cdef int mlock_drain_cpu(self, int cpu) except -1:
        """mlock_drain_local() / mlock_drain_remote(cpu): process CPU ``cpu``'s mlock_fbatch."""
        if self.fbatches[cpu].mlock.nr:
            self.mlock_folio_batch(&self.fbatches[cpu].mlock)
        return 0

    def mlock_batch(self, int cpu):
        """The pfns waiting in CPU ``cpu``'s mlock_fbatch (v6.18), oldest first."""
        cdef lru_batch* b
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"no CPU {cpu}")
        b = &self.fbatches[cpu].mlock
        return [b.pfns[i] & ~(<uint32_t>(MLOCK_LRU_FOLIO | MLOCK_NEW_FOLIO)) for i in range(b.nr)]

    def folio_mlock_count(self, pfn_t pfn):
        """folio->mlock_count (v6.18; 0 when nothing was ever mlocked through the batch)."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the machine")
        return self.mlock_count[pfn] if self.mlock_count != NULL else 0

    def lru_add_drain_py(self, bint all_cpus=False):
        """lru_add_drain() of the current CPU, or lru_add_drain_all()."""
        if all_cpus:
            self.lru_add_drain_all()
        else:
            self.lru_add_drain()

    def lru_cache_add_py(self, pfn_t pfn):
        """lru_cache_add() of an allocated page (tests, plugins' Python paths)."""
        if pfn >= self.max_pfn or compound_refcount(self, pfn) <= 0:
            raise ValueError(f"pfn {pfn:#x} is not an allocated page")
        self.lru_cache_add(pfn)

    def mark_accessed(self, pfn_t pfn):
        """mark_page_accessed() / folio_mark_accessed() of an allocated page."""
        if pfn >= self.max_pfn or compound_refcount(self, pfn) <= 0:
            raise ValueError(f"pfn {pfn:#x} is not an allocated page")
        self.mark_page_accessed(pfn)

    def lru_pages(self, int nid, int lru):
        """The pfns of one LRU list of node ``nid``'s lruvec, head (newest) first."""
        cdef lruvec* lv
        cdef uint32_t h, pfn
        if not 0 <= nid < self.nr_nodes or not 0 <= lru < NR_LRU_LISTS:
            raise ValueError(f"no LRU list {lru} on node {nid}")
        lv = &self.lruvecs[nid]
        out = []
        h = lv.head[lru]
        if h == NIL32:
            return out
        pfn = h
        while True:
            out.append(pfn)
            pfn = self.mem_map[pfn].lru_next
            if pfn == h:
                return out

    def lru_sizes(self, int nid):
        """lruvec.nr_pages of node ``nid``: [inactive_anon, active_anon, inactive_file,
        active_file, unevictable] in pages."""
        if not 0 <= nid < self.nr_nodes:
            raise ValueError(f"no node {nid}")
        return [self.lruvecs[nid].nr_pages[i] for i in range(NR_LRU_LISTS)]

    def lru_batch(self, int cpu, bint activate=False):
        """The pfns waiting in CPU ``cpu``'s lru_add (or activate) batch, oldest first."""
        cdef lru_batch* b
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"no CPU {cpu}")
        b = &self.fbatches[cpu].lru_activate if activate else &self.fbatches[cpu].lru_add
        return [b.pfns[i] for i in range(b.nr)]

    # -- contents ---------------------------------------------------------------------------
    cdef int copy_content(self, pfn_t dst, pfn_t src) except -1:
        """copy_user_highpage(): copy the bytes and the stamp (if the source has any)."""
        cdef object buf
        if self.mem_map[src].flags & (1ULL << PG_content):
            buf = self.content.get(src)
            if buf is not None:
                self.content[dst] = bytearray(buf)
            else:
                self.content.pop(dst, None)
            if self.stamps != NULL:
                self.stamps[dst] = self.stamps[src]
            self.mem_map[dst].flags |= 1ULL << PG_content
        return 0

    cdef int stamp_frame(self, pfn_t pfn, uint64_t value) except -1:
        """Stamp frame ``pfn`` (the stamps array made at the first stamp)."""
        if self.stamps == NULL:
            self.stamps = <uint64_t*>calloc(self.max_pfn, sizeof(uint64_t))
            if self.stamps == NULL:
                raise MemoryError("no host memory for the page stamps")
        self.stamps[pfn] = value
        self.mem_map[pfn].flags |= 1ULL << PG_content
        return 0

    def stamp(self, pfn_t pfn, uint64_t value):
        """Give frame ``pfn`` the stamp ``value`` (0 clears it to 'never stamped')."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the machine's memory")
        self.stamp_frame(pfn, value)

    def stamp_of(self, pfn_t pfn):
        """The stamp of frame ``pfn`` (0: none)."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the machine's memory")
        if self.stamps == NULL or not self.mem_map[pfn].flags & (1ULL << PG_content):
            return 0
        return self.stamps[pfn]

    cdef int drop_content(self, pfn_t pfn, unsigned int order) except -1:
        """The frames' bytes go (a freed or newly prepared page reads as zeros).  Its callers
        (free_pages_prepare, prep_new_page) call it before they clear the flags, so PG_content
        still says which frames have bytes: a frame whose stale bytes stayed would show them to
        its next owner (read_bytes) and keep PG_content clear on the next write."""
        cdef pfn_t i
        for i in range(pfn, pfn + (1ULL << order)):
            if self.mem_map[i].flags & (1ULL << PG_content):
                self.content.pop(i, None)
                if self.stamps != NULL:
                    self.stamps[i] = 0
                self.mem_map[i].flags &= ~(1ULL << PG_content)
        return 0

    def write_bytes(self, pfn_t pfn, unsigned int offset, bytes data):
        """Store ``data`` in frame ``pfn`` at ``offset`` (must not cross the frame)."""
        if offset + len(data) > PAGE_SIZE:
            raise ValueError("write crosses the end of the frame")
        buf = self.content.get(pfn)
        if buf is None:
            buf = self.content[pfn] = bytearray(PAGE_SIZE)
            self.mem_map[pfn].flags |= 1ULL << PG_content
        buf[offset:offset + len(data)] = data

    def read_bytes(self, pfn_t pfn, unsigned int offset, unsigned int length):
        if offset + length > PAGE_SIZE:
            raise ValueError("read crosses the end of the frame")
        buf = self.content.get(pfn)
        if buf is None:
            return bytes(length)
        return bytes(buf[offset:offset + length])

    @property
    def content_frames(self):
        return len(self.content)

    # -- KASAN checked accesses --------------------------------------------------------------
    cdef int kasan_check_range(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1:
        """kasan_check_range(): a checked access of ``size`` bytes at ``addr`` (a kernel access
        instrumented by KASAN); 0 = fine or KASAN is off, 1 = KASAN reported a bad access."""
        if self.kasan.check_range == NULL:
            return 0
        return self.kasan.check_range(self.kasan.ctx, addr, size, write, ip)

    def check_access(self, uint64_t addr, uint64_t size, bint write=False, uint64_t ip=0):
        """kasan_check_range() from Python (the checked-access path of workload steps)."""
        return self.kasan_check_range(addr, size, write, ip)

    def page_address(self, pfn_t pfn):
        """page_address() / page_to_virt(): the page's direct-map address, with the page's
        KASAN tag in the top byte (page_kasan_tag: ``kasan_tag`` is stored XOR 0xFF, so a page
        KASAN never tagged reads 0xFF, the native tag)."""
        if pfn >= self.max_pfn:
            raise ValueError(f"page_address: pfn {pfn:#x} is beyond this machine's "
                             f"{self.max_pfn:#x} frames")
        return (0x00ff888000000000 + (<uint64_t>pfn << 12)) | \
            ((<uint64_t>(self.mem_map[pfn].kasan_tag ^ 0xff)) << 56)

    @property
    def has_kasan_ops(self):
        return self.kasan.alloc_pages != NULL or self.kasan.check_range != NULL

    @property
    def has_memcg_ops(self):
        return self.memcg.charge != NULL or self.memcg.kmem_charge != NULL

    def mod_lruvec_page_state(self, pfn_t pfn, int idx, int64_t val):
        """The memcg part of mod_lruvec_page_state() (the swap plugin's NR_SWAPCACHE, ...)."""
        if self.memcg.mod_lruvec_page_state != NULL and self.mem_map[pfn].memcg_data != 0:
            self.memcg.mod_lruvec_page_state(self.memcg.ctx, pfn, idx, val)

    def swapin_charge(self, pfn_t pfn, object mm, gfp_t gfp, int id=0):
        """mem_cgroup_swapin_charge_page(): 0, or -ENOMEM."""
        if self.memcg.swapin_charge != NULL:
            return self.memcg.swapin_charge(self.memcg.ctx, pfn, mm, gfp, id)
        return 0

    cdef int split_page(self, pfn_t pfn, unsigned int order) except -1:
        """split_page(): a non-compound block of ``order`` becomes 2^order pages with a
        reference each (set_page_refcounted), the head's memcg charge shared by all
        (split_page_memcg)."""
        cdef pfn_t i
        if self.mem_map[pfn].flags & ((1ULL << PG_head) | (1ULL << PG_tail)):
            raise ValueError(f"split_page({pfn:#x}): a compound page; split_page() takes a "
                             f"block allocated without __GFP_COMP")
        if self.mem_map[pfn]._refcount <= 0:
            raise ValueError(f"split_page({pfn:#x}): the page is free")
        for i in range(pfn + 1, pfn + (1ULL << order)):
            self.mem_map[i]._refcount = 1
        if self.mem_map[pfn].memcg_data and self.memcg.split_page_memcg != NULL:
            self.memcg.split_page_memcg(self.memcg.ctx, pfn, order)
        return 0

    # -- Python API -------------------------------------------------------------------------
    def split(self, pfn_t pfn, unsigned int order):
        """split_page() of a block allocated without __GFP_COMP."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the end of memory")
        self.split_page(pfn, order)

    def alloc_pages_exact(self, uint64_t size, gfp_t gfp=0xcc0):
        """alloc_pages_exact(): a block of get_order(size) (without __GFP_COMP), split, and the
        pages past PAGE_ALIGN(size) freed (make_alloc_exact); the first pfn, or None."""
        cdef unsigned int order = 0
        cdef uint64_t used = (size + PAGE_SIZE - 1) // PAGE_SIZE, i
        cdef pfn_t pfn
        if size == 0:
            raise ValueError("alloc_pages_exact() of 0 bytes")
        while (1ULL << order) < used:
            order += 1
        pfn = self.alloc_pages(gfp & ~GFP_COMP_, order, -1)
        if pfn == NO_PFN:
            return None
        self.split_page(pfn, order)
        for i in range(used, 1ULL << order):
            self.free_pages(pfn + i, 0)
        return pfn

    def free_pages_exact(self, pfn_t pfn, uint64_t size):
        """free_pages_exact(): every page of an alloc_pages_exact() block (free_page each)."""
        cdef uint64_t used = (size + PAGE_SIZE - 1) // PAGE_SIZE, i
        for i in range(used):
            self.free_pages(pfn + i, 0)

    def alloc(self, unsigned int order=0, gfp_t gfp=0xcc0, int nid=-1):
        """alloc_pages_node(): the pfn of a new block, or None when the allocation fails."""
        cdef pfn_t pfn = self.alloc_pages(gfp, order, nid)
        return None if pfn == NO_PFN else pfn

    def put(self, pfn_t pfn):
        """put_page(): drop one reference (a tail's goes to its head); the last one frees the
        page or runs its compound destructor."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the end of memory")
        if compound_refcount(self, pfn) <= 0:
            raise ValueError(f"pfn {pfn:#x} has no reference to drop")
        self.put_page(pfn)

    def get(self, pfn_t pfn):
        """get_page(): one more reference to an in-use page (a tail's goes to its head), as
        isolate_huge_page() or a pin takes one."""
        cdef pfn_t head
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the end of memory")
        if compound_refcount(self, pfn) <= 0:
            raise ValueError(f"pfn {pfn:#x} is free: get_page() needs a reference to add to")
        head = self.mem_map[pfn].compound_head if self.mem_map[pfn].flags & (1ULL << PG_tail) else pfn
        self.mem_map[head]._refcount += 1

    def free(self, pfn_t pfn, unsigned int order=0):
        """__free_pages()."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the end of memory")
        if self.mem_map[pfn].flags & ((1ULL << PG_buddy) | (1ULL << PG_pcp)):
            raise ValueError(f"pfn {pfn:#x} is already free")
        self.free_pages(pfn, order)

    def set_current(self, int cpu, int pid):
        self.cur.cpu = cpu
        self.cur.pid = pid

    def node_of_cpu(self, int cpu):
        return self.cpu_node[cpu]

    def node_range(self, int nid):
        return (self.node_start[nid], self.node_end[nid])

    def zones_info(self):
        """One dict per populated zone: node, name, span, managed, free, watermarks, pcp."""
        out = []
        cdef int i, c
        cdef zone* z
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            z = &self.zones[i]
            if z.managed_pages == 0:
                continue
            out.append(dict(
                node=z.nid, zone=ZONE_NAMES[z.idx], start_pfn=z.zone_start_pfn,
                end_pfn=z.zone_end_pfn, managed=z.managed_pages, free=z.free_pages,
                used=z.used_pages, min=z.wmark[0], low=z.wmark[1], high=z.wmark[2],
                nr_free=[z.area[o].nr_free for o in range(MAX_ORDER)],
                pcp=[dict(count=z.pcp[c].count, high=z.pcp[c].high, batch=z.pcp[c].batch)
                     for c in range(self.ncpus)],
                lowmem_reserve=[z.lowmem_reserve[j] for j in range(MAX_NR_ZONES)],
                nr_isolate_pageblock=z.nr_isolate_pageblock,
            ))
        return out

    def buddyinfo(self):
        """/proc/buddyinfo text (frag_show_print: "Node %d, zone %8s " then "%6lu " per order;
        the zone name right-aligned as C's printf does it, which Cython's compiled ``%8s`` does
        not: it pads on the right)."""
        lines = []
        for zi in self.zones_info():
            lines.append(f"Node {zi['node']}, zone {zi['zone']:>8} " +
                         "".join(f"{n:6d} " for n in zi["nr_free"]))
        return "\n".join(lines) + "\n"

    def free_list_counts(self, int nid, int zid, int min_order=0):
        """The blocks on each free list of a zone, as pagetypeinfo_showfree_print() counts them:
        ``counts[migratetype][order]`` (the lists below ``min_order`` are not walked and count
        0).  A max-order block whose struct pages memsim has not set up yet (deferred init)
        counts on the list of its pageblock's migratetype, where the kernel's
        deferred_init_memmap has put it by the time userspace runs."""
        cdef zone* z = &self.zones[self._zone_index(nid, zid)]
        cdef int o, m
        cdef uint32_t pfn, first
        cdef uint64_t unit
        counts = [[0] * MAX_ORDER for _ in range(MIGRATE_TYPES)]
        for o in range(max(0, min_order), MAX_ORDER):
            for m in range(MIGRATE_TYPES):
                first = z.area[o].head[m]
                pfn = first
                while pfn != NIL32:
                    counts[m][o] += 1
                    pfn = self.mem_map[pfn].lru_next
                    if pfn == first:
                        break
        if z.deferred_units:
            for unit in range((z.zone_start_pfn + UNIT_PAGES - 1) >> UNIT_ORDER, z.zone_end_pfn >> UNIT_ORDER):
                if not self.unit_ready[unit]:
                    counts[self.pageblock_mt[(unit << UNIT_ORDER) >> PAGEBLOCK_ORDER]][UNIT_ORDER] += 1
        return counts

    def pageblock_counts(self, int nid, int zid):
        """The pageblocks of a zone per migratetype, as pagetypeinfo_showblockcount_print()
        counts them: ``counts[migratetype]``."""
        cdef zone* z = &self.zones[self._zone_index(nid, zid)]
        cdef pfn_t pfn = z.zone_start_pfn
        counts = [0] * MIGRATE_TYPES
        while pfn < z.zone_end_pfn:
            counts[self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]] += 1
            pfn += 1ULL << PAGEBLOCK_ORDER
        return counts

    def _zone_index(self, int nid, int zid):
        if not 0 <= nid < self.nr_nodes or not 0 <= zid < MAX_NR_ZONES:
            raise ValueError(f"no zone {zid} on node {nid}")
        return nid * MAX_NR_ZONES + zid

    def free_counts(self, int nid, str zone_name):
        """Free blocks per order of one zone (a row of /proc/buddyinfo)."""
        for zi in self.zones_info():
            if zi["node"] == nid and zi["zone"] == zone_name:
                return zi["nr_free"]
        raise KeyError(f"no zone {zone_name} on node {nid}")

    def nr_free_pages(self):
        """NR_FREE_PAGES over all zones (pages in the buddy allocator)."""
        cdef uint64_t total = 0
        cdef int i
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            total += self.zones[i].free_pages
        return total

    def nr_pcp_pages(self):
        cdef uint64_t total = 0
        cdef int i, c
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            if self.zones[i].pcp != NULL:
                for c in range(self.ncpus):
                    total += self.zones[i].pcp[c].count
        return total

    def node_stats(self):
        """Pages allocated and freed per node since boot."""
        return [dict(node=n, allocated=self.node_alloc_pages[n], freed=self.node_free_pages_cnt[n])
                for n in range(self.nr_nodes)]

    @property
    def min_free_kbytes(self):
        return self._min_free_kbytes

    def page_info(self, pfn_t pfn):
        """The struct page of ``pfn`` as a dict (for tests and debugging)."""
        if pfn >= self.max_pfn:
            raise ValueError(f"pfn {pfn:#x} is beyond the end of memory")
        cdef page* p = &self.mem_map[pfn]
        return dict(flags=p.flags & ((1ULL << PG_NODE_SHIFT) - 1), refcount=p._refcount,
                    mapcount=p._mapcount, mapping=p.mapping, index=p.index, private=p.private,
                    memcg_data=p.memcg_data, compound_head=p.compound_head,
                    compound_order=p.compound_order, kasan_tag=p.kasan_tag ^ 0xff,
                    buddy=bool(p.flags & (1ULL << PG_buddy)), pcp=bool(p.flags & (1ULL << PG_pcp)),
                    node=self.page_to_nid(pfn), zone=ZONE_NAMES[self.page_zone(pfn).idx])

    def set_page_memcg_data(self, pfn_t pfn, uint64_t value):
        self.mem_map[pfn].memcg_data = value

    @staticmethod
    def sizeof_page():
        return sizeof(page)

    # -- pageblocks and isolation -----------------------------------------------------------
    def get_pageblock_migratetype(self, pfn_t pfn):
        return self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]

    def set_pageblock_migratetype(self, pfn_t pfn, int mt):
        """set_pageblock_migratetype() plus move_freepages_block() of the free pages in it."""
        cdef pfn_t start = (pfn >> PAGEBLOCK_ORDER) << PAGEBLOCK_ORDER
        self._ready_range(start, start + (1ULL << PAGEBLOCK_ORDER))
        self.pageblock_mt[pfn >> PAGEBLOCK_ORDER] = mt
        self._move_freepages(self.page_zone(start), start, start + (1ULL << PAGEBLOCK_ORDER), mt)

    def start_isolate_page_range(self, pfn_t start_pfn, pfn_t end_pfn):
        """start_isolate_page_range(): mark every pageblock MIGRATE_ISOLATE.

        Returns the previous migratetypes (for undo).  Fails with EBUSY (returns None, nothing
        changed) if a pageblock is UNMOVABLE or RECLAIMABLE and holds allocated pages
        (has_unmovable_pages()).
        """
        cdef pfn_t pb, pfn
        cdef zone* z
        start = (start_pfn >> PAGEBLOCK_ORDER) << PAGEBLOCK_ORDER
        end = ((end_pfn + (1ULL << PAGEBLOCK_ORDER) - 1) >> PAGEBLOCK_ORDER) << PAGEBLOCK_ORDER
        if end > self.max_pfn or start >= end:
            raise ValueError(f"start_isolate_page_range: [{start_pfn:#x}, {end_pfn:#x}) (pageblocks "
                             f"[{start:#x}, {end:#x})) is not a range of memory (max_pfn "
                             f"{self.max_pfn:#x})")
        self._ready_range(start, end)
        for pb in range(start >> PAGEBLOCK_ORDER, end >> PAGEBLOCK_ORDER):
            mt = self.pageblock_mt[pb]
            if mt == MIGRATE_ISOLATE:
                return None
            if mt != MIGRATE_MOVABLE and mt != MIGRATE_CMA and self._block_has_allocated(pb << PAGEBLOCK_ORDER):
                return None
        old = []
        for pb in range(start >> PAGEBLOCK_ORDER, end >> PAGEBLOCK_ORDER):
            mt = self.pageblock_mt[pb]
            old.append(mt)
            z = self.page_zone(pb << PAGEBLOCK_ORDER)
            self.pageblock_mt[pb] = MIGRATE_ISOLATE
            z.nr_isolate_pageblock += 1
            moved = self._move_freepages(z, pb << PAGEBLOCK_ORDER, (pb + 1) << PAGEBLOCK_ORDER, MIGRATE_ISOLATE)
            __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, -moved, mt)
        self.drain_all_pages()
        return old

    def undo_isolate_page_range(self, pfn_t start_pfn, pfn_t end_pfn, old_types):
        """undo_isolate_page_range(): give the pageblocks back their migratetypes."""
        cdef pfn_t pb
        cdef zone* z
        start = (start_pfn >> PAGEBLOCK_ORDER) << PAGEBLOCK_ORDER
        for i, mt in enumerate(old_types):
            pb = (start >> PAGEBLOCK_ORDER) + i
            if self.pageblock_mt[pb] != MIGRATE_ISOLATE:
                continue
            z = self.page_zone(pb << PAGEBLOCK_ORDER)
            self.pageblock_mt[pb] = mt
            z.nr_isolate_pageblock -= 1
            moved = self._move_freepages(z, pb << PAGEBLOCK_ORDER, (pb + 1) << PAGEBLOCK_ORDER, mt)
            __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, moved, mt)
            # free pages may now merge across the former boundary
            self._remerge(z, pb << PAGEBLOCK_ORDER, (pb + 1) << PAGEBLOCK_ORDER)

    cdef _remerge(self, zone* z, pfn_t start, pfn_t end):
        cdef pfn_t pfn = start
        cdef page* p
        cdef unsigned int order
        while pfn < end:
            p = &self.mem_map[pfn]
            if p.flags & (1ULL << PG_buddy):
                order = <unsigned int>p.private
                self.list_del(&z.area[order].head[p.index], pfn)
                z.area[order].nr_free -= 1
                p.flags &= ~(1ULL << PG_buddy)
                self.free_one_page(z, pfn, order, self.pageblock_mt[pfn >> PAGEBLOCK_ORDER])
                pfn += 1ULL << order
            else:
                pfn += 1

    cdef bint _block_has_allocated(self, pfn_t start):
        cdef pfn_t pfn = start
        cdef page* p
        while pfn < start + (1ULL << PAGEBLOCK_ORDER):
            p = &self.mem_map[pfn]
            if p.flags & (1ULL << PG_buddy):
                pfn += 1ULL << p.private
            elif p.flags & (1ULL << PG_pcp):
                pfn += 1
            else:
                return True
        return False

    def test_pages_isolated(self, pfn_t start_pfn, pfn_t end_pfn):
        """test_pages_isolated(): 0 if every page in the range is free in buddy, else -EBUSY."""
        cdef pfn_t pfn = start_pfn
        cdef page* p
        while pfn < end_pfn:
            if self.pageblock_mt[pfn >> PAGEBLOCK_ORDER] != MIGRATE_ISOLATE:
                return -16
            p = &self.mem_map[pfn]
            if p.flags & (1ULL << PG_buddy):
                pfn += 1ULL << p.private
            else:
                return -16
        return 0

    def isolate_freepages_range(self, pfn_t start_pfn, pfn_t end_pfn):
        """isolate_freepages_range(): take every free block in an isolated range out of buddy.

        The pages come back as order-0 allocated pages (refcount 1), like split_free_page;
        returns the number of pages taken.  The range must pass test_pages_isolated().
        """
        cdef pfn_t pfn = start_pfn, i, block_end, stop
        cdef page* p
        cdef unsigned int order
        cdef zone* z
        if self.test_pages_isolated(start_pfn, end_pfn) != 0:
            raise ValueError("range is not isolated and free")
        cdef uint64_t taken = 0
        while pfn < end_pfn:
            p = &self.mem_map[pfn]
            order = <unsigned int>p.private
            z = self.page_zone(pfn)
            self.list_del(&z.area[order].head[p.index], pfn)
            z.area[order].nr_free -= 1
            z.free_pages -= 1ULL << order
            z.used_pages += 1ULL << order
            block_end = pfn + (1ULL << order)
            stop = min(block_end, end_pfn)
            for i in range(pfn, stop):
                self.mem_map[i].flags = p.flags & (0xffffULL << PG_NODE_SHIFT)
                self.mem_map[i]._refcount = 1
                self.mem_map[i].private = 0
            taken += stop - pfn
            if stop < block_end:
                # split_free_page(): the part beyond the range goes back to buddy
                z.free_pages += (1ULL << order) - (stop - pfn)
                z.used_pages -= (1ULL << order) - (stop - pfn)
                self._refree(z, stop, block_end)
            pfn = block_end
        return taken

    cdef _refree(self, zone* z, pfn_t start, pfn_t end):
        cdef pfn_t pfn = start
        cdef unsigned int order
        cdef int mt
        while pfn < end:
            order = MAX_ORDER - 1
            while order > 0 and ((pfn & ((1ULL << order) - 1)) != 0 or pfn + (1ULL << order) > end):
                order -= 1
            self.mem_map[pfn].flags = (<uint64_t>z.nid << PG_NODE_SHIFT) | (<uint64_t>z.idx << PG_ZONE_SHIFT)
            mt = self.pageblock_mt[pfn >> PAGEBLOCK_ORDER]
            self.free_one_page(z, pfn, order, mt)
            if mt != MIGRATE_ISOLATE:       # left an isolated block: NR_FREE_PAGES again
                __mod_zone_freepage_state(self.vs, z.nid * MAX_NR_ZONES + z.idx, 1 << order, mt)
            pfn += 1ULL << order

    # -- contiguous ranges and gigantic pages (mm/page_alloc.c, mm/hugetlb.c) -----------------
    cdef int _alloc_contig_migrate_range(self, contig_scan* st) except? -1000000:
        """__alloc_contig_migrate_range() (mm/page_alloc.c): move what is in use out of
        [st.pfn, st.end).  Isolate a batch (isolate_migratepages_range: up to COMPACT_CLUSTER_MAX
        pages), migrate_pages() it with MIGRATE_SYNC and MR_CONTIG_RANGE, and again while pages
        stay on the list: the fifth try without progress gives -EBUSY (the rest of the range is
        not scanned).  -ENOMEM (isolating or migrating) stops at once; what is still isolated is
        put back (putback_movable_pages).  -EAGAIN: the hugetlb plugin met a free in flight at
        st.pfn; nothing is put back, and the caller reschedules and calls again with ``st``
        (isolate_or_dissolve_huge_page's cond_resched; goto retry).  Returns 0, -EBUSY, -ENOMEM
        or -EAGAIN."""
        cdef int ret = 0
        if not st.started:
            self.lru_add_drain_all()        # lru_cache_disable()
            st.started = True
        while st.pfn < st.end or st.n > 0:
            if st.n == 0 or st.isolating:
                if not st.isolating:
                    st.nr = 0
                    st.isolating = True
                ret = self._isolate_migratepages_range(st)
                if ret == -11:
                    return ret
                st.isolating = False
                if ret:
                    break
                st.tries = 0
            else:
                st.tries += 1
                if st.tries == 5:
                    ret = -16
                    break
            ret = self.migrate_pages(st.lst, &st.n, MIGRATE_SYNC, MR_CONTIG_RANGE)
            if ret == -12:
                break
        if ret < 0:
            self.putback_movable_pages(st.lst, st.n)
            st.n = 0
            return ret
        return 0

    cdef int _isolate_migratepages_range(self, contig_scan* st) except? -1000000:
        """isolate_migratepages_range() in alloc_contig mode (mm/compaction.c
        isolate_migratepages_block): scan from ``st.pfn`` and put on ``st.lst`` what migrate_pages
        can move, until COMPACT_CLUSTER_MAX pages are isolated (a huge page counts all its
        pages) or ``end``.  A hugetlb page goes to the plugin's isolate_or_dissolve_huge_page:
        still hugetlb after 0 = isolated (listed), no longer hugetlb = dissolved (its free pages
        are scanned on), -EBUSY = skipped, -ENOMEM = stop (returned).  Without a hugetlb plugin
        a hugetlb page is skipped, as the scanner did before isolate_or_dissolve_huge_page
        (v5.14's 369fa227): test_pages_isolated then refuses the range.  An in-use base page is
        isolated if the mm core's migrate.isolate_page says so (on an LRU list, or cached by a
        mapping whose ->migratepage can move it; the isolate_lru_page is the migration's own); other compound
        pages (THP, large page-cache folios) are not: memsim migrates no large folio, so they
        are skipped and the range ends -EBUSY.  ``st.pfn`` is where the next scan starts; the
        batch grows in ``st.lst``/``st.n``/``st.nr``.  -EAGAIN from the plugin (a free in flight)
        returns at once with ``st.pfn`` on that page, to be retried."""
        cdef pfn_t p_ = st.pfn, head, end = st.end
        cdef pfn_t* lst = st.lst
        cdef int* n = &st.n
        cdef page* p
        cdef page* hp
        cdef int r
        while p_ < end:
            p = &self.mem_map[p_]
            if p.flags & (1ULL << PG_buddy):
                p_ += 1ULL << p.private
                continue
            head = p.compound_head if p.flags & (1ULL << PG_tail) else p_
            hp = &self.mem_map[head]
            if hp.flags & (1ULL << PG_hugetlb):
                if self.hugetlb.isolate_or_dissolve_huge_page == NULL:
                    p_ = head + (1ULL << hp.compound_order)
                    continue
                r = self.hugetlb.isolate_or_dissolve_huge_page(self.hugetlb.ctx, head)
                if r == -11:
                    st.pfn = head
                    return r
                if r < 0:
                    p_ = head + (1ULL << hp.compound_order)
                    if r == -12:
                        st.pfn = p_
                        return r
                    continue
                if hp.flags & (1ULL << PG_hugetlb):
                    lst[n[0]] = head
                    n[0] += 1
                    st.nr += 1ULL << hp.compound_order
                    p_ = head + (1ULL << hp.compound_order)
                    if st.nr >= COMPACT_CLUSTER_MAX:
                        break
                continue                # dissolved: the scan goes on over its free pages
            if p.flags & ((1ULL << PG_head) | (1ULL << PG_tail)):
                p_ = head + (1ULL << hp.compound_order)
                continue
            if (p._refcount > 0 and self.migrate.migrate_page != NULL and self.migrate.isolate_page != NULL
                    and not (p.flags & (1ULL << PG_reserved))
                    and self.migrate.isolate_page(self.migrate.ctx, p_) > 0):
                lst[n[0]] = p_
                n[0] += 1
                st.nr += 1
                p_ += 1
                if st.nr >= COMPACT_CLUSTER_MAX:
                    break
                continue
            p_ += 1
        st.pfn = p_
        return 0

    cdef int migrate_pages(self, pfn_t* lst, int* n, int mode, int reason) except? -1000000:
        """migrate_pages() (mm/migrate.c) of the ``n[0]`` isolated pages of ``lst``: up to 10
        passes while some say -EAGAIN, each page through unmap_and_move (the mm core's
        migrate.migrate_page) or, a hugetlb head, unmap_and_move_huge_page (the plugin's
        migrate_huge_page).  Moved pages leave the list; failed ones stay for the caller.
        -ENOMEM stops at once.  Counts pgmigrate_success / pgmigrate_fail and traces
        migrate:mm_migrate_pages (v6.18 first migrate:mm_migrate_pages_start), once per call,
        an empty list too.  A hugetlb page counts 1 on v5.14 (nr_succeeded++), its number of
        pages on v6.18 (migrate_hugetlbs: stats->nr_succeeded += nr_pages); memsim moves no THP
        (the nr_thp_* fields are 0).  Returns the number not moved (v5.14: nr_failed; v6.18:
        nr_failed + nr_thp_failed, the same here) or -ENOMEM."""
        cdef uint64_t vals[8]
        cdef uint64_t succeeded = 0, failed = 0, retry = 1, retry_pages = 0, units
        cdef int npass, i, j, r, nr_failed = 0
        cdef bint huge, enomem = False
        cdef page* hp
        cdef uint8_t state[COMPACT_CLUSTER_MAX + 1]     # 0 = to try, 1 = moved, 2 = failed for good
        if self.tb.core[EV_MM_MIGRATE_PAGES_START].enabled:
            vals[0] = <uint64_t>mode; vals[1] = <uint64_t>reason
            self.tb.emit(EV_MM_MIGRATE_PAGES_START, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        for i in range(n[0]):
            state[i] = 0
        npass = 0
        while npass < 10 and retry:
            retry = 0
            retry_pages = 0
            for i in range(n[0]):
                if state[i]:
                    continue
                hp = &self.mem_map[lst[i]]
                huge = (hp.flags & (1ULL << PG_hugetlb)) != 0
                units = (1ULL << hp.compound_order) if (huge and self.migrate_stats_in_pages) else 1
                if huge:
                    r = (self.hugetlb.migrate_huge_page(self.hugetlb.ctx, lst[i])
                         if self.hugetlb.migrate_huge_page != NULL else -38)
                else:
                    r = (self.migrate.migrate_page(self.migrate.ctx, lst[i])
                         if self.migrate.migrate_page != NULL else -38)
                if r == 0:
                    succeeded += units
                    state[i] = 1
                elif r == -11:
                    retry += 1
                    retry_pages += units
                elif r == -12:
                    failed += units
                    nr_failed += 1
                    enomem = True
                    break
                else:
                    failed += units
                    nr_failed += 1
                    state[i] = 2
            if enomem:
                break
            npass += 1
        if not enomem:
            nr_failed += retry
            failed += retry_pages if self.migrate_stats_in_pages else retry
        j = 0
        for i in range(n[0]):                   # list_splice(&ret_pages, from): the failed stay
            if state[i] != 1:
                lst[j] = lst[i]
                j += 1
        n[0] = j
        __count_vm_events(self.vs, PGMIGRATE_SUCCESS, succeeded)
        __count_vm_events(self.vs, PGMIGRATE_FAIL, failed)
        if self.tb.core[EV_MM_MIGRATE_PAGES].enabled:
            vals[0] = succeeded; vals[1] = failed
            vals[2] = 0; vals[3] = 0; vals[4] = 0; vals[5] = 0
            vals[6] = <uint64_t>mode; vals[7] = <uint64_t>reason
            self.tb.emit(EV_MM_MIGRATE_PAGES, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        return -12 if enomem else nr_failed

    cdef int putback_movable_pages(self, pfn_t* lst, int n) except -1:
        """putback_movable_pages(): what is still isolated goes back.  A hugetlb page through the
        plugin's putback_active_hugepage; a base page was never taken off its LRU list (the
        migration isolates it itself), so nothing is left to do for it."""
        cdef int i
        for i in range(n):
            if (self.mem_map[lst[i]].flags & (1ULL << PG_hugetlb)) and self.hugetlb.putback_active_hugepage != NULL:
                self.hugetlb.putback_active_hugepage(self.hugetlb.ctx, lst[i])
        return 0

    def migrate_pages_py(self, pfns, int reason=MR_CONTIG_RANGE, int mode=MIGRATE_SYNC):
        """migrate_pages() from Python over a list of isolated pages (heads of hugetlb pages,
        base pages on an LRU list; at most COMPACT_CLUSTER_MAX): (the return value, the pfns
        left on the list).  The caller puts the left ones back (putback_movable_pages_py)."""
        cdef pfn_t lst[COMPACT_CLUSTER_MAX + 1]
        cdef int n = len(pfns), i, r
        if n > COMPACT_CLUSTER_MAX:
            raise ValueError(f"migrate_pages_py: {n} pages; at most {COMPACT_CLUSTER_MAX} a call")
        for i in range(n):
            if not 0 <= pfns[i] < self.max_pfn:
                raise ValueError(f"migrate_pages_py: pfn {pfns[i]:#x} is outside memory")
            lst[i] = pfns[i]
        r = self.migrate_pages(lst, &n, mode, reason)
        return r, [lst[i] for i in range(n)]

    def putback_movable_pages_py(self, pfns):
        """putback_movable_pages() from Python (see migrate_pages_py)."""
        cdef pfn_t lst[COMPACT_CLUSTER_MAX + 1]
        cdef int n = len(pfns), i
        if n > COMPACT_CLUSTER_MAX:
            raise ValueError(f"putback_movable_pages_py: {n} pages; at most {COMPACT_CLUSTER_MAX}")
        for i in range(n):
            lst[i] = pfns[i]
        self.putback_movable_pages(lst, n)

    def alloc_contig_range_gen(self, pfn_t start, pfn_t end, int migratetype=MIGRATE_MOVABLE,
                               gfp_t gfp=0xcc0):
        """alloc_contig_range(): make [start, end) free and take it; a generator for a task,
        which yields :data:`memsim.sched.PREEMPT` where the kernel calls cond_resched() to wait
        for a hugetlb free in flight (see _alloc_contig_migrate_range), and returns the result.

        Isolates the max-order aligned pageblocks around the range (EBUSY if one holds
        unmovable pages), drains the per-CPU lists, migrates or dissolves what is in use,
        checks that every page is free (EBUSY otherwise), takes the pages (order-0, refcount 1)
        and gives back the excess of a free block that started before ``start``; the pageblocks
        get their migratetype back.  Returns 0 or a negative errno (-EBUSY, -ENOMEM)."""
        cdef pfn_t a_start = (start >> UNIT_ORDER) << UNIT_ORDER
        cdef pfn_t a_end = ((end + UNIT_PAGES - 1) >> UNIT_ORDER) << UNIT_ORDER
        cdef pfn_t outer_start
        cdef unsigned int order
        cdef contig_scan st
        cdef pfn_t pfn, head
        cdef int r
        from memsim.sched import PREEMPT
        if start >= end or end > self.max_pfn:
            raise ValueError(f"alloc_contig_range: [{start:#x}, {end:#x}) is not a range of memory")
        if self.page_zone(start) != self.page_zone(end - 1):
            return -22          # "The below functions must be run on a range from a single zone"
        old = self.start_isolate_page_range(a_start, a_end)
        if old is None:
            return -16
        try:
            st.pfn = start
            st.end = end
            st.n = 0
            st.tries = 0
            st.nr = 0
            st.started = False
            st.isolating = False
            while True:
                ret = self._alloc_contig_migrate_range(&st)
                if ret != -11:
                    break
                yield PREEMPT
            if ret and ret != -16:
                return ret
            if self.contig_replace_free_hugetlb and self.hugetlb.isolate_or_dissolve_huge_page != NULL:
                # replace_free_hugepage_folios(): in-use huge pages migrated out of the range may
                # have gone back to the free pool (still inside it): replace those too
                pfn = start
                while pfn < end:
                    head = self.mem_map[pfn].compound_head if self.mem_map[pfn].flags & (1ULL << PG_tail) else pfn
                    if (self.mem_map[head].flags & (1ULL << PG_hugetlb)) and self.mem_map[head]._refcount == 0:
                        r = self.hugetlb.isolate_or_dissolve_huge_page(self.hugetlb.ctx, head)
                        if r == -11:
                            yield PREEMPT
                            continue
                        if r:
                            return r
                    pfn += 1
            # the free block holding ``start`` may begin before it
            order = 0
            outer_start = start
            while not (self.mem_map[outer_start].flags & (1ULL << PG_buddy)):
                order += 1
                if order >= MAX_ORDER:
                    outer_start = start
                    break
                outer_start &= ~((1ULL << order) - 1)
            if outer_start != start:
                order = <unsigned int>self.mem_map[outer_start].private
                if outer_start + (1ULL << order) <= start:
                    outer_start = start
            if self.test_pages_isolated(outer_start, end) != 0:
                return -16
            self.isolate_freepages_range(outer_start, end)
            if start != outer_start:
                self.free_contig_range(outer_start, start - outer_start)
            return 0
        finally:
            self.undo_isolate_page_range(a_start, a_end, old)

    def alloc_contig_range(self, pfn_t start, pfn_t end, int migratetype=MIGRATE_MOVABLE,
                           gfp_t gfp=0xcc0):
        """alloc_contig_range() outside a task's step (alloc_contig_pages, tests): the same, run
        to the end.  A hugetlb free in flight can only complete when its task runs again, which
        cannot happen here: that is an error, not a hang."""
        gen = self.alloc_contig_range_gen(start, end, migratetype, gfp)
        try:
            for _ in range(100000):
                next(gen)
        except StopIteration as stop:
            return stop.value
        gen.close()
        raise RuntimeError(f"alloc_contig_range [{start:#x}, {end:#x}): a hugetlb page's free never "
                           "completed (its task works were never run)")

    def alloc_contig_pages(self, uint64_t nr_pages, gfp_t gfp=0xcc0, int nid=-1, nodes=None):
        """alloc_contig_pages(): the first naturally aligned run of ``nr_pages`` in a zone of
        ``nid``'s zonelist (then the other allowed nodes) that alloc_contig_range can take;
        the pfn, or None.  ``nodes`` restricts the nodes (a nodemask as a set of node ids)."""
        cdef int i, n, zi
        cdef zone* z
        cdef pfn_t pfn
        cdef uint64_t align = 1
        while align < nr_pages:
            align <<= 1
        if nid < 0:
            nid = self.cpu_node[self.cur.cpu]
        for i in range(self.nr_nodes):
            n = (nid + i) % self.nr_nodes
            if nodes is not None and n not in nodes:
                continue
            if (gfp & GFP_THISNODE_) and n != nid:
                continue
            zi = gfp_zone(gfp)
            while zi >= 0:
                z = &self.zones[n * MAX_NR_ZONES + zi]
                zi -= 1
                if z.managed_pages == 0:
                    continue
                pfn = (z.zone_start_pfn + align - 1) & ~(align - 1)
                while pfn + nr_pages <= z.zone_end_pfn:
                    if self._pfn_range_valid_contig(pfn, nr_pages):
                        if self.alloc_contig_range(pfn, pfn + nr_pages, MIGRATE_MOVABLE, gfp) == 0:
                            return pfn
                    pfn += align
        return None

    cdef bint _pfn_range_valid_contig(self, pfn_t start, uint64_t nr) noexcept:
        """pfn_range_valid_contig() (mm/page_alloc.c): no reserved page in the range (v5.14:
        online, same zone, !PageReserved, since eb14d4eefdc4 dropped the PageHuge and refcount
        checks; memsim's ranges are always online and inside the zone alloc_contig_pages scans);
        v6.4+ (``contig_skip_hugetlb``, "mm: page_alloc: skip regions with hugetlbfs pages when
        allocating 1G pages") also no PageHuge page.  A THP or large folio never makes a range
        invalid: alloc_contig_range tries it."""
        cdef pfn_t pfn = start
        cdef page* p
        cdef pfn_t head
        self._ready_range(start, start + nr)
        while pfn < start + nr:
            p = &self.mem_map[pfn]
            if p.flags & (1ULL << PG_buddy):
                pfn += 1ULL << p.private
                continue
            if p.flags & (1ULL << PG_reserved):
                return False
            if self.contig_skip_hugetlb and p.flags & ((1ULL << PG_head) | (1ULL << PG_tail)):
                head = p.compound_head if p.flags & (1ULL << PG_tail) else pfn
                if self.mem_map[head].flags & (1ULL << PG_hugetlb):
                    return False
            pfn += 1
        return True

    def pfn_range_valid_contig(self, pfn_t start, uint64_t nr_pages):
        """pfn_range_valid_contig() from Python (tests): may alloc_contig_pages try the range?"""
        if start + nr_pages > self.max_pfn:
            raise ValueError(f"pfn_range_valid_contig: [{start:#x}, {start + nr_pages:#x}) is not a range of memory")
        return self._pfn_range_valid_contig(start, nr_pages)

    def free_contig_range(self, pfn_t pfn, uint64_t nr_pages):
        """free_contig_range() (v5.14): put every page of the range, one __free_page each."""
        cdef uint64_t i
        for i in range(nr_pages):
            self.put_page(pfn + i)

    def prep_compound_gigantic_page(self, pfn_t pfn, unsigned int order):
        """prep_compound_gigantic_page(): make the order-0 pages of a contiguous range (from
        alloc_contig_range) one compound page; the head keeps its reference."""
        cdef pfn_t i
        cdef page* p = &self.mem_map[pfn]
        p.flags |= 1ULL << PG_head
        p.compound_order = order
        for i in range(pfn + 1, pfn + (1ULL << order)):
            self.mem_map[i].flags |= 1ULL << PG_tail
            self.mem_map[i].compound_head = <uint32_t>pfn
            self.mem_map[i]._refcount = 0
            self.mem_map[i]._mapcount = 0
        self.mem_map[pfn + 1].lru_prev = 0          # the entire (compound) mapcount

    def destroy_compound_gigantic_page(self, pfn_t pfn, unsigned int order):
        """destroy_compound_gigantic_page(): back to order-0 pages, each with one reference
        (for free_contig_range)."""
        cdef pfn_t i
        cdef page* p = &self.mem_map[pfn]
        p.flags &= ~((1ULL << PG_head) | (1ULL << PG_hugetlb))
        p.compound_order = 0
        for i in range(pfn + 1, pfn + (1ULL << order)):
            self.mem_map[i].flags &= ~(1ULL << PG_tail)
            self.mem_map[i].compound_head = 0
            self.mem_map[i]._refcount = 1
            self.mem_map[i]._mapcount = 0

    def free_gigantic_page(self, pfn_t pfn, unsigned int order):
        """free_gigantic_page() of a compound page built from a contiguous range: v5.14 destroys
        the compound and frees every page (free_contig_range); v6.11+ (free_gigantic_as_folio)
        frees the folio as one block (__free_pages -> split_large_buddy)."""
        self.mem_map[pfn].flags &= ~(1ULL << PG_hugetlb)
        if self.free_gigantic_as_folio:
            self.mem_cgroup_uncharge(pfn)
            self.free_pages(pfn, order)
        else:
            self.destroy_compound_gigantic_page(pfn, order)
            self.free_contig_range(pfn, 1ULL << order)

    # -- invariants -------------------------------------------------------------------------
    def check_lru(self, bint changed_only=False, bint no_tasks=False):
        """The LRU's accounting (--check): each list's walk (the links consistent both ways,
        every page PG_lru and on the list its flags name, in use, on its lruvec's node and in
        the lruvec folio_lruvec names) counts what lruvec.nr_pages says, for the node's lruvec
        and each memcg's (``lru_ops.mem_cgroup_iter``); the node counters NR_INACTIVE_ANON..
        (with their per-CPU differentials) equal the sum of the node's lruvecs' sizes and the
        zone counters NR_ZONE_* sum to them; nothing is isolated (NR_ISOLATED_*); a page in a per-CPU batch (the mlock_fbatch too) holds a reference.  ``no_tasks``
        (every task has exited): no anonymous page is left on a list (but one only a v6.18
        mlock_fbatch holds, munlocked when it drains), nor held in a batch by anyone but the
        batch.  The lists are walked only when they changed since the last walk if
        ``changed_only``.  Returns a list of problems (empty = ok)."""
        problems = []
        cdef int nid, lru, c, k, i
        cdef lruvec* lv
        cdef uint32_t h, pfn, nxt
        cdef uint64_t n
        cdef int64_t mlocked = 0
        cdef page* p
        cdef lru_batch* b
        cdef bint walk = not changed_only or no_tasks or self.lru_changes != self.lru_changes_checked
        vs = self.vmstat
        self.lru_changes_checked = self.lru_changes
        mlock_held = {}                 # pfn -> references the mlock_fbatches hold
        for c in range(self.ncpus):
            b = &self.fbatches[c].mlock
            for i in range(b.nr):
                pfn = b.pfns[i] & ~(<uint32_t>(MLOCK_LRU_FOLIO | MLOCK_NEW_FOLIO))
                mlock_held[pfn] = mlock_held.get(pfn, 0) + 1
                if self.mem_map[pfn]._refcount < mlock_held[pfn]:
                    problems.append(f"cpu {c} mlock batch: pfn {pfn:#x} holds no reference")
        for nid in range(self.nr_nodes):
            for item, what in ((NR_ISOLATED_ANON, "anon"), (NR_ISOLATED_FILE, "file")):
                iso = vs.node_page_state_snapshot(nid, item)
                if iso != 0:    # reclaim and migration put back what they isolate before a check
                    problems.append(f"node {nid}: nr_isolated_{what} is {iso} outside reclaim")
            # every lruvec of the node: its own (the root memcg's), then each memcg's
            memcgs = [0]
            if self.lru_ops.mem_cgroup_iter != NULL:
                memcgs = []
                k = self.lru_ops.mem_cgroup_iter(self.lru_ops.ctx, 0, 0)
                while k:
                    memcgs.append(k)
                    k = self.lru_ops.mem_cgroup_iter(self.lru_ops.ctx, 0, k)
            total = [0] * NR_LRU_LISTS
            for memcgid in memcgs:
                lv = self.lru_ops.mem_cgroup_lruvec(self.lru_ops.ctx, memcgid, nid) \
                    if self.lru_ops.mem_cgroup_lruvec != NULL else &self.lruvecs[nid]
                if lv == NULL:
                    problems.append(f"node {nid}: memcg {memcgid} has no lruvec")
                    continue
                for lru in range(NR_LRU_LISTS):
                    total[lru] += lv.nr_pages[lru]
                    if sum(lv.zone_nr_pages[z * NR_LRU_LISTS + lru] for z in range(MAX_NR_ZONES)) != lv.nr_pages[lru]:
                        problems.append(f"node {nid} memcg {lv.memcg_id} {LRU_NAMES[lru]}: its zones' "
                                        f"lru_zone_size do not sum to {lv.nr_pages[lru]}")
                if walk:
                    mlocked += self._walk_lruvec(lv, problems, mlock_held, no_tasks)
            for lru in range(NR_LRU_LISTS):
                name = f"node {nid} {LRU_NAMES[lru]}"
                node = vs.node_page_state_snapshot(nid, NR_INACTIVE_ANON + lru)
                if node != <int64_t>total[lru]:
                    problems.append(f"{name}: nr_{LRU_NAMES[lru]} {node} != {total[lru]} pages on the list")
                zones = sum(vs.zone_page_state_snapshot(nid, z, NR_ZONE_INACTIVE_ANON + lru)
                            for z in range(MAX_NR_ZONES))
                if zones != node:
                    problems.append(f"{name}: nr_zone_{LRU_NAMES[lru]} of its zones {zones} != nr_{LRU_NAMES[lru]} {node}")
        if walk:
            for c in range(self.ncpus):
                for k in range(2):
                    b = &self.fbatches[c].lru_add if k == 0 else &self.fbatches[c].lru_activate
                    what = f"cpu {c} {'lru_add' if k == 0 else 'activate'} batch"
                    for i in range(b.nr):
                        p = &self.mem_map[b.pfns[i]]
                        if p._refcount <= 0:
                            problems.append(f"{what}: pfn {b.pfns[i]:#x} holds no reference")
                        if k == 0 and p.flags & (1ULL << PG_lru):
                            problems.append(f"{what}: pfn {b.pfns[i]:#x} is already on the LRU")
                        if no_tasks and p.mapping & PAGE_MAPPING_ANON and \
                                p._refcount > 1 + mlock_held.get(b.pfns[i], 0):
                            problems.append(f"{what}: anonymous pfn {b.pfns[i]:#x} is still referenced "
                                            "after every task exited")
        if walk:
            # NR_MLOCK counts every PG_mlocked page: those on the lists, plus those not on the
            # LRU yet (in an lru_add batch, or a v6.18 mlock_new() entry); reclaim and
            # migration put back what they isolate before a check
            for c in range(self.ncpus):
                b = &self.fbatches[c].lru_add
                for i in range(b.nr):
                    p = &self.mem_map[b.pfns[i]]
                    if p.flags & (1ULL << PG_mlocked) and not p.flags & (1ULL << PG_lru):
                        mlocked += folio_nr_pages(p)
                b = &self.fbatches[c].mlock
                for i in range(b.nr):
                    p = &self.mem_map[b.pfns[i] & ~(<uint32_t>(MLOCK_LRU_FOLIO | MLOCK_NEW_FOLIO))]
                    if b.pfns[i] & MLOCK_NEW_FOLIO and p.flags & (1ULL << PG_mlocked) \
                            and not p.flags & (1ULL << PG_lru):
                        mlocked += folio_nr_pages(p)
            nr_mlock = sum(vs.zone_page_state_snapshot(nid, z, NR_MLOCK)
                           for nid in range(self.nr_nodes) for z in range(MAX_NR_ZONES))
            if nr_mlock != mlocked:
                problems.append(f"nr_mlock {nr_mlock} != {mlocked} PG_mlocked pages on the LRU "
                                "lists and in the per-CPU batches")
        return problems

    cdef int64_t _walk_lruvec(self, lruvec* lv, list problems, dict mlock_held, bint no_tasks) except -1:
        """check_lru's walk of one lruvec's lists: the links both ways, each page PG_lru, on the
        list its flags name, in use, on the lruvec's node and in the lruvec folio_lruvec() names;
        returns the PG_mlocked pages seen."""
        cdef int lru
        cdef uint32_t h, pfn, nxt
        cdef uint64_t n
        cdef int64_t mlocked = 0
        cdef page* p
        cdef int nid = lv.nid
        for lru in range(NR_LRU_LISTS):
            name = f"node {nid} {LRU_NAMES[lru]}" if lv.memcg_id == 0 else \
                f"node {nid} memcg {lv.memcg_id} {LRU_NAMES[lru]}"
            n = 0
            h = lv.head[lru]
            pfn = h
            while pfn != NIL32:
                p = &self.mem_map[pfn]
                if n > lv.nr_pages[lru]:
                    problems.append(f"{name}: the list holds more pages than its {lv.nr_pages[lru]}")
                    break
                nxt = p.lru_next
                if nxt == NIL32 or self.mem_map[nxt].lru_prev != pfn:
                    problems.append(f"{name}: pfn {pfn:#x}: broken list links")
                    break
                if not (p.flags & (1ULL << PG_lru)) or folio_lru_list(p) != lru:
                    problems.append(f"{name}: pfn {pfn:#x} is on it but its flags say "
                                    f"{'not on the LRU' if not p.flags & (1ULL << PG_lru) else LRU_NAMES[folio_lru_list(p)]}")
                if p._refcount <= 0 or p.flags & ((1ULL << PG_buddy) | (1ULL << PG_pcp) | (1ULL << PG_tail)):
                    problems.append(f"{name}: pfn {pfn:#x} is on it but free or a tail page")
                if page_to_nid_flags(p) != nid:
                    problems.append(f"{name}: pfn {pfn:#x} belongs to node {page_to_nid_flags(p)}")
                if self.folio_lruvec(pfn) != lv:
                    problems.append(f"{name}: pfn {pfn:#x} is on it but its memcg's lruvec is another")
                if no_tasks and p.mapping & PAGE_MAPPING_ANON and not (
                        pfn in mlock_held and p._refcount == mlock_held[pfn]):
                    # (v6.18: a folio only the mlock_fbatch holds stays until it drains)
                    problems.append(f"{name}: anonymous pfn {pfn:#x} is left after every task exited")
                if p.flags & (1ULL << PG_mlocked):
                    mlocked += folio_nr_pages(p)
                n += folio_nr_pages(p)
                pfn = nxt
                if pfn == h:
                    break
            if n != lv.nr_pages[lru]:
                problems.append(f"{name}: {n} pages on the list, nr_pages says {lv.nr_pages[lru]}")
        return mlocked

    def check_invariants(self, bint changed_only=False):
        """Every zone: free + per-CPU + used == managed; list lengths match nr_free; free blocks
        are aligned, flagged PG_buddy with their order.  Returns a list of problems (empty = ok).

        ``changed_only`` (the --check after each slice): the free lists are walked only if a
        free or per-CPU list changed since the last walk; the counters are summed every time."""
        problems = []
        cdef int i, o, m, c
        cdef zone* z
        cdef uint64_t n, pages, pcp_pages
        cdef uint32_t pfn, first
        cdef bint walk = not changed_only or self.list_changes != self.list_changes_checked
        self.list_changes_checked = self.list_changes
        for i in range(self.nr_nodes * MAX_NR_ZONES):
            z = &self.zones[i]
            if z.managed_pages == 0:
                continue
            name = f"node {z.nid} zone {ZONE_NAMES[z.idx]}"
            pcp_pages = 0
            for c in range(self.ncpus):
                pcp_pages += z.pcp[c].count
            if z.free_pages + pcp_pages + z.used_pages != z.managed_pages:
                problems.append(f"{name}: free {z.free_pages} + per-cpu {pcp_pages} + used {z.used_pages} "
                                f"!= managed {z.managed_pages}")
            if not walk:
                continue
            pages = z.deferred_units << UNIT_ORDER
            for o in range(MAX_ORDER):
                n = z.deferred_units if o == UNIT_ORDER else 0
                for m in range(MIGRATE_TYPES):
                    first = z.area[o].head[m]
                    pfn = first
                    while pfn != NIL32:
                        if not (self.mem_map[pfn].flags & (1ULL << PG_buddy)) or self.mem_map[pfn].private != <uint64_t>o:
                            problems.append(f"{name}: pfn {pfn:#x} on the order-{o} free list is not a free order-{o} block")
                            break
                        if pfn & ((1u << o) - 1):
                            problems.append(f"{name}: free block {pfn:#x} is not aligned to order {o}")
                        n += 1
                        pages += 1ULL << o
                        pfn = self.mem_map[pfn].lru_next
                        if pfn == first:
                            break
                if n != z.area[o].nr_free:
                    problems.append(f"{name}: nr_free[{o}] is {z.area[o].nr_free} but the lists hold {n} blocks")
            if pages != z.free_pages:
                problems.append(f"{name}: NR_FREE_PAGES is {z.free_pages} but the free lists hold {pages} pages")
        return problems
