"""The ``memsim`` command line: thin click wrappers around the workload runner and the registries.

click parses; a frozen run configuration is built; every error a user can cause is printed as
``<where>: <problem>; <fix>`` with a non-zero exit code and no traceback (STYLE 10, 12).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Optional, Sequence, Tuple

import click

from memsim import __version__
from memsim.errors import EXIT_INTERRUPTED, MemsimError, UsageError

EXIT_OK = 0


def _debug() -> bool:
    """``memsim --debug`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


def _fail(err: MemsimError) -> None:
    """Print ``memsim: <where>: <problem>; <fix>`` (after the traceback, with ``--debug``) and
    exit with the error's code."""
    if _debug():
        import traceback
        click.echo("".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip("\n"),
                   err=True)
    click.echo(f"memsim: {err}", err=True)
    sys.exit(err.exit_code)


def _disabled(plugin_opts: Sequence[str]) -> Tuple[str, ...]:
    out = []
    for opt in plugin_opts:
        if not opt.startswith("no:") or len(opt) <= 3:
            raise UsageError("-p", f"{opt!r} is not a plugin option",
                             "write -p no:NAME to disable the plugin NAME (see 'memsim plugins')")
        out.append(opt[3:])
    return tuple(out)


def _host(plugin_opts: Sequence[str], kernel: str, patch_opts: Sequence[str] = ()):
    """Plugins loaded (minus the disabled ones) and their registries for one kernel profile,
    with the seed changes of ``--patch NAME=on|off`` switched."""
    from memsim.patches import default_states
    from memsim.profiles import PROFILES, get_profile
    from memsim.workload.variant import Host
    host = Host(_disabled(plugin_opts))
    states = dict(_patch_states(patch_opts))
    host.check_patches(states)
    base = default_states(get_profile(kernel)).with_states(states) if kernel in PROFILES else None
    registries, events = host.registries(kernel, base)
    return host.pm, registries, events


def _patch_states(patch_opts: Sequence[str]):
    """(name, on) of every ``--patch NAME=on|off``; a name given twice is an error."""
    from memsim.workload.variant import parse_patch
    seen = {}
    for opt in patch_opts:
        name, states = parse_patch(opt, many=False)
        if name in seen:
            raise UsageError(f"--patch {opt}", f"{name} is given twice", "give each seed change once")
        seen[name] = states[0]
    return list(seen.items())


def _overrides(set_opts: Sequence[str], patch_opts: Sequence[str]):
    """The workload overrides of ``--set KEY=VALUE`` and ``--patch NAME=on|off`` (one value each)."""
    from memsim.workload.variant import Override, parse_set, patch_override
    out = []
    for opt in set_opts:
        path, values = parse_set(opt, many=False)
        out.append(Override(path, values[0], f"--set {opt}"))
    for name, on in _patch_states(patch_opts):
        out.append(patch_override(name, on))
    return out


plugin_option = click.option("-p", "plugin_opts", multiple=True, metavar="no:NAME",
                             help="Disable the plugin NAME (repeatable), as with pytest's -p no:NAME.")
#: one state of a seed change (run, check, events; compare and sweep declare their own)
patch_option = click.option("--patch", "patch_opts", multiple=True, metavar="NAME=on|off",
                            help="Turn the seed change NAME on or off (repeatable; overrides "
                                 "machine.patches; see 'memsim patches').")
set_option = click.option("--set", "set_opts", multiple=True, metavar="KEY=VALUE",
                          help="Set the workload key at the dotted path KEY (machine.cpus=2, "
                               "tasks.0.cpu=1; repeatable; overrides the file).")
#: ``--seed N``, checked as machine.seed is (memsim.workload.variant.parse_seed) when the command runs
seed_option = click.option("--seed", "seed", metavar="N",
                           help="Override machine.seed, 0 to 2**64-1 (scheduling, random touches, "
                                "pointer hashes).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memsim")
@click.option("--debug", is_flag=True,
              help="Print the traceback of an error before its message (a plugin's bug, exit code 3).")
def main(debug):
    """memsim: a Linux memory-management emulator.

    Run a YAML workload on an emulated machine and get a summary and a kernel-format trace.

    \b
    Exit codes: 0 ok; 1 an expect did not hold (sweep: a run did not pass);
    2 a mistake in the workload, the command line or a file; 3 a bug (a
    plugin's exception, an invariant broken under --check); 130 Ctrl-C.
    """


#: trace.dat output (memsim.tracing.tracedat_write); shared by every command that writes one
dat_version_option = click.option(
    "--dat-version", "dat_version", type=click.Choice(["7", "6"]), default=None,
    help="trace.dat file version: 7 (default, sections, compressible) or 6 (always uncompressed).")
dat_compression_option = click.option(
    "--dat-compression", "dat_compression", type=click.Choice(["zstd", "none"]), default=None,
    help="trace.dat compression: zstd (default for version 7) or none.")


@main.command()
@click.argument("workload", type=click.Path())
@click.option("--trace", "trace_path", metavar="FILE|-",
              help="Record every event to FILE as the run goes (as 'trace-cmd record' does; "
                   "nothing is lost however long the run): FILE.dat as trace-cmd's trace.dat "
                   "(read it with 'trace-cmd report'), any other FILE or - (standard output) as "
                   "the kernel's 'trace' file text.")
@click.option("--trace-ring", "ring_path", metavar="FILE|-",
              help="Write what the ring buffer holds at the end instead (the kernel's 'trace' "
                   "file): at most machine.trace_buffer per CPU, the oldest events overwritten "
                   "(or, with machine.trace_overwrite: false, the newest dropped).")
@dat_version_option
@dat_compression_option
@click.option("--events", "event_globs", metavar="GLOBS",
              help="Events to enable, comma-separated set_event globs (default with --trace: all).")
@seed_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--check", is_flag=True,
              help="Verify the core's invariants after every scheduler slice (what changed since "
                   "the last check) and once more in full at the end.")
@click.option("--show", "show_paths", metavar="PATH", multiple=True,
              help="Print this file of the emulated machine (/proc/vmstat, /sys/...) at the end "
                   "of the run, after the summary (repeatable).")
@click.option("--ls", "list_files", is_flag=True,
              help="List every file and directory of the emulated machine, with its mode, at the "
                   "end of the run.")
@click.option("--dmesg", "dmesg_path", metavar="FILE",
              help="Write the kernel log (what dmesg would print: KASAN reports, panics) to "
                   "FILE (- for standard error) at the end of the run, also when the run stops "
                   "early.")
@patch_option
@set_option
@plugin_option
def run(workload, trace_path, ring_path, dat_version, dat_compression, event_globs, seed, as_json,
        check, show_paths, list_files, dmesg_path, patch_opts, set_opts, plugin_opts):
    """Run WORKLOAD and print a summary.

    Ctrl-C stops the run at its next preemption point, writes the trace recorded so far,
    says where the run was and exits with status 130."""
    phase = ["while loading the workload; nothing was run"]
    try:
        _run(workload, trace_path, event_globs, seed, as_json, check, plugin_opts,
             dat_version, dat_compression, show_paths, list_files, patch_opts, set_opts, ring_path,
             phase, dmesg_path)
    except MemsimError as e:
        _fail(e)
    except KeyboardInterrupt:               # not at a preemption point of the run
        click.echo(f"memsim: interrupted {phase[0]}", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _is_dat(trace_path: Optional[str]) -> bool:
    from memsim.tracing.recorder import is_dat
    return is_dat(trace_path)


def _dat_format(trace_path: Optional[str], dat_version: Optional[str],
                dat_compression: Optional[str]) -> Tuple[int, str]:
    """(file version, compression) of a trace.dat --trace, checked before anything runs."""
    if not _is_dat(trace_path):
        given = "--dat-version" if dat_version else "--dat-compression" if dat_compression else None
        if given:
            raise UsageError(given, "only applies to a trace.dat output",
                             "give --trace FILE.dat, or leave the option out")
        return 7, "none"
    version = int(dat_version or 7)
    compression = dat_compression or ("zstd" if version == 7 else "none")
    if version == 6 and compression != "none":
        raise UsageError("--dat-compression",
                         f"a version 6 trace.dat cannot be compressed ({compression})",
                         "use --dat-compression none, or --dat-version 7")
    return version, compression


def _check_show(paths: Sequence[str]) -> Tuple[str, ...]:
    for path in paths:
        if not path.startswith("/"):
            raise UsageError("--show", f"{path!r} is not an absolute path",
                             f"give the file's full path, e.g. --show /{path.lstrip('./')}")
    return tuple(paths)


def _show_files(result, paths: Sequence[str]):
    """{path: text} of the files to show (a :class:`memsim.api.RunResult`'s), and the first
    problem reading one (a UsageError)."""
    import errno
    texts, problem = {}, None
    for path in paths:
        try:
            texts[path] = result.read_file(path)
        except OSError as e:
            if problem is None:
                if e.errno in (errno.ENOENT, errno.ENOTDIR):
                    problem = UsageError("--show", f"{path} does not exist in the emulated machine",
                                         "see its files with --ls")
                elif e.errno == errno.EISDIR:
                    problem = UsageError("--show", f"{path} is a directory", "list it with --ls")
                else:
                    problem = UsageError("--show", f"{path} cannot be read ({e.strerror})",
                                         "show a readable file (see the modes with --ls)")
    return texts, problem


def _run(workload, trace_path, event_globs, seed, as_json, check, plugin_opts,
         dat_version=None, dat_compression=None, show_paths=(), list_files=False, patch_opts=(),
         set_opts=(), ring_path=None, phase=None, dmesg_path=None):
    """``memsim run``.  ``phase[0]`` is kept saying what is being done, for the message of a
    Ctrl-C that is not at one of the run's preemption points (loading, writing the trace).
    ``dmesg_path``: where the kernel log goes once the machine stops, however it stops."""
    from memsim.api import RunResult, prepare
    from memsim.errors import Interrupted
    from memsim.progress import RunProgress
    from memsim.tracing.recorder import record_trace
    from memsim.workload.runner import stop_on_sigint
    from memsim.workload.variant import Host, WorkloadSource, parse_seed
    show_paths = _check_show(show_paths)
    seed = parse_seed(seed, "--seed") if seed is not None else None
    if trace_path and ring_path:
        raise UsageError("--trace-ring", "--trace already records every event",
                         "give --trace FILE (every event) or --trace-ring FILE (what the ring "
                         "buffer holds at the end), not both")
    out_path = trace_path or ring_path
    out_opt = "--trace" if trace_path else "--trace-ring"
    version, compression = _dat_format(out_path, dat_version, dat_compression)
    for opt, path in ((out_opt, out_path), ("--dmesg", dmesg_path)):
        if path and path != "-":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise UsageError(opt, f"directory {parent} does not exist", "create it first")
    overrides = _overrides(set_opts, patch_opts)
    host = Host(_disabled(plugin_opts))
    host.check_patches(name for name, _ in _patch_states(patch_opts))
    globs = [g.strip() for g in event_globs.split(",") if g.strip()] if event_globs else []
    if not globs and out_path:
        globs = ["*:*"]
    r = prepare(WorkloadSource.read(workload), seed=seed, events=globs, check=check,
                overrides=overrides, host=host)
    phase = phase if phase is not None else [""]
    recorder = None
    if trace_path:
        recorder = record_trace(trace_path, r.machine, r.events, version=version,
                                compression=compression)
        r.attach_recorder(recorder)
    interrupted = None
    phase[0] = "at once, inside a step (a second Ctrl-C); no trace was written"
    try:
        with stop_on_sigint(r), RunProgress(r.total_steps(), check) as progress:
            r.progress = progress
            r.execute()
    except Interrupted as e:
        interrupted = e
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    finally:
        if dmesg_path:                      # what was logged up to any stop is kept
            _write_dmesg(dmesg_path, r.machine)
    phase[0] = (f"while writing the trace ({out_path}); it was not written"
                if out_path and out_path != "-" else "at the end of the run")
    if recorder is not None:
        recorder.close()
    elif ring_path:
        from memsim.tracing.recorder import write_ring
        write_ring(ring_path, r.machine, r.events, version=version, compression=compression)
    if interrupted is not None:
        click.echo(f"memsim: {interrupted}", err=True)
        if out_path:
            where = "standard output" if out_path == "-" else out_path
            click.echo(f"memsim: the trace recorded so far ({_events_line(r.machine.tb)}) is in "
                       f"{where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    result = RunResult(r)
    summary = dict(result.summary)
    out = sys.stderr if out_path == "-" else sys.stdout
    texts, problem = _show_files(result, show_paths)
    listing = result.files if list_files else []
    if as_json:
        if show_paths:
            summary["files"] = texts
        if list_files:
            summary["ls"] = [{"mode": e.mode, "path": e.path, **({"mount": e.filesystem} if e.filesystem else {})}
                             for e in listing]
        click.echo(json.dumps(summary, indent=2), file=out)
    else:
        if summary.get("kernel_log"):
            click.echo("kernel log:", file=out)
            for line in summary["kernel_log"]:
                click.echo(line, file=out)
            click.echo("", file=out)
        click.echo(_table(summary), file=out)
        if list_files:
            click.echo("", file=out)
            for e in listing:
                click.echo(f"{e.mode} {e.path}" + (f"  ({e.filesystem})" if e.filesystem else ""), file=out)
        for path, text in texts.items():
            click.echo(f"\n==> {path} <==", file=out)
            click.echo(text, nl=False, file=out)
    lost = trace_loss(r.machine)
    if lost:
        click.echo(f"memsim: {lost}", err=True)
    if r.error is not None:
        if problem is not None:
            click.echo(f"memsim: {problem}", err=True)
        raise r.error
    if problem is not None:
        raise problem


def _write_dmesg(path: str, machine) -> None:
    """``--dmesg FILE``: the kernel log as dmesg prints it, a line each (an empty file when
    nothing was logged); ``-`` is standard error, as standard output carries the summary."""
    text = "".join(line + "\n" for line in machine.dmesg())
    if path == "-":
        click.echo(text, nl=False, err=True)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError("--dmesg", f"cannot write {path} ({e.strerror})",
                         "give a file in a writable directory") from None


def _events_line(tb) -> str:
    n = sum(e for e, _ in tb.stats())
    return f"{n} event{'s' if n != 1 else ''}"


def trace_loss(machine) -> Optional[str]:
    """What stderr says when the ring buffer lost events (overwritten, or dropped with
    ``machine.trace_overwrite: false``): how many, and what to change.  None when none was."""
    tb = machine.tb
    stats = [tb.cpu_stats(cpu) for cpu in range(tb.ncpus)]
    overrun = sum(s["overrun"] for s in stats)
    dropped = sum(s["dropped"] for s in stats)
    if not overrun and not dropped:
        return None
    from memsim.units import format_size
    kb = machine.spec.trace_buffer_kb
    kept = max(1, max(s["entries"] for s in stats))
    needed = max(s["written"] + s["dropped"] for s in stats)
    mib = 1
    while mib * 1024 < kb * needed / kept * 1.1:
        mib *= 2
    if overrun:
        what = (f"{overrun} event{'s were' if overrun != 1 else ' was'} overwritten: the trace "
                f"buffer (machine.trace_buffer, {format_size(kb * 1024)} per CPU) keeps only "
                "the newest")
    else:
        what = (f"{dropped} event{'s were' if dropped != 1 else ' was'} dropped: the trace buffer "
                f"(machine.trace_buffer, {format_size(kb * 1024)} per CPU) was full and "
                "machine.trace_overwrite is false")
    if mib > 1024:                          # machine.trace_buffer's maximum
        return f"{what}; record every event with --trace FILE"
    return (f"{what}; record every event with --trace FILE, or give the buffer room for all "
            f"(--set machine.trace_buffer={mib}MiB)")


def _size(n: int) -> str:
    from memsim.units import format_size
    return format_size(n)


def _status(t: dict) -> str:
    """How a task ended, as a shell would tell from wait(): ``exited 3``, ``killed by SIGBUS``."""
    if t.get("killed_by"):
        return f"killed by {t['killed_by']}"
    if t.get("exited"):
        return f"exited {t['exit_code']}"
    return "running"


def _table(s: dict) -> str:
    head = f"workload {s['workload']}  kernel {s['kernel']}  seed {s['seed']}  cpus {s['cpus']}"
    if s.get("patches_off"):
        head += "  patches off: " + ", ".join(s["patches_off"])
    lines = [head, ""]
    lines.append(f"{'task':<16}{'pid':>7}  {'status':<18}{'anon':>10} {'file':>10} {'shmem':>10} "
                 f"{'swap':>10}  faults")
    for t in s["tasks"]:
        r = t["rss_bytes"]
        faults = ", ".join(f"{k} {v}" for k, v in t["faults"].items()) or "-"
        lines.append(f"{t['name'][:16]:<16}{t['pid']:>7}  {_status(t):<18}{_size(r.get('MM_ANONPAGES', 0)):>10} "
                     f"{_size(r.get('MM_FILEPAGES', 0)):>10} {_size(r.get('MM_SHMEMPAGES', 0)):>10} "
                     f"{_size(r.get('MM_SWAPENTS', 0)):>10}  {faults}")
    lines.append("")
    for t in s["tasks"]:
        fatal = [sig for sig in t.get("signals", ()) if not sig["caught"]]
        if t.get("killed_by") and fatal:
            sig = fatal[-1]
            if sig.get("sender") == "oom_kill":
                kill = next((k for k in s.get("oom_kills", ()) if k["pid"] == t["pid"]), None)
                why = (f" (oom_score_adj {kill['oom_score_adj']}, anon-rss {kill['anon_rss_kb']} kB)"
                       if kill is not None else "")
                lines.append(f"{t['name']} ({t['pid']}): killed by the OOM killer{why}: SIGKILL "
                             f"during {sig['step']}")
                continue
            lines.append(f"{t['name']} ({t['pid']}): {sig['name']} ({sig['si_code_name']} at "
                         f"{sig['si_addr']:#x}) at {sig['step']}, not caught")
    if any(t.get("killed_by") for t in s["tasks"]):
        lines.append("")
    r = s.get("reclaim") or {}
    if any(r.values()):
        lines.append(reclaim_line(r))
    for n in s["nodes"]:
        lines.append(f"node {n['node']}: {n['pages_allocated']} pages allocated since boot, "
                     f"{n['pages_freed']} freed")
    ev = s["events"]
    lines.append(f"events: {ev['written']} written, {ev['dropped']} dropped"
                 + (f", {ev['overwritten']} overwritten" if ev.get("overwritten") else ""))
    t = s["time"]
    lines.append(f"time: {t['emulated_ns'] / 1e9:.6f} s emulated, {t['host_wall_s']:.3f} s on the host")
    if "error" in s:
        lines.append(f"stopped early: {s['error']}")
    return "\n".join(lines)


def reclaim_line(r) -> str:
    """One summary line for what reclaim did (the run summary's "reclaim" counters)."""
    g = r.get
    parts = [f"kswapd scanned {g('pgscan_kswapd', 0)} reclaimed {g('pgsteal_kswapd', 0)} "
             f"({g('pageoutrun', 0)} runs)",
             f"direct scanned {g('pgscan_direct', 0)} reclaimed {g('pgsteal_direct', 0)} "
             f"({g('allocstall', 0)} stalls)"]
    refaults = g("workingset_refault_anon", 0) + g("workingset_refault_file", 0)
    if refaults:
        activated = g("workingset_activate_anon", 0) + g("workingset_activate_file", 0)
        parts.append(f"refaults {refaults} ({activated} activated)")
    if g("drop_pagecache", 0) or g("drop_slab", 0):
        parts.append(f"drop_caches: page cache {g('drop_pagecache', 0)}, slab {g('drop_slab', 0)}")
    if g("oom_kill", 0):
        parts.append(f"oom kills {g('oom_kill')}")
    return "reclaim: " + "; ".join(parts)


@main.command()
@click.argument("workload", type=click.Path())
@patch_option
@set_option
@plugin_option
def check(workload, patch_opts, set_opts, plugin_opts):
    """Validate WORKLOAD without running it."""
    try:
        from memsim.workload.variant import Host, WorkloadSource
        host = Host(_disabled(plugin_opts))
        host.check_patches(name for name, _ in _patch_states(patch_opts))
        wl = host.prepare(WorkloadSource.read(workload), _overrides(set_opts, patch_opts)).workload
        from memsim.workload.runner import count_steps
        nsteps = sum(count_steps(t.steps) for t in wl.tasks)
        click.echo(f"{workload}: ok ({len(wl.tasks)} task(s), {nsteps} step(s), kernel {wl.machine.kernel})")
    except MemsimError as e:
        _fail(e)


@main.command()
@click.option("--format", "fmt", metavar="SYS:EVENT", help="Print the event's format file.")
@click.option("--kernel", default=None, help="Kernel profile whose declarations to use (default v5.14).")
@patch_option
@plugin_option
def events(fmt, kernel, patch_opts, plugin_opts):
    """List the trace events, or print one event's format file."""
    try:
        from memsim.profiles import DEFAULT_PROFILE
        from memsim.tracing.formatfile import format_file
        pm, registries, reg = _host(plugin_opts, kernel or DEFAULT_PROFILE, patch_opts)
        if fmt:
            decl = reg.get(fmt) if fmt in reg else None
            if decl is None:
                import difflib
                names = [d.full_name for d in reg]
                close = difflib.get_close_matches(fmt, names, 1)
                raise UsageError("--format", f"no event {fmt!r}",
                                 f"did you mean {close[0]!r}?" if close else "see 'memsim events'")
            click.echo(format_file(decl, reg.id_of(decl.full_name)), nl=False)
            return
        for decl in reg:
            click.echo(f"{decl.full_name:<40} {decl.plugin}")
    except MemsimError as e:
        _fail(e)


@main.command()
@plugin_option
def plugins(plugin_opts):
    """List the plugins in the order their machine hooks run: name, version, the distribution
    that provides it, requirements, hooks."""
    try:
        from memsim.plugin_host import get_plugin_manager, list_plugins
        pm = get_plugin_manager(disabled=_disabled(plugin_opts))
        click.echo(plugins_table(list_plugins(pm)), nl=False)
    except MemsimError as e:
        _fail(e)


def plugins_table(infos) -> str:
    """``memsim plugins``: one line per plugin, required plugins first; DISTRIBUTION is the
    installed distribution whose entry point it is (``-`` for a plugin registered directly);
    REQUIRES lists ``PluginSpec.requires`` and, in parentheses, ``after``."""
    rows = [("PLUGIN", "VERSION", "DISTRIBUTION", "REQUIRES", "HOOKS")]
    for info in infos:
        requires = ", ".join(info.requires)
        if info.after:
            requires = (requires + " " if requires else "") + f"(after {', '.join(info.after)})"
        rows.append((info.name, info.version or "-", info.dist or "-", requires or "-",
                     ", ".join(info.hooks) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(r[:4])) + f"  {r[4]}\n"
                   for r in rows)


@main.command()
@click.option("--kernel", default=None, help="Kernel profile whose default states to show (default v5.14).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@patch_option
@plugin_option
def patches(kernel, as_json, patch_opts, plugin_opts):
    """List the seed changes: state under the profile, merging kernel, owning plugin, whether it is loaded."""
    try:
        from memsim.profiles import DEFAULT_PROFILE
        pm, registries, _ = _host(plugin_opts, kernel or DEFAULT_PROFILE, patch_opts)
        rows = patches_rows(registries, kernel or DEFAULT_PROFILE, dict(_patch_states(patch_opts)))
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            click.echo(patches_table(rows), nl=False)
    except MemsimError as e:
        _fail(e)


#: how ``memsim patches`` says where a seed change's plugin stands
PLUGIN_STATUS = {"loaded": "loaded", "disabled": "disabled (-p no:{plugin})",
                 "missing": "not written yet", "unimplemented": "loaded, does not implement it"}


def patches_rows(registries, kernel: str, overrides=None) -> list:
    """One dict per seed change, in table order: what ``memsim patches --json`` prints."""
    from memsim.patches import SEED_PATCHES, default_states, plugin_state
    from memsim.profiles import get_profile
    states = default_states(get_profile(kernel)).with_states(overrides or {})
    rows = []
    for seed in SEED_PATCHES:
        impl = registries.patches.get(seed.name)
        status = plugin_state(seed.plugin, registries.plugins_loaded, registries.plugins_disabled)
        if status == "loaded" and impl is None:
            status = "unimplemented"
        rows.append({
            "name": seed.name, "state": "on" if states.enabled(seed.name) else "off",
            "kernel": kernel, "merged": seed.merged_in, "subject": seed.subject,
            "commit": seed.commit or None, "summary": seed.summary, "plugin": seed.plugin,
            "plugin_status": status, "demo": f"configs/patch-{seed.name}.yaml",
            "model": impl.model if impl else None,
            "files": list(impl.files) if impl else [],
            "metrics": [{"name": m.name, "doc": m.doc, "unit": m.unit} for m in impl.metrics] if impl else [],
            "events": list(impl.events) if impl else [],
        })
    return rows


def patches_table(rows) -> str:
    """``memsim patches``: name, state, merged in, plugin and its status, then the summary."""
    table = [("PATCH", "STATE", "MERGED", "PLUGIN", "STATUS")]
    for r in rows:
        table.append((r["name"], r["state"], r["merged"], r["plugin"],
                      PLUGIN_STATUS[r["plugin_status"]].format(plugin=r["plugin"])))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    out = []
    for row in table:
        out.append("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row)).rstrip() + "\n")
    out.append("\n")
    for r in rows:
        out.append(f"{r['name']}: {r['summary']}\n")
    kernel = rows[0]["kernel"] if rows else ""
    out.append(f"\nstates under kernel {kernel}; switch one with --patch NAME=on|off or "
               "machine: {patches: {NAME: off}}; docs/patches.md describes each\n")
    return "".join(out)


from memsim.cli_compare import compare_command  # noqa: E402  (`memsim compare`)
from memsim.cli_kdiff import kdiff_command  # noqa: E402  (`memsim kdiff`)
from memsim.cli_sweep import sweep_command  # noqa: E402  (`memsim sweep`)
from memsim.cli_trace import trace  # noqa: E402  (the `memsim trace ...` group)

main.add_command(trace)
main.add_command(compare_command())
main.add_command(kdiff_command())
main.add_command(sweep_command())

if __name__ == "__main__":
    main()
