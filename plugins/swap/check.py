"""--check for swap: the counters of each area agree with its slots, and the swap cache's pages
are swap-cache pages of their slots."""
from __future__ import annotations

from typing import List

from memsim.plugins.swap.swapfile import entry_of

PAGE_SIZE = 4096
PG_SWAPCACHE = 10                       # PG_owner_priv_1


def check(machine, st, full: bool = True) -> List[str]:
    """Per area: inuse_pages is the slots with a non-zero byte (not bad), the swap cache's pages
    are PG_swapcache pages whose private is their entry; globally nr_swap_pages is the free
    slots of the areas that are on (the slots cache's reservations counted as used).  The core's
    check already holds MM_SWAPENTS to the swap PTEs of each mm.  Only at a full check (the
    walk is over every slot)."""
    if not full:
        return []
    host = st.host
    out: List[str] = []
    free = 0
    for t in host.types():
        d = host.device(t)
        used = sum(1 for off in range(1, d["max"]) if host.swap_map(t, off) not in (0, 0x3f))
        if used != d["inuse_pages"]:
            out.append(f"swap area {t}: inuse_pages {d['inuse_pages']} but {used} slots are in use")
        if d["flags"] & 0x2:
            free += d["pages"] - d["inuse_pages"]
        for off in host.cached_entries(t):
            entry = entry_of(t, off)
            pfn = host.cached_pfn(entry)
            info = machine.physmem.page_info(pfn)
            if not info["flags"] & (1 << PG_SWAPCACHE) or info["private"] != entry:
                out.append(f"swap area {t} slot {off}: the swap cache's page {pfn:#x} is not a "
                           f"swap-cache page of that entry (flags {info['flags']:#x}, private "
                           f"{info['private']:#x})")
    if free != host.nr_swap_pages:
        out.append(f"nr_swap_pages {host.nr_swap_pages} but the areas have {free} free slots")
    return out
