"""vmstat (memsim.vmstat, memsim.mmstat): the counters the allocators keep in C, their per-CPU
differentials and folding, and the text of /proc/vmstat, /proc/meminfo and the node files.

The v6.18 layouts were copied from the live 6.18.44 kernel of this project's VM (``cat
/proc/vmstat``, ``cat /proc/meminfo``, ``cat /sys/devices/system/node/node0/{meminfo,numastat}``);
copies of /proc/meminfo and /proc/vmstat are kept in tests/core/data (its README says how they
were taken) and pin the layouts everywhere; the tests marked live_kernel also compare them with
the running kernel when it is a 6.18.
"""
import os
import pathlib
import platform
import re

import pytest

from memsim import mmstat
from memsim.machine import Machine, MachineSpec
from memsim.testing import with_page_cache, build_machine, proc_layout, run_text
from memsim.vmstat import (NODE_STAT_NAMES, VM_EVENT_NAMES, ZONE_STAT_NAMES, VmStat,
                           node_stat_item as NS, vm_event_item as EV, zone_stat_item as ZS)

MiB = 1 << 20
PAGE = 4096
GFP_KERNEL = 0xCC0
GFP_HIGHUSER_MOVABLE = 0x1100CCA
GFP_THISNODE = 0x200000

DATA = pathlib.Path(__file__).parent / "data"

live_618 = pytest.mark.skipif(
    not (platform.release().startswith("6.18") and os.access("/proc/vmstat", os.R_OK)),
    reason="compares with a running 6.18 kernel")


def machine(nodes=(64 * MiB,), cpus=1, kernel="v5.14"):
    return with_page_cache(Machine(MachineSpec(nodes=nodes, cpus=cpus, kernel=kernel)))


def fields(text):
    return {line.split()[0]: int(line.split()[1]) for line in text.splitlines()}


# -- thresholds and folding ----------------------------------------------------------------------

@pytest.mark.parametrize("cpus, managed, threshold", [
    # calculate_normal_threshold(): 2 * fls(cpus) * (1 + fls(managed >> 15)), at most 125
    (1, 12288, 2), (1, 229376, 8), (2, 229376, 16), (4, 229376, 24), (64, 1 << 21, 112),
    (256, 1 << 26, 125),
])
def test_stat_threshold_follows_calculate_normal_threshold(cpus, managed, threshold):
    from memsim.task import Current
    vs = VmStat(1, cpus, Current())
    vs.init_zones([0, managed, 0, 0], [0, managed, 0, 0])
    assert vs.stat_threshold(0, 1) == threshold
    assert vs.stat_threshold(0, 0) == 0                 # an unpopulated zone has no pageset


def test_the_global_counter_lags_by_at_most_the_threshold_until_folded():
    m = machine()
    pm, vs = m.physmem, m.physmem.vmstat
    pm.pcp_enabled = False
    threshold = vs.stat_threshold(0, 1)
    start = vs.global_zone_page_state(ZS.NR_FREE_PAGES)
    pfns = [pm.alloc(0, GFP_KERNEL) for _ in range(threshold)]
    # every differential stays within the threshold: nothing folded yet
    zone_free = lambda: next(z["free"] for z in pm.zones_info() if z["zone"] == "DMA32")
    assert vs.global_zone_page_state(ZS.NR_FREE_PAGES) == start
    assert vs.zone_page_state_snapshot(0, 1, ZS.NR_FREE_PAGES) == zone_free()
    pfns.append(pm.alloc(0, GFP_KERNEL))                # the one past the threshold folds
    assert vs.zone_page_state(0, 1, ZS.NR_FREE_PAGES) == zone_free()
    assert vs.global_zone_page_state(ZS.NR_FREE_PAGES) == pm.nr_free_pages()
    pm.free(pfns.pop())
    assert vs.pending_diffs()                           # +1 waits on this CPU
    for p in pfns:
        pm.free(p)
    vs.refresh_vm_stats()
    assert not vs.pending_diffs()
    assert vs.global_zone_page_state(ZS.NR_FREE_PAGES) == pm.nr_free_pages() == start


