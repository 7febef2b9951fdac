"""memfd_create() and file seals (mm/memfd.c): an anonymous tmpfs file on ``shm_mnt``.

:func:`memfd_create` follows SYSCALL_DEFINE2(memfd_create) of 6.18 (v5.14 has no MFD_EXEC /
MFD_NOEXEC_SEAL: EINVAL for them); :func:`memfd_add_seals` is fcntl(F_ADD_SEALS)'s
memfd_add_seals().  Where a seal bites is tmpfs's (:mod:`memsim.plugins.pagecache.tmpfs`):
writes, ftruncate, fallocate and shared mappings.
"""
from __future__ import annotations

from typing import Any

from memsim.profiles import GFP_KERNEL, ProfileTable
from memsim.vfs import FMODE_WRITE, NAME_MAX, O_RDWR, File, FilesStruct, VfsError

from .tmpfs import (F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK,
                    F_SEAL_WRITE, ShmemInode, get_tmpfs, shmem_mapping)

__all__ = ["MFD_FLAGS", "SEALS", "memfd_create", "memfd_add_seals", "memfd_get_seals"]

# include/uapi/linux/memfd.h
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_HUGETLB = 0x0004
MFD_NOEXEC_SEAL = 0x0008
MFD_EXEC = 0x0010
#: MFD_HUGE_SHIFT / MFD_HUGE_MASK (include/uapi/linux/memfd.h): the huge page size's log2
MFD_HUGE_SHIFT = 26
MFD_HUGE_MASK = 0x3f
#: VM_NORESERVE (include/linux/mm.h): hugetlb_file_setup()'s acctflag for a memfd
VM_NORESERVE = 0x200000
#: The flags a workload may give, by name (MFD_HUGE_2MB / MFD_HUGE_1GB: the huge page size of an
#: MFD_HUGETLB memfd, include/uapi/linux/memfd.h)
MFD_FLAGS = {"MFD_CLOEXEC": MFD_CLOEXEC, "MFD_ALLOW_SEALING": MFD_ALLOW_SEALING,
             "MFD_HUGETLB": MFD_HUGETLB, "MFD_NOEXEC_SEAL": MFD_NOEXEC_SEAL, "MFD_EXEC": MFD_EXEC,
             "MFD_HUGE_2MB": 21 << MFD_HUGE_SHIFT, "MFD_HUGE_1GB": 30 << MFD_HUGE_SHIFT}
#: The seals, by name (F_ALL_SEALS of 6.18: F_SEAL_EXEC is new in v6.3).
SEALS = {"F_SEAL_SEAL": F_SEAL_SEAL, "F_SEAL_SHRINK": F_SEAL_SHRINK, "F_SEAL_GROW": F_SEAL_GROW,
         "F_SEAL_WRITE": F_SEAL_WRITE, "F_SEAL_FUTURE_WRITE": F_SEAL_FUTURE_WRITE,
         "F_SEAL_EXEC": F_SEAL_EXEC}
#: MFD_ALL_FLAGS: MFD_NOEXEC_SEAL and MFD_EXEC are v6.3's
MFD_ALL_FLAGS = ProfileTable("pagecache.mfd_all_flags", {
    "v5.14": MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB,
    "v6.18": MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC})
#: F_ALL_SEALS: F_SEAL_EXEC is v6.3's
F_ALL_SEALS = ProfileTable("pagecache.f_all_seals", {
    "v5.14": F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE,
    "v6.18": F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC})
#: "memfd:" + the name (MFD_NAME_PREFIX); the name may have NAME_MAX - 6 = 249 bytes
MFD_NAME_PREFIX = "memfd:"
MFD_NAME_MAX_LEN = NAME_MAX - len(MFD_NAME_PREFIX)
#: How many bytes that kmalloc asks for, given the name's length: v5.14 len + 1 (the NUL) + the
#: prefix; v6.18 NAME_MAX + 1 whatever the name (tests/pagecache/probes/memfd_trace.txt: 256
#: for "hello")
NAME_KMALLOC_FIXED = ProfileTable("pagecache.memfd_name_kmalloc", {"v5.14": 0, "v6.18": NAME_MAX + 1})


def _all_seals(machine: Any) -> int:
    return F_ALL_SEALS[machine.profile]


