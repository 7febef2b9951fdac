"""Workload variants (issue 8): ``--set KEY=VALUE`` and ``--patch NAME=STATE`` applied to the YAML
node tree before the loader reads it, and the registries each variant's kernel profile and
seed-change states need.

Scenarios: a value replaces the file's, adds a missing key or creates a missing mapping; list items
are reached by index or by name; an override the file cannot take is an error naming the option;
a value the loader refuses is reported at the option, not at a line of the file; a variant that
changes the kernel or a seed change gets that profile's events (kmem:rss_stat's print fmt).
"""
import pytest

from memsim.errors import UsageError, WorkloadError
from memsim.patches import PatchStates
from memsim.workload.loader import _compose
from memsim.workload.runner import Run
from memsim.workload.variant import (Host, Override, WorkloadSource, apply_overrides, parse_patch,
                                     parse_set, patch_override, peek, split_values)

TEXT = """\
x-base: &base {cpus: 2, nodes: [{memory: 64 MiB}]}
machine:
  <<: *base
  seed: 3
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf, access: write}
      - expect: {rss: {anon: 256 KiB}}
  - name: other
    cpu: 1
    steps:
      - sleep: {duration: 1 us}
"""
SOURCE = WorkloadSource("w.yaml", TEXT)


@pytest.fixture(scope="module")
def host():
    return Host()


def load(host, *overrides):
    return host.prepare(SOURCE, list(overrides)).workload


def setting(text):
    path, values = parse_set(text, many=False)
    return Override(path, values[0], f"--set {text}")


# -- parsing the options --------------------------------------------------------------------------

def test_values_split_at_top_level_commas():
    assert split_values("1,2, 4") == ["1", "2", "4"]
    assert split_values("[a, b],{x: 1, y: 2},'c,d'") == ["[a, b]", "{x: 1, y: 2}", "'c,d'"]


def test_parse_set():
    assert parse_set("machine.cpus=1,2,4", many=True) == (("machine", "cpus"), ["1", "2", "4"])
    assert parse_set("tasks.0.steps.1.touch.access=read", many=False) == \
        (("tasks", 0, "steps", 1, "touch", "access"), ["read"])
    assert parse_set("machine.nodes=[{memory: 64 MiB}, {memory: 64 MiB}]", many=False)[1] == \
        ["[{memory: 64 MiB}, {memory: 64 MiB}]"]


@pytest.mark.parametrize("text, message", [
    ("machine.cpus", "--set machine.cpus: no '=' in the setting"),
    ("machine.cpus=", "a value is empty"),
    ("machine..cpus=2", "'machine..cpus' is not a dotted path"),
    ("machine.c pus=2", "'c pus' in 'machine.c pus' is not a key name"),
])
def test_parse_set_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_set(text, many=True)


def test_parse_patch():
    assert parse_patch("rss-stat-symbolic=off", many=False) == ("rss-stat-symbolic", [False])
    assert parse_patch("rss-stat-symbolic=on,off", many=True) == ("rss-stat-symbolic", [True, False])
    assert parse_patch("rss-stat-symbolic", many=True, bare_ok=True) == ("rss-stat-symbolic", [True, False])


@pytest.mark.parametrize("text, kwargs, message", [
    ("rss-stat-symbolc=off", {}, "--patch rss-stat-symbolc=off: there is no seed change called "
                                 "'rss-stat-symbolc'; did you mean 'rss-stat-symbolic'?"),
    ("rss-stat-symbolic", {}, "no state given; write --patch rss-stat-symbolic=off"),
    ("rss-stat-symbolic=maybe", {}, "'maybe' is not a patch state; write on or off"),
    ("rss-stat-symbolic=on,on", {"many": True}, "a state is given twice"),
])
def test_parse_patch_errors(text, kwargs, message):
    kwargs.setdefault("many", False)
    with pytest.raises(UsageError) as exc:
        parse_patch(text, **kwargs)
    assert message in str(exc.value)


# -- applying them -----------------------------------------------------------------------------

def test_a_value_replaces_the_files(host):
    w = load(host, setting("machine.seed=9"), setting("tasks.0.steps.0.mmap.length=512 KiB"),
             setting("tasks.app.steps.2.expect.rss.anon=512 KiB"))
    assert w.machine.seed == 9
    assert w.tasks[0].steps[0].args["length"] == 512 << 10


def test_a_value_overrides_a_merged_key_and_keeps_the_others(host):
    w = load(host, setting("machine.cpus=4"))
    assert (w.machine.cpus, w.machine.nodes) == (4, (64 << 20,))
    assert load(host).machine.cpus == 2


def test_a_missing_key_and_a_missing_mapping_are_added(host):
    w = load(host, setting("machine.quantum=64"), patch_override("rss-stat-symbolic", False))
    assert w.machine.quantum == 64 and w.machine.patches.off() == ("rss-stat-symbolic",)