def test_vmstat_update_folds_once_stat_interval_has_passed():
    m = machine()
    m.physmem.pcp_enabled = False
    m.physmem.alloc(0, GFP_KERNEL)
    assert m.physmem.vmstat.pending_diffs()
    m.clock.now = 999_999_999
    m.quiescent_state()                         # a preemption point before the interval
    assert m.physmem.vmstat.pending_diffs()
    m.clock.now = 1_000_000_000
    m.quiescent_state()                         # vmstat_update
    assert not m.physmem.vmstat.pending_diffs()
    m.physmem.alloc(0, GFP_KERNEL)
    m.clock.now = 1_500_000_000
    m.quiescent_state()                         # the next one is due at 2 s
    assert m.physmem.vmstat.pending_diffs()


def test_stat_interval_is_a_sysctl_in_seconds():
    m = machine()
    assert m.vfs.read_file("/proc/sys/vm/stat_interval") == b"1\n"
    m.vfs.write_file("/proc/sys/vm/stat_interval", b"10\n")
    assert m.stat_interval_ns == 10 * 10**9
    assert m.vfs.read_file("/proc/sys/vm/stat_interval") == b"10\n"


# -- counters after real work ------------------------------------------------------------------------

HEAVY = """\
machine: {cpus: 2, nodes: [{memory: 64 MiB}, {memory: 64 MiB}]}
tasks:
  - name: a
    cpu: 0
    steps:
      - mmap: {name: buf, length: 8 MiB}
      - touch: {vma: buf}
      - kmalloc: {name: objs, size: 100, count: 500}
      - kmalloc: {name: big, size: 64 KiB, count: 3}
      - fork:
          child: kid
          cpu: 1
          steps:
            - touch: {vma: buf, length: 1 MiB}
            - exit: {}
      - munmap: {vma: buf, length: 4 MiB}
      - kfree: {name: big}
  - name: b
    cpu: 1
    steps:
      - mmap: {name: b, length: 2 MiB}
      - touch: {vma: b}
"""


def test_counters_after_an_allocation_heavy_workload_agree_with_the_allocator():
    run = run_text(HEAVY, events=())
    assert run.error is None, run.error
    m = run.machine
    pm, vs = m.physmem, m.physmem.vmstat
    m.vfs.write_file("/proc/sys/vm/stat_refresh", b"1")
    v = fields(m.vfs.read_file("/proc/vmstat").decode())
    # nr_free_pages is what the free lists hold (/proc/buddyinfo's blocks)
    buddy_pages = sum(n << o for z in pm.zones_info() for o, n in enumerate(z["nr_free"]))
    assert v["nr_free_pages"] == buddy_pages == pm.nr_free_pages()
    # pages handed out minus pages given back (PGFREE starts at the boot-freed pages) is what is
    # in use: neither free in buddy nor on a per-CPU list
    managed = sum(z["managed"] for z in pm.zones_info())
    allocated = sum(v[f"pgalloc_{z}"] for z in ("dma", "dma32", "normal", "movable"))
    freed = v["pgfree"] - managed
    assert allocated - freed == managed - pm.nr_free_pages() - pm.nr_pcp_pages()
    assert allocated == sum(n["allocated"] for n in pm.node_stats())
    # every allocation (not page: zone_statistics(..., 1)) was counted once in NUMA terms
    assert v["numa_hit"] + v["numa_miss"] == v["numa_local"] + v["numa_other"]
    assert 0 < v["numa_hit"] + v["numa_miss"] < allocated      # the slabs and big kmallocs are order > 0
    # the slab counters are the slab allocator's pages
    assert v["nr_slab_unreclaimable"] == m.slab.slab_unreclaimable_pages()
    assert v["nr_slab_reclaimable"] == m.slab.slab_reclaimable_pages()
    meminfo = m.meminfo()
    assert meminfo["SUnreclaim"] == v["nr_slab_unreclaimable"] * PAGE
    assert meminfo["MemFree"] == v["nr_free_pages"] * PAGE
    # the nodes add up to the machine
    for item in ("nr_free_pages", "numa_hit", "nr_slab_unreclaimable"):
        per_node = [fields(m.vfs.read_file(f"/sys/devices/system/node/node{n}/vmstat").decode())[item]
                    for n in (0, 1)]
        assert sum(per_node) == v[item], item


