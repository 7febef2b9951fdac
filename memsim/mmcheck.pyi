"""Type stubs for memsim.mmcheck (Cython)."""
from typing import List, Sequence, Tuple

from memsim.mm import MmCore, MmStruct

class MmCheck:
    tables_examined: int
    def __init__(self, core: MmCore) -> None: ...
    def check(self, rss: List[Tuple[MmStruct, Sequence[int]]], full: bool = False) -> List[str]: ...
    def close(self) -> None: ...
