"""``memsim sweep``: the report, its exit codes, every mistake as one line with exit 2, the same
table from one process, a process pool and a Dask cluster, --out, and Ctrl-C."""
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from memsim.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RACE = os.path.join(REPO, "configs", "bench", "race.yaml")

PASSES = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf}
      - expect: {rss: {anon: 64 KiB}}
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path, text, name="w.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_report_counts_each_way_the_race_ends_and_how_to_rerun_a_seed():
    r = invoke("sweep", RACE, "--seeds", "0-19", "--jobs", "1")
    assert r.exit_code == 1, r.output                # some runs failed an expect
    out = r.stdout
    assert out.startswith(f"sweep {RACE}: 20 seeds (0-19) x 1 variant = 20 runs\n")
    table = out.splitlines()[2:4]
    assert table[0].split() == ["variant", "runs", "passed", "failed", "killed", "deadlocked", "error"]
    label, runs, passed, failed, killed, deadlocked, error = table[1].rsplit(None, 6)
    assert label.strip() == "as written" and runs == "20"
    assert int(passed) > 0 and int(failed) > 0 and int(killed) > 0 and deadlocked == error == "0"
    assert int(passed) + int(failed) + int(killed) == 20
    assert "min / median / mean / max" in out and "\nslices (slices)" in out
    assert "runs that did not pass" in out
    # the command printed for a failing seed re-runs it alone, with the same result
    rerun = [line.split("re-run one: ", 1)[1] for line in out.splitlines() if "re-run one: " in line]
    assert len(rerun) == 2                          # failed, killed
    words = shlex.split(rerun[0])
    assert words[:3] == ["memsim", "run", RACE]
    alone = invoke(*words[1:])
    assert alone.exit_code == 1 and "expected b'ready'" in alone.stderr
    killed = invoke(*shlex.split(rerun[1])[1:])
    assert killed.exit_code == 0 and "killed by SIGSEGV" in killed.stdout
    assert "memsim sweep: 20 runs on 1 process" in r.stderr
    assert "memsim sweep: 20 of 20 runs in" in r.stderr


