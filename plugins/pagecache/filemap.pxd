# cython: language_level=3
"""The page cache of a disk-backed filesystem's regular files (mm/filemap.c,
mm/page-writeback.c, fs/buffer.c as a block filesystem uses them): typed
address_space_operations and the buffered read/write loops, in C."""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.mm cimport MmCore, MmStruct, AddressSpace, VmArea, XArray, vm_fault, address_space_operations

cdef class BackingStore:
    """The blocks of one file on the emulated disk: page index -> the page's bytes as last
    written back (``b""``: a block written with zeros).  An index with no block is a hole: it
    reads as zeros without any I/O (no pgpgin)."""
    cdef public dict blocks

# struct file_ra_state while a read runs (the File's FileRaState is loaded into it and stored back)
cdef struct file_ra_state:
    uint64_t start
    uint64_t size
    uint64_t async_size
    uint64_t ra_pages
    unsigned int order
    int64_t prev_pos

cdef class Filemap:
    cdef MmCore core
    cdef PhysMem pm
    cdef address_space_operations aops
    cdef dict stores                    # AddressSpace -> BackingStore
    cdef AddressSpace last_mapping      # the file store_for() looked up last, and its store
    cdef BackingStore last_store
    cdef BackingStore store_for(self, AddressSpace mapping)
    cdef public int ev_map_pages        # trace slot of filemap:mm_filemap_map_pages (-1: none)
    cdef public int ev_get_pages        # ... of filemap:mm_filemap_get_pages
    cdef public uint64_t nr_readpage    # pages read from the disk (->readpage with a block)
    cdef public uint64_t nr_writepage   # pages written to it (->writepage)
    cdef public bint ra_same_page_end   # filemap_read compares prev_pos's page (v5.14), not the
                                        # last byte read's (v5.17+ pos_same_folio)
    cdef public bint ra_ondemand        # v5.14's ondemand_readahead() (else v6.18's
                                        # page_cache_sync_ra/page_cache_async_ra)
    cdef public bint read_batch_past_end  # v5.14: filemap_get_read_batch() up to last_index, one
                                        # page past the read (v6.3+: last_index - 1)
    cdef public uint64_t io_pages       # the disk's bdi->io_pages (max_sectors_kb / 4)
    cdef public uint64_t nr_ra_pages    # pages readahead added to the cache
    cdef public unsigned int max_folio_order  # mapping_set_large_folios() on the files it
                                        # installs: their max folio order (0: none; v6.18 9)
    cdef pfn_t page_cache_alloc(self, gfp_t gfp) except? 0xfffffffffffffffe
    cdef pfn_t add_to_page_cache_lru(self, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                     MmStruct mm) except? 0xfffffffffffffffe
    cdef int filemap_add_folio(self, AddressSpace mapping, pfn_t pfn, uint64_t index, gfp_t gfp,
                               MmStruct mm) except? -1000000
    cdef int ra_alloc_folio(self, AddressSpace mapping, uint64_t index, uint64_t mark,
                            unsigned int order, MmStruct mm) except? -1000000
    cdef int readpage(self, BackingStore store, pfn_t pfn, uint64_t index) except -1
    cdef int writepage(self, AddressSpace mapping, pfn_t pfn) except -1
    cdef int dirty_folio(self, AddressSpace mapping, pfn_t pfn) except -1
    cdef int64_t ra_unbounded(self, AddressSpace mapping, uint64_t index, uint64_t nr_to_read,
                              uint64_t lookahead_size, MmStruct mm) except -1
    cdef int64_t do_page_cache_ra(self, AddressSpace mapping, uint64_t index, uint64_t nr_to_read,
                                  uint64_t lookahead_size, MmStruct mm) except -1
    cdef int64_t force_page_cache_ra(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                                     uint64_t nr_to_read, MmStruct mm) except -1
    cdef int page_cache_sync_ra(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                                uint64_t req_count, bint random, MmStruct mm) except -1
    cdef int page_cache_async_ra(self, AddressSpace mapping, file_ra_state* ra, pfn_t pfn,
                                 uint64_t index, uint64_t req_count, MmStruct mm) except -1
    cdef int page_cache_ra_order(self, AddressSpace mapping, file_ra_state* ra,
                                 MmStruct mm) except -1
    cdef int ondemand_readit(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                             uint64_t max_pages, MmStruct mm) except -1
    cdef uint64_t ra_max_pages(self, file_ra_state* ra, uint64_t req_size) noexcept
    cdef int get_read_batch(self, XArray i_pages, uint64_t index, uint64_t max_index,
                            uint64_t batch, pfn_t* pfns) except -1
    cdef int ondemand_readahead(self, AddressSpace mapping, file_ra_state* ra, bint hit_marker,
                                uint64_t index, uint64_t req_size, MmStruct mm) except -1
    cdef void emit_range(self, int slot, AddressSpace mapping, uint64_t first,
                         uint64_t last) noexcept

# filemap_map_pages() for any mapping whose pages are in i_pages (diskfs's a_ops, shmem's):
# fm gives the core and the mm_filemap_map_pages trace slot.
cdef int filemap_map_pages(Filemap fm, MmStruct mm, VmArea vma, vm_fault* vmf,
                           uint64_t start_pgoff, uint64_t end_pgoff) except -1
