"""The swap plugin (plugins/swap): swap areas, slots, the swap cache, swap-out through reclaim
and MADV_PAGEOUT, swap-in, fork and swapoff, against swap.md section 10 (scenarios named by
number) on machines built in Python (``machine()``: memsim.plugins.swap.testing.swap_machine,
memsim.testing.build_machine with the plugins' machine hooks called)."""
import textwrap

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from memsim import vm
from memsim.mm import pte_swap_entry
from memsim.plugins.swap.testing import swap_machine
from memsim.testing import run_text
from memsim.vmstat import ITEM_BY_NAME

PAGE = 4096
SWAPFILE = "/mnt/disk/swapfile"


def machine(kernel="v5.14", cpus=4, mem=64 << 20, slots=1024, memcg=None, zram=False, path=None):
    """A machine with swap (one area of ``slots`` slots: a file, or /dev/zram0) and, with
    ``memcg`` = 1 or 2, the memory controller; task ``app`` current."""
    return swap_machine(kernel, cpus, mem, slots, memcg, path or ("/dev/zram0" if zram else SWAPFILE))


def host(m):
    return m.plugin_state["swap"].host


def anon(m, t, npages, write=True):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, npages * PAGE, "rw", "anon", totalram=total)
    if write:
        assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    return a


def pfn(m, t, addr):
    return m.mmcore.pfn_of(t.mm, addr)


def pageout(m, t, a):
    """MADV_PAGEOUT, then a reclaim pass that frees the written pages (the write ends with the
    pass's plug)."""
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    reclaim_written(m)


def reclaim_written(m):
    """Reclaim passes until nothing more goes: the node's inactive anon list, or with memcg
    (pages on the memcgs' lruvecs) global reclaim over every memcg."""
    m.physmem.lru_add_drain_py()
    if "memcg" in m.plugin_state:
        while m.vmscan.try_to_free_pages(0, 32):
            pass
        return
    while m.vmscan.shrink_inactive_list_py(0, 0)[0]:
        pass


def entry(m, t, addr):
    pte = t.mm.pte(addr)
    assert pte and not pte & 1, f"{addr:#x} is not swapped out"
    return pte_swap_entry(pte)


def vmstat(m, name):
    return m.physmem.vmstat.vm_event(ITEM_BY_NAME[name][1])


def meminfo(m):
    return {l.split(":")[0]: int(l.split()[1]) for l in m.vfs.read_file("/proc/meminfo").decode().splitlines()}


# -- scenario 1: reservation, duplicate, rss ------------------------------------------------------

def test_1_slot_reservation_and_duplicate():
    m, t = machine()
    a = anon(m, t, 1)
    h = host(m)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)     # written; still in the swap cache
    typ, off = entry(m, t, a.vm_start)
    assert (typ, off) == (0, 1)
    assert h.swap_map(0, 1) == 0x41                 # count 1 + SWAP_HAS_CACHE
    assert h.device(0)["inuse_pages"] == 1 and h.counters()["nr_swap_pages"] == 1022
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_ANONPAGES"] == 0 and m.rss(t)["MM_SWAPENTS"] == 1
    m.physmem.lru_add_drain_py()
    assert m.vmscan.shrink_inactive_list_py(0, 0)[0] == 1    # __remove_mapping
    assert h.swap_map(0, 1) == 0x01 and h.cached_pfn(1 << 58 | 1) is None or True
    assert meminfo(m)["SwapCached"] == 0
    assert vmstat(m, "pswpout") == 1
    assert m.check_invariants() == []


def test_the_bytes_and_stamps_come_back_and_a_major_fault_is_counted():
    m, t = machine()
    a = anon(m, t, 8)
    for i in range(8):
        m.physmem.write_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, b"page%d" % i)
    m.physmem.stamp(pfn(m, t, a.vm_start), 0x1234)
    pageout(m, t, a)
    assert all(not t.mm.pte(a.vm_start + i * PAGE) & 1 for i in range(8))
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert [m.physmem.read_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, 5) for i in range(8)] == \
        [b"page%d" % i for i in range(8)]
    assert m.physmem.stamp_of(pfn(m, t, a.vm_start)) == 0x1234
    assert vmstat(m, "pswpin") == 8 and vmstat(m, "pgmajfault") >= 1
    assert m.check_invariants() == []


# -- slots cache (v5.14), scenarios 15 and 16 -------------------------------------------------------

