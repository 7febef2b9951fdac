# cython: language_level=3, boundscheck=False, wraparound=False
"""A test plugin, written in Cython as a subsystem would be, that fills in every ops table of the
memsim core and counts each call: vm_operations_struct, address_space_operations, userfaultfd,
swap, memcg (page allocator and SLUB), KASAN, the hugetlb page destructor and alloc_contig_range's
hugetlb hooks, and a plugin trace event emitted from C.

Its handlers do the least that keeps the machine consistent, the way the real subsystems will:
faults on its own files map pages from its own page cache, userfaults are resolved at once (a
UFFDIO_COPY/CONTINUE/WRITEPROTECT done by the handler itself), swapped-out pages come back with
their bytes, a huge fault maps a 2 MiB compound page that goes back to the buddy allocator when
its last reference goes.  ``noop_memcg`` installs only memcg's charge and uncharge, counting
(the benchmark's "no-op charge").
"""
from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PG_hugetlb, \
    _PAGE_RW, _PAGE_PSE, _PAGE_PRESENT
from memsim.page cimport page
from memsim.physmem cimport PhysMem, MEMCG_DATA_KMEM
from memsim.slab cimport SlabAllocator, KmemCache
from memsim.ring cimport TraceBuffer
from memsim.workingset cimport Workingset, shadow_to_entry, entry_to_shadow, xa_is_value
from memsim.mm cimport (
    MmCore, MmStruct, VmArea, AddressSpace, vm_fault, vm_operations_struct,
    address_space_operations, userfaultfd_ops, swap_ops, VM_FAULT_NOPAGE, VM_FAULT_OOM,
    VM_FAULT_MAJOR, VM_FAULT_SIGBUS, pte_to_swp_entry, swp_offset, swp_type, pte_present,
)

OPS = (
    "vm.open", "vm.close", "vm.may_split", "vm.fault", "vm.huge_fault", "vm.page_mkwrite",
    "vm.map_pages", "vm.pagesize",
    "aops.lookup", "aops.alloc", "aops.migratepage",
    "uffd.missing", "uffd.minor", "uffd.wp", "uffd.dup", "uffd.remap", "uffd.unmap",
    "swap.do_swap_page", "swap.swap_free", "swap.swap_duplicate",
    "memcg.charge", "memcg.uncharge", "memcg.kmem_charge", "memcg.kmem_uncharge",
    "memcg.swapin_charge", "memcg.mod_lruvec_page_state",
    "memcg.slab_pre_alloc", "memcg.slab_post_alloc", "memcg.slab_free",
    "kasan.alloc_pages", "kasan.free_pages", "kasan.poison_slab", "kasan.init_slab_obj",
    "kasan.slab_alloc", "kasan.kmalloc", "kasan.kmalloc_large", "kasan.slab_free",
    "kasan.kfree_large", "kasan.check_range",
    "hugetlb.free_huge_page", "hugetlb.isolate_or_dissolve", "hugetlb.migrate_huge_page",
    "hugetlb.putback", "fault_around.pages",
)

cdef enum:
    VM_OPEN, VM_CLOSE, VM_MAY_SPLIT, VM_FAULT_, VM_HUGE_FAULT, VM_PAGE_MKWRITE, VM_MAP_PAGES, \
    VM_PAGESIZE, AOPS_LOOKUP, AOPS_ALLOC, AOPS_MIGRATEPAGE, UFFD_MISSING, UFFD_MINOR, UFFD_WP, \
    UFFD_DUP, UFFD_REMAP, UFFD_UNMAP, SWAP_DO, SWAP_FREE, SWAP_DUP, MEMCG_CHARGE, MEMCG_UNCHARGE, \
    MEMCG_KMEM_CHARGE, MEMCG_KMEM_UNCHARGE, MEMCG_SWAPIN, MEMCG_LRUVEC, MEMCG_SLAB_PRE, \
    MEMCG_SLAB_POST, MEMCG_SLAB_FREE, KASAN_ALLOC_PAGES, KASAN_FREE_PAGES, KASAN_POISON_SLAB, \
    KASAN_INIT_OBJ, KASAN_SLAB_ALLOC, KASAN_KMALLOC, KASAN_KMALLOC_LARGE, KASAN_SLAB_FREE, \
    KASAN_KFREE_LARGE, KASAN_CHECK, HUGETLB_FREE, HUGETLB_DISSOLVE, HUGETLB_MIGRATE, HUGETLB_PUTBACK, \
    AROUND_PAGES, \
    N_OPS

