"""The migrate trace events (include/trace/events/migrate.h) of the v5.14 and v6.18 profiles, as
far as memsim's page migration emits them: ``mm_migrate_pages`` at the end of every
migrate_pages() call (mm/migrate.c), and on v6.18 ``mm_migrate_pages_start`` at its beginning.
The core (``PhysMem.migrate_pages``, called by alloc_contig_range's
__alloc_contig_migrate_range once per isolated batch, an empty one too) emits both through C
event slots 29 and 30 (memsim/ring.pxd EV_MM_MIGRATE_PAGES, EV_MM_MIGRATE_PAGES_START).

v6.18 reproduces the live 6.18 kernel's format files byte for byte apart from ``ID:``
(tracing/catalog/v6.18/migrate, copied from /sys/kernel/tracing/events/migrate;
tests/tracing/test_migrate_events.py).  v5.14 is a reconstruction of 5.14's migrate.h: no
``large_folio_split`` field and no ``nr_split`` in the print (both later), the MIGRATE_REASON
table ends at ``longterm_pin`` (MR_DEMOTION came with v5.15's demotion series, MR_DAMON later)
and there is no mm_migrate_pages_start (added after 5.14).  The MIGRATE_MODE table has the
same three names in both.

memsim migrates no THP, so the nr_thp_* values (and v6.18's nr_split) are always 0; mode is
MIGRATE_SYNC and reason MR_CONTIG_RANGE ("contig_range") for alloc_contig_range.
"""
from __future__ import annotations

from typing import List

from memsim.profiles import ProfileTable
from memsim.tracing.events import EventDecl, layout_fields

U, S = False, True

#: the core's C event slots (memsim/ring.pxd EV_MM_MIGRATE_PAGES, EV_MM_MIGRATE_PAGES_START)
MIGRATE_PAGES_SLOT = 29
MIGRATE_PAGES_START_SLOT = 30

_MODE = '{0, "MIGRATE_ASYNC"}, {1, "MIGRATE_SYNC_LIGHT"}, {2, "MIGRATE_SYNC"}'
_REASONS_V5_14 = ('{0, "compaction"}, {1, "memory_failure"}, {2, "memory_hotplug"}, '
                  '{3, "syscall_or_cpuset"}, {4, "mempolicy_mbind"}, {5, "numa_misplaced"}, '
                  '{6, "contig_range"}, {7, "longterm_pin"}')
_REASONS_V6_18 = _REASONS_V5_14 + ', {8, "demotion"}, {9, "damon"}'

#: the MIGRATE_REASON table __print_symbolic prints (include/trace/events/migrate.h)
REASONS: ProfileTable[str] = ProfileTable("tracing.migrate reasons",
                                          {"v5.14": _REASONS_V5_14, "v6.18": _REASONS_V6_18})
#: mm_migrate_pages has large_folio_split / nr_split, and mm_migrate_pages_start exists
_V6: ProfileTable[bool] = ProfileTable("tracing.migrate v6 layout", {"v5.14": False, "v6.18": True})


def migrate_events(profile: str) -> List[EventDecl]:
    """The migrate events of ``profile`` ("v5.14" or "v6.18") memsim emits."""
    reasons = REASONS[profile]
    v6 = _V6[profile]
    fields = [("unsigned long", "succeeded", 8, U), ("unsigned long", "failed", 8, U),
              ("unsigned long", "thp_succeeded", 8, U), ("unsigned long", "thp_failed", 8, U),
              ("unsigned long", "thp_split", 8, U)]
    if v6:
        fields.append(("unsigned long", "large_folio_split", 8, U))
    fields += [("enum migrate_mode", "mode", 4, U), ("int", "reason", 4, S)]
    if v6:
        fmt = ('"nr_succeeded=%lu nr_failed=%lu nr_thp_succeeded=%lu nr_thp_failed=%lu '
               'nr_thp_split=%lu nr_split=%lu mode=%s reason=%s", REC->succeeded, REC->failed, '
               'REC->thp_succeeded, REC->thp_failed, REC->thp_split, REC->large_folio_split, ')
    else:
        fmt = ('"nr_succeeded=%lu nr_failed=%lu nr_thp_succeeded=%lu nr_thp_failed=%lu '
               'nr_thp_split=%lu mode=%s reason=%s", REC->succeeded, REC->failed, '
               'REC->thp_succeeded, REC->thp_failed, REC->thp_split, ')
    fmt += (f'__print_symbolic(REC->mode, {_MODE}), '
            f'__print_symbolic(REC->reason, {reasons})')
    out = [EventDecl(
        "migrate", "mm_migrate_pages", layout_fields(fields), fmt,
        core_slot=MIGRATE_PAGES_SLOT, plugin="kmem",
        doc="migrate_pages() ended: the pages moved and not moved (a hugetlb page counts 1 on "
            "v5.14, its number of pages on v6.18), mode and reason.  memsim emits it once per "
            "migrate_pages() call of alloc_contig_range (MIGRATE_SYNC, contig_range).")]
    if v6:
        out.insert(0, EventDecl(
            "migrate", "mm_migrate_pages_start",
            layout_fields([("enum migrate_mode", "mode", 4, U), ("int", "reason", 4, S)]),
            f'"mode=%s reason=%s", __print_symbolic(REC->mode, {_MODE}), '
            f'__print_symbolic(REC->reason, {reasons})',
            core_slot=MIGRATE_PAGES_START_SLOT, plugin="kmem",
            doc="migrate_pages() starts (v6.18): mode and reason."))
    return out
