"""Ctrl-C and progress of the ``memsim trace`` commands (issue 9: "the same for trace commands
(no partial output file left behind unless it is a complete prefix)"; "progress on long work ...
trace commands on large inputs").

The Ctrl-C tests feed the trace through a pipe and send SIGINT once the command waits for more
input (its ``wchan`` is the pipe's read), so the signal lands mid-read however loaded the
machine is.
"""
import gzip
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from memsim.progress import TraceProgress
from memsim.tracing import open_trace

DATA = Path(__file__).parent.parent / "tracing" / "data"
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/wchan"),
                                reason="needs Linux /proc/PID/wchan")


def trace_text(nlines):
    """A kernel trace text of about ``nlines`` event lines (a real capture's, repeated)."""
    lines = gzip.decompress((DATA / "ftrace-tgid.txt.gz").read_bytes()).decode().splitlines(True)
    head = [l for l in lines if l.startswith("#")]
    body = [l for l in lines if not l.startswith("#")]
    return "".join(head + body * (nlines // len(body) + 1)).encode()


def waiting_on_pipe(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "pipe_read" in f.read()
    except OSError:
        return False


def interrupt_reading(tmp_path, *args, nlines=150_000):
    """``memsim trace ARGS`` reading ``nlines`` from a pipe left open; SIGINT once it waits for
    more; (exit code, stdout, stderr).  Standard output goes to a file (a pipe nobody reads
    would fill and stop the command)."""
    stdout = tmp_path.parent / f"{tmp_path.name}.stdout"
    with open(stdout, "wb") as f:
        p = subprocess.Popen([sys.executable, "-m", "memsim.cli", "trace", *args],
                             stdin=subprocess.PIPE, stdout=f, stderr=subprocess.PIPE,
                             cwd=str(tmp_path))
    p.stdin.write(trace_text(nlines))
    p.stdin.flush()
    deadline = time.monotonic() + 60
    while not waiting_on_pipe(p.pid):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "the command never waited on its input"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        p.stdin.close()
    return p.returncode, stdout.read_text(), err.decode()


@needs_proc
@pytest.mark.parametrize("args", [("stats", "-"), ("report", "-", "-o", "out.txt"),
                                  ("convert", "-", "out.dat"), ("plot", "-", "-o", "out.png")])
def test_ctrl_c_says_how_far_reading_got_exits_130_and_writes_no_output(tmp_path, args):
    (tmp_path / "keep.txt").write_text("before\n")
    rc, out, err = interrupt_reading(tmp_path, *args)
    assert rc == 130, err
    assert "Traceback" not in err
    m = re.fullmatch(r"memsim: interrupted while reading <stdin>: ([\d,]+) events read(.*)\n", err)
    assert m, err
    assert int(m.group(1).replace(",", "")) > 0 or args[0] == "plot"
    if len(args) > 2:
        assert m.group(2) == f"; {args[-1]} was not written"
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]      # no output, no temporary file


@needs_proc
def test_ctrl_c_leaves_an_existing_output_as_it_was(tmp_path):
    (tmp_path / "out.txt").write_text("the previous report\n")
    rc, _, err = interrupt_reading(tmp_path, "report", "-", "-o", "out.txt")
    assert rc == 130, err
    assert (tmp_path / "out.txt").read_text() == "the previous report\n"
    assert os.listdir(tmp_path) == ["out.txt"]


@needs_proc
def test_ctrl_c_of_a_report_to_stdout_leaves_whole_lines(tmp_path):
    rc, out, err = interrupt_reading(tmp_path, "report", "-")
    assert rc == 130, err
    assert out.startswith("# tracer: nop\n") and out.endswith("\n")
    assert len(out.splitlines()) > 1000


# -- progress ---------------------------------------------------------------------------------
def read_with(console, path, delay):
    bar = TraceProgress("memsim trace stats", str(path), console=console)
    bar.DELAY = delay
    r = open_trace(str(path))
    bar.reading(r)
    with r, bar:
        n = sum(len(c) for c in bar.batches(r.batches(50)))
    return bar, n


@pytest.mark.parametrize("name", ["ftrace-tgid.txt.gz", "instances-v7.dat"])
def test_a_terminal_gets_the_bar_and_where_says_how_far(name):
    out = io.StringIO()
    bar, n = read_with(Console(file=out, force_terminal=True, width=120), DATA / name, 0.0)
    assert n > 0 and bar.events == n
    assert "memsim trace stats" in out.getvalue() and "events" in out.getvalue()
    assert re.fullmatch(rf"reading .*{re.escape(name)}: {n:,} events read, (9\d|100)% of the file",
                        bar.where()), bar.where()


def test_no_bar_before_the_delay_nor_off_a_terminal():
    out = io.StringIO()
    read_with(Console(file=out, force_terminal=True, width=120), DATA / "ftrace-tgid.txt.gz", 3600)
    assert out.getvalue() == ""
    read_with(Console(file=out, force_terminal=False, width=120), DATA / "ftrace-tgid.txt.gz", 0)
    assert out.getvalue() == ""


def test_position_follows_the_compressed_bytes_of_a_text(tmp_path):
    p = tmp_path / "t.txt.gz"
    p.write_bytes(gzip.compress(trace_text(200_000)))
    r = open_trace(str(p), )
    seen = []
    with r:
        for _ in r.batches(20_000):
            seen.append(r.position())
    size = p.stat().st_size
    assert all(total == size for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] < size and done[-1] == size


def test_standard_input_has_no_position():
    r = open_trace(str(DATA / "ftrace-tgid.txt.gz"))
    assert r.position() is not None
    r.close()
    proc = subprocess.run([sys.executable, "-c", "import sys; from memsim.tracing import open_trace;"
                           " r = open_trace('-'); print(r.position())"],
                          input=trace_text(100), capture_output=True)
    assert proc.stdout.decode().strip() == "None", proc.stderr
