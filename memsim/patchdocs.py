"""Render docs/patches.md, the page on the nine seed changes, from the registry.

The table is the core's (:data:`memsim.patches.SEED_PATCHES`); what each built-in plugin attaches
to a change (:class:`memsim.patches.PatchImpl`: its model, files, metrics, events) comes from the
plugins memsim ships (its own ``memsim`` entry points, whatever third-party plugins are
installed).  For each implemented change with a demo workload (``configs/patch-<name>.yaml``) the
page embeds the text of ``memsim compare`` run on it: the runs are deterministic, so the page is
the same on every machine, and a test (tests/core/test_patch_docs.py) fails when it is stale.

Run from the repository: ``python -m memsim.patchdocs docs/patches.md``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

__all__ = ["render_patches", "builtin_host", "main", "REGENERATE"]

#: The source tree's root when memsim runs from it (an editable install): demo workloads are read
#: from its configs/.  An installed memsim has no configs/: give ``root``.
ROOT = Path(__file__).resolve().parents[1]
#: The command that rewrites the page.
REGENERATE = "python -m memsim.patchdocs docs/patches.md"

_INTRO = """\
# The seed changes

memsim exists to show what nine kernel changes do (the seed of this project: commits merged
between v5.12 and v5.14). Each one is a switch: **on** is the kernel with the change, **off** the
kernel before it. Both kernel profiles, v5.14 and v6.18, merged all nine, so every change is on by
default; turning one off makes the machine behave as the kernel did before the change. This page is
generated from the registry (`{regenerate}`); do not edit it by hand.

How to switch them:

- `memsim patches` lists the nine, each with its state under a profile and whether the plugin that
  implements it is loaded (`--json` for a program).
- A workload turns a change off under `machine`:

  ```yaml
  machine:
    patches: {{rss-stat-symbolic: off}}
  ```

- On the command line, `--patch NAME=on|off` (repeatable) overrides the file: `memsim run`,
  `check` and `events` take one state (`--patch rss-stat-symbolic=off`); `memsim sweep` takes a
  list (`--patch NAME=on,off`) and runs every state over many seeds.
- `memsim compare WORKLOAD --patch NAME` runs the workload twice with the same seed, the change on
  and then off, and prints side by side what differs: the run (status, emulated time), each
  task's rss and faults, pages allocated and freed, /proc/meminfo, the files and trace formats the
  change's plugin names, records per trace event, and the metrics (`--json` for the same as one
  object, `--plot OUT.png` for both timelines on shared axes). The runs are deterministic, so the
  difference is the change's.
- A plugin reads the state with `machine.patches.enabled(NAME)` (or `patch_states` in
  `memsim_register_events`, `config.machine.patches` in `memsim_machine_configure`) and attaches
  its model, files, metrics and events in `memsim_register_patches` (docs/plugins.md). Only the
  plugin that owns a change implements it; a change whose plugin is missing or disabled cannot be
  switched (`--patch` names the plugin).

