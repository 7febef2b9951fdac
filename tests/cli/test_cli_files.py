"""memsim run --show PATH and --ls: the emulated machine's files at the end of a run."""
import json
import textwrap

from click.testing import CliRunner

from memsim.cli import main

WL = """\
machine: {nodes: [{memory: 64 MiB}]}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 256 KiB}
      - touch: {vma: buf}
      - mkdir: {path: /mnt/p}
      - mount: {type: proc, source: proc, path: /mnt/p}
      - write_file: {path: /proc/sys/vm/min_free_kbytes, data: "2048"}
"""


def write(tmp_path, text, name="w.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_show_prints_each_file_after_the_summary(tmp_path):
    r = invoke("run", write(tmp_path, WL), "--show", "/proc/sys/vm/min_free_kbytes",
               "--show", "/sys/devices/system/node/node0/numastat")
    assert r.exit_code == 0, r.output
    summary_end = r.output.index("time: ")
    first = r.output.index("==> /proc/sys/vm/min_free_kbytes <==\n2048\n")
    second = r.output.index("==> /sys/devices/system/node/node0/numastat <==\nnuma_hit ")
    assert summary_end < first < second


def test_ls_lists_every_file_with_its_mode_and_the_mounts(tmp_path):
    r = invoke("run", write(tmp_path, WL), "--ls")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "dr-xr-xr-x /proc  (proc)" in lines
    assert "dr-xr-xr-x /mnt/p  (proc)" in lines
    assert "-rw-r--r-- /mnt/p/sys/vm/min_free_kbytes" in lines
    assert "-r--r--r-- /sys/devices/system/node/node0/vmstat" in lines
    assert "drwxr-xr-x /  (rootfs)" in lines


def test_a_missing_path_is_a_usage_error_after_the_summary_and_the_trace(tmp_path):
    out = tmp_path / "t.txt"
    r = invoke("run", write(tmp_path, WL), "--trace", str(out), "--show", "/proc/meminfo",
               "--show", "/proc/nope")
    assert r.exit_code == 2
    assert "memsim: --show: /proc/nope does not exist in the emulated machine; see its files with --ls" in r.output
    assert "app" in r.output and "==> /proc/meminfo <==\nMemTotal:" in r.output
    assert "mm_page_alloc" in out.read_text()


def test_show_of_a_directory_or_a_relative_path(tmp_path):
    p = write(tmp_path, WL)
    r = invoke("run", p, "--show", "/proc/sys")
    assert r.exit_code == 2 and "--show: /proc/sys is a directory; list it with --ls" in r.output
    r = invoke("run", p, "--show", "proc/meminfo")
    assert r.exit_code == 2
    assert "--show: 'proc/meminfo' is not an absolute path; give the file's full path, e.g. --show /proc/meminfo" in r.output
    assert "app" not in r.output                                   # refused before running


def test_show_works_when_the_run_stopped_early(tmp_path):
    p = write(tmp_path, WL + "      - expect: {rss: {anon: 4 KiB}}\n")
    r = invoke("run", p, "--show", "/proc/sys/vm/min_free_kbytes", "--show", "/nope")
    assert r.exit_code == 1                                        # the expectation decides
    assert "==> /proc/sys/vm/min_free_kbytes <==\n2048\n" in r.output
    assert "--show: /nope does not exist" in r.output and "anon is 256 KiB" in r.output


def test_json_holds_the_files_and_the_listing(tmp_path):
    r = invoke("run", write(tmp_path, WL), "--json", "--show", "/proc/sys/vm/min_free_kbytes", "--ls")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["files"] == {"/proc/sys/vm/min_free_kbytes": "2048\n"}
    assert {"mode": "dr-xr-xr-x", "path": "/proc", "mount": "proc"} in s["ls"]
    assert {"mode": "-r--r--r--", "path": "/proc/vmstat"} in s["ls"]
    assert s["meminfo_bytes"]["MemTotal"] == 64 << 20
