"""``memsim compare``: text, --json, --plot, and every mistake as one line with exit status 2.

Scenario: issue 8, part 2 — `memsim compare configs/patch-rss-stat-symbolic.yaml --patch
rss-stat-symbolic` shows kmem:rss_stat's print fmt on and off (type=%s / member=%d) and the
metrics that read the trace (rss_stat_by_index 0 / N); nothing else differs.
"""
import importlib.util
import json
import os
import textwrap

import pytest
from click.testing import CliRunner

from memsim.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "configs", "patch-rss-stat-symbolic.yaml")
PATCH = "rss-stat-symbolic"
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(text, section):
    """{label: [cells]} of the rows of one section of the text output."""
    lines = text.split(f"\n{section} ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    out = {}
    for line in lines:
        if line.startswith("    ") or not line.startswith("  "):
            continue
        label, _, cells = line[2:].partition("  ")
        out[label.strip()] = cells.split()
    return out


@pytest.fixture(scope="module")
def text():
    r = invoke("compare", DEMO, "--patch", PATCH)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_the_demo_shows_both_print_fmts_and_first_lines(text):
    assert text.splitlines()[0] == f"memsim compare {DEMO} --patch {PATCH}"
    assert "  kmem:rss_stat: the print fmt differs\n" in text
    assert '    on:  print fmt: "mm_id=%u curr=%d type=%s size=%ldB"' in text
    assert '    off: print fmt: "mm_id=%u curr=%d member=%d size=%ldB", REC->mm_id' in text
    first = text.split("  first trace line:\n", 1)[1].splitlines()[:2]
    assert first[0].startswith("    on:  app-1000") and first[0].endswith("type=MM_FILEPAGES size=262144B")
    assert first[1].startswith("    off: app-1000") and first[1].endswith("member=0 size=262144B")


def test_the_demo_differs_in_the_metrics_that_read_rss_stat_only(text):
    metrics = rows(text, "metrics")
    n = int(rows(text, "events")["kmem:rss_stat"][0])
    assert metrics["rss_stat_by_index (lines)"] == ["0", str(n), f"+{n}"]
    assert metrics["rss_stat_text_bytes (bytes)"][2].startswith("-")
    others = {k: v for k, v in metrics.items() if not k.startswith("rss_stat_")}
    assert set(others) == {"emulated_ns (ns)", "faults", "pages_allocated (pages)", "pages_freed (pages)",
                           "events_written (records)", "slices"}
    for section in ("run", "memory", "events"):
        for label, cells in rows(text, section).items():
            assert cells[:len(cells) // 2] == cells[len(cells) // 2:], (section, label)   # no diff
    assert rows(text, "run")["status"] == ["passed", "passed"]
    assert "  meminfo: all 50 lines equal\n" in text
    assert "files\n  none: the change's plugin names no file for it\n" in text


def test_the_text_is_the_same_every_time(text):
    again = invoke("compare", DEMO, "--patch", f"{PATCH}=on,off")
    assert again.exit_code == 0 and again.stdout == text
    assert "host" not in text                       # no wall-clock time in the comparison


def test_json_holds_the_same_content(text):
    r = invoke("compare", DEMO, "--patch", PATCH, "--json")
    assert r.exit_code == 0, r.output
    comp = json.loads(r.stdout)
    assert list(comp) == ["workload", "patch", "kernel", "seed", "overrides", "run", "tasks", "memory",
                          "files", "formats", "events", "metrics"]
    assert comp["patch"]["name"] == PATCH and comp["patch"]["plugin"] == "kmem"
    by_name = {m["name"]: m for m in comp["metrics"]}
    n = comp["events"]["counts"]["kmem:rss_stat"]["off"]
    assert by_name["rss_stat_by_index"] == {"name": "rss_stat_by_index", "unit": "lines",
                                            "doc": by_name["rss_stat_by_index"]["doc"],
                                            "on": 0, "off": n, "diff": n}
    assert comp["formats"][0]["print_fmt"]["off"] in text
    from memsim.compare import render_text
    assert render_text(comp) == text


def test_seed_and_set_reach_both_sides(tmp_path):
    r = invoke("compare", DEMO, "--patch", PATCH, "--seed", "4", "--set", "machine.cpus=1",
               "--events", "kmem:rss_stat,kmem:mm_page_alloc", "--json")
    assert r.exit_code == 0, r.output
    comp = json.loads(r.stdout)
    assert comp["seed"] == 4 and comp["overrides"] == ["--set machine.cpus=1"]
    assert list(comp["events"]["counts"]) == ["kmem:rss_stat", "kmem:mm_page_alloc"]
    assert comp["events"]["recorded"] == ["kmem:rss_stat", "kmem:mm_page_alloc"]


def test_plot_draws_both_runs_into_one_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "cmp.png"
    r = invoke("compare", DEMO, "--patch", PATCH, "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == PNG
    assert r.stderr == f"{out}: rss, alloc_rate, net_pages, page_cache\n"   # the demo reads a file
    assert r.stdout.startswith("memsim compare ")


@pytest.mark.parametrize("args, where, what", [
    ((), "--patch:", "no seed change given"),
    (("--patch", "rss-stat-symbolik"), "--patch rss-stat-symbolik:", "did you mean 'rss-stat-symbolic'?"),
    (("--patch", "kasan-tag-fe", "-p", "no:kasan"), "--patch kasan-tag-fe:",
     "belongs to plugin 'kasan', which is disabled (-p no:kasan)"),
    (("--patch", "rss-stat-symbolic=on"), "--patch rss-stat-symbolic=on:", "both on and off"),
    (("--patch", "rss-stat-symbolic=maybe"), "--patch rss-stat-symbolic=maybe:", "'maybe' is not a patch state"),
    (("--patch", PATCH, "--patch", "memcg-rstat"), "--patch memcg-rstat:", "compare takes one seed change"),
    (("--patch", PATCH, "--set", "machine.cpus"), "--set machine.cpus:", "no '=' in the setting"),
    (("--patch", PATCH, "--set", "machine.cpus=0"), "--set machine.cpus=0:", "machine.cpus is 0"),
    (("--patch", PATCH, "--set", "machine.cpu=2"), "--set machine.cpu=2", "cpu"),
    (("--patch", PATCH, "--events", "kmem:nope"), "--events:", "no trace event matches 'kmem:nope'"),
    (("--patch", PATCH, "--plot", "/no/such/dir/x.png"), "--plot:", "directory /no/such/dir does not exist"),
    (("--patch", PATCH, "-p", "no:kmem"), "-p no:kmem:", "essential plugin"),
])
def test_mistakes_are_one_line_and_exit_2(args, where, what):
    r = invoke("compare", DEMO, *args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.startswith(f"memsim: {where}") and what in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_workload_that_does_not_load_is_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, lenght: 4 KiB}
        """))
    r = invoke("compare", str(bad), "--patch", PATCH)
    assert r.exit_code == 2 and r.stderr.startswith(f"memsim: {bad}:4:") and "length" in r.stderr
    r = invoke("compare", str(tmp_path / "missing.yaml"), "--patch", PATCH)
    assert r.exit_code == 2 and "cannot read the workload" in r.stderr


def test_a_failing_side_is_shown_and_exits_0(tmp_path):
    wl = tmp_path / "w.yaml"
    wl.write_text(textwrap.dedent("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - touch: {vma: buf, access: write}
              - expect: {rss: {anon: 4 KiB}}
        """))
    r = invoke("compare", str(wl), "--patch", PATCH)
    assert r.exit_code == 0, r.output
    assert rows(r.stdout, "run")["status"] == ["failed", "failed"]
    assert f"  error (on): {wl}:7:" in r.stdout and f"  error (off): {wl}:7:" in r.stdout


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "matplotlib" else real(name, *a, **k))
    r = invoke("compare", DEMO, "--patch", PATCH, "--plot", str(tmp_path / "x.png"))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == ("memsim: --plot: matplotlib is not installed; pip install 'memsim[plot]' to "
                        "draw timelines, or leave --plot out\n")


def test_python_dash_m_memsim_cli_has_compare(tmp_path):
    # python -m memsim.cli runs a second copy of memsim.cli: memsim.cli_compare must load under it
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "memsim.cli", "compare", DEMO, "--patch", "rss-stat-symbolik"],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("memsim: --patch rss-stat-symbolik: there is no seed change called "
                        "'rss-stat-symbolik'; did you mean 'rss-stat-symbolic'?\n")