def test_numa_events_follow_zone_statistics():
    m = machine(nodes=(64 * MiB, 64 * MiB), cpus=2)
    pm, vs = m.physmem, m.physmem.vmstat
    base = [vs.sum_zone_numa_event_state(n, 0) for n in (0, 1)]
    pm.set_current(0, 1)                            # CPU 0 is on node 0
    pm.alloc(0, GFP_KERNEL, 0)                      # local hit
    pm.alloc(0, GFP_KERNEL, 1)                      # hit on node 1, other for the CPU
    numastat = [fields(m.vfs.read_file(f"/sys/devices/system/node/node{n}/numastat").decode())
                for n in (0, 1)]
    assert numastat[0]["numa_hit"] - base[0] == 1 and numastat[0]["local_node"] >= 1
    assert numastat[1]["numa_hit"] - base[1] == 1 and numastat[1]["other_node"] == 1
    # node 0 full: a THISNODE-less allocation falls back to node 1 (miss there, foreign here)
    while True:
        p = pm.alloc(9, GFP_KERNEL | GFP_THISNODE, 0)
        if p is None:
            break
    pm.alloc(9, GFP_KERNEL, 0)
    numastat = [fields(m.vfs.read_file(f"/sys/devices/system/node/node{n}/numastat").decode())
                for n in (0, 1)]
    assert numastat[1]["numa_miss"] == 1 and numastat[0]["numa_foreign"] == 1


def test_isolated_free_pages_leave_nr_free_pages_until_undone():
    m = machine()
    pm, vs = m.physmem, m.physmem.vmstat
    pm.pcp_enabled = False
    pm.drain_all_pages()
    vs.refresh_vm_stats()
    before = vs.global_zone_page_state(ZS.NR_FREE_PAGES)
    assert before == pm.nr_free_pages()
    old = pm.start_isolate_page_range(8192, 8192 + 512)
    vs.refresh_vm_stats()
    assert vs.global_zone_page_state(ZS.NR_FREE_PAGES) < before     # set_migratetype_isolate
    assert pm.isolate_freepages_range(8192, 8192 + 512) == 512
    for p in range(8192, 8192 + 512):
        pm.free(p)
    pm.undo_isolate_page_range(8192, 8192 + 512, old)
    vs.refresh_vm_stats()
    assert vs.global_zone_page_state(ZS.NR_FREE_PAGES) == pm.nr_free_pages() == before


def test_v6_18_nr_free_pages_blocks_leaves_out_isolated_blocks():
    """NR_FREE_PAGES_BLOCKS: the free pages in blocks of pageblock order and more, except those
    on the MIGRATE_ISOLATE lists (__add_to_free_list), in /proc/vmstat and /proc/zoneinfo."""
    m = with_page_cache(build_machine(kernel="v6.18"))                  # with the kmem plugin's /proc/zoneinfo
    pm = m.physmem
    blocks = lambda text: int(re.search(r"(?m)^ *nr_free_pages_blocks (\d+)$", text).group(1))
    before = blocks(m.vfs.read_file("/proc/vmstat").decode())
    assert before == sum(n << o for z in pm.zones_info() for o, n in enumerate(z["nr_free"]) if o >= 9)
    old = pm.start_isolate_page_range(8192, 8192 + 1024)         # two free pageblocks
    assert blocks(m.vfs.read_file("/proc/vmstat").decode()) == before - 1024
    zoneinfo = m.vfs.read_file("/proc/zoneinfo").decode()
    dma32 = zoneinfo[zoneinfo.index("zone    DMA32"):]
    assert blocks(dma32) == mmstat.zone_vmstat_values(m, 0, 1)["nr_free_pages_blocks"]
    pm.undo_isolate_page_range(8192, 8192 + 1024, old)
    assert blocks(m.vfs.read_file("/proc/vmstat").decode()) == before


