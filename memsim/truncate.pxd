# cython: language_level=3
"""Invalidating a mapping's page cache (mm/truncate.c): invalidate_mapping_pages (drop_caches,
fadvise DONTNEED) and invalidate_inode_pages2_range."""
from libc.stdint cimport uint64_t
from memsim._types cimport pfn_t
from memsim.physmem cimport PhysMem
from memsim.mm cimport AddressSpace, MmCore

cdef int deactivate_file_page(PhysMem pm, pfn_t pfn) except -1
cdef bint invalidate_inode_page(MmCore core, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1
cdef bint invalidate_complete_folio2(MmCore core, AddressSpace mapping, uint64_t index,
                                     pfn_t pfn) except -1
