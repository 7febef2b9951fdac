"""docs/workloads.md's "How failures show" quotes real messages and exit codes (STYLE 16).

Each workload below is the one the section's example comes from: an mmap larger than the machine
with no ``expect: {errno: ...}`` after it (exit 2), a write to a read-only mapping with no
handler (the process is killed, exit 0), an ``expect`` that does not hold (exit 1).  The
plugin bug's line is checked by tests/plugins/test_plugin_bugs.py.
"""
from pathlib import Path

import pytest
from click.testing import CliRunner

from memsim.cli import main

#: the checkout's docs (memsim.workload.docs.DOC_PATH is relative to the imported package)
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"

HEAD = """\
machine:
  cpus: 1
  nodes:
    - memory: 64 MiB
tasks:
  - name: app
    steps:
"""

CASES = {
    # file: (steps, exit code, the line the docs quote, where it is printed)
    "e.yaml": ("      - mmap: {name: big, length: 1 GiB, flags: [MAP_POPULATE]}\n"
               "      - touch: {vma: big}\n", 2,
               "memsim: e.yaml:8:9: mmap failed with ENOMEM (1073741824 bytes is more than the machine's "
               "memory (67108864 bytes) and overcommit is heuristic); fix the step, or follow it with "
               "'- expect: {errno: ENOMEM}' if the failure is what you want to see", "stderr"),
    "w.yaml": ("      - mmap: {name: buf, length: 1 MiB, prot: r}\n"
               "      - touch: {vma: buf, access: write}\n", 0,
               "app (1000): SIGSEGV (SEGV_ACCERR at 0x7ffff7eff000) at w.yaml:9:9, not caught", "stdout"),
    "x.yaml": ("      - mmap: {name: buf, length: 1 MiB}\n"
               "      - touch: {vma: buf, access: write}\n"
               "      - expect: {rss: {anon: 2 MiB}}\n", 1,
               "memsim: x.yaml:10:23: rss anon is 1 MiB (1048576 bytes), expected 2 MiB; the counters "
               "include every task's cached deltas", "stderr"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_documented_failure_is_what_memsim_prints(name, tmp_path, monkeypatch):
    steps, code, line, stream = CASES[name]
    (tmp_path / name).write_text(HEAD + steps)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", name], catch_exceptions=False)
    assert r.exit_code == code, r.output
    assert line in getattr(r, stream).splitlines()
    assert "\n" + line + "\n" in DOC_PATH.read_text(encoding="utf-8")


def test_the_section_lists_every_exit_code_and_status():
    from memsim.workload.outcome import STATUSES
    doc = DOC_PATH.read_text(encoding="utf-8")
    section = doc[doc.index("## How failures show"):doc.index("## Files")]
    for status in STATUSES:
        assert f"`{status}`" in section
    for code in (" 0 ", " 1 ", " 2 ", " 3 "):
        assert f"|{code}|" in section
    assert "exits 130" in section
