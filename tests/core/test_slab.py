"""The SLUB allocator (memsim.slab): geometry, kmalloc size classes, tracepoints and their order,
slab pages from and back to the buddy allocator, and a model-based state machine.

Specs: pagecache.md 8 (objects per slab), tracepoints.md 4 and 10 (kmalloc/kfree/kmem_cache_*
firing rules and ordering) and 11 (scenarios 15 and 16).
"""
import struct

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memsim.physmem import PhysMem
from memsim.ring import TraceBuffer
from memsim.task import Current
from memsim.slab import (PAGE_OFFSET, SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_POISON,
                         SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER,
                         SLAB_TYPESAFE_BY_RCU, ZERO_SIZE_PTR, SlabAllocator)

GFP_KERNEL = 0xCC0
GFP_KERNEL_ACCOUNT = 0x400CC0
GFP_DMA = 0x1
RECLAIMABLE = 0x10
NOWARN, NORETRY, COMP, NOMEMALLOC = 0x2000, 0x10000, 0x40000, 0x80000
PG_slab, PG_head = 1 << 9, 1 << 16
NO_PFN = (1 << 64) - 1

# core event slots (memsim/ring.pxd)
EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE = 1, 2
EV_KMALLOC, EV_KFREE, EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE = 3, 4, 5, 6
EV_KMALLOC_NODE, EV_KMEM_CACHE_ALLOC_NODE = 10, 11

# v5.14 record layouts (tracepoints.md 4): slot -> (name, fixed size, [(field, offset, size)],
# offset of the __data_loc name or None).  Offsets/sizes are given in the core's value order.
ALLOC = [("call_site", 8, 8), ("ptr", 16, 8), ("bytes_req", 24, 8), ("bytes_alloc", 32, 8),
         ("gfp_flags", 40, 4)]
V514 = {
    EV_MM_PAGE_ALLOC: ("mm_page_alloc", 32, [("pfn", 8, 8), ("order", 16, 4),
                                             ("gfp_flags", 20, 4), ("migratetype", 24, 4)], None),
    EV_MM_PAGE_FREE: ("mm_page_free", 24, [("pfn", 8, 8), ("order", 16, 4)], None),
    EV_KMALLOC: ("kmalloc", 48, ALLOC + [("node", 0, 0)], None),
    EV_KFREE: ("kfree", 24, [("call_site", 8, 8), ("ptr", 16, 8)], None),
    EV_KMEM_CACHE_ALLOC: ("kmem_cache_alloc", 48, ALLOC + [("node", 0, 0), ("accounted", 0, 0)],
                          None),
    EV_KMEM_CACHE_FREE: ("kmem_cache_free", 32, [("call_site", 8, 8), ("ptr", 16, 8)], 24),
    EV_KMALLOC_NODE: ("kmalloc_node", 48, ALLOC + [("node", 44, 4)], None),
    EV_KMEM_CACHE_ALLOC_NODE: ("kmem_cache_alloc_node", 48,
                               ALLOC + [("node", 44, 4), ("accounted", 0, 0)], None),
}
# v6.1+ style: one kmalloc event carrying the node, no *_node events
MERGED = dict(V514)
MERGED[EV_KMALLOC] = ("kmalloc", 48, ALLOC + [("node", 44, 4)], None)
del MERGED[EV_KMALLOC_NODE], MERGED[EV_KMEM_CACHE_ALLOC_NODE]
SIGNED = {"node"}


def bind(tb, layouts=V514):
    """Bind and enable the slots like EventRegistry.bind would; type id = 100 + slot."""
    for ev, (_name, fixed, fields, str_off) in layouts.items():
        tb.bind_core_event(ev, 100 + ev, fixed, [f[1] for f in fields], [f[2] for f in fields],
                           0xFFFF if str_off is None else str_off)
        tb.set_core_enabled(ev, True)


def decode(payload, layouts):
    ev = struct.unpack_from("<H", payload)[0] - 100
    name, _fixed, fields, str_off = layouts[ev]
    out = {"event": name}
    for fname, off, size in fields:
        if size == 0:
            continue
        fmt = {8: "<Q", 4: "<i" if fname in SIGNED else "<I"}[size]
        out[fname] = struct.unpack_from(fmt, payload, off)[0]
    if str_off is not None:
        loc = struct.unpack_from("<I", payload, str_off)[0]
        out["name"] = payload[loc & 0xFFFF:(loc & 0xFFFF) + (loc >> 16) - 1].decode()
    return out


class Box:
    """A small machine: trace buffer, current, physical memory and the slab allocator."""

    def __init__(self, ncpus=1, nodes=(64 << 20,), layouts=V514, **kw):
        self.tb = TraceBuffer(ncpus)
        self.cur = Current()
        self.pm = PhysMem(list(nodes), ncpus, self.tb, self.cur)
        self.sa = SlabAllocator(self.pm, self.tb, self.cur, ncpus, **kw)
        self.layouts = layouts
        if layouts is not None:
            bind(self.tb, layouts)
        self.seen = [0] * ncpus

    def events(self, cpu=0):
        """Events recorded on ``cpu`` since the last call."""
        recs = list(self.tb.records(cpu))
        new = recs[self.seen[cpu]:]
        self.seen[cpu] = len(recs)
        return [decode(p, self.layouts) for _ts, p in new]


