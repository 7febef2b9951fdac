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


KMALLOC_COST_NS = 120        # emulated time per kmalloc/kfree (and per object of the other steps)


def _objects(ctx):
    """The live addresses of the task's groups, by name (``plugin_state["kmem.objects"]``)."""
    return ctx.machine.plugin_state.setdefault("kmem.objects", {}).setdefault(ctx.task.pid, {})


def _slab(ctx):
    slab = ctx.machine.slab
    if slab is None:
        ctx.fail("this machine has no slab allocator", "reinstall memsim with its Cython extensions")
    return slab


def _gfp(ctx) -> int:
    try:
        return parse_gfp(ctx.step.args["gfp"], ctx.machine.profile)
    except InvalidValue as exc:
        ctx.fail(exc.problem, exc.fix, "gfp")


def _node(ctx) -> int:
    """The step's ``node`` (NUMA_NO_NODE when absent), checked against the machine's nodes."""
    node = ctx.step.args.get("node")
    if node is None:
        return -1
    nodes = len(ctx.machine.spec.nodes)
    if node >= nodes:
        ctx.fail(f"node {node} does not exist: the machine has {nodes} node"
                 f"{'s' if nodes != 1 else ''}", f"give a node from 0 to {nodes - 1}, or leave "
                 "node out (the local node)", "node")
    return node


def _new_group(ctx, kind: str):
    """An allocation step's group: a new entry of the object table (replacing an earlier group
    of the same name) and of the live addresses."""
    from memsim.plugins.kmem.objects import object_table
    name = ctx.step.args["name"]
    live = _objects(ctx)[name] = []
    return object_table(ctx.machine).new_group(ctx.task.pid, name, kind), live


def _freeing(ctx, kinds, step_for):
    """The group a free step names, checked: it exists in this task, it is of one of ``kinds``
    and it has not been freed.  Returns (group, live addresses)."""
    from memsim.plugins.kmem.objects import object_table
    name = ctx.step.args["name"]
    table = object_table(ctx.machine)
    g = table.get(ctx.task.pid, name)
    if g is None:
        known = table.names(ctx.task.pid)
        close = difflib.get_close_matches(name, known, 1)
        ctx.fail(f"task {ctx.task.name!r} allocated no kernel objects named {name!r}",
                 f"did you mean {close[0]!r}?" if close else
                 "free objects in the task whose step allocated them (a forked child or a thread "
                 "does not share them)", "name")
    if g.freed_at is not None:
        ctx.fail(f"the objects named {name!r} were already freed (at {g.freed_at})",
                 "free each group once", "name")
    if g.kind not in kinds:
        ctx.fail(f"the objects named {name!r} come from {_ALLOCATOR[g.kind]}, which "
                 f"{ctx.step.op} does not free", f"free them with a {step_for[g.kind]} step", "name")
    return g, _objects(ctx).pop(name, [])


_ALLOCATOR = {"kmalloc": "kmalloc", "cache": "kmem_cache_alloc", "pages": "alloc_pages"}
_FREE_STEP = {"kmalloc": "kfree", "cache": "kmem_cache_free", "pages": "free_pages"}


def _slab_object(slab, name: str, index: int, addr: int, kind: str, cache=None):
    """The KObject of an object kmalloc or kmem_cache_alloc returned (its cache from
    object_info; the pages of a large kmalloc)."""
    from memsim.plugins.kmem.objects import KObject
    if kind == "kmalloc" and addr <= 16:            # ZERO_SIZE_PTR: kmalloc(0)
        return KObject(name, index, addr, kind)
    info = slab.object_info(addr)
    if info["cache"] is None:
        return KObject(name, index, addr, kind, pfn=info["pfn"], order=info["order"])
    return KObject(name, index, addr, kind, cache=info["cache"] if cache is None else cache)


def run_kmalloc(ctx, step):
    """kmalloc() COUNT objects of SIZE bytes (from the workload's own call site)."""
    a = step.args
    slab = _slab(ctx)
    gfp = _gfp(ctx)
    node = _node(ctx)
    g, live = _new_group(ctx, "kmalloc")
    for i in range(a["count"]):
        addr = slab.kmalloc(a["size"], gfp, "workload_kmalloc", node)
        if addr == 0:
            ctx.set_errno("ENOMEM", f"kmalloc({a['size']}) failed")
            return
        live.append(addr)
        g.objects.append(_slab_object(slab, a["name"], i, addr, "kmalloc"))
        ctx.advance(KMALLOC_COST_NS)