def test_every_run_passed_exits_0_and_json_is_the_aggregate(tmp_path):
    r = invoke("sweep", write(tmp_path, PASSES), "--seeds", "0-2", "--set", "machine.cpus=1,2",
               "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["runs"] == {"done": 6, "total": 6} and d["interrupted"] is False and d["exit_code"] == 0
    assert d["seeds"] == "0-2"
    assert d["axes"] == [{"key": "machine.cpus", "option": "--set", "name": "machine.cpus", "values": ["1", "2"]}]
    assert [v["label"] for v in d["variants"]] == ["machine.cpus=1", "machine.cpus=2"]
    v = d["variants"][1]
    assert v["overrides"] == {"machine.cpus": "2"}
    assert (v["runs"], v["passed"], v["failed"], v["killed"], v["failures"]) == (3, 3, 0, 0, {})
    assert v["metrics"]["faults"] == {"unit": "faults", "runs": 3, "min": 16, "median": 16, "mean": 16.0, "max": 16}


def test_json_lists_every_failing_seed(tmp_path):
    r = invoke("sweep", RACE, "--seeds", "0-29", "--json", "--jobs", "1")
    assert r.exit_code == 1
    v = json.loads(r.stdout)["variants"][0]
    failed = v["failures"]["failed"]
    assert failed["count"] == v["failed"] == len(failed["seeds"])
    assert failed["rerun"] == f"memsim run {RACE} --seed {failed['seeds'][0]}"
    assert failed["errors"][0]["seeds"] == failed["seeds"]
    assert v["failures"]["killed"]["errors"] == [{
        "error": f"app (1000) killed by SIGSEGV (SEGV_MAPERR) at {RACE}:21:9", "count": v["killed"],
        "seeds": v["failures"]["killed"]["seeds"]}]


@pytest.mark.parametrize("args, where, problem", [
    (["--seeds", "5-1"], "--seeds 5-1", "the range 5-1 is reversed"),
    (["--seeds", "x"], "--seeds x", "'x' is not a seed"),
    (["--seeds", "0-3", "--patch", "rss-stat-symbolc=on,off"], "--patch rss-stat-symbolc=on,off",
     "did you mean 'rss-stat-symbolic'"),
    (["--seeds", "0-3", "--patch", "kasan-tag-fe=on,off", "-p", "no:kasan"], "--patch kasan-tag-fe",
     "plugin 'kasan', which is disabled (-p no:kasan)"),
    (["--seeds", "0-3", "--set", "machine.cpus=1,0"], "--set machine.cpus=0", "machine.cpus is 0"),
    (["--seeds", "0-3", "--set", "machine.cpuz=1,2"], "--set machine.cpuz=1", "did you mean 'cpus'"),
    (["--seeds", "0-3", "--out", "runs.xlsx"], "--out runs.xlsx", ".xlsx is not a format"),
    (["--seeds", "0-3", "--out", "nodir/runs.csv"], "--out nodir/runs.csv", "does not exist"),
    (["--seeds", "0-3", "--jobs", "0"], "--jobs 0", "must be at least 1"),
    (["--seeds", "0-3", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--jobs",
     "leave out one of them"),
    (["--seeds", "0-3", "--scheduler", "nonsense"], "--scheduler nonsense", "not a Dask scheduler address"),
    (["--seeds", "0-3", "-p", "no:nosuch"], "-p no:nosuch", "there is no plugin called 'nosuch'"),
])
def test_mistakes_exit_2_with_one_line(tmp_path, args, where, problem):
    r = invoke("sweep", RACE, *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"memsim: {where}: ") and problem in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_a_missing_workload_exits_2(tmp_path):
    r = invoke("sweep", tmp_path / "nope.yaml", "--seeds", "0")
    assert r.exit_code == 2 and "cannot read the workload" in r.stderr


def test_without_dask_scheduler_says_how_to_install_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_dask(name, *args, **kw):
        if name == "distributed" or name.startswith(("distributed.", "dask")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    r = invoke("sweep", RACE, "--seeds", "0-3", "--scheduler", "tcp://127.0.0.1:8786")
    assert r.exit_code == 2
    assert r.stderr == ("memsim: --scheduler: running on a Dask cluster needs dask.distributed, which "
                        "is not installed; pip install 'memsim[dask]'\n")


def test_a_scheduler_that_does_not_answer_exits_2(monkeypatch):
    import socket
    from memsim.workload import sweep as sw
    monkeypatch.setattr(sw, "SCHEDULER_TIMEOUT_S", 0.5)
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = invoke("sweep", RACE, "--seeds", "0-3", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert r.exit_code == 2 and "cannot reach a Dask scheduler there" in r.stderr
    assert "Traceback" not in r.stderr


# -- the same table whatever runs it ------------------------------------------------------------

GRID = ["--seeds", "0-23", "--patch", "rss-stat-symbolic=on,off"]


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "runs.jsonl"
    r = invoke("sweep", RACE, *GRID, "--jobs", "2", "--out", out)
    assert r.exit_code == 1, r.output
    assert "on 2 processes" in r.stderr
    return r.stdout, out.read_text()


def test_process_pool_table_equals_one_process(pool_run, tmp_path):
    out = tmp_path / "runs.jsonl"
    r = invoke("sweep", RACE, *GRID, "--jobs", "1", "--out", out)
    assert (r.stdout, out.read_text()) == pool_run


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c


def test_dask_cluster_table_equals_process_pool(pool_run, cluster, tmp_path):
    out = tmp_path / "runs.jsonl"
    r = invoke("sweep", RACE, *GRID, "--scheduler", cluster.scheduler_address, "--out", out)
    assert r.exit_code == 1, r.output
    assert f"on Dask scheduler {cluster.scheduler_address} (2 worker threads)" in r.stderr
    assert (r.stdout, out.read_text()) == pool_run


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_out_one_row_per_run(tmp_path, ext):
    out = tmp_path / f"runs.{ext}"
    r = invoke("sweep", RACE, "--seeds", "0-4", "--set", "machine.cpus=1,2", "--jobs", "1", "--out", out)
    assert r.exit_code == 1 and f"rows in {out}" in r.stderr
    if ext == "csv":
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        seeds = [int(row["seed"]) for row in rows]
        cpus = [row["machine.cpus"] for row in rows]
    elif ext == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        seeds = [row["seed"] for row in rows]
        cpus = [str(row["machine.cpus"]) for row in rows]
    else:
        import pyarrow.parquet as pq
        rows = pq.read_table(out).to_pylist()
        seeds = [row["seed"] for row in rows]
        cpus = [str(row["machine.cpus"]) for row in rows]
    assert seeds == [0, 1, 2, 3, 4] * 2 and cpus == ["1"] * 5 + ["2"] * 5
    assert {row["status"] for row in rows} <= {"passed", "failed", "killed"}
    assert all(row["variant"] == f"machine.cpus={c}" for row, c in zip(rows, cpus))


# -- Ctrl-C ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_what_finished(tmp_path, jobs):
    out = tmp_path / "runs.csv"
    cmd = [sys.executable, "-m", "memsim.cli", "sweep", RACE, "--seeds", "0-999999", "--jobs", jobs,
           "--out", str(out)]
    # its own process group, as a terminal's foreground job; SIGINT not ignored (a shell that
    # runs the tests in the background ignores it)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp_path),
                         start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = p.stderr.readline()                   # "memsim sweep: N runs on ..." once running
        assert line.startswith("memsim sweep: 1,000,000 runs on "), line
        time.sleep(3.0)                              # spawned workers start slowly on a loaded machine
        os.killpg(p.pid, signal.SIGINT)              # Ctrl-C: the whole group, workers too
        stdout, stderr = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stdout.splitlines()
    done = int(lines[1].split()[1].replace(",", ""))
    assert lines[1] == f"INTERRUPTED: {done:,} of 1,000,000 runs done; the figures below cover those only"
    assert 0 < done < 1_000_000
    assert f"interrupted after {done:,} of 1,000,000 runs" in stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == done
    assert [int(r["seed"]) for r in rows] == sorted(int(r["seed"]) for r in rows)
    assert os.listdir(tmp_path) == ["runs.csv"]


def test_a_ctrl_c_lost_in_a_finalizer_is_still_seen(capsys):
    # an interrupt raised while Python runs a finalizer or weakref callback is "Exception
    # ignored" and lost: the inline sweep went on to its last seed (the Ctrl-C test above hung
    # about one time in three); the latch remembers it, and no traceback is printed for it
    from memsim.workload import sweep as sw

    class Dying:
        def __del__(self):
            latch._handler(signal.SIGINT, None)

    with sw._SigintLatch() as latch:
        Dying()
        assert latch.hit
    assert "Traceback" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_guides_example_is_what_the_command_prints():
    """docs/sweep.md quotes `memsim sweep configs/bench/race.yaml --seeds 0-999 --patch
    rss-stat-symbolic=on,off`: every line it shows (``...`` stands for lines left out) is
    printed, in that order."""
    with open(os.path.join(REPO, "docs", "sweep.md")) as f:
        guide = f.read()
    command = "memsim sweep configs/bench/race.yaml --seeds 0-999 --patch rss-stat-symbolic=on,off"
    assert f"```sh\n{command}\n```" in guide
    shown = guide.split("```\nsweep configs/bench/race.yaml", 1)[1].split("```", 1)[0]
    shown = ("sweep configs/bench/race.yaml" + shown).splitlines()
    r = CliRunner().invoke(main, command.split()[1:] + ["--jobs", "2"], catch_exceptions=False)
    printed = iter(r.stdout.splitlines())
    for line in shown:
        if line.strip() == "...":
            continue
        assert any(p == line for p in printed), f"docs/sweep.md shows a line the command does not print: {line!r}"