def site_addr(sa, name):
    from memsim.tracing.kallsyms import call_site
    return call_site(name)


def slab_pfn(addr):
    return (addr - PAGE_OFFSET) >> 12


def used_pages(pm):
    return sum(z["used"] for z in pm.zones_info())


# -- geometry: pagecache.md 8 ------------------------------------------------------------------

@pytest.mark.parametrize("ncpus", [4, 8, 15])
@pytest.mark.parametrize("name,nrexc,stride,objects", [
    ("inode_cache", False, 600, 27),
    ("inode_cache", True, 608, 26),
    ("shmem_inode_cache", False, 712, 23),
    ("shmem_inode_cache", True, 720, 22),
])
def test_objects_per_16k_slab_pagecache_8(ncpus, name, nrexc, stride, objects):
    """Seed figures: 26 -> 27 (inode_cache) and 22 -> 23 (shmem_inode_cache) objects per 16 KiB
    (order-2) slab when nrexceptional goes: the struct size goes in, the stride (with the
    constructor's out-of-object free pointer) comes out of calculate_sizes."""
    sa = Box(ncpus=ncpus, layouts=None, nrexceptional=nrexc).sa
    s = sa.find_cache(name)
    assert s.object_size == stride - 8
    assert s.ctor and s.size == stride
    assert (s.order, s.objects) == (2, objects)
    assert s.objects == (4096 << s.order) // s.size


@pytest.mark.parametrize("ncpus,name,order,objects", [
    (1, "inode_cache", 1, 13), (2, "inode_cache", 1, 13), (32, "inode_cache", 3, 54),
    (1, "shmem_inode_cache", 1, 11), (2, "shmem_inode_cache", 2, 23),
    (16, "shmem_inode_cache", 3, 46), (16, "inode_cache", 2, 27),
])
def test_objects_per_slab_follow_the_cpu_count(ncpus, name, order, objects):
    """The seed's 16 KiB slabs for both caches are what calculate_order picks for 4 to 15 CPUs
    (slub_min_objects 16 or 20: the author's laptop); other machines get other orders from the
    same formula (pagecache.md 8: compute, do not hard-code)."""
    s = Box(ncpus=ncpus, layouts=None).sa.find_cache(name)
    assert (s.order, s.objects) == (order, objects)
    assert s.objects == (4096 << order) // s.size


def test_nrexceptional_saving_is_about_one_megabyte():
    """pagecache.md 8: 1 - 22/23 and 1 - 26/27 fewer slabs: about 4 % of 25 MB."""
    old = Box(ncpus=4, layouts=None, nrexceptional=True).sa
    new = Box(ncpus=4, layouts=None).sa
    saved = 0.0
    for name in ("inode_cache", "shmem_inode_cache"):
        saved += 12.5e6 * (1 - old.find_cache(name).objects / new.find_cache(name).objects)
    assert 0.8e6 < saved < 1.2e6


def test_boot_cache_geometry():
    sa = Box(ncpus=4, layouts=None).sa
    got = {n: (c.object_size, c.size, c.align, c.order, c.objects)
           for n in ("mm_struct", "vm_area_struct", "anon_vma", "anon_vma_chain")
           for c in [sa.find_cache(n)]}
    assert got == {
        "mm_struct": (1088, 1088, 64, 3, 30),       # HWCACHE_ALIGN
        "vm_area_struct": (200, 200, 8, 0, 20),
        "anon_vma": (80, 88, 8, 0, 46),             # ctor + TYPESAFE_BY_RCU: free pointer word
        "anon_vma_chain": (64, 64, 8, 0, 64),
    }
    assert sa.find_cache("anon_vma").flags & SLAB_TYPESAFE_BY_RCU
    assert sa.find_cache("inode_cache").flags & SLAB_RECLAIM_ACCOUNT


@pytest.mark.parametrize("size,align,flags,ctor,stride,want_align", [
    (100, 0, 0, False, 104, 8),                     # ALIGN(100, sizeof(void *))
    (100, 0, SLAB_HWCACHE_ALIGN, False, 128, 64),
    (20, 0, SLAB_HWCACHE_ALIGN, False, 32, 32),     # small objects: half a line, ...
    (12, 0, SLAB_HWCACHE_ALIGN, False, 16, 16),
    (592, 0, 0, True, 600, 8),                      # constructor: free pointer after object
    (592, 0, SLAB_TYPESAFE_BY_RCU, False, 600, 8),
    (592, 0, 0, False, 592, 8),                     # free pointer inside the object
    (100, 256, 0, False, 256, 256),
    (64, 0, SLAB_RED_ZONE, False, 64 + 8 + 8 + 8, 8),   # right red zone word, pad, left pad
    (64, 0, SLAB_POISON, False, 72, 8),
    (64, 0, SLAB_STORE_USER, False, 64 + 2 * 152, 8),
])
def test_calculate_sizes(size, align, flags, ctor, stride, want_align):
    sa = Box(layouts=None).sa
    s = sa.kmem_cache_create("test_cache", size, align, flags, ctor)
    assert (s.size, s.align) == (stride, want_align)


