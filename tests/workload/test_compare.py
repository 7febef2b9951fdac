"""memsim.compare without click: both sides of a seed change run with the same seed, and the
comparison (a plain dict) and its text.

Scenarios: issue 8, part 2 (`memsim compare`): the rss-stat-symbolic demo differs only in the
print fmt of kmem:rss_stat and the metrics that read it; a change's files are compared per key or
as a unified diff; a side whose expect fails is part of the comparison.
"""
import importlib.metadata
import json
import os
import textwrap

import pytest

from memsim.compare import comparison, keyed_values, parse_compare_patch, render_text, run_sides
from memsim.errors import UsageError
from memsim.hookspecs import hookimpl
from memsim.patches import PatchImpl, PatchMetric
from memsim.plugin_host import ENTRY_POINT_GROUP, get_plugin_manager
from memsim.registry import ProcFile
from memsim.workload.variant import Host, Override, WorkloadSource

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "configs", "patch-rss-stat-symbolic.yaml")


def rstat_on(machine) -> bool:
    return machine.patches.enabled("kasan-tag-fe")


class kasan:  # noqa: N801  (registered under its class name, in place of the built-in kasan)
    """A stand-in for the kasan plugin, loaded instead of the built-in one so that the comparison
    has files of every kind to show: kasan-tag-fe with a 'key value' file whose values depend on
    the change, a text file, a file only the patched kernel has, a metric."""

    @hookimpl
    def memsim_register_files(self, files):
        files.add(ProcFile("/sys/kernel/mm/swap/stub_stat", "swap statistics (stub)",
                           lambda m: f"anon 8192\nfile 0\nkernel {4096 if rstat_on(m) else 0}\n",
                           plugin="kasan"))
        files.add(ProcFile("/proc/swap_flush", "how statistics are flushed (stub)",
                           lambda m: "flush: rstat\nbatch: 0\n" if rstat_on(m) else "flush: percpu\nbatch: 32\n",
                           plugin="kasan"))

    @hookimpl
    def memsim_machine_created(self, machine):
        if rstat_on(machine):
            machine.sysfs.create_file("kernel/mm/swap/stub_flushed", show=lambda m: "1\n",
                                      plugin="kasan")

    @hookimpl
    def memsim_register_patches(self, patches):
        patches.add(PatchImpl(
            "kasan-tag-fe", "a stub: the statistics are exact with the change, 32 pages short without",
            files=("/sys/kernel/mm/swap/stub_stat", "/proc/swap_flush", "/sys/kernel/mm/swap/stub_flushed",
                   "/proc/meminfo"),
            metrics=(PatchMetric("stat_error_pages", "pages the statistics miss",
                                 lambda m: 0 if rstat_on(m) else 32, "pages"),),
            events=("kmem:rss_stat",)))


def without_kasan():
    """memsim's own plugins (its entry points) less kasan: an install without the kasan plugin.
    (``-p no:kasan`` would block the stand-in too: a disabled name stays blocked.)"""
    return [ep for ep in importlib.metadata.distribution("memsim").entry_points
            if ep.group == ENTRY_POINT_GROUP and ep.name != "kasan"]


def stub_host():
    return Host(pm=get_plugin_manager(entry_points=without_kasan(), extra_plugins=[kasan()]))