def run_kfree(ctx, step):
    """kfree() every object a kmalloc (or kmem_cache_alloc) step of this task named NAME
    allocated; the table keeps them, freed."""
    from memsim.plugins.kmem.objects import object_table
    g, live = _freeing(ctx, ("kmalloc", "cache"), _FREE_STEP)
    object_table(ctx.machine).mark_freed(ctx.task.pid, step.args["name"], str(step.where))
    for addr in live:
        ctx.machine.slab.kfree(addr, "workload_kfree")
        ctx.advance(KMALLOC_COST_NS)


def run_kmem_cache_create(ctx, step):
    """kmem_cache_create(CACHE, SIZE, ALIGN, FLAGS, CTOR)."""
    from memsim.plugins.kmem.objects import parse_slab_flags
    a = step.args
    slab = _slab(ctx)
    if slab.find_cache(a["cache"]) is not None:
        ctx.fail(f"a slab cache named {a['cache']!r} exists already", "give the new cache another "
                 "name, or allocate from the existing one with kmem_cache_alloc", "cache")
    try:
        slab.kmem_cache_create(a["cache"], a["size"], a["align"], parse_slab_flags(a["flags"]),
                               a["ctor"])
    except InvalidValue as exc:
        ctx.fail(exc.problem, exc.fix, "flags")
    except ValueError as exc:
        problem, _, fix = str(exc).partition("; ")
        ctx.fail(problem, fix or "see kmem_cache_create in docs/workloads.md")
    ctx.advance(KMALLOC_COST_NS)


def run_kmem_cache_alloc(ctx, step):
    """kmem_cache_alloc() COUNT objects from CACHE (from the workload's own call site)."""
    a = step.args
    slab = _slab(ctx)
    cache = a["cache"]
    if slab.find_cache(cache) is None:
        names = [s.name for s in slab.caches()]
        close = difflib.get_close_matches(cache, names, 1)
        ctx.fail(f"no slab cache named {cache!r}", f"did you mean {close[0]!r}?" if close else
                 "create it with an earlier kmem_cache_create step, or name a cache of "
                 "/proc/slabinfo", "cache")
    gfp = _gfp(ctx)
    node = _node(ctx)
    g, live = _new_group(ctx, "cache")
    for i in range(a["count"]):
        addr = slab.cache_alloc(cache, gfp, "workload_kmem_cache_alloc", node)
        if addr == 0:
            ctx.set_errno("ENOMEM", f"kmem_cache_alloc({cache}) failed")
            return
        live.append(addr)
        g.objects.append(_slab_object(slab, a["name"], i, addr, "cache", cache))
        ctx.advance(KMALLOC_COST_NS)


def run_kmem_cache_free(ctx, step):
    """kmem_cache_free() every object a kmem_cache_alloc step of this task named NAME
    allocated, to its cache; the table keeps them, freed."""
    from memsim.plugins.kmem.objects import object_table
    g, live = _freeing(ctx, ("cache",), _FREE_STEP)
    object_table(ctx.machine).mark_freed(ctx.task.pid, step.args["name"], str(step.where))
    cache = g.objects[0].cache if g.objects else None
    for addr in live:
        ctx.machine.slab.cache_free(cache, addr, "workload_kmem_cache_free")
        ctx.advance(KMALLOC_COST_NS)


def run_alloc_pages(ctx, step):
    """alloc_pages() COUNT blocks of 2^ORDER pages (prep_new_page: KASAN's alloc_pages op, the
    memcg charge of __GFP_ACCOUNT)."""
    from memsim.plugins.kmem.objects import KObject
    a = step.args
    gfp = _gfp(ctx)
    node = _node(ctx)
    order = a["order"]
    g, live = _new_group(ctx, "pages")
    for i in range(a["count"]):
        pfn = ctx.machine.physmem.alloc(order, gfp, node)
        if pfn is None:
            ctx.set_errno("ENOMEM", f"alloc_pages(order {order}) failed")
            return
        addr = ctx.machine.physmem.page_address(pfn)     # page_to_virt(): KASAN's page tag
        live.append(addr)
        g.objects.append(KObject(a["name"], i, addr, "pages", pfn=pfn, order=order))
        ctx.advance(KMALLOC_COST_NS)


def run_free_pages(ctx, step):
    """__free_pages() every block an alloc_pages step of this task named NAME allocated
    (free_pages_prepare: KASAN's free_pages op, the kmem uncharge)."""
    from memsim.plugins.kmem.objects import object_table
    g, live = _freeing(ctx, ("pages",), _FREE_STEP)
    object_table(ctx.machine).mark_freed(ctx.task.pid, step.args["name"], str(step.where))
    blocks = {obj.addr: obj for obj in g.objects}
    for addr in live:
        obj = blocks[addr]
        ctx.machine.physmem.free(obj.pfn, obj.order)
        ctx.advance(KMALLOC_COST_NS)


