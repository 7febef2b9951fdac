"""The OOM killer (mm/oom_kill.c): what the allocator does when memory runs out.

:class:`memsim.physmem.PhysMem` calls :meth:`OomKiller.out_of_memory` from the end of its slow
path (``__alloc_pages_may_oom``, through the ``oom_ops`` slot) when an allocation that may sleep
failed both watermark passes.  Direct reclaim, when it exists, runs before that call; today
nothing is reclaimed, so memory that is gone stays gone until a task dies.

What happens, as in the kernel:

1. ``out_of_memory()``: if current already has SIGKILL pending (it is a victim, or was killed),
   it is marked a victim again and may use the reserves (``task_will_free_mem``); an
   allocation without ``__GFP_FS`` kills nothing;
2. ``select_bad_process()``: every process in pid order (``for_each_process``), scored by
   :func:`oom_badness` (rss + swap entries + page-table pages, plus ``oom_score_adj`` x
   totalpages / 1000; -1000 = never); the highest score wins, a later process winning a tie; a
   process that is already a victim and not yet reaped aborts the selection (progress: its
   memory is on its way);
3. ``oom_kill_process()`` / ``__oom_kill_process()``: the ``oom_kill`` vmstat event, SIGKILL to
   the victim's thread group (``TaskStruct.sigkill_pending``), ``mark_oom_victim()``
   (``oom:mark_victim``), ``queue_oom_reaper()`` / ``wake_oom_reaper()`` (``oom:wake_reaper``);
4. the OOM reaper (``oom_reap_task_mm()`` / ``__oom_reap_task_mm()``): ``oom:start_task_reaping``,
   every private or anonymous VMA unmapped (not hugetlb, not VM_PFNMAP; v5.14 also skips
   VM_LOCKED ones: ``can_madv_lru_vma()``), ``oom:finish_task_reaping``, then MMF_OOM_SKIP (the
   mm is not chosen again).  memsim has one thread of execution, so the reaper runs at once,
   inside the allocation, when the victim is not the running task; on v6.18 the kernel's reaper
   waits 2 s (OOM_REAPER_DELAY) and finds the victim gone, so memsim frees the memory at once
   as the victim's exit would, with no reaper events (:data:`OOM_REAPER_DELAYED`); a victim that
   is current is left to die by its SIGKILL;
5. the allocation is retried; current, if it is a victim, with the reserves (ALLOC_OOM).

The runner delivers the SIGKILL (``Run`` checks ``sigkill_pending`` after every step and at
every preemption point): the task's body stops, its thread group exits killed by SIGKILL, its mm
is torn down (``exit_mmap``), and the summary shows ``killed_by: SIGKILL``.

**No victim.**  When every process is unkillable (oom_score_adj -1000, or no process with an mm)
the kernel prints "Out of memory and no killable processes..." and panics ("System is deadlocked
on memory").  memsim stops the run with :class:`memsim.errors.OutOfMemoryPanic`: status
``error``, exit code 2, a message that says which allocation failed and how to fix the workload.

``/proc/PID/oom_score`` (:func:`oom_score`) and ``/proc/PID/oom_score_adj``
(:func:`set_oom_score_adj`, ``__set_oom_adj``) are the files over this state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from memsim.profiles import ProfileTable

__all__ = [
    "OOM_SCORE_ADJ_MIN", "OOM_SCORE_ADJ_MAX", "OomKiller", "OomKill", "oom_badness",
    "oom_score", "oom_score_points", "set_oom_score_adj", "install_proc_pid_files",
]

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
PAGE_SIZE = 4096
GFP_FS = 0x80
GFP_THISNODE = 0x200000
LONG_MIN = -(1 << 63)

VM_LOCKED = 0x2000
VM_SHARED = 0x8
VM_PFNMAP = 0x400
VM_HUGETLB = 0x400000

#: VM_* flags of the VMAs __oom_reap_task_mm() leaves alone: v5.14 asks can_madv_lru_vma()
#: (VM_LOCKED | VM_HUGETLB | VM_PFNMAP); v6.1+ reaps mlocked VMAs too ("mm: oom_kill: reap
#: mlocked VMAs": VM_HUGETLB | VM_PFNMAP).
OOM_REAP_SKIP: ProfileTable[int] = ProfileTable("memsim.oom reaper's skipped VMAs", {
    "v5.14": VM_LOCKED | VM_HUGETLB | VM_PFNMAP,
    "v6.18": VM_HUGETLB | VM_PFNMAP,
})


#: OOM_REAPER_DELAY: v5.18+ queue the victim for the reaper on a 2 s timer (queue_oom_reaper,
#: "delay the OOM reaper to allow time for proper futex cleanup"); the timer finds a victim that
#: exited by itself (MMF_OOM_SKIP) and does nothing, no oom:wake_reaper.  v5.14 wakes the reaper
#: at once (wake_oom_reaper: oom:wake_reaper, then the reaper's start/finish_task_reaping).
OOM_REAPER_DELAYED: ProfileTable[bool] = ProfileTable("memsim.oom reaper delay", {
    "v5.14": False,
    "v6.18": True,
})


@dataclass
class OomKill:
    """One OOM kill, as the kernel logs it ("Out of memory: Killed process ...")."""

    pid: int
    comm: str
    points: int
    oom_score_adj: int
    total_vm_kb: int
    anon_rss_kb: int
    file_rss_kb: int
    shmem_rss_kb: int
    pgtables_kb: int
    #: the allocation that invoked the killer: gfp mask and order, and the task allocating
    gfp: int
    order: int
    by_pid: int
    mm_seq: int = 0
    #: its memory was unmapped at once (the reaper, or on v6.18 the exit it stands for)
    reaped: bool = False

    def message(self) -> str:
        """__oom_kill_process()'s pr_err line (UID 0: memsim's tasks run as root)."""
        return (f"Out of memory: Killed process {self.pid} ({self.comm}) total-vm:{self.total_vm_kb}kB, "
                f"anon-rss:{self.anon_rss_kb}kB, file-rss:{self.file_rss_kb}kB, "
                f"shmem-rss:{self.shmem_rss_kb}kB, UID:0 pgtables:{self.pgtables_kb}kB "
                f"oom_score_adj:{self.oom_score_adj}")

    def as_dict(self) -> Dict[str, object]:
        return {"pid": self.pid, "comm": self.comm, "points": self.points,
                "oom_score_adj": self.oom_score_adj, "anon_rss_kb": self.anon_rss_kb,
                "file_rss_kb": self.file_rss_kb, "shmem_rss_kb": self.shmem_rss_kb,
                "pgtables_kb": self.pgtables_kb, "gfp": f"{self.gfp:#x}", "order": self.order,
                "invoked_by": self.by_pid, "reaped": self.reaped}


def _processes(machine) -> List[list]:
    """for_each_process(): each thread group's tasks (leader first), by the leader's pid."""
    groups: Dict[int, list] = {}
    for t in sorted(machine.tasks.values(), key=lambda t: t.pid):
        groups.setdefault(t.tgid, []).append(t)
    return [groups[k] for k in sorted(groups)]


def _find_lock_task_mm(group) -> Optional[object]:
    """find_lock_task_mm(): a thread of the group that still has its mm."""
    for t in group:
        if t.mm is not None:
            return t
    return None


def _counters(machine, task) -> Dict[str, int]:
    return machine.rss_counter(task)


def totalpages(machine) -> int:
    """constrained_alloc() without a constraint: totalram_pages() + total_swap_pages."""
    from memsim.mmstat import total_swap_pages, totalram_pages
    return totalram_pages(machine) + total_swap_pages(machine)


def oom_badness(machine, task, total: int, oom_skip: Set[int] = frozenset()) -> Optional[int]:
    """oom_badness(): the task's mm's rss (get_mm_rss: file + anon + shmem) plus its swap
    entries plus its page-table pages, plus ``oom_score_adj * (totalpages / 1000)``; None (the
    kernel's LONG_MIN) for a task without an mm, with oom_score_adj -1000 or whose mm the reaper
    is done with (MMF_OOM_SKIP)."""
    t = _find_lock_task_mm([x for x in machine.thread_group(task)])
    if t is None:
        return None
    adj = t.oom_score_adj
    mm = t.mm
    if adj == OOM_SCORE_ADJ_MIN or mm.seq in oom_skip:
        return None
    c = _counters(machine, t)
    points = (c["MM_FILEPAGES"] + c["MM_ANONPAGES"] + c["MM_SHMEMPAGES"] + c["MM_SWAPENTS"]
              + mm.pgtables_bytes // PAGE_SIZE)
    return points + adj * (total // 1000)


def oom_score(machine, task, oom_skip: Set[int] = frozenset()) -> int:
    """proc_oom_score(): /proc/PID/oom_score, the badness scaled to 0..2000 —
    ``(1000 + badness * 1000 / totalpages) * 2 / 3`` in C's integer arithmetic; 0 for an
    unkillable task."""
    total = totalpages(machine)
    return oom_score_points(oom_badness(machine, task, total, oom_skip), total)


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def oom_score_points(badness: Optional[int], total: int) -> int:
    """proc_oom_score()'s arithmetic: 0 for LONG_MIN (None), else
    ``(1000 + badness * 1000 / (long)totalpages) * 2 / 3`` printed with %lu."""
    if badness is None or total == 0:
        return 0
    return _cdiv((1000 + _cdiv(badness * 1000, total)) * 2, 3) % (1 << 64)


def set_oom_score_adj(machine, task, value: int) -> None:
    """__set_oom_adj() of a write to /proc/PID/oom_score_adj: every thread of the process (one
    signal_struct) takes ``value`` (already checked to be in -1000..1000), then
    ``oom:oom_score_adj_update`` is recorded for ``task``.  (Lowering it below
    oom_score_adj_min needs CAP_SYS_RESOURCE: memsim's tasks run as root.)"""
    for t in machine.thread_group(task):
        t.oom_score_adj = value
    _emit(machine, "oom:oom_score_adj_update", pid=task.pid, comm=task.comm,
          oom_score_adj=value)


def _emit(machine, name: str, **values) -> None:
    events = machine.events
    if events is None or not events.is_enabled(name):
        return
    names = {f.name for f in events.get(name).fields}     # v5.14's mark_victim has only pid
    cur = machine.current
    events.emit(machine.tb, cur.cpu, cur.pid, name, **{k: v for k, v in values.items() if k in names})


@dataclass
class OomKiller:
    """The machine's OOM killer: the state mm/oom_kill.c keeps (the mms the reaper is done
    with: MMF_OOM_SKIP; those queued for it: MMF_OOM_REAP_QUEUED) and the kills so far."""

    machine: object
    #: vm.panic_on_oom (0, 1: panic unless the OOM is constrained, 2: always) and
    #: vm.oom_kill_allocating_task (kill the task that allocates instead of scanning)
    panic_on_oom: int = 0
    kill_allocating_task: int = 0
    kills: List[OomKill] = field(default_factory=list)
    oom_skip: Set[int] = field(default_factory=set)
    reap_queued: Set[int] = field(default_factory=set)

    # -- out_of_memory ----------------------------------------------------------------------
    def constrained_alloc(self, gfp: int, nodemask: int):
        """constrained_alloc(): ("none", RAM + swap), or ("mempolicy", the present pages of
        the policy's nodes + swap) when a nodemask leaves out a node with memory (and the
        request is not __GFP_THISNODE)."""
        from memsim.mmstat import total_swap_pages
        m = self.machine
        if nodemask and not gfp & GFP_THISNODE:
            present: Dict[int, int] = {}
            for z in m.physmem.zones_info():
                present[z["node"]] = present.get(z["node"], 0) + z["end_pfn"] - z["start_pfn"]
            with_memory = {n for n, p in present.items() if p}
            if not with_memory <= {n for n in present if nodemask >> n & 1}:
                return "mempolicy", total_swap_pages(m) + sum(
                    p for n, p in present.items() if nodemask >> n & 1)
        return "none", totalpages(m)

    def out_of_memory(self, gfp: int, order: int, nid: int, nodemask: int = 0) -> bool:
        """out_of_memory(): True when it made progress (the allocator retries).  ``nodemask``
        is the allocation's policy nodes (a bit per node, 0 = none)."""
        m = self.machine
        cur = m.current.task
        if cur is not None and self.task_will_free_mem(cur):
            self.mark_oom_victim(cur)
            self.queue_oom_reaper(cur)
            return True
        if not gfp & GFP_FS:
            return True             # "the OOM killer does not compensate for IO-less reclaim"
        constraint, total = self.constrained_alloc(gfp, nodemask)
        self.check_panic_on_oom(constraint, gfp, order)
        if (self.kill_allocating_task and cur is not None and cur.mm is not None
                and cur.oom_score_adj != OOM_SCORE_ADJ_MIN):
            # "Out of memory (oom_kill_allocating_task)"
            self.oom_kill_process(cur, oom_badness(m, cur, total, self.oom_skip) or 0, gfp, order)
            return True
        chosen, points = self.select_bad_process(total)
        if chosen == "abort":
            return True
        if chosen is None:
            from memsim.errors import OutOfMemoryPanic
            who = f"{cur.comm}-{cur.pid}" if cur is not None else "the kernel"
            m.printk("Out of memory and no killable processes...\n"
                     "Kernel panic - not syncing: System is deadlocked on memory")
            raise OutOfMemoryPanic(
                None, f"Kernel panic - not syncing: System is deadlocked on memory (out of memory "
                      f"and no killable processes: an allocation of order {order} with gfp "
                      f"{gfp:#x} by {who} failed and every process has oom_score_adj -1000 or "
                      f"no memory)", "give the machine more memory, touch less, or let some "
                      "task be killed (an oom_score_adj above -1000)")
        self.oom_kill_process(chosen, points, gfp, order)
        return True

    def check_panic_on_oom(self, constraint: str, gfp: int, order: int) -> None:
        """check_panic_on_oom(): vm.panic_on_oom 1 panics for an unconstrained OOM, 2 for any;
        memsim stops the run (:class:`memsim.errors.OutOfMemoryPanic`)."""
        if not self.panic_on_oom or (self.panic_on_oom != 2 and constraint != "none"):
            return
        from memsim.errors import OutOfMemoryPanic
        kind = "compulsory" if self.panic_on_oom == 2 else "system-wide"
        self.machine.printk(f"Kernel panic - not syncing: Out of memory: {kind} panic_on_oom is "
                            "enabled")
        raise OutOfMemoryPanic(None, f"Kernel panic - not syncing: Out of memory: {kind} "
                                     f"panic_on_oom is enabled (an allocation of order {order} "
                                     f"with gfp {gfp:#x})", "write 0 to /proc/sys/vm/panic_on_oom "
                                     "to let the OOM killer choose a task, or give the machine "
                                     "more memory")

    def task_will_free_mem(self, task) -> bool:
        """task_will_free_mem(): the task's process is dying (SIGKILL sent: SIGNAL_GROUP_EXIT)
        and the reaper is not done with its mm."""
        mm = task.mm
        if mm is None or mm.seq in self.oom_skip:
            return False
        return task.sigkill_pending

    def select_bad_process(self, total: int):
        """select_bad_process() / oom_evaluate_task(): the process with the highest badness
        (``points >= chosen_points``: the later of equals); ``"abort"`` when a process is an
        OOM victim whose mm the reaper has not finished with; (None, None) when none qualifies."""
        chosen, chosen_points = None, LONG_MIN
        for group in _processes(self.machine):
            leader = group[0]
            if any(t.oom_victim for t in group):
                t = _find_lock_task_mm(group)
                if t is None or t.mm.seq in self.oom_skip:
                    continue
                return "abort", None
            points = oom_badness(self.machine, leader, total, self.oom_skip)
            if points is None or points < chosen_points:
                continue
            chosen, chosen_points = leader, points
        return chosen, (chosen_points if chosen is not None else None)

    # -- killing ------------------------------------------------------------------------------
    def oom_kill_process(self, victim, points: int, gfp: int, order: int) -> None:
        """oom_kill_process() -> __oom_kill_process(): count ``oom_kill``, send SIGKILL to the
        victim's thread group, mark it (mark_oom_victim), log the kill, queue the reaper."""
        m = self.machine
        if self.task_will_free_mem(victim):
            self.mark_oom_victim(victim)
            self.queue_oom_reaper(victim)
            return
        t = _find_lock_task_mm(m.thread_group(victim))
        if t is None:
            return                      # "OOM victim %d (%s) is already exiting"
        from memsim.vmstat import ITEM_BY_NAME
        m.physmem.vmstat.count_vm_events(ITEM_BY_NAME["oom_kill"][1], 1)
        for x in m.thread_group(t):     # do_send_sig_info(SIGKILL, ..., PIDTYPE_TGID)
            x.sigkill_pending = True
        c = _counters(m, t)
        mm = t.mm
        cur = m.current.task
        kill = OomKill(pid=t.pid, comm=t.comm, points=points, oom_score_adj=t.oom_score_adj,
                       total_vm_kb=_total_vm(mm) * 4, anon_rss_kb=c["MM_ANONPAGES"] * 4,
                       file_rss_kb=c["MM_FILEPAGES"] * 4, shmem_rss_kb=c["MM_SHMEMPAGES"] * 4,
                       pgtables_kb=mm.pgtables_bytes // 1024, gfp=gfp, order=order,
                       by_pid=cur.pid if cur is not None else 0, mm_seq=mm.seq)
        self.mark_oom_victim(t)
        self.kills.append(kill)
        self.queue_oom_reaper(t)

    def mark_oom_victim(self, task) -> None:
        """mark_oom_victim(): TIF_MEMDIE and signal->oom_mm (memsim marks the whole thread
        group: tsk_is_oom_victim() reads the signal struct), then ``oom:mark_victim``."""
        if task.oom_victim:
            return
        m = self.machine
        for t in m.thread_group(task):
            t.oom_victim = True
        mm = task.mm
        c = _counters(m, task) if mm is not None else {}
        _emit(m, "oom:mark_victim", pid=task.pid, comm=task.comm,
              total_vm=_total_vm(mm) * 4 if mm is not None else 0,
              anon_rss=c.get("MM_ANONPAGES", 0) * 4, file_rss=c.get("MM_FILEPAGES", 0) * 4,
              shmem_rss=c.get("MM_SHMEMPAGES", 0) * 4, uid=0,
              pgtables=(mm.pgtables_bytes // 1024) if mm is not None else 0,
              oom_score_adj=task.oom_score_adj)

    def queue_oom_reaper(self, task) -> None:
        """wake_oom_reaper() (v5.14) / queue_oom_reaper() (v5.18+), once per mm
        (MMF_OOM_REAP_QUEUED).

        v5.14: ``oom:wake_reaper`` at once, then the reaper's work (:meth:`oom_reap_task_mm`)
        unless the victim is the running process (its SIGKILL ends it at its next step
        boundary and its exit frees its memory).  v6.18: a 2 s timer, by which time a killed
        victim has exited by itself: memsim frees a non-running victim's private memory at once,
        as that exit would (exit_mmap sets MMF_OOM_SKIP), and records no reaper events."""
        mm = task.mm
        if mm is None or mm.seq in self.reap_queued:
            return
        self.reap_queued.add(mm.seq)
        m = self.machine
        delayed = OOM_REAPER_DELAYED[m.profile.name]
        if not delayed:
            _emit(m, "oom:wake_reaper", pid=task.pid)
        cur = m.current.task
        if cur is not None and cur.mm is mm:
            return
        if delayed:
            self._unmap_private(mm)
            self.oom_skip.add(mm.seq)
            return
        self.oom_reap_task_mm(task)

    def oom_reap_task_mm(self, task) -> None:
        """oom_reap_task_mm() + __oom_reap_task_mm(): unmap the pages of every anonymous or
        private VMA of the victim's mm (not hugetlb or VM_PFNMAP ones, nor, on v5.14, mlocked
        ones), keeping its page tables and VMAs for the victim's own exit; then MMF_OOM_SKIP."""
        m = self.machine
        mm = task.mm
        if mm is None:
            return
        if mm.seq in self.oom_skip:
            _emit(m, "oom:skip_task_reaping", pid=task.pid)
            return
        _emit(m, "oom:start_task_reaping", pid=task.pid)
        self._unmap_private(mm)
        _emit(m, "oom:finish_task_reaping", pid=task.pid)
        self.oom_skip.add(mm.seq)

    def _unmap_private(self, mm) -> None:
        """__oom_reap_task_mm()'s loop: unmap_page_range() of every anonymous or private VMA
        but those OOM_REAP_SKIP names for the profile; page tables and VMAs stay."""
        m = self.machine
        skip = OOM_REAP_SKIP[m.profile.name]
        for vma in list(mm.vmas):
            if vma.vm_flags & skip:
                continue
            if vma.vm_file is None or not vma.vm_flags & VM_SHARED:
                m.mmcore.zap_page_range(mm, vma, vma.vm_start, vma.vm_end)
        for k in self.kills:
            if k.mm_seq == mm.seq:
                k.reaped = True

    # -- reports ------------------------------------------------------------------------------
    def summary(self) -> List[Dict[str, object]]:
        """The kills so far, for the run summary."""
        return [k.as_dict() for k in self.kills]


def _total_vm(mm) -> int:
    """mm->total_vm: the pages of every VMA."""
    return sum((v.vm_end - v.vm_start) // PAGE_SIZE for v in mm.vmas)


# -- /proc/PID/oom_score, /proc/PID/oom_score_adj (fs/proc/base.c) -----------------------------

PROC_NUMBUF = 13


def _kstrtoint(text: bytes) -> int:
    """kstrtoint(s, 0, &v): an optional sign, then a number in base 0 (0x hex, 0 octal); EINVAL
    for anything else, ERANGE beyond an int."""
    from memsim.vfs import VfsError
    s = text.decode("latin-1")
    if s.endswith("\n"):
        s = s[:-1]
    neg = s.startswith("-")
    if s[:1] in "+-" and s:
        s = s[1:]
    try:
        if s[:2].lower() == "0x" and len(s) > 2:
            v = int(s[2:], 16)
        elif s.startswith("0") and len(s) > 1:
            v = int(s[1:], 8)
        else:
            v = int(s, 10)
        if not s or not all(c.isalnum() for c in s):
            raise ValueError
    except ValueError:
        raise VfsError("EINVAL", f"{text!r} is not a number") from None
    v = -v if neg else v
    if not -(1 << 31) <= v < (1 << 31):
        raise VfsError("ERANGE", f"{v} does not fit in an int")
    return v


def oom_score_adj_write(machine, task, data: bytes) -> int:
    """oom_score_adj_write(): at most PROC_NUMBUF - 1 bytes are read, stripped (strstrip) and
    parsed with kstrtoint (EINVAL, ERANGE); a value outside -1000..1000 is EINVAL; then
    __set_oom_adj (:func:`set_oom_score_adj`).  The write returns the count it read (at most
    12 bytes: a longer write goes on with the rest, as a write loop sends it)."""
    from memsim.vfs import VfsError
    count = min(len(data), PROC_NUMBUF - 1)
    buf = data[:count].strip(b" \t\n\r\v\f")
    value = _kstrtoint(buf)
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise VfsError("EINVAL", f"{value} is outside -1000..1000")
    set_oom_score_adj(machine, task, value)
    return count


def install_proc_pid_files(machine, task) -> None:
    """proc_pid_base_stuff's oom entries of a new task: /proc/PID/oom_score (0444, proc_oom_score)
    and /proc/PID/oom_score_adj (0644, oom_score_adj_read / oom_score_adj_write)."""
    base = str(task.pid)
    fs = machine.procfs
    fs.mkdir(base, 0o555)
    fs.create_file(f"{base}/oom_score", show=lambda t: f"{oom_score(machine, t, machine.oom.oom_skip)}\n",
                   mode=0o444, private=task)
    fs.create_file(f"{base}/oom_score_adj", show=lambda t: f"{t.oom_score_adj}\n",
                   store=lambda t, data: oom_score_adj_write(machine, t, data), mode=0o644,
                   private=task)


def remove_proc_pid_files(machine, task) -> None:
    """The task was reaped: its /proc/PID directory goes (open files fail from now on)."""
    if str(task.pid) in machine.procfs:
        machine.procfs.remove(str(task.pid))
