"""Kernel memory in memory cgroups: kmem pages and slab objects charged through obj_cgroups, the
per-CPU object stock, reparenting at rmdir and the release of an obj_cgroup (memcg.md 2.3,
2.4, 3.3, 4.4, 4.5, 5 and scenarios 5-13 and 15), and the ``objcg-kmem`` switch."""
import textwrap

import pytest

from memsim.testing import Snap, run_text

PAGE = 4096
CG = "/sys/fs/cgroup"
BATCH = {"v5.14": 32, "v6.18": 64}
PROFILES = ("v5.14", "v6.18")
GFP_KERNEL_ACCOUNT = "GFP_KERNEL_ACCOUNT"


def workload(tasks, kernel="v5.14", version=2, cpus=4, patches=""):
    return (f"machine: {{cpus: {cpus}, kernel: {kernel}, nodes: [{{memory: 256 MiB}}]{patches}}}\n"
            f"cgroup: {{version: {version}}}\ntasks:\n" + textwrap.dedent(tasks))


def run(tasks, snap=None, **kw):
    r = run_text(workload(tasks, **kw), events=(), plugins=(snap,) if snap else ())
    assert r.error is None, r.error
    return r


def memcg_at(ctx_or_run, path):
    return ctx_or_run.machine.plugin_state["memcg"].cgroup_at(path).memcg


def host(ctx_or_run):
    return ctx_or_run.machine.plugin_state["memcg"].host


def objects(ctx, name):
    """The addresses a kmalloc step of the running task named ``name`` got."""
    return ctx.machine.plugin_state["kmem.objects"][ctx.task.pid][name]


def state(ctx, path="a"):
    h = host(ctx)
    a = memcg_at(ctx, path)
    return {"usage": a.counter("memory")["usage"], "failcnt": a.counter("memory")["failcnt"],
            "stock": h.stock_of(0), "obj_stock": h.kmem.obj_stock_of(0), "css_refs": a.css_refs,
            "objcg": a.objcg.id if a.objcg is not None else None,
            "refcnt": a.objcg.refcnt if a.objcg is not None else None,
            "max": a.memory_events()["max"]}


def task(steps, name="app", cpu=0):
    """A task running ``steps`` (one step a line, each a flow mapping)."""
    lines = [line.strip() for line in steps.splitlines() if line.strip()]
    return f"  - name: {name}\n    cpu: {cpu}\n    steps:\n" + "".join(f"      {l}\n" for l in lines)


def into(path="a"):
    return (f"- mkdir: {{path: {CG}/{path}}}\n"
            f"- write_file: {{path: {CG}/{path}/cgroup.procs, data: '0'}}\n")


# -- scenario 5: a kmem page charged through the obj_cgroup ------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_5_a_large_kmalloc_is_a_kmem_page_of_the_objcg(kernel):
    """kmalloc(3 * 4096, GFP_KERNEL_ACCOUNT): an order-2 page from the page allocator, its
    memcg_data the obj_cgroup | MEMCG_DATA_KMEM, page_memcg() the memcg; 4 pages charged in a
    batch; slab_unreclaimable 16384; one more obj_cgroup reference and no css reference."""
    def look(ctx):
        out = state(ctx)
        [addr] = objects(ctx, "big") if "big" in ctx.machine.plugin_state["kmem.objects"][ctx.task.pid] else [0]
        if addr:
            pfn = (addr - 0xffff888000000000) >> 12
            out["memcg_data"] = ctx.machine.physmem.page_info(pfn)["memcg_data"]
            out["page_memcg"] = host(ctx).page_memcg(pfn)
        out["a"] = memcg_at(ctx, "a")
        return out
    snap = Snap(look)
    r = run(task(into() + """\
        - kmalloc: {name: pre, size: 8, gfp: GFP_KERNEL}
        - snap: {label: before}
        - kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: after}
        - sleep: {duration: 3 s}
        - expect: {file: {path: /sys/fs/cgroup/a/memory.stat, contains: "slab_unreclaimable 16384\\n"}}
        """), snap, kernel=kernel)
    before, after = snap.seen["before"], snap.seen["after"]
    a = after["a"]
    assert after["memcg_data"] == (a.objcg.id << 2) | 0x2
    assert after["page_memcg"] is a
    assert before["usage"] == 0 and after["usage"] == BATCH[kernel]
    assert after["stock"] == (a.id, BATCH[kernel] - 4)
    # the page's reference (and on v6.x current->objcg's, taken by the task's first charge)
    assert after["refcnt"] == before["refcnt"] + (2 if kernel == "v6.18" else 1)
    assert after["css_refs"] == before["css_refs"] + 1      # the stock's, none for the page


