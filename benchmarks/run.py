"""memsim benchmarks: one command, not part of the test suite.

    python benchmarks/run.py [--quick] [--json OUT] [--only core|trace|sweep|reclaim|pagecache|hugetlb|userfaultfd|memcg|swap|kasan]
                             [--baseline PYTHON] [--kernel v5.14|v6.18]

Measures (interpreter start and machine build excluded unless stated):
  1. anonymous write faults for 1M and 4M pages, tracing off and with kmem:rss_stat +
     kmem:mm_page_alloc on (targets: >= 5,000,000/s off, >= 3,000,000/s on), and off with the
     Cython test plugin's no-op memcg charge installed (a per-page ops-table call; target: within
     15% of the figure without it).  Each figure is the best of ``--repeat`` runs of
     benchmarks/fault_bench.py in a fresh process; with ``--baseline PYTHON`` (the interpreter of
     another memsim checkout, e.g. the previous release) the same runs are made with it,
     interleaved, and the ratios printed (target: the core within 5% of its predecessor);
  2. host memory per emulated frame for a 16 GiB machine fully touched (target <= 64 bytes of
     frame metadata per 4 KiB frame), reported apart from page tables and trace buffers;
  3. the time to build a 1 TiB machine (target: well under a second);
  4. the trace frontend (benchmarks/trace_bench.py): text and trace.dat parsing of ~1.1M events
     against a plain regex parser and the real ``trace-cmd report``, the text emitter, and the
     ``memsim trace stats``/``report`` commands run whole (start-up included) side by side with
     ``trace-cmd report`` on the same trace.dat (best of ``--repeat``);
  5. seed sweeps (benchmarks/sweep_bench.py): ``memsim sweep`` of a small workload over 1,000
     seeds (100 with ``--quick``), the whole command, runs per second with ``--jobs 1``,
     ``--jobs 2`` and a two-worker Dask LocalCluster, best of ``--repeat``.

  6. reclaim (benchmarks/reclaim_bench.py): reading 4x the machine's memory (256 MiB, and
     1 GiB without ``--quick``) through a file mapping (``mmap type: file``, a diskfs file in
     the page cache), every page a major fault and, from the min watermark on, direct reclaim dropping
     the oldest clean pages: reclaimed pages per second in-run (target >= 2,000,000/s), next to
     the same reads without pressure (a machine big enough: the faults alone) and, with
     ``--baseline``, the other checkout's figure; then ``memsim run configs/bench/reclaim-file.yaml``
     as a user runs it, the whole command (reclaimed pages from its /proc/vmstat).

  7. the page cache (benchmarks/pagecache_bench.py): a 4 GiB diskfs file (512 MiB with
     ``--quick``) read into the page cache, every page looked up again, and truncated, each
     phase workload steps timed in-run, next to a Python loop doing the same insert / lookup /
     delete on a dict of the same indices; the file mapped and read by faults with fault-around
     (faults/s and pages mapped/s); host memory per cached page; on a v6.18 machine, or the
     profile ``--kernel`` names.

  8. hugetlb (benchmarks/hugetlb_bench.py): the 2 MiB pool grown by 10,000 pages (1,000 with
     ``--quick``) through /proc/sys/vm/nr_hugepages and shrunk back, each write a step timed
     in-run, next to this machine's own kernel doing the same writes when the benchmark runs as
     root with an empty pool (the pool is put back to 0); alloc_contig_range over 1 GiB holding
     512 free huge pages (each replaced) next to the same call over 1 GiB of free memory;
     a 16 GiB MAP_HUGETLB mapping (2 GiB with ``--quick``) faulted in, one fault per huge page
     through the plugin's C fault path (faults/s and base pages mapped/s).

  9. userfaultfd (benchmarks/uffd_bench.py): minor faults resolved per second -- a shmem guest of
     16,384 pages (4,096 with ``--quick``) read by a vCPU thread while a monitor thread serves
     each MINOR fault with UFFDIO_CONTINUE, through the declarative ``uffd_serve`` step and
     through a Python handler (``uffd_handler``), the vCPU's touch timed in-run; next to this
     machine's kernel doing the same (benchmarks/uffd_minor.c, built with gcc); then
     ``memsim run configs/bench/uffd-minor.yaml`` (65,536 minor faults) as a user runs it, the
     whole command, next to the C program doing the same 65,536 faults; and the live-migration
     demo (configs/patch-uffd-minor.yaml) with a 16 GiB guest on hugetlbfs (1 GiB with
     ``--quick``): host seconds and peak memory, the emulated pause and convergence.

  10. swap (benchmarks/swap_bench.py): 1M anonymous pages (128K with ``--quick``) written, pushed
     out to a zram swap device with one MADV_PAGEOUT and read back, each step timed in-run
     (swap-out and swap-in pages/s), on each profile; next to this machine's kernel doing the
     same on its /dev/zram0 (benchmarks/swap_pageout.c; as root, with zram0 unused and no swap
     on: the device is set up and put back); then ``memsim run configs/bench/swap-overcommit.yaml``
     (512 MiB written and read back on a 256 MiB machine with zram swap) as a user runs it, the
     whole command's host seconds and the emulated seconds, next to the C program doing the same
     in a 256 MiB cgroup v1 memory cgroup of this machine's kernel.

  11. KASAN (benchmarks/kasan_bench.py): checked accesses per second (an ``access`` step looping
     over one word of a kmalloc'd buffer, 4M 8-byte loads, 512K with ``--quick``; through its
     tagged pointer and through a 0xFF one), and the slowdown KASAN brings to the allocator (kmalloc and kfree of
     1M 64-byte objects) and to anonymous faults (1M pages), each with KASAN off and on,
     interleaved, best of ``--repeat``, in-run; then the demo ``memsim run
     configs/patch-kasan-tag-fe.yaml`` and ``memsim compare`` of it, whole commands.  (The live
     kernel has no KASAN built in: there is no kernel figure to put beside these.)

``--only core``, ``--only trace``, ``--only sweep``, ``--only reclaim``, ``--only pagecache``,
``--only hugetlb``, ``--only userfaultfd``, ``--only memcg``, ``--only swap`` or ``--only kasan``
runs one part.
The faults go through the same path a workload's touch step takes: MmCore.access() in chunks
of ``quantum`` (512) pages with a return to Python between chunks (a preemption point).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time

GiB = 1 << 30
PAGE = 4096
HERE = os.path.dirname(os.path.abspath(__file__))


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_timed(text: str, filename: str):
    """Run a workload in this process, garbage collection off, with a mark at each step's start
    and at the end: returns (the finished Run, [(step op or None, perf_counter, rss_bytes)]).
    Raises if the run did not end cleanly."""
    from memsim.plugin_host import get_plugin_manager
    from memsim.workload.runner import Run
    from memsim.workload.variant import Host, WorkloadSource
    host = Host(pm=get_plugin_manager())
    prepared = host.prepare(WorkloadSource(filename, text), events=[])
    run = Run(prepared.workload, prepared.registries, prepared.events, host.pm, check=False)
    marks = []

    def observe(task, step):
        marks.append((None if step is None else step.op, time.perf_counter(), rss_bytes()))

    run.step_observer = observe
    gc.collect()
    gc.disable()
    try:
        run.execute()
    finally:
        gc.enable()
    if run.error is not None:
        raise RuntimeError(str(run.error))
    return run, marks


def build(nodes, events=(), trace_kb=1408, cpus=1):
    from memsim.machine import Machine, MachineSpec
    from memsim.plugin_host import collect_registries, get_plugin_manager
    from memsim.profiles import get_profile
    spec = MachineSpec(cpus=cpus, nodes=tuple(nodes), trace_buffer_kb=trace_kb)
    _, reg = collect_registries(get_plugin_manager(), get_profile(spec.kernel))
    if events:
        reg.enable(list(events))
    return Machine(spec, reg)


def fault_run(python: str, pages: int, events=(), noop_charge: bool = False,
              memcg: int = -1) -> dict:
    """One run of benchmarks/fault_bench.py with ``python`` (a process of its own); ``memcg``:
    the depth of the task's cgroup (-1: no memcg)."""
    import subprocess
    cmd = [python, os.path.join(HERE, "fault_bench.py"), "--pages", str(pages),
           "--events", ",".join(events)]
    if noop_charge:
        cmd.append("--noop-charge")
    if memcg >= 0:
        cmd += ["--memcg", str(memcg)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout)


