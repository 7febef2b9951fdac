"""The kasan plugin's workload steps: checked accesses, bad frees, and KASAN's own knobs.

A pointer is written either as an object of an earlier ``kmalloc``, ``kmem_cache_alloc`` or
``alloc_pages`` step (``object: NAME``, ``index``: which of its ``count``; its pointer is the one
the allocator returned, tag included, and stays usable after a free: a stale pointer) plus an
``offset`` (negative: to the left), or as a raw ``address`` (a full 64-bit pointer, tag byte
included: ``0x2aff888000400000``); ``tag`` then replaces the pointer's top byte (0xFF: the
match-all tag of a pointer that lost its tag, e.g. through page_address of a reset page).
``caller`` names the kernel function doing the access or the free, as ``%pS`` prints it in the
report (lib/test_kasan.c's case names, or ``workload_access``).
"""
from __future__ import annotations

from memsim.errors import InvalidValue
from memsim.registry import ExpectKey, Param, StepType

ACCESS_NS = 5            # emulated time of one checked access (an inline compare)

#: the functions a step may name as its caller (memsim.tracing.kallsyms has them)
CALLERS = ("workload_access", "kmalloc_oob_right", "kmalloc_oob_left", "kmalloc_node_oob_right",
           "kmalloc_pagealloc_oob_right", "kmalloc_pagealloc_uaf", "kmalloc_pagealloc_invalid_free",
           "pagealloc_oob_right", "pagealloc_uaf", "kmalloc_large_oob_right", "kmalloc_uaf",
           "kmalloc_uaf2", "kmalloc_double_kzfree", "kmem_cache_oob", "kmem_cache_double_free",
           "kmem_cache_invalid_free", "kmem_cache_rcu_uaf", "ksize_unpoisons_memory",
           "match_all_not_assigned", "match_all_ptr_tag", "match_all_mem_tag", "kasan_wild_access",
           "workload_kfree")


def _check_caller(name):
    if name not in CALLERS:
        import difflib
        close = difflib.get_close_matches(name, CALLERS, 1)
        raise InvalidValue(f"{name!r} is not a function memsim knows",
                           f"did you mean {close[0]!r}?" if close else
                           f"use one of {', '.join(CALLERS)}")
    return name


def _pointer_params(what: str):
    return (
        Param("object", "str", f"the kmalloc / kmem_cache_alloc / alloc_pages group whose pointer "
              f"{what} (freed or not)", refers="kobj"),
        Param("index", "int", "which object of the group", default=0, minimum=0),
        Param("offset", "int", "bytes from the object's start (negative: before it)", default=0),
        Param("address", "address", "a raw pointer instead of an object, tag byte included "
              "(0x2aff888000400000)"),
        Param("tag", "int", "replace the pointer's tag (0xff: match-all)", minimum=0, maximum=0xFF),
    )


def _check_pointer(args, given):
    if ("object" in given) == ("address" in given):
        raise InvalidValue("give either object or address", "name an object of an earlier "
                           "allocation step, or a raw address")
    if "address" in given and ({"index", "offset"} & set(given)):
        raise InvalidValue("index and offset go with object", "add the offset to the address")
    return args


def _state(ctx):
    from memsim.plugins.kasan import state
    return state(ctx.machine)


def resolve_pointer(ctx, a) -> int:
    """The 64-bit pointer a step's pointer parameters stand for."""
    if a.get("address") is not None:
        ptr = a["address"] & 0xFFFFFFFFFFFFFFFF
    else:
        from memsim.plugins.kmem.objects import lookup
        obj = lookup(ctx.machine, ctx.task.pid, a["object"], a["index"])
        if obj is None:
            ctx.fail(f"no object {a['object']!r} #{a['index']} in task {ctx.task.name!r}",
                     "allocate it first (kmalloc, kmem_cache_alloc, alloc_pages) and mind count",
                     "object")
        ptr = (obj.addr + a["offset"]) & 0xFFFFFFFFFFFFFFFF
        if (ptr ^ obj.addr) >> 56:          # the offset carried into the tag byte
            ptr = (ptr & ~(0xFF << 56)) | (obj.addr & (0xFF << 56))
    if a.get("tag") is not None:
        ptr = (ptr & ~(0xFF << 56)) | (a["tag"] << 56)
    return ptr