def test_kernel_key_counts_kmem_pages_on_v6_18_only():
    """memory.stat ``kernel`` (MEMCG_KMEM, v5.18+): the pages charged as kernel memory."""
    r = run(task(into() + """\
        - kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL_ACCOUNT}
        - sleep: {duration: 3 s}
        - expect: {file: {path: /sys/fs/cgroup/a/memory.stat, contains: "kernel 16384\\n"}}
        """), kernel="v6.18")
    r = run(task(into() + "- sleep: {duration: 1 ms}\n"), kernel="v5.14")
    keys = [l.split()[0] for l in r.machine.vfs.read_file(f"{CG}/a/memory.stat").decode().splitlines()]
    assert "kernel" not in keys


# -- scenario 6: the charge fails -----------------------------------------------------------------

def test_scenario_6_a_kmem_charge_that_fails_frees_the_page_and_counts_two_max_events():
    """memory.max 2 pages, alloc order 2 with __GFP_NORETRY: tries of 32, 4 and (after the
    drain) 4 pages fail (failcnt + 3), two MAX events, -ENOMEM; the page goes back to the
    buddy allocator uncharged; the trace shows mm_page_free, then mm_page_alloc with no page,
    then kmalloc with no pointer (tracepoints.md scenario 14)."""
    src = workload(task(into() + f"""\
        - write_file: {{path: {CG}/a/memory.max, data: "8192"}}
        - kmalloc: {{name: big, size: 12 KiB, gfp: "GFP_KERNEL_ACCOUNT|__GFP_NORETRY"}}
        """))
    r = run_text(src, events=("kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:kmalloc"))
    a = memcg_at(r, "a")
    assert a.counter("memory")["failcnt"] == 3
    assert a.memory_events()["max"] == 2 and a.memory_events()["oom"] == 0
    assert a.counter("memory")["usage"] == 0
    from memsim.testing import trace_text
    lines = [l.split(": ", 1)[1] for l in trace_text(r).splitlines() if "order=2" in l or "kmalloc:" in l]
    tail = lines[-3:]
    assert tail[0].startswith("mm_page_free: ") and "order=2" in tail[0]
    assert tail[1].startswith("mm_page_alloc: page=0000000000000000 pfn=0x0 order=2")
    assert "gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_NORETRY|__GFP_COMP" in tail[1]
    assert tail[2].startswith("kmalloc: ") and "ptr=0000000000000000" in tail[2]
    assert "bytes_req=12288 bytes_alloc=16384" in tail[2]


# -- scenarios 7 and 8: who is not charged ----------------------------------------------------------

def test_scenario_7_a_task_in_the_root_cgroup_charges_no_kernel_memory():
    snap = Snap(lambda ctx: (host(ctx).kmem.obj_stock_of(0), host(ctx).root.counter("memory")["usage"]))
    run(task("""\
        - kmalloc: {name: small, size: 64, gfp: GFP_KERNEL_ACCOUNT}
        - kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: after}
        """), snap)
    assert snap.seen["after"] == ((0, 0, 0, 0), 0)


def test_scenario_8_no_mm_means_no_charge_unless_an_active_memcg_is_set():
    """memcg_kmem_bypass(): a task without an mm (a kernel thread; here the exited app) charges
    nothing, until set_active_memcg() names a memcg."""
    r = run(task(into() + "- sleep: {duration: 1 ms}\n"))
    m = r.machine
    h = host(r)
    a = memcg_at(r, "a")
    app = next(t for t in m.tasks.values() if t.name == "app")
    assert app.mm is None
    m.set_current(app)
    usage = a.counter("memory")["usage"]
    addr = m.slab.kmalloc(12288, 0x400cc0, "workload_kmalloc")
    assert a.counter("memory")["usage"] == usage and h.page_memcg((addr - 0xffff888000000000) >> 12) is None
    m.slab.kfree(addr, "workload_kfree")
    h.kmem.set_active_memcg(app.pid, a)
    addr = m.slab.kmalloc(12288, 0x400cc0, "workload_kmalloc")
    assert h.page_memcg((addr - 0xffff888000000000) >> 12) is a
    assert a.counter("memory")["usage"] == usage + 32
    m.slab.kfree(addr, "workload_kfree")
    h.kmem.set_active_memcg(app.pid, None)


