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
