"""The vmscan trace events (include/trace/events/vmscan.h) of the v5.14 and v6.18 profiles, as
far as memsim's reclaim emits them: ``mm_vmscan_direct_reclaim_begin`` / ``_end`` (around
try_to_free_pages in __perform_reclaim), kswapd's ``mm_vmscan_kswapd_wake`` / ``_sleep`` and
``mm_vmscan_wakeup_kswapd``, and the LRU scan's ``mm_vmscan_lru_isolate``,
``mm_vmscan_lru_shrink_inactive`` and ``mm_vmscan_lru_shrink_active``; pageout()'s
``mm_vmscan_writepage`` (``mm_vmscan_write_folio`` on v6.18, core slot 22).

v6.18 reproduces the live 6.18 kernel's format files (tests/tracing/test_vmscan_events.py holds
them against tracing/catalog/v6.18/vmscan, copied from /sys/kernel/tracing/events/vmscan).  v5.14
is a reconstruction of 5.14's vmscan.h: ``gfp_t gfp_flags`` is 4 bytes (as in kmem.h of 5.14)
and the gfp table is :mod:`memsim.tracing.gfp`'s v5.14 one.

v5.14 differences: ``mm_vmscan_lru_isolate`` has an ``isolate_mode`` field, printed first (it went
in v5.18), and ``mm_vmscan_wakeup_kswapd``'s gfp_flags is a 4-byte gfp_t.  The core emits them
through C event slots 14-21 (memsim/ring.pxd; writepage / write_folio is 22, shrink_slab 23-24,
oom:reclaim_retry_zone 25).  ``mm_shrink_slab_start`` / ``_end`` (memsim.shrinker's
do_shrink_slab, core slots 23 and 24) are declared by :func:`shrink_slab_events`.
"""
from __future__ import annotations

from typing import List

from memsim.profiles import get_profile
from memsim.tracing.events import EventDecl, layout_fields
from memsim.tracing.gfp import show_gfp_flags_expr

U, S = False, True

DIRECT_RECLAIM_BEGIN_SLOT = 14
DIRECT_RECLAIM_END_SLOT = 15
KSWAPD_WAKE_SLOT = 16
KSWAPD_SLEEP_SLOT = 17
WAKEUP_KSWAPD_SLOT = 18
LRU_ISOLATE_SLOT = 19
LRU_SHRINK_INACTIVE_SLOT = 20
LRU_SHRINK_ACTIVE_SLOT = 21

_LRU_NAMES = ('{0, "inactive_anon"}, {1, "active_anon"}, {2, "inactive_file"}, '
              '{3, "active_file"}, {4, "unevictable"}')
