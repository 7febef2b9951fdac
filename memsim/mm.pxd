# cython: language_level=3
"""mm_struct, vm_area_struct, address_space and anon_vma; page tables; the fault path; rmap;
mmu_gather — and the typed ops tables through which subsystem plugins extend them.

One extension module (the per-page paths call each other without crossing a module boundary),
with the objects split by the kernel's jobs:

* ``MmStruct`` (mm_struct): VMAs, the pgd, the rss counters (include/linux/mm.h);
* ``VmArea`` (vm_area_struct), ``AddressSpace`` (address_space), ``AnonVma`` (anon_vma);
* ``PageTables``: walking, allocating and freeing the 4-level tables (mm/pgtable-generic.c,
  __pte_alloc, free_pgd_range);
* ``Rmap``: page -> mappings (mm/rmap.c: anon_vma chains, i_mmap, rmap_walk, try_to_unmap);
* ``MmCore``: the fault path, zap and copy (mm/memory.c) and the machine-wide ops tables;
* ``MmuGather``: mm/mmu_gather.c.

Every ops table is NULL by default and filled in by a plugin at machine creation, so no plugin
cimports another and the core calls it directly on its hot path (STYLE 9a).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from memsim._types cimport (pfn_t, gfp_t, NR_MM_COUNTERS, mempolicy, PG_pgtable_changed, PG_tail, PG_head,
                            PG_swapbacked, PAGE_MAPPING_ANON, MM_ANONPAGES, MM_SHMEMPAGES,
                            MM_FILEPAGES)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.workingset cimport Workingset
from memsim.ring cimport TraceBuffer
from memsim.task cimport Current, TaskStruct

cdef class MmStruct
cdef class VmArea
cdef class AddressSpace
cdef class AnonVma
cdef class AnonVmaChain
cdef class PageTables
cdef class Rmap
cdef class MmCore
cdef class MmuGather

# ----------------------------------------------------------------------------------------------
# Fault results, flags and sizes (include/linux/mm_types.h, include/linux/mm.h of v5.14)
# ----------------------------------------------------------------------------------------------
cdef enum:
    BLK_MAX_REQUEST_COUNT = 32          # a plug is flushed when it holds this many requests

cdef enum:
    VM_FAULT_OOM = 0x000001
    VM_FAULT_SIGBUS = 0x000002
    VM_FAULT_MAJOR = 0x000004
    VM_FAULT_WRITE = 0x000008
    VM_FAULT_HWPOISON = 0x000010
    VM_FAULT_HWPOISON_LARGE = 0x000020
    VM_FAULT_SIGSEGV = 0x000040
    VM_FAULT_NOPAGE = 0x000100
    VM_FAULT_LOCKED = 0x000200
    VM_FAULT_RETRY = 0x000400
    VM_FAULT_FALLBACK = 0x000800
    VM_FAULT_DONE_COW = 0x001000
    VM_FAULT_ERROR = (VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON
                      | VM_FAULT_HWPOISON_LARGE | VM_FAULT_FALLBACK)

cdef enum:
    FAULT_FLAG_WRITE = 0x01
    FAULT_FLAG_MKWRITE = 0x02
    FAULT_FLAG_ALLOW_RETRY = 0x04
    FAULT_FLAG_RETRY_NOWAIT = 0x08
    FAULT_FLAG_KILLABLE = 0x10
    FAULT_FLAG_TRIED = 0x20
    FAULT_FLAG_USER = 0x40
    FAULT_FLAG_REMOTE = 0x80
    FAULT_FLAG_INSTRUCTION = 0x100

# enum page_entry_size (huge_fault's size argument)
cdef enum:
    PE_SIZE_PTE = 0
    PE_SIZE_PMD = 1
    PE_SIZE_PUD = 2

# fault kinds counted per task and machine (FAULT_KIND_NAMES in mm.pyx)
cdef enum:
    FK_ANON = 0          # do_anonymous_page, new page
    FK_ZERO = 1          # do_anonymous_page, read: shared zero page mapped
    FK_COW = 2           # wp_page_copy
    FK_REUSE = 3         # wp_page_reuse
    FK_FILE_READ = 4     # do_read_fault
    FK_FILE_COW = 5      # do_cow_fault
    FK_SHARED = 6        # do_shared_fault / wp_page_shared
    FK_MAJOR = 7         # a fault that had to read the page in (VM_FAULT_MAJOR)
    FK_OOM = 8
    FK_SIGSEGV = 9
    FK_SIGBUS = 10
    FK_SWAP = 11         # do_swap_page
    FK_HUGE = 12         # a huge leaf mapped or written (huge_fault, hugetlb, huge wp)
    FK_USERFAULT = 13    # handed to handle_userfault()
    FK_AROUND = 14       # pages mapped by fault-around (do_fault_around -> map_pages)
    FK_HWPOISON = 15     # VM_FAULT_HWPOISON (a poison marker)
    NR_FAULT_KINDS = 16

# ----------------------------------------------------------------------------------------------
# Non-present PTEs: swap entries and PTE markers (include/linux/swapops.h, x86-64 pgtable_64.h)
# ----------------------------------------------------------------------------------------------
# An x86-64 swap PTE: type in bits 59-63, the inverted offset in bits 9-58, _PAGE_PRESENT and
# _PAGE_PROTNONE clear.  The arch-independent swp_entry_t is type << SWP_TYPE_SHIFT | offset.
cdef enum:
    SWP_TYPE_BITS = 5
    SWP_OFFSET_FIRST_BIT = 9                    # _PAGE_BIT_PROTNONE + 1
    SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS
    SWP_TYPE_SHIFT = 58                         # BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT
    _PAGE_SWP_SOFT_DIRTY = 0x002                # _PAGE_RW on a swap PTE
    _PAGE_SWP_UFFD_WP = 0x004                   # _PAGE_USER on a swap PTE
    _PAGE_SWP_EXCLUSIVE = 0x008                 # _PAGE_PWT on a swap PTE (v5.19+)
    _PAGE_PROTNONE = 0x100
    PTE_MARKER_UFFD_WP = 0x1                    # include/linux/swapops.h (v5.19+)
    PTE_MARKER_POISONED = 0x2                   # v6.6+ (UFFDIO_POISON)

cdef inline uint64_t swp_entry(unsigned int type, uint64_t offset) noexcept nogil:
    """swp_entry(): the arch-independent entry."""
    return (<uint64_t>type << SWP_TYPE_SHIFT) | (offset & ((1ULL << SWP_TYPE_SHIFT) - 1))

cdef inline unsigned int swp_type(uint64_t entry) noexcept nogil:
    return <unsigned int>(entry >> SWP_TYPE_SHIFT)

cdef inline uint64_t swp_offset(uint64_t entry) noexcept nogil:
    return entry & ((1ULL << SWP_TYPE_SHIFT) - 1)

cdef inline uint64_t swp_entry_to_pte(uint64_t entry) noexcept nogil:
    """swp_entry_to_pte() on x86-64 (__swp_entry: the offset inverted, the type on top)."""
    return ((~swp_offset(entry)) << SWP_OFFSET_SHIFT >> SWP_TYPE_BITS) \
        | (<uint64_t>swp_type(entry) << (64 - SWP_TYPE_BITS))

cdef inline uint64_t pte_to_swp_entry(uint64_t pte) noexcept nogil:
    """pte_to_swp_entry(): the software bits (soft-dirty, uffd-wp, exclusive) dropped."""
    return swp_entry(<unsigned int>(pte >> (64 - SWP_TYPE_BITS)),
                     (~pte) << SWP_TYPE_BITS >> SWP_OFFSET_SHIFT)

# ----------------------------------------------------------------------------------------------
# Pages and page tables as the mm code reads them (shared with memsim.mmcheck)
# ----------------------------------------------------------------------------------------------
cdef inline uint64_t* table_entries(PhysMem pm, pfn_t table) noexcept nogil:
    """The 512 entries of a page-table page (kept in host memory, page->private)."""
    return <uint64_t*>pm.mem_map[table].private

cdef inline page* compound_head_page(PhysMem pm, pfn_t pfn) noexcept nogil:
    """compound_head(): the head of a tail page, else the page itself."""
    cdef page* p = &pm.mem_map[pfn]
    if p.flags & (1ULL << PG_tail):
        return &pm.mem_map[p.compound_head]
    return p

cdef inline int64_t folio_nr(page* head) noexcept nogil:
    """folio_nr_pages() of a head (or order-0) page: 2^compound_order for PG_head, else 1."""
    if head.flags & (1ULL << PG_head):
        return 1LL << head.compound_order
    return 1

cdef inline int mm_counter(page* head) noexcept nogil:
    """mm_counter(): MM_ANONPAGES, MM_SHMEMPAGES (swap-backed file) or MM_FILEPAGES."""
    if head.mapping & PAGE_MAPPING_ANON:
        return MM_ANONPAGES
    if head.flags & (1ULL << PG_swapbacked):
        return MM_SHMEMPAGES
    return MM_FILEPAGES

cdef inline int32_t* compound_mapcount_ptr(PhysMem pm, pfn_t head) noexcept nogil:
    """compound_mapcount_ptr(): the entire mapcount of a compound page, kept in its first tail
    page's otherwise unused LRU link (the kernel keeps it in page[1] too)."""
    return <int32_t*>&pm.mem_map[head + 1].lru_prev