@pytest.mark.parametrize("ncpus,size,order,objects", [
    # slub_min_objects = 4 * (fls(ncpus) + 1): 16 for 4 CPUs, 32 for 64
    (4, 8, 0, 512), (4, 192, 0, 21), (4, 256, 0, 16), (4, 512, 1, 16), (4, 1024, 2, 16),
    (4, 2048, 3, 16), (4, 4096, 3, 8), (4, 8192, 3, 4),
    (64, 192, 1, 42), (64, 256, 1, 32), (64, 512, 2, 32), (64, 1024, 3, 32), (64, 200, 1, 40),
    (64, 1088, 3, 30), (64, 600, 3, 54),
    (4, 3000, 3, 10),       # 1/16 leftover impossible within order 3: 1/8 accepted
    (4, 40000, 4, 1),       # beyond slub_max_order: one object, the smallest order that holds it
])
def test_slub_order_choices(ncpus, size, order, objects):
    sa = Box(ncpus=ncpus, layouts=None).sa
    s = sa.kmem_cache_create("test_cache", size)
    assert (s.order, s.objects) == (order, objects)
    assert s.min_order == (0 if size <= 4096 else (size - 1).bit_length() - 12)


def test_min_partial():
    sa = Box(layouts=None).sa
    assert sa.find_cache("kmalloc-8").min_partial == 5          # ilog2(8)/2 = 1 -> 5
    assert sa.find_cache("kmalloc-8k").min_partial == 6         # ilog2(8192)/2
    assert sa.kmem_cache_create("big", 1 << 21).min_partial == 10


# -- kmalloc size classes ----------------------------------------------------------------------

@pytest.mark.parametrize("size,name", [
    (1, "kmalloc-8"), (8, "kmalloc-8"), (9, "kmalloc-16"), (24, "kmalloc-32"), (33, "kmalloc-64"),
    (64, "kmalloc-64"), (65, "kmalloc-96"), (96, "kmalloc-96"), (97, "kmalloc-128"),
    (128, "kmalloc-128"), (129, "kmalloc-192"), (192, "kmalloc-192"), (193, "kmalloc-256"),
    (257, "kmalloc-512"), (1000, "kmalloc-1k"), (1025, "kmalloc-2k"), (4096, "kmalloc-4k"),
    (4097, "kmalloc-8k"), (8192, "kmalloc-8k"),
])
def test_kmalloc_size_classes(size, name):
    sa = Box(layouts=None).sa
    assert sa.kmalloc_cache(size).name == name
    assert sa.kmalloc_cache(size, GFP_KERNEL_ACCOUNT).name == name.replace("kmalloc-", "kmalloc-cg-")
    assert sa.kmalloc_cache(size, GFP_KERNEL | RECLAIMABLE).name == name.replace("kmalloc-", "kmalloc-rcl-")
    assert sa.kmalloc_cache(size, GFP_KERNEL_ACCOUNT | RECLAIMABLE).name.startswith("kmalloc-rcl-")
    assert sa.kmalloc_cache(size, GFP_KERNEL | GFP_DMA).name == "dma-" + name
    addr = sa.kmalloc(size, GFP_KERNEL, "workload_kmalloc")
    assert sa.ksize(addr) == sa.kmalloc_cache(size).size
    assert sa.object_info(addr)["cache"] == name


def test_kmalloc_caches_flags_and_nokmem():
    sa = Box(layouts=None).sa
    assert sa.find_cache("kmalloc-cg-64").flags & SLAB_ACCOUNT
    assert sa.find_cache("kmalloc-rcl-64").flags & SLAB_RECLAIM_ACCOUNT
    assert sa.kmalloc_cache(0) is None and sa.kmalloc_cache(8193) is None
    nokmem = Box(layouts=None, nokmem=True).sa
    assert nokmem.find_cache("kmalloc-cg-64") is None
    assert nokmem.kmalloc_cache(64, GFP_KERNEL_ACCOUNT).name == "kmalloc-64"


# -- tracepoints: tracepoints.md 4, 10, scenarios 15 and 16 --------------------------------------

