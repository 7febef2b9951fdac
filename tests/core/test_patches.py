"""The seed changes as switches (issue 8, "The registry"): the core's fixed table, the states a
machine runs with, the implementations plugins attach, and rss-stat-symbolic in kmem.

Scenarios: the table holds the nine names of the issue with their owning plugins; a change is on
on every kernel that merged it; a plugin may implement only a change it owns, once, with valid
metrics; machine.patches switches a change, and naming one whose plugin is missing, disabled or
silent is an error at the key that names the plugin; rss-stat-symbolic off gives kmem:rss_stat
the pre-change print fmt (include/trace/events/kmem.h before v5.13) under both profiles.

Every change has its plugin now, so the generic machinery is exercised on kasan-tag-fe with the
built-in kasan plugin left out (an install without it: ``without_kasan()``) and, where a test
needs an owner it controls, a stand-in registered under the name kasan in its place.
"""
import importlib.metadata
import types

import pytest

from memsim.errors import PluginError, WorkloadError
from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.patches import (PATCH_NAMES, SEED_PATCHES, PatchImpl, PatchMetric, PatchStates,
                            default_states)
from memsim.plugin_host import ENTRY_POINT_GROUP, collect_registries, get_plugin_manager
from memsim.profiles import PROFILES, get_profile
from memsim.testing import run_text, trace_text
from memsim.tracing.formatfile import format_file
from memsim.workload.loader import load_workload_text
from memsim.workload.runner import Run
from memsim.workload.variant import Host, WorkloadSource

#: the issue's table: name -> owning plugin
ISSUE_TABLE = {
    "uffd-minor": "userfaultfd", "hugetlb-contig-dissolve": "hugetlb",
    "hugetlb-resize-mutex": "hugetlb", "no-nrexceptional": "pagecache", "kasan-tag-fe": "kasan",
    "rss-stat-symbolic": "kmem", "objcg-kmem": "memcg", "swapin-charge-first": "swap",
    "memcg-rstat": "memcg",
}

#: kmem:rss_stat before "mm, tracing: improve rss_stat tracepoint message" (v5.12 kmem.h);
#: the format file of a 5.10 kernel, as published (ID aside)
PRE_CHANGE_FMT = 'print fmt: "mm_id=%u curr=%d member=%d size=%ldB", REC->mm_id, REC->curr, REC->member, REC->size\n'
POST_CHANGE_FMT = ('print fmt: "mm_id=%u curr=%d type=%s size=%ldB", REC->mm_id, REC->curr, '
                   '__print_symbolic(REC->member, { 0, "MM_FILEPAGES" }, { 1, "MM_ANONPAGES" }, '
                   '{ 2, "MM_SWAPENTS" }, { 3, "MM_SHMEMPAGES" }), REC->size\n')

WORKLOAD = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]%s}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 512 KiB}
      - touch: {vma: buf, access: write}
      - munmap: {vma: buf}
"""


def plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def without_kasan():
    """memsim's own plugins (its entry points) less kasan: an install without the kasan plugin.
    ``-p no:kasan`` would not do for a stand-in: a disabled name stays blocked for every plugin."""
    return [ep for ep in importlib.metadata.distribution("memsim").entry_points
            if ep.group == ENTRY_POINT_GROUP and ep.name != "kasan"]


def kasan_plugin(impl=None, name="kasan"):
    """A stand-in for the kasan plugin implementing kasan-tag-fe, loaded in place of the built-in
    one (``registries(..., kasan=False)``): a model and metric the test controls."""
    impl = impl or PatchImpl("kasan-tag-fe", "unallocated memory is tagged 0xFE.",
                             metrics=(PatchMetric("stat_error", "accesses the old tag misses",
                                                  lambda m: 0 if m.patches.enabled("kasan-tag-fe") else 32),))
    return plugin(name, memsim_register_patches=lambda patches: patches.add(impl))


def registries(*plugins, disabled=(), kernel="v5.14", states=None, kasan=True):
    """The registries of memsim's plugins (less the built-in kasan if not ``kasan``) and ``plugins``."""
    pm = get_plugin_manager(disabled=disabled, extra_plugins=plugins,
                            entry_points=None if kasan else without_kasan())
    return collect_registries(pm, get_profile(kernel), patch_states=states)