def anon_faults(pages: int, events=(), noop_charge=False, repeat=3, baseline=None) -> dict:
    """The best of ``repeat`` runs (and of as many baseline runs, interleaved)."""
    best, best_base = None, None
    for _ in range(repeat):
        r = fault_run(sys.executable, pages, events, noop_charge)
        if best is None or r["faults_per_s"] > best["faults_per_s"]:
            best = r
        if baseline:
            b = fault_run(baseline, pages, events)
            if best_base is None or b["faults_per_s"] > best_base["faults_per_s"]:
                best_base = b
    if best_base is not None:
        best["baseline_faults_per_s"] = best_base["faults_per_s"]
    return best


def memory_per_frame(quick: bool) -> dict:
    """A 16 GiB machine with every frame in use: anonymous pages up to the low watermark,
    plus their page tables.  Host memory growth minus the page tables' host arrays, divided
    by the frames, is the metadata cost per frame (the trace buffers are untouched calloc
    memory with tracing off, so they cost nothing)."""
    from memsim import vm
    gib = 4 if quick else 16
    build([64 << 20])                  # imports and plugin loading are not per-frame costs
    gc.collect()
    base = rss_bytes()
    m = build([gib * GiB])
    built = rss_bytes()
    t = m.spawn("bench")
    m.set_current(t)
    zones = m.physmem.zones_info()
    total = sum(z["managed"] for z in zones)
    headroom = sum(z["high"] for z in zones)
    pages = (m.physmem.nr_free_pages() - headroom) * 510 // 512
    v = vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, "rw", "anon", totalram=total)
    progress, ret, _ = m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    if ret:
        raise RuntimeError(f"fault failed: {ret:#x} after {progress} pages")
    after = rss_bytes()
    frames = m.physmem.max_pfn
    used = frames - m.physmem.nr_free_pages() - m.physmem.nr_pcp_pages()
    pagetable_host = t.mm.pgtables_bytes + PAGE      # host arrays of the tables (+ pgd)
    metadata = after - base - pagetable_host
    return {"machine_gib": gib, "frames": frames, "frames_in_use": used,
            "rss_growth_bytes": after - base, "page_table_host_bytes": pagetable_host,
            "build_rss_bytes": built - base,
            "metadata_bytes_per_frame": metadata / frames,
            "struct_page_bytes": m.physmem.sizeof_page()}


