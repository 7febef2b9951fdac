"""The userfaultfd plugin's workload steps: the system call, each ioctl, read and poll, named
after the kernel's (``userfaultfd``, ``uffdio_api``, ``uffdio_register``, ...), and the
``expect: {result: ...}`` key that checks what the last of them returned.

A range is a mapping's ``vma`` with ``offset`` and ``length`` (as ``touch`` takes it), or an
absolute ``addr`` with ``length`` -- which may be anything, for the misuse the kernel must
refuse (unaligned, zero, beyond TASK_SIZE).  A failure sets the kernel's errno for ``expect:
{errno: ...}``; the output fields the call wrote (even when it failed: ``copy`` = -17, or a
partial 8192 with EAGAIN) are the step's result.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from memsim.errors import InvalidValue
from memsim.registry import ExpectKey, Param, StepType

from . import api, uapi

PAGE_SIZE = 4096


def _results(ctx) -> Dict[int, Dict[str, Any]]:
    return ctx.machine.plugin_state.setdefault("userfaultfd.results", {})


def _set_result(ctx, **fields) -> None:
    _results(ctx)[ctx.task.pid] = dict(fields)


def _fd(ctx, key: str = "uffd") -> int:
    return ctx.data.fds.get(ctx.step.args[key], -1)


def _bits(names, table: Dict[str, int]) -> int:
    v = 0
    for n in names or ():
        v |= table[n] if isinstance(n, str) else int(n)
    return v


def _range(ctx, vma_key: str = "vma", offset_key: str = "offset", addr_key: str = "addr"):
    """(start, length) of the step's range: vma + offset + length, or addr + length."""
    a = ctx.step.args
    if a.get(addr_key) is not None:
        length = a.get("length")
        if length is None:
            ctx.fail(f"{addr_key} needs a length", "give length", addr_key)
        return a[addr_key], length
    m = ctx.mapping(vma_key)
    offset = a.get(offset_key) or 0
    length = a.get("length")
    if length is None:
        length = m.end - m.start - offset
    return m.start + offset, length


def _call(ctx, fn, *args, field: str = None, **fields):
    """Run an api call; a UffdError becomes the step's errno, its output fields the result."""
    try:
        r = fn(ctx.machine, ctx.task, *args)
    except api.UffdError as e:
        _set_result(ctx, **e.out)
        ctx.set_errno(e.errno, e.detail)
        return None
    return r


def run_userfaultfd(ctx, step):
    a = step.args
    flags = _bits(a["flags"], uapi.SYSCALL_FLAGS)
    ctx.data.fds.pop(a["name"], None)
    fn = api.dev_userfaultfd if a["dev"] else api.userfaultfd
    fd = _call(ctx, fn, flags)
    if fd is not None:
        ctx.data.fds[a["name"]] = fd
        _set_result(ctx, fd=fd)


def run_uffdio_api(ctx, step):
    a = step.args
    features = _bits(a["features"], uapi.FEATURES)
    r = _call(ctx, api.uffdio_api, _fd(ctx), a["api"], features)
    if r is not None:
        _set_result(ctx, **r)


def run_uffdio_register(ctx, step):
    a = step.args
    start, length = _range(ctx)
    r = _call(ctx, api.uffdio_register, _fd(ctx), start, length, _bits(a["mode"], uapi.REGISTER_MODES))
    if r is not None:
        _set_result(ctx, ioctls=r)


def run_uffdio_unregister(ctx, step):
    start, length = _range(ctx)
    if _call(ctx, api.uffdio_unregister, _fd(ctx), start, length) is None and ctx.failed:
        return
    _set_result(ctx)


def run_uffdio_wake(ctx, step):
    start, length = _range(ctx)
    _call(ctx, api.uffdio_wake, _fd(ctx), start, length)


def _src(ctx):
    a = ctx.step.args
    if a.get("src_addr") is not None:
        return a["src_addr"]
    if a.get("src") is None:
        ctx.fail(f"{ctx.step.op} needs a source: src (a mapping) or src_addr", "give src: NAME", "src")
    m = ctx.mapping("src")
    return m.start + (a.get("src_offset") or 0)


def run_uffdio_copy(ctx, step):
    a = step.args
    start, length = _range(ctx)
    r = _call(ctx, api.uffdio_copy, _fd(ctx), start, _src(ctx), length, _bits(a["mode"], uapi.MODES["copy"]))
    if r is not None:
        _set_result(ctx, copy=r)


