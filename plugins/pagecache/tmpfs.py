"""tmpfs (mm/shmem.c): a filesystem whose files live only in the page cache, the internal
``shm_mnt`` behind memfd_create() and shared anonymous memory, and shmem_zero_setup().

The per-page work is :mod:`memsim.plugins.pagecache.shmem` (C); this module is the filesystem
around it: the mount options (``size=``, ``nr_inodes=``, ``mode=``; EINVAL for another), the
directory operations (create, mkdir, rmdir, unlink: a tmpfs dentry pins its inode, so tmpfs
inodes never reach the inode LRU), the file operations (read_iter, write_iter, mmap, fsync,
fallocate with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE; no ->fadvise: fadvise is the
generic one, whose DONTNEED invalidates through the core and leaves the blocks to
shmem_recalc_inode()), ->setattr (truncate) and
->evict_inode (shmem_evict_inode()), with the memfd seals' checks where mm/shmem.c makes them
(see :mod:`memsim.plugins.pagecache.memfd`).  Inodes come from ``shmem_inode_cache``
(:class:`memsim.plugins.pagecache.inode.InodeCache`).

Nothing happens at import or at boot: the state of a machine (:class:`Tmpfs`, in
``machine.plugin_state``) is made by the first tmpfs mount, memfd or shared mapping, and
``shm_mnt`` with it, so a workload that uses none of them runs as it did without the plugin.
"""
from __future__ import annotations

from typing import Any, List, Optional

from memsim.profiles import ProfileTable
from memsim.vfs import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, S_IFDIR, S_IFREG, Dentry, File,
                        FileOperations, FileSystemType, FsContext, InodeOperations, Path,
                        SuperBlock,
                        VfsError, i_size_write, simple_unlink)

from .inode import InodeCache, SlabInode, clear_inode
from .shmem import ShmemSb

__all__ = ["ShmemInode", "TmpfsSbInfo", "Tmpfs", "get_tmpfs", "shmem_zero_setup", "check_invariants", "TMPFS_TYPE_DOC", "shmem_mapping",
           "shmem_unuse",
           "F_SEAL_SEAL", "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_WRITE", "F_SEAL_FUTURE_WRITE",
           "F_SEAL_EXEC"]

PAGE_SIZE = 4096
PAGE_SHIFT = 12
# include/uapi/linux/fcntl.h
F_SEAL_SEAL = 0x0001
F_SEAL_SHRINK = 0x0002
F_SEAL_GROW = 0x0004
F_SEAL_WRITE = 0x0008
F_SEAL_FUTURE_WRITE = 0x0010
F_SEAL_EXEC = 0x0020
# include/linux/mm.h
VM_WRITE = 0x2
VM_SHARED = 0x8
VM_MAYWRITE = 0x20
#: AS_EXITING (include/linux/pagemap.h)
AS_EXITING = 4
#: The anonymous device minors memsim gives tmpfs mounts (get_anon_bdev() numbers 0:N): after
#: the ones a booted kernel has taken.
FIRST_ANON_MINOR = 40

#: shm_mnt's device: 0:1 on the live 6.18 kernel (tests/pagecache/probes/memfd_seals.txt, stat
#: of a memfd); v5.14 keeps the 0:5 memsim's shared anonymous memory has always shown (the
#: anonymous device numbers a booted kernel hands out depend on its mounts' order)
SHM_MNT_DEV = ProfileTable("pagecache.shm_mnt_dev", {"v5.14": 5, "v6.18": 1})
#: v6.7 "shmem: _add_to_page_cache() before shmem_inode_acct_blocks()": a page's block is taken
#: after the page is in the cache, and a full superblock first makes the file give back the
#: blocks of the pages it lost behind shmem's back; before, the block is taken first and a full
#: superblock is ENOSPC at once
SHMEM_ACCT_AFTER_ADD = ProfileTable("pagecache.shmem_acct_after_add", {"v5.14": False, "v6.18": True})
#: F_SEAL_WRITE refuses every shared mapping (v5.14 mmap_region(): mapping_map_writable() for
#: VM_SHARED) or only a writable one (v6.6+ memfd_check_seals_mmap(), which clears VM_MAYWRITE)
SEAL_WRITE_REFUSES_SHARED_RO = ProfileTable("pagecache.seal_write_refuses_shared_ro",
                                            {"v5.14": True, "v6.18": False})

