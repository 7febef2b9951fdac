"""Type stubs of memsim.truncate (invalidate_mapping_pages, mm/truncate.c)."""
from memsim.mm import AddressSpace, MmCore


def invalidate_mapping_pages(core: MmCore, mapping: AddressSpace, start: int = 0,
                             end: int = 0xFFFFFFFFFFFFFFFF) -> int: ...
def invalidate_inode_pages2_range(core: MmCore, mapping: AddressSpace, start: int = 0,
                                  end: int = 2**64 - 1) -> int: ...
