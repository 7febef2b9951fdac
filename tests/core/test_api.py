"""memsim.run: a workload run from Python gives what ``memsim run`` prints (issue 9).

Scenarios: the README's example prints what the README says; the summary is the one ``--json``
prints and the trace the one ``--trace`` writes (the command is built on the function); a
workload from a path, YAML text or a dict; seed, patches, settings and events as the options;
the machine's files; mistakes raise memsim's errors, a run that stops early does not; and
``import memsim`` imports nothing more.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import memsim
from memsim.api import FileEntry, RunResult, prepare
from memsim.cli import main
from memsim.errors import ExpectationFailed, MemsimError, UsageError, WorkloadError

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BLOCK = re.compile(r"<!-- tested: ([\w ]+) -->\n```(\w+)\n(.*?)```", re.S)

SMALL = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf, access: write}
      - fork:
          child: kid
          steps:
            - touch: {vma: buf, access: write, length: 8 KiB}
      - expect: {rss: {anon: 256 KiB}}
"""


def readme_block(tag):
    found = [body for name, lang, body in BLOCK.findall(README.read_text(encoding="utf-8"))
             if name.strip() == tag]
    assert len(found) == 1, f"README.md has {len(found)} blocks tested as {tag!r}"
    return found[0]


def test_the_readmes_example_prints_what_the_readme_shows():
    proc = subprocess.run([sys.executable, "-c", readme_block("api")], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == readme_block("api output")


def _without_host_time(summary):
    summary = json.loads(json.dumps(summary))
    del summary["time"]["host_wall_s"]
    return summary


def test_the_summary_and_the_trace_are_the_commands(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(SMALL)
    trace = tmp_path / "t.txt"
    r = CliRunner().invoke(main, ["run", str(path), "--json", "--seed", "5", "--set", "machine.cpus=1",
                                  "--trace", str(trace), "--ls"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    printed = json.loads(r.stdout)
    listing = printed.pop("ls")
    result = memsim.run(str(path), seed=5, settings={"machine.cpus": 1})
    assert _without_host_time(result.summary) == _without_host_time(printed)
    assert result.trace_text() == trace.read_text()
    assert [e.path for e in result.files] == [e["path"] for e in listing]
    assert [e.mode for e in result.files] == [e["mode"] for e in listing]
    assert FileEntry("/proc", "dr-xr-xr-x", "proc") in result.files


def test_a_workload_from_a_path_text_or_dict_runs_the_same():
    import yaml
    by_text = memsim.run(SMALL, seed=2)
    by_dict = memsim.run(yaml.safe_load(SMALL), seed=2)
    assert by_text.status == by_dict.status == "passed"
    assert by_text.trace_text() == by_dict.trace_text()
    assert by_text.summary["workload"] == "<string>" and by_dict.summary["workload"] == "<dict>"
    assert memsim.run(REPO / "configs" / "fork-cow.yaml", events=()).status == "passed"


def test_the_result_reads_the_machines_files_and_its_trace():
    result = memsim.run(SMALL, events="kmem:rss_stat,kmem:mm_page_alloc")
    meminfo = result.read_file("/proc/meminfo")
    assert meminfo.startswith("MemTotal:          65536 kB\n")
    assert result.read_bytes("/proc/meminfo") == meminfo.encode()
    with pytest.raises(FileNotFoundError):
        result.read_file("/proc/nothere")
    with pytest.raises(IsADirectoryError):
        result.read_file("/proc")
    records = list(result.records())
    assert len(records) == result.summary["events"]["written"] > 0
    assert {r.system + ":" + r.event for r in records} == {"kmem:rss_stat", "kmem:mm_page_alloc"}
    assert len({r.pid for r in records}) == 2          # app and the child it forked
    with result.trace() as reader:
        columns = reader.columns()
    assert len(columns) == len(records)


def test_write_trace_gives_text_or_trace_dat(tmp_path):
    from memsim.tracing import open_trace
    result = memsim.run(SMALL, events="kmem:rss_stat")
    result.write_trace(tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_text() == result.trace_text()
    result.write_trace(str(tmp_path / "t.dat"))
    with open_trace(str(tmp_path / "t.dat")) as reader:
        assert [r.fields for r in reader.records()] == [r.fields for r in result.records()]


def test_patches_settings_seed_and_events_are_the_options():
    off = memsim.run(SMALL, patches={"rss-stat-symbolic": False}, events="kmem:rss_stat")
    assert off.summary["patches_off"] == ["rss-stat-symbolic"]
    assert " member=1 " in off.trace_text() and "type=MM_ANONPAGES" not in off.trace_text()
    assert "type=MM_ANONPAGES" in memsim.run(SMALL, patches={"rss-stat-symbolic": "on"},
                                             events="kmem:rss_stat").trace_text()
    one = memsim.run(SMALL, settings={"machine.cpus": 1, "tasks.app.steps.0.mmap.length": "512 KiB",
                                      "tasks.app.steps.3.expect.rss.anon": "512 KiB"}, seed=9)
    assert (one.status, one.summary["cpus"], one.summary["seed"]) == ("passed", 1, 9)
    quiet = memsim.run(SMALL, events=())
    assert quiet.summary["events"]["written"] == 0 and quiet.trace_text().startswith("# tracer: nop")


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1}, "seed: the seed is -1, below the minimum of 0; give at least 0"),
    ({"seed": "x"}, "seed: the seed must be an integer, not 'x'"),
    ({"patches": {"rss-stat-symbolik": False}}, "did you mean 'rss-stat-symbolic'?"),
    ({"patches": {"rss-stat-symbolic": 2}}, "patches['rss-stat-symbolic']: 2 is not a state"),
    ({"settings": {"machine.cpus": 0}}, "settings['machine.cpus']: machine.cpus is 0"),
    ({"settings": {"machine..cpus": 1}}, "settings['machine..cpus']: 'machine..cpus' is not a dotted path"),
    ({"events": "nosuch:event"}, "--events"),
])
def test_a_mistake_raises_memsims_error(kwargs, message):
    with pytest.raises(MemsimError) as info:
        memsim.run(SMALL, **kwargs)
    assert message in str(info.value)


def test_a_workload_mistake_is_a_workload_error(tmp_path):
    with pytest.raises(WorkloadError, match=r"<string>:2:3: unknown key 'cpu' in machine; did you mean 'cpus'\?"):
        memsim.run("machine:\n  cpu: 2\ntasks: []\n")
    with pytest.raises(WorkloadError, match="is a directory; give a workload file"):
        memsim.run(str(tmp_path))
    with pytest.raises(UsageError, match="a int is not a workload"):
        memsim.run(3)


def test_a_run_that_stops_early_returns_its_error():
    result = memsim.run(SMALL.replace("anon: 256 KiB", "anon: 1 MiB"))
    assert result.status == "failed"
    assert isinstance(result.error, ExpectationFailed)
    assert str(result.error).startswith("<string>:14:23: rss anon is 256 KiB")
    assert result.summary["error"] == str(result.error)
    with pytest.raises(ExpectationFailed):
        result.raise_for_status()
    assert result.outcome.status == "failed" and result.outcome.metrics["faults"] > 0
    assert isinstance(result.error, MemsimError) and repr(result).endswith(": failed>")


def test_prepare_gives_the_run_before_it_executes():
    run = prepare(SMALL, seed=4)
    assert run.machine.clock.now == 0 and not run.task_data
    run.execute()
    assert RunResult(run).status == "passed" and run.spec.seed == 4


def test_importing_memsim_loads_nothing_else(tmp_path):
    code = ("import sys, memsim; loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('memsim', 'yaml', 'click', 'pluggy', 'rich', 'zstandard')); print(loaded); "
            "memsim.run; print('memsim.api' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['memsim']\nTrue\n"


def test_the_trace_of_memsim_run_is_complete_whatever_the_buffer(tmp_path):
    """memsim.run records every event as memsim run --trace does (issue 9, lossless traces):
    with a 4 KiB ring, the records, the text and the trace.dat hold every event written."""
    small = {"machine": {"cpus": 2, "nodes": [{"memory": "64 MiB"}], "trace_buffer": "4 KiB"},
             "tasks": [{"name": "app", "steps": [{"mmap": {"name": "b", "length": "4 MiB"}},
                                                  {"touch": {"vma": "b", "access": "write"}}]}]}
    result = memsim.run(small, events="kmem:*")
    written = result.summary["events"]["written"]
    assert written > 1000 and result.summary["events"]["overwritten"] == 0
    recs = list(result.records())
    assert len(recs) == written
    assert sum(1 for r in recs if r.event == "mm_page_alloc") >= 1024     # one per page touched
    text = result.trace_text()
    assert f"# entries-in-buffer/entries-written: {written}/{written}   #P:2" in text
    trace = tmp_path / "t.txt"
    assert CliRunner().invoke(main, ["run", "--trace", str(trace), "--events", "kmem:*",
                                     _write(tmp_path, small)]).exit_code == 0
    assert trace.read_text() == text
    dat = tmp_path / "t.dat"
    result.write_trace(str(dat))
    from memsim.tracing import open_trace
    with open_trace(str(dat)) as reader:
        assert sum(1 for _ in reader.records()) == written


def _write(tmp_path, workload):
    import yaml
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(workload))
    return str(p)
