"""Seed sweeps as a library (memsim.workload.sweep): the seeds and the grid a command line gives,
the runs a chunk makes, what they add up to per variant, and the rows written per run.

The oracle for the counts is ``memsim run``'s own path, one seed at a time (Run + outcome), so
a sweep must say of every seed exactly what a run of that seed alone says.
"""
import csv
import json
import os

import pytest

from memsim.errors import MemsimError, UsageError
from memsim.workload import sweep as sw
from memsim.workload.outcome import outcome
from memsim.workload.runner import Run
from memsim.workload.variant import Host, WorkloadSource

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RACE = os.path.join(REPO, "configs", "bench", "race.yaml")

# An expect that holds only for the mapping length the file gives: --set ...length=512KiB fails.
SIZED = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf}
      - expect: {rss: {anon: 256 KiB}}
"""


# -- seeds --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seeds", [
    ("0-4", (0, 1, 2, 3, 4)),
    ("1,5,9", (1, 5, 9)),
    ("0-2,20-21", (0, 1, 2, 20, 21)),
    (" 7 ", (7,)),
    ("9,3-4", (3, 4, 9)),                       # ascending whatever the order given
    ("5-5", (5,)),
])
def test_seed_lists_and_ranges(text, seeds):
    assert sw.parse_seeds(text) == seeds


@pytest.mark.parametrize("text, problem", [
    ("", "no seeds given"),
    ("1,,2", "an item is empty"),
    ("3,", "an item is empty"),
    ("abc", "'abc' is not a seed"),
    ("-1", "'-1' is not a seed"),
    ("1.5", "'1.5' is not a seed"),
    ("9-1", "the range 9-1 is reversed; write 1-9"),
    ("0-5,3", "seed 3 is given twice"),
    ("0-2000000", "more than a sweep takes"),
    (f"{1 << 64}", "larger than a u64"),
])
def test_bad_seeds_say_what_and_how(text, problem):
    with pytest.raises(UsageError) as e:
        sw.parse_seeds(text)
    assert problem in str(e.value) and str(e.value).startswith("--seeds")


def test_format_seeds_is_the_shortest_text_and_parses_back():
    seeds = (0, 1, 2, 3, 7, 8, 10, 20, 21, 22)
    assert sw.format_seeds(seeds) == "0-3,7,8,10,20-22"
    assert sw.parse_seeds(sw.format_seeds(seeds)) == seeds


# -- the grid -----------------------------------------------------------------------------------

def test_grid_is_the_cartesian_product_first_axis_slowest():
    g = sw.build_grid((0, 1, 2), ["rss-stat-symbolic=on,off"], ["machine.cpus=1,2", "tasks.0.cpu=0"])
    assert [a.key for a in g.axes] == ["machine.patches.rss-stat-symbolic", "machine.cpus", "tasks.0.cpu"]
    assert [v.label for v in g.variants] == [
        "rss-stat-symbolic=on machine.cpus=1", "rss-stat-symbolic=on machine.cpus=2",
        "rss-stat-symbolic=off machine.cpus=1", "rss-stat-symbolic=off machine.cpus=2"]
    v = g.variants[2]
    assert [(o.path, o.text, o.option) for o in v.overrides] == [
        (("machine", "patches", "rss-stat-symbolic"), "off", "--patch rss-stat-symbolic=off"),
        (("machine", "cpus"), "1", "--set machine.cpus=1"),
        (("tasks", 0, "cpu"), "0", "--set tasks.0.cpu=0")]
    assert g.patches == ("rss-stat-symbolic",) and g.runs == 12


def test_grid_labels_without_a_swept_axis():
    assert [v.label for v in sw.build_grid((0,)).variants] == ["as written"]
    g = sw.build_grid((0,), ["rss-stat-symbolic=off"], ["machine.cpus=2"])
    assert [v.label for v in g.variants] == ["rss-stat-symbolic=off machine.cpus=2"]


@pytest.mark.parametrize("patches, sets, problem", [
    (["rss-stat-symbolic=on,off", "rss-stat-symbolic=off"], [], "already set by --patch"),
    (["rss-stat-symbolic=on,off"], ["machine.patches=x"], "already set by --patch"),
    ([], ["machine.cpus=1,2", "machine.cpus=4"], "already set by --set machine.cpus=1,2"),
    ([], ["machine.cpus=1,2,1"], "the value 1 is given twice"),
    ([], ["machine.cpus"], "no '=' in the setting"),
    ([], ["machine.cpus=1,,2"], "a value is empty"),
    (["rss-stat-symbolc=on,off"], [], "did you mean 'rss-stat-symbolic'"),
    (["rss-stat-symbolic=on,maybe"], [], "'maybe' is not a patch state"),
])
def test_bad_grids(patches, sets, problem):
    with pytest.raises(UsageError) as e:
        sw.build_grid((0,), patches, sets)
    assert problem in str(e.value)


def test_a_grid_too_large_is_refused():
    with pytest.raises(UsageError, match="the grid has 1,500,000 runs"):
        sw.build_grid(tuple(range(500_000)), [], ["machine.cpus=1,2,4"])


# -- running and counting -----------------------------------------------------------------------

def _alone(source, seed):
    """What ``memsim run --seed`` makes of one seed: the oracle."""
    host = Host()
    p = host.prepare(source, ())
    return outcome(Run(p.workload, p.registries, p.events, host.pm, seed=seed).execute(), ())


def test_race_counts_are_those_of_each_seed_run_alone():
    source = WorkloadSource.read(RACE)
    grid = sw.build_grid(sw.parse_seeds("0-29"))
    result = sw.sweep(source, grid, jobs=1)
    assert not result.interrupted and result.done == 30 and result.where == "1 process"
    expected = {s: _alone(source, s) for s in grid.seeds}
    assert [(r.seed, r.status) for r in result.results] == [(s, o.status) for s, o in expected.items()]
    assert [r.error for r in result.results if r.status != "killed"] == \
        [o.error for o in expected.values() if o.status != "killed"]
    vr = sw.SweepReport.build(result).variants[0]
    # the race must go every way among 30 seeds, or this workload tests nothing
    assert vr.counts["passed"] and vr.counts["failed"] and vr.counts["killed"]
    assert sum(vr.counts.values()) == vr.runs == 30
    failures = {f.status: f for f in vr.failures}
    assert set(failures) == {"failed", "killed"}
    assert failures["failed"].seeds == tuple(s for s, o in expected.items() if o.status == "failed")
    (err, seeds), = failures["failed"].errors
    assert "race.yaml:21:9: read b'\\x00" in err and seeds == failures["failed"].seeds
    (err, seeds), = failures["killed"].errors         # what killed it, where; not the address
    assert err == f"app (1000) killed by SIGSEGV (SEGV_MAPERR) at {RACE}:21:9"
    assert sw.exit_code(result) == 1                    # an expect failed


def test_metrics_are_the_spread_of_each_runs_value():
    source = WorkloadSource.read(RACE)
    result = sw.sweep(source, sw.build_grid((0, 1, 2, 3)), jobs=1)
    slices = [r.metrics["slices"] for r in result.results]
    stats = {m.name: m for m in sw.SweepReport.build(result).variants[0].metrics}
    s = stats["slices"]
    assert (s.min, s.max, s.count) == (min(slices), max(slices), 4)
    assert s.mean == sum(slices) / 4 and s.median == sorted(slices)[1] / 2 + sorted(slices)[2] / 2
    assert [m.name for m in result.metrics][:2] == ["emulated_ns", "faults"]
    assert "rss_stat_text_bytes" not in stats           # no --patch: the core's metrics only


def test_a_set_value_that_fails_on_purpose(tmp_path):
    p = tmp_path / "sized.yaml"
    p.write_text(SIZED)
    grid = sw.build_grid((0, 1), [], ["tasks.0.steps.0.mmap.length=256KiB,512KiB"])
    result = sw.sweep(WorkloadSource.read(str(p)), grid, jobs=1)
    report = sw.SweepReport.build(result)
    ok, big = report.variants
    assert ok.counts["passed"] == 2 and big.counts["failed"] == 2
    assert "sized.yaml:7:" in big.failures[0].errors[0][0]
    cmd = report.rerun(big, 0)
    assert cmd == f"memsim run {p} --seed 0 --set tasks.0.steps.0.mmap.length=512KiB"
    faults = {vr.variant.label: vr.metrics[1].max for vr in report.variants}
    assert faults == {"tasks.0.steps.0.mmap.length=256KiB": 64, "tasks.0.steps.0.mmap.length=512KiB": 128}


def test_swept_patch_records_its_events_and_reports_its_metrics():
    source = WorkloadSource.read(os.path.join(REPO, "configs", "patch-rss-stat-symbolic.yaml"))
    grid = sw.build_grid((0, 1), ["rss-stat-symbolic=on,off"])
    result = sw.sweep(source, grid, jobs=1)
    by = {(r.variant, r.seed): r.metrics for r in result.results}
    assert all(by[(0, s)]["rss_stat_by_index"] == 0 and by[(0, s)]["rss_stat_text_bytes"] > 0 for s in (0, 1))
    assert all(by[(1, s)]["rss_stat_by_index"] > 0 for s in (0, 1))
    assert all(m["events_written"] == m["rss_stat_by_index"] for (v, _), m in by.items() if v == 1)


def test_a_bad_variant_is_an_error_before_anything_runs():
    grid = sw.build_grid((0,), [], ["machine.cpus=2,0"])
    with pytest.raises(MemsimError, match=r"--set machine.cpus=0: machine.cpus is 0"):
        sw.sweep(WorkloadSource.read(RACE), grid, jobs=1)


def test_a_chunk_that_cannot_load_makes_every_seed_an_error():
    source = WorkloadSource("broken.yaml", "tasks: 5\n")
    rows = sw.run_chunk(sw.Chunk(source, (), 0, (), (3, 4)))
    assert [(r.seed, r.status) for r in rows] == [(3, "error"), (4, "error")]
    assert rows[0].error.startswith("broken.yaml:1:")


def test_process_pool_rows_equal_in_process_rows():
    source = WorkloadSource.read(RACE)
    grid = sw.build_grid(sw.parse_seeds("0-39"), ["rss-stat-symbolic=on,off"])
    one = sw.sweep(source, grid, jobs=1)
    two = sw.sweep(source, grid, jobs=2)
    assert two.where == "2 processes"
    assert one.results == two.results
    assert sw.format_report(sw.SweepReport.build(one)) == sw.format_report(sw.SweepReport.build(two))


def test_exit_codes():
    g = sw.build_grid((0, 1))
    def result(*statuses, interrupted=False):
        return sw.SweepResult("w.yaml", g, (), [sw.RunResult(0, i, s, None) for i, s in enumerate(statuses)],
                              interrupted)
    assert sw.exit_code(result("passed", "killed")) == 0
    assert sw.exit_code(result("passed", "failed")) == 1
    assert sw.exit_code(result("deadlocked")) == 1
    assert sw.exit_code(result("error")) == 1
    assert sw.exit_code(result("failed", interrupted=True)) == 130


def test_rerun_command_quotes_what_the_shell_would_split():
    g = sw.build_grid((0,), ["rss-stat-symbolic=off"], ["tasks.0.name=a b"])
    cmd = sw.rerun_command("my dir/w.yaml", g.variants[0], 7, ("hello",), check=True)
    assert cmd == ("memsim run 'my dir/w.yaml' --seed 7 --patch rss-stat-symbolic=off "
                   "--set 'tasks.0.name=a b' -p no:hello --check")


# -- one row per run ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def swept():
    source = WorkloadSource.read(RACE)
    grid = sw.build_grid((0, 1, 2, 7), ["rss-stat-symbolic=on,off"], ["machine.cpus=1,2"])
    return sw.sweep(source, grid, jobs=1)


def test_rows_have_an_override_column_per_axis(swept):
    columns, rows = sw.rows(swept)
    assert columns[:6] == ["variant", "machine.patches.rss-stat-symbolic", "machine.cpus", "seed",
                           "status", "error"]
    assert columns[6:] == [m.name for m in swept.metrics]
    assert len(rows) == 16 and rows[0]["machine.cpus"] == 1 and rows[0]["machine.patches.rss-stat-symbolic"] == "on"
    assert [(r["variant"], r["seed"]) for r in rows][:5] == [
        ("rss-stat-symbolic=on machine.cpus=1", s) for s in (0, 1, 2, 7)] + [("rss-stat-symbolic=on machine.cpus=2", 0)]


@pytest.mark.parametrize("name", ["runs.csv", "runs.jsonl", "runs.ndjson", "runs.parquet"])
def test_out_files_read_back(tmp_path, swept, name):
    path = str(tmp_path / name)
    sw.check_out(path)
    sw.write_rows(path, swept)
    columns, rows = sw.rows(swept)
    if name.endswith(".csv"):
        with open(path, newline="") as f:
            back = list(csv.DictReader(f))
        assert list(back[0]) == columns
        assert [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows] == back
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        assert table.column_names == columns
        assert table.to_pylist() == rows
        assert str(table.schema.field("error").type) == "string"
        assert str(table.schema.field("machine.cpus").type) == "int64"
    else:
        with open(path) as f:
            back = [json.loads(line) for line in f]
        assert back == rows and list(back[0]) == columns
    assert os.listdir(tmp_path) == [name]               # atomic: no temporary file left


@pytest.mark.parametrize("path, problem", [
    ("runs.txt", ".txt is not a format memsim writes"),
    ("runs", "no extension is not a format"),
    ("missing/runs.csv", "does not exist; create it first"),
])
def test_bad_out_paths(tmp_path, path, problem):
    with pytest.raises(UsageError, match=problem):
        sw.check_out(str(tmp_path / path))


def test_parquet_without_pyarrow_says_how_to_get_it(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_pyarrow(name, *args, **kw):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(UsageError, match=r"pip install 'memsim\[parquet\]'"):
        sw.check_out(str(tmp_path / "runs.parquet"))


def test_chunks_go_seed_block_by_seed_block():
    """A sweep stopped half-way has run every variant on the same seeds."""
    grid = sw.build_grid(tuple(range(10)), [], ["machine.cpus=1,2"])
    chunks = sw._chunks(grid, WorkloadSource("w.yaml", ""), (), (), False, sw._chunk_size(grid, 1))
    assert [(c.variant, c.seeds) for c in chunks] == [
        (0, (0, 1, 2)), (1, (0, 1, 2)), (0, (3, 4, 5)), (1, (3, 4, 5)), (0, (6, 7, 8)), (1, (6, 7, 8)),
        (0, (9,)), (1, (9,))]
    assert sw._chunk_size(sw.build_grid(tuple(range(100_000))), 2) == sw.MAX_CHUNK