Each change's demo workload is `configs/patch-<name>.yaml`.
"""


def builtin_host():
    """A :class:`memsim.workload.variant.Host` with memsim's own plugins only (its ``memsim``
    entry points), so the page documents exactly what ships."""
    from importlib.metadata import distribution
    from memsim.plugin_host import ENTRY_POINT_GROUP, get_plugin_manager
    from memsim.workload.variant import Host
    eps = [ep for ep in distribution("memsim").entry_points if ep.group == ENTRY_POINT_GROUP]
    return Host(pm=get_plugin_manager(entry_points=eps))


def _status(seed, registries) -> Tuple[str, str]:
    """(the table's word for where the change stands in memsim, why it is not implemented)."""
    from memsim.patches import plugin_state
    if registries.patches.get(seed.name) is not None:
        return "implemented", ""
    state = plugin_state(seed.plugin, registries.plugins_loaded, registries.plugins_disabled)
    if state == "loaded":
        return ("not implemented (the plugin does not implement it yet)",
                f"the {seed.plugin} plugin does not implement it yet")
    return "not implemented (plugin not written yet)", f"the {seed.plugin} plugin does not exist yet"


def _compare_text(host, name: str, demo: str, root: Path) -> str:
    from memsim.compare import comparison, render_text, run_sides
    from memsim.workload.variant import WorkloadSource
    text = (root / demo).read_text(encoding="utf-8")
    source = WorkloadSource(demo, text)           # the path as the page's command line writes it
    return render_text(comparison(run_sides(host, source, name), name))


def _section(seed, impl, why: str, host, root: Path) -> List[str]:
    demo = f"configs/patch-{seed.name}.yaml"
    out = [f"## `{seed.name}`", ""]
    commit = f"commit {seed.commit}, " if seed.commit else ""
    out += [f"**In the kernel:** \"{seed.subject}\" ({commit}merged in {seed.merged_in}). "
            f"What it changes: {seed.summary}. Owned by the `{seed.plugin}` plugin.", ""]
    if impl is None:
        out += [f"**How memsim models it:** not implemented yet: {why}, so `--patch {seed.name}` is "
                "refused with a message naming the plugin.", ""]
    else:
        out += [f"**How memsim models it:** {impl.model}", ""]
        files = ", ".join(f"`{f}`" for f in impl.files) if impl.files else "none named"
        events = ", ".join(f"`{e}`" for e in impl.events) if impl.events else "none named"
        out += [f"**Files compared:** {files}. **Trace events whose formats are compared:** {events}.", ""]
        if impl.metrics:
            out += ["**Metrics** (computed at the end of a run; `memsim compare` and `memsim sweep` "
                    "report them with the core's):", "",
                    "| metric | unit | what it counts |", "|---|---|---|"]
            out += [f"| `{m.name}` | {m.unit or '—'} | {m.doc} |" for m in impl.metrics]
            out.append("")
        else:
            out += ["**Metrics:** none of its own (the core's are reported).", ""]
    exists = (root / demo).is_file()
    if not exists:
        out += [f"**Demo:** `{demo}` does not exist yet.", ""]
        return out
    out += [f"**Demo:** `{demo}`.", ""]
    if impl is None:
        return out
    out += [f"**`memsim compare {demo} --patch {seed.name}`** (on: with the change; off: before "
            "it; diff: off minus on, blank when equal):", "", "```text"]
    out += _compare_text(host, seed.name, demo, root).rstrip("\n").splitlines()
    out += ["```", ""]
    return out


def render_patches(host=None, root: Optional[Path] = None) -> str:
    """The text of docs/patches.md: the intro, the table of the nine changes, and a section
    per change (with ``memsim compare`` on its demo when it is implemented and has one).
    ``host`` defaults to :func:`builtin_host`; ``root`` (where ``configs/`` is) to the source tree."""
    from memsim.patches import SEED_PATCHES
    host = host if host is not None else builtin_host()
    root = root if root is not None else ROOT
    registries, _ = host.registries("v5.14")
    out = [_INTRO.format(regenerate=REGENERATE), "## The nine changes", "",
           "| name | subject | commit | merged in | plugin | in memsim |", "|---|---|---|---|---|---|"]
    statuses = {seed.name: _status(seed, registries) for seed in SEED_PATCHES}
    for seed in SEED_PATCHES:
        out.append(f"| [`{seed.name}`](#{seed.name}) | {seed.subject} | {seed.commit or '—'} | "
                   f"{seed.merged_in} | `{seed.plugin}` | {statuses[seed.name][0]} |")
    out.append("")
    for seed in SEED_PATCHES:
        out += _section(seed, registries.patches.get(seed.name), statuses[seed.name][1], host, root)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the page to docs/patches.md (or to the path given as the first argument), reading
    the demo workloads from the configs/ next to its docs/ folder."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = Path(argv[0] if argv else "docs/patches.md")
    path.write_text(render_patches(root=path.resolve().parent.parent), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