# -- scenarios 9-11: slab objects through the object stock --------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenarios_9_10_11_slab_bytes_go_through_the_object_stock(kernel):
    """kmalloc-cg-192 objects: obj_full_size 200.  One object charges a page (a batch at the
    memcg) and keeps 3896 bytes in the stock; 19 more come from it (96 left); freeing the 20
    brings it to exactly 4096, which is not more than a page, so nothing is uncharged; the
    statistic stays in the stock all along; one reference (the stock's) is left.  A later
    drain uncharges exactly that page and leaves nr_charged_bytes 0."""
    def look(ctx):
        out = state(ctx)
        a = memcg_at(ctx, "a")
        k = host(ctx).kmem
        out["ocg"] = a.objcg
        mine = ctx.machine.plugin_state.get("kmem.objects", {}).get(ctx.task.pid, {})
        objs = mine.get("objs", []) + mine.get("more", [])
        out["slots"] = [k.mem_cgroup_from_obj(x) for x in objs]
        st = host(ctx).stat_tree
        from memsim.vmstat import ITEM_BY_NAME
        out["slab_local"] = st.read_local(a.stats, ITEM_BY_NAME["nr_slab_unreclaimable"][1])
        return out
    snap = Snap(look)
    b = BATCH[kernel]
    run(task(into() + """\
        - snap: {label: start}
        - kmalloc: {name: objs, size: 192, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: s9}
        - kmalloc: {name: more, size: 192, count: 19, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: s10}
        - kfree: {name: objs}
        - kfree: {name: more}
        - snap: {label: s11}
        - write_file: {path: /sys/fs/cgroup/cgroup.procs, data: '0'}
        - mkdir: {path: /sys/fs/cgroup/b}
        - write_file: {path: /sys/fs/cgroup/b/cgroup.procs, data: '0'}
        - kmalloc: {name: other, size: 192, gfp: GFP_KERNEL_ACCOUNT}
        - snap: {label: drained}
        """), snap, kernel=kernel)
    s0, s9, s10, s11, d = (snap.seen[k] for k in ("start", "s9", "s10", "s11", "drained"))
    a_ocg = s9["ocg"]
    assert s9["usage"] == b and s9["stock"][1] == b - 1
    assert s9["obj_stock"] == (a_ocg.id, 4096 - 200, 0, 200)
    assert s9["slots"] == [s9["ocg"].memcg] and s9["slab_local"] == 0
    assert s10["usage"] == b and s10["obj_stock"] == (a_ocg.id, 96, 0, 4000)
    assert s11["usage"] == b and s11["obj_stock"] == (a_ocg.id, 4096, 0, 0)
    # the object stock's reference (and on v6.x the task's current->objcg)
    assert s11["refcnt"] == s0["refcnt"] + (2 if kernel == "v6.18" else 1)
    assert s11["slab_local"] == 0
    # b's allocation drains CPU 0's object stock: one page back to a, through the page stock
    # (v5.14, whose single-memcg stock b's batch had taken: a's usage is that page) or straight
    # to the counter (v6.x, whose stock still holds a's b - 1 pages)
    assert a_ocg.nr_charged_bytes == 0
    assert d["refcnt"] == s0["refcnt"]
    assert d["usage"] == (b - 1 if kernel == "v6.18" else 1)


