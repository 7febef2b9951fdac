"""The hugetlb pool: resize, round robin, node and mempolicy writes, surplus, the files and their
errors (hugetlb.md sections 2-5, 9; scenarios 1-6, 8, 10, 14, 23-25)."""
import pytest

from memsim.errors import WorkloadError
from memsim.testing import run_text
from memsim.vfs import VfsError

H2 = "/sys/kernel/mm/hugepages/hugepages-2048kB"
G1 = "/sys/kernel/mm/hugepages/hugepages-1048576kB"


def node_dir(nid, kb=2048):
    return f"/sys/devices/system/node/node{nid}/hugepages/hugepages-{kb}kB"


def boot(nodes=(256,), kernel="v5.14", extra="", cpus=1):
    """A machine with ``nodes`` MiB per node, booted through the plugins (no steps)."""
    node_list = ", ".join(f"{{memory: {n} MiB}}" for n in nodes)
    text = (f"machine:\n  kernel: {kernel}\n  cpus: {cpus}\n  nodes: [{node_list}]\n{extra}"
            "tasks:\n  - name: t\n    steps:\n      - sleep: {duration: 1}\n")
    r = run_text(text, events=())
    assert r.error is None, r.error
    return r.machine


def hg(m):
    return m.plugin_state["hugetlb"]


def read(m, path) -> str:
    return m.vfs.read_file(path).decode()


def write(m, path, data):
    return m.vfs.write_file(path, data.encode() if isinstance(data, str) else data)


def vm_event(m, name) -> int:
    for line in read(m, "/proc/vmstat").splitlines():
        key, value = line.split()
        if key == name:
            return int(value)
    raise KeyError(name)


def meminfo(m, name) -> str:
    for line in read(m, "/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def node_nr(m, nid, kb=2048):
    return int(read(m, f"{node_dir(nid, kb)}/nr_hugepages"))


def use(m, n, nid=0, h=None):
    """Take ``n`` free pages as a user would (dequeue_huge_page_node_exact), for the scenarios
    that need pages in use before mappings exist."""
    h = h or hg(m).default_hstate
    return [h.dequeue_page(nid) for _ in range(n)]


def put(m, head):
    """put_page() of the only reference: the core calls the plugin's free_huge_page."""
    m.physmem.put(head)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_1_grow_on_one_node(kernel):
    m = boot(kernel=kernel)
    before = vm_event(m, "htlb_buddy_alloc_success")
    write(m, "/proc/sys/vm/nr_hugepages", "10")
    assert [meminfo(m, k) for k in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd",
                                    "HugePages_Surp")] == ["10", "10", "0", "0"]
    assert read(m, "/proc/sys/vm/nr_hugepages") == "10\n"
    assert vm_event(m, "htlb_buddy_alloc_success") - before == 10
    assert meminfo(m, "Hugetlb") == "20480 kB"
    assert hg(m).check() == []


def test_scenario_2_a_partial_grow_succeeds_and_reads_back_what_was_had():
    m = boot(nodes=(64,))
    assert write(m, "/proc/sys/vm/nr_hugepages", "100") == 3
    got = int(read(m, "/proc/sys/vm/nr_hugepages"))
    assert 0 < got < 32
    assert meminfo(m, "HugePages_Total") == str(got)
    assert vm_event(m, "htlb_buddy_alloc_fail") >= 1


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_3_round_robin(kernel):
    m = boot(nodes=(256, 256), kernel=kernel)
    write(m, "/proc/sys/vm/nr_hugepages", "3")
    assert (node_nr(m, 0), node_nr(m, 1)) == (2, 1)
    write(m, "/proc/sys/vm/nr_hugepages", "1")
    assert (node_nr(m, 0), node_nr(m, 1)) == (1, 0)
    write(m, "/proc/sys/vm/nr_hugepages", "2")
    assert (node_nr(m, 0), node_nr(m, 1)) == (1, 1)
    assert hg(m).check() == []


def test_scenario_4_a_node_without_room_is_skipped():
    m = boot(nodes=(16, 256))
    write(m, f"{node_dir(0)}/nr_hugepages", "100")     # node 0 gives what it has
    full = node_nr(m, 0)
    assert 0 < full < 8
    fails = vm_event(m, "htlb_buddy_alloc_fail")
    write(m, "/proc/sys/vm/nr_hugepages", str(full + 4))
    assert (node_nr(m, 0), node_nr(m, 1)) == (full, 4)
    assert vm_event(m, "htlb_buddy_alloc_fail") > fails     # node 0 was tried, and skipped


