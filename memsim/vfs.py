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

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

__all__ = [
    "VfsError", "FileSystemType", "FsContext", "FileOperations", "InodeOperations",
    "Inode", "Dentry", "SuperBlock", "VfsMount", "Path", "File", "FilesStruct", "MntNamespace",
    "mode_string", "parse_mount_options",
    "S_IFMT", "S_IFDIR", "S_IFREG", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL",
    "O_TRUNC", "O_APPEND", "O_DIRECTORY", "FMODE_READ", "FMODE_WRITE", "MAY_EXEC", "MAY_WRITE",
    "MAY_READ", "NAME_MAX", "PATH_MAX", "FS_REQUIRES_DEV",
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
MAY_EXEC = 0x1
MAY_WRITE = 0x2
MAY_READ = 0x4
FS_REQUIRES_DEV = 1
SB_RDONLY = 1
MNT_READONLY = 0x40
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

    ``read(file, count) -> bytes`` returns at most ``count`` bytes from ``file.f_pos`` and
    advances it (``b""`` at the end); ``write(file, data) -> int`` returns how many bytes it
    took (a short count is a partial write) and advances ``file.f_pos``; ``open(inode, file)``
    and ``release(inode, file)`` run at open and at the last close.  Any of them raises
    :class:`VfsError` to fail with that errno.  A missing ``read``/``write`` makes the call fail
    with EINVAL, as for a file without ``->read``/``->write``.
    """

    read: Optional[Callable[["File", int], bytes]] = None
    write: Optional[Callable[["File", bytes], int]] = None
    open: Optional[Callable[["Inode", "File"], None]] = None
    release: Optional[Callable[["Inode", "File"], None]] = None


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
    * ``setattr(dentry, size)``: truncate (O_TRUNC) a regular file; missing: nothing to do.
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
    docs/workloads.md, ``plugin`` the plugin that registered it."""

    name: str
    doc: str
    mount: Callable[[FsContext], "SuperBlock"]
    plugin: str = "core"
    fs_flags: int = 0


# ----------------------------------------------------------------------------------------------
# Objects of a mounted tree
# ----------------------------------------------------------------------------------------------

class Inode:
    """``struct inode``: the mode, the operations and the filesystem's private data.

    ``i_mapping`` is the page cache of a regular file (an :class:`memsim.mm.AddressSpace`), for
    the filesystems that have one."""

    __slots__ = ("i_ino", "i_mode", "i_sb", "i_op", "i_fop", "i_private", "i_size", "i_mapping")

    def __init__(self, sb: "SuperBlock", ino: int, mode: int, i_op: InodeOperations,
                 i_fop: FileOperations, private: Any = None):
        self.i_sb = sb
        self.i_ino = ino
        self.i_mode = mode
        self.i_op = i_op
        self.i_fop = i_fop
        self.i_private = private
        self.i_size = 0
        self.i_mapping = None

    @property
    def is_dir(self) -> bool:
        """S_ISDIR()."""
        return self.i_mode & S_IFMT == S_IFDIR

    def __repr__(self) -> str:
        return f"<Inode {self.i_sb.s_type.name}:{self.i_ino} {mode_string(self.i_mode)}>"


class Dentry:
    """``struct dentry``: a name in a directory, its inode and, for a directory, its entries."""

    __slots__ = ("d_name", "d_parent", "d_inode", "d_subdirs", "d_sb", "d_mounted")

    def __init__(self, sb: "SuperBlock", name: str, parent: Optional["Dentry"], inode: Inode):
        self.d_sb = sb
        self.d_name = name
        self.d_parent = parent if parent is not None else self
        self.d_inode = inode
        self.d_subdirs: Dict[str, "Dentry"] = {}
        self.d_mounted = 0            # mounts on this dentry (d_mountpoint())

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
    out with :meth:`d_delete`."""

    def __init__(self, fs_type: FileSystemType, root_mode: int, root_op: InodeOperations = _NO_IOPS,
                 root_fop: FileOperations = _NO_FOPS, fs_info: Any = None):
        self.s_type = fs_type
        self.s_fs_info = fs_info
        self.s_flags = 0
        self._next_ino = 1
        root = self.new_inode(S_IFDIR | (root_mode & 0o7777), root_op, root_fop)
        self.s_root = Dentry(self, "", None, root)

    def new_inode(self, mode: int, i_op: InodeOperations = _NO_IOPS, i_fop: FileOperations = _NO_FOPS,
                  private: Any = None) -> Inode:
        """new_inode() with the next inode number of this superblock."""
        inode = Inode(self, self._next_ino, mode, i_op, i_fop, private)
        self._next_ino += 1
        return inode

    def d_alloc(self, parent: Dentry, name: str, inode: Inode) -> Dentry:
        """d_alloc() + d_add(): a new entry ``name`` of directory ``parent``."""
        if name in parent.d_subdirs:
            raise VfsError("EEXIST", f"{name!r} exists")
        dentry = Dentry(self, name, parent, inode)
        parent.d_subdirs[name] = dentry
        return dentry

    def d_delete(self, dentry: Dentry) -> None:
        """d_delete(): take the entry (and what is below it) out of its directory."""
        if dentry.is_root:
            raise VfsError("EBUSY", "the root of a filesystem")
        parent = dentry.d_parent
        if parent.d_subdirs.get(dentry.d_name) is dentry:
            del parent.d_subdirs[dentry.d_name]

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


class File:
    """``struct file``: an open file description (shared by the fds that dup or inherit it)."""

    def __init__(self, path: Path, flags: int):
        self.f_path = path
        self.f_inode = path.dentry.d_inode
        self.f_op = self.f_inode.i_fop
        self.f_flags = flags
        acc = flags & O_ACCMODE
        self.f_mode = (FMODE_READ if acc in (O_RDONLY, O_RDWR) else 0) | \
                      (FMODE_WRITE if acc in (O_WRONLY, O_RDWR) else 0)
        self.f_pos = 0
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
        """ksys_write()."""
        return vfs_write(self.fget(fd), data)

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


def fput(file: File) -> None:
    """fput(): the last reference releases the file (f_op->release) and its mount."""
    file.f_count -= 1
    if file.f_count == 0:
        if file.f_op.release is not None:
            file.f_op.release(file.f_inode, file)
        file.f_path.mnt.mnt_count -= 1


def vfs_read(file: File, count: int) -> bytes:
    """vfs_read(): EBADF if not open for reading, EISDIR for a directory, EINVAL without
    ``->read``."""
    if not file.f_mode & FMODE_READ:
        raise VfsError("EBADF", "not open for reading")
    if file.f_inode.is_dir:
        raise VfsError("EISDIR", "is a directory")
    if file.f_op.read is None:
        raise VfsError("EINVAL", "the file cannot be read")
    if count < 0:
        raise VfsError("EINVAL", "negative count")
    return file.f_op.read(file, count)


def vfs_write(file: File, data: bytes) -> int:
    """vfs_write(): EBADF if not open for writing, EINVAL without ``->write``; O_APPEND writes
    at the end."""
    if not file.f_mode & FMODE_WRITE:
        raise VfsError("EBADF", "not open for writing")
    if file.f_op.write is None:
        raise VfsError("EINVAL", "the file cannot be written")
    if not data:
        return 0
    if file.f_flags & O_APPEND:
        file.f_pos = file.f_inode.i_size
    return file.f_op.write(file, bytes(data))


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
    """simple_rmdir(): ENOTEMPTY unless the directory is empty."""
    if victim.d_subdirs:
        raise VfsError("ENOTEMPTY", f"{victim.d_name!r} is not empty")
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

    def _lookup_one(self, parent: Path, name: str) -> Optional[Dentry]:
        """lookup_one(): the child dentry, or None; the filesystem's ``->lookup`` may raise."""
        dir = parent.dentry
        child = dir.d_subdirs.get(name)
        if child is not None:
            return child
        if dir.d_inode.i_op.lookup is not None:
            inode = dir.d_inode.i_op.lookup(dir, name)
            if inode is not None:
                return dir.d_sb.d_alloc(dir, name, inode)
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

    def path_lookup(self, path: str) -> Path:
        """kern_path(): the object a path names, through every mount; a trailing slash needs a
        directory (ENOTDIR)."""
        parts, slash = self._split(path)
        found = self._walk(parts)
        if slash and not found.dentry.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{path} is not a directory")
        return found

    def _parentat(self, path: str):
        """filename_parentat(): (parent Path, last component, its type, trailing slash)."""
        parts, slash = self._split(path)
        if not parts:
            return self._walk([]), "", LAST_ROOT, slash
        last = parts[-1]
        parent = self._walk(parts[:-1])
        if not parent.dentry.d_inode.is_dir:
            raise VfsError("ENOTDIR", f"{'/' + '/'.join(parts[:-1])} is not a directory")
        kind = LAST_DOT if last == "." else LAST_DOTDOT if last == ".." else LAST_NORM
        return parent, last, kind, slash

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
        return Path(parent.mnt, child)

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

    def do_unlinkat(self, path: str) -> None:
        """do_unlinkat(): EISDIR for a directory, EPERM if the filesystem cannot unlink."""
        parent, last, kind, slash = self._parentat(path)
        if kind != LAST_NORM:
            raise VfsError("EISDIR", f"{path} is a directory")
        self._want_write(parent.mnt, path)
        victim = self._lookup_one(parent, last)
        if victim is None:
            raise VfsError("ENOENT", f"{path} does not exist")
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
                target = self._follow_mount(Path(parent.mnt, child))
            else:
                if slash:
                    raise VfsError("EISDIR", f"{path}: cannot create a directory with open")
                self._want_write(parent.mnt, path)
                dir = parent.dentry
                _permission(dir.d_inode, MAY_WRITE | MAY_EXEC)
                if dir.d_inode.i_op.create is None:
                    raise VfsError("EACCES", f"{self.d_path(parent)} cannot hold new files")
                target = Path(parent.mnt, dir.d_inode.i_op.create(dir, last, (mode & ~umask) & 0o7777))
                flags &= ~O_TRUNC
        else:
            target = self.path_lookup(path)
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
        self._mounts.setdefault((where.mnt.mnt_id, id(where.dentry)), []).append(mnt)
        return mnt

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
        hidden under a mount is not listed), depth first in name order."""
        start = self.path_lookup(path)

        def walk(p: Path, name: str) -> Iterator[Tuple[str, Inode]]:
            yield name, p.dentry.d_inode
            if not p.dentry.d_inode.is_dir:
                return
            for child_name in sorted(p.dentry.d_subdirs):
                child = self._follow_mount(Path(p.mnt, p.dentry.d_subdirs[child_name]))
                yield from walk(child, (name.rstrip("/") + "/" + child_name))
        yield from walk(start, self.d_path(start))
