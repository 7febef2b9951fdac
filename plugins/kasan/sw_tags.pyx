# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Software tag-based KASAN in C: the shadow, the tag generator, the allocator hooks, the check.

What each part models (Linux v5.14, kasan.md):

* pointers carry a tag in their top byte (arm64 Top Byte Ignore; memsim puts it in the top byte
  of its x86-64 direct-map addresses, 0xffff888000000000 + (pfn << 12), so a pointer tagged 0x31
  reads 0x31ff888...).  :func:`kasan_reset_tag` gives back the native tag 0xFF (bit 55 sign
  extended, ``__tag_reset``);
* one shadow byte per 16-byte granule of the direct map (``kasan_mem_to_shadow``).  A page whose
  granules share one value keeps one byte (``ptag``); 256 bytes only once a page is split (a slab
  page, a large kmalloc's tail).  Kernel addresses outside memory read ``KASAN_SHADOW_INIT`` (the
  early shadow page); addresses below the kernel half have no shadow;
* ``kasan_random_tag``: a per-CPU LCG, ``state = 1664525 * state + 1013904223``, tag = state % 254;
* the ops of ``PhysMem.kasan`` (memsim/physmem.pxd): ``__kasan_unpoison_pages`` /
  ``__kasan_poison_pages``, ``__kasan_poison_slab``, ``__kasan_init_slab_obj``,
  ``__kasan_slab_alloc``, ``____kasan_kmalloc``, ``__kasan_kmalloc_large``,
  ``____kasan_slab_free``, ``____kasan_kfree_large`` and ``kasan_check_range``.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, PAGE_SHIFT, PG_slab, PG_head, PG_tail, PG_buddy, PG_pcp
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.slab cimport KmemCache, slab, SLAB_TYPESAFE_BY_RCU, FP_ALLOCATED
from memsim.task cimport Current

cdef uint64_t TOP_BYTE = 0xff00000000000000ULL
cdef uint64_t DIRECT_MAP = 0xffff888000000000ULL   # PAGE_OFFSET of memsim's x86-64 layout
cdef uint64_t SHADOWED_START = 0xffff800000000000ULL   # shadow_to_mem(KASAN_SHADOW_START): the
                                                    # kernel half (arm64: 0xffff000000000000)
cdef uint64_t PAGE_BYTES = 4096


cdef inline uint8_t get_tag(uint64_t p) noexcept nogil:
    """__tag_get(): the pointer's top byte."""
    return <uint8_t>(p >> 56)


cdef inline uint64_t set_tag(uint64_t p, uint8_t tag) noexcept nogil:
    """__tag_set(): the pointer with ``tag`` in its top byte."""
    return (p & ~TOP_BYTE) | (<uint64_t>tag << 56)


cdef inline uint64_t reset_tag(uint64_t p) noexcept nogil:
    """kasan_reset_tag() / __tag_reset(): bit 55 sign-extended into the top byte (0xFF for every
    kernel address)."""
    if p & (1ULL << 55):
        return p | TOP_BYTE
    return p & ~TOP_BYTE


cdef inline uint64_t round_up16(uint64_t x) noexcept nogil:
    return (x + KASAN_GRANULE_SIZE - 1) & ~(<uint64_t>KASAN_GRANULE_SIZE - 1)


def kasan_reset_tag(uint64_t p):
    return reset_tag(p)


def kasan_set_tag(uint64_t p, unsigned int tag):
    return set_tag(p, <uint8_t>tag)


