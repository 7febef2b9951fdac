"""mkswap, swapon(2) and swapoff(2) (mm/swapfile.c: sys_swapon, sys_swapoff, try_to_unuse).

A swap area is a regular file on a filesystem that can hold one (the disk at /mnt/disk: not
tmpfs, whose files have no ->swap_activate / bmap) or a block device under /dev that ``mkswap``
creates: ``/dev/zram<N>`` is a zram device (SWP_SYNCHRONOUS_IO: reads complete at once and a
page with one reference skips the swap cache), any other name an SSD (SWP_SOLIDSTATE).
``mkswap`` writes the header: the number of pages it claims (``size``; default the file's size).

swapon's errors are the kernel's: ENOENT (no such path), EINVAL (not a regular file or block
device, no swap header, a header claiming more than the file holds -- "Swap area shorter than
signature indicates" --, a file on a filesystem that cannot swap), EBUSY (already a swap area),
EPERM (MAX_SWAPFILES areas on).  swapoff: EINVAL for a path that is no swap area, ENOMEM when
try_to_unuse() cannot bring a page back in (the area stays on, nothing lost).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from memsim.vfs import O_CREAT, O_WRONLY, VfsError, do_truncate, fput

PAGE_SIZE = 4096
S_IFMT, S_IFREG, S_IFBLK = 0o170000, 0o100000, 0o060000
#: SWAP_FLAG_PRIO_MASK: the priorities swapon(2) can encode
MAX_PRIORITY = 0x7FFF


class SwapError(Exception):
    """A swapon / swapoff that fails with the kernel's errno (its name) and what went wrong."""

    def __init__(self, errno: str, detail: str):
        super().__init__(f"{errno}: {detail}")
        self.errno = errno
        self.detail = detail


@dataclass
class SwapArea:
    """One swap area that is on: its path (as /proc/swaps prints it), inode, kind and type."""

    path: str
    inode: Any
    kind: str                   # "file", "zram" or "ssd"
    type: int


@dataclass
class SwapState:
    """The plugin's state on a machine: the host (C) and the areas that are on, by type."""

    host: Any
    areas: Dict[int, SwapArea] = field(default_factory=dict)
    #: the swap headers mkswap wrote: id(inode) -> (inode, pages the header claims)
    headers: Dict[int, Any] = field(default_factory=dict)
    #: emulated time of one page read, per kind (swap_readpage the faulting task waits for)
    read_ns: Dict[str, int] = field(default_factory=lambda: dict(READ_NS))


#: the emulated time a page read takes: zram decompresses in memory, an SSD or a file on the
#: disk is a device read
READ_NS = {"zram": 3_000, "ssd": 80_000, "file": 80_000}


def swap_state(machine) -> Optional[SwapState]:
    return machine.plugin_state.get("swap")


def _lookup(machine, path: str):
    try:
        return machine.vfs.path_lookup(path).dentry
    except VfsError as e:
        raise SwapError(e.errno, f"{path}: {e.detail or e.errno}") from None


def mkswap(machine, path: str, size: Optional[int]) -> int:
    """mkswap PATH [size]: a block device under /dev is made (``size`` bytes, required); a
    regular file is created when absent (``size`` bytes, sparse) and given the header, which
    claims ``size`` (default: the file's size) rounded down to pages.  Returns the pages the
    header claims (the header page included)."""
    vfs = machine.vfs
    if path.startswith("/dev/"):
        if size is None:
            raise SwapError("EINVAL", f"mkswap {path}: a new block device needs a size")
        dev = _lookup(machine, "/dev")
        name = path[len("/dev/"):]
        if "/" in name or not name:
            raise SwapError("EINVAL", f"mkswap {path}: a device name has no '/'")
        inode = dev.d_subdirs.get(name).d_inode if name in dev.d_subdirs else None
        if inode is None:
            sb = dev.d_inode.i_sb
            inode = sb.new_inode(S_IFBLK | 0o660)
            sb.d_alloc(dev, name, inode)
        inode.i_size = size
        pages = size // PAGE_SIZE
    else:
        if not vfs.exists(path):
            if size is None:
                raise SwapError("ENOENT", f"mkswap {path}: no such file (give a size to create it)")
            f = vfs.do_filp_open(path, O_WRONLY | O_CREAT, 0o600)
            try:
                do_truncate(f.f_path.dentry, size)
            finally:
                fput(f)
        inode = _lookup(machine, path).d_inode
        if inode.i_mode & S_IFMT != S_IFREG:
            raise SwapError("EINVAL", f"mkswap {path}: not a regular file or block device")
        pages = (size if size is not None else inode.i_size) // PAGE_SIZE
    if pages < 2:
        raise SwapError("EINVAL", f"mkswap {path}: a swap area needs at least 2 pages (header + 1)")
    swap_state(machine).headers[id(inode)] = (inode, pages)
    return pages


