"""Seed sweeps: one workload run over a grid of seeds x seed-change states x settings, on a local
process pool or a Dask cluster, and what the runs add up to.  ``memsim sweep`` is a thin click
wrapper around this module (:mod:`memsim.cli_sweep`); everything here works without click::

    source = WorkloadSource.read("configs/bench/race.yaml")
    grid = build_grid(parse_seeds("0-999"), patch_opts=["rss-stat-symbolic=on,off"])
    result = sweep(source, grid, jobs=2)            # or scheduler="tcp://10.0.0.5:8786"
    report = SweepReport.build(result)
    print(format_report(report)); write_rows("runs.parquet", result)

The races memsim emulates show up for some interleavings only, and the interleaving comes from
the seed (:mod:`memsim.sched`): a sweep runs every variant of the workload under every seed and
counts, per variant, how the runs ended (:data:`memsim.workload.outcome.STATUSES`), the spread of
every metric, and which seeds failed, so that any one can be re-run alone with ``memsim run``.

**The grid.**  ``--patch NAME=on,off`` and ``--set KEY=V1,V2`` each make an :class:`Axis`; the
variants are their cartesian product (the first axis varies slowest), each a tuple of
:class:`~memsim.workload.variant.Override`\\ s; every variant runs under every seed.

**The work.**  A :class:`Chunk` is one variant and a block of seeds, and everything a worker needs
to run it: the workload's :class:`~memsim.workload.variant.WorkloadSource` (name and text: the
worker does not read the file), the disabled plugins, the overrides, the events to record.  It is
picklable, and :func:`run_chunk` is the one function every backend calls: in this process
(``jobs=1``), in a ``concurrent.futures.ProcessPoolExecutor`` (``jobs=N``), or on a Dask
cluster (``scheduler=ADDRESS``).  A worker keeps one :class:`~memsim.workload.variant.Host` per
set of disabled plugins, and the Host keeps each prepared variant, so a variant is loaded once
per process, not once per seed.  Runs are deterministic, so every backend gives the same rows;
the rows are sorted by (variant, seed).

**Ctrl-C** stops the sweep: chunks not started are cancelled, the worker processes (which
ignore SIGINT, so that the parent decides) are ended, the rows already finished are kept and
the result is marked ``interrupted``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from memsim.errors import MemsimError, UsageError
from memsim.workload.outcome import CORE_METRICS, STATUSES, outcome
from memsim.workload.variant import Host, Override, WorkloadSource, parse_patch, parse_set, patch_override

__all__ = ["MAX_SEEDS", "MAX_CHUNK", "SCHEDULER_TIMEOUT_S", "OUT_FORMATS", "parse_seeds",
           "format_seeds", "Axis", "Variant", "Grid", "build_grid", "MetricInfo", "Chunk",
           "RunResult", "run_chunk", "iter_chunk", "SweepResult", "sweep", "require_dask",
           "MetricStats", "VariantReport", "SweepReport", "format_report", "rerun_command",
           "out_format", "check_out", "rows", "write_rows", "exit_code"]

#: the most seeds one sweep takes (1,000,000 runs of a small workload take ~20 min on a core)
MAX_SEEDS = 1_000_000
#: the largest seed (machine.seed is a u64)
MAX_SEED = (1 << 64) - 1
#: the most runs sent to a worker at once (small enough to cancel quickly, large enough that
#: the per-task cost of a process pool or a Dask cluster stays out of the way)
MAX_CHUNK = 64
#: how long to wait for a Dask scheduler to answer before giving up
SCHEDULER_TIMEOUT_S = 10.0
#: seeds of one status the text report lists before "... and N more"
SHOWN_SEEDS = 10
#: distinct errors of one status the text report quotes
SHOWN_ERRORS = 3

_SEEDS_FIX = "write seeds as a list of numbers and ranges, e.g. 0-999, 1,5,9 or 0-9,20-29"


# ----------------------------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------------------------

def parse_seeds(text: str, option: str = "--seeds") -> Tuple[int, ...]:
    """``0-999``, ``1,5,9``, ``0-9,20-29`` -> the seeds, ascending.  An empty item, a word, a
    reversed range, a seed given twice (ranges overlap) or more than :data:`MAX_SEEDS` seeds is
    a UsageError."""
    where = f"{option} {text}"
    if not text.strip():
        raise UsageError(option, "no seeds given", _SEEDS_FIX)
    ranges: List[Tuple[int, int]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(where, "an item is empty (two commas, or a comma at an end)", _SEEDS_FIX)
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if m is None:
            raise UsageError(where, f"{item!r} is not a seed or a range of seeds", _SEEDS_FIX)
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UsageError(where, f"the range {item} is reversed", f"write {hi}-{lo}")
        if hi > MAX_SEED:
            raise UsageError(where, f"seed {hi} is larger than a u64", f"give seeds from 0 to {MAX_SEED}")
        ranges.append((lo, hi))
    total = sum(hi - lo + 1 for lo, hi in ranges)
    if total > MAX_SEEDS:
        raise UsageError(where, f"{total:,} seeds is more than a sweep takes ({MAX_SEEDS:,})",
                         "sweep fewer seeds at a time")
    ranges.sort()
    for (lo1, hi1), (lo2, _) in zip(ranges, ranges[1:]):
        if lo2 <= hi1:
            raise UsageError(where, f"seed {lo2} is given twice", "give each seed once")
    return tuple(s for lo, hi in ranges for s in range(lo, hi + 1))


def format_seeds(seeds: Iterable[int]) -> str:
    """The shortest ``--seeds`` text for ``seeds``: ``0-9,20-29``."""
    out: List[str] = []
    run: List[int] = []
    for s in sorted(seeds):
        if run and s == run[-1] + 1:
            run.append(s)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
        run = [s]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
    return ",".join(out)


# ----------------------------------------------------------------------------------------------
# The grid
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One dimension of the grid: the workload key ``key`` (dotted path) set to each of
    ``values`` (YAML text) by ``overrides`` (one per value).  ``name`` is how labels write it
    (the seed change's name for ``--patch``, the key for ``--set``); ``patch`` is the seed
    change an axis of ``--patch`` switches."""

    key: str
    name: str
    values: Tuple[str, ...]
    overrides: Tuple[Override, ...]
    patch: Optional[str] = None


