"""The ``hugetlb-resize-mutex`` seed change ("hugetlb: add per-hstate mutex to synchronize user
adjustments", v5.13) as a switch.

On (every kernel from v5.13, both profiles' default): set_max_huge_pages() holds the hstate's
``resize_lock`` (a :class:`memsim.sched.Mutex`) for the whole resize, and so does v6.18's
demote.  Off: no mutex, so two writers of nr_hugepages files of one hstate run their resize
loops at once, each dropping hugetlb_lock (a preemption point) before every page, and each
reading the shared ``next_nid_to_alloc`` cursor without the lock (memsim.plugins.hugetlb.resize).
"""
from __future__ import annotations

from typing import Any

PATCH = "hugetlb-resize-mutex"

MODEL = (
    "On (v5.13 and later, the default of both profiles): every write to an `nr_hugepages` file "
    "(`/proc/sys/vm/nr_hugepages*`, `/sys/kernel/mm/hugepages/hugepages-*kB/nr_hugepages*`, the "
    "per-node `nr_hugepages`) runs set_max_huge_pages() under the hstate's `resize_lock`, a "
    "sleeping mutex with an owner and a FIFO wait queue (`memsim.sched.Mutex`); a second writer "
    "of the same hstate sleeps until the first returns, writers of different hstates do not. "
    "The resize itself yields to the scheduler where the kernel drops hugetlb_lock: before each "
    "page it allocates (cond_resched) and after each page it frees. alloc_pool_huge_page() reads "
    "the round-robin cursor `next_nid_to_alloc` without the lock, twice (the test that its node is "
    "allowed, then the use), with a preemption point between the two loads. "
    "Off (v5.12): no mutex. Two writers on different CPUs interleave page by page: a node-specific "
    "write computes its global target from counts another resize is changing, and one writer can "
    "move the cursor between the other's two loads, so a page is allocated on a node the writer "
    "did not allow. `configs/patch-hugetlb-resize-mutex.yaml` has two tasks write 4 to node 0's "
    "and node 1's `nr_hugepages` at once; with the change on every seed ends with 4 pages on each "
    "node, with it off some seeds do not: `memsim sweep configs/patch-hugetlb-resize-mutex.yaml --seeds "
    "0-999 --patch hugetlb-resize-mutex=on,off` gives 1,000 of 1,000 seeds passing with the change "
    "and 2 of 1,000 without it (998 end with another split; in 695 of them a page went to a node "
    "outside its writer's mask, the `alloc_outside_mask` metric), under v5.14 and v6.18 alike.")


def _node_pages(nid: int):
    def compute(machine: Any) -> int:
        hg = machine.plugin_state.get("hugetlb")
        if hg is None or nid >= hg.nr_nodes:
            return 0
        return int(hg.default_hstate.node_counts(nid)[0])
    return compute


def _outside_mask(machine: Any) -> int:
    hg = machine.plugin_state.get("hugetlb")
    return int(hg.stats.get("alloc_outside_mask", 0)) if hg is not None else 0


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``hugetlb-resize-mutex``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(PATCH, MODEL, files=("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
                                          "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages",
                                          "/proc/meminfo"),
                     metrics=(
                         PatchMetric("node0_hugepages", "huge pages of the default size on node 0",
                                     _node_pages(0), "pages"),
                         PatchMetric("node1_hugepages", "huge pages of the default size on node 1",
                                     _node_pages(1), "pages"),
                         PatchMetric("alloc_outside_mask", "pool pages allocated on a node outside the "
                                     "writer's allowed nodes", _outside_mask, "pages"),
                     ))


def enabled(machine: Any) -> bool:
    patches = getattr(machine, "patches", None)
    return patches is None or patches.enabled(PATCH)


CONTIG = "hugetlb-contig-dissolve"

CONTIG_MODEL = (
    "On (v5.14 and later, the default of both profiles): alloc_contig_range's scan hands every "
    "hugetlb page it meets to the plugin (`hugetlb_page_ops.isolate_or_dissolve_huge_page`). A free "
    "one is replaced: a fresh page from the buddy allocator on the same node (`__GFP_THISNODE`: "
    "no fallback, and never from the isolated range), which takes the old page's place at the "
    "head of the node's free list, while the old one is dissolved into free buddy pages inside "
    "the range, so the range allocation goes on and the pool's counters do not change. If the old "
    "page's last reference is gone but its free_huge_page has not yet put it on a free list (the "
    "free runs as task work of the task that dropped it, so another task can see it), the "
    "replacement reschedules and retries with the page it already has. An in-use page is isolated "
    "for migration if it is Migratable; a gigantic page is refused with ENOMEM (its replacement "
    "would need alloc_contig_range itself). Off (v5.13): the scanner skips hugetlb pages as pages "
    "not on an LRU list, so a range holding any huge page, free or not, fails with EBUSY. "
    "`configs/patch-hugetlb-contig-dissolve.yaml` takes 64 MiB of a node whose free huge pages "
    "sit in that range: it succeeds with the change and fails with EBUSY without it, the pool "
    "the same size either way.")


def _contig_stat(key: str):
    def compute(machine: Any) -> int:
        hg = machine.plugin_state.get("hugetlb")
        return int(hg.contig.stats.get(key, 0)) if hg is not None and hg.contig is not None else 0
    return compute


def _pool(field: str):
    def compute(machine: Any) -> int:
        hg = machine.plugin_state.get("hugetlb")
        return int(getattr(hg.default_hstate, field)) if hg is not None else 0
    return compute


def contig_patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``hugetlb-contig-dissolve``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(CONTIG, CONTIG_MODEL, files=("/proc/meminfo", "/proc/vmstat"),
                     metrics=(
                         PatchMetric("hugepages_replaced", "free huge pages replaced by a fresh one "
                                     "(alloc_and_dissolve_huge_page)", _contig_stat("replaced"), "pages"),
                         PatchMetric("replace_retries", "retries of a replacement that met a free in "
                                     "flight", _contig_stat("retries"), "retries"),
                         PatchMetric("hugepages_total", "HugePages_Total at the end", _pool("nr_huge_pages"),
                                     "pages"),
                         PatchMetric("hugepages_free", "HugePages_Free at the end", _pool("free_huge_pages"),
                                     "pages"),
                     ))


def contig_enabled(machine: Any) -> bool:
    patches = getattr(machine, "patches", None)
    return patches is None or patches.enabled(CONTIG)
