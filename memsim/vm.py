"""The mm system calls and process lifecycle on top of the Cython core: mmap (of anonymous
memory, of a file by name or shared anonymous memory through ``machine.files`` (:class:`MmapFiles`),
of an open :class:`memsim.vfs.File`), munmap, mprotect,
mremap, madvise, set_mempolicy and mbind, fork (dup_mmap) and exit (exit_mmap).

A VMA whose ``vm_file`` (address_space) has a :class:`memsim.vfs.Inode` as its ``host`` holds a
reference to that inode from do_mmap() (and each vm_area_dup() of it) to its vm_area_free():
the kernel's get_file()/fput() of ``vma->vm_file``, so an unlinked file lives while mapped.

This is policy, not a hot path: VMA bookkeeping happens once per call, and every per-page loop
runs inside :class:`memsim.mm.MmCore` in C.  Errors are returned as errno names, as the system
calls return them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from memsim.mm import (
    AddressSpace, MmCore, MmStruct, VmArea, VM_ACCOUNT, VM_DONTCOPY, VM_DONTEXPAND, VM_EXEC,
    VM_HUGETLB, VM_LOCKED, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ,
    VM_PFNMAP, VM_SHARED, VM_WRITE, set_task_mempolicy,
)
from memsim.dcache import dget, dput
from memsim.vfs import (
    FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FMODE_READ, FMODE_WRITE, File, Inode, O_RDWR, ihold,
    iput, vfs_fallocate, VfsError,
)

PAGE_SIZE = 4096
PAGE_MASK = ~(PAGE_SIZE - 1)
TASK_UNMAPPED_FLOOR = 0x10000            # mmap_min_addr
TASK_SIZE = (1 << 47) - PAGE_SIZE        # x86-64 TASK_SIZE_MAX with 4-level page tables
PMD_SIZE = 1 << 21                       # HPAGE_PMD_SIZE: the THP alignment of anonymous mmaps

# mmap(2) flags the core acts on (include/uapi/asm-generic/mman-common.h, x86-64 values)
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_FIXED_NOREPLACE = 0x100000
# madvise(2) advice the core acts on (include/uapi/asm-generic/mman-common.h)
MADV_DONTNEED = 4
MADV_REMOVE = 9
MADV_PAGEOUT = 21
PROT_BITS = {"none": 0, "r": VM_READ, "rw": VM_READ | VM_WRITE, "rx": VM_READ | VM_EXEC,
             "rwx": VM_READ | VM_WRITE | VM_EXEC}
VM_PROT_MASK = VM_READ | VM_WRITE | VM_EXEC


class MmError(Exception):
    """A system call failed: ``errno`` is the errno name (ENOMEM, EINVAL, ...)."""

    def __init__(self, errno: str, detail: str = ""):
        super().__init__(f"{errno}: {detail}" if detail else errno)
        self.errno = errno
        self.detail = detail


def page_align(n: int) -> int:
    return (n + PAGE_SIZE - 1) & PAGE_MASK


class NoFilesystem(Exception):
    """No plugin provides what a file or shared anonymous mapping needs (``problem``,
    ``fix``): the mmap step turns it into a workload error."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


class MmapFiles:
    """Where do_mmap() finds what backs a workload's file mappings (``machine.files``): the file
    a ``type: file|file-shared`` mapping names (opened read-write, created if missing, grown to
    cover the mapping) and the shmem object of a MAP_SHARED|MAP_ANONYMOUS mapping (what
    mmap_region() gets from shmem_zero_setup()).  The core has no filesystem of its own: this
    one refuses both (:class:`NoFilesystem`), and the page-cache plugin replaces it with its own
    (memsim.plugins.pagecache.mmap_files: files on its disk, objects on shm_mnt)."""

    #: what the user is told to do when no plugin provides the files
    fix = "the page-cache plugin provides them: do not disable it (-p no:pagecache)"

    def file(self, name: Optional[str], min_size: int) -> AddressSpace:
        """The mapping of the file called ``name``, at least ``min_size`` bytes long (the file
        may stay open until :meth:`file_mapped`)."""
        raise NoFilesystem(f"no filesystem to hold the mapped file {name!r}", self.fix)

    def file_mapped(self) -> None:
        """do_mmap() made the VMA of the last :meth:`file` (which holds the file now): what
        :meth:`file` left open can be closed, as a program closes its fd after mmap."""

    def shmem_zero_setup(self, vma: VmArea) -> None:
        """shmem_zero_setup(vma): set ``vma.vm_file`` to a new shmem object of its size, whose
        inode reference the VMA holds."""
        raise NoFilesystem("no shmem to back a shared anonymous mapping", self.fix)


def ksys_sync(core: MmCore, supers=()) -> int:
    """ksys_sync(): write back every file's dirty pages and wait for them (sync_inodes_sb,
    filemap_fdatawait) through MmCore.filemap_write_and_wait: the regular files of each
    superblock of ``supers`` (iterate_supers() over ``MntNamespace.super_blocks``: a
    filesystem's files, written through its a_ops writepage), newest inode first as
    ``s_inodes`` lists them.  Returns the pages written."""
    written = 0
    seen = set()
    for sb in supers:
        if id(sb) in seen:
            continue
        seen.add(id(sb))
        for inode in sb.inodes():
            if inode.i_mapping is not None:
                written += core.filemap_write_and_wait(inode.i_mapping)
    return written


def get_unmapped_area(mm: MmStruct, length: int, hint: Optional[int] = None, align: int = PAGE_SIZE) -> int:
    """arch_get_unmapped_area_topdown(): the hint if free, else the highest gap below mmap_base
    (both rounded to ``align``, as hugetlb_get_unmapped_area() does for huge pages)."""
    vmas = mm.vmas
    if hint:
        hint = (hint + align - 1) & ~(align - 1) if align > PAGE_SIZE else hint & PAGE_MASK
        if hint >= TASK_UNMAPPED_FLOOR and hint + length <= mm.mmap_base and not _overlaps(mm, hint, hint + length):
            return hint
    top = mm.mmap_base
    for vma in reversed(vmas):
        if vma.vm_end <= top:
            start = (top - length) & ~(align - 1)
            if top >= length and start >= vma.vm_end:
                return start
            top = min(top, vma.vm_start)
        else:
            top = min(top, vma.vm_start)
    start = (top - length) & ~(align - 1) if top >= length else -1
    if start >= TASK_UNMAPPED_FLOOR:
        return start
    raise MmError("ENOMEM", "no free virtual address range is large enough")


def thp_get_unmapped_area(mm: MmStruct, length: int) -> int:
    """__thp_get_unmapped_area() for an anonymous private mapping (off 0, no hint) on the
    top-down layout: look for ``length`` + 2 MiB (PMD_SIZE), then move up to the first 2 MiB
    boundary in it -- or, when the area found is aligned already, to the top of the padding
    (``ret + size`` when MMF_TOPDOWN and !off_sub).  If the padded length fits nowhere, the
    plain search for ``length`` (thp_get_unmapped_area_vmflags() retries without padding)."""
    try:
        ret = get_unmapped_area(mm, length + PMD_SIZE)
    except MmError:
        return get_unmapped_area(mm, length)
    off_sub = -ret & (PMD_SIZE - 1)
    if not off_sub:
        return ret + PMD_SIZE
    return ret + off_sub


def _get_unmapped_area(core: MmCore, mm: MmStruct, length: int, hint: Optional[int], align: int,
                       private_anon: bool) -> int:
    """__get_unmapped_area() without MAP_FIXED: a private anonymous mapping (no file: shared
    ones go to shmem_get_unmapped_area, which aligns nothing without shmem THP) with no hint and
    a length that is a multiple of 2 MiB is THP-aligned when the profile says so
    (``MmCore.thp_get_unmapped_area``, v6.18; whatever the THP mode, as CONFIG_TRANSPARENT_HUGEPAGE
    alone decides); anything else goes to arch_get_unmapped_area_topdown()."""
    if (core.thp_get_unmapped_area and private_anon and not hint and align == PAGE_SIZE
            and length % PMD_SIZE == 0):
        return thp_get_unmapped_area(mm, length)
    return get_unmapped_area(mm, length, hint, align)