TMPFS_TYPE_DOC = ("files in memory only (shmem): options size=, nr_blocks=, nr_inodes=, mode=, "
                  "uid=, gid=; the pages are shared memory (Shmem in /proc/meminfo)")


class ShmemInode(SlabInode):
    """``struct shmem_inode_info`` around its ``vfs_inode``: ``seals`` (F_SEAL_*: F_SEAL_SEAL
    for a file that may not be sealed) and ``flags`` (VM_NORESERVE of shmem_file_setup)."""

    __slots__ = ("seals", "flags")

    def __init__(self, sb: SuperBlock):
        super().__init__(sb)
        self.seals = F_SEAL_SEAL            # shmem_get_inode(): "info->seals = F_SEAL_SEAL"
        self.flags = 0


class TmpfsSbInfo:
    """``struct shmem_sb_info``: the block accounting in C (:class:`ShmemSb`, the a_ops'
    ctx), the inode limit (``max_inodes``, 0: none) and ``free_inodes``, the root's mode, and
    the machine's :class:`Tmpfs`."""

    def __init__(self, tmpfs: "Tmpfs", sbinfo: ShmemSb, max_inodes: int, mode: int):
        self.tmpfs = tmpfs
        self.sbinfo = sbinfo
        self.max_inodes = max_inodes
        self.free_inodes = max_inodes
        self.mode = mode


def shmem_mapping(mapping) -> bool:
    """shmem_mapping(): the mapping's a_ops are shmem's."""
    return isinstance(getattr(mapping, "a_ops_owner", None), ShmemSb)


def _memparse(text: str) -> int:
    """memparse(): a number (decimal, 0x hex, 0 octal) with an optional K/M/G/T/P/E suffix."""
    t = text.strip()
    mult = 1
    if t and t[-1] in "kKmMgGtTpPeE":
        mult = 1 << (10 * ("kmgtpe".index(t[-1].lower()) + 1))
        t = t[:-1]
    return int(t, 0) * mult


def generic_delete_inode(inode) -> bool:
    """generic_delete_inode(), shmem's ->drop_inode: an inode whose last reference goes is
    evicted at once, never cached on the inode LRU (a named tmpfs inode is pinned by its
    dentry, so this happens to unlinked files and to those a umount lets go)."""
    return True