def build_1tib() -> dict:
    from memsim.machine import Machine, MachineSpec
    t0 = time.perf_counter()
    m = Machine(MachineSpec(cpus=4, nodes=(512 * GiB, 512 * GiB)))
    dt = time.perf_counter() - t0
    return {"seconds": dt, "free_pages": m.physmem.nr_free_pages()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--only", choices=("core", "trace", "sweep", "reclaim", "pagecache", "hugetlb",
                                       "userfaultfd", "memcg", "swap", "kasan"),
                    help="run only the core, the trace, the sweep, the reclaim, the page-cache, "
                         "the hugetlb, the userfaultfd, the memcg, the swap or the KASAN benchmarks")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per fault, sweep and trace command figure (the best is kept)")
    ap.add_argument("--kernel", choices=("v5.14", "v6.18"), default="v6.18",
                    help="the kernel profile of the page-cache benchmark's machine")
    ap.add_argument("--baseline", metavar="PYTHON",
                    help="also run the fault benchmarks with this interpreter (another memsim "
                         "installation) and print the ratios")
    args = ap.parse_args(argv)
    results = {"host": platform.node(), "python": sys.version.split()[0], "faults": []}
    if args.only in (None, "core"):
        core_benchmarks(args, results)
    if args.only in (None, "trace"):
        results["trace"] = trace_benchmarks(args.quick, args.repeat)
    if args.only in (None, "sweep"):
        results["sweep"] = sweep_benchmarks(args.quick, args.repeat)
    if args.only in (None, "reclaim"):
        results["reclaim"] = reclaim_benchmarks(args.quick, args.repeat, args.baseline)
    if args.only in (None, "pagecache"):
        results["pagecache"] = pagecache_benchmarks(args.quick, args.repeat, args.kernel)
    if args.only in (None, "hugetlb"):
        results["hugetlb"] = hugetlb_benchmarks(args.quick, args.repeat, args.kernel)
    if args.only in (None, "userfaultfd"):
        results["userfaultfd"] = uffd_benchmarks(args.quick, args.repeat, args.kernel)
    if args.only in (None, "memcg"):
        results["memcg"] = memcg_benchmarks(args.quick, args.repeat)
    if args.only in (None, "swap"):
        results["swap"] = swap_benchmarks(args.quick, args.repeat)
    if args.only in (None, "kasan"):
        results["kasan"] = kasan_benchmarks(args.quick, args.repeat)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def reclaim_run(python: str, memory_mib: int, no_pressure: bool = False) -> dict:
    """One run of benchmarks/reclaim_bench.py with ``python`` (a process of its own)."""
    import subprocess
    cmd = [python, os.path.join(HERE, "reclaim_bench.py"), "--memory-mib", str(memory_mib)]
    if no_pressure:
        cmd.append("--no-pressure")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout)


def reclaim_command(repeat: int, python: str = None) -> dict:
    """``memsim run configs/bench/reclaim-file.yaml --show /proc/vmstat``, whole, best of
    ``repeat``: reclaimed pages (pgsteal_*) per second of the command; with ``python``, the
    ``memsim`` script next to that interpreter (another checkout)."""
    import re
    import subprocess
    from sweep_bench import memsim_command, REPO
    workload = os.path.join(REPO, "configs", "bench", "reclaim-file.yaml")
    best = None
    memsim = memsim_command() if python is None else [os.path.join(os.path.dirname(python), "memsim")]
    for _ in range(repeat):
        cmd = memsim + ["run", workload, "--show", "/proc/vmstat"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}")
        steal = sum(int(v) for v in re.findall(r"^pgsteal_(?:direct|kswapd) (\d+)$", r.stdout, re.M))
        host = float(re.search(r"([\d.]+) s on the host", r.stdout).group(1))
        if best is None or wall < best["seconds"]:
            best = {"command": "memsim run configs/bench/reclaim-file.yaml", "seconds": wall,
                    "run_seconds": host, "reclaimed": steal, "reclaimed_per_s": steal / wall,
                    "run_reclaimed_per_s": steal / host}
    return best


def reclaim_benchmarks(quick: bool, repeat: int, baseline=None) -> dict:
    sizes = [256] if quick else [256, 1024]
    rows = []
    print(f"\nreclaim: reading 4x the machine's memory through a file mapping (best of {repeat})")
    print(f"{'memory':>8} {'reclaimed/s':>14} {'pages read/s':>14} {'seconds':>8}   "
          f"{'no pressure, read/s':>19}" + ("   baseline reclaimed/s" if baseline else ""))
    for mib in sizes:
        best = max((reclaim_run(sys.executable, mib) for _ in range(repeat)),
                   key=lambda r: r["reclaimed_per_s"])
        ref = max((reclaim_run(sys.executable, mib, True) for _ in range(repeat)),
                  key=lambda r: r["pages_read_per_s"])
        best["no_pressure_pages_read_per_s"] = ref["pages_read_per_s"]
        line = (f"{mib:>5} MiB {best['reclaimed_per_s']:>14,.0f} {best['pages_read_per_s']:>14,.0f} "
                f"{best['seconds']:>8.3f}   {ref['pages_read_per_s']:>19,.0f}")
        if baseline:
            base = max((reclaim_run(baseline, mib) for _ in range(repeat)),
                       key=lambda r: r["reclaimed_per_s"])
            best["baseline_reclaimed_per_s"] = base["reclaimed_per_s"]
            line += (f"   {base['reclaimed_per_s']:>14,.0f} "
                     f"({best['reclaimed_per_s'] / base['reclaimed_per_s']:.2f}x)")
        rows.append(best)
        print(line)
    cmd = reclaim_command(repeat)
    out = {"in_run": rows, "command": cmd}
    runs = [("", cmd)]
    if baseline:
        out["baseline_command"] = reclaim_command(repeat, baseline)
        runs.append(("baseline ", out["baseline_command"]))
    for label, c in runs:
        print(f"whole command, {label}{c['command']}: {c['reclaimed']:,} pages reclaimed, "
              f"{c['reclaimed_per_s']:,.0f}/s of the command ({c['seconds']:.2f} s), "
              f"{c['run_reclaimed_per_s']:,.0f}/s of the run ({c['run_seconds']:.3f} s)")
    return out


def pagecache_run(python: str, size_mib: int, kernel: str = "v6.18") -> dict:
    """One run of benchmarks/pagecache_bench.py with ``python`` (a process of its own)."""
    import subprocess
    cmd = [python, os.path.join(HERE, "pagecache_bench.py"), "--size-mib", str(size_mib),
           "--kernel", kernel]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout)


