"""Render the workload reference, docs/workloads.md, from the declarations in the registries.

:func:`render_reference` depends only on the :class:`memsim.registry.Registries` it is given, so
the same function documents the core schema alone (:func:`core_registries`, used by the tests) or
every step and section of the loaded plugins.  Run ``python -m memsim.workload.docs`` to rewrite
docs/workloads.md.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

import yaml

from memsim.registry import Extensions, Param, Registries
from memsim.units import DURATION_FORMS, SIZE_FORMS, format_duration, format_size, parse_duration, parse_size
from memsim.workload import core_schema

__all__ = ["render_reference", "core_registries", "builtin_registries", "main", "DOC_PATH"]

#: Where the reference lives in the source tree.
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"

_EXAMPLE = """\
machine:
  cpus: 2                 # emulated CPUs
  nodes:                  # NUMA nodes, each with its memory
    - memory: 1 GiB
    - memory: 1 GiB
  trace_buffer: 1408 KiB  # ring buffer per CPU
  kernel: v5.14           # kernel profile: v5.14 or v6.18
  seed: 1                 # scheduler and pointer-hash seed (overridable with --seed)
  quantum: 512            # pages a long step touches before a preemption point
tasks:
  - name: app             # unique task name
    comm: app             # optional, default = name, max 15 chars
    cpu: 0                # optional, default round robin
    steps:
      - mmap: {name: buf, length: 1 GiB}                      # type anon (private) by default
      - touch: {vma: buf, access: write}
      - expect: {rss: {anon: 1 GiB}}
      - fork:
          child: kid
          steps:
            - touch: {vma: buf, access: write, length: 8 KiB}
            - exit: {}
      - munmap: {vma: buf}
      - mmap: {name: huge, length: 100 GiB}
      - expect: {errno: ENOMEM}        # the previous operation must have failed with ENOMEM
"""

_INTRO = """\
A workload is a YAML file that describes an emulated machine and the tasks that run on it, step by
step, for the `memsim` command to run.  This file is generated from the declarations of the
workload keys (`python -m memsim.workload.docs`); do not edit it by hand.

```yaml
{example}```

## The file

* The top level is a mapping of **sections**: `machine` (optional: every key has a default),
  `tasks` (required) and the sections plugins add.  Top-level keys that start with `x-` are
  ignored, so they can hold anchors: `x-big: &big {{length: 1 GiB}}`.
* `tasks` is a list of tasks; each has a list of `steps`.  A **step** is a mapping with exactly
  one key, the step name, whose value holds its parameters: `- touch: {{vma: buf}}`.  Parameters
  that all have defaults may be left out: `- exit: {{}}` or `- exit:`.
* Every key is declared with a type, a default and a description (the tables below).  An unknown
  key, a missing required key, a value of the wrong type or a key written twice is an error.
* Anchors (`&name`), aliases (`*name`) and merge keys (`<<: *name`) work as in YAML; a key written
  after a merge key overrides the merged one.
* Numbers are decimal even with leading zeros (`010` is ten), or hexadecimal with `0x`.

### Types

| type | written as |
|---|---|
| int | a whole number: `2`, `0x10` |
| size | bytes: {size_forms}. memsim has no decimal units: `2 MB` is 2 MiB, as in the kernel's `memparse()` and `/proc/meminfo`'s `kB` |
| duration | nanoseconds of emulated time: {duration_forms} |
| str | text; quote it if it starts with `{{` or `[` or holds `: ` |
| bool | `true` or `false` |
| enum | one of the listed words |
| address | a number, usually hexadecimal: `0x7f0000000000` |
| cpu | a CPU number from 0 to `machine.cpus` - 1 |
| list | a YAML list |
| map | a YAML mapping |
| steps | a list of steps |

### Errors