# -- scenarios 12 and 13: reparenting ----------------------------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_12_rmdir_reparents_the_objcg_and_later_frees_uncharge_the_parent(kernel):
    """v1 P/C: T in C allocates 10 accounted slab objects and a kmem page, moves to P, and C is
    removed: C's obj_cgroup now belongs to P and sits on P's list, page_memcg() and
    mem_cgroup_from_obj() say P, C is freed at once (nothing pins its css), and the later frees
    uncharge P."""
    m = "/sys/fs/cgroup/memory"
    seen = {}

    def look(ctx):
        h = host(ctx)
        p = memcg_at(ctx, "p")
        objs = ctx.machine.plugin_state["kmem.objects"][ctx.task.pid]
        out = {"p": p, "p_kmem": p.counter("kmem")["usage"], "p_usage": p.counter("memory")["usage"],
               "stock": [h.stock_of(c) for c in range(4)],
               "from_obj": [h.kmem.mem_cgroup_from_obj(x) for x in objs.get("objs", [])],
               "page": [h.page_memcg((x - 0xffff888000000000) >> 12) for x in objs.get("big", [])]}
        cg = ctx.machine.plugin_state["memcg"]
        if cg.cgroup_at("p/c") is not None:
            seen["c"] = memcg_at(ctx, "p/c")
        return out
    snap = Snap(look)
    r = run(task(f"""\
        - mkdir: {{path: {m}/p}}
        - mkdir: {{path: {m}/p/c}}
        - write_file: {{path: {m}/p/c/cgroup.procs, data: '0'}}
        - kmalloc: {{name: objs, size: 192, count: 10, gfp: GFP_KERNEL_ACCOUNT}}
        - kmalloc: {{name: big, size: 12 KiB, gfp: GFP_KERNEL_ACCOUNT}}
        - snap: {{label: charged}}
        - write_file: {{path: {m}/p/cgroup.procs, data: '0'}}
        - rmdir: {{path: {m}/p/c}}
        - snap: {{label: removed}}
        - kfree: {{name: big}}
        - kfree: {{name: objs}}
        - snap: {{label: freed}}
        """), snap, kernel=kernel, version=1)
    c = seen["c"]
    removed, freed = snap.seen["removed"], snap.seen["freed"]
    p = removed["p"]
    assert c.freed and c.objcg is None                      # not pinned: freed at rmdir
    [ocg] = p.objcg_list
    assert ocg.memcg is p and ocg.origin == c.id and ocg.killed
    assert removed["from_obj"] == [p] * 10 and removed["page"] == [p]
    # the frees: the kmem page's 4 pages and the slab bytes go back to P (its stock, then counter)
    assert freed["p_kmem"] < removed["p_kmem"]
    assert not h_has_memcg(r, c.id)


def h_has_memcg(r, id):
    return id in host(r).memcgs


def host_objcg_cached(seen):
    return seen["cached"]


def test_scenario_13_cascaded_reparenting_moves_every_objcg_to_the_grandparent():
    """v1 R/P/C: P and C hold live slab objects; rmdir C (its obj_cgroup goes to P), then rmdir
    P: P's own obj_cgroup and C's both belong to R and sit on R's list; the frees give the
    bytes back to R."""
    m = "/sys/fs/cgroup/memory"

    def look(ctx):
        h = host(ctx)
        r_ = memcg_at(ctx, "r")
        objs = ctx.machine.plugin_state["kmem.objects"][ctx.task.pid]
        return {"r": r_, "list": list(r_.objcg_list), "cached": h.kmem.get(h.kmem.obj_stock_of(0)[0]),
                "from_obj": [h.kmem.mem_cgroup_from_obj(x) for k in ("pobjs", "cobjs") for x in objs.get(k, [])]}
    snap = Snap(look)
    run(task(f"""\
        - mkdir: {{path: {m}/r}}
        - mkdir: {{path: {m}/r/p}}
        - mkdir: {{path: {m}/r/p/c}}
        - write_file: {{path: {m}/r/p/cgroup.procs, data: '0'}}
        - kmalloc: {{name: pobjs, size: 192, count: 3, gfp: GFP_KERNEL_ACCOUNT}}
        - write_file: {{path: {m}/r/p/c/cgroup.procs, data: '0'}}
        - kmalloc: {{name: cobjs, size: 192, count: 10, gfp: GFP_KERNEL_ACCOUNT}}
        - write_file: {{path: {m}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {m}/r/p/c}}
        - rmdir: {{path: {m}/r/p}}
        - snap: {{label: removed}}
        - kfree: {{name: cobjs}}
        - kfree: {{name: pobjs}}
        - snap: {{label: freed}}
        """), snap, version=1)
    removed, freed = snap.seen["removed"], snap.seen["freed"]
    r_ = removed["r"]
    ocgs = removed["list"]
    assert len(ocgs) == 2 and all(o.memcg is r_ and o.killed for o in ocgs)
    assert removed["from_obj"] == [r_] * 13
    # the last free left P's obj_cgroup cached in CPU 0's stock (its reference keeps it);
    # switching the stock to it drained C's, whose last reference that was
    cached = host_objcg_cached(freed)
    assert [o for o in ocgs if not o.released] == [cached] and freed["list"] == [cached]


