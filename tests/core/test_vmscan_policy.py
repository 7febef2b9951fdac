"""Reclaim policy (mm/vmscan.c): get_scan_count()'s split between the anon and file lists under
vm.swappiness and the lists' costs, inactive_is_low()'s ratio, lru_note_cost's decay, and
should_reclaim_retry() through direct reclaim."""
import os

import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.testing import with_page_cache, build_extension
from memsim.vmscan import inactive_is_low_pages

MiB = 1 << 20
PAGE = 4096
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def fakeswap(tmp_path_factory):
    """A Cython test plugin that fills swap_ops.swap_out (a swap device with no room)."""
    return build_extension(os.path.join(HERE, "fakeswap", "fakeswap.pyx"),
                           tmp_path_factory.mktemp("fakeswap-build"))


def machine(anon_pages=4096, file_pages=4096, activate_file=True, kernel="v5.14"):
    """128 MiB: ``anon_pages`` written (inactive anon), ``file_pages`` of a file mapping read,
    and (``activate_file``) marked accessed twice so they are on the active file list, as a
    working set that is being used is; the inactive file list is then low."""
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(128 * MiB,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, anon_pages * PAGE, "rw", "anon", totalram=total)
    f = vm.do_mmap(m.mmcore, t.mm, m.files, file_pages * PAGE, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    m.physmem.lru_add_drain_py()
    if activate_file:
        for pfn in m.physmem.lru_pages(0, 2)[: file_pages - 64]:
            m.physmem.mark_accessed(pfn)
            m.physmem.mark_accessed(pfn)
        m.physmem.lru_add_drain_py()
    return m


def fract(swappiness, anon_cost, file_cost):
    """The SCAN_FRACT weights as get_scan_count() (v5.14; v6.18 calculate_pressure_balance)
    computes them."""
    total = anon_cost + file_cost
    a, f = total + anon_cost, total + file_cost
    total = a + f
    ap = swappiness * (total + 1) // (a + 1)
    fp = (200 - swappiness) * (total + 1) // (f + 1)
    return ap, fp


def test_without_swap_only_the_file_lists_are_scanned():
    m = machine()
    sizes = m.physmem.lru_sizes(0)
    assert sizes[0] == 4096
    balance, nr = m.vmscan.scan_count(0, priority=4)
    assert balance == "SCAN_FILE"
    assert nr == {"inactive_anon": 0, "active_anon": 0,
                  "inactive_file": sizes[2] >> 4, "active_file": sizes[3] >> 4}
    # anon is left alone even at priority 0 (SCAN_EQUAL needs anon to be reclaimable)
    assert m.vmscan.scan_count(0, priority=0)[0] == "SCAN_FILE"


@pytest.mark.parametrize("swappiness", [0, 1, 60, 100, 140, 200])
def test_scan_fract_splits_by_swappiness(fakeswap, swappiness):
    m = machine()
    fakeswap.install(m.mmcore)
    m.vmscan.swappiness = swappiness
    sizes = m.physmem.lru_sizes(0)
    # the inactive file list is low (the pages were used): no cache_trim_mode, so SCAN_FRACT;
    # no reclaim yet, so both costs are 0: ap = swappiness, fp = 200 - swappiness
    balance, nr = m.vmscan.scan_count(0, priority=2)
    assert balance == "SCAN_FRACT"
    assert fract(swappiness, 0, 0) == (swappiness, 200 - swappiness)
    assert nr["inactive_anon"] == (sizes[0] >> 2) * swappiness // 200
    assert nr["inactive_file"] == (sizes[2] >> 2) * (200 - swappiness) // 200
    assert nr["active_file"] == (sizes[3] >> 2) * (200 - swappiness) // 200
    # may_swap off (e.g. boosted kswapd reclaim): file only
    assert m.vmscan.scan_count(0, priority=2, may_swap=False)[0] == "SCAN_FILE"


def test_scan_fract_weighs_the_lists_costs(fakeswap):
    m = machine()
    fakeswap.install(m.mmcore)
    m.vmscan.set_lru_cost(0, 100, 300)
    # anon has cost less than file: more of the pressure goes to anon than swappiness alone says
    ap, fp = fract(60, 100, 300)
    assert (ap, fp) == (143, 239)          # 60 * 1201 // 501, 140 * 1201 // 701
    sizes = m.physmem.lru_sizes(0)
    balance, nr = m.vmscan.scan_count(0, priority=0 + 1)
    assert balance == "SCAN_FRACT"
    assert nr["inactive_anon"] == (sizes[0] >> 1) * ap // (ap + fp)
    assert nr["active_file"] == (sizes[3] >> 1) * fp // (ap + fp)


def test_priority_0_scans_equally_when_swappiness_allows(fakeswap):
    m = machine()
    fakeswap.install(m.mmcore)
    sizes = m.physmem.lru_sizes(0)
    balance, nr = m.vmscan.scan_count(0, priority=0)
    assert balance == "SCAN_EQUAL"
    assert list(nr.values()) == sizes[:4]
    m.vmscan.swappiness = 0                 # "unless the swappiness setting disagrees"
    balance, nr = m.vmscan.scan_count(0, priority=0)
    assert balance == "SCAN_FRACT" and nr["inactive_anon"] == 0


def test_plenty_of_inactive_cache_means_cache_trim_mode(fakeswap):
    # fresh page cache is inactive and not low: reclaim trims it before touching anon
    m = machine(activate_file=False)
    fakeswap.install(m.mmcore)
    balance, nr = m.vmscan.scan_count(0, priority=12)
    assert balance == "SCAN_FILE"
    assert nr["inactive_anon"] == 0 and nr["inactive_file"] == 4096 >> 12
    # ... until the list has no page at this priority: 4096 >> 13 would be 0, and at
    # DEF_PRIORITY 12 a list of 4095 pages has none either
    m2 = machine(file_pages=4095, activate_file=False)
    fakeswap.install(m2.mmcore)
    assert m2.vmscan.scan_count(0, priority=12)[0] == "SCAN_FRACT"


@pytest.mark.parametrize("inactive, active, low", [
    (10, 11, True), (10, 10, False),                    # below 1 GiB the ratio is 1
    # 1 GiB = 262144 pages: int_sqrt(10 * 1) = 3
    (65536, 196608, False), (65535, 196609, True),
    # 4 GiB: int_sqrt(40) = 6; 10 GiB: int_sqrt(100) = 10
    (150000, 898576, False), (149000, 899576, True),
    (238000, 2383440, True), (238500, 2382940, False),
    (240000, 2381360, True),                            # 9.99 GiB: int_sqrt(90) = 9
])
def test_inactive_is_low_uses_the_square_root_ratio(inactive, active, low):
    assert inactive_is_low_pages(inactive, active) is low


@pytest.mark.parametrize("kernel, costs", [
    # v5.14: lru_note_cost(nr_pageout): clean pages cost nothing
    ("v5.14", (0, 0)),
    # v6.3+: nr_io * SWAP_CLUSTER_MAX + nr_rotated, rotated = scanned - reclaimed
    ("v6.18", None),
])
def test_lru_note_cost_per_profile(kernel, costs):
    m = machine(activate_file=False, kernel=kernel)
    got = m.vmscan.try_to_free_pages(0, 32)
    assert got >= 32
    anon_cost, file_cost = m.vmscan.lru_cost(0)
    assert anon_cost == 0
    if costs is not None:
        assert (anon_cost, file_cost) == costs
    else:
        # the first scans keep young pages (rotations), so file reclaim has a cost, halved
        # whenever both pass a quarter of the LRU
        lru = sum(m.physmem.lru_sizes(0)[:4])
        assert 0 < file_cost <= lru // 4


def test_shrink_lruvec_scans_proportionally_once_nr_to_reclaim_is_met(fakeswap):
    """shrink_lruvec(): with nr_to_reclaim met after the first round, the list type with less
    of its target left (file) stops, and anon's remaining scan is cut to the share of its
    target that file had left: anon is scanned 2048 * (100 - 97) / 100 = 61 pages, not 2048."""
    from memsim.vmstat import vm_event_item as EV
    m = machine(anon_pages=8192, file_pages=8192)
    fakeswap.install(m.mmcore)
    m.vmscan.swappiness = 100                           # ap = fp = 100 with no costs yet
    for pfn in m.physmem.lru_pages(0, 2):               # the 64 inactive file pages: old
        m.mmcore.rmap.page_referenced(pfn)
    sizes = m.physmem.lru_sizes(0)
    assert sizes[:4] == [8192, 0, 64, 8128]
    balance, nr = m.vmscan.scan_count(0, priority=1)
    assert (balance, nr) == ("SCAN_FRACT", {"inactive_anon": 2048, "active_anon": 0,
                                            "inactive_file": 16, "active_file": 2032})
    vs = m.physmem.vmstat
    before = [vs.vm_event(e) for e in (EV.PGSCAN_ANON, EV.PGSCAN_FILE, EV.PGREFILL)]
    # first round: 32 anon (kept: no swap room), the 16 inactive file pages (reclaimed: the
    # goal of 1 is met), 32 active file pages deactivated; then file has 2000 of 2049 left
    # (97%) and anon 2016: file stops, anon gets 2048 * 3 // 100 = 61 - 32 already scanned
    assert m.vmscan.shrink_lruvec_py(0, 1, 1, kswapd=True) == 16
    after = [vs.vm_event(e) for e in (EV.PGSCAN_ANON, EV.PGSCAN_FILE, EV.PGREFILL)]
    assert [a - b for a, b in zip(after, before)] == [61, 16, 32]
    # direct reclaim at DEF_PRIORITY does not adjust: it scans its whole (small) targets
    m2 = machine(anon_pages=8192, file_pages=8192)
    fakeswap.install(m2.mmcore)
    m2.vmscan.swappiness = 100
    balance, nr = m2.vmscan.scan_count(0, priority=12)
    vs2 = m2.physmem.vmstat
    before = vs2.vm_event(EV.PGSCAN_ANON)
    m2.vmscan.shrink_lruvec_py(0, 12, 0, kswapd=False)
    assert vs2.vm_event(EV.PGSCAN_ANON) - before == nr["inactive_anon"] == 1
