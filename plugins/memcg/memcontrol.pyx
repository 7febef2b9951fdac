# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Memory cgroups in C: page counters, the per-CPU charge stock and the charge of user pages.

The core calls this module through ``memcg_ops`` on :class:`memsim.physmem.PhysMem` (every user
page charged at its fault or page-cache insertion, uncharged at its last put) and through
``lruvec_stat_ops`` (every node statistic of a charged page also counts for its memcg).  A
page's ``memcg_data`` holds its memcg's id shifted left by two (the two low bits are
MEMCG_DATA_OBJCGS and MEMCG_DATA_KMEM, as the kernel's pointer tag), so finding the memcg of a
page is an array index, never a Python call.

What happens, as mm/memcontrol.c of v5.14 has it (memcg.md sections 2 to 4):

* ``try_charge()`` (try_charge_memcg): the stock of the running CPU first, then the page
  counters in a batch of MEMCG_CHARGE_BATCH pages (32; 64 in v6.18), exactly ``nr`` pages when
  the batch does not fit, then the slow path: memory.events ``max``, reclaim from the memcg over
  its limit, draining every CPU's stock, up to MAX_RECLAIM_RETRIES rounds, and the memcg OOM
  killer; a charge that may not fail is forced past the limit;
* ``charge_page()`` (mem_cgroup_charge / commit_charge): the memcg of the mm's owner (of
  current when there is no mm), the page's ``memcg_data``, a css reference, PGPGIN;
* ``uncharge_page()`` (mem_cgroup_uncharge / uncharge_page + uncharge_batch): the counters
  straight back (not through the stock), PGPGOUT, the css reference dropped;
* the root memcg is never charged (its counters do not move) but its pages still record it;
* swap (the memcg_ops the swap plugin calls; swap.md sections 5 to 7):
  ``swapin_charge_page()`` (mem_cgroup_swapin_charge_page: the memcg the slot's record names if
  it is online, else the mm's), ``try_charge_swap()`` (v2: the swap counter, memory.swap.events,
  MEMCG_SWAP, the id to record), ``swapout()`` (v1: the memsw charge moves from the page to its
  slot), ``uncharge_swap()`` (the slot's charge and id references given back;
  mem_cgroup_swapin_uncharge_swap with ``swapin``) and ``swap_full()`` (v2: half of swap.high or
  swap.max used).

