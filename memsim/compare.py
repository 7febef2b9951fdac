"""``memsim compare``: one workload run twice with the same seed, a seed change on and then off,
and everything that differs, side by side.

Both runs are deterministic (same workload, same seed, same plugins), so what differs between
them is the change's doing.  :func:`run_sides` runs them; :func:`comparison` turns the two
finished runs into a plain dict (what ``--json`` prints); :func:`render_text` lays that dict out
as text (what the command prints, and what docs/patches.md embeds); :func:`plot_sides` draws both
runs' timelines on shared axes.  None of them knows about click::

    host = Host()
    source = WorkloadSource.read("configs/patch-rss-stat-symbolic.yaml")
    runs = run_sides(host, source, "rss-stat-symbolic", seed=0)
    print(render_text(comparison(runs, "rss-stat-symbolic")))

Every compared value is a *pair* ``{"on": a, "off": b, "diff": b - a}``; ``diff`` is None when
the values are equal or not numbers.  The comparison has these sections:

1. ``run``: status (:func:`memsim.workload.outcome.run_status`) and error of each side, emulated
   time, scheduler slices;
2. ``tasks``: per task, its exit status, resident memory by counter and faults by kind;
3. ``memory``: pages allocated and freed per node; the /proc/meminfo values (exact counters,
   :meth:`memsim.machine.Machine.meminfo`) that differ, and how many are equal;
4. ``files``: each file the change's implementation names (:attr:`PatchImpl.files`), read at the
   end of each run: the keys that differ for a ``key value`` file (meminfo, vmstat,
   memory.stat), a unified diff for any other, or which side lacks it;
5. ``formats``: each trace event of :attr:`PatchImpl.events` whose format file differs between
   the two sides, with both ``print fmt:`` lines and the first trace line of the event per side;
6. ``events``: records per event on each side (events with none on either side left out),
   every record: both runs are recorded as ``memsim run --trace`` records, whatever the size
   of the trace buffer;
7. ``metrics``: :func:`memsim.workload.outcome.run_metrics`, the core's and the change's, with
   their units.

Nothing depends on the host (no wall time), so the text of a comparison is the same on every
run and every machine.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from memsim.errors import UsageError

__all__ = ["SIDES", "ALL_EVENTS", "parse_compare_patch", "run_sides", "comparison", "pair",
           "keyed_values", "render_text", "plot_data", "plot_sides"]

#: The two runs, in the order they run and are shown: the kernel with the change, then before it.
SIDES = ("on", "off")
#: What is recorded when no events are given: everything, so the per-event counts are complete.
ALL_EVENTS = ("*:*",)

#: rss counters as the summary names them -> the short names shown
_RSS = (("MM_ANONPAGES", "anon"), ("MM_FILEPAGES", "file"), ("MM_SHMEMPAGES", "shmem"),
        ("MM_SWAPENTS", "swap"))


# ----------------------------------------------------------------------------------------------
# Running both sides
# ----------------------------------------------------------------------------------------------

def parse_compare_patch(patch_opts: Sequence[str]) -> str:
    """The one seed change of ``--patch NAME`` (or ``NAME=on,off``): a UsageError for none,
    more than one, an unknown name (the closest suggested) or a single state."""
    from memsim.workload.variant import parse_patch
    if not patch_opts:
        raise UsageError("--patch", "no seed change given",
                         "name the one to compare, e.g. --patch rss-stat-symbolic (see 'memsim patches')")
    if len(patch_opts) > 1:
        raise UsageError(f"--patch {patch_opts[1]}", "compare takes one seed change",
                         "give --patch once; 'memsim sweep' varies several")
    text = patch_opts[0]
    name, states = parse_patch(text, many=True, bare_ok=True)
    if sorted(states) != [False, True]:
        raise UsageError(f"--patch {text}", "compare runs the change both on and off",
                         f"write --patch {name} (or --patch {name}=on,off)")
    return name


def run_sides(host, source, patch: str, *, seed: Optional[int] = None, overrides: Sequence = (),
              events: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run ``source`` (a :class:`memsim.workload.variant.WorkloadSource`) with the seed change
    ``patch`` on, then off, both with ``seed`` (the workload's if None) and ``overrides``
    (``--set``), recording ``events`` (set_event globs; every event if None or empty).

    :return: ``{"on": Run, "off": Run}``, both executed (a run that failed keeps its error).
    :raises memsim.errors.Interrupted: Ctrl-C stopped a run (its ``during`` names the side).
    :raises UsageError: the change cannot be switched here (its plugin is missing or disabled).
    :raises WorkloadError: the workload does not load.
    """
    from memsim.errors import Interrupted
    from memsim.progress import RunProgress
    from memsim.tracing.recorder import record_pages
    from memsim.workload.runner import Run, stop_on_sigint
    from memsim.workload.variant import patch_override
    host.check_patches([patch])
    globs = list(events) if events else list(ALL_EVENTS)
    runs: Dict[str, Any] = {}
    for side in SIDES:
        variant = list(overrides) + [patch_override(patch, side == "on", option=f"--patch {patch}")]
        prepared = host.prepare(source, variant, events=globs)
        run = Run(prepared.workload, prepared.registries, prepared.events, host.pm, seed=seed)
        recorder = record_pages(run.machine, run.events)     # counts of every event, none lost
        run.attach_recorder(recorder)
        try:
            with stop_on_sigint(run), RunProgress(run.total_steps(),
                                                  label=f"memsim compare: {patch} {side}") as bar:
                run.progress = bar
                run.execute()
        except BaseException as e:
            recorder.abort()
            if isinstance(e, Interrupted):
                e.during = f"the run with --patch {patch}={side}"
            raise
        recorder.close()
        run.machine.trace = recorder.recorded()
        runs[side] = run
    return runs


