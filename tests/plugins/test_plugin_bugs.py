"""A plugin's bug is the plugin's, said in one line (issue 9, "for new users and plugin authors").

Scenarios:

1. A step whose run raises (here ZeroDivisionError) stops the run with exit code 3 and one line
   naming the plugin, the step and its workload line -- the line docs/workloads.md ("How failures
   show") quotes -- and no traceback; ``memsim --debug`` prints the traceback first.
2. A machine or run hook that raises names the plugin and the hook, exit code 3.
3. An unknown step while a plugin is disabled says that a disabled plugin may provide it.
4. The same through memsim.run: the result's status is ``error`` and its error a PluginBug.

The plugins of 1-3 are installed as a distribution (a dist-info directory on PYTHONPATH), as a
user installs one, and driven through ``python -m memsim.cli``.
"""
import os
import subprocess
import sys
import types

from pathlib import Path

import pytest

import memsim
from memsim.errors import PluginBug
from memsim.hookspecs import hookimpl
from memsim.registry import StepType

#: the checkout's docs (memsim.workload.docs.DOC_PATH is relative to the imported package)
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"

WORKLOAD = """\
machine:
  nodes:
    - memory: 64 MiB
tasks:
  - name: app
    steps:
      - greet: {}
"""

HELLO = '''\
from memsim.hookspecs import hookimpl
from memsim.registry import StepType


def greet(ctx, step):
    return 1 / 0


@hookimpl
def memsim_register_steps(steps):
    steps.add(StepType(name="greet", doc="Divide by zero.", params=(), run=greet, plugin="hello"))
'''