@pytest.mark.parametrize("kernel, target", [("v5.14", 6), ("v6.18", 6)])
def test_scenario_5_node_specific_write(kernel, target):
    m = boot(nodes=(256, 256), kernel=kernel)
    write(m, "/proc/sys/vm/nr_hugepages", "3")           # (2, 1)
    write(m, f"{node_dir(1)}/nr_hugepages", "4")
    assert (node_nr(m, 0), node_nr(m, 1)) == (2, 4)
    assert read(m, "/proc/sys/vm/nr_hugepages") == f"{target}\n"


def test_scenario_5_the_node_count_includes_surplus_on_v5_14_not_on_v6_18():
    """5.14 adds nr_huge_pages - nr_huge_pages_node[nid] (surplus included); 6.x adds the
    persistent pages of the other nodes only."""
    results = {}
    for kernel in ("v5.14", "v6.18"):
        m = boot(nodes=(256, 256), kernel=kernel)
        write(m, "/proc/sys/vm/nr_hugepages", "2")       # (1, 1)
        use(m, 1, nid=0)
        use(m, 1, nid=1)
        write(m, "/proc/sys/vm/nr_hugepages", "0")       # both in use: both surplus
        h = hg(m).default_hstate
        assert (h.surplus_huge_pages, h.node_counts(0)[2], h.node_counts(1)[2]) == (2, 1, 1)
        write(m, f"{node_dir(1)}/nr_hugepages", "3")
        results[kernel] = node_nr(m, 1)
        assert hg(m).check() == []
    # 5.14: count = 3 + 2 - 1 = 4; 6.18: count = 3 + 0 - (1 - 1) = 3 (node 1's surplus page is
    # promoted first, then fresh pages make up the rest)
    assert results == {"v5.14": 4, "v6.18": 3}


def test_scenario_6_a_mempolicy_write_allocates_on_the_policy_nodes():
    text = """\
machine:
  nodes: [{memory: 256 MiB}, {memory: 256 MiB}]
tasks:
  - name: t
    steps:
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "3"}
      - set_mempolicy: {mode: bind, nodes: [1]}
      - write_file: {path: /proc/sys/vm/nr_hugepages_mempolicy, data: "6"}
      - read_file: {path: /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages, expect: "2\\n"}
      - read_file: {path: /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages, expect: "4\\n"}
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "8"}
      - read_file: {path: /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages, expect: "3\\n"}
      - write_file: {path: /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages_mempolicy, data: "10"}
      - read_file: {path: /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages, expect: "7\\n"}
"""
    r = run_text(text, events=())
    assert r.error is None, r.error


def test_scenario_8_shrinking_below_what_is_in_use_makes_surplus():
    m = boot()
    write(m, "/proc/sys/vm/nr_hugepages", "4")
    heads = use(m, 4)
    write(m, "/proc/sys/vm/nr_hugepages", "1")
    assert [meminfo(m, k) for k in ("HugePages_Total", "HugePages_Free", "HugePages_Surp")] == ["4", "0", "3"]
    assert read(m, "/proc/sys/vm/nr_hugepages") == "1\n"
    assert read(m, f"{H2}/nr_hugepages") == "4\n"
    put(m, heads[0])
    assert [meminfo(m, k) for k in ("HugePages_Total", "HugePages_Surp")] == ["3", "2"]
    assert hg(m).check() == []


def test_scenario_10_growing_promotes_surplus_first():
    m = boot()
    h = hg(m).default_hstate
    h.nr_overcommit_huge_pages = 4
    pages = [h.alloc_surplus_page(), h.alloc_surplus_page()]
    assert None not in pages and (h.nr_huge_pages, h.surplus_huge_pages) == (2, 2)
    before = vm_event(m, "htlb_buddy_alloc_success")
    write(m, "/proc/sys/vm/nr_hugepages", "1")
    assert (h.surplus_huge_pages, h.nr_huge_pages) == (1, 2)
    assert vm_event(m, "htlb_buddy_alloc_success") == before


def test_scenario_14_a_page_freed_on_a_node_with_surplus_goes_to_buddy():
    m = boot()
    write(m, "/proc/sys/vm/nr_hugepages", "2")
    a, b = use(m, 2)
    write(m, "/proc/sys/vm/nr_hugepages", "1")       # node 0: surplus 1
    h = hg(m).default_hstate
    assert (h.nr_huge_pages, h.surplus_huge_pages) == (2, 1)
    put(m, a)
    assert (h.nr_huge_pages, h.surplus_huge_pages, h.free_huge_pages) == (1, 0, 0)
    put(m, b)                                         # no surplus left: onto the free list
    assert (h.nr_huge_pages, h.free_huge_pages) == (1, 1)
    assert hg(m).check() == []


