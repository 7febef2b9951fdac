"""trace.dat files of tracefs instance buffers and ftrace marker records (issue 9, Correctness).

The data are real captures of this project's VM (tests/tracing/data/README.md): ``trace-cmd
record -B memsim_test -e kmem:rss_stat -B memsim_pg -e kmem:mm_page_alloc`` written as version
6 and version 7 files, with ``trace-cmd report`` of each; the kernel's ``trace`` file of an
instance with two ``trace_marker`` writes.
"""
import gzip
import io
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from memsim.cli_trace import trace
from memsim.errors import UsageError
from memsim.tracing.convert import buffer_counts, open_input, write_text
from memsim.tracing.reader import open_trace

DATA = Path(__file__).parent / "data"
# what trace-cmd report says of each file (counted in the recorded reports)
COUNTS = {6: {"top": 0, "memsim_pg": 684, "memsim_test": 885},
          7: {"top": 0, "memsim_pg": 668, "memsim_test": 887}}


@pytest.fixture(params=[6, 7])
def dat(request, tmp_path):
    """(version, path of the trace.dat, the recorded trace-cmd report text)."""
    v = request.param
    if v == 6:
        path = tmp_path / "instances-v6.dat"
        path.write_bytes(gzip.decompress((DATA / "instances-v6.dat.gz").read_bytes()))
    else:
        path = DATA / "instances-v7.dat"
    report = gzip.decompress((DATA / f"instances-v{v}.report.txt.gz").read_bytes()).decode()
    return v, path, report


