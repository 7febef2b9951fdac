"""``memsim kdiff``: a C program on the live kernel against its memsim workload under v6.18.

Thin (STYLE 10, 12): click parses; :mod:`memsim.kdiff` compiles, runs, attributes, compares and
renders.  Exit status 0 when every check agrees, 1 when one differs, 2 for a mistake the user
can fix (not root, no tracefs, no compiler, a program that does not compile, a bad workload:
``memsim: <where>: <problem>; <fix>``, no traceback), 130 on Ctrl-C (the tracefs instance is
removed first).
"""
from __future__ import annotations

import json
import sys

import click

from memsim.errors import EXIT_INTERRUPTED, MemsimError, UsageError

EXIT_EQUAL = 0
EXIT_DIFFERENT = 1


def kdiff_command() -> click.Command:
    """The ``kdiff`` command (a function, as :func:`memsim.cli_compare.compare_command` is, so
    that this module does not import memsim.cli while memsim.cli imports it)."""
    from memsim.cli import _fail, set_option

    @click.command("kdiff")
    @click.argument("program", type=click.Path())
    @click.argument("workload", type=click.Path())
    @click.option("-D", "defines", multiple=True, metavar="NAME[=VALUE]",
                  help="Define a macro when compiling PROGRAM (cc -D; repeatable).")
    @set_option
    @click.option("--events", "event_globs", metavar="EVENTS",
                  help="Events to record on both sides, comma-separated system:event names "
                       "(default: kmem:mm_page_alloc, mm_page_free, mm_page_free_batched, rss_stat).")
    @click.option("--buffer-size", "buffer_kb", type=click.IntRange(min=64), metavar="KB",
                  help="The tracefs instance's buffer per CPU in KiB (default: twice what memsim "
                       "recorded, plus 16 MiB for the rest of the machine).")
    @click.option("--save-trace", "save_trace", metavar="FILE",
                  help="Also write the kernel's trace to FILE (with the program's pid on a "
                       "first '#' line).")
    @click.option("--force", is_flag=True,
                  help="Compare even when a setting of the live kernel makes it meaningless "
                       "(transparent_hugepage 'always').")
    @click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
    def kdiff(program, workload, defines, set_opts, event_globs, buffer_kb, save_trace, force,
              as_json):
        """Run PROGRAM (C) on the live kernel and WORKLOAD in memsim under v6.18, and compare.

        PROGRAM includes "memsim_kdiff.h" and calls kdiff_begin() before the part to compare
        and kdiff_end() in every process after it; it is compiled with cc, run with address
        randomisation off, and traced in a throw-away tracefs instance (root needed).  The
        summary has one line per check (= equal, ! different, ? inconclusive) and the first
        differing events side by side (docs/kdiff.md).  Exit status: 0 equal, 1 different, 2 a
        usage error.  Example:

        \b
            memsim kdiff tests/kernel/touch.c tests/kernel/touch-64.yaml -D PAGES=64
        """
        try:
            comp = run_kdiff(program, workload, defines, set_opts, event_globs, buffer_kb,
                             save_trace, force)
        except MemsimError as e:
            _fail(e)
        except KeyboardInterrupt:
            click.echo("memsim: interrupted (no tracefs instance is left behind)", err=True)
            sys.exit(EXIT_INTERRUPTED)
        from memsim.kdiff import render
        if as_json:
            click.echo(json.dumps(as_dict(comp), indent=2))
        else:
            click.echo(render(comp), nl=False)
        sys.exit(EXIT_EQUAL if comp.equal else EXIT_DIFFERENT)

    return kdiff


def run_kdiff(program, workload, defines, set_opts, event_globs, buffer_kb, save_trace, force):
    """What ``memsim kdiff`` does once click has parsed the options."""
    import os

    from memsim.cli import _overrides
    from memsim.kdiff import DEFAULT_EVENTS, kdiff
    events = DEFAULT_EVENTS
    if event_globs is not None:
        events = tuple(g.strip() for g in event_globs.split(",") if g.strip())
        bad = [g for g in events if ":" not in g or "*" in g]
        if not events or bad:
            raise UsageError("--events", f"{bad[0]!r} is not an event name" if bad else "no event given",
                             "give system:event names, e.g. --events kmem:mm_page_alloc,kmem:rss_stat")
    if not os.path.isfile(program):
        raise UsageError(program, "no such file", "give the path of a C program")
    overrides = _overrides(set_opts, ())
    if save_trace:
        parent = os.path.dirname(os.path.abspath(save_trace))
        if not os.path.isdir(parent):
            raise UsageError("--save-trace", f"directory {parent} does not exist", "create it first")
    return kdiff(program, workload, defines=defines, events=events, overrides=overrides,
                 force=force, buffer_kb=buffer_kb, save_trace=save_trace)


def as_dict(comp) -> dict:
    """``memsim kdiff --json``: the settings, each side's counts and notes, and the checks."""
    return {
        "equal": comp.equal,
        "settings": [{"name": s.name, "value": s.value, "verdict": s.verdict, "why": s.why}
                     for s in comp.settings],
        "sides": {side.name: {"events": len(side.events), "pages": len(side.pages),
                              "masked": side.masked, "notes": side.notes}
                  for side in (comp.kernel, comp.memsim)},
        "checks": [{"name": c.name, "equal": c.equal, "kernel": c.kernel, "memsim": c.memsim,
                    "doc": c.doc} for c in comp.checks],
    }
