# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The SLUB slab allocator: kmem caches, slabs from the buddy allocator, kmalloc and kfree.

Models mm/slub.c and mm/slab_common.c of v5.14 on x86-64 (4 KiB pages, 8-byte pointers,
64-byte cache lines), with CONFIG_SLUB_DEBUG built but no ``slub_debug`` at boot,
CONFIG_MEMCG_KMEM and CONFIG_ZONE_DMA on, and the simplifications listed below.

The boot caches, the kmalloc creation order and three geometry rules come from the kernel
profile (:mod:`memsim.slab_layout`): under v6.18 the live 6.18 kernel's object sizes and
creation order, ``calculate_order()`` of v6.8 and ``s->allocflags = __GFP_COMP`` at every order
(v6.10), so /proc/slabinfo, kmem_cache_alloc's bytes_req/bytes_alloc and the slab pages'
mm_page_alloc match it for the caches memsim has.  Not modelled on v6.18 either: per-CPU
partial slabs, per-CPU sheaves (6.18's vm_area_struct and maple_node caches refill a 32-object
sheaf at a time, so their slab pages come in bursts) and the memcg object-extension vector a
new SLAB_ACCOUNT slab kmallocs.

Geometry (exact):

* ``calculate_alignment`` and ``calculate_sizes``: the stride ``s->size`` is the object size
  rounded up to a word, plus a word for an out-of-object free pointer when the cache has a
  constructor or is SLAB_TYPESAFE_BY_RCU (or poisons), plus the debug red zones / owner tracking
  when those flags are given, aligned to the cache alignment;
* ``calculate_order`` / ``slab_order`` (called ``calc_slab_order`` in later kernels):
  slub_min_objects = 4 * (fls(nr_cpus) + 1), slub_max_order = PAGE_ALLOC_COSTLY_ORDER (3),
  leftover fraction 1/16, 1/8, 1/4, then fewer objects; ``order_objects``; ``s->min`` is the
  fallback order when the preferred one cannot be allocated (``allocate_slab``);
* ``set_min_partial``: min_partial = clamp(ilog2(size) / 2, 5, 10);
* kmalloc: ``kmalloc_index`` / ``kmalloc_slab`` with the ``size_index`` table for sizes up to
  192, ``kmalloc_type`` choosing kmalloc-, kmalloc-cg- (__GFP_ACCOUNT), kmalloc-rcl-
  (__GFP_RECLAIMABLE) and dma-kmalloc- (__GFP_DMA) caches, ``create_kmalloc_caches`` order;
  requests above KMALLOC_MAX_CACHE_SIZE (8 KiB) go to the page allocator (``kmalloc_order``).

State (real, in C): every slab is a block of pages from :class:`memsim.physmem.PhysMem`
(``alloc_pages``, so ``mm_page_alloc`` fires) flagged PG_slab, with the cache in
``page->mapping`` (page->slab_cache) and the slab's free list in a small C array that
``page->private`` points at.  Each cache has per-CPU slabs (``c->page`` / ``c->freelist``: the
allocation fast path pops and the free fast path pushes there) and per-node partial lists
linked through the pages' lru links (``page->slab_list``).  Frees to another CPU's slab go to
the page's own free list (``__slab_free`` of a frozen slab) and are picked up by
``get_freelist``; an emptied slab is freed back to the buddy allocator once its node already
holds ``min_partial`` partial slabs (``discard_slab``), after an RCU grace period
(:meth:`SlabAllocator.rcu_barrier`) for SLAB_TYPESAFE_BY_RCU caches.

Object addresses are direct-map kernel addresses: ``0xffff888000000000 + (pfn << 12) +
red_left_pad + index * size``.

Simplified, on purpose: no CONFIG_SLUB_CPU_PARTIAL (a slab that gets a free object goes to its
node's partial list, as with that option off), no CONFIG_SLAB_FREELIST_RANDOM (objects come in
address order), no cache merging (``__kmem_cache_alias``: every cache is its own line in
/proc/slabinfo), no ``get_any_partial`` defrag-ratio randomness (other nodes are searched in
zonelist order when they hold more than ``min_partial`` partial slabs), no kmem_cache /
kmem_cache_node caches of the allocator's own structures, no object contents (poisoning,
constructors and __GFP_ZERO have nothing to write).

Tracepoints (tracepoints.md 4 and 10): ``kmalloc`` / ``kmalloc_node`` after the object is
taken (also for a failed allocation, ptr 0; not for kmalloc(0), which returns ZERO_SIZE_PTR),
``kmem_cache_alloc`` / ``_node`` likewise, ``kfree`` at the start of kfree (also for NULL and
ZERO_SIZE_PTR), ``kmem_cache_free`` after the object is freed, so a slab page released by that
free shows its ``mm_page_free`` first.  A profile without the ``_node`` events (v6.1+ merged
them) gets the plain events with the node field.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

from memsim._types cimport (
    pfn_t, gfp_t, NO_PFN, NIL32, PAGE_SHIFT, PAGE_SIZE, MAX_ORDER,
    GFP_DMA_, GFP_HIGHMEM_, GFP_DMA32_, GFP_RECLAIMABLE_, GFP_HIGH_, GFP_IO_, GFP_FS_, GFP_ATOMIC_,
    GFP_DIRECT_RECLAIM_, GFP_KSWAPD_RECLAIM_, GFP_NOWARN_, GFP_RETRY_MAYFAIL_, GFP_NOFAIL_,
    GFP_NORETRY_, GFP_MEMALLOC_, GFP_COMP_, GFP_NOMEMALLOC_, GFP_HARDWALL_, GFP_THISNODE_,
    GFP_ACCOUNT_, GFP_KERNEL, PG_slab, PG_head, PG_tail, PG_buddy, PG_pcp,
)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, MEMCG_DATA_OBJCGS
from memsim.vmstat cimport (
    mod_node_page_state, mod_lruvec_page_state, NR_SLAB_RECLAIMABLE_B, NR_SLAB_UNRECLAIMABLE_B,
)
from memsim.ring cimport (
    TraceBuffer, EV_KMALLOC, EV_KFREE, EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE, EV_KMALLOC_NODE,
    EV_KMEM_CACHE_ALLOC_NODE,
)
from memsim.task cimport Current

# -- constants --------------------------------------------------------------------------------
PAGE_OFFSET = 0xffff888000000000        # x86-64 direct map (page_offset_base without KASLR)
ZERO_SIZE_PTR = 16                      # ((void *)16), what kmalloc(0) returns
KMEM_CACHE_BASE = 0xffffffff82e00000    # emulated home of the struct kmem_caches (page->slab_cache)
KMEM_CACHE_STRIDE = 0x200               # one slot per cache (sizeof(struct kmem_cache) rounded)

cdef uint64_t C_PAGE_OFFSET = 0xffff888000000000ULL
cdef uint64_t C_ZERO_SIZE_PTR = 16
cdef uint64_t C_KMEM_CACHE_BASE = 0xffffffff82e00000ULL
cdef uint64_t C_KMEM_CACHE_STRIDE = 0x200

cdef enum:
    ARCH_KMALLOC_MINALIGN = 8           # __alignof__(unsigned long long) on x86-64
    ARCH_SLAB_MINALIGN = 8              # the default of SlabAllocator(min_align=...)
    CACHE_LINE_SIZE = 64                # cache_line_size() on x86-64
    WORD = 8                            # sizeof(void *)
    SIZEOF_TRACK = 152                  # struct track with CONFIG_STACKTRACE (16 saved addresses)
    PAGE_ALLOC_COSTLY_ORDER = 3
    MIN_PARTIAL = 5
    MAX_PARTIAL = 10
    DEACTIVATE_TO_HEAD = 0
    DEACTIVATE_TO_TAIL = 1

# gfp masks (include/linux/gfp.h, mm/internal.h, mm/slab.h of v5.14)
cdef gfp_t GFP_RECLAIM_MASK = (GFP_DIRECT_RECLAIM_ | GFP_KSWAPD_RECLAIM_ | GFP_HIGH_ | GFP_IO_ |
                               GFP_FS_ | GFP_NOWARN_ | GFP_RETRY_MAYFAIL_ | GFP_NOFAIL_ |
                               GFP_NORETRY_ | GFP_MEMALLOC_ | GFP_NOMEMALLOC_ | GFP_ATOMIC_)
cdef gfp_t GFP_CONSTRAINT_MASK = GFP_HARDWALL_ | GFP_THISNODE_
cdef gfp_t GFP_RECLAIM_BITS = GFP_DIRECT_RECLAIM_ | GFP_KSWAPD_RECLAIM_      # __GFP_RECLAIM
cdef gfp_t GFP_SLAB_BUG_MASK = GFP_DMA32_ | GFP_HIGHMEM_ | 0xfe000000U      # | ~__GFP_BITS_MASK
cdef gfp_t KMALLOC_NOT_NORMAL_BITS = GFP_RECLAIMABLE_ | GFP_DMA_ | GFP_ACCOUNT_

cdef unsigned int SLAB_FLAGS_PERMITTED = (
    SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA |
    SLAB_CACHE_DMA32 | SLAB_STORE_USER | SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_TYPESAFE_BY_RCU |
    SLAB_MEM_SPREAD | SLAB_TRACE | 0x00400000 | SLAB_NOLEAKTRACE | SLAB_FAILSLAB | SLAB_ACCOUNT |
    SLAB_KASAN)                         # 0x00400000: SLAB_DEBUG_OBJECTS

KMALLOC_TYPE_PREFIX = ("kmalloc-", "kmalloc-cg-", "kmalloc-rcl-", "dma-kmalloc-")
# kmalloc_info[]: index -> (size, short size)
KMALLOC_INFO = ((0, "0"), (96, "96"), (192, "192"), (8, "8"), (16, "16"), (32, "32"), (64, "64"),
                (128, "128"), (256, "256"), (512, "512"), (1024, "1k"), (2048, "2k"),
                (4096, "4k"), (8192, "8k"))