# -- scenario 15: the release of an obj_cgroup with leftover bytes -------------------------------------

def test_scenario_15_an_objcg_dies_with_the_last_stock_reference_not_with_its_last_object():
    """Scenario 15 with tasks that stay on their CPUs: C's obj_cgroup O is cached by CPU 0's
    object stock (A's object, 3992 bytes left); CPU 1's stock charged a page for B's object
    and is drained by B's allocation in another memcg (O.nr_charged_bytes 3992); A's next
    charge on CPU 0 is another memcg's user page, so CPU 0's page stock no longer holds C and
    rmdir's drain_all_stock() skips CPU 0 (O is owned by P by then).  Freeing both objects
    (each stock reaching exactly 4096, nothing uncharged) does not release O: the drains of
    the two stocks do, the last one releasing it, and P gets its 2 pages back; no warning."""
    def look(ctx):
        h = host(ctx)
        p = memcg_at(ctx, "p")
        return {"p": p, "list": list(p.objcg_list), "obj": [h.kmem.obj_stock_of(c) for c in range(2)]}
    snap = Snap(look)
    p = f"{CG}/p"
    r = run(task(f"""\
        - mmap: {{name: buf, length: 8 KiB}}
        - touch: {{vma: buf, length: 4 KiB}}
        - mkdir: {{path: {p}}}
        - write_file: {{path: {p}/cgroup.subtree_control, data: +memory}}
        - mkdir: {{path: {p}/c}}
        - mkdir: {{path: {CG}/d}}
        - mkdir: {{path: {CG}/e}}
        - write_file: {{path: {p}/c/cgroup.procs, data: '0'}}
        - kmalloc: {{name: o1, size: 96, gfp: GFP_KERNEL_ACCOUNT}}
        - write_file: {{path: {CG}/d/cgroup.procs, data: '0'}}
        - touch: {{vma: buf, offset: 4 KiB}}
        - sleep: {{duration: 2 ms}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {p}/c}}
        - snap: {{label: removed}}
        - kfree: {{name: o1}}
        - sleep: {{duration: 2 ms}}
        - snap: {{label: freed}}
        - write_file: {{path: {CG}/e/cgroup.procs, data: '0'}}
        - kmalloc: {{name: e, size: 96, gfp: GFP_KERNEL_ACCOUNT}}
        - sleep: {{duration: 2 ms}}
        - snap: {{label: drained}}
        """, cpu=0) + task(f"""\
        - sleep: {{duration: 100 us}}
        - write_file: {{path: {p}/c/cgroup.procs, data: '0'}}
        - kmalloc: {{name: o2, size: 96, gfp: GFP_KERNEL_ACCOUNT}}
        - write_file: {{path: {CG}/d/cgroup.procs, data: '0'}}
        - kmalloc: {{name: d, size: 96, gfp: GFP_KERNEL_ACCOUNT}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - sleep: {{duration: 2 ms}}
        - kfree: {{name: o2}}
        - sleep: {{duration: 2 ms}}
        - write_file: {{path: {CG}/e/cgroup.procs, data: '0'}}
        - kmalloc: {{name: e, size: 96, gfp: GFP_KERNEL_ACCOUNT}}
        """, name="other", cpu=1), snap, cpus=2)
    removed, freed, drained = snap.seen["removed"], snap.seen["freed"], snap.seen["drained"]
    [o] = removed["list"]
    assert o.killed and o.origin != removed["p"].id
    assert removed["obj"][0][:2] == (o.id, 4096 - 104)      # CPU 0 still caches O
    assert freed["obj"][0][:2] == (o.id, 4096) and freed["obj"][1][:2] == (o.id, 4096)
    assert o.released and drained["list"] == []
    assert host(r).kmem.warnings == []