# ----------------------------------------------------------------------------------------------
# The comparison, as a plain dict
# ----------------------------------------------------------------------------------------------

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def pair(on, off) -> Dict[str, Any]:
    """``{"on": on, "off": off, "diff": off - on}``; diff is None when equal or not numbers."""
    diff = off - on if _number(on) and _number(off) and on != off else None
    return {"on": on, "off": off, "diff": diff}


def _task_status(t: Optional[dict]) -> Optional[str]:
    """How a task ended, as a shell tells from wait(): ``exited 3``, ``killed by SIGBUS``."""
    if t is None:
        return None
    if t.get("killed_by"):
        return f"killed by {t['killed_by']}"
    if t.get("exited"):
        return f"exited {t['exit_code']}"
    return "running"


def _tasks(summaries: Mapping[str, dict]) -> List[dict]:
    """Tasks matched by (name, pid) across the sides, in the order they appear."""
    by_key: Dict[Tuple[str, int], Dict[str, dict]] = {}
    for side in SIDES:
        for t in summaries[side]["tasks"]:
            by_key.setdefault((t["name"], t["pid"]), {})[side] = t
    out = []
    for (name, pid), sides in by_key.items():
        on, off = sides.get("on"), sides.get("off")
        rss = {short: pair(on["rss_bytes"].get(key, 0) if on else None,
                           off["rss_bytes"].get(key, 0) if off else None) for key, short in _RSS}
        kinds = sorted(set(on["faults"] if on else ()) | set(off["faults"] if off else ()))
        faults = {k: pair(on["faults"].get(k, 0) if on else None, off["faults"].get(k, 0) if off else None)
                  for k in kinds}
        out.append({"name": name, "pid": pid, "status": pair(_task_status(on), _task_status(off)),
                    "rss_bytes": rss, "faults": faults})
    return out


