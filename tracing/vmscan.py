"""The vmscan trace events (include/trace/events/vmscan.h) of the v5.14 and v6.18 profiles, as
far as memsim's reclaim emits them: ``mm_vmscan_direct_reclaim_begin`` / ``_end`` (around
try_to_free_pages in __perform_reclaim).

v6.18 reproduces the live 6.18 kernel's format files (tests/tracing/test_vmscan_events.py holds
them against tracing/catalog/v6.18/vmscan, copied from /sys/kernel/tracing/events/vmscan).  v5.14
is a reconstruction of 5.14's vmscan.h: ``gfp_t gfp_flags`` is 4 bytes (as in kmem.h of 5.14)
and the gfp table is :mod:`memsim.tracing.gfp`'s v5.14 one.

The other vmscan events the issue names (kswapd_wake/sleep, wakeup_kswapd, lru_isolate,
lru_shrink_inactive/active, writepage / write_folio) come with kswapd and the full
shrink_page_list, in the core's C event slots 16.. (memsim/ring.pxd: slots 16-25 are given out by
issue 10's parts: kswapd and the LRU events 16-21, writepage 22, shrink_slab 23-24,
oom:reclaim_retry_zone 25).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import get_profile
from memsim.tracing.events import EventDecl, layout_fields
from memsim.tracing.gfp import show_gfp_flags_expr

U, S = False, True

DIRECT_RECLAIM_BEGIN_SLOT = 14
DIRECT_RECLAIM_END_SLOT = 15


def vmscan_events(profile_name: str) -> List[EventDecl]:
    """The vmscan event declarations of kernel profile ``profile_name``."""
    profile = get_profile(profile_name)
    gfp_t = ("unsigned long", 8) if profile.version >= (6, 0) else ("gfp_t", 4)
    begin = EventDecl(
        "vmscan", "mm_vmscan_direct_reclaim_begin",
        layout_fields([("int", "order", 4, S), (gfp_t[0], "gfp_flags", gfp_t[1], U)]),
        '"order=%d gfp_flags=%s", REC->order, ' + show_gfp_flags_expr(profile.name),
        core_slot=DIRECT_RECLAIM_BEGIN_SLOT, plugin="kmem",
        doc="Direct reclaim started in the allocator's slow path (try_to_free_pages).")
    end = EventDecl(
        "vmscan", "mm_vmscan_direct_reclaim_end",
        layout_fields([("unsigned long", "nr_reclaimed", 8, U)]),
        '"nr_reclaimed=%lu", REC->nr_reclaimed',
        core_slot=DIRECT_RECLAIM_END_SLOT, plugin="kmem",
        doc="Direct reclaim ended; nr_reclaimed pages were reclaimed.")
    return [end, begin]
