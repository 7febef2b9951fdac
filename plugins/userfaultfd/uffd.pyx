# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""userfaultfd in C: the contexts, handle_userfault() and the fill engine.

The core reaches this module through its ``userfaultfd_ops`` table (memsim/mm.pxd): a fault in
a VMA armed with VM_UFFD_MISSING, VM_UFFD_MINOR or VM_UFFD_WP that the core's (or a plugin's)
fault handler decides is a user fault calls :meth:`Userfaultfd.handle_userfault`, which queues
a :class:`Fault` on the VMA's context and returns VM_FAULT_RETRY with the core's
``blocked_on`` set to the wait queue the faulting thread sleeps on (the touch loop yields it to
the scheduler and retries the access when it is woken).  The ioctls that resolve faults run
:meth:`Userfaultfd.mfill_atomic` (mm/userfaultfd.c mfill_atomic / v5.14 __mcopy_atomic), one
page at a time in C: anonymous and private-shmem pages here, shared shmem through the page
cache plugin's ``shmem_mfill_atomic_pte`` and hugetlb through the hugetlb plugin's
``hugetlb_mfill_atomic_pte`` (each lives where the kernel has it: mm/shmem.c, mm/hugetlb.c).

What the kernel does under ``mmap_lock`` and the fault path's locks is atomic here: a fault is
queued and the thread blocked in one step, so ``userfaultfd_must_wait()``'s re-check always
finds the entry still missing.
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport (pfn_t, NO_PFN, PAGE_SIZE, PAGE_SHIFT, PTE_PFN_MASK, PG_content, PG_dirty,
                            PG_head, PG_tail, PAGE_MAPPING_ANON, HPAGE_PMD_ORDER,
                            _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY,
                            _PAGE_SPECIAL, _PAGE_UFFD_WP, _PAGE_PSE)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport (MmCore, MmStruct, VmArea, AddressSpace, vm_fault, userfaultfd_ops,
                        VM_FAULT_SIGBUS, VM_FAULT_NOPAGE, VM_FAULT_RETRY, VM_FAULT_ERROR,
                        FAULT_FLAG_WRITE, FAULT_FLAG_USER, pte_present, swp_entry, swp_type,
                        swp_offset, swp_entry_to_pte, pte_to_swp_entry, PTE_MARKER_UFFD_WP,
                        PTE_MARKER_POISONED, _PAGE_SWP_EXCLUSIVE, compound_head_page,
                        compound_mapcount_ptr)

from memsim.sched import WaitQueue

# include/uapi/asm-generic/errno-base.h
DEF EFAULT = 14
DEF EEXIST = 17
DEF EINVAL = 22
DEF ENOENT = 2
DEF ENOMEM = 12
DEF EAGAIN = 11
DEF EBUSY = 16

# the fill ioctls (enum mfill_atomic_mode / mcopy_atomic_mode)
FILL_COPY = 0
FILL_ZEROPAGE = 1
FILL_CONTINUE = 2
FILL_POISON = 3
DEF K_COPY = 0
DEF K_ZEROPAGE = 1
DEF K_CONTINUE = 2
DEF K_POISON = 3

cdef uint64_t C_VM_WRITE = 0x2, C_VM_SHARED = 0x8, C_VM_HUGETLB = 0x400000
# validate_move_areas(): VM_ACCESS_FLAGS (READ|WRITE|EXEC), VM_LOCKED, and what
# vma_move_compatible() refuses (VM_PFNMAP | VM_IO | VM_HUGETLB | VM_MIXEDMAP)
cdef uint64_t C_VM_ACCESS_FLAGS = 0x7, C_VM_LOCKED = 0x2000
cdef uint64_t C_VM_MOVE_INCOMPATIBLE = 0x400 | 0x4000 | 0x400000 | 0x10000000
# UFFDIO_MOVE modes
cdef uint64_t MOVE_MODE_ALLOW_SRC_HOLES = 0x2
cdef uint64_t HPAGE_PMD_SIZE = 1ULL << 21
cdef uint64_t C_VM_UFFD_MISSING = 0x200, C_VM_UFFD_WP = 0x1000, C_VM_UFFD_MINOR = 1ULL << 37
cdef uint64_t F_SIGBUS = 1 << 7, F_THREAD_ID = 1 << 8, F_EXACT_ADDRESS = 1 << 11
cdef int O_USER_MODE_ONLY = 0x1
cdef uint64_t FLAG_WRITE = 0x1, FLAG_WP = 0x2, FLAG_MINOR = 0x4
cdef int COPY_MODE_WP = 0x2, CONTINUE_MODE_WP = 0x2
# PageTables.walk()'s err (memsim/mm.pyx: WALK_NONE 1, WALK_PMD_LEAF 2, WALK_PUD_LEAF 3)
DEF WALK_NONE = 1
DEF WALK_PMD_LEAF = 2
DEF WALK_PUD_LEAF = 3


