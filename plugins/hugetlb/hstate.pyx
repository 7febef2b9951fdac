# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The hugetlb pool (mm/hugetlb.c): hstates, per-node free lists, the counters, node round
robin, and the pool primitives (hugetlb.md sections 1-3, 5 and 7.3).

Everything here runs once per *huge* page, in C.  The resize loop (memsim.plugins.hugetlb.resize)
is Python because it yields to the scheduler where the kernel drops hugetlb_lock; it calls the
``def`` wrappers at the bottom of :class:`Hstate`.

A pool page is a compound page of order ``h.order`` with PG_hugetlb set on its head; its HPage
flags live in the head's ``private`` word, and the free and active lists are circular lists
linked by pfn through the head's ``lru_next``/``lru_prev`` (NIL32: on no list).  ``page.index``
and ``page.mapping`` stay free for hugetlbfs.
"""
from libc.stdint cimport uint32_t, uint64_t, int64_t
from memsim._types cimport (pfn_t, gfp_t, NO_PFN, NIL32, PG_hugetlb, PG_head, PG_tail, MAX_NR_ZONES,
                            GFP_COMP_, GFP_NOWARN_, GFP_RETRY_MAYFAIL_, GFP_THISNODE_)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, lru_link, lru_unlink
from memsim.vmstat cimport __count_vm_event, HTLB_BUDDY_PGALLOC, HTLB_BUDDY_PGALLOC_FAIL

DEF NUMA_NO_NODE = -1


cdef inline bint node_isset(int nid, uint64_t mask) noexcept:
    return (mask >> nid) & 1


cdef inline int first_node(uint64_t mask) noexcept:
    cdef int n = 0
    if mask == 0:
        return HUGETLB_MAX_NODES
    while not ((mask >> n) & 1):
        n += 1
    return n


cdef inline int next_node(int nid, uint64_t mask) noexcept:
    """next_node(): the first node of ``mask`` after ``nid``, or MAX_NUMNODES."""
    cdef int n = nid + 1
    while n < HUGETLB_MAX_NODES:
        if (mask >> n) & 1:
            return n
        n += 1
    return HUGETLB_MAX_NODES


cdef inline int next_node_allowed(int nid, uint64_t mask) noexcept:
    """next_node_allowed(): the next node of ``mask`` after ``nid``, wrapping."""
    nid = next_node(nid, mask)
    if nid == HUGETLB_MAX_NODES:
        nid = first_node(mask)
    return nid


cdef inline int get_valid_node_allowed(int nid, uint64_t mask) noexcept:
    """get_valid_node_allowed(): ``nid`` if it is in ``mask``, else the next allowed node."""
    if not node_isset(nid, mask):
        nid = next_node_allowed(nid, mask)
    return nid


cdef inline int popcount(uint64_t mask) noexcept:
    cdef int n = 0
    while mask:
        mask &= mask - 1
        n += 1
    return n


cdef class Hstate:
    """struct hstate (include/linux/hugetlb.h): one huge page size, its counters (global and per
    node), its per-node free lists (LIFO) and its active list, and the round-robin cursors."""

    def __init__(self, Hugetlb hugetlb, int index, unsigned int order, resize_lock=None):
        cdef int n
        self.hugetlb = hugetlb
        self.index = index
        self.order = order
        self.name = f"hugepages-{4 << order}kB"
        self.resize_lock = resize_lock
        for n in range(HUGETLB_MAX_NODES):
            self.freelist[n] = NIL32
            self.nr_huge_pages_node[n] = 0
            self.free_huge_pages_node[n] = 0
            self.surplus_huge_pages_node[n] = 0
        self.activelist = NIL32
        # hugetlb_init_hstates(): both cursors start at the first node with memory
        self.next_nid_to_alloc = first_node(hugetlb.memory_nodes)
        self.next_nid_to_free = self.next_nid_to_alloc

    cdef bint is_gigantic(self) noexcept:
        """hstate_is_gigantic(): larger than the buddy allocator's largest block."""
        return self.order >= 11

    cdef uint64_t persistent(self) noexcept:
        """persistent_huge_pages()."""
        return self.nr_huge_pages - self.surplus_huge_pages

    cdef int pick_alloc_node(self, int* cursor, uint64_t mask) noexcept:
        """hstate_next_node_to_alloc(): the node to try, and the cursor moved past it."""
        cdef int nid = get_valid_node_allowed(cursor[0], mask)
        cursor[0] = next_node_allowed(nid, mask)
        return nid

    cdef int pick_free_node(self, uint64_t mask) noexcept:
        """hstate_next_node_to_free()."""
        cdef int nid = get_valid_node_allowed(self.next_nid_to_free, mask)
        self.next_nid_to_free = next_node_allowed(nid, mask)
        return nid

    # -- allocation from buddy ----------------------------------------------------------------
    cdef pfn_t alloc_buddy_huge_page(self, gfp_t gfp, int nid, uint64_t* noretry) except? 0xfffffffffffffffe:
        """alloc_buddy_huge_page(): an order-h compound page from the page allocator on ``nid``
        (NUMA_NO_NODE: the local node); it tries hard (__GFP_RETRY_MAYFAIL) unless ``nid`` is
        in ``noretry``, which it keeps up to date.  Counts htlb_buddy_alloc_success/fail;
        touches no hstate counter.  Returns the head with one reference, or NO_PFN."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef bint try_hard = True
        cdef pfn_t pfn
        gfp |= GFP_COMP_ | GFP_NOWARN_
        if nid == NUMA_NO_NODE:
            nid = pm.cpu_node[pm.cur.cpu]
        if noretry != NULL and node_isset(nid, noretry[0]):
            try_hard = False
        if try_hard:
            gfp |= GFP_RETRY_MAYFAIL_
        pfn = pm.alloc_pages_nodemask(gfp, self.order, nid, NULL)
        if noretry != NULL:
            if pfn != NO_PFN and not try_hard:
                noretry[0] &= ~(1ULL << nid)
            if pfn == NO_PFN and try_hard:
                noretry[0] |= 1ULL << nid
        if pfn == NO_PFN:
            __count_vm_event(pm.vs, HTLB_BUDDY_PGALLOC_FAIL)
            return NO_PFN
        __count_vm_event(pm.vs, HTLB_BUDDY_PGALLOC)
        return pfn

    cdef pfn_t alloc_fresh_huge_page(self, gfp_t gfp, int nid, uint64_t* noretry) except? 0xfffffffffffffffe:
        """alloc_fresh_huge_page() without the accounting (only_alloc_fresh_hugetlb_folio):
        gigantic pages from a contiguous range (alloc_gigantic_page), others from buddy; the
        page becomes a hugetlb page (__prep_new_huge_page) with one reference, not counted."""
        cdef pfn_t pfn
        if self.is_gigantic():
            pfn = self._alloc_gigantic_page(gfp, nid)
        else:
            pfn = self.alloc_buddy_huge_page(gfp, nid, noretry)
        if pfn != NO_PFN:
            self.prep_new_huge_page(pfn)
        return pfn

    cdef pfn_t _alloc_gigantic_page(self, gfp_t gfp, int nid) except? 0xfffffffffffffffe:
        """alloc_gigantic_page(): alloc_contig_pages() of 2^order pages on ``nid`` (CMA areas
        first in the kernel: memsim has none), made one compound page."""
        cdef PhysMem pm = self.hugetlb.pm
        if not self.hugetlb.contig_alloc:
            return NO_PFN
        if nid == NUMA_NO_NODE:
            nid = pm.cpu_node[pm.cur.cpu]
        pfn = pm.alloc_contig_pages(1ULL << self.order, gfp | GFP_THISNODE_, nid)
        if pfn is None:
            return NO_PFN
        pm.prep_compound_gigantic_page(pfn, self.order)
        return <pfn_t>pfn

    cdef int prep_new_huge_page(self, pfn_t head) except -1:
        """__prep_new_huge_page() / init_new_hugetlb_folio(): PG_hugetlb on the head, no HPage
        flags, on no list."""
        cdef page* p = &self.hugetlb.pm.mem_map[head]
        p.flags |= 1ULL << PG_hugetlb
        p.private = 0
        p.lru_next = NIL32
        p.lru_prev = NIL32
        return 0

    cdef int prep_account_new_huge_page(self, int nid) except -1:
        """__prep_account_new_huge_page(): one more page in the pool (under hugetlb_lock)."""
        self.nr_huge_pages += 1
        self.nr_huge_pages_node[nid] += 1
        return 0

    # -- the lists ----------------------------------------------------------------------------
    cdef int enqueue_huge_page(self, pfn_t head) except -1:
        """enqueue_huge_page(): to the head of its node's free list, Freed."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef page* p = &pm.mem_map[head]
        cdef int nid = pm.page_to_nid(head)
        if p.lru_next != NIL32:
            lru_unlink(pm.mem_map, &self.activelist, head)
        lru_link(pm.mem_map, &self.freelist[nid], head, False)
        self.free_huge_pages += 1
        self.free_huge_pages_node[nid] += 1
        p.private |= HPG_freed
        return 0

    cdef pfn_t dequeue_huge_page_node_exact(self, int nid) except? 0xfffffffffffffffe:
        """dequeue_huge_page_node_exact(): the first page of ``nid``'s free list moves to the
        active list with one reference, not Freed; NO_PFN when the list is empty."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef pfn_t head
        cdef page* p
        if self.freelist[nid] == NIL32:
            return NO_PFN
        head = self.freelist[nid]
        p = &pm.mem_map[head]
        lru_unlink(pm.mem_map, &self.freelist[nid], head)
        lru_link(pm.mem_map, &self.activelist, head, False)
        p._refcount = 1
        p.private &= ~HPG_freed
        self.free_huge_pages -= 1
        self.free_huge_pages_node[nid] -= 1
        return head

    cdef int remove_hugetlb_page(self, pfn_t head, bint adjust_surplus) except -1:
        """remove_hugetlb_page(): off whatever list, out of the counters (free if it was Freed,
        surplus if asked), an ordinary compound page with one reference.  The Freed bit stays,
        as in the kernel: readers test PG_hugetlb first."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef page* p = &pm.mem_map[head]
        cdef int nid = pm.page_to_nid(head)
        if p.lru_next != NIL32:
            if p.private & HPG_freed:
                lru_unlink(pm.mem_map, &self.freelist[nid], head)
            else:
                lru_unlink(pm.mem_map, &self.activelist, head)
        if p.private & HPG_freed:
            self.free_huge_pages -= 1
            self.free_huge_pages_node[nid] -= 1
        if adjust_surplus:
            self.surplus_huge_pages -= 1
            self.surplus_huge_pages_node[nid] -= 1
        p.flags &= ~(1ULL << PG_hugetlb)
        p._refcount = 1
        self.nr_huge_pages -= 1
        self.nr_huge_pages_node[nid] -= 1
        return 0

    cdef int update_and_free_page(self, pfn_t head) except -1:
        """update_and_free_page(): a page remove_hugetlb_page() took out goes back to the page
        allocator (gigantic: to the contiguous allocator, free_gigantic_page)."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef page* p = &pm.mem_map[head]
        p.private = 0
        p.flags &= ~(1ULL << PG_hugetlb)
        if self.is_gigantic():
            pm.free_gigantic_page(head, self.order)
            return 0
        p._refcount = 0
        return pm.free_pages(head, self.order)

    # -- the pool -----------------------------------------------------------------------------
    cdef pfn_t alloc_pool_huge_page(self, uint64_t mask, uint64_t* noretry, int* cursor) except? 0xfffffffffffffffe:
        """alloc_pool_huge_page() (v6.18: alloc_pool_huge_folio with the cursor passed in):
        try the allowed nodes in round-robin order, each with __GFP_THISNODE, until one gives
        a page.  The cursor moves for every node tried.  The page is prepared, not counted."""
        cdef int nr_nodes = popcount(mask), nid
        cdef pfn_t pfn
        cdef gfp_t gfp = self.hugetlb.htlb_alloc_mask | GFP_THISNODE_
        while nr_nodes > 0:
            nid = self.pick_alloc_node(cursor, mask)
            pfn = self.alloc_fresh_huge_page(gfp, nid, noretry)
            if pfn != NO_PFN:
                return pfn
            nr_nodes -= 1
        return NO_PFN

    cdef pfn_t remove_pool_huge_page(self, uint64_t mask, bint acct_surplus) except? 0xfffffffffffffffe:
        """remove_pool_huge_page(): the head of the first free list, in free round-robin order,
        of a node that has free pages (and surplus, with ``acct_surplus``), removed from the
        pool; the caller frees it (update_and_free_page).  NO_PFN: none."""
        cdef int nr_nodes = popcount(mask), nid
        cdef pfn_t head
        while nr_nodes > 0:
            nid = self.pick_free_node(mask)
            if (not acct_surplus or self.surplus_huge_pages_node[nid]) and self.freelist[nid] != NIL32:
                head = self.freelist[nid]
                self.remove_hugetlb_page(head, acct_surplus)
                return head
            nr_nodes -= 1
        return NO_PFN

    cdef bint adjust_pool_surplus(self, uint64_t mask, int delta) except -1:
        """adjust_pool_surplus(): -1 takes one surplus page back into the persistent pool (nodes
        in alloc order), +1 makes one persistent page surplus (nodes in free order).  Returns
        whether a node qualified."""
        cdef int nr_nodes = popcount(mask), nid
        while nr_nodes > 0:
            if delta < 0:
                nid = self.pick_alloc_node(&self.next_nid_to_alloc, mask)
                if self.surplus_huge_pages_node[nid]:
                    self.surplus_huge_pages -= 1
                    self.surplus_huge_pages_node[nid] -= 1
                    return True
            else:
                nid = self.pick_free_node(mask)
                if self.surplus_huge_pages_node[nid] < self.nr_huge_pages_node[nid]:
                    self.surplus_huge_pages += 1
                    self.surplus_huge_pages_node[nid] += 1
                    return True
            nr_nodes -= 1
        return False

    cdef pfn_t alloc_surplus_huge_page(self, gfp_t gfp, int nid, uint64_t mask) except? 0xfffffffffffffffe:
        """alloc_surplus_huge_page(): a fresh page beyond the persistent pool, refused for
        gigantic pages and when surplus has reached nr_overcommit_hugepages (checked before and
        after the buddy allocation: the loser of a race is Temporary and freed).  Returned in
        use (one reference), counted in nr and surplus."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef pfn_t head
        if self.is_gigantic() or self.surplus_huge_pages >= self.nr_overcommit_huge_pages:
            return NO_PFN
        head = self.alloc_fresh_huge_page(gfp, nid, NULL)
        if head == NO_PFN:
            return NO_PFN
        nid = pm.page_to_nid(head)
        self.prep_account_new_huge_page(nid)
        if self.surplus_huge_pages >= self.nr_overcommit_huge_pages:
            pm.mem_map[head].private |= HPG_temporary
            pm.mem_map[head]._refcount = 0
            self.free_huge_page(head)
            return NO_PFN
        self.surplus_huge_pages += 1
        self.surplus_huge_pages_node[nid] += 1
        lru_link(pm.mem_map, &self.activelist, head, False)
        return head

    cdef int free_huge_page(self, pfn_t head) except -1:
        """free_huge_page() (v6.18 free_huge_folio), the compound destructor: the last reference
        went.  A consumed reservation is given back; a Temporary page, or any page of a node
        with surplus, goes back to buddy; else it is enqueued on its node's free list."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef page* p = &pm.mem_map[head]
        cdef int nid = pm.page_to_nid(head)
        cdef bint restore = (p.private & HPG_restore_reserve) != 0
        p.private &= ~(HPG_restore_reserve | HPG_migratable)
        p.mapping = 0
        if restore:
            self.resv_huge_pages += 1
        if p.private & HPG_temporary:
            self.remove_hugetlb_page(head, False)
            self.update_and_free_page(head)
        elif self.surplus_huge_pages_node[nid]:
            self.remove_hugetlb_page(head, True)
            self.update_and_free_page(head)
        else:
            self.enqueue_huge_page(head)
        return 0

    # -- Python wrappers (the resize loop, files, tests) -----------------------------------------
    def node_counts(self, int nid):
        """(nr, free, surplus) of node ``nid``."""
        return (self.nr_huge_pages_node[nid], self.free_huge_pages_node[nid],
                self.surplus_huge_pages_node[nid])

    @property
    def gigantic(self) -> bool:
        return self.is_gigantic()

    @property
    def size(self) -> int:
        """huge_page_size() in bytes."""
        return 4096 << self.order

    def persistent_huge_pages(self) -> int:
        return self.persistent()

    def next_node_to_alloc(self, int cursor, uint64_t mask):
        """hstate_next_node_to_alloc() on a cursor value: (node to try, new cursor)."""
        cdef int nid = get_valid_node_allowed(cursor, mask)
        return nid, next_node_allowed(nid, mask)

    def valid_node_allowed(self, int nid, uint64_t mask) -> int:
        return get_valid_node_allowed(nid, mask)

    def alloc_fresh_on_node(self, int nid, uint64_t noretry):
        """One try of alloc_pool_huge_page's loop on ``nid``: (head or None, new noretry)."""
        cdef pfn_t pfn = self.alloc_fresh_huge_page(self.hugetlb.htlb_alloc_mask | GFP_THISNODE_,
                                                    nid, &noretry)
        return (None if pfn == NO_PFN else pfn), noretry

    def alloc_pool_page(self, uint64_t mask, uint64_t noretry=0):
        """alloc_pool_huge_page() with the hstate's cursor: (head or None, new noretry)."""
        cdef pfn_t pfn = self.alloc_pool_huge_page(mask, &noretry, &self.next_nid_to_alloc)
        return (None if pfn == NO_PFN else pfn), noretry

    def add_new_pages(self, heads, bint through_free):
        """Put newly allocated pages into the pool.  v5.14 alloc_pool_huge_page(): counted,
        then put_page() frees each into the pool (free_huge_page, which gives it to buddy if
        its node has surplus at that moment); v6.18 prep_and_add_allocated_folios(): counted
        and enqueued, in list order."""
        cdef PhysMem pm = self.hugetlb.pm
        for head in heads:
            self.prep_account_new_huge_page(pm.page_to_nid(head))
            pm.mem_map[<pfn_t>head]._refcount = 0
            if through_free:
                self.free_huge_page(head)
            else:
                self.enqueue_huge_page(head)

    def dissolve_free_page(self, pfn_t pfn):
        """dissolve_free_huge_page() (memory offline and hwpoison call it; memsim has neither, so
        this is its API for tests and tools): 0 when ``pfn`` is no hugetlb page or its free page
        was dissolved (max_huge_pages - 1, surplus - 1 if its node has surplus); -EBUSY when it is
        in use or dissolving would break a reservation (free - resv == 0); -EAGAIN while its free
        is in flight (the kernel reschedules and retries)."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef pfn_t head = pm.mem_map[pfn].compound_head if pm.mem_map[pfn].flags & (1ULL << PG_tail) else pfn
        cdef page* p = &pm.mem_map[head]
        cdef bint adjust
        if not (p.flags & (1ULL << PG_hugetlb)):
            return 0
        if p._refcount:
            return -16
        if self.free_huge_pages == self.resv_huge_pages:
            return -16
        if not (p.private & HPG_freed):
            return -11
        adjust = self.surplus_huge_pages_node[pm.page_to_nid(head)] != 0
        self.remove_hugetlb_page(head, adjust)
        self.max_huge_pages -= 1
        self.update_and_free_page(head)
        return 0

    def free_page(self, pfn_t head):
        """free_huge_page() of a page whose last reference went."""
        self.free_huge_page(head)

    def prep_new(self, pfn_t head):
        """__prep_new_huge_page() of a compound page of this hstate's order."""
        self.prep_new_huge_page(head)

    def remove_page(self, pfn_t head, bint adjust_surplus=False):
        """remove_hugetlb_page()."""
        self.remove_hugetlb_page(head, adjust_surplus)

    def remove_pool_page(self, uint64_t mask, bint acct_surplus=False):
        """remove_pool_huge_page(): the removed head, or None."""
        cdef pfn_t pfn = self.remove_pool_huge_page(mask, acct_surplus)
        return None if pfn == NO_PFN else pfn

    def free_removed_page(self, pfn_t head):
        """update_and_free_page()."""
        self.update_and_free_page(head)

    def adjust_surplus(self, uint64_t mask, int delta) -> bool:
        return self.adjust_pool_surplus(mask, delta)

    def alloc_surplus_page(self, int nid=-1, uint64_t mask=0):
        cdef pfn_t pfn = self.alloc_surplus_huge_page(self.hugetlb.htlb_alloc_mask, nid, mask)
        return None if pfn == NO_PFN else pfn

    def dequeue_page(self, int nid):
        """dequeue_huge_page_node_exact(): the head (now in use, one reference), or None."""
        cdef pfn_t pfn = self.dequeue_huge_page_node_exact(nid)
        return None if pfn == NO_PFN else pfn

    def freelist_pfns(self, int nid):
        """The heads on node ``nid``'s free list, first (next to be used) first."""
        cdef PhysMem pm = self.hugetlb.pm
        out = []
        cdef uint32_t pfn = self.freelist[nid]
        if pfn == NIL32:
            return out
        while True:
            out.append(pfn)
            pfn = pm.mem_map[pfn].lru_next
            if pfn == self.freelist[nid]:
                return out

    def active_pfns(self):
        cdef PhysMem pm = self.hugetlb.pm
        out = []
        cdef uint32_t pfn = self.activelist
        if pfn == NIL32:
            return out
        while True:
            out.append(pfn)
            pfn = pm.mem_map[pfn].lru_next
            if pfn == self.activelist:
                return out

    def page_flags(self, pfn_t head) -> int:
        """The HPage flags of a head (HPG_*)."""
        return self.hugetlb.pm.mem_map[head].private

    def set_page_flags(self, pfn_t head, uint64_t flags):
        self.hugetlb.pm.mem_map[head].private = flags

    def check(self):
        """The hstate's invariants (hugetlb.md 1.2) against its lists; a list of problems."""
        cdef PhysMem pm = self.hugetlb.pm
        cdef int n
        cdef page* p
        problems = []
        nr = free = surplus = 0
        for n in range(self.hugetlb.nr_nodes):
            nr += self.nr_huge_pages_node[n]
            free += self.free_huge_pages_node[n]
            surplus += self.surplus_huge_pages_node[n]
            pfns = self.freelist_pfns(n)
            if len(pfns) != self.free_huge_pages_node[n]:
                problems.append(f"{self.name}: node {n} free list has {len(pfns)} pages, "
                                f"free_huge_pages_node says {self.free_huge_pages_node[n]}")
            for pfn in pfns:
                p = &pm.mem_map[<pfn_t>pfn]
                if not (p.flags >> PG_hugetlb) & 1 or not p.private & HPG_freed or p._refcount:
                    problems.append(f"{self.name}: pfn {pfn:#x} on node {n}'s free list is not a "
                                    "free hugetlb page (PG_hugetlb, Freed, refcount 0)")
                if pm.page_to_nid(pfn) != n:
                    problems.append(f"{self.name}: pfn {pfn:#x} of node {pm.page_to_nid(pfn)} is on "
                                    f"node {n}'s free list")
            # no "surplus_node <= nr_node": hugetlb.md 1.2 says the resize keeps it, but
            # remove_pool_huge_page(acct_surplus=false) may take the free page a node's surplus
            # was counted on (tests/hugetlb/test_pool_model.py found the sequence; the kernel's
            # code does the same)
        for name, total, per_node in (("nr_huge_pages", self.nr_huge_pages, nr),
                                      ("free_huge_pages", self.free_huge_pages, free),
                                      ("surplus_huge_pages", self.surplus_huge_pages, surplus)):
            if total != per_node:
                problems.append(f"{self.name}: {name} {total} != the sum over nodes {per_node}")
        if self.free_huge_pages > self.nr_huge_pages:
            problems.append(f"{self.name}: free {self.free_huge_pages} > nr {self.nr_huge_pages}")
        return problems


