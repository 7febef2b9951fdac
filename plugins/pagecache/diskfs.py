"""diskfs: a disk-backed filesystem of regular files (what ext4 on a virtio disk is to a real
machine, without its on-disk format).

Every machine with the page-cache plugin has one mounted at :data:`DISKFS_MOUNT_POINT`
(``/mnt/disk``, from ``/dev/vda``, device 254:0 as a virtio-blk disk's first partitionless
device); ``mount -t diskfs /dev/vdb PATH`` makes another (254:16, 254:32...).  Its files are
created, opened, read, written, mapped, truncated, synced and unlinked through the VFS
(memsim.vfs) and the fd steps, and their pages live in the core's ``i_pages`` under the typed
address_space_operations of :class:`memsim.plugins.pagecache.filemap.Filemap`: reads and faults
fill the page cache from the file's backing store (a refault after eviction reads back the
bytes written), writeback stores the pages' bytes there.  Inode numbers start at 12 (the
root directory is 2), as on ext4.

The superblock's :class:`memsim.vfs.SuperOperations` come from :func:`diskfs_super_operations`:
its inodes are slab objects of ``inode_cache`` (memsim.plugins.pagecache.inode), so they show
in /proc/slabinfo and their size follows the ``no-nrexceptional`` seed change.

The disk has an inode table (:class:`DiskInode`: what ext4_inode is on the disk: mode, size,
links, the file's blocks, a directory's entries) apart from the in-memory inodes.  Its dentries
are the dentry cache's (memsim.dcache): the dentry of a name no file holds any more waits on
the superblock's dentry LRU, the superblock's shrinker prunes it (drop_caches 2, reclaim), its
inode then waits unused on the inode LRU and is evicted in turn (the size and links written to
its disk inode, the page cache and its shadows dropped: pagecache.md scenario 16), and the next
lookup of the name reads the inode back from the table (ext4_lookup() -> ext4_iget(): a new
in-memory inode of the same number, its page cache empty, its bytes on the disk).
"""
from __future__ import annotations

from typing import Any, List, Optional

from memsim.profiles import ProfileTable
from memsim.vfs import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FMODE_RANDOM, I_FREEING,
                        VM_READAHEAD_PAGES, BackingDevInfo, FileOperations,
                        FileSystemType, FsContext, Inode, InodeOperations, S_IFDIR, S_IFMT,
                        S_IFREG, SuperBlock, SuperOperations, VfsError, i_size_write)

__all__ = ["DISKFS_TYPE", "DISKFS_MOUNT_POINT", "DISKFS_DEVICE", "DISKFS_DEV", "DiskFsInfo",
           "DiskInode", "diskfs_super_operations", "mount_boot_disk", "check_invariants",
           "set_large_folios"]

#: Where every machine's disk is mounted, and from which device.
DISKFS_MOUNT_POINT = "/mnt/disk"
DISKFS_DEVICE = "/dev/vda"
#: MKDEV(254, 0): virtio-blk's dynamic major, the first disk (s_dev of its files)
DISKFS_DEV = (254 << 20) | 0
#: Devices of further diskfs mounts: 16 minors a disk (vdb 254:16, vdc 254:32, ...)
DISK_MINORS = 16
#: The root directory's and the first file's inode numbers (EXT4_ROOT_INO, EXT4_GOOD_OLD_FIRST_INO + 1)
ROOT_INO = 2
FIRST_INO = 12
PAGE_SIZE = 4096
#: filemap_read() skips marking the first page of a read accessed when the previous read of the
#: file ended in it: compared by the page prev_pos is in (v5.14, so a read that ended at a page
#: boundary leaves the next page unmarked) or by the last byte read (pos_same_folio(), v5.17+)
READ_PREV_POS_BY_PAGE = ProfileTable("pagecache.read_prev_pos_by_page", {"v5.14": True,
                                                                         "v6.18": False})
