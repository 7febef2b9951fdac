"""The CLI: run/check/events/plugins, exit codes, messages without tracebacks, determinism."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from memsim.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, "configs")


def write(tmp_path, text, name="w.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def invoke(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r


SMALL = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf}
      - expect: {rss: {anon: 256 KiB}}
"""


def test_run_prints_a_summary(tmp_path):
    r = invoke("run", write(tmp_path, SMALL))
    assert r.exit_code == 0, r.output
    assert "app" in r.output and "256 KiB" in r.output


def test_run_json_summary(tmp_path):
    r = invoke("run", write(tmp_path, SMALL), "--json")
    s = json.loads(r.output)
    t = s["tasks"][0]
    assert t["rss_bytes"]["MM_ANONPAGES"] == 256 << 10
    assert t["faults"]["anon"] == 64
    assert s["nodes"][0]["pages_allocated"] > 64
    assert set(s["events"]) >= {"written", "dropped"}
    assert s["time"]["emulated_ns"] > 0 and "host_wall_s" in s["time"]


def test_trace_to_file_matches_kernel_layout(tmp_path):
    out = tmp_path / "t.txt"
    r = invoke("run", write(tmp_path, SMALL), "--trace", str(out), "--events", "kmem:rss_stat,kmem:mm_page_alloc")
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert lines[0] == "# tracer: nop"
    body = [l for l in lines if not l.startswith("#")]
    assert body and all(" mm_page_alloc: " in l or " rss_stat: " in l for l in body)
    assert body[0].startswith("             app-1000    [000] .... ")


def test_same_seed_same_trace(tmp_path):
    wl = write(tmp_path, os.path.join(CONFIGS, "examples", "sleep.yaml"))
    path = os.path.join(CONFIGS, "examples", "sleep.yaml")
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    invoke("run", path, "--trace", str(a), "--seed", "5")
    invoke("run", path, "--trace", str(b), "--seed", "5")
    invoke("run", path, "--trace", str(c), "--seed", "6")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(CONFIGS, "examples"))) + [
    "../" + n for n in sorted(os.listdir(CONFIGS)) if n.endswith(".yaml")])
def test_example_workloads_run_clean_with_checks(name):
    """Every workload of configs/ and configs/examples/ runs with --check and no problem."""
    r = invoke("run", os.path.join(CONFIGS, "examples", name), "--check")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("name, victim, adj", [("oom-hog.yaml", "hog", 0), ("oom-score-adj.yaml", "batch", 500)])