cdef int _free_huge_page_op(void* ctx, pfn_t head) except -1:
    """hugetlb_page_ops.free_huge_page: the destructor of a PG_hugetlb compound page.

    The last reference is gone (refcount 0) but free_huge_page() has not yet taken hugetlb_lock:
    the rest runs as task work of the task that dropped the reference, when it is next
    scheduled, so another task can find the page "refcount 0, not Freed" (hugetlb.md 1.3, 8.4(c)).
    The plugin's own code (a migration putting its pages back) frees at once, as the same CPU
    would go on to do."""
    cdef Hugetlb hg = <Hugetlb>ctx
    cdef Hstate h = hg.page_hstate(head)
    if hg.task_work is not None and hg.sync_free == 0:
        hg.task_work(lambda: h.free_huge_page(head))
        return 0
    return h.free_huge_page(head)


cdef class Hugetlb:
    """The hstates of a machine and the allocator's hugetlb ops table."""

    def __init__(self, PhysMem pm, gfp_t htlb_alloc_mask, bint v6, bint contig_alloc=True,
                 resize_locks=(None, None)):
        cdef int n, zi
        self.pm = pm
        self.nr_nodes = pm.nr_nodes
        if self.nr_nodes > HUGETLB_MAX_NODES:
            raise ValueError(f"hugetlb models at most {HUGETLB_MAX_NODES} nodes")
        self.memory_nodes = 0
        for n in range(self.nr_nodes):
            for zi in range(MAX_NR_ZONES):
                if pm.zones[n * MAX_NR_ZONES + zi].managed_pages:
                    self.memory_nodes |= 1ULL << n
        self.htlb_alloc_mask = htlb_alloc_mask
        self.v6 = v6
        self.node_count_persistent = v6
        self.contig_alloc = contig_alloc
        self.task_work = None
        self.resize_mutex = True
        self.stats = {}
        self.shm_group = 0
        self.contig = None
        self.sync_free = 0
        # x86-64: PMD_ORDER and PUD_ORDER (hugetlb_add_hstate for 2M and, with pdpe1gb, 1G)
        self.hstates = [Hstate(self, 0, 9, resize_locks[0]), Hstate(self, 1, 18, resize_locks[1])]
        self.default_hstate = self.hstates[0]
        if v6:                              # v5.16+ hugetlb_init_hstates(): 1 GiB demotes to 2 MiB
            (<Hstate>self.hstates[1]).demote_order = 9

    def install(self):
        """Fill in the allocator's hugetlb_page_ops (the free_huge_page destructor)."""
        self.pm.hugetlb.ctx = <void*>self
        self.pm.hugetlb.free_huge_page = _free_huge_page_op

    def set_default(self, Hstate h):
        """default_hugepagesz=: the hstate of /proc/sys/vm and HugePages_* lines."""
        self.default_hstate = h

    cdef Hstate page_hstate(self, pfn_t head):
        """page_hstate() / size_to_hstate(): the hstate of a hugetlb head by its order."""
        cdef unsigned int order = self.pm.mem_map[head].compound_order
        for h in self.hstates:
            if (<Hstate>h).order == order:
                return <Hstate>h
        raise RuntimeError(f"pfn {head:#x}: a hugetlb page of order {order} has no hstate")

    def hstate_of(self, pfn_t head) -> Hstate:
        return self.page_hstate(head)

    def by_size(self, uint64_t size):
        """size_to_hstate(): the hstate of ``size`` bytes, or None."""
        for h in self.hstates:
            if (4096 << (<Hstate>h).order) == size:
                return h
        return None

    def local_node(self) -> int:
        """numa_node_id() of the running CPU."""
        return self.pm.cpu_node[self.pm.cur.cpu]

    @property
    def memory_node_ids(self):
        return [n for n in range(self.nr_nodes) if (self.memory_nodes >> n) & 1]

    def total_pages(self) -> int:
        """hugetlb_total_pages(): base pages held by every hstate's pool."""
        return sum((<Hstate>h).nr_huge_pages << (<Hstate>h).order for h in self.hstates)

    def check(self):
        out = []
        for h in self.hstates:
            out.extend(h.check())
        return out