_RECLAIM_FLAGS = ('(REC->reclaim_flags) ? __print_flags(REC->reclaim_flags, "|", '
                  '{0x0001u, "RECLAIM_WB_ANON"}, {0x0002u, "RECLAIM_WB_FILE"}, '
                  '{0x0010u, "RECLAIM_WB_MIXED"}, {0x0004u, "RECLAIM_WB_SYNC"}, '
                  '{0x0008u, "RECLAIM_WB_ASYNC"} ) : "RECLAIM_WB_NONE"')


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
    kswapd_wake = EventDecl(
        "vmscan", "mm_vmscan_kswapd_wake",
        layout_fields([("int", "nid", 4, S), ("int", "zid", 4, S), ("int", "order", 4, S)]),
        '"nid=%d order=%d", REC->nid, REC->order',
        core_slot=KSWAPD_WAKE_SLOT, plugin="kmem",
        doc="kswapd woke and starts balance_pgdat for this order (kswapd()).")
    kswapd_sleep = EventDecl(
        "vmscan", "mm_vmscan_kswapd_sleep",
        layout_fields([("int", "nid", 4, S)]),
        '"nid=%d", REC->nid',
        core_slot=KSWAPD_SLEEP_SLOT, plugin="kmem",
        doc="kswapd goes to sleep, its node balanced (kswapd_try_to_sleep).")
    wakeup = EventDecl(
        "vmscan", "mm_vmscan_wakeup_kswapd",
        layout_fields([("int", "nid", 4, S), ("int", "zid", 4, S), ("int", "order", 4, S),
                       (gfp_t[0], "gfp_flags", gfp_t[1], U)]),
        '"nid=%d order=%d gfp_flags=%s", REC->nid, REC->order, ' + show_gfp_flags_expr(profile.name),
        core_slot=WAKEUP_KSWAPD_SLOT, plugin="kmem",
        doc="The allocator's slow path wakes a sleeping kswapd (wakeup_kswapd).")
    isolate_fields = [("int", "highest_zoneidx", 4, S), ("int", "order", 4, S),
                      ("unsigned long", "nr_requested", 8, U), ("unsigned long", "nr_scanned", 8, U),
                      ("unsigned long", "nr_skipped", 8, U), ("unsigned long", "nr_taken", 8, U)]
    isolate_fmt = ('"classzone=%d order=%d nr_requested=%lu nr_scanned=%lu nr_skipped=%lu '
                   'nr_taken=%lu lru=%s", REC->highest_zoneidx, REC->order, REC->nr_requested, '
                   'REC->nr_scanned, REC->nr_skipped, REC->nr_taken, '
                   f'__print_symbolic(REC->lru, {_LRU_NAMES})')
    if profile.version < (5, 18):
        isolate_fields.append(("isolate_mode_t", "isolate_mode", 4, U))
        isolate_fmt = ('"isolate_mode=%d ' + isolate_fmt[1:].replace('", REC->highest_zoneidx',
                                                                    '", REC->isolate_mode, REC->highest_zoneidx'))
    isolate_fields.append(("int", "lru", 4, S))
    isolate = EventDecl(
        "vmscan", "mm_vmscan_lru_isolate", layout_fields(isolate_fields), isolate_fmt,
        core_slot=LRU_ISOLATE_SLOT, plugin="kmem",
        doc="isolate_lru_pages() took nr_taken pages off the tail of an LRU list.")
    inactive = EventDecl(
        "vmscan", "mm_vmscan_lru_shrink_inactive",
        layout_fields([("int", "nid", 4, S), ("unsigned long", "nr_scanned", 8, U),
                       ("unsigned long", "nr_reclaimed", 8, U), ("unsigned long", "nr_dirty", 8, U),
                       ("unsigned long", "nr_writeback", 8, U), ("unsigned long", "nr_congested", 8, U),
                       ("unsigned long", "nr_immediate", 8, U), ("unsigned int", "nr_activate0", 4, U),
                       ("unsigned int", "nr_activate1", 4, U), ("unsigned long", "nr_ref_keep", 8, U),
                       ("unsigned long", "nr_unmap_fail", 8, U), ("int", "priority", 4, S),
                       ("int", "reclaim_flags", 4, S)]),
        '"nid=%d nr_scanned=%ld nr_reclaimed=%ld nr_dirty=%ld nr_writeback=%ld nr_congested=%ld '
        'nr_immediate=%ld nr_activate_anon=%d nr_activate_file=%d nr_ref_keep=%ld nr_unmap_fail=%ld '
        'priority=%d flags=%s", REC->nid, REC->nr_scanned, REC->nr_reclaimed, REC->nr_dirty, '
        'REC->nr_writeback, REC->nr_congested, REC->nr_immediate, REC->nr_activate0, '
        'REC->nr_activate1, REC->nr_ref_keep, REC->nr_unmap_fail, REC->priority, ' + _RECLAIM_FLAGS,
        core_slot=LRU_SHRINK_INACTIVE_SLOT, plugin="kmem",
        doc="shrink_inactive_list() scanned a batch of an inactive list (struct reclaim_stat).")
    active = EventDecl(
        "vmscan", "mm_vmscan_lru_shrink_active",
        layout_fields([("int", "nid", 4, S), ("unsigned long", "nr_taken", 8, U),
                       ("unsigned long", "nr_active", 8, U), ("unsigned long", "nr_deactivated", 8, U),
                       ("unsigned long", "nr_referenced", 8, U), ("int", "priority", 4, S),
                       ("int", "reclaim_flags", 4, S)]),
        '"nid=%d nr_taken=%ld nr_active=%ld nr_deactivated=%ld nr_referenced=%ld priority=%d '
        'flags=%s", REC->nid, REC->nr_taken, REC->nr_active, REC->nr_deactivated, '
        'REC->nr_referenced, REC->priority, ' + _RECLAIM_FLAGS,
        core_slot=LRU_SHRINK_ACTIVE_SLOT, plugin="kmem",
        doc="shrink_active_list() deactivated a batch of an active list.")
    # the order of the 6.18 kernel's event IDs (625 shrink_active ... 640 kswapd_sleep)
    return [active, inactive, *writepage_events(profile_name), isolate] + \
        shrink_slab_events(profile_name) + [end, begin, wakeup, kswapd_wake, kswapd_sleep]


# -- shrinkers (memsim.shrinker's do_shrink_slab; core slots 23 and 24) -----------------------
SHRINK_SLAB_START_SLOT = 23
SHRINK_SLAB_END_SLOT = 24


