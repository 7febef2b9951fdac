"""The deterministic scheduler: seeded interleaving, sleeps, and a task that blocks in a fault
until another task wakes it (the userfaultfd shape, through MmCore.set_userfault_handler)."""
import textwrap

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.sched import PREEMPT, Scheduler, SleepUntil, WaitQueue
from memsim.ring import Clock
from memsim.testing import run_text, trace_text

VM_UFFD_MISSING = 0x200
VM_FAULT_RETRY = 0x400


class Recorder:
    def __init__(self):
        self.order = []

    def body(self, name, n):
        for i in range(n):
            self.order.append((name, i))
            yield PREEMPT


def interleave(seed):
    rec = Recorder()
    s = Scheduler(Clock(0), lambda t: None, seed)
    for name in "abc":
        s.add(type("T", (), {"comm": name, "pid": 1})(), rec.body(name, 5))
    s.run()
    return rec.order


def test_same_seed_same_interleaving():
    assert interleave(1) == interleave(1)
    assert interleave(1) != interleave(2)
    assert sorted(interleave(3)) == sorted(interleave(4))


def test_sleep_advances_the_clock_when_everyone_sleeps():
    clock = Clock(0)
    s = Scheduler(clock, lambda t: None, 0)
    seen = []

    def sleeper():
        yield SleepUntil(5000)
        seen.append(clock.now)

    s.add(object(), sleeper())
    s.run()
    assert seen == [5000]


class MissingFaults:
    """A minimal userfaultfd-like plugin: 'register' marks a mapping VM_UFFD_MISSING; faults on
    it block the faulting task; 'serve' maps the zero page for each and wakes the waiters."""

    def __init__(self):
        self.waitq = WaitQueue("uffd")
        self.pending = []
        self.faults = []

    def handler(self, mm, vma, addr, flags, reason):
        self.pending.append((mm, vma, addr))
        self.faults.append((addr, reason))
        vma_core = mm.core
        vma_core.blocked_on = self.waitq
        return VM_FAULT_RETRY

    def register(self, ctx, step):
        m = ctx.mappings[step.args["vma"]]
        vma = ctx.task.mm.find_vma(m.start)
        vma.vm_flags |= VM_UFFD_MISSING
        ctx.machine.mmcore.set_userfault_handler(self.handler)

    def serve(self, ctx, step):
        core = ctx.machine.mmcore
        while not self.pending:
            yield PREEMPT
        for mm, vma, addr in self.pending:
            core.set_pte(mm, addr, (core.zero_pfn << 12) | 0x1 | 0x4 | 0x20 | 0x200)   # UFFDIO_ZEROPAGE
        self.pending.clear()
        self.waitq.wake_up()

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("register", "mark a mapping VM_UFFD_MISSING",
                           (Param("vma", "str", "the mapping", required=True),), self.register, plugin="t"))
        steps.add(StepType("serve", "resolve the pending faults", (), self.serve, plugin="t"))


