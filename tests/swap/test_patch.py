"""swapin-charge-first as a switch (plugins/swap/patch.py): a cgroup's pages swapped out and read
back, with the change (charged before add_to_swap_cache: the cgroup's NR_SWAPCACHE counts them,
memory.stat has swapcached) and without it (v5.12: in the swap cache first, charged after, no
swapcached key); and MAX_SWAPFILES against the live kernel (probes/max_swapfiles.sh)."""
import os
import textwrap

import pytest

from memsim.plugins.swap.testing import swap_machine
from memsim.testing import run_text

HERE = os.path.dirname(os.path.abspath(__file__))
CG = "/sys/fs/cgroup/job"

WORKLOAD = textwrap.dedent("""\
    machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 128 MiB}}], patches: {{swapin-charge-first: {state}}}}}
    cgroup: {{version: 2}}
    tasks:
      - name: job
        cpu: 0
        steps:
          - mkswap: {{path: /mnt/disk/swapfile, size: 16 MiB}}
          - swapon: {{path: /mnt/disk/swapfile}}
          - mkdir: {{path: {cg}}}
          - write_file: {{path: {cg}/cgroup.procs, data: "0"}}
          - mmap: {{name: heap, length: 256 KiB}}
          - touch: {{vma: heap}}
          - madvise: {{vma: heap, advice: MADV_PAGEOUT}}
          - write_file: {{path: {cg}/memory.max, data: "64K"}}
          - write_file: {{path: {cg}/memory.max, data: "max"}}
          - fork:
              child: reader
              steps:
                - touch: {{vma: heap, access: read}}
          - sleep: {{duration: 1 ms}}
    """)


def metrics(run):
    impl = run.registries.patches.get("swapin-charge-first")
    return {m.name: m.compute(run.machine) for m in impl.metrics}


@pytest.mark.parametrize("kernel", ("v5.14", "v6.18"))
def test_the_change_charges_before_the_swap_cache_and_counts_swapcached(kernel):
    on = run_text(WORKLOAD.format(kernel=kernel, state="on", cg=CG), events=())
    off = run_text(WORKLOAD.format(kernel=kernel, state="off", cg=CG), events=())
    assert on.error is None and off.error is None, (on.error, off.error)
    m_on, m_off = metrics(on), metrics(off)
    assert m_on["pswpin"] == m_off["pswpin"] > 0
    assert m_on["uncharged_swapins"] == 0
    assert m_off["uncharged_swapins"] == m_off["pswpin"]         # every one, uncharged a while
    assert m_on["memcg_swapcached_peak"] > 0 and m_off["memcg_swapcached_peak"] == 0
    assert (m_on["memcg_swapcached_key"], m_off["memcg_swapcached_key"]) == (1, 0)
    keys = lambda r: {l.split()[0] for l in r.machine.vfs.read_file(f"{CG}/memory.stat").decode().splitlines()}
    assert "swapcached" in keys(on) and "swapcached" not in keys(off)


def test_without_the_change_a_failed_charge_takes_the_page_out_of_the_swap_cache_again():
    """v5.12's order: add_to_swap_cache, then the charge; a charge that fails deletes the page
    from the swap cache (delete_from_swap_cache: add and delete both counted) and frees it, and
    the slot keeps its count."""
    from memsim import vm
    from memsim.mm import pte_swap_entry
    from memsim.plugins.swap.swapfile import entry_of
    m, t = swap_machine(memcg=1)
    h = m.plugin_state["swap"].host
    h.charge_first = False
    m.vfs.do_mkdirat("/sys/fs/cgroup/memory/A")
    m.vfs.write_file("/sys/fs/cgroup/memory/A/cgroup.procs", b"%d" % t.pid)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, 4096, "rw", "anon", totalram=total)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    m.physmem.lru_add_drain_py()
    while m.vmscan.try_to_free_pages(0, 32):
        pass
    entry = entry_of(*pte_swap_entry(t.mm.pte(a.vm_start)))
    # A at a limit it cannot reach, and no OOM kill: the swap-in's charge fails
    memcg = m.plugin_state["memcg"]
    memcg.host.drain_all_stock(memcg.root.memcg)             # no surplus in a CPU's stock
    m.vfs.write_file("/sys/fs/cgroup/memory/A/memory.oom_control", b"1")
    usage = m.vfs.read_file("/sys/fs/cgroup/memory/A/memory.usage_in_bytes").strip()
    m.vfs.write_file("/sys/fs/cgroup/memory/A/memory.limit_in_bytes", usage)
    c0 = h.counters()
    assert h.read_swap_cache_async_py(entry, a, a.vm_start) is None
    c1 = h.counters()
    assert c1["add_total"] == c0["add_total"] + 1 and c1["del_total"] == c0["del_total"] + 1
    assert c1["uncharged_adds"] == c0["uncharged_adds"] + 1
    assert h.swap_map(0, 1) == 0x01 and h.total_swapcache_pages() == 0
    assert m.check_invariants() == []


def live_max_swapfiles():
    with open(os.path.join(HERE, "probes", "max_swapfiles.txt")) as f:
        return int(next(l for l in f if l.startswith("swapped_on")).split()[1])


def test_v618_takes_as_many_swap_areas_as_the_live_kernel_then_eperm():
    from memsim.plugins.swap.swapon import SwapError, mkswap, sys_swapon
    m, t = swap_machine(kernel="v6.18", slots=16)               # one area on already
    n = live_max_swapfiles()
    for i in range(1, n):
        mkswap(m, f"/mnt/disk/s{i}", 16 * 4096)
        sys_swapon(m, f"/mnt/disk/s{i}", -1)
    mkswap(m, "/mnt/disk/one-more", 16 * 4096)
    with pytest.raises(SwapError) as e:
        sys_swapon(m, "/mnt/disk/one-more", -1)
    assert e.value.errno == "EPERM" and len(m.plugin_state["swap"].areas) == n == 28
