"""Fault handlers: the thread of a monitor that reads fault messages and resolves them.

Two ways to write one, both run by a task of the workload (usually a thread made with
``clone``), so the faulting threads, the monitor and everything else interleave on the
emulated CPUs as they would on a machine:

* **declarative**, the ``uffd_serve`` step: on a MINOR fault ``continue``; on a MISSING fault
  ``zero`` or ``copy`` from a source mapping at the same offset; on a WP fault ``unprotect``;
  ``latency`` of emulated time per fault before it is resolved (the fetch over the network of
  a live migration, say);
* **Python**, the ``uffd_handler`` step: ``python: "module:function"`` names a generator
  function that receives a :class:`Monitor` -- the calls of :mod:`memsim.plugins.userfaultfd.api`
  bound to the task and its fd, plus ``sleep`` and byte access through the task's mappings::

      def monitor(m):
          while True:
              for msg in (yield from m.read(4)):
                  if msg["flags"] & UFFD_PAGEFAULT_FLAG_MINOR:
                      yield from m.sleep(20_000)          # 20 us to fetch the page
                      m.uffdio_continue(msg["address"], 4096)

Both stop after ``faults`` faults, or -- without it -- serve until every other task of the
run has finished (the thread is then a daemon, as a kernel thread is: its blocked read is not a
deadlock).
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Generator, List

from memsim.registry import Param, StepType
from memsim.sched import SleepUntil

from . import api, uapi

PAGE_SIZE = 4096


def _wait_messages(ctx, fd: int, count: int) -> Generator[Any, None, List[bytes]]:
    """Read at least one message, sleeping on the userfaultfd as poll() + read() would on an
    O_NONBLOCK fd, or as a blocking read does."""
    uctx = api.uffd_ctx(ctx.task, fd)
    while True:
        try:
            return (yield from api.read(ctx.machine, ctx.task, fd, count * uapi.MSG_SIZE))
        except api.UffdError as e:
            if e.errno != "EAGAIN":
                raise
        if uctx.released:
            return []
        yield uctx.fd_wqh


class _Daemon:
    """Mark the current scheduler run a daemon while a handler serves with no end."""

    def __init__(self, ctx, on: bool):
        self.run = getattr(ctx.run.scheduler, "running", None) if on else None

    def __enter__(self):
        if self.run is not None:
            self.run.daemon = True

    def __exit__(self, *exc):
        if self.run is not None:
            self.run.daemon = False


def _mapping_of(ctx, name: str):
    m = ctx.data.mappings.get(name)
    if m is None:
        ctx.fail(f"no mapping named {name!r} in task {ctx.task.name!r}",
                 "create it with an mmap step earlier in this task (or before a fork)")
    return m


def run_uffd_serve(ctx, step):
    """The declarative handler (see the module's docstring)."""
    a = step.args
    fd = ctx.data.fds.get(a["uffd"], -1)
    machine = ctx.machine
    target = _mapping_of(ctx, a["vma"]) if a.get("vma") else None
    src = _mapping_of(ctx, a["src"]) if a.get("src") else None
    served = 0
    stats = machine.plugin_state.setdefault("userfaultfd.served", {"minor": 0, "missing": 0, "wp": 0,
                                                                    "latency_ns": 0})
    with _Daemon(ctx, a["faults"] is None):
        while a["faults"] is None or served < a["faults"]:
            try:
                msgs = yield from _wait_messages(ctx, fd, a["batch"])
            except api.UffdError as e:
                ctx.set_errno(e.errno, f"uffd_serve: {e.detail}")
                return
            if not msgs:
                return              # the userfaultfd was closed
            for raw in msgs:
                msg = uapi.decode_msg(raw)
                if msg["event"] != "pagefault":
                    continue        # events are completed by the read
                if a["latency"]:
                    yield SleepUntil(machine.clock.now + a["latency"])
                    stats["latency_ns"] += a["latency"]
                try:
                    _resolve(ctx, a, fd, msg, target, src, stats)
                except api.UffdError as e:
                    if e.errno not in ("EEXIST", "EAGAIN"):     # resolved meanwhile: harmless
                        ctx.set_errno(e.errno, f"uffd_serve at {msg['address']:#x}: {e.detail}")
                        return
                served += 1


def _resolve(ctx, a, fd, msg, target, src, stats) -> None:
    machine, task = ctx.machine, ctx.task
    addr, flags = msg["address"], msg["flags"]
    size = _pagesize_at(task, addr)
    addr &= ~(size - 1)
    if flags & uapi.UFFD_PAGEFAULT_FLAG_WP:
        stats["wp"] += 1
        if a["wp"] == "unprotect":
            api.uffdio_writeprotect(machine, task, fd, addr, size, 0)
        return
    if flags & uapi.UFFD_PAGEFAULT_FLAG_MINOR:
        stats["minor"] += 1
        if a["minor"] == "continue":
            api.uffdio_continue(machine, task, fd, addr, size)
        elif a["minor"] == "wake":
            api.uffdio_wake(machine, task, fd, addr, size)
        return
    stats["missing"] += 1
    if a["missing"] == "zero":
        if size > PAGE_SIZE:
            ctx.fail("missing: zero cannot resolve a hugetlb fault (UFFDIO_ZEROPAGE is EINVAL there)",
                     "use missing: copy with src", "missing")
        api.uffdio_zeropage(machine, task, fd, addr, size)
    elif a["missing"] == "copy":
        if target is None or src is None:
            ctx.fail("missing: copy needs vma (the registered mapping) and src (where the bytes "
                     "are, at the same offset)", "give vma and src", "missing")
        api.uffdio_copy(machine, task, fd, addr, src.start + (addr - target.start), size)
    elif a["missing"] == "wake":
        api.uffdio_wake(machine, task, fd, addr, size)


def _pagesize_at(task, addr: int) -> int:
    vma = task.mm.find_vma(addr)
    if vma is not None and vma.vm_start <= addr:
        return api.vma_pagesize(vma)
    return PAGE_SIZE


class Monitor:
    """What a Python handler gets: the api calls bound to its task and userfaultfd (``fd``),
    ``read`` (a generator), ``sleep`` (a generator), the task's mappings by name and byte access
    through them (``write_bytes`` faults the pages in as the task, a generator)."""

    def __init__(self, ctx, fd: int):
        self._ctx = ctx
        self.machine = ctx.machine
        self.task = ctx.task
        self.fd = fd

    def read(self, count: int = 1) -> Generator[Any, None, List[Dict[str, Any]]]:
        raw = yield from _wait_messages(self._ctx, self.fd, count)
        return [uapi.decode_msg(m) for m in raw]

    def sleep(self, ns: int) -> Generator[Any, None, None]:
        yield SleepUntil(self.machine.clock.now + int(ns))

    def mapping(self, name: str):
        """(start, end) of the task's mapping ``name``."""
        m = _mapping_of(self._ctx, name)
        return m.start, m.end

    def write_bytes(self, addr: int, data: bytes) -> Generator[Any, None, None]:
        """Write ``data`` at ``addr`` as the task (faulting the pages in)."""
        from memsim.plugins.core_steps import touch_range
        core, mm, pm = self.machine.mmcore, self.task.mm, self.machine.physmem
        pos = 0
        while pos < len(data):
            at = addr + pos
            n = min(len(data) - pos, PAGE_SIZE - at % PAGE_SIZE)
            yield from touch_range(self._ctx, at, at + n, True)
            pm.write_bytes(core.pfn_of(mm, at - at % PAGE_SIZE), at % PAGE_SIZE, bytes(data[pos:pos + n]))
            pos += n

    def __getattr__(self, name: str):
        fn = getattr(api, name, None)
        if name.startswith("uffdio_") and fn is not None:
            return lambda *args, **kw: fn(self.machine, self.task, self.fd, *args, **kw)
        raise AttributeError(name)


def run_uffd_handler(ctx, step):
    """The Python handler (see the module's docstring)."""
    a = step.args
    modname, _, fname = a["python"].partition(":")
    try:
        fn = getattr(importlib.import_module(modname), fname)
    except (ImportError, AttributeError, ValueError) as e:
        ctx.fail(f"cannot load the handler {a['python']!r}: {e}",
                 "give module:function of an importable module", "python")
    fd = ctx.data.fds.get(a["uffd"], -1)
    with _Daemon(ctx, a["daemon"]):
        try:
            gen = fn(Monitor(ctx, fd))
            if gen is not None:
                yield from gen
        except api.UffdError as e:
            ctx.set_errno(e.errno, f"uffd_handler {a['python']}: {e.detail}")


def step_types():
    uffd = Param("uffd", "str", "the userfaultfd (its userfaultfd step's name)", required=True,
                 refers="fd")
    return (
        StepType("uffd_serve", "serve the faults of a userfaultfd as a monitor thread does: "
                 "continue minor faults, zero or copy missing ones, unprotect WP ones", (
                     uffd,
                     Param("minor", "enum", "on a MINOR fault: continue (UFFDIO_CONTINUE), wake, or "
                           "none (leave it asleep)", default="continue",
                           choices=("continue", "wake", "none")),
                     Param("missing", "enum", "on a MISSING fault: zero (UFFDIO_ZEROPAGE), copy "
                           "(UFFDIO_COPY from src at the same offset), wake, or none",
                           default="zero", choices=("zero", "copy", "wake", "none")),
                     Param("wp", "enum", "on a WP fault: unprotect the page (UFFDIO_WRITEPROTECT "
                           "mode 0) or none", default="unprotect", choices=("unprotect", "none")),
                     Param("vma", "str", "the registered mapping (for missing: copy)", refers="vma"),
                     Param("src", "str", "the mapping holding the bytes (for missing: copy)",
                           refers="vma"),
                     Param("latency", "duration", "emulated time per fault before it is resolved",
                           default=0),
                     Param("batch", "int", "messages read at once", default=1, minimum=1),
                     Param("faults", "int", "stop after this many faults (default: serve until "
                           "every other task has finished)", minimum=1)),
                 run_uffd_serve,
                 example="- uffd_serve: {uffd: uffd, minor: continue, latency: 20us}"),
        StepType("uffd_handler", "run a Python fault handler (a generator function "
                 "module:function that gets a Monitor: memsim.plugins.userfaultfd.handlers)", (
                     uffd,
                     Param("python", "str", "module:function", required=True),
                     Param("daemon", "bool", "serve until every other task has finished "
                           "(the handler's blocked read is not a deadlock)", default=True)),
                 run_uffd_handler,
                 example="- uffd_handler: {uffd: uffd, python: 'mymonitor:serve'}"),
    )