def test_kmalloc_from_cache_scenario_15():
    """kmalloc(100, GFP_KERNEL): bytes_alloc = the slot size 128; the first one takes a slab
    page first (mm_page_alloc before kmalloc); the call site is the caller's text address."""
    b = Box()
    site = site_addr(b.sa, "workload_kmalloc")
    addr = b.sa.kmalloc(100, GFP_KERNEL, "workload_kmalloc")
    ev = b.events()
    assert [e["event"] for e in ev] == ["mm_page_alloc", "kmalloc"]
    assert ev[0]["order"] == 0 and ev[0]["gfp_flags"] == GFP_KERNEL | NOWARN | NORETRY
    assert ev[0]["pfn"] == slab_pfn(addr)
    assert ev[1] == dict(event="kmalloc", call_site=site, ptr=addr, bytes_req=100,
                         bytes_alloc=128, gfp_flags=GFP_KERNEL)
    addr2 = b.sa.kmalloc(100, GFP_KERNEL, "workload_kmalloc")
    assert addr2 == addr + 128
    assert [e["event"] for e in b.events()] == ["kmalloc"]
    info = b.pm.page_info(slab_pfn(addr))
    assert info["flags"] & PG_slab
    assert info["mapping"] == b.sa.find_cache("kmalloc-128").addr


def test_higher_order_slab_page_gfp():
    """allocate_slab: an order above s->min tries without reclaim (__GFP_NOMEMALLOC, no
    __GFP_RECLAIM); the slab page is a compound page (__GFP_COMP)."""
    b = Box(ncpus=4)
    b.sa.kmalloc(2000, GFP_KERNEL, "workload_kmalloc")          # kmalloc-2k: order 3, min 0
    ev = b.events()
    assert ev[0]["event"] == "mm_page_alloc" and ev[0]["order"] == 3
    assert ev[0]["gfp_flags"] == (GFP_KERNEL | NOWARN | NORETRY | COMP | NOMEMALLOC) & ~0xC00
    info = b.pm.page_info(ev[0]["pfn"])
    assert info["flags"] & PG_head and info["compound_order"] == 3


def test_reclaimable_cache_pages_are_reclaimable():
    b = Box()
    b.sa.cache_alloc("inode_cache", GFP_KERNEL, "kmem_cache_alloc")  # SLAB_RECLAIM_ACCOUNT
    ev = b.events()
    assert ev[0]["event"] == "mm_page_alloc" and ev[0]["migratetype"] == 2
    assert ev[0]["gfp_flags"] & RECLAIMABLE
    assert ev[1]["event"] == "kmem_cache_alloc"
    assert (ev[1]["bytes_req"], ev[1]["bytes_alloc"]) == (592, 600)
    assert b.sa.slab_reclaimable_pages() == 1 << b.sa.find_cache("inode_cache").order
    assert b.sa.slab_unreclaimable_pages() == 0


def test_kmalloc_zero_returns_zero_size_ptr_without_event():
    b = Box()
    assert b.sa.kmalloc(0, GFP_KERNEL, "workload_kmalloc") == ZERO_SIZE_PTR == 16
    assert b.events() == []
    assert b.sa.ksize(ZERO_SIZE_PTR) == 0
    b.sa.kfree(ZERO_SIZE_PTR, "workload_kfree")
    assert b.events() == [dict(event="kfree", call_site=site_addr(b.sa, "workload_kfree"),
                               ptr=ZERO_SIZE_PTR)]


def test_kfree_null_still_traced_scenario_16():
    b = Box()
    b.sa.kfree(0, "workload_kfree")
    assert b.events() == [dict(event="kfree", call_site=site_addr(b.sa, "workload_kfree"), ptr=0)]


@pytest.mark.parametrize("size,order", [(8193, 2), (12288, 2), (16384, 2), (16385, 3),
                                        (1 << 20, 8)])
def test_large_kmalloc_goes_to_the_page_allocator(size, order):
    """kmalloc_order: order get_order(size) with __GFP_COMP; the kmalloc event has bytes_alloc
    PAGE_SIZE << order and the caller's gfp (without __GFP_COMP); kfree fires kfree, then
    mm_page_free."""
    b = Box()
    free_before = b.pm.nr_free_pages() + b.pm.nr_pcp_pages()
    addr = b.sa.kmalloc(size, GFP_KERNEL_ACCOUNT, "workload_kmalloc")
    ev = b.events()
    assert [e["event"] for e in ev] == ["mm_page_alloc", "kmalloc"]
    assert ev[0]["order"] == order and ev[0]["gfp_flags"] == GFP_KERNEL_ACCOUNT | COMP
    assert addr == PAGE_OFFSET + (ev[0]["pfn"] << 12)
    assert (ev[1]["ptr"], ev[1]["bytes_req"], ev[1]["bytes_alloc"], ev[1]["gfp_flags"]) == \
        (addr, size, 4096 << order, GFP_KERNEL_ACCOUNT)
    info = b.pm.page_info(slab_pfn(addr))
    assert info["flags"] & PG_head and not info["flags"] & PG_slab
    assert b.sa.ksize(addr) == 4096 << order
    assert b.sa.slab_unreclaimable_pages() == 1 << order
    b.sa.kfree(addr, "workload_kfree")
    ev = b.events()
    assert [e["event"] for e in ev] == ["kfree", "mm_page_free"]
    assert ev[0]["ptr"] == addr and (ev[1]["pfn"], ev[1]["order"]) == (slab_pfn(addr), order)
    assert b.pm.nr_free_pages() + b.pm.nr_pcp_pages() == free_before
    assert b.sa.nr_slab_pages() == 0
    with pytest.raises(ValueError, match="already freed"):
        b.sa.kfree(addr, "workload_kfree")