def test_the_file_is_not_changed_by_a_variant(host):
    load(host, setting("machine.cpus=4"))
    assert load(host).machine.cpus == 2 and SOURCE.text == TEXT


@pytest.mark.parametrize("text, message", [
    ("tasks.5.cpu=1", "--set tasks.5.cpu=1: tasks has 2 item(s), no item 5"),
    ("tasks.nobody.cpu=1", "no item of tasks is named 'nobody'"),
    ("machine.seed.x=1", "machine.seed is the value '3', which has no key 'x'"),
])
def test_a_path_the_file_cannot_take_is_an_error_naming_the_option(host, text, message):
    with pytest.raises(UsageError) as exc:
        load(host, setting(text))
    assert message in str(exc.value)


@pytest.mark.parametrize("text, message", [
    ("machine.cpus=0", "--set machine.cpus=0: machine.cpus is 0; give a number greater than zero"),
    ("machine.cpu=2", "--set machine.cpu=2: unknown key 'cpu' in machine; did you mean 'cpus'?"),
    ("tasks.other.cpu=7", "--set tasks.other.cpu=7: tasks[1].cpu is 7 but the machine has CPUs 0 to 1"),
    ("machine.cpus=[1", "--set machine.cpus=[1: the value is not valid YAML"),
])
def test_a_value_the_loader_refuses_is_reported_at_the_option(host, text, message):
    with pytest.raises((UsageError, WorkloadError)) as exc:
        load(host, setting(text))
    assert str(exc.value).startswith(message)


def test_a_patch_override_of_a_plugin_left_out_is_reported_at_the_option():
    host = Host(("kasan",))                                 # -p no:kasan
    with pytest.raises(WorkloadError, match="^--patch kasan-tag-fe=off: seed change 'kasan-tag-fe' belongs to "
                                            "plugin 'kasan', which is disabled"):
        load(host, patch_override("kasan-tag-fe", False))
    with pytest.raises(UsageError, match="^--patch kasan-tag-fe: seed change 'kasan-tag-fe' belongs to plugin"):
        host.check_patches(["kasan-tag-fe"])


def test_peek_reads_the_kernel_and_patches_leniently():
    root = apply_overrides(_compose(TEXT, "w.yaml"), [setting("machine.kernel=v6.18"),
                                                      patch_override("rss-stat-symbolic", False)])
    assert peek(root) == ("v6.18", {"rss-stat-symbolic": False})
    assert peek(_compose("machine: [1]\ntasks: []\n", "w.yaml")) == ("v5.14", {})
    assert peek(_compose("machine: {kernel: v9.9, patches: {nope: off}}\n", "w.yaml")) == ("v5.14", {})


# -- registries per variant ------------------------------------------------------------------------

def test_each_variant_gets_the_registries_of_its_kernel_and_states(host):
    base = host.prepare(SOURCE)
    v618 = host.prepare(SOURCE, [setting("machine.kernel=v6.18")])
    off = host.prepare(SOURCE, [patch_override("rss-stat-symbolic", False)])
    assert "kmem:mm_setup_per_zone_wmarks" in v618.events and "kmem:mm_setup_per_zone_wmarks" not in base.events
    assert "member=%d" in off.events.get("kmem:rss_stat").print_fmt
    assert "type=%s" in base.events.get("kmem:rss_stat").print_fmt
    assert off.workload.machine.patches == PatchStates({"rss-stat-symbolic": False})
    # the file's own machine.patches are seen too
    text = TEXT.replace("  seed: 3\n", "  seed: 3\n  patches: {rss-stat-symbolic: off}\n")
    assert "member=%d" in host.prepare(WorkloadSource("p.yaml", text)).events.get("kmem:rss_stat").print_fmt


def test_a_variant_is_prepared_once_and_its_events_are_enabled_as_asked(host):
    a = host.prepare(SOURCE, [setting("machine.seed=5")], events=["kmem:rss_stat"])
    assert a.events.enabled() == ["kmem:rss_stat"]
    b = host.prepare(SOURCE, [setting("machine.seed=5")])
    assert b is a and b.events.enabled() == []
    with pytest.raises(UsageError, match="--events"):
        host.prepare(SOURCE, events=["kmem:nope"])


def test_runs_of_one_variant_are_independent(host):
    p = host.prepare(SOURCE, events=["kmem:*"])
    first = Run(p.workload, p.registries, p.events, host.pm, seed=1).execute()
    second = Run(p.workload, p.registries, p.events, host.pm, seed=1).execute()
    assert first.error is None and second.error is None
    assert first.machine.tb.stats() == second.machine.tb.stats()
    assert first.summary()["events"]["written"] > 0
