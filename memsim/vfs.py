"""The file namespace of a machine: a small VFS (fs/namei.c, fs/namespace.c, fs/open.c,
fs/read_write.c, fs/file.c, fs/super.c, fs/filesystems.c).

Policy, not a hot path: everything here is Python.  The objects carry the kernel's names:

* :class:`FileSystemType` (``struct file_system_type``) — a filesystem a ``mount`` can create; its
  ``mount(fc)`` builds or finds the :class:`SuperBlock` for a :class:`FsContext`;
* :class:`SuperBlock`, :class:`Inode`, :class:`Dentry` — one mounted tree; a dentry's children
  are the directory's entries (the tree *is* the dcache: there is no disk behind it);
* :class:`VfsMount` — a superblock mounted at a dentry of a parent mount;
* :class:`File` (``struct file``, an open file description: position, flags, operations) and
  :class:`FilesStruct` (``task->files``: the per-task fd table, copied at fork);
* :class:`MntNamespace` — the mount tree, the path walk and the system calls: open, read,
  write, close, mkdir, rmdir, mount, umount.

Extension points, all typed: a filesystem type (:class:`FileSystemType`, registered by a plugin
in ``memsim_register_filesystems``), directory operations (:class:`InodeOperations`: create,
mkdir, rmdir, unlink, setattr, permission, lookup) and file operations
(:class:`FileOperations`: open, read, write, release).  Each fails by raising
:class:`VfsError` with the kernel's errno name; the system calls below return or raise exactly
what the kernel does (the probes on a live 6.18 kernel are recorded in tests/core/test_vfs.py).
Generated files (procfs, sysfs, a plugin's cgroupfs) are built with :mod:`memsim.pseudofs`.

Every task runs as root (uid 0, every capability) with umask 022 and ``/`` as its working
directory: a relative path is looked up from ``/``.  There are no symbolic links.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, Callable, Dict, Generator, Iterable, Iterator, List, Optional, Tuple

from memsim.dcache import Dcache, InodesStat, dget, dput
from memsim.sched import run_sync

__all__ = [
    "VfsError", "FileSystemType", "FsContext", "FileOperations", "InodeOperations",
    "Inode", "Dentry", "SuperBlock", "VfsMount", "Path", "File", "FilesStruct", "MntNamespace",
    "mode_string", "parse_mount_options",
    "S_IFMT", "S_IFDIR", "S_IFREG", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL",
    "O_TRUNC", "O_APPEND", "O_DIRECTORY", "FMODE_READ", "FMODE_WRITE", "MAY_EXEC", "MAY_WRITE",
    "MAY_READ", "NAME_MAX", "PATH_MAX", "FS_REQUIRES_DEV", "SuperOperations", "iput", "ihold",
    "vfs_write", "vfs_write_blocking", "check_write", "vfs_pread", "vfs_pwrite", "vfs_fsync", "vfs_fallocate", "vfs_fadvise", "do_ftruncate",
    "i_size_write", "simple_unlink", "get_file", "evict", "generic_fadvise", "BackingDevInfo",
    "FileRaState", "FMODE_RANDOM", "VM_READAHEAD_PAGES", "FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE", "FALLOC_FL_COLLAPSE_RANGE",
    "FALLOC_FL_ZERO_RANGE", "FALLOC_FL_INSERT_RANGE", "FALLOC_FL_UNSHARE_RANGE",
    "POSIX_FADV_NORMAL", "POSIX_FADV_RANDOM", "POSIX_FADV_SEQUENTIAL", "POSIX_FADV_WILLNEED",
    "POSIX_FADV_DONTNEED", "POSIX_FADV_NOREUSE", "I_FREEING", "I_CLEAR",
]

# include/uapi/linux/stat.h
S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
# include/uapi/asm-generic/fcntl.h (x86-64)
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_DIRECTORY = 0o200000
# include/linux/fs.h
FMODE_READ = 0x1
FMODE_WRITE = 0x2
#: FMODE_RANDOM (include/linux/fs.h): POSIX_FADV_RANDOM was given, a read miss reads no more
#: than it needs
FMODE_RANDOM = 0x1000
#: VM_READAHEAD_PAGES (include/linux/mm.h): SZ_128K / PAGE_SIZE, a block device's default
#: read_ahead_kb (blk_apply_bdi_limits: io_opt * 2 when larger)
VM_READAHEAD_PAGES = 32
MAY_EXEC = 0x1
MAY_WRITE = 0x2
MAY_READ = 0x4
FS_REQUIRES_DEV = 1
SB_RDONLY = 1
MNT_READONLY = 0x40
# include/uapi/linux/falloc.h
FALLOC_FL_ALLOCATE_RANGE = 0x00
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_UNSHARE_RANGE = 0x40
#: FALLOC_FL_MODE_MASK (include/linux/falloc.h): the modes, of which at most one is set
FALLOC_FL_MODE_MASK = (FALLOC_FL_ALLOCATE_RANGE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
                       FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE)
# include/uapi/linux/fadvise.h (x86-64)
POSIX_FADV_NORMAL = 0
POSIX_FADV_RANDOM = 1
POSIX_FADV_SEQUENTIAL = 2
POSIX_FADV_WILLNEED = 3
POSIX_FADV_DONTNEED = 4
POSIX_FADV_NOREUSE = 5
# inode->i_state bits (include/linux/fs.h)
I_FREEING = 1 << 5
I_CLEAR = 1 << 6
#: MAX_LFS_FILESIZE on 64-bit: the largest file size (s_maxbytes of most filesystems)
MAX_LFS_FILESIZE = (1 << 63) - 1
#: MAX_RW_COUNT: one read or write moves at most this much (INT_MAX & PAGE_MASK)
MAX_RW_COUNT = 0x7ffff000
# include/uapi/linux/limits.h
NAME_MAX = 255
PATH_MAX = 4096
#: current->fs->umask of every task
DEFAULT_UMASK = 0o022
#: The first fd a task's open returns: 0, 1 and 2 are the standard streams every process starts
#: with; memsim does not model them, but keeps their numbers taken.
FIRST_FD = 3

# the type of the last component (enum last_type in fs/namei.c)
LAST_NORM, LAST_ROOT, LAST_DOT, LAST_DOTDOT = range(4)


class VfsError(Exception):
    """A file system call failed with the kernel's errno (its name: ``ENOENT``, ``EINVAL``...).

    ``detail`` says what failed, for messages; file and directory operations of a filesystem
    raise it to fail with that errno."""

    def __init__(self, errno: str, detail: str = ""):
        super().__init__(f"{errno}: {detail}" if detail else errno)
        self.errno = errno
        self.detail = detail


def mode_string(mode: int) -> str:
    """The mode as ``ls -l`` prints it: ``drwxr-xr-x``, ``-rw-r--r--``."""
    kind = "d" if mode & S_IFMT == S_IFDIR else "-"
    out = [kind]
    for shift, special, letter in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        bits = (mode >> shift) & 7
        x = "x" if bits & 1 else "-"
        if mode & special:
            x = letter if bits & 1 else letter.upper()
        out += ["r" if bits & 4 else "-", "w" if bits & 2 else "-", x]
    return "".join(out)


def parse_mount_options(data: str) -> Tuple[Tuple[str, Optional[str]], ...]:
    """generic_parse_monolithic(): ``"size=1G,mode=755,ro"`` -> ``(("size", "1G"), ...)``."""
    out = []
    for part in (data or "").split(","):
        if not part:
            continue
        key, eq, value = part.partition("=")
        out.append((key, value if eq else None))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# Operations tables
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileOperations:
    """``struct file_operations``: what the open files of an inode do.

    Byte streams (pseudofs files):

    * ``read(file, count) -> bytes`` (``->read``) returns at most ``count`` bytes from
      ``file.f_pos`` and advances it (``b""`` at the end);
    * ``write(file, data) -> int`` (``->write``) returns how many bytes it took (a short count is
      a partial write) and advances ``file.f_pos``.  A write that sleeps (a pseudo file whose
      store calls cond_resched() or takes a mutex) returns instead a generator that yields
      what task bodies yield (:mod:`memsim.sched`) and returns that count: a task runs it with
      :func:`vfs_write_blocking`, any other caller with :func:`vfs_write`.

    Positional I/O (regular files with a page cache; the VFS moves ``f_pos``, not the op):

    * ``read_iter(file, pos, count, buf) -> int`` (``->read_iter``, e.g.
      generic_file_read_iter()/filemap_read()): reads at most ``count`` bytes at ``pos``
      (stopping at i_size), appends them to the bytearray ``buf`` — or, when ``buf`` is None,
      only brings them into the page cache without building bytes (a 4 GiB read) — and returns
      how many it read;
    * ``write_iter(file, pos, data) -> int`` (``->write_iter``, generic_file_write_iter()):
      writes ``data`` at ``pos``, growing i_size (:func:`i_size_write`), returns the bytes taken.

    ``read``/``write`` win over ``read_iter``/``write_iter`` when both are set, as in
    vfs_read()/vfs_write().  Without any, a read or write fails with EINVAL (no
    FMODE_CAN_READ/FMODE_CAN_WRITE).

    The rest, each optional:

    * ``open(inode, file)`` / ``release(inode, file)``: at open and at the last fput();
    * ``mmap(file, vma)`` (``->mmap``, call_mmap() from mmap_region()): the new VMA already has
      ``vm_file`` = ``file.f_mapping``; the op may set its vm_ops; missing: ENODEV;
    * ``fsync(file, start, end, datasync)`` (``->fsync``, vfs_fsync_range()): write back and
      wait on [start, end]; missing: EINVAL;
    * ``fallocate(file, mode, offset, length)`` (``->fallocate``, vfs_fallocate() after its
      checks): FALLOC_FL_* ``mode``; missing: EOPNOTSUPP;
    * ``fadvise(file, offset, length, advice)`` (``->fadvise``, vfs_fadvise()); missing:
      generic_fadvise(), which checks the advice and, for POSIX_FADV_DONTNEED, drops the clean
      unmapped pages of the range (invalidate_mapping_pages()) of ``f_mapping``;
    * ``readahead(file, index, nr_to_read)``: force_page_cache_readahead() into the file's page
      cache (``a_ops->readahead`` of the pages ``[index, index + nr_to_read)``, bounded by the
      window's maximum) -- what generic_fadvise() does for POSIX_FADV_WILLNEED; missing: nothing
      is read ahead;
    * ``get_unmapped_area(file, length) -> (length, align)``: what mmap of the file needs of
      the mapping: its length rounded (ksys_mmap_pgoff()'s ALIGN(len, huge_page_size) for a
      hugetlbfs file) and the alignment of its address (hugetlb_get_unmapped_area(); with
      MAP_FIXED an address not so aligned is EINVAL); missing: the length as given, page
      alignment;
    * ``iterate_shared(inode) -> names`` (``->iterate_shared``, readdir: the names dir_emit()
      gives) of a directory whose entries are not all in the dentry cache (a disk filesystem
      whose dentries are pruned); listing the directory looks each name up.  Missing: the
      cached entries are the directory's.

    Any of them raises :class:`VfsError` to fail with that errno.
    """

    read: Optional[Callable[["File", int], bytes]] = None
    write: Optional[Callable[["File", bytes], int]] = None
    open: Optional[Callable[["Inode", "File"], None]] = None
    release: Optional[Callable[["Inode", "File"], None]] = None
    read_iter: Optional[Callable[["File", int, int, Optional[bytearray]], int]] = None
    write_iter: Optional[Callable[["File", int, bytes], int]] = None
    mmap: Optional[Callable[["File", Any], None]] = None
    fsync: Optional[Callable[["File", int, int, bool], None]] = None
    fallocate: Optional[Callable[["File", int, int, int], None]] = None
    fadvise: Optional[Callable[["File", int, int, int], None]] = None
    readahead: Optional[Callable[["File", int, int], None]] = None
    iterate_shared: Optional[Callable[["Inode"], Iterable[str]]] = None
    get_unmapped_area: Optional[Callable[["File", int], Tuple[int, int]]] = None


@dataclass(frozen=True)
class SuperOperations:
    """``struct super_operations``: how a filesystem allocates and frees its inodes.

    * ``alloc_inode(sb) -> Inode`` (``->alloc_inode``; e.g. shmem_alloc_inode() from
      shmem_inode_cache): a new :class:`Inode` of ``sb`` (``Inode(sb)``; the filesystem may set
      ``i_mapping``, ``i_private``...); :meth:`SuperBlock.new_inode` then fills in the number,
      mode and operations (inode_init_always()).  Missing: a plain :class:`Inode`.
    * ``destroy_inode(inode)`` (``->destroy_inode``) and ``free_inode(inode)`` (``->free_inode``,
      the RCU callback, run at once here): give the inode's memory back, in that order, at the
      end of evict().
    * ``evict_inode(inode)`` (``->evict_inode``; shmem_evict_inode(), ext4_evict_inode()): drop
      the inode's pages (truncate_inode_pages_final()) and its blocks when the last reference
      goes and the inode is to be dropped; missing: clear_inode() only.
    * ``drop_inode(inode) -> bool`` (``->drop_inode``): whether iput_final() evicts an inode
      with no references left; missing: generic_drop_inode(), true when i_nlink is 0.  An inode
      kept stays on ``sb.s_inodes`` with i_count 0 (the inode LRU and its shrinker are the
      filesystem's).
    """

    alloc_inode: Optional[Callable[["SuperBlock"], "Inode"]] = None
    destroy_inode: Optional[Callable[["Inode"], None]] = None
    free_inode: Optional[Callable[["Inode"], None]] = None
    evict_inode: Optional[Callable[["Inode"], None]] = None
    drop_inode: Optional[Callable[["Inode"], bool]] = None


@dataclass(frozen=True)
class InodeOperations:
    """``struct inode_operations`` of a directory (and ``permission``/``setattr`` of any inode).

    * ``lookup(dir, name) -> Optional[Inode]``: an entry that is not in the tree yet (a
      generated one); None for no such entry, or raise (procfs raises ENOENT).  Without it a
      missing name is simply absent.
    * ``create(dir, name, mode) -> Dentry``: ``open(O_CREAT)`` of a new regular file; the
      filesystem adds the child with :meth:`SuperBlock.d_alloc` and returns it (missing: EACCES).
    * ``mkdir(dir, name, mode) -> Dentry``: likewise for a directory (missing: EPERM).
    * ``rmdir(dir, victim)`` / ``unlink(dir, victim)``: remove the child (missing: EPERM); the
      filesystem refuses a non-empty directory with ENOTEMPTY.
    * ``setattr(dentry, size)`` (``->setattr`` with ATTR_SIZE, from do_truncate()): truncate
      (O_TRUNC, ftruncate) a regular file to ``size``: the filesystem sets i_size
      (:func:`i_size_write`) and drops the pages beyond it (truncate_pagecache()); missing:
      simple_setattr(), which only sets i_size (O_TRUNC of a file without setattr does nothing).
    * ``permission(inode, mask)``: raise EACCES if the caller (root) may not ``MAY_READ`` /
      ``MAY_WRITE`` / ``MAY_EXEC``; missing: generic_permission, which lets root do anything.

    ``dir`` and ``victim`` are :class:`Dentry` objects (the directory and the entry).
    """

    lookup: Optional[Callable[["Dentry", str], Optional["Inode"]]] = None
    create: Optional[Callable[["Dentry", str, int], "Dentry"]] = None
    mkdir: Optional[Callable[["Dentry", str, int], "Dentry"]] = None
    rmdir: Optional[Callable[["Dentry", "Dentry"], None]] = None
    unlink: Optional[Callable[["Dentry", "Dentry"], None]] = None
    setattr: Optional[Callable[["Dentry", int], None]] = None
    permission: Optional[Callable[["Inode", int], None]] = None


_NO_IOPS = InodeOperations()
_NO_FOPS = FileOperations()
_NO_SOPS = SuperOperations()


@dataclass(frozen=True)
class FsContext:
    """``struct fs_context``: what a ``mount`` asks of a filesystem type.

    ``options`` are the comma-separated mount options other than ``ro``/``rw`` (which the VFS
    handles), in order; ``machine`` is the machine being mounted on (the kernel's globals: the
    cgroup roots, the hstates, ...).  ``mount(fc)`` raises VfsError("EINVAL") for an option it
    does not know, as the kernel's parse_param does."""

    fs_type: "FileSystemType"
    source: str
    options: Tuple[Tuple[str, Optional[str]], ...]
    readonly: bool
    machine: Any


@dataclass(frozen=True)
class FileSystemType:
    """``struct file_system_type``: a filesystem ``mount -t NAME`` creates.

    ``mount(fc) -> SuperBlock`` returns a new superblock (tmpfs, hugetlbfs) or a shared one
    (procfs, sysfs, cgroup2); it raises :class:`VfsError` to fail the mount (EINVAL for a bad
    option).  ``fs_flags`` may hold ``FS_REQUIRES_DEV`` (memsim has no block devices: such a
    type can be declared but its mount must find its own backing).  ``doc`` is one line for
    docs/workloads.md, ``plugin`` the plugin that registered it.  ``kill_sb(sb)`` (optional:
    ``->kill_sb`` from deactivate_locked_super()) runs when the last mount of a superblock goes
    (tmpfs's kill_litter_super() frees its files).  ``file_setup(machine, name, size,
    acctflag, page_size_log) -> File`` (optional; hugetlbfs's hugetlb_file_setup()) makes an
    unlinked file on the type's internal mount, open O_RDWR, for a caller in another plugin
    (memfd_create(MFD_HUGETLB)), which finds the type by name (get_fs_type)."""

    name: str
    doc: str
    mount: Callable[[FsContext], "SuperBlock"]
    plugin: str = "core"
    fs_flags: int = 0
    kill_sb: Optional[Callable[["SuperBlock"], None]] = None
    file_setup: Optional[Callable[[Any, str, int, int, int], "File"]] = None


# ----------------------------------------------------------------------------------------------
# Objects of a mounted tree
# ----------------------------------------------------------------------------------------------

class Inode:
    """``struct inode``: the mode, the operations, the size, the references and the
    filesystem's private data.

    ``i_count`` counts the references (a dentry's, each open file's, each VMA's that maps it:
    :func:`ihold`/:func:`iput`); ``i_nlink`` the names (1 from :meth:`SuperBlock.new_inode`; a
    filesystem's unlink drops it with :meth:`drop_nlink`).  The last :func:`iput` of an inode
    without names evicts it (iput_final()).  ``i_mapping`` is the page cache of a regular file
    (an :class:`memsim.mm.AddressSpace` whose ``host`` is this inode), for the filesystems that
    have one; ``i_size`` is the file size (:func:`i_size_write` keeps the mapping's in step);
    ``i_dentry`` its dentry on a superblock with a dentry cache (the d_alias a mapping of the
    file holds, as the kernel's VMA holds its file and so its dentry)."""

    __slots__ = ("i_ino", "i_mode", "i_sb", "i_op", "i_fop", "i_private", "i_size", "i_mapping",
                 "i_count", "i_nlink", "i_state", "i_dentry", "__weakref__")

    def __init__(self, sb: "SuperBlock", ino: int = 0, mode: int = 0, i_op: InodeOperations = _NO_IOPS,
                 i_fop: FileOperations = _NO_FOPS, private: Any = None):
        self.i_sb = sb
        self.i_ino = ino
        self.i_mode = mode
        self.i_op = i_op
        self.i_fop = i_fop
        self.i_private = private
        self.i_size = 0
        self.i_mapping = None
        self.i_count = 1
        self.i_nlink = 1
        self.i_state = 0
        self.i_dentry: Optional["Dentry"] = None    # its dentry (d_alias) on a dcache superblock

    @property
    def is_dir(self) -> bool:
        """S_ISDIR()."""
        return self.i_mode & S_IFMT == S_IFDIR

    @property
    def is_reg(self) -> bool:
        """S_ISREG()."""
        return self.i_mode & S_IFMT == S_IFREG

    def drop_nlink(self) -> None:
        """drop_nlink(): one name fewer (a filesystem's unlink/rmdir)."""
        if self.i_nlink == 0:
            raise AssertionError(f"{self!r}: drop_nlink() of an inode without names")
        self.i_nlink -= 1

    def clear_nlink(self) -> None:
        """clear_nlink(): no name left (simple_rmdir() of a directory)."""
        self.i_nlink = 0

    def inc_nlink(self) -> None:
        """inc_nlink()."""
        self.i_nlink += 1

    def __repr__(self) -> str:
        return f"<Inode {self.i_sb.s_type.name}:{self.i_ino} {mode_string(self.i_mode)}>"


def ihold(inode: Inode) -> Inode:
    """ihold(): one more reference to an inode that has one."""
    if inode.i_count <= 0:
        raise AssertionError(f"ihold() of {inode!r} with no reference")
    inode.i_count += 1
    return inode


def iput(inode: Inode) -> None:
    """iput(): drop a reference; the last one runs iput_final()."""
    if inode.i_count <= 0:
        raise AssertionError(f"iput() of {inode!r} with no reference")
    inode.i_count -= 1
    if inode.i_count == 0:
        iput_final(inode)


def iput_final(inode: Inode) -> None:
    """iput_final(): ``->drop_inode`` (generic_drop_inode(): no name left) decides whether the
    unused inode is evicted now or kept cached on its superblock."""
    sop = inode.i_sb.s_op
    drop = sop.drop_inode(inode) if sop.drop_inode is not None else inode.i_nlink == 0
    if drop:
        evict(inode)


def evict(inode: Inode) -> None:
    """evict(): I_FREEING, off ``sb.s_inodes`` (inode_sb_list_del()), ``->evict_inode`` (or
    clear_inode()), then destroy_inode(): ``->destroy_inode`` and ``->free_inode``."""
    sb = inode.i_sb
    inode.i_state |= I_FREEING
    sb.s_inodes.pop(id(inode), None)
    sop = sb.s_op
    if sop.evict_inode is not None:
        sop.evict_inode(inode)
    inode.i_state |= I_CLEAR                            # clear_inode()
    if sop.destroy_inode is not None:
        sop.destroy_inode(inode)
    if sop.free_inode is not None:
        sop.free_inode(inode)


def i_size_write(inode: Inode, size: int) -> None:
    """i_size_write(): the file size, in the inode and in its page cache's copy (the fault
    path's EOF test reads ``i_mapping.i_size``)."""
    inode.i_size = size
    if inode.i_mapping is not None:
        inode.i_mapping.i_size = size


class Dentry:
    """``struct dentry``: a name in a directory, its inode and, for a directory, its cached
    entries (``d_subdirs``: the dentries hashed under it).  On a superblock with a dentry LRU
    (memsim.dcache) it also has references (``d_count``), ``d_flags`` (DCACHE_LRU_LIST,
    DCACHE_REFERENCED), the address of its slab object and that object's node."""

    __slots__ = ("d_name", "d_parent", "d_inode", "d_subdirs", "d_sb", "d_mounted", "d_count",
                 "d_flags", "d_addr", "d_nid")

    def __init__(self, sb: "SuperBlock", name: str, parent: Optional["Dentry"], inode: Inode):
        self.d_sb = sb
        self.d_name = name
        self.d_parent = parent if parent is not None else self
        self.d_inode = inode
        self.d_subdirs: Dict[str, "Dentry"] = {}
        self.d_mounted = 0            # mounts on this dentry (d_mountpoint())
        self.d_count = 1              # d_lockref.count: the creator's reference
        self.d_flags = 0
        self.d_addr = 0
        self.d_nid = 0

    @property
    def is_root(self) -> bool:
        """IS_ROOT(): the root of its superblock."""
        return self.d_parent is self

    def relpath(self) -> str:
        """The path from the superblock's root, without a leading slash."""
        parts = []
        d = self
        while not d.is_root:
            parts.append(d.d_name)
            d = d.d_parent
        return "/".join(reversed(parts))

    def __repr__(self) -> str:
        return f"<Dentry {self.d_sb.s_type.name}:/{self.relpath()}>"


class SuperBlock:
    """``struct super_block``: one filesystem instance; ``s_root`` is its root directory.

    Filesystems build their trees with :meth:`new_inode` and :meth:`d_alloc`, and take entries
    out with :meth:`d_delete`.  ``s_op`` are its :class:`SuperOperations`; ``s_inodes`` every
    inode not yet evicted (in use or cached), in creation order (:meth:`inodes` lists them);
    ``s_dev`` its device number (``MKDEV(major, minor)`` as the kernel encodes it in
    ``i_sb->s_dev``: ``major << 20 | minor``).

    ``dcache``: the machine's :class:`memsim.dcache.Dcache` (``machine.vfs.dcache``) for a
    filesystem whose unused dentries are cached on the superblock's dentry LRU
    (``s_dentry_lru``, node -> dentries oldest first) and pruned by its shrinker, as a disk
    filesystem's are; None (the default): its dentries pin themselves and their inodes, as
    ramfs's and tmpfs's do."""

    def __init__(self, fs_type: FileSystemType, root_mode: int, root_op: InodeOperations = _NO_IOPS,
                 root_fop: FileOperations = _NO_FOPS, fs_info: Any = None,
                 s_op: SuperOperations = _NO_SOPS, s_dev: int = 0, dcache: Optional[Dcache] = None):
        self.s_type = fs_type
        self.s_fs_info = fs_info
        self.s_flags = 0
        self.s_op = s_op
        self.s_dev = s_dev
        #: the disk's readahead limits (super_setup_bdi / the block device's bdi); None: none
        self.s_bdi: Optional[BackingDevInfo] = None
        self.s_dcache = dcache
        self.s_dentry_lru: Dict[int, Any] = {}
        self.s_in_lookup: Dict[Tuple[int, str], "Dentry"] = {}     # in_lookup_hashtable
        self.s_inodes: Dict[int, Inode] = {}
        self._next_ino = 1
        root = self.new_inode(S_IFDIR | (root_mode & 0o7777), root_op, root_fop)
        self.s_root = Dentry(self, "", None, root)

    def new_inode(self, mode: int, i_op: InodeOperations = _NO_IOPS, i_fop: FileOperations = _NO_FOPS,
                  private: Any = None) -> Inode:
        """new_inode(): ``->alloc_inode`` (or a plain :class:`Inode`), inode_init_always() (one
        reference, one name, the next inode number of this superblock) and inode_sb_list_add().
        The reference is the caller's: :meth:`d_alloc` hands it to the new dentry."""
        alloc = self.s_op.alloc_inode
        inode = alloc(self) if alloc is not None else Inode(self)
        if not isinstance(inode, Inode):
            raise TypeError(f"{self.s_type.name}: alloc_inode() returned {type(inode).__name__}, "
                            "not an Inode")
        inode.i_ino = self._next_ino
        inode.i_mode = mode
        inode.i_op = i_op
        inode.i_fop = i_fop
        if private is not None:
            inode.i_private = private
        inode.i_count = 1
        inode.i_nlink = 1
        self._next_ino += 1
        self.s_inodes[id(inode)] = inode
        return inode

    def inodes(self) -> List[Inode]:
        """``s_inodes`` as a list, newest first (the order list_add() gives the kernel's list,
        which drop_pagecache_sb() and sync walk)."""
        return list(reversed(self.s_inodes.values()))

    def d_alloc(self, parent: Dentry, name: str, inode: Inode) -> Dentry:
        """d_alloc() + d_add(): a new entry ``name`` of directory ``parent``; it takes over the
        caller's reference to ``inode`` (d_instantiate()).  On a superblock with a dentry LRU
        the dentry is a ``dentry`` slab object, holds a reference to its parent, and comes with
        one reference, the caller's (the VFS drops it when the system call ends); the dentry
        the path walk allocated for the name before asking the filesystem
        (:meth:`d_alloc_parallel`) is the one instantiated."""
        if name in parent.d_subdirs:
            raise VfsError("EEXIST", f"{name!r} exists")
        if self.s_dcache is not None:
            dentry = self.s_in_lookup.pop((id(parent), name), None)
            if dentry is not None:                      # lookup_open(): the walk's dentry
                dget(dentry)
                dentry.d_inode = inode
            else:
                dentry = Dentry(self, name, parent, inode)
                self.s_dcache.d_alloc_object(dentry)
                dget(parent)
            inode.i_dentry = dentry                     # d_instantiate(): the inode's alias
        else:
            dentry = Dentry(self, name, parent, inode)
        parent.d_subdirs[name] = dentry
        return dentry

    def d_alloc_parallel(self, parent: Dentry, name: str) -> Dentry:
        """d_alloc_parallel() (lookup_slow(), lookup_open()) on a superblock with a dentry LRU:
        the dentry of a name not in the cache, allocated before the filesystem's ``->lookup``
        or ``->create`` runs, with one reference (the walk's) and no inode yet; it is "in
        lookup" (not hashed) until :meth:`d_alloc` instantiates it.  One the system call does
        not instantiate dies at its end (memsim keeps no negative dentries)."""
        key = (id(parent), name)
        dentry = self.s_in_lookup.get(key)
        if dentry is not None:
            return dget(dentry)
        dentry = Dentry(self, name, parent, None)
        self.s_dcache.d_alloc_object(dentry)
        dget(parent)
        self.s_in_lookup[key] = dentry
        return dentry

    def d_delete(self, dentry: Dentry) -> None:
        """d_delete() + dput(): take the entry (and what is below it) out of its directory and
        drop the dentry's reference to its inode (iput(): an unlinked inode goes now unless a
        file or a mapping still holds it).  On a superblock with a dentry LRU the dentry is
        unhashed (__d_drop()) and dies with its last reference (dentry_kill(), which drops the
        inode's); the caller holds one."""
        if dentry.is_root:
            raise VfsError("EBUSY", "the root of a filesystem")
        parent = dentry.d_parent
        if parent.d_subdirs.get(dentry.d_name) is dentry:
            del parent.d_subdirs[dentry.d_name]
            if self.s_dcache is not None:
                dget(dentry)
                dput(dentry)                # killed now unless someone still holds it
            elif dentry.d_inode.i_count > 0:
                iput(dentry.d_inode)

    def __repr__(self) -> str:
        return f"<SuperBlock {self.s_type.name}>"


class VfsMount:
    """``struct mount``/``struct vfsmount``: ``mnt_sb`` mounted at ``mnt_mountpoint`` of
    ``mnt_parent`` (the namespace root has neither)."""

    def __init__(self, sb: SuperBlock, devname: str, readonly: bool, mnt_id: int,
                 options: Tuple[Tuple[str, Optional[str]], ...] = ()):
        self.mnt_sb = sb
        self.mnt_root = sb.s_root
        self.mnt_parent: Optional[VfsMount] = None
        self.mnt_mountpoint: Optional[Dentry] = None
        self.mnt_flags = MNT_READONLY if readonly else 0
        self.mnt_devname = devname
        self.mnt_id = mnt_id
        self.mnt_options = options
        self.mnt_count = 0              # open files on this mount (a busy mount cannot go)
        self.mnt_mounts: List[VfsMount] = []

    @property
    def readonly(self) -> bool:
        return bool(self.mnt_flags & MNT_READONLY or self.mnt_sb.s_flags & SB_RDONLY)

    def __repr__(self) -> str:
        return f"<VfsMount {self.mnt_sb.s_type.name} #{self.mnt_id}>"


@dataclass(frozen=True)
class Path:
    """``struct path``: a dentry as seen through a mount."""

    mnt: VfsMount
    dentry: Dentry


class BackingDevInfo:
    """``struct backing_dev_info`` of a block device, as far as readahead needs it: ``ra_pages``
    (the window's maximum, /sys/class/bdi/<maj:min>/read_ahead_kb / 4, and the same number as
    /sys/block/<disk>/queue/read_ahead_kb) and ``io_pages`` (the largest I/O in pages:
    queue/max_sectors_kb / 4, which a read larger than the window may use).  A superblock on a
    disk has one (``SuperBlock.s_bdi``); filesystems without a disk have none (tmpfs's
    noop_backing_dev_info: fadvise's readahead advice is ignored there)."""

    __slots__ = ("name", "ra_pages", "io_pages")

    def __init__(self, name: str, ra_pages: int = VM_READAHEAD_PAGES, io_pages: int = VM_READAHEAD_PAGES):
        self.name = name
        self.ra_pages = ra_pages
        self.io_pages = io_pages

    def __repr__(self) -> str:
        return f"<BackingDevInfo {self.name} ra_pages={self.ra_pages} io_pages={self.io_pages}>"


class FileRaState:
    """``struct file_ra_state`` (include/linux/fs.h): a file's readahead window, the last one
    submitted: ``start`` (its first page), ``size`` (pages), ``async_size`` (the pages from the
    PG_readahead marker to its end), ``ra_pages`` (this file's maximum: the bdi's at open,
    doubled by POSIX_FADV_SEQUENTIAL), ``order`` (v6.16+: the folio order the window ramps
    to), ``mmap_miss`` (unused: the fault path does no readahead in memsim) and ``prev_pos``
    (where the last buffered read ended, -1: none).  A filesystem's read_iter reads and updates
    it."""

    __slots__ = ("start", "size", "async_size", "ra_pages", "order", "mmap_miss", "prev_pos")

    def __init__(self, ra_pages: int = 0):
        self.start = 0
        self.size = 0
        self.async_size = 0
        self.ra_pages = ra_pages
        self.order = 0
        self.mmap_miss = 0
        self.prev_pos = -1

    def __repr__(self) -> str:
        return (f"<FileRaState start={self.start} size={self.size} async_size={self.async_size} "
                f"ra_pages={self.ra_pages} prev_pos={self.prev_pos}>")


class File:
    """``struct file``: an open file description (shared by the fds that dup or inherit it).

    ``f_flags`` are the open flags (O_*), ``f_mode`` FMODE_READ/FMODE_WRITE from the access
    mode (and FMODE_RANDOM), ``f_pos`` the position read/write use and advance, ``f_ra`` its
    readahead state (:class:`FileRaState`, file_ra_state_init() from the superblock's
    ``s_bdi``), ``f_mapping`` the inode's page cache
    (``i_mapping``), ``f_count`` the references (fds, the mappings made from it).  It
    holds a reference to its inode (an unlinked file lives while it is open)."""

    def __init__(self, path: Path, flags: int):
        self.f_path = path
        dget(path.dentry)
        self.f_inode = ihold(path.dentry.d_inode)
        self.f_mapping = self.f_inode.i_mapping
        self.f_op = self.f_inode.i_fop
        self.f_flags = flags
        acc = flags & O_ACCMODE
        self.f_mode = (FMODE_READ if acc in (O_RDONLY, O_RDWR) else 0) | \
                      (FMODE_WRITE if acc in (O_WRONLY, O_RDWR) else 0)
        self.f_pos = 0
        #: file_ra_state_init() (do_dentry_open): the window's maximum from the disk's bdi
        bdi = self.f_inode.i_sb.s_bdi
        self.f_ra = FileRaState(bdi.ra_pages if bdi is not None else 0)
        self.f_count = 1
        self.private_data: Any = None

    def __repr__(self) -> str:
        return f"<File {self.f_path.dentry!r} pos={self.f_pos}>"


class FilesStruct:
    """``struct files_struct`` (``task->files``): the fd table of a task.

    fork() gives the child a copy (:meth:`dup_fd`: the same open file descriptions, one more
    reference each); threads created with CLONE_FILES share one table (:meth:`get`); exit puts
    the task's reference (:meth:`put`) and the last one closes every fd."""

    def __init__(self):
        self.fdt: Dict[int, File] = {}
        self.count = 1

    def get(self) -> "FilesStruct":
        """A reference for a thread sharing this table (CLONE_FILES)."""
        self.count += 1
        return self

    def alloc_fd(self) -> int:
        """get_unused_fd_flags(): the lowest free fd."""
        fd = FIRST_FD
        while fd in self.fdt:
            fd += 1
        return fd

    def fd_install(self, fd: int, file: File) -> None:
        self.fdt[fd] = file

    def fget(self, fd: int) -> File:
        """fget(): the open file of ``fd``; EBADF if there is none."""
        file = self.fdt.get(fd)
        if file is None:
            raise VfsError("EBADF", f"fd {fd} is not open")
        return file

    def close_fd(self, fd: int) -> None:
        """close_fd() + fput()."""
        file = self.fdt.pop(fd, None)
        if file is None:
            raise VfsError("EBADF", f"fd {fd} is not open")
        fput(file)

    def read(self, fd: int, count: int) -> bytes:
        """ksys_read()."""
        return vfs_read(self.fget(fd), count)

    def write(self, fd: int, data: bytes) -> int:
        """ksys_write() outside the scheduler (a write that would sleep raises
        :class:`memsim.sched.WouldBlock`: :func:`vfs_write`)."""
        return vfs_write(self.fget(fd), data)

    def write_blocking(self, fd: int, data: bytes) -> Generator[Any, None, int]:
        """ksys_write() from a task: ``n = yield from files.write_blocking(fd, data)``; a write
        that sleeps yields to the scheduler (:func:`vfs_write_blocking`)."""
        return (yield from vfs_write_blocking(self.fget(fd), data))

    def pread(self, fd: int, count: int, pos: int) -> bytes:
        """ksys_pread64(): EINVAL for a negative position before the fd is looked at."""
        if pos < 0:
            raise VfsError("EINVAL", "negative position")
        return vfs_pread(self.fget(fd), count, pos)

    def pwrite(self, fd: int, data: bytes, pos: int) -> int:
        """ksys_pwrite64(): EINVAL for a negative position before the fd is looked at."""
        if pos < 0:
            raise VfsError("EINVAL", "negative position")
        return vfs_pwrite(self.fget(fd), data, pos)

    def ftruncate(self, fd: int, length: int) -> None:
        """do_sys_ftruncate(): EINVAL for a negative length before EBADF."""
        if length < 0:
            raise VfsError("EINVAL", "negative length")
        do_ftruncate(self.fget(fd), length)

    def fsync(self, fd: int, datasync: bool = False) -> None:
        """do_fsync(): vfs_fsync() of the whole file."""
        vfs_fsync(self.fget(fd), 0, MAX_LFS_FILESIZE, datasync)

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        """ksys_fallocate()."""
        vfs_fallocate(self.fget(fd), mode, offset, length)

    def dup_fd(self) -> "FilesStruct":
        """dup_fd(): the child's copy at fork."""
        child = FilesStruct()
        for fd, file in self.fdt.items():
            file.f_count += 1
            child.fdt[fd] = file
        return child

    def put(self) -> None:
        """put_files_struct(): drop a reference; the last one closes every open file."""
        self.count -= 1
        if self.count == 0:
            for fd in sorted(self.fdt):
                fput(self.fdt.pop(fd))

    def __len__(self) -> int:
        return len(self.fdt)


def get_file(file: File) -> File:
    """get_file(): one more reference to an open file."""
    file.f_count += 1
    return file


def fput(file: File) -> None:
    """fput() -> __fput(): the last reference releases the file (f_op->release), its mount, its
    inode (iput()) and its dentry (dput())."""
    file.f_count -= 1
    if file.f_count == 0:
        if file.f_op.release is not None:
            file.f_op.release(file.f_inode, file)
        file.f_path.mnt.mnt_count -= 1
        iput(file.f_inode)
        dput(file.f_path.dentry)


def _rw_verify_area(pos: int, count: int) -> int:
    """rw_verify_area(): EINVAL for a negative position or a range past the largest offset;
    the count clamped to MAX_RW_COUNT."""
    if pos < 0 or pos + count > MAX_LFS_FILESIZE:
        raise VfsError("EINVAL", f"position {pos} is out of range")
    return min(count, MAX_RW_COUNT)


def _check_read(file: File, count: int) -> None:
    if not file.f_mode & FMODE_READ:
        raise VfsError("EBADF", "not open for reading")
    if file.f_inode.is_dir:
        raise VfsError("EISDIR", "is a directory")           # generic_read_dir()
    if file.f_op.read is None and file.f_op.read_iter is None:
        raise VfsError("EINVAL", "the file cannot be read")  # no FMODE_CAN_READ
    if count < 0:
        raise VfsError("EINVAL", "negative count")


def check_write(file: File) -> None:
    """vfs_write()'s checks before it looks at the data: EBADF if not open for writing,
    EINVAL without ``->write`` or ``->write_iter``."""
    if not file.f_mode & FMODE_WRITE:
        raise VfsError("EBADF", "not open for writing")
    if file.f_op.write is None and file.f_op.write_iter is None:
        raise VfsError("EINVAL", "the file cannot be written")


def vfs_read(file: File, count: int) -> bytes:
    """vfs_read() at ``f_pos`` (ksys_read()): EBADF if not open for reading, EISDIR for a
    directory, EINVAL without ``->read`` or ``->read_iter``; advances ``f_pos``."""
    _check_read(file, count)
    if file.f_op.read is not None:
        return file.f_op.read(file, count)
    buf = bytearray()
    n = file.f_op.read_iter(file, file.f_pos, _rw_verify_area(file.f_pos, count), buf)
    file.f_pos += n
    return bytes(buf)


def vfs_read_discard(file: File, count: int, pos: Optional[int] = None) -> int:
    """vfs_read() into a buffer nobody looks at: the pages come into the page cache, no bytes
    are built (``->read_iter`` with ``buf`` None; a ``->read`` file is read and the bytes
    dropped).  At ``pos`` (pread) or at ``f_pos``, which it then advances; returns the count."""
    _check_read(file, count)
    at = file.f_pos if pos is None else pos
    if file.f_op.read is not None:
        if pos is not None:
            raise VfsError("ESPIPE", "the file has no positional read")
        return len(file.f_op.read(file, count))
    n = file.f_op.read_iter(file, at, _rw_verify_area(at, count), None)
    if pos is None:
        file.f_pos += n
    return n


def vfs_pread(file: File, count: int, pos: int) -> bytes:
    """ksys_pread64(): EINVAL for a negative position, then vfs_read() at ``pos`` without
    moving ``f_pos``; ESPIPE for a stream file (a ``->read`` without ``->read_iter``: no
    FMODE_PREAD here)."""
    if pos < 0:
        raise VfsError("EINVAL", "negative position")
    _check_read(file, count)
    if file.f_op.read_iter is None:
        raise VfsError("ESPIPE", "the file has no positional read")
    buf = bytearray()
    file.f_op.read_iter(file, pos, _rw_verify_area(pos, count), buf)
    return bytes(buf)


def _vfs_write(file: File, data: bytes):
    """vfs_write()'s body: the count, or the generator of a ``->write`` that sleeps."""
    check_write(file)
    if not data:
        return 0
    if file.f_flags & O_APPEND:
        file.f_pos = file.f_inode.i_size
    if file.f_op.write is not None:
        return file.f_op.write(file, bytes(data))
    n = file.f_op.write_iter(file, file.f_pos, bytes(data[:_rw_verify_area(file.f_pos, len(data))]))
    file.f_pos += n
    return n


def vfs_write(file: File, data: bytes) -> int:
    """vfs_write() at ``f_pos`` (ksys_write()): EBADF if not open for writing, EINVAL without
    ``->write`` or ``->write_iter``; O_APPEND writes at the end; advances ``f_pos``.

    For callers outside the scheduler (tools, tests, ``MntNamespace.write_file``): a ``->write``
    that sleeps is run to completion by :func:`memsim.sched.run_sync` (its cond_resched()s go
    on at once; :class:`memsim.sched.WouldBlock` if it would wait on a queue).  A task's step
    uses :func:`vfs_write_blocking`."""
    n = _vfs_write(file, data)
    if isinstance(n, GeneratorType):
        return run_sync(n, f"a write to {file.f_path.dentry.d_name}")
    return n


def vfs_write_blocking(file: File, data: bytes) -> Generator[Any, None, int]:
    """vfs_write() from a task's step, where a ``->write`` that sleeps (a pseudo file's store
    calling cond_resched() or mutex_lock()) yields to the scheduler: run it with
    ``n = yield from vfs_write_blocking(file, data)``.  A write that does not sleep yields
    nothing and costs what :func:`vfs_write` does plus one generator."""
    n = _vfs_write(file, data)
    if isinstance(n, GeneratorType):
        n = yield from n
    return n


def vfs_pwrite(file: File, data: bytes, pos: int) -> int:
    """ksys_pwrite64(): EINVAL for a negative position, then vfs_write() at ``pos`` without
    moving ``f_pos`` (O_APPEND still appends, as on Linux); ESPIPE without ``->write_iter``."""
    if pos < 0:
        raise VfsError("EINVAL", "negative position")
    check_write(file)
    if file.f_op.write_iter is None:
        raise VfsError("ESPIPE", "the file has no positional write")
    if not data:
        return 0
    if file.f_flags & O_APPEND:
        pos = file.f_inode.i_size
    return file.f_op.write_iter(file, pos, bytes(data[:_rw_verify_area(pos, len(data))]))


def do_truncate(dentry: "Dentry", size: int) -> None:
    """do_truncate() -> notify_change(ATTR_SIZE): ``->setattr``, or simple_setattr()'s
    i_size_write() when the filesystem has none."""
    inode = dentry.d_inode
    if inode.i_op.setattr is not None:
        inode.i_op.setattr(dentry, size)
    else:
        i_size_write(inode, size)


def do_ftruncate(file: File, length: int) -> None:
    """do_sys_ftruncate() after fdget(): EINVAL for a negative length (checked before the fd:
    ``ftruncate(-1, -1)`` is EINVAL), EINVAL unless a regular file open for writing (a
    read-only fd or a directory), EFBIG past the largest size, then do_truncate()."""
    if length < 0:
        raise VfsError("EINVAL", "negative length")
    if not file.f_inode.is_reg or not file.f_mode & FMODE_WRITE:
        raise VfsError("EINVAL", "not a regular file open for writing")
    if length > MAX_LFS_FILESIZE:
        raise VfsError("EFBIG", "past the largest file size")
    do_truncate(file.f_path.dentry, length)


def vfs_fsync(file: File, start: int = 0, end: int = MAX_LFS_FILESIZE, datasync: bool = False) -> None:
    """vfs_fsync_range(): ``->fsync`` on [start, end]; EINVAL for a file without it (any
    access mode: fsync of a read-only fd writes back as well)."""
    if file.f_op.fsync is None:
        raise VfsError("EINVAL", "the file cannot be synced")
    file.f_op.fsync(file, start, end, datasync)


def vfs_fallocate(file: File, mode: int, offset: int, length: int) -> None:
    """vfs_fallocate(), in the kernel's order: EINVAL for a negative offset or a length not
    above 0; EOPNOTSUPP for unknown bits, more than one mode, FALLOC_FL_PUNCH_HOLE without
    FALLOC_FL_KEEP_SIZE, or COLLAPSE/INSERT with it; EBADF unless open for writing; EISDIR for
    a directory, ENODEV for what is not a regular file; EFBIG past the largest size;
    EOPNOTSUPP without ``->fallocate``."""
    if offset < 0 or length <= 0:
        raise VfsError("EINVAL", "offset must be 0 or more and length above 0")
    if mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE):
        raise VfsError("EOPNOTSUPP", f"unknown fallocate mode bits {mode:#x}")
    kind = mode & FALLOC_FL_MODE_MASK
    if kind not in (FALLOC_FL_ALLOCATE_RANGE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE,
                    FALLOC_FL_ZERO_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE):
        raise VfsError("EOPNOTSUPP", "more than one fallocate mode")
    if kind == FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        raise VfsError("EOPNOTSUPP", "FALLOC_FL_PUNCH_HOLE needs FALLOC_FL_KEEP_SIZE")
    if kind in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE) and mode & FALLOC_FL_KEEP_SIZE:
        raise VfsError("EOPNOTSUPP", "FALLOC_FL_KEEP_SIZE cannot go with collapse or insert")
    if not file.f_mode & FMODE_WRITE:
        raise VfsError("EBADF", "not open for writing")
    inode = file.f_inode
    if inode.is_dir:
        raise VfsError("EISDIR", "is a directory")
    if not inode.is_reg:
        raise VfsError("ENODEV", "not a regular file")
    if offset + length > MAX_LFS_FILESIZE:
        raise VfsError("EFBIG", "past the largest file size")
    if file.f_op.fallocate is None:
        raise VfsError("EOPNOTSUPP", "the filesystem cannot fallocate")
    file.f_op.fallocate(file, mode, offset, length)