def shrink_slab_events(profile_name: str) -> List[EventDecl]:
    """vmscan:mm_shrink_slab_start / _end of kernel profile ``profile_name``: v6.18 is the live
    kernel's format; v5.14 is 5.14's vmscan.h, the same fields and print fmt with a 4-byte
    ``gfp_t gfp_flags`` (so cache_items and what follows sit 4 bytes lower)."""
    profile = get_profile(profile_name)
    gfp_t = ("unsigned long", 8) if profile.version >= (6, 0) else ("gfp_t", 4)
    start = EventDecl(
        "vmscan", "mm_shrink_slab_start",
        layout_fields([("struct shrinker *", "shr", 8, U), ("void *", "shrink", 8, U),
                       ("int", "nid", 4, S), ("long", "nr_objects_to_shrink", 8, S),
                       (gfp_t[0], "gfp_flags", gfp_t[1], U), ("unsigned long", "cache_items", 8, U),
                       ("unsigned long long", "delta", 8, U), ("unsigned long", "total_scan", 8, U),
                       ("int", "priority", 4, S)]),
        '"%pS %p: nid: %d objects to shrink %ld gfp_flags %s cache items %ld delta %lld '
        'total_scan %ld priority %d", REC->shrink, REC->shr, REC->nid, REC->nr_objects_to_shrink, '
        + show_gfp_flags_expr(profile.name)
        + ', REC->cache_items, REC->delta, REC->total_scan, REC->priority',
        core_slot=SHRINK_SLAB_START_SLOT, plugin="kmem",
        doc="do_shrink_slab() is about to scan a shrinker: its deferred work (objects to "
            "shrink), count_objects (cache items), the new work (delta) and total_scan.")
    end = EventDecl(
        "vmscan", "mm_shrink_slab_end",
        layout_fields([("struct shrinker *", "shr", 8, U), ("int", "nid", 4, S),
                       ("void *", "shrink", 8, U), ("long", "unused_scan", 8, S),
                       ("long", "new_scan", 8, S), ("int", "retval", 4, S),
                       ("long", "total_scan", 8, S)]),
        '"%pS %p: nid: %d unused scan count %ld new scan count %ld total_scan %ld last shrinker '
        'return val %d", REC->shrink, REC->shr, REC->nid, REC->unused_scan, REC->new_scan, '
        'REC->total_scan, REC->retval',
        core_slot=SHRINK_SLAB_END_SLOT, plugin="kmem",
        doc="do_shrink_slab() is done: the deferred work it took (unused scan count) and left "
            "(new scan count), and the objects freed (return val).")
    return [end, start]


# -- pageout()'s event (issue 10, evict part) ------------------------------------------------

#: CORE_EVENTS slot of mm_vmscan_writepage / mm_vmscan_write_folio (memsim/vmscan.pyx
#: EV_MM_VMSCAN_WRITEPAGE)
WRITEPAGE_SLOT = 22


def writepage_events(profile_name: str) -> List[EventDecl]:
    """vmscan:mm_vmscan_writepage (v5.14; mm_vmscan_write_folio on v6.18, renamed with the
    folio conversion of pageout): pageout() wrote a page for reclaim.  Same layout on both: ``unsigned long pfn, int
    reclaim_flags`` (trace_reclaim_flags: FILE or ANON, and ASYNC)."""
    profile = get_profile(profile_name)
    name = "mm_vmscan_write_folio" if profile.version >= (6, 0) else "mm_vmscan_writepage"
    return [EventDecl(
        "vmscan", name,
        layout_fields([("unsigned long", "pfn", 8, U), ("int", "reclaim_flags", 4, S)]),
        '"page=%p pfn=0x%lx flags=%s", (((struct page *)vmemmap_base) + (REC->pfn)), REC->pfn, '
        + _RECLAIM_FLAGS,
        core_slot=WRITEPAGE_SLOT, plugin="kmem",
        doc="Reclaim's pageout() wrote a dirty page (a_ops writepage or the swap cache's).")]


# -- memcg limit reclaim (the memcg plugin: try_to_free_mem_cgroup_pages) ----------------------

def memcg_reclaim_events(profile_name: str) -> List[EventDecl]:
    """vmscan:mm_vmscan_memcg_reclaim_begin / _end of kernel profile ``profile_name``, around
    try_to_free_mem_cgroup_pages(): the DEFINE_EVENTs of mm_vmscan_direct_reclaim_begin_template
    (``order``, always 0, and the reclaim's gfp_flags) and _end_template (``nr_reclaimed``).
    Plugin C events (memsim.vmscan.Vmscan emits them through the slots the registry gives),
    declared by the memcg plugin after kmem's events so theirs keep their IDs."""
    profile = get_profile(profile_name)
    gfp_t = ("unsigned long", 8) if profile.version >= (6, 0) else ("gfp_t", 4)
    begin = EventDecl(
        "vmscan", "mm_vmscan_memcg_reclaim_begin",
        layout_fields([("int", "order", 4, S), (gfp_t[0], "gfp_flags", gfp_t[1], U)]),
        '"order=%d gfp_flags=%s", REC->order, ' + show_gfp_flags_expr(profile.name),
        c_values=("order", "gfp_flags"), plugin="memcg",
        doc="Memcg limit reclaim started (try_to_free_mem_cgroup_pages: a charge over "
            "memory.max or memory.high, or a memory.max / memory.high write).")
    end = EventDecl(
        "vmscan", "mm_vmscan_memcg_reclaim_end",
        layout_fields([("unsigned long", "nr_reclaimed", 8, U)]),
        '"nr_reclaimed=%lu", REC->nr_reclaimed',
        c_values=("nr_reclaimed",), plugin="memcg",
        doc="Memcg limit reclaim ended; nr_reclaimed pages were reclaimed from the memcg's subtree.")
    # the 6.18 kernel's IDs: memcg_reclaim_end (633) before memcg_reclaim_begin (636)
    return [end, begin]