cdef int _uffd_handle(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1:
    return (<Userfaultfd>ctx).handle_userfault(mm, vma, vmf, reason)


cdef int _uffd_dup(void* ctx, VmArea vma, VmArea new) except -1:
    return 1 if (<Userfaultfd>ctx).dup_vma(vma, new) else 0


cdef int _uffd_remap(void* ctx, VmArea vma, uint64_t old_start, uint64_t new_start,
                     uint64_t length) except -1:
    (<Userfaultfd>ctx).remap_vma(vma, old_start, new_start, length)
    return 0


cdef int _uffd_unmap(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1:
    (<Userfaultfd>ctx).unmap_vma(vma, start, end)
    return 0


cdef int _uffd_remove(void* ctx, VmArea vma, uint64_t start, uint64_t end) except -1:
    if (<Userfaultfd>ctx).on_remove is not None:
        (<Userfaultfd>ctx).on_remove(vma, start, end)
    return 0


cdef class Fault:
    """One queued page fault (a ``struct userfaultfd_wait_queue``)."""

    def __init__(self, UserfaultfdCtx ctx, uint64_t flags, uint64_t address, uint32_t ptid, task):
        self.ctx = ctx
        self.flags = flags
        self.address = address
        self.ptid = ptid
        self.task = task
        self.waitq = WaitQueue("userfaultfd")

    def __repr__(self):
        return f"<Fault {self.address:#x} flags={self.flags:#x} ptid={self.ptid}>"


cdef class UserfaultfdCtx:
    """struct userfaultfd_ctx (see the .pxd): created by userfaultfd(2) in state WAIT_API."""

    def __init__(self, Userfaultfd host, MmStruct mm, int flags):
        self.host = host
        self.mm = mm
        self.flags = flags
        self.features = 0
        self.api_done = False
        self.released = False
        self.mmap_changing = 0
        self.fault_pending = []
        self.fault_read = []
        self.events = []
        self.fd_wqh = WaitQueue("userfaultfd read")
        self.id = host.next_id
        host.next_id += 1

    def __repr__(self):
        return f"<userfaultfd #{self.id} features={self.features:#x}>"

    cdef int wake_range(self, uint64_t start, uint64_t length) except -1:
        """__wake_userfault(): wake every thread of this context sleeping on a fault whose
        message address lies in [start, start + length) (length 0: all of them), read or not;
        their messages leave the queues (userfaultfd_wake_function)."""
        cdef uint64_t end = start + length
        cdef Fault f
        cdef list keep
        cdef int n = 0
        for queue in (self.fault_pending, self.fault_read):
            keep = []
            for f in queue:
                if length == 0 or (start <= f.address < end):
                    f.waitq.wake_up()
                    n += 1
                else:
                    keep.append(f)
            queue[:] = keep
        if n:
            self.host.stats["wakeups"] += n
        return n

    def wake(self, uint64_t start, uint64_t length):
        """wake_userfault() of [start, start + length) (0: every sleeper); returns how many."""
        return self.wake_range(start, length)

    @property
    def pending(self):
        """Faults not read yet (fdinfo's ``pending``)."""
        return len(self.fault_pending)

    @property
    def total(self):
        """Faults queued, read or not (fdinfo's ``total``)."""
        return len(self.fault_pending) + len(self.fault_read)


cdef class Userfaultfd:
    """The machine's userfaultfd (one per machine, ``machine.plugin_state["userfaultfd"]``)."""

    def __init__(self, machine, MmCore core, bint exact_address=False, bint wp_shmem=False,
                 bint continue_wp=False):
        self.machine = machine
        self.core = core
        self.pm = machine.physmem
        self.ctxs = []
        self.next_id = 0
        self.exact_address = exact_address
        self.wp_shmem = wp_shmem
        self.continue_wp = continue_wp
        self.stats = {"missing": 0, "minor": 0, "wp": 0, "sigbus": 0, "messages": 0, "wakeups": 0}
        self.shmem_fill = None
        self.hugetlb_fill = None
        self.current = machine.current
        self.ops.handle_userfault = _uffd_handle
        self.ops.dup = _uffd_dup
        self.ops.remap = _uffd_remap
        self.ops.unmap = _uffd_unmap
        self.ops.remove = _uffd_remove
        self.ops.ctx = <void*>self
        # the Python-level handlers of fork/mremap/munmap events (memsim.plugins.userfaultfd.events)
        self.on_dup = None
        self.on_remap = None
        self.on_unmap = None
        self.on_remove = None

    def install(self):
        """Put this table in the core's userfaultfd_ops slot (MmCore.install_userfaultfd_ops's
        C twin): from now on VM_UFFD_* faults come here instead of raising SIGBUS."""
        self.core.uffd_ops = self.ops
        self.core.ops_owners["userfaultfd"] = self

    def new_ctx(self, MmStruct mm, int flags):
        """A new context in state WAIT_API (userfaultfd(2)'s new_userfaultfd())."""
        ctx = UserfaultfdCtx(self, mm, flags)
        self.ctxs.append(ctx)
        return ctx

    # -- the fault path ----------------------------------------------------------------------
    cdef int handle_userfault(self, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t reason) except -1:
        """handle_userfault() (userfaultfd.md 5.2): SIGBUS without a context, with the SIGBUS
        feature, or for a kernel access to a UFFD_USER_MODE_ONLY context; a released context
        retries the access (VM_FAULT_NOPAGE); else the message is queued on the context, its
        readers are woken, and the thread sleeps until a wake-up covers the address."""
        cdef UserfaultfdCtx ctx = <UserfaultfdCtx>vma.vm_userfaultfd_ctx if vma.vm_userfaultfd_ctx is not None else None
        cdef uint64_t address, size, flags = 0
        cdef uint32_t ptid = 0
        cdef Fault f
        if ctx is None or ctx.features & F_SIGBUS:
            self.stats["sigbus"] += 1
            return VM_FAULT_SIGBUS
        if (ctx.flags & O_USER_MODE_ONLY) and not (vmf.flags & FAULT_FLAG_USER):
            self.stats["sigbus"] += 1
            return VM_FAULT_SIGBUS
        if ctx.released:
            return VM_FAULT_NOPAGE
        # userfault_msg(): the address rounded to the page (the huge page for hugetlb) unless
        # the context asked for EXACT_ADDRESS (v5.18+)
        address = vmf.real_address
        if not (self.exact_address and ctx.features & F_EXACT_ADDRESS):
            size = PAGE_SIZE
            if vma.vm_flags & C_VM_HUGETLB and vma.vm_ops != NULL and vma.vm_ops.pagesize != NULL:
                size = vma.vm_ops.pagesize(vma.vm_ops.ctx, vma)
            address &= ~(size - 1)
        if vmf.flags & FAULT_FLAG_WRITE:
            flags |= FLAG_WRITE
        if reason == C_VM_UFFD_WP:
            flags |= FLAG_WP
            self.stats["wp"] += 1
        elif reason == C_VM_UFFD_MINOR:
            flags |= FLAG_MINOR
            self.stats["minor"] += 1
        else:
            self.stats["missing"] += 1
        task = self.current.task
        if ctx.features & F_THREAD_ID and task is not None:
            ptid = task.pid
        f = Fault(ctx, flags, address, ptid, task)
        ctx.fault_pending.append(f)
        self.stats["messages"] += 1
        ctx.fd_wqh.wake_up()            # wake_up_poll(&ctx->fd_wqh, EPOLLIN)
        self.core.blocked_on = f.waitq
        return VM_FAULT_RETRY

    # -- fork, mremap, munmap ----------------------------------------------------------------
    cdef bint dup_vma(self, VmArea vma, VmArea new) except *:
        if self.on_dup is None:
            return False
        return bool(self.on_dup(vma, new))

    cdef int remap_vma(self, VmArea vma, uint64_t old_start, uint64_t new_start, uint64_t length) except -1:
        if self.on_remap is not None:
            self.on_remap(vma, old_start, new_start, length)
        return 0

    cdef int unmap_vma(self, VmArea vma, uint64_t start, uint64_t end) except -1:
        if self.on_unmap is not None:
            self.on_unmap(vma, start, end)
        return 0

    # -- the fill engine ---------------------------------------------------------------------
    cpdef int64_t mfill_atomic(self, UserfaultfdCtx ctx, uint64_t dst_start, MmStruct src_mm,
                               uint64_t src_start, uint64_t length, int kind, int mode) except? -1000000:
        """mfill_atomic() (v5.14 __mcopy_atomic), after the ioctl's preamble: the VMA that holds
        all of [dst_start, dst_start + length) must be registered with some userfaultfd
        (find_dst_vma: ENOENT), COPY's MODE_WP needs a WP registration (EINVAL), hugetlb VMAs go
        to the hugetlb engine, only anonymous and shmem VMAs are filled (EINVAL), CONTINUE
        only shmem ones (EINVAL); then page by page.  Returns the bytes done if any, else the
        first page's -errno."""
        cdef MmStruct mm = ctx.mm
        cdef VmArea vma
        cdef uint64_t done = 0, dst, src
        cdef int64_t r = 0
        cdef bint is_shmem, anon
        if ctx.mmap_changing:
            return -EAGAIN
        vma = mm.find_vma(dst_start)
        if vma is None or vma.vm_start > dst_start or dst_start + length > vma.vm_end \
                or vma.vm_userfaultfd_ctx is None:
            return -ENOENT
        if kind == K_COPY and mode & COPY_MODE_WP and not (vma.vm_flags & C_VM_UFFD_WP):
            return -EINVAL
        if kind == K_CONTINUE and mode & CONTINUE_MODE_WP and not (vma.vm_flags & C_VM_UFFD_WP):
            return -EINVAL
        if vma.vm_flags & C_VM_HUGETLB:
            if self.hugetlb_fill is None:
                return -EINVAL
            return self.hugetlb_fill(ctx, vma, dst_start, src_mm, src_start, length, kind, mode)
        anon = vma.vm_file is None and vma.vm_ops == NULL
        is_shmem = vma.vm_file is not None and vma.vm_file.swapbacked
        if not anon and not is_shmem:
            return -EINVAL
        if kind == K_CONTINUE and not is_shmem:
            return -EINVAL
        dst, src = dst_start, src_start
        while done < length:
            if kind == K_CONTINUE:
                r = self.fill_shmem_continue(mm, vma, dst, mode)
            elif kind == K_POISON:
                r = self.fill_poison(mm, vma, dst)
            elif is_shmem and vma.vm_flags & C_VM_SHARED:
                if self.shmem_fill is None:
                    return -EINVAL
                r = self.shmem_fill(mm, vma, dst, self.src_pfn(src_mm, src) if kind == K_COPY else -1,
                                    kind == K_ZEROPAGE, (mode & COPY_MODE_WP) != 0 and kind == K_COPY)
            else:
                r = self.fill_anon(mm, vma, dst, src_mm, src, kind, mode)
            if r < 0:
                break
            done += PAGE_SIZE
            dst += PAGE_SIZE
            src += PAGE_SIZE
        if done:
            return <int64_t>done
        return r

    cdef bint none_mostly(self, uint64_t e) noexcept:
        """pte_none_mostly(): none, or a PTE marker (a uffd-wp or poison marker is filled over)."""
        if e == 0:
            return True
        if pte_present(e) or not self.core.pte_markers:
            return False
        return swp_type(pte_to_swp_entry(e)) == self.core.swp_pte_marker

    cdef uint64_t marker(self, uint64_t bits) noexcept:
        return swp_entry_to_pte(swp_entry(self.core.swp_pte_marker, bits))

    cdef uint64_t* dst_pte(self, MmStruct mm, uint64_t dst, int64_t* r) except? NULL:
        """The PTE slot of dst, tables allocated (-ENOMEM in *r), or NULL with -EEXIST in *r
        when a huge leaf maps it (mfill_atomic's pmd_trans_huge: EEXIST)."""
        cdef int err = 0
        cdef uint64_t* pte = self.core.pgt.walk(mm, dst, True, &err)
        if pte == NULL:
            r[0] = -ENOMEM
            return NULL
        if err == WALK_PMD_LEAF or err == WALK_PUD_LEAF:
            r[0] = -EEXIST
            return NULL
        return pte

    def src_pfn(self, MmStruct src_mm, uint64_t src):
        """The frame holding the byte at ``src`` in ``src_mm`` (copy_from_user's source), faulted
        in by a kernel read when it is not mapped; -1 when it cannot be (EFAULT)."""
        cdef int err = 0
        cdef pfn_t p = self.src_page(src_mm, src, &err)
        return -1 if p == NO_PFN else <int64_t>p

    cdef pfn_t src_page(self, MmStruct src_mm, uint64_t src, int* err) except? 0xfffffffffffffffe:
        """See :meth:`src_pfn`; NO_PFN with *err = -EFAULT."""
        cdef int tries
        cdef pfn_t p
        cdef VmArea vma
        cdef int ret
        for tries in range(2):
            p = self.present_frame(src_mm, src)
            if p != NO_PFN:
                return p
            if tries:
                break
            # copy_from_user() faulted: the kernel's own read fault (no FAULT_FLAG_USER)
            vma = src_mm.find_vma(src)
            if vma is None or vma.vm_start > src:
                break
            ret = self.core.handle_mm_fault(src_mm, vma, src, 0)
            if ret & (VM_FAULT_ERROR | VM_FAULT_RETRY):
                self.core.blocked_on = None
                break
        err[0] = -EFAULT
        return NO_PFN

    cdef int64_t fill_anon(self, MmStruct mm, VmArea vma, uint64_t dst, MmStruct src_mm,
                           uint64_t src, int kind, int mode) except? -1000000:
        """mcopy_atomic_pte() / mfill_zeropage_pte() of a private VMA (anonymous, or a private
        mapping of shmem, which never looks at the file's cache): a new page with src's bytes
        (charged), or the shared zero page; EFAULT past a shmem file's end; EEXIST over a
        mapped page."""
        cdef int64_t r = 0
        cdef uint64_t* pte
        cdef uint64_t e
        cdef pfn_t pfn, spfn
        cdef int err = 0, ret
        cdef AddressSpace mapping = vma.vm_file
        cdef uint64_t pgoff
        if mapping is not None:
            pgoff = ((dst - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
            if pgoff >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
                return -EFAULT
        if kind == K_ZEROPAGE:
            pte = self.dst_pte(mm, dst, &r)
            if pte == NULL:
                return r
            if pte[0] != 0:                 # mfill_atomic_pte_zeropage(): pte_none, not _mostly
                return -EEXIST
            pte[0] = (self.core.zero_pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_SPECIAL | _PAGE_ACCESSED
            return 0
        spfn = self.src_page(src_mm, src, &err)
        if spfn == NO_PFN:
            return err
        pte = self.dst_pte(mm, dst, &r)
        if pte == NULL:
            return r
        if not self.none_mostly(pte[0]):
            return -EEXIST
        pfn = self.core.alloc_user_page(self.core.gfp_anon, vma, dst)
        if pfn == NO_PFN:
            return -ENOMEM
        if self.pm.memcg.charge != NULL and self.core.charge(pfn, mm, 0xcc0) != 0:
            self.pm.put_page(pfn)
            return -ENOMEM
        if (src & (PAGE_SIZE - 1)) == 0:
            self.pm.copy_content(pfn, spfn)
        else:
            self.copy_unaligned(pfn, src_mm, src)
        pte[0] = 0                      # a marker the page replaces
        ret = self.core.install_anon_page(mm, vma, dst, pfn, True)
        if ret:
            self.pm.put_page(pfn)
            return -EEXIST if ret == VM_FAULT_NOPAGE else -ENOMEM
        if mode & COPY_MODE_WP:
            e = pte[0]
            if e & _PAGE_RW:
                pte[0] = (e & ~(<uint64_t>_PAGE_RW)) | _PAGE_UFFD_WP
            else:
                pte[0] = e | _PAGE_UFFD_WP
        return 0

    cdef int copy_unaligned(self, pfn_t dst, MmStruct src_mm, uint64_t src) except -1:
        """copy_from_user() of a page from an address that is not page aligned: the tail of one
        source frame and the head of the next."""
        cdef uint64_t off = src & (PAGE_SIZE - 1)
        cdef int err = 0
        cdef pfn_t a = self.src_page(src_mm, src, &err)
        cdef pfn_t b = self.src_page(src_mm, src + PAGE_SIZE - off, &err)
        if a == NO_PFN or b == NO_PFN:
            return 0
        if not (self.pm.mem_map[a].flags & (1ULL << PG_content)) and \
                not (self.pm.mem_map[b].flags & (1ULL << PG_content)):
            return 0
        data = self.pm.read_bytes(a, off, PAGE_SIZE - off) + self.pm.read_bytes(b, 0, off)
        self.pm.write_bytes(dst, 0, data)
        return 0

    cdef int64_t fill_shmem_continue(self, MmStruct mm, VmArea vma, uint64_t dst,
                                     int mode) except? -1000000:
        """mcontinue_atomic_pte(): the page the file's cache holds at dst's index, mapped here
        (shmem_get_folio(SGP_NOALLOC), which reads a swapped page back: userfaultfd.md scenario
        23): EINVAL past the file's end, EFAULT for a hole, EEXIST over a mapped page; writable only in a shared writable VMA, dirty only then; 6.18's
        MODE_WP maps it with the uffd-wp bit."""
        cdef AddressSpace mapping = vma.vm_file
        cdef uint64_t pgoff = ((dst - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        cdef pfn_t pfn
        cdef int64_t r = 0, e
        cdef int major = 0
        cdef uint64_t* pte
        cdef bint writable
        if pgoff >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
            return -EINVAL
        pfn = self.core.page_cache_lookup(mapping, pgoff)
        if pfn == NO_PFN:
            if not (mapping.i_pages.load(pgoff, &e) and e < 0):
                return -EFAULT              # a hole
            # a swap value entry: shmem_get_folio() reads the page back (shmem_swapin_folio),
            # through the mapping's a_ops alloc
            pfn = self.core.page_cache_alloc(mapping, pgoff, mm, vma, dst, &major)
            if pfn == NO_PFN:
                return major if major < 0 else -ENOMEM
        pte = self.dst_pte(mm, dst, &r)
        if pte == NULL:
            return r
        if not self.none_mostly(pte[0]):
            return -EEXIST
        pte[0] = 0
        writable = (vma.vm_flags & C_VM_SHARED) != 0 and (vma.vm_flags & C_VM_WRITE) != 0
        self.core.do_set_pte(mm, vma, dst, pte, pfn, writable, False)
        if not writable:
            pte[0] &= ~(<uint64_t>_PAGE_RW)
        if mode & CONTINUE_MODE_WP:
            pte[0] = (pte[0] & ~(<uint64_t>_PAGE_RW)) | _PAGE_UFFD_WP
        return 0

    cdef int64_t fill_poison(self, MmStruct mm, VmArea vma, uint64_t dst) except? -1000000:
        """mfill_atomic_pte_poison() (v6.6+): a PTE_MARKER_POISONED at a none PTE (EEXIST
        otherwise: a marker too); a later access is VM_FAULT_HWPOISON."""
        cdef int64_t r = 0
        cdef uint64_t* pte = self.dst_pte(mm, dst, &r)
        if pte == NULL:
            return r
        if pte[0] != 0:
            return -EEXIST
        pte[0] = self.marker(PTE_MARKER_POISONED)
        return 0

    # -- UFFDIO_MOVE (v6.8+) ----------------------------------------------------------------------
    cpdef int64_t move_pages(self, UserfaultfdCtx ctx, uint64_t dst_start, uint64_t src_start,
                             uint64_t length, uint64_t mode) except? -1000000:
        """move_pages() (mm/userfaultfd.c, v6.8+), after userfaultfd_move()'s checks: the VMA
        holding dst_start (ENOENT; its anon_vma prepared unless VM_SHARED) and the one holding
        src_start (ENOENT), mmap_changing (EAGAIN), neither shared and each holding its whole
        range (EINVAL), validate_move_areas() (EINVAL); then page by page (a PMD leaf whole when
        aligned, move_pages_huge_pmd).  No overlap check: src and dst may be the same VMA and
        overlap (a page moved forward can be met again as a source).  Returns the bytes moved
        (holes count with ALLOW_SRC_HOLES) if any, else the first failure's -errno."""
        cdef MmStruct mm = ctx.mm
        cdef VmArea dst_vma, src_vma
        cdef uint64_t src_addr = src_start, dst_addr = dst_start, step
        cdef int64_t moved = 0
        cdef int err = 0, werr, werr_src
        cdef uint64_t* spte
        cdef uint64_t* dpmd
        cdef uint64_t* dpte
        # uffd_move_lock() -> find_vma_and_prepare_anon(dst), vma_lookup(src)
        dst_vma = mm.find_vma(dst_start)
        if dst_vma is None or dst_vma.vm_start > dst_start:
            return -ENOENT
        if not (dst_vma.vm_flags & C_VM_SHARED):
            self.core.anon_vma_prepare(dst_vma)
        if dst_vma.vm_start <= src_start < dst_vma.vm_end:
            src_vma = dst_vma
        else:
            src_vma = mm.find_vma(src_start)
            if src_vma is None or src_vma.vm_start > src_start:
                return -ENOENT
        if ctx.mmap_changing:
            return -EAGAIN
        if src_vma.vm_flags & C_VM_SHARED or src_start + length > src_vma.vm_end:
            return -EINVAL
        if dst_vma.vm_flags & C_VM_SHARED or dst_start + length > dst_vma.vm_end:
            return -EINVAL
        err = self.validate_move_areas(ctx, src_vma, dst_vma)
        if err:
            return err
        while src_addr < src_start + length:
            werr = 0
            spte = self.core.pgt.walk(mm, src_addr, False, &werr)
            if spte == NULL:
                # no page table under src (mm_find_pmd / pmd_none): a hole
                if not (mode & MOVE_MODE_ALLOW_SRC_HOLES):
                    err = -ENOENT
                    break
                werr = 0
                spte = self.core.pgt.walk(mm, src_addr, True, &werr)     # __pte_alloc(src)
                if spte == NULL:
                    err = -ENOMEM
                    break
            werr_src = werr
            if werr_src == WALK_PUD_LEAF:
                err = -EINVAL                   # no anonymous PUD leaves
                break
            werr = 0
            dpmd = self.core.pgt.walk_pmd(mm, dst_addr, True, &werr)    # mm_alloc_pmd(dst)
            if dpmd == NULL:
                err = -ENOMEM
                break
            if werr == WALK_PUD_LEAF or dpmd[0] & _PAGE_PSE:
                err = -EEXIST                  # pmd_trans_huge(dst_pmdval): be strict
                break
            if werr_src == WALK_PMD_LEAF:
                # pmd_trans_huge_lock(src_pmd): a THP mapped by a PMD
                if (src_addr & (HPAGE_PMD_SIZE - 1)) or (dst_addr & (HPAGE_PMD_SIZE - 1)) \
                        or src_start + length - src_addr < HPAGE_PMD_SIZE or dpmd[0] != 0:
                    # move_splits_huge_pmd() or a dst page table: split, then PTE by PTE
                    if not self.anon_exclusive(spte[0], (spte[0] & PTE_PFN_MASK) >> PAGE_SHIFT, True):
                        err = -EBUSY
                        break
                    if self.core.split_huge_pmd(mm, src_vma, spte, src_addr & ~(HPAGE_PMD_SIZE - 1)) < 0:
                        err = -ENOMEM
                        break
                    continue
                err = self.move_pages_huge_pmd(mm, dst_vma, dpmd, spte, dst_addr)
                step = HPAGE_PMD_SIZE
            else:
                werr = 0
                dpte = self.core.pgt.walk(mm, dst_addr, True, &werr)     # pte_alloc(dst)
                if dpte == NULL:
                    err = -ENOMEM
                    break
                err = self.move_pages_pte(mm, dst_vma, src_vma, dpte, spte, dst_addr, src_addr, mode)
                step = PAGE_SIZE
            if err:
                break
            dst_addr += step
            src_addr += step
            moved += step
        if moved:
            self.stats["moved"] = self.stats.get("moved", 0) + (moved >> PAGE_SHIFT)
            return moved
        return err

    cdef int validate_move_areas(self, UserfaultfdCtx ctx, VmArea src_vma, VmArea dst_vma) except? -1000:
        """validate_move_areas(): the same access flags (memsim's vm_page_prot follows them) and
        VM_LOCKED, a writable source, no VM_PFNMAP / VM_IO / VM_HUGETLB / VM_MIXEDMAP, dst
        registered with *this* userfaultfd, both anonymous (no vm_ops, no file: shmem, shared
        anonymous memory and a MAP_PRIVATE file -- even where its pages are anonymous COW
        copies -- are EINVAL).  -EINVAL or 0."""
        if (src_vma.vm_flags & C_VM_ACCESS_FLAGS) != (dst_vma.vm_flags & C_VM_ACCESS_FLAGS):
            return -EINVAL
        if (src_vma.vm_flags & C_VM_LOCKED) != (dst_vma.vm_flags & C_VM_LOCKED):
            return -EINVAL
        if not (src_vma.vm_flags & C_VM_WRITE):
            return -EINVAL
        if (src_vma.vm_flags | dst_vma.vm_flags) & C_VM_MOVE_INCOMPATIBLE:
            return -EINVAL
        if dst_vma.vm_userfaultfd_ctx is not ctx:
            return -EINVAL
        if src_vma.vm_ops != NULL or src_vma.vm_file is not None or \
                dst_vma.vm_ops != NULL or dst_vma.vm_file is not None:
            return -EINVAL
        return 0

    cdef bint anon_exclusive(self, uint64_t e, pfn_t pfn, bint leaf) noexcept:
        """PageAnonExclusive() of the anonymous page the present entry ``e`` maps, as memsim can
        tell it: memsim keeps no PG_anon_exclusive bit, so the entry stands for it.  In the
        kernel (v6.x) a private anonymous page mapped writable is always exclusive; fork()
        clears the bit and write-protects both mappings, and only a write fault's reuse (which
        makes the entry writable again) or a new page sets it -- so a page once shared with a
        child stays "not exclusive" after the child is gone, and read-only.  Hence: exclusive
        when the entry is writable, or write-protected by userfaultfd (_PAGE_UFFD_WP: WP does
        not touch exclusivity) while the page is mapped once.  (Where memsim leaves an
        exclusive page read-only that the kernel would have made writable again -- mprotect
        back to PROT_WRITE, or a WRITEPROTECT lifted, before the next write -- this says "not
        exclusive" and MOVE fails with EBUSY.)"""
        cdef page* hp = compound_head_page(self.pm, pfn)
        cdef int mapcount
        if not (hp.mapping & PAGE_MAPPING_ANON):
            return False
        if e & _PAGE_RW:
            return True
        if not (e & _PAGE_UFFD_WP):
            return False
        if leaf:
            mapcount = compound_mapcount_ptr(self.pm, (e & PTE_PFN_MASK) >> PAGE_SHIFT)[0]
        else:
            mapcount = self.pm.mem_map[pfn]._mapcount
        return mapcount == 1

    cdef int move_pages_pte(self, MmStruct mm, VmArea dst_vma, VmArea src_vma, uint64_t* dst_pte,
                            uint64_t* src_pte, uint64_t dst_addr, uint64_t src_addr,
                            uint64_t mode) except? -1000:
        """move_pages_pte(): dst must be none (pte_none: a marker is EEXIST too); a src hole is
        ENOENT, or nothing to do with ALLOW_SRC_HOLES; the zero page moves as a zero-page
        mapping (move_zeropage_pte); a present page must be a normal, order-0, exclusive
        anonymous page (EBUSY; memsim cannot split_folio() a large one), and then
        move_present_pte(): the src entry cleared, folio_move_anon_rmap() to dst's anon_vma,
        the index dst's, the dst entry writable (dirty if src was).  A swap entry moves only
        when exclusive (move_swap_pte; memsim does not track _PAGE_SWP_EXCLUSIVE: EBUSY); any
        other non-present entry (a PTE marker) is EFAULT.  RSS does not change (one mm)."""
        cdef uint64_t s = src_pte[0]
        cdef pfn_t pfn
        cdef page* p
        if dst_pte[0] != 0:
            return -EEXIST
        if s == 0:
            return 0 if mode & MOVE_MODE_ALLOW_SRC_HOLES else -ENOENT
        if pte_present(s):
            pfn = (s & PTE_PFN_MASK) >> PAGE_SHIFT
            if pfn == self.core.zero_pfn:
                # move_zeropage_pte(): my_zero_pfn mapped special at dst, src cleared
                src_pte[0] = 0
                dst_pte[0] = (self.core.zero_pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | \
                    _PAGE_SPECIAL | _PAGE_ACCESSED
                return 0
            if s & _PAGE_SPECIAL:
                return -EBUSY                   # vm_normal_folio() is NULL
            p = &self.pm.mem_map[pfn]
            if p.flags & ((1ULL << PG_head) | (1ULL << PG_tail)):
                return -EBUSY                   # folio_test_large: split_folio() not modelled
            if not self.anon_exclusive(s, pfn, False):
                return -EBUSY
            src_pte[0] = 0                      # ptep_clear_flush(src)
            p.mapping = dst_vma.anon_vma | PAGE_MAPPING_ANON      # folio_move_anon_rmap
            p.index = ((dst_addr - dst_vma.vm_start) >> PAGE_SHIFT) + dst_vma.vm_pgoff
            dst_pte[0] = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | \
                _PAGE_RW | (s & _PAGE_DIRTY)
            return 0
        if self.core.pte_markers and swp_type(pte_to_swp_entry(s)) == self.core.swp_pte_marker:
            return -EFAULT                      # non_swap_entry(), not a migration entry
        if not (s & _PAGE_SWP_EXCLUSIVE):
            return -EBUSY
        src_pte[0] = 0
        dst_pte[0] = s
        return 0

    cdef int move_pages_huge_pmd(self, MmStruct mm, VmArea dst_vma, uint64_t* dst_pmd,
                                 uint64_t* src_pmd, uint64_t dst_addr) except? -1000:
        """move_pages_huge_pmd(): a PMD-mapped anonymous THP (or the huge zero page) moves whole
        to a none dst PMD: EBUSY unless exclusive; the folio's anon rmap and index move to
        dst's; the leaf is made writable (dirty if it was)."""
        cdef uint64_t s = src_pmd[0]
        cdef pfn_t head = (s & PTE_PFN_MASK) >> PAGE_SHIFT
        cdef page* hp = &self.pm.mem_map[head]
        if not (s & _PAGE_PRESENT):
            return -ENOENT
        if dst_pmd[0] != 0:
            return -EEXIST
        if s & _PAGE_SPECIAL:
            src_pmd[0] = 0
            dst_pmd[0] = s
            return 0
        if not self.anon_exclusive(s, head, True):
            return -EBUSY
        src_pmd[0] = 0
        hp.mapping = dst_vma.anon_vma | PAGE_MAPPING_ANON
        hp.index = ((dst_addr - dst_vma.vm_start) >> PAGE_SHIFT) + dst_vma.vm_pgoff
        dst_pmd[0] = (s & ~(<uint64_t>_PAGE_UFFD_WP)) | _PAGE_RW | _PAGE_ACCESSED
        return 0

    # -- write protection ----------------------------------------------------------------------
    def uffd_wp_markers(self, MmStruct mm, uint64_t start, uint64_t end):
        """change_pte_range()'s MM_CP_UFFD_WP over none PTEs of a VMA that uses markers
        (v5.19+ file memory, or anonymous memory with WP_UNPOPULATED): each none PTE of
        [start, end) becomes a uffd-wp marker (tables allocated: uffd_wp_protect_file's
        populate).  Returns how many."""
        cdef uint64_t addr = start, n = 0
        cdef uint64_t* pte
        cdef int err
        while addr < end:
            err = 0
            pte = self.core.pgt.walk(mm, addr, True, &err)
            if pte != NULL and err == 0 and pte[0] == 0:
                pte[0] = self.marker(PTE_MARKER_UFFD_WP)
                n += 1
            addr += PAGE_SIZE
        return n

    def uffd_wp_huge_markers(self, MmStruct mm, uint64_t start, uint64_t end, uint64_t size, bint wp):
        """hugetlb_change_protection()'s markers (v5.19+): with ``wp`` each none huge entry of
        [start, end) becomes a uffd-wp marker (the tables down to it allocated, as
        huge_pte_alloc does for uffd-wp); without, a uffd-wp marker becomes none again.
        ``size`` is the VMA's huge page size.  Returns how many changed."""
        cdef uint64_t addr = start, n = 0
        cdef uint64_t* slot
        cdef uint64_t mk = self.marker(PTE_MARKER_UFFD_WP)
        cdef int err
        while addr < end:
            err = 0
            if size >= (1ULL << 30):
                slot = self.core.pgt.walk_pud(mm, addr, wp, &err)
            else:
                slot = self.core.pgt.walk_pmd(mm, addr, wp, &err)
            if slot != NULL and err == 0:
                if wp and slot[0] == 0:
                    slot[0] = mk
                    n += 1
                elif not wp and slot[0] == mk:
                    slot[0] = 0
                    n += 1
            addr += size
        return n

    def clear_wp_markers(self, MmStruct mm, uint64_t start, uint64_t end):
        """MM_CP_UFFD_WP_RESOLVE over markers: a uffd-wp marker becomes a none PTE again."""
        cdef uint64_t addr = start, n = 0
        cdef uint64_t* pte
        cdef uint64_t wp = self.marker(PTE_MARKER_UFFD_WP)
        cdef int err
        while addr < end:
            err = 0
            pte = self.core.pgt.walk(mm, addr, False, &err)
            if pte == NULL:
                addr = ((addr >> 21) + 1) << 21
                continue
            if err == 0 and pte[0] == wp:
                pte[0] = 0
                n += 1
            addr += PAGE_SIZE
        return n

    # -- page copies between address spaces (the live-migration demo's transport) -------------
    cdef pfn_t present_frame(self, MmStruct mm, uint64_t addr) noexcept:
        """The frame mapped at addr (the subpage of a huge leaf), NO_PFN when none is."""
        cdef int err = 0
        cdef uint64_t* pte = self.core.pgt.walk(mm, addr, False, &err)
        cdef uint64_t e
        if pte == NULL:
            return NO_PFN
        e = pte[0]
        if not (e & _PAGE_PRESENT):
            return NO_PFN
        if err == WALK_PMD_LEAF:
            return ((e & PTE_PFN_MASK) >> PAGE_SHIFT) + ((addr >> PAGE_SHIFT) & 511)
        if err == WALK_PUD_LEAF:
            return ((e & PTE_PFN_MASK) >> PAGE_SHIFT) + ((addr >> PAGE_SHIFT) & 0x3ffff)
        return (e & PTE_PFN_MASK) >> PAGE_SHIFT

    cdef bint same_content(self, pfn_t a, pfn_t b) noexcept:
        """Whether frames a and b (NO_PFN: a page never written, zeros) hold the same stamp and
        no bytes differ (bytes are compared only when one of them has some)."""
        cdef bint ca = a != NO_PFN and (self.pm.mem_map[a].flags & (1ULL << PG_content)) != 0
        cdef bint cb = b != NO_PFN and (self.pm.mem_map[b].flags & (1ULL << PG_content)) != 0
        cdef uint64_t sa = 0, sb = 0
        if not ca and not cb:
            return True
        if self.pm.stamps != NULL:
            sa = self.pm.stamps[a] if ca else 0
            sb = self.pm.stamps[b] if cb else 0
        if sa != sb:
            return False
        return self.pm.content.get(a) == self.pm.content.get(b)

    def copy_pages(self, MmStruct src_mm, uint64_t src, MmStruct dst_mm, VmArea dst_vma, uint64_t dst,
                   uint64_t npages, bint only_changed, uint64_t max_pages=0xffffffffffffffff):
        """Copy the contents (bytes and stamps) of ``npages`` pages at ``src`` in ``src_mm`` to
        ``dst`` in ``dst_mm`` (``dst_vma``, not userfaultfd-armed), faulting destination pages
        in with writes as the current task; a source page never written is copied as zeros.
        With ``only_changed`` pages that already hold the same contents are skipped.  Stops
        after ``max_pages`` pages scanned.  Returns (pages scanned, pages copied), or (scanned,
        -1) when a destination page could not be faulted in."""
        cdef uint64_t i = 0, copied = 0, addr
        cdef pfn_t s, d
        cdef int ret
        while i < npages and i < max_pages:
            addr = dst + i * PAGE_SIZE
            s = self.present_frame(src_mm, src + i * PAGE_SIZE)
            d = self.present_frame(dst_mm, addr)
            if d == NO_PFN:
                ret = self.core.handle_mm_fault(dst_mm, dst_vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_USER)
                if ret & (VM_FAULT_ERROR | VM_FAULT_RETRY):
                    self.core.blocked_on = None
                    return i, -1
                d = self.present_frame(dst_mm, addr)
                if d == NO_PFN:
                    return i, -1
            if not (only_changed and self.same_content(s, d)):
                if s == NO_PFN:
                    self.pm.drop_content(d, 0)
                else:
                    self.pm.drop_content(d, 0)
                    self.pm.copy_content(d, s)
                copied += 1
            i += 1
        return i, copied

    def snapshot(self, MmStruct mm, uint64_t start, uint64_t npages):
        """The stamps of ``npages`` pages at ``start`` (0 for a page never written or not
        mapped), as bytes of little-endian uint64."""
        cdef bytearray out = bytearray(npages * 8)
        cdef unsigned char[:] view = out
        cdef uint64_t i, v
        cdef pfn_t p
        cdef int k
        for i in range(npages):
            p = self.present_frame(mm, start + i * PAGE_SIZE)
            v = 0
            if p != NO_PFN and self.pm.stamps != NULL and self.pm.mem_map[p].flags & (1ULL << PG_content):
                v = self.pm.stamps[p]
            for k in range(8):
                view[i * 8 + k] = (v >> (8 * k)) & 0xff
        return bytes(out)

    def stamp_at(self, MmStruct mm, uint64_t addr):
        """The stamp of the page mapped at addr (0: none or not mapped); None when nothing is
        mapped there."""
        cdef pfn_t p = self.present_frame(mm, addr)
        if p == NO_PFN:
            return None
        if self.pm.stamps == NULL or not self.pm.mem_map[p].flags & (1ULL << PG_content):
            return 0
        return self.pm.stamps[p]

    def pte(self, MmStruct mm, uint64_t addr):
        """The raw entry at addr (0 when no table maps it): for tests and the pagemap."""
        cdef int err = 0
        cdef uint64_t* pte = self.core.pgt.walk(mm, addr, False, &err)
        return 0 if pte == NULL else pte[0]

    def huge_pte(self, MmStruct mm, uint64_t addr, uint64_t size):
        """The raw huge entry (PMD, or PUD for 1 GiB pages) of a hugetlb VMA at addr, as
        huge_pte_offset() finds it (0 when no table maps it): for tests and the pagemap."""
        cdef int err = 0
        cdef uint64_t* slot
        if size >= (1ULL << 30):
            slot = self.core.pgt.walk_pud(mm, addr, False, &err)
        else:
            slot = self.core.pgt.walk_pmd(mm, addr, False, &err)
        return 0 if slot == NULL else slot[0]

    def is_marker(self, uint64_t e, uint64_t bits):
        """Whether ``e`` is a PTE marker with ``bits`` (PTE_MARKER_UFFD_WP 1, POISONED 2)."""
        if e == 0 or pte_present(e) or not self.core.pte_markers:
            return False
        ent = pte_to_swp_entry(e)
        return swp_type(ent) == self.core.swp_pte_marker and (swp_offset(ent) & bits) == bits
