"""``memsim kdiff``: exit status 0 equal, 1 different, 2 for every mistake a user can make, as
one ``memsim: <where>: <problem>; <fix>`` line and no traceback (issue 11).

The mistakes are made without root: the checks that need it (root, tracefs, the THP mode, the
compiler) are faked where the test itself is not root.  The live runs are in tests/kernel."""
from __future__ import annotations

import json
import os
import shutil
import textwrap

import pytest
from click.testing import CliRunner

from memsim import kdiff
from memsim.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL = os.path.join(REPO, "tests", "kernel")
PROGRAM = os.path.join(KERNEL, "touch.c")
WORKLOAD = os.path.join(KERNEL, "touch-1.yaml")


def invoke(*args):
    return CliRunner().invoke(main, ["kdiff", *args], catch_exceptions=False)


def one_line_error(r, where, what):
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.startswith(f"memsim: {where}") and what in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.fixture
def as_root(monkeypatch, tmp_path):
    """Root with a tracefs and a THP mode that allows the comparison, whoever runs the test."""
    (tmp_path / "tracing" / "instances").mkdir(parents=True)
    monkeypatch.setattr(kdiff.os, "geteuid", lambda: 0)
    monkeypatch.setattr(kdiff, "TRACEFS_PATHS", (str(tmp_path / "tracing"),))
    monkeypatch.setattr(kdiff, "host_settings", lambda *a, **k: [])
    return tmp_path


def test_a_bad_workload_says_file_line_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, lenght: 4 KiB}
        """))
    one_line_error(invoke(PROGRAM, str(bad)), f"{bad}:4:", "length")


def test_a_missing_program():
    one_line_error(invoke("/no/such/prog.c", WORKLOAD), "/no/such/prog.c:", "no such file")


def test_not_root(monkeypatch):
    monkeypatch.setattr(kdiff.os, "geteuid", lambda: 1000)
    one_line_error(invoke(PROGRAM, WORKLOAD), "kdiff:", "needs root; run memsim kdiff as root")


def test_no_tracefs(monkeypatch, tmp_path):
    monkeypatch.setattr(kdiff.os, "geteuid", lambda: 0)
    monkeypatch.setattr(kdiff, "TRACEFS_PATHS", (str(tmp_path / "nothing"),))
    one_line_error(invoke(PROGRAM, WORKLOAD), "tracefs:", "not mounted")


def test_thp_always_refuses_unless_forced(monkeypatch, as_root):
    always = [kdiff.HostSetting("transparent_hugepage", "always", "refuse",
                                "memsim has no THP; echo madvise > /sys/kernel/mm/transparent_hugepage/enabled")]
    monkeypatch.setattr(kdiff, "host_settings", lambda *a, **k: always)
    one_line_error(invoke(PROGRAM, WORKLOAD), "transparent_hugepage:",
                   "meaningless: memsim has no THP; echo madvise > "
                   "/sys/kernel/mm/transparent_hugepage/enabled, or give --force")


def test_no_compiler(monkeypatch, as_root):
    monkeypatch.setenv("PATH", str(as_root))
    monkeypatch.delenv("CC", raising=False)
    one_line_error(invoke(PROGRAM, WORKLOAD), "cc:", "no C compiler 'cc' on PATH")


def test_a_program_that_does_not_compile(as_root):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on PATH")
    src = as_root / "broken.c"
    src.write_text("int main(void) { return x; }\n")
    one_line_error(invoke(str(src), WORKLOAD), f"{src}:", "does not compile")


@pytest.mark.parametrize("args,where,what", [
    (("--events", "kmem"), "--events:", "'kmem' is not an event name"),
    (("--events", "kmem:*"), "--events:", "is not an event name"),
    (("--events", ","), "--events:", "no event given"),
    (("--set", "machine.cpus"), "--set machine.cpus:", "no '='"),
    (("--save-trace", "/no/such/dir/t.trace"), "--save-trace:", "does not exist"),
])
def test_option_mistakes(args, where, what):
    one_line_error(invoke(PROGRAM, WORKLOAD, *args), where, what)


def live_unavailable() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.isdir("/sys/kernel/tracing/instances") or shutil.which("cc") is None:
        return "needs tracefs and cc"
    if any(s.verdict == "refuse" for s in kdiff.host_settings()):
        return "THP always"
    return ""


@pytest.mark.live_kernel
def test_a_difference_is_exit_1_with_the_checks(tmp_path):
    if live_unavailable():
        pytest.skip(live_unavailable())
    saved = tmp_path / "k.trace"
    r = invoke(PROGRAM, WORKLOAD, "-D", "PAGES=1", "--json", "--save-trace", str(saved))
    out = json.loads(r.stdout)
    assert r.exit_code == (0 if out["equal"] else 1)
    assert [c["name"] for c in out["checks"]] == list(kdiff.CHECKS)
    assert kdiff.load_live(str(saved)).records
    r = invoke(PROGRAM, WORKLOAD, "-D", "PAGES=1")
    assert "alloc.user" in r.stdout and r.stdout.startswith("live kernel: transparent_hugepage")
