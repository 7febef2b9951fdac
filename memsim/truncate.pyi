"""Type stubs of memsim.truncate (invalidate_mapping_pages, mm/truncate.c)."""
from memsim.mm import AddressSpace
from memsim.physmem import PhysMem


def invalidate_mapping_pages(pm: PhysMem, mapping: AddressSpace, start: int = 0,
                             end: int = 0xFFFFFFFFFFFFFFFF) -> int: ...
