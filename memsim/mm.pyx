# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Address spaces: mm_struct, VMAs, x86-64 4-level page tables, the fault path, rss counters.

Models (v5.14) mm/memory.c (``handle_mm_fault``, ``do_anonymous_page``, ``do_wp_page``,
``wp_page_copy``, ``do_read_fault``/``do_cow_fault``/``do_shared_fault``, ``zap_pte_range``,
``copy_pte_range``, ``free_pgd_range``), mm/mmap.c (``mmap_region``, ``__do_munmap``,
``unmap_region``, ``exit_mmap``), kernel/fork.c (``dup_mmap``), mm/mmu_gather.c and the rss
counting of include/linux/mm.h (SPLIT_RSS_COUNTING: per-task cached deltas, ``sync_mm_rss`` at
the 66th fault, ``add_mm_rss_vec`` for zap and copy batches).

Page tables are real: each table is a frame from the buddy allocator (``mm_page_alloc`` with
GFP_PGTABLE_USER) whose 512 entries are x86-64 PTEs (pfn << 12 | flags); the host array of the
entries hangs off the table's ``struct page``.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t

from memsim._types cimport (
    pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PTRS_PER_TABLE, _PAGE_PRESENT, _PAGE_RW,
    _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_SPECIAL, _PAGE_NX, PTE_PFN_MASK,
    PG_table, PG_zero, PG_reserved, PG_swapbacked, PG_head, PG_tail, PG_buddy, PG_pcp, PG_content,
    PAGE_MAPPING_ANON, MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES, NR_MM_COUNTERS,
    GFP_NOWARN_, GFP_KSWAPD_RECLAIM_,
)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.ring cimport TraceBuffer, EV_RSS_STAT
from memsim.task cimport Current, TaskStruct, task_rss_stat
from memsim.hashptr cimport ptr_to_hashval

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
VM_ACCOUNT = 0x100000
VM_NORESERVE = 0x200000
VM_HUGETLB = 0x400000
VM_UFFD_MINOR = 1 << 37

cdef uint64_t C_VM_READ = 0x1, C_VM_WRITE = 0x2, C_VM_SHARED = 0x8, C_VM_MAYWRITE = 0x20
cdef uint64_t C_VM_UFFD = 0x200 | 0x1000 | (1ULL << 37)
cdef uint64_t C_VM_UFFD_MISSING = 0x200

FAULT_KIND_NAMES = ("anon", "zero", "cow", "reuse", "file_read", "file_cow", "shared", "major",
                    "oom", "sigsegv", "sigbus")
RSS_NAMES = ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES")

cdef enum:
    TASK_RSS_EVENTS_THRESH = 64
    PMD_SHIFT = 21
    PUD_SHIFT = 30
    PGDIR_SHIFT = 39
    MMU_GATHER_BUNDLE = 8
    MAX_GATHER_BATCH = (4096 - 16) // 8
    MAX_GATHER_BATCH_COUNT = 10000 // MAX_GATHER_BATCH
    GATHER_CAPACITY = MMU_GATHER_BUNDLE + MAX_GATHER_BATCH * MAX_GATHER_BATCH_COUNT

cdef uint64_t PMD_SIZE = 1ULL << 21
cdef uint64_t PUD_SIZE = 1ULL << 30
cdef uint64_t PGDIR_SIZE = 1ULL << 39
cdef uint64_t TASK_SIZE = 0x7ffffffff000ULL
cdef uint64_t _PAGE_TABLE = 0x067           # PRESENT|RW|USER|ACCESSED|DIRTY


cdef inline uint64_t* table_entries(PhysMem pm, pfn_t table) noexcept nogil:
    return <uint64_t*>pm.mem_map[table].private


cdef inline uint64_t xorshift64(uint64_t* s) noexcept nogil:
    cdef uint64_t x = s[0]
    x ^= x << 13
    x ^= x >> 7
    x ^= x << 17
    s[0] = x
    return x


cdef int _py_vm_fault(void* ctx, MmStruct mm, VmArea vma, uint64_t address, unsigned int flags) except -1:
    """The fault op of PY_VM_OPS: calls the VMA's Python handler (one call per fault)."""
    return vma.py_fault(mm, vma, address, flags)


cdef vm_operations_struct PY_VM_OPS
PY_VM_OPS.fault = _py_vm_fault
PY_VM_OPS.ctx = NULL


cdef int _py_userfault(void* ctx, MmStruct mm, VmArea vma, uint64_t address, unsigned int flags,
                       uint64_t reason) except -1:
    return (<object>ctx)(mm, vma, address, flags, reason)


cdef class AddressSpace:
    """An address_space: a file's or a shmem object's pages, indexed by page offset.

    The built-in page cache is a dict index -> pfn; the page-cache plugin replaces it (a_ops).
    """

    def __init__(self, uint64_t i_ino, str name="", bint swapbacked=False, uint32_t s_dev=0,
                 uint64_t i_size=0):
        self.i_ino = i_ino
        self.name = name
        self.swapbacked = swapbacked
        self.s_dev = s_dev
        self.i_size = i_size
        self.i_pages = {}
        self.a_ops = None

    @property
    def nrpages(self):
        return len(self.i_pages)

    def __repr__(self):
        return f"<AddressSpace {self.name or self.i_ino} nrpages={len(self.i_pages)}>"


