"""The kmem subsystem: the core's trace events and the procfs files of physical memory.

An essential built-in plugin: it declares kmem:rss_stat, kmem:mm_page_alloc, kmem:mm_page_free,
the slab events, the per-CPU list events and the oom events (memsim.tracing.oom) for the
machine's kernel profile (the Cython core
emits them through typed slots bound from these declarations), and /proc/buddyinfo,
/proc/pagetypeinfo, /proc/zoneinfo and /proc/slabinfo (/proc/meminfo and /proc/vmstat are the
core's: memsim.mmstat).
"""
from __future__ import annotations

import difflib
from functools import lru_cache

from memsim.errors import InvalidValue
from memsim.hookspecs import hookimpl
from memsim.registry import Param, ProcFile, StepType


@hookimpl
def memsim_register_events(events, profile, patch_states):
    from memsim.tracing.kmem import kmem_events
    from memsim.tracing.migrate import migrate_events
    from memsim.tracing.oom import oom_events
    from memsim.tracing.pagemap import pagemap_events
    from memsim.tracing.vmscan import vmscan_events
    for decl in kmem_events(profile.name, patch_states.enabled("rss-stat-symbolic")):
        events.add(decl)
    for decl in pagemap_events(profile.name):     # the mm core's LRU events, emitted from C
        events.add(decl)
    for decl in vmscan_events(profile.name):      # ... and its reclaim events
        events.add(decl)
    for decl in oom_events(profile.name):         # the core's OOM killer (memsim.oom) emits them
        events.add(decl)
    for decl in migrate_events(profile.name):     # the core's migrate_pages (alloc_contig_range)
        events.add(decl)


# -- seed change rss-stat-symbolic -------------------------------------------------------------

@lru_cache(maxsize=8)
def _rss_stat_format(decl):
    """(unpack, payload text) of a kmem:rss_stat declaration, compiled once per declaration
    (its print fmt has no %p, so the machine's pointer key does not matter)."""
    from memsim.tracing.printfmt import compile_decl
    codec = decl.codec
    return (codec.unpack if codec.has_strings else codec.dec.unpack_from), compile_decl(decl).payload_tuple


def _rss_stat_lines(machine) -> list:
    """The kmem:rss_stat payloads of the machine's trace, as the ``trace`` file prints them
    (with the line's newline; CPU by CPU, each in its order).  Only the one event's print fmt
    is compiled, and once: a sweep computes this after every run."""
    events = machine.events
    if events is None or not events.is_enabled("kmem:rss_stat"):
        return []
    type_id = events.id_of("kmem:rss_stat")
    unpack, payload = _rss_stat_format(events.get("kmem:rss_stat"))
    tb = machine.trace                      # every record, when the run recorded them all
    return [payload(unpack(p)) + "\n" for cpu in range(tb.ncpus) for _, p in tb.records(cpu)
            if p[0] | p[1] << 8 == type_id]


def _rss_stat_text_bytes(machine) -> int:
    return sum(len(payload) for payload in _rss_stat_lines(machine))


def _rss_stat_unnamed(machine) -> int:
    return sum(1 for payload in _rss_stat_lines(machine) if " member=" in payload)


RSS_STAT_SYMBOLIC_MODEL = (
    "kmem:rss_stat is declared with the print format of the kernel on each side of the change. "
    "On (v5.13 and later): `type=%s` through `__print_symbolic(REC->member, TRACE_MM_PAGES)`, so "
    "a line reads `type=MM_ANONPAGES` and the format file lists the enum's numbers "
    "(`{ 1, \"MM_ANONPAGES\" }`). Off: `member=%d`, the counter's index (`member=1`), as in v5.12. "
    "The fields and their offsets are the same on both sides, so a trace.dat's records are "
    "identical and only the text and the format file's print fmt line differ; memsim's trace "
    "reader parses both.")


@hookimpl
def memsim_register_patches(patches):
    from memsim.patches import PatchImpl, PatchMetric
    patches.add(PatchImpl(
        "rss-stat-symbolic", RSS_STAT_SYMBOLIC_MODEL,
        metrics=(PatchMetric("rss_stat_text_bytes", "bytes of kmem:rss_stat payload text in the trace",
                             _rss_stat_text_bytes, "bytes"),
                 PatchMetric("rss_stat_by_index", "kmem:rss_stat lines that print the counter's index "
                             "(member=N) rather than its name", _rss_stat_unnamed, "lines")),
        events=("kmem:rss_stat",)))


def _zoneinfo(machine) -> str:
    from memsim.plugins.kmem.zoneinfo import zoneinfo_text
    return zoneinfo_text(machine)


def _pagetypeinfo(machine) -> str:
    from memsim.plugins.kmem.pagetypeinfo import pagetypeinfo_text
    return pagetypeinfo_text(machine)


def _slabinfo(machine) -> str:
    if machine.slab is None:
        return "slabinfo - version: 2.1\n"
    return machine.slab.slabinfo()