def pagecache_benchmarks(quick: bool, repeat: int, kernel: str = "v6.18") -> dict:
    """The best of ``repeat`` runs of each figure (see pagecache_bench.py) on a ``kernel``
    machine."""
    size = 512 if quick else 4096
    runs = [pagecache_run(sys.executable, size, kernel) for _ in range(repeat)]
    best = {k: min(r[k] for r in runs) for k in ("read_s", "lookup_s", "truncate_s", "touch_s",
                                                  "rss_per_page")}
    d = {k: min(r["dict"][k] for r in runs) for k in ("insert_s", "lookup_s", "delete_s")}
    pages = runs[0]["pages"]
    faults, around = runs[0]["touch_faults"], runs[0]["touch_around"]
    print(f"\npage cache ({kernel}): a {size} MiB diskfs file ({pages:,} pages), each phase "
          f"workload steps timed in-run (best of {repeat}); a Python dict loop over the same "
          f"indices")
    print(f"{'':>10} {'page cache':>14} {'dict loop':>14} {'ratio':>7}")
    rows = {}
    for name, ours, theirs in (("read", best["read_s"], d["insert_s"]),
                               ("lookup", best["lookup_s"], d["lookup_s"]),
                               ("truncate", best["truncate_s"], d["delete_s"])):
        rows[name] = {"seconds": ours, "pages_per_s": pages / ours, "dict_seconds": theirs,
                      "dict_per_s": pages / theirs, "speedup": theirs / ours}
        print(f"{name:>10} {pages / ours:>12,.0f}/s {pages / theirs:>12,.0f}/s {theirs / ours:>6.2f}x")
    touch = {"seconds": best["touch_s"], "faults": faults, "pages_around": around,
             "faults_per_s": faults / best["touch_s"], "pages_per_s": pages / best["touch_s"]}
    print(f"fault-around: {faults:,} read faults mapped {pages:,} pages in {best['touch_s']:.3f} s: "
          f"{touch['faults_per_s']:,.0f} faults/s, {touch['pages_per_s']:,.0f} pages/s")
    print(f"host memory per cached page: {best['rss_per_page']:.1f} bytes")
    return {"kernel": kernel, "size_mib": size, "pages": pages, "phases": rows, "fault_around": touch,
            "rss_per_page": best["rss_per_page"]}


def hugetlb_run(python: str, pages: int, kernel: str, fault_gib: int = 16) -> dict:
    """One run of benchmarks/hugetlb_bench.py with ``python`` (a process of its own)."""
    import subprocess
    cmd = [python, os.path.join(HERE, "hugetlb_bench.py"), "--pages", str(pages), "--kernel", kernel,
           "--fault-gib", str(fault_gib)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout)


def live_resize(pages: int):
    """The reference: this machine's own kernel growing its 2 MiB pool by ``pages`` and
    shrinking it back (/proc/sys/vm/nr_hugepages), timed around the two writes.  Only as root,
    with an empty pool and no overcommit (nothing else is using huge pages); the pool is put
    back to 0 whatever happens.  None when that is not the case."""
    path = "/proc/sys/vm/nr_hugepages"
    try:
        if os.geteuid() != 0 or open(path).read().strip() != "0" \
                or open("/proc/sys/vm/nr_overcommit_hugepages").read().strip() != "0":
            return None
    except OSError:
        return None
    try:
        t0 = time.perf_counter()
        with open(path, "w") as f:
            f.write(str(pages))
        t1 = time.perf_counter()
        got = int(open(path).read())
        t2 = time.perf_counter()
        with open(path, "w") as f:
            f.write("0")
        t3 = time.perf_counter()
    finally:
        with open(path, "w") as f:
            f.write("0")
    return {"pages": got, "grow_s": t1 - t0, "shrink_s": t3 - t2}


def hugetlb_benchmarks(quick: bool, repeat: int, kernel: str = "v6.18") -> dict:
    """Pool resize by N pages and alloc_contig_range over 1 GiB of free huge pages (see
    hugetlb_bench.py), best of ``repeat``; next to them the live kernel's resize when this
    process may do it (root, empty pool)."""
    pages = 1000 if quick else 10000
    fault_gib = 2 if quick else 16
    runs = [hugetlb_run(sys.executable, pages, kernel, fault_gib) for _ in range(repeat)]
    rz = {k: min(r["resize"][k] for r in runs) for k in ("grow_s", "shrink_s", "command_s")}
    ct = {k: min(r["contig"][k] for r in runs) for k in ("with_hugepages_s", "plain_s")}
    replaced = runs[0]["contig"]["replaced"]
    live = [x for x in (live_resize(pages) for _ in range(repeat)) if x is not None]
    print(f"\nhugetlb ({kernel}): pool resize by {pages:,} pages, steps timed in-run (best of {repeat})")
    print(f"{'':>10} {'memsim':>16} {'this kernel':>16}")
    out = {"kernel": kernel, "pages": pages, "resize": {}, "command_s": rz["command_s"]}
    for name in ("grow", "shrink"):
        ours = rz[f"{name}_s"]
        # the live pool may stop short of ``pages`` (memory in use): its rate is of what it reached
        rate = max(x["pages"] / x[f"{name}_s"] for x in live) if live else None
        out["resize"][name] = {"seconds": ours, "pages_per_s": pages / ours, "live_pages_per_s": rate}
        live_text = f"{rate:>14,.0f}/s" if rate else f"{'-':>16}"
        print(f"{name:>10} {pages / ours:>14,.0f}/s {live_text}")
    if live and live[0]["pages"] != pages:
        print(f"(the live kernel's pool reached {live[0]['pages']:,} pages)")
    print(f"whole command (memsim run of the workload, in-process): {rz['command_s']:.3f} s")
    print(f"alloc_contig_range over 1 GiB: with {replaced} free huge pages to replace "
          f"{ct['with_hugepages_s'] * 1000:.1f} ms, plain free memory {ct['plain_s'] * 1000:.1f} ms")
    out["contig"] = {"replaced": replaced, "with_hugepages_s": ct["with_hugepages_s"], "plain_s": ct["plain_s"]}
    best = min((r["fault"] for r in runs), key=lambda f: f["fault_s"])
    print(f"faulting a {fault_gib} GiB MAP_HUGETLB mapping: {best['faults']:,} faults in "
          f"{best['fault_s'] * 1000:.1f} ms, {best['faults_per_s']:,.0f} faults/s, "
          f"{best['pages_per_s']:,.0f} pages/s; touched again {best['retouch_s'] * 1000:.1f} ms, "
          f"unmapped {best['munmap_s'] * 1000:.1f} ms")
    out["fault"] = best
    return out


