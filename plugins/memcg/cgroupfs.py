"""The cgroup hierarchy of the memory controller, as a kernfs tree (kernel/cgroup/cgroup.c).

``cgroup: {version: 2}`` (the default) mounts ``cgroup2`` at /sys/fs/cgroup, the unified
hierarchy: a cgroup has its own memory cgroup only when its parent's
``cgroup.subtree_control`` enables ``memory`` (the root's does at boot, as systemd leaves it);
otherwise its tasks are charged to the nearest ancestor that has one.  ``version: 1`` mounts
the v1 memory controller at /sys/fs/cgroup/memory, where every cgroup has its memcg and the v1
files (memory.usage_in_bytes, memory.limit_in_bytes, memory.memsw.*, ...).

Users make and remove cgroups with the core's ``mkdir`` and ``rmdir`` steps and move a process
by writing its pid (``0``: the writer) to ``cgroup.procs``; a forked child starts in its
parent's cgroup.  Removing a cgroup takes it offline at once; its memcg stays *dying* while
charged pages, or swap slots recorded with its private id, pin it (``cgroup.stat``'s
nr_dying_descendants) and is freed with the last.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from memsim.pseudofs import KernfsSyscallOps, PseudoFs
from memsim.vfs import FileSystemType, VfsError

CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_SUPER_MAGIC = 0x27e0eb
#: where each version's hierarchy is mounted at boot
MOUNT_POINT = {2: "/sys/fs/cgroup", 1: "/sys/fs/cgroup/memory"}


class Cgroup:
    """struct cgroup of the hierarchy: its name, parent and children, the processes attached
    to it (thread-group leaders, in attach order) and its memory css (``memcg``: its own
    MemCgroup, or None when the memory controller is not enabled for it).  ``id`` is
    cgroup_id(): the kernfs id of its directory, which on 64-bit is the directory's inode
    number (1 for the root; kernfs hands out ids in order, never reusing one soon)."""

    def __init__(self, hierarchy: "Hierarchy", name: str, parent: Optional["Cgroup"]):
        self.hierarchy = hierarchy
        self.name = name
        self.parent = parent
        self.id = 0
        self.children: Dict[str, Cgroup] = {}
        self.tasks: Dict[int, Any] = {}         # pid -> TaskStruct of every thread here
        self.memcg = None
        self.subtree_control: set = set()
        self.online = True
        self.dying = False                      # offline, its memcg not yet freed
        self.level = 0 if parent is None else parent.level + 1

    @property
    def path(self) -> str:
        """The path below the hierarchy's root ("" for the root)."""
        if self.parent is None:
            return ""
        return f"{self.parent.path}/{self.name}" if self.parent.parent is not None else self.name

    def is_below(self, top: "Cgroup") -> bool:
        """A strict descendant of ``top``."""
        p = self.parent
        while p is not None:
            if p is top:
                return True
            p = p.parent
        return False

    def effective_memcg(self):
        """The memcg its tasks are charged to: its own, or the nearest ancestor's."""
        c = self
        while c.memcg is None:
            c = c.parent
        return c.memcg

    def populated(self) -> bool:
        """cgroup_is_populated(): a task here or in a descendant."""
        return bool(self.tasks) or any(c.populated() for c in self.children.values())

    def descendants(self) -> List["Cgroup"]:
        out = []
        for c in self.children.values():
            out.append(c)
            out.extend(c.descendants())
        return out

    def __repr__(self) -> str:
        return f"<Cgroup /{self.path}>"


