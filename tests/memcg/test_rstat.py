"""The memcg statistics engine (plugins/memcg/rstat.pyx): memcg.md section 6 and scenarios 16,
17 and 20, in the three modes (EXACT = v5.13/5.14 rstat, THROTTLED = v6.18, BATCHED = before
5.13)."""
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from memsim.plugins.memcg import rstat
from memsim.plugins.memcg.rstat import BATCHED, EXACT, THROTTLED, StatTree

PAGE_SIZE = 4096
# item numbers of these tests: NR_ANON_MAPPED (pages), NR_SLAB_UNRECLAIMABLE_B (bytes),
# NR_KERNEL_STACK_KB (KiB); events PGFAULT, PGPGIN
ANON, SLAB_B, STACK_KB = 0, 1, 2
PGFAULT, PGPGIN = 0, 1
UNITS = ["pages", "bytes", "kb"]


def make_tree(mode, ncpus=4, **kw):
    return StatTree(ncpus, UNITS, 2, mode, **kw)


def chain(tree, *names):
    """root -> a -> b ... (returns them in order)"""
    out = [tree.new_memcg()]
    for _ in names[1:]:
        out.append(tree.new_memcg(out[-1]))
    return out


# ---- scenario 16 -------------------------------------------------------------------------------

def scenario16(mode):
    """P (a child of the root) with 32 children; 32 CPUs; every child changes NR_ANON_MAPPED by
    +31 pages on every CPU."""
    t = StatTree(32, UNITS, 2, mode)
    root = t.new_memcg()
    p = t.new_memcg(root)
    kids = [t.new_memcg(p) for _ in range(32)]
    for c in kids:
        for cpu in range(32):
            t.mod_memcg_state(c, cpu, ANON, 31)
    return t, p, kids


def test_scenario16_exact_read_is_exact():
    """memcg.md scenario 16, v5.14: the memory.stat read flushes P's subtree, anon is exact."""
    t, p, _ = scenario16(EXACT)
    assert t.stat_flush_for_read(p)
    assert t.read(p, ANON) * PAGE_SIZE == 32 * 32 * 31 * 4096


def test_scenario16_batched_read_is_zero():
    """memcg.md scenario 16 under the old model (6.3): +31 never exceeds the 32-page batch, so
    nothing leaves the CPUs; the read returns 0, missing 31 744 pages (the bound is 32 x 32 x 33
    memcgs pages)."""
    t, p, _ = scenario16(BATCHED)
    assert not t.stat_flush_for_read(p)
    assert t.read(p, ANON) == 0
    assert t.flush_work()["batch_propagations"] == 0


def test_scenario16_throttled_read_flushes():
    """memcg.md scenario 16 on v6.18 (memcg_rstat_updated(), memcg_vmstats_needs_flush()).

    Each child sees one +31 per CPU, so its per-CPU stats_updates (31) never reaches
    MEMCG_CHARGE_BATCH = 64 and its own vmstats->stats_updates stays 0.  P's per-CPU counter
    collects 31 per child: at the 3rd child of a CPU it reaches 93 >= 64 and moves to
    P's vmstats->stats_updates.  Long before the last update P's counter is past
    64 x 32 CPUs = 2048 (32 x 32 x 31 = 31 744 update units in all), so P needs a flush, the
    updates stop counting at P (the loop breaks there), and P's memory.stat read flushes P's
    subtree: anon is exact, as in v5.14.  A read of one child alone, though, does not flush
    (its counter is 0) and shows 0 until someone flushes it.
    """
    t, p, kids = scenario16(THROTTLED)
    assert all(c.stats_updates == 0 for c in kids)
    assert all(c.pcpu_stats_updates(cpu) == 31 for c in kids for cpu in range(32))
    assert p.stats_updates > 64 * 32 and t.needs_flush(p)
    assert not t.stat_flush_for_read(kids[0])
    assert t.read(kids[0], ANON) == 0                  # stale: nothing flushed yet
    assert t.stat_flush_for_read(p)
    assert t.read(p, ANON) == 32 * 32 * 31
    assert t.read(kids[0], ANON) == 32 * 31            # flushed as part of P's subtree
    assert p.stats_updates == 0 and not t.needs_flush(p)


