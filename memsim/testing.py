"""``memsim.testing``: a pytest plugin for people who test memsim plugins (STYLE 14).

Installed through the ``pytest11`` entry point, it offers fixtures:

- ``memsim_machine(**spec)``: build a small machine (1 CPU, 64 MiB by default) with the
  kmem events bound and the plugins' filesystem types, static /proc and /sys files and
  /proc/meminfo lines installed (``memsim_machine_created`` is not called), optionally
  enabling events: ``m = memsim_machine(events=["kmem:*"])``, and booting with given
  options: ``memsim_machine(boot=BootOptions(...))``;
- ``memsim_run(yaml_text, plugins=(), events=("*:*",), check=True)``: load and run a workload
  text with the installed plugins plus ``plugins`` (objects with hookimpls); returns the Run;
- ``trace_lines(run_or_machine)``: the kernel-format trace lines recorded so far (no header).

a check for event declarations: ``assert_format_is_the_live_kernels(decls, system, event)``
compares the format file memsim prints for ``system:event`` with the one copied from the live
6.18 kernel into memsim.tracing's catalog and, where tracefs has the event, the live file; and
``proc_layout(text, aligned)``, a /proc or /sys file's text with its numbers masked, to compare
the layout of a file memsim prints with a copy of the kernel's; and :class:`RamFilesPlugin`, a
small filesystem of regular files (``mount -t ramfiles``) for testing the file calls and steps.
"""
from __future__ import annotations

import io
import os
import re
from typing import Iterable, List, Sequence

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType


def build_machine(events: Sequence[str] = (), plugins: Iterable = (), boot=None, **spec):
    """A Machine with the registered events of every installed plugin bound to it; ``boot`` is a
    :class:`memsim.boot.BootOptions` (defaults when None).  No plugin hook is called."""
    from memsim.machine import Machine, MachineSpec
    from memsim.plugin_host import collect_registries, get_plugin_manager
    from memsim.profiles import get_profile
    spec.setdefault("nodes", (64 << 20,))
    ms = MachineSpec(**spec)
    pm = get_plugin_manager(extra_plugins=tuple(plugins))
    registries, reg = collect_registries(pm, get_profile(ms.kernel))
    if events:
        reg.enable(list(events))
    return Machine(ms, reg, boot=boot, registries=registries)


def with_page_cache(machine):
    """Give a machine built without plugin hooks (``Machine(...)``, :func:`build_machine`) what
    the page-cache plugin's memsim_machine_created hook gives a run's machine: diskfs and tmpfs
    registered, the disk mounted at /mnt/disk, and ``machine.files`` backing the mmap types
    file, file-shared (diskfs files) and shared (shmem).  Returns the machine."""
    from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT, DISKFS_TYPE, mount_boot_disk
    from memsim.plugins.pagecache.mmap_files import PageCacheFiles
    from memsim.plugins.pagecache.tmpfs import tmpfs_type
    for fs_type in (DISKFS_TYPE, tmpfs_type()):
        if fs_type.name not in machine.vfs.filesystems:
            machine.vfs.register_filesystem(fs_type)
    if not any(machine.vfs.mount_point(mnt) == DISKFS_MOUNT_POINT for mnt in machine.vfs.mounts()):
        mount_boot_disk(machine)
    machine.files = PageCacheFiles(machine)
    return machine


def hold_open(machine, task, name) -> int:
    """Open the file a ``type: file`` mapping of ``name`` maps (``/mnt/disk/NAME``) read-only in
    ``task``'s fd table, once per machine and name, and keep it open: a process holding its
    file, so the file's dentry is in use and reclaim's slab shrinking leaves the dentry and the
    inode alone (an unused one would be pruned, and v5.14 would evict the inode, shadows and
    all).  Returns the fd."""
    from memsim.plugins.pagecache.mmap_files import mapped_file_path
    from memsim.vfs import O_RDONLY
    held = machine.plugin_state.setdefault("testing.held_open", {})
    if name not in held:
        held[name] = machine.vfs.open(task.files, mapped_file_path(name), O_RDONLY)
    return held[name]