def _ip(name: str) -> int:
    from memsim.tracing.kallsyms import call_site
    return call_site(name)


def _record_case(ctx, before: int) -> None:
    """Remember what the step's ``case`` got: the report's kind and memory tag, or none."""
    st = _state(ctx)
    label = ctx.step.args.get("case")
    if st is None or not label:
        return
    rep = st.reporter
    new = rep.reports[before:]
    st.cases[label] = (new[0].kind, new[0].memory_tag) if new else None


def run_access(ctx, step):
    """An instrumented load or store (kasan_check_range through __hwasan_{load,store}N_noabort)."""
    a = step.args
    ptr = resolve_pointer(ctx, a)
    st = _state(ctx)
    before = len(st.reporter.reports) if st is not None else 0
    if a["count"] == 1:
        ctx.machine.physmem.check_access(ptr, a["size"], a["write"], _ip(a["caller"]))
    elif st is not None:                    # a loop: every access checked, in C
        st.host.check_many(ptr, a["size"], a["write"], _ip(a["caller"]), a["count"],
                           a["size"] if a["stride"] is None else a["stride"])
    _record_case(ctx, before)
    ctx.advance(ACCESS_NS * a["count"])


def run_kfree_pointer(ctx, step):
    """kfree(ptr) of an exact pointer: stale, interior or re-tagged, as a buggy caller does;
    KASAN reports what it must and the free is skipped or done as the kernel does."""
    a = step.args
    ptr = resolve_pointer(ctx, a)
    st = _state(ctx)
    before = len(st.reporter.reports) if st is not None else 0
    slab = ctx.machine.slab
    try:
        if a["cache"]:
            if slab.find_cache(a["cache"]) is None:
                ctx.fail(f"no slab cache {a['cache']!r}", "create it with kmem_cache_create", "cache")
            slab.cache_free(a["cache"], ptr, a["caller"])
        else:
            slab.kfree(ptr, a["caller"])
    except ValueError as exc:
        ctx.fail(f"the free went wrong in a way KASAN does not catch: {exc}",
                 "turn on kasan: {mode: sw_tags} to see the report, or free a live object")
    if a.get("object") is not None:
        from memsim.plugins.kmem.objects import lookup, mark_object_freed
        obj = lookup(ctx.machine, ctx.task.pid, a["object"], a["index"])
        if obj is not None and not obj.freed and _gone(ctx, obj):
            mark_object_freed(ctx.machine, ctx.task.pid, a["object"], a["index"])
    _record_case(ctx, before)
    ctx.advance(ACCESS_NS)


def _gone(ctx, obj) -> bool:
    """Whether the free freed ``obj``: its slab slot is free, or its pages went back (a large
    kfree KASAN reported is still done in v5.14, whatever the pointer's offset)."""
    if obj.pfn is not None:
        return ctx.machine.physmem.page_info(obj.pfn)["refcount"] == 0
    return not ctx.machine.slab.object_info(obj.addr)["allocated"]


def run_kasan_poison(ctx, step):
    """kasan_poison() (or __hwasan_tag_memory): the shadow of [ptr, ptr + size) := value; a
    misaligned start or size WARNs and changes nothing."""
    st = _need(ctx)
    a = step.args
    st.host.poison(resolve_pointer(ctx, a), a["size"], a["value"])


def run_disable(ctx, step):
    """kasan_disable_current(): current->kasan_depth-- (reports suppressed while not 0)."""
    _need(ctx).reporter.kasan_disable_current(ctx.task.pid)


def run_enable(ctx, step):
    """kasan_enable_current(): current->kasan_depth++."""
    _need(ctx).reporter.kasan_enable_current(ctx.task.pid)


def run_next_tags(ctx, step):
    """Make the next kasan_random_tag() draws return these tags (a test's injection)."""
    try:
        _need(ctx).host.next_tags(step.args["tags"])
    except ValueError as exc:
        ctx.fail(str(exc).split(": ", 1)[-1], "queue at most 256 tags, each 0..255", "tags")


def _need(ctx):
    st = _state(ctx)
    if st is None:
        ctx.fail("KASAN is off", "add kasan: {mode: sw_tags} to the workload")
    return st


