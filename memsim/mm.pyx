# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Address spaces: mm_struct, VMAs, anon_vma and address_space, x86-64 4-level page tables, the
fault path, the reverse map, rss counters and mmu_gather.

Models (v5.14, with the v6.18 differences the profiles switch on) mm/memory.c
(``handle_mm_fault``, ``do_anonymous_page``, ``do_wp_page``, ``wp_page_copy``, ``do_fault``,
``do_read_fault``/``do_cow_fault``/``do_shared_fault``, ``do_fault_around``, ``do_swap_page``,
``handle_pte_marker``, ``zap_pte_range``, ``copy_pte_range``, ``free_pgd_range``), mm/rmap.c
(``anon_vma_prepare``, ``anon_vma_clone``, ``anon_vma_fork``, ``unlink_anon_vmas``,
``rmap_walk``, ``try_to_unmap``, ``page_referenced``), mm/huge_memory.c (``zap_huge_pmd``,
``copy_huge_pmd``, ``do_huge_pmd_wp_page``, ``__split_huge_pmd``), mm/mremap.c
(``move_page_tables``), mm/migrate.c (``unmap_and_move`` of one page, the core's part of
``unmap_and_move_huge_page``; ``migrate_pages`` itself is PhysMem's), mm/mmu_gather.c and the rss
counting of include/linux/mm.h (SPLIT_RSS_COUNTING: per-task cached deltas, ``sync_mm_rss`` at
the 66th fault, ``add_mm_rss_vec`` for zap and copy batches).

Page tables are real: each table is a frame from the buddy allocator (``mm_page_alloc`` with
GFP_PGTABLE_USER) whose 512 entries are x86-64 PTEs (pfn << 12 | flags); the host array of the
entries hangs off the table's ``struct page``.  A PMD or PUD entry with _PAGE_PSE is a huge leaf
mapping a compound page whose "entire" mapcount (compound_mapcount) lives in its first tail page.
A non-present PTE that is not none is a swap entry (x86-64 encoding) or, on kernels with them, a
PTE marker (a swap entry of type SWP_PTE_MARKER).
"""
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memset, memcpy
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

from memsim._types cimport (
    pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PTRS_PER_TABLE, _PAGE_PRESENT, _PAGE_RW,
    _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_SPECIAL, _PAGE_UFFD_WP, _PAGE_NX,
    PTE_PFN_MASK, PG_table, PG_zero, PG_reserved, PG_swapbacked, PG_head, PG_tail, PG_buddy,
    PG_pcp, PG_content, PG_hugetlb, PG_owner_priv_1, PG_slab, PG_lru, PG_dirty, PG_writeback, PG_reclaim, PG_active,
    PG_locked, PG_unevictable, MAX_NR_ZONES, PAGE_MAPPING_ANON, MM_FILEPAGES, MM_ANONPAGES,
    MM_SWAPENTS, MM_SHMEMPAGES, NR_MM_COUNTERS, GFP_NOWARN_, GFP_KSWAPD_RECLAIM_, GFP_THISNODE_,
    HPAGE_PMD_ORDER, HPAGE_PUD_ORDER, mempolicy, MPOL_INTERLEAVE, MPOL_PREFERRED_MANY, GFP_WRITE_,
    PG_dirty, PG_writeback, PG_mlocked, GFP_KERNEL, PG_uptodate, PG_referenced,
)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, migrate_page_fn, lruvec, lru_batch, MIGRATE_SYNC, MR_CONTIG_RANGE
from memsim.mempolicy cimport policy_node, policy_nodemask, offset_il_node
from memsim.ring cimport (TraceBuffer, EV_RSS_STAT, TRACE_FLAG_SOFTIRQ, EV_MM_FILEMAP_ADD_TO_PAGE_CACHE,
                         EV_MM_FILEMAP_DELETE_FROM_PAGE_CACHE, EV_MM_FILEMAP_FAULT)
from memsim.task cimport Current, TaskStruct, task_rss_stat
from memsim.hashptr cimport ptr_to_hashval
from memsim.workingset cimport (Workingset, xa_is_value, shadow_to_entry, entry_to_shadow,
                                XA_CHUNK_SHIFT)

cdef enum:
    XA_LEAF_ARRAY_MAX = 1 << 22         # leaves counted in AddressSpace.xa_leaf (16 TiB of file)
from memsim.vmstat cimport (
    __mod_lruvec_page_state, mod_lruvec_page_state, count_vm_event, page_to_nid, NR_ANON_MAPPED,
    NR_FILE_MAPPED, NR_FILE_PAGES, NR_SHMEM, NR_PAGETABLE, PGFAULT, PGMAJFAULT, PGREUSE,
    PGMIGRATE_SUCCESS, PGMIGRATE_FAIL, NR_ANON_THPS, NR_SHMEM_PMDMAPPED, NR_FILE_PMDMAPPED,
    THP_SPLIT_PMD, NR_FILE_DIRTY, NR_WRITEBACK, NR_WRITTEN, NR_DIRTIED, NR_ZONE_WRITE_PENDING,
    PGROTATED, __mod_zone_page_state, __mod_node_page_state, __count_vm_events, page_zonenum,
    NR_MLOCK, UNEVICTABLE_PGSTRANDED, UNEVICTABLE_PGMUNLOCKED, UNEVICTABLE_PGRESCUED,
)

# vm_flags (include/linux/mm.h, v5.14)
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_MAYEXEC = 0x40
VM_MAYSHARE = 0x80
VM_UFFD_MISSING = 0x200
VM_UFFD_WP = 0x1000
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_LOCKONFAULT = 0x80000
VM_PFNMAP = 0x400
VM_MIXEDMAP = 0x10000000
VM_DONTCOPY = 0x20000
VM_DONTEXPAND = 0x40000
VM_ACCOUNT = 0x100000
VM_NORESERVE = 0x200000
VM_HUGETLB = 0x400000
VM_UFFD_MINOR = 1 << 37
VM_UFFD_FLAGS = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR

cdef uint64_t C_VM_READ = 0x1, C_VM_WRITE = 0x2, C_VM_EXEC = 0x4, C_VM_SHARED = 0x8
cdef uint64_t C_VM_MAYWRITE = 0x20, C_VM_HUGETLB = 0x400000
cdef uint64_t C_VM_LOCKED = 0x2000, C_VM_SEQ_READ = 0x8000, C_VM_LOCKONFAULT = 0x80000, C_VM_IO = 0x4000
cdef uint64_t C_VM_UFFD_MISSING = 0x200, C_VM_UFFD_WP = 0x1000, C_VM_UFFD_MINOR = 1ULL << 37
cdef uint64_t C_VM_UFFD = 0x200 | 0x1000 | (1ULL << 37)

# Python-visible constants of the ops tables
FAULT_KIND_NAMES = ("anon", "zero", "cow", "reuse", "file_read", "file_cow", "shared", "major",
                    "oom", "sigsegv", "sigbus", "swap", "huge", "userfault", "fault_around",
                    "hwpoison")
RSS_NAMES = ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES")
VM_FAULT_NAMES = {0x1: "VM_FAULT_OOM", 0x2: "VM_FAULT_SIGBUS", 0x10: "VM_FAULT_HWPOISON",
                  0x40: "VM_FAULT_SIGSEGV", 0x400: "VM_FAULT_RETRY", 0x800: "VM_FAULT_FALLBACK"}
PY_AS_EXITING = AS_EXITING             # the address_space->flags bit
PY_AS_FOLIO_ORDER_MAX = AS_FOLIO_ORDER_MAX     # its max folio order's bits (5 of them)
PY_MAX_PAGECACHE_ORDER = MAX_PAGECACHE_ORDER
PY_VM_FAULT_OOM = VM_FAULT_OOM
PY_VM_FAULT_SIGBUS = VM_FAULT_SIGBUS
PY_VM_FAULT_SIGSEGV = VM_FAULT_SIGSEGV
PY_VM_FAULT_HWPOISON = VM_FAULT_HWPOISON
PY_VM_FAULT_RETRY = VM_FAULT_RETRY
PY_VM_FAULT_NOPAGE = VM_FAULT_NOPAGE
PY_VM_FAULT_FALLBACK = VM_FAULT_FALLBACK
PY_PTE_MARKER_UFFD_WP = PTE_MARKER_UFFD_WP
PY_PTE_MARKER_POISONED = PTE_MARKER_POISONED

cdef enum:
    TASK_RSS_EVENTS_THRESH = 64
    PMD_SHIFT = 21
    PUD_SHIFT = 30
    PGDIR_SHIFT = 39
    MMU_GATHER_BUNDLE = 8
    MAX_GATHER_BATCH = (4096 - 16) // 8
    MAX_GATHER_BATCH_COUNT = 10000 // MAX_GATHER_BATCH
    GATHER_CAPACITY = MMU_GATHER_BUNDLE + MAX_GATHER_BATCH * MAX_GATHER_BATCH_COUNT
    # what PageTables.walk() reports in *err
    WALK_NONE = 1                   # no table below this level (alloc=False)
    WALK_PMD_LEAF = 2               # a PMD leaf maps the address: the slot returned is the PMD
    WALK_PUD_LEAF = 3               # a PUD leaf maps the address: the slot returned is the PUD
    WALK_OOM = 4                    # a table could not be allocated
    # zap_range flags (struct zap_details)
    ZAP_SKIP_ANON = 1               # unmap_mapping_range without even_cows: keep private COWs
    ZAP_SKIP_SWAP = 2               # ... and swap entries

#: the table changes kept between two --check checks; past them the next check is a full one
cdef size_t MAX_PGTABLE_CHANGES = 1 << 22
cdef uint64_t PMD_SIZE = 1ULL << 21
cdef uint64_t VMEMMAP_BASE = 0xffffea0000000000ULL   # x86-64 vmemmap_base without KASLR (as physmem)
cdef uint64_t PUD_SIZE = 1ULL << 30
cdef uint64_t PGDIR_SIZE = 1ULL << 39
cdef uint64_t TASK_SIZE = 0x7ffffffff000ULL
cdef uint64_t PAGE_MASK = ~(<uint64_t>PAGE_SIZE - 1)
cdef uint64_t _PAGE_TABLE = 0x067           # PRESENT|RW|USER|ACCESSED|DIRTY
cdef uint64_t ADDRESS_SPACE_BASE = 0xffff888140000000ULL


cdef inline uint64_t xorshift64(uint64_t* s) noexcept nogil:
    cdef uint64_t x = s[0]
    x ^= x << 13
    x ^= x >> 7
    x ^= x << 17
    s[0] = x
    return x


cdef inline int nr_mapped_item(page* head) noexcept nogil:
    """The vmstat item of a mapped page: NR_ANON_MAPPED or NR_FILE_MAPPED (shmem included)."""
    return NR_ANON_MAPPED if head.mapping & PAGE_MAPPING_ANON else NR_FILE_MAPPED


cdef inline bint leaf_mapped(PhysMem pm, pfn_t pfn) noexcept nogil:
    """Is ``pfn`` part of a compound page that a huge leaf still maps (entire mapcount > 0)?
    Then it counts as mapped whatever its own PTE mappings."""
    cdef page* p = &pm.mem_map[pfn]
    if p.flags & (1ULL << PG_tail):
        return compound_mapcount_ptr(pm, p.compound_head)[0] > 0
    if p.flags & (1ULL << PG_head):
        return compound_mapcount_ptr(pm, pfn)[0] > 0
    return False


cdef inline bint page_mapped(PhysMem pm, pfn_t pfn) noexcept nogil:
    """page_mapped() of one page: a PTE maps it, or a huge leaf maps its compound page."""
    return pm.mem_map[pfn]._mapcount > 0 or leaf_mapped(pm, pfn)


cdef inline bint folio_mapped(PhysMem pm, pfn_t head) noexcept nogil:
    """folio_mapped() of a page-cache folio mapped only by PTEs: a PTE maps any of its pages."""
    cdef int64_t nr = folio_nr(&pm.mem_map[head]), i
    for i in range(nr):
        if pm.mem_map[head + i]._mapcount > 0:
            return True
    return False


cdef inline void page_add_file_rmap(PhysMem pm, pfn_t pfn) noexcept:
    """page_add_file_rmap() (and page_add_anon_rmap()) of a PTE mapping: the first map of a page
    (not already mapped through its compound page's leaf) puts it in NR_*_MAPPED."""
    cdef page* p = &pm.mem_map[pfn]
    p._mapcount += 1
    if p._mapcount == 1 and not leaf_mapped(pm, pfn):
        __mod_lruvec_page_state(pm.vs, compound_head_page(pm, pfn),
                                nr_mapped_item(compound_head_page(pm, pfn)), 1)


cdef inline void page_remove_rmap(PhysMem pm, pfn_t pfn) noexcept:
    """page_remove_rmap() of a PTE mapping: drop the mapcount; the last unmap of a page (that no
    huge leaf maps) takes it out of NR_ANON_MAPPED or NR_FILE_MAPPED (by its head's kind)."""
    cdef page* p = &pm.mem_map[pfn]
    p._mapcount -= 1
    if p._mapcount == 0 and not leaf_mapped(pm, pfn):
        __mod_lruvec_page_state(pm.vs, compound_head_page(pm, pfn),
                                nr_mapped_item(compound_head_page(pm, pfn)), -1)


cdef inline void compound_mapped_stat(PhysMem pm, pfn_t head, int64_t sign) noexcept:
    """page_add/remove_rmap(compound) of the first / last huge leaf: the subpages no PTE maps
    enter or leave NR_*_MAPPED, the whole page NR_ANON_THPS / NR_SHMEM_PMDMAPPED /
    NR_FILE_PMDMAPPED."""
    cdef page* hp = &pm.mem_map[head]
    cdef int64_t nr = 1LL << hp.compound_order, unmapped = 0, i
    for i in range(nr):
        if pm.mem_map[head + i]._mapcount == 0:
            unmapped += 1
    if unmapped:
        __mod_lruvec_page_state(pm.vs, hp, nr_mapped_item(hp), sign * unmapped)
    __mod_lruvec_page_state(pm.vs, hp, NR_ANON_THPS if hp.mapping & PAGE_MAPPING_ANON else
                            NR_SHMEM_PMDMAPPED if hp.flags & (1ULL << PG_swapbacked) else
                            NR_FILE_PMDMAPPED, sign * nr)


cdef inline bint vma_mlocked_new_page(VmArea vma) noexcept:
    """lru_cache_add_inactive_or_unevictable()'s test: (vm_flags & (VM_LOCKED | VM_SPECIAL))
    == VM_LOCKED (VM_SPECIAL: VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP)."""
    return (vma.vm_flags & (0x2000 | 0x4000 | 0x40000 | 0x400 | 0x10000000)) == 0x2000


cdef inline bint vma_is_anonymous(VmArea vma) noexcept:
    """vma_is_anonymous(): no vm_ops and no file (a file VMA without vm_ops is memsim's
    generic_file_vm_ops: its mapping's a_ops)."""
    return vma.vm_ops == NULL and vma.vm_file is None


def pte_marker_entry(unsigned int swp_pte_marker, uint64_t marker):
    """make_pte_marker(): the PTE of a PTE marker (a swap entry of type SWP_PTE_MARKER)."""
    return swp_entry_to_pte(swp_entry(swp_pte_marker, marker))


def swap_pte(unsigned int type, uint64_t offset):
    """swp_entry_to_pte(swp_entry(type, offset)): an x86-64 swap PTE."""
    return swp_entry_to_pte(swp_entry(type, offset))


def pte_swap_entry(uint64_t pte):
    """(type, offset) of the swap entry in a non-present PTE (pte_to_swp_entry)."""
    cdef uint64_t e = pte_to_swp_entry(pte)
    return swp_type(e), swp_offset(e)


# ------------------------------------------------------------------------------------------
# Python-implemented ops tables (for plugins written in Python and for prototyping: one Python
# call per use, so not for per-page paths of a real subsystem; Cython plugins fill the C tables)
# ------------------------------------------------------------------------------------------

cdef int _py_vm_open(void* ctx, VmArea vma) except -1:
    (<PyVmOps>ctx).open(vma)
    return 0

cdef int _py_vm_close(void* ctx, VmArea vma) except -1:
    (<PyVmOps>ctx).close(vma)
    return 0

cdef int _py_vm_may_split(void* ctx, VmArea vma, uint64_t addr) except? -1000000:
    return (<PyVmOps>ctx).may_split(vma, addr)

cdef int _py_vm_fault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    ret, pfn = (<PyVmOps>ctx).fault(mm, vma, vmf.address, vmf.flags, vmf.pgoff)
    vmf.page = NO_PFN if pfn is None else <pfn_t>pfn
    return ret

cdef int _py_vm_huge_fault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, int pe_size) except -1:
    return (<PyVmOps>ctx).huge_fault(mm, vma, vmf.address, vmf.flags, pe_size)

cdef int _py_vm_page_mkwrite(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    return (<PyVmOps>ctx).page_mkwrite(mm, vma, vmf.address, vmf.page)

cdef int _py_vm_map_pages(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t start_pgoff,
                          uint64_t end_pgoff) except -1:
    return (<PyVmOps>ctx).map_pages(mm, vma, vmf.address, start_pgoff, end_pgoff)

cdef uint64_t _py_vm_pagesize(void* ctx, VmArea vma) except 0:
    return (<PyVmOps>ctx).pagesize(vma)


cdef class PyVmOps:
    """A vm_operations_struct whose entries call Python: ``PyVmOps(fault=f, ...)``.

    Each callable is optional (None leaves the slot NULL): ``open(vma)``, ``close(vma)``,
    ``may_split(vma, addr) -> 0 or -errno``, ``fault(mm, vma, address, flags, pgoff) ->
    (VM_FAULT_* code, pfn or None)`` (the core maps the pfn, as finish_fault does),
    ``huge_fault(mm, vma, address, flags, pe_size) -> code``, ``page_mkwrite(mm, vma, address,
    pfn) -> code``, ``map_pages(mm, vma, address, start_pgoff, end_pgoff) -> code`` (map with
    MmCore.map_page), ``pagesize(vma) -> bytes``.  Install with ``vma.set_vm_ops(ops)``."""
    cdef vm_operations_struct ops
    cdef public object open, close, may_split, fault, huge_fault, page_mkwrite, map_pages, pagesize

    def __init__(self, open=None, close=None, may_split=None, fault=None, huge_fault=None,
                 page_mkwrite=None, map_pages=None, pagesize=None):
        self.open, self.close, self.may_split, self.fault = open, close, may_split, fault
        self.huge_fault, self.page_mkwrite, self.map_pages = huge_fault, page_mkwrite, map_pages
        self.pagesize = pagesize
        memset(&self.ops, 0, sizeof(self.ops))
        self.ops.ctx = <void*>self
        if open is not None: self.ops.open = _py_vm_open
        if close is not None: self.ops.close = _py_vm_close
        if may_split is not None: self.ops.may_split = _py_vm_may_split
        if fault is not None: self.ops.fault = _py_vm_fault
        if huge_fault is not None: self.ops.huge_fault = _py_vm_huge_fault
        if page_mkwrite is not None: self.ops.page_mkwrite = _py_vm_page_mkwrite
        if map_pages is not None: self.ops.map_pages = _py_vm_map_pages
        if pagesize is not None: self.ops.pagesize = _py_vm_pagesize


cdef int _py_uffd_handle(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1:
    return (<PyUserfaultfdOps>ctx).handle_userfault(mm, vma, vmf.real_address, vmf.flags, reason)

cdef int _py_uffd_dup(void* ctx, VmArea vma, VmArea new) except -1:
    return 1 if (<PyUserfaultfdOps>ctx).dup(vma, new) else 0

cdef int _py_uffd_remap(void* ctx, VmArea vma, uint64_t old_start, uint64_t new_start, uint64_t length) except -1:
    (<PyUserfaultfdOps>ctx).remap(vma, old_start, new_start, length)
    return 0

cdef int _py_uffd_unmap(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1:
    (<PyUserfaultfdOps>ctx).unmap(vma, start, end)
    return 0

cdef int _py_uffd_remove(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1:
    (<PyUserfaultfdOps>ctx).remove(vma, start, end)
    return 0


cdef class PyUserfaultfdOps:
    """A userfaultfd_ops table whose entries call Python: ``handle_userfault(mm, vma, address,
    flags, reason) -> VM_FAULT_* code`` (set ``MmCore.blocked_on`` and return VM_FAULT_RETRY to
    make the task wait), ``dup(vma, new) -> bool`` (keep the context at fork),
    ``remap(vma, old_start, new_start, length)``, ``unmap(vma, start, end)``,
    ``remove(vma, start, end)``.  Install with ``MmCore.install_userfaultfd_ops(ops)``."""
    cdef userfaultfd_ops ops
    cdef public object handle_userfault, dup, remap, unmap, remove

    def __init__(self, handle_userfault=None, dup=None, remap=None, unmap=None, remove=None):
        self.handle_userfault, self.dup, self.remap, self.unmap = handle_userfault, dup, remap, unmap
        self.remove = remove
        memset(&self.ops, 0, sizeof(self.ops))
        self.ops.ctx = <void*>self
        if handle_userfault is not None: self.ops.handle_userfault = _py_uffd_handle
        if dup is not None: self.ops.dup = _py_uffd_dup
        if remap is not None: self.ops.remap = _py_uffd_remap
        if unmap is not None: self.ops.unmap = _py_uffd_unmap
        if remove is not None: self.ops.remove = _py_uffd_remove


# ------------------------------------------------------------------------------------------
# address_space, anon_vma, vm_area_struct, mm_struct
# ------------------------------------------------------------------------------------------

cdef class XArray:
    """The page cache's index (mapping->i_pages; include/linux/xarray.h as the page
    cache uses it): page index -> entry, a pfn (>= 0) or a workingset shadow entry (< 0).  C
    code calls load / store / erase (xa_load, xa_store, xa_erase); Python sees the dict it
    replaces (``i_pages[index]``, ``get``, ``in``, ``del``, ``len``, ``items()`` in index
    order).

    Slots live in 512-slot chunks behind a table; a chunk whose last entry goes is freed (a
    4 GiB file read and truncated gives its host memory back).  A multi-index entry
    (``store_order``: 2^order slots, aligned) holds its entry in every slot it covers, so a load
    anywhere in it returns the entry and the node counts are those of the kernel's canonical
    slot plus its siblings; ``get_order`` tells its order.  Storing or erasing one index of it
    first splits it into order-0 entries (xas_split), which is what __filemap_add_folio does
    before it puts a page into part of a larger value entry (pagecache.md 2.3, scenario 22);
    clearing the whole entry is the caller's (MmCore.page_cache_delete).  No marks (tags):
    writeback finds dirty pages by PG_dirty, not by PAGECACHE_TAG_DIRTY."""

    def __dealloc__(self):
        cdef uint64_t i
        if self.chunks != NULL:
            for i in range(self.nr_chunks):
                free(self.chunks[i])
            free(self.chunks)
        free(self.chunk_count)

    cdef uint64_t* slot(self, uint64_t index, bint create) except? NULL:
        """The slot of ``index`` in the dense table (created with its chunk when ``create``),
        or NULL.  A caller that fills an empty slot or empties a full one keeps
        ``nr_entries`` and ``chunk_count`` (store, erase, exchange do)."""
        cdef uint64_t c = index >> XA_SLOTS_SHIFT, n
        cdef uint64_t** grown
        cdef uint16_t* counts
        if c >= self.nr_chunks:
            if not create:
                return NULL
            n = self.nr_chunks * 2 if self.nr_chunks else 8
            while n <= c:
                n *= 2
            grown = <uint64_t**>realloc(self.chunks, n * sizeof(uint64_t*))
            if grown == NULL:
                raise MemoryError()
            memset(&grown[self.nr_chunks], 0, (n - self.nr_chunks) * sizeof(uint64_t*))
            self.chunks = grown
            counts = <uint16_t*>realloc(self.chunk_count, n * sizeof(uint16_t))
            if counts == NULL:
                raise MemoryError()
            memset(&counts[self.nr_chunks], 0, (n - self.nr_chunks) * sizeof(uint16_t))
            self.chunk_count = counts
            self.nr_chunks = n
        if self.chunks[c] == NULL:
            if not create:
                return NULL
            self.chunks[c] = <uint64_t*>calloc(XA_SLOTS, sizeof(uint64_t))
            if self.chunks[c] == NULL:
                raise MemoryError()
        return &self.chunks[c][index & (XA_SLOTS - 1)]

    cdef void slot_emptied(self, uint64_t index) noexcept:
        """A dense slot became empty: one entry less, and its chunk freed when it was the
        chunk's last (the table itself too when the array is empty)."""
        cdef uint64_t c = index >> XA_SLOTS_SHIFT, i
        self.nr_entries -= 1
        self.chunk_count[c] -= 1
        if self.chunk_count[c] == 0:
            free(self.chunks[c])
            self.chunks[c] = NULL
            if self.nr_entries == 0 and not self.far:
                for i in range(self.nr_chunks):
                    free(self.chunks[i])
                free(self.chunks)
                free(self.chunk_count)
                self.chunks = NULL
                self.chunk_count = NULL
                self.nr_chunks = 0

    cdef bint load(self, uint64_t index, int64_t* entry) except -1:
        """xa_load(): True with *entry set, or False for an empty slot."""
        cdef uint64_t c = index >> XA_SLOTS_SHIFT, v
        if c < self.nr_chunks and self.chunks[c] != NULL:
            v = self.chunks[c][index & (XA_SLOTS - 1)]
        elif c >= XA_DENSE_CHUNKS and self.far is not None:
            v = self.far.get(index, 0)
        else:
            return False
        if v == 0:
            return False
        entry[0] = <int64_t>v if v >> 63 else <int64_t>(v - 1)
        return True

    cdef int store(self, uint64_t index, int64_t entry) except -1:
        """xa_store() of ``entry`` at ``index`` (replacing what was there; a multi-index entry
        there is split first)."""
        cdef uint64_t v = <uint64_t>entry if entry < 0 else <uint64_t>entry + 1
        cdef uint64_t* sl
        cdef int64_t old
        if self.nr_multi and self.load(index, &old):    # an empty slot is in no entry
            self.split(index)
        if (index >> XA_SLOTS_SHIFT) >= XA_DENSE_CHUNKS:
            if self.far is None:
                self.far = {}
            if index not in self.far:
                self.nr_entries += 1
            self.far[index] = v
            return 0
        sl = self.slot(index, True)
        if sl[0] == 0:
            self.nr_entries += 1
            self.chunk_count[index >> XA_SLOTS_SHIFT] += 1
        sl[0] = v
        return 0

    cdef bint erase(self, uint64_t index) except -1:
        """xa_erase() of one slot (a multi-index entry there is split first, so only this
        index empties); False if it was empty."""
        cdef uint64_t* sl
        cdef int64_t old
        if self.nr_multi and self.load(index, &old):
            self.split(index)
        if (index >> XA_SLOTS_SHIFT) >= XA_DENSE_CHUNKS:
            if self.far is None or index not in self.far:
                return False
            del self.far[index]
            self.nr_entries -= 1
            return True
        sl = self.slot(index, False)
        if sl == NULL or sl[0] == 0:
            return False
        sl[0] = 0
        self.slot_emptied(index)
        return True

    cdef bint exchange(self, uint64_t index, int64_t entry, int64_t* old) except -1:
        """xas_load() then xas_store() of ``entry`` at ``index`` in one walk, as
        __filemap_add_folio() does: True with *old set to the entry replaced, False if the slot
        was empty.  A multi-index entry there is split first (xas_split)."""
        cdef uint64_t v = <uint64_t>entry if entry < 0 else <uint64_t>entry + 1, w
        cdef uint64_t* sl
        cdef int64_t prev
        if self.nr_multi and self.load(index, &prev):
            self.split(index)
        if (index >> XA_SLOTS_SHIFT) >= XA_DENSE_CHUNKS:
            if self.far is None:
                self.far = {}
            w = self.far.get(index, 0)
            self.far[index] = v
        else:
            sl = self.slot(index, True)
            w = sl[0]
            sl[0] = v
            if w == 0:
                self.chunk_count[index >> XA_SLOTS_SHIFT] += 1
        if w == 0:
            self.nr_entries += 1
            return False
        old[0] = <int64_t>w if w >> 63 else <int64_t>(w - 1)
        return True

    # -- multi-index entries ---------------------------------------------------------------------
    cdef int store_order(self, uint64_t index, unsigned int order, int64_t entry) except -1:
        """xa_store_order() / xas_store() with xas_set_order(): ``entry`` over the 2^order
        slots from ``index`` (aligned to them), replacing what was there.  A page entry of
        order > 0 holds head + offset in each slot (find_get_page of a subpage); a value entry
        holds the value in each.  Order 0 is store()."""
        cdef uint64_t n = 1ULL << order, i, first, v, c
        cdef unsigned int o
        cdef uint64_t* sl
        cdef bint inner = True
        if order == 0:
            return self.store(index, entry)
        if index & (n - 1):
            raise ValueError(f"store_order: index {index} is not aligned to order {order}")
        if self.nr_multi:                   # the entry covering index goes (xas_store over it)
            o = self.get_order(index, &first)
            if o:
                del self.multi[first]
                self.nr_multi -= 1
                inner = o < order           # one as large covers the range: none inside it
        if ((index + n - 1) >> XA_SLOTS_SHIFT) >= XA_DENSE_CHUNKS:
            for i in range(n):              # past the dense table: slot by slot
                self.store(index + i, entry if entry < 0 else entry + <int64_t>i)
        else:
            v = <uint64_t>entry if entry < 0 else <uint64_t>entry + 1
            for i in range(n):
                sl = self.slot(index + i, True)
                if sl[0] == 0:
                    self.nr_entries += 1
                    self.chunk_count[(index + i) >> XA_SLOTS_SHIFT] += 1
                elif inner and i and self.nr_multi and (index + i) in self.multi:
                    del self.multi[index + i]   # a smaller entry inside the range
                    self.nr_multi -= 1
                sl[0] = v if entry < 0 else v + i
        if self.multi is None:
            self.multi = {}
        self.multi[index] = order
        self.nr_multi += 1
        if order > self.multi_max:
            self.multi_max = order
        return 0

    cdef int erase_order(self, uint64_t index, unsigned int order) except -1:
        """xas_store(NULL) over the multi-index entry of ``order`` at ``index`` (the caller's:
        page_cache_delete of a large folio): its registration and every slot it covers go."""
        cdef uint64_t n = 1ULL << order, i
        cdef uint64_t* sl
        if self.nr_multi:
            self.split(index)
        for i in range(n):
            if ((index + i) >> XA_SLOTS_SHIFT) >= XA_DENSE_CHUNKS:
                self.erase(index + i)
                continue
            sl = self.slot(index + i, False)
            if sl != NULL and sl[0] != 0:
                sl[0] = 0
                self.slot_emptied(index + i)
        return 0

    cdef unsigned int get_order(self, uint64_t index, uint64_t* first) except? 255:
        """xa_get_order(): the order of the entry covering ``index`` (0 for an order-0 entry or
        none), with *first set to its first index."""
        cdef unsigned int o
        cdef uint64_t c
        first[0] = index
        if not self.nr_multi:
            return 0
        for o in range(1, self.multi_max + 1):
            c = index & ~((1ULL << o) - 1)
            if self.multi.get(c, 0) == o:
                first[0] = c
                return o
        return 0

    cdef int split(self, uint64_t index) except -1:
        """xas_split() to order 0 of the multi-index entry covering ``index``, if any: its
        slots keep their entries, each now an entry of its own."""
        cdef uint64_t first
        if self.get_order(index, &first):
            del self.multi[first]
            self.nr_multi -= 1
        return 0

    def nr_chunks_py(self):
        """The chunk table's size (0 once the array has emptied)."""
        return self.nr_chunks

    def chunks_in_use_py(self):
        """The chunks allocated (each 512 slots, 4 KiB of host memory)."""
        cdef uint64_t c, n = 0
        for c in range(self.nr_chunks):
            n += self.chunks[c] != NULL
        return n

    def get_order_py(self, uint64_t index):
        """xa_get_order() from Python (tests)."""
        cdef uint64_t first
        return self.get_order(index, &first)

    cdef bint find(self, uint64_t start, uint64_t end, uint64_t* index, int64_t* entry) except -1:
        """xa_find() (xas_find over present entries): the first entry, page or value, at an
        index in [start, end]; True with *index and *entry set, False when there is none.
        Walks the chunks in C; only indexes past the dense table go through the dict."""
        cdef uint64_t c = start >> XA_SLOTS_SHIFT, i = start & (XA_SLOTS - 1), v, k, best
        cdef uint64_t last = end >> XA_SLOTS_SHIFT, stop
        cdef uint64_t* chunk
        cdef bint got
        if start > end:
            return False
        while c < self.nr_chunks and c <= last:
            chunk = self.chunks[c]
            if chunk != NULL:
                stop = (end & (XA_SLOTS - 1)) + 1 if c == last else XA_SLOTS
                while i < stop:
                    v = chunk[i]
                    if v:
                        index[0] = (c << XA_SLOTS_SHIFT) | i
                        entry[0] = <int64_t>v if v >> 63 else <int64_t>(v - 1)
                        return True
                    i += 1
            c += 1
            i = 0
        if not self.far or (end >> XA_SLOTS_SHIFT) < XA_DENSE_CHUNKS:
            return False
        got = False
        best = 0
        for key in self.far:
            k = key
            if start <= k <= end and (not got or k < best):
                best = k
                got = True
        if not got:
            return False
        v = self.far[best]
        index[0] = best
        entry[0] = <int64_t>v if v >> 63 else <int64_t>(v - 1)
        return True

    # -- Python: the dict it replaces ------------------------------------------------------------
    def __len__(self):
        return self.nr_entries

    def __getitem__(self, uint64_t index):
        cdef int64_t e
        if not self.load(index, &e):
            raise KeyError(index)
        return e

    def __setitem__(self, uint64_t index, int64_t entry):
        self.store(index, entry)

    def __delitem__(self, uint64_t index):
        if not self.erase(index):
            raise KeyError(index)

    def __contains__(self, index):
        cdef int64_t e
        return isinstance(index, int) and index >= 0 and self.load(index, &e)

    def get(self, uint64_t index, default=None):
        cdef int64_t e
        return e if self.load(index, &e) else default

    def pop(self, uint64_t index, *default):
        cdef int64_t e
        if not self.load(index, &e):
            if default:
                return default[0]
            raise KeyError(index)
        self.erase(index)
        return e

    def find_py(self, uint64_t start, uint64_t end=0xffffffffffffffff):
        """xa_find() from Python (tests): ``(index, entry)`` of the first entry in
        [start, end], or None."""
        cdef uint64_t index
        cdef int64_t e
        return (index, e) if self.find(start, end, &index, &e) else None

    def items(self):
        """(index, entry) of every entry, in index order."""
        cdef uint64_t c, i, v
        out = []
        for c in range(self.nr_chunks):
            if self.chunks[c] == NULL:
                continue
            for i in range(XA_SLOTS):
                v = self.chunks[c][i]
                if v:
                    out.append(((c << XA_SLOTS_SHIFT) | i, <int64_t>v if v >> 63 else <int64_t>(v - 1)))
        if self.far:
            for k in sorted(self.far):
                v = self.far[k]             # typed: a value entry's word has bit 63 set
                out.append((k, <int64_t>v if v >> 63 else <int64_t>(v - 1)))
        return out

    def keys(self):
        return [k for k, _ in self.items()]

    def values(self):
        return [e for _, e in self.items()]

    def __iter__(self):
        return iter(self.keys())

    def __eq__(self, other):
        if isinstance(other, XArray):
            return self.items() == other.items()
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    def __repr__(self):
        return f"XArray({dict(self.items())!r})"


cdef class AddressSpace:
    """An address_space: a file's or a shmem object's pages, indexed by page offset.

    The pages live in ``i_pages`` (an :class:`XArray` index -> entry that reads like a dict
    from Python), which a filesystem's ``a_ops`` fill and the core reclaims and truncates: an entry ``>= 0`` is a page's pfn, one ``< 0`` a shadow entry reclaim left behind
    (the kernel's xa_value entries: ``memsim.workingset.shadow_to_entry``), which ``nrpages``
    (a counter kept at insert and delete) does not count; ``xa_nodes`` counts each 64-slot
    leaf's entries and value entries (the xa_node counts workingset_update_node reads).
    ``nrexceptional`` counts the value entries only with ``keep_nrexceptional`` (a kernel before
    v5.13's "mm: remove nrexceptional from inode"; pagecache.md 4.2).  Change i_pages through
    ``MmCore.page_cache_store`` / ``page_cache_delete``, which keep them.  The page-cache plugin
    installs its own address_space_operations.  ``i_mmap`` lists the VMAs that map the file
    (the kernel's i_mmap interval tree)."""

    def __init__(self, uint64_t i_ino, str name="", bint swapbacked=False, uint32_t s_dev=0,
                 uint64_t i_size=0, bint keep_nrexceptional=False):
        self.i_ino = i_ino
        self.name = name
        self.swapbacked = swapbacked
        self.s_dev = s_dev
        self.i_size = i_size
        self.i_pages = XArray()
        self.nrpages = 0
        self.nrexceptional = 0
        self.keep_nrexceptional = keep_nrexceptional
        self.flags = 0
        self.xa_leaf = NULL
        self.xa_nr_leaves = 0
        self.xa_far = {}
        self.i_mmap = []
        self.host = None
        self.addr = ADDRESS_SPACE_BASE + (i_ino << 10)
        self.a_ops = NULL
        self.a_ops_owner = None

    def __dealloc__(self):
        free(self.xa_leaf)

    cdef uint32_t xa_leaf_state(self, uint64_t leaf) noexcept:
        """The xa_node counts of ``leaf``: entries | value entries << 8 (0: no node)."""
        if leaf < self.xa_nr_leaves:
            return self.xa_leaf[leaf]
        if leaf < XA_LEAF_ARRAY_MAX or not self.xa_far:
            return 0
        return self.xa_far.get(leaf, 0)

    cdef int xa_set_leaf_state(self, uint64_t leaf, uint32_t st) except -1:
        cdef uint64_t n
        cdef uint16_t* grown
        if leaf >= XA_LEAF_ARRAY_MAX:
            if st:
                self.xa_far[leaf] = st
            else:
                self.xa_far.pop(leaf, None)
            return 0
        if leaf >= self.xa_nr_leaves:
            if st == 0:
                return 0
            n = self.xa_nr_leaves * 2 if self.xa_nr_leaves else 64
            while n <= leaf:
                n *= 2
            grown = <uint16_t*>realloc(self.xa_leaf, n * sizeof(uint16_t))
            if grown == NULL:
                raise MemoryError()
            memset(grown + self.xa_nr_leaves, 0, (n - self.xa_nr_leaves) * sizeof(uint16_t))
            self.xa_leaf = grown
            self.xa_nr_leaves = n
        self.xa_leaf[leaf] = <uint16_t>st
        return 0

    @property
    def xa_nodes(self):
        """{leaf: entries | value entries << 8} of the 64-slot leaves (xa_nodes) that exist."""
        cdef uint64_t i
        nodes = {i: self.xa_leaf[i] for i in range(self.xa_nr_leaves) if self.xa_leaf[i]}
        nodes.update(self.xa_far)
        return nodes

    def xa_delete_node(self, uint64_t leaf):
        """xa_delete_node() of the leaf's counts (its entries are gone)."""
        self.xa_set_leaf_state(leaf, 0)

    def mapping_empty(self):
        """mapping_empty(): xa_empty(&mapping->i_pages), no entry at all, neither page nor
        shadow."""
        return mapping_empty(self)

    def shadows(self):
        """{index: shadow} of the value entries in i_pages (shadows as the
        xa_value words memsim.workingset's API takes)."""
        return {index: entry_to_shadow(e) for index, e in self.i_pages.items() if e < 0}

    @property
    def has_a_ops(self):
        return self.a_ops != NULL

    def __repr__(self):
        return f"<AddressSpace {self.name or self.i_ino} nrpages={self.nrpages}>"


cdef class AnonVma:
    """An anon_vma: the anonymous pages of a family of VMAs (page->mapping points here), with
    the VMAs chained to it (anon_vma_chain / the rb_root interval tree)."""

    def __init__(self, uint64_t addr):
        self.addr = addr
        self.root = self
        self.parent = self
        self.vmas = []
        self.refcount = 1
        self.degree = 1

    def __repr__(self):
        return f"<AnonVma {self.addr:#x} vmas={len(self.vmas)} degree={self.degree}>"


cdef class AnonVmaChain:
    """An anon_vma_chain: one link between a VMA and an anon_vma (a slab object of its own)."""

    def __init__(self, AnonVma anon_vma, uint64_t addr):
        self.anon_vma = anon_vma
        self.addr = addr

    def __repr__(self):
        return f"<AnonVmaChain {self.addr:#x} -> {self.anon_vma!r}>"


cdef class VmArea:
    """A vm_area_struct: [vm_start, vm_end) with flags, file/offset, anon_vma, vm_ops and policy."""

    def __cinit__(self):
        self.vm_ops = NULL
        self.vm_policy = NULL

    def __dealloc__(self):
        free(self.vm_policy)

    def __init__(self, uint64_t vm_start, uint64_t vm_end, uint64_t vm_flags, str name="",
                 AddressSpace vm_file=None, uint64_t vm_pgoff=0):
        self.vm_start = vm_start
        self.vm_end = vm_end
        self.vm_flags = vm_flags
        self.name = name
        self.vm_file = vm_file
        self.vm_pgoff = vm_pgoff
        self.vm_mm = None
        self.anon_vma = 0
        self.anon_vma_chain = []
        self.vm_private_data = None
        self.vm_userfaultfd_ctx = None
        self.addr = 0
        self.vm_ops_owner = None

    @property
    def kind(self):
        if self.vm_flags & C_VM_HUGETLB:
            return "hugetlb"
        if self.vm_file is None:
            return "anon"
        return "shared" if self.vm_file.swapbacked else "file"

    @property
    def has_vm_ops(self):
        return self.vm_ops != NULL

    def set_vm_ops(self, PyVmOps ops):
        """Install a Python vm_operations_struct (None removes it).  A Cython plugin sets
        ``vma.vm_ops`` and ``vma.vm_ops_owner`` directly instead."""
        self.vm_ops = &ops.ops if ops is not None else NULL
        self.vm_ops_owner = ops

    def vm_ops_open(self):
        """vma->vm_ops->open(vma), if any (vm_area_dup at fork, __split_vma)."""
        if self.vm_ops != NULL and self.vm_ops.open != NULL:
            self.vm_ops.open(self.vm_ops.ctx, self)

    def vm_ops_close(self):
        """vma->vm_ops->close(vma), if any (remove_vma)."""
        if self.vm_ops != NULL and self.vm_ops.close != NULL:
            self.vm_ops.close(self.vm_ops.ctx, self)

    def vm_ops_may_split(self, uint64_t addr):
        """vma->vm_ops->may_split(vma, addr): 0, or the negative errno that refuses the split."""
        if self.vm_ops != NULL and self.vm_ops.may_split != NULL:
            return self.vm_ops.may_split(self.vm_ops.ctx, self, addr)
        return 0

    def pagesize(self):
        """vma_kernel_pagesize(): the vm_ops' pagesize, else PAGE_SIZE."""
        if self.vm_ops != NULL and self.vm_ops.pagesize != NULL:
            return self.vm_ops.pagesize(self.vm_ops.ctx, self)
        return PAGE_SIZE

    def dup(self):
        """vm_area_dup(): a copy of every field but the anon_vma chain (vm_ops, vm_private_data,
        vm_userfaultfd_ctx and the mempolicy included); the caller links it and calls open."""
        cdef VmArea new = VmArea(self.vm_start, self.vm_end, self.vm_flags, self.name,
                                 self.vm_file, self.vm_pgoff)
        new.vm_mm = self.vm_mm
        new.anon_vma = self.anon_vma
        new.vm_private_data = self.vm_private_data
        new.vm_userfaultfd_ctx = self.vm_userfaultfd_ctx
        new.vm_ops = self.vm_ops
        new.vm_ops_owner = self.vm_ops_owner
        if self.vm_policy != NULL:
            new.vm_policy = <mempolicy*>malloc(sizeof(mempolicy))
            if new.vm_policy == NULL:
                raise MemoryError()
            memcpy(new.vm_policy, self.vm_policy, sizeof(mempolicy))
        return new

    @property
    def policy(self):
        """The mbind() policy as (mode, flags, nodes) or None (the task's policy applies)."""
        if self.vm_policy == NULL or self.vm_policy.mode == 0:
            return None
        return _policy_tuple(self.vm_policy)

    def set_policy(self, int mode, nodes=(), int flags=0):
        """vma_replace_policy(): install (mode, nodes); MPOL_DEFAULT removes it."""
        _set_policy(&self.vm_policy, mode, nodes, flags)

    def __repr__(self):
        return f"<VmArea {self.name} {self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x}>"


cdef object _policy_tuple(mempolicy* pol):
    if pol == NULL:
        return None
    nodes = [n for n in range(1024) if (pol.nodes[n >> 6] >> (n & 63)) & 1]
    return (pol.mode, pol.flags, tuple(nodes))


cdef int _set_policy(mempolicy** slot, int mode, nodes, int flags) except -1:
    """Fill the policy in place (a task's stays allocated: ``current`` keeps its pointer)."""
    if mode == 0 and slot[0] == NULL:
        return 0
    if slot[0] == NULL:
        slot[0] = <mempolicy*>calloc(1, sizeof(mempolicy))
        if slot[0] == NULL:
            raise MemoryError()
    memset(slot[0], 0, sizeof(mempolicy))
    slot[0].mode = mode
    slot[0].flags = flags
    slot[0].il_prev = -1
    for n in nodes:
        if not 0 <= n < 1024:
            raise ValueError(f"node {n} is out of range")
        slot[0].nodes[n >> 6] |= 1ULL << (n & 63)
    return 0


def set_task_mempolicy(TaskStruct task, int mode, nodes=(), int flags=0):
    """do_set_mempolicy(): the task's policy (MPOL_DEFAULT removes it)."""
    _set_policy(&task.mempolicy, mode, nodes, flags)


def task_mempolicy(TaskStruct task):
    """The task's policy as (mode, flags, nodes), or None for MPOL_DEFAULT."""
    if task.mempolicy == NULL or task.mempolicy.mode == 0:
        return None
    return _policy_tuple(task.mempolicy)


def copy_task_mempolicy(TaskStruct dst, TaskStruct src):
    """mpol_dup() at fork/clone: the child starts with a copy of the parent's policy."""
    memcpy(dst.mempolicy, src.mempolicy, sizeof(mempolicy))


cdef class MmStruct:
    """An mm_struct: VMAs, the pgd, and the atomic rss counters."""

    def __init__(self):
        raise TypeError("use MmCore.mm_alloc()")

    cdef inline void add_mm_counter(self, int member, int64_t value, bint curr) noexcept:
        """add_mm_counter(): atomic add, then kmem:rss_stat with the new value."""
        self.rss[member] += value
        self.emit_rss(member, curr)

    cdef void emit_rss(self, int member, bint curr) noexcept:
        """trace_rss_stat() (mm_trace_rss_stat)."""
        cdef uint64_t vals[4]
        cdef int64_t count
        cdef MmCore core = self.core
        if not core.tb.core[EV_RSS_STAT].enabled:
            return
        count = self.rss[member]
        if not core.split_rss and count < 0:
            count = 0                   # percpu_counter_sum_positive (v6.2+)
        vals[0] = self.mm_id
        vals[1] = curr
        vals[2] = member
        vals[3] = <uint64_t>(count << PAGE_SHIFT)
        try:
            core.tb.emit(EV_RSS_STAT, core.cur.cpu, core.cur.pid, vals, NULL, 0)
        except Exception:
            pass

    cdef void add_mm_counter_fast(self, int member, int64_t value) noexcept:
        """add_mm_counter_fast(): cached on current if it is current's mm, else a direct update."""
        cdef TaskStruct t = self.core.cur.task
        if self.core.split_rss and t is not None and t.mm is self:
            t.rss_stat.count[member] += value
        else:
            self.add_mm_counter(member, value, t is not None and t.mm is self)

    cdef void sync_mm_rss(self, TaskStruct task) noexcept:
        """sync_mm_rss(): flush ``task``'s cached deltas (members in index order), reset events."""
        cdef int i
        for i in range(NR_MM_COUNTERS):
            if task.rss_stat.count[i]:
                self.add_mm_counter(i, task.rss_stat.count[i], True)
                task.rss_stat.count[i] = 0
        task.rss_stat.events = 0

    cdef void add_mm_rss_vec(self, int64_t* rss) noexcept:
        """add_mm_rss_vec(): sync first if this is current's mm, then one event per non-zero member."""
        cdef TaskStruct t = self.core.cur.task
        cdef bint is_cur = t is not None and t.mm is self
        cdef int i
        if is_cur and self.core.split_rss:
            self.sync_mm_rss(t)
        for i in range(NR_MM_COUNTERS):
            if rss[i]:
                self.add_mm_counter(i, rss[i], is_cur)

    def get_mm_counter(self, int member):
        """get_mm_counter(): the atomic value, clamped at 0 (SPLIT_RSS_COUNTING)."""
        return max(0, self.rss[member])

    def inc_mm_counter(self, int member, int64_t value=1):
        """add_mm_counter() from Python (a plugin's counting: swap entries, ...)."""
        cdef TaskStruct t = self.core.cur.task
        self.add_mm_counter(member, value, t is not None and t.mm is self)

    @property
    def rss_raw(self):
        """The atomic counters, unclamped (may be negative transiently)."""
        return tuple(self.rss[i] for i in range(NR_MM_COUNTERS))

    cpdef VmArea find_vma(self, uint64_t addr):
        """find_vma(): the VMA containing addr, or None (a C call from Cython)."""
        cdef VmArea v
        cdef list vmas = self.vmas
        cdef Py_ssize_t lo = 0, hi = len(vmas), mid
        while lo < hi:
            mid = (lo + hi) // 2
            v = <VmArea>vmas[mid]
            if addr < v.vm_start:
                hi = mid
            elif addr >= v.vm_end:
                lo = mid + 1
            else:
                return v
        return None

    def pte(self, uint64_t addr):
        """The entry mapping addr: a PTE, or the PMD/PUD leaf (0 if none)."""
        cdef int err = 0
        cdef uint64_t* p = self.core.pgt.walk(self, addr, False, &err)
        return 0 if p == NULL else p[0]

    def resident_pages(self):
        """Resident pages by counter [file, anon, swapents, shmem], counted from the page tables:
        present PTEs and huge leaves (hugetlb leaves are counted in hugetlb_usage instead) by
        the kind of page, swap entries for MM_SWAPENTS."""
        cdef VmArea v
        out = [0, 0, 0, 0]
        for v in self.vmas:
            a, f, s = self.core.count_present(self, v)
            out[MM_ANONPAGES] += a
            out[MM_FILEPAGES] += f
            out[MM_SHMEMPAGES] += s
            out[MM_SWAPENTS] += self.core.count_nonpresent(self, v)[0]
        return out

    @property
    def core(self):
        return self.core


# ------------------------------------------------------------------------------------------
# Page tables
# ------------------------------------------------------------------------------------------

cdef inline pfn_t leaf_pfn(uint64_t e, uint64_t addr, int leaf) noexcept nogil:
    """The frame a present entry maps at ``addr``: a PTE's, or the subpage of a PMD / PUD leaf
    (``leaf`` = the walk's WALK_PMD_LEAF / WALK_PUD_LEAF)."""
    cdef pfn_t pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
    if leaf == WALK_PMD_LEAF:
        return pfn + ((addr >> PAGE_SHIFT) & 511)
    if leaf == WALK_PUD_LEAF:
        return pfn + ((addr >> PAGE_SHIFT) & 0x3ffff)
    return pfn


cdef inline int pgtable_populate(PageTables pgt, MmStruct mm, uint64_t* slot, int level,
                                 bint alloc, int* err) except -1:
    """__pud_alloc / __pmd_alloc / __pte_alloc: a zeroed table page of ``level`` under the
    empty ``slot`` (pgtables_bytes counts it).  0 when the slot stays empty (*err: WALK_NONE
    without ``alloc``, WALK_OOM when no page), 1 when there is a table."""
    cdef pfn_t nt
    if slot[0] & _PAGE_PRESENT:
        return 1
    if not alloc:
        err[0] = WALK_NONE
        return 0
    nt = pgt.alloc_table(level)
    if nt == NO_PFN:
        err[0] = WALK_OOM
        return 0
    slot[0] = (nt << PAGE_SHIFT) | _PAGE_TABLE
    mm.pgtables_bytes += PAGE_SIZE
    return 1


cdef class PageTables:
    """The 4-level page tables of every mm of a machine: allocating a table page
    (pgd_alloc / __pud_alloc / __pmd_alloc / __pte_alloc with GFP_PGTABLE_USER), walking to a
    PTE, PMD or PUD slot, freeing a table page."""

    def __cinit__(self, PhysMem pm, TraceBuffer tb, gfp_t gfp_pgtable):
        self.pm = pm
        self.tb = tb
        self.gfp_pgtable = gfp_pgtable
        self.nr_pagetable = 0
        self.cost_pgtable_ns = 300
        self.next_mm_seq = 1
        self.track_changes = False
        self.changes_lost = False
        self.changes = NULL
        self.nr_changes = 0
        self.max_changes = 0

    def __dealloc__(self):
        free(self.changes)

    cdef void note_change(self, uint64_t mm_seq, pfn_t table, uint64_t addr, int level) noexcept:
        """Record a table written since the last check (touch() calls this the first time)."""
        cdef size_t n
        cdef pgtable_change* grown
        if self.changes_lost:
            return
        if self.nr_changes == self.max_changes:
            if self.max_changes >= MAX_PGTABLE_CHANGES:   # nobody checks: stop recording
                self.changes_lost = True
                return
            n = self.max_changes * 2 if self.max_changes else 1024
            grown = <pgtable_change*>realloc(self.changes, n * sizeof(pgtable_change))
            if grown == NULL:
                self.changes_lost = True        # the next check looks at everything
                return
            self.changes = grown
            self.max_changes = n
        self.changes[self.nr_changes].table = table
        self.changes[self.nr_changes].mm_seq = mm_seq
        self.changes[self.nr_changes].addr = addr
        self.changes[self.nr_changes].level = level
        self.nr_changes += 1
        if level:
            self.pm.mem_map[table].flags |= 1ULL << PG_pgtable_changed

    cdef pfn_t alloc_table(self, int level) except? 0xfffffffffffffffe:
        """A zeroed page-table page of ``level`` (1 pgd .. 4 pte), charged like the kernel's
        (GFP_PGTABLE_USER has __GFP_ACCOUNT)."""
        cdef pfn_t pfn = self.pm.alloc_pages(self.gfp_pgtable, 0, -1)
        cdef uint64_t* host
        if pfn == NO_PFN:
            return NO_PFN
        host = <uint64_t*>calloc(PTRS_PER_TABLE, 8)
        if host == NULL:
            raise MemoryError()
        self.pm.mem_map[pfn].private = <uint64_t>host
        self.pm.mem_map[pfn].flags |= 1ULL << PG_table
        self.pm.mem_map[pfn].index = level
        if level >= 3:
            self.nr_pagetable += 1
            mod_lruvec_page_state(self.pm.vs, &self.pm.mem_map[pfn], NR_PAGETABLE, 1)
        self.tb.clock.now += self.cost_pgtable_ns
        return pfn

    cdef int free_table_now(self, pfn_t pfn) except -1:
        """A table page leaves its mm and is torn down at once (unlink_table, then
        pagetable_dtor); the caller frees the page."""
        self.unlink_table(pfn)
        return self.pagetable_dtor(pfn)

    cdef void unlink_table(self, pfn_t pfn) noexcept:
        """A table page no longer belongs to its mm (its parent entry is cleared): the
        invariant checks forget it (a table freed through RCU waits for pagetable_dtor)."""
        if self.track_changes:
            self.note_change(0, pfn, 0, 0)

    cdef int pagetable_dtor(self, pfn_t pfn) except -1:
        """pagetable_dtor(): the page stops being a page table (PG_table, NR_PAGETABLE); on
        v6.18 (tlb_remove_table) the RCU callback does this, just before freeing the page."""
        cdef int level = <int>self.pm.mem_map[pfn].index
        free(<void*>self.pm.mem_map[pfn].private)
        self.pm.mem_map[pfn].private = 0
        self.pm.mem_map[pfn].flags &= ~((1ULL << PG_table) | (1ULL << PG_pgtable_changed))
        self.pm.mem_map[pfn].index = 0
        if level >= 3:
            self.nr_pagetable -= 1
            mod_lruvec_page_state(self.pm.vs, &self.pm.mem_map[pfn], NR_PAGETABLE, -1)
        return 0

    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL:
        """Walk pgd -> pud -> pmd -> pte (allocating missing levels: __pud_alloc, __pmd_alloc,
        __pte_alloc, in that order).  Returns the PTE slot; or the PMD/PUD slot of a huge leaf
        with *err = WALK_PMD_LEAF / WALK_PUD_LEAF; or NULL with *err = WALK_NONE (no table,
        alloc False) or WALK_OOM."""
        cdef pfn_t table = mm.pgd
        cdef uint64_t* ents
        cdef uint64_t e
        cdef int shift = PGDIR_SHIFT, level = 1
        while level < 4:                # pgd (shift 39), pud (30), pmd (21)
            ents = table_entries(self.pm, table)
            e = ents[(addr >> shift) & 511]
            if not (e & _PAGE_PRESENT):
                if not pgtable_populate(self, mm, &ents[(addr >> shift) & 511], level + 1, alloc, err):
                    return NULL
                e = ents[(addr >> shift) & 511]
            elif e & _PAGE_PSE:
                err[0] = WALK_PUD_LEAF if shift == PUD_SHIFT else WALK_PMD_LEAF
                self.touch(mm, table, addr, level)
                return &ents[(addr >> shift) & 511]
            table = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            level += 1
            shift -= 9
        self.touch(mm, table, addr, 4)
        return &table_entries(self.pm, table)[(addr >> PAGE_SHIFT) & 511]

    cdef uint64_t* walk_pmd(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL:
        """The PMD slot of addr (allocating the pud and pmd tables if ``alloc``); the PUD slot
        with *err = WALK_PUD_LEAF when a PUD leaf maps it; NULL with WALK_NONE / WALK_OOM."""
        cdef uint64_t* pud = self.walk_pud(mm, addr, alloc, err)
        if pud == NULL:
            return NULL
        if pud[0] & _PAGE_PSE:
            err[0] = WALK_PUD_LEAF
            return pud
        if not pgtable_populate(self, mm, pud, 3, alloc, err):
            return NULL
        self.touch(mm, (pud[0] & PTE_PFN_MASK) >> PAGE_SHIFT, addr, 3)
        return &table_entries(self.pm, (pud[0] & PTE_PFN_MASK) >> PAGE_SHIFT)[(addr >> PMD_SHIFT) & 511]

    cdef uint64_t* walk_pud(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL:
        """The PUD slot of addr (allocating the pud table if ``alloc``)."""
        cdef uint64_t* pgd = &table_entries(self.pm, mm.pgd)[(addr >> PGDIR_SHIFT) & 511]
        if not pgtable_populate(self, mm, pgd, 2, alloc, err):
            return NULL
        self.touch(mm, (pgd[0] & PTE_PFN_MASK) >> PAGE_SHIFT, addr, 2)
        return &table_entries(self.pm, (pgd[0] & PTE_PFN_MASK) >> PAGE_SHIFT)[(addr >> PUD_SHIFT) & 511]

    cdef bint table_empty(self, pfn_t table) noexcept:
        cdef uint64_t* ents = table_entries(self.pm, table)
        cdef int i
        for i in range(PTRS_PER_TABLE):
            if ents[i]:
                return False
        return True

    @property
    def physmem(self):
        return self.pm


# ------------------------------------------------------------------------------------------
# The reverse map
# ------------------------------------------------------------------------------------------

cdef class Rmap:
    """mm/rmap.c: which PTEs map a page.  Anonymous pages point (page->mapping) at an anon_vma
    whose chained VMAs may map them; file pages at their address_space, whose i_mmap lists the
    VMAs mapping the file.  The anon_vma objects and their chain links are slab objects."""

    def __cinit__(self, MmCore core):
        self.core = core
        self.anon_vmas = {}
        self.mappings = {}

    cdef AnonVma anon_vma_alloc(self, str site):
        """anon_vma_alloc() (inline in ``site``): a new anon_vma (refcount 1, its own root)."""
        cdef uint64_t addr = self.core._kmem_alloc("anon_vma", site)
        cdef AnonVma av = AnonVma(addr)
        av.degree = 1
        self.anon_vmas[addr] = av
        return av

    cdef int anon_vma_chain_link(self, VmArea vma, AnonVma av, uint64_t avc) except -1:
        """anon_vma_chain_link(): vma joins av's interval tree through the link ``avc``."""
        vma.anon_vma_chain.append(AnonVmaChain(av, avc))
        av.vmas.append(vma)
        return 0

    cdef int put_anon_vma(self, AnonVma av) except -1:
        """put_anon_vma() -> __put_anon_vma(): the last reference frees it (and its root's)."""
        cdef AnonVma root = av.root
        av.refcount -= 1
        if av.refcount > 0:
            return 0
        self.anon_vmas.pop(av.addr, None)
        self.core._kmem_free("anon_vma", av.addr, "__put_anon_vma")
        if root is not av:
            self.put_anon_vma(root)
        return 0

    cdef int unlink_anon_vmas(self, VmArea vma) except -1:
        """unlink_anon_vmas(): leave every anon_vma of the chain; each link is freed, and each
        anon_vma no VMA uses any more loses a reference."""
        cdef AnonVma av
        cdef AnonVmaChain avc
        keep = []
        for avc in reversed(vma.anon_vma_chain):
            av = avc.anon_vma
            if vma in av.vmas:
                av.vmas.remove(vma)
            if not av.vmas:
                av.parent.degree -= 1
                keep.append(avc)
                continue
            self.core._kmem_free("anon_vma_chain", avc.addr, "unlink_anon_vmas")
        if vma.anon_vma:
            av = self.anon_vmas.get(vma.anon_vma)
            if av is not None:
                av.degree -= 1
            vma.anon_vma = 0
        for avc in keep:
            self.put_anon_vma(avc.anon_vma)
            self.core._kmem_free("anon_vma_chain", avc.addr, "unlink_anon_vmas")
        vma.anon_vma_chain = []
        return 0

    # -- walking ----------------------------------------------------------------------------
    def vma_address(self, pfn_t pfn, VmArea vma):
        """vma_address(): where ``vma`` would map the page (None if outside the VMA)."""
        cdef page* p = compound_head_page(self.core.pm, pfn)
        cdef uint64_t addr = vma.vm_start + ((p.index - vma.vm_pgoff) << PAGE_SHIFT)
        if p.index < vma.vm_pgoff or addr >= vma.vm_end:
            return None
        return addr

    def rmap_walk(self, pfn_t pfn):
        """rmap_walk(): every (vma, address, level) that maps page ``pfn`` (level 4: a PTE, 3: a
        PMD leaf, 2: a PUD leaf), found through its anon_vma or its address_space's i_mmap."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef pfn_t head = pfn
        cdef VmArea vma
        cdef uint64_t* slot
        cdef int err
        cdef uint64_t index
        if p.flags & (1ULL << PG_tail):
            head = p.compound_head
        hp = &self.core.pm.mem_map[head]
        if hp.mapping == 0:
            return []
        if hp.mapping & PAGE_MAPPING_ANON:
            av = self.anon_vmas.get(hp.mapping & ~(<uint64_t>PAGE_MAPPING_ANON))
            candidates = list(av.vmas) if av is not None else []
        else:
            mapping = self.mappings.get(hp.mapping)
            candidates = list(mapping.i_mmap) if mapping is not None else []
        out = []
        index = hp.index + (pfn - head)
        for vma in candidates:
            if index < vma.vm_pgoff:
                continue
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            if addr >= vma.vm_end or vma.vm_mm is None:
                continue
            err = 0
            slot = self.core.pgt.walk(vma.vm_mm, addr, False, &err)
            if slot == NULL or not (slot[0] & _PAGE_PRESENT):
                continue
            if ((slot[0] & PTE_PFN_MASK) >> PAGE_SHIFT) == (head if err in (WALK_PMD_LEAF, WALK_PUD_LEAF) else pfn):
                out.append((vma, addr & ~((PMD_SIZE - 1) if err == WALK_PMD_LEAF else
                                          (PUD_SIZE - 1) if err == WALK_PUD_LEAF else 0),
                            3 if err == WALK_PMD_LEAF else 2 if err == WALK_PUD_LEAF else 4))
        return out

    cdef void walk_cache_begin(self) noexcept:
        """Start a batch of rmap walks (a shrink_page_list call) that may reuse PTE tables."""
        self.wc_on = True
        self.wc_mm = None

    cdef void walk_cache_end(self) noexcept:
        """End it: no PTE table is remembered (a page table may be freed after this)."""
        self.wc_on = False
        self.wc_mm = None
        self.wc_ptes = NULL

    cdef uint64_t* rmap_pte(self, MmStruct mm, uint64_t addr, int* err) except? NULL:
        """page_vma_mapped_walk()'s lookup of addr in mm: the walk cache's PTE table when the
        batch already reached this 2 MiB range of this mm, else PageTables.walk (no allocation)."""
        cdef uint64_t* slot
        if self.wc_on and mm is self.wc_mm and (addr & ~(PMD_SIZE - 1)) == self.wc_base:
            err[0] = 0
            return &self.wc_ptes[(addr >> PAGE_SHIFT) & 511]
        slot = self.core.pgt.walk(mm, addr, False, err)
        if self.wc_on and slot != NULL and err[0] == 0:
            self.wc_mm = mm
            self.wc_base = addr & ~(PMD_SIZE - 1)
            self.wc_ptes = slot - ((addr >> PAGE_SHIFT) & 511)
        return slot

    cdef list rmap_vmas(self, page* hp):
        """The VMAs rmap_walk() visits for head page ``hp``: its anon_vma's (rmap_walk_anon) or
        its address_space's i_mmap (rmap_walk_file); None when the page has no rmapping."""
        cdef object got
        if hp.mapping & PAGE_MAPPING_ANON:
            got = self.anon_vmas.get(hp.mapping & ~(<uint64_t>PAGE_MAPPING_ANON))
            return None if got is None else (<AnonVma>got).vmas
        got = self.mappings.get(hp.mapping)
        return None if got is None else (<AddressSpace>got).i_mmap

    cdef int _page_mkclean(self, pfn_t pfn) except -1:
        """page_mkclean() -> rmap_walk(page_mkclean_one) of an order-0 page-cache page: every
        PTE of a shared VMA (invalid_mkclean_vma skips the others) that maps it dirty or
        writable is write-protected and cleaned (ptep_clear_flush, pte_wrprotect, pte_mkclean),
        so the next write faults (wp_page_shared) and dirties the page again.  Returns how many
        PTEs were cleaned."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef list vmas
        cdef VmArea vma
        cdef uint64_t addr, e
        cdef uint64_t* slot
        cdef int err, cleaned = 0
        cdef Py_ssize_t i
        if p.mapping == 0 or p.mapping & PAGE_MAPPING_ANON or p._mapcount < 0:
            return 0
        vmas = self.rmap_vmas(p)
        if vmas is None:
            return 0
        for i in range(len(vmas)):
            vma = <VmArea>vmas[i]
            if not (vma.vm_flags & C_VM_SHARED) or p.index < vma.vm_pgoff or vma.vm_mm is None:
                continue
            addr = vma.vm_start + ((p.index - vma.vm_pgoff) << PAGE_SHIFT)
            if addr >= vma.vm_end:
                continue
            err = 0
            slot = self.core.pgt.walk(vma.vm_mm, addr, False, &err)
            if slot == NULL or err:
                continue
            e = slot[0]
            if not (e & _PAGE_PRESENT) or ((e & PTE_PFN_MASK) >> PAGE_SHIFT) != pfn:
                continue
            if not (e & (_PAGE_DIRTY | _PAGE_RW)):
                continue
            slot[0] = e & ~(<uint64_t>(_PAGE_DIRTY | _PAGE_RW))
            cleaned += 1
        return cleaned

    cdef int _page_referenced(self, pfn_t pfn, list vmas, uint64_t* vm_flags) except -1:
        """page_referenced() -> rmap_walk(page_referenced_one) of an order-0 page: count the PTEs
        (or PMD leaves) mapping it that were young, clearing the accessed bit
        (ptep_clear_flush_young); a young PTE of a VM_SEQ_READ VMA does not count.  *vm_flags
        gathers the flags of the VMAs that referenced it; a VM_LOCKED VMA ends the walk with
        VM_LOCKED in *vm_flags (page_check_references then lets try_to_unmap cull it).
        ``vmas``: the page's rmap_vmas() if the caller has them (reclaim looks the mapping up
        once per batch), else None."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef pfn_t head = pfn
        cdef page* hp = p
        cdef VmArea vma
        cdef uint64_t index, addr, e
        cdef uint64_t* slot
        cdef int err, referenced = 0
        cdef Py_ssize_t i, n
        vm_flags[0] = 0
        if p.flags & (1ULL << PG_tail):
            head = p.compound_head
            hp = &self.core.pm.mem_map[head]
        if hp.mapping == 0 or not page_mapped(self.core.pm, pfn):
            return 0
        if vmas is None:
            vmas = self.rmap_vmas(hp)
        if vmas is None:
            return 0
        index = hp.index + (pfn - head)
        n = len(vmas)
        for i in range(n):
            vma = <VmArea>vmas[i]
            if index < vma.vm_pgoff or vma.vm_mm is None:
                continue
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            if addr >= vma.vm_end:
                continue
            err = 0
            slot = self.rmap_pte(vma.vm_mm, addr, &err)
            if slot == NULL:
                continue
            e = slot[0]
            if not (e & _PAGE_PRESENT) or ((e & PTE_PFN_MASK) >> PAGE_SHIFT) != (
                    head if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF else pfn):
                continue
            if vma.vm_flags & C_VM_LOCKED:
                if self.core.pm.mlock_fbatch_enabled and not (err == 0 and hp.flags & (1ULL << PG_head)):
                    self.core.mlock_vma_folio(vma, head)    # v6.18: restore the missed mlock
                vm_flags[0] |= C_VM_LOCKED
                break
            if e & _PAGE_ACCESSED:
                slot[0] = e & ~(<uint64_t>_PAGE_ACCESSED)
                if not (vma.vm_flags & C_VM_SEQ_READ):
                    referenced += 1
                    vm_flags[0] |= vma.vm_flags
        return referenced

    cdef int _try_to_unmap(self, pfn_t pfn, list vmas, uint64_t entry, bint swap, bint dup) except -1:
        """try_to_unmap() -> rmap_walk(try_to_unmap_one) of an order-0 page mapped by PTEs:
        clear each PTE (ptep_clear_flush), move a dirty PTE's dirty bit to the page
        (set_page_dirty), and drop the mapcount and the PTE's reference.  An anonymous page's
        PTEs get ``entry`` as a swap PTE when ``swap`` (taking a swap_duplicate reference each
        when ``dup``; a failed one restores the PTE and stops), MM_ANONPAGES -> MM_SWAPENTS, the
        uffd-wp bit kept; a file page's PTE is cleared, MM_FILEPAGES / MM_SHMEMPAGES drop.  A
        VM_LOCKED VMA or a huge leaf stops the walk (the page stays mapped: the caller sees
        page_mapped()).  Returns the number of PTEs unmapped."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef page* hp = p
        cdef VmArea vma
        cdef MmStruct mm
        cdef uint64_t index, addr, e, newpte = 0
        cdef uint64_t* slot
        cdef int err, member, r, unmapped = 0
        cdef Py_ssize_t i, n
        cdef TaskStruct t = self.core.cur.task
        cdef PhysMem pm = self.core.pm
        if p.flags & (1ULL << PG_tail):
            # a page of a large page-cache folio (try_to_unmap_folio): its head's mapping, at
            # the head's index + its offset; an anonymous THP's pages are not unmapped here
            hp = &pm.mem_map[p.compound_head]
            if hp.mapping & PAGE_MAPPING_ANON or hp.flags & (1ULL << PG_swapbacked):
                return 0
        if hp.mapping == 0 or p._mapcount <= 0:
            return 0
        if vmas is None:
            vmas = self.rmap_vmas(hp)
        if vmas is None:
            return 0
        member = mm_counter(hp)
        if swap:
            newpte = swp_entry_to_pte(entry)
        index = p.index if hp == p else hp.index + (pfn - p.compound_head)
        n = len(vmas)
        for i in range(n):
            if p._mapcount <= 0:
                break
            vma = <VmArea>vmas[i]
            mm = vma.vm_mm
            if index < vma.vm_pgoff or mm is None:
                continue
            addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
            if addr >= vma.vm_end:
                continue
            err = 0
            slot = self.rmap_pte(mm, addr, &err)
            if slot == NULL:
                continue
            e = slot[0]
            if not (e & _PAGE_PRESENT) or ((e & PTE_PFN_MASK) >> PAGE_SHIFT) != pfn:
                continue
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                break
            if vma.vm_flags & C_VM_LOCKED:
                self.core.mlock_vma_folio(vma, pfn)         # the page is culled on putback
                break
            if member == MM_ANONPAGES and swap:
                if dup and self.core.swap.swap_duplicate != NULL:
                    r = self.core.swap.swap_duplicate(self.core.swap.ctx, entry)
                    if r < 0:
                        break
                slot[0] = newpte | (_PAGE_SWP_UFFD_WP if e & _PAGE_UFFD_WP else 0)
                mm.add_mm_counter(MM_ANONPAGES, -1, t is not None and t.mm is mm)
                mm.add_mm_counter(MM_SWAPENTS, 1, t is not None and t.mm is mm)
            else:
                slot[0] = 0
                mm.add_mm_counter(member, -1, t is not None and t.mm is mm)
            if e & _PAGE_DIRTY:
                self.core.set_page_dirty(pfn)
            page_remove_rmap(pm, pfn)
            pm.put_page(pfn)
            unmapped += 1
        return unmapped

    cdef int try_to_unmap_folio(self, pfn_t head, list vmas) except -1:
        """try_to_unmap() of a large page-cache folio mapped by PTEs (rmap_walk ->
        try_to_unmap_one over the folio's range in each VMA): each of its pages' PTEs is
        cleared, a dirty one dirtying the folio, mapcounts and references dropped.  Returns the
        PTEs unmapped."""
        cdef int64_t nr = folio_nr(&self.core.pm.mem_map[head]), i
        cdef int unmapped = 0
        for i in range(nr):
            if self.core.pm.mem_map[head + i]._mapcount > 0:
                unmapped += self._try_to_unmap(head + i, vmas, 0, False, False)
        return unmapped

    cdef bint try_to_munlock(self, pfn_t pfn) except -1:
        """try_to_munlock() (v5.14): rmap_walk(try_to_unmap_one, TTU_MUNLOCK) of a page being
        munlocked: the first other VM_LOCKED VMA that maps it mlocks it again (mlock_vma_page;
        the caller has it isolated) and ends the walk.  True if one did."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef list vmas
        cdef VmArea vma
        cdef uint64_t addr, e
        cdef uint64_t* slot
        cdef int err
        cdef Py_ssize_t i
        if p.mapping == 0 or p.flags & (1ULL << PG_tail):
            return False
        vmas = self.rmap_vmas(p)
        if vmas is None:
            return False
        for i in range(len(vmas)):
            vma = <VmArea>vmas[i]
            if not (vma.vm_flags & C_VM_LOCKED) or vma.vm_mm is None or p.index < vma.vm_pgoff:
                continue
            addr = vma.vm_start + ((p.index - vma.vm_pgoff) << PAGE_SHIFT)
            if addr >= vma.vm_end:
                continue
            err = 0
            slot = self.rmap_pte(vma.vm_mm, addr, &err)
            if slot == NULL:
                continue
            e = slot[0]
            if (e & _PAGE_PRESENT) and ((e & PTE_PFN_MASK) >> PAGE_SHIFT) == pfn:
                self.core.pm.mlock_vma_page(pfn)
                return True
        return False

    def page_referenced(self, pfn_t pfn):
        """page_referenced(): how many of the PTEs mapping the page were young; the accessed
        bits are cleared (ptep_clear_flush_young)."""
        cdef uint64_t vm_flags = 0
        return self._page_referenced(pfn, None, &vm_flags)

    def try_to_unmap(self, pfn_t pfn, swap_entry=None):
        """try_to_unmap() of an order-0 page: clear every PTE mapping it (an anonymous page's
        PTEs get ``swap_entry`` (type, offset) as a swap PTE, MM_ANONPAGES -> MM_SWAPENTS; the
        caller holds the entry's references), drop the mapcount and the PTEs' references.
        Returns the number of PTEs unmapped; a page a huge leaf maps raises ValueError."""
        cdef page* p = &self.core.pm.mem_map[pfn]
        cdef uint64_t entry = 0
        for vma, addr, level in self.rmap_walk(pfn):
            if level != 4:
                raise ValueError(f"pfn {pfn:#x} is mapped by a huge leaf; split it first")
        if swap_entry is not None:
            entry = swp_entry(swap_entry[0], swap_entry[1])
        return self._try_to_unmap(pfn, None, entry, swap_entry is not None, False)

    def register_mapping(self, AddressSpace mapping):
        """Make ``mapping`` findable from its pages' page->mapping (rmap_walk_file)."""
        self.mappings[mapping.addr] = mapping
        mapping.in_rmap = True

    def unregister_mapping(self, AddressSpace mapping):
        """The inode is being freed (destroy_inode): its mapping leaves the page->mapping table.
        It must hold no page by then (clear_inode's BUG_ON(nrpages)): ValueError otherwise."""
        if mapping.nrpages:
            raise ValueError(f"{mapping!r}: unregistered with {mapping.nrpages} pages cached")
        if mapping.in_rmap and self.mappings.get(mapping.addr) is mapping:
            del self.mappings[mapping.addr]
        mapping.in_rmap = False


# ------------------------------------------------------------------------------------------
# The machine-wide mm core: faults, zap, copy
# ------------------------------------------------------------------------------------------

cdef int _core_migrate_page(void* ctx, pfn_t pfn) except? -1000000:
    return (<MmCore>ctx)._migrate_page(pfn)

cdef int _core_isolate_page(void* ctx, pfn_t pfn) except? -1000000:
    return (<MmCore>ctx).migrate_isolate_page(pfn)


cdef class MmCore:
    """The kernel's mm-wide state for every mm_struct of a machine: the page allocator to take
    pages from, the page tables, the reverse map, the trace buffer, ``current``, the zero page,
    the profile's choices and the ops tables of the subsystems (userfaultfd, swap)."""

    def __cinit__(self, PhysMem pm, TraceBuffer tb, Current cur, bint split_rss=True,
                  gfp_t gfp_anon=0x1100dca, gfp_t gfp_pgtable=0x400dc0, gfp_t gfp_user=0x1100cca,
                  uint64_t k0=0, uint64_t k1=0, int rss_preempt=0):
        self.pm = pm
        self.tb = tb
        self.cur = cur
        self.pgt = PageTables(pm, tb, gfp_pgtable)
        self.rmap = Rmap(self)
        self.split_rss = split_rss
        self.gfp_anon = gfp_anon
        self.gfp_user = gfp_user
        self.gfp_readahead = 0
        self.gfp_anon_vma_clone = GFP_KERNEL
        self.thp_get_unmapped_area = False
        self.ptr_k0 = k0
        self.ptr_k1 = k1
        self.rss_preempt = rss_preempt
        self.next_anon_vma = 1
        self.cost_fault_ns = 1500
        self.cost_access_ns = 2
        self.rng = 0x9e3779b97f4a7c15
        self.fault_around_bytes = 65536
        self.pte_markers = False
        self.swp_pte_marker = 0
        self.nr_pages_slot = False
        self.rcu_table_free = False
        self.trace_context = False
        self.migration_entry_ad = False
        self.rcu_wait = self.rcu_wait_tail = NULL
        self.rcu_ready = self.rcu_ready_tail = NULL
        self.rcu_cb_wait = []
        self.rcu_cb_ready = []
        self.slab = None
        self.blocked_on = None
        self.ops_owners = {}
        memset(&self.uffd_ops, 0, sizeof(self.uffd_ops))
        memset(&self.swap, 0, sizeof(self.swap))
        memset(self.fault_counts, 0, sizeof(self.fault_counts))
        self.workingset = Workingset(pm)
        self.workingset.swap_out_slot = <void**>&self.swap.swap_out
        # migration of in-use pages for alloc_contig_range goes through the reverse map here
        pm.migrate.migrate_page = _core_migrate_page
        pm.migrate.isolate_page = _core_isolate_page
        pm.migrate.ctx = <void*>self
        # the shared zero page (empty_zero_page): a reserved frame taken at boot
        cdef pfn_t z = pm.alloc_pages(0xcc0, 0, 0)
        if z == NO_PFN:
            raise MemoryError("no memory for the zero page")
        pm.mem_map[z].flags |= (1ULL << PG_zero) | (1ULL << PG_reserved)
        self.zero_pfn = z

    def __dealloc__(self):
        cdef mmu_table_batch* b
        if self.pm is not None and self.pm.migrate.ctx == <void*>self:
            self.pm.migrate.migrate_page = NULL
            self.pm.migrate.isolate_page = NULL
            self.pm.migrate.ctx = NULL
        while self.rcu_wait != NULL:
            b = self.rcu_wait
            self.rcu_wait = b.next
            free(b)
        while self.rcu_ready != NULL:
            b = self.rcu_ready
            self.rcu_ready = b.next
            free(b)

    # -- RCU: page tables freed after a grace period (tlb_remove_table) ---------------------
    cdef int call_rcu_table_batch(self, mmu_table_batch* batch) except -1:
        """call_rcu(&batch->rcu, tlb_remove_table_rcu) on this CPU: the batch waits for the
        grace period in progress to end."""
        batch.cpu = self.cur.cpu
        batch.next = NULL
        if self.rcu_wait_tail != NULL:
            self.rcu_wait_tail.next = batch
        else:
            self.rcu_wait = batch
        self.rcu_wait_tail = batch
        return 0

    cdef int tlb_remove_table_free(self, mmu_table_batch* batch) except -1:
        """tlb_remove_table_rcu() -> __tlb_remove_table_free(): each table in the order it was
        queued (__tlb_remove_table: pagetable_dtor_free), then the batch page (free_page)."""
        cdef unsigned int i
        for i in range(batch.nr):
            self.pgt.pagetable_dtor(batch.tables[i])
            self.pm.put_page(batch.tables[i])
        self.pm.free_pages(batch.page, 0)
        return 0

    def call_rcu(self, fn):
        """call_rcu() of a callback written in Python (an inode's i_callback, a dentry's
        __d_free: coarse objects, never per page) on the current CPU: ``fn()`` runs once the
        grace period in progress has ended, in rcu_do_batch() after the table batches."""
        self.rcu_cb_wait.append((self.cur.cpu, fn))

    def rcu_callbacks_pending(self):
        """(Python callbacks waiting for their grace period, those ready to invoke)."""
        return len(self.rcu_cb_wait), len(self.rcu_cb_ready)

    def rcu_gp_end(self):
        """The grace period in progress ends (every CPU passed a quiescent state): the table
        batches and callbacks queued so far become ready; the next rcu_do_batch() invokes
        them."""
        if self.rcu_cb_wait:
            self.rcu_cb_ready.extend(self.rcu_cb_wait)
            self.rcu_cb_wait = []
        if self.rcu_wait == NULL:
            return
        if self.rcu_ready_tail != NULL:
            self.rcu_ready_tail.next = self.rcu_wait
        else:
            self.rcu_ready = self.rcu_wait
        self.rcu_ready_tail = self.rcu_wait_tail
        self.rcu_wait = self.rcu_wait_tail = NULL

    def rcu_do_batch(self, TaskStruct running=None):
        """rcu_core() -> rcu_do_batch(): invoke the ready table-batch callbacks, in call_rcu()
        order, each in softirq on the CPU that queued it, in the context of whoever runs there:
        ``running`` on its own CPU (a task still running after the preemption point), the idle
        task (pid 0) on every other CPU.  With ``trace_context`` the records say so: softirq,
        and the idle loop's preempt depth of 1 (``..s1.``; a task's own is 0, ``..s..``).
        Then the ready Python callbacks (call_rcu()), in the same way (memsim keeps them in a
        queue of their own: within one grace period a CPU's table batches run before its
        callbacks).  Returns how many batches were freed."""
        cdef mmu_table_batch* b
        cdef TaskStruct saved_task = self.cur.task
        cdef int saved_cpu = self.cur.cpu, count = 0
        cdef int32_t saved_pid = self.cur.pid
        cdef mempolicy* saved_pol = self.cur.mempolicy
        cdef uint8_t saved_flags = self.tb.ctx_flags, saved_preempt = self.tb.ctx_preempt
        cdef bint idle
        try:
            while self.rcu_ready != NULL:
                b = self.rcu_ready
                self.rcu_ready = b.next
                if self.rcu_ready == NULL:
                    self.rcu_ready_tail = NULL
                idle = running is None or running.cpu != b.cpu
                self.cur.task = None if idle else running
                self.cur.cpu = b.cpu
                self.cur.pid = 0 if idle else running.pid
                self.cur.mempolicy = NULL
                if self.trace_context:
                    self.tb.ctx_flags = saved_flags | TRACE_FLAG_SOFTIRQ
                    self.tb.ctx_preempt = saved_preempt + (1 if idle else 0)
                try:
                    self.tlb_remove_table_free(b)
                finally:
                    free(b)
                count += 1
            while self.rcu_cb_ready:
                cpu, fn = self.rcu_cb_ready.pop(0)
                idle = running is None or running.cpu != cpu
                self.cur.task = None if idle else running
                self.cur.cpu = cpu
                self.cur.pid = 0 if idle else running.pid
                self.cur.mempolicy = NULL
                if self.trace_context:
                    self.tb.ctx_flags = saved_flags | TRACE_FLAG_SOFTIRQ
                    self.tb.ctx_preempt = saved_preempt + (1 if idle else 0)
                fn()
        finally:
            self.cur.task = saved_task
            self.cur.cpu = saved_cpu
            self.cur.pid = saved_pid
            self.cur.mempolicy = saved_pol
            self.tb.ctx_flags = saved_flags
            self.tb.ctx_preempt = saved_preempt
        return count

    def rcu_barrier(self):
        """rcu_barrier(): end the grace period and invoke every table-batch and Python callback
        still queued, each on its CPU's idle task (the machine idles once its tasks are done).
        Returns how many batches were freed."""
        self.rcu_gp_end()
        return self.rcu_do_batch(None)

    def rcu_pending(self):
        """(batches waiting for their grace period, batches ready to invoke)."""
        cdef mmu_table_batch* b
        cdef int waiting = 0, ready = 0
        b = self.rcu_wait
        while b != NULL:
            waiting += 1
            b = b.next
        b = self.rcu_ready
        while b != NULL:
            ready += 1
            b = b.next
        return waiting, ready

    # -- installing ops tables --------------------------------------------------------------
    def install_userfaultfd_ops(self, PyUserfaultfdOps ops):
        """Install the userfaultfd ops (None removes them: VM_UFFD_* faults then get SIGBUS, as
        handle_userfault() does without a context).  A Cython plugin sets ``uffd_ops``."""
        if ops is None:
            memset(&self.uffd_ops, 0, sizeof(self.uffd_ops))
            self.ops_owners.pop("userfaultfd", None)
        else:
            self.uffd_ops = ops.ops
            self.ops_owners["userfaultfd"] = ops

    def set_userfault_handler(self, handler):
        """Shorthand: install a userfaultfd ops table whose handle_userfault is ``handler(mm,
        vma, address, flags, reason)`` (see :class:`PyUserfaultfdOps`); None removes it."""
        self.install_userfaultfd_ops(PyUserfaultfdOps(handle_userfault=handler) if handler else None)

    def keep_alive(self, str name, object owner):
        """Keep ``owner`` (the object behind an ops table a Cython plugin installed, and its
        ctx) alive as long as this core: ``core.keep_alive("swap", state)``."""
        self.ops_owners[name] = owner

    @property
    def has_userfaultfd_ops(self):
        return self.uffd_ops.handle_userfault != NULL

    @property
    def has_swap_ops(self):
        return self.swap.do_swap_page != NULL

    # -- rss ---------------------------------------------------------------------------------
    def sync_current_rss(self):
        """sync_mm_rss(current->mm) (exit, exec, kthread_unuse_mm)."""
        cdef TaskStruct t = self.cur.task
        if t is not None and t.mm is not None and self.split_rss:
            (<MmStruct>t.mm).sync_mm_rss(t)

    cdef inline void check_sync_rss_stat(self) noexcept:
        """check_sync_rss_stat(current) at the start of handle_mm_fault."""
        cdef TaskStruct t = self.cur.task
        if not self.split_rss or t is None:
            return
        if t.rss_stat.events > TASK_RSS_EVENTS_THRESH:
            t.rss_stat.events += 1
            if t.mm is not None:
                (<MmStruct>t.mm).sync_mm_rss(t)
        else:
            t.rss_stat.events += 1

    # -- slab-backed objects -----------------------------------------------------------------
    @property
    def physmem(self):
        return self.pm

    @property
    def trace_buffer(self):
        return self.tb

    @property
    def current(self):
        return self.cur

    @property
    def nr_pagetable(self):
        return self.pgt.nr_pagetable

    @property
    def gfp_pgtable(self):
        return self.pgt.gfp_pgtable

    def _kmem_alloc(self, str cache, str site, gfp_t gfp=GFP_KERNEL):
        if self.slab is not None:
            return self.slab.cache_alloc(cache, gfp, site)
        self.next_anon_vma += 1
        return 0xffff888200000000 + self.next_anon_vma * 0x100

    def _kmem_free(self, str cache, uint64_t addr, str site):
        if self.slab is not None and addr:
            self.slab.cache_free(cache, addr, site)

    def vm_area_alloc(self, bint dup=False):
        """vm_area_alloc() / vm_area_dup(): a vm_area_struct from its slab cache."""
        return self._kmem_alloc("vm_area_struct", "vm_area_dup" if dup else "vm_area_alloc")

    def vm_area_free(self, VmArea vma):
        """remove_vma(): vm_ops->close, then vm_area_free()."""
        vma.vm_ops_close()
        self._kmem_free("vm_area_struct", vma.addr, "vm_area_free")
        vma.addr = 0

    def vma_link(self, MmStruct mm, VmArea vma):
        """vma_link(): insert the VMA in the mm (sorted) and in its file's i_mmap."""
        cdef VmArea v
        cdef int lo = 0, hi = len(mm.vmas), mid
        vma.vm_mm = mm
        while lo < hi:
            mid = (lo + hi) // 2
            v = mm.vmas[mid]
            if v.vm_start < vma.vm_start:
                lo = mid + 1
            else:
                hi = mid
        mm.vmas.insert(lo, vma)
        if vma.vm_file is not None:
            vma.vm_file.i_mmap.append(vma)
            self.rmap.register_mapping(vma.vm_file)

    def unlink_file_vma(self, VmArea vma):
        """unlink_file_vma(): the VMA leaves its file's i_mmap."""
        if vma.vm_file is not None and vma in vma.vm_file.i_mmap:
            vma.vm_file.i_mmap.remove(vma)

    def anon_vma_clone(self, VmArea dst, VmArea src):
        """anon_vma_clone(): link ``dst`` into every anon_vma of ``src``'s chain (one
        anon_vma_chain object each, allocated with ``gfp_anon_vma_clone``: the kernel's
        GFP_NOWAIT | __GFP_NOWARN, which the v5.14 profile keeps as GFP_KERNEL), reusing one
        with degree < 2 when dst has none (fork)."""
        cdef AnonVma av
        cdef AnonVmaChain link
        for link in reversed(src.anon_vma_chain):
            av = link.anon_vma
            self.rmap.anon_vma_chain_link(dst, av, self._kmem_alloc("anon_vma_chain", "anon_vma_clone",
                                                                    self.gfp_anon_vma_clone))
            if dst.anon_vma == 0 and src.anon_vma and av.addr != src.anon_vma and av.degree < 2:
                dst.anon_vma = av.addr
        if dst.anon_vma:
            av = self.rmap.anon_vmas.get(dst.anon_vma)
            if av is not None:
                av.degree += 1

    def anon_vma_fork(self, VmArea vma, VmArea pvma):
        """anon_vma_fork(): the child VMA joins the parent's anon_vmas, then gets its own
        anon_vma (a child of the parent's) unless one could be reused."""
        cdef AnonVma av, pav
        cdef uint64_t avc
        if not pvma.anon_vma:
            return 0
        vma.anon_vma = 0
        self.anon_vma_clone(vma, pvma)
        if vma.anon_vma:
            return vma.anon_vma
        av = self.rmap.anon_vma_alloc("anon_vma_fork")
        pav = self.rmap.anon_vmas[pvma.anon_vma]
        avc = self._kmem_alloc("anon_vma_chain", "anon_vma_fork")
        av.root = pav.root
        av.parent = pav
        av.root.refcount += 1           # get_anon_vma(anon_vma->root)
        vma.anon_vma = av.addr
        self.rmap.anon_vma_chain_link(vma, av, avc)
        pav.degree += 1
        return av.addr

    def unlink_anon_vmas(self, VmArea vma):
        self.rmap.unlink_anon_vmas(vma)

    def dup_userfaultfd(self, VmArea vma, VmArea new):
        """dup_userfaultfd(): a VMA copied at fork keeps its userfaultfd context and VM_UFFD_*
        flags only if the userfaultfd asked for fork events (the dup op says so); otherwise
        they are cleared in the child."""
        if vma.vm_userfaultfd_ctx is None and not (vma.vm_flags & C_VM_UFFD):
            return
        if self.uffd_ops.dup != NULL and vma.vm_userfaultfd_ctx is not None:
            if self.uffd_ops.dup(self.uffd_ops.ctx, vma, new):
                return
        new.vm_userfaultfd_ctx = None
        new.vm_flags &= ~C_VM_UFFD

    def userfaultfd_unmap_prep(self, VmArea vma, uint64_t start, uint64_t end):
        """userfaultfd_unmap_prep(): tell the VMA's userfaultfd about a munmap."""
        if self.uffd_ops.unmap != NULL and vma.vm_userfaultfd_ctx is not None:
            self.uffd_ops.unmap(self.uffd_ops.ctx, vma, start, end)

    def userfaultfd_remove(self, VmArea vma, uint64_t start, uint64_t end):
        """userfaultfd_remove(): tell the VMA's userfaultfd about MADV_DONTNEED / MADV_FREE /
        MADV_REMOVE of [start, end), before the pages go."""
        if self.uffd_ops.remove != NULL and vma.vm_userfaultfd_ctx is not None:
            self.uffd_ops.remove(self.uffd_ops.ctx, vma, start, end)

    def mremap_userfaultfd(self, VmArea vma, uint64_t old_start, uint64_t new_start, uint64_t length):
        """mremap_userfaultfd_prep/complete(): tell the VMA's userfaultfd about a move."""
        if self.uffd_ops.remap != NULL and vma.vm_userfaultfd_ctx is not None:
            self.uffd_ops.remap(self.uffd_ops.ctx, vma, old_start, new_start, length)

    def mm_free(self, MmStruct mm):
        """__mmdrop(): the mm_struct goes back to its cache."""
        self._kmem_free("mm_struct", mm.addr, "__mmdrop")

    # -- mm lifecycle ------------------------------------------------------------------------
    def mm_alloc(self, object owner=None):
        """mm_alloc(): a new mm_struct (from the mm_struct slab cache if there is one) and its pgd."""
        cdef MmStruct mm = MmStruct.__new__(MmStruct)
        mm.core = self
        mm.vmas = []
        mm.mm_users = 1
        mm.owner = owner
        mm.mmap_base = 0x7ffff7fff000
        mm.hugetlb_usage = 0
        memset(mm.rss, 0, sizeof(mm.rss))
        mm.seq = self.pgt.next_mm_seq
        self.pgt.next_mm_seq += 1
        mm.addr = self._kmem_alloc("mm_struct", "mm_alloc")
        mm.mm_id = ptr_to_hashval(mm.addr, self.ptr_k0, self.ptr_k1)
        mm.pgd = self.pgt.alloc_table(1)
        if mm.pgd == NO_PFN:
            raise MemoryError("out of memory allocating a pgd")
        return mm

    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL:
        return self.pgt.walk(mm, addr, alloc, err)

    def free_pgd(self, MmStruct mm):
        """mm_free_pgd(): the pgd page goes back to the allocator (at __mmdrop)."""
        if mm.pgd != NO_PFN:
            self.pgt.free_table_now(mm.pgd)
            self.pm.put_page(mm.pgd)
            mm.pgd = NO_PFN

    # -- allocation of user pages -------------------------------------------------------------
    cdef pfn_t alloc_user_page(self, gfp_t gfp, VmArea vma, uint64_t addr) except? 0xfffffffffffffffe:
        """alloc_page_vma(): the VMA's mbind policy, else the task's, else the local node."""
        cdef mempolicy* pol = vma.vm_policy
        cdef int local
        if pol == NULL or pol.mode == 0:
            pol = self.cur.mempolicy
            if pol == NULL or pol.mode == 0:
                return self.pm.alloc_pages_nodemask(gfp, 0, -1, NULL)
        local = self.pm.cpu_node[self.cur.cpu]
        if pol.mode == MPOL_INTERLEAVE:
            return self.pm.alloc_page_interleave(
                gfp, 0, offset_il_node(pol, vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT), local))
        if pol.mode == MPOL_PREFERRED_MANY:
            return self.pm.alloc_pages_preferred_many(gfp, 0, local, pol)
        return self.pm.alloc_pages_nodemask(gfp, 0, policy_node(pol, local), policy_nodemask(pol))

    def vma_set_policy(self, VmArea vma):
        """vma_replace_policy()'s ``vma->vm_ops->set_policy(vma, new)`` after mbind() gave the
        VMA its policy: for a file VMA without vm_ops, its mapping's a_ops->set_policy
        (shmem_set_policy()).  Returns 0 or the op's negative errno."""
        cdef AddressSpace m = vma.vm_file
        if m is None or m.a_ops == NULL or m.a_ops.set_policy == NULL:
            return 0
        return m.a_ops.set_policy(m.a_ops.ctx, vma, vma.vm_policy)

    cdef int charge(self, pfn_t pfn, MmStruct mm, gfp_t gfp) except -1:
        """mem_cgroup_charge(): 0, or -ENOMEM (the caller frees the page)."""
        if self.pm.memcg.charge != NULL:
            return self.pm.memcg.charge(self.pm.memcg.ctx, pfn, 0, gfp, mm)
        return 0

    def add_to_page_cache(self, pfn_t pfn, AddressSpace mapping, uint64_t index):
        """The struct page side of __add_to_page_cache_locked(): page->mapping and ->index
        (and PG_swapbacked for shmem), so rmap and the fault path find it."""
        self._add_to_page_cache(pfn, mapping, index)

    cdef int _add_to_page_cache(self, pfn_t pfn, AddressSpace mapping, uint64_t index) except -1:
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p)
        p.mapping = mapping.addr
        p.index = index
        __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_PAGES, nr)
        if mapping.swapbacked:
            p.flags |= 1ULL << PG_swapbacked
            __mod_lruvec_page_state(self.pm.vs, p, NR_SHMEM, nr)
        if not mapping.in_rmap:
            self.rmap.register_mapping(mapping)
        return 0

    # -- faults ------------------------------------------------------------------------------
    cdef int handle_mm_fault(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1:
        """handle_mm_fault(): count it (v5.14 first; 6.18 at the end, in mm_account_fault(),
        and not when the fault is to be retried), check_sync_rss_stat, then hugetlb_fault for
        VM_HUGETLB VMAs, or __handle_mm_fault: huge_fault for a missing PMD where the VMA's
        vm_ops offer it, huge leaves, and handle_pte_fault.  A user fault runs between
        mem_cgroup_enter_user_fault() and mem_cgroup_exit_user_fault() (``in_user_fault``: a
        memcg OOM with oom_kill_disable makes such a fault wait, mem_cgroup_oom_synchronize,
        instead of failing)."""
        cdef bint prev = self.in_user_fault
        cdef int ret
        self.in_user_fault = (flags & FAULT_FLAG_USER) != 0
        if not self.pgfault_at_end:
            self.count_pgfault(mm)
        ret = self.handle_mm_fault_body(mm, vma, addr, flags)
        if self.pgfault_at_end and not (ret & VM_FAULT_RETRY):
            self.count_pgfault(mm)          # mm_account_fault()
        self.in_user_fault = prev
        return ret

    cdef void count_pgfault(self, MmStruct mm) noexcept:
        """count_vm_event(PGFAULT) and count_memcg_event_mm(mm, PGFAULT)."""
        count_vm_event(self.pm.vs, PGFAULT)
        if self.pm.memcg.count_event_mm != NULL:
            self.pm.memcg.count_event_mm(self.pm.memcg.ctx, mm, PGFAULT, 1)

    cdef int handle_mm_fault_body(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1:
        """handle_mm_fault() between the accounting: check_sync_rss_stat, the hugetlb or the
        page-table walk, and the fault's handler."""
        cdef vm_fault vmf
        cdef int err = 0, ret, tries, level
        cdef uint64_t* slot
        self.check_sync_rss_stat()
        self.tb.clock.now += self.cost_fault_ns
        vmf.real_address = addr
        vmf.address = addr & PAGE_MASK
        vmf.flags = flags
        vmf.pgoff = ((vmf.address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        vmf.gfp_mask = self.gfp_user
        vmf.page = NO_PFN
        vmf.cow_page = NO_PFN
        vmf.pte = NULL
        vmf.pmd = NULL
        vmf.orig_pte = 0
        if vma.vm_flags & C_VM_HUGETLB:
            return self.hugetlb_fault(mm, vma, &vmf)
        for tries in range(2):
            level = 0
            if vma.vm_ops == NULL:
                # anonymous VMAs and files without vm_ops: the whole walk, tables allocated
                slot = self.pgt.walk(mm, addr, True, &err)
                if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                    level = 3 if err == WALK_PMD_LEAF else 2
            else:
                # the pud and pmd only: a missing PMD may be a huge fault (create_huge_pmd)
                slot = self.pgt.walk_pmd(mm, addr, True, &err)
                if err == WALK_PUD_LEAF:
                    level = 2
                elif slot != NULL:
                    vmf.pmd = slot
                    if slot[0] == 0 and vma.vm_ops.huge_fault != NULL and self.transhuge_suitable(vma, addr):
                        ret = vma.vm_ops.huge_fault(vma.vm_ops.ctx, mm, vma, &vmf, PE_SIZE_PMD)
                        if not (ret & VM_FAULT_FALLBACK):
                            if not (ret & (VM_FAULT_ERROR | VM_FAULT_RETRY)):
                                self.fault_counts[FK_HUGE] += 1
                            return ret
                    if slot[0] & _PAGE_PSE:
                        level = 3
            if level:
                ret = self.do_huge_leaf_fault(mm, vma, &vmf, slot, level)
                if ret != VM_FAULT_FALLBACK:
                    return ret
                err = 0
                continue                # split or zapped: again, at the PTE level
            if slot == NULL:
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
            if vma.vm_ops == NULL:
                vmf.pte = slot
                vmf.orig_pte = slot[0]
            elif slot[0] & _PAGE_PRESENT:
                self.pgt.touch(mm, (slot[0] & PTE_PFN_MASK) >> PAGE_SHIFT, addr, 4)
                vmf.pte = &table_entries(self.pm, (slot[0] & PTE_PFN_MASK) >> PAGE_SHIFT)[(addr >> PAGE_SHIFT) & 511]
                vmf.orig_pte = vmf.pte[0]
            return self.handle_pte_fault(mm, vma, &vmf)
        self.fault_counts[FK_SIGBUS] += 1
        return VM_FAULT_SIGBUS

    cdef bint transhuge_suitable(self, VmArea vma, uint64_t addr) noexcept:
        """transhuge_vma_suitable(): the aligned 2 MiB around addr lies inside the VMA and the
        file offset is aligned with it."""
        cdef uint64_t haddr = addr & ~(PMD_SIZE - 1)
        if vma.vm_file is not None and (((vma.vm_start >> PAGE_SHIFT) - vma.vm_pgoff) & 511):
            return False
        return haddr >= vma.vm_start and haddr + PMD_SIZE <= vma.vm_end

    cdef int hugetlb_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """handle_mm_fault()'s is_vm_hugetlb_page() branch: the hugetlb plugin's fault
        (memsim routes hugetlb_fault() through the VMA's vm_ops huge_fault)."""
        cdef int ret, pe = PE_SIZE_PMD
        cdef uint64_t size
        if vma.vm_ops == NULL or vma.vm_ops.huge_fault == NULL:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if vma.vm_ops.pagesize != NULL:
            size = vma.vm_ops.pagesize(vma.vm_ops.ctx, vma)
            pe = PE_SIZE_PUD if size >= PUD_SIZE else PE_SIZE_PMD
        vmf.address = vmf.real_address & ~((PUD_SIZE if pe == PE_SIZE_PUD else PMD_SIZE) - 1)
        vmf.pgoff = ((vmf.address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        ret = vma.vm_ops.huge_fault(vma.vm_ops.ctx, mm, vma, vmf, pe)
        if ret & VM_FAULT_SIGBUS:
            self.fault_counts[FK_SIGBUS] += 1
        elif ret & VM_FAULT_OOM:
            self.fault_counts[FK_OOM] += 1
        elif not (ret & VM_FAULT_RETRY):
            self.fault_counts[FK_HUGE] += 1
        return ret

    cdef int handle_pte_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """handle_pte_fault(): none -> do_anonymous_page / do_fault; a swap entry or marker ->
        do_swap_page; a write to a read-only present PTE -> do_wp_page; else mark it young."""
        cdef uint64_t e = vmf.orig_pte
        cdef bint write = vmf.flags & FAULT_FLAG_WRITE
        if vmf.pte == NULL or e == 0:
            if vma_is_anonymous(vma):
                return self.do_anonymous_page(mm, vma, vmf)
            return self.do_fault(mm, vma, vmf)
        if not pte_present(e):
            return self.do_swap_page(mm, vma, vmf)
        if write and not (e & _PAGE_RW):
            return self.do_wp_page(mm, vma, vmf)
        vmf.pte[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        return 0

    cdef int userfault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1:
        """handle_userfault(): hand the fault to the userfaultfd plugin; without one, SIGBUS."""
        if self.uffd_ops.handle_userfault == NULL:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        self.fault_counts[FK_USERFAULT] += 1
        return self.uffd_ops.handle_userfault(self.uffd_ops.ctx, mm, vma, vmf, reason)

    cdef inline bint orig_pte_uffd_wp(self, vm_fault* vmf) noexcept:
        """vmf_orig_pte_uffd_wp(): the fault started on a uffd-wp PTE marker."""
        cdef uint64_t entry
        if not self.pte_markers or vmf.orig_pte == 0 or pte_present(vmf.orig_pte):
            return False
        entry = pte_to_swp_entry(vmf.orig_pte)
        return swp_type(entry) == self.swp_pte_marker and (swp_offset(entry) & PTE_MARKER_UFFD_WP) != 0

    cdef uint64_t anon_vma_prepare(self, VmArea vma) except? 0xffffffffffffffff:
        """anon_vma_prepare(): give the VMA an anon_vma (the chain link first, then the anon_vma)."""
        cdef AnonVma av
        cdef uint64_t avc
        if vma.anon_vma == 0:
            avc = self._kmem_alloc("anon_vma_chain", "__anon_vma_prepare")
            av = self.rmap.anon_vma_alloc("__anon_vma_prepare")
            vma.anon_vma = av.addr
            self.rmap.anon_vma_chain_link(vma, av, avc)
        return vma.anon_vma

    cdef inline void page_add_new_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) noexcept:
        cdef page* p = &self.pm.mem_map[pfn]
        p._mapcount = 1
        p.mapping = vma.anon_vma | PAGE_MAPPING_ANON
        p.index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        p.flags |= 1ULL << PG_swapbacked
        __mod_lruvec_page_state(self.pm.vs, p, NR_ANON_MAPPED, 1)

    cdef int do_anonymous_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_anonymous_page(): the zero page for reads, a new zeroed page for writes;
        VM_UFFD_MISSING VMAs hand the fault to userfaultfd instead."""
        cdef pfn_t pfn
        cdef uint64_t entry
        cdef bint uffd_wp = self.orig_pte_uffd_wp(vmf)
        if vma.vm_flags & C_VM_SHARED:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if not (vmf.flags & FAULT_FLAG_WRITE):
            if vma.vm_flags & C_VM_UFFD_MISSING:
                return self.userfault(mm, vma, vmf, C_VM_UFFD_MISSING)
            entry = (self.zero_pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_SPECIAL | _PAGE_ACCESSED
            if uffd_wp:
                entry |= _PAGE_UFFD_WP
            vmf.pte[0] = entry
            self.fault_counts[FK_ZERO] += 1
            return 0
        self.anon_vma_prepare(vma)
        pfn = self.alloc_user_page(self.gfp_anon, vma, vmf.address)
        if pfn == NO_PFN:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if self.pm.memcg.charge != NULL and self.charge(pfn, mm, 0xcc0) != 0:
            self.pm.put_page(pfn)
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if vma.vm_flags & C_VM_UFFD_MISSING:
            self.pm.put_page(pfn)
            return self.userfault(mm, vma, vmf, C_VM_UFFD_MISSING)
        mm.add_mm_counter_fast(MM_ANONPAGES, 1)
        self.page_add_new_anon_rmap(pfn, vma, vmf.address)
        self.pm.lru_cache_add_inactive_or_unevictable(pfn, vma_mlocked_new_page(vma))
        entry = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
        if vma.vm_flags & C_VM_WRITE:
            entry |= _PAGE_RW | _PAGE_DIRTY
        if uffd_wp:
            entry = (entry | _PAGE_UFFD_WP) & ~(<uint64_t>_PAGE_RW)
        vmf.pte[0] = entry
        self.fault_counts[FK_ANON] += 1
        return 0

    cdef int do_wp_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_wp_page(): userfaultfd write-protect, then reuse an exclusively owned anon page,
        make a shared mapping's page writable (wp_page_shared), else wp_page_copy()."""
        cdef uint64_t e = vmf.orig_pte
        cdef pfn_t old = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* op
        cdef int ret
        if (vma.vm_flags & C_VM_UFFD_WP) and (e & _PAGE_UFFD_WP):
            return self.userfault(mm, vma, vmf, C_VM_UFFD_WP)
        if not (vma.vm_flags & C_VM_WRITE):
            self.fault_counts[FK_SIGSEGV] += 1
            return VM_FAULT_SIGSEGV
        if e & _PAGE_SPECIAL:
            return self.wp_page_copy(mm, vma, vmf, old, True)
        op = compound_head_page(self.pm, old)
        if op.mapping & PAGE_MAPPING_ANON:
            if self.wp_reuse_drains_lru and not (op.flags & (1ULL << PG_head)) and \
                    op._refcount <= 3 and not (op.flags & (1ULL << PG_lru)):
                self.pm.lru_add_drain()     # a fresh page may still be in this CPU's lru_add batch
            if not (op.flags & (1ULL << PG_head)) and op._mapcount == 1 and (
                    op._refcount == 1 or
                    (self.wp_reuse_drains_lru and op._refcount == 2 and op.flags & (1ULL << PG_owner_priv_1))):
                # v6.x: a page mapped once is PageAnonExclusive (swap-in keeps it so): reused
                # in place, still in the swap cache; v5.14 copies a swap-cache page (its count
                # holds the swap cache's reference)
                vmf.pte[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED     # wp_page_reuse
                count_vm_event(self.pm.vs, PGREUSE)
                self.fault_counts[FK_REUSE] += 1
                return 0
        elif (vma.vm_flags & (C_VM_WRITE | C_VM_SHARED)) == (C_VM_WRITE | C_VM_SHARED):
            # wp_page_shared(): ->page_mkwrite first, then reuse
            vmf.page = old
            ret = self.do_page_mkwrite(mm, vma, vmf)
            if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
                return ret
            vmf.pte[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED
            self.fault_counts[FK_SHARED] += 1
            self.fault_dirty_shared_page(vma, old)
            return 0
        return self.wp_page_copy(mm, vma, vmf, old, False)

    cdef int wp_page_copy(self, MmStruct mm, VmArea vma, vm_fault* vmf, pfn_t old, bint old_is_zero) except -1:
        """wp_page_copy(): a private copy of the old page (or a zeroed page for the zero page).
        The old page is held (do_wp_page's get_page) while the copy is allocated, and the copy
        is mapped only if the PTE is still the one the fault saw (pte_same): the allocation may
        reclaim, and reclaim may have unmapped the old page meanwhile; then the copy is
        dropped and the access faults again."""
        cdef pfn_t new
        cdef page* op = compound_head_page(self.pm, old)
        self.anon_vma_prepare(vma)
        if not old_is_zero:
            op._refcount += 1                   # get_page(old): reclaim cannot free it now
        if old_is_zero:
            new = self.alloc_user_page(self.gfp_anon, vma, vmf.address)
        else:
            new = self.alloc_user_page(self.gfp_user, vma, vmf.address)
            if new != NO_PFN:
                self.pm.copy_content(new, old)
        if new == NO_PFN:
            if not old_is_zero:
                self.pm.put_page(old)
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if self.pm.memcg.charge != NULL and self.charge(new, mm, 0xcc0) != 0:
            self.pm.put_page(new)
            if not old_is_zero:
                self.pm.put_page(old)
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if vmf.pte[0] != vmf.orig_pte:          # !pte_same(): someone unmapped it meanwhile
            self.pm.put_page(new)
            if not old_is_zero:
                self.pm.put_page(old)
            return 0
        if old_is_zero:
            mm.add_mm_counter_fast(MM_ANONPAGES, 1)
        elif not (op.mapping & PAGE_MAPPING_ANON):
            mm.add_mm_counter_fast(mm_counter(op), -1)
            mm.add_mm_counter_fast(MM_ANONPAGES, 1)
        self.page_add_new_anon_rmap(new, vma, vmf.address)
        self.pm.lru_cache_add_inactive_or_unevictable(new, vma_mlocked_new_page(vma))
        vmf.pte[0] = (new << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_RW | _PAGE_DIRTY
        if not old_is_zero:
            page_remove_rmap(self.pm, old)
            if vma.vm_flags & C_VM_LOCKED or op.flags & (1ULL << PG_mlocked):
                self.munlock_vma_folio(vma, old)
                if not self.pm.mlock_fbatch_enabled and vma.vm_flags & C_VM_LOCKED \
                        and op.flags & (1ULL << PG_mlocked) and not (op.flags & (1ULL << PG_head)):
                    self.munlock_page_v5(old, True)     # v5.14: the copied page's munlock_vma_page
            self.pm.put_page(old)               # the PTE's reference
            self.pm.put_page(old)               # put_page(old_page) of the get_page above
        self.fault_counts[FK_COW] += 1
        return 0

    cdef uint64_t* pte_alloc(self, MmStruct mm, vm_fault* vmf) except? NULL:
        """The PTE table under vmf.pmd, allocated if missing (__do_fault's prealloc_pte, which
        memsim installs at once)."""
        cdef int err = 0
        if vmf.pte != NULL:
            return vmf.pte
        if vmf.pmd == NULL or not pgtable_populate(self.pgt, mm, vmf.pmd, 4, True, &err):
            return NULL
        self.pgt.touch(mm, (vmf.pmd[0] & PTE_PFN_MASK) >> PAGE_SHIFT, vmf.address, 4)
        vmf.pte = &table_entries(self.pm, (vmf.pmd[0] & PTE_PFN_MASK) >> PAGE_SHIFT)[(vmf.address >> PAGE_SHIFT) & 511]
        return vmf.pte

    cdef int do_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_fault(): a VMA whose vm_ops have no ->fault gets SIGBUS; else do_read_fault,
        do_cow_fault (private write) or do_shared_fault."""
        if vma.vm_ops != NULL and vma.vm_ops.fault == NULL:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if not (vmf.flags & FAULT_FLAG_WRITE):
            return self.do_read_fault(mm, vma, vmf)
        if not (vma.vm_flags & C_VM_SHARED):
            return self.do_cow_fault(mm, vma, vmf)
        return self.do_shared_fault(mm, vma, vmf)

    cdef bint should_fault_around(self, VmArea vma) noexcept:
        """should_fault_around(): the VMA maps pages around (its vm_ops->map_pages, or for a
        file VMA without vm_ops its mapping's a_ops map_pages: generic_file_vm_ops'
        filemap_map_pages), fault_around_bytes covers more than one page, and userfaultfd does
        not track minor faults (v5.14) or minor faults and write-protection (v6.x,
        uffd_disable_fault_around) on it."""
        if vma.vm_ops != NULL:
            if vma.vm_ops.map_pages == NULL:
                return False
        elif vma.vm_file is None or vma.vm_file.a_ops == NULL or vma.vm_file.a_ops.map_pages == NULL:
            return False
        if vma.vm_flags & C_VM_UFFD_MINOR:
            return False
        if self.pte_markers and (vma.vm_flags & C_VM_UFFD_WP):
            return False
        return (self.fault_around_bytes >> PAGE_SHIFT) > 1

    cdef int do_fault_around(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_fault_around(): ask ->map_pages to map the cached pages of the fault_around_bytes
        window around the address: from max(ALIGN_DOWN(pte index, nr_pages), the VMA's start),
        at most nr_pages, never past the page table's end or the VMA's."""
        cdef uint64_t nr_pages = self.fault_around_bytes >> PAGE_SHIFT
        cdef uint64_t pte_off = (vmf.address >> PAGE_SHIFT) & 511
        cdef uint64_t vma_off = vmf.pgoff - vma.vm_pgoff
        cdef uint64_t from_pte, to_pte, vma_pages = (vma.vm_end - vma.vm_start) >> PAGE_SHIFT
        cdef int ret
        from_pte = max((pte_off // nr_pages) * nr_pages, pte_off - min(pte_off, vma_off))
        to_pte = min(min(from_pte + nr_pages, <uint64_t>PTRS_PER_TABLE), pte_off + vma_pages - vma_off) - 1
        if self.pte_alloc(mm, vmf) == NULL:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if vma.vm_ops != NULL:
            return vma.vm_ops.map_pages(vma.vm_ops.ctx, mm, vma, vmf,
                                        vmf.pgoff + from_pte - pte_off, vmf.pgoff + to_pte - pte_off)
        return vma.vm_file.a_ops.map_pages(vma.vm_file.a_ops.ctx, mm, vma, vmf,
                                           vmf.pgoff + from_pte - pte_off, vmf.pgoff + to_pte - pte_off)

    cdef int do_fault_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_fault_page(): the PTE table first (prealloc_pte), then ->fault (a file VMA without
        vm_ops: filemap_fault, through its mapping's a_ops) puts the page in vmf.page."""
        if self.pte_alloc(mm, vmf) == NULL:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if vma.vm_ops != NULL:
            return vma.vm_ops.fault(vma.vm_ops.ctx, mm, vma, vmf)
        return self.filemap_fault(mm, vma, vmf)

    cdef int do_read_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_read_fault(): fault-around first, then ->fault and finish_fault."""
        cdef int ret
        if self.should_fault_around(vma):
            ret = self.do_fault_around(mm, vma, vmf)
            if ret:
                return ret
        ret = self.do_fault_page(mm, vma, vmf)
        if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
            return ret
        ret |= self.finish_fault(mm, vma, vmf)
        if not (ret & VM_FAULT_ERROR):
            self.fault_counts[FK_FILE_READ] += 1
        return ret

    cdef int do_cow_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_cow_fault(): anon_vma_prepare, the private page (allocated and charged first),
        ->fault for the file page, copy, finish_fault maps the copy."""
        cdef int ret
        cdef pfn_t new
        self.anon_vma_prepare(vma)
        new = self.alloc_user_page(self.gfp_user, vma, vmf.address)
        if new == NO_PFN:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if self.charge(new, mm, self.gfp_user) != 0:
            self.pm.put_page(new)
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        vmf.cow_page = new
        ret = self.do_fault_page(mm, vma, vmf)
        if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
            self.pm.put_page(new)
            vmf.cow_page = NO_PFN
            return ret
        self.pm.copy_content(new, vmf.page)
        ret |= self.finish_fault(mm, vma, vmf)
        if not (ret & VM_FAULT_ERROR):
            self.fault_counts[FK_FILE_COW] += 1
        return ret

    cdef int do_shared_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_shared_fault(): ->fault, ->page_mkwrite, finish_fault with a writable entry."""
        cdef int ret, tmp
        ret = self.do_fault_page(mm, vma, vmf)
        if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
            return ret
        tmp = self.do_page_mkwrite(mm, vma, vmf)
        if tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
            return tmp
        ret |= self.finish_fault(mm, vma, vmf)
        if not (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)):
            self.fault_counts[FK_SHARED] += 1
            self.fault_dirty_shared_page(vma, vmf.page)
        return ret

    cdef int do_page_mkwrite(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_page_mkwrite(): the VMA's vm_ops->page_mkwrite, or for a file VMA without vm_ops
        its mapping's a_ops page_mkwrite (generic_file_vm_ops' filemap_page_mkwrite); 0 when
        there is none."""
        cdef AddressSpace mapping
        if vma.vm_ops != NULL:
            if vma.vm_ops.page_mkwrite != NULL:
                return vma.vm_ops.page_mkwrite(vma.vm_ops.ctx, mm, vma, vmf)
            return 0
        mapping = vma.vm_file
        if mapping is not None and mapping.a_ops != NULL and mapping.a_ops.page_mkwrite != NULL:
            return mapping.a_ops.page_mkwrite(mapping.a_ops.ctx, mm, vma, vmf)
        return 0

    cdef int fault_dirty_shared_page(self, VmArea vma, pfn_t pfn) except -1:
        """fault_dirty_shared_page(): a write fault made a shared file page writable, so it is
        dirty now: folio_mark_dirty() -> the mapping's a_ops dirty_folio, or set_page_dirty
        (a regular file's page is accounted in NR_FILE_DIRTY, a shmem page only flagged).
        balance_dirty_pages_ratelimited() is not modelled: memsim has no dirty throttling."""
        cdef AddressSpace mapping = vma.vm_file
        if self.pm.mem_map[pfn].mapping and not (self.pm.mem_map[pfn].mapping & PAGE_MAPPING_ANON):
            if mapping is not None and mapping.a_ops != NULL and mapping.a_ops.dirty_folio != NULL:
                mapping.a_ops.dirty_folio(mapping.a_ops.ctx, mapping, pfn)
            else:
                self.set_page_dirty(pfn)
        return 0

    cdef int finish_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """finish_fault(): map vmf.cow_page (a private write) or vmf.page."""
        cdef pfn_t pfn = vmf.cow_page if (vmf.flags & FAULT_FLAG_WRITE) and not (vma.vm_flags & C_VM_SHARED) else vmf.page
        if pfn == NO_PFN:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if vmf.pte[0] != 0 and pte_present(vmf.pte[0]):
            return VM_FAULT_NOPAGE       # someone mapped it meanwhile
        self.do_set_pte(mm, vma, vmf.address, vmf.pte, pfn, (vmf.flags & FAULT_FLAG_WRITE) != 0, False)
        if self.orig_pte_uffd_wp(vmf):
            vmf.pte[0] = (vmf.pte[0] | _PAGE_UFFD_WP) & ~(<uint64_t>_PAGE_RW)
        return 0

    cdef int do_set_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, pfn_t pfn,
                        bint write, bint prefault) except -1:
        """do_set_pte(): map page ``pfn`` at ``addr`` — a private write maps it as a new
        anonymous page (page_add_new_anon_rmap), anything else as a file page
        (page_add_file_rmap, a reference for the PTE); the rss counter by the page's kind."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t entry = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER
        cdef bint shared = (vma.vm_flags & C_VM_SHARED) != 0
        if not prefault:
            entry |= _PAGE_ACCESSED
        if write and not shared:
            mm.add_mm_counter_fast(MM_ANONPAGES, 1)
            self.page_add_new_anon_rmap(pfn, vma, addr)
            self.pm.lru_cache_add_inactive_or_unevictable(pfn, vma_mlocked_new_page(vma))
            entry |= _PAGE_RW | _PAGE_DIRTY
        else:
            compound_head_page(self.pm, pfn)._refcount += 1
            page_add_file_rmap(self.pm, pfn)
            mm.add_mm_counter_fast(mm_counter(compound_head_page(self.pm, pfn)), 1)
            if self.pm.mlock_fbatch_enabled and vma.vm_flags & C_VM_LOCKED \
                    and not (p.flags & ((1ULL << PG_head) | (1ULL << PG_tail))):
                self.mlock_vma_folio(vma, pfn)      # v6.18 __folio_add_file_rmap()
            if write:
                entry |= _PAGE_RW | _PAGE_DIRTY
            elif shared and (vma.vm_flags & C_VM_WRITE) and vma.vm_file is not None and \
                    vma.vm_file.swapbacked and vma.vm_ops == NULL:
                entry |= _PAGE_RW       # shmem is not dirty-accounted: mapped writable at once
        pte[0] = entry
        return 0

    def map_page(self, MmStruct mm, VmArea vma, uint64_t addr, pfn_t pfn, bint write=False,
                 bint prefault=True):
        """do_set_pte() for a plugin (->map_pages, UFFDIO_CONTINUE, ...): map ``pfn`` at the
        empty PTE of ``addr`` (tables allocated as needed).  Returns 0, VM_FAULT_OOM, or
        VM_FAULT_NOPAGE when something is mapped there already."""
        cdef int err = 0
        cdef uint64_t* pte = self.pgt.walk(mm, addr, True, &err)
        if pte == NULL:
            return VM_FAULT_OOM
        if err:
            return VM_FAULT_NOPAGE
        if pte[0] != 0 and pte_present(pte[0]):
            return VM_FAULT_NOPAGE
        self.do_set_pte(mm, vma, addr & PAGE_MASK, pte, pfn, write, prefault)
        return 0

    cdef int install_anon_page(self, MmStruct mm, VmArea vma, uint64_t addr, pfn_t pfn,
                               bint writable) except -1:
        """mfill_atomic_install_pte() of a new anonymous page (UFFDIO_COPY, swap-in): the
        anon_vma, page_add_new_anon_rmap, MM_ANONPAGES; VM_FAULT_NOPAGE if the PTE is not none,
        VM_FAULT_OOM if a table could not be allocated.  The page's reference becomes the PTE's."""
        cdef int err = 0
        cdef uint64_t* pte = self.pgt.walk(mm, addr, True, &err)
        cdef uint64_t entry
        if pte == NULL:
            return VM_FAULT_OOM
        if err or (pte[0] != 0 and pte_present(pte[0])):
            return VM_FAULT_NOPAGE
        self.anon_vma_prepare(vma)
        mm.add_mm_counter_fast(MM_ANONPAGES, 1)
        self.page_add_new_anon_rmap(pfn, vma, addr & PAGE_MASK)
        self.pm.lru_cache_add_inactive_or_unevictable(pfn, vma_mlocked_new_page(vma))
        entry = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY
        if writable and (vma.vm_flags & C_VM_WRITE):
            entry |= _PAGE_RW
        pte[0] = entry
        return 0

    def map_anon_page(self, MmStruct mm, VmArea vma, uint64_t addr, pfn_t pfn, bint writable=True):
        """install_anon_page() from Python: 0, VM_FAULT_NOPAGE (already mapped) or VM_FAULT_OOM."""
        return self.install_anon_page(mm, vma, addr, pfn, writable)

    def map_zero_page(self, MmStruct mm, VmArea vma, uint64_t addr):
        """mfill_zeropage_pte(): the shared zero page at addr (UFFDIO_ZEROPAGE); 0,
        VM_FAULT_NOPAGE or VM_FAULT_OOM."""
        cdef int err = 0
        cdef uint64_t* pte = self.pgt.walk(mm, addr, True, &err)
        if pte == NULL:
            return VM_FAULT_OOM
        if err or (pte[0] != 0 and pte_present(pte[0])):
            return VM_FAULT_NOPAGE
        pte[0] = (self.zero_pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_SPECIAL | _PAGE_ACCESSED
        return 0

    cdef int filemap_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """The ->fault of a file VMA without vm_ops: filemap_fault() for regular files (a page
        not in the cache is read in: a major fault) and shmem_fault() -> shmem_getpage_gfp()
        for shmem, whose userfaultfd checks it makes: a cached page -- or a swap value entry, a
        page swapped out (scenario 23) -- in a VM_UFFD_MINOR VMA is a minor fault, a missing page
        (no entry at all) in a VM_UFFD_MISSING VMA a missing fault; a swapped page is read back by
        the a_ops alloc (shmem_swapin_page, a major fault).  Beyond i_size:
        SIGBUS.  A regular file's fault inside i_size fires filemap:mm_filemap_fault before the
        lookup, as 6.18's filemap_fault() does (shmem_fault() has no such event).  The page is
        found and read in through the mapping's address_space_operations (lookup, alloc: the
        page-cache plugin's filesystems); an alloc that failed with a negative errno in *major
        (shmem's -ENOSPC, -EIO without a_ops) is SIGBUS (vmf_error()), else OOM."""
        cdef AddressSpace mapping = vma.vm_file
        cdef uint64_t index = vmf.pgoff
        cdef pfn_t pfn
        cdef int major = 0
        cdef int64_t e
        cdef bint swapped
        if mapping is None:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if index >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if self.tb.core[EV_MM_FILEMAP_FAULT].enabled and not mapping.swapbacked:
            self.trace_filemap_fault(mapping, index)    # filemap_fault(), not shmem_fault()
        pfn = self.page_cache_lookup(mapping, index)
        if mapping.swapbacked:
            # pagecache_get_page(FGP_ENTRY): a swap value entry counts as present (a swapped-out
            # page is a minor fault's, and is not missing: shmem_swapin_page reads it back)
            swapped = pfn == NO_PFN and mapping.i_pages.load(index, &e) and xa_is_value(e)
            if (pfn != NO_PFN or swapped) and (vma.vm_flags & C_VM_UFFD_MINOR):
                return self.userfault(mm, vma, vmf, C_VM_UFFD_MINOR)
            if pfn == NO_PFN and not swapped and (vma.vm_flags & C_VM_UFFD_MISSING):
                return self.userfault(mm, vma, vmf, C_VM_UFFD_MISSING)
        if pfn == NO_PFN:
            pfn = self.page_cache_alloc(mapping, index, mm, vma, vmf.address, &major)
            if pfn == NO_PFN:
                if major < 0:               # vmf_error(): an errno other than -ENOMEM (-ENOSPC)
                    self.fault_counts[FK_SIGBUS] += 1
                    return VM_FAULT_SIGBUS
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
        vmf.page = pfn
        if major:
            count_vm_event(self.pm.vs, PGMAJFAULT)
            if self.pm.memcg.count_event_mm != NULL:
                self.pm.memcg.count_event_mm(self.pm.memcg.ctx, mm, PGMAJFAULT, 1)
            self.fault_counts[FK_MAJOR] += 1
            return VM_FAULT_MAJOR
        return 0

    cdef pfn_t page_cache_lookup(self, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
        """find_get_page() through the mapping's a_ops, or of ``i_pages`` (a_ops NULL)."""
        cdef int64_t e
        if mapping.a_ops != NULL:
            return mapping.a_ops.lookup(mapping.a_ops.ctx, mapping, index)
        if not mapping.i_pages.load(index, &e):
            return NO_PFN
        return NO_PFN if xa_is_value(e) else <pfn_t>e     # a shadow reads as no page

    cdef pfn_t page_cache_alloc(self, AddressSpace mapping, uint64_t index, MmStruct mm,
                                VmArea vma, uint64_t addr, int* major) except? 0xfffffffffffffffe:
        """A page-cache miss of the fault path: the mapping's a_ops alloc (filemap_fault()'s
        readahead or __filemap_get_folio(FGP_CREAT) and ->read_folio, shmem_get_folio()...),
        which sets *major for a page read in and returns NO_PFN when memory ran out (or with a
        negative errno in *major).  A mapping without a_ops (empty_aops) cannot read a page:
        -EIO, SIGBUS."""
        if mapping.a_ops == NULL or mapping.a_ops.alloc == NULL:
            major[0] = -5                   # -EIO
            return NO_PFN
        return mapping.a_ops.alloc(mapping.a_ops.ctx, mapping, index, self.gfp_user, mm, major)

    cdef int add_to_page_cache_locked(self, pfn_t pfn, AddressSpace mapping, uint64_t index,
                                      uint64_t* shadow) except? -1000000:
        """__add_to_page_cache_locked() (v6.18 __filemap_add_folio) into ``i_pages``,
        without the memcg charge: -EEXIST when a page already sits at ``index`` (nothing
        changes: the caller looks up again); else page->mapping / ->index and NR_FILE_PAGES
        (_add_to_page_cache), the store, nrpages + 1, and 0 with *shadow the value entry the page
        replaced (0: none).  The fault path (``page_cache_alloc``) stores directly: it has just
        looked the index up.  A large folio (a compound page of a mapping with large folio
        support: filemap_add_folio of readahead's ra_alloc_folio) takes its whole aligned range
        as one multi-index entry (page_cache_store_folio); -EEXIST if any page is cached in it
        (xas_for_each_conflict), and the shadow it returns is the last one it replaced."""
        cdef int64_t e
        cdef uint64_t i, nr
        cdef page* p = &self.pm.mem_map[pfn]
        if p.flags & (1ULL << PG_head) and p.compound_order and not mapping.swapbacked:
            nr = 1ULL << p.compound_order
            for i in range(index, index + nr):
                if mapping.i_pages.load(i, &e) and not xa_is_value(e):
                    return -17              # -EEXIST
            self._add_to_page_cache(pfn, mapping, index)
            shadow[0] = self.page_cache_store_folio(mapping, index, pfn, p.compound_order)
            return 0
        if mapping.i_pages.load(index, &e) and not xa_is_value(e):
            return -17                      # -EEXIST
        self._add_to_page_cache(pfn, mapping, index)
        shadow[0] = self.page_cache_store(mapping, index, pfn)
        return 0

    def add_to_page_cache_locked_py(self, pfn_t pfn, AddressSpace mapping, uint64_t index):
        """add_to_page_cache_locked() from Python (tests): ``(0, shadow)`` or ``(-EEXIST, 0)``."""
        cdef uint64_t shadow = 0
        cdef int err = self.add_to_page_cache_locked(pfn, mapping, index, &shadow)
        return err, shadow

    cdef uint64_t page_cache_store(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except? 0xffffffffffffffff:
        """The i_pages part of __add_to_page_cache_locked() / __filemap_add_folio(): store
        ``pfn`` at ``index`` of ``i_pages``, loading the old entry in the same walk
        (xas_load, xas_store); returns the shadow entry it replaced (0: the slot was empty).
        nrpages + 1 for a new page; a shadow replaced was counted in nrexceptional (- 1) only
        before v5.13 (``keep_nrexceptional``).  The xa_node counts follow
        (workingset_update_node).  A new page of a regular file (not shmem: its
        shmem_add_to_page_cache has no tracepoint) fires filemap:mm_filemap_add_to_page_cache
        last, as the kernel does once i_pages is unlocked; a page replacing a page (migration)
        fires nothing."""
        cdef int64_t e
        cdef uint64_t leaf = index >> XA_CHUNK_SHIFT
        cdef uint16_t st
        if not mapping.i_pages.exchange(index, pfn, &e):
            mapping.nrpages += 1
            if leaf < mapping.xa_nr_leaves:
                st = mapping.xa_leaf[leaf]
                if st and (st >> 8) == 0:       # a node without shadows: no list change
                    mapping.xa_leaf[leaf] = st + 1
                    if self.tb.core[EV_MM_FILEMAP_ADD_TO_PAGE_CACHE].enabled and not mapping.swapbacked:
                        self.trace_filemap_page(EV_MM_FILEMAP_ADD_TO_PAGE_CACHE, mapping, pfn, index)
                    return 0
            self.xa_node_account(mapping, index, 1, 0, page_to_nid(&self.pm.mem_map[pfn]))
            if self.tb.core[EV_MM_FILEMAP_ADD_TO_PAGE_CACHE].enabled and not mapping.swapbacked:
                self.trace_filemap_page(EV_MM_FILEMAP_ADD_TO_PAGE_CACHE, mapping, pfn, index)
            return 0
        if not xa_is_value(e):
            return 0                        # a page replaced (migration): the counts stay
        mapping.nrpages += 1
        if mapping.keep_nrexceptional:
            mapping.nrexceptional -= 1
        self.xa_node_account(mapping, index, 0, -1, page_to_nid(&self.pm.mem_map[pfn]))
        if self.tb.core[EV_MM_FILEMAP_ADD_TO_PAGE_CACHE].enabled and not mapping.swapbacked:
            self.trace_filemap_page(EV_MM_FILEMAP_ADD_TO_PAGE_CACHE, mapping, pfn, index)
        return entry_to_shadow(e)

    cdef uint64_t page_cache_store_folio(self, AddressSpace mapping, uint64_t index, pfn_t pfn,
                                         unsigned int order) except? 0xffffffffffffffff:
        """__filemap_add_folio() of a large folio: ``pfn`` (its head) over the 2^order slots from
        ``index`` as one multi-index entry (xas_set_order, xas_store: each slot loads head +
        offset), replacing the shadows there (the caller checked that no page is); nrpages + nr;
        each slot's xa_node counts follow (a shadow replaced: one value less; an empty slot:
        one entry more).  One filemap:mm_filemap_add_to_page_cache for the folio, with its
        order.  Returns the last shadow replaced (0: none)."""
        cdef uint64_t nr = 1ULL << order, i, shadow = 0, leaf
        cdef int64_t e
        cdef int nid = page_to_nid(&self.pm.mem_map[pfn])
        cdef XArray xa = mapping.i_pages
        cdef int added = 0, values = 0
        leaf = index >> XA_CHUNK_SHIFT
        for i in range(index, index + nr):  # the slots' xa_node counts, a leaf at a time
            if (i >> XA_CHUNK_SHIFT) != leaf:
                self.xa_node_account(mapping, leaf << XA_CHUNK_SHIFT, added, -values, nid)
                leaf = i >> XA_CHUNK_SHIFT
                added = values = 0
            if xa.load(i, &e):
                shadow = entry_to_shadow(e)
                if mapping.keep_nrexceptional:
                    mapping.nrexceptional -= 1
                values += 1
            else:
                added += 1
        self.xa_node_account(mapping, leaf << XA_CHUNK_SHIFT, added, -values, nid)
        xa.store_order(index, order, <int64_t>pfn)
        mapping.nrpages += nr
        if self.tb.core[EV_MM_FILEMAP_ADD_TO_PAGE_CACHE].enabled and not mapping.swapbacked:
            self.trace_filemap_page(EV_MM_FILEMAP_ADD_TO_PAGE_CACHE, mapping, pfn, index)
        return shadow

    cdef int trace_filemap_page(self, int ev, AddressSpace mapping, pfn_t pfn,
                                uint64_t index) except -1:
        """trace_mm_filemap_add_to_page_cache() / trace_mm_filemap_delete_from_page_cache()
        (event class mm_filemap_op_page_cache): the page (v5.14's print derives it from the
        pfn), its pfn, the host inode's number, the index, the superblock's s_dev (MKDEV:
        major << 20 | minor) and the folio's order (v6.18).  The caller tests the slot's
        ``enabled`` first."""
        cdef uint64_t vals[6]
        cdef page* p = &self.pm.mem_map[pfn]
        vals[0] = VMEMMAP_BASE + pfn * sizeof(page)
        vals[1] = pfn
        vals[2] = mapping.i_ino
        vals[3] = index
        vals[4] = mapping.s_dev
        vals[5] = p.compound_order if p.flags & (1ULL << PG_head) else 0
        return self.tb.emit(ev, self.cur.cpu, self.cur.pid, vals, NULL, 0)

    cdef int trace_filemap_fault(self, AddressSpace mapping, uint64_t index) except -1:
        """trace_mm_filemap_fault(mapping, index) (v6.12+)."""
        cdef uint64_t vals[3]
        vals[0] = mapping.i_ino
        vals[1] = index
        vals[2] = mapping.s_dev
        return self.tb.emit(EV_MM_FILEMAP_FAULT, self.cur.cpu, self.cur.pid, vals, NULL, 0)

    cdef int page_cache_delete(self, AddressSpace mapping, uint64_t index, uint64_t shadow) except -1:
        """The i_pages part of page_cache_delete() / __clear_shadow_entry(): the entry at
        ``index`` leaves ``i_pages``, replaced by ``shadow`` (xas_store(&xas,
        shadow)) or by nothing (0); a multi-index entry there leaves whole, every index it
        covered.  A page leaving takes nrpages - 1; before v5.13
        (``keep_nrexceptional``) a shadow stored adds 1 to nrexceptional and one cleared takes
        1 away."""
        cdef int nid = 0
        cdef int64_t e
        cdef bint was_value
        cdef uint64_t first, i
        cdef unsigned int order
        if mapping.i_pages.nr_multi:        # xas_store() over a multi-index entry clears it all
            order = mapping.i_pages.get_order(index, &first)
            if order:
                mapping.i_pages.split(first)
                for i in range(first, first + (1ULL << order)):
                    self.page_cache_delete(mapping, i, shadow if i == index else 0)
                return 0
        if not mapping.i_pages.load(index, &e):
            return 0
        was_value = xa_is_value(e)
        if not was_value:
            nid = page_to_nid(&self.pm.mem_map[<pfn_t>e])
            mapping.nrpages -= 1
        elif mapping.keep_nrexceptional:
            mapping.nrexceptional -= 1
        if shadow:
            mapping.i_pages.store(index, shadow_to_entry(shadow))
            if mapping.keep_nrexceptional:
                mapping.nrexceptional += 1
            if was_value:
                self.xa_node_account(mapping, index, 0, -1, nid)
            return self.xa_node_account(mapping, index, 0, 1, nid)
        mapping.i_pages.erase(index)
        return self.xa_node_account(mapping, index, -1, -1 if was_value else 0, nid)

    cdef int xa_node_account(self, AddressSpace mapping, uint64_t index, int dcount, int dvalues,
                             int nid) except -1:
        """xa_node->count / ->nr_values of the 64-slot leaf holding ``index``, then
        workingset_update_node() when the node starts or stops holding only shadows (the
        kernel does so for mappings that are neither shmem nor DAX: mapping_set_update).  An
        emptied node is freed.  A mapping whose only entry is index 0 keeps it in the xarray's
        head in the kernel (no node); memsim counts a node for it too."""
        cdef uint64_t leaf = index >> XA_CHUNK_SHIFT
        cdef bint in_array = leaf < mapping.xa_nr_leaves
        cdef uint32_t st = mapping.xa_leaf[leaf] if in_array else mapping.xa_leaf_state(leaf)
        cdef int64_t count = st & 0xff, values = st >> 8
        cdef bint was = count > 0 and count == values, now
        count += dcount
        values += dvalues
        now = count > 0 and count == values
        st = <uint32_t>(count | (values << 8)) if count > 0 else 0
        if in_array:
            mapping.xa_leaf[leaf] = <uint16_t>st
        else:
            mapping.xa_set_leaf_state(leaf, st)
        if was != now and not mapping.swapbacked:
            self.workingset.workingset_update_node(mapping, leaf, now, nid)
        return 0

    cdef int page_cache_delete_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn,
                                    uint64_t shadow) except -1:
        """page_cache_delete() of the page ``pfn`` the caller found at ``index``: replaced by
        ``shadow`` (nrexceptional + 1 before v5.13), or by nothing (0); nrpages - 1.  Fires
        filemap:mm_filemap_delete_from_page_cache first, as __delete_from_page_cache() /
        __filemap_remove_folio() and delete_from_page_cache_batch() do before they undo the
        accounting: the caller takes NR_FILE_PAGES (NR_SHMEM) down after this returns.  Every
        path that takes a page out of i_pages comes through here (reclaim, truncate,
        invalidate, a plugin's a_ops delete_from_page_cache); the swap cache does not."""
        cdef int nid = page_to_nid(&self.pm.mem_map[pfn])
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t i, nr, n
        if self.tb.core[EV_MM_FILEMAP_DELETE_FROM_PAGE_CACHE].enabled:
            self.trace_filemap_page(EV_MM_FILEMAP_DELETE_FROM_PAGE_CACHE, mapping, pfn, index)
        if p.flags & (1ULL << PG_head) and p.compound_order and mapping.i_pages.nr_multi:
            # a large folio: its whole range, the shadow stored over it as one multi-index
            # entry (__filemap_remove_folio -> page_cache_delete: xas_set_order, xas_store)
            nr = 1ULL << p.compound_order
            mapping.nrpages -= nr
            if shadow:
                mapping.i_pages.store_order(index, p.compound_order, shadow_to_entry(shadow))
                if mapping.keep_nrexceptional:
                    mapping.nrexceptional += nr
            else:
                mapping.i_pages.erase_order(index, p.compound_order)
            i = index                       # the xa_node counts, a 64-slot leaf at a time
            while i < index + nr:
                n = (1ULL << XA_CHUNK_SHIFT) if nr > (1ULL << XA_CHUNK_SHIFT) else nr
                if shadow:
                    self.xa_node_account(mapping, i, 0, <int>n, nid)
                else:
                    self.xa_node_account(mapping, i, -<int>n, 0, nid)
                i += n
            return 0
        mapping.nrpages -= 1
        if shadow:
            mapping.i_pages.store(index, shadow_to_entry(shadow))
            if mapping.keep_nrexceptional:
                mapping.nrexceptional += 1
            return self.xa_node_account(mapping, index, 0, 1, nid)
        mapping.i_pages.erase(index)
        return self.xa_node_account(mapping, index, -1, 0, nid)

    def page_cache_plant_value(self, AddressSpace mapping, uint64_t index, unsigned int order,
                               uint64_t shadow):
        """Test-only: a value entry ``shadow`` (an xa_value word) of order ``order`` at
        ``index`` (aligned), in empty slots, with the node counts (and nrexceptional, per slot,
        before v5.13) as if reclaim had left it: what a THP's shadow range or a DAX PMD entry
        would be (pagecache.md 2.3; scenario 22)."""
        cdef uint64_t i, n = 1ULL << order
        cdef int64_t e
        if index & (n - 1):
            raise ValueError(f"index {index} is not aligned to order {order}")
        for i in range(index, index + n):
            if mapping.i_pages.load(i, &e):
                raise ValueError(f"index {i} is not empty")
        mapping.i_pages.store_order(index, order, shadow_to_entry(shadow))
        for i in range(index, index + n):
            self.xa_node_account(mapping, i, 1, 1, 0)
        if mapping.keep_nrexceptional:
            mapping.nrexceptional += n

    def page_cache_delete_page_py(self, AddressSpace mapping, uint64_t index, pfn_t pfn,
                                  uint64_t shadow=0):
        """page_cache_delete_page() from Python (tests): the i_pages part only -- the caller
        undoes NR_FILE_PAGES, page->mapping and the cache's reference."""
        self.page_cache_delete_page(mapping, index, pfn, shadow)

    def truncate_inode_pages_range(self, AddressSpace mapping, uint64_t lstart,
                                   uint64_t lend=0xffffffffffffffff):
        """truncate_inode_pages_range(mapping, lstart, lend): byte offsets, ``lend`` inclusive,
        -1 (the default) for the end of the file.  Every page wholly inside [lstart, lend]
        leaves the cache (truncate_inode_folio) and every value entry in that index range goes
        (truncate_exceptional_pvec_entries; not shmem's: its swap entries are shmem's own); then
        the page holding ``lstart`` and the one holding ``lend``, when only partly inside, keep
        their bytes outside the range and have those inside zeroed (truncate_inode_partial_folio
        -> folio_zero_range; a page wholly inside after all goes like the others).  Nothing to do
        when the mapping is empty (mapping_empty; before v5.13 nrpages and nrexceptional).  The
        same for every mapping, a plugin's (a_ops) too: its pages are in i_pages.  One C loop
        over XArray.find (xa_find), in index order; no Python call per page.  Returns the pages
        removed.

        What a filesystem calls: ``truncate_pagecache`` / ``truncate_setsize`` (ftruncate),
        ``truncate_pagecache_range`` (FALLOC_FL_PUNCH_HOLE), ``truncate_inode_pages_final``
        (evict).  The filesystem's own blocks (a backing store) are its business."""
        cdef bint to_eof = lend == 0xffffffffffffffff, same
        cdef uint64_t start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT, removed = 0, index, first
        cdef page* hp
        cdef uint64_t end = 0                   # exclusive, unless to_eof
        cdef int64_t e
        if not to_eof:
            end = (lend + 1) >> PAGE_SHIFT
        if mapping_truncated(mapping):      # mapping_empty() (v5.13+): nothing to do
            return 0
        if to_eof:
            removed = self.truncate_index_range(mapping, start, 0xffffffffffffffff)
        elif start < end:
            removed = self.truncate_index_range(mapping, start, end - 1)
        # the partial pages at either end (truncate_inode_partial_folio)
        index = lstart >> PAGE_SHIFT
        same = not to_eof and index == (lend >> PAGE_SHIFT)
        if mapping.i_pages.load(index, &e) and not xa_is_value(e):
            hp = compound_head_page(self.pm, <pfn_t>e)
            if hp != &self.pm.mem_map[<pfn_t>e] or hp.flags & (1ULL << PG_head):
                first = hp.index            # a large folio: handled once, from its head
                same = same or to_eof or (lend >> PAGE_SHIFT) < first + folio_nr(hp)
                index = first
                e -= <int64_t>((lstart >> PAGE_SHIFT) - first)
            removed += self.truncate_inode_partial_folio(mapping, index, <pfn_t>e, lstart, lend)
        if not same and not to_eof:
            index = lend >> PAGE_SHIFT
            if mapping.i_pages.load(index, &e) and not xa_is_value(e):
                hp = compound_head_page(self.pm, <pfn_t>e)
                if hp != &self.pm.mem_map[<pfn_t>e]:
                    e -= <int64_t>(index - hp.index)
                    index = hp.index
                removed += self.truncate_inode_partial_folio(mapping, index, <pfn_t>e, lstart, lend)
        return removed

    cdef uint64_t truncate_index_range(self, AddressSpace mapping, uint64_t start,
                                       uint64_t last) except? 0xffffffffffffffff:
        """The loop of truncate_inode_pages_range() over the indices [start, last] it truncates
        wholly (find_lock_entries, truncate_exceptional_pvec_entries, truncate_inode_folio per
        page); returns the pages removed."""
        cdef int64_t e
        cdef uint64_t removed = 0, index = start, nr
        cdef XArray i_pages = mapping.i_pages
        cdef bint shmem = mapping.swapbacked
        cdef page* hp
        cdef pfn_t head
        if start > last:
            return 0
        while i_pages.find(index, last, &index, &e):     # find_lock_entries(): xas_find
            if xa_is_value(e):
                if not shmem:                   # shmem_mapping(): left to shmem (swap entries)
                    self.page_cache_delete(mapping, index, 0)
            elif self.pm.mem_map[<pfn_t>e].flags & ((1ULL << PG_head) | (1ULL << PG_tail)) \
                    and not shmem:
                # a large folio: whole when wholly inside [start, last] (find_lock_entries
                # skips one partly outside: truncate_inode_partial_folio's)
                hp = compound_head_page(self.pm, <pfn_t>e)
                head = <pfn_t>e - (index - hp.index)
                nr = folio_nr(hp)
                if hp.index >= start and hp.index + nr - 1 <= last:
                    self.truncate_inode_folio(mapping, hp.index, head)
                    removed += nr
                index = hp.index + nr - 1
                if index >= last:
                    break
            else:
                self.truncate_inode_folio(mapping, index, <pfn_t>e)
                removed += 1
            if index == last:
                break
            index += 1
        return removed

    cdef int truncate_inode_folio(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1:
        """truncate_inode_folio(): truncate_cleanup_folio() -- a page still mapped is unmapped
        (unmap_mapping_folio), a dirty one cancelled (folio_cancel_dirty: account_page_cleaned)
        -- then filemap_remove_folio(): the delete event, NR_FILE_PAGES (NR_SHMEM) and
        page->mapping; the cache's reference is dropped (the batch's release)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p)
        if (nr == 1 and p._mapcount > 0) or (nr > 1 and folio_mapped(self.pm, pfn)):
            self.unmap_mapping_range(mapping, index, nr, False)
        if p.flags & (1ULL << PG_dirty):
            self.clear_page_dirty_for_io(pfn)
        self.filemap_remove_page(mapping, index, pfn)
        self.pm.put_page(pfn)
        return 0

    cdef int filemap_remove_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1:
        """__filemap_remove_folio() with no shadow (truncate, invalidate): the page the caller
        found at ``index`` leaves i_pages (page_cache_delete_page: the delete event first), then
        filemap_unaccount_folio (NR_FILE_PAGES, NR_SHMEM for shmem) and page->mapping is
        cleared.  The cache's reference is the caller's to drop."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p)
        self.page_cache_delete_page(mapping, index, pfn, 0)
        __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_PAGES, -nr)
        if mapping.swapbacked:
            __mod_lruvec_page_state(self.pm.vs, p, NR_SHMEM, -nr)
        p.mapping = 0
        return 0

    cdef uint64_t truncate_inode_partial_folio(self, AddressSpace mapping, uint64_t index,
                                               pfn_t pfn, uint64_t lstart,
                                               uint64_t lend) except? 0xffffffffffffffff:
        """truncate_inode_partial_folio(folio, lstart, lend) of the folio ``pfn`` (its head)
        at ``index``: the part of the folio inside [lstart, lend] is zeroed (folio_zero_range);
        if that is the whole folio it is truncated instead.  A large folio is then split by the
        kernel (split_folio) and its pages inside the range truncated; memsim does not split a
        file folio -- the kernel's path when the split fails: a clean folio is truncated whole
        (its bytes outside the range are on the disk), a dirty one keeps its pages (zeroed in the
        range).  Returns the pages removed."""
        cdef uint64_t size = <uint64_t>folio_nr(&self.pm.mem_map[pfn]) << PAGE_SHIFT
        cdef uint64_t pos = index << PAGE_SHIFT, offset = 0, length, off, n, i
        if pos < lstart:
            offset = lstart - pos
        if lend == 0xffffffffffffffff or pos + size <= lend:
            length = size - offset
        else:
            if lend < pos + offset:
                return 0
            length = lend + 1 - pos - offset
        if length == size:
            self.truncate_inode_folio(mapping, index, pfn)
            return size >> PAGE_SHIFT
        if size == PAGE_SIZE:
            self.folio_zero_range(pfn, offset, length)
            return 0
        off = offset                        # folio_zero_range() over the folio's pages
        while off < offset + length:
            i = off >> PAGE_SHIFT
            n = PAGE_SIZE - (off & (PAGE_SIZE - 1))
            if n > offset + length - off:
                n = offset + length - off
            self.folio_zero_range(pfn + i, off & (PAGE_SIZE - 1), n)
            off += n
        if self.pm.mem_map[pfn].flags & (1ULL << PG_dirty):
            return 0                        # split_folio failed, dirty: kept
        self.truncate_inode_folio(mapping, index, pfn)
        return size >> PAGE_SHIFT

    cdef int folio_zero_range(self, pfn_t pfn, uint64_t offset, uint64_t length) except -1:
        """folio_zero_range(): zero ``length`` bytes at ``offset`` of the page (a page that was
        never written holds zeros already: no content to change)."""
        cdef bytearray frame
        if length == 0 or not self.pm.mem_map[pfn].flags & (1ULL << PG_content):
            return 0
        frame = self.pm.content.get(pfn)
        if frame is not None:
            frame[offset:offset + length] = bytes(length)
        return 0

    def truncate_inode_pages(self, AddressSpace mapping, uint64_t lstart):
        """truncate_inode_pages(mapping, lstart): truncate_inode_pages_range to the end of the
        file.  Returns the pages removed."""
        return self.truncate_inode_pages_range(mapping, lstart)

    def truncate_inode_pages_final(self, AddressSpace mapping):
        """truncate_inode_pages_final() (evict's last truncate): set AS_EXITING
        (mapping_set_exiting) so that reclaim racing with it removes pages without planting
        shadows, then truncate_inode_pages(mapping, 0): every page and shadow goes.  (The
        kernel's lock cycle when the mapping is not empty has nothing to wait for here.)
        Returns the pages removed."""
        mapping.flags |= 1UL << AS_EXITING
        return self.truncate_inode_pages_range(mapping, 0)

    def invalidate_mapping_pages(self, AddressSpace mapping, uint64_t start=0,
                                 uint64_t end=0xffffffffffffffff):
        """invalidate_mapping_pages() (drop_caches, fadvise DONTNEED): in [start, end] every
        shadow entry is cleared, and every page that only the cache holds — clean, not mapped,
        unlocked, in no per-CPU batch — leaves it without a shadow and is freed; the others are
        deactivated (memsim.truncate, mm/truncate.c).  Returns the pages removed (shadows not
        counted)."""
        from memsim.truncate import invalidate_mapping_pages
        return invalidate_mapping_pages(self, mapping, start, end)

    def invalidate_inode_pages2_range(self, AddressSpace mapping, uint64_t start=0,
                                      uint64_t end=0xffffffffffffffff):
        """invalidate_inode_pages2_range() (memsim.truncate): unmap, launder and remove every
        page in [start, end], clear the shadows; 0, or -EBUSY when a page could not go."""
        from memsim.truncate import invalidate_inode_pages2_range
        return invalidate_inode_pages2_range(self, mapping, start, end)

    def invalidate_inode_pages2(self, AddressSpace mapping):
        """invalidate_inode_pages2(mapping): invalidate_inode_pages2_range(mapping, 0, -1)."""
        return self.invalidate_inode_pages2_range(mapping, 0, 0xffffffffffffffff)

    def truncate_pagecache(self, AddressSpace mapping, uint64_t newsize):
        """truncate_pagecache(inode, newsize) (``mapping`` is inode->i_mapping): unmap the file
        from ``round_up(newsize, PAGE_SIZE)`` on from every VMA (private COW copies too), drop
        its cached pages and shadows beyond ``newsize`` and zero the tail of the page holding it
        (truncate_inode_pages), unmap again.  It does not change i_size: the filesystem has set
        it (truncate_setsize does both).  Returns the pages removed."""
        cdef uint64_t holebegin = (newsize + PAGE_SIZE - 1) >> PAGE_SHIFT
        self.unmap_mapping_range(mapping, holebegin, 0xffffffffffffffff - holebegin, True)
        removed = self.truncate_inode_pages_range(mapping, newsize)
        self.unmap_mapping_range(mapping, holebegin, 0xffffffffffffffff - holebegin, True)
        return removed

    def truncate_setsize(self, AddressSpace mapping, uint64_t newsize):
        """truncate_setsize(inode, newsize): i_size_write (the mapping's i_size, and its host
        inode's when it has one), then truncate_pagecache.  (pagecache_isize_extended, for a
        file that grows, has nothing to do without block sizes below a page.)  Returns the
        pages removed."""
        mapping.i_size = newsize
        if mapping.host is not None and hasattr(mapping.host, "i_size"):
            mapping.host.i_size = newsize
        return self.truncate_pagecache(mapping, newsize)

    def truncate_pagecache_range(self, AddressSpace mapping, uint64_t lstart, uint64_t lend):
        """truncate_pagecache_range(inode, lstart, lend): a hole punched in [lstart, lend]
        (bytes, ``lend`` inclusive; FALLOC_FL_PUNCH_HOLE, MADV_REMOVE): the whole pages of the
        hole are unmapped once from every VMA -- not the private COW copies: a hole does not
        take those away -- then truncate_inode_pages_range(lstart, lend) drops the pages and
        shadows wholly inside and zeroes the parts of the end pages inside the hole.  Returns
        the pages removed."""
        cdef uint64_t unmap_start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT     # round_up
        cdef uint64_t unmap_end                 # round_down(1 + lend), in pages, exclusive
        if lend == 0xffffffffffffffff:
            unmap_end = 0xffffffffffffffff
        else:
            unmap_end = (lend + 1) >> PAGE_SHIFT
        if unmap_end > unmap_start:
            self.unmap_mapping_range(mapping, unmap_start, unmap_end - unmap_start, False)
        return self.truncate_inode_pages_range(mapping, lstart, lend)

    def find_page_in_mapping(self, VmArea vma, uint64_t addr):
        """The page cache page behind addr of a shared/file VMA, or None when absent: with
        ``pfn_of`` it tells "in the page cache but not mapped here" from "absent" (the test
        userfaultfd minor faults need)."""
        cdef pfn_t pfn
        if vma.vm_file is None:
            return None
        pfn = self.page_cache_lookup(vma.vm_file, ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff)
        return None if pfn == NO_PFN else pfn

    # -- non-present PTEs --------------------------------------------------------------------
    cdef int do_swap_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_swap_page(): a PTE marker goes to handle_pte_marker(); a swap entry to the swap
        plugin's do_swap_page; any other non-present entry is a bad PTE (SIGBUS)."""
        cdef uint64_t entry = pte_to_swp_entry(vmf.orig_pte)
        cdef int ret
        if self.pte_markers and swp_type(entry) == self.swp_pte_marker:
            return self.handle_pte_marker(mm, vma, vmf)
        if self.swap.do_swap_page == NULL:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        ret = self.swap.do_swap_page(self.swap.ctx, mm, vma, vmf)
        if not (ret & (VM_FAULT_ERROR | VM_FAULT_RETRY)):
            self.fault_counts[FK_SWAP] += 1
            if ret & VM_FAULT_MAJOR:
                count_vm_event(self.pm.vs, PGMAJFAULT)
                if self.pm.memcg.count_event_mm != NULL:
                    self.pm.memcg.count_event_mm(self.pm.memcg.ctx, mm, PGMAJFAULT, 1)
                self.fault_counts[FK_MAJOR] += 1
        return ret

    cdef int handle_pte_marker(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """handle_pte_marker() (v6.x): a poison marker is VM_FAULT_HWPOISON; a uffd-wp marker is
        a none PTE that remembers write protection (the page mapped in its place is
        write-protected, so a write then raises the WP fault); anything else SIGBUS."""
        cdef uint64_t marker = swp_offset(pte_to_swp_entry(vmf.orig_pte))
        if marker & PTE_MARKER_POISONED:
            self.fault_counts[FK_HWPOISON] += 1
            return VM_FAULT_HWPOISON
        if marker & PTE_MARKER_UFFD_WP:
            if vma_is_anonymous(vma):
                return self.do_anonymous_page(mm, vma, vmf)
            return self.do_fault(mm, vma, vmf)
        self.fault_counts[FK_SIGBUS] += 1
        return VM_FAULT_SIGBUS

    # -- huge leaves -------------------------------------------------------------------------
    cdef int do_huge_leaf_fault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t* leaf, int level) except -1:
        """A fault on an address a PMD (level 3) or PUD (level 2) leaf maps: a read, or a write
        to a writable leaf, only marks it young (huge_pmd_set_accessed); a write to a read-only
        one is wp_huge_pmd/pud: userfaultfd write-protect, the vm_ops' huge_fault, reuse of an
        exclusively owned anonymous page, else the leaf is split (anonymous) or zapped (file)
        and the fault falls back to the PTE level (VM_FAULT_FALLBACK)."""
        cdef uint64_t e = leaf[0]
        cdef bint write = vmf.flags & FAULT_FLAG_WRITE
        cdef pfn_t head = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* hp = &self.pm.mem_map[head]
        cdef int ret
        vmf.orig_pte = e
        vmf.pmd = leaf
        if not write or (e & _PAGE_RW):
            leaf[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
            return 0
        if (vma.vm_flags & C_VM_UFFD_WP) and (e & _PAGE_UFFD_WP):
            return self.userfault(mm, vma, vmf, C_VM_UFFD_WP)
        if not (vma.vm_flags & C_VM_WRITE):
            self.fault_counts[FK_SIGSEGV] += 1
            return VM_FAULT_SIGSEGV
        if vma.vm_ops != NULL and vma.vm_ops.huge_fault != NULL:
            ret = vma.vm_ops.huge_fault(vma.vm_ops.ctx, mm, vma, vmf, PE_SIZE_PMD if level == 3 else PE_SIZE_PUD)
            if not (ret & VM_FAULT_FALLBACK):
                if not (ret & (VM_FAULT_ERROR | VM_FAULT_RETRY)):
                    self.fault_counts[FK_HUGE] += 1
                return ret
        if hp.mapping & PAGE_MAPPING_ANON:
            if hp._refcount == 1 and compound_mapcount_ptr(self.pm, head)[0] == 1:
                leaf[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED    # do_huge_pmd_wp_page reuse
                self.fault_counts[FK_REUSE] += 1
                return 0
            if level == 3:
                if self.split_huge_pmd(mm, vma, leaf, vmf.address) < 0:
                    self.fault_counts[FK_OOM] += 1
                    return VM_FAULT_OOM
                return VM_FAULT_FALLBACK
        self.zap_leaf_now(mm, vma, leaf, level)
        return VM_FAULT_FALLBACK

    cdef int zap_leaf_now(self, MmStruct mm, VmArea vma, uint64_t* leaf, int level) except -1:
        """__split_huge_pmd/pud of a file leaf: the mapping goes; the pages stay in the cache."""
        cdef MmuGather tlb = MmuGather(self, mm, False)
        self.zap_huge_leaf(tlb, mm, vma, leaf, level)
        tlb.finish()
        return 0

    cdef int split_huge_pmd(self, MmStruct mm, VmArea vma, uint64_t* pmd, uint64_t addr) except -1:
        """__split_huge_pmd_locked() of an anonymous PMD leaf: a PTE table mapping its 512
        subpages with the leaf's protection; each subpage gains a mapcount, the compound page
        loses its entire mapcount and gains a reference per extra PTE.  -1 if no table page."""
        cdef uint64_t e = pmd[0]
        cdef pfn_t head = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef pfn_t table = self.pgt.alloc_table(4)
        cdef uint64_t* ents
        cdef uint64_t flags
        cdef int i
        if table == NO_PFN:
            return -1
        self.pgt.touch(mm, table, addr, 4)
        ents = table_entries(self.pm, table)
        flags = e & (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_UFFD_WP)
        for i in range(PTRS_PER_TABLE):
            ents[i] = ((head + i) << PAGE_SHIFT) | flags
            self.pm.mem_map[head + i]._mapcount += 1    # still mapped: NR_*_MAPPED unchanged
        compound_mapcount_ptr(self.pm, head)[0] -= 1
        if compound_mapcount_ptr(self.pm, head)[0] == 0:
            __mod_lruvec_page_state(self.pm.vs, &self.pm.mem_map[head], NR_ANON_THPS, -PTRS_PER_TABLE)
        count_vm_event(self.pm.vs, THP_SPLIT_PMD)
        self.pm.mem_map[head]._refcount += PTRS_PER_TABLE - 1
        pmd[0] = (table << PAGE_SHIFT) | _PAGE_TABLE
        mm.pgtables_bytes += PAGE_SIZE
        return 0

    def page_set_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr):
        """__page_set_anon_rmap(): make a new page (a compound page's head) anonymous in
        ``vma`` at ``addr`` (its anon_vma prepared first), without mapping it."""
        cdef page* p = &self.pm.mem_map[pfn]
        self.anon_vma_prepare(vma)
        p.mapping = vma.anon_vma | PAGE_MAPPING_ANON
        p.index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        p.flags |= 1ULL << PG_swapbacked

    def map_huge_page(self, MmStruct mm, VmArea vma, uint64_t addr, pfn_t head, int level,
                      bint write=False):
        """Map the compound page ``head`` with a PMD (level 3) or PUD (level 2) leaf at
        ``addr`` (do_set_pmd / set_huge_pte_at for a plugin's huge_fault): a reference and an
        entire mapcount for the leaf, hugetlb_usage (VM_HUGETLB) or the rss counter of the
        page's kind by the number of pages.  Missing upper tables are allocated.  Returns 0,
        VM_FAULT_OOM, or VM_FAULT_NOPAGE if something is mapped there."""
        cdef int err = 0
        cdef uint64_t* slot
        cdef uint64_t size = PMD_SIZE if level == 3 else PUD_SIZE
        cdef uint64_t nr = size >> PAGE_SHIFT
        cdef page* hp = &self.pm.mem_map[head]
        cdef uint64_t entry
        if level not in (2, 3):
            raise ValueError("level must be 2 (PUD leaf) or 3 (PMD leaf)")
        if not (hp.flags & (1ULL << PG_head)) or (1ULL << hp.compound_order) != nr:
            raise ValueError(f"pfn {head:#x} is not the head of an order-{HPAGE_PMD_ORDER if level == 3 else HPAGE_PUD_ORDER} compound page")
        if addr & (size - 1):
            raise ValueError(f"address {addr:#x} is not aligned to {size:#x}")
        slot = self.pgt.walk_pud(mm, addr, True, &err) if level == 2 else self.pgt.walk_pmd(mm, addr, True, &err)
        if slot == NULL:
            return VM_FAULT_OOM
        if slot[0] != 0:
            return VM_FAULT_NOPAGE
        entry = (head << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_PSE
        if write:
            entry |= _PAGE_RW | _PAGE_DIRTY
        hp._refcount += 1
        compound_mapcount_ptr(self.pm, head)[0] += 1
        if vma.vm_flags & C_VM_HUGETLB:
            mm.hugetlb_usage += nr
        else:
            if compound_mapcount_ptr(self.pm, head)[0] == 1:
                compound_mapped_stat(self.pm, head, 1)
            mm.add_mm_counter(mm_counter(hp), nr, self.cur.task is not None and self.cur.task.mm is mm)
        slot[0] = entry
        return 0

    # -- the access loop (touch) -----------------------------------------------------------
    def access(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end, bint write,
               int pattern=0, uint64_t stride=4096, uint64_t count=0, uint64_t progress=0,
               uint64_t max_accesses=0xffffffffffffffff, uint64_t stamp=0, bint user=True):
        """Touch [start, end) of ``vma`` as the current task: one C loop, no Python per page.

        pattern 0 = sequential (every page), 1 = random (``count`` accesses), 2 = strided
        (every ``stride`` bytes).  Stops after ``max_accesses`` (a preemption point), at the
        first fault that fails or must wait, or after a fault that left current with a fatal
        signal pending (the OOM killer chose it: ``TaskStruct.sigkill_pending``) or with work for
        the return to user mode (``TaskStruct.notify_resume``).  Returns (progress, vm_fault_code, address).
        A write with ``stamp`` (not 0) gives each frame it writes that stamp (PhysMem.stamp).
        ``user`` False makes it a kernel access to user memory (copy_to_user() and
        copy_from_user() of a system call): its faults lack FAULT_FLAG_USER.
        """
        cdef uint64_t n_total, i, addr, npages
        cdef uint64_t* pte
        cdef uint64_t* pt_cache = NULL
        cdef uint64_t pt_key = 0xffffffffffffffff
        cdef uint64_t e
        cdef int err, ret
        cdef unsigned int flags = (FAULT_FLAG_WRITE if write else 0) | (FAULT_FLAG_USER if user else 0)
        cdef uint64_t done = 0
        cdef uint64_t exact = 0          # the byte accessed (vmf.real_address), before rounding
        cdef bint refault = False
        cdef int leaf = 0                # the walk found a PMD / PUD leaf (WALK_*_LEAF)
        if end <= start:
            return progress, 0, 0
        npages = (end - start + PAGE_SIZE - 1) >> PAGE_SHIFT
        if pattern == 1:
            n_total = count
        elif pattern == 2:
            n_total = (end - start + stride - 1) // stride
        else:
            n_total = npages
        # access_error(): the VMA must allow the access
        if (write and not (vma.vm_flags & C_VM_WRITE)) or (not write and not (vma.vm_flags & (C_VM_READ | C_VM_WRITE | C_VM_EXEC))):
            self.fault_counts[FK_SIGSEGV] += 1
            return progress, VM_FAULT_SIGSEGV, start
        i = progress
        addr = 0
        while i < n_total and done < max_accesses:
            if not refault:
                if pattern == 1:
                    addr = start + (xorshift64(&self.rng) % npages) * PAGE_SIZE
                elif pattern == 2:
                    addr = start + i * stride
                else:
                    addr = ((start & PAGE_MASK) + i * PAGE_SIZE) if i else start
                exact = addr
                addr &= PAGE_MASK
            if (addr >> PMD_SHIFT) == pt_key:
                pte = &pt_cache[(addr >> PAGE_SHIFT) & 511]
                leaf = 0
            else:
                err = 0
                pte = self.pgt.walk(mm, addr, False, &err)
                leaf = err
                if err == 0 and pte != NULL:
                    pt_cache = pte - ((addr >> PAGE_SHIFT) & 511)
                    pt_key = addr >> PMD_SHIFT
            if pte != NULL:
                e = pte[0]
                if (e & _PAGE_PRESENT) and (not write or (e & _PAGE_RW)):
                    pte[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
                    if stamp and write:
                        self.pm.stamp_frame(leaf_pfn(e, addr, leaf), stamp)
                    if not refault:
                        self.tb.clock.now += self.cost_access_ns
                        done += 1
                    refault = False
                    i += 1
                    continue
            ret = self.handle_mm_fault(mm, vma, exact if (exact & PAGE_MASK) == addr else addr, flags)
            if ret & (VM_FAULT_ERROR | VM_FAULT_RETRY):
                return i, ret, addr
            done += 1
            if self.cur.task is not None and (self.cur.task.sigkill_pending or self.cur.task.notify_resume):
                # the OOM killer chose current: SIGKILL is delivered on the way back to user
                # space, so the access goes no further (the caller sees sigkill_pending); or
                # the fault left work for that return (TIF_NOTIFY_RESUME: memcg's memory.high
                # penalty), which the caller runs before the access is retried
                return i, 0, addr
            if pte != NULL and err == 0:
                e = pte[0]
                if (e & _PAGE_PRESENT) and (not write or (e & _PAGE_RW)):
                    if stamp and write:
                        self.pm.stamp_frame(leaf_pfn(e, addr, 0), stamp)
                    refault = False
                    i += 1
                    continue
            else:
                pt_key = 0xffffffffffffffff     # the fault allocated or split a table
            # the access is retried, as the CPU retries the instruction: a page mapped
            # read-only for a write (a uffd-wp marker, a COW leaf split) faults again
            refault = True
        return i, 0, 0

    def fault(self, MmStruct mm, VmArea vma, uint64_t addr, bint write):
        """One access to addr (a handle_mm_fault() if it would fault); the VM_FAULT_* code."""
        r = self.access(mm, vma, addr & PAGE_MASK, (addr & PAGE_MASK) + PAGE_SIZE, write)
        return r[1]

    def pfn_of(self, MmStruct mm, uint64_t addr):
        """The pfn mapped at addr (None if not present); inside a huge leaf, the subpage."""
        cdef int err = 0
        cdef uint64_t* p = self.pgt.walk(mm, addr, False, &err)
        if p == NULL or not (p[0] & _PAGE_PRESENT):
            return None
        if err == WALK_PMD_LEAF:
            return ((p[0] & PTE_PFN_MASK) >> PAGE_SHIFT) + ((addr >> PAGE_SHIFT) & 511)
        if err == WALK_PUD_LEAF:
            return ((p[0] & PTE_PFN_MASK) >> PAGE_SHIFT) + ((addr >> PAGE_SHIFT) & ((1 << 18) - 1))
        return (p[0] & PTE_PFN_MASK) >> PAGE_SHIFT

    def set_pte(self, MmStruct mm, uint64_t addr, uint64_t value):
        """Write a raw PTE (allocating tables): no rmap, refcount or rss accounting — for swap
        PTEs, markers and tests.  Plugins map pages with map_page()."""
        cdef int err = 0
        cdef uint64_t* p = self.pgt.walk(mm, addr, True, &err)
        if p == NULL:
            return VM_FAULT_OOM
        if err:
            raise ValueError(f"{addr:#x} is mapped by a huge leaf")
        p[0] = value
        return 0

    def set_huge_pte(self, MmStruct mm, uint64_t addr, uint64_t value, int level):
        """Write a raw PMD (level 3) or PUD (level 2) leaf entry (``value`` gets _PAGE_PSE),
        allocating upper tables: no accounting.  Plugins map huge pages with map_huge_page()."""
        cdef int err = 0
        cdef uint64_t* slot
        if level not in (2, 3):
            raise ValueError("level must be 2 (PUD leaf) or 3 (PMD leaf)")
        slot = self.pgt.walk_pud(mm, addr, True, &err) if level == 2 else self.pgt.walk_pmd(mm, addr, True, &err)
        if slot == NULL:
            return VM_FAULT_OOM
        slot[0] = value | _PAGE_PSE
        return 0

    def huge_pte(self, MmStruct mm, uint64_t addr):
        """The PMD/PUD leaf entry mapping addr, or 0."""
        cdef int err = 0
        cdef uint64_t* p = self.pgt.walk(mm, addr, False, &err)
        return p[0] if (p != NULL and (err == WALK_PMD_LEAF or err == WALK_PUD_LEAF)) else 0

    def clear_huge_pte(self, MmStruct mm, uint64_t addr):
        """Clear the raw leaf mapping addr (no accounting)."""
        cdef int err = 0
        cdef uint64_t* p = self.pgt.walk(mm, addr, False, &err)
        if p != NULL and (err == WALK_PMD_LEAF or err == WALK_PUD_LEAF):
            p[0] = 0

    def change_protection(self, MmStruct mm, uint64_t start, uint64_t end, bint writable,
                          int uffd_wp=0):
        """change_protection(): present PTEs and huge leaves of [start, end) lose _PAGE_RW
        (``writable`` False; adding write leaves them read-only, the next write faults);
        ``uffd_wp`` 1 sets _PAGE_UFFD_WP and removes write (MM_CP_UFFD_WP), 2 clears it
        (MM_CP_UFFD_WP_RESOLVE).  Returns the number of entries changed."""
        cdef uint64_t addr = start, e, n = 0
        cdef uint64_t* pte
        cdef int err
        while addr < end:
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            e = pte[0]
            if e & _PAGE_PRESENT:
                if not writable or uffd_wp == 1:
                    e &= ~(<uint64_t>_PAGE_RW)
                if uffd_wp == 1:
                    e |= _PAGE_UFFD_WP
                elif uffd_wp == 2:
                    e &= ~(<uint64_t>_PAGE_UFFD_WP)
                if e != pte[0]:
                    pte[0] = e
                    n += 1
            elif e != 0 and uffd_wp:
                if uffd_wp == 1:
                    pte[0] = e | _PAGE_SWP_UFFD_WP
                else:
                    pte[0] = e & ~(<uint64_t>_PAGE_SWP_UFFD_WP)
            if err == WALK_PMD_LEAF:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
            elif err == WALK_PUD_LEAF:
                addr = ((addr >> PUD_SHIFT) + 1) << PUD_SHIFT
            else:
                addr += PAGE_SIZE
        return n

    def wrprotect_range(self, MmStruct mm, uint64_t start, uint64_t end):
        """change_protection() removing write."""
        return self.change_protection(mm, start, end, False, 0)

    # -- counting ----------------------------------------------------------------------------
    def count_present(self, MmStruct mm, VmArea vma):
        """(anon, file, shmem) pages of one VMA mapped by present PTEs and (outside hugetlb
        VMAs) huge leaves, read from the page tables."""
        cdef page* p
        cdef uint64_t a = 0, f = 0, s = 0
        cdef int member
        for pfn, n in self.mapped_pages(mm, vma).items():
            member = mm_counter(compound_head_page(self.pm, <pfn_t>pfn))
            if member == MM_ANONPAGES:
                a += n
            elif member == MM_SHMEMPAGES:
                s += n
            else:
                f += n
        if not (vma.vm_flags & C_VM_HUGETLB):
            for head, (n, nr) in self.mapped_leaves(mm, vma).items():
                member = mm_counter(&self.pm.mem_map[<pfn_t>head])
                if member == MM_ANONPAGES:
                    a += n * nr
                elif member == MM_SHMEMPAGES:
                    s += n * nr
                else:
                    f += n * nr
        return a, f, s

    def mapped_pages(self, MmStruct mm, VmArea vma):
        """{pfn: number of present PTEs of this VMA mapping it} (huge leaves: mapped_leaves)."""
        cdef uint64_t addr = vma.vm_start
        cdef uint64_t* pte
        cdef int err
        cdef uint64_t e
        out = {}
        while addr < vma.vm_end:
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            if err == WALK_PMD_LEAF:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            if err == WALK_PUD_LEAF:
                addr = ((addr >> PUD_SHIFT) + 1) << PUD_SHIFT
                continue
            e = pte[0]
            if (e & _PAGE_PRESENT) and not (e & _PAGE_SPECIAL):
                pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                out[pfn] = out.get(pfn, 0) + 1
            addr += PAGE_SIZE
        return out

    def mapped_leaves(self, MmStruct mm, VmArea vma):
        """{head pfn: (number of leaves of this VMA mapping it, pages per leaf)}."""
        cdef uint64_t addr = vma.vm_start
        cdef uint64_t* slot
        cdef int err
        out = {}
        while addr < vma.vm_end:
            err = 0
            slot = self.pgt.walk(mm, addr, False, &err)
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                head = (slot[0] & PTE_PFN_MASK) >> PAGE_SHIFT
                nr = 512 if err == WALK_PMD_LEAF else 262144
                n, _ = out.get(head, (0, nr))
                out[head] = (n + 1, nr)
                addr = ((addr >> (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)) + 1) << \
                    (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)
                continue
            if slot == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
        return out

    def count_nonpresent(self, MmStruct mm, VmArea vma):
        """(swap entries, PTE markers) among this VMA's PTEs."""
        cdef uint64_t addr = vma.vm_start
        cdef uint64_t* pte
        cdef int err
        cdef uint64_t e
        cdef uint64_t swaps = 0, markers = 0
        while addr < vma.vm_end:
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if pte == NULL or err:
                addr = ((addr >> (PUD_SHIFT if err == WALK_PUD_LEAF else PMD_SHIFT)) + 1) << \
                    (PUD_SHIFT if err == WALK_PUD_LEAF else PMD_SHIFT)
                continue
            e = pte[0]
            if e != 0 and not pte_present(e):
                if self.pte_markers and swp_type(pte_to_swp_entry(e)) == self.swp_pte_marker:
                    markers += 1
                else:
                    swaps += 1
            addr += PAGE_SIZE
        return swaps, markers

    def fault_counts_dict(self):
        return {FAULT_KIND_NAMES[i]: self.fault_counts[i] for i in range(NR_FAULT_KINDS)}

    def page_counts(self, pfn_t pfn):
        return self.pm.mem_map[pfn]._refcount, self.pm.mem_map[pfn]._mapcount

    def entire_mapcount(self, pfn_t head):
        """The entire (compound) mapcount of a compound page: how many huge leaves map it."""
        if not (self.pm.mem_map[head].flags & (1ULL << PG_head)):
            raise ValueError(f"pfn {head:#x} is not a compound head")
        return compound_mapcount_ptr(self.pm, head)[0]

    # -- unmapping ---------------------------------------------------------------------------
    def unmap_region(self, MmStruct mm, list vmas, uint64_t start, uint64_t end,
                     uint64_t floor, uint64_t ceiling, bint fullmm=False):
        """unmap_region()/exit_mmap(): zap [start, end) of ``vmas`` through one mmu_gather,
        free the page tables between floor and ceiling (unlinking the VMAs from their
        anon_vmas and files), then tlb_finish_mmu()."""
        cdef MmuGather tlb
        cdef VmArea v
        if self.munmap_lru_drain:
            self.pm.lru_add_drain()
        tlb = MmuGather(self, mm, fullmm)
        for v in vmas:
            s = max(start, v.vm_start)
            e = min(end, v.vm_end)
            if s < e:
                self.zap_range(tlb, mm, v, s, e, 0)
        self.free_pgtables(tlb, mm, vmas, floor, ceiling)
        tlb.finish()

    def zap_page_range(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end, int flags=0):
        """zap_page_range_single(): unmap [start, end) of one VMA, keeping the page tables
        (MADV_DONTNEED, unmap_mapping_range)."""
        cdef MmuGather tlb
        if self.munmap_lru_drain:
            self.pm.lru_add_drain()
        tlb = MmuGather(self, mm, False)
        self.zap_range(tlb, mm, vma, max(start, vma.vm_start), min(end, vma.vm_end), flags)
        tlb.finish()

    def unmap_mapping_range(self, AddressSpace mapping, uint64_t first_index, uint64_t nr,
                            bint even_cows=True):
        """unmap_mapping_pages(): unmap the pages of file offsets [first_index, first_index+nr)
        from every VMA of the file (truncate, hole punch); private COW copies too when
        ``even_cows``."""
        cdef VmArea vma
        cdef uint64_t vstart, vend, last = first_index + nr
        for vma in list(mapping.i_mmap):
            vend = vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT)
            if vma.vm_pgoff >= last or vend <= first_index or vma.vm_mm is None:
                continue
            vstart = vma.vm_start + ((max(first_index, vma.vm_pgoff) - vma.vm_pgoff) << PAGE_SHIFT)
            self.zap_page_range(vma.vm_mm, vma, vstart,
                                vma.vm_start + ((min(last, vend) - vma.vm_pgoff) << PAGE_SHIFT),
                                0 if even_cows else (ZAP_SKIP_ANON | ZAP_SKIP_SWAP))

    cdef int zap_range(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t start, uint64_t end,
                       int flags) except -1:
        """unmap_page_range(): huge leaves (zap_huge_pmd; a leaf only partly in the range is
        split first), then zap_pte_range() per page table, one rss batch each; a full gather
        batch forces a flush and restarts the batch (zap_pte_range's force_flush).  Swap
        entries are released through the swap plugin's swap_free, PTE markers dropped."""
        cdef uint64_t addr = start, next_end, e, size, entry
        cdef uint64_t* pte
        cdef int err
        cdef int64_t rss[NR_MM_COUNTERS]
        cdef pfn_t pfn
        cdef page* p
        cdef page* hp
        cdef bint force_flush
        cdef int member, level
        while addr < end:
            next_end = min(end, ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT)
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                level = 3 if err == WALK_PMD_LEAF else 2
                size = PMD_SIZE if level == 3 else PUD_SIZE
                if (addr & (size - 1)) == 0 and addr + size <= end:
                    hp = &self.pm.mem_map[(pte[0] & PTE_PFN_MASK) >> PAGE_SHIFT]
                    if not ((flags & ZAP_SKIP_ANON) and (hp.mapping & PAGE_MAPPING_ANON)):
                        self.zap_huge_leaf(tlb, mm, vma, pte, level)
                    addr += size
                    continue
                if level == 3 and (compound_head_page(self.pm, (pte[0] & PTE_PFN_MASK) >> PAGE_SHIFT).mapping & PAGE_MAPPING_ANON) \
                        and not (vma.vm_flags & C_VM_HUGETLB):
                    if self.split_huge_pmd(mm, vma, pte, addr) < 0:
                        raise MemoryError("out of memory splitting a huge page")
                    continue            # now a PTE table: zap it below
                self.zap_huge_leaf(tlb, mm, vma, pte, level)
                addr = min(end, ((addr >> (PMD_SHIFT if level == 3 else PUD_SHIFT)) + 1) << (PMD_SHIFT if level == 3 else PUD_SHIFT))
                continue
            if pte == NULL:
                addr = next_end
                continue
            pte -= (addr >> PAGE_SHIFT) & 511
            while True:
                memset(rss, 0, sizeof(rss))
                force_flush = False
                while addr < next_end:
                    e = pte[(addr >> PAGE_SHIFT) & 511]
                    if e == 0:
                        addr += PAGE_SIZE
                        continue
                    if not pte_present(e):
                        entry = pte_to_swp_entry(e)
                        if self.pte_markers and swp_type(entry) == self.swp_pte_marker:
                            pte[(addr >> PAGE_SHIFT) & 511] = 0      # markers go with the range
                        elif not (flags & ZAP_SKIP_SWAP):
                            rss[MM_SWAPENTS] -= 1
                            if self.swap.swap_free != NULL:
                                self.swap.swap_free(self.swap.ctx, entry)
                            pte[(addr >> PAGE_SHIFT) & 511] = 0
                        addr += PAGE_SIZE
                        continue
                    if e & _PAGE_SPECIAL:
                        pte[(addr >> PAGE_SHIFT) & 511] = 0
                        addr += PAGE_SIZE
                        continue
                    pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                    p = &self.pm.mem_map[pfn]
                    hp = compound_head_page(self.pm, pfn)
                    member = mm_counter(hp)
                    if (flags & ZAP_SKIP_ANON) and member == MM_ANONPAGES:
                        addr += PAGE_SIZE
                        continue
                    pte[(addr >> PAGE_SHIFT) & 511] = 0
                    if not (hp.mapping & PAGE_MAPPING_ANON) and (e & _PAGE_DIRTY):
                        force_flush = True
                        self.set_page_dirty(pfn)            # the PTE's dirty bit goes to the page
                    if (e & _PAGE_ACCESSED) and not (hp.mapping & PAGE_MAPPING_ANON):
                        self.pm.mark_page_accessed(pfn)     # pte_young, no VM_SEQ_READ
                    rss[member] -= 1
                    page_remove_rmap(self.pm, pfn)
                    if vma.vm_flags & C_VM_LOCKED or hp.flags & (1ULL << PG_mlocked):
                        self.munlock_vma_folio(vma, pfn)
                    addr += PAGE_SIZE
                    if tlb.remove_page(pfn):
                        force_flush = True
                        break
                mm.add_mm_rss_vec(rss)
                if force_flush:
                    tlb.flush()
                if addr >= next_end:
                    break
        return 0

    cdef int zap_huge_leaf(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t* leaf, int level) except -1:
        """zap_huge_pmd() / zap_huge_pud() / __unmap_hugepage_range(): clear the leaf, lower
        hugetlb_usage (VM_HUGETLB: hugetlb_count_sub) or the rss counter by the pages it mapped,
        drop the entire mapcount and queue the compound page's reference on the gather."""
        cdef uint64_t e = leaf[0]
        cdef pfn_t head = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* hp = &self.pm.mem_map[head]
        cdef int64_t nr = <int64_t>1 << (HPAGE_PMD_ORDER if level == 3 else HPAGE_PUD_ORDER)
        cdef TaskStruct t = self.cur.task
        leaf[0] = 0
        if not (e & _PAGE_PRESENT):
            return 0
        if vma.vm_flags & C_VM_HUGETLB:
            mm.hugetlb_usage -= nr
        else:
            if t is not None and t.mm is mm and self.split_rss:
                mm.sync_mm_rss(t)
            mm.add_mm_counter(mm_counter(hp), -nr, t is not None and t.mm is mm)
        compound_mapcount_ptr(self.pm, head)[0] -= 1
        if not (vma.vm_flags & C_VM_HUGETLB) and compound_mapcount_ptr(self.pm, head)[0] == 0:
            compound_mapped_stat(self.pm, head, -1)
        if not (vma.vm_flags & C_VM_HUGETLB) and (vma.vm_flags & C_VM_LOCKED or hp.flags & (1ULL << PG_mlocked)):
            self.munlock_vma_folio(vma, head)
        if tlb.remove_page(head):
            tlb.flush()
        return 0

    cdef int free_pgtables(self, MmuGather tlb, MmStruct mm, list vmas, uint64_t floor, uint64_t ceiling) except -1:
        """free_pgtables(): unlink each VMA from its anon_vmas and its file, then
        free_pgd_range() over runs of VMAs less than a PMD apart."""
        cdef int i = 0, n = len(vmas)
        cdef VmArea v, nxt
        cdef uint64_t addr
        while i < n:
            v = vmas[i]
            addr = v.vm_start
            self.rmap.unlink_anon_vmas(v)
            self.unlink_file_vma(v)
            while i + 1 < n and (<VmArea>vmas[i + 1]).vm_start <= v.vm_end + PMD_SIZE:
                i += 1
                v = vmas[i]
                self.rmap.unlink_anon_vmas(v)
                self.unlink_file_vma(v)
            self.free_pgd_range(tlb, mm, addr, v.vm_end, floor,
                                (<VmArea>vmas[i + 1]).vm_start if i + 1 < n else ceiling)
            i += 1
        return 0

    cdef int free_pgd_range(self, MmuGather tlb, MmStruct mm, uint64_t addr, uint64_t end,
                            uint64_t floor, uint64_t ceiling) except -1:
        """free_pgd_range(): free the tables that only map [floor, ceiling) (0 = no ceiling)."""
        cdef uint64_t* ents
        cdef uint64_t next_addr
        addr &= ~(PMD_SIZE - 1)
        if addr < floor:
            addr += PMD_SIZE
            if addr == 0:
                return 0
        if ceiling:
            ceiling &= ~(PMD_SIZE - 1)
            if ceiling == 0:
                return 0
        if end - 1 > ceiling - 1:
            end -= PMD_SIZE
        if addr > end - 1:
            return 0
        ents = table_entries(self.pm, mm.pgd)
        while True:
            next_addr = ((addr >> PGDIR_SHIFT) + 1) << PGDIR_SHIFT
            if next_addr - 1 > end - 1:
                next_addr = end
            if ents[(addr >> PGDIR_SHIFT) & 511] & _PAGE_PRESENT:
                self.free_table(tlb, mm, &ents[(addr >> PGDIR_SHIFT) & 511], 2, addr, next_addr, floor, ceiling)
            addr = next_addr
            if addr == end:
                break
        return 0

    cdef int free_table(self, MmuGather tlb, MmStruct mm, uint64_t* parent, int tlevel, uint64_t addr,
                        uint64_t end, uint64_t floor, uint64_t ceiling) except -1:
        """free_pud_range (tlevel 2) / free_pmd_range (tlevel 3): free the tables below, then
        this table itself if [floor, ceiling) covers all it maps."""
        cdef pfn_t table = (parent[0] & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef uint64_t* ents = table_entries(self.pm, table)
        cdef int shift = PUD_SHIFT if tlevel == 2 else PMD_SHIFT
        cdef int mask_shift = PGDIR_SHIFT if tlevel == 2 else PUD_SHIFT
        cdef uint64_t start = addr, next_addr, e
        cdef int idx
        while True:
            next_addr = ((addr >> shift) + 1) << shift
            if next_addr - 1 > end - 1:
                next_addr = end
            idx = (addr >> shift) & 511
            e = ents[idx]
            if (e & _PAGE_PRESENT) and not (e & _PAGE_PSE):
                if tlevel == 3:
                    # free_pte_range()
                    ents[idx] = 0
                    mm.pgtables_bytes -= PAGE_SIZE
                    tlb.remove_table((e & PTE_PFN_MASK) >> PAGE_SHIFT)
                else:
                    self.free_table(tlb, mm, &ents[idx], 3, addr, next_addr, floor, ceiling)
            addr = next_addr
            if addr == end:
                break
        start = (start >> mask_shift) << mask_shift
        if start < floor:
            return 0
        if ceiling:
            ceiling = (ceiling >> mask_shift) << mask_shift
            if ceiling == 0:
                return 0
        if end - 1 > ceiling - 1:
            return 0
        parent[0] = 0
        mm.pgtables_bytes -= PAGE_SIZE
        tlb.remove_table(table)
        return 0

    cdef int put_page(self, pfn_t pfn) except -1:
        return self.pm.put_page(pfn)

    # -- fork ---------------------------------------------------------------------------------
    # -- mlock (mm/mlock.c) -------------------------------------------------------------------
    cdef int mlock_vma_folio(self, VmArea vma, pfn_t pfn) except -1:
        """The mlock a VM_LOCKED VMA's page gets when reclaim's rmap walk finds it (v5.14
        try_to_unmap_one: mlock_vma_page(); v6.18 folio_referenced_one / try_to_unmap_one:
        "restore the mlock which got missed", mlock_vma_folio() -> mlock_folio()) and, on
        v6.18, when a file page is mapped into one (__folio_add_file_rmap).  Only when
        (vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED; a PTE-mapped subpage of a large
        folio is never mlocked."""
        cdef page* p = &self.pm.mem_map[pfn]
        if not vma_mlocked_new_page(vma) or p.flags & (1ULL << PG_tail):
            return 0
        if self.pm.mlock_fbatch_enabled:
            return self.pm.mlock_folio(pfn)
        return self.pm.mlock_vma_page(pfn)

    cdef int munlock_vma_folio(self, VmArea vma, pfn_t pfn) except -1:
        """What unmapping page ``pfn`` (a huge leaf's head) from ``vma`` does to its mlock, just
        after the rmap removal: v6.18 __folio_remove_rmap()'s munlock_vma_folio() (a VM_LOCKED
        VMA queues munlock_folio; the folio's mlock_count decides); v5.14 page_remove_rmap()'s
        clear_page_mlock() once nothing maps the page (or the huge page) any more."""
        cdef page* p = &self.pm.mem_map[pfn]
        if self.pm.mlock_fbatch_enabled:
            if vma.vm_flags & C_VM_LOCKED:
                return self.pm.munlock_folio(pfn if not (p.flags & (1ULL << PG_tail)) else p.compound_head)
            return 0
        if not (p.flags & (1ULL << PG_mlocked)):
            return 0
        if p.flags & (1ULL << PG_head):
            if compound_mapcount_ptr(self.pm, pfn)[0] == 0:
                self.pm.clear_page_mlock(pfn)
        elif p._mapcount == 0:
            self.pm.clear_page_mlock(pfn)
        return 0

    cdef int munlock_page_v5(self, pfn_t pfn, bint single) except -1:
        """v5.14's munlock of one present page: ``single`` is munlock_vma_page() (a THP, or the
        old page of a COW in a VM_LOCKED VMA), else __munlock_pagevec() for this page.
        TestClearPageMlocked (not mlocked: nothing), NR_MLOCK; a page isolated from its LRU
        list that is mapped once and now evictable takes the fast path (PG_unevictable
        cleared, unevictable_pgs_rescued, onto an evictable list at once, _munlocked); else
        __munlock_isolated_page(): try_to_munlock() when mapped more than once (another
        VM_LOCKED VMA keeps it mlocked), unevictable_pgs_munlocked if it stayed munlocked, and
        putback_lru_page() through the lru_add batch.  A page that cannot be isolated (in a
        per-CPU batch) counts unevictable_pgs_stranded if unevictable, else _munlocked
        (__munlock_isolation_failed).  memsim does the kernel's three __munlock_pagevec phases
        page by page rather than for up to 15 pages at once."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = (1LL << p.compound_order) if p.flags & (1ULL << PG_head) else 1
        cdef lru_batch lb
        if not (p.flags & (1ULL << PG_mlocked)):
            return 0
        p.flags &= ~(1ULL << PG_mlocked)
        __mod_zone_page_state(self.pm.vs, page_to_nid(p) * MAX_NR_ZONES + page_zonenum(p), NR_MLOCK, -nr)
        if not self.pm.isolate_lru_page(pfn):
            __count_vm_events(self.pm.vs, UNEVICTABLE_PGSTRANDED if p.flags & (1ULL << PG_unevictable)
                              else UNEVICTABLE_PGMUNLOCKED, nr)
            return 0
        if not single and p._mapcount <= 1:                 # __putback_lru_fast_prepare()
            if p.flags & (1ULL << PG_unevictable):
                p.flags &= ~(1ULL << PG_unevictable)
                __count_vm_events(self.pm.vs, UNEVICTABLE_PGRESCUED, 1)
            __count_vm_events(self.pm.vs, UNEVICTABLE_PGMUNLOCKED, 1)
            lb.nr = 1
            lb.pfns[0] = <uint32_t>pfn
            return self.pm.pagevec_lru_add(&lb)             # __putback_lru_fast()
        if p._mapcount > 1:
            self.rmap.try_to_munlock(pfn)
        if not (p.flags & (1ULL << PG_mlocked)):
            __count_vm_events(self.pm.vs, UNEVICTABLE_PGMUNLOCKED, 1)
        return self.pm.putback_lru_page(pfn)

    def munlock_vma_pages_range(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end):
        """munlock_vma_pages_range() (v5.14): VM_LOCKED and VM_LOCKONFAULT leave the VMA, then
        every page present in [start, end) (follow_page(FOLL_GET | FOLL_DUMP): not the zero
        page) is munlocked: a huge leaf's page once through munlock_vma_page(), a PTE-mapped
        THP's subpages not at all, other pages as __munlock_pagevec() does."""
        cdef uint64_t addr = start, e
        cdef uint64_t* pte
        cdef int err
        cdef pfn_t pfn
        cdef page* p
        vma.vm_flags &= ~(C_VM_LOCKED | C_VM_LOCKONFAULT)
        while addr < end:
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                if pte[0] & _PAGE_PRESENT:
                    self.munlock_page_v5((pte[0] & PTE_PFN_MASK) >> PAGE_SHIFT, True)
                addr = ((addr >> (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)) + 1) << (
                    PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)
                continue
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            e = pte[0]
            addr += PAGE_SIZE
            if not (e & _PAGE_PRESENT) or e & _PAGE_SPECIAL:
                continue
            pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            if pfn == self.zero_pfn:
                continue
            p = &self.pm.mem_map[pfn]
            if p.flags & (1ULL << PG_tail):
                continue
            self.munlock_page_v5(pfn, (p.flags & (1ULL << PG_head)) != 0)

    def mlock_vma_pages_range(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end,
                              uint64_t newflags):
        """mlock_vma_pages_range() (v6.18): the VMA gets ``newflags`` (with VM_IO for the walk's
        duration when locking), lru_add_drain(), then mlock_pte_range() over [start, end):
        each present folio (not the zero page) is mlock_folio()ed if the VMA is now
        VM_LOCKED, else munlock_folio()ed — a huge leaf's folio once; a PTE-mapped large
        folio is munlocked once per run of its PTEs and, unlike the kernel's
        allow_mlock_munlock() (which mlocks one fully mapped in the range), never mlocked —
        then lru_add_drain() again."""
        cdef uint64_t addr = start, e
        cdef uint64_t* pte
        cdef int err
        cdef pfn_t pfn, head, last = NO_PFN
        cdef page* p
        cdef bint lock = (newflags & C_VM_LOCKED) != 0
        vma.vm_flags = newflags | (C_VM_IO if lock else 0)
        self.pm.lru_add_drain()
        while addr < end:
            err = 0
            pte = self.pgt.walk(mm, addr, False, &err)
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                if pte[0] & _PAGE_PRESENT:
                    head = (pte[0] & PTE_PFN_MASK) >> PAGE_SHIFT
                    if lock:
                        self.pm.mlock_folio(head)
                    else:
                        self.pm.munlock_folio(head)
                addr = ((addr >> (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)) + 1) << (
                    PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)
                continue
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            e = pte[0]
            addr += PAGE_SIZE
            if not (e & _PAGE_PRESENT) or e & _PAGE_SPECIAL:
                last = NO_PFN
                continue
            pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            if pfn == self.zero_pfn:
                last = NO_PFN
                continue
            p = &self.pm.mem_map[pfn]
            if p.flags & ((1ULL << PG_tail) | (1ULL << PG_head)):
                head = p.compound_head if p.flags & (1ULL << PG_tail) else pfn
                if not lock and head != last:
                    self.pm.munlock_folio(head)
                last = head
                continue
            last = NO_PFN
            if lock:
                self.pm.mlock_folio(pfn)
            else:
                self.pm.munlock_folio(pfn)
        self.pm.lru_add_drain()
        if lock:
            vma.vm_flags = newflags

    def populate_vma_page_range(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end):
        """populate_vma_page_range() -> __get_user_pages() over [start, end) of ``vma``:
        FOLL_WRITE for a private writable VMA (a write fault breaks COW), FOLL_TOUCH
        (mark_page_accessed of each page found; memsim leaves the page's dirty flag to the
        fault), and on v5.14 FOLL_MLOCK (a VM_LOCKED VMA's page, not a compound one nor the
        zero page, is mlock_vma_page()d after lru_add_drain(); a huge leaf's page once).  A
        missing page is faulted in, except in a VM_LOCKONFAULT VMA (v5.14: no FOLL_POPULATE,
        present pages are still mlocked; v6.18 returns at once).  v6.18 ends with
        lru_add_drain() (which drains the mlock_fbatch too).  Returns the first fault's
        VM_FAULT_* error code, or 0."""
        cdef bint write = (vma.vm_flags & (C_VM_WRITE | C_VM_SHARED)) == C_VM_WRITE
        cdef bint onfault = (vma.vm_flags & C_VM_LOCKONFAULT) != 0
        cdef bint foll_mlock = not self.pm.mlock_fbatch_enabled
        cdef unsigned int flags = FAULT_FLAG_WRITE if write else 0
        cdef uint64_t addr = start, e
        cdef uint64_t* pte
        cdef int err, ret, tries
        cdef pfn_t pfn
        cdef page* p
        if onfault and not foll_mlock:
            return 0
        while addr < end:
            tries = 0
            while True:
                err = 0
                pte = self.pgt.walk(mm, addr, False, &err)
                if pte != NULL and (pte[0] & _PAGE_PRESENT) and (not write or (pte[0] & _PAGE_RW)):
                    break
                if onfault or tries >= 3:
                    pte = NULL
                    break
                ret = self.handle_mm_fault(mm, vma, addr, flags)
                if ret & (VM_FAULT_ERROR | VM_FAULT_RETRY):
                    return ret
                tries += 1
            if pte == NULL:
                addr += PAGE_SIZE
                continue
            e = pte[0]
            pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                p = &self.pm.mem_map[pfn]
                if foll_mlock and vma.vm_flags & C_VM_LOCKED and not (vma.vm_flags & C_VM_HUGETLB) \
                        and p.mapping != 0 and not (p.mapping & PAGE_MAPPING_ANON and compound_mapcount_ptr(self.pm, pfn)[0] != 1):
                    self.pm.mlock_vma_page(pfn)             # follow_trans_huge_pmd()
                addr = ((addr >> (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)) + 1) << (
                    PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)
                continue
            addr += PAGE_SIZE
            if pfn == self.zero_pfn or e & _PAGE_SPECIAL:
                continue
            self.pm.mark_page_accessed(pfn)                 # FOLL_TOUCH
            p = &self.pm.mem_map[pfn]
            if foll_mlock and vma.vm_flags & C_VM_LOCKED and p.mapping != 0 \
                    and not (p.flags & ((1ULL << PG_tail) | (1ULL << PG_head))):
                self.pm.lru_add_drain()                     # push cached pages to LRU
                self.pm.mlock_vma_page(pfn)
        if not foll_mlock:
            self.pm.lru_add_drain()                         # v6.18: after __get_user_pages
        return 0

    def copy_page_range(self, MmStruct dst, VmArea dst_vma, MmStruct src, VmArea src_vma):
        """copy_page_range(): share the parent's pages with the child, write-protecting COW
        mappings, one add_mm_rss_vec(child) per copied page table (copy_pte_range); huge
        leaves as copy_huge_pmd / copy_hugetlb_page_range do; swap entries duplicated through
        the swap plugin (swap_duplicate), PTE markers kept where the child may see them.

        Like v5.14, VMAs without an anon_vma (never written privately) are not copied, unless
        hugetlb or (v6.x) userfaultfd write-protected in the child: the child faults them in
        again.  Returns 0, or -ENOMEM (the fork fails)."""
        cdef uint64_t addr = src_vma.vm_start, next_end, e, entry, marker
        cdef uint64_t* spte
        cdef uint64_t* dpte
        cdef int err, r
        cdef int64_t rss[NR_MM_COUNTERS]
        cdef pfn_t pfn
        cdef page* p
        cdef page* hp
        cdef bint cow = (src_vma.vm_flags & (C_VM_SHARED | C_VM_MAYWRITE)) == C_VM_MAYWRITE
        cdef bint dst_uffd_wp = (dst_vma.vm_flags & C_VM_UFFD_WP) != 0
        if src_vma.anon_vma == 0 and not (src_vma.vm_flags & C_VM_HUGETLB) and \
                not (self.pte_markers and dst_uffd_wp):
            return 0
        while addr < src_vma.vm_end:
            next_end = min(src_vma.vm_end, ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT)
            err = 0
            spte = self.pgt.walk(src, addr, False, &err)
            if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
                r = self.copy_huge_leaf(dst, dst_vma, src, src_vma, spte, addr,
                                        3 if err == WALK_PMD_LEAF else 2, cow)
                if r < 0:
                    return r
                addr = ((addr >> (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)) + 1) << \
                    (PMD_SHIFT if err == WALK_PMD_LEAF else PUD_SHIFT)
                continue
            if spte == NULL:
                addr = next_end
                continue
            err = 0
            dpte = self.pgt.walk(dst, addr, True, &err)
            if dpte == NULL:
                return -12
            memset(rss, 0, sizeof(rss))
            while addr < next_end:
                e = spte[0]
                if e == 0:
                    pass
                elif pte_present(e):
                    if not (e & _PAGE_SPECIAL):
                        pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                        p = &self.pm.mem_map[pfn]
                        hp = compound_head_page(self.pm, pfn)
                        hp._refcount += 1
                        p._mapcount += 1
                        rss[mm_counter(hp)] += 1
                    if cow and (e & _PAGE_RW):
                        e &= ~(<uint64_t>_PAGE_RW)
                        spte[0] = e
                    if src_vma.vm_flags & C_VM_SHARED:
                        e &= ~(<uint64_t>_PAGE_DIRTY)     # pte_mkclean in a shared mapping
                    e &= ~(<uint64_t>_PAGE_ACCESSED)      # pte_mkold: the child's copy is old
                    if not dst_uffd_wp:
                        e &= ~(<uint64_t>_PAGE_UFFD_WP)
                    dpte[0] = e
                else:
                    entry = pte_to_swp_entry(e)
                    if self.pte_markers and swp_type(entry) == self.swp_pte_marker:
                        # copy_pte_marker(): poison always, uffd-wp only if the child tracks it
                        marker = swp_offset(entry) & (PTE_MARKER_POISONED | (PTE_MARKER_UFFD_WP if dst_uffd_wp else 0))
                        if marker:
                            dpte[0] = swp_entry_to_pte(swp_entry(self.swp_pte_marker, marker))
                    else:
                        if self.swap.swap_duplicate != NULL:
                            r = self.swap.swap_duplicate(self.swap.ctx, entry)
                            if r < 0:
                                dst.add_mm_rss_vec(rss)
                                return r
                        rss[MM_SWAPENTS] += 1
                        dpte[0] = e if dst_uffd_wp else (e & ~(<uint64_t>_PAGE_SWP_UFFD_WP))
                spte += 1
                dpte += 1
                addr += PAGE_SIZE
            dst.add_mm_rss_vec(rss)
        return 0

    cdef int copy_huge_leaf(self, MmStruct dst, VmArea dst_vma, MmStruct src, VmArea src_vma,
                            uint64_t* sleaf, uint64_t addr, int level, bint cow) except -1:
        """copy_huge_pmd() / copy_hugetlb_page_range() for one leaf."""
        cdef uint64_t e = sleaf[0]
        cdef int err = 0
        cdef uint64_t* dslot
        cdef pfn_t head = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* hp = &self.pm.mem_map[head]
        cdef int64_t nr = <int64_t>1 << (HPAGE_PMD_ORDER if level == 3 else HPAGE_PUD_ORDER)
        if not (e & _PAGE_PRESENT):
            return 0
        dslot = self.pgt.walk_pud(dst, addr, True, &err) if level == 2 else self.pgt.walk_pmd(dst, addr, True, &err)
        if dslot == NULL:
            return -12
        if cow and (e & _PAGE_RW):
            e &= ~(<uint64_t>_PAGE_RW)
            sleaf[0] = e
        if not (dst_vma.vm_flags & C_VM_UFFD_WP):
            e &= ~(<uint64_t>_PAGE_UFFD_WP)
        hp._refcount += 1
        compound_mapcount_ptr(self.pm, head)[0] += 1
        if dst_vma.vm_flags & C_VM_HUGETLB:
            dst.hugetlb_usage += nr
        else:
            dst.add_mm_counter(mm_counter(hp), nr, False)
        dslot[0] = e
        return 0

    # -- mremap ------------------------------------------------------------------------------
    def move_page_tables(self, MmStruct mm, VmArea vma, uint64_t old_addr, VmArea new_vma,
                         uint64_t new_addr, uint64_t length):
        """move_page_tables(): move the entries of [old_addr, old_addr + length) to new_addr:
        a whole PTE table when both sides are PMD aligned and the destination has none
        (move_normal_pmd), a huge leaf as a whole (move_huge_pmd) or split, else PTE by PTE
        (move_ptes).  The pages keep their index (the new VMA's vm_pgoff must make the
        addresses agree) and the rss is unchanged.  Returns the bytes moved (less on OOM)."""
        cdef uint64_t moved = 0, extent, old, new
        cdef uint64_t* spmd
        cdef uint64_t* dpmd
        cdef uint64_t* spte
        cdef uint64_t* dpte
        cdef int err
        cdef uint64_t i
        while moved < length:
            old = old_addr + moved
            new = new_addr + moved
            extent = min(((old >> PMD_SHIFT) + 1) << PMD_SHIFT, old_addr + length) - old
            extent = min(extent, (((new >> PMD_SHIFT) + 1) << PMD_SHIFT) - new)
            err = 0
            spmd = self.pgt.walk_pmd(mm, old, False, &err)
            if spmd == NULL or err == WALK_PUD_LEAF or spmd[0] == 0:
                if err == WALK_PUD_LEAF:
                    raise ValueError("mremap of a PUD-mapped range is not supported")
                moved += extent
                continue
            err = 0
            dpmd = self.pgt.walk_pmd(mm, new, True, &err)
            if dpmd == NULL:
                return moved
            if spmd[0] & _PAGE_PSE:
                if extent == PMD_SIZE and dpmd[0] == 0:
                    dpmd[0] = spmd[0]          # move_huge_pmd
                    spmd[0] = 0
                    moved += extent
                    continue
                if self.split_huge_pmd(mm, vma, spmd, old) < 0:
                    return moved
            if extent == PMD_SIZE and dpmd[0] == 0:
                self.pgt.touch(mm, (spmd[0] & PTE_PFN_MASK) >> PAGE_SHIFT, new, 4)
                dpmd[0] = spmd[0]              # move_normal_pmd
                spmd[0] = 0
                moved += extent
                continue
            err = 0
            spte = self.pgt.walk(mm, old, False, &err)
            dpte = self.pgt.walk(mm, new, True, &err)
            if dpte == NULL:
                return moved
            for i in range(extent >> PAGE_SHIFT):
                if spte[i]:
                    dpte[i] = spte[i]
                    spte[i] = 0
            moved += extent
        return moved

    # -- migration ---------------------------------------------------------------------------
    # -- dirty, writeback and the page cache's reclaim side (mm/page-writeback.c, filemap.c) ----
    cdef bint rmap_folio_mapped(self, pfn_t head) noexcept:
        """folio_mapped() of a page-cache folio (``head``: its head or an order-0 page)."""
        return folio_mapped(self.pm, head)

    cdef int set_page_dirty(self, pfn_t pfn) except -1:
        """set_page_dirty(): PG_dirty; a regular file's page is accounted the first time
        (__set_page_dirty_nobuffers -> account_page_dirtied: NR_FILE_DIRTY, NR_ZONE_WRITE_PENDING,
        NR_DIRTIED); shmem and swap-cache pages only get the flag (__set_page_dirty_no_writeback,
        swap_set_page_dirty)."""
        cdef page* p = compound_head_page(self.pm, pfn)
        cdef int64_t nr
        if p.flags & (1ULL << PG_dirty):
            return 0
        p.flags |= 1ULL << PG_dirty
        if p.mapping and not (p.mapping & PAGE_MAPPING_ANON) and not (p.flags & (1ULL << PG_swapbacked)):
            nr = folio_nr(p)                # folio_account_dirtied(): a large folio's every page
            __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_DIRTY, nr)
            __mod_zone_page_state(self.pm.vs, page_to_nid(p) * MAX_NR_ZONES + page_zonenum(p),
                                  NR_ZONE_WRITE_PENDING, nr)
            __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_DIRTIED, nr)
        return 0

    cdef bint clear_page_dirty_for_io(self, pfn_t pfn) except -1:
        """clear_page_dirty_for_io(): clear PG_dirty before the write; a regular file's page
        leaves NR_FILE_DIRTY / NR_ZONE_WRITE_PENDING (mapping_can_writeback).  True if it was
        dirty.  A large file folio (``pfn`` its head) is cleaned whole: every subpage's PTEs
        (folio_mkclean) and nr pages of the counters."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p), i
        cdef int cleaned = 0
        if nr == 1:
            if p._mapcount >= 0:
                cleaned = self.rmap._page_mkclean(pfn)
        else:
            for i in range(nr):
                if self.pm.mem_map[pfn + i]._mapcount > 0:
                    cleaned += self.rmap._page_mkclean(pfn + i)
        if cleaned:
            self.set_page_dirty(pfn)        # a dirty PTE's data is in the write too
        if not (p.flags & (1ULL << PG_dirty)):
            return False
        p.flags &= ~(1ULL << PG_dirty)
        if p.mapping and not (p.mapping & PAGE_MAPPING_ANON) and not (p.flags & (1ULL << PG_swapbacked)):
            __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_DIRTY, -nr)
            __mod_zone_page_state(self.pm.vs, page_to_nid(p) * MAX_NR_ZONES + page_zonenum(p),
                                  NR_ZONE_WRITE_PENDING, -nr)
        return True

    cdef int set_page_writeback(self, pfn_t pfn) except -1:
        """set_page_writeback() -> __test_set_page_writeback(): PG_writeback, NR_WRITEBACK and
        NR_ZONE_WRITE_PENDING.  A writepage op calls it when it starts the write."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p)
        if p.flags & (1ULL << PG_writeback):
            return 0
        p.flags |= 1ULL << PG_writeback
        __mod_lruvec_page_state(self.pm.vs, p, NR_WRITEBACK, nr)
        __mod_zone_page_state(self.pm.vs, page_to_nid(p) * MAX_NR_ZONES + page_zonenum(p),
                              NR_ZONE_WRITE_PENDING, nr)
        return 0

    cdef int end_page_writeback(self, pfn_t pfn) except -1:
        """end_page_writeback() (v6.18 folio_end_writeback): a page reclaim wrote (PG_reclaim)
        loses the flag and rotate_reclaimable_page() moves it to the tail of its inactive list
        (pagevec_move_tail_fn: PG_active cleared, pgrotated) -- if it is on an LRU list, clean,
        unlocked and evictable -- where the next isolation finds it; then
        test_clear_page_writeback(): NR_WRITEBACK, NR_ZONE_WRITE_PENDING down, NR_WRITTEN up.
        memsim moves the page at once (the kernel batches the rotation in the per-CPU
        lru_rotate pagevec)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef lruvec* lv
        cdef int64_t nr = folio_nr(p)
        if not (p.flags & (1ULL << PG_writeback)):
            raise ValueError(f"end_page_writeback: pfn {pfn:#x} is not under writeback")
        if p.flags & (1ULL << PG_reclaim):
            p.flags &= ~(1ULL << PG_reclaim)
            if (p.flags & (1ULL << PG_lru)) and not (p.flags & ((1ULL << PG_locked) | (1ULL << PG_dirty)
                                                              | (1ULL << PG_unevictable))):
                lv = self.pm.folio_lruvec(pfn)
                self.pm.lruvec_del_folio(lv, pfn)
                p.flags &= ~(1ULL << PG_active)
                self.pm.lruvec_add_folio_tail(lv, pfn)
                __count_vm_events(self.pm.vs, PGROTATED, nr)
        p.flags &= ~(1ULL << PG_writeback)
        __mod_lruvec_page_state(self.pm.vs, p, NR_WRITEBACK, -nr)
        __mod_zone_page_state(self.pm.vs, page_to_nid(p) * MAX_NR_ZONES + page_zonenum(p),
                              NR_ZONE_WRITE_PENDING, -nr)
        __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_WRITTEN, nr)
        return 0

    cdef int submit_page_write(self, pfn_t pfn) except -1:
        """submit_bio() of a page write a writepage op started (set_page_writeback): under a
        plug (blk_start_plug(): reclaim's, in shrink_page_list) the request waits in the plug,
        and the emulated disk completes it (end_page_writeback) when the plug is flushed --
        blk_finish_plug(), or a full plug (BLK_MAX_REQUEST_COUNT requests); without a plug the
        disk completes it at once.  So a page reclaim writes is still under writeback when
        shrink_page_list() looks at it again (PageWriteback: kept, and rotated to the inactive
        tail when the write ends), as on a real disk, while fsync and sync see their writes
        done."""
        if not self.plugged:
            return self.end_page_writeback(pfn)
        if self.plug_count == BLK_MAX_REQUEST_COUNT:
            self.blk_flush_plug()
        self.plug_list[self.plug_count] = pfn
        self.plug_count += 1
        return 0

    cdef int blk_start_plug(self) except -1:
        """blk_start_plug(): page writes submitted from now on wait in the plug."""
        self.plugged = True
        return 0

    cdef int blk_flush_plug(self) except -1:
        """blk_flush_plug(): the plugged writes go to the disk, which completes them in the
        order they were submitted (end_page_writeback)."""
        cdef int i, n = self.plug_count
        self.plug_count = 0
        for i in range(n):
            if self.pm.mem_map[self.plug_list[i]].flags & (1ULL << PG_writeback):
                self.end_page_writeback(self.plug_list[i])
        return 0

    cdef int blk_finish_plug(self) except -1:
        """blk_finish_plug(): flush the plug and stop plugging."""
        self.plugged = False
        return self.blk_flush_plug()

    def blk_start_plug_py(self):
        """blk_start_plug() from Python (tests)."""
        self.blk_start_plug()

    def blk_finish_plug_py(self):
        """blk_finish_plug() from Python (tests)."""
        self.blk_finish_plug()

    def submit_page_write_py(self, pfn_t pfn):
        """submit_page_write() from Python (a writepage op written in Python, tests)."""
        self.submit_page_write(pfn)

    cdef int delete_from_page_cache(self, AddressSpace mapping, pfn_t pfn, uint64_t shadow) except -1:
        """__delete_from_page_cache(page, shadow) -> page_cache_delete(): the page leaves its
        cache -- the mapping's a_ops delete_from_page_cache (which stores ``shadow``) or the
        i_pages itself for a mapping without a_ops (page_cache_delete_page) -- and NR_FILE_PAGES
        (NR_SHMEM);
        page->mapping is cleared.  The caller
        (__remove_mapping) has checked that only the cache holds it."""
        cdef page* p = &self.pm.mem_map[pfn]
        if mapping.a_ops != NULL:
            mapping.a_ops.delete_from_page_cache(mapping.a_ops.ctx, mapping, pfn, shadow)
        else:
            self.page_cache_delete_page(mapping, p.index, pfn, shadow)
        __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_PAGES, -folio_nr(p))
        if p.flags & (1ULL << PG_swapbacked):
            __mod_lruvec_page_state(self.pm.vs, p, NR_SHMEM, -folio_nr(p))
        p.mapping = 0
        return 0

    def set_page_dirty_py(self, pfn_t pfn):
        """set_page_dirty() from Python (a write through a page-cache interface, tests)."""
        self.set_page_dirty(pfn)

    cdef int write_one_page(self, AddressSpace mapping, pfn_t pfn,
                            writeback_control* wbc) except? -1000000:
        """write_one_page() (v6.18 pageout()'s writeout()): start the write of one page the
        caller has cleaned (clear_page_dirty_for_io) through the mapping's a_ops writepage,
        which sets the writeback and submits the write (submit_page_write: it ends at once, or
        when the caller's plug is flushed).  Returns the op's result: 0,
        AOP_WRITEPAGE_ACTIVATE (the op redirtied the page) or a negative errno;
        AOP_WRITEPAGE_ACTIVATE for a mapping without writepage (empty_aops: a_ops NULL).  The
        one write step of pageout(), the flusher reclaim wakes and filemap_write_and_wait()."""
        if mapping.a_ops == NULL or mapping.a_ops.writepage == NULL:
            return AOP_WRITEPAGE_ACTIVATE
        return mapping.a_ops.writepage(mapping.a_ops.ctx, mapping, pfn, wbc)

    def filemap_write_and_wait(self, AddressSpace mapping, uint64_t start=0,
                               uint64_t end=0xffffffffffffffff):
        """filemap_write_and_wait_range() (do_writepages -> write_cache_pages, then
        filemap_fdatawait) of the page indices [start, end] (default: the whole file): every
        dirty page, in index order, is cleaned for I/O
        (clear_page_dirty_for_io, write-protecting its shared PTEs) and written through
        write_one_page() -- the a_ops writepage; with no plug the disk completes each write at
        once (end_page_writeback: NR_WRITTEN).  shmem is not written (it has no backing store
        but swap); nor is a mapping whose a_ops have no writepage.  Returns the pages
        written."""
        cdef int64_t e, nr
        cdef uint64_t written = 0, index = start
        cdef writeback_control wbc
        cdef page* hp
        cdef XArray i_pages = mapping.i_pages
        if mapping.swapbacked or mapping.a_ops == NULL or mapping.a_ops.writepage == NULL:
            return 0
        if mapping.nrpages == 0:            # mapping_needs_writeback(): nrpages, not emptiness
            return 0
        wbc.nr_to_write = 0x7fffffffffffffff
        wbc.sync_mode = WB_SYNC_ALL
        wbc.for_reclaim = False
        wbc.range_start = start << PAGE_SHIFT
        wbc.range_end = 0x7fffffffffffffff if end >= (0x7fffffffffffffff >> PAGE_SHIFT) \
            else ((end + 1) << PAGE_SHIFT) - 1
        while i_pages.find(index, end, &index, &e):
            if not xa_is_value(e):
                hp = compound_head_page(self.pm, <pfn_t>e)
                if hp != &self.pm.mem_map[<pfn_t>e]:
                    e = <int64_t>(self.pm.mem_map[<pfn_t>e].compound_head)
                    index = hp.index        # a large folio: once, from its head
                nr = folio_nr(hp)
                if (hp.flags & (1ULL << PG_dirty)) and self.clear_page_dirty_for_io(<pfn_t>e):
                    self.write_one_page(mapping, <pfn_t>e, &wbc)
                    written += nr
                index += nr - 1
            if index >= end:
                break
            index += 1
        return written

    def set_page_writeback_py(self, pfn_t pfn):
        """set_page_writeback() from Python (a writepage op written in Python, tests)."""
        self.set_page_writeback(pfn)

    def end_page_writeback_py(self, pfn_t pfn):
        """end_page_writeback() from Python: the write of ``pfn`` completed."""
        self.end_page_writeback(pfn)

    cdef int migrate_page(self, pfn_t pfn) except? -1000000:
        """migrate_pages() of a list holding the one order-0 page ``pfn`` (MIGRATE_SYNC,
        MR_CONTIG_RANGE): PhysMem.migrate_pages counts pgmigrate_success or pgmigrate_fail and
        traces it.  0 if it moved, else the number not moved (1) or -ENOMEM."""
        cdef pfn_t lst[1]
        cdef int n = 1
        lst[0] = pfn
        return self.pm.migrate_pages(lst, &n, MIGRATE_SYNC, MR_CONTIG_RANGE)

    cdef int migrate_isolate_page(self, pfn_t pfn) except? -1000000:
        """isolate_migratepages_block()'s choice for an in-use order-0 page: 1 for a page on an
        LRU list (isolate_lru_page) or one cached by a mapping whose a_ops has a migratepage (a
        plugin's cache that keeps its pages off the LRU: the kernel's non-LRU movable pages,
        isolate_movable_page), else 0 (page tables, slab, kernel pages: not movable)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef AddressSpace mapping
        if p.flags & ((1ULL << PG_table) | (1ULL << PG_slab) | (1ULL << PG_zero)):
            return 0
        if p.flags & (1ULL << PG_lru):
            return 1
        if p.mapping == 0 or p.mapping & PAGE_MAPPING_ANON:
            return 0
        mapping = self.rmap.mappings.get(p.mapping)
        return 1 if (mapping is not None and mapping.a_ops != NULL
                     and mapping.a_ops.migratepage != NULL) else 0

    cdef int _migrate_page(self, pfn_t pfn) except? -1000000:
        """migrate_pages() of one in-use order-0 page for alloc_contig_range(): a new page
        (alloc_migration_target: the same node first), the bytes and the struct page state
        (mapping, index, flags, memcg: mem_cgroup_migrate) copied, every PTE and the page-cache
        slot pointed at the new page, the old one freed.  -EBUSY for a page that is not an
        anonymous or page-cache page, or is in the swap cache (not modelled: the kernel moves
        the swap cache's slot too), -ENOMEM when no target page is available."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef page* np
        cdef pfn_t new
        cdef int err, r
        cdef uint64_t* slot
        cdef VmArea vma
        cdef AddressSpace mapping = None
        cdef bint was_lru
        cdef uint64_t keep = (1ULL << PG_swapbacked) | (1ULL << 3) | (1ULL << 2) | (1ULL << 5) | (1ULL << 1) | (1ULL << 4) | (1ULL << 6)
        if p.mapping == 0 or p.flags & ((1ULL << PG_table) | (1ULL << PG_slab) | (1ULL << PG_zero)):
            return -16
        if p.flags & (1ULL << PG_owner_priv_1):
            return -16          # a swap-cache page: memsim does not move the swap cache's slot
        if not (p.mapping & PAGE_MAPPING_ANON):
            mapping = self.rmap.mappings.get(p.mapping)
            if mapping is None:
                return -16
        new = self.pm.alloc_pages_nodemask(self.gfp_user, 0, self.pm.page_to_nid(pfn), NULL)
        if new == NO_PFN:
            return -12
        np = &self.pm.mem_map[new]
        if mapping is not None:
            if mapping.a_ops != NULL:
                if mapping.a_ops.migratepage == NULL:
                    self.pm.put_page(new)
                    return -16
                r = mapping.a_ops.migratepage(mapping.a_ops.ctx, mapping, p.index, pfn, new)
                if r != 0:
                    self.pm.put_page(new)
                    return r
            elif mapping.i_pages.get(p.index) == pfn:
                mapping.i_pages[p.index] = new
        mappings = self.rmap.rmap_walk(pfn)
        was_lru = (p.flags >> PG_lru) & 1
        if was_lru:                             # isolate_lru_page()
            self.pm.lruvec_del_folio(self.pm.folio_lruvec(pfn), pfn)
            p.flags &= ~(1ULL << PG_lru)
        self.pm.copy_content(new, pfn)
        np.flags |= p.flags & keep
        np.mapping = p.mapping
        np.index = p.index
        np.memcg_data = p.memcg_data
        p.memcg_data = 0
        np._refcount = p._refcount
        np._mapcount = p._mapcount
        for vma, addr, level in mappings:
            err = 0
            slot = self.pgt.walk(vma.vm_mm, addr, False, &err)
            slot[0] = (slot[0] & ~PTE_PFN_MASK) | (new << PAGE_SHIFT)
        if page_to_nid(p) != page_to_nid(np):
            # migrate_page_move_mapping() and the rmap moves: the counters follow the page
            if mapping is not None:
                __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_PAGES, -1)
                __mod_lruvec_page_state(self.pm.vs, np, NR_FILE_PAGES, 1)
                if mapping.swapbacked:
                    __mod_lruvec_page_state(self.pm.vs, p, NR_SHMEM, -1)
                    __mod_lruvec_page_state(self.pm.vs, np, NR_SHMEM, 1)
            if np._mapcount > 0:
                __mod_lruvec_page_state(self.pm.vs, p, NR_FILE_MAPPED if mapping is not None else NR_ANON_MAPPED, -1)
                __mod_lruvec_page_state(self.pm.vs, np, NR_FILE_MAPPED if mapping is not None else NR_ANON_MAPPED, 1)
        p._mapcount = 0
        p.mapping = 0
        p._refcount = 1
        self.pm.put_page(pfn)
        if was_lru:                             # putback_lru_page(newpage)
            self.pm.lru_cache_add(new)
        return 0

    def migrate_one(self, pfn_t pfn):
        """migrate_page() from Python: 0, 1 (not moved) or -ENOMEM."""
        return self.migrate_page(pfn)

    cdef int migrate_huge_page_mappings(self, pfn_t old, pfn_t new) except? -1000000:
        """The core's part of unmap_and_move_huge_page() (mm/migrate.c) for a hugetlb plugin's
        migrate_huge_page: move the in-use compound page ``old`` (a hugetlb page, or an
        anonymous compound page) to ``new``, a compound page of the same order the caller
        allocated (alloc_migration_target -> alloc_huge_page_nodemask), not yet mapped or in a
        cache.

        The caller holds one reference to ``old`` (isolate_huge_page's) and one to ``new`` (its
        allocation's); both stay: putback_active_hugepage(old) drops the first (old's last
        reference then goes to the destructor) and putback_active_hugepage(new) the second.

        * The reference check of migrate_huge_page_move_mapping / migrate_page_move_mapping:
          ``old`` must have exactly one reference per leaf mapping it, one for a page cache and
          the caller's; another (a pin) gives -EAGAIN, nothing changed.
        * The page cache (hugetlbfs_migrate_page -> migrate_huge_page_move_mapping): a file
          page's ->migratepage (AddressSpace.a_ops) replaces the entry at ``old``'s index; a
          mapping without a_ops has it replaced in i_pages here; the cache's reference moves.
        * try_to_unmap(TTU_MIGRATION) and remove_migration_ptes(): every PMD (PUD) leaf that
          Rmap.rmap_walk finds maps ``new`` instead, with the same permissions; v5.14 keeps
          neither young nor dirty in a migration entry (a dirty leaf made the page PG_dirty, the
          new leaf is old and clean: pte_mkold(mk_pte(new, vm_page_prot))), v6.18 keeps both
          ("mm: remember young/dirty bit for page migrations", v6.1: ``migration_entry_ad``).
          One reference and one entire mapcount per leaf move from ``old`` to ``new``.
        * copy_huge_page() and migrate_page_states(): every subpage's bytes, and the head's
          mapping, index, memcg, PG_dirty / PG_uptodate / PG_referenced / PG_swapbacked.
          ``old`` is left with no mapping.  The hugetlb state (Migratable, Temporary, the
          subpool: move_hugetlb_state) is the caller's.

        memsim keeps no migration entries: the whole move is one C call with no scheduling
        point between the unmap and the remap, so no fault can find a leaf unmapped (the
        kernel's faults wait in migration_entry_wait_huge until remove_migration_ptes).
        Returns 0, -EAGAIN, or -EBUSY (a PTE-mapped or mlocked non-hugetlb page, a page on an
        LRU list, a file page whose mapping cannot migrate, or ->migratepage's errno)."""
        cdef page* op = &self.pm.mem_map[old]
        cdef page* np = &self.pm.mem_map[new]
        cdef uint64_t nr, i, e
        cdef int err, r
        cdef int64_t expected
        cdef uint64_t* slot
        cdef VmArea vma
        cdef AddressSpace mapping = None
        cdef bint hugetlb = (op.flags & (1ULL << PG_hugetlb)) != 0
        cdef uint64_t keep = ((1ULL << PG_dirty) | (1ULL << PG_uptodate) | (1ULL << PG_referenced)
                              | (1ULL << PG_swapbacked))
        if old >= self.pm.max_pfn or new >= self.pm.max_pfn:
            raise ValueError(f"migrate_huge_page_mappings: pfn {max(old, new):#x} is outside memory")
        if not (op.flags & (1ULL << PG_head)) or op.compound_order not in (HPAGE_PMD_ORDER, HPAGE_PUD_ORDER):
            raise ValueError(f"migrate_huge_page_mappings: pfn {old:#x} is not the head of a PMD or PUD sized compound page")
        if not (np.flags & (1ULL << PG_head)) or np.compound_order != op.compound_order:
            raise ValueError(f"migrate_huge_page_mappings: pfn {new:#x} is not the head of an order-{op.compound_order} compound page")
        if np.mapping != 0 or compound_mapcount_ptr(self.pm, new)[0] != 0 or np._refcount < 1:
            raise ValueError(f"migrate_huge_page_mappings: pfn {new:#x} is in use (mapped or cached) or has no reference")
        if op.flags & (1ULL << PG_lru):
            return -16
        if op.mapping != 0 and not (op.mapping & PAGE_MAPPING_ANON):
            mapping = self.rmap.mappings.get(op.mapping)
            if mapping is None or not hugetlb:
                return -16
        nr = 1ULL << op.compound_order
        mappings = self.rmap.rmap_walk(old)
        for vma, addr, level in mappings:
            if level == 4:
                return -16
            if not hugetlb and vma.vm_flags & C_VM_LOCKED:
                return -16
        expected = len(mappings) + 1 + (1 if mapping is not None else 0)
        if op._refcount != expected:
            return -11
        if mapping is not None:
            if mapping.a_ops != NULL:
                if mapping.a_ops.migratepage == NULL:
                    return -16
                r = mapping.a_ops.migratepage(mapping.a_ops.ctx, mapping, op.index, old, new)
                if r != 0:
                    return r
            elif mapping.i_pages.get(op.index) == old:
                mapping.i_pages[op.index] = new
            op._refcount -= 1
            np._refcount += 1
        for vma, addr, level in mappings:
            err = 0
            slot = self.pgt.walk(vma.vm_mm, addr, False, &err)
            e = slot[0]
            if e & _PAGE_DIRTY:
                op.flags |= 1ULL << PG_dirty        # try_to_unmap_one: set_page_dirty()
            e = (e & ~PTE_PFN_MASK) | (new << PAGE_SHIFT)
            if not self.migration_entry_ad:
                e &= ~(<uint64_t>(_PAGE_ACCESSED | _PAGE_DIRTY))
            slot[0] = e
            compound_mapcount_ptr(self.pm, old)[0] -= 1
            compound_mapcount_ptr(self.pm, new)[0] += 1
            op._refcount -= 1
            np._refcount += 1
            if not (vma.vm_flags & C_VM_HUGETLB):
                if compound_mapcount_ptr(self.pm, old)[0] == 0:
                    compound_mapped_stat(self.pm, old, -1)
                if compound_mapcount_ptr(self.pm, new)[0] == 1:
                    np.mapping = op.mapping         # the stat's item follows the mapping
                    compound_mapped_stat(self.pm, new, 1)
        for i in range(nr):
            self.pm.copy_content(new + i, old + i)
        np.flags |= op.flags & keep
        np.mapping = op.mapping
        np.index = op.index
        np.memcg_data = op.memcg_data
        op.memcg_data = 0
        op.mapping = 0
        op.flags &= ~(1ULL << PG_dirty)
        return 0

    def migrate_huge_page_mappings_py(self, pfn_t old, pfn_t new):
        """migrate_huge_page_mappings() from Python (tests, a plugin written in Python):
        0, -EAGAIN or -EBUSY."""
        return self.migrate_huge_page_mappings(old, new)


cdef class MmuGather:
    """struct mmu_gather (mm/mmu_gather.c): pages to free after the TLB flush, in batches: the
    bundled local batch of 8, then batch pages from GFP_NOWAIT|__GFP_NOWARN of 510, at most 19
    extra batches.  From v6.8 (``MmCore.nr_pages_slot``) __tlb_remove_folio_pages_size() counts
    a batch full at max - 1, keeping a slot for an encoded nr_pages: 7 and 509 pages, so a long
    unmap first flushes after 7 + 19 * 509 = 9,678 pages (before: 8 + 19 * 510 = 9,698).  A
    batch page is allocated under the PTE (or PMD) lock: with ``trace_context`` its
    mm_page_alloc shows preempt depth 1.

    tlb_flush_mmu() frees the queued pages batch by batch: v5.14 release_pages() (reverse
    order), v6.18 free_pages_and_swap_cache() -> folios_put_refs() in folio batches of 31
    (PhysMem.release_pages).  Page tables: v5.14 (x86 without paravirt) queues them as pages
    (tlb_remove_page); with ``MmCore.rcu_table_free`` (x86 v6.14+) tlb_remove_table() puts them
    on a table batch in a page of its own, which call_rcu() hands to the RCU callback once 509
    tables are queued or at the flush; tlb_remove_table_rcu() frees the tables and the batch
    page after the grace period (MmCore.rcu_do_batch)."""
    def __cinit__(self, MmCore core, MmStruct mm, bint fullmm):
        self.core = core
        self.mm = mm
        self.fullmm = fullmm
        self.pages = <pfn_t*>malloc(GATHER_CAPACITY * sizeof(pfn_t))
        self.nr = 0
        self.bundle_max = MMU_GATHER_BUNDLE - (1 if core.nr_pages_slot else 0)
        self.batch_max = MAX_GATHER_BATCH - (1 if core.nr_pages_slot else 0)
        self.active_max = self.bundle_max
        self.active = 0
        self.batch_pages = []
        self.batch_ends = [self.bundle_max]
        self.batch = NULL

    def __dealloc__(self):
        free(self.pages)
        free(self.batch)                # only left when an unmap failed half-way

    cdef bint remove_page(self, pfn_t pfn) except -1:
        """__tlb_remove_page_size() (v5.14) / __tlb_remove_folio_pages_size() (v6.8+): queue a
        page; True when no batch is left (flush needed)."""
        cdef pfn_t bp
        cdef TraceBuffer tb = self.core.tb
        self.pages[self.nr] = pfn
        self.nr += 1
        if self.nr == self.active_max:
            # tlb_next_batch(): reuse the next batch, or allocate one (at most 19)
            if self.active + 1 < len(self.batch_ends):
                self.active += 1
                self.active_max = self.batch_ends[self.active]
                return False
            if len(self.batch_pages) >= MAX_GATHER_BATCH_COUNT:
                return True
            if self.core.trace_context:
                tb.ctx_preempt += 1             # under the page table lock
            try:
                bp = self.core.pm.alloc_pages(GFP_KSWAPD_RECLAIM_ | GFP_NOWARN_, 0, -1)
            finally:
                if self.core.trace_context:
                    tb.ctx_preempt -= 1
            if bp == NO_PFN:
                return True
            self.batch_pages.append(bp)
            self.active += 1
            self.active_max += self.batch_max
            self.batch_ends.append(self.active_max)
        return False

    cdef int remove_table(self, pfn_t pfn) except -1:
        """pte_free_tlb() and co. on x86: without paravirt before v6.14, tlb_remove_page() of
        the table page; with ``rcu_table_free``, tlb_remove_table(): onto the table batch (a
        page from GFP_NOWAIT | __GFP_NOWARN the first time), call_rcu() once it holds 509.  No
        batch page: tlb_remove_table_one() frees the table at once (tlb_remove_table_sync_one)."""
        cdef MmCore core = self.core
        cdef pfn_t bp
        if not core.rcu_table_free:
            core.pgt.free_table_now(pfn)
            if self.remove_page(pfn):
                self.flush()
            return 0
        core.pgt.unlink_table(pfn)
        if self.batch == NULL:
            bp = core.pm.alloc_pages(GFP_KSWAPD_RECLAIM_ | GFP_NOWARN_, 0, -1)
            if bp == NO_PFN:
                core.pgt.pagetable_dtor(pfn)
                core.pm.put_page(pfn)
                return 0
            self.batch = <mmu_table_batch*>calloc(1, sizeof(mmu_table_batch))
            if self.batch == NULL:
                core.pm.free_pages(bp, 0)
                raise MemoryError()
            self.batch.page = bp
        self.batch.tables[self.batch.nr] = pfn
        self.batch.nr += 1
        if self.batch.nr == MAX_TABLE_BATCH:
            self.table_flush()
        return 0

    cdef int table_flush(self) except -1:
        """tlb_table_flush(): the table batch goes to RCU (tlb_remove_table_free: call_rcu)."""
        cdef mmu_table_batch* b = self.batch
        if b != NULL:
            self.batch = NULL
            self.core.call_rcu_table_batch(b)
        return 0

    cdef int flush(self) except -1:
        """tlb_flush_mmu() -> tlb_flush_mmu_free(): the table batch to RCU (tlb_table_flush),
        then every queued page, batch by batch (tlb_batch_pages_flush: release_pages /
        free_pages_and_swap_cache)."""
        cdef int start = 0, end, i
        cdef PhysMem pm = self.core.pm
        cdef MmCore core = self.core
        cdef page* p
        self.table_flush()
        for end in self.batch_ends:
            if start >= self.nr:
                break
            end = min(end, self.nr)
            if core.swap.free_swap_cache != NULL:
                for i in range(start, end):     # free_pages_and_swap_cache(): free_swap_cache()
                    p = &pm.mem_map[self.pages[i]]
                    if p.flags & (1ULL << PG_owner_priv_1) and p._mapcount <= 0:
                        core.swap.free_swap_cache(core.swap.ctx, self.pages[i])
            pm.release_pages(&self.pages[start], end - start)
            start = end
        self.nr = 0
        self.active = 0
        self.active_max = self.bundle_max
        return 0

    def finish(self):
        """tlb_finish_mmu(): flush, then free the extra batch pages (tlb_batch_list_free)."""
        self.flush()
        for bp in self.batch_pages:
            self.core.pm.free_pages(bp, 0)
        self.batch_pages = []
        self.batch_ends = [self.bundle_max]
