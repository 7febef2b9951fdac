"""``memsim run WORKLOAD --trace out.dat``: a trace.dat the real ``trace-cmd report`` reads
(FORMAT-NOTES 6-8), next to the unchanged ``--trace out.txt`` / ``--trace -`` text."""
import os
import re
import shutil
import struct
import subprocess
import textwrap

import pytest
from click.testing import CliRunner

from memsim.cli import main
from memsim.testing import dialect_neutral

TRACE_CMD = shutil.which("trace-cmd")
needs_trace_cmd = pytest.mark.skipif(TRACE_CMD is None,
                                     reason="trace-cmd is not installed (apt install trace-cmd)")

WORKLOAD = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
  seed: 9
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 1 MiB}
      - touch: {vma: buf, access: write}
      - sleep: {duration: 300ms}
      - kmalloc: {name: k, size: 200, count: 3}
      - kfree: {name: k}
  - name: helper
    cpu: 1
    steps:
      - mmap: {name: b, length: 64 KiB}
      - touch: {vma: b}
"""

KERNEL_LINE = re.compile(r"^\s*(?P<head>.*?-\d+\s+\[\d+\])\s+\S{4,5}\s+(?P<ts>\d+\.\d+): "
                         r"(?P<name>\w+): (?P<payload>.*)$")
REPORT_LINE = re.compile(r"^\s*(?P<head>.*?-\d+\s+\[\d+\])\s+(?P<ts>\d+\.\d+): "
                         r"(?P<name>\w+):\s+(?P<payload>.*)$")


def events(lines, pattern):
    out = []
    for line in lines:
        m = pattern.match(line)
        assert m, line
        out.append((" ".join(m["head"].split()), m["ts"], m["name"], dialect_neutral(m["payload"])))
    return out


@pytest.fixture
def workload(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text(textwrap.dedent(WORKLOAD))
    return str(p)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def header(path):
    """(version, compression) from a trace.dat's initial header (FORMAT-NOTES 7, 8)."""
    data = open(path, "rb").read(64)
    assert data[:10] == b"\x17\x08Dtracing"
    version = int(data[10:data.index(b"\0", 10)])
    if version < 7:
        return version, "none"
    at = data.index(b"\0", 10) + 1 + 2 + 4
    return version, data[at:data.index(b"\0", at)].decode()


@needs_trace_cmd
@pytest.mark.parametrize("options,layout", [
    ((), (7, "zstd")),
    (("--dat-compression", "none"), (7, "none")),
    (("--dat-version", "6"), (6, "none")),
    (("--dat-version", "6", "--dat-compression", "none"), (6, "none")),
])
def test_trace_dat_reports_what_the_text_trace_shows(workload, tmp_path, options, layout):
    dat, txt = tmp_path / "out.dat", tmp_path / "out.txt"
    r = invoke("run", workload, "--trace", str(dat), *options)
    assert r.exit_code == 0, r.output
    assert "events:" in r.output                       # the summary is still printed
    assert header(dat) == layout
    assert invoke("run", workload, "--trace", str(txt)).exit_code == 0
    rep = subprocess.run([TRACE_CMD, "report", str(dat)], capture_output=True, text=True)
    assert rep.returncode == 0 and rep.stderr == ""
    lines = rep.stdout.splitlines()
    assert lines[0] == "cpus=2"
    want = events([l for l in txt.read_text().splitlines() if not l.startswith("#")], KERNEL_LINE)
    assert events(lines[1:], REPORT_LINE) == want
    assert len(want) > 500 and {e[2] for e in want} >= {"rss_stat", "mm_page_alloc", "kmalloc"}
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".memsim-trace-")]


def test_text_traces_are_unchanged(workload, tmp_path):
    """--trace FILE (not .dat) and --trace - still write the kernel's 'trace' text."""
    txt = tmp_path / "t.txt"
    assert invoke("run", workload, "--trace", str(txt)).exit_code == 0
    r = invoke("run", workload, "--trace", "-")
    assert r.exit_code == 0
    text = txt.read_text()
    assert text.startswith("# tracer: nop\n")
    assert text in r.output                            # stdout, summary on stderr


def test_same_seed_same_trace_dat(workload, tmp_path):
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    assert invoke("run", workload, "--trace", str(a)).exit_code == 0
    assert invoke("run", workload, "--trace", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert struct.unpack_from("<I", a.read_bytes(), 14)[0] == 4096      # page size


@pytest.mark.parametrize("args,where,what", [
    (("--trace", "{tmp}/missing/out.dat"), "--trace", "does not exist"),
    (("--trace", "{tmp}/out.dat", "--dat-version", "6", "--dat-compression", "zstd"),
     "--dat-compression", "version 6 trace.dat cannot be compressed"),
    (("--trace", "{tmp}/out.txt", "--dat-version", "6"), "--dat-version", "only applies"),
    (("--trace", "-", "--dat-compression", "none"), "--dat-compression", "only applies"),
    (("--dat-version", "7",), "--dat-version", "only applies"),
])
def test_bad_trace_options_fail_cleanly_before_running(workload, tmp_path, args, where, what):
    r = invoke("run", workload, *[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2
    assert f"memsim: {where}: " in r.output and what in r.output
    assert "Traceback" not in r.output and "events:" not in r.output     # nothing ran
    assert sorted(os.listdir(tmp_path)) == ["w.yaml"]


def test_v6_with_compression_names_the_fix(workload, tmp_path):
    r = invoke("run", workload, "--trace", str(tmp_path / "o.dat"), "--dat-version", "6",
               "--dat-compression", "zstd")
    assert "use --dat-compression none, or --dat-version 7" in r.output


@pytest.mark.parametrize("name", ["out.dat", "out.txt"])
def test_an_unwritable_trace_path_is_a_clean_error(workload, tmp_path, name):
    """The path is a directory: the write fails, the CLI says so (exit 2), nothing is left."""
    (tmp_path / name).mkdir()
    r = invoke("run", workload, "--trace", str(tmp_path / name))
    assert r.exit_code == 2
    assert f"memsim: {tmp_path / name}: cannot write the trace" in r.output
    assert "Traceback" not in r.output
    assert sorted(os.listdir(tmp_path)) == sorted([name, "w.yaml"])
