"""Sweep throughput (run by ``python benchmarks/run.py``; ``--only sweep`` for just this one).

    python benchmarks/sweep_bench.py [--seeds 0-999] [--repeat N]

``memsim sweep configs/bench/race.yaml --seeds 0-999`` as a user runs it -- the whole command
in a process of its own, interpreter start and plugin loading included -- three ways:

  * ``--jobs 1``: every run in the command's own process;
  * ``--jobs 2``: a process pool of two workers (the VM has two cores);
  * ``--scheduler ADDRESS``: a two-worker ``dask.distributed.LocalCluster`` (one thread per
    worker process) that this benchmark starts before and stops after; the cluster's startup
    is not counted, the connection and the shipping of the tasks are.

Each figure is the best of ``--repeat`` commands (runs per second of the whole command, and of
the sweep alone as ``memsim sweep`` reports it on standard error); the ratios are against
``--jobs 1``.  The three commands must print the same table, or the benchmark fails.
race.yaml is a small workload (two threads, a page, ~1 ms a run): the per-run costs of building
a machine and of the pool or cluster are what this measures, not the fault path.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "configs" / "bench" / "race.yaml"
_RATE = re.compile(r"memsim sweep: ([\d,]+) of ([\d,]+) runs in ([\d.]+) s")


def memsim_command() -> List[str]:
    """The ``memsim`` console script next to this interpreter (as a user runs it), or
    ``python -m memsim.cli``."""
    script = Path(sys.executable).parent / "memsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "memsim.cli"]


def sweep_once(args: List[str], seeds: str) -> Dict:
    cmd = memsim_command() + ["sweep", str(WORKLOAD), "--seeds", seeds] + args
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}")
    m = _RATE.search(r.stderr)
    if m is None:
        raise RuntimeError(f"no timing line in: {r.stderr}")
    runs = int(m.group(1).replace(",", ""))
    return {"command": " ".join(["memsim"] + cmd[len(memsim_command()):]), "runs": runs,
            "command_s": wall, "runs_per_s": runs / wall,
            "sweep_s": float(m.group(3)), "sweep_runs_per_s": runs / float(m.group(3)),
            "table": r.stdout}


def best(args: List[str], seeds: str, repeat: int) -> Dict:
    out = None
    for _ in range(repeat):
        r = sweep_once(args, seeds)
        if out is None or r["command_s"] < out["command_s"]:
            out = r
    return out


def run(seeds: str = "0-999", repeat: int = 3) -> Dict:
    from distributed import LocalCluster
    results = {"workload": str(WORKLOAD.relative_to(REPO)), "seeds": seeds, "repeat": repeat,
               "cpus": os.cpu_count()}
    results["jobs1"] = best(["--jobs", "1"], seeds, repeat)
    results["jobs2"] = best(["--jobs", "2"], seeds, repeat)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        results["cluster"] = best(["--scheduler", cluster.scheduler_address], seeds, repeat)
    base = results["jobs1"]
    for key in ("jobs2", "cluster"):
        r = results[key]
        if r["table"] != base["table"]:
            raise RuntimeError(f"{r['command']} printed another table than {base['command']}")
        r["ratio"] = r["runs_per_s"] / base["runs_per_s"]
        r["sweep_ratio"] = r["sweep_runs_per_s"] / base["sweep_runs_per_s"]
    for key in ("jobs1", "jobs2", "cluster"):
        del results[key]["table"]
    return results


def report(r: Dict) -> None:
    """What run.py prints."""
    print(f"\nmemsim sweep {r['workload']} --seeds {r['seeds']} (best of {r['repeat']}, "
          f"{r['cpus']} CPUs): whole command / sweep alone")
    for key, label in (("jobs1", "--jobs 1"), ("jobs2", "--jobs 2"), ("cluster", "2-worker LocalCluster")):
        x = r[key]
        ratio = f"  {x['ratio']:.2f}x / {x['sweep_ratio']:.2f}x --jobs 1" if "ratio" in x else ""
        print(f"  {label:<22} {x['runs_per_s']:>8,.0f} runs/s ({x['command_s']:.2f} s) / "
              f"{x['sweep_runs_per_s']:>6,.0f} runs/s ({x['sweep_s']:.2f} s){ratio}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-999")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    r = run(args.seeds, args.repeat)
    report(r)
    json.dump(r, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