cdef inline bint pte_none(uint64_t pte) noexcept nogil:
    return pte == 0

cdef inline bint pte_present(uint64_t pte) noexcept nogil:
    return (pte & (0x001 | _PAGE_PROTNONE)) != 0

# ----------------------------------------------------------------------------------------------
# struct vm_fault and the ops tables
# ----------------------------------------------------------------------------------------------
cdef struct vm_fault:
    uint64_t address            # the faulting address, page aligned (huge page aligned for hugetlb)
    uint64_t real_address       # the faulting address as accessed
    uint64_t pgoff              # linear_page_index(vma, address)
    unsigned int flags          # FAULT_FLAG_*
    gfp_t gfp_mask
    uint64_t orig_pte           # the entry seen when the fault started
    uint64_t* pte               # the PTE slot of address, or NULL (no table yet / huge fault)
    uint64_t* pmd               # the PMD slot of address
    pfn_t page                  # ->fault's result: the page to map (NO_PFN = none)
    pfn_t cow_page              # do_cow_fault's private copy

# vm_operations_struct (include/linux/mm.h).  Return values: fault/huge_fault/page_mkwrite/
# map_pages a VM_FAULT_* code; open/close 0; may_split 0 or a negative errno; pagesize bytes.
ctypedef int (*vm_open_fn)(void* ctx, VmArea vma) except -1
ctypedef int (*vm_close_fn)(void* ctx, VmArea vma) except -1
ctypedef int (*vm_may_split_fn)(void* ctx, VmArea vma, uint64_t addr) except? -1000000
ctypedef int (*vm_fault_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
ctypedef int (*vm_huge_fault_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, int pe_size) except -1
ctypedef int (*vm_page_mkwrite_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
ctypedef int (*vm_map_pages_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf,
                                uint64_t start_pgoff, uint64_t end_pgoff) except -1
ctypedef uint64_t (*vm_pagesize_fn)(void* ctx, VmArea vma) except 0

cdef struct vm_operations_struct:
    vm_open_fn open                 # vm_area_dup (fork) and __split_vma: the new VMA
    vm_close_fn close               # remove_vma: the VMA goes away
    vm_may_split_fn may_split       # __split_vma: may the VMA be cut at addr? (hugetlb: -EINVAL)
    vm_fault_fn fault               # __do_fault: put the page to map in vmf.page
    vm_huge_fault_fn huge_fault     # PMD/PUD faults; for VM_HUGETLB VMAs the whole fault (hugetlb_fault)
    vm_page_mkwrite_fn page_mkwrite # a shared mapping's page is about to become writable
    vm_map_pages_fn map_pages       # fault-around: map the cached pages of [start_pgoff, end_pgoff]
    vm_pagesize_fn pagesize         # vma_kernel_pagesize()
    void* ctx

# struct writeback_control (include/linux/writeback.h): what pageout() passes to ->writepage.
cdef enum:
    WB_SYNC_NONE = 0
    WB_SYNC_ALL = 1
    AOP_WRITEPAGE_ACTIVATE = 0x80000    # include/linux/fs.h: "keep the page, activate it"

cdef struct writeback_control:
    int64_t nr_to_write
    int64_t range_start
    int64_t range_end
    int sync_mode                       # WB_SYNC_NONE from reclaim
    bint for_reclaim

# address_space_operations: memsim's split of the page cache's lookup and allocation.
# lookup: the cached page at index (find_get_page without FGP_CREAT), NO_PFN if none; no
#   reference is taken (the fault path takes one when it maps the page).
# alloc: a new page for index, added to the cache (page_cache_alloc + add_to_page_cache_lru +
#   ->readpage, or shmem_alloc_and_acct_page); sets *major when it had to read the page in;
#   NO_PFN when memory ran out, or NO_PFN with *major a negative errno for another failure
#   (shmem's -ENOSPC: the fault is SIGBUS, as vmf_error() makes it).  The page's reference is
#   the cache's.
ctypedef pfn_t (*aops_lookup_fn)(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe
ctypedef pfn_t (*aops_alloc_fn)(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                MmStruct mm, int* major) except? 0xfffffffffffffffe
# migratepage: replace ``old`` by ``new`` at ``index`` in the cache (->migratepage): 0 or -EBUSY.
ctypedef int (*aops_migratepage_fn)(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                                    pfn_t new) except? -1000000

# Reclaim's side of the page cache (mm/vmscan.c shrink_page_list, pageout, __remove_mapping).
# writepage: ->writepage(page, wbc) from pageout() (v5.14; kswapd only, see Vmscan): the page is
#   clean (clear_page_dirty_for_io) and PG_reclaim is set; the op starts the write
#   (MmCore.set_page_writeback) and ends it (MmCore.end_page_writeback) now or later -- a page
#   still under writeback is reclaimed on a later pass, after end_page_writeback rotated it to
#   the inactive tail.  Returns 0, AOP_WRITEPAGE_ACTIVATE (the op redirtied it: the page is
#   activated) or a negative errno.  NULL: dirty pages of the mapping are activated
#   (pageout()'s PAGE_ACTIVATE when a_ops->writepage is NULL).
# delete_from_page_cache: __remove_mapping()'s __delete_from_page_cache(page, shadow) and
#   ->freepage: the clean, unmapped page that only the cache holds leaves the op's cache;
#   ``shadow`` (0: none) is the workingset entry to keep at its index; the op takes the page out
#   of i_pages with MmCore.page_cache_delete_page (which fires filemap's delete event; the core
#   then undoes NR_FILE_PAGES).  NULL: the mapping's pages are not reclaimable (shrink_page_list
#   keeps them).
ctypedef int (*aops_writepage_fn)(void* ctx, AddressSpace mapping, pfn_t pfn,
                                  writeback_control* wbc) except? -1000000
ctypedef int (*aops_delete_from_page_cache_fn)(void* ctx, AddressSpace mapping, pfn_t pfn,
                                               uint64_t shadow) except -1

# The fault path's side (generic_file_vm_ops, which a filesystem's ->mmap installs in the
# kernel: memsim's file VMAs have vm_ops NULL and the core calls these in its place).
# map_pages: filemap_map_pages() for do_fault_around(): map the cached, uptodate pages of
#   [start_pgoff, end_pgoff] at their empty PTEs (MmCore.do_set_pte with prefault, counting
#   FK_AROUND); VM_FAULT_NOPAGE if the faulting page itself got mapped, else 0.  NULL: no
#   fault-around on the mapping.
# page_mkwrite: filemap_page_mkwrite() / shmem's none: a shared page (vmf.page) is about to become
#   writable; 0 or a VM_FAULT_* code (VM_FAULT_NOPAGE when truncation took the page away).
# dirty_folio: folio_mark_dirty() -> a_ops->dirty_folio (v5.14 ->set_page_dirty) for a page a
#   write fault dirtied (fault_dirty_shared_page): the op dirties it (MmCore.set_page_dirty, the
#   accounting) and tags/marks what its filesystem keeps; 1 if the page was newly dirtied.
#   NULL: MmCore.set_page_dirty.
ctypedef int (*aops_map_pages_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf,
                                  uint64_t start_pgoff, uint64_t end_pgoff) except -1
ctypedef int (*aops_page_mkwrite_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
ctypedef int (*aops_dirty_folio_fn)(void* ctx, AddressSpace mapping, pfn_t pfn) except -1
# launder_folio: ->launder_folio (v5.14 ->launder_page) from invalidate_inode_pages2_range():
#   write the dirty page ``pfn`` now and clean it (MmCore.clear_page_dirty_for_io, with or without
#   a writeback of its own), so that it can leave the cache; 0 or a negative errno.  NULL (most
#   filesystems: ext4 and tmpfs have none): a dirty page stays and the call returns -EBUSY.
ctypedef int (*aops_launder_folio_fn)(void* ctx, AddressSpace mapping, pfn_t pfn) except? -1000000
# set_policy: vm_ops->set_policy of a file VMA without vm_ops (shmem_set_policy(), from
#   mbind()'s vma_replace_policy()): ``new`` (NULL or mode 0: MPOL_DEFAULT) is now the VMA's
#   policy; the filesystem records it for the file range the VMA maps (the inode's shared
#   policy, which its later allocations use whoever maps or writes the file); 0 or a negative
#   errno (mbind fails with it).  NULL: the policy is the VMA's alone.
ctypedef int (*aops_set_policy_fn)(void* ctx, VmArea vma, const mempolicy* new) except? -1000000

cdef struct address_space_operations:
    aops_lookup_fn lookup
    aops_alloc_fn alloc
    aops_migratepage_fn migratepage
    aops_writepage_fn writepage
    aops_delete_from_page_cache_fn delete_from_page_cache
    aops_map_pages_fn map_pages
    aops_page_mkwrite_fn page_mkwrite
    aops_dirty_folio_fn dirty_folio
    aops_launder_folio_fn launder_folio
    aops_set_policy_fn set_policy
    void* ctx

# userfaultfd (fs/userfaultfd.c as the core calls it).
# handle_userfault: reason VM_UFFD_MISSING / VM_UFFD_MINOR / VM_UFFD_WP; return VM_FAULT_RETRY
#   after setting MmCore.blocked_on to the wait queue the faulting task must sleep on.
# dup: dup_userfaultfd() at fork for a VMA with a userfaultfd context: return 1 to keep the
#   context (UFFD_FEATURE_EVENT_FORK: the child VMA keeps its VM_UFFD_* flags and the new
#   context the op stored in new.vm_userfaultfd_ctx), 0 to clear it as the kernel does otherwise.
# remap: mremap_userfaultfd_prep/complete; unmap: userfaultfd_unmap_prep (munmap of [start, end));
# remove: userfaultfd_remove() (MADV_DONTNEED / MADV_FREE / MADV_REMOVE of [start, end), before
#   the pages go).  An op that must make the calling task wait for the monitor (a non-cooperative
#   event, read by the monitor) sets MmCore.blocked_on; the system call's step yields it at its
#   end (userfaultfd_event_wait_completion).
ctypedef int (*uffd_handle_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf,
                               uint64_t reason) except -1
ctypedef int (*uffd_dup_fn)(void* ctx, VmArea vma, VmArea new) except -1
ctypedef int (*uffd_remap_fn)(void* ctx, VmArea vma, uint64_t old_start, uint64_t new_start,
                              uint64_t length) except -1
ctypedef int (*uffd_unmap_fn)(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1
ctypedef int (*uffd_remove_fn)(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1

cdef struct userfaultfd_ops:
    uffd_handle_fn handle_userfault
    uffd_dup_fn dup
    uffd_remap_fn remap
    uffd_unmap_fn unmap
    uffd_remove_fn remove
    void* ctx

# Swap entries in PTEs (mm/memory.c do_swap_page, mm/swapfile.c).
# do_swap_page: a fault on a swap PTE (vmf.orig_pte); returns a VM_FAULT_* code.
# swap_free: zap_pte_range's free_swap_and_cache(entry).
# swap_duplicate: copy_nonpresent_pte's swap_duplicate(entry): 0, or a negative errno
#   (-ENOMEM: a count continuation page could not be allocated; the fork fails).
ctypedef int (*do_swap_page_fn)(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
ctypedef int (*swap_free_fn)(void* ctx, uint64_t entry) except -1
ctypedef int (*swap_duplicate_fn)(void* ctx, uint64_t entry) except? -1000000
# swap_out: reclaim's add_to_swap(page) for an anonymous page shrink_page_list wants to evict:
#   give it a swap entry (*entry: get_swap_page, with its memcg swap charge) and put it in the
#   swap cache (add_to_swap_cache: PG_swapcache, page->private = entry, the swap cache's page
#   reference, NR_FILE_PAGES, NR_SWAPCACHE) and set PG_dirty; 0, or -ENOMEM when no slot is left
#   or the memcg's swap.max refuses (the page is activated).  NULL: no swap, so anon is not
#   scanned by reclaim (get_scan_count's can_reclaim_anon_pages() is false) and anon pages stay
#   where they are.  try_to_unmap then puts swp_entry_to_pte(entry) in every PTE, taking a
#   swap_duplicate reference each, MM_ANONPAGES -> MM_SWAPENTS.
# swap_writepage: pageout()'s ->writepage of the swap cache (swap_writepage, v6.18
#   swap_writeout): write the page to slot ``entry``; same contract as a_ops writepage (the op
#   sets and ends writeback through MmCore.set_page_writeback / end_page_writeback; ending it at
#   once is a synchronous write, and the page is freed in the same pass).  NULL: anon pages are
#   activated after add_to_swap (nothing can write them).
# delete_from_swap_cache: __remove_mapping() of a clean, unmapped swap-cache page
#   (mem_cgroup_swapout, __delete_from_swap_cache with a workingset shadow, put_swap_page in the
#   profile's order): PG_swapcache, page->private, NR_FILE_PAGES and NR_SWAPCACHE go; its PTEs
#   keep ``entry``.  The caller drops the swap cache's page reference.  Also called when an
#   added page cannot be unmapped.
# free_swap_cache: free_swap_cache() of a swap-cache page the unmap's release frees
#   (free_pages_and_swap_cache): try_to_free_swap() -- when no swap PTE refers to its slot and
#   it is not under writeback the page leaves the swap cache and the op drops the cache's
#   reference; 1 when it did, else 0.
ctypedef int (*swap_out_fn)(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000
ctypedef int (*swap_writepage_fn)(void* ctx, pfn_t pfn, uint64_t entry,
                                  writeback_control* wbc) except? -1000000
ctypedef int (*delete_from_swap_cache_fn)(void* ctx, pfn_t pfn, uint64_t entry) except -1
ctypedef int (*free_swap_cache_fn)(void* ctx, pfn_t pfn) except -1
# nr_swap_pages: get_nr_swap_pages() (free slots; can_reclaim_anon_pages scans anon only when
#   some are left).  NULL: as many as wanted.
ctypedef int64_t (*nr_swap_pages_fn)(void* ctx) noexcept
# total_swap_pages: the swap slots of the areas that are on (the anon lists are aged only with
#   some).  NULL: some.
# shmem's side (mm/shmem.c calling into mm/swap_state.c and mm/swapfile.c; the page-cache
# plugin's shmem.pyx calls these, NULL: no swap, so shmem_writepage redirties and activates).
# shmem_add_to_swap: shmem_writepage()'s get_swap_page() (with its memcg swap charge) and
#   add_to_swap_cache() of the shmem page ``pfn`` pageout() has cleaned: *entry the slot, the
#   swap cache's page reference, PG_swapcache, page->private = entry, NR_FILE_PAGES and
#   NR_SWAPCACHE; unlike swap_out the page is not dirtied (swap_writepage writes it next).
#   0, or -ENOMEM when no slot is left, swap.max refuses or the insertion failed (the slot is
#   given back: put_swap_page); shmem then redirties the page (AOP_WRITEPAGE_ACTIVATE).
# swap_shmem_alloc: swap_shmem_alloc(entry) once the page's i_pages slot holds the entry: the
#   slot's count becomes shmem's (v5.14 SWAP_MAP_SHMEM 0xbf, transition H of swap.md 3; v6.13+
#   "mm: remove SWAP_MAP_SHMEM": an ordinary count of 1).
# shmem_swapin: shmem_swapin_page()'s read (v6.x shmem_swapin_folio): lookup_swap_cache(), and on
#   a miss *major = 1 and shmem_swapin() -> swap_cluster_readahead() (never VMA readahead)
#   through ``vma`` (shmem's pseudo-VMA: its policy, vm_mm NULL) at ``addr``:
#   __read_swap_cache_async() charging the page (mem_cgroup_swapin_charge_page with mm NULL:
#   the slot's recorded memcg, else the current task's) before add_to_swap_cache, swap_readpage.  Returns the swap-cache page with a
#   reference for the caller, or NO_PFN (-ENOMEM, or the slot is no longer in use).
# take_from_swap_cache: delete_from_swap_cache() of a page shmem took back into its page cache
#   (shmem_swapin_page, shmem_unuse): __delete_from_swap_cache without a shadow (PG_swapcache,
#   page->private, NR_FILE_PAGES, NR_SWAPCACHE), put_swap_page (SWAP_HAS_CACHE off) and the
#   swap cache's reference dropped.  shmem then drops its own count with swap_free.
# shmem's truncate, hole punch and eviction free a swapped slot with swap_free above
# (shmem_free_swap -> free_swap_and_cache).
ctypedef int (*shmem_add_to_swap_fn)(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000
ctypedef int (*swap_shmem_alloc_fn)(void* ctx, uint64_t entry) except -1
ctypedef pfn_t (*shmem_swapin_fn)(void* ctx, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                                  int* major) except? 0xfffffffffffffffe
ctypedef int (*take_from_swap_cache_fn)(void* ctx, pfn_t pfn) except -1

cdef struct swap_ops:
    do_swap_page_fn do_swap_page
    swap_free_fn swap_free
    swap_duplicate_fn swap_duplicate
    swap_out_fn swap_out
    swap_writepage_fn swap_writepage
    delete_from_swap_cache_fn delete_from_swap_cache
    free_swap_cache_fn free_swap_cache
    nr_swap_pages_fn nr_swap_pages
    nr_swap_pages_fn total_swap_pages
    shmem_add_to_swap_fn shmem_add_to_swap
    swap_shmem_alloc_fn swap_shmem_alloc
    shmem_swapin_fn shmem_swapin
    take_from_swap_cache_fn take_from_swap_cache
    void* ctx

# ----------------------------------------------------------------------------------------------
# The objects
# ----------------------------------------------------------------------------------------------
# The page cache's index (mapping->i_pages, the kernel's xarray): page index -> an
# entry, a pfn (>= 0) or a workingset shadow (< 0, memsim.workingset.shadow_to_entry), as the
# dict it replaces held them.  Slots in chunks of 512 behind a dense table; indexes past
# XA_DENSE_CHUNKS chunks (2^29 pages) in a dict.  Slot encoding: 0 empty, pfn + 1 a page, the
# entry itself (top bit set) a shadow.
cdef enum:
    XA_SLOTS_SHIFT = 9
    XA_SLOTS = 512
    XA_DENSE_CHUNKS = 1 << 20

# address_space->flags bits (include/linux/pagemap.h enum mapping_flags)
cdef enum:
    AS_EXITING = 4                      # final truncate in progress: reclaim plants no shadows
    AS_FOLIO_ORDER_BITS = 5             # mapping_set_folio_order_range(): the min and max folio
    AS_FOLIO_ORDER_MIN = 16             # orders of the page cache (v6.11+), 5 bits each;
    AS_FOLIO_ORDER_MAX = 21             # max 0: no large folio support
    MAX_PAGECACHE_ORDER = 9             # x86-64: min(MAX_XAS_ORDER, HPAGE_PMD_ORDER)

cdef inline unsigned int mapping_max_folio_order(unsigned long flags) noexcept nogil:
    """mapping_max_folio_order() of a mapping's flags (mapping_large_folio_support: > 0)."""
    return (flags >> AS_FOLIO_ORDER_MAX) & ((1UL << AS_FOLIO_ORDER_BITS) - 1)

cdef class XArray:
    cdef uint64_t** chunks
    cdef uint16_t* chunk_count          # entries in each chunk (an emptied chunk is freed)
    cdef uint64_t nr_chunks
    cdef dict far                       # index -> slot, past the dense table
    cdef readonly uint64_t nr_entries   # pages and shadows (len(), as the dict's); a multi-index
                                        # entry counts each slot it covers
    cdef dict multi                     # first index -> order of each multi-index entry
    cdef readonly uint64_t nr_multi     # multi-index entries (0: the fast paths skip the dict)
    cdef unsigned int multi_max         # the largest order stored so far (get_order's bound)
    cdef uint64_t* slot(self, uint64_t index, bint create) except? NULL
    cdef void slot_emptied(self, uint64_t index) noexcept
    cdef bint load(self, uint64_t index, int64_t* entry) except -1
    cdef int store(self, uint64_t index, int64_t entry) except -1
    cdef bint erase(self, uint64_t index) except -1
    cdef bint exchange(self, uint64_t index, int64_t entry, int64_t* old) except -1
    cdef int store_order(self, uint64_t index, unsigned int order, int64_t entry) except -1
    cdef int erase_order(self, uint64_t index, unsigned int order) except -1
    cdef unsigned int get_order(self, uint64_t index, uint64_t* first) except? 255
    cdef int split(self, uint64_t index) except -1
    cdef bint find(self, uint64_t start, uint64_t end, uint64_t* index, int64_t* entry) except -1

cdef class AddressSpace:
    cdef public uint64_t i_ino
    cdef public uint32_t s_dev
    cdef public bint swapbacked         # shmem / shared anonymous (mapping_swap_backed)
    cdef public uint64_t i_size
    cdef public str name
    cdef public XArray i_pages          # the page cache: index -> pfn (>= 0), or a shadow
                                        # entry (< 0: memsim.workingset.shadow_to_entry)
    cdef public uint64_t nrpages        # page entries in i_pages (shadows are not counted)
    cdef public uint64_t nrexceptional  # value entries: kept only with keep_nrexceptional (pre-5.13)
    cdef public bint keep_nrexceptional # the no-nrexceptional patch is off: maintain and check it
    cdef public unsigned long flags     # AS_* bits (AS_EXITING)
    cdef uint16_t* xa_leaf              # per 64-slot leaf (xa_node): entries | value entries << 8
    cdef uint64_t xa_nr_leaves          # ... for leaves below this (grown on demand)
    cdef dict xa_far                    # ... for leaves beyond XA_LEAF_ARRAY_MAX (sparse files)
    cdef uint32_t xa_leaf_state(self, uint64_t leaf) noexcept
    cdef int xa_set_leaf_state(self, uint64_t leaf, uint32_t st) except -1
    cdef public bint in_rmap            # registered in Rmap.mappings (rmap_walk_file finds it)
    cdef public list i_mmap             # the VMAs mapping this file (the i_mmap interval tree)
    cdef public object host             # the inode object a plugin keeps for this mapping
    cdef public uint64_t addr           # the address_space's kernel address (page->mapping)
    cdef public object a_ops_owner      # keeps the owner of a_ops (and its ctx) alive
    cdef public int64_t private_data    # the a_ops owner's per-file count (shmem: info->alloced)
    cdef public int64_t swapped         # the a_ops owner's swapped-out pages (shmem: info->swapped,
                                        # its swap value entries in i_pages)
    cdef address_space_operations* a_ops    # NULL: empty_aops (no page can be read or written)

cdef inline bint mapping_empty(AddressSpace mapping) noexcept:
    """mapping_empty() (include/linux/pagemap.h, v5.13+): xa_empty(&mapping->i_pages), no page
    and no value entry at any index."""
    return mapping.i_pages.nr_entries == 0

cdef inline bint mapping_truncated(AddressSpace mapping) noexcept:
    """The emptiness test of the sites "mm: introduce and use mapping_empty()" changed
    (truncate_inode_pages_range, truncate_inode_pages_final, invalidate_inode_pages2_range;
    pagecache.md 4.2): mapping_empty() after the patch, ``!nrpages && !nrexceptional`` before it
    (``keep_nrexceptional``)."""
    if mapping.keep_nrexceptional:
        return mapping.nrpages == 0 and mapping.nrexceptional == 0
    return mapping.i_pages.nr_entries == 0

cdef class AnonVma:
    cdef public uint64_t addr           # the anon_vma's kernel address (page->mapping | 1)
    cdef public AnonVma root
    cdef public AnonVma parent
    cdef public list vmas               # the rb_root interval tree: VMAs chained to this anon_vma
    cdef public int refcount
    cdef public int degree

cdef class AnonVmaChain:
    cdef public AnonVma anon_vma
    cdef public uint64_t addr           # the anon_vma_chain's kernel address

cdef class VmArea:
    cdef public uint64_t vm_start
    cdef public uint64_t vm_end
    cdef public uint64_t vm_flags
    cdef public uint64_t vm_pgoff
    cdef public MmStruct vm_mm
    cdef public AddressSpace vm_file
    cdef public uint64_t anon_vma       # the anon_vma's address (0 = not prepared yet)
    cdef public list anon_vma_chain     # AnonVmaChain links to the anon_vmas this VMA is in
    cdef public str name
    cdef public object vm_private_data  # a plugin's state for this VMA (copied by vm_area_dup)
    cdef public object vm_userfaultfd_ctx   # the userfaultfd context (dup_userfaultfd at fork)
    cdef public uint64_t addr           # the vm_area_struct's kernel address
    cdef public object vm_ops_owner     # keeps the owner of vm_ops (and its ctx) alive
    cdef vm_operations_struct* vm_ops
    cdef mempolicy* vm_policy           # mbind() policy, NULL = the task's
    cdef public uint64_t swap_readahead_info    # the swap plugin's VMA readahead state (last
                                                # fault address | window << 6 | hits)

cdef class MmStruct:
    cdef MmCore core
    cdef pfn_t pgd
    cdef readonly uint64_t seq          # allocation order, unique for the machine's life
    cdef public list vmas               # sorted by vm_start
    cdef int64_t rss[NR_MM_COUNTERS]
    cdef public uint32_t mm_id
    cdef public uint64_t addr           # the mm_struct's kernel address (hashed into mm_id)
    cdef public int mm_users
    cdef public uint64_t pgtables_bytes
    cdef public uint64_t mmap_base
    cdef public uint64_t hugetlb_usage  # mm->hugetlb_usage, in pages (hugetlb_count_add/sub)
    cdef public int64_t locked_vm       # mm->locked_vm, in pages (mlock_fixup, mmap_region, munmap)
    cdef public uint64_t def_flags      # mm->def_flags: VM_LOCKED (| VM_LOCKONFAULT) after mlockall(MCL_FUTURE)
    cdef public object owner            # the TaskStruct that created it
    cdef inline void add_mm_counter(self, int member, int64_t value, bint curr) noexcept
    cdef void add_mm_counter_fast(self, int member, int64_t value) noexcept
    cdef void sync_mm_rss(self, TaskStruct task) noexcept
    cdef void add_mm_rss_vec(self, int64_t* rss) noexcept
    cdef void emit_rss(self, int member, bint curr) noexcept
    cpdef VmArea find_vma(self, uint64_t addr)

# A page-table page written since the last invariant check (--check): the walk that returned a
# slot in it (or the split that filled it) records it once (PG_pgtable_changed), with its mm and
# an address it maps; a freed table is recorded with level 0.  MmCheck consumes the records.
cdef struct pgtable_change:
    pfn_t table
    uint64_t mm_seq
    uint64_t addr
    int level                           # 2 pud, 3 pmd, 4 pte table; 0: freed

# struct mmu_table_batch (include/asm-generic/tlb.h): page tables waiting for an RCU grace period
# (MMU_GATHER_RCU_TABLE_FREE), in a page of their own: an rcu_head (16 bytes) and nr before the
# table pointers, so (4096 - 24) / 8 = 509 tables a batch.  memsim keeps the list in a C struct
# and the page it would live in in ``page``; ``next`` is the rcu_head's place on the callback list.
cdef enum:
    MAX_TABLE_BATCH = 509            # (4096 - 24) / 8 (a literal: an importer may lack cdivision)

cdef struct mmu_table_batch:
    mmu_table_batch* next           # the next callback queued (call_rcu order)
    pfn_t page                      # the batch page (__get_free_page(GFP_NOWAIT | __GFP_NOWARN))
    int cpu                         # the CPU whose call_rcu() queued it: its softirq frees it
    unsigned int nr
    pfn_t tables[MAX_TABLE_BATCH]

cdef class PageTables:
    cdef PhysMem pm
    cdef TraceBuffer tb
    cdef public gfp_t gfp_pgtable
    cdef public uint64_t nr_pagetable   # NR_PAGETABLE: pte + pmd table pages
    cdef public uint64_t cost_pgtable_ns
    cdef uint64_t next_mm_seq
    cdef bint track_changes             # record changed tables (an MmCheck is attached)
    cdef bint changes_lost              # a record could not be stored: the next check is full
    cdef pgtable_change* changes
    cdef size_t nr_changes
    cdef size_t max_changes
    cdef void note_change(self, uint64_t mm_seq, pfn_t table, uint64_t addr, int level) noexcept
    cdef inline void touch(self, MmStruct mm, pfn_t table, uint64_t addr, int level) noexcept:
        if self.track_changes and not (self.pm.mem_map[table].flags & (1ULL << PG_pgtable_changed)):
            self.note_change(mm.seq, table, addr, level)
    cdef pfn_t alloc_table(self, int level) except? 0xfffffffffffffffe
    cdef int free_table_now(self, pfn_t pfn) except -1
    cdef void unlink_table(self, pfn_t pfn) noexcept
    cdef int pagetable_dtor(self, pfn_t pfn) except -1
    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL
    cdef uint64_t* walk_pmd(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL
    cdef uint64_t* walk_pud(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL
    cdef bint table_empty(self, pfn_t table) noexcept

cdef class Rmap:
    cdef MmCore core
    cdef public dict anon_vmas          # anon_vma address -> AnonVma
    cdef public dict mappings           # address_space address -> AddressSpace
    cdef AnonVma anon_vma_alloc(self, str site)
    cdef int anon_vma_chain_link(self, VmArea vma, AnonVma av, uint64_t avc) except -1
    cdef int unlink_anon_vmas(self, VmArea vma) except -1
    cdef int put_anon_vma(self, AnonVma av) except -1
    # reclaim's walk cache: the PTE table of the last (mm, 2 MiB range) an rmap walk reached,
    # used between walk_cache_begin() and walk_cache_end() (one shrink_page_list batch, in which
    # no page table is freed)
    cdef bint wc_on
    cdef object wc_mm
    cdef uint64_t wc_base
    cdef uint64_t* wc_ptes
    cdef void walk_cache_begin(self) noexcept
    cdef void walk_cache_end(self) noexcept
    cdef uint64_t* rmap_pte(self, MmStruct mm, uint64_t addr, int* err) except? NULL
    cdef list rmap_vmas(self, page* hp)
    cdef int _page_mkclean(self, pfn_t pfn) except -1
    cdef int _page_referenced(self, pfn_t pfn, list vmas, uint64_t* vm_flags) except -1
    cdef int _try_to_unmap(self, pfn_t pfn, list vmas, uint64_t entry, bint swap, bint dup) except -1
    cdef int try_to_unmap_folio(self, pfn_t head, list vmas) except -1
    cdef bint try_to_munlock(self, pfn_t pfn) except -1

cdef class MmCore:
    cdef PhysMem pm
    cdef TraceBuffer tb
    cdef Current cur
    cdef readonly PageTables pgt
    cdef readonly Rmap rmap
    cdef readonly pfn_t zero_pfn
    cdef public bint split_rss
    cdef public gfp_t gfp_anon
    cdef public gfp_t gfp_user          # GFP_HIGHUSER_MOVABLE (COW copies, page cache)
    cdef public gfp_t gfp_readahead     # a regular file's page read in by a fault (0: gfp_user)
    cdef public gfp_t gfp_anon_vma_clone    # anon_vma_clone()'s anon_vma_chain allocations
    cdef public bint thp_get_unmapped_area  # anonymous mmaps of PMD-multiple lengths are THP-aligned
    cdef public uint64_t ptr_k0
    cdef public uint64_t ptr_k1
    cdef uint64_t fault_counts[NR_FAULT_KINDS]
    cdef public uint64_t next_anon_vma
    cdef public uint64_t cost_fault_ns
    cdef public uint64_t cost_access_ns
    cdef public uint64_t rng
    cdef public uint64_t fault_around_bytes    # /sys/kernel/debug/fault_around_bytes (64 KiB)
    cdef public bint plugged            # blk_start_plug(): page writes wait in plug_list
    cdef pfn_t plug_list[BLK_MAX_REQUEST_COUNT]
    cdef public int plug_count
    cdef public bint pte_markers        # the profile has PTE markers (v5.19+)
    cdef public bint munmap_lru_drain   # lru_add_drain() before an unmap's mmu_gather (before v6.14)
    cdef public bint wp_reuse_drains_lru    # do_wp_page drains the lru caches first (v5.18+)
    cdef public bint nr_pages_slot      # mmu_gather batches keep a slot for an encoded nr_pages (v6.8+)
    cdef public bint rcu_table_free     # page tables go through tlb_remove_table() and RCU (x86 v6.14+)
    cdef public bint trace_context      # records carry their context (TraceBuffer.ctx_flags/ctx_preempt)
    cdef public bint migration_entry_ad # migration entries keep young/dirty (v6.1+; v5.14: the new leaf is old and clean)
    cdef public bint pgfault_at_end     # PGFAULT is counted after the fault (mm_account_fault(); 6.18)
    cdef mmu_table_batch* rcu_wait      # call_rcu()'d table batches whose grace period has not ended
    cdef mmu_table_batch* rcu_wait_tail
    cdef mmu_table_batch* rcu_ready     # ... and those whose grace period has ended, to invoke
    cdef mmu_table_batch* rcu_ready_tail
    cdef list rcu_cb_wait               # call_rcu()'d Python callbacks (cpu, fn) of the grace period
    cdef list rcu_cb_ready              # ... and those whose grace period has ended
    cdef int call_rcu_table_batch(self, mmu_table_batch* batch) except -1
    cdef int tlb_remove_table_free(self, mmu_table_batch* batch) except -1
    cdef public unsigned int swp_pte_marker    # the swap type of PTE markers (SWP_PTE_MARKER)
    cdef public object slab             # the slab allocator, for anon_vma & co (optional)
    cdef public object blocked_on       # set by handle_userfault when a fault must wait
    cdef public bint in_user_fault      # current->in_user_fault: inside handle_mm_fault() of a
                                        # FAULT_FLAG_USER fault (mem_cgroup_enter_user_fault)
    cdef int rss_preempt
    cdef userfaultfd_ops uffd_ops
    cdef swap_ops swap
    cdef readonly Workingset workingset # mm/workingset.c: shadows, refaults, shadow nodes
    cdef object ops_owners              # keeps the objects behind installed ops tables alive
    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL
    cdef pfn_t alloc_user_page(self, gfp_t gfp, VmArea vma, uint64_t addr) except? 0xfffffffffffffffe
    cdef int charge(self, pfn_t pfn, MmStruct mm, gfp_t gfp) except -1
    cdef inline void check_sync_rss_stat(self) noexcept
    cdef int handle_mm_fault(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1
    cdef int handle_mm_fault_body(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1
    cdef void count_pgfault(self, MmStruct mm) noexcept
    cdef bint transhuge_suitable(self, VmArea vma, uint64_t addr) noexcept
    cdef int hugetlb_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int handle_pte_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int userfault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1
    cdef inline bint orig_pte_uffd_wp(self, vm_fault* vmf) noexcept
    cdef uint64_t anon_vma_prepare(self, VmArea vma) except? 0xffffffffffffffff
    cdef inline void page_add_new_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) noexcept
    cdef int do_anonymous_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_wp_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int wp_page_copy(self, MmStruct mm, VmArea vma, vm_fault* vmf, pfn_t old, bint old_is_zero) except -1
    cdef uint64_t* pte_alloc(self, MmStruct mm, vm_fault* vmf) except? NULL
    cdef int do_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef bint should_fault_around(self, VmArea vma) noexcept
    cdef int do_fault_around(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_fault_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_read_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_cow_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_shared_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int finish_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_set_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, pfn_t pfn,
                        bint write, bint prefault) except -1
    cdef int install_anon_page(self, MmStruct mm, VmArea vma, uint64_t addr, pfn_t pfn,
                               bint writable) except -1
    cdef int filemap_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef pfn_t page_cache_lookup(self, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe
    cdef int _add_to_page_cache(self, pfn_t pfn, AddressSpace mapping, uint64_t index) except -1
    cdef pfn_t page_cache_alloc(self, AddressSpace mapping, uint64_t index, MmStruct mm,
                                VmArea vma, uint64_t addr, int* major) except? 0xfffffffffffffffe
    cdef uint64_t page_cache_store(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except? 0xffffffffffffffff
    cdef uint64_t page_cache_store_folio(self, AddressSpace mapping, uint64_t index, pfn_t pfn,
                                         unsigned int order) except? 0xffffffffffffffff
    cdef int add_to_page_cache_locked(self, pfn_t pfn, AddressSpace mapping, uint64_t index,
                                      uint64_t* shadow) except? -1000000
    cdef int page_cache_delete(self, AddressSpace mapping, uint64_t index, uint64_t shadow) except -1
    cdef int page_cache_delete_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn,
                                    uint64_t shadow) except -1
    cdef int filemap_remove_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1
    cdef int xa_node_account(self, AddressSpace mapping, uint64_t index, int dcount, int dvalues,
                             int nid) except -1
    cdef int trace_filemap_page(self, int ev, AddressSpace mapping, pfn_t pfn,
                                uint64_t index) except -1
    cdef int trace_filemap_fault(self, AddressSpace mapping, uint64_t index) except -1
    cdef uint64_t truncate_index_range(self, AddressSpace mapping, uint64_t start,
                                       uint64_t last) except? 0xffffffffffffffff
    cdef int truncate_inode_folio(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1
    cdef uint64_t truncate_inode_partial_folio(self, AddressSpace mapping, uint64_t index,
                                               pfn_t pfn, uint64_t lstart,
                                               uint64_t lend) except? 0xffffffffffffffff
    cdef int folio_zero_range(self, pfn_t pfn, uint64_t offset, uint64_t length) except -1
    cdef int do_swap_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int handle_pte_marker(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int do_huge_leaf_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t* leaf, int level) except -1
    cdef int zap_leaf_now(self, MmStruct mm, VmArea vma, uint64_t* leaf, int level) except -1
    cdef int split_huge_pmd(self, MmStruct mm, VmArea vma, uint64_t* pmd, uint64_t addr) except -1
    cdef int zap_range(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t start, uint64_t end, int flags) except -1
    cdef int zap_huge_leaf(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t* leaf, int level) except -1
    cdef int free_pgtables(self, MmuGather tlb, MmStruct mm, list vmas, uint64_t floor, uint64_t ceiling) except -1
    cdef int free_pgd_range(self, MmuGather tlb, MmStruct mm, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling) except -1
    cdef int free_table(self, MmuGather tlb, MmStruct mm, uint64_t* parent, int tlevel, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling) except -1
    cdef int put_page(self, pfn_t pfn) except -1
    cdef int mlock_vma_folio(self, VmArea vma, pfn_t pfn) except -1
    cdef int munlock_vma_folio(self, VmArea vma, pfn_t pfn) except -1
    cdef int munlock_page_v5(self, pfn_t pfn, bint single) except -1
    cdef int copy_huge_leaf(self, MmStruct dst, VmArea dst_vma, MmStruct src, VmArea src_vma,
                            uint64_t* sleaf, uint64_t addr, int level, bint cow) except -1
    cdef int migrate_page(self, pfn_t pfn) except? -1000000
    cdef int migrate_huge_page_mappings(self, pfn_t old, pfn_t new) except? -1000000
    cdef bint rmap_folio_mapped(self, pfn_t head) noexcept
    cdef int set_page_dirty(self, pfn_t pfn) except -1
    cdef int do_page_mkwrite(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int fault_dirty_shared_page(self, VmArea vma, pfn_t pfn) except -1
    cdef bint clear_page_dirty_for_io(self, pfn_t pfn) except -1
    cdef int set_page_writeback(self, pfn_t pfn) except -1
    cdef int end_page_writeback(self, pfn_t pfn) except -1
    cdef int write_one_page(self, AddressSpace mapping, pfn_t pfn,
                            writeback_control* wbc) except? -1000000
    cdef int submit_page_write(self, pfn_t pfn) except -1
    cdef int blk_start_plug(self) except -1
    cdef int blk_flush_plug(self) except -1
    cdef int blk_finish_plug(self) except -1
    cdef int delete_from_page_cache(self, AddressSpace mapping, pfn_t pfn, uint64_t shadow) except -1
    cdef int _migrate_page(self, pfn_t pfn) except? -1000000
    cdef int migrate_isolate_page(self, pfn_t pfn) except? -1000000

cdef class MmuGather:
    cdef MmCore core
    cdef MmStruct mm
    cdef bint fullmm
    cdef pfn_t* pages
    cdef int nr
    cdef int active_max
    cdef int active
    cdef int bundle_max                 # pages the bundled local batch holds (8, v6.8+: 7)
    cdef int batch_max                  # pages an allocated batch holds (510, v6.8+: 509)
    cdef list batch_pages
    cdef list batch_ends
    cdef mmu_table_batch* batch         # tlb->batch: the page tables to free after RCU (or NULL)
    cdef bint remove_page(self, pfn_t pfn) except -1
    cdef int remove_table(self, pfn_t pfn) except -1
    cdef int table_flush(self) except -1
    cdef int flush(self) except -1
