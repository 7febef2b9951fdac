# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""hugetlb mappings in C: reservation maps (region lists), subpools, and the fault path
(hugetlb.md sections 6 and 7).

Every hugetlb VMA -- a hugetlbfs file mapped shared or private, MAP_HUGETLB, a MFD_HUGETLB
memfd -- has VM_HUGETLB and this module's ``vm_operations_struct``; the core sends each of its
faults to ``huge_fault`` (MmCore.hugetlb_fault), which is hugetlb_fault(): hugetlb_no_page() for
an empty leaf, hugetlb_cow() for a write to a read-only one.  Nothing per fault goes through
Python: the VMA's file state (:class:`HugetlbFile`) is its mapping's ``a_ops_owner`` and a
private VMA's reservation (:class:`VmaResv`) its ``vm_private_data``, both read by typed casts.

Units: reservation maps and ``i_pages`` hold huge-page indices (the file offset in huge pages,
as v5.14's hugetlb page cache); ``page->index`` of a hugetlb page is in base pages, as the
core's reverse map (Rmap.rmap_walk) computes addresses from it.  Huge pages are not counted
in NR_FILE_PAGES (hugetlb_add_to_page_cache does not).
"""
from libc.stdint cimport uint64_t, int64_t, int32_t
from libc.stdlib cimport malloc, realloc, free
from memsim._types cimport (pfn_t, NO_PFN, PAGE_SHIFT, PTE_PFN_MASK, PAGE_MAPPING_ANON, PG_content, PG_dirty,
                            _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY,
                            _PAGE_PSE, _PAGE_UFFD_WP, PG_hugetlb)
from memsim.page cimport page
from memsim.mm cimport (MmCore, MmStruct, VmArea, AddressSpace, vm_fault, compound_mapcount_ptr,
                        VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_NOPAGE, FAULT_FLAG_WRITE,
                        VM_FAULT_HWPOISON_LARGE, PE_SIZE_PUD, XArray, pte_to_swp_entry, swp_type,
                        swp_offset, swp_entry, swp_entry_to_pte, PTE_MARKER_POISONED,
                        PTE_MARKER_UFFD_WP)
from memsim.physmem cimport PhysMem
from memsim.vmstat cimport __mod_lruvec_page_state, NR_HUGETLB
from memsim.plugins.hugetlb.hstate cimport (Hstate, Hugetlb, HPG_restore_reserve, HPG_migratable,
                                            HPG_freed)

cdef uint64_t C_VM_WRITE = 0x2, C_VM_SHARED = 0x8, C_VM_MAYSHARE = 0x80
cdef uint64_t C_VM_NORESERVE = 0x200000, C_VM_HUGETLB = 0x400000
cdef uint64_t C_VM_UFFD_MISSING = 0x200, C_VM_UFFD_WP = 0x1000, C_VM_UFFD_MINOR = 1ULL << 37


cdef inline bint _is_marker(MmCore core, uint64_t e, uint64_t bits) noexcept:
    """A PTE marker (v5.19+) carrying ``bits``."""
    cdef uint64_t ent
    if e == 0 or (e & _PAGE_PRESENT) or not core.pte_markers:
        return False
    ent = pte_to_swp_entry(e)
    return swp_type(ent) == core.swp_pte_marker and (swp_offset(ent) & bits) == bits
DEF ENOMEM = 12
DEF EFAULT = 14
DEF EEXIST = 17
DEF EINVAL = 22
DEF ENOSPC = 28
DEF NUMA_NO_NODE = -1


# -- reservation maps -----------------------------------------------------------------------------
cdef class ResvMap:
    """struct resv_map (mm/hugetlb.c): the reserved (shared) or consumed (private) huge-page
    indices as sorted, disjoint, non-adjacent [from, to) regions.  memsim runs a fault to its
    end without a preemption point, so region_chg()/region_add()'s two-phase protocol
    (adds_in_progress, the cache of region descriptors) has nothing to guard: region_add() adds
    and says how many indices were new."""

    def __cinit__(self):
        self.cap = 4
        self.nr = 0
        self.rf = <int64_t*>malloc(self.cap * sizeof(int64_t))
        self.rt = <int64_t*>malloc(self.cap * sizeof(int64_t))
        if self.rf == NULL or self.rt == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.rf)
        free(self.rt)

    cdef int grow(self) except -1:
        cdef int64_t* a = <int64_t*>realloc(self.rf, 2 * self.cap * sizeof(int64_t))
        if a == NULL:
            raise MemoryError()
        self.rf = a
        a = <int64_t*>realloc(self.rt, 2 * self.cap * sizeof(int64_t))
        if a == NULL:
            raise MemoryError()
        self.rt = a
        self.cap *= 2
        return 0

    cdef int64_t region_count(self, int64_t f, int64_t t) noexcept:
        """region_count(): how many indices of [f, t) are in the map."""
        cdef int64_t n = 0, lo, hi
        cdef Py_ssize_t i
        for i in range(self.nr):
            if self.rt[i] <= f:
                continue
            if self.rf[i] >= t:
                break
            lo = self.rf[i] if self.rf[i] > f else f
            hi = self.rt[i] if self.rt[i] < t else t
            n += hi - lo
        return n

    cdef int64_t region_chg(self, int64_t f, int64_t t) noexcept:
        """region_chg(): how many indices of [f, t) are not in the map yet."""
        return (t - f) - self.region_count(f, t)

    cdef int64_t region_add(self, int64_t f, int64_t t) except -1:
        """region_add(): [f, t) joins the map (merged with what it touches); the number of
        indices that were new."""
        cdef int64_t added = self.region_chg(f, t)
        cdef Py_ssize_t i = 0, j, k
        if added == 0:
            return 0
        while i < self.nr and self.rt[i] < f:       # regions wholly before (not touching)
            i += 1
        j = i
        while j < self.nr and self.rf[j] <= t:      # regions overlapping or touching
            if self.rf[j] < f:
                f = self.rf[j]
            if self.rt[j] > t:
                t = self.rt[j]
            j += 1
        if j == i:                                  # insert a new region at i
            if self.nr == self.cap:
                self.grow()
            k = self.nr
            while k > i:
                self.rf[k] = self.rf[k - 1]
                self.rt[k] = self.rt[k - 1]
                k -= 1
            self.nr += 1
        else:                                       # i..j-1 become one region
            k = 0
            while j + k < self.nr:
                self.rf[i + 1 + k] = self.rf[j + k]
                self.rt[i + 1 + k] = self.rt[j + k]
                k += 1
            self.nr -= j - i - 1
        self.rf[i] = f
        self.rt[i] = t
        return added

    cdef int64_t region_del(self, int64_t f, int64_t t) except -1:
        """region_del(): [f, t) leaves the map (a region straddling it is split); the number of
        indices removed."""
        cdef int64_t removed = self.region_count(f, t)
        cdef Py_ssize_t i = 0, k
        if removed == 0:
            return 0
        while i < self.nr:
            if self.rt[i] <= f or self.rf[i] >= t:
                i += 1
                continue
            if self.rf[i] < f and self.rt[i] > t:   # split in two
                if self.nr == self.cap:
                    self.grow()
                k = self.nr
                while k > i + 1:
                    self.rf[k] = self.rf[k - 1]
                    self.rt[k] = self.rt[k - 1]
                    k -= 1
                self.nr += 1
                self.rf[i + 1] = t
                self.rt[i + 1] = self.rt[i]
                self.rt[i] = f
                return removed
            if self.rf[i] < f:
                self.rt[i] = f
                i += 1
            elif self.rt[i] > t:
                self.rf[i] = t
                i += 1
            else:                                   # wholly inside: drop it
                k = i
                while k + 1 < self.nr:
                    self.rf[k] = self.rf[k + 1]
                    self.rt[k] = self.rt[k + 1]
                    k += 1
                self.nr -= 1
        return removed

    # Python views (resv.py, tests)
    def count(self, int64_t f, int64_t t) -> int:
        return self.region_count(f, t)

    def chg(self, int64_t f, int64_t t) -> int:
        return self.region_chg(f, t)

    def add(self, int64_t f, int64_t t) -> int:
        return self.region_add(f, t)

    def delete(self, int64_t f, int64_t t) -> int:
        return self.region_del(f, t)

    def regions(self):
        return [(self.rf[i], self.rt[i]) for i in range(self.nr)]


cdef class VmaResv:
    """vm_private_data of a private hugetlb VMA: its ResvMap (None after fork or when the
    mapping reserved nothing) and HPAGE_RESV_OWNER / HPAGE_RESV_UNMAPPED."""

    def __init__(self, ResvMap map=None, int flags=0):
        self.map = map
        self.flags = flags


cdef class HugepageSubpool:
    """struct hugepage_subpool (hugepage_new_subpool): ``max_hpages`` (size=) bounds the pages
    used, ``min_hpages`` (min_size=) are reserved in the pool at mount and kept in
    ``rsv_hpages`` while the subpool is below them."""

    def __init__(self, Hstate hstate, int64_t max_hpages, int64_t min_hpages):
        self.hstate = hstate
        self.max_hpages = max_hpages
        self.min_hpages = min_hpages
        self.used_hpages = 0
        self.rsv_hpages = min_hpages if min_hpages != -1 else 0
        self.id = 0

    cdef int64_t get_pages(self, int64_t delta) noexcept:
        """hugepage_subpool_get_pages(): -ENOMEM past max_hpages, else how many of ``delta``
        the global pool must still provide (the subpool's own reserves cover the rest)."""
        cdef int64_t ret = delta
        if self.max_hpages != -1:
            if self.used_hpages + delta <= self.max_hpages:
                self.used_hpages += delta
            else:
                return -ENOMEM
        if self.min_hpages != -1 and self.rsv_hpages:
            if delta > self.rsv_hpages:
                ret = delta - self.rsv_hpages
                self.rsv_hpages = 0
            else:
                ret = 0
                self.rsv_hpages -= delta
        return ret

    cdef int64_t put_pages(self, int64_t delta) noexcept:
        """hugepage_subpool_put_pages(): how many of ``delta`` the global pool gets back (the
        subpool keeps what refills its minimum)."""
        cdef int64_t ret = delta
        if self.max_hpages != -1:
            self.used_hpages -= delta
        if self.min_hpages != -1 and self.used_hpages < self.min_hpages:
            if self.rsv_hpages + delta <= self.min_hpages:
                ret = 0
            else:
                ret = self.rsv_hpages + delta - self.min_hpages
            self.rsv_hpages += delta
            if self.rsv_hpages > self.min_hpages:
                self.rsv_hpages = self.min_hpages
        return ret

    def get(self, int64_t delta) -> int:
        return self.get_pages(delta)

    def put(self, int64_t delta) -> int:
        return self.put_pages(delta)


cdef class HugetlbFile:
    """One hugetlbfs inode's hugetlb state (see the .pxd)."""

    def __init__(self, Hstate hstate, HugepageSubpool spool, AddressSpace mapping, inode):
        self.hstate = hstate
        self.spool = spool
        self.resv_map = ResvMap()
        self.mapping = mapping
        self.inode = inode
        self.i_blocks = 0


# -- the ops table --------------------------------------------------------------------------------
cdef inline HugetlbFile vma_file(VmArea vma):
    return <HugetlbFile>vma.vm_file.a_ops_owner


cdef inline int64_t vma_hugecache_offset(Hstate h, VmArea vma, uint64_t addr) noexcept:
    """vma_hugecache_offset(): the file offset of addr in huge pages."""
    return <int64_t>(((addr - vma.vm_start) >> (PAGE_SHIFT + h.order)) + (vma.vm_pgoff >> h.order))


cdef inline VmaResv vma_resv(VmArea vma):
    """The private VMA's VmaResv, or None (shared, or the child of a fork)."""
    if vma.vm_flags & C_VM_MAYSHARE or vma.vm_private_data is None:
        return None
    return <VmaResv>vma.vm_private_data


cdef int _vm_open(void* ctx, VmArea vma) except -1:
    """hugetlb_vm_op_open(): the owner's reservation map is shared with the new part of a split
    (a reference in the kernel; the object is simply shared here).  A fork's child reaches this
    with vm_private_data already reset (reset_vma_resv_huge_pages in dup_mm)."""
    return 0


cdef int _vm_close(void* ctx, VmArea vma) except -1:
    """hugetlb_vm_op_close(): a private owner VMA gives back the reservations it did not
    consume: (VMA pages) - (consumed indices), through its subpool, then hugetlb_acct_memory(-)."""
    cdef HugetlbMaps maps = <HugetlbMaps>ctx
    cdef VmaResv vr = vma_resv(vma)
    cdef HugetlbFile hf
    cdef int64_t start, end, reserve, gbl
    if vr is None or vr.map is None or not (vr.flags & HPAGE_RESV_OWNER):
        return 0
    hf = vma_file(vma)
    start = vma_hugecache_offset(hf.hstate, vma, vma.vm_start)
    end = vma_hugecache_offset(hf.hstate, vma, vma.vm_end)
    reserve = (end - start) - vr.map.region_count(start, end)
    if reserve:
        gbl = hf.spool.put_pages(reserve) if hf.spool is not None else reserve
        maps.hugetlb_acct_memory(hf.hstate, -gbl)
    return 0


cdef int _vm_may_split(void* ctx, VmArea vma, uint64_t addr) except? -1000000:
    """hugetlb_vm_op_split(): a cut inside a huge page is EINVAL."""
    cdef HugetlbFile hf = vma_file(vma)
    if addr & ((4096ULL << hf.hstate.order) - 1):
        return -22
    return 0


cdef uint64_t _vm_pagesize(void* ctx, VmArea vma) except 0:
    """hugetlb_vm_op_pagesize(): huge_page_size(hstate_vma(vma))."""
    return 4096ULL << vma_file(vma).hstate.order


cdef int _vm_huge_fault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, int pe_size) except -1:
    """hugetlb_fault(): the leaf of the huge page around the address (tables allocated);
    empty: hugetlb_no_page(); a write to a read-only leaf: hugetlb_cow(); else it is marked
    young (and dirty for a write)."""
    cdef HugetlbMaps maps = <HugetlbMaps>ctx
    cdef HugetlbFile hf = vma_file(vma)
    cdef Hstate h = hf.hstate
    cdef int level = 2 if h.order >= 18 else 3
    cdef uint64_t size = 4096ULL << h.order
    cdef uint64_t haddr = vmf.real_address & ~(size - 1)
    cdef int err = 0
    cdef uint64_t* slot
    cdef uint64_t e
    cdef int64_t idx = vma_hugecache_offset(h, vma, haddr)
    cdef bint write = (vmf.flags & FAULT_FLAG_WRITE) != 0
    cdef int64_t pc
    cdef pfn_t pagecache_page = NO_PFN
    if level == 2:
        slot = maps.core.pgt.walk_pud(mm, haddr, True, &err)
    else:
        slot = maps.core.pgt.walk_pmd(mm, haddr, True, &err)
    if slot == NULL:
        return VM_FAULT_OOM
    e = slot[0]
    if e == 0:
        return maps.hugetlb_no_page(mm, vma, hf, idx, haddr, slot, level, vmf)
    if not (e & _PAGE_PRESENT):
        # a PTE marker (v6.x): a poisoned page, or uffd-wp on a page not mapped yet
        if _is_marker(maps.core, e, PTE_MARKER_POISONED):
            return VM_FAULT_HWPOISON_LARGE
        return maps.hugetlb_no_page(mm, vma, hf, idx, haddr, slot, level, vmf)
    if write and (e & _PAGE_UFFD_WP) and (vma.vm_flags & C_VM_UFFD_WP):
        # hugetlb_fault(): a write to a uffd-wp protected leaf is the monitor's (v5.19+)
        return maps.core.userfault(mm, vma, vmf, C_VM_UFFD_WP)
    if write and not (e & _PAGE_RW):
        if not (vma.vm_flags & C_VM_WRITE):
            return VM_FAULT_SIGBUS
        if vma.vm_flags & C_VM_MAYSHARE:
            # hugetlb_wp(): "take out MAP_SHARED mappings first" -- a shared leaf left read-only
            # (by uffd-wp, lifted since) is made writable
            slot[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED
            return 0
        if not (vma.vm_flags & C_VM_MAYSHARE):
            # hugetlb_fault(): the page cache page of a private file mapping, for hugetlb_cow()
            if hf.mapping.i_pages.load(<uint64_t>idx, &pc) and pc >= 0:
                pagecache_page = <pfn_t>pc
        return maps.hugetlb_cow(mm, vma, hf, haddr, slot, level, pagecache_page)
    slot[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
    return 0


cdef pfn_t _hugetlbfs_lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    """a_ops lookup (find_get_page) of a base-page index of a hugetlbfs file: the subpage of the
    huge page cached at its huge index, for the core's generic walks; NO_PFN for a hole."""
    cdef HugetlbFile hf = <HugetlbFile>mapping.a_ops_owner
    cdef int64_t pc
    if not mapping.i_pages.load(index >> hf.hstate.order, &pc) or pc < 0:
        return NO_PFN
    return <pfn_t>pc + (index & ((1ULL << hf.hstate.order) - 1))


cdef int _hugetlbfs_migrate_page(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                                 pfn_t new) except? -1000000:
    """a_ops->migratepage of a hugetlbfs file (hugetlbfs_migrate_page /
    migrate_huge_page_move_mapping), called by the core's migrate_huge_page_mappings with the
    old page's index (base pages): the new page takes the old one's slot at its huge index, and
    the subpool follows it (hugetlb_set_page_subpool).  The core moves the cache's reference."""
    cdef HugetlbMaps maps = <HugetlbMaps>ctx
    cdef HugetlbFile hf = <HugetlbFile>mapping.a_ops_owner
    cdef uint64_t idx = index >> hf.hstate.order
    cdef int64_t pc
    if not mapping.i_pages.load(idx, &pc) or pc != <int64_t>old:
        return -11                              # -EAGAIN: not the page the cache holds
    mapping.i_pages.store(idx, <int64_t>new)
    maps.pm.mem_map[new + 1].private = maps.pm.mem_map[old + 1].private
    maps.pm.mem_map[old + 1].private = 0
    return 0


cdef int _free_huge_page_op(void* ctx, pfn_t head) except -1:
    """hugetlb_page_ops.free_huge_page with mappings: the whole of free_huge_page() -- the
    subpool step and (v6.18) NR_HUGETLB, then the pool's part (Hstate.free_huge_page) -- runs
    as the pool's destructor does (memsim.plugins.hugetlb.hstate): as task work of the task that
    dropped the last reference, or at once while the plugin's own code puts pages (sync_free)."""
    cdef Hugetlb hg = <Hugetlb>ctx
    cdef HugetlbMaps maps = <HugetlbMaps>hg.mappings
    if hg.task_work is not None and hg.sync_free == 0:
        hg.task_work(lambda: maps.free_huge_page(head))
        return 0
    return maps.free_huge_page(head)


cdef class HugetlbMaps:
    """Per-machine state of the mappings (see the .pxd)."""

    def __init__(self, Hugetlb hg, MmCore core, bint nr_hugetlb=False):
        self.hg = hg
        self.core = core
        self.pm = hg.pm
        self.subpools = [None]
        self.nr_hugetlb = nr_hugetlb
        self.stats = {}
        self.vm_ops.open = _vm_open
        self.vm_ops.close = _vm_close
        self.vm_ops.may_split = _vm_may_split
        self.vm_ops.fault = NULL
        self.vm_ops.huge_fault = _vm_huge_fault
        self.vm_ops.page_mkwrite = NULL
        self.vm_ops.map_pages = NULL
        self.vm_ops.pagesize = _vm_pagesize
        self.vm_ops.ctx = <void*>self
        self.aops.lookup = _hugetlbfs_lookup
        self.aops.migratepage = _hugetlbfs_migrate_page
        self.aops.ctx = <void*>self

    def install(self):
        """Wrap the allocator's destructor (subpool and NR_HUGETLB first, then the pool's
        free_huge_page); the ops table's ctx stays the Hugetlb."""
        self.hg.mappings = self
        self.pm.hugetlb.free_huge_page = _free_huge_page_op

    def set_vm_ops(self, VmArea vma):
        """vma->vm_ops = &hugetlb_vm_ops."""
        vma.vm_ops = &self.vm_ops
        vma.vm_ops_owner = self

    def install_aops(self, AddressSpace mapping):
        """inode->i_mapping->a_ops = &hugetlbfs_aops (hugetlbfs_get_inode()): the core's generic
        walks look pages up through it and migration replaces them; nothing else (no alloc: the
        hugetlb fault path is this module's; no delete_from_page_cache: reclaim never sees these
        pages, which are on no LRU and dirty)."""
        mapping.a_ops = &self.aops

    def add_subpool(self, HugepageSubpool spool):
        spool.id = len(self.subpools)
        self.subpools.append(spool)

    # -- counters ------------------------------------------------------------------------------
    cdef int mod_nr_hugetlb(self, pfn_t head, int64_t nr) except -1:
        """lruvec_stat_mod_folio(folio, NR_HUGETLB, nr) (v6.18)."""
        if self.nr_hugetlb:
            __mod_lruvec_page_state(self.pm.vs, &self.pm.mem_map[head], NR_HUGETLB, nr)
        return 0

    # -- the reservation accounting (hugetlb.md 5, 6.3) ------------------------------------------
    cpdef int gather_surplus_pages(self, Hstate h, int64_t delta) except? -1000:
        """gather_surplus_pages(): resv += delta when the free pages cover it; else allocate the
        surplus pages needed (each bounded by nr_overcommit_hugepages), keep exactly what is
        still needed on the free lists and free the rest; -ENOMEM if short (every page
        allocated is freed again -- through free_huge_page, which on v6.18 lowers NR_HUGETLB
        for pages that never raised it)."""
        cdef int64_t needed = <int64_t>(h.resv_huge_pages + delta) - <int64_t>h.free_huge_pages
        cdef int64_t allocated = 0, i
        cdef list surplus = []
        cdef pfn_t head
        cdef bint alloc_ok = True
        cdef int ret = -ENOMEM
        if needed <= 0:
            h.resv_huge_pages += delta
            return 0
        while True:
            i = 0
            while i < needed:
                head = h.alloc_surplus_huge_page(self.hg.htlb_alloc_mask, NUMA_NO_NODE, 0)
                if head == NO_PFN:
                    alloc_ok = False
                    break
                surplus.append(head)
                i += 1
            allocated += i
            needed = <int64_t>(h.resv_huge_pages + delta) - <int64_t>(h.free_huge_pages + allocated)
            if needed > 0:
                if alloc_ok:
                    continue
                break
            needed += allocated
            h.resv_huge_pages += delta
            ret = 0
            for head in surplus[:]:
                needed -= 1
                if needed < 0:
                    break
                surplus.remove(head)
                self.pm.mem_map[head]._refcount = 0
                h.enqueue_huge_page(head)
            break
        for head in surplus:
            self.pm.mem_map[head]._refcount = 0
            self.free_huge_page(head)
        return ret

    cpdef int return_unused_surplus_pages(self, Hstate h, int64_t unused) except -1:
        """return_unused_surplus_pages(): resv -= unused, then up to min(unused, surplus) free
        surplus pages go back to buddy (free round robin over the memory nodes)."""
        cdef int64_t nr
        cdef pfn_t head
        h.resv_huge_pages -= unused
        if h.is_gigantic() and not self.hg.contig_alloc:
            return 0
        nr = unused if unused < <int64_t>h.surplus_huge_pages else <int64_t>h.surplus_huge_pages
        while nr > 0:
            head = h.remove_pool_huge_page(self.hg.memory_nodes, True)
            if head == NO_PFN:
                break
            h.update_and_free_page(head)
            nr -= 1
        return 0

    cpdef int hugetlb_acct_memory(self, Hstate h, int64_t delta) except? -1000:
        """hugetlb_acct_memory(): grow the reservations (gather_surplus_pages; then the quirk
        "delta > allowed_mems_nr" gives them back and fails) or shrink them.  0 or -ENOMEM."""
        cdef int64_t allowed = 0
        cdef int n
        if delta > 0:
            if self.gather_surplus_pages(h, delta) < 0:
                return -ENOMEM
            for n in range(self.hg.nr_nodes):
                if (self.hg.memory_nodes >> n) & 1:
                    allowed += h.node_counts(n)[1]
            if delta > allowed:
                self.return_unused_surplus_pages(h, delta)
                return -ENOMEM
        elif delta < 0:
            self.return_unused_surplus_pages(h, -delta)
        return 0

    # -- fault-time allocation (hugetlb.md 7.1) -----------------------------------------------
    cdef int64_t vma_needs_reservation(self, HugetlbFile hf, VmArea vma, int64_t idx) noexcept:
        """vma_needs_reservation(): 0 if a reservation exists for idx, else 1 (shared: not in
        the inode's map; private owner: consumed already; no map: 1)."""
        cdef VmaResv vr
        cdef int64_t ret
        if vma.vm_flags & C_VM_MAYSHARE:
            return hf.resv_map.region_chg(idx, idx + 1)
        vr = vma_resv(vma)
        if vr is None or vr.map is None:
            return 1
        ret = vr.map.region_chg(idx, idx + 1)
        if vr.flags & HPAGE_RESV_OWNER:
            return 0 if ret > 0 else 1
        return ret

    cdef int vma_commit_reservation(self, HugetlbFile hf, VmArea vma, int64_t idx) except -1:
        """vma_commit_reservation(): idx enters the map (shared: reserved; private: consumed)."""
        cdef VmaResv vr
        if vma.vm_flags & C_VM_MAYSHARE:
            hf.resv_map.region_add(idx, idx + 1)
        else:
            vr = vma_resv(vma)
            if vr is not None and vr.map is not None:
                vr.map.region_add(idx, idx + 1)
        return 0

    cdef pfn_t dequeue_huge_page_vma(self, Hstate h, VmArea vma, bint avoid_reserve, int64_t chg) except? 0xfffffffffffffffe:
        """dequeue_huge_page_vma(): nothing when the page would take an unreserved page from a
        pool whose free pages are all reserved; else the first free page, local node first
        then the others (the VMA's mempolicy is not consulted: MPOL_DEFAULT).  A page taken
        against a reservation consumes it (resv--, RestoreReserve)."""
        cdef bint has_reserve = self.vma_has_reserves(vma, chg)
        cdef pfn_t head = NO_PFN
        cdef int nid, n
        if not has_reserve and h.free_huge_pages - h.resv_huge_pages == 0:
            return NO_PFN
        if avoid_reserve and h.free_huge_pages - h.resv_huge_pages == 0:
            return NO_PFN
        nid = self.pm.cpu_node[self.pm.cur.cpu]
        head = h.dequeue_huge_page_node_exact(nid)
        n = 0
        while head == NO_PFN and n < self.hg.nr_nodes:
            if n != nid:
                head = h.dequeue_huge_page_node_exact(n)
            n += 1
        if head != NO_PFN and has_reserve and not avoid_reserve:
            self.pm.mem_map[head].private |= HPG_restore_reserve
            h.resv_huge_pages -= 1
        return head

    cdef bint vma_has_reserves(self, VmArea vma, int64_t chg):
        """vma_has_reserves()."""
        cdef VmaResv vr
        if vma.vm_flags & C_VM_NORESERVE:
            return (vma.vm_flags & C_VM_MAYSHARE) != 0 and chg == 0
        if vma.vm_flags & C_VM_MAYSHARE:
            return chg == 0
        vr = vma_resv(vma)
        if vr is not None and vr.flags & HPAGE_RESV_OWNER:
            return chg == 0
        return False

    cdef pfn_t alloc_huge_page(self, HugetlbFile hf, VmArea vma, uint64_t addr, bint avoid_reserve,
                               int* err) except? 0xfffffffffffffffe:
        """alloc_huge_page() (v6.18 alloc_hugetlb_folio): the reservation lookup, the subpool
        (ENOSPC past size=), a pool page (dequeue_huge_page_vma) or a surplus page
        (alloc_surplus_huge_page; ENOSPC when none), the commit in the map.  The page is in
        use with one reference, its subpool in page[1].private; v6.18 adds it to NR_HUGETLB."""
        cdef Hstate h = hf.hstate
        cdef int64_t idx = vma_hugecache_offset(h, vma, addr)
        cdef int64_t map_chg, gbl_chg
        cdef pfn_t head
        map_chg = gbl_chg = self.vma_needs_reservation(hf, vma, idx)
        if map_chg < 0:
            err[0] = -ENOMEM
            return NO_PFN
        if map_chg or avoid_reserve:
            gbl_chg = hf.spool.get_pages(1) if hf.spool is not None else 1
            if gbl_chg < 0:
                err[0] = -ENOSPC
                return NO_PFN
            if avoid_reserve:
                gbl_chg = 1
        head = self.dequeue_huge_page_vma(h, vma, avoid_reserve, gbl_chg)
        if head == NO_PFN:
            head = h.alloc_surplus_huge_page(self.hg.htlb_alloc_mask, NUMA_NO_NODE, 0)
            if head == NO_PFN:
                if (map_chg or avoid_reserve) and hf.spool is not None:
                    hf.spool.put_pages(1)
                err[0] = -ENOSPC
                return NO_PFN
            if not avoid_reserve and self.vma_has_reserves(vma, gbl_chg):
                self.pm.mem_map[head].private |= HPG_restore_reserve
                h.resv_huge_pages -= 1
        self.pm.mem_map[head + 1].private = <uint64_t>(hf.spool.id if hf.spool is not None else 0)
        self.vma_commit_reservation(hf, vma, idx)
        self.mod_nr_hugetlb(head, <int64_t>1 << h.order)
        err[0] = 0
        return head

    cdef int free_huge_page(self, pfn_t head) except -1:
        """free_huge_page() (v6.18 free_huge_folio): a page that consumed no reservation goes
        back to its subpool, which may keep it as a reserve (then the reservation is restored);
        v6.18 lowers NR_HUGETLB; then the pool takes it (Hstate.free_huge_page)."""
        cdef page* p = &self.pm.mem_map[head]
        cdef Hstate h = self.hg.page_hstate(head)
        cdef uint64_t sid = self.pm.mem_map[head + 1].private
        cdef HugepageSubpool spool
        self.pm.mem_map[head + 1].private = 0
        if sid and sid < <uint64_t>len(self.subpools) and not (p.private & HPG_restore_reserve):
            spool = self.subpools[sid]
            if spool is not None and spool.put_pages(1) == 0:
                p.private |= HPG_restore_reserve
        self.mod_nr_hugetlb(head, -(<int64_t>1 << h.order))
        return h.free_huge_page(head)

    # -- mapping a huge page -------------------------------------------------------------------
    cdef int set_huge_pte_at(self, MmStruct mm, VmArea vma, uint64_t* slot, pfn_t head, int level, bint write) except -1:
        """set_huge_pte_at() with make_huge_pte(), page_dup_rmap() / the new anon rmap's
        mapcount and hugetlb_count_add(): one reference and one entire mapcount per leaf."""
        cdef page* hp = &self.pm.mem_map[head]
        cdef uint64_t entry = (head << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_PSE
        if write:
            entry |= _PAGE_RW | _PAGE_DIRTY
        hp._refcount += 1
        compound_mapcount_ptr(self.pm, head)[0] += 1
        mm.hugetlb_usage += 1ULL << (9 if level == 3 else 18)
        slot[0] = entry
        return 0

    cdef int hugetlb_no_page(self, MmStruct mm, VmArea vma, HugetlbFile hf, int64_t idx, uint64_t haddr,
                             uint64_t* slot, int level, vm_fault* vmf) except -1:
        """hugetlb_no_page(): SIGBUS for a child whose parent took the page away
        (HPAGE_RESV_UNMAPPED) or past i_size; the page cache page, or a new zeroed page
        (alloc_huge_page: ENOMEM is OOM, ENOSPC SIGBUS) added to the cache (shared:
        RestoreReserve cleared, i_blocks) or made anonymous (private); mapped writable only in a
        writable shared VMA, a private write fault mapping a new page writable at once (the
        reuse of hugetlb_cow) and copying a cached one."""
        cdef Hstate h = hf.hstate
        cdef VmaResv vr = vma_resv(vma)
        cdef int64_t pc
        cdef pfn_t head = NO_PFN
        cdef int err = 0
        cdef bint new_page = False, anon = False
        cdef page* hp
        cdef bint write = (vmf.flags & FAULT_FLAG_WRITE) != 0
        cdef unsigned int order = h.order
        cdef bint wp_marker = _is_marker(self.core, slot[0], PTE_MARKER_UFFD_WP)
        if vr is not None and vr.flags & HPAGE_RESV_UNMAPPED:
            return VM_FAULT_SIGBUS
        if <uint64_t>idx >= (hf.mapping.i_size >> (PAGE_SHIFT + order)):
            return VM_FAULT_SIGBUS
        if hf.mapping.i_pages.load(<uint64_t>idx, &pc) and pc >= 0:
            head = <pfn_t>pc
        # hugetlb_handle_userfault(): a hole in a VM_UFFD_MISSING VMA, a cached page in a
        # VM_UFFD_MINOR one (its reference dropped before the thread sleeps)
        if head == NO_PFN and vma.vm_flags & C_VM_UFFD_MISSING:
            return self.core.userfault(mm, vma, vmf, C_VM_UFFD_MISSING)
        if head != NO_PFN and vma.vm_flags & C_VM_UFFD_MINOR:
            return self.core.userfault(mm, vma, vmf, C_VM_UFFD_MINOR)
        if head == NO_PFN:
            if not (vma.vm_flags & C_VM_MAYSHARE) and vma.anon_vma == 0:
                if self.core.anon_vma_prepare(vma) == 0:
                    return VM_FAULT_OOM
            head = self.alloc_huge_page(hf, vma, haddr, False, &err)
            if head == NO_PFN:
                return VM_FAULT_OOM if err == -ENOMEM else VM_FAULT_SIGBUS
            if self.pm.content:                     # clear_huge_page()
                self.pm.drop_content(head, order)
            new_page = True
            hp = &self.pm.mem_map[head]
            if vma.vm_flags & C_VM_MAYSHARE:
                self.huge_add_to_page_cache(hf, head, idx)
            else:
                # hugepage_add_new_anon_rmap()
                hp.mapping = vma.anon_vma | PAGE_MAPPING_ANON
                hp.index = ((haddr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
                anon = True
        elif not (vma.vm_flags & C_VM_MAYSHARE) and write:
            # a private write fault on a cached page: map it read-only, then break COW
            slot[0] = 0
            self.set_huge_pte_at(mm, vma, slot, head, level, False)
            return self.hugetlb_cow(mm, vma, hf, haddr, slot, level, head)
        slot[0] = 0                                 # a uffd-wp marker the page replaces
        self.set_huge_pte_at(mm, vma, slot, head, level,
                             ((vma.vm_flags & C_VM_WRITE) and (vma.vm_flags & C_VM_SHARED)) or (anon and write))
        if wp_marker:
            # the marker's protection goes to the new leaf (pte_marker_uffd_wp(old_pte)): a
            # write faults again and is the monitor's WP fault
            slot[0] = (slot[0] & ~(<uint64_t>_PAGE_RW)) | _PAGE_UFFD_WP
        if anon:
            self.pm.mem_map[head]._refcount -= 1    # the mapping holds the allocation's reference
            self.pm.mem_map[head].private &= ~HPG_restore_reserve
        if new_page:
            self.pm.mem_map[head].private |= HPG_migratable
        return 0

    def mfill_atomic_hugetlb(self, host, VmArea vma, MmStruct mm, uint64_t dst_start, MmStruct src_mm,
                             uint64_t src_start, uint64_t length, int kind, int mode):
        """__mcopy_atomic_hugetlb() + hugetlb_mcopy_atomic_pte() (v6.18 mfill_atomic_hugetlb /
        hugetlb_mfill_atomic_pte), the hugetlb side of the userfaultfd fill ioctls
        (userfaultfd.md 6.6): ZEROPAGE is EINVAL, the range must be huge page aligned; then per
        huge page: COPY over a mapped page EEXIST, over a page the file caches (shared VMA)
        EEXIST, else a page from alloc_huge_page (its reservation; ENOMEM when the pool is dry)
        with the source's bytes, into the cache (shared) or anonymous (private); CONTINUE maps
        the cached page (EFAULT for a hole or past the end), read-only in a private VMA; POISON
        (v6.6+) a poisoned marker at a none entry.  ``kind``: 0 COPY, 1 ZEROPAGE, 2 CONTINUE,
        3 POISON (memsim.plugins.userfaultfd.uffd).  Returns the bytes done, else -errno."""
        cdef HugetlbFile hf = vma_file(vma)
        cdef Hstate h = hf.hstate
        cdef uint64_t size = 4096ULL << h.order, addr, src, done = 0, i, nr = 1ULL << h.order
        cdef int level = 2 if h.order >= 18 else 3
        cdef int err = 0
        cdef int64_t ret = 0, idx, pc
        cdef uint64_t* slot
        cdef pfn_t head
        cdef bint shared = (vma.vm_flags & C_VM_MAYSHARE) != 0, writable
        cdef page* hp
        if kind == 1:
            return -EINVAL
        if dst_start & (size - 1) or length & (size - 1):
            return -EINVAL
        if not shared and vma.anon_vma == 0 and kind == 0:
            if self.core.anon_vma_prepare(vma) == 0:
                return -ENOMEM
        addr, src = dst_start, src_start
        while done < length:
            err = 0
            if level == 2:
                slot = self.core.pgt.walk_pud(mm, addr, True, &err)
            else:
                slot = self.core.pgt.walk_pmd(mm, addr, True, &err)
            if slot == NULL:
                ret = -ENOMEM
                break
            idx = vma_hugecache_offset(h, vma, addr)
            if kind == 3:
                if slot[0] != 0:
                    ret = -EEXIST
                    break
                slot[0] = swp_entry_to_pte(swp_entry(self.core.swp_pte_marker, PTE_MARKER_POISONED))
            elif kind == 2:
                if not hf.mapping.i_pages.load(<uint64_t>idx, &pc) or pc < 0:
                    ret = -EFAULT
                    break
                if <uint64_t>idx >= (hf.mapping.i_size >> (PAGE_SHIFT + h.order)):
                    ret = -EFAULT
                    break
                if slot[0] != 0 and not _is_marker(self.core, slot[0], PTE_MARKER_UFFD_WP | 0) \
                        and not _is_marker(self.core, slot[0], PTE_MARKER_POISONED):
                    ret = -EEXIST
                    break
                slot[0] = 0
                head = <pfn_t>pc
                writable = shared and (vma.vm_flags & C_VM_WRITE) != 0
                self.set_huge_pte_at(mm, vma, slot, head, level, writable)
                if mode & 0x2:                  # UFFDIO_CONTINUE_MODE_WP
                    slot[0] = (slot[0] & ~(<uint64_t>_PAGE_RW)) | _PAGE_UFFD_WP
            else:
                if slot[0] != 0 and (slot[0] & _PAGE_PRESENT):
                    ret = -EEXIST
                    break
                if shared and hf.mapping.i_pages.load(<uint64_t>idx, &pc) and pc >= 0:
                    ret = -EEXIST
                    break
                if host.src_pfn(src_mm, src) < 0:
                    ret = -EFAULT
                    break
                head = self.alloc_huge_page(hf, vma, addr, False, &err)
                if head == NO_PFN:
                    ret = -ENOMEM
                    break
                if self.pm.content:
                    self.pm.drop_content(head, h.order)
                    for i in range(nr):
                        pc = host.src_pfn(src_mm, src + i * 4096)
                        if pc >= 0 and self.pm.mem_map[<pfn_t>pc].flags & (1ULL << PG_content):
                            self.pm.copy_content(head + i, <pfn_t>pc)
                if shared and <uint64_t>idx >= (hf.mapping.i_size >> (PAGE_SHIFT + h.order)):
                    self.pm.mem_map[head]._refcount = 0
                    self.free_huge_page(head)
                    ret = -EFAULT
                    break
                hp = &self.pm.mem_map[head]
                if shared:
                    self.huge_add_to_page_cache(hf, head, idx)
                else:
                    hp.mapping = vma.anon_vma | PAGE_MAPPING_ANON
                    hp.index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
                slot[0] = 0
                self.set_huge_pte_at(mm, vma, slot, head, level, (vma.vm_flags & C_VM_WRITE) != 0)
                if not shared:
                    hp._refcount -= 1           # the mapping holds the allocation's reference
                    hp.private &= ~HPG_restore_reserve
                hp.private |= HPG_migratable
                if mode & 0x2:                  # UFFDIO_COPY_MODE_WP
                    slot[0] = (slot[0] & ~(<uint64_t>_PAGE_RW)) | _PAGE_UFFD_WP
            done += size
            addr += size
            src += size
        if done:
            return <int64_t>done
        return ret

    cdef int hugetlb_cow(self, MmStruct mm, VmArea vma, HugetlbFile hf, uint64_t haddr, uint64_t* slot,
                         int level, pfn_t pagecache_page) except -1:
        """hugetlb_cow() (v6.18 hugetlb_wp): an anonymous page only this leaf maps is made
        writable; else a new page (outside the reservation for the owner of a private mapping
        whose page is not the file's), the bytes copied, the leaf replaced.  When the owner
        cannot get one, unmap_ref_private() takes the page from the other processes (their
        later faults there are SIGBUS) and the fault is retried."""
        cdef pfn_t old = (slot[0] & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* op = &self.pm.mem_map[old]
        cdef VmaResv vr = vma_resv(vma)
        cdef bint outside_reserve = False
        cdef int err = 0
        cdef pfn_t new
        cdef uint64_t nr = 1ULL << hf.hstate.order, i
        if compound_mapcount_ptr(self.pm, old)[0] == 1 and op.mapping & PAGE_MAPPING_ANON:
            slot[0] |= _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED
            return 0
        if vr is not None and vr.flags & HPAGE_RESV_OWNER and old != pagecache_page:
            outside_reserve = True
        if vma.anon_vma == 0 and self.core.anon_vma_prepare(vma) == 0:
            return VM_FAULT_OOM
        new = self.alloc_huge_page(hf, vma, haddr, outside_reserve, &err)
        if new == NO_PFN:
            if outside_reserve and compound_mapcount_ptr(self.pm, old)[0] > 1:
                self.unmap_ref_private(mm, vma, hf, old, haddr, level)
                if compound_mapcount_ptr(self.pm, old)[0] == 1 and op.mapping & PAGE_MAPPING_ANON:
                    slot[0] |= _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED
                    return 0
            return VM_FAULT_OOM if err == -ENOMEM else VM_FAULT_SIGBUS
        # copy_user_huge_page(): only the frames that hold bytes
        if self.pm.content:
            self.pm.drop_content(new, hf.hstate.order)
            for i in range(nr):
                if self.pm.mem_map[old + i].flags & (1ULL << PG_content):
                    self.pm.copy_content(new + i, old + i)
        # break COW: the old page leaves this leaf, the new one is this VMA's anonymous page
        slot[0] = 0
        compound_mapcount_ptr(self.pm, old)[0] -= 1
        mm.hugetlb_usage -= nr
        self.pm.mem_map[new].mapping = vma.anon_vma | PAGE_MAPPING_ANON
        self.pm.mem_map[new].index = ((haddr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        self.set_huge_pte_at(mm, vma, slot, new, level, True)
        self.pm.mem_map[new]._refcount -= 1
        self.pm.mem_map[new].private &= ~HPG_restore_reserve
        self.pm.mem_map[new].private |= HPG_migratable
        self.pm.put_page(old)
        return 0

    cdef int unmap_ref_private(self, MmStruct mm, VmArea vma, HugetlbFile hf, pfn_t head, uint64_t haddr, int level) except -1:
        """unmap_ref_private(): every other private VMA of the file that is not an owner loses
        its mapping of the page at this offset and is marked HPAGE_RESV_UNMAPPED."""
        cdef VmArea iv
        cdef uint64_t pgoff = ((haddr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff, addr
        cdef uint64_t* s
        cdef int err
        cdef VmaResv vr
        for iv in list(hf.mapping.i_mmap):
            if iv is vma or iv.vm_flags & C_VM_MAYSHARE:
                continue
            if pgoff < iv.vm_pgoff or pgoff >= iv.vm_pgoff + ((iv.vm_end - iv.vm_start) >> PAGE_SHIFT):
                continue
            vr = vma_resv(iv)
            if vr is not None and vr.flags & HPAGE_RESV_OWNER:
                continue
            addr = iv.vm_start + ((pgoff - iv.vm_pgoff) << PAGE_SHIFT)
            err = 0
            s = self.core.pgt.walk_pud(iv.vm_mm, addr, False, &err) if level == 2 else \
                self.core.pgt.walk_pmd(iv.vm_mm, addr, False, &err)
            if s != NULL and s[0] & _PAGE_PRESENT and ((s[0] & PTE_PFN_MASK) >> PAGE_SHIFT) == head:
                self.core.zap_leaf_now(iv.vm_mm, iv, s, level)
            if vr is None:
                iv.vm_private_data = VmaResv(None, HPAGE_RESV_UNMAPPED)
            else:
                vr.flags |= HPAGE_RESV_UNMAPPED
        return 0

    # -- the page cache of a hugetlbfs inode ----------------------------------------------------
    cdef int huge_add_to_page_cache(self, HugetlbFile hf, pfn_t head, int64_t idx) except -1:
        """huge_add_to_page_cache() (v6.18 hugetlb_add_to_page_cache): the page at its huge
        index, the allocation's reference the cache's, RestoreReserve cleared (the reservation
        is the file's now), i_blocks; not counted in NR_FILE_PAGES."""
        cdef page* hp = &self.pm.mem_map[head]
        hf.mapping.i_pages.store(<uint64_t>idx, <int64_t>head)
        hf.mapping.nrpages += 1
        hp.mapping = hf.mapping.addr
        hp.index = <uint64_t>idx << hf.hstate.order
        hp.private &= ~HPG_restore_reserve
        hp.flags |= 1ULL << PG_dirty            # "so that it will not be removed from cache/file
        hf.i_blocks += 8ULL << hf.hstate.order  # by non-hugetlbfs specific code paths"
        return 0

    def fallocate(self, HugetlbFile hf, int64_t start, int64_t end):
        """hugetlbfs_fallocate()'s preallocation: every index of [start, end) not cached gets a
        zeroed page from alloc_huge_page() on a pseudo VMA (VM_HUGETLB | VM_MAYSHARE |
        VM_SHARED at address index * size: the file's reservations are consumed where they
        exist), added to the cache, Migratable.  0, or the first error (-ENOSPC, -ENOMEM): the
        pages already added stay, as in the kernel."""
        cdef VmArea pseudo = VmArea(0, <uint64_t>end << (PAGE_SHIFT + hf.hstate.order),
                                    0x400000 | C_VM_MAYSHARE | C_VM_SHARED, "", hf.mapping, 0)
        cdef int64_t idx, pc
        cdef pfn_t head
        cdef int err = 0
        for idx in range(start, end):
            if hf.mapping.i_pages.load(<uint64_t>idx, &pc) and pc >= 0:
                continue
            head = self.alloc_huge_page(hf, pseudo, <uint64_t>idx << (PAGE_SHIFT + hf.hstate.order),
                                        False, &err)
            if head == NO_PFN:
                return err
            if self.pm.content:
                self.pm.drop_content(head, hf.hstate.order)
            self.huge_add_to_page_cache(hf, head, idx)
            self.pm.mem_map[head].private |= HPG_migratable
        return 0

    def remove_inode_hugepages(self, HugetlbFile hf, int64_t start, int64_t end, bint truncate_op):
        """remove_inode_hugepages(): every cached page of [start, end) (huge indices; end -1:
        to the end) leaves the cache and loses its reference (the mappings were zapped
        before); a hole punch gives each page's reservation back at once
        (hugetlb_unreserve_pages(index, index + 1, 1)), a truncate all at the end.  Returns
        the pages freed."""
        cdef XArray xa = hf.mapping.i_pages
        cdef uint64_t index
        cdef int64_t entry, freed = 0
        cdef uint64_t last = <uint64_t>end if end >= 0 else 0xffffffffffffffff
        cdef uint64_t at = <uint64_t>start
        cdef page* hp
        while at < last and xa.find(at, last - 1, &index, &entry):
            at = index + 1
            if entry < 0:
                continue
            xa.erase(index)
            hf.mapping.nrpages -= 1
            hp = &self.pm.mem_map[<pfn_t>entry]
            hp.mapping = 0                          # remove_huge_page(): clean, out of the cache
            hp.flags &= ~(1ULL << PG_dirty)
            hf.i_blocks -= 8LL << hf.hstate.order
            if not truncate_op:
                self.hugetlb_unreserve_pages(hf, <int64_t>index, <int64_t>index + 1, 1)
            freed += 1
            self.pm.put_page(<pfn_t>entry)
        if truncate_op:
            self.hugetlb_unreserve_pages(hf, start, end if end >= 0 else 0x7fffffffffffffff, freed)
        return freed

    def hugetlb_unreserve_pages(self, HugetlbFile hf, int64_t start, int64_t end, int64_t freed):
        """hugetlb_unreserve_pages(): the indices leave the inode's map; what they reserved
        beyond the pages freed goes back through the subpool and hugetlb_acct_memory(-)."""
        cdef int64_t chg = hf.resv_map.region_del(start, end)
        cdef int64_t gbl = chg - freed
        if hf.spool is not None:
            gbl = hf.spool.put_pages(chg - freed)
        self.hugetlb_acct_memory(hf.hstate, -gbl)
        return 0

    def hugetlb_reserve_pages(self, HugetlbFile hf, int64_t f, int64_t t, VmArea vma, uint64_t vm_flags):
        """hugetlb_reserve_pages(): nothing for VM_NORESERVE; shared (or no VMA): the indices of
        [f, t) not yet in the inode's map; private: all of them, in a new map the VMA owns.
        The subpool (ENOMEM past size=) and hugetlb_acct_memory() must both agree; the
        shared indices then enter the map.  Returns 0 or -ENOMEM (mmap's errno)."""
        cdef int64_t chg, gbl
        cdef ResvMap rm
        if f > t:
            return -22
        if vm_flags & C_VM_NORESERVE:
            return 0
        if vma is None or vm_flags & C_VM_MAYSHARE:
            chg = hf.resv_map.region_chg(f, t)
        else:
            rm = ResvMap()
            chg = t - f
            vma.vm_private_data = VmaResv(rm, HPAGE_RESV_OWNER)
        gbl = hf.spool.get_pages(chg) if hf.spool is not None else chg
        if gbl < 0:
            if vma is not None and not (vm_flags & C_VM_MAYSHARE):
                vma.vm_private_data = None
            return -ENOMEM
        if self.hugetlb_acct_memory(hf.hstate, gbl) < 0:
            if hf.spool is not None:
                hf.spool.put_pages(chg)
            if vma is not None and not (vm_flags & C_VM_MAYSHARE):
                vma.vm_private_data = None
            return -ENOMEM
        if vma is None or vm_flags & C_VM_MAYSHARE:
            hf.resv_map.region_add(f, t)
        return 0

    def find_page(self, HugetlbFile hf, int64_t idx):
        """find_lock_page() of the inode's cache: the head at huge index idx, or None."""
        cdef int64_t pc
        if hf.mapping.i_pages.load(<uint64_t>idx, &pc) and pc >= 0:
            return pc
        return None

    def check_file(self, HugetlbFile hf):
        """--check of one file's cached pages: hugetlb heads of its hstate at their index
        (page->mapping its i_data, page->index in base pages), each with a reference beyond its
        mappings (the cache's), none RestoreReserve."""
        cdef XArray xa = hf.mapping.i_pages
        cdef uint64_t index, at = 0
        cdef int64_t entry
        cdef page* p
        problems = []
        while xa.find(at, 0xffffffffffffffff, &index, &entry):
            at = index + 1
            if entry < 0:
                problems.append(f"hugetlbfs {hf.mapping!r}: a value entry at index {index}")
                continue
            p = &self.pm.mem_map[<pfn_t>entry]
            if not (p.flags & (1ULL << PG_hugetlb)) or p.compound_order != hf.hstate.order:
                problems.append(f"hugetlbfs {hf.mapping!r}: index {index} holds pfn {entry:#x}, "
                                f"not a hugetlb head of order {hf.hstate.order}")
                continue
            if p.mapping != hf.mapping.addr or p.index != index << hf.hstate.order:
                problems.append(f"hugetlbfs {hf.mapping!r}: pfn {entry:#x} at index {index} has "
                                f"mapping {p.mapping:#x} index {p.index}")
            if p._refcount < 1 + compound_mapcount_ptr(self.pm, <pfn_t>entry)[0]:
                problems.append(f"hugetlbfs {hf.mapping!r}: pfn {entry:#x} has {p._refcount} "
                                f"references for the cache and "
                                f"{compound_mapcount_ptr(self.pm, <pfn_t>entry)[0]} mappings")
            if p.private & HPG_restore_reserve:
                problems.append(f"hugetlbfs {hf.mapping!r}: pfn {entry:#x} cached with RestoreReserve")
            if index == 0xffffffffffffffff:
                break
        return problems

    def cached_pages(self, HugetlbFile hf):
        """[(huge index, head pfn)] of the inode's page cache."""
        cdef XArray xa = hf.mapping.i_pages
        cdef uint64_t index, at = 0
        cdef int64_t entry
        out = []
        while xa.find(at, 0xffffffffffffffff, &index, &entry):
            if entry >= 0:
                out.append((index, entry))
            if index == 0xffffffffffffffff:
                break
            at = index + 1
        return out
