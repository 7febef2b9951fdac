# cython: language_level=3
# The memcg statistics engine (mm/memcontrol.c vmstats + kernel/cgroup/rstat.c): per-CPU
# counters, the rstat updated tree and its flush, in the three forms a profile can ask for.
# memcontrol.pyx cimports this and calls mod_state()/count_event() once per stat update.
from libc.stdint cimport int64_t, uint8_t, uint64_t

# How a profile aggregates memcg statistics (memcg.md 6.2, 6.3 and 6.5)
cdef enum rstat_mode:
    RSTAT_BATCHED = 0       # <= v5.12: write-side per-CPU batches of 32, no flush
    RSTAT_EXACT = 1         # v5.13/v5.14: rstat, every memory.stat read flushes its subtree
    RSTAT_THROTTLED = 2     # v6.18: rstat, reads flush only past memcg_vmstats_needs_flush()

# The unit a state item counts in (memcg_page_state_unit())
cdef enum stat_unit:
    STAT_UNIT_PAGES = 0
    STAT_UNIT_BYTES = 1     # NR_SLAB_*_B, MEMCG_PERCPU_B: batch threshold 32 << PAGE_SHIFT
    STAT_UNIT_KB = 2        # NR_KERNEL_STACK_KB


cdef struct css_rstat_cpu:
    # Links of one memcg in the updated tree of one CPU (memcg.md 6.2): updated_children is
    # the head of the list of children updated on this CPU (the memcg itself when empty),
    # updated_next the link in the parent's list (NULL iff not linked; the root points at
    # itself).  lnext/on_llist: v6.17+ defers linking to the flush through a per-CPU lockless
    # list (css_rstat_updated()); flush_next: the flush list css_rstat_updated_list() builds.
    memcg_vmstats* updated_children
    memcg_vmstats* updated_next
    memcg_vmstats* lnext
    memcg_vmstats* flush_next
    bint on_llist


cdef struct memcg_vmstats:
    # The statistics of one memory cgroup: struct memcg_vmstats plus its per-CPU
    # struct memcg_vmstats_percpu and css_rstat_cpu.  Arrays have nr_items entries (the state
    # items, then the events); per-CPU arrays have ncpus * nr_items, CPU-major.
    memcg_vmstats* parent
    int id
    int64_t* state              # vmstats->state/events: hierarchical (aggregated) values
    int64_t* state_local        # EXACT/THROTTLED: vmstats->state_local (flushed, this level)
                                # BATCHED: vmstats_local (the batches that left the CPUs)
    int64_t* state_pending      # deltas pushed up by flushed children, not aggregated yet
    int64_t* pcpu_state         # vmstats_percpu->state/events (BATCHED: the unbatched rest)
    int64_t* pcpu_prev          # vmstats_percpu->state_prev/events_prev
    int64_t* pcpu_stats_updates # THROTTLED: vmstats_percpu->stats_updates, one per CPU
    int64_t stats_updates       # THROTTLED: vmstats->stats_updates
    css_rstat_cpu* rstat_cpu    # one per CPU
    uint64_t cgroup_id          # cgroup_id() of the memcg's cgroup (its kernfs id), for the
                                # memcg trace events' memcg_id; 1 for the root


# memcg:memcg_flush_stats, emitted by whoever set StatTree.flush_trace (the memcg plugin's
# MemcgHost): the memcg whose subtree is to be flushed, vmstats->stats_updates, force, needs_flush
ctypedef void (*flush_trace_fn)(void* ctx, memcg_vmstats* vm, int64_t stats_updates, bint force,
                                bint needs_flush) noexcept


cdef class MemcgStats:
    """The statistics of one memory cgroup (struct mem_cgroup's vmstats side)."""
    cdef memcg_vmstats* vm
    cdef readonly StatTree tree
    cdef readonly MemcgStats parent
    cdef readonly int id
    cdef readonly bint released
    cdef readonly int nr_children       # live (unreleased) children
    cdef int _index(self, int item, bint event) except -1


cdef class StatTree:
    """The machine's memcg statistics: item descriptions, mode, and the flush machinery."""
    cdef readonly int ncpus
    cdef readonly int nr_stat           # state items 0 .. nr_stat-1
    cdef readonly int nr_events         # event items (indexed 0 .. nr_events-1)
    cdef readonly int nr_items          # nr_stat + nr_events
    cdef readonly int mode              # rstat_mode
    cdef readonly int64_t charge_batch  # MEMCG_CHARGE_BATCH: 32 (<= v6.x), 64 in v6.18
    cdef int64_t* threshold             # BATCHED: per state item, 32 or 32 << PAGE_SHIFT
    cdef int* unit                      # per state item, stat_unit
    cdef memcg_vmstats** lhead          # THROTTLED: per-CPU lockless list heads (ss->lhead)
    cdef readonly MemcgStats root
    cdef readonly dict memcgs           # id -> MemcgStats, every unreleased memcg
    cdef int next_id
    cdef readonly uint64_t flush_last_time_ns   # flush_last_time (of a root flush)
    # work counters (a benchmark reads them through flush_work())
    cdef uint64_t nr_flushes, nr_cpus_scanned, nr_nodes_visited, nr_items_scanned
    cdef uint64_t nr_items_changed, nr_batch_propagations
    cdef public object visit_log        # test hook: a list to append (cpu, id) per visit, or None
    # memcg:memcg_flush_stats: tested through ev_flush_on (the event's enabled byte in the
    # TraceBuffer, or a constant 0), emitted through flush_trace(flush_trace_ctx, ...)
    cdef const uint8_t* ev_flush_on
    cdef flush_trace_fn flush_trace
    cdef void* flush_trace_ctx

    # hot path, called from C once per update
    cdef void mod_state(self, MemcgStats m, int cpu, int item, int64_t delta) noexcept nogil
    cdef void count_event(self, MemcgStats m, int cpu, int item, uint64_t n) noexcept nogil
    # pieces
    cdef void batched_update(self, memcg_vmstats* vm, int cpu, int i, int64_t delta,
                             bint is_event) noexcept nogil
    cdef void rstat_link_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil
    cdef void cgroup_rstat_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil
    cdef void css_rstat_updated(self, memcg_vmstats* vm, int cpu) noexcept nogil
    cdef void memcg_rstat_updated(self, memcg_vmstats* vm, int64_t val, int cpu) noexcept nogil
    cdef bint memcg_vmstats_needs_flush(self, memcg_vmstats* vm) noexcept nogil
    cdef int64_t memcg_state_val_in_pages(self, int item, int64_t val) noexcept nogil
    cdef memcg_vmstats* cgroup_rstat_cpu_pop_updated(self, memcg_vmstats* pos,
                                                      memcg_vmstats* root, int cpu) noexcept nogil
    cdef void css_process_update_tree(self, int cpu) noexcept nogil
    cdef memcg_vmstats* css_rstat_push_children(self, memcg_vmstats* head, memcg_vmstats* child,
                                                 int cpu) noexcept nogil
    cdef memcg_vmstats* css_rstat_updated_list(self, memcg_vmstats* root, int cpu) noexcept nogil
    cdef void mem_cgroup_css_rstat_flush(self, memcg_vmstats* vm, int cpu) noexcept nogil
    cdef int cgroup_rstat_flush(self, memcg_vmstats* root) except -1
    cdef int __mem_cgroup_flush_stats(self, memcg_vmstats* vm, bint force, object now_ns) except -1
    cdef int memcg_flush_percpu_vmstats(self, memcg_vmstats* vm) except -1
    cdef int _check_cpu(self, int cpu) except -1
    cdef int _check_live(self, MemcgStats m) except -1
