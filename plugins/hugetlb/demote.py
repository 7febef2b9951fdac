"""Demoting free gigantic pages into smaller huge pages (v5.16+; mm/hugetlb.c demote_store,
demote_pool_huge_page, demote_free_hugetlb_folios): the 1 GiB hstate's ``demote`` file."""
from __future__ import annotations

from typing import Generator, Optional

EBUSY = 16


def _demote_free_pages(machine, src, dst, heads) -> Generator:
    """demote_free_hugetlb_folios(): split each removed page into pages of ``dst`` and add them
    to its pool in one lock cycle (prep_and_add_allocated_folios), under dst's resize mutex."""
    hg = machine.plugin_state["hugetlb"]
    pm = hg.pm
    lock = dst.resize_lock if hg.resize_mutex else None
    if lock is not None:
        yield from lock.lock()
    try:
        new = []
        step = 1 << dst.order
        for head in heads:
            pm.destroy_compound_gigantic_page(head, src.order)
            for sub in range(head, head + (1 << src.order), step):
                pm.prep_compound_gigantic_page(sub, dst.order)
                dst.prep_new(sub)
                new.insert(0, sub)              # list_add(&new_folio->lru, &dst_list)
        dst.add_new_pages(new, False)
    finally:
        if lock is not None:
            lock.unlock()


def demote_pages(machine, h, nid: Optional[int], nr_demote: int) -> Generator:
    """demote_store(): while pages are available (free - resv, unsigned, of the node or the
    hstate), demote_pool_huge_page(): take free pages node by node in free order, demote them.
    Returns 0 or -EBUSY (nothing could be demoted)."""
    hg = machine.plugin_state["hugetlb"]
    dst = hg.by_size(4096 << h.demote_order)
    mask = (1 << nid) if nid is not None else hg.memory_nodes
    lock = h.resize_lock if hg.resize_mutex else None
    if lock is not None:
        yield from lock.lock()
    try:
        while nr_demote:
            free = h.node_counts(nid)[1] if nid is not None else h.free_huge_pages
            if (free - h.resv_huge_pages) % (1 << 64) == 0:
                break
            # demote_pool_huge_page()
            demoted = 0
            for _ in range(bin(mask).count("1")):
                node = h.valid_node_allowed(h.next_nid_to_free, mask)
                h.next_nid_to_free = h.next_node_to_alloc(node, mask)[1]
                taken = []
                for head in h.freelist_pfns(node):
                    h.remove_page(head, False)
                    taken.insert(0, head)
                    demoted += 1
                    if demoted == nr_demote:
                        break
                yield from _demote_free_pages(machine, h, dst, taken)
                if demoted == nr_demote:
                    break
            h.max_huge_pages -= demoted
            dst.max_huge_pages += demoted << (h.order - dst.order)
            if not demoted:
                return -EBUSY
            nr_demote -= demoted
        return 0
    finally:
        if lock is not None:
            lock.unlock()
