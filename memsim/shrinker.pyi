"""Type stubs of memsim.shrinker (shrinkers: include/linux/shrinker.h, mm/shrinker.c)."""
from typing import Callable, List, Optional, Tuple

from memsim.physmem import PhysMem
from memsim.profiles import ProfileTable

SHRINKER_BASE: int
SHRINKER_STRIDE: int
PY_SHRINK_BATCH: int
PY_DEFAULT_SEEKS: int
PY_SHRINK_STOP: int
PY_SHRINK_EMPTY: int
PY_SHRINKER_NUMA_AWARE: int
PY_SHRINKER_MEMCG_AWARE: int
PY_SHRINKER_NONSLAB: int
SHRINKER_API: ProfileTable[str]


def text_symbol(name: str) -> int: ...


class ShrinkControl:
    @property
    def gfp_mask(self) -> int: ...
    @property
    def nid(self) -> int: ...
    @property
    def nr_to_scan(self) -> int: ...
    @property
    def memcg(self) -> None: ...
    nr_scanned: int


class Shrinker:
    count_objects: Callable[[ShrinkControl], int]
    scan_objects: Callable[[ShrinkControl], int]
    name: str
    scan_symbol: str

    def __init__(self, count_objects: Callable[[ShrinkControl], int],
                 scan_objects: Callable[[ShrinkControl], int], seeks: int = 2, batch: int = 0,
                 flags: int = 0, name: str = "python", scan_symbol: Optional[str] = None) -> None: ...
    @property
    def owner(self) -> Optional["ShrinkerList"]: ...
    @property
    def registered(self) -> bool: ...
    @property
    def nr_deferred(self) -> Tuple[int, ...]: ...
    @property
    def seeks(self) -> int: ...
    @property
    def batch(self) -> int: ...


class ShrinkerList:
    nr_nodes: int
    api: str

    def __init__(self, pm: PhysMem, api: str = "shrinker_alloc",
                 symbol_of: Optional[Callable[[str], int]] = None) -> None: ...
    def py_shrink_slab(self, gfp: int = 0xCC0, nid: int = 0, priority: int = 0) -> int: ...
    def drop_slab(self, per_node_loop: bool) -> int: ...
    def register(self, s: Shrinker, scan_symbol: Optional[str] = None) -> None: ...
    def unregister(self, s: Shrinker) -> None: ...
    def shrinker_alloc_py(self, flags: int, name: str, count_objects: Callable[[ShrinkControl], int],
                          scan_objects: Callable[[ShrinkControl], int], seeks: int = 2,
                          batch: int = 0, scan_symbol: Optional[str] = None) -> Shrinker: ...
    def shrinkers(self) -> List[Tuple[int, str, int, int, int, Tuple[int, ...]]]: ...
    def __len__(self) -> int: ...


def register_workingset_shadow_shrinker(sl: ShrinkerList, workingset: object, vmstat: object) -> Shrinker: ...
