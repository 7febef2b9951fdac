"""kswapd: the per-node reclaim thread (kswapd(), kswapd_try_to_sleep() and balance_pgdat() of
mm/vmscan.c) as a kernel-thread task of the deterministic scheduler (memsim.sched).

Each node has one, ``kswapd<nid>``, started asleep on the node's ``kswapd_wait`` queue, as a
booted kernel's kswapd is.  The allocator's slow path wakes it (wakeup_kswapd, in C: memsim.vmscan)
when an allocation misses the low watermark; the scheduler then runs it at preemption points like
any other task, so its reclaim interleaves with the allocating tasks, and the same seed gives the
same interleaving.  balance_pgdat yields after each priority pass.  A kswapd that is never woken
never runs and is in no trace line.

What the body does is policy and runs once per wake-up or per priority pass (never per page);
the per-page work is Vmscan's C code.
"""
from __future__ import annotations

from typing import Generator, List

from memsim.sched import PREEMPT, WaitQueue, WaitTimeout
from memsim.task import TaskStruct

#: kswapd0's pid on the live 6.18 VM this was modelled on (after oom_reaper 35, kcompactd0 37);
#: kswapd<n> takes KSWAPD_PID + n.  User tasks start at 1000 (memsim.machine.FIRST_PID).
KSWAPD_PID = 47
MAX_NR_ZONES = 4
#: kswapd_try_to_sleep()'s short nap: schedule_timeout(HZ/10)
KSWAPD_NAP_NS = 100_000_000


def kswapd_cpu(nr_nodes: int, ncpus: int, nid: int) -> int:
    """The first CPU of node ``nid`` (memsim puts CPU c on node c * nr_nodes // ncpus); a node
    without CPUs lets its kswapd run on CPU 0."""
    for c in range(ncpus):
        if c * nr_nodes // ncpus == nid:
            return c
    return 0


def start_kswapds(machine, scheduler) -> List[TaskStruct]:
    """kswapd_run() for every node: a ``kswapd<nid>`` kernel thread (no mm), asleep on the node's
    kswapd_wait, added to ``scheduler`` as a daemon.  Its comm is registered for the trace when
    it first runs."""
    out = []
    pm = machine.physmem
    for nid in range(pm.nr_nodes):
        task = TaskStruct(KSWAPD_PID + nid, f"kswapd{nid}", kswapd_cpu(pm.nr_nodes, pm.ncpus, nid),
                          None, -1, f"kswapd{nid}")
        wq = WaitQueue(f"kswapd_wait{nid}")
        machine.vmscan.start_kswapd(nid, wq)
        scheduler.add(task, kswapd(machine, nid, wq), daemon=True, blocked_on=wq)
        out.append(task)
    machine.kswapds = out
    return out


def kswapd(machine, nid: int, wq: WaitQueue) -> Generator:
    """kswapd(): from its boot-time sleep in kswapd_try_to_sleep's schedule(), forever: read and
    reset the order and highest zone asked for, ``mm_vmscan_kswapd_wake``, balance_pgdat; go back
    to kswapd_try_to_sleep, straight away when it reclaimed for a lower order than asked."""
    v = machine.vmscan
    task = machine.current.task
    machine.comms.setdefault(task.pid, task.comm)
    v.set_kswapd_waiting(nid, False)                # finish_wait() after the boot-time sleep
    highest = MAX_NR_ZONES - 1
    alloc_order = reclaim_order = 0
    woken = True
    while True:
        if not woken:
            alloc_order = reclaim_order = v.kswapd_state(nid)[0]
            highest = _kswapd_highest_zoneidx(v, nid, highest)
        while True:                                 # kswapd_try_sleep:
            if woken:
                woken = False
            else:
                yield from kswapd_try_to_sleep(machine, nid, wq, alloc_order, reclaim_order, highest)
            alloc_order, highest = v.kswapd_take_request(nid, highest)
            v.trace_kswapd_wake(nid, highest, alloc_order)
            reclaim_order = yield from balance_pgdat(machine, nid, alloc_order, highest)
            if reclaim_order >= alloc_order:
                break


def _kswapd_highest_zoneidx(v, nid: int, prev: int) -> int:
    """kswapd_highest_zoneidx(): the highest zone asked for, ``prev`` when none was."""
    cur = v.kswapd_state(nid)[1]
    return prev if cur == MAX_NR_ZONES else cur


def kswapd_try_to_sleep(machine, nid: int, wq: WaitQueue, alloc_order: int, reclaim_order: int,
                        highest: int) -> Generator:
    """kswapd_try_to_sleep(): on kswapd_wait (prepare_to_wait), a short nap (HZ/10) when the node
    is balanced (prepare_kswapd_sleep); woken during it, keep what was asked and go back to work
    (kswapd_low_wmark_hit_quickly); after it, if still balanced, ``mm_vmscan_kswapd_sleep`` and
    sleep until woken, else kswapd_high_wmark_hit_quickly.  kcompactd is not modelled."""
    v = machine.vmscan
    v.set_kswapd_waiting(nid, True)                 # prepare_to_wait()
    remaining = False
    if v.prepare_kswapd_sleep(nid, reclaim_order, highest):
        nap = WaitTimeout(wq, machine.clock.now + KSWAPD_NAP_NS)
        yield nap
        remaining = nap.woken
        if remaining:
            v.kswapd_premature_wake(nid, _kswapd_highest_zoneidx(v, nid, highest), reclaim_order)
        v.set_kswapd_waiting(nid, True)             # finish_wait(); prepare_to_wait()
    if not remaining and v.prepare_kswapd_sleep(nid, reclaim_order, highest):
        v.trace_kswapd_sleep(nid)
        yield wq                                    # schedule()
    else:
        v.count_wmark_hit_quickly(remaining)
    v.set_kswapd_waiting(nid, False)                # finish_wait()


def balance_pgdat(machine, nid: int, order: int, highest: int) -> Generator:
    """balance_pgdat(): pageoutrun, then priority passes from DEF_PRIORITY (each one a
    kswapd_shrink_node, a preemption point after it) until the node's eligible zones meet their
    high watermark or the priority runs out.  Returns the order it reclaimed for."""
    v = machine.vmscan
    v.balance_pgdat_begin(nid, order, highest)
    while not v.balance_pgdat_step(nid, highest):
        yield PREEMPT
    return v.balance_pgdat_end(nid)[0]
