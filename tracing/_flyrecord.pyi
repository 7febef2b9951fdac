"""Type stubs for memsim.tracing._flyrecord (Cython): ring-buffer pages -> records/columns."""
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

class EventLayout:
    type_id: int
    system: str
    name: str
    full_name: str
    names: Tuple[str, ...]
    def __init__(self, type_id: int, system: str, name: str,
                 specs: Sequence[Tuple[str, int, int, int, int]]) -> None: ...

class FlyDecoder:
    missed: List[int]
    missed_pages: List[int]
    nrecords: int
    counts: List[int]
    def __init__(self, sources: Sequence[Optional[Iterator[bytes]]], cpu_ids: Sequence[int],
                 layouts: List[Optional[EventLayout]], reader: Any, name: str, record_cls: type,
                 irq_info: Callable[[int, int, int], str], width: int, comms: Mapping[int, str],
                 page_size: int = 4096, long_size: int = 8, big: bool = False,
                 ts_offset: int = 0, buffers: Optional[Sequence[str]] = None,
                 page_sizes: Optional[Sequence[int]] = None,
                 labels: Optional[Sequence[str]] = None) -> None: ...
    def read_records(self, n: int) -> List[Any]: ...
    def read_columns(self, n: int) -> Tuple[Dict[str, Dict[str, Any]], int]: ...