cdef uint64_t FAKE_MEMCG = 0xffff888123450000ULL      # a "mem_cgroup" address (no flag bits)
cdef uint64_t FAKE_OBJCG = 0xffff888123460000ULL
cdef uint64_t VM_UFFD_MISSING = 0x200, VM_UFFD_WP = 0x1000, VM_UFFD_MINOR = 1ULL << 37
cdef uint64_t PMD_SIZE = 1ULL << 21


cdef class OpsCounter:
    """The plugin's state: the counts, its page cache, its swap store, its ops tables."""
    cdef uint64_t counts[N_OPS]
    cdef public MmCore core
    cdef public PhysMem pm
    cdef public object slab
    cdef TraceBuffer tb
    cdef public int ev_slot
    cdef vm_operations_struct file_vm_ops
    cdef vm_operations_struct huge_vm_ops
    cdef address_space_operations a_ops
    cdef userfaultfd_ops uffd
    cdef swap_ops swap
    cdef public dict cache              # (mapping address, index) -> pfn: this plugin's page cache
    cdef public dict swapped            # swap offset -> (bytes, references)
    cdef public uint64_t next_offset
    cdef public bint move_huge          # isolate in-use huge pages and migrate them (else -EBUSY)

    def __cinit__(self):
        memset(self.counts, 0, sizeof(self.counts))
        memset(&self.file_vm_ops, 0, sizeof(self.file_vm_ops))
        memset(&self.huge_vm_ops, 0, sizeof(self.huge_vm_ops))
        memset(&self.a_ops, 0, sizeof(self.a_ops))
        memset(&self.uffd, 0, sizeof(self.uffd))
        memset(&self.swap, 0, sizeof(self.swap))
        self.cache = {}
        self.swapped = {}
        self.next_offset = 1
        self.ev_slot = -1

    def counts_dict(self):
        return {OPS[i]: self.counts[i] for i in range(N_OPS)}

    cdef inline void hit(self, int op, uint64_t address) noexcept:
        cdef uint64_t vals[2]
        self.counts[op] += 1
        if self.ev_slot >= 0 and self.tb.core[self.ev_slot].enabled:
            vals[0] = op
            vals[1] = address
            try:
                self.tb.emit(self.ev_slot, self.core.current.cpu, self.core.current.pid, vals, NULL, 0)
            except Exception:
                pass

    # -- installing -------------------------------------------------------------------------
    def install(self, machine, int ev_slot=-1, bint noop_memcg=False):
        """Fill every table (or, with ``noop_memcg``, only memcg charge/uncharge)."""
        self.core = machine.mmcore
        self.pm = machine.physmem
        self.slab = machine.slab
        self.tb = machine.tb
        self.ev_slot = ev_slot
        self.core.keep_alive("opscount", self)
        memset(&self.pm.memcg, 0, sizeof(self.pm.memcg))     # the whole table is ours
        self.pm.memcg.ctx = <void*>self
        self.pm.memcg.charge = _memcg_charge
        self.pm.memcg.uncharge = _memcg_uncharge
        if noop_memcg:
            return
        self.pm.memcg.kmem_charge = _memcg_kmem_charge
        self.pm.memcg.kmem_uncharge = _memcg_kmem_uncharge
        self.pm.memcg.swapin_charge = _memcg_swapin_charge
        self.pm.memcg.mod_lruvec_page_state = _memcg_mod_lruvec
        self.pm.kasan.ctx = <void*>self
        self.pm.kasan.alloc_pages = _kasan_alloc_pages
        self.pm.kasan.free_pages = _kasan_free_pages
        self.pm.kasan.poison_slab = _kasan_poison_slab
        self.pm.kasan.init_slab_obj = _kasan_init_slab_obj
        self.pm.kasan.slab_alloc = _kasan_slab_alloc
        self.pm.kasan.kmalloc = _kasan_kmalloc
        self.pm.kasan.kmalloc_large = _kasan_kmalloc_large
        self.pm.kasan.slab_free = _kasan_slab_free
        self.pm.kasan.kfree_large = _kasan_kfree_large
        self.pm.kasan.check_range = _kasan_check_range
        self.pm.hugetlb.ctx = <void*>self
        self.pm.hugetlb.free_huge_page = _free_huge_page
        self.pm.hugetlb.isolate_or_dissolve_huge_page = _isolate_or_dissolve
        self.pm.hugetlb.migrate_huge_page = _migrate_huge_page
        self.pm.hugetlb.putback_active_hugepage = _putback_huge
        if self.slab is not None:
            (<SlabAllocator>self.slab).memcg_ops.ctx = <void*>self
            (<SlabAllocator>self.slab).memcg_ops.pre_alloc = _slab_pre_alloc
            (<SlabAllocator>self.slab).memcg_ops.post_alloc = _slab_post_alloc
            (<SlabAllocator>self.slab).memcg_ops.free_hook = _slab_free_hook
        self.core.uffd_ops.ctx = <void*>self
        self.core.uffd_ops.handle_userfault = _handle_userfault
        self.core.uffd_ops.dup = _uffd_dup
        self.core.uffd_ops.remap = _uffd_remap
        self.core.uffd_ops.unmap = _uffd_unmap
        self.core.swap.ctx = <void*>self
        self.core.swap.do_swap_page = _do_swap_page
        self.core.swap.swap_free = _swap_free
        self.core.swap.swap_duplicate = _swap_duplicate
        self.file_vm_ops.ctx = <void*>self
        self.file_vm_ops.open = _vm_open
        self.file_vm_ops.close = _vm_close
        self.file_vm_ops.may_split = _vm_may_split
        self.file_vm_ops.fault = _vm_fault
        self.file_vm_ops.page_mkwrite = _vm_page_mkwrite
        self.file_vm_ops.map_pages = _vm_map_pages
        self.file_vm_ops.pagesize = _vm_pagesize_4k
        self.huge_vm_ops.ctx = <void*>self
        self.huge_vm_ops.open = _vm_open
        self.huge_vm_ops.close = _vm_close
        self.huge_vm_ops.may_split = _vm_may_split_huge
        self.huge_vm_ops.huge_fault = _vm_huge_fault
        self.huge_vm_ops.pagesize = _vm_pagesize_2m
        self.a_ops.ctx = <void*>self
        self.a_ops.lookup = _aops_lookup
        self.a_ops.alloc = _aops_alloc
        self.a_ops.migratepage = _aops_migratepage

    def own_file(self, AddressSpace mapping):
        """Make this plugin the page cache of ``mapping`` (its a_ops)."""
        mapping.a_ops = &self.a_ops
        mapping.a_ops_owner = self

    def drop_contig_hooks(self):
        """alloc_contig_range's hugetlb hooks go (isolate_or_dissolve_huge_page, migrate_huge_page,
        putback_active_hugepage NULL: a kernel without the hugetlb plugin's handling); the
        destructor stays."""
        self.pm.hugetlb.isolate_or_dissolve_huge_page = NULL
        self.pm.hugetlb.migrate_huge_page = NULL
        self.pm.hugetlb.putback_active_hugepage = NULL

    def own_vma(self, VmArea vma, bint huge=False):
        """Intercept ``vma`` (file VMA: fault/map_pages/page_mkwrite; huge: huge_fault)."""
        vma.vm_ops = &self.huge_vm_ops if huge else &self.file_vm_ops
        vma.vm_ops_owner = self

    def swap_out(self, pfn_t pfn):
        """Write an anonymous page to this plugin's swap and unmap it (try_to_unmap with a swap
        entry of type 0); the page is freed when its last PTE goes."""
        cdef uint64_t offset = self.next_offset
        self.next_offset += 1
        data = self.pm.read_bytes(pfn, 0, PAGE_SIZE)
        n = self.core.rmap.try_to_unmap(pfn, (0, offset))
        self.swapped[offset] = [data, n]
        return offset


