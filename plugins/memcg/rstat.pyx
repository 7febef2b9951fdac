# cython: language_level=3, boundscheck=False, wraparound=False
"""The memcg statistics engine: per-CPU counters, the rstat updated tree and its flush
(mm/memcontrol.c, kernel/cgroup/rstat.c; memcg.md section 6).

One :class:`StatTree` per machine holds the item descriptions and the mode; one
:class:`MemcgStats` per memory cgroup holds its counters.  The plugin's charging code calls
``StatTree.mod_state()`` and ``StatTree.count_event()`` from C for every update; they never call
into Python.  memory.stat readers call :meth:`StatTree.stat_flush_for_read` and then
:meth:`StatTree.read` (and friends).  Three modes:

``EXACT`` (v5.13/v5.14, the seed change "memcg-rstat" on)
    ``__mod_memcg_state()`` adds to the per-CPU counter and calls ``cgroup_rstat_updated()``,
    which links (memcg, cpu) and its ancestors into the CPU's updated tree.  A memory.stat read
    (``memory_stat_format()``, ``memcg_stat_show()``) calls ``cgroup_rstat_flush()`` on the
    reader's subtree, so the hierarchical values it prints are exact.

``THROTTLED`` (v6.18)
    The same per-CPU counters and flush callback, but ``memcg_rstat_updated()`` also counts
    |delta| (in pages, ``memcg_state_val_in_pages()``) in a per-CPU ``stats_updates`` of the
    memcg and each ancestor; a per-CPU counter that reaches MEMCG_CHARGE_BATCH (64) moves into
    that level's ``vmstats->stats_updates``.  ``mem_cgroup_flush_stats()`` (what memory.stat
    calls) flushes the memcg's subtree only when ``memcg_vmstats_needs_flush()``:
    stats_updates > MEMCG_CHARGE_BATCH * num_online_cpus().  ``flush_memcg_stats_dwork()``
    flushes the root's subtree every FLUSH_TIME (2 s) regardless (:meth:`periodic_flush`).
    Linking is deferred as in v6.17+: ``css_rstat_updated()`` pushes (memcg, cpu) on a per-CPU
    lockless list, and the flush builds the tree from it (``css_process_update_tree()``) and
    visits it in the order ``css_rstat_updated_list()`` produces.

``BATCHED`` (before v5.13, the seed change off)
    ``__mod_memcg_state()`` keeps a per-CPU delta; once |x| exceeds 32 pages (32 << PAGE_SHIFT
    for byte items; x > 32 for events) it adds x to the memcg's and every ancestor's
    hierarchical counter and to the local counter, and resets the CPU's delta.  Reads never
    look at the per-CPU rests, so a subtree read can miss up to 32 pages x CPUs x memcgs.

Reads (``memcg_page_state()`` and friends) clamp state items at 0, as the kernel does on SMP.
Values are in the item's unit (pages, bytes or KiB); events are plain counts.
"""
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free
from memsim._types cimport PAGE_SIZE, PAGE_SHIFT

# Python names of the modes and units
BATCHED = RSTAT_BATCHED
EXACT = RSTAT_EXACT
THROTTLED = RSTAT_THROTTLED
MODES = {"batched": RSTAT_BATCHED, "exact": RSTAT_EXACT, "throttled": RSTAT_THROTTLED}
UNIT_PAGES = STAT_UNIT_PAGES
UNIT_BYTES = STAT_UNIT_BYTES
UNIT_KB = STAT_UNIT_KB
UNITS = {"pages": STAT_UNIT_PAGES, "bytes": STAT_UNIT_BYTES, "kb": STAT_UNIT_KB}

#: MEMCG_CHARGE_BATCH up to v6.x (the batch of the old write-side propagation, 5.14's stock)
MEMCG_CHARGE_BATCH_V5 = 32
#: MEMCG_CHARGE_BATCH in v6.18 (the stats_updates threshold of memcg_rstat_updated())
MEMCG_CHARGE_BATCH_V618 = 64
#: FLUSH_TIME (2UL*HZ): the period of flush_memcg_stats_dwork(), in nanoseconds
FLUSH_TIME_NS = 2_000_000_000


#: the enabled byte of an event nobody declared (v5.14: no memcg events)
cdef uint8_t _EVENT_OFF = 0


cdef inline int64_t _abs64(int64_t x) noexcept nogil:
    return -x if x < 0 else x