@dataclass(frozen=True)
class Variant:
    """One point of the grid but the seed: its position (``index``), the value of every axis,
    the overrides that make it, and its label (``rss-stat-symbolic=off machine.cpus=2``)."""

    index: int
    values: Tuple[str, ...]
    overrides: Tuple[Override, ...]
    label: str


@dataclass(frozen=True)
class Grid:
    """Seeds x variants; ``patches`` are the seed changes given with ``--patch`` (their
    metrics are reported and their events recorded)."""

    seeds: Tuple[int, ...]
    axes: Tuple[Axis, ...]
    variants: Tuple[Variant, ...]

    @property
    def patches(self) -> Tuple[str, ...]:
        return tuple(a.patch for a in self.axes if a.patch is not None)

    @property
    def runs(self) -> int:
        return len(self.seeds) * len(self.variants)


def _overlap(a: Tuple, b: Tuple) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def build_grid(seeds: Sequence[int], patch_opts: Sequence[str] = (), set_opts: Sequence[str] = ()) -> Grid:
    """The grid of ``--patch NAME=on,off`` and ``--set KEY=V1,V2`` options (each repeatable)
    over ``seeds``.  A key given twice (or inside another: ``machine.patches`` and
    ``--patch NAME``), a value given twice, or a grid of more than :data:`MAX_SEEDS` runs is a
    UsageError."""
    axes: List[Axis] = []
    paths: List[Tuple[Tuple, str]] = []

    def add(axis: Axis, path: Tuple, option: str) -> None:
        for other, other_option in paths:
            if _overlap(path, other):
                raise UsageError(option, f"{axis.key} is already set by {other_option}",
                                 "give each workload key once")
        if len(set(axis.values)) != len(axis.values):
            dup = next(v for v in axis.values if axis.values.count(v) > 1)
            raise UsageError(option, f"the value {dup} is given twice", "give each value once")
        paths.append((path, option))
        axes.append(axis)

    for opt in patch_opts:
        name, states = parse_patch(opt, many=True)
        ovs = tuple(patch_override(name, on) for on in states)
        add(Axis(ovs[0].key, name, tuple(o.text for o in ovs), ovs, patch=name),
            ovs[0].path, f"--patch {opt}")
    for opt in set_opts:
        path, values = parse_set(opt, many=True)
        key = ".".join(str(c) for c in path)
        ovs = tuple(Override(path, v, f"--set {key}={v}") for v in values)
        add(Axis(key, key, tuple(values), ovs), path, f"--set {opt}")

    shown = [i for i, a in enumerate(axes) if len(a.values) > 1] or list(range(len(axes)))
    variants = []
    for index, choice in enumerate(product(*(range(len(a.values)) for a in axes))):
        values = tuple(a.values[c] for a, c in zip(axes, choice))
        label = " ".join(f"{axes[i].name}={values[i]}" for i in shown) or "as written"
        variants.append(Variant(index, values, tuple(a.overrides[c] for a, c in zip(axes, choice)), label))
    runs = len(seeds) * len(variants)
    if runs > MAX_SEEDS:
        raise UsageError("--seeds", f"the grid has {runs:,} runs ({len(seeds):,} seeds x "
                         f"{len(variants)} variants), more than a sweep takes ({MAX_SEEDS:,})",
                         "sweep fewer seeds or values at a time")
    return Grid(tuple(seeds), tuple(axes), tuple(variants))


