"""The kmem steps for kernel objects and their table (memsim.plugins.kmem.objects).

Scenarios: kmem_cache_create makes a cache of the geometry calculate_sizes gives (flags by
name), kmem_cache_alloc / kmem_cache_free take objects from it and give them back, alloc_pages /
free_pages take 2^order blocks from the buddy allocator; kmalloc / kfree keep their live
addresses in plugin_state["kmem.objects"] as before.  Each group is in the object table, which
other plugins read through lookup(): the pointer the allocator returned, its cache or pages,
and after a free step the stale pointer with freed=True.  Every mistake is a workload error at
its file:line:column with a fix.
"""
import textwrap

import pytest

from memsim.errors import WorkloadError
from memsim.plugins.kmem.objects import (
    KObject, ObjectTable, PAGE_OFFSET, group, lookup, object_table, parse_slab_flags, pointer_of,
    slab_flag_names,
)
from memsim.testing import Snap, run_text, trace_text


def workload(steps, memory="64 MiB", kernel="v5.14"):
    return (f"machine: {{cpus: 1, kernel: {kernel}, nodes: [{{memory: {memory}}}]}}\n"
            "tasks:\n  - name: app\n    steps:\n"
            + textwrap.indent(textwrap.dedent(steps), "      "))


def run(steps, snap=None, events=(), **kw):
    return run_text(workload(steps, **kw), plugins=(snap,) if snap else (), events=events)


def run_ok(steps, snap=None, **kw):
    r = run(steps, snap, **kw)
    assert r.error is None, r.error
    return r


def table_of(ctx, name):
    return group(ctx.machine, ctx.task.pid, name)


def slab_line(machine, cache):
    return next(line.split() for line in machine.slab.slabinfo().splitlines()
                if line.startswith(cache + " "))


# -- kmem_cache_create ------------------------------------------------------------------------------

def test_kmem_cache_create_makes_a_cache_with_the_flags_named():
    r = run_ok("""\
        - kmem_cache_create: {cache: my_cache, size: 200, flags: "SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT"}
        - kmem_cache_create: {cache: rcu_cache, size: 24, ctor: true, flags: SLAB_TYPESAFE_BY_RCU}
        - kmem_cache_create: {cache: aligned, size: 24, align: 128}
        """)
    s = r.machine.slab.find_cache("my_cache")
    flags = slab_flag_names()
    assert s.flags == flags["SLAB_HWCACHE_ALIGN"] | flags["SLAB_ACCOUNT"]
    assert (s.object_size, s.align, s.size) == (200, 64, 256)     # a cache line, 4 per 1024
    rcu = r.machine.slab.find_cache("rcu_cache")
    assert rcu.ctor and rcu.offset == 24 and rcu.size == 32       # the free pointer after it
    assert r.machine.slab.find_cache("aligned").size == 128
    assert slab_line(r.machine, "my_cache")[3] == "256"           # a line of /proc/slabinfo


def test_slab_flags_parse_by_name_or_number():
    flags = slab_flag_names()
    assert {"SLAB_HWCACHE_ALIGN", "SLAB_TYPESAFE_BY_RCU", "SLAB_ACCOUNT", "SLAB_RECLAIM_ACCOUNT",
            "SLAB_KASAN"} <= set(flags)
    assert parse_slab_flags("0") == parse_slab_flags("") == 0
    assert parse_slab_flags("SLAB_ACCOUNT | 0x2000") == flags["SLAB_ACCOUNT"] | 0x2000


def test_an_unknown_slab_flag_is_refused_with_the_closest_name():
    with pytest.raises(WorkloadError) as e:
        run("- kmem_cache_create: {cache: c, size: 64, flags: SLAB_HWCACHE_ALIGN|SLAB_ACOUNT}\n")
    assert str(e.value) == ("test.yaml:5:56: invalid kmem_cache_create.flags: unknown slab flag "
                            "'SLAB_ACOUNT'; did you mean 'SLAB_ACCOUNT'?")


def test_a_cache_name_that_exists_is_a_workload_error():
    r = run("- kmem_cache_create: {cache: anon_vma, size: 64}\n")
    assert isinstance(r.error, WorkloadError)
    assert str(r.error) == ("test.yaml:5:36: a slab cache named 'anon_vma' exists already; give "
                            "the new cache another name, or allocate from the existing one with "
                            "kmem_cache_alloc")
    with pytest.raises(WorkloadError, match="duplicate kcache name 'c'"):
        run("- kmem_cache_create: {cache: c, size: 64}\n- kmem_cache_create: {cache: c, size: 8}\n")


