"""``memsim kdiff``: a C program on the live kernel against its memsim workload under v6.18,
event for event (issue 11, the differential test suite).

One comparison is four steps, each a function here so that tests can run any of them alone:

1. :func:`compile_program` builds the C program with ``cc`` (from PATH) and the marker header
   :data:`MARKER_HEADER` (``#include "memsim_kdiff.h"``: ``kdiff_begin()``, ``kdiff_end()``).
2. :func:`run_live` runs it under a throw-away tracefs instance
   (``instances/memsim-kdiff-<pid>-<n>``, removed in a ``finally`` even on Ctrl-C), with
   ``personality(ADDR_NO_RANDOMIZE)`` so that its fixed-address mappings and its stack land where
   the workload puts them, and decodes the instance's ring-buffer pages with memsim.tracing's
   reader (:meth:`DatReader.from_subbuffers <memsim.tracing.tracedat.DatReader.from_subbuffers>`;
   or its ``trace`` text with :class:`memsim.tracing.textparse.TextReader`, to save it).
   :func:`run_memsim` runs the workload under the v6.18 profile with the same events.
3. :func:`attribute` keeps, of each trace, what belongs to the program and masks what cannot
   match (see below); it gives a :class:`Side`.
4. :func:`compare` checks the two sides (:data:`CHECKS`, one :class:`Check` each) and
   :func:`render` prints the summary and the first differing events side by side.

Attribution (``attribute``).  Events are the program's when its tasks emit them inside their
*measured part*: on the kernel from the main task's ``memsim-kdiff: begin`` marker (a
``trace_marker`` write, ftrace ``print``) to each task's own ``memsim-kdiff: end`` marker, the
tasks being the program and the children ``sched:sched_process_fork`` shows it forking; in
memsim from the first step of the workload to the point where each task's steps end (its
``exit`` step, or the implicit exit after its last step: :attr:`Run.step_observer
<memsim.workload.runner.Run.step_observer>`).  Pid alone is not enough: page tables freed
through RCU and pages a later per-CPU LRU batch drain releases are freed in softirq or by other
tasks, so a free is the program's when its pfn is one the program allocated (wherever and
whenever it is freed, until someone else allocates the pfn), and an ``rss_stat`` is the
program's when its ``mm_id`` is one of the program's mms.

Masking.  Absolute pfns become first-seen ordinals (``p0``, ``p1``, ...), mm_ids ``mm0``,
``mm1``; hashed ``page=`` pointers and timestamps are dropped; ``rss_stat`` sizes become deltas
(the kernel's first size includes the program image, ld.so and libc); the process image itself
-- pages allocated before the begin marker, freed by the program or at its exit -- is left
out (counted in :attr:`Side.masked`), and so are slab pages (the live kernel's caches are warm,
memsim's machine is fresh).  Pages the program's munmap did not free (held by an lru_add batch)
are compared as a residue, not as a fixed count.
"""
from __future__ import annotations

import collections
import ctypes
import io
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from memsim.errors import UsageError
from memsim.tracing.gfp import show_gfp_flags

__all__ = [
    "MARK_BEGIN", "MARK_END", "MARKER_ENV", "MARKER_HEADER", "PROGRAM_COMM", "DEFAULT_EVENTS",
    "HostSetting", "host_settings", "refuse", "find_tracefs", "check_root", "compile_program",
    "LiveRun", "run_live", "parse_live", "save_live", "load_live", "MemsimRun", "run_memsim",
    "Ev", "Side", "attribute", "kernel_side", "memsim_side", "Check", "CHECKS", "compare",
    "Comparison", "first_difference", "side_by_side", "render", "kdiff",
]

#: what the program writes to the instance's trace_marker before and after its measured part
MARK_BEGIN = "memsim-kdiff: begin"
MARK_END = "memsim-kdiff: end"
#: the environment variable that tells the program where the instance's trace_marker is
MARKER_ENV = "MEMSIM_KDIFF_MARKER"
#: the compiled program's name, so its comm (and its children's) in the trace
PROGRAM_COMM = "memsim-kdiff"
#: the events both sides record by default
DEFAULT_EVENTS = ("kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:mm_page_free_batched",
                  "kmem:rss_stat")
#: the kernel side also records forks, to know the program's children (never compared)
FORK_EVENT = "sched:sched_process_fork"
#: ... and context switches, to know whether other tasks shared the program's CPU
SWITCH_EVENT = "sched:sched_switch"
#: v6.18's per-CPU lru_add batch (PAGEVEC_SIZE, folio_batch): the most pages one CPU's batch
#: can hold back from a munmap
LRU_BATCH = 31
#: personality(2) flag: no address-space randomisation (include/uapi/linux/personality.h)
ADDR_NO_RANDOMIZE = 0x0040000

#: ``memsim_kdiff.h``, written next to the program when it is compiled
MARKER_HEADER = r"""/* memsim kdiff markers: written by memsim.kdiff, see docs/kdiff.md. */
#ifndef MEMSIM_KDIFF_H
#define MEMSIM_KDIFF_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The instance's trace_marker, opened once (before the first marker is written, so that the
   open's own allocations fall outside the measured part); -1 when not run by memsim kdiff. */
static int kdiff_marker_fd(void)
{
	static int fd = -2;
	if (fd == -2) {
		const char *path = getenv("MEMSIM_KDIFF_MARKER");
		fd = path ? open(path, O_WRONLY | O_CLOEXEC) : -1;
	}
	return fd;
}

static void kdiff_mark(const char *text)
{
	int fd = kdiff_marker_fd();
	if (fd >= 0 && write(fd, text, strlen(text)) < 0)
		_exit(125);
}

/* Start from a known state, as memsim's fresh machine does: stay on this CPU (so one per-CPU
   lru_add batch holds the program's new pages, as in a workload task) and drain that CPU's
   batches (posix_fadvise(POSIX_FADV_DONTNEED) calls lru_add_drain() before it invalidates). */
static void kdiff_quiesce(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Call kdiff_begin() in the main process before the measured part, and kdiff_end() in every
   process (the children of fork too) after it has unmapped what it mapped, right before exit. */
#define kdiff_begin() (kdiff_marker_fd(), kdiff_quiesce(), kdiff_mark("memsim-kdiff: begin"))
#define kdiff_end() kdiff_mark("memsim-kdiff: end")
#endif
"""