# -- vm_operations_struct -------------------------------------------------------------------------
cdef int _vm_open(void* ctx, VmArea vma) except -1:
    (<OpsCounter>ctx).hit(VM_OPEN, vma.vm_start)
    return 0

cdef int _vm_close(void* ctx, VmArea vma) except -1:
    (<OpsCounter>ctx).hit(VM_CLOSE, vma.vm_start)
    return 0

cdef int _vm_may_split(void* ctx, VmArea vma, uint64_t addr) except? -1000000:
    (<OpsCounter>ctx).hit(VM_MAY_SPLIT, addr)
    return 0

cdef int _vm_may_split_huge(void* ctx, VmArea vma, uint64_t addr) except? -1000000:
    """hugetlb_vm_op_split(): a cut inside a huge page is refused with -EINVAL."""
    (<OpsCounter>ctx).hit(VM_MAY_SPLIT, addr)
    return -22 if addr & (PMD_SIZE - 1) else 0

cdef uint64_t _vm_pagesize_4k(void* ctx, VmArea vma) except 0:
    (<OpsCounter>ctx).hit(VM_PAGESIZE, vma.vm_start)
    return PAGE_SIZE

cdef uint64_t _vm_pagesize_2m(void* ctx, VmArea vma) except 0:
    (<OpsCounter>ctx).hit(VM_PAGESIZE, vma.vm_start)
    return PMD_SIZE