def test_large_kmalloc_counts_as_unreclaimable_slab():
    m = machine()
    vs = m.physmem.vmstat
    m.current.cpu = 0
    vs.refresh_vm_stats()
    before = vs.global_node_page_state(NS.NR_SLAB_UNRECLAIMABLE_B)
    addr = m.slab.kmalloc(64 << 10, GFP_KERNEL, "workload_kmalloc")
    vs.refresh_vm_stats()
    assert vs.global_node_page_state(NS.NR_SLAB_UNRECLAIMABLE_B) == before + 16
    m.slab.kfree(addr, "workload_kfree")
    vs.refresh_vm_stats()
    assert vs.global_node_page_state(NS.NR_SLAB_UNRECLAIMABLE_B) == before


def test_mapped_and_page_table_counters_match_the_page_tables():
    from memsim import vm
    m = machine(cpus=2)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    parent = m.spawn("p")
    m.set_current(parent)
    anon = vm.do_mmap(m.mmcore, parent.mm, m.files, 1 * MiB, "rw", "anon", totalram=total)
    shared = vm.do_mmap(m.mmcore, parent.mm, m.files, 512 << 10, "rw", "shared", totalram=total)
    m.mmcore.access(parent.mm, anon, anon.vm_start, anon.vm_end, True)
    m.mmcore.access(parent.mm, shared, shared.vm_start, shared.vm_end, False)
    child = m.fork(parent, "c", cpu=1)
    m.set_current(child)
    cv = child.mm.find_vma(anon.vm_start)
    m.mmcore.access(child.mm, cv, cv.vm_start, cv.vm_start + (64 << 10), True)     # COW
    m.set_current(parent)
    vm.do_munmap(m.mmcore, parent.mm, anon.vm_start, 128 << 10)
    vs = m.physmem.vmstat
    vs.refresh_vm_stats()
    anon_pages, file_mapped = set(), set()
    for mm in m.live_mms():
        for v in mm.vmas:
            for pfn in m.mmcore.mapped_pages(mm, v):
                (anon_pages if m.physmem.page_info(pfn)["mapping"] & 1 else file_mapped).add(pfn)
    # 240 originals still mapped (pages 0-15 were copied by the child and unmapped by the
    # parent) and the child's 16 copies
    assert vs.global_node_page_state(NS.NR_ANON_MAPPED) == len(anon_pages) == 256
    assert vs.global_node_page_state(NS.NR_FILE_MAPPED) == len(file_mapped) == 128
    assert vs.global_node_page_state(NS.NR_SHMEM) == vs.global_node_page_state(NS.NR_FILE_PAGES) == 128
    assert vs.global_node_page_state(NS.NR_PAGETABLE) == m.mmcore.nr_pagetable > 0
    assert vs.vm_event(EV.PGFAULT) == 256 + 128 + 16       # anon writes, shmem reads, COW


# -- /proc/vmstat -------------------------------------------------------------------------------------

def test_v5_14_vmstat_prints_vmstat_text_in_enum_order():
    m = machine()
    lines = m.vfs.read_file("/proc/vmstat").decode().splitlines()
    names = [l.split()[0] for l in lines]
    assert names[:len(ZONE_STAT_NAMES)] == list(ZONE_STAT_NAMES)
    v5_node = [n for n in NODE_STAT_NAMES if n != "nr_hugetlb"]         # NR_HUGETLB is later
    assert names[names.index("nr_inactive_anon"):][:len(v5_node)] == v5_node
    assert "nr_hugetlb" not in names
    assert names[-len(VM_EVENT_NAMES) - 1:-1] == list(VM_EVENT_NAMES)
    assert lines[-1] == "nr_unstable 0"
    assert len(names) == 11 + 6 + 39 + 2 + len(VM_EVENT_NAMES) + 1
    assert all(re.fullmatch(r"[a-z0-9_]+ \d+", l) for l in lines)


