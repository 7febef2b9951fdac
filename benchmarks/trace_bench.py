"""Trace frontend benchmarks (run by ``python benchmarks/run.py``; ``--only trace`` for just these).

On about 1.1 million events, made by replicating the real 6.18 capture in ../shared/traces
(22,851 text events x 49; the 22,894-event trace.dat's pages x 48) with shifted timestamps:

  * text parsing into columns and into records (target >= 1,000,000 lines/s), against a plain
    Python regex parser on the same file (the ratio is reported);
  * trace.dat parsing into columns and into records (target >= 1,000,000 events/s), against the
    real ``trace-cmd report`` on the same file in the same run (skipped if trace-cmd is absent);
  * the text emitter: memsim's kernel-format renderer over ~1M recorded events (lines/s);
  * the commands as users run them, each a whole process (interpreter start included, output
    to /dev/null): ``memsim trace stats`` on the text and the trace.dat (targets >= 2M lines/s
    and >= 3M events/s), ``memsim trace report`` in both styles (target >= 1M lines/s, and
    >= 1.5x ``trace-cmd report`` on the trace.dat), and ``trace-cmd report`` itself, best of
    ``--repeat`` interleaved rounds.

Without ../shared/traces (set MEMSIM_SHARED), the text and trace.dat inputs are made from a
memsim run instead and the report says so.
"""
from __future__ import annotations

import gc
import gzip
import io
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
TARGET_EVENTS = 1_100_000

# -- the baseline: what a trace tool typically does with one regex per line --------------------
_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*(?P<tgid>[\d-]+)\)\s+)?\[(?P<cpu>\d+)\]"
                   r"\s+(?:(?P<flags>\S{4,5})\s+)?(?P<ts>\d+(?:\.\d+)?):\s+(?P<event>\w+):\s*(?P<payload>.*)$")
_KV = re.compile(r"(\w+)=(\S+)")


def regex_parse(path: str) -> int:
    """A plain Python regex parser: one match per line, key=value pairs into a dict."""
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = _LINE.match(line)
            if m is None:
                continue
            rec = m.groupdict()
            rec["pid"] = int(rec["pid"])
            rec["cpu"] = int(rec["cpu"])
            rec["ts"] = float(rec["ts"])
            rec["fields"] = dict(_KV.findall(rec.pop("payload")))
            n += 1
    return n


# -- inputs -----------------------------------------------------------------------------------
def shared_traces() -> Optional[Path]:
    env = os.environ.get("MEMSIM_SHARED")
    p = Path(env) if env else REPO.parent / "shared"
    return p / "traces" if (p / "traces").is_dir() else None


_TS = re.compile(r" (\d+)\.(\d{6}): ")


