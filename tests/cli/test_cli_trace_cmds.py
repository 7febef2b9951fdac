"""``memsim trace report|stats|plot|convert`` (docs/traces.md), driven through click's CliRunner.

Scenarios: each command on traces memsim itself writes (checked against the run's own counters
and a direct count of the text) and on the shared Linux 6.18 capture; text -> trace.dat -> text
round trips; and every way a user can get it wrong (missing file, a directory, garbage,
malformed lines with and without --strict, an unwritable output), each one line, no traceback.
"""
import gzip
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from memsim.cli import main
from memsim.cli_trace import trace
from memsim.tracing.kmem import kmem_events

pytest.importorskip("memsim.tracing.textparse", reason="the text parser has not landed yet")

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S{4,5}\s+)?"
                  r"(?P<ts>\d+\.\d+): (?P<event>\w+):")


def shared_traces():
    env = os.environ.get("MEMSIM_SHARED")
    p = Path(env) if env else REPO.parent / "shared"
    return p / "traces" if (p / "traces").is_dir() else None


@pytest.fixture(scope="session")
def traces_dir():
    d = shared_traces()
    if d is None:
        pytest.skip("captured traces not found: set MEMSIM_SHARED to the shared folder")
    return d


def run(*args, input=None):
    """Invoke ``memsim trace ARGS``; never lets an exception through (no traceback allowed)."""
    r = CliRunner().invoke(trace, [str(a) for a in args], input=input)
    assert r.exception is None or isinstance(r.exception, SystemExit), \
        f"traceback from {args}: {r.exception!r}"
    return r


WORKLOAD = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
  kernel: v6.18
tasks:
  - name: app
    cpu: 0
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf}
      - fork:
          child: kid
          cpu: 1
          steps:
            - mmap: {name: own, length: 128 KiB}
            - touch: {vma: own}
            - touch: {vma: buf, length: 64 KiB}
            - sleep: {duration: 10ms}
      - munmap: {vma: buf, length: 64 KiB}
      - sleep: {duration: 1ms}
      # an expectation that fails stops the run with both tasks alive, so the summary holds
      # their live counters (and the trace is still written)
      - expect: {rss: {anon: 1 GiB}}
