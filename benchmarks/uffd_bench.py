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


def migration(gib: int, kernel: str) -> dict:
    """configs/patch-uffd-minor.yaml with a ``gib`` GiB guest on hugetlbfs (2 MiB pages), as a
    user runs it (machine build included): host seconds, emulated pause and convergence."""
    import os
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(here, "..", "configs", "patch-uffd-minor.yaml")).read()
    text = text.replace("x-guest: &guest 1 GiB", f"x-guest: &guest {gib} GiB")
    text = re.sub(r"nodes: \[\{memory: \d+ GiB\}\]", f"nodes: [{{memory: {2 * gib + 2} GiB}}]", text)
    text = text.replace("kernel: v6.18", f"kernel: {kernel}, hugepages: \"{gib * 512 + 4}\"")
    text = text.replace("{name: f, memfd_name: guest-ram}", "{name: f, memfd_name: guest-ram, flags: [MFD_HUGETLB]}")
    from memsim.plugin_host import get_plugin_manager
    from memsim.workload.runner import Run
    from memsim.workload.variant import Host, WorkloadSource
    t0 = time.perf_counter()
    host = Host(pm=get_plugin_manager())
    prepared = host.prepare(WorkloadSource("uffd-migration.yaml", text), events=[])
    run = Run(prepared.workload, prepared.registries, prepared.events, host.pm, check=False)
    run.execute()
    dt = time.perf_counter() - t0
    if run.error is not None:
        raise RuntimeError(str(run.error))
    m = run.machine.plugin_state["userfaultfd.migrations"]["mig"]
    return {"gib": gib, "host_s": dt, "pause_us": (m.resumed_at - m.pause_start) / 1000,
            "convergence_ms": (m.converged_at - m.resumed_at) / 1e6, "stale_pages": m.stats["postcopy_pages"],
            "bytes_moved": m.bytes_moved, "emulated_s": run.machine.clock.now / 1e9,
            "mismatches": m.stats["mismatches"], "rss_mib": rss_mib()}


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=16384)
    ap.add_argument("--kernel", default="v6.18")
    ap.add_argument("--migration-gib", type=int, default=0,
                    help="instead: the live-migration demo with a guest of this many GiB")
    a = ap.parse_args()
    if a.migration_gib:
        json.dump(migration(a.migration_gib, a.kernel), sys.stdout)
        return
    out = {"declarative": minor_faults(a.pages, a.kernel, "uffd_serve: {uffd: u, minor: continue}"),
           "python": minor_faults(a.pages, a.kernel,
                                  "uffd_handler: {uffd: u, python: 'uffd_bench:monitor'}")}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
