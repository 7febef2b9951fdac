"""Type stubs of memsim.vmscan (page reclaim over the LRU lists, mm/vmscan.c)."""
from memsim.mm import MmCore
from memsim.physmem import PhysMem


class Vmscan:
    swappiness: int

    def __init__(self, pm: PhysMem, core: MmCore) -> None: ...
    def try_to_free_pages(self, nid: int, nr_to_reclaim: int = 32, gfp: int = 0xCC0,
                          order: int = 0) -> int: ...
