"""memsim run --trace records every event as trace-cmd record does, --trace-ring writes the
bounded ring (overwrite or drop), lost events are reported, and Ctrl-C writes the trace
recorded so far (issue 9, "Lossless traces and interrupts")."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from memsim.cli import main

# 8 MiB touched by two tasks on two CPUs: ~6000 events, far more than a 4 KiB buffer holds
WORKLOAD = """\
machine:
  cpus: 2
  nodes: [{memory: 64 MiB}]
  trace_buffer: 4 KiB
tasks:
  - name: one
    steps:
      - mmap: {name: buf, length: 4 MiB}
      - touch: {vma: buf, access: write}
      - munmap: {vma: buf}
  - name: two
    steps:
      - mmap: {name: buf, length: 4 MiB}
      - touch: {vma: buf, access: write}
"""
HEADER = re.compile(r"# entries-in-buffer/entries-written: (\d+)/(\d+)   #P:2\n")


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def workload(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text(WORKLOAD)
    return str(p)


def lines(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def written(output):
    return json.loads(output)["events"]["written"]


def test_trace_records_every_event_whatever_the_buffer(workload, tmp_path):
    """--trace with a 4 KiB buffer: every event reaches the file, in the same order and text
    as a ring big enough to hold them all."""
    full = tmp_path / "full.txt"
    r = invoke("run", workload, "--trace", str(full), "--json")
    assert r.exit_code == 0, r.output
    n = written(r.stdout)
    assert n > 5000
    assert "lost" not in r.stderr and "overwritten" not in r.stderr
    text = full.read_text()
    assert HEADER.search(text).groups() == (str(n), str(n))
    assert len(lines(text)) == n
    big = tmp_path / "big.txt"
    r = invoke("run", workload, "--trace-ring", str(big), "--set", "machine.trace_buffer=4MiB")
    assert r.exit_code == 0 and r.stderr == ""
    assert big.read_text() == text


@pytest.mark.parametrize("chunk,batch", [(1, 1), (3, 256), (64, 5)])
def test_text_in_time_order_however_the_pages_are_taken(workload, tmp_path, monkeypatch, chunk, batch):
    """The text recorder writes lines once no record still to come sorts before them: pages
    decoded one (or three) per CPU at a time, drains every few pages or at the end, the file
    is the one the whole ring gives."""
    from memsim.tracing import recorder
    monkeypatch.setattr(recorder.TextSink, "CHUNK_PAGES", chunk)
    monkeypatch.setattr(recorder, "BATCH_PAGES", batch)
    monkeypatch.setattr(recorder.TraceRecorder.__init__, "__defaults__", (batch,))
    full, big = tmp_path / "full.txt", tmp_path / "big.txt"
    assert invoke("run", workload, "--trace", str(full)).exit_code == 0
    assert invoke("run", workload, "--trace-ring", str(big),
                  "--set", "machine.trace_buffer=4MiB").exit_code == 0
    assert full.read_text() == big.read_text()


def test_trace_dat_records_every_event(workload, tmp_path):
    from memsim.tracing import open_trace
    dat = tmp_path / "full.dat"
    r = invoke("run", workload, "--trace", str(dat), "--json")
    assert r.exit_code == 0, r.output
    big = tmp_path / "big.dat"
    assert invoke("run", workload, "--trace-ring", str(big),
                  "--set", "machine.trace_buffer=4MiB").exit_code == 0

    def records(path):
        with open_trace(str(path)) as reader:
            return [(rec.cpu, rec.ts, rec.event, rec.pid) for rec in reader.records()]
    got = records(dat)
    assert len(got) == written(r.stdout)
    assert got == records(big)
    if shutil.which("trace-cmd"):                   # the real reader agrees
        rep = subprocess.run(["trace-cmd", "report", str(dat)], capture_output=True, text=True)
        assert rep.returncode == 0, rep.stderr
        assert len(rep.stdout.splitlines()) == 1 + len(got)        # cpus=2, then the events


def test_trace_ring_overwrites_the_oldest_and_says_so(workload, tmp_path):
    full, ring = tmp_path / "full.txt", tmp_path / "ring.txt"
    invoke("run", workload, "--trace", str(full))
    r = invoke("run", workload, "--trace-ring", str(ring), "--json")
    assert r.exit_code == 0
    n = written(r.stdout)
    summary = json.loads(r.stdout)["events"]
    text = ring.read_text()
    in_buffer, total = map(int, HEADER.search(text).groups())
    kept = lines(text)
    # the kernel's header: what the buffer holds / that plus what was overwritten
    assert total == n and in_buffer == len(kept) < n
    assert summary["overwritten"] == n - in_buffer and summary["dropped"] == 0
    # the newest events are kept: the ring's last lines per CPU are the full trace's last lines
    every = lines(full.read_text())
    for cpu in ("[000]", "[001]"):
        mine = [line for line in kept if cpu in line]
        assert mine == [line for line in every if cpu in line][-len(mine):]
    assert (f"memsim: {n - in_buffer} events were overwritten: the trace buffer "
            "(machine.trace_buffer, 4 KiB per CPU) keeps only the newest; record every event "
            "with --trace FILE, or give the buffer room for all (--set machine.trace_buffer=") \
        in r.stderr
    # docs/traces.md quotes this very message
    doc = (Path(__file__).resolve().parents[2] / "docs" / "traces.md").read_text()
    assert "\n" + r.stderr in doc
    # what it says to change is enough
    size = re.search(r"--set (machine.trace_buffer=\w+)\)", r.stderr).group(1)
    r = invoke("run", workload, "--trace-ring", str(ring), "--set", size)
    assert r.exit_code == 0 and r.stderr == ""
    assert ring.read_text() == full.read_text()


def test_overwrite_false_drops_the_newest(workload, tmp_path):
    full, ring = tmp_path / "full.txt", tmp_path / "ring.txt"
    invoke("run", workload, "--trace", str(full))
    r = invoke("run", workload, "--trace-ring", str(ring), "--json",
               "--set", "machine.trace_overwrite=false")
    assert r.exit_code == 0
    summary = json.loads(r.stdout)["events"]
    kept = lines(ring.read_text())
    in_buffer, total = map(int, HEADER.search(ring.read_text()).groups())
    assert in_buffer == total == len(kept) == summary["written"]
    assert summary["dropped"] > 0 and summary["overwritten"] == 0
    every = lines(full.read_text())
    for cpu in ("[000]", "[001]"):
        mine = [line for line in kept if cpu in line]
        assert mine == [line for line in every if cpu in line][:len(mine)]
    assert f"memsim: {summary['dropped']} events were dropped" in r.stderr
    assert "machine.trace_overwrite is false; record every event with --trace FILE" in r.stderr


def test_events_without_a_trace_report_losses_too(workload):
    r = invoke("run", workload, "--events", "kmem:*")
    assert r.exit_code == 0
    assert "events were overwritten" in r.stderr


def test_trace_and_trace_ring_together_is_a_usage_error(workload, tmp_path):
    r = invoke("run", workload, "--trace", str(tmp_path / "a.txt"),
               "--trace-ring", str(tmp_path / "b.txt"))
    assert r.exit_code == 2
    assert "memsim: --trace-ring: --trace already records every event; give --trace FILE" in r.stderr
    assert os.listdir(tmp_path) == ["w.yaml"]


# -- Ctrl-C -----------------------------------------------------------------------------------
def long_workload(tmp_path, reps=400):
    """``reps`` 512 MiB touches (400: several seconds), so a SIGINT lands mid-run."""
    steps = []
    for i in range(reps):
        steps += [f"      - mmap: {{name: b{i}, length: 512 MiB}}",
                  f"      - touch: {{vma: b{i}, access: write}}",
                  f"      - munmap: {{vma: b{i}}}"]
    p = tmp_path / "long.yaml"
    p.write_text("machine:\n  cpus: 2\n  nodes: [{memory: 1 GiB}]\ntasks:\n  - name: toucher\n"
                 "    steps:\n" + "\n".join(steps) + "\n")
    return str(p)


def recording(pid, directory):
    """The child has opened its trace's temporary files in ``directory``: the run is on."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if target.startswith(str(directory)) and "(deleted)" in target:
            return True
    return False