# -- the objcg-kmem switch ---------------------------------------------------------------------------

def demo(state):
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "patch-objcg-kmem.yaml")
    src = open(path).read().replace(
        "machine: {cpus: 2, kernel: v5.14,", f"machine: {{cpus: 2, kernel: v5.14, patches: {{objcg-kmem: {state}}},")
    r = run_text(src, events=())
    assert r.error is None, r.error
    impl = r.registries.patches.get("objcg-kmem")
    return r, {m.name: m.compute(r.machine) for m in impl.metrics}


def test_objcg_kmem_demo_with_the_change_no_removed_cgroup_stays_dying():
    r, on = demo("on")
    assert on["dying_cgroups"] == 0 and on["dying_kmem_pages"] == 0 and on["dying_charged_pages"] == 0
    h = host(r)
    assert h.kmem.kmem_pages_by_memcg() == {h.root.id: 8 * 8}     # reparented to the root


def test_objcg_kmem_demo_without_it_every_old_instance_stays_dying_with_its_kmem_pages():
    r, off = demo("off")
    assert off["dying_cgroups"] == 8 and off["dying_kmem_pages"] == 8 * 8
    assert off["dying_charged_pages"] >= 8 * 8
    text = r.machine.vfs.read_file(f"{CG}/cgroup.stat").decode()
    assert "nr_dying_descendants 8\n" in text


# -- the v6.x charge paths -----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel, a_keeps", [("v5.14", False), ("v6.18", True)])
def test_v6_18_stock_caches_several_memcgs_so_another_cgroup_does_not_drain_the_first(kernel, a_keeps):
    """memcg_batch.txt `batch.after_B OK A_usage=212992`: on 6.18 a worker of A faults 140
    pages and exits, leaving 52 pages in CPU 0's stock; B's worker charging on the same CPU
    leaves them there (v6.16's NR_MEMCG_STOCK = 7 memcgs per CPU stock).  v5.14's stock caches
    one memcg: B's first charge drains A's pages back."""
    b = BATCH[kernel]
    def look(ctx):
        a = memcg_at(ctx, "a")
        return a.counter("memory")["usage"], dict(host(ctx).stocks_of(0)).get(a.id, 0)
    snap = Snap(look)
    body = """\
        - mmap: {name: buf, length: 564 KiB}
        - touch: {vma: buf, length: 4 KiB}
        - write_file: {path: /sys/fs/cgroup/%s/cgroup.procs, data: '0'}
        - touch: {vma: buf, offset: 4 KiB}
        """
    run(task(f"""\
        - mkdir: {{path: {CG}/a}}
        - mkdir: {{path: {CG}/b}}
        - snap: {{label: start}}
        - sleep: {{duration: 10 ms}}
        - snap: {{label: after_a}}
        - sleep: {{duration: 10 ms}}
        - snap: {{label: after_b}}
        """, name="probe", cpu=1) + task("- sleep: {duration: 1 ms}\n" + body % "a", name="wa", cpu=0)
        + task("- sleep: {duration: 12 ms}\n" + body % "b", name="wb", cpu=0), snap, kernel=kernel)
    (usage_a, stock_a), (usage_b, stock_b) = snap.seen["after_a"], snap.seen["after_b"]
    assert stock_a == (3 * b - 140 if kernel == "v6.18" else 5 * b - 140)     # 52 / 20
    # (a's last pages, still in the CPU's lru_add batch on v6.18 whose exit no longer drains
    # it, are freed once b's faults fill the batch)
    if a_keeps:
        assert stock_b == stock_a and usage_b >= stock_a
    else:
        assert stock_b == 0 and usage_b == usage_a - stock_a


