"""The hugetlb plugin's workload steps: ``alloc_contig_range`` / ``free_contig_range`` (a
virtio-mem style driver taking a physical range) and ``cma_alloc`` / ``cma_release``.

Each binds the range it got to a ``name`` the matching release step refers to; a failure sets
the kernel's errno (``expect: {errno: EBUSY}``).
"""
from __future__ import annotations

from typing import Any, Generator, Mapping

from memsim.registry import Param, StepType

ENOMEM, EBUSY, EINVAL = 12, 16, 22
_NAMES = {EBUSY: "EBUSY", ENOMEM: "ENOMEM", EINVAL: "EINVAL", 4: "EINTR"}
MIGRATE_MOVABLE, MIGRATE_CMA = 1, 4
GFP_KERNEL = 0xCC0
#: emulated cost of the system call / driver entry
CALL_NS = 500


def _ranges(ctx) -> dict:
    return ctx.machine.plugin_state.setdefault("hugetlb.ranges", {})


def run_alloc_contig_range(ctx, step) -> Generator:
    a = step.args
    pm = ctx.machine.physmem
    start, nr = a["start"], a["nr_pages"]
    if start + nr > pm.max_pfn:
        ctx.fail(f"alloc_contig_range [{start:#x}, {start + nr:#x}) ends beyond the last pfn "
                 f"{pm.max_pfn - 1:#x}", "give a range inside the machine's memory", key="start")
    ctx.advance(CALL_NS)
    ret = yield from pm.alloc_contig_range_gen(start, start + nr, MIGRATE_MOVABLE, GFP_KERNEL)
    if ret:
        ctx.set_errno(_NAMES.get(-ret, "EINVAL"), f"alloc_contig_range [{start:#x}, {start + nr:#x})")
        return
    _ranges(ctx)[(ctx.task.pid, a["name"])] = ("contig", None, start, nr)


def run_free_contig_range(ctx, step) -> None:
    a = step.args
    got = _ranges(ctx).pop((ctx.task.pid, a["name"]), None)
    ctx.advance(CALL_NS)
    if got is None or got[0] != "contig":
        ctx.set_errno("EINVAL", f"free_contig_range: {a['name']} holds no range (its allocation failed)")
        return
    ctx.machine.physmem.free_contig_range(got[2], got[3])


def run_cma_alloc(ctx, step) -> Generator:
    from memsim.plugins.hugetlb.cma import cma_alloc
    a = step.args
    areas = ctx.machine.plugin_state.get("hugetlb.cma", [])
    if a["area"] >= len(areas):
        ctx.fail(f"cma_alloc: area {a['area']} does not exist (the machine has {len(areas)} CMA "
                 f"area{'s' if len(areas) != 1 else ''})", "declare it in machine.cma", key="area")
    ctx.advance(CALL_NS)
    pfn, ret = yield from cma_alloc(ctx.machine, areas[a["area"]], a["count"], a["align"])
    if pfn is None:
        ctx.set_errno("ENOMEM", f"cma_alloc of {a['count']} pages from cma{a['area']} "
                      f"(last alloc_contig_range: {_NAMES.get(-ret, ret)})")
        return
    _ranges(ctx)[(ctx.task.pid, a["name"])] = ("cma", a["area"], pfn, a["count"])


def run_cma_release(ctx, step) -> None:
    from memsim.plugins.hugetlb.cma import cma_release
    a = step.args
    got = _ranges(ctx).pop((ctx.task.pid, a["name"]), None)
    ctx.advance(CALL_NS)
    if got is None or got[0] != "cma":
        ctx.set_errno("EINVAL", f"cma_release: {a['name']} holds no CMA pages (cma_release returns false)")
        return
    areas = ctx.machine.plugin_state["hugetlb.cma"]
    cma_release(ctx.machine, areas[got[1]], got[2], got[3])


_NAME = Param("name", "str", "a name for the range, for the step that releases it", required=True,
              defines="range")
_REF = Param("name", "str", "the range to give back (an earlier step's name)", required=True,
             refers="range")


def step_types():
    return (
        StepType("alloc_contig_range", "take a physical range as a virtio-mem driver does "
                 "(alloc_contig_range, MIGRATE_MOVABLE): in-use pages are migrated, free huge pages "
                 "replaced (hugetlb-contig-dissolve); sets EBUSY, ENOMEM or EINVAL on failure", (
                     Param("start", "address", "the first pfn", required=True, minimum=0),
                     Param("nr_pages", "int", "how many pages", required=True, minimum=1),
                     _NAME), run_alloc_contig_range,
                 example="- alloc_contig_range: {start: 0x10000, nr_pages: 1024, name: r}"),
        StepType("free_contig_range", "give back a range alloc_contig_range took (free_contig_range)",
                 (_REF,), run_free_contig_range, example="- free_contig_range: {name: r}"),
        StepType("cma_alloc", "take pages from a CMA area (cma_alloc); ENOMEM when no run of the "
                 "area could be had", (
                     Param("area", "int", "the area: its index in machine.cma", default=0, minimum=0),
                     Param("count", "int", "how many pages", required=True, minimum=1),
                     Param("align", "int", "the alignment, as an order (0: a page)", default=0,
                           minimum=0, maximum=18),
                     _NAME), run_cma_alloc, example="- cma_alloc: {count: 512, align: 9, name: buf}"),
        StepType("cma_release", "give pages back to their CMA area (cma_release); EINVAL when the "
                 "name holds none", (_REF,), run_cma_release, example="- cma_release: {name: buf}"),
    )