def interrupt(tmp_path, *args, after=0.5, command="run"):
    """Run memsim in a child process, send it SIGINT ``after`` seconds into its run (once its
    trace recorder is open, with --trace), return it finished."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "memsim.cli", command, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=str(tmp_path))
    if "--trace" in args:
        deadline = time.monotonic() + 30
        while not recording(p.pid, tmp_path) and time.monotonic() < deadline:
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
    time.sleep(after)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")


@needs_proc
@pytest.mark.parametrize("name", ["trace.txt", "trace.dat"])
def test_ctrl_c_writes_the_trace_so_far_and_exits_130(tmp_path, name):
    from memsim.tracing import open_trace
    w = long_workload(tmp_path)
    out_path = tmp_path / name
    rc, out, err = interrupt(tmp_path, w, "--trace", str(out_path), "--events", "kmem:rss_stat")
    assert rc == 130, err
    assert out == ""
    assert "Traceback" not in err
    m = re.search(r"memsim: interrupted (in|after) step (\w+) of task toucher \(pid 1000\) at "
                  + re.escape(w) + r":(\d+):\d+, [0-9.]+ s emulated\n", err)
    assert m, err
    assert m.group(2) in ("mmap", "touch", "munmap") and int(m.group(3)) > 6
    # docs/workloads.md ("How failures show") quotes lines of this form
    doc = (Path(__file__).resolve().parents[2] / "docs" / "workloads.md").read_text()
    quoted = re.search(r"\n(memsim: interrupted .*)\n(memsim: the trace recorded so far .*)\n", doc)
    assert re.fullmatch(r"memsim: interrupted (in|after) step \w+ of task toucher \(pid 1000\) at "
                        r"w\.yaml:\d+:\d+, [0-9.]+ s emulated", quoted.group(1))
    assert re.fullmatch(r"memsim: the trace recorded so far \(\d+ events\) is in trace\.dat",
                        quoted.group(2))
    n = int(re.search(r"the trace recorded so far \((\d+) events\) is in " + re.escape(str(out_path)),
                      err).group(1))
    assert n > 0
    # a complete, readable prefix: every record parses and the count is the one announced
    with open_trace(str(out_path)) as reader:
        recs = list(reader.records())
    assert len(recs) == n and all(r.event == "rss_stat" for r in recs)
    assert [r.ts for r in recs] == sorted(r.ts for r in recs)
    assert sorted(os.listdir(tmp_path)) == sorted(["long.yaml", name])   # no temporary left


@needs_proc
def test_ctrl_c_without_a_trace(tmp_path):
    rc, out, err = interrupt(tmp_path, long_workload(tmp_path), after=2.0)
    assert rc == 130
    assert err.startswith("memsim: interrupted ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == ["long.yaml"]


@needs_proc
def test_ctrl_c_in_compare(tmp_path):
    w = long_workload(tmp_path, reps=400)
    rc, out, err = interrupt(tmp_path, w, "--patch", "rss-stat-symbolic", after=4.0,
                             command="compare")
    assert rc == 130 and out == ""
    assert re.fullmatch(r"memsim: interrupted (in|after) step \w+ of task toucher \(pid 1000\) at "
                        + re.escape(w) + r":\d+:\d+, [0-9.]+ s emulated, in the run with "
                        r"--patch rss-stat-symbolic=(on|off)\n", err), err
