"""hugetlbfs (fs/hugetlbfs/inode.c): mounts, files, hugetlb_file_setup(), and the mmap of a
hugetlbfs file (hugetlbfs_file_mmap: VM_HUGETLB, the vm_ops, the reservation, i_size).

The per-fault work is :mod:`memsim.plugins.hugetlb.fault` (C); this module is the filesystem
around it: the mount options (``size=`` and ``min_size=`` through a subpool, ``min_size``
reserving at mount; ``pagesize=``; ``nr_inodes=``, ``mode=``, ``uid=``, ``gid=``; EINVAL for a
bad value or another option), one internal mount per hstate (init_hugetlbfs_fs()'s
kern_mount, behind MAP_HUGETLB and MFD_HUGETLB), the directory operations (create, mkdir,
rmdir, unlink), ->setattr (truncate: hugetlb_vmtruncate), ->fallocate (preallocation and
FALLOC_FL_PUNCH_HOLE), ->read_iter and ->evict_inode (remove_inode_hugepages).

Nothing happens at import or at boot: a machine's :class:`Hugetlbfs` (``machine.plugin_state
["hugetlb.fs"]``) is made by the first mount, MAP_HUGETLB or MFD_HUGETLB, so a workload that
uses none of them runs as it did without it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from memsim.mm import AddressSpace
from memsim.profiles import GFP_KERNEL, ProfileTable
from memsim.vfs import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, O_RDWR, S_IFDIR, S_IFREG, Dentry,
                        File, FileOperations, FileSystemType, FsContext, Inode, InodeOperations,
                        Path, SuperBlock, SuperOperations, VfsError, i_size_write, iput,
                        simple_unlink)

__all__ = ["Hugetlbfs", "HugetlbfsInode", "get_hugetlbfs", "hugetlbfs_type", "HUGETLBFS_TYPE_DOC",
           "MAP_HUGE_SHIFT", "MAP_HUGE_MASK", "HUGETLB_ANON_FILE", "hugetlb_file_setup"]

PAGE_SHIFT = 12
# include/uapi/asm-generic/hugetlb_encode.h
MAP_HUGE_SHIFT = 26
MAP_HUGE_MASK = 0x3f
#: the name of MAP_HUGETLB's file (mm/mmap.c: "anon_hugepage")
HUGETLB_ANON_FILE = "anon_hugepage"
# include/linux/mm.h
VM_WRITE = 0x2
VM_SHARED = 0x8
VM_MAYSHARE = 0x80
VM_DONTEXPAND = 0x40000
VM_NORESERVE = 0x200000
VM_HUGETLB = 0x400000
#: v6.0 "hugetlbfs: zero partial pages on fallocate hole punch": the bytes of the hole inside a
#: huge page it does not cover whole are zeroed (before, they were left as they were)
PUNCH_ZEROES_PARTIAL = ProfileTable("hugetlb.punch_zeroes_partial", {"v5.14": False, "v6.18": True})
#: the anonymous device minors memsim gives hugetlbfs superblocks (get_anon_bdev() numbers 0:N;
#: memsim has no machine-wide allocator of them: a range apart from tmpfs's)
FIRST_ANON_MINOR = 80
#: F_SEAL_SEAL: a hugetlbfs file starts with it (hugetlbfs_get_inode(): info->seals)
F_SEAL_SEAL = 0x0001
#: do_truncate()'s ia_valid for ftruncate(2): ATTR_SIZE | ATTR_MTIME | ATTR_CTIME | ATTR_FILE
TRUNCATE_IA_VALID = 0x8 | 0x20 | 0x40 | 0x2000
#: where i_data sits in the hugetlbfs_inode_cache object (as memsim.plugins.pagecache.inode's
#: I_DATA_OFFSET: the kernel's offset is not observable in memsim's output)
I_DATA_OFFSET = 0x100
#: the addresses of inodes with no slab object (the internal mounts' roots, made at boot in the
#: kernel; or a machine without a slab allocator)
BOOT_INODE_BASE = 0xffff888380000000

HUGETLBFS_TYPE_DOC = ("files in huge pages (hugetlbfs): options pagesize=, size=, min_size= "
                      "(reserved at mount), nr_inodes=, mode=, uid=, gid=; mmap of its files, "
                      "MAP_HUGETLB and MFD_HUGETLB map huge pages from the hugetlb pool")


class HugetlbfsInode(Inode):
    """``struct hugetlbfs_inode_info`` around its ``vfs_inode``, an object of
    ``hugetlbfs_inode_cache`` at ``i_addr`` (0: a boot-time inode without one): ``hf`` is the C
    side (:class:`memsim.plugins.hugetlb.fault.HugetlbFile`: hstate, resv_map, subpool), ``i_data``
    the address_space inside the object."""

    __slots__ = ("hf", "i_data", "i_addr")

    def __init__(self, sb: SuperBlock):
        super().__init__(sb)
        self.hf = None
        self.i_data: Optional[AddressSpace] = None
        self.i_addr = 0


class HugetlbfsSbInfo:
    """``struct hugetlbfs_sb_info``: the hstate, the subpool (None: no size= / min_size=), the
    inode limit (-1: none) and free inodes, the root's mode."""

    def __init__(self, fs: "Hugetlbfs", hstate, spool, max_inodes: int, mode: int):
        self.fs = fs
        self.hstate = hstate
        self.spool = spool
        self.max_inodes = max_inodes
        self.free_inodes = max_inodes
        self.mode = mode