class Tmpfs:
    """The tmpfs of one machine: the ``shmem_inode_cache`` inodes, the mount of each superblock,
    ``shm_mnt`` and the operations of tmpfs files and directories."""

    def __init__(self, machine: Any):
        self.machine = machine
        self.core = machine.mmcore
        self.inodes = InodeCache(machine, "shmem_inode_cache", inode_class=ShmemInode,
                                 alloc_site="shmem_alloc_inode", free_site="shmem_free_in_core_inode",
                                 swapbacked=True, evict_inode=self.shmem_evict_inode,
                                 drop_inode=generic_delete_inode)
        self.next_minor = FIRST_ANON_MINOR
        self.supers: List[SuperBlock] = []      # every tmpfs superblock, shm_mnt's included
        self._shm_mnt = None
        self._kern_mount = False
        self._filemap = None
        self.file_iops = InodeOperations(setattr=self.shmem_setattr)
        self.dir_iops = InodeOperations(create=self.shmem_create, mkdir=self.shmem_mkdir,
                                        rmdir=self.shmem_rmdir, unlink=self.shmem_unlink,
                                        setattr=None)
        self.file_fops = FileOperations(read_iter=self.shmem_file_read_iter,
                                        write_iter=self.shmem_file_write_iter, mmap=self.shmem_mmap,
                                        fsync=self.noop_fsync, fallocate=self.shmem_fallocate)

    def filemap(self):
        """A Filemap for filemap_map_pages() (the core and the mm_filemap_map_pages slot),
        made once per machine."""
        if self._filemap is None:
            from .filemap import Filemap
            self._filemap = Filemap(self.core, self.machine.physmem)
            self._filemap.bind_events(getattr(self.machine, "events", None))
        return self._filemap

    # -- mounting ------------------------------------------------------------------------------
    def totalram_pages(self) -> int:
        return sum(z["managed"] for z in self.machine.physmem.zones_info())

    def mount(self, fc: FsContext) -> SuperBlock:
        """shmem_parse_one() + shmem_fill_super(): a new superblock.  ``size`` (bytes with a
        k/m/g suffix, or N% of RAM; 0: no limit) or ``nr_blocks`` (pages), ``nr_inodes``
        (k/m/g suffix; 0: no limit), ``mode`` (octal) of the root, ``uid``/``gid`` (numbers,
        taken and not modelled); defaults half of RAM and half of RAM in pages (the kernel
        mount ``shm_mnt`` has no limits); EINVAL for a bad value or another option."""
        kern = self._kern_mount
        total = self.totalram_pages()
        max_blocks = 0 if kern else total // 2
        max_inodes = 0 if kern else total // 2
        mode = 0o1777
        for key, value in fc.options:
            if key not in ("size", "nr_blocks", "nr_inodes", "mode", "uid", "gid"):
                raise VfsError("EINVAL", f"tmpfs: Unknown parameter '{key}'")
            if value is None or value == "":
                raise VfsError("EINVAL", f"tmpfs: Bad value for '{key}'")
            try:
                if key == "size":
                    if value.endswith("%"):
                        pct = _memparse(value[:-1])
                        max_blocks = total * pct // 100
                    else:
                        max_blocks = (_memparse(value) + PAGE_SIZE - 1) >> PAGE_SHIFT
                elif key == "nr_blocks":
                    max_blocks = _memparse(value)
                elif key == "nr_inodes":
                    max_inodes = _memparse(value)
                elif key in ("uid", "gid"):
                    int(value, 10)          # every file is root's: the owner is not modelled
                else:
                    mode = int(value, 8) & 0o7777
            except ValueError:
                raise VfsError("EINVAL", f"tmpfs: Bad value for '{key}'") from None
        if kern:
            s_dev = SHM_MNT_DEV[self.machine.profile]
        else:
            s_dev = self.next_minor
            self.next_minor += 1
        sbinfo = ShmemSb(self.core, max_blocks)
        sbinfo.acct_after_add = SHMEM_ACCT_AFTER_ADD[self.machine.profile]
        sbinfo.set_filemap(self.filemap())
        info = TmpfsSbInfo(self, sbinfo, max_inodes, mode)
        sb = SuperBlock(fc.fs_type, mode, self.dir_iops, fs_info=info,
                        s_op=self.inodes.super_operations(), s_dev=s_dev)
        root = sb.s_root.d_inode
        self.inodes.init_mapping(root)
        root.inc_nlink()                    # a directory: "." and its name
        if max_inodes:
            info.free_inodes -= 1           # the root's shmem_reserve_inode()
        self.supers.append(sb)
        return sb

    def kill_litter_super(self, sb: SuperBlock) -> None:
        """shmem's ->kill_sb, kill_litter_super(): d_genocide() drops the pin every dentry holds
        on its inode (depth first, the root last), then generic_shutdown_super()
        (InodeCache.kill_sb) evicts the inodes no one else holds: the files' pages and blocks
        are freed; a file still open or mapped goes at its last reference."""
        from memsim.vfs import iput

        def genocide(dentry: Dentry) -> None:
            for child in list(dentry.d_subdirs.values()):
                genocide(child)
                sb.d_delete(child)
        self.inodes.super_inodes(sb).dying = True
        genocide(sb.s_root)
        root = sb.s_root.d_inode
        if root.i_count:
            iput(root)
        self.inodes.kill_sb(sb)
        if not sb.s_inodes and sb in self.supers:
            self.supers.remove(sb)

    def shm_mnt(self):
        """shm_mnt: kern_mount() of tmpfs, made on first use (shmem_init() runs at boot in the
        kernel; memsim defers it so a machine without tmpfs users is unchanged).  Its root inode
        is a boot-time object (InodeCache.booting): no slab allocation shows for it."""
        from memsim.plugins.pagecache.inode import InodeCache
        if self._shm_mnt is None:
            self._kern_mount = True
            try:
                with InodeCache.booting(self.machine):
                    self._shm_mnt = self.machine.vfs.kern_mount("tmpfs")
            finally:
                self._kern_mount = False
        return self._shm_mnt

    # -- inodes --------------------------------------------------------------------------------
    def shmem_get_inode(self, sb: SuperBlock, mode: int, name: str = "", flags: int = 0) -> ShmemInode:
        """shmem_get_inode(): shmem_reserve_inode() (ENOSPC when nr_inodes are in use), then a
        new inode from shmem_inode_cache; a regular file gets shmem's a_ops on its i_data."""
        info: TmpfsSbInfo = sb.s_fs_info
        if info.max_inodes:
            if info.free_inodes == 0:
                raise VfsError("ENOSPC", "no free inodes (nr_inodes)")
            info.free_inodes -= 1
        try:
            if mode & 0o170000 == S_IFDIR:
                inode = self.inodes.new_inode(sb, mode, self.dir_iops, FileOperations(), name)
                inode.inc_nlink()
            else:
                inode = self.inodes.new_inode(sb, mode, self.file_iops, self.file_fops, name)
                info.sbinfo.install(inode.i_data)
        except Exception:
            if info.max_inodes:
                info.free_inodes += 1
            raise
        inode.flags = flags
        return inode

    def shmem_evict_inode(self, inode: ShmemInode) -> None:
        """shmem_evict_inode(): for a file, i_size 0, AS_EXITING (mapping_set_exiting) and
        shmem_truncate_range(0, -1); the inode is given back (shmem_free_inode(): nr_inodes);
        clear_inode()."""
        info: TmpfsSbInfo = inode.i_sb.s_fs_info
        mapping = inode.i_data
        if shmem_mapping(mapping):
            i_size_write(inode, 0)
            mapping.flags |= 1 << AS_EXITING
            info.sbinfo.undo_range(mapping, 0)
            info.sbinfo.forget(mapping)
        if info.max_inodes:
            info.free_inodes += 1
        clear_inode(inode)

    # -- directories ---------------------------------------------------------------------------
    def shmem_create(self, dir: Dentry, name: str, mode: int) -> Dentry:
        """shmem_create() -> shmem_mknod(): the inode and its dentry (which pins it)."""
        sb = dir.d_sb
        inode = self.shmem_get_inode(sb, S_IFREG | (mode & 0o7777), name)
        return sb.d_alloc(dir, name, inode)

    def shmem_mkdir(self, dir: Dentry, name: str, mode: int) -> Dentry:
        """shmem_mkdir(): a directory (i_nlink 2) and one more link of its parent."""
        sb = dir.d_sb
        inode = self.shmem_get_inode(sb, S_IFDIR | (mode & 0o7777), name)
        dentry = sb.d_alloc(dir, name, inode)
        dir.d_inode.inc_nlink()
        return dentry

    def shmem_unlink(self, dir: Dentry, victim: Dentry) -> None:
        """shmem_unlink(): drop_nlink() and the dentry's pin (dput): an open or mapped file lives
        on until its last reference."""
        simple_unlink(dir, victim)

    def shmem_rmdir(self, dir: Dentry, victim: Dentry) -> None:
        """shmem_rmdir(): ENOTEMPTY unless empty (simple_empty()); drop_nlink() of the parent,
        then shmem_unlink() (the directory's own links go: clear_nlink)."""
        if victim.d_subdirs:
            raise VfsError("ENOTEMPTY", f"{victim.d_name!r} is not empty")
        victim.d_inode.clear_nlink()
        dir.d_inode.drop_nlink()
        dir.d_sb.d_delete(victim)

    # -- truncate ------------------------------------------------------------------------------
    def shmem_setattr(self, dentry: Dentry, newsize: int) -> None:
        """shmem_setattr() with ATTR_SIZE: EPERM when a seal forbids the change (F_SEAL_SHRINK,
        F_SEAL_GROW); i_size_write(); shrinking unmaps the file beyond the new size from every
        VMA, private COW copies too (unmap_mapping_range(holebegin, 0, 1)), truncates
        (shmem_truncate_range(newsize, -1): partial page zeroed) and unmaps again."""
        inode: ShmemInode = dentry.d_inode
        oldsize = inode.i_size
        if (newsize < oldsize and inode.seals & F_SEAL_SHRINK) or \
                (newsize > oldsize and inode.seals & F_SEAL_GROW):
            raise VfsError("EPERM", "the file is sealed against this size change")
        if newsize != oldsize:
            i_size_write(inode, newsize)
        if newsize <= oldsize:
            mapping = inode.i_data
            holebegin = (newsize + PAGE_SIZE - 1) >> PAGE_SHIFT
            rest = 0xffffffffffffffff - holebegin
            if oldsize > holebegin << PAGE_SHIFT:
                self.core.unmap_mapping_range(mapping, holebegin, rest, True)
            if mapping.private_data:                # info->alloced
                inode.i_sb.s_fs_info.sbinfo.undo_range(mapping, newsize)
            if oldsize > holebegin << PAGE_SHIFT:
                self.core.unmap_mapping_range(mapping, holebegin, rest, True)

    # -- file operations -----------------------------------------------------------------------
    def shmem_file_read_iter(self, file: File, pos: int, count: int, buf) -> int:
        """shmem_file_read_iter(): holes read as zeros (nothing allocated), swapped pages are
        read back (shmem_swapin_page); ENOMEM (EIO without swap) when the first cannot be."""
        n = file.f_inode.i_sb.s_fs_info.sbinfo.read(file.f_mapping, pos, count, buf)
        if n < 0:
            raise VfsError("ENOMEM" if n == -12 else "EIO",
                           "a swapped page could not be read back (shmem_swapin_page)")
        return n

    def shmem_file_write_iter(self, file: File, pos: int, data: bytes) -> int:
        """shmem_file_write_iter(): EPERM under F_SEAL_WRITE / F_SEAL_FUTURE_WRITE, or under
        F_SEAL_GROW past i_size (shmem_write_begin(), per page: the part inside i_size is
        written, a short write); then the C loop; a write that could not
        allocate its first page fails with that errno (ENOSPC when size= is reached), a later
        failure makes it short.  i_size follows."""
        inode: ShmemInode = file.f_inode
        if inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
            raise VfsError("EPERM", "the file is sealed against writes")
        if inode.seals & F_SEAL_GROW and pos + len(data) > inode.i_size:
            # generic_perform_write() goes a page at a time: the chunks inside i_size are
            # written, the first one reaching past it fails shmem_write_begin() (a short write)
            at, end = pos, pos + len(data)
            while at < end:
                n = min(PAGE_SIZE - at % PAGE_SIZE, end - at)
                if at + n > inode.i_size:
                    break
                at += n
            if at == pos:
                raise VfsError("EPERM", "the file is sealed against growing")
            data = data[:at - pos]
        task = self.machine.current.task
        mm = task.mm if task is not None else None
        done, err = inode.i_sb.s_fs_info.sbinfo.write(file.f_mapping, pos, data, mm)
        if file.f_mapping.i_size != inode.i_size:
            i_size_write(inode, file.f_mapping.i_size)
        if done == 0 and err:
            raise VfsError("ENOSPC" if err == -28 else "ENOMEM", "tmpfs is full" if err == -28
                           else "no memory for the page")
        return done

    def shmem_mmap(self, file: File, vma) -> None:
        """shmem_mmap() and the seal checks of the mapping (v5.14 mmap_region()'s
        mapping_map_writable(): any shared mapping of a F_SEAL_WRITE file is EPERM; v6.18
        memfd_check_seals_mmap(): only a shared writable one is, and a shared read-only one
        loses VM_MAYWRITE so mprotect cannot make it writable)."""
        inode: ShmemInode = file.f_inode
        if vma.vm_flags & VM_SHARED and inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
            if vma.vm_flags & VM_WRITE or (SEAL_WRITE_REFUSES_SHARED_RO[self.machine.profile]
                                           and inode.seals & F_SEAL_WRITE):
                raise VfsError("EPERM", "the file is sealed against writes")
            vma.vm_flags &= ~VM_MAYWRITE

    def noop_fsync(self, file: File, start: int, end: int, datasync: bool) -> None:
        """noop_fsync(): tmpfs has nothing to write back."""

    def shmem_fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        """shmem_fallocate(): EOPNOTSUPP for a mode other than KEEP_SIZE / PUNCH_HOLE.

        FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE, which vfs_fallocate() demands): EPERM under a
        write seal; the whole pages of the hole are unmapped (unmap_mapping_range(..., 0):
        private COW copies stay) and shmem_truncate_range() frees them and zeroes the partial
        pages' bytes.  Otherwise: EPERM under F_SEAL_GROW past i_size, ENOSPC at once when the
        range is larger than size=; every page of the range is allocated and dirtied (on ENOSPC
        the new ones are freed again); i_size grows unless FALLOC_FL_KEEP_SIZE."""
        inode: ShmemInode = file.f_inode
        mapping = file.f_mapping
        sbinfo = inode.i_sb.s_fs_info.sbinfo
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise VfsError("EOPNOTSUPP", "tmpfs only allocates and punches holes")
        if mode & FALLOC_FL_PUNCH_HOLE:
            if inode.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
                raise VfsError("EPERM", "the file is sealed against writes")
            unmap_start = (offset + PAGE_SIZE - 1) >> PAGE_SHIFT
            unmap_end = ((offset + length) >> PAGE_SHIFT) - 1
            if unmap_end >= unmap_start:
                self.core.unmap_mapping_range(mapping, unmap_start, 1 + unmap_end - unmap_start, False)
            sbinfo.undo_range(mapping, offset, offset + length - 1)
            return
        if inode.seals & F_SEAL_GROW and offset + length > inode.i_size:
            raise VfsError("EPERM", "the file is sealed against growing")
        start = offset >> PAGE_SHIFT
        end = (offset + length + PAGE_SIZE - 1) >> PAGE_SHIFT
        if sbinfo.max_blocks and end - start > sbinfo.max_blocks:
            raise VfsError("ENOSPC", "the range is larger than the filesystem")
        err = sbinfo.fallocate(mapping, start, end)
        if err:
            raise VfsError("ENOSPC" if err == -28 else "ENOMEM", "tmpfs is full" if err == -28
                           else "no memory for the page")
        if not mode & FALLOC_FL_KEEP_SIZE and offset + length > inode.i_size:
            i_size_write(inode, offset + length)

    # -- files of shm_mnt ----------------------------------------------------------------------
    def shmem_file_setup(self, name: str, size: int, flags: int = 0) -> ShmemInode:
        """__shmem_file_setup(shm_mnt, name, size, flags): an unlinked regular file (i_nlink 0:
        it goes with its last reference) of mode 0777 on shm_mnt, ``size`` bytes long; its
        mapping is called as d_path() shows it, ``/NAME (deleted)``.  The reference returned is
        the caller's."""
        mnt = self.shm_mnt()
        inode = self.shmem_get_inode(mnt.mnt_sb, S_IFREG | 0o777, name, flags)
        inode.clear_nlink()
        i_size_write(inode, size)
        inode.i_data.name = f"/{name} (deleted)"
        return inode

    def alloc_file_pseudo(self, inode: ShmemInode, name: str, flags: int) -> File:
        """alloc_file_pseudo(): an open file of ``inode`` through a dentry that is in no
        directory (``d_path`` shows ``/name (deleted)``); it takes over the caller's reference."""
        from memsim.vfs import iput
        mnt = self.shm_mnt()
        dentry = Dentry(mnt.mnt_sb, name, mnt.mnt_root, inode)
        file = File(Path(mnt, dentry), flags)
        iput(inode)                         # the file's ihold() replaces the caller's reference
        mnt.mnt_count += 1
        return file

    def shmem_zero_setup(self, vma) -> None:
        """shmem_zero_setup(): the shmem object behind a MAP_SHARED|MAP_ANONYMOUS VMA, a file
        ``dev/zero`` of the VMA's size on shm_mnt (``/dev/zero (deleted)`` in
        /proc/PID/maps); the VMA holds the inode's reference (its put at remove_vma() evicts
        the object).  For the core's ``type: shared`` (vm.do_mmap)."""
        size = vma.vm_end - vma.vm_start
        inode = self.shmem_file_setup("dev/zero", size)
        vma.vm_file = inode.i_data


