# cython: language_level=3
"""task_struct and ``current`` (include/linux/sched.h, include/linux/mm_types_task.h)."""
from libc.stdlib cimport calloc, free
from memsim._types cimport NR_MM_COUNTERS, mempolicy


cdef class TaskStruct:
    """One emulated task: pid, comm, the CPU it runs on, its mm, its fd table (``files``, a
    :class:`memsim.vfs.FilesStruct`: copied at fork, shared by threads, None once exited) and its
    cached rss deltas."""

    def __cinit__(self):
        # allocated once and changed in place, so that ``current``'s copy of the pointer stays
        # valid (the allocation paths read it without touching the TaskStruct)
        self.mempolicy = <mempolicy*>calloc(1, sizeof(mempolicy))
        if self.mempolicy == NULL:
            raise MemoryError()
        self.mempolicy.il_prev = -1

    def __dealloc__(self):
        free(self.mempolicy)

    def __init__(self, int pid, str comm, int cpu=0, object mm=None, int tgid=-1, name=None,
                 TaskStruct real_parent=None):
        self.pid = pid
        self.tgid = pid if tgid < 0 else tgid
        self.comm = comm[:15]
        self.cpu = cpu
        self.mm = mm
        self.name = name if name is not None else comm
        self.real_parent = real_parent
        self.files = None
        # copy_signal(): a new process or thread inherits its creator's oom_score_adj
        self.oom_score_adj = real_parent.oom_score_adj if real_parent is not None else 0
        self.sigkill_pending = False
        self.oom_victim = False
        self.memcg = None                   # memsim_task_fork: the memcg plugin sets it
        self.notify_resume = False

    @property
    def rss_cached(self):
        """The per-task cached rss deltas (current->rss_stat.count)."""
        return tuple(self.rss_stat.count[i] for i in range(NR_MM_COUNTERS))

    @property
    def rss_events(self):
        return self.rss_stat.events

    def __repr__(self):
        return f"<TaskStruct {self.comm}-{self.pid} cpu={self.cpu}>"


cdef class Current:
    def __cinit__(self):
        self.mempolicy = NULL

    def __init__(self):
        self.task = None
        self.cpu = 0
        self.pid = 0

    def set(self, TaskStruct task):
        """Make ``task`` current on its CPU (context switch)."""
        self.task = task
        if task is None:
            self.cpu = 0
            self.pid = 0
            self.mempolicy = NULL
        else:
            self.cpu = task.cpu
            self.pid = task.pid
            self.mempolicy = task.mempolicy
