"""shrink_page_list() (mm/vmscan.c of v5.14; shrink_folio_list of v6.18) page by page: clean
pages dropped, dirty ones written back by kswapd and reclaimed on a later pass, references,
unmapping through the reverse map, anonymous pages through the swap ops, and mappings whose
a_ops cannot drop pages (issue 10, "Reclaim": the evict part).  The ops are filled in by the
Cython test plugin tests/plugins/reclaimops."""
import os

import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import pte_swap_entry
from memsim.testing import with_page_cache, build_extension
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV

MiB = 1 << 20
PAGE = 4096
INACTIVE_ANON, ACTIVE_ANON, INACTIVE_FILE, ACTIVE_FILE = range(4)
PGDAT_DIRTY, PGDAT_WRITEBACK = 0, 1
PG_dirty, PG_active, PG_referenced, PG_writeback, PG_reclaim = 3, 5, 1, 15, 18
PLUGIN = os.path.join(os.path.dirname(__file__), "..", "plugins", "reclaimops", "reclaimops.pyx")


@pytest.fixture(scope="module")
def reclaimops(tmp_path_factory):
    pytest.importorskip("Cython", reason="the Cython test plugin needs Cython to build")
    return build_extension(PLUGIN, tmp_path_factory.mktemp("reclaimops-build"))


def setup(kernel="v5.14", mem=64 * MiB):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(mem,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def mmap(m, t, npages, prot, kind, **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, npages * PAGE, prot, kind, totalram=total, **kw)


def flags(m, pfn):
    return m.physmem.page_info(pfn)["flags"]


def cached_unmapped_page(m, t):
    """A page of the built-in page cache that no PTE maps any more (read, then munmap)."""
    f = mmap(m, t, 1, "r", "file", file="data")
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, f.vm_start)
    mapping = f.vm_file
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, PAGE)
    m.physmem.lru_add_drain_py()
    assert mapping.i_pages[0] == pfn and m.physmem.page_info(pfn)["mapcount"] == 0
    return mapping, pfn


def node(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(item)


def test_a_clean_unmapped_page_is_dropped_from_the_cache():
    m, t = setup()
    mapping, pfn = cached_unmapped_page(m, t)
    files = node(m, NS.NR_FILE_PAGES)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (1, 1)
    assert pfn not in mapping.i_pages and mapping.nrpages == 0
    assert node(m, NS.NR_FILE_PAGES) == files - 1
    assert m.physmem.vmstat.vm_event(EV.PGSTEAL_DIRECT) == 1
    st = m.vmscan.last_reclaim_stat
    assert st["nr_dirty"] == st["nr_pageout"] == st["nr_ref_keep"] == 0
    assert st["nr_activate"] == (0, 0)
    assert m.check_invariants() == []


def test_a_dirty_page_is_written_by_kswapd_and_reclaimed_on_a_later_pass():
    """v5.14: direct reclaim never writes file pages; kswapd writes a dirty page once it comes
    round again with PG_reclaim while PGDAT_DIRTY is set, end_page_writeback rotates it to the
    inactive tail (pgrotated), and the next pass reclaims it clean."""
    m, t = setup()
    m.vmscan.flusher_writeback = False                  # reclaim's own writes only
    mapping, pfn = cached_unmapped_page(m, t)
    m.mmcore.set_page_dirty_py(pfn)
    assert node(m, NS.NR_FILE_DIRTY) == 1 and node(m, NS.NR_DIRTIED) == 1
    vs = m.physmem.vmstat
    # direct reclaim: PG_reclaim, nr_vmscan_immediate_reclaim, activated
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (0, 1)
    st = m.vmscan.last_reclaim_stat
    assert st["nr_dirty"] == st["nr_unqueued_dirty"] == 1 and st["nr_activate"] == (0, 1)
    assert node(m, NS.NR_VMSCAN_IMMEDIATE) == 1 and vs.vm_event(EV.PGACTIVATE) == 1
    assert flags(m, pfn) & (1 << PG_reclaim) and flags(m, pfn) & (1 << PG_active)
    m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)
    # kswapd without PGDAT_DIRTY: still not written
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
    assert node(m, NS.NR_VMSCAN_IMMEDIATE) == 2 and node(m, NS.NR_VMSCAN_WRITE) == 0
    m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)
    m.vmscan.set_pgdat_flag(0, PGDAT_DIRTY)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
    st = m.vmscan.last_reclaim_stat
    assert st["nr_pageout"] == 1 and st["nr_activate"] == (0, 0)
    assert node(m, NS.NR_VMSCAN_WRITE) == 1 and node(m, NS.NR_WRITTEN) == 1
    assert node(m, NS.NR_FILE_DIRTY) == node(m, NS.NR_WRITEBACK) == 0
    assert vs.vm_event(EV.PGROTATED) == 1
    assert m.physmem.lru_pages(0, INACTIVE_FILE)[-1] == pfn      # rotated to the tail
    assert not flags(m, pfn) & ((1 << PG_dirty) | (1 << PG_writeback) | (1 << PG_reclaim))
    assert mapping.i_pages[0] == pfn
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (1, 1)
    assert mapping.nrpages == 0 and vs.vm_event(EV.PGSTEAL_KSWAPD) == 1
    assert m.check_invariants() == []


