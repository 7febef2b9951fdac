"""The memcg trace events (include/trace/events/memcg.h, v6.11+; memcg_flush_stats v6.13+) of the
v6.18 profile, and the enum values their ``item`` field prints; v5.14 has none (tracepoints.md 9,
scenario 22).

The declarations reproduce the live 6.18 kernel's format files (catalog/v6.18/memcg, copied from
/sys/kernel/tracing/events/memcg/*/format) byte for byte apart from ``ID:``
(tests/memcg/test_trace.py).  The memcg plugin emits them from C (memsim.plugins.memcg.memcontrol,
memsim.plugins.memcg.rstat), as mm/memcontrol.c does:

* ``mod_memcg_state``: mod_memcg_state(), a memcg-only item (MEMCG_KMEM, MEMCG_SWAP, ...);
* ``mod_memcg_lruvec_state``: mod_memcg_lruvec_state(), a node item of a charged page;
* ``count_memcg_events``: count_memcg_events(), a VM event (PGPGIN, PGFAULT, ...);
* ``memcg_flush_stats``: __mem_cgroup_flush_stats(), at every memory.stat read and every 2 s.

The three statistic events are written between get_cpu() and put_cpu(): preempt depth 1 (the
live kernel's ``...1.``; 2 under a page-table lock, which memsim's fault path does not add).
``memcg_id`` is cgroup_id(): the kernfs id of the cgroup's directory, its inode number (1 for the
root).  ``val`` is the delta in pages (memcg_state_val_in_pages(): a byte or KiB item's update is
converted, a non-zero sub-page one counts 1) or the event count.  ``item`` is the raw index of the
kernel's enum -- node_stat_item, memcg_stat_item (which continues node_stat_item) or vm_event_item
-- of the live kernel's configuration, not memsim's own index: :func:`item_table` maps memsim's
items onto the tables below, which follow include/linux/mmzone.h, memcontrol.h and
vm_event_item.h of 6.18 for x86-64 with CONFIG_ZONE_DMA, ZONE_DMA32, ZONE_DEVICE, NUMA,
NUMA_BALANCING, MIGRATION, COMPACTION, HUGETLB_PAGE, TRANSPARENT_HUGEPAGE, SWAP, ZSWAP, KSM,
MEMORY_BALLOON, BALLOON_COMPACTION, IOMMU_SUPPORT and MEMCG_V1, without HIGHMEM, CMA,
UNACCEPTED_MEMORY, DEBUG_TLBFLUSH, PER_VMA_LOCK_STATS or DEBUG_STACK_USAGE (the live kernel's
/proc/config.gz).  The probe tests/memcg/probes/memcg_trace.c printed every enumerator of the
three enums from the kernel's BTF, and the items its events carried; memcg_trace.txt is checked
against these tables.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from memsim.profiles import ProfileTable
from memsim.tracing.events import EventDecl, layout_fields

U, S = False, True

#: include/trace/events/memcg.h exists (v6.11+; memcg_flush_stats v6.13+)
_HAS_EVENTS: ProfileTable[bool] = ProfileTable("tracing.memcg events", {"v5.14": False, "v6.18": True})

#: enum node_stat_item of 6.18 (include/linux/mmzone.h), this configuration
V6_18_NODE_STAT_ITEMS = (
    "NR_INACTIVE_ANON", "NR_ACTIVE_ANON", "NR_INACTIVE_FILE", "NR_ACTIVE_FILE", "NR_UNEVICTABLE",
    "NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B", "NR_ISOLATED_ANON", "NR_ISOLATED_FILE",
    "WORKINGSET_NODES", "WORKINGSET_REFAULT_ANON", "WORKINGSET_REFAULT_FILE",
    "WORKINGSET_ACTIVATE_ANON", "WORKINGSET_ACTIVATE_FILE", "WORKINGSET_RESTORE_ANON",
    "WORKINGSET_RESTORE_FILE", "WORKINGSET_NODERECLAIM", "NR_ANON_MAPPED", "NR_FILE_MAPPED",
    "NR_FILE_PAGES", "NR_FILE_DIRTY", "NR_WRITEBACK", "NR_SHMEM", "NR_SHMEM_THPS",
    "NR_SHMEM_PMDMAPPED", "NR_FILE_THPS", "NR_FILE_PMDMAPPED", "NR_ANON_THPS", "NR_VMSCAN_WRITE",
    "NR_VMSCAN_IMMEDIATE", "NR_DIRTIED", "NR_WRITTEN", "NR_THROTTLED_WRITTEN",
    "NR_KERNEL_MISC_RECLAIMABLE", "NR_FOLL_PIN_ACQUIRED", "NR_FOLL_PIN_RELEASED",
    "NR_KERNEL_STACK_KB",                   # (NR_KERNEL_SCS_KB: CONFIG_SHADOW_CALL_STACK, off)
    "NR_PAGETABLE", "NR_SECONDARY_PAGETABLE",
    "NR_IOMMU_PAGES",                       # CONFIG_IOMMU_SUPPORT
    "NR_SWAPCACHE",                         # CONFIG_SWAP
    "PGPROMOTE_SUCCESS", "PGPROMOTE_CANDIDATE", "PGPROMOTE_CANDIDATE_NRL",   # NUMA_BALANCING
    "PGDEMOTE_KSWAPD", "PGDEMOTE_DIRECT", "PGDEMOTE_KHUGEPAGED", "PGDEMOTE_PROACTIVE",
    "NR_HUGETLB",                           # CONFIG_HUGETLB_PAGE
    "NR_BALLOON_PAGES", "NR_KERNEL_FILE_PAGES",
)
#: enum memcg_stat_item of 6.18 (include/linux/memcontrol.h): from NR_VM_NODE_STAT_ITEMS on
V6_18_MEMCG_STAT_ITEMS = ("MEMCG_SWAP", "MEMCG_SOCK", "MEMCG_PERCPU_B", "MEMCG_VMALLOC",
                          "MEMCG_KMEM", "MEMCG_ZSWAP_B", "MEMCG_ZSWAPPED")

_ZONES = ("DMA", "DMA32", "NORMAL", "MOVABLE", "DEVICE")      # FOR_ALL_ZONES, ZONE_DEVICE on
#: enum vm_event_item of 6.18 (include/linux/vm_event_item.h), this configuration
V6_18_VM_EVENT_ITEMS = (
    ("PGPGIN", "PGPGOUT", "PSWPIN", "PSWPOUT")
    + tuple(f"PGALLOC_{z}" for z in _ZONES) + tuple(f"ALLOCSTALL_{z}" for z in _ZONES)
    + tuple(f"PGSCAN_SKIP_{z}" for z in _ZONES)
    + ("PGFREE", "PGACTIVATE", "PGDEACTIVATE", "PGLAZYFREE", "PGFAULT", "PGMAJFAULT",
       "PGLAZYFREED", "PGREFILL", "PGREUSE", "PGSTEAL_KSWAPD", "PGSTEAL_DIRECT",
       "PGSTEAL_KHUGEPAGED", "PGSTEAL_PROACTIVE", "PGSCAN_KSWAPD", "PGSCAN_DIRECT",
       "PGSCAN_KHUGEPAGED", "PGSCAN_PROACTIVE", "PGSCAN_DIRECT_THROTTLE", "PGSCAN_ANON",
       "PGSCAN_FILE", "PGSTEAL_ANON", "PGSTEAL_FILE",
       "PGSCAN_ZONE_RECLAIM_SUCCESS", "PGSCAN_ZONE_RECLAIM_FAILED",          # CONFIG_NUMA
       "PGINODESTEAL", "SLABS_SCANNED", "KSWAPD_INODESTEAL", "KSWAPD_LOW_WMARK_HIT_QUICKLY",
       "KSWAPD_HIGH_WMARK_HIT_QUICKLY", "PAGEOUTRUN", "PGROTATED", "DROP_PAGECACHE", "DROP_SLAB",
       "OOM_KILL",
       "NUMA_PTE_UPDATES", "NUMA_HUGE_PTE_UPDATES", "NUMA_HINT_FAULTS",      # NUMA_BALANCING
       "NUMA_HINT_FAULTS_LOCAL", "NUMA_PAGE_MIGRATE",
       "PGMIGRATE_SUCCESS", "PGMIGRATE_FAIL", "THP_MIGRATION_SUCCESS",       # MIGRATION
       "THP_MIGRATION_FAIL", "THP_MIGRATION_SPLIT",
       "COMPACTMIGRATE_SCANNED", "COMPACTFREE_SCANNED", "COMPACTISOLATED",   # COMPACTION
       "COMPACTSTALL", "COMPACTFAIL", "COMPACTSUCCESS", "KCOMPACTD_WAKE",
       "KCOMPACTD_MIGRATE_SCANNED", "KCOMPACTD_FREE_SCANNED",
       "HTLB_BUDDY_PGALLOC", "HTLB_BUDDY_PGALLOC_FAIL",                      # HUGETLB_PAGE
       "UNEVICTABLE_PGCULLED", "UNEVICTABLE_PGSCANNED", "UNEVICTABLE_PGRESCUED",
       "UNEVICTABLE_PGMLOCKED", "UNEVICTABLE_PGMUNLOCKED", "UNEVICTABLE_PGCLEARED",
       "UNEVICTABLE_PGSTRANDED",
       "THP_FAULT_ALLOC", "THP_FAULT_FALLBACK", "THP_FAULT_FALLBACK_CHARGE",  # TRANSPARENT_HUGEPAGE
       "THP_COLLAPSE_ALLOC", "THP_COLLAPSE_ALLOC_FAILED", "THP_FILE_ALLOC", "THP_FILE_FALLBACK",
       "THP_FILE_FALLBACK_CHARGE", "THP_FILE_MAPPED", "THP_SPLIT_PAGE", "THP_SPLIT_PAGE_FAILED",
       "THP_DEFERRED_SPLIT_PAGE", "THP_UNDERUSED_SPLIT_PAGE", "THP_SPLIT_PMD",
       "THP_SCAN_EXCEED_NONE_PTE", "THP_SCAN_EXCEED_SWAP_PTE", "THP_SCAN_EXCEED_SHARED_PTE",
       "THP_SPLIT_PUD",                     # HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD
       "THP_ZERO_PAGE_ALLOC", "THP_ZERO_PAGE_ALLOC_FAILED", "THP_SWPOUT", "THP_SWPOUT_FALLBACK",
       "BALLOON_INFLATE", "BALLOON_DEFLATE", "BALLOON_MIGRATE",              # MEMORY_BALLOON
       "SWAP_RA", "SWAP_RA_HIT", "SWPIN_ZERO", "SWPOUT_ZERO",                 # SWAP
       "KSM_SWPIN_COPY", "COW_KSM",                                          # KSM
       "ZSWPIN", "ZSWPOUT", "ZSWPWB",                                        # ZSWAP
       "DIRECT_MAP_LEVEL2_SPLIT", "DIRECT_MAP_LEVEL3_SPLIT",                 # X86
       "DIRECT_MAP_LEVEL2_COLLAPSE", "DIRECT_MAP_LEVEL3_COLLAPSE"))

#: memcg_node_stat_items[] and memcg_stat_items[] of 6.18 mm/memcontrol.c: the state items a memcg
#: keeps; mod_memcg_state()/mod_memcg_lruvec_state() of any other item only warns (no event)
V6_18_MEMCG_STATE = frozenset((
    "NR_INACTIVE_ANON", "NR_ACTIVE_ANON", "NR_INACTIVE_FILE", "NR_ACTIVE_FILE", "NR_UNEVICTABLE",
    "NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B", "WORKINGSET_REFAULT_ANON",
    "WORKINGSET_REFAULT_FILE", "WORKINGSET_ACTIVATE_ANON", "WORKINGSET_ACTIVATE_FILE",
    "WORKINGSET_RESTORE_ANON", "WORKINGSET_RESTORE_FILE", "WORKINGSET_NODERECLAIM",
    "NR_ANON_MAPPED", "NR_FILE_MAPPED", "NR_FILE_PAGES", "NR_FILE_DIRTY", "NR_WRITEBACK",
    "NR_SHMEM", "NR_SHMEM_THPS", "NR_FILE_THPS", "NR_ANON_THPS", "NR_KERNEL_STACK_KB",
    "NR_PAGETABLE", "NR_SECONDARY_PAGETABLE", "NR_SWAPCACHE", "PGPROMOTE_SUCCESS",
    "PGDEMOTE_KSWAPD", "PGDEMOTE_DIRECT", "PGDEMOTE_KHUGEPAGED", "PGDEMOTE_PROACTIVE",
    "NR_HUGETLB") + V6_18_MEMCG_STAT_ITEMS)
#: memcg_vm_event_stat[] of 6.18: the events a memcg counts; count_memcg_events() of any other warns
V6_18_MEMCG_EVENTS = frozenset((
    "PGPGIN", "PGPGOUT", "PSWPIN", "PSWPOUT", "PGSCAN_KSWAPD", "PGSCAN_DIRECT",
    "PGSCAN_KHUGEPAGED", "PGSCAN_PROACTIVE", "PGSTEAL_KSWAPD", "PGSTEAL_DIRECT",
    "PGSTEAL_KHUGEPAGED", "PGSTEAL_PROACTIVE", "PGFAULT", "PGMAJFAULT", "PGREFILL", "PGACTIVATE",
    "PGDEACTIVATE", "PGLAZYFREE", "PGLAZYFREED", "SWPIN_ZERO", "SWPOUT_ZERO", "ZSWPIN", "ZSWPOUT",
    "ZSWPWB", "THP_FAULT_ALLOC", "THP_COLLAPSE_ALLOC", "THP_SWPOUT", "THP_SWPOUT_FALLBACK",
    "NUMA_PAGE_MIGRATE", "NUMA_PTE_UPDATES", "NUMA_HINT_FAULTS"))


def v6_18_enums() -> Dict[str, Dict[str, int]]:
    """{enum name: {enumerator: value}} of the three enums as the 6.18 kernel numbers them
    (the NR_* counts included), for comparison with the probe's BTF dump."""
    node = {n: i for i, n in enumerate(V6_18_NODE_STAT_ITEMS)}
    node["NR_VM_NODE_STAT_ITEMS"] = len(V6_18_NODE_STAT_ITEMS)
    base = len(V6_18_NODE_STAT_ITEMS)
    memcg = {n: base + i for i, n in enumerate(V6_18_MEMCG_STAT_ITEMS)}
    memcg["MEMCG_NR_STAT"] = base + len(V6_18_MEMCG_STAT_ITEMS)
    ev = {n: i for i, n in enumerate(V6_18_VM_EVENT_ITEMS)}
    ev["NR_VM_EVENT_ITEMS"] = len(V6_18_VM_EVENT_ITEMS)
    return {"node_stat_item": node, "memcg_stat_item": memcg, "vm_event_item": ev}