cdef class MemcgStats:
    """The statistics of one memory cgroup (made by :meth:`StatTree.new_memcg`).

    The Python methods below are for tests and introspection; reads that a file shows go
    through the :class:`StatTree`.
    """

    def __cinit__(self, StatTree tree, MemcgStats parent, int id):
        cdef int n = tree.nr_items, ncpus = tree.ncpus, cpu
        self.tree = tree
        self.parent = parent
        self.id = id
        self.vm = <memcg_vmstats*>calloc(1, sizeof(memcg_vmstats))
        if self.vm == NULL:
            raise MemoryError()
        self.vm.id = id
        self.vm.parent = parent.vm if parent is not None else NULL
        # one block: state, state_local, state_pending, then the per-CPU values and prevs
        self.vm.state = <int64_t*>calloc(<size_t>(3 + 2 * ncpus) * n + ncpus + 1, sizeof(int64_t))
        self.vm.rstat_cpu = <css_rstat_cpu*>calloc(ncpus, sizeof(css_rstat_cpu))
        if self.vm.state == NULL or self.vm.rstat_cpu == NULL:
            raise MemoryError()
        self.vm.state_local = self.vm.state + n
        self.vm.state_pending = self.vm.state + 2 * n
        self.vm.pcpu_state = self.vm.state + 3 * n
        self.vm.pcpu_prev = self.vm.pcpu_state + ncpus * n
        self.vm.pcpu_stats_updates = self.vm.pcpu_prev + ncpus * n
        # css_rstat_init(): ->updated_children is self terminated
        for cpu in range(ncpus):
            self.vm.rstat_cpu[cpu].updated_children = self.vm

    def __dealloc__(self):
        if self.vm != NULL:
            free(self.vm.state)
            free(self.vm.rstat_cpu)
            free(self.vm)
            self.vm = NULL

    def __repr__(self):
        return f"<MemcgStats id={self.id}{' released' if self.released else ''}>"

    cdef int _index(self, int item, bint event) except -1:
        cdef StatTree t = self.tree
        if event:
            if not 0 <= item < t.nr_events:
                raise ValueError(f"event item {item}: out of range; there are {t.nr_events} events")
            return t.nr_stat + item
        if not 0 <= item < t.nr_stat:
            raise ValueError(f"state item {item}: out of range; there are {t.nr_stat} state items")
        return item

    def aggregated(self, int item, bint event=False):
        """vmstats->state[item] (or ->events[item]) unclamped: the hierarchical value as of the
        last flush (BATCHED: the batches that reached this level)."""
        return self.vm.state[self._index(item, event)]

    def local(self, int item, bint event=False):
        """vmstats->state_local[item] unclamped (BATCHED: the local batched counter)."""
        return self.vm.state_local[self._index(item, event)]

    def pending(self, int item, bint event=False):
        """vmstats->state_pending[item]: deltas of flushed children not aggregated here yet."""
        return self.vm.state_pending[self._index(item, event)]

    def percpu(self, int cpu, int item, bint event=False):
        """The per-CPU counter (vmstats_percpu->state[item]); BATCHED: the unbatched rest."""
        cdef int i = self._index(item, event)
        self.tree._check_cpu(cpu)
        return self.vm.pcpu_state[cpu * self.tree.nr_items + i]

    def updated_children(self, int cpu):
        """The ids on this memcg's updated_children list on ``cpu``, head first."""
        cdef memcg_vmstats* pos
        self.tree._check_cpu(cpu)
        out = []
        pos = self.vm.rstat_cpu[cpu].updated_children
        while pos != self.vm:
            out.append(pos.id)
            pos = pos.rstat_cpu[cpu].updated_next
        return out

    def updated_next(self, int cpu):
        """The id updated_next points at on ``cpu`` (the parent's next child, the parent
        itself at the end of its list, this memcg for the root's self-mark), or None."""
        self.tree._check_cpu(cpu)
        cdef memcg_vmstats* nxt = self.vm.rstat_cpu[cpu].updated_next
        return None if nxt == NULL else nxt.id

    def linked(self, int cpu):
        """Whether (memcg, cpu) is in the updated tree, or waiting on the CPU's lockless list
        to be linked at the next flush (THROTTLED)."""
        self.tree._check_cpu(cpu)
        return self.vm.rstat_cpu[cpu].updated_next != NULL or self.vm.rstat_cpu[cpu].on_llist

    @property
    def stats_updates(self):
        """THROTTLED: vmstats->stats_updates (the update units past the per-CPU batches)."""
        return self.vm.stats_updates

    def pcpu_stats_updates(self, int cpu):
        """THROTTLED: vmstats_percpu->stats_updates on ``cpu``."""
        self.tree._check_cpu(cpu)
        return self.vm.pcpu_stats_updates[cpu]


