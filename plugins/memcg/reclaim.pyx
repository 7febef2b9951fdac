# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Reclaim from memory cgroups: each memcg's lruvecs, mem_cgroup_iter, memory.min / memory.low
and memcg limit reclaim (the memcg parts of mm/memcontrol.c and mm/vmscan.c of v5.14).

* **lruvecs** (mem_cgroup_per_node.lruvec): every non-root memcg has one lruvec per node,
  made when its css comes online (``css_online``); the root memcg's lruvec on a node is the
  node's own (``PhysMem.lruvecs``), so a machine without cgroups reclaims exactly as before.
  The core finds them through ``PhysMem.lru_ops`` (folio_lruvec / mem_cgroup_page_lruvec,
  parent_lruvec, mem_cgroup_lruvec, mem_cgroup_iter), all C: a page's lruvec is an index by the
  id its ``memcg_data`` holds.  A freed memcg's id has no lruvec: mem_cgroup_lruvec() of it is
  NULL, so a shadow entry naming it gives up in workingset_refault.  LRU pages hold css
  references, so a memcg's lruvecs are empty when it is freed (``css_free`` checks it).
* **mem_cgroup_iter**: the pre-order walk of a subtree, the css children oldest first, dying
  memcgs included (css_tryget, not css_tryget_online, takes them) until they are freed.
* **protection** (``Vmscan.memcg``, memcg_reclaim_ops): mem_cgroup_calculate_protection() and
  effective_protection() (emin / elow distributed down the tree in proportion to usage, the
  children's protected usage summed as propagate_protected_usage() keeps it; the unclaimed
  rest only with memory_recursiveprot), mem_cgroup_below_min / _below_low (v6.3+: never for the
  root or the reclaim target, ``unprotected_target``), mem_cgroup_protection() for
  get_scan_count's proportional scan, memory.events ``low``, and the memcg's pgscan / pgsteal /
  pgrefill / pgdeactivate.