def _memory(runs: Mapping[str, Any], summaries: Mapping[str, dict]) -> dict:
    nodes = {side: {n["node"]: n for n in summaries[side]["nodes"]} for side in SIDES}
    rows = []
    for node in sorted(set(nodes["on"]) | set(nodes["off"])):
        on, off = nodes["on"].get(node), nodes["off"].get(node)
        rows.append({"node": node,
                     "pages_allocated": pair(on and on["pages_allocated"], off and off["pages_allocated"]),
                     "pages_freed": pair(on and on["pages_freed"], off and off["pages_freed"])})
    meminfo = {side: runs[side].machine.meminfo() for side in SIDES}
    keys = list(meminfo["on"]) + [k for k in meminfo["off"] if k not in meminfo["on"]]
    differ = {k: pair(meminfo["on"].get(k), meminfo["off"].get(k)) for k in keys
              if meminfo["on"].get(k) != meminfo["off"].get(k)}
    return {"nodes": rows, "meminfo": {"differ": differ, "equal": len(keys) - len(differ)}}


#: a ``key value`` line: ``MemFree:  1024 kB``, ``nr_free_pages 12``, ``anon 4096``
_KEYED_LINE = re.compile(r"^([^\s:]+):?\s+(-?\d+)(?:\s+(kB))?$")