cdef class VmArea:
    """A vm_area_struct: [vm_start, vm_end) with flags, file/offset and anon_vma."""

    def __init__(self, uint64_t vm_start, uint64_t vm_end, uint64_t vm_flags, str name="",
                 AddressSpace vm_file=None, uint64_t vm_pgoff=0):
        self.vm_start = vm_start
        self.vm_end = vm_end
        self.vm_flags = vm_flags
        self.name = name
        self.vm_file = vm_file
        self.vm_pgoff = vm_pgoff
        self.anon_vma = 0
        self.vm_private = None
        self.vm_ops = NULL
        self.addr = 0
        self.py_fault = None

    @property
    def kind(self):
        if self.vm_file is None:
            return "anon"
        return "shared" if self.vm_file.swapbacked else "file"

    @property
    def has_vm_ops(self):
        return self.vm_ops != NULL

    def clear_vm_ops(self):
        self.vm_ops = NULL
        self.py_fault = None

    def set_fault_handler(self, handler):
        """Intercept this VMA's faults with a Python callable ``handler(mm, vma, address,
        flags) -> VM_FAULT_* code`` (a typed ops table whose fault op calls it).  Faults on
        other VMAs stay in C; a Cython plugin sets ``vm_ops`` directly instead."""
        self.py_fault = handler
        self.vm_ops = &PY_VM_OPS if handler is not None else NULL

    def __repr__(self):
        return f"<VmArea {self.name} {self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x}>"


cdef class MmStruct:
    """An mm_struct: VMAs, the pgd, and the atomic rss counters."""

    def __init__(self):
        raise TypeError("use MmCore.mm_alloc()")

    cdef inline void add_mm_counter(self, int member, int64_t value, bint curr) noexcept:
        """add_mm_counter(): atomic add, then kmem:rss_stat with the new value."""
        self.rss[member] += value
        self.core.emit_rss(self, member, curr)

    def get_mm_counter(self, int member):
        """get_mm_counter(): the atomic value, clamped at 0 (SPLIT_RSS_COUNTING)."""
        return max(0, self.rss[member])

    @property
    def rss_raw(self):
        """The atomic counters, unclamped (may be negative transiently)."""
        return tuple(self.rss[i] for i in range(NR_MM_COUNTERS))

    def find_vma(self, uint64_t addr):
        """find_vma(): the VMA containing addr, or None."""
        cdef VmArea v
        lo, hi = 0, len(self.vmas)
        while lo < hi:
            mid = (lo + hi) // 2
            v = self.vmas[mid]
            if addr < v.vm_start:
                hi = mid
            elif addr >= v.vm_end:
                lo = mid + 1
            else:
                return v
        return None

    def pte(self, uint64_t addr):
        """The PTE value mapping addr (0 if none)."""
        cdef int err = 0
        cdef uint64_t* p = self.core.walk(self, addr, False, &err)
        return 0 if p == NULL else p[0]

    def resident_pages(self):
        """Present PTEs by counter (anon/file/shmem), counted from the page tables."""
        cdef VmArea v
        out = [0, 0, 0, 0]
        for v in self.vmas:
            a, f, s = self.core.count_present(self, v)
            out[MM_ANONPAGES] += a
            out[MM_FILEPAGES] += f
            out[MM_SHMEMPAGES] += s
        return out

    @property
    def core(self):
        return self.core


