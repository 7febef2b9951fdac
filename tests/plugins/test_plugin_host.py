"""The plugin host: finding, loading, disabling and listing plugins, and filling the registries.

Scenarios (STYLE 4, 5, 6, 9, 12): built-in plugins come through the ``memsim`` entry-point group
like any other; essential plugins refuse ``-p no:``; unknown names get the closest known name; a
plugin that cannot be imported or that implements a hook wrongly is a PluginError saying where and
how to fix it; plugins add steps and events through typed registries; a name added by two plugins
is an error naming both.
"""
import importlib
import importlib.metadata
import subprocess
import sys
import textwrap
import types
import uuid

import pytest

from memsim.errors import PluginError
from memsim.hookspecs import hookimpl
from memsim.plugin_host import (ENTRY_POINT_GROUP, ESSENTIAL, PluginInfo, check_invariants, collect_registries,
                                get_plugin_manager, list_plugins)
from memsim.profiles import get_profile
from memsim.registry import Param, Registries, StepType

PROFILE = get_profile("v5.14")


def importable(module):
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return str(exc)
    return None


def builtins_missing():
    for module in ("memsim.plugins.kmem", "memsim.plugins.core_steps"):
        problem = importable(module)
        if problem:
            return f"{module} is not importable yet (written by the lead): {problem}"
    return None


def events_missing():
    problem = importable("memsim.tracing.events")
    return f"memsim.tracing.events is not importable yet: {problem}" if problem else None


needs_builtins = pytest.mark.skipif(builtins_missing() is not None, reason=str(builtins_missing()))
needs_events = pytest.mark.skipif(events_missing() is not None, reason=str(events_missing()))


class StubEvents:
    """An event registry for tests whose plugins declare no events (memsim.tracing.events may not exist)."""

    def __init__(self):
        self.decls = []

    def add(self, decl):
        self.decls.append(decl)


def make_plugin(name, **hooks):
    """A plugin module called ``name`` with the given hook implementations."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return module


def step(name, plugin):
    return StepType(name=name, doc=f"the {name} step", params=(Param("times", "int", "repeat", default=1),),
                    run=lambda ctx, step: None, plugin=plugin)


@pytest.fixture
def entry_point(tmp_path, monkeypatch):
    """entry_point(name, source) writes a plugin module and returns an EntryPoint for it."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name, source):
        module = f"memsim_testplugin_{name}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)

    return make


# --- built-in plugins ------------------------------------------------------------------------

def test_memsim_declares_its_builtin_plugins_in_the_memsim_group():
    eps = importlib.metadata.distribution("memsim").entry_points
    names = {ep.name: ep.value for ep in eps if ep.group == ENTRY_POINT_GROUP}
    assert names == {"kmem": "memsim.plugins.kmem", "core_steps": "memsim.plugins.core_steps",
                     "pagecache": "memsim.plugins.pagecache", "hugetlb": "memsim.plugins.hugetlb",
                     "userfaultfd": "memsim.plugins.userfaultfd", "memcg": "memsim.plugins.memcg",
                     "swap": "memsim.plugins.swap", "kasan": "memsim.plugins.kasan"}
    assert set(ESSENTIAL) <= set(names)


@needs_builtins
def test_builtin_plugins_load_through_the_entry_point_group():
    infos = list_plugins(get_plugin_manager())
    assert [info.name for info in infos][:2] == list(ESSENTIAL)
    version = importlib.metadata.version("memsim")
    for info in infos[:2]:
        assert info.dist == "memsim" and info.version == version
        assert info.hooks and all(hook.startswith("memsim_") for hook in info.hooks)


@needs_builtins
@needs_events
def test_builtin_plugins_fill_the_registries():
    registries, events = collect_registries(get_plugin_manager(), PROFILE)
    assert isinstance(registries, Registries)
    assert len(registries.steps) > 0


@pytest.mark.parametrize("name", ESSENTIAL)
def test_an_essential_plugin_cannot_be_disabled(name):
    # Refused before any plugin is imported, so this holds whatever the state of the built-ins.
    with pytest.raises(PluginError, match=rf"-p no:{name}: '{name}' is an essential plugin and cannot be disabled"):
        get_plugin_manager(disabled=[name])


def test_an_unknown_plugin_name_suggests_the_closest_installed_one():
    with pytest.raises(PluginError, match=r"-p no:kmme: there is no plugin called 'kmme'; did you mean 'kmem'\?"):
        get_plugin_manager(disabled=["kmme"])


# --- loading, disabling and listing ----------------------------------------------------------

def test_a_plugin_is_listed_with_its_hooks_in_lifecycle_order(entry_point):
    ep = entry_point("demo", """
        from memsim.hookspecs import hookimpl
        __version__ = "9.9"

        @hookimpl
        def memsim_run_finished(machine, summary):
            pass

        @hookimpl
        def memsim_register_steps(steps):
            pass
    """)
    infos = list_plugins(get_plugin_manager(entry_points=[ep]))
    # Not from a distribution (a bare entry point): the version is the module's __version__.
    assert infos == [PluginInfo(name="demo", version="9.9", dist=None,
                                hooks=("memsim_register_steps", "memsim_run_finished"))]


