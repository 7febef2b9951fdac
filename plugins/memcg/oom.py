"""The memory cgroup OOM killer: out_of_memory() with ``oc->memcg`` set (mm/oom_kill.c,
mm/memcontrol.c mem_cgroup_out_of_memory).

The candidates are the processes of the memcg over its limit and of its descendants
(mem_cgroup_scan_tasks), scored by oom_badness against ``totalpages`` = mem_cgroup_get_max();
the victim is killed as a global OOM's is (SIGKILL, the reaper), and its memcg and every
ancestor count ``oom_kill`` in memory.events.  No victim: v5.14 forces the charge (OOM_FAILED),
v6.x fails it.  A memory.oom.group 1 on the victim's memcg or an ancestor within the OOM's
domain kills every process of that group too (oom_kill_memcg_member; memory.events
``oom_group_kill``).  A v1 memcg with oom_kill_disable kills nobody: its user faults wait
(cgroupfs.Hierarchy.oom_synchronize) until memcg_oom_recover() wakes them.
"""
from __future__ import annotations

from typing import Any

from memsim.oom import LONG_MIN, _find_lock_task_mm, _processes, oom_badness


def _in_subtree(task: Any, memcg: Any) -> bool:
    from memsim.plugins.memcg.memcontrol import is_descendant
    return task.memcg is not None and is_descendant(task.memcg, memcg)


def mem_cgroup_oom(machine: Any, memcg: Any, gfp: int, order: int) -> int:
    """mem_cgroup_oom() past the OOM event: with v1's oom_kill_disable (memcg1_oom_prepare)
    nobody is killed -- a user fault notes the memcg on the task (current->memcg_in_oom) and
    will wait in mem_cgroup_oom_synchronize() once the fault failed -- and the charge fails
    (-1); else mem_cgroup_out_of_memory(): 1 killed (or a victim is still dying), 0 none."""
    from memsim.plugins.memcg import hierarchy
    from memsim.plugins.memcg.v1files import knobs
    h = hierarchy(machine)
    cg = memcg.cgroup
    if h is not None and h.version == 1 and cg is not None and knobs(cg).oom_kill_disable:
        cur = machine.current.task
        if cur is not None and machine.mmcore.in_user_fault:
            h.memcg_in_oom[cur.pid] = memcg
        return -1
    return 1 if memcg_out_of_memory(machine, memcg, gfp, order) else 0


def memcg_out_of_memory(machine: Any, memcg: Any, gfp: int, order: int) -> bool:
    """mem_cgroup_out_of_memory(): True when a victim was killed or one is still dying (the
    charge retries), False when nothing in the memcg can be killed."""
    from memsim.plugins.memcg.memcontrol import MEMORY_EVENT_NAMES, PAGE_COUNTER_MAX_PAGES
    killer = machine.oom
    cur = machine.current.task
    if cur is not None and killer.task_will_free_mem(cur):     # out_of_memory()'s shortcut
        killer.mark_oom_victim(cur)
        killer.queue_oom_reaper(cur)
        return True
    total = min(memcg.counter("memory")["max"], PAGE_COUNTER_MAX_PAGES)
    chosen, chosen_points = None, LONG_MIN
    for group in _processes(machine):
        leader = group[0]
        if not any(_in_subtree(t, memcg) for t in group):
            continue
        if any(t.oom_victim for t in group):
            t = _find_lock_task_mm(group)
            if t is None or t.mm.seq in killer.oom_skip:
                continue
            return True                 # oom_evaluate_task(): a victim is on its way out
        points = oom_badness(machine, leader, total, killer.oom_skip)
        if points is None or points < chosen_points:
            continue
        chosen, chosen_points = leader, points
    if chosen is None:
        return False
    oom_group = mem_cgroup_get_oom_group(machine, chosen, memcg)
    _kill(machine, memcg, chosen, chosen_points, gfp, order)
    if oom_group is not None:           # kill every task of the group (oom_kill_memcg_member)
        memcg.host.memory_event_py(oom_group, MEMORY_EVENT_NAMES.index("oom_group_kill"))
        for group in _processes(machine):
            leader = group[0]
            if leader is chosen or not any(_in_subtree(t, oom_group) for t in group):
                continue
            if leader.oom_score_adj == -1000 or any(t.sigkill_pending for t in group):
                continue
            _kill(machine, memcg, leader, 0, gfp, order)
    return True


def _kill(machine: Any, memcg: Any, task: Any, points: int, gfp: int, order: int) -> None:
    """__oom_kill_process(), with memcg_memory_event_mm(mm, MEMCG_OOM_KILL)."""
    from memsim.plugins.memcg.memcontrol import MEMORY_EVENT_NAMES
    victim_memcg = task.memcg
    machine.oom.oom_kill_process(task, points, gfp, order)
    if victim_memcg is not None:
        memcg.host.memory_event_py(victim_memcg, MEMORY_EVENT_NAMES.index("oom_kill"))


def mem_cgroup_get_oom_group(machine: Any, victim: Any, oom_domain: Any) -> Any:
    """mem_cgroup_get_oom_group() (cgroup v2 only): the highest memcg from the victim's up to
    the OOM's domain whose cgroup has memory.oom.group 1, or None."""
    from memsim.plugins.memcg import hierarchy
    from memsim.plugins.memcg.memcontrol import is_descendant
    h = hierarchy(machine)
    memcg = victim.memcg
    if h is None or h.version != 2 or memcg is None or memcg.parent is None:
        return None
    if not is_descendant(memcg, oom_domain):
        return None
    group = None
    while memcg is not None:
        cg = memcg.cgroup
        if cg is not None and getattr(cg, "oom_group", False):
            group = memcg
        if memcg is oom_domain:
            break
        memcg = memcg.parent
    return group
