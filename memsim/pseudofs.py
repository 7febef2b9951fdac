"""Pseudo filesystems: procfs, sysfs and the trees plugins build the same way (cgroupfs).

A :class:`PseudoFs` is one tree of generated files and directories — ``proc_dir_entry``
(fs/proc/generic.c), the sysctl table (fs/proc/proc_sysctl.c) or a ``kernfs_node``
(fs/kernfs/) — that every mount of its filesystem type shows.  The core and the plugins add and
remove entries while the machine runs, per node, per hstate, per cgroup::

    sysfs = machine.sysfs
    sysfs.mkdir("kernel/mm/hugepages/hugepages-2048kB")
    sysfs.create_file("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                      show=lambda h: f"{h.nr_huge_pages}\\n", store=set_nr_hugepages, private=h)
    sysfs.remove("kernel/mm/hugepages/hugepages-2048kB")

A file is made of ``show(private) -> str`` (its whole text, as a seq_file ``show`` prints it)
and ``store(private, data: bytes) -> Optional[int]`` (a write; returns the bytes it took, None
for all of them; raises :class:`memsim.vfs.VfsError` to fail with that errno).  Paths are
relative to the root of the tree (``sys/vm/min_free_kbytes`` under procfs).

A store that sleeps — the kernel's ``set_max_huge_pages`` calls ``cond_resched()`` for each
page and takes ``h->resize_lock`` — returns a generator instead (a generator function is the
simplest way): it yields what task bodies yield (:data:`memsim.sched.PREEMPT`, a wait queue,
``yield from mutex.lock(task)``) and returns the bytes it took (None: all)::

    def store_nr(h, data):
        count, took = proc_doulongvec_minmax(data)        # EINVAL here fails the write
        yield from h.resize_lock.lock()                   # a memsim.sched.Mutex of current
        try:
            while h.nr_huge_pages < count:
                yield PREEMPT                             # cond_resched()
                ...
        finally:
            h.resize_lock.unlock()
        return took

A ``write_file`` or ``write`` step runs it with ``yield from`` (other tasks run where it
yields); any other writer (``machine.vfs.write_file``, ``vfs_write``) runs it to completion with
:func:`memsim.sched.run_sync`, which raises :class:`memsim.sched.WouldBlock` if it would sleep.

Each kind of tree behaves as the kernel's does where a probe of a live 6.18 kernel could see it
(tests/core/test_vfs.py lists the probes):

* ``proc``: a name that does not exist is ENOENT even for mkdir and O_CREAT (proc_lookup fails);
  rmdir and unlink are EPERM; writing a file without ``store`` or reading one without ``show``
  is EIO, after an open that succeeds (proc_reg_write);
* ``sysctl`` (everything below /proc/sys): open checks the mode's owner bits even for root
  (sysctl_perm: reading a 0200 file or writing a 0444 one is EACCES, and so is creating or
  removing anything in a directory); a read returns the text only from position 0 and a write
  at a later position is ignored (SYSCTL_WRITES_STRICT);
* ``kernfs`` (sysfs, cgroupfs): open checks the mode and the operations (EACCES for writing a
  file without ``store``) unless the tree was made with ``extra_open_perm_check=False``
  (cgroupfs, whose root does not set KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK: such a write fails
  with EINVAL); O_CREAT of a new name is EACCES; mkdir and rmdir are EPERM unless the
  tree has :class:`KernfsSyscallOps` (cgroupfs creating a cgroup).

A removed entry that is still open fails its reads and writes (ENODEV for kernfs, EIO for proc).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import GeneratorType
from typing import Any, Callable, Generator, Optional

from memsim.registry import ProcFile
from memsim.vfs import (
    FS_REQUIRES_DEV, Dentry, File, FileOperations, FileSystemType, FsContext, Inode, InodeOperations, SuperBlock,
    VfsError, MAY_EXEC, MAY_READ, MAY_WRITE, S_IFDIR, S_IFREG, FMODE_READ, FMODE_WRITE,
)

__all__ = ["PseudoFs", "KernfsSyscallOps", "PseudoAttr", "PROC_FS_TYPE", "SYSFS_TYPE", "DEBUGFS_TYPE",
           "VFS_FILES",
           "proc_dointvec_minmax", "proc_dointvec_jiffies", "proc_doulongvec_minmax", "INT_MAX"]

INT_MAX = (1 << 31) - 1
ULONG_MAX = (1 << 64) - 1
HZ = 1000                           # CONFIG_HZ of both profiles' x86-64 configurations

PROC = "proc"
SYSCTL = "sysctl"
KERNFS = "kernfs"


@dataclass(frozen=True)
class KernfsSyscallOps:
    """``struct kernfs_syscall_ops``: a kernfs tree whose directories users may create and
    remove (cgroupfs).  ``mkdir(parent, name, mode)`` creates the directory with
    :meth:`PseudoFs.mkdir` (and its files) or raises :class:`VfsError`; ``rmdir(dentry)``
    checks and removes it with :meth:`PseudoFs.remove` (EBUSY while it is in use...)."""

    mkdir: Optional[Callable[[Dentry, str, int], None]] = None
    rmdir: Optional[Callable[[Dentry], None]] = None


class PseudoAttr:
    """What a generated file does: its show/store functions and their private data.

    ``store(private, data)`` returns the bytes it took (None: all), or a generator when it may
    sleep (see the module's docstring): the generator yields what task bodies yield and returns
    that count."""

    __slots__ = ("show", "store", "private", "removed", "plugin")

    def __init__(self, show, store, private, plugin):
        self.show = show
        self.store = store
        self.private = private
        self.removed = False
        self.plugin = plugin


# -- sysctl parsing (kernel/sysctl.c) ------------------------------------------------------------

_TMPBUFLEN = 22
_WSPACE_SEP = b" \t\n"
_ISSPACE = b" \t\n\v\f\r"


def _proc_get_long(data: bytes, pos: int):
    """proc_get_long(): (value, negative, new position) of the number at ``pos``; EINVAL for
    anything else than digits (base 0: 0x for hex, a leading 0 for octal) followed by a blank."""
    left = len(data) - pos
    if left <= 0:
        raise VfsError("EINVAL", "no number")
    tmp = data[pos:pos + min(left, _TMPBUFLEN - 1)]
    neg = False
    i = 0
    if tmp[:1] == b"-" and left > 1:
        neg = True
        i = 1
    if i >= len(tmp) or not chr(tmp[i]).isdigit():
        raise VfsError("EINVAL", f"{data[pos:pos + 20]!r} is not a number")
    # strtoul_lenient(p, &p, 0, val)
    j = i
    if tmp[j:j + 2].lower() == b"0x" and j + 2 < len(tmp) and chr(tmp[j + 2]).lower() in "0123456789abcdef":
        base, j = 16, j + 2
        digits = "0123456789abcdef"
    elif tmp[j:j + 1] == b"0":
        base, digits = 8, "01234567"
    else:
        base, digits = 10, "0123456789"
    start = j
    while j < len(tmp) and chr(tmp[j]).lower() in digits:
        j += 1
    value = int(tmp[start:j], base) if j > start else 0
    if value > ULONG_MAX:
        raise VfsError("EINVAL", "the number is too large")
    if j == _TMPBUFLEN - 1:
        raise VfsError("EINVAL", "the number is too long")
    if j < left and tmp[j:j + 1] and tmp[j] not in _WSPACE_SEP:
        raise VfsError("EINVAL", f"{data[pos:pos + 20]!r} is not a number")
    return value, neg, pos + j


def _proc_skip_spaces(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] in _ISSPACE:
        pos += 1
    return pos


def _dointvec(data: bytes, conv) -> tuple:
    """__do_proc_dointvec() for one value: (converted value, bytes consumed)."""
    pos = _proc_skip_spaces(data, 0)
    if pos >= len(data):
        raise VfsError("EINVAL", "no number")
    lval, neg, pos = _proc_get_long(data, pos)
    value = conv(lval, neg)
    pos = _proc_skip_spaces(data, pos)
    return value, pos


def proc_dointvec_minmax(data: bytes, minimum: Optional[int] = None,
                         maximum: Optional[int] = None) -> tuple:
    """proc_dointvec_minmax() for a single int sysctl: ``(value, bytes consumed)``.

    Blanks around the number are skipped, ``0x`` reads hex and a leading ``0`` octal (strtoul
    with base 0); anything else, a value outside [minimum, maximum] or beyond an int is EINVAL.
    Text after the value is left unconsumed (the write returns a short count)."""
    def conv(lval, neg):
        if neg:
            if lval > INT_MAX + 1:
                raise VfsError("EINVAL", "the number does not fit in an int")
            value = -lval
        else:
            if lval > INT_MAX:
                raise VfsError("EINVAL", "the number does not fit in an int")
            value = lval
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise VfsError("EINVAL", f"{value} is out of range")
        return value
    return _dointvec(data, conv)


def proc_dointvec_jiffies(data: bytes) -> tuple:
    """proc_dointvec_jiffies(): seconds in, jiffies out (HZ = 1000); ``(jiffies, consumed)``."""
    def conv(lval, neg):
        if lval > INT_MAX // HZ:
            raise VfsError("EINVAL", "the number is too large")
        return (-lval if neg else lval) * HZ
    return _dointvec(data, conv)


def proc_doulongvec_minmax(data: bytes, minimum: int = 0, maximum: int = ULONG_MAX) -> tuple:
    """proc_doulongvec_minmax() for one value: negative numbers are EINVAL."""
    def conv(lval, neg):
        if neg:
            raise VfsError("EINVAL", "negative number")
        if lval < minimum or lval > maximum:
            raise VfsError("EINVAL", f"{lval} is out of range")
        return lval
    return _dointvec(data, conv)


# -- file operations of generated files ----------------------------------------------------------

def _attr(file: File) -> PseudoAttr:
    return file.f_inode.i_private


def _gone(attr: PseudoAttr, flavour: str) -> None:
    if attr.removed:
        raise VfsError("ENODEV" if flavour == KERNFS else "EIO", "the file was removed")


def _seq_text(file: File, flavour: str) -> bytes:
    attr = _attr(file)
    if file.private_data is None or file.f_pos == 0:
        _gone(attr, flavour)
        text = attr.show(attr.private)
        file.private_data = text.encode() if isinstance(text, str) else bytes(text)
    return file.private_data


def _store_sleeping(file: File, count: int, store: Generator) -> Generator:
    """The end of a write whose store sleeps: run the store's generator, then take its count
    (None: all ``count`` bytes) and move ``f_pos``, as a store that returns does."""
    took = yield from store
    took = count if took is None else int(took)
    file.f_pos += took
    return took


def _make_fops(flavour: str) -> FileOperations:
    def read(file: File, count: int) -> bytes:
        attr = _attr(file)
        if attr.show is None:
            _gone(attr, flavour)
            raise VfsError("EIO" if flavour == PROC else "EINVAL", "the file cannot be read")
        if flavour == SYSCTL and file.f_pos:
            return b""                                  # proc_dointvec: nothing past position 0
        text = _seq_text(file, flavour)
        out = text[file.f_pos:file.f_pos + count]
        file.f_pos += len(out)
        return out

    def write(file: File, data: bytes):
        attr = _attr(file)
        _gone(attr, flavour)
        if attr.store is None:
            raise VfsError("EIO" if flavour == PROC else "EINVAL", "the file cannot be written")
        if flavour == SYSCTL and file.f_pos:
            return len(data)                            # SYSCTL_WRITES_STRICT: ignored
        took = attr.store(attr.private, bytes(data))
        if took is None:
            took = len(data)
        elif isinstance(took, GeneratorType):
            return _store_sleeping(file, len(data), took)
        else:
            took = int(took)
        file.f_pos += took
        return took

    def open(inode: Inode, file: File) -> None:
        if flavour != KERNFS:
            return
        attr: PseudoAttr = inode.i_private
        _gone(attr, flavour)
        if not inode.i_sb.s_fs_info.extra_open_perm_check:
            return                      # cgroupfs: a write without ->write is EINVAL, not EACCES
        # kernfs_fop_open(): the mode and the operations decide, even for root
        if file.f_mode & FMODE_WRITE and (not inode.i_mode & 0o222 or attr.store is None):
            raise VfsError("EACCES", "the file is not writable")
        if file.f_mode & FMODE_READ and (not inode.i_mode & 0o444 or attr.show is None):
            raise VfsError("EACCES", "the file is not readable")

    return FileOperations(read=read, write=write, open=open)


_FOPS = {flavour: _make_fops(flavour) for flavour in (PROC, SYSCTL, KERNFS)}


def _sysctl_permission(inode: Inode, mask: int) -> None:
    """proc_sys_permission() / sysctl_perm() -> test_perm(): root is held to the owner bits."""
    if mask & MAY_EXEC and not inode.is_dir:
        raise VfsError("EACCES", "a sysctl is not executable")
    allowed = (inode.i_mode >> 6) & 7
    if mask & ~allowed & (MAY_READ | MAY_WRITE | MAY_EXEC):
        raise VfsError("EACCES", "the sysctl's mode does not allow it")


def _proc_lookup(dir: Dentry, name: str):
    """proc_lookup() / proc_sys_lookup(): a name that is not there is an error."""
    raise VfsError("ENOENT", f"no entry {name!r}")


class PseudoFs:
    """One tree of generated entries; ``sb`` is the superblock every mount of it shares.

    ``PseudoFs(fs_type, flavour, root_mode=0o555, syscall_ops=None)`` where ``flavour`` is
    ``"proc"`` (procfs, whose ``sys/`` subtree behaves as sysctls) or ``"kernfs"``."""

    def __init__(self, fs_type: FileSystemType, flavour: str, root_mode: int = 0o555,
                 syscall_ops: Optional[KernfsSyscallOps] = None, extra_open_perm_check: bool = True):
        if flavour not in (PROC, KERNFS):
            raise ValueError(f"a pseudo filesystem is 'proc' or 'kernfs', not {flavour!r}")
        self.flavour = flavour
        #: KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK (sysfs): open checks the mode and the operations;
        #: cgroupfs leaves it to the write (EINVAL for a file that takes none)
        self.extra_open_perm_check = extra_open_perm_check
        self.syscall_ops = syscall_ops
        self._dir_iops = {PROC: InodeOperations(lookup=_proc_lookup),
                          SYSCTL: InodeOperations(lookup=_proc_lookup, permission=_sysctl_permission),
                          KERNFS: self._kernfs_dir_iops()}
        self._file_iops = {PROC: InodeOperations(), SYSCTL: InodeOperations(permission=_sysctl_permission),
                           KERNFS: InodeOperations()}
        self.sb = SuperBlock(fs_type, root_mode, self._dir_iops[flavour], fs_info=self)

    def _kernfs_dir_iops(self) -> InodeOperations:
        scops = self.syscall_ops
        if scops is None:
            return InodeOperations()

        def mkdir(dir: Dentry, name: str, mode: int) -> Dentry:
            if scops.mkdir is None:
                raise VfsError("EPERM", "directories cannot be made here")
            scops.mkdir(dir, name, mode)
            child = dir.d_subdirs.get(name)
            if child is None:
                raise VfsError("EIO", f"mkdir of {name!r} made no directory")
            return child

        def rmdir(dir: Dentry, victim: Dentry) -> None:
            if scops.rmdir is None:
                raise VfsError("EPERM", "directories cannot be removed here")
            scops.rmdir(victim)

        return InodeOperations(mkdir=mkdir if scops.mkdir else None,
                               rmdir=rmdir if scops.rmdir else None)

    def _flavour_at(self, parts) -> str:
        if self.flavour == PROC and parts and parts[0] == "sys":
            return SYSCTL
        return self.flavour

    @staticmethod
    def _parts(path: str):
        parts = [p for p in path.split("/") if p and p != "."]
        if any(p == ".." for p in parts):
            raise ValueError(f"{path!r}: '..' is not allowed in a pseudo filesystem path")
        return parts

    @property
    def default_dir_mode(self) -> int:
        return 0o555 if self.flavour == PROC else 0o755

    def lookup(self, path: str) -> Optional[Dentry]:
        """The entry at ``path`` (relative to the tree's root), or None."""
        d = self.sb.s_root
        for name in self._parts(path):
            d = d.d_subdirs.get(name)
            if d is None:
                return None
        return d

    def __contains__(self, path: str) -> bool:
        return self.lookup(path) is not None

    def mkdir(self, path: str, mode: Optional[int] = None, private: Any = None) -> Dentry:
        """proc_mkdir() / kernfs_create_dir(): a directory, and its missing parents (an existing
        directory is returned as it is).  ``mode`` defaults to 0555 (proc) or 0755 (kernfs)."""
        parts = self._parts(path)
        d = self.sb.s_root
        for i, name in enumerate(parts):
            child = d.d_subdirs.get(name)
            if child is None:
                flavour = self._flavour_at(parts[:i + 1])
                m = mode if (mode is not None and i == len(parts) - 1) else self.default_dir_mode
                inode = self.sb.new_inode(S_IFDIR | (m & 0o7777), self._dir_iops[flavour],
                                          private=private if i == len(parts) - 1 else None)
                child = self.sb.d_alloc(d, name, inode)
            elif not child.d_inode.is_dir:
                raise VfsError("ENOTDIR", f"{'/'.join(parts[:i + 1])} is a file")
            d = child
        return d

    def create_file(self, path: str, show: Optional[Callable[[Any], str]] = None,
                    store: Optional[Callable[[Any, bytes], Optional[int]]] = None,
                    mode: Optional[int] = None, private: Any = None, plugin: str = "core") -> Dentry:
        """proc_create_single_data() / kernfs_create_file(): a file (its parent directories are
        made as needed).  ``mode`` defaults to 0444, 0644 with ``store`` or 0200 with ``store``
        alone.  EEXIST if the name exists.  ``store`` may return a generator: a write that
        sleeps (the module's docstring)."""
        parts = self._parts(path)
        if not parts:
            raise ValueError("a file needs a name")
        if show is None and store is None:
            raise ValueError(f"{path}: a file needs show, store or both")
        parent = self.mkdir("/".join(parts[:-1])) if len(parts) > 1 else self.sb.s_root
        if mode is None:
            mode = (0o444 if show is not None else 0) | (0o200 if store is not None else 0)
        flavour = self._flavour_at(parts)
        inode = self.sb.new_inode(S_IFREG | (mode & 0o7777), self._file_iops[flavour], _FOPS[flavour],
                                  PseudoAttr(show, store, private, plugin))
        return self.sb.d_alloc(parent, parts[-1], inode)

    def remove(self, path: str) -> None:
        """remove_proc_subtree() / kernfs_remove(): the entry and everything below it; files
        still open fail from now on.  ENOENT if there is no such entry."""
        d = self.lookup(path)
        if d is None:
            raise VfsError("ENOENT", f"{path} does not exist")
        if d.is_root:
            raise VfsError("EBUSY", "the root of the tree")

        def mark(x: Dentry) -> None:
            if isinstance(x.d_inode.i_private, PseudoAttr):
                x.d_inode.i_private.removed = True
            for c in x.d_subdirs.values():
                mark(c)
        mark(d)
        self.sb.d_delete(d)


# -- the procfs and sysfs filesystem types ------------------------------------------------------

_PROC_OPTIONS = ("hidepid", "gid", "subset")


def _proc_mount(fc: FsContext) -> SuperBlock:
    """proc_get_tree(): every mount shows the machine's one procfs tree; proc_parse_param()
    accepts hidepid=, gid= and subset=."""
    for key, value in fc.options:
        if key not in _PROC_OPTIONS or value is None:
            raise VfsError("EINVAL", f"proc: unknown parameter {key!r}")
    return fc.machine.procfs.sb


def _sysfs_mount(fc: FsContext) -> SuperBlock:
    """sysfs_get_tree(): the machine's one sysfs tree; sysfs takes no options."""
    for key, _ in fc.options:
        raise VfsError("EINVAL", f"sysfs: unknown parameter {key!r}")
    return fc.machine.sysfs.sb


def _debugfs_mount(fc: FsContext) -> SuperBlock:
    """debugfs_get_tree(): the machine's one debugfs tree (mounted at /sys/kernel/debug at
    boot, as systemd mounts it); debugfs_parse_param() accepts uid=, gid= and mode=."""
    for key, value in fc.options:
        if key not in ("uid", "gid", "mode") or value is None:
            raise VfsError("EINVAL", f"debugfs: unknown parameter {key!r}")
    return fc.machine.debugfs.sb


PROC_FS_TYPE = FileSystemType("proc", "process and kernel information, sysctls under /proc/sys",
                              _proc_mount)
DEBUGFS_TYPE = FileSystemType("debugfs", "kernel debugging knobs (fault_around_bytes, ...)",
                              _debugfs_mount)
SYSFS_TYPE = FileSystemType("sysfs", "kernel objects: NUMA nodes, mm settings, hugepage pools",
                            _sysfs_mount)


# -- the VFS's own files ----------------------------------------------------------------------------

def filesystems_text(machine) -> str:
    """/proc/filesystems (filesystems_proc_show): ``nodev`` before a type that needs no device."""
    return "".join(f"{'' if fs.fs_flags & FS_REQUIRES_DEV else 'nodev'}\t{fs.name}\n"
                   for fs in machine.vfs.filesystems.values())


def mounts_text(machine) -> str:
    """/proc/mounts (show_vfsmnt): source, mount point, type, rw/ro with relatime and the mount
    options, and two zeros."""
    vfs = machine.vfs
    out = []
    for mnt in vfs.mounts():
        opts = ["ro" if mnt.readonly else "rw", "relatime"]
        opts += [k if v is None else f"{k}={v}" for k, v in mnt.mnt_options]
        point = vfs.mount_point(mnt).replace(" ", "\\040")
        out.append(f"{mnt.mnt_devname} {point} {mnt.mnt_sb.s_type.name} {','.join(opts)} 0 0\n")
    return "".join(out)


#: The files of the VFS itself, created at boot.
def _dentry_state(machine) -> str:
    from memsim.dcache import dentry_state_text
    return dentry_state_text(machine)


def _inode_nr(machine) -> str:
    from memsim.dcache import inode_nr_text
    return inode_nr_text(machine)


def _inode_state(machine) -> str:
    from memsim.dcache import inode_state_text
    return inode_state_text(machine)


VFS_FILES = (
    ProcFile("/proc/filesystems", "the filesystem types a mount can create", filesystems_text),
    ProcFile("/proc/mounts", "the mounts of the namespace: source, mount point, type, options",
             mounts_text),
    ProcFile("/proc/sys/fs/dentry-state", "the dentry cache: nr_dentry, nr_unused (on a dentry "
             "LRU), age_limit 45, want_pages, nr_negative (0: not modelled), dummy",
             _dentry_state),
    ProcFile("/proc/sys/fs/inode-nr", "nr_inodes and nr_unused (on an inode LRU) of the slab "
             "inodes", _inode_nr),
    ProcFile("/proc/sys/fs/inode-state", "nr_inodes, nr_unused and five zeros", _inode_state),
)