def memfd_create(machine: Any, files: FilesStruct, name: str, flags: int = 0) -> int:
    """memfd_create(2): EINVAL for unknown flags (v5.14: MFD_EXEC and MFD_NOEXEC_SEAL are
    unknown), for MFD_EXEC with MFD_NOEXEC_SEAL and for a name longer than 249 bytes.  MFD_HUGETLB
    asks the VFS for the ``hugetlbfs`` type and makes the file with its ``file_setup``
    (hugetlb_file_setup(); EINVAL when no plugin registered hugetlbfs).  The name is kmalloc'ed with
    its prefix (v6.18: NAME_MAX + 1 bytes), the file set up on shm_mnt (shmem_file_setup(name, 0, VM_NORESERVE): mode 0777,
    no link), opened O_RDWR, and its seals start at F_SEAL_SEAL unless MFD_ALLOW_SEALING (or,
    6.18, MFD_NOEXEC_SEAL: mode 0666 and F_SEAL_EXEC).  Returns the fd."""
    known = MFD_ALL_FLAGS[machine.profile]
    if flags & MFD_HUGETLB:             # the size bits only with MFD_HUGETLB
        known |= MFD_HUGE_MASK << MFD_HUGE_SHIFT
    if flags & ~known:
        raise VfsError("EINVAL", f"unknown memfd_create flags {flags & ~known:#x}")
    if flags & MFD_EXEC and flags & MFD_NOEXEC_SEAL:
        raise VfsError("EINVAL", "MFD_EXEC and MFD_NOEXEC_SEAL together")
    if known & MFD_EXEC and not flags & (MFD_EXEC | MFD_NOEXEC_SEAL):
        flags |= MFD_EXEC                   # vm.memfd_noexec 0: pr_warn_once, then as MFD_EXEC
    if len(name.encode()) > MFD_NAME_MAX_LEN:
        raise VfsError("EINVAL", f"the name is longer than {MFD_NAME_MAX_LEN} bytes")
    hugetlbfs = None
    if flags & MFD_HUGETLB:
        # hugetlb_file_setup() on hugetlbfs's internal mount: the filesystem type is another
        # plugin's, found through the VFS (EINVAL as before when no plugin registered it)
        hugetlbfs = machine.vfs.filesystems.get("hugetlbfs")
        if hugetlbfs is None or hugetlbfs.file_setup is None:
            raise VfsError("EINVAL", "MFD_HUGETLB: no hugetlbfs (the hugetlb plugin is disabled)")
    slab = machine.slab
    size = NAME_KMALLOC_FIXED[machine.profile] or len(name.encode()) + 1 + len(MFD_NAME_PREFIX)
    buf = slab.kmalloc(size, GFP_KERNEL, "__do_sys_memfd_create") if slab is not None else 0
    try:
        fd = files.alloc_fd()
        full = MFD_NAME_PREFIX + name
        if hugetlbfs is not None:
            # hugetlb_file_setup(name, 0, VM_NORESERVE, HUGETLB_ANONHUGE_INODE, MFD_HUGE_* bits):
            # no reservation until the file is mapped; no seals (F_SEAL_SEAL stays implied)
            file = hugetlbfs.file_setup(machine, full, 0, VM_NORESERVE,
                                        (flags >> MFD_HUGE_SHIFT) & MFD_HUGE_MASK)
            files.fd_install(fd, file)
            return fd
        tmpfs = get_tmpfs(machine)
        inode = tmpfs.shmem_file_setup(full, 0)
        file = tmpfs.alloc_file_pseudo(inode, full, O_RDWR)
        if flags & MFD_NOEXEC_SEAL:
            inode.i_mode &= ~0o111
            inode.seals = (inode.seals & ~F_SEAL_SEAL) | F_SEAL_EXEC
        elif flags & MFD_ALLOW_SEALING:
            inode.seals &= ~F_SEAL_SEAL
        files.fd_install(fd, file)
        return fd
    finally:
        if buf:
            slab.kfree(buf, "__do_sys_memfd_create")


def _seals_of(file: File) -> ShmemInode:
    """memfd_file_seals_ptr(): the inode of a shmem file (EINVAL for any other file)."""
    inode = file.f_inode
    if not isinstance(inode, ShmemInode) or not shmem_mapping(file.f_mapping):
        raise VfsError("EINVAL", "the file cannot be sealed (not a memfd or tmpfs file)")
    return inode


def memfd_add_seals(machine: Any, file: File, seals: int) -> None:
    """memfd_add_seals() (fcntl(F_ADD_SEALS)), in the kernel's order: EPERM unless open for
    writing; EINVAL for an unknown seal or a file that is not shmem's; EPERM once F_SEAL_SEAL is
    set; F_SEAL_WRITE fails with EBUSY while a shared mapping may write
    (mapping_deny_writable(): i_mmap_writable); F_SEAL_EXEC on an executable file implies the
    write, shrink and grow seals (6.18)."""
    if not file.f_mode & FMODE_WRITE:
        raise VfsError("EPERM", "the file is not open for writing")
    if seals & ~_all_seals(machine):
        raise VfsError("EINVAL", f"unknown seals {seals & ~_all_seals(machine):#x}")
    inode = _seals_of(file)
    if inode.seals & F_SEAL_SEAL:
        raise VfsError("EPERM", "the file's seals are sealed (F_SEAL_SEAL, or no MFD_ALLOW_SEALING)")
    if seals & F_SEAL_WRITE and not inode.seals & F_SEAL_WRITE:
        if any(vma.vm_flags & 0x28 == 0x28 for vma in file.f_mapping.i_mmap):
            raise VfsError("EBUSY", "a shared writable mapping of the file exists")
    if seals & F_SEAL_EXEC and inode.i_mode & 0o111:
        seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE
    inode.seals |= seals


def memfd_get_seals(file: File) -> int:
    """memfd_get_seals() (fcntl(F_GET_SEALS)): EINVAL for a file that is not shmem's."""
    return _seals_of(file).seals
