"""A deterministic scheduler for emulated tasks.

Each task's body is a generator.  It yields at *preemption points* (between steps, every
``quantum`` pages of a long step, and wherever a subsystem wants to let a race happen); the
scheduler then picks the next task to run with a seeded random choice among the runnable ones,
so the same workload and seed give the same interleaving, and the same trace, byte for byte.

A body may yield:
- :data:`PREEMPT` — a preemption point (``cond_resched()``);
- a :class:`WaitQueue` — block until another task calls ``wake_up()`` on it;
- a :class:`SleepUntil` — block until the emulated clock reaches a time.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Generator, List, Optional

PREEMPT = object()


@dataclass
class SleepUntil:
    """Block the task until the emulated clock reaches ``ns``."""

    ns: int


@dataclass(eq=False)
class WaitQueue:
    """wait_queue_head_t: tasks blocked on it become runnable at ``wake_up()``."""

    name: str = ""
    waiters: List["TaskRun"] = field(default_factory=list)

    def wake_up(self) -> int:
        """Make every waiter runnable; returns how many were woken."""
        n = len(self.waiters)
        for run in self.waiters:
            run.blocked_on = None
        self.waiters.clear()
        return n


@dataclass(eq=False)
class TaskRun:
    """A task as the scheduler sees it: its TaskStruct, its body and its state."""

    task: object
    body: Generator
    blocked_on: object = None
    done: bool = False


class Deadlock(Exception):
    """Every remaining task is blocked on a wait queue nobody will wake."""

    def __init__(self, blocked):
        self.blocked = blocked
        names = ", ".join(f"{r.task.comm}-{r.task.pid} on {getattr(r.blocked_on, 'name', '?')}"
                          for r in blocked)
        super().__init__(f"every task is blocked: {names}")


class Scheduler:
    """Runs task bodies to completion, interleaving them deterministically from ``seed``."""

    def __init__(self, clock, set_current: Callable[[object], None], seed: int = 0):
        self.clock = clock
        self.set_current = set_current
        self.rng = random.Random(seed)
        self.runs: List[TaskRun] = []
        self.switches = 0

    def add(self, task, body: Generator) -> TaskRun:
        run = TaskRun(task, body)
        self.runs.append(run)
        return run

    def kill(self, task) -> bool:
        """End ``task``'s body where it stands (a fatal signal reached a task other than the
        running one): it leaves any wait queue and never runs again.  Returns whether it was
        still alive.  The running task cannot be killed this way: its body returns instead."""
        for run in self.runs:
            if run.task is task and not run.done:
                if isinstance(run.blocked_on, WaitQueue) and run in run.blocked_on.waiters:
                    run.blocked_on.waiters.remove(run)
                run.blocked_on = None
                run.done = True
                run.body.close()
                return True
        return False

    def _runnable(self) -> List[TaskRun]:
        now = self.clock.now
        out = []
        for run in self.runs:
            if run.done:
                continue
            b = run.blocked_on
            if b is None or (isinstance(b, SleepUntil) and b.ns <= now):
                run.blocked_on = None
                out.append(run)
        return out

    def run(self, after_slice: Optional[Callable[[TaskRun], None]] = None) -> None:
        """Run until every task has finished.  ``after_slice`` is called after each slice
        (the ``--check`` invariant checks hook in there)."""
        while True:
            runnable = self._runnable()
            if not runnable:
                live = [r for r in self.runs if not r.done]
                if not live:
                    return
                sleepers = [r.blocked_on.ns for r in live if isinstance(r.blocked_on, SleepUntil)]
                if sleepers:
                    self.clock.now = max(self.clock.now, min(sleepers))     # idle until a wakeup
                    continue
                raise Deadlock(live)
            run = runnable[self.rng.randrange(len(runnable))] if len(runnable) > 1 else runnable[0]
            self.set_current(run.task)
            self.switches += 1
            try:
                what = next(run.body)
            except StopIteration:
                run.done = True
                what = None
            if isinstance(what, WaitQueue):
                run.blocked_on = what
                what.waiters.append(run)
            elif isinstance(what, SleepUntil):
                run.blocked_on = what
            if after_slice is not None:
                after_slice(run)