def run_without_kasan(text, *plugins):
    """Run a workload as ``run_text`` does, with ``plugins`` in place of the built-in kasan."""
    host = Host(pm=get_plugin_manager(extra_plugins=plugins, entry_points=without_kasan()))
    prepared = host.prepare(WorkloadSource("w.yaml", text))
    return Run(prepared.workload, prepared.registries, prepared.events, host.pm).execute()


# -- the table ------------------------------------------------------------------------------------

def test_the_table_holds_the_nine_changes_of_the_issue_with_their_owners():
    assert {p.name: p.plugin for p in SEED_PATCHES} == ISSUE_TABLE
    assert PATCH_NAMES == tuple(ISSUE_TABLE)
    for p in SEED_PATCHES:
        assert p.subject and p.summary and p.merged_in.startswith("v5.1")


@pytest.mark.parametrize("kernel", list(PROFILES))
def test_every_change_is_on_under_both_profiles(kernel):
    states = default_states(get_profile(kernel))
    assert states.off() == () and all(states.enabled(n) for n in PATCH_NAMES)


def test_a_kernel_older_than_a_change_has_it_off():
    v512 = types.SimpleNamespace(version=(5, 12))
    states = default_states(v512)
    assert states.enabled("kasan-tag-fe")           # merged in v5.12
    assert not states.enabled("rss-stat-symbolic") and not states.enabled("hugetlb-contig-dissolve")


def test_states_are_read_only_values():
    states = PatchStates({"rss-stat-symbolic": False})
    assert states.off() == ("rss-stat-symbolic",) and states.label() == "rss-stat-symbolic=off"
    assert states.with_states({"rss-stat-symbolic": True}) == PatchStates()
    assert PatchStates().label() == "all on"
    assert len({PatchStates(), PatchStates({"uffd-minor": True})}) == 1
    with pytest.raises(KeyError, match="did you mean 'uffd-minor'"):
        states.enabled("uffd-minr")
    with pytest.raises(KeyError):
        PatchStates({"no-such-change": True})


# -- implementations ---------------------------------------------------------------------------

def test_every_change_is_implemented_by_its_plugin():
    regs, _ = registries()
    assert regs.patches.names() == PATCH_NAMES
    assert {impl.name: impl.plugin for impl in regs.patches} == ISSUE_TABLE
    assert regs.patches.get("kasan-tag-fe").plugin == "kasan"
    assert regs.patches.get("swapin-charge-first").plugin == "swap"
    assert regs.patches.get("uffd-minor").plugin == "userfaultfd"
    assert regs.patches.get("memcg-rstat").plugin == "memcg"
    assert regs.patches.get("objcg-kmem").plugin == "memcg"
    assert regs.patches.get("hugetlb-contig-dissolve").plugin == "hugetlb"
    impl = regs.patches.get("rss-stat-symbolic")
    assert impl.plugin == "kmem" and impl.events == ("kmem:rss_stat",)
    assert [m.name for m in impl.metrics] == ["rss_stat_text_bytes", "rss_stat_by_index"]
    assert regs.patches.get("no-nrexceptional").plugin == "pagecache"


@pytest.mark.parametrize("impl, message", [
    (PatchImpl("kasan-tag-f", "x"), "there is no seed change called 'kasan-tag-f'; did you mean 'kasan-tag-fe'"),
    (PatchImpl("uffd-minor", "x"), "seed change 'uffd-minor' belongs to plugin 'userfaultfd', not 'kasan'"),
    (PatchImpl("kasan-tag-fe", " "), "has no model"),
    (PatchImpl("kasan-tag-fe", "x", metrics=(PatchMetric("Bad Name", "d", len),)), "metric name 'Bad Name'"),
    (PatchImpl("kasan-tag-fe", "x", files=("memory.stat",)), "not an absolute path"),
])
def test_a_plugin_implements_only_its_own_changes_with_valid_metrics(impl, message):
    with pytest.raises(PluginError, match="plugin 'kasan'") as exc:
        registries(kasan_plugin(impl), kasan=False)
    assert message in str(exc.value)