def _check_align(value):
    if value and value & (value - 1):
        raise InvalidValue(f"align {value} is not a power of two", "give 0 (the default alignment) "
                           "or a power of two such as 8, 16 or 64")
    return value


def _check_slab_flags(text):
    from memsim.plugins.kmem.objects import check_slab_flags
    return check_slab_flags(text)


_GFP = Param("gfp", "str", "gfp flags as the kernel prints them", default="GFP_KERNEL", check=check_gfp)
_COUNT = Param("count", "int", "how many objects", default=1, minimum=1)
_NODE = Param("node", "int", "NUMA node (default: NUMA_NO_NODE, the local node)", minimum=0)


@hookimpl
def memsim_register_steps(steps):
    from memsim.plugins.kmem.objects import MAX_PAGE_ORDER
    steps.add(StepType(
        "kmalloc", "Allocate kernel objects with kmalloc() (kmem:kmalloc, slab pages from buddy).",
        (Param("name", "str", "name of this group of objects, for a later kfree", required=True,
               defines="kobj"),
         Param("size", "size", "bytes per object (above 8 KiB: pages from the buddy allocator)",
               required=True, minimum=0),
         _GFP, _COUNT, _NODE),
        run_kmalloc, plugin="kmem",
        example="- kmalloc: {name: bufs, size: 100, count: 64}\n"
                "- kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL|__GFP_ACCOUNT}"))
    steps.add(StepType(
        "kfree", "Free the objects of an earlier kmalloc (or kmem_cache_alloc) step with kfree() "
        "(kmem:kfree).",
        (Param("name", "str", "the kmalloc (or kmem_cache_alloc) step's name", required=True,
               refers="kobj"),),
        run_kfree, plugin="kmem", example="- kfree: {name: bufs}"))
    steps.add(StepType(
        "kmem_cache_create", "Create a slab cache with kmem_cache_create() (a new line of "
        "/proc/slabinfo); a name that exists is an error.",
        (Param("cache", "str", "the cache's name, for kmem_cache_alloc", required=True,
               defines="kcache"),
         Param("size", "size", "bytes per object", required=True, minimum=1, maximum=1 << 22),
         Param("align", "int", "alignment in bytes (0: the default, ARCH_SLAB_MINALIGN)", default=0,
               minimum=0, maximum=4096, check=_check_align),
         Param("ctor", "bool", "whether the cache has a constructor (its free pointer goes after "
               "the object)", default=False),
         Param("flags", "str", "SLAB_* flags joined by |, e.g. SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT",
               default="0", check=_check_slab_flags)),
        run_kmem_cache_create, plugin="kmem",
        example="- kmem_cache_create: {cache: my_cache, size: 200, flags: SLAB_HWCACHE_ALIGN}"))
    steps.add(StepType(
        "kmem_cache_alloc", "Allocate objects from a slab cache with kmem_cache_alloc() "
        "(kmem:kmem_cache_alloc).",
        (Param("cache", "str", "the cache: one a kmem_cache_create step made, or any of "
               "/proc/slabinfo", required=True),
         Param("name", "str", "name of this group of objects, for a later kmem_cache_free",
               required=True, defines="kobj"),
         _COUNT, _GFP, _NODE),
        run_kmem_cache_alloc, plugin="kmem",
        example="- kmem_cache_alloc: {cache: my_cache, name: objs, count: 8}"))
    steps.add(StepType(
        "kmem_cache_free", "Free the objects of an earlier kmem_cache_alloc step with "
        "kmem_cache_free() (kmem:kmem_cache_free).",
        (Param("name", "str", "the kmem_cache_alloc step's name", required=True, refers="kobj"),),
        run_kmem_cache_free, plugin="kmem", example="- kmem_cache_free: {name: objs}"))
    steps.add(StepType(
        "alloc_pages", "Allocate blocks of 2^order pages with alloc_pages() (kmem:mm_page_alloc).",
        (Param("name", "str", "name of this group of blocks, for a later free_pages",
               required=True, defines="kobj"),
         Param("order", "int", "each block is 2^order pages", default=0, minimum=0,
               maximum=MAX_PAGE_ORDER),
         _GFP, _COUNT, _NODE),
        run_alloc_pages, plugin="kmem",
        example="- alloc_pages: {name: blocks, order: 2, count: 4}"))
    steps.add(StepType(
        "free_pages", "Free the blocks of an earlier alloc_pages step with __free_pages() "
        "(kmem:mm_page_free).",
        (Param("name", "str", "the alloc_pages step's name", required=True, refers="kobj"),),
        run_free_pages, plugin="kmem", example="- free_pages: {name: blocks}"))