# ---- scenario 17 -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [EXACT, THROTTLED])
def test_scenario17_flush_stops_at_flush_root(mode):
    """memcg.md scenario 17: R/P/{C1,C2}, only C1 updated on CPU0; flush(P) visits C1 then P,
    not C2; C1 and P are unlinked; R gets the delta in pending, not in aggregated, keeps its
    self-mark, and a later flush(R) moves the delta into R.aggregated."""
    t = make_tree(mode)
    r = t.new_memcg()
    p = t.new_memcg(r)
    c1, c2 = t.new_memcg(p), t.new_memcg(p)
    t.mod_memcg_state(c1, 0, ANON, 7)
    assert c1.linked(0) and not c2.linked(0) and not c1.linked(1)
    t.visit_log = []
    t.flush(p)
    assert t.visit_log == [(0, c1.id), (0, p.id)]
    assert not c1.linked(0) and not p.linked(0)
    assert p.updated_children(0) == [] and r.updated_children(0) == []
    assert p.aggregated(ANON) == 7 and c1.aggregated(ANON) == 7
    assert r.pending(ANON) == 7 and r.aggregated(ANON) == 0
    assert r.updated_next(0) == r.id                   # the root marks itself
    t.visit_log = []
    t.flush(r)
    assert t.visit_log == [(0, r.id)]
    assert r.aggregated(ANON) == 7 and r.pending(ANON) == 0
    assert not r.linked(0)


@pytest.mark.parametrize("mode", [EXACT, THROTTLED])
def test_flush_visits_siblings_lifo(mode):
    """Siblings first updated C1, C2, C3 on CPU0 are flushed C3, C2, C1, then P (memcg.md 6.2);
    CPU1's tree is walked after CPU0's."""
    t = make_tree(mode)
    r = t.new_memcg()
    p = t.new_memcg(r)
    c = [t.new_memcg(p) for _ in range(3)]
    for m in c:
        t.mod_memcg_state(m, 0, ANON, 1)
    t.mod_memcg_state(c[0], 1, ANON, 1)
    t.visit_log = []
    t.flush(p)
    assert t.visit_log == [(0, c[2].id), (0, c[1].id), (0, c[0].id), (0, p.id),
                           (1, c[0].id), (1, p.id)]


def test_flush_order_deep_tree_v514_vs_v618():
    """P/{C1/G1, C2}; G1 updated, then C2 (CPU0).  v5.14's cgroup_rstat_cpu_pop_updated()
    walks depth first along the list heads: C2, G1, C1, P.  v6.18 links from the lockless list
    at flush time (C2 first, then G1, which puts C1 in front of C2) and css_rstat_push_children()
    emits the deeper level first: G1, C2, C1, P.  Both put every child before its parent."""
    orders = {}
    for mode in (EXACT, THROTTLED):
        t = make_tree(mode)
        r = t.new_memcg()
        p = t.new_memcg(r)
        c1 = t.new_memcg(p)
        g1 = t.new_memcg(c1)
        c2 = t.new_memcg(p)
        t.mod_memcg_state(g1, 0, ANON, 1)
        t.mod_memcg_state(c2, 0, ANON, 1)
        t.visit_log = []
        t.flush(p)
        name = {p.id: "P", c1.id: "C1", g1.id: "G1", c2.id: "C2"}
        orders[mode] = [name[i] for _, i in t.visit_log]
        assert t.read(p, ANON) == 2
    assert orders[EXACT] == ["C2", "G1", "C1", "P"]
    assert orders[THROTTLED] == ["G1", "C2", "C1", "P"]


def test_flush_of_unupdated_subtree_visits_nothing():
    t = make_tree(EXACT)
    r = t.new_memcg()
    a, b = t.new_memcg(r), t.new_memcg(r)
    t.mod_memcg_state(a, 2, ANON, 3)
    t.visit_log = []
    t.reset_flush_work()
    t.flush(b)
    assert t.visit_log == []
    assert t.flush_work() == {"flushes": 1, "cpus_scanned": 4, "nodes_visited": 0,
                              "items_scanned": 0, "items_changed": 0, "batch_propagations": 0}
    assert a.linked(2) and r.linked(2)


# ---- THROTTLED gating (v6.18) ------------------------------------------------------------------

