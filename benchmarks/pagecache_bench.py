"""Page-cache measurements, run in a process of their own by benchmarks/run.py (``--only pagecache``).

    python benchmarks/pagecache_bench.py --size-mib N [--kernel v6.18]

A workload on a machine with 1 GiB more memory than the file opens ``/mnt/disk/big`` (diskfs, the
page-cache plugin's disk), sizes it to N MiB with ftruncate (a sparse file: its reads need no
I/O), then, each phase one or more workload steps timed in-run (``Run.step_observer`` and
``time.perf_counter``):

1. **read**: ``read {fd, length}`` steps until the end of the file (one read(2) moves at most
   MAX_RW_COUNT, 2 GiB - 4 KiB, as on Linux): every page allocated, added to i_pages and the
   LRU and marked accessed, no bytes built (the length-only read);
2. **lookup**: the same with ``pread`` from offset 0: every page found in i_pages again;
3. **truncate**: ``ftruncate {fd, length: 0}``: every page unmapped, deleted and freed;
4. **fault-around**: the file read again, mapped (``mmap type: fd``) and touched in order: read
   faults of a cached file, each mapping the 16 pages of fault_around_bytes (faults/s, and the
   pages mapped per second).

Next to 1-3, a Python loop doing the same insert / lookup / delete on a dict of the same
indices (the target: the page cache at least 10x faster).  Host memory per cached page: the
process's RSS growth over the read, divided by the pages read.  Prints one JSON object.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

PAGE = 4096
MiB = 1 << 20
MAX_RW = 0x7ffff000


def workload(size: int, kernel: str) -> str:
    reads, preads, off = [], [], 0
    while off < size:
        n = min(size - off, MAX_RW)
        reads.append(f"      - read: {{fd: f, length: {n}}}\n")
        preads.append(f"      - pread: {{fd: f, offset: {off}, length: {n}}}\n")
        off += n
    machine_mib = size // MiB + 1024
    return (f"machine: {{kernel: {kernel}, nodes: [{{memory: {machine_mib} MiB}}]}}\n"
            "tasks:\n  - name: bench\n    steps:\n"
            "      - open: {path: /mnt/disk/big, name: f, flags: [O_RDWR, O_CREAT]}\n"
            f"      - ftruncate: {{fd: f, length: {size}}}\n"
            + "".join(reads) + "".join(preads)
            + "      - ftruncate: {fd: f, length: 0}\n"
            f"      - ftruncate: {{fd: f, length: {size}}}\n"
            + "".join(preads)
            + f"      - mmap: {{name: m, length: {size}, type: fd, fd: f, prot: r}}\n"
            "      - touch: {vma: m, access: read}\n")


def run_workload(size: int, kernel: str) -> dict:
    from run import run_timed                   # benchmarks/run.py: this script's directory
    run, marks = run_timed(workload(size, kernel), "pagecache-bench.yaml")
    ops = [op for op, _, _ in marks]
    # the steps: open, ftruncate, read*k, pread*k, ftruncate 0, ftruncate size, pread*k (the
    # file cached again for the faults), mmap, touch, and the end mark
    k = (size + MAX_RW - 1) // MAX_RW
    i_read = 2
    i_lookup = i_read + k
    i_trunc = i_lookup + k
    i_touch = len(ops) - 2
    assert ops[i_read] == "read" and ops[i_lookup] == "pread" and ops[i_trunc] == "ftruncate", ops
    assert ops[i_touch] == "touch", ops

    def span(a, b):
        return marks[b][1] - marks[a][1]

    faults = run.machine.mmcore.fault_counts_dict()
    pages = size // PAGE
    return {
        "pages": pages,
        "read_s": span(i_read, i_lookup),
        "lookup_s": span(i_lookup, i_trunc),
        "truncate_s": span(i_trunc, i_trunc + 1),
        "touch_s": span(i_touch, i_touch + 1),
        "rss_per_page": (marks[i_lookup][2] - marks[i_read][2]) / pages,
        "touch_faults": faults["file_read"],
        "touch_around": faults["fault_around"],
    }


def dict_baseline(pages: int) -> dict:
    """The same inserts, lookups and deletes of ``pages`` indices on a dict, in a Python loop."""
    gc.collect()
    gc.disable()
    d = {}
    t0 = time.perf_counter()
    for i in range(pages):
        d[i] = i
    t1 = time.perf_counter()
    for i in range(pages):
        d[i]
    t2 = time.perf_counter()
    for i in range(pages):
        del d[i]
    t3 = time.perf_counter()
    gc.enable()
    return {"insert_s": t1 - t0, "lookup_s": t2 - t1, "delete_s": t3 - t2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, required=True)
    ap.add_argument("--kernel", default="v6.18")
    args = ap.parse_args(argv)
    size = args.size_mib * MiB
    r = run_workload(size, args.kernel)
    r["dict"] = dict_baseline(r["pages"])
    r["size_mib"] = args.size_mib
    json.dump(r, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
