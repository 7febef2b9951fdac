"""The deterministic scheduler: seeded interleaving, sleeps, and a task that blocks in a fault
until another task wakes it (the userfaultfd shape, through MmCore.set_userfault_handler)."""
import textwrap

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
    run = run_text(text, plugins=[plugin], events=("kmem:*",), check=True)
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