def source(tmp_path, text, name="w.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return WorkloadSource.read(str(path))


SMALL = """\
machine:
  cpus: 1
  nodes: [{memory: 64 MiB}]
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf, access: write}
"""
EXPECT_RSTAT = "      - expect: {file: {path: /sys/kernel/mm/swap/stub_stat, fields: {kernel: 4096}}}\n"


@pytest.fixture(scope="module")
def demo():
    runs = run_sides(Host(), WorkloadSource.read(DEMO), "rss-stat-symbolic")
    return runs, comparison(runs, "rss-stat-symbolic")


def equal(p):
    return p["on"] == p["off"] and p["diff"] is None


def test_rss_stat_symbolic_differs_in_the_print_fmt_and_the_first_line(demo):
    _, comp = demo
    [fmt] = comp["formats"]
    assert fmt["event"] == "kmem:rss_stat" and fmt["state"] == "differ"
    assert 'type=%s' in fmt["print_fmt"]["on"] and "__print_symbolic(REC->member" in fmt["print_fmt"]["on"]
    assert fmt["print_fmt"]["off"] == ('print fmt: "mm_id=%u curr=%d member=%d size=%ldB", '
                                       "REC->mm_id, REC->curr, REC->member, REC->size")
    on, off = fmt["first_line"]["on"], fmt["first_line"]["off"]
    assert on.endswith("rss_stat: mm_id=774629566 curr=1 type=MM_FILEPAGES size=262144B")
    assert off.endswith("rss_stat: mm_id=774629566 curr=1 member=0 size=262144B")
    assert on.split(": rss_stat: ")[0] == off.split(": rss_stat: ")[0]      # same task, CPU, time


def test_rss_stat_symbolic_metrics_count_the_lines_by_index(demo):
    _, comp = demo
    metrics = {m["name"]: m for m in comp["metrics"]}
    lines = comp["events"]["counts"]["kmem:rss_stat"]["on"]
    assert lines > 0
    assert (metrics["rss_stat_by_index"]["on"], metrics["rss_stat_by_index"]["off"]) == (0, lines)
    assert metrics["rss_stat_by_index"]["diff"] == lines and metrics["rss_stat_by_index"]["unit"] == "lines"
    # "type=MM_ANONPAGES" is longer than "member=1": the text shrinks without the change
    assert metrics["rss_stat_text_bytes"]["diff"] < 0
    assert [m["name"] for m in comp["metrics"]][:6] == ["emulated_ns", "faults", "pages_allocated",
                                                        "pages_freed", "events_written", "slices"]


def test_rss_stat_symbolic_changes_nothing_else(demo):
    _, comp = demo
    assert comp["run"]["status"]["on"] == "passed" and all(equal(p) for p in comp["run"].values())
    assert [t["name"] for t in comp["tasks"]] == ["app", "worker"]
    for t in comp["tasks"]:
        assert equal(t["status"]) and all(equal(p) for p in t["rss_bytes"].values())
        assert t["faults"] and all(equal(p) for p in t["faults"].values())
    assert comp["tasks"][0]["rss_bytes"]["shmem"]["on"] == 512 << 10
    assert all(equal(n["pages_allocated"]) and equal(n["pages_freed"]) for n in comp["memory"]["nodes"])
    assert comp["memory"]["meminfo"]["differ"] == {} and comp["memory"]["meminfo"]["equal"] == 50
    counts = comp["events"]["counts"]
    assert "kmem:mm_page_alloc" in counts and all(equal(p) for p in counts.values())
    assert "lost" not in comp["events"]
    assert comp["events"]["recorded"] == ["*:*"]
    core = [m for m in comp["metrics"] if not m["name"].startswith("rss_stat_")]
    assert all(equal(m) for m in core)
    assert comp["files"] == []


def test_the_comparison_is_json(demo):
    _, comp = demo
    assert json.loads(json.dumps(comp)) == comp


def test_text_shows_both_print_fmts_and_the_metric_difference(demo):
    _, comp = demo
    text = render_text(comp)
    assert text.startswith("memsim compare ")
    assert '    off: print fmt: "mm_id=%u curr=%d member=%d size=%ldB"' in text
    assert "type=MM_FILEPAGES size=262144B\n" in text and "member=0 size=262144B\n" in text
    n = comp["events"]["counts"]["kmem:rss_stat"]["on"]
    row = next(line for line in text.splitlines() if line.startswith("  rss_stat_by_index"))
    assert row.split() == ["rss_stat_by_index", "(lines)", "0", str(n), f"+{n}"]
    row = next(line for line in text.splitlines() if line.startswith("  status"))
    assert row.split() == ["status", "passed", "passed"]                 # blank diff when equal


def test_same_workload_same_seed_same_text(demo):
    _, comp = demo
    again = comparison(run_sides(Host(), WorkloadSource.read(DEMO), "rss-stat-symbolic"), "rss-stat-symbolic")
    assert render_text(again) == render_text(comp)
    other = comparison(run_sides(Host(), WorkloadSource.read(DEMO), "rss-stat-symbolic", seed=7),
                       "rss-stat-symbolic")
    assert other["seed"] == 7 and render_text(other) != render_text(comp)


def test_a_change_files_are_compared_by_key_by_line_or_as_missing(tmp_path):
    runs = run_sides(stub_host(), source(tmp_path, SMALL), "kasan-tag-fe")
    comp = comparison(runs, "kasan-tag-fe")
    files = {f["path"]: f for f in comp["files"]}
    stat = files["/sys/kernel/mm/swap/stub_stat"]
    assert stat["state"] == "differ" and stat["keyed"]
    assert stat["keys"] == {"kernel": {"on": 4096, "off": 0, "diff": -4096, "unit": ""}}
    assert stat["equal"] == 2
    flush = files["/proc/swap_flush"]
    assert flush["state"] == "differ" and not flush["keyed"]
    assert flush["diff"][:2] == ["--- on/proc/swap_flush", "+++ off/proc/swap_flush"]
    assert "-flush: rstat" in flush["diff"] and "+batch: 32" in flush["diff"]
    flushed = files["/sys/kernel/mm/swap/stub_flushed"]
    assert flushed["state"] == "missing" and flushed["missing"] == ["off"]
    assert flushed["errno"]["off"] == "ENOENT"
    assert files["/proc/meminfo"]["state"] == "same"
    assert comp["formats"] == [{"event": "kmem:rss_stat", "state": "same"}]
    metric = next(m for m in comp["metrics"] if m["name"] == "stat_error_pages")
    assert (metric["on"], metric["off"], metric["diff"], metric["unit"]) == (0, 32, 32, "pages")
    assert "rss_stat_by_index" not in {m["name"] for m in comp["metrics"]}   # another change's
    text = render_text(comp)
    assert "  /sys/kernel/mm/swap/stub_stat: 1 key differs, 2 equal" in text
    assert "    kernel" in text and "-4096" in text
    assert "    -flush: rstat\n    -batch: 0\n    +flush: percpu\n    +batch: 32\n" in text
    assert "  /sys/kernel/mm/swap/stub_flushed: missing on the off side (ENOENT)" in text
    assert "  /proc/meminfo: the same on both sides" in text
    assert "  kmem:rss_stat: the same format file on both sides" in text


def test_a_side_whose_expect_fails_is_part_of_the_comparison(tmp_path):
    comp = comparison(run_sides(stub_host(), source(tmp_path, SMALL + EXPECT_RSTAT), "kasan-tag-fe"),
                      "kasan-tag-fe")
    status, error = comp["run"]["status"], comp["run"]["error"]
    assert (status["on"], status["off"]) == ("passed", "failed")
    assert error["on"] is None and "kernel" in error["off"] and "w.yaml:9:" in error["off"]
    text = render_text(comp)
    assert "  status" in text and "differs" in text and "  error (off): " in text


def test_overrides_apply_to_both_sides_and_are_reported(tmp_path):
    ov = [Override(("machine", "trace_buffer"), "4 KiB", "--set machine.trace_buffer=4KiB")]
    runs = run_sides(Host(), WorkloadSource.read(DEMO), "rss-stat-symbolic", overrides=ov,
                     events=["kmem:*"])
    comp = comparison(runs, "rss-stat-symbolic", overrides=ov, events=["kmem:*"])
    assert comp["overrides"] == ["--set machine.trace_buffer=4KiB"]
    assert comp["events"]["recorded"] == ["kmem:*"]
    assert all(name.startswith("kmem:") for name in comp["events"]["counts"])
    text = render_text(comp)
    assert text.splitlines()[0].endswith("--patch rss-stat-symbolic --set machine.trace_buffer=4KiB")
    # every record is counted however small the buffer (issue 9: lossless traces)
    big = comparison(run_sides(Host(), WorkloadSource.read(DEMO), "rss-stat-symbolic",
                               events=["kmem:*"]), "rss-stat-symbolic", events=["kmem:*"])
    assert comp["events"]["counts"] == big["events"]["counts"]
    assert sum(p["on"] for p in big["events"]["counts"].values()) > 1000


def test_the_patch_option_names_exactly_one_change_both_ways():
    assert parse_compare_patch(["rss-stat-symbolic"]) == "rss-stat-symbolic"
    assert parse_compare_patch(["rss-stat-symbolic=off,on"]) == "rss-stat-symbolic"
    with pytest.raises(UsageError, match="--patch: no seed change given"):
        parse_compare_patch([])
    with pytest.raises(UsageError, match="did you mean 'rss-stat-symbolic'"):
        parse_compare_patch(["rss-stat-symbolik"])
    with pytest.raises(UsageError, match="both on and off; write --patch rss-stat-symbolic"):
        parse_compare_patch(["rss-stat-symbolic=on"])
    with pytest.raises(UsageError, match="compare takes one seed change"):
        parse_compare_patch(["rss-stat-symbolic", "kasan-tag-fe"])


def test_a_change_whose_plugin_is_missing_or_disabled_is_refused(tmp_path):
    with pytest.raises(UsageError, match="plugin 'kasan', which is not installed"):
        run_sides(Host(pm=get_plugin_manager(entry_points=without_kasan())), source(tmp_path, SMALL),
                  "kasan-tag-fe")
    with pytest.raises(UsageError, match=r"plugin 'kasan', which is disabled \(-p no:kasan\)"):
        run_sides(Host(("kasan",)), source(tmp_path, SMALL), "kasan-tag-fe")


def test_keyed_files_are_recognised_by_their_lines():
    # the formats of /proc/meminfo, /proc/vmstat and memory.stat, as on the 6.18 host
    assert keyed_values("MemTotal:       16303224 kB\nHugePages_Total:       0\n") == {
        "MemTotal": (16303224, "kB"), "HugePages_Total": (0, "")}
    assert keyed_values("nr_free_pages 3616013\npgfault 123\n") == {
        "nr_free_pages": (3616013, ""), "pgfault": (123, "")}
    assert keyed_values("Node 0, zone   Normal      1      2\n") is None
    assert keyed_values("a 1\na 2\n") is None                  # a key twice: compared as text
    assert keyed_values("") is None


def test_plot_data_reads_each_side_from_its_buffer(demo):
    from memsim.compare import plot_data
    runs, comp = demo
    on, off = plot_data(runs["on"]), plot_data(runs["off"])
    # member=N and type=NAME are the same counters: the timelines are equal
    assert on.rss.keys() == off.rss.keys() and len(on.rss) == 4
    assert {k: list(s.val) for k, s in on.rss.items()} == {k: list(s.val) for k, s in off.rss.items()}
    assert on.total == off.total == sum(p["on"] for p in comp["events"]["counts"].values())
    # the demo reads a file: its page-cache adds (filemap events) make the fourth panel
    assert on.panels() == ["rss", "alloc_rate", "net_pages", "page_cache"]