def live_uffd_minor(pages: int, repeat: int):
    """The reference: benchmarks/uffd_minor.c built with gcc and run ``repeat`` times on this
    machine's kernel; (best seconds of the touch loop, best seconds of the whole program), or
    None with the reason when it cannot be built or run (no gcc, no userfaultfd)."""
    import shutil
    import subprocess
    import tempfile
    if shutil.which("gcc") is None:
        return None, "no gcc"
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "uffd_minor")
        r = subprocess.run(["gcc", "-O2", "-pthread", "-o", exe, os.path.join(HERE, "uffd_minor.c")],
                           capture_output=True, text=True)
        if r.returncode:
            return None, f"gcc failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}"
        loop, whole = None, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = subprocess.run([exe, str(pages)], capture_output=True, text=True)
            t1 = time.perf_counter()
            if r.returncode:
                return None, f"uffd_minor failed: {r.stderr.strip() or r.returncode}"
            s = float(r.stdout.split()[1])
            loop = s if loop is None else min(loop, s)
            whole = t1 - t0 if whole is None else min(whole, t1 - t0)
        return (loop, whole), ""


def memcg_benchmarks(quick: bool, repeat: int) -> dict:
    """Issue 15: the anonymous fault benchmark with the task in a 3-level cgroup tree (every
    page charged through the stock and three levels of page counters, every statistic through
    rstat) against the same run without memcg, interleaved, best of ``repeat`` (at least 5:
    this host's timings are bimodal); and the cost of one memory.stat read of a parent of 32
    cgroups on 32 CPUs, each child having changed a statistic by 31 pages on each CPU (the
    seed's case), with the change (rstat: the flush) and without it (the batched counters)."""
    pages = 200_000 if quick else 1_000_000
    n = max(repeat, 5)
    best = {}
    for _ in range(n):
        for depth in (-1, 3):
            r = fault_run(sys.executable, pages, memcg=depth)
            if depth not in best or r["seconds"] < best[depth]["seconds"]:
                best[depth] = r
    ratio = best[3]["seconds"] / best[-1]["seconds"]
    print(f"\nmemcg: {pages:,} anonymous faults (best of {n}, interleaved)")
    print(f"  without memcg:           {best[-1]['faults_per_s']:>12,.0f} faults/s")
    print(f"  in /l1/l2/l3 (cgroup v2): {best[3]['faults_per_s']:>12,.0f} faults/s  "
          f"({ratio:.2f}x the time; the target is 1.3x)")
    res = {"pages": pages, "without": best[-1]["faults_per_s"], "depth3": best[3]["faults_per_s"],
           "time_ratio": ratio, "stat_read": {}}
    sys.path.insert(0, os.path.join(HERE, ".."))
    from memsim.plugins.memcg.rstat import StatTree
    print("  memory.stat of a parent of 32 cgroups, 32 CPUs, +31 pages per cgroup and CPU:")
    for mode in ("exact", "batched"):
        tree = StatTree(32, ["pages"], 0, mode)
        root = tree.new_memcg()
        parent = tree.new_memcg(root)
        kids = [tree.new_memcg(parent) for _ in range(32)]
        for kid in kids:
            for cpu in range(32):
                tree.mod_memcg_state(kid, cpu, 0, 31)
        tree.reset_flush_work()
        t0 = time.perf_counter()
        tree.stat_flush_for_read(parent)
        value = tree.read(parent, 0)
        dt = time.perf_counter() - t0
        work = tree.flush_work()
        res["stat_read"][mode] = {"seconds": dt, "pages_shown": value, "work": work}
        print(f"    {'rstat (memcg-rstat on)' if mode == 'exact' else 'batched (off)':<24} "
              f"{dt * 1e6:>8.1f} us, shows {value:>6,} of {32 * 32 * 31:,} pages"
              f" ({work['nodes_visited']} nodes visited)")
    return res


