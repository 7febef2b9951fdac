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

Code that may sleep deep inside a step (a pseudo-file ``store`` that calls ``cond_resched()``
or takes a :class:`Mutex`) is a generator of the same values, which the step runs with
``yield from``; a caller outside the scheduler (a tool, a test) drives it with
:func:`run_sync`, which raises :class:`WouldBlock` if it would sleep.

Two more kernel mechanisms live here: :class:`Mutex` (``struct mutex``: an owner and a wait
queue) and :class:`TaskWorks` (``task_work_add()`` / ``task_work_run()``: callables queued on a
task that run when the scheduler next picks it, at its exit, or at the end of the run).

Kernel threads (kswapd) are *daemons*: the run ends when every other task has finished, and a
daemon blocked for good is no deadlock.  A daemon that never becomes runnable takes no part in
the seeded choice, so a run in which no kernel thread is woken interleaves as it would without
them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Optional

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
    #: the :class:`Mutex` whose waiters these are (a Deadlock report names its owner)
    mutex: Optional["Mutex"] = field(default=None, repr=False)

    def wake_up(self) -> int:
        """Make every waiter runnable; returns how many were woken."""
        n = len(self.waiters)
        for run in self.waiters:
            if isinstance(run.blocked_on, WaitTimeout):
                run.blocked_on.woken = True
            run.blocked_on = None
        self.waiters.clear()
        return n

    def wake_up_one(self) -> Optional["TaskRun"]:
        """Make the first waiter runnable (an exclusive wake-up, ``wake_up_process()`` of the
        top waiter); returns its TaskRun, or None when nobody waits."""
        if not self.waiters:
            return None
        run = self.waiters.pop(0)
        if isinstance(run.blocked_on, WaitTimeout):
            run.blocked_on.woken = True
        run.blocked_on = None
        return run


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


def _blocked_on_text(b) -> str:
    q = b.queue if isinstance(b, WaitTimeout) else b
    name = getattr(q, "name", "?")
    mutex = getattr(q, "mutex", None)
    if mutex is not None:
        owner = mutex.owner
        held = f"{owner.comm}-{owner.pid}" if owner is not None else "nobody"
        return f"mutex {name} (held by {held})"
    return name


class Deadlock(Exception):
    """Every remaining task is blocked on a wait queue nobody will wake."""

    def __init__(self, blocked):
        self.blocked = blocked
        names = ", ".join(f"{r.task.comm}-{r.task.pid} on {_blocked_on_text(r.blocked_on)}"
                          for r in blocked)
        super().__init__(f"every task is blocked: {names}")


_SLEEPS = (WaitQueue, WaitTimeout, SleepUntil)


class WouldBlock(RuntimeError):
    """Code that may sleep (a pseudo-file write that takes a mutex...) had to sleep where no
    scheduler runs it (:func:`run_sync`: a tool's or a test's call), so nothing could wake it."""


def run_sync(gen: Generator, what: str = "") -> Any:
    """Run ``gen`` — code that may sleep, as a step runs it with ``yield from`` — to its return
    value outside the scheduler (a tool's or a test's call, ``machine.vfs.write_file``).

    A :data:`PREEMPT` (``cond_resched()``) has nobody else to run: it goes on at once.  Anything
    else it yields (a :class:`WaitQueue`, a held :class:`Mutex`'s queue, a sleep) would block with
    no task to wake it: ``gen`` is closed (its ``finally`` clauses release what it holds) and
    :class:`WouldBlock` is raised, naming ``what`` and the queue."""
    try:
        what_yielded = next(gen)
        while not isinstance(what_yielded, _SLEEPS):        # PREEMPT (or a bare yield)
            what_yielded = next(gen)
    except StopIteration as stop:
        return stop.value
    gen.close()
    on = (f"a sleep until {what_yielded.ns} ns" if isinstance(what_yielded, SleepUntil)
          else _blocked_on_text(what_yielded))
    raise WouldBlock(f"{what or 'the call'} would sleep on {on} with no scheduler to wake it: "
                     "run it as a workload step (yield from), or make sure nothing holds it")


class _NoTask:
    """The owner of a mutex taken where no task is current (a test writing a file on a machine
    with no task): it still reads as held until that caller unlocks it."""

    comm = "(no task)"
    pid = 0


_NO_TASK = _NoTask()

#: The default task of :class:`Mutex` calls: ``current``.
CURRENT = object()


