"""The core workload steps: mmap, munmap, mprotect, touch, write, read, fork, exit, sleep, expect.

An essential built-in plugin: registered through the ``memsim`` entry-point group like any
third-party plugin, it uses only the public surface (the registries, the step context, the
machine's mm calls).  The declarations (parameters, checks, examples) live in
:mod:`memsim.workload.core_schema`; this module adds what each step does.
"""
from __future__ import annotations

from memsim import vm
from memsim.errors import ExpectationFailed
from memsim.hookspecs import hookimpl
from memsim.mm import RSS_NAMES
from memsim.sched import PREEMPT, SleepUntil
from memsim.workload.core_schema import MMAP_FLAGS, RSS_KEYS, core_step_types
from memsim.workload.runner import Mapping, TaskData, fault_error

PAGE_SIZE = 4096
PATTERNS = {"sequential": 0, "random": 1, "strided": 2}
VM_FAULT_RETRY = 0x400


def _vmas_in(mm, start, end):
    return [v for v in mm.vmas if v.vm_start < end and start < v.vm_end]


def touch_range(ctx, start: int, end: int, write: bool, pattern: str = "sequential",
                stride: int = PAGE_SIZE, count=None):
    """Access [start, end) as the current task, ``quantum`` pages between preemption points.

    The loop over pages runs in C (MmCore.access); a fault that must wait (userfaultfd)
    blocks the task on the wait queue its handler names, then the access is retried.
    """
    machine, task = ctx.machine, ctx.task
    core, mm = machine.mmcore, task.mm
    quantum = ctx.quantum
    addr = start
    for vma in sorted(_vmas_in(mm, start, end), key=lambda v: v.vm_start):
        if vma.vm_start > addr:
            ctx.set_errno("EFAULT", f"SIGSEGV: {addr:#x} is not mapped")
            return
        s, e = max(start, vma.vm_start), min(end, vma.vm_end)
        n = None
        if pattern == "random":
            n = count if count is not None else (e - s + PAGE_SIZE - 1) // PAGE_SIZE
        progress = 0
        while True:
            progress, ret, at = core.access(mm, vma, s, e, write, PATTERNS[pattern], stride,
                                            n or 0, progress, quantum)
            if ret & VM_FAULT_RETRY:
                waitq = core.blocked_on
                core.blocked_on = None
                if waitq is not None:
                    yield waitq
                continue
            if ret:
                what = {0x1: "out of memory (VM_FAULT_OOM)", 0x2: "SIGBUS", 0x40: "SIGSEGV"}
                ctx.set_errno(fault_error(ret), f"{what.get(ret & 0x43, hex(ret))} at {at:#x}")
                return
            total = n if pattern == "random" else (
                (e - s + stride - 1) // stride if pattern == "strided" else (e - s + PAGE_SIZE - 1) // PAGE_SIZE)
            if progress >= total:
                break
            yield PREEMPT
        addr = e
    if addr < end:
        ctx.set_errno("EFAULT", f"SIGSEGV: {addr:#x} is not mapped")


def _mmap_extensions(ctx, a):
    """The plugin mmap type (or None) and plugin flags of an mmap step, in the order given."""
    ext = ctx.registries.extensions
    flags = [ext.mmap_flags[f] for f in a["flags"] if f in ext.mmap_flags]
    return ext.mmap_types.get(a["type"]), flags


def _map_flags(ctx, a) -> int:
    ext = ctx.registries.extensions
    known = {f.name: f.value for f in MMAP_FLAGS}
    bits = 0
    for name in a["flags"]:
        bits |= known[name] if name in known else ext.mmap_flags[name].value
    if a.get("populate"):
        bits |= vm.MAP_POPULATE
    return bits


def run_mmap(ctx, step):
    """mmap(2): ksys_mmap_pgoff() -> do_mmap(); a plugin's mmap type or flags prepare the request
    and set up the new VMA (e.g. its vm_ops)."""
    a = step.args
    machine, task = ctx.machine, ctx.task
    totalram = sum(z["managed"] for z in machine.physmem.zones_info())
    mtype, flags = _mmap_extensions(ctx, a)
    req = vm.MmapRequest(length=a["length"], prot=a["prot"], kind=mtype.base if mtype else a["type"],
                         file=a.get("file"), offset=a.get("offset") or 0, addr=a.get("addr"),
                         map_flags=_map_flags(ctx, a))
    hooks = ([mtype] if mtype is not None else []) + flags
    try:
        for ext in hooks:
            if ext.prepare is not None:
                ext.prepare(ctx, req)
        vma = vm.do_mmap(machine.mmcore, task.mm, machine.files, req.length, req.prot, req.kind,
                         req.file, req.offset, req.addr, a["name"], totalram, map_flags=req.map_flags,
                         vm_flags=req.vm_flags, accountable=req.accountable, align=req.align,
                         vm_file=req.vm_file)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
        return
    try:
        for ext in hooks:
            if ext.setup is not None:
                ext.setup(ctx, vma, a)
    except vm.MmError as e:
        # mmap_region()'s error path: the half-made mapping is unmapped again
        vm.do_munmap(machine.mmcore, task.mm, vma.vm_start, vma.vm_end - vma.vm_start)
        ctx.set_errno(e.errno, e.detail)
        return
    ctx.mappings[a["name"]] = Mapping(vma.vm_start, vma.vm_end, a["type"])
    if req.map_flags & vm.MAP_POPULATE:
        # populate_vma_page_range(): write faults for private writable mappings, else reads
        write = req.kind == "anon" and "w" in req.prot
        yield from touch_range(ctx, vma.vm_start, vma.vm_end, write)


def run_munmap(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_munmap(ctx.machine.mmcore, ctx.task.mm, start, end - start)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_mprotect(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_mprotect(ctx.machine.mmcore, ctx.task.mm, start, end - start, step.args["prot"])
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_touch(ctx, step):
    a = step.args
    start, end = ctx.range()
    yield from touch_range(ctx, start, end, a["access"] == "write", a["pattern"],
                           a.get("stride") or PAGE_SIZE, a.get("count"))


def _pages(start: int, length: int):
    """(page address, offset in page, chunk length) pieces of [start, start + length)."""
    addr, left = start, length
    while left > 0:
        off = addr % PAGE_SIZE
        n = min(left, PAGE_SIZE - off)
        yield addr - off, off, n
        addr += n
        left -= n


def run_write(ctx, step):
    a = step.args
    data = a["data"]
    m = ctx.mapping()
    start = m.start + (a.get("offset") or 0)
    if start + len(data) > m.end:
        ctx.fail(f"writing {len(data)} bytes at offset {a.get('offset') or 0} runs past the end of "
                 f"mapping {a['vma']!r} ({m.end - m.start} bytes)", "write less, or earlier", "data")
    core, mm, pm = ctx.machine.mmcore, ctx.task.mm, ctx.machine.physmem
    pos = 0
    for page, off, n in _pages(start, len(data)):
        yield from touch_range(ctx, page, page + PAGE_SIZE, True)
        if ctx.data.errno:
            return
        pm.write_bytes(core.pfn_of(mm, page), off, bytes(data[pos:pos + n]))
        pos += n


def run_read(ctx, step):
    a = step.args
    m = ctx.mapping()
    start = m.start + (a.get("offset") or 0)
    length = a["length"]
    if start + length > m.end:
        ctx.fail(f"reading {length} bytes at offset {a.get('offset') or 0} runs past the end of "
                 f"mapping {a['vma']!r} ({m.end - m.start} bytes)", "read less, or earlier", "length")
    core, mm, pm = ctx.machine.mmcore, ctx.task.mm, ctx.machine.physmem
    out = bytearray()
    for page, off, n in _pages(start, length):
        yield from touch_range(ctx, page, page + PAGE_SIZE, False)
        if ctx.data.errno:
            return
        out += pm.read_bytes(core.pfn_of(mm, page), off, n)
    expected = a.get("expect")
    if expected is not None and bytes(out) != bytes(expected):
        raise ExpectationFailed(step.where, f"read {bytes(out)!r} at offset {a.get('offset') or 0} of "
                                f"{a['vma']!r}, expected {bytes(expected)!r}",
                                "check the writes before this read")


def run_fork(ctx, step):
    a = step.args
    child = ctx.machine.fork(ctx.task, a["child"], a.get("cpu"))
    data = TaskData(mappings=dict(ctx.mappings), name=a["child"])
    ctx.run.add_task(child, a["steps"], data)


def run_exit(ctx, step):
    ctx.run.exit(ctx.task, step.args.get("code") or 0)


def run_sleep(ctx, step):
    yield SleepUntil(ctx.machine.clock.now + step.args["duration"])


def _fmt(n: int) -> str:
    from memsim.units import format_size
    return format_size(n)


def run_expect(ctx, step):
    a = step.args
    data = ctx.data
    where = step.where
    if a.get("errno") is not None:
        want = a["errno"]
        got = data.errno
        if got != want:
            last = data.errno_step.op if data.errno_step is not None else "the previous step"
            raise ExpectationFailed(step.arg_where.get("errno", where),
                                    f"expected the previous operation to fail with {want}, but "
                                    + (f"{last} failed with {got}" if got else "it succeeded"),
                                    "check the step before this expect")
        data.errno = None
        data.errno_step = None
    elif data.errno is not None:
        ctx.run._unexpected_errno(data)
    if a.get("rss"):
        rss = ctx.machine.rss(ctx.task)
        bad = []
        for key, want in a["rss"].items():
            got = rss[RSS_KEYS[key]] * PAGE_SIZE
            if got != want:
                bad.append(f"{key} is {_fmt(got)} ({got} bytes), expected {_fmt(want)}")
        if bad:
            raise ExpectationFailed(step.arg_where.get("rss", where), "rss " + "; ".join(bad),
                                    "the counters include every task's cached deltas")
    if a.get("meminfo"):
        info = ctx.machine.meminfo()
        for key, want in a["meminfo"].items():
            if key not in info:
                ctx.fail(f"memsim does not model /proc/meminfo {key!r} yet",
                         f"use one of {', '.join(info)}", "meminfo")
            if info[key] != want:
                raise ExpectationFailed(step.arg_where.get("meminfo", where),
                                        f"meminfo {key} is {_fmt(info[key])} ({info[key]} bytes), "
                                        f"expected {_fmt(want)}", "see /proc/meminfo in the --json summary")
    if a.get("buddyinfo"):
        counts = ctx.machine.buddy_counts()
        for key, want in a["buddyinfo"].items():
            got = counts.get(key)
            if got is None:
                ctx.fail(f"no zone {key!r} on this machine", f"zones: {', '.join(counts)}", "buddyinfo")
            if list(got) != list(want):
                raise ExpectationFailed(step.arg_where.get("buddyinfo", where),
                                        f"buddyinfo {key} is {got}, expected {list(want)}",
                                        "free blocks per order 0..10, as /proc/buddyinfo prints them")
    _expect_plugin_keys(ctx, a)


def _expect_plugin_keys(ctx, a):
    """The check of every key a plugin added to expect (memsim.registry.ExpectKey) that the
    step gives, in the order the plugins registered them."""
    for name, key in ctx.registries.extensions.expect_keys.items():
        value = a.get(name)
        if value is not None:
            key.check(ctx, value)


RUNS = {"mmap": run_mmap, "munmap": run_munmap, "mprotect": run_mprotect, "touch": run_touch,
        "write": run_write, "read": run_read, "fork": run_fork, "exit": run_exit,
        "sleep": run_sleep, "expect": run_expect}


@hookimpl
def memsim_register_steps(steps):
    for st in core_step_types(RUNS, plugin="core_steps"):
        steps.add(st)
