"""A progress display for work a person waits on: a rich bar on standard error (a workload run,
a trace command reading a large file).

Nothing is drawn when standard error is not a terminal (a pipe, a file, a test), nor before
:attr:`RunProgress.DELAY` seconds of work: a short run prints exactly what it printed before.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, Tuple


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


class TraceProgress:
    """The progress of a ``memsim trace`` command reading ``reader``: events read, how far into
    the file (:meth:`memsim.tracing.reader.TraceReader.position`, when the input is a regular
    file) and the time taken; on a terminal only, after :attr:`DELAY` seconds, as
    :class:`RunProgress`.

    Wrap what the command consumes -- ``progress.batches(reader.batches())`` or
    ``progress.records(reader.records())`` -- so the count follows; :meth:`where` says how far
    it got, for the message of a Ctrl-C.
    """

    DELAY = 2.0
    INTERVAL = 0.1
    EVERY = 8192        # records between two looks at the clock

    def __init__(self, label: str, name: str = "the trace", console: Any = None):
        self.console = console          # None: standard error's, made on the first draw
        self.label = label
        self.name = name
        self.enabled = bool(console.is_terminal) if console is not None else _stderr_is_terminal()
        self.reader: Any = None
        self.events = 0
        self.doing = "opening"          # what the command is at: opening, reading, writing
        self.target: Optional[str] = None
        self.last_position: Optional[Tuple[int, int]] = None
        self.start = time.monotonic()
        self.next_draw: Optional[float] = None      # start + DELAY, on the first tick
        self.progress: Optional[Any] = None
        self.task: Any = None

    def __enter__(self) -> "TraceProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reading(self, reader: Any) -> None:
        """The command has opened ``reader`` and reads it now."""
        self.reader = reader
        self.name = reader.name
        self.doing = "reading"

    def writing(self, path: str) -> None:
        """The command has read its input and writes ``path`` now."""
        self.doing = "writing"
        self.target = path

    def batches(self, batches: Any) -> Any:
        """``batches`` (of :class:`~memsim.tracing.columns.Columns`), counted as they pass."""
        for cols in batches:
            self.events += len(cols)
            self.position()
            self.tick()
            yield cols

    def records(self, records: Any) -> Any:
        """``records`` (:class:`~memsim.tracing.record.Record`), counted as they pass."""
        n = 0
        every = self.EVERY
        for rec in records:
            n += 1
            if n == every:
                self.events += n
                n = 0
                self.position()
                self.tick()
            yield rec
        self.events += n

    def position(self) -> Optional[Tuple[int, int]]:
        """(bytes read, bytes in all) of the input; the last known once the reader is closed
        (a Ctrl-C closes it before :meth:`where` is asked)."""
        pos = self.reader.position() if self.reader is not None else None
        if pos and pos[1] > 0:
            self.last_position = pos
        return self.last_position

    def where(self) -> str:
        """``reading trace.txt: 523,441 events read, 41% of the file`` (or ``opening
        trace.txt``, ``writing out.dat: 1,121,806 events read``)."""
        if self.reader is None:
            return f"opening {self.name}"
        if self.doing == "writing":
            return f"writing {self.target}: {self.events:,} events read"
        text = f"reading {self.name}: {self.events:,} events read"
        pos = self.position()
        if pos is not None:
            text += f", {min(100, 100 * pos[0] // pos[1])}% of the file"
        return text

    def tick(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.next_draw is None:
            self.next_draw = self.start + self.DELAY
        if now < self.next_draw:
            return
        self.next_draw = now + self.INTERVAL
        pos = self.position()
        if self.progress is None:
            from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn)
            if self.console is None:
                from rich.console import Console
                self.console = Console(stderr=True)
            self.progress = Progress(TextColumn(self.label), BarColumn(), TaskProgressColumn(),
                                     TextColumn("{task.fields[events]} events"),
                                     TimeElapsedColumn(), console=self.console, transient=True,
                                     auto_refresh=False)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=pos[1] if pos else None,
                                               events="0")
        self.progress.update(self.task, completed=pos[0] if pos else 0,
                             events=f"{self.events:,}")
        self.progress.refresh()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _stderr_is_terminal() -> bool:
    """Whether standard error is a terminal (without importing rich: the trace commands' start-up
    is part of what they are timed at)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
