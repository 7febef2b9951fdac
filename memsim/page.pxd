# cython: language_level=3
"""struct page: the metadata of one page frame, 64 bytes as in the kernel (include/linux/mm_types.h)."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

cdef struct page:
    uint64_t flags          # PG_* bits; node and zone in the top bits
    uint64_t private        # buddy order, swap entry, page-table backing, ...
    uint64_t mapping        # address_space id, or anon_vma id | PAGE_MAPPING_ANON
    uint64_t index          # page offset in the mapping
    uint64_t memcg_data     # mem_cgroup / obj_cgroup id, owned by the memcg plugin
    int32_t _refcount
    int32_t _mapcount       # number of PTE/PMD mappings (kernel's _mapcount + 1)
    uint32_t lru_next       # free-list / LRU links, as pfns (NIL32 = none)
    uint32_t lru_prev
    uint32_t compound_head  # pfn of the head page, for tail pages
    uint8_t compound_order  # order of the compound page (head only)
    uint8_t kasan_tag       # KASAN software tag of the page XOR 0xFF (page_kasan_tag: 0 reads 0xFF)
    uint8_t plugin[2]       # free bytes for plugins