def run_uffdio_move(ctx, step):
    """UFFDIO_MOVE: the destination is the step's range, the source src (+ src_offset) or
    src_addr, the same length."""
    a = step.args
    start, length = _range(ctx)
    r = _call(ctx, api.uffdio_move, _fd(ctx), start, _src(ctx), length, _bits(a["mode"], uapi.MODES["move"]))
    if r is not None:
        _set_result(ctx, move=r)


def _simple_fill(name: str, fn, field: str):
    def run(ctx, step):
        start, length = _range(ctx)
        r = _call(ctx, fn, _fd(ctx), start, length, _bits(step.args["mode"], uapi.MODES[name]))
        if r is not None:
            _set_result(ctx, **{field: r})
    return run


def run_uffdio_writeprotect(ctx, step):
    start, length = _range(ctx)
    _call(ctx, api.uffdio_writeprotect, _fd(ctx), start, length,
          _bits(step.args["mode"], uapi.MODES["writeprotect"]))


def run_uffd_read(ctx, step):
    """read(2) of the userfaultfd: ``count`` messages' worth of buffer; the messages read become
    the result ({messages: [...]}) and are checked against ``expect`` in order."""
    a = step.args
    size = a["size"] if a["size"] is not None else a["count"] * uapi.MSG_SIZE
    try:
        msgs = yield from api.read(ctx.machine, ctx.task, _fd(ctx), size)
    except api.UffdError as e:
        _set_result(ctx)
        ctx.set_errno(e.errno, e.detail)
        return
    decoded = [uapi.decode_msg(m) for m in msgs]
    _set_result(ctx, messages=decoded, bytes=len(msgs) * uapi.MSG_SIZE)
    if a["fork_uffd"] is not None:
        forks = [m for m in decoded if m.get("event") == "fork"]
        if len(forks) != 1:
            raise ctx.expectation_failed(f"read {len(forks)} FORK messages, expected one to name "
                                         f"its fd {a['fork_uffd']!r}",
                                         "read after the fork, one message at a time", "fork_uffd")
        ctx.data.fds[a["fork_uffd"]] = forks[0]["ufd"]
    for i, want in enumerate(a["expect"] or ()):
        if i >= len(decoded):
            raise ctx.expectation_failed(f"read {len(decoded)} message(s), expected at least {i + 1}",
                                         "more faults must be queued before this read", "expect")
        _check_msg(ctx, decoded[i], want, i)


def _check_msg(ctx, got: Dict[str, Any], want: Dict[str, Any], i: int) -> None:
    for key, value in want.items():
        if key == "flags":
            value = _bits(value, uapi.PAGEFAULT_FLAGS) if isinstance(value, (list, tuple)) else value
        elif key in ("address", "start", "end", "from", "to") and isinstance(value, Mapping):
            m = ctx.data.mappings.get(value["vma"])
            if m is None:
                ctx.fail(f"no mapping named {value['vma']!r}", "name a mapping of this task", "expect")
            value = m.start + value.get("offset", 0)
        elif key == "ptid" and isinstance(value, str):
            value = _task_pid(ctx, value)
        if got.get(key) != value:
            shown = {k: (hex(v) if isinstance(v, int) and k in ("address", "flags", "start", "end", "from", "to")
                         else v) for k, v in got.items()}
            raise ctx.expectation_failed(
                f"message {i}: {key} is {_show(key, got.get(key))}, expected {_show(key, value)} ({shown})",
                "", "expect")


def _show(key, v):
    if key == "flags" and isinstance(v, int):
        return f"{v:#x} ({uapi.flag_names(v, uapi.PAGEFAULT_FLAGS)})"
    return hex(v) if isinstance(v, int) and key in ("address", "start", "end", "from", "to") else repr(v)


def _task_pid(ctx, name: str) -> int:
    for t in ctx.machine.tasks.values():
        if t.name == name:
            return t.pid
    ctx.fail(f"no task named {name!r}", "name a task of the workload", "expect")


def run_capset(ctx, step):
    """capset(2): the calling thread drops capabilities from its effective set (memsim's tasks
    run as root; the children it forks or clones afterwards inherit the smaller set)."""
    api.capset_drop(ctx.machine, ctx.task, [api.CAPS[c] for c in step.args["drop"]])


def run_uffd_poll(ctx, step):
    r = _call(ctx, api.poll, _fd(ctx))
    if r is not None:
        _set_result(ctx, revents=r)