def sys_swapon(machine, path: str, prio: int) -> int:
    """sys_swapon(): the checks (claim_swapfile, read_swap_header, setup_swap_extents), then
    the area is on with priority ``prio`` (-1: the next default one).  Returns the type."""
    st = swap_state(machine)
    dentry = _lookup(machine, path)
    inode = dentry.d_inode
    mode = inode.i_mode & S_IFMT
    if mode not in (S_IFREG, S_IFBLK):
        raise SwapError("EINVAL", f"swapon {path}: not a regular file or block device")
    for area in st.areas.values():
        if area.inode is inode:
            raise SwapError("EBUSY", f"swapon {path}: already a swap area (claim_swapfile: IS_SWAPFILE)")
    pages = st.headers.get(id(inode), (None, None))[1]
    if pages is None:
        raise SwapError("EINVAL", f"swapon {path}: unable to find swap-space signature (run mkswap first)")
    if mode == S_IFREG:
        fs = inode.i_sb.s_type.name
        if fs not in SWAP_FILESYSTEMS:
            raise SwapError("EINVAL", f"swapon {path}: a {fs} file cannot be a swap file "
                            f"(no ->swap_activate or bmap)")
        if pages > inode.i_size // PAGE_SIZE:
            raise SwapError("EINVAL", f"swapon {path}: swap area shorter than signature indicates "
                            f"({inode.i_size // PAGE_SIZE} pages in the file, the header claims {pages})")
        kind, flags = "file", 0
    else:
        if pages > inode.i_size // PAGE_SIZE:
            raise SwapError("EINVAL", f"swapon {path}: swap area shorter than signature indicates")
        name = path.rsplit("/", 1)[-1]
        if name.startswith("zram"):
            kind, flags = "zram", SWP_BLKDEV | SWP_SOLIDSTATE | SWP_SYNCHRONOUS_IO
        else:
            kind, flags = "ssd", SWP_BLKDEV | SWP_SOLIDSTATE
    host = st.host
    if len(host.types()) >= host.max_swapfiles:
        raise SwapError("EPERM", f"swapon {path}: {host.max_swapfiles} swap areas are on (MAX_SWAPFILES)")
    t = host.add_device(pages, prio, flags, st.read_ns[kind], 0)
    st.areas[t] = SwapArea(path, inode, kind, t)
    return t


def sys_swapoff(machine, path: str):
    """sys_swapoff(): the area leaves the allocator (del_from_avail_list, its free slots out of
    nr_swap_pages), try_to_unuse() brings every page of it back in -- shmem's swapped pages
    (shmem_unuse: the page-cache plugin's tmpfs files, memfds and shared anonymous memory),
    each mm's swap PTEs (unuse_mm: in C per VMA), then the swap-cache pages left -- and the
    area goes; a page that
    cannot be had (ENOMEM) puts the area back (reinsert_swap_info) with what was read in kept.
    A generator: the work yields to the scheduler between mms."""
    from memsim.plugins.pagecache.tmpfs import shmem_unuse
    st = swap_state(machine)
    dentry = _lookup(machine, path)
    area = next((a for a in st.areas.values() if a.inode is dentry.d_inode), None)
    if area is None:
        raise SwapError("EINVAL", f"swapoff {path}: not a swap area that is on")
    host = st.host
    t = area.type
    host.disable(t)
    host.swapoff_running = True
    try:
        # shmem_unuse() first, as try_to_unuse() does: tmpfs, memfd and shared anonymous pages
        if shmem_unuse(machine, t) < 0:
            host.reenable(t)
            raise SwapError("ENOMEM", f"swapoff {path}: no memory to bring its pages back "
                            f"(shmem_unuse); the area stays on")
        yield
        for mm in _mms(machine):
            for vma in list(mm.vmas):
                if vma.vm_file is not None:
                    continue            # shared/file mappings hold no swap PTEs here
                if host.unuse_vma(mm, vma, t) < 0:
                    host.reenable(t)
                    raise SwapError("ENOMEM", f"swapoff {path}: no memory to bring its pages back "
                                    f"(try_to_unuse); the area stays on")
            yield
        host.free_cached(t)
        left = host.used_entries(t)
        if left:
            host.reenable(t)
            raise SwapError("EBUSY", f"swapoff {path}: {len(left)} slots are still in use by "
                            f"something memsim cannot swap in")
    finally:
        host.swapoff_running = False
    host.remove_device(t)
    del st.areas[t]


def _mms(machine) -> List[Any]:
    """Every mm of the machine's tasks, once each (the kernel walks init_mm.mmlist)."""
    seen, out = set(), []
    for task in list(machine.tasks.values()):
        mm = task.mm
        if mm is not None and id(mm) not in seen:
            seen.add(id(mm))
            out.append(mm)
    return out


def proc_swaps(machine) -> str:
    """/proc/swaps (swap_show): the header, then per area in type order its path padded to
    40 columns, "partition" or "file", size and used in kB and the priority."""
    out = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"]
    st = swap_state(machine)
    if st is None:
        return out[0]
    for t in sorted(st.areas):
        area = st.areas[t]
        d = st.host.device(t)
        size, used = d["pages"] * 4, d["inuse_pages"] * 4
        pad = 40 - len(area.path) if len(area.path) < 40 else 1
        kind = "partition" if area.kind != "file" else "file\t"
        tab_size = "\t" if size < 10000000 else ""
        tab_used = "\t" if used < 10000000 else ""
        out.append(f"{area.path}{' ' * pad}{kind}\t{size}\t{tab_size}{used}\t{tab_used}{d['prio']}\n")
    return "".join(out)


#: the filesystems whose regular files can be swap files: memsim's disk at /mnt/disk (tmpfs has
#: no ->swap_activate or bmap)
SWAP_FILESYSTEMS = ("diskfs",)

SWP_BLKDEV, SWP_SOLIDSTATE, SWP_SYNCHRONOUS_IO = 0x40, 0x10, 0x1000
