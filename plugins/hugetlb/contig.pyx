# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""alloc_contig_range() over hugetlb pages (mm/hugetlb.c isolate_or_dissolve_huge_page,
alloc_and_dissolve_huge_page, isolate_huge_page; hugetlb.md section 8): the allocator's
``hugetlb_page_ops.isolate_or_dissolve_huge_page`` for the ``hugetlb-contig-dissolve`` seed
change.

With the change on, a free huge page in the range is replaced by a fresh one from the same node
(__GFP_THISNODE) and dissolved, the pool's counters unchanged; an in-use one is isolated for
migration; a gigantic one is refused with -ENOMEM.  With it off (before v5.14) the compaction
scanner skips every hugetlb page (not on an LRU list), so the range ends -EBUSY.

The free race of hugetlb.md 8.4(c) — "refcount 0 but not Freed": a free_huge_page in flight on
another CPU — returns -EAGAIN: the caller reschedules (a preemption point) and calls again for
the same page, which then finds it freed (or gone back to buddy), keeping the fresh page it
allocated for the retry as the kernel's ``goto retry`` does.
"""
from libc.stdint cimport uint64_t
from memsim._types cimport pfn_t, NO_PFN, PG_hugetlb, GFP_THISNODE_
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport MmCore
from memsim.plugins.hugetlb.hstate cimport (Hstate, Hugetlb, HPG_freed, HPG_migratable,
                                            HPG_temporary)

DEF ENOMEM = 12
DEF EBUSY = 16
DEF EAGAIN = 11


cdef class Contig:
    """The plugin's side of alloc_contig_range: the seed switch and the page kept across a
    retry."""
    cdef Hugetlb hg
    cdef MmCore core
    cdef public bint dissolve              # hugetlb-contig-dissolve on
    cdef pfn_t retry_old                   # the page whose free was in flight ...
    cdef pfn_t retry_new                   # ... and the replacement allocated for it
    cdef public dict stats

    def __init__(self, Hugetlb hg, MmCore core, bint dissolve):
        self.hg = hg
        self.core = core
        self.dissolve = dissolve
        self.retry_old = NO_PFN
        self.retry_new = NO_PFN
        self.stats = {"replaced": 0, "isolated": 0, "retries": 0, "refused_gigantic": 0,
                      "migrated": 0, "migrate_failed": 0}

    def install(self):
        """Fill in hugetlb_page_ops.isolate_or_dissolve_huge_page (ctx: this object's Hugetlb
        would do, but the op needs the switch: ctx is this object from now on, and the free
        op finds the Hugetlb through it)."""
        cdef PhysMem pm = self.hg.pm
        pm.hugetlb.isolate_or_dissolve_huge_page = _isolate_or_dissolve_op
        pm.hugetlb.migrate_huge_page = _migrate_huge_page_op
        pm.hugetlb.putback_active_hugepage = _putback_active_hugepage_op
        self.hg.contig = self

    cdef bint isolate_huge_page(self, pfn_t head) except -1:
        """isolate_huge_page(): a Migratable in-use hugetlb head gets a reference and loses
        Migratable (it is on the migration list now); else False."""
        cdef page* p = &self.hg.pm.mem_map[head]
        if not (p.flags & (1ULL << PG_hugetlb)) or not (p.private & HPG_migratable) or p._refcount == 0:
            return False
        p._refcount += 1
        p.private &= ~HPG_migratable
        self.stats["isolated"] += 1
        return True

    cdef int alloc_and_dissolve_huge_page(self, Hstate h, pfn_t old) except? -1000000:
        """alloc_and_dissolve_huge_page(): a fresh page on old's node (buddy, __GFP_THISNODE: no
        counter changes), then under the lock: old gone from hugetlb -> drop the new page, 0;
        old in use -> isolate it (-EBUSY if that fails), drop the new page; old free but not yet
        Freed -> -EAGAIN (reschedule and call again: the new page is kept); old Freed -> old out
        of the pool, new in its place at the head of the node's free list, old to buddy."""
        cdef PhysMem pm = self.hg.pm
        cdef page* op = &pm.mem_map[old]
        cdef int nid = pm.page_to_nid(old)
        cdef pfn_t new
        cdef int ret = 0
        if self.retry_old == old and self.retry_new != NO_PFN:
            new = self.retry_new                # goto retry: the page allocated before
            self.retry_old = NO_PFN
            self.retry_new = NO_PFN
        else:
            new = h.alloc_buddy_huge_page(self.hg.htlb_alloc_mask | GFP_THISNODE_, nid, NULL)
            if new == NO_PFN:
                return -ENOMEM
            h.prep_new_huge_page(new)
        if not (op.flags & (1ULL << PG_hugetlb)):
            pass
        elif op._refcount:
            if not self.isolate_huge_page(old):
                ret = -EBUSY
        elif not (op.private & HPG_freed):
            self.retry_old = old
            self.retry_new = new
            self.stats["retries"] += 1
            return -EAGAIN
        else:
            h.remove_hugetlb_page(old, False)
            h.prep_account_new_huge_page(nid)
            pm.mem_map[new]._refcount = 0       # page_ref_dec(new_page)
            h.enqueue_huge_page(new)
            h.update_and_free_page(old)
            self.stats["replaced"] += 1
            return 0
        h.update_and_free_page(new)             # free_new
        return ret

    cdef int isolate_or_dissolve_huge_page(self, pfn_t head) except? -1000000:
        """isolate_or_dissolve_huge_page(): 0 when the page is no hugetlb page (any more), was
        isolated for migration, or was replaced; -ENOMEM for a gigantic page or when no
        replacement could be had; -EBUSY otherwise; -EAGAIN: see alloc_and_dissolve_huge_page.
        With the seed change off: -EBUSY for every hugetlb page (the scanner skipped them)."""
        cdef PhysMem pm = self.hg.pm
        cdef page* p = &pm.mem_map[head]
        cdef Hstate h
        if not (p.flags & (1ULL << PG_hugetlb)):
            return 0
        if not self.dissolve:
            return -EBUSY
        h = self.hg.page_hstate(head)
        if h.is_gigantic():
            self.stats["refused_gigantic"] += 1
            return -ENOMEM
        if p._refcount and self.isolate_huge_page(head):
            return 0
        if not p._refcount:
            return self.alloc_and_dissolve_huge_page(h, head)
        return -EBUSY

    # -- migration of an in-use page (mm/migrate.c unmap_and_move_huge_page) ----------------------
    cdef int putback_active_hugepage(self, pfn_t head) except -1:
        """putback_active_hugepage(): Migratable again, on the active list, and the isolation's
        reference dropped (the last one runs free_huge_page)."""
        cdef PhysMem pm = self.hg.pm
        pm.mem_map[head].private |= HPG_migratable
        self.hg.sync_free += 1
        try:
            pm.put_page(head)
        finally:
            self.hg.sync_free -= 1
        return 0

    cdef pfn_t alloc_huge_page_nodemask(self, Hstate h, int preferred_nid) except? 0xfffffffffffffffe:
        """alloc_huge_page_nodemask() as alloc_migration_target calls it for a huge page: a free
        pool page beyond the reservations, from the preferred node first, then the others by
        distance (dequeue_huge_page_nodemask; no __GFP_THISNODE); else a Temporary page from
        buddy (alloc_migrate_huge_page: counted in nr, not surplus; never gigantic).  The page
        is returned with one reference, or NO_PFN."""
        cdef PhysMem pm = self.hg.pm
        cdef pfn_t head
        cdef int i, nid
        if h.free_huge_pages > h.resv_huge_pages:
            for i in range(self.hg.nr_nodes):
                nid = (preferred_nid + i) % self.hg.nr_nodes
                head = h.dequeue_huge_page_node_exact(nid)
                if head != NO_PFN:
                    return head
        if h.is_gigantic():
            return NO_PFN
        head = h.alloc_fresh_huge_page(self.hg.htlb_alloc_mask, preferred_nid, NULL)
        if head == NO_PFN:
            return NO_PFN
        h.prep_account_new_huge_page(pm.page_to_nid(head))
        pm.mem_map[head].private |= HPG_temporary
        return head

    cdef int move_hugetlb_state(self, Hstate h, pfn_t old, pfn_t new) except -1:
        """move_hugetlb_state(): a Temporary target passes Temporary to the old page (which then
        goes to buddy when freed), and one unit of surplus follows the page to the new node."""
        cdef PhysMem pm = self.hg.pm
        cdef int old_nid, new_nid
        if not (pm.mem_map[new].private & HPG_temporary):
            return 0
        pm.mem_map[old].private |= HPG_temporary
        pm.mem_map[new].private &= ~HPG_temporary
        old_nid = pm.page_to_nid(old)
        new_nid = pm.page_to_nid(new)
        if old_nid != new_nid and h.surplus_huge_pages_node[old_nid]:
            h.surplus_huge_pages_node[old_nid] -= 1
            h.surplus_huge_pages_node[new_nid] += 1
        return 0

    cdef int migrate_huge_page(self, pfn_t old) except? -1000000:
        """unmap_and_move_huge_page() with alloc_migration_target: a page whose users all went
        (only the isolation's reference left) is simply put back; else a target page, the core
        moves the mappings, the page-cache entry and the bytes (MmCore.migrate_huge_page_mappings),
        the hugetlb state follows (move_hugetlb_state), and both pages are put back: the old one's
        free then gives it to buddy (Temporary, or its node has surplus) or to the free list.  -ENOMEM
        when no target can be had; -EAGAIN (a pin) keeps the old page isolated for another pass."""
        cdef PhysMem pm = self.hg.pm
        cdef Hstate h = self.hg.page_hstate(old)
        cdef pfn_t new
        cdef int rc
        if pm.mem_map[old]._refcount == 1:
            self.putback_active_hugepage(old)
            return 0
        new = self.alloc_huge_page_nodemask(h, pm.page_to_nid(old))
        if new == NO_PFN:
            return -ENOMEM
        rc = self.core.migrate_huge_page_mappings(old, new)
        if rc == 0:
            self.move_hugetlb_state(h, old, new)
            self.stats["migrated"] += 1
        else:
            self.stats["migrate_failed"] += 1
        if rc != -EAGAIN:
            self.putback_active_hugepage(old)
        self.putback_active_hugepage(new)
        return rc

    def abandon_retry(self):
        """The caller gave up on a page it was told to retry: the kept page goes back."""
        cdef Hstate h
        if self.retry_new != NO_PFN:
            h = self.hg.page_hstate(self.retry_new)
            h.update_and_free_page(self.retry_new)
        self.retry_old = NO_PFN
        self.retry_new = NO_PFN


cdef int _isolate_or_dissolve_op(void* ctx, pfn_t head) except? -1000000:
    cdef Hugetlb hg = <Hugetlb>ctx
    return (<Contig>hg.contig).isolate_or_dissolve_huge_page(head)


cdef int _migrate_huge_page_op(void* ctx, pfn_t head) except? -1000000:
    cdef Hugetlb hg = <Hugetlb>ctx
    return (<Contig>hg.contig).migrate_huge_page(head)


cdef int _putback_active_hugepage_op(void* ctx, pfn_t head) except -1:
    cdef Hugetlb hg = <Hugetlb>ctx
    return (<Contig>hg.contig).putback_active_hugepage(head)
