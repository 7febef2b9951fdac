"""``memsim compare``: a workload run with a seed change on and off, side by side.

Thin (STYLE 10, 12): click parses; :mod:`memsim.compare` runs both sides, builds the comparison
and renders it.  Every error a user can cause is ``memsim: <where>: <problem>; <fix>`` with exit
status 2 and no traceback; a side whose workload fails (an ``expect`` that does not hold, a
deadlock) is part of the comparison, shown in its status, and the exit status stays 0.
"""
from __future__ import annotations

import importlib.util
import json
import sys

import click

from memsim.errors import EXIT_INTERRUPTED, MemsimError, UsageError


def compare_command() -> click.Command:
    """The ``compare`` command, with the options memsim.cli defines once for every command
    (``--set``, ``-p``).  A function rather than a module-level command so that this module
    does not import memsim.cli when memsim.cli imports it (``python -m memsim.cli`` runs a
    second copy of memsim.cli, which would find this module half-loaded)."""
    from memsim.cli import _fail, plugin_option, seed_option, set_option

    @click.command("compare")
    @click.argument("workload", type=click.Path())
    @click.option("--patch", "patch_opts", multiple=True, metavar="NAME",
                  help="The seed change to run on and then off (NAME or NAME=on,off; see 'memsim patches').")
    @seed_option
    @set_option
    @click.option("--events", "event_globs", metavar="GLOBS",
                  help="Events to record, comma-separated set_event globs (default: all, so the "
                       "per-event counts are complete).")
    @click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object.")
    @click.option("--plot", "plot_path", metavar="OUT.png",
                  help="Draw both runs' timelines on shared axes into this PNG (needs memsim[plot]).")
    @plugin_option
    def compare(workload, patch_opts, seed, set_opts, event_globs, as_json, plot_path, plugin_opts):
        """Run WORKLOAD with a seed change on, then off, with the same seed, and print what differs.

        Columns: on, off, and diff (off minus on; blank when equal).  Ctrl-C stops the run
        at its next preemption point, says where it was and exits with status 130.  Example:

        \b
            memsim compare configs/patch-rss-stat-symbolic.yaml --patch rss-stat-symbolic
        """
        try:
            run_compare(workload, patch_opts, seed, set_opts, event_globs, as_json, plot_path, plugin_opts)
        except MemsimError as e:
            _fail(e)
        except KeyboardInterrupt as e:      # memsim.errors.Interrupted says where the run was
            click.echo(f"memsim: {e}" if str(e) else "memsim: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return compare


def run_compare(workload, patch_opts, seed, set_opts, event_globs, as_json, plot_path, plugin_opts):
    """What ``memsim compare`` does once click has parsed the options."""
    from memsim.cli import _disabled, _overrides
    from memsim.compare import comparison, parse_compare_patch, plot_sides, render_text, run_sides
    from memsim.workload.variant import Host, WorkloadSource, parse_seed
    seed = parse_seed(seed, "--seed") if seed is not None else None
    patch = parse_compare_patch(patch_opts)
    overrides = _overrides(set_opts, ())
    if plot_path is not None:
        from memsim.tracing.plot import check_output
        check_output(plot_path, "--plot", "compare.png")
        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot", "matplotlib is not installed",
                             "pip install 'memsim[plot]' to draw timelines, or leave --plot out")
    globs = [g.strip() for g in event_globs.split(",") if g.strip()] if event_globs else None
    if event_globs is not None and not globs:
        raise UsageError("--events", "no event given", "give set_event globs, e.g. --events 'kmem:*'")
    host = Host(_disabled(plugin_opts))
    runs = run_sides(host, WorkloadSource.read(workload), patch, seed=seed, overrides=overrides,
                     events=globs)
    comp = comparison(runs, patch, overrides=overrides, events=globs)
    if as_json:
        click.echo(json.dumps(comp, indent=2))
    else:
        click.echo(render_text(comp), nl=False)
    if plot_path is not None:
        panels = plot_sides(runs, plot_path, title=f"{workload} --patch {patch}")
        click.echo(f"{plot_path}: {', '.join(panels) or 'no events'}", err=True)
