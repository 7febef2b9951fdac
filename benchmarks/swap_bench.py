"""swap measurements, run in a process of their own by benchmarks/run.py (``--only swap``).

    python benchmarks/swap_bench.py --pages N [--kernel v5.14] [--device zram|file]

A task writes N anonymous pages, pushes them out with one MADV_PAGEOUT (swap-out: add_to_swap,
try_to_unmap, swap_writepage, and on a synchronous zram device the page freed in the same pass)
and reads them back (swap-in: one major fault each, the zram path skipping the swap cache, or
the swap cache with cluster readahead on a file).  Both steps are timed in-run
(``Run.step_observer``); prints one JSON object with the pages/s of each.
"""
from __future__ import annotations

import argparse
import json
import sys


def workload(pages: int, kernel: str, device: str) -> str:
    mib = pages * 4096 // (1 << 20) + 512
    swap_mib = pages * 4096 // (1 << 20) + 64
    path = "/dev/zram0" if device == "zram" else "/mnt/disk/swapfile"
    return (f"machine: {{cpus: 1, kernel: {kernel}, nodes: [{{memory: {mib} MiB}}]}}\n"
            "tasks:\n  - name: app\n    steps:\n"
            f"      - mkswap: {{path: {path}, size: {swap_mib} MiB}}\n"
            f"      - swapon: {{path: {path}}}\n"
            f"      - mmap: {{name: heap, length: {pages * 4096}}}\n"
            "      - touch: {vma: heap}\n"
            "      - madvise: {vma: heap, advice: MADV_PAGEOUT}\n"
            "      - touch: {vma: heap, access: read}\n")


def rates(pages: int, kernel: str, device: str) -> dict:
    from run import run_timed
    from memsim.vmstat import ITEM_BY_NAME
    run, marks = run_timed(workload(pages, kernel, device), "swap-bench.yaml")
    ops = [m[0] for m in marks]
    i_out = ops.index("madvise")
    i_in = len(ops) - 1 - ops[::-1].index("touch")
    t_out = marks[i_out + 1][1] - marks[i_out][1]
    t_in = marks[-1][1] - marks[i_in][1]
    vs = run.machine.physmem.vmstat
    pswpout = vs.vm_event(ITEM_BY_NAME["pswpout"][1])
    pswpin = vs.vm_event(ITEM_BY_NAME["pswpin"][1])
    if pswpout != pages:
        raise RuntimeError(f"{pswpout} pages written to swap, expected {pages}")
    return {"pages": pages, "device": device, "kernel": kernel,
            "swapout_s": t_out, "swapout_per_s": pages / t_out,
            "swapin_s": t_in, "swapin_per_s": pages / t_in, "pswpin": pswpin,
            "emulated_ns": run.machine.clock.now}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1 << 20)
    ap.add_argument("--kernel", default="v6.18")
    ap.add_argument("--device", choices=("zram", "file"), default="zram")
    a = ap.parse_args()
    print(json.dumps(rates(a.pages, a.kernel, a.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