def run_text(text: str, plugins: Iterable = (), events: Sequence[str] = ("*:*",), check: bool = True,
             filename: str = "test.yaml", seed=None, disabled: Sequence[str] = ()):
    """Load ``text`` as a workload and run it; returns the :class:`~memsim.workload.runner.Run`.
    The registries are those of the workload's kernel profile and seed-change states
    (``machine.patches``), as ``memsim run`` collects them.  ``disabled`` names installed
    plugins to leave out (``-p no:NAME``)."""
    from memsim.plugin_host import get_plugin_manager
    from memsim.workload.runner import Run
    from memsim.workload.variant import Host, WorkloadSource
    host = Host(pm=get_plugin_manager(disabled=tuple(disabled), extra_plugins=tuple(plugins)))
    prepared = host.prepare(WorkloadSource(filename, text), events=list(events))
    return Run(prepared.workload, prepared.registries, prepared.events, host.pm, check=check,
               seed=seed).execute()


def task_summary(run, name: str) -> dict:
    """The run summary's entry of the task called ``name`` (rss, faults, status, signals)."""
    for t in run.summary()["tasks"]:
        if t["name"] == name:
            return t
    raise KeyError(f"no task {name!r} in the run")


def trace_text(run_or_machine, header: bool = False) -> str:
    from memsim.tracing.text import TextRenderer
    machine = getattr(run_or_machine, "machine", run_or_machine)
    buf = io.StringIO()
    TextRenderer(machine.events, machine.profile.name, machine.comms, machine.ptr_key).render(machine.tb, buf)
    text = buf.getvalue()
    if not header:
        text = "".join(l for l in text.splitlines(True) if not l.startswith("#"))
    return text


def dialect_neutral(payload: str) -> str:
    """A payload with what the kernel's text and ``trace-cmd report`` print differently for the
    same record masked out (FORMAT-NOTES 6), for comparing the two:

    * ``page=%p``, ``folio=%p`` and ``ptr=%p``: the kernel prints a hashed pointer, trace-cmd
      the value;
    * ``call_site=%pS``: the kernel prints ``sym+off/size``, libtraceevent ``sym+off``;
    * trace-cmd's kmem plugin puts ``(sym+off) `` before the kmalloc/kfree/kmem_cache_* payload.
    """
    import re
    payload = re.sub(r"^\([^)]*\) ", "", payload)
    payload = re.sub(r"\b(page|folio|ptr)=\S+", r"\1=*", payload)
    return re.sub(r"\bcall_site=(\S+?)/0x[0-9a-f]+", r"call_site=\1", payload)


def proc_layout(text: str, aligned: str = "right") -> str:
    """The layout of a /proc or /sys file's ``text`` with its numbers masked, for comparing a file
    memsim prints with a copy of the kernel's taken on another machine: labels, their order,
    units and columns stay, the values go.

    ``aligned="right"`` for numbers printed right-aligned in a field (``%8lu kB``, ``%6lu``):
    each, with the blanks in front of it, becomes ``<C>``, C the column its field ends at.
    ``aligned="left"`` for numbers printed after a label (``%-12s %lu``, ``name value``): each
    becomes ``N``, so the text before it must be the same.
    """
    import re
    if aligned == "left":
        return re.sub(r"(?<![A-Za-z_])\d+", "N", text)
    if aligned != "right":
        raise ValueError(f"aligned is 'left' or 'right', not {aligned!r}")
    return "\n".join(re.sub(r" +\d+", lambda m: f"<{m.end()}>", line) for line in text.split("\n"))


@pytest.fixture
def memsim_machine():
    return build_machine


@pytest.fixture
def memsim_run():
    return run_text


