# cython: language_level=3
"""Physical memory: nodes, zones, the buddy allocator, per-CPU page lists, pageblocks, frames."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from memsim._types cimport pfn_t, gfp_t, MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, MAX_NR_ZONES
from memsim.page cimport page
from memsim.ring cimport TraceBuffer
from memsim.task cimport Current

cdef struct free_area:
    uint32_t head[MIGRATE_TYPES]        # first pfn of each free list, NIL32 if empty
    uint64_t nr_free                    # free blocks of this order, all migratetypes

cdef struct per_cpu_pages:
    int32_t count
    int32_t high
    int32_t batch
    uint32_t head[MIGRATE_PCPTYPES]

cdef struct zone:
    int32_t nid
    int32_t idx
    pfn_t zone_start_pfn
    pfn_t zone_end_pfn                  # exclusive
    uint64_t managed_pages
    uint64_t free_pages                 # NR_FREE_PAGES (buddy only, not the pcp lists)
    uint64_t wmark[3]                   # WMARK_MIN, WMARK_LOW, WMARK_HIGH
    uint64_t used_pages                 # pages handed out by the allocator and not freed
    uint64_t deferred_units             # free max-order blocks whose struct pages are not set up
    uint64_t deferred_cursor            # next unit index to look at for a deferred block
    uint64_t lowmem_reserve[MAX_NR_ZONES]
    uint64_t nr_isolate_pageblock
    free_area area[MAX_ORDER]
    per_cpu_pages* pcp                  # one per CPU

# Typed ops for subsystems that act on every user page allocation (memcg charging).
ctypedef int (*charge_fn)(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1
ctypedef void (*uncharge_fn)(void* ctx, pfn_t pfn, unsigned int order)

cdef struct page_alloc_ops:
    charge_fn charge
    uncharge_fn uncharge
    void* ctx

cdef class PhysMem:
    cdef page* mem_map
    cdef readonly pfn_t max_pfn
    cdef readonly int nr_nodes
    cdef readonly int ncpus
    cdef zone* zones                    # nr_nodes * MAX_NR_ZONES
    cdef uint8_t* pageblock_mt          # one migratetype per 2 MiB pageblock
    cdef uint8_t* unit_ready            # per max-order unit: struct pages set up (deferred init)
    cdef pfn_t* node_start
    cdef pfn_t* node_end
    cdef int32_t* cpu_node
    cdef uint64_t* node_alloc_pages     # pages allocated per node (statistics)
    cdef uint64_t* node_free_pages_cnt  # pages freed per node
    cdef readonly TraceBuffer tb
    cdef readonly Current cur
    cdef dict content                   # pfn -> bytearray(4096): written page contents
    cdef page_alloc_ops ops
    cdef public bint pcp_enabled
    cdef uint64_t _min_free_kbytes

    cdef inline page* pfn_to_page(self, pfn_t pfn) noexcept nogil:
        return &self.mem_map[pfn]
    cdef pfn_t alloc_pages(self, gfp_t gfp, unsigned int order, int nid) except? 0xfffffffffffffffe
    cdef int free_pages(self, pfn_t pfn, unsigned int order) except -1
    cdef int free_pages_prepare(self, pfn_t pfn, unsigned int order) except -1
    cdef int free_unref_page_commit(self, pfn_t pfn) except -1
    cdef int free_unref_page_list(self, pfn_t* pfns, int n) except -1
    cdef zone* page_zone(self, pfn_t pfn) noexcept nogil
    cdef int page_to_nid(self, pfn_t pfn) noexcept nogil
    cdef pfn_t get_page_from_freelist(self, gfp_t gfp, unsigned int order, int nid, int alloc_wmark) except? 0xfffffffffffffffe
    cdef pfn_t rmqueue(self, zone* z, unsigned int order, int mt) except? 0xfffffffffffffffe
    cdef pfn_t rmqueue_smallest(self, zone* z, unsigned int order, int mt) noexcept
    cdef pfn_t rmqueue_fallback(self, zone* z, unsigned int order, int mt) noexcept
    cdef int rmqueue_bulk(self, zone* z, per_cpu_pages* pcp, int count, int mt) except -1
    cdef int free_one_page(self, zone* z, pfn_t pfn, unsigned int order, int mt) noexcept
    cdef int free_pcppages_bulk(self, zone* z, per_cpu_pages* pcp, int count) except -1
    cdef void list_add(self, uint32_t* head, pfn_t pfn) noexcept
    cdef void list_add_tail(self, uint32_t* head, pfn_t pfn) noexcept
    cdef void list_del(self, uint32_t* head, pfn_t pfn) noexcept
    cdef uint32_t area_first(self, zone* z, unsigned int order, int mt) noexcept
    cdef void ready_unit(self, zone* z, uint64_t unit) noexcept
    cdef int prep_new_page(self, pfn_t pfn, unsigned int order, gfp_t gfp) except -1
    cdef int copy_content(self, pfn_t dst, pfn_t src) except -1
    cdef _init_zone(self, zone* z, int ncpus)
    cdef _free_range_now(self, zone* z, pfn_t start, pfn_t end)
    cdef _setup_per_zone_wmarks(self)
    cdef _move_block_owner(self, zone* z, pfn_t pfn, int order, int old_mt, int new_mt)
    cdef int _move_freepages(self, zone* z, pfn_t start, pfn_t end, int new_mt) except -1
    cdef pfn_t _rmqueue_locked(self, zone* z, unsigned int order, int mt) noexcept
    cdef bint zone_watermark_ok(self, zone* z, unsigned int order, uint64_t mark, int highest_zoneidx, gfp_t gfp) noexcept
    cdef _remerge(self, zone* z, pfn_t start, pfn_t end)
    cdef _refree(self, zone* z, pfn_t start, pfn_t end)
    cdef bint _block_has_allocated(self, pfn_t start)
    cdef int drop_content(self, pfn_t pfn, unsigned int order) except -1
