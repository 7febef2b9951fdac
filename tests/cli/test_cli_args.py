"""What a new user mistypes on the command line gets memsim's own one-line error (exit 2).

* ``--seed`` is checked as ``machine.seed`` is (0 .. 2**64-1, an integer) on run and compare;
  sweep's ``--seeds`` likewise;
* a directory given as the workload: ``DIR: is a directory; give a workload file`` on run,
  check, compare and sweep (not click's usage error).
"""
import json

import pytest
from click.testing import CliRunner

from memsim.cli import main

SMALL = """\
machine:
  cpus: 1
  nodes:
    - memory: 64 MiB
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf}
"""
MAX_SEED = (1 << 64) - 1


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def workload(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text(SMALL)
    return str(p)


@pytest.mark.parametrize("command", [("run",), ("compare", "--patch", "rss-stat-symbolic")])
@pytest.mark.parametrize("seed, problem", [
    ("-1", "the seed is -1, below the minimum of 0; give at least 0"),
    (str(MAX_SEED + 1), f"the seed is {MAX_SEED + 1}, above the maximum of {MAX_SEED}; give at most {MAX_SEED}"),
    ("abc", f"the seed must be an integer, not 'abc'; give a whole number from 0 to {MAX_SEED}"),
    ("1.5", f"the seed must be an integer, not '1.5'; give a whole number from 0 to {MAX_SEED}"),
])
def test_a_seed_out_of_range_is_refused_as_the_files_is(workload, command, seed, problem):
    r = invoke(command[0], workload, *command[1:], "--seed", seed)
    assert r.exit_code == 2
    assert r.stderr == f"memsim: --seed: {problem}\n"
    assert r.stdout == ""


def test_the_files_seed_has_the_same_bounds(workload):
    r = invoke("run", workload, "--set", "machine.seed=-1")
    assert r.exit_code == 2 and "machine.seed is -1, below the minimum of 0; give at least 0" in r.stderr


def test_the_largest_seed_runs(workload):
    r = invoke("run", workload, "--seed", str(MAX_SEED), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["seed"] == MAX_SEED
    r = invoke("compare", workload, "--patch", "rss-stat-symbolic", "--seed", str(MAX_SEED), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["seed"] == MAX_SEED


def test_sweep_seeds_are_bounded_too(workload):
    r = invoke("sweep", workload, "--seeds", f"{MAX_SEED}-{MAX_SEED + 1}")
    assert r.exit_code == 2
    assert f"seed {MAX_SEED + 1} is larger than a u64; give seeds from 0 to {MAX_SEED}" in r.stderr
    r = invoke("sweep", workload, "--seeds", "-1")
    assert r.exit_code == 2 and "'-1' is not a seed or a range of seeds" in r.stderr


@pytest.mark.parametrize("command", [("run",), ("check",), ("compare", "--patch", "rss-stat-symbolic"),
                                     ("sweep", "--seeds", "0-1")])
def test_a_directory_is_not_a_workload(tmp_path, command):
    r = invoke(command[0], str(tmp_path), *command[1:])
    assert r.exit_code == 2
    assert r.stderr == f"memsim: {tmp_path}: is a directory; give a workload file\n"


def test_a_missing_workload_is_memsims_error_too(tmp_path):
    r = invoke("run", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2
    assert r.stderr == (f"memsim: {tmp_path / 'nope.yaml'}: cannot read the workload: No such file or "
                        "directory; check the path and its permissions\n")