@pytest.fixture
def trace_lines():
    def lines(run_or_machine) -> List[str]:
        return trace_text(run_or_machine).splitlines()
    return lines


def build_extension(pyx_path, build_dir):
    """Compile a Cython plugin module (``pyx_path``) against the installed memsim ``.pxd`` files
    and import it: for testing plugins written in Cython without packaging them first.  Needs
    Cython and a C compiler; the build is cached in ``build_dir`` (rebuilt when the source or
    memsim's .pxd files change)."""
    import hashlib
    import importlib.util
    import os
    import sys

    import memsim

    pyx_path = os.path.abspath(str(pyx_path))
    name = os.path.splitext(os.path.basename(pyx_path))[0]
    include = os.path.dirname(os.path.dirname(os.path.abspath(memsim.__file__)))
    digest = hashlib.sha256(open(pyx_path, "rb").read())
    pxd_dir = os.path.dirname(os.path.abspath(memsim.__file__))
    for pxd in sorted(os.listdir(pxd_dir)):
        if pxd.endswith(".pxd"):
            digest.update(open(os.path.join(pxd_dir, pxd), "rb").read())
    out = os.path.join(str(build_dir), f"{name}-{digest.hexdigest()[:16]}")
    os.makedirs(out, exist_ok=True)
    built = [f for f in os.listdir(out) if f.startswith(name + ".") and f.endswith((".so", ".pyd"))]
    if not built:
        from setuptools import Distribution, Extension     # before Cython (it may load distutils)
        from Cython.Build import cythonize
        ext = Extension(name, [pyx_path], extra_compile_args=["-O2", "-Wno-unused-function"])
        dist = Distribution({"ext_modules": cythonize([ext], include_path=[include], quiet=True,
                                                      build_dir=out,
                                                      compiler_directives={"language_level": "3"})})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = out
        cmd.build_temp = os.path.join(out, "tmp")
        cmd.ensure_finalized()
        cmd.run()
        built = [f for f in os.listdir(out) if f.startswith(name + ".") and f.endswith((".so", ".pyd"))]
    spec = importlib.util.spec_from_file_location(name, os.path.join(out, built[0]))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _drop_id(text: str) -> str:
    return re.sub(r"^ID: \d+\n", "", text, flags=re.M)


def assert_format_is_the_live_kernels(decls, system: str, event: str) -> None:
    """``decls``: the v6.18 EventDecls of ``system``.  The format file memsim prints for
    ``system:event`` equals memsim.tracing's catalog/v6.18 copy of the live 6.18 kernel's and, on
    a machine whose /sys/kernel/tracing has the event, the live file (the ID line aside: IDs are
    assigned per machine)."""
    from memsim import tracing
    from memsim.tracing.events import EventRegistry
    from memsim.tracing.formatfile import format_file
    reg = EventRegistry()
    for d in decls:
        reg.add(d)
    ours = _drop_id(format_file(reg.get(f"{system}:{event}"), 1))
    catalog = os.path.join(os.path.dirname(tracing.__file__), "catalog", "v6.18", system, event, "format")
    with open(catalog) as f:
        assert ours == _drop_id(f.read()), f"{system}:{event} differs from {catalog}"
    try:
        with open(f"/sys/kernel/tracing/events/{system}/{event}/format") as f:
            live = f.read()
    except OSError:
        return
    assert ours == _drop_id(live), f"{system}:{event} differs from the live kernel's"


class Snap:
    """A test plugin with the step ``snap: {label}``, which records ``fn(ctx)`` at that point of
    the run in ``seen[label]`` (``run_text(text, plugins=[snap])``)."""

    def __init__(self, fn):
        self.fn = fn
        self.seen = {}

    def run(self, ctx, step):
        self.seen[step.args["label"]] = self.fn(ctx)

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("snap", "a test's look at the machine", (
            Param("label", "str", "what to call it", required=True),), self.run, plugin="t"))


