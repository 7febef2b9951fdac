"""Type stubs for memsim.vmstat (Cython)."""
import enum
from typing import Dict, List, Sequence, Tuple

from memsim.task import Current

class numa_stat_item(enum.IntEnum):
    NUMA_HIT: int
    NUMA_MISS: int
    NUMA_FOREIGN: int
    NUMA_INTERLEAVE_HIT: int
    NUMA_LOCAL: int
    NUMA_OTHER: int
    NR_VM_NUMA_EVENT_ITEMS: int

class zone_stat_item(enum.IntEnum):
    NR_FREE_PAGES: int
    NR_ZONE_INACTIVE_ANON: int
    NR_ZONE_ACTIVE_ANON: int
    NR_ZONE_INACTIVE_FILE: int
    NR_ZONE_ACTIVE_FILE: int
    NR_ZONE_UNEVICTABLE: int
    NR_ZONE_WRITE_PENDING: int
    NR_MLOCK: int
    NR_BOUNCE: int
    NR_ZSPAGES: int
    NR_FREE_CMA_PAGES: int
    NR_VM_ZONE_STAT_ITEMS: int

class node_stat_item(enum.IntEnum):
    NR_INACTIVE_ANON: int
    NR_ACTIVE_ANON: int
    NR_INACTIVE_FILE: int
    NR_ACTIVE_FILE: int
    NR_UNEVICTABLE: int
    NR_SLAB_RECLAIMABLE_B: int
    NR_SLAB_UNRECLAIMABLE_B: int
    NR_ISOLATED_ANON: int
    NR_ISOLATED_FILE: int
    WORKINGSET_NODES: int
    WORKINGSET_REFAULT_ANON: int
    WORKINGSET_REFAULT_FILE: int
    WORKINGSET_ACTIVATE_ANON: int
    WORKINGSET_ACTIVATE_FILE: int
    WORKINGSET_RESTORE_ANON: int
    WORKINGSET_RESTORE_FILE: int
    WORKINGSET_NODERECLAIM: int
    NR_ANON_MAPPED: int
    NR_FILE_MAPPED: int
    NR_FILE_PAGES: int
    NR_FILE_DIRTY: int
    NR_WRITEBACK: int
    NR_WRITEBACK_TEMP: int
    NR_SHMEM: int
    NR_SHMEM_THPS: int
    NR_SHMEM_PMDMAPPED: int
    NR_FILE_THPS: int
    NR_FILE_PMDMAPPED: int
    NR_ANON_THPS: int
    NR_VMSCAN_WRITE: int
    NR_VMSCAN_IMMEDIATE: int
    NR_DIRTIED: int
    NR_WRITTEN: int
    NR_KERNEL_MISC_RECLAIMABLE: int
    NR_FOLL_PIN_ACQUIRED: int
    NR_FOLL_PIN_RELEASED: int
    NR_KERNEL_STACK_KB: int
    NR_PAGETABLE: int
    NR_SWAPCACHE: int
    NR_VM_NODE_STAT_ITEMS: int

class writeback_stat_item(enum.IntEnum):
    NR_DIRTY_THRESHOLD: int
    NR_DIRTY_BG_THRESHOLD: int
    NR_VM_WRITEBACK_STAT_ITEMS: int

class vm_event_item(enum.IntEnum):
    """Every item of v5.14's enum vm_event_item (PGPGIN ... DIRECT_MAP_LEVEL3_SPLIT)."""
    PGALLOC_DMA: int
    PGFREE: int
    PGFAULT: int
    PGMAJFAULT: int
    PGREUSE: int
    HTLB_BUDDY_PGALLOC: int
    HTLB_BUDDY_PGALLOC_FAIL: int
    NR_VM_EVENT_ITEMS: int
    def __getattr__(self, name: str) -> int: ...

ZONE_STAT_NAMES: Tuple[str, ...]
NUMA_STAT_NAMES: Tuple[str, ...]
NODE_STAT_NAMES: Tuple[str, ...]
WRITEBACK_STAT_NAMES: Tuple[str, ...]
VM_EVENT_NAMES: Tuple[str, ...]
PRINT_IN_THP: Tuple[str, ...]
ITEM_BY_NAME: Dict[str, Tuple[str, int]]

class VmStat:
    cur: Current
    def __init__(self, nr_nodes: int, ncpus: int, cur: Current) -> None: ...
    def init_zones(self, managed_pages: Sequence[int], free_pages: Sequence[int]) -> None: ...
    def refresh_zone_stat_thresholds(self, managed_pages: Sequence[int]) -> None: ...
    def refresh_vm_stats(self) -> None: ...
    def pending_diffs(self) -> bool: ...
    @property
    def nr_nodes(self) -> int: ...
    @property
    def ncpus(self) -> int: ...
    def global_zone_page_state(self, item: int) -> int: ...
    def global_node_page_state(self, item: int) -> int: ...
    def global_zone_page_state_snapshot(self, item: int) -> int: ...
    def global_node_page_state_snapshot(self, item: int) -> int: ...
    def zone_page_state(self, nid: int, zid: int, item: int) -> int: ...
    def zone_page_state_snapshot(self, nid: int, zid: int, item: int) -> int: ...
    def node_page_state(self, nid: int, item: int) -> int: ...
    def node_page_state_snapshot(self, nid: int, item: int) -> int: ...
    def sum_zone_node_page_state(self, nid: int, item: int) -> int: ...
    def global_numa_event_state(self, item: int) -> int: ...
    def zone_numa_event_state(self, nid: int, zid: int, item: int) -> int: ...
    def sum_zone_numa_event_state(self, nid: int, item: int) -> int: ...
    def all_vm_events(self) -> List[int]: ...
    def vm_event(self, item: int) -> int: ...
    def stat_threshold(self, nid: int, zid: int, cpu: int = 0) -> int: ...
    def mod_zone_page_state(self, nid: int, zid: int, item: int, delta: int) -> None: ...
    def mod_node_page_state(self, nid: int, item: int, delta: int) -> None: ...
    def count_vm_events(self, item: int, delta: int = 1) -> None: ...
    def count_numa_event(self, nid: int, zid: int, item: int, delta: int = 1) -> None: ...