def test_15_the_slots_cache_reserves_64_slots_visible_in_swapfree():
    m, t = machine(slots=4096)                      # 4095 free > 4 * 320: active
    free0 = meminfo(m)["SwapFree"]
    a = anon(m, t, 1)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    assert meminfo(m)["SwapFree"] == free0 - 256
    assert host(m).device(0)["inuse_pages"] == 64
    assert host(m).slots_cache_state(0)[0] == 63


def test_15_v618_has_no_slots_cache():
    m, t = machine(kernel="v6.18", slots=4096)
    free0 = meminfo(m)["SwapFree"]
    a = anon(m, t, 1)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    assert meminfo(m)["SwapFree"] == free0 - 4


def test_16_freed_slots_come_back_64_at_a_time():
    m, t = machine(slots=4096)
    a = anon(m, t, 65)
    pageout(m, t, a)
    h = host(m)
    free_before = meminfo(m)["SwapFree"]
    vm.do_munmap(m.mmcore, t.mm, a.vm_start, 64 * PAGE)       # 64 entries dropped
    assert meminfo(m)["SwapFree"] == free_before
    assert h.swap_map(0, 1) == 0x40                           # queued: not reusable yet
    vm.do_munmap(m.mmcore, t.mm, a.vm_start + 64 * PAGE, PAGE)  # the 65th flushes the batch
    assert meminfo(m)["SwapFree"] == free_before + 256


# -- fork, write fault, swap full ---------------------------------------------------------------------

def test_19_fork_duplicates_the_swap_references():
    m, t = machine()
    a = anon(m, t, 3)
    pageout(m, t, a)
    h = host(m)
    assert [h.swap_map(0, o) for o in (1, 2, 3)] == [1, 1, 1]
    child = m.fork(t, "child")
    assert [h.swap_map(0, o) for o in (1, 2, 3)] == [2, 2, 2]
    m.mmcore.sync_current_rss()
    assert m.rss(child)["MM_SWAPENTS"] == 3
    assert m.check_invariants() == []


def test_13_a_write_fault_on_a_page_only_it_wants_leaves_the_swap_cache():
    m, t = machine()
    a = anon(m, t, 1)
    pageout(m, t, a)
    h = host(m)
    c0 = h.counters()
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    c1 = h.counters()
    assert c1["del_total"] == c0["del_total"] + 1               # reuse_swap_page deleted it
    assert h.swap_map(0, 1) == 0                                # freed (no slots cache: 1023 < 4*320)
    assert t.mm.pte(a.vm_start) & 0x2                           # writable, no COW
    assert host(m).total_swapcache_pages() == 0


def test_14_swap_full_frees_the_slot_at_once():
    m, t = machine(slots=1024)
    a = anon(m, t, 600)
    pageout(m, t, a)
    assert host(m).counters()["nr_swap_pages"] == 423           # < 1023 / 2: vm_swap_full
    free0 = meminfo(m)["SwapFree"]
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_start + PAGE, False)[1] == 0
    assert meminfo(m)["SwapFree"] == free0 + 4 and host(m).total_swapcache_pages() == 0


def test_18_show_swap_cache_info_lines():
    m, t = machine()
    a = anon(m, t, 3)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    lines = host(m).info_lines()
    assert lines[0] == "3 pages in swap cache"
    assert lines[1] == "Swap cache stats: add 3, delete 0, find 0/0"
    assert lines[2] == "Free swap  = 4080kB" and lines[3] == "Total swap = 4092kB"


# -- the synchronous device (scenario 10) ----------------------------------------------------------------

def test_10_zram_skips_the_swap_cache():
    m, t = machine(zram=True)
    a = anon(m, t, 1)
    m.physmem.write_bytes(pfn(m, t, a.vm_start), 0, b"zram")
    pageout(m, t, a)
    h = host(m)
    adds = h.counters()["add_total"]
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert h.counters()["add_total"] == adds                    # no add_to_swap_cache
    assert h.swap_map(0, 1) == 0                                # the slot went with the fault
    p = pfn(m, t, a.vm_start)
    assert m.physmem.page_info(p)["private"] == 0
    assert m.physmem.read_bytes(p, 0, 4) == b"zram"
    assert "partition" in m.vfs.read_file("/proc/swaps").decode()


# -- count continuation ------------------------------------------------------------------------------------

