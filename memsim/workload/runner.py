"""Run a loaded workload on a new machine: tasks as scheduler bodies, steps through the registry.

The runner is the only place where a workload, the plugins and the machine meet.  Errors a user
can cause surface as :mod:`memsim.errors` exceptions carrying the step's ``file:line:column``;
the run result keeps what happened up to the error, so the CLI can still write the trace.

After every scheduler slice (a preemption point: the machine is consistent) the run drains its
trace recorder (:meth:`Run.attach_recorder`), runs the ``--check`` invariant checks (not while
work queued with ``machine.task_work_add`` is pending: the next slice without any checks what
changed meanwhile, and the end of the run, after the works left are run, checks all), reports
progress and stops if asked to (:meth:`Run.request_stop`, what :func:`stop_on_sigint`'s
Ctrl-C handler calls): :meth:`Run.execute` then raises :class:`memsim.errors.Interrupted`,
which says where the run was.
"""
from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from memsim.boot import BootOptions
from memsim.errors import (Deadlocked, ExpectationFailed, Interrupted, KernelPanic, MemsimError,
                           WorkloadError)
from memsim.machine import Machine
from memsim.mm import RSS_NAMES
from memsim.sched import PREEMPT, Deadlock, Scheduler, SleepUntil, WaitQueue
from memsim.signals import SigInfo, oom_sigkill, wait_status_exited, wait_status_signaled

PAGE_SIZE = 4096


@dataclass
class Mapping:
    """A named mapping of a task: the range its mmap created."""

    start: int
    end: int
    kind: str


@dataclass
class TaskData:
    """Per-task runner state: named mappings, the last failed operation, the signal pending
    from the last step, the signals delivered, exit status.

    ``mappings`` is the name table of the task's address space: the threads of one process
    share the same dict (one mm), a forked child starts with a copy.  ``fds`` names the fds of
    the task's fd table (``task.files``) the same way: shared by threads (CLONE_FILES), copied
    at fork (dup_fd())."""

    mappings: Dict[str, Mapping] = field(default_factory=dict)
    fds: Dict[str, int] = field(default_factory=dict)
    errno: Optional[str] = None
    errno_detail: str = ""
    errno_step: Any = None
    signal: Optional[SigInfo] = None
    signal_step: Any = None
    signals: List[Dict[str, Any]] = field(default_factory=list)
    exited: bool = False
    exit_code: Optional[int] = 0
    killed_by: Optional[SigInfo] = None
    wait_status: Optional[int] = None
    rss_at_exit: Optional[Dict[str, int]] = None
    faults: Dict[str, int] = field(default_factory=dict)
    name: str = ""
    #: the step the task is running (or ran last) and whether it has finished it
    step: Any = None
    step_done: bool = False


