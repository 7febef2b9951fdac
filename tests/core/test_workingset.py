"""Workingset detection (mm/workingset.c) in the core: shadow entries left by reclaim in the
built-in page cache, the refault distance and the activation decision, shadow nodes
(issue 10, "Workingset"; /work/shared/spec/pagecache.md §6, scenarios 4, 6, 7, 10, 23)."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV
from memsim.testing import hold_open, with_page_cache

MiB = 1 << 20
PAGE = 4096
INACTIVE_ANON, ACTIVE_ANON, INACTIVE_FILE, ACTIVE_FILE, UNEVICTABLE = range(5)
KERNELS = ("v5.14", "v6.18")


def machine(kernel="v5.14", mib=32):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(mib * MiB,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def mmap_file(m, t, size, name, offset=0):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, size, "r", "file", name, offset, totalram=total)
    hold_open(m, t, name)                       # the task keeps the file (and its dentry) in use
    return v


def read_file(m, t, size, name, offset=0):
    """Map the file, touch every page, unmap it (young PTEs: mark_page_accessed at the zap)."""
    v = mmap_file(m, t, size, name, offset)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    m.physmem.lru_add_drain_py()


def pages(mapping):
    """{index: pfn} of the page entries of a built-in page cache (shadows left out)."""
    return {i: e for i, e in mapping.i_pages.items() if e >= 0}


def indices(mapping):
    """The indices holding a page or a shadow, in order."""
    return sorted(set(pages(mapping)) | set(mapping.shadows()))


def stat(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def counters(m):
    return {k: stat(m, "WORKINGSET_" + k) for k in
            ("NODES", "REFAULT_FILE", "ACTIVATE_FILE", "RESTORE_FILE", "NODERECLAIM",
             "REFAULT_ANON", "ACTIVATE_ANON", "RESTORE_ANON")}


# -- shadow layout ----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS)
def test_shadow_packs_the_kernels_fields_and_round_trips(kernel):
    """pack_shadow(): eviction | memcg id (16 bits) | node (NODES_SHIFT 10) | workingset bit,
    as xa_mk_value() (shifted left once, low bit set); EVICTION_SHIFT = 1 + 1 + 10 + 16."""
    m, _ = machine(kernel)
    ws = m.workingset
    assert (ws.nodes_shift, ws.memcg_id_shift, ws.eviction_shift) == (10, 16, 28)
    assert ws.timestamp_bits == 36 and ws.eviction_mask == (1 << 36) - 1
    shadow = ws.pack(5, 3, 0x123456789, True)
    assert shadow == ((((0x123456789 << 16 | 5) << 10 | 3) << 1 | 1) << 1) | 1
    assert ws.unpack(shadow) == (5, 3, 0x123456789, True)
    for fields in ((0, 0, 0, False), (0xffff, 1023, (1 << 36) - 1, True), (1, 0, 77, False)):
        assert ws.unpack(ws.pack(*fields)) == fields
    # the timestamp is masked to its 36 bits (the unsigned distance wraps with it)
    assert ws.unpack(ws.pack(0, 0, (1 << 36) + 9, False))[2] == 9


def test_bucket_order_is_computed_from_total_ram_as_workingset_init_does():
    m, _ = machine()
    ws = m.workingset
    pages = sum(z["managed"] for z in m.physmem.zones_info())
    assert ws.max_order == (pages - 1).bit_length() and ws.bucket_order == 0
    assert ws.init_message == f"workingset: timestamp_bits=36 max_order={ws.max_order} bucket_order=0"
    ws.workingset_init(1 << 40)                   # 4 PiB: 40 bits of pages, 36 for the clock
    assert (ws.max_order, ws.bucket_order) == (40, 4)
    assert ws.unpack(ws.pack(0, 0, 0x1234, False))[2] == 0x1230     # the low 4 bits are lost
    ws.workingset_init(1 << 40, nodes_shift=6)    # a kernel built with NODES_SHIFT 6
    assert (ws.eviction_shift, ws.timestamp_bits, ws.bucket_order) == (24, 40, 0)


# -- eviction and refault: the scenarios of the spec ----------------------------------------
def one_cached_page(m, t, name, index):
    """A clean, unmapped page of file ``name`` at ``index`` on the inactive file list."""
    v = mmap_file(m, t, PAGE, name, index * PAGE)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, PAGE)
    m.physmem.lru_add_drain_py()
    return pfn


def test_reclaim_leaves_a_shadow_that_a_refault_reads_back():
    """Scenario 4, then a refault without enough active pages (scenario 7): the shadow decodes
    to (memcg 0, node 0, E, 0), the clock moved by one; the refault counts, does not activate,
    and the page comes back inactive in place of the shadow."""
    m, t = machine()
    pfn = one_cached_page(m, t, "f", 5)
    mapping = m.files.files["f"]
    clock = m.workingset.nonresident_age(0)
    assert m.vmscan.try_to_free_pages(0, 1) == 1
    assert mapping.nrpages == 0 and not mapping.mapping_empty()
    assert 5 in mapping.shadows() and 5 not in pages(mapping)     # a value entry, not a page
    shadow = mapping.shadows()[5]
    assert m.workingset.unpack(shadow) == (0, 0, clock, False)
    assert m.workingset.nonresident_age(0) == clock + 1
    assert m.workingset.refault_distance(shadow) == 1
    before = counters(m)
    pfn2 = one_cached_page(m, t, "f", 5)
    after = counters(m)
    assert after["REFAULT_FILE"] == before["REFAULT_FILE"] + 1
    assert after["ACTIVATE_FILE"] == before["ACTIVATE_FILE"]     # distance 1 > 0 active pages
    assert pages(mapping) == {5: pfn2} and mapping.nrpages == 1 and len(mapping.shadows()) == 0
    assert pfn2 in m.physmem.lru_pages(0, INACTIVE_FILE)
    assert m.workingset.nonresident_age(0) == clock + 1           # no activation: no aging
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_refault_distance_worked_by_hand(kernel):
    """Scenarios 6 and 7 with the numbers of the spec: a shadow taken at clock E, then 10 more
    evictions: distance (E + 11) - E = 11; with 50 active file pages (no swap: the workingset
    is NR_ACTIVE_FILE alone) the page is recent, with 5 it is not."""
    m, t = machine(kernel)
    pfn = one_cached_page(m, t, "f", 5)
    ws = m.workingset
    e = ws.nonresident_age(0)
    shadow = ws.eviction(pfn)                   # workingset_eviction: read E, then age by 1
    for _ in range(10):
        ws.eviction(pfn)
    assert ws.nonresident_age(0) == e + 11
    assert ws.refault_distance(shadow) == 11
    # 5 active file pages: 11 > 5, not recent
    for i in range(5):
        p = one_cached_page(m, t, "active", i)
        m.physmem.mark_accessed(p)
        m.physmem.mark_accessed(p)
    m.physmem.lru_add_drain_py()
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] == 5
    assert ws.test_recent(shadow) == (False, False)
    # the 5 activations aged the clock too (workingset_activation): distance 16 now
    assert ws.refault_distance(shadow) == 16
    for i in range(5, 50):
        p = one_cached_page(m, t, "active", i)
        m.physmem.mark_accessed(p)
        m.physmem.mark_accessed(p)
    m.physmem.lru_add_drain_py()
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] == 50
    assert ws.refault_distance(shadow) == 11 + 50
    assert ws.test_recent(shadow) == (False, False)          # 61 > 50
    fresh = ws.eviction(pfn)
    assert ws.refault_distance(fresh) == 1 and ws.test_recent(fresh) == (True, False)
    # an anon refault's workingset adds the inactive file list (8 pages: "f" and the rest)
    assert ws.test_recent(shadow, False) == (61 <= 50 + m.physmem.lru_sizes(0)[INACTIVE_FILE], False)


def test_a_refault_within_the_active_list_activates_and_restores_a_former_active_page():
    """Scenarios 6 and 8 through reclaim and the page cache: page 5 of "f" is the oldest of
    101 active pages; as reclaim empties the inactive list, shrink_active_list deactivates it
    (PG_workingset: it was active) and it is evicted with the workingset bit in its shadow.  Its
    refault, soon after, is within NR_ACTIVE_FILE: the new page is activated with
    PG_workingset; workingset_refault/activate/restore_file count one each."""
    m, t = machine()
    ws = m.workingset
    pages = [one_cached_page(m, t, "f", 5)] + [one_cached_page(m, t, "hot", i) for i in range(100)]
    for p in pages:
        m.physmem.mark_accessed(p)          # the unmap marked each once: this activates
    for i in range(100):
        one_cached_page(m, t, "cold", i)
    m.physmem.lru_add_drain_py()
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] == 101
    mapping = m.files.files["f"]
    for _ in range(200):                                 # one page at a time
        if 5 in mapping.shadows():
            break
        m.vmscan.try_to_free_pages(0, 1)
    shadow = mapping.shadows()[5]
    assert ws.unpack(shadow)[3] is True                  # PG_workingset at eviction
    assert ws.refault_distance(shadow) == 1             # its own eviction
    assert ws.test_recent(shadow) == (True, True)        # 1 <= 50 active pages
    before = counters(m)
    pfn2 = one_cached_page(m, t, "f", 5)
    after = counters(m)
    assert {k: after[k] - before[k] for k in ("REFAULT_FILE", "ACTIVATE_FILE", "RESTORE_FILE")} \
        == {"REFAULT_FILE": 1, "ACTIVATE_FILE": 1, "RESTORE_FILE": 1}
    assert pfn2 in m.physmem.lru_pages(0, ACTIVE_FILE)
    assert m.physmem.page_info(pfn2)["flags"] & (1 << 6)    # PG_workingset
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_file_read_twice_that_fits_in_memory_never_refaults(kernel):
    m, t = machine(kernel)
    for _ in range(2):
        read_file(m, t, 8 * MiB, "small")
    c = counters(m)
    assert c["REFAULT_FILE"] == c["ACTIVATE_FILE"] == c["NODES"] == 0
    assert len(m.files.files["small"].shadows()) == 0
    assert m.files.files["small"].nrpages == 8 * MiB // PAGE
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_working_set_bigger_than_the_inactive_list_but_within_memory_gets_activated(kernel):
    """The double CLOCK's blind spot that workingset detection fixes: 14 MiB of a file read
    twice is active (and no longer used); a new 20 MiB working set does not fit in the inactive
    list that is left, so it thrashes there — until its refaults, whose distance is within the
    active list, activate it.  Then it stays: the last passes refault no more."""
    m, t = machine(kernel)
    for _ in range(2):
        read_file(m, t, 14 * MiB, "old")
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] == 14 * MiB // PAGE
    v = mmap_file(m, t, 20 * MiB, "new")
    refaults = []
    for _ in range(4):
        assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
        refaults.append(counters(m)["REFAULT_FILE"])
    c = counters(m)
    assert refaults[0] == 0 and refaults[1] > 0          # the second pass refaults...
    assert c["ACTIVATE_FILE"] > 0                        # ... and activates
    assert c["ACTIVATE_FILE"] <= c["REFAULT_FILE"]
    assert refaults[3] == refaults[2]                    # then the working set stays resident
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_streaming_read_bigger_than_memory_refaults_without_activating(kernel):
    """Reading 4x the memory twice: every page of the second pass refaults, but from farther
    than the (empty) active list: use-once pages never push the workingset out."""
    m, t = machine(kernel)
    v = mmap_file(m, t, 128 * MiB, "big")
    for _ in range(2):
        assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    c = counters(m)
    assert c["REFAULT_FILE"] == 128 * MiB // PAGE
    assert c["ACTIVATE_FILE"] == c["RESTORE_FILE"] == 0
    assert c["REFAULT_ANON"] == c["ACTIVATE_ANON"] == 0
    mapping = m.files.files["big"]
    assert len(mapping.i_pages) - mapping.nrpages == len(mapping.shadows()) > 0
    assert mapping.nrpages + len(mapping.shadows()) == 128 * MiB // PAGE
    assert c["NODES"] > 0                               # shadow-only 64-slot nodes
    assert m.check_invariants() == []


def test_mark_page_accessed_ages_the_clock_when_it_activates():
    """workingset_activation() from mark_page_accessed: only the call that activates ages the
    node's clock (by the page's size); one that sets PG_referenced, or finds the page active
    already, does not."""
    m, t = machine()
    pfn = one_cached_page(m, t, "f", 0)
    clock = m.workingset.nonresident_age(0)
    m.physmem.mark_accessed(pfn)    # the munmap's zap marked it once: this one activates
    assert m.workingset.nonresident_age(0) == clock + 1
    m.physmem.lru_add_drain_py()    # the activate batch moves it to the active list
    assert pfn in m.physmem.lru_pages(0, ACTIVE_FILE)
    m.physmem.mark_accessed(pfn)
    m.physmem.mark_accessed(pfn)
    assert m.workingset.nonresident_age(0) == clock + 1


# -- truncation, shadow nodes, --check -----------------------------------------------------
def test_truncate_drops_pages_and_shadows():
    """Scenario 10: pages and shadows of a file; truncate to 0 frees the pages and removes
    the shadows (mapping_empty), and its shadow nodes leave workingset_nodes."""
    m, t = machine()
    v = mmap_file(m, t, 128 * MiB, "big")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    mapping = m.files.files["big"]
    assert mapping.nrpages > 0 and len(mapping.shadows()) > 0 and stat(m, "WORKINGSET_NODES") > 0
    nrpages = mapping.nrpages
    assert m.mmcore.truncate_pagecache(mapping, 0) == nrpages
    assert mapping.nrpages == 0 and len(mapping.shadows()) == 0 and mapping.mapping_empty()
    assert stat(m, "WORKINGSET_NODES") == 0 and mapping.xa_nodes == {}
    m.physmem.lru_add_drain_py()
    assert stat(m, "NR_FILE_PAGES") == 0
    assert m.physmem.lru_sizes(0)[INACTIVE_FILE] + m.physmem.lru_sizes(0)[ACTIVE_FILE] == 0
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_FILEPAGES"] == 0
    assert m.check_invariants() == []


def test_partial_truncate_keeps_what_is_below_the_new_size():
    """Scenario 11 without the zeroing: truncate to 6000 bytes keeps indices 0 and 1."""
    m, t = machine()
    for i in range(4):
        one_cached_page(m, t, "f", i)
    mapping = m.files.files["f"]
    m.mmcore.truncate_pagecache(mapping, 6000)
    assert indices(mapping) == [0, 1] and mapping.nrpages == 2
    assert m.check_invariants() == []


def test_shadows_survive_munmap_and_task_exit():
    """munmap drops the PTEs, not the page cache: the shadows stay until the file is
    truncated (or the shadow-node shrinker frees them)."""
    m, t = machine()
    v = mmap_file(m, t, 64 * MiB, "big")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    shadows = len(m.files.files["big"].shadows())
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    assert len(m.files.files["big"].shadows()) == shadows > 0
    assert m.check_invariants() == []


def test_the_shadow_node_shrinker_frees_the_oldest_nodes_beyond_one_per_8_pages():
    """Scenario 23 (the model): a 16 MiB node allows 4096 / 8 = 512 shadow nodes; streaming
    256 MiB leaves more; count_shadow_nodes reports the excess, scan_shadow_nodes frees it,
    oldest first, each node taking its 64 slots' shadows along (workingset_nodereclaim)."""
    m, t = machine(mib=16)
    v = mmap_file(m, t, 256 * MiB, "big")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    ws = m.workingset
    nodes = stat(m, "WORKINGSET_NODES")
    assert nodes == len(ws.shadow_nodes) > 512
    excess = ws.count_shadow_nodes(0)
    assert excess == nodes - 512
    mapping = m.files.files["big"]
    oldest = next(iter(ws.shadow_nodes))[1]
    shadows = len(mapping.shadows())
    # (reclaim ran the registered "mm-shadow" shrinker while streaming: count from here)
    reclaimed = stat(m, "WORKINGSET_NODERECLAIM")
    assert ws.scan_shadow_nodes(0, excess) == excess
    assert stat(m, "WORKINGSET_NODES") == 512 and ws.count_shadow_nodes(0) == 0
    assert stat(m, "WORKINGSET_NODERECLAIM") == reclaimed + excess
    assert oldest not in mapping.xa_nodes
    assert not any(i >> 6 == oldest for i in indices(mapping))
    assert len(mapping.shadows()) == shadows - 64 * excess
    assert m.check_invariants() == []