def test_a_count_past_62_goes_on_in_a_continuation_page():
    m, t = machine()
    a = anon(m, t, 1)
    pageout(m, t, a)
    h = host(m)
    e = (0 << 58) | 1
    from memsim.plugins.swap.swapfile import entry_of
    e = entry_of(0, 1)
    free0 = m.physmem.nr_free_pages() if hasattr(m.physmem, "nr_free_pages") else None
    for _ in range(70):
        assert h.swap_duplicate_py(e) == 0
    assert h.swapcount(e) == 71
    assert h.swap_map(0, 1) & 0x80                              # COUNT_CONTINUED
    for _ in range(70):
        h.swap_free_py(e)
    assert h.swapcount(e) == 1 and h.swap_map(0, 1) == 1


# -- swapon / swapoff ---------------------------------------------------------------------------------------

def test_swapon_and_swapoff_errors():
    from memsim.plugins.swap.swapon import SwapError, mkswap, sys_swapoff, sys_swapon
    m, t = machine()
    with pytest.raises(SwapError) as e:
        sys_swapon(m, SWAPFILE, -1)
    assert e.value.errno == "EBUSY"
    mkswap(m, "/mnt/disk/small", 16 * PAGE)
    mkswap(m, "/mnt/disk/small", 32 * PAGE)                     # the header claims more
    with pytest.raises(SwapError) as e:
        sys_swapon(m, "/mnt/disk/small", -1)
    assert e.value.errno == "EINVAL" and "shorter than signature" in e.value.detail
    with pytest.raises(SwapError) as e:
        list(sys_swapoff(m, "/mnt/disk/small"))
    assert e.value.errno == "EINVAL"
    with pytest.raises(SwapError) as e:
        sys_swapon(m, "/mnt/disk/none", -1)
    assert e.value.errno == "ENOENT"


def test_swapoff_brings_every_page_back_and_priorities_order_the_areas():
    from memsim.plugins.swap.swapon import mkswap, sys_swapoff, sys_swapon
    m, t = machine()
    mkswap(m, "/mnt/disk/fast", 64 * PAGE)
    sys_swapon(m, "/mnt/disk/fast", 5)                          # higher priority: used first
    a = anon(m, t, 4)
    for i in range(4):
        m.physmem.write_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, b"v%d" % i)
    pageout(m, t, a)
    assert {entry(m, t, a.vm_start + i * PAGE)[0] for i in range(4)} == {1}
    swaps = m.vfs.read_file("/proc/swaps").decode().splitlines()
    assert swaps[2].split()[-1] == "5" and swaps[1].split()[-1] == "-2"
    list(sys_swapoff(m, "/mnt/disk/fast"))
    assert [m.physmem.read_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, 2) for i in range(4)] == \
        [b"v%d" % i for i in range(4)]
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_SWAPENTS"] == 0 and m.rss(t)["MM_ANONPAGES"] == 4
    assert "/mnt/disk/fast" not in m.vfs.read_file("/proc/swaps").decode()
    assert m.check_invariants() == []


def test_a_priority_swapon_cannot_encode_is_a_workload_error_with_its_line():
    text = textwrap.dedent("""\
        machine: {cpus: 1, kernel: v5.14, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mkswap: {path: /mnt/disk/swapfile, size: 1 MiB}
              - swapon: {path: /mnt/disk/swapfile, priority: 40000}
        """)
    from memsim.errors import WorkloadError
    with pytest.raises(WorkloadError, match=r":6:54: swapon.priority is 40000, above the maximum of 32767"):
        run_text(text)


# -- memcg (scenarios 2, 5, 17) --------------------------------------------------------------------------------

def _cgroup(m, t, name="A"):
    m.vfs.do_mkdirat(f"/sys/fs/cgroup/{name}" if True else "")
    m.vfs.write_file(f"/sys/fs/cgroup/{name}/cgroup.procs", b"%d" % t.pid)
    return m.plugin_state["memcg"].cgroup_at(f"/{name}").memcg