#: ``--check`` after a slice walks the i_pages of tmpfs files with at most this many entries;
#: the end-of-run check walks every file
CHECK_MAX_ENTRIES = 1 << 12


def check_invariants(machine: Any, full: bool = True) -> List[str]:
    """``--check`` of tmpfs and shm_mnt: each file's i_pages as the core's workingset check
    sees it (nrpages, page->mapping/index, xa_node counts), its value entries exactly its swap
    entries (info->swapped, ``AddressSpace.swapped``: shmem leaves no shadow), the superblock's
    used blocks the blocks its files hold (info->alloced, ``AddressSpace.private_data``), each
    at least the file's pages plus its swapped ones (more only until shmem_recalc_inode() finds
    the pages it lost), and with nr_inodes the reserved inodes those on the superblock."""
    tmpfs = machine.plugin_state.get("pagecache.tmpfs")
    if tmpfs is None:
        return []
    problems: List[str] = []
    for sb in tmpfs.supers:
        info: TmpfsSbInfo = sb.s_fs_info
        mappings = [inode.i_data for inode in sb.inodes()
                    if inode.is_reg and shmem_mapping(inode.i_data)]
        problems += machine.workingset.check([m for m in mappings
                                              if full or len(m.i_pages) <= CHECK_MAX_ENTRIES])
        alloced = 0
        for mapping in mappings:
            alloced += mapping.private_data
            if len(mapping.i_pages) != mapping.nrpages + mapping.swapped:
                problems.append(f"tmpfs {mapping!r}: {len(mapping.i_pages) - mapping.nrpages} value "
                                f"entries in a shmem mapping but info->swapped {mapping.swapped} "
                                "(shmem leaves no shadow)")
            if mapping.private_data < mapping.nrpages + mapping.swapped:
                problems.append(f"tmpfs {mapping!r}: alloced {mapping.private_data} below its "
                                f"{mapping.nrpages} pages and {mapping.swapped} swapped")
        if info.sbinfo.used_blocks != alloced:
            problems.append(f"tmpfs s_dev {sb.s_dev}: used_blocks {info.sbinfo.used_blocks}, but "
                            f"its files hold {alloced} blocks (info->alloced)")
        if info.max_inodes and info.max_inodes - info.free_inodes != len(sb.s_inodes):
            problems.append(f"tmpfs s_dev {sb.s_dev}: {info.max_inodes - info.free_inodes} inodes "
                            f"reserved, {len(sb.s_inodes)} on the superblock")
    return problems