def run(*args):
    r = CliRunner().invoke(trace, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


def test_every_buffer_is_read_as_trace_cmd_report_prints_it(dat):
    v, path, report = dat
    with open_input(str(path)) as r:
        out = io.StringIO()
        write_text(r, out, style="trace-cmd")
        assert r.meta["buffers"] == ["", "memsim_pg", "memsim_test"]
        assert r.meta["version"] == v
    assert out.getvalue() == report          # byte for byte, the buffer column included


def test_records_carry_their_buffer_and_buffer_selects_one(dat):
    v, path, report = dat
    with open_trace(str(path)) as r:
        every = list(r.records())
    by_buffer = Counter(rec.buffer for rec in every)
    assert {n or "top": by_buffer.get(n, 0) for n in ("", "memsim_pg", "memsim_test")} == COUNTS[v]
    assert {rec.event for rec in every if rec.buffer == "memsim_pg"} == {"mm_page_alloc", "print"}
    for name in ("memsim_pg", "memsim_test"):
        with open_trace(str(path), buffer=name) as r:
            one = list(r.records())
            assert r.meta["buffer"] == name
        assert one == [rec for rec in every if rec.buffer == name]
    with open_trace(str(path), buffer="top") as r:
        assert list(r.records()) == []
        assert buffer_counts(r) == COUNTS[v]         # the others decoded to count them
    # columns carry the buffer too
    with open_trace(str(path)) as r:
        cols = r.columns()
    assert Counter(b for t in cols.tables.values() for b in t.columns["buffer"]) == by_buffer


def test_an_unknown_buffer_is_a_usage_error(dat):
    _, path, _ = dat
    with pytest.raises(UsageError) as e:
        open_trace(str(path), buffer="nope")
    assert "has no buffer 'nope' (it has: top, memsim_pg, memsim_test)" in str(e.value)
    r = run("stats", path, "--buffer", "nope")
    assert r.exit_code == 2
    assert r.stderr.startswith("memsim: --buffer: ") and "; give one of those names" in r.stderr
    assert r.stdout == ""


def test_the_report_text_reads_back_with_its_buffers(dat, tmp_path):
    v, path, report = dat
    txt = tmp_path / "report.txt"
    txt.write_text(report)
    with open_trace(str(txt)) as r:
        got = list(r.records())
        assert r.meta["buffer_width"] == len("memsim_test")
        assert buffer_counts(r) == COUNTS[v]
    with open_trace(str(path)) as r:
        want = list(r.records())
    us = lambda ts: (ts + 500) // 1000                    # noqa: E731 (printed in µs, rounded)
    assert [(g.buffer, g.full_name, us(g.ts), g.pid) for g in got] == \
           [(w.buffer, w.full_name, us(w.ts), w.pid) for w in want]
    # and prints again as it was
    with open_input(str(txt)) as r:
        out = io.StringIO()
        write_text(r, out, style="trace-cmd")
    assert out.getvalue() == report
    with pytest.raises(UsageError):
        with open_trace(str(txt), buffer="nope") as r:
            list(r.records())


def test_stats_lists_the_buffers_and_never_says_0_events_silently(dat):
    v, path, _ = dat
    r = run("stats", path)
    assert r.exit_code == 0
    total = sum(COUNTS[v].values())
    assert f": {total} events," in r.stdout
    assert "buffers: " + ", ".join(f"{n} {c}" for n, c in COUNTS[v].items()) in r.stdout
    assert r.stderr == ""
    r = run("stats", path, "--buffer", "memsim_pg")
    assert f": {COUNTS[v]['memsim_pg']} events," in r.stdout and "(read: memsim_pg)" in r.stdout
    for cmd in (("stats",), ("report",)):
        r = run(*cmd, path, "--buffer", "top")
        assert r.exit_code == 0
        assert "warning: buffer 'top'" in r.stderr and "holds no events, other buffers do" in r.stderr
        assert f"memsim_pg {COUNTS[v]['memsim_pg']}" in r.stderr


def test_ftrace_marker_lines_print_as_the_kernel_and_trace_cmd_do(dat, tmp_path):
    """trace_marker writes: the kernel's trace_print_print in the kernel style (the captured
    ``trace`` file), trace-cmd's ``print:`` line in the trace-cmd style (its report)."""
    _, path, report = dat
    marker = [l for l in report.splitlines() if "print:" in l]
    assert len(marker) == 4 and marker[0].endswith(
        "print:                tracing_mark_write: memsim start")
    text = gzip.decompress((DATA / "ftrace-marker.txt.gz").read_bytes()).decode()
    src = tmp_path / "marker.txt"
    src.write_text(text)
    with open_input(str(src)) as r:
        out = io.StringIO()
        write_text(r, out, style="kernel")
    assert out.getvalue() == text
    with open_trace(str(src)) as r:
        prints = [rec for rec in r.records() if rec.full_name == "ftrace:print"]
    assert [p.fields["buf"] for p in prints] == ["memsim start\n", "memsim end\n"]
    with open_input(str(src)) as r:
        out = io.StringIO()
        write_text(r, out, style="trace-cmd")
    lines = [l for l in out.getvalue().splitlines() if "print:" in l]
    assert lines == ["         work.sh-26333 [001] 11449.865791: print:                "
                     "tracing_mark_write: memsim start",
                     "         work.sh-26333 [001] 11449.879315: print:                "
                     "tracing_mark_write: memsim end"]


@pytest.mark.parametrize("src", ["instances-v7.dat", "ftrace-marker.txt.gz"])
def test_convert_keeps_ftrace_print_records(src, tmp_path):
    out = tmp_path / "out.dat"
    r = run("convert", DATA / src, out, *(("--buffer", "memsim_test") if "dat" in src else ()))
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr
    back = run("report", out, "-e", "print", "--style", "trace-cmd")
    lines = [l for l in back.stdout.splitlines() if "print:" in l]
    assert lines and all("print:                tracing_mark_write: memsim " in l for l in lines)


def test_convert_says_when_buffers_are_merged(tmp_path):
    out = tmp_path / "all.dat"
    r = run("convert", DATA / "instances-v7.dat", out)
    assert r.exit_code == 0
    assert ("warning: the records of 2 buffers (memsim_pg (668), memsim_test (887)) went into "
            "the output's one buffer; choose one with --buffer NAME") in r.stderr
    with open_trace(str(out)) as rd:
        assert sum(1 for _ in rd.records()) == 668 + 887
