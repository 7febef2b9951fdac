# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Workingset detection (mm/workingset.c of v5.14 and v6.18, CONFIG_LRU_GEN off).

Per lruvec an eviction clock (``lruvec.nonresident_age``, aged by evictions and activations:
``PhysMem.workingset_age_nonresident``); at eviction a shadow entry packs the clock with the
memcg id, the node and PG_workingset (``workingset_eviction``); at refault the distance between
the clock now and the packed one is compared with the workingset size, and a page that would
have stayed resident had the active list given way is activated (``workingset_refault``).  The
xa_nodes that hold only shadows are tracked on the ``shadow_nodes`` list (workingset_nodes) and
a shrinker can free them (``count_shadow_nodes`` / ``scan_shadow_nodes``, workingset_nodereclaim).

See memsim/workingset.pxd for the per-page API a page cache or swap cache uses.
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport pfn_t, PG_swapbacked, PG_workingset, PG_active, PG_head, PG_tail, PG_NODE_SHIFT, MAX_NR_ZONES
from memsim.page cimport page
from memsim.physmem cimport (PhysMem, lruvec, LRU_INACTIVE_ANON, LRU_ACTIVE_ANON,
                             LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)
from memsim.vmstat cimport (__mod_lruvec_page_state, __mod_node_page_state, WORKINGSET_NODES,
                            WORKINGSET_REFAULT_ANON, WORKINGSET_ACTIVATE_ANON,
                            WORKINGSET_RESTORE_ANON, WORKINGSET_NODERECLAIM,
                            zone_page_state_snapshot, NR_ZONE_INACTIVE_ANON)


cdef inline unsigned int fls_long(uint64_t x) noexcept nogil:
    """fls_long(): the 1-based index of the highest set bit, 0 for 0."""
    cdef unsigned int n = 0
    while x:
        n += 1
        x >>= 1
    return n


cdef inline int64_t nr_pages_of(page* p) noexcept nogil:
    """folio_nr_pages() / thp_nr_pages()."""
    return (1LL << p.compound_order) if p.flags & (1ULL << PG_head) else 1


cdef uint64_t lruvec_lru_pages(PhysMem pm, lruvec* lv, int lru) noexcept:
    """lruvec_page_state(lruvec, NR_LRU_BASE + lru): the list's pages in the lruvec's memcg and
    its descendants on its node; the node's lruvec (the root memcg's) counts the whole node
    (its zones' NR_ZONE_* snapshots), which is its own list while memcg has no lruvecs."""
    cdef uint64_t n = 0
    cdef int z, memcg
    cdef lruvec* c
    if lv.memcg_id == 0:
        if pm.lru_ops.mem_cgroup_iter == NULL:
            return lv.nr_pages[lru]
        for z in range(MAX_NR_ZONES):
            n += zone_page_state_snapshot(pm.vs, lv.nid * MAX_NR_ZONES + z, NR_ZONE_INACTIVE_ANON + lru)
        return n
    if pm.lru_ops.mem_cgroup_iter == NULL:
        return lv.nr_pages[lru]
    memcg = pm.lru_ops.mem_cgroup_iter(pm.lru_ops.ctx, lv.memcg_id, 0)
    while memcg:
        c = pm.lru_ops.mem_cgroup_lruvec(pm.lru_ops.ctx, memcg, lv.nid)
        if c != NULL:
            n += c.nr_pages[lru]
        memcg = pm.lru_ops.mem_cgroup_iter(pm.lru_ops.ctx, lv.memcg_id, memcg)
    return n