class StepContext:
    """What a step's run function gets: the machine, the current task and the step."""

    def __init__(self, run: "Run", task, step):
        self.run = run
        self.machine: Machine = run.machine
        self.task = task
        self.step = step
        self.data: TaskData = run.task_data[task.pid]

    @property
    def mappings(self) -> Dict[str, Mapping]:
        return self.data.mappings

    @property
    def quantum(self) -> int:
        return self.machine.spec.quantum

    @property
    def registries(self):
        """The run's :class:`memsim.registry.Registries` (steps, and the extensions plugins
        added to the core's steps: ``ctx.registries.extensions``)."""
        return self.run.registries

    def emit(self, event: str, **fields) -> None:
        """Emit a (Python-declared) trace event as the current task on its CPU."""
        self.machine.events.emit(self.machine.tb, self.task.cpu, self.task.pid, event, **fields)

    def advance(self, ns: int) -> None:
        """Let ``ns`` of emulated time pass (the cost of what the step did)."""
        self.machine.clock.now += int(ns)

    def fail(self, problem: str, fix: str = "", key: Optional[str] = None) -> None:
        """Stop the run: the workload asked for something impossible (exit code 2)."""
        where = self.step.arg_where.get(key, self.step.where) if key else self.step.where
        raise WorkloadError(where, problem, fix)

    def expectation_failed(self, problem: str, fix: str = "", key: Optional[str] = None) -> ExpectationFailed:
        """The error an expect check raises when the state does not match (exit code 1), located at
        ``key``'s value in the step (the step itself without ``key``)::

            raise ctx.expectation_failed("nr_hugepages is 3, expected 4", "check the reservations",
                                         "hugetlb")
        """
        where = self.step.arg_where.get(key, self.step.where) if key else self.step.where
        return ExpectationFailed(where, problem, fix)

    def set_errno(self, errno: str, detail: str = "") -> None:
        """Record that this step's operation failed with ``errno``; the next step must be an
        ``expect: {errno: ...}``, or the run stops."""
        self.data.errno = errno
        self.data.errno_detail = detail
        self.data.errno_step = self.step

    def force_sig_fault(self, info: SigInfo) -> None:
        """force_sig_fault(): the step's access raised ``info`` (see :mod:`memsim.signals`); the
        step must return at once.  If the next step is ``expect: {signal: ...}`` the task's
        handler catches it (the program resumes after the faulting access, as a handler that
        siglongjmp()s does); otherwise its default action kills the whole thread group."""
        self.data.signal = info
        self.data.signal_step = self.step
        self.data.signals.append({**info.as_dict(), "step": str(self.step.where), "caught": False})

    @property
    def failed(self) -> bool:
        """The step's operation failed (an errno or a signal is pending): stop doing it."""
        return self.data.errno is not None or self.data.signal is not None

    def mapping(self, key: str = "vma") -> Mapping:
        name = self.step.args[key]
        m = self.data.mappings.get(name)
        if m is None:
            threads = [t for t in self.machine.thread_group(self.task) if t is not self.task]
            if threads:
                self.fail(f"no mapping named {name!r} in the address space of task "
                          f"{self.task.name!r} (yet)", "the threads of a process share their "
                          "mappings: make sure the step that creates it has run (sleep, or "
                          "order the steps)", key)
            self.fail(f"no mapping named {name!r} in task {self.task.name!r}",
                      "create it with an mmap step earlier in this task (or before a fork)", key)
        return m

    def range(self, key: str = "vma"):
        """[start, end) of a step's vma/offset/length, checked against the mapping's size."""
        m = self.mapping(key)
        args = self.step.args
        offset = args.get("offset") or 0
        size = m.end - m.start
        length = args.get("length")
        if length is None:
            length = size - offset
        if offset >= size or offset + length > size or length <= 0:
            self.fail(f"offset {offset} + length {length} is outside mapping {args[key]!r} "
                      f"({size} bytes)", "keep offset + length within the mapping's length",
                      "length" if "length" in self.step.arg_where else "offset")
        return m.start + offset, m.start + offset + length


def count_steps(steps) -> int:
    """How many steps ``steps`` holds, the nested steps of fork and clone steps included."""
    n = 0
    for s in steps:
        n += 1
        nested = s.args.get("steps") if hasattr(s.args, "get") else None
        if nested:
            n += count_steps(nested)
    return n