#: filemap_get_pages()' readahead: v5.14's ondemand_readahead() (else v6.18's page_cache_sync_ra /
#: page_cache_async_ra) and its filemap_get_read_batch() reaching one page past the read (the
#: off-by-one fixed by 5956592ce337 in 6.3: last_index - 1)
READAHEAD_ONDEMAND = ProfileTable("pagecache.readahead_ondemand", {"v5.14": True, "v6.18": False})
#: mapping_set_large_folios() on every regular file (ext4_set_inode_mapping_order(), 6.16+; xfs
#: since 5.18): readahead reads large folios up to MAX_PAGECACHE_ORDER (9 on x86-64), as the live
#: 6.18 VM's ext4 does unless mounted data=journal (tests/pagecache/probes/ra_probe_lf.txt)
LARGE_FOLIO_ORDER = ProfileTable("pagecache.large_folio_order", {"v5.14": 0, "v6.18": 9})
#: A virtio disk's queue/max_sectors_kb: BLK_DEF_MAX_SECTORS_CAP (2560 sectors, 1280 KiB; the
#: loop devices of the live 6.18 VM show it), so bdi->io_pages = 320
DISK_MAX_SECTORS_KB = 1280
#: ``--check`` after a slice walks the i_pages (and blocks) of files with at most this many
#: entries; the end-of-run check walks every file
CHECK_MAX_ENTRIES = 1 << 12


class DiskInode:
    """An inode of the disk's inode table (struct ext4_inode): ``mode``, ``size`` and ``nlink``
    as last written (ext4_write_inode / ext4_mark_inode_dirty), ``blocks`` (a regular file's
    blocks: the dict its in-memory inodes' :class:`BackingStore` works on) and ``entries`` (a
    directory's: name -> inode number)."""

    __slots__ = ("ino", "mode", "size", "nlink", "blocks", "entries")

    def __init__(self, ino: int, mode: int):
        self.ino = ino
        self.mode = mode
        self.size = 0
        self.nlink = 1
        self.blocks: dict = {}
        self.entries: dict = {}

    def __repr__(self) -> str:
        return f"<DiskInode {self.ino} mode={self.mode:o} size={self.size} nlink={self.nlink}>"


