"""The swap plugin's workload steps: ``mkswap``, ``swapon``, ``swapoff``.

A failure sets the kernel's errno (``expect: {errno: EBUSY}``); a priority swapon(2) cannot
encode is a workload error at its line.
"""
from __future__ import annotations

from typing import Generator

from memsim.registry import Param, StepType
from memsim.plugins.swap.swapon import MAX_PRIORITY, SwapError, mkswap, sys_swapoff, sys_swapon

#: emulated cost of the system call (the header read / the device setup)
CALL_NS = 20_000


def run_mkswap(ctx, step) -> None:
    a = step.args
    ctx.advance(CALL_NS)
    try:
        mkswap(ctx.machine, a["path"], a.get("size"))
    except SwapError as e:
        ctx.set_errno(e.errno, e.detail)


def run_swapon(ctx, step) -> None:
    a = step.args
    ctx.advance(CALL_NS)
    prio = a.get("priority")
    try:
        sys_swapon(ctx.machine, a["path"], -1 if prio is None else prio)
    except SwapError as e:
        ctx.set_errno(e.errno, e.detail)


def run_swapoff(ctx, step) -> Generator:
    a = step.args
    ctx.advance(CALL_NS)
    try:
        yield from sys_swapoff(ctx.machine, a["path"])
    except SwapError as e:
        ctx.set_errno(e.errno, e.detail)


_PATH = Param("path", "str", "the swap file (on the disk at /mnt/disk) or block device "
              "(/dev/zram0: a zram device, synchronous; another /dev name: an SSD)", required=True)


def step_types():
    return (
        StepType("mkswap", "write a swap header (mkswap): a block device under /dev is created "
                 "with the size given; a missing file is created (sparse) with it; the header "
                 "claims ``size`` (default: the file's size), which may be more than the file "
                 "holds (swapon then fails with EINVAL)", (
                     _PATH,
                     Param("size", "size", "bytes the swap area has (absent: the file's size)",
                           minimum=2 * 4096),
                 ), run_mkswap, example="- mkswap: {path: /mnt/disk/swapfile, size: 64 MiB}"),
        StepType("swapon", "swapon(2): the area is used for swap, highest priority first "
                 "(equal priorities in turn); EBUSY, EINVAL, ENOENT or EPERM on failure", (
                     _PATH,
                     Param("priority", "int", "SWAP_FLAG_PREFER's priority (absent: the next "
                           "default one, -2, -3, ...)", minimum=0, maximum=MAX_PRIORITY),
                 ), run_swapon, example="- swapon: {path: /mnt/disk/swapfile, priority: 5}"),
        StepType("swapoff", "swapoff(2): every page of the area is read back in (try_to_unuse) "
                 "and the area goes; ENOMEM (the area stays, nothing lost) or EINVAL on failure",
                 (_PATH,), run_swapoff, example="- swapoff: {path: /mnt/disk/swapfile}"),
    )