A memcg whose cgroup was removed (offline) lives on, *dying*, while charged pages, a stock or
swap slots recorded with its private id hold references to it; the last reference frees it
(``release_hook``, then its index is free).  The private id has its own count (``id_refs``,
memcg->id.ref): 1 while online, one more per recorded swap slot; at 0 the id is removed
(mem_cgroup_from_id() fails, mem_cgroup_id_get_online() goes up to an ancestor) and the css
reference it held goes.
"""
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memset

from memsim._types cimport (pfn_t, gfp_t, PG_head, GFP_HIGH_, GFP_ATOMIC_, GFP_DIRECT_RECLAIM_,
                            GFP_RETRY_MAYFAIL_, GFP_NOFAIL_, GFP_NORETRY_)
from memsim.page cimport page
from memsim.physmem cimport PhysMem, memcg_ops, MEMCG_DATA_OBJCGS, MEMCG_DATA_KMEM
from memsim.task cimport TaskStruct
from memsim.mm cimport MmStruct
from memsim.vmstat cimport (lruvec_stat_ops, NR_VM_NODE_STAT_ITEMS, NR_SLAB_RECLAIMABLE_B,
                            NR_SLAB_UNRECLAIMABLE_B, NR_KERNEL_STACK_KB, PGPGIN, PGPGOUT)
from memsim.plugins.memcg.rstat cimport MemcgStats, StatTree, memcg_vmstats, RSTAT_EXACT
from memsim.ring cimport TraceBuffer

DEF PAGE_COUNTER_MAX = 0x7fffffffffffffff // 4096     # LONG_MAX / PAGE_SIZE
DEF MAX_RECLAIM_RETRIES = 16
DEF PAGE_ALLOC_COSTLY_ORDER = 3
DEF ENOMEM = 12
DEF HZ = 1000                           # CONFIG_HZ of both profiles
DEF MEMCG_DELAY_PRECISION_SHIFT = 20
DEF MEMCG_DELAY_SCALING_SHIFT = 14
DEF MEMCG_MAX_HIGH_DELAY_JIFFIES = 2 * HZ

#: the enabled byte of a trace event the profile does not declare (v5.14: no memcg events)
cdef uint8_t _EVENT_OFF = 0

#: page_counter "max" as the files print it
PAGE_COUNTER_MAX_PAGES = PAGE_COUNTER_MAX
MEMORY_EVENT_NAMES = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill", "sock_throttled")
#: memory.swap.events, after them in enum memcg_memory_event (MEMCG_SWAP_HIGH, _MAX, _FAIL)
SWAP_EVENT_NAMES = ("high", "max", "fail")
#: memcg state items after the node_stat_items (enum memcg_stat_item)
NR_NODE_ITEMS = NR_VM_NODE_STAT_ITEMS
MEMCG_SWAP = NR_VM_NODE_STAT_ITEMS + MEMCG_SWAP_ITEM
MEMCG_SOCK = NR_VM_NODE_STAT_ITEMS + MEMCG_SOCK_ITEM
MEMCG_PERCPU_B = NR_VM_NODE_STAT_ITEMS + MEMCG_PERCPU_B_ITEM
MEMCG_KMEM = NR_VM_NODE_STAT_ITEMS + MEMCG_KMEM_ITEM
NR_MEMCG_STAT_ITEMS = NR_VM_NODE_STAT_ITEMS + MEMCG_NR_OWN_ITEMS


def state_units():
    """The unit of each memcg state item, for the StatTree (memcg_page_state_unit())."""
    units = ["pages"] * NR_MEMCG_STAT_ITEMS
    units[NR_SLAB_RECLAIMABLE_B] = units[NR_SLAB_UNRECLAIMABLE_B] = "bytes"
    units[NR_KERNEL_STACK_KB] = "kb"
    units[MEMCG_PERCPU_B] = "bytes"
    return units


# -- mm/page_counter.c ------------------------------------------------------------------------------

cdef void counter_init(page_counter* c, page_counter* parent, int owner) noexcept:
    memset(c, 0, sizeof(page_counter))
    c.max = PAGE_COUNTER_MAX
    c.high = PAGE_COUNTER_MAX
    c.parent = parent
    c.owner = owner


cdef bint counter_try_charge(page_counter* counter, int64_t nr, page_counter** fail) noexcept:
    """page_counter_try_charge(): charge every level up to the root, or none; ``*fail`` is the
    level whose max refused (its failcnt counts the refusal)."""
    cdef page_counter* c = counter
    cdef page_counter* u
    cdef int64_t new
    while c != NULL:
        new = c.usage + nr
        if new > c.max:
            c.failcnt += 1
            fail[0] = c
            u = counter
            while u != c:                   # undo the levels already charged
                u.usage -= nr
                u = u.parent
            return False
        c.usage = new
        if new > c.watermark:
            c.watermark = new
        c = c.parent
    return True


cdef void counter_charge(page_counter* counter, int64_t nr) noexcept:
    """page_counter_charge(): every level, past its max if need be."""
    cdef page_counter* c = counter
    while c != NULL:
        c.usage += nr
        if c.usage > c.watermark:
            c.watermark = c.usage
        c = c.parent


cdef void counter_uncharge(page_counter* counter, int64_t nr) noexcept:
    """page_counter_uncharge(): every level; a level that would go below 0 is clamped
    ("page_counter underflow")."""
    cdef page_counter* c = counter
    while c != NULL:
        c.usage -= nr
        if c.usage < 0:
            c.usage = 0
        c = c.parent


cdef inline int64_t counter_margin(page_counter* c) noexcept:
    return c.max - c.usage if c.usage < c.max else 0


cdef class MemCgroup:
    """struct mem_cgroup: its page counters (``memory``; ``swap``, which v1 reads as memsw;
    v1's ``kmem``), memory.events, its statistics (:class:`MemcgStats`) and its css state.

    Made by :meth:`MemcgHost.css_alloc`; ``cgroup`` is the cgroup it belongs to."""

    def __repr__(self):
        state = "online" if self.online else ("freed" if self.freed else "dying")
        return f"<MemCgroup {self.id} {state} usage={self.memory.usage}>"

    @property
    def cgroup_id(self):
        """cgroup_id() of its cgroup: the kernfs id (inode number) of the cgroup's directory,
        1 for the root; the memcg trace events' memcg_id."""
        return self.vm.cgroup_id

    # -- what the files show --------------------------------------------------------------------
    def counter(self, str name):
        """A page counter as a dict (pages): usage, max, watermark, failcnt, min, low, high."""
        cdef page_counter* c = self._counter(name)
        return {"usage": c.usage, "max": c.max, "watermark": c.watermark, "failcnt": c.failcnt,
                "min": c.min, "low": c.low, "high": c.high}

    cdef page_counter* _counter(self, str name) except NULL:
        if name == "memory":
            return &self.memory
        if name in ("swap", "memsw"):
            return &self.swap
        if name == "kmem":
            return &self.kmem
        raise KeyError(name)

    def set_counter(self, str name, str field, int64_t value):
        """Set a counter's max, high, min, low or watermark (pages); failcnt resets to 0."""
        cdef page_counter* c = self._counter(name)
        if field == "max":
            c.max = value
        elif field == "high":
            c.high = value
        elif field == "min":
            c.min = value
        elif field == "low":
            c.low = value
        elif field == "watermark":
            c.watermark = value
        elif field == "failcnt":
            c.failcnt = value
        else:
            raise KeyError(field)

    def memory_events(self, bint local=False):
        """memory.events (or .local): {low, high, max, oom, oom_kill, oom_group_kill,
        sock_throttled}."""
        cdef uint64_t* ev = &self.events[0]
        if local:
            ev = &self.events_local[0]
        return {MEMORY_EVENT_NAMES[i]: ev[i] for i in range(len(MEMORY_EVENT_NAMES))}

    def swap_events(self, bint local=False):
        """memory.swap.events (swap_events_show(): the hierarchical counts; ``local``: this
        memcg's own): {high, max, fail}."""
        cdef uint64_t* ev = &self.events[0]
        if local:
            ev = &self.events_local[0]
        return {SWAP_EVENT_NAMES[i]: ev[MEMCG_SWAP_HIGH + i] for i in range(len(SWAP_EVENT_NAMES))}


cdef class MemcgHost:
    """The machine's memory controller: ``memcgs`` by id, the per-CPU stocks, the statistics
    tree, and the memcg ops the core calls.  ``v1`` selects the cgroup v1 counters (memsw with
    ``memsw``, kmem), ``charge_batch`` MEMCG_CHARGE_BATCH."""

    def __cinit__(self, PhysMem pm, StatTree stat_tree, bint v1=False, bint memsw=False,
                  int64_t charge_batch=32, bint v6=False):
        self.pm = pm
        self.v6 = v6
        self.nr_stock = NR_MEMCG_STOCK if v6 else 1
        self.rnd = 0x9E3779B97F4A7C15
        self.stat_tree = stat_tree
        self.cpu = pm.vs.cpu
        self.st_mode = stat_tree.mode
        self.st_nr_items = stat_tree.nr_items
        self.st_nr_stat = stat_tree.nr_stat
        self.ncpus = pm.ncpus
        self.v1 = v1
        self.memsw = v1 and memsw
        self.charge_batch = charge_batch
        self.memcgs = {}
        self.id_cap = 64
        self.by_id = <void**>PyMem_Calloc(self.id_cap, sizeof(void*))
        self.stock = <memcg_stock_pcp*>PyMem_Calloc(self.ncpus, sizeof(memcg_stock_pcp))
        if self.by_id == NULL or self.stock == NULL:
            raise MemoryError()
        self.oom = None
        self.oom_recover = None
        self.reclaim = None
        self.release_hook = None
        self.over_high = {}
        self.high_sleep = {}
        self.kmem = None
        self.ev_state_on = self.ev_lruvec_on = self.ev_events_on = &_EVENT_OFF
        self.ev_state = self.ev_lruvec = self.ev_events = self.ev_flush = -1
        self.trace_item = NULL
        self.root = self.css_alloc(None, None)

    def __dealloc__(self):
        PyMem_Free(self.by_id)
        PyMem_Free(self.stock)
        PyMem_Free(self.trace_item)

    # -- the trace events (include/trace/events/memcg.h, v6.18) ---------------------------------
    def bind_events(self, events, items):
        """Find the trace slots of the memcg events (plugin events emitted from C) in the
        registry ``events`` and take ``items``, the 6.18 enum value of each StatTree index (state
        items, then events; -1: none), from memsim.tracing.memcg.item_table().  An event the
        profile does not declare (v5.14) stays off: its test reads a constant 0."""
        cdef int n = self.stat_tree.nr_items, i
        cdef int slot
        cdef TraceBuffer tb = self.pm.tb
        if len(items) != n:
            raise ValueError(f"bind_events: {len(items)} items for a StatTree of {n}; pass "
                             f"item_table() of its state and event names")
        if self.trace_item == NULL:
            self.trace_item = <int*>PyMem_Malloc(n * sizeof(int))
            if self.trace_item == NULL:
                raise MemoryError()
        for i in range(n):
            self.trace_item[i] = items[i]
        for name in ("mod_memcg_state", "mod_memcg_lruvec_state", "count_memcg_events",
                     "memcg_flush_stats"):
            slot = -1
            if events is not None and f"memcg:{name}" in events:
                slot = events.slot_of(f"memcg:{name}")
            if name == "mod_memcg_state":
                self.ev_state = slot
                self.ev_state_on = &tb.core[slot].enabled if slot >= 0 else &_EVENT_OFF
            elif name == "mod_memcg_lruvec_state":
                self.ev_lruvec = slot
                self.ev_lruvec_on = &tb.core[slot].enabled if slot >= 0 else &_EVENT_OFF
            elif name == "count_memcg_events":
                self.ev_events = slot
                self.ev_events_on = &tb.core[slot].enabled if slot >= 0 else &_EVENT_OFF
            else:
                self.ev_flush = slot
                self.stat_tree.ev_flush_on = &tb.core[slot].enabled if slot >= 0 else &_EVENT_OFF
                self.stat_tree.flush_trace = _trace_flush
                self.stat_tree.flush_trace_ctx = <void*>self

    cdef void trace_stat(self, int slot, MemCgroup memcg, int i, int64_t val) noexcept:
        """trace_mod_memcg_state() / trace_mod_memcg_lruvec_state() / trace_count_memcg_events():
        memcg_id (cgroup_id()), the 6.18 enum value of item ``i`` and the value -- a state
        item's delta in pages (memcg_state_val_in_pages()), an event's count.  No record for an
        item 6.18's memcg does not keep."""
        cdef uint64_t vals[3]
        cdef int item = self.trace_item[i] if self.trace_item != NULL else -1
        if item < 0:
            return
        if i < self.st_nr_stat:
            val = self.stat_tree.memcg_state_val_in_pages(i, val)
        vals[0] = memcg.vm.cgroup_id
        vals[1] = <uint64_t><int64_t>item
        vals[2] = <uint64_t>val
        try:
            self.pm.tb.emit(slot, self.cpu[0], self.pm.cur.pid, vals, NULL, 0)
        except Exception:
            pass

    # -- the css lifecycle (mem_cgroup_css_alloc / online / offline / released / free) -----------
    def css_alloc(self, MemCgroup parent, object cgroup):
        """mem_cgroup_css_alloc() + css_online(): a new memcg under ``parent`` (None: the root),
        online, holding its base reference and one on its parent."""
        cdef MemCgroup m = MemCgroup.__new__(MemCgroup)
        cdef int id = 1
        while id < self.id_cap and self.by_id[id] != NULL:     # idr_alloc(): the lowest free id
            id += 1
        if id >= 65536:
            raise OverflowError("MEM_CGROUP_ID_MAX memory cgroups")
        if id >= self.id_cap:
            self._grow(id + 1)
        m.id = id
        m.parent = parent
        m.host = self
        m.cgroup = cgroup
        counter_init(&m.memory, &parent.memory if parent is not None else NULL, id)
        counter_init(&m.swap, &parent.swap if parent is not None else NULL, id)
        counter_init(&m.kmem, &parent.kmem if parent is not None else NULL, id)
        m.stats = self.stat_tree.new_memcg(parent.stats if parent is not None else None)
        m.vm = m.stats.vm
        # cgroup_id(): the kernfs id of the cgroup's directory (made before its css, as
        # cgroup_mkdir() does); the root cgroup's is 1
        m.vm.cgroup_id = 1 if cgroup is None else cgroup.id
        m.online = True
        # the css's base reference, dropped at offline, and the one its private id holds
        # (mem_cgroup_css_online(): refcount_set(&memcg->id.ref, 1); css_get(css))
        m.css_refs = 2
        m.id_refs = 1
        m.objcg = None
        m.objcg_list = []
        if parent is not None:
            parent.css_refs += 1            # css_get(parent) in init_and_link_css()
        self.by_id[id] = <void*>m
        self.memcgs[id] = m
        if parent is not None and self.kmem is not None:
            self.kmem.online_kmem(m)        # memcg_online_kmem(): its obj_cgroup
        return m

    cdef _grow(self, int need):
        cdef int cap = self.id_cap
        while cap < need:
            cap *= 2
        cdef void** p = <void**>PyMem_Realloc(self.by_id, cap * sizeof(void*))
        if p == NULL:
            raise MemoryError()
        memset(&p[self.id_cap], 0, (cap - self.id_cap) * sizeof(void*))
        self.by_id = p
        self.id_cap = cap

    def css_offline(self, MemCgroup m):
        """mem_cgroup_css_offline(): memory.min and memory.low reset, the obj_cgroups
        reparented (memcg_offline_kmem), every stock holding pages of ``m`` or a descendant
        drained, the private id's online reference dropped (mem_cgroup_id_put: the id goes
        unless swap slots recorded with it hold it) and the base reference dropped: from now
        on ``m`` is dying until its last reference goes."""
        if not m.online:
            return
        m.online = False
        m.memory.min = 0
        m.memory.low = 0
        if self.kmem is not None:
            self.kmem.offline_kmem(m)
        self.drain_all_stock(m)
        self.mem_cgroup_id_put_many(m, 1)
        self.css_put(m, 1)

    cdef void css_put(self, MemCgroup memcg, int64_t n) except *:
        """css_put_many(): the last reference of an offline memcg frees it (css_release:
        its statistics flushed into its parent, then css_free)."""
        memcg.css_refs -= n
        if memcg.css_refs <= 0 and not memcg.online and not memcg.freed:
            self._free(memcg)

    cdef _free(self, MemCgroup m):
        cdef MemCgroup parent = m.parent
        m.freed = True
        self.stat_tree.release(m.stats)
        self.by_id[m.id] = NULL
        del self.memcgs[m.id]
        if self.release_hook is not None:
            self.release_hook(m)
        if self.kmem is not None:
            self.kmem.css_free(m)
        if parent is not None:
            self.css_put(parent, 1)

    def get(self, int id):
        """The memcg with this id (mem_cgroup_from_id), or None."""
        return self.memcg_of(id)

    cdef MemCgroup memcg_of(self, int id):
        """The memcg whose index is ``id`` until it is freed (what ``memcg_data`` stores: the
        kernel's page->memcg_data pointer)."""
        if id <= 0 or id >= self.id_cap or self.by_id[id] == NULL:
            return None
        return <MemCgroup>self.by_id[id]

    # -- the private id (mem_cgroup_id_get_many, _put_many, _get_online, mem_cgroup_from_id) ----
    cdef MemCgroup mem_cgroup_from_id(self, int id):
        """mem_cgroup_from_id(): the memcg whose private id is ``id`` while the id lives
        (``id_refs`` > 0: online, or offline with swap slots recorded with it); None once
        mem_cgroup_id_remove() took it.  memsim keeps the index itself reserved until the memcg
        is freed, as charged pages still name it."""
        cdef MemCgroup m = self.memcg_of(id)
        if m is None or m.id_refs <= 0:
            return None
        return m

    cdef MemCgroup mem_cgroup_id_get_online(self, MemCgroup memcg):
        """mem_cgroup_id_get_online(): an id reference on ``memcg``, or on its closest ancestor
        whose id is still alive (refcount_inc_not_zero); the root's never dies."""
        while memcg.id_refs <= 0 and memcg.parent is not None:
            memcg = memcg.parent
        memcg.id_refs += 1
        return memcg

    cdef void mem_cgroup_id_put_many(self, MemCgroup memcg, int64_t n) except *:
        """mem_cgroup_id_put_many(): the last reference removes the id (mem_cgroup_id_remove)
        and drops the css reference it held."""
        if n <= 0 or memcg.id_refs <= 0:
            return
        memcg.id_refs -= n
        if memcg.id_refs <= 0:
            memcg.id_refs = 0
            self.css_put(memcg, 1)

    def from_id(self, int id):
        """mem_cgroup_from_id(): the memcg whose private id is alive as ``id``, or None."""
        return self.mem_cgroup_from_id(id)

    def id_refs(self, MemCgroup memcg):
        """memcg->id.ref: 1 while online plus one per swap slot recorded with its id."""
        return memcg.id_refs

    # -- whom to charge (get_mem_cgroup_from_mm) --------------------------------------------------
    cdef MemCgroup current_memcg(self):
        cdef TaskStruct t = self.pm.cur.task
        if t is None or t.memcg is None:
            return self.root
        return <MemCgroup>t.memcg

    cdef MemCgroup mm_memcg(self, object mm):
        """get_mem_cgroup_from_mm(): the memcg of the mm's owner; without an mm, current's."""
        cdef object owner
        if mm is None:
            return self.current_memcg()
        owner = (<MmStruct>mm).owner
        if owner is None or (<TaskStruct>owner).memcg is None:
            return self.root
        return <MemCgroup>(<TaskStruct>owner).memcg

    cdef MemCgroup swapin_mm_memcg(self, object mm):
        """get_mem_cgroup_from_mm() as mem_cgroup_swapin_charge_page() meets it: without an mm
        (the swap readahead) the active memcg (set_active_memcg(), kept by the kmem side),
        else the memcg of current's mm, else (no task, a kernel thread) the root."""
        cdef TaskStruct cur
        cdef object active
        if mm is None:
            cur = self.pm.cur.task
            if cur is None:
                return self.root
            if self.kmem is not None:
                active = self.kmem.active_memcg
                if active:
                    active = active.get(cur.pid)
                    if active is not None:
                        return <MemCgroup>active
            if cur.mm is None:
                return self.root
            mm = cur.mm
        return self.mm_memcg(mm)

    # -- the per-CPU stock (consume_stock, refill_stock, drain_stock, drain_all_stock) ----------
    cdef bint consume_stock(self, MemCgroup memcg, int64_t nr) noexcept:
        """consume_stock(): ``nr`` pages from this CPU's stock of ``memcg`` (at most a batch)."""
        cdef memcg_stock_pcp* st = &self.stock[self.cpu[0]]
        cdef int i
        if nr > self.charge_batch:
            return False
        for i in range(self.nr_stock):
            if st.cached[i] != memcg.id:
                continue
            if st.nr_pages[i] >= nr:
                st.nr_pages[i] -= nr
                self.nr_stock_hits += 1
                return True
            return False
        return False

    cdef void memcg_uncharge(self, MemCgroup memcg, int64_t nr) noexcept:
        """memcg_uncharge(): memory (and memsw on v1) straight back."""
        counter_uncharge(&memcg.memory, nr)
        if self.memsw:
            counter_uncharge(&memcg.swap, nr)

    cdef void drain_stock_slot(self, int cpu, int i) noexcept:
        """drain_stock(): a cached memcg's pages go back to its counters, its reference is
        dropped."""
        cdef memcg_stock_pcp* st = &self.stock[cpu]
        cdef MemCgroup old
        if st.cached[i] == 0:
            return
        old = self.memcg_of(st.cached[i])
        st.cached[i] = 0
        if old is None:
            st.nr_pages[i] = 0
            return
        if st.nr_pages[i]:
            self.memcg_uncharge(old, st.nr_pages[i])
            st.nr_pages[i] = 0
        try:
            self.css_put(old, 1)
        except BaseException:
            pass

    cdef void drain_stock(self, int cpu) noexcept:
        """drain_stock() (v5.14) / drain_stock_fully() (v6.16+): every memcg the CPU's stock
        caches."""
        cdef int i
        for i in range(self.nr_stock):
            self.drain_stock_slot(cpu, i)

    cdef void refill_stock(self, MemCgroup memcg, int64_t nr) noexcept:
        """refill_stock() on this CPU."""
        self.refill_stock_on(memcg, nr, self.cpu[0])

    cdef void refill_stock_on(self, MemCgroup memcg, int64_t nr, int cpu) noexcept:
        """refill_stock() run on ``cpu`` (by the drain work of that CPU).  v5.14: cache
        ``memcg`` (draining another), add ``nr``, and past a batch drain it all back.  v6.16+:
        more than a batch goes straight back; else the memcg's slot, an empty one, or a random
        victim drained for it; a slot past a batch is drained."""
        cdef memcg_stock_pcp* st = &self.stock[cpu]
        cdef int i, empty = -1
        if not self.v6:
            if st.cached[0] != memcg.id:
                self.drain_stock_slot(cpu, 0)
                memcg.css_refs += 1         # css_get(&memcg->css)
                st.cached[0] = memcg.id
            st.nr_pages[0] += nr
            if st.nr_pages[0] > self.charge_batch:
                self.drain_stock_slot(cpu, 0)
            return
        if nr > self.charge_batch:
            self.memcg_uncharge(memcg, nr)
            return
        for i in range(self.nr_stock):
            if st.cached[i] == 0 and empty == -1:
                empty = i
            if st.cached[i] == memcg.id:
                st.nr_pages[i] += nr
                if st.nr_pages[i] > self.charge_batch:
                    self.drain_stock_slot(cpu, i)
                return
        i = empty
        if i == -1:                         # get_random_u32_below(NR_MEMCG_STOCK)
            self.rnd ^= self.rnd << 13
            self.rnd ^= self.rnd >> 7
            self.rnd ^= self.rnd << 17
            i = <int>(self.rnd % <uint64_t>self.nr_stock)
            self.drain_stock_slot(cpu, i)
        memcg.css_refs += 1
        st.cached[i] = memcg.id
        st.nr_pages[i] = nr

    cdef bint is_memcg_drain_needed(self, int cpu, MemCgroup root_memcg) noexcept:
        """is_memcg_drain_needed(): a memcg of ``root_memcg``'s subtree has pages in the
        CPU's stock."""
        cdef memcg_stock_pcp* st = &self.stock[cpu]
        cdef MemCgroup m
        cdef int i
        for i in range(self.nr_stock):
            m = self.memcg_of(st.cached[i])
            if m is not None and st.nr_pages[i] and mem_cgroup_is_descendant(m, root_memcg):
                return True
        return False

    def drain_all_stock(self, MemCgroup root_memcg):
        """drain_all_stock(): v5.14, every CPU whose page stock holds pages of ``root_memcg``'s
        subtree, or whose object stock caches an obj_cgroup now owned by it
        (obj_stock_flush_required), drains both (drain_local_stock: the object stock first,
        its whole pages going to that CPU's page stock, then the page stock).  v6.16+ decides
        for the two stocks apart (drain_local_memcg_stock, drain_local_obj_stock)."""
        cdef int cpu
        cdef bint page_flush, obj_flush
        for cpu in range(self.ncpus):
            page_flush = self.is_memcg_drain_needed(cpu, root_memcg)
            obj_flush = self.kmem is not None and self.kmem.obj_stock_flush_required(cpu, root_memcg)
            if not self.v6:
                if page_flush or obj_flush:
                    self.drain_local_stock(cpu)
                continue
            if page_flush:
                self.drain_stock(cpu)
            if obj_flush:
                self.kmem.drain_obj_stock_py(cpu)

    def drain_local_stock(self, int cpu):
        """drain_local_stock() on ``cpu``: its object stock, then its page stock."""
        if self.kmem is not None:
            self.kmem.drain_obj_stock_py(cpu)
        self.drain_stock(cpu)

    def stocks_of(self, int cpu):
        """[(memcg id, pages)] of each memcg a CPU's stock caches."""
        cdef memcg_stock_pcp* st = &self.stock[cpu]
        return [(st.cached[i], st.nr_pages[i]) for i in range(self.nr_stock) if st.cached[i]]

    def stock_of(self, int cpu):
        """(memcg id, pages) of the first memcg a CPU's stock caches ((0, 0): none)."""
        s = self.stocks_of(cpu)
        return s[0] if s else (0, 0)

    # -- try_charge -------------------------------------------------------------------------------
    cdef void memory_event(self, MemCgroup memcg, int event) noexcept:
        """memcg_memory_event(): counted locally, and hierarchically up to (not in) the root."""
        cdef MemCgroup m = memcg
        memcg.events_local[event] += 1
        while m is not None and m.parent is not None:
            m.events[event] += 1
            m = m.parent

    def memory_event_py(self, MemCgroup memcg, int event):
        """memcg_memory_event() from Python (the OOM killer's oom_kill)."""
        self.memory_event(memcg, event)

    cdef int try_charge(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2:
        """try_charge(): the root memcg is never charged (mem_cgroup_is_root), the others
        through try_charge_memcg()."""
        if memcg is None or memcg.parent is None:
            return 0
        return self.try_charge_memcg(memcg, gfp, nr)

    cdef int try_charge_memcg(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2:
        """try_charge_memcg(): 0 when ``nr`` pages are charged to ``memcg``, -1 for -ENOMEM.
        Called directly (obj_cgroup_charge_pages) it charges even the root: an obj_cgroup
        reparented up to the root charges the root's counters.

        v5.14 forces an atomic charge, or one of a task being killed, at once
        (should_force_charge) and forces past a memcg OOM that found no victim; v6.x instead
        lets a charge that cannot block fail unless it has __GFP_HIGH or __GFP_NOFAIL (then it
        is forced, with the MAX event counted if it was not yet), gives up on a dying task
        that passed the OOM killer, and fails when the OOM killer found no victim."""
        cdef int64_t batch = nr if nr > self.charge_batch else self.charge_batch
        cdef int retries = MAX_RECLAIM_RETRIES
        cdef bint drained = False, may_swap = True, raised_max = False, passed_oom = False
        cdef page_counter* fail
        cdef MemCgroup over = memcg
        cdef int64_t reclaimed
        cdef TaskStruct cur
        cdef int order, killed
        self.nr_charges += 1
        while True:
            if self.consume_stock(memcg, nr):
                return 0
            fail = NULL
            if self.memsw:
                if counter_try_charge(&memcg.swap, batch, &fail):
                    if counter_try_charge(&memcg.memory, batch, &fail):
                        break
                    counter_uncharge(&memcg.swap, batch)
                else:
                    may_swap = False
            elif counter_try_charge(&memcg.memory, batch, &fail):
                break
            over = self.memcg_of(fail.owner)
            if batch > nr:                  # retry exactly, before any reclaim
                batch = nr
                continue
            cur = self.pm.cur.task
            if not self.v6:
                if gfp & GFP_ATOMIC_:
                    return self._force(memcg, nr)
                if cur is not None and (cur.oom_victim or cur.sigkill_pending):
                    return self._force(memcg, nr)       # should_force_charge()
            if not gfp & GFP_DIRECT_RECLAIM_:
                return self._nomem(memcg, over, gfp, nr, raised_max)
            self.memory_event(over, MEMCG_MAX)
            raised_max = True
            reclaimed = 0
            if self.reclaim is not None:
                reclaimed = self.reclaim(over, nr, gfp, may_swap)
            if self._margin(over) >= nr:
                continue
            if not drained:
                self.drain_all_stock(over)
                drained = True
                continue
            if gfp & GFP_NORETRY_:
                return self._nomem(memcg, over, gfp, nr, raised_max)
            if reclaimed and nr <= (1 << PAGE_ALLOC_COSTLY_ORDER):
                continue
            if retries > 0:
                retries -= 1
                continue
            if gfp & GFP_RETRY_MAYFAIL_:
                return self._nomem(memcg, over, gfp, nr, raised_max)
            if self.v6:
                if passed_oom and cur is not None and (cur.sigkill_pending or cur.oom_victim):
                    return self._nomem(memcg, over, gfp, nr, raised_max)    # task_is_dying()
            elif cur is not None and cur.sigkill_pending:
                return self._force(memcg, nr)
            order = 0
            while (1 << order) < nr:
                order += 1
            if order > PAGE_ALLOC_COSTLY_ORDER:     # mem_cgroup_oom(): no OOM for costly orders
                return self._nomem(memcg, over, gfp, nr, raised_max)
            self.memory_event(over, MEMCG_OOM)
            killed = self.oom(over, gfp, order) if self.oom is not None else 0
            if killed > 0:
                passed_oom = True
                retries = MAX_RECLAIM_RETRIES       # OOM_SUCCESS: retry
                continue
            if killed < 0 or self.v6:           # OOM_ASYNC / OOM_SKIPPED (oom_kill_disable)
                return self._nomem(memcg, over, gfp, nr, raised_max)
            return self._force(memcg, nr)           # v5.14 OOM_FAILED: force
        # done_restock
        if batch > nr:
            self.refill_stock(memcg, batch - nr)
        # above memory.high somewhere up the hierarchy: the task pays on its way back to user
        # mode (current->memcg_nr_pages_over_high, set_notify_resume)
        over = memcg
        while over is not None:
            # mem_high or swap_high (v1: ``swap`` is memsw, whose high is never set)
            if over.memory.usage > over.memory.high or over.swap.usage > over.swap.high:
                self._over_high(batch)
                break
            over = over.parent
        # v6.x: past a batch over high, throttle in the charge too (the penalty is slept on
        # the way back to user mode with the rest)
        cur = self.pm.cur.task
        if self.v6 and cur is not None and gfp & GFP_DIRECT_RECLAIM_ and \
                self.over_high.get(cur.pid, 0) > self.charge_batch:
            self.high_sleep[cur.pid] = self.high_sleep.get(cur.pid, 0) + self._handle_over_high(cur)
        return 0

    cdef _over_high(self, int64_t batch):
        cdef TaskStruct cur = self.pm.cur.task
        if cur is None:
            return                          # !in_task(): the async high work (not modelled)
        self.over_high[cur.pid] = self.over_high.get(cur.pid, 0) + batch
        cur.notify_resume = True

    def handle_over_high(self, TaskStruct task):
        """The return to user mode's memcg work: mem_cgroup_handle_over_high() (below), plus
        what the task's charges owe from throttling in try_charge_memcg (v6.x).  ns."""
        return self._handle_over_high(task) + self.high_sleep.pop(task.pid, 0)

    def _handle_over_high(self, TaskStruct task):
        """mem_cgroup_handle_over_high() on ``task``'s return to user mode: reclaim_high() on
        every level above its memory.high (memory.events ``high``, then
        try_to_free_mem_cgroup_pages of the task's pages over high, SWAP_CLUSTER_MAX on a
        retry, GFP_KERNEL), retried while it reclaims or the penalty is worth sleeping for (up
        to 16 times without progress), then the penalty: calculate_high_delay() of the largest
        overage of the levels, scaled by the task's pages over high against
        MEMCG_CHARGE_BATCH, plus the same of the largest swap overage over memory.swap.high
        (swap_find_max_overage(), which counts memory.swap.events ``high`` on each level over
        it), at most 2 s, none at or under 10 ms.  Returns the sleep in ns."""
        cdef int64_t nr_pages = self.over_high.pop(task.pid, 0)
        cdef int retries = MAX_RECLAIM_RETRIES
        cdef MemCgroup memcg, m
        cdef uint64_t overage, max_overage, penalty, swap_overage
        cdef int64_t usage, high, reclaimed
        cdef bint in_retry = False
        if not nr_pages or task.sigkill_pending:
            return 0
        memcg = self.root if task.memcg is None else <MemCgroup>task.memcg
        while True:
            m = memcg                       # reclaim_high(): every level above its high
            reclaimed = 0
            while m is not None and m.parent is not None:
                if m.memory.usage > m.memory.high:
                    self.memory_event(m, MEMCG_HIGH)
                    if self.reclaim is not None:
                        reclaimed += self.reclaim(m, 32 if in_retry else nr_pages, 0xcc0, True)
                m = m.parent
            max_overage = 0                 # mem_find_max_overage()
            m = memcg
            while m is not None and m.parent is not None:
                usage, high = m.memory.usage, m.memory.high
                if usage > high:
                    if high < 1:
                        high = 1
                    overage = ((<uint64_t>(usage - high)) << MEMCG_DELAY_PRECISION_SHIFT) // <uint64_t>high
                    if overage > max_overage:
                        max_overage = overage
                m = m.parent
            swap_overage = 0                # swap_find_max_overage()
            m = memcg
            while m is not None and m.parent is not None:
                overage = _calculate_overage(m.swap.usage, m.swap.high)
                if overage:
                    self.memory_event(m, MEMCG_SWAP_HIGH)
                if overage > swap_overage:
                    swap_overage = overage
                m = m.parent
            penalty = (self._high_delay(max_overage, nr_pages)
                       + self._high_delay(swap_overage, nr_pages))
            if penalty > MEMCG_MAX_HIGH_DELAY_JIFFIES:
                penalty = MEMCG_MAX_HIGH_DELAY_JIFFIES
            if penalty <= HZ // 100:
                return 0
            if reclaimed or retries > 0:    # progress, or nr_retries--
                if not reclaimed:
                    retries -= 1
                in_retry = True
                continue
            return penalty * 1000000        # schedule_timeout_killable(): jiffies of 1 ms

    def _high_delay(self, uint64_t max_overage, int64_t nr_pages):
        """calculate_high_delay(), in jiffies (HZ = 1000): the overage squared, scaled by the
        task's pages over high against MEMCG_CHARGE_BATCH."""
        cdef uint64_t penalty
        if not max_overage:
            return 0
        penalty = ((max_overage * max_overage * HZ) >> MEMCG_DELAY_PRECISION_SHIFT) >> MEMCG_DELAY_SCALING_SHIFT
        return penalty * <uint64_t>nr_pages // <uint64_t>self.charge_batch

    cdef int64_t _margin(self, MemCgroup m) noexcept:
        """mem_cgroup_margin()."""
        cdef int64_t margin = counter_margin(&m.memory)
        cdef int64_t msw
        if self.memsw:
            msw = counter_margin(&m.swap)
            if msw < margin:
                margin = msw
        return margin

    cdef int _nomem(self, MemCgroup memcg, MemCgroup over, gfp_t gfp, int64_t nr,
                    bint raised_max) except -2:
        """nomem: -ENOMEM, unless the charge may not fail (v5.14: __GFP_NOFAIL; v6.x also
        __GFP_HIGH, and a forced charge counts the MAX event if it was not yet)."""
        if not self.v6:
            if not gfp & GFP_NOFAIL_:
                return -1
            return self._force(memcg, nr)
        if not gfp & (GFP_NOFAIL_ | GFP_HIGH_):
            return -1
        if not raised_max:
            self.memory_event(over, MEMCG_MAX)
        return self._force(memcg, nr)

    cdef int _force(self, MemCgroup memcg, int64_t nr) except -2:
        """force: charge past the limit."""
        counter_charge(&memcg.memory, nr)
        if self.memsw:
            counter_charge(&memcg.swap, nr)
        return 0

    cdef void cancel_charge(self, MemCgroup memcg, int64_t nr) noexcept:
        """cancel_charge()."""
        if memcg.parent is None:
            return
        counter_uncharge(&memcg.memory, nr)
        if self.memsw:
            counter_uncharge(&memcg.swap, nr)

    def charge(self, MemCgroup memcg, int64_t nr, gfp_t gfp=0xcc0):
        """try_charge() for tests and tools: 0 or -ENOMEM."""
        return -ENOMEM if self.try_charge(memcg, gfp, nr) else 0

    # -- user pages (mem_cgroup_charge / mem_cgroup_uncharge) -------------------------------------
    cdef int charge_page(self, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1:
        """mem_cgroup_charge(): the memcg of the mm's owner (current's without an mm)."""
        return self.charge_memcg(pfn, self.mm_memcg(mm), gfp, <int64_t>1 << order)

    cdef int charge_memcg(self, pfn_t pfn, MemCgroup memcg, gfp_t gfp, int64_t nr) except -1:
        """__mem_cgroup_charge() (v6.x charge_memcg()): try_charge(), a css reference,
        commit_charge() and PGPGIN; 0 or -ENOMEM."""
        cdef page* p = &self.pm.mem_map[pfn]
        if self.try_charge(memcg, gfp, nr):
            return -ENOMEM
        memcg.css_refs += 1                 # css_get(&memcg->css)
        p.memcg_data = (<uint64_t>memcg.id) << 2       # commit_charge()
        # mem_cgroup_charge_statistics() (v6.18 memcg1_charge_statistics())
        count_memcg_events(self, memcg, PGPGIN, 1)
        return 0

    # -- swap (mm/memcontrol.c's swap hooks, as the swap plugin calls them) ------------------------
    cdef int swapin_charge_page(self, pfn_t pfn, object mm, gfp_t gfp, int id) except -1:
        """mem_cgroup_swapin_charge_page() (v6.x mem_cgroup_swapin_charge_folio()): the memcg
        whose private id the slot's swap_cgroup record holds, if it is online
        (css_tryget_online), else the mm's (swapin_mm_memcg: without an mm the active memcg,
        current's mm's, or the root), charged as charge_memcg() charges a new page.  The slot's
        swap charge is not touched.  0 or -ENOMEM."""
        cdef MemCgroup memcg = self.mem_cgroup_from_id(id) if id else None
        if memcg is None or not memcg.online:
            memcg = self.swapin_mm_memcg(mm)
        return self.charge_memcg(pfn, memcg, gfp, 1)

    cdef MemCgroup page_user_memcg(self, pfn_t pfn):
        """page_memcg() of a user page (anon, page cache, swap cache): None when it is
        uncharged or a kmem / slab page."""
        cdef uint64_t data = self.pm.mem_map[pfn].memcg_data
        if data == 0 or data & (MEMCG_DATA_OBJCGS | MEMCG_DATA_KMEM):
            return None
        return self.memcg_of(<int>(data >> 2))

    cdef int try_charge_swap(self, pfn_t pfn, int nr) except -1000000:
        """mem_cgroup_try_charge_swap() of page ``pfn`` given ``nr`` slots (0: get_swap_page
        found none).  cgroup v1 or an uncharged page: 0.  No slot: memory.swap.events ``fail``
        of the page's own memcg, 0.  Else the page's memcg, or its closest ancestor whose id
        is alive (mem_cgroup_id_get_online), is charged ``nr`` pages of swap (not the root):
        refused at swap.max, memory.swap.events ``max`` and ``fail`` and -ENOMEM; charged, nr
        id references (the one taken plus mem_cgroup_id_get_many(nr - 1)), MEMCG_SWAP += nr,
        and the id to record is returned."""
        cdef MemCgroup memcg
        cdef page_counter* fail
        if self.v1:
            return 0
        memcg = self.page_user_memcg(pfn)
        if memcg is None:
            return 0
        if nr <= 0:
            self.memory_event(memcg, MEMCG_SWAP_FAIL)
            return 0
        memcg = self.mem_cgroup_id_get_online(memcg)
        if memcg.parent is not None and not counter_try_charge(&memcg.swap, nr, &fail):
            self.memory_event(memcg, MEMCG_SWAP_MAX)
            self.memory_event(memcg, MEMCG_SWAP_FAIL)
            self.mem_cgroup_id_put_many(memcg, 1)
            return -ENOMEM
        if nr > 1:
            memcg.id_refs += nr - 1         # mem_cgroup_id_get_many()
        mod_memcg_state(self, memcg, NR_VM_NODE_STAT_ITEMS + MEMCG_SWAP_ITEM, nr)
        return memcg.id

    cdef int swapout(self, pfn_t pfn, int nr) except -1:
        """mem_cgroup_swapout() (v6.x memcg1_swapout()) of a page leaving the swap cache for
        its ``nr`` slots: cgroup v2 or an uncharged page, 0.  v1: the memory+swap charge moves
        from the page to the slots -- swap_memcg, the page's memcg or its closest ancestor
        whose id is alive, takes ``nr`` id references and MEMCG_SWAP += nr; the page's
        memcg_data is cleared and its memcg's memory counter uncharged (not the root's); with
        memsw accounting and another swap_memcg, swap_memcg's memsw is charged and the page
        memcg's uncharged; PGPGOUT (mem_cgroup_charge_statistics(-nr)); the page's css
        reference dropped.  Returns swap_memcg's id, to record."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef MemCgroup memcg, swap_memcg
        if not self.v1:
            return 0
        memcg = self.page_user_memcg(pfn)
        if memcg is None:
            return 0
        swap_memcg = self.mem_cgroup_id_get_online(memcg)
        if nr > 1:
            swap_memcg.id_refs += nr - 1    # mem_cgroup_id_get_many()
        mod_memcg_state(self, swap_memcg, NR_VM_NODE_STAT_ITEMS + MEMCG_SWAP_ITEM, nr)
        p.memcg_data = 0
        if memcg.parent is not None:
            counter_uncharge(&memcg.memory, nr)
        if self.memsw and memcg is not swap_memcg:
            if swap_memcg.parent is not None:
                counter_charge(&swap_memcg.swap, nr)
            counter_uncharge(&memcg.swap, nr)
        count_memcg_events(self, memcg, PGPGOUT, 1)
        self.css_put(memcg, 1)
        return swap_memcg.id

    cdef int uncharge_swap(self, int id, int nr, bint swapin) except -1:
        """mem_cgroup_uncharge_swap() of ``nr`` slots recorded with ``id`` (the swap plugin
        clears the records): the memcg of that id (alive: the slots hold it, online or not)
        gives back ``nr`` pages of swap (v2) or of memsw (v1 with memsw accounting), not the
        root; MEMCG_SWAP -= nr; nr id references dropped (the last removes the id and lets an
        offline memcg be freed).  Returns 1.  ``swapin``: mem_cgroup_swapin_uncharge_swap(),
        which does that only with v1 memory+swap accounting (do_memsw_account()) and returns 1,
        else 0 with nothing changed."""
        cdef MemCgroup memcg
        if swapin and not self.memsw:
            return 0
        memcg = self.mem_cgroup_from_id(id)
        if memcg is not None:
            if memcg.parent is not None:
                if not self.v1 or self.memsw:
                    counter_uncharge(&memcg.swap, nr)
            mod_memcg_state(self, memcg, NR_VM_NODE_STAT_ITEMS + MEMCG_SWAP_ITEM, -nr)
            self.mem_cgroup_id_put_many(memcg, nr)
        return 1

    cdef bint swap_full(self, pfn_t pfn) noexcept:
        """The memcg part of mem_cgroup_swap_full() (the caller tests vm_swap_full() first):
        cgroup v2 only, the page's memcg or a non-root ancestor whose swap usage is at least
        half its memory.swap.high or memory.swap.max."""
        cdef MemCgroup memcg
        cdef int64_t usage
        if self.v1:
            return False
        memcg = self.page_user_memcg(pfn)
        while memcg is not None and memcg.parent is not None:
            usage = memcg.swap.usage
            if usage * 2 >= memcg.swap.high or usage * 2 >= memcg.swap.max:
                return True
            memcg = memcg.parent
        return False

    def try_charge_swap_py(self, pfn_t pfn, int nr):
        """memcg_ops.try_charge_swap from Python: the id to record (> 0), 0 (nothing to
        record), or -ENOMEM."""
        return self.try_charge_swap(pfn, nr)

    def swapout_py(self, pfn_t pfn, int nr):
        """memcg_ops.swapout from Python: the id to record, 0 on v2 or for an uncharged page."""
        return self.swapout(pfn, nr)

    def uncharge_swap_py(self, int id, int nr, bint swapin=False):
        """memcg_ops.uncharge_swap from Python: 1, or (``swapin`` without v1 memsw
        accounting) 0 with nothing changed."""
        return self.uncharge_swap(id, nr, swapin)

    def swap_full_py(self, pfn_t pfn):
        """memcg_ops.swap_full from Python."""
        return self.swap_full(pfn)

    cdef int uncharge_page(self, pfn_t pfn, unsigned int order) except -1:
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t data = p.memcg_data
        cdef MemCgroup memcg
        cdef int64_t nr = <int64_t>1 << order
        if data == 0 or data & (MEMCG_DATA_OBJCGS | MEMCG_DATA_KMEM):
            return 0
        memcg = self.memcg_of(<int>(data >> 2))
        p.memcg_data = 0
        if memcg is None:
            return 0
        if memcg.parent is not None:        # uncharge_batch(): straight to the counters
            counter_uncharge(&memcg.memory, nr)
            if self.memsw:
                counter_uncharge(&memcg.swap, nr)
            if memcg.under_oom and self.oom_recover is not None:
                self.oom_recover(memcg)         # memcg_oom_recover()
        count_memcg_events(self, memcg, PGPGOUT, 1)      # uncharge_batch(): memcg1_uncharge_batch()
        self.css_put(memcg, 1)
        return 0

    def charged_totals(self):
        """({memcg id: pages charged as user pages}, [pfns naming a freed memcg]) in one C pass
        over the page array (for --check)."""
        cdef pfn_t pfn
        cdef uint64_t data
        cdef page* p
        cdef int id
        cdef int64_t* sums = <int64_t*>PyMem_Calloc(self.id_cap, sizeof(int64_t))
        if sums == NULL:
            raise MemoryError()
        bad = []
        try:
            for pfn in range(self.pm.max_pfn):
                p = &self.pm.mem_map[pfn]
                data = p.memcg_data
                if data == 0 or data & (MEMCG_DATA_OBJCGS | MEMCG_DATA_KMEM):
                    continue
                id = <int>(data >> 2)
                if id >= self.id_cap or self.by_id[id] == NULL:
                    bad.append(pfn)
                    continue
                sums[id] += (1 << p.compound_order) if p.flags & (1ULL << PG_head) else 1
            return {i: sums[i] for i in range(self.id_cap) if sums[i]}, bad
        finally:
            PyMem_Free(sums)

    def page_memcg(self, pfn_t pfn):
        """page_memcg_check(): the memcg a page is charged to (None: uncharged, or a slab
        page); a kmem page's is its obj_cgroup's current owner."""
        cdef uint64_t data = self.pm.mem_map[pfn].memcg_data
        cdef void* m
        if data == 0 or data & MEMCG_DATA_OBJCGS:
            return None
        if data & MEMCG_DATA_KMEM:
            if self.kmem_page_memcg == NULL:
                return None
            m = self.kmem_page_memcg(self.kmem_ctx, data)
            return None if m == NULL else <MemCgroup>m
        return self.memcg_of(<int>(data >> 2))

    def install(self):
        """Fill the core's memcg_ops and lruvec_stat_ops with this controller."""
        self.pm.memcg.charge = _charge
        self.pm.memcg.uncharge = _uncharge
        self.pm.memcg.swapin_charge = _swapin_charge
        self.pm.memcg.try_charge_swap = _try_charge_swap
        self.pm.memcg.swapout = _swapout
        self.pm.memcg.uncharge_swap = _uncharge_swap
        self.pm.memcg.swap_full = _swap_full
        self.pm.memcg.mod_lruvec_page_state = _mod_lruvec_page_state
        self.pm.memcg.count_event_mm = _count_event_mm
        self.pm.memcg.ctx = <void*>self
        self.pm.vs.lruvec_ops.mod_memcg_lruvec_state = _mod_memcg_lruvec_state
        self.pm.vs.lruvec_ops.ctx = <void*>self

    def uninstall(self):
        memset(&self.pm.memcg, 0, sizeof(memcg_ops))
        self.pm.vs.lruvec_ops.mod_memcg_lruvec_state = NULL
        self.pm.vs.lruvec_ops.ctx = NULL


cdef inline uint64_t _calculate_overage(int64_t usage, int64_t high) noexcept:
    """calculate_overage(): how far ``usage`` is over ``high``, in 2^-20 parts of high."""
    if usage <= high:
        return 0
    if high < 1:
        high = 1
    return ((<uint64_t>(usage - high)) << MEMCG_DELAY_PRECISION_SHIFT) // <uint64_t>high


cdef bint mem_cgroup_is_descendant(MemCgroup m, MemCgroup root) noexcept:
    while m is not None:
        if m is root:
            return True
        m = m.parent
    return False


def is_descendant(MemCgroup m, MemCgroup root):
    """mem_cgroup_is_descendant()."""
    return mem_cgroup_is_descendant(m, root)


# -- the ops table ----------------------------------------------------------------------------------

cdef int _charge(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1:
    return (<MemcgHost>ctx).charge_page(pfn, order, gfp, mm)


cdef int _uncharge(void* ctx, pfn_t pfn, unsigned int order) except -1:
    return (<MemcgHost>ctx).uncharge_page(pfn, order)


cdef int _swapin_charge(void* ctx, pfn_t pfn, object mm, gfp_t gfp, int id) except -1:
    return (<MemcgHost>ctx).swapin_charge_page(pfn, mm, gfp, id)


cdef int _try_charge_swap(void* ctx, pfn_t pfn, int nr) except -1000000:
    return (<MemcgHost>ctx).try_charge_swap(pfn, nr)


cdef int _swapout(void* ctx, pfn_t pfn, int nr) except -1:
    return (<MemcgHost>ctx).swapout(pfn, nr)


cdef int _uncharge_swap(void* ctx, int id, int nr, bint swapin) except -1:
    return (<MemcgHost>ctx).uncharge_swap(id, nr, swapin)


cdef int _swap_full(void* ctx, pfn_t pfn) except -1:
    return (<MemcgHost>ctx).swap_full(pfn)


cdef void _count_event_mm(void* ctx, object mm, int item, uint64_t n) noexcept:
    """count_memcg_event_mm(): the event for the memcg of the mm's owner."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef MemCgroup memcg = h.mm_memcg(mm)
    count_memcg_events(h, memcg, item, n)


cdef int _mod_lruvec_page_state(void* ctx, pfn_t pfn, int idx, int64_t val) except -1:
    cdef MemcgHost h = <MemcgHost>ctx
    _mod_memcg_lruvec_state(ctx, &h.pm.mem_map[pfn], 0, idx, val)
    return 0


cdef void _mod_memcg_lruvec_state(void* ctx, page* p, int nid, int item, int64_t delta) noexcept:
    """__mod_memcg_lruvec_state() for a page: the memcg its memcg_data names (a slab page's
    objcg vector names none: its objects are counted through their objcgs)."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef uint64_t data = p.memcg_data
    cdef MemCgroup memcg
    cdef void* m
    if data == 0 or data & MEMCG_DATA_OBJCGS:
        return
    if data & MEMCG_DATA_KMEM:              # page_memcg(): a kmem page's current owner
        if h.kmem_page_memcg == NULL:
            return
        m = h.kmem_page_memcg(h.kmem_ctx, data)
        if m != NULL:
            mod_memcg_lruvec_state(h, <MemCgroup>m, item, delta)
        return
    if (data >> 2) >= <uint64_t>h.id_cap or h.by_id[data >> 2] == NULL:
        return
    memcg = <MemCgroup>h.by_id[data >> 2]
    mod_memcg_lruvec_state(h, memcg, item, delta)


cdef void _trace_flush(void* ctx, memcg_vmstats* vm, int64_t stats_updates, bint force,
                       bint needs_flush) noexcept:
    """trace_memcg_flush_stats() (StatTree.flush_trace): the memcg's cgroup_id(), its
    vmstats->stats_updates, force and needs_flush."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef uint64_t vals[4]
    if h.ev_flush < 0:
        return
    vals[0] = vm.cgroup_id
    vals[1] = <uint64_t>stats_updates
    vals[2] = force
    vals[3] = needs_flush
    try:
        h.pm.tb.emit(h.ev_flush, h.cpu[0], h.pm.cur.pid, vals, NULL, 0)
    except Exception:
        pass
