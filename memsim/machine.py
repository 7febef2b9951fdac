"""A Machine: one emulated computer — its CPUs, memory, clock, trace buffers and tasks.

Building one is explicit (STYLE 9) and costs nothing per frame: the frame metadata is a
lazily-backed array and free max-order blocks are set up on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from memsim.boot import BootOptions
from memsim.hashptr import key_from_seed
from memsim.patches import PatchStates, default_states
from memsim.mm import MmCore, MmStruct, RSS_NAMES, copy_task_mempolicy
from memsim.oom import OomKiller, install_proc_pid_files, remove_proc_pid_files
from memsim.physmem import PhysMem
from memsim.profiles import KernelProfile, get_profile
from memsim.ring import Clock, TraceBuffer
from memsim.sched import TaskWorks
from memsim.task import Current, TaskStruct
from memsim import vm
from memsim.vfs import FilesStruct, MntNamespace

PAGE_SIZE = 4096
FIRST_PID = 1000


def format_kmsg(ns: int, line: str) -> str:
    """A kernel log line as dmesg prints it: ``[%5lu.%06lu] line``, the seconds and
    microseconds of emulated time ``ns`` (printk's timestamp, local_clock()):
    ``format_kmsg(120_000, "BUG: ...")`` is ``[    0.000120] BUG: ...``."""
    return f"[{ns // 1_000_000_000:5d}.{ns % 1_000_000_000 // 1000:06d}] {line}"


@dataclass(frozen=True)
class MachineSpec:
    """What a machine is built from (a workload's ``machine`` section has the same fields)."""

    cpus: int = 1
    nodes: Sequence[int] = (1 << 30,)
    trace_buffer_kb: int = 1408
    kernel: str = "v5.14"
    seed: int = 0
    quantum: int = 512
    #: tracefs options/overwrite: a full ring buffer overwrites its oldest events (else drops new)
    trace_overwrite: bool = True
    #: keys plugins added to the ``machine`` section (memsim.registry.MachineKey), by name
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: the state of the seed changes (memsim.patches.PatchStates); None: the profile's defaults
    patches: Any = None
    #: kernel build options set (core_schema.KCONFIG names); the rest keep their defaults
    config: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))


