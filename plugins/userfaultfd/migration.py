"""A post-copy live migration (userfaultfd.md section 8; the use case of the ``uffd-minor``
seed): the steps a VMM's threads run, with the guest's memory on both hosts of one emulated
machine.

* ``guest_run`` -- a guest's vCPU: random page accesses at a rate of emulated time, writes
  stamped (``touch: {stamp: true}``), until a duration ends or its migration pauses it;
* ``migrate_precopy`` -- the migration thread of the target: rounds of copying the source
  guest's pages into the target's populate view ``B`` of the guest memory file (shmem or
  hugetlbfs), the first round every page, later ones the pages changed since (what the dirty
  log would say), each page at the link's bandwidth while the guest keeps running;
* ``migrate_switchover`` -- the guest pauses on the source, the dirty bitmap arrives, the guest
  resumes on the target with its view ``A`` registered: with the ``uffd-minor`` change MINOR
  (a page is in the file, current or stale, and a fault on it asks the monitor); without it
  the stale pages must first be punched out of the file (FALLOC_FL_PUNCH_HOLE) and ``A``
  registered MISSING, because a cached page raises no MISSING fault;
* ``migrate_serve`` -- the fault thread: a MINOR fault on a current page is a CONTINUE, on a
  stale one a fetch from the source (round trip and transfer time) through ``B`` and then a
  CONTINUE; a MISSING fault (without the change) a fetch into a staging buffer and UFFDIO_COPY;
* ``migrate_drain`` -- the background copier: every stale page not faulted in yet, fetched and
  resolved the same way, until the target holds the whole guest;
* ``migrate_wait`` -- a task that waits for the migration's convergence (the source process
  stays alive until then), then ``migrate_verify`` checks that every page of ``A`` holds what the
  source page held at the pause, or what the target guest wrote after fetching it.

The transport is the emulator's: a page's contents are its stamp and bytes (PhysMem), copied in
C (``Userfaultfd.copy_pages``), and the time a copy takes is charged as emulated time.  The
figures (pause, post-copy faults, bytes moved, time to convergence, mismatches) are the
``uffd-minor`` change's metrics (memsim.plugins.userfaultfd.patch).
"""
from __future__ import annotations

from typing import Dict, Optional

from memsim.registry import Param, StepType
from memsim.sched import PREEMPT, SleepUntil, WaitQueue

from . import api, uapi

PAGE_SIZE = 4096
NS = 1_000_000_000
#: pages copied between two preemption points of the migration thread
CHUNK = 512
#: the device state sent at the switch-over (a VM's CPU and device state)
DEVICE_STATE_BYTES = 1 << 20


class Migration:
    """The state of one migration, shared by the steps that name it."""

    def __init__(self, name: str):
        self.name = name
        self.src_task = None
        self.src_start = 0
        self.npages = 0
        self.dst_b = None               # (start, vma) of the populate view in the target
        self.guest_a = None             # start of the registered guest view
        self.pagesize = PAGE_SIZE       # the guest memory's page size (huge for hugetlbfs)
        self.page_ns = 0.0              # transfer time of a base page at the link's bandwidth
        self.rtt_ns = 0
        self.paused = False
        self.pause_start = None
        self.resumed_at = None
        self.converged_at = None
        self.converged_wq = WaitQueue(f"migration {name} converged")
        self.snapshot: bytes = b""
        self.stale: Optional[bytearray] = None
        self.stale_left = 0
        self.minor_mode = True
        self.staging = None
        self.inflight: Dict[int, WaitQueue] = {}    # page index -> the queue of a fetch in flight
        self.rounds = []
        self.stats: Dict[str, int] = {"precopy_pages": 0, "postcopy_pages": 0, "minor_current": 0,
                                      "minor_fetched": 0, "missing_fetched": 0, "drained": 0,
                                      "punched": 0, "mismatches": -1, "verified": 0,
                                      "rewritten": 0}

    @property
    def bytes_moved(self) -> int:
        return (self.stats["precopy_pages"] + self.stats["postcopy_pages"]) * PAGE_SIZE

    def stamp_index(self, addr: int) -> int:
        return (addr - self.guest_a) // PAGE_SIZE


def migrations(machine) -> Dict[str, Migration]:
    return machine.plugin_state.setdefault("userfaultfd.migrations", {})


def _converged(mig: "Migration", now: int) -> None:
    """Every stale page is resolved: the migration has converged; its waiters wake."""
    if mig.converged_at is None:
        mig.converged_at = now
        mig.converged_wq.wake_up()


