# cython: language_level=3
# Memory cgroups (mm/memcontrol.c, mm/page_counter.c): the page counters, the per-CPU charge
# stock, try_charge and the charge and uncharge of user pages behind the core's memcg_ops.
from libc.stdint cimport int64_t, uint8_t, uint64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.plugins.memcg.rstat cimport MemcgStats, StatTree, memcg_vmstats, RSTAT_EXACT

# memory.events (enum memcg_memory_event)
cdef enum:
    MEMCG_LOW = 0
    MEMCG_HIGH = 1
    MEMCG_MAX = 2
    MEMCG_OOM = 3
    MEMCG_OOM_KILL = 4
    MEMCG_OOM_GROUP_KILL = 5            # v5.17+ shows it in memory.events
    MEMCG_SOCK_THROTTLED = 6            # v6.14+ (memsim has no sockets: always 0)
    MEMCG_SWAP_HIGH = 7                 # memory.swap.events (v2): over swap.high
    MEMCG_SWAP_MAX = 8                  #   a swap charge refused at swap.max
    MEMCG_SWAP_FAIL = 9                 #   no swap slot, or swap.max refused
    MEMCG_NR_MEMORY_EVENTS = 10

# memcg-only state items, after the node_stat_items (enum memcg_stat_item)
cdef enum:
    MEMCG_SWAP_ITEM = 0                 # + NR_VM_NODE_STAT_ITEMS
    MEMCG_SOCK_ITEM = 1
    MEMCG_PERCPU_B_ITEM = 2
    MEMCG_KMEM_ITEM = 3
    MEMCG_NR_OWN_ITEMS = 4

# struct page_counter: usage and limits in pages; parent is the same resource one level up
cdef struct page_counter:
    int64_t usage
    int64_t max
    int64_t watermark
    int64_t failcnt
    int64_t min
    int64_t low
    int64_t high
    page_counter* parent
    int owner                           # the id of the memcg this counter belongs to

# struct memcg_stock_pcp (the page part): ``cached`` holds memcg ids, 0 for none.  v5.14 caches
# one memcg per CPU (slot 0); v6.16+ up to NR_MEMCG_STOCK
cdef enum:
    NR_MEMCG_STOCK = 7
cdef struct memcg_stock_pcp:
    int cached[NR_MEMCG_STOCK]
    int64_t nr_pages[NR_MEMCG_STOCK]

# page_memcg() of a kmem page (MEMCG_DATA_KMEM): the memcg (borrowed) its memcg_data resolves to
# -- objcg->memcg with the objcg-kmem change, the memcg itself without -- or NULL
ctypedef void* (*kmem_page_memcg_fn)(void* ctx, uint64_t memcg_data) noexcept


cdef class MemCgroup:
    """struct mem_cgroup."""
    cdef page_counter memory
    cdef page_counter swap              # v2 swap; v1 memsw
    cdef page_counter kmem              # v1 only
    cdef readonly int id                # mem_cgroup_id(): the index memcg_data stores
    cdef readonly MemCgroup parent
    cdef readonly MemcgStats stats
    cdef memcg_vmstats* vm              # stats.vm, for the inlined fast path
    cdef readonly MemcgHost host
    cdef public object cgroup           # the cgroup (memsim.plugins.memcg.cgroupfs.Cgroup)
    cdef readonly int64_t css_refs      # references to the css (charged pages, stocks)
    cdef readonly bint online           # css online (between css_online and css_offline)
    cdef readonly bint freed            # css_free ran: the id is free again
    cdef readonly int64_t id_refs       # memcg->id.ref: 1 while online, + 1 per swap slot
                                        # recorded with its id; at 0 the private id is removed
                                        # (mem_cgroup_from_id() no longer finds it) and the
                                        # css reference it held is dropped
    cdef uint64_t events[MEMCG_NR_MEMORY_EVENTS]        # memory.events and memory.swap.events
                                                        # (hierarchical on v2)
    cdef uint64_t events_local[MEMCG_NR_MEMORY_EVENTS]  # memory.events.local
    cdef public object objcg            # memcg->objcg: its current ObjCgroup (objcg.pyx); None for
                                        # the root, without kmem accounting, and once offline
    cdef public list objcg_list         # memcg->objcg_list: ObjCgroups reparented to this memcg
    cdef public int under_oom           # memcg->under_oom: tasks waiting in an OOM of it or an
                                        # ancestor (v1 oom_kill_disable)
    cdef page_counter* _counter(self, str name) except NULL
    cdef inline bint is_root(self) noexcept:
        return self.parent is None