"""


@pytest.fixture(scope="module")
def memsim_trace(tmp_path_factory):
    """(trace path, run summary) of WORKLOAD with every kmem event, kernel v6.18 (no RSS caching)."""
    d = tmp_path_factory.mktemp("memsim")
    wl = d / "w.yaml"
    wl.write_text(WORKLOAD)
    out = d / "trace.txt"
    r = CliRunner().invoke(main, ["run", str(wl), "--trace", str(out), "--json"])
    assert r.exit_code == 1, r.output                       # the deliberate expect failure
    summary = json.loads(r.stdout)
    assert "error" in summary
    return out, summary


def body(text):
    return [l for l in text.splitlines() if l and not l.startswith("#") and not l.startswith("cpus=")]


def parsed(lines):
    return [LINE.match(l) for l in lines]


# -- help --------------------------------------------------------------------------------------
def test_group_and_command_help():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("report", "stats", "plot", "convert"):
        assert cmd in r.output
        h = run(cmd, "--help")
        assert h.exit_code == 0 and "Usage:" in h.output and "--strict" in h.output


def test_style_choices_are_the_renderers():
    from memsim import cli_trace
    from memsim.tracing.report import STYLES
    assert cli_trace.STYLES == STYLES


# -- report ------------------------------------------------------------------------------------
def test_report_reproduces_a_memsim_trace(memsim_trace):
    path, _ = memsim_trace
    r = run("report", path)
    assert r.exit_code == 0, r.output
    assert r.stdout == path.read_text()


@pytest.mark.parametrize("globs, events", [
    (["-e", "kmem:rss_stat"], {"rss_stat"}),
    (["-e", "rss_stat"], {"rss_stat"}),
    (["-e", "kmem:mm_page_*"], {"mm_page_alloc", "mm_page_free", "mm_page_free_batched",
                                "mm_page_alloc_zone_locked", "mm_page_pcpu_drain"}),
    (["-e", "rss_stat,mm_page_free"], {"rss_stat", "mm_page_free"}),
    (["-e", "rss_stat", "-e", "*:kfree"], {"rss_stat", "kfree"}),
    (["-e", "kmem"], {d.name for p in ("v5.14", "v6.18") for d in kmem_events(p)}),
    (["-e", "kmem,pagemap,memcg"], None),     # every system the v6.18 run traces
])
def test_report_event_filters_match_a_direct_count(memsim_trace, globs, events):
    path, _ = memsim_trace
    all_lines = body(path.read_text())
    want = [l for l, m in zip(all_lines, parsed(all_lines)) if events is None or m["event"] in events]
    assert want
    r = run("report", path, *globs)
    assert r.exit_code == 0, r.output
    assert body(r.stdout) == want
    # the header counts what was printed
    assert f"entries-in-buffer/entries-written: {len(want)}/{len(want)}" in r.stdout


def test_report_pid_cpu_and_time_window(memsim_trace):
    path, _ = memsim_trace
    lines = body(path.read_text())
    ms = parsed(lines)
    assert {m["pid"] for m in ms} >= {"1000", "1001"} and {m["cpu"] for m in ms} == {"000", "001"}
    r = run("report", path, "--pid", 1001)
    assert body(r.stdout) == [l for l, m in zip(lines, ms) if m["pid"] == "1001"]
    r = run("report", path, "--cpu", 1, "--pid", 1000, "--pid", 1001)
    assert body(r.stdout) == [l for l, m in zip(lines, ms) if m["cpu"] == "001"]
    stamps = sorted({m["ts"] for m in ms})
    lo, hi = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    want = [l for l, m in zip(lines, ms) if lo <= m["ts"] <= hi]
    r = run("report", path, "--from", lo, "--to", hi)
    assert body(r.stdout) == want and want
    # the same window with units
    lo_us = int(lo.replace(".", ""))
    r2 = run("report", path, "--from", f"{lo_us}us", "--to", f"{float(hi) * 1000:.3f}ms")
    assert body(r2.stdout) == want


def test_report_trace_cmd_style(memsim_trace):
    path, _ = memsim_trace
    r = run("report", path, "--style", "trace-cmd", "-e", "rss_stat")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[0] == "cpus=2"
    assert not any(l.startswith("#") for l in out)
    n = sum(1 for l in body(path.read_text()) if " rss_stat: " in l)
    assert len(out) - 1 == n and all("rss_stat:" in l and "type=MM_" in l for l in out[1:])


def test_report_to_a_file_and_from_stdin(memsim_trace, tmp_path):
    path, _ = memsim_trace
    out = tmp_path / "r.txt"
    r = run("report", "-", "-e", "mm_page_alloc", "-o", out, input=path.read_text())
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    want = [l for l in body(path.read_text()) if " mm_page_alloc: " in l]
    assert body(out.read_text()) == want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_report_rejects_bad_times_and_warns_on_unused_globs(memsim_trace):
    path, _ = memsim_trace
    r = run("report", path, "--from", "yesterday")
    assert r.exit_code == 2 and "--from: 'yesterday' is not a time" in r.output
    r = run("report", path, "--from", "2", "--to", "1")
    assert r.exit_code == 2 and "after --to" in r.output
    r = run("report", path, "-e", "no_such_event")
    assert r.exit_code == 0 and "matched no event" in r.stderr


def test_report_corpus_filters(traces_dir):
    path = traces_dir / "ftrace-mm-workload.txt.gz"
    with gzip.open(path, "rt") as f:
        lines = body(f.read())
    ms = parsed(lines)
    for glob, pred in (("memcg:*", lambda e: "memcg" in e),
                       ("filemap", lambda e: e.startswith("mm_filemap")),
                       ("kmem:mm_page_*", lambda e: e.startswith("mm_page"))):
        r = run("report", path, "-e", glob)
        assert r.exit_code == 0, r.output
        assert body(r.stdout) == [l for l, m in zip(lines, ms) if pred(m["event"])], glob
    r = run("report", path)
    assert body(r.stdout) == lines
    assert "entries-in-buffer/entries-written: 22851/22851   #P:2" in r.stdout


# -- stats -------------------------------------------------------------------------------------
def test_stats_final_rss_equals_the_machine_counters(memsim_trace):
    path, summary = memsim_trace
    r = run("stats", path, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    by_pid = {t["pid"]: mm for mm in doc["rss"] for t in mm["tasks"]}
    for task in summary["tasks"]:
        assert not task["exited"]
        mm = by_pid[task["pid"]]
        want = task["rss_bytes"]
        got = {name: c["last"] for name, c in mm["counters"].items()}
        assert all(got.get(k, 0) == v for k, v in want.items()), (task["name"], got, want)
        assert mm["final_rss_bytes"] == want["MM_FILEPAGES"] + want["MM_ANONPAGES"] + want["MM_SHMEMPAGES"]
    lines = body(path.read_text())
    counts = Counter(m["event"] for m in parsed(lines))
    assert {k.split(":")[1]: v for k, v in doc["events"]["by_event"].items()} == dict(counts)
    assert doc["events"]["total"] == len(lines) == summary["events"]["written"]
    pg = doc["pages"]
    assert pg["alloc_events"] == counts["mm_page_alloc"] and pg["free_events"] == counts["mm_page_free"]


def test_stats_json_schema(memsim_trace):
    path, _ = memsim_trace
    doc = json.loads(run("stats", path, "--json", "--timeline").stdout)
    assert doc["schema"] == "memsim.trace.stats/1"
    assert set(doc) == {"schema", "file", "meta", "events", "skipped", "time", "pids", "rss",
                        "pages", "page_cache", "memcg"}
    assert set(doc["events"]) == {"total", "by_event", "by_cpu"}
    assert set(doc["time"]) == {"first_ns", "last_ns", "span_s", "events_per_s"}
    assert set(doc["pids"][0]) == {"pid", "comm", "events"}
    mm = doc["rss"][0]
    assert set(mm) == {"mm_id", "name", "ended", "tasks", "counters", "final_rss_bytes",
                       "final_rss_pages", "peak_rss_bytes", "peak_rss_pages"}
    c = mm["counters"]["MM_ANONPAGES"]
    assert set(c) == {"first", "last", "min", "max", "updates", "first_ns", "last_ns", "timeline"}
    assert len(c["timeline"]["ns"]) == len(c["timeline"]["bytes"]) == c["updates"]
    assert set(doc["pages"]) == {"by_order", "alloc_events", "free_events", "alloc_pages",
                                 "free_pages", "net_pages", "alloc_failed", "migratetype"}
    assert set(doc["page_cache"]) == {"adds", "deletes", "pages_added", "pages_deleted",
                                      "net_pages", "files"}
    assert doc["skipped"] == 0


def test_stats_text_tables(memsim_trace):
    path, _ = memsim_trace
    r = run("stats", path)
    assert r.exit_code == 0, r.output
    for heading in ("events", "RSS per mm", "page allocator", "kmem:rss_stat", "MM_ANONPAGES"):
        assert heading in r.stdout


def test_stats_corpus_counts(traces_dir):
    path = traces_dir / "ftrace-mm-workload.txt.gz"
    with gzip.open(path, "rt") as f:
        counts = Counter(m["event"] for m in parsed(body(f.read())))
    doc = json.loads(run("stats", path, "--json").stdout)
    assert doc["events"]["total"] == 22851
    assert {k.split(":")[-1]: v for k, v in doc["events"]["by_event"].items()} == dict(counts)
    assert counts["rss_stat"] == 1991
    assert doc["page_cache"]["adds"] == counts["mm_filemap_add_to_page_cache"]
    assert doc["page_cache"]["deletes"] == counts["mm_filemap_delete_from_page_cache"]
    assert {m["memcg_id"] for m in doc["memcg"]} >= {5579}


def test_stats_dat_corpus(traces_dir):
    doc = json.loads(run("stats", traces_dir / "trace-mm-workload.dat", "--json").stdout)
    assert doc["events"]["total"] == 22894
    assert doc["events"]["by_event"]["kmem:rss_stat"] > 0


def test_stats_on_an_empty_trace(tmp_path, memsim_trace):
    path, _ = memsim_trace
    header_only = tmp_path / "empty.txt"
    header_only.write_text("".join(path.read_text().splitlines(True)[:12]))
    empty = tmp_path / "nothing.txt"
    empty.write_text("")
    for p in (header_only, empty):
        r = run("stats", p, "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["events"]["total"] == 0 and doc["rss"] == [] and doc["time"]["events_per_s"] is None
        assert run("stats", p).exit_code == 0


# -- plot --------------------------------------------------------------------------------------
def test_plot_memsim_trace(memsim_trace, tmp_path):
    pytest.importorskip("matplotlib")
    path, _ = memsim_trace
    out = tmp_path / "m.png"
    r = run("plot", path, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 0
    assert "rss" in r.stderr and "alloc_rate" in r.stderr


def test_plot_corpus_has_every_panel(traces_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "corpus.png"
    r = run("plot", traces_dir / "ftrace-mm-workload.txt.gz", "-o", out)
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == PNG
    assert "rss, alloc_rate, net_pages, page_cache, memcg" in r.stderr


def test_plot_refuses_bad_outputs(memsim_trace, tmp_path):
    path, _ = memsim_trace
    r = run("plot", path, "-o", tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.output
    a_file = tmp_path / "f"
    a_file.write_text("x")
    r = run("plot", path, "-o", a_file / "x.png")
    assert r.exit_code == 2 and "is not a directory" in r.output
    r = run("plot", path, "-o", tmp_path / "missing" / "x.png")
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run("plot", path)
    assert r.exit_code == 2                                   # -o is required


# -- convert -----------------------------------------------------------------------------------
def record_keys(path):
    from memsim.tracing.reader import open_trace
    with open_trace(str(path)) as r:
        return [(x.cpu, x.ts, x.pid, x.comm, x.full_name, x.flags, x.fields) for x in r.records()]


def same_records(text_keys, dat_keys, hashed=()):
    """Records read from text and from trace.dat agree: same header values, and each binary
    field equal to the text's (the text may also keep printed labels, such as a hashed page=);
    ``hashed`` fields are left out (%p values printed with another boot's key)."""
    from memsim.tracing.kallsyms import resolve
    by_cpu = lambda keys: sorted(keys, key=lambda k: (k[0], k[1]))      # noqa: E731
    a, b = by_cpu(text_keys), by_cpu(dat_keys)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[:6] == y[:6], (x, y)
        # a %pS call site stays a symbol in text; the binary field is its address
        text = {k: (resolve(y[6][k]) if isinstance(x[6][k], str) and isinstance(y[6][k], int) else y[6][k])
                for k in y[6] if k not in hashed}
        assert {k: x[6][k] for k in y[6] if k not in hashed} == text, (x, y)


HASHED = re.compile(r"\b(page|folio|ptr)=[0-9a-f]{16}\b")


@pytest.mark.parametrize("version, compression", [("7", "zstd"), ("7", "none"), ("6", "none")])
def test_convert_text_to_dat_to_text_round_trip(memsim_trace, tmp_path, version, compression):
    path, _ = memsim_trace
    dat = tmp_path / "t.dat"
    r = run("convert", path, dat, "--dat-version", version, "--dat-compression", compression)
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr
    assert dat.read_bytes()[:11] == b"\x17\x08\x44tracing" + version.encode()
    back = tmp_path / "back.txt"
    r = run("convert", dat, back)
    assert r.exit_code == 0, r.output
    b = record_keys(dat)
    same_records(record_keys(path), b)
    same_records(record_keys(back), b, hashed=("ptr", "folio"))
    # the lines come back, but for %p values: the kernel prints pointers hashed with a boot key
    # that no file records, so a pointer can be re-hashed but not recovered
    assert [HASHED.sub(r"\1=<hashed>", l) for l in body(back.read_text())] == \
        [HASHED.sub(r"\1=<hashed>", l) for l in body(path.read_text())]
    if shutil.which("trace-cmd"):
        rep = subprocess.run(["trace-cmd", "report", str(dat)], capture_output=True, text=True)
        assert rep.returncode == 0, rep.stderr
        assert len(body(rep.stdout)) == len(b)
        assert "call_site=mm_alloc+0x1a" in rep.stdout       # the %pS symbols survived


def test_convert_dat_corpus_to_text(traces_dir, tmp_path):
    out = tmp_path / "c.txt"
    r = run("convert", traces_dir / "trace-mm-workload.dat", out, "--to", "trace-cmd")
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert text.startswith("cpus=2\n")
    assert len(body(text)) == 22894


def test_convert_dat_to_dat_keeps_kallsyms(traces_dir, tmp_path):
    """A trace.dat converted to a trace.dat keeps the records and the file's kallsyms, so
    ``%pS`` call sites still print as the capturing kernel's symbols."""
    from memsim.tracing.tracedat import DatReader
    src = traces_dir / "trace-mm-workload.dat"
    dat = tmp_path / "again.dat"
    r = run("convert", src, dat)
    assert r.exit_code == 0, r.output
    with DatReader(str(src)) as a, DatReader(str(dat)) as b:
        assert a.kallsyms_text and b.kallsyms_text == a.kallsyms_text
        assert [x.key() for x in a.records()] == [x.key() for x in b.records()]


def test_convert_corpus_text_to_dat_reads_back(traces_dir, tmp_path):
    src = traces_dir / "ftrace-mm-workload.txt.gz"
    dat = tmp_path / "c.dat"
    r = run("convert", src, dat)
    assert r.exit_code == 0, r.output
    a, b = record_keys(src), record_keys(dat)
    assert len(b) == len(a) == 22851
    same_records(a, b)
    if shutil.which("trace-cmd"):
        rep = subprocess.run(["trace-cmd", "report", str(dat)], capture_output=True, text=True)
        assert rep.returncode == 0, rep.stderr
        assert len(body(rep.stdout)) == 22851


def test_convert_option_errors(memsim_trace, tmp_path):
    path, _ = memsim_trace
    r = run("convert", path, tmp_path / "x.dat", "--dat-version", "6", "--dat-compression", "zstd")
    assert r.exit_code == 2 and "--dat-compression: trace.dat version 6 cannot be compressed" in r.output
    # --compression, its name before it was called as memsim run's, still works (hidden)
    r = run("convert", path, tmp_path / "x.dat", "--dat-version", "6", "--compression", "zstd")
    assert r.exit_code == 2 and "version 6 cannot be compressed" in r.output
    assert "--compression" not in run("convert", "--help").output.replace("--dat-compression", "")
    r = run("convert", path, "-", "--to", "dat")
    assert r.exit_code == 2 and "standard output" in r.output
    r = run("convert", path, tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.output
    assert list(tmp_path.iterdir()) == []


# -- bad inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["report"], ["stats"], ["plot", "-o", "{tmp}/x.png"],
                                 ["convert", "{tmp}/x.txt"]])