* **limit reclaim**: ``try_to_free_mem_cgroup_pages`` is MemcgHost's ``reclaim`` slot:
  Vmscan.try_to_free_mem_cgroup_pages (shrink_node_memcgs over the memcg's subtree).
* **swap space**: ``mem_cgroup_get_nr_swap_pages`` (the free slots, on v2 limited by each
  level's swap.max); ``get_nr_swap_pages_op`` is it in the form of a reclaim op.  The core's
  get_scan_count does not ask it yet: its can_reclaim_anon_pages() takes no memcg, so a memcg
  at its swap.max still has its anon lists scanned (and its swap-outs refused by
  try_charge_swap).
"""
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Realloc
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, NIL32, PG_NODE_SHIFT
from memsim.physmem cimport PhysMem, lruvec, NR_LRU_LISTS, MEMCG_DATA_OBJCGS, MEMCG_DATA_KMEM
from memsim.vmscan cimport Vmscan
from memsim.plugins.memcg.memcontrol cimport MemcgHost, MemCgroup, MEMCG_LOW, count_memcg_events


cdef class MemcgReclaim:
    """The memcg side of reclaim on one machine: made by the memcg plugin after its
    :class:`MemcgHost`, it installs the lruvec ops, the memcg reclaim ops and the host's
    ``reclaim`` slot.  ``css_online`` / ``css_free`` follow each memcg's life."""

    def __cinit__(self, MemcgHost host, Vmscan vmscan, bint unprotected_target=False):
        self.host = host
        self.pm = vmscan.pm
        self.vmscan = vmscan
        self.nr_nodes = self.pm.nr_nodes
        self.root_id = host.root.id
        self.cap = 0
        self.recursive_prot = False
        self.unprotected_target = unprotected_target
        self._grow(64)

    def __dealloc__(self):
        cdef int i
        if self.lruvecs != NULL:
            for i in range(self.cap):
                PyMem_Free(self.lruvecs[i])
        PyMem_Free(self.lruvecs)
        PyMem_Free(self.parent)
        PyMem_Free(self.first_child)
        PyMem_Free(self.last_child)
        PyMem_Free(self.next_sibling)
        PyMem_Free(self.emin)
        PyMem_Free(self.elow)

    cdef _grow(self, int need):
        cdef int cap = self.cap if self.cap else 64
        cdef lruvec** lv
        while cap < need:
            cap *= 2
        if cap == self.cap:
            return
        lv = <lruvec**>PyMem_Realloc(self.lruvecs, cap * sizeof(lruvec*))
        if lv == NULL:
            raise MemoryError()
        self.lruvecs = lv
        memset(&self.lruvecs[self.cap], 0, (cap - self.cap) * sizeof(lruvec*))
        self.parent = <int*>_grow_ints(self.parent, self.cap, cap)
        self.first_child = <int*>_grow_ints(self.first_child, self.cap, cap)
        self.last_child = <int*>_grow_ints(self.last_child, self.cap, cap)
        self.next_sibling = <int*>_grow_ints(self.next_sibling, self.cap, cap)
        self.emin = <uint64_t*>_grow_u64(self.emin, self.cap, cap)
        self.elow = <uint64_t*>_grow_u64(self.elow, self.cap, cap)
        self.cap = cap

    def install(self):
        """Fill PhysMem.lru_ops, Vmscan.memcg and MemcgHost.reclaim."""
        self.pm.lru_ops.folio_lruvec = _folio_lruvec
        self.pm.lru_ops.parent_lruvec = _parent_lruvec
        self.pm.lru_ops.mem_cgroup_lruvec = _mem_cgroup_lruvec
        self.pm.lru_ops.mem_cgroup_iter = _mem_cgroup_iter
        self.pm.lru_ops.ctx = <void*>self
        self.vmscan.memcg.mem_cgroup_calculate_protection = _calculate_protection
        self.vmscan.memcg.mem_cgroup_below_min = _below_min
        self.vmscan.memcg.mem_cgroup_below_low = _below_low
        self.vmscan.memcg.mem_cgroup_protection = _protection
        self.vmscan.memcg.mem_cgroup_size = _size
        self.vmscan.memcg.mem_cgroup_online = _online
        self.vmscan.memcg.memcg_memory_event = _memory_event
        self.vmscan.memcg.count_memcg_events = _count_memcg_events
        self.vmscan.memcg.mem_cgroup_get_nr_swap_pages = get_nr_swap_pages_op
        self.vmscan.memcg.ctx = <void*>self
        self.host.reclaim = self.try_to_free_mem_cgroup_pages

    def uninstall(self):
        memset(&self.pm.lru_ops, 0, sizeof(self.pm.lru_ops))
        memset(&self.vmscan.memcg, 0, sizeof(self.vmscan.memcg))
        self.host.reclaim = None

    # -- the css lifecycle ------------------------------------------------------------------------
    def css_online(self, MemCgroup m):
        """mem_cgroup_css_alloc()'s lruvec_init() of every node, and the css linked as its
        parent's youngest child (the order mem_cgroup_iter walks)."""
        cdef int id = m.id, p, n, lru
        cdef lruvec* lv
        if m.parent is None:
            return                          # the root: the nodes' own lruvecs
        if id >= self.cap:
            self._grow(id + 1)
        if self.lruvecs[id] != NULL:
            raise ValueError(f"memcg {id} is online already")
        lv = <lruvec*>PyMem_Calloc(self.nr_nodes, sizeof(lruvec))
        if lv == NULL:
            raise MemoryError()
        for n in range(self.nr_nodes):
            lv[n].nid = n
            lv[n].memcg_id = id
            for lru in range(NR_LRU_LISTS):
                lv[n].head[lru] = NIL32
        self.lruvecs[id] = lv
        p = m.parent.id
        self.parent[id] = p
        self.first_child[id] = self.last_child[id] = self.next_sibling[id] = 0
        self.emin[id] = self.elow[id] = 0
        if self.last_child[p]:
            self.next_sibling[self.last_child[p]] = id
        else:
            self.first_child[p] = id
        self.last_child[p] = id

    def css_free(self, MemCgroup m):
        """mem_cgroup_css_free(): the memcg's lruvecs go and it leaves its parent's children.
        Returns the LRU pages still on its lruvecs (0: LRU pages hold css references, so a
        freed memcg has none; more is a bug --check reports)."""
        cdef int id = m.id, p, c, n, lru
        cdef uint64_t left = 0
        if id <= 0 or id >= self.cap or self.lruvecs[id] == NULL:
            return 0
        for n in range(self.nr_nodes):
            for lru in range(NR_LRU_LISTS):
                left += self.lruvecs[id][n].nr_pages[lru]
        if left:
            return left                     # keep them: a page still links into the lists
        PyMem_Free(self.lruvecs[id])
        self.lruvecs[id] = NULL
        p = self.parent[id]
        if self.first_child[p] == id:
            self.first_child[p] = self.next_sibling[id]
            if self.last_child[p] == id:
                self.last_child[p] = 0
        else:
            c = self.first_child[p]
            while c and self.next_sibling[c] != id:
                c = self.next_sibling[c]
            if c:
                self.next_sibling[c] = self.next_sibling[id]
                if self.last_child[p] == id:
                    self.last_child[p] = c
        self.parent[id] = self.next_sibling[id] = 0
        return 0

    # -- lookups ----------------------------------------------------------------------------------
    cdef MemCgroup memcg(self, int id):
        if id == 0:
            id = self.root_id
        if id <= 0 or id >= self.host.id_cap or self.host.by_id[id] == NULL:
            return None
        return <MemCgroup>self.host.by_id[id]

    cdef int iter_next(self, int root, int prev) noexcept:
        """mem_cgroup_iter(root, prev, NULL): pre-order, ``root`` (0: the root memcg) first.
        As the kernel's, it takes a css reference on the memcg it returns (css_tryget) and
        drops the one on ``prev`` (css_put), so a dying memcg whose last page the caller
        reclaims is freed only once the walk has left it; every caller walks to the end."""
        cdef int x, nxt = 0
        cdef MemCgroup m
        if root == 0:
            root = self.root_id
        if prev == 0:
            nxt = root
        elif prev < self.cap and self.first_child[prev]:
            nxt = self.first_child[prev]
        else:
            x = prev
            while x != root and x > 0 and x < self.cap:
                if self.next_sibling[x]:
                    nxt = self.next_sibling[x]
                    break
                x = self.parent[x]
        if nxt:
            m = self.memcg(nxt)
            if m is not None:
                m.css_refs += 1             # css_tryget()
        if prev:
            m = self.memcg(prev)
            if m is not None:
                try:
                    self.host.css_put(m, 1)
                except BaseException:
                    pass                    # a release hook's error; the walk goes on
        return nxt

    def mem_cgroup_iter(self, MemCgroup root=None):
        """The memcg ids of ``root``'s subtree (None: everything) in mem_cgroup_iter's order."""
        cdef int r = 0 if root is None else root.id
        out = []
        cdef int id = self.iter_next(r, 0)
        while id:
            out.append(id)
            id = self.iter_next(r, id)
        return out

    def lru_sizes(self, MemCgroup m, int nid=0):
        """The lruvec's nr_pages of memcg ``m`` on node ``nid`` (the root: the node's own):
        [inactive_anon, active_anon, inactive_file, active_file, unevictable]."""
        cdef lruvec* lv = _mem_cgroup_lruvec(<void*>self, m.id, nid)
        if lv == NULL:
            raise ValueError(f"memcg {m.id} has no lruvec on node {nid}")
        return [lv.nr_pages[i] for i in range(NR_LRU_LISTS)]

    # -- protection (mem_cgroup_calculate_protection, effective_protection) ---------------------
    cdef uint64_t children_usage(self, int id, bint low) noexcept:
        """page_counter.children_min_usage / children_low_usage of memcg ``id``: the sum over
        its children of min(usage, min) (low), as propagate_protected_usage() keeps it at
        every charge."""
        cdef uint64_t total = 0, usage, prot
        cdef int c = self.first_child[id]
        cdef MemCgroup m
        while c:
            m = self.memcg(c)
            if m is not None:
                usage = <uint64_t>m.memory.usage if m.memory.usage > 0 else 0
                prot = <uint64_t>(m.memory.low if low else m.memory.min)
                total += usage if usage < prot else prot
            c = self.next_sibling[c]
        return total

    cdef void calculate_protection(self, int root, int id) noexcept:
        """mem_cgroup_calculate_protection(root, memcg): nothing for the reclaim target itself
        (its stale values are ignored by mem_cgroup_protection) or an unused memcg; a child of
        the target gets its memory.min / memory.low as emin / elow; deeper ones their
        effective_protection() from the parent's."""
        cdef MemCgroup m, parent
        cdef uint64_t usage, parent_usage
        if root == 0:
            root = self.root_id
        if id == 0:
            id = self.root_id
        if id == root:
            return
        m = self.memcg(id)
        if m is None or m.memory.usage <= 0:
            return
        usage = <uint64_t>m.memory.usage
        parent = m.parent
        if parent is None:
            return
        if parent.id == root:
            self.emin[id] = <uint64_t>m.memory.min
            self.elow[id] = <uint64_t>m.memory.low
            return
        parent_usage = <uint64_t>parent.memory.usage if parent.memory.usage > 0 else 0
        self.emin[id] = effective_protection(usage, parent_usage, <uint64_t>m.memory.min,
                                             self.emin[parent.id], self.children_usage(parent.id, False),
                                             self.recursive_prot)
        self.elow[id] = effective_protection(usage, parent_usage, <uint64_t>m.memory.low,
                                             self.elow[parent.id], self.children_usage(parent.id, True),
                                             self.recursive_prot)

    def protection(self, MemCgroup m, MemCgroup root=None):
        """mem_cgroup_calculate_protection(root, m) from Python: (emin, elow) in pages."""
        self.calculate_protection(0 if root is None else root.id, m.id)
        return self.emin[m.id], self.elow[m.id]

    # -- swap space (mem_cgroup_get_nr_swap_pages) -------------------------------------------------
    cdef int64_t mem_cgroup_get_nr_swap_pages(self, int id) noexcept:
        """mem_cgroup_get_nr_swap_pages(): the free swap slots (get_nr_swap_pages(): the core's
        ``MmCore.swap.nr_swap_pages``, NULL as many as wanted; 0 without a swap-out op, i.e.
        no swap), on cgroup v2 further limited by swap.max - swap usage of the memcg (``id``; 0:
        the root) and each ancestor below the root, which may make it negative.  Reclaim
        scans a memcg's anon lists only while it is > 0 (can_reclaim_anon_pages)."""
        cdef Vmscan v = self.vmscan
        cdef int64_t nr, left
        cdef MemCgroup m
        if v.core is None or v.core.swap.swap_out == NULL:
            return 0
        if v.core.swap.nr_swap_pages == NULL:
            nr = 0x7fffffffffffffff
        else:
            nr = v.core.swap.nr_swap_pages(v.core.swap.ctx)
        if self.host.v1:
            return nr
        m = self.memcg(id)
        while m is not None and m.parent is not None:
            left = m.swap.max - m.swap.usage
            if left < nr:
                nr = left
            m = m.parent
        return nr

    def get_nr_swap_pages(self, MemCgroup memcg=None):
        """mem_cgroup_get_nr_swap_pages(memcg) from Python (None: the root memcg)."""
        return self.mem_cgroup_get_nr_swap_pages(0 if memcg is None else memcg.id)

    # -- the reclaim slot -------------------------------------------------------------------------
    def try_to_free_mem_cgroup_pages(self, MemCgroup memcg, int64_t nr_pages, gfp_t gfp, bint may_swap):
        """MemcgHost.reclaim: try_to_free_mem_cgroup_pages(memcg, nr_pages, gfp, may_swap) ->
        the pages reclaimed from ``memcg``'s subtree."""
        if memcg is None or memcg.parent is None:
            raise ValueError("memcg limit reclaim needs a non-root memcg")
        return self.vmscan.try_to_free_mem_cgroup_pages(memcg.id, <uint64_t>(nr_pages if nr_pages > 0 else 0),
                                                         gfp, may_swap)


cdef int64_t get_nr_swap_pages_op(void* ctx, int memcg) noexcept:
    """mem_cgroup_get_nr_swap_pages() as a memcg_reclaim_ops slot would call it."""
    return (<MemcgReclaim>ctx).mem_cgroup_get_nr_swap_pages(memcg)


cdef void* _grow_ints(void* p, int old, int cap) except NULL:
    cdef int* q = <int*>PyMem_Realloc(p, cap * sizeof(int))
    if q == NULL:
        raise MemoryError()
    memset(&q[old], 0, (cap - old) * sizeof(int))
    return q


cdef void* _grow_u64(void* p, int old, int cap) except NULL:
    cdef uint64_t* q = <uint64_t*>PyMem_Realloc(p, cap * sizeof(uint64_t))
    if q == NULL:
        raise MemoryError()
    memset(&q[old], 0, (cap - old) * sizeof(uint64_t))
    return q


cdef uint64_t effective_protection(uint64_t usage, uint64_t parent_usage, uint64_t setting,
                                   uint64_t parent_effective, uint64_t siblings_protected,
                                   bint recursive_prot) noexcept:
    """effective_protection() (v5.14): the protected usage, min(usage, setting), scaled down
    when the siblings together claim more than the parent's effective protection; with
    memory_recursiveprot, plus a share of the parent's unclaimed protection in proportion to
    the unprotected usage."""
    cdef uint64_t protected = usage if usage < setting else setting
    cdef uint64_t ep, unclaimed
    if siblings_protected > parent_effective:
        return protected * parent_effective // siblings_protected
    ep = protected
    if not recursive_prot:
        return ep
    if parent_effective > siblings_protected and parent_usage > siblings_protected and usage > protected:
        unclaimed = parent_effective - siblings_protected
        unclaimed *= usage - protected
        unclaimed //= parent_usage - siblings_protected
        ep += unclaimed
    return ep


# -- the ops tables ---------------------------------------------------------------------------------

cdef lruvec* _folio_lruvec(void* ctx, pfn_t pfn) noexcept:
    """folio_lruvec() / mem_cgroup_page_lruvec(): the lruvec of the page's memcg on the page's
    node; NULL (the node's own) for the root memcg and an uncharged page."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef uint64_t data = r.pm.mem_map[pfn].memcg_data
    cdef uint64_t id = data >> 2
    if data == 0 or data & (MEMCG_DATA_OBJCGS | MEMCG_DATA_KMEM) or id >= <uint64_t>r.cap \
            or r.lruvecs[id] == NULL:
        return NULL
    return &r.lruvecs[id][(r.pm.mem_map[pfn].flags >> PG_NODE_SHIFT) & 0xff]


cdef lruvec* _parent_lruvec(void* ctx, lruvec* lv) noexcept:
    """parent_lruvec(): the parent memcg's lruvec on the same node; NULL at the root."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef int p
    if lv.memcg_id <= 0 or lv.memcg_id >= r.cap:
        return NULL
    p = r.parent[lv.memcg_id]
    if p <= 0 or p == r.root_id or r.lruvecs[p] == NULL:
        return &r.pm.lruvecs[lv.nid]
    return &r.lruvecs[p][lv.nid]


cdef lruvec* _mem_cgroup_lruvec(void* ctx, int memcgid, int nid) noexcept:
    """mem_cgroup_lruvec(mem_cgroup_from_id(id), NODE_DATA(nid)); NULL when no memcg has
    that id (it was freed)."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    if nid < 0 or nid >= r.nr_nodes:
        return NULL
    if memcgid == 0 or memcgid == r.root_id:
        return &r.pm.lruvecs[nid]
    if memcgid < 0 or memcgid >= r.cap or r.lruvecs[memcgid] == NULL:
        return NULL
    return &r.lruvecs[memcgid][nid]


cdef int _mem_cgroup_iter(void* ctx, int root, int prev) noexcept:
    return (<MemcgReclaim>ctx).iter_next(root, prev)


cdef void _calculate_protection(void* ctx, int root, int memcg) noexcept:
    (<MemcgReclaim>ctx).calculate_protection(root, memcg)


cdef inline bint _unprotected(MemcgReclaim r, int root, int memcg) noexcept:
    """mem_cgroup_supports_protection() (v5.14: the root memcg is never protected) and v6.3+
    mem_cgroup_unprotected() (nor is the reclaim target)."""
    if memcg == 0 or memcg == r.root_id:
        return True
    return r.unprotected_target and memcg == root


cdef bint _below_min(void* ctx, int root, int memcg) noexcept:
    """mem_cgroup_below_min(): emin >= usage."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef MemCgroup m
    if _unprotected(r, root, memcg):
        return False
    m = r.memcg(memcg)
    return m is not None and <int64_t>r.emin[memcg] >= m.memory.usage


cdef bint _below_low(void* ctx, int root, int memcg) noexcept:
    """mem_cgroup_below_low(): elow >= usage."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef MemCgroup m
    if _unprotected(r, root, memcg):
        return False
    m = r.memcg(memcg)
    return m is not None and <int64_t>r.elow[memcg] >= m.memory.usage


cdef void _protection(void* ctx, int root, int memcg, uint64_t* pmin, uint64_t* plow) noexcept:
    """mem_cgroup_protection(): emin and elow, none for the reclaim target itself (and the root
    memcg, which has none)."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    pmin[0] = plow[0] = 0
    if memcg == 0 or memcg == r.root_id or memcg == root:
        return
    if memcg < r.cap:
        pmin[0] = r.emin[memcg]
        plow[0] = r.elow[memcg]


cdef uint64_t _size(void* ctx, int memcg) noexcept:
    """mem_cgroup_size(): page_counter_read(&memcg->memory)."""
    cdef MemCgroup m = (<MemcgReclaim>ctx).memcg(memcg)
    return <uint64_t>m.memory.usage if m is not None and m.memory.usage > 0 else 0


cdef bint _online(void* ctx, int memcg) noexcept:
    """mem_cgroup_online()."""
    cdef MemCgroup m = (<MemcgReclaim>ctx).memcg(memcg)
    return m is None or m.online


cdef void _memory_event(void* ctx, int memcg, int event) noexcept:
    """memcg_memory_event() (MEMCG_LOW from shrink_node_memcgs)."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef MemCgroup m = r.memcg(memcg)
    if m is not None:
        r.host.memory_event(m, MEMCG_LOW if event == 0 else event)


cdef void _count_memcg_events(void* ctx, int memcg, int item, uint64_t n) noexcept:
    """__count_memcg_events(): a vm event of the lruvec's memcg (pgscan, pgsteal, ...)."""
    cdef MemcgReclaim r = <MemcgReclaim>ctx
    cdef MemCgroup m = r.memcg(memcg)
    if m is not None:
        count_memcg_events(r.host, m, item, n)
