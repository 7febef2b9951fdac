"""memcg: memory cgroups (issue 15).

The cgroup hierarchy with the memory controller as a kernfs tree mounted at /sys/fs/cgroup
(``cgroupfs``: cgroup v2, or the v1 memory hierarchy at /sys/fs/cgroup/memory), its files
(``files``), the memory cgroups with their page counters, per-CPU charge stocks and the charge
of user pages in C (``memcontrol``), the statistics engine (``rstat``): per-CPU counters
and the rstat tree flushed when memory.stat is read, and reclaim from memcgs (``reclaim``):
each memcg's lruvecs, memory.min / memory.low protection and memcg limit reclaim.
docs/architecture.md ("The memcg plugin") describes them.

Kernel memory (``objcg``): obj_cgroups, kmem pages (page tables, large kmallocs) and slab
objects charged through them, the per-CPU object stock, and reparenting at rmdir, which is the
``objcg-kmem`` seed change (``patch``).  Reclaim from a memcg's own lruvecs (``reclaim``).

Swap accounting (issue 16; the swap plugin keeps the swap_cgroup records and calls it): the
memcg_ops swap slots in ``memcontrol`` (the swap-in charge to the recorded memcg, the v2 swap
counter and memory.swap.events, the v1 memsw transfer at swap-out, the uncharge when a slot is
freed, mem_cgroup_swap_full), each memcg's private id with its references, which keep a removed
memcg with swapped-out pages dying, mem_cgroup_get_nr_swap_pages in ``reclaim``, and
memory.swap.high / memory.swap.events in ``files``.

The core meets memcg only through ``memcg_ops``, ``lruvec_ops`` and ``lruvec_stat_ops``
(memsim/physmem.pxd, memsim/vmstat.pxd), ``Vmscan.memcg`` (memsim/vmscan.pxd), the slab
allocator's ``slab_memcg_ops`` (memsim/slab.pxd) and
``TaskStruct.memcg``, which this plugin sets at fork and when a process moves (cgroup.procs).
"""
from __future__ import annotations

import weakref
from typing import Any, Optional

from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec
from memsim.profiles import ProfileTable
from memsim.registry import Param, SectionSpec

MEMSIM_PLUGIN = PluginSpec(requires=("kmem", "core_steps", "pagecache"))

#: MEMCG_CHARGE_BATCH: 32 pages in v5.14, 64 since v6.1 ("memcg: increase MEMCG_CHARGE_BATCH")
CHARGE_BATCH = ProfileTable("memcg.charge_batch", {"v5.14": 32, "v6.18": 64})
#: how memcg statistics are aggregated with the memcg-rstat change on (rstat.pxd rstat_mode):
#: v5.14 flushes the reader's subtree on every memory.stat read; v6.18 flushes only past
#: memcg_vmstats_needs_flush() and every 2 s
RSTAT_MODE = ProfileTable("memcg.rstat_mode", {"v5.14": "exact", "v6.18": "throttled"})
#: the kmem side of obj_cgroup_charge_pages(): v5.14 try-charges the v1 kmem counter (forced
#: only with __GFP_NOFAIL); v6.18 forces it and accounts MEMCG_KMEM (memcg_account_kmem(),
#: v5.18: memory.stat ``kernel``)
KMEM_ACCOUNT = ProfileTable("memcg.kmem_account", {"v5.14": "try", "v6.18": "stat"})
#: the charge paths of v6.x: NR_MEMCG_STOCK (7) memcgs per CPU stock (v6.16), try_charge_memcg()
#: forcing only __GFP_HIGH/__GFP_NOFAIL charges and failing when the OOM killer finds nobody,
#: slab objects charged after they are taken, separate page and object stock drains
V6_CHARGE = ProfileTable("memcg.v6_charge", {"v5.14": False, "v6.18": True})
#: mem_cgroup_below_min / _below_low ignore the reclaim target's own (stale) protection: v6.3's
#: "mm: memcg: fix stale protection of reclaim target memcg" (mem_cgroup_unprotected)
UNPROTECTED_TARGET = ProfileTable("memcg.unprotected_target", {"v5.14": False, "v6.18": True})