class Mutex:
    """``struct mutex`` (kernel/locking/mutex.c): a sleeping lock with an owner and a wait queue
    named after it (a :class:`Deadlock` report says ``mutex NAME (held by comm-pid)``)::

        resize_lock = Mutex("resize_lock", current=machine.current)
        yield from resize_lock.lock()               # mutex_lock(&h->resize_lock)
        try:
            ...                                     # may yield PREEMPT (cond_resched)
        finally:
            resize_lock.unlock()                    # mutex_unlock(&h->resize_lock)

    The task is ``current`` (``current.task`` of the ``current`` given at creation, the
    machine's :class:`memsim.task.Current`), or the ``task`` argument of each call, which a
    mutex made without ``current`` needs.  A caller with no task (a test writing a file on a
    bare machine: ``current.task`` is None) holds it as ``(no task)``.

    Fairness: **FIFO handoff**.  ``unlock`` gives the mutex straight to the longest waiter
    (``owner`` becomes that task before it runs again) and wakes only it, which is what the
    kernel's ``__mutex_unlock_slowpath`` does once a waiter has set ``MUTEX_FLAG_HANDOFF``.  The
    kernel's first unlock lets a running task (an optimistic spinner, a fast-path locker) steal
    the mutex before the woken waiter runs; memsim does not model that steal, so waiters get
    the mutex in the order they came.  Lockers that find it free take it at once
    (``__mutex_trylock_fast``).

    Unlocking a mutex the task does not own, and locking one it already holds, raise
    :class:`MutexError` (the kernel WARNs with CONFIG_DEBUG_MUTEXES; the second is a
    self-deadlock).  A task killed while it waits (:meth:`Scheduler.kill`) leaves the queue, and
    one killed after the mutex was handed to it passes it on; a holder must release it in a
    ``finally`` so that a kill (the body closed where it stands, with the killed task current)
    or an error does too."""

    __slots__ = ("name", "owner", "wait", "current")

    def __init__(self, name: str, current=None):
        self.name = name
        #: the task holding the mutex (``__mutex_owner()``), None when free
        self.owner = None
        #: the waiters (``wait_list``), in the order they came
        self.wait = WaitQueue(name)
        self.wait.mutex = self
        #: where ``current`` is read when a call names no task (``machine.current``), or None
        self.current = current

    def __repr__(self):
        owner = f"{self.owner.comm}-{self.owner.pid}" if self.owner is not None else "free"
        return f"<Mutex {self.name} {owner}, {len(self.wait.waiters)} waiting>"

    def _task(self, task):
        if task is CURRENT:
            if self.current is None:
                raise MutexError(f"mutex {self.name} was made without current=: name the task")
            task = self.current.task
        return _NO_TASK if task is None else task

    def is_locked(self) -> bool:
        """mutex_is_locked()."""
        return self.owner is not None

    def trylock(self, task=CURRENT) -> bool:
        """mutex_trylock(): take the mutex if it is free; never sleeps."""
        task = self._task(task)
        if self.owner is None:
            self.owner = task
            return True
        return False

    def lock(self, task=CURRENT) -> Generator:
        """mutex_lock(): a generator to run with ``yield from``; it returns once ``task`` owns
        the mutex, having yielded the mutex's wait queue while another task held it."""
        task = self._task(task)
        owner = self.owner
        if owner is None:
            self.owner = task
            return
        if owner is task:
            raise MutexError(f"mutex_lock: {task.comm}-{task.pid} already holds {self.name} "
                             "(locking it again would deadlock)")
        try:
            while self.owner is not task:
                if self.owner is None:          # woken by someone else's wake_up() of the queue
                    self.owner = task
                    return
                yield self.wait
        except GeneratorExit:
            if self.owner is task:              # killed after the handoff: pass it on
                self.unlock(task)
            raise

    def unlock(self, task=CURRENT) -> None:
        """mutex_unlock(): ``task`` must own the mutex; the longest waiter gets it (handoff)."""
        task = self._task(task)
        if self.owner is not task:
            held = (f"held by {self.owner.comm}-{self.owner.pid}" if self.owner is not None
                    else "not locked")
            raise MutexError(f"mutex_unlock: {task.comm}-{task.pid} releases {self.name}, "
                             f"which is {held}")
        run = self.wait.wake_up_one()
        self.owner = run.task if run is not None else None


class MutexError(RuntimeError):
    """A misuse of a :class:`Mutex`: unlocking one the task does not hold (DEBUG_MUTEXES'
    ``DEBUG_LOCKS_WARN_ON(__owner_task(owner) != current)``), or locking one twice."""