def test_failed_allocation_traced_with_null_ptr():
    """A failed kmalloc returns 0 and still fires kmalloc with ptr 0 (an order beyond
    MAX_ORDER - 1 fails in __alloc_pages without a tracepoint of its own)."""
    b = Box()
    assert b.sa.kmalloc(8 << 20, GFP_KERNEL, "workload_kmalloc") == 0
    assert b.events() == [dict(event="kmalloc", call_site=site_addr(b.sa, "workload_kmalloc"),
                               ptr=0, bytes_req=8 << 20, bytes_alloc=8 << 20,
                               gfp_flags=GFP_KERNEL)]


def test_out_of_memory_falls_back_to_min_order_then_fails():
    """allocate_slab: when the preferred order fails (fragmented memory) the cache takes a
    s->min slab (kmalloc-8k: order 1, one object); when that fails too the allocation returns
    NULL: two failed mm_page_alloc, then kmalloc with ptr 0.  Everything goes back afterwards."""
    b = Box(nodes=(8 << 20,))
    used = used_pages(b.pm)
    pages = []
    while True:                                     # take every page ...
        p = b.pm.alloc(0)
        if p is None:
            break
        pages.append(p)
    for p in pages:                                 # ... and give back 2 of every 8: order-1 holes
        if p % 8 < 2:
            b.pm.free(p)
    b.pm.drain_all_pages()
    b.events()
    got = []
    while True:
        a = b.sa.kmalloc(8192, GFP_KERNEL, "workload_kmalloc")
        if a == 0:
            break
        got.append(a)
        assert len(got) < 2000
    s = b.sa.find_cache("kmalloc-8k")
    assert s.order == 3 and (s.min_order, s.min_objects) == (1, 1)
    assert (1, 1) in {(sl["order"], sl["objects"]) for sl in s.slabs()}
    ev = b.events()
    i = next(i for i, e in enumerate(ev) if e["event"] == "mm_page_alloc" and e["pfn"] == NO_PFN)
    assert [(e["event"], e.get("order")) for e in ev[i:i + 3]] == [
        ("mm_page_alloc", 3), ("mm_page_alloc", 1), ("kmalloc", None)]
    assert ev[i + 1]["pfn"] != NO_PFN and ev[i + 2]["ptr"] != 0
    assert ev[i + 1]["gfp_flags"] == GFP_KERNEL | COMP      # the fallback keeps reclaim
    assert [(e["event"], e.get("order"), e.get("pfn")) for e in ev[-3:-1]] == [
        ("mm_page_alloc", 3, NO_PFN), ("mm_page_alloc", 1, NO_PFN)]
    assert ev[-1]["event"] == "kmalloc" and ev[-1]["ptr"] == 0 and ev[-1]["bytes_alloc"] == 8192
    assert b.sa.check_invariants() == []
    for a in got:
        b.sa.kfree(a, "workload_kfree")
    b.sa.kmem_cache_shrink("kmalloc-8k")
    for p in pages:
        if p % 8 >= 2:
            b.pm.free(p)
    b.pm.drain_all_pages()
    assert used_pages(b.pm) == used and b.sa.nr_slab_pages() == 0
    assert b.sa.check_invariants() == [] and b.pm.check_invariants() == []


def test_kmem_cache_alloc_and_free_events():
    b = Box()
    addr = b.sa.cache_alloc("vm_area_struct", GFP_KERNEL, "vm_area_alloc")
    ev = b.events()
    assert ev[-1] == dict(event="kmem_cache_alloc", call_site=site_addr(b.sa, "vm_area_alloc"),
                          ptr=addr, bytes_req=200, bytes_alloc=200, gfp_flags=GFP_KERNEL)
    b.sa.cache_free("vm_area_struct", addr, "do_exit")
    assert b.events() == [dict(event="kmem_cache_free", call_site=site_addr(b.sa, "do_exit"),
                               ptr=addr, name="vm_area_struct")]


def _fill_slabs(sa, name, nslabs, site="vm_area_alloc"):
    """Allocate ``nslabs`` slabs' worth of objects; returns the objects grouped per slab."""
    s = sa.find_cache(name)
    objs = [sa.cache_alloc(name, GFP_KERNEL, site) for _ in range(nslabs * s.objects)]
    by_slab = {}
    for a in objs:
        by_slab.setdefault(sa.object_info(a)["slab_pfn"], []).append(a)
    assert len(by_slab) == nslabs
    return [by_slab[p] for p in sorted(by_slab, key=lambda p: objs.index(by_slab[p][0]))]