cdef class StatTree:
    """The memcg statistics of one machine.

    :param ncpus: possible (= online) CPUs
    :param state_units: one unit per state item: ``UNIT_PAGES``, ``UNIT_BYTES`` or ``UNIT_KB``
        (or "pages", "bytes", "kb")
    :param nr_events: number of event items
    :param mode: ``EXACT``, ``THROTTLED`` or ``BATCHED`` (or their lowercase names)
    :param charge_batch: MEMCG_CHARGE_BATCH; default 64 for THROTTLED (v6.18), else 32
    """

    def __cinit__(self, int ncpus, state_units, int nr_events, mode, charge_batch=None):
        cdef int i
        if ncpus < 1:
            raise ValueError(f"ncpus={ncpus}: a machine has at least one CPU; pass ncpus >= 1")
        if nr_events < 0:
            raise ValueError(f"nr_events={nr_events}: must be >= 0")
        if isinstance(mode, str):
            if mode.lower() not in MODES:
                raise ValueError(f"mode {mode!r}: unknown; use one of {', '.join(MODES)}")
            mode = MODES[mode.lower()]
        if mode not in (RSTAT_BATCHED, RSTAT_EXACT, RSTAT_THROTTLED):
            raise ValueError(f"mode {mode!r}: unknown; use EXACT, THROTTLED or BATCHED")
        units = [UNITS[u.lower()] if isinstance(u, str) else int(u) for u in state_units]
        for u in units:
            if u not in (STAT_UNIT_PAGES, STAT_UNIT_BYTES, STAT_UNIT_KB):
                raise ValueError(f"state unit {u!r}: unknown; use UNIT_PAGES, UNIT_BYTES or UNIT_KB")
        self.ncpus = ncpus
        self.mode = mode
        self.nr_stat = len(units)
        self.nr_events = nr_events
        self.nr_items = self.nr_stat + nr_events
        if charge_batch is None:
            charge_batch = MEMCG_CHARGE_BATCH_V618 if mode == RSTAT_THROTTLED else MEMCG_CHARGE_BATCH_V5
        if charge_batch < 1:
            raise ValueError(f"charge_batch={charge_batch}: must be >= 1")
        self.charge_batch = charge_batch
        self.unit = <int*>calloc(self.nr_stat + 1, sizeof(int))
        self.threshold = <int64_t*>calloc(self.nr_stat + 1, sizeof(int64_t))
        self.lhead = <memcg_vmstats**>calloc(ncpus, sizeof(memcg_vmstats*))
        if self.unit == NULL or self.threshold == NULL or self.lhead == NULL:
            raise MemoryError()
        for i in range(self.nr_stat):
            self.unit[i] = units[i]
            # __mod_memcg_state() of v5.12: memcg_stat_item_in_bytes() -> threshold <<= PAGE_SHIFT
            self.threshold[i] = (self.charge_batch << PAGE_SHIFT if units[i] == STAT_UNIT_BYTES
                                 else self.charge_batch)
        self.memcgs = {}
        self.next_id = 0
        self.visit_log = None
        self.ev_flush_on = &_EVENT_OFF
        self.flush_trace = NULL
        self.flush_trace_ctx = NULL

    def __dealloc__(self):
        free(self.unit)
        free(self.threshold)
        free(self.lhead)

    cdef int _check_cpu(self, int cpu) except -1:
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu {cpu}: out of range; the machine has CPUs 0..{self.ncpus - 1}")
        return 0

    cdef int _check_live(self, MemcgStats m) except -1:
        if m is None or m.tree is not self:
            raise ValueError("memcg: not one of this StatTree's; make it with new_memcg()")
        if m.released:
            raise ValueError(f"memcg {m.id}: already released; its statistics are gone")
        return 0

    # ---- lifecycle -------------------------------------------------------------------------

    def new_memcg(self, MemcgStats parent=None):
        """Allocate the statistics of a new memcg (mem_cgroup_alloc(), css_rstat_init()).

        The first memcg made without a parent is the root; every later one needs a parent."""
        if parent is None:
            if self.root is not None:
                raise ValueError("new_memcg: the root memcg exists already; pass its parent")
        else:
            self._check_live(parent)
        m = MemcgStats(self, parent, self.next_id)
        self.next_id += 1
        self.memcgs[m.id] = m
        if parent is None:
            self.root = m
        else:
            parent.nr_children += 1
        return m

    def release(self, MemcgStats m):
        """The memcg is freed (css_release_work_fn(), css_rstat_exit(); v5.12:
        mem_cgroup_free() -> memcg_flush_percpu_vmstats()/memcg_flush_percpu_vmevents()).

        rstat modes: flush m's subtree (unconditionally, also in THROTTLED), which unlinks m on
        every CPU; m's deltas land in the parent's pending counters and reach the ancestors'
        aggregates at the parent's next flush (memcg.md 5, last bullet).  BATCHED: the per-CPU
        rests are added to m's and every ancestor's hierarchical counters.  A memcg is released
        after all its children (each child holds a reference on its parent's css)."""
        self._check_live(m)
        if m.nr_children:
            raise ValueError(f"memcg {m.id}: {m.nr_children} children still exist; release them first")
        if self.mode == RSTAT_BATCHED:
            self.memcg_flush_percpu_vmstats(m.vm)
        else:
            self.cgroup_rstat_flush(m.vm)
        m.released = True
        del self.memcgs[m.id]
        if m.parent is not None:
            m.parent.nr_children -= 1
        else:
            self.root = None

    # ---- updates (C hot path) ----------------------------------------------------------------

    cdef void mod_state(self, MemcgStats m, int cpu, int item, int64_t delta) noexcept nogil:
        """__mod_memcg_state() / mod_memcg_state(): state item ``item`` of ``m`` changes by
        ``delta`` (in the item's unit) on ``cpu``.  The caller guarantees m is live and cpu and
        item are in range."""
        cdef memcg_vmstats* vm = m.vm
        if self.mode == RSTAT_BATCHED:
            self.batched_update(vm, cpu, item, delta, False)
            return
        vm.pcpu_state[cpu * self.nr_items + item] += delta
        if self.mode == RSTAT_EXACT:
            self.cgroup_rstat_updated(vm, cpu)
        else:
            self.memcg_rstat_updated(vm, self.memcg_state_val_in_pages(item, delta), cpu)

    cdef void count_event(self, MemcgStats m, int cpu, int item, uint64_t n) noexcept nogil:
        """__count_memcg_events() / count_memcg_events(): event ``item`` of ``m`` happened
        ``n`` times on ``cpu``."""
        cdef memcg_vmstats* vm = m.vm
        cdef int i = self.nr_stat + item
        if self.mode == RSTAT_BATCHED:
            self.batched_update(vm, cpu, i, <int64_t>n, True)
            return
        vm.pcpu_state[cpu * self.nr_items + i] += <int64_t>n
        if self.mode == RSTAT_EXACT:
            self.cgroup_rstat_updated(vm, cpu)
        else:
            self.memcg_rstat_updated(vm, <int64_t>n, cpu)

    cdef void batched_update(self, memcg_vmstats* vm, int cpu, int i, int64_t delta,
                             bint is_event) noexcept nogil:
        """v5.12 __mod_memcg_state() / __count_memcg_events(): x = per-CPU + delta; past the
        batch (|x| > 32 pages or 32 << PAGE_SHIFT bytes; events: x > 32) x goes to the local
        counter and to the hierarchical counter of the memcg and every ancestor."""
        cdef int64_t* p = &vm.pcpu_state[cpu * self.nr_items + i]
        cdef int64_t x = p[0] + delta
        cdef bint over
        cdef memcg_vmstats* mi
        if is_event:
            over = x > self.charge_batch
        else:
            over = _abs64(x) > self.threshold[i]
        if over:
            vm.state_local[i] += x
            mi = vm
            while mi != NULL:
                mi.state[i] += x
                mi = mi.parent
            self.nr_batch_propagations += 1
            x = 0
        p[0] = x

    cdef void rstat_link_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil:
        """Put (vm, cpu) and its unlinked ancestors on their parents' updated_children lists,
        at the head; the root marks itself by pointing updated_next at itself (v5.14
        cgroup_rstat_updated()'s locked part; v6.17+ __css_process_update_tree())."""
        cdef css_rstat_cpu* rc
        cdef css_rstat_cpu* prc
        cdef memcg_vmstats* parent
        while True:
            rc = &vm.rstat_cpu[cpu]
            # both additions and removals are bottom-up: if linked, all ancestors are
            if rc.updated_next != NULL:
                break
            parent = vm.parent
            if parent == NULL:
                rc.updated_next = vm
                break
            prc = &parent.rstat_cpu[cpu]
            rc.updated_next = prc.updated_children
            prc.updated_children = vm
            vm = parent

    cdef void cgroup_rstat_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil:
        """v5.14 cgroup_rstat_updated(): fast path if already linked, else link now."""
        if vm.rstat_cpu[cpu].updated_next != NULL:
            return
        self.rstat_link_updated(vm, cpu)

    cdef void css_rstat_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil:
        """v6.17+ css_rstat_updated(): if (vm, cpu) is not on the CPU's lockless list, push it
        (llist_add(): at the head); the flush links it (css_process_update_tree())."""
        cdef css_rstat_cpu* rc = &vm.rstat_cpu[cpu]
        if rc.on_llist:
            return
        rc.on_llist = True
        rc.lnext = self.lhead[cpu]
        self.lhead[cpu] = vm

    cdef bint memcg_vmstats_needs_flush(self, memcg_vmstats* vm) noexcept nogil:
        """memcg_vmstats_needs_flush(): stats_updates > MEMCG_CHARGE_BATCH * num_online_cpus()."""
        return vm.stats_updates > self.charge_batch * self.ncpus

    cdef int64_t memcg_state_val_in_pages(self, int item, int64_t val) noexcept nogil:
        """memcg_state_val_in_pages(): the update in pages for the stats_updates count.  A
        non-zero sub-page update counts 1; the kernel's unsigned arithmetic rounds a negative
        byte/KiB update away from zero (-100 bytes -> -1 page, -8192 -> -2)."""
        cdef int u = self.unit[item]
        cdef int64_t prod, r
        if val == 0 or u == STAT_UNIT_PAGES:
            return val
        prod = val * (1024 if u == STAT_UNIT_KB else 1)
        if prod > 0:
            r = prod // PAGE_SIZE
            return r if r >= 1 else 1
        return -((-prod + PAGE_SIZE - 1) // PAGE_SIZE)

    cdef void memcg_rstat_updated(self, memcg_vmstats* vm, int64_t val, int cpu) noexcept nogil:
        """v6.18 memcg_rstat_updated(): link (vm, cpu) for the flush, then for vm and each
        ancestor until one already needs a flush: per-CPU stats_updates += |val|; once it
        reaches MEMCG_CHARGE_BATCH it moves into that level's vmstats->stats_updates."""
        cdef int64_t a
        if val == 0:
            return
        self.css_rstat_updated(vm, cpu)
        a = _abs64(val)
        while vm != NULL:
            # if vm is already flushable then so are all its ancestors
            if self.memcg_vmstats_needs_flush(vm):
                break
            vm.pcpu_stats_updates[cpu] += a
            if vm.pcpu_stats_updates[cpu] >= self.charge_batch:
                vm.stats_updates += vm.pcpu_stats_updates[cpu]
                vm.pcpu_stats_updates[cpu] = 0
            vm = vm.parent

    # ---- flush -------------------------------------------------------------------------------

    cdef memcg_vmstats* cgroup_rstat_cpu_pop_updated(self, memcg_vmstats* pos,
                                                      memcg_vmstats* root, int cpu) noexcept nogil:
        """v5.14 cgroup_rstat_cpu_pop_updated(): the next node of root's updated subtree on
        cpu in post-order (descending along the head of updated_children, so siblings come
        LIFO), unlinked from its parent's list; root last iff it is linked; then NULL."""
        cdef css_rstat_cpu* rc
        cdef memcg_vmstats* parent
        cdef memcg_vmstats** nextp
        if pos == root:
            return NULL
        pos = root if pos == NULL else pos.parent
        # walk down to the first leaf
        while True:
            rc = &pos.rstat_cpu[cpu]
            if rc.updated_children == pos:
                break
            pos = rc.updated_children
        if rc.updated_next == NULL:
            return NULL                 # only happens for an unlinked root
        parent = pos.parent
        if parent != NULL:
            nextp = &parent.rstat_cpu[cpu].updated_children
            while nextp[0] != pos:
                nextp = &nextp[0].rstat_cpu[cpu].updated_next
            nextp[0] = rc.updated_next
        rc.updated_next = NULL
        return pos

    cdef void css_process_update_tree(self, int cpu) noexcept nogil:
        """v6.17+ css_process_update_tree(): link every memcg on the CPU's lockless list,
        popping from the head (the most recently pushed first)."""
        cdef memcg_vmstats* vm
        cdef css_rstat_cpu* rc
        while self.lhead[cpu] != NULL:
            vm = self.lhead[cpu]
            rc = &vm.rstat_cpu[cpu]
            self.lhead[cpu] = rc.lnext
            rc.lnext = NULL
            rc.on_llist = False
            self.rstat_link_updated(vm, cpu)

    cdef memcg_vmstats* css_rstat_push_children(self, memcg_vmstats* head, memcg_vmstats* child,
                                                 int cpu) noexcept nogil:
        """v6.x css_rstat_push_children(): walk the updated tree below head level by level,
        pushing each level (its lists walked head first) in front of the flush list, so
        deeper levels come first and every child precedes its parent."""
        cdef memcg_vmstats* cnext = child
        cdef memcg_vmstats* ghead = NULL
        cdef memcg_vmstats* parent
        cdef memcg_vmstats* grandchild
        cdef css_rstat_cpu* crc
        child.rstat_cpu[cpu].flush_next = NULL
        while True:
            while cnext != NULL:
                child = cnext
                cnext = child.rstat_cpu[cpu].flush_next
                parent = child.parent
                # updated_next is parent terminated
                while child != parent:
                    crc = &child.rstat_cpu[cpu]
                    crc.flush_next = head
                    head = child
                    grandchild = crc.updated_children
                    if grandchild != child:
                        # push the grandchild to the next level
                        crc.updated_children = child
                        grandchild.rstat_cpu[cpu].flush_next = ghead
                        ghead = grandchild
                    child = crc.updated_next
                    crc.updated_next = NULL
            if ghead == NULL:
                break
            cnext = ghead
            ghead = NULL
        return head

    cdef memcg_vmstats* css_rstat_updated_list(self, memcg_vmstats* root, int cpu) noexcept nogil:
        """v6.x css_rstat_updated_list(): link the lockless list's memcgs, then unlink root's
        updated subtree on cpu and return it as a flush list (children before parents, root
        last), or NULL if root is not linked."""
        cdef css_rstat_cpu* rc = &root.rstat_cpu[cpu]
        cdef memcg_vmstats* parent
        cdef memcg_vmstats* child
        cdef memcg_vmstats* head
        cdef memcg_vmstats** nextp
        self.css_process_update_tree(cpu)
        if rc.updated_next == NULL:
            return NULL
        parent = root.parent
        if parent != NULL:
            nextp = &parent.rstat_cpu[cpu].updated_children
            while nextp[0] != root and nextp[0] != parent:
                nextp = &nextp[0].rstat_cpu[cpu].updated_next
            if nextp[0] == root:
                nextp[0] = rc.updated_next
        rc.updated_next = NULL
        head = root
        rc.flush_next = NULL
        child = rc.updated_children
        rc.updated_children = root
        if child != root:
            head = self.css_rstat_push_children(head, child, cpu)
        return head

    cdef void mem_cgroup_css_rstat_flush(self, memcg_vmstats* vm, int cpu) noexcept nogil:
        """mem_cgroup_css_rstat_flush(): for every item, take the pending subtree delta and
        this CPU's change since the last flush; the CPU's change also goes to state_local
        (v6.4+); a non-zero sum goes to the aggregate and to the parent's pending.  v6.8+ also
        resets the CPU's stats_updates and the memcg's vmstats->stats_updates."""
        cdef int n = self.nr_items, i
        cdef memcg_vmstats* parent = vm.parent
        cdef int64_t* pc = vm.pcpu_state + cpu * n
        cdef int64_t* prev = vm.pcpu_prev + cpu * n
        cdef int64_t delta, delta_cpu, v
        self.nr_nodes_visited += 1
        self.nr_items_scanned += n
        for i in range(n):
            # the pending counts are global: the first CPU visited takes them
            delta = vm.state_pending[i]
            if delta != 0:
                vm.state_pending[i] = 0
            delta_cpu = 0
            v = pc[i]
            if v != prev[i]:
                delta_cpu = v - prev[i]
                delta += delta_cpu
                prev[i] = v
            if delta_cpu != 0:
                vm.state_local[i] += delta_cpu
            if delta != 0:
                self.nr_items_changed += 1
                vm.state[i] += delta
                if parent != NULL:
                    parent.state_pending[i] += delta
        if self.mode == RSTAT_THROTTLED:
            vm.pcpu_stats_updates[cpu] = 0
            vm.stats_updates = 0

    cdef int cgroup_rstat_flush(self, memcg_vmstats* root) except -1:
        """cgroup_rstat_flush() (v6.16+ css_rstat_flush()): for every possible CPU, visit
        root's updated subtree children first and call the flush callback on each visited
        memcg.  Ancestors of root are not visited and keep their links."""
        cdef int cpu
        cdef memcg_vmstats* pos
        cdef object log = self.visit_log
        self.nr_flushes += 1
        for cpu in range(self.ncpus):
            self.nr_cpus_scanned += 1
            if self.mode == RSTAT_EXACT:
                pos = self.cgroup_rstat_cpu_pop_updated(NULL, root, cpu)
                while pos != NULL:
                    if log is not None:
                        log.append((cpu, pos.id))
                    self.mem_cgroup_css_rstat_flush(pos, cpu)
                    pos = self.cgroup_rstat_cpu_pop_updated(pos, root, cpu)
            else:
                pos = self.css_rstat_updated_list(root, cpu)
                while pos != NULL:
                    if log is not None:
                        log.append((cpu, pos.id))
                    self.mem_cgroup_css_rstat_flush(pos, cpu)
                    pos = pos.rstat_cpu[cpu].flush_next
        return 0

    cdef int memcg_flush_percpu_vmstats(self, memcg_vmstats* vm) except -1:
        """v5.12 memcg_flush_percpu_vmstats() + memcg_flush_percpu_vmevents(): add the sum of
        the per-CPU rests to the memcg's and every ancestor's hierarchical counters."""
        cdef int n = self.nr_items, i, cpu
        cdef int64_t s
        cdef memcg_vmstats* mi
        for i in range(n):
            s = 0
            for cpu in range(self.ncpus):
                s += vm.pcpu_state[cpu * n + i]
                vm.pcpu_state[cpu * n + i] = 0
            if s != 0:
                mi = vm
                while mi != NULL:
                    mi.state[i] += s
                    mi = mi.parent
        return 0

    # ---- Python surface ----------------------------------------------------------------------

    def mod_memcg_state(self, MemcgStats m, int cpu, int item, int64_t delta):
        """Python form of :meth:`mod_state` (checked): state ``item`` of ``m`` += ``delta``."""
        self._check_live(m)
        self._check_cpu(cpu)
        m._index(item, False)
        self.mod_state(m, cpu, item, delta)

    def count_memcg_events(self, MemcgStats m, int cpu, int item, uint64_t n=1):
        """Python form of :meth:`count_event` (checked)."""
        self._check_live(m)
        self._check_cpu(cpu)
        m._index(item, True)
        self.count_event(m, cpu, item, n)

    def read(self, MemcgStats m, int item):
        """memcg_page_state(): the hierarchical value of a state item, clamped at 0 (what
        memory.stat v2 and v1's total_* show, in the item's unit)."""
        cdef int64_t x = m.vm.state[m._index(item, False)]
        return x if x > 0 else 0

    def read_local(self, MemcgStats m, int item):
        """memcg_page_state_local(): this memcg's own value, clamped at 0 (v1's non-total keys).
        EXACT (v5.14): the sum of the per-CPU counters, exact without a flush.  THROTTLED
        (v6.4+): vmstats->state_local, as of the last flush.  BATCHED: the batches that left
        the CPUs (vmstats_local)."""
        cdef int i = m._index(item, False), cpu
        cdef int64_t x = 0
        if self.mode == RSTAT_EXACT:
            for cpu in range(self.ncpus):
                x += m.vm.pcpu_state[cpu * self.nr_items + i]
        else:
            x = m.vm.state_local[i]
        return x if x > 0 else 0

    def read_event(self, MemcgStats m, int item):
        """memcg_events(): the hierarchical count of an event item."""
        return m.vm.state[m._index(item, True)]

    def read_event_local(self, MemcgStats m, int item):
        """memcg_events_local(): this memcg's own count (EXACT: the per-CPU sum; THROTTLED:
        vmstats->events_local as of the last flush; BATCHED: the batched local counter)."""
        cdef int i = m._index(item, True), cpu
        cdef int64_t x = 0
        if self.mode == RSTAT_EXACT:
            for cpu in range(self.ncpus):
                x += m.vm.pcpu_state[cpu * self.nr_items + i]
            return x
        return m.vm.state_local[i]

    def flush(self, MemcgStats m):
        """cgroup_rstat_flush(m): flush m's updated subtree on every CPU (rstat modes; BATCHED
        has no rstat and does nothing).  With ``visit_log`` set to a list, each visit appends
        (cpu, memcg id)."""
        self._check_live(m)
        if self.mode != RSTAT_BATCHED:
            self.cgroup_rstat_flush(m.vm)

    def needs_flush(self, MemcgStats m):
        """memcg_vmstats_needs_flush(m->vmstats) (THROTTLED; other modes: False)."""
        return self.mode == RSTAT_THROTTLED and self.memcg_vmstats_needs_flush(m.vm)

    def do_flush_stats(self, MemcgStats m, now_ns=None):
        """do_flush_stats(): flush m's subtree; a flush of the root records flush_last_time."""
        self._check_live(m)
        if m is self.root and now_ns is not None:
            self.flush_last_time_ns = now_ns
        self.cgroup_rstat_flush(m.vm)

    cdef int __mem_cgroup_flush_stats(self, memcg_vmstats* vm, bint force, object now_ns) except -1:
        """v6.18 __mem_cgroup_flush_stats(): memcg:memcg_flush_stats (the memcg, its
        stats_updates, force, needs_flush), then, if forced or memcg_vmstats_needs_flush(), the
        flush of its subtree (a flush of the root records flush_last_time).  1 if it flushed."""
        cdef bint needs_flush = self.memcg_vmstats_needs_flush(vm)
        if self.ev_flush_on[0] and self.flush_trace != NULL:
            self.flush_trace(self.flush_trace_ctx, vm, vm.stats_updates, force, needs_flush)
        if not force and not needs_flush:
            return 0
        if vm == self.root.vm and now_ns is not None:
            self.flush_last_time_ns = now_ns
        self.cgroup_rstat_flush(vm)
        return 1

    def mem_cgroup_flush_stats(self, MemcgStats m=None, now_ns=None):
        """v6.18 mem_cgroup_flush_stats(memcg): __mem_cgroup_flush_stats(memcg, false) of the
        memcg (the root's if None): a flush only if memcg_vmstats_needs_flush().  Returns
        whether it flushed (other modes: False)."""
        if m is None:
            m = self.root
        self._check_live(m)
        if self.mode != RSTAT_THROTTLED:
            return False
        return self.__mem_cgroup_flush_stats(m.vm, False, now_ns) == 1

    def flush_ratelimited(self, MemcgStats m, uint64_t now_ns):
        """v6.18 mem_cgroup_flush_stats_ratelimited(): mem_cgroup_flush_stats(m) only if the
        periodic flusher is one full cycle late (now > flush_last_time + 2 * FLUSH_TIME)."""
        if self.mode != RSTAT_THROTTLED or now_ns <= self.flush_last_time_ns + 2 * FLUSH_TIME_NS:
            return False
        return self.mem_cgroup_flush_stats(m, now_ns)

    def stat_flush_for_read(self, MemcgStats m, now_ns=None):
        """What a memory.stat read of m does before reading: EXACT flushes m's subtree
        (v5.14 memory_stat_format()/memcg_stat_show() -> cgroup_rstat_flush()); THROTTLED
        calls mem_cgroup_flush_stats(m) (v6.18 memcg_stat_format()/memcg1_stat_format());
        BATCHED does nothing.  Returns whether it flushed."""
        self._check_live(m)
        if self.mode == RSTAT_EXACT:
            self.cgroup_rstat_flush(m.vm)
            return True
        if self.mode == RSTAT_THROTTLED:
            return self.mem_cgroup_flush_stats(m, now_ns)
        return False

    def periodic_flush(self, uint64_t now_ns):
        """flush_memcg_stats_dwork() (v5.15+; THROTTLED only): the plugin calls this from an
        emulated-clock timer every FLUSH_TIME_NS.  __mem_cgroup_flush_stats(root, true): it
        flushes the root's subtree unconditionally ("Deliberately ignore memcg_vmstats_needs_flush() here") and records
        flush_last_time.  Returns whether it flushed (False in EXACT and BATCHED, whose kernels
        have no such worker for memcg stats)."""
        if self.mode != RSTAT_THROTTLED or self.root is None:
            return False
        self.__mem_cgroup_flush_stats(self.root.vm, True, now_ns)
        return True

    def flush_work(self):
        """How much work the flushes did since the last reset_flush_work(): flushes, CPUs
        scanned, memcgs visited (flush callbacks), items scanned and items changed by them,
        and (BATCHED) write-side propagations up the tree."""
        return {"flushes": self.nr_flushes, "cpus_scanned": self.nr_cpus_scanned,
                "nodes_visited": self.nr_nodes_visited, "items_scanned": self.nr_items_scanned,
                "items_changed": self.nr_items_changed,
                "batch_propagations": self.nr_batch_propagations}

    def reset_flush_work(self):
        self.nr_flushes = self.nr_cpus_scanned = self.nr_nodes_visited = 0
        self.nr_items_scanned = self.nr_items_changed = self.nr_batch_propagations = 0

    def unit_of(self, int item):
        """The unit of state item ``item`` (UNIT_PAGES, UNIT_BYTES or UNIT_KB)."""
        if not 0 <= item < self.nr_stat:
            raise ValueError(f"state item {item}: out of range; there are {self.nr_stat} state items")
        return self.unit[item]

    def batch_threshold(self, int item):
        """BATCHED: the per-CPU threshold of state item ``item`` (32 pages/KiB, 32 << PAGE_SHIFT
        bytes)."""
        if not 0 <= item < self.nr_stat:
            raise ValueError(f"state item {item}: out of range; there are {self.nr_stat} state items")
        return self.threshold[item]
