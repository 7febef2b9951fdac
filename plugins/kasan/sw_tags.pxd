# cython: language_level=3
# Software tag-based KASAN (mm/kasan/sw_tags.c, common.c, shadow.c, tags.c): the shadow, the tag
# generator, the allocator hooks and the checked access, in C.  Reports are printed by
# memsim.plugins.kasan.report (Python: a report is rare, the checks that pass are not).
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from memsim._types cimport pfn_t
from memsim.physmem cimport PhysMem
from memsim.task cimport Current

cdef enum:
    KASAN_GRANULE_SHIFT = 4             # KASAN_SHADOW_SCALE_SHIFT for SW_TAGS (arch/arm64/Makefile)
    KASAN_GRANULE_SIZE = 16
    PAGE_GRANULES = 256                 # shadow bytes of one 4 KiB page
    KASAN_TAG_KERNEL = 0xFF             # the native (match-all) pointer tag
    KASAN_TAG_INVALID = 0xFE            # freed memory, redzones, and (seed change) unallocated memory
    KASAN_TAG_MAX = 0xFD                # random tags are 0x00..0xFD
    KASAN_NR_FREE_STACKS = 5            # with CONFIG_KASAN_TAGS_IDENTIFY (1 without)
    NR_INJECT = 256                     # the queue of injected "next tags" (tests)

# struct kasan_track: the pid and the stack; memsim's stack is the call site it knows (_RET_IP_)
cdef struct kasan_track:
    int32_t pid
    uint64_t ip

# struct kasan_alloc_meta (mm/kasan/kasan.h), one per object slot of a slab page.  The kernel keeps
# it in the slot after the object (alloc_meta_offset); memsim keeps it beside the slab.
# preset_tag: for a SLUB cache with a constructor or SLAB_TYPESAFE_BY_RCU, the tag the object's
# free-list pointer carries (assign_tag: set at setup_object, then whatever pointer freed it).
cdef struct alloc_meta:
    kasan_track alloc_track
    kasan_track free_track[KASAN_NR_FREE_STACKS]
    uint8_t free_pointer_tag[KASAN_NR_FREE_STACKS]
    uint8_t free_track_idx
    uint8_t preset_tag

cdef class KasanHost:
    cdef PhysMem pm
    cdef Current cur
    cdef readonly pfn_t max_pfn
    cdef readonly int ncpus
    cdef uint8_t* ptag                  # per page: its shadow value while the page is uniform
    cdef uint8_t** gran                 # per page: its 256 shadow bytes, or NULL while uniform
    cdef alloc_meta** meta              # per slab head page: one alloc_meta per object slot
    cdef uint16_t* meta_n               # ... and how many
    cdef uint32_t* rng                  # per CPU: the tag generator's state (kasan_random_tag)
    cdef uint8_t inject[NR_INJECT]      # tags the next draws return (tests), a FIFO
    cdef int n_inject
    cdef int inject_head
    cdef readonly uint8_t shadow_init   # KASAN_SHADOW_INIT: 0xFE (seed change on) or 0xFF
    cdef public bint tags_identify      # CONFIG_KASAN_TAGS_IDENTIFY
    cdef public object reporter         # memsim.plugins.kasan.report.Reporter
    # statistics
    cdef readonly uint64_t checks       # kasan_check_range() calls
    cdef readonly uint64_t draws        # kasan_random_tag() calls
    cdef readonly uint64_t poison_calls # kasan_poison() calls that wrote the shadow
    cdef readonly uint64_t unpoison_calls
    cdef readonly uint64_t warnings     # WARN_ONs of kasan_poison / kasan_unpoison

    cdef uint8_t random_tag(self) noexcept
    cdef uint8_t shadow(self, uint64_t addr) noexcept
    cdef int set_shadow(self, uint64_t addr, uint64_t size, uint8_t value) except -1
    cdef int kasan_poison(self, uint64_t addr, uint64_t size, uint8_t value) except -1
    cdef int kasan_unpoison(self, uint64_t addr, uint64_t size) except -1
    cdef bint byte_accessible(self, uint64_t ptr) noexcept
    cdef int check_range(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1
    cdef int report(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1
    cdef int report_invalid_free(self, uint64_t ptr, uint64_t ip) except -1
    cdef alloc_meta* object_meta(self, object s, uint64_t obj) noexcept
    cdef uint64_t nearest_obj(self, object s, pfn_t head, uint64_t addr) noexcept
    cdef int _unpoison_pages(self, pfn_t pfn, unsigned int order) except -1
    cdef int _poison_slab_pages(self, pfn_t pfn, unsigned int order, unsigned int objects) except -1