def test_check_finds_a_corrupt_page_cache():
    """--check of a file's i_pages (the page-cache plugin's part of it: diskfs.check_invariants)."""
    from memsim.plugins.pagecache.diskfs import check_invariants
    m, t = machine()
    v = mmap_file(m, t, 64 * MiB, "big")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    mapping = m.files.files["big"]
    assert check_invariants(m) == []
    mapping.nrpages += 1
    assert any("page entries, nrpages says" in p for p in check_invariants(m))
    mapping.nrpages -= 1
    index = next(i for i, e in mapping.i_pages.items() if e >= 0)
    pfn = mapping.i_pages[index]
    other = next(i for i, e in mapping.i_pages.items() if e >= 0 and i != index)
    mapping.i_pages[index] = mapping.i_pages[other]
    assert any(f"index {index} holds pfn" in p for p in check_invariants(m))
    mapping.i_pages[index] = pfn
    assert check_invariants(m) == []
    key, nid = next(iter(m.workingset.shadow_nodes.items()))
    del m.workingset.shadow_nodes[key]
    problems = check_invariants(m)
    assert any("workingset_nodes is" in p for p in problems)
    assert any("shadow_nodes lists" in p for p in problems)
    m.workingset.shadow_nodes[key] = nid
    assert check_invariants(m) == []


