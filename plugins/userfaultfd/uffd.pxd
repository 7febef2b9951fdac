# cython: language_level=3
# userfaultfd in C (fs/userfaultfd.c, mm/userfaultfd.c): the context, the fault path the core
# reaches through its userfaultfd_ops table, the wake-ups and the fill engine of the ioctls.
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport pfn_t
from memsim.mm cimport MmCore, MmStruct, VmArea, AddressSpace, vm_fault, userfaultfd_ops
from memsim.physmem cimport PhysMem


cdef class UserfaultfdCtx:
    """struct userfaultfd_ctx: one per userfaultfd file (userfaultfd.md 2.1)."""
    cdef public Userfaultfd host        # the machine's userfaultfd state
    cdef public MmStruct mm             # the address space it was created in (pinned)
    cdef public int flags               # O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY
    cdef public uint64_t features       # the features UFFDIO_API asked for (as asked)
    cdef public bint api_done           # state RUNNING (WAIT_API until UFFDIO_API succeeds)
    cdef public bint released           # close(): faults are no longer queued
    cdef public int mmap_changing       # non-cooperative events in flight (fill ioctls: EAGAIN)
    cdef public list fault_pending      # Faults not read yet, oldest first
    cdef public list fault_read         # Faults read but not woken
    cdef public list events             # Events not read yet, oldest first
    cdef public object fd_wqh           # readers and pollers (memsim.sched.WaitQueue)
    cdef public int id                  # creation number, for messages
    cdef int wake_range(self, uint64_t start, uint64_t length) except -1


cdef class Fault:
    """One queued page fault: its message and the wait queue its thread sleeps on."""
    cdef public UserfaultfdCtx ctx
    cdef public uint64_t flags          # UFFD_PAGEFAULT_FLAG_*
    cdef public uint64_t address        # the message's address (wake-ups match it)
    cdef public uint32_t ptid           # the thread id (THREAD_ID), else 0
    cdef public object waitq            # the faulting thread sleeps here
    cdef public object task             # the faulting TaskStruct


cdef class Userfaultfd:
    """The machine's userfaultfd state: the ops table the core calls, the profile's choices,
    every context, and the fill engine."""
    cdef MmCore core
    cdef PhysMem pm
    cdef userfaultfd_ops ops
    cdef public object machine
    cdef public list ctxs               # live contexts
    cdef public int next_id
    cdef public bint exact_address      # the profile knows UFFD_FEATURE_EXACT_ADDRESS
    cdef public bint wp_shmem           # WP registration on shmem and hugetlb (v5.19+)
    cdef public bint continue_wp        # UFFDIO_CONTINUE_MODE_WP (v6.5+)
    cdef public dict stats              # faults by reason, messages, wake-ups
    cdef public object shmem_fill       # the page cache plugin's shmem_mfill_atomic_pte
    cdef public object hugetlb_fill     # the hugetlb plugin's hugetlb_mfill_atomic_pte
    cdef public object current          # machine.current
    cdef public object on_dup, on_remap, on_unmap, on_remove   # the events' Python handlers (events.py)
    cdef bint dup_vma(self, VmArea vma, VmArea new) except *
    cdef int remap_vma(self, VmArea vma, uint64_t old_start, uint64_t new_start, uint64_t length) except -1
    cdef int unmap_vma(self, VmArea vma, uint64_t start, uint64_t end) except -1
    cpdef int64_t mfill_atomic(self, UserfaultfdCtx ctx, uint64_t dst_start, MmStruct src_mm,
                               uint64_t src_start, uint64_t length, int kind, int mode) except? -1000000
    cdef bint none_mostly(self, uint64_t e) noexcept
    cdef uint64_t marker(self, uint64_t bits) noexcept
    cdef uint64_t* dst_pte(self, MmStruct mm, uint64_t dst, int64_t* r) except? NULL
    cdef int copy_unaligned(self, pfn_t dst, MmStruct src_mm, uint64_t src) except -1
    cdef int64_t fill_poison(self, MmStruct mm, VmArea vma, uint64_t dst) except? -1000000
    cdef pfn_t present_frame(self, MmStruct mm, uint64_t addr) noexcept
    cdef bint same_content(self, pfn_t a, pfn_t b) noexcept
    cdef int handle_userfault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1
    cdef int64_t fill_anon(self, MmStruct mm, VmArea vma, uint64_t dst, MmStruct src_mm,
                           uint64_t src, int kind, int mode) except? -1000000
    cdef int64_t fill_shmem_continue(self, MmStruct mm, VmArea vma, uint64_t dst,
                                     int mode) except? -1000000
    cdef pfn_t src_page(self, MmStruct src_mm, uint64_t src, int* err) except? 0xfffffffffffffffe
    cpdef int64_t move_pages(self, UserfaultfdCtx ctx, uint64_t dst_start, uint64_t src_start,
                             uint64_t length, uint64_t mode) except? -1000000
    cdef int validate_move_areas(self, UserfaultfdCtx ctx, VmArea src_vma, VmArea dst_vma) except? -1000
    cdef bint anon_exclusive(self, uint64_t e, pfn_t head, bint leaf) noexcept
    cdef int move_pages_pte(self, MmStruct mm, VmArea dst_vma, VmArea src_vma, uint64_t* dst_pte,
                            uint64_t* src_pte, uint64_t dst_addr, uint64_t src_addr,
                            uint64_t mode) except? -1000
    cdef int move_pages_huge_pmd(self, MmStruct mm, VmArea dst_vma, uint64_t* dst_pmd,
                                 uint64_t* src_pmd, uint64_t dst_addr) except? -1000