def test_metric_names_are_unique_across_the_changes():
    impl = PatchImpl("kasan-tag-fe", "x", metrics=(PatchMetric("rss_stat_text_bytes", "d", len),))
    with pytest.raises(PluginError, match="metric 'rss_stat_text_bytes' of seed change '.*' is also a "
                                          "metric of '.*' \\(plugin '(kmem|kasan)'\\)"):
        registries(kasan_plugin(impl), kasan=False)


def test_a_change_is_implemented_once():
    twice = plugin("kasan", memsim_register_patches=lambda patches: [
        patches.add(PatchImpl("kasan-tag-fe", "x")), patches.add(PatchImpl("kasan-tag-fe", "y"))])
    with pytest.raises(PluginError, match="seed change 'kasan-tag-fe' is added twice"):
        registries(twice, kasan=False)


def test_a_stand_in_takes_the_owner_s_place_only_when_the_owner_is_not_installed():
    with pytest.raises(PluginError, match="^plugin 'kasan': Plugin name already registered: kasan="):
        registries(kasan_plugin())                          # beside the built-in kasan
    regs, _ = registries(kasan_plugin(), disabled=["kasan"])
    assert regs.patches.get("kasan-tag-fe") is None         # -p no:kasan blocks the name
    regs, _ = registries(kasan_plugin(), kasan=False)
    assert regs.patches.get("kasan-tag-fe").model == "unallocated memory is tagged 0xFE."


# -- machine.patches -------------------------------------------------------------------------------

def test_machine_patches_switch_a_change_and_the_rest_keep_the_defaults():
    regs, _ = registries()
    w = load_workload_text(WORKLOAD % ", patches: {rss-stat-symbolic: off}", "w.yaml", regs)
    assert w.machine.patches.off() == ("rss-stat-symbolic",)
    assert w.machine.given_patches == {"rss-stat-symbolic"}
    assert w.machine.patches.enabled("memcg-rstat")
    w = load_workload_text(WORKLOAD % "", "w.yaml", regs)
    assert w.machine.patches == PatchStates() and w.machine.given_patches == frozenset()


def test_a_machine_runs_with_its_states():
    assert Machine(MachineSpec(nodes=(64 << 20,))).patches == PatchStates()
    off = PatchStates({"rss-stat-symbolic": False})
    assert Machine(MachineSpec(nodes=(64 << 20,), patches=off)).patches is off


def column(text, word):
    return text.index(word) + 1


@pytest.mark.parametrize("patches, at, message", [
    ("{rss-stat-symbolc: off}", "rss-stat-symbolc", "unknown key 'rss-stat-symbolc' in machine.patches; "
                                                    "did you mean 'rss-stat-symbolic'?"),
    ("{rss-stat-symbolic: of}", "of}", "is not one of on, off"),
    ("{kasan-tag-fe: off}", "kasan-tag-fe", "seed change 'kasan-tag-fe' belongs to plugin 'kasan', "
                                            "which is not installed (memsim does not have it yet)"),
])
def test_machine_patches_errors_point_at_the_key(patches, at, message):
    regs, _ = registries(kasan=False)
    text = WORKLOAD % f", patches: {patches}"
    with pytest.raises(WorkloadError) as exc:
        load_workload_text(text, "w.yaml", regs)
    assert str(exc.value).startswith(f"w.yaml:1:{column(text, at)}: ") and message in str(exc.value)


def test_a_change_of_a_disabled_plugin_is_an_error_naming_it():
    regs, _ = registries(disabled=["kasan"])
    assert "kasan" in regs.plugins_disabled
    with pytest.raises(WorkloadError, match=r"w.yaml:1:57: seed change 'kasan-tag-fe' belongs to plugin "
                                            r"'kasan', which is disabled \(-p no:kasan\); remove -p no:kasan"):
        load_workload_text(WORKLOAD % ", patches: {kasan-tag-fe: off}", "w.yaml", regs)