def check_reports(ctx, want) -> None:
    """``expect: {kasan_reports: {invalid-access: 1}}``: reports printed so far, by kind."""
    st = _state(ctx)
    from memsim.plugins.kasan.report import KINDS
    got = dict(st.reporter.counts) if st is not None else {}
    for kind, n in want.items():
        if kind not in KINDS and kind != "total":
            raise ctx.expectation_failed(f"{kind!r} is not a kind of KASAN report",
                                         f"use one of {', '.join(KINDS)} or total", "kasan_reports")
        have = sum(got.values()) if kind == "total" else got.get(kind, 0)
        if have != n:
            raise ctx.expectation_failed(
                f"{have} {kind} report(s) so far, expected {n} (reports: "
                f"{', '.join(f'{k} {v}' for k, v in sorted(got.items())) or 'none'})",
                "the run's kernel log (memsim run --dmesg FILE) has their text", "kasan_reports")


def expect_key():
    return ExpectKey(Param("kasan_reports", "map", "KASAN reports printed so far, by kind "
                           "(use-after-free, out-of-bounds, invalid-access, double-free or "
                           "invalid-free; total: all)", of=Param("kind", "int", "reports", minimum=0)),
                     check_reports, plugin="kasan")


def step_types():
    pointer = _pointer_params("is used")
    case = Param("case", "str", "a label: the report this step gets (kind, memory tag) is kept "
                 "under it for memsim compare")
    return (
        StepType("access", "A checked kernel access through a pointer (kasan_check_range): "
                 "KASAN reports a tag mismatch.",
                 pointer + (Param("size", "size", "bytes accessed (0: no check)", default=1, minimum=0),
                            Param("write", "bool", "a store (else a load)", default=False),
                            Param("count", "int", "accesses made, one after the other (a loop over "
                                  "an array)", default=1, minimum=1),
                            Param("stride", "int", "bytes between two of them (default: size)"),
                            Param("caller", "str", "the function doing the access", default="workload_access",
                                  check=_check_caller), case),
                 run_access, plugin="kasan", check=_check_pointer,
                 example="- access: {object: buf, offset: 128, size: 1, write: true, caller: kmalloc_oob_right}\n"
                         "- access: {address: 0x2aff888003f00000, size: 8}"),
        StepType("kfree_pointer", "kfree() (or kmem_cache_free() with cache) of an exact pointer: "
                 "stale, interior or re-tagged; KASAN reports a double-free or invalid-free.",
                 _pointer_params("is freed") + (
                     Param("cache", "str", "free with kmem_cache_free() to this cache instead"),
                     Param("caller", "str", "the function doing the free", default="workload_kfree",
                           check=_check_caller), case),
                 run_kfree_pointer, plugin="kasan", check=_check_pointer,
                 example="- kfree_pointer: {object: buf}            # a second kfree: double-free\n"
                         "- kfree_pointer: {object: buf, offset: 16} # an interior pointer"),
        StepType("kasan_poison", "kasan_poison(): set the shadow of a range to a tag (a misaligned "
                 "start or size WARNs and does nothing).",
                 pointer + (Param("size", "size", "bytes (a multiple of 16)", required=True, minimum=0),
                            Param("value", "int", "the memory tag to write", required=True,
                                  minimum=0, maximum=0xFF)),
                 run_kasan_poison, plugin="kasan", check=_check_pointer,
                 example="- kasan_poison: {object: buf, size: 16, value: 0xff}"),
        StepType("kasan_disable_current", "kasan_disable_current(): suppress this task's access "
                 "reports (v5.14: current->kasan_depth--).", (), run_disable, plugin="kasan",
                 example="- kasan_disable_current: {}"),
        StepType("kasan_enable_current", "kasan_enable_current(): current->kasan_depth++.", (),
                 run_enable, plugin="kasan", example="- kasan_enable_current: {}"),
        StepType("kasan_next_tags", "The tags the next kasan_random_tag() draws return, in order "
                 "(any CPU; a new slab page draws one first).",
                 (Param("tags", "list", "tags, 0..255", required=True,
                        of=Param("tag", "int", "a tag", minimum=0, maximum=0xFF)),),
                 run_next_tags, plugin="kasan", example="- kasan_next_tags: {tags: [0x12, 0x5c]}"),
    )
