"""Threads: clone() with a shared mm (kernel/fork.c copy_process with CLONE_VM | CLONE_THREAD),
mm_users, teardown with the last user, and the per-thread rss caches of SPLIT_RSS_COUNTING
(tracepoints.md section 3.3)."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import set_task_mempolicy, task_mempolicy

MiB = 1 << 20
PAGE = 4096


@pytest.fixture
def m():
    machine = Machine(MachineSpec(cpus=2, nodes=(64 * MiB,)), with_slab=False)
    yield machine
    assert machine.check_invariants() == []


def mmap(m, t, length):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", "anon", totalram=total)


def test_a_thread_shares_the_mm_and_has_its_own_pid(m):
    a = m.spawn("app", cpu=0)
    set_task_mempolicy(a, 2, (0,))
    b = m.clone_thread(a, "worker", cpu=1)
    assert b.pid != a.pid and b.tgid == a.pid == a.tgid
    assert b.mm is a.mm and a.mm.mm_users == 2
    assert b.comm == a.comm and b.cpu == 1 and b.name == "worker"
    assert task_mempolicy(b) == (2, 0, (0,))
    assert m.thread_group(b) == [a, b]
    assert m.live_mms() == [a.mm]
    m.exit_task(b)
    m.exit_task(a)


def test_the_mm_goes_with_its_last_thread(m):
    free0 = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    a = m.spawn("app")
    m.set_current(a)
    v = mmap(m, a, 64 * PAGE)
    b = m.clone_thread(a, "worker")
    m.set_current(b)
    assert m.mmcore.access(b.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    mm = a.mm
    m.exit_task(a)                                   # the leader goes first
    assert mm.mm_users == 1 and mm.vmas == [v]
    assert m.mmcore.pfn_of(mm, v.vm_start) is not None
    assert m.rss(b)["MM_ANONPAGES"] == 64
    m.exit_task(b)
    assert mm.mm_users == 0 and mm.vmas == []
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == free0


def test_each_thread_caches_its_own_rss_deltas(m):
    a = m.spawn("app", cpu=0)
    m.set_current(a)
    v = mmap(m, a, 64 * PAGE)
    b = m.clone_thread(a, "worker", cpu=1)
    assert m.mmcore.access(a.mm, v, v.vm_start, v.vm_start + 20 * PAGE, True)[1] == 0
    m.set_current(b)
    assert m.mmcore.access(b.mm, v, v.vm_start + 20 * PAGE, v.vm_start + 50 * PAGE, True)[1] == 0
    # SPLIT_RSS_COUNTING: fewer than 64 faults each, so nothing reached the mm's counters yet
    assert a.mm.rss_raw[1] == 0
    assert a.rss_cached[1] == 20 and b.rss_cached[1] == 30
    assert m.rss(a)["MM_ANONPAGES"] == m.rss(b)["MM_ANONPAGES"] == 50 == a.mm.resident_pages()[1]
    assert m.rss_counter(a)["MM_ANONPAGES"] == 0                 # what /proc/PID/status shows
    assert m.check_invariants() == []
    m.exit_task(b)                                               # do_exit syncs b's deltas
    assert a.mm.rss_raw[1] == 30 and m.rss(a)["MM_ANONPAGES"] == 50
    m.set_current(a)
    m.mmcore.sync_current_rss()
    assert a.mm.rss_raw[1] == 50
    m.exit_task(a)


def test_a_fork_from_a_thread_is_a_new_process(m):
    a = m.spawn("app")
    m.set_current(a)
    v = mmap(m, a, 8 * PAGE)
    b = m.clone_thread(a, "worker")
    c = m.fork(b, "child")
    assert c.tgid == c.pid and c.mm is not a.mm and a.mm.mm_users == 2
    assert [x.vm_start for x in c.mm.vmas] == [v.vm_start]
    for t in (c, b, a):
        m.exit_task(t)


def test_clone_of_an_exited_task_is_refused(m):
    a = m.spawn("app")
    m.exit_task(a)
    with pytest.raises(ValueError):
        m.clone_thread(a, "late")


def test_a_dead_threads_children_go_to_a_live_thread_of_its_process(m):
    # forget_original_parent() -> find_alive_thread(): the reaper is a thread of the same group
    a = m.spawn("app")
    b = m.clone_thread(a, "worker")
    assert b.real_parent is a.real_parent                    # CLONE_THREAD shares the parent
    c = m.fork(b, "child")
    assert c.real_parent is b
    m.exit_task(b)
    assert c.real_parent is a
    m.exit_task(a)
    assert c.real_parent is None                             # no thread left: init
    m.exit_task(c)
