"""The pagemap trace events (include/trace/events/pagemap.h) of the v5.14 and v6.18 profiles:
``mm_lru_insertion`` (a page put on an LRU list when its lru_add batch is moved:
__pagevec_lru_add_fn / lru_add) and ``mm_lru_activate`` (a page moved to its active list:
__activate_page / lru_activate).

v6.18 reproduces the live 6.18 kernel's format files byte for byte (apart from ``ID:``), read
from /sys/kernel/tracing/events/pagemap/*/format (tests/tracing/test_pagemap_events.py keeps
them).  v5.14 is a reconstruction of 5.14's pagemap.h: the same layout with a ``struct page *
page`` field instead of ``struct folio * folio``, and ``page=`` in the print fmt (no captured
5.14 format files were available).  The flag bits are PAGEMAP_MAPPED 0x1, PAGEMAP_ANONYMOUS
0x2, PAGEMAP_FILE 0x4, PAGEMAP_SWAPCACHE 0x8, PAGEMAP_SWAPBACKED 0x10, PAGEMAP_MAPPEDDISK 0x20,
PAGEMAP_BUFFERS 0x40 (trace_pagemap_flags).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import get_profile
from memsim.tracing.events import EventDecl, layout_fields

U = False

#: CORE_EVENTS slots of the two events (memsim/ring.pxd EV_MM_LRU_INSERTION, EV_MM_LRU_ACTIVATE)
LRU_INSERTION_SLOT = 12
LRU_ACTIVATE_SLOT = 13

_FLAGS = ('REC->flags & 0x0001u ? "M" : " ", REC->flags & 0x0002u ? "a" : "f", '
          'REC->flags & 0x0008u ? "s" : " ", REC->flags & 0x0010u ? "b" : " ", '
          'REC->flags & 0x0020u ? "d" : " ", REC->flags & 0x0040u ? "B" : " "')


def pagemap_events(profile_name: str) -> List[EventDecl]:
    """The pagemap event declarations of kernel profile ``profile_name``."""
    profile = get_profile(profile_name)
    # the folio conversion of pagemap.h (v6.1: "mm: convert lru_cache_add to folios") renamed
    # the pointer field; memsim's profiles are on either side of it
    ptr = ("struct folio *", "folio") if profile.version >= (6, 1) else ("struct page *", "page")
    insertion = EventDecl(
        "pagemap", "mm_lru_insertion",
        layout_fields([(ptr[0], ptr[1], 8, U), ("unsigned long", "pfn", 8, U),
                       ("enum lru_list", "lru", 4, U), ("unsigned long", "flags", 8, U)]),
        f'"{ptr[1]}=%p pfn=0x%lx lru=%d flags=%s%s%s%s%s%s", REC->{ptr[1]}, REC->pfn, REC->lru, '
        + _FLAGS,
        core_slot=LRU_INSERTION_SLOT, plugin="kmem",
        doc="A page went onto an LRU list when its CPU's lru_add batch was moved.")
    activate = EventDecl(
        "pagemap", "mm_lru_activate",
        layout_fields([(ptr[0], ptr[1], 8, U), ("unsigned long", "pfn", 8, U)]),
        f'"{ptr[1]}=%p pfn=0x%lx", REC->{ptr[1]}, REC->pfn',
        core_slot=LRU_ACTIVATE_SLOT, plugin="kmem",
        doc="An inactive page on the LRU was moved to its active list (mark_page_accessed).")
    return [activate, insertion]