def test_kmem_cache_free_releasing_a_slab_fires_mm_page_free_first():
    """tracepoints.md 10: the free happens first; when it empties a slab while the node's
    partial list (that slab included) holds min_partial slabs, the slab page goes back
    (mm_page_free) before the kmem_cache_free event."""
    b = Box(ncpus=4)
    s = b.sa.kmem_cache_create("test_obj", 1024)
    assert (s.order, s.objects, s.min_partial) == (2, 16, 5)
    slabs = _fill_slabs(b.sa, "test_obj", 7)
    b.events()
    for objs in slabs[:4]:                          # four empty slabs stay as partials
        for a in objs:
            b.sa.cache_free("test_obj", a, "do_exit")
    assert s.nr_partial == 4 and s.num_slabs == 7
    assert {e["event"] for e in b.events()} == {"kmem_cache_free"}
    for a in slabs[4][:-1]:
        b.sa.cache_free("test_obj", a, "do_exit")
    b.events()
    last = slabs[4][-1]
    head = b.sa.object_info(last)["slab_pfn"]
    b.sa.cache_free("test_obj", last, "do_exit")
    ev = b.events()
    assert [e["event"] for e in ev] == ["mm_page_free", "kmem_cache_free"]
    assert (ev[0]["pfn"], ev[0]["order"]) == (head, 2)
    assert (ev[1]["ptr"], ev[1]["name"]) == (last, "test_obj")
    assert s.num_slabs == 6 and s.nr_partial == 4
    assert not b.pm.page_info(head)["flags"] & PG_slab
    assert b.sa.check_invariants() == []


def test_typesafe_by_rcu_slab_freed_after_grace_period():
    b = Box()
    slabs = _fill_slabs(b.sa, "anon_vma", 7, "__anon_vma_prepare")
    for objs in slabs[:5]:
        for a in objs:
            b.sa.cache_free("anon_vma", a, "do_exit")
    ev = b.events()
    assert "mm_page_free" not in {e["event"] for e in ev}     # call_rcu: not yet
    assert b.sa.rcu_pending_slabs() == 1
    assert b.sa.check_invariants() == []
    assert b.sa.rcu_barrier() == 1
    ev = b.events()
    assert [e["event"] for e in ev] == ["mm_page_free"]
    assert ev[0]["pfn"] == slab_pfn(slabs[4][0])
    assert b.sa.check_invariants() == []


def test_node_events_and_placement():
    """kmem_cache_alloc_node / kmalloc_node fire the *_node events with the node; the object
    comes from a slab on that node."""
    b = Box(ncpus=2, nodes=(32 << 20, 32 << 20))
    a = b.sa.cache_alloc("anon_vma_chain", GFP_KERNEL, "anon_vma_clone", node=1)
    assert b.pm.page_info(slab_pfn(a))["node"] == 1
    ev = b.events()
    assert ev[-1]["event"] == "kmem_cache_alloc_node" and ev[-1]["node"] == 1
    k = b.sa.kmalloc(40, GFP_KERNEL, "workload_kmalloc", node=1)
    assert b.pm.page_info(slab_pfn(k))["node"] == 1
    assert b.events()[-1]["event"] == "kmalloc_node"
    k0 = b.sa.kmalloc(40, GFP_KERNEL, "workload_kmalloc", node=0)   # node mismatch: new slab
    assert b.pm.page_info(slab_pfn(k0))["node"] == 0
    assert b.sa.check_invariants() == []
    with pytest.raises(ValueError, match="node 2"):
        b.sa.kmalloc(40, GFP_KERNEL, "workload_kmalloc", node=2)


def test_merged_node_events_profile():
    """A profile without *_node events (v6.1+) gets kmalloc with the node field."""
    b = Box(ncpus=2, nodes=(32 << 20, 32 << 20), layouts=MERGED)
    b.sa.kmalloc(40, GFP_KERNEL, "workload_kmalloc", node=1)
    b.sa.kmalloc(40, GFP_KERNEL, "workload_kmalloc")
    ev = [e for e in b.events() if e["event"] == "kmalloc"]
    assert [e["node"] for e in ev] == [1, -1]


# -- slab pages and the buddy allocator --------------------------------------------------------

def test_slab_pages_come_from_and_return_to_buddy():
    b = Box(ncpus=2)
    buddy = b.pm.buddyinfo()
    used = used_pages(b.pm)
    objs = []
    for i in range(3000):
        b.cur.cpu = i % 2
        objs.append(("k", b.sa.kmalloc(1 + (i * 37) % 9000, GFP_KERNEL, "workload_kmalloc")))
        if i % 3 == 0:
            objs.append(("mm_struct", b.sa.cache_alloc("mm_struct", GFP_KERNEL, "mm_alloc")))
    slab_pages = b.sa.nr_slab_pages()
    assert slab_pages > 0 and used_pages(b.pm) - used == slab_pages
    for c in b.sa.caches():
        for sl in c.slabs():
            info = b.pm.page_info(sl["pfn"])
            assert info["flags"] & PG_slab and info["mapping"] == c.addr
    assert b.sa.check_invariants() == [] and b.pm.check_invariants() == []
    for i, (kind, a) in enumerate(reversed(objs)):
        b.cur.cpu = i % 2                           # frees from the other CPU too
        if kind == "k":
            b.sa.kfree(a, "workload_kfree")
        else:
            b.sa.cache_free(kind, a, "do_exit")
    assert b.sa.check_invariants() == []
    b.sa.shrink_all()
    b.sa.rcu_barrier()
    b.pm.drain_all_pages()
    assert b.sa.nr_slab_pages() == 0 and used_pages(b.pm) == used
    assert b.pm.buddyinfo() == buddy
    assert b.sa.check_invariants() == [] and b.pm.check_invariants() == []


