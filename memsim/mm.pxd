# cython: language_level=3
"""mm_struct, VMAs, x86-64 4-level page tables, the fault path and rss counting."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t
from memsim._types cimport pfn_t, gfp_t, NR_MM_COUNTERS
from memsim.physmem cimport PhysMem
from memsim.ring cimport TraceBuffer
from memsim.task cimport Current, TaskStruct

cdef class MmStruct
cdef class VmArea
cdef class MmCore
cdef class MmuGather

# A VMA's typed fault ops: plugins that intercept a VMA (userfaultfd, hugetlb, page cache)
# install one; NULL means the core's own handlers.  Return a VM_FAULT_* code.
ctypedef int (*fault_fn)(void* ctx, MmStruct mm, VmArea vma, uint64_t address, unsigned int flags) except -1

cdef struct vm_operations_struct:
    fault_fn fault
    void* ctx

# handle_userfault(): installed by the userfaultfd plugin; called from the fault path when a
# VMA carries VM_UFFD_MISSING / VM_UFFD_MINOR / VM_UFFD_WP.  Returns VM_FAULT_RETRY to block.
ctypedef int (*userfault_fn)(void* ctx, MmStruct mm, VmArea vma, uint64_t address,
                             unsigned int flags, uint64_t reason) except -1

cdef enum:
    VM_FAULT_OOM = 0x000001
    VM_FAULT_SIGBUS = 0x000002
    VM_FAULT_MAJOR = 0x000004
    VM_FAULT_WRITE = 0x000008
    VM_FAULT_SIGSEGV = 0x000040
    VM_FAULT_NOPAGE = 0x000100
    VM_FAULT_LOCKED = 0x000200
    VM_FAULT_RETRY = 0x000400
    VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV

cdef enum:
    FAULT_FLAG_WRITE = 0x01
    FAULT_FLAG_REMOTE = 0x80
    FAULT_FLAG_USER = 0x40

# fault kinds counted per task and machine
cdef enum:
    FK_ANON = 0          # do_anonymous_page, new page
    FK_ZERO = 1          # do_anonymous_page, read: shared zero page mapped
    FK_COW = 2           # wp_page_copy
    FK_REUSE = 3         # wp_page_reuse
    FK_FILE_READ = 4     # do_read_fault
    FK_FILE_COW = 5      # do_cow_fault
    FK_SHARED = 6        # do_shared_fault
    FK_MAJOR = 7         # a fault that had to read the page in
    FK_OOM = 8
    FK_SIGSEGV = 9
    FK_SIGBUS = 10
    NR_FAULT_KINDS = 11

cdef class AddressSpace:
    cdef public uint64_t i_ino
    cdef public uint32_t s_dev
    cdef public bint swapbacked         # shmem / shared anonymous
    cdef public uint64_t i_size
    cdef public str name
    cdef public dict i_pages            # index -> pfn (the built-in page cache)
    cdef public object a_ops            # page-cache plugin ops, None = built-in

cdef class VmArea:
    cdef public uint64_t vm_start
    cdef public uint64_t vm_end
    cdef public uint64_t vm_flags
    cdef public uint64_t vm_pgoff
    cdef public AddressSpace vm_file
    cdef public uint64_t anon_vma       # anon_vma id (0 = not prepared yet)
    cdef public str name
    cdef public object vm_private       # plugin state (e.g. the userfaultfd context)
    cdef public uint64_t addr           # the vm_area_struct's kernel address
    cdef public object py_fault         # Python fault handler behind PY_VM_OPS (or None)
    cdef vm_operations_struct* vm_ops

cdef class MmStruct:
    cdef MmCore core
    cdef pfn_t pgd
    cdef public list vmas               # sorted by vm_start
    cdef int64_t rss[NR_MM_COUNTERS]
    cdef public uint32_t mm_id
    cdef public uint64_t addr           # the mm_struct's kernel address (hashed into mm_id)
    cdef public int mm_users
    cdef public uint64_t pgtables_bytes
    cdef public uint64_t mmap_base
    cdef public object owner            # the TaskStruct that created it
    cdef inline void add_mm_counter(self, int member, int64_t value, bint curr) noexcept

cdef class MmCore:
    cdef PhysMem pm
    cdef TraceBuffer tb
    cdef Current cur
    cdef readonly pfn_t zero_pfn
    cdef public bint split_rss
    cdef public gfp_t gfp_anon
    cdef public gfp_t gfp_pgtable
    cdef public gfp_t gfp_user          # GFP_HIGHUSER_MOVABLE (COW copies, page cache)
    cdef public uint64_t ptr_k0
    cdef public uint64_t ptr_k1
    cdef uint64_t fault_counts[NR_FAULT_KINDS]
    cdef public uint64_t next_anon_vma
    cdef public uint64_t nr_pagetable   # NR_PAGETABLE: pte + pmd table pages
    cdef public uint64_t cost_fault_ns
    cdef public uint64_t cost_access_ns
    cdef public uint64_t cost_pgtable_ns
    cdef public uint64_t rng
    cdef public object slab             # the slab allocator, for anon_vma & co (optional)
    cdef int rss_preempt
    cdef userfault_fn handle_userfault
    cdef void* uffd_ctx
    cdef public object blocked_on       # set by handle_userfault when a fault must wait
    cdef object py_userfault            # Python handler behind the userfault trampoline
    cdef uint64_t* walk(self, MmStruct mm, uint64_t addr, bint alloc, int* err) except? NULL
    cdef int handle_mm_fault(self, MmStruct mm, VmArea vma, uint64_t addr, unsigned int flags) except -1
    cdef int do_fault_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, unsigned int flags) except -1
    cdef int do_anonymous_page(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, bint write) except -1
    cdef int do_wp_page(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte) except -1
    cdef int do_file_fault(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte, bint write) except -1
    cdef void add_mm_counter_fast(self, MmStruct mm, int member, int64_t value) noexcept
    cdef void sync_mm_rss(self, TaskStruct task, MmStruct mm) noexcept
    cdef void emit_rss(self, MmStruct mm, int member, bint curr) noexcept
    cdef pfn_t alloc_pgtable(self, MmStruct mm) except? 0xfffffffffffffffe
    cdef pfn_t alloc_table(self, int level) except? 0xfffffffffffffffe
    cdef int free_table_now(self, pfn_t pfn) except -1
    cdef inline void check_sync_rss_stat(self) noexcept
    cdef void add_mm_rss_vec(self, MmStruct mm, int64_t* rss) noexcept
    cdef uint64_t anon_vma_prepare(self, VmArea vma) except? 0xffffffffffffffff
    cdef inline void page_add_new_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) noexcept
    cdef int zap_range(self, MmuGather tlb, MmStruct mm, VmArea vma, uint64_t start, uint64_t end) except -1
    cdef int free_pgtables(self, MmuGather tlb, MmStruct mm, list vmas, uint64_t floor, uint64_t ceiling) except -1
    cdef int free_pgd_range(self, MmuGather tlb, MmStruct mm, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling) except -1
    cdef int free_table(self, MmuGather tlb, MmStruct mm, uint64_t* parent, int tlevel, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling) except -1
    cdef bint table_empty(self, pfn_t table) noexcept
    cdef int put_page(self, pfn_t pfn) except -1

cdef class MmuGather:
    cdef MmCore core
    cdef MmStruct mm
    cdef bint fullmm
    cdef pfn_t* pages
    cdef int nr
    cdef int active_max
    cdef int active
    cdef list batch_pages
    cdef list batch_ends
    cdef bint remove_page(self, pfn_t pfn) except -1
    cdef int remove_table(self, pfn_t pfn) except -1
    cdef int flush(self) except -1