def test_scenario_23_sysctl_reads_the_target_sysfs_the_total():
    m = boot()
    write(m, "/proc/sys/vm/nr_hugepages", "5")
    use(m, 5)
    write(m, "/proc/sys/vm/nr_hugepages", "2")
    assert read(m, "/proc/sys/vm/nr_hugepages") == "2\n"
    assert read(m, "/proc/sys/vm/nr_hugepages_mempolicy") == "2\n"
    assert read(m, f"{H2}/nr_hugepages") == "5\n"
    assert read(m, f"{H2}/nr_hugepages_mempolicy") == "5\n"
    assert read(m, f"{node_dir(0)}/nr_hugepages") == "5\n"
    assert (meminfo(m, "HugePages_Total"), meminfo(m, "HugePages_Surp")) == ("5", "3")


def test_scenario_24_no_overcommit_for_gigantic_pages():
    m = boot(nodes=(2048,))
    with pytest.raises(VfsError) as e:
        write(m, f"{G1}/nr_overcommit_hugepages", "1")
    assert e.value.errno == "EINVAL"


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_25_hugetlb_counts_every_hstate(kernel):
    m = boot(nodes=(2048,), kernel=kernel)
    write(m, "/proc/sys/vm/nr_hugepages", "3")
    write(m, f"{G1}/nr_hugepages", "1")
    assert read(m, f"{G1}/nr_hugepages") == "1\n"
    assert meminfo(m, "Hugetlb") == "1054720 kB"
    assert meminfo(m, "HugePages_Total") == "3"
    write(m, f"{G1}/nr_hugepages", "0")
    assert meminfo(m, "Hugetlb") == "6144 kB"
    assert hg(m).check() == []


@pytest.mark.parametrize("path", ["/proc/sys/vm/nr_hugepages", "/proc/sys/vm/nr_overcommit_hugepages",
                                  f"{H2}/nr_hugepages", f"{node_dir(0)}/nr_hugepages",
                                  f"{H2}/nr_overcommit_hugepages"])
@pytest.mark.parametrize("data", ["abc", "-1"])
def test_bad_numbers_are_einval_and_change_nothing(path, data):
    """pool_sequence.txt step 2 (tests/hugetlb/probes): all ten writes EINVAL."""
    m = boot()
    write(m, "/proc/sys/vm/nr_hugepages", "2")
    with pytest.raises(VfsError, match="EINVAL|not a number|negative"):
        write(m, path, data)
    assert read(m, "/proc/sys/vm/nr_hugepages") == "2\n"
    assert read(m, "/proc/sys/vm/nr_overcommit_hugepages") == "0\n"


def test_kstrtoul_takes_a_newline_and_a_plus_and_nothing_else():
    from memsim.plugins.hugetlb.files import kstrtoul
    assert kstrtoul(b"5\n") == 5 and kstrtoul(b"+7") == 7
    for bad in (b"", b" 5", b"5 6", b"5\n\n", b"0x10"):
        with pytest.raises(VfsError, match="EINVAL"):
            kstrtoul(bad)
    with pytest.raises(VfsError, match="ERANGE"):
        kstrtoul(str(1 << 64).encode())


def test_boot_pool_from_the_machine_keys():
    m = boot(nodes=(256, 256), extra="  hugepages: \"0:1,1:3\"\n")
    assert (node_nr(m, 0), node_nr(m, 1)) == (1, 3)
    assert read(m, "/proc/sys/vm/nr_hugepages") == "4\n"
    assert m.boot.param("hugepages") == "0:1,1:3"
    m = boot(nodes=(256, 2048), extra="  hugepagesz: 1 GiB\n  hugepages: 1\n  default_hugepagesz: 1 GiB\n")
    assert meminfo(m, "Hugepagesize") == "1048576 kB"
    assert meminfo(m, "HugePages_Total") == "1"
    assert read(m, "/proc/sys/vm/nr_hugepages") == "1\n"


def test_a_bad_boot_key_names_its_line():
    text = ("machine:\n  nodes: [{memory: 256 MiB}]\n  hugepagesz: 4 MiB\n"
            "tasks:\n  - name: t\n    steps:\n      - sleep: {duration: 1}\n")
    with pytest.raises(WorkloadError, match=r"test.yaml:3:15: invalid machine.hugepagesz: 4194304 bytes "
                                            r"is not a huge page size of x86-64; use 2 MiB or 1 GiB"):
        run_text(text, events=())