def test_a_loaded_plugin_that_does_not_implement_its_change_is_an_error():
    regs, _ = registries(plugin("kasan", memsim_register_summary=lambda summary: None), kasan=False)
    with pytest.raises(WorkloadError, match="plugin 'kasan' is loaded but does not implement seed "
                                            "change 'kasan-tag-fe'"):
        load_workload_text(WORKLOAD % ", patches: {kasan-tag-fe: off}", "w.yaml", regs)


def test_an_implemented_change_is_switched_and_its_metric_sees_it():
    on = run_without_kasan(WORKLOAD % "", kasan_plugin())
    off = run_without_kasan(WORKLOAD % ", patches: {kasan-tag-fe: off}", kasan_plugin())
    metric = off.registries.patches.get("kasan-tag-fe").metrics[0]
    assert (metric.compute(on.machine), metric.compute(off.machine)) == (0, 32)


# -- rss-stat-symbolic -------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", list(PROFILES))
@pytest.mark.parametrize("symbolic, fmt", [(True, POST_CHANGE_FMT), (False, PRE_CHANGE_FMT)])
def test_rss_stat_format_file_on_each_side_of_the_change(kernel, symbolic, fmt):
    _, events = registries(kernel=kernel, states=PatchStates({"rss-stat-symbolic": symbolic}))
    decl = events.get("kmem:rss_stat")
    text = format_file(decl, events.id_of(decl.full_name))
    assert text.endswith("\n\n" + fmt)
    # the fields do not change: a trace.dat's records are the same on both sides
    assert "\tfield:int member;\toffset:16;\tsize:4;\tsigned:1;\n" in text


def trace_lines(run):
    return trace_text(run).splitlines()


@pytest.mark.parametrize("kernel", list(PROFILES))
def test_rss_stat_lines_print_the_index_when_the_change_is_off(kernel):
    text = WORKLOAD % f", kernel: {kernel}, patches: {{rss-stat-symbolic: off}}"
    off = [line for line in trace_lines(run_text(text, events=("kmem:rss_stat",))) if "rss_stat" in line]
    on = [line for line in trace_lines(run_text(WORKLOAD % f", kernel: {kernel}", events=("kmem:rss_stat",)))
          if "rss_stat" in line]
    assert len(on) == len(off) > 0
    for a, b in zip(on, off):
        assert a.replace("type=MM_FILEPAGES", "member=0").replace("type=MM_ANONPAGES", "member=1") \
                .replace("type=MM_SWAPENTS", "member=2").replace("type=MM_SHMEMPAGES", "member=3") == b
    assert any("member=1" in line for line in off)


def test_rss_stat_metrics_count_the_lines_by_index_and_the_text():
    on = run_text(WORKLOAD % "", events=("kmem:rss_stat",))
    off = run_text(WORKLOAD % ", patches: {rss-stat-symbolic: off}", events=("kmem:rss_stat",))
    metrics = {m.name: m for m in on.registries.patches.get("rss-stat-symbolic").metrics}
    lines = [line for line in trace_lines(off) if "rss_stat" in line]
    assert metrics["rss_stat_by_index"].compute(on.machine) == 0
    assert metrics["rss_stat_by_index"].compute(off.machine) == len(lines)
    # "type=MM_ANONPAGES" is 12 characters longer than "member=1"
    assert metrics["rss_stat_text_bytes"].compute(off.machine) == sum(
        len(line.split(": rss_stat: ")[1]) + 1 for line in lines)     # with the newline
    longer = len("type=MM_ANONPAGES") - len("member=1")               # 9: every name has 12 letters
    assert metrics["rss_stat_text_bytes"].compute(on.machine) - \
        metrics["rss_stat_text_bytes"].compute(off.machine) == longer * len(lines)
    # nothing recorded, nothing to count
    quiet = run_text(WORKLOAD % "", events=())
    assert metrics["rss_stat_text_bytes"].compute(quiet.machine) == 0