@pytest.mark.parametrize("args, message", [
    ("size: 0", "kmem_cache_create.size"),
    ("size: 8 MiB", "kmem_cache_create.size"),
    ("size: 64, align: 24", "align 24 is not a power of two; give 0"),
])
def test_kmem_cache_create_bounds(args, message):
    with pytest.raises(WorkloadError, match=rf"^test.yaml:5:\d+: .*{message}"):
        run(f"- kmem_cache_create: {{cache: c, {args}}}\n")


# -- kmem_cache_alloc / kmem_cache_free --------------------------------------------------------------

def test_kmem_cache_alloc_and_free_through_the_table():
    snap = Snap(lambda ctx: (table_of(ctx, "objs"),
                             list(ctx.machine.plugin_state["kmem.objects"][ctx.task.pid].get("objs", ())),
                             ctx.machine.slab.find_cache("my_cache").nr_allocated))
    r = run_ok("""\
        - kmem_cache_create: {cache: my_cache, size: 200, flags: SLAB_HWCACHE_ALIGN}
        - kmem_cache_alloc: {cache: my_cache, name: objs, count: 3}
        - snap: {label: allocated}
        - kmem_cache_free: {name: objs}
        - snap: {label: freed}
        """, snap, events=("kmem:kmem_cache_alloc", "kmem:kmem_cache_free"))
    objs, live, nr = snap.seen["allocated"]
    assert nr == 3 and live == [o.addr for o in objs]
    assert [(o.name, o.index, o.kind, o.freed, o.cache, o.pfn, o.order) for o in objs] == [
        ("objs", i, "cache", False, "my_cache", None, None) for i in range(3)]
    assert [o.addr - objs[0].addr for o in objs] == [0, 256, 512]    # address order, stride 256
    assert objs[0].addr >> 40 == PAGE_OFFSET >> 40
    freed, live, nr = snap.seen["freed"]
    assert nr == 0 and live == []
    assert freed == tuple(KObject("objs", o.index, o.addr, "cache", True, "my_cache") for o in objs)
    [pid] = r.task_data
    assert lookup(r.machine, pid, "objs", 2) == freed[2]
    assert lookup(r.machine, pid, "objs", 3) is None and lookup(r.machine, pid, "nope") is None
    text = trace_text(r)
    assert text.count("kmem_cache_alloc: call_site=workload_kmem_cache_alloc+0x24/0x60 ptr=") == 3
    assert text.count("bytes_req=200 bytes_alloc=256 gfp_flags=GFP_KERNEL\n") == 3
    frees = [line for line in text.splitlines() if "call_site=workload_kmem_cache_free+0x12/0x40" in line]
    assert len(frees) == 3 and all(line.endswith(" name=my_cache") for line in frees)


def test_kmem_cache_alloc_from_a_boot_cache():
    snap = Snap(lambda ctx: lookup(ctx.machine, ctx.task.pid, "av"))
    run_ok("""\
        - kmem_cache_alloc: {cache: anon_vma, name: av}
        - snap: {label: it}
        - kfree: {name: av}
        """, snap)
    obj = snap.seen["it"]
    assert (obj.kind, obj.cache, obj.freed) == ("cache", "anon_vma", False)


def test_an_unknown_cache_is_a_workload_error_with_the_closest_name():
    r = run("- kmem_cache_alloc: {cache: anon_vmaa, name: x}\n")
    assert isinstance(r.error, WorkloadError)
    assert str(r.error) == "test.yaml:5:35: no slab cache named 'anon_vmaa'; did you mean 'anon_vma'?"
    r = run("- kmem_cache_alloc: {cache: zzzzzz, name: x}\n")
    assert str(r.error).endswith("no slab cache named 'zzzzzz'; create it with an earlier "
                                 "kmem_cache_create step, or name a cache of /proc/slabinfo")


def test_count_below_one_and_a_node_the_machine_lacks_are_refused():
    with pytest.raises(WorkloadError, match=r"^test.yaml:5:\d+: kmem_cache_alloc.count"):
        run("- kmem_cache_alloc: {cache: anon_vma, name: x, count: 0}\n")
    r = run("- kmem_cache_alloc: {cache: anon_vma, name: x, node: 1}\n")
    assert str(r.error) == ("test.yaml:5:60: node 1 does not exist: the machine has 1 node; give a "
                            "node from 0 to 0, or leave node out (the local node)")


# -- alloc_pages / free_pages -------------------------------------------------------------------