def test_v6_18_demotes_a_free_gigantic_page_into_512_pages():
    m = boot(nodes=(2048,), kernel="v6.18")
    write(m, f"{G1}/nr_hugepages", "1")
    assert read(m, f"{G1}/demote_size") == "2048kB\n"
    write(m, f"{G1}/demote", "1")
    assert read(m, f"{G1}/nr_hugepages") == "0\n"
    assert read(m, f"{H2}/nr_hugepages") == "512\n"
    assert read(m, "/proc/sys/vm/nr_hugepages") == "512\n"
    assert hg(m).check() == []
    write(m, f"{G1}/demote", "1")                   # nothing free: the loop ends at once
    assert read(m, f"{H2}/nr_hugepages") == "512\n"


def test_v5_14_has_no_demote_files():
    m = boot(nodes=(256,))
    with pytest.raises(VfsError):
        read(m, f"{G1}/demote_size")


def _trace(kernel):
    text = (f"machine:\n  kernel: {kernel}\n  nodes: [{{memory: 256 MiB}}]\ntasks:\n  - name: t\n    steps:\n"
            '      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "3"}\n'
            '      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "0"}\n')
    from memsim.testing import trace_text
    r = run_text(text, events=("kmem:mm_page_alloc", "kmem:mm_page_free"))
    assert r.error is None, r.error
    return [line for line in trace_text(r).splitlines() if "order=9" in line]


def _fields(line):
    event = line.split(": ")[1] if ": mm_" in line else ""
    return event, dict(kv.split("=", 1) for kv in line.split(": ", 2)[-1].split() if "=" in kv)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_resize_traces_the_live_kernels_allocations_and_frees(kernel):
    """tests/hugetlb/probes/resize_trace.txt (6.18, recorded with the commands in its header):
    three order-9 allocations with the pool's gfp, then three frees in the same order (the shrink
    collects from the free list head and update_and_free_pages_bulk frees its list in reverse).
    tracepoints.md section 4.1 gives v5.14's string for the same gfp (0x1346cca)."""
    import pathlib
    live = [line for line in (pathlib.Path(__file__).parent / "probes" / "resize_trace.txt").read_text().splitlines()
            if not line.startswith("#")]
    ours = _trace(kernel)
    assert [_fields(x)[0] for x in ours] == [_fields(x)[0] for x in live]
    gfp = "GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE"
    for line in ours[:3]:
        assert _fields(line)[1]["gfp_flags"] == gfp and _fields(line)[1]["migratetype"] == "1"
    allocated = [_fields(x)[1]["pfn"] for x in ours[:3]]
    freed = [_fields(x)[1]["pfn"] for x in ours[3:]]
    assert freed == allocated


def test_scenario_22_dissolving_a_free_page_respects_the_reservations():
    """Scenario 22 (dissolve_free_huge_page, as memory offline calls it): with the only free page
    reserved, EBUSY; without the reservation, the page goes back to buddy and max_huge_pages - 1."""
    m = boot()
    write(m, "/proc/sys/vm/nr_hugepages", "1")
    h = hg(m).default_hstate
    head = h.freelist_pfns(0)[0]
    h.resv_huge_pages = 1                   # a reservation backed by that page
    assert h.dissolve_free_page(head + 5) == -16
    assert h.nr_huge_pages == 1
    h.resv_huge_pages = 0
    assert h.dissolve_free_page(head + 5) == 0
    assert (h.nr_huge_pages, h.free_huge_pages, read(m, "/proc/sys/vm/nr_hugepages")) == (0, 0, "0\n")
    assert h.dissolve_free_page(head) == 0      # no hugetlb page any more: "already dissolved"
    write(m, "/proc/sys/vm/nr_hugepages", "1")
    head = use(m, 1)[0]
    assert h.dissolve_free_page(head) == -16    # in use
    assert hg(m).check() == []


def test_scenario_24_without_contig_alloc_a_gigantic_pool_cannot_grow_but_can_shrink():
    """hugetlb.md section 4 step 3: memsim's kernels have CONFIG_CONTIG_ALLOC, as the live one
    here; with it off (Hugetlb.contig_alloc), growing the 1 GiB pool is EINVAL and shrinking a
    boot pool works (x86-64 has runtime gigantic page support, so the store itself lets it by)."""
    m = boot(nodes=(2048,), extra="  hugepagesz: 1 GiB\n  hugepages: 1\n")
    g = hg(m).hstates[1]
    assert g.nr_huge_pages == 1
    hg(m).contig_alloc = False
    with pytest.raises(VfsError) as e:
        write(m, f"{G1}/nr_hugepages", "2")
    assert e.value.errno == "EINVAL" and g.nr_huge_pages == 1
    write(m, f"{G1}/nr_hugepages", "0")
    assert g.nr_huge_pages == 0 and meminfo(m, "Hugetlb") == "0 kB"