def test_a_fault_blocks_until_another_task_resolves_it():
    plugin = MissingFaults()
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: faulter
            cpu: 0
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - register: {vma: buf}
              - fork:
                  child: monitor
                  cpu: 1
                  steps:
                    - serve: {}
              - touch: {vma: buf, length: 4 KiB, access: read}
              - expect: {rss: {anon: 0}}
        """)
    # the test plugin is a minimal userfaultfd of its own: the real one is left out
    run = run_text(text, plugins=[plugin], events=("kmem:*",), check=True, disabled=("userfaultfd",))
    assert run.error is None, run.error
    assert len(plugin.faults) == 1 and plugin.faults[0][1] == VM_UFFD_MISSING


def _task(name):
    return type("T", (), {"comm": name, "pid": 1})()


def test_a_sleeping_daemon_is_no_deadlock_and_changes_no_interleaving():
    # a kernel thread asleep on its queue from the start (kswapd): never runnable, it takes no
    # part in the seeded choice, and the run ends when the other tasks have
    rec = Recorder()
    s = Scheduler(Clock(0), lambda t: None, 1)
    wq = WaitQueue("kswapd_wait0")
    ran = []

    def daemon():
        ran.append(True)
        yield wq

    s.add(_task("kswapd0"), daemon(), daemon=True, blocked_on=wq)
    for name in "abc":
        s.add(_task(name), rec.body(name, 5))
    s.run()
    assert rec.order == interleave(1)
    assert ran == [] and wq.waiters


def test_wait_timeout_ends_with_a_wake_up_or_the_clock():
    from memsim.sched import WaitTimeout
    clock = Clock(0)
    s = Scheduler(clock, lambda t: None, 0)
    wq = WaitQueue("q")
    naps = []

    def napper():
        for _ in range(2):
            nap = WaitTimeout(wq, clock.now + 100)
            yield nap
            naps.append((nap.woken, clock.now))

    def waker():
        while not wq.waiters:               # until the napper is on the queue
            yield PREEMPT
        clock.now += 10
        assert wq.wake_up() == 1
        while not naps:                     # let the napper run once more
            yield PREEMPT

    s.add(_task("n"), napper(), daemon=True)
    s.add(_task("w"), waker())
    s.run()
    # woken at 10; the second nap has no waker left: the run ends without idling for it
    assert naps == [(True, 10)] and clock.now == 10

    s = Scheduler(clock, lambda t: None, 0)
    naps.clear()
    s.add(_task("n"), napper())             # not a daemon: the run idles until each nap ends
    s.run()
    assert naps == [(False, 110), (False, 210)]


# -- struct mutex (memsim.sched.Mutex) ----------------------------------------------------------

def _tasks(*names):
    return [type("T", (), {"comm": n, "pid": i + 1})() for i, n in enumerate(names)]


def lockers(seed, mutex, names="abc", critical=3):
    """Each task takes ``mutex`` (after a few preemption points that let the seed order them),
    logs its critical section with a preemption point inside, and unlocks."""
    from memsim.sched import Mutex
    log = []
    s = Scheduler(Clock(0), lambda t: None, seed)

    def body(task, delay):
        for _ in range(delay):
            yield PREEMPT
        if mutex is not None:
            log.append((task.comm, "wait" if mutex.is_locked() else "free"))
            yield from mutex.lock(task)
        for i in range(critical):
            log.append((task.comm, i))
            yield PREEMPT
        if mutex is not None:
            mutex.unlock(task)

    for i, t in enumerate(_tasks(*names)):
        s.add(t, body(t, i))
    s.run()
    return log


def sections(log):
    return [e for e in log if isinstance(e[1], int)]


def test_a_mutex_serialises_critical_sections_that_interleave_without_it():
    from memsim.sched import Mutex
    mixed = 0
    for seed in range(10):
        free = sections(lockers(seed, None))
        names = [n for n, _ in free]
        mixed += any(x != y for x, y in zip(names, names[1:])) and sorted(names) != names
        m = Mutex("m")
        held = sections(lockers(seed, m))
        owners = [n for n, _ in held]
        # each task's critical section is one block: three of the same name, then the next
        assert all(owners[i] == owners[i - i % 3] for i in range(len(owners))), (seed, held)
        assert not m.is_locked() and not m.wait.waiters
    assert mixed > 0            # without the mutex some seed interleaves the sections


def test_waiters_get_the_mutex_in_the_order_they_came_fifo_handoff():
    from memsim.sched import Mutex
    for seed in range(10):
        m = Mutex("m")
        log = lockers(seed, m, "abcd", critical=4)
        came = [n for n, what in log if what == "wait"]       # found it held: queued in order
        got = []
        for n, what in log:
            if what == 0 and n not in got:
                got.append(n)
        first = got[0]
        # the first locker took it free; every later one waited and got it in arrival order
        assert got[1:] == [n for n in came if n != first], (seed, log)


def test_unlock_hands_the_mutex_to_the_longest_waiter_before_it_runs():
    from memsim.sched import Mutex
    a, b, c = _tasks("a", "b", "c")
    m = Mutex("resize_lock")
    s = Scheduler(Clock(0), lambda t: None, 0)
    assert m.trylock(a) and m.is_locked() and not m.trylock(b)
    gb, gc = m.lock(b), m.lock(c)
    rb, rc = s.add(b, gb), s.add(c, gc)
    assert next(gb) is m.wait and next(gc) is m.wait
    m.wait.waiters.extend([rb, rc])                 # what the scheduler does with the yield
    rb.blocked_on = rc.blocked_on = m.wait
    m.unlock(a)
    assert m.owner is b and rb.blocked_on is None and m.wait.waiters == [rc]
    assert not m.trylock(a)                         # no steal: the handoff already happened
    with pytest.raises(StopIteration):
        next(gb)
    m.unlock(b)
    assert m.owner is c
    m.unlock(c)
    assert m.owner is None and not m.is_locked()


def test_mutex_misuse_raises():
    from memsim.sched import Mutex, MutexError
    a, b = _tasks("a", "b")
    m = Mutex("resize_lock")
    with pytest.raises(MutexError, match="a-1 releases resize_lock, which is not locked"):
        m.unlock(a)
    assert m.trylock(a)
    with pytest.raises(MutexError, match="b-2 releases resize_lock, which is held by a-1"):
        m.unlock(b)
    with pytest.raises(MutexError, match="a-1 already holds resize_lock"):
        next(m.lock(a))
    assert m.owner is a
    m.unlock(a)
    # no task is current (a test writing a file on a bare machine): the mutex is still held
    with pytest.raises(StopIteration):
        next(m.lock(None))
    assert m.is_locked() and not m.trylock(a)
    with pytest.raises(MutexError, match="a-1 releases resize_lock, which is held by \\(no task\\)-0"):
        m.unlock(a)
    m.unlock(None)
    assert not m.is_locked()


def test_a_killed_waiter_leaves_the_queue_and_a_handed_mutex_is_passed_on():
    from memsim.sched import Mutex
    a, b, c = _tasks("a", "b", "c")
    m = Mutex("m")
    s = Scheduler(Clock(0), lambda t: None, 0)
    got = []

    def locker(t):
        yield from m.lock(t)
        got.append(t.comm)
        m.unlock(t)

    assert m.trylock(a)
    s.add(b, locker(b))
    s.add(c, locker(c))
    for run in s.runs:                              # both block on the mutex
        run.blocked_on = next(run.body)
        m.wait.waiters.append(run)
    m.unlock(a)                                     # handed to b, which is killed before it runs
    assert m.owner is b
    assert s.kill(b)
    assert m.owner is c                             # the kill passed it on
    s.run()
    assert got == ["c"] and m.owner is None

    # a holder killed where it stands releases the mutex in its finally
    def holder(t):
        yield from m.lock(t)
        try:
            while True:
                yield PREEMPT
        finally:
            m.unlock(t)

    s = Scheduler(Clock(0), lambda t: None, 0)
    ra = s.add(a, holder(a))
    next(ra.body)
    assert m.owner is a
    rb = s.add(b, locker(b))
    rb.blocked_on = next(rb.body)
    m.wait.waiters.append(rb)
    assert s.kill(a) and m.owner is b
    s.run()
    assert got == ["c", "b"] and m.owner is None


def test_a_deadlock_on_mutexes_names_each_mutex_and_its_owner():
    from memsim.sched import Deadlock, Mutex
    a, b = _tasks("a", "b")
    m1, m2 = Mutex("resize_lock"), Mutex("other_lock")
    s = Scheduler(Clock(0), lambda t: None, 3)

    def abba(t, first, second):
        yield from first.lock(t)
        yield PREEMPT
        yield PREEMPT
        yield from second.lock(t)

    s.add(a, abba(a, m1, m2))
    s.add(b, abba(b, m2, m1))
    with pytest.raises(Deadlock) as e:
        s.run()
    assert str(e.value) == ("every task is blocked: a-1 on mutex other_lock (held by b-2), "
                            "b-2 on mutex resize_lock (held by a-1)")


# -- task work (memsim.sched.TaskWorks, Machine.task_work_add) ---------------------------------

class HalfFree:
    """A test-only two-part operation: ``start`` does the first half at once and queues the
    second on the current task (the shape of free_huge_page dropping the last reference in C
    and leaving the enqueue to task work); ``state`` is what another task sees."""

    def __init__(self, machine):
        self.machine = machine
        self.state = "in use"
        self.seen = []

    def finish(self):
        self.state = "free"

    def start(self):
        self.state = "refcount 0, not freed"
        return self.machine.task_work_add(self.machine.current.task, self.finish)


def test_task_work_runs_when_its_task_is_next_scheduled_and_others_see_the_state_before():
    from memsim.machine import Machine, MachineSpec
    outcomes = {}
    for seed in range(12):
        m = Machine(MachineSpec(nodes=(64 << 20,)))
        hf = HalfFree(m)
        freer, watcher = m.spawn("freer"), m.spawn("watcher")
        s = Scheduler(m.clock, m.set_current, seed, task_works=m.task_works)
        after = []

        def freeing():
            yield PREEMPT
            assert hf.start() is True               # queued: a scheduler runs the tasks
            yield PREEMPT                           # the preemption point after the step
            after.append(hf.state)                  # next scheduled: the work ran first

        def watching():
            for _ in range(3):
                hf.seen.append(hf.state)
                yield PREEMPT

        s.add(freer, freeing())
        s.add(watcher, watching())
        s.run()
        assert after == ["free"] and hf.state == "free" and not m.task_works.pending
        outcomes.setdefault("refcount 0, not freed" in hf.seen, seed)
    assert set(outcomes) == {True, False}, outcomes


def test_task_work_outside_a_scheduler_runs_at_once_and_at_exit_and_at_the_end():
    from memsim.machine import Machine, MachineSpec
    m = Machine(MachineSpec(nodes=(64 << 20,)))
    t = m.spawn("t")
    m.set_current(t)
    hf = HalfFree(m)
    assert hf.start() is False and hf.state == "free"           # nobody could see it
    assert m.flush_task_works() == 0
    # queued while deferring: runs at exit (exit_task_work), then at once for an exited task
    m.task_works.deferring = True
    ran = []
    assert m.task_work_add(t, lambda: ran.append(("exit", m.current.task.name)))
    assert len(m.task_works) == 1
    m.exit_task(t)
    assert ran == [("exit", "t")] and not m.task_works.pending
    assert m.task_work_add(t, lambda: ran.append("late")) is False and ran[-1] == "late"
    assert m.task_work_add(None, lambda: ran.append("none")) is False and ran[-1] == "none"
    # works that queue more run until none is left; flush runs every task's
    u, v = m.spawn("u"), m.spawn("v")
    m.task_work_add(u, lambda: m.task_work_add(u, lambda: ran.append("u2")))
    m.task_work_add(v, lambda: ran.append("v"))
    assert m.flush_task_works() == 3 and ran[-2:] == ["u2", "v"]
    # a daemon never scheduled again: the end of the run flushes its work, as that task
    m.task_works.deferring = False
    k = m.spawn("kthread")
    s = Scheduler(m.clock, m.set_current, 0, task_works=m.task_works)
    wq = WaitQueue("never")

    def queue_then_sleep():
        m.task_work_add(k, lambda: ran.append(("daemon", m.current.task.name)))
        yield wq

    s.add(k, queue_then_sleep(), daemon=True)
    s.add(u, iter([PREEMPT, PREEMPT]))
    s.run()
    assert ran[-1] == ("daemon", "kthread") and not m.task_works.deferring


class QueueWork:
    """Test-only steps: ``half_free`` queues the second half on the current task,
    ``watch`` records what it sees at each of its preemption points."""

    def __init__(self):
        self.hf = None

    @hookimpl
    def memsim_machine_created(self, machine, config):
        self.hf = HalfFree(machine)

    def half_free(self, ctx, step):
        self.hf.start()

    def watch(self, ctx, step):
        for _ in range(4):
            self.hf.seen.append(self.hf.state)
            yield PREEMPT

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("half_free", "drop a reference; finish in task work", (), self.half_free,
                           plugin="t"))
        steps.add(StepType("watch", "look at the state", (), self.watch, plugin="t"))


def test_in_a_run_the_window_is_seen_for_some_seeds_and_check_waits_for_the_works():
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: freer
            cpu: 0
            steps:
              - half_free: {}
              - mmap: {name: buf, length: 16 KiB}
          - name: watcher
            cpu: 1
            steps:
              - watch: {}
        """)
    outcomes = {}
    for seed in range(12):
        plugin = QueueWork()
        run = run_text(text, plugins=[plugin], events=(), seed=seed, check=True)
        assert run.error is None, run.error
        assert plugin.hf.state == "free"
        window = "refcount 0, not freed" in plugin.hf.seen
        # --check skipped the slice that ended with the work pending, and checked the others
        assert run.checks_deferred >= 1 and run.checks_run >= 1
        outcomes.setdefault(window, seed)
    assert set(outcomes) == {True, False}, outcomes