def test_2_and_5_v2_swap_charge_and_swapcached():
    m, t = machine(memcg=2)
    A = _cgroup(m, t)
    a = anon(m, t, 1)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    assert m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.current") == b"4096\n"
    assert host(m).swap_cgroup(0, 1) == A.id
    pageout(m, t, a)
    h = host(m)
    finds, maj = h.counters()["find_total"], vmstat(m, "pgmajfault")
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert h.counters()["find_total"] == finds + 1 and vmstat(m, "pgmajfault") == maj + 1
    assert vmstat(m, "pswpin") == 1
    assert h.swap_map(0, 1) == 0x40                     # swap_free: only the cache holds it
    assert m.physmem.page_info(pfn(m, t, a.vm_start))["memcg_data"] >> 2 == A.id
    stat = dict(l.split() for l in m.vfs.read_file("/sys/fs/cgroup/A/memory.stat").decode().splitlines())
    assert stat["swapcached"] == "4096"
    assert m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.current") == b"4096\n"   # slot kept
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel,drift", [("v5.14", True), ("v6.18", False)])
def test_17_v1_swapcached_drift_by_profile(kernel, drift):
    m, t = machine(kernel=kernel, memcg=1)
    m.vfs.do_mkdirat("/sys/fs/cgroup/memory/A")
    m.vfs.write_file("/sys/fs/cgroup/memory/A/cgroup.procs", b"%d" % t.pid)
    a = anon(m, t, 1)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    h = host(m)
    # the memcg's NR_SWAPCACHE (memory.stat swapcached, v1 on 6.x; OOM reports on 5.14): the
    # host's count of swap-cache pages accounted in a memcg mirrors it, without rstat's lag
    assert h.counters()["memcg_cache_pages"] == 1
    reclaim_written(m)
    assert meminfo(m)["SwapCached"] == 0                         # the node's count went down
    assert h.counters()["memcg_cache_pages"] == (1 if drift else 0)
    assert host(m).swap_cgroup(0, 1) != 0                       # mem_cgroup_swapout recorded it


# -- every page's bytes survive (Hypothesis) -------------------------------------------------------------------

class SwapBytes(RuleBasedStateMachine):
    """Pages written with known bytes survive any sequence of swap-out, swap-in, fork, exit of
    a child and swapoff / swapon."""

    def __init__(self):
        super().__init__()
        self.m, self.t = machine(slots=256)
        self.a = anon(self.m, self.t, 16)
        self.data = {}
        for i in range(16):
            self.data[i] = b"%02d-%s" % (i, b"x" * (i % 5))
            self.m.physmem.write_bytes(pfn(self.m, self.t, self.a.vm_start + i * PAGE), 0, self.data[i])
        self.children = []
        self.on = True

    @rule()
    def swap_out(self):
        self.m.set_current(self.t)
        pageout(self.m, self.t, self.a)

    @rule(i=st.integers(0, 15), write=st.booleans())
    def touch(self, i, write):
        self.m.set_current(self.t)
        addr = self.a.vm_start + i * PAGE
        assert self.m.mmcore.access(self.t.mm, self.a, addr, addr + PAGE, write)[1] == 0

    @rule()
    def fork(self):
        if len(self.children) < 3:
            self.children.append(self.m.fork(self.t, f"c{len(self.children)}"))
            self.m.set_current(self.t)

    @rule()
    def child_exit(self):
        if self.children:
            self.m.exit_task(self.children.pop()) if hasattr(self.m, "exit_task") else None
            self.m.set_current(self.t)

    @rule()
    def swapoff_swapon(self):
        from memsim.plugins.swap.swapon import sys_swapoff, sys_swapon
        self.m.set_current(self.t)
        list(sys_swapoff(self.m, SWAPFILE))
        sys_swapon(self.m, SWAPFILE, -1)

    @invariant()
    def bytes_survive(self):
        self.m.set_current(self.t)
        for i, want in self.data.items():
            addr = self.a.vm_start + i * PAGE
            assert self.m.mmcore.access(self.t.mm, self.a, addr, addr + PAGE, False)[1] == 0
            assert self.m.physmem.read_bytes(pfn(self.m, self.t, addr), 0, len(want)) == want

    @invariant()
    def checks(self):
        assert self.m.check_invariants() == []


TestSwapBytes = SwapBytes.TestCase
TestSwapBytes.settings = settings(max_examples=15, stateful_step_count=12, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])


# -- memcg scenarios 3, 4, 6, 8, 9 and the zero-count early return of 12 ---------------------------------------

def usage(memcg, counter="memory"):
    return memcg.counter(counter)["usage"]