def test_the_lookup_reads_a_shadow_as_no_page():
    """find_get_page() on a shadow: no page (the fault reads the page in: a major fault)."""
    m, t = machine()
    one_cached_page(m, t, "f", 3)
    assert m.vmscan.try_to_free_pages(0, 1) == 1
    v = mmap_file(m, t, PAGE, "f", 3 * PAGE)
    assert m.mmcore.find_page_in_mapping(v, v.vm_start) is None
    majflt = m.physmem.vmstat.vm_event(EV.PGMAJFAULT)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert m.physmem.vmstat.vm_event(EV.PGMAJFAULT) == majflt + 1
    assert m.mmcore.find_page_in_mapping(v, v.vm_start) == m.mmcore.pfn_of(t.mm, v.vm_start)


@pytest.mark.parametrize("kernel,counted_on", [("v5.14", 0), ("v6.18", 1)])
def test_a_refault_counts_on_the_eviction_node_in_5_14_and_the_pages_node_in_6_18(kernel, counted_on):
    """v5.14's workingset_refault takes the lruvec of the shadow's node (mem_cgroup_lruvec(memcg,
    pgdat) with the unpacked pgdat); v6.18 the new folio's (folio_pgdat).  A page on node 1
    refaulting a node-0 shadow of distance 0 (recent: 0 <= 0) is counted and ages there."""
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(32 * MiB, 32 * MiB), kernel=kernel), with_slab=False))
    ws = m.workingset
    pfn = m.physmem.alloc(nid=1)
    shadow = ws.pack(0, 0, ws.nonresident_age(0), False)
    ages = [ws.nonresident_age(0), ws.nonresident_age(1)]
    ws.refault(pfn, shadow)
    vs = m.physmem.vmstat
    refaults = [vs.node_page_state_snapshot(n, NS.WORKINGSET_REFAULT_FILE) for n in (0, 1)]
    activates = [vs.node_page_state_snapshot(n, NS.WORKINGSET_ACTIVATE_FILE) for n in (0, 1)]
    assert refaults[counted_on] == activates[counted_on] == 1
    assert refaults[1 - counted_on] == activates[1 - counted_on] == 0
    ages[counted_on] += 1
    assert [ws.nonresident_age(0), ws.nonresident_age(1)] == ages
    assert m.physmem.page_info(pfn)["flags"] & (1 << 5)    # PG_active: lru_cache_add's list


def test_invalidate_mapping_pages_drops_clean_pages_and_shadows_but_not_mapped_pages():
    """Scenario 13 (drop_caches' invalidate_mapping_pages): a clean unmapped page goes without
    leaving a shadow, a mapped page stays, a shadow in the range is cleared."""
    m, t = machine()
    one_cached_page(m, t, "f", 3)
    assert m.vmscan.try_to_free_pages(0, 1) == 1             # index 3: a shadow
    one_cached_page(m, t, "f", 0)
    v = mmap_file(m, t, PAGE, "f", 1 * PAGE)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    m.physmem.lru_add_drain_py()
    mapping = m.files.files["f"]
    assert indices(mapping) == [0, 1, 3] and len(mapping.shadows()) == 1
    file_pages = stat(m, "NR_FILE_PAGES")
    assert m.mmcore.invalidate_mapping_pages(mapping) == 1
    assert indices(mapping) == [1] and len(mapping.shadows()) == 0
    assert stat(m, "NR_FILE_PAGES") == file_pages - 1
    assert counters(m)["NODES"] == 0
    assert m.check_invariants() == []
