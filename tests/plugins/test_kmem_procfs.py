"""The kmem plugin's procfs files (/proc/zoneinfo, /proc/pagetypeinfo, /proc/buddyinfo,
/proc/slabinfo) per profile.

The v6.18 layouts are pinned to copies of the live 6.18.44 kernel's files (tests/plugins/data,
``cat /proc/zoneinfo`` etc. on this project's VM; the README there says how): the text is compared
with its numbers masked, so field names, order, widths and alignment must be the kernel's while
the values are memsim's.  Issue 11, "/proc layouts".  v5.14 keeps its text byte for byte.
"""
import pathlib
import re

import pytest

from memsim import mmstat
from memsim.plugins.kmem.zoneinfo import zone_highsize
from memsim.testing import build_machine, proc_layout
from memsim.vmstat import zone_stat_item as ZS

DATA = pathlib.Path(__file__).parent / "data"
MiB = 1 << 20
#: the live machine's shape: 2 CPUs, one node whose DMA, DMA32 and Normal zones are populated
LIVE_SHAPE = dict(cpus=2, nodes=((4 << 30) + 64 * MiB,))


def left_masked(text):
    return proc_layout(text, aligned="left")


def right_masked(text):
    return proc_layout(text, aligned="right")


def read(m, path):
    return m.vfs.read_file(path).decode()


# -- /proc/zoneinfo -------------------------------------------------------------------------------

def test_v6_18_zoneinfo_has_the_live_kernels_layout():
    """Every zone of the node (the empty Movable and Device too), the per-node stats in the
    first populated zone, boost/promo/cma, five protection entries, the zone's vmstat items,
    the per-CPU fields aligned with high_min/high_max and vm stats threshold, node_unreclaimable."""
    ours = read(build_machine(kernel="v6.18", **LIVE_SHAPE), "/proc/zoneinfo")
    live = (DATA / "zoneinfo-6.18.44.txt").read_text()
    assert left_masked(ours) == left_masked(live)