class Run:
    """One execution of a workload."""

    def __init__(self, workload, registries, events, plugin_manager=None, check: bool = False,
                 seed: Optional[int] = None):
        self.workload = workload
        self.registries = registries
        self.events = events
        self.pm = plugin_manager
        self.check = check
        spec = workload.machine
        if seed is not None:
            import dataclasses
            spec = dataclasses.replace(spec, seed=seed)
        self.spec = spec
        #: the boot options plugins chose (memsim_machine_configure) before the machine is built
        self.boot = BootOptions()
        if plugin_manager is not None:
            plugin_manager.hook.memsim_machine_configure(options=self.boot, config=workload)
        self.machine = Machine(spec, events, boot=self.boot, registries=registries,
                               hooks=plugin_manager.hook if plugin_manager is not None else None)
        self.task_data: Dict[int, TaskData] = {}
        self.scheduler = Scheduler(self.machine.clock, self.machine.set_current, spec.seed,
                                   task_works=self.machine.task_works)
        self.error: Optional[MemsimError] = None
        self.wall = 0.0
        self._fault_snapshot = self.machine.mmcore.fault_counts_dict()
        self.checks_run = 0
        #: ``--check`` checks skipped because task work was pending (see _after_slice)
        self.checks_deferred = 0
        self.steps_done = 0
        #: the trace recorder drained at every preemption point (attach_recorder)
        self.recorder = None
        #: called with the run after every slice (a progress display)
        self.progress: Optional[Callable[["Run"], None]] = None
        #: called with (task, step) just before each step of a task runs, and with (task, None)
        #: after its last step, before the exit that follows (memsim.kdiff marks where a task's
        #: measured part ends with it); it must not change the machine
        self.step_observer: Optional[Callable[[Any, Any], None]] = None
        #: set by request_stop(): the run stops at the next preemption point
        self.stop_requested = False
        #: where the run stopped when interrupted (memsim.errors.Interrupted), else None
        self.interrupted: Optional[Interrupted] = None
        self._last_task = None

    @property
    def trace_buffer(self):
        """What readers of this run's trace read (``machine.trace``): the machine's ring
        buffer, or every record a recorder kept (memsim.run, memsim compare)."""
        return self.machine.trace

    def attach_recorder(self, recorder) -> None:
        """Drain ``recorder`` (:class:`memsim.tracing.recorder.TraceRecorder`, built on this
        run's machine) after every scheduler slice, so the trace goes out as it fills."""
        self.recorder = recorder

    def request_stop(self) -> None:
        """Stop at the next preemption point: :meth:`execute` raises
        :class:`memsim.errors.Interrupted` there.  Safe to call from a signal handler."""
        self.stop_requested = True

    def position(self) -> Interrupted:
        """Where the run is: the task that ran last, its step (the step's location) and the
        emulated time, as the :class:`memsim.errors.Interrupted` to raise."""
        task = self._last_task if self._last_task is not None else self.machine.current.task
        data = self.task_data.get(task.pid) if task is not None else None
        now = self.machine.clock.now
        if data is None:
            return Interrupted(self.workload.path, emulated_ns=now)
        who = f"{data.name} (pid {task.pid})"
        if data.step is None:
            return Interrupted(self.workload.path, who, emulated_ns=now)
        return Interrupted(data.step.where, who, data.step.op, now, data.step_done)

    # -- tasks -----------------------------------------------------------------------------
    def add_task(self, task, steps, data: Optional[TaskData] = None) -> None:
        self.task_data[task.pid] = data or TaskData(name=task.name)
        self.task_data[task.pid].name = task.name
        self.scheduler.add(task, self.body(task, steps))

    def body(self, task, steps):
        """A task's life: each step in turn, a preemption point after each, then exit (of this
        thread: the process ends with its last thread).  A signal a step raised is caught by
        an ``expect: {signal: ...}`` right after it, or kills the thread group."""
        data = self.task_data[task.pid]
        for i, step in enumerate(steps):
            if data.errno is not None and step.op != "expect":
                self._unexpected_errno(data)
            st = self.registries.steps.get(step.op)
            if st is None:
                raise WorkloadError(step.where, f"unknown step {step.op!r}",
                                    "is the plugin that provides it installed and enabled?")
            data.step, data.step_done = step, False
            if self.step_observer is not None:
                self.step_observer(task, step)
            try:
                result = st.run(StepContext(self, task, step), step)
                if inspect.isgenerator(result):
                    yield from result
            except KernelPanic as exc:          # the OOM killer's, a plugin's panic()
                if exc.where is None:
                    exc.where = step.where
                raise
            except MemsimError:
                raise
            except Exception as exc:
                raise self._step_bug(st, step, exc) from exc
            data.step_done = True
            self.steps_done += 1
            if data.exited:
                return
            if task.notify_resume and not task.sigkill_pending:
                yield from self.machine.resume_user_mode(task)     # the step's return to user
            if task.sigkill_pending:
                # the OOM killer chose this process: SIGKILL is delivered on the way back to
                # user space, whatever the step's own outcome was
                self.deliver_sigkill(task, step)
                nxt = steps[i + 1] if i + 1 < len(steps) else None
                if nxt is not None and nxt.op == "expect":
                    raise ExpectationFailed(nxt.where, f"the OOM killer killed the process "
                                            f"(SIGKILL) during {step.op} at {step.where}: this "
                                            "expect is never reached", "give the machine more "
                                            "memory, or drop this expect (the summary shows "
                                            "the kill)")
                return
            if data.signal is not None:
                nxt = steps[i + 1] if i + 1 < len(steps) else None
                if nxt is None or nxt.op != "expect" or nxt.args.get("signal") is None:
                    self._fatal_signal(task, data, nxt)
                    return
            yield PREEMPT
        if data.errno is not None:
            self._unexpected_errno(data)
        if self.step_observer is not None:
            self.step_observer(task, None)
        self.exit(task, 0)

    def _step_bug(self, st, step, exc: Exception) -> MemsimError:
        """A step's run raised ``exc``, which is not a MemsimError: a bug in the plugin that
        provides the step (:class:`memsim.errors.PluginBug`, exit code 3)."""
        from memsim.plugin_host import plugin_bug
        plugin = self.registries.owners.get(("step", step.op), st.plugin)
        return plugin_bug(self.pm, plugin, f"step {step.op!r} at {step.where}", exc, step=step.op)

    def _fatal_signal(self, task, data: TaskData, nxt) -> None:
        """get_signal() with no handler for the signal: the default action (SIGSEGV, SIGBUS:
        core, no dump written) -> do_group_exit(): the whole thread group dies.  An ``expect``
        right after the faulting step that does not catch the signal is never reached: that
        is an expectation failure."""
        info = data.signal
        step = data.signal_step
        self.kill_thread_group(task, info)
        if nxt is not None and nxt.op == "expect":
            raise ExpectationFailed(nxt.where, f"{step.op} at {step.where} raised {info.describe()} "
                                    "and no handler caught it: the process was killed before this "
                                    "expect", f"add 'signal: {info.name}' to this expect to catch the "
                                    "signal, or fix the step")

    def _unexpected_errno(self, data: TaskData) -> None:
        step = data.errno_step
        detail = f" ({data.errno_detail})" if data.errno_detail else ""
        raise WorkloadError(step.where, f"{step.op} failed with {data.errno}{detail}",
                            f"fix the step, or follow it with '- expect: {{errno: {data.errno}}}' "
                            "if the failure is what you want to see")

    def exit(self, task, code: int, signal: Optional[SigInfo] = None) -> None:
        """do_exit() of one thread: its status is ``code``, or death by ``signal``."""
        data = self.task_data[task.pid]
        if data.exited:
            return
        data.rss_at_exit = self.machine.rss(task)
        self.machine.exit_task(task)
        data.exited = True
        if signal is not None:
            data.exit_code = None
            data.killed_by = signal
            data.wait_status = wait_status_signaled(signal.signo)
        else:
            data.exit_code = code
            data.wait_status = wait_status_exited(code)

    def exit_group(self, task, code: int, signal: Optional[SigInfo] = None) -> None:
        """do_group_exit(): zap_other_threads() — every other thread of ``task``'s group stops
        where it stands and exits with the group's status — then ``task`` exits; the mm goes
        with the last of them.  Other processes go on."""
        for t in self.machine.thread_group(task):
            if t is task or t.pid not in self.task_data or self.task_data[t.pid].exited:
                continue
            self.scheduler.kill(t)
            self.exit(t, code, signal)
        self.exit(task, code, signal)

    def deliver_sigkill(self, task, step=None) -> None:
        """get_signal() with SIGKILL pending (the OOM killer sent it: ``sigkill_pending``): it
        cannot be caught or blocked, so the whole thread group exits killed by it, each thread
        where it stands (a blocked one leaves its wait queue).  Any errno or fault signal the
        interrupted step left is dropped: the process never sees it."""
        info = oom_sigkill()
        for t in self.machine.thread_group(task):
            d = self.task_data.get(t.pid)
            if d is None or d.exited:
                continue
            d.errno = None
            d.signal = None
            d.signals.append({**info.as_dict(), "step": str(step.where) if step is not None
                              else (str(d.step.where) if d.step is not None else ""),
                              "caught": False, "sender": "oom_kill"})
            if t is not task:
                self.scheduler.kill(t)
        self.kill_thread_group(task, info)

    def _deliver_pending_sigkills(self) -> None:
        """At a preemption point: every task the OOM killer sent SIGKILL to while another task
        ran dies now (its body is closed where it stands)."""
        if not self.machine.oom.kills:
            return
        for pid, d in list(self.task_data.items()):
            t = self.machine.tasks.get(pid)
            if t is not None and not d.exited and t.sigkill_pending:
                self.scheduler.kill(t)
                self.deliver_sigkill(t)

    def kill_thread_group(self, task, info: SigInfo) -> None:
        """A fatal signal: the whole thread group exits, killed by it (WTERMSIG)."""
        self.exit_group(task, 0, info)

    # -- running ---------------------------------------------------------------------------
    def _after_slice(self, taskrun) -> None:
        self._last_task = taskrun.task
        if self.recorder is not None:
            self.recorder.drain()
        self._deliver_pending_sigkills()
        # the task goes on running on its CPU unless it exited or blocked (then that CPU idles)
        self.machine.quiescent_state(None if taskrun.done or taskrun.blocked_on is not None
                                     else taskrun.task)
        now = self.machine.mmcore.fault_counts_dict()
        data = self.task_data.get(taskrun.task.pid)
        if data is not None:
            for k, v in now.items():
                d = v - self._fault_snapshot[k]
                if d:
                    data.faults[k] = data.faults.get(k, 0) + d
        self._fault_snapshot = now
        if self.check:
            if self.machine.task_works.pending:
                # work queued on a task (task_work_add) has not run yet: the state it will
                # complete is one the plugins' invariants need not hold in; the check of the
                # next slice without pending work covers what changed meanwhile
                self.checks_deferred += 1
            else:
                self._check(taskrun.task, full=False)
        if self.progress is not None:
            self.progress(self)
        if self.stop_requested:
            raise self.position()

    def _check(self, task, full: bool) -> None:
        """``--check``: the core's invariants (what changed since the last check unless
        ``full``), then every plugin's; InvariantBroken if one does not hold."""
        self.checks_run += 1
        problems = self.machine.check_invariants(full=full)
        if self.pm is not None:
            for lst in self.pm.hook.memsim_check_invariants(machine=self.machine, full=full):
                problems += list(lst or [])
        if problems:
            raise InvariantBroken(problems, task)

    def total_steps(self) -> int:
        """The steps of the workload, those of fork and clone steps included (each once)."""
        return sum(count_steps(t.steps) for t in self.workload.tasks)

    def execute(self) -> "Run":
        """Run every task to completion; errors are kept in ``self.error``.

        :raises memsim.errors.Interrupted: Ctrl-C (or :meth:`request_stop`) stopped the run;
            ``self.interrupted`` is the same exception (where the run was).  What ran is kept:
            the machine, the trace buffer, the recorder's pages."""
        t0 = time.perf_counter()
        try:
            if self.pm is not None:
                self.pm.hook.memsim_machine_created(machine=self.machine, config=self.workload)
            # kswapd0.. sleep from boot on; they run only once an allocation wakes them
            self.machine.start_kswapds(self.scheduler)
            for tc in self.workload.tasks:
                task = self.machine.spawn(tc.name, tc.comm, tc.cpu)
                task.oom_score_adj = getattr(tc, "oom_score_adj", 0)
                self.add_task(task, tc.steps)
            if self.pm is not None:
                self.pm.hook.memsim_run_start(machine=self.machine)
            # (the scheduler runs the task works still pending when every task has finished)
            self.scheduler.run(self._after_slice)
            # the machine idles: the page tables still waiting for RCU are freed (v6.18)
            self.machine.mmcore.rcu_barrier()
            if self.check:
                self._check(None, full=True)       # what a check of the changes cannot see
        except MemsimError as e:
            self.error = e
        except Deadlock as e:
            self.error = Deadlocked(self.workload.path, str(e),
                                    "make sure some task wakes the blocked ones")
        except InvariantBroken as e:
            self.error = e.as_error(self.workload.path)
        except KeyboardInterrupt as e:
            self.interrupted = e if isinstance(e, Interrupted) else self.position()
            raise self.interrupted from None
        finally:
            self.wall = time.perf_counter() - t0
            if self.check:
                self.machine.stop_checks()
        return self

    # -- results ---------------------------------------------------------------------------
    def summary(self) -> Dict[str, Any]:
        m = self.machine
        tasks = []
        for pid, data in self.task_data.items():
            task = m.tasks[pid]
            rss = data.rss_at_exit if data.exited else m.rss(task)
            tasks.append({
                "name": data.name, "pid": pid, "tgid": task.tgid, "comm": task.comm, "cpu": task.cpu,
                "rss_bytes": {n: v * PAGE_SIZE for n, v in (rss or {}).items()},
                "faults": dict(sorted(data.faults.items())),
                "exited": data.exited,
                "exit_code": data.exit_code if data.exited else None,
                "killed_by": data.killed_by.name if data.killed_by is not None else None,
                "wait_status": data.wait_status,
                "signals": list(data.signals),
            })
        stats = [m.tb.cpu_stats(cpu) for cpu in range(m.tb.ncpus)]
        out = {
            "workload": self.workload.path,
            "kernel": m.profile.name,
            "seed": self.spec.seed,
            "cpus": self.spec.cpus,
            "patches_off": list(m.patches.off()),
            "tasks": tasks,
            "nodes": [{"node": s["node"], "pages_allocated": s["allocated"], "pages_freed": s["freed"]}
                      for s in m.physmem.node_stats()],
            "events": {"written": sum(st["written"] for st in stats),
                       "dropped": sum(st["dropped"] for st in stats),
                       "overwritten": sum(st["overrun"] for st in stats),
                       "per_cpu": [{"cpu": c, "written": st["written"], "dropped": st["dropped"],
                                    "overwritten": st["overrun"]} for c, st in enumerate(stats)]},
            "meminfo_bytes": {k: v for k, v in m.meminfo().items() if not k.startswith("HugePages_")},
            "time": {"emulated_ns": m.clock.now, "host_wall_s": round(self.wall, 6)},
            "scheduler": {"slices": self.scheduler.switches, "invariant_checks": self.checks_run},
            "oom_kills": m.oom.summary(),
            "reclaim": reclaim_summary(m),
            "kernel_log": m.dmesg(),
        }
        for row in self.registries.summary:
            out[row.name] = row.compute(m)
        if self.pm is not None:
            self.pm.hook.memsim_run_finished(machine=m, summary=out)
        if self.error is not None:
            out["error"] = str(self.error)
        return out


