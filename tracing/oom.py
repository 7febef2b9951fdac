"""The oom trace events (include/trace/events/oom.h) of the v5.14 and v6.18 profiles.

v6.18 declarations reproduce the format files of the live 6.18 kernel
(/sys/kernel/tracing/events/oom/*/format, kept in ``catalog/v6.18/oom``) byte for byte apart
from ``ID:`` (tests/tracing/test_oom_events.py).  v5.14 follows the 5.14 oom.h: mark_victim
records only ``pid`` (its comm, rss, uid, pgtables and oom_score_adj fields came with 6.8's
"mm: oom: add more information to mark_victim"), and ``char`` fields are ``signed:1`` (the kernel
builds with -funsigned-char since 6.2).  The other events have the same fields in both.

The list is in the order the 6.18 kernel numbers its oom events (oom_score_adj_update 611 is
last, compact_retry 604 first).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import ProfileTable
from memsim.tracing.events import EventDecl, layout_fields

U, S = False, True

#: mark_victim records its task's comm, mm and oom_score_adj (v6.8+), or only the pid
_MARK_VICTIM_FULL: ProfileTable[bool] = ProfileTable("tracing.oom mark_victim fields",
                                                     {"v5.14": False, "v6.18": True})
_CHAR_SIGNED: ProfileTable[bool] = ProfileTable("tracing.oom char signedness",
                                                {"v5.14": True, "v6.18": False})

#: the core's C event slot of oom:reclaim_retry_zone (memsim/ring.pxd EV_RECLAIM_RETRY_ZONE),
#: emitted by PhysMem.should_reclaim_retry in the allocator's retry loop
RECLAIM_RETRY_ZONE_SLOT = 25
_ZONE_TYPE = '{0, "DMA"}, {1, "DMA32"}, {2, "Normal"}, {3, "Movable"}'
_COMPACT_PRIO = ('{0, "COMPACT_PRIO_SYNC_FULL"}, {1, "COMPACT_PRIO_SYNC_LIGHT"}, '
                 '{2, "COMPACT_PRIO_ASYNC"}')
_COMPACT_FEEDBACK = '{1, "failed"}, {2, "withdrawn"}, {3, "progress"}'


def _pid_event(name: str, doc: str) -> EventDecl:
    return EventDecl("oom", name, layout_fields([("int", "pid", 4, S)]), '"pid=%d", REC->pid',
                     plugin="kmem", doc=doc)


def oom_events(profile: str) -> List[EventDecl]:
    """The oom events of ``profile`` ("v5.14" or "v6.18"), in the kernel's ID order."""
    char_signed = _CHAR_SIGNED[profile]
    compact_retry = EventDecl(
        "oom", "compact_retry",
        layout_fields([("int", "order", 4, S), ("int", "priority", 4, S), ("int", "result", 4, S),
                       ("int", "retries", 4, S), ("int", "max_retries", 4, S), ("bool", "ret", 1, U)]),
        '"order=%d priority=%s compaction_result=%s retries=%d max_retries=%d should_retry=%d", '
        f'REC->order, __print_symbolic(REC->priority, {_COMPACT_PRIO}), '
        f'__print_symbolic(REC->result, {_COMPACT_FEEDBACK}), REC->retries, REC->max_retries, REC->ret',
        plugin="kmem", doc="should_compact_retry(): whether the slow path retries compaction "
                           "(declared; memsim has no compaction yet, so it is not emitted).")
    skip = _pid_event("skip_task_reaping", "oom_reap_task_mm(): the victim's mm is already reaped "
                                           "or torn down (MMF_OOM_SKIP).")
    start = _pid_event("start_task_reaping", "oom_reap_task_mm(): the OOM reaper starts on the victim.")
    finish = _pid_event("finish_task_reaping", "oom_reap_task_mm(): the OOM reaper unmapped the "
                                               "victim's private memory.")
    wake = _pid_event("wake_reaper", "wake_oom_reaper(): the victim is queued for the OOM reaper.")
    if _MARK_VICTIM_FULL[profile]:
        mark = EventDecl(
            "oom", "mark_victim",
            layout_fields([("int", "pid", 4, S), ("__data_loc char[]", "comm", 4, char_signed),
                           ("unsigned long", "total_vm", 8, U), ("unsigned long", "anon_rss", 8, U),
                           ("unsigned long", "file_rss", 8, U), ("unsigned long", "shmem_rss", 8, U),
                           ("uid_t", "uid", 4, U), ("unsigned long", "pgtables", 8, U),
                           ("short", "oom_score_adj", 2, S)]),
            '"pid=%d comm=%s total-vm=%lukB anon-rss=%lukB file-rss:%lukB shmem-rss:%lukB uid=%u '
            'pgtables=%lukB oom_score_adj=%hd", REC->pid, __get_str(comm), REC->total_vm, '
            'REC->anon_rss, REC->file_rss, REC->shmem_rss, REC->uid, REC->pgtables, REC->oom_score_adj',
            plugin="kmem", doc="mark_oom_victim(): the task is an OOM victim (sizes in kB).")
    else:
        mark = _pid_event("mark_victim", "mark_oom_victim(): the task is an OOM victim.")
    retry_zone = EventDecl(
        "oom", "reclaim_retry_zone",
        layout_fields([("int", "node", 4, S), ("int", "zone_idx", 4, S), ("int", "order", 4, S),
                       ("unsigned long", "reclaimable", 8, U), ("unsigned long", "available", 8, U),
                       ("unsigned long", "min_wmark", 8, U), ("int", "no_progress_loops", 4, S),
                       ("bool", "wmark_check", 1, U)]),
        '"node=%d zone=%-8s order=%d reclaimable=%lu available=%lu min_wmark=%lu '
        'no_progress_loops=%d wmark_check=%d", REC->node, '
        f'__print_symbolic(REC->zone_idx, {_ZONE_TYPE}), REC->order, REC->reclaimable, '
        'REC->available, REC->min_wmark, REC->no_progress_loops, REC->wmark_check',
        core_slot=RECLAIM_RETRY_ZONE_SLOT, plugin="kmem",
        doc="should_reclaim_retry(): one zone's check after direct reclaim.")
    adj = EventDecl(
        "oom", "oom_score_adj_update",
        layout_fields([("pid_t", "pid", 4, S), ("char[16]", "comm", 16, char_signed),
                       ("short", "oom_score_adj", 2, S)]),
        '"pid=%d comm=%s oom_score_adj=%hd", REC->pid, REC->comm, REC->oom_score_adj',
        plugin="kmem", doc="__set_oom_adj(): a write to /proc/PID/oom_score_adj (or oom_adj).")
    return [compact_retry, skip, start, finish, wake, mark, retry_zone, adj]