# ----------------------------------------------------------------------------------------------
# Running: one chunk of seeds of one variant
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricInfo:
    """A metric the sweep reports: its name, unit and description."""

    name: str
    unit: str
    doc: str


@dataclass(frozen=True)
class Chunk:
    """The runs of one variant under a block of seeds, and all a worker needs to make them
    (picklable: a worker gets the workload's text, not its path)."""

    source: WorkloadSource
    disabled: Tuple[str, ...]
    variant: int
    overrides: Tuple[Override, ...]
    seeds: Tuple[int, ...]
    patches: Tuple[str, ...] = ()
    events: Tuple[str, ...] = ()
    check: bool = False


@dataclass(frozen=True)
class RunResult:
    """One run: its variant (index), seed, status (:data:`STATUSES`), error text and metrics."""

    variant: int
    seed: int
    status: str
    error: Optional[str]
    metrics: Dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


#: one Host per set of disabled plugins, per process (a forked worker inherits the parent's)
_HOSTS: Dict[Tuple[str, ...], Host] = {}


def _host(disabled: Tuple[str, ...]) -> Host:
    host = _HOSTS.get(disabled)
    if host is None:
        host = _HOSTS[disabled] = Host(disabled)
    return host


def iter_chunk(chunk: Chunk) -> Iterator[RunResult]:
    """Run ``chunk``'s seeds one after the other, yielding each run's result as it ends.

    Each run is ``Host.prepare`` (cached), ``Run(..., seed=s).execute()`` and
    :func:`memsim.workload.outcome.outcome`.  A variant that cannot be loaded here (a plugin
    missing on a remote worker) makes every seed an ``error``; so does an exception that is not
    a memsim error (a bug: ``memsim run`` with the seed shows its traceback)."""
    from memsim.workload.runner import Run
    try:
        host = _host(chunk.disabled)
        prepared = host.prepare(chunk.source, chunk.overrides, events=chunk.events)
    except MemsimError as e:
        for seed in chunk.seeds:
            yield RunResult(chunk.variant, seed, "error", str(e))
        return
    for seed in chunk.seeds:
        try:
            run = Run(prepared.workload, prepared.registries, prepared.events, host.pm,
                      check=chunk.check, seed=seed).execute()
            o = outcome(run, chunk.patches)
        except Exception as e:       # noqa: BLE001 -- one seed's bug is not the whole sweep's
            yield RunResult(chunk.variant, seed, "error", f"memsim bug: {type(e).__name__}: {e}")
            continue
        error = o.error if o.status != "killed" else _killed(run)
        yield RunResult(chunk.variant, seed, o.status, error, o.metrics)


def _killed(run) -> str:
    """What killed the first task a signal killed: ``app (1000) killed by SIGSEGV (SEGV_MAPERR)
    at w.yaml:21:9`` (no address, so that runs killed at the same step read the same)."""
    for pid, data in run.task_data.items():
        if data.killed_by is None:
            continue
        fatal = [s for s in data.signals if not s["caught"]]
        where = f" at {fatal[-1]['step']}" if fatal else ""
        code = f" ({data.killed_by.code_name})" if data.killed_by.code_name else ""
        return f"{data.name} ({pid}) killed by {data.killed_by.name}{code}{where}"
    return "killed by a signal"


def run_chunk(chunk: Chunk) -> List[RunResult]:
    """Every run of ``chunk``: the task a process-pool or Dask worker executes."""
    return list(iter_chunk(chunk))


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C reaches the whole process group; the parent handles it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------------------------------------
# Running the grid
# ----------------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What a sweep produced: every finished run, sorted by (variant, seed); ``interrupted``
    when Ctrl-C stopped it before the end."""

    workload: str
    grid: Grid
    metrics: Tuple[MetricInfo, ...]
    results: List[RunResult]
    interrupted: bool = False
    wall_s: float = 0.0
    where: str = ""
    disabled: Tuple[str, ...] = ()
    check: bool = False

    @property
    def done(self) -> int:
        return len(self.results)


Progress = Callable[[int, int], None]


def require_dask():
    """``distributed``, or a UsageError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler", "running on a Dask cluster needs dask.distributed, which "
                         "is not installed", "pip install 'memsim[dask]'") from None
    return distributed


