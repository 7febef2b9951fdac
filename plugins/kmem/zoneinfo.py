"""/proc/zoneinfo (mm/vmstat.c: zoneinfo_show, zoneinfo_show_print), per kernel profile.

v6.18 prints what the live 6.18 kernel prints, line for line (tests/plugins/data/zoneinfo-6.18.44.txt
is a copy of it): every zone of every node, populated or not, ZONE_DEVICE included (x86-64
distribution kernels have CONFIG_ZONE_DEVICE, so MAX_NR_ZONES is 5 and ``protection`` has five
entries); the node's stats in its first populated zone; for a populated zone its vmstat items,
its per-CPU lists with high_min / high_max and each CPU's ``vm stats threshold``, then
``node_unreclaimable`` and ``start_pfn``.  The values are memsim's: what memsim does not model
prints what a kernel without that activity prints (``boost 0``, ``cma 0``, the counters it does
not keep 0).

v5.14 keeps memsim's earlier short layout (populated zones only, four protection entries),
unchanged so that v5.14 output stays byte for byte what it was.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from memsim.mmstat import (ZONE_NAMES, node_cpus, vmstat_groups, vmstat_values,
                           zone_vmstat_values)
from memsim.profiles import ProfileTable
from memsim.vmstat import zone_stat_item as ZS

#: zone_names[] of an x86-64 kernel with CONFIG_ZONE_DEVICE (memsim has no device memory, so
#: ZONE_DEVICE is always empty)
ZONE_NAMES_WITH_DEVICE = ZONE_NAMES + ("Device",)
ZONE_MOVABLE = ZONE_NAMES.index("Movable")
#: mm/internal.h: kswapd gives a node up after this many failed runs (pgdat_balanced never)
MAX_RECLAIM_RETRIES = 16
#: mm/page_alloc.c: pcp->high_max is at most this fraction of the zone, split over its CPUs
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8
#: include/linux/swap.h
SWAP_CLUSTER_MAX = 32


def zone_highsize(machine, zone: dict, batch: int, high_fraction: int) -> int:
    """zone_highsize(zone, batch, cpu_online=0, high_fraction): the zone's low watermark
    (``high_fraction`` 0: pcp->high_min) or ``managed / high_fraction`` (pcp->high_max), split
    over the node's CPUs (all CPUs for a CPU-less node), at least ``batch << 2``."""
    total = zone["low"] if not high_fraction else zone["managed"] // high_fraction
    nr_split_cpus = len(node_cpus(machine, zone["node"])) or machine.spec.cpus
    return max(total // nr_split_cpus, batch << 2)


def _empty_zone_wmark(zid: int) -> int:
    """__setup_per_zone_wmarks() for a zone without managed pages: 6.18 gives ZONE_MOVABLE (as
    highmem) ``clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)`` as its min watermark, any other
    zone 0; low, high and promo add nothing to it (``tmp`` is 0)."""
    return SWAP_CLUSTER_MAX if zid == ZONE_MOVABLE else 0


def _node_unreclaimable(machine, nid: int) -> int:
    """pgdat->kswapd_failures >= MAX_RECLAIM_RETRIES."""
    vmscan = getattr(machine, "vmscan", None)
    if vmscan is None:
        return 0
    return int(vmscan.kswapd_state(nid)[2] >= MAX_RECLAIM_RETRIES)


def _stat_lines(values: Dict[str, int]) -> List[str]:
    return [f"\n      {name:<12} {value}" for name, value in values.items()]


def _zone_v6_18(machine, nid: int, zid: int, z: Optional[dict], node_stats: Optional[Dict[str, int]]) -> str:
    """zoneinfo_show_print() of 6.18 for zone ``zid`` of node ``nid`` (``z``: its
    zones_info() entry, None when the zone is not populated)."""
    vs = machine.physmem.vmstat
    out = [f"Node {nid}, zone {ZONE_NAMES_WITH_DEVICE[zid]:>8}"]
    if node_stats is not None:
        out.append("\n  per-node stats")
        out += _stat_lines(node_stats)
    if z is None:
        wmark = _empty_zone_wmark(zid)
        free = boost = spanned = present = managed = 0
        wmarks = (wmark, wmark, wmark, wmark)
        protection = [0] * len(ZONE_NAMES_WITH_DEVICE)
    else:
        free = vs.zone_page_state(nid, zid, ZS.NR_FREE_PAGES)
        boost = 0                                   # no watermark boosting in memsim
        wmarks = (z["min"], z["low"], z["high"], z["high"] + (z["low"] - z["min"]))   # + WMARK_PROMO
        spanned = present = z["end_pfn"] - z["start_pfn"]
        managed = z["managed"]
        # lowmem_reserve[ZONE_DEVICE]: the zones up to ZONE_DEVICE hold what those up to
        # ZONE_MOVABLE hold (ZONE_DEVICE has no managed pages)
        protection = list(z["lowmem_reserve"]) + [z["lowmem_reserve"][-1]]
    out.append(f"\n  pages free     {free}"
               f"\n        boost    {boost}"
               f"\n        min      {wmarks[0]}"
               f"\n        low      {wmarks[1]}"
               f"\n        high     {wmarks[2]}"
               f"\n        promo    {wmarks[3]}"
               f"\n        spanned  {spanned}"
               f"\n        present  {present}"
               f"\n        managed  {managed}"
               f"\n        cma      0"
               f"\n        protection: ({', '.join(str(r) for r in protection)})")
    if z is None:
        out.append("\n")
        return "".join(out)
    out += _stat_lines(zone_vmstat_values(machine, nid, zid))
    out.append("\n  pagesets")
    for cpu, pcp in enumerate(z["pcp"]):
        out.append(f"\n    cpu: {cpu}"
                   f"\n              count:    {pcp['count']}"
                   f"\n              high:     {pcp['high']}"
                   f"\n              batch:    {pcp['batch']}"
                   f"\n              high_min: {zone_highsize(machine, z, pcp['batch'], 0)}"
                   f"\n              high_max: "
                   f"{zone_highsize(machine, z, pcp['batch'], MIN_PERCPU_PAGELIST_HIGH_FRACTION)}"
                   f"\n  vm stats threshold: {vs.stat_threshold(nid, zid, cpu)}")
    out.append(f"\n  node_unreclaimable:  {_node_unreclaimable(machine, nid)}"
               f"\n  start_pfn:           {z['start_pfn']}\n")
    return "".join(out)


def zoneinfo_show_v6_18(machine) -> str:
    """zoneinfo_show() of 6.18: walk_zones_in_node() over every zone of every node."""
    populated = {(z["node"], ZONE_NAMES.index(z["zone"])): z for z in machine.physmem.zones_info()}
    node_names = vmstat_groups(machine.profile)[2]
    out = []
    for nid in range(machine.physmem.nr_nodes):
        first = min((zid for n, zid in populated if n == nid), default=None)
        for zid in range(len(ZONE_NAMES_WITH_DEVICE)):
            node_stats = None
            if zid == first:                        # is_zone_first_populated()
                values = vmstat_values(machine, nid)
                node_stats = {name: values[name] for name in node_names}
            out.append(_zone_v6_18(machine, nid, zid, populated.get((nid, zid)), node_stats))
    return "".join(out)


def zoneinfo_show_v5_14(machine) -> str:
    """memsim's short zoneinfo: the populated zones, their watermarks, spans, four protection
    entries and per-CPU lists (kept as it was for the v5.14 profile)."""
    out = []
    for z in machine.physmem.zones_info():
        out.append(f"Node {z['node']}, zone {z['zone']:>8}\n"
                   f"  pages free     {z['free']}\n"
                   f"        min      {z['min']}\n"
                   f"        low      {z['low']}\n"
                   f"        high     {z['high']}\n"
                   f"        spanned  {z['end_pfn'] - z['start_pfn']}\n"
                   f"        present  {z['end_pfn'] - z['start_pfn']}\n"
                   f"        managed  {z['managed']}\n"
                   f"        protection: ({', '.join(str(r) for r in z['lowmem_reserve'])})\n"
                   f"  pagesets\n" +
                   "".join(f"    cpu: {c}\n              count: {p['count']}\n"
                           f"              high:  {p['high']}\n              batch: {p['batch']}\n"
                           for c, p in enumerate(z["pcp"])) +
                   f"  start_pfn:           {z['start_pfn']}\n")
    return "".join(out)


#: the text of /proc/zoneinfo per kernel profile
ZONEINFO_SHOW = ProfileTable("kmem.zoneinfo_show", {"v5.14": zoneinfo_show_v5_14,
                                                    "v6.18": zoneinfo_show_v6_18})


def zoneinfo_text(machine) -> str:
    """/proc/zoneinfo of the machine's kernel profile."""
    return ZONEINFO_SHOW[machine.profile](machine)
