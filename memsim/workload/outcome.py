"""How a run ended and the numbers it produced: what ``memsim compare`` and ``memsim sweep`` put
side by side.

A run's :data:`status` is one of:

* ``passed`` — every task ran to its end and every ``expect`` held;
* ``failed`` — an ``expect`` did not hold (:class:`memsim.errors.ExpectationFailed`);
* ``killed`` — no error, but a signal no handler caught killed a task (SIGSEGV, SIGBUS...);
* ``deadlocked`` — every live task was blocked (:class:`memsim.errors.Deadlocked`);
* ``error`` — the run stopped on another error (a step the workload cannot do, a broken
  invariant under ``--check``).

Its metrics are the core's (:data:`CORE_METRICS`) and those of the seed changes' implementations
(:class:`memsim.patches.PatchMetric`), computed from the machine once the run is over.
Everything here is deterministic for a given workload, variant and seed: no host time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from memsim.errors import Deadlocked, ExpectationFailed

__all__ = ["STATUSES", "CoreMetric", "CORE_METRICS", "Outcome", "run_status", "run_metrics", "outcome"]

#: The ways a run can end, in the order reports list them.
STATUSES = ("passed", "failed", "killed", "deadlocked", "error")


@dataclass(frozen=True)
class CoreMetric:
    """A number every run has: ``compute(run)`` (a :class:`memsim.workload.runner.Run`)."""

    name: str
    doc: str
    compute: Callable[[Any], Any]
    unit: str = ""


def _faults(run) -> int:
    return sum(sum(d.faults.values()) for d in run.task_data.values())


CORE_METRICS: Tuple[CoreMetric, ...] = (
    CoreMetric("emulated_ns", "emulated time at the end of the run", lambda r: r.machine.clock.now, "ns"),
    CoreMetric("faults", "page faults handled, every kind", _faults, "faults"),
    CoreMetric("pages_allocated", "pages the buddy allocator handed out, every node",
               lambda r: sum(s["allocated"] for s in r.machine.physmem.node_stats()), "pages"),
    CoreMetric("pages_freed", "pages freed back to the buddy allocator, every node",
               lambda r: sum(s["freed"] for s in r.machine.physmem.node_stats()), "pages"),
    CoreMetric("events_written", "trace records written (enabled events only)",
               lambda r: sum(e for e, _ in r.machine.tb.stats()), "records"),
    CoreMetric("slices", "scheduler slices run", lambda r: r.scheduler.switches, "slices"),
)


def run_status(run) -> str:
    """How ``run`` (executed) ended: one of :data:`STATUSES`."""
    err = run.error
    if isinstance(err, ExpectationFailed):
        return "failed"
    if isinstance(err, Deadlocked):
        return "deadlocked"
    if err is not None:
        return "error"
    if any(d.killed_by is not None for d in run.task_data.values()):
        return "killed"
    return "passed"


def run_metrics(run, patches: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """The core metrics, then the metrics of the seed changes ``patches`` (every implemented one
    if None), by name."""
    out: Dict[str, Any] = {m.name: m.compute(run) for m in CORE_METRICS}
    for metric in run.registries.patches.metrics(patches):
        out[metric.name] = metric.compute(run.machine)
    return out


@dataclass(frozen=True)
class Outcome:
    """A run's status, its error (``<where>: <problem>; <fix>``, or None) and its metrics."""

    status: str
    error: Optional[str]
    metrics: Dict[str, Any] = field(default_factory=dict)


def outcome(run, patches: Optional[Iterable[str]] = None) -> Outcome:
    """The :class:`Outcome` of an executed ``run``."""
    return Outcome(run_status(run), str(run.error) if run.error is not None else None,
                   run_metrics(run, patches))