def _switched(ctx) -> "Migration":
    """The migration of a post-copy step: it must have switched over already."""
    mig = _migration(ctx)
    if mig.stale is None:
        ctx.fail(f"migration {mig.name!r} has not switched over yet",
                 "run migrate_switchover (in this task) before this step", "migration")
    return mig


def _migration(ctx, create: bool = False) -> Migration:
    name = ctx.step.args["migration"]
    ms = migrations(ctx.machine)
    if name not in ms:
        if not create:
            ctx.fail(f"no migration named {name!r} has started", "start it with migrate_precopy first",
                     "migration")
        ms[name] = Migration(name)
    return ms[name]


def _host(ctx):
    return api.host(ctx.machine)


def _sleep(ctx, ns: float):
    if ns > 0:
        yield SleepUntil(ctx.machine.clock.now + int(ns))


# -- the guest -------------------------------------------------------------------------------

def run_guest_run(ctx, step):
    """A vCPU: ``pages_per_ms`` random accesses per millisecond of emulated time to the mapping
    (writes stamped), for ``duration`` or until the migration named by ``until`` pauses it.  A
    guest waiting for a pause runs as a daemon: if no migration ever pauses it, the run ends
    with the other tasks."""
    from memsim.plugins.userfaultfd.handlers import _Daemon
    with _Daemon(ctx, bool(step.args["until"]) and not step.args["duration"]):
        yield from _guest_run(ctx, step)