def uffd_benchmarks(quick: bool, repeat: int, kernel: str = "v6.18") -> dict:
    """Minor faults per second through a declarative and a Python handler (uffd_bench.py, best
    of ``repeat`` fresh processes) and the whole ``memsim run configs/bench/uffd-minor.yaml``,
    each next to this kernel doing the same (uffd_minor.c)."""
    import subprocess
    from sweep_bench import memsim_command, REPO
    pages = 4096 if quick else 16384
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, os.path.join(HERE, "uffd_bench.py"), "--pages", str(pages),
                              "--kernel", kernel], check=True, capture_output=True, text=True, cwd=HERE)
        runs.append(json.loads(out.stdout))
    res = {"kernel": kernel, "pages": pages}
    live, why = live_uffd_minor(pages, repeat)
    print(f"\nuserfaultfd ({kernel}): {pages:,} minor faults, each served with UFFDIO_CONTINUE by a "
          f"monitor thread; the vCPU's touch timed in-run (best of {repeat})")
    print(f"{'':>12} {'memsim':>14} {'this kernel':>14} {'ratio':>7}")
    for name in ("declarative", "python"):
        best = min(r[name]["seconds"] for r in runs)
        rate = pages / best
        res[name] = {"seconds": best, "faults_per_s": rate}
        if live:
            res[name]["live_faults_per_s"] = pages / live[0]
            print(f"{name:>12} {rate:>12,.0f}/s {pages / live[0]:>12,.0f}/s {rate * live[0] / pages:>6.2f}x")
        else:
            print(f"{name:>12} {rate:>12,.0f}/s {'-':>14}   ({why})")
    # the whole command, as a user runs it
    workload = os.path.join(REPO, "configs", "bench", "uffd-minor.yaml")
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run(memsim_command() + ["run", workload], capture_output=True, text=True, cwd=str(REPO))
        dt = time.perf_counter() - t0
        if r.returncode:
            raise RuntimeError(f"memsim run {workload} failed: {r.stderr.strip()}")
        best = dt if best is None else min(best, dt)
    big = 65536
    live_big, _ = live_uffd_minor(big, repeat)
    res["command"] = {"faults": big, "seconds": best, "live_seconds": live_big[1] if live_big else None}
    ref = f", this kernel's uffd_minor {live_big[1]:.3f} s ({best / live_big[1]:.0f}x)" if live_big else ""
    print(f"memsim run configs/bench/uffd-minor.yaml ({big:,} minor faults), the whole command: "
          f"{best:.2f} s{ref}")
    gib = 1 if quick else 16
    out = subprocess.run([sys.executable, os.path.join(HERE, "uffd_bench.py"), "--migration-gib", str(gib),
                          "--kernel", kernel], check=True, capture_output=True, text=True, cwd=HERE)
    mig = json.loads(out.stdout)
    res["migration"] = mig
    print(f"configs/patch-uffd-minor.yaml with a {gib} GiB guest on hugetlbfs: {mig['host_s']:.1f} s on the "
          f"host (peak RSS {mig['rss_mib']:,.0f} MiB) for {mig['emulated_s']:.1f} s emulated; pause "
          f"{mig['pause_us'] / 1000:.2f} ms, {mig['stale_pages'] * 4096 / 2**30:.1f} GiB stale at the "
          f"switch-over, converged {mig['convergence_ms'] / 1000:.2f} s after the resume, "
          f"{mig['bytes_moved'] / 2**30:.1f} GiB moved, {mig['mismatches']} pages wrong")
    return res


def sweep_benchmarks(quick: bool, repeat: int) -> dict:
    import sweep_bench
    r = sweep_bench.run("0-99" if quick else "0-999", repeat)
    sweep_bench.report(r)
    return r


def trace_benchmarks(quick: bool, repeat: int = 3) -> dict:
    import trace_bench
    r = trace_bench.run(quick, repeat)
    t, d, e = r["text"], r["dat"], r["emitter"]
    print(f"\ntrace frontend, {t['input']['lines']:,} text lines from {t['input']['origin']}:")
    print(f"  text -> columns   {t['columns']['lines_per_s']:>12,.0f} lines/s  ({t['columns']['seconds']:.2f} s)"
          f"  {t['ratio_columns_vs_regex']:.1f}x the regex parser")
    print(f"  text -> records   {t['records']['lines_per_s']:>12,.0f} lines/s  ({t['records']['seconds']:.2f} s)"
          f"  {t['ratio_records_vs_regex']:.1f}x the regex parser")
    print(f"  regex parser      {t['regex']['lines_per_s']:>12,.0f} lines/s  ({t['regex']['seconds']:.2f} s)")
    for k, m in t["memory"].items():
        print(f"  streaming {m['bytes'] / 2**20:,.0f} MiB through stdin into column batches: "
              f"peak RSS {m['peak_rss'] / 2**20:.0f} MiB ({m['events']:,} events)")
    print(f"trace.dat (v7+zstd), {d['input']['events']:,} events from {d['input']['origin']}:")
    print(f"  dat -> columns    {d['columns']['events_per_s']:>12,.0f} events/s ({d['columns']['seconds']:.2f} s)"
          + (f"  {d['ratio_columns_vs_trace_cmd']:.1f}x trace-cmd report" if d.get("trace_cmd") else ""))
    print(f"  dat -> records    {d['records']['events_per_s']:>12,.0f} events/s ({d['records']['seconds']:.2f} s)"
          + (f"  {d['ratio_records_vs_trace_cmd']:.1f}x trace-cmd report" if d.get("trace_cmd") else ""))
    if d.get("trace_cmd"):
        tc = d["trace_cmd"]
        print(f"  trace-cmd report  {tc['events_per_s']:>12,.0f} events/s ({tc['seconds']:.2f} s)")
    else:
        print("  trace-cmd report  not installed (apt install trace-cmd)")
    print(f"text emitter: {e['lines_per_s']:,.0f} lines/s ({e['events']:,} events of memsim's own)")
    c = r["commands"]
    print(f"whole commands (a process each, output to /dev/null; best of {c['repeat']}; "
          f"TEXT {t['input']['lines']:,} lines, DAT {d['input']['events']:,} events):")
    for x in c["results"]:
        vs = f"  {x['vs_trace_cmd']:.2f}x trace-cmd report" if "vs_trace_cmd" in x else ""
        unit = x["unit"] + "/s"
        print(f"  {x['command']:<44} {x['lines_per_s']:>12,.0f} {unit:<8} ({x['seconds']:.2f} s){vs}")
    return r