def test_a_disabled_plugin_is_never_imported(entry_point):
    broken = importlib.metadata.EntryPoint(name="broken", value="memsim_no_such_module", group=ENTRY_POINT_GROUP)
    good = entry_point("good", "")
    pm = get_plugin_manager(disabled=["broken"], entry_points=[broken, good])
    assert [info.name for info in list_plugins(pm)] == ["good"]
    assert pm.is_blocked("broken")


def test_a_plugin_that_fails_to_import_names_the_entry_point_and_the_error():
    broken = importlib.metadata.EntryPoint(name="broken", value="memsim_no_such_module", group=ENTRY_POINT_GROUP)
    with pytest.raises(PluginError) as info:
        get_plugin_manager(entry_points=[broken])
    message = str(info.value)
    assert "entry point 'broken = memsim_no_such_module'" in message
    assert "ModuleNotFoundError: No module named 'memsim_no_such_module'" in message
    assert message.endswith("run with -p no:broken")
    assert "\n" not in message


def test_a_plugin_that_raises_at_import_is_reported(entry_point):
    ep = entry_point("raising", "raise RuntimeError('no configuration found')")
    with pytest.raises(PluginError, match=r"entry point 'raising = .*cannot load the plugin: "
                                          r"RuntimeError: no configuration found"):
        get_plugin_manager(entry_points=[ep])


def test_an_unknown_name_among_several_plugins_gets_a_suggestion(entry_point):
    eps = [entry_point("hello", ""), entry_point("hugetlb", "")]
    with pytest.raises(PluginError, match=r"did you mean 'hello'\?"):
        get_plugin_manager(disabled=["helo"], entry_points=eps)
    with pytest.raises(PluginError, match=r"there is no plugin called 'zzz'; the plugins are: hello, hugetlb"):
        get_plugin_manager(disabled=["zzz"], entry_points=eps)


def test_the_same_plugin_name_from_two_places_is_an_error():
    a = importlib.metadata.EntryPoint(name="twice", value="memsim_a", group=ENTRY_POINT_GROUP)
    b = importlib.metadata.EntryPoint(name="twice", value="memsim_b", group=ENTRY_POINT_GROUP)
    with pytest.raises(PluginError, match=r"plugin 'twice': provided both by .*memsim_a.* and by .*memsim_b.*; "
                                          r"uninstall one of them"):
        get_plugin_manager(entry_points=[a, b])


def test_extra_plugins_are_registered_and_can_be_disabled():
    plugin = make_plugin("extra", memsim_run_start=hookimpl(lambda machine: None))
    assert [i.name for i in list_plugins(get_plugin_manager(extra_plugins=[plugin], entry_points=[]))] == ["extra"]
    assert list_plugins(get_plugin_manager(disabled=["extra"], extra_plugins=[plugin], entry_points=[])) == []


# --- hook implementations checked against the hookspecs --------------------------------------

def test_a_hook_without_hookimpl_is_an_error():
    plugin = make_plugin("forgetful", memsim_register_steps=lambda steps: None)
    with pytest.raises(PluginError, match=r"plugin 'forgetful': memsim_register_steps is not marked as a hook "
                                          r"implementation; decorate it with @hookimpl"):
        get_plugin_manager(extra_plugins=[plugin], entry_points=[])


def test_a_misspelled_hook_suggests_the_real_one():
    plugin = make_plugin("typo", memsim_register_step=hookimpl(lambda steps: None))
    with pytest.raises(PluginError, match=r"plugin 'typo': memsim_register_step is not a memsim hook; "
                                          r"did you mean 'memsim_register_steps'\?"):
        get_plugin_manager(extra_plugins=[plugin], entry_points=[])


def test_a_hook_taking_an_unknown_parameter_is_an_error():
    plugin = make_plugin("greedy", memsim_run_start=hookimpl(lambda machine, mm: None))
    with pytest.raises(PluginError, match=r"plugin 'greedy': .*'mm'.*; give the hook only the parameters"):
        get_plugin_manager(extra_plugins=[plugin], entry_points=[])


# --- registries --------------------------------------------------------------------------------

def test_registration_hooks_run_in_lifecycle_order_with_keyword_arguments():
    calls = []
    plugin = make_plugin(
        "recorder",
        memsim_register_summary=hookimpl(lambda summary: calls.append("summary")),
        memsim_register_files=hookimpl(lambda files: calls.append("files")),
        # takes a subset of the parameters, in another order than the hookspec
        memsim_register_events=hookimpl(lambda profile, events: calls.append(("events", profile.name))),
        memsim_register_steps=hookimpl(lambda steps: calls.append("steps")),
        memsim_register_sections=hookimpl(lambda sections: calls.append("sections")),
    )
    collect_registries(get_plugin_manager(extra_plugins=[plugin], entry_points=[]), PROFILE, events=StubEvents())
    assert calls == ["sections", "steps", ("events", "v5.14"), "files", "summary"]