def check_result(ctx, want) -> None:
    """``expect: {result: {copy: 4096}}``: the output fields of the task's last userfaultfd
    step (the struct as the kernel left it, also after a failure)."""
    got = _results(ctx).get(ctx.task.pid)
    if got is None:
        raise ctx.expectation_failed("no userfaultfd step has run in this task", "", "result")
    for key, value in want.items():
        if key not in got:
            raise ctx.expectation_failed(
                f"the last userfaultfd step has no {key!r} (it returned {sorted(got) or 'nothing'})",
                "check the field's name", "result")
        if key == "features" and isinstance(value, list):
            value = _bits(value, uapi.FEATURES)
        if got[key] != value:
            shown = hex(got[key]) if isinstance(got[key], int) and key in ("features", "ioctls", "api") else got[key]
            raise ctx.expectation_failed(f"{key} is {shown}, expected "
                                         f"{hex(value) if isinstance(value, int) and key in ('features', 'ioctls', 'api') else value}",
                                         "", "result")


def _check_names(table):
    def check(v):
        for n in v or ():
            if isinstance(n, str) and n not in table:
                raise InvalidValue(f"unknown name {n!r}", f"use one of {', '.join(table)} (or a number)")
        return v
    return check


_UFFD = Param("uffd", "str", "the userfaultfd (the name its userfaultfd step gave the fd)",
              required=True, refers="fd")
_VMA = Param("vma", "str", "the mapping the range is in (or give addr)", refers="vma")
_OFFSET = Param("offset", "size", "offset of the range in the mapping", default="0 B")
_LENGTH = Param("length", "size", "length of the range (default: to the end of the mapping)")
_ADDR = Param("addr", "address", "an absolute start address instead of vma + offset (any value: "
              "the kernel checks it)")
_RANGE = (_UFFD, _VMA, _OFFSET, _LENGTH, _ADDR)


def _mode(name: str, doc: str):
    return Param("mode", "list", doc, default=[], check=_check_names(uapi.MODES[name]))


def _need_range(args, given):
    if ("vma" in given) == ("addr" in given):
        raise InvalidValue("give either vma or addr", "vma names a mapping (with offset and length); addr is an absolute address (with length)", key="vma")
    return args