def core_benchmarks(args, results) -> None:
    mem = memory_per_frame(args.quick)        # first, while the heap is fresh
    results["memory"] = mem
    print(f"host memory, {mem['machine_gib']} GiB machine, {mem['frames_in_use']} of {mem['frames']} "
          f"frames in use: {mem['metadata_bytes_per_frame']:.1f} bytes of metadata per frame "
          f"(struct page {mem['struct_page_bytes']} B; page tables {mem['page_table_host_bytes'] / 2**20:.1f} MiB "
          f"and trace buffers reported apart)")
    sizes = [1 << 18] if args.quick else [1 << 20, 1 << 22]
    base = " vs baseline" if args.baseline else ""
    print(f"\n{'pages':>9} {'tracing':<32} {'faults/s':>12} {'seconds':>8} {'events':>9} {'dropped':>8}{base}")
    rows = []
    for pages in sizes:
        for events, noop in (((), False), (("kmem:rss_stat", "kmem:mm_page_alloc"), False), ((), True)):
            if noop and args.baseline is None and pages != sizes[0] and args.quick:
                continue
            r = anon_faults(pages, events, noop, args.repeat, None if noop else args.baseline)
            results["faults"].append(r)
            label = ",".join(events) or ("off, no-op memcg charge" if noop else "off")
            ratio = ""
            if "baseline_faults_per_s" in r:
                ratio = f"   {r['faults_per_s'] / r['baseline_faults_per_s']:.3f}x ({r['baseline_faults_per_s']:,.0f}/s)"
            elif noop:
                plain = next(x for x in rows if x["pages"] == pages and not x["events"] and not x["noop_charge"])
                ratio = f"   {r['faults_per_s'] / plain['faults_per_s']:.3f}x without it"
            rows.append(r)
            print(f"{pages:>9} {label:<32} {r['faults_per_s']:>12,.0f} {r['seconds']:>8.3f} "
                  f"{r['events_written']:>9} {r['events_dropped']:>8}{ratio}")
    b = build_1tib()
    results["build_1tib"] = b
    print(f"1 TiB machine built in {b['seconds'] * 1000:.2f} ms")


# -- swap ------------------------------------------------------------------------------------------

def swap_run(python: str, pages: int, kernel: str, device: str = "zram") -> dict:
    """One run of benchmarks/swap_bench.py (a process of its own)."""
    import subprocess
    out = subprocess.run([python, os.path.join(HERE, "swap_bench.py"), "--pages", str(pages),
                          "--kernel", kernel, "--device", device],
                         check=True, capture_output=True, text=True, cwd=HERE).stdout
    return json.loads(out.strip().splitlines()[-1])


class LiveZram:
    """This machine's /dev/zram0 as a swap area for the live reference runs, put back after:
    entered only as root with zram0 unused (disksize 0) and no swap area on.  ``reason`` says
    why it cannot be used (then ``usable`` is False)."""

    def __init__(self, size_bytes: int):
        self.size = size_bytes
        self.usable, self.reason = False, ""
        if os.geteuid() != 0:
            self.reason = "not root"
        elif not os.path.exists("/sys/block/zram0/disksize"):
            self.reason = "no /dev/zram0"
        elif open("/sys/block/zram0/disksize").read().strip() != "0":
            self.reason = "zram0 is in use"
        elif len(open("/proc/swaps").read().splitlines()) > 1:
            self.reason = "a swap area is on already"
        else:
            self.usable = True

    def __enter__(self):
        import subprocess
        with open("/sys/block/zram0/disksize", "w") as f:
            f.write(str(self.size))
        subprocess.run(["mkswap", "/dev/zram0"], check=True, capture_output=True)
        subprocess.run(["swapon", "/dev/zram0"], check=True, capture_output=True)
        return self

    def __exit__(self, *exc):
        import subprocess
        subprocess.run(["swapoff", "/dev/zram0"], capture_output=True)
        with open("/sys/block/zram0/reset", "w") as f:
            f.write("1")
        return False


def build_c(name: str, d: str):
    """gcc -O2 benchmarks/NAME.c into ``d``: the executable, or (None, why)."""
    import shutil
    import subprocess
    if shutil.which("gcc") is None:
        return None, "no gcc"
    exe = os.path.join(d, name)
    r = subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, name + ".c")],
                       capture_output=True, text=True)
    if r.returncode:
        return None, f"gcc failed: {r.stderr.strip()[-200:]}"
    return exe, ""


def live_swap(pages: int, overcommit_pages: int, repeat: int):
    """The live kernel on /dev/zram0: (best pageout s, best swap-in s) of swap_pageout.c over
    ``pages`` pages, and the best whole-program seconds of its overcommit run (``touch``: written
    and read back) in a 256 MiB cgroup v1 memory cgroup; or None with the reason."""
    import subprocess
    import tempfile
    zram = LiveZram(pages * 4096 + (256 << 20))
    if not zram.usable:
        return None, zram.reason
    with tempfile.TemporaryDirectory() as d:
        exe, why = build_c("swap_pageout", d)
        if exe is None:
            return None, why
        best_out = best_in = best_over = None
        cg = "/sys/fs/cgroup/memory/memsim-swap-bench"
        with zram:
            for _ in range(repeat):
                r = subprocess.run([exe, str(pages)], capture_output=True, text=True)
                if r.returncode:
                    return None, f"swap_pageout failed: {r.stdout.strip()} {r.stderr.strip()}"
                f = r.stdout.split()
                best_out = min(best_out or 1e9, float(f[1]))
                best_in = min(best_in or 1e9, float(f[3]))
            if os.path.isdir(os.path.dirname(cg)):
                os.makedirs(cg, exist_ok=True)
                try:
                    with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
                        f.write(str(256 << 20))
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        r = subprocess.run(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec {exe} "
                                            f"{overcommit_pages} touch"], capture_output=True, text=True)
                        t1 = time.perf_counter()
                        if r.returncode == 0:
                            best_over = min(best_over or 1e9, t1 - t0)
                finally:
                    os.rmdir(cg)
        return (best_out, best_in, best_over), ""