def test_throttled_scenario20_in_the_618_form():
    """memcg.md scenario 20, redone for v6.18 (4 online CPUs, memcg A under the root, 100
    single-page updates on CPU0, then memory.stat).

    The spec's numbers are for the 5.15.y form (6.5): a global threshold that gets +1 per 32
    units, flushing the whole tree when above num_online_cpus (3 after 100 updates: stale).
    v6.18 counts per memcg: A's per-CPU stats_updates reaches MEMCG_CHARGE_BATCH = 64 at the
    64th update and moves 64 into A's vmstats->stats_updates; 36 stay per-CPU.  The read flushes
    only when A's counter exceeds 64 x 4 = 256, so it shows 0 pages (stale).  Whole 64-unit
    batches arrive at updates 64, 128, 192, 256, 320: 319 updates are still stale (256 is not >
    256), the 320th makes the read flush and show exactly 320 pages.
    """
    t = make_tree(THROTTLED)
    root = t.new_memcg()
    a = t.new_memcg(root)
    for _ in range(100):
        t.mod_memcg_state(a, 0, ANON, 1)
    assert a.stats_updates == 64 and a.pcpu_stats_updates(0) == 36
    assert not t.stat_flush_for_read(a)
    assert t.read(a, ANON) == 0
    for _ in range(219):
        t.mod_memcg_state(a, 0, ANON, 1)
    assert a.stats_updates == 256 and not t.needs_flush(a)
    assert not t.stat_flush_for_read(a) and t.read(a, ANON) == 0
    t.mod_memcg_state(a, 0, ANON, 1)
    assert a.stats_updates == 320 and t.needs_flush(a)
    assert t.stat_flush_for_read(a)
    assert t.read(a, ANON) == 320
    assert a.stats_updates == 0 and a.pcpu_stats_updates(0) == 0


def test_throttled_periodic_flush_makes_reads_exact():
    """flush_memcg_stats_dwork(): every FLUSH_TIME (2 s) the root's subtree is flushed whether
    or not it needs it, so a few small updates are visible after the next tick."""
    assert rstat.FLUSH_TIME_NS == 2_000_000_000
    t = make_tree(THROTTLED)
    root = t.new_memcg()
    a = t.new_memcg(root)
    b = t.new_memcg(a)
    t.mod_memcg_state(b, 1, ANON, 5)
    t.count_memcg_events(b, 2, PGFAULT, 3)
    assert not t.stat_flush_for_read(a)
    assert t.read(a, ANON) == 0 and t.read_event(a, PGFAULT) == 0
    assert t.periodic_flush(rstat.FLUSH_TIME_NS)
    assert t.flush_last_time_ns == rstat.FLUSH_TIME_NS
    assert t.read(a, ANON) == 5 and t.read(b, ANON) == 5 and t.read(root, ANON) == 5
    assert t.read_event(a, PGFAULT) == 3


def test_throttled_ratelimited_flush_waits_for_a_late_worker():
    """mem_cgroup_flush_stats_ratelimited(): flush (if needed) only when the periodic flusher
    is a full cycle late: now > flush_last_time + 2 * FLUSH_TIME."""
    t = make_tree(THROTTLED, ncpus=1)
    root = t.new_memcg()
    a = t.new_memcg(root)
    t.periodic_flush(0)
    t.mod_memcg_state(a, 0, ANON, 65)
    assert t.needs_flush(a)
    assert not t.flush_ratelimited(a, 4 * 10**9)
    assert t.read(a, ANON) == 0
    assert t.flush_ratelimited(a, 4 * 10**9 + 1)
    assert t.read(a, ANON) == 65