# -- the host ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostSetting:
    """A setting of the live kernel that bears on the comparison: ``verdict`` is ``ok``,
    ``warn`` (noted in the summary) or ``refuse`` (the comparison would be meaningless: kdiff
    stops unless forced)."""

    name: str
    value: str
    verdict: str
    why: str = ""


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _bracketed(text: Optional[str]) -> Optional[str]:
    """``always [madvise] never`` -> ``madvise``."""
    if text is None:
        return None
    m = re.search(r"\[(\w[\w+]*)\]", text)
    return m.group(1) if m else text


def host_settings(root: str = "/", workload_cpus: Optional[int] = None) -> List[HostSetting]:
    """The live kernel's settings kdiff looks at, read under ``root`` (``/`` normally; tests
    give a directory laid out the same way)."""
    p = lambda rel: os.path.join(root, rel)          # noqa: E731
    out: List[HostSetting] = []
    thp = _bracketed(_read(p("sys/kernel/mm/transparent_hugepage/enabled")))
    if thp == "always":
        out.append(HostSetting("transparent_hugepage", thp, "refuse",
                               "an anonymous fault in a 2 MiB-aligned range gets a huge page on the "
                               "kernel and memsim has no THP; echo madvise > "
                               "/sys/kernel/mm/transparent_hugepage/enabled"))
    elif thp is not None:
        out.append(HostSetting("transparent_hugepage", thp, "ok",
                               "the programs do not madvise(MADV_HUGEPAGE)" if thp == "madvise" else ""))
    release = os.uname().release if root == "/" else (_read(p("proc/sys/kernel/osrelease")) or "")
    m = re.match(r"(\d+)\.(\d+)", release)
    if m and (int(m.group(1)), int(m.group(2))) != (6, 18):
        out.append(HostSetting("kernel", release, "warn",
                               "memsim's v6.18 profile models 6.18; other kernels differ by design"))
    else:
        out.append(HostSetting("kernel", release, "ok"))
    ksm = _read(p("sys/kernel/mm/ksm/run"))
    if ksm not in (None, "0"):
        out.append(HostSetting("ksm", ksm, "warn", "ksmd may merge the program's pages"))
    numa = _read(p("proc/sys/kernel/numa_balancing"))
    if numa not in (None, "0"):
        out.append(HostSetting("numa_balancing", numa, "warn",
                               "NUMA hinting faults change PTEs behind the program's back"))
    lru_gen = _read(p("sys/kernel/mm/lru_gen/enabled"))
    if lru_gen not in (None, "0x0000"):
        out.append(HostSetting("lru_gen", lru_gen, "warn",
                               "the multi-gen LRU is on; memsim models the two-list LRU"))
    if workload_cpus is not None:
        ncpus = os.cpu_count() or 1
        verdict = "ok" if ncpus == workload_cpus else "warn"
        out.append(HostSetting("cpus", f"{ncpus} (workload: {workload_cpus})", verdict,
                               "" if verdict == "ok" else
                               "per-CPU batches (pcp lists, lru_add) are per CPU on both sides"))
    return out


#: where tracefs is looked for, in order
TRACEFS_PATHS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def find_tracefs() -> str:
    """The tracefs mount (``/sys/kernel/tracing``, else the debugfs one), or a UsageError."""
    for path in TRACEFS_PATHS:
        if os.path.isdir(os.path.join(path, "instances")):
            return path
    raise UsageError("tracefs", "not mounted at /sys/kernel/tracing",
                     "mount -t tracefs nodev /sys/kernel/tracing (kdiff needs root)")


def check_root() -> None:
    if os.geteuid() != 0:
        raise UsageError("kdiff", "tracing the live kernel needs root",
                         "run memsim kdiff as root (sudo)")


# -- compiling and running the program --------------------------------------------------------

def compile_program(source: str, out_dir: str, defines: Sequence[str] = (),
                    cc: Optional[str] = None) -> str:
    """Compile the C program ``source`` into ``out_dir/memsim-kdiff`` with ``memsim_kdiff.h``
    on the include path and ``-D`` ``defines``; returns the binary's path.

    :raises UsageError: no C compiler on PATH, or the program does not compile.
    """
    if not os.path.isfile(source):
        raise UsageError(source, "no such file", "give the path of a C program")
    compiler = cc or os.environ.get("CC") or "cc"
    path = shutil.which(compiler)
    if path is None:
        raise UsageError("cc", f"no C compiler {compiler!r} on PATH",
                         "install one (apt-get install gcc) or set CC")
    with open(os.path.join(out_dir, "memsim_kdiff.h"), "w") as f:
        f.write(MARKER_HEADER)
    binary = os.path.join(out_dir, PROGRAM_COMM)
    cmd = [path, "-O1", "-o", binary, "-I", out_dir] + [f"-D{d}" for d in defines] + [source]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        first = next((ln for ln in lines if ": error:" in ln or ": fatal error:" in ln),
                     lines[0] if lines else f"{compiler} exited with status {proc.returncode}")
        raise UsageError(source, f"does not compile: {first.strip()}",
                         "fix the program (that is the compiler's first error)")
    return binary


def _no_randomize() -> None:
    """preexec_fn: personality(ADDR_NO_RANDOMIZE), inherited by the exec that follows."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.personality(ADDR_NO_RANDOMIZE)


_instance_seq = itertools.count()
#: the instances kdiff creates are named INSTANCE_PREFIX<pid>-<n>
INSTANCE_PREFIX = "memsim-kdiff-"


def remove_stale_instances(tracefs: str) -> List[str]:
    """Remove the instances an earlier kdiff left behind when it was killed (SIGKILL gives no
    ``finally``): those named ``memsim-kdiff-<pid>-<n>`` whose process is gone.  Returns their
    names.  No other instance is touched."""
    gone = []
    root = os.path.join(tracefs, "instances")
    try:
        names = os.listdir(root)
    except OSError:
        return gone
    for name in names:
        m = re.fullmatch(re.escape(INSTANCE_PREFIX) + r"(\d+)-\d+", name)
        if m is None or os.path.exists(f"/proc/{m.group(1)}"):
            continue
        try:
            os.rmdir(os.path.join(root, name))
            gone.append(name)
        except OSError:
            pass
    return gone


class _Terminated(KeyboardInterrupt):
    """SIGTERM while the program runs: unwinds like Ctrl-C, so the instance is removed."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _write(path: str, text: str, append: bool = False) -> None:
    """Write ``text`` to a tracefs file; ``append`` opens it without O_TRUNC (which would
    clear set_event) and without O_APPEND (tracefs files do not seek)."""
    fd = os.open(path, os.O_WRONLY | (0 if append else os.O_TRUNC))
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


