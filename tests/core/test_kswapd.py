"""kswapd (mm/vmscan.c: wakeup_kswapd, kswapd, kswapd_try_to_sleep, balance_pgdat) as the
scheduler's kswapd<nid> kernel thread: woken by the allocator's slow path below the low
watermark, reclaiming until the node's zones meet the high watermark, then sleeping."""
import re
import textwrap

import pytest

from memsim import vm
from memsim.kswapd import KSWAPD_NAP_NS, KSWAPD_PID
from memsim.machine import Machine
from memsim.sched import PREEMPT, Scheduler, WaitQueue
from memsim.testing import with_page_cache, build_machine, run_text, trace_text
from memsim.vmstat import vm_event_item as EV

MiB = 1 << 20
PAGE = 4096


def dma32(m):
    return next(z for z in m.physmem.zones_info() if z["zone"] == "DMA32")


def kswapd_run(sched):
    return next(r for r in sched.runs if r.daemon)


def pressure(kernel, then):
    """A 64 MiB machine with kswapd0 started: ``app`` reads a file mapping page by page until its
    allocations miss the low watermark (wakeup_kswapd), then runs ``then(m, app, f, addr)``."""
    m = with_page_cache(build_machine(events=["vmscan:*"], kernel=kernel, cpus=1, nodes=(64 * MiB,)))
    sched = Scheduler(m.clock, m.set_current, seed=1)
    m.start_kswapds(sched)
    app = m.spawn("app")
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, app.mm, m.files, 128 * MiB, "r", "file", totalram=total)
    wq = m.vmscan.kswapd_wait[0]

    def body():
        addr = f.vm_start
        while wq.waiters:                                   # kswapd0 sleeps until woken
            assert m.mmcore.access(app.mm, f, addr, addr + PAGE, False)[1] == 0
            addr += PAGE
        yield from then(m, app, f, addr)

    sched.add(app, body())
    return m, sched


def until_kswapd_sleeps(sched, wq, m, limit=200):
    """Preemption points, the clock moving 10 ms each, until kswapd0 is in schedule() on
    kswapd_wait (its short nap over and the node still balanced)."""
    for _ in range(limit):
        if kswapd_run(sched).blocked_on is wq:
            return
        m.clock.now += 10_000_000
        yield PREEMPT
    raise AssertionError("kswapd never went to sleep")


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_kswapd_woken_below_low_reclaims_to_high_and_sleeps(kernel):
    def then(m, app, f, addr):
        # the page that missed the low watermark (__zone_watermark_ok: free <= low fails) still
        # came from above min: no direct reclaim
        assert dma32(m)["min"] < dma32(m)["free"] <= dma32(m)["low"]
        yield from until_kswapd_sleeps(sched, m.vmscan.kswapd_wait[0], m)

    m, sched = pressure(kernel, then)
    sched.run()
    z = dma32(m)
    assert z["free"] >= z["high"]                    # balanced: pgdat_balanced() let it sleep
    vs = m.physmem.vmstat
    ev = {n: vs.vm_event(getattr(EV, n)) for n in (
        "PAGEOUTRUN", "PGSCAN_KSWAPD", "PGSTEAL_KSWAPD", "PGSCAN_DIRECT", "PGSTEAL_DIRECT",
        "ALLOCSTALL_MOVABLE", "KSWAPD_LOW_WMARK_HIT_QUICKLY", "KSWAPD_HIGH_WMARK_HIT_QUICKLY")}
    # The first balance_pgdat finds every page it scans young (the reader's PTEs): it keeps
    # them (PG_referenced), runs its priorities out unbalanced and counts a kswapd failure;
    # kswapd_try_to_sleep then cannot even nap (kswapd_high_wmark_hit_quickly) and the second
    # balance_pgdat reclaims what the first one aged, up to the high watermark.
    assert ev["PAGEOUTRUN"] == 2
    assert ev["KSWAPD_HIGH_WMARK_HIT_QUICKLY"] == 1
    assert ev["KSWAPD_LOW_WMARK_HIT_QUICKLY"] == 0
    assert m.vmscan.kswapd_state(0) == (0, 4, 0)        # progress reset kswapd_failures
    assert ev["PGSCAN_KSWAPD"] >= ev["PGSTEAL_KSWAPD"] > 0
    assert ev["PGSCAN_DIRECT"] == ev["PGSTEAL_DIRECT"] == ev["ALLOCSTALL_MOVABLE"] == 0
    lines = trace_text(m).splitlines()
    # the allocating task wakes kswapd; kswapd0 (pid 47) does the rest, on its node's CPU
    flags = "...." if kernel == "v5.14" else "....."
    # a page-cache page read in by the fault: v6.18 allocates it through readahead
    # (readahead_gfp_mask() without __GFP_FS: tests/core/probes/user_page_gfp.txt, file_read)
    gfp = "GFP_HIGHUSER_MOVABLE" if kernel == "v5.14" else \
        "GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL"
    assert re.fullmatch(r" +app-1000 +\[000\] " + re.escape(flags) + r" +[0-9.]+: mm_vmscan_wakeup_kswapd: "
                        r"nid=0 order=0 gfp_flags=" + re.escape(gfp), lines[0])
    assert re.fullmatch(r" +kswapd0-47 +\[000\] " + re.escape(flags) + r" +[0-9.]+: mm_vmscan_kswapd_wake: "
                        r"nid=0 order=0", lines[1])
    assert re.fullmatch(r" +kswapd0-47 +\[000\] " + re.escape(flags) + r" +[0-9.]+: mm_vmscan_kswapd_sleep: "
                        r"nid=0", lines[-1])
    names = [l.split(": ")[1] for l in lines]
    assert [n for n in names if "kswapd" in n] == [
        "mm_vmscan_wakeup_kswapd", "mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_wake",
        "mm_vmscan_kswapd_sleep"]
    assert set(names) - {"mm_vmscan_wakeup_kswapd", "mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep"} \
        == {"mm_vmscan_lru_isolate", "mm_vmscan_lru_shrink_inactive"}
    steal = sum(int(re.search(r"nr_reclaimed=(\d+)", l).group(1)) for l in lines if "shrink_inactive" in l)
    assert steal == ev["PGSTEAL_KSWAPD"]
    # balance_pgdat began at DEF_PRIORITY (12); classzone is gfp_zone(GFP_HIGHUSER_MOVABLE):
    # ZONE_MOVABLE, empty on this machine but what GFP_ZONE_TABLE says
    first = next(l for l in lines if "lru_isolate" in l)
    assert "classzone=3 order=0" in first
    assert ("isolate_mode=0 " in first) == (kernel == "v5.14")
    first = next(l for l in lines if "shrink_inactive" in l)
    assert first.endswith("priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC")
    assert m.check_invariants() == []


