"""memsim.progress: a bar on a terminal for a run a person waits on, nothing otherwise (issue 9)."""
import io

from rich.console import Console

from memsim.progress import RunProgress
from memsim.api import prepare

WORKLOAD = """\
machine: {nodes: [{memory: 64 MiB}]}
tasks:
  - name: a
    steps:
      - mmap: {name: buf, length: 8 MiB}
      - touch: {vma: buf, access: write}
      - munmap: {vma: buf}
"""


def run_with(console, delay, check=False):
    bar = RunProgress(3, check, console=console)
    bar.DELAY = delay
    calls = []

    def progress(run):
        calls.append(run.steps_done)
        bar(run)
    run = prepare(WORKLOAD, check=check)
    run.progress = progress
    with bar:
        run.execute()
    return run, calls


def test_a_terminal_gets_the_bar_once_the_work_is_long_enough():
    out = io.StringIO()
    run, calls = run_with(Console(file=out, force_terminal=True, width=120), delay=0.0, check=True)
    assert run.error is None and calls and calls[-1] == 3
    text = out.getvalue()
    assert "memsim run" in text and "steps" in text and "checks" in text


def test_nothing_is_drawn_before_the_delay_nor_off_a_terminal():
    out = io.StringIO()
    run_with(Console(file=out, force_terminal=True, width=120), delay=3600.0)
    assert out.getvalue() == ""
    out = io.StringIO()
    run_with(Console(file=out, force_terminal=False, width=120), delay=0.0)
    assert out.getvalue() == ""
