"""The kmem trace events (include/trace/events/kmem.h) of the v5.14 and v6.18 profiles.

v6.18 declarations reproduce the captured 6.18 format files byte for byte (apart from ``ID:``),
see tests/tracing/test_formatfile.py.  v5.14 declarations follow the 5.14 kmem.h
(tracepoints.md 4): ``gfp_flags`` is a 4-byte ``gfp_t``, kmalloc/kmem_cache_alloc have no
``node``/``accounted`` and come with separate ``*_node`` events, ``mm_page_alloc_zone_locked``
prints ``percpu_refill`` as ``order == 0``.  Their print fmts are RECONSTRUCTIONS of what a
5.14 kernel exports (no captured 5.14 format files were available): the argument texts are
the 5.14 TP_printk arguments after preprocessing (``__entry`` -> ``REC``, ``pfn_to_page`` ->
``(((struct page *)vmemmap_base) + (pfn))``, ``NULL`` -> ``((void *)0)``), the gfp table is
:mod:`memsim.tracing.gfp`'s v5.14 reconstruction, and ``__data_loc char[]`` is ``signed:1``
because ``char`` is signed on x86 before the kernel switched to -funsigned-char (6.2).

The list is in the order the 6.18 kernel numbers its kmem events (rss_stat first), so an
EventRegistry with the default ID base that registers it first reproduces the captured IDs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from memsim.profiles import KernelProfile, ProfileTable, get_profile
from memsim.tracing.events import EventDecl, layout_fields
from memsim.tracing.gfp import gfp_account_expr, show_gfp_flags_expr

_PAGE = "(((struct page *)vmemmap_base) + (REC->pfn))"
_PAGE_OR_NULL = f"REC->pfn != -1UL ? {_PAGE} : ((void *)0)"
_PFN_OR_0 = "REC->pfn != -1UL ? REC->pfn : 0"
_RSS_MEMBERS = ('{ 0, "MM_FILEPAGES" }, { 1, "MM_ANONPAGES" }, { 2, "MM_SWAPENTS" }, '
                '{ 3, "MM_SHMEMPAGES" }')
_PAGEBLOCK_ORDER = ("(((unsigned int)((21 - 12))) < ((unsigned int)(10)) ? "
                    "((unsigned int)((21 - 12))) : ((unsigned int)(10)))")

U, S = False, True


@dataclass(frozen=True)
class _KmemLayout:
    """What the kmem.h of one kernel declares differently."""

    gfp_t: Tuple[str, int]          # C type and size of the gfp_flags fields
    percpu_refill_field: bool       # mm_page_alloc_zone_locked records percpu_refill (5.14 prints order == 0)
    kmalloc_node_fields: bool       # kmalloc/kmem_cache_alloc carry node (and accounted); no *_node events
    setup_events: bool              # the mm_setup_per_zone_* / totalreserve / extfrag declarations
    free_batched_preempt: int = 0   # mm_page_free_batched's preempt count: v6.18 free_unref_folios()
                                    # holds the pcp lock (pcpu_spin_trylock: pinned + spinlock, "...2.")
    pcpu_drain_ctx: Tuple[int, int] = (0, 0)   # mm_page_pcpu_drain's flags and preempt count: v6.18
                                    # free_pcppages_bulk() holds the zone lock, irqs off, inside the pcp
                                    # lock: "d..2." from drain_pages_zone (the free path adds its pin: "d..3.")


_LAYOUT: ProfileTable[_KmemLayout] = ProfileTable("tracing.kmem event layout", {
    "v5.14": _KmemLayout(gfp_t=("gfp_t", 4), percpu_refill_field=False, kmalloc_node_fields=False,
                         setup_events=False),
    "v6.18": _KmemLayout(gfp_t=("unsigned long", 8), percpu_refill_field=True, kmalloc_node_fields=True,
                         setup_events=True, free_batched_preempt=2,
                         pcpu_drain_ctx=(0x01, 2)),
})


#: kmem:rss_stat's print fmt before seed change ``rss-stat-symbolic`` ("mm, tracing: improve
#: rss_stat tracepoint message", v5.13): the member's index, not its name.  The fields are the
#: same on both sides of the change.
RSS_STAT_NUMERIC_FMT = '"mm_id=%u curr=%d member=%d size=%ldB", REC->mm_id, REC->curr, REC->member, REC->size'
#: ... and after it: TRACE_MM_PAGES through __print_symbolic (the format file shows the enum's
#: numbers, TRACE_DEFINE_ENUM having rewritten them).
RSS_STAT_SYMBOLIC_FMT = ('"mm_id=%u curr=%d type=%s size=%ldB", REC->mm_id, REC->curr, '
                         f'__print_symbolic(REC->member, {_RSS_MEMBERS}), REC->size')


def _rss_stat(preempt: int, symbolic: bool = True) -> EventDecl:
    return EventDecl(
        "kmem", "rss_stat",
        layout_fields([("unsigned int", "mm_id", 4, U), ("unsigned int", "curr", 4, U),
                       ("int", "member", 4, S), ("long", "size", 8, S)]),
        RSS_STAT_SYMBOLIC_FMT if symbolic else RSS_STAT_NUMERIC_FMT,
        core_slot=0, preempt_count=preempt, plugin="kmem",
        doc="An mm counter (file/anon/swap/shmem pages) changed; size = new value in bytes.")


def _page_events(profile: KernelProfile) -> List[EventDecl]:
    layout = _LAYOUT[profile]
    gfp_t = layout.gfp_t
    show_gfp = show_gfp_flags_expr(profile.name)
    pcpu_drain = EventDecl(
        "kmem", "mm_page_pcpu_drain",
        layout_fields([("unsigned long", "pfn", 8, U), ("unsigned int", "order", 4, U),
                       ("int", "migratetype", 4, S)]),
        f'"page=%p pfn=0x%lx order=%d migratetype=%d", {_PAGE}, REC->pfn, REC->order, '
        'REC->migratetype',
        core_slot=9, common_flags=layout.pcpu_drain_ctx[0], preempt_count=layout.pcpu_drain_ctx[1],
        plugin="kmem",
        doc="free_pcppages_bulk returned a block from a per-CPU list to the buddy allocator.")
    if layout.percpu_refill_field:
        zone_locked = EventDecl(
            "kmem", "mm_page_alloc_zone_locked",
            layout_fields([("unsigned long", "pfn", 8, U), ("unsigned int", "order", 4, U),
                           ("int", "migratetype", 4, S), ("int", "percpu_refill", 4, S)]),
            '"page=%p pfn=0x%lx order=%u migratetype=%d percpu_refill=%d", '
            f'{_PAGE_OR_NULL}, {_PFN_OR_0}, REC->order, REC->migratetype, REC->percpu_refill',
            core_slot=8, plugin="kmem",
            doc="A block was taken from the buddy free lists under the zone lock.")
    else:
        zone_locked = EventDecl(
            "kmem", "mm_page_alloc_zone_locked",
            layout_fields([("unsigned long", "pfn", 8, U), ("unsigned int", "order", 4, U),
                           ("int", "migratetype", 4, S)]),
            '"page=%p pfn=0x%lx order=%u migratetype=%d percpu_refill=%d", '
            f'{_PAGE_OR_NULL}, {_PFN_OR_0}, REC->order, REC->migratetype, REC->order == 0',
            core_slot=8, plugin="kmem",
            doc="A block was taken from the buddy free lists under the zone lock.")
    page_alloc = EventDecl(
        "kmem", "mm_page_alloc",
        layout_fields([("unsigned long", "pfn", 8, U), ("unsigned int", "order", 4, U),
                       (gfp_t[0], "gfp_flags", gfp_t[1], U), ("int", "migratetype", 4, S)]),
        '"page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s", '
        f'{_PAGE_OR_NULL}, {_PFN_OR_0}, REC->order, REC->migratetype, {show_gfp}',
        core_slot=1, plugin="kmem",
        doc="__alloc_pages returned (pfn = -1 when the allocation failed).")
    free_batched = EventDecl(
        "kmem", "mm_page_free_batched",
        layout_fields([("unsigned long", "pfn", 8, U)]),
        f'"page=%p pfn=0x%lx order=0", {_PAGE}, REC->pfn',
        core_slot=7, preempt_count=layout.free_batched_preempt, plugin="kmem",
        doc="free_unref_page_list / free_unref_folios commit loop: one page of a batch.")
    page_free = EventDecl(
        "kmem", "mm_page_free",
        layout_fields([("unsigned long", "pfn", 8, U), ("unsigned int", "order", 4, U)]),
        f'"page=%p pfn=0x%lx order=%d", {_PAGE}, REC->pfn, REC->order',
        core_slot=2, plugin="kmem",
        doc="free_pages_prepare: a block of 2**order pages is being freed.")
    return [pcpu_drain, zone_locked, page_alloc, free_batched, page_free]


def _slab_events(profile: KernelProfile) -> List[EventDecl]:
    show_gfp = show_gfp_flags_expr(profile.name)
    head = [("unsigned long", "call_site", 8, U), ("const void *", "ptr", 8, U)]
    sizes = [("size_t", "bytes_req", 8, U), ("size_t", "bytes_alloc", 8, U)]
    name_signed = profile.char_signed       # is_signed_type(char): x86 char is signed before 6.2
    name = ("__data_loc char[]", "name", 4, name_signed)
    call = "(void *)REC->call_site, REC->ptr"
    cache_free = EventDecl(
        "kmem", "kmem_cache_free", layout_fields(head + [name]),
        f'"call_site=%pS ptr=%p name=%s", {call}, __get_str(name)',
        core_slot=6, plugin="kmem",
        doc="kmem_cache_free finished freeing an object of the named cache.")
    kfree = EventDecl(
        "kmem", "kfree", layout_fields(head),
        f'"call_site=%pS ptr=%p", {call}',
        core_slot=4, plugin="kmem",
        doc="kfree was called (also for NULL and ZERO_SIZE_PTR).")
    if _LAYOUT[profile].kmalloc_node_fields:
        kmalloc = EventDecl(
            "kmem", "kmalloc",
            layout_fields(head + sizes + [("unsigned long", "gfp_flags", 8, U),
                                          ("int", "node", 4, S)]),
            '"call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d '
            f'accounted=%s", {call}, REC->bytes_req, REC->bytes_alloc, {show_gfp}, REC->node, '
            f'(1 && (REC->gfp_flags & {gfp_account_expr(profile.name)})) ? "true" : "false"',
            core_slot=3, plugin="kmem",
            doc="kmalloc returned (bytes_alloc = slot size; ptr NULL on failure).")
        cache_alloc = EventDecl(
            "kmem", "kmem_cache_alloc",
            layout_fields(head + [name] + sizes + [("unsigned long", "gfp_flags", 8, U),
                                                   ("int", "node", 4, S),
                                                   ("bool", "accounted", 1, U)]),
            '"call_site=%pS ptr=%p name=%s bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d '
            f'accounted=%s", {call}, __get_str(name), REC->bytes_req, REC->bytes_alloc, '
            f'{show_gfp}, REC->node, REC->accounted ? "true" : "false"',
            core_slot=5, plugin="kmem",
            doc="kmem_cache_alloc returned an object of the named cache.")
        return [cache_free, kfree, kmalloc, cache_alloc]
    alloc_fields = layout_fields(head + sizes + [("gfp_t", "gfp_flags", 4, U)])
    node_fields = layout_fields(head + sizes + [("gfp_t", "gfp_flags", 4, U),
                                                ("int", "node", 4, S)])
    alloc_fmt = ('"call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s", '
                 f'{call}, REC->bytes_req, REC->bytes_alloc, {show_gfp}')
    node_fmt = ('"call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d", '
                f'{call}, REC->bytes_req, REC->bytes_alloc, {show_gfp}, REC->node')
    return [
        cache_free, kfree,
        EventDecl("kmem", "kmem_cache_alloc_node", node_fields, node_fmt, core_slot=11,
                  plugin="kmem", doc="kmem_cache_alloc_node returned an object."),
        EventDecl("kmem", "kmalloc_node", node_fields, node_fmt, core_slot=10,
                  plugin="kmem", doc="kmalloc_node returned (node may be -1)."),
        EventDecl("kmem", "kmem_cache_alloc", alloc_fields, alloc_fmt, core_slot=5,
                  plugin="kmem", doc="kmem_cache_alloc returned an object."),
        EventDecl("kmem", "kmalloc", alloc_fields, alloc_fmt, core_slot=3,
                  plugin="kmem", doc="kmalloc returned (bytes_alloc = slot size)."),
    ]


def _v618_setup_events() -> List[EventDecl]:
    """6.18-only kmem events memsim never emits from the core (declared for completeness)."""
    return [
        EventDecl("kmem", "mm_calculate_totalreserve_pages",
                  layout_fields([("unsigned long", "totalreserve_pages", 8, U)]),
                  '"totalreserve_pages=%lu", REC->totalreserve_pages', plugin="kmem",
                  doc="calculate_totalreserve_pages recomputed the reserve."),
        EventDecl("kmem", "mm_setup_per_zone_lowmem_reserve",
                  layout_fields([("int", "node_id", 4, S), ("__data_loc char[]", "name", 4, U),
                                 ("__data_loc char[]", "upper_name", 4, U),
                                 ("long", "lowmem_reserve", 8, S)]),
                  '"node_id=%d zone name=%s upper_zone name=%s lowmem_reserve_pages=%ld", '
                  'REC->node_id, __get_str(name), __get_str(upper_name), REC->lowmem_reserve',
                  plugin="kmem", doc="setup_per_zone_lowmem_reserve set one zone pair."),
        EventDecl("kmem", "mm_setup_per_zone_wmarks",
                  layout_fields([("int", "node_id", 4, S), ("__data_loc char[]", "name", 4, U),
                                 ("unsigned long", "watermark_min", 8, U),
                                 ("unsigned long", "watermark_low", 8, U),
                                 ("unsigned long", "watermark_high", 8, U),
                                 ("unsigned long", "watermark_promo", 8, U)]),
                  '"node_id=%d zone name=%s watermark min=%lu low=%lu high=%lu promo=%lu", '
                  'REC->node_id, __get_str(name), REC->watermark_min, REC->watermark_low, '
                  'REC->watermark_high, REC->watermark_promo',
                  plugin="kmem", doc="__setup_per_zone_wmarks set a zone's watermarks."),
        EventDecl("kmem", "mm_page_alloc_extfrag",
                  layout_fields([("unsigned long", "pfn", 8, U), ("int", "alloc_order", 4, S),
                                 ("int", "fallback_order", 4, S),
                                 ("int", "alloc_migratetype", 4, S),
                                 ("int", "fallback_migratetype", 4, S),
                                 ("int", "change_ownership", 4, S)]),
                  '"page=%p pfn=0x%lx alloc_order=%d fallback_order=%d pageblock_order=%d '
                  'alloc_migratetype=%d fallback_migratetype=%d fragmenting=%d '
                  f'change_ownership=%d", {_PAGE}, REC->pfn, REC->alloc_order, '
                  f'REC->fallback_order, {_PAGEBLOCK_ORDER}, REC->alloc_migratetype, '
                  f'REC->fallback_migratetype, REC->fallback_order < {_PAGEBLOCK_ORDER}, '
                  'REC->change_ownership',
                  plugin="kmem", doc="A migratetype fallback stole pages (fragmentation)."),
    ]


def kmem_events(profile_name: str, rss_stat_symbolic: bool = True) -> List[EventDecl]:
    """The kmem event declarations of kernel profile ``profile_name`` ("v5.14" or "v6.18");
    ``rss_stat_symbolic=False`` gives kmem:rss_stat the print fmt it had before seed change
    ``rss-stat-symbolic`` (``member=%d``)."""
    profile = get_profile(profile_name)
    events = [_rss_stat(profile.rss_stat_preempt, rss_stat_symbolic)]
    if _LAYOUT[profile].setup_events:
        events += _v618_setup_events()
    events += _page_events(profile)
    events += _slab_events(profile)
    return events