def test_v6_18_vmstat_has_its_own_items_and_computes_what_it_can():
    m = machine(kernel="v6.18")
    v = m.vfs.read_file("/proc/vmstat").decode()
    names = [l.split()[0] for l in v.splitlines()]
    assert names[:2] == ["nr_free_pages", "nr_free_pages_blocks"]
    assert "nr_bounce" not in names and "nr_writeback_temp" not in names
    assert names[-1] == "nr_unstable"
    f = fields(v)
    zones = m.physmem.zones_info()
    assert f["nr_free_pages_blocks"] == sum(n << o for z in zones for o, n in enumerate(z["nr_free"]) if o >= 9)
    assert f["pgalloc_device"] == 0 and f["nr_hugetlb"] == 0
    bg, dirty = mmstat.global_dirty_limits(m)
    assert (f["nr_dirty_background_threshold"], f["nr_dirty_threshold"]) == (bg, dirty) and bg < dirty


def test_v6_18_vmstat_names_are_the_live_kernels():
    """/proc/vmstat of 6.18.44 (tests/core/data/vmstat-6.18.44.txt): every name, in order, as
    ``name value`` lines, then the deprecated nr_unstable."""
    live = (DATA / "vmstat-6.18.44.txt").read_text()
    ours = machine(kernel="v6.18").vfs.read_file("/proc/vmstat").decode()
    assert proc_layout(ours, aligned="left") == proc_layout(live, aligned="left")


@pytest.mark.live_kernel
@live_618
def test_v6_18_vmstat_names_are_the_running_kernels():
    with open("/proc/vmstat") as f:
        live = [line.split()[0] for line in f]
    assert list(mmstat.VMSTAT_V6_18) + ["nr_unstable"] == live


# -- /proc/meminfo and the node files ------------------------------------------------------------------

def test_meminfo_prints_every_line_in_the_kernels_format():
    m = machine()
    text = m.vfs.read_file("/proc/meminfo").decode()
    names = [l.split(":")[0] for l in text.splitlines()]
    assert tuple(names) == mmstat.meminfo_names(m.profile)
    for line in text.splitlines():
        name = line.split(":")[0]
        if name.startswith("HugePages_"):
            assert re.fullmatch(r"\S+:\s+\d+", line) and len(line) == 24, line
        else:
            assert re.fullmatch(r"\S+:\s+\d+ kB", line) and (len(line) == 27 or name == "VmallocTotal"), line
    info = m.meminfo()
    managed = sum(z["managed"] for z in m.physmem.zones_info())
    assert info["MemTotal"] == managed * PAGE
    assert info["CommitLimit"] == managed * PAGE // 2            # overcommit_ratio 50, no swap
    assert info["Hugepagesize"] == 2048 << 10
    assert info["DirectMap4k"] + info["DirectMap2M"] + info["DirectMap1G"] == 64 * MiB


def test_mem_available_is_free_minus_the_reserves():
    m = machine()
    zones = m.physmem.zones_info()
    reserve = sum(min(max(z["lowmem_reserve"][i:]) + z["high"], z["managed"])
                  for i, z in ((mmstat.ZONE_NAMES.index(z["zone"]), z) for z in zones))
    free = m.physmem.vmstat.global_zone_page_state(ZS.NR_FREE_PAGES)
    assert m.meminfo()["MemAvailable"] == (free - reserve) * PAGE


def test_committed_as_counts_private_writable_mappings_and_shmem_once():
    run = run_text("""\
machine: {nodes: [{memory: 64 MiB}]}
tasks:
  - name: t
    steps:
      - mmap: {name: a, length: 1 MiB}
      - mmap: {name: ro, length: 1 MiB, prot: r}
      - mmap: {name: s, length: 2 MiB, type: shared}
      - expect: {meminfo: {Committed_AS: 3 MiB}}
      - fork:
          child: c
          steps:
            - expect: {meminfo: {Committed_AS: 4 MiB}}
            - exit: {}
""", events=())
    assert run.error is None, run.error