def test_v618_reclaim_never_writes_file_pages():
    """6.18's pageout(): "We no longer attempt to writeback filesystem folios here"."""
    m, t = setup("v6.18")
    m.vmscan.flusher_writeback = False
    mapping, pfn = cached_unmapped_page(m, t)
    m.mmcore.set_page_dirty_py(pfn)
    m.vmscan.set_pgdat_flag(0, PGDAT_DIRTY)
    for _ in range(3):
        assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
        m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)
    assert node(m, NS.NR_VMSCAN_WRITE) == 0 and node(m, NS.NR_VMSCAN_IMMEDIATE) == 3
    assert mapping.i_pages[0] == pfn


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_the_flusher_reclaim_wakes_writes_a_dirty_page_that_a_later_pass_reclaims(kernel):
    """Direct reclaim never writes a dirty file page itself; the flusher it wakes does (memsim:
    at once, through the built-in disk): NR_WRITTEN but not NR_VMSCAN_WRITE, and the page,
    activated with PG_reclaim, is rotated to the inactive tail and reclaimed next time."""
    m, t = setup(kernel)
    mapping, pfn = cached_unmapped_page(m, t)
    m.mmcore.set_page_dirty_py(pfn)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (0, 1)
    assert node(m, NS.NR_VMSCAN_IMMEDIATE) == 1 and node(m, NS.NR_WRITTEN) == 1
    assert node(m, NS.NR_VMSCAN_WRITE) == 0 and node(m, NS.NR_FILE_DIRTY) == 0
    assert m.physmem.vmstat.vm_event(EV.PGROTATED) == 1
    assert m.physmem.lru_pages(0, INACTIVE_FILE)[-1] == pfn
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (1, 1)
    assert mapping.nrpages == 0
    assert m.check_invariants() == []


def test_a_page_referenced_twice_is_activated_and_once_is_kept():
    m, t = setup()
    f = mmap(m, t, 2, "r", "file", file="data")
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    m.physmem.lru_add_drain_py()
    a, b = (m.mmcore.pfn_of(t.mm, f.vm_start + i * PAGE) for i in range(2))
    # first pass: young PTEs -> PAGEREF_KEEP, PG_referenced set, the young bits cleared
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (0, 2)
    assert m.vmscan.last_reclaim_stat["nr_ref_keep"] == 2
    assert all(flags(m, p) & (1 << PG_referenced) for p in (a, b))
    # the task touches page a again: young PTE + PG_referenced -> PAGEREF_ACTIVATE
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_start + PAGE, False)[1] == 0
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (1, 2)
    assert m.vmscan.last_reclaim_stat["nr_activate"] == (0, 1)
    assert m.physmem.lru_pages(0, ACTIVE_FILE) == [a]
    assert m.mmcore.pfn_of(t.mm, f.vm_start + PAGE) is None      # b went: unmapped, dropped
    assert m.check_invariants() == []