def test_a_plugin_adds_a_step_through_the_typed_registry():
    plugin = make_plugin("stepper", memsim_register_steps=hookimpl(lambda steps: steps.add(step("poke", "stepper"))))
    registries, events = collect_registries(get_plugin_manager(extra_plugins=[plugin], entry_points=[]), PROFILE,
                                            events=StubEvents())
    assert registries.steps.names() == ["poke"]
    assert registries.steps.get("poke").plugin == "stepper"


@needs_events
def test_an_extra_plugin_adds_a_step_and_an_event():
    from memsim.tracing.events import EventDecl, EventRegistry, Field

    decl = EventDecl("demo", "demo_poke", (Field("unsigned long", "pfn", 8, 8, 0),), '"pfn=0x%lx", REC->pfn',
                     plugin="stepper")

    @hookimpl
    def memsim_register_events(events, profile):
        assert profile is PROFILE
        events.add(decl)

    plugin = make_plugin("stepper", memsim_register_events=memsim_register_events,
                         memsim_register_steps=hookimpl(lambda steps: steps.add(step("poke", "stepper"))))
    registries, events = collect_registries(get_plugin_manager(extra_plugins=[plugin], entry_points=[]), PROFILE)
    assert isinstance(events, EventRegistry)
    assert "poke" in registries.steps
    assert decl in list(events)


def test_the_same_step_from_two_plugins_is_an_error_naming_both():
    first = make_plugin("alpha", memsim_register_steps=hookimpl(lambda steps: steps.add(step("poke", "core"))))
    second = make_plugin("beta", memsim_register_steps=hookimpl(lambda steps: steps.add(step("poke", "core"))))
    pm = get_plugin_manager(extra_plugins=[first, second], entry_points=[])
    with pytest.raises(PluginError) as info:
        collect_registries(pm, PROFILE, events=StubEvents())
    message = str(info.value)
    # pluggy calls the last registered plugin first, so beta registers "poke" and alpha is refused.
    assert message.startswith("plugin 'alpha': step 'poke' is already registered by plugin 'beta'; ")
    assert "-p no:alpha or -p no:beta" in message


@needs_events
def test_the_same_event_from_two_plugins_is_an_error_naming_both():
    from memsim.tracing.events import EventDecl, Field

    def declare(events):
        events.add(EventDecl("demo", "demo_poke", (Field("int", "nr", 8, 4, 1),), '"nr=%d", REC->nr'))

    pm = get_plugin_manager(extra_plugins=[make_plugin("alpha", memsim_register_events=hookimpl(declare)),
                                           make_plugin("beta", memsim_register_events=hookimpl(declare))],
                            entry_points=[])
    with pytest.raises(PluginError, match=r"plugin 'alpha': event 'demo:demo_poke' is already registered by "
                                          r"plugin 'beta'"):
        collect_registries(pm, PROFILE)


def test_a_plugin_adding_a_dict_instead_of_a_typed_object_is_named():
    plugin = make_plugin("untyped", memsim_register_steps=hookimpl(lambda steps: steps.add({"name": "poke"})))
    with pytest.raises(PluginError, match=r"plugin 'untyped': step registry takes StepType, not dict"):
        collect_registries(get_plugin_manager(extra_plugins=[plugin], entry_points=[]), PROFILE, events=StubEvents())


def test_a_registration_hook_that_raises_is_named():
    def explode(sections):
        raise KeyError("hugetlb")

    plugin = make_plugin("exploding", memsim_register_sections=hookimpl(explode))
    with pytest.raises(PluginError, match=r"plugin 'exploding': memsim_register_sections failed: KeyError: "
                                          r"'hugetlb'; fix the plugin, or run with -p no:exploding"):
        collect_registries(get_plugin_manager(extra_plugins=[plugin], entry_points=[]), PROFILE, events=StubEvents())


# --- machine stage -----------------------------------------------------------------------------

def test_check_invariants_asks_every_plugin_and_concatenates():
    ok = make_plugin("ok", memsim_check_invariants=hookimpl(lambda machine: []))
    bad = make_plugin("bad", memsim_check_invariants=hookimpl(
        lambda machine: [f"node {machine}: nr_free 3 != 4 free pages"]))
    pm = get_plugin_manager(extra_plugins=[ok, bad], entry_points=[])
    assert check_invariants(pm, 0) == ["node 0: nr_free 3 != 4 free pages"]


# --- STYLE 9 -----------------------------------------------------------------------------------

def test_nothing_happens_at_import():
    code = ("import sys, memsim.hookspecs, memsim.plugin_host; "
            "print(sorted(m for m in sys.modules if m.startswith(('memsim.plugins.', 'memsim.tracing'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