def _fixed_address(mm: MmStruct, addr: Optional[int], length: int, map_flags: int, align: int) -> int:
    """get_unmapped_area() for MAP_FIXED: ``addr`` itself, checked (ENOMEM beyond TASK_SIZE,
    EINVAL unaligned, EPERM below mmap_min_addr for an unprivileged task, EEXIST over a mapping
    with MAP_FIXED_NOREPLACE)."""
    addr = addr or 0
    if addr > TASK_SIZE - length:
        raise MmError("ENOMEM", f"{addr:#x} + {length} bytes goes beyond the user address space")
    if addr % align:
        raise MmError("EINVAL", f"MAP_FIXED address {addr:#x} is not a multiple of {align} bytes")
    if addr < TASK_UNMAPPED_FLOOR:
        raise MmError("EPERM", f"MAP_FIXED address {addr:#x} is below mmap_min_addr "
                               f"({TASK_UNMAPPED_FLOOR:#x})")
    if map_flags & MAP_FIXED_NOREPLACE and _overlaps(mm, addr, addr + length):
        raise MmError("EEXIST", f"MAP_FIXED_NOREPLACE: [{addr:#x}, {addr + length:#x}) is already mapped")
    return addr


def _overlaps(mm: MmStruct, start: int, end: int) -> bool:
    return any(v.vm_start < end and start < v.vm_end for v in mm.vmas)


@dataclass
class MmapRequest:
    """What the mmap step asks :func:`do_mmap` for, once its keys are read; a plugin's mmap type
    or flag may change it in its ``prepare(ctx, request)`` before the mapping is made (as
    ``ksys_mmap_pgoff()`` rounds a MAP_HUGETLB length and sets up its hugetlbfs file).

    ``kind`` is the core type the mapping is built as; ``vm_flags`` are VM_* bits added to the
    new VMA (e.g. VM_HUGETLB); ``accountable`` overrides accountable_mapping() (None: the core's
    rule; False: never charged to the commit limit, as hugetlb mappings); ``align`` is the
    alignment of the address chosen (and required with MAP_FIXED; the length is not rounded to
    it: set ``length`` for that); ``vm_file`` is the
    address_space to map instead of the named file or a new shmem object.
    """

    length: int
    prot: str = "rw"
    kind: str = "anon"
    file: Optional[str] = None
    offset: int = 0
    addr: Optional[int] = None
    map_flags: int = 0
    vm_flags: int = 0
    accountable: Optional[bool] = None
    align: int = PAGE_SIZE
    vm_file: Optional[AddressSpace] = None
    filp: Optional[File] = None


def vma_get_file(vma: VmArea) -> None:
    """get_file(vma->vm_file) of vm_area_dup()/mmap_region(): a reference to the mapped inode
    and, on a superblock with a dentry cache, to its dentry (the kernel's VMA holds the file,
    which holds the dentry: a mapped file's dentry is never unused)."""
    mapping = vma.vm_file
    if mapping is not None and isinstance(mapping.host, Inode):
        ihold(mapping.host)
        if mapping.host.i_dentry is not None:
            dget(mapping.host.i_dentry)


def vma_put_file(vma: VmArea) -> None:
    """fput(vma->vm_file) of remove_vma(): the last one may evict an unlinked inode (or, on a
    superblock with a dentry cache, leave its dentry unused)."""
    mapping = vma.vm_file
    if mapping is not None and isinstance(mapping.host, Inode):
        inode = mapping.host
        dentry = inode.i_dentry
        iput(inode)
        if dentry is not None and dentry.d_count > 0:
            dput(dentry)


def _mmap_file_checks(filp: File, prot: str, shared: bool, flags: int) -> int:
    """do_mmap()'s checks of a file against the mapping asked for (mm/mmap.c), returning the
    VM_* flags adjusted: MAP_SHARED with PROT_WRITE needs FMODE_WRITE (EACCES); a shared
    mapping of a file not open for writing loses VM_MAYWRITE and VM_SHARED; every file mapping
    needs FMODE_READ (EACCES) and ``f_op->mmap`` (ENODEV: a directory)."""
    if shared:
        if "w" in prot and not filp.f_mode & FMODE_WRITE:
            raise MmError("EACCES", "a shared writable mapping of a file not open for writing")
        flags |= VM_SHARED | VM_MAYSHARE
        if not filp.f_mode & FMODE_WRITE:
            flags &= ~(VM_MAYWRITE | VM_SHARED)
    if not filp.f_mode & FMODE_READ:
        raise MmError("EACCES", "the file is not open for reading")
    if filp.f_op.mmap is None or filp.f_mapping is None:
        raise MmError("ENODEV", "the file cannot be mapped")
    return flags


