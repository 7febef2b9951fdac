# cython: language_level=3
"""hugetlb mappings in C (mm/hugetlb.c, fs/hugetlbfs/inode.c): reservation maps, subpools, the
per-file state and the fault path (alloc_huge_page, hugetlb_no_page, hugetlb_cow), reached
through the ``vm_operations_struct`` every hugetlb VMA carries."""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport pfn_t
from memsim.mm cimport (MmCore, MmStruct, VmArea, AddressSpace, vm_fault, vm_operations_struct,
                        address_space_operations)
from memsim.physmem cimport PhysMem
from memsim.plugins.hugetlb.hstate cimport Hstate, Hugetlb

# The flags of a private VMA's reservation (HPAGE_RESV_OWNER / HPAGE_RESV_UNMAPPED).
cdef enum:
    HPAGE_RESV_OWNER = 1 << 0
    HPAGE_RESV_UNMAPPED = 1 << 1


cdef class ResvMap:
    """struct resv_map: a sorted list of [from, to) regions of huge-page indices."""
    cdef int64_t* rf
    cdef int64_t* rt
    cdef Py_ssize_t nr
    cdef Py_ssize_t cap
    cdef int grow(self) except -1
    cdef int64_t region_count(self, int64_t f, int64_t t) noexcept
    cdef int64_t region_chg(self, int64_t f, int64_t t) noexcept
    cdef int64_t region_add(self, int64_t f, int64_t t) except -1
    cdef int64_t region_del(self, int64_t f, int64_t t) except -1


cdef class VmaResv:
    """A private hugetlb VMA's vm_private_data: its reservation map and HPAGE_RESV_* flags."""
    cdef public ResvMap map
    cdef public int flags


cdef class HugepageSubpool:
    """struct hugepage_subpool: a hugetlbfs mount's size= / min_size= limits, in huge pages
    (-1: none)."""
    cdef public Hstate hstate
    cdef public int64_t max_hpages
    cdef public int64_t used_hpages
    cdef public int64_t min_hpages
    cdef public int64_t rsv_hpages
    cdef public int id                  # its number in HugetlbMaps.subpools (page[1].private)
    cdef int64_t get_pages(self, int64_t delta) noexcept
    cdef int64_t put_pages(self, int64_t delta) noexcept


cdef class HugetlbFile:
    """The hugetlbfs side of one inode, kept in its mapping's ``a_ops_owner`` so the fault path
    reaches it without Python: the hstate, the inode's reservation map (shared mappings) and
    the superblock's subpool (None: no limits)."""
    cdef public Hstate hstate
    cdef public ResvMap resv_map
    cdef public HugepageSubpool spool
    cdef public AddressSpace mapping
    cdef public object inode
    cdef public int64_t i_blocks       # 512-byte blocks (blocks_per_huge_page per page)


cdef class HugetlbMaps:
    """The mappings side of the plugin on one machine: the hugetlb vm_operations_struct,
    the subpools by number, the NR_HUGETLB switch (v6.18) and the fault counters."""
    cdef readonly Hugetlb hg
    cdef readonly MmCore core
    cdef readonly PhysMem pm
    cdef vm_operations_struct vm_ops
    cdef address_space_operations aops  # hugetlbfs_aops: lookup and migratepage
    cdef public list subpools           # [None, HugepageSubpool, ...]: page[1].private indexes it
    cdef public bint nr_hugetlb         # v6.18: alloc_hugetlb_folio / free_huge_folio count NR_HUGETLB
    cdef public dict stats

    cdef int mod_nr_hugetlb(self, pfn_t head, int64_t nr) except -1
    cpdef int gather_surplus_pages(self, Hstate h, int64_t delta) except? -1000
    cpdef int return_unused_surplus_pages(self, Hstate h, int64_t unused) except -1
    cpdef int hugetlb_acct_memory(self, Hstate h, int64_t delta) except? -1000
    cdef bint vma_has_reserves(self, VmArea vma, int64_t chg)
    cdef int64_t vma_needs_reservation(self, HugetlbFile hf, VmArea vma, int64_t idx) noexcept
    cdef int vma_commit_reservation(self, HugetlbFile hf, VmArea vma, int64_t idx) except -1
    cdef pfn_t alloc_huge_page(self, HugetlbFile hf, VmArea vma, uint64_t addr, bint avoid_reserve,
                               int* err) except? 0xfffffffffffffffe
    cdef pfn_t dequeue_huge_page_vma(self, Hstate h, VmArea vma, bint avoid_reserve, int64_t chg) except? 0xfffffffffffffffe
    cdef int set_huge_pte_at(self, MmStruct mm, VmArea vma, uint64_t* slot, pfn_t head, int level, bint write) except -1
    cdef int hugetlb_no_page(self, MmStruct mm, VmArea vma, HugetlbFile hf, int64_t idx, uint64_t haddr,
                             uint64_t* slot, int level, vm_fault* vmf) except -1
    cdef int hugetlb_cow(self, MmStruct mm, VmArea vma, HugetlbFile hf, uint64_t haddr, uint64_t* slot,
                         int level, pfn_t pagecache_page) except -1
    cdef int unmap_ref_private(self, MmStruct mm, VmArea vma, HugetlbFile hf, pfn_t head, uint64_t haddr, int level) except -1
    cdef int free_huge_page(self, pfn_t head) except -1
    cdef int huge_add_to_page_cache(self, HugetlbFile hf, pfn_t head, int64_t idx) except -1