def test_remote_free_goes_to_the_page_and_comes_back_through_get_freelist():
    b = Box(ncpus=2)
    s = b.sa.find_cache("kmalloc-64")
    objs = [b.sa.kmalloc(64, GFP_KERNEL, "workload_kmalloc") for _ in range(s.objects)]
    assert len({slab_pfn(a) for a in objs}) == 1    # CPU 0's slab, now exhausted
    b.cur.cpu = 1
    b.sa.kfree(objs[10], "workload_kfree")          # into the frozen slab's page free list
    assert b.sa.check_invariants() == []
    b.cur.cpu = 0
    again = b.sa.kmalloc(64, GFP_KERNEL, "workload_kmalloc")
    assert again == objs[10] and s.num_slabs == 1
    assert b.sa.check_invariants() == []


def test_slabinfo_format_and_active_objects():
    """/proc/slabinfo 2.1: newest cache first; SLUB counts the free objects of CPU slabs as
    active (only partial-list free objects are subtracted)."""
    b = Box(ncpus=4)
    b.sa.kmalloc(100, GFP_KERNEL, "workload_kmalloc")
    text = b.sa.slabinfo().splitlines()
    assert text[0] == "slabinfo - version: 2.1"
    assert text[1] == ("# name            <active_objs> <num_objs> <objsize> <objperslab> "
                       "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
                       "slabdata <active_slabs> <num_slabs> <sharedavail>")
    assert text[2].startswith("hugetlbfs_inode_cache ")      # init_hugetlbfs_fs(): an fs_initcall
    assert text[-1].startswith("kmalloc-8 ")
    line = [l for l in text if l.startswith("kmalloc-128 ")][0]
    assert line == ("kmalloc-128           32     32    128   32    1 : tunables    0    0    0 "
                    ": slabdata      1      1      0")
    s = b.sa.find_cache("kmalloc-128")
    assert (s.active_objs, s.num_objs, s.nr_allocated) == (32, 32, 1)
    b.sa.kmem_cache_shrink("kmalloc-128")           # the slab is now partial: 31 free
    assert (s.active_objs, s.num_objs) == (1, 32)


def test_misuse_is_reported():
    b = Box()
    a = b.sa.cache_alloc("anon_vma_chain", GFP_KERNEL, "anon_vma_clone")
    with pytest.raises(ValueError, match="belongs to anon_vma_chain"):
        b.sa.cache_free("vm_area_struct", a, "do_exit")
    with pytest.raises(ValueError, match="not at the start of an object"):
        b.sa.kfree(a + 8, "workload_kfree")
    b.sa.cache_free("anon_vma_chain", a, "do_exit")
    with pytest.raises(ValueError, match="double free"):
        b.sa.cache_free("anon_vma_chain", a, "do_exit")
    with pytest.raises(ValueError, match="not a direct-map address"):
        b.sa.kfree(0xdead0000, "workload_kfree")
    with pytest.raises(KeyError, match="did you mean 'anon_vma_chain'"):
        b.sa.cache_alloc("anon_vma_chian", GFP_KERNEL, "anon_vma_clone")
    with pytest.raises(ValueError, match="exists"):
        b.sa.kmem_cache_create("mm_struct", 100)
    assert b.sa.check_invariants() == []


def test_machine_uses_the_slab_allocator_for_mm_struct():
    """The mm core takes mm_struct from the slab (memsim.machine wires SlabAllocator in)."""
    try:
        from memsim.testing import build_machine
        m = build_machine()
    except ImportError as exc:                      # pragma: no cover - other parts not built
        pytest.skip(f"machine not available: {exc}")
    if m.slab is None:
        pytest.skip("machine built without a slab allocator")
    before = m.slab.find_cache("mm_struct").nr_allocated
    m.spawn("t")
    assert m.slab.find_cache("mm_struct").nr_allocated == before + 1
    assert m.slab.check_invariants() == []


def test_trace_text_through_the_kmem_plugin():
    """Scenario 15 end to end: the kmem plugin's v5.14 declarations render the slab's records."""
    try:
        from memsim.testing import build_machine, trace_text
        m = build_machine(events=["kmem:kmalloc", "kmem:kfree"])
    except ImportError as exc:                      # pragma: no cover
        pytest.skip(f"tracing not available: {exc}")
    if m.slab is None:
        pytest.skip("machine built without a slab allocator")
    a = m.slab.kmalloc(100, GFP_KERNEL, "workload_kmalloc")
    m.slab.kfree(0, "workload_kfree")
    lines = trace_text(m).splitlines()
    assert "kmalloc: call_site=workload_kmalloc+" in lines[0]
    assert "bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL" in lines[0]
    assert lines[1].endswith("ptr=0000000000000000") and "kfree: call_site=workload_kfree+" in lines[1]
    m.slab.kfree(a, "workload_kfree")