def replicate_text(src_lines: List[str], header: List[str], out: str, target: int) -> int:
    """Write ``src_lines`` repeated until ``target`` lines, each copy shifted past the last."""
    parts = []
    for line in src_lines:
        m = _TS.search(line)
        parts.append((line[:m.start(1)], int(m.group(1)) * 1_000_000 + int(m.group(2)), line[m.end(2):]))
    first, last = parts[0][1], parts[-1][1]
    span = last - first + 1000
    copies = -(-target // len(parts))
    n = 0
    with open(out, "w") as f:
        total = copies * len(parts)
        for h in header:
            if h.startswith("# entries-in-buffer"):
                h = f"# entries-in-buffer/entries-written: {total}/{total}   #P:2\n"
            f.write(h)
        for k in range(copies):
            shift = k * span
            buf = []
            for pre, us, post in parts:
                us += shift
                buf.append("%s%5d.%06d%s" % (pre, us // 1_000_000, us % 1_000_000, post))
            f.write("".join(buf))
            n += len(buf)
    return n


def text_input(tmp: str, target: int) -> Dict:
    """The replicated kernel text trace (path, lines, where it came from)."""
    src = shared_traces()
    out = os.path.join(tmp, "big-trace.txt")
    if src is not None:
        with gzip.open(src / "ftrace-mm-workload.txt.gz", "rt") as f:
            lines = f.readlines()
        header = [l for l in lines if l.startswith("#")]
        events = [l for l in lines if not l.startswith("#")]
        origin = "ftrace-mm-workload.txt.gz (Linux 6.18)"
    else:
        text = memsim_text()
        lines = text.splitlines(keepends=True)
        header = [l for l in lines if l.startswith("#")]
        events = [l for l in lines if not l.startswith("#")]
        origin = "a memsim run (../shared/traces not found)"
    n = replicate_text(events, header, out, target)
    return {"path": out, "lines": n, "origin": origin, "bytes": os.path.getsize(out)}


def memsim_machine(pages: int = 1 << 19):
    """``{"machine": m}``: a machine that recorded rss_stat + mm_page_alloc + mm_page_free for
    ``pages`` anonymous write faults (built here: the fault benchmark runs in a process of its
    own and keeps its machine)."""
    from memsim import vm
    from run import PAGE, build                  # benchmarks/run.py (benchmarks/ is on sys.path)
    mem = ((pages * PAGE * 9 // 8) // (4 << 20) + 8) * (4 << 20)
    m = build([mem], ("kmem:rss_stat", "kmem:mm_page_alloc", "kmem:mm_page_free"),
              trace_kb=(pages * 80) // 1024 + 4096)
    t = m.spawn("bench")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, "rw", "anon", totalram=total)
    progress, ret, _ = m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    if ret:
        raise RuntimeError(f"fault failed: {ret:#x} after {progress} pages")
    return {"machine": m}


def memsim_text() -> str:
    from memsim.tracing.text import TextRenderer
    r = memsim_machine(1 << 16)
    m = r["machine"]
    out = io.StringIO()
    TextRenderer(m.events, m.profile.name, m.comms, m.ptr_key).render(m.tb, out)
    return out.getvalue()


# -- measurements -------------------------------------------------------------------------------
def timed(fn, *a):
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        v = fn(*a)
        return v, time.perf_counter() - t0
    finally:
        gc.enable()


def _columns_count(path: str) -> int:
    from memsim.tracing.reader import open_trace
    n = 0
    with open_trace(path) as r:
        for b in r.batches():
            n += len(b)
    return n


def _records_count(path: str) -> int:
    from memsim.tracing.reader import open_trace
    n = 0
    with open_trace(path) as r:
        for _ in r.records():
            n += 1
    return n


def bench_text(tmp: str, target: int) -> Dict:
    inp = text_input(tmp, target)
    path = inp["path"]
    res = {"input": inp}
    n, s = timed(_columns_count, path)
    res["columns"] = {"events": n, "seconds": s, "lines_per_s": inp["lines"] / s}
    n2, s = timed(_records_count, path)
    res["records"] = {"events": n2, "seconds": s, "lines_per_s": inp["lines"] / s}
    res["memory"] = bench_memory(path)
    n3, s = timed(regex_parse, path)
    res["regex"] = {"events": n3, "seconds": s, "lines_per_s": inp["lines"] / s}
    res["ratio_columns_vs_regex"] = res["columns"]["lines_per_s"] / res["regex"]["lines_per_s"]
    res["ratio_records_vs_regex"] = res["records"]["lines_per_s"] / res["regex"]["lines_per_s"]
    return res


def bench_emitter(pages: int) -> Dict:
    """memsim's kernel-format text renderer over the events of ``pages`` faults."""
    from memsim.tracing.text import TextRenderer
    r = memsim_machine(pages)
    m = r["machine"]
    rend = TextRenderer(m.events, m.profile.name, m.comms, m.ptr_key)

    def render():
        n = 0
        out = io.StringIO()
        buf = []
        for line in rend.lines(m.tb):
            buf.append(line)
            n += 1
            if len(buf) == 8192:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        return n
    n, s = timed(render)
    return {"events": n, "seconds": s, "lines_per_s": n / s}


def dat_input(tmp: str, target: int) -> Dict:
    """A ~``target``-event trace.dat: the real capture's records (or a memsim run's) repeated with
    shifted timestamps, re-packed into kernel sub-buffer pages, written as v7+zstd."""
    from memsim.tracing.tracedat import DatReader
    from memsim.tracing.tracedat_write import encode_record, pack_pages, write_trace_dat
    src = shared_traces()
    if src is not None:
        base = str(src / "trace-mm-workload.dat")
        origin = "trace-mm-workload.dat (Linux 6.18, trace-cmd 3.1.6)"
    else:
        r = memsim_machine(1 << 15)["machine"]
        from memsim.tracing.tracedat_write import write_buffer_trace_dat
        base = os.path.join(tmp, "memsim-base.dat")
        write_buffer_trace_dat(base, r.tb, r.events, r.comms, profile_name=r.profile.name)
        origin = "a memsim run (../shared/traces not found)"
    rd = DatReader(base)
    enc = []
    for rec in rd.records():
        decl = rd.formats.get(rec.full_name)
        enc.append((rec.cpu, rec.ts, encode_record(decl, rd.formats.id_of(rec.full_name), rec)))
    ncpus = max(rd.meta["ncpus"] or 0, 1 + max(c for c, _, _ in enc))
    span = enc[-1][1] - enc[0][1] + 1_000_000
    copies = -(-target // len(enc))
    per_cpu: List[list] = [[] for _ in range(ncpus)]
    for k in range(copies):
        shift = k * span
        for cpu, ts, b in enc:
            per_cpu[cpu].append((ts + shift, b))
    pages = [pack_pages(lst, rd.meta["page_size"]) for lst in per_cpu]
    out = os.path.join(tmp, "big-trace.dat")
    write_trace_dat(out, formats=rd.formats, cpu_pages=pages, cmdlines=rd.comms,
                    kallsyms=getattr(rd, "kallsyms_text", None) or getattr(rd, "_kallsyms_text", "") or "")
    rd.close()
    return {"path": out, "events": copies * len(enc), "origin": origin, "bytes": os.path.getsize(out)}


def bench_dat(tmp: str, target: int) -> Dict:
    inp = dat_input(tmp, target)
    path = inp["path"]
    res = {"input": inp}
    n, s = timed(_columns_count, path)
    res["columns"] = {"events": n, "seconds": s, "events_per_s": n / s}
    n2, s = timed(_records_count, path)
    res["records"] = {"events": n2, "seconds": s, "events_per_s": n2 / s}
    tc = trace_cmd_report(path)
    res["trace_cmd"] = tc
    if tc:
        res["ratio_columns_vs_trace_cmd"] = res["columns"]["events_per_s"] / tc["events_per_s"]
        res["ratio_records_vs_trace_cmd"] = res["records"]["events_per_s"] / tc["events_per_s"]
    return res


_STREAM_SCRIPT = """
import resource, sys
from memsim.tracing import open_trace
n = 0
with open_trace("-") as r:
    for batch in r.batches():
        n += len(batch)
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def bench_memory(path: str, copies=(1, 8)) -> Dict:
    """Peak RSS of a process that streams ``path`` repeated ``k`` times through a pipe into
    column batches (``cat path path ... | python -c ...``): flat memory means the same peak
    whatever ``k``."""
    import shlex
    import sys
    out = {}
    for k in copies:
        cmd = (f"cat {' '.join([shlex.quote(path)] * k)} | "
               f"{shlex.quote(sys.executable)} -c {shlex.quote(_STREAM_SCRIPT)}")
        p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, check=True)
        events, peak = (int(x) for x in p.stdout.split())
        out[k] = {"bytes": k * os.path.getsize(path), "events": events, "peak_rss": peak}
    return out


def trace_cmd_report(path: str) -> Optional[Dict]:
    exe = shutil.which("trace-cmd")
    if exe is None:
        return None
    t0 = time.perf_counter()
    p = subprocess.run([exe, "report", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    s = time.perf_counter() - t0
    lines = p.stdout.count(b"\n") - 1            # the "cpus=N" line
    return {"events": lines, "seconds": s, "events_per_s": lines / s, "rc": p.returncode}


def memsim_command() -> List[str]:
    """The ``memsim`` console script next to this interpreter (as a user runs it), or
    ``python -m memsim.cli``."""
    import sys
    script = Path(sys.executable).parent / "memsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "memsim.cli"]


#: the commands timed whole (label, argv after the program, input: "text" or "dat")
COMMANDS = (
    ("memsim trace stats TEXT", ["trace", "stats"], "text"),
    ("memsim trace stats DAT", ["trace", "stats"], "dat"),
    ("memsim trace report TEXT", ["trace", "report"], "text"),
    ("memsim trace report --style trace-cmd TEXT", ["trace", "report", "--style", "trace-cmd"], "text"),
    ("memsim trace report DAT", ["trace", "report"], "dat"),
    ("memsim trace report --style trace-cmd DAT", ["trace", "report", "--style", "trace-cmd"], "dat"),
    ("trace-cmd report DAT", None, "dat"),
)


def bytecode_env(tmp: str) -> Dict[str, str]:
    """The environment of the timed memsim processes: memsim's modules compiled to bytecode
    as ``pip install`` leaves them, into a cache under ``tmp`` (``PYTHONPYCACHEPREFIX``).

    An editable install (``pip install -e``) compiles nothing, and where
    ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's VMs) every command would compile
    memsim's sources again at start-up (about 0.08 s): a cost a user's install does not have."""
    import importlib
    import sys
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    dirs = []
    for name in ("memsim", "memsim.tracing", "memsim.plugins"):
        dirs += list(importlib.import_module(name).__path__)
    code = ("import compileall, sys; sys.exit(0 if all([compileall.compile_dir(d, quiet=1) "
            "for d in sys.argv[1:]]) else 1)")
    subprocess.run([sys.executable, "-c", code, *sorted(set(dirs))], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def bench_commands(text: Dict, dat: Dict, repeat: int, tmp: str) -> Dict:
    """The commands users run, each a whole process (interpreter start, imports, reading,
    printing to /dev/null), side by side with ``trace-cmd report`` on the same trace.dat:
    best of ``repeat`` rounds, the commands interleaved within each round.  memsim runs with
    its bytecode cached, as installed (:func:`bytecode_env`)."""
    exe = shutil.which("trace-cmd")
    env = bytecode_env(tmp)
    inputs = {"text": (text["path"], text["lines"]), "dat": (dat["path"], dat["events"])}
    best: Dict[str, Dict] = {}
    for _ in range(repeat):
        for label, argv, kind in COMMANDS:
            path, lines = inputs[kind]
            if argv is None:
                if exe is None:
                    continue
                cmd = [exe, "report", path]
            else:
                cmd = memsim_command() + argv + [path]
            gc.collect()
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            s = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-500:]}")
            if label not in best or s < best[label]["seconds"]:
                best[label] = {"command": label, "seconds": s, "lines": lines, "lines_per_s": lines / s}
    tc = best.get("trace-cmd report DAT")
    for label, r in best.items():
        r["unit"] = "events" if label.endswith(" DAT") else "lines"
        if tc is not None and " report" in label and label.endswith(" DAT") and r is not tc:
            r["vs_trace_cmd"] = tc["seconds"] / r["seconds"]
    return {"repeat": repeat, "results": [best[label] for label, _, _ in COMMANDS if label in best]}


def run(quick: bool = False, repeat: int = 3) -> Dict:
    target = 110_000 if quick else TARGET_EVENTS
    with tempfile.TemporaryDirectory(prefix="memsim-bench-") as tmp:
        out = {"target_events": target}
        out["text"] = bench_text(tmp, target)
        out["emitter"] = bench_emitter(1 << 17 if quick else 1 << 20)
        out["dat"] = bench_dat(tmp, target)
        out["commands"] = bench_commands(out["text"]["input"], out["dat"]["input"], repeat, tmp)
        return out
