"""The LRU lists (mm/swap.c, include/linux/mm_inline.h): the per-CPU lru_add batch and where it
drains per profile, the lists and their counters, the free path taking pages off the LRU, and
mark_page_accessed's second chance (issue 10, "LRU lists")."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV, zone_stat_item as ZS
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096
INACTIVE_ANON, ACTIVE_ANON, INACTIVE_FILE, ACTIVE_FILE, UNEVICTABLE = range(5)
PG_referenced, PG_lru, PG_active = 1 << 1, 1 << 4, 1 << 5


def machine(kernel="v5.14", cpus=1):
    return with_page_cache(Machine(MachineSpec(cpus=cpus, nodes=(128 * MiB,), kernel=kernel), with_slab=False))


def mmap(m, task, length, kind="anon", prot="rw", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, task.mm, m.files, length, prot, kind, totalram=total, **kw)


def touch(m, t, v, npages, write=True):
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + npages * PAGE, write)[1] == 0


def pfns_of(m, t, v, npages):
    return [m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) for i in range(npages)]


def lru_counters(m):
    """nr_inactive_anon .. nr_unevictable of node 0 and the zone counters summed, folded."""
    vs = m.physmem.vmstat
    vs.refresh_vm_stats()
    node = [vs.node_page_state(0, NS.NR_INACTIVE_ANON + i) for i in range(5)]
    zones = [sum(vs.zone_page_state(0, z, ZS.NR_ZONE_INACTIVE_ANON + i) for z in range(4))
             for i in range(5)]
    return node, zones


@pytest.mark.parametrize("kernel,size", [("v5.14", 15), ("v6.18", 31)])
def test_new_anon_pages_wait_in_the_lru_add_batch_until_it_is_full(kernel, size):
    m = machine(kernel)
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 64 * PAGE)
    touch(m, t, v, size - 1)
    pfns = pfns_of(m, t, v, size - 1)
    # each waiting page holds the batch's reference besides its PTE's (get_page in lru_cache_add)
    assert m.physmem.lru_batch(0) == pfns
    assert all(m.physmem.page_info(p)["refcount"] == 2 for p in pfns)
    assert m.physmem.lru_sizes(0) == [0, 0, 0, 0, 0]
    touch(m, t, v, size)                    # the size-th page fills the batch: it moves
    pfns = pfns_of(m, t, v, size)
    assert m.physmem.lru_batch(0) == []
    assert m.physmem.lru_sizes(0) == [size, 0, 0, 0, 0]
    assert m.physmem.lru_pages(0, INACTIVE_ANON) == pfns[::-1]     # newest at the head
    assert all(m.physmem.page_info(p)["refcount"] == 1 for p in pfns)
    assert all(m.physmem.page_info(p)["flags"] & PG_lru for p in pfns)
    assert lru_counters(m) == ([size, 0, 0, 0, 0], [size, 0, 0, 0, 0])


def test_v514_munmap_drains_the_batch_and_frees_every_page():
    m = machine("v5.14")
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 20 * PAGE)
    touch(m, t, v, 20)
    pfns = pfns_of(m, t, v, 20)
    assert len(m.physmem.lru_batch(0)) == 5 and m.physmem.lru_sizes(0)[INACTIVE_ANON] == 15
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 20 * PAGE)
    # unmap_region's lru_add_drain() ran before tlb_gather_mmu: every page went to the LRU,
    # then the gather's release_pages took each off it and freed it
    assert m.physmem.lru_batch(0) == []
    assert m.physmem.lru_sizes(0) == [0, 0, 0, 0, 0]
    assert all(m.physmem.page_info(p)["pcp"] or m.physmem.page_info(p)["buddy"] for p in pfns)
    assert lru_counters(m) == ([0] * 5, [0] * 5)
    assert m.check_invariants() == []


def test_v618_munmap_holds_back_the_batch_until_a_later_batch_moves_it():
    m = machine("v6.18")
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 40 * PAGE)
    touch(m, t, v, 40)                       # 31 moved, 9 waiting
    pfns = pfns_of(m, t, v, 40)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 40 * PAGE)
    held = pfns[31:]
    assert m.physmem.lru_batch(0) == held
    assert all(m.physmem.page_info(p)["refcount"] == 1 for p in held)      # the batch's only
    assert not any(m.physmem.page_info(p)["pcp"] for p in held)
    assert all(m.physmem.page_info(p)["pcp"] or m.physmem.page_info(p)["buddy"] for p in pfns[:31])
    w = mmap(m, t, 40 * PAGE)
    touch(m, t, w, 22)                       # 9 + 22 = 31: the batch moves, the held pages go
    assert m.physmem.lru_batch(0) == []
    assert all(m.physmem.page_info(p)["pcp"] or m.physmem.page_info(p)["buddy"] for p in held)
    assert m.physmem.lru_sizes(0)[INACTIVE_ANON] == 22
    assert lru_counters(m)[0][INACTIVE_ANON] == 22


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_exit_drains_the_batch_on_v514_and_holds_it_back_on_v618_as_the_probe_saw(kernel):
    """tests/core/probes/lru_drain.c on the live 6.18 kernel: 8 pages faulted, then exit; the
    exiting task freed none of them, a later task on the same CPU moved the batch (8
    mm_lru_insertion, no PG_mapped) and freed each.  5.14's exit_mmap drains first."""
    m = machine(kernel)
    t = m.spawn("lru_drain")
    m.set_current(t)
    v = mmap(m, t, 8 * PAGE)
    touch(m, t, v, 8)
    pfns = pfns_of(m, t, v, 8)
    m.exit_task(t)
    freed = [bool(m.physmem.page_info(p)["pcp"] or m.physmem.page_info(p)["buddy"]) for p in pfns]
    if kernel == "v5.14":
        assert all(freed) and m.physmem.lru_batch(0) == []
        return
    assert not any(freed) and m.physmem.lru_batch(0) == pfns
    u = m.spawn("python3")
    m.set_current(u)
    w = mmap(m, u, 40 * PAGE)
    touch(m, u, w, 23)                       # 8 + 23 = 31: the other task's fault moves the batch
    assert all(m.physmem.page_info(p)["pcp"] or m.physmem.page_info(p)["buddy"] for p in pfns)
    assert m.physmem.lru_sizes(0)[INACTIVE_ANON] == 23


