"""Slab geometry per kernel profile (memsim.slab_layout), pinned to the live 6.18 kernel.

tests/core/data/slabinfo-geometry-6.18.44.txt is the live VM's /proc/slabinfo (2 CPUs; name,
objsize, objperslab, pagesperslab) and tests/core/data/slab-sysfs-6.18.44.txt its
/sys/kernel/slab object sizes; tests/core/probes/slab_page_gfp.c is the probe whose
mm_page_alloc records (slab_page_gfp.txt) give the gfp of slab pages.  Issue 11: "Slab
geometry per profile".
"""
from __future__ import annotations

import pathlib

import pytest

from memsim.slab_layout import SLAB_LAYOUT, V514, V618
from memsim.testing import build_machine, trace_text

PROBES = pathlib.Path(__file__).parent / "probes"
DATA = pathlib.Path(__file__).parent / "data"


def fixture_rows(name):
    """The fixture's lines (tests/core/data, else tests/core/probes), comments dropped, split
    into fields."""
    path = DATA / name if (DATA / name).exists() else PROBES / name
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def live_slabinfo():
    """name -> (objsize, objperslab, pagesperslab), and the names in the file's order."""
    rows = fixture_rows("slabinfo-geometry-6.18.44.txt")
    return {r[0]: tuple(int(x) for x in r[1:4]) for r in rows}, [r[0] for r in rows]


def memsim_slabinfo(machine):
    """memsim's /proc/slabinfo as name -> (objsize, objperslab, pagesperslab), and the order."""
    rows = [line.split() for line in machine.slab.slabinfo().splitlines()[2:]]
    return {r[0]: (int(r[3]), int(r[4]), int(r[5])) for r in rows}, [r[0] for r in rows]


def test_the_profiles_have_their_layouts():
    assert SLAB_LAYOUT["v5.14"] is V514 and SLAB_LAYOUT["v6.18"] is V618


def test_v618_slabinfo_shows_the_live_kernels_geometry_for_every_cache_memsim_models():
    live, _ = live_slabinfo()
    m = build_machine(kernel="v6.18", cpus=2)
    mine, _ = memsim_slabinfo(m)
    assert len(mine) == 60                      # 8 boot caches + 4 kmalloc types x 13 sizes
    assert {name: live.get(name) for name in mine} == mine
    # the ones the issue names
    assert mine["vm_area_struct"] == (192, 21, 1)
    assert mine["mm_struct"] == (1600, 20, 8)
    assert mine["anon_vma"] == (104, 39, 1)
    assert mine["inode_cache"] == (624, 13, 2)
    assert mine["shmem_inode_cache"] == (752, 21, 4)
    assert mine["dentry"] == (192, 21, 1)
    assert mine["hugetlbfs_inode_cache"] == (632, 25, 4)


def test_v618_slabinfo_lists_the_caches_in_the_live_kernels_order():
    _, live_order = live_slabinfo()
    m = build_machine(kernel="v6.18", cpus=2)
    _, order = memsim_slabinfo(m)
    assert [name for name in live_order if name in order] == order
    assert order[:9] == ["hugetlbfs_inode_cache", "shmem_inode_cache", "inode_cache", "dentry",
                         "vm_area_struct", "anon_vma_chain", "anon_vma", "mm_struct", "kmalloc-cg-8k"]
    assert order[-3:] == ["kmalloc-8", "kmalloc-192", "kmalloc-96"]


def test_v618_object_sizes_are_the_live_kernels():
    """bytes_req of kmem_cache_alloc is s->object_size: /sys/kernel/slab/<cache>/object_size."""
    m = build_machine(kernel="v6.18", cpus=2)
    for name, object_size, slab_size, align, order, objs, *_ in fixture_rows("slab-sysfs-6.18.44.txt"):
        s = m.slab.find_cache(name)
        assert (s.object_size, s.size, s.order, s.objects) == \
            (int(object_size), int(slab_size), int(order), int(objs)), name
        assert s.align == int(align), name


def test_v514_geometry_is_unchanged():
    m = build_machine(kernel="v5.14", cpus=2)
    mine, order = memsim_slabinfo(m)
    assert mine["vm_area_struct"] == (200, 20, 1)
    assert mine["anon_vma"] == (88, 46, 1)
    assert mine["dentry"] == (192, 21, 1)
    assert order[:8] == ["hugetlbfs_inode_cache", "shmem_inode_cache", "inode_cache", "dentry",
                         "vm_area_struct", "mm_struct", "anon_vma_chain", "anon_vma"]
    assert order[8] == "dma-kmalloc-8k" and order[-1] == "kmalloc-8"
    assert mine["hugetlbfs_inode_cache"] == (624, 13, 2)        # 616 B: shared_policy + inode + seals