class DiskFsInfo:
    """``sb->s_fs_info`` of a diskfs superblock: the machine's core objects, the page cache of
    its files (a :class:`~memsim.plugins.pagecache.filemap.Filemap`), the next inode number,
    the disk's inode table (``disk``: number -> :class:`DiskInode`) and the in-memory inodes
    by number (``icache``: the inode hash iget() searches)."""

    def __init__(self, machine: Any, s_dev: int):
        from memsim.plugins.pagecache.filemap import Filemap
        self.machine = machine
        self.core = machine.mmcore
        self.physmem = machine.physmem
        self.s_dev = s_dev
        self.filemap = Filemap(machine.mmcore, machine.physmem)
        self.filemap.bind_events(getattr(machine, "events", None))
        self.filemap.ra_same_page_end = READ_PREV_POS_BY_PAGE[machine.profile]
        self.filemap.ra_ondemand = READAHEAD_ONDEMAND[machine.profile]
        self.filemap.read_batch_past_end = READAHEAD_ONDEMAND[machine.profile]
        self.filemap.max_folio_order = LARGE_FOLIO_ORDER[machine.profile]
        #: the disk's bdi (/sys/class/bdi/<maj:min>): read_ahead_kb 128, max_sectors_kb 1280
        self.bdi = BackingDevInfo(f"{s_dev >> 20}:{s_dev & 0xfffff}", VM_READAHEAD_PAGES,
                                  DISK_MAX_SECTORS_KB // 4)
        self.filemap.io_pages = self.bdi.io_pages
        self.next_ino = FIRST_INO
        self.evicted = 0
        self.inodes = None                  # the InodeCache (diskfs_super_operations)
        self.disk: dict = {}
        self.icache: dict = {}

    def current_mm(self):
        """The mm whose memcg a read or write charges (current->mm)."""
        task = self.machine.current.task
        return None if task is None else task.mm


def diskfs_super_operations(info: DiskFsInfo) -> SuperOperations:
    """The :class:`SuperOperations` of a diskfs superblock (ext4_sops): inodes are slab objects
    of ``inode_cache`` (memsim.plugins.pagecache.inode.InodeCache: alloc_inode, destroy_inode,
    the inode LRU of unused inodes and the superblock's shrinker); ``evict_inode``
    (ext4_evict_inode) drops the pages and shadows of an inode whose last reference went
    (truncate_inode_pages_final) and, for an unlinked file, its blocks and its disk inode
    (ext4_free_inode); a linked one keeps them, its size and links written to the disk inode,
    for the next iget(); then clear_inode and the inode leaves the inode hash."""
    from memsim.plugins.pagecache.inode import InodeCache, clear_inode

    def evict_inode(inode) -> None:
        mapping = inode.i_mapping
        if mapping is not None:
            info.core.truncate_inode_pages_final(mapping)
            info.filemap.forget(mapping)
            info.evicted += 1
        disk = info.disk.get(inode.i_ino)
        if disk is not None:
            if inode.i_nlink:
                disk.size, disk.nlink = inode.i_size, inode.i_nlink
            else:
                del info.disk[inode.i_ino]
        if info.icache.get(inode.i_ino) is inode:
            del info.icache[inode.i_ino]
        clear_inode(inode)

    info.inodes = InodeCache(info.machine, "inode_cache", evict_inode=evict_inode)
    return info.inodes.super_operations()


def _diskfs_mount(fc: FsContext) -> SuperBlock:
    """The superblock of a new diskfs: no options (EINVAL for any), an empty root directory."""
    for key, _ in fc.options:
        raise VfsError("EINVAL", f"diskfs: unknown parameter {key!r}")
    machine = fc.machine
    if machine is None or getattr(machine, "mmcore", None) is None:
        raise VfsError("ENODEV", "diskfs needs a machine with an mm core")
    state = machine.plugin_state.setdefault("pagecache.diskfs", {"disks": 0, "supers": []})
    s_dev = DISKFS_DEV + state["disks"] * DISK_MINORS
    state["disks"] += 1
    info = DiskFsInfo(machine, s_dev)
    _bdi_sysfs(machine, info.bdi, "vd" + chr(ord("a") + state["disks"] - 1))
    sb = _build_super(fc.fs_type, info)
    state["supers"].append(sb)
    return sb


def _read_ahead_kb_store(bdi: BackingDevInfo, data: bytes) -> None:
    """read_ahead_kb_store() / queue_ra_store(): kstrtoul of the text (EINVAL if it is not a
    number), ra_pages = KiB >> 2.  Files opened before keep their window's maximum (their
    file_ra_state copied it at open)."""
    text = data.decode("ascii", "replace").strip()
    if not text.isdigit() or int(text) >= 1 << 64:
        raise VfsError("EINVAL", f"read_ahead_kb: {text!r} is not a number")
    bdi.ra_pages = int(text) >> 2


def _bdi_sysfs(machine: Any, bdi: BackingDevInfo, disk: str) -> None:
    """The disk's readahead tunable where the kernel has it: /sys/class/bdi/<maj:min>/read_ahead_kb
    and /sys/block/<disk>/queue/read_ahead_kb, both the bdi's ra_pages in KiB ("%lu\n")."""
    sysfs = getattr(machine, "sysfs", None)
    if sysfs is None:
        return
    for path in (f"class/bdi/{bdi.name}/read_ahead_kb", f"block/{disk}/queue/read_ahead_kb"):
        if path not in sysfs:
            sysfs.create_file(path, show=lambda b: f"{b.ra_pages << 2}\n",
                              store=_read_ahead_kb_store, private=bdi, plugin="pagecache")


def set_large_folios(machine: Any, max_order: int) -> None:
    """The large-folio switch of every diskfs mounted on ``machine`` (what ext4's data=journal
    mount option is to its files: no large folios): the max folio order of its regular files'
    page cache (mapping_set_folio_order_range), files already open included; 0 switches large
    folios off (readahead reads order-0 pages, as the v6.18 probe of ra_probe.txt did).  Folios
    already cached stay as they are."""
    from memsim.plugins.pagecache.filemap import mapping_set_max_folio_order
    state = machine.plugin_state.get("pagecache.diskfs")
    for sb in (state or {}).get("supers", []):
        sb.s_fs_info.filemap.max_folio_order = max_order
        for inode in sb.inodes():
            if inode.i_mapping is not None and inode.i_mode & S_IFMT == S_IFREG:
                mapping_set_max_folio_order(inode.i_mapping, max_order)


def check_invariants(machine: Any, full: bool = True) -> List[str]:
    """``--check`` of every diskfs file's page cache (memsim.workingset's check of i_pages:
    nrpages, page->mapping/index, the xa_node counts and shadow nodes) and backing store (no
    block past i_size).  After a slice (``full`` false) a file of more than
    :data:`CHECK_MAX_ENTRIES` entries (or blocks) is left out of the walk, which costs what the
    file holds (its pages are still in the core's LRU and allocator checks); the end-of-run
    check walks every file."""
    state = machine.plugin_state.get("pagecache.diskfs")
    if not state:
        return []
    limit = 1 << 62 if full else CHECK_MAX_ENTRIES
    mappings = [inode.i_mapping for sb in state["supers"] for inode in sb.inodes()
                if inode.i_mapping is not None and len(inode.i_mapping.i_pages) <= limit]
    problems = list(machine.workingset.check(mappings))
    for sb in state["supers"]:
        for inode in sb.inodes():
            if inode.i_mapping is None:
                continue
            store = sb.s_fs_info.filemap.store_of(inode.i_mapping)
            if len(store) > limit:
                continue
            last = (inode.i_size + PAGE_SIZE - 1) // PAGE_SIZE
            beyond = [i for i in store.blocks if i >= last]
            if beyond:
                problems.append(f"diskfs inode {inode.i_ino}: blocks {beyond[:4]} past i_size "
                                f"{inode.i_size}")
    return problems


def _build_super(fs_type: FileSystemType, info: DiskFsInfo) -> SuperBlock:
    filemap = info.filemap
    core = info.core

    # -- regular files: file_operations (ext4_file_operations) ------------------------------
    def read_iter(file, pos: int, count: int, buf: Optional[bytearray]) -> int:
        """ext4_file_read_iter() -> generic_file_read_iter(), with the file's readahead state
        (``file.f_ra``) and FMODE_RANDOM."""
        n = filemap.read_iter(file.f_mapping, pos, count, buf, info.current_mm(),
                              file.f_ra, bool(file.f_mode & FMODE_RANDOM))
        if n < 0:
            raise VfsError("ENOMEM", "no memory for the page cache")
        return n

    def readahead(file, index: int, nr_to_read: int) -> None:
        """force_page_cache_readahead() (POSIX_FADV_WILLNEED): the pages read ahead into the
        cache, at most max(io_pages, the file's ra_pages) of them."""
        filemap.force_page_cache_readahead(file.f_mapping, file.f_ra, index,
                                           min(nr_to_read, (1 << 64) - 1), info.current_mm())

    def write_iter(file, pos: int, data: bytes) -> int:
        inode = file.f_inode
        n = filemap.write_iter(file.f_mapping, pos, data, info.current_mm())
        if n < 0:
            raise VfsError("ENOMEM", "no memory for the page cache")
        if pos + n > inode.i_size:
            i_size_write(inode, pos + n)
        return n

    def mmap(file, vma) -> None:
        """generic_file_mmap(): the core's fault path uses the mapping's a_ops (filemap_fault,
        filemap_map_pages, filemap_page_mkwrite) for a file VMA without vm_ops."""

    def fsync(file, start: int, end: int, datasync: bool) -> None:
        """ext4_sync_file() -> file_write_and_wait_range(): the dirty pages are written."""
        core.filemap_write_and_wait(file.f_mapping)

    def fallocate(file, mode: int, offset: int, length: int) -> None:
        """ext4_fallocate(): FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE) frees the blocks and drops the
        cached pages wholly inside the range, zeroing the partial ones at its ends in the cache
        (truncate_pagecache_range) and on the disk; a plain
        allocation reserves (unwritten extents read as zeros: nothing is stored) and grows
        i_size unless FALLOC_FL_KEEP_SIZE.  Collapse, insert, zero and unshare: EOPNOTSUPP."""
        inode = file.f_inode
        mapping = inode.i_mapping
        if mode & FALLOC_FL_PUNCH_HOLE:
            end = min(offset + length, inode.i_size)
            if offset >= end:
                return
            core.truncate_pagecache_range(mapping, offset, end - 1)
            filemap.store_of(mapping).punch_hole(offset, end)
            return
        if mode & ~FALLOC_FL_KEEP_SIZE:
            raise VfsError("EOPNOTSUPP", f"diskfs: fallocate mode {mode:#x} is not supported")
        if not mode & FALLOC_FL_KEEP_SIZE and offset + length > inode.i_size:
            i_size_write(inode, offset + length)

    fops = FileOperations(read_iter=read_iter, write_iter=write_iter, mmap=mmap, fsync=fsync,
                          fallocate=fallocate, readahead=readahead)

    def setattr(dentry, size: int) -> None:
        """ext4_setattr(ATTR_SIZE) -> truncate_setsize(): i_size, then (shrinking) the file's
        mappings and cached pages past it go and the partial last page's tail is zeroed
        (truncate_pagecache), and on the disk the blocks past it are freed and the last one's
        tail zeroed."""
        inode = dentry.d_inode
        mapping = inode.i_mapping
        old = inode.i_size
        i_size_write(inode, size)
        if size < old:
            core.truncate_pagecache(mapping, size)
            filemap.store_of(mapping).truncate(size)

    file_iops = InodeOperations(setattr=setattr)

    # -- inodes in memory (ext4_iget, __ext4_new_inode) ----------------------------------
    def instantiate(disk: DiskInode, name: str = "") -> Inode:
        """The in-memory inode of a disk inode: new_inode() from the inode cache, its number,
        links and size from the disk, a regular file's page cache (empty) on the disk inode's
        blocks; then into the inode hash (insert_inode_hash())."""
        is_dir = disk.mode & S_IFMT == S_IFDIR
        inode = sb.new_inode(disk.mode, dir_iops if is_dir else file_iops,
                             dir_fops if is_dir else fops)
        inode.i_ino = disk.ino
        inode.i_nlink = disk.nlink
        info.inodes.init_mapping(inode, name)
        if inode.is_reg:
            filemap.install(inode.i_mapping)
            filemap.store_of(inode.i_mapping).blocks = disk.blocks
            i_size_write(inode, disk.size)
        info.icache[disk.ino] = inode
        return inode

    def iget(ino: int, name: str = "") -> Inode:
        """ext4_iget() -> iget_locked(): the in-memory inode of ``ino`` if it still exists
        (__iget(): one more reference, even from 0 while it waits on the inode LRU, which
        drops it lazily), else a new one read from the inode table."""
        inode = info.icache.get(ino)
        if inode is not None and not inode.i_state & I_FREEING:
            inode.i_count += 1
            return inode
        return instantiate(info.disk[ino], name)

    def new_inode(dir, mode: int, name: str) -> Inode:
        """__ext4_new_inode(): a disk inode numbered as ext4 numbers them (from 12), its entry
        in the directory ``dir`` (ext4_add_entry()), and its in-memory inode."""
        disk = DiskInode(info.next_ino, mode)
        info.next_ino += 1
        info.disk[disk.ino] = disk
        info.disk[dir.d_inode.i_ino].entries[name] = disk.ino
        return instantiate(disk, name)

    # -- directories (ext4_dir_inode_operations) -----------------------------------------
    def lookup(dir, name: str) -> Optional[Inode]:
        """ext4_lookup(): the entry on the disk (ext4_find_entry()) and its inode (ext4_iget());
        None (a negative lookup) for a name the directory does not have."""
        ino = info.disk[dir.d_inode.i_ino].entries.get(name)
        return None if ino is None else iget(ino, name)

    def create(dir, name: str, mode: int):
        """ext4_create(): a new empty regular file with its page cache and backing store."""
        return sb.d_alloc(dir, name, new_inode(dir, S_IFREG | (mode & 0o7777), name))

    def mkdir(dir, name: str, mode: int):
        """ext4_mkdir(): an empty directory (2 links: its name and "."; the parent gains "..")."""
        inode = new_inode(dir, S_IFDIR | (mode & 0o7777), name)
        inode.inc_nlink()
        info.disk[inode.i_ino].nlink = inode.i_nlink
        dir.d_inode.inc_nlink()
        return sb.d_alloc(dir, name, inode)

    def dir_fsync(file, start: int, end: int, datasync: bool) -> None:
        """ext4_dir_operations' fsync (ext4_sync_file): a directory has no page cache here."""

    def iterate_shared(inode) -> List[str]:
        """ext4_readdir(): the directory's entries on the disk."""
        return list(info.disk[inode.i_ino].entries)

    dir_fops = FileOperations(fsync=dir_fsync, iterate_shared=iterate_shared)

    def unlink(dir, victim) -> None:
        """ext4_unlink(): the entry leaves the directory on the disk (ext4_delete_entry()), the
        inode a link (on the disk too), and the dentry goes (d_delete())."""
        inode = victim.d_inode
        del info.disk[dir.d_inode.i_ino].entries[victim.d_name]
        inode.drop_nlink()
        info.disk[inode.i_ino].nlink = inode.i_nlink
        sb.d_delete(victim)

    def rmdir(dir, victim) -> None:
        """ext4_rmdir(): ENOTEMPTY unless the directory is empty on the disk (empty_dir())."""
        inode = victim.d_inode
        if info.disk[inode.i_ino].entries:
            raise VfsError("ENOTEMPTY", f"{victim.d_name!r} is not empty")
        del info.disk[dir.d_inode.i_ino].entries[victim.d_name]
        inode.clear_nlink()
        info.disk[inode.i_ino].nlink = 0
        dir.d_inode.drop_nlink()
        sb.d_delete(victim)

    dir_iops = InodeOperations(lookup=lookup, create=create, mkdir=mkdir, rmdir=rmdir,
                               unlink=unlink)
    sb = SuperBlock(fs_type, 0o755, dir_iops, dir_fops, fs_info=info,
                    s_op=diskfs_super_operations(info), s_dev=info.s_dev,
                    dcache=info.machine.vfs.dcache)
    sb.s_bdi = info.bdi
    root = sb.s_root.d_inode
    root.i_ino = ROOT_INO
    root.inc_nlink()                                # "." and its name: 2 links
    info.disk[ROOT_INO] = DiskInode(ROOT_INO, root.i_mode)
    info.disk[ROOT_INO].nlink = root.i_nlink
    info.icache[ROOT_INO] = root
    return sb


def _diskfs_kill_sb(sb: SuperBlock) -> None:
    """kill_block_super() -> generic_shutdown_super(): the unused dentries are pruned
    (shrink_dcache_for_umount()) and then every unused inode is evicted (evict_inodes()); the
    disk keeps its inode table."""
    from memsim.dcache import shrink_dcache_sb
    shrink_dcache_sb(sb)
    sb.s_fs_info.inodes.kill_sb(sb)


#: ``mount -t diskfs``: the filesystem type the plugin registers.
DISKFS_TYPE = FileSystemType("diskfs", "regular files on an emulated disk, cached in the page "
                             "cache (the page-cache plugin)", _diskfs_mount, plugin="pagecache",
                             kill_sb=_diskfs_kill_sb)


def mount_boot_disk(machine: Any) -> None:
    """Mount the machine's disk at :data:`DISKFS_MOUNT_POINT` (the directory is made on
    rootfs), as an fstab line would at boot.  Its root inode is one of the objects a booted
    kernel already has, which memsim does not model as slab objects (InodeCache.booting): so a
    workload that does not use the disk allocates nothing for it and its trace is unchanged."""
    from memsim.plugins.pagecache.inode import InodeCache
    vfs = machine.vfs
    if not vfs.exists(DISKFS_MOUNT_POINT):
        vfs.do_mkdirat(DISKFS_MOUNT_POINT, 0o755)
    with InodeCache.booting(machine):
        vfs.do_mount(DISKFS_DEVICE, DISKFS_MOUNT_POINT, "diskfs")
