"""memsim's v6.18 swap against the live 6.18 kernel: tests/swap/probes/swap_probe.c, run by
probes/run_probe.sh with a 64 MiB /dev/zram0 (priority 5) as the only swap area, recorded in
probes/swap_probe.txt; the same sequence on a v6.18 machine gives the same /proc/swaps line,
SwapFree steps (no slots cache: 4 kB a page), VmSwap, pswpout / pswpin, and a read-back that
skips the swap cache on zram but goes through it (VMA readahead) once a fork shares the slots."""
import os

import pytest

from memsim import vm
from memsim.testing import build_machine, with_page_cache
from memsim.vmstat import ITEM_BY_NAME

PAGE = 4096
HERE = os.path.dirname(os.path.abspath(__file__))


def probe():
    out = {}
    with open(os.path.join(HERE, "probes", "swap_probe.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            out[key] = value
    return out


def ev(m, name):
    return m.physmem.vmstat.vm_event(ITEM_BY_NAME[name][1])


def swap_free(m):
    return int(next(l for l in m.vfs.read_file("/proc/meminfo").decode().splitlines()
                    if l.startswith("SwapFree:")).split()[1])


@pytest.fixture(scope="module")
def sim():
    """swap_probe.c's sequence on a v6.18 machine."""
    from memsim.plugins import swap as swapplugin
    from memsim.plugins.swap.swapon import mkswap, sys_swapon
    m = with_page_cache(build_machine(cpus=2, kernel="v6.18", nodes=(512 << 20,)))
    swapplugin.memsim_machine_created(m, None)
    t = m.spawn("app")
    m.set_current(t)
    mkswap(m, "/dev/zram0", 64 << 20)
    sys_swapon(m, "/dev/zram0", 5)
    out = {"swaps_line": next(l for l in m.vfs.read_file("/proc/swaps").decode().splitlines() if "zram0" in l),
           "page_cluster": m.vfs.read_file("/proc/sys/vm/page-cluster").decode().strip(),
           "vma_ra_enabled": m.vfs.read_file("/sys/kernel/mm/swap/vma_ra_enabled").decode().strip()}
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, 256 * PAGE, "rw", "anon", totalram=total)
    m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)
    out["free0"] = swap_free(m)
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_start + PAGE)
    out["free_after_1"] = swap_free(m)
    m.vmscan.madvise_pageout(t.mm, a.vm_start + PAGE, a.vm_start + 64 * PAGE)
    out["free_after_64"] = swap_free(m)
    m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)
    o0, i0 = ev(m, "pswpout"), ev(m, "pswpin")
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    m.mmcore.sync_current_rss()
    out["swapents_after_pageout"] = m.rss(t)["MM_SWAPENTS"] * 4
    o1 = ev(m, "pswpout")
    m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)
    out["pswpout_256"], out["pswpin_256"] = o1 - o0, ev(m, "pswpin") - i0
    host = m.plugin_state["swap"].host
    out["cached_after_read"] = host.total_swapcache_pages() * 4
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    child = m.fork(t, "child")
    m.set_current(child)
    ca = next(v for v in child.mm.vmas if v.vm_start == a.vm_start)
    ra, maj, pin = ev(m, "swap_ra"), ev(m, "pgmajfault"), ev(m, "pswpin")
    for i in range(256):
        m.mmcore.access(child.mm, ca, ca.vm_start + i * PAGE, ca.vm_start + (i + 1) * PAGE, False)
    out["cached_after_fork_read"] = host.total_swapcache_pages() * 4
    out["swap_ra_fork"] = ev(m, "swap_ra") - ra
    out["pswpin_fork"] = ev(m, "pswpin") - pin
    out["majfault_fork"] = ev(m, "pgmajfault") - maj
    return {k: str(v) for k, v in out.items()}


EXACT = ("swaps_line", "page_cluster", "vma_ra_enabled", "free0", "free_after_1", "free_after_64",
         "swapents_after_pageout", "pswpout_256", "pswpin_256", "cached_after_read", "pswpin_fork")


@pytest.mark.parametrize("key", EXACT)
def test_the_probe_s_figures(sim, key):
    assert sim[key] == probe()[key]


def test_the_fork_s_read_back_goes_through_the_swap_cache_with_readahead(sim):
    """SwapCached: the live file folds per-CPU NR_SWAPCACHE deltas (888 kB of 1024 shown);
    memsim's count is the exact 1024 kB.  The readahead's split of the 256 reads: the live
    kernel made 33 or 34 major faults (runs differ: the mapping's place in its PMD changes
    with ASLR) and read the rest ahead; memsim's window (the same __swapin_nr_pages: 1, 2, 4,
    then 8 pages) ramps up by the rule and makes 35 major faults and 221 pages ahead."""
    live = probe()
    assert int(live["cached_after_fork_read"]) <= int(sim["cached_after_fork_read"]) == 1024
    assert int(sim["swap_ra_fork"]) + int(sim["majfault_fork"]) == 256
    assert abs(int(sim["majfault_fork"]) - int(live["majfault_fork"])) <= 2


@pytest.mark.xfail(strict=True, reason="memsim's VMA readahead ramps up one or two faults later than "
                   "the live 6.18 kernel (35 major faults, not 33-34); the cause is not found yet")
def test_the_fork_s_readahead_split_is_the_live_kernel_s(sim):
    live = probe()
    assert (sim["majfault_fork"], sim["swap_ra_fork"]) == (live["majfault_fork"], live["swap_ra_fork"])