@pytest.mark.parametrize("cpus, order", [(1, 1), (2, 1), (8, 2)])
def test_v618_order_follows_the_cpu_count_as_calculate_order_does(cpus, order):
    """slub_min_objects = 4 * (fls(nr_cpus) + 1): 8, 12, 20 objects of inode_cache's 624 B need
    order 1 (13 fit), 1 and 2 (26 fit), each with under 1/16 of the slab left over."""
    m = build_machine(kernel="v6.18", cpus=cpus)
    s = m.slab.find_cache("inode_cache")
    assert (s.order, s.objects) == (order, (4096 << order) // 624)


def test_v618_slab_pages_are_allocated_with_gfp_comp_as_the_probe_saw():
    """tests/core/probes/slab_page_gfp.c: order-0 slab pages of a GFP_KERNEL allocation are
    GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP; order-3 ones (mm_struct, at fork) drop the
    reclaim bits and add __GFP_NOMEMALLOC; anon_vma_clone's GFP_NOWAIT slab pages are
    GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP; kmem_cache_alloc shows object_size / stride."""
    m = build_machine(kernel="v6.18", cpus=2, events=["kmem:mm_page_alloc", "kmem:kmem_cache_alloc"])
    m.slab.cache_alloc("vm_area_struct", 0xCC0, "vm_area_alloc")
    m.slab.cache_alloc("mm_struct", 0xCC0, "mm_alloc")
    m.slab.cache_alloc("anon_vma_chain", 0x2800, "anon_vma_clone")
    lines = [line.split(": ", 1)[1] for line in trace_text(m).splitlines()]
    pages = [line for line in lines if line.startswith("mm_page_alloc:")]
    live = {row[1]: (row[2], row[3]) for row in fixture_rows("slab_page_gfp.txt")}
    assert [(p.split("order=")[1].split()[0], p.split("gfp_flags=")[1]) for p in pages] == [
        live["vm_area_dup"], live["copy_process"], live["anon_vma_clone"]]
    assert live["vm_area_dup"] == ("0", "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
    allocs = [line for line in lines if line.startswith("kmem_cache_alloc:")]
    assert "name=vm_area_struct bytes_req=192 bytes_alloc=192 " in allocs[0]
    assert "name=mm_struct bytes_req=1568 bytes_alloc=1600 " in allocs[1]


def test_v514_order0_slab_pages_stay_without_gfp_comp():
    m = build_machine(kernel="v5.14", cpus=2, events=["kmem:mm_page_alloc"])
    m.slab.cache_alloc("vm_area_struct", 0xCC0, "vm_area_alloc")
    assert trace_text(m).rstrip().endswith("order=0 migratetype=0 "
                                           "gfp_flags=GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY")


def test_a_cache_created_under_v618_gets_gfp_comp_at_order_0_too():
    """s->allocflags = __GFP_COMP whatever the order (v6.10+); v5.14 only for order > 0.
    (calculate_order() of v6.8+ and of v5.14 agree on every object size up to 8 KiB with
    slub_max_order 3, for 1, 2 and 8 CPUs: the rewrite changed no geometry memsim builds.)"""
    for kernel, comp in (("v5.14", 0), ("v6.18", 0x40000)):
        m = build_machine(kernel=kernel, cpus=2)
        small = m.slab.kmem_cache_create("probe_100", 100)
        big = m.slab.kmem_cache_create("probe_5000", 5000)
        assert (small.order, small.objects, big.order, big.objects) == (0, 39, 3, 6)
        assert small.allocflags & 0x40000 == comp and big.allocflags & 0x40000 == 0x40000


@pytest.mark.parametrize("kernel, gfp", [("v5.14", "GFP_KERNEL"), ("v6.18", "GFP_NOWAIT")])
def test_fork_clones_anon_vma_chains_with_the_profiles_gfp(kernel, gfp):
    """anon_vma_clone() at fork: anon_vma_chain_alloc(GFP_NOWAIT | __GFP_NOWARN) on the kernel
    (slab_page_gfp.txt: "anon_vma_clone name=anon_vma_chain ... gfp_flags=GFP_NOWAIT" on 6.18);
    v5.14 keeps the GFP_KERNEL its traces have always shown."""
    from memsim import vm
    m = build_machine(kernel=kernel, cpus=2, events=["kmem:kmem_cache_alloc"])
    t = m.spawn("parent")
    m.set_current(t)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 4096, "rw", "anon", totalram=1 << 20)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    m.fork(t, "child")
    clones = [line for line in trace_text(m).splitlines() if "call_site=anon_vma_clone" in line]
    assert clones and all(line.split("gfp_flags=")[1].split()[0] == gfp for line in clones)
    assert "gfp_flags=GFP_NOWAIT" in (PROBES / "slab_page_gfp.txt").read_text()
