# shmem's page cache (mm/shmem.c): the address_space_operations of tmpfs, memfd and shared
# anonymous memory, and the per-page loops of its read, write, fallocate and truncate.
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t, mempolicy
from memsim.mm cimport AddressSpace, MmCore, MmStruct, VmArea, address_space_operations
from memsim.physmem cimport PhysMem
from memsim.plugins.pagecache.filemap cimport Filemap

# A range of a shmem file with its policy (struct sp_node).
cdef struct sp_node:
    uint64_t start
    uint64_t end
    mempolicy pol

cdef class SharedPolicy:
    cdef sp_node* nodes
    cdef int nr
    cdef const mempolicy* lookup(self, uint64_t index) noexcept nogil
    cdef int replace(self, uint64_t start, uint64_t end, const mempolicy* new) except -1

cdef class ShmemSb:
    cdef MmCore core
    cdef PhysMem pm
    cdef address_space_operations aops     # ctx = this superblock (its block counts)
    cdef public uint64_t max_blocks         # sbinfo->max_blocks: size= in pages (0: unlimited)
    cdef public uint64_t used_blocks        # sbinfo->used_blocks: pages allocated in this sb
    cdef dict mappings                      # id -> the sb's file mappings
    cdef Filemap fm                         # filemap_map_pages()'s context (None: no map_pages)
    cdef dict policies                      # id(mapping) -> its SharedPolicy (info->policy)
    cdef int nr_policies                    # how many mappings have one (0: no lookup at all)
    cdef public bint acct_after_add         # v6.7+: blocks taken after the page is cached
    cdef VmArea pvma                        # shmem_pseudo_vma_init()'s VMA for swap-in readahead
    cdef public uint64_t swapouts           # pages shmem_writepage() moved to swap
    cdef public uint64_t swapins            # pages shmem_swapin_page() took back
    cdef int64_t shmem_recalc_inode(self, AddressSpace mapping, int64_t alloced) except? -1
    cdef pfn_t shmem_alloc_page(self, gfp_t gfp, AddressSpace mapping,
                                uint64_t index) except? 0xfffffffffffffffe
    cdef pfn_t shmem_alloc_and_add(self, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                   MmStruct mm, int* err) except? 0xfffffffffffffffe
    cdef int shmem_remove_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1
    cdef int _zero(self, AddressSpace mapping, uint64_t index, uint64_t start,
                   uint64_t stop) except -1
    cdef pfn_t shmem_swapin_page(self, AddressSpace mapping, uint64_t index, int64_t e, gfp_t gfp,
                                 int* major, int* err) except? 0xfffffffffffffffe
    cdef int shmem_free_swap(self, AddressSpace mapping, uint64_t index, int64_t e) except -1
    cdef pfn_t shmem_getpage_noalloc(self, AddressSpace mapping, uint64_t index,
                                     int* err) except? 0xfffffffffffffffe
