# cython: language_level=3
"""task_struct and ``current``: who runs on which emulated CPU (include/linux/sched.h)."""
from libc.stdint cimport int32_t, int64_t
from memsim._types cimport NR_MM_COUNTERS, mempolicy

cdef struct task_rss_stat:
    int32_t events                      # faults since the last sync_mm_rss
    int64_t count[NR_MM_COUNTERS]       # cached deltas (SPLIT_RSS_COUNTING)

cdef class TaskStruct:
    cdef public int32_t pid
    cdef public int32_t tgid
    cdef public str comm
    cdef public int cpu
    cdef public object mm               # MmStruct, or None once exited
    cdef public object name             # workload task name
    cdef public object files            # memsim.vfs.FilesStruct: the fd table (task->files)
    cdef task_rss_stat rss_stat
    cdef mempolicy* mempolicy           # set_mempolicy(); never NULL: mode MPOL_DEFAULT = local node
    cdef public TaskStruct real_parent  # the task that forked it (None: started by the workload, or reparented)
    cdef public int oom_score_adj       # signal->oom_score_adj: -1000 (never killed) .. 1000
    cdef public bint sigkill_pending    # fatal_signal_pending(): SIGKILL sent, not yet delivered
    cdef public bint oom_victim         # tsk_is_oom_victim(): marked by mark_oom_victim (TIF_MEMDIE)
    cdef public bint notify_resume      # TIF_NOTIFY_RESUME: work for the return to user mode
                                        # (Machine.resume_user_mode: memcg's memory.high penalty)
    cdef public object memcg            # task_css(task, memory_cgrp_id) of the task's css_set: the
                                        # memcg plugin's MemCgroup (None: no memcg, or the root)

cdef class Current:
    """``current`` and ``smp_processor_id()`` of the step being executed."""
    cdef public TaskStruct task
    cdef public int cpu
    cdef public int32_t pid
    cdef mempolicy* mempolicy           # current->mempolicy (the task's, kept in step by set())