cdef class MmCore:
    """The kernel's mm-wide state for every mm_struct of a machine: the page allocator to
    take pages from, the trace buffer, ``current``, the zero page and the profile's choices."""

    def __cinit__(self, PhysMem pm, TraceBuffer tb, Current cur, bint split_rss=True,
                  gfp_t gfp_anon=0x1100dca, gfp_t gfp_pgtable=0x400dc0, gfp_t gfp_user=0x1100cca,
                  uint64_t k0=0, uint64_t k1=0, int rss_preempt=0):
        self.pm = pm
        self.tb = tb
        self.cur = cur
        self.split_rss = split_rss
        self.gfp_anon = gfp_anon
        self.gfp_pgtable = gfp_pgtable
        self.gfp_user = gfp_user
        self.ptr_k0 = k0
        self.ptr_k1 = k1
        self.rss_preempt = rss_preempt
        self.next_anon_vma = 1
        self.cost_fault_ns = 1500
        self.cost_access_ns = 2
        self.cost_pgtable_ns = 300
        self.rng = 0x9e3779b97f4a7c15
        self.slab = None
        self.handle_userfault = NULL
        self.uffd_ctx = NULL
        self.blocked_on = None
        memset(self.fault_counts, 0, sizeof(self.fault_counts))
        # the shared zero page (empty_zero_page): a reserved frame taken at boot
        cdef pfn_t z = pm.alloc_pages(0xcc0, 0, 0)
        if z == NO_PFN:
            raise MemoryError("no memory for the zero page")
        pm.mem_map[z].flags |= (1ULL << PG_zero) | (1ULL << PG_reserved)
        self.zero_pfn = z

    def set_userfault_handler(self, handler):
        """Install handle_userfault(): ``handler(mm, vma, address, flags, reason)`` is called
        for faults on VMAs registered with VM_UFFD_MISSING (reason 0x200), VM_UFFD_WP (0x1000)
        or VM_UFFD_MINOR.  To make the faulting task wait it sets ``blocked_on`` to a
        :class:`memsim.sched.WaitQueue` and returns VM_FAULT_RETRY (0x400); the access is
        retried after a wake-up.  None uninstalls it (such faults then get SIGBUS)."""
        self.py_userfault = handler
        if handler is None:
            self.handle_userfault = NULL
            self.uffd_ctx = NULL
        else:
            self.handle_userfault = _py_userfault
            self.uffd_ctx = <void*>handler

    def find_page_in_mapping(self, VmArea vma, uint64_t addr):
        """The page cache page behind addr of a shared/file VMA, or None when absent: with
        ``pfn_of`` it tells "in the page cache but not mapped here" from "absent" (the test
        userfaultfd minor faults need)."""
        if vma.vm_file is None:
            return None
        index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        if vma.vm_file.a_ops is not None:
            return vma.vm_file.a_ops.find_page(vma.vm_file, index)
        return vma.vm_file.i_pages.get(index)

    # -- rss ---------------------------------------------------------------------------------
    cdef void emit_rss(self, MmStruct mm, int member, bint curr) noexcept:
        cdef uint64_t vals[4]
        cdef int64_t count
        if not self.tb.core[EV_RSS_STAT].enabled:
            return
        count = mm.rss[member]
        if not self.split_rss and count < 0:
            count = 0                   # percpu_counter_sum_positive (v6.2+)
        vals[0] = mm.mm_id
        vals[1] = curr
        vals[2] = member
        vals[3] = <uint64_t>(count << PAGE_SHIFT)
        try:
            self.tb.emit(EV_RSS_STAT, self.cur.cpu, self.cur.pid, vals, NULL, 0)
        except Exception:
            pass

    cdef void add_mm_counter_fast(self, MmStruct mm, int member, int64_t value) noexcept:
        """add_mm_counter_fast(): cached on current if it is current's mm, else a direct update."""
        cdef TaskStruct t = self.cur.task
        if self.split_rss and t is not None and t.mm is mm:
            t.rss_stat.count[member] += value
        else:
            mm.add_mm_counter(member, value, t is not None and t.mm is mm)

    cdef void sync_mm_rss(self, TaskStruct task, MmStruct mm) noexcept:
        """sync_mm_rss(): flush current's cached deltas (members in index order), reset events."""
        cdef int i
        for i in range(NR_MM_COUNTERS):
            if task.rss_stat.count[i]:
                mm.add_mm_counter(i, task.rss_stat.count[i], True)
                task.rss_stat.count[i] = 0
        task.rss_stat.events = 0

    def sync_current_rss(self):
        """sync_mm_rss(current->mm) (exit, exec, kthread_unuse_mm)."""
        cdef TaskStruct t = self.cur.task
        if t is not None and t.mm is not None and self.split_rss:
            self.sync_mm_rss(t, t.mm)

    cdef inline void check_sync_rss_stat(self) noexcept:
        """check_sync_rss_stat(current) at the start of handle_mm_fault."""
        cdef TaskStruct t = self.cur.task
        if not self.split_rss or t is None:
            return
        if t.rss_stat.events > TASK_RSS_EVENTS_THRESH:
            t.rss_stat.events += 1
            if t.mm is not None:
                self.sync_mm_rss(t, <MmStruct>t.mm)
        else:
            t.rss_stat.events += 1

    cdef void add_mm_rss_vec(self, MmStruct mm, int64_t* rss) noexcept:
        """add_mm_rss_vec(): sync first if mm is current's, then one event per non-zero member."""
        cdef TaskStruct t = self.cur.task
        cdef bint is_cur = t is not None and t.mm is mm
        cdef int i
        if is_cur and self.split_rss:
            self.sync_mm_rss(t, mm)
        for i in range(NR_MM_COUNTERS):
            if rss[i]:
                mm.add_mm_counter(i, rss[i], is_cur)

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

    def _kmem_alloc(self, str cache, str site):
        if self.slab is not None:
            return self.slab.cache_alloc(cache, 0xcc0, site)
        self.next_anon_vma += 1
        return 0xffff888200000000 + self.next_anon_vma * 0x100

    def _kmem_free(self, str cache, uint64_t addr, str site):
        if self.slab is not None and addr:
            self.slab.cache_free(cache, addr, site)

    def vm_area_alloc(self, bint dup=False):
        """vm_area_alloc() / vm_area_dup(): a vm_area_struct from its slab cache."""
        return self._kmem_alloc("vm_area_struct", "vm_area_dup" if dup else "vm_area_alloc")

    def vm_area_free(self, VmArea vma):
        """vm_area_free(), and unlink_anon_vmas()' anon_vma_chain."""
        self._kmem_free("vm_area_struct", vma.addr, "vm_area_free")
        vma.addr = 0

    def anon_vma_fork(self, VmArea parent):
        """anon_vma_fork(): clone the parent's chain, then a new anon_vma and its chain link."""
        self._kmem_alloc("anon_vma_chain", "anon_vma_clone")
        av = self._kmem_alloc("anon_vma", "anon_vma_fork")
        self._kmem_alloc("anon_vma_chain", "anon_vma_fork")
        return av

    def mm_free(self, MmStruct mm):
        """__mmdrop(): the mm_struct goes back to its cache."""
        self._kmem_free("mm_struct", mm.addr, "__mmdrop")

    def wrprotect_range(self, MmStruct mm, uint64_t start, uint64_t end):
        """change_protection() removing write: clear _PAGE_RW in the present PTEs."""
        cdef uint64_t addr = start
        cdef uint64_t* pte
        cdef int err
        while addr < end:
            err = 0
            pte = self.walk(mm, addr, False, &err)
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            if err == 0 and (pte[0] & _PAGE_PRESENT):
                pte[0] &= ~(<uint64_t>_PAGE_RW)
            addr += PAGE_SIZE

    # -- mm lifecycle ------------------------------------------------------------------------
    def mm_alloc(self, object owner=None):
        """mm_alloc(): a new mm_struct (from the mm_struct slab cache if there is one) and its pgd."""
        cdef MmStruct mm = MmStruct.__new__(MmStruct)
        mm.core = self
        mm.vmas = []
        mm.mm_users = 1
        mm.owner = owner
        mm.mmap_base = 0x7ffff7fff000
        memset(mm.rss, 0, sizeof(mm.rss))
        mm.addr = self._kmem_alloc("mm_struct", "mm_alloc")
        mm.mm_id = ptr_to_hashval(mm.addr, self.ptr_k0, self.ptr_k1)
        mm.pgd = self.alloc_table(0)
        if mm.pgd == NO_PFN:
            raise MemoryError("out of memory allocating a pgd")
        return mm

    cdef pfn_t alloc_table(self, int level) except? 0xfffffffffffffffe:
        """A zeroed page-table page (pgd_alloc / __pud_alloc / __pmd_alloc / __pte_alloc)."""
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
        self.tb.clock.now += self.cost_pgtable_ns
        return pfn

    cdef pfn_t alloc_pgtable(self, MmStruct mm) except? 0xfffffffffffffffe:
        return self.alloc_table(3)

    cdef int free_table_now(self, pfn_t pfn) except -1:
        cdef int level = <int>self.pm.mem_map[pfn].index
        free(<void*>self.pm.mem_map[pfn].private)
        self.pm.mem_map[pfn].private = 0
        self.pm.mem_map[pfn].flags &= ~(1ULL << PG_table)
        self.pm.mem_map[pfn].index = 0
        if level >= 3:
            self.nr_pagetable -= 1
        return 0

    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL:
        """Walk pgd -> pud -> pmd -> pte (allocating missing levels: __pud_alloc, __pmd_alloc,
        __pte_alloc, in that order).  Returns the PTE slot, or NULL (err=1: no table,
        err=VM_FAULT_OOM: allocation failed, err=2: a PMD/PUD leaf maps addr)."""
        cdef pfn_t table = mm.pgd, nt
        cdef uint64_t* ents
        cdef uint64_t e
        cdef int shift, level = 1
        for shift in (PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT):
            ents = table_entries(self.pm, table)
            e = ents[(addr >> shift) & 511]
            if not (e & _PAGE_PRESENT):
                if not alloc:
                    err[0] = 1
                    return NULL
                nt = self.alloc_table(level + 1)
                if nt == NO_PFN:
                    err[0] = VM_FAULT_OOM
                    return NULL
                ents[(addr >> shift) & 511] = (nt << PAGE_SHIFT) | _PAGE_TABLE
                mm.pgtables_bytes += PAGE_SIZE
                e = ents[(addr >> shift) & 511]
            elif e & _PAGE_PSE:
                err[0] = 2
                return &ents[(addr >> shift) & 511]
            table = (e & PTE_PFN_MASK) >> PAGE_SHIFT
            level += 1
        return &table_entries(self.pm, table)[(addr >> PAGE_SHIFT) & 511]

    # -- faults ------------------------------------------------------------------------------
    cdef int handle_mm_fault(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1:
        """handle_mm_fault(): count it, check_sync_rss_stat, then dispatch by VMA type."""
        cdef int err = 0
        cdef uint64_t* pte
        self.check_sync_rss_stat()
        self.tb.clock.now += self.cost_fault_ns
        if vma.vm_ops != NULL:
            return vma.vm_ops.fault(vma.vm_ops.ctx, mm, vma, addr, flags)
        pte = self.walk(mm, addr, True, &err)
        if pte == NULL:
            if err == 2:
                return 0                # a huge leaf already maps it
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        return self.do_fault_pte(mm, vma, addr, pte, flags)

    cdef int do_fault_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, unsigned int flags) except -1:
        """handle_pte_fault(): none -> do_anonymous_page / do_fault; present -> do_wp_page."""
        cdef uint64_t e = pte[0]
        cdef bint write = flags & FAULT_FLAG_WRITE
        if not (e & _PAGE_PRESENT):
            if vma.vm_file is None:
                return self.do_anonymous_page(mm, vma, addr, pte, write)
            return self.do_file_fault(mm, vma, addr, pte, write)
        if write and not (e & _PAGE_RW):
            if vma.vm_flags & C_VM_UFFD and (e & 0x400) and self.handle_userfault != NULL:
                return self.handle_userfault(self.uffd_ctx, mm, vma, addr, flags, 0x1000)
            return self.do_wp_page(mm, vma, addr, pte)
        pte[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        return 0

    cdef uint64_t anon_vma_prepare(self, VmArea vma) except? 0xffffffffffffffff:
        """anon_vma_prepare(): give the VMA an anon_vma (slab objects if a slab allocator runs)."""
        if vma.anon_vma == 0:
            # __anon_vma_prepare(): the chain link first, then the anon_vma
            self._kmem_alloc("anon_vma_chain", "__anon_vma_prepare")
            vma.anon_vma = self._kmem_alloc("anon_vma", "__anon_vma_prepare")
        return vma.anon_vma

    cdef inline void page_add_new_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) noexcept:
        cdef page* p = &self.pm.mem_map[pfn]
        p._mapcount = 1
        p.mapping = vma.anon_vma | PAGE_MAPPING_ANON
        p.index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        p.flags |= 1ULL << PG_swapbacked

    cdef int do_anonymous_page(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, bint write) except -1:
        """do_anonymous_page(): zero page for reads, a new zeroed page for writes."""
        cdef pfn_t pfn
        cdef uint64_t entry
        if not write:
            if vma.vm_flags & C_VM_UFFD_MISSING and self.handle_userfault != NULL:
                return self.handle_userfault(self.uffd_ctx, mm, vma, addr, 0, 0x200)
            pte[0] = (self.zero_pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_SPECIAL | _PAGE_ACCESSED
            self.fault_counts[FK_ZERO] += 1
            return 0
        self.anon_vma_prepare(vma)
        pfn = self.pm.alloc_pages(self.gfp_anon, 0, -1)
        if pfn == NO_PFN:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if self.pm.ops.charge != NULL:
            if self.pm.ops.charge(self.pm.ops.ctx, pfn, 0, 0xcc0, mm) != 0:
                self.put_page(pfn)
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
        if vma.vm_flags & C_VM_UFFD_MISSING and self.handle_userfault != NULL:
            self.put_page(pfn)
            return self.handle_userfault(self.uffd_ctx, mm, vma, addr, FAULT_FLAG_WRITE, 0x200)
        self.add_mm_counter_fast(mm, MM_ANONPAGES, 1)
        self.page_add_new_anon_rmap(pfn, vma, addr)
        entry = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
        if vma.vm_flags & C_VM_WRITE:
            entry |= _PAGE_RW | _PAGE_DIRTY
        pte[0] = entry
        self.fault_counts[FK_ANON] += 1
        return 0

    cdef int do_wp_page(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte) except -1:
        """do_wp_page(): reuse an exclusively owned anon page, else wp_page_copy()."""
        cdef uint64_t e = pte[0]
        cdef pfn_t old = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* op = &self.pm.mem_map[old]
        cdef pfn_t new
        cdef bint old_is_zero = (e & _PAGE_SPECIAL) != 0
        if not (vma.vm_flags & C_VM_WRITE):
            self.fault_counts[FK_SIGSEGV] += 1
            return VM_FAULT_SIGSEGV
        if not old_is_zero:
            if op.mapping & PAGE_MAPPING_ANON:
                if op._refcount == 1 and op._mapcount == 1:
                    pte[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED     # wp_page_reuse
                    self.fault_counts[FK_REUSE] += 1
                    return 0
            elif (vma.vm_flags & (C_VM_WRITE | C_VM_SHARED)) == (C_VM_WRITE | C_VM_SHARED):
                pte[0] = e | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED     # wp_page_shared
                self.fault_counts[FK_SHARED] += 1
                return 0
        # wp_page_copy()
        self.anon_vma_prepare(vma)
        if old_is_zero:
            new = self.pm.alloc_pages(self.gfp_anon, 0, -1)
        else:
            new = self.pm.alloc_pages(self.gfp_user, 0, -1)
            if new != NO_PFN:
                self.pm.copy_content(new, old)
        if new == NO_PFN:
            self.fault_counts[FK_OOM] += 1
            return VM_FAULT_OOM
        if self.pm.ops.charge != NULL:
            if self.pm.ops.charge(self.pm.ops.ctx, new, 0, 0xcc0, mm) != 0:
                self.put_page(new)
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
        if old_is_zero:
            self.add_mm_counter_fast(mm, MM_ANONPAGES, 1)
        elif not (op.mapping & PAGE_MAPPING_ANON):
            self.add_mm_counter_fast(mm, MM_SHMEMPAGES if op.flags & (1ULL << PG_swapbacked) else MM_FILEPAGES, -1)
            self.add_mm_counter_fast(mm, MM_ANONPAGES, 1)
        self.page_add_new_anon_rmap(new, vma, addr)
        pte[0] = (new << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_RW | _PAGE_DIRTY
        if not old_is_zero:
            op._mapcount -= 1           # page_remove_rmap
            self.put_page(old)
        self.fault_counts[FK_COW] += 1
        return 0

    cdef int do_file_fault(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, bint write) except -1:
        """do_fault(): do_read_fault / do_cow_fault / do_shared_fault through the mapping."""
        cdef AddressSpace mapping = vma.vm_file
        cdef uint64_t index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        cdef pfn_t pfn, new
        cdef page* p
        cdef bint shared = (vma.vm_flags & C_VM_SHARED) != 0
        cdef uint64_t entry
        cdef int member
        if not mapping.swapbacked and index >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
            self.fault_counts[FK_SIGBUS] += 1
            return VM_FAULT_SIGBUS
        if mapping.a_ops is not None:
            pfn = mapping.a_ops.get_page(mapping, index, vma, addr)
            if pfn == NO_PFN:
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
        else:
            got = mapping.i_pages.get(index)
            if got is None:
                pfn = self.pm.alloc_pages(self.gfp_user, 0, -1)
                if pfn == NO_PFN:
                    self.fault_counts[FK_OOM] += 1
                    return VM_FAULT_OOM
                p = &self.pm.mem_map[pfn]
                p.mapping = mapping.i_ino << 4
                p.index = index
                if mapping.swapbacked:
                    p.flags |= 1ULL << PG_swapbacked
                else:
                    self.fault_counts[FK_MAJOR] += 1
                mapping.i_pages[index] = pfn
            else:
                pfn = got
        p = &self.pm.mem_map[pfn]
        if write and not shared:
            # do_cow_fault(): a private copy of the file page
            self.anon_vma_prepare(vma)
            new = self.pm.alloc_pages(self.gfp_user, 0, -1)
            if new == NO_PFN:
                self.fault_counts[FK_OOM] += 1
                return VM_FAULT_OOM
            self.pm.copy_content(new, pfn)
            self.add_mm_counter_fast(mm, MM_ANONPAGES, 1)
            self.page_add_new_anon_rmap(new, vma, addr)
            pte[0] = (new << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_RW | _PAGE_DIRTY
            self.fault_counts[FK_FILE_COW] += 1
            return 0
        p._refcount += 1
        p._mapcount += 1
        member = MM_SHMEMPAGES if p.flags & (1ULL << PG_swapbacked) else MM_FILEPAGES
        self.add_mm_counter_fast(mm, member, 1)
        entry = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
        if shared and (vma.vm_flags & C_VM_WRITE) and (write or mapping.swapbacked):
            entry |= _PAGE_RW
            if write:
                entry |= _PAGE_DIRTY
        pte[0] = entry
        self.fault_counts[FK_SHARED if (write and shared) else FK_FILE_READ] += 1
        return 0

    cdef int put_page(self, pfn_t pfn) except -1:
        """put_page(): drop a reference; free the page (or compound) when it reaches zero."""
        cdef page* p = &self.pm.mem_map[pfn]
        if p.flags & (1ULL << PG_tail):
            pfn = p.compound_head
            p = &self.pm.mem_map[pfn]
        p._refcount -= 1
        if p._refcount == 0:
            self.pm.free_pages(pfn, p.compound_order if p.flags & (1ULL << PG_head) else 0)
        return 0

    # -- the access loop (touch) -----------------------------------------------------------
    def access(self, MmStruct mm, VmArea vma, uint64_t start, uint64_t end, bint write,
               int pattern=0, uint64_t stride=4096, uint64_t count=0, uint64_t progress=0,
               uint64_t max_accesses=0xffffffffffffffff):
        """Touch [start, end) of ``vma`` as the current task: one C loop, no Python per page.

        pattern 0 = sequential (every page), 1 = random (``count`` accesses), 2 = strided
        (every ``stride`` bytes).  Stops after ``max_accesses`` (a preemption point) or at the
        first fault that fails or must wait.  Returns (progress, vm_fault_code, address).
        """
        cdef uint64_t n_total, i, addr, npages
        cdef uint64_t* pte
        cdef uint64_t* pt_cache = NULL
        cdef uint64_t pt_key = 0xffffffffffffffff
        cdef uint64_t e
        cdef int err, ret
        cdef unsigned int flags = FAULT_FLAG_WRITE | FAULT_FLAG_USER if write else FAULT_FLAG_USER
        cdef uint64_t done = 0
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
        if (write and not (vma.vm_flags & C_VM_WRITE)) or (not write and not (vma.vm_flags & (C_VM_READ | C_VM_WRITE | 0x4))):
            self.fault_counts[FK_SIGSEGV] += 1
            return progress, VM_FAULT_SIGSEGV, start
        i = progress
        while i < n_total and done < max_accesses:
            if pattern == 1:
                addr = start + (xorshift64(&self.rng) % npages) * PAGE_SIZE
            elif pattern == 2:
                addr = start + i * stride
            else:
                addr = start + i * PAGE_SIZE
            addr &= ~(<uint64_t>PAGE_SIZE - 1)
            if (addr >> PMD_SHIFT) == pt_key:
                pte = &pt_cache[(addr >> PAGE_SHIFT) & 511]
            else:
                err = 0
                pte = self.walk(mm, addr, False, &err)
                if pte != NULL and err == 0:
                    pt_cache = pte - ((addr >> PAGE_SHIFT) & 511)
                    pt_key = addr >> PMD_SHIFT
                elif err == 2:
                    # a PMD/PUD leaf maps it: the access hits
                    self.tb.clock.now += self.cost_access_ns
                    i += 1
                    done += 1
                    continue
            if pte != NULL:
                e = pte[0]
                if (e & _PAGE_PRESENT) and (not write or (e & _PAGE_RW)):
                    pte[0] = e | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
                    self.tb.clock.now += self.cost_access_ns
                    i += 1
                    done += 1
                    continue
            ret = self.handle_mm_fault(mm, vma, addr, flags)
            if ret & (VM_FAULT_ERROR | VM_FAULT_RETRY):
                return i, ret, addr
            i += 1
            done += 1
        return i, 0, 0

    def fault(self, MmStruct mm, VmArea vma, uint64_t addr, bint write):
        """One handle_mm_fault() for addr (no-op if the access would not fault)."""
        r = self.access(mm, vma, addr & ~0xfff, (addr & ~0xfff) + PAGE_SIZE, write)
        return r[1]

    def pfn_of(self, MmStruct mm, uint64_t addr):
        """The pfn mapped at addr (None if not present)."""
        cdef int err = 0
        cdef uint64_t* p = self.walk(mm, addr, False, &err)
        if p == NULL or not (p[0] & _PAGE_PRESENT):
            return None
        if err == 2:
            return ((p[0] & PTE_PFN_MASK) >> PAGE_SHIFT) + ((addr >> PAGE_SHIFT) & 511)
        return (p[0] & PTE_PFN_MASK) >> PAGE_SHIFT

    def set_pte(self, MmStruct mm, uint64_t addr, uint64_t value):
        """Install a PTE (allocating tables); for plugins such as UFFDIO_COPY/CONTINUE."""
        cdef int err = 0
        cdef uint64_t* p = self.walk(mm, addr, True, &err)
        if p == NULL:
            return VM_FAULT_OOM
        p[0] = value
        return 0

    def set_huge_pte(self, MmStruct mm, uint64_t addr, uint64_t value, int level):
        """Install a PMD (level 3, 2 MiB) or PUD (level 2, 1 GiB) leaf for hugetlb/THP:
        ``value`` gets _PAGE_PSE.  Missing upper tables are allocated (huge_pte_alloc)."""
        cdef pfn_t table = mm.pgd, nt
        cdef uint64_t* ents
        cdef int shift, lvl = 1
        if level not in (2, 3):
            raise ValueError("level must be 2 (PUD leaf) or 3 (PMD leaf)")
        for shift in (PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT):
            ents = table_entries(self.pm, table)
            if lvl == level:
                ents[(addr >> shift) & 511] = value | _PAGE_PSE
                return 0
            if not (ents[(addr >> shift) & 511] & _PAGE_PRESENT):
                nt = self.alloc_table(lvl + 1)
                if nt == NO_PFN:
                    return VM_FAULT_OOM
                ents[(addr >> shift) & 511] = (nt << PAGE_SHIFT) | _PAGE_TABLE
                mm.pgtables_bytes += PAGE_SIZE
            table = (ents[(addr >> shift) & 511] & PTE_PFN_MASK) >> PAGE_SHIFT
            lvl += 1
        return 0

    def huge_pte(self, MmStruct mm, uint64_t addr):
        """The PMD/PUD leaf entry mapping addr, or 0."""
        cdef int err = 0
        cdef uint64_t* p = self.walk(mm, addr, False, &err)
        return p[0] if (p != NULL and err == 2) else 0

    def clear_huge_pte(self, MmStruct mm, uint64_t addr):
        """Clear the leaf mapping addr (the owner unmaps and accounts huge pages itself)."""
        cdef int err = 0
        cdef uint64_t* p = self.walk(mm, addr, False, &err)
        if p != NULL and err == 2:
            p[0] = 0

    # -- counting ----------------------------------------------------------------------------
    def count_present(self, MmStruct mm, VmArea vma):
        """(anon, file, shmem) present PTEs of one VMA, read from the page tables."""
        cdef page* p
        cdef uint64_t a = 0, f = 0, s = 0
        for pfn, n in self.mapped_pages(mm, vma).items():
            p = &self.pm.mem_map[<pfn_t>pfn]
            if p.mapping & PAGE_MAPPING_ANON:
                a += n
            elif p.flags & (1ULL << PG_swapbacked):
                s += n
            else:
                f += n
        return a, f, s

    def mapped_pages(self, MmStruct mm, VmArea vma):
        """{pfn: number of PTEs of this VMA mapping it} (for invariant checks)."""
        cdef uint64_t addr = vma.vm_start
        cdef uint64_t* pte
        cdef int err
        cdef uint64_t e
        out = {}
        while addr < vma.vm_end:
            err = 0
            pte = self.walk(mm, addr, False, &err)
            if pte == NULL:
                addr = ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT
                continue
            e = pte[0]
            if (e & _PAGE_PRESENT) and not (e & _PAGE_SPECIAL):
                pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                out[pfn] = out.get(pfn, 0) + 1
            addr += PAGE_SIZE
        return out

    def fault_counts_dict(self):
        return {FAULT_KIND_NAMES[i]: self.fault_counts[i] for i in range(NR_FAULT_KINDS)}

    def page_counts(self, pfn_t pfn):
        return self.pm.mem_map[pfn]._refcount, self.pm.mem_map[pfn]._mapcount

    # -- unmapping ---------------------------------------------------------------------------
    def unmap_region(self, MmStruct mm, list vmas, uint64_t start, uint64_t end,
                     uint64_t floor, uint64_t ceiling, bint fullmm=False):
        """unmap_region()/exit_mmap(): zap [start, end) of ``vmas`` through one mmu_gather,
        free the page tables between floor and ceiling, then tlb_finish_mmu()."""
        cdef MmuGather tlb = MmuGather(self, mm, fullmm)
        cdef VmArea v
        for v in vmas:
            s = max(start, v.vm_start)
            e = min(end, v.vm_end)
            if s < e:
                self.zap_range(tlb, mm, v, s, e)
        self.free_pgtables(tlb, mm, vmas, floor, ceiling)
        tlb.finish()

    cdef int zap_range(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t start, uint64_t end) except -1:
        """unmap_page_range(): zap_pte_range() per page table, one rss batch each; a full
        gather batch forces a flush and restarts the batch (zap_pte_range's force_flush)."""
        cdef uint64_t addr = start, next_end, e
        cdef uint64_t* pte
        cdef int err
        cdef int64_t rss[NR_MM_COUNTERS]
        cdef pfn_t pfn
        cdef page* p
        cdef bint force_flush
        cdef int member
        while addr < end:
            next_end = min(end, ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT)
            err = 0
            pte = self.walk(mm, addr, False, &err)
            if pte == NULL:
                if err == 2 and vma.vm_ops != NULL:
                    pass                # huge leaves are unmapped by their owner
                addr = next_end
                continue
            pte -= (addr >> PAGE_SHIFT) & 511
            while True:
                memset(rss, 0, sizeof(rss))
                force_flush = False
                while addr < next_end:
                    e = pte[(addr >> PAGE_SHIFT) & 511]
                    if not (e & _PAGE_PRESENT):
                        if e != 0:
                            # a swap entry (non-present, non-zero)
                            rss[MM_SWAPENTS] -= 1
                            pte[(addr >> PAGE_SHIFT) & 511] = 0
                        addr += PAGE_SIZE
                        continue
                    pte[(addr >> PAGE_SHIFT) & 511] = 0
                    if e & _PAGE_SPECIAL:
                        addr += PAGE_SIZE
                        continue
                    pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                    p = &self.pm.mem_map[pfn]
                    if p.mapping & PAGE_MAPPING_ANON:
                        member = MM_ANONPAGES
                    elif p.flags & (1ULL << PG_swapbacked):
                        member = MM_SHMEMPAGES
                    else:
                        member = MM_FILEPAGES
                        if e & _PAGE_DIRTY:
                            force_flush = True
                    rss[member] -= 1
                    p._mapcount -= 1
                    addr += PAGE_SIZE
                    if tlb.remove_page(pfn):
                        force_flush = True
                        break
                self.add_mm_rss_vec(mm, rss)
                if force_flush:
                    tlb.flush()
                if addr >= next_end:
                    break
        return 0

    cdef int free_pgtables(self, MmuGather tlb, MmStruct mm, list vmas, uint64_t floor, uint64_t ceiling) except -1:
        """free_pgtables(): free_pgd_range() over runs of VMAs less than a PMD apart."""
        cdef int i = 0, n = len(vmas)
        cdef VmArea v, nxt
        cdef uint64_t addr
        while i < n:
            v = vmas[i]
            addr = v.vm_start
            while i + 1 < n and (<VmArea>vmas[i + 1]).vm_start <= v.vm_end + PMD_SIZE:
                i += 1
                v = vmas[i]
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

    cdef bint table_empty(self, pfn_t table) noexcept:
        cdef uint64_t* ents = table_entries(self.pm, table)
        cdef int i
        for i in range(PTRS_PER_TABLE):
            if ents[i]:
                return False
        return True

    def free_pgd(self, MmStruct mm):
        """mm_free_pgd(): the pgd page goes back to the allocator (at __mmdrop)."""
        if mm.pgd != NO_PFN:
            self.free_table_now(mm.pgd)
            self.put_page(mm.pgd)
            mm.pgd = NO_PFN

    # -- fork ---------------------------------------------------------------------------------
    def copy_page_range(self, MmStruct dst, VmArea dst_vma, MmStruct src, VmArea src_vma):
        """copy_page_range(): share the parent's pages with the child, write-protecting COW
        mappings, one add_mm_rss_vec(child) per copied page table (copy_pte_range).

        Like v5.14, VMAs without an anon_vma (never written privately) are not copied: the
        child faults them in again."""
        cdef uint64_t addr = src_vma.vm_start, next_end, e
        cdef uint64_t* spte
        cdef uint64_t* dpte
        cdef int err
        cdef int64_t rss[NR_MM_COUNTERS]
        cdef pfn_t pfn
        cdef page* p
        cdef bint cow = (src_vma.vm_flags & (C_VM_SHARED | C_VM_MAYWRITE)) == C_VM_MAYWRITE
        if src_vma.anon_vma == 0 and src_vma.vm_ops == NULL:
            return
        while addr < src_vma.vm_end:
            next_end = min(src_vma.vm_end, ((addr >> PMD_SHIFT) + 1) << PMD_SHIFT)
            err = 0
            spte = self.walk(src, addr, False, &err)
            if spte == NULL:
                addr = next_end
                continue
            err = 0
            dpte = self.walk(dst, addr, True, &err)
            if dpte == NULL:
                raise MemoryError("out of memory copying page tables")
            memset(rss, 0, sizeof(rss))
            while addr < next_end:
                e = spte[0]
                if e & _PAGE_PRESENT:
                    if not (e & _PAGE_SPECIAL):
                        pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                        p = &self.pm.mem_map[pfn]
                        p._refcount += 1
                        p._mapcount += 1
                        if p.mapping & PAGE_MAPPING_ANON:
                            rss[MM_ANONPAGES] += 1
                        elif p.flags & (1ULL << PG_swapbacked):
                            rss[MM_SHMEMPAGES] += 1
                        else:
                            rss[MM_FILEPAGES] += 1
                    if cow and (e & _PAGE_RW):
                        e &= ~(<uint64_t>_PAGE_RW)
                        spte[0] = e
                    if src_vma.vm_flags & C_VM_SHARED:
                        e &= ~(<uint64_t>(_PAGE_DIRTY | _PAGE_ACCESSED))
                    dpte[0] = e
                elif e != 0:
                    dpte[0] = e
                    rss[MM_SWAPENTS] += 1
                spte += 1
                dpte += 1
                addr += PAGE_SIZE
            self.add_mm_rss_vec(dst, rss)


cdef class MmuGather:
    """struct mmu_gather (mm/mmu_gather.c): pages to free after the TLB flush, in batches of 8
    (the bundled local batch) then 510 (batch pages from GFP_NOWAIT|__GFP_NOWARN), at most 19
    extra batches.  release_pages() frees each batch through free_unref_page_list() in reverse
    order (it list_add()s each page to the head of pages_to_free)."""
    def __cinit__(self, MmCore core, MmStruct mm, bint fullmm):
        self.core = core
        self.mm = mm
        self.fullmm = fullmm
        self.pages = <pfn_t*>malloc(GATHER_CAPACITY * sizeof(pfn_t))
        self.nr = 0
        self.active_max = MMU_GATHER_BUNDLE
        self.active = 0
        self.batch_pages = []
        self.batch_ends = [MMU_GATHER_BUNDLE]

    def __dealloc__(self):
        free(self.pages)

    cdef bint remove_page(self, pfn_t pfn) except -1:
        """__tlb_remove_page(): queue a page; True when no batch is left (flush needed)."""
        cdef pfn_t bp
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
            bp = self.core.pm.alloc_pages(GFP_KSWAPD_RECLAIM_ | GFP_NOWARN_, 0, -1)
            if bp == NO_PFN:
                return True
            self.batch_pages.append(bp)
            self.active += 1
            self.active_max += MAX_GATHER_BATCH
            self.batch_ends.append(self.active_max)
        return False

    cdef int remove_table(self, pfn_t pfn) except -1:
        """pte_free_tlb() on x86 without paravirt: tlb_remove_page() of the table page."""
        self.core.free_table_now(pfn)
        if self.remove_page(pfn):
            self.flush()
        return 0

    cdef int flush(self) except -1:
        """tlb_flush_mmu(): release every queued page, batch by batch."""
        cdef int start = 0, end, i, k, n
        cdef pfn_t tofree[MAX_GATHER_BATCH]
        cdef page* p
        cdef pfn_t pfn
        for end in self.batch_ends:
            if start >= self.nr:
                break
            end = min(end, self.nr)
            # release_pages(): put each page; the freed ones go on pages_to_free reversed
            n = 0
            for i in range(start, end):
                pfn = self.pages[i]
                p = &self.core.pm.mem_map[pfn]
                if p.flags & (1ULL << PG_tail):
                    pfn = p.compound_head
                    p = &self.core.pm.mem_map[pfn]
                p._refcount -= 1
                if p._refcount != 0:
                    continue
                if p.flags & (1ULL << PG_head):
                    self.core.pm.free_pages(pfn, p.compound_order)
                    continue
                tofree[n] = pfn
                n += 1
            for k in range(n // 2):
                pfn = tofree[k]
                tofree[k] = tofree[n - 1 - k]
                tofree[n - 1 - k] = pfn
            self.core.pm.free_unref_page_list(tofree, n)
            start = end
        self.nr = 0
        self.active = 0
        self.active_max = MMU_GATHER_BUNDLE
        return 0

    def finish(self):
        """tlb_finish_mmu(): flush, then free the extra batch pages."""
        self.flush()
        for bp in self.batch_pages:
            self.core.pm.free_pages(bp, 0)
        self.batch_pages = []
        self.batch_ends = [MMU_GATHER_BUNDLE]
