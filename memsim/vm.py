"""The mm system calls and process lifecycle on top of the Cython core: mmap, munmap, mprotect,
fork (dup_mmap) and exit (exit_mmap).

This is policy, not a hot path: VMA bookkeeping happens once per call, and every per-page loop
runs inside :class:`memsim.mm.MmCore` in C.  Errors are returned as errno names, as the system
calls return them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from memsim.mm import (
    AddressSpace, MmCore, MmStruct, VmArea, VM_ACCOUNT, VM_DONTCOPY, VM_EXEC, VM_LOCKED, VM_MAYEXEC,
    VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_NORESERVE, VM_READ, VM_SHARED, VM_WRITE,
)

PAGE_SIZE = 4096
PAGE_MASK = ~(PAGE_SIZE - 1)
TASK_UNMAPPED_FLOOR = 0x10000            # mmap_min_addr
TASK_SIZE = (1 << 47) - PAGE_SIZE        # x86-64 TASK_SIZE_MAX with 4-level page tables

# mmap(2) flags the core acts on (include/uapi/asm-generic/mman-common.h, x86-64 values)
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_FIXED_NOREPLACE = 0x100000
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


class AddressSpaces:
    """Files and shmem objects of a machine: the address_space behind every shared or file VMA."""

    def __init__(self, s_dev: int = (254 << 20)):
        self.s_dev = s_dev
        self.files: dict = {}
        self.next_ino = 0x20000

    def file(self, name: str, min_size: int) -> AddressSpace:
        """The file called ``name``, created (sparse, like a new ext4 file) or grown to min_size."""
        mapping = self.files.get(name)
        if mapping is None:
            mapping = AddressSpace(self.next_ino, name, False, self.s_dev, min_size)
            self.next_ino += 1
            self.files[name] = mapping
        elif mapping.i_size < min_size:
            mapping.i_size = min_size
        return mapping

    def shmem(self, size: int) -> AddressSpace:
        """shmem_zero_setup(): the shmem object behind a MAP_SHARED|MAP_ANONYMOUS mapping."""
        mapping = AddressSpace(self.next_ino, "/dev/zero (deleted)", True, 5, size)
        self.next_ino += 1
        return mapping


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


def do_mmap(core: MmCore, mm: MmStruct, files: AddressSpaces, length: int, prot: str = "rw",
            kind: str = "anon", file: Optional[str] = None, offset: int = 0,
            hint: Optional[int] = None, name: str = "", totalram: int = 0, *, map_flags: int = 0,
            vm_flags: int = 0, accountable: Optional[bool] = None, align: int = PAGE_SIZE,
            vm_file: Optional[AddressSpace] = None) -> VmArea:
    """do_mmap() + mmap_region(): a new VMA (no merging with neighbours).

    ``map_flags`` are the MAP_* bits: MAP_FIXED / MAP_FIXED_NOREPLACE place the mapping at
    ``hint`` exactly (MAP_FIXED unmaps what was there first), MAP_NORESERVE sets VM_NORESERVE so
    the mapping is not accounted; other bits are the plugins' (see :class:`MmapRequest` for
    ``vm_flags``, ``accountable``, ``align`` and ``vm_file``)."""
    if length <= 0:
        raise MmError("EINVAL", "length must be positive")
    if offset % PAGE_SIZE:
        raise MmError("EINVAL", "offset must be a multiple of the page size")
    length = page_align(length)
    if map_flags & MAP_FIXED_NOREPLACE:
        map_flags |= MAP_FIXED
    flags = PROT_BITS[prot] | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | vm_flags
    if kind in ("shared", "file-shared"):
        flags |= VM_SHARED | VM_MAYSHARE
    if map_flags & MAP_NORESERVE:
        flags |= VM_NORESERVE           # honoured: overcommit is heuristic (not OVERCOMMIT_NEVER)
    if map_flags & MAP_FIXED:
        start = _fixed_address(mm, hint, length, map_flags, align)
        if _overlaps(mm, start, start + length):
            do_munmap(core, mm, start, length)      # mmap_region(): munmap_vma_range()
    else:
        start = get_unmapped_area(mm, length, hint, align)
    # accountable_mapping() + __vm_enough_memory(OVERCOMMIT_GUESS): a private writable or a
    # shared anonymous mapping larger than RAM + swap fails with ENOMEM (VM_NORESERVE: not
    # accounted; shmem_acct_size() skips it as well).
    if accountable is None:
        accountable = ((kind == "anon" and flags & VM_WRITE) or kind == "shared") and not flags & VM_NORESERVE
    if accountable:
        if kind == "anon":
            flags |= VM_ACCOUNT
        if length // PAGE_SIZE > totalram:
            raise MmError("ENOMEM", f"{length} bytes is more than the machine's memory "
                                    f"({totalram * PAGE_SIZE} bytes) and overcommit is heuristic")
    pgoff = start // PAGE_SIZE           # a private anonymous mapping's pgoff is its address
    if vm_file is not None:
        pgoff = offset // PAGE_SIZE
    elif kind == "shared":
        vm_file = files.shmem(length)
        pgoff = 0
    elif kind in ("file", "file-shared"):
        vm_file = files.file(file, offset + length)
        pgoff = offset // PAGE_SIZE
    vma = VmArea(start, start + length, flags, name, vm_file, pgoff)
    vma.addr = core.vm_area_alloc()
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
    """__do_munmap(): split, detach, unmap_region(), then free the VMAs."""
    if start % PAGE_SIZE or length <= 0:
        raise MmError("EINVAL", "start must be page aligned and length positive")
    end = start + page_align(length)
    if not _overlaps(mm, start, end):
        return
    victims = _split_range(core, mm, start, end)
    for v in victims:
        core.userfaultfd_unmap_prep(v, v.vm_start, v.vm_end)
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


def do_mprotect(core: MmCore, mm: MmStruct, start: int, length: int, prot: str) -> None:
    """mprotect_fixup() + change_protection(): new flags; write access removed from the PTEs.

    Adding write does not make PTEs writable (private anonymous mappings are not
    dirty-accountable): the next write faults and do_wp_page() reuses or copies the page."""
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
        v.vm_flags = (v.vm_flags & ~VM_PROT_MASK) | newbits
        if not newbits & VM_WRITE:
            core.wrprotect_range(mm, v.vm_start, v.vm_end)


def dup_mm(core: MmCore, parent: MmStruct, owner) -> MmStruct:
    """dup_mm() + dup_mmap(): a new mm, then per VMA (but VM_DONTCOPY ones) vm_area_dup,
    dup_userfaultfd (the child keeps the userfaultfd context only if it asked for fork events),
    anon_vma_fork, ->open, the link into the file's i_mmap, and copy_page_range.  A failure
    (-ENOMEM duplicating swap entries) tears the half-built child down and raises ENOMEM."""
    child = core.mm_alloc(owner)
    child.mmap_base = parent.mmap_base
    for vma in parent.vmas:
        if vma.vm_flags & VM_DONTCOPY:
            continue
        new = vma.dup()
        new.addr = core.vm_area_alloc(dup=True)
        core.dup_userfaultfd(vma, new)
        new.anon_vma = 0
        core.anon_vma_fork(new, vma)
        new.vm_flags &= ~VM_LOCKED
        core.vma_link(child, new)
        err = core.copy_page_range(child, new, parent, vma)
        new.vm_ops_open()
        if err:
            exit_mmap(core, child)
            raise MmError(_errno_name(-err), "fork could not copy the page tables")
    return child


def exit_mmap(core: MmCore, mm: MmStruct) -> None:
    """exit_mmap(): unmap every VMA through one full-mm gather, free all page tables
    (floor 0, USER_PGTABLES_CEILING 0), free the VMAs, then the pgd and the mm_struct."""
    vmas = list(mm.vmas)
    if vmas:
        core.unmap_region(mm, vmas, 0, 1 << 47, 0, 0, True)
    mm.vmas.clear()
    for v in vmas:
        core.vm_area_free(v)
    core.free_pgd(mm)
    core.mm_free(mm)
