"""The ``swapin-charge-first`` seed change ("memcg: charge before adding to swapcache on swapin",
v5.13) as a switch.

On: __read_swap_cache_async() charges the new page (mem_cgroup_swapin_charge_page: the memcg
of the slot's swap_cgroup record if it is online, else the faulting mm's) before
add_to_swap_cache(), so NR_SWAPCACHE lands in that memcg and memory.stat has ``swapcached``;
the slot's swap charge is dropped only after a successful insertion
(mem_cgroup_swapin_uncharge_swap: v1 memsw; nothing on v2), and a failed insertion is undone
by freeing the page.  Off (v5.12): add_to_swap_cache() first, then mem_cgroup_charge() of a
page that other code can already find in the swap cache (delete_from_swap_cache when the charge
fails); there is no per-memcg swapcached statistic (the node's count still backs SwapCached).
"""
from __future__ import annotations

PATCH = "swapin-charge-first"

MODEL = (
    "On (v5.13+, both profiles): a page read in from swap is charged to its memcg "
    "(mem_cgroup_swapin_charge_page: the memcg recorded for the slot, or the faulting task's "
    "when that one is gone) before it enters the swap cache, so the swap cache's NR_SWAPCACHE "
    "is counted in that memcg and memory.stat shows `swapcached`; the slot's v1 memsw charge "
    "is dropped only after the insertion succeeded (mem_cgroup_swapin_uncharge_swap), and a "
    "failed insertion is undone by freeing the page, which uncharges it. Off (v5.12): the page "
    "enters the swap cache first and is charged after, while other code can already find it "
    "there: memsim counts those uncharged insertions (the window is counted in pages: memsim's "
    "charge, and the reclaim it may do, takes no emulated time), and memory.stat has no "
    "`swapcached` key. "
    "`configs/patch-swapin-charge-first.yaml` swaps a 4 MiB working set of a task in a cgroup "
    "out and reads it back: with the change the cgroup's swapcached shows the pages read back, "
    "without it every one of them was in the swap cache uncharged for a while.")


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``swapin-charge-first``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(PATCH, MODEL, files=("/sys/fs/cgroup/job/memory.stat", "/proc/vmstat"),
                     metrics=(
                         PatchMetric("uncharged_swapins", "pages that entered the swap cache "
                                     "before they were charged to a memcg", _uncharged, "pages"),
                         PatchMetric("memcg_swapcached_peak", "the most swap-cache pages counted "
                                     "in memcgs' NR_SWAPCACHE at once (memory.stat swapcached, "
                                     "summed; 0 without the change: no such statistic)",
                                     _peak, "pages"),
                         PatchMetric("memcg_swapcached_key", "1 when memory.stat has a "
                                     "swapcached key, 0 when it has none", _has_key, ""),
                         PatchMetric("pswpin", "pages read from swap (/proc/vmstat pswpin)",
                                     _pswpin, "pages"),
                     ))


def _host(machine):
    st = machine.plugin_state.get("swap")
    return st.host if st is not None else None


def _uncharged(machine):
    h = _host(machine)
    return h.counters()["uncharged_adds"] if h is not None else 0


def _peak(machine):
    h = _host(machine)
    return h.counters()["memcg_cache_peak"] if h is not None else 0


def _has_key(machine):
    return 0 if _memcg_swapcached(machine) < 0 else 1


def _memcg_swapcached(machine):
    """The sum of ``swapcached`` over the non-root cgroups' memory.stat, -1 without the key."""
    from memsim.plugins.memcg import hierarchy
    from memsim.plugins.memcg.files import memory_stat_v1, memory_stat_v2
    h = hierarchy(machine)
    if h is None:
        return -1
    total, seen = 0, False
    for cg in h.root.descendants():
        text = memory_stat_v2(h, cg) if h.version == 2 else memory_stat_v1(h, cg)
        stat = dict(line.split(" ", 1) for line in text.splitlines())
        if "swapcached" in stat:
            seen = True
            total += int(stat["swapcached"])
    return total if seen else -1


def _pswpin(machine):
    from memsim.vmstat import ITEM_BY_NAME
    return machine.physmem.vmstat.vm_event(ITEM_BY_NAME["pswpin"][1])