#: The /proc/vmstat counters a run's summary reports under "reclaim" (mm/vmscan.c,
#: mm/workingset.c, mm/oom_kill.c), as the profile's kernel names them.
RECLAIM_COUNTERS = (
    "pgscan_kswapd", "pgsteal_kswapd", "pgscan_direct", "pgsteal_direct", "pageoutrun",
    "pgactivate", "pgdeactivate", "pgrefill", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "drop_pagecache", "drop_slab", "oom_kill",
)


def reclaim_summary(machine) -> Dict[str, int]:
    """The reclaim counters of /proc/vmstat at the end of a run, plus ``allocstall`` (the
    allocstall_<zone> counters summed): what memory pressure did during the run."""
    from memsim.mmstat import vmstat_values
    values = vmstat_values(machine)
    out = {name: values[name] for name in RECLAIM_COUNTERS if name in values}
    out["allocstall"] = sum(v for k, v in values.items() if k.startswith("allocstall_"))
    return out


@contextlib.contextmanager
def stop_on_sigint(run: Run) -> Iterator[None]:
    """Ctrl-C stops ``run`` at its next preemption point (:meth:`Run.request_stop`), where the
    machine is consistent and the trace holds every record so far; a second Ctrl-C raises
    KeyboardInterrupt at once (a step that runs long without a preemption point).  Installed
    only in the main thread and when SIGINT has Python's default handler (a shell that starts
    a job in the background makes it ignore SIGINT: it stays ignored)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def handler(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.request_stop()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class InvariantBroken(Exception):
    """``--check`` found the machine in a state the kernel could never be in."""

    def __init__(self, problems: List[str], task):
        self.problems = problems
        self.task = task
        super().__init__(problems[0])

    def as_error(self, where) -> MemsimError:
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        when = (f"after a step of {self.task.comm}-{self.task.pid}" if self.task is not None
                else "at the end of the run")
        err = MemsimError(where, f"invariant broken {when}: {self.problems[0]}{more}",
                          "this is a memsim bug: please report it with the workload and seed")
        err.exit_code = 3
        return err


def fault_error(ret: int) -> str:
    """The errno a failed access reports when it raises no signal (a kernel access such as
    get_user_pages(): VM_FAULT_OOM -> ENOMEM, SIGSEGV/SIGBUS -> EFAULT).  A user access raises
    the signal instead (:func:`memsim.signals.fault_signal`, ``StepContext.force_sig_fault``)."""
    if ret & 0x1:
        return "ENOMEM"
    return "EFAULT"