def test_alloc_pages_and_free_pages():
    def look(ctx):
        objs = table_of(ctx, "blocks")
        return objs, [ctx.machine.physmem.page_info(o.pfn) for o in objs]
    snap = Snap(look)
    r = run_ok("""\
        - alloc_pages: {name: blocks, order: 2, count: 2, gfp: GFP_KERNEL|__GFP_COMP}
        - snap: {label: allocated}
        - free_pages: {name: blocks}
        - snap: {label: freed}
        """, snap, events=("kmem:mm_page_alloc", "kmem:mm_page_free"))
    objs, pages = snap.seen["allocated"]
    assert [(o.kind, o.order, o.cache, o.freed) for o in objs] == [("pages", 2, None, False)] * 2
    assert all(o.addr == PAGE_OFFSET + (o.pfn << 12) for o in objs)
    assert [(p["refcount"], p["compound_order"], p["buddy"]) for p in pages] == [(1, 2, False)] * 2
    objs, pages = snap.seen["freed"]
    assert all(o.freed for o in objs) and all(p["refcount"] == 0 for p in pages)
    text = trace_text(r)
    for o in objs:
        assert f"pfn={o.pfn:#x} order=2 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_COMP" in text
        assert f"mm_page_free: page=" in text and f"pfn={o.pfn:#x} order=2\n" in text


def test_alloc_pages_of_a_too_large_order_is_refused():
    with pytest.raises(WorkloadError, match=r"^test.yaml:5:\d+: alloc_pages.order"):
        run("- alloc_pages: {name: b, order: 11}\n")


def test_a_failed_alloc_pages_sets_enomem():
    snap = Snap(lambda ctx: table_of(ctx, "b"))
    run_ok("""\
        - alloc_pages: {name: b, order: 10, count: 64, gfp: GFP_NOWAIT}
        - expect: {errno: ENOMEM}
        - snap: {label: after}
        - free_pages: {name: b}
        """, snap)
    got = snap.seen["after"]
    assert 0 < len(got) < 64 and all(o.order == 10 for o in got)


# -- kmalloc / kfree ----------------------------------------------------------------------------

def test_kmalloc_objects_are_in_the_table_and_the_live_addresses_as_before():
    def look(ctx):
        return {n: table_of(ctx, n) for n in ("small", "big", "zero")}, \
            {n: list(v) for n, v in ctx.machine.plugin_state["kmem.objects"][ctx.task.pid].items()}
    snap = Snap(look)
    run_ok("""\
        - kmalloc: {name: small, size: 100, count: 2}
        - kmalloc: {name: big, size: 12 KiB}
        - kmalloc: {name: zero, size: 0}
        - snap: {label: allocated}
        - kfree: {name: small}
        - kfree: {name: big}
        - snap: {label: freed}
        """, snap)
    objs, live = snap.seen["allocated"]
    assert [(o.kind, o.cache, o.freed) for o in objs["small"]] == [("kmalloc", "kmalloc-128", False)] * 2
    [big] = objs["big"]
    assert (big.cache, big.order, big.addr) == (None, 2, PAGE_OFFSET + (big.pfn << 12))
    assert objs["zero"] == (KObject("zero", 0, 16, "kmalloc"),)      # ZERO_SIZE_PTR
    assert live == {"small": [o.addr for o in objs["small"]], "big": [big.addr], "zero": [16]}
    objs2, live = snap.seen["freed"]
    assert live == {"zero": [16]}
    assert [o.freed for o in objs2["small"] + objs2["big"]] == [True] * 3
    assert [o.addr for o in objs2["small"]] == [o.addr for o in objs["small"]]    # stale pointers


def test_kfree_of_pages_and_kmem_cache_free_of_kmalloc_name_the_right_step():
    r = run("- alloc_pages: {name: b}\n- kfree: {name: b}\n")
    assert str(r.error) == ("test.yaml:6:23: the objects named 'b' come from alloc_pages, which "
                            "kfree does not free; free them with a free_pages step")
    r = run("- kmalloc: {name: k, size: 8}\n- kmem_cache_free: {name: k}\n")
    assert str(r.error).endswith("the objects named 'k' come from kmalloc, which kmem_cache_free "
                                 "does not free; free them with a kfree step")
    r = run("- kmalloc: {name: k, size: 8}\n- free_pages: {name: k}\n")
    assert "free them with a kfree step" in str(r.error)


def test_a_second_free_of_a_group_is_a_workload_error():
    r = run("- kmalloc: {name: k, size: 8}\n- kfree: {name: k}\n- kfree: {name: k}\n")
    assert str(r.error) == ("test.yaml:7:23: the objects named 'k' were already freed (at "
                            "test.yaml:6:9); free each group once")


