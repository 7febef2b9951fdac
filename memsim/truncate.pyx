# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Invalidating a mapping's page cache (mm/truncate.c): what ``echo 1 > /proc/sys/vm/drop_caches``
does to every inode (drop_pagecache_sb -> invalidate_mapping_pages).

Models v5.14's __invalidate_mapping_pages / invalidate_inode_page / invalidate_complete_page
(v6.18: mapping_try_invalidate / mapping_evict_folio, the same rules) for memsim's built-in
page cache (``AddressSpace.i_pages``; a mapping with a plugin's a_ops keeps its own cache and is
left alone): a page that is locked is skipped (find_lock_entries' trylock); one that is dirty,
under writeback, mapped, or held by anyone but the cache (remove_mapping's
page_ref_freeze(page, 2)) stays and is deactivated (deactivate_file_page); the others leave the
cache without a shadow (__remove_mapping with reclaimed false) and are freed a pagevec
(PAGEVEC_SIZE 15 on v5.14, a folio_batch of 31 on v6.18) at a time (pagevec_release); the
shadow entries in the range are cleared (invalidate_exceptional_entry).  The i_pages changes go
through MmCore's page-cache primitives, which keep nrpages (nrexceptional before v5.13) and the
workingset's shadow-only xa_nodes.

Simplified: deactivate_file_page's per-CPU lru_deactivate_file batch is moved at once
(lru_deactivate_file_fn), not when the batch fills or is drained.
"""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport (pfn_t, PG_locked, PG_dirty, PG_writeback, PG_lru, PG_active,
                            PG_referenced, PG_unevictable, PG_reclaim, PG_tail, PG_head)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, lruvec
from memsim.mm cimport AddressSpace, MmCore, XArray, mapping_empty
from memsim.vmstat cimport (__mod_lruvec_page_state, __count_vm_events, NR_FILE_PAGES, NR_SHMEM,
                            PGROTATED, PGDEACTIVATE)

cdef enum:
    PVEC_MAX = 31


cdef int deactivate_file_page(PhysMem pm, pfn_t pfn) except -1:
    """deactivate_file_page() (v6.18 deactivate_file_folio) and, at once, its batch's
    lru_deactivate_file_fn(): an unevictable or mapped page stays; any other page on an LRU goes
    to its inactive list, at the head with PG_reclaim if dirty or under writeback, else at the
    tail (pgrotated); pgdeactivate if it was active."""
    cdef page* p = &pm.mem_map[pfn]
    cdef lruvec* lv
    cdef bint active
    if p.flags & (1ULL << PG_unevictable) or not p.flags & (1ULL << PG_lru) or p._mapcount > 0:
        return 0
    active = (p.flags >> PG_active) & 1
    lv = pm.folio_lruvec(pfn)
    pm.lruvec_del_folio(lv, pfn)
    p.flags &= ~((1ULL << PG_active) | (1ULL << PG_referenced))
    if p.flags & ((1ULL << PG_writeback) | (1ULL << PG_dirty)):
        pm.lruvec_add_folio(lv, pfn)
        p.flags |= 1ULL << PG_reclaim
    else:
        pm.lruvec_add_folio_tail(lv, pfn)
        __count_vm_events(pm.vs, PGROTATED, 1)
    if active:
        __count_vm_events(pm.vs, PGDEACTIVATE, 1)
    return 0


cdef bint invalidate_inode_page(MmCore core, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1:
    """invalidate_inode_page() -> invalidate_complete_page() -> remove_mapping(): a clean,
    unmapped page no one else holds leaves i_pages (no shadow: __remove_mapping with reclaimed
    false; MmCore.page_cache_delete_page keeps the xa_node counts); True when it did.  The
    caller frees it."""
    cdef page* p = &core.pm.mem_map[pfn]
    if p.flags & ((1ULL << PG_dirty) | (1ULL << PG_writeback)):
        return False
    if p._mapcount > 0:
        return False
    if p._refcount != 1:                # page_ref_freeze(page, 2): the cache's and the caller's
        return False
    core.page_cache_delete_page(mapping, index, pfn, 0)
    __mod_lruvec_page_state(core.pm.vs, p, NR_FILE_PAGES, -1)
    if mapping.swapbacked:
        __mod_lruvec_page_state(core.pm.vs, p, NR_SHMEM, -1)
    p.mapping = 0
    return True


def invalidate_mapping_pages(MmCore core, AddressSpace mapping, uint64_t start=0,
                             uint64_t end=0xffffffffffffffff):
    """invalidate_mapping_pages(mapping, start, end): in indices ``start..end`` clear every
    shadow entry (invalidate_exceptional_entry -> clear_shadow_entry), drop the unlocked, clean,
    unmapped, not-under-writeback pages that only the page cache holds, and deactivate the
    others (deactivate_file_page).  One C loop over XArray.find (xa_find), in index order.
    Returns the pages dropped (shadows not counted)."""
    cdef pfn_t batch[PVEC_MAX]
    cdef PhysMem pm = core.pm
    cdef int n = 0, found = 0, size = pm.lru_batch_size if 0 < pm.lru_batch_size <= PVEC_MAX else 15
    cdef unsigned long count = 0
    cdef uint64_t index
    cdef int64_t e
    cdef pfn_t pfn
    cdef XArray i_pages = mapping.i_pages
    if mapping.a_ops != NULL:
        raise ValueError(f"{mapping!r}: its page cache belongs to a plugin (a_ops)")
    if mapping_empty(mapping):          # the xas_find of find_lock_entries finds nothing
        return 0
    index = start
    while i_pages.find(index, end, &index, &e):     # find_lock_entries(): xas_find
        if e < 0:                       # a value entry: a shadow
            core.page_cache_delete(mapping, index, 0)
            found += 1
        elif not pm.mem_map[<pfn_t>e].flags & (1ULL << PG_locked):    # else trylock_page failed
            pfn = <pfn_t>e
            if invalidate_inode_page(core, mapping, index, pfn):
                count += 1
                batch[n] = pfn
                n += 1
            else:
                deactivate_file_page(pm, pfn)
            found += 1
        if found == size:               # the pagevec find_lock_entries filled is released
            pm.release_pages(batch, n)
            n = found = 0
        if index == end:
            break
        index += 1
    if n:
        pm.release_pages(batch, n)
    return count
