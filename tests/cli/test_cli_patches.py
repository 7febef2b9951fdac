"""``memsim patches``, and ``--patch`` / ``--set`` on run, check and events (issue 8)."""
import json
import os

import pytest
from click.testing import CliRunner

from memsim.cli import main
from memsim.patches import PATCH_NAMES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "configs", "patch-rss-stat-symbolic.yaml")


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_patches_lists_the_nine_with_state_and_plugin_status():
    r = invoke("patches")
    assert r.exit_code == 0
    rows = {line.split()[0]: line.split(None, 4) for line in r.output.splitlines()[1:10]}
    assert list(rows) == list(PATCH_NAMES)
    assert rows["rss-stat-symbolic"][1:] == ["on", "v5.13", "kmem", "loaded"]
    assert rows["uffd-minor"][1:] == ["on", "v5.13", "userfaultfd", "loaded"]
    assert rows["kasan-tag-fe"][1:] == ["on", "v5.12", "kasan", "loaded"]
    assert "states under kernel v5.14" in r.output


def test_patches_names_a_disabled_plugin():
    r = invoke("patches", "-p", "no:kasan")
    assert r.exit_code == 0
    row = next(line for line in r.output.splitlines() if line.startswith("kasan-tag-fe "))
    assert row.split(None, 4)[1:] == ["on", "v5.12", "kasan", "disabled (-p no:kasan)"]
    rows = json.loads(invoke("patches", "--json", "-p", "no:kasan").output)
    kasan = rows[PATCH_NAMES.index("kasan-tag-fe")]
    assert kasan["plugin_status"] == "disabled" and kasan["model"] is None and kasan["metrics"] == []


def test_patches_json():
    rows = json.loads(invoke("patches", "--json", "--kernel", "v6.18").output)
    assert [row["name"] for row in rows] == list(PATCH_NAMES)
    kmem = rows[PATCH_NAMES.index("rss-stat-symbolic")]
    assert kmem["kernel"] == "v6.18" and kmem["plugin_status"] == "loaded" and kmem["state"] == "on"
    assert kmem["events"] == ["kmem:rss_stat"] and kmem["model"]
    assert [m["name"] for m in kmem["metrics"]] == ["rss_stat_text_bytes", "rss_stat_by_index"]
    swap = rows[PATCH_NAMES.index("swapin-charge-first")]
    assert swap["plugin_status"] == "loaded" and swap["model"] and "uncharged_swapins" in \
        [m["name"] for m in swap["metrics"]]
    kasan = rows[PATCH_NAMES.index("kasan-tag-fe")]
    assert kasan["plugin_status"] == "loaded" and kasan["model"] and kasan["metrics"]
    assert {row["plugin_status"] for row in rows} == {"loaded"}         # every seed change has its plugin


def test_patches_shows_the_state_a_patch_option_gives():
    rows = json.loads(invoke("patches", "--json", "--patch", "rss-stat-symbolic=off").output)
    assert rows[PATCH_NAMES.index("rss-stat-symbolic")]["state"] == "off"


def test_run_with_a_patch_off_prints_the_pre_change_trace(tmp_path):
    out = tmp_path / "t.txt"
    r = invoke("run", DEMO, "--patch", "rss-stat-symbolic=off", "--trace", str(out), "--events", "kmem:rss_stat")
    assert r.exit_code == 0, r.output
    lines = [line for line in out.read_text().splitlines() if "rss_stat:" in line]
    assert lines and all(" member=" in line and "type=" not in line for line in lines)
    r = invoke("run", DEMO, "--patch", "rss-stat-symbolic=on", "--trace", str(out), "--events", "kmem:rss_stat")
    assert all(" type=MM_" in line for line in out.read_text().splitlines() if "rss_stat:" in line)


def test_the_summary_names_the_changes_turned_off():
    r = invoke("run", DEMO, "--patch", "rss-stat-symbolic=off")
    assert r.output.splitlines()[0].endswith("cpus 2  patches off: rss-stat-symbolic")
    assert json.loads(invoke("run", DEMO, "--json", "--patch", "rss-stat-symbolic=off").output)["patches_off"] \
        == ["rss-stat-symbolic"]
    assert json.loads(invoke("run", DEMO, "--json").output)["patches_off"] == []
    assert "patches off" not in invoke("run", DEMO).output


def test_the_command_line_overrides_the_file(tmp_path):
    w = tmp_path / "w.yaml"
    w.write_text(open(DEMO).read().replace("  kernel: v5.14\n", "  kernel: v5.14\n  patches: {rss-stat-symbolic: off}\n"))
    out = tmp_path / "t.txt"
    invoke("run", str(w), "--trace", str(out), "--events", "kmem:rss_stat")
    assert " member=1 " in out.read_text()
    invoke("run", str(w), "--patch", "rss-stat-symbolic=on", "--trace", str(out), "--events", "kmem:rss_stat")
    assert " member=" not in out.read_text()


def test_run_with_set(tmp_path):
    r = invoke("run", DEMO, "--set", "machine.cpus=1", "--set", "machine.seed=7", "--json")
    summary = json.loads(r.output)
    assert (summary["cpus"], summary["seed"]) == (1, 7)


@pytest.mark.parametrize("args, message", [
    (["--patch", "rss-stat-symbolc=off"], "memsim: --patch rss-stat-symbolc=off: there is no seed change "
                                          "called 'rss-stat-symbolc'; did you mean 'rss-stat-symbolic'?"),
    (["--patch", "kasan-tag-fe=off", "-p", "no:kasan"], "memsim: --patch kasan-tag-fe: seed change "
                                                         "'kasan-tag-fe' belongs to plugin 'kasan', which is "
                                                         "disabled (-p no:kasan)"),
    (["--patch", "rss-stat-symbolic=on,off"], "'on,off' is not a patch state"),
    (["--patch", "rss-stat-symbolic=on", "--patch", "rss-stat-symbolic=off"], "rss-stat-symbolic is given twice"),
    (["--set", "machine.cpus=0"], "memsim: --set machine.cpus=0: machine.cpus is 0"),
    (["--set", "machine.cpus"], "memsim: --set machine.cpus: no '=' in the setting"),
    (["--set", "tasks.9.cpu=0"], "memsim: --set tasks.9.cpu=0: tasks has 1 item(s), no item 9"),
])
@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_patch_and_set_options(command, args, message):
    r = CliRunner().invoke(main, [command, DEMO, *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_check_validates_the_variant():
    r = invoke("check", DEMO, "--patch", "rss-stat-symbolic=off", "--set", "machine.kernel=v6.18")
    assert r.exit_code == 0 and "kernel v6.18" in r.output


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_events_format_with_the_change_off(kernel):
    r = invoke("events", "--kernel", kernel, "--patch", "rss-stat-symbolic=off", "--format", "kmem:rss_stat")
    assert r.output.endswith('print fmt: "mm_id=%u curr=%d member=%d size=%ldB", REC->mm_id, '
                             'REC->curr, REC->member, REC->size\n')
    r = invoke("events", "--kernel", kernel, "--format", "kmem:rss_stat")
    assert "__print_symbolic(REC->member" in r.output