def events(m, *names):
    vs = m.physmem.vmstat
    return [vs.vm_event(getattr(EV, n)) for n in names]


COUNTERS = ("KSWAPD_LOW_WMARK_HIT_QUICKLY", "KSWAPD_HIGH_WMARK_HIT_QUICKLY", "PAGEOUTRUN")


def test_woken_during_its_nap_kswapd_counts_low_wmark_hit_quickly():
    def then(m, app, f, addr):
        wq = m.vmscan.kswapd_wait[0]
        while kswapd_run(sched).blocked_on is None or not wq.waiters:
            yield PREEMPT                                   # kswapd0 balances, then naps
        assert kswapd_run(sched).blocked_on is not wq       # the HZ/10 nap, not schedule()
        before.extend(events(m, *COUNTERS))
        while wq.waiters:                                   # below low again, the clock still
            assert m.mmcore.access(app.mm, f, addr, addr + PAGE, False)[1] == 0
            addr += PAGE
        yield from until_kswapd_sleeps(sched, wq, m)

    before = []
    m, sched = pressure("v5.14", then)
    sched.run()
    # woken during the nap: low_wmark_hit_quickly, and one more balance_pgdat
    assert [a - b for a, b in zip(events(m, *COUNTERS), before)] == [1, 0, 1]
    names = [l.split(": ")[1] for l in trace_text(m).splitlines()]
    assert [n for n in names if "kswapd" in n][-3:] == [
        "mm_vmscan_wakeup_kswapd", "mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep"]


def test_an_unbalanced_node_after_the_nap_counts_high_wmark_hit_quickly():
    # the nap runs out while memory is below high again (allocations that stay above low
    # wake nobody): kswapd goes back to balance_pgdat without sleeping
    def then(m, app, f, addr):
        wq = m.vmscan.kswapd_wait[0]
        while kswapd_run(sched).blocked_on is None or not wq.waiters:
            yield PREEMPT
        before.extend(events(m, *COUNTERS))
        while dma32(m)["free"] >= dma32(m)["high"] - 2:
            assert m.mmcore.access(app.mm, f, addr, addr + PAGE, False)[1] == 0
            addr += PAGE
        assert wq.waiters                                   # not woken: still above low
        m.clock.now += KSWAPD_NAP_NS
        yield from until_kswapd_sleeps(sched, wq, m)

    before = []
    m, sched = pressure("v5.14", then)
    sched.run()
    assert [a - b for a, b in zip(events(m, *COUNTERS), before)] == [0, 1, 1]
    assert dma32(m)["free"] >= dma32(m)["high"]