def keyed_values(text: str) -> Optional[Dict[str, Tuple[int, str]]]:
    """``{key: (value, unit)}`` of a file of ``key value`` lines (meminfo, vmstat,
    memory.stat), or None when some line is not one (or a key repeats)."""
    out: Dict[str, Tuple[int, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _KEYED_LINE.match(line.strip())
        if m is None or m.group(1) in out:
            return None
        out[m.group(1)] = (int(m.group(2)), m.group(3) or "")
    return out or None


def _read(machine, path: str) -> Tuple[Optional[str], Optional[str]]:
    """(text, None) of an emulated file, or (None, why it cannot be read)."""
    from memsim.vfs import VfsError
    try:
        return machine.vfs.read_file(path).decode("utf-8", "replace"), None
    except VfsError as e:
        return None, e.errno


def _file(runs: Mapping[str, Any], path: str) -> dict:
    texts, errors = {}, {}
    for side in SIDES:
        texts[side], errors[side] = _read(runs[side].machine, path)
    entry: Dict[str, Any] = {"path": path}
    missing = [side for side in SIDES if texts[side] is None]
    if missing:
        entry.update(state="missing", missing=missing, errno=pair(errors["on"], errors["off"]))
        return entry
    if texts["on"] == texts["off"]:
        entry.update(state="same", lines=len(texts["on"].splitlines()))
        return entry
    keyed = {side: keyed_values(texts[side]) for side in SIDES}
    if keyed["on"] is not None and keyed["off"] is not None:
        keys = list(keyed["on"]) + [k for k in keyed["off"] if k not in keyed["on"]]
        differ = {}
        for k in keys:
            on, off = keyed["on"].get(k), keyed["off"].get(k)
            if on != off:
                row = pair(on and on[0], off and off[0])
                row["unit"] = (on or off)[1]
                differ[k] = row
        entry.update(state="differ", keyed=True, keys=differ, equal=len(keys) - len(differ))
        return entry
    diff = list(difflib.unified_diff(texts["on"].splitlines(), texts["off"].splitlines(),
                                     f"on{path}", f"off{path}", lineterm=""))
    entry.update(state="differ", keyed=False, diff=diff)
    return entry


def _print_fmt(format_text: str) -> str:
    return next((line for line in format_text.splitlines() if line.startswith("print fmt:")), "")


def _first_line(run, decl_name: str, type_id: int) -> Optional[str]:
    """The first ``trace`` line of event ``type_id`` in ``run``'s buffer (None if none)."""
    from memsim.tracing.text import TextRenderer
    m = run.machine
    renderer = TextRenderer(run.events, m.profile.name, m.comms, m.ptr_key)
    tb = run.trace_buffer
    for (_, _, payload), line in zip(TextRenderer.merged(tb), renderer.lines(tb)):
        if payload[0] | payload[1] << 8 == type_id:
            return line.rstrip("\n").lstrip()
    return None


def _formats(runs: Mapping[str, Any], globs: Iterable[str]) -> List[dict]:
    from memsim.tracing.formatfile import format_file
    regs = {side: runs[side].events for side in SIDES}
    names: List[str] = []
    for glob in globs:
        for side in SIDES:
            names += [n for n in regs[side].matching(glob) if n not in names]
    out = []
    for name in names:
        texts = {side: (format_file(regs[side].get(name), regs[side].id_of(name))
                        if name in regs[side] else None) for side in SIDES}
        if texts["on"] == texts["off"]:
            out.append({"event": name, "state": "same"})
            continue
        entry: Dict[str, Any] = {"event": name, "state": "differ"}
        if None in texts.values():
            entry["missing"] = [side for side in SIDES if texts[side] is None]
        else:
            entry["print_fmt"] = pair(_print_fmt(texts["on"]), _print_fmt(texts["off"]))
            if entry["print_fmt"]["on"] == entry["print_fmt"]["off"]:
                entry["diff"] = list(difflib.unified_diff(
                    texts["on"].splitlines(), texts["off"].splitlines(), f"on/{name}/format",
                    f"off/{name}/format", lineterm=""))
        entry["first_line"] = pair(*(_first_line(runs[side], name, regs[side].id_of(name))
                                     if texts[side] is not None else None for side in SIDES))
        out.append(entry)
    return out


def _event_counts(run) -> Dict[str, int]:
    """Records per event in ``run``'s trace buffer, in registration order."""
    tb, reg = run.trace_buffer, run.events
    by_id: Dict[int, int] = {}
    for cpu in range(tb.ncpus):
        for _, payload in tb.records(cpu):
            type_id = payload[0] | payload[1] << 8
            by_id[type_id] = by_id.get(type_id, 0) + 1
    return {decl.full_name: by_id[type_id] for type_id, decl in reg.items() if type_id in by_id}


def _events(runs: Mapping[str, Any], globs: Sequence[str]) -> dict:
    counts = {side: _event_counts(runs[side]) for side in SIDES}
    names = list(counts["on"]) + [n for n in counts["off"] if n not in counts["on"]]
    return {"recorded": list(globs),
            "counts": {n: pair(counts["on"].get(n, 0), counts["off"].get(n, 0)) for n in names}}


def _metrics(runs: Mapping[str, Any], patch: str) -> List[dict]:
    from memsim.workload.outcome import CORE_METRICS, run_metrics
    values = {side: run_metrics(runs[side], [patch]) for side in SIDES}
    decls = {m.name: m for m in CORE_METRICS}
    for side in SIDES:
        decls.update({m.name: m for m in runs[side].registries.patches.metrics([patch])})
    out = []
    for name in values["on"]:
        row = {"name": name, "unit": decls[name].unit, "doc": decls[name].doc}
        row.update(pair(values["on"][name], values["off"].get(name)))
        out.append(row)
    return out


def comparison(runs: Mapping[str, Any], patch: str, *, overrides: Sequence = (),
               events: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The comparison of ``runs`` (``{"on": Run, "off": Run}`` from :func:`run_sides`) as a
    plain, JSON-ready dict, sections as the module says; ``overrides`` and ``events`` are what
    the runs were given (reported, not applied)."""
    from memsim.patches import seed_patch
    from memsim.workload.outcome import run_status
    seed = seed_patch(patch)
    on, off = runs["on"], runs["off"]
    impl = on.registries.patches.get(patch) or off.registries.patches.get(patch)
    summaries = {side: runs[side].summary() for side in SIDES}
    globs = list(events) if events else list(ALL_EVENTS)
    return {
        "workload": on.workload.path,
        "patch": {"name": seed.name, "subject": seed.subject, "commit": seed.commit or None,
                  "merged": seed.merged_in, "plugin": seed.plugin},
        "kernel": on.machine.profile.name,
        "seed": on.spec.seed,
        "overrides": [ov.option for ov in overrides],
        "run": {
            "status": pair(run_status(on), run_status(off)),
            "error": pair(*(str(r.error) if r.error is not None else None for r in (on, off))),
            "emulated_ns": pair(on.machine.clock.now, off.machine.clock.now),
            "slices": pair(on.scheduler.switches, off.scheduler.switches),
        },
        "tasks": _tasks(summaries),
        "memory": _memory(runs, summaries),
        "files": [_file(runs, path) for path in (impl.files if impl else ())],
        "formats": _formats(runs, impl.events if impl else ()),
        "events": _events(runs, globs),
        "metrics": _metrics(runs, patch),
    }


# ----------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------

def _seconds(ns: int) -> str:
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{ns % 1_000_000_000:09d} s"


def _size(n: int) -> str:
    from memsim.units import format_size
    return format_size(n)


def _plain(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _cells(p: Mapping[str, Any], fmt=_plain) -> Tuple[str, str, str]:
    """The on, off and diff cells of a pair; ``-`` for a side that has no value."""
    on, off, diff = p["on"], p["off"], p["diff"]
    cell = lambda v: "-" if v is None else fmt(v)           # noqa: E731
    if diff is not None:
        d = ("+" if diff > 0 else "-") + fmt(abs(diff))
    elif on != off:
        d = "differs"
    else:
        d = ""
    return cell(on), cell(off), d


class _Table:
    """Rows of (label, on, off, diff), columns sized to the widest cell."""

    def __init__(self, title: str):
        self.title = title
        self.rows: List[Tuple[str, str, str, str]] = []
        self.notes: List[str] = []

    def add(self, label: str, p: Mapping[str, Any], fmt=_plain) -> None:
        self.rows.append(("  " + label, *_cells(p, fmt)))

    def heading(self, label: str) -> None:
        self.rows.append(("  " + label, "", "", ""))

    def text(self) -> List[str]:
        head = (self.title, "on", "off", "diff")
        rows = [head] + self.rows
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        w[1], w[2] = max(w[1], 10), max(w[2], 10)
        out = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]:>{w[3]}}".rstrip() for r in rows]
        return out + self.notes


def render_text(comp: Mapping[str, Any]) -> str:
    """The comparison as ``memsim compare`` prints it: sections of ``on``, ``off`` and
    ``diff`` (off minus on, blank when equal) columns."""
    p = comp["patch"]
    cmd = f"memsim compare {comp['workload']} --patch {p['name']}"
    lines = [f"{cmd}{''.join(' ' + o for o in comp['overrides'])}",
             f"seed change {p['name']}: {p['subject']} ({p['merged']}"
             f"{', ' + p['commit'] if p['commit'] else ''}; plugin {p['plugin']})",
             f"kernel {comp['kernel']}, seed {comp['seed']}; on: with the change, off: before it; "
             "diff: off - on", ""]

    run = comp["run"]
    t = _Table("run")
    t.add("status", run["status"])
    t.add("emulated time", run["emulated_ns"], _seconds)
    t.add("slices", run["slices"])
    for side in SIDES:
        if run["error"][side]:
            t.notes.append(f"  error ({side}): {run['error'][side]}")
    lines += t.text() + [""]

    t = _Table("tasks")
    for task in comp["tasks"]:
        t.heading(f"{task['name']} (pid {task['pid']})")
        t.add("  status", task["status"])
        for short, row in task["rss_bytes"].items():
            t.add(f"  rss {short}", row, _size)
        for kind, row in task["faults"].items():
            t.add(f"  faults {kind}", row)
    lines += t.text() + [""]

    mem = comp["memory"]
    t = _Table("memory")
    for node in mem["nodes"]:
        t.add(f"node {node['node']} pages allocated", node["pages_allocated"])
        t.add(f"node {node['node']} pages freed", node["pages_freed"])
    for key, row in mem["meminfo"]["differ"].items():
        t.add(f"meminfo {key}", row, _plain if key.startswith("HugePages_") else _size)
    equal = mem["meminfo"]["equal"]
    t.notes.append(f"  meminfo: all {equal} lines equal" if not mem["meminfo"]["differ"] else
                   f"  meminfo: {equal} other line{'s' if equal != 1 else ''} equal")
    lines += t.text() + [""]

    lines += _files_text(comp["files"])
    lines += _formats_text(comp["formats"])

    ev = comp["events"]
    t = _Table("events")
    for name, row in ev["counts"].items():
        t.add(name, row)
    if not ev["counts"]:
        t.notes.append("  no records on either side")
    t.notes.append(f"  recorded: {', '.join(ev['recorded'])}")
    lines += t.text() + [""]

    t = _Table("metrics")
    for m in comp["metrics"]:
        shown_unit = m["unit"] not in ("", m["name"])
        t.add(m["name"] + (f" ({m['unit']})" if shown_unit else ""), m)
    lines += t.text()
    return "\n".join(lines) + "\n"


def _files_text(files: Sequence[Mapping[str, Any]]) -> List[str]:
    out = ["files"]
    if not files:
        return out + ["  none: the change's plugin names no file for it", ""]
    for f in files:
        path = f["path"]
        if f["state"] == "missing":
            if len(f["missing"]) == 2:
                out.append(f"  {path}: missing on both sides ({f['errno']['on']})")
            else:
                side = f["missing"][0]
                out.append(f"  {path}: missing on the {side} side ({f['errno'][side]})")
        elif f["state"] == "same":
            out.append(f"  {path}: the same on both sides ({f['lines']} lines)")
        elif f["keyed"]:
            n = len(f["keys"])
            out.append(f"  {path}: {n} key{' differs' if n == 1 else 's differ'}, {f['equal']} equal")
            t = _Table("    key")
            for key, row in f["keys"].items():
                unit = f" {row['unit']}" if row["unit"] else ""
                t.add(f"  {key}", row, lambda v, unit=unit: f"{v}{unit}")
            out += t.text()
        else:
            out.append(f"  {path}: differs")
            out += [f"    {line}" for line in f["diff"]]
    return out + [""]


def _formats_text(formats: Sequence[Mapping[str, Any]]) -> List[str]:
    out = ["formats"]
    if not formats:
        return out + ["  none: the change's plugin names no trace event for it", ""]
    for f in formats:
        name = f["event"]
        if f["state"] == "same":
            out.append(f"  {name}: the same format file on both sides")
            continue
        if "missing" in f:
            out.append(f"  {name}: not registered on the {f['missing'][0]} side")
        elif f["print_fmt"]["on"] != f["print_fmt"]["off"]:
            out.append(f"  {name}: the print fmt differs")
            for side in SIDES:
                out.append(f"    {side + ':':<5}{f['print_fmt'][side]}")
        else:
            out.append(f"  {name}: the format file differs")
            out += [f"    {line}" for line in f["diff"]]
        out.append("  first trace line:")
        for side in SIDES:
            line = f["first_line"][side]
            out.append(f"    {side + ':':<5}{line if line is not None else '(none recorded)'}")
    return out + [""]


# ----------------------------------------------------------------------------------------------
# Plot
# ----------------------------------------------------------------------------------------------

def plot_data(run):
    """The :class:`memsim.tracing.plot.PlotData` of ``run``'s trace buffer, read in memory."""
    from memsim.tracing.formats import FormatSet
    from memsim.tracing.plot import PlotData
    from memsim.tracing.tracedat import DatReader
    m = run.machine
    tb = run.trace_buffer
    reader = DatReader.from_subbuffers([list(tb.subbuffers(cpu)) for cpu in range(tb.ncpus)],
                                       FormatSet.from_registry(run.events), m.comms,
                                       flags_width=m.profile.trace_flags_width)
    with reader:
        return PlotData().update(reader.records())


def plot_sides(runs: Mapping[str, Any], path: str, *, title: str = "compare",
               option: str = "--plot") -> List[str]:
    """Draw both runs' timelines on shared axes into the PNG ``path``, series labelled ``on``
    and ``off``; returns the panels drawn (:func:`memsim.tracing.plot.render`)."""
    from memsim.tracing.plot import render
    return render({side: plot_data(runs[side]) for side in SIDES}, path, title=title, option=option)