def test_throttled_updates_stop_counting_at_a_flushable_level():
    """memcg_rstat_updated(): "If @memcg is already flushable then all its ancestors are
    flushable as well and also there is no need to increase stats_updates" - the walk up
    breaks at the first level that needs a flush; flushing a child's subtree resets only the
    visited memcgs."""
    t = make_tree(THROTTLED, ncpus=1)
    root = t.new_memcg()
    p = t.new_memcg(root)
    c1, c2 = t.new_memcg(p), t.new_memcg(p)
    t.mod_memcg_state(c1, 0, ANON, 65)
    assert (c1.stats_updates, p.stats_updates, root.stats_updates) == (65, 65, 65)
    t.mod_memcg_state(c1, 0, ANON, 10)                 # breaks at c1
    t.mod_memcg_state(c2, 0, ANON, 10)                 # counts at c2, breaks at p
    assert c1.pcpu_stats_updates(0) == 0 and c2.pcpu_stats_updates(0) == 10
    assert p.pcpu_stats_updates(0) == 0 and root.pcpu_stats_updates(0) == 0
    t.flush(c1)
    assert c1.stats_updates == 0 and t.needs_flush(p) and t.needs_flush(root)
    assert t.stat_flush_for_read(p) and t.read(p, ANON) == 85
    assert p.stats_updates == 0 and c2.pcpu_stats_updates(0) == 0
    assert root.stats_updates == 65 and t.read(root, ANON) == 0
    assert t.stat_flush_for_read(root) and t.read(root, ANON) == 85


def test_throttled_update_units_are_pages():
    """memcg_state_val_in_pages(): byte and KiB updates count in pages, at least 1; a negative
    sub-page update rounds away from zero through the kernel's unsigned division."""
    t = make_tree(THROTTLED, ncpus=1)
    m = t.new_memcg()
    cases = [(SLAB_B, 100, 1), (SLAB_B, -100, 1), (SLAB_B, 8192, 2), (SLAB_B, -8192, 2),
             (SLAB_B, 8191, 1), (SLAB_B, -8191, 2), (STACK_KB, 4, 1), (STACK_KB, 6, 1),
             (STACK_KB, -6, 2), (ANON, -3, 3)]
    for item, delta, units in cases:
        before = m.pcpu_stats_updates(0)
        t.mod_memcg_state(m, 0, item, delta)
        assert m.pcpu_stats_updates(0) - before == units, (item, delta)
    t.count_memcg_events(m, 0, PGPGIN, 5)
    assert m.pcpu_stats_updates(0) == sum(u for *_, u in cases) + 5


def test_zero_update_is_not_linked_on_618():
    """v6.x memcg_rstat_updated() returns early for val == 0; v5.14 links regardless."""
    t = make_tree(THROTTLED)
    m = t.new_memcg()
    t.mod_memcg_state(m, 0, ANON, 0)
    assert not m.linked(0)
    t = make_tree(EXACT)
    m = t.new_memcg()
    t.mod_memcg_state(m, 0, ANON, 0)
    assert m.linked(0)


# ---- BATCHED (before v5.13) --------------------------------------------------------------------

def test_batched_error_bound_and_exact_past_the_batch():
    """memcg.md 6.3: every (memcg, CPU) can hold 32 pages (or 32 << PAGE_SHIFT bytes, or 32
    events) without propagating: G (3 memcgs: G, G/a, G/b) on 4 CPUs misses exactly
    32 x 4 x 3 = 384 pages; one more page on each pair crosses the batch (|x| = 33 > 32) and
    the read is exact."""
    t = make_tree(BATCHED)
    root = t.new_memcg()
    g = t.new_memcg(root)
    sub = [g, t.new_memcg(g), t.new_memcg(g)]
    for m in sub:
        for cpu in range(4):
            t.mod_memcg_state(m, cpu, ANON, 32)
            t.mod_memcg_state(m, cpu, SLAB_B, 32 * PAGE_SIZE)
            t.mod_memcg_state(m, cpu, STACK_KB, 32)
            t.count_memcg_events(m, cpu, PGFAULT, 32)
    assert t.batch_threshold(ANON) == 32 and t.batch_threshold(SLAB_B) == 32 * PAGE_SIZE
    assert t.read(g, ANON) == 0 and t.read(g, SLAB_B) == 0 and t.read(g, STACK_KB) == 0
    assert t.read_event(g, PGFAULT) == 0
    assert 32 * 4 * 3 == 384
    for m in sub:
        for cpu in range(4):
            t.mod_memcg_state(m, cpu, ANON, 1)
            t.mod_memcg_state(m, cpu, SLAB_B, 1)
            t.mod_memcg_state(m, cpu, STACK_KB, 1)
            t.count_memcg_events(m, cpu, PGFAULT, 1)
    assert t.read(g, ANON) == 33 * 12 and t.read(root, ANON) == 33 * 12
    assert t.read(g, SLAB_B) == (32 * PAGE_SIZE + 1) * 12
    assert t.read(g, STACK_KB) == 33 * 12
    assert t.read_event(g, PGFAULT) == 33 * 12
    assert all(m.percpu(cpu, ANON) == 0 for m in sub for cpu in range(4))
    assert t.read_local(g, ANON) == 33 * 4
    assert t.flush_work()["batch_propagations"] == 4 * 12
    assert t.flush_work()["nodes_visited"] == 0


