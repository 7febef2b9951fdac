# cython: language_level=3
"""The SLUB slab allocator (mm/slub.c, mm/slab_common.c of v5.14): caches, slabs, kmalloc.

Cython plugins cimport this to allocate kernel objects from C without a Python call per object:
``SlabAllocator.kmem_cache_alloc_node``, ``.kmem_cache_free``, ``.kmalloc_node``, ``.kfree_ip``
take a resolved call site (``_RET_IP_``) and return/accept direct-map addresses.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.ring cimport TraceBuffer
from memsim.task cimport Current

cdef enum:
    NUMA_NO_NODE = -1
    KMALLOC_SHIFT_LOW = 3               # KMALLOC_MIN_SIZE = 8 on x86-64 SLUB
    KMALLOC_SHIFT_HIGH = 13             # PAGE_SHIFT + 1: kmalloc-8k is the largest cache
    KMALLOC_MAX_CACHE_SIZE = 8192
    KMALLOC_NORMAL = 0                  # enum kmalloc_cache_type, CONFIG_MEMCG_KMEM and ZONE_DMA on
    KMALLOC_CGROUP = 1
    KMALLOC_RECLAIM = 2
    KMALLOC_DMA = 3
    NR_KMALLOC_TYPES = 4
    MAX_OBJS_PER_PAGE = 32767           # page->objects is 15 bits
    FP_END = 0xffff                     # end of a free list (the NULL free pointer)
    FP_ALLOCATED = 0xfffe               # object handed out (memsim's marker; the kernel has none)

# slab_flags_t bits (include/linux/slab.h, v5.14); also module attributes of memsim.slab
cpdef enum:
    SLAB_CONSISTENCY_CHECKS = 0x00000100
    SLAB_RED_ZONE = 0x00000400
    SLAB_POISON = 0x00000800
    SLAB_HWCACHE_ALIGN = 0x00002000
    SLAB_CACHE_DMA = 0x00004000
    SLAB_CACHE_DMA32 = 0x00008000
    SLAB_STORE_USER = 0x00010000
    SLAB_RECLAIM_ACCOUNT = 0x00020000
    SLAB_PANIC = 0x00040000
    SLAB_TYPESAFE_BY_RCU = 0x00080000
    SLAB_MEM_SPREAD = 0x00100000
    SLAB_TRACE = 0x00200000
    SLAB_NOLEAKTRACE = 0x00800000
    SLAB_FAILSLAB = 0x02000000
    SLAB_ACCOUNT = 0x04000000
    SLAB_KASAN = 0x08000000

cdef struct slab:
    # The slab half of a slab page's head struct page (page->freelist, ->inuse, ->objects,
    # ->frozen; ->slab_list is the page's lru links).  It lives off the page so that struct page
    # stays 64 bytes: page->private points here, page->mapping holds the cache (page->slab_cache).
    pfn_t pfn
    slab* next_all                      # every slab of the cache, for check_invariants
    slab* prev_all                      # (what SLUB_DEBUG's full list + partial lists give)
    uint16_t* fp                        # per object: free pointer (next free index) or FP_ALLOCATED
    uint32_t cache_id
    uint16_t freelist                   # page->freelist: first free object index, FP_END = none
    uint16_t objects                    # page->objects
    uint16_t inuse                      # page->inuse: objects not on page->freelist
    uint8_t frozen                      # page->frozen: some CPU's c->page
    uint8_t on_partial                  # on its node's partial list
    uint8_t order
    uint8_t node

cdef struct kmem_cache_cpu:
    # struct kmem_cache_cpu (no CONFIG_SLUB_CPU_PARTIAL: no per-CPU partial list)
    slab* page                          # c->page, NULL = none
    uint32_t freelist                   # c->freelist: object index in c->page, FP_END = empty
    uint64_t alloc_fastpath             # CONFIG_SLUB_STATS counters
    uint64_t alloc_slowpath
    uint64_t free_fastpath
    uint64_t free_slowpath

cdef struct kmem_cache_node:
    uint32_t partial                    # n->partial: head pfn of the list (NIL32 = empty)
    uint64_t nr_partial
    uint64_t nr_slabs                   # SLUB_DEBUG counters, as /proc/slabinfo reads them
    uint64_t total_objects

cdef class KmemCache
cdef class SlabAllocator

# memcg hooks (mm/slab.h: memcg_slab_pre_alloc_hook / memcg_slab_post_alloc_hook /
# memcg_slab_free_hook), installed by the memcg plugin; NULL = kmem accounting off.
# pre_alloc: called for an accounted allocation (gfp has __GFP_ACCOUNT or the cache has
#   SLAB_ACCOUNT) before an object is taken; charge obj_full_size(s) = s.size + 8 bytes to
#   current's obj_cgroup and store it in *objcg (0 = no objcg: unaccounted).  Return 0 to go on,
#   1 if the charge failed (the allocation then fails and returns NULL).
# post_alloc: with the objcg of pre_alloc (never 0) after the object was taken (addr 0 = the
#   allocation failed: uncharge); slab_pfn/idx say where the objcg vector slot is.  Return 0,
#   or 1 when the object may not be kept (v6.x charges here, and a failed charge frees the
#   object again, memcg_alloc_abort_single: the allocation returns NULL).
# free_hook: before the object goes back on a free list (uncharge, clear the vector slot).
# free_slab: memcg_free_slab_cgroups() in unaccount_slab_page(), for a slab page whose
#   memcg_data holds an objcg vector (MEMCG_DATA_OBJCGS), before the allocator zeroes it and
#   frees the page: the vector goes.
ctypedef int (*memcg_slab_pre_alloc_fn)(void* ctx, KmemCache s, gfp_t gfp, uint64_t* objcg) except -1
ctypedef int (*memcg_slab_post_alloc_fn)(void* ctx, KmemCache s, uint64_t objcg, pfn_t slab_pfn,
                                         unsigned int idx, uint64_t addr) except -1
ctypedef int (*memcg_slab_free_fn)(void* ctx, KmemCache s, pfn_t slab_pfn, unsigned int idx) except -1
ctypedef void (*memcg_free_slab_fn)(void* ctx, pfn_t slab_pfn) noexcept

cdef struct slab_memcg_ops:
    memcg_slab_pre_alloc_fn pre_alloc
    memcg_slab_post_alloc_fn post_alloc
    memcg_slab_free_fn free_hook
    memcg_free_slab_fn free_slab
    void* ctx

cdef class KmemCache:
    cdef readonly str name
    cdef bytes name_c                   # the name as C bytes (kmem_cache_free's string field)
    cdef readonly int id
    cdef readonly uint64_t addr         # what page->slab_cache holds for this cache
    cdef readonly unsigned int object_size
    cdef readonly unsigned int size     # the stride (s->size)
    cdef readonly unsigned int align
    cdef readonly unsigned int inuse    # s->inuse: object + red zone word
    cdef readonly unsigned int offset   # s->offset: free pointer offset
    cdef readonly unsigned int red_left_pad
    cdef readonly unsigned int flags
    cdef readonly bint ctor
    cdef readonly unsigned int order    # oo_order(s->oo)
    cdef readonly unsigned int objects  # oo_objects(s->oo): objects per slab
    cdef readonly unsigned int min_order        # s->min (fallback when the oo order fails)
    cdef readonly unsigned int min_objects
    cdef readonly unsigned int min_partial
    cdef readonly gfp_t allocflags
    cdef readonly int kmalloc_type      # -1 if not a kmalloc cache
    cdef int ncpus
    cdef int nr_nodes
    cdef kmem_cache_cpu* cpu_slab
    cdef kmem_cache_node* node
    cdef slab* all_slabs
    cdef readonly uint64_t nr_allocated # objects handed out and not freed (exact)
    cdef readonly uint64_t nr_alloc_fail
    cdef uint64_t changes               # alloc/free/slab operations so far (--check)
    cdef uint64_t checked_changes       # ... at the last check of this cache
    cdef object checked_pages           # per node (reclaimable, unreclaimable) pages at it, or None

    cdef int _setup(self, str name, int id, unsigned int object_size, unsigned int align,
                    unsigned int flags, bint ctor, int ncpus, int nr_nodes,
                    unsigned int min_objects, unsigned int min_order,
                    unsigned int max_order, unsigned int kasan_meta, bint freeptr_in_object,
                    bint calc_order_v68, bint always_comp) except -1

cdef class SlabAllocator:
    cdef readonly PhysMem pm
    cdef readonly TraceBuffer tb
    cdef readonly Current cur
    cdef readonly int ncpus
    cdef readonly int nr_nodes
    cdef readonly bint nrexceptional
    cdef readonly bint nokmem
    cdef readonly unsigned int kasan_meta_size   # KASAN alloc metadata per object (0: KASAN off)
    cdef readonly unsigned int min_align         # ARCH_SLAB_MINALIGN: least cache alignment
    cdef readonly unsigned int slub_min_order
    cdef readonly unsigned int slub_max_order
    cdef readonly unsigned int slub_min_objects
    cdef readonly object layout         # memsim.slab_layout.SlabLayout: boot caches, rules
    cdef bint calc_order_v68            # the layout's calculate_order() of v6.8+
    cdef bint always_comp               # the layout's s->allocflags = __GFP_COMP (v6.10+)
    cdef object kallsyms
    cdef dict sites                     # call-site name -> address
    cdef list by_id                     # KmemCache by id (page->slab_cache lookup)
    cdef dict by_name
    cdef void* kmalloc_caches[NR_KMALLOC_TYPES][KMALLOC_SHIFT_HIGH + 1]   # borrowed (by_id owns)
    cdef slab* rcu_pending              # SLAB_TYPESAFE_BY_RCU slabs waiting for a grace period
    cdef uint64_t* large_pages          # per node: pages of live kmalloc_order allocations
    cdef uint64_t* slab_pages_reclaimable       # per node: NR_SLAB_RECLAIMABLE_B / PAGE_SIZE
    cdef uint64_t* slab_pages_unreclaimable     # per node: NR_SLAB_UNRECLAIMABLE_B / PAGE_SIZE
    cdef slab_memcg_ops memcg_ops

    cdef uint64_t site(self, object call_site) except? 0
    cdef KmemCache kmalloc_slab(self, size_t size, gfp_t gfp)
    cdef KmemCache cache_of_page(self, pfn_t head)
    cdef uint64_t slab_alloc_node(self, KmemCache s, gfp_t gfp, int node, uint64_t ret_ip) except? 1
    cdef uint64_t slab_alloc_slowpath(self, KmemCache s, gfp_t gfp, int node, kmem_cache_cpu* c) except? 1
    cdef slab* get_partial(self, KmemCache s, int node) noexcept
    cdef slab* get_partial_node(self, KmemCache s, int nid) noexcept
    cdef slab* new_slab(self, KmemCache s, gfp_t gfp, int node) except? NULL
    cdef int deactivate_slab(self, KmemCache s, slab* sl, uint32_t freelist) except -1
    cdef int slab_free(self, KmemCache s, slab* sl, unsigned int idx) except -1
    cdef int discard_slab(self, KmemCache s, slab* sl) except -1
    cdef int free_slab_pages(self, slab* sl, unsigned int flags) except -1
    cdef int flush_all(self, KmemCache s) except -1
    cdef int trace_alloc(self, int ev, int ev_node, uint64_t call_site, uint64_t ptr,
                         uint64_t bytes_req, uint64_t bytes_alloc, gfp_t gfp, int node,
                         bint accounted, KmemCache s) except -1
    cdef pfn_t virt_to_head(self, uint64_t addr) except? 0xfffffffffffffffe
    cdef slab* virt_to_slab(self, uint64_t addr, unsigned int* idx, pfn_t* head) except? NULL
    cdef bint kasan_slab_free(self, KmemCache s, uint64_t addr, uint64_t ret_ip) except -1
    cdef int object_free(self, KmemCache s, slab* sl, unsigned int idx, pfn_t head,
                         uint64_t addr) except -1
    cdef KmemCache _create_cache(self, str name, unsigned int size, unsigned int align,
                                 unsigned int flags, bint ctor, int ktype,
                                 bint freeptr_in_object=*)
    cdef _new_kmalloc_cache(self, int t, int idx, unsigned int flags)
    cdef int _check_cpu(self) except -1
    cdef int _check_node(self, int node) except -1
    cdef uint64_t kmem_cache_alloc_node(self, KmemCache s, gfp_t gfp, int node, uint64_t ret_ip) except? 1
    cdef int kmem_cache_free(self, KmemCache s, uint64_t addr, uint64_t ret_ip) except -1
    cdef uint64_t kmalloc_node(self, size_t size, gfp_t gfp, int node, uint64_t ret_ip) except? 1
    cdef int kfree_ip(self, uint64_t addr, uint64_t ret_ip) except -1