def swap_benchmarks(quick: bool, repeat: int) -> dict:
    """Swap-out and swap-in rates (both profiles) next to the live kernel, and the overcommit
    workload as a whole command."""
    import subprocess
    import re
    pages = (1 << 17) if quick else (1 << 20)
    out = {"pages": pages, "memsim": {}}
    print(f"\nswap: {pages:,} anonymous pages to a zram swap device and back (best of {repeat}, in-run)")
    for kernel in ("v5.14", "v6.18"):
        best = None
        for _ in range(repeat):
            r = swap_run(sys.executable, pages, kernel)
            if best is None or r["swapout_s"] + r["swapin_s"] < best["swapout_s"] + best["swapin_s"]:
                best = r
        out["memsim"][kernel] = best
        print(f"  memsim {kernel}:  swap-out {best['swapout_per_s']:>12,.0f} pages/s   "
              f"swap-in {best['swapin_per_s']:>12,.0f} pages/s")
    over_pages = (512 << 20) // 4096
    live, why = live_swap(pages, over_pages, repeat)
    if live is None:
        print(f"  live kernel: not measured ({why})")
    else:
        out["live"] = {"swapout_s": live[0], "swapin_s": live[1], "overcommit_s": live[2]}
        print(f"  live kernel:   swap-out {pages / live[0]:>12,.0f} pages/s   "
              f"swap-in {pages / live[1]:>12,.0f} pages/s")
        v = out["memsim"]["v6.18"]
        print(f"  ratio (memsim v6.18 / live): swap-out {v['swapout_per_s'] * live[0] / pages:.2f}x, "
              f"swap-in {v['swapin_per_s'] * live[1] / pages:.2f}x")
    cfg = os.path.join(HERE, "..", "configs", "bench", "swap-overcommit.yaml")
    best, emulated = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "memsim.cli", "run", cfg], capture_output=True,
                           text=True, check=True)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
        m = re.search(r"time: ([0-9.]+) s emulated", r.stdout)
        emulated = float(m.group(1)) if m else None
    out["overcommit"] = {"host_s": best, "emulated_s": emulated,
                         "live_s": live[2] if live is not None else None}
    print(f"  memsim run configs/bench/swap-overcommit.yaml: {best:.2f} s host, "
          f"{emulated} s emulated" + (f"; the live kernel in a 256 MiB cgroup: {live[2]:.2f} s"
                                      if live is not None and live[2] else ""))
    return out


def kasan_run(what: str, kasan: bool, n: int) -> dict:
    import subprocess
    cmd = [sys.executable, os.path.join(HERE, "kasan_bench.py"), "--what", what,
           "--kasan", "on" if kasan else "off", "--n", str(n)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout)


def kasan_benchmarks(quick: bool, repeat: int) -> dict:
    """Checked accesses per second; the allocator and faults with KASAN off and on (interleaved,
    best of ``repeat``); the demo workload as whole commands."""
    import subprocess
    n_access = (1 << 19) if quick else (1 << 22)
    n = (1 << 17) if quick else (1 << 20)
    out = {}
    print(f"\nKASAN (software tags, v5.14; best of {repeat}, in-run)")
    best = None
    for _ in range(repeat):
        r = kasan_run("access", True, n_access)
        if best is None or r["tagged_s"] < best["tagged_s"]:
            best = r
    out["access"] = best
    print(f"  checked accesses: {best['tagged_per_s']:>14,.0f} loads/s through a tagged pointer, "
          f"{best['native_per_s']:>14,.0f}/s through a 0xFF one ({n_access:,} 8-byte loads)")
    for what, key, label in (("alloc", "kmalloc_s", "kmalloc"), ("fault", "touch_s", "faults")):
        sides = {False: None, True: None}
        for _ in range(repeat):
            for kasan in (False, True):
                r = kasan_run(what, kasan, n)
                if sides[kasan] is None or r[key] < sides[kasan][key]:
                    sides[kasan] = r
        out[what] = {"off": sides[False], "on": sides[True]}
        if what == "alloc":
            off, on = sides[False], sides[True]
            print(f"  kmalloc(64) x {n:,}: {off['kmalloc_per_s']:>12,.0f}/s off, {on['kmalloc_per_s']:>12,.0f}/s on "
                  f"({on['kmalloc_s'] / off['kmalloc_s']:.2f}x the time); kfree {off['kfree_per_s']:>12,.0f}/s off, "
                  f"{on['kfree_per_s']:>12,.0f}/s on ({on['kfree_s'] / off['kfree_s']:.2f}x)")
        else:
            off, on = sides[False], sides[True]
            print(f"  anonymous faults x {n:,}: {off['faults_per_s']:>12,.0f}/s off, "
                  f"{on['faults_per_s']:>12,.0f}/s on ({on['touch_s'] / off['touch_s']:.2f}x the time)")
    cfg = os.path.join(HERE, "..", "configs", "patch-kasan-tag-fe.yaml")
    for name, cmd in (("run", ["run", cfg]), ("compare", ["compare", cfg, "--patch", "kasan-tag-fe"])):
        t_best = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "memsim.cli"] + cmd, capture_output=True, text=True,
                           check=True)
            t = time.perf_counter() - t0
            t_best = t if t_best is None else min(t_best, t)
        out[f"demo_{name}_s"] = t_best
        print(f"  memsim {name} configs/patch-kasan-tag-fe.yaml: {t_best:.2f} s (the whole command)")
    return out


if __name__ == "__main__":
    sys.exit(main())

