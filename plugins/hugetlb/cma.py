"""Contiguous allocations over memory that may hold huge pages: CMA areas (mm/cma.c) and the
virtio-mem style alloc_contig_range() the seed change "mm: make alloc_contig_range handle free
hugetlb pages" is about.

A CMA area (the ``cma`` machine key: areas per node) is a max-order aligned range at the top of
its node's memory whose pageblocks are MIGRATE_CMA from boot (cma_activate_area ->
init_cma_reserved_pageblock): the buddy allocator gives them to movable allocations only (huge
pages included), and ``cma_alloc`` takes a run of them back through alloc_contig_range.  The
machine's /proc files stay those of the live kernel's configuration, which has no CONFIG_CMA:
there are no CmaTotal / CmaFree lines and no cma_alloc_* counters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Generator, List, Optional

from memsim.errors import InvalidValue
from memsim.registry import MachineKey, Param

PAGE_SHIFT = 12
PAGEBLOCK_PAGES = 512
MAX_ORDER_PAGES = 1024              # v5.14 MAX_ORDER 11: cma_declare_contiguous aligns to 4 MiB
MIGRATE_CMA = 4
GFP_KERNEL = 0xCC0
EBUSY, ENOMEM, EINVAL = 16, 12, 22


@dataclass
class CmaArea:
    """struct cma: ``count`` pages from ``base_pfn``, one bit per page (order_per_bit 0)."""

    name: str
    nid: int
    base_pfn: int
    count: int
    bitmap: List[bool] = field(default_factory=list)

    def __post_init__(self):
        self.bitmap = [False] * self.count


def _check_areas(value):
    for i, area in enumerate(value):
        size = area["size"]
        if size % (MAX_ORDER_PAGES << PAGE_SHIFT):
            raise InvalidValue(f"a CMA area of {size} bytes is not a multiple of 4 MiB",
                               "give a multiple of 4 MiB (cma_declare_contiguous's alignment)",
                               key=(i, "size"))
    return value


def machine_key() -> MachineKey:
    return MachineKey(Param(
        "cma", "list", "CMA areas reserved at boot, each at the top of its node (cma= / "
        "cma_declare_contiguous_nid): MIGRATE_CMA pageblocks that only movable allocations use, "
        "for the cma_alloc and cma_release steps", default=(),
        items=(Param("node", "int", "the node of the area", default=0, minimum=0),
               Param("size", "size", "its size, a multiple of 4 MiB", required=True, minimum=4 << 20)),
        check=_check_areas))


def activate_areas(machine, areas) -> List[CmaArea]:
    """cma_declare_contiguous_nid() + cma_activate_area(): each area at the top of its node,
    every pageblock MIGRATE_CMA with its free pages moved to the CMA free lists."""
    pm = machine.physmem
    out = []
    ends: Dict[int, int] = {}
    for i, area in enumerate(areas):
        nid = area["node"]
        if nid >= pm.nr_nodes:
            raise InvalidValue(f"CMA area {i} is on node {nid}, but the machine has {pm.nr_nodes} "
                               f"node{'s' if pm.nr_nodes != 1 else ''}", f"use nodes 0 to {pm.nr_nodes - 1}")
        count = area["size"] >> PAGE_SHIFT
        start, end = pm.node_range(nid)
        top = ends.get(nid, end) // MAX_ORDER_PAGES * MAX_ORDER_PAGES
        base = top - count
        if base < start + MAX_ORDER_PAGES:
            raise InvalidValue(f"CMA area {i} ({area['size'] >> 20} MiB) does not fit node {nid}",
                               "make it smaller or give the node more memory")
        ends[nid] = base
        for pfn in range(base, base + count, PAGEBLOCK_PAGES):
            pm.set_pageblock_migratetype(pfn, MIGRATE_CMA)
        out.append(CmaArea(f"cma{i}", nid, base, count))
    return out


def cma_alloc(machine, area: CmaArea, count: int, align: int) -> Generator:
    """cma_alloc(): the first free, ``align``-order aligned run of the bitmap; its pages through
    alloc_contig_range(MIGRATE_CMA); a busy range (EBUSY) is retried one alignment further on,
    any other error ends the search.  A generator (alloc_contig_range may wait for a hugetlb
    free in flight); returns (pfn or None, the last alloc_contig_range result)."""
    pm = machine.physmem
    mask = (1 << align) - 1
    offset = (-area.base_pfn) & mask          # cma_bitmap_aligned_offset
    start = 0
    ret = -ENOMEM
    while True:
        no = _find_zero_area(area.bitmap, start, count, mask, offset)
        if no is None:
            return None, ret
        for i in range(no, no + count):
            area.bitmap[i] = True
        pfn = area.base_pfn + no
        ret = yield from pm.alloc_contig_range_gen(pfn, pfn + count, MIGRATE_CMA, GFP_KERNEL)
        if ret == 0:
            return pfn, 0
        for i in range(no, no + count):
            area.bitmap[i] = False
        if ret != -EBUSY:
            return None, ret
        start = no + mask + 1


def _find_zero_area(bitmap, start: int, nr: int, mask: int, offset: int) -> Optional[int]:
    """bitmap_find_next_zero_area_off()."""
    size = len(bitmap)
    index = start
    while True:
        while index < size and bitmap[index]:
            index += 1
        index = ((index + offset) + mask & ~mask) - offset
        end = index + nr
        if end > size:
            return None
        busy = next((i for i in range(index, end) if bitmap[i]), None)
        if busy is None:
            return index
        index = busy + 1


def cma_release(machine, area: CmaArea, pfn: int, count: int) -> bool:
    """cma_release(): False for pages outside the area; else free_contig_range() and clear the
    bitmap."""
    if pfn < area.base_pfn or pfn + count > area.base_pfn + area.count:
        return False
    machine.physmem.free_contig_range(pfn, count)
    for i in range(pfn - area.base_pfn, pfn - area.base_pfn + count):
        area.bitmap[i] = False
    return True
