"""Plugins declare what they require, and the machine and run hooks run in that order (issue 7,
"Plugin layout and order").

Scenarios: a plugin that requires another runs after it even when pluggy would call it first; a
requirement that is disabled (-p no:NAME) or not installed is a PluginError naming both
plugins; ``after`` orders without requiring; a cycle is an error naming the cycle; teardown hooks
run in reverse; tryfirst/trylast, hook wrappers and a malformed declaration are refused;
``memsim plugins`` shows the requirements.
"""
import importlib.metadata
import os
import subprocess
import sys
import textwrap
import types
import uuid

import pytest

from memsim.errors import PluginError
from memsim.plugin_host import (ENTRY_POINT_GROUP, ORDERED_HOOKS, TEARDOWN_HOOKS, PluginInfo, PluginSpec,
                                get_plugin_manager, list_plugins)

#: (hook, plugin name) of every call of the test plugins' hooks (the list of the module
#: memsim_ordertest_calls, which the plugins import).
CALLS = []


@pytest.fixture
def entry_point(tmp_path, monkeypatch):
    """entry_point(name, requires=(), after=(), body="") writes a plugin module whose machine
    hooks append (hook, name) to CALLS, and returns its EntryPoint."""
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = types.ModuleType("memsim_ordertest_calls")
    calls.CALLS = CALLS
    monkeypatch.setitem(sys.modules, "memsim_ordertest_calls", calls)
    CALLS.clear()

    def make(name, requires=(), after=(), body=""):
        module = f"memsim_ordertest_{name}_{uuid.uuid4().hex[:8]}"
        source = textwrap.dedent(f"""\
            from memsim.hookspecs import hookimpl
            from memsim.plugin_host import PluginSpec
            from memsim_ordertest_calls import CALLS

            MEMSIM_PLUGIN = PluginSpec(requires={tuple(requires)!r}, after={tuple(after)!r})

            @hookimpl
            def memsim_machine_created(machine, config):
                CALLS.append(("created", {name!r}))

            @hookimpl
            def memsim_run_start(machine):
                CALLS.append(("start", {name!r}))
            """) + textwrap.dedent(body)
        (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
        return importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)

    return make


def created(pm):
    CALLS.clear()
    pm.hook.memsim_machine_created(machine=None, config=None)
    return [name for hook, name in CALLS]


def test_pluggy_alone_would_call_the_last_registered_plugin_first(entry_point):
    # The baseline the ordering corrects: without declarations, zeta (loaded last) runs first.
    pm = get_plugin_manager(entry_points=[entry_point("alpha"), entry_point("zeta")])
    assert created(pm) == ["alpha", "zeta"]     # no requirement: load order (by name)
    caller = pm.hook.memsim_machine_created
    assert [impl.plugin_name for impl in reversed(caller.get_hookimpls())] == ["zeta", "alpha"]


def test_a_required_plugin_runs_first(entry_point):
    eps = [entry_point("alpha", requires=["zeta"]), entry_point("zeta")]
    pm = get_plugin_manager(entry_points=eps)
    assert pm.plugin_order == ("zeta", "alpha")
    assert created(pm) == ["zeta", "alpha"]
    CALLS.clear()
    pm.hook.memsim_run_start(machine=None)
    assert CALLS == [("start", "zeta"), ("start", "alpha")]


def test_requirements_chain_through_plugins_that_do_not_implement_a_hook(entry_point):
    eps = [entry_point("a", requires=["b"]), entry_point("b", requires=["c"]), entry_point("c")]
    assert get_plugin_manager(entry_points=eps).plugin_order == ("c", "b", "a")


def test_requiring_a_disabled_plugin_is_an_error_naming_both(entry_point):
    eps = [entry_point("memcg", requires=["kmemx"]), entry_point("kmemx")]
    with pytest.raises(PluginError) as info:
        get_plugin_manager(disabled=["kmemx"], entry_points=eps)
    assert str(info.value) == ("plugin 'memcg': it requires plugin 'kmemx', which is disabled (-p no:kmemx); "
                               "remove -p no:kmemx, or disable 'memcg' too (-p no:memcg)")
    # Disabling both is fine.
    assert get_plugin_manager(disabled=["kmemx", "memcg"], entry_points=eps).plugin_order == ()


def test_requiring_a_missing_plugin_is_an_error_naming_both(entry_point):
    eps = [entry_point("memcg", requires=["swapp"]), entry_point("swap")]
    with pytest.raises(PluginError) as info:
        get_plugin_manager(entry_points=eps)
    assert str(info.value) == ("plugin 'memcg': it requires plugin 'swapp', which is not installed "
                               "(did you mean 'swap'?); install the distribution that provides 'swapp', "
                               "or run with -p no:memcg")


def test_after_orders_without_requiring(entry_point):
    eps = [entry_point("alpha", after=["zeta", "absent"]), entry_point("zeta")]
    assert get_plugin_manager(entry_points=eps).plugin_order == ("zeta", "alpha")
    # zeta disabled: alpha still loads, and runs alone.
    pm = get_plugin_manager(disabled=["zeta"], entry_points=eps)
    assert created(pm) == ["alpha"]


