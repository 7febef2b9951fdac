"""Type stubs for memsim.task (Cython)."""
from typing import Any, Optional, Tuple

class TaskStruct:
    pid: int
    tgid: int
    comm: str
    cpu: int
    mm: Any
    name: Any
    real_parent: Optional[TaskStruct]
    files: Any
    oom_score_adj: int
    memcg: Any
    notify_resume: bool
    sigkill_pending: bool
    oom_victim: bool
    def __init__(self, pid: int, comm: str, cpu: int = 0, mm: Any = None, tgid: int = -1, name: Any = None,
                 real_parent: Optional[TaskStruct] = None) -> None: ...
    @property
    def rss_cached(self) -> Tuple[int, int, int, int]: ...
    @property
    def rss_events(self) -> int: ...

class Current:
    task: Optional[TaskStruct]
    cpu: int
    pid: int
    def set(self, task: Optional[TaskStruct]) -> None: ...