def test_a_bare_machine_has_no_kswapd_and_wakes_nobody():
    # no scheduler, no kswapd task: wakeup_kswapd finds no waiter on kswapd_wait
    m = with_page_cache(build_machine(events=["vmscan:*"], cpus=1, nodes=(32 * MiB,)))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    text = trace_text(m)
    assert "kswapd" not in text and "mm_vmscan_direct_reclaim_begin" in text
    assert m.physmem.vmstat.vm_event(EV.PAGEOUTRUN) == 0
    assert m.kswapds == []


QUIET = """\
machine: {cpus: 2, nodes: [{memory: 256 MiB}], kernel: %s, seed: 5}
tasks:
  - name: a
    steps:
      - mmap: {name: heap, length: 4 MiB}
      - touch: {vma: heap, access: write}
      - munmap: {vma: heap}
  - name: b
    cpu: 1
    steps:
      - mmap: {name: lib, length: 2 MiB, type: file, file: lib.so, prot: r}
      - touch: {vma: lib, access: read}
"""


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_without_pressure_kswapd_changes_nothing(kernel, monkeypatch):
    # kswapd0 sleeps from boot: never runnable, it takes no part in the scheduler's choices,
    # and its comm is not even registered; the trace is that of a run without it
    with_kswapd = run_text(QUIET % kernel)
    assert with_kswapd.error is None
    assert with_kswapd.machine.kswapds[0].comm == "kswapd0"
    assert KSWAPD_PID not in with_kswapd.machine.comms
    monkeypatch.setattr(Machine, "start_kswapds", lambda self, sched: [])
    without = run_text(QUIET % kernel)
    assert trace_text(with_kswapd) == trace_text(without)
    assert with_kswapd.summary()["scheduler"] == without.summary()["scheduler"]


READER = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v5.14}
tasks:
  - name: reader
    steps:
      - mmap: {name: f, length: 160 MiB, type: file, file: big.dat, prot: r}
      - touch: {vma: f, access: read}
"""


def test_kswapd_reclaims_in_the_background_and_saves_direct_reclaim(monkeypatch):
    def counts(r):
        vs = r.machine.physmem.vmstat
        return {n: vs.vm_event(getattr(EV, n)) for n in ("ALLOCSTALL_MOVABLE", "PGSTEAL_KSWAPD",
                                                          "PGSTEAL_DIRECT", "PAGEOUTRUN")}
    with_kswapd = run_text(READER, events=())
    assert with_kswapd.error is None
    monkeypatch.setattr(Machine, "start_kswapds", lambda self, sched: [])
    without = run_text(READER, events=())
    a, b = counts(with_kswapd), counts(without)
    assert a["PAGEOUTRUN"] > 0 and a["PGSTEAL_KSWAPD"] > 0
    assert b["PAGEOUTRUN"] == b["PGSTEAL_KSWAPD"] == 0
    assert a["ALLOCSTALL_MOVABLE"] < b["ALLOCSTALL_MOVABLE"]
    assert a["PGSTEAL_DIRECT"] < b["PGSTEAL_DIRECT"]


TWO_READERS = """\
machine: {cpus: 2, nodes: [{memory: 64 MiB}], kernel: %s, seed: %d}
tasks:
  - name: r1
    steps:
      - mmap: {name: f, length: 96 MiB, type: file, file: one.dat, prot: r}
      - touch: {vma: f, access: read}
  - name: r2
    cpu: 1
    steps:
      - mmap: {name: f, length: 96 MiB, type: file, file: two.dat, prot: r}
      - touch: {vma: f, access: read}
"""


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_same_seed_same_trace_with_kswapd(kernel):
    one = trace_text(run_text(TWO_READERS % (kernel, 7), events=("vmscan:*",)))
    two = trace_text(run_text(TWO_READERS % (kernel, 7), events=("vmscan:*",)))
    assert one == two
    assert "kswapd0-47" in one and "mm_vmscan_kswapd_wake" in one
