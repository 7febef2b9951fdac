"""The text of the memory statistics files, made from the vmstat counters and the machine.

* /proc/vmstat (mm/vmstat.c: vmstat_start/vmstat_show), in each profile's order;
* /proc/meminfo (fs/proc/meminfo.c: meminfo_proc_show), every line of the profile: from the
  counters memsim keeps, computed as the kernel computes it (MemAvailable, Cached, CommitLimit,
  DirectMap*), from the plugins' contributions (:class:`memsim.registry.MeminfoLine`:
  HugePages_*, SwapTotal...), or 0 for what nothing models (VmallocUsed, Percpu, ...);
* /sys/devices/system/node/nodeN/{meminfo,vmstat,numastat,distance,cpulist,cpumap} and the node
  masks online, possible, has_memory, has_normal_memory, has_cpu (drivers/base/node.c);
* the sysctls the core models: /proc/sys/vm/min_free_kbytes, watermark_scale_factor,
  swappiness, overcommit_memory, overcommit_ratio, overcommit_kbytes, panic_on_oom,
  oom_kill_allocating_task, stat_interval, stat_refresh.

Every function here reads the machine; none changes a counter.  :data:`CORE_FILES` declares the
files the core creates at boot (docs/workloads.md lists them with the plugins' files).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from memsim.drop_caches import drop_caches_store
from memsim.profiles import ProfileTable
from memsim.registry import MeminfoLine, ProcFile
from memsim.vmstat import (ITEM_BY_NAME, NODE_STAT_NAMES, NODE_STAT_NAMES_NOT_V5_14, NUMA_STAT_NAMES,
                           PRINT_IN_THP, VM_EVENT_NAMES, WRITEBACK_STAT_NAMES, ZONE_STAT_NAMES,
                           node_stat_item as NS, zone_stat_item as ZS)

PAGE_SIZE = 4096
PAGE_SHIFT = 12
HPAGE_PMD_NR = 512
PAGEBLOCK_ORDER = 9
MAX_NR_ZONES = 4
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
#: VMALLOC_TOTAL of x86-64 with 4-level page tables (VMALLOC_END - VMALLOC_START), in kB
VMALLOC_TOTAL_KB = 34359738367
#: sysctl defaults the computations use (vm.overcommit_ratio, vm.dirty_ratio,
#: vm.dirty_background_ratio)
OVERCOMMIT_RATIO = 50
DIRTY_RATIO = 20
DIRTY_BACKGROUND_RATIO = 10
#: node_distance() without a SLIT: LOCAL_DISTANCE and REMOTE_DISTANCE
LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20

# ----------------------------------------------------------------------------------------------
# /proc/vmstat: the names each profile prints, in order
# ----------------------------------------------------------------------------------------------

#: v5.14: vmstat_text[] for the configuration of memsim.vmstat, then "nr_unstable"; the node
#: items later kernels added (NR_HUGETLB) are not in it
VMSTAT_V5_14: Tuple[str, ...] = (ZONE_STAT_NAMES + NUMA_STAT_NAMES
                                 + tuple(n for n in NODE_STAT_NAMES if n not in NODE_STAT_NAMES_NOT_V5_14)
                                 + WRITEBACK_STAT_NAMES + VM_EVENT_NAMES)

#: v6.18: the names of /proc/vmstat on the live 6.18.44 kernel of this project's VM, in order
#: (tests/core/test_vmstat.py compares them with the running kernel when it is 6.18)
VMSTAT_V6_18: Tuple[str, ...] = tuple("""
nr_free_pages nr_free_pages_blocks nr_zone_inactive_anon nr_zone_active_anon nr_zone_inactive_file
nr_zone_active_file nr_zone_unevictable nr_zone_write_pending nr_mlock nr_zspages nr_free_cma
numa_hit numa_miss numa_foreign numa_interleave numa_local numa_other nr_inactive_anon
nr_active_anon nr_inactive_file nr_active_file nr_unevictable nr_slab_reclaimable
nr_slab_unreclaimable nr_isolated_anon nr_isolated_file workingset_nodes workingset_refault_anon
workingset_refault_file workingset_activate_anon workingset_activate_file workingset_restore_anon
workingset_restore_file workingset_nodereclaim nr_anon_pages nr_mapped nr_file_pages nr_dirty
nr_writeback nr_shmem nr_shmem_hugepages nr_shmem_pmdmapped nr_file_hugepages nr_file_pmdmapped
nr_anon_transparent_hugepages nr_vmscan_write nr_vmscan_immediate_reclaim nr_dirtied nr_written
nr_throttled_written nr_kernel_misc_reclaimable nr_foll_pin_acquired nr_foll_pin_released
nr_kernel_stack nr_page_table_pages nr_sec_page_table_pages nr_iommu_pages nr_swapcached
pgpromote_success pgpromote_candidate pgpromote_candidate_nrl pgdemote_kswapd pgdemote_direct
pgdemote_khugepaged pgdemote_proactive nr_hugetlb nr_balloon_pages nr_kernel_file_pages
nr_dirty_threshold nr_dirty_background_threshold nr_memmap_pages nr_memmap_boot_pages pgpgin
pgpgout pswpin pswpout pgalloc_dma pgalloc_dma32 pgalloc_normal pgalloc_movable pgalloc_device
allocstall_dma allocstall_dma32 allocstall_normal allocstall_movable allocstall_device pgskip_dma
pgskip_dma32 pgskip_normal pgskip_movable pgskip_device pgfree pgactivate pgdeactivate pglazyfree
pgfault pgmajfault pglazyfreed pgrefill pgreuse pgsteal_kswapd pgsteal_direct pgsteal_khugepaged
pgsteal_proactive pgscan_kswapd pgscan_direct pgscan_khugepaged pgscan_proactive
pgscan_direct_throttle pgscan_anon pgscan_file pgsteal_anon pgsteal_file zone_reclaim_success
zone_reclaim_failed pginodesteal slabs_scanned kswapd_inodesteal kswapd_low_wmark_hit_quickly
kswapd_high_wmark_hit_quickly pageoutrun pgrotated drop_pagecache drop_slab oom_kill
numa_pte_updates numa_huge_pte_updates numa_hint_faults numa_hint_faults_local numa_pages_migrated
pgmigrate_success pgmigrate_fail thp_migration_success thp_migration_fail thp_migration_split
compact_migrate_scanned compact_free_scanned compact_isolated compact_stall compact_fail
compact_success compact_daemon_wake compact_daemon_migrate_scanned compact_daemon_free_scanned
htlb_buddy_alloc_success htlb_buddy_alloc_fail unevictable_pgs_culled unevictable_pgs_scanned
unevictable_pgs_rescued unevictable_pgs_mlocked unevictable_pgs_munlocked unevictable_pgs_cleared
unevictable_pgs_stranded thp_fault_alloc thp_fault_fallback thp_fault_fallback_charge
thp_collapse_alloc thp_collapse_alloc_failed thp_file_alloc thp_file_fallback
thp_file_fallback_charge thp_file_mapped thp_split_page thp_split_page_failed
thp_deferred_split_page thp_underused_split_page thp_split_pmd thp_scan_exceed_none_pte
thp_scan_exceed_swap_pte thp_scan_exceed_share_pte thp_split_pud thp_zero_page_alloc
thp_zero_page_alloc_failed thp_swpout thp_swpout_fallback balloon_inflate balloon_deflate
balloon_migrate swap_ra swap_ra_hit swpin_zero swpout_zero ksm_swpin_copy cow_ksm zswpin zswpout
zswpwb direct_map_level2_splits direct_map_level3_splits direct_map_level2_collapses
direct_map_level3_collapses
""".split())

#: the names of /proc/vmstat, in order (without the trailing nr_unstable)
VMSTAT_TEXT = ProfileTable("mmstat.vmstat_text", {"v5.14": VMSTAT_V5_14, "v6.18": VMSTAT_V6_18})
#: the last item of a node's vmstat file (node_read_vmstat prints zone, NUMA and node items)
NODE_VMSTAT_END = ProfileTable("mmstat.node_vmstat_end",
                               {"v5.14": "nr_swapcached", "v6.18": "nr_kernel_file_pages"})


def vmstat_names(profile) -> Tuple[str, ...]:
    """The names /proc/vmstat prints for ``profile``, in order (without nr_unstable)."""
    return VMSTAT_TEXT[profile]


def vmstat_groups(profile) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """The zone, NUMA and node items of ``profile``'s vmstat_text[], each in order: the names
    zone_stat_name(), numa_stat_name() and node_stat_name() give (/proc/zoneinfo prints the
    first two per zone and the third per node)."""
    names = vmstat_names(profile)
    numa = names.index("numa_hit")
    node = names.index("numa_other") + 1
    end = names.index(NODE_VMSTAT_END[profile]) + 1
    return names[:numa], names[numa:node], names[node:end]


def _vs(machine):
    return machine.physmem.vmstat


def totalram_pages(machine) -> int:
    """totalram_pages(): the managed pages of every zone."""
    return sum(z["managed"] for z in machine.physmem.zones_info())


def hugetlb_total_pages(machine) -> int:
    """hugetlb_total_pages(): the pages of every huge page pool (/proc/meminfo's Hugetlb)."""
    return _contributed(machine, "Hugetlb") // PAGE_SIZE


def total_swap_pages(machine) -> int:
    """total_swap_pages: the swap pages the machine has (SwapTotal, from the swap plugin's line;
    0 without swap)."""
    return _contributed(machine, "SwapTotal") // PAGE_SIZE


def totalreserve_pages(machine) -> int:
    """calculate_totalreserve_pages(): per zone, its largest lowmem reserve plus its high
    watermark, at most its managed pages."""
    total = 0
    for z in machine.physmem.zones_info():
        zi = ZONE_NAMES.index(z["zone"])
        reserve = max(z["lowmem_reserve"][zi:]) + z["high"]
        total += min(reserve, z["managed"])
    return total


class _Counters:
    """The global counters as the kernel reads them (``exact`` False: folded only, lagging by
    the per-CPU differentials) or with every differential added (``exact`` True)."""

    def __init__(self, machine, exact: bool = False):
        vs = _vs(machine)
        self.zone = vs.global_zone_page_state_snapshot if exact else vs.global_zone_page_state
        self.node = vs.global_node_page_state_snapshot if exact else vs.global_node_page_state


def si_mem_available(machine, exact: bool = False) -> int:
    """si_mem_available(), in pages: free pages above the reserves, plus the page cache and
    reclaimable slab that could be freed without swapping."""
    c = _Counters(machine, exact)
    wmark_low = sum(z["low"] for z in machine.physmem.zones_info())
    available = c.zone(ZS.NR_FREE_PAGES) - totalreserve_pages(machine)
    pagecache = c.node(NS.NR_ACTIVE_FILE) + c.node(NS.NR_INACTIVE_FILE)
    pagecache -= min(pagecache // 2, wmark_low)
    available += pagecache
    reclaimable = c.node(NS.NR_SLAB_RECLAIMABLE_B) + c.node(NS.NR_KERNEL_MISC_RECLAIMABLE)
    available += reclaimable - min(reclaimable // 2, wmark_low)
    return max(0, available)


def global_dirty_limits(machine) -> Tuple[int, int]:
    """global_dirty_limits(): (background threshold, dirty threshold) in pages, from
    vm.dirty_background_ratio and vm.dirty_ratio of the dirtyable memory."""
    vs = _vs(machine)
    free = vs.global_zone_page_state(ZS.NR_FREE_PAGES)
    x = free - min(free, totalreserve_pages(machine))
    x += vs.global_node_page_state(NS.NR_INACTIVE_FILE) + vs.global_node_page_state(NS.NR_ACTIVE_FILE)
    available = x + 1
    ratio = (DIRTY_RATIO * PAGE_SIZE) // 100
    bg_ratio = (DIRTY_BACKGROUND_RATIO * PAGE_SIZE) // 100
    thresh = (ratio * available) // PAGE_SIZE
    bg_thresh = (bg_ratio * available) // PAGE_SIZE
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    return bg_thresh, thresh


def _free_pages_blocks(machine, nid: Optional[int] = None, zid: Optional[int] = None) -> int:
    """NR_FREE_PAGES_BLOCKS (6.18): the free pages in blocks of pageblock order and above, as
    __add_to_free_list counts them (not those on the MIGRATE_ISOLATE lists), of the machine,
    node ``nid`` or zone ``zid`` of it."""
    from memsim.physmem import MIGRATETYPE_NAMES
    isolate = MIGRATETYPE_NAMES.index("Isolate")
    pm = machine.physmem
    total = 0
    for z in pm.zones_info():
        z_zid = ZONE_NAMES.index(z["zone"])
        if (nid is not None and z["node"] != nid) or (zid is not None and z_zid != zid):
            continue
        counts = pm.free_list_counts(z["node"], z_zid, PAGEBLOCK_ORDER)
        total += sum(c[o] << o for mt, c in enumerate(counts) if mt != isolate
                     for o in range(PAGEBLOCK_ORDER, len(c)))
    return total


def _item(kind_index, vs, nid: Optional[int]):
    kind, i = kind_index
    if kind == "zone":
        return vs.global_zone_page_state(i) if nid is None else vs.sum_zone_node_page_state(nid, i)
    if kind == "numa":
        return vs.global_numa_event_state(i) if nid is None else vs.sum_zone_numa_event_state(nid, i)
    if kind == "node":
        pages = vs.global_node_page_state(i) if nid is None else vs.node_page_state(nid, i)
        return pages // HPAGE_PMD_NR if NODE_STAT_NAMES[i] in PRINT_IN_THP else pages
    raise KeyError(kind)


def vmstat_values(machine, nid: Optional[int] = None) -> Dict[str, int]:
    """Every /proc/vmstat item of the machine's profile (``nid``: the items of that node's
    vmstat file), by name, as vmstat_start() computes them."""
    vs = _vs(machine)
    names = vmstat_names(machine.profile)
    if nid is not None:
        names = names[:names.index(NODE_VMSTAT_END[machine.profile]) + 1]
    events = vs.all_vm_events() if nid is None else None
    bg = dirty = None
    out: Dict[str, int] = {}
    for name in names:
        known = ITEM_BY_NAME.get(name)
        if known is None:
            value = _free_pages_blocks(machine, nid) if name == "nr_free_pages_blocks" else 0
        elif known[0] == "writeback":
            if dirty is None:
                bg, dirty = global_dirty_limits(machine)
            value = dirty if name == "nr_dirty_threshold" else bg
        elif known[0] == "event":
            value = events[known[1]]
            if name in ("pgpgin", "pgpgout"):
                value //= 2                                 # sectors -> kbytes
        else:
            value = _item(known, vs, nid)
        out[name] = value
    return out


def zone_vmstat_values(machine, nid: int, zid: int) -> Dict[str, int]:
    """The zone and NUMA items of one zone, by name, as zoneinfo_show_print() reads them:
    zone_page_state() (the folded counter) and zone_numa_event_state() after
    fold_vm_zone_numa_events(); NR_FREE_PAGES_BLOCKS (6.18) from the zone's free lists; an item
    memsim does not count is 0."""
    vs = _vs(machine)
    zone_names, numa_names, _ = vmstat_groups(machine.profile)
    out: Dict[str, int] = {}
    for name in zone_names + numa_names:
        known = ITEM_BY_NAME.get(name)
        if known is None:
            out[name] = (_free_pages_blocks(machine, nid, zid)
                         if name == "nr_free_pages_blocks" else 0)
        elif known[0] == "zone":
            out[name] = vs.zone_page_state(nid, zid, known[1])
        else:
            out[name] = vs.zone_numa_event_state(nid, zid, known[1])
    return out


def vmstat_text(machine) -> str:
    """/proc/vmstat: ``name value`` lines, then the deprecated ``nr_unstable 0``."""
    return "".join(f"{k} {v}\n" for k, v in vmstat_values(machine).items()) + "nr_unstable 0\n"


def node_vmstat_text(machine, nid: int) -> str:
    """/sys/devices/system/node/nodeN/vmstat (node_read_vmstat)."""
    return "".join(f"{k} {v}\n" for k, v in vmstat_values(machine, nid).items())


def node_numastat_text(machine, nid: int) -> str:
    """/sys/devices/system/node/nodeN/numastat (node_read_numastat)."""
    vs = _vs(machine)
    labels = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")
    return "".join(f"{label} {vs.sum_zone_numa_event_state(nid, i)}\n" for i, label in enumerate(labels))


# ----------------------------------------------------------------------------------------------
# /proc/meminfo
# ----------------------------------------------------------------------------------------------

KB, COUNT = "kB", "count"

#: v5.14: meminfo_proc_show() for the configuration of memsim.vmstat (THP, HUGETLBFS; no CMA,
#: no MEMORY_FAILURE, no SHADOW_CALL_STACK), then arch_report_meminfo() of x86
_MEMINFO_V5_14 = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
    "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
    "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable",
    "Slab", "SReclaimable", "SUnreclaim", "KernelStack", "PageTables", "NFS_Unstable", "Bounce",
    "WritebackTmp", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed", "VmallocChunk",
    "Percpu", "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages",
    "FilePmdMapped", "HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp",
    "Hugepagesize", "Hugetlb", "DirectMap4k", "DirectMap2M", "DirectMap1G",
)
#: v6.18: the lines of /proc/meminfo on the live 6.18.44 kernel of this project's VM, in order
_MEMINFO_V6_18 = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
    "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
    "SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback", "AnonPages", "Mapped",
    "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack", "PageTables",
    "SecPageTables", "NFS_Unstable", "Bounce", "WritebackTmp", "CommitLimit", "Committed_AS",
    "VmallocTotal", "VmallocUsed", "VmallocChunk", "Percpu", "AnonHugePages", "ShmemHugePages",
    "ShmemPmdMapped", "FileHugePages", "FilePmdMapped", "Balloon", "HugePages_Total",
    "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb",
    "DirectMap4k", "DirectMap2M", "DirectMap1G",
)
#: the lines of /proc/meminfo, in order
MEMINFO_LINES = ProfileTable("mmstat.meminfo_lines", {"v5.14": _MEMINFO_V5_14, "v6.18": _MEMINFO_V6_18})

#: node_read_meminfo() + hugetlb_report_node_meminfo(); (line, label width)
_NODE_MEMINFO_V5_14 = (
    "MemTotal", "MemFree", "MemUsed", "SwapCached", "Active", "Inactive", "Active(anon)",
    "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "Dirty",
    "Writeback", "FilePages", "Mapped", "AnonPages", "Shmem", "KernelStack", "PageTables",
    "NFS_Unstable", "Bounce", "WritebackTmp", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim",
    "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped",
    "HugePages_Total", "HugePages_Free", "HugePages_Surp",
)
_NODE_MEMINFO_V6_18 = (
    "MemTotal", "MemFree", "MemUsed", "SwapCached", "Active", "Inactive", "Active(anon)",
    "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "Dirty",
    "Writeback", "FilePages", "Mapped", "AnonPages", "Shmem", "KernelStack", "PageTables",
    "SecPageTables", "NFS_Unstable", "Bounce", "WritebackTmp", "KReclaimable", "Slab",
    "SReclaimable", "SUnreclaim", "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped",
    "FileHugePages", "FilePmdMapped", "HugePages_Total", "HugePages_Free", "HugePages_Surp",
)
#: the lines of a node's meminfo file, in order
NODE_MEMINFO_LINES = ProfileTable("mmstat.node_meminfo_lines",
                                  {"v5.14": _NODE_MEMINFO_V5_14, "v6.18": _NODE_MEMINFO_V6_18})
#: node meminfo lines whose label is one column narrower ("FileHugePages: %8lu"; v6.5 aligned
#: them with the others)
NODE_MEMINFO_NARROW = ProfileTable("mmstat.node_meminfo_narrow",
                                   {"v5.14": ("FileHugePages", "FilePmdMapped"), "v6.18": ()})

#: Lines whose value is a count, not a size
COUNT_LINES = ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")

#: Lines plugins provide (:class:`memsim.registry.MeminfoLine`), with their value when no plugin
#: does: Hugepagesize is the default hstate's size even with an empty pool
PLUGIN_LINES: Dict[str, int] = {
    "Buffers": 0, "SwapTotal": 0, "SwapFree": 0, "Zswap": 0, "Zswapped": 0, "VmallocUsed": 0,
    "Percpu": 0, "Balloon": 0, "HugePages_Total": 0, "HugePages_Free": 0, "HugePages_Rsvd": 0,
    "HugePages_Surp": 0, "Hugepagesize": 2048 * 1024, "Hugetlb": 0,
}

#: How the core computes every other line, for docs/plugins.md and the reference.
CORE_LINES_DOC = {
    "MemTotal": "managed pages of every zone (totalram_pages)",
    "MemFree": "NR_FREE_PAGES",
    "MemAvailable": "si_mem_available(): free above the reserves, plus reclaimable page cache and slab",
    "Cached": "NR_FILE_PAGES - SwapCached - Buffers",
    "SwapCached": "NR_SWAPCACHE",
    "Active": "NR_ACTIVE_ANON + NR_ACTIVE_FILE", "Inactive": "NR_INACTIVE_ANON + NR_INACTIVE_FILE",
    "Active(anon)": "NR_ACTIVE_ANON", "Inactive(anon)": "NR_INACTIVE_ANON",
    "Active(file)": "NR_ACTIVE_FILE", "Inactive(file)": "NR_INACTIVE_FILE",
    "Unevictable": "NR_UNEVICTABLE", "Mlocked": "NR_MLOCK", "Dirty": "NR_FILE_DIRTY",
    "Writeback": "NR_WRITEBACK",
    "AnonPages": "NR_ANON_MAPPED",
    "Mapped": "NR_FILE_MAPPED",
    "Shmem": "NR_SHMEM",
    "KReclaimable": "SReclaimable + NR_KERNEL_MISC_RECLAIMABLE",
    "Slab": "SReclaimable + SUnreclaim", "SReclaimable": "NR_SLAB_RECLAIMABLE_B",
    "SUnreclaim": "NR_SLAB_UNRECLAIMABLE_B", "KernelStack": "NR_KERNEL_STACK_KB",
    "PageTables": "NR_PAGETABLE", "SecPageTables": "0 (no secondary page tables)",
    "NFS_Unstable": "0", "Bounce": "NR_BOUNCE", "WritebackTmp": "NR_WRITEBACK_TEMP",
    "CommitLimit": "(MemTotal - Hugetlb) * vm.overcommit_ratio / 100 (or vm.overcommit_kbytes) + SwapTotal",
    "Committed_AS": "accounted (private writable) mappings of every mm, plus shmem objects",
    "VmallocTotal": "34359738367 kB (x86-64, 4-level page tables)", "VmallocChunk": "0",
    "AnonHugePages": "NR_ANON_THPS", "ShmemHugePages": "NR_SHMEM_THPS",
    "ShmemPmdMapped": "NR_SHMEM_PMDMAPPED", "FileHugePages": "NR_FILE_THPS",
    "FilePmdMapped": "NR_FILE_PMDMAPPED",
    "DirectMap4k": "the direct map of a machine without holes: the first 2 MiB in 4k pages",
    "DirectMap2M": "up to the first 1 GiB boundary in 2M pages",
    "DirectMap1G": "the rest in 1G pages",
}


def meminfo_names(profile) -> Tuple[str, ...]:
    """The lines /proc/meminfo prints for ``profile``, in order."""
    return MEMINFO_LINES[profile]


def node_meminfo_names(profile) -> Tuple[str, ...]:
    """The lines of /sys/devices/system/node/nodeN/meminfo for ``profile``, in order."""
    return NODE_MEMINFO_LINES[profile]


def check_meminfo_line(line: MeminfoLine, profile) -> Optional[Tuple[str, str]]:
    """Why ``line`` cannot be contributed under ``profile``: (problem, fix), or None."""
    import difflib
    names = meminfo_names(profile)
    if line.name not in names:
        close = difflib.get_close_matches(line.name, list(names), 1)
        return (f"/proc/meminfo of {profile.name} has no line {line.name!r}",
                f"did you mean {close[0]!r}?" if close else "contribute one of its lines (see docs/plugins.md)")
    if line.name not in PLUGIN_LINES:
        return (f"/proc/meminfo {line.name} is computed by the core "
                f"({CORE_LINES_DOC.get(line.name, 'from its counters')})",
                "update the counter it is computed from instead")
    if line.node_value is not None and line.name not in node_meminfo_names(profile):
        return (f"the node meminfo files of {profile.name} have no line {line.name!r}",
                "leave node_value out")
    return None


def _direct_map(machine) -> Tuple[int, int, int]:
    """(4k, 2M, 1G) bytes of the direct mapping of [0, end of memory): init_memory_mapping()
    on a machine without holes maps the first 2 MiB with 4k pages (the BIOS area is split),
    then 2M pages up to the first 1 GiB boundary, then 1G pages (gbpages), the tail in 2M and
    4k pages."""
    end = machine.physmem.max_pfn * PAGE_SIZE
    k4 = min(end, 2 << 20)
    g1_start = min(end, 1 << 30)
    g1_end = max(g1_start, end & ~((1 << 30) - 1))
    m2 = (g1_start - k4) + ((end - g1_end) & ~((2 << 20) - 1))
    g1 = g1_end - g1_start
    k4 += end - k4 - m2 - g1
    return k4, m2, g1


def committed_as_pages(machine) -> int:
    """vm_memory_committed(): the pages of accounted mappings (VM_ACCOUNT: private writable) of
    every live mm, plus each shmem object behind a shared anonymous mapping once."""
    from memsim.mm import VM_ACCOUNT
    total = 0
    shmem = {}
    for mm in machine.live_mms():
        for v in mm.vmas:
            if v.vm_flags & VM_ACCOUNT:
                total += (v.vm_end - v.vm_start) // PAGE_SIZE
            f = v.vm_file
            if f is not None and f.swapbacked:
                shmem[id(f)] = (f.i_size + PAGE_SIZE - 1) // PAGE_SIZE
    return total + sum(shmem.values())


def _contributed(machine, name: str, nid: Optional[int] = None) -> int:
    line = machine.meminfo_lines.get(name)
    if line is None:
        return PLUGIN_LINES[name] if (nid is None or name in COUNT_LINES) else 0
    if nid is None:
        return int(line.value(machine))
    return int(line.node_value(machine, nid)) if line.node_value is not None else 0


def meminfo_values(machine, exact: bool = False) -> Dict[str, int]:
    """Every /proc/meminfo line of the machine's profile, by name: bytes for the lines printed in
    kB, a number for HugePages_*.  As the file reads (``exact`` False: the folded counters, which
    lag by the per-CPU differentials), or as it reads after a write to /proc/sys/vm/stat_refresh
    (``exact`` True), without folding anything."""
    c = _Counters(machine, exact)
    node, zone = c.node, c.zone
    names = meminfo_names(machine.profile)
    plugin = {name: _contributed(machine, name) for name in names if name in PLUGIN_LINES}
    total = totalram_pages(machine)
    sreclaimable = node(NS.NR_SLAB_RECLAIMABLE_B)
    sunreclaim = node(NS.NR_SLAB_UNRECLAIMABLE_B)
    swapcached = node(NS.NR_SWAPCACHE)
    buffers = plugin.get("Buffers", 0) // PAGE_SIZE
    anon_pages, shmem_pages = node(NS.NR_ANON_MAPPED), node(NS.NR_SHMEM)
    hugetlb_pages = plugin.get("Hugetlb", 0) // PAGE_SIZE
    swap_pages = plugin.get("SwapTotal", 0) // PAGE_SIZE
    k4, m2, g1 = _direct_map(machine)
    pages = {
        "MemTotal": total,
        "MemFree": zone(ZS.NR_FREE_PAGES),
        "MemAvailable": si_mem_available(machine, exact),
        "Cached": max(0, node(NS.NR_FILE_PAGES) - swapcached - buffers),
        "SwapCached": swapcached,
        "Active": node(NS.NR_ACTIVE_ANON) + node(NS.NR_ACTIVE_FILE),
        "Inactive": node(NS.NR_INACTIVE_ANON) + node(NS.NR_INACTIVE_FILE),
        "Active(anon)": node(NS.NR_ACTIVE_ANON),
        "Inactive(anon)": node(NS.NR_INACTIVE_ANON),
        "Active(file)": node(NS.NR_ACTIVE_FILE),
        "Inactive(file)": node(NS.NR_INACTIVE_FILE),
        "Unevictable": node(NS.NR_UNEVICTABLE),
        "Mlocked": zone(ZS.NR_MLOCK),
        "Dirty": node(NS.NR_FILE_DIRTY),
        "Writeback": node(NS.NR_WRITEBACK),
        "AnonPages": anon_pages,
        "Mapped": node(NS.NR_FILE_MAPPED),
        "Shmem": shmem_pages,
        "KReclaimable": sreclaimable + node(NS.NR_KERNEL_MISC_RECLAIMABLE),
        "Slab": sreclaimable + sunreclaim,
        "SReclaimable": sreclaimable,
        "SUnreclaim": sunreclaim,
        "PageTables": node(NS.NR_PAGETABLE),
        "SecPageTables": 0,
        "NFS_Unstable": 0,
        "Bounce": zone(ZS.NR_BOUNCE),
        "WritebackTmp": node(NS.NR_WRITEBACK_TEMP),
        "CommitLimit": machine.overcommit.vm_commit_limit(),
        "Committed_AS": committed_as_pages(machine),
        "VmallocChunk": 0,
        "AnonHugePages": node(NS.NR_ANON_THPS),
        "ShmemHugePages": node(NS.NR_SHMEM_THPS),
        "ShmemPmdMapped": node(NS.NR_SHMEM_PMDMAPPED),
        "FileHugePages": node(NS.NR_FILE_THPS),
        "FilePmdMapped": node(NS.NR_FILE_PMDMAPPED),
    }
    out: Dict[str, int] = {}
    for name in names:
        if name in plugin:
            out[name] = plugin[name]
        elif name == "KernelStack":
            out[name] = node(NS.NR_KERNEL_STACK_KB) * 1024
        elif name == "VmallocTotal":
            out[name] = VMALLOC_TOTAL_KB * 1024
        elif name == "DirectMap4k":
            out[name] = k4
        elif name == "DirectMap2M":
            out[name] = m2
        elif name == "DirectMap1G":
            out[name] = g1
        else:
            out[name] = pages[name] * PAGE_SIZE
    return out


def _line(name: str, value: int, label_width: int = 16) -> str:
    if name in COUNT_LINES:
        # hugetlb_report_meminfo(): "HugePages_Total:   %5lu" (a 19-character label)
        return f"{name + ':':<{label_width + 3}}{value:>5}\n"
    return f"{name + ':':<{label_width}}{value >> 10:>8} kB\n"


def meminfo_text(machine) -> str:
    """/proc/meminfo (show_val_kb: a 16-character label, the value in kB right-aligned in 8 and
    wider when it needs more; HugePages_* are counts, ``%5lu`` after a 19-character label)."""
    return "".join(_line(k, v) for k, v in meminfo_values(machine).items())


def node_meminfo_values(machine, nid: int) -> Dict[str, int]:
    """The lines of /sys/devices/system/node/nodeN/meminfo, by name (bytes; HugePages_*
    counts)."""
    vs = _vs(machine)

    def node(item):
        return vs.node_page_state(nid, item)

    total = sum(z["managed"] for z in machine.physmem.zones_info() if z["node"] == nid)
    free = vs.sum_zone_node_page_state(nid, ZS.NR_FREE_PAGES)
    sreclaimable = node(NS.NR_SLAB_RECLAIMABLE_B)
    sunreclaim = node(NS.NR_SLAB_UNRECLAIMABLE_B)
    anon_pages, shmem_pages = node(NS.NR_ANON_MAPPED), node(NS.NR_SHMEM)
    pages = {
        "MemTotal": total, "MemFree": free, "MemUsed": total - free,
        "SwapCached": node(NS.NR_SWAPCACHE),
        "Active": node(NS.NR_ACTIVE_ANON) + node(NS.NR_ACTIVE_FILE),
        "Inactive": node(NS.NR_INACTIVE_ANON) + node(NS.NR_INACTIVE_FILE),
        "Active(anon)": node(NS.NR_ACTIVE_ANON), "Inactive(anon)": node(NS.NR_INACTIVE_ANON),
        "Active(file)": node(NS.NR_ACTIVE_FILE), "Inactive(file)": node(NS.NR_INACTIVE_FILE),
        "Unevictable": node(NS.NR_UNEVICTABLE),
        "Mlocked": vs.sum_zone_node_page_state(nid, ZS.NR_MLOCK),
        "Dirty": node(NS.NR_FILE_DIRTY), "Writeback": node(NS.NR_WRITEBACK),
        "FilePages": node(NS.NR_FILE_PAGES), "Mapped": node(NS.NR_FILE_MAPPED),
        "AnonPages": anon_pages, "Shmem": shmem_pages,
        "PageTables": node(NS.NR_PAGETABLE), "SecPageTables": 0, "NFS_Unstable": 0,
        "Bounce": vs.sum_zone_node_page_state(nid, ZS.NR_BOUNCE),
        "WritebackTmp": node(NS.NR_WRITEBACK_TEMP),
        "KReclaimable": sreclaimable + node(NS.NR_KERNEL_MISC_RECLAIMABLE),
        "Slab": sreclaimable + sunreclaim, "SReclaimable": sreclaimable, "SUnreclaim": sunreclaim,
        "AnonHugePages": node(NS.NR_ANON_THPS), "ShmemHugePages": node(NS.NR_SHMEM_THPS),
        "ShmemPmdMapped": node(NS.NR_SHMEM_PMDMAPPED), "FileHugePages": node(NS.NR_FILE_THPS),
        "FilePmdMapped": node(NS.NR_FILE_PMDMAPPED),
    }
    out: Dict[str, int] = {}
    for name in node_meminfo_names(machine.profile):
        if name in COUNT_LINES:
            out[name] = _contributed(machine, name, nid)
        elif name == "KernelStack":
            out[name] = node(NS.NR_KERNEL_STACK_KB) * 1024
        else:
            out[name] = pages[name] * PAGE_SIZE
    return out


def node_meminfo_text(machine, nid: int) -> str:
    """/sys/devices/system/node/nodeN/meminfo (node_read_meminfo)."""
    narrow = NODE_MEMINFO_NARROW[machine.profile]
    out = []
    for name, value in node_meminfo_values(machine, nid).items():
        if name in COUNT_LINES:
            # hugetlb_report_node_meminfo(): "Node %d HugePages_Total: %5u"
            out.append(f"Node {nid} {name + ':':<17}{value:>5}\n")
        else:
            out.append(f"Node {nid} " + _line(name, value, 15 if name in narrow else 16))
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# node masks and topology (drivers/base/node.c, lib/bitmap.c)
# ----------------------------------------------------------------------------------------------

def bitmap_list(bits: Sequence[int]) -> str:
    """``%*pbl``: ``0-3,5``."""
    ranges: List[str] = []
    bits = sorted(bits)
    i = 0
    while i < len(bits):
        j = i
        while j + 1 < len(bits) and bits[j + 1] == bits[j] + 1:
            j += 1
        ranges.append(str(bits[i]) if i == j else f"{bits[i]}-{bits[j]}")
        i = j + 1
    return ",".join(ranges)


def bitmap_mask(bits: Sequence[int], nbits: int) -> str:
    """``%*pb``: hex in 32-bit chunks separated by commas, the first as wide as it needs."""
    value = 0
    for b in bits:
        value |= 1 << b
    chunks = []
    first = nbits % 32 or 32
    pos = ((nbits + 31) // 32) * 32 - 32
    width = (first + 3) // 4
    while pos >= 0:
        chunks.append(f"{(value >> pos) & 0xffffffff:0{width}x}")
        pos -= 32
        width = 8
    return ",".join(chunks)


def node_cpus(machine, nid: int) -> List[int]:
    return [c for c in range(machine.spec.cpus) if machine.physmem.node_of_cpu(c) == nid]


def _node_files(machine) -> None:
    """/sys/devices/system/node: the node masks and one directory per node (register_node)."""
    sysfs = machine.sysfs
    nodes = list(range(machine.physmem.nr_nodes))
    cpu_nodes = sorted({machine.physmem.node_of_cpu(c) for c in range(machine.spec.cpus)})
    for name, members in (("possible", nodes), ("online", nodes), ("has_memory", nodes),
                          ("has_normal_memory", nodes), ("has_cpu", cpu_nodes)):
        sysfs.create_file(f"devices/system/node/{name}", show=lambda m, s=members: bitmap_list(s) + "\n",
                          private=machine)
    for nid in nodes:
        base = f"devices/system/node/node{nid}"
        sysfs.mkdir(base)
        sysfs.create_file(f"{base}/meminfo", show=lambda m, n=nid: node_meminfo_text(m, n), private=machine)
        sysfs.create_file(f"{base}/vmstat", show=lambda m, n=nid: node_vmstat_text(m, n), private=machine)
        sysfs.create_file(f"{base}/numastat", show=lambda m, n=nid: node_numastat_text(m, n), private=machine)
        sysfs.create_file(f"{base}/distance", private=machine, show=lambda m, n=nid: " ".join(
            str(LOCAL_DISTANCE if o == n else REMOTE_DISTANCE) for o in nodes) + "\n")
        sysfs.create_file(f"{base}/cpulist", private=machine,
                          show=lambda m, n=nid: bitmap_list(node_cpus(m, n)) + "\n")
        sysfs.create_file(f"{base}/cpumap", private=machine,
                          show=lambda m, n=nid: bitmap_mask(node_cpus(m, n), m.spec.cpus) + "\n")


# ----------------------------------------------------------------------------------------------
# sysctls (kernel/sysctl.c, mm/page_alloc.c, mm/vmstat.c)
# ----------------------------------------------------------------------------------------------

#: vm.watermark_scale_factor's upper bound (proc_dointvec_minmax extra2): one_thousand in 5.14's
#: kernel/sysctl.c, SYSCTL_THREE_THOUSAND in 6.18's mm/page_alloc.c (the live 6.18 kernel takes
#: 3000 and refuses 3001 and 0 with EINVAL: tests/core/test_oom.py).
WATERMARK_SCALE_FACTOR_MAX = ProfileTable("mmstat.watermark_scale_factor_max",
                                          {"v5.14": 1000, "v6.18": 3000})


def _watermark_scale_factor_store(machine, data: bytes) -> int:
    """watermark_scale_factor_sysctl_handler(): proc_dointvec_minmax (1 .. the profile's
    maximum), then setup_per_zone_wmarks()."""
    from memsim.pseudofs import proc_dointvec_minmax
    value, took = proc_dointvec_minmax(data, minimum=1,
                                       maximum=WATERMARK_SCALE_FACTOR_MAX[machine.profile.name])
    machine.physmem.set_watermark_scale_factor(value)
    return took


def _overcommit_memory_store(machine, data: bytes) -> int:
    """overcommit_policy_handler(): proc_dointvec_minmax, 0 (OVERCOMMIT_GUESS) to 2
    (OVERCOMMIT_NEVER)."""
    from memsim.pseudofs import proc_dointvec_minmax
    value, took = proc_dointvec_minmax(data, minimum=0, maximum=2)
    machine.overcommit.policy = value
    return took


def _overcommit_ratio_store(machine, data: bytes) -> int:
    """overcommit_ratio_handler(): proc_dointvec, then overcommit_kbytes = 0."""
    from memsim.pseudofs import proc_dointvec_minmax
    value, took = proc_dointvec_minmax(data)
    machine.overcommit.ratio = value
    machine.overcommit.kbytes = 0
    return took


def _overcommit_kbytes_store(machine, data: bytes) -> int:
    """overcommit_kbytes_handler(): proc_doulongvec_minmax, then overcommit_ratio = 0."""
    from memsim.pseudofs import proc_doulongvec_minmax
    value, took = proc_doulongvec_minmax(data)
    machine.overcommit.kbytes = value
    machine.overcommit.ratio = 0
    return took


def _int_store(attr: str):
    """A proc_dointvec sysctl of the OOM killer (vm.panic_on_oom, vm.oom_kill_allocating_task):
    any int is taken, as the kernel's table has no bounds for them."""
    def store(machine, data: bytes) -> int:
        from memsim.pseudofs import proc_dointvec_minmax
        value, took = proc_dointvec_minmax(data)
        setattr(machine.oom, attr, value)
        return took
    return store


def _min_free_kbytes_store(machine, data: bytes) -> int:
    """min_free_kbytes_sysctl_handler(): proc_dointvec_minmax (at least 0), then
    setup_per_zone_wmarks()."""
    from memsim.pseudofs import proc_dointvec_minmax
    value, took = proc_dointvec_minmax(data, minimum=0)
    machine.physmem.set_min_free_kbytes(value)
    return took


def _stat_interval_store(machine, data: bytes) -> int:
    """proc_dointvec_jiffies(): seconds; vmstat_update runs every stat_interval."""
    from memsim.pseudofs import proc_dointvec_jiffies
    jiffies, took = proc_dointvec_jiffies(data)
    machine.set_stat_interval(jiffies * 1_000_000)
    return took


def _swappiness_store(machine, data: bytes) -> int:
    """vm_swappiness: proc_dointvec_minmax, 0..200 (v5.8+'s two_hundred); reclaim's
    get_scan_count() reads it (memsim.vmscan.Vmscan.swappiness)."""
    from memsim.pseudofs import proc_dointvec_minmax
    value, took = proc_dointvec_minmax(data, minimum=0, maximum=200)
    machine.vmscan.swappiness = value
    return took


def _stat_refresh_store(machine, data: bytes) -> None:
    """vmstat_refresh(): fold every CPU's differentials (any text is accepted)."""
    machine.physmem.vmstat.refresh_vm_stats()


def _fault_around_bytes_store(machine, data: bytes) -> None:
    """fault_around_bytes_set() behind DEFINE_DEBUGFS_ATTRIBUTE (simple_attr_write: kstrtoull
    with base 0): more than a page table's worth (512 pages) is EINVAL; the value is rounded
    down to a power of two, at least one page (which turns fault-around off)."""
    from memsim.vfs import VfsError
    text = data.decode("ascii", "replace").strip()
    try:
        value = int(text, 0) if text else -1
    except ValueError:
        value = -1
    if value < 0 or value >= 1 << 64:
        raise VfsError("EINVAL", f"{text!r} is not a number")
    if value // 4096 > 512:
        raise VfsError("EINVAL", f"{value} bytes is more than a page table maps (2 MiB)")
    value = max(value, 4096)
    machine.mmcore.fault_around_bytes = 1 << (value.bit_length() - 1)


def _stat_refresh_show(machine) -> str:
    machine.physmem.vmstat.refresh_vm_stats()
    return ""


#: The files the core creates at boot (the node files once per node: ``node{N}``).
CORE_FILES: Tuple[ProcFile, ...] = (
    ProcFile("/proc/meminfo", "memory totals: every line of the kernel's, modelled, computed or 0",
             lambda m: meminfo_text(m)),
    ProcFile("/proc/vmstat", "the vmstat counters, in the kernel's names and order",
             lambda m: vmstat_text(m)),
    ProcFile("/proc/sys/vm/min_free_kbytes", "the memory kept free; a write recomputes the "
             "zones' watermarks (proc_dointvec_minmax, at least 0)",
             lambda m: f"{m.physmem.min_free_kbytes}\n", write=_min_free_kbytes_store),
    ProcFile("/proc/sys/vm/swappiness", "how much reclaim prefers anonymous pages over the page "
             "cache (get_scan_count; 0..200, 60; no effect until swap exists)",
             lambda m: f"{m.vmscan.swappiness}\n", write=_swappiness_store),
    ProcFile("/proc/sys/vm/drop_caches", "1: drop the clean, unmapped page cache; 2: free what "
             "the shrinkers can (drop_slab); 3: both; 4: no kernel message from then on "
             "(write-only, 1..4)", write=drop_caches_store),
    ProcFile("/proc/sys/vm/watermark_scale_factor", "the distance between the zones' min, low "
             "and high watermarks, in 1/10000 of their memory; a write recomputes them "
             "(proc_dointvec_minmax, 1 to 1000 on v5.14, 3000 on v6.18)",
             lambda m: f"{m.physmem.watermark_scale_factor}\n", write=_watermark_scale_factor_store),
    ProcFile("/proc/sys/vm/overcommit_memory", "0: heuristic overcommit (refuse only a mapping "
             "larger than memory + swap), 1: always overcommit, 2: never (Committed_AS stays "
             "under CommitLimit); checked at mmap and mremap (__vm_enough_memory)",
             lambda m: f"{m.overcommit.policy}\n", write=_overcommit_memory_store),
    ProcFile("/proc/sys/vm/overcommit_ratio", "CommitLimit's share of memory in percent under "
             "overcommit_memory 2 (a write sets overcommit_kbytes to 0)",
             lambda m: f"{m.overcommit.ratio}\n", write=_overcommit_ratio_store),
    ProcFile("/proc/sys/vm/overcommit_kbytes", "CommitLimit's memory in kB under "
             "overcommit_memory 2, instead of overcommit_ratio (a write sets the ratio to 0)",
             lambda m: f"{m.overcommit.kbytes}\n", write=_overcommit_kbytes_store),
    ProcFile("/proc/sys/vm/panic_on_oom", "1: an out-of-memory that is not constrained by a "
             "mempolicy panics (memsim stops the run) instead of killing a task; 2: every one does",
             lambda m: f"{m.oom.panic_on_oom}\n", write=_int_store("panic_on_oom")),
    ProcFile("/proc/sys/vm/oom_kill_allocating_task", "non-zero: the OOM killer kills the task "
             "whose allocation failed (unless its oom_score_adj is -1000) instead of the one with "
             "the highest badness", lambda m: f"{m.oom.kill_allocating_task}\n",
             write=_int_store("kill_allocating_task")),
    ProcFile("/proc/sys/vm/stat_interval", "seconds between two folds of the per-CPU vmstat "
             "differentials (vmstat_update)", lambda m: f"{m.stat_interval_ns // 1_000_000_000}\n",
             write=_stat_interval_store),
    ProcFile("/proc/sys/vm/stat_refresh", "reading or writing it folds every per-CPU vmstat "
             "differential at once", _stat_refresh_show, write=_stat_refresh_store, mode=0o600),
    ProcFile("/sys/kernel/debug/fault_around_bytes", "the fault-around window (64 KiB; at most "
             "2 MiB, rounded down to a power of two; 4 KiB turns it off)",
             lambda m: f"{m.mmcore.fault_around_bytes}\n", write=_fault_around_bytes_store,
             mode=0o644),
    ProcFile("/sys/devices/system/node/{possible,online,has_memory,has_normal_memory,has_cpu}",
             "node masks (lists such as 0-1)"),
    ProcFile("/sys/devices/system/node/node{N}/meminfo", "the node's memory totals (Node N lines)"),
    ProcFile("/sys/devices/system/node/node{N}/vmstat", "the node's zone, NUMA and node counters"),
    ProcFile("/sys/devices/system/node/node{N}/numastat", "numa_hit ... other_node of the node"),
    ProcFile("/sys/devices/system/node/node{N}/distance", "node_distance() to every node (10 local, 20 remote)"),
    ProcFile("/sys/devices/system/node/node{N}/{cpulist,cpumap}", "the node's CPUs, as a list and a mask"),
)


def install_core_files(machine) -> None:
    """Create the core's files in the machine's procfs and sysfs (at boot)."""
    from memsim.pseudofs import VFS_FILES
    for pf in CORE_FILES + VFS_FILES:
        if not pf.dynamic:
            install_proc_file(machine, pf)
    machine.sysfs.mkdir("kernel/mm")
    machine.sysfs.mkdir("fs")
    _node_files(machine)


def install_proc_file(machine, pf: ProcFile) -> None:
    """Create a static :class:`ProcFile` in procfs or sysfs; ``render``/``write`` get the
    machine."""
    if pf.path.startswith("/proc/"):
        fs, rel = machine.procfs, pf.path[len("/proc/"):]
    elif pf.path.startswith("/sys/kernel/debug/"):
        fs, rel = machine.debugfs, pf.path[len("/sys/kernel/debug/"):]
    else:
        fs, rel = machine.sysfs, pf.path[len("/sys/"):]
    show = (lambda m, r=pf.render: r(m)) if pf.render is not None else None
    store = (lambda m, data, w=pf.write: w(m, data)) if pf.write is not None else None
    fs.create_file(rel, show=show, store=store, mode=pf.mode, private=machine, plugin=pf.plugin)