def do_mmap(core: MmCore, mm: MmStruct, files: MmapFiles, length: int, prot: str = "rw",
            kind: str = "anon", file: Optional[str] = None, offset: int = 0,
            hint: Optional[int] = None, name: str = "", totalram: int = 0, *, map_flags: int = 0,
            vm_flags: int = 0, accountable: Optional[bool] = None, align: int = PAGE_SIZE,
            vm_file: Optional[AddressSpace] = None, filp: Optional[File] = None) -> VmArea:
    """do_mmap() + mmap_region(): a new VMA (no merging with neighbours).

    ``map_flags`` are the MAP_* bits: MAP_FIXED / MAP_FIXED_NOREPLACE place the mapping at
    ``hint`` exactly (MAP_FIXED unmaps what was there first), MAP_NORESERVE sets VM_NORESERVE so
    the mapping is not accounted (unless overcommit_memory is 2: mmap_region() ignores it then);
    other bits are the plugins' (see :class:`MmapRequest` for ``vm_flags``, ``accountable``,
    ``align`` and ``vm_file``).  ``totalram`` is the machine's :class:`Overcommit` (an
    accountable mapping goes through __vm_enough_memory()), or a page count for the
    heuristic's check alone.

    ``filp`` maps an open file (``kind`` "file" for MAP_PRIVATE, "file-shared" for MAP_SHARED):
    the PROT checks against its open mode (:func:`_mmap_file_checks`), ``vm_file`` its
    ``f_mapping``, then ``f_op->mmap(file, vma)`` (call_mmap()), whose VfsError or MmError
    undoes the mapping."""
    if length <= 0:
        raise MmError("EINVAL", "length must be positive")
    if offset % PAGE_SIZE:
        raise MmError("EINVAL", "offset must be a multiple of the page size")
    length = page_align(length)
    if map_flags & MAP_FIXED_NOREPLACE:
        map_flags |= MAP_FIXED
    flags = PROT_BITS[prot] | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | vm_flags | mm.def_flags
    if filp is not None:
        if kind not in ("file", "file-shared"):
            raise ValueError(f"do_mmap: a file is mapped as kind file or file-shared, not {kind!r}")
        flags = _mmap_file_checks(filp, prot, kind == "file-shared", flags)
        vm_file = filp.f_mapping
        if filp.f_op.get_unmapped_area is not None:     # a hugetlbfs file: huge pages
            length, align = filp.f_op.get_unmapped_area(filp, length)
    elif kind in ("shared", "file-shared"):
        flags |= VM_SHARED | VM_MAYSHARE
    if map_flags & MAP_NORESERVE and not (isinstance(totalram, Overcommit)
                                          and totalram.policy == OVERCOMMIT_NEVER):
        flags |= VM_NORESERVE           # mmap_region(): ignored under OVERCOMMIT_NEVER
    if map_flags & MAP_FIXED:
        start = _fixed_address(mm, hint, length, map_flags, align)
        if _overlaps(mm, start, start + length):
            do_munmap(core, mm, start, length)      # mmap_region(): munmap_vma_range()
    else:
        start = _get_unmapped_area(core, mm, length, hint, align,
                                   kind == "anon" and vm_file is None)
    # accountable_mapping() + __vm_enough_memory(OVERCOMMIT_GUESS): a private writable or a
    # shared anonymous mapping larger than RAM + swap fails with ENOMEM (VM_NORESERVE: not
    # accounted; shmem_acct_size() skips it as well).
    if accountable is None:
        accountable = ((kind == "anon" and flags & VM_WRITE) or kind == "shared") and not flags & VM_NORESERVE
    if accountable:
        if kind == "anon":
            flags |= VM_ACCOUNT
        _enough_memory(length // PAGE_SIZE, totalram, "", mm)
    pgoff = start // PAGE_SIZE           # a private anonymous mapping's pgoff is its address
    file_by_name = False
    if vm_file is not None:
        pgoff = offset // PAGE_SIZE
    elif kind == "shared":
        pgoff = 0
    elif kind in ("file", "file-shared"):
        vm_file = files.file(file, offset + length)
        file_by_name = True
        pgoff = offset // PAGE_SIZE
    if flags & VM_LOCKED:
        # mmap_region(): mm->def_flags (mlockall(MCL_FUTURE)) lock the new VMA unless it is
        # VM_SPECIAL or hugetlb; the caller populates it (mm_populate)
        if flags & (VM_SPECIAL | VM_HUGETLB):
            flags &= ~VM_LOCKED_MASK
        else:
            mm.locked_vm += length // PAGE_SIZE
    vma = VmArea(start, start + length, flags, name, vm_file, pgoff)
    vma.addr = core.vm_area_alloc()
    if vm_file is None and kind == "shared":
        try:
            files.shmem_zero_setup(vma)             # mmap_region(): the VMA holds its inode
        except BaseException:
            core.vm_area_free(vma)
            raise
    else:
        vma_get_file(vma)
        if file_by_name:
            files.file_mapped()
    if filp is not None:
        try:
            filp.f_op.mmap(filp, vma)                   # call_mmap()
        except (VfsError, MmError) as e:
            vma_put_file(vma)
            core.vm_area_free(vma)
            raise MmError(e.errno, e.detail) from None
    core.vma_link(mm, vma)
    return vma


def split_vma(core: MmCore, mm: MmStruct, vma: VmArea, addr: int) -> VmArea:
    """__split_vma(): ask the vm_ops whether the VMA may be cut at addr (hugetlb refuses a cut
    inside a huge page: EINVAL), then vm_area_dup() the upper part (vm_ops, private data,
    userfaultfd context and policy go with it), anon_vma_clone() it, ->open() it and link
    it.  Returns the new upper part."""
    err = vma.vm_ops_may_split(addr)
    if err:
        raise MmError(_errno_name(-err), f"the mapping cannot be split at {addr:#x}")
    new = vma.dup()
    vma_get_file(new)
    new.vm_start = addr
    new.vm_pgoff = vma.vm_pgoff + (addr - vma.vm_start) // PAGE_SIZE
    new.addr = core.vm_area_alloc(dup=True)
    core.anon_vma_clone(new, vma)
    new.vm_ops_open()
    vma.vm_end = addr
    core.vma_link(mm, new)
    return new


def _errno_name(err: int) -> str:
    import errno as _errno
    return _errno.errorcode.get(err, f"errno {err}")


def _split_range(core: MmCore, mm: MmStruct, start: int, end: int) -> list:
    """Split VMAs so that [start, end) is covered by whole VMAs; return those VMAs."""
    for vma in list(mm.vmas):
        if vma.vm_start < start < vma.vm_end:
            split_vma(core, mm, vma, start)
    for vma in list(mm.vmas):
        if vma.vm_start < end < vma.vm_end:
            split_vma(core, mm, vma, end)
    return [v for v in mm.vmas if v.vm_start >= start and v.vm_end <= end]


def do_munmap(core: MmCore, mm: MmStruct, start: int, length: int) -> None:
    """__do_munmap(): split, (v5.14) munlock the VM_LOCKED parts, detach, unmap_region(),
    then free the VMAs; locked_vm drops by the VM_LOCKED pages unmapped."""
    if start % PAGE_SIZE or length <= 0:
        raise MmError("EINVAL", "start must be page aligned and length positive")
    end = start + page_align(length)
    if not _overlaps(mm, start, end):
        return
    victims = _split_range(core, mm, start, end)
    for v in victims:
        core.userfaultfd_unmap_prep(v, v.vm_start, v.vm_end)
    for v in victims:
        if v.vm_flags & VM_LOCKED:
            # v5.14 __do_munmap(): munlock_vma_pages_all() before detaching; v6.18 only drops
            # locked_vm (the pages are munlocked as the zap removes their rmap)
            mm.locked_vm -= (v.vm_end - v.vm_start) // PAGE_SIZE
            if not core.physmem.mlock_fbatch_enabled:
                core.munlock_vma_pages_range(mm, v, v.vm_start, v.vm_end)
    idx = mm.vmas.index(victims[0])
    prev = mm.vmas[idx - 1] if idx > 0 else None
    nxt_idx = mm.vmas.index(victims[-1]) + 1
    nxt = mm.vmas[nxt_idx] if nxt_idx < len(mm.vmas) else None
    for v in victims:
        mm.vmas.remove(v)
    core.unmap_region(mm, victims, start, end, prev.vm_end if prev else 0,
                      nxt.vm_start if nxt else 0)
    for v in victims:
        core.vm_area_free(v)
        vma_put_file(v)


def do_mprotect(core: MmCore, mm: MmStruct, start: int, length: int, prot: str,
                overcommit=None) -> None:
    """mprotect_fixup() + change_protection(): new flags; write access removed from the PTEs.

    Adding write does not make PTEs writable (private anonymous mappings are not
    dirty-accountable): the next write faults and do_wp_page() reuses or copies the page.  A
    private mapping that becomes writable for the first time is charged to the commit limit
    (``overcommit``, the machine's :class:`Overcommit`: __vm_enough_memory, ENOMEM) and gets
    VM_ACCOUNT."""
    if start % PAGE_SIZE:
        raise MmError("EINVAL", "start must be page aligned")
    end = start + page_align(length)
    covered, addr = 0, start
    for v in mm.vmas:
        if v.vm_end <= addr or v.vm_start >= end:
            continue
        if v.vm_start > addr:
            break
        addr = v.vm_end
    if addr < end:
        raise MmError("ENOMEM", "the range is not fully mapped")
    newbits = PROT_BITS[prot]
    for v in _split_range(core, mm, start, end):
        if newbits & VM_WRITE and not v.vm_flags & VM_MAYWRITE:
            raise MmError("EACCES", "the mapping may not become writable")
        account = 0
        if (newbits & VM_WRITE and overcommit is not None
                and not v.vm_flags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)):
            _enough_memory((v.vm_end - v.vm_start) // PAGE_SIZE, overcommit,
                           "making writable ", mm)
            account = VM_ACCOUNT
        v.vm_flags = (v.vm_flags & ~VM_PROT_MASK) | newbits | account
        if not newbits & VM_WRITE:
            core.wrprotect_range(mm, v.vm_start, v.vm_end)


