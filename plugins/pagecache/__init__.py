"""The page cache: filesystems whose files live in the core's ``i_pages`` (issue 12).

A disk-backed filesystem of regular files whose contents survive eviction (``diskfs``,
``filemap``), tmpfs/shmem and ``memfd_create`` (``tmpfs``, ``shmem``, ``memfd``), inode lifetime
with slab inodes and the inode shrinker (``inode``), the workload steps ``memfd_create``,
``add_seals`` and ``create_files`` (``steps``), the files behind the mmap types ``file``,
``file-shared`` and ``shared`` (``mmap_files``), and the ``no-nrexceptional`` seed change
(``patch``); docs/architecture.md describes them ("The page-cache plugin: ..." sections).  Each fills in the core's typed ``address_space_operations``
(memsim/mm.pxd) for its mappings; nothing here runs per page from Python.

The ``XArray``/``AddressSpace`` storage stays in the core (memsim/mm.pyx), so reclaim, the
workingset shadow-node shrinker, truncate and ``--check`` work on these mappings unchanged.
"""
from __future__ import annotations

from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec

MEMSIM_PLUGIN = PluginSpec(requires=("kmem", "core_steps"))


@hookimpl
def memsim_register_patches(patches):
    """The no-nrexceptional seed change (memsim.plugins.pagecache.patch)."""
    from memsim.plugins.pagecache.patch import patch_impl
    patches.add(patch_impl())


@hookimpl
def memsim_machine_configure(options, config):
    """no-nrexceptional off: ``options.slab.nrexceptional`` (inodes 8 bytes larger, their
    mappings keep the counter)."""
    from memsim.plugins.pagecache.patch import configure
    configure(options, config)


@hookimpl(trylast=True)     # after kmem's: its events keep the live kernel's IDs
def memsim_register_events(events, profile, patch_states):
    from memsim.tracing.filemap import filemap_events
    for decl in filemap_events(profile.name):     # add/delete/fault from the core's C code
        events.add(decl)


@hookimpl
def memsim_register_filesystems(filesystems):
    """diskfs (regular files on an emulated disk: memsim.plugins.pagecache.diskfs) and tmpfs
    (memsim.plugins.pagecache.tmpfs)."""
    from memsim.plugins.pagecache.diskfs import DISKFS_TYPE
    from memsim.plugins.pagecache.tmpfs import tmpfs_type
    filesystems.add(DISKFS_TYPE)
    filesystems.add(tmpfs_type())


@hookimpl
def memsim_register_steps(steps):
    """memfd_create, add_seals, create_files (memsim.plugins.pagecache.steps)."""
    from memsim.plugins.pagecache.steps import step_types
    for st in step_types():
        steps.add(st)


@hookimpl
def memsim_machine_created(machine, config):
    """Mount the machine's disk (diskfs at /mnt/disk), and back the mmap types file,
    file-shared and shared with its files and shmem (``machine.files``:
    memsim.plugins.pagecache.mmap_files)."""
    from memsim.plugins.pagecache.diskfs import mount_boot_disk
    from memsim.plugins.pagecache.mmap_files import PageCacheFiles
    mount_boot_disk(machine)
    machine.files = PageCacheFiles(machine)


@hookimpl
def memsim_check_invariants(machine, full):
    """--check of the disk files' page caches and backing stores, of tmpfs, and of the
    no-nrexceptional switch on every inode's mapping (the walks of large files at the
    end-of-run check only)."""
    from memsim.plugins.pagecache import diskfs, patch, tmpfs
    return (diskfs.check_invariants(machine, full) + tmpfs.check_invariants(machine, full)
            + patch.check_invariants(machine))