cdef int _vm_fault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    """filemap_fault() over this plugin's page cache."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef int major = 0
    cdef pfn_t pfn
    c.hit(VM_FAULT_, vmf.address)
    pfn = _aops_lookup(ctx, vma.vm_file, vmf.pgoff)
    if pfn == NO_PFN:
        pfn = _aops_alloc(ctx, vma.vm_file, vmf.pgoff, c.core.gfp_user, mm, &major)
        if pfn == NO_PFN:
            return VM_FAULT_OOM
    vmf.page = pfn
    return VM_FAULT_MAJOR if major else 0

cdef int _vm_page_mkwrite(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    (<OpsCounter>ctx).hit(VM_PAGE_MKWRITE, vmf.address)
    return 0

cdef int _vm_map_pages(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t start_pgoff,
                       uint64_t end_pgoff) except -1:
    """filemap_map_pages(): map the cached pages of the window with empty PTEs."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef uint64_t pgoff, addr
    cdef uint64_t* pte
    cdef pfn_t pfn
    cdef int ret = 0
    c.hit(VM_MAP_PAGES, vmf.address)
    for pgoff in range(start_pgoff, end_pgoff + 1):
        pfn = _aops_lookup(ctx, vma.vm_file, pgoff)
        if pfn == NO_PFN:
            continue
        addr = vma.vm_start + ((pgoff - vma.vm_pgoff) << PAGE_SHIFT)
        pte = vmf.pte + <int64_t>((<int64_t>addr - <int64_t>vmf.address) >> PAGE_SHIFT)
        if pte[0] != 0:
            continue
        c.core.do_set_pte(mm, vma, addr, pte, pfn, False, addr != vmf.address)
        c.counts[AROUND_PAGES] += 1
        if addr == vmf.address:
            ret = VM_FAULT_NOPAGE
    return ret

