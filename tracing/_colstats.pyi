"""Type stubs for memsim.tracing._colstats (Cython): the per-row loops of ``trace stats``."""
from array import array
from typing import Any, Dict, List, Optional, Tuple, Union

UNKNOWN_COMM: str

class RssCounter:
    first: int
    last: int
    min: int
    max: int
    updates: int
    first_ts: int
    last_ts: int
    ts: Optional[array]
    size: Optional[array]
    def __init__(self, ts: int, size: int, timeline: bool) -> None: ...
    def update(self, ts: int, size: int) -> int: ...

class MmRss:
    mm_id: Any
    life: int
    owner: Optional[str]
    ended: bool
    counters: Dict[int, RssCounter]
    tasks: Dict[int, str]
    def __init__(self, mm_id: Any, life: int = 0) -> None: ...
    def resident(self) -> int: ...
    @property
    def peak(self) -> int: ...
    @property
    def current_bytes(self) -> List[int]: ...

def common_counts(seq: array, ts: array, cpu: array, pid: array, comm: List[str]
                  ) -> Tuple[Dict[int, int], Dict[int, int], Dict[int, Tuple[int, str]],
                             Optional[int], Optional[int]]: ...
def group_count(keys: Tuple[array, ...], vals: Optional[array] = ...
                ) -> Dict[tuple, List[Optional[int]]]: ...
def rows_equal(col: array, values: Tuple[int, ...]) -> List[int]: ...
def rss_scan(lives: Any, mm_col: Union[array, List[Any], None], member: array, size: array,
             ts: array, curr: Optional[array], pid: array, comm: List[str],
             timeline: bool) -> None: ...