class Hierarchy:
    """One mounted hierarchy with the memory controller (struct cgroup_root) and its files."""

    def __init__(self, machine: Any, host: Any, version: int, profile: Any, reclaim: Any = None):
        from memsim.plugins.memcg import files
        self.machine = machine
        self.host = host
        self.reclaim = reclaim                  # MemcgReclaim: the memcgs' lruvecs
        self.version = version
        self.profile = profile
        fs_type = CGROUP2_FS_TYPE if version == 2 else CGROUP_FS_TYPE
        self.fs = PseudoFs(fs_type, "kernfs", 0o755,
                           KernfsSyscallOps(mkdir=self._kernfs_mkdir, rmdir=self._kernfs_rmdir),
                           extra_open_perm_check=False)
        self.root = Cgroup(self, "", None)
        self.fs.sb.s_root.d_inode.i_private = self.root
        self.root.id = self.fs.sb.s_root.d_inode.i_ino      # 1, as the kernel's root cgroup
        self.root.memcg = host.root
        host.root.cgroup = self.root
        if version == 2:
            self.root.subtree_control = {"memory"}
        self.dying: List[Cgroup] = []
        self.memcg_in_oom: Dict[int, Any] = {}      # pid -> current->memcg_in_oom (v1)
        self.oom_waiters: List[Any] = []            # (memcg, WaitQueue) of tasks in a memcg OOM
        self.lruvec_leaks: List[tuple] = []     # (memcg id, LRU pages) of a memcg freed with pages
        self.files = files
        files.populate(self, self.root)
        host.release_hook = self._memcg_freed

    # -- lookup -------------------------------------------------------------------------------
    def cgroup_at(self, path: str) -> Optional[Cgroup]:
        """The cgroup at ``path`` below the hierarchy's root."""
        c = self.root
        for part in [p for p in path.split("/") if p]:
            c = c.children.get(part)
            if c is None:
                return None
        return c

    def task_cgroup(self, task: Any) -> Cgroup:
        for c in [self.root] + self.root.descendants():
            if task.pid in c.tasks:
                return c
        return self.root

    # -- mkdir and rmdir (cgroup_mkdir, cgroup_rmdir) -----------------------------------------
    def _kernfs_mkdir(self, parent_dentry, name: str, mode: int) -> None:
        parent = parent_dentry.d_inode.i_private
        if not isinstance(parent, Cgroup) or not parent.online:
            raise VfsError("ENODEV", "the parent cgroup is gone")
        if "\n" in name:
            raise VfsError("EINVAL", "a cgroup name has no newline")
        self.mkdir(parent, name, mode)

    def mkdir(self, parent: Cgroup, name: str, mode: int = 0o755) -> Cgroup:
        """cgroup_mkdir() -> cgroup_create() (the directory: its kernfs id is the cgroup's id)
        + css_create(): its memcg when the parent's subtree enables memory (v1: always), then
        its files."""
        if name in parent.children:
            raise VfsError("EEXIST", f"cgroup {name!r} exists")
        child = Cgroup(self, name, parent)
        parent.children[name] = child
        child.id = self.fs.mkdir(child.path, mode, private=child).d_inode.i_ino
        if self.version == 1 or "memory" in parent.subtree_control:
            child.memcg = self.host.css_alloc(parent.effective_memcg(), child)
            if self.reclaim is not None:
                self.reclaim.css_online(child.memcg)     # its lruvecs
        self.files.populate(self, child)
        return child

    def _kernfs_rmdir(self, dentry) -> None:
        cg = dentry.d_inode.i_private
        if not isinstance(cg, Cgroup):
            raise VfsError("ENOTDIR", "not a cgroup")
        self.rmdir(cg)

    def rmdir(self, cg: Cgroup) -> None:
        """cgroup_rmdir() -> cgroup_destroy_locked(): EBUSY while a task is in it or below it or
        a live child remains; then the memory css goes offline (dying until freed)."""
        if cg.parent is None:
            raise VfsError("EBUSY", "the root cgroup")
        if cg.populated():
            raise VfsError("EBUSY", f"cgroup /{cg.path} has tasks")
        if any(c.online for c in cg.children.values()):
            raise VfsError("EBUSY", f"cgroup /{cg.path} has child cgroups")
        self.fs.remove(cg.path)
        cg.online = False
        del cg.parent.children[cg.name]
        memcg = cg.memcg
        if memcg is not None:
            cg.dying = True
            self.dying.append(cg)
            self.host.css_offline(memcg)       # may free it at once (nothing pins it)

    def _memcg_freed(self, memcg) -> None:
        """css_free of a memcg: its lruvecs go (mem_cgroup_css_free) and its cgroup is no
        longer dying (cgroup_release)."""
        if self.reclaim is not None:
            left = self.reclaim.css_free(memcg)
            if left:
                self.lruvec_leaks.append((memcg.id, left))
        cg = memcg.cgroup
        if cg is not None and cg.dying:
            cg.dying = False
            self.dying.remove(cg)

    # -- v1 oom_kill_disable: tasks waiting in a memcg OOM (mem_cgroup_oom_synchronize) ------------
    def oom_synchronize(self, task: Any) -> Any:
        """mem_cgroup_oom_synchronize(true), from pagefault_out_of_memory(): a task whose user
        fault failed in a memcg OOM with oom_kill_disable marks the memcg's subtree under OOM
        and sleeps until memcg_oom_recover() wakes it (an uncharge, a limit raised,
        oom_kill_disable cleared); then the fault is taken again.  If oom_kill_disable was
        cleared meanwhile, the OOM killer runs instead and the fault is retried at once
        (PREEMPT).  None: the task is not in a memcg OOM."""
        from memsim.plugins.memcg.oom import memcg_out_of_memory
        from memsim.profiles import GFP_KERNEL
        from memsim.plugins.memcg.v1files import knobs
        from memsim.sched import PREEMPT, WaitQueue
        memcg = self.memcg_in_oom.pop(task.pid, None)
        if memcg is None:
            return None
        if memcg.cgroup is not None and not knobs(memcg.cgroup).oom_kill_disable:
            memcg_out_of_memory(self.machine, memcg, GFP_KERNEL, 0)
            return PREEMPT
        self._mark_under_oom(memcg, 1)
        waitq = WaitQueue(f"memcg_oom_waitq ({task.comm}-{task.pid})")
        self.oom_waiters.append((memcg, waitq))
        return waitq

    def oom_recover(self, memcg: Any) -> None:
        """memcg_oom_recover(): wake the OOM waiters whose memcg and ``memcg`` are in one line
        of descent (memcg_oom_wake_function); each unmarks its subtree."""
        from memsim.plugins.memcg.memcontrol import is_descendant
        if not memcg.under_oom:
            return
        keep = []
        for waiting, waitq in self.oom_waiters:
            if is_descendant(waiting, memcg) or is_descendant(memcg, waiting):
                self._mark_under_oom(waiting, -1)
                waitq.wake_up()
            else:
                keep.append((waiting, waitq))
        self.oom_waiters = keep

    def _mark_under_oom(self, memcg: Any, n: int) -> None:
        """mem_cgroup_mark_under_oom() / unmark: the memcg and every descendant."""
        from memsim.plugins.memcg.memcontrol import is_descendant
        for m in self.host.memcgs.values():
            if is_descendant(m, memcg):
                m.under_oom = max(0, m.under_oom + n)

    def nr_descendants(self, cg: Cgroup) -> int:
        return len(cg.descendants())

    def nr_dying_descendants(self, cg: Cgroup) -> int:
        """Dying cgroups below ``cg`` (removed, their memcg still pinned)."""
        return sum(1 for d in self.dying if d.is_below(cg))

    # -- tasks (cgroup_attach_task, cgroup_post_fork, cgroup_exit) ----------------------------
    def attach(self, leader: Any, cg: Cgroup) -> None:
        """Move a whole thread group (cgroup.procs) to ``cg``: its memcg changes for later
        charges; pages already charged stay where they are."""
        for t in self.machine.thread_group(leader):
            self._move(t, cg)

    def attach_thread(self, task: Any, cg: Cgroup) -> None:
        """Move one thread (v1 ``tasks``): its kernel allocations charge ``cg``; its user pages
        still charge the memcg of its mm's owner."""
        self._move(task, cg)

    def _move(self, task: Any, cg: Cgroup) -> None:
        old = self.task_cgroup(task)
        old.tasks.pop(task.pid, None)
        cg.tasks[task.pid] = task
        task.memcg = cg.effective_memcg()

    def fork(self, parent: Optional[Any], child: Any) -> None:
        """cgroup_post_fork(): the child joins its parent's cgroup (the root for a task the
        workload starts)."""
        cg = self.task_cgroup(parent) if parent is not None else self.root
        cg.tasks[child.pid] = child
        child.memcg = cg.effective_memcg()

    def exit(self, task: Any) -> None:
        """cgroup_exit(): the task leaves its cgroup; the memory controller's exit
        (mem_cgroup_exit, v6.x) drops its current->objcg."""
        for c in [self.root] + self.root.descendants():
            if c.tasks.pop(task.pid, None) is not None:
                break
        if self.host.kmem is not None:
            self.host.kmem.task_exit(task.pid)