def test_batched_negative_batch_propagates():
    """The test is on |x|: -33 pages on one CPU propagate (and the read clamps at 0)."""
    t = make_tree(BATCHED)
    root = t.new_memcg()
    a = t.new_memcg(root)
    t.mod_memcg_state(a, 0, ANON, -33)
    assert a.aggregated(ANON) == -33 and root.aggregated(ANON) == -33
    assert t.read(a, ANON) == 0 and t.read_local(a, ANON) == 0


# ---- release -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [EXACT, THROTTLED])
def test_release_pushes_deltas_to_parent_pending(mode):
    """css_release_work_fn() / css_rstat_exit() flush the dying memcg's subtree (also in v6.18,
    without the threshold): its deltas land in the parent's pending and reach the ancestors at
    the parent's next flush; the parent stays linked (memcg.md 5, last bullet)."""
    t = make_tree(mode)
    r = t.new_memcg()
    p = t.new_memcg(r)
    c = t.new_memcg(p)
    t.mod_memcg_state(c, 1, ANON, 10)
    t.count_memcg_events(c, 3, PGFAULT, 4)
    t.release(c)
    assert c.released and c.id not in t.memcgs and p.nr_children == 0
    assert not c.linked(1) and c.aggregated(ANON) == 10
    assert p.pending(ANON) == 10 and p.pending(PGFAULT, event=True) == 4
    assert p.aggregated(ANON) == 0
    assert p.linked(1) and p.linked(3)
    t.flush(p)
    assert p.aggregated(ANON) == 10 and r.pending(ANON) == 10
    t.flush(r)
    assert t.read(r, ANON) == 10 and t.read_event(r, PGFAULT) == 4
    with pytest.raises(ValueError, match="released"):
        t.mod_memcg_state(c, 0, ANON, 1)


def test_release_batched_flushes_percpu_rests_to_ancestors():
    """v5.12 mem_cgroup_free() -> memcg_flush_percpu_vmstats(): the per-CPU rests go straight
    to the hierarchical counters of the memcg and every ancestor."""
    t = make_tree(BATCHED)
    r = t.new_memcg()
    p = t.new_memcg(r)
    c = t.new_memcg(p)
    t.mod_memcg_state(c, 1, ANON, 10)
    t.count_memcg_events(c, 2, PGFAULT, 4)
    assert t.read(p, ANON) == 0
    t.release(c)
    assert t.read(p, ANON) == 10 and t.read(r, ANON) == 10
    assert t.read_event(r, PGFAULT) == 4


def test_release_needs_children_released_first():
    t = make_tree(EXACT)
    r = t.new_memcg()
    p = t.new_memcg(r)
    t.new_memcg(p)
    with pytest.raises(ValueError, match="children"):
        t.release(p)


# ---- local vs hierarchical, clamping -----------------------------------------------------------

@pytest.mark.parametrize("mode", [EXACT, THROTTLED, BATCHED])
def test_local_vs_hierarchical(mode):
    """memcg.md scenario 18's counters (v1 cache/total_cache): P/C, C has 10 pages (here 40
    pages so that BATCHED propagates too).  P local 0, P hierarchical 40; C both 40.  EXACT's
    local value is the per-CPU sum, exact without a flush; v6.18's is state_local, up to date
    after a flush."""
    t = make_tree(mode)
    r = t.new_memcg()
    p = t.new_memcg(r)
    c = t.new_memcg(p)
    t.mod_memcg_state(c, 0, ANON, 40)
    if mode == THROTTLED:
        assert t.read_local(c, ANON) == 0
    else:
        assert t.read_local(c, ANON) == 40
    t.flush(p)
    assert t.read_local(p, ANON) == 0 and t.read(p, ANON) == 40
    assert t.read_local(c, ANON) == 40 and t.read(c, ANON) == 40