def test_missing_file_directory_and_garbage(cmd, tmp_path):
    def go(src):
        args = [cmd[0], src] + [a.format(tmp=tmp_path) for a in cmd[1:]]
        return run(*args)
    r = go(tmp_path / "nope.txt")
    assert r.exit_code == 2 and "no such file" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = go(tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.output
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 40)
    r = go(garbage)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "no trace events could be read" in r.output or "cannot read" in r.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.txt").exists()


def test_malformed_lines_are_skipped_or_fatal_with_strict(memsim_trace, tmp_path):
    path, _ = memsim_trace
    lines = path.read_text().splitlines(True)
    bad = lines[:20] + ["this is not an event line\n"] + lines[20:40] + \
        [f"garbage {i}\n" for i in range(12)] + lines[40:]
    p = tmp_path / "bad.txt"
    p.write_text("".join(bad))
    r = run("stats", p, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["skipped"] == 13
    err = r.stderr.splitlines()
    assert err[0].startswith(f"{p}:21: ")
    assert sum(1 for l in err if l.startswith(f"{p}:")) == 10 + 1     # 10 problems + the count line
    assert "... and 3 more" in err
    assert "13 spot(s) skipped" in err[-1]
    r = run("stats", p, "--strict")
    assert r.exit_code == 2
    assert r.output.strip().startswith(f"memsim: {p}:21: ") and ";" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = run("report", p, "--strict", "-o", tmp_path / "out.txt")
    assert r.exit_code == 2 and not (tmp_path / "out.txt").exists()


def test_unwritable_report_output(memsim_trace, tmp_path):
    path, _ = memsim_trace
    r = run("report", path, "-o", tmp_path / "no" / "such" / "dir.txt")
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run("report", path, "-o", tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.output


def test_bad_formats_dir(memsim_trace, tmp_path):
    path, _ = memsim_trace
    r = run("stats", path, "--formats", tmp_path)
    assert r.exit_code == 2 and "format" in r.output and "Traceback" not in r.output


def test_formats_dir_is_used(traces_dir):
    r = run("stats", traces_dir / "ftrace-mm-workload.txt.gz", "--formats", traces_dir / "formats", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["events"]["total"] == 22851