@hookimpl
def memsim_register_files(files):
    files.add(ProcFile("/proc/buddyinfo", "free blocks per order of every zone",
                       lambda m: m.physmem.buddyinfo(), plugin="kmem"))
    files.add(ProcFile("/proc/zoneinfo", "per-zone watermarks, free pages, vmstat items and "
                       "per-CPU lists (v6.18: every zone, the per-node stats, high_min/high_max)",
                       _zoneinfo, plugin="kmem"))
    files.add(ProcFile("/proc/pagetypeinfo", "free blocks per migratetype and order of every zone, "
                       "and its pageblocks per migratetype", _pagetypeinfo, plugin="kmem", mode=0o400))
    files.add(ProcFile("/proc/slabinfo", "slab caches (slabinfo 2.1)", _slabinfo, plugin="kmem",
                       mode=0o400))


# -- kmalloc / kfree workload steps ---------------------------------------------------------------

@lru_cache(maxsize=None)
def _gfp_names(profile_name: str):
    """Flag name -> mask in the show_gfp_flags table of one kernel profile."""
    from memsim.tracing.gfp import gfp_table
    return {name: mask for mask, name in gfp_table(profile_name)}


def _gfp_parts(text) -> list:
    return [part.strip() for part in str(text).split("|")]


def _is_number(part: str) -> bool:
    return part.lower().startswith("0x") or part.isdigit()


def check_gfp(text) -> str:
    """A gfp mask as the kernel prints it ("GFP_KERNEL|__GFP_ACCOUNT") or as numbers, checked
    against the flag names of every kernel profile (the workload's profile is checked when the
    step runs, by :func:`parse_gfp`); returns the text."""
    from memsim.profiles import PROFILES
    known = {}
    for profile_name in PROFILES:
        known.update(_gfp_names(profile_name))
    for part in _gfp_parts(text):
        if not _is_number(part) and part not in known:
            close = difflib.get_close_matches(part, list(known), 1)
            raise InvalidValue(f"unknown gfp flag {part!r}",
                               f"did you mean {close[0]!r}?" if close else
                               "write flags as show_gfp_flags prints them, e.g. GFP_KERNEL|__GFP_ACCOUNT")
    return text


def parse_gfp(text, profile) -> int:
    """The mask ``text`` stands for on kernel ``profile`` (a KernelProfile or its name): flag
    names as the kernel prints them, or numbers, joined with ``|``."""
    if isinstance(text, int):
        return text
    profile_name = getattr(profile, "name", profile)
    names = _gfp_names(profile_name)
    mask = 0
    for part in _gfp_parts(text):
        if _is_number(part):
            mask |= int(part, 0)
        elif part in names:
            mask |= names[part]
        else:
            raise InvalidValue(f"{part!r} is not a gfp flag of kernel {profile_name}",
                               f"use the flags show_gfp_flags prints on {profile_name}")
    return mask


KMALLOC_COST_NS = 120        # emulated time per kmalloc/kfree


def _objects(ctx):
    return ctx.machine.plugin_state.setdefault("kmem.objects", {}).setdefault(ctx.task.pid, {})


def run_kmalloc(ctx, step):
    """kmalloc() COUNT objects of SIZE bytes (from the workload's own call site)."""
    a = step.args
    slab = ctx.machine.slab
    if slab is None:
        ctx.fail("this machine has no slab allocator", "reinstall memsim with its Cython extensions")
    try:
        gfp = parse_gfp(a["gfp"], ctx.machine.profile)
    except InvalidValue as exc:
        ctx.fail(exc.problem, exc.fix, "gfp")
    objs = _objects(ctx).setdefault(a["name"], [])
    for _ in range(a["count"]):
        addr = slab.kmalloc(a["size"], gfp, "workload_kmalloc", -1 if a["node"] is None else a["node"])
        if addr == 0:
            ctx.set_errno("ENOMEM", f"kmalloc({a['size']}) failed")
            return
        objs.append(addr)
        ctx.advance(KMALLOC_COST_NS)


def run_kfree(ctx, step):
    """kfree() every object a kmalloc step of this task named NAME allocated."""
    objs = _objects(ctx).pop(step.args["name"], [])
    for addr in objs:
        ctx.machine.slab.kfree(addr, "workload_kfree")
        ctx.advance(KMALLOC_COST_NS)


@hookimpl
def memsim_register_steps(steps):
    steps.add(StepType(
        "kmalloc", "Allocate kernel objects with kmalloc() (kmem:kmalloc, slab pages from buddy).",
        (Param("name", "str", "name of this group of objects, for a later kfree", required=True,
               defines="kobj"),
         Param("size", "size", "bytes per object (above 8 KiB: pages from the buddy allocator)",
               required=True, minimum=0),
         Param("gfp", "str", "gfp flags as the kernel prints them", default="GFP_KERNEL", check=check_gfp),
         Param("count", "int", "how many objects", default=1, minimum=1),
         Param("node", "int", "NUMA node (default: NUMA_NO_NODE, the local node)", minimum=0)),
        run_kmalloc, plugin="kmem",
        example="- kmalloc: {name: bufs, size: 100, count: 64}\n"
                "- kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL|__GFP_ACCOUNT}"))
    steps.add(StepType(
        "kfree", "Free the objects of an earlier kmalloc step with kfree() (kmem:kfree).",
        (Param("name", "str", "the kmalloc step's name", required=True, refers="kobj"),),
        run_kfree, plugin="kmem", example="- kfree: {name: bufs}"))