class TaskWorks:
    """``task->task_works`` of every task (kernel/task_work.c): callables queued on a task, run
    in its context when the scheduler next picks it (before its body goes on: the kernel runs
    them on the way back to user mode, ``task_work_run()`` from ``resume_user_mode_work()``),
    when it exits (``exit_task_work()``), or at the end of the run.

    Code that cannot sleep (C deep in a zap or a put) uses it to leave the rest of its work to
    later, so that other tasks scheduled in between see the state in the middle (a hugetlb page
    whose last reference is gone but which ``free_huge_page`` has not yet put on a free list):
    ``machine.task_work_add(current, fn)``.

    While no scheduler runs tasks (``deferring`` False: building a machine, a test or a tool
    calling the machine), nobody could see that state and :meth:`add` runs ``fn`` at once; so
    does it for a task that has exited (the kernel's ``task_work_add()`` fails with ESRCH after
    ``exit_task_work()`` and the caller does the work itself) and for no task (None)."""

    __slots__ = ("pending", "deferring", "_exited")

    def __init__(self):
        #: task -> its queued callables, oldest first; no entry for a task with none, so a run
        #: that queues nothing pays one truth test of an empty dict per slice
        self.pending: Dict[Any, List[Callable[[], None]]] = {}
        #: a scheduler runs the tasks: add() queues (else it calls at once)
        self.deferring = False
        self._exited = set()

    def __len__(self) -> int:
        """How many works are pending, all tasks together."""
        return sum(len(w) for w in self.pending.values())

    def add(self, task, fn: Callable[[], None]) -> bool:
        """task_work_add(task, work, TWA_RESUME): queue ``fn()`` on ``task``.  Returns True when
        it was queued, False when it ran at once (no scheduler, no task, or an exited task)."""
        if not self.deferring or task is None or task in self._exited:
            fn()
            return False
        works = self.pending.get(task)
        if works is None:
            self.pending[task] = [fn]
        else:
            works.append(fn)
        return True

    def run(self, task) -> int:
        """task_work_run(): run ``task``'s works, oldest first, and those they queue on it,
        until none is left; returns how many ran."""
        n = 0
        works = self.pending.pop(task, None)
        while works:
            for fn in works:
                fn()
                n += 1
            works = self.pending.pop(task, None)
        return n

    def exit(self, task) -> int:
        """exit_task_work(): run ``task``'s works; from now on a work added for it runs at
        once."""
        self._exited.add(task)
        return self.run(task)

    def flush(self, set_current: Optional[Callable[[Any], None]] = None) -> int:
        """Run every task's pending works now, task by task in the order their first work was
        queued (as ``flush_work()`` waits for deferred work: the kernel's
        ``flush_free_hpage_work()`` in set_max_huge_pages).  With ``set_current``, each task's
        works run with that task current (the end of a run); without it, in the caller's
        context.  Returns how many ran."""
        n = 0
        while self.pending:
            task = next(iter(self.pending))
            if set_current is not None:
                set_current(task)
            n += self.run(task)
        return n


class Scheduler:
    """Runs task bodies to completion, interleaving them deterministically from ``seed``."""

    def __init__(self, clock, set_current: Callable[[object], None], seed: int = 0,
                 task_works: Optional[TaskWorks] = None):
        self.clock = clock
        self.set_current = set_current
        self.rng = random.Random(seed)
        self.runs: List[TaskRun] = []
        self.switches = 0
        #: the TaskRun of the slice being run, until its after_slice has run (a kill then
        #: makes it current again)
        self.running: Optional[TaskRun] = None
        #: the machine's task works (``machine.task_works``): queued while run() runs, each
        #: task's run when it is next picked, the rest flushed when every task has finished
        self.task_works = task_works

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
                # the body unwinds (its finally clauses: a mutex released, an fd closed) as
                # the killed task, as the kernel's task runs its own way out to do_exit()
                self.set_current(task)
                try:
                    run.body.close()
                finally:
                    if self.running is not None:
                        self.set_current(self.running.task)
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
        (the ``--check`` invariant checks hook in there).  With ``task_works``, works are
        queued while it runs; a task's run when it is picked, before its body goes on; those
        left (a daemon's) run at the end, each with its task current."""
        tw = self.task_works
        if tw is None:
            return self._run(after_slice, None)
        tw.deferring = True
        try:
            self._run(after_slice, tw)
        finally:
            tw.deferring = False
        tw.flush(self.set_current)

    def _run(self, after_slice, tw: Optional[TaskWorks]) -> None:
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
            if tw is not None and tw.pending and run.task in tw.pending:
                tw.run(run.task)                # task_work_run() before the task goes on
            self.running = run
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
            self.running = None