# size_index[] of mm/slab_common.c: kmalloc index for sizes 1..192, by (size - 1) / 8
cdef uint8_t SIZE_INDEX[24]
SIZE_INDEX[:] = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2]

# Boot caches besides kmalloc, and the geometry rules, per kernel: memsim.slab_layout
# (SlabLayout; V514 is the default, Machine passes SLAB_LAYOUT[profile]).
NREXCEPTIONAL_BYTES = 8                 # sizeof(unsigned long nrexceptional) in address_space


# -- arithmetic (include/linux/log2.h, asm-generic/getorder.h, mm/slub.c) ---------------------
cdef inline uint64_t kasan_reset_tag(uint64_t addr) noexcept nogil:
    """kasan_reset_tag(): the pointer with the match-all tag 0xFF in its top byte (what the
    direct map's addresses have); a no-op for untagged pointers."""
    return addr | 0xff00000000000000ULL


cdef inline unsigned int fls64(uint64_t x) noexcept nogil:
    """fls(): position of the most significant set bit, 1-based; fls(0) = 0."""
    cdef unsigned int r = 0
    while x:
        x >>= 1
        r += 1
    return r


cdef inline unsigned int get_order(uint64_t size) noexcept nogil:
    """get_order(): the smallest order whose block holds ``size`` bytes (size >= 1)."""
    return fls64((size - 1) >> PAGE_SHIFT)


