# cython: language_level=3
"""The page cache of a disk-backed filesystem's regular files (mm/filemap.c,
mm/page-writeback.c, fs/buffer.c as a block filesystem uses them): typed
address_space_operations and the buffered read/write loops, in C."""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.mm cimport MmCore, MmStruct, AddressSpace, VmArea, vm_fault, address_space_operations

cdef class BackingStore:
    """The blocks of one file on the emulated disk: page index -> the page's bytes as last
    written back (``b""``: a block written with zeros).  An index with no block is a hole: it
    reads as zeros without any I/O (no pgpgin)."""
    cdef public dict blocks

cdef class Filemap:
    cdef MmCore core
    cdef PhysMem pm
    cdef address_space_operations aops
    cdef dict stores                    # AddressSpace -> BackingStore
    cdef public int ev_map_pages        # trace slot of filemap:mm_filemap_map_pages (-1: none)
    cdef public int ev_get_pages        # ... of filemap:mm_filemap_get_pages
    cdef public uint64_t nr_readpage    # pages read from the disk (->readpage with a block)
    cdef public uint64_t nr_writepage   # pages written to it (->writepage)
    cdef public bint ra_same_page_end   # filemap_read compares prev_pos's page (v5.14), not the
                                        # last byte read's (v5.17+ pos_same_folio)
    cdef pfn_t page_cache_alloc(self, gfp_t gfp) except? 0xfffffffffffffffe
    cdef pfn_t add_to_page_cache_lru(self, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                     MmStruct mm) except? 0xfffffffffffffffe
    cdef int readpage(self, BackingStore store, pfn_t pfn, uint64_t index) except -1
    cdef int writepage(self, AddressSpace mapping, pfn_t pfn) except -1
    cdef int dirty_folio(self, AddressSpace mapping, pfn_t pfn) except -1
    cdef void emit_range(self, int slot, AddressSpace mapping, uint64_t first,
                         uint64_t last) noexcept

# filemap_map_pages() for any mapping whose pages are in i_pages (diskfs's a_ops, shmem's):
# fm gives the core and the mm_filemap_map_pages trace slot.
cdef int filemap_map_pages(Filemap fm, MmStruct mm, VmArea vma, vm_fault* vmf,
                           uint64_t start_pgoff, uint64_t end_pgoff) except -1
