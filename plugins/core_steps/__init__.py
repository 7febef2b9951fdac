"""The core workload steps: mmap, munmap, mprotect, mremap, mlock, munlock, mlockall,
munlockall, touch, write, read, fork, clone, exit,
exit_group, set_mempolicy, mbind, sleep, the file steps (mkdir, rmdir, mount, umount, read_file,
write_file) and expect.

An essential built-in plugin: registered through the ``memsim`` entry-point group like any
third-party plugin, it uses only the public surface (the registries, the step context, the
machine's mm calls).  The declarations (parameters, checks, examples) live in
:mod:`memsim.workload.core_schema`; this module adds what each step does.
"""
from __future__ import annotations

import difflib
import re
from typing import Dict, List

from memsim import vm
from memsim.errors import ExpectationFailed, InvalidValue
from memsim.hookspecs import hookimpl
from memsim.mm import RSS_NAMES, VM_EXEC, VM_READ, VM_WRITE
from memsim.sched import PREEMPT, SleepUntil
from memsim.signals import VM_FAULT_OOM, fault_signal
from memsim.units import parse_size
from memsim.vfs import (O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY, VfsError, check_write, fput,
                         vfs_read_discard)
from memsim.workload.core_schema import (
    FADV_ADVICE, FALLOC_FLAGS, FD_BASES, MADV_ADVICE, MMAP_FLAGS, OPEN_FLAGS, RSS_KEYS, core_step_types,
)
from memsim.workload.runner import Mapping, TaskData, fault_error

PAGE_SIZE = 4096
PATTERNS = {"sequential": 0, "random": 1, "strided": 2}
#: emulated time of one file system call (open, read, write, close, mkdir, mount...)
VFS_SYSCALL_NS = 500
#: what read_file asks for per read(2), as cat does
READ_CHUNK = 131072
VM_FAULT_RETRY = 0x400


def _vmas_in(mm, start, end):
    return [v for v in mm.vmas if v.vm_start < end and start < v.vm_end]


def access_error(vma, write: bool) -> bool:
    """access_error() of arch/x86/mm/fault.c: a write needs VM_WRITE, a read any of VM_READ,
    VM_WRITE, VM_EXEC."""
    if write:
        return not vma.vm_flags & VM_WRITE
    return not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)