cdef inline unsigned int order_objects(unsigned int order, unsigned int size) noexcept nogil:
    """order_objects(): objects of ``size`` bytes in a slab of ``order``."""
    return <unsigned int>((<uint64_t>PAGE_SIZE << order) // size)


cdef inline unsigned int align_up(unsigned int x, unsigned int a) noexcept nogil:
    return (x + a - 1) // a * a


cdef unsigned int calculate_alignment(unsigned int flags, unsigned int align,
                                      unsigned int size, unsigned int min_align) noexcept nogil:
    """calculate_alignment() of mm/slab_common.c; ``min_align`` is the build's
    ARCH_SLAB_MINALIGN (8 on x86-64; 16, one tag granule, with arm64's KASAN SW_TAGS)."""
    cdef unsigned int ralign
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = CACHE_LINE_SIZE
        while size <= ralign // 2:
            ralign //= 2
        if ralign > align:
            align = ralign
    if align < min_align:
        align = min_align
    return align_up(align, WORD)


cdef unsigned int slab_order(unsigned int size, unsigned int min_objects, unsigned int max_order,
                             unsigned int fract_leftover, unsigned int min_order) noexcept nogil:
    """slab_order() (calc_slab_order() from v5.16): the first order from the one that holds
    ``min_objects`` up to ``max_order`` whose leftover is at most 1/fract_leftover of the slab."""
    cdef unsigned int order, rem, slab_size
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(<uint64_t>size * MAX_OBJS_PER_PAGE) - 1
    order = get_order(<uint64_t>min_objects * size)
    if order < min_order:
        order = min_order
    while order <= max_order:
        slab_size = <unsigned int>(PAGE_SIZE << order)
        rem = slab_size % size
        if rem <= slab_size // fract_leftover:
            break
        order += 1
    return order


cdef int calculate_order(unsigned int size, unsigned int min_objects, unsigned int min_order,
                         unsigned int max_order) noexcept nogil:
    """calculate_order(): back off from 1/16 leftover to 1/4, then from min_objects down to 2,
    then one object per slab within max_order, then any order; -1 if nothing fits."""
    cdef unsigned int order, fraction
    cdef unsigned int max_objects = order_objects(max_order, size)
    if min_objects > max_objects:
        min_objects = max_objects
    while min_objects > 1:
        fraction = 16
        while fraction >= 4:
            order = slab_order(size, min_objects, max_order, fraction, min_order)
            if order <= max_order:
                return order
            fraction //= 2
        min_objects -= 1
    order = slab_order(size, 1, max_order, 1, min_order)
    if order <= max_order:
        return order
    order = slab_order(size, 1, MAX_ORDER, 1, min_order)
    if order < MAX_ORDER:
        return order
    return -1


cdef int calculate_order_v68(unsigned int size, unsigned int min_objects, unsigned int min_order,
                             unsigned int max_order) noexcept nogil:
    """calculate_order() from v6.8 (calc_slab_order(size, min_order, max_order, fraction)): start
    at the order that holds min_objects (at most what slub_max_order holds), take the first order
    up to max_order whose leftover is at most 1/16, 1/8, 1/4, then 1/2 of the slab; else the
    order of one object; -1 if that is above MAX_ORDER - 1."""
    cdef unsigned int order, fraction, rem, slab_size
    cdef unsigned int max_objects = order_objects(max_order, size)
    if max_objects < 1:
        max_objects = 1
    if min_objects > max_objects:
        min_objects = max_objects
    if get_order(<uint64_t>min_objects * size) > min_order:
        min_order = get_order(<uint64_t>min_objects * size)
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(<uint64_t>size * MAX_OBJS_PER_PAGE) - 1
    fraction = 16
    while fraction > 1:
        order = min_order
        while order <= max_order:           # calc_slab_order()
            slab_size = <unsigned int>(PAGE_SIZE << order)
            rem = slab_size % size
            if rem <= slab_size // fraction:
                break
            order += 1
        if order <= max_order:
            return order
        fraction //= 2
    order = get_order(size)
    if order < MAX_ORDER:
        return order
    return -1


cdef inline unsigned int ilog2(uint64_t x) noexcept nogil:
    return fls64(x) - 1 if x else 0


cdef inline int kmalloc_type(gfp_t flags) noexcept nogil:
    """kmalloc_type() of v5.14 (CONFIG_ZONE_DMA and CONFIG_MEMCG_KMEM built)."""
    if (flags & KMALLOC_NOT_NORMAL_BITS) == 0:
        return KMALLOC_NORMAL
    if flags & GFP_DMA_:
        return KMALLOC_DMA
    if flags & GFP_RECLAIMABLE_:
        return KMALLOC_RECLAIM
    return KMALLOC_CGROUP


cdef inline unsigned int kmalloc_index(size_t size) noexcept nogil:
    """kmalloc_slab()'s index: size_index[] up to 192 bytes, fls(size - 1) above."""
    if size <= 192:
        return SIZE_INDEX[(size - 1) // 8]
    return fls64(size - 1)


def _local_symbol_addr(name):
    """A deterministic text address for ``name`` when memsim.tracing.kallsyms is absent."""
    import zlib
    return 0xffffffff81000000 + ((zlib.crc32(name.encode()) & 0xfffff) << 4)


# -- caches -------------------------------------------------------------------------------------
cdef class KmemCache:
    """struct kmem_cache: geometry (``calculate_sizes``), per-CPU slabs and per-node lists."""

    def __cinit__(self):
        self.cpu_slab = NULL
        self.node = NULL
        self.all_slabs = NULL
        self.kmalloc_type = -1
        self.changes = 1                # never checked yet
        self.checked_changes = 0
        self.checked_pages = None

    def __dealloc__(self):
        cdef slab* sl = self.all_slabs
        cdef slab* nxt
        while sl != NULL:
            nxt = sl.next_all
            free(sl)
            sl = nxt
        free(self.cpu_slab)
        free(self.node)

    cdef int _setup(self, str name, int id, unsigned int object_size, unsigned int align,
                    unsigned int flags, bint ctor, int ncpus, int nr_nodes,
                    unsigned int min_objects, unsigned int min_order,
                    unsigned int max_order, unsigned int kasan_meta, bint freeptr_in_object,
                    bint calc_order_v68, bint always_comp) except -1:
        """kmem_cache_open() + calculate_sizes(): stride, order, objects, allocflags.  With
        KASAN's alloc metadata (``kasan_meta`` bytes, __kasan_cache_create) the cache gets
        SLAB_KASAN and each slot grows by it, after the free pointer and tracking.
        ``freeptr_in_object``: a TYPESAFE_BY_RCU cache keeps its free pointer inside the object
        (kmem_cache_args.use_freeptr_offset, v6.13+); ``calc_order_v68``: calculate_order() of
        v6.8+; ``always_comp``: s->allocflags = __GFP_COMP for every order (v6.10+)."""
        cdef unsigned int size
        cdef int order, n
        self.name = name
        self.name_c = name.encode()
        self.id = id
        self.addr = C_KMEM_CACHE_BASE + <uint64_t>id * C_KMEM_CACHE_STRIDE
        self.object_size = object_size
        self.align = align
        self.flags = flags
        self.ctor = ctor
        self.ncpus = ncpus
        self.nr_nodes = nr_nodes
        # calculate_sizes()
        size = align_up(object_size, WORD)
        if (flags & SLAB_RED_ZONE) and size == object_size:
            size += WORD
        self.inuse = size
        if ((flags & SLAB_TYPESAFE_BY_RCU) and not freeptr_in_object) or (flags & SLAB_POISON) or \
                ((flags & SLAB_RED_ZONE) and object_size < WORD) or ctor:
            self.offset = size                      # free pointer after the object
            size += WORD
        elif flags & SLAB_TYPESAFE_BY_RCU:
            self.offset = 0                         # args->freeptr_offset (memsim keeps no bytes)
        else:
            self.offset = (object_size // 2) // WORD * WORD
        if flags & SLAB_STORE_USER:
            size += 2 * SIZEOF_TRACK
        if kasan_meta:
            flags |= SLAB_KASAN
            self.flags = flags
            size += kasan_meta
        self.red_left_pad = 0
        if flags & SLAB_RED_ZONE:
            size += WORD
            self.red_left_pad = align_up(WORD, align)
            size += self.red_left_pad
        size = align_up(size, align)
        self.size = size
        if calc_order_v68:
            order = calculate_order_v68(size, min_objects, min_order, max_order)
        else:
            order = calculate_order(size, min_objects, min_order, max_order)
        if order < 0:
            raise ValueError(f"kmem_cache_create({name}): objects of {size} bytes do not fit a "
                             f"slab of order {MAX_ORDER - 1}; use kmalloc for such sizes")
        self.order = order
        self.objects = order_objects(order, size)
        self.min_order = get_order(size)
        self.min_objects = order_objects(self.min_order, size)
        self.allocflags = 0
        if order or always_comp:
            self.allocflags |= GFP_COMP_
        if flags & SLAB_CACHE_DMA:
            self.allocflags |= GFP_DMA_
        if flags & SLAB_CACHE_DMA32:
            self.allocflags |= GFP_DMA32_
        if flags & SLAB_RECLAIM_ACCOUNT:
            self.allocflags |= GFP_RECLAIMABLE_
        # set_min_partial(s, ilog2(s->size) / 2)
        self.min_partial = min(MAX_PARTIAL, max(MIN_PARTIAL, ilog2(size) // 2))
        self.cpu_slab = <kmem_cache_cpu*>calloc(ncpus, sizeof(kmem_cache_cpu))
        self.node = <kmem_cache_node*>calloc(nr_nodes, sizeof(kmem_cache_node))
        if self.cpu_slab == NULL or self.node == NULL:
            raise MemoryError()
        for n in range(ncpus):
            self.cpu_slab[n].freelist = FP_END
        for n in range(nr_nodes):
            self.node[n].partial = NIL32
        return 0

    # -- /proc/slabinfo ------------------------------------------------------------------------
    @property
    def num_slabs(self):
        """Slabs of this cache (node_nr_slabs summed over nodes)."""
        return sum(self.node[n].nr_slabs for n in range(self.nr_nodes))

    @property
    def num_objs(self):
        """Object slots in those slabs (node_nr_objs)."""
        return sum(self.node[n].total_objects for n in range(self.nr_nodes))

    @property
    def nr_partial(self):
        return sum(self.node[n].nr_partial for n in range(self.nr_nodes))

    @property
    def partial_free(self):
        """Free objects on the node partial lists (count_partial(n, count_free))."""
        cdef uint64_t total = 0
        cdef slab* sl = self.all_slabs
        while sl != NULL:
            if sl.on_partial:
                total += sl.objects - sl.inuse
            sl = sl.next_all
        return total

    @property
    def active_objs(self):
        """get_slabinfo()'s active_objs: objects minus the free ones on partial slabs, so the
        free objects of per-CPU slabs count as active, as in the kernel."""
        return self.num_objs - self.partial_free

    @property
    def pages(self):
        """Pages held by this cache's slabs."""
        cdef uint64_t total = 0
        cdef slab* sl = self.all_slabs
        while sl != NULL:
            total += 1ULL << sl.order
            sl = sl.next_all
        return total

    @property
    def is_kmalloc(self):
        return self.kmalloc_type >= 0

    def slabs(self):
        """Every slab as a dict: pfn, order, node, objects, inuse, frozen, on_partial."""
        out = []
        cdef slab* sl = self.all_slabs
        while sl != NULL:
            out.append(dict(pfn=sl.pfn, order=sl.order, node=sl.node, objects=sl.objects,
                            inuse=sl.inuse, frozen=bool(sl.frozen),
                            on_partial=bool(sl.on_partial)))
            sl = sl.next_all
        return out

    def cpu_stats(self):
        """CONFIG_SLUB_STATS-style counters per CPU."""
        return [dict(alloc_fastpath=self.cpu_slab[c].alloc_fastpath,
                     alloc_slowpath=self.cpu_slab[c].alloc_slowpath,
                     free_fastpath=self.cpu_slab[c].free_fastpath,
                     free_slowpath=self.cpu_slab[c].free_slowpath,
                     cpu_slab=None if self.cpu_slab[c].page == NULL else self.cpu_slab[c].page.pfn)
                for c in range(self.ncpus)]

    def __repr__(self):
        return (f"<KmemCache {self.name} object_size={self.object_size} size={self.size} "
                f"order={self.order} objects={self.objects}>")


# -- the allocator ------------------------------------------------------------------------------
cdef class SlabAllocator:
    """SLUB over a :class:`PhysMem`: boot caches, kmem_cache_create, kmalloc and kfree.

    ``kallsyms`` maps a call-site name to its text address (``_RET_IP_``); by default
    memsim.tracing.kallsyms.call_site (a return address inside the named function), or a
    local deterministic table if that module cannot be imported.  ``nrexceptional=True`` gives
    the caches whose object embeds a struct address_space (inode_cache, shmem_inode_cache) the
    8 bytes of the pre-v5.13 ``nrexceptional`` field back; ``nokmem=True`` is
    ``cgroup.memory=nokmem`` (kmalloc-cg-* alias the normal caches, nothing is accounted).
    ``layout`` (a :class:`memsim.slab_layout.SlabLayout`, by default the v5.14 one) gives the
    boot caches, the kmalloc creation order and the geometry rules of the emulated kernel.
    ``min_align`` is ARCH_SLAB_MINALIGN, the least alignment calculate_alignment() gives every
    cache (boot, kmalloc and kmem_cache_create caches): 8 on x86-64, 16 (one tag granule) on
    arm64 with KASAN SW_TAGS, so that every object starts on a granule.
    """

    def __cinit__(self, PhysMem pm, TraceBuffer tb, Current cur, int ncpus, kallsyms=None,
                  bint nrexceptional=False, bint nokmem=False, unsigned int kasan_meta_size=0,
                  layout=None, unsigned int min_align=ARCH_SLAB_MINALIGN):
        cdef int t, i
        if ncpus != pm.ncpus:
            raise ValueError(f"SlabAllocator: ncpus {ncpus} differs from the machine's "
                             f"{pm.ncpus} CPUs; pass the same CPU count")
        self.pm = pm
        self.tb = tb
        self.cur = cur
        self.ncpus = ncpus
        self.nr_nodes = pm.nr_nodes
        self.nrexceptional = nrexceptional
        self.nokmem = nokmem
        self.kasan_meta_size = kasan_meta_size
        if min_align < ARCH_SLAB_MINALIGN or min_align > PAGE_SIZE or min_align & (min_align - 1):
            raise ValueError(f"SlabAllocator: min_align {min_align} is not a power of two from "
                             f"{ARCH_SLAB_MINALIGN} to {PAGE_SIZE}; use 8 (x86-64) or 16 "
                             f"(arm64 with KASAN SW_TAGS)")
        self.min_align = min_align
        if layout is None:
            from memsim.slab_layout import V514 as layout
        self.layout = layout
        self.calc_order_v68 = layout.calc_order_v68
        self.always_comp = layout.always_comp
        self.slub_min_order = 0
        self.slub_max_order = PAGE_ALLOC_COSTLY_ORDER
        # calculate_order(): 4 * (fls(nr_cpus) + 1), nr_cpus = num_present_cpus() (== nr_cpu_ids)
        self.slub_min_objects = 4 * (fls64(ncpus) + 1)
        self.sites = {}
        self.by_id = []
        self.by_name = {}
        self.rcu_pending = NULL
        memset(&self.memcg_ops, 0, sizeof(self.memcg_ops))
        for t in range(NR_KMALLOC_TYPES):
            for i in range(KMALLOC_SHIFT_HIGH + 1):
                self.kmalloc_caches[t][i] = NULL
        self.large_pages = <uint64_t*>calloc(self.nr_nodes, sizeof(uint64_t))
        self.slab_pages_reclaimable = <uint64_t*>calloc(self.nr_nodes, sizeof(uint64_t))
        self.slab_pages_unreclaimable = <uint64_t*>calloc(self.nr_nodes, sizeof(uint64_t))
        if self.large_pages == NULL or self.slab_pages_reclaimable == NULL or \
                self.slab_pages_unreclaimable == NULL:
            raise MemoryError()
        if kallsyms is None:
            try:
                from memsim.tracing.kallsyms import call_site as kallsyms
            except ImportError:
                kallsyms = _local_symbol_addr
        self.kallsyms = kallsyms

    def __init__(self, PhysMem pm, TraceBuffer tb, Current cur, int ncpus, kallsyms=None,
                 bint nrexceptional=False, bint nokmem=False, unsigned int kasan_meta_size=0,
                 layout=None, unsigned int min_align=ARCH_SLAB_MINALIGN):
        cdef unsigned int size
        self.create_kmalloc_caches()
        for bc in self.layout.boot_caches:
            size = bc.object_size
            if bc.embeds_mapping and nrexceptional:
                size += NREXCEPTIONAL_BYTES
            self.kmem_cache_create(bc.name, size, bc.align, bc.flags, bc.ctor,
                                   freeptr_in_object=bc.freeptr_in_object)

    def __dealloc__(self):
        cdef slab* sl = self.rcu_pending
        cdef slab* nxt
        while sl != NULL:
            nxt = sl.next_all
            free(sl)
            sl = nxt
        free(self.large_pages)
        free(self.slab_pages_reclaimable)
        free(self.slab_pages_unreclaimable)

    # -- cache creation ------------------------------------------------------------------------
    cdef KmemCache _create_cache(self, str name, unsigned int size, unsigned int align,
                                 unsigned int flags, bint ctor, int ktype,
                                 bint freeptr_in_object=False):
        """create_cache() + __kmem_cache_create(); list_add to slab_caches."""
        if name in self.by_name:
            raise ValueError(f"kmem_cache_create: a cache named {name!r} exists; "
                             f"pick another name or use find_cache({name!r})")
        cdef KmemCache s = KmemCache()
        s._setup(name, len(self.by_id), size, align, flags, ctor, self.ncpus, self.nr_nodes,
                 self.slub_min_objects, self.slub_min_order, self.slub_max_order,
                 self.kasan_meta_size, freeptr_in_object, self.calc_order_v68, self.always_comp)
        s.kmalloc_type = ktype
        self.by_id.append(s)
        self.by_name[name] = s
        return s

    def create_kmalloc_caches(self):
        """create_kmalloc_caches(): v5.14: kmalloc-, kmalloc-cg- and kmalloc-rcl- for each
        size (96 after 64 and 192 after 128), then the dma-kmalloc- caches; v6.x (the layout's
        ``kmalloc_odd_first``): every type in the layout's ``kmalloc_types`` order, each with
        kmalloc-96 and -192 first, then 8 to 8k.  create_boot_cache aligns power-of-two sizes
        naturally."""
        cdef int t, i, idx
        cdef unsigned int flags, align, size
        cdef KmemCache s
        if self.by_id:
            raise RuntimeError("create_kmalloc_caches: already done at construction")
        if self.layout.kmalloc_odd_first:
            for t in self.layout.kmalloc_types:
                for idx in [1, 2] + list(range(KMALLOC_SHIFT_LOW, KMALLOC_SHIFT_HIGH + 1)):
                    if t == KMALLOC_CGROUP and self.nokmem:
                        self.kmalloc_caches[t][idx] = self.kmalloc_caches[KMALLOC_NORMAL][idx]
                        continue
                    flags = SLAB_RECLAIM_ACCOUNT if t == KMALLOC_RECLAIM else \
                        SLAB_ACCOUNT if t == KMALLOC_CGROUP else \
                        SLAB_CACHE_DMA if t == KMALLOC_DMA else 0
                    self._new_kmalloc_cache(t, idx, flags)
            return
        for t in (KMALLOC_NORMAL, KMALLOC_CGROUP, KMALLOC_RECLAIM):
            for i in range(KMALLOC_SHIFT_LOW, KMALLOC_SHIFT_HIGH + 1):
                extra = 1 if i == 6 else 2 if i == 7 else 0    # kmalloc-96, kmalloc-192
                for idx in ([i, extra] if extra else [i]):
                    if self.kmalloc_caches[t][idx] != NULL:
                        continue
                    if t == KMALLOC_CGROUP and self.nokmem:
                        self.kmalloc_caches[t][idx] = self.kmalloc_caches[KMALLOC_NORMAL][idx]
                        continue
                    flags = SLAB_RECLAIM_ACCOUNT if t == KMALLOC_RECLAIM else \
                        SLAB_ACCOUNT if t == KMALLOC_CGROUP else 0
                    self._new_kmalloc_cache(t, idx, flags)
        for idx in range(KMALLOC_SHIFT_HIGH + 1):
            if self.kmalloc_caches[KMALLOC_NORMAL][idx] != NULL:
                self._new_kmalloc_cache(KMALLOC_DMA, idx, SLAB_CACHE_DMA)

    cdef _new_kmalloc_cache(self, int t, int idx, unsigned int flags):
        """new_kmalloc_cache() -> create_kmalloc_cache() -> create_boot_cache()."""
        cdef unsigned int size = KMALLOC_INFO[idx][0]
        cdef unsigned int align = ARCH_KMALLOC_MINALIGN
        if size & (size - 1) == 0 and size > align:
            align = size
        align = calculate_alignment(flags, align, size, self.min_align)
        s = self._create_cache(KMALLOC_TYPE_PREFIX[t] + KMALLOC_INFO[idx][1], size, align,
                               flags, False, t)
        self.kmalloc_caches[t][idx] = <void*>s

    def kmem_cache_create(self, str name, unsigned int size, unsigned int align=0,
                          unsigned int flags=0, bint ctor=False, bint freeptr_in_object=False):
        """kmem_cache_create(): a new cache of ``size``-byte objects (the stride follows from
        calculate_sizes).  ``ctor`` says whether the cache has a constructor;
        ``freeptr_in_object`` that a SLAB_TYPESAFE_BY_RCU object holds its own free pointer
        (kmem_cache_args.use_freeptr_offset of v6.13+: the stride does not grow by a word)."""
        if not name or " " in name:
            raise ValueError(f"kmem_cache_create: bad cache name {name!r}; "
                             f"use a non-empty name without spaces")
        if size == 0 or size > (1 << (PAGE_SHIFT + MAX_ORDER - 1)):
            raise ValueError(f"kmem_cache_create({name}): object size {size} is out of range; "
                             f"use 1 to {1 << (PAGE_SHIFT + MAX_ORDER - 1)} bytes")
        if flags & ~SLAB_FLAGS_PERMITTED:
            raise ValueError(f"kmem_cache_create({name}): unknown flags "
                             f"{flags & ~SLAB_FLAGS_PERMITTED:#x}; use the SLAB_* values")
        if align & (align - 1):
            raise ValueError(f"kmem_cache_create({name}): align {align} is not a power of two")
        return self._create_cache(name, size,
                                  calculate_alignment(flags, align, size, self.min_align),
                                  flags, ctor, -1, freeptr_in_object)

    # -- lookups -------------------------------------------------------------------------------
    def find_cache(self, str name):
        """The cache called ``name``, or None."""
        return self.by_name.get(name)

    def _cache(self, str name):
        s = self.by_name.get(name)
        if s is None:
            import difflib
            best = difflib.get_close_matches(name, list(self.by_name), n=1)
            hint = f"did you mean {best[0]!r}?" if best else "create it with kmem_cache_create"
            raise KeyError(f"slab: no cache named {name!r}; {hint}")
        return s

    def caches(self):
        """Every cache, in creation order."""
        return list(self.by_id)

    def kmalloc_cache(self, size_t size, gfp_t gfp=GFP_KERNEL):
        """kmalloc_slab(): the cache a kmalloc of ``size`` bytes uses; None for 0 and for sizes
        that go to the page allocator."""
        if size == 0 or size > KMALLOC_MAX_CACHE_SIZE:
            return None
        return self.kmalloc_slab(size, gfp)

    cdef KmemCache kmalloc_slab(self, size_t size, gfp_t gfp):
        """kmalloc_slab() for 1 <= size <= KMALLOC_MAX_CACHE_SIZE."""
        return <KmemCache>self.kmalloc_caches[kmalloc_type(gfp)][kmalloc_index(size)]

    cdef KmemCache cache_of_page(self, pfn_t head):
        """page->slab_cache of a slab's head page."""
        return <KmemCache>self.by_id[(self.pm.mem_map[head].mapping - C_KMEM_CACHE_BASE)
                                     // C_KMEM_CACHE_STRIDE]

    cdef uint64_t site(self, object call_site) except? 0:
        """_RET_IP_ for a call-site name (resolved once through kallsyms), or an address."""
        if isinstance(call_site, int):
            return <uint64_t>call_site
        addr = self.sites.get(call_site)
        if addr is None:
            addr = int(self.kallsyms(call_site))
            self.sites[call_site] = addr
        return <uint64_t>addr

    # -- tracing -------------------------------------------------------------------------------
    cdef int trace_alloc(self, int ev, int ev_node, uint64_t call_site, uint64_t ptr,
                         uint64_t bytes_req, uint64_t bytes_alloc, gfp_t gfp, int node,
                         bint accounted, KmemCache s) except -1:
        """trace_kmalloc / trace_kmem_cache_alloc (and the _node forms when a node was asked for
        and the profile has them)."""
        cdef uint64_t vals[7]
        if node != NUMA_NO_NODE and self.tb.core[ev_node].fixed_size != 0:
            ev = ev_node
        if not self.tb.core[ev].enabled:
            return 0
        vals[0] = call_site
        vals[1] = ptr
        vals[2] = bytes_req
        vals[3] = bytes_alloc
        vals[4] = gfp
        vals[5] = <uint64_t><int64_t>node
        vals[6] = accounted
        if s is None:
            return self.tb.emit(ev, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        return self.tb.emit(ev, self.cur.cpu, self.cur.pid, vals, s.name_c, len(s.name_c))

    # -- the allocation path -------------------------------------------------------------------
    cdef uint64_t slab_alloc_node(self, KmemCache s, gfp_t gfp, int node, uint64_t ret_ip) except? 1:
        """slab_alloc_node(): memcg pre-charge (slab_pre_alloc_hook), the per-CPU fast path or
        ___slab_alloc, then slab_post_alloc_hook.  Returns the object address or 0."""
        cdef uint64_t objcg = 0, addr
        cdef kmem_cache_cpu* c
        cdef slab* sl
        cdef uint32_t obj
        cdef unsigned int idx
        cdef pfn_t head
        s.changes += 1
        if self.memcg_ops.pre_alloc != NULL and not self.nokmem and \
                ((gfp & GFP_ACCOUNT_) or (s.flags & SLAB_ACCOUNT)):
            if self.memcg_ops.pre_alloc(self.memcg_ops.ctx, s, gfp, &objcg) != 0:
                s.nr_alloc_fail += 1
                return 0
        c = &s.cpu_slab[self.cur.cpu]
        sl = c.page
        obj = c.freelist
        if sl != NULL and obj != FP_END and (node == NUMA_NO_NODE or sl.node == node):
            c.freelist = sl.fp[obj]
            sl.fp[obj] = FP_ALLOCATED
            c.alloc_fastpath += 1
            s.nr_allocated += 1
            addr = C_PAGE_OFFSET + (sl.pfn << PAGE_SHIFT) + s.red_left_pad + <uint64_t>obj * s.size
        else:
            addr = self.slab_alloc_slowpath(s, gfp, node, c)
        if objcg != 0 and self.memcg_ops.post_alloc != NULL:
            if addr:
                sl = self.virt_to_slab(addr, &idx, &head)
                if self.memcg_ops.post_alloc(self.memcg_ops.ctx, s, objcg, head, idx, addr) != 0:
                    self.slab_free(s, sl, idx)          # memcg_alloc_abort_single() (v6.x)
                    s.nr_alloc_fail += 1
                    addr = 0
            else:
                self.memcg_ops.post_alloc(self.memcg_ops.ctx, s, objcg, NO_PFN, 0, 0)
        if addr and self.pm.kasan.slab_alloc != NULL:
            addr = self.pm.kasan.slab_alloc(self.pm.kasan.ctx, s, addr, gfp, ret_ip)   # kasan_slab_alloc
        return addr

    cdef uint64_t slab_alloc_slowpath(self, KmemCache s, gfp_t gfp, int node,
                                      kmem_cache_cpu* c) except? 1:
        """___slab_alloc(): refill c->freelist from the objects freed to c->page meanwhile
        (get_freelist), else drop c->page (deactivate_slab on a node mismatch) and take a
        partial slab (get_partial) or a new one (new_slab)."""
        cdef slab* sl = c.page
        cdef uint32_t obj
        c.alloc_slowpath += 1
        if sl != NULL:
            if node != NUMA_NO_NODE and sl.node != node:
                obj = c.freelist
                c.page = NULL
                c.freelist = FP_END
                self.deactivate_slab(s, sl, obj)
                sl = NULL
            else:
                # get_freelist(): c->freelist is empty; take page->freelist, unfreeze if none
                obj = sl.freelist
                sl.freelist = FP_END
                sl.inuse = sl.objects
                if obj == FP_END:
                    sl.frozen = 0               # deactivate_bypass: full, on no list
                    c.page = NULL
                    sl = NULL
                else:
                    c.freelist = obj
        if sl == NULL:
            sl = self.get_partial(s, node)
            if sl == NULL:
                sl = self.new_slab(s, gfp, node)
                if sl == NULL:
                    s.nr_alloc_fail += 1        # slab_out_of_memory()
                    return 0
            # acquire_slab() / new_slab_objects(): the slab's free list moves to the CPU
            c.page = sl
            c.freelist = sl.freelist
            sl.freelist = FP_END
            sl.inuse = sl.objects
            sl.frozen = 1
        obj = c.freelist
        c.freelist = sl.fp[obj]
        sl.fp[obj] = FP_ALLOCATED
        s.nr_allocated += 1
        return C_PAGE_OFFSET + (sl.pfn << PAGE_SHIFT) + s.red_left_pad + <uint64_t>obj * s.size

    cdef slab* get_partial_node(self, KmemCache s, int nid) noexcept:
        """get_partial_node() without per-CPU partials: the first slab of n->partial."""
        cdef kmem_cache_node* n = &s.node[nid]
        cdef slab* sl
        if n.partial == NIL32:
            return NULL
        sl = <slab*>self.pm.mem_map[n.partial].private
        self.pm.list_del(&n.partial, sl.pfn)
        n.nr_partial -= 1
        sl.on_partial = 0
        return sl

    cdef slab* get_partial(self, KmemCache s, int node) noexcept:
        """get_partial(): the requested (or this CPU's) node, then for NUMA_NO_NODE the other
        nodes holding more than min_partial partial slabs (get_any_partial)."""
        cdef int searchnode = node if node != NUMA_NO_NODE else self.pm.cpu_node[self.cur.cpu]
        cdef int i, nid
        cdef slab* sl = self.get_partial_node(s, searchnode)
        if sl != NULL or node != NUMA_NO_NODE:
            return sl
        for i in range(1, self.nr_nodes):
            nid = (searchnode + i) % self.nr_nodes
            if s.node[nid].nr_partial > s.min_partial:
                sl = self.get_partial_node(s, nid)
                if sl != NULL:
                    return sl
        return NULL

    cdef slab* new_slab(self, KmemCache s, gfp_t gfp, int node) except? NULL:
        """new_slab() + allocate_slab(): pages from the buddy allocator (the preferred order
        with __GFP_NOWARN|__GFP_NORETRY, and without reclaim if that is above s->min; then
        s->min), PG_slab, the free list in address order, frozen for the CPU."""
        cdef gfp_t flags, alloc_gfp
        cdef unsigned int order = s.order, objects = s.objects, i
        cdef pfn_t pfn
        cdef slab* sl
        cdef page* p
        cdef kmem_cache_node* n
        s.changes += 1
        if gfp & GFP_SLAB_BUG_MASK:
            gfp &= ~GFP_SLAB_BUG_MASK           # kmalloc_fix_flags()
        flags = (gfp & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)) | s.allocflags
        alloc_gfp = (flags | GFP_NOWARN_ | GFP_NORETRY_) & ~GFP_NOFAIL_
        if (alloc_gfp & GFP_DIRECT_RECLAIM_) and order > s.min_order:
            alloc_gfp = (alloc_gfp | GFP_NOMEMALLOC_) & ~(GFP_RECLAIM_BITS | GFP_NOFAIL_)
        pfn = self.pm.alloc_pages(alloc_gfp, order, node)
        if pfn == NO_PFN:
            order = s.min_order
            objects = s.min_objects
            pfn = self.pm.alloc_pages(flags, order, node)
            if pfn == NO_PFN:
                return NULL
        sl = <slab*>malloc(sizeof(slab) + objects * sizeof(uint16_t))
        if sl == NULL:
            self.pm.free_pages(pfn, order)
            raise MemoryError("no host memory for a slab's free list")
        sl.fp = <uint16_t*>(<char*>sl + sizeof(slab))
        for i in range(objects - 1):
            sl.fp[i] = <uint16_t>(i + 1)
        sl.fp[objects - 1] = FP_END
        sl.pfn = pfn
        sl.cache_id = s.id
        sl.freelist = 0
        sl.objects = <uint16_t>objects
        sl.inuse = <uint16_t>objects
        sl.frozen = 1
        sl.on_partial = 0
        sl.order = <uint8_t>order
        sl.node = <uint8_t>self.pm.page_to_nid(pfn)
        p = &self.pm.mem_map[pfn]
        p.flags |= 1ULL << PG_slab
        p.mapping = s.addr
        p.private = <uint64_t>sl
        sl.prev_all = NULL
        sl.next_all = s.all_slabs
        if s.all_slabs != NULL:
            s.all_slabs.prev_all = sl
        s.all_slabs = sl
        n = &s.node[sl.node]                    # inc_slabs_node()
        n.nr_slabs += 1
        n.total_objects += objects
        if s.flags & SLAB_RECLAIM_ACCOUNT:      # account_slab_page(): NR_SLAB_*_B
            self.slab_pages_reclaimable[sl.node] += 1ULL << order
            mod_node_page_state(self.pm.vs, sl.node, NR_SLAB_RECLAIMABLE_B, <int64_t>PAGE_SIZE << order)
        else:
            self.slab_pages_unreclaimable[sl.node] += 1ULL << order
            mod_node_page_state(self.pm.vs, sl.node, NR_SLAB_UNRECLAIMABLE_B, <int64_t>PAGE_SIZE << order)
        if self.pm.kasan.poison_slab != NULL:   # kasan_poison_slab, then setup_object's
            self.pm.kasan.poison_slab(self.pm.kasan.ctx, s, pfn, order)
            if self.pm.kasan.init_slab_obj != NULL:
                for i in range(objects):
                    self.pm.kasan.init_slab_obj(self.pm.kasan.ctx, s,
                                                C_PAGE_OFFSET + (pfn << PAGE_SHIFT) + s.red_left_pad + <uint64_t>i * s.size)
        return sl

    # -- the free path -------------------------------------------------------------------------
    cdef int slab_free(self, KmemCache s, slab* sl, unsigned int idx) except -1:
        """do_slab_free(): onto c->freelist if the object is in this CPU's slab, else
        __slab_free(): onto the page's free list; a frozen slab stays with its CPU, a full one
        becomes partial, an empty one is discarded once the node has min_partial partials."""
        cdef kmem_cache_cpu* c = &s.cpu_slab[self.cur.cpu]
        cdef kmem_cache_node* n
        cdef uint16_t prior
        s.nr_allocated -= 1
        s.changes += 1
        if c.page == sl:
            sl.fp[idx] = <uint16_t>c.freelist
            c.freelist = idx
            c.free_fastpath += 1
            return 0
        c.free_slowpath += 1
        n = &s.node[sl.node]
        prior = sl.freelist
        sl.fp[idx] = prior
        sl.freelist = <uint16_t>idx
        sl.inuse -= 1
        if sl.frozen:
            return 0
        if sl.inuse == 0 and n.nr_partial >= s.min_partial:
            if prior != FP_END:                 # slab_empty: it was on the partial list
                self.pm.list_del(&n.partial, sl.pfn)
                n.nr_partial -= 1
                sl.on_partial = 0
            return self.discard_slab(s, sl)
        if prior == FP_END:                     # was full: add_partial(n, page, TAIL)
            self.pm.list_add_tail(&n.partial, sl.pfn)
            n.nr_partial += 1
            sl.on_partial = 1
        return 0

    cdef int deactivate_slab(self, KmemCache s, slab* sl, uint32_t freelist) except -1:
        """deactivate_slab(): splice the CPU's free list in front of the page's, unfreeze, and
        put the slab on the partial list (tail if others freed into it meanwhile), on no list
        if full, or discard it if empty and the node has min_partial partials."""
        cdef kmem_cache_node* n = &s.node[sl.node]
        cdef int tail = DEACTIVATE_TO_TAIL if sl.freelist != FP_END else DEACTIVATE_TO_HEAD
        cdef uint32_t it = freelist, last = FP_END
        cdef unsigned int free_delta = 0
        s.changes += 1
        while it != FP_END:
            last = it
            free_delta += 1
            it = sl.fp[it]
        if last != FP_END:
            sl.fp[last] = sl.freelist
            sl.freelist = <uint16_t>freelist
            sl.inuse -= free_delta
        sl.frozen = 0
        if sl.inuse == 0 and n.nr_partial >= s.min_partial:
            return self.discard_slab(s, sl)
        if sl.freelist != FP_END:
            if tail == DEACTIVATE_TO_TAIL:
                self.pm.list_add_tail(&n.partial, sl.pfn)
            else:
                self.pm.list_add(&n.partial, sl.pfn)
            n.nr_partial += 1
            sl.on_partial = 1
        return 0

    cdef int discard_slab(self, KmemCache s, slab* sl) except -1:
        """discard_slab(): dec_slabs_node, then free_slab (after a grace period for RCU)."""
        cdef kmem_cache_node* n = &s.node[sl.node]
        s.changes += 1
        n.nr_slabs -= 1
        n.total_objects -= sl.objects
        if sl.prev_all != NULL:
            sl.prev_all.next_all = sl.next_all
        else:
            s.all_slabs = sl.next_all
        if sl.next_all != NULL:
            sl.next_all.prev_all = sl.prev_all
        if s.flags & SLAB_TYPESAFE_BY_RCU:      # call_rcu(&page->rcu_head, rcu_free_slab)
            sl.prev_all = NULL
            sl.next_all = self.rcu_pending
            self.rcu_pending = sl
            return 0
        return self.free_slab_pages(sl, s.flags)

    cdef int free_slab_pages(self, slab* sl, unsigned int flags) except -1:
        """__free_slab(): clear PG_slab and page->slab_cache, unaccount_slab_page (the memcg
        objcg vector goes too), __free_pages (mm_page_free)."""
        cdef pfn_t pfn = sl.pfn
        cdef unsigned int order = sl.order
        cdef page* p = &self.pm.mem_map[pfn]
        p.flags &= ~(1ULL << PG_slab)
        p.mapping = 0
        p.private = 0
        if (p.memcg_data & MEMCG_DATA_OBJCGS) and self.memcg_ops.free_slab != NULL:
            self.memcg_ops.free_slab(self.memcg_ops.ctx, pfn)      # memcg_free_slab_cgroups()
        p.memcg_data = 0
        if flags & SLAB_RECLAIM_ACCOUNT:         # unaccount_slab_page()
            self.slab_pages_reclaimable[sl.node] -= 1ULL << order
            mod_node_page_state(self.pm.vs, sl.node, NR_SLAB_RECLAIMABLE_B, -(<int64_t>PAGE_SIZE << order))
        else:
            self.slab_pages_unreclaimable[sl.node] -= 1ULL << order
            mod_node_page_state(self.pm.vs, sl.node, NR_SLAB_UNRECLAIMABLE_B, -(<int64_t>PAGE_SIZE << order))
        free(sl)
        return self.pm.free_pages(pfn, order)

    cdef int flush_all(self, KmemCache s) except -1:
        """flush_all(): deactivate every CPU's slab."""
        cdef int cpu
        cdef kmem_cache_cpu* c
        cdef slab* sl
        cdef uint32_t fl
        s.changes += 1
        for cpu in range(self.ncpus):
            c = &s.cpu_slab[cpu]
            if c.page != NULL:
                sl = c.page
                fl = c.freelist
                c.page = NULL
                c.freelist = FP_END
                self.deactivate_slab(s, sl, fl)
        return 0

    # -- object lookup -------------------------------------------------------------------------
    cdef pfn_t virt_to_head(self, uint64_t addr) except? 0xfffffffffffffffe:
        """virt_to_head_page(): the head pfn of the (compound) page holding ``addr``; raises for
        addresses outside the direct map."""
        cdef pfn_t pfn
        if addr < C_PAGE_OFFSET or addr - C_PAGE_OFFSET >= (self.pm.max_pfn << PAGE_SHIFT):
            raise ValueError(f"slab: {addr:#x} is not a direct-map address of this machine; "
                             f"pass an address returned by kmalloc or cache_alloc")
        pfn = (addr - C_PAGE_OFFSET) >> PAGE_SHIFT
        if self.pm.mem_map[pfn].flags & (1ULL << PG_tail):
            pfn = self.pm.mem_map[pfn].compound_head
        return pfn

    cdef slab* virt_to_slab(self, uint64_t addr, unsigned int* idx, pfn_t* head) except? NULL:
        """virt_to_head_page() + obj_to_index(): the slab holding ``addr`` (NULL, with *head
        set, if the head page is not a slab page).  Raises for addresses outside the direct map
        and for pointers that are not the start of an object."""
        cdef uint64_t off
        cdef pfn_t pfn
        cdef page* p
        cdef slab* sl
        cdef KmemCache s
        if addr < C_PAGE_OFFSET or addr - C_PAGE_OFFSET >= (self.pm.max_pfn << PAGE_SHIFT):
            raise ValueError(f"slab: {addr:#x} is not a direct-map address of this machine; "
                             f"pass an address returned by kmalloc or cache_alloc")
        pfn = (addr - C_PAGE_OFFSET) >> PAGE_SHIFT
        p = &self.pm.mem_map[pfn]
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.pm.mem_map[pfn]
        head[0] = pfn
        if not (p.flags & (1ULL << PG_slab)):
            return NULL
        sl = <slab*>p.private
        s = self.cache_of_page(pfn)
        off = addr - C_PAGE_OFFSET - (pfn << PAGE_SHIFT)
        if off < s.red_left_pad or (off - s.red_left_pad) % s.size != 0 or \
                (off - s.red_left_pad) // s.size >= sl.objects:
            raise ValueError(f"slab: {addr:#x} is inside {s.name} slab {pfn:#x} but not at the "
                             f"start of an object; free the pointer the allocation returned")
        idx[0] = <unsigned int>((off - s.red_left_pad) // s.size)
        return sl

    cdef bint kasan_slab_free(self, KmemCache s, uint64_t addr, uint64_t ret_ip) except -1:
        """slab_free_hook() -> kasan_slab_free(): True when KASAN reported an invalid or double
        free and the object must not go back to the allocator."""
        if self.pm.kasan.slab_free != NULL:
            return self.pm.kasan.slab_free(self.pm.kasan.ctx, s, addr, ret_ip) != 0
        return False

    cdef int object_free(self, KmemCache s, slab* sl, unsigned int idx, pfn_t head,
                         uint64_t addr) except -1:
        """slab_free(): memcg_slab_free_hook, then do_slab_free."""
        if sl.fp[idx] != FP_ALLOCATED:
            raise ValueError(f"slab: double free of {addr:#x} in {s.name}; "
                             f"free each object once")
        if self.memcg_ops.free_hook != NULL:
            self.memcg_ops.free_hook(self.memcg_ops.ctx, s, head, idx)
        return self.slab_free(s, sl, idx)

    # -- kmem_cache_alloc / kmem_cache_free / kmalloc / kfree (C entry points) -------------------
    cdef uint64_t kmem_cache_alloc_node(self, KmemCache s, gfp_t gfp, int node,
                                        uint64_t ret_ip) except? 1:
        """kmem_cache_alloc() / kmem_cache_alloc_node(): object, then the tracepoint."""
        cdef uint64_t ret = self.slab_alloc_node(s, gfp, node, ret_ip)
        cdef bint accounted = not self.nokmem and \
            ((gfp & GFP_ACCOUNT_) != 0 or (s.flags & SLAB_ACCOUNT) != 0)
        self.trace_alloc(EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_ALLOC_NODE, ret_ip, ret,
                         s.object_size, s.size, gfp, node, accounted, s)
        return ret

    cdef int kmem_cache_free(self, KmemCache s, uint64_t addr, uint64_t ret_ip) except -1:
        """kmem_cache_free(): free the object (possibly releasing its slab: mm_page_free), then
        the kmem_cache_free tracepoint with the cache name."""
        cdef unsigned int idx
        cdef KmemCache owner = None
        cdef pfn_t head
        cdef slab* sl
        cdef uint64_t vals[2]
        if addr == 0:
            raise ValueError(f"kmem_cache_free({s.name}): NULL object; "
                             f"free only what cache_alloc returned")
        head = self.virt_to_head(kasan_reset_tag(addr))
        if self.pm.mem_map[head].flags & (1ULL << PG_slab):
            owner = self.cache_of_page(head)
        if owner is not s:
            raise ValueError(f"kmem_cache_free({s.name}): {addr:#x} belongs to "
                             f"{owner.name if owner is not None else 'no slab cache'}; "
                             f"free it to the cache it came from")
        # slab_free_hook(): KASAN judges the pointer first (an interior or stale one is
        # reported and not freed), then the object is found by its index
        if not self.kasan_slab_free(s, addr, ret_ip):
            sl = self.virt_to_slab(kasan_reset_tag(addr), &idx, &head)
            self.object_free(s, sl, idx, head, kasan_reset_tag(addr))
        if self.tb.core[EV_KMEM_CACHE_FREE].enabled:
            vals[0] = ret_ip
            vals[1] = addr
            self.tb.emit(EV_KMEM_CACHE_FREE, self.cur.cpu, self.cur.pid, vals, s.name_c,
                         len(s.name_c))
        return 0

    cdef uint64_t kmalloc_node(self, size_t size, gfp_t gfp, int node, uint64_t ret_ip) except? 1:
        """__kmalloc() / __kmalloc_node(): kmalloc_large (kmalloc_order: the page allocator,
        order get_order(size), gfp | __GFP_COMP) above KMALLOC_MAX_CACHE_SIZE, ZERO_SIZE_PTR
        for 0, else an object of kmalloc_slab(size, gfp); the tracepoint gets the caller's gfp."""
        cdef KmemCache s
        cdef unsigned int order
        cdef gfp_t flags
        cdef pfn_t pfn
        cdef uint64_t ret = 0
        cdef bint accounted = not self.nokmem and (gfp & GFP_ACCOUNT_) != 0
        if size > KMALLOC_MAX_CACHE_SIZE:
            order = get_order(size)
            flags = gfp
            if flags & GFP_SLAB_BUG_MASK:
                flags &= ~GFP_SLAB_BUG_MASK
            pfn = self.pm.alloc_pages(flags | GFP_COMP_, order, node)
            if pfn != NO_PFN:
                ret = C_PAGE_OFFSET + (pfn << PAGE_SHIFT)
                self.large_pages[self.pm.page_to_nid(pfn)] += 1ULL << order
                mod_lruvec_page_state(self.pm.vs, &self.pm.mem_map[pfn], NR_SLAB_UNRECLAIMABLE_B,
                                      <int64_t>PAGE_SIZE << order)
                if self.pm.kasan.kmalloc_large != NULL:
                    ret = self.pm.kasan.kmalloc_large(self.pm.kasan.ctx, ret, size, flags, ret_ip)
            self.trace_alloc(EV_KMALLOC, EV_KMALLOC_NODE, ret_ip, ret, size,
                             <uint64_t>PAGE_SIZE << order, gfp, node, accounted, None)
            return ret
        if size == 0:
            return C_ZERO_SIZE_PTR
        s = self.kmalloc_slab(size, gfp)
        ret = self.slab_alloc_node(s, gfp, node, ret_ip)
        if ret and self.pm.kasan.kmalloc != NULL:
            ret = self.pm.kasan.kmalloc(self.pm.kasan.ctx, s, ret, size, gfp, ret_ip)   # kasan_kmalloc
        self.trace_alloc(EV_KMALLOC, EV_KMALLOC_NODE, ret_ip, ret, size, s.size, gfp, node,
                         accounted, None)
        return ret

    cdef int kfree_ip(self, uint64_t addr, uint64_t ret_ip) except -1:
        """kfree(): the tracepoint first (also for NULL and ZERO_SIZE_PTR, which then return);
        a slab object goes back to its cache, a kmalloc_order block to the page allocator
        (free_nonslab_page: mm_page_free after kfree)."""
        cdef uint64_t vals[2]
        cdef unsigned int idx
        cdef KmemCache s = None
        cdef pfn_t head
        cdef slab* sl
        cdef page* p
        cdef unsigned int order
        cdef bint live
        if self.tb.core[EV_KFREE].enabled:
            vals[0] = ret_ip
            vals[1] = addr
            self.tb.emit(EV_KFREE, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        if addr <= C_ZERO_SIZE_PTR:             # ZERO_OR_NULL_PTR()
            return 0
        head = self.virt_to_head(kasan_reset_tag(addr))
        if self.pm.mem_map[head].flags & (1ULL << PG_slab):
            s = self.cache_of_page(head)
            if self.kasan_slab_free(s, addr, ret_ip):   # slab_free_hook: reported, not freed
                return 0
            sl = self.virt_to_slab(kasan_reset_tag(addr), &idx, &head)
            return self.object_free(s, sl, idx, head, kasan_reset_tag(addr))
        p = &self.pm.mem_map[head]
        live = (p.flags & (1ULL << PG_head)) and \
            not (p.flags & ((1ULL << PG_buddy) | (1ULL << PG_pcp)))
        if self.pm.kasan.kfree_large != NULL and \
                self.pm.kasan.kfree_large(self.pm.kasan.ctx, addr, ret_ip):
            # free_nonslab_page(): v5.14 ignores kasan_kfree_large()'s verdict and frees the
            # compound page the pointer lies in; a block already free has nothing left to free
            # (the kernel would corrupt its free lists): memsim stops there
            if not live:
                return 0
        elif not live or kasan_reset_tag(addr) != C_PAGE_OFFSET + (head << PAGE_SHIFT):
            raise ValueError(f"kfree: {addr:#x} is neither a slab object nor a kmalloc'd "
                             f"compound page (already freed?); free what kmalloc returned")
        order = p.compound_order
        self.large_pages[self.pm.page_to_nid(head)] -= 1ULL << order
        mod_lruvec_page_state(self.pm.vs, p, NR_SLAB_UNRECLAIMABLE_B, -(<int64_t>PAGE_SIZE << order))
        return self.pm.free_pages(head, order)         # free_nonslab_page()

    # -- Python API ----------------------------------------------------------------------------
    cdef int _check_cpu(self) except -1:
        if not 0 <= self.cur.cpu < self.ncpus:
            raise ValueError(f"slab: current CPU {self.cur.cpu} is not one of the "
                             f"{self.ncpus} CPUs; set current to a task on a valid CPU")
        return 0

    cdef int _check_node(self, int node) except -1:
        if node != NUMA_NO_NODE and not 0 <= node < self.nr_nodes:
            raise ValueError(f"slab: node {node} does not exist; use -1 (any) or 0.."
                             f"{self.nr_nodes - 1}")
        return 0

    def cache_alloc(self, str name, gfp_t gfp, call_site, int node=NUMA_NO_NODE):
        """kmem_cache_alloc(_node)(cache ``name``, gfp) called from ``call_site`` (a kernel
        function name, or an address): the object's address, 0 if the allocation failed."""
        cdef KmemCache s = self._cache(name)
        self._check_cpu()
        self._check_node(node)
        return self.kmem_cache_alloc_node(s, gfp, node, self.site(call_site))

    def cache_free(self, str name, uint64_t addr, call_site):
        """kmem_cache_free(cache ``name``, addr) called from ``call_site``."""
        cdef KmemCache s = self._cache(name)
        self._check_cpu()
        self.kmem_cache_free(s, addr, self.site(call_site))

    def kmalloc(self, size_t size, gfp_t gfp, call_site, int node=NUMA_NO_NODE):
        """kmalloc(_node)(size, gfp) called from ``call_site``: the address, ZERO_SIZE_PTR (16)
        for size 0, 0 if the allocation failed."""
        self._check_cpu()
        self._check_node(node)
        if size >> 40:
            raise ValueError(f"kmalloc: size {size} is beyond any machine; ask for less")
        return self.kmalloc_node(size, gfp, node, self.site(call_site))

    def kfree(self, uint64_t addr, call_site):
        """kfree(addr) called from ``call_site``."""
        self._check_cpu()
        self.kfree_ip(addr, self.site(call_site))

    def ksize(self, uint64_t addr):
        """ksize(): the usable size of the object at ``addr`` (slab_ksize: s->size, the object
        size with red zones or poisoning, s->inuse for TYPESAFE_BY_RCU/STORE_USER caches; the
        compound page size for kmalloc_order blocks); 0 for NULL and ZERO_SIZE_PTR."""
        cdef unsigned int idx
        cdef KmemCache s = None
        cdef pfn_t head
        cdef slab* sl
        if addr <= C_ZERO_SIZE_PTR:
            return 0
        sl = self.virt_to_slab(addr, &idx, &head)
        if sl == NULL:
            if not (self.pm.mem_map[head].flags & (1ULL << PG_head)):
                raise ValueError(f"ksize: {addr:#x} is not a kmalloc'd object")
            return PAGE_SIZE << self.pm.mem_map[head].compound_order
        s = self.cache_of_page(head)
        if s.flags & (SLAB_RED_ZONE | SLAB_POISON | SLAB_KASAN):
            return s.object_size
        if s.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_STORE_USER):
            return s.inuse
        return s.size

    def object_info(self, uint64_t addr):
        """Where ``addr`` lives: dict(cache, slab_pfn, index, allocated), or
        dict(cache=None, pfn, order) for a kmalloc_order block.  A pointer with a KASAN tag is
        looked up as kfree() does (virt_to_slab(kasan_reset_tag(addr)))."""
        cdef unsigned int idx
        cdef KmemCache s = None
        cdef pfn_t head
        cdef slab* sl = self.virt_to_slab(kasan_reset_tag(addr), &idx, &head)
        if sl == NULL:
            return dict(cache=None, pfn=head, order=self.pm.mem_map[head].compound_order)
        s = self.cache_of_page(head)
        return dict(cache=s.name, slab_pfn=head, index=idx,
                    allocated=sl.fp[idx] == FP_ALLOCATED)

    def kmem_cache_shrink(self, str name):
        """kmem_cache_shrink(): flush the CPU slabs, free every empty partial slab and order the
        partial lists fullest first (__kmem_cache_do_shrink).  Returns 0 if no slab is left."""
        cdef KmemCache s = self._cache(name)
        cdef int nid, i
        cdef kmem_cache_node* n
        cdef slab* sl
        cdef uint32_t pfn
        self.flush_all(s)
        for nid in range(self.nr_nodes):
            n = &s.node[nid]
            promote = [[] for i in range(32)]
            rest = []
            discard = []
            while n.partial != NIL32:
                pfn = n.partial
                sl = <slab*>self.pm.mem_map[pfn].private
                self.pm.list_del(&n.partial, pfn)
                free_ = sl.objects - sl.inuse
                if free_ == sl.objects:
                    discard.append(pfn)
                elif free_ <= 32:
                    promote[free_ - 1].append(pfn)
                else:
                    rest.append(pfn)
            n.nr_partial = 0
            for bucket in promote + [rest]:
                for pfn in bucket:
                    self.pm.list_add_tail(&n.partial, pfn)
                    n.nr_partial += 1
            for pfn in discard:
                sl = <slab*>self.pm.mem_map[pfn].private
                sl.on_partial = 0
                self.discard_slab(s, sl)
        return 1 if s.all_slabs != NULL else 0

    def shrink_all(self):
        """kmem_cache_shrink() of every cache (what ``echo 1 > /sys/kernel/slab/*/shrink``
        does)."""
        for s in self.by_id:
            self.kmem_cache_shrink(s.name)

    def rcu_barrier(self):
        """rcu_barrier(): end the grace period of every SLAB_TYPESAFE_BY_RCU slab waiting to be
        freed (rcu_free_slab -> __free_slab); returns how many slabs were freed."""
        cdef slab* sl
        cdef int count = 0
        cdef KmemCache s
        while self.rcu_pending != NULL:
            sl = self.rcu_pending
            self.rcu_pending = sl.next_all
            s = <KmemCache>self.by_id[sl.cache_id]
            self.free_slab_pages(sl, s.flags)
            count += 1
        return count

    # -- statistics ----------------------------------------------------------------------------
    def slab_reclaimable_pages(self):
        """NR_SLAB_RECLAIMABLE_B / PAGE_SIZE over all nodes (/proc/meminfo SReclaimable)."""
        return sum(self.slab_pages_reclaimable[n] for n in range(self.nr_nodes))

    def slab_unreclaimable_pages(self):
        """NR_SLAB_UNRECLAIMABLE_B / PAGE_SIZE (SUnreclaim): slab pages of unreclaimable caches
        plus kmalloc_order blocks."""
        return sum(self.slab_pages_unreclaimable[n] + self.large_pages[n]
                   for n in range(self.nr_nodes))

    def nr_slab_pages(self):
        """/proc/meminfo Slab, in pages."""
        return self.slab_reclaimable_pages() + self.slab_unreclaimable_pages()

    def large_kmalloc_pages(self):
        return sum(self.large_pages[n] for n in range(self.nr_nodes))

    def rcu_pending_slabs(self):
        cdef int count = 0
        cdef slab* sl = self.rcu_pending
        while sl != NULL:
            count += 1
            sl = sl.next_all
        return count

    def slabinfo(self):
        """/proc/slabinfo (version 2.1, SLUB): newest cache first, as slab_caches is walked;
        objsize is the stride, tunables and sharedavail are 0."""
        lines = ["slabinfo - version: 2.1",
                 "# name            <active_objs> <num_objs> <objsize> <objperslab> "
                 "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata "
                 "<active_slabs> <num_slabs> <sharedavail>"]
        for s in reversed(self.by_id):
            nslabs = s.num_slabs
            lines.append("%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata "
                         "%6lu %6lu %6lu" % (s.name, s.active_objs, s.num_objs, s.size,
                                            s.objects, 1 << s.order, 0, 0, 0, nslabs, nslabs, 0))
        return "\n".join(lines) + "\n"

    def check_invariants(self, bint changed_only=False):
        """Per cache: allocated + free objects == the slabs' objects (each slab holds s->oo or
        s->min objects); page->inuse, frozen and partial-list membership agree with the free
        lists; node counters match; every slab page is PG_slab, owned by its cache, compound
        when order > 0.  Global: the NR_SLAB_* page counts match the slabs.  Returns the
        problems found (empty = ok).

        ``changed_only`` (the --check after each slice): a cache with no allocation, free or
        slab operation since its last check is not walked again; its slab pages as counted then
        go into the global counts."""
        problems = []
        cdef KmemCache s
        cdef slab* sl
        cdef page* p
        cdef int cpu, nid
        cdef uint64_t i, allocated, page_free, cpu_free, steps, total_alloc
        cdef uint32_t it, pfn, first
        cdef pfn_t tp
        cdef kmem_cache_cpu* c
        cdef kmem_cache_node* n
        rec = [0] * self.nr_nodes
        unrec = [0] * self.nr_nodes
        for s in self.by_id:
            if changed_only and s.checked_pages is not None and s.changes == s.checked_changes:
                for nid in range(self.nr_nodes):
                    rec[nid] += s.checked_pages[nid][0]
                    unrec[nid] += s.checked_pages[nid][1]
                continue
            crec = [0] * self.nr_nodes
            cunrec = [0] * self.nr_nodes
            nslabs = [0] * self.nr_nodes
            nobjs = [0] * self.nr_nodes
            npartial = [0] * self.nr_nodes
            cpu_of = {}
            for cpu in range(self.ncpus):
                c = &s.cpu_slab[cpu]
                if c.page != NULL:
                    cpu_of[<uint64_t>c.page] = cpu
                elif c.freelist != FP_END:
                    problems.append(f"{s.name}: cpu {cpu} has a free list but no slab")
            total_alloc = 0
            sl = s.all_slabs
            while sl != NULL:
                where = f"{s.name}: slab {sl.pfn:#x}"
                p = &self.pm.mem_map[sl.pfn]
                if not (p.flags & (1ULL << PG_slab)):
                    problems.append(f"{where}: head page is not PG_slab")
                if p.mapping != s.addr or p.private != <uint64_t>sl:
                    problems.append(f"{where}: page->slab_cache/private do not point at it")
                if p.flags & ((1ULL << PG_buddy) | (1ULL << PG_pcp)):
                    problems.append(f"{where}: page is free in the buddy allocator")
                if sl.order:
                    if not (p.flags & (1ULL << PG_head)) or p.compound_order != sl.order:
                        problems.append(f"{where}: order-{sl.order} slab is not a compound page")
                    for tp in range(sl.pfn + 1, sl.pfn + (1ULL << sl.order)):
                        if not (self.pm.mem_map[tp].flags & (1ULL << PG_tail)) or \
                                self.pm.mem_map[tp].compound_head != sl.pfn:
                            problems.append(f"{where}: page {tp:#x} is not its tail")
                            break
                if not ((sl.order == s.order and sl.objects == s.objects) or
                        (sl.order == s.min_order and sl.objects == s.min_objects)):
                    problems.append(f"{where}: order {sl.order} with {sl.objects} objects is "
                                    f"neither s->oo ({s.order}, {s.objects}) nor s->min")
                if sl.node != self.pm.page_to_nid(sl.pfn):
                    problems.append(f"{where}: node {sl.node} but the page is on node "
                                    f"{self.pm.page_to_nid(sl.pfn)}")
                allocated = 0
                for i in range(sl.objects):
                    if sl.fp[i] == FP_ALLOCATED:
                        allocated += 1
                page_free = 0
                it = sl.freelist
                steps = 0
                while it != FP_END and steps <= sl.objects:
                    if it >= sl.objects or sl.fp[it] == FP_ALLOCATED:
                        problems.append(f"{where}: page free list reaches a bad object {it}")
                        break
                    page_free += 1
                    it = sl.fp[it]
                    steps += 1
                cpu_free = 0
                key = <uint64_t>sl
                if key in cpu_of:
                    it = s.cpu_slab[<int>cpu_of[key]].freelist
                    steps = 0
                    while it != FP_END and steps <= sl.objects:
                        if it >= sl.objects or sl.fp[it] == FP_ALLOCATED:
                            problems.append(f"{where}: cpu free list reaches a bad object {it}")
                            break
                        cpu_free += 1
                        it = sl.fp[it]
                        steps += 1
                    if not sl.frozen:
                        problems.append(f"{where}: a CPU's slab but not frozen")
                elif sl.frozen:
                    problems.append(f"{where}: frozen but no CPU's slab")
                if allocated + page_free + cpu_free != sl.objects:
                    problems.append(f"{where}: {allocated} in use + {page_free} + {cpu_free} free "
                                    f"!= {sl.objects} objects")
                if sl.inuse != sl.objects - page_free:
                    problems.append(f"{where}: inuse {sl.inuse} but {page_free} objects on the "
                                    f"page free list of {sl.objects}")
                if not sl.frozen and (page_free > 0) != bool(sl.on_partial):
                    problems.append(f"{where}: {page_free} free objects but "
                                    f"{'' if sl.on_partial else 'not '}on the partial list")
                if sl.frozen and sl.on_partial:
                    problems.append(f"{where}: frozen and on the partial list")
                total_alloc += allocated
                nslabs[sl.node] += 1
                nobjs[sl.node] += sl.objects
                if sl.on_partial:
                    npartial[sl.node] += 1
                if s.flags & SLAB_RECLAIM_ACCOUNT:
                    crec[sl.node] += 1 << sl.order
                else:
                    cunrec[sl.node] += 1 << sl.order
                sl = sl.next_all
            s.checked_pages = list(zip(crec, cunrec))
            s.checked_changes = s.changes
            for nid in range(self.nr_nodes):
                rec[nid] += crec[nid]
                unrec[nid] += cunrec[nid]
            if total_alloc != s.nr_allocated:
                problems.append(f"{s.name}: {total_alloc} objects in use in the slabs but "
                                f"{s.nr_allocated} allocated")
            for nid in range(self.nr_nodes):
                n = &s.node[nid]
                if n.nr_slabs != nslabs[nid] or n.total_objects != nobjs[nid]:
                    problems.append(f"{s.name}: node {nid} counts {n.nr_slabs} slabs/"
                                    f"{n.total_objects} objects but has {nslabs[nid]}/{nobjs[nid]}")
                count = 0
                first = n.partial
                pfn = first
                while pfn != NIL32:
                    p = &self.pm.mem_map[pfn]
                    if not (p.flags & (1ULL << PG_slab)) or p.mapping != s.addr or \
                            not (<slab*>p.private).on_partial or (<slab*>p.private).node != nid:
                        problems.append(f"{s.name}: node {nid} partial list holds {pfn:#x}, not "
                                        f"a partial slab of this cache and node")
                        break
                    count += 1
                    pfn = p.lru_next
                    if pfn == first or count > n.nr_slabs:
                        break
                if count != n.nr_partial or count != npartial[nid]:
                    problems.append(f"{s.name}: node {nid} nr_partial {n.nr_partial}, list holds "
                                    f"{count}, {npartial[nid]} slabs marked partial")
        sl = self.rcu_pending
        while sl != NULL:
            s = <KmemCache>self.by_id[sl.cache_id]
            if s.flags & SLAB_RECLAIM_ACCOUNT:
                rec[sl.node] += 1 << sl.order
            else:
                unrec[sl.node] += 1 << sl.order
            sl = sl.next_all
        for nid in range(self.nr_nodes):
            if rec[nid] != self.slab_pages_reclaimable[nid] or \
                    unrec[nid] != self.slab_pages_unreclaimable[nid]:
                problems.append(f"slab: node {nid} NR_SLAB_RECLAIMABLE/UNRECLAIMABLE count "
                                f"{self.slab_pages_reclaimable[nid]}/"
                                f"{self.slab_pages_unreclaimable[nid]} pages but the slabs hold "
                                f"{rec[nid]}/{unrec[nid]}")
        return problems