def hierarchy(machine: Any) -> Optional[Any]:
    """The machine's memory-controller hierarchy (memsim.plugins.memcg.cgroupfs.Hierarchy)."""
    return machine.plugin_state.get("memcg")


@hookimpl
def memsim_register_sections(sections):
    sections.add(SectionSpec("cgroup", "the cgroup hierarchy the memory controller is on", (
        Param("version", "int", "2: the unified hierarchy at /sys/fs/cgroup (memory.current, "
              "memory.max, ...); 1: the v1 memory controller at /sys/fs/cgroup/memory "
              "(memory.usage_in_bytes, memory.limit_in_bytes, memory.memsw.*)", default=2,
              minimum=1, maximum=2),
        Param("swap_account", "bool", "v1: account memory+swap (memory.memsw.*), as "
              "swapaccount=1", default=True),
    )))


@hookimpl
def memsim_register_patches(patches):
    """memcg-rstat and objcg-kmem (memsim.plugins.memcg.patch)."""
    from memsim.plugins.memcg.patch import patch_impl, objcg_patch_impl
    patches.add(patch_impl())
    patches.add(objcg_patch_impl())


@hookimpl(trylast=True)     # after kmem's: its events keep the live kernel's IDs
def memsim_register_events(events, profile, patch_states):
    """vmscan:mm_vmscan_memcg_reclaim_begin / _end (memsim.tracing.vmscan), around memcg
    limit reclaim; v6.18's memcg:* events (memsim.tracing.memcg; v5.14 has none)."""
    from memsim.tracing.memcg import memcg_events
    from memsim.tracing.vmscan import memcg_reclaim_events
    for decl in memcg_reclaim_events(profile.name):
        events.add(decl)
    for decl in memcg_events(profile.name):
        events.add(decl)


def trace_items():
    """The 6.18 enum value of each memcg statistic in the StatTree's order (state items, then
    VM events), for the trace events' ``item`` (memsim.tracing.memcg.item_table)."""
    from memsim.plugins.memcg.memcontrol import NR_NODE_ITEMS
    from memsim.tracing.memcg import item_table
    from memsim.vmstat import node_stat_item, vm_event_item
    nodes = [e.name for e in node_stat_item][:NR_NODE_ITEMS]
    own = ["MEMCG_SWAP", "MEMCG_SOCK", "MEMCG_PERCPU_B", "MEMCG_KMEM"]     # memcontrol.pxd's order
    events = [e.name for e in vm_event_item if e.name != "NR_VM_EVENT_ITEMS"]
    return item_table(nodes + own, events)


@hookimpl
def memsim_register_filesystems(filesystems):
    """cgroup2 and cgroup (v1)."""
    from memsim.plugins.memcg.cgroupfs import CGROUP2_FS_TYPE, CGROUP_FS_TYPE
    filesystems.add(CGROUP2_FS_TYPE)
    filesystems.add(CGROUP_FS_TYPE)