def dup_mm(core: MmCore, parent: MmStruct, owner, overcommit=None) -> MmStruct:
    """dup_mm() + dup_mmap(): a new mm, then per VMA (but VM_DONTCOPY ones) the commit charge of
    a VM_ACCOUNT one (security_vm_enough_memory_mm against ``overcommit``, the machine's
    :class:`Overcommit`), vm_area_dup, dup_userfaultfd (the child keeps the userfaultfd context
    only if it asked for fork events), anon_vma_fork, ->open, the link into the file's i_mmap,
    and copy_page_range.  A failure (a refused charge, -ENOMEM duplicating swap entries) tears
    the half-built child down and raises ENOMEM."""
    child = core.mm_alloc(owner)
    child.mmap_base = parent.mmap_base
    charged = 0
    for vma in parent.vmas:
        if vma.vm_flags & VM_DONTCOPY:
            continue
        if vma.vm_flags & VM_ACCOUNT and isinstance(overcommit, Overcommit):
            pages = (vma.vm_end - vma.vm_start) // PAGE_SIZE
            try:
                overcommit.vm_enough_memory(parent, pages, "fork: copying ", charged)
            except MmError:
                exit_mmap(core, child)
                raise
            charged += pages
        new = vma.dup()
        vma_get_file(new)
        new.addr = core.vm_area_alloc(dup=True)
        new.vm_mm = child                         # dup_mmap(): tmp->vm_mm = mm, before dup_userfaultfd
        core.dup_userfaultfd(vma, new)
        new.anon_vma = 0
        core.anon_vma_fork(new, vma)
        new.vm_flags &= ~VM_LOCKED_MASK           # memory locks are not inherited
        if new.vm_flags & VM_HUGETLB and not new.vm_flags & VM_MAYSHARE:
            new.vm_private_data = None            # reset_vma_resv_huge_pages(): no reservations
        core.vma_link(child, new)
        err = core.copy_page_range(child, new, parent, vma)
        new.vm_ops_open()
        if err:
            exit_mmap(core, child)
            raise MmError(_errno_name(-err), "fork could not copy the page tables")
    return child


def exit_mmap(core: MmCore, mm: MmStruct) -> None:
    """exit_mmap(): (v5.14) munlock the VM_LOCKED VMAs, unmap every VMA through one full-mm gather, free all page tables
    (floor 0, USER_PGTABLES_CEILING 0), free the VMAs, then the pgd and the mm_struct."""
    vmas = list(mm.vmas)
    if mm.locked_vm and not core.physmem.mlock_fbatch_enabled:
        for v in vmas:                  # v5.14: munlock_vma_pages_all() of each VM_LOCKED VMA
            if v.vm_flags & VM_LOCKED:
                core.munlock_vma_pages_range(mm, v, v.vm_start, v.vm_end)
    if vmas:
        core.unmap_region(mm, vmas, 0, 1 << 47, 0, 0, True)
    mm.vmas.clear()
    for v in vmas:
        core.vm_area_free(v)
        vma_put_file(v)
    core.free_pgd(mm)
    core.mm_free(mm)


# ----------------------------------------------------------------------------------------------
# mremap (mm/mremap.c of v5.14)
# ----------------------------------------------------------------------------------------------

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4
#: The mremap flags by name (include/uapi/linux/mman.h).
MREMAP_FLAGS = {"MREMAP_MAYMOVE": MREMAP_MAYMOVE, "MREMAP_FIXED": MREMAP_FIXED,
                "MREMAP_DONTUNMAP": MREMAP_DONTUNMAP}
VM_PFNMAP = 0x400
VM_LOCKONFAULT = 0x80000
VM_IO = 0x4000
VM_MIXEDMAP = 0x10000000
#: VM_SPECIAL (include/linux/mm.h): mappings mlock leaves alone
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT


OVERCOMMIT_GUESS = 0
OVERCOMMIT_ALWAYS = 1
OVERCOMMIT_NEVER = 2