@pytest.mark.parametrize("kernel", PROFILES)
def test_an_atomic_charge_at_the_limit_is_forced_v5_14_at_once_v6_with_a_max_event(kernel):
    """try_charge_memcg(): v5.14 forces a __GFP_ATOMIC charge before any event; v6.x lets it
    fail to nomem (it cannot block), where __GFP_HIGH forces it and counts MAX."""
    r = run(task(into() + "- sleep: {duration: 1 ms}\n"), kernel=kernel)
    h, a = host(r), memcg_at(r, "a")
    a.set_counter("memory", "max", 2)
    assert h.charge(a, 2) == 0
    assert h.charge(a, 1, gfp=0xa20) == 0           # GFP_ATOMIC: forced past the limit
    assert a.counter("memory")["usage"] == 3
    assert a.memory_events()["max"] == (1 if kernel == "v6.18" else 0)
    assert h.charge(a, 1, gfp=0x800) == -12         # GFP_NOWAIT: no __GFP_HIGH, -ENOMEM


@pytest.mark.parametrize("kernel, forced", [("v5.14", True), ("v6.18", False)])
def test_a_memcg_oom_without_a_victim_forces_on_v5_14_and_fails_on_v6(kernel, forced):
    """mem_cgroup_oom() finding no task to kill: v5.14's OOM_FAILED forces the charge; v6.x
    returns false and the charge fails (-ENOMEM)."""
    r = run(task(f"- mkdir: {{path: {CG}/a}}\n- sleep: {{duration: 1 ms}}\n"), kernel=kernel)
    h, a = host(r), memcg_at(r, "a")
    a.set_counter("memory", "max", 2)
    assert h.charge(a, 2) == 0
    assert h.charge(a, 1) == (0 if forced else -12)
    assert a.memory_events()["oom"] == 1 and a.memory_events()["oom_kill"] == 0
    assert a.counter("memory")["usage"] == (3 if forced else 2)


@pytest.mark.parametrize("kernel", PROFILES)
def test_v6_18_the_memcg_keeps_its_orig_objcg_until_it_is_freed(kernel):
    """memcg_online_kmem() of v6.x takes a reference for memcg->orig_objcg, dropped when the
    memcg is freed: while a removed cgroup stays dying (a tmpfs page pins it) its obj_cgroup is
    killed but not released; v5.14 releases it at once (nothing else references it)."""
    seen = {}

    def look(ctx):
        c = memcg_at(ctx, "c")
        if c is not None:
            seen["objcg"] = c.objcg
        return None
    snap = Snap(look)
    r = run(task(f"""\
        - mkdir: {{path: /mnt/t}}
        - mount: {{type: tmpfs, path: /mnt/t}}
        - open: {{path: /mnt/t/f, name: f, flags: [O_WRONLY, O_CREAT]}}
        - mkdir: {{path: {CG}/c}}
        - write_file: {{path: {CG}/c/cgroup.procs, data: '0'}}
        - snap: {{label: in}}
        - write: {{fd: f, data: "pinned"}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - kmalloc: {{name: x, size: 64, gfp: GFP_KERNEL_ACCOUNT}}
        - rmdir: {{path: {CG}/c}}
        - expect: {{file: {{path: {CG}/cgroup.stat, fields: {{nr_dying_descendants: 1}}}}}}
        """), snap, kernel=kernel)
    o = seen["objcg"]
    assert o.killed
    assert o.released == (kernel == "v5.14")
    if kernel == "v6.18":
        assert o.refcnt == 1 and o in host(r).root.objcg_list       # the memcg's own


@pytest.mark.parametrize("kernel", PROFILES)
def test_v1_kmem_limit_limits_on_v5_14_and_is_parsed_and_ignored_on_v6_18(kernel):
    """memcg_errno.txt `errno.kmem_limit_10M OK ... read=9223372036854771712` and
    `errno.kmem_limit_abc EINVAL` (6.18); v5.14's memcg_update_kmem_max() sets the kmem max,
    and its try-charge then refuses a kmem page past it (the allocation fails)."""
    m = "/sys/fs/cgroup/memory/a"
    r = run_text(workload(task(f"""\
        - mkdir: {{path: {m}}}
        - write_file: {{path: {m}/memory.kmem.limit_in_bytes, data: abc}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {m}/memory.kmem.limit_in_bytes, data: 8K}}
        - write_file: {{path: {m}/cgroup.procs, data: '0'}}
        - kmalloc: {{name: big, size: 12 KiB, gfp: GFP_KERNEL_ACCOUNT}}
        """), kernel=kernel, version=1), events=())
    limit = r.machine.vfs.read_file(f"{m}/memory.kmem.limit_in_bytes").decode()
    if kernel == "v5.14":
        assert limit == "8192\n"
        assert r.error is not None and "ENOMEM" in str(r.error)    # kmalloc failed: kmem limit
    else:
        assert limit == "9223372036854771712\n"
        assert r.error is None, r.error
        assert memcg_at(r, "a").counter("kmem")["usage"] == 4


