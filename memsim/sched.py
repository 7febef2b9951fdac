"""A deterministic scheduler for emulated tasks.

Each task's body is a generator.  It yields at *preemption points* (between steps, every
``quantum`` pages of a long step, and wherever a subsystem wants to let a race happen); the
scheduler then picks the next task to run with a seeded random choice among the runnable ones,
so the same workload and seed give the same interleaving, and the same trace, byte for byte.

A body may yield:
- :data:`PREEMPT` — a preemption point (``cond_resched()``);
- a :class:`WaitQueue` — block until another task calls ``wake_up()`` on it;
- a :class:`SleepUntil` — block until the emulated clock reaches a time;
- a :class:`WaitTimeout` — block on a wait queue until woken or until a time
  (``schedule_timeout()`` after ``prepare_to_wait()``).

Kernel threads (kswapd) are *daemons*: the run ends when every other task has finished, and a
daemon blocked for good is no deadlock.  A daemon that never becomes runnable takes no part in
the seeded choice, so a run in which no kernel thread is woken interleaves as it would without
them.
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
            if isinstance(run.blocked_on, WaitTimeout):
                run.blocked_on.woken = True
            run.blocked_on = None
        self.waiters.clear()
        return n


@dataclass(eq=False)
class WaitTimeout:
    """schedule_timeout() on wait queue ``queue``: runnable again when woken through the queue
    (``woken`` is then True: the kernel's remaining time is not 0) or once the emulated clock
    reaches ``ns``."""

    queue: WaitQueue
    ns: int
    woken: bool = False


@dataclass(eq=False)
class TaskRun:
    """A task as the scheduler sees it: its TaskStruct, its body and its state."""

    task: object
    body: Generator
    blocked_on: object = None
    done: bool = False
    #: a kernel thread: the run does not wait for it to finish
    daemon: bool = False


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

    def add(self, task, body: Generator, daemon: bool = False,
            blocked_on: Optional[WaitQueue] = None) -> TaskRun:
        """Add a task.  A ``daemon`` (kernel thread) may start asleep on ``blocked_on``: its body
        first runs when the queue is woken."""
        run = TaskRun(task, body, daemon=daemon)
        if blocked_on is not None:
            run.blocked_on = blocked_on
            blocked_on.waiters.append(run)
        self.runs.append(run)
        return run

    def kill(self, task) -> bool:
        """End ``task``'s body where it stands (a fatal signal reached a task other than the
        running one): it leaves any wait queue and never runs again.  Returns whether it was
        still alive.  The running task cannot be killed this way: its body returns instead."""
        for run in self.runs:
            if run.task is task and not run.done:
                q = run.blocked_on.queue if isinstance(run.blocked_on, WaitTimeout) else run.blocked_on
                if isinstance(q, WaitQueue) and run in q.waiters:
                    q.waiters.remove(run)
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
            if isinstance(b, WaitTimeout) and b.ns <= now:
                if run in b.queue.waiters:
                    b.queue.waiters.remove(run)
                b = None
            if b is None or (isinstance(b, SleepUntil) and b.ns <= now):
                run.blocked_on = None
                out.append(run)
        return out

    def run(self, after_slice: Optional[Callable[[TaskRun], None]] = None) -> None:
        """Run until every task has finished.  ``after_slice`` is called after each slice
        (the ``--check`` invariant checks hook in there)."""
        while True:
            runnable = self._runnable()
            if not any(not r.done and not r.daemon for r in self.runs):
                return
            if not runnable:
                live = [r for r in self.runs if not r.done]
                sleepers = [r.blocked_on.ns for r in live
                            if isinstance(r.blocked_on, (SleepUntil, WaitTimeout))]
                if sleepers:
                    self.clock.now = max(self.clock.now, min(sleepers))     # idle until a wakeup
                    continue
                raise Deadlock([r for r in live if not r.daemon])
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
            elif isinstance(what, WaitTimeout):
                run.blocked_on = what
                what.queue.waiters.append(run)
            elif isinstance(what, SleepUntil):
                run.blocked_on = what
            if after_slice is not None:
                after_slice(run)
