"""``memsim sweep``: run a workload over many seeds and variants and count how the runs end
(docs/sweep.md).

Thin, as the rest of the CLI (STYLE 10, 12): click parses the options into a frozen
:class:`SweepOptions`; :func:`run_sweep` builds the grid and calls :mod:`memsim.workload.sweep`,
which knows nothing of click.  Every mistake is checked before anything runs and reported as
``memsim: <where>: <problem>; <fix>`` with exit code 2.  Exit codes otherwise: 0 when every run
passed or was killed by a signal the workload did not catch, 1 when a run failed an expect,
deadlocked or stopped on an error, 130 when Ctrl-C stopped the sweep (the runs that finished
are reported and written to ``--out``).

The report goes to standard output and does not depend on how the runs were made (one process,
a pool, a Dask cluster): the same grid prints the same text.  The progress bar (when standard
error is a terminal), where the runs go and how long they took go to standard error.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Optional, Tuple

import click

from memsim.errors import MemsimError, UsageError

EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class SweepOptions:
    """``memsim sweep``'s command line, parsed by click and not yet checked."""

    workload: str
    seeds: str
    patch_opts: Tuple[str, ...] = ()
    set_opts: Tuple[str, ...] = ()
    jobs: Optional[int] = None
    scheduler: Optional[str] = None
    out: Optional[str] = None
    as_json: bool = False
    check: bool = False
    plugin_opts: Tuple[str, ...] = ()


class _Bar:
    """A rich progress bar on standard error, started at the first progress report (after a
    process pool has forked its workers: rich refreshes from a thread); none when standard
    error is not a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        self.console = Console(stderr=True)
        self.progress = None
        self.task = None

    def start(self, where: str, total: int) -> None:
        self.console.print(f"memsim sweep: {total:,} runs on {where}", highlight=False, soft_wrap=True)

    def update(self, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self.progress = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("runs", total=total)
        self.progress.update(self.task, completed=done)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def sweep_command() -> click.Command:
    """The ``sweep`` command, with memsim.cli's ``-p no:NAME``.  A function rather than a
    module-level command so that this module does not import memsim.cli when memsim.cli
    imports it (``python -m memsim.cli`` runs a second copy of memsim.cli, which would find
    this module half-loaded), as memsim.cli_compare does."""
    from memsim.cli import _fail, plugin_option

    @click.command("sweep")
    @click.argument("workload", type=click.Path())
    @click.option("--seeds", "seeds", required=True, metavar="SEEDS",
                  help="The seeds to run: numbers and ranges, e.g. 0-999, 1,5,9 or 0-9,20-29.")
    @click.option("--patch", "patch_opts", multiple=True, metavar="NAME=on,off",
                  help="Run with the seed change NAME in each of these states (repeatable; see "
                       "'memsim patches').  Its metrics are reported and its events recorded.")
    @click.option("--set", "set_opts", multiple=True, metavar="KEY=V1,V2",
                  help="Run with the workload key at the dotted path KEY set to each of these values "
                       "(repeatable), e.g. machine.cpus=1,2,4.")
    @click.option("--jobs", type=int, default=None, metavar="N",
                  help="Processes to run on (default: the CPU count; 1: this process).")
    @click.option("--scheduler", metavar="ADDRESS",
                  help="Run on the Dask cluster of this scheduler (tcp://HOST:8786) instead of local "
                       "processes; needs pip install 'memsim[dask]' and memsim on every worker.")
    @click.option("--out", "out_path", metavar="FILE",
                  help="Also write one row per run: FILE.csv, FILE.jsonl (or .ndjson) or FILE.parquet.")
    @click.option("--json", "as_json", is_flag=True, help="Print the aggregate as JSON.")
    @click.option("--check", is_flag=True,
                  help="Verify the core's invariants after every scheduler slice of every run.")
    @plugin_option
    def sweep(workload, seeds, patch_opts, set_opts, jobs, scheduler, out_path, as_json, check, plugin_opts):
        """Run WORKLOAD under every seed of SEEDS and every combination of the --patch and --set
        values; print, per variant, how the runs ended, the spread of each metric and the seeds of
        the runs that did not pass (docs/sweep.md).

        Exit status: 0 when every run passed or was killed by a signal; 1 when a run failed an
        expect, deadlocked or stopped on an error; 2 for a mistake (nothing runs); 130 after Ctrl-C
        (the finished runs are reported and written to --out)."""
        opts = SweepOptions(workload, seeds, tuple(patch_opts), tuple(set_opts), jobs, scheduler,
                            out_path, as_json, check, tuple(plugin_opts))
        try:
            sys.exit(run_sweep(opts))
        except MemsimError as e:
            _fail(e)
        except KeyboardInterrupt:             # before or after the runs: nothing to keep
            click.echo("memsim: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return sweep


def run_sweep(opts: SweepOptions) -> int:
    """Check every option, run the sweep, print the report, write ``--out``; the exit code."""
    from memsim.cli import _disabled
    from memsim.workload import sweep as sw
    from memsim.workload.variant import WorkloadSource
    disabled = _disabled(opts.plugin_opts)
    if opts.scheduler is not None:
        if opts.jobs is not None:
            raise UsageError("--jobs", "sets the local processes, and --scheduler runs on a Dask "
                             "cluster instead", "leave out one of them")
        sw.require_dask()
    if opts.jobs is not None and opts.jobs < 1:
        raise UsageError(f"--jobs {opts.jobs}", "the number of processes must be at least 1",
                         "give --jobs 1 to run in this process")
    grid = sw.build_grid(sw.parse_seeds(opts.seeds), opts.patch_opts, opts.set_opts)
    if opts.out is not None:
        sw.check_out(opts.out)
    source = WorkloadSource.read(opts.workload)
    bar = _Bar()
    try:
        result = sw.sweep(source, grid, disabled=disabled, check=opts.check, jobs=opts.jobs,
                          scheduler=opts.scheduler, on_progress=bar.update,
                          on_start=lambda where: bar.start(where, grid.runs))
    finally:
        bar.stop()
    report = sw.SweepReport.build(result)
    if opts.as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(sw.format_report(report), nl=False)
    if opts.out is not None:
        sw.write_rows(opts.out, result)
    rate = f" ({result.done / result.wall_s:,.0f} runs/s)" if result.wall_s > 0 and result.done else ""
    state = "interrupted after " if result.interrupted else ""
    click.echo(f"memsim sweep: {state}{result.done:,} of {grid.runs:,} runs in {result.wall_s:.2f} s"
               f"{rate} on {result.where}" + (f"; rows in {opts.out}" if opts.out else ""), err=True)
    return sw.exit_code(result)
