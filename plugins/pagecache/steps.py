"""The page-cache plugin's workload steps: ``memfd_create``, ``add_seals`` (fcntl F_ADD_SEALS)
and ``create_files`` (many files at once, for the ``no-nrexceptional`` demo).

``memfd_create`` binds its fd to a name the core's fd steps (read, write, pread, pwrite,
ftruncate, fallocate, close, mmap ``type: fd``/``fd-shared``...) take, as ``open`` does.
"""
from __future__ import annotations

from typing import AbstractSet, Any, Mapping

from memsim.errors import InvalidValue
from memsim.registry import Param, StepType
from memsim.vfs import O_CREAT, O_WRONLY, VfsError

from .memfd import MFD_FLAGS, SEALS, memfd_add_seals, memfd_create

__all__ = ["step_types"]

#: emulated cost of one file system call (the core's fd steps use the same)
VFS_SYSCALL_NS = 500


def _vfs_errno(ctx, e: VfsError, what: str) -> None:
    ctx.set_errno(e.errno, f"{what}: {e.detail}" if e.detail else what)


def _check_unique(args: Mapping[str, Any], key: str, step: str) -> None:
    seen = set()
    for i, flag in enumerate(args[key]):
        if flag in seen:
            raise InvalidValue(f"{flag} is given twice in {step}.{key}", "list each one once",
                               key=(key, i))
        seen.add(flag)


def _check_memfd_create(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _check_unique(args, "flags", "memfd_create")
    if args.get("memfd_name") is None:
        args = {**args, "memfd_name": args["name"]}
    return args


def _check_add_seals(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _check_unique(args, "seals", "add_seals")
    return args


def _check_dir(value: str) -> str:
    if not value.startswith("/"):
        raise InvalidValue(f"{value!r} is not an absolute path",
                           f"write it from the root, e.g. '/{value.lstrip('./')}'")
    return value


def _check_prefix(value: str) -> str:
    if not value or "/" in value or "\0" in value:
        raise InvalidValue(f"{value!r} cannot start a file name",
                           "give a non-empty prefix without '/', e.g. f")
    return value


def run_memfd_create(ctx, step):
    """memfd_create(2) through the task's fd table; the name is bound to the fd (or unbound on
    failure, as open's is)."""
    a = step.args
    flags = 0
    for f in a["flags"]:
        flags |= MFD_FLAGS[f]
    ctx.data.fds.pop(a["name"], None)
    ctx.advance(VFS_SYSCALL_NS)
    try:
        fd = memfd_create(ctx.machine, ctx.task.files, a["memfd_name"], flags)
    except VfsError as e:
        _vfs_errno(ctx, e, f"memfd_create {a['memfd_name']}")
        return
    ctx.data.fds[a["name"]] = fd


def run_add_seals(ctx, step):
    """fcntl(fd, F_ADD_SEALS, seals): EBADF for a closed fd, then memfd_add_seals()."""
    a = step.args
    seals = 0
    for s in a["seals"]:
        seals |= SEALS[s]
    ctx.advance(VFS_SYSCALL_NS)
    try:
        file = ctx.task.files.fget(ctx.data.fds.get(a["fd"], -1))
        memfd_add_seals(ctx.machine, file, seals)
    except VfsError as e:
        _vfs_errno(ctx, e, f"add_seals to fd {a['fd']}")


def run_create_files(ctx, step):
    """``count`` times: open(``dir``/``prefix``N, O_WRONLY|O_CREAT), a write of ``size`` zero
    bytes (none for 0), close -- each file a real inode of the filesystem that holds ``dir``.
    The first failure sets the step's errno and stops it."""
    a = step.args
    vfs, files = ctx.machine.vfs, ctx.task.files
    data = bytes(a["size"])
    for i in range(a["count"]):
        path = f"{a['dir'].rstrip('/')}/{a['prefix']}{i}"
        ctx.advance(VFS_SYSCALL_NS)
        try:
            fd = vfs.open(files, path, O_WRONLY | O_CREAT, 0o644)
        except VfsError as e:
            _vfs_errno(ctx, e, f"create_files: open {path}")
            return
        try:
            done = 0
            while done < len(data):
                ctx.advance(VFS_SYSCALL_NS)
                done += files.write(fd, data[done:])
        except VfsError as e:
            _vfs_errno(ctx, e, f"create_files: write {path}")
            return
        finally:
            ctx.advance(VFS_SYSCALL_NS)
            files.close_fd(fd)


def step_types():
    """The plugin's StepTypes."""
    return (
        StepType(
            "memfd_create",
            "Create an anonymous shared-memory file (memfd_create(2)) and name its fd for the later "
            "fd steps (read, write, ftruncate, mmap type fd-shared...); a failure sets the errno "
            "for an expect.",
            (Param("name", "str", "name of the new fd, for the later steps (unique in the task)",
                   required=True, defines="fd"),
             Param("memfd_name", "str", "the name memfd_create gets (/memfd:NAME in maps; default: "
                   "the fd's name)"),
             Param("flags", "list", "MFD_* flags, each at most once", default=(),
                   of=Param("flag", "enum", "a memfd_create flag", choices=tuple(MFD_FLAGS)))),
            run_memfd_create, plugin="pagecache",
            example="- memfd_create: {name: buf, flags: [MFD_ALLOW_SEALING]}",
            check=_check_memfd_create),
        StepType(
            "add_seals",
            "Seal an open memfd (fcntl F_ADD_SEALS): F_SEAL_WRITE makes writes, hole punches and "
            "shared writable mappings fail with EPERM, F_SEAL_SHRINK / F_SEAL_GROW size changes, "
            "F_SEAL_SEAL further seals.",
            (Param("fd", "str", "name of the open memfd (an earlier memfd_create's name)",
                   required=True, refers="fd"),
             Param("seals", "list", "F_SEAL_* seals to add, each at most once", required=True,
                   of=Param("seal", "enum", "a seal", choices=tuple(SEALS)))),
            run_add_seals, plugin="pagecache",
            example="- add_seals: {fd: buf, seals: [F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE]}",
            check=_check_add_seals),
        StepType(
            "create_files",
            "Create many files at once: for each N below count, open DIR/PREFIXN with O_CREAT, "
            "write size zero bytes, close; each is a real inode (a slab object) of the "
            "filesystem holding dir.",
            (Param("dir", "str", "absolute path of the directory to create them in", required=True,
                   check=_check_dir),
             Param("count", "int", "how many files", required=True, minimum=1, maximum=1 << 20),
             Param("size", "size", "bytes written to each file", default=0, minimum=0,
                   maximum=1 << 30),
             Param("prefix", "str", "start of each file's name (then its number)", default="f",
                   check=_check_prefix)),
            run_create_files, plugin="pagecache",
            example="- create_files: {dir: /mnt/tmp, count: 5000, size: 4 KiB}"),
    )