class Machine:
    """An emulated machine.

    ``events`` is the EventRegistry the trace buffer is bound to.  ``boot`` holds the options
    plugins chose in ``memsim_machine_configure`` (defaults when None); the machine freezes them
    and keeps them as ``machine.boot``.  ``hooks`` is the plugin manager's hook relay
    (``pm.hook``), through which fork and exit call ``memsim_task_fork`` / ``memsim_task_exit``;
    without it (a bare machine in a test) no plugin hook is called.  ``registries``
    (:class:`memsim.registry.Registries`) brings the plugins' filesystem types, /proc and /sys
    files and /proc/meminfo lines (without it: the core's only).

    Its file namespace (``vfs``, a :class:`memsim.vfs.MntNamespace`) has rootfs at ``/``,
    procfs at ``/proc`` and sysfs at ``/sys``; ``procfs`` and ``sysfs`` are their trees
    (:class:`memsim.pseudofs.PseudoFs`), to which plugins add files while the machine runs.
    """

    def __init__(self, spec, events=None, with_slab: bool = True, boot: Optional[BootOptions] = None,
                 hooks=None, registries=None):
        self.spec = spec
        self.boot: BootOptions = (boot if boot is not None else BootOptions()).freeze()
        self.hooks = hooks
        self.profile: KernelProfile = get_profile(spec.kernel)
        #: which seed changes are on (memsim.patches.PatchStates): ``machine.patches.enabled(name)``
        patches = getattr(spec, "patches", None)
        self.patches: PatchStates = patches if patches is not None else default_states(self.profile)
        self.clock = Clock(0)
        self.tb = TraceBuffer(spec.cpus, spec.trace_buffer_kb, self.clock,
                              spec.trace_overwrite)
        #: what readers of the machine's trace read (its records, CPU by CPU, as ``tb`` gives
        #: them): ``tb``, or every record of the run when a recorder kept them
        #: (:class:`memsim.tracing.recorder.RecordedTrace`: memsim.run, memsim compare)
        self.trace = self.tb
        self.current = Current()
        self.physmem = PhysMem(list(spec.nodes), spec.cpus, self.tb, self.current)
        self.ptr_key = key_from_seed(spec.seed)
        p = self.profile
        self.physmem.free_gigantic_as_folio = p.gigantic_folio_free
        self.physmem.lru_batch_size = p.lru_batch_size
        self.physmem.mlock_fbatch_enabled = p.mlock_fbatch
        self.physmem.folios_put_refs_enabled = p.folios_put_refs
        self.physmem.trace_context = p.trace_context
        self.physmem.contig_skip_hugetlb = p.contig_skip_hugetlb
        self.physmem.contig_replace_free_hugetlb = p.contig_replace_free_hugetlb
        self.physmem.migrate_stats_in_pages = p.migrate_stats_in_pages
        self.mmcore = MmCore(self.physmem, self.tb, self.current, p.split_rss_counting,
                             p.gfp_user_anon, p.gfp_pgtable, p.gfp_user,
                             self.ptr_key[0], self.ptr_key[1], p.rss_stat_preempt)
        self.mmcore.pte_markers = p.pte_markers
        self.mmcore.swp_pte_marker = p.swp_pte_marker
        self.mmcore.munmap_lru_drain = p.munmap_lru_drain
        self.mmcore.wp_reuse_drains_lru = p.wp_reuse_drains_lru
        self.mmcore.gfp_readahead = p.gfp_readahead
        self.mmcore.gfp_anon_vma_clone = p.gfp_anon_vma_clone
        self.mmcore.thp_get_unmapped_area = p.thp_get_unmapped_area
        self.mmcore.nr_pages_slot = p.mmu_gather_nr_pages_slot
        self.mmcore.rcu_table_free = p.rcu_table_free
        self.mmcore.trace_context = p.trace_context
        self.mmcore.migration_entry_ad = p.migration_entry_ad
        self.mmcore.pgfault_at_end = p.pgfault_at_end
        #: mm/workingset.c (memsim.workingset): shadow entries and refaults; workingset_init()
        #: sizes the shadow fields from the profile's NODES_SHIFT and the machine's memory
        self.workingset = self.mmcore.workingset
        self.workingset.workingset_init(sum(z["managed"] for z in self.physmem.zones_info()),
                                        p.nodes_shift, p.mem_cgroup_id_shift)
        self.workingset.test_recent_first = p.workingset_test_recent
        from memsim.vmscan import Vmscan
        #: page reclaim over the LRU lists (memsim.vmscan): direct reclaim and kswapd
        self.vmscan = Vmscan(self.physmem, self.mmcore)
        self.vmscan.lru_cost_rotations = p.lru_cost_rotations
        #: the kswapd kernel threads, one per node, once a scheduler runs them (start_kswapds)
        self.kswapds: List[TaskStruct] = []
        self.vmscan.pageout_file = p.reclaim_writes_file
        self.vmscan.gfp_highuser_movable = p.gfp_user & ~0x40000     # GFP_HIGHUSER_MOVABLE (no __GFP_COMP)
        from memsim.drop_caches import DropCaches
        from memsim.shrinker import (SHRINKER_API, ShrinkerList, register_workingset_shadow_shrinker,
                                     text_symbol)
        #: the registered shrinkers (shrinker_list): reclaim's and drop_caches' shrink_slab
        self.shrinkers = ShrinkerList(self.physmem, SHRINKER_API[p], text_symbol)
        self.vmscan.shrinkers = self.shrinkers
        #: the shadow-node shrinker of mm/workingset.c ("mm-shadow")
        self.shadow_shrinker = register_workingset_shadow_shrinker(
            self.shrinkers, self.mmcore.workingset, self.physmem.vmstat)
        #: /proc/sys/vm/drop_caches (memsim.drop_caches)
        self.drop_caches = DropCaches()
        self.mmcore.rng = (spec.seed * 0x9E3779B97F4A7C15 + 0x1234567) & 0xFFFFFFFFFFFFFFFF or 1
        self.slab = None
        if with_slab:
            self.slab = _make_slab(self)
            self.mmcore.slab = self.slab
        #: the OOM killer the allocator's slow path calls (memsim.oom, mm/oom_kill.c)
        self.oom = OomKiller(self)
        #: task_work (kernel/task_work.c): work queued on a task (task_work_add)
        self.task_works = TaskWorks()
        self.physmem.set_oom_killer(self.oom)
        #: vm.overcommit_memory and its limits (__vm_enough_memory at mmap and mremap)
        self.overcommit = vm.Overcommit(self)
        #: what backs a workload's file and shared anonymous mappings (vm.MmapFiles: none
        #: until the page-cache plugin installs its own)
        self.files = vm.MmapFiles()
        self.tasks: Dict[int, TaskStruct] = {}
        self.comms: Dict[int, str] = {0: "<idle>"}
        self.next_pid = FIRST_PID
        self.events = events
        if events is not None:
            events.bind(self.tb)
        self.task_faults: Dict[int, Dict[str, int]] = {}
        self.plugin_state: Dict[str, object] = {}
        #: the kernel log (the printk ring buffer): ``(emulated ns, line)`` in the order
        #: printed (:meth:`printk`; :func:`format_kmsg` gives dmesg's form)
        self.kmsg: List[Tuple[int, str]] = []
        self.stat_interval_ns = 1_000_000_000        # sysctl_stat_interval = HZ
        self.periodic: List[list] = []                 # add_periodic(): [due ns, period, fn]
        self.resume_work: List[Callable] = []          # add_resume_work(): fn(task) -> sleep ns
        self.pagefault_oom: List[Callable] = []        # add_pagefault_oom(): fn(task) -> waitq
        self._vmstat_next = self.stat_interval_ns
        self.meminfo_lines: Dict[str, object] = {}
        self._mmcheck = None                        # memsim.mmcheck.MmCheck, at the first check
        self._boot_vfs(registries)

    # -- files ---------------------------------------------------------------------------------
    def _boot_vfs(self, registries) -> None:
        """The namespace at boot: rootfs, procfs and sysfs mounted, the core's files, then the
        plugins' filesystem types, static files and meminfo lines."""
        from memsim import mmstat
        from memsim.errors import PluginError
        from memsim.pseudofs import DEBUGFS_TYPE, PROC_FS_TYPE, SYSFS_TYPE, PseudoFs
        from memsim.vfs import VfsError
        self.vfs = MntNamespace(self)
        self.procfs = PseudoFs(PROC_FS_TYPE, "proc", 0o555)
        self.sysfs = PseudoFs(SYSFS_TYPE, "kernfs", 0o555)
        self.debugfs = PseudoFs(DEBUGFS_TYPE, "kernfs", 0o700)
        self.vfs.register_filesystem(PROC_FS_TYPE)
        self.vfs.register_filesystem(SYSFS_TYPE)
        self.vfs.register_filesystem(DEBUGFS_TYPE)
        self.vfs.do_mount("proc", "/proc", "proc")
        self.vfs.do_mount("sysfs", "/sys", "sysfs")
        self.sysfs.mkdir("kernel/debug", 0o755)
        self.vfs.do_mount("debugfs", "/sys/kernel/debug", "debugfs")
        mmstat.install_core_files(self)
        if registries is None:
            return
        for fs_type in registries.filesystems:
            try:
                self.vfs.register_filesystem(fs_type)
            except VfsError:
                raise PluginError(f"plugin {fs_type.plugin!r}", f"filesystem type {fs_type.name!r} "
                                  "is built in", "give the filesystem type another name") from None
        for line in registries.meminfo:
            why = mmstat.check_meminfo_line(line, self.profile)
            if why is not None:
                raise PluginError(f"plugin {line.plugin!r}", *why)
            self.meminfo_lines[line.name] = line
        for pf in registries.files:
            if pf.dynamic:
                continue
            try:
                mmstat.install_proc_file(self, pf)
            except VfsError as e:
                raise PluginError(f"plugin {pf.plugin!r}", f"file {pf.path}: {e.detail or e.errno}",
                                  "give the file a path no other file has") from None

    def kconfig(self, name: str) -> bool:
        """IS_ENABLED(name) for this machine's kernel build: ``machine.config`` of the workload,
        else the option's default (memsim.workload.core_schema.KCONFIG)."""
        from memsim.workload.core_schema import KCONFIG
        config = getattr(self.spec, "config", None) or {}
        return config[name] if name in config else KCONFIG[name][0]

    def set_stat_interval(self, ns: int) -> None:
        """vm.stat_interval: the time between two vmstat_update folds (0 or less: every slice)."""
        self.stat_interval_ns = ns
        self._vmstat_next = self.clock.now + ns if ns > 0 else self.clock.now

    def vmstat_update(self) -> None:
        """vmstat_update(): once ``stat_interval`` of emulated time has passed, fold every CPU's
        vmstat differentials (refresh_cpu_vm_stats).  The scheduler calls it at every
        preemption point, with quiescent_state()."""
        now = self.clock.now
        if now < self._vmstat_next:
            return
        self.physmem.vmstat.refresh_vm_stats()
        ns = self.stat_interval_ns
        self._vmstat_next = (now // ns + 1) * ns if ns > 0 else now

    # -- the kernel log ------------------------------------------------------------------------
    def printk(self, text: str) -> None:
        """printk(): each line of ``text`` goes to the kernel log (``machine.kmsg``) stamped
        with the emulated time; what ``dmesg`` shows (``memsim run`` prints it before the
        summary, ``--dmesg FILE`` writes it, the summary's ``kernel_log`` lists it).  A report
        of several lines (a KASAN report, an oops) is one call; a trailing newline adds no
        empty line."""
        now = self.clock.now
        self.kmsg.extend((now, line) for line in str(text).splitlines())

    def dmesg(self) -> List[str]:
        """The kernel log as dmesg prints it, one line each (:func:`format_kmsg`)."""
        return [format_kmsg(ns, line) for ns, line in self.kmsg]

    # -- tracing -------------------------------------------------------------------------------
    def enable_events(self, globs: Iterable[str]) -> None:
        """set_event: enable the events matching the globs, and rebind the core slots."""
        if self.events is None:
            raise RuntimeError("this machine was built without an event registry")
        self.events.enable(list(globs))
        self.events.bind(self.tb)

    # -- tasks ---------------------------------------------------------------------------------
    def _new_pid(self) -> int:
        pid = self.next_pid
        self.next_pid += 1
        return pid

    def start_kswapds(self, scheduler) -> List[TaskStruct]:
        """kswapd_run() of every node: ``kswapd<nid>`` kernel threads asleep on their node's
        kswapd_wait, run by ``scheduler`` (memsim.sched.Scheduler) once the allocator wakes
        them (memsim.kswapd).  Without this, wakeup_kswapd wakes nobody."""
        from memsim.kswapd import start_kswapds
        return start_kswapds(self, scheduler)

    def task_work_add(self, task: Optional[TaskStruct], fn: Callable[[], None]) -> bool:
        """task_work_add(task, work, TWA_RESUME): ``fn()`` runs in ``task``'s context when the
        scheduler next picks ``task`` (before its body goes on), when it exits, or at the end of
        the run -- so tasks scheduled in between see the state ``fn`` will complete.  Code that
        cannot sleep queues the rest of its work this way on ``current``
        (``machine.current.task``, ``machine.mmcore.cur.task`` from a plugin holding the core).
        Returns True when queued; False when ``fn`` ran at once (no scheduler is running tasks,
        ``task`` is None or has exited: :class:`memsim.sched.TaskWorks`)."""
        return self.task_works.add(task, fn)

    def task_work_run(self, task: TaskStruct) -> int:
        """task_work_run() for ``task`` now, in the caller's context; returns how many ran."""
        return self.task_works.run(task)

    def flush_task_works(self) -> int:
        """Run every task's pending works now, in the caller's context (code that must see the
        deferred work done: flush_free_hpage_work() in set_max_huge_pages); returns how many
        ran.  Nothing to do, and no cost, when none is pending."""
        if not self.task_works.pending:
            return 0
        return self.task_works.flush()

    def set_current(self, task: Optional[TaskStruct]) -> None:
        """Context switch: ``task`` becomes current on its CPU."""
        self.current.set(task)

    def spawn(self, name: str, comm: Optional[str] = None, cpu: int = 0) -> TaskStruct:
        """A new process with an empty mm (exec of a fresh program); plugins see it through
        ``memsim_task_fork`` with ``parent=None``."""
        pid = self._new_pid()
        task = TaskStruct(pid, (comm or name)[:15], cpu, None, -1, name)
        task.files = FilesStruct()
        prev = self.current.task
        self.set_current(task)
        task.mm = self.mmcore.mm_alloc(task)
        self.tasks[pid] = task
        self.comms[pid] = task.comm
        install_proc_pid_files(self, task)
        if self.hooks is not None:
            self.hooks.memsim_task_fork(parent=None, child=task)
        self.set_current(prev)
        return task

    def fork(self, parent: TaskStruct, name: str, cpu: Optional[int] = None) -> TaskStruct:
        """copy_process(): runs as ``parent``; the child gets a copy of its mm (dup_mm) and
        ``real_parent = parent``, then cgroup_post_fork()'s place: ``memsim_task_fork``.
        :class:`memsim.vm.MmError` (ENOMEM) when the mm cannot be copied (the commit limit
        under vm.overcommit_memory 2): nothing is left of the child."""
        child = TaskStruct(0, parent.comm, parent.cpu if cpu is None else cpu, None, -1, name, parent)
        if parent.files is not None:
            child.files = parent.files.dup_fd()        # copy_files()
        prev = self.current.task
        self.set_current(parent)
        try:
            child.mm = vm.dup_mm(self.mmcore, parent.mm, child, self.overcommit)
        except vm.MmError:
            if child.files is not None:
                child.files.put()
            self.set_current(prev)
            raise
        # alloc_pid() comes after copy_mm() in copy_process(): a failed fork uses no pid
        pid = self._new_pid()
        child.pid = child.tgid = pid
        copy_task_mempolicy(child, parent)                  # mpol_dup(current->mempolicy)
        self.tasks[pid] = child
        self.comms[pid] = child.comm
        install_proc_pid_files(self, child)
        if self.hooks is not None:
            self.hooks.memsim_task_fork(parent=parent, child=child)
        self.set_current(prev)
        return child

    def clone_thread(self, parent: TaskStruct, name: str, cpu: Optional[int] = None,
                     comm: Optional[str] = None) -> TaskStruct:
        """clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | ...), as
        pthread_create() calls it: copy_process() gives the thread its own pid and a zeroed
        rss_stat cache, the parent's tgid, ``mmget()`` of the parent's mm (mm_users + 1: the
        mm is torn down when its last user exits), the parent's fd table (CLONE_FILES: one
        ``FilesStruct``, its count + 1) and a copy of the task mempolicy."""
        if parent.mm is None:
            raise ValueError(f"{parent!r} has no mm to share (it has exited)")
        pid = self._new_pid()
        # CLONE_THREAD: the thread's parent is its process's (p->real_parent = current->real_parent)
        thread = TaskStruct(pid, (comm or parent.comm)[:15], parent.cpu if cpu is None else cpu,
                            parent.mm, parent.tgid, name, parent.real_parent)
        parent.mm.mm_users += 1
        thread.oom_score_adj = parent.oom_score_adj       # one signal_struct per thread group
        if parent.files is not None:
            thread.files = parent.files.get()           # copy_files() with CLONE_FILES
        copy_task_mempolicy(thread, parent)
        self.tasks[pid] = thread
        self.comms[pid] = thread.comm
        install_proc_pid_files(self, thread)
        if self.hooks is not None:
            prev = self.current.task
            self.set_current(parent)
            self.hooks.memsim_task_fork(parent=parent, child=thread)
            self.set_current(prev)
        return thread

    def thread_group(self, task: TaskStruct) -> List[TaskStruct]:
        """The tasks of ``task``'s thread group (same tgid), the leader first, in pid order."""
        return sorted((t for t in self.tasks.values() if t.tgid == task.tgid), key=lambda t: t.pid)

    def exit_task(self, task: TaskStruct) -> None:
        """do_exit(): sync the cached rss, drop current->mm, then mmput() -> exit_mmap()
        (whose events carry curr=0, as current->mm is already NULL); exit_files() closes the
        task's fds when it held the last reference to its table; then cgroup_exit()'s place
        (``memsim_task_exit``) and exit_notify(), which reparents the children (to init: memsim
        has none, so their ``real_parent`` becomes None)."""
        prev = self.current.task
        self.set_current(task)
        if task.files is not None:
            files, task.files = task.files, None
            files.put()
        mm = task.mm
        if mm is not None:
            self.mmcore.sync_current_rss()
            task.mm = None
            mm.mm_users -= 1
            if mm.mm_users == 0:
                vm.exit_mmap(self.mmcore, mm)
        # exit_task_work(): after exit_mm() and exit_files(), whose puts may have queued work
        self.task_works.exit(task)
        if self.hooks is not None:
            self.hooks.memsim_task_exit(task=task)
        remove_proc_pid_files(self, task)
        # forget_original_parent(): the children go to a live thread of the same process
        # (find_alive_thread()), else to init
        reaper = next((t for t in self.thread_group(task) if t is not task and t.mm is not None), None)
        for child in self.tasks.values():
            if child.real_parent is task:
                child.real_parent = reaper
        self.set_current(prev)

    def quiescent_state(self, running: Optional[TaskStruct] = None) -> None:
        """A preemption point (the scheduler calls this after each slice): an RCU grace period
        ends, as every CPU passed a context switch.  First the page-table batches whose grace
        period ended at the previous one are freed in softirq on their CPU, in the context of
        ``running`` (the task that goes on running after this point; None when it exited or
        blocked) on its CPU and of the idle task elsewhere (MmCore.rcu_do_batch; only v6.18
        queues any).  Then the grace period in progress ends: the batches queued since become
        ready (MmCore.rcu_gp_end), SLAB_TYPESAFE_BY_RCU slabs are freed, and vmstat_update runs."""
        self.mmcore.rcu_do_batch(running)
        self.mmcore.rcu_gp_end()
        if self.slab is not None:
            self.slab.rcu_barrier()
        self.vmstat_update()
        if self.periodic:
            self.run_periodic()

    def add_resume_work(self, fn: Callable[[TaskStruct], int]) -> None:
        """Work a plugin does when a task returns to user mode with TIF_NOTIFY_RESUME set
        (resume_user_mode_work(): memcg's mem_cgroup_handle_over_high): ``fn(task)`` returns
        the emulated ns the task then sleeps (0: none)."""
        self.resume_work.append(fn)

    def resume_user_mode(self, task: TaskStruct):
        """resume_user_mode_work() of ``task``, whose flag is set: every plugin's work, then
        the sleep they asked for (schedule_timeout_killable).  A generator the steps run with
        ``yield from``."""
        from memsim.sched import SleepUntil
        task.notify_resume = False
        ns = 0
        for fn in self.resume_work:
            ns += fn(task)
        if ns > 0:
            yield SleepUntil(self.clock.now + ns)

    def add_pagefault_oom(self, fn: Callable[[TaskStruct], Any]) -> None:
        """What pagefault_out_of_memory() asks a plugin before anything else: a user fault
        failed with VM_FAULT_OOM, and ``fn(task)`` returns the wait queue the task sleeps on
        before the fault is retried (memcg's mem_cgroup_oom_synchronize(): a memcg OOM with
        oom_kill_disable), or None.  With no queue the access fails (ENOMEM)."""
        self.pagefault_oom.append(fn)

    def pagefault_out_of_memory(self, task: TaskStruct) -> Any:
        """pagefault_out_of_memory(): the first wait queue a plugin names, or None."""
        for fn in self.pagefault_oom:
            waitq = fn(task)
            if waitq is not None:
                return waitq
        return None

    def add_periodic(self, period_ns: int, fn: Callable[[int], None]) -> None:
        """Deferrable work a plugin queues every ``period_ns`` of emulated time
        (queue_delayed_work on system_unbound_wq, re-queued by the work itself, as memcg's
        flush_memcg_stats_dwork): ``fn(now_ns)`` runs at the first preemption point at or
        after each due time, on no task."""
        self.periodic.append([self.clock.now + period_ns, period_ns, fn])

    def run_periodic(self) -> None:
        """The periodic work that is due (quiescent_state calls it)."""
        now = self.clock.now
        for entry in self.periodic:
            if now >= entry[0]:
                entry[2](now)
                entry[0] = now + entry[1]

    def rcu_barrier(self) -> None:
        """rcu_barrier(): every RCU callback still queued runs now, on its CPU's idle task: the
        page-table batches (MmCore.rcu_barrier), then the SLAB_TYPESAFE_BY_RCU slabs."""
        self.mmcore.rcu_barrier()
        if self.slab is not None:
            self.slab.rcu_barrier()

    def live_mms(self) -> List[MmStruct]:
        seen, out = set(), []
        for t in self.tasks.values():
            if t.mm is not None and id(t.mm) not in seen:
                seen.add(id(t.mm))
                out.append(t.mm)
        return out

    # -- reports -------------------------------------------------------------------------------
    def rss(self, task: TaskStruct) -> Dict[str, int]:
        """Resident pages by counter: the mm's atomic counters plus every task's cached
        deltas for that mm (what the page tables hold; /proc VmRSS lags by the cached part)."""
        mm = task.mm
        if mm is None:
            return {n: 0 for n in RSS_NAMES}
        vals = list(mm.rss_raw)
        for t in self.tasks.values():
            if t.mm is mm:
                for i, d in enumerate(t.rss_cached):
                    vals[i] += d
        return dict(zip(RSS_NAMES, vals))

    def rss_counter(self, task: TaskStruct) -> Dict[str, int]:
        """get_mm_counter() for each member: the /proc/<pid>/status view (clamped, lagging)."""
        mm = task.mm
        if mm is None:
            return {n: 0 for n in RSS_NAMES}
        return {n: mm.get_mm_counter(i) for i, n in enumerate(RSS_NAMES)}

    def meminfo(self) -> Dict[str, int]:
        """/proc/meminfo as {line: value}, every line of the profile in the kernel's order:
        bytes for the lines printed in kB, a number for HugePages_* (memsim.mmstat).  The values
        are exact: the per-CPU vmstat differentials are added in, as if /proc/sys/vm/stat_refresh
        had just been written (the file itself lags by them)."""
        from memsim.mmstat import meminfo_values
        return meminfo_values(self, exact=True)

    def meminfo_text(self) -> str:
        """/proc/meminfo."""
        from memsim.mmstat import meminfo_text
        return meminfo_text(self)

    def buddy_counts(self) -> Dict[str, List[int]]:
        """/proc/buddyinfo as {"Node 0, zone DMA32": [nr_free per order]}."""
        return {f"Node {z['node']}, zone {z['zone']}": list(z["nr_free"])
                for z in self.physmem.zones_info()}

    def check_invariants(self, full: bool = True) -> List[str]:
        """The core's invariants (``--check``): the buddy allocator's accounting and free lists
        (:meth:`memsim.physmem.PhysMem.check_invariants`), the slab caches
        (:meth:`memsim.slab.SlabAllocator.check_invariants`), and against the page tables each
        mm's rss counters and hugetlb_usage, each page's mapcount, entire mapcount and refcount
        (:class:`memsim.mmcheck.MmCheck`).  Returns the problems found, first one first.

        ``full=False`` checks what changed since the last check: the tables written, the pages
        they map or mapped, the slab caches used, the free lists if any changed (the per-mm and
        per-zone counters every time).  It costs what the machine did since, not its size; the
        first check is full whatever is asked (it builds the page tables' shadow)."""
        problems = list(self.physmem.check_invariants(changed_only=not full))
        problems += self.physmem.check_lru(changed_only=not full, no_tasks=not self.live_mms())
        if self.slab is not None and hasattr(self.slab, "check_invariants"):
            problems += list(self.slab.check_invariants(changed_only=not full))
        if self._mmcheck is None:
            from memsim.mmcheck import MmCheck
            self._mmcheck = MmCheck(self.mmcore)
        cached: Dict[int, List[int]] = {}
        for t in self.tasks.values():
            if t.mm is not None:
                vals = cached.get(id(t.mm))
                if vals is None:
                    vals = cached[id(t.mm)] = list(t.mm.rss_raw)
                for i, d in enumerate(t.rss_cached):
                    vals[i] += d
        rss = [(mm, cached[id(mm)]) for mm in self.live_mms()]
        problems += self._mmcheck.check(rss, full)
        return problems

    def stop_checks(self) -> None:
        """No more invariant checks: the page tables stop recording what changed."""
        if self._mmcheck is not None:
            self._mmcheck.close()
            self._mmcheck = None


def _make_slab(machine: "Machine"):
    """The SLUB allocator, when its extension is built (memsim.slab), with the profile's boot
    caches and geometry rules (memsim.slab_layout.SLAB_LAYOUT)."""
    try:
        from memsim.slab import SlabAllocator
    except ImportError:
        return None
    from memsim.slab_layout import SLAB_LAYOUT
    from memsim.tracing.kallsyms import call_site
    options = machine.boot.slab
    return SlabAllocator(machine.physmem, machine.tb, machine.current, machine.spec.cpus, call_site,
                         nrexceptional=options.nrexceptional, nokmem=options.nokmem,
                         kasan_meta_size=options.kasan_meta_size,
                         min_align=options.min_align,
                         layout=SLAB_LAYOUT[machine.profile])
