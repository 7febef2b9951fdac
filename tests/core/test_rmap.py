"""The reverse map (mm/rmap.c): anon_vma chains across fork and split, rmap_walk, try_to_unmap
with a swap entry, page_referenced, unmap_mapping_range, and the slab objects behind it."""
from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import pte_swap_entry
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096


def setup(with_slab=False):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(64 * MiB,)), with_slab=with_slab))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def mmap(m, t, length, kind="anon", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, totalram=total, **kw)


def test_rmap_walk_finds_the_parent_and_the_child_after_fork():
    m, p = setup()
    v = mmap(m, p, 8 * PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    pfn = m.mmcore.pfn_of(p.mm, v.vm_start + 3 * PAGE)
    c = m.fork(p, "child")
    found = {(vma.vm_mm.mm_id, addr, level) for vma, addr, level in m.mmcore.rmap.rmap_walk(pfn)}
    assert found == {(p.mm.mm_id, v.vm_start + 3 * PAGE, 4), (c.mm.mm_id, v.vm_start + 3 * PAGE, 4)}
    # the child's own new pages belong to its own anon_vma, not the parent's
    m.set_current(c)
    cv = c.mm.find_vma(v.vm_start)
    m.mmcore.access(c.mm, cv, v.vm_start, v.vm_start + PAGE, True)
    new = m.mmcore.pfn_of(c.mm, v.vm_start)
    assert [vma.vm_mm.mm_id for vma, _, _ in m.mmcore.rmap.rmap_walk(new)] == [c.mm.mm_id]
    assert cv.anon_vma != v.anon_vma and len(cv.anon_vma_chain) == 2


def test_a_split_vma_is_chained_to_the_same_anon_vma():
    m, t = setup()
    v = mmap(m, t, 8 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start + 4 * PAGE, 4 * PAGE, "r")
    upper = t.mm.find_vma(v.vm_start + 4 * PAGE)
    assert upper is not v and upper.anon_vma == v.anon_vma
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start + 6 * PAGE)
    assert [(vma, addr) for vma, addr, _ in m.mmcore.rmap.rmap_walk(pfn)] == [(upper, v.vm_start + 6 * PAGE)]


def test_try_to_unmap_with_a_swap_entry_moves_the_count_to_swapents():
    m, t = setup()
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    m.mmcore.sync_current_rss()
    m.physmem.lru_add_drain_py()            # reclaim only sees pages the batch moved to the LRU
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start + PAGE)
    assert m.mmcore.rmap.try_to_unmap(pfn, (0, 42)) == 1
    assert pte_swap_entry(t.mm.pte(v.vm_start + PAGE)) == (0, 42)
    assert m.rss(t)["MM_ANONPAGES"] == 3 and m.rss(t)["MM_SWAPENTS"] == 1
    assert m.physmem.page_info(pfn)["buddy"] or m.physmem.page_info(pfn)["pcp"]
    assert m.check_invariants() == []


def test_page_referenced_counts_and_clears_young_ptes():
    m, p = setup()
    v = mmap(m, p, 2 * PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    pfn = m.mmcore.pfn_of(p.mm, v.vm_start)
    m.fork(p, "child")
    assert m.mmcore.rmap.page_referenced(pfn) == 1            # the child's copy is not young
    assert m.mmcore.rmap.page_referenced(pfn) == 0
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_start + PAGE, False)
    assert m.mmcore.rmap.page_referenced(pfn) == 1


def test_unmap_mapping_range_unmaps_a_file_from_every_mapping():
    m, p = setup()
    v = mmap(m, p, 8 * PAGE, "file", file="data")
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, False)
    c = m.fork(p, "child")
    m.set_current(c)
    cv = c.mm.find_vma(v.vm_start)
    m.mmcore.access(c.mm, cv, cv.vm_start, cv.vm_end, False)
    assert len(v.vm_file.i_mmap) == 2
    m.mmcore.unmap_mapping_range(v.vm_file, 2, 3)              # "truncate" pages 2..4
    for task in (p, c):
        present = [m.mmcore.pfn_of(task.mm, v.vm_start + i * PAGE) is not None for i in range(8)]
        assert present == [True, True, False, False, False, True, True, True]
    assert m.check_invariants() == []


def test_the_anon_vma_objects_go_back_to_their_caches_at_exit():
    m, p = setup(with_slab=True)

    def active(name):
        return m.slab.find_cache(name).nr_allocated

    base = active("anon_vma"), active("anon_vma_chain")
    v = mmap(m, p, 8 * PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    c = m.fork(p, "child")
    vm.do_mprotect(m.mmcore, p.mm, v.vm_start + 4 * PAGE, PAGE, "r")
    assert active("anon_vma") > base[0] and active("anon_vma_chain") > base[1]
    m.exit_task(c)
    m.exit_task(p)
    m.quiescent_state()
    assert (active("anon_vma"), active("anon_vma_chain")) == base