def test_exit_leaves_nothing_on_the_lru_under_v514():
    m = machine("v5.14")
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 100 * PAGE)
    touch(m, t, v, 100)
    assert sum(m.physmem.lru_sizes(0)) + len(m.physmem.lru_batch(0)) == 100
    m.exit_task(t)
    assert m.physmem.lru_sizes(0) == [0] * 5 and m.physmem.lru_batch(0) == []
    assert lru_counters(m) == ([0] * 5, [0] * 5)


def test_page_cache_pages_go_to_the_file_lru_shmem_to_the_anon_lru():
    m = machine("v5.14")
    t = m.spawn("app")
    m.set_current(t)
    f = mmap(m, t, 8 * PAGE, kind="file", prot="r")
    touch(m, t, f, 8, write=False)
    s = mmap(m, t, 8 * PAGE, kind="shared")
    touch(m, t, s, 8)
    m.physmem.lru_add_drain_py()
    sizes = m.physmem.lru_sizes(0)
    assert sizes[INACTIVE_FILE] >= 8 and sizes[INACTIVE_ANON] == 8
    assert lru_counters(m)[0] == sizes


def test_mark_page_accessed_gives_a_second_chance_then_activates():
    m = machine("v5.14")
    pm = m.physmem
    pfn = pm.alloc(0, 0x1100CCA)
    pm.lru_cache_add_py(pfn)
    pm.lru_add_drain_py()                    # the batch's reference goes, ours stays
    assert pm.lru_pages(0, INACTIVE_FILE) == [pfn] and pm.page_info(pfn)["refcount"] == 1
    before = pm.vmstat.vm_event(EV.PGACTIVATE)
    pm.mark_accessed(pfn)                    # first touch: PG_referenced only
    assert pm.page_info(pfn)["flags"] & PG_referenced
    assert pm.lru_pages(0, INACTIVE_FILE) == [pfn] and pm.lru_batch(0, activate=True) == []
    pm.mark_accessed(pfn)                    # second: to the activate batch, referenced cleared
    assert not pm.page_info(pfn)["flags"] & PG_referenced
    assert pm.lru_batch(0, activate=True) == [pfn]
    pm.lru_add_drain_py()
    assert pm.lru_pages(0, ACTIVE_FILE) == [pfn] and pm.lru_pages(0, INACTIVE_FILE) == []
    assert pm.page_info(pfn)["flags"] & PG_active
    assert pm.vmstat.vm_event(EV.PGACTIVATE) == before + 1
    pm.put(pfn)                              # the last reference: off the LRU, freed
    assert pm.lru_sizes(0) == [0] * 5
    assert lru_counters(m) == ([0] * 5, [0] * 5)