cdef class Workingset:
    """The workingset state of a machine: the shadow layout computed at boot (workingset_init)
    and the shadow-node list; the clocks live in the lruvecs (``PhysMem``)."""

    def __cinit__(self, PhysMem pm):
        self.pm = pm
        self.swap_out_slot = NULL
        self.shadow_nodes = {}
        self.test_recent_first = False
        self.workingset_init(sum(z["managed"] for z in pm.zones_info()))

    def workingset_init(self, uint64_t totalram_pages, unsigned int nodes_shift=10,
                        unsigned int memcg_id_shift=16):
        """workingset_init(): EVICTION_SHIFT = (BITS_PER_LONG - BITS_PER_XA_VALUE) +
        WORKINGSET_SHIFT + NODES_SHIFT + MEM_CGROUP_ID_SHIFT, the timestamp bits left, and the
        bucket order that lets them cover totalram_pages (the kernel prints "workingset:
        timestamp_bits=%d max_order=%d bucket_order=%u")."""
        self.nodes_shift = nodes_shift
        self.memcg_id_shift = memcg_id_shift
        self.eviction_shift = 1 + WORKINGSET_SHIFT + nodes_shift + memcg_id_shift
        self.eviction_mask = 0xffffffffffffffff >> self.eviction_shift
        self.timestamp_bits = BITS_PER_LONG - self.eviction_shift
        self.max_order = fls_long(totalram_pages - 1) if totalram_pages else 0
        self.bucket_order = self.max_order - self.timestamp_bits if self.max_order > self.timestamp_bits else 0

    @property
    def init_message(self):
        """The line workingset_init() logs."""
        return (f"workingset: timestamp_bits={self.timestamp_bits} max_order={self.max_order} "
                f"bucket_order={self.bucket_order}")

    # -- shadow entries -----------------------------------------------------------------------
    cdef uint64_t pack_shadow(self, int memcgid, int nid, uint64_t eviction, bint workingset) noexcept:
        """pack_shadow(): ``eviction`` (already shifted right by bucket_order, as v6.18's
        workingset_eviction does; v5.14 shifts inside pack_shadow: the same bits) masked to
        EVICTION_MASK, then the memcg id, the node id and the workingset bit, as xa_mk_value()."""
        eviction &= self.eviction_mask
        eviction = (eviction << self.memcg_id_shift) | <uint64_t>memcgid
        eviction = (eviction << self.nodes_shift) | <uint64_t>nid
        eviction = (eviction << WORKINGSET_SHIFT) | <uint64_t>workingset
        return (eviction << 1) | 1

    cdef void unpack_shadow(self, uint64_t shadow, int* memcgid, int* nid, uint64_t* eviction,
                            bint* workingset) noexcept:
        """unpack_shadow(): the fields back, the eviction timestamp shifted left by
        bucket_order (v6.18's workingset_test_recent does that shift; the same value)."""
        cdef uint64_t entry = shadow >> 1              # xa_to_value()
        workingset[0] = entry & ((1ULL << WORKINGSET_SHIFT) - 1)
        entry >>= WORKINGSET_SHIFT
        nid[0] = <int>(entry & ((1ULL << self.nodes_shift) - 1))
        entry >>= self.nodes_shift
        memcgid[0] = <int>(entry & ((1ULL << self.memcg_id_shift) - 1))
        entry >>= self.memcg_id_shift
        eviction[0] = entry << self.bucket_order

    def pack(self, int memcgid, int nid, uint64_t eviction, bint workingset):
        """pack_shadow() from Python (``eviction`` is the clock; bucket_order applies)."""
        return self.pack_shadow(memcgid, nid, eviction >> self.bucket_order, workingset)

    def unpack(self, uint64_t shadow):
        """unpack_shadow() from Python: (memcgid, nid, eviction, workingset)."""
        cdef int memcgid, nid
        cdef uint64_t eviction
        cdef bint workingset
        self.unpack_shadow(shadow, &memcgid, &nid, &eviction, &workingset)
        return memcgid, nid, eviction, bool(workingset)

    cdef lruvec* eviction_lruvec(self, int memcgid, int nid) noexcept:
        """mem_cgroup_lruvec(mem_cgroup_from_id(memcgid), NODE_DATA(nid)): the node's lruvec
        while memcg installs no ``lru_ops.mem_cgroup_lruvec``; NULL when the memcg is gone."""
        if nid >= self.pm.nr_nodes:
            return NULL
        if self.pm.lru_ops.mem_cgroup_lruvec != NULL:
            return self.pm.lru_ops.mem_cgroup_lruvec(self.pm.lru_ops.ctx, memcgid, nid)
        return &self.pm.lruvecs[nid]

    cdef bint swap_possible(self) noexcept:
        """mem_cgroup_get_nr_swap_pages() > 0: memsim's core counts no swap space, so swap is
        possible when the swap ops have a swap-out (``MmCore.swap.swap_out``)."""
        return self.swap_out_slot != NULL and self.swap_out_slot[0] != NULL

    cdef uint64_t workingset_eviction(self, pfn_t pfn, lruvec* target, int memcgid) noexcept:
        """workingset_eviction(page, target_memcg): the clock of the reclaim target's lruvec
        on the page's node (``target``; NULL: global reclaim, the node's lruvec — the root
        memcg's), then that lruvec ages by the page's size; returns the shadow packing the
        clock read before, ``memcgid`` (mem_cgroup_id(lruvec_memcg(lruvec)): 0 while memcg is
        disabled) and PG_workingset."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int nid = <int>((p.flags >> PG_NODE_SHIFT) & 0xff)
        cdef uint64_t eviction
        if target == NULL:
            target = &self.pm.lruvecs[nid]
        eviction = target.nonresident_age >> self.bucket_order
        self.pm.workingset_age_nonresident(target, nr_pages_of(p))
        return self.pack_shadow(memcgid, nid, eviction, (p.flags >> PG_workingset) & 1)

    cdef bint workingset_test_recent(self, uint64_t shadow, bint file, bint* workingset) noexcept:
        """workingset_test_recent() (v6.5+; the middle of v5.14's workingset_refault): the
        refault distance (clock now - clock at eviction, modulo EVICTION_MASK) is at most the
        workingset size of the eviction lruvec: NR_ACTIVE_FILE, plus NR_INACTIVE_FILE for an
        anon refault, plus the anon lists (active; inactive too for a file refault) when swap
        is possible -- the lruvec's hierarchical sizes (lruvec_page_state: a memcg's lruvec
        counts its descendants' pages; the node's own, the root memcg's, the whole node).
        False when the evicting memcg is gone."""
        cdef int memcgid, nid
        cdef uint64_t eviction, refault, distance, size
        cdef lruvec* lv
        self.unpack_shadow(shadow, &memcgid, &nid, &eviction, workingset)
        lv = self.eviction_lruvec(memcgid, nid)
        if lv == NULL:
            return False
        refault = lv.nonresident_age
        distance = (refault - eviction) & self.eviction_mask
        size = lruvec_lru_pages(self.pm, lv, LRU_ACTIVE_FILE)
        if not file:
            size += lruvec_lru_pages(self.pm, lv, LRU_INACTIVE_FILE)
        if self.swap_possible():
            size += lruvec_lru_pages(self.pm, lv, LRU_ACTIVE_ANON)
            if file:
                size += lruvec_lru_pages(self.pm, lv, LRU_INACTIVE_ANON)
        return distance <= size

    cdef int workingset_refault(self, pfn_t pfn, uint64_t shadow) except -1:
        """workingset_refault(page, shadow): a new page (not yet on the LRU) replaces the
        shadow of an evicted one.  workingset_refault_anon/file counts it on the page's lruvec;
        when the refault distance is within the workingset size (workingset_test_recent) the
        page is activated (SetPageActive: lru_cache_add puts it on the active list), its lruvec
        ages, workingset_activate_* counts it; if it was active before eviction (the shadow's
        workingset bit) it gets PG_workingset and workingset_restore_* counts it.

        v5.14 gives up before counting when the evicting memcg is gone, and counts (one) and
        ages on the *eviction's* node (mem_cgroup_lruvec(page_memcg(page), pgdat of the
        shadow)); v6.5+ (``test_recent_first``) counts first, ``nr`` pages, on the page's own
        node (folio_pgdat).  lru_note_cost_page() on a restore is not modelled (memsim's
        get_scan_count does not balance by cost)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef bint file = not (p.flags & (1ULL << PG_swapbacked))
        cdef int64_t nr = nr_pages_of(p)
        cdef bint workingset = False
        cdef int memcgid, nid
        cdef uint64_t eviction
        cdef lruvec* lv
        if self.test_recent_first:
            __mod_lruvec_page_state(self.pm.vs, p, WORKINGSET_REFAULT_ANON + file, nr)
            if not self.workingset_test_recent(shadow, file, &workingset):
                return 0
            p.flags |= 1ULL << PG_active
            self.pm.workingset_age_nonresident(self.pm.folio_lruvec(pfn), nr)
            __mod_lruvec_page_state(self.pm.vs, p, WORKINGSET_ACTIVATE_ANON + file, nr)
            if workingset:
                p.flags |= 1ULL << PG_workingset
                __mod_lruvec_page_state(self.pm.vs, p, WORKINGSET_RESTORE_ANON + file, nr)
            return 0
        self.unpack_shadow(shadow, &memcgid, &nid, &eviction, &workingset)
        if self.eviction_lruvec(memcgid, nid) == NULL:
            return 0
        # mem_cgroup_lruvec(memcg, pgdat): the node's lruvec without memcg; memcg's lruvec of
        # the page (on the page's node: memsim has no per-node lookup of a page's memcg yet)
        lv = &self.pm.lruvecs[nid] if self.pm.lru_ops.folio_lruvec == NULL else self.pm.folio_lruvec(pfn)
        self.inc_lruvec_state(p, nid, WORKINGSET_REFAULT_ANON + file)
        if not self.workingset_test_recent(shadow, file, &workingset):
            return 0
        p.flags |= 1ULL << PG_active
        self.pm.workingset_age_nonresident(lv, nr)
        self.inc_lruvec_state(p, nid, WORKINGSET_ACTIVATE_ANON + file)
        if workingset:
            p.flags |= 1ULL << PG_workingset
            self.inc_lruvec_state(p, nid, WORKINGSET_RESTORE_ANON + file)
        return 0

    cdef void inc_lruvec_state(self, page* p, int nid, int item) noexcept:
        """inc_lruvec_state() of v5.14's workingset_refault: node ``nid``'s counter, then the
        memcg part (the memcg lruvec counters op, with the page's memcg)."""
        __mod_node_page_state(self.pm.vs, nid, item, 1)
        if self.pm.vs.lruvec_ops.mod_memcg_lruvec_state != NULL:
            self.pm.vs.lruvec_ops.mod_memcg_lruvec_state(self.pm.vs.lruvec_ops.ctx, p, nid, item, 1)

    def refault_distance(self, uint64_t shadow):
        """The refault distance of ``shadow`` now (clock of its lruvec - clock at eviction,
        modulo EVICTION_MASK), or None when its memcg is gone."""
        cdef int memcgid, nid
        cdef uint64_t eviction
        cdef bint workingset
        cdef lruvec* lv
        self.unpack_shadow(shadow, &memcgid, &nid, &eviction, &workingset)
        lv = self.eviction_lruvec(memcgid, nid)
        if lv == NULL:
            return None
        return (lv.nonresident_age - eviction) & self.eviction_mask

    def test_recent(self, uint64_t shadow, bint file=True):
        """workingset_test_recent() from Python: (recent, workingset bit)."""
        cdef bint workingset = False
        cdef bint recent = self.workingset_test_recent(shadow, file, &workingset)
        return bool(recent), bool(workingset)

    def eviction(self, pfn_t pfn):
        """workingset_eviction() of ``pfn`` under global reclaim, from Python: the shadow."""
        return self.workingset_eviction(pfn, NULL, 0)

    def refault(self, pfn_t pfn, uint64_t shadow):
        """workingset_refault() from Python."""
        self.workingset_refault(pfn, shadow)

    def nonresident_age(self, int nid):
        """The eviction clock of node ``nid``'s lruvec."""
        if not 0 <= nid < self.pm.nr_nodes:
            raise ValueError(f"no node {nid}")
        return self.pm.lruvecs[nid].nonresident_age

    # -- shadow nodes --------------------------------------------------------------------------
    cdef int workingset_update_node(self, object mapping, uint64_t leaf, bint shadow_only,
                                    int nid) except -1:
        """workingset_update_node(): an xa_node (here: the 64 slots ``leaf`` of ``mapping``)
        that holds only shadow entries goes on the shadow_nodes list (workingset_nodes + 1 on
        ``nid``); one that holds a page again, or is freed, leaves it."""
        key = (mapping, leaf)
        if shadow_only:
            if key not in self.shadow_nodes:
                self.shadow_nodes[key] = nid
                __mod_node_page_state(self.pm.vs, nid, WORKINGSET_NODES, 1)
        else:
            old = self.shadow_nodes.pop(key, None)
            if old is not None:
                __mod_node_page_state(self.pm.vs, <int>old, WORKINGSET_NODES, -1)
        return 0

    def count_shadow_nodes(self, int nid):
        """count_shadow_nodes() of the shadow-node shrinker ("mm-shadow", seeks 0) for global
        reclaim of node ``nid``: the nodes on the list beyond max_nodes =
        node_present_pages >> (XA_CHUNK_SHIFT - 3) (one node per 8 pages).  0 when there are
        none (SHRINK_EMPTY).  The registered "mm-shadow" shrinker
        (memsim.shrinker.register_workingset_shadow_shrinker) reads the same count from the
        node's workingset_nodes and calls ``scan_shadow_nodes``."""
        cdef uint64_t nodes = 0, pages, max_nodes
        for v in self.shadow_nodes.values():
            if v == nid:
                nodes += 1
        if nodes == 0:
            return 0
        pages = sum(z["end_pfn"] - z["start_pfn"] for z in self.pm.zones_info() if z["node"] == nid)
        max_nodes = pages >> (XA_CHUNK_SHIFT - 3)
        return nodes - max_nodes if nodes > max_nodes else 0

    def scan_shadow_nodes(self, int nid, uint64_t nr_to_scan):
        """scan_shadow_nodes() -> shadow_lru_isolate(): free up to ``nr_to_scan`` of node
        ``nid``'s shadow-only xa_nodes, oldest first: each node's shadows leave the mapping's
        i_pages (xa_delete_node), workingset_nodes - 1, workingset_nodereclaim + 1.  Returns the
        nodes freed."""
        cdef uint64_t freed = 0
        cdef int64_t e
        victims = []
        for key, v in self.shadow_nodes.items():
            if freed + len(victims) >= nr_to_scan:
                break
            if v == nid:
                victims.append(key)
        for mapping, leaf in victims:
            del self.shadow_nodes[(mapping, leaf)]
            __mod_node_page_state(self.pm.vs, nid, WORKINGSET_NODES, -1)
            i_pages = mapping.i_pages
            first = leaf << XA_CHUNK_SHIFT
            values = 0
            for index in range(first, first + (1 << XA_CHUNK_SHIFT)):
                got = i_pages.get(index)
                if got is not None:
                    e = got
                    if xa_is_value(e):
                        del i_pages[index]
                        values += 1
            if mapping.keep_nrexceptional:  # before v5.13: nrexceptional -= node->nr_values
                mapping.nrexceptional -= values
            mapping.xa_delete_node(leaf)
            __mod_node_page_state(self.pm.vs, nid, WORKINGSET_NODERECLAIM, 1)
            freed += 1
        return freed

    def check(self, mappings):
        """The --check of the page caches (i_pages) of ``mappings``: nrpages the number of page
        entries (a walk of i_pages: since v5.13 nothing counts the value entries), and, before
        v5.13 (``keep_nrexceptional``), nrexceptional the number of value entries; every page
        entry a page of that mapping at that index, the xa_node counts and the shadow_nodes list
        as the entries make them.  Returns problems."""
        cdef int64_t e
        cdef page* p
        cdef page* hp
        problems = []
        expect_nodes = set()
        for mapping in mappings:
            shadows = 0
            pages = 0
            nodes = {}
            for index, got in mapping.i_pages.items():
                e = got
                st = nodes.get(index >> XA_CHUNK_SHIFT, 0)
                if xa_is_value(e):
                    shadows += 1
                    st += (1 << 8) + 1
                else:
                    st += 1
                    pages += 1
                    if <pfn_t>e >= self.pm.max_pfn:
                        problems.append(f"{mapping!r}: index {index} holds pfn {e:#x} beyond memory")
                        continue
                    p = &self.pm.mem_map[<pfn_t>e]
                    if p.flags & (1ULL << PG_tail):
                        # a page of a large folio (a multi-index entry): its head's mapping,
                        # at the head's index plus its offset, inside the entry's range
                        hp = &self.pm.mem_map[p.compound_head]
                        first = mapping.i_pages.get_order_py(index)
                        if hp.mapping != mapping.addr or hp.index + (<pfn_t>e - p.compound_head) != index \
                                or (1 << first) != (1 << hp.compound_order):
                            problems.append(f"{mapping!r}: index {index} holds pfn {e:#x} of the "
                                            f"folio {p.compound_head:#x} (order {hp.compound_order}, "
                                            f"entry order {first}) whose mapping/index are "
                                            f"{hp.mapping:#x}/{hp.index}")
                    elif p.mapping != mapping.addr or p.index != index:
                        problems.append(f"{mapping!r}: index {index} holds pfn {e:#x} whose "
                                        f"mapping/index are {p.mapping:#x}/{p.index}")
                    elif p.flags & (1ULL << PG_head) and \
                            mapping.i_pages.get_order_py(index) != p.compound_order:
                        problems.append(f"{mapping!r}: index {index} holds the folio {e:#x} of "
                                        f"order {p.compound_order} in an entry of order "
                                        f"{mapping.i_pages.get_order_py(index)}")
                nodes[index >> XA_CHUNK_SHIFT] = st
            if pages != mapping.nrpages:
                problems.append(f"{mapping!r}: {pages} page entries, nrpages says "
                                f"{mapping.nrpages}")
            if mapping.keep_nrexceptional and shadows != mapping.nrexceptional:
                problems.append(f"{mapping!r}: {shadows} shadow entries, nrexceptional says "
                                f"{mapping.nrexceptional}")
            if nodes != mapping.xa_nodes:
                problems.append(f"{mapping!r}: xa_node counts {mapping.xa_nodes} differ from "
                                f"the entries' {nodes}")
            for leaf, st in nodes.items():
                # mapping_set_update(): only nodes of mappings that are neither shmem (whose
                # value entries are swap entries) nor DAX go on the list
                if st & 0xff == st >> 8 and not mapping.swapbacked:
                    expect_nodes.add((mapping, leaf))
        nodes_stat = self.pm.vmstat.global_node_page_state_snapshot(WORKINGSET_NODES)
        if nodes_stat != len(self.shadow_nodes):
            problems.append(f"workingset_nodes is {nodes_stat}, the shadow_nodes list holds "
                            f"{len(self.shadow_nodes)}")
        ids = {id(m) for m in mappings}
        listed = {k for k in self.shadow_nodes if id(k[0]) in ids}
        if expect_nodes != listed:
            problems.append(f"shadow_nodes lists {len(listed)} nodes of these mappings, "
                            f"{len(expect_nodes)} hold only shadows")
        return problems