def test_v6_18_first_fault_in_a_fresh_range_charges_two_page_table_pages_as_kmem():
    """memcg_batch.txt `batch.pte_absent.fault 1 usage=262144 kmem=8192`: the first fault in a
    fresh 2 MiB range of a task in A allocates a PMD and a PTE table with GFP_KERNEL_ACCOUNT:
    2 kmem pages out of the same 64-page batch as the anon page."""
    m = "/sys/fs/cgroup/memory"
    snap = Snap(lambda ctx: (memcg_at(ctx, "A").counter("kmem")["usage"],
                             memcg_at(ctx, "A").counter("memory")["usage"]))
    run(task(f"""\
        - mmap: {{name: warm, length: 4 KiB}}
        - touch: {{vma: warm}}
        - mmap: {{name: region, length: 2 MiB}}
        - mkdir: {{path: {m}/A}}
        - write_file: {{path: {m}/A/cgroup.procs, data: '0'}}
        - touch: {{vma: region, length: 4 KiB}}
        - snap: {{label: fault1}}
        - expect: {{file: {{path: {m}/A/memory.kmem.usage_in_bytes, equals: "8192\\n"}}}}
        - expect: {{file: {{path: {m}/A/memory.usage_in_bytes, equals: "262144\\n"}}}}
        """), snap, kernel="v6.18", version=1)
    assert snap.seen["fault1"] == (2, 64)


# -- scenario 21: split_page_memcg -----------------------------------------------------------------

@pytest.mark.parametrize("objcg_kmem", ["on", "off"])
def test_scenario_21_split_page_gives_every_page_the_charge_and_a_reference(objcg_kmem):
    """memcg.md scenario 21: an order-2 kmem page of A split into 4 order-0 pages
    (split_page): all 4 carry the head's memcg_data (objcg | KMEM), and the obj_cgroup has 3
    more references -- the seed's follow-up fix; without objcg-kmem (v5.12) the memcg's css
    takes them.  Each page is then uncharged on its own free.  alloc_pages_exact() of 12 KiB
    splits an order-2 block and frees its fourth page."""
    r = run(task(into() + "- sleep: {duration: 1 ms}\n"),
            patches=f", patches: {{objcg-kmem: {objcg_kmem}}}")
    m, h, a = r.machine, host(r), memcg_at(r, "a")
    app = next(t for t in m.tasks.values() if t.name == "app")
    m.set_current(app)
    h.kmem.set_active_memcg(app.pid, a)                 # the exited app has no mm
    pm = m.physmem

    def refs():
        return a.objcg.refcnt if objcg_kmem == "on" else a.css_refs
    before = refs()
    pfn = pm.alloc(order=2, gfp=0x400cc0)               # GFP_KERNEL_ACCOUNT, no __GFP_COMP
    head = pm.page_info(pfn)["memcg_data"]
    assert head & 0x3 == 0x2
    pm.split(pfn, 2)
    assert [pm.page_info(pfn + i)["memcg_data"] for i in range(4)] == [head] * 4
    stock_refs = 1 if objcg_kmem == "off" else 0        # the charge's stock holds a css ref
    assert refs() == before + 4 + stock_refs
    usage = a.counter("memory")["usage"]
    for i in range(4):
        pm.free(pfn + i, 0)
    assert refs() == before + stock_refs
    assert [pm.page_info(pfn + i)["memcg_data"] for i in range(4)] == [0] * 4
    exact = pm.alloc_pages_exact(12288, 0x400cc0)
    assert [pm.page_info(exact + i)["memcg_data"] for i in range(3)] == [head] * 3
    assert refs() == before + 3 + stock_refs
    pm.free_pages_exact(exact, 12288)
    assert refs() == before + stock_refs
    assert a.counter("memory")["usage"] == usage        # every page back in A's CPU stock
    h.kmem.set_active_memcg(app.pid, None)
