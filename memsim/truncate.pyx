# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Invalidating a mapping's page cache (mm/truncate.c): what ``echo 1 > /proc/sys/vm/drop_caches``
does to every inode (drop_pagecache_sb -> invalidate_mapping_pages).

Models v5.14's __invalidate_mapping_pages / invalidate_inode_page / invalidate_complete_page
(v6.18: mapping_try_invalidate / mapping_evict_folio, the same rules) for every mapping's
``AddressSpace.i_pages`` (a plugin's mappings keep their pages there too): a page that is locked is skipped (find_lock_entries' trylock); one that is dirty,
under writeback, mapped, or held by anyone but the cache (remove_mapping's
page_ref_freeze(page, 2)) stays and is deactivated (deactivate_file_page); the others leave the
cache without a shadow (__remove_mapping with reclaimed false) and are freed a pagevec
(PAGEVEC_SIZE 15 on v5.14, a folio_batch of 31 on v6.18) at a time (pagevec_release); the
shadow entries in the range are cleared (invalidate_exceptional_entry).  The i_pages changes go
through MmCore's page-cache primitives, which keep nrpages (nrexceptional before v5.13) and the
workingset's shadow-only xa_nodes.

invalidate_inode_pages2_range (direct I/O, a filesystem that must drop everything) is here
too: it unmaps, launders and removes every page it can, and says -EBUSY for the others.

