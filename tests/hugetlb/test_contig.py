"""alloc_contig_range over huge pages and CMA (hugetlb.md section 8; scenarios 15, 16, 20; the
hugetlb-contig-dissolve switch)."""
import pytest

from memsim.errors import WorkloadError
from memsim.testing import run_text

CONFIG = "configs/patch-hugetlb-contig-dissolve.yaml"


def workload(steps, nodes="[{memory: 512 MiB}]", extra="", kernel="v5.14"):
    body = "".join(f"      - {s}\n" for s in steps)
    return (f"machine:\n  kernel: {kernel}\n  nodes: {nodes}\n{extra}"
            f"tasks:\n  - name: t\n    steps:\n{body}")


def run(text, patch=None, check=True):
    if patch is not None:
        text = text.replace("machine:\n", f"machine:\n  patches: {{hugetlb-contig-dissolve: {patch}}}\n", 1)
    r = run_text(text, events=(), check=check)
    return r


def drive(gen):
    """Run a generator outside the scheduler (nothing here waits on another task)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def pool(r, nid=0):
    h = r.machine.plugin_state["hugetlb"].default_hstate
    return (h.nr_huge_pages, h.free_huge_pages, h.resv_huge_pages, h.surplus_huge_pages,
            h.node_counts(nid))


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_15_free_pages_in_the_range_are_replaced_on_their_node(kernel):
    text = workload(['write_file: {path: /proc/sys/vm/nr_hugepages, data: "128"}'], kernel=kernel)
    r = run(text)
    m = r.machine
    hg = m.plugin_state["hugetlb"]
    h = hg.default_hstate
    before = pool(r)
    in_range = [p for p in h.freelist_pfns(0) if 0x4000 <= p < 0x8000]
    assert len(in_range) == 32
    assert m.physmem.alloc_contig_range(0x4000, 0x8000) == 0
    assert pool(r) == before
    assert not set(in_range) & set(h.freelist_pfns(0))
    assert all(not 0x4000 <= p < 0x8000 for p in h.freelist_pfns(0))
    assert hg.contig.stats["replaced"] == 32
    assert hg.check() == []
    m.physmem.free_contig_range(0x4000, 0x4000)


def test_the_demo_succeeds_with_the_change_and_fails_ebusy_without():
    text = open(CONFIG).read()
    on = run(text)
    assert on.error is None, on.error
    off = run(text, patch="off")
    assert off.error is not None and "EBUSY" in str(off.error)
    assert pool(off)[:4] == (128, 128, 0, 0)
    assert off.machine.plugin_state["hugetlb"].contig.stats["replaced"] == 0


def test_scenario_16_no_replacement_on_the_node_is_enomem_without_fallback():
    # node 0 is all pool pages except what the kernel holds; node 1 has room
    text = workload(['write_file: {path: /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages, data: "1000"}'],
                    nodes="[{memory: 256 MiB}, {memory: 256 MiB}]")
    r = run(text)
    m = r.machine
    h = m.plugin_state["hugetlb"].default_hstate
    before = pool(r)
    head = h.freelist_pfns(0)[-1]
    assert m.physmem.alloc_contig_range(head, head + 512) == -12
    assert pool(r) == before
    assert head in h.freelist_pfns(0)


def test_scenario_20_gigantic_pages_are_refused_with_enomem():
    text = workload(['write_file: {path: /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages, data: "1"}'],
                    nodes="[{memory: 2048 MiB}]")
    r = run(text)
    m = r.machine
    hg = m.plugin_state["hugetlb"]
    g = hg.hstates[1]
    assert g.nr_huge_pages == 1
    head = g.freelist_pfns(0)[0]
    assert m.physmem.alloc_contig_range(head + 512, head + 1024) == -12
    assert g.freelist_pfns(0) == [head] and hg.contig.stats["refused_gigantic"] == 1


def test_an_in_use_page_that_is_not_migratable_leaves_the_range_busy():
    """Scenario 21: an in-use page without Migratable cannot be isolated -> EBUSY."""
    r = run(workload(['write_file: {path: /proc/sys/vm/nr_hugepages, data: "4"}']))
    m = r.machine
    h = m.plugin_state["hugetlb"].default_hstate
    head = h.dequeue_page(0)
    assert m.physmem.alloc_contig_range(head, head + 512) == -16
    assert h.nr_huge_pages == 4 and head in h.active_pfns()


def test_cma_alloc_and_release():
    text = workload(['write_file: {path: /proc/sys/vm/nr_hugepages, data: "200"}',
                     "cma_alloc: {count: 4096, align: 9, name: buf}",
                     'read_file: {path: /proc/sys/vm/nr_hugepages, expect: "200\\n"}',
                     "cma_release: {name: buf}",
                     "cma_release: {name: buf}"],
                    extra="  cma: [{node: 0, size: 64 MiB}]\n")
    r = run(text)                        # the second release names a range released already
    assert r.error is not None and "EINVAL" in str(r.error) and "holds no CMA pages" in str(r.error)
    text = text.replace("      - cma_release: {name: buf}\n      - cma_release: {name: buf}\n",
                        "      - cma_release: {name: buf}\n")
    r = run(text)
    assert r.error is None, r.error
    area = r.machine.plugin_state["hugetlb.cma"][0]
    assert area.count == 16384 and not any(area.bitmap)
    pm = r.machine.physmem
    assert {pm.get_pageblock_migratetype(p) for p in range(area.base_pfn, area.base_pfn + area.count, 512)} == {4}


def test_cma_pageblocks_hold_huge_pages_and_cma_alloc_replaces_them():
    text = workload(['write_file: {path: /proc/sys/vm/nr_hugepages, data: "218"}'],
                    nodes="[{memory: 512 MiB}]", extra="  cma: [{node: 0, size: 64 MiB}]\n")
    r = run(text)
    m = r.machine
    area = m.plugin_state["hugetlb.cma"][0]
    h = m.plugin_state["hugetlb"].default_hstate
    inside = [p for p in h.freelist_pfns(0) if area.base_pfn <= p < area.base_pfn + area.count]
    # movable allocations fall back to the CMA pageblocks once the movable ones are used up
    assert len(inside) == 4
    from memsim.plugins.hugetlb.cma import cma_alloc
    pfn, ret = drive(cma_alloc(m, area, area.count, 0))
    assert (pfn, ret) == (area.base_pfn, 0)
    assert h.nr_huge_pages == 218 and h.free_huge_pages == 218
    assert not [p for p in h.freelist_pfns(0) if area.base_pfn <= p < area.base_pfn + area.count]


def test_a_cma_release_after_a_failed_alloc_is_einval():
    text = workload(["cma_alloc: {count: 65536, name: big}", "expect: {errno: ENOMEM}",
                     "cma_release: {name: big}", "expect: {errno: EINVAL}"],
                    extra="  cma: [{node: 0, size: 64 MiB}]\n")
    r = run(text)
    assert r.error is None, r.error


def test_bad_cma_and_range_input_names_the_line():
    with pytest.raises(WorkloadError, match=r"test.yaml:4:\d+: .*multiple of 4 MiB"):
        run(workload(["cma_alloc: {count: 1, name: x}"], extra="  cma: [{node: 0, size: 6 MiB}]\n"))
    r = run(workload(["alloc_contig_range: {start: 0x1fff0, nr_pages: 1024, name: r}"]))
    assert r.error is not None and "beyond the last pfn" in str(r.error) and "test.yaml:7:" in str(r.error)


RACE = """\
machine:
  kernel: {kernel}
  cpus: 2
  nodes: [{{memory: 256 MiB}}]
  hugepages: "{pool}"