#: mount options each version takes (cgroup2_parse_param; cgroup1_parse_param)
MOUNT_OPTIONS = {2: ("nsdelegate", "favordynmods", "memory_localevents", "memory_recursiveprot",
                     "memory_hugetlb_accounting"),
                 1: ("memory", "none", "noprefix", "clone_children", "xattr", "cpuset_v2_mode",
                     "favordynmods", "name", "release_agent")}


def _mount(fc) -> Any:
    """cgroup_get_tree() / cgroup1_get_tree(): the machine's hierarchy of that version (its one
    superblock); ENODEV (v2) or EBUSY (v1) when the memory controller is bound to the other."""
    from memsim.plugins.memcg import hierarchy
    version = 2 if fc.fs_type.name == "cgroup2" else 1
    h = hierarchy(fc.machine)
    for name, _value in fc.options:
        if name not in MOUNT_OPTIONS[version]:
            raise VfsError("EINVAL", f"unknown cgroup{'2' if version == 2 else ''} mount option {name!r}")
    if h is None or h.version != version:
        raise VfsError("EBUSY", "the memory controller is bound to the other cgroup version")
    return h.fs.sb


CGROUP2_FS_TYPE = FileSystemType("cgroup2", "the unified cgroup hierarchy with the memory "
                                 "controller (the memcg plugin)", _mount, plugin="memcg")
CGROUP_FS_TYPE = FileSystemType("cgroup", "a cgroup v1 hierarchy; the memcg plugin's has the "
                                "memory controller", _mount, plugin="memcg")