cdef int _vm_huge_fault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, int pe_size) except -1:
    """A hugetlb-like fault: a leaf present but read-only is made writable (no COW here); a
    missing one gets a new 2 MiB compound page."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef pfn_t head
    c.hit(VM_HUGE_FAULT, vmf.address)
    if vmf.pmd != NULL and (vmf.pmd[0] & _PAGE_PSE) and (vmf.pmd[0] & _PAGE_PRESENT):
        vmf.pmd[0] |= _PAGE_RW
        return 0
    head = c.pm.alloc_pages(c.core.gfp_user | 0x40000 | 0x200000, 9, -1)     # __GFP_COMP|__GFP_THISNODE
    if head == NO_PFN:
        return VM_FAULT_OOM
    c.pm.mem_map[head].flags |= 1ULL << PG_hugetlb
    if not (vma.vm_flags & 0x8):            # private: hugepage_add_new_anon_rmap (rmap_walk finds it)
        c.core.page_set_anon_rmap(head, vma, vmf.address)
    ret = c.core.map_huge_page(mm, vma, vmf.address, head, 3, (vmf.flags & 1) != 0)
    c.pm.put_page(head)                 # the leaf holds the only reference now
    return ret if ret != VM_FAULT_NOPAGE else 0


# -- address_space_operations ---------------------------------------------------------------------
cdef pfn_t _aops_lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    cdef OpsCounter c = <OpsCounter>ctx
    c.hit(AOPS_LOOKUP, index)
    got = c.cache.get((mapping.addr, index))
    return NO_PFN if got is None else <pfn_t>got

cdef pfn_t _aops_alloc(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp, MmStruct mm,
                       int* major) except? 0xfffffffffffffffe:
    cdef OpsCounter c = <OpsCounter>ctx
    cdef pfn_t pfn
    cdef uint64_t shadow = 0
    c.hit(AOPS_ALLOC, index)
    pfn = c.pm.alloc_pages(gfp, 0, -1)
    if pfn == NO_PFN:
        return NO_PFN
    if c.pm.memcg.charge != NULL and c.pm.memcg.charge(c.pm.memcg.ctx, pfn, 0, gfp, mm) != 0:
        c.pm.put_page(pfn)
        return NO_PFN
    if c.core.add_to_page_cache_locked(pfn, mapping, index, &shadow) != 0:
        c.pm.put_page(pfn)              # -EEXIST: cached already (not by this plugin)
        return NO_PFN
    c.cache[(mapping.addr, index)] = pfn
    major[0] = 1
    return pfn

cdef int _aops_migratepage(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                           pfn_t new) except? -1000000:
    cdef OpsCounter c = <OpsCounter>ctx
    c.hit(AOPS_MIGRATEPAGE, index)
    c.cache[(mapping.addr, index)] = new
    mapping.i_pages[index] = new
    return 0


# -- userfaultfd ----------------------------------------------------------------------------------
cdef int _handle_userfault(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1:
    """Resolve at once, as a monitor would: MISSING -> UFFDIO_COPY of a zeroed page (anon) or a
    new cache page (shmem); MINOR -> UFFDIO_CONTINUE; WP -> UFFDIO_WRITEPROTECT(resolve)."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef pfn_t pfn
    if reason == VM_UFFD_MISSING:
        c.hit(UFFD_MISSING, vmf.address)
        if vma.vm_file is None:
            pfn = c.pm.alloc_pages(c.core.gfp_anon, 0, -1)
            if pfn == NO_PFN:
                return VM_FAULT_OOM
            c.core.install_anon_page(mm, vma, vmf.address, pfn, True)
            return VM_FAULT_NOPAGE
        pfn = c.pm.alloc_pages(c.core.gfp_user, 0, -1)
        if pfn == NO_PFN:
            return VM_FAULT_OOM
        c.core.add_to_page_cache(pfn, vma.vm_file, vmf.pgoff)
        vma.vm_file.i_pages[vmf.pgoff] = pfn
        vma.vm_file.nrpages += 1
        c.core.map_page(mm, vma, vmf.address, pfn, False, False)
        return VM_FAULT_NOPAGE
    if reason == VM_UFFD_MINOR:
        c.hit(UFFD_MINOR, vmf.address)
        pfn = c.core.find_page_in_mapping(vma, vmf.address)
        c.core.map_page(mm, vma, vmf.address, pfn, False, False)
        return VM_FAULT_NOPAGE
    c.hit(UFFD_WP, vmf.address)
    c.core.change_protection(mm, vmf.address, vmf.address + PAGE_SIZE, True, 2)
    return VM_FAULT_NOPAGE

cdef int _uffd_dup(void* ctx, VmArea vma, VmArea new) except -1:
    (<OpsCounter>ctx).hit(UFFD_DUP, vma.vm_start)
    return 1 if vma.vm_userfaultfd_ctx == "fork-events" else 0

cdef int _uffd_remap(void* ctx, VmArea vma, uint64_t old_start, uint64_t new_start, uint64_t length) except -1:
    (<OpsCounter>ctx).hit(UFFD_REMAP, old_start)
    return 0