def item_table(state_names: Sequence[str], event_names: Sequence[str]) -> List[int]:
    """The ``item`` a 6.18 memcg event prints for each of memsim's memcg statistics, indexed as
    memsim's StatTree indexes them: the state items (``state_names``: node_stat_item, then the
    memcg-only items, by their kernel names), then the events (``event_names``: vm_event_item).
    -1 where 6.18's memcg does not keep the item (memsim's v5.14 NR_WRITEBACK_TEMP, a node item
    outside memcg_node_stat_items[]): the kernel emits no event for it."""
    enums = v6_18_enums()
    state = {**enums["node_stat_item"], **enums["memcg_stat_item"]}
    out = [state[n] if n in V6_18_MEMCG_STATE else -1 for n in state_names]
    out += [enums["vm_event_item"][n] if n in V6_18_MEMCG_EVENTS else -1 for n in event_names]
    return out


def memcg_events(profile: str) -> List[EventDecl]:
    """The memcg events of ``profile`` ("v5.14": none), in the order the 6.18 kernel numbers
    them (memcg_flush_stats 760 first, mod_memcg_state 763 last)."""
    if not _HAS_EVENTS[profile]:
        return []
    stats = layout_fields([("u64", "id", 8, U), ("int", "item", 4, S), ("int", "val", 4, S)])
    stats_fmt = '"memcg_id=%llu item=%d val=%d", REC->id, REC->item, REC->val'
    return [
        EventDecl("memcg", "memcg_flush_stats", layout_fields([
            ("u64", "id", 8, U), ("s64", "stats_updates", 8, S), ("bool", "force", 1, U),
            ("bool", "needs_flush", 1, U)]),
            '"memcg_id=%llu stats_updates=%lld force=%d needs_flush=%d", REC->id, '
            'REC->stats_updates, REC->force, REC->needs_flush',
            c_values=("id", "stats_updates", "force", "needs_flush"), plugin="memcg",
            doc="__mem_cgroup_flush_stats(): a flush of the memcg's subtree was asked for "
                "(memory.stat: force 0; the 2 s periodic flush of the root: force 1); it flushes "
                "when forced or when stats_updates passed MEMCG_CHARGE_BATCH x CPUs (needs_flush)."),
        EventDecl("memcg", "count_memcg_events", layout_fields([
            ("u64", "id", 8, U), ("int", "item", 4, S), ("unsigned long", "val", 8, U)]),
            '"memcg_id=%llu item=%d val=%lu", REC->id, REC->item, REC->val',
            c_values=("id", "item", "val"), preempt_count=1, plugin="memcg",
            doc="count_memcg_events(): vm_event_item ``item`` happened ``val`` times in the "
                "memcg (PGPGIN at a charge, PGPGOUT at an uncharge, PGFAULT, PGMAJFAULT, ...)."),
        EventDecl("memcg", "mod_memcg_lruvec_state", stats, stats_fmt,
                  c_values=("id", "item", "val"), preempt_count=1, plugin="memcg",
                  doc="mod_memcg_lruvec_state(): node_stat_item ``item`` of a charged page "
                      "changed by ``val`` pages in the memcg (NR_ANON_MAPPED, the LRU sizes, "
                      "NR_FILE_PAGES, NR_PAGETABLE, slab bytes as pages, ...)."),
        EventDecl("memcg", "mod_memcg_state", stats, stats_fmt,
                  c_values=("id", "item", "val"), preempt_count=1, plugin="memcg",
                  doc="mod_memcg_state(): memcg_stat_item ``item`` (MEMCG_KMEM, MEMCG_SWAP, "
                      "...) changed by ``val`` pages."),
    ]