cdef class KasanHost:
    """The shadow of one machine and the KASAN ops installed in its ``PhysMem.kasan``."""

    def __cinit__(self, PhysMem pm, Current cur, int ncpus, uint64_t seed, bint tag_fe):
        cdef int c
        cdef uint64_t x
        self.pm = pm
        self.cur = cur
        self.max_pfn = pm.max_pfn
        self.ncpus = ncpus
        self.shadow_init = KASAN_TAG_INVALID if tag_fe else KASAN_TAG_KERNEL
        self.ptag = <uint8_t*>malloc(self.max_pfn + 1)
        self.gran = <uint8_t**>calloc(self.max_pfn + 1, sizeof(uint8_t*))
        self.meta = <alloc_meta**>calloc(self.max_pfn + 1, sizeof(alloc_meta*))
        self.meta_n = <uint16_t*>calloc(self.max_pfn + 1, sizeof(uint16_t))
        self.rng = <uint32_t*>calloc(ncpus, sizeof(uint32_t))
        if self.ptag == NULL or self.gran == NULL or self.meta == NULL or self.meta_n == NULL \
                or self.rng == NULL:
            raise MemoryError("kasan: no host memory for the shadow")
        # kasan_init(): the shadow is mapped and filled with KASAN_SHADOW_INIT
        memset(self.ptag, self.shadow_init, self.max_pfn + 1)
        # kasan_init_sw_tags(): each CPU's state seeded from its cycle counter; memsim derives it
        # from the machine's seed (splitmix64), never from the scheduler's generator
        for c in range(ncpus):
            x = seed * 0x9E3779B97F4A7C15ULL + <uint64_t>(c + 1) * 0xBF58476D1CE4E5B9ULL
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
            self.rng[c] = <uint32_t>(x ^ (x >> 31))

    def __dealloc__(self):
        cdef pfn_t i
        if self.gran != NULL:
            for i in range(self.max_pfn + 1):
                free(self.gran[i])
        if self.meta != NULL:
            for i in range(self.max_pfn + 1):
                free(self.meta[i])
        free(self.gran)
        free(self.meta)
        free(self.meta_n)
        free(self.ptag)
        free(self.rng)

    # -- install ---------------------------------------------------------------------------------
    def install(self, slab_allocator=None):
        """Fill ``PhysMem.kasan`` with these ops, then tag what the machine allocated before KASAN
        was installed (memsim builds the slab's boot caches first; the kernel's kasan_init runs
        before them): each in-use block gets a tag, slab pages their poisoned shadow, metadata
        and a tag for each live object.  Free pages keep KASAN_SHADOW_INIT: memory handed to the
        buddy allocator at boot is not poisoned in tag-based modes (__free_pages_core's
        FPI_SKIP_KASAN_POISON, the follow-up of the seed change)."""
        cdef pfn_t pfn = 0
        cdef page* p
        cdef slab* sl
        cdef unsigned int i, order
        cdef uint64_t base
        cdef KmemCache c
        # page->slab_cache: memsim keeps the cache's address in the slab page's mapping
        caches = {k.addr: k for k in slab_allocator.caches()} if slab_allocator is not None else {}
        while pfn < self.max_pfn:
            p = &self.pm.mem_map[pfn]
            order = p.compound_order if p.flags & (1ULL << PG_head) else 0
            if p.flags & (1ULL << PG_slab) and slab_allocator is not None:
                sl = <slab*>p.private
                c = caches[p.mapping]
                self._poison_slab_pages(pfn, order, sl.objects)
                base = DIRECT_MAP + (pfn << PAGE_SHIFT) + c.red_left_pad
                for i in range(sl.objects):
                    if sl.fp[i] == FP_ALLOCATED:
                        self.set_shadow(base + <uint64_t>i * c.size, round_up16(c.object_size),
                                        self.random_tag())
            elif p._refcount > 0 and not (p.flags & ((1ULL << PG_tail) | (1ULL << PG_buddy))):
                self._unpoison_pages(pfn, order)
            pfn += 1ULL << order
        self.pm.kasan.ctx = <void*>self
        self.pm.kasan.alloc_pages = _alloc_pages
        self.pm.kasan.free_pages = _free_pages
        self.pm.kasan.poison_slab = _poison_slab
        self.pm.kasan.init_slab_obj = _init_slab_obj
        self.pm.kasan.slab_alloc = _slab_alloc
        self.pm.kasan.kmalloc = _kmalloc
        self.pm.kasan.kmalloc_large = _kmalloc_large
        self.pm.kasan.slab_free = _slab_free
        self.pm.kasan.kfree_large = _kfree_large
        self.pm.kasan.check_range = _check_range

    def uninstall(self):
        memset(&self.pm.kasan, 0, sizeof(self.pm.kasan))

    # -- tags ------------------------------------------------------------------------------------
    cdef uint8_t random_tag(self) noexcept:
        """kasan_random_tag(): the next injected tag if a test queued one, else this CPU's LCG
        step, % (KASAN_TAG_MAX + 1)."""
        cdef int cpu = self.cur.cpu
        cdef uint8_t t
        self.draws += 1
        if self.n_inject > 0:
            t = self.inject[self.inject_head]
            self.inject_head = (self.inject_head + 1) % NR_INJECT
            self.n_inject -= 1
            return t
        if cpu < 0 or cpu >= self.ncpus:
            cpu = 0
        self.rng[cpu] = 1664525U * self.rng[cpu] + 1013904223U
        return <uint8_t>(self.rng[cpu] % (KASAN_TAG_MAX + 1))

    def next_tags(self, tags):
        """Queue tags for the next draws (lib/test_kasan.c cannot; memsim's tests can)."""
        for t in tags:
            if not 0 <= t <= 0xFF:
                raise ValueError(f"kasan: tag {t} is not a byte")
            if self.n_inject >= NR_INJECT:
                raise ValueError(f"kasan: at most {NR_INJECT} tags can wait to be drawn")
            self.inject[(self.inject_head + self.n_inject) % NR_INJECT] = <uint8_t>t
            self.n_inject += 1

    @property
    def pending_tags(self):
        return [self.inject[(self.inject_head + i) % NR_INJECT] for i in range(self.n_inject)]

    def draw(self, int cpu=-1):
        """One kasan_random_tag() on ``cpu`` (default: the current one)."""
        cdef int saved = self.cur.cpu
        if cpu >= 0:
            self.cur.cpu = cpu
        try:
            return self.random_tag()
        finally:
            self.cur.cpu = saved

    def rng_state(self, int cpu):
        return self.rng[cpu]

    def seed_cpu(self, int cpu, uint32_t state):
        """Set one CPU's generator state (the kernel seeds it with get_cycles())."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"kasan: CPU {cpu} does not exist")
        self.rng[cpu] = state

    # -- the shadow ------------------------------------------------------------------------------
    cdef uint8_t shadow(self, uint64_t addr) noexcept:
        """*kasan_mem_to_shadow(addr) for an untagged kernel address."""
        cdef uint64_t off
        cdef pfn_t pfn
        cdef uint8_t* g
        if addr < DIRECT_MAP:
            return self.shadow_init
        off = addr - DIRECT_MAP
        pfn = off >> PAGE_SHIFT
        if pfn >= self.max_pfn:
            return self.shadow_init
        g = self.gran[pfn]
        if g != NULL:
            return g[(off >> KASAN_GRANULE_SHIFT) & (PAGE_GRANULES - 1)]
        return self.ptag[pfn]

    cdef int set_shadow(self, uint64_t addr, uint64_t size, uint8_t value) except -1:
        """Write ``value`` to the shadow of [addr, addr + size) (untagged, granule aligned); the
        part outside memory has the read-only early shadow and is left alone."""
        cdef uint64_t off, end, page_end, n
        cdef pfn_t pfn
        cdef uint8_t* g
        if addr < DIRECT_MAP or size == 0:
            return 0
        off = addr - DIRECT_MAP
        end = off + size
        if end > (self.max_pfn << PAGE_SHIFT):
            end = self.max_pfn << PAGE_SHIFT
        while off < end:
            pfn = off >> PAGE_SHIFT
            page_end = (pfn + 1) << PAGE_SHIFT
            if (off & (PAGE_BYTES - 1)) == 0 and end >= page_end:
                self.ptag[pfn] = value          # the whole page: uniform again
                if self.gran[pfn] != NULL:
                    free(self.gran[pfn])
                    self.gran[pfn] = NULL
                off = page_end
                continue
            g = self.gran[pfn]
            if g == NULL:
                g = <uint8_t*>malloc(PAGE_GRANULES)
                if g == NULL:
                    raise MemoryError("kasan: no host memory for the shadow")
                memset(g, self.ptag[pfn], PAGE_GRANULES)
                self.gran[pfn] = g
            n = (page_end if end > page_end else end) - off
            memset(g + ((off & (PAGE_BYTES - 1)) >> KASAN_GRANULE_SHIFT), value, n >> KASAN_GRANULE_SHIFT)
            off += n
        return 0

    cdef int kasan_poison(self, uint64_t addr, uint64_t size, uint8_t value) except -1:
        """kasan_poison(): untag; a misaligned address or size WARNs and changes nothing."""
        addr = reset_tag(addr)
        if addr & (KASAN_GRANULE_SIZE - 1) or size & (KASAN_GRANULE_SIZE - 1):
            self.warnings += 1
            if self.reporter is not None:
                self.reporter.warn("kasan_poison", addr, size)
            return 1
        self.poison_calls += 1
        self.set_shadow(addr, size, value)
        return 0

    cdef int kasan_unpoison(self, uint64_t addr, uint64_t size) except -1:
        """kasan_unpoison(): the pointer's tag over round_up(size, 16) bytes (SW_TAGS has no
        partial granules); a misaligned address WARNs and changes nothing."""
        cdef uint8_t tag = get_tag(addr)
        addr = reset_tag(addr)
        if addr & (KASAN_GRANULE_SIZE - 1):
            self.warnings += 1
            if self.reporter is not None:
                self.reporter.warn("kasan_unpoison", addr, size)
            return 1
        self.unpoison_calls += 1
        self.set_shadow(addr, round_up16(size), tag)
        return 0

    cdef bint byte_accessible(self, uint64_t ptr) noexcept:
        """kasan_byte_accessible(): the address has shadow and the tag is 0xFF or matches."""
        cdef uint8_t tag = get_tag(ptr)
        cdef uint64_t addr = reset_tag(ptr)
        if addr < SHADOWED_START:
            return False
        return tag == KASAN_TAG_KERNEL or tag == self.shadow(addr)

    # -- the checked access ----------------------------------------------------------------------
    cdef int check_range(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1:
        """kasan_check_range() (sw_tags.c): 0 = valid, 1 = a report was printed."""
        cdef uint8_t tag
        cdef uint64_t a, g, last
        cdef pfn_t pfn
        cdef uint8_t* gp
        self.checks += 1
        if size == 0:
            return 0
        if addr + size < addr:
            return self.report(addr, size, write, ip)
        tag = get_tag(addr)
        if tag == KASAN_TAG_KERNEL:
            return 0
        a = reset_tag(addr)
        if a < SHADOWED_START:
            return self.report(addr, size, write, ip)
        g = a & ~(<uint64_t>KASAN_GRANULE_SIZE - 1)
        last = a + size - 1
        while g <= last:
            if g >= DIRECT_MAP and g - DIRECT_MAP < (self.max_pfn << PAGE_SHIFT):
                pfn = (g - DIRECT_MAP) >> PAGE_SHIFT
                gp = self.gran[pfn]
                if gp == NULL:                  # a uniform page: one comparison for all of it
                    if self.ptag[pfn] != tag:
                        return self.report(addr, size, write, ip)
                    g = DIRECT_MAP + ((pfn + 1) << PAGE_SHIFT)
                    continue
                if gp[((g - DIRECT_MAP) >> KASAN_GRANULE_SHIFT) & (PAGE_GRANULES - 1)] != tag:
                    return self.report(addr, size, write, ip)
            elif self.shadow_init != tag:
                return self.report(addr, size, write, ip)
            g += KASAN_GRANULE_SIZE
        return 0

    cdef int report(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1:
        """kasan_report(): 1 if the reporter printed it (report_enabled), else 0 (the access is
        then treated as valid)."""
        if self.reporter is None:
            return 1
        return 1 if self.reporter.access(addr, size, write, ip) else 0

    cdef int report_invalid_free(self, uint64_t ptr, uint64_t ip) except -1:
        if self.reporter is not None:
            self.reporter.invalid_free(ptr, ip)
        return 1

    # -- slab objects ------------------------------------------------------------------------------
    cdef uint64_t nearest_obj(self, object s, pfn_t head, uint64_t addr) noexcept:
        """nearest_obj() (SLUB): the start of the slot ``addr`` lies in, the last slot for an
        address past it (red_left_pad added back, fixup_red_left)."""
        cdef KmemCache c = <KmemCache>s
        cdef slab* sl = <slab*>self.pm.mem_map[head].private
        cdef uint64_t base = DIRECT_MAP + (head << PAGE_SHIFT)
        cdef uint64_t idx = (addr - base) // c.size
        if addr < base:
            idx = 0
        if sl != NULL and idx > <uint64_t>(sl.objects - 1):
            idx = sl.objects - 1
        return base + idx * c.size + c.red_left_pad

    cdef alloc_meta* object_meta(self, object s, uint64_t obj) noexcept:
        """kasan_get_alloc_meta(): the metadata of the object starting at untagged ``obj``."""
        cdef KmemCache c = <KmemCache>s
        cdef pfn_t pfn = (obj - DIRECT_MAP) >> PAGE_SHIFT
        cdef pfn_t head = pfn
        cdef uint64_t idx
        if self.pm.mem_map[pfn].flags & (1ULL << PG_tail):
            head = self.pm.mem_map[pfn].compound_head
        if self.meta[head] == NULL:
            return NULL
        idx = (obj - DIRECT_MAP - (head << PAGE_SHIFT) - c.red_left_pad) // c.size
        if idx >= self.meta_n[head]:
            return NULL
        return &self.meta[head][idx]

    cdef int _unpoison_pages(self, pfn_t pfn, unsigned int order) except -1:
        """__kasan_unpoison_pages(): one random tag for the 2^order struct pages and the block."""
        cdef uint8_t tag = self.random_tag()
        cdef pfn_t i
        for i in range(pfn, pfn + (1ULL << order)):
            self.pm.mem_map[i].kasan_tag = tag ^ 0xFF     # page_kasan_tag_set()
        self.unpoison_calls += 1
        self.set_shadow(DIRECT_MAP + (pfn << PAGE_SHIFT), PAGE_BYTES << order, tag)
        return 0

    cdef int _poison_slab_pages(self, pfn_t pfn, unsigned int order, unsigned int objects) except -1:
        """__kasan_poison_slab(): the struct pages' tags reset to 0xFF, the slab's shadow
        KASAN_KMALLOC_REDZONE; plus memsim's per-slot metadata, zeroed (__kasan_init_slab_obj)."""
        cdef pfn_t i
        for i in range(pfn, pfn + (1ULL << order)):
            self.pm.mem_map[i].kasan_tag = 0                # page_kasan_tag_reset(): 0xFF
        self.poison_calls += 1
        self.set_shadow(DIRECT_MAP + (pfn << PAGE_SHIFT), PAGE_BYTES << order, KASAN_TAG_INVALID)
        free(self.meta[pfn])
        self.meta[pfn] = <alloc_meta*>calloc(objects if objects else 1, sizeof(alloc_meta))
        if self.meta[pfn] == NULL:
            raise MemoryError("kasan: no host memory for the object metadata")
        self.meta_n[pfn] = objects
        return 0

    # -- Python API (the report, the steps, the tests) ------------------------------------------
    def shadow_byte(self, uint64_t addr):
        """The shadow byte of ``addr`` (its tag is ignored)."""
        return self.shadow(reset_tag(addr))

    def shadow_bytes(self, uint64_t addr, unsigned int n):
        """``n`` shadow bytes from the granule of ``addr`` on (kasan_metadata_fetch_row)."""
        cdef uint64_t a = reset_tag(addr) & ~(<uint64_t>KASAN_GRANULE_SIZE - 1)
        cdef unsigned int i
        return bytes([self.shadow(a + <uint64_t>i * KASAN_GRANULE_SIZE) for i in range(n)])

    def has_shadow(self, uint64_t addr):
        return reset_tag(addr) >= SHADOWED_START

    def page_tag(self, pfn_t pfn):
        """page_kasan_tag()."""
        if pfn >= self.max_pfn:
            raise ValueError(f"kasan: pfn {pfn:#x} is beyond this machine")
        return self.pm.mem_map[pfn].kasan_tag ^ 0xFF

    def poison(self, uint64_t addr, uint64_t size, unsigned int value):
        """kasan_poison() (also __hwasan_tag_memory): False if it WARNed and did nothing."""
        return self.kasan_poison(addr, size, <uint8_t>value) == 0

    def unpoison(self, uint64_t addr, uint64_t size):
        """kasan_unpoison(): False if it WARNed and did nothing."""
        return self.kasan_unpoison(addr, size) == 0

    def check(self, uint64_t addr, uint64_t size, bint write=False, uint64_t ip=0):
        """kasan_check_range(): True if the access is valid (or its report was suppressed)."""
        return self.check_range(addr, size, write, ip) == 0

    def check_many(self, uint64_t addr, uint64_t size, bint write, uint64_t ip, uint64_t count,
                   int64_t stride):
        """``count`` checked accesses of ``size`` bytes, ``stride`` bytes apart (a loop over an
        array), all in C; returns how many were reported."""
        cdef uint64_t i, n = 0
        for i in range(count):
            n += self.check_range(addr + <uint64_t>(<int64_t>i * stride), size, write, ip)
        return n

    def accessible(self, uint64_t ptr):
        """kasan_byte_accessible()."""
        return self.byte_accessible(ptr)

    def object_info(self, object s, uint64_t addr):
        """The slab object nearest to ``addr`` in cache ``s`` (a KmemCache): its start and its
        alloc metadata, as kasan_get_alloc_meta() has it."""
        cdef uint64_t a = reset_tag(addr)
        cdef pfn_t pfn = (a - DIRECT_MAP) >> PAGE_SHIFT
        cdef pfn_t head = pfn
        cdef alloc_meta* m
        cdef int i
        if self.pm.mem_map[pfn].flags & (1ULL << PG_tail):
            head = self.pm.mem_map[pfn].compound_head
        obj = self.nearest_obj(s, head, a)
        m = self.object_meta(s, obj)
        if m == NULL:
            return dict(object=obj, alloc=None, frees=[], free_track_idx=0, preset_tag=0xFF)
        return dict(object=obj, alloc=(m.alloc_track.pid, m.alloc_track.ip),
                    frees=[(m.free_pointer_tag[i], m.free_track[i].pid, m.free_track[i].ip)
                           for i in range(KASAN_NR_FREE_STACKS)],
                    free_track_idx=m.free_track_idx, preset_tag=m.preset_tag)

    def check_slab_pages(self, int limit=10):
        """--check: every slab page has the tag kasan_poison_slab left (0xFF) and the metadata
        of each of its slots; returns up to ``limit`` "<where>: <problem>" strings."""
        cdef pfn_t pfn
        cdef page* p
        cdef slab* sl
        out = []
        for pfn in range(self.max_pfn):
            p = &self.pm.mem_map[pfn]
            if not (p.flags & (1ULL << PG_slab)) or (p.flags & (1ULL << PG_tail)):
                continue
            sl = <slab*>p.private
            if p.kasan_tag != 0:
                out.append(f"kasan: slab page {pfn:#x} has tag {p.kasan_tag ^ 0xFF:#04x}, not the "
                           f"0xff kasan_poison_slab leaves")
            elif sl != NULL and (self.meta[pfn] == NULL or self.meta_n[pfn] != sl.objects):
                out.append(f"kasan: slab page {pfn:#x} has metadata for {self.meta_n[pfn]} of its "
                           f"{sl.objects} objects")
            if len(out) >= limit:
                break
        return out

    def stats(self):
        return dict(checks=self.checks, tag_draws=self.draws, poison_calls=self.poison_calls,
                    unpoison_calls=self.unpoison_calls, warnings=self.warnings,
                    split_pages=sum(1 for i in range(self.max_pfn) if self.gran[i] != NULL))