def test_v6_18_meminfo_and_node_meminfo_layouts():
    m = machine(kernel="v6.18")
    names = [l.split(":")[0] for l in m.vfs.read_file("/proc/meminfo").decode().splitlines()]
    assert "Zswap" in names and "SecPageTables" in names and "Balloon" in names
    node = m.vfs.read_file("/sys/devices/system/node/node0/meminfo").decode()
    assert "Node 0 FileHugePages:         0 kB\n" in node           # 16-column label since 6.5
    assert "Node 0 HugePages_Total:     0\n" in node
    old = machine().vfs.read_file("/sys/devices/system/node/node0/meminfo").decode()
    assert "Node 0 FileHugePages:        0 kB\n" in old             # v5.14's one-space label


def test_v6_18_meminfo_has_the_live_kernels_lines_and_columns():
    """/proc/meminfo of 6.18.44 (tests/core/data/meminfo-6.18.44.txt): its 54 lines in order,
    show_val_kb's 16-character label and 8-column value, HugePages_* as ``%5lu`` counts, no Cma*
    lines (memsim has no CMA, and neither had that kernel's configuration)."""
    live = (DATA / "meminfo-6.18.44.txt").read_text()
    ours = machine(kernel="v6.18").vfs.read_file("/proc/meminfo").decode()
    assert len(ours.splitlines()) == 54
    assert proc_layout(ours) == proc_layout(live)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_hugepages_counts_are_five_columns_after_a_19_character_label(kernel):
    """hugetlb_report_meminfo(): "HugePages_Total:   %5lu", so a count of six digits or more
    widens the line rather than eating the label's blanks (hugetlb_report_node_meminfo():
    "Node %d HugePages_Total: %5u")."""
    assert mmstat._line("HugePages_Total", 7) == "HugePages_Total:       7\n"
    assert mmstat._line("HugePages_Free", 123456) == "HugePages_Free:    123456\n"
    from memsim.registry import MeminfoLine
    m = machine(kernel=kernel)
    m.meminfo_lines["HugePages_Total"] = MeminfoLine("HugePages_Total", "test", lambda m: 100000,
                                                     node_value=lambda m, nid: 100000)
    assert "HugePages_Total:   100000\n" in m.vfs.read_file("/proc/meminfo").decode()
    node = m.vfs.read_file("/sys/devices/system/node/node0/meminfo").decode()
    assert "Node 0 HugePages_Total: 100000\n" in node


@pytest.mark.live_kernel
@live_618
def test_v6_18_meminfo_matches_the_running_kernels_lines_and_columns():
    with open("/proc/meminfo") as f:
        live = f.read().splitlines()
    m = machine(kernel="v6.18")
    ours = m.vfs.read_file("/proc/meminfo").decode().splitlines()
    assert [l.split(":")[0] for l in ours] == [l.split(":")[0] for l in live]
    for a, b in zip(ours, live):
        if not a.startswith("VmallocTotal"):
            assert len(a) == len(b) or len(b.split()[1]) > 8, (a, b)   # same columns
    with open("/sys/devices/system/node/node0/meminfo") as f:
        live_node = f.read().splitlines()
    ours_node = m.vfs.read_file("/sys/devices/system/node/node0/meminfo").decode().splitlines()
    assert [l.split(":")[0] for l in ours_node] == [l.split(":")[0] for l in live_node]
    with open("/sys/devices/system/node/node0/numastat") as f:
        live_numa = [l.split()[0] for l in f]
    assert [l.split()[0] for l in m.vfs.read_file("/sys/devices/system/node/node0/numastat").decode().splitlines()] == live_numa