# -- model-based test ---------------------------------------------------------------------------

KM_CLASSES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
KM_NAMES = {1024: "1k", 2048: "2k", 4096: "4k", 8192: "8k"}
CACHES = ("anon_vma", "anon_vma_chain", "vm_area_struct", "mm_struct", "inode_cache")
GFPS = (GFP_KERNEL, GFP_KERNEL_ACCOUNT, GFP_KERNEL | RECLAIMABLE, GFP_KERNEL | GFP_DMA)


def model_kmalloc_cache(size, gfp):
    """The cache a kmalloc should use, from the size-class list (not the kernel's tables)."""
    slot = next(c for c in KM_CLASSES if c >= size)
    if gfp & GFP_DMA:
        prefix = "dma-kmalloc-"
    elif gfp & RECLAIMABLE:
        prefix = "kmalloc-rcl-"
    elif gfp & 0x400000:
        prefix = "kmalloc-cg-"
    else:
        prefix = "kmalloc-"
    return prefix + KM_NAMES.get(slot, str(slot)), slot


class SlabModel(RuleBasedStateMachine):
    """Random kmalloc/kfree and cache alloc/free on 2 CPUs and 2 nodes, against a model of live
    objects: every address unique and where the model says, per-cache counts, the allocator's
    and the buddy allocator's invariants; at the end everything goes back to the buddy lists."""

    def __init__(self):
        super().__init__()
        self.b = Box(ncpus=2, nodes=(32 << 20, 32 << 20), layouts=None)
        self.sa, self.pm = self.b.sa, self.b.pm
        self.used0 = used_pages(self.pm)
        self.live = {}                      # addr -> (kind, cache name or None, usable size)

    @rule(size=st.one_of(st.integers(1, 300), st.integers(1, 9000),
                         st.sampled_from([8192, 8193, 12288, 40000])),
          gfp=st.sampled_from(GFPS), node=st.sampled_from([-1, -1, 0, 1]))
    def kmalloc(self, size, gfp, node):
        a = self.sa.kmalloc(size, gfp, "workload_kmalloc", node)
        assert a != 0 and a not in self.live
        if size > 8192:
            pages = -(-size // 4096)
            usable = 4096 << (pages - 1).bit_length()
            assert self.sa.object_info(a)["cache"] is None
            self.live[a] = ("k", None, usable)
        else:
            name, slot = model_kmalloc_cache(size, gfp)
            assert self.sa.object_info(a)["cache"] == name
            self.live[a] = ("k", name, slot)
        assert self.sa.ksize(a) == self.live[a][2]

    @rule(name=st.sampled_from(CACHES), node=st.sampled_from([-1, 0, 1]))
    def cache_alloc(self, name, node):
        a = self.sa.cache_alloc(name, GFP_KERNEL, "vm_area_alloc", node)
        assert a != 0 and a not in self.live
        info = self.sa.object_info(a)
        assert info["cache"] == name and info["allocated"]
        if node >= 0:
            assert self.pm.page_info(info["slab_pfn"])["node"] == node
        self.live[a] = ("c", name, self.sa.find_cache(name).size)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free(self, data):
        a = data.draw(st.sampled_from(sorted(self.live)))
        kind, name, _ = self.live.pop(a)
        if kind == "k":
            self.sa.kfree(a, "workload_kfree")
        else:
            self.sa.cache_free(name, a, "do_exit")

    @rule(cpu=st.integers(0, 1))
    def switch_cpu(self, cpu):
        self.b.cur.cpu = cpu

    @rule(name=st.sampled_from(CACHES + ("kmalloc-64", "kmalloc-cg-1k", "kmalloc-8k")))
    def shrink(self, name):
        self.sa.kmem_cache_shrink(name)

    @rule()
    def rcu_barrier(self):
        self.sa.rcu_barrier()

    @invariant()
    def consistent(self):
        assert self.sa.check_invariants() == []
        assert self.pm.check_invariants() == []
        counts = {}
        for kind, name, _ in self.live.values():
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
        for c in self.sa.caches():
            assert c.nr_allocated == counts.get(c.name, 0), c.name
            assert c.num_objs == sum(sl["objects"] for sl in c.slabs())

    def teardown(self):
        for a, (kind, name, _) in list(self.live.items()):
            if kind == "k":
                self.sa.kfree(a, "workload_kfree")
            else:
                self.sa.cache_free(name, a, "do_exit")
        self.sa.shrink_all()
        self.sa.rcu_barrier()
        self.pm.drain_all_pages()
        assert self.sa.nr_slab_pages() == 0
        assert used_pages(self.pm) == self.used0
        assert self.sa.check_invariants() == [] and self.pm.check_invariants() == []


SlabModel.TestCase.settings = settings(max_examples=60, stateful_step_count=60, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
TestSlabModel = SlabModel.TestCase