def _guest_run(ctx, step):
    from memsim.plugins.core_steps import new_stamp, touch_range
    a = step.args
    m = ctx.mapping()
    slice_ns = 100_000
    per_slice = max(1, a["pages_per_ms"] * slice_ns // 1_000_000)
    end = ctx.machine.clock.now + a["duration"] if a["duration"] else None
    write = a["access"] == "write"
    mig = migrations(ctx.machine).get(a["until"]) if a["until"] else None
    while True:
        if a["until"]:
            mig = mig or migrations(ctx.machine).get(a["until"])
            if mig is not None and mig.paused:
                return
        if end is not None and ctx.machine.clock.now >= end:
            return
        t0 = ctx.machine.clock.now
        yield from touch_range(ctx, m.start, m.end, write, "random", PAGE_SIZE, per_slice,
                               stamp=new_stamp(ctx) if write else 0)
        if ctx.failed:
            return
        yield from _sleep(ctx, slice_ns - (ctx.machine.clock.now - t0))


# -- pre-copy ----------------------------------------------------------------------------------

def run_migrate_precopy(ctx, step):
    """The pre-copy rounds: every page of the source, then ``rounds - 1`` rounds of the pages
    changed since, each page taking PAGE_SIZE / bandwidth of emulated time."""
    a = step.args
    mig = _migration(ctx, create=True)
    src_name = a["from"]["task"]
    src = next((t for t in ctx.machine.tasks.values() if t.name == src_name), None)
    if src is None:
        ctx.fail(f"no task named {src_name!r}", "name the source guest's task", "from")
    sm = ctx.run.task_data[src.pid].mappings.get(a["from"]["vma"])
    if sm is None:
        ctx.fail(f"task {src_name!r} has no mapping {a['from']['vma']!r} (yet)",
                 "the source task must map its memory before the pre-copy starts", "from")
    b = ctx.mapping("to")
    vma_b = ctx.task.mm.find_vma(b.start)
    mig.src_task = src
    mig.src_start = sm.start
    mig.npages = min(sm.end - sm.start, b.end - b.start) // PAGE_SIZE
    mig.dst_b = (b.start, vma_b)
    mig.pagesize = api.vma_pagesize(vma_b)
    mig.page_ns = PAGE_SIZE * NS / a["bandwidth"]
    mig.rtt_ns = a["rtt"]
    h = _host(ctx)
    for rnd in range(a["rounds"]):
        copied_round = 0
        done = 0
        while done < mig.npages:
            if src.mm is None:
                ctx.fail(f"the source task {src_name!r} exited during the pre-copy",
                         "keep it running (migrate_wait) until the migration converges")
            scanned, copied = h.copy_pages(src.mm, mig.src_start + done * PAGE_SIZE, ctx.task.mm, vma_b,
                                           b.start + done * PAGE_SIZE, mig.npages - done, rnd > 0, CHUNK)
            if copied < 0:
                ctx.set_errno("ENOMEM", "migrate_precopy: the target could not allocate a page")
                return
            done += scanned
            copied_round += copied
            mig.stats["precopy_pages"] += copied
            yield from _sleep(ctx, copied * mig.page_ns)
            yield PREEMPT
        mig.rounds.append(copied_round)


# -- the switch-over -------------------------------------------------------------------------------

def run_migrate_switchover(ctx, step):
    """Pause the source guest, take its pages' state at the pause, send the dirty bitmap and
    the device state, find the target's stale pages, register the guest view (MINOR with the
    uffd-minor change; MISSING after punching the stale pages out of the file without it) and
    resume."""
    a = step.args
    mig = _migration(ctx)
    machine, task = ctx.machine, ctx.task
    h = _host(ctx)
    mig.paused = True
    mig.pause_start = machine.clock.now
    yield PREEMPT                   # the source vCPU sees the pause at its next slice
    src = mig.src_task
    if src.mm is None:
        ctx.fail("the source task exited before the switch-over", "keep it alive with migrate_wait")
    mig.snapshot = h.snapshot(src.mm, mig.src_start, mig.npages)
    bstart, vma_b = mig.dst_b
    target = h.snapshot(task.mm, bstart, mig.npages)
    # the dirty bitmap: one bit a page; then the device state
    yield from _sleep(ctx, mig.rtt_ns + (mig.npages / 8 + DEVICE_STATE_BYTES) * mig.page_ns / PAGE_SIZE)
    stale = bytearray(mig.npages)
    per = mig.pagesize // PAGE_SIZE
    left = 0
    for i in range(0, mig.npages, per):     # a huge page is stale if any of its pages is
        if mig.snapshot[i * 8:(i + per) * 8] != target[i * 8:(i + per) * 8]:
            stale[i:i + per] = b"\x01" * per
            left += per
    mig.stale, mig.stale_left = stale, left
    a_map = ctx.mapping()
    mig.guest_a = a_map.start
    fd = ctx.data.fds.get(a["uffd"], -1)
    mig.minor_mode = api.minor_patch(machine)
    try:
        if mig.minor_mode:
            api.uffdio_register(machine, task, fd, a_map.start, mig.npages * PAGE_SIZE,
                                uapi.UFFDIO_REGISTER_MODE_MINOR)
        else:
            yield from _punch_stale(ctx, mig, vma_b)
            api.uffdio_register(machine, task, fd, a_map.start, mig.npages * PAGE_SIZE,
                                uapi.UFFDIO_REGISTER_MODE_MISSING)
    except api.UffdError as e:
        ctx.set_errno(e.errno, f"migrate_switchover: {e.detail}")
        return
    if not mig.minor_mode:
        _make_staging(ctx, mig)
    mig.resumed_at = machine.clock.now
    if mig.stale_left == 0:
        _converged(mig, machine.clock.now)


def _punch_stale(ctx, mig: Migration, vma_b):
    """fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) of each run of stale pages of the
    guest memory file, as a VMM without minor faults must before resuming."""
    from memsim.vfs import vfs_fallocate
    from memsim.vm import _vma_file
    file = _vma_file(vma_b)
    base = vma_b.vm_pgoff * PAGE_SIZE + (mig.dst_b[0] - vma_b.vm_start)
    i = 0
    while i < mig.npages:
        if not mig.stale[i]:
            i += 1
            continue
        j = i
        while j < mig.npages and mig.stale[j]:
            j += 1
        vfs_fallocate(file, 0x01 | 0x02, base + i * PAGE_SIZE, (j - i) * PAGE_SIZE)
        mig.stats["punched"] += j - i
        ctx.advance(500)
        i = j
        yield PREEMPT


def _make_staging(ctx, mig: Migration) -> None:
    """A private buffer of one (huge) page in the target, where a fetched page lands before
    UFFDIO_COPY moves it into the guest."""
    from memsim import vm
    vma = vm.do_mmap(ctx.machine.mmcore, ctx.task.mm, ctx.machine.files, 2 * mig.pagesize, "rw", "anon",
                     None, 0, None, "migration-staging", ctx.machine.overcommit)
    start = (vma.vm_start + mig.pagesize - 1) // mig.pagesize * mig.pagesize
    mig.staging = (start, vma)


# -- post-copy -------------------------------------------------------------------------------

def _resolve(ctx, mig: Migration, fd: int, addr: int, minor: bool, why: str):
    """Fetch the (huge) page at guest address ``addr`` if stale, then CONTINUE it (minor) or
    UFFDIO_COPY it from the staging buffer (missing).  A fault's fetch waits a round trip and
    the transfer; the background copier's stream only the transfer."""
    machine, task, h = ctx.machine, ctx.task, _host(ctx)
    size = mig.pagesize
    addr -= (addr - mig.guest_a) % size
    i = mig.stamp_index(addr)
    per = size // PAGE_SIZE
    stale = any(mig.stale[i:i + per])
    src = mig.src_task
    while i in mig.inflight:        # another thread is fetching it: wait for that fetch
        yield mig.inflight[i]
        stale = any(mig.stale[i:i + per])
    if not stale and not minor:
        return False                # fetched and copied in by the thread it waited for
    if stale:
        mig.inflight[i] = WaitQueue("migration fetch")
        yield from _sleep(ctx, (mig.rtt_ns if why == "fault" else 0) + per * mig.page_ns)
        if src.mm is None:
            ctx.fail("the source task exited before the migration converged",
                     "keep it alive with migrate_wait")
        if minor:
            bstart, vma_b = mig.dst_b
            h.copy_pages(src.mm, mig.src_start + i * PAGE_SIZE, task.mm, vma_b, bstart + i * PAGE_SIZE,
                         per, False)
        else:
            sstart, svma = mig.staging
            h.copy_pages(src.mm, mig.src_start + i * PAGE_SIZE, task.mm, svma, sstart, per, False)
        mig.stats["postcopy_pages"] += per
        mig.inflight.pop(i).wake_up()
    try:
        if minor:
            api.uffdio_continue(machine, task, fd, addr, size)
        else:
            api.uffdio_copy(machine, task, fd, addr, mig.staging[0], size)
    except api.UffdError as e:
        if e.errno not in ("EEXIST", "EAGAIN"):
            raise
    if stale and any(mig.stale[i:i + per]):    # (another thread may have resolved it meanwhile)
        mig.stale[i:i + per] = bytes(per)
        mig.stale_left -= per
        if mig.stale_left == 0:
            _converged(mig, machine.clock.now)
    return stale


def run_migrate_serve(ctx, step):
    """The fault thread (see the module's docstring); serves until every other task is done."""
    from memsim.plugins.userfaultfd.handlers import _Daemon, _wait_messages
    a = step.args
    mig = _switched(ctx)
    fd = ctx.data.fds.get(a["uffd"], -1)
    with _Daemon(ctx, True):
        while True:
            try:
                msgs = yield from _wait_messages(ctx, fd, 1)
            except api.UffdError as e:
                ctx.set_errno(e.errno, f"migrate_serve: {e.detail}")
                return
            if not msgs:
                return
            for raw in msgs:
                msg = uapi.decode_msg(raw)
                if msg["event"] != "pagefault":
                    continue
                minor = bool(msg["flags"] & uapi.UFFD_PAGEFAULT_FLAG_MINOR)
                try:
                    stale = yield from _resolve(ctx, mig, fd, msg["address"], minor, "fault")
                except api.UffdError as e:
                    ctx.set_errno(e.errno, f"migrate_serve at {msg['address']:#x}: {e.detail}")
                    return
                key = ("minor_fetched" if stale else "minor_current") if minor else "missing_fetched"
                mig.stats[key] += 1


def run_migrate_drain(ctx, step):
    """The background copier: each stale (huge) page still stale, in address order."""
    a = step.args
    mig = _switched(ctx)
    fd = ctx.data.fds.get(a["uffd"], -1)
    per = mig.pagesize // PAGE_SIZE
    for i in range(0, mig.npages, per):
        if not mig.stale[i]:
            continue
        try:
            if (yield from _resolve(ctx, mig, fd, mig.guest_a + i * PAGE_SIZE, mig.minor_mode, "drain")):
                mig.stats["drained"] += 1
        except api.UffdError as e:
            ctx.set_errno(e.errno, f"migrate_drain at page {i}: {e.detail}")
            return
        yield PREEMPT


def run_migrate_wait(ctx, step):
    """Wait until the migration has converged (every stale page resolved).  A migration that
    can no longer converge (no copier, no fault left to serve) leaves the waiters blocked: the
    run ends with its deadlock report, which names the migration."""
    mig = _migration(ctx)
    while mig.converged_at is None:
        yield mig.converged_wq


def run_migrate_verify(ctx, step):
    """Every page of the guest view equals the source page at the pause, or was written by the
    target guest after it was fetched (its stamp is a target task's and it is no longer
    stale).  A mismatch fails the run."""
    from memsim.plugins.core_steps import touch_range
    mig = _switched(ctx)
    if mig.converged_at is None:
        ctx.fail(f"migration {mig.name!r} has not converged yet: pages are still stale",
                 "run migrate_wait before migrate_verify", "migration")
    h = _host(ctx)
    target_pids = {t.pid for t in ctx.machine.thread_group(ctx.task)}
    # read through the populate view B: the file's pages (A and B share them), each faulted in
    bstart, _ = mig.dst_b
    yield from touch_range(ctx, bstart, bstart + mig.npages * PAGE_SIZE, False)
    bad, rewritten = [], 0
    for i in range(mig.npages):
        want = int.from_bytes(mig.snapshot[i * 8:i * 8 + 8], "little")
        got = h.stamp_at(ctx.task.mm, bstart + i * PAGE_SIZE)
        if got == want or (got is None and want == 0):
            continue
        if got is not None and (got >> 32) in target_pids and not mig.stale[i]:
            rewritten += 1
            continue
        bad.append(i)
    mig.stats["mismatches"] = len(bad)
    mig.stats["verified"] = mig.npages - len(bad)
    mig.stats["rewritten"] = rewritten
    if bad:
        raise ctx.expectation_failed(
            f"{len(bad)} of {mig.npages} guest pages differ from the source at the pause "
            f"(first: page {bad[0]})", "the migration lost writes", None)


def _guest_run_check(args, given):
    from memsim.errors import InvalidValue
    if not args["duration"] and not args["until"]:
        raise InvalidValue("guest_run needs an end", "give duration or until (a migration's name)",
                           key="duration")
    return args


def step_types():
    mig = Param("migration", "str", "the migration's name (migrate_precopy starts it)", required=True)
    uffd = Param("uffd", "str", "the userfaultfd of the target (its userfaultfd step's name)",
                 required=True, refers="fd")
    return (
        StepType("guest_run", "a guest vCPU: random accesses to a mapping at a rate of emulated "
                 "time (writes stamped), for a duration or until a migration pauses it", (
                     Param("vma", "str", "the guest memory", required=True, refers="vma"),
                     Param("pages_per_ms", "int", "accesses per millisecond", default=1000, minimum=1),
                     Param("access", "enum", "read or write", default="write", choices=("read", "write")),
                     Param("duration", "duration", "how long (0: until the migration pauses it)",
                           default=0),
                     Param("until", "str", "run until this migration pauses the guest")),
                 run_guest_run, check=_guest_run_check,
                 example="- guest_run: {vma: ram, pages_per_ms: 2000, until: mig}"),
        StepType("migrate_precopy", "pre-copy a guest's memory from a source task into the "
                 "target's populate view, in rounds", (
                     mig,
                     Param("from", "map", "the source: {task: NAME, vma: NAME}", required=True,
                           items=(Param("task", "str", "the source task", required=True),
                                  Param("vma", "str", "its guest memory mapping", required=True))),
                     Param("to", "str", "the target's populate view (a shared mapping of the guest "
                           "memory file)", required=True, refers="vma"),
                     Param("rounds", "int", "pre-copy rounds (the first copies every page)", default=3,
                           minimum=1),
                     Param("bandwidth", "size", "the link's bandwidth, bytes per second",
                           default="1 GiB", minimum=1),
                     Param("rtt", "duration", "the link's round trip (a post-copy fetch waits one)",
                           default="50us")),
                 run_migrate_precopy,
                 example="- migrate_precopy: {migration: mig, from: {task: source, vma: ram}, to: B}"),
        StepType("migrate_switchover", "pause the source guest, send the dirty bitmap, register "
                 "the guest view (MINOR, or MISSING after punching stale pages without uffd-minor) "
                 "and resume on the target", (
                     mig, uffd,
                     Param("vma", "str", "the guest view to register", required=True, refers="vma")),
                 run_migrate_switchover,
                 example="- migrate_switchover: {migration: mig, uffd: u, vma: A}"),
        StepType("migrate_serve", "the post-copy fault thread: fetch stale pages from the source, "
                 "CONTINUE (or UFFDIO_COPY) every fault", (mig, uffd), run_migrate_serve,
                 example="- migrate_serve: {migration: mig, uffd: u}"),
        StepType("migrate_drain", "the background copier: resolve every stale page", (mig, uffd),
                 run_migrate_drain, example="- migrate_drain: {migration: mig, uffd: u}"),
        StepType("migrate_wait", "wait until the migration has converged", (mig,), run_migrate_wait,
                 example="- migrate_wait: {migration: mig}"),
        StepType("migrate_verify", "check every guest page against the source at the pause "
                 "(a mismatch fails the run)", (mig,), run_migrate_verify,
                 example="- migrate_verify: {migration: mig}"),
    )
