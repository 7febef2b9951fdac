"""A progress display for work a person waits on: a rich bar on standard error.

Nothing is drawn when standard error is not a terminal (a pipe, a file, a test), nor before
:attr:`RunProgress.DELAY` seconds of work: a short run prints exactly what it printed before.
"""
from __future__ import annotations

import time
from typing import Any, Optional


class RunProgress:
    """The progress of one workload run (``memsim run``): steps done of the workload's steps,
    emulated time, scheduler slices and, with ``--check``, the invariant checks made.

    Pass it as :attr:`memsim.workload.runner.Run.progress` (it is called after every scheduler
    slice and redraws at most every :attr:`INTERVAL` seconds); use it as a context manager so the
    bar goes away when the run ends.  ``console``: a ``rich.console.Console`` (standard error's
    by default).
    """

    DELAY = 2.0         # seconds of work before the bar appears
    INTERVAL = 0.1      # seconds between redraws

    def __init__(self, total_steps: int, check: bool = False, console: Any = None,
                 label: str = "memsim run"):
        if console is None:
            from rich.console import Console
            console = Console(stderr=True)
        self.console = console
        self.total_steps = total_steps
        self.check = check
        self.label = label
        self.enabled = bool(console.is_terminal)
        self.start = time.monotonic()
        self.next_draw = self.start + self.DELAY
        self.progress: Optional[Any] = None
        self.task: Any = None

    def __enter__(self) -> "RunProgress":
        self.start = time.monotonic()
        self.next_draw = self.start + self.DELAY
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __call__(self, run: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self.next_draw:
            return
        self.next_draw = now + self.INTERVAL
        if self.progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)
            columns = [TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                       TextColumn("steps  {task.fields[emulated]} s emulated  "
                                  "{task.fields[slices]} slices{task.fields[checks]}"),
                       TimeElapsedColumn()]
            self.progress = Progress(*columns, console=self.console, transient=True,
                                     auto_refresh=False)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total_steps, emulated="0",
                                               slices=0, checks="")
        checks = f", {run.checks_run:,} checks" if self.check else ""
        self.progress.update(self.task, completed=min(run.steps_done, self.total_steps),
                             emulated=f"{run.machine.clock.now / 1e9:.6f}",
                             slices=f"{run.scheduler.switches:,}", checks=checks)
        self.progress.refresh()

    def stop(self) -> None:
        """Take the bar off the terminal (it is transient)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
