"""Pool resize: set_max_huge_pages() (mm/hugetlb.c; hugetlb.md section 4).

The resize is a generator: it yields :data:`memsim.sched.PREEMPT` wherever the kernel drops
hugetlb_lock and calls cond_resched() (before each allocation, after each page freed), so
another task can run in the middle of a resize as another CPU would.  The per-page work is C
(memsim.plugins.hugetlb.hstate); this loop runs once per huge page.

The round-robin cursor is read where the kernel reads it without hugetlb_lock
(alloc_pool_huge_page -> hstate_next_node_to_alloc): between the test that the cursor's node is
allowed and the load that uses it, another resize may move it.  With ``hugetlb-resize-mutex``
on, no other resize of the hstate runs then, so the two loads agree; with it off they may not,
and a page lands on a node outside the writer's mask (the seed: "next_nid_to_alloc becoming
invalid for the caller and pages being allocated on the wrong node").
"""
from __future__ import annotations

from typing import Generator, Optional

from memsim.sched import PREEMPT

ULONG_MAX = (1 << 64) - 1
EINVAL = 22


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


def _alloc_pool_huge_page(h, mask: int, noretry: int, stats) -> Generator:
    """alloc_pool_huge_page(): try the allowed nodes in round-robin order until one gives a
    page; returns (head or None, noretry).  The cursor step hstate_next_node_to_alloc() is not
    atomic here: see the module's docstring."""
    for _ in range(_popcount(mask)):
        allowed = (mask >> h.next_nid_to_alloc) & 1       # node_isset(h->next_nid_to_alloc, ...)
        yield PREEMPT                                     # ... another CPU may store the cursor
        nid = h.next_nid_to_alloc if allowed else h.valid_node_allowed(h.next_nid_to_alloc, mask)
        h.next_nid_to_alloc = h.next_node_to_alloc(nid, mask)[1]
        if not (mask >> nid) & 1 and stats is not None:
            stats["alloc_outside_mask"] = stats.get("alloc_outside_mask", 0) + 1
        head, noretry = h.alloc_fresh_on_node(nid, noretry)
        if head is not None:
            return head, noretry
    return None, noretry


def set_max_huge_pages(hg, h, count: int, nid: Optional[int], mask: int, lock=None,
                       stats=None) -> Generator:
    """set_max_huge_pages(h, count, nid, nodes_allowed): grow or shrink the persistent pool
    toward ``count`` on the nodes of ``mask`` (``nid``: a node-specific write).  ``lock`` is
    the hstate's resize mutex (a :class:`memsim.sched.Mutex` of ``current``; hugetlb-resize-mutex
    on) or None.  Returns 0 or -EINVAL; a pool
    that could not reach ``count`` is no error (callers read back)."""
    noretry = 0
    if lock is not None:
        yield from lock.lock()
    try:
        # flush_free_hpage_work(): waits for frees deferred to a worker (vmemmap restore,
        # which memsim does not model); not for another CPU's free_huge_page in flight.
        if nid is not None:
            old = count
            if hg.node_count_persistent:        # v6.x: persistent pages only
                nr, _, surplus = h.node_counts(nid)
                count += h.persistent_huge_pages() - (nr - surplus)
            else:                               # v5.14: every page, surplus included
                count += h.nr_huge_pages - h.node_counts(nid)[0]
            if count > ULONG_MAX or count < old:
                count = ULONG_MAX
        if h.gigantic and not hg.contig_alloc and count > h.persistent_huge_pages():
            return -EINVAL
        # grow, step 1: surplus pages become persistent
        while h.surplus_huge_pages and count > h.persistent_huge_pages():
            if not h.adjust_surplus(mask, -1):
                break
        # grow, step 2: fresh pages, one per lock drop
        batch = []                              # v6.18: added in one lock cycle at the end
        while count > h.persistent_huge_pages() + len(batch):
            yield PREEMPT                       # spin_unlock_irq(); cond_resched()
            head, noretry = yield from _alloc_pool_huge_page(h, mask, noretry, stats)
            if head is None:
                break
            if hg.v6:
                batch.insert(0, head)           # list_add(&folio->lru, &page_list)
            else:
                h.add_new_pages((head,), True)  # prep_new_huge_page(); put_page()
        if batch:
            h.add_new_pages(batch, False)       # prep_and_add_allocated_folios()
        # shrink, step 1: free pages not needed for reservations or use (nothing to do after a
        # grow: the kernel's failed grow jumps past it, a complete one finds count == persistent)
        min_count = max(count, h.resv_huge_pages + h.nr_huge_pages - h.free_huge_pages)
        removed = []
        while min_count < h.persistent_huge_pages():
            head = h.remove_pool_page(mask, False)
            if head is None:
                break
            removed.insert(0, head)             # list_add(&page->lru, &page_list)
        # update_and_free_pages_bulk() after dropping the lock; v6.18 first moves each folio to
        # its non_hvo_folios list (hugetlb_vmemmap_restore_folios), which reverses the order
        for head in (reversed(removed) if hg.v6 else removed):
            h.free_removed_page(head)
            yield PREEMPT                       # cond_resched()
        # shrink, step 2: what is still in use or reserved becomes surplus
        while count < h.persistent_huge_pages():
            if not h.adjust_surplus(mask, 1):
                break
        h.max_huge_pages = h.persistent_huge_pages()
        return 0
    finally:
        if lock is not None:
            lock.unlock()