def test_a_page_still_in_the_lru_add_batch_is_activated_in_place():
    m = machine("v6.18")
    pm = m.physmem
    pfn = pm.alloc(0, 0x1100CCA)
    pm.lru_cache_add_py(pfn)
    pm.mark_accessed(pfn)
    pm.mark_accessed(pfn)                    # __lru_cache_activate_folio: PG_active in the batch
    assert pm.page_info(pfn)["flags"] & PG_active and pm.lru_batch(0, activate=True) == []
    pm.lru_add_drain_py()
    assert pm.lru_pages(0, ACTIVE_FILE) == [pfn]
    pm.put(pfn)
    assert pm.lru_sizes(0) == [0] * 5


@pytest.mark.parametrize("kernel,reused", [("v5.14", 0), ("v6.18", 4)])
def test_a_write_to_a_fresh_page_in_the_batch_copies_it_before_v518(kernel, reused):
    """do_wp_page of v5.14 copies unless page_count() == 1, and the lru_add batch holds a
    reference; v5.18 ("mm: optimize do_wp_page() for fresh pages in local LRU pagevecs") drains
    this CPU's batch first, so v6.18 reuses the page."""
    m = machine(kernel)
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 4 * PAGE)
    touch(m, t, v, 4)
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start, 4 * PAGE, "r")
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start, 4 * PAGE, "rw")
    touch(m, t, t.mm.vmas[0], 4)
    faults = m.mmcore.fault_counts_dict()
    assert faults["reuse"] == reused and faults["cow"] == 4 - reused
    assert m.check_invariants() == []


def test_check_counts_every_lru_page_once_and_against_the_counters():
    """--check: list walks against lruvec.nr_pages and the node and zone counters."""
    m = machine("v5.14")
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 40 * PAGE)
    touch(m, t, v, 40)
    assert m.physmem.check_lru() == []
    m.physmem.vmstat.mod_node_page_state(0, NS.NR_ACTIVE_FILE, 1)     # a counter out of step
    problems = m.physmem.check_lru(changed_only=True)
    assert problems == ["node 0 active_file: nr_active_file 1 != 0 pages on the list",
                        "node 0 active_file: nr_zone_active_file of its zones 0 != nr_active_file 1"]
    m.physmem.vmstat.mod_node_page_state(0, NS.NR_ACTIVE_FILE, -1)
    # what "every task exited" means: a live task's anonymous pages count as left behind
    left = m.physmem.check_lru(no_tasks=True)
    assert sum("is left after every task exited" in p for p in left) == 30          # on the list
    assert sum("still referenced after every task exited" in p for p in left) == 10  # in the batch
    assert len(left) == 40
    m.exit_task(t)
    assert m.check_invariants() == []


def test_check_finds_pages_left_isolated():
    m = machine("v5.14")
    m.physmem.vmstat.mod_node_page_state(0, NS.NR_ISOLATED_FILE, 3)
    assert m.physmem.check_lru() == ["node 0: nr_isolated_file is 3 outside reclaim"]
