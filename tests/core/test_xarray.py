"""The core's i_pages (AddressSpace, XArray in memsim/mm.pyx): nrpages as a counter kept at
insert and delete, nrexceptional kept only before v5.13 (the "Remove nrexceptional tracking"
series), mapping_empty() against nrpages at the sites pagecache.md 4.2 / 4.3 name, and the C
range walk (xa_find) that truncate and invalidate loop over (pagecache.md 1-7, scenarios 1, 4,
10, 13, 15, 23)."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import AddressSpace, XArray
from memsim.testing import hold_open, with_page_cache

MiB = 1 << 20
PAGE = 4096


def machine(kernel="v5.14", mib=32):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(mib * MiB,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def read_file(m, t, size, name, keep_nrexceptional=False):
    """Create file ``name`` (pre-v5.13 counting if asked), map it, read every page, unmap."""
    mapping = m.files.file(name, size)
    mapping.keep_nrexceptional = keep_nrexceptional
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, size, "r", "file", name, 0, totalram=total)
    hold_open(m, t, name)                       # the task keeps the file (and its dentry) in use
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    m.physmem.lru_add_drain_py()
    return mapping


def stat(m, item):
    from memsim.vmstat import node_stat_item as NS
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def walk(mapping):
    """(pages, value entries) of i_pages, counted by a walk."""
    values = sum(1 for _, e in mapping.i_pages.items() if e < 0)
    return len(mapping.i_pages) - values, values


# -- nrpages, nrexceptional, mapping_empty ------------------------------------------------------
def test_an_empty_mapping_has_no_pages_and_no_nrexceptional_count():
    """Scenario 1: a new mapping is empty, nrpages 0; after the patch nothing counts value
    entries (nrexceptional stays 0 whatever happens, as the field is gone)."""
    a = AddressSpace(7, "f")
    assert a.mapping_empty() and a.nrpages == 0 and a.nrexceptional == 0
    assert not a.keep_nrexceptional                       # post-patch is the default
    assert AddressSpace(8, "g", keep_nrexceptional=True).keep_nrexceptional


@pytest.mark.parametrize("keep", [False, True], ids=["post-patch", "pre-patch"])
def test_nrpages_and_nrexceptional_follow_reclaim_refault_and_the_shadow_shrinker(keep):
    """Scenarios 4, 6 and 23 with the counters: reclaim turns pages into shadows (nrpages - 1
    each; pre-patch nrexceptional + 1, page_cache_delete), the shadow-node shrinker that reclaim
    runs frees whole nodes (pre-patch - node->nr_values, shadow_lru_isolate), a refault over a
    shadow takes it back (pre-patch - 1, __add_to_page_cache_locked).  Post-patch nrexceptional
    never moves.  Streaming 256 MiB through 16 MiB leaves more shadow nodes than the 512 the
    node allows."""
    m, t = machine(mib=16)
    mapping = read_file(m, t, 256 * MiB, "big", keep)
    assert stat(m, "WORKINGSET_NODERECLAIM") > 0              # the shrinker freed nodes
    pages, values = walk(mapping)
    assert pages > 0 and values > 0
    assert mapping.nrpages == pages
    assert mapping.nrexceptional == (values if keep else 0)
    assert m.check_invariants() == []
    refaults = stat(m, "WORKINGSET_REFAULT_FILE")
    map_range(m, t, "big", 232 * MiB // PAGE, 1024)            # refaults over young shadows
    assert stat(m, "WORKINGSET_REFAULT_FILE") > refaults
    pages, values = walk(mapping)
    assert mapping.nrpages == pages and mapping.nrexceptional == (values if keep else 0)
    assert m.check_invariants() == []


@pytest.mark.parametrize("keep", [False, True], ids=["post-patch", "pre-patch"])
def test_truncate_clears_pages_and_shadows_and_both_counts(keep):
    """Scenario 10: truncate to 0 removes pages and shadows (__clear_shadow_entry: pre-patch
    nrexceptional - 1 each); the mapping is then empty by either test."""
    m, t = machine(mib=16)
    mapping = read_file(m, t, 64 * MiB, "big", keep)
    pages, values = walk(mapping)
    assert values > 0
    assert m.mmcore.truncate_pagecache(mapping, 0) == pages
    assert mapping.nrpages == 0 and mapping.nrexceptional == 0 and mapping.mapping_empty()
    assert m.check_invariants() == []


def test_check_finds_a_wrong_nrexceptional_only_before_the_patch():
    """--check of a file's i_pages (diskfs.check_invariants, the page-cache plugin's part)."""
    from memsim.plugins.pagecache.diskfs import check_invariants
    m, t = machine(mib=16)
    mapping = read_file(m, t, 64 * MiB, "big", True)
    mapping.nrexceptional += 1
    assert any("nrexceptional says" in p for p in check_invariants(m))
    mapping.keep_nrexceptional = False                        # post-patch: nothing to check
    assert check_invariants(m) == []
    mapping.nrexceptional = 0


def test_mapping_needs_writeback_reads_nrpages_not_emptiness():
    """pagecache.md 4.3: filemap_write_and_wait() of a shadow-only mapping does nothing
    (mapping_needs_writeback: nrpages > 0), though the mapping is not empty."""
    m, t = machine(mib=16)
    mapping = read_file(m, t, 64 * MiB, "big")
    while mapping.nrpages:
        m.vmscan.try_to_free_pages(0, 1024)
    assert not mapping.mapping_empty()
    assert m.mmcore.filemap_write_and_wait(mapping) == 0


# -- the range walk --------------------------------------------------------------------------------
def test_find_returns_the_first_entry_in_the_range_page_or_value():
    """xa_find(): the first present entry at an index in [start, end], pages and values,
    across chunks and in the sparse far part."""
    xa = XArray()
    assert xa.find_py(0) is None
    far = 1 << 40
    for i, e in ((3, 10), (511, -5), (512, 11), (70000, 12), (far, -7), (far + 9, 13)):
        xa[i] = e
    assert xa.find_py(0) == (3, 10)
    assert xa.find_py(4) == (511, -5)                         # a value entry is found too
    assert xa.find_py(512, 512) == (512, 11)
    assert xa.find_py(513, 69999) is None                     # nothing in the range
    assert xa.find_py(513) == (70000, 12)
    assert xa.find_py(70001) == (far, -7)
    assert xa.find_py(far + 1) == (far + 9, 13)
    assert xa.find_py(far + 10) is None
    assert xa.find_py(5, 4) is None                           # start > end
    seen, index = [], 0
    while (got := xa.find_py(index)) is not None:
        seen.append(got)
        index = got[0] + 1
    assert seen == xa.items()


def map_range(m, t, name, first, count):
    """Read pages first..first+count-1 of file ``name`` through a mapping, then unmap it."""
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, count * PAGE, "r", "file", name, first * PAGE,
                   totalram=total)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    m.physmem.lru_add_drain_py()


def sparse_file_with_shadows(m, t):
    """A file with pages and shadows in several chunks and past the dense table (index 2^30)."""
    far = 1 << 30
    mapping = m.files.file("sparse", (far + 600) * PAGE)
    map_range(m, t, "sparse", 0, 40)
    m.vmscan.try_to_free_pages(0, 16)                        # the oldest become shadows
    map_range(m, t, "sparse", 500, 30)                         # straddles chunks 0 and 1
    map_range(m, t, "sparse", far, 8)
    map_range(m, t, "sparse", far + 512, 4)
    return mapping


@pytest.mark.parametrize("lstart_lend", [(0, None), (3 * PAGE + 100, 510 * PAGE - 1),
                                         (505 * PAGE, ((1 << 30) + 3) * PAGE - 1),
                                         (((1 << 30) + 4) * PAGE, None)])
def test_truncate_range_over_the_walk_removes_exactly_the_entries_in_range(lstart_lend):
    """Scenario 10 over a sparse mapping: truncate_inode_pages_range() (one C loop over
    xa_find) removes every page and shadow wholly inside [lstart, lend], in the dense chunks and
    past them, and leaves the others; the returned count is the pages removed."""
    lstart, lend = lstart_lend
    m, t = machine()
    mapping = sparse_file_with_shadows(m, t)
    before = dict(mapping.i_pages.items())
    assert any(e < 0 for e in before.values()) and max(before) >= 1 << 30
    first = (lstart + PAGE - 1) // PAGE
    last = (1 << 64) - 1 if lend is None else (lend + 1) // PAGE - 1
    gone = {i: e for i, e in before.items() if first <= i <= last}
    args = (mapping, lstart) if lend is None else (mapping, lstart, lend)
    assert m.mmcore.truncate_inode_pages_range(*args) == sum(1 for e in gone.values() if e >= 0)
    assert dict(mapping.i_pages.items()) == {i: e for i, e in before.items() if i not in gone}
    assert m.check_invariants() == []


def test_invalidate_over_the_walk_clears_shadows_and_drops_only_unmapped_pages():
    """Scenario 13 over a sparse mapping: invalidate_mapping_pages() (one C loop over
    xa_find) clears the shadows in range, drops the unmapped clean pages, keeps a mapped one
    (deactivated), and nothing outside the range."""
    m, t = machine()
    mapping = sparse_file_with_shadows(m, t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, PAGE, "r", "file", "sparse", 501 * PAGE, totalram=total)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    mapped = m.mmcore.pfn_of(t.mm, v.vm_start)
    before = dict(mapping.i_pages.items())
    start, end = 2, (1 << 30) + 5
    dropped = m.mmcore.invalidate_mapping_pages(mapping, start, end)
    after = dict(mapping.i_pages.items())
    outside = {i: e for i, e in before.items() if not start <= i <= end}
    assert {i: e for i, e in after.items() if not start <= i <= end} == outside
    assert all(e >= 0 for i, e in after.items() if start <= i <= end)      # shadows cleared
    assert after.get(501) == mapped
    kept = {i for i, e in after.items() if start <= i <= end}
    pages_in = {i for i, e in before.items() if start <= i <= end and e >= 0}
    assert dropped == len(pages_in - kept) > 0
    assert m.check_invariants() == []


# -- __add_to_page_cache_locked, AS_EXITING ---------------------------------------------------------
def file_pages(m):
    from memsim.vmstat import node_stat_item as NS
    return m.physmem.vmstat.global_node_page_state_snapshot(NS.NR_FILE_PAGES)


def test_add_then_a_duplicate_add_is_eexist_and_changes_nothing():
    """Scenarios 2 and 3: a page added at 5 is counted (nrpages 1, NR_FILE_PAGES + 1) and found
    at 5 only; adding another page at 5 returns -EEXIST (-17) and nothing changes."""
    m, _ = machine()
    mapping = m.files.file("f", 64 * PAGE)
    base = file_pages(m)
    pfn = m.physmem.alloc()
    assert m.mmcore.add_to_page_cache_locked_py(pfn, mapping, 5) == (0, 0)
    assert mapping.nrpages == 1 and not mapping.mapping_empty() and file_pages(m) == base + 1
    assert mapping.i_pages.find_py(0) == (5, pfn) and 4 not in mapping.i_pages
    other = m.physmem.alloc()
    assert m.mmcore.add_to_page_cache_locked_py(other, mapping, 5) == (-17, 0)
    assert mapping.nrpages == 1 and mapping.i_pages.items() == [(5, pfn)]
    assert file_pages(m) == base + 1
    m.physmem.free(other)


def test_add_over_a_shadow_returns_the_shadow():
    """__add_to_page_cache_locked over a value entry: stored, the shadow handed back (the
    caller's workingset_refault), the value entry gone."""
    m, t = machine()
    mapping = read_file(m, t, PAGE, "f", keep_nrexceptional=True)
    while mapping.nrpages:
        m.vmscan.try_to_free_pages(0, 1)
    shadow = mapping.shadows()[0]
    assert mapping.nrexceptional == 1
    pfn = m.physmem.alloc()
    assert m.mmcore.add_to_page_cache_locked_py(pfn, mapping, 0) == (0, shadow)
    assert mapping.nrpages == 1 and mapping.nrexceptional == 0 and mapping.shadows() == {}


def test_reclaim_plants_no_shadow_once_the_mapping_is_exiting():
    """Scenario 12: with AS_EXITING set (truncate_inode_pages_final), reclaim removes a page
    without a shadow; the final truncate empties the mapping and leaves the flag set."""
    from memsim.mm import PY_AS_EXITING
    m, t = machine()
    mapping = read_file(m, t, 16 * PAGE, "f")
    mapping.flags |= 1 << PY_AS_EXITING        # as truncate_inode_pages_final sets it first
    clock = m.workingset.nonresident_age(0)
    while mapping.nrpages:
        assert m.vmscan.try_to_free_pages(0, 16) > 0
    assert mapping.mapping_empty() and mapping.shadows() == {}
    assert m.workingset.nonresident_age(0) == clock               # no workingset_eviction
    mapping.flags = 0
    read_file(m, t, 16 * PAGE, "f")
    m.vmscan.try_to_free_pages(0, 4)
    assert mapping.shadows()                                      # not exiting: shadows again
    nrpages = mapping.nrpages
    assert nrpages > 0 and m.mmcore.truncate_inode_pages_final(mapping) == nrpages
    assert mapping.mapping_empty() and mapping.flags == 1 << PY_AS_EXITING
    assert m.check_invariants() == []


# -- the rmap's mapping table -------------------------------------------------------------------
def test_an_unregistered_mapping_is_no_longer_found_and_one_with_pages_is_refused():
    """Rmap.unregister_mapping (destroy_inode): the mapping leaves page->mapping's table; a
    mapping still caching pages is refused (clear_inode's BUG_ON(nrpages))."""
    m, t = machine()
    busy = read_file(m, t, 4 * PAGE, "busy")
    assert busy.in_rmap and m.mmcore.rmap.mappings[busy.addr] is busy
    with pytest.raises(ValueError, match="4 pages cached"):
        m.mmcore.rmap.unregister_mapping(busy)
    assert m.mmcore.rmap.mappings[busy.addr] is busy
    m.mmcore.truncate_inode_pages_range(busy, 0)
    m.mmcore.rmap.unregister_mapping(busy)
    assert not busy.in_rmap and busy.addr not in m.mmcore.rmap.mappings