LATE = '''\
import os

from memsim.hookspecs import hookimpl


@hookimpl
def memsim_machine_created(machine, config):
    if os.environ.get("LATE_BUG") == "created":
        raise RuntimeError("no room for the table")


@hookimpl
def memsim_run_start(machine):
    if os.environ.get("LATE_BUG") == "start":
        {}["nodes"]
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("bugs") / "site"
    dist = site / "memsim_bugs-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memsim-bugs\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[memsim]\nhello = bugs_hello\nlate = bugs_late\n")
    (site / "bugs_hello.py").write_text(HELLO)
    (site / "bugs_late.py").write_text(LATE)
    return site


def memsim_cli(site, tmp_path, *args, late_bug=None, workload=WORKLOAD):
    (tmp_path / "w.yaml").write_text(workload)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site)] + sys.path))
    env.pop("LATE_BUG", None)
    if late_bug:
        env["LATE_BUG"] = late_bug
    return subprocess.run([sys.executable, "-m", "memsim.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_a_step_that_raises_names_the_plugin_the_step_and_its_line(site, tmp_path):
    proc = memsim_cli(site, tmp_path, "run", "w.yaml")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    line = ("memsim: plugin 'hello': step 'greet' at w.yaml:7:9 raised ZeroDivisionError: division by "
            "zero; this is a bug in the plugin: report it to its authors (`memsim --debug ...` shows "
            "the traceback), or run without it (-p no:hello)")
    assert proc.stderr == line + "\n"
    assert "stopped early: plugin 'hello': step 'greet'" in proc.stdout      # the summary still comes
    assert line in DOC_PATH.read_text(encoding="utf-8")                      # as the docs quote it


def test_debug_prints_the_traceback_before_the_message(site, tmp_path):
    proc = memsim_cli(site, tmp_path, "--debug", "run", "w.yaml")
    assert proc.returncode == 3
    assert proc.stderr.startswith("Traceback (most recent call last):")
    assert 'bugs_hello.py", line 6, in greet' in proc.stderr
    assert "ZeroDivisionError: division by zero" in proc.stderr
    assert proc.stderr.rstrip("\n").splitlines()[-1].startswith("memsim: plugin 'hello': step 'greet'")


@pytest.mark.parametrize("bug, hook, raised", [
    ("created", "memsim_machine_created", "RuntimeError: no room for the table"),
    ("start", "memsim_run_start", "KeyError: 'nodes'"),
])
def test_a_hook_that_raises_names_the_plugin_and_the_hook(site, tmp_path, bug, hook, raised):
    proc = memsim_cli(site, tmp_path, "run", "w.yaml", "-p", "no:hello", late_bug=bug,
                      workload=WORKLOAD.replace("greet: {}", "sleep: {duration: 1ms}"))
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"memsim: plugin 'late': hook {hook} raised {raised}; this is a bug "
                                  "in the plugin"), proc.stderr
    assert proc.stderr.rstrip().endswith("or run without it (-p no:late)")


def test_an_unknown_step_with_a_plugin_disabled_says_it_may_provide_it(site, tmp_path):
    proc = memsim_cli(site, tmp_path, "run", "w.yaml", "-p", "no:hello")
    assert proc.returncode == 2
    # the closest known step is still suggested (difflib finds 'kfree' close to 'greet')
    assert proc.stderr == ("memsim: w.yaml:7:9: unknown step 'greet'; did you mean 'kfree'? Or is it "
                           "provided by a disabled plugin? (-p no:hello was given; disabled plugins "
                           "are not loaded)\n")
    proc = memsim_cli(site, tmp_path, "run", "w.yaml", "-p", "no:hello",
                      workload=WORKLOAD.replace("greet: {}", "wave: {}"))
    assert proc.stderr == ("memsim: w.yaml:7:9: unknown step 'wave'; is it provided by a disabled "
                           "plugin? (-p no:hello was given; disabled plugins are not loaded)\n")
    # a step named as the disabled plugin: that plugin is the likely provider
    proc = memsim_cli(site, tmp_path, "check", "w.yaml", "-p", "no:hello",
                      workload=WORKLOAD.replace("greet: {}", "hello: {}"))
    assert proc.returncode == 2
    assert proc.stderr == ("memsim: w.yaml:7:9: unknown step 'hello'; the disabled plugin 'hello' may "
                           "provide it (-p no:hello was given; disabled plugins are not loaded): run "
                           "without -p no:hello\n")


# --- through memsim.run ----------------------------------------------------------------------

def _plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))
    return module


def _greet(ctx, step):
    raise ValueError("bad state")


def _register_greet(steps):
    steps.add(StepType(name="greet", doc="Raise.", params=(), run=_greet))


def test_the_api_returns_a_step_bug_as_the_runs_error():
    result = memsim.run(WORKLOAD, plugins=[_plugin("greeter", memsim_register_steps=_register_greet)])
    assert result.status == "error"
    err = result.error
    assert isinstance(err, PluginBug) and err.exit_code == 3
    # the plugin that registered the step, although its StepType kept the default plugin="core"
    assert (err.plugin, err.step, err.hook) == ("greeter", "greet", None)
    assert str(err).startswith("plugin 'greeter': step 'greet' at <string>:7:9 raised ValueError: bad state;")
    assert isinstance(err.__cause__, ValueError)
    with pytest.raises(PluginBug):
        result.raise_for_status()


def test_the_api_names_the_plugin_whose_hook_raised():
    def run_start(machine):
        raise LookupError("no node")

    text = WORKLOAD.replace("greet: {}", "sleep: {duration: 1ms}")
    result = memsim.run(text, plugins=[_plugin("quiet", memsim_run_start=lambda machine: None),
                                       _plugin("starter", memsim_run_start=run_start)])
    assert (result.error.plugin, result.error.hook) == ("starter", "memsim_run_start")
    assert str(result.error).startswith("plugin 'starter': hook memsim_run_start raised LookupError: no node;")


def test_a_builtin_plugins_bug_is_reported_as_memsims():
    from memsim.plugin_host import get_plugin_manager, plugin_bug
    err = plugin_bug(get_plugin_manager(), "core_steps", "step 'touch' at w.yaml:3:9", AssertionError())
    assert str(err) == ("plugin 'core_steps': step 'touch' at w.yaml:3:9 raised AssertionError; this is a "
                        "bug in memsim: please report it with the workload and seed (`memsim --debug ...` "
                        "shows the traceback)")