def test_node_masks_and_topology():
    m = machine(nodes=(64 * MiB, 64 * MiB, 64 * MiB), cpus=6)
    read = lambda p: m.vfs.read_file("/sys/devices/system/node/" + p).decode()
    assert read("online") == read("possible") == read("has_memory") == "0-2\n"
    assert read("node1/cpulist") == "2-3\n" and read("node1/cpumap") == "0c\n"
    assert read("node2/distance") == "20 20 10\n"
    assert mmstat.bitmap_mask([0, 33, 39], 40) == "82,00000001"
    assert mmstat.bitmap_list([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_direct_map_splits_the_memory_as_init_memory_mapping_does():
    m = machine(nodes=(2048 * MiB, 1024 * MiB + 4 * MiB))
    info = m.meminfo()
    assert info["DirectMap4k"] == 2 * MiB
    assert info["DirectMap2M"] == 1022 * MiB + 4 * MiB
    assert info["DirectMap1G"] == 2048 * MiB


def test_meminfo_values_are_exact_while_the_file_lags():
    m = machine()
    m.physmem.pcp_enabled = False
    m.physmem.vmstat.refresh_vm_stats()
    m.physmem.alloc(0, GFP_KERNEL)                     # -1 waits in this CPU's differential
    exact = m.meminfo()["MemFree"]
    shown = mmstat.meminfo_values(m)["MemFree"]
    assert exact == m.physmem.nr_free_pages() * PAGE == shown - PAGE
    assert f"MemFree:        {shown >> 10:>8} kB\n" in m.vfs.read_file("/proc/meminfo").decode()
    m.vfs.write_file("/proc/sys/vm/stat_refresh", b"1")
    assert mmstat.meminfo_values(m)["MemFree"] == exact


ROW = r"Node \d+, zone (?=[ A-Za-z0-9]{8} ) *[A-Za-z0-9]+ ( {0,5}\d+ ){11}"     # %8s right-aligned


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_buddyinfo_right_aligns_the_zone_name_as_the_kernel_does(kernel):
    # frag_show_print(): "Node %d, zone %8s " then "%6lu " per order (issue 11: memsim printed
    # the name left-aligned, Cython's compiled %8s padding on the right)
    text = machine(nodes=(4096 * MiB,), kernel=kernel).physmem.buddyinfo()
    rows = text.splitlines()
    assert rows[0].startswith("Node 0, zone      DMA ") and rows[1].startswith("Node 0, zone    DMA32 ")
    assert all(re.fullmatch(ROW, r) for r in rows), rows
    try:
        with open("/proc/buddyinfo") as f:
            live = f.read().splitlines()
    except OSError:
        return
    # the live kernel's rows have the same shape (where this runs on one)
    assert all(re.fullmatch(ROW, r) for r in live), live


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_nr_hugetlb_is_a_node_item_only_v6_18_prints(kernel):
    """NR_HUGETLB (the hugetlb plugin's lruvec_stat_mod_folio in alloc_hugetlb_folio and
    free_huge_folio): v6.18 prints it in /proc/vmstat and the node's vmstat between
    pgdemote_proactive and nr_balloon_pages, where the live 6.18 kernel does (cat /proc/vmstat,
    /sys/devices/system/node/node0/vmstat); v5.14 has no such item, its text is unchanged."""
    from memsim.vmstat import node_stat_item
    m = machine(kernel=kernel)
    before = m.vfs.read_file("/proc/vmstat").decode()
    m.physmem.vmstat.mod_node_page_state(0, node_stat_item.NR_HUGETLB, 512)
    v = m.vfs.read_file("/proc/vmstat").decode()
    node = m.vfs.read_file("/sys/devices/system/node/node0/vmstat").decode()
    if kernel == "v5.14":
        assert "nr_hugetlb" not in v and "nr_hugetlb" not in node and v == before
        return
    for text in (v, node):
        names = [l.split()[0] for l in text.splitlines()]
        i = names.index("nr_hugetlb")
        assert names[i - 1:i + 2] == ["pgdemote_proactive", "nr_hugetlb", "nr_balloon_pages"]
        assert fields(text)["nr_hugetlb"] == 512
    assert fields(before)["nr_hugetlb"] == 0