@pytest.mark.parametrize("mode", [EXACT, THROTTLED])
def test_negative_transients_clamp_at_zero(mode):
    """A page charged on CPU0 and uncharged on CPU1 leaves per-CPU +1/-1; seen alone, the -1
    makes the aggregate negative, which memcg_page_state() reads as 0 (on SMP)."""
    t = make_tree(mode)
    m = t.new_memcg()
    t.mod_memcg_state(m, 1, ANON, -5)
    t.flush(m)
    assert m.aggregated(ANON) == -5 and m.percpu(1, ANON) == -5
    assert t.read(m, ANON) == 0 and t.read_local(m, ANON) == 0
    t.mod_memcg_state(m, 0, ANON, 8)
    t.flush(m)
    assert t.read(m, ANON) == 3 and t.read_local(m, ANON) == 3


def test_checked_python_surface():
    t = make_tree(EXACT)
    m = t.new_memcg()
    with pytest.raises(ValueError, match="cpu 4"):
        t.mod_memcg_state(m, 4, ANON, 1)
    with pytest.raises(ValueError, match="state item 3"):
        t.mod_memcg_state(m, 0, 3, 1)
    with pytest.raises(ValueError, match="event item 2"):
        t.count_memcg_events(m, 0, 2, 1)
    with pytest.raises(ValueError, match="root memcg exists"):
        t.new_memcg()
    with pytest.raises(ValueError, match="unknown"):
        StatTree(1, ["pages"], 0, "fast")
    assert StatTree(1, [], 0, "throttled").charge_batch == 64
    assert StatTree(1, [], 0, "exact").charge_batch == 32


# ---- model-based -------------------------------------------------------------------------------

@st.composite
def trees_and_updates(draw):
    ncpus = draw(st.integers(1, 4))
    n = draw(st.integers(1, 7))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    ops = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, ncpus - 1),
                                  st.integers(0, 3), st.integers(-300, 300),
                                  st.integers(0, 9)), max_size=60))
    return ncpus, parents, ops


def _subtree(parents, i):
    out = [i]
    for j, p in enumerate(parents):
        if p is not None and p in out:
            out.append(j)
    return out


@settings(max_examples=150, deadline=None)
@given(trees_and_updates())
def test_read_after_flush_matches_the_sum(data):
    """Any tree, any updates (with flushes in between): EXACT's read after the read-side
    flush is the true subtree sum (clamped at 0); BATCHED's hierarchical counter is within
    threshold x CPUs x subtree size of it; THROTTLED after the periodic flush is exact."""
    ncpus, parents, ops = data
    thresholds = [32, 32 * PAGE_SIZE, 32]
    for mode in (EXACT, BATCHED, THROTTLED):
        t = StatTree(ncpus, UNITS, 2, mode)
        ms = []
        for p in parents:
            ms.append(t.new_memcg(None if p is None else ms[p]))
        own = [[0] * 5 for _ in ms]
        for node, cpu, kind, delta, flush_at in ops:
            if kind < 3:
                v = delta * (64 if kind == SLAB_B else 1)
                t.mod_memcg_state(ms[node], cpu, kind, v)
                own[node][kind] += v
            else:
                t.count_memcg_events(ms[node], cpu, PGFAULT, abs(delta))
                own[node][3] += abs(delta)
            if flush_at == 0:
                t.stat_flush_for_read(ms[(node + cpu) % len(ms)])
        if mode == THROTTLED:
            t.periodic_flush(rstat.FLUSH_TIME_NS)
        for i, m in enumerate(ms):
            sub = _subtree(parents, i)
            true = [sum(own[j][k] for j in sub) for k in range(4)]
            t.stat_flush_for_read(m)
            if mode == BATCHED:
                for k in range(3):
                    bound = thresholds[k] * ncpus * len(sub)
                    assert abs(true[k] - m.aggregated(k)) <= bound
                    assert abs(max(true[k], 0) - t.read(m, k)) <= bound
                assert 0 <= true[3] - t.read_event(m, PGFAULT) <= 32 * ncpus * len(sub)
            else:
                for k in range(3):
                    assert m.aggregated(k) == true[k]
                    assert t.read(m, k) == max(true[k], 0)
                    assert t.read_local(m, k) == max(own[i][k], 0)
                assert t.read_event(m, PGFAULT) == true[3]
                assert t.read_event_local(m, PGFAULT) == own[i][3]


