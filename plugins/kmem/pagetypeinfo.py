"""/proc/pagetypeinfo (mm/vmstat.c: pagetypeinfo_show), the free lists and pageblocks of every
populated zone per migratetype.

The migratetypes are those of a kernel without CONFIG_CMA (memsim has no CMA areas, and the live
6.18 kernel this was copied from has none either: tests/plugins/data/pagetypeinfo-6.18.44.txt):
Unmovable, Movable, Reclaimable, HighAtomic, Isolate.  Without CONFIG_PAGE_OWNER there is no
"Number of mixed blocks" table.  5.14 prints the same layout.
"""
from __future__ import annotations

from memsim.mmstat import PAGEBLOCK_ORDER, ZONE_NAMES
from memsim.physmem import MIGRATETYPE_NAMES

#: migratetype_names[] without CONFIG_CMA: memsim's migratetypes less "CMA"
MIGRATETYPES = tuple(mt for mt, name in enumerate(MIGRATETYPE_NAMES) if name != "CMA")
#: pagetypeinfo_showfree_print() stops counting a free list here and prints ">100000"
FREECOUNT_CAP = 100000


def _freecount(n: int) -> str:
    return f">{FREECOUNT_CAP:6d} " if n >= FREECOUNT_CAP else f"{n:6d} "


def pagetypeinfo_text(machine) -> str:
    """pagetypeinfo_show() for every node with memory: the pageblock order, the free blocks per
    migratetype and order of each populated zone, the pageblocks per migratetype."""
    pm = machine.physmem
    zones = pm.zones_info()
    out = []
    for nid in range(pm.nr_nodes):
        mine = [(ZONE_NAMES.index(z["zone"]), z["zone"]) for z in zones if z["node"] == nid]
        if not mine:                                # a memoryless node prints nothing
            continue
        out.append(f"Page block order: {PAGEBLOCK_ORDER}\n"
                   f"Pages per block:  {1 << PAGEBLOCK_ORDER}\n\n")
        nr_orders = len(zones[0]["nr_free"])
        out.append(f"{'Free pages count per migrate type at order':<43} "
                   + "".join(f"{o:6d} " for o in range(nr_orders)) + "\n")
        for zid, name in mine:
            counts = pm.free_list_counts(nid, zid)
            for mt in MIGRATETYPES:
                out.append(f"Node {nid:4d}, zone {name:>8}, type {MIGRATETYPE_NAMES[mt]:>12} "
                           + "".join(_freecount(n) for n in counts[mt]) + "\n")
        out.append(f"\n{'Number of blocks type ':<23}"
                   + "".join(f"{MIGRATETYPE_NAMES[mt]:>12} " for mt in MIGRATETYPES) + "\n")
        for zid, name in mine:
            blocks = pm.pageblock_counts(nid, zid)
            out.append(f"Node {nid}, zone {name:>8} " + "".join(f"{blocks[mt]:12d} " for mt in MIGRATETYPES)
                       + "\n")
    return "".join(out)