@hookimpl
def memsim_machine_created(machine, config):
    """mem_cgroup_init() / cgroup_init(): the statistics tree, the root memcg, the ops in the
    core's tables, the hierarchy mounted, and (v6.18) the 2 s statistics flush."""
    from memsim.plugins.memcg.cgroupfs import Hierarchy, MOUNT_POINT
    from memsim.plugins.memcg.memcontrol import MemcgHost, state_units
    from memsim.plugins.memcg.rstat import FLUSH_TIME_NS, StatTree
    from memsim.vmstat import VM_EVENT_NAMES
    section = getattr(config, "sections", {}).get("cgroup") if config is not None else None
    version = section["version"] if section else 2
    swap_account = section["swap_account"] if section else True
    prof = machine.profile
    mode = RSTAT_MODE[prof] if machine.patches.enabled("memcg-rstat") else "batched"
    tree = StatTree(machine.physmem.ncpus, state_units(), len(VM_EVENT_NAMES), mode,
                    charge_batch=CHARGE_BATCH[prof])
    host = MemcgHost(machine.physmem, tree, v1=version == 1, memsw=swap_account,
                     charge_batch=CHARGE_BATCH[prof], v6=V6_CHARGE[prof])
    host.install()
    host.bind_events(getattr(machine, "events", None), trace_items())
    if machine.slab is not None and not machine.slab.nokmem:    # cgroup.memory=nokmem: no kmem
        from memsim.plugins.memcg.memcontrol import MEMCG_KMEM
        from memsim.plugins.memcg.objcg import ObjcgHost
        ObjcgHost(host, machine.slab, via_objcg=machine.patches.enabled("objcg-kmem"),
                  account_kmem_stat=KMEM_ACCOUNT[prof] == "stat",
                  v1_kmem_try=KMEM_ACCOUNT[prof] == "try", memcg_kmem_item=MEMCG_KMEM,
                  v6=V6_CHARGE[prof]).install()
    from memsim.plugins.memcg.reclaim import MemcgReclaim
    reclaim = MemcgReclaim(host, machine.vmscan, unprotected_target=UNPROTECTED_TARGET[prof])
    reclaim.install()
    events = getattr(machine, "events", None)
    slots = []
    for name in ("begin", "end"):
        try:
            slots.append(events.slot_of(f"vmscan:mm_vmscan_memcg_reclaim_{name}") if events is not None else -1)
        except KeyError:
            slots.append(-1)
    machine.vmscan.set_memcg_reclaim_events(*slots)
    h = Hierarchy(machine, host, version, prof, reclaim)
    machine.plugin_state["memcg"] = h
    _MACHINES.add(machine)
    from memsim.plugins.memcg.oom import mem_cgroup_oom
    host.oom = lambda memcg, gfp, order: mem_cgroup_oom(machine, memcg, gfp, order)
    host.oom_recover = h.oom_recover
    machine.add_pagefault_oom(h.oom_synchronize)
    target = MOUNT_POINT[version]
    machine.sysfs.mkdir(target.removeprefix("/sys/"), 0o755)
    machine.vfs.do_mount("cgroup2" if version == 2 else "cgroup", target,
                         "cgroup2" if version == 2 else "cgroup", "" if version == 2 else "memory")
    if mode == "throttled":
        def flush_memcg_stats_dwork(now_ns: int) -> None:
            """The 2 s flush runs in a kworker, not in whichever task reached the preemption
            point: its memcg_flush_stats record is the idle task's (pid 0)."""
            prev = machine.current.task
            machine.set_current(None)
            try:
                tree.periodic_flush(now_ns)
            finally:
                machine.set_current(prev)
        machine.add_periodic(FLUSH_TIME_NS, flush_memcg_stats_dwork)
    machine.add_resume_work(host.handle_over_high)


@hookimpl
def memsim_task_fork(parent, child):
    for h in _hierarchies(child):
        h.fork(parent, child)


@hookimpl
def memsim_task_exit(task):
    for h in _hierarchies(task):
        h.exit(task)


#: the machines this plugin set up (the task hooks are not told which machine a task is on)
_MACHINES: "weakref.WeakSet" = weakref.WeakSet()


def _hierarchies(task):
    out = []
    for machine in list(_MACHINES):
        h = hierarchy(machine)
        if h is not None and machine.tasks.get(task.pid) is task:
            out.append(h)
    return out


@hookimpl
def memsim_check_invariants(machine, full):
    """--check: every charged user page names a live memcg; a memcg's memory counter holds its
    charged user and kmem pages plus its CPUs' stocks plus its children's counters (cgroup v2)."""
    from memsim.plugins.memcg.check import check
    h = hierarchy(machine)
    return check(h, full) if h is not None else []