def test_free_of_a_group_the_task_does_not_hold():
    with pytest.raises(WorkloadError, match="kfree.name 'nope' names no kobj defined earlier"):
        run("- kfree: {name: nope}\n")
    # the forked child knows the name, but the objects are its parent's
    r = run("""\
        - kmalloc: {name: k, size: 8}
        - fork:
            child: kid
            steps:
              - kfree: {name: k}
        """)
    assert str(r.error) == ("test.yaml:9:29: task 'kid' allocated no kernel objects named 'k'; "
                            "free objects in the task whose step allocated them (a forked child "
                            "or a thread does not share them)")


# -- pointer_of ---------------------------------------------------------------------------------

def test_pointer_of_keeps_or_replaces_the_tag():
    obj = KObject("k", 0, 0x34FF888000001040, "kmalloc", cache="kmalloc-64")
    assert pointer_of(obj) == obj.addr
    assert pointer_of(obj, 64) == 0x34FF888000001080                # one past: keeps the tag
    assert pointer_of(obj, -8, tag=0xFF) == 0xFFFF888000001038
    assert pointer_of(obj, tag=0) == 0x00FF888000001040
    with pytest.raises(ValueError, match="give 0 to 255"):
        pointer_of(obj, tag=256)


def test_the_table_is_per_machine():
    r = run_ok("- kmalloc: {name: k, size: 8}\n- kmalloc: {name: j, size: 8}\n")
    [pid] = r.task_data
    assert object_table(r.machine).names(pid) == ["k", "j"]
    assert object_table(run_ok("- sleep: {duration: 1 ms}\n").machine).names(pid) == []


def test_a_new_allocation_with_the_same_name_replaces_the_group():
    """The loader gives each group name of a task once; the table itself lets a later allocation
    replace a group (freed or not), as a plugin's own steps may."""
    table = ObjectTable()
    old = table.new_group(1000, "k", "kmalloc")
    old.objects.append(KObject("k", 0, PAGE_OFFSET + 0x1000, "kmalloc", cache="kmalloc-8"))
    table.mark_freed(1000, "k", "w.yaml:6:9")
    assert table.get(1000, "k").objects[0].freed and table.get(1000, "k").freed_at == "w.yaml:6:9"
    new = table.new_group(1000, "k", "pages")
    assert table.get(1000, "k") is new and new.objects == [] and new.freed_at is None
    assert table.get(1001, "k") is None and table.names(1000) == ["k"]


def test_an_accounted_alloc_pages_is_charged_as_kmem_and_uncharged_by_free_pages():
    """__GFP_ACCOUNT: __alloc_pages charges the block to the task's memcg (memcg_data: the
    obj_cgroup | MEMCG_DATA_KMEM); __free_pages' free_pages_prepare uncharges it."""
    def look(ctx):
        [obj] = table_of(ctx, "b")
        return ctx.machine.physmem.page_info(obj.pfn)["memcg_data"]
    snap = Snap(look)
    src = ("machine: {cpus: 1, nodes: [{memory: 64 MiB}]}\ncgroup: {version: 2}\ntasks:\n"
           "  - name: app\n    steps:\n" + textwrap.indent(textwrap.dedent("""\
        - mkdir: {path: /sys/fs/cgroup/a}
        - write_file: {path: /sys/fs/cgroup/a/cgroup.procs, data: '0'}
        - alloc_pages: {name: b, order: 2, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: charged}
        - free_pages: {name: b}
        - snap: {label: freed}
        """), "      "))
    r = run_text(src, plugins=(snap,), events=())
    assert r.error is None, r.error
    assert snap.seen["charged"] & 0x2 and snap.seen["freed"] == 0


def test_a_failed_kmem_cache_alloc_sets_enomem_and_keeps_what_it_got():
    """Objects of 2 MiB: one per order-9 slab, so a 64 MiB machine runs out of them; without
    __GFP_DIRECT_RECLAIM (GFP_NOWAIT) the allocation fails instead of reclaiming or OOM-killing."""
    snap = Snap(lambda ctx: table_of(ctx, "huge"))
    run_ok("""\
        - kmem_cache_create: {cache: huge_objs, size: 2 MiB}
        - kmem_cache_alloc: {cache: huge_objs, name: huge, count: 40, gfp: GFP_NOWAIT}
        - expect: {errno: ENOMEM}
        - snap: {label: after}
        - kmem_cache_free: {name: huge}
        """, snap)
    got = snap.seen["after"]
    assert 0 < len(got) < 40 and {o.cache for o in got} == {"huge_objs"}
    r = run("""\
        - kmem_cache_create: {cache: huge_objs, size: 2 MiB}
        - kmem_cache_alloc: {cache: huge_objs, name: huge, count: 40, gfp: GFP_NOWAIT}
        """)
    assert str(r.error).startswith("test.yaml:6:9: kmem_cache_alloc failed with ENOMEM "
                                   "(kmem_cache_alloc(huge_objs) failed)")