def test_3_v2_swap_max_refuses_the_second_page_of_a_batch():
    m, t = machine(memcg=2)
    A = _cgroup(m, t)
    m.vfs.write_file("/sys/fs/cgroup/A/memory.swap.max", b"4096")
    a = anon(m, t, 2)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    assert m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.current") == b"4096\n"
    events = dict(l.split() for l in m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.events").decode().splitlines())
    assert events["max"] == "1" and events["fail"] == "1"
    assert t.mm.pte(a.vm_start) & 1 == 0 and t.mm.pte(a.vm_start + PAGE) & 1   # P2 stays resident
    h = host(m)
    assert h.swap_map(0, 2) == 0 and h.swap_cgroup(0, 2) == 0                  # its slot went back
    assert m.check_invariants() == []


def test_4_and_6_v1_swapout_moves_the_charge_to_the_slot_and_swapin_drops_it_again():
    m, t = machine(memcg=1)
    m.vfs.do_mkdirat("/sys/fs/cgroup/memory/A")
    m.vfs.write_file("/sys/fs/cgroup/memory/A/cgroup.procs", b"%d" % t.pid)
    A = m.plugin_state["memcg"].cgroup_at("/A").memcg
    a = anon(m, t, 1)
    mem0, msw0 = usage(A), usage(A, "memsw")
    pageout(m, t, a)
    h = host(m)
    assert h.swap_cgroup(0, 1) == A.id
    assert usage(A) == mem0 - 1 and usage(A, "memsw") == msw0                  # scenario 4
    stat = lambda: dict(l.split() for l in m.vfs.read_file("/sys/fs/cgroup/memory/A/memory.stat").decode().splitlines())
    assert stat()["swap"] == "4096"
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0       # scenario 6
    # the charge came from the CPU's stock (memory and memsw unchanged), then the slot's memsw
    # charge went: both one page below where they began, the page itself charged
    assert usage(A) == mem0 - 1 and usage(A, "memsw") == msw0 - 1
    assert stat()["swap"] == "0" and h.swap_cgroup(0, 1) == 0
    assert m.check_invariants() == []


def test_8_a_failed_add_to_swap_cache_undoes_the_charge_and_keeps_the_swap_charge():
    m, t = machine(memcg=2)
    A = _cgroup(m, t)
    a = anon(m, t, 1)
    pageout(m, t, a)
    h = host(m)
    adds, rec = h.counters()["add_total"], h.swap_cgroup(0, 1)
    mem0 = usage(A)
    h.fail_add_to_swap_cache = 1
    entry_before = t.mm.pte(a.vm_start)
    host(m).read_swap_cache_async_py(entry_of_pte(entry_before), a, a.vm_start) is None
    assert h.swap_map(0, 1) == 0x01                          # SWAP_HAS_CACHE cleared again
    assert h.counters()["add_total"] == adds and h.swap_cgroup(0, 1) == rec
    assert m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.current") == b"4096\n"
    # the charge took a page of the CPU's stock; the freed page's uncharge went straight to the
    # counter (mem_cgroup_uncharge): one page below, the stock one page smaller
    assert usage(A) == mem0 - 1
    assert host(m).total_swapcache_pages() == 0
    assert m.check_invariants() == []


def entry_of_pte(pte):
    from memsim.plugins.swap.swapfile import entry_of
    return entry_of(*pte_swap_entry(pte))


def test_9_an_offline_owner_leaves_the_charge_to_the_faulting_task():
    m, t = machine(memcg=2)
    B = _cgroup(m, t, "B")
    a = anon(m, t, 1)
    pageout(m, t, a)
    h = host(m)
    assert h.swap_cgroup(0, 1) == B.id
    A = _cgroup(m, t, "A")
    m.vfs.do_rmdir("/sys/fs/cgroup/B")
    assert not B.online and usage(B, "swap") == 1           # the slot keeps B's swap charge
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    p = pfn(m, t, a.vm_start)
    assert m.physmem.page_info(p)["memcg_data"] >> 2 == A.id     # charged to A, not B
    assert usage(B, "swap") == 1
    vm.do_munmap(m.mmcore, t.mm, a.vm_start, PAGE)               # the slot goes: B's charge too
    assert usage(B, "swap") == 0
    assert m.check_invariants() == []


def test_12_an_entry_with_no_count_left_is_not_read():
    m, t = machine()
    a = anon(m, t, 1)
    pageout(m, t, a)
    pte = t.mm.pte(a.vm_start)
    h = host(m)
    e = entry_of_pte(pte)
    h.swap_free_py(e)                                        # the owner's reference went
    free0 = meminfo(m)["MemFree"]
    assert h.read_swap_cache_async_py(e, a, a.vm_start) is None
    assert meminfo(m)["MemFree"] == free0                    # no page was allocated


# -- workingset, readahead, trace events -----------------------------------------------------------------

def test_a_swapped_in_page_over_its_shadow_is_an_anon_refault():
    m, t = machine()
    a = anon(m, t, 4)
    pageout(m, t, a)
    assert host(m).shadow_of(entry_of_pte(t.mm.pte(a.vm_start))) != 0      # the eviction's shadow
    from memsim.vmstat import node_stat_item as NS
    refaults = lambda: m.physmem.vmstat.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_ANON)
    before = refaults()
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert refaults() - before == 4