# -- the ops ---------------------------------------------------------------------------------------
cdef int _alloc_pages(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1:
    """post_alloc_hook() -> kasan_unpoison_pages() (no HighMem on x86-64)."""
    return (<KasanHost>ctx)._unpoison_pages(pfn, order)


cdef int _free_pages(void* ctx, pfn_t pfn, unsigned int order) except -1:
    """free_pages_prepare() -> kasan_poison_pages(): KASAN_FREE_PAGE over the block; the struct
    page keeps its tag until the next allocation."""
    cdef KasanHost h = <KasanHost>ctx
    h.poison_calls += 1
    return h.set_shadow(DIRECT_MAP + (pfn << PAGE_SHIFT), PAGE_BYTES << order, KASAN_TAG_INVALID)


cdef int _poison_slab(void* ctx, object s, pfn_t pfn, unsigned int order) except -1:
    cdef KasanHost h = <KasanHost>ctx
    cdef slab* sl = <slab*>h.pm.mem_map[pfn].private
    return h._poison_slab_pages(pfn, order, sl.objects if sl != NULL else
                                (PAGE_BYTES << order) // (<KmemCache>s).size)


cdef uint64_t _init_slab_obj(void* ctx, object s, uint64_t obj) except? 0:
    """__kasan_init_slab_obj(): assign_tag(init=true): 0xFF for an ordinary cache, a random tag
    kept for the object's lifetime for a cache with a constructor or SLAB_TYPESAFE_BY_RCU (SLUB).
    (The constructor's temporary unpoisoning ends poisoned again: nothing to write.)"""
    cdef KasanHost h = <KasanHost>ctx
    cdef KmemCache c = <KmemCache>s
    cdef alloc_meta* m = h.object_meta(s, reset_tag(obj))
    cdef uint8_t tag = KASAN_TAG_KERNEL
    if c.ctor or (c.flags & SLAB_TYPESAFE_BY_RCU):
        tag = h.random_tag()
    if m != NULL:
        m.preset_tag = tag
    return set_tag(obj, tag)


cdef uint64_t _slab_alloc(void* ctx, object s, uint64_t obj, gfp_t gfp, uint64_t ip) except? 0:
    """__kasan_slab_alloc(): assign_tag(init=false), the whole object unpoisoned with it, the alloc
    track saved unless the cache is a kmalloc cache (kasan_kmalloc saves it)."""
    cdef KasanHost h = <KasanHost>ctx
    cdef KmemCache c = <KmemCache>s
    cdef uint64_t a = reset_tag(obj)
    cdef alloc_meta* m = h.object_meta(s, a)
    cdef uint8_t tag
    if c.ctor or (c.flags & SLAB_TYPESAFE_BY_RCU):
        tag = m.preset_tag if m != NULL else KASAN_TAG_KERNEL
    else:
        tag = h.random_tag()
    h.kasan_unpoison(set_tag(a, tag), c.object_size)
    if c.kmalloc_type < 0 and m != NULL:
        m.alloc_track.pid = h.cur.pid
        m.alloc_track.ip = ip
    return set_tag(a, tag)


cdef uint64_t _kmalloc(void* ctx, object s, uint64_t obj, uint64_t size, gfp_t gfp,
                       uint64_t ip) except? 0:
    """____kasan_kmalloc(): KASAN_KMALLOC_REDZONE over [round_up(obj + size), round_up(obj +
    object_size)), the alloc track saved; the tag is kasan_slab_alloc's."""
    cdef KasanHost h = <KasanHost>ctx
    cdef KmemCache c = <KmemCache>s
    cdef uint64_t a = reset_tag(obj)
    cdef uint64_t start = round_up16(a + size)
    cdef uint64_t end = round_up16(a + c.object_size)
    cdef alloc_meta* m
    if end > start:
        h.kasan_poison(start, end - start, KASAN_TAG_INVALID)
    m = h.object_meta(s, a)
    if m != NULL:
        m.alloc_track.pid = h.cur.pid
        m.alloc_track.ip = ip
    return obj


cdef uint64_t _kmalloc_large(void* ctx, uint64_t ptr, uint64_t size, gfp_t gfp,
                             uint64_t ip) except? 0:
    """kmalloc_order(): page_address() carries the page's tag; __kasan_kmalloc_large poisons
    [round_up(ptr + size), ptr + page_size) with KASAN_PAGE_REDZONE."""
    cdef KasanHost h = <KasanHost>ctx
    cdef uint64_t a = reset_tag(ptr)
    cdef pfn_t pfn = (a - DIRECT_MAP) >> PAGE_SHIFT
    cdef uint8_t tag = h.pm.mem_map[pfn].kasan_tag ^ 0xFF
    cdef uint64_t start = round_up16(a + size)
    cdef uint64_t end = a + (PAGE_BYTES << h.pm.mem_map[pfn].compound_order)
    if end > start:
        h.kasan_poison(start, end - start, KASAN_TAG_INVALID)
    return set_tag(a, tag)


cdef int _slab_free(void* ctx, object s, uint64_t ptr, uint64_t ip) except -1:
    """____kasan_slab_free(): 1 (reported, the object is not freed) for a pointer that is not the
    start of a slot or whose tag does not match the first granule; a TYPESAFE_BY_RCU object is
    not poisoned; else KASAN_KMALLOC_FREE over round_up(object_size) and the free info
    (kasan_set_free_info: the ring of five with TAGS_IDENTIFY, one slot without)."""
    cdef KasanHost h = <KasanHost>ctx
    cdef KmemCache c = <KmemCache>s
    cdef uint8_t tag = get_tag(ptr)
    cdef uint64_t a = reset_tag(ptr)
    cdef pfn_t head = (a - DIRECT_MAP) >> PAGE_SHIFT
    cdef alloc_meta* m
    cdef uint8_t idx
    if h.pm.mem_map[head].flags & (1ULL << PG_tail):
        head = h.pm.mem_map[head].compound_head
    if h.nearest_obj(s, head, a) != a:
        return h.report_invalid_free(ptr, ip)
    m = h.object_meta(s, a)
    if c.flags & SLAB_TYPESAFE_BY_RCU:
        if m != NULL:
            m.preset_tag = tag          # the free list keeps the pointer it was freed with
        return 0
    if not h.byte_accessible(ptr):
        return h.report_invalid_free(ptr, ip)
    h.kasan_poison(a, round_up16(c.object_size), KASAN_TAG_INVALID)
    if m != NULL:
        if c.ctor:
            m.preset_tag = tag
        if h.tags_identify:
            idx = m.free_track_idx
            m.free_pointer_tag[idx] = tag
            m.free_track[idx].pid = h.cur.pid
            m.free_track[idx].ip = ip
            m.free_track_idx = (idx + 1) % KASAN_NR_FREE_STACKS
        else:
            m.free_track[0].pid = h.cur.pid
            m.free_track[0].ip = ip
    return 0


cdef int _kfree_large(void* ctx, uint64_t ptr, uint64_t ip) except -1:
    """____kasan_kfree_large(): reported if ptr is not page_address() of its head page (tag
    included) or its first granule is not accessible through it."""
    cdef KasanHost h = <KasanHost>ctx
    cdef uint64_t a = reset_tag(ptr)
    cdef pfn_t head = (a - DIRECT_MAP) >> PAGE_SHIFT
    if h.pm.mem_map[head].flags & (1ULL << PG_tail):
        head = h.pm.mem_map[head].compound_head
    if ptr != set_tag(DIRECT_MAP + (head << PAGE_SHIFT), h.pm.mem_map[head].kasan_tag ^ 0xFF):
        return h.report_invalid_free(ptr, ip)
    if not h.byte_accessible(ptr):
        return h.report_invalid_free(ptr, ip)
    return 0


cdef int _check_range(void* ctx, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1:
    return (<KasanHost>ctx).check_range(addr, size, write, ip)