def test_a_mapped_page_is_unmapped_through_the_reverse_map():
    m, t = setup()
    f = mmap(m, t, 1, "r", "file", file="data")
    g = mmap(m, t, 1, "r", "file", file="data")           # the same file page, twice
    for v in (f, g):
        assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, f.vm_start)
    assert m.mmcore.pfn_of(t.mm, g.vm_start) == pfn
    m.physmem.lru_add_drain_py()
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_FILEPAGES"] == 2
    # two young PTEs: activated at once
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (0, 1)
    assert m.vmscan.last_reclaim_stat["nr_activate"] == (0, 1)
    m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)             # clears the young bits again
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (1, 1)
    for v in (f, g):
        assert t.mm.pte(v.vm_start) == 0                      # the PTEs cleared
        assert m.mmcore.pfn_of(t.mm, v.vm_start) is None
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_FILEPAGES"] == 0
    assert node(m, NS.NR_FILE_MAPPED) == 0
    assert m.check_invariants() == []


def test_an_anon_page_goes_out_through_the_swap_ops_and_comes_back(reclaimops):
    m, t = setup()
    ops = reclaimops.ReclaimOps()
    ops.install(m)
    a = mmap(m, t, 1, "rw", "anon")
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, a.vm_start)
    m.physmem.write_bytes(pfn, 0, b"swapped")
    m.physmem.lru_add_drain_py()
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (0, 1)     # young: kept
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (1, 1)
    c = ops.counts_dict()
    assert (c["swap_out"], c["swap_duplicate"], c["swap_writepage"], c["delete_from_swap_cache"]) == (1, 1, 1, 1)
    pte = t.mm.pte(a.vm_start)
    assert pte and not pte & 1                                # a swap PTE: not present
    assert pte_swap_entry(pte) == (0, 1)                      # type 0, offset 1
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_ANONPAGES"] == 0 and m.rss(t)["MM_SWAPENTS"] == 1
    assert node(m, NS.NR_SWAPCACHE) == 0 and node(m, NS.NR_VMSCAN_WRITE) == 1
    assert m.physmem.vmstat.vm_event(EV.PGSTEAL_ANON) == 1
    assert m.check_invariants() == []
    # the fault reads it back
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert m.physmem.read_bytes(m.mmcore.pfn_of(t.mm, a.vm_start), 0, 7) == b"swapped"
    assert ops.slots == {}


def test_an_anon_page_that_cannot_be_unmapped_leaves_the_swap_cache_again(reclaimops):
    """try_to_unmap fails (swap_duplicate refuses the PTE's reference): nr_unmap_fail, the page
    is activated, and with no PTE holding its entry it is no swap-cache page any more."""
    m, t = setup()
    ops = reclaimops.ReclaimOps()
    ops.install(m)
    ops.fail_duplicate = True
    a = mmap(m, t, 1, "rw", "anon")
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, a.vm_start)
    m.physmem.lru_add_drain_py()
    m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (0, 1)
    st = m.vmscan.last_reclaim_stat
    assert st["nr_unmap_fail"] == 1 and st["nr_activate"] == (1, 0)
    assert ops.counts_dict()["delete_from_swap_cache"] == 1
    assert node(m, NS.NR_SWAPCACHE) == 0 and m.mmcore.pfn_of(t.mm, a.vm_start) == pfn
    assert m.physmem.page_info(pfn)["refcount"] == 1
    assert m.check_invariants() == []
    m.exit_task(t)
    assert m.check_invariants() == []


def test_an_anon_page_without_swap_is_activated_and_stays(reclaimops):
    m, t = setup()
    a = mmap(m, t, 4, "rw", "anon")
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    m.physmem.lru_add_drain_py()
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (0, 4)     # young: kept
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (0, 4)     # no swap_out op
    assert m.vmscan.last_reclaim_stat["nr_activate"] == (4, 0)
    assert m.physmem.lru_sizes(0)[ACTIVE_ANON] == 4
    # and with a swap device that is full (-ENOMEM from swap_out) too
    ops = reclaimops.ReclaimOps()
    ops.install(m)
    ops.slots_left = 0
    m.vmscan.shrink_active_list_py(0, ACTIVE_ANON)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_ANON) == (0, 4)
    assert m.vmscan.last_reclaim_stat["nr_activate"] == (4, 0) and ops.counts_dict()["swap_out"] == 4
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_ANONPAGES"] == 4 and m.rss(t)["MM_SWAPENTS"] == 0
    assert m.check_invariants() == []