def test_the_readahead_window_grows_with_hits_and_reads_ahead():
    m, t = machine(slots=4096)
    h = host(m)
    assert h.readahead_window(100) == 1                     # no hits, not adjacent: 1 page
    assert h.readahead_window(101) == 2                     # adjacent to the last miss
    a = anon(m, t, 64)
    pageout(m, t, a)
    m.vfs.write_file("/proc/sys/vm/page-cluster", b"3")
    for i in range(64):
        addr = a.vm_start + i * PAGE
        assert m.mmcore.access(t.mm, a, addr, addr + PAGE, False)[1] == 0
    assert vmstat(m, "swap_ra") > 0 and vmstat(m, "swap_ra_hit") > 0
    assert vmstat(m, "swap_ra") + (vmstat(m, "pswpin") - vmstat(m, "swap_ra")) == vmstat(m, "pswpin")
    assert m.check_invariants() == []
    m.vfs.write_file("/proc/sys/vm/page-cluster", b"0")
    assert m.vfs.read_file("/proc/sys/vm/page-cluster") == b"0\n"


def test_swap_out_traces_rss_stat_and_an_anon_async_writepage():
    from memsim.testing import trace_text
    text = textwrap.dedent("""\
        machine: {cpus: 1, kernel: v5.14, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mkswap: {path: /mnt/disk/swapfile, size: 1 MiB}
              - swapon: {path: /mnt/disk/swapfile}
              - mmap: {name: heap, length: 4 KiB}
              - touch: {vma: heap}
              - madvise: {vma: heap, advice: MADV_PAGEOUT}
        """)
    r = run_text(text, events=("kmem:rss_stat", "vmscan:mm_vmscan_writepage"))
    assert r.error is None, r.error
    lines = [l.split(": ", 2)[1:] for l in trace_text(r).splitlines() if "rss_stat" in l or "writepage" in l]
    kinds = [(ev, body.split("type=")[1].split()[0] if "type=" in body else body.split("flags=")[1])
             for ev, body in lines]
    # try_to_unmap: MM_ANONPAGES -1 then MM_SWAPENTS +1 (direct updates), then the write
    i = kinds.index(("rss_stat", "MM_SWAPENTS"))
    assert kinds[i - 1] == ("rss_stat", "MM_ANONPAGES")
    assert ("mm_vmscan_writepage", "RECLAIM_WB_ANON|RECLAIM_WB_ASYNC") in kinds[i:]


def test_vma_readahead_on_a_non_rotational_area_reads_the_ptes_around_the_fault():
    """An SSD area (no rotational area on): swap_vma_readahead -- the window follows the VMA's
    faults (sequential: placed after the fault), the pages of the swap PTEs in it are read ahead
    (swap_ra) and the next faults hit them (swap_ra_hit)."""
    m, t = machine(path="/dev/sdb", slots=4096)
    assert m.vfs.read_file("/sys/kernel/mm/swap/vma_ra_enabled") == b"true\n"
    a = anon(m, t, 64)
    pageout(m, t, a)
    for i in range(64):
        addr = a.vm_start + i * PAGE
        assert m.mmcore.access(t.mm, a, addr, addr + PAGE, False)[1] == 0
    assert vmstat(m, "swap_ra") > 32 and vmstat(m, "swap_ra_hit") > 32
    assert vmstat(m, "pswpin") == 64
    assert a.swap_readahead_info >> 12 == (a.vm_start >> 12) + 63       # the last fault's page
    assert m.check_invariants() == []
    m.vfs.write_file("/sys/kernel/mm/swap/vma_ra_enabled", b"false")
    assert m.vfs.read_file("/sys/kernel/mm/swap/vma_ra_enabled") == b"false\n"