def test_oom_workloads_show_the_kill(name, victim, adj):
    # issue 10's demos: the OOM killer takes the task (no swap), the summary says so, --check
    # holds through the kill and the reaping
    r = invoke("run", os.path.join(CONFIGS, name), "--check", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    killed = {t["name"]: t["killed_by"] for t in s["tasks"] if t["killed_by"]}
    assert killed == {victim: "SIGKILL"}
    assert [(k["comm"], k["oom_score_adj"]) for k in s["oom_kills"]] == [(victim, adj)]
    r = invoke("run", os.path.join(CONFIGS, name))
    assert f"killed by the OOM killer (oom_score_adj {adj}, anon-rss " in r.output
    assert "oom kills 1" in r.output
    assert s["reclaim"]["oom_kill"] == 1 and s["reclaim"]["allocstall"] >= 1


def test_summary_reports_reclaim_only_when_it_happened(tmp_path):
    # a file mapping read three times the machine's size: reclaim must drop clean page-cache
    # pages for the reads to go on; the summary's "reclaim" counters and line say how much
    wl = write(tmp_path, textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: reader
            steps:
              - mmap: {name: data, length: 192 MiB, type: file, file: data}
              - touch: {vma: data, access: read}
    """))
    s = json.loads(invoke("run", wl, "--json").output)
    r = s["reclaim"]
    assert r["pgsteal_kswapd"] + r["pgsteal_direct"] >= 192 * 256 - 64 * 256
    assert r["oom_kill"] == 0
    assert "reclaim: kswapd scanned " in invoke("run", wl).output
    quiet = invoke("run", os.path.join(CONFIGS, "examples", "sleep.yaml")).output
    assert "reclaim:" not in quiet


def test_check_command(tmp_path):
    r = invoke("check", write(tmp_path, SMALL))
    assert r.exit_code == 0 and "ok" in r.output


@pytest.mark.parametrize("text, where, what", [
    ("machine: {cpus: 2}\ntasks:\n  - name: a\n    steps:\n      - mmap: {name: b, lenght: 4k}\n",
     ":5:25:", "did you mean 'length'"),
    ("machine: {cpus: two}\ntasks: []\n", ":1:17:", "integer"),
    ("machine:\n  nodes: [{memory: 1 GiB}]\ntasks:\n  - name: a\n    steps:\n      - mmap: {name: b, length: -5}\n",
     ":6:33:", "-5"),
    ("machine: [\n", ":2:1:", "invalid YAML"),
    ("tasks:\n  - name: a\n    steps:\n      - tuoch: {vma: x}\n", ":4:9:", "did you mean 'touch'"),
    ("machine: {nodes: [{memory: 12 XB}]}\ntasks: []\n", ":1:28:", "unit"),
    # an unknown kernel profile is the workload's mistake, reported where it is written
    ("machine:\n  kernel: v9\ntasks: []\n", ":2:11:", "'v9' is not one of v5.14, v6.18"),
])
def test_bad_workloads_exit_2_with_location(tmp_path, text, where, what):
    p = write(tmp_path, text)
    r = invoke("run", p)
    assert r.exit_code == 2
    assert where in r.output and what in r.output
    assert "Traceback" not in r.output


def test_mmap_larger_than_memory_names_the_step(tmp_path):
    p = write(tmp_path, """\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: a
            steps:
              - mmap: {name: big, length: 1 GiB}
        """)
    r = invoke("run", p)
    assert r.exit_code == 2
    assert f"{p}:5:9: mmap failed with ENOMEM" in r.output
    assert "expect: {errno: ENOMEM}" in r.output


def test_range_outside_the_mapping(tmp_path):
    p = write(tmp_path, """\
        tasks:
          - name: a
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - touch: {vma: buf, offset: 4 KiB, length: 8 KiB}
        """)
    r = invoke("run", p)
    assert r.exit_code == 2 and f"{p}:5:" in r.output and "outside mapping 'buf'" in r.output


def test_unmet_expectation_exits_1_and_keeps_the_trace(tmp_path):
    p = write(tmp_path, """\
        tasks:
          - name: a
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - touch: {vma: buf}
              - expect: {rss: {anon: 4 KiB}}
        """)
    out = tmp_path / "t.txt"
    r = invoke("run", p, "--trace", str(out), "--events", "kmem:mm_page_alloc")
    assert r.exit_code == 1
    assert f"{p}:6:" in r.output and "anon is 8 KiB" in r.output
    assert "mm_page_alloc" in out.read_text()            # nothing already recorded is lost


def test_bad_options(tmp_path):
    p = write(tmp_path, SMALL)
    r = invoke("run", p, "--events", "kmem:rss_stta")
    assert r.exit_code == 2 and "--events" in r.output and "rss_stat" in r.output
    r = invoke("run", p, "-p", "kmem")
    assert r.exit_code == 2 and "no:NAME" in r.output
    r = invoke("run", p, "-p", "no:kmem")
    assert r.exit_code == 2 and "kmem" in r.output
    r = invoke("run", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "missing.yaml" in r.output
    r = invoke("run", p, "--trace", str(tmp_path / "nodir" / "t.txt"))
    assert r.exit_code == 2 and "--trace" in r.output
    r = invoke("run", p, "--seed", "x")
    assert r.exit_code == 2
    r = invoke("events", "--format", "kmem:rss_sta")
    assert r.exit_code == 2 and "kmem:rss_stat" in r.output


def test_events_lists_and_formats():
    r = invoke("events")
    assert r.exit_code == 0 and "kmem:rss_stat" in r.output and "kmem:mm_page_alloc" in r.output
    r = invoke("events", "--format", "kmem:rss_stat")
    assert r.output.startswith("name: rss_stat\nID: ")
    assert '__print_symbolic(REC->member, { 0, "MM_FILEPAGES" }' in r.output


def test_plugins_lists_builtins():
    r = invoke("plugins")
    assert r.exit_code == 0
    names = [l.split()[0] for l in r.output.splitlines()]
    assert "kmem" in names and "core_steps" in names


def test_console_script_runs_without_traceback(tmp_path):
    p = write(tmp_path, "tasks: 5\n")
    r = subprocess.run([sys.executable, "-m", "memsim.cli", "run", p], capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr and f"{p}:1:" in r.stderr


SHARED = os.environ.get("MEMSIM_SHARED", os.path.join(os.path.dirname(REPO), "shared"))


@pytest.mark.parametrize("event", ["kmem:rss_stat", "kmem:mm_page_alloc", "kmem:mm_page_free"])
def test_v618_format_files_equal_the_kernels_apart_from_the_id(event):
    system, name = event.split(":")
    path = os.path.join(SHARED, "traces", "formats", system, name, "format")
    if not os.path.exists(path):
        pytest.skip(f"the captured format files are not here ({path})")
    r = invoke("events", "--kernel", "v6.18", "--format", event)
    assert r.exit_code == 0
    with open(path) as f:
        want = f.read()
    drop_id = lambda text: [l for l in text.splitlines() if not l.startswith("ID: ")]
    assert drop_id(r.output) == drop_id(want)


def test_workingset_demo_activates_its_refaults():
    # issue 10's workingset demo: the new working set refaults once, within the active list
    # (every refault activated), then stays resident; --check holds with shadows in i_pages
    r = invoke("run", os.path.join(CONFIGS, "workingset.yaml"), "--check", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)["reclaim"]
    assert rec["workingset_refault_file"] > 0
    assert rec["workingset_activate_file"] == rec["workingset_refault_file"]
    assert rec["workingset_refault_file"] < 20 * 256          # not every pass refaults
    r = invoke("run", os.path.join(CONFIGS, "workingset.yaml"))
    assert f"refaults {rec['workingset_refault_file']} ({rec['workingset_refault_file']} activated)" in r.output


def test_reclaim_stream_demo_shows_kswapd_and_direct_reclaim():
    # issue 10's pressure demo: a stream four times the machine through a file mapping; kswapd
    # and direct reclaim both take part, nothing is OOM-killed, --check holds at every step
    r = invoke("run", os.path.join(CONFIGS, "reclaim-stream.yaml"), "--check", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    rec = s["reclaim"]
    assert rec["pgsteal_kswapd"] > 0 and rec["pageoutrun"] > 0
    assert rec["pgsteal_direct"] > 0 and rec["allocstall"] > 0
    assert rec["oom_kill"] == 0
    assert all(t["exited"] and t["exit_code"] == 0 for t in s["tasks"])
