"""The ``memcg-rstat`` seed change ("mm: memcontrol: switch to rstat", v5.13) as a switch.

On (both profiles): memcg statistics are per-CPU counters aggregated by cgroup rstat -- the
updated tree, flushed bottom-up when memory.stat is read (v5.14: every read flushes the
reader's subtree, so the values are exact; v6.18: a read flushes only past
memcg_vmstats_needs_flush(), and a worker flushes every 2 s).  Off (the v5.12 code): each
update goes to a per-CPU counter that is added to the memcg and every ancestor only when it
passes the batch (32 pages, 32 pages' bytes, or 32 events), so a reader misses up to 32 pages
per CPU and cgroup of the subtree.  rstat.pyx has the three modes.
"""
from __future__ import annotations

PATCH = "memcg-rstat"

MODEL = (
    "On (v5.13+, both profiles): memcg statistics are per-CPU counters aggregated by cgroup "
    "rstat. A memcg and its ancestors are linked into each CPU's updated tree when they change, "
    "and a read of memory.stat flushes the reader's subtree bottom-up (mem_cgroup_css_rstat_flush), "
    "so under v5.14 every value it prints is exact; v6.18 flushes on a read only past "
    "memcg_vmstats_needs_flush() (64 x CPUs updates) and every 2 s, so a read can be stale, as "
    "the live kernel's probe shows. Off (v5.12): an update goes to a per-CPU counter that reaches "
    "the memcg and every ancestor only when it passes the batch of 32 (pages, 32 pages' bytes, or "
    "events), and a read prints those propagated counters: up to 32 x CPUs x (cgroups in the "
    "subtree) pages or events short. `configs/patch-memcg-rstat.yaml` is the seed's case: 32 CPUs, "
    "32 subgroups, 31 faults per subgroup and CPU; the root's memory.stat shows all 31,744 "
    "faults with the change and none of them without it, at the cost of a flush that visits the "
    "updated nodes of every CPU.")


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``memcg-rstat``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(PATCH, MODEL, files=("/sys/fs/cgroup/memory.stat",),
                     metrics=(
                         PatchMetric("stat_pgfault", "pgfault in the root's memory.stat (v2; what "
                                     "a read shows)", _shown_pgfault, "faults"),
                         PatchMetric("pgfault_missed", "page faults the root's memory.stat does not "
                                     "show (the vmstat count minus the shown one)", _missed, "faults"),
                         PatchMetric("stat_flush_nodes", "memcg nodes the statistics flushes of the "
                                     "run visited, every CPU's (what the memory.stat reads cost)",
                                     _flush_nodes, "nodes"),
                     ))


def _root_stat(machine):
    """The root memory.stat as a v2 read prints it (flushing as the profile's read does); None
    without the v2 hierarchy."""
    from memsim.plugins.memcg import hierarchy
    from memsim.plugins.memcg.files import memory_stat_v2
    h = hierarchy(machine)
    if h is None or h.version != 2:
        return None
    return dict(line.split(" ", 1) for line in memory_stat_v2(h, h.root).splitlines())


def _shown_pgfault(machine):
    stat = _root_stat(machine)
    return int(stat["pgfault"]) if stat else 0


def _missed(machine):
    from memsim.vmstat import ITEM_BY_NAME
    total = machine.physmem.vmstat.vm_event(ITEM_BY_NAME["pgfault"][1])
    return total - _shown_pgfault(machine)


def _flush_nodes(machine):
    from memsim.plugins.memcg import hierarchy
    h = hierarchy(machine)
    return h.host.stat_tree.flush_work()["nodes_visited"] if h is not None else 0


# -- objcg-kmem -------------------------------------------------------------------------------

OBJCG_PATCH = "objcg-kmem"

OBJCG_MODEL = (
    "On (v5.13+, both profiles): a __GFP_ACCOUNT page from the page allocator (a page table, "
    "a kmalloc above 8 KiB) is charged through the obj_cgroup of current's memcg, as slab "
    "objects already were: its memcg_data names the obj_cgroup (MEMCG_DATA_KMEM) and it holds "
    "a reference on that, not on the memcg. When the cgroup is removed, memcg_reparent_objcgs() "
    "hands its obj_cgroups to the parent, so the page is uncharged from the parent later and the "
    "removed memcg is freed as soon as its own pages are gone. Off (v5.12): the page's "
    "memcg_data names the memcg and holds a css reference, so every kmem page that outlives its "
    "job keeps that job's removed memcg dying, with its charge. `configs/patch-objcg-kmem.yaml` "
    "is the seed's case, a job restarted into a new cgroup again and again, each instance "
    "leaving a few kernel allocations behind: with the change no cgroup stays dying, without it "
    "every old instance does, holding its pages.")


def objcg_patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``objcg-kmem``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(OBJCG_PATCH, OBJCG_MODEL, files=("/sys/fs/cgroup/cgroup.stat",),
                     metrics=(
                         PatchMetric("dying_cgroups", "removed memory cgroups still allocated "
                                     "(the root's cgroup.stat nr_dying_descendants)",
                                     _dying_cgroups, "cgroups"),
                         PatchMetric("dying_kmem_pages", "kmem pages whose page_memcg() is a "
                                     "removed (dying) memcg", _dying_kmem_pages, "pages"),
                         PatchMetric("dying_charged_pages", "pages still charged to dying "
                                     "memcgs (their memory counters)", _dying_charged, "pages"),
                     ))


def _dying(machine):
    from memsim.plugins.memcg import hierarchy
    h = hierarchy(machine)
    if h is None:
        return []
    return [m for m in h.host.memcgs.values() if m.parent is not None and not m.online]


def _dying_cgroups(machine):
    return len(_dying(machine))


def _dying_kmem_pages(machine):
    from memsim.plugins.memcg import hierarchy
    h = hierarchy(machine)
    if h is None or h.host.kmem is None:
        return 0
    per_memcg = h.host.kmem.kmem_pages_by_memcg()
    return sum(per_memcg.get(m.id, 0) for m in _dying(machine))


def _dying_charged(machine):
    return sum(m.counter("memory")["usage"] for m in _dying(machine))
