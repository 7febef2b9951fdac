# cython: language_level=3, boundscheck=False, wraparound=False
"""A test plugin, written in Cython as the page cache and swap subsystems will be, that fills in
reclaim's ops slots so the core's shrink_page_list can be tested through them:

* ``swap_ops``: swap_out (add_to_swap: a slot from a counter), swap_writepage (the page's bytes
  into a dict; writeback set and ended at once: a synchronous swap device), delete_from_swap_cache,
  swap_duplicate / swap_free (slot references), do_swap_page (the page read back);
* ``address_space_operations`` for its own files: lookup / alloc (its page cache, a dict),
  writepage (writeback set; ended at once with ``sync_writeback``, else when the test calls
  ``complete_writeback``) and delete_from_page_cache (the page leaves its cache; the shadow
  is kept).  ``own_file(mapping, evictable=False)`` installs a table without the reclaim slots.
"""
from libc.stdint cimport uint64_t
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, NO_PFN, PAGE_SIZE, PG_owner_priv_1, PG_dirty
from memsim.page cimport page
from memsim.vmstat cimport page_to_nid, __mod_node_page_state, __mod_lruvec_page_state, NR_FILE_PAGES, NR_SWAPCACHE
from memsim.physmem cimport PhysMem
from memsim.mm cimport (
    MmCore, MmStruct, VmArea, AddressSpace, vm_fault, address_space_operations,
    writeback_control, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, pte_to_swp_entry,
    swp_entry, swp_offset,
)

cdef enum:
    SWAP_OUT, SWAP_WRITEPAGE, SWAP_DELETE, SWAP_DUP, SWAP_FREE, SWAP_IN, AOPS_WRITEPAGE, \
    AOPS_DELETE, N_OPS

OPS = ("swap_out", "swap_writepage", "delete_from_swap_cache", "swap_duplicate", "swap_free",
       "do_swap_page", "writepage", "delete_from_page_cache")


cdef class ReclaimOps:
    cdef uint64_t counts[N_OPS]
    cdef public MmCore core
    cdef public PhysMem pm
    cdef address_space_operations a_ops
    cdef address_space_operations a_ops_pinned
    cdef public dict cache              # (mapping address, index) -> pfn
    cdef public dict shadows            # (mapping address, index) -> shadow
    cdef public dict slots              # swap offset -> [bytes or None, references]
    cdef public list pending            # pfns under writeback (not yet completed)
    cdef public uint64_t next_offset
    cdef public bint sync_writeback
    cdef public int slots_left          # swap_out fails (-ENOMEM) when 0
    cdef public bint fail_duplicate     # swap_duplicate fails (-ENOMEM: no count continuation)

    def __cinit__(self):
        memset(self.counts, 0, sizeof(self.counts))
        memset(&self.a_ops, 0, sizeof(self.a_ops))
        memset(&self.a_ops_pinned, 0, sizeof(self.a_ops_pinned))
        self.cache = {}
        self.shadows = {}
        self.slots = {}
        self.pending = []
        self.next_offset = 1
        self.slots_left = 1 << 30

    def counts_dict(self):
        return {OPS[i]: self.counts[i] for i in range(N_OPS)}

    def install(self, machine, bint swap=True):
        self.core = machine.mmcore
        self.pm = machine.physmem
        self.core.keep_alive("reclaimops", self)
        if swap:
            self.core.swap.ctx = <void*>self
            self.core.swap.do_swap_page = _do_swap_page
            self.core.swap.swap_free = _swap_free
            self.core.swap.swap_duplicate = _swap_duplicate
            self.core.swap.swap_out = _swap_out
            self.core.swap.swap_writepage = _swap_writepage
            self.core.swap.delete_from_swap_cache = _delete_from_swap_cache
        self.a_ops.ctx = self.a_ops_pinned.ctx = <void*>self
        self.a_ops.lookup = self.a_ops_pinned.lookup = _aops_lookup
        self.a_ops.alloc = self.a_ops_pinned.alloc = _aops_alloc
        self.a_ops.writepage = _aops_writepage
        self.a_ops.delete_from_page_cache = _aops_delete

    def own_file(self, AddressSpace mapping, bint evictable=True):
        """Make this plugin the page cache of ``mapping``; without ``evictable`` its a_ops has
        no writepage and no delete_from_page_cache (reclaim must keep its pages)."""
        mapping.a_ops = &self.a_ops if evictable else &self.a_ops_pinned
        mapping.a_ops_owner = self

    def complete_writeback(self):
        """The device finished every pending write: end_page_writeback on each."""
        cdef pfn_t pfn
        done = self.pending
        self.pending = []
        for pfn in done:
            self.core.end_page_writeback(pfn)
        return len(done)


