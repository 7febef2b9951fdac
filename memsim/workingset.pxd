# cython: language_level=3
"""Workingset detection (mm/workingset.c): shadow entries, the refault distance, shadow nodes.

The shadow API a mapping with its own page cache (plugin a_ops) or the swap cache uses, per
page, from Cython (``from memsim.workingset cimport Workingset, ...``; the machine's instance is
``MmCore.workingset`` / ``machine.mmcore.workingset``):

* at eviction (__remove_mapping of a clean page-cache page, reclaimed, file LRU, mapping not
  exiting): ``shadow = ws.workingset_eviction(pfn, NULL, 0)`` and store ``shadow`` where the page
  was (the kernel's i_pages slot);
* at insertion of a new page over a stored shadow (add_to_page_cache_lru / filemap_add_folio,
  not for a write: no __GFP_WRITE): ``ws.workingset_refault(pfn, shadow)`` *before*
  ``PhysMem.lru_cache_add(pfn)``, so a refault it activates goes to the active list.

A shadow is the kernel's ``void *`` xa_value entry as a number: ``xa_mk_value(packed)``, that is
``(packed << 1) | 1``; never 0, so 0 means "no shadow" (NULL).  i_pages stores it
in ``AddressSpace.i_pages`` as the negative int ``~packed`` (``shadow_to_entry``), so that an
entry ``>= 0`` is a pfn and one ``< 0`` a value entry (``xa_is_value``).
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport pfn_t
from memsim.page cimport page
from memsim.physmem cimport PhysMem, lruvec

cdef enum:
    BITS_PER_LONG = 64
    WORKINGSET_SHIFT = 1
    XA_CHUNK_SHIFT = 6                  # 64 slots per xa_node
    XA_CHUNK_MASK = 63


cdef inline bint xa_is_value(int64_t entry) noexcept nogil:
    """xa_is_value() of an ``i_pages`` entry: a shadow (negative)."""
    return entry < 0


cdef inline int64_t shadow_to_entry(uint64_t shadow) noexcept nogil:
    """The ``i_pages`` entry (a negative int) that holds ``shadow`` (an xa_value word)."""
    return ~(<int64_t>(shadow >> 1))


cdef inline uint64_t entry_to_shadow(int64_t entry) noexcept nogil:
    """The shadow (xa_mk_value(v) = v << 1 | 1) an ``i_pages`` value entry holds."""
    return ((<uint64_t>(~entry)) << 1) | 1


cdef class Workingset:
    cdef PhysMem pm
    cdef readonly unsigned int nodes_shift         # NODES_SHIFT
    cdef readonly unsigned int memcg_id_shift      # MEM_CGROUP_ID_SHIFT
    cdef readonly unsigned int eviction_shift      # EVICTION_SHIFT
    cdef readonly unsigned int timestamp_bits
    cdef readonly unsigned int max_order
    cdef readonly unsigned int bucket_order
    cdef readonly uint64_t eviction_mask           # EVICTION_MASK
    cdef public bint test_recent_first             # v6.5+: refault counted before the memcg test
    cdef void** swap_out_slot           # &MmCore.swap.swap_out: swap is possible when it is set
    cdef public dict shadow_nodes       # list_lru shadow_nodes: (mapping, leaf) -> nid, oldest first
    cdef uint64_t pack_shadow(self, int memcgid, int nid, uint64_t eviction, bint workingset) noexcept
    cdef void unpack_shadow(self, uint64_t shadow, int* memcgid, int* nid, uint64_t* eviction,
                            bint* workingset) noexcept
    cdef lruvec* eviction_lruvec(self, int memcgid, int nid) noexcept
    cdef bint swap_possible(self) noexcept
    cdef uint64_t workingset_eviction(self, pfn_t pfn, lruvec* target, int memcgid) noexcept
    cdef bint workingset_test_recent(self, uint64_t shadow, bint file, bint* workingset) noexcept
    cdef int workingset_refault(self, pfn_t pfn, uint64_t shadow) except -1
    cdef void inc_lruvec_state(self, page* p, int nid, int item) noexcept
    cdef int workingset_update_node(self, object mapping, uint64_t leaf, bint shadow_only,
                                    int nid) except -1