def test_a_task_that_ends_with_work_pending_runs_it_at_exit():
    text = textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: freer
            steps:
              - half_free: {}
        """)
    plugin = QueueWork()
    run = run_text(text, plugins=[plugin], events=(), check=True)
    assert run.error is None and plugin.hf.state == "free"


def test_run_sync_goes_on_at_preemption_points_and_refuses_to_sleep():
    from memsim.sched import WouldBlock, run_sync
    closed = []

    def body(then):
        try:
            yield PREEMPT
            yield
            if then is not None:
                yield then
            return 7
        finally:
            closed.append(then)

    assert run_sync(body(None)) == 7
    with pytest.raises(WouldBlock, match="the store would sleep on q with no scheduler"):
        run_sync(body(WaitQueue("q")), "the store")
    with pytest.raises(WouldBlock, match="a sleep until 5 ns"):
        run_sync(body(SleepUntil(5)))
    assert len(closed) == 3                 # each generator ended: its finally ran


def test_a_mutex_of_current_locks_for_the_running_task_and_a_kill_unwinds_as_the_victim():
    from memsim.sched import Mutex, MutexError
    cur = type("Cur", (), {"task": None})()
    a, b, k = _tasks("a", "b", "k")

    def set_current(t):
        cur.task = t

    m = Mutex("resize_lock", current=cur)
    s = Scheduler(Clock(0), set_current, 0)
    log = []

    def holder():
        try:                                    # a took it before the run (below)
            while True:
                log.append(("hold", cur.task.comm))
                yield PREEMPT
        finally:
            log.append(("unwind", cur.task.comm))
            m.unlock()

    def waiter():
        yield PREEMPT
        yield from m.lock()
        log.append(("got", cur.task.comm, m.owner.comm))
        m.unlock()

    def killer():
        while m.owner is not a or not m.wait.waiters:
            yield PREEMPT
        assert s.kill(a)
        log.append(("after kill", cur.task.comm))

    set_current(a)
    assert m.trylock() and m.owner is a         # for current: a
    s.add(a, holder())
    s.add(b, waiter())
    s.add(k, killer())
    s.run()
    assert ("unwind", "a") in log and ("after kill", "k") in log
    assert log[-1] == ("got", "b", "b") and m.owner is None
    with pytest.raises(MutexError, match="made without current"):
        next(Mutex("x").lock())
