"""What backs a workload's ``type: file|file-shared`` and ``type: shared`` mappings: the
page-cache plugin's :class:`memsim.vm.MmapFiles` (``machine.files``).

A mapping of a file by name (``file: NAME``) maps the diskfs file ``/mnt/disk/NAME`` (an
absolute ``NAME`` is that path, on whatever filesystem is mounted there), as a program would:
open(O_RDWR | O_CREAT, 0666 & ~umask), ftruncate up to the end of the mapping if the file is
shorter (a new file is sparse, as on ext4), mmap, close (:meth:`PageCacheFiles.file_mapped`).  The VMA keeps the inode (its
reference from do_mmap()), so the file's pages live in its i_pages under diskfs's a_ops:
faults read the file's blocks back from its backing store, reclaim writes dirty pages there
and leaves shadows, and the file outlives the mapping like any file on the disk.

A shared anonymous mapping gets its shmem object from shmem_zero_setup() (a ``dev/zero`` file
on shm_mnt, :meth:`memsim.plugins.pagecache.tmpfs.Tmpfs.shmem_zero_setup`).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from memsim.mm import AddressSpace, VmArea
from memsim.vfs import O_CREAT, O_RDWR, VfsError, do_truncate, fput
from memsim.vm import MmapFiles, MmError

__all__ = ["PageCacheFiles", "mapped_file_path"]


def mapped_file_path(name: Optional[str]) -> str:
    """The path of the file a mapping names: ``/mnt/disk/NAME``, or ``NAME`` if absolute (a
    mapping without a name, from tests, maps ``/mnt/disk/file``)."""
    from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT
    name = name or "file"
    return name if name.startswith("/") else f"{DISKFS_MOUNT_POINT}/{name}"


class PageCacheFiles(MmapFiles):
    """``machine.files`` with the page-cache plugin: files on its filesystems, shmem for shared
    anonymous memory (see the module)."""

    def __init__(self, machine: Any):
        self.machine = machine
        self._names: Dict[Optional[str], None] = {}     # names mapped so far, in order
        self._filp = None                   # the file open for the mapping being made

    @property
    def files(self) -> Dict[Optional[str], AddressSpace]:
        """{name: mapping} of the files mapped by name so far that still exist (a path
        unlinked since is left out), in the order first mapped."""
        out = {}
        for name in self._names:
            try:
                path = self.machine.vfs.path_lookup(mapped_file_path(name))
            except VfsError:
                continue
            mapping = path.dentry.d_inode.i_mapping
            if mapping is not None:
                out[name] = mapping
        return out

    def file(self, name: Optional[str], min_size: int) -> AddressSpace:
        """open(O_RDWR | O_CREAT) of :func:`mapped_file_path` and ftruncate to ``min_size`` if
        shorter: the file's mapping, which do_mmap() pins; the file is closed once the VMA
        holds it (:meth:`file_mapped`), so its dentry is never unused meanwhile.  An open or
        truncate that fails is the mmap step's errno (ENOENT for a missing directory, ENODEV
        for what cannot be mapped)."""
        self.file_mapped()
        path = mapped_file_path(name)
        try:
            filp = self.machine.vfs.do_filp_open(path, O_RDWR | O_CREAT, 0o666)
        except VfsError as e:
            raise MmError(e.errno, f"{path}: {e.detail}") from None
        try:
            if filp.f_mapping is None or filp.f_op.mmap is None:
                raise MmError("ENODEV", f"{path} cannot be mapped")
            if filp.f_inode.i_size < min_size:
                do_truncate(filp.f_path.dentry, min_size)
            self._names.setdefault(name, None)
        except (VfsError, MmError) as e:
            fput(filp)
            raise MmError(e.errno, f"{path}: {e.detail}") from None
        self._filp = filp
        return filp.f_mapping

    def file_mapped(self) -> None:
        """close() of the file :meth:`file` opened, after mmap."""
        filp, self._filp = self._filp, None
        if filp is not None:
            fput(filp)

    def shmem_zero_setup(self, vma: VmArea) -> None:
        """shmem_zero_setup(vma): a ``dev/zero`` object on shm_mnt (memsim.plugins.pagecache.tmpfs)."""
        from memsim.plugins.pagecache.tmpfs import shmem_zero_setup
        shmem_zero_setup(self.machine, vma)
