"""rss counters and kmem:rss_stat emission rules (tracepoints.md section 3.3, scenarios 5-11)."""
import re

import pytest

from memsim import vm
from memsim.testing import with_page_cache, build_machine, trace_text

MiB = 1 << 20
PAGE = 4096
RSS_RE = re.compile(r"rss_stat: mm_id=(\d+) curr=(\d) type=(\w+) size=(-?\d+)B")


def rss_events(machine):
    return [(int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4)))
            for m in RSS_RE.finditer(trace_text(machine))]


def setup(kernel="v5.14", cpus=2):
    m = with_page_cache(build_machine(events=["kmem:rss_stat"], cpus=cpus, nodes=(64 * MiB,), kernel=kernel))
    t = m.spawn("bash")
    m.set_current(t)
    return m, t


def mmap(m, t, length, kind="anon", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, totalram=total, **kw)


def fault(m, t, v, first, n):
    """n anonymous write faults, one page each, as the task's own accesses."""
    for i in range(first, first + n):
        assert m.mmcore.fault(t.mm, v, v.vm_start + i * PAGE, True) == 0


def test_scenario_5_cached_until_the_66th_fault():
    m, t = setup()
    v = mmap(m, t, 1 * MiB)
    fault(m, t, v, 0, 65)
    assert rss_events(m) == []
    assert m.rss_counter(t)["MM_ANONPAGES"] == 0          # VmRSS lags
    fault(m, t, v, 65, 1)
    ev = rss_events(m)
    assert ev == [(t.mm.mm_id, 1, "MM_ANONPAGES", 65 * PAGE)]
    assert t.rss_cached[1] == 1                            # fault 66's own page is cached


def test_scenario_6_sync_order_and_zero_skipping():
    m, t = setup()
    v = mmap(m, t, 64 * PAGE)
    shm = mmap(m, t, 4 * PAGE, kind="shared")
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 4 * PAGE, "r", "file", file="f", totalram=1 << 20)
    for i in range(3):
        m.mmcore.fault(t.mm, f, f.vm_start + i * PAGE, False)
    fault(m, t, v, 0, 5)
    m.mmcore.fault(t.mm, shm, shm.vm_start, True)
    assert t.rss_cached == (3, 5, 0, 1)
    m.mmcore.sync_current_rss()
    assert [(e[2], e[3]) for e in rss_events(m)] == [
        ("MM_FILEPAGES", 3 * PAGE), ("MM_ANONPAGES", 5 * PAGE), ("MM_SHMEMPAGES", PAGE)]


def test_scenario_7_munmap_flushes_the_cache_first():
    m, t = setup()
    v = mmap(m, t, 10 * PAGE)
    fault(m, t, v, 0, 10)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 10 * PAGE)
    assert [(e[1], e[2], e[3]) for e in rss_events(m)] == [
        (1, "MM_ANONPAGES", 40960), (1, "MM_ANONPAGES", 0)]


def test_scenario_8_remote_fault_is_a_direct_update():
    m, p = setup()
    q = m.spawn("victim")
    m.set_current(q)
    v = mmap(m, q, 4 * PAGE)
    m.set_current(p)                   # P touches Q's memory (access_remote_vm)
    assert m.mmcore.fault(q.mm, v, v.vm_start, True) == 0
    assert rss_events(m) == [(q.mm.mm_id, 0, "MM_ANONPAGES", PAGE)]


def test_scenario_9_negative_size():
    m, a = setup()
    v = mmap(m, a, 10 * PAGE)
    fault(m, a, v, 0, 10)              # cached on A
    b = m.clone_thread(a, "thread-b")   # a thread of the same mm, nothing cached
    m.set_current(b)
    vm.do_munmap(m.mmcore, b.mm, v.vm_start, 10 * PAGE)
    assert rss_events(m)[-1][2:] == ("MM_ANONPAGES", -40960)
    assert a.mm.get_mm_counter(1) == 0                      # clamped
    m.set_current(a)
    m.mmcore.sync_current_rss()
    assert rss_events(m)[-1][2:] == ("MM_ANONPAGES", 0)


def test_scenario_10_exit_teardown_has_curr_0():
    m, t = setup()
    v = mmap(m, t, 5 * PAGE)
    fault(m, t, v, 0, 5)
    mm_id = t.mm.mm_id
    m.exit_task(t)
    assert rss_events(m) == [(mm_id, 1, "MM_ANONPAGES", 5 * PAGE), (mm_id, 0, "MM_ANONPAGES", 0)]


def test_scenario_11_fork_child_events():
    m, t = setup()
    v = mmap(m, t, 8 * PAGE)
    fault(m, t, v, 0, 3)
    # two swap entries in the same page table (what the swap plugin will leave behind)
    for i in (5, 6):
        m.mmcore.set_pte(t.mm, v.vm_start + i * PAGE, (i << 1) | (1 << 9))
    t.mm.rss_raw  # untouched
    m.mmcore.sync_current_rss()
    before = len(rss_events(m))
    c = m.fork(t, "child")
    ev = rss_events(m)[before:]
    assert c.mm.mm_id != t.mm.mm_id
    assert ev == [(c.mm.mm_id, 0, "MM_ANONPAGES", 3 * PAGE), (c.mm.mm_id, 0, "MM_SWAPENTS", 2 * PAGE)]


def test_v618_profile_updates_directly_and_never_negative():
    m, t = setup(kernel="v6.18")
    v = mmap(m, t, 4 * PAGE)
    fault(m, t, v, 0, 2)
    assert [(e[1], e[3]) for e in rss_events(m)] == [(1, PAGE), (1, 2 * PAGE)]


def test_batches_split_at_page_table_boundaries():
    m, t = setup()
    v = mmap(m, t, 4 * MiB, hint=0x40000000)        # two page tables, 2 MiB aligned
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    m.mmcore.sync_current_rss()
    n = len(rss_events(m))
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 4 * MiB)
    sizes = [e[3] for e in rss_events(m)[n:]]
    # one zap batch per page table, each cut where the mmu_gather batch forces a flush
    assert sizes[-1] == 0
    assert all(a > b for a, b in zip(sizes, sizes[1:]))
    assert len(sizes) >= 2
