"""hugetlb measurements, run in a process of their own by benchmarks/run.py (``--only hugetlb``).

    python benchmarks/hugetlb_bench.py --pages N [--fault-gib G] [--kernel v5.14]

Three workloads, each phase a workload step timed in-run (``Run.step_observer`` and
``time.perf_counter``):

1. **resize**: a machine with room for N huge pages plus 1 GiB writes N to
   /proc/sys/vm/nr_hugepages (N buddy allocations of order 9, one preemption point each, as
   set_max_huge_pages drops hugetlb_lock), then 0 (N pages back to buddy).
2. **alloc_contig_range**: an 8 GiB machine whose pool of 512 free huge pages fills 1 GiB
   of its Normal zone takes that GiB (alloc_contig_range with hugetlb-contig-dissolve: 512
   replacements, each an order-9 allocation outside the range plus a dissolve), gives it back,
   then takes its last GiB, plain free memory (the same call without huge pages: the cost of
   the scan, isolation and the take alone).
3. **fault**: a G GiB MAP_HUGETLB mapping (G x 512 huge pages, reserved at mmap) touched once per
   huge page: every fault goes through the plugin's C fault path (hugetlb_fault ->
   hugetlb_no_page -> alloc_huge_page); then the same range touched again (no fault: the leaves
   are there) and unmapped (each page back to the pool).  Faults/s and the base pages mapped/s.

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

MiB = 1 << 20


def run_timed(text: str):
    """benchmarks/run.py's run_timed (this script's directory)."""
    from run import run_timed as timed
    return timed(text, "hugetlb-bench.yaml")


def resize(pages: int, kernel: str) -> dict:
    mib = pages * 2 + 1024
    text = (f"machine: {{kernel: {kernel}, nodes: [{{memory: {mib} MiB}}]}}\n"
            "tasks:\n  - name: bench\n    steps:\n"
            f"      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: \"{pages}\"}}\n"
            f"      - read_file: {{path: /proc/sys/vm/nr_hugepages, expect: \"{pages}\\n\"}}\n"
            "      - write_file: {path: /proc/sys/vm/nr_hugepages, data: \"0\"}\n")
    t0 = time.perf_counter()
    run, marks = run_timed(text)
    total = time.perf_counter() - t0
    return {"pages": pages, "grow_s": marks[1][1] - marks[0][1], "shrink_s": marks[3][1] - marks[2][1],
            "command_s": total}


def contig(kernel: str) -> dict:
    machine = f"machine: {{kernel: {kernel}, nodes: [{{memory: 8192 MiB}}]}}\n"
    grow = "      - write_file: {path: /proc/sys/vm/nr_hugepages, data: \"512\"}\n"
    pool, inside, plain = _ranges(machine + "tasks:\n  - name: bench\n    steps:\n" + grow)
    text = (machine + "tasks:\n  - name: bench\n    steps:\n" + grow
            + f"      - alloc_contig_range: {{start: {pool:#x}, nr_pages: {GIB_PAGES}, name: pool}}\n"
            "      - free_contig_range: {name: pool}\n"
            f"      - alloc_contig_range: {{start: {plain:#x}, nr_pages: {GIB_PAGES}, name: plain}}\n"
            "      - free_contig_range: {name: plain}\n")
    run, marks = run_timed(text)
    replaced = run.machine.plugin_state["hugetlb"].contig.stats["replaced"]
    if replaced != inside:
        raise RuntimeError(f"{replaced} pages were replaced, not the {inside} of the pool's range")
    return {"range_pages": GIB_PAGES, "replaced": replaced, "pool_range": pool, "plain_range": plain,
            "with_hugepages_s": marks[2][1] - marks[1][1], "plain_s": marks[4][1] - marks[3][1]}


GIB_PAGES = 262144


def _ranges(text: str):
    """The 1 GiB range from the pool's lowest page (the pool fills the Normal zone from its first
    free block up), how many pool pages it holds, and the last GiB as the plain one (checked to
    hold no pool page), found by a run of the workload's first step."""
    run, _ = run_timed(text)
    pfns = run.machine.plugin_state["hugetlb"].default_hstate.freelist_pfns(0)
    start = min(pfns)
    inside = sum(1 for p in pfns if start <= p < start + GIB_PAGES)
    if inside < 500:
        raise RuntimeError(f"only {inside} pool pages are in [{start:#x}, +1 GiB)")
    plain = run.machine.physmem.max_pfn - GIB_PAGES
    if plain == start or any(plain <= p < plain + GIB_PAGES for p in pfns):
        raise RuntimeError("the last GiB holds pool pages")
    return start, inside, plain


def fault(gib: int, kernel: str) -> dict:
    pages = gib * 512
    text = (f"machine: {{kernel: {kernel}, nodes: [{{memory: {gib * 1024 + 512} MiB}}]}}\n"
            "tasks:\n  - name: bench\n    steps:\n"
            f"      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: \"{pages}\"}}\n"
            f"      - mmap: {{name: big, length: {gib} GiB, flags: [MAP_HUGETLB]}}\n"
            "      - touch: {vma: big, pattern: strided, stride: 2 MiB}\n"
            "      - touch: {vma: big, pattern: strided, stride: 2 MiB}\n"
            "      - munmap: {vma: big}\n"
            "      - expect: {meminfo: {HugePages_Free: " + str(pages) + "}}\n")
    run, marks = run_timed(text)
    faults = run.machine.mmcore.fault_counts_dict()["huge"]
    if faults != pages:
        raise RuntimeError(f"{faults} huge faults, not {pages}")
    first = marks[3][1] - marks[2][1]
    return {"gib": gib, "faults": faults, "fault_s": first, "faults_per_s": pages / first,
            "pages_per_s": pages * 512 / first, "retouch_s": marks[4][1] - marks[3][1],
            "munmap_s": marks[5][1] - marks[4][1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, required=True)
    ap.add_argument("--kernel", default="v6.18")
    ap.add_argument("--fault-gib", type=int, default=16)
    args = ap.parse_args(argv)
    out = {"kernel": args.kernel, "resize": resize(args.pages, args.kernel), "contig": contig(args.kernel),
           "fault": fault(args.fault_gib, args.kernel)}
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