def _chunks(grid: Grid, source: WorkloadSource, disabled: Tuple[str, ...], events: Tuple[str, ...],
            check: bool, size: int) -> List[Chunk]:
    """The grid cut into chunks of at most ``size`` seeds, seed block by seed block (every
    variant of a block before the next block), so that a sweep stopped half-way has compared
    the variants on the same seeds."""
    out = []
    for start in range(0, len(grid.seeds), size):
        block = grid.seeds[start:start + size]
        for v in grid.variants:
            out.append(Chunk(source, disabled, v.index, v.overrides, block, grid.patches, events, check))
    return out


def _chunk_size(grid: Grid, workers: int) -> int:
    """Seeds per chunk: at least eight chunks per worker (so that they end together), at most
    :data:`MAX_CHUNK` runs a chunk (so that Ctrl-C does not wait long, nor lose much)."""
    size = math.ceil(grid.runs / (max(1, workers) * 8))
    return max(1, min(MAX_CHUNK, len(grid.seeds), size))


def _error_rows(chunk: Chunk, why: str) -> List[RunResult]:
    return [RunResult(chunk.variant, s, "error", why) for s in chunk.seeds]


def _mp_context():
    """fork while this process has one thread (the workers inherit the loaded plugins and
    prepared variants); spawn otherwise, as forking a threaded process is unsafe.  Not
    forkserver: before Python 3.13 the fork server imports its preloaded modules with its own
    sys.path (the current directory first), not this process's, so from a source checkout it
    would load the uncompiled memsim of the checkout instead of the installed one."""
    import multiprocessing
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class _Interrupt:
    """SIGINT ignored while a stopped sweep cleans up (a second Ctrl-C would lose the rows)."""

    def __enter__(self):
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


class _SigintLatch:
    """Ctrl-C as KeyboardInterrupt, and remembered: an interrupt raised while Python runs a
    weakref callback or a finalizer (the garbage collector runs them between any two
    instructions) is printed as "Exception ignored" and lost, and the sweep would go on to its
    last seed.  The latch makes the next boundary between runs stop it all the same."""

    def __init__(self):
        self.hit = False
        self.old = None
        self.old_hook = None

    def _handler(self, signum, frame):
        self.hit = True
        raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        # the lost interrupt: the latch has it, so no "Exception ignored ... Traceback" for it
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            self.old_hook(unraisable)

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.old = signal.signal(signal.SIGINT, self._handler)
            self.old_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            sys.unraisablehook = self.old_hook
        return False


def _run_inline(chunks: List[Chunk], take: Callable[[List[RunResult]], None]) -> bool:
    with _SigintLatch() as latch:
        try:
            for c in chunks:
                for r in iter_chunk(c):
                    take([r])
                    if latch.hit:
                        return True
        except KeyboardInterrupt:
            return True
    return False


def _terminate(pool) -> None:
    stop = getattr(pool, "terminate_workers", None)           # Python 3.14
    if stop is not None:
        stop()
        return
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        if p.is_alive():
            p.terminate()


def _run_pool(chunks: List[Chunk], jobs: int, take: Callable[[List[RunResult]], None],
              started: Callable[[], None]) -> bool:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_mp_context(), initializer=_ignore_sigint)
    futures = {}
    seen = set()

    def harvest(fut) -> None:
        seen.add(fut)
        chunk = futures[fut]
        try:
            take(fut.result())
        except Exception as e:    # noqa: BLE001 -- a worker that died: its seeds are errors
            take(_error_rows(chunk, f"the worker process failed ({type(e).__name__}: {e})"))

    try:
        for c in chunks:
            futures[pool.submit(run_chunk, c)] = c
        started()                 # the processes exist (a fork pool makes them at the first submit)
        for fut in as_completed(futures):
            harvest(fut)
    except KeyboardInterrupt:
        with _Interrupt():
            for fut in futures:
                fut.cancel()
            for fut in futures:       # finished while we were told to stop: keep them
                if fut not in seen and fut.done() and not fut.cancelled() and fut.exception() is None:
                    harvest(fut)
            _terminate(pool)
            pool.shutdown(wait=True, cancel_futures=True)
        return True
    pool.shutdown(wait=True)
    return False