def vfs_fadvise(file: File, offset: int, length: int, advice: int,
                invalidate: Optional[Callable[[Any, int, int], Any]] = None) -> None:
    """vfs_fadvise(): ``->fadvise``, else :func:`generic_fadvise`."""
    if file.f_op.fadvise is not None:
        file.f_op.fadvise(file, offset, length, advice)
        return
    generic_fadvise(file, offset, length, advice, invalidate)


def generic_fadvise(file: File, offset: int, length: int, advice: int,
                    invalidate: Optional[Callable[[Any, int, int], Any]] = None) -> None:
    """generic_fadvise() (mm/fadvise.c): EINVAL without a page cache, for a negative length or
    an unknown advice.  On a file whose superblock has a disk (``s_bdi``): POSIX_FADV_NORMAL
    gives the file the bdi's ``ra_pages`` back and clears FMODE_RANDOM, RANDOM sets
    FMODE_RANDOM (a read miss reads only what it needs), SEQUENTIAL doubles ``ra_pages``,
    WILLNEED reads the pages of the range ahead (``f_op.readahead``:
    force_page_cache_readahead(), from the first partial page to the last); without one
    (tmpfs's noop_backing_dev_info) these are accepted and ignored.  POSIX_FADV_DONTNEED drops
    the clean, unmapped pages wholly inside the range through ``invalidate(mapping,
    first_index, last_index)`` (invalidate_mapping_pages(); ``length`` 0 means to the end of
    the file).  NOREUSE does nothing here (v6.18's FMODE_NOREUSE only steers the multi-gen
    LRU).  A filesystem's own ``->fadvise`` may call this with its own ``invalidate``."""
    mapping = file.f_mapping
    if mapping is None or length < 0:
        raise VfsError("EINVAL", "no page cache" if mapping is None else "negative length")
    if advice not in (POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                      POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE):
        raise VfsError("EINVAL", f"unknown advice {advice}")
    page = 4096
    # endbyte: the last byte of the range (len 0 or an overflow: LLONG_MAX)
    endbyte = MAX_LFS_FILESIZE if length == 0 or offset + length > MAX_LFS_FILESIZE \
        else offset + length - 1
    if advice != POSIX_FADV_DONTNEED:
        bdi = file.f_inode.i_sb.s_bdi
        if bdi is None:
            return
        if advice == POSIX_FADV_NORMAL:
            file.f_ra.ra_pages = bdi.ra_pages
            file.f_mode &= ~FMODE_RANDOM
        elif advice == POSIX_FADV_RANDOM:
            file.f_mode |= FMODE_RANDOM
        elif advice == POSIX_FADV_SEQUENTIAL:
            file.f_ra.ra_pages = bdi.ra_pages * 2
            file.f_mode &= ~FMODE_RANDOM
        elif advice == POSIX_FADV_WILLNEED and file.f_op.readahead is not None:
            # first and last PARTIAL page; nrpages 0 (an overflow of the +1) means all
            start_index = offset // page
            nrpages = (endbyte // page - start_index + 1) & ((1 << 64) - 1)
            file.f_op.readahead(file, start_index, nrpages or (1 << 64) - 1)
        return
    if invalidate is None:
        return
    start_index = (offset + page - 1) // page
    end_index = endbyte // page
    if (endbyte + 1) % page and endbyte != file.f_inode.i_size - 1:
        # the last page is only partly in the range: keep it (unless it is the file's last)
        if end_index == 0:
            return
        end_index -= 1
    if end_index >= start_index:
        invalidate(mapping, start_index, end_index)


def _permission(inode: Inode, mask: int) -> None:
    """inode_permission(): the filesystem's check; root passes generic_permission."""
    if inode.i_op.permission is not None:
        inode.i_op.permission(inode, mask)


# ----------------------------------------------------------------------------------------------
# rootfs: the directory tree every namespace starts with
# ----------------------------------------------------------------------------------------------

def _simple_mkdir(dir: Dentry, name: str, mode: int) -> Dentry:
    """simple_mkdir() of ramfs: an empty directory."""
    sb = dir.d_sb
    return sb.d_alloc(dir, name, sb.new_inode(S_IFDIR | (mode & 0o7777), RAMFS_DIR_IOPS))


def _simple_rmdir(dir: Dentry, victim: Dentry) -> None:
    """simple_rmdir(): ENOTEMPTY unless the directory is empty; the directory loses its names
    (clear_nlink()) and goes with its dentry."""
    if victim.d_subdirs:
        raise VfsError("ENOTEMPTY", f"{victim.d_name!r} is not empty")
    victim.d_inode.clear_nlink()
    dir.d_sb.d_delete(victim)


def simple_unlink(dir: Dentry, victim: Dentry) -> None:
    """simple_unlink(): the inode loses a name (drop_nlink()) and the entry goes (d_delete()
    + dput()); an open or mapped file lives on until its last reference."""
    victim.d_inode.drop_nlink()
    dir.d_sb.d_delete(victim)


#: The directories of rootfs (ramfs): mkdir and rmdir; regular files need a page cache, which a
#: filesystem plugin brings (create: EACCES here).
RAMFS_DIR_IOPS = InodeOperations(mkdir=_simple_mkdir, rmdir=_simple_rmdir)


def _rootfs_mount(fc: FsContext) -> SuperBlock:
    for key, _ in fc.options:
        if key != "mode":
            raise VfsError("EINVAL", f"rootfs: unknown parameter {key!r}")
    mode = 0o755
    for key, value in fc.options:
        try:
            mode = int(value or "", 8) & 0o7777
        except ValueError:
            raise VfsError("EINVAL", f"rootfs: bad value {value!r} for parameter 'mode'") from None
    return SuperBlock(fc.fs_type, mode, RAMFS_DIR_IOPS)


#: rootfs: the ramfs instance under ``/``; a ``mount -t rootfs`` makes another empty one.
ROOTFS_TYPE = FileSystemType("rootfs", "an in-memory directory tree (ramfs): directories only",
                             _rootfs_mount)


# ----------------------------------------------------------------------------------------------
# The namespace
# ----------------------------------------------------------------------------------------------

def _nameidata(fn):
    """A system call of the namespace: the dentry references its path walk took (the dentries
    ``->lookup`` or ``->create`` made, the last component it stopped at) are dropped (dput())
    when it returns, as path_put()/done_path_create() drop the walk's."""
    @functools.wraps(fn)
    def syscall(self, *args, **kwargs):
        mark = len(self._nd_refs)
        try:
            return fn(self, *args, **kwargs)
        finally:
            self._put_refs(mark)
    return syscall


class MntNamespace:
    """``struct mnt_namespace`` with the path walk and the file system calls.

    ``MntNamespace(machine)`` starts with rootfs at ``/`` holding the directories of
    :data:`BOOT_DIRS`; the machine then mounts procfs and sysfs (memsim.pseudofs)."""

    #: Directories rootfs starts with, and their modes.
    BOOT_DIRS = (("/dev", 0o755), ("/mnt", 0o755), ("/proc", 0o555), ("/run", 0o755),
                 ("/sys", 0o555), ("/tmp", 0o1777))

    def __init__(self, machine: Any = None):
        self.machine = machine
        self.filesystems: Dict[str, FileSystemType] = {}
        self._next_mnt_id = 1
        #: the live superblocks, oldest first (the kernel's super_blocks list, which
        #: iterate_supers() walks: drop_caches, sync), each with the number of its mounts
        self.super_blocks: List[SuperBlock] = []
        self._sb_mounts: Dict[int, int] = {}
        #: the dentry cache (memsim.dcache) and inodes_stat, shared by every superblock
        self.dcache = Dcache(machine)
        self.inodes_stat = InodesStat()
        #: dentry references held by the system call in progress (nameidata's)
        self._nd_refs: List[Dentry] = []
        self.register_filesystem(ROOTFS_TYPE)
        sb = ROOTFS_TYPE.mount(FsContext(ROOTFS_TYPE, "rootfs", (), False, machine))
        self.root = self._new_mount(sb, "rootfs", False, ())
        # mount hash: (parent mount id, mountpoint dentry id) -> stack of child mounts
        self._mounts: Dict[Tuple[int, int], List[VfsMount]] = {}
        for path, mode in self.BOOT_DIRS:
            _simple_mkdir(self.root.mnt_root, path.lstrip("/"), mode)

    # -- filesystem types (fs/filesystems.c) -------------------------------------------------
    def register_filesystem(self, fs_type: FileSystemType) -> None:
        """register_filesystem(): EBUSY if a type of that name is registered."""
        if not isinstance(fs_type, FileSystemType):
            raise TypeError(f"register_filesystem takes a FileSystemType, not {type(fs_type).__name__}")
        if fs_type.name in self.filesystems:
            raise VfsError("EBUSY", f"filesystem type {fs_type.name!r} is registered twice")
        self.filesystems[fs_type.name] = fs_type

    def get_fs_type(self, name: str) -> FileSystemType:
        """get_fs_type(): ENODEV for an unknown name."""
        fs_type = self.filesystems.get(name)
        if fs_type is None:
            import difflib
            close = difflib.get_close_matches(name, list(self.filesystems), 1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f" (registered: {', '.join(self.filesystems)})"
            raise VfsError("ENODEV", f"no filesystem type {name!r}{hint}")
        return fs_type

    def kern_mount(self, name: str, options: str = "") -> VfsMount:
        """kern_mount(): an internal mount of a filesystem type, outside the tree (the shmem
        mount behind memfd and shared anonymous memory)."""
        fs_type = self.get_fs_type(name)
        opts = parse_mount_options(options)
        sb = fs_type.mount(FsContext(fs_type, name, opts, False, self.machine))
        return self._new_mount(sb, name, False, opts)

    def _new_mount(self, sb: SuperBlock, devname: str, readonly: bool, options) -> VfsMount:
        mnt = VfsMount(sb, devname, readonly, self._next_mnt_id, options)
        self._next_mnt_id += 1
        if id(sb) not in self._sb_mounts:           # sget(): on super_blocks until kill_sb
            self.super_blocks.append(sb)
        self._sb_mounts[id(sb)] = self._sb_mounts.get(id(sb), 0) + 1
        return mnt

    # -- the path walk (fs/namei.c) ---------------------------------------------------------
    def _lookup_mnt(self, mnt: VfsMount, dentry: Dentry) -> Optional[VfsMount]:
        stack = self._mounts.get((mnt.mnt_id, id(dentry)))
        return stack[-1] if stack else None

    def _follow_mount(self, path: Path) -> Path:
        """follow_mount(): down to the root of the last mount stacked on the dentry."""
        while path.dentry.d_mounted:
            child = self._lookup_mnt(path.mnt, path.dentry)
            if child is None:
                break
            path = Path(child, child.mnt_root)
        return path

    def _follow_dotdot(self, path: Path) -> Path:
        """follow_dotdot(): up one level, through the mounts, never above the root."""
        mnt, dentry = path.mnt, path.dentry
        while dentry is mnt.mnt_root and mnt.mnt_parent is not None:
            dentry, mnt = mnt.mnt_mountpoint, mnt.mnt_parent
        if dentry is mnt.mnt_root:
            return Path(mnt, dentry)
        return self._follow_mount(Path(mnt, dentry.d_parent))

    def _hold(self, dentry: Dentry, new: bool = False) -> Dentry:
        """The system call holds ``dentry`` until it returns (dget(), or the reference a new
        dentry came with)."""
        if dentry.d_sb.s_dcache is not None:
            if not new:
                dget(dentry)
            self._nd_refs.append(dentry)
        return dentry

    def _put_refs(self, mark: int) -> None:
        while len(self._nd_refs) > mark:
            dput(self._nd_refs.pop())

    def _lookup_one(self, parent: Path, name: str) -> Optional[Dentry]:
        """lookup_one(): the child dentry, or None; the filesystem's ``->lookup`` may raise.  A
        cached child is found without a reference (an RCU walk); one ``->lookup`` instantiates
        is held by the system call (lookup_slow())."""
        dir = parent.dentry
        child = dir.d_subdirs.get(name)
        if child is not None:
            return child
        if dir.d_inode.i_op.lookup is not None:
            sb = dir.d_sb
            if sb.s_dcache is not None:         # the dentry first, then ->lookup (ext4_iget)
                self._hold(sb.d_alloc_parallel(dir, name), new=True)
            inode = dir.d_inode.i_op.lookup(dir, name)
            if inode is not None:
                return self._hold(sb.d_alloc(dir, name, inode), new=True)
        return None

    @staticmethod
    def _split(path: str) -> Tuple[List[str], bool]:
        if not isinstance(path, str):
            raise TypeError(f"a path is a str, not {type(path).__name__}")
        if not path:
            raise VfsError("ENOENT", "empty path")
        if len(path.encode()) >= PATH_MAX:
            raise VfsError("ENAMETOOLONG", "the path is 4096 bytes or longer")
        parts = [p for p in path.split("/") if p]
        for p in parts:
            if len(p.encode()) > NAME_MAX:
                raise VfsError("ENAMETOOLONG", f"{p[:20]}... is longer than 255 bytes")
        return parts, path.endswith("/")

    def _walk(self, parts: List[str]) -> Path:
        """link_path_walk(): every component must be a directory that exists."""
        path = self._follow_mount(Path(self.root, self.root.mnt_root))
        for i, name in enumerate(parts):
            if not path.dentry.d_inode.is_dir:
                raise VfsError("ENOTDIR", f"{'/' + '/'.join(parts[:i])} is not a directory")
            _permission(path.dentry.d_inode, MAY_EXEC)
            if name == ".":
                continue
            if name == "..":
                path = self._follow_dotdot(path)
                continue
            child = self._lookup_one(path, name)
            if child is None:
                raise VfsError("ENOENT", f"{'/' + '/'.join(parts[:i + 1])} does not exist")
            path = self._follow_mount(Path(path.mnt, child))
        return path

    @_nameidata
    def path_lookup(self, path: str) -> Path:
        """kern_path(): the object a path names, through every mount; a trailing slash needs a
        directory (ENOTDIR)."""
        parts, slash = self._split(path)
        found = self._walk(parts)
        self._hold(found.dentry)                            # complete_walk() ... path_put()
        if slash and not found.dentry.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{path} is not a directory")
        return found

    def _parentat(self, path: str):
        """filename_parentat(): (parent Path, last component, its type, trailing slash)."""
        parts, slash = self._split(path)
        if not parts:
            return self._walk([]), "", LAST_ROOT, slash
        last = parts[-1]
        parent = self._hold_path(self._walk(parts[:-1]))
        if not parent.dentry.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{'/' + '/'.join(parts[:-1])} is not a directory")
        kind = LAST_DOT if last == "." else LAST_DOTDOT if last == ".." else LAST_NORM
        return parent, last, kind, slash

    def _hold_path(self, path: Path) -> Path:
        self._hold(path.dentry)
        return path

    def exists(self, path: str) -> bool:
        try:
            self.path_lookup(path)
        except VfsError:
            return False
        return True

    # -- paths of objects (d_path) ----------------------------------------------------------
    def d_path(self, path: Path) -> str:
        """d_path(): the absolute path of a dentry seen through a mount of this namespace."""
        parts = []
        mnt, dentry = path.mnt, path.dentry
        while True:
            if dentry is mnt.mnt_root:
                if mnt.mnt_parent is None:
                    break
                dentry, mnt = mnt.mnt_mountpoint, mnt.mnt_parent
                continue
            parts.append(dentry.d_name)
            dentry = dentry.d_parent
        return "/" + "/".join(reversed(parts))

    # -- mkdir, rmdir (fs/namei.c) -----------------------------------------------------------
    def _want_write(self, mnt: VfsMount, path: str) -> None:
        """mnt_want_write(): EROFS on a read-only mount."""
        if mnt.readonly:
            raise VfsError("EROFS", f"{path} is on a read-only mount")

    @_nameidata
    def do_mkdirat(self, path: str, mode: int = 0o777, umask: int = DEFAULT_UMASK) -> Path:
        """do_mkdirat(): EEXIST if the name exists (or is ``/``, ``.``, ``..``), ENOENT or
        ENOTDIR for a bad parent, EROFS, EACCES from the filesystem's permission, EPERM if the
        directory cannot have subdirectories."""
        parent, last, kind, _ = self._parentat(path)
        if kind != LAST_NORM:
            raise VfsError("EEXIST", f"{path} exists")
        self._want_write(parent.mnt, path)
        if self._lookup_one(parent, last) is not None:
            raise VfsError("EEXIST", f"{path} exists")
        dir = parent.dentry
        _permission(dir.d_inode, MAY_WRITE | MAY_EXEC)
        if dir.d_inode.i_op.mkdir is None:
            raise VfsError("EPERM", f"{self.d_path(parent)} cannot hold new directories")
        child = dir.d_inode.i_op.mkdir(dir, last, (mode & ~umask) & 0o7777)
        return Path(parent.mnt, self._hold(child, new=True))

    @_nameidata
    def do_rmdir(self, path: str) -> None:
        """do_rmdir(): ENOTEMPTY for ``..``, EINVAL for ``.``, EBUSY for ``/``, a mount point or
        a filesystem root, ENOENT, ENOTDIR, EROFS, EACCES, EPERM, or the filesystem's ENOTEMPTY."""
        parent, last, kind, _ = self._parentat(path)
        if kind == LAST_DOTDOT:
            raise VfsError("ENOTEMPTY", f"{path}: '..' is not empty")
        if kind == LAST_DOT:
            raise VfsError("EINVAL", f"{path}: cannot remove '.'")
        if kind == LAST_ROOT:
            raise VfsError("EBUSY", "/ is the root")
        self._want_write(parent.mnt, path)
        victim = self._lookup_one(parent, last)
        if victim is None:
            raise VfsError("ENOENT", f"{path} does not exist")
        self._hold(victim)
        dir = parent.dentry
        _permission(dir.d_inode, MAY_WRITE | MAY_EXEC)            # may_delete()
        if not victim.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{path} is not a directory")
        if victim.is_root:
            raise VfsError("EBUSY", f"{path} is the root of a filesystem")
        if dir.d_inode.i_op.rmdir is None:
            raise VfsError("EPERM", f"{path} cannot be removed")
        if victim.d_mounted:
            raise VfsError("EBUSY", f"{path} is a mount point")
        dir.d_inode.i_op.rmdir(dir, victim)

    @_nameidata
    def do_unlinkat(self, path: str) -> None:
        """do_unlinkat(): EISDIR for a directory, EPERM if the filesystem cannot unlink."""
        parent, last, kind, slash = self._parentat(path)
        if kind != LAST_NORM:
            raise VfsError("EISDIR", f"{path} is a directory")
        self._want_write(parent.mnt, path)
        victim = self._lookup_one(parent, last)
        if victim is None:
            raise VfsError("ENOENT", f"{path} does not exist")
        self._hold(victim)
        if slash and not victim.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{path} is not a directory")
        dir = parent.dentry
        _permission(dir.d_inode, MAY_WRITE | MAY_EXEC)
        if victim.d_inode.is_dir:
            raise VfsError("EISDIR", f"{path} is a directory")
        if dir.d_inode.i_op.unlink is None:
            raise VfsError("EPERM", f"{path} cannot be removed")
        if victim.d_mounted:
            raise VfsError("EBUSY", f"{path} is a mount point")
        dir.d_inode.i_op.unlink(dir, victim)

    # -- open, read, write (fs/open.c, fs/namei.c) ------------------------------------------
    @_nameidata
    def do_filp_open(self, path: str, flags: int = O_RDONLY, mode: int = 0o666,
                     umask: int = DEFAULT_UMASK) -> File:
        """do_filp_open(): an open file description (not in any fd table).

        O_CREAT creates a regular file through the directory's ``create`` (EACCES without one);
        O_EXCL makes an existing name EEXIST; a directory opened for writing or with O_CREAT is
        EISDIR; O_DIRECTORY on a file is ENOTDIR; O_TRUNC truncates a regular file (setattr)."""
        acc = flags & O_ACCMODE
        if flags & O_CREAT:
            parent, last, kind, slash = self._parentat(path)
            if kind != LAST_NORM:
                raise VfsError("EISDIR", f"{path} is a directory")
            child = self._lookup_one(parent, last)
            if child is not None:
                if flags & O_EXCL:
                    raise VfsError("EEXIST", f"{path} exists")
                target = self._hold_path(self._follow_mount(Path(parent.mnt, child)))
            else:
                if slash:
                    raise VfsError("EISDIR", f"{path}: cannot create a directory with open")
                self._want_write(parent.mnt, path)
                dir = parent.dentry
                _permission(dir.d_inode, MAY_WRITE | MAY_EXEC)
                if dir.d_inode.i_op.create is None:
                    raise VfsError("EACCES", f"{self.d_path(parent)} cannot hold new files")
                child = dir.d_inode.i_op.create(dir, last, (mode & ~umask) & 0o7777)
                target = Path(parent.mnt, self._hold(child, new=True))
                flags &= ~O_TRUNC
        else:
            parts, slash = self._split(path)
            target = self._hold_path(self._walk(parts))
            if slash and not target.dentry.d_inode.is_dir:
                raise VfsError("ENOTDIR", f"{path} is not a directory")
        inode = target.dentry.d_inode
        if inode.is_dir:
            if acc != O_RDONLY or flags & O_CREAT:
                raise VfsError("EISDIR", f"{path} is a directory")
        elif flags & O_DIRECTORY:
            raise VfsError("ENOTDIR", f"{path} is not a directory")
        writing = acc in (O_WRONLY, O_RDWR)
        if writing and not inode.is_dir:
            self._want_write(target.mnt, path)
        mask = (MAY_READ if acc in (O_RDONLY, O_RDWR) else 0) | (MAY_WRITE if writing else 0)
        _permission(inode, mask)                                    # may_open()
        if flags & O_TRUNC and writing and not inode.is_dir and inode.i_op.setattr is not None:
            inode.i_op.setattr(target.dentry, 0)
        file = File(target, flags)
        if file.f_op.open is not None:
            file.f_op.open(inode, file)
        target.mnt.mnt_count += 1
        return file

    def open(self, files: FilesStruct, path: str, flags: int = O_RDONLY, mode: int = 0o666) -> int:
        """do_sys_open(): open ``path`` into the fd table ``files``; returns the fd."""
        file = self.do_filp_open(path, flags, mode)
        fd = files.alloc_fd()
        files.fd_install(fd, file)
        return fd

    def fadvise(self, files: FilesStruct, fd: int, offset: int, length: int, advice: int) -> None:
        """ksys_fadvise64_64(): EBADF, then vfs_fadvise(); POSIX_FADV_DONTNEED is
        generic_fadvise()'s: the dirty pages of the range are written first
        (__filemap_fdatawrite_range; memsim's disks complete at once), the local per-CPU LRU
        batch is drained (lru_add_drain), the clean pages invalidated
        (MmCore.invalidate_mapping_pages) and, if some could not be, every CPU's batch drained
        and the range invalidated again (lru_add_drain_all)."""
        file = files.fget(fd)
        machine = self.machine
        core = getattr(machine, "mmcore", None)

        def dontneed(mapping, first, last):
            core.filemap_write_and_wait(mapping, first, last)
            machine.physmem.lru_add_drain_py()
            if core.invalidate_mapping_pages(mapping, first, last) < last - first + 1:
                machine.physmem.lru_add_drain_py(True)
                core.invalidate_mapping_pages(mapping, first, last)

        vfs_fadvise(file, offset, length, advice, dontneed if core is not None else None)

    def read_file(self, path: str, chunk: int = 131072) -> bytes:
        """The whole file, read as ``cat`` does (``chunk`` bytes a read until one returns
        nothing), through an open file description of its own."""
        file = self.do_filp_open(path, O_RDONLY)
        try:
            out = bytearray()
            while True:
                data = vfs_read(file, chunk)
                if not data:
                    return bytes(out)
                out += data
        finally:
            fput(file)

    def write_file(self, path: str, data: bytes) -> int:
        """``open(O_WRONLY|O_CREAT|O_TRUNC)`` + one write + close, as a shell's ``>`` does;
        returns what the write returned."""
        file = self.do_filp_open(path, O_WRONLY | O_CREAT | O_TRUNC)
        try:
            return vfs_write(file, data)
        finally:
            fput(file)

    # -- mount, umount (fs/namespace.c) -----------------------------------------------------
    @_nameidata
    def do_mount(self, source: str, target: str, fstype: str, options: str = "") -> VfsMount:
        """do_new_mount(): ENOENT/ENOTDIR for a bad target, EINVAL for an empty type, ENODEV for
        an unknown one, the filesystem's EINVAL for a bad option, ENOTDIR when the filesystem's
        root is a directory and the target is not; mounting on a mount point stacks."""
        where = self.path_lookup(target)
        if not fstype:
            raise VfsError("EINVAL", "no filesystem type")
        fs_type = self.get_fs_type(fstype)
        opts = parse_mount_options(options)
        readonly = False
        rest = []
        for key, value in opts:
            if key in ("ro", "rw") and value is None:       # vfs_parse_sb_flag()
                readonly = key == "ro"
            else:
                rest.append((key, value))
        fc = FsContext(fs_type, source or "none", tuple(rest), readonly, self.machine)
        sb = fs_type.mount(fc)
        if not isinstance(sb, SuperBlock):
            raise TypeError(f"filesystem type {fs_type.name!r}: mount() returned "
                            f"{type(sb).__name__}, not a SuperBlock")
        if where.dentry.d_inode.is_dir != sb.s_root.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{target} is not a directory")
        mnt = self._new_mount(sb, source or "none", readonly, fc.options)
        mnt.mnt_parent = where.mnt
        mnt.mnt_mountpoint = where.dentry
        where.mnt.mnt_mounts.append(mnt)
        where.dentry.d_mounted += 1
        dget(where.dentry)                                  # mnt_mountpoint
        self._mounts.setdefault((where.mnt.mnt_id, id(where.dentry)), []).append(mnt)
        return mnt

    @_nameidata
    def do_umount(self, target: str) -> None:
        """do_umount() without flags: ENOENT, EINVAL if the path is not the root of a mount,
        EBUSY while a file is open on it, something is mounted below it, or it is ``/``."""
        where = self.path_lookup(target)
        mnt = where.mnt
        if where.dentry is not mnt.mnt_root:
            raise VfsError("EINVAL", f"{target} is not a mount point")
        if mnt.mnt_parent is None:
            raise VfsError("EBUSY", "/ is the root of the namespace")
        if mnt.mnt_count or mnt.mnt_mounts:
            raise VfsError("EBUSY", f"{target} is busy" + (
                " (files are open on it)" if mnt.mnt_count else " (something is mounted below it)"))
        parent, mountpoint = mnt.mnt_parent, mnt.mnt_mountpoint
        stack = self._mounts[(parent.mnt_id, id(mountpoint))]
        stack.remove(mnt)
        if not stack:
            del self._mounts[(parent.mnt_id, id(mountpoint))]
        parent.mnt_mounts.remove(mnt)
        mountpoint.d_mounted -= 1
        dput(mountpoint)
        sb = mnt.mnt_sb
        self._sb_mounts[id(sb)] -= 1
        if not self._sb_mounts[id(sb)]:     # deactivate_super() -> kill_sb: off the list
            del self._sb_mounts[id(sb)]
            self.super_blocks.remove(sb)
            if sb.s_type.kill_sb is not None:
                sb.s_type.kill_sb(sb)

    def mounts(self) -> List[VfsMount]:
        """Every mount, parents before children (the order of /proc/mounts)."""
        out: List[VfsMount] = []

        def visit(mnt: VfsMount) -> None:
            out.append(mnt)
            for child in mnt.mnt_mounts:
                visit(child)
        visit(self.root)
        return out

    def mount_point(self, mnt: VfsMount) -> str:
        return self.d_path(Path(mnt, mnt.mnt_root))

    # -- listing -------------------------------------------------------------------------------
    def iterate(self, path: str = "/") -> Iterator[Tuple[str, Inode]]:
        """Every file and directory at and below ``path``, as the mounts show them (what is
        hidden under a mount is not listed), depth first in name order.  A directory whose
        ``->iterate_shared`` lists its entries has each looked up (``ls -R``: the dentry cache
        fills in)."""
        return iter(self._iterate(path))

    @_nameidata
    def _iterate(self, path: str) -> List[Tuple[str, Inode]]:
        start = self._hold_path(self._walk(self._split(path)[0]))
        out: List[Tuple[str, Inode]] = []

        def walk(p: Path, name: str) -> None:
            inode = p.dentry.d_inode
            out.append((name, inode))
            if not inode.is_dir:
                return
            names = inode.i_fop.iterate_shared
            for child_name in sorted(names(inode) if names is not None else p.dentry.d_subdirs):
                child = self._lookup_one(p, child_name)
                if child is None:
                    continue
                walk(self._follow_mount(Path(p.mnt, child)), name.rstrip("/") + "/" + child_name)
        walk(start, self.d_path(start))
        return out