def test_v6_18_zoneinfo_values_are_memsims():
    m = build_machine(kernel="v6.18", cpus=2, nodes=(64 * MiB,))
    text = read(m, "/proc/zoneinfo")
    zones = re.split(r"(?m)^(?=Node )", text)[1:]
    assert [z.splitlines()[0] for z in zones] == [
        "Node 0, zone      DMA", "Node 0, zone    DMA32", "Node 0, zone   Normal",
        "Node 0, zone  Movable", "Node 0, zone   Device"]
    vs = m.physmem.vmstat
    for info, block in zip(m.physmem.zones_info(), zones):
        zid = mmstat.ZONE_NAMES.index(info["zone"])
        field = lambda name: int(re.search(rf"(?m)^ +{re.escape(name)}:? +(\d+)$", block).group(1))
        assert field("pages free") == vs.zone_page_state(0, zid, ZS.NR_FREE_PAGES)
        assert (field("min"), field("low"), field("high")) == (info["min"], info["low"], info["high"])
        # WMARK_PROMO lies as far above high as low lies above min
        assert field("promo") == info["high"] + info["low"] - info["min"]
        assert field("managed") == info["managed"]
        assert field("nr_free_pages_blocks") == sum(
            n << o for o, n in enumerate(info["nr_free"]) if o >= 9)
        reserve = list(info["lowmem_reserve"])
        assert f"protection: ({', '.join(map(str, reserve + reserve[-1:]))})" in block
        batch = info["pcp"][0]["batch"]
        assert field("high_min") == max(info["low"] // 2, batch * 4)
        assert field("high_max") == max(info["managed"] // 8 // 2, batch * 4)
        assert field("vm stats threshold") == vs.stat_threshold(0, zid, 0)
    # the per-node stats are the node's vmstat items, in the first populated zone only
    node_vmstat = mmstat.vmstat_values(m, 0)
    stats = re.search(r"per-node stats\n((?:      .*\n)+)", zones[0]).group(1)
    assert [tuple(l.split()) for l in stats.splitlines()] == [
        (name, str(node_vmstat[name])) for name in mmstat.vmstat_groups(m.profile)[2]]
    assert sum("per-node stats" in z for z in zones) == 1
    # unpopulated zones stop after protection; 6.18 gives ZONE_MOVABLE a min of SWAP_CLUSTER_MAX
    assert zones[3].endswith("        promo    32\n        spanned  0\n        present  0\n"
                             "        managed  0\n        cma      0\n"
                             "        protection: (0, 0, 0, 0, 0)\n")
    assert "        min      0\n" in zones[4] and "pagesets" not in zones[4]


def test_v6_18_zoneinfo_lists_every_zone_of_every_node():
    m = build_machine(kernel="v6.18", cpus=2, nodes=(64 * MiB, 128 * MiB))
    heads = [l for l in read(m, "/proc/zoneinfo").splitlines() if l.startswith("Node ")]
    assert heads == [f"Node {n}, zone {z:>8}" for n in (0, 1)
                     for z in ("DMA", "DMA32", "Normal", "Movable", "Device")]
    text = read(m, "/proc/zoneinfo")
    assert text.count("per-node stats") == 2
    # node 1's first populated zone is its DMA32: the per-node stats are printed there
    node1 = text[text.index("Node 1, zone    DMA32"):]
    assert node1.index("per-node stats") < node1.index("pages free")


def test_high_max_splits_the_zone_over_the_nodes_cpus():
    m = build_machine(kernel="v6.18", cpus=4, nodes=(256 * MiB,))
    z = m.physmem.zones_info()[-1]
    batch = z["pcp"][0]["batch"]
    assert zone_highsize(m, z, batch, 8) == max(z["managed"] // 8 // 4, batch << 2)
    assert zone_highsize(m, z, batch, 0) == max(z["low"] // 4, batch << 2)


def test_v6_18_zoneinfo_reports_a_node_kswapd_gave_up_on():
    """node_unreclaimable: pgdat->kswapd_failures >= MAX_RECLAIM_RETRIES (16 balance_pgdat runs
    in a row that reclaimed nothing: here the memory is kernel pages, nothing is on the LRU)."""
    m = build_machine(kernel="v6.18", cpus=1, nodes=(16 * MiB,))     # one zone, DMA
    high = m.physmem.zones_info()[0]["high"]
    while m.physmem.nr_free_pages() > high:
        m.physmem.alloc(order=0)
    for runs in range(16):
        assert "  node_unreclaimable:  0\n" in read(m, "/proc/zoneinfo"), runs
        m.vmscan.balance_pgdat_begin(0, 0, 0)
        while not m.vmscan.balance_pgdat_step(0, 0):
            pass
        m.vmscan.balance_pgdat_end(0)
    assert "  node_unreclaimable:  1\n" in read(m, "/proc/zoneinfo")


#: v5.14's /proc/zoneinfo of a 64 MiB, 1-CPU machine at boot, as memsim printed it before
#: issue 11 (the v5.14 profile keeps it byte for byte)
V5_14_ZONEINFO = (
    "Node 0, zone      DMA\n  pages free     4096\n        min      64\n        low      80\n"
    "        high     96\n        spanned  4096\n        present  4096\n        managed  4096\n"
    "        protection: (0, 48, 48, 48)\n  pagesets\n    cpu: 0\n              count: 0\n"
    "              high:  80\n              batch: 1\n  start_pfn:           0\n"
    "Node 0, zone    DMA32\n  pages free     12285\n        min      192\n        low      240\n"
    "        high     288\n        spanned  12288\n        present  12288\n        managed  12288\n"
    "        protection: (0, 0, 0, 0)\n  pagesets\n    cpu: 0\n              count: 2\n"
    "              high:  240\n              batch: 3\n  start_pfn:           4096\n")


def test_v5_14_zoneinfo_is_unchanged():
    assert read(build_machine(kernel="v5.14"), "/proc/zoneinfo") == V5_14_ZONEINFO


# -- /proc/pagetypeinfo ---------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_pagetypeinfo_has_the_live_kernels_layout(kernel):
    """Page block order, the free lists per zone and migratetype (no CMA type: memsim has no CMA
    areas, and the live kernel has no CONFIG_CMA), the pageblocks per migratetype."""
    ours = read(build_machine(kernel=kernel, **LIVE_SHAPE), "/proc/pagetypeinfo")
    live = (DATA / "pagetypeinfo-6.18.44.txt").read_text()
    assert right_masked(ours) == right_masked(live)


def test_pagetypeinfo_counts_the_free_lists_and_pageblocks():
    m = build_machine(kernel="v6.18", cpus=1, nodes=(64 * MiB, 64 * MiB))
    for _ in range(300):                             # some unmovable kernel pages: blocks are stolen
        m.physmem.alloc(order=0)
    text = read(m, "/proc/pagetypeinfo")
    assert text.count("Page block order: 9\n") == 2                  # once per node
    free = {}
    for line in text.splitlines():
        got = re.fullmatch(r"Node +(\d+), zone +(\w+), type +(\w+) +(.*)", line)
        if got:
            free.setdefault((int(got[1]), got[2]), {})[got[3]] = [int(n) for n in got[4].split()]
    zones = m.physmem.zones_info()
    assert set(free) == {(z["node"], z["zone"]) for z in zones}
    for z in zones:
        lists = free[(z["node"], z["zone"])]
        assert list(lists) == ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"]
        # every free block is on one list (the deferred max-order blocks on their pageblock's)
        assert [sum(c[o] for c in lists.values()) for o in range(11)] == z["nr_free"]
        zid = mmstat.ZONE_NAMES.index(z["zone"])
        blocks = m.physmem.pageblock_counts(z["node"], zid)
        assert sum(blocks) == (z["end_pfn"] - z["start_pfn"]) >> 9
        row = f"Node {z['node']}, zone {z['zone']:>8} " + "".join(
            f"{blocks[mt]:12d} " for mt in (0, 1, 2, 3, 5))
        assert row + "\n" in text
    assert sum(free[(0, "DMA32")]["Unmovable"]) > 0


def test_pagetypeinfo_caps_a_long_free_list_as_the_kernel_does():
    from memsim.plugins.kmem.pagetypeinfo import _freecount
    assert _freecount(99999) == " 99999 " and _freecount(100000) == ">100000 "


# -- /proc/buddyinfo, /proc/slabinfo --------------------------------------------------------------

def test_v6_18_buddyinfo_has_the_live_kernels_layout():
    ours = read(build_machine(kernel="v6.18", **LIVE_SHAPE), "/proc/buddyinfo")
    live = (DATA / "buddyinfo-6.18.44.txt").read_text()
    assert right_masked(ours) == right_masked(live)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_slabinfo_header_is_the_live_kernels(kernel):
    ours = read(build_machine(kernel=kernel), "/proc/slabinfo").splitlines()
    live = (DATA / "slabinfo-head-6.18.44.txt").read_text().splitlines()
    assert ours[:2] == live[:2]
    # a cache's line: "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"
    row = re.compile(r"\S+ *(?: +\d+){5} : tunables(?: +\d+){3} : slabdata(?: +\d+){3}")
    assert row.fullmatch(live[2]) and all(row.fullmatch(l) for l in ours[2:])
    def columns(line):          # the fields after the name (%-17s: longer names push them on)
        return right_masked(line[max(17, len(line.split()[0])):])
    assert ours[2:] and all(columns(l) == columns(live[2]) for l in ours[2:])