def _memparse(text: str) -> tuple:
    """memparse(): (value, rest) of a number with an optional K/M/G/T/P/E suffix."""
    t = text.strip()
    i = 0
    if t[:2].lower() == "0x":
        i = 2
        while i < len(t) and t[i] in "0123456789abcdefABCDEF":
            i += 1
    else:
        while i < len(t) and t[i].isdigit():
            i += 1
    if i == 0 or (t[:2].lower() == "0x" and i == 2):
        raise ValueError(text)
    value = int(t[:i], 0) if not (t[0] == "0" and i > 1 and t[1].isdigit()) else int(t[:i], 8)
    rest = t[i:]
    if rest and rest[0] in "kKmMgGtTpPeE":
        value <<= 10 * ("kmgtpe".index(rest[0].lower()) + 1)
        rest = rest[1:]
    return value, rest


class Hugetlbfs:
    """hugetlbfs on one machine: its superblocks, the internal mount of each hstate and the
    operations of its files and directories."""

    def __init__(self, machine: Any):
        self.machine = machine
        self.core = machine.mmcore
        self.hg = machine.plugin_state["hugetlb"]
        self.maps = machine.plugin_state["hugetlb.maps"]
        self.supers: List[SuperBlock] = []
        self.kern_mounts: Dict[int, Any] = {}     # hstate index -> internal VfsMount
        self._kern_hstate = None
        self._next_boot_inode = 0
        self._booting = False
        self.next_minor = FIRST_ANON_MINOR
        self.file_iops = InodeOperations(setattr=self.hugetlbfs_setattr)
        self.dir_iops = InodeOperations(create=self.hugetlbfs_create, mkdir=self.hugetlbfs_mkdir,
                                        rmdir=self.hugetlbfs_rmdir, unlink=self.hugetlbfs_unlink)
        self.file_fops = FileOperations(mmap=self.hugetlbfs_file_mmap,
                                        read_iter=self.hugetlbfs_read_iter,
                                        fadvise=self.hugetlbfs_fadvise,
                                        fallocate=self.hugetlbfs_fallocate,
                                        get_unmapped_area=self.hugetlb_get_unmapped_area)
        self.sops = SuperOperations(alloc_inode=self.hugetlbfs_alloc_inode,
                                    evict_inode=self.hugetlbfs_evict_inode,
                                    free_inode=self.hugetlbfs_free_inode)

    # -- mounting ------------------------------------------------------------------------------
    def mount(self, fc: FsContext) -> SuperBlock:
        """hugetlbfs_parse_param() + hugetlbfs_validate() + hugetlbfs_fill_super(): a new
        superblock of the default hstate or ``pagesize``'s (EINVAL: "Unsupported page size");
        ``size``/``min_size`` (bytes with a K/M/G suffix, or N% of the hstate's pool, rounded
        down to huge pages; min_size above size is EINVAL) make a subpool, ``min_size``
        reserving its pages now (ENOMEM if the pool cannot); ``nr_inodes`` (-1: none),
        ``mode`` (octal, default 0755), ``uid``/``gid`` (taken, not modelled)."""
        from memsim.plugins.hugetlb.fault import HugepageSubpool
        h = self._kern_hstate or self.hg.default_hstate
        max_opt = min_opt = None
        max_inodes = -1
        mode = 0o755
        for key, value in fc.options:
            if key not in ("size", "min_size", "pagesize", "nr_inodes", "mode", "uid", "gid"):
                raise VfsError("EINVAL", f"hugetlbfs: Unknown parameter '{key}'")
            if value is None or value == "":
                raise VfsError("EINVAL", f"hugetlbfs: Bad value for '{key}'")
            try:
                if key in ("size", "min_size"):
                    num, rest = _memparse(value)
                    if rest not in ("", "%"):
                        raise ValueError(value)
                    opt = (num, rest == "%")
                    if key == "size":
                        max_opt = opt
                    else:
                        min_opt = opt
                elif key == "pagesize":
                    ps, rest = _memparse(value)
                    if rest:
                        raise ValueError(value)
                    h = self.hg.by_size(ps)
                    if h is None:
                        raise VfsError("EINVAL", f"hugetlbfs: Unsupported page size {ps >> 20} MB")
                elif key == "nr_inodes":
                    max_inodes, rest = _memparse(value)
                    if rest:
                        raise ValueError(value)
                elif key in ("uid", "gid"):
                    int(value, 10)
                else:
                    mode = int(value, 8) & 0o1777
            except ValueError:
                raise VfsError("EINVAL", f"hugetlbfs: Bad value for '{key}'") from None

        def to_hpages(opt) -> int:
            """hugetlbfs_size_to_hpages()."""
            if opt is None:
                return -1
            num, percent = opt
            if percent:
                num = (num << (PAGE_SHIFT + h.order)) * h.max_huge_pages // 100
            return num >> (PAGE_SHIFT + h.order)
        max_hpages, min_hpages = to_hpages(max_opt), to_hpages(min_opt)
        if min_hpages != -1 and max_hpages != -1 and min_hpages > max_hpages:
            raise VfsError("EINVAL", "hugetlbfs: Minimum size can not be greater than maximum size")
        spool = None
        if max_hpages != -1 or min_hpages != -1:
            spool = HugepageSubpool(h, max_hpages, min_hpages)     # hugepage_new_subpool()
            if min_hpages != -1 and self.maps.hugetlb_acct_memory(h, min_hpages) < 0:
                raise VfsError("ENOMEM", f"hugetlbfs: min_size needs {min_hpages} huge pages the "
                                         "pool cannot reserve")
            self.maps.add_subpool(spool)
        info = HugetlbfsSbInfo(self, h, spool, max_inodes, mode)
        sb = SuperBlock(fc.fs_type, mode, self.dir_iops, fs_info=info, s_op=self.sops,
                        s_dev=self.next_minor)
        self.next_minor += 1
        sb.s_root.d_inode.inc_nlink()
        self.trace_alloc_inode(sb.s_root.d_inode, None)     # hugetlbfs_get_root()
        self.supers.append(sb)
        return sb

    def kill_sb(self, sb: SuperBlock) -> None:
        """kill_litter_super() then hugetlbfs_put_super(): the files no one holds are evicted,
        the subpool put: its min_size reservation goes back (hugetlb_acct_memory(-min))."""
        def genocide(dentry: Dentry) -> None:
            for child in list(dentry.d_subdirs.values()):
                genocide(child)
                sb.d_delete(child)
        genocide(sb.s_root)
        info: HugetlbfsSbInfo = sb.s_fs_info
        spool = info.spool
        if spool is not None and spool.min_hpages != -1:
            self.maps.hugetlb_acct_memory(spool.hstate, -spool.min_hpages)
        if sb in self.supers:
            self.supers.remove(sb)

    def kern_mount(self, h):
        """hugetlbfs_vfsmount[hstate_index(h)]: the internal mount of an hstate (made on first
        use; init_hugetlbfs_fs() makes them at boot)."""
        mnt = self.kern_mounts.get(h.index)
        if mnt is None:
            self._kern_hstate = h
            self._booting = True                # its root is a boot-time inode
            try:
                mnt = self.machine.vfs.kern_mount("hugetlbfs")
            finally:
                self._kern_hstate = None
                self._booting = False
            self.kern_mounts[h.index] = mnt
        return mnt

    # -- trace events (memsim.tracing.hugetlbfs, v6.18) --------------------------------------------
    def _emit(self, name: str, **values) -> None:
        events = self.machine.events
        if events is None or not events.is_enabled(name):
            return
        cur = self.machine.current
        events.emit(self.machine.tb, cur.cpu, cur.pid, name, **values)

    def trace_alloc_inode(self, inode: Inode, dir: Optional[Inode]) -> None:
        self._emit("hugetlbfs:hugetlbfs_alloc_inode", dev=inode.i_sb.s_dev, ino=inode.i_ino,
                   dir=dir.i_ino if dir is not None else 0, mode=inode.i_mode & 0xffff)

    def _trace_inode(self, name: str, inode: Inode) -> None:
        hf = getattr(inode, "hf", None)
        self._emit(name, dev=inode.i_sb.s_dev, ino=inode.i_ino, mode=inode.i_mode & 0xffff,
                   size=inode.i_size, nlink=inode.i_nlink, seals=F_SEAL_SEAL,
                   blocks=hf.i_blocks if hf is not None else 0)

    # -- inodes --------------------------------------------------------------------------------
    def hugetlbfs_alloc_inode(self, sb: SuperBlock) -> HugetlbfsInode:
        """hugetlbfs_alloc_inode(): an object of hugetlbfs_inode_cache (ENOMEM without one);
        an internal mount's root is a boot-time object with no slab allocation."""
        inode = HugetlbfsInode(sb)
        slab = self.machine.slab
        if slab is not None and not self._booting:
            inode.i_addr = slab.cache_alloc("hugetlbfs_inode_cache", GFP_KERNEL, "hugetlbfs_alloc_inode")
            if not inode.i_addr:
                raise VfsError("ENOMEM", "no memory for an inode (hugetlbfs_inode_cache)")
        return inode

    def _i_data_addr(self, inode: HugetlbfsInode) -> int:
        if inode.i_addr:
            return inode.i_addr + I_DATA_OFFSET
        self._next_boot_inode += 1
        return BOOT_INODE_BASE + self._next_boot_inode * 0x400

    def hugetlbfs_get_inode(self, sb: SuperBlock, mode: int, name: str = "",
                            dir: Optional[Inode] = None) -> HugetlbfsInode:
        """hugetlbfs_get_inode(): hugetlbfs_inc_free_inodes() (ENOSPC past nr_inodes), the
        inode, and for a regular file its mapping and its C side (resv_map_alloc())."""
        from memsim.plugins.hugetlb.fault import HugetlbFile
        info: HugetlbfsSbInfo = sb.s_fs_info
        if info.max_inodes != -1:
            if info.free_inodes <= 0:
                raise VfsError("ENOSPC", "no free inodes (nr_inodes)")
            info.free_inodes -= 1
        if mode & 0o170000 == S_IFDIR:
            inode = sb.new_inode(mode, self.dir_iops, FileOperations())
            inode.inc_nlink()
            self.trace_alloc_inode(inode, dir)
            return inode
        inode = sb.new_inode(mode, self.file_iops, self.file_fops)
        mapping = AddressSpace(inode.i_ino, name, False, sb.s_dev, 0,
                               bool(self.machine.boot.slab.nrexceptional))
        mapping.addr = self._i_data_addr(inode)
        mapping.host = inode
        inode.i_data = mapping
        inode.i_mapping = mapping
        inode.hf = HugetlbFile(info.hstate, info.spool, mapping, inode)
        mapping.a_ops_owner = inode.hf
        self.maps.install_aops(mapping)
        self.core.rmap.register_mapping(mapping)
        self.trace_alloc_inode(inode, dir)
        return inode

    def hugetlbfs_evict_inode(self, inode: HugetlbfsInode) -> None:
        """hugetlbfs_evict_inode(): remove_inode_hugepages(0, LLONG_MAX) (every page freed and
        every reservation of the inode given back), the resv_map freed, clear_inode()."""
        info: HugetlbfsSbInfo = inode.i_sb.s_fs_info
        self._trace_inode("hugetlbfs:hugetlbfs_evict_inode", inode)
        if inode.hf is not None:
            self.maps.remove_inode_hugepages(inode.hf, 0, -1, True)
            self.core.rmap.unregister_mapping(inode.i_data)
            inode.i_data.a_ops_owner = None
        if info.max_inodes != -1:
            info.free_inodes += 1

    def hugetlbfs_free_inode(self, inode: HugetlbfsInode) -> None:
        """hugetlbfs_free_inode(), the RCU callback of destroy_inode (after a grace period:
        MmCore.call_rcu): traced, and the object goes back to hugetlbfs_inode_cache."""
        slab, addr = self.machine.slab, inode.i_addr
        inode.i_addr = 0

        def free() -> None:
            self._trace_inode("hugetlbfs:hugetlbfs_free_inode", inode)
            if slab is not None and addr:
                slab.cache_free("hugetlbfs_inode_cache", addr, "hugetlbfs_free_inode")
        self.core.call_rcu(free)

    # -- directories ---------------------------------------------------------------------------
    def hugetlbfs_create(self, dir: Dentry, name: str, mode: int) -> Dentry:
        """hugetlbfs_create() -> hugetlbfs_mknod()."""
        inode = self.hugetlbfs_get_inode(dir.d_sb, S_IFREG | (mode & 0o7777), name, dir.d_inode)
        return dir.d_sb.d_alloc(dir, name, inode)

    def hugetlbfs_mkdir(self, dir: Dentry, name: str, mode: int) -> Dentry:
        inode = self.hugetlbfs_get_inode(dir.d_sb, S_IFDIR | (mode & 0o7777), name, dir.d_inode)
        dentry = dir.d_sb.d_alloc(dir, name, inode)
        dir.d_inode.inc_nlink()
        return dentry

    def hugetlbfs_unlink(self, dir: Dentry, victim: Dentry) -> None:
        """simple_unlink(): the file lives on while open or mapped."""
        simple_unlink(dir, victim)

    def hugetlbfs_rmdir(self, dir: Dentry, victim: Dentry) -> None:
        if victim.d_subdirs:
            raise VfsError("ENOTEMPTY", f"{victim.d_name!r} is not empty")
        victim.d_inode.clear_nlink()
        dir.d_inode.drop_nlink()
        dir.d_sb.d_delete(victim)

    # -- truncate, hole punch ------------------------------------------------------------------
    def _huge_size(self, inode: HugetlbfsInode) -> int:
        return 4096 << inode.hf.hstate.order

    def hugetlbfs_setattr(self, dentry: Dentry, newsize: int) -> None:
        """hugetlbfs_setattr() with ATTR_SIZE: EINVAL unless a multiple of the huge page size;
        growing only sets i_size; shrinking is hugetlb_vmtruncate(): i_size, every mapping of
        the pages past it zapped (private copies too), remove_inode_hugepages(newsize, end)."""
        inode: HugetlbfsInode = dentry.d_inode
        self._emit("hugetlbfs:hugetlbfs_setattr", dev=inode.i_sb.s_dev, ino=inode.i_ino,
                   d_len=len(dentry.d_name.encode()), d_name=dentry.d_name,
                   ia_valid=TRUNCATE_IA_VALID, ia_mode=0, old_size=inode.i_size, ia_size=newsize)
        hsize = self._huge_size(inode)
        if newsize % hsize:
            raise VfsError("EINVAL", f"size {newsize} is not a multiple of the huge page size {hsize}")
        oldsize = inode.i_size
        i_size_write(inode, newsize)
        if newsize < oldsize:
            first = newsize >> PAGE_SHIFT
            self.core.unmap_mapping_range(inode.i_data, first, 0xffffffffffffffff - first, True)
            self.maps.remove_inode_hugepages(inode.hf, newsize // hsize, -1, True)

    def hugetlbfs_fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        """hugetlbfs_fallocate(), traced at its end with the result (v6.18)."""
        import errno as _errno
        inode = file.f_inode
        ret = 0
        try:
            self._fallocate(file, mode, offset, length)
        except VfsError as e:
            ret = -getattr(_errno, e.errno, 0)
            raise
        finally:
            self._emit("hugetlbfs:hugetlbfs_fallocate", dev=inode.i_sb.s_dev, ino=inode.i_ino,
                       mode=mode, offset=offset, len=length, size=inode.i_size, ret=ret)

    def _fallocate(self, file: File, mode: int, offset: int, length: int) -> None:
        """hugetlbfs_fallocate(): EOPNOTSUPP for a mode other than KEEP_SIZE / PUNCH_HOLE.
        FALLOC_FL_PUNCH_HOLE (hugetlbfs_punch_hole()): the whole huge pages of the hole are
        unmapped (private copies kept) and removed, each with its reservation.  Otherwise the
        huge pages covering the range are allocated into the file (reservations consumed where
        the file has them; ENOSPC past the subpool or the pool, ENOMEM) and i_size grows unless
        FALLOC_FL_KEEP_SIZE."""
        inode: HugetlbfsInode = file.f_inode
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise VfsError("EOPNOTSUPP", "hugetlbfs only allocates and punches holes")
        hsize = self._huge_size(inode)
        if mode & FALLOC_FL_PUNCH_HOLE:
            start = -(-offset // hsize)
            end = (offset + length) // hsize
            if PUNCH_ZEROES_PARTIAL[self.machine.profile]:
                # hugetlbfs_zero_partial_page() of the partial pages at either end
                if offset < start * hsize:
                    self._zero_range(inode, offset, min(offset + length, start * hsize))
                if offset + length > end * hsize and offset + length > start * hsize:
                    self._zero_range(inode, max(end * hsize, offset), offset + length)
            if end <= start:
                return
            nr = (end - start) * (hsize >> PAGE_SHIFT)
            self.core.unmap_mapping_range(inode.i_data, start * (hsize >> PAGE_SHIFT), nr, False)
            self.maps.remove_inode_hugepages(inode.hf, start, end, False)
            return
        err = self.maps.fallocate(inode.hf, offset // hsize, -(-(offset + length) // hsize))
        if err:
            raise VfsError("ENOSPC" if err == -28 else "ENOMEM", "no huge page for the range")
        if not mode & FALLOC_FL_KEEP_SIZE and offset + length > inode.i_size:
            i_size_write(inode, offset + length)

    def _zero_range(self, inode: HugetlbfsInode, start: int, end: int) -> None:
        """folio_zero_segment() of [start, end) inside one cached huge page (none: nothing)."""
        hsize = self._huge_size(inode)
        head = self.maps.find_page(inode.hf, start // hsize)
        if head is None:
            return
        pm = self.machine.physmem
        pos = start
        while pos < end:
            off = pos % hsize
            n = min(end - pos, 4096 - off % 4096)
            pfn = head + off // 4096
            if any(pm.read_bytes(pfn, off % 4096, n)):
                pm.write_bytes(pfn, off % 4096, bytes(n))
            pos += n

    def hugetlbfs_read_iter(self, file: File, pos: int, count: int, buf) -> int:
        """hugetlbfs_read_iter(): up to i_size, the cached pages' bytes, holes as zeros (no
        page is allocated); write(2) has no op on hugetlbfs (EINVAL)."""
        inode: HugetlbfsInode = file.f_inode
        hsize = self._huge_size(inode)
        end = min(pos + count, inode.i_size)
        done = 0
        pm = self.machine.physmem
        while pos < end:
            idx, off = divmod(pos, hsize)
            n = min(end - pos, hsize - off, 4096 - off % 4096)
            if buf is not None:
                head = self.maps.find_page(inode.hf, idx)
                buf += pm.read_bytes(head + off // 4096, off % 4096, n) if head is not None else bytes(n)
            pos += n
            done += n
        return done

    def hugetlbfs_fadvise(self, file: File, offset: int, length: int, advice: int) -> None:
        """generic_fadvise() of a file on noop_backing_dev_info (hugetlbfs): EINVAL for a
        negative length or an unknown advice, every other advice accepted and ignored (no page
        of a hugetlbfs file is dropped or read ahead)."""
        if length < 0 or advice not in range(6):
            raise VfsError("EINVAL", "negative length" if length < 0 else f"unknown advice {advice}")

    # -- mmap ----------------------------------------------------------------------------------
    def hugetlb_get_unmapped_area(self, file: File, length: int):
        """ksys_mmap_pgoff()'s ALIGN(len, huge_page_size) for a hugetlbfs file and
        hugetlb_get_unmapped_area()'s alignment: (length, align)."""
        hsize = self._huge_size(file.f_inode)
        return -(-length // hsize) * hsize, hsize

    def hugetlbfs_file_mmap(self, file: File, vma) -> None:
        """hugetlbfs_file_mmap(): VM_HUGETLB | VM_DONTEXPAND; EINVAL for a file offset that is
        not huge-page aligned; hugetlb_reserve_pages() of the range (ENOMEM when the pool,
        the overcommit limit or the subpool refuses); a writable mapping extends i_size to its
        end; then the hugetlb vm_ops."""
        inode: HugetlbfsInode = file.f_inode
        hf = inode.hf
        order = hf.hstate.order
        vma.vm_flags |= VM_HUGETLB | VM_DONTEXPAND
        if vma.vm_pgoff & ((1 << order) - 1):
            raise VfsError("EINVAL", "the file offset is not a multiple of the huge page size")
        length = (vma.vm_end - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
        if self.maps.hugetlb_reserve_pages(hf, vma.vm_pgoff >> order, length >> (PAGE_SHIFT + order),
                                           vma, vma.vm_flags) < 0:
            raise VfsError("ENOMEM", "the huge page pool cannot reserve the mapping")
        if vma.vm_flags & VM_WRITE and inode.i_size < length:
            i_size_write(inode, length)
        self.maps.set_vm_ops(vma)

    # -- files of the internal mounts ----------------------------------------------------------
    def hugetlb_file_setup(self, name: str, size: int, acctflag: int, page_size_log: int) -> File:
        """hugetlb_file_setup(): an unlinked file ``name`` on the internal mount of the hstate
        ``page_size_log`` names (0: the default; EINVAL for no such hstate), ``size`` bytes,
        its pages reserved now unless ``acctflag`` has VM_NORESERVE (ENOMEM), opened O_RDWR."""
        h = self.hg.default_hstate if page_size_log == 0 else self.hg.by_size(1 << page_size_log)
        if h is None:
            raise VfsError("EINVAL", f"no huge page size of 2^{page_size_log} bytes")
        mnt = self.kern_mount(h)
        inode = self.hugetlbfs_get_inode(mnt.mnt_sb, S_IFREG | 0o777, name)
        inode.clear_nlink()
        i_size_write(inode, size)
        inode.i_data.name = f"/{name} (deleted)"
        if self.maps.hugetlb_reserve_pages(inode.hf, 0, size >> (PAGE_SHIFT + h.order), None,
                                           acctflag) < 0:
            iput(inode)
            raise VfsError("ENOMEM", "the huge page pool cannot reserve the file")
        dentry = Dentry(mnt.mnt_sb, name, mnt.mnt_root, inode)
        file = File(Path(mnt, dentry), O_RDWR)
        iput(inode)                         # the file's reference replaces the creator's
        mnt.mnt_count += 1
        return file


def check_invariants(machine: Any) -> List[str]:
    """``--check`` of the mappings: every hstate's reservations are backed by free pages
    (resv <= free, hugetlb.md 1.2); each hugetlbfs file's cache holds hugetlb heads of its hstate
    at their index (page->mapping its i_data, page->index in base pages), ``nrpages`` of them,
    each with the cache's reference besides its mappings, none RestoreReserve; its i_blocks are
    those pages'; its mapping keeps nrexceptional as the machine booted."""
    problems: List[str] = []
    hg = machine.plugin_state.get("hugetlb")
    if hg is not None:
        for h in hg.hstates:
            if h.resv_huge_pages > h.free_huge_pages:
                problems.append(f"{h.name}: {h.resv_huge_pages} pages reserved but only "
                                f"{h.free_huge_pages} free")
    fs = machine.plugin_state.get("hugetlb.fs")
    if fs is None:
        return problems
    keep = bool(machine.boot.slab.nrexceptional)
    supers = list(fs.supers) + [m.mnt_sb for m in fs.kern_mounts.values()]
    for sb in supers:
        for inode in sb.inodes():
            hf = getattr(inode, "hf", None)
            if hf is None:
                continue
            mapping = inode.i_data
            order = hf.hstate.order
            pages = fs.maps.cached_pages(hf)
            if len(pages) != mapping.nrpages:
                problems.append(f"hugetlbfs {mapping!r}: {len(pages)} pages cached, nrpages "
                                f"{mapping.nrpages}")
            if hf.i_blocks != len(pages) << (order + 3):
                problems.append(f"hugetlbfs {mapping!r}: i_blocks {hf.i_blocks} for {len(pages)} pages")
            if bool(mapping.keep_nrexceptional) != keep:
                problems.append(f"hugetlbfs {mapping!r}: keep_nrexceptional "
                                f"{bool(mapping.keep_nrexceptional)}, booted with {keep}")
            problems += fs.maps.check_file(hf)
    return problems


def get_hugetlbfs(machine: Any) -> Hugetlbfs:
    """The machine's :class:`Hugetlbfs`, made on first use."""
    state = machine.plugin_state.get("hugetlb.fs")
    if state is None:
        state = machine.plugin_state["hugetlb.fs"] = Hugetlbfs(machine)
    return state


def hugetlbfs_mount(fc: FsContext) -> SuperBlock:
    return get_hugetlbfs(fc.machine).mount(fc)


def hugetlbfs_kill_sb(sb: SuperBlock) -> None:
    sb.s_fs_info.fs.kill_sb(sb)


def hugetlb_file_setup(machine: Any, name: str, size: int, acctflag: int, page_size_log: int) -> File:
    """FileSystemType.file_setup of hugetlbfs: :meth:`Hugetlbfs.hugetlb_file_setup` of
    ``machine`` (memfd_create(MFD_HUGETLB) reaches it through the VFS)."""
    return get_hugetlbfs(machine).hugetlb_file_setup(name, size, acctflag, page_size_log)


def hugetlbfs_type() -> FileSystemType:
    """The ``hugetlbfs`` FileSystemType (hugetlbfs_fs_type)."""
    return FileSystemType("hugetlbfs", HUGETLBFS_TYPE_DOC, hugetlbfs_mount, plugin="hugetlb",
                          kill_sb=hugetlbfs_kill_sb, file_setup=hugetlb_file_setup)