tasks:
  - name: user
    cpu: 0
    steps:
{setup}      - mmap: {{name: p, length: 2 MiB, flags: [MAP_HUGETLB]}}
      - touch: {{vma: p, length: 4 KiB}}
      - munmap: {{vma: p}}
  - name: driver
    cpu: 1
    steps:
{pad}      - alloc_contig_range: {{start: {start}, nr_pages: 512, name: r}}
      - free_contig_range: {{name: r}}
"""


def _race_runs(kernel, pool, setup="", pad=2):
    """60 seeds of the race; the range is the boot pool's page (found by a run that does nothing;
    in the variant the pool gives it back to buddy and the mapping's surplus page takes the same
    block, LIFO), checked at the end of each run."""
    # the driver reads a file ``pad`` times first (a preemption point each), so that it often
    # reaches alloc_contig_range around the time the user unmaps
    text = RACE.format(kernel=kernel, pool=pool, setup=setup, start="{start}",
                       pad="      - read_file: {path: /proc/meminfo}\n" * pad)
    dry = run_text(text[:text.index("tasks:")] + "tasks:\n  - name: t\n    steps:\n      - sleep: {duration: 1}\n",
                   events=())
    start = dry.machine.plugin_state["hugetlb"].hstates[0].freelist_pfns(0)[0]
    out = []
    for seed in range(60):
        r = run_text(text.replace("{start}", hex(start)), events=(), seed=seed, check=True)
        assert r.error is None, (seed, r.error)
        hg = r.machine.plugin_state["hugetlb"]
        out.append((hg.contig.stats["retries"], hg.contig.stats["replaced"], pool_counts(hg)))
    return out


def pool_counts(hg):
    h = hg.default_hstate
    return (h.nr_huge_pages, h.free_huge_pages, h.resv_huge_pages, h.surplus_huge_pages)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_17_a_free_in_flight_is_waited_for_then_replaced(kernel):
    """Scenario 17: the user's munmap drops the page's last reference; free_huge_page finishes as
    the user's task work, so the driver's alloc_contig_range can find the page "refcount 0, not
    Freed": it reschedules and retries (with the replacement it already has), then replaces the
    now-free page.  Whatever the interleaving, the range is taken and the pool is unchanged."""
    runs = _race_runs(kernel, "1")
    assert all(counts == (1, 1, 0, 0) for _, _, counts in runs)
    raced = [r for r in runs if r[0] > 0]
    assert raced, "no seed showed the free in flight"
    assert all(replaced == 1 for _, replaced, _ in raced)
    assert len(raced) < len(runs)        # other seeds run the driver before or after the free


def test_scenario_17_variant_a_surplus_page_in_flight_goes_to_buddy_and_the_new_page_is_dropped():
    """The page was surplus: its free gives it back to buddy, so the retry finds no hugetlb page,
    drops the replacement it allocated and goes on (case a); the pool ends empty."""
    setup = ("      - write_file: {path: /proc/sys/vm/nr_overcommit_hugepages, data: \"1\"}\n"
             "      - write_file: {path: /proc/sys/vm/nr_hugepages, data: \"0\"}\n")
    runs = _race_runs("v5.14", "1", setup, pad=4)
    raced = [r for r in runs if r[0] > 0]
    assert raced and all(replaced == 0 and counts == (0, 0, 0, 0) for _, replaced, counts in raced)
