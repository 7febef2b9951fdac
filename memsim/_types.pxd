# cython: language_level=3
"""C types and constants shared by every core module (declared once, cimported everywhere).

Values follow x86-64 Linux v5.14 (include/linux/gfp.h, include/linux/mmzone.h,
include/linux/mm_types.h, arch/x86/include/asm/pgtable_types.h).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

ctypedef uint64_t pfn_t
ctypedef uint32_t gfp_t

# Page geometry
cdef enum:
    PAGE_SHIFT = 12
    PAGE_SIZE = 4096
    MAX_ORDER = 11                  # orders 0..10 (v5.14 MAX_ORDER; 6.18 MAX_PAGE_ORDER = 10)
    PAGEBLOCK_ORDER = 9             # HUGETLB_PAGE_ORDER on x86-64
    PTRS_PER_TABLE = 512
    HPAGE_PMD_ORDER = 9
    HPAGE_PUD_ORDER = 18

# Sentinel for "no page" in 32-bit pfn links (free lists) and 64-bit pfn returns.
cdef enum:
    NIL32 = 0xffffffff
cdef extern from *:
    """
    #include <stdint.h>
    #define MEMSIM_NO_PFN ((uint64_t)-1)
    #define MEMSIM_PAGE_NX (1ULL << 63)
    #define MEMSIM_PTE_PFN_MASK 0x000ffffffffff000ULL
    """
    const uint64_t NO_PFN "MEMSIM_NO_PFN"
    const uint64_t _PAGE_NX "MEMSIM_PAGE_NX"
    const uint64_t PTE_PFN_MASK "MEMSIM_PTE_PFN_MASK"

# Migratetypes (include/linux/mmzone.h, CONFIG_CMA and CONFIG_MEMORY_ISOLATION on)
cdef enum:
    MIGRATE_UNMOVABLE = 0
    MIGRATE_MOVABLE = 1
    MIGRATE_RECLAIMABLE = 2
    MIGRATE_PCPTYPES = 3
    MIGRATE_HIGHATOMIC = 3
    MIGRATE_CMA = 4
    MIGRATE_ISOLATE = 5
    MIGRATE_TYPES = 6

# Zones (x86-64: DMA below 16 MiB, DMA32 below 4 GiB, NORMAL above, MOVABLE)
cdef enum:
    ZONE_DMA = 0
    ZONE_DMA32 = 1
    ZONE_NORMAL = 2
    ZONE_MOVABLE = 3
    MAX_NR_ZONES = 4

# gfp bits (___GFP_* of v5.14; bit positions are unchanged in 6.18)
cdef enum:
    GFP_DMA_ = 0x01
    GFP_HIGHMEM_ = 0x02
    GFP_DMA32_ = 0x04
    GFP_MOVABLE_ = 0x08
    GFP_RECLAIMABLE_ = 0x10
    GFP_HIGH_ = 0x20
    GFP_IO_ = 0x40
    GFP_FS_ = 0x80
    GFP_ZERO_ = 0x100
    GFP_ATOMIC_ = 0x200
    GFP_DIRECT_RECLAIM_ = 0x400
    GFP_KSWAPD_RECLAIM_ = 0x800
    GFP_WRITE_ = 0x1000
    GFP_NOWARN_ = 0x2000
    GFP_RETRY_MAYFAIL_ = 0x4000
    GFP_NOFAIL_ = 0x8000
    GFP_NORETRY_ = 0x10000
    GFP_MEMALLOC_ = 0x20000
    GFP_COMP_ = 0x40000
    GFP_NOMEMALLOC_ = 0x80000
    GFP_HARDWALL_ = 0x100000
    GFP_THISNODE_ = 0x200000
    GFP_ACCOUNT_ = 0x400000
    GFP_ZEROTAGS_ = 0x800000
    GFP_SKIP_KASAN_POISON_ = 0x1000000
    GFP_KERNEL = 0xcc0
    GFP_KERNEL_ACCOUNT = 0x400cc0

# Page flags (enum pageflags of v5.14 for the low bits; memsim-private bits from 32 up)
cdef enum:
    PG_locked = 0
    PG_referenced = 1
    PG_uptodate = 2
    PG_dirty = 3
    PG_lru = 4
    PG_active = 5
    PG_workingset = 6
    PG_waiters = 7
    PG_error = 8
    PG_slab = 9
    PG_owner_priv_1 = 10
    PG_arch_1 = 11
    PG_reserved = 12
    PG_private = 13
    PG_private_2 = 14
    PG_writeback = 15
    PG_head = 16
    PG_mappedtodisk = 17
    PG_reclaim = 18
    PG_swapbacked = 19
    PG_unevictable = 20
    PG_mlocked = 21
    # page_type values (kept in _mapcount by the kernel) and memsim-private state
    PG_buddy = 32
    PG_table = 33
    PG_content = 34                 # the frame has bytes in the content store
    PG_zero = 35                    # the shared zero page
    PG_tail = 36                    # a tail page of a compound page
    PG_pcp = 37                     # sitting on a per-CPU list (not in buddy)
    PG_hugetlb = 38
    PG_isolated = 39
    PG_pgtable_changed = 40         # a page-table page written since the last --check (memsim.mm)
    # node and zone live in the top bits, as with NODES_PGSHIFT/ZONES_PGSHIFT
    PG_NODE_SHIFT = 48
    PG_ZONE_SHIFT = 56

# page->mapping low bits (PAGE_MAPPING_ANON)
cdef enum:
    PAGE_MAPPING_ANON = 1

# mm counters (enum rss counters in include/linux/mm_types_task.h)
cdef enum:
    MM_FILEPAGES = 0
    MM_ANONPAGES = 1
    MM_SWAPENTS = 2
    MM_SHMEMPAGES = 3
    NR_MM_COUNTERS = 4

# x86-64 page-table entry bits
cdef enum:
    _PAGE_PRESENT = 0x001
    _PAGE_RW = 0x002
    _PAGE_USER = 0x004
    _PAGE_ACCESSED = 0x020
    _PAGE_DIRTY = 0x040
    _PAGE_PSE = 0x080               # PMD/PUD leaf
    _PAGE_SPECIAL = 0x200           # software bit: special mapping (zero page)
    _PAGE_UFFD_WP = 0x400           # software bit 10 (_PAGE_BIT_SOFTW2)

# NUMA memory policies (include/uapi/linux/mempolicy.h, include/linux/mempolicy.h)
cdef enum:
    MPOL_DEFAULT = 0
    MPOL_PREFERRED = 1
    MPOL_BIND = 2
    MPOL_INTERLEAVE = 3
    MPOL_LOCAL = 4
    MPOL_PREFERRED_MANY = 5         # v5.15+
    MPOL_F_STATIC_NODES = 1 << 15
    MPOL_F_RELATIVE_NODES = 1 << 14
    NODEMASK_WORDS = 16             # MAX_NUMNODES 1024

cdef struct mempolicy:
    # struct mempolicy: the mode, its flags and the nodes; il_prev is the task's interleave
    # cursor (task_struct.il_prev), kept here for the task policy.
    int mode
    unsigned short flags
    int il_prev
    uint64_t nodes[NODEMASK_WORDS]

cdef inline bint node_isset(const mempolicy* pol, int nid) noexcept nogil:
    return (pol.nodes[nid >> 6] >> (nid & 63)) & 1