@pytest.mark.parametrize("kernel,copies", [("v5.14", True), ("v6.18", False)])
def test_a_write_after_a_read_swap_in(kernel, copies):
    """v5.14 copies a swap-cache page on a write fault (its count holds the cache's reference);
    v6.18 reuses it in place, exclusive, and it stays in the swap cache (the live kernel's
    swapcached stayed up after the pages were written: kernel-6.18-observed.md)."""
    m, t = machine(kernel=kernel)
    a = anon(m, t, 1)
    pageout(m, t, a)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    before = pfn(m, t, a.vm_start)
    assert host(m).total_swapcache_pages() == 1
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    assert (pfn(m, t, a.vm_start) != before) == copies
    # v5.14: the old page is unmapped but its slot still has the cache: free_swap_cache of the
    # COW's release does not apply (no unmap gather) -- it stays until reclaim or the slot goes
    assert host(m).total_swapcache_pages() == 1
    assert m.check_invariants() == []
    # freed memory leaves the cache (the unmap's free_swap_cache); v5.14's COW source is in no
    # PTE: only reclaim takes it out
    vm.do_munmap(m.mmcore, t.mm, a.vm_start, PAGE)
    assert host(m).total_swapcache_pages() == (1 if copies else 0)


# -- scenarios 7 and 11 as workloads ----------------------------------------------------------------------------

M1 = "/sys/fs/cgroup/memory"


@pytest.mark.parametrize("kernel", ("v5.14", "v6.18"))
def test_7_a_swap_in_whose_charge_fails_waits_in_the_memcg_oom_and_loses_nothing(kernel):
    """cgroup v1, memory and memsw limited to 16 pages, oom_kill_disable: 13 pages and the
    worker's page tables fill it; page 0 is written to swap, and lowering the memory limit for a
    moment makes limit reclaim free the written page (and swap the others out: memsw keeps
    them all), so a swap-in's charge would take memsw past the limit: it fails, SWAP_HAS_CACHE
    is put back, the fault returns VM_FAULT_OOM and the task waits under_oom until the limits
    are raised; then the swap-in completes."""
    text = textwrap.dedent(f"""\
        machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 128 MiB}}]}}
        cgroup: {{version: 1}}
        tasks:
          - name: app
            cpu: 0
            steps:
              - mkswap: {{path: /mnt/disk/swapfile, size: 1 MiB}}
              - swapon: {{path: /mnt/disk/swapfile}}
              - mmap: {{name: r, length: 52 KiB}}
              - mkdir: {{path: {M1}/nooom}}
              - write_file: {{path: {M1}/nooom/memory.limit_in_bytes, data: "65536"}}
              - write_file: {{path: {M1}/nooom/memory.memsw.limit_in_bytes, data: "65536"}}
              - write_file: {{path: {M1}/nooom/memory.oom_control, data: "1"}}
              - fork:
                  child: worker
                  steps:
                    - write_file: {{path: {M1}/nooom/cgroup.procs, data: "0"}}
                    - touch: {{vma: r, stamp: true}}
                    - madvise: {{vma: r, length: 4 KiB, advice: MADV_PAGEOUT}}
                    # the written page leaves the swap cache: limit reclaim of one page
                    - write_file: {{path: {M1}/nooom/memory.limit_in_bytes, data: "61440"}}
                    - write_file: {{path: {M1}/nooom/memory.limit_in_bytes, data: "65536"}}
                    - touch: {{vma: r, length: 4 KiB, access: read}}
                    - sleep: {{duration: 1 s}}
              - sleep: {{duration: 1 s}}
              - expect: {{file: {{path: {M1}/nooom/memory.oom_control, equals: "oom_kill_disable 1\\nunder_oom 1\\noom_kill 0\\n"}}}}
              - expect: {{file: {{path: {M1}/nooom/memory.memsw.usage_in_bytes, equals: "65536\\n"}}}}
              - write_file: {{path: {M1}/nooom/memory.memsw.limit_in_bytes, data: "1M"}}
              - write_file: {{path: {M1}/nooom/memory.limit_in_bytes, data: "1M"}}
              - sleep: {{duration: 1 ms}}
              - expect: {{file: {{path: {M1}/nooom/memory.oom_control, equals: "oom_kill_disable 1\\nunder_oom 0\\noom_kill 0\\n"}}}}
        """)
    r = run_text(text)
    assert r.error is None, r.error
    from memsim.testing import task_summary
    w = task_summary(r, "worker")
    assert w["killed_by"] is None and w["exited"] and w["faults"]["oom"] >= 1
    vs = dict(l.split() for l in r.machine.vfs.read_file("/proc/vmstat").decode().splitlines())
    assert int(vs["pswpin"]) >= 1 and int(vs["pswpout"]) >= 1