def _dask_client(address: str):
    distributed = require_dask()
    from distributed.comm.addressing import get_address_host_port, normalize_address, parse_address
    try:                                  # before Client(): a Client that failed on its address
        normalize_address(address)        # complains again when it is collected
        if parse_address(address)[0] != "inproc":
            get_address_host_port(address)
    except ValueError as e:
        raise UsageError(f"--scheduler {address}", f"not a Dask scheduler address ({e})",
                         "give the address 'dask scheduler' prints, e.g. tcp://10.0.0.5:8786") from None
    try:
        client = distributed.Client(address, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--scheduler {address}", f"cannot reach a Dask scheduler there ({why})",
                         "start one ('dask scheduler', then 'dask worker ADDRESS' on each machine) "
                         "and give its address, e.g. tcp://10.0.0.5:8786") from None
    try:
        client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError):
        client.close()
        raise UsageError(f"--scheduler {address}", f"the scheduler has no workers (none came in "
                         f"{SCHEDULER_TIMEOUT_S:g} s)", f"start some: dask worker {address}") from None
    return client


def _dask_workers(client) -> int:
    try:
        info = client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
    except Exception:             # noqa: BLE001 -- only a hint for the chunk size
        return 1


def _run_dask(client, chunks: List[Chunk], take: Callable[[List[RunResult]], None],
              started: Callable[[], None]) -> bool:
    distributed = require_dask()
    futures = {}
    seen = set()

    def harvest(fut) -> None:
        seen.add(fut)
        chunk = futures[fut]
        try:
            take(fut.result())
        except Exception as e:    # noqa: BLE001 -- a worker that died or lacks memsim
            take(_error_rows(chunk, f"the Dask task failed ({type(e).__name__}: {e})"))

    try:
        for c in chunks:
            futures[client.submit(run_chunk, c, pure=False)] = c
        started()
        for fut in distributed.as_completed(list(futures), loop=client.loop):
            harvest(fut)
    except KeyboardInterrupt:
        with _Interrupt():
            pending = [f for f in futures if f not in seen and not f.done()]
            for fut in futures:
                if fut not in seen and fut.done() and fut.status == "finished":
                    harvest(fut)
            try:
                client.cancel(pending)
            except Exception:     # noqa: BLE001 -- the client is being closed anyway
                pass
        return True
    return False


def _metrics(host: Host, patches: Tuple[str, ...]) -> Tuple[MetricInfo, ...]:
    from memsim.profiles import DEFAULT_PROFILE
    registries, _ = host.registries(DEFAULT_PROFILE)
    out = [MetricInfo(m.name, m.unit, m.doc) for m in CORE_METRICS]
    out += [MetricInfo(m.name, m.unit, m.doc) for m in registries.patches.metrics(patches)]
    return tuple(out)


def _events(host: Host, patches: Tuple[str, ...]) -> Tuple[str, ...]:
    from memsim.profiles import DEFAULT_PROFILE
    registries, _ = host.registries(DEFAULT_PROFILE)
    out: List[str] = []
    for name in patches:
        impl = registries.patches.get(name)
        for e in (impl.events if impl is not None else ()):
            if e not in out:
                out.append(e)
    return tuple(out)