def shmem_unuse(machine: Any, type: int) -> int:
    """shmem_unuse(type) for swapoff (try_to_unuse): every shmem file of the machine -- tmpfs
    mounts, memfds and shared anonymous memory on shm_mnt -- gets the pages it swapped out to
    device ``type`` back in its page cache (:meth:`ShmemSb.unuse`, C per page).  Returns the
    pages brought back, or -ENOMEM (12) when one could not be had: what came back stays."""
    tmpfs = machine.plugin_state.get("pagecache.tmpfs")
    if tmpfs is None:
        return 0
    done = 0
    for sb in list(tmpfs.supers):
        n = sb.s_fs_info.sbinfo.unuse(type)
        if n < 0:
            return n
        done += n
    return done


def shmem_zero_setup(machine: Any, vma) -> None:
    """shmem_zero_setup(vma) of ``machine`` (:meth:`Tmpfs.shmem_zero_setup`): what mmap_region()
    calls for a MAP_SHARED|MAP_ANONYMOUS VMA before linking it."""
    get_tmpfs(machine).shmem_zero_setup(vma)


def get_tmpfs(machine: Any) -> Tmpfs:
    """The machine's :class:`Tmpfs`, made on first use."""
    state = machine.plugin_state.get("pagecache.tmpfs")
    if state is None:
        state = machine.plugin_state["pagecache.tmpfs"] = Tmpfs(machine)
    return state


def tmpfs_mount(fc: FsContext) -> SuperBlock:
    """``mount -t tmpfs``: the machine's :meth:`Tmpfs.mount`."""
    return get_tmpfs(fc.machine).mount(fc)


def tmpfs_kill_sb(sb: SuperBlock) -> None:
    """umount of a tmpfs: :meth:`Tmpfs.kill_litter_super` of the superblock's machine."""
    sb.s_fs_info.tmpfs.kill_litter_super(sb)


def tmpfs_type() -> FileSystemType:
    """The ``tmpfs`` FileSystemType (shmem_fs_type)."""
    return FileSystemType("tmpfs", TMPFS_TYPE_DOC, tmpfs_mount, plugin="pagecache",
                          kill_sb=tmpfs_kill_sb)