def test_a_plugin_mapping_is_evicted_through_its_ops(reclaimops):
    """The flusher reclaim wakes writes the dirty page through the a_ops writepage once the
    batch is back on the LRU (write_one_page); writepage leaves it under writeback (case 2 on
    the next pass: nr_writeback, activated with PG_reclaim); when the device completes it
    rotates to the inactive tail and the next pass drops it through delete_from_page_cache."""
    m, t = setup()
    ops = reclaimops.ReclaimOps()
    ops.install(m, swap=False)
    f = mmap(m, t, 1, "r", "file", file="plugged")
    ops.own_file(f.vm_file)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, f.vm_start)
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, PAGE)
    m.physmem.lru_add_drain_py()
    m.mmcore.set_page_dirty_py(pfn)
    m.vmscan.set_pgdat_flag(0, PGDAT_DIRTY)
    m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True)          # PG_reclaim, active
    assert ops.counts_dict()["writepage"] == 1 and ops.pending == [pfn]     # the flusher's write
    assert node(m, NS.NR_WRITEBACK) == 1
    m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
    st = m.vmscan.last_reclaim_stat
    assert st["nr_writeback"] == 1 and st["nr_congested"] == 1 and st["nr_activate"] == (0, 1)
    assert ops.complete_writeback() == 1
    assert m.physmem.lru_pages(0, INACTIVE_FILE)[-1] == pfn and not flags(m, pfn) & (1 << PG_active)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (1, 1)
    assert ops.counts_dict()["delete_from_page_cache"] == 1 and ops.cache == {}
    assert node(m, NS.NR_WRITEBACK) == 0 and node(m, NS.NR_WRITTEN) == 1
    assert m.check_invariants() == []


def test_a_plugin_mapping_without_the_reclaim_slots_is_kept(reclaimops):
    m, t = setup()
    ops = reclaimops.ReclaimOps()
    ops.install(m, swap=False)
    f = mmap(m, t, 2, "r", "file", file="pinned")
    ops.own_file(f.vm_file, evictable=False)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    m.physmem.lru_add_drain_py()
    for _ in range(3):
        assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE) == (0, 2)
    assert len(ops.cache) == 2 and m.physmem.lru_sizes(0)[INACTIVE_FILE] == 2
    assert all(m.mmcore.pfn_of(t.mm, f.vm_start + i * PAGE) is not None for i in range(2))


def test_check_holds_while_a_shared_file_is_written_under_pressure(reclaimops):
    """--check's accounting under pressure: a task writes a shared file mapping twice the
    machine's size (dirty PTEs become dirty pages at unmap) and reads another, anon pages go
    to the test plugin's swap; the invariants hold after each chunk and after exit."""
    m, t = setup(mem=32 * MiB)
    ops = reclaimops.ReclaimOps()
    ops.install(m)
    f = mmap(m, t, 2 * 32 * MiB // PAGE, "rw", "file-shared", file="shared")
    r = mmap(m, t, 2 * 32 * MiB // PAGE, "r", "file", file="other")
    progress = 0
    while progress < (r.vm_end - r.vm_start) // PAGE:
        progress, ret, _ = m.mmcore.access(t.mm, r, r.vm_start, r.vm_end, False, 0, PAGE, 0,
                                           progress, 1024)
        assert ret == 0
        assert m.check_invariants() == []
    assert m.physmem.vmstat.vm_event(EV.PGSTEAL_DIRECT) > 0
    progress = 0
    while progress < 1024:
        progress, ret, _ = m.mmcore.access(t.mm, f, f.vm_start, f.vm_start + 1024 * PAGE, True,
                                           0, PAGE, 0, progress, 256)
        assert ret == 0
    for _ in range(20):
        m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True)
    assert m.check_invariants() == []
