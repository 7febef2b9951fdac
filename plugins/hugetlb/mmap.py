"""MAP_HUGETLB and the MAP_HUGE_* size flags (mm/mmap.c ksys_mmap_pgoff()).

An anonymous MAP_HUGETLB mapping, shared or private, is a mapping of an unlinked file
``anon_hugepage`` that hugetlb_file_setup() makes on the internal hugetlbfs mount of the hstate
the MAP_HUGE_* bits name (none: the default hstate), with VM_NORESERVE at file creation: its
pages are reserved by the mmap of that file (hugetlbfs_file_mmap), as for any hugetlbfs file.
MAP_HUGETLB on a file that is not hugetlbfs's is EINVAL; on a hugetlbfs file it changes
nothing (the file decides).
"""
from __future__ import annotations

from memsim.registry import MmapFlag
from memsim.vfs import VfsError
from memsim.vm import MmError

__all__ = ["MAP_HUGETLB", "MAP_HUGE_SIZES", "mmap_flags", "hugetlb_prepare"]

#: MAP_HUGETLB (include/uapi/asm-generic/mman-common.h, x86-64)
MAP_HUGETLB = 0x40000
#: MAP_NORESERVE
MAP_NORESERVE = 0x4000
VM_NORESERVE = 0x200000
#: MAP_HUGE_<size> = log2(size) << MAP_HUGE_SHIFT (include/uapi/linux/mman.h)
MAP_HUGE_SIZES = {"64KB": 16, "512KB": 19, "1MB": 20, "2MB": 21, "8MB": 23, "16MB": 24,
                  "32MB": 25, "256MB": 28, "512MB": 29, "1GB": 30, "2GB": 31, "16GB": 34}


def hugetlb_prepare(ctx, req) -> None:
    """ksys_mmap_pgoff() with MAP_HUGETLB: a file mapping must be of a hugetlbfs file
    (EINVAL); an anonymous one needs an hstate of the MAP_HUGE_* size (EINVAL), gets its length
    rounded to whole huge pages and the file of hugetlb_file_setup(); MAP_NORESERVE makes it
    VM_NORESERVE whatever the overcommit policy (do_mmap(): "hugetlb applies strict overcommit
    unless MAP_NORESERVE")."""
    from memsim.plugins.hugetlb.hugetlbfs import (HUGETLB_ANON_FILE, MAP_HUGE_MASK, MAP_HUGE_SHIFT,
                                                  VM_NORESERVE as VM_NORES, get_hugetlbfs)
    machine = ctx.machine
    if req.filp is not None or req.kind in ("file", "file-shared"):
        if req.filp is None or req.filp.f_op.get_unmapped_area is None:
            raise MmError("EINVAL", "MAP_HUGETLB of a file that is not on hugetlbfs")
        req.vm_flags |= VM_NORES if req.map_flags & MAP_NORESERVE else 0
        return
    log = (req.map_flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
    hg = machine.plugin_state["hugetlb"]
    h = hg.default_hstate if log == 0 else hg.by_size(1 << log)
    if h is None:
        raise MmError("EINVAL", f"no huge page size of 2^{log} bytes (MAP_HUGE_* names a size "
                                "without an hstate)")
    size = 4096 << h.order
    length = -(-req.length // size) * size
    try:
        file = get_hugetlbfs(machine).hugetlb_file_setup(HUGETLB_ANON_FILE, length, VM_NORESERVE, log)
    except VfsError as e:
        raise MmError(e.errno, e.detail) from None
    req.length = length
    req.filp = file
    req.kind = "file-shared" if req.kind == "shared" else "file"
    if req.map_flags & MAP_NORESERVE:
        req.vm_flags |= VM_NORES


def mmap_flags():
    """MAP_HUGETLB and the MAP_HUGE_* names."""
    out = [MmapFlag("MAP_HUGETLB", MAP_HUGETLB, "back the mapping with huge pages from the hugetlb "
                    "pool (anonymous: a hugetlbfs file of the default or MAP_HUGE_* size)",
                    prepare=hugetlb_prepare)]
    for name, log in MAP_HUGE_SIZES.items():
        out.append(MmapFlag(f"MAP_HUGE_{name}", log << 26, f"with MAP_HUGETLB: {name} huge pages "
                            "(EINVAL without an hstate of that size)"))
    return out