A mistake is reported as `FILE:LINE:COLUMN: problem; fix`, with the column on the offending key or
value, and memsim exits with status 2.  An `expect` step that does not hold exits with status 1
([How failures show](#how-failures-show) lists every way a run ends).  For example:

```
workload.yaml:3:3: unknown key 'cpu' in machine; did you mean 'cpus'?
workload.yaml:9:30: invalid mmap.length: size '1 GB2' has an unknown unit 'GB2'; write a byte count ...
workload.yaml:12:9: duplicate vma name 'buf' in task 'app' (first defined at line 9); give each vma its own name
```
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(p: Param) -> str:
    t = p.type
    if t == "enum":
        return " \\| ".join(f"`{c}`" for c in p.choices)
    if t == "list":
        if p.items:
            return "list of mappings"
        return f"list of {_type(p.of)}" if p.of is not None else "list"
    if t == "map":
        if p.items:
            return "mapping"
        return f"mapping of {_cell(p.of.name)} → {_type(p.of)}" if p.of is not None else "mapping"
    if t == "steps":
        return "list of steps"
    if t == "cpu":
        return "cpu"
    if t == "str" and p.defines:
        return f"str (names a {p.defines})"
    if t == "str" and p.refers:
        return f"str (a {p.refers} name)"
    if t in ("int", "size", "duration", "address"):
        show = {"size": format_size, "duration": format_duration, "address": hex}.get(t, _number)
        if p.minimum is not None and p.maximum is not None:
            return f"{t} {show(p.minimum)}–{show(p.maximum)}"
        if p.minimum == 1 and t != "int":
            return f"{t} > 0"
        if p.minimum is not None:
            return f"{t} ≥ {show(p.minimum)}"
        if p.maximum is not None:
            return f"{t} ≤ {show(p.maximum)}"
    return t


def _number(n: int) -> str:
    if n >= 1 << 32 and (n + 1) & n == 0:
        return f"2^{(n + 1).bit_length() - 1}-1"
    return str(n)


def _default(p: Param) -> str:
    if p.required:
        return "**required**"
    d = p.default
    if d is None:
        return "—"
    if p.type == "size":
        return f"`{format_size(parse_size(d))}`"
    if p.type == "duration":
        return f"`{format_duration(parse_duration(d))}`"
    if p.type == "bool":
        return f"`{str(bool(d)).lower()}`"
    if isinstance(d, (list, tuple, dict)):
        flow = yaml.safe_dump(_plain(d), default_flow_style=True, width=10_000).strip()
        return f"`{_cell(flow)}`"
    return f"`{d}`"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _by(plugin: str) -> str:
    return f" *(plugin `{plugin}`)*"


def _table(params: Sequence[Param], label: str, added: Optional[Mapping[str, str]] = None) -> List[str]:
    """The key table of ``params``; ``added`` maps the keys plugins added to the plugin's name."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    nested: List[str] = []
    added = added or {}
    for p in params:
        by = _by(added[p.name]) if p.name in added else ""
        lines.append(f"| `{p.name}` | {_type(p)} | {_default(p)} | {_cell(p.doc)}{by} |")
        if p.items:
            nested += _nested(p, f"{label}.{p.name}")
        elif p.of is not None and (p.of.items or p.of.of is not None):
            nested += ["", f"Each value of `{label}.{p.name}`: {_type(p.of)}; {p.of.doc}."]
    return lines + nested


def _nested(p: Param, label: str) -> List[str]:
    what = "Each item of" if p.type == "list" else "Keys of"
    if len(p.items) <= 12:
        return ["", f"{what} `{label}`:", ""] + _table(p.items, label + ("[]" if p.type == "list" else ""))
    by_type: dict = {}
    for item in p.items:
        by_type.setdefault(_type(item), []).append(f"`{item.name}`")
    parts = [f"{t}: {', '.join(names)}" for t, names in by_type.items()]
    return ["", f"{what} `{label}` ({len(p.items)}): " + "; ".join(parts) + "."]


def _mmap_values(extensions: Extensions) -> List[str]:
    """The values of mmap's ``type`` and ``flags``, each with the plugin that added it."""
    out = ["", "Values of `mmap.type`:", "", "| type | built as | description |", "|---|---|---|"]
    for t in core_schema.MMAP_TYPES + tuple(extensions.mmap_types.values()):
        base = "—" if t.plugin == "core" else f"`{t.base}`"
        out.append(f"| `{t.name}` | {base} | {_cell(t.doc)}{'' if t.plugin == 'core' else _by(t.plugin)} |")
    out += ["", "Values of `mmap.flags` (with their x86-64 values):", "", "| flag | value | description |",
            "|---|---|---|"]
    flags = sorted(core_schema.MMAP_FLAGS + tuple(extensions.mmap_flags.values()), key=lambda f: f.value)
    for f in flags:
        out.append(f"| `{f.name}` | `{f.value:#x}` | {_cell(f.doc)}{'' if f.plugin == 'core' else _by(f.plugin)} |")
    return out


_STEP_VALUES = {"mmap": _mmap_values}


#: "How failures show": what a run prints and exits with when it does not simply pass.  The
#: messages are real ones (tests/workload/test_failure_docs.py runs their workloads).
_FAILURES = """\
## How failures show

Every run that starts ends one of the ways below.  The summary is printed in each case (with a
last line `stopped early: ...` when the run stopped on an error), then the error, on standard
error, as `memsim: <where>: <problem>; <fix>`; the trace recorded up to the stop is still written
(`--trace`).  What the emulated kernel logged (a panic, a plugin's report) comes before the
summary, under a line `kernel log:`, as dmesg prints it (`[    0.000120] ...`); `--dmesg FILE`
writes it to FILE, up to the stop.  `memsim.run()` returns the result, whose `status` and `error` say the same, instead
of raising.

| how the run ended | exit code | `memsim sweep` counts it as |
|---|---|---|
| every task ran to its end and every `expect` held | 0 | `passed` |
| a signal that no handler caught killed a process (the OOM killer's SIGKILL too: `killed by the OOM killer`) | 0 | `killed` |
| an `expect` did not hold | 1 | `failed` |
| a step failed with an errno that no `expect` follows, or asked for something impossible | 2 | `error` |
| every live task was blocked, none could wake the others | 2 | `deadlocked` |
| memory ran out and no process could be OOM-killed (the kernel panics: `Kernel panic - not syncing: System is deadlocked on memory ...`), or `vm.panic_on_oom` or a plugin made the kernel panic | 2 | `error` |
| a plugin's step or hook raised an exception (a bug in the plugin), or `--check` found a broken invariant (a bug in memsim) | 3 | `error` |

A mistake that stops the run before it starts (the workload does not load, a bad option) exits 2
too.  Ctrl-C stops `memsim run` and `memsim compare` at the run's next preemption point (the
machine is consistent there), writes the trace recorded so far (`--trace`: every event up to that
point, a complete file), prints where the run was and exits 130:

```
memsim: interrupted after step munmap of task toucher (pid 1000) at w.yaml:390:9, 25.175770 s emulated
memsim: the trace recorded so far (288768 events) is in trace.dat
```

A second Ctrl-C stops at once, inside the step, and writes no trace.  `memsim sweep` exits 0
when every run passed or was killed, 1 when one did not.

**errno.** A system call that fails does what the kernel does: nothing, and the kernel's errno
(`ENOMEM`, `EINVAL`, `ENOENT`, ...) is recorded.  The next step must be `- expect: {errno: NAME}`,
which checks it and lets the task go on; otherwise the run stops at the failed step:

```
memsim: e.yaml:8:9: mmap failed with ENOMEM (1073741824 bytes is more than the machine's memory (67108864 bytes) and overcommit is heuristic); fix the step, or follow it with '- expect: {errno: ENOMEM}' if the failure is what you want to see
```

**Signals.** An access the kernel answers with a signal (SIGSEGV, SIGBUS) stops the step at the
faulting byte.  A following `- expect: {signal: SIGSEGV}` (and `si_code`) is the task's handler:
it checks the signal and the task goes on.  Without one the signal kills every thread of the
process, as its default action does; other processes go on, and the run is not an error (exit
code 0): the summary shows `killed by SIGSEGV` for the task, and says where:

```
app (1000): SIGSEGV (SEGV_ACCERR at 0x7ffff7eff000) at w.yaml:9:9, not caught
```

`--json` lists each task's signals (number, `si_code`, address, step) and its wait status.

**expect failures.** An `expect` that does not hold stops the run there, with exit code 1:

```
memsim: x.yaml:10:23: rss anon is 1 MiB (1048576 bytes), expected 2 MiB; the counters include every task's cached deltas
```

**Bugs.** A plugin's step or hook that raises an exception other than memsim's own errors is a
bug in that plugin; memsim names the plugin, the step and its line (or the hook), with exit code
3 and no traceback (`memsim --debug run ...` prints it first):

```
memsim: plugin 'hello': step 'greet' at w.yaml:7:9 raised ZeroDivisionError: division by zero; this is a bug in the plugin: report it to its authors (`memsim --debug ...` shows the traceback), or run without it (-p no:hello)
```

**Broken invariants.** `memsim run --check` (and `memsim.run(check=True)`) checks, after every
scheduler slice and once more in full at the end of the run, that the machine is in a state the
kernel could be in, and stops at the first slice that breaks it (exit code 3, a memsim bug):

- per zone: free + per-CPU + used pages == managed pages; the free lists hold `nr_free` blocks
  per order, each aligned, `PG_buddy` and of its order, and `NR_FREE_PAGES` pages in all;
- per slab cache: objects in use + free == the slabs' objects, `inuse`, frozen and partial-list
  membership agree with the free lists, the node counters match, every slab page is `PG_slab`
  and owned by its cache; in all, the `NR_SLAB_*` page counts match the slabs;
- per mm, against its page tables: each rss counter (with every task's cached deltas) equals
  the pages its PTEs and huge leaves map by kind (swap entries for `MM_SWAPENTS`), and
  `hugetlb_usage` the pages of its hugetlb leaves; per page: its mapcount equals the PTEs
  mapping it, a compound page's entire mapcount the huge leaves mapping it, and its refcount is
  at least all its mappings; every plugin's `memsim_check_invariants` hook.

Its cost is what changed since the last check, not the machine's size: the page-table walks mark
each table they return an entry of (one flag test), and a check compares only those tables with
the copy it kept of them, then verifies the rss counters (a few numbers per mm) and the pages
whose mappings moved; a slab cache with no allocation or free since is not walked again, nor are
the free lists when no list changed.  The check at the end of the run walks everything, for what
a check of the changes cannot see (a count changed behind the page tables' back).  A slice that
leaves work a plugin queued on a task pending (task work: the end of a free another task may
see unfinished) is not checked; the next check covers what it changed.
"""


def render_reference(registries: Registries) -> str:
    """The markdown of docs/workloads.md for the sections and steps in ``registries``."""
    extensions = registries.extensions
    out: List[str] = ["# Workload files", ""]
    out.append(_INTRO.format(example=_EXAMPLE, size_forms=SIZE_FORMS, duration_forms=DURATION_FORMS))
    machine_added = {k.name: k.plugin for k in extensions.machine_keys.values()}
    out += ["## `machine`", "", core_schema.MACHINE_DOC, ""] + _table(
        core_schema.machine_params(extensions), "machine", machine_added)
    out += ["", "## `tasks`", "", core_schema.TASK_DOC + " `tasks` is a list of these; task names are "
            "unique in the workload (forked children and threads included).", ""]
    out += _table(core_schema.TASK_PARAMS, "tasks[]")
    sections = list(registries.sections)
    if sections:
        out += ["", "## Sections added by plugins", "",
                "A section the file leaves out takes its defaults (unless it has a required key)."]
        for spec in sections:
            out += ["", f"### `{spec.name}`", "", f"{spec.doc} *(plugin `{spec.plugin}`)*", ""]
            out += _table(spec.params, spec.name)
    out += ["", "## Steps", "",
            "A step that names a mapping (`vma`) must follow the step that created it in the same "
            "task; a forked child starts with the mappings its parent had at the fork.  The threads "
            "of a process (`clone`) share one address space and so one table of names: a mapping "
            "any of them creates, moves (`mremap`) or unmaps is seen by all.",
            "",
            "**Errors and signals.** A step whose system call fails records the errno; the next "
            "step must be `expect: {errno: ...}` or the run stops (exit code 2).  A step whose "
            "memory access faults the way the kernel answers with a signal (no mapping or a "
            "forbidden access: SIGSEGV; a page beyond the end of a file, a userfaultfd without a "
            "handler, a poisoned page: SIGBUS) raises it at the faulting byte and stops there.  "
            "If the next step is `expect: {signal: ...}` the task has a handler for it: the "
            "expect checks the signal (and `si_code`) and the task goes on after it.  Otherwise "
            "the signal kills every thread of the process (other processes go on) and the run "
            "summary shows `killed by SIGSEGV` for them, with the siginfo in `--json`."]
    for st in registries.steps:
        out += ["", f"### `{st.name}`", "", st.doc + ("" if st.plugin == "core" else f" *(plugin `{st.plugin}`)*"), ""]
        added = {k.name: k.plugin for k in extensions.expect_keys.values()} if st.name == "expect" else {}
        out += _table(core_schema.extended_step(st, extensions).params, st.name, added)
        if st.name in _STEP_VALUES:
            out += _STEP_VALUES[st.name](extensions)
        if st.example:
            out += ["", "```yaml", st.example.rstrip("\n"), "```"]
    out += ["", _FAILURES.rstrip("\n")]
    out += _files_reference(registries)
    return "\n".join(out).rstrip("\n") + "\n"


def _files_reference(registries: Registries) -> List[str]:
    """The file namespace: filesystem types, the files of /proc and /sys, /proc/meminfo."""
    from memsim import mmstat
    from memsim.pseudofs import PROC_FS_TYPE, SYSFS_TYPE, VFS_FILES
    from memsim.vfs import ROOTFS_TYPE, MntNamespace, mode_string
    out = ["", "## Files", "",
           "Every machine has a file namespace that the steps `mkdir`, `rmdir`, `mount`, `umount`, "
           "`read_file`, `write_file` and `expect: {file: ...}` use, and that `memsim run --show "
           "PATH` prints and `memsim run --ls` lists at the end of a run.  Tasks run as root with "
           "umask 022; a failing call sets the errno the kernel returns (check it with "
           "`expect: {errno: ...}`).  At boot, rootfs is mounted at `/` with the directories "
           + ", ".join(f"`{p}`" for p, _ in MntNamespace.BOOT_DIRS)
           + ", procfs at `/proc` and sysfs at `/sys`.",
           "", "### Filesystem types", "", "| type | plugin | description |", "|---|---|---|"]
    for fs in (ROOTFS_TYPE, PROC_FS_TYPE, SYSFS_TYPE) + tuple(registries.filesystems):
        out.append(f"| `{fs.name}` | {fs.plugin} | {_cell(fs.doc)} |")
    out += ["", "### Files of /proc and /sys", "",
            "A path with `{...}` stands for files that exist once per object (node, hstate, "
            "cgroup) and come and go while the machine runs.  The vmstat counters are kept per "
            "CPU as the kernel keeps them: /proc/vmstat, /proc/meminfo and the node files lag "
            "by at most a threshold per CPU until `stat_interval` passes or "
            "`/proc/sys/vm/stat_refresh` is written.", "",
            "| path | mode | plugin | description |", "|---|---|---|---|"]
    files = list(mmstat.CORE_FILES) + list(VFS_FILES) + list(registries.files)
    for pf in sorted(files, key=lambda f: f.path):
        mode = pf.mode if pf.mode is not None else ((0o444 if pf.render or pf.dynamic else 0)
                                                    | (0o200 if pf.write else 0))
        out.append(f"| `{pf.path}` | `{mode_string(mode)}` | {pf.plugin} | {_cell(pf.doc)} |")
    out += ["", "### /proc/meminfo", "",
            "Every line of the kernel's /proc/meminfo is printed, in its order for the profile "
            "(v6.18 adds Zswap, Zswapped, SecPageTables and Balloon).  The core computes most "
            "lines from its counters, as the kernel does; a counter nothing updates yet prints 0. "
            "The other lines come from the plugin that models them, or are 0.", "",
            "| line | value |", "|---|---|"]
    providers = {line.name: line for line in registries.meminfo}
    for name in mmstat.meminfo_names(_profile("v6.18")):
        if name in mmstat.PLUGIN_LINES:
            line = providers.get(name)
            default = mmstat.PLUGIN_LINES[name]
            shown = f"{default >> 10} kB" if default else "0"
            value = f"{_cell(line.doc)} *(plugin `{line.plugin}`)*" if line else f"{shown} (no plugin provides it)"
        else:
            value = _cell(mmstat.CORE_LINES_DOC.get(name, ""))
        out.append(f"| `{name}` | {value} |")
    return out


def _profile(name: str):
    from memsim.profiles import get_profile
    return get_profile(name)


def _no_run(ctx, step):  # pragma: no cover - never run: documentation only
    raise NotImplementedError("core_registries() is for documentation and validation only")


def core_registries() -> Registries:
    """Registries holding only the core steps (with a run function that must not be called)."""
    registries = Registries()
    for st in core_schema.core_step_types({s.name: _no_run for s in core_schema.CORE_STEPS}):
        registries.steps.add(st)
    return registries


def builtin_registries() -> Registries:
    """The registries filled by memsim's own plugins (its ``memsim`` entry points), so the
    reference documents exactly what ships, whatever third-party plugins are installed."""
    from importlib.metadata import distribution
    from memsim.plugin_host import ENTRY_POINT_GROUP, collect_registries, get_plugin_manager
    from memsim.profiles import DEFAULT_PROFILE, get_profile
    eps = [ep for ep in distribution("memsim").entry_points if ep.group == ENTRY_POINT_GROUP]
    registries, _ = collect_registries(get_plugin_manager(entry_points=eps), get_profile(DEFAULT_PROFILE))
    return registries


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the reference to docs/workloads.md (or to the path given as the first argument).

    Run from the repository: ``python -m memsim.workload.docs docs/workloads.md``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = Path(argv[0]) if argv else DOC_PATH
    path.write_text(render_reference(builtin_registries()), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