cdef class MemcgHost:
    """The memcg controller of one machine: the memcgs by id, the per-CPU stocks, the
    statistics tree, and the ops the core calls (memcg_ops, lruvec_stat_ops)."""
    cdef PhysMem pm
    cdef readonly StatTree stat_tree
    cdef int* cpu                       # &Current.cpu (vmstat_t.cpu): smp_processor_id()
    cdef int st_mode, st_nr_items, st_nr_stat  # the StatTree's mode and sizes, for the fast path
    cdef void** by_id                   # MemCgroup by id (borrowed: ``memcgs`` holds them)
    cdef int id_cap
    cdef readonly dict memcgs           # id -> MemCgroup, every memcg not yet freed
    cdef memcg_stock_pcp* stock         # one per CPU
    cdef readonly int ncpus
    cdef readonly int64_t charge_batch  # MEMCG_CHARGE_BATCH
    cdef readonly bint v6               # the v6.18 code: NR_MEMCG_STOCK memcgs per CPU stock,
                                        # try_charge_memcg()'s force and OOM rules of 6.x,
                                        # separate page and object stock drains
    cdef readonly int nr_stock          # memcgs one CPU's stock caches (1, or NR_MEMCG_STOCK)
    cdef uint64_t rnd                   # get_random_u32_below()'s state (seeded: deterministic)
    cdef readonly MemCgroup root
    cdef readonly bint v1               # the cgroup v1 memory controller (memsw, kmem counters)
    cdef readonly bint memsw            # v1 swap accounting (memory.memsw.*)
    cdef readonly bint uses_root_counter    # v1: the root's usage is computed from statistics
    cdef public object oom              # callable(memcg, gfp, order) -> 1 a victim was killed,
                                        # 0 none (mem_cgroup_out_of_memory), -1 v1 oom_kill_disable
                                        # (the charge fails; a user fault then waits)
    cdef public object oom_recover      # callable(memcg): memcg_oom_recover(), when under_oom
    cdef public object reclaim          # callable(memcg, nr_pages, gfp, may_swap) -> int, or None
    cdef public object release_hook     # callable(memcg) when a dying memcg's last reference goes
    cdef readonly uint64_t nr_charges, nr_stock_hits
    cdef readonly dict over_high        # pid -> current->memcg_nr_pages_over_high
    cdef readonly dict high_sleep       # pid -> ns of penalty owed from a charge (v6.x throttles
                                        # in try_charge_memcg past a batch over high)
    cdef public object kmem             # the kmem side (objcg.pyx ObjcgHost), None without it
    cdef kmem_page_memcg_fn kmem_page_memcg     # set by the kmem side
    cdef void* kmem_ctx
    # the memcg trace events (v6.18; memsim.tracing.memcg): each one's enabled byte in the
    # TraceBuffer (a constant 0 when the profile does not declare it), its slot, and the 6.18
    # enum value of each statistic (-1: 6.18's memcg does not keep it, no event)
    cdef const uint8_t* ev_state_on     # memcg:mod_memcg_state
    cdef const uint8_t* ev_lruvec_on    # memcg:mod_memcg_lruvec_state
    cdef const uint8_t* ev_events_on    # memcg:count_memcg_events
    cdef int ev_state, ev_lruvec, ev_events, ev_flush
    cdef int* trace_item                # by StatTree index (state items, then events)

    cdef _grow(self, int need)
    cdef _over_high(self, int64_t batch)
    cdef _free(self, MemCgroup m)
    cdef int64_t _margin(self, MemCgroup m) noexcept
    cdef int _nomem(self, MemCgroup memcg, MemCgroup over, gfp_t gfp, int64_t nr,
                    bint raised_max) except -2
    cdef int _force(self, MemCgroup memcg, int64_t nr) except -2
    cdef MemCgroup memcg_of(self, int id)
    cdef MemCgroup mem_cgroup_from_id(self, int id)
    cdef MemCgroup mem_cgroup_id_get_online(self, MemCgroup memcg)
    cdef void mem_cgroup_id_put_many(self, MemCgroup memcg, int64_t n) except *
    cdef MemCgroup current_memcg(self)
    cdef MemCgroup mm_memcg(self, object mm)
    cdef MemCgroup swapin_mm_memcg(self, object mm)
    cdef bint consume_stock(self, MemCgroup memcg, int64_t nr) noexcept
    cdef void drain_stock(self, int cpu) noexcept
    cdef void drain_stock_slot(self, int cpu, int i) noexcept
    cdef bint is_memcg_drain_needed(self, int cpu, MemCgroup root_memcg) noexcept
    cdef void memcg_uncharge(self, MemCgroup memcg, int64_t nr) noexcept
    cdef void refill_stock(self, MemCgroup memcg, int64_t nr) noexcept
    cdef void refill_stock_on(self, MemCgroup memcg, int64_t nr, int cpu) noexcept
    cdef int try_charge(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2
    cdef int try_charge_memcg(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2
    cdef void cancel_charge(self, MemCgroup memcg, int64_t nr) noexcept
    cdef void memory_event(self, MemCgroup memcg, int event) noexcept
    cdef int charge_page(self, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1
    cdef int charge_memcg(self, pfn_t pfn, MemCgroup memcg, gfp_t gfp, int64_t nr) except -1
    cdef int swapin_charge_page(self, pfn_t pfn, object mm, gfp_t gfp, int id) except -1
    cdef int try_charge_swap(self, pfn_t pfn, int nr) except -1000000
    cdef int swapout(self, pfn_t pfn, int nr) except -1
    cdef int uncharge_swap(self, int id, int nr, bint swapin) except -1
    cdef bint swap_full(self, pfn_t pfn) noexcept
    cdef MemCgroup page_user_memcg(self, pfn_t pfn)
    cdef int uncharge_page(self, pfn_t pfn, unsigned int order) except -1
    cdef void css_put(self, MemCgroup memcg, int64_t n) except *
    cdef void trace_stat(self, int slot, MemCgroup memcg, int i, int64_t val) noexcept


# mm/page_counter.c and the hierarchy test, shared with objcg.pyx
cdef void counter_init(page_counter* c, page_counter* parent, int owner) noexcept
cdef bint counter_try_charge(page_counter* counter, int64_t nr, page_counter** fail) noexcept
cdef void counter_charge(page_counter* counter, int64_t nr) noexcept
cdef void counter_uncharge(page_counter* counter, int64_t nr) noexcept
cdef bint mem_cgroup_is_descendant(MemCgroup m, MemCgroup root) noexcept


# -- the statistics fast path -------------------------------------------------------------------

cdef inline void stat_add(MemcgHost h, MemCgroup memcg, int i, int64_t delta) noexcept:
    """StatTree.mod_state() (item ``i``) / count_event() (``i`` = nr_stat + event) with
    v5.14's path inlined: the per-CPU counter, then cgroup_rstat_updated()'s fast path.  No
    trace event: callers go through the three entry points below."""
    cdef memcg_vmstats* vm = memcg.vm
    cdef int cpu = h.cpu[0]
    if h.st_mode == RSTAT_EXACT:
        vm.pcpu_state[cpu * h.st_nr_items + i] += delta
        if vm.rstat_cpu[cpu].updated_next == NULL:
            h.stat_tree.cgroup_rstat_updated(vm, cpu)
    elif i < h.st_nr_stat:
        h.stat_tree.mod_state(memcg.stats, cpu, i, delta)
    else:
        h.stat_tree.count_event(memcg.stats, cpu, i - h.st_nr_stat, <uint64_t>delta)


# The kernel's three entry points (mm/memcontrol.c of 6.18): the statistic, then its trace event,
# which costs a test of one byte when it is off.  A caller picks the one the kernel's caller uses.

cdef inline void mod_memcg_state(MemcgHost h, MemCgroup memcg, int i, int64_t val) noexcept:
    """mod_memcg_state(): memcg-only item ``i`` (MEMCG_KMEM, MEMCG_SWAP, ...) changes by
    ``val``, then memcg:mod_memcg_state."""
    stat_add(h, memcg, i, val)
    if h.ev_state_on[0]:
        h.trace_stat(h.ev_state, memcg, i, val)


cdef inline void mod_memcg_lruvec_state(MemcgHost h, MemCgroup memcg, int i, int64_t val) noexcept:
    """mod_memcg_lruvec_state() (from __mod_lruvec_state(): a charged page's node item ``i``,
    or mod_objcg_mlstate(): slab bytes): the memcg's part, then memcg:mod_memcg_lruvec_state."""
    stat_add(h, memcg, i, val)
    if h.ev_lruvec_on[0]:
        h.trace_stat(h.ev_lruvec, memcg, i, val)


cdef inline void count_memcg_events(MemcgHost h, MemCgroup memcg, int event, uint64_t count) noexcept:
    """count_memcg_events(): vm_event_item ``event`` happened ``count`` times, then
    memcg:count_memcg_events."""
    stat_add(h, memcg, h.st_nr_stat + event, <int64_t>count)
    if h.ev_events_on[0]:
        h.trace_stat(h.ev_events, memcg, h.st_nr_stat + event, <int64_t>count)