def sweep(source: WorkloadSource, grid: Grid, *, disabled: Sequence[str] = (), check: bool = False,
          jobs: Optional[int] = None, scheduler: Optional[str] = None,
          on_progress: Optional[Progress] = None, on_start: Optional[Callable[[str], None]] = None,
          host: Optional[Host] = None) -> SweepResult:
    """Run every seed of every variant of ``grid``.

    Every variant is loaded here first, so a bad ``--set`` value or a seed change whose plugin
    is missing is a MemsimError before anything runs.  ``jobs`` (default: the CPU count)
    processes run the chunks (``1``: this process); ``scheduler`` sends them to that Dask
    scheduler instead.  ``on_start(where)`` is called once the work is handed out (after the
    pool's processes exist), ``on_progress(done, total)`` after every finished chunk.  Ctrl-C
    stops the sweep and returns what finished, with ``interrupted`` set."""
    disabled = tuple(disabled)
    if scheduler is not None:
        require_dask()
    elif jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}", "the number of processes must be at least 1",
                         "give --jobs 1 to run in this process")
    if host is None:
        host = _host(disabled)
    else:
        _HOSTS.setdefault(disabled, host)
    host.check_patches(grid.patches)
    events = _events(host, grid.patches)
    for v in grid.variants:                    # errors now, not in a worker
        host.prepare(source, v.overrides, events=events)
    metrics = _metrics(host, grid.patches)
    total = grid.runs
    results: List[RunResult] = []

    def take(batch: List[RunResult]) -> None:
        results.extend(batch)
        if on_progress is not None:
            on_progress(len(results), total)

    where = [""]

    def started(text: str) -> None:
        where[0] = text
        if on_start is not None:
            on_start(text)

    t0 = time.perf_counter()
    if scheduler is not None:
        client = _dask_client(scheduler)
        try:
            workers = _dask_workers(client)
            chunks = _chunks(grid, source, disabled, events, check, _chunk_size(grid, workers))
            label = f"Dask scheduler {scheduler} ({workers} worker thread{'s' if workers != 1 else ''})"
            interrupted = _run_dask(client, chunks, take, lambda: started(label))
        finally:
            with _Interrupt():
                client.close()
    else:
        jobs = jobs if jobs is not None else (os.cpu_count() or 1)
        chunks = _chunks(grid, source, disabled, events, check, _chunk_size(grid, jobs))
        jobs = min(jobs, len(chunks))
        if jobs == 1:
            started("1 process")
            interrupted = _run_inline(chunks, take)
        else:
            interrupted = _run_pool(chunks, jobs, take, lambda: started(f"{jobs} processes"))
    results.sort(key=lambda r: (r.variant, r.seed))
    return SweepResult(source.filename, grid, metrics, results, interrupted,
                       time.perf_counter() - t0, where[0], disabled, check)


# ----------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricStats:
    """The spread of one metric over a variant's runs: min, median, mean, max."""

    name: str
    unit: str
    count: int
    min: Any
    median: Any
    mean: float
    max: Any

    def as_dict(self) -> Dict[str, Any]:
        return {"unit": self.unit, "runs": self.count, "min": self.min, "median": self.median,
                "mean": self.mean, "max": self.max}


@dataclass(frozen=True)
class Failures:
    """The runs of one variant that ended with ``status`` (not ``passed``): their seeds, and
    each distinct error with the seeds that hit it."""

    status: str
    seeds: Tuple[int, ...]
    errors: Tuple[Tuple[str, Tuple[int, ...]], ...]


@dataclass(frozen=True)
class VariantReport:
    variant: Variant
    runs: int
    counts: Dict[str, int]
    metrics: Tuple[MetricStats, ...]
    failures: Tuple[Failures, ...]


def _stats(info: MetricInfo, values: List[Any]) -> MetricStats:
    if not values:
        return MetricStats(info.name, info.unit, 0, None, None, None, None)
    return MetricStats(info.name, info.unit, len(values), min(values), statistics.median(values),
                       math.fsum(values) / len(values), max(values))


def _variant_report(variant: Variant, runs: List[RunResult], metrics: Tuple[MetricInfo, ...]) -> VariantReport:
    counts = {s: 0 for s in STATUSES}
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    stats = tuple(_stats(m, [r.metrics[m.name] for r in runs if r.metrics.get(m.name) is not None])
                  for m in metrics)
    failures = []
    for status in STATUSES[1:]:
        bad = [r for r in runs if r.status == status]
        if not bad:
            continue
        errors: Dict[str, List[int]] = {}
        for r in bad:
            errors.setdefault(r.error or "", []).append(r.seed)
        failures.append(Failures(status, tuple(r.seed for r in bad),
                                 tuple((e, tuple(s)) for e, s in errors.items())))
    return VariantReport(variant, len(runs), counts, stats, tuple(failures))


def exit_code(result: SweepResult) -> int:
    """130 if interrupted; 1 if a run failed an expect, deadlocked or stopped on an error (as
    pytest exits 1 on a failed test); 0 otherwise (every run passed or was killed by a signal
    the workload did not catch: that is a result, not a failure)."""
    if result.interrupted:
        return 130
    return 1 if any(r.status in ("failed", "deadlocked", "error") for r in result.results) else 0


def rerun_command(workload: str, variant: Variant, seed: int, disabled: Sequence[str] = (),
                  check: bool = False) -> str:
    """The ``memsim run`` command that makes one run of the sweep alone."""
    words = ["memsim", "run", workload, "--seed", str(seed)]
    for ov in variant.overrides:
        opt, _, value = ov.option.partition(" ")
        words += [opt, value]
    for name in disabled:
        words += ["-p", f"no:{name}"]
    if check:
        words.append("--check")
    return " ".join(shlex.quote(w) for w in words)