def step_types():
    flags = ", ".join(uapi.SYSCALL_FLAGS)
    return (
        StepType("userfaultfd", "create a userfaultfd (userfaultfd(2), or with dev: open "
                 "/dev/userfaultfd and USERFAULTFD_IOC_NEW on v6.18) and name its fd", (
                     Param("name", "str", "name of the new fd, for the later steps", required=True,
                           defines="fd"),
                     Param("flags", "list", f"flags: {flags}", default=[],
                           check=_check_names(uapi.SYSCALL_FLAGS)),
                     Param("dev", "bool", "through /dev/userfaultfd (v6.18)", default=False)),
                 run_userfaultfd, example="- userfaultfd: {name: uffd, flags: [O_CLOEXEC, O_NONBLOCK]}"),
        StepType("uffdio_api", "the UFFDIO_API handshake: ask for features; the result holds the "
                 "features and ioctls offered", (
                     _UFFD,
                     Param("api", "int", "the API version (UFFD_API is 0xaa)", default=0xAA),
                     Param("features", "list", "feature names (THREAD_ID, MINOR_SHMEM, ...) or bits",
                           default=[], check=_check_names(uapi.FEATURES))),
                 run_uffdio_api, example="- uffdio_api: {uffd: uffd, features: [THREAD_ID]}"),
        StepType("uffdio_register", "UFFDIO_REGISTER a range in modes MISSING, WP, MINOR; the "
                 "result's ioctls is the mask the kernel returns", _RANGE + (
                     Param("mode", "list", "MISSING, WP, MINOR (or bits)", required=True,
                           check=_check_names(uapi.REGISTER_MODES)),),
                 run_uffdio_register, check=_need_range,
                 example="- uffdio_register: {uffd: uffd, vma: guest, mode: [MINOR]}"),
        StepType("uffdio_unregister", "UFFDIO_UNREGISTER a range", _RANGE, run_uffdio_unregister,
                 check=_need_range, example="- uffdio_unregister: {uffd: uffd, vma: guest}"),
        StepType("uffdio_wake", "UFFDIO_WAKE the threads sleeping on faults in a range", _RANGE,
                 run_uffdio_wake, check=_need_range,
                 example="- uffdio_wake: {uffd: uffd, vma: guest, length: 4 KiB}"),
        StepType("uffdio_copy", "UFFDIO_COPY: fill a range with the bytes of the caller's src; "
                 "the result's copy is what the kernel wrote", _RANGE + (
                     Param("src", "str", "the source mapping (or give src_addr)", refers="vma"),
                     Param("src_offset", "size", "offset in the source mapping", default="0 B"),
                     Param("src_addr", "address", "an absolute source address"),
                     _mode("copy", "DONTWAKE, WP")),
                 run_uffdio_copy, check=_need_range,
                 example="- uffdio_copy: {uffd: uffd, vma: guest, length: 4 KiB, src: staging}"),
        StepType("uffdio_move", "UFFDIO_MOVE (v6.18): move the private anonymous pages of src to "
                 "the registered, empty range without copying; the result's move is what the "
                 "kernel wrote", _RANGE + (
                     Param("src", "str", "the source mapping (or give src_addr)", refers="vma"),
                     Param("src_offset", "size", "offset in the source mapping", default="0 B"),
                     Param("src_addr", "address", "an absolute source address"),
                     _mode("move", "DONTWAKE, ALLOW_SRC_HOLES")),
                 run_uffdio_move, check=_need_range,
                 example="- uffdio_move: {uffd: uffd, vma: guest, length: 4 KiB, src: staging}"),
        StepType("uffdio_zeropage", "UFFDIO_ZEROPAGE: fill a range with zero pages", _RANGE + (
            _mode("zeropage", "DONTWAKE"),), _simple_fill("zeropage", api.uffdio_zeropage, "zeropage"),
                 check=_need_range, example="- uffdio_zeropage: {uffd: uffd, vma: guest, length: 4 KiB}"),
        StepType("uffdio_continue", "UFFDIO_CONTINUE: map the pages the page cache holds (minor "
                 "faults); the result's mapped is what the kernel wrote", _RANGE + (
                     _mode("continue", "DONTWAKE, WP (v6.18)"),),
                 _simple_fill("continue", api.uffdio_continue, "mapped"), check=_need_range,
                 example="- uffdio_continue: {uffd: uffd, vma: guest, length: 4 KiB}"),
        StepType("uffdio_poison", "UFFDIO_POISON (v6.18): poison the unpopulated pages of a range",
                 _RANGE + (_mode("poison", "DONTWAKE"),),
                 _simple_fill("poison", api.uffdio_poison, "updated"), check=_need_range,
                 example="- uffdio_poison: {uffd: uffd, vma: guest, length: 4 KiB}"),
        StepType("uffdio_writeprotect", "UFFDIO_WRITEPROTECT a range (mode WP) or lift it (no WP)",
                 _RANGE + (_mode("writeprotect", "WP, DONTWAKE"),), run_uffdio_writeprotect,
                 check=_need_range,
                 example="- uffdio_writeprotect: {uffd: uffd, vma: buf, mode: [WP]}"),
        StepType("uffd_read", "read(2) messages from a userfaultfd (sleeps until one is queued, "
                 "or EAGAIN with O_NONBLOCK); checks them against expect", (
                     _UFFD,
                     Param("count", "int", "messages the buffer holds", default=1, minimum=1),
                     Param("size", "int", "the buffer's size in bytes instead (EINVAL under 32)",
                           minimum=0),
                     Param("expect", "list", "the messages expected, in order: {event, flags, "
                           "address, ptid (a number or a task name); start and end of remove and "
                           "unmap, from, to and len of remap, ufd of fork}; an address may be "
                           "{vma, offset}"),
                     Param("fork_uffd", "str", "a name for the fd a FORK message installs (the "
                           "child's userfaultfd), for the later steps of this task; the read must "
                           "bring exactly one FORK message", defines="fd")),
                 run_uffd_read,
                 example="- uffd_read: {uffd: uffd, expect: [{flags: [MINOR], address: {vma: guest}}]}\n"
                         "- uffd_read: {uffd: uffd, expect: [{event: fork}], fork_uffd: child_uffd}"),
        StepType("capset", "drop capabilities from the calling thread's effective set (capset(2)); "
                 "tasks run as root until they do; children inherit the set", (
                     Param("drop", "list", f"capabilities: {', '.join(api.CAPS)}", required=True,
                           check=_check_names(api.CAPS)),),
                 run_capset, example="- capset: {drop: [CAP_SYS_PTRACE]}"),
        StepType("uffd_poll", "poll(2) a userfaultfd; the result's revents (POLLIN 1, POLLERR 8, "
                 "POLLHUP 16)", (_UFFD,), run_uffd_poll, example="- uffd_poll: {uffd: uffd}"),
    )


def expect_key():
    return ExpectKey(Param("result", "map", "the output fields of the task's last userfaultfd "
                           "step: copy, zeropage, mapped, move, updated, ioctls, features, revents, "
                           "bytes (the fields the kernel wrote, also when the call failed)"),
                     check_result)
