"""A real third-party plugin, installed with pip and driven through the memsim CLI (STYLE 4, 14).

tests/thirdparty/memsim-hello is an ordinary setuptools distribution with an entry point ``hello``
in the ``memsim`` group.  It adds a workload step ``hello`` (``times: int = 1``) and a trace event
``hello:hello_world``.  Scenarios:

1. ``memsim plugins`` lists ``hello`` with its version, its distribution and its hooks.
2. ``memsim events`` lists ``hello:hello_world``; ``--format`` prints its kernel format file.
3. ``memsim run w.yaml --trace -`` with a ``hello`` step prints ``hello_world: count=N msg=hi``
   lines in the kernel's text format.
4. With ``-p no:hello`` the ``hello`` step is unknown: exit 2, the message names file:line:col.
5. ``-p no:kmem`` is refused without a traceback.

The CLI tests need memsim/cli.py (the lead's) and memsim.tracing.events.
"""
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memsim.plugin_host import ENTRY_POINT_GROUP, PluginInfo, get_plugin_manager, list_plugins

SOURCE = Path(__file__).resolve().parents[1] / "thirdparty" / "memsim-hello"

# The smallest workload that runs the hello step.  Kept in one place: if the workload schema
# (memsim/workload) changes shape, only this text changes.
WORKLOAD = """\
machine:
  cpus: 1
  nodes:
    - memory: 64 MiB
tasks:
  - name: hello
    steps:
      - hello: {times: 2}
      - hello: {}
"""

# A trace line in the kernel's text format: TASK-PID, [CPU], irq-info flags, timestamp, event.
TRACE_LINE = re.compile(r"^\s*.+-\d+\s+\[\d{3}\] [.A-Za-z0-9]{4,5}\s+\d+\.\d{6}: (?P<event>\w+): (?P<text>.*)$")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """memsim-hello installed with pip into a fresh directory (PYTHONPATH-able)."""
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"cannot build memsim-hello: {module} is not installed in this Python")
    root = tmp_path_factory.mktemp("hello")
    source = root / "src"
    # Build from a copy so that the build leaves nothing (build/, *.egg-info) in the source tree.
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = root / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True)
    assert proc.returncode == 0, f"pip could not install memsim-hello:\n{proc.stdout}\n{proc.stderr}"
    return target


def memsim(site, *args, cwd):
    """Run ``python -m memsim.cli ARGS`` with memsim-hello importable."""
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, "-m", "memsim.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_the_distribution_declares_the_hello_entry_point(site):
    dists = [d for d in importlib.metadata.distributions(path=[str(site)]) if d.metadata["Name"] == "memsim-hello"]
    assert len(dists) == 1
    assert dists[0].version == "0.1.0"
    assert [(ep.name, ep.value) for ep in dists[0].entry_points if ep.group == ENTRY_POINT_GROUP] == \
        [("hello", "memsim_hello")]


def test_the_host_loads_the_installed_plugin(site, monkeypatch):
    if importlib.util.find_spec("memsim.tracing.events") is None:
        pytest.skip("memsim_hello imports memsim.tracing.events, which is not written yet")
    monkeypatch.syspath_prepend(str(site))
    dist = next(d for d in importlib.metadata.distributions(path=[str(site)]) if d.metadata["Name"] == "memsim-hello")
    eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    assert list_plugins(get_plugin_manager(entry_points=eps)) == [
        PluginInfo(name="hello", version="0.1.0", dist="memsim-hello",
                   hooks=("memsim_register_steps", "memsim_register_events"))]


# --- through the CLI (python -m memsim.cli) --------------------------------------------------

def test_plugins_lists_hello_with_its_version_and_hooks(site, tmp_path):
    proc = memsim(site, "plugins", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next((line for line in proc.stdout.splitlines() if re.search(r"\bhello\b", line)), None)
    assert line is not None, proc.stdout
    assert line.split()[:3] == ["hello", "0.1.0", "memsim-hello"], line
    assert "register_steps" in proc.stdout and "register_events" in proc.stdout
    assert re.search(r"\bkmem\b", proc.stdout) and re.search(r"\bcore_steps\b", proc.stdout)


def test_events_lists_hello_world(site, tmp_path):
    proc = memsim(site, "events", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hello:hello_world" in proc.stdout


def test_the_format_file_of_hello_world_derives_from_its_declaration(site, tmp_path):
    proc = memsim(site, "events", "--format", "hello:hello_world", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: hello_world" in proc.stdout
    assert "\tfield:int count;\toffset:8;\tsize:4;\tsigned:1;" in proc.stdout
    assert "\tfield:__data_loc char[] msg;\toffset:12;\tsize:4;\tsigned:0;" in proc.stdout
    assert 'print fmt: "count=%d msg=%s", REC->count, __get_str(msg)' in proc.stdout


def test_run_traces_hello_world_in_the_kernel_text_format(site, tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text(WORKLOAD, encoding="utf-8")
    proc = memsim(site, "run", str(workload), "--trace", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    hello = [m.group("text") for m in map(TRACE_LINE.match, proc.stdout.splitlines())
             if m and m.group("event") == "hello_world"]
    # times: 2, then the default times: 1
    assert hello == ["count=0 msg=hi", "count=1 msg=hi", "count=0 msg=hi"], proc.stdout


def test_without_the_plugin_the_hello_step_is_unknown(site, tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text(WORKLOAD, encoding="utf-8")
    # The first hello step: its name's line and column, 1-based.
    line, column = next((i, text.index("hello") + 1) for i, text in enumerate(WORKLOAD.splitlines(), 1)
                        if "- hello:" in text)
    proc = memsim(site, "run", str(workload), "-p", "no:hello", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert re.search(rf"w\.yaml:{line}:{column}: .*'hello'", proc.stderr), proc.stderr


def test_an_essential_plugin_cannot_be_disabled_from_the_cli(site, tmp_path):
    workload = tmp_path / "w.yaml"
    workload.write_text(WORKLOAD, encoding="utf-8")
    proc = memsim(site, "run", str(workload), "-p", "no:kmem", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "'kmem' is an essential plugin and cannot be disabled" in proc.stderr
