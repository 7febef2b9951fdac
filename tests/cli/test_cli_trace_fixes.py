"""``memsim trace convert``/``report`` fixes of issue 9 (Correctness): the irq-info layout kept
through a trace.dat, compressed outputs, the option names shared with ``memsim run``, an empty
time window told apart from an absent event, and no header before a non-trace's error."""
import gzip
import re
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from memsim.cli import main
from memsim.cli_trace import trace

DATA = Path(__file__).resolve().parents[1] / "tracing" / "data"
FLAGS = re.compile(r"^\s*\S+-\d+\s+\[\d{3}\] (\S+)\s", re.M)

WORKLOAD = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
  kernel: {kernel}
tasks:
  - name: app
    cpu: 0
    steps:
      - mmap: {{name: buf, length: 128 KiB}}
      - touch: {{vma: buf}}
"""


def run(*args):
    r = CliRunner().invoke(trace, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


@pytest.fixture(scope="module", params=["v5.14", "v6.18"])
def kernel_text(request, tmp_path_factory):
    """(profile, the kernel ``trace`` text memsim writes for it)."""
    d = tmp_path_factory.mktemp(request.param)
    wl = d / "w.yaml"
    wl.write_text(WORKLOAD.format(kernel=request.param))
    out = d / "t.txt"
    r = CliRunner().invoke(main, ["run", str(wl), "--trace", str(out)])
    assert r.exit_code == 0, r.output
    return request.param, out


def test_the_irq_info_layout_survives_a_trace_dat(kernel_text, tmp_path):
    profile, src = kernel_text
    width = 4 if profile == "v5.14" else 5
    text = src.read_text()
    assert {len(f) for f in FLAGS.findall(text)} == {width}
    for version in ("6", "7"):
        dat = tmp_path / f"t{version}.dat"
        assert run("convert", src, dat, "--dat-version", version).exit_code == 0
        back = run("report", dat)
        assert back.exit_code == 0
        assert {len(f) for f in FLAGS.findall(back.stdout)} == {width}
        # the legend too: 4 columns (no migrate-disable) before 5.15
        assert ("migrate-disable" in back.stdout) == (width == 5)
        assert FLAGS.findall(back.stdout) == FLAGS.findall(text)


@pytest.mark.parametrize("suffix,unpack", [(".gz", gzip.decompress),
                                           (".zst", lambda b: zstandard.ZstdDecompressor()
                                            .decompressobj().decompress(b))])
def test_outputs_named_gz_or_zst_are_compressed(kernel_text, tmp_path, suffix, unpack):
    _, src = kernel_text
    text = src.read_text()
    out = tmp_path / f"back.txt{suffix}"
    r = run("convert", src, out)
    assert r.exit_code == 0, r.output
    assert unpack(out.read_bytes()).decode() == text
    rep = tmp_path / f"rep.txt{suffix}"
    assert run("report", src, "-o", rep).exit_code == 0
    assert unpack(rep.read_bytes()).decode() == text
    # a trace.dat named .dat.gz/.dat.zst is a trace.dat, compressed whole, and reads back
    dat = tmp_path / f"t.dat{suffix}"
    r = run("convert", src, dat)
    assert r.exit_code == 0 and "trace.dat v7" in r.stderr
    assert unpack(dat.read_bytes())[:10] == b"\x17\x08\x44tracing\x00"[:10]
    assert run("report", dat).stdout.count("\n") == text.count("\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, rep.name, dat.name])


def test_convert_and_run_name_the_trace_dat_options_alike():
    run_opts = {o for p in main.commands["run"].params for o in p.opts}
    conv = {o for p in trace.commands["convert"].params if not getattr(p, "hidden", False)
            for o in p.opts}
    for name in ("--dat-version", "--dat-compression"):
        assert name in run_opts and name in conv


def test_an_empty_window_is_not_an_absent_event():
    path = DATA / "instances-v7.dat"
    r = run("report", path, "-e", "rss_stat", "--from", "1", "--to", "2")
    assert r.exit_code == 0
    assert "matched no event" not in r.stderr
    assert "-e 'rss_stat': the trace has such events, but none where" in r.stderr
    r = run("report", path, "-e", "no_such_event", "--from", "1", "--to", "2")
    assert "-e 'no_such_event' matched no event of the trace" in r.stderr
    r = run("report", path, "-e", "rss_stat", "--from", "11376.1781", "--to", "11376.17816")
    assert r.stderr == "" and r.stdout.count("rss_stat:") == 2


def test_a_file_that_is_not_a_trace_prints_no_header(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\nworld\n")
    for args in (("report", junk), ("report", junk, "--style", "trace-cmd"),
                 ("convert", junk, "-")):
        r = run(*args)
        assert r.exit_code == 2
        assert r.stdout == ""
        assert r.stderr.startswith("memsim: ") and "no trace events could be read" in r.stderr