@pytest.mark.parametrize("specs, cycle", [
    ({"a": ["b"], "b": ["a"]}, "a -> b -> a"),
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, "a -> b -> c -> a"),
    ({"a": ["a"]}, "a -> a"),
])
def test_a_cycle_is_an_error_naming_the_cycle(entry_point, specs, cycle):
    eps = [entry_point(name, requires=reqs) for name, reqs in specs.items()]
    with pytest.raises(PluginError, match=rf"plugin 'a': plugins require each other in a cycle: {cycle}; "
                                          r"remove one of these requirements"):
        get_plugin_manager(entry_points=eps)


def test_a_cycle_through_after_is_an_error_too(entry_point):
    eps = [entry_point("a", requires=["b"]), entry_point("b", after=["a"])]
    with pytest.raises(PluginError, match="cycle: a -> b -> a"):
        get_plugin_manager(entry_points=eps)


@pytest.mark.parametrize("hook", TEARDOWN_HOOKS)
def test_teardown_hooks_run_in_reverse_order(entry_point, hook):
    body = f"""
        @hookimpl
        def {hook}(task):
            CALLS.append(("teardown", __name__.split("_")[2]))
    """
    eps = [entry_point("alpha", requires=["zeta"], body=body), entry_point("zeta", body=body)]
    pm = get_plugin_manager(entry_points=eps)
    CALLS.clear()
    getattr(pm.hook, hook)(task=None)
    assert [name for _, name in CALLS] == ["alpha", "zeta"]


@pytest.mark.parametrize("option", ["tryfirst", "trylast", "hookwrapper"])
def test_ordering_options_of_pluggy_are_refused_on_ordered_hooks(entry_point, option):
    body = f"""
        @hookimpl({option}=True)
        def memsim_check_invariants(machine):
            {"yield" if option == "hookwrapper" else "return []"}
    """
    with pytest.raises(PluginError, match=rf"memsim_check_invariants is marked {option}=True, but the machine "
                                          r"and run hooks are called in plugin dependency order; drop "):
        get_plugin_manager(entry_points=[entry_point("eager", body=body)])


def test_registration_hooks_keep_pluggy_options(entry_point):
    body = """
        @hookimpl(tryfirst=True)
        def memsim_register_steps(steps):
            pass
    """
    get_plugin_manager(entry_points=[entry_point("early", body=body)])


def test_a_malformed_declaration_is_refused(entry_point):
    ep = entry_point("odd", body="MEMSIM_PLUGIN = {'requires': ['kmem']}\n")
    with pytest.raises(PluginError, match=r"MEMSIM_PLUGIN is a dict, not a PluginSpec; write MEMSIM_PLUGIN = "
                                          r"PluginSpec\(requires=\(\.\.\.\)\)"):
        get_plugin_manager(entry_points=[ep])
    with pytest.raises(TypeError, match="PluginSpec.requires takes plugin names"):
        PluginSpec(requires=("kmem", 3))
    assert PluginSpec(requires="kmem").requires == ("kmem",)


def test_list_plugins_shows_requirements_in_dependency_order(entry_point):
    eps = [entry_point("alpha", requires=["zeta"], after=["beta"]), entry_point("zeta")]
    infos = list_plugins(get_plugin_manager(entry_points=eps))
    assert [(i.name, i.requires, i.after) for i in infos] == [("zeta", (), ()), ("alpha", ("zeta",), ("beta",))]
    assert isinstance(infos[0], PluginInfo)


def test_every_machine_and_run_hook_is_ordered():
    assert "memsim_machine_created" in ORDERED_HOOKS and "memsim_run_finished" in ORDERED_HOOKS
    assert not any(hook.startswith("memsim_register_") for hook in ORDERED_HOOKS)


def test_memsim_plugins_shows_the_requirements(tmp_path):
    """An installed distribution (a dist-info directory on PYTHONPATH) with two plugins."""
    site = tmp_path / "site"
    dist = site / "memsim_demo-2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memsim-demo\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[memsim]\ndemo_memcg = demo_memcg\ndemo_base = demo_base\n")
    (site / "demo_base.py").write_text("")
    (site / "demo_memcg.py").write_text(textwrap.dedent("""\
        from memsim.hookspecs import hookimpl
        from memsim.plugin_host import PluginSpec

        MEMSIM_PLUGIN = PluginSpec(requires=("demo_base", "kmem"), after=("hugetlb",))

        @hookimpl
        def memsim_machine_created(machine, config):
            pass
        """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site)] + sys.path))
    proc = subprocess.run([sys.executable, "-m", "memsim.cli", "plugins"], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "VERSION", "DISTRIBUTION", "REQUIRES", "HOOKS"]
    names = [line.split()[0] for line in lines[1:]]
    assert names.index("demo_memcg") > names.index("demo_base")
    memcg = next(line for line in lines if line.startswith("demo_memcg"))
    assert memcg.split()[:6] == ["demo_memcg", "2.0", "memsim-demo", "demo_base,", "kmem", "(after"]
    assert "(after hugetlb)" in memcg and memcg.endswith("memsim_machine_created")
    # -p no:demo_base: refused, naming both, without a traceback
    proc = subprocess.run([sys.executable, "-m", "memsim.cli", "plugins", "-p", "no:demo_base"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("memsim: plugin 'demo_memcg': it requires plugin 'demo_base', which is disabled "
                           "(-p no:demo_base); remove -p no:demo_base, or disable 'demo_memcg' too "
                           "(-p no:demo_memcg)\n")