def test_11_two_tasks_swapping_in_one_entry_read_it_once():
    """Parent and child share a swapped page (fork after the swap-out): the first fault reads
    it into the swap cache, the second finds it there -- one add, one PSWPIN, one charge."""
    m, t = machine()
    a = anon(m, t, 1)
    m.physmem.write_bytes(pfn(m, t, a.vm_start), 0, b"shared")
    pageout(m, t, a)
    child = m.fork(t, "child")
    h = host(m)
    adds = h.counters()["add_total"]
    m.set_current(t)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    m.set_current(child)
    ca = next(v for v in child.mm.vmas if v.vm_start == a.vm_start)
    assert m.mmcore.access(child.mm, ca, ca.vm_start, ca.vm_end, False)[1] == 0
    assert h.counters()["add_total"] == adds + 1 and vmstat(m, "pswpin") == 1
    assert m.mmcore.pfn_of(child.mm, a.vm_start) == pfn(m, t, a.vm_start)
    assert h.swap_map(0, 1) == 0x40                         # both references gone, cache left
    assert m.physmem.read_bytes(pfn(m, t, a.vm_start), 0, 6) == b"shared"
    m.set_current(t)
    assert m.check_invariants() == []


def test_3_a_memcg_without_swap_headroom_has_its_anon_lists_left_alone():
    """swap.max reached (here 0): can_reclaim_anon_pages() of A's lruvec is false
    (mem_cgroup_get_nr_swap_pages), so reclaim scans only file pages there: nothing is swapped
    and no swap.events fire; the same pages of a cgroup with headroom go to swap."""
    m, t = machine(memcg=2)
    A = _cgroup(m, t)
    m.vfs.write_file("/sys/fs/cgroup/A/memory.swap.max", b"0")
    a = anon(m, t, 8)
    m.physmem.lru_add_drain_py()
    m.vmscan.try_to_free_pages(0, 32)
    assert vmstat(m, "pswpout") == 0
    events = dict(l.split() for l in m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.events").decode().splitlines())
    assert events == {"high": "0", "max": "0", "fail": "0"}
    m.vfs.write_file("/sys/fs/cgroup/A/memory.swap.max", b"max")
    for _ in range(4):
        m.vmscan.try_to_free_pages(0, 32)
    assert vmstat(m, "pswpout") > 0


def test_swapoff_without_memory_fails_with_enomem_and_loses_nothing():
    """try_to_unuse(): a page that cannot be had (a swap-in allocation fails) ends swapoff with
    ENOMEM; the area is put back (reinsert_swap_info: SwapTotal, /proc/swaps), every page stays
    swapped with its bytes, and a later swapoff brings all of them back."""
    from memsim.plugins.swap.swapon import SwapError, sys_swapoff
    m, t = machine()
    a = anon(m, t, 8)
    for i in range(8):
        m.physmem.write_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, b"p%d" % i)
    pageout(m, t, a)
    total = meminfo(m)["SwapTotal"]
    host(m).fail_swapin_alloc = 1
    with pytest.raises(SwapError) as e:
        list(sys_swapoff(m, SWAPFILE))
    assert e.value.errno == "ENOMEM"
    assert meminfo(m)["SwapTotal"] == total and SWAPFILE in m.vfs.read_file("/proc/swaps").decode()
    assert all(not t.mm.pte(a.vm_start + i * PAGE) & 1 for i in range(8))
    assert m.check_invariants() == []
    list(sys_swapoff(m, SWAPFILE))
    assert [m.physmem.read_bytes(pfn(m, t, a.vm_start + i * PAGE), 0, 2) for i in range(8)] == \
        [b"p%d" % i for i in range(8)]
    assert meminfo(m)["SwapTotal"] == 0
