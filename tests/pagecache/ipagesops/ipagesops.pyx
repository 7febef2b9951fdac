# cython: language_level=3, boundscheck=False, wraparound=False
"""A test filesystem's address_space_operations that keep its pages in the core's i_pages, as
the page-cache plugin's do (issue 12's option B), through the core's primitives only:

* lookup: xa_load of i_pages (a value entry reads as no page);
* alloc: a page (alloc_pages), the memcg charge, _add_to_page_cache + page_cache_store (the add
  event), workingset_refault over a shadow, lru_cache_add; a major fault;
* delete_from_page_cache: page_cache_delete_page (the delete event), then a probe of what the
  core has done so far: the records written and NR_FILE_PAGES at that moment, for a test that
  the event comes before the accounting is undone;
* launder_folio (with ``launder``): clean the dirty page as a synchronous write would.
"""
from libc.stdint cimport uint64_t, int64_t
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, NO_PFN
from memsim.physmem cimport PhysMem
from memsim.mm cimport MmCore, MmStruct, AddressSpace, address_space_operations
from memsim.workingset cimport xa_is_value


cdef class IPagesOps:
    cdef address_space_operations a_ops
    cdef public MmCore core
    cdef public PhysMem pm
    cdef public object nr_file_pages    # a callable: NR_FILE_PAGES now
    cdef public list deletes            # (records written, NR_FILE_PAGES) inside each delete op
    cdef public uint64_t launders

    def __cinit__(self):
        memset(&self.a_ops, 0, sizeof(self.a_ops))
        self.deletes = []

    def install(self, machine, AddressSpace mapping, bint launder=False):
        from memsim.vmstat import node_stat_item as NS
        self.core = machine.mmcore
        self.pm = machine.physmem
        vs = machine.physmem.vmstat
        self.nr_file_pages = lambda: vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES)
        self.a_ops.lookup = _lookup
        self.a_ops.alloc = _alloc
        self.a_ops.delete_from_page_cache = _delete
        if launder:
            self.a_ops.launder_folio = _launder
        self.a_ops.ctx = <void*>self
        mapping.a_ops = &self.a_ops
        mapping.a_ops_owner = self

    cdef uint64_t records(self):
        cdef uint64_t n = 0
        cdef int cpu
        for cpu in range(self.core.tb.ncpus):
            n += self.core.tb.cpus[cpu].entries
        return n


cdef pfn_t _lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    cdef int64_t e
    if not mapping.i_pages.load(index, &e) or xa_is_value(e):
        return NO_PFN
    return <pfn_t>e


cdef pfn_t _alloc(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp, MmStruct mm,
                  int* major) except? 0xfffffffffffffffe:
    cdef IPagesOps o = <IPagesOps>ctx
    cdef pfn_t pfn = o.pm.alloc_pages(gfp, 0, -1)
    cdef uint64_t shadow
    if pfn == NO_PFN:
        return NO_PFN
    if o.core.charge(pfn, mm, gfp) != 0:
        o.pm.put_page(pfn)
        return NO_PFN
    o.core._add_to_page_cache(pfn, mapping, index)
    shadow = o.core.page_cache_store(mapping, index, pfn)
    if shadow:
        o.core.workingset.workingset_refault(pfn, shadow)
    o.pm.lru_cache_add(pfn)
    major[0] = 1
    return pfn


cdef int _delete(void* ctx, AddressSpace mapping, pfn_t pfn, uint64_t shadow) except -1:
    cdef IPagesOps o = <IPagesOps>ctx
    o.core.page_cache_delete_page(mapping, o.pm.mem_map[pfn].index, pfn, shadow)
    o.deletes.append((o.records(), o.nr_file_pages()))
    return 0


cdef int _launder(void* ctx, AddressSpace mapping, pfn_t pfn) except? -1000000:
    cdef IPagesOps o = <IPagesOps>ctx
    o.launders += 1
    o.core.clear_page_dirty_for_io(pfn)
    return 0
