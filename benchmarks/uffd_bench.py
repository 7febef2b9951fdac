"""userfaultfd measurements, run in a process of their own by benchmarks/run.py
(``--only userfaultfd``).

    python benchmarks/uffd_bench.py --pages N [--kernel v5.14]

A shmem (memfd) guest of N pages is written through a second mapping, its first mapping
registered MINOR; a vCPU thread reads every page of it and a monitor thread serves each MINOR
fault with UFFDIO_CONTINUE -- the minor-fault round trip of a post-copy migration: the fault, the
message, the wake-up of the monitor, its read and ioctl, the wake-up of the vCPU and its retried
access.  Two monitors: the declarative ``uffd_serve`` step, and a Python handler (``monitor``
below, run by ``uffd_handler``).  The vCPU's touch step is timed in-run (``Run.step_observer``);
prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def workload(pages: int, kernel: str, handler: str) -> str:
    mib = pages * 4096 * 2 // (1 << 20) + 256
    mib += -mib % 4
    length = pages * 4096
    return (f"machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: {mib} MiB}}]}}\n"
            "tasks:\n  - name: vmm\n    steps:\n"
            "      - memfd_create: {name: f, memfd_name: guest}\n"
            f"      - ftruncate: {{fd: f, length: {length}}}\n"
            f"      - mmap: {{name: A, length: {length}, type: fd-shared, fd: f}}\n"
            f"      - mmap: {{name: B, length: {length}, type: fd-shared, fd: f}}\n"
            "      - touch: {vma: B, access: write}\n"
            "      - userfaultfd: {name: u, flags: [O_NONBLOCK, O_CLOEXEC]}\n"
            "      - uffdio_api: {uffd: u}\n"
            "      - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}\n"
            "      - clone:\n          thread: monitor\n          steps:\n"
            f"            - {handler}\n"
            "      - clone:\n          thread: vcpu\n          steps:\n"
            "            - touch: {vma: A, access: read}\n")


def monitor(m):
    """The Python handler: read one message, CONTINUE its page."""
    from memsim.plugins.userfaultfd.uapi import UFFD_PAGEFAULT_FLAG_MINOR
    while True:
        for msg in (yield from m.read(1)):
            if msg["event"] == "pagefault" and msg["flags"] & UFFD_PAGEFAULT_FLAG_MINOR:
                m.uffdio_continue(msg["address"] & ~4095, 4096)


def minor_faults(pages: int, kernel: str, handler: str) -> dict:
    from run import run_timed
    run, marks = run_timed(workload(pages, kernel, handler), "uffd-bench.yaml")
    touches = [i for i, m in enumerate(marks) if m[0] == "touch"]
    start = marks[touches[-1]][1]
    end = marks[-1][1]
    h = run.machine.plugin_state["userfaultfd"]
    if h.stats["minor"] != pages:
        raise RuntimeError(f"{h.stats['minor']} minor faults, expected {pages}")
    return {"faults": pages, "seconds": end - start, "faults_per_s": pages / (end - start),
            "emulated_s": run.machine.clock.now / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=16384)
    ap.add_argument("--kernel", default="v6.18")
    a = ap.parse_args()
    out = {"declarative": minor_faults(a.pages, a.kernel, "uffd_serve: {uffd: u, minor: continue}"),
           "python": minor_faults(a.pages, a.kernel,
                                  "uffd_handler: {uffd: u, python: 'uffd_bench:monitor'}")}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