class RamFilesPlugin:
    """A plugin with ``ramfiles``, a small in-memory filesystem of regular files for testing the
    VFS's file calls and steps without the page-cache plugin: create, unlink, setattr
    (truncate), read_iter/write_iter on a bytearray per inode, fsync (counted), fallocate
    (FALLOC_FL_PUNCH_HOLE zeroes the range), mmap through the page cache of ``i_mapping`` under
    the page-cache plugin's generic a_ops (a :class:`~memsim.plugins.pagecache.filemap.Filemap`
    of its own: its bytes are not those of read/write), and a record of the inodes evicted
    (``sb.s_fs_info["evicted"]``, inode numbers).  ``mount -t ramfiles`` makes one; its
    superblock's ``s_dev`` is 0:60 plus the mount's order."""

    __name__ = "ramfiles"

    def __init__(self):
        self.mounts = 0

    @hookimpl
    def memsim_register_filesystems(self, filesystems):
        from memsim.vfs import FileSystemType
        filesystems.add(FileSystemType("ramfiles", "regular files in memory (tests)", self.mount,
                                       plugin="ramfiles"))

    def mount(self, fc):
        from memsim.mm import AddressSpace
        from memsim.vfs import (FileOperations, Inode, InodeOperations, S_IFREG, SuperBlock,
                                SuperOperations, FALLOC_FL_PUNCH_HOLE, i_size_write, simple_unlink)

        def read_iter(file, pos, count, buf):
            data = file.f_inode.i_private
            got = data[pos:pos + count] if pos < file.f_inode.i_size else b""
            if buf is not None:
                buf += got
            return len(got)

        def write_iter(file, pos, chunk):
            inode = file.f_inode
            data = inode.i_private
            if len(data) < pos + len(chunk):
                data.extend(bytes(pos + len(chunk) - len(data)))
            data[pos:pos + len(chunk)] = chunk
            if pos + len(chunk) > inode.i_size:
                i_size_write(inode, pos + len(chunk))
            return len(chunk)

        def fsync(file, start, end, datasync):
            info["fsyncs"] += 1

        def fallocate(file, mode, offset, length):
            inode = file.f_inode
            if mode & FALLOC_FL_PUNCH_HOLE:
                end = min(offset + length, len(inode.i_private))
                if offset < end:
                    inode.i_private[offset:end] = bytes(end - offset)
            elif offset + length > inode.i_size:
                i_size_write(inode, offset + length)

        def mmap(file, vma):
            info["mmaps"] += 1

        fops = FileOperations(read_iter=read_iter, write_iter=write_iter, fsync=fsync,
                              fallocate=fallocate, mmap=mmap)

        def setattr(dentry, size):
            inode = dentry.d_inode
            del inode.i_private[size:]
            i_size_write(inode, size)

        def create(dir, name, mode):
            inode = sb.new_inode(S_IFREG | mode, FILE_IOPS, fops, bytearray())
            inode.i_mapping = AddressSpace(inode.i_ino, name, False, sb.s_dev, 0)
            inode.i_mapping.host = inode
            filemap.install(inode.i_mapping)
            return sb.d_alloc(dir, name, inode)

        def evict_inode(inode):
            info["evicted"].append(inode.i_ino)

        FILE_IOPS = InodeOperations(setattr=setattr)
        DIR_IOPS = InodeOperations(create=create, unlink=simple_unlink)
        info = {"evicted": [], "fsyncs": 0, "mmaps": 0}
        from memsim.plugins.pagecache.filemap import Filemap
        filemap = Filemap(fc.machine.mmcore, fc.machine.physmem)
        self.mounts += 1
        sb = SuperBlock(fc.fs_type, 0o755, DIR_IOPS, fs_info=info,
                        s_op=SuperOperations(evict_inode=evict_inode), s_dev=(0 << 20) | (59 + self.mounts))
        return sb