@dataclass(frozen=True)
class SweepReport:
    """The aggregate of a sweep, per variant; :meth:`as_dict` is what ``--json`` prints."""

    result: SweepResult
    variants: Tuple[VariantReport, ...]

    @classmethod
    def build(cls, result: SweepResult) -> "SweepReport":
        by_variant: Dict[int, List[RunResult]] = {v.index: [] for v in result.grid.variants}
        for r in result.results:
            by_variant[r.variant].append(r)
        return cls(result, tuple(_variant_report(v, by_variant[v.index], result.metrics)
                                 for v in result.grid.variants))

    def rerun(self, vr: VariantReport, seed: int) -> str:
        res = self.result
        return rerun_command(res.workload, vr.variant, seed, res.disabled, res.check)

    def as_dict(self) -> Dict[str, Any]:
        res, grid = self.result, self.result.grid
        return {
            "workload": res.workload,
            "seeds": format_seeds(grid.seeds),
            "runs": {"done": res.done, "total": grid.runs},
            "interrupted": res.interrupted,
            "exit_code": exit_code(res),
            "axes": [{"key": a.key, "option": "--patch" if a.patch else "--set", "name": a.name,
                      "values": list(a.values)} for a in grid.axes],
            "metrics": [{"name": m.name, "unit": m.unit, "doc": m.doc} for m in res.metrics],
            "variants": [{
                "label": vr.variant.label,
                "overrides": {a.key: v for a, v in zip(grid.axes, vr.variant.values)},
                "runs": vr.runs,
                **vr.counts,
                "metrics": {m.name: m.as_dict() for m in vr.metrics},
                "failures": {f.status: {
                    "count": len(f.seeds), "seeds": list(f.seeds),
                    "errors": [{"error": e or None, "count": len(s), "seeds": list(s)} for e, s in f.errors],
                    "rerun": self.rerun(vr, f.seeds[0])} for f in vr.failures},
            } for vr in self.variants],
        }


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:,.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _columns(rows: List[Tuple[str, ...]], right: Sequence[bool]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join((c.rjust(w) if right[i] else c.ljust(w)) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def format_report(report: SweepReport) -> str:
    """The text ``memsim sweep`` prints: the counts per variant, each metric's min / median /
    mean / max per variant, and the seeds of the runs that did not pass with the command that
    re-runs one.  Deterministic for a grid (no host time), whatever ran it."""
    res, grid = report.result, report.result.grid
    nv = len(grid.variants)
    head = (f"sweep {res.workload}: {len(grid.seeds):,} seed{'s' if len(grid.seeds) != 1 else ''} "
            f"({format_seeds(grid.seeds)}) x {nv} variant{'s' if nv != 1 else ''} = {grid.runs:,} runs")
    lines = [head]
    if res.interrupted:
        lines.append(f"INTERRUPTED: {res.done:,} of {grid.runs:,} runs done; the figures below "
                     "cover those only")
    lines.append("")
    rows = [("variant", "runs") + STATUSES]
    for vr in report.variants:
        rows.append((vr.variant.label, _num(vr.runs)) + tuple(_num(vr.counts[s]) for s in STATUSES))
    lines += _columns(rows, [False] + [True] * (len(STATUSES) + 1))
    lines += ["", "metric (unit) per variant: min / median / mean / max over its runs", ""]
    rows = [("metric", "variant", "min", "median", "mean", "max")]
    for i, m in enumerate(res.metrics):
        for vr in report.variants:
            st = vr.metrics[i]
            name = f"{m.name} ({m.unit})" if m.unit else m.name
            rows.append((name if vr is report.variants[0] else "", vr.variant.label,
                         _num(st.min), _num(st.median), _num(st.mean), _num(st.max)))
    lines += _columns(rows, [False, False, True, True, True, True])
    failing = [vr for vr in report.variants if vr.failures]
    if failing:
        lines += ["", "runs that did not pass"]
        for vr in failing:
            for f in vr.failures:
                seeds = ", ".join(map(str, f.seeds[:SHOWN_SEEDS]))
                more = f" ... and {len(f.seeds) - SHOWN_SEEDS:,} more" if len(f.seeds) > SHOWN_SEEDS else ""
                lines.append(f"  {vr.variant.label}: {f.status} {len(f.seeds):,}: seeds {seeds}{more}")
                for err, seeds_of in f.errors[:SHOWN_ERRORS]:
                    if err:
                        lines.append(f"    {len(seeds_of):,} x {err}")
                if len(f.errors) > SHOWN_ERRORS:
                    lines.append(f"    ... and {len(f.errors) - SHOWN_ERRORS} other errors (--json lists them)")
                lines.append(f"    re-run one: {report.rerun(vr, f.seeds[0])}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# One row per run: --out FILE.csv | .jsonl | .ndjson | .parquet
# ----------------------------------------------------------------------------------------------

#: --out file formats, by extension
OUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def out_format(path: str) -> str:
    """The format of ``--out path`` from its extension, or a UsageError."""
    ext = os.path.splitext(path)[1].lower()
    fmt = OUT_FORMATS.get(ext)
    if fmt is None:
        raise UsageError(f"--out {path}", f"{ext or 'no extension'} is not a format memsim writes",
                         "name the file .csv, .jsonl (or .ndjson) or .parquet")
    return fmt


def check_out(path: str) -> str:
    """Everything that can be checked about ``--out path`` before the sweep runs: its format,
    its directory, and for Parquet that pyarrow is installed.  Returns the format."""
    fmt = out_format(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"--out {path}", f"directory {parent} does not exist", "create it first")
    if os.path.isdir(path):
        raise UsageError(f"--out {path}", "is a directory", "give a file name")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise UsageError(f"--out {path}", "writing Parquet needs pyarrow, which is not installed",
                             "pip install 'memsim[parquet]', or write .csv or .jsonl") from None
    return fmt


def _typed(values: List[str]) -> List[Any]:
    """An override column's values as numbers when every one is a YAML number, else as text."""
    import yaml
    parsed = []
    for v in values:
        try:
            x = yaml.safe_load(v)
        except yaml.YAMLError:
            return list(values)
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return list(values)
        parsed.append(x)
    if any(isinstance(x, float) for x in parsed):
        parsed = [float(x) for x in parsed]
    return parsed


def rows(result: SweepResult) -> Tuple[List[str], List[Dict[str, Any]]]:
    """(columns, one dict per run): variant, each axis's key, seed, status, error, then every
    metric.  An axis whose values are all numbers gives numbers."""
    grid = result.grid
    typed = [dict(zip(a.values, _typed(list(a.values)))) for a in grid.axes]
    columns = ["variant"] + [a.key for a in grid.axes] + ["seed", "status", "error"] + [m.name for m in result.metrics]
    out = []
    for r in result.results:
        v = grid.variants[r.variant]
        row: Dict[str, Any] = {"variant": v.label}
        for a, t, value in zip(grid.axes, typed, v.values):
            row[a.key] = t[value]
        row.update(seed=r.seed, status=r.status, error=r.error)
        for m in result.metrics:
            row[m.name] = r.metrics.get(m.name)
        out.append(row)
    return columns, out


def write_rows(path: str, result: SweepResult) -> None:
    """Write one row per run to ``path`` (format by extension), atomically."""
    from memsim.fileio import atomic_write
    fmt = out_format(path)
    columns, data = rows(result)
    try:
        if fmt == "csv":
            with atomic_write(path) as f:
                w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
                w.writeheader()
                for row in data:
                    w.writerow({k: ("" if v is None else v) for k, v in row.items()})
        elif fmt == "jsonl":
            with atomic_write(path) as f:
                for row in data:
                    f.write(json.dumps(row) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq
            table = pa.Table.from_pydict({c: [row[c] for row in data] for c in columns},
                                         schema=_arrow_schema(pa, columns, data, result))
            with atomic_write(path, binary=True) as f:
                pq.write_table(table, f)
    except OSError as e:
        raise UsageError(f"--out {path}", f"cannot write the file: {e.strerror or e}",
                         "check the path, its permissions and free space") from None


def _arrow_schema(pa, columns: List[str], data: List[Dict[str, Any]], result: SweepResult):
    """Column types that do not depend on which rows there are (an empty or all-passed sweep
    still has a string ``error`` column)."""
    fields = []
    for c in columns:
        values = [row[c] for row in data if row[c] is not None]
        if c in ("variant", "status", "error"):
            t = pa.string()
        elif c == "seed":
            t = pa.uint64()
        elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            t = pa.int64()
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            t = pa.float64()
        elif values:
            t = pa.string()
        else:
            t = pa.int64() if c in {m.name for m in result.metrics} else pa.string()
        fields.append(pa.field(c, t))
    return pa.schema(fields)
