"""``memsim run`` and the kernel log: the lines before the summary under ``kernel log:``, and
``--dmesg FILE``, written also when the run stops on an error; a run that logs nothing prints
exactly what it printed before the kernel log existed."""
import json
import textwrap

from click.testing import CliRunner

from memsim.cli import main

QUIET = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf}
"""

# check_panic_on_oom(): the OOM killer panics, and printk()s the panic first
PANIC = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
tasks:
  - name: hog
    steps:
      - write_file: {path: /proc/sys/vm/panic_on_oom, data: '1'}
      - mmap: {name: heap, length: 63 MiB}
      - touch: {vma: heap, access: write}
"""
PANIC_LINE = "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled"


def write(tmp_path, text, name="w.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_run_that_logs_nothing_prints_no_kernel_log(tmp_path):
    r = invoke("run", write(tmp_path, QUIET))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("workload ") and "kernel log" not in r.stdout
    s = json.loads(invoke("run", write(tmp_path, QUIET), "--json").stdout)
    assert s["kernel_log"] == []


def test_the_kernel_log_comes_before_the_summary(tmp_path):
    r = invoke("run", write(tmp_path, PANIC))
    assert r.exit_code == 2
    lines = r.stdout.splitlines()
    assert lines[0] == "kernel log:"
    assert lines[1].startswith("[") and lines[1].endswith("] " + PANIC_LINE)
    assert lines[2] == "" and lines[3].startswith("workload ")
    assert any(line.startswith("stopped early: ") and PANIC_LINE in line for line in lines)
    assert f"{tmp_path}/w.yaml:7:9: {PANIC_LINE}" in r.stderr


def test_dmesg_writes_the_log_even_when_the_run_stops_early(tmp_path):
    out = tmp_path / "dmesg.txt"
    r = invoke("run", write(tmp_path, PANIC), "--dmesg", str(out))
    assert r.exit_code == 2
    text = out.read_text()
    assert text.endswith("] " + PANIC_LINE + "\n") and text.count("\n") == 1
    s = json.loads(invoke("run", write(tmp_path, PANIC), "--json").stdout)
    assert s["kernel_log"] == [text.rstrip("\n")]


def test_dmesg_of_a_quiet_run_is_empty_and_the_output_unchanged(tmp_path):
    out = tmp_path / "dmesg.txt"
    plain = invoke("run", write(tmp_path, QUIET)).stdout
    r = invoke("run", write(tmp_path, QUIET), "--dmesg", str(out))
    assert r.exit_code == 0 and out.read_text() == ""
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("time: ")]
    assert strip(r.stdout) == strip(plain)


def test_dmesg_in_a_missing_directory_is_a_usage_error(tmp_path):
    r = invoke("run", write(tmp_path, QUIET), "--dmesg", str(tmp_path / "no" / "dmesg.txt"))
    assert r.exit_code == 2
    assert f"memsim: --dmesg: directory {tmp_path}/no does not exist; create it first" in r.stderr
