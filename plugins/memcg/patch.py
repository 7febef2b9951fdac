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