class Overcommit:
    """The overcommit policy of a machine (mm/util.c): ``vm.overcommit_memory`` (0 heuristic,
    1 always, 2 never), ``vm.overcommit_ratio`` (50) or ``vm.overcommit_kbytes`` (0; writing one
    clears the other), and the reserves init_user_reserve() / init_admin_reserve() set at boot
    (free memory / 32, at most 128 MiB and 8 MiB).  ``machine`` gives the totals
    (totalram_pages, total_swap_pages, hugetlb pages, Committed_AS)."""

    def __init__(self, machine):
        from memsim.mmstat import totalram_pages
        self.machine = machine
        self.policy = OVERCOMMIT_GUESS
        self.ratio = 50
        self.kbytes = 0
        free_kb = totalram_pages(machine) * 4
        self.user_reserve_kbytes = min(free_kb // 32, 1 << 17)
        self.admin_reserve_kbytes = min(free_kb // 32, 1 << 13)

    def vm_commit_limit(self) -> int:
        """vm_commit_limit(): overcommit_kbytes, or (totalram - hugetlb) * ratio / 100; plus
        swap.  /proc/meminfo's CommitLimit."""
        from memsim.mmstat import hugetlb_total_pages, total_swap_pages, totalram_pages
        m = self.machine
        if self.kbytes:
            allowed = self.kbytes // 4
        else:
            allowed = (totalram_pages(m) - hugetlb_total_pages(m)) * self.ratio // 100
        return allowed + total_swap_pages(m)

    def vm_enough_memory(self, mm, pages: int, what: str, already: int = 0) -> None:
        """__vm_enough_memory(mm, pages, cap_sys_admin=1) (memsim's tasks run as root): MmError
        ENOMEM when the mapping may not be committed.  The new pages are counted in
        Committed_AS first (vm_acct_memory), as the kernel does before its check; ``already``
        are pages charged before that no live mm shows yet (a fork's earlier VMAs)."""
        from memsim.mmstat import committed_as_pages, total_swap_pages, totalram_pages
        m = self.machine
        if self.policy == OVERCOMMIT_ALWAYS:
            return
        if self.policy == OVERCOMMIT_GUESS:
            total = totalram_pages(m) + total_swap_pages(m)
            if pages > total:
                raise MmError("ENOMEM", f"{what}{pages * PAGE_SIZE} bytes is more than the "
                                        f"machine's memory ({total * PAGE_SIZE} bytes) and "
                                        "overcommit is heuristic")
            return
        allowed = self.vm_commit_limit()
        if mm is not None:
            total_vm = sum((v.vm_end - v.vm_start) // PAGE_SIZE for v in mm.vmas)
            allowed -= min(total_vm // 32, self.user_reserve_kbytes // 4)
        committed = committed_as_pages(m) + already + pages
        if committed >= allowed:
            raise MmError("ENOMEM", f"{what} {pages * PAGE_SIZE} bytes would bring Committed_AS to "
                                    f"{committed * 4} kB, over the commit limit ({allowed * 4} kB) "
                                    "with overcommit disabled (vm.overcommit_memory 2)")


def _enough_memory(pages: int, totalram, what: str, mm=None) -> None:
    """security_vm_enough_memory_mm() -> __vm_enough_memory(): ``totalram`` is the machine's
    :class:`Overcommit` (its policy decides), or a page count (None: no check) for the
    heuristic alone: refuse only what can never fit."""
    if isinstance(totalram, Overcommit):
        totalram.vm_enough_memory(mm, pages, what)
        return
    if totalram is not None and pages > totalram:
        raise MmError("ENOMEM", f"{what}{pages * PAGE_SIZE} bytes is more than the machine's "
                                f"memory ({totalram * PAGE_SIZE} bytes) and overcommit is heuristic")


def _vma_to_resize(mm: MmStruct, addr: int, old_len: int, new_len: int, flags: int,
                   totalram: Optional[int]) -> VmArea:
    """vma_to_resize(): the VMA holding [addr, addr + old_len), checked for the resize."""
    vma = mm.find_vma(addr)
    if vma is None:
        raise MmError("EFAULT", f"{addr:#x} is not mapped")
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        # "attempted to duplicate a private mapping with mremap.  This is not supported."
        raise MmError("EINVAL", "an old length of 0 duplicates only shared mappings")
    if flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise MmError("EINVAL", "MREMAP_DONTUNMAP of a VM_DONTEXPAND or VM_PFNMAP mapping")
    if vma.vm_flags & VM_HUGETLB:
        raise MmError("EINVAL", "a hugetlb mapping cannot be remapped (v5.14)")
    if old_len > vma.vm_end - addr:
        raise MmError("EFAULT", f"[{addr:#x}, {addr + old_len:#x}) spans more than one mapping "
                                f"(the one at {addr:#x} ends at {vma.vm_end:#x})")
    if new_len == old_len:
        return vma
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise MmError("EFAULT", "a VM_DONTEXPAND or VM_PFNMAP mapping cannot grow")
    if vma.vm_flags & VM_ACCOUNT and new_len > old_len:
        _enough_memory((new_len - old_len) // PAGE_SIZE, totalram, "growing the mapping by ", mm)
    return vma


def _private_anon(vma: VmArea) -> bool:
    """mremap's get_unmapped_area(vma->vm_file, ..., MAP_SHARED if VM_MAYSHARE): anonymous and
    not shared."""
    return vma.vm_file is None and not vma.vm_flags & VM_MAYSHARE


def _vma_expandable(mm: MmStruct, vma: VmArea, delta: int) -> bool:
    """vma_expandable(): nothing mapped in the ``delta`` bytes after the VMA, and they are user
    addresses (get_unmapped_area(MAP_FIXED))."""
    end = vma.vm_end + delta
    if end > TASK_SIZE:
        return False
    return not any(vma.vm_end <= v.vm_start < end for v in mm.vmas)


def copy_vma(core: MmCore, mm: MmStruct, vma: VmArea, addr: int, length: int, pgoff: int) -> VmArea:
    """copy_vma(): a new VMA at [addr, addr + length) for the pages of ``vma`` from ``pgoff``:
    vm_area_dup() (vm_ops, file, private data, userfaultfd context and policy go with it),
    anon_vma_clone() (the moved pages keep their anon_vma, and their index, so rmap finds them),
    ->open() and the link.  An anonymous VMA that never faulted starts afresh at pgoff
    addr >> PAGE_SHIFT.  (memsim never merges VMAs, so vma_merge() has nothing to do.)"""
    if vma.vm_file is None and not vma.has_vm_ops and not vma.anon_vma:
        pgoff = addr // PAGE_SIZE
    new = vma.dup()
    vma_get_file(new)
    new.vm_start = addr
    new.vm_end = addr + length
    new.vm_pgoff = pgoff
    new.addr = core.vm_area_alloc(dup=True)
    core.anon_vma_clone(new, vma)
    new.vm_ops_open()
    core.vma_link(mm, new)
    return new


def _move_vma(core: MmCore, mm: MmStruct, vma: VmArea, old_addr: int, old_len: int, new_len: int,
              new_addr: int, flags: int, totalram: Optional[int]) -> int:
    """move_vma(): copy_vma() at new_addr, move_page_tables() (rss unchanged), tell the
    userfaultfd (mremap_userfaultfd_prep), then unmap the old range — or, with
    MREMAP_DONTUNMAP, leave it mapped and empty (VM_LOCKED cleared; locked_vm grew by the
    new length of a locked VMA and the old range's unmap takes its length off; its anon_vma links dropped
    when the whole VMA moved, so its next fault starts a new anon_vma).  When the page tables
    cannot all be moved (no memory for a table), the moved entries go back and the new VMA is
    unmapped: ENOMEM."""
    err = 0
    if vma.vm_start != old_addr:
        err = vma.vm_ops_may_split(old_addr)
    if not err and vma.vm_end != old_addr + old_len:
        err = vma.vm_ops_may_split(old_addr + old_len)
    if err:
        raise MmError(_errno_name(-err), "the mapping cannot be split where the moved range ends")
    if flags & MREMAP_DONTUNMAP and vma.vm_flags & VM_ACCOUNT:
        _enough_memory(new_len // PAGE_SIZE, totalram, "a MREMAP_DONTUNMAP copy of ", mm)
    new_pgoff = vma.vm_pgoff + (old_addr - vma.vm_start) // PAGE_SIZE
    new_vma = copy_vma(core, mm, vma, new_addr, new_len, new_pgoff)
    if vma.vm_flags & VM_LOCKED:
        # locked_vm grows by the new length; the unmap of the old range takes the old one off
        # (with MREMAP_DONTUNMAP nothing does: "we won't unmap", as in the kernel)
        mm.locked_vm += new_len // PAGE_SIZE
    moved = core.move_page_tables(mm, vma, old_addr, new_vma, new_addr, old_len)
    failed = moved < old_len
    if failed:
        core.move_page_tables(mm, new_vma, new_addr, vma, old_addr, moved)
        vma, old_len, old_addr = new_vma, new_len, new_addr
    else:
        core.mremap_userfaultfd(new_vma, old_addr, new_addr, old_len)
    if not failed and flags & MREMAP_DONTUNMAP:
        vma.vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT)
        if new_vma is not vma and vma.vm_start == old_addr and vma.vm_end == old_addr + old_len:
            core.unlink_anon_vmas(vma)
        return new_addr
    try:
        do_munmap(core, mm, old_addr, old_len)
    except MmError:
        pass                # "OOM: unable to split vma, just get accounts right" (or old_len 0)
    if failed:
        raise MmError("ENOMEM", "no memory for the page tables at the new address")
    return new_addr


def _mremap_to(core: MmCore, mm: MmStruct, addr: int, old_len: int, new_addr: int, new_len: int,
               flags: int, totalram: Optional[int]) -> int:
    """mremap_to(): MREMAP_FIXED (whatever is at new_addr is unmapped first) or
    MREMAP_DONTUNMAP (new_addr is a hint): shrink first if asked, then move."""
    if new_addr % PAGE_SIZE:
        raise MmError("EINVAL", f"new address {new_addr:#x} is not page aligned")
    if new_len > TASK_SIZE or new_addr > TASK_SIZE - new_len:
        raise MmError("EINVAL", f"[{new_addr:#x}, {new_addr + new_len:#x}) is not in the user address space")
    if addr + old_len > new_addr and new_addr + new_len > addr:
        raise MmError("EINVAL", "the old and new ranges overlap")
    if flags & MREMAP_FIXED:
        do_munmap(core, mm, new_addr, new_len)
    if old_len >= new_len:
        if old_len > new_len:
            do_munmap(core, mm, addr + new_len, old_len - new_len)
        old_len = new_len
    vma = _vma_to_resize(mm, addr, old_len, new_len, flags, totalram)
    if flags & MREMAP_FIXED:
        if new_addr < TASK_UNMAPPED_FLOOR:      # security_mmap_addr(): below mmap_min_addr
            raise MmError("EPERM", f"{new_addr:#x} is below mmap_min_addr ({TASK_UNMAPPED_FLOOR:#x})")
        target = new_addr
    else:
        target = _get_unmapped_area(core, mm, new_len, new_addr, PAGE_SIZE, _private_anon(vma))
    locked = vma.vm_flags & VM_LOCKED
    new = _move_vma(core, mm, vma, addr, old_len, new_len, target, flags, totalram)
    if locked and new_len > old_len:
        mm_populate(core, mm, new + old_len, new_len - old_len, True)
    return new


def do_mremap(core: MmCore, mm: MmStruct, addr: int, old_len: int, new_len: int, flags: int = 0,
              new_addr: int = 0, totalram: Optional[int] = None) -> int:
    """SYSCALL_DEFINE5(mremap): resize and/or move [addr, addr + old_len); returns the new
    address.  ``totalram`` (pages) enables the overcommit check of accountable growth.

    Shrinking always succeeds (the tail is unmapped, mapped or not); growing happens in place
    when the old range ends its VMA and nothing follows it, else moves with MREMAP_MAYMOVE
    (ENOMEM without).  MREMAP_FIXED moves to ``new_addr`` (unmapping what was there);
    MREMAP_DONTUNMAP moves and leaves the old range mapped but empty (any mapping since v5.13,
    but VM_DONTEXPAND/VM_PFNMAP ones).  Errors are the kernel's: EINVAL (flags, alignment, a
    zero new length, overlapping ranges), EFAULT (the old range is unmapped or spans VMAs),
    ENOMEM, EPERM (MREMAP_FIXED below mmap_min_addr)."""
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        raise MmError("EINVAL", f"unknown mremap flags {flags:#x}")
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        raise MmError("EINVAL", "MREMAP_FIXED needs MREMAP_MAYMOVE")
    if flags & MREMAP_DONTUNMAP and (not flags & MREMAP_MAYMOVE or old_len != new_len):
        raise MmError("EINVAL", "MREMAP_DONTUNMAP needs MREMAP_MAYMOVE and the same old and new length")
    if addr % PAGE_SIZE:
        raise MmError("EINVAL", f"old address {addr:#x} is not page aligned")
    old_len = page_align(old_len)
    new_len = page_align(new_len)
    if not new_len:
        raise MmError("EINVAL", "the new length is 0")
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP):
        return _mremap_to(core, mm, addr, old_len, new_addr, new_len, flags, totalram)
    if old_len >= new_len:
        if old_len > new_len:
            do_munmap(core, mm, addr + new_len, old_len - new_len)
        return addr
    vma = _vma_to_resize(mm, addr, old_len, new_len, flags, totalram)
    locked = vma.vm_flags & VM_LOCKED
    if old_len == vma.vm_end - addr and _vma_expandable(mm, vma, new_len - old_len):
        vma.vm_end = addr + new_len              # vma_adjust()
        new = addr
        if locked:
            mm.locked_vm += (new_len - old_len) // PAGE_SIZE
    else:
        if not flags & MREMAP_MAYMOVE:
            raise MmError("ENOMEM", f"the mapping cannot grow in place at {addr:#x} and "
                                    "MREMAP_MAYMOVE is not given")
        target = _get_unmapped_area(core, mm, new_len, None, PAGE_SIZE, _private_anon(vma))
        new = _move_vma(core, mm, vma, addr, old_len, new_len, target, flags, totalram)
    if locked:                      # mremap(): mm_populate() of the grown part of a locked VMA
        mm_populate(core, mm, new + old_len, new_len - old_len, True)
    return new


# ----------------------------------------------------------------------------------------------
# NUMA memory policy: set_mempolicy() and mbind() (mm/mempolicy.c of v5.14)
# ----------------------------------------------------------------------------------------------

MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_LOCAL = 4
MPOL_PREFERRED_MANY = 5
#: The policy modes the core's allocator implements, by the name a workload gives them.
MPOL_MODES = {"default": MPOL_DEFAULT, "preferred": MPOL_PREFERRED, "bind": MPOL_BIND,
              "interleave": MPOL_INTERLEAVE, "local": MPOL_LOCAL,
              "preferred_many": MPOL_PREFERRED_MANY}
MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_NUMA_BALANCING = 1 << 13
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
#: The mode flags by name (include/uapi/linux/mempolicy.h).
MPOL_MODE_FLAG_NAMES = {"MPOL_F_STATIC_NODES": MPOL_F_STATIC_NODES,
                        "MPOL_F_RELATIVE_NODES": MPOL_F_RELATIVE_NODES,
                        "MPOL_F_NUMA_BALANCING": MPOL_F_NUMA_BALANCING}
MAX_NUMNODES = 1024


def _sanitize_mpol_flags(mode: int, flags: int, mpol_max: int, numa_balancing_modes) -> None:
    """sanitize_mpol_flags(): a known mode, not both STATIC and RELATIVE, NUMA_BALANCING only
    with the modes that take it (MPOL_BIND)."""
    if flags & ~MPOL_MODE_FLAGS or not 0 <= mode < mpol_max:
        raise MmError("EINVAL", f"mode {mode} with flags {flags:#x} is not a policy this kernel knows")
    if flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        raise MmError("EINVAL", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
    if flags & MPOL_F_NUMA_BALANCING and mode not in numa_balancing_modes:
        raise MmError("EINVAL", "MPOL_F_NUMA_BALANCING goes only with "
                      + " or ".join(n for n, m in MPOL_MODES.items() if m in numa_balancing_modes))


def _get_nodes(nodes) -> frozenset:
    """get_nodes(): the user's nodemask; bits at or above MAX_NUMNODES must be clear."""
    for n in nodes:
        if not 0 <= n < MAX_NUMNODES:
            raise MmError("EINVAL", f"node {n} is beyond MAX_NUMNODES ({MAX_NUMNODES})")
    return frozenset(nodes)


def _mpol_new(mode: int, flags: int, nodes: frozenset) -> Optional[int]:
    """mpol_new(): None for MPOL_DEFAULT (no policy), else the mode to keep (MPOL_PREFERRED
    with no node is MPOL_LOCAL); an empty nodemask is EINVAL for every other mode."""
    if mode == MPOL_DEFAULT:
        if nodes:
            raise MmError("EINVAL", "MPOL_DEFAULT takes no nodes")
        return None
    if mode == MPOL_PREFERRED:
        if not nodes:
            if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
                raise MmError("EINVAL", "MPOL_PREFERRED without nodes takes no STATIC/RELATIVE flag")
            return MPOL_LOCAL
    elif mode == MPOL_LOCAL:
        if nodes or flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            raise MmError("EINVAL", "MPOL_LOCAL takes no nodes and no STATIC/RELATIVE flag")
    elif not nodes:
        raise MmError("EINVAL", "the nodemask is empty")
    return mode


def _mpol_set_nodemask(mode: int, flags: int, nodes: frozenset, mems) -> Tuple[int, ...]:
    """mpol_set_nodemask() + mpol_ops[mode].create(): the user's nodes within the nodes with
    memory (``mems``: cpuset_current_mems_allowed & N_MEMORY), folded onto them for
    MPOL_F_RELATIVE_NODES; EINVAL when none is left.  MPOL_PREFERRED keeps the first."""
    if mode == MPOL_LOCAL:
        return ()
    mems = sorted(mems)
    if flags & MPOL_F_RELATIVE_NODES:
        folded = {n % len(mems) for n in nodes}                 # nodes_fold()
        eff = sorted(mems[i] for i in folded)                   # nodes_onto()
    else:
        eff = sorted(n for n in nodes if n in set(mems))
    if not eff:
        raise MmError("EINVAL", f"none of nodes {sorted(nodes)} has memory "
                                f"(the machine's nodes: {', '.join(map(str, mems))})")
    if mode in (MPOL_PREFERRED,):
        return (eff[0],)                                        # mpol_new_preferred()
    return tuple(eff)


def mpol_check(mode: int, flags: int, nodes, mems, mpol_max: int,
               numa_balancing_modes=(MPOL_BIND,)) -> Optional[Tuple[int, int, Tuple[int, ...]]]:
    """The policy ``(mode, flags, nodes)`` that set_mempolicy()/mbind() would install for the
    user's arguments (None: MPOL_DEFAULT), with the kernel's EINVAL checks (MmError)."""
    _sanitize_mpol_flags(mode, flags, mpol_max, numa_balancing_modes)
    user = _get_nodes(nodes)
    kept = _mpol_new(mode, flags, user)
    if kept is None:
        return None
    return kept, flags, _mpol_set_nodemask(kept, flags, user, mems)


def do_set_mempolicy(task, mode: int, flags: int, nodes, mems, mpol_max: int = MPOL_LOCAL + 1,
                     numa_balancing_modes=(MPOL_BIND,)) -> None:
    """kernel_set_mempolicy() -> do_set_mempolicy(): ``task``'s policy for its later
    allocations (MPOL_DEFAULT removes it).  ``mems``: the nodes with memory; ``mpol_max``: the
    profile's MPOL_MAX (MPOL_PREFERRED_MANY is v5.15+)."""
    pol = mpol_check(mode, flags, nodes, mems, mpol_max, numa_balancing_modes)
    if pol is None:
        set_task_mempolicy(task, MPOL_DEFAULT)
    else:
        set_task_mempolicy(task, pol[0], pol[2], pol[1])


def do_mbind(core: MmCore, mm: MmStruct, start: int, length: int, mode: int, flags: int, nodes,
             mems, mpol_max: int = MPOL_LOCAL + 1, numa_balancing_modes=(MPOL_BIND,)) -> None:
    """kernel_mbind() -> do_mbind() without MPOL_MF_* flags: the policy for the pages of
    [start, start + length) faulted from now on (pages already there stay where they are).
    The range must be mapped without holes (EFAULT; MPOL_DEFAULT tolerates holes but not a
    range with no mapping at all); mbind_range() splits the VMAs at the range's edges (unless
    they already have the policy) and installs the policy in each (vma_replace_policy)."""
    _sanitize_mpol_flags(mode, flags, mpol_max, numa_balancing_modes)
    user = _get_nodes(nodes)
    if start % PAGE_SIZE:
        raise MmError("EINVAL", f"start {start:#x} is not page aligned")
    end = start + page_align(length)
    if end < start:
        raise MmError("EINVAL", "the range wraps around")
    if end == start:
        return
    kept = _mpol_new(mode, flags, user)
    new = None
    if kept is not None:
        new = (kept, flags, _mpol_set_nodemask(kept, flags, user, mems))
    # queue_pages_range() -> queue_pages_test_walk(): holes
    vmas = [v for v in mm.vmas if v.vm_start < end and start < v.vm_end]
    if not vmas:
        raise MmError("EFAULT", f"nothing is mapped in [{start:#x}, {end:#x})")
    if new is not None:                          # not MPOL_MF_DISCONTIG_OK
        if vmas[0].vm_start > start:
            raise MmError("EFAULT", f"[{start:#x}, {vmas[0].vm_start:#x}) is not mapped")
        for a, b in zip(vmas, vmas[1:]):
            if a.vm_end < b.vm_start:
                raise MmError("EFAULT", f"[{a.vm_end:#x}, {b.vm_start:#x}) is not mapped")
        if vmas[-1].vm_end < end:
            raise MmError("EFAULT", f"[{vmas[-1].vm_end:#x}, {end:#x}) is not mapped")
    # mbind_range()
    for vma in vmas:
        if vma.policy == new:                    # mpol_equal()
            continue
        if vma.vm_start < start:
            vma = split_vma(core, mm, vma, start)
        if vma.vm_end > end:
            split_vma(core, mm, vma, end)
        if new is None:
            vma.set_policy(MPOL_DEFAULT)
        else:
            vma.set_policy(new[0], new[2], new[1])
        err = core.vma_set_policy(vma)          # vma->vm_ops->set_policy (shmem_set_policy)
        if err:
            raise MmError("ENOMEM", "the file could not record the policy")


# ----------------------------------------------------------------------------------------------
# mlock (mm/mlock.c)
# ----------------------------------------------------------------------------------------------

MLOCK_ONFAULT = 0x01
MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4
#: The mlock2 and mlockall flags by name (include/uapi/asm-generic/mman-common.h, mman.h).
MLOCK_FLAGS = {"MLOCK_ONFAULT": MLOCK_ONFAULT}
MCL_FLAGS = {"MCL_CURRENT": MCL_CURRENT, "MCL_FUTURE": MCL_FUTURE, "MCL_ONFAULT": MCL_ONFAULT}
VM_FAULT_OOM_ = 0x1


def mlock_fixup(core: MmCore, mm: MmStruct, vma: VmArea, start: int, end: int, newflags: int) -> VmArea:
    """mlock_fixup(): give [start, end) of ``vma`` the flags ``newflags``.  A VM_SPECIAL or
    hugetlb VMA is left alone and not counted.  Else the VMA is split to the range (memsim
    never merges VMAs, so vma_merge()/vma_modify_flags() is split_vma() alone), mm->locked_vm
    moves by its pages, and the pages are (un)locked: v5.14 sets the flags (mlocking is left to
    __mm_populate) or munlock_vma_pages_range(); v6.18 mlock_vma_pages_range() (not when it
    was and stays VM_LOCKED).  Returns the VMA the range now is (or ``vma``)."""
    oldflags = vma.vm_flags
    if newflags == oldflags or oldflags & (VM_SPECIAL | VM_HUGETLB):
        return vma
    if start > vma.vm_start:
        vma = split_vma(core, mm, vma, start)
    if end < vma.vm_end:
        split_vma(core, mm, vma, end)
    nr_pages = (end - start) // PAGE_SIZE
    if not newflags & VM_LOCKED:
        nr_pages = -nr_pages
    elif oldflags & VM_LOCKED:
        nr_pages = 0
    mm.locked_vm += nr_pages
    if core.physmem.mlock_fbatch_enabled:
        if newflags & VM_LOCKED and oldflags & VM_LOCKED:
            vma.vm_flags = newflags         # no work to do, and mlocking twice would be wrong
        else:
            core.mlock_vma_pages_range(mm, vma, start, end, newflags)
    elif newflags & VM_LOCKED:
        vma.vm_flags = newflags
    else:
        core.munlock_vma_pages_range(mm, vma, start, end)
        vma.vm_flags = newflags
    return vma


def apply_vma_lock_flags(core: MmCore, mm: MmStruct, start: int, length: int, flags: int) -> None:
    """apply_vma_lock_flags(): mlock_fixup() each VMA of [start, start + length) with its
    VM_LOCKED / VM_LOCKONFAULT bits replaced by ``flags``; a hole in the range is ENOMEM —
    after the VMAs before it were changed, as in the kernel."""
    end = start + length
    if end < start:
        raise MmError("EINVAL", "the range wraps around the address space")
    if end == start:
        return
    vma = mm.find_vma(start)
    if vma is None:
        raise MmError("ENOMEM", f"{start:#x} is not mapped")
    nstart = start
    while True:
        newflags = (vma.vm_flags & ~VM_LOCKED_MASK) | flags
        tmp = min(vma.vm_end, end)
        vma = mlock_fixup(core, mm, vma, nstart, tmp, newflags)
        nstart = tmp
        if nstart >= end:
            return
        vma = mm.find_vma(nstart)
        if vma is None or vma.vm_start != nstart:
            raise MmError("ENOMEM", f"[{start:#x}, {end:#x}) is not fully mapped: nothing at {nstart:#x}")


def mm_populate(core: MmCore, mm: MmStruct, start: int, length: int, ignore_errors: bool) -> None:
    """__mm_populate(): populate_vma_page_range() of each VMA in [start, start + length), but
    VM_IO / VM_PFNMAP ones.  A PROT_NONE VMA is -EFAULT (check_vma_flags() without FOLL_FORCE
    on v5.14; "we've never faulted in PROT_NONE pages" on v6.18, after its VM_LOCKONFAULT
    return), a fault error VM_FAULT_OOM -ENOMEM, any other -EFAULT; an error ends it unless
    ``ignore_errors``, as __mlock_posix_error_return() returns it: ENOMEM -> EAGAIN,
    EFAULT -> ENOMEM."""
    end = start + length
    v6 = core.physmem.mlock_fbatch_enabled
    for vma in [v for v in mm.vmas if v.vm_start < end and start < v.vm_end]:
        if vma.vm_flags & (VM_IO | VM_PFNMAP):
            continue
        if not vma.vm_flags & VM_PROT_MASK and not (v6 and vma.vm_flags & VM_LOCKONFAULT):
            if ignore_errors:
                continue
            raise MmError("ENOMEM", f"[{vma.vm_start:#x}, {vma.vm_end:#x}) is PROT_NONE: its pages "
                                    "cannot be faulted in (EFAULT)")
        ret = core.populate_vma_page_range(mm, vma, max(start, vma.vm_start), min(end, vma.vm_end))
        if ret and not ignore_errors:
            if ret & VM_FAULT_OOM_:
                raise MmError("EAGAIN", "out of memory faulting the locked range in")
            raise MmError("ENOMEM", "a page of the locked range could not be faulted in")


def do_mlock(core: MmCore, mm: MmStruct, start: int, length: int, flags: int = 0) -> None:
    """mlock(2) / mlock2(2) (do_mlock()): ``flags`` may only be MLOCK_ONFAULT (EINVAL); the
    range is widened to whole pages (the start rounded down, the length rounded up), locked
    (apply_vma_lock_flags with VM_LOCKED, | VM_LOCKONFAULT for MLOCK_ONFAULT), then populated.
    memsim's tasks are root with CAP_IPC_LOCK, so RLIMIT_MEMLOCK does not limit them."""
    if flags & ~MLOCK_ONFAULT:
        raise MmError("EINVAL", f"mlock2 flags {flags:#x} has bits other than MLOCK_ONFAULT")
    vm_flags = VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0)
    length = page_align(length + (start % PAGE_SIZE))
    start &= PAGE_MASK
    apply_vma_lock_flags(core, mm, start, length, vm_flags)
    mm_populate(core, mm, start, length, False)


def do_munlock(core: MmCore, mm: MmStruct, start: int, length: int) -> None:
    """munlock(2): the range widened to whole pages, then apply_vma_lock_flags(0)."""
    length = page_align(length + (start % PAGE_SIZE))
    start &= PAGE_MASK
    apply_vma_lock_flags(core, mm, start, length, 0)


def apply_mlockall_flags(core: MmCore, mm: MmStruct, flags: int) -> None:
    """apply_mlockall_flags(): MCL_FUTURE sets mm->def_flags (VM_LOCKED, | VM_LOCKONFAULT with
    MCL_ONFAULT) for later mappings; MCL_CURRENT (or no flag: munlockall) mlock_fixup()s every
    VMA, errors ignored."""
    mm.def_flags &= ~VM_LOCKED_MASK
    if flags & MCL_FUTURE:
        mm.def_flags |= VM_LOCKED | (VM_LOCKONFAULT if flags & MCL_ONFAULT else 0)
        if not flags & MCL_CURRENT:
            return
    to_add = 0
    if flags & MCL_CURRENT:
        to_add = VM_LOCKED | (VM_LOCKONFAULT if flags & MCL_ONFAULT else 0)
    for vma in list(mm.vmas):
        try:
            mlock_fixup(core, mm, vma, vma.vm_start, vma.vm_end,
                        (vma.vm_flags & ~VM_LOCKED_MASK) | to_add)
        except MmError:
            pass


def do_mlockall(core: MmCore, mm: MmStruct, flags: int) -> None:
    """mlockall(2): EINVAL for no flag, an unknown bit, or MCL_ONFAULT alone; then
    apply_mlockall_flags() and, with MCL_CURRENT, mm_populate() of the whole address space
    (errors ignored).  No RLIMIT_MEMLOCK check: the task has CAP_IPC_LOCK."""
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise MmError("EINVAL", f"mlockall flags {flags:#x}: give MCL_CURRENT and/or MCL_FUTURE "
                                "(MCL_ONFAULT only with one of them)")
    apply_mlockall_flags(core, mm, flags)
    if flags & MCL_CURRENT:
        mm_populate(core, mm, 0, TASK_SIZE, True)


def do_munlockall(core: MmCore, mm: MmStruct) -> None:
    """munlockall(2): apply_mlockall_flags(0): def_flags cleared, every VMA munlocked."""
    apply_mlockall_flags(core, mm, 0)


def _vma_file(vma: VmArea) -> File:
    """The open file behind a shared writable file VMA, for madvise_remove()'s vfs_fallocate():
    memsim's VMA keeps the inode (``vm_file.host``), so this is a file description like the one
    mapped (open for reading and writing, which VM_SHARED|VM_MAYWRITE implies)."""
    inode = vma.vm_file.host
    file = File.__new__(File)
    file.f_path = None
    file.f_inode = inode
    file.f_mapping = vma.vm_file
    file.f_op = inode.i_fop
    file.f_flags = O_RDWR
    file.f_mode = FMODE_READ | FMODE_WRITE
    file.f_pos = 0
    file.f_count = 1
    file.private_data = None
    return file


def do_madvise(core: MmCore, mm: MmStruct, start: int, length: int, advice: int,
               vmscan: Any = None) -> None:
    """do_madvise() for the advice the core models:

    * MADV_DONTNEED (madvise_dontneed_single_vma()): zap the range of each VMA (the pages of a
      private mapping go; a file's page-cache pages stay); EINVAL for a VM_LOCKED or VM_PFNMAP
      VMA (madvise_dontneed_free_valid_vma(); hugetlb VMAs are zapped as 6.18 does);
    * MADV_REMOVE (madvise_remove()): EINVAL for a VM_LOCKED VMA or one with no file; EACCES
      unless shared and writable (VM_SHARED|VM_MAYWRITE); then vfs_fallocate(PUNCH_HOLE |
      KEEP_SIZE) of the file range, whose errno it returns (EOPNOTSUPP from a filesystem
      without fallocate);
    * MADV_PAGEOUT (madvise_pageout(), v5.4+): EINVAL for a VM_LOCKED, hugetlb or VM_PFNMAP
      VMA (can_madv_lru_vma()); a file VMA only when can_do_pageout() (memsim's tasks own
      their files: always); the pages mapped once are reclaimed now (``Vmscan.madvise_pageout``:
      anonymous ones go to swap when there is a swap device, else they stay).

    EINVAL for a start not page aligned or another advice; ENOMEM when part of the range is
    not mapped (after advising the mapped parts, as the kernel does)."""
    if start % PAGE_SIZE or length < 0:
        raise MmError("EINVAL", "start must be page aligned and length not negative")
    if advice not in (MADV_DONTNEED, MADV_REMOVE, MADV_PAGEOUT):
        raise MmError("EINVAL", f"advice {advice} is not modelled")
    end = start + page_align(length)
    if end == start:
        return
    hole = False
    at = start
    for vma in sorted((v for v in mm.vmas if v.vm_start < end and start < v.vm_end),
                      key=lambda v: v.vm_start):
        if vma.vm_start > at:
            hole = True
        s, e = max(start, vma.vm_start), min(end, vma.vm_end)
        if advice == MADV_PAGEOUT:
            if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
                raise MmError("EINVAL", "MADV_PAGEOUT of a locked, hugetlb or PFN mapping")
            if vmscan is not None:
                vmscan.madvise_pageout(mm, s, e)
            at = e
            continue
        core.userfaultfd_remove(vma, s, e)
        if advice == MADV_DONTNEED:
            if vma.vm_flags & (VM_LOCKED | VM_PFNMAP):
                raise MmError("EINVAL", "MADV_DONTNEED of a locked or PFN mapping")
            core.zap_page_range(mm, vma, s, e)
        else:
            if vma.vm_flags & VM_LOCKED:
                raise MmError("EINVAL", "MADV_REMOVE of a locked mapping")
            if vma.vm_file is None or not isinstance(vma.vm_file.host, Inode):
                raise MmError("EINVAL", "MADV_REMOVE of a mapping without a file")
            if vma.vm_flags & (VM_SHARED | VM_MAYWRITE) != VM_SHARED | VM_MAYWRITE:
                raise MmError("EACCES", "MADV_REMOVE of a mapping that is not shared and writable")
            offset = (s - vma.vm_start) + vma.vm_pgoff * PAGE_SIZE
            try:
                vfs_fallocate(_vma_file(vma), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, e - s)
            except VfsError as err:
                raise MmError(err.errno, err.detail) from None
        at = e
    if hole or at < end:
        raise MmError("ENOMEM", "part of the range is not mapped")