cdef int _uffd_unmap(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1:
    (<OpsCounter>ctx).hit(UFFD_UNMAP, start)
    return 0


# -- swap -----------------------------------------------------------------------------------------
cdef int _do_swap_page(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    """do_swap_page(): read the page back (charged with mem_cgroup_swapin_charge_page), map it,
    release the entry."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef uint64_t entry = pte_to_swp_entry(vmf.orig_pte)
    cdef uint64_t offset = swp_offset(entry)
    cdef pfn_t pfn
    c.hit(SWAP_DO, vmf.address)
    slot = c.swapped.get(offset)
    if slot is None:
        return VM_FAULT_SIGBUS
    pfn = c.pm.alloc_pages(c.core.gfp_user, 0, -1)
    if pfn == NO_PFN:
        return VM_FAULT_OOM
    if c.pm.memcg.swapin_charge != NULL:
        c.pm.memcg.swapin_charge(c.pm.memcg.ctx, pfn, mm, c.core.gfp_user, 0)
    c.pm.write_bytes(pfn, 0, slot[0])
    c.pm.mod_lruvec_page_state(pfn, 0, 1)       # in and out of the swap cache (NR_SWAPCACHE)
    c.pm.mod_lruvec_page_state(pfn, 0, -1)
    vmf.pte[0] = 0
    mm.inc_mm_counter(2, -1)                    # MM_SWAPENTS
    c.core.install_anon_page(mm, vma, vmf.address, pfn, True)
    _swap_free(ctx, entry)
    return VM_FAULT_MAJOR

cdef int _swap_free(void* ctx, uint64_t entry) except -1:
    cdef OpsCounter c = <OpsCounter>ctx
    cdef uint64_t offset = swp_offset(entry)
    c.hit(SWAP_FREE, offset)
    slot = c.swapped.get(offset)
    if slot is not None:
        slot[1] -= 1
        if slot[1] <= 0:
            del c.swapped[offset]
    return 0

cdef int _swap_duplicate(void* ctx, uint64_t entry) except? -1000000:
    cdef OpsCounter c = <OpsCounter>ctx
    cdef uint64_t offset = swp_offset(entry)
    c.hit(SWAP_DUP, offset)
    slot = c.swapped.get(offset)
    if slot is None:
        return -22
    slot[1] += 1
    return 0


# -- memcg ----------------------------------------------------------------------------------------
cdef int _memcg_charge(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1:
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[MEMCG_CHARGE] += 1
    c.pm.mem_map[pfn].memcg_data = FAKE_MEMCG
    return 0

cdef int _memcg_uncharge(void* ctx, pfn_t pfn, unsigned int order) except -1:
    (<OpsCounter>ctx).counts[MEMCG_UNCHARGE] += 1
    return 0

cdef int _memcg_kmem_charge(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1:
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[MEMCG_KMEM_CHARGE] += 1
    c.pm.mem_map[pfn].memcg_data = FAKE_OBJCG | MEMCG_DATA_KMEM
    return 0

cdef int _memcg_kmem_uncharge(void* ctx, pfn_t pfn, unsigned int order) except -1:
    (<OpsCounter>ctx).counts[MEMCG_KMEM_UNCHARGE] += 1
    return 0

cdef int _memcg_swapin_charge(void* ctx, pfn_t pfn, object mm, gfp_t gfp, int id) except -1:
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[MEMCG_SWAPIN] += 1
    c.pm.mem_map[pfn].memcg_data = FAKE_MEMCG
    return 0

cdef int _memcg_mod_lruvec(void* ctx, pfn_t pfn, int idx, int64_t val) except -1:
    (<OpsCounter>ctx).counts[MEMCG_LRUVEC] += 1
    return 0

cdef int _slab_pre_alloc(void* ctx, KmemCache s, gfp_t gfp, uint64_t* objcg) except -1:
    (<OpsCounter>ctx).counts[MEMCG_SLAB_PRE] += 1
    objcg[0] = FAKE_OBJCG
    return 0

cdef int _slab_post_alloc(void* ctx, KmemCache s, uint64_t objcg, pfn_t slab_pfn,
                          unsigned int idx, uint64_t addr) except -1:
    (<OpsCounter>ctx).counts[MEMCG_SLAB_POST] += 1
    return 0

cdef int _slab_free_hook(void* ctx, KmemCache s, pfn_t slab_pfn, unsigned int idx) except -1:
    (<OpsCounter>ctx).counts[MEMCG_SLAB_FREE] += 1
    return 0


# -- KASAN ----------------------------------------------------------------------------------------
cdef int _kasan_alloc_pages(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1:
    (<OpsCounter>ctx).counts[KASAN_ALLOC_PAGES] += 1
    return 0

cdef int _kasan_free_pages(void* ctx, pfn_t pfn, unsigned int order) except -1:
    (<OpsCounter>ctx).counts[KASAN_FREE_PAGES] += 1
    return 0

cdef int _kasan_poison_slab(void* ctx, object s, pfn_t pfn, unsigned int order) except -1:
    (<OpsCounter>ctx).counts[KASAN_POISON_SLAB] += 1
    return 0

cdef uint64_t _kasan_init_slab_obj(void* ctx, object s, uint64_t obj) except? 0:
    (<OpsCounter>ctx).counts[KASAN_INIT_OBJ] += 1
    return obj

cdef uint64_t _kasan_slab_alloc(void* ctx, object s, uint64_t obj, gfp_t gfp, uint64_t ip) except? 0:
    """A tagged pointer (tag 0x5a in the top byte): the slab must reset it when freeing."""
    (<OpsCounter>ctx).counts[KASAN_SLAB_ALLOC] += 1
    return (obj & 0x00ffffffffffffffULL) | (0x5aULL << 56)

cdef uint64_t _kasan_kmalloc(void* ctx, object s, uint64_t obj, uint64_t size, gfp_t gfp, uint64_t ip) except? 0:
    (<OpsCounter>ctx).counts[KASAN_KMALLOC] += 1
    return obj

cdef uint64_t _kasan_kmalloc_large(void* ctx, uint64_t ptr, uint64_t size, gfp_t gfp, uint64_t ip) except? 0:
    (<OpsCounter>ctx).counts[KASAN_KMALLOC_LARGE] += 1
    return ptr

cdef int _kasan_slab_free(void* ctx, object s, uint64_t ptr, uint64_t ip) except -1:
    (<OpsCounter>ctx).counts[KASAN_SLAB_FREE] += 1
    return 0

cdef int _kasan_kfree_large(void* ctx, uint64_t ptr, uint64_t ip) except -1:
    (<OpsCounter>ctx).counts[KASAN_KFREE_LARGE] += 1
    return 0

cdef int _kasan_check_range(void* ctx, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1:
    (<OpsCounter>ctx).counts[KASAN_CHECK] += 1
    return 0


# -- hugetlb pages --------------------------------------------------------------------------------
cdef int _free_huge_page(void* ctx, pfn_t head) except -1:
    """free_huge_page(): this plugin keeps no pool: the page goes back to the buddy allocator."""
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[HUGETLB_FREE] += 1
    c.pm.mem_map[head].flags &= ~(1ULL << PG_hugetlb)
    c.pm.mem_map[head].mapping = 0      # free_huge_page: page->mapping = NULL
    c.pm.free_pages(head, c.pm.mem_map[head].compound_order)
    return 0

cdef int _isolate_or_dissolve(void* ctx, pfn_t head) except? -1000000:
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[HUGETLB_DISSOLVE] += 1
    if c.move_huge:
        c.pm.mem_map[head]._refcount += 1   # isolate_huge_page(): the isolation reference
    return 0                            # in use: isolated for migration

cdef int _migrate_huge_page(void* ctx, pfn_t head) except? -1000000:
    """Without ``move_huge`` -EBUSY: this plugin cannot move huge pages.  With it, what a hugetlb
    plugin's unmap_and_move_huge_page does around the core's part: a new compound page of the
    same order (alloc_migration_target), MmCore.migrate_huge_page_mappings, then the old page's
    isolation reference (its last: free_huge_page) and the new page's allocation reference go."""
    cdef OpsCounter c = <OpsCounter>ctx
    cdef pfn_t new
    cdef int r
    c.counts[HUGETLB_MIGRATE] += 1
    if not c.move_huge:
        return -16
    new = c.pm.alloc_pages(c.core.gfp_user | 0x40000, c.pm.mem_map[head].compound_order, -1)
    if new == NO_PFN:
        return -12
    c.pm.mem_map[new].flags |= 1ULL << PG_hugetlb
    r = c.core.migrate_huge_page_mappings(head, new)
    if r == 0:
        c.pm.put_page(head)             # putback_active_hugepage(old)
    c.pm.put_page(new)                  # putback_active_hugepage(new), or the unused target
    return r

cdef int _putback_huge(void* ctx, pfn_t head) except -1:
    cdef OpsCounter c = <OpsCounter>ctx
    c.counts[HUGETLB_PUTBACK] += 1
    if c.move_huge:
        c.pm.put_page(head)             # the isolation reference
    return 0


def workingset_cycle(machine, pfn_t pfn):
    """The shadow API as a plugin's page cache uses it, per page from C: the shadow of an
    eviction (workingset_eviction), kept as an entry of an i_pages-style dict, read back and
    handed to workingset_refault when the page is read in again.  Returns the shadow."""
    cdef Workingset ws = machine.mmcore.workingset
    cdef uint64_t shadow = ws.workingset_eviction(pfn, NULL, 0)
    cdef int64_t entry = shadow_to_entry(shadow)
    if not xa_is_value(entry) or entry_to_shadow(entry) != shadow:
        raise AssertionError(f"shadow {shadow:#x} does not survive its i_pages entry")
    ws.workingset_refault(pfn, entry_to_shadow(entry))
    return shadow