@dataclass
class LiveRun:
    """What :func:`run_live` gives: the parsed records, the program's pid and exit status, the
    events the instance lost, the instance's name (removed by then) and its trace's text."""

    records: List[Any]
    pid: int
    returncode: int
    lost: int
    instance: str
    stdout: str = ""
    stderr: str = ""
    data: bytes = b""


def run_live(binary: str, events: Sequence[str] = DEFAULT_EVENTS, *, tracefs: Optional[str] = None,
             buffer_kb: int = 8192, args: Sequence[str] = (), timeout: float = 120.0,
             settle: float = 0.25, text: bool = False) -> LiveRun:
    """Run ``binary`` on the live kernel with ``events`` (and :data:`FORK_EVENT`) enabled in a
    throw-away tracefs instance of ``buffer_kb`` per CPU, wait ``settle`` seconds (page tables
    freed through RCU come a grace period later) and decode the instance's ring-buffer pages
    (``per_cpu/cpuN/trace_pipe_raw``, with the kernel's own format files) -- or, with
    ``text``, parse its ``trace`` file (kept in :attr:`LiveRun.data`, for :func:`save_live`).
    The instance is removed whatever happens (an error, a timeout, Ctrl-C)."""
    tracefs = tracefs or find_tracefs()
    remove_stale_instances(tracefs)
    name = f"{INSTANCE_PREFIX}{os.getpid()}-{next(_instance_seq)}"
    inst = os.path.join(tracefs, "instances", name)
    try:
        os.mkdir(inst)
    except OSError as e:
        raise UsageError(inst, f"cannot create the tracefs instance ({e.strerror})",
                         "run memsim kdiff as root on a kernel with tracefs") from None
    old_sigterm = None
    try:
        _write(os.path.join(inst, "tracing_on"), "0")
        _write(os.path.join(inst, "buffer_size_kb"), str(int(buffer_kb)))
        _write(os.path.join(inst, "set_event"), "")
        for ev in list(events) + [FORK_EVENT, SWITCH_EVENT]:
            try:
                _write(os.path.join(inst, "set_event"), ev, append=True)
            except OSError:
                raise UsageError("--events", f"the kernel has no event {ev!r}",
                                 f"see {tracefs}/available_events") from None
        _write(os.path.join(inst, "trace"), "")
        env = dict(os.environ, **{MARKER_ENV: os.path.join(inst, "trace_marker")})
        _write(os.path.join(inst, "tracing_on"), "1")
        if threading.current_thread() is threading.main_thread():
            old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        proc = subprocess.Popen([binary, *args], env=env, preexec_fn=_no_randomize,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        time.sleep(settle)
        _write(os.path.join(inst, "tracing_on"), "0")
        lost = 0
        for cpu in _cpus(inst):
            stats = _read(os.path.join(inst, "per_cpu", cpu, "stats")) or ""
            m = re.search(r"^overrun: (\d+)", stats, re.M)
            lost += int(m.group(1)) if m else 0
        if text:
            with open(os.path.join(inst, "trace"), "rb") as f:
                data = f.read()
        else:
            formats = _formats(tracefs, list(events) + [FORK_EVENT, SWITCH_EVENT, "ftrace:print"])
            pages = [_read_raw(os.path.join(inst, "per_cpu", cpu, "trace_pipe_raw"))
                     for cpu in _cpus(inst)]
    finally:
        if old_sigterm is not None:
            signal.signal(signal.SIGTERM, old_sigterm)
        try:
            _write(os.path.join(inst, "tracing_on"), "0")
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(inst)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
    if text:
        live = parse_live(data, proc.pid, proc.returncode, lost, name)
    else:
        from memsim.tracing.formats import default_formats
        from memsim.tracing.tracedat import DatReader
        reader = DatReader.from_subbuffers(pages, default_formats(extra=[formats]))
        with reader:
            records = list(reader.records())
        live = LiveRun(records, proc.pid, proc.returncode, lost, name)
    live.stdout, live.stderr = out, err
    return live


def _cpus(inst: str) -> List[str]:
    return sorted(os.listdir(os.path.join(inst, "per_cpu")), key=lambda c: int(c[3:]))


def _read_raw(path: str) -> List[bytes]:
    """Every ring-buffer page of one CPU's ``trace_pipe_raw`` (tracing is off by then)."""
    pages = []
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                page = os.read(fd, 4096)
            except BlockingIOError:
                break
            if not page:
                break
            pages.append(page)
    finally:
        os.close(fd)
    return pages


def _formats(tracefs: str, events: Sequence[str]):
    """The live kernel's format files of ``events`` (system:event), to decode the raw pages."""
    from memsim.tracing.formats import FormatSet
    fs = FormatSet()
    for ev in events:
        system, _, name = ev.partition(":")
        path = os.path.join(tracefs, "events", system, name, "format")
        text = _read(path)
        if text is not None:
            fs.add_text(text + "\n", system, path)
    return fs


def parse_live(data: bytes, pid: int, returncode: int = 0, lost: int = 0,
               instance: str = "") -> LiveRun:
    """A :class:`LiveRun` from the text of an instance's ``trace`` file (``data``) and the
    program's pid: what :func:`run_live` read, or a trace saved with ``memsim kdiff
    --save-trace`` (whose first line is ``# memsim kdiff: pid N``)."""
    from memsim.tracing.formats import default_formats
    from memsim.tracing.textparse import TextReader
    reader = TextReader("<kernel>", io.BufferedReader(io.BytesIO(data)), formats=default_formats())
    with reader:
        records = list(reader.records())
    return LiveRun(records, pid, returncode, lost, instance, data=data)


def save_live(live: LiveRun, path: str) -> None:
    """Write the kernel trace of ``live`` to ``path`` with its pid on a first ``#`` line, so
    that :func:`load_live` can attribute it again without root."""
    from memsim.fileio import atomic_write
    with atomic_write(path) as f:
        f.write(f"# memsim kdiff: pid {live.pid}\n")
        f.write(live.data.decode("utf-8", "replace"))


def load_live(path: str) -> LiveRun:
    """A kernel trace saved by :func:`save_live` (``memsim kdiff --save-trace``)."""
    with open(path, "rb") as f:
        data = f.read()
    m = re.match(rb"# memsim kdiff: pid (\d+)\n", data)
    if m is None:
        raise UsageError(path, "is not a trace saved by memsim kdiff (no '# memsim kdiff: pid N' line)",
                         "save one with memsim kdiff --save-trace FILE")
    return parse_live(data[m.end():], int(m.group(1)))


@dataclass
class MemsimRun:
    """What :func:`run_memsim` gives: the records, the workload tasks' pids, and per record its
    place relative to the measured part (``None`` before the first step, else the pid's end
    index per CPU, see :func:`memsim_window`)."""

    records: List[Any]
    pids: Tuple[int, ...]
    begin: Tuple[int, ...]                  # per CPU: records written before the first step
    ends: Dict[int, Tuple[int, ...]]        # pid -> per CPU: records written when its steps ended
    ncpus: int
    status: str
    error: Optional[str]
    summary: Dict[str, Any]


def run_memsim(workload: Any, events: Sequence[str] = DEFAULT_EVENTS, *,
               settings: Optional[Mapping[str, Any]] = None, trace_buffer: str = "512 MiB",
               overrides: Sequence[Any] = (), host=None) -> MemsimRun:
    """Run ``workload`` (a path, YAML text or a WorkloadSource) under the v6.18 profile with
    ``events`` enabled and a trace buffer that keeps them all; note where the first step starts
    and where each task's steps end."""
    from memsim.api import RunResult, prepare
    s = {"machine.kernel": "v6.18", "machine.trace_buffer": trace_buffer}
    s.update(settings or {})
    r = prepare(workload, settings=s, events=list(events), overrides=overrides, host=host)
    tb = r.machine.tb
    counts = lambda: tuple(tb.cpu_stats(c)["written"] for c in range(tb.ncpus))   # noqa: E731
    begin: List[Tuple[int, ...]] = []
    ends: Dict[int, Tuple[int, ...]] = {}

    def observe(task, step) -> None:
        if not begin:
            begin.append(counts())
        if step is None or step.op in ("exit", "exit_group"):
            ends.setdefault(task.pid, counts())

    r.step_observer = observe
    r.execute()
    res = RunResult(r)
    lost = sum(tb.cpu_stats(c)["overrun"] + tb.cpu_stats(c)["dropped"] for c in range(tb.ncpus))
    if lost:
        raise UsageError("--memsim-buffer", f"memsim's trace buffer lost {lost} events",
                         "give a larger buffer (--memsim-buffer 1GiB)")
    from memsim.tracing.formats import FormatSet
    from memsim.tracing.tracedat import DatReader
    reader = DatReader.from_subbuffers([tb.subbuffers(c) for c in range(tb.ncpus)],
                                       FormatSet.from_registry(r.events))
    with reader:                            # the ring's pages, decoded as trace_pipe_raw's are
        records = list(reader.records())
    return MemsimRun(records, tuple(r.task_data), begin[0] if begin else counts(), ends,
                     tb.ncpus, res.status, str(res.error) if res.error else None, res.summary)


# -- attribution and masking ------------------------------------------------------------------

#: gfp -> category of an allocation; the first pattern that matches wins
_CATEGORIES = (
    ("user", re.compile(r"^GFP_HIGHUSER")),
    ("pagetable", re.compile(r"^GFP_KERNEL_ACCOUNT\|__GFP_ZERO")),
    ("tlb-batch", re.compile(r"^GFP_NOWAIT")),
    ("slab", re.compile(r"__GFP_NORETRY|__GFP_NOMEMALLOC")),
)
#: categories left out of the checks (shown in the summary only)
MASKED_CATEGORIES = ("slab",)
#: payload fields read from the text when a record's fields lack them
_FIELD_RE = {name: re.compile(rf"\b{name}=(\S+)") for name in ("gfp_flags", "child_pid", "prev_pid",
                                                                 "next_pid")}


def category(gfp: str) -> str:
    """What an allocation with these gfp flags is for: user, pagetable, tlb-batch, slab, other."""
    for name, pat in _CATEGORIES:
        if pat.search(gfp):
            return name
    return "other"


def _payload_field(rec, name: str) -> Optional[str]:
    m = _FIELD_RE[name].search(rec.payload or "")
    return m.group(1) if m else None


def _pid_field(rec, name: str) -> Optional[int]:
    v = rec.fields.get(name)
    return v if isinstance(v, int) else _int(_payload_field(rec, name))


def _int(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    text = text.rstrip("B")
    try:
        return int(text, 0)
    except ValueError:
        return None


def context(rec, ours: bool) -> str:
    """Where a free ran: ``softirq``/``hardirq`` (the irq-info column), else ``task`` (one of
    the program's tasks) or ``other task``."""
    flags = rec.flags or ""
    if len(flags) >= 3 and flags[2] in "sS":
        return "softirq"
    if len(flags) >= 3 and flags[2] in "hH":
        return "hardirq"
    return "task" if ours else "other task"


class Ev:
    """One masked event of the program: ``kind`` is the event's name; ``cat`` the page's
    category; ``page`` its first-seen ordinal; ``ctx`` where a free ran; ``late`` True for what
    comes after the task's measured part (at its exit, in another task, in softirq);
    ``token`` what the order check compares (the event without its page)."""

    __slots__ = ("kind", "cat", "page", "order", "gfp", "flags", "ctx", "late", "mm", "member",
                 "curr", "delta", "token")

    def __init__(self, kind: str, cat: str = "", page: Optional[int] = None,
                 order: Optional[int] = None, gfp: str = "", flags: str = "", ctx: str = "task",
                 late: bool = False, mm: Optional[int] = None, member: str = "",
                 curr: Optional[int] = None, delta: Optional[int] = None):
        self.kind, self.cat, self.page, self.order, self.gfp = kind, cat, page, order, gfp
        self.flags, self.ctx, self.late = flags, ctx, late
        self.mm, self.member, self.curr, self.delta = mm, member, curr, delta
        if kind == "rss_stat":
            d = "?" if delta is None else f"{delta:+d}B"
            self.token = f"rss_stat mm{mm} {member} curr={curr} {d}" + (
                f" [{ctx}]" if ctx != "task" else "")
        elif kind == "mm_page_alloc":
            self.token = f"mm_page_alloc {cat} order={order} {gfp}"
        elif kind in ("mm_page_free", "mm_page_free_batched"):
            self.token = f"{kind} {cat} order={order}" + (f" [{ctx}]" if ctx != "task" else "")
        else:
            self.token = kind

    def __repr__(self) -> str:
        return f"<Ev {self.text()}>"

    def text(self) -> str:
        """The event as one masked line (side-by-side output)."""
        if self.kind == "rss_stat" or self.page is None:
            return self.token
        tail = f" {self.gfp}" if self.kind == "mm_page_alloc" else ""
        where = f" [{self.ctx}]" if self.ctx != "task" else ""
        late = " (late)" if self.late else ""
        return f"{self.kind} p{self.page} {self.cat} order={self.order}{tail}{where}{late}"


@dataclass
class Side:
    """One side of a comparison after attribution: the program's events in order, the pages it
    allocated (by ordinal: category, freed in its measured part, freed at all), the masked
    counts, and notes."""

    name: str
    events: List[Ev]
    pages: Dict[int, Dict[str, Any]]
    masked: Dict[str, int]
    ncpus: int
    notes: List[str] = field(default_factory=list)
    #: user pages other tasks allocated on the program's CPUs while it ran, and the times it
    #: gave its CPU to a kworker (sched_switch): those may have added to or drained the per-CPU
    #: lru_add batch the program's pages go to
    disturbed: int = 0
    #: from the program's first allocation to its last event in a measured part, in ns
    span_ns: int = 0


#: rss_stat's member, as its type= prints it (include/linux/mm_types_task.h)
RSS_MEMBERS = ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES")


def attribute(records: Sequence[Any], where: Callable[[int, Any], str], name: str,
              ncpus: int) -> Side:
    """The program's events of ``records``.  ``where(i, rec)`` says where record ``i`` lies:
    ``before`` (before the measured part), ``in`` (one of the program's tasks, in its measured
    part), ``after`` (one of its tasks, after its end: its exit) or ``other`` (any other task)."""
    pfn_of: Dict[int, int] = {}             # pfn -> ordinal of the program's pages
    pages: Dict[int, Dict[str, Any]] = {}
    mm_of: Dict[int, int] = {}              # mm_id -> ordinal
    sizes: Dict[Tuple[int, int], int] = {}  # (mm_id, member) -> last size, before the part too
    seen_mm: set = set()                    # mm_ids seen before the measured part
    resched: Dict[Tuple[int, int], Ev] = {}  # a zap's rss_stat split by need_resched, held
    gfp_text: Dict[int, str] = {}           # gfp_flags -> as printed
    in_cpus: List[Tuple[int, int]] = []     # (index, cpu) of the program's allocations
    foreign: List[Tuple[int, int]] = []     # (index, cpu) of other tasks' user pages meanwhile

    # the program's last record in a measured part: another task's rss_stat on one of its mms
    # counts only before it (an mm_struct freed at exit is soon another process's, and its hashed
    # mm_id with it)
    last_in = next((i for i in range(len(records) - 1, -1, -1) if where(i, records[i]) == "in"), -1)

    def _gfp(rec) -> str:
        g = rec.fields.get("gfp_flags")
        text = gfp_text.get(g)
        if text is None:
            text = gfp_text[g] = _payload_field(rec, "gfp_flags") or show_gfp_flags(g or 0, "v6.18")
        return text

    masked: collections.Counter = collections.Counter()
    events: List[Ev] = []
    add = events.append
    for i, rec in enumerate(records):
        ev = rec.event
        f = rec.fields
        if ev == "mm_page_free" or ev == "mm_page_free_batched":
            n = pfn_of.get(f.get("pfn"))
            if n is None:
                if where(i, rec) == "in":
                    masked["image pages freed"] += 1
                continue
            w = where(i, rec)
            page = pages[n]
            ctx = context(rec, w == "in" or w == "after")
            late = w != "in" or ctx != "task"
            if ev == "mm_page_free":
                page["freed"] = True
                if not late:
                    page["freed_in"] = True
            add(Ev(ev, page["cat"], n, f.get("order", page["order"]), "", rec.flags or "", ctx, late))
        elif ev == "mm_page_alloc":
            pfn = f.get("pfn")
            w = where(i, rec)
            if w != "in":
                if pfn in pfn_of:           # someone else has the page now
                    del pfn_of[pfn]
                if w == "other" and i < last_in and context(rec, False) == "other task" \
                        and category(_gfp(rec)) == "user":
                    foreign.append((i, rec.cpu))    # a page for that CPU's lru_add batch
                continue
            in_cpus.append((i, rec.cpu))
            gfp = _gfp(rec)
            cat = category(gfp)
            if cat in MASKED_CATEGORIES:
                masked[f"{cat} pages"] += 1
                continue
            n = len(pages)
            pfn_of[pfn] = n
            pages[n] = {"cat": cat, "order": f.get("order"), "freed_in": False, "freed": False}
            add(Ev(ev, cat, n, f.get("order"), gfp, rec.flags or ""))
        elif ev == "rss_stat":
            w = where(i, rec)
            mm_id = f.get("mm_id")
            m = f.get("member")
            member = RSS_MEMBERS[m] if isinstance(m, int) and 0 <= m < len(RSS_MEMBERS) else str(m)
            size = f.get("size")
            key = (mm_id, m)
            prev = sizes.get(key)
            sizes[key] = size
            if w == "before":
                seen_mm.add(mm_id)
                continue
            if w == "in" and mm_id not in mm_of:
                mm_of[mm_id] = len(mm_of)
            if mm_id not in mm_of or w == "after" or i > last_in:
                continue                    # not the program's mm, or its exit's teardown
            if prev is None and mm_id not in seen_mm:
                prev = 0                    # a new mm (fork's child) starts from nothing
            delta = None if prev is None or size is None else size - prev
            flags = rec.flags or ""
            held = resched.pop(key, None)
            if held is not None and delta is not None and delta < 0:
                delta += held.delta         # one zap, split where the scheduler asked
                masked["rss_stat splits at a resched"] += 1
            if delta is not None and delta < 0 and len(flags) >= 2 and flags[1] != ".":
                # zap_pte_range() breaks out when need_resched() and accounts what it zapped so
                # far: a split that follows the machine's load, folded into the next rss_stat
                resched[key] = Ev("rss_stat", mm=mm_of[mm_id], member=member, curr=f.get("curr"),
                                  delta=delta, flags=flags)
                continue
            add(Ev("rss_stat", mm=mm_of[mm_id], member=member, curr=f.get("curr"), delta=delta,
                   flags=flags, ctx="task" if w == "in" else context(rec, False)))
        elif ev not in ("print", "sched_process_fork", "sched_switch") and where(i, rec) == "in":
            kind = f"{rec.system}:{ev}" if rec.system else ev
            name = f.get("name")             # a slab event's cache
            add(Ev(f"{kind} name={name}" if isinstance(name, str) else kind, flags=rec.flags or ""))
    events.extend(resched.values())         # a split nothing followed: kept, at the end
    cpus = {c for _, c in in_cpus}
    disturbed = sum(1 for i, c in foreign if c in cpus)
    span = records[last_in].ts - records[in_cpus[0][0]].ts if in_cpus and last_in >= 0 else 0
    return Side(name, events, pages, dict(masked), ncpus, disturbed=disturbed, span_ns=span)


def kernel_side(live: LiveRun) -> Side:
    """The kernel trace of :func:`run_live`, attributed: the main task's begin marker opens the
    measured part; each task's own end marker closes it; fork events name the children."""
    recs = live.records
    begin = next((i for i, r in enumerate(recs) if r.event == "print" and r.pid == live.pid
                  and str(r.fields.get("buf", "")).startswith(MARK_BEGIN)), None)
    if begin is None:
        raise UsageError("kdiff", "the program wrote no 'memsim-kdiff: begin' marker",
                         'include "memsim_kdiff.h" and call kdiff_begin() before the measured '
                         "part (docs/kdiff.md)")
    pids = {live.pid}
    ended: Dict[int, int] = {}
    for i in range(begin, len(recs)):
        r = recs[i]
        if r.event == "sched_process_fork" and r.pid in pids:
            child = r.fields.get("child_pid")
            if not isinstance(child, int):
                child = _int(_payload_field(r, "child_pid"))
            if child is not None:
                pids.add(child)
        elif r.event == "print" and r.pid in pids and str(r.fields.get("buf", "")).startswith(MARK_END):
            ended.setdefault(r.pid, i)

    def where(i: int, r) -> str:
        if i < begin:
            return "before"
        if r.pid not in pids:
            return "other"
        return "after" if r.pid in ended and i > ended[r.pid] else "in"

    side = attribute(recs, where, "kernel", os.cpu_count() or 1)
    last = max(ended.values(), default=len(recs))
    for i in range(begin, last):            # the CPU given to a kworker meanwhile (it may run
        r = recs[i]                         # lru_add_drain_all()'s work, which makes no event)
        if r.event == "sched_switch" and _pid_field(r, "prev_pid") in pids:
            nxt = r.fields.get("next_comm")
            if nxt is None:
                m = re.search(r"next_comm=(\S+)", r.payload or "")
                nxt = m.group(1) if m else ""
            if str(nxt).startswith("kworker"):
                side.disturbed += 1
    if live.lost:
        side.notes.append(f"the instance lost {live.lost} events (its buffer was too small)")
    missing = sorted(pids - set(ended))
    if missing:
        side.notes.append(f"task(s) {', '.join(map(str, missing))} wrote no end marker: measured "
                          "to the end of the trace")
    return side


def memsim_side(run: MemsimRun) -> Side:
    """memsim's trace of :func:`run_memsim`, attributed the same way: the first step opens the
    measured part; where each task's steps end closes it."""
    pids = set(run.pids)
    idx = [0] * run.ncpus
    place: List[str] = []
    for r in run.records:
        c = r.cpu
        n = idx[c]
        idx[c] += 1
        if n < run.begin[c]:
            place.append("before")
        elif r.pid not in pids:
            place.append("other")
        elif r.pid in run.ends and n >= run.ends[r.pid][c]:
            place.append("after")
        else:
            place.append("in")
    side = attribute(run.records, lambda i, r: place[i], "memsim", run.ncpus)
    if run.error:
        side.notes.append(f"the workload stopped early: {run.error}")
    return side


# -- the checks -------------------------------------------------------------------------------

@dataclass
class Check:
    """One comparison: its ``name`` (a stable id: tests xfail by it), whether the two sides
    agree (None: inconclusive, e.g. the kernel's lru_add batch held back every page the check
    looks at), each side's value as text, and what it compares."""

    name: str
    equal: Optional[bool]
    kernel: str
    memsim: str
    doc: str


def _hist(items: Iterable[Any]) -> str:
    c = collections.Counter(items)
    if not c:
        return "none"
    return ", ".join(f"{k} x{v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0])))


def _allocs(side: Side, cat: str) -> str:
    return _hist(f"order={e.order} {e.gfp}" for e in side.events
                 if e.kind == "mm_page_alloc" and e.cat == cat)


def _runs(tokens: Iterable[str]) -> List[Tuple[str, int]]:
    return [(t, len(list(g))) for t, g in itertools.groupby(tokens)]


def _runs_text(runs: Sequence[Tuple[str, int]], limit: int = 8) -> str:
    head = ", ".join(f"{t.split()[0]} x{n}" for t, n in runs[:limit])
    return head + (f", ... ({len(runs)} runs)" if len(runs) > limit else "")


def _irq_flags(flags: str) -> str:
    """The irq-info column without its need-resched character (``.N...`` -> ``.....``): when the
    scheduler wants the CPU back depends on the machine's load, not on the program."""
    return flags[:1] + "." + flags[2:] if len(flags) >= 2 else flags


def _munmap_frees(side: Side) -> List[Ev]:
    """The user pages' frees in the tasks' measured parts (the munmap's), in order."""
    return [e for e in side.events if e.cat == "user" and not e.late
            and (e.kind == "mm_page_free" or e.kind == "mm_page_free_batched")]


def _residue(side: Side) -> int:
    return sum(1 for p in side.pages.values() if p["cat"] == "user" and not p["freed_in"])


def _contexts(side: Side, cat: str) -> str:
    return _hist(("late " if e.late and e.ctx == "task" else "") + e.ctx
                 for e in side.events if e.kind == "mm_page_free" and e.cat == cat)


def _counts(side: Side) -> str:
    """Events per name and category; user pages' frees are left to free.residue and
    free.user.* (how many a munmap frees depends on the lru_add batch's state)."""
    return _hist(f"{e.kind}/{e.cat}" if e.cat else e.kind for e in side.events
                 if not (e.cat == "user" and e.kind != "mm_page_alloc"))


def _prefix_equal(a: Sequence[Any], b: Sequence[Any]) -> Optional[bool]:
    """The shorter list is the longer one's start: equal up to a residue; True when neither
    side freed a page; None when only one side has nothing to compare (its munmap freed no
    page: the lru_add batch held them all back)."""
    n = min(len(a), len(b))
    if not a and not b:
        return True
    if n == 0:
        return None
    return list(a[:n]) == list(b[:n])


def _list_text(values: Sequence[Any], limit: int = 8) -> str:
    head = ", ".join(str(v) for v in values[:limit])
    return f"{len(values)}: {head}" + (", ..." if len(values) > limit else "")


def _first_diff_text(a: Sequence[Any], b: Sequence[Any]) -> str:
    i = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    x = a[i] if i < len(a) else "(end)"
    y = b[i] if i < len(b) else "(end)"
    return f"first differs at {i}: {x} | {y}"


@dataclass(frozen=True)
class _Spec:
    name: str
    doc: str
    value: Callable[[Side], Any]
    text: Callable[[Any], str] = str
    #: how two values are compared (default: equality)
    same: Callable[[Any, Any], Optional[bool]] = lambda a, b: a == b


def _pages_value(side: Side) -> List[str]:
    return [f"p{e.page}" for e in _munmap_frees(side) if e.kind == "mm_page_free"]


#: the checks, in the order they are printed
_SPECS: Tuple[_Spec, ...] = (
    _Spec("counts", "events per event name and page category", _counts),
    _Spec("alloc.user", "user page allocations: how many of each order and gfp",
          lambda s: _allocs(s, "user")),
    _Spec("alloc.user.gfp", "user page allocations: the orders and gfp flags used (not how many)",
          lambda s: ", ".join(sorted({f"order={e.order} {e.gfp}" for e in s.events
                                      if e.kind == "mm_page_alloc" and e.cat == "user"})) or "none"),
    _Spec("alloc.pagetable", "page-table allocations: order and gfp",
          lambda s: _allocs(s, "pagetable")),
    _Spec("alloc.tlb-batch", "mmu_gather and table batch page allocations: order and gfp",
          lambda s: _allocs(s, "tlb-batch")),
    _Spec("alloc.preempt", "irq-info flags (preempt count) of the allocations per category "
          "(need-resched masked)",
          lambda s: _hist(f"{e.cat} {_irq_flags(e.flags)}" for e in s.events
                          if e.kind == "mm_page_alloc")),
    _Spec("rss_stat", "rss_stat events in order: mm, member, curr, size delta",
          lambda s: [e.token for e in s.events if e.kind == "rss_stat"],
          lambda v: _list_text([t.split(" ", 2)[2] for t in v], 3)),
    _Spec("free.user.runs", "runs of mm_page_free / mm_page_free_batched of user pages in the "
          "munmap, the last run of each kind cut to the residue",
          lambda s: _runs(e.kind for e in _munmap_frees(s))[:-2], _runs_text, _prefix_equal),
    _Spec("free.user.pages", "which user pages the munmap frees, in order (first-seen "
          "ordinals), up to the residue", _pages_value, _list_text, _prefix_equal),
    _Spec("free.pagetable", "where page tables are freed (task, softirq, other task; late: at exit)",
          lambda s: _contexts(s, "pagetable")),
    _Spec("free.tlb-batch", "where batch pages are freed", lambda s: _contexts(s, "tlb-batch")),
)
CHECKS: Tuple[str, ...] = tuple(sp.name for sp in _SPECS) + ("free.residue", "free.residue.exact",
                                                              "order")


def _check_residue(k: Side, m: Side) -> Check:
    kr, mr = _residue(k), _residue(m)
    ok = all(0 <= r < LRU_BATCH * max(1, s.ncpus) for r, s in ((kr, k), (mr, m)))
    return Check("free.residue", ok, f"{kr} held back", f"{mr} held back",
                 f"user pages the munmap did not free (held by a per-CPU lru_add batch, freed "
                 f"later): a residue below {LRU_BATCH} per CPU on each side, not a fixed count")


#: a measured part longer than this shares its CPU's lru_add batch with the machine in ways the
#: trace does not show (lru_cache_disable() while another task migrates pages, lru_add_drain_all()
#: from elsewhere): free.residue.exact is inconclusive beyond it
EXACT_RESIDUE_SPAN_NS = 20_000_000


def _check_residue_exact(k: Side, m: Side) -> Check:
    kr, mr = _residue(k), _residue(m)
    disturbed = k.disturbed + m.disturbed
    long = k.span_ns > EXACT_RESIDUE_SPAN_NS
    equal = None if disturbed or long else kr == mr
    note = (f" (other tasks used its CPU meanwhile: {disturbed} user pages or kworker runs)"
            if disturbed else f" (a measured part of {k.span_ns / 1e6:.0f} ms)" if long else "")
    return Check("free.residue.exact", equal, f"{kr} held back{note}", f"{mr} held back",
                 "the same residue on both sides, when the measured part is short and no other "
                 "task used the program's CPU meanwhile (kdiff_begin() drains that CPU's batch)")


def _ordered(side: Side) -> List[Ev]:
    """What the order check compares: the events of the measured parts, but the user pages'
    frees (free.user.* compare those, up to the residue)."""
    return [e for e in side.events if not e.late
            and not (e.cat == "user" and e.kind != "mm_page_alloc")]


def _check_order(k: Side, m: Side) -> Check:
    ke, me = _ordered(k), _ordered(m)
    kr = _runs(e.token for e in ke)
    mr = _runs(e.token for e in me)
    equal = kr == mr
    kt, mt = f"{len(ke)} events in {len(kr)} runs", f"{len(me)} events in {len(mr)} runs"
    if not equal:
        i = first_difference(ke, me)
        kt += f"; event {i} differs: {ke[i].token if i < len(ke) else '(end)'}"
        mt += f"; {me[i].token if i < len(me) else '(end)'}"
    return Check("order", equal, kt, mt,
                 "the measured parts' events in order, pages masked, user page frees left out")


@dataclass
class Comparison:
    """Both sides and the checks; ``equal`` when every check agrees."""

    kernel: Side
    memsim: Side
    checks: List[Check]
    settings: List[HostSetting] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """No check differs (an inconclusive one does not count)."""
        return all(c.equal is not False for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name`` (one of :data:`CHECKS`)."""
        return next(c for c in self.checks if c.name == name)


def compare(kernel: Side, memsim: Side, settings: Sequence[HostSetting] = ()) -> Comparison:
    """Every check of :data:`CHECKS` on the two sides."""
    checks = []
    for sp in _SPECS:
        kv, mv = sp.value(kernel), sp.value(memsim)
        same = sp.same(kv, mv)
        kt, mt = sp.text(kv), sp.text(mv)
        if same is False and isinstance(kv, list):
            kt += "; " + _first_diff_text(kv, mv)
        checks.append(Check(sp.name, same, kt, mt, sp.doc))
    checks.append(_check_residue(kernel, memsim))
    checks.append(_check_residue_exact(kernel, memsim))
    checks.append(_check_order(kernel, memsim))
    return Comparison(kernel, memsim, checks, list(settings))


# -- output -----------------------------------------------------------------------------------

def first_difference(a: Sequence[Ev], b: Sequence[Ev]) -> Optional[int]:
    """Index of the first event whose token differs (or where one side ends), None if equal."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x.token != y.token:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def side_by_side(k: Side, m: Side, context_lines: int = 3, after: int = 8, width: int = 60) -> List[str]:
    """The first differing events with a few before and after, kernel left, memsim right."""
    i = first_difference(k.events, m.events)
    if i is None:
        return []
    lo = max(0, i - context_lines)
    out = [f"first difference at event {i} of the program's events:",
           f"    {'kernel':<{width}} | memsim"]
    for j in range(lo, i + after):
        a = k.events[j].text() if j < len(k.events) else ""
        b = m.events[j].text() if j < len(m.events) else ""
        if not a and not b:
            break
        mark = ">" if j >= i and (a != b) else " "
        out.append(f"{mark}{j:>6} {a[:width]:<{width}} | {b[:width]}")
    return out


def render(comp: Comparison) -> str:
    """The summary: the live kernel's settings, what each side kept and masked, one line per
    check (``=`` equal, ``!`` different; long values of a difference below it), then the first
    differing events side by side."""
    lines = []
    if comp.settings:
        lines.append("live kernel: " + ", ".join(
            f"{s.name} {s.value}" + ("" if s.verdict == "ok" else f" ({s.verdict}: {s.why})")
            for s in comp.settings))
    for side in (comp.kernel, comp.memsim):
        masked = ", ".join(f"{v} {k}" for k, v in sorted(side.masked.items())) or "nothing"
        lines.append(f"{side.name}: {len(side.events)} events of the program, "
                     f"{len(side.pages)} pages; masked: {masked}")
        lines.extend(f"  note: {n}" for n in side.notes)
    lines.append("")
    w = max(len(c.name) for c in comp.checks)
    vw = 40
    lines.append(f"  {'check':<{w}}  {'kernel':<{vw}}  memsim")
    for c in comp.checks:
        mark = {True: "=", False: "!", None: "?"}[c.equal]
        if len(c.kernel) <= vw and len(c.memsim) <= vw:
            lines.append(f"{mark} {c.name:<{w}}  {c.kernel:<{vw}}  {c.memsim}")
        elif c.equal is True:
            lines.append(f"{mark} {c.name:<{w}}  {c.kernel}")
        else:
            lines.append(f"{mark} {c.name:<{w}}  ({c.doc})")
            lines.append(f"    kernel: {c.kernel}")
            lines.append(f"    memsim: {c.memsim}")
    n_diff = sum(c.equal is False for c in comp.checks)
    n_open = sum(c.equal is None for c in comp.checks)
    lines.append("")
    lines.append(("equal" if comp.equal else f"{n_diff} of {len(comp.checks)} checks differ")
                 + (f" ({n_open} inconclusive: ? above)" if n_open else ""))
    sbs = side_by_side(comp.kernel, comp.memsim)
    if sbs:
        lines.append("")
        lines.extend(sbs)
    return "\n".join(lines) + "\n"


def buffer_kb_for(run: MemsimRun, extra_kb: int = 16384) -> int:
    """A per-CPU kernel buffer that holds what memsim recorded (the kernel's events are about
    as large) twice over, plus ``extra_kb`` for the other tasks of the machine."""
    return max(8192, len(run.records) * 96 // 1024 + extra_kb)


def refuse(settings: Sequence[HostSetting]) -> None:
    """Raise the UsageError of the first setting that makes the comparison meaningless."""
    for s in settings:
        if s.verdict == "refuse":
            problem, _, fix = s.why.partition("; ")
            raise UsageError(s.name, f"the live kernel runs with {s.name} {s.value}, which makes "
                             f"the comparison meaningless: {problem}",
                             (fix + ", or " if fix else "") + "give --force to compare anyway")


def kdiff(program: str, workload: Any, *, defines: Sequence[str] = (),
          events: Sequence[str] = DEFAULT_EVENTS, settings: Optional[Mapping[str, Any]] = None,
          overrides: Sequence[Any] = (), force: bool = False, buffer_kb: Optional[int] = None,
          save_trace: Optional[str] = None) -> Comparison:
    """One comparison, as ``memsim kdiff`` runs it: check the host, run memsim, compile the
    program and run it on the live kernel, attribute both traces and compare them.

    :param program: the C program's path.
    :param workload: the memsim workload (a path, YAML text or a WorkloadSource).
    :param defines: ``NAME=VALUE`` for ``cc -D``.
    :param settings: workload values by dotted key (as :func:`memsim.api.run` takes them).
    :param overrides: :class:`memsim.workload.variant.Override` values (the CLI's ``--set``).
    :param force: compare even when a host setting makes it meaningless (THP ``always``).
    :param buffer_kb: the instance's buffer per CPU (default: from what memsim recorded).
    :param save_trace: write the kernel trace there (:func:`save_live`).
    :raises UsageError: not root, no tracefs, no compiler, the program does not compile or
        fails, the host's settings make the comparison meaningless (unless ``force``).
    """
    from memsim.api import prepare, workload_source
    source = workload_source(workload)
    run_settings = {"machine.kernel": "v6.18", **(settings or {})}
    prepare(source, settings=run_settings, events=list(events),   # the workload's mistakes first
            overrides=overrides)
    check_root()
    tracefs = find_tracefs()
    if not force:
        refuse(host_settings())
    tmp = tempfile.mkdtemp(prefix="memsim-kdiff-")
    try:
        binary = compile_program(program, tmp, defines)
        mrun = run_memsim(source, events, settings=settings, overrides=overrides)
        live = run_live(binary, events, tracefs=tracefs, buffer_kb=buffer_kb or buffer_kb_for(mrun),
                        text=bool(save_trace))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if live.lost:
        raise UsageError("--buffer-size", f"the tracefs instance lost {live.lost} events "
                         f"({buffer_kb or buffer_kb_for(mrun)} KiB per CPU)",
                         "give a larger --buffer-size (KiB per CPU)")
    if live.returncode != 0:
        last = live.stderr.strip().splitlines()[-1] if live.stderr.strip() else ""
        raise UsageError(program, f"the program exited with status {live.returncode}"
                         + (f" ({last})" if last else ""), "make it succeed on its own first")
    if save_trace:
        save_live(live, save_trace)
    return compare(kernel_side(live), memsim_side(mrun), host_settings(workload_cpus=mrun.ncpus))
