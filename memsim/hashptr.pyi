"""Type stubs for memsim.hashptr (Cython)."""
from typing import Tuple

VMEMMAP_BASE: int
PAGE_OFFSET_BASE: int
SIZEOF_STRUCT_PAGE: int

def hash_pointer(ptr: int, k0: int, k1: int) -> int: ...
def siphash(first: int, k0: int, k1: int) -> int: ...
def key_from_seed(seed: int) -> Tuple[int, int]: ...