def touch_range(ctx, start: int, end: int, write: bool, pattern: str = "sequential",
                stride: int = PAGE_SIZE, count=None, gup: bool = False, stamp: int = 0,
                kernel: bool = False):
    """Access [start, end) as the current task, ``quantum`` pages between preemption points.

    The loop over pages runs in C (MmCore.access); a fault that must wait (userfaultfd)
    blocks the task on the wait queue its handler names, then the access is retried.  A user
    access that fails raises the signal do_user_addr_fault() would (no VMA: SIGSEGV
    SEGV_MAPERR; a VMA that forbids the access: SEGV_ACCERR; VM_FAULT_SIGBUS/HWPOISON/SIGSEGV
    through mm_fault_error()) at the first byte accessed on the failing page; VM_FAULT_OOM is
    ENOMEM, unless pagefault_out_of_memory() names a wait queue (a v1 memcg OOM with
    oom_kill_disable: Machine.add_pagefault_oom), on which the task sleeps before the fault
    is taken again.  ``gup``: a kernel access (MAP_POPULATE's populate_vma_page_range), whose errors
    end it without a signal.  ``kernel``: a system call's copy to or from user memory
    (copy_to_user(), fault_in_readable()): its faults lack FAULT_FLAG_USER and one that fails
    raises no signal, the exception fixup makes the copy short.  Returns the address the
    access stopped at (``end`` when all of it was reached).
    """
    machine, task = ctx.machine, ctx.task
    core, mm = machine.mmcore, task.mm
    quantum = ctx.quantum
    addr = start

    def fail(ret, at, **kind):
        if kernel:
            return at
        if gup and not ret & 0x1:
            return at
        info = fault_signal(ret, at, memory_failure=machine.kconfig("CONFIG_MEMORY_FAILURE"), **kind)
        if info is None:
            ctx.set_errno(fault_error(ret), f"out of memory (VM_FAULT_OOM) at {at:#x}")
        else:
            ctx.force_sig_fault(info)
        return at

    for vma in sorted(_vmas_in(mm, start, end), key=lambda v: v.vm_start):
        if vma.vm_start > addr:
            return fail(0, addr, unmapped=True)
        s, e = max(start, vma.vm_start), min(end, vma.vm_end)
        if access_error(vma, write):
            return fail(0, s, access_error=True)
        n = None
        if pattern == "random":
            n = count if count is not None else (e - s + PAGE_SIZE - 1) // PAGE_SIZE
        progress = 0
        while True:
            progress, ret, at = core.access(mm, vma, s, e, write, PATTERNS[pattern], stride,
                                            n or 0, progress, quantum, stamp, not kernel)
            if task.sigkill_pending:
                return at       # the OOM killer chose this process: the runner delivers SIGKILL
            if task.notify_resume:
                yield from machine.resume_user_mode(task)      # then the access goes on
            if ret & VM_FAULT_RETRY:
                waitq = core.blocked_on
                core.blocked_on = None
                if waitq is not None:
                    yield waitq
                continue
            if ret & VM_FAULT_OOM and not kernel and not gup:
                waitq = machine.pagefault_out_of_memory(task)
                if waitq is not None:           # a memcg OOM that makes the fault wait
                    yield waitq
                    continue                    # then the fault is taken again
            if ret:
                return fail(ret, max(at, s) if at // PAGE_SIZE == s // PAGE_SIZE else at)
            total = n if pattern == "random" else (
                (e - s + stride - 1) // stride if pattern == "strided" else (e - s + PAGE_SIZE - 1) // PAGE_SIZE)
            if progress >= total:
                break
            yield PREEMPT
        addr = e
    if addr < end:
        return fail(0, addr, unmapped=True)
    return end


def wait_uffd_event(ctx):
    """userfaultfd_event_wait_completion(): a system call that raised a non-cooperative
    userfaultfd event (fork, mremap, munmap, madvise of a registered range with the event asked
    for) returns only once the monitor has read it: the op left the wait queue in
    ``MmCore.blocked_on``."""
    core = ctx.machine.mmcore
    while core.blocked_on is not None:
        waitq = core.blocked_on
        core.blocked_on = None
        yield waitq


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
    mtype, flags = _mmap_extensions(ctx, a)
    kind = mtype.base if mtype else a["type"]
    filp = None
    if kind in FD_BASES:
        # fdget(): a name whose open failed, or a closed fd, is EBADF
        try:
            filp = ctx.task.files.fget(_fd_number(ctx, a["fd"]))
        except VfsError as e:
            _vfs_error(ctx, e, f"mmap of fd {a['fd']}")
            return
        kind = "file-shared" if kind == "fd-shared" else "file"
    req = vm.MmapRequest(length=a["length"], prot=a["prot"], kind=kind,
                         file=a.get("file"), offset=a.get("offset") or 0, addr=a.get("addr"),
                         map_flags=_map_flags(ctx, a), filp=filp)
    hooks = ([mtype] if mtype is not None else []) + flags
    try:
        vma = _do_mmap_request(ctx, a, req, hooks)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
        return
    except vm.NoFilesystem as e:
        ctx.fail(e.problem, e.fix, key="type")
    finally:
        if req.filp is not None and req.filp is not filp:
            fput(req.filp)      # ksys_mmap_pgoff(): the file a prepare set up (MAP_HUGETLB's)
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
    if vma.vm_flags & vm.VM_LOCKED:
        # mlockall(MCL_FUTURE) locked it: vm_mmap_pgoff()'s mm_populate()
        vm.mm_populate(machine.mmcore, task.mm, vma.vm_start, vma.vm_end - vma.vm_start, True)
    elif req.map_flags & vm.MAP_POPULATE:
        # populate_vma_page_range(): write faults for private writable mappings, else reads
        write = req.kind == "anon" and "w" in req.prot
        yield from touch_range(ctx, vma.vm_start, vma.vm_end, write, gup=True)


def _do_mmap_request(ctx, a, req, hooks):
    """The prepares of the mmap type and flags, then do_mmap() of the request."""
    machine, task = ctx.machine, ctx.task
    for ext in hooks:
        if ext.prepare is not None:
            ext.prepare(ctx, req)
    return vm.do_mmap(machine.mmcore, task.mm, machine.files, req.length, req.prot, req.kind,
                      req.file, req.offset, req.addr, a["name"], machine.overcommit,
                      map_flags=req.map_flags, vm_flags=req.vm_flags, accountable=req.accountable,
                      align=req.align, vm_file=req.vm_file, filp=req.filp)


def run_munmap(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_munmap(ctx.machine.mmcore, ctx.task.mm, start, end - start)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
    yield from wait_uffd_event(ctx)


def run_mprotect(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_mprotect(ctx.machine.mmcore, ctx.task.mm, start, end - start, step.args["prot"],
                       ctx.machine.overcommit)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_mlock(ctx, step):
    """mlock(2) / mlock2(2): vm.do_mlock (apply_vma_lock_flags, then __mm_populate)."""
    start, end = ctx.range()
    flags = 0
    for name in step.args["flags"]:
        flags |= vm.MLOCK_FLAGS[name]
    try:
        vm.do_mlock(ctx.machine.mmcore, ctx.task.mm, start, end - start, flags)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_munlock(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_munlock(ctx.machine.mmcore, ctx.task.mm, start, end - start)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_mlockall(ctx, step):
    flags = 0
    for name in step.args["flags"]:
        flags |= vm.MCL_FLAGS[name]
    try:
        vm.do_mlockall(ctx.machine.mmcore, ctx.task.mm, flags)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_munlockall(ctx, step):
    vm.do_munlockall(ctx.machine.mmcore, ctx.task.mm)


def run_touch(ctx, step):
    a = step.args
    start, end = ctx.range()
    stamp = new_stamp(ctx) if a.get("stamp") and a["access"] == "write" else 0
    yield from touch_range(ctx, start, end, a["access"] == "write", a["pattern"],
                           a.get("stride") or PAGE_SIZE, a.get("count"), stamp=stamp)


def new_stamp(ctx) -> int:
    """A page stamp no earlier write made: the writer's pid in the top 32 bits, a machine-wide
    generation below."""
    gen = ctx.machine.plugin_state.get("core.stamp_generation", 0) + 1
    ctx.machine.plugin_state["core.stamp_generation"] = gen
    return (ctx.task.pid << 32) | gen


def _pages(start: int, length: int):
    """(page address, offset in page, chunk length) pieces of [start, start + length)."""
    addr, left = start, length
    while left > 0:
        off = addr % PAGE_SIZE
        n = min(left, PAGE_SIZE - off)
        yield addr - off, off, n
        addr += n
        left -= n


def _fd_number(ctx, name: str) -> int:
    """The fd a name stands for; -1 (EBADF at fget()) if its open failed."""
    return ctx.data.fds.get(name, -1)


def _fd_call(ctx, step, what: str, call, *args):
    """One fd system call of the task (cost, then the errno on failure); returns its result, or
    None when it failed."""
    ctx.advance(VFS_SYSCALL_NS)
    try:
        return call(*args)
    except VfsError as e:
        _vfs_error(ctx, e, what)
        return None


def _check_read_bytes(step, got: bytes, what: str) -> None:
    expected = step.args.get("expect")
    if expected is not None and got != bytes(expected):
        raise ExpectationFailed(step.arg_where.get("expect", step.where),
                                f"{what} read {_show_text(got)}, expected {_show_text(bytes(expected))}",
                                "check the writes before this read")


def _buffer(ctx, a, length: int, what: str) -> int:
    """The user address of a read's or write's ``buffer`` at ``offset``, whose ``length`` bytes
    must lie in that mapping."""
    m = ctx.mapping("buffer")
    start = m.start + (a.get("offset") or 0)
    if start + length > m.end:
        ctx.fail(f"{what} {length} bytes at offset {a.get('offset') or 0} of buffer "
                 f"{a['buffer']!r} runs past its end ({m.end - m.start} bytes)",
                 "use a smaller length or offset", "length")
    return start


def copy_user(ctx, start: int, length: int, write: bool, data: bytes = b""):
    """The kernel's copy to (``write``: copy_to_user() of ``data``) or from (copy_from_user(),
    after fault_in_iov_iter_readable()) user memory at ``start``, page by page as a kernel access
    (no FAULT_FLAG_USER: a UFFD_USER_MODE_ONLY userfaultfd refuses its faults).  Stops at the
    first page a fault cannot make accessible; ``n = yield from copy_user(...)`` is the count of
    bytes copied (from: the bytes, in a bytearray)."""
    core, mm, pm = ctx.machine.mmcore, ctx.task.mm, ctx.machine.physmem
    out = bytearray()
    done = 0
    for page, off, n in _pages(start, length):
        at = yield from touch_range(ctx, page + off, page + off + n, write, kernel=True)
        if at < page + off + n or ctx.task.sigkill_pending:
            break
        if write:
            pm.write_bytes(core.pfn_of(mm, page), off, bytes(data[done:done + n]))
        else:
            out += pm.read_bytes(core.pfn_of(mm, page), off, n)
        done += n
    return done if write else out


def run_write(ctx, step):
    a = step.args
    data = a["data"]
    if a.get("buffer") is not None:
        yield from _write_from_buffer(ctx, step)
        return
    if a.get("fd") is not None:
        files = ctx.task.files
        fd = _fd_number(ctx, a["fd"])
        ctx.advance(VFS_SYSCALL_NS)
        try:
            yield from files.write_blocking(fd, data)       # a pseudo file's store may sleep
        except VfsError as e:
            _vfs_error(ctx, e, f"write to fd {a['fd']}")
        return
    m = ctx.mapping()
    start = m.start + (a.get("offset") or 0)
    if start + len(data) > m.end:
        ctx.fail(f"writing {len(data)} bytes at offset {a.get('offset') or 0} runs past the end of "
                 f"mapping {a['vma']!r} ({m.end - m.start} bytes)", "write less, or earlier", "data")
    core, mm, pm = ctx.machine.mmcore, ctx.task.mm, ctx.machine.physmem
    pos = 0
    for page, off, n in _pages(start, len(data)):
        yield from touch_range(ctx, page + off, page + off + n, True)
        if ctx.failed:
            return
        pm.write_bytes(core.pfn_of(mm, page), off, bytes(data[pos:pos + n]))
        pos += n


def _write_from_buffer(ctx, step):
    """ksys_write() from user memory: the fd's checks (EBADF, EINVAL), then
    generic_perform_write()'s fault-in and copy of the buffer; a buffer none of which can be
    read is EFAULT, one read in part a short write."""
    a = step.args
    files = ctx.task.files
    ctx.advance(VFS_SYSCALL_NS)
    try:
        check_write(files.fget(_fd_number(ctx, a["fd"])))
    except VfsError as e:
        _vfs_error(ctx, e, f"write to fd {a['fd']}")
        return
    start = _buffer(ctx, a, a["length"], "writing")
    data = yield from copy_user(ctx, start, a["length"], False)
    if ctx.task.sigkill_pending:
        return
    if not data:
        ctx.set_errno("EFAULT", f"write to fd {a['fd']}: the buffer at {start:#x} cannot be read")
        return
    try:
        yield from files.write_blocking(_fd_number(ctx, a["fd"]), bytes(data))
    except VfsError as e:
        _vfs_error(ctx, e, f"write to fd {a['fd']}")


def _read_into_buffer(ctx, step):
    """ksys_read() into user memory: the file's bytes at its position (filemap_read() and its
    kind), then copy_to_user() page by page; the position moves by the bytes copied, and a read
    that copied none is EFAULT."""
    a = step.args
    files = ctx.task.files
    start = _buffer(ctx, a, a["length"], "reading")
    got = _fd_call(ctx, step, f"read of fd {a['fd']}", files.read, _fd_number(ctx, a["fd"]),
                   a["length"])
    if got is None:
        return
    done = yield from copy_user(ctx, start, len(got), True, got)
    if ctx.task.sigkill_pending:
        return
    if done < len(got):
        files.fget(_fd_number(ctx, a["fd"])).f_pos -= len(got) - done
        if not done:
            ctx.set_errno("EFAULT", f"read of fd {a['fd']}: the buffer at {start:#x} cannot be written")
            return
    _check_read_bytes(step, got[:done], f"fd {a['fd']}")


def run_read(ctx, step):
    a = step.args
    if a.get("buffer") is not None:
        yield from _read_into_buffer(ctx, step)
        return
    if a.get("fd") is not None:
        files, fd = ctx.task.files, _fd_number(ctx, a["fd"])
        if a.get("expect") is None:     # nothing to compare: bring the pages in, build no bytes
            _fd_call(ctx, step, f"read of fd {a['fd']}",
                     lambda: vfs_read_discard(files.fget(fd), a["length"]))
            return
        got = _fd_call(ctx, step, f"read of fd {a['fd']}", files.read, fd, a["length"])
        if got is not None:
            _check_read_bytes(step, got, f"fd {a['fd']}")
        return
    m = ctx.mapping()
    start = m.start + (a.get("offset") or 0)
    length = a["length"]
    if start + length > m.end:
        ctx.fail(f"reading {length} bytes at offset {a.get('offset') or 0} runs past the end of "
                 f"mapping {a['vma']!r} ({m.end - m.start} bytes)", "read less, or earlier", "length")
    core, mm, pm = ctx.machine.mmcore, ctx.task.mm, ctx.machine.physmem
    out = bytearray()
    for page, off, n in _pages(start, length):
        yield from touch_range(ctx, page + off, page + off + n, False)
        if ctx.failed:
            return
        out += pm.read_bytes(core.pfn_of(mm, page), off, n)
    expected = a.get("expect")
    if expected is not None and bytes(out) != bytes(expected):
        raise ExpectationFailed(step.where, f"read {bytes(out)!r} at offset {a.get('offset') or 0} of "
                                f"{a['vma']!r}, expected {bytes(expected)!r}",
                                "check the writes before this read")


def run_fork(ctx, step):
    """fork(2): a child process with a copy of the mm runs the nested steps; ENOMEM (the commit
    limit under vm.overcommit_memory 2) leaves no child and the steps do not run."""
    a = step.args
    try:
        child = ctx.machine.fork(ctx.task, a["child"], a.get("cpu"))
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
        return
    data = TaskData(mappings=dict(ctx.mappings), fds=dict(ctx.data.fds), name=a["child"])
    ctx.run.add_task(child, a["steps"], data)
    yield from wait_uffd_event(ctx)


def run_exit(ctx, step):
    """SYS_exit: this thread only; the process lives on in its other threads."""
    ctx.run.exit(ctx.task, step.args.get("code") or 0)


def run_clone(ctx, step):
    """A thread of this process: its own pid and CPU, the process's tgid and mm (mm_users + 1),
    a copy of the task mempolicy, and the process's table of named mappings — the same dict,
    not a copy, since a mapping either thread creates is in their one address space."""
    a = step.args
    thread = ctx.machine.clone_thread(ctx.task, a["thread"], a.get("cpu"), a.get("comm"))
    ctx.run.add_task(thread, a["steps"], TaskData(mappings=ctx.mappings, fds=ctx.data.fds,
                                                  name=a["thread"]))


def run_exit_group(ctx, step):
    ctx.run.exit_group(ctx.task, step.args.get("code") or 0)


def _totalram(machine) -> int:
    return sum(z["managed"] for z in machine.physmem.zones_info())


def run_mremap(ctx, step):
    """mremap(2) of [start + offset, + old_length) of the named mapping; the name (or ``name``)
    then denotes the resulting range, for every thread of the process."""
    a = step.args
    m = ctx.mapping()
    size = m.end - m.start
    offset = a.get("offset") or 0
    old_length = a["old_length"] if a.get("old_length") is not None else size - offset
    if offset >= size or offset + old_length > size:
        ctx.fail(f"offset {offset} + old_length {old_length} is outside mapping {a['vma']!r} "
                 f"({size} bytes)", "keep offset + old_length within the mapping's length",
                 "old_length" if "old_length" in step.arg_where else "offset")
    flags = 0
    for name in a["flags"]:
        flags |= vm.MREMAP_FLAGS[name]
    machine = ctx.machine
    try:
        new = vm.do_mremap(machine.mmcore, ctx.task.mm, m.start + offset, old_length, a["length"],
                           flags, a.get("new_address") or 0, machine.overcommit)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
        return
    ctx.mappings[a.get("name") or a["vma"]] = Mapping(new, new + vm.page_align(a["length"]), m.kind)
    yield from wait_uffd_event(ctx)


def _mpol_args(ctx, a):
    flags = 0
    for name in a["flags"]:
        flags |= vm.MPOL_MODE_FLAG_NAMES[name]
    p = ctx.machine.profile
    return (vm.MPOL_MODES[a["mode"]], flags, a["nodes"], range(len(ctx.machine.spec.nodes)),
            p.mpol_max, p.mpol_numa_balancing_modes)


def run_set_mempolicy(ctx, step):
    try:
        vm.do_set_mempolicy(ctx.task, *_mpol_args(ctx, step.args))
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_mbind(ctx, step):
    start, end = ctx.range()
    try:
        vm.do_mbind(ctx.machine.mmcore, ctx.task.mm, start, end - start, *_mpol_args(ctx, step.args))
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)


def run_sync(ctx, step):
    vm.ksys_sync(ctx.machine.mmcore, ctx.machine.vfs.super_blocks)


def run_sleep(ctx, step):
    yield SleepUntil(ctx.machine.clock.now + step.args["duration"])


def _fmt(n: int) -> str:
    from memsim.units import format_size
    return format_size(n)


def _expect_signal(step, data, want: str, si_code) -> None:
    """expect.signal: the step before raised ``want`` and the task's handler catches it."""
    where = step.arg_where.get("signal", step.where)
    got = data.signal
    if got is None:
        did = f" (it failed with {data.errno})" if data.errno else ""
        raise ExpectationFailed(where, f"expected the previous step to raise {want}, but it raised "
                                f"no signal{did}", "check the step before this expect")
    if got.name != want:
        raise ExpectationFailed(where, f"expected {want}, but {data.signal_step.op} raised "
                                f"{got.describe()}", "check the step before this expect")
    if si_code is not None and got.code_name != si_code:
        raise ExpectationFailed(step.arg_where.get("si_code", where),
                                f"expected {want} with si_code {si_code}, but it came with "
                                f"{got.describe()}", "check the step before this expect")
    data.signal = None
    data.signal_step = None
    data.signals[-1]["caught"] = True


# -- file steps --------------------------------------------------------------------------------

def _vfs_error(ctx, e: VfsError, what: str) -> None:
    ctx.set_errno(e.errno, f"{what}: {e.detail}" if e.detail else what)


def _vfs_syscall(ctx, what: str, call, *args) -> None:
    """One VFS system call for the step: its cost, then its errno on failure."""
    ctx.advance(VFS_SYSCALL_NS)
    try:
        call(*args)
    except VfsError as e:
        _vfs_error(ctx, e, what)


def run_mkdir(ctx, step):
    a = step.args
    _vfs_syscall(ctx, f"mkdir {a['path']}", ctx.machine.vfs.do_mkdirat, a["path"], a["mode"])


def run_rmdir(ctx, step):
    a = step.args
    _vfs_syscall(ctx, f"rmdir {a['path']}", ctx.machine.vfs.do_rmdir, a["path"])


def run_mount(ctx, step):
    a = step.args
    _vfs_syscall(ctx, f"mount -t {a['type']} {a['path']}", ctx.machine.vfs.do_mount,
                 a["source"], a["path"], a["type"], a["options"])


def run_umount(ctx, step):
    a = step.args
    _vfs_syscall(ctx, f"umount {a['path']}", ctx.machine.vfs.do_umount, a["path"])


def run_open(ctx, step):
    """open(2) through the task's fd table; the name is bound to the fd, or unbound on failure."""
    a = step.args
    flags = 0
    for f in a["flags"]:
        flags |= OPEN_FLAGS[f]
    ctx.data.fds.pop(a["name"], None)
    fd = _fd_call(ctx, step, f"open {a['path']}", ctx.machine.vfs.open, ctx.task.files, a["path"],
                  flags, a["mode"])
    if fd is not None:
        ctx.data.fds[a["name"]] = fd


def run_close(ctx, step):
    a = step.args
    _fd_call(ctx, step, f"close fd {a['fd']}", ctx.task.files.close_fd, _fd_number(ctx, a["fd"]))


def run_pread(ctx, step):
    a = step.args
    files, fd = ctx.task.files, _fd_number(ctx, a["fd"])
    what = f"pread of fd {a['fd']}"
    if a.get("expect") is None:
        _fd_call(ctx, step, what, lambda: vfs_read_discard(files.fget(fd), a["length"], a["offset"]))
        return
    got = _fd_call(ctx, step, what, files.pread, fd, a["length"], a["offset"])
    if got is not None:
        _check_read_bytes(step, got, f"fd {a['fd']} at offset {a['offset']}")


def run_pwrite(ctx, step):
    a = step.args
    _fd_call(ctx, step, f"pwrite to fd {a['fd']}", ctx.task.files.pwrite, _fd_number(ctx, a["fd"]),
             a["data"], a["offset"])


def run_ftruncate(ctx, step):
    a = step.args
    _fd_call(ctx, step, f"ftruncate of fd {a['fd']}", ctx.task.files.ftruncate,
             _fd_number(ctx, a["fd"]), a["length"])


def run_unlink(ctx, step):
    a = step.args
    _vfs_syscall(ctx, f"unlink {a['path']}", ctx.machine.vfs.do_unlinkat, a["path"])


def run_fsync(ctx, step):
    a = step.args
    _fd_call(ctx, step, f"fsync of fd {a['fd']}", ctx.task.files.fsync, _fd_number(ctx, a["fd"]))


def run_fallocate(ctx, step):
    a = step.args
    mode = 0
    for f in a["mode"]:
        mode |= FALLOC_FLAGS[f]
    _fd_call(ctx, step, f"fallocate of fd {a['fd']}", ctx.task.files.fallocate,
             _fd_number(ctx, a["fd"]), mode, a["offset"], a["length"])


def run_fadvise(ctx, step):
    a = step.args
    _fd_call(ctx, step, f"fadvise of fd {a['fd']}", ctx.machine.vfs.fadvise, ctx.task.files,
             _fd_number(ctx, a["fd"]), a["offset"], a["length"], FADV_ADVICE[a["advice"]])


def run_madvise(ctx, step):
    a = step.args
    start, end = ctx.range()
    try:
        vm.do_madvise(ctx.machine.mmcore, ctx.task.mm, start, end - start, MADV_ADVICE[a["advice"]],
                      ctx.machine.vmscan)
    except vm.MmError as e:
        ctx.set_errno(e.errno, e.detail)
    yield from wait_uffd_event(ctx)


def run_read_file(ctx, step):
    """open(O_RDONLY), read until a read returns nothing, close: through the task's fd table."""
    a = step.args
    vfs, files = ctx.machine.vfs, ctx.task.files
    out = bytearray()
    try:
        ctx.advance(VFS_SYSCALL_NS)
        fd = vfs.open(files, a["path"], O_RDONLY)
        try:
            while True:
                ctx.advance(VFS_SYSCALL_NS)
                data = files.read(fd, READ_CHUNK)
                if not data:
                    break
                out += data
        finally:
            ctx.advance(VFS_SYSCALL_NS)
            files.close_fd(fd)
    except VfsError as e:
        _vfs_error(ctx, e, f"read_file {a['path']}")
        return
    want = a.get("expect")
    if want is not None and bytes(out) != want:
        raise ExpectationFailed(step.arg_where.get("expect", step.where),
                                f"{a['path']} reads {_show_text(bytes(out))}, expected {_show_text(want)}",
                                "read the file with memsim run --show PATH")


def run_write_file(ctx, step):
    """open(O_WRONLY|O_CREAT|O_TRUNC), write until all the data is taken (as stdio does after
    a short write), close: through the task's fd table.  A pseudo file whose store sleeps
    (cond_resched(), a mutex: set_max_huge_pages) lets other tasks run where it yields."""
    a = step.args
    vfs, files = ctx.machine.vfs, ctx.task.files
    data = a["data"]
    try:
        ctx.advance(VFS_SYSCALL_NS)
        fd = vfs.open(files, a["path"], O_WRONLY | O_CREAT | O_TRUNC)
        try:
            done = 0
            while done < len(data):
                ctx.advance(VFS_SYSCALL_NS)
                n = yield from files.write_blocking(fd, data[done:])
                if n <= 0:
                    break
                done += n
        finally:
            ctx.advance(VFS_SYSCALL_NS)
            files.close_fd(fd)
    except VfsError as e:
        _vfs_error(ctx, e, f"write_file {a['path']}")


def _show_text(data: bytes, limit: int = 200) -> str:
    text = repr(data.decode("utf-8", "replace"))
    return text if len(text) <= limit else text[:limit] + f"... ({len(data)} bytes)"


def parse_fields(text: str) -> Dict[str, List[str]]:
    """The ``NAME value`` / ``NAME: value`` lines of a file, as {NAME: [value, ...]}.

    A line with a colon is split at its first colon (/proc/meminfo: ``MemFree``, ``123 kB``;
    a node's meminfo: ``Node 0 MemFree``); any other line at its last blank (/proc/vmstat:
    ``nr_free_pages``, ``12``)."""
    out: Dict[str, List[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if ":" in line:
            key, _, value = line.partition(":")
        else:
            parts = line.rsplit(None, 1)
            if len(parts) < 2:
                continue
            key, value = parts
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _field(ctx, fields: Dict[str, List[str]], name: str, path: str):
    key = name.rstrip(":").strip()
    if key not in fields:
        tail = [k for k in fields if k.split()[-1:] == [key]]      # "Node 0 MemFree" for MemFree
        if len(tail) == 1:
            key = tail[0]
        else:
            close = difflib.get_close_matches(key, list(fields), 1)
            ctx.fail(f"{path} has no field {name!r}",
                     f"did you mean {close[0]!r}?" if close else
                     f"its fields are {', '.join(list(fields)[:12])}{', ...' if len(fields) > 12 else ''}",
                     "file")
    values = fields[key]
    if len(values) > 1:
        ctx.fail(f"{path} has {len(values)} lines named {key!r}",
                 "check the file with equals or contains instead", "file")
    return key, values[0]


_KB_RE = re.compile(r"^(\d+)\s*kB$")


def _same_value(ctx, path: str, key: str, got: str, want: str) -> bool:
    """A field holds ``want``: as a size where the file prints kB, as a number where it prints
    one, as text otherwise."""
    m = _KB_RE.match(got)
    if m:
        if re.fullmatch(r"[0-9]+", want.strip()):
            ctx.fail(f"{path} prints {key} in kB, and {want!r} has no unit",
                     f"write '{want.strip()} kB', or a size such as '4 MiB'", "file")
        try:
            return int(m.group(1)) * 1024 == parse_size(want)
        except InvalidValue as e:
            ctx.fail(f"{key}: {e.problem}", e.fix, "file")
    if re.fullmatch(r"-?[0-9]+", got):
        try:
            return int(got) == int(want.strip(), 0)
        except ValueError:
            ctx.fail(f"{path} prints {key} as a number, and {want!r} is not one", "write a number", "file")
    return " ".join(got.split()) == " ".join(want.split())


def _expect_file(ctx, step, spec) -> None:
    path = spec["path"]
    where = step.arg_where.get("file", step.where)
    try:
        text = ctx.machine.vfs.read_file(path).decode("utf-8", "replace")
    except VfsError as e:
        raise ExpectationFailed(where, f"cannot read {path}: {e.errno}" + (f" ({e.detail})" if e.detail else ""),
                                "check the path with memsim run --ls") from None
    if spec.get("equals") is not None:
        want = spec["equals"]
        if text != want:
            got_lines, want_lines = text.splitlines(), want.splitlines()
            first = next((i for i, (g, w) in enumerate(zip(got_lines, want_lines)) if g != w),
                         min(len(got_lines), len(want_lines)))
            got_line = got_lines[first] if first < len(got_lines) else "(end of file)"
            want_line = want_lines[first] if first < len(want_lines) else "(end of file)"
            raise ExpectationFailed(where, f"{path} differs at line {first + 1}: {got_line!r}, "
                                    f"expected {want_line!r}", "see the file with memsim run --show PATH")
        return
    if spec.get("contains") is not None:
        if spec["contains"] not in text:
            raise ExpectationFailed(where, f"{path} does not contain {spec['contains']!r}",
                                    "see the file with memsim run --show PATH")
        return
    fields = parse_fields(text)
    bad = []
    for name, want in spec["fields"].items():
        key, got = _field(ctx, fields, name, path)
        if not _same_value(ctx, path, key, got, str(want)):
            bad.append(f"{key} is {got}, expected {want}")
    if bad:
        raise ExpectationFailed(where, f"{path}: " + "; ".join(bad),
                                "if a vmstat counter lags, write /proc/sys/vm/stat_refresh first "
                                "(the per-CPU differentials fold every stat_interval)")


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
    if a.get("signal") is not None:
        _expect_signal(step, data, a["signal"], a.get("si_code"))
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
                ctx.fail(f"/proc/meminfo of {ctx.machine.profile.name} has no line {key!r}",
                         f"its lines are {', '.join(info)}", "meminfo")
            if info[key] != want:
                got = info[key]
                shown = str(got) if key.startswith("HugePages_") else f"{_fmt(got)} ({got} bytes)"
                raise ExpectationFailed(step.arg_where.get("meminfo", where),
                                        f"meminfo {key} is {shown}, expected "
                                        f"{want if key.startswith('HugePages_') else _fmt(want)}",
                                        "see /proc/meminfo with memsim run --show /proc/meminfo")
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
    if a.get("file"):
        _expect_file(ctx, step, a["file"])
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
        "sleep": run_sleep, "expect": run_expect, "mremap": run_mremap, "clone": run_clone,
        "exit_group": run_exit_group, "set_mempolicy": run_set_mempolicy, "mbind": run_mbind,
        "mkdir": run_mkdir, "rmdir": run_rmdir, "mount": run_mount, "umount": run_umount,
        "read_file": run_read_file, "write_file": run_write_file, "sync": run_sync,
        "mlock": run_mlock, "munlock": run_munlock, "mlockall": run_mlockall,
        "munlockall": run_munlockall, "open": run_open, "close": run_close, "pread": run_pread,
        "pwrite": run_pwrite, "ftruncate": run_ftruncate, "unlink": run_unlink, "fsync": run_fsync,
        "fallocate": run_fallocate, "fadvise": run_fadvise, "madvise": run_madvise}


@hookimpl
def memsim_register_steps(steps):
    for st in core_step_types(RUNS, plugin="core_steps"):
        steps.add(st)