class RstatMachine(RuleBasedStateMachine):
    """A model of memcg statistics: every memcg's own totals; the hierarchical value of a memcg
    is the sum over its subtree, released memcgs included.  Checked after every read: EXACT
    exact, BATCHED within the 6.3 bound over the live subtree, THROTTLED exact whenever the
    read (or the periodic worker) flushed."""

    def __init__(self):
        super().__init__()
        self.t = None

    @initialize(mode=st.sampled_from([EXACT, BATCHED, THROTTLED]), ncpus=st.integers(1, 3))
    def setup(self, mode, ncpus):
        self.mode, self.ncpus = mode, ncpus
        self.t = StatTree(ncpus, UNITS, 2, mode)
        self.ms = [self.t.new_memcg()]
        self.parent = [None]
        self.own = [[0, 0, 0, 0]]
        self.live = [True]
        self.now = 0

    def subtree(self, i):
        return _subtree(self.parent, i)

    def true(self, i, k):
        return sum(self.own[j][k] for j in self.subtree(i))

    @rule(data=st.data())
    def add_memcg(self, data):
        live = [i for i, ok in enumerate(self.live) if ok]
        p = data.draw(st.sampled_from(live))
        self.ms.append(self.t.new_memcg(self.ms[p]))
        self.parent.append(p)
        self.own.append([0, 0, 0, 0])
        self.live.append(True)

    @rule(data=st.data(), item=st.integers(0, 2), delta=st.integers(-200, 200))
    def mod(self, data, item, delta):
        i = data.draw(st.sampled_from([i for i, ok in enumerate(self.live) if ok]))
        cpu = data.draw(st.integers(0, self.ncpus - 1))
        self.t.mod_memcg_state(self.ms[i], cpu, item, delta)
        self.own[i][item] += delta

    @rule(data=st.data(), n=st.integers(0, 100))
    def event(self, data, n):
        i = data.draw(st.sampled_from([i for i, ok in enumerate(self.live) if ok]))
        cpu = data.draw(st.integers(0, self.ncpus - 1))
        self.t.count_memcg_events(self.ms[i], cpu, PGFAULT, n)
        self.own[i][3] += n

    @rule(data=st.data())
    def read(self, data):
        i = data.draw(st.sampled_from([i for i, ok in enumerate(self.live) if ok]))
        m = self.ms[i]
        flushed = self.t.stat_flush_for_read(m)
        if self.mode == BATCHED:
            live_sub = sum(1 for j in self.subtree(i) if self.live[j])
            for k, th in enumerate([32, 32 * PAGE_SIZE, 32]):
                assert abs(self.true(i, k) - m.aggregated(k)) <= th * self.ncpus * live_sub
        elif self.mode == EXACT or flushed:
            for k in range(3):
                assert self.t.read(m, k) == max(self.true(i, k), 0)
            assert self.t.read_event(m, PGFAULT) == self.true(i, 3)

    @precondition(lambda self: self.t is not None and any(
        ok and i and not any(self.live[j] and self.parent[j] == i for j in range(len(self.live)))
        for i, ok in enumerate(self.live)))
    @rule(data=st.data())
    def release_leaf(self, data):
        leaves = [i for i, ok in enumerate(self.live) if ok and i and
                  not any(self.live[j] and self.parent[j] == i for j in range(len(self.live)))]
        i = data.draw(st.sampled_from(leaves))
        self.t.release(self.ms[i])
        self.live[i] = False

    @rule()
    def tick(self):
        self.now += rstat.FLUSH_TIME_NS
        if self.t.periodic_flush(self.now):
            for i, ok in enumerate(self.live):
                if ok:
                    assert self.ms[i].aggregated(ANON) == self.true(i, ANON)

    @invariant()
    def local_exact_in_v514(self):
        if self.t is not None and self.mode == EXACT:
            for i, ok in enumerate(self.live):
                if ok:
                    assert self.t.read_local(self.ms[i], ANON) == max(self.own[i][ANON], 0)


TestRstatMachine = RstatMachine.TestCase
TestRstatMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