Simplified: deactivate_file_page's per-CPU lru_deactivate_file batch is moved at once
(lru_deactivate_file_fn), not when the batch fills or is drained.  memsim cannot wait for a
write to end: a page still under writeback (a plugin's writepage that ends it later) is one
invalidate_inode_pages2_range cannot remove (-EBUSY), where the kernel would wait for it.

A large folio (v6.18 diskfs readahead) is handled whole, from the index of its head: the cache
holds one reference to it (memsim's page cache takes one per folio, not folio_nr_pages), it is
mapped if a PTE maps any of its pages; invalidate_mapping_pages skips a folio partly outside the
range (find_lock_entries), invalidate_inode_pages2_range removes it whole (find_get_entries).
"""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport (pfn_t, PG_locked, PG_dirty, PG_writeback, PG_lru, PG_active,
                            PG_referenced, PG_unevictable, PG_reclaim, PG_tail, PG_head)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, lruvec
from memsim.mm cimport (AddressSpace, MmCore, XArray, mapping_empty, mapping_truncated,
                        compound_head_page, folio_nr)
from memsim.vmstat cimport (__mod_lruvec_page_state, __count_vm_events, NR_FILE_PAGES, NR_SHMEM,
                            PGROTATED, PGDEACTIVATE)

cdef enum:
    PVEC_MAX = 31
    EBUSY = 16


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


cdef inline bint folio_mapped_any(PhysMem pm, pfn_t head) noexcept:
    """folio_mapped() of a page-cache folio (PTE-mapped only)."""
    cdef int64_t nr = folio_nr(&pm.mem_map[head]), i
    for i in range(nr):
        if pm.mem_map[head + i]._mapcount > 0:
            return True
    return False


cdef inline pfn_t folio_at(PhysMem pm, uint64_t* index, pfn_t pfn) noexcept:
    """The head of the folio ``pfn`` (found at *index) is part of, *index set to the folio's
    first index."""
    cdef page* hp = compound_head_page(pm, pfn)
    cdef pfn_t head = pfn
    if hp != &pm.mem_map[pfn]:
        head = pm.mem_map[pfn].compound_head
        index[0] = hp.index
    return head


cdef bint invalidate_inode_page(MmCore core, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1:
    """invalidate_inode_page() -> invalidate_complete_page() -> remove_mapping(): a clean,
    unmapped page no one else holds leaves i_pages (no shadow: __remove_mapping with reclaimed
    false; MmCore.page_cache_delete_page keeps the xa_node counts); True when it did.  The
    caller frees it."""
    cdef page* p = &core.pm.mem_map[pfn]
    if p.flags & ((1ULL << PG_dirty) | (1ULL << PG_writeback)):
        return False
    if p._mapcount > 0 or (p.flags & (1ULL << PG_head) and folio_mapped_any(core.pm, pfn)):
        return False
    if p._refcount != 1:                # page_ref_freeze(page, 2): the cache's and the caller's
        return False
    core.filemap_remove_page(mapping, index, pfn)
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
    cdef int64_t e, nr
    cdef pfn_t pfn
    cdef XArray i_pages = mapping.i_pages
    if mapping_empty(mapping):          # the xas_find of find_lock_entries finds nothing
        return 0
    index = start
    while i_pages.find(index, end, &index, &e):     # find_lock_entries(): xas_find
        if e < 0:                       # a value entry: a shadow (shmem's swap entries stay)
            if not mapping.swapbacked:
                core.page_cache_delete(mapping, index, 0)
            found += 1
        elif not compound_head_page(pm, <pfn_t>e).flags & (1ULL << PG_locked):  # else trylock failed
            pfn = folio_at(pm, &index, <pfn_t>e)
            nr = folio_nr(&pm.mem_map[pfn])
            if nr > 1 and (index < start or index + nr - 1 > end):
                index += nr - 1             # find_lock_entries: a folio partly outside is skipped
                if index >= end:
                    break
                index += 1
                continue
            if invalidate_inode_page(core, mapping, index, pfn):
                count += 1
                batch[n] = pfn
                n += 1
            else:
                deactivate_file_page(pm, pfn)
            found += 1
            index += nr - 1
        if found == size:               # the pagevec find_lock_entries filled is released
            pm.release_pages(batch, n)
            n = found = 0
        if index >= end:
            break
        index += 1
    if n:
        pm.release_pages(batch, n)
    return count


cdef bint invalidate_complete_folio2(MmCore core, AddressSpace mapping, uint64_t index,
                                     pfn_t pfn) except -1:
    """invalidate_complete_folio2() (v5.14 invalidate_complete_page2): a page that is still
    dirty (no launder_folio cleaned it) stays: False.  Else it leaves i_pages without a shadow
    (__filemap_remove_folio: the delete event, NR_FILE_PAGES / NR_SHMEM, page->mapping) and the
    cache's reference is dropped (filemap_free_folio) -- whoever else holds it (an LRU batch)
    frees it later; True."""
    cdef page* p = &core.pm.mem_map[pfn]
    if p.flags & (1ULL << PG_dirty):
        return False
    core.filemap_remove_page(mapping, index, pfn)
    core.pm.put_page(pfn)
    return True


def invalidate_inode_pages2_range(MmCore core, AddressSpace mapping, uint64_t start=0,
                                  uint64_t end=0xffffffffffffffff):
    """invalidate_inode_pages2_range(mapping, start, end) (mm/truncate.c): nothing to do when
    the mapping is empty (mapping_empty; before v5.13 nrpages and nrexceptional).  Else, over
    the entries of indices ``start..end`` in order (find_get_entries): a shadow is cleared
    (clear_shadow_entry; shmem's value entries are its swap entries and stay); at the first page
    that is mapped, the file is unmapped from that index to ``end`` in one go
    (unmap_mapping_pages, private COW copies kept), and a page still mapped after that is
    unmapped alone (unmap_mapping_folio); a dirty page is laundered (folio_launder: the
    mapping's a_ops launder_folio, if it has one), and the page leaves the cache
    (invalidate_complete_folio2) unless it is still dirty.  Returns 0, or -EBUSY when some page
    could not be removed (a dirty one without launder_folio, one under writeback) or the last
    launder error.  One C loop over XArray.find; Python only to unmap."""
    cdef XArray i_pages = mapping.i_pages
    cdef uint64_t index = start
    cdef int64_t e
    cdef pfn_t pfn
    cdef page* p
    cdef int ret = 0, r
    cdef int64_t nr
    cdef bint did_range_unmap = False
    if mapping_truncated(mapping):
        return 0
    while i_pages.find(index, end, &index, &e):
        if e < 0:                               # a value entry (clear_shadow_entries)
            if not mapping.swapbacked:
                core.page_cache_delete(mapping, index, 0)
        else:
            pfn = folio_at(core.pm, &index, <pfn_t>e)
            p = &core.pm.mem_map[pfn]
            nr = folio_nr(p)
            if not did_range_unmap and (p._mapcount > 0 or (nr > 1 and folio_mapped_any(core.pm, pfn))):
                core.unmap_mapping_range(mapping, index, end - index + (end != 0xffffffffffffffff),
                                         False)
                did_range_unmap = True
            if p.flags & (1ULL << PG_writeback):    # folio_wait_writeback(): memsim cannot wait
                ret = -EBUSY
            else:
                if p._mapcount > 0 or (nr > 1 and folio_mapped_any(core.pm, pfn)):
                    core.unmap_mapping_range(mapping, index, nr, False)    # unmap_mapping_folio
                r = 0
                if p.flags & (1ULL << PG_dirty) and mapping.a_ops != NULL \
                        and mapping.a_ops.launder_folio != NULL:            # folio_launder()
                    r = mapping.a_ops.launder_folio(mapping.a_ops.ctx, mapping, pfn)
                if r == 0 and not invalidate_complete_folio2(core, mapping, index, pfn):
                    r = -EBUSY
                if r < 0:
                    ret = r
            index += nr - 1
        if index >= end:
            break
        index += 1
    return ret
