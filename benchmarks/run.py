"""memsim benchmarks: one command, not part of the test suite.

    python benchmarks/run.py [--quick] [--json OUT]

Measures, inside the process (interpreter start and machine build excluded unless stated):
  1. anonymous write faults for 1M and 4M pages, tracing off and with kmem:rss_stat +
     kmem:mm_page_alloc on (targets: >= 5,000,000/s off, >= 3,000,000/s on);
  2. host memory per emulated frame for a 16 GiB machine fully touched (target <= 64 bytes of
     frame metadata per 4 KiB frame), reported apart from page tables and trace buffers;
  3. the time to build a 1 TiB machine (target: well under a second);
  4. the trace frontend (benchmarks/trace_bench.py): text and trace.dat parsing of ~1.1M events
     against a plain regex parser and the real ``trace-cmd report``, and the text emitter.

``--only core`` or ``--only trace`` runs one half.
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


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def build(nodes, events=(), trace_kb=1408, cpus=1):
    from memsim.machine import Machine, MachineSpec
    from memsim.plugin_host import collect_registries, get_plugin_manager
    from memsim.profiles import get_profile
    spec = MachineSpec(cpus=cpus, nodes=tuple(nodes), trace_buffer_kb=trace_kb)
    _, reg = collect_registries(get_plugin_manager(), get_profile(spec.kernel))
    if events:
        reg.enable(list(events))
    return Machine(spec, reg)


def anon_faults(pages: int, events=(), quantum: int = 512) -> dict:
    from memsim import vm
    # room for the pages, their page tables and the watermarks
    mem = ((pages * PAGE * 9 // 8) // (4 << 20) + 8) * (4 << 20)
    trace_kb = (pages * 48) // 1024 + 4096 if events else 1408
    m = build([mem], events, trace_kb)
    t = m.spawn("bench")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, "rw", "anon", totalram=total)
    core, mm = m.mmcore, t.mm
    gc.disable()
    t0 = time.perf_counter()
    progress = 0
    while progress < pages:
        progress, ret, _ = core.access(mm, v, v.vm_start, v.vm_end, True, 0, PAGE, 0, progress, quantum)
        if ret:
            raise RuntimeError(f"fault failed: {ret:#x}")
    dt = time.perf_counter() - t0
    gc.enable()
    faults = core.fault_counts_dict()["anon"]
    stats = m.tb.stats()
    return {"pages": pages, "events": list(events), "seconds": dt, "faults": faults,
            "faults_per_s": faults / dt, "events_written": sum(e for e, _ in stats),
            "events_dropped": sum(d for _, d in stats), "machine": m, "task": t}


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
    ap.add_argument("--only", choices=("core", "trace"), help="run only the core or the trace benchmarks")
    args = ap.parse_args(argv)
    results = {"host": platform.node(), "python": sys.version.split()[0], "faults": []}
    if args.only != "trace":
        core_benchmarks(args, results)
    if args.only != "core":
        results["trace"] = trace_benchmarks(args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def trace_benchmarks(quick: bool) -> dict:
    import trace_bench
    r = trace_bench.run(quick)
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
    return r


def core_benchmarks(args, results) -> None:
    mem = memory_per_frame(args.quick)        # first, while the heap is fresh
    results["memory"] = mem
    print(f"host memory, {mem['machine_gib']} GiB machine, {mem['frames_in_use']} of {mem['frames']} "
          f"frames in use: {mem['metadata_bytes_per_frame']:.1f} bytes of metadata per frame "
          f"(struct page {mem['struct_page_bytes']} B; page tables {mem['page_table_host_bytes'] / 2**20:.1f} MiB "
          f"and trace buffers reported apart)")
    sizes = [1 << 18] if args.quick else [1 << 20, 1 << 22]
    print(f"\n{'pages':>9} {'tracing':<32} {'faults/s':>12} {'seconds':>8} {'events':>9} {'dropped':>8}")
    for pages in sizes:
        for events in ((), ("kmem:rss_stat", "kmem:mm_page_alloc")):
            r = anon_faults(pages, events)
            r.pop("machine"), r.pop("task")
            results["faults"].append(r)
            print(f"{pages:>9} {','.join(events) or 'off':<32} {r['faults_per_s']:>12,.0f} "
                  f"{r['seconds']:>8.3f} {r['events_written']:>9} {r['events_dropped']:>8}")
            gc.collect()
    b = build_1tib()
    results["build_1tib"] = b
    print(f"1 TiB machine built in {b['seconds'] * 1000:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