# -- swap -------------------------------------------------------------------------------------
cdef int _swap_out(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000:
    cdef ReclaimOps c = <ReclaimOps>ctx
    cdef page* p
    c.counts[SWAP_OUT] += 1
    if c.slots_left <= 0:
        return -12
    c.slots_left -= 1
    entry[0] = swp_entry(0, c.next_offset)
    c.slots[c.next_offset] = [None, 0]
    c.next_offset += 1
    # add_to_swap_cache() and set_page_dirty(), as the op's contract asks
    p = &c.pm.mem_map[pfn]
    p.flags |= (1ULL << PG_owner_priv_1) | (1ULL << PG_dirty)
    p.private = entry[0]
    p._refcount += 1
    __mod_node_page_state(c.pm.vs, page_to_nid(p), NR_FILE_PAGES, 1)
    __mod_lruvec_page_state(c.pm.vs, p, NR_SWAPCACHE, 1)
    return 0

cdef int _swap_writepage(void* ctx, pfn_t pfn, uint64_t entry, writeback_control* wbc) except? -1000000:
    cdef ReclaimOps c = <ReclaimOps>ctx
    c.counts[SWAP_WRITEPAGE] += 1
    c.slots[swp_offset(entry)][0] = c.pm.read_bytes(pfn, 0, PAGE_SIZE)
    c.core.set_page_writeback(pfn)
    c.core.end_page_writeback(pfn)          # a synchronous device
    return 0

cdef int _delete_from_swap_cache(void* ctx, pfn_t pfn, uint64_t entry) except -1:
    cdef ReclaimOps c = <ReclaimOps>ctx
    cdef page* p = &c.pm.mem_map[pfn]
    c.counts[SWAP_DELETE] += 1
    # __delete_from_swap_cache(), as the op's contract asks
    p.flags &= ~(1ULL << PG_owner_priv_1)
    p.private = 0
    __mod_node_page_state(c.pm.vs, page_to_nid(p), NR_FILE_PAGES, -1)
    __mod_lruvec_page_state(c.pm.vs, p, NR_SWAPCACHE, -1)
    return 0

cdef int _swap_duplicate(void* ctx, uint64_t entry) except? -1000000:
    cdef ReclaimOps c = <ReclaimOps>ctx
    c.counts[SWAP_DUP] += 1
    if c.fail_duplicate:
        return -12
    slot = c.slots.get(swp_offset(entry))
    if slot is None:
        return -22
    slot[1] += 1
    return 0

cdef int _swap_free(void* ctx, uint64_t entry) except -1:
    cdef ReclaimOps c = <ReclaimOps>ctx
    c.counts[SWAP_FREE] += 1
    slot = c.slots.get(swp_offset(entry))
    if slot is not None:
        slot[1] -= 1
        if slot[1] <= 0:
            del c.slots[swp_offset(entry)]
    return 0

cdef int _do_swap_page(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    """Read the page back from its slot, map it, drop the PTE's slot reference."""
    cdef ReclaimOps c = <ReclaimOps>ctx
    cdef uint64_t entry = pte_to_swp_entry(vmf.orig_pte)
    cdef pfn_t pfn
    c.counts[SWAP_IN] += 1
    slot = c.slots.get(swp_offset(entry))
    if slot is None or slot[0] is None:
        return VM_FAULT_SIGBUS
    pfn = c.pm.alloc_pages(c.core.gfp_user, 0, -1)
    if pfn == NO_PFN:
        return VM_FAULT_OOM
    c.pm.write_bytes(pfn, 0, slot[0])
    vmf.pte[0] = 0
    mm.inc_mm_counter(2, -1)                # MM_SWAPENTS
    c.core.install_anon_page(mm, vma, vmf.address, pfn, True)
    _swap_free(ctx, entry)
    return VM_FAULT_MAJOR


# -- address_space_operations -----------------------------------------------------------------
cdef pfn_t _aops_lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    got = (<ReclaimOps>ctx).cache.get((mapping.addr, index))
    return NO_PFN if got is None else <pfn_t>got

cdef pfn_t _aops_alloc(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp, MmStruct mm,
                       int* major) except? 0xfffffffffffffffe:
    cdef ReclaimOps c = <ReclaimOps>ctx
    cdef pfn_t pfn = c.pm.alloc_pages(gfp, 0, -1)
    if pfn == NO_PFN:
        return NO_PFN
    c.core.add_to_page_cache(pfn, mapping, index)
    c.cache[(mapping.addr, index)] = pfn
    c.pm.lru_cache_add(pfn)
    major[0] = 1
    return pfn

cdef int _aops_writepage(void* ctx, AddressSpace mapping, pfn_t pfn, writeback_control* wbc) except? -1000000:
    cdef ReclaimOps c = <ReclaimOps>ctx
    c.counts[AOPS_WRITEPAGE] += 1
    c.core.set_page_writeback(pfn)
    if c.sync_writeback:
        c.core.end_page_writeback(pfn)
    else:
        c.pending.append(pfn)
    return 0

cdef int _aops_delete(void* ctx, AddressSpace mapping, pfn_t pfn, uint64_t shadow) except -1:
    cdef ReclaimOps c = <ReclaimOps>ctx
    cdef uint64_t index = c.pm.mem_map[pfn].index
    c.counts[AOPS_DELETE] += 1
    del c.cache[(mapping.addr, index)]
    c.shadows[(mapping.addr, index)] = shadow
    return 0
