"""One reclaim-throughput measurement, run in a process of its own by benchmarks/run.py.

    python benchmarks/reclaim_bench.py --memory-mib M [--ratio 4] [--no-pressure] [--kernel v5.14]

Reads a file mapping (``mmap type: file``: a diskfs file, /mnt/disk/file; the core's built-in
page cache in a checkout from before the page-cache plugin) of ``ratio`` times the
machine's memory through MmCore.access() in chunks of 512 pages, the path a workload's touch
step takes; every page is a major fault into the page cache, and once free memory reaches the
min watermark each allocation goes through direct reclaim, which drops the oldest clean pages
(shrink_page_list: page_check_references, try_to_unmap through the reverse map,
__remove_mapping).  Timed inside the process; prints one JSON object with the reclaimed pages
per second (pgsteal over the read's time).

``--no-pressure`` reads the same number of pages on a machine big enough to hold them all: the
same faults without reclaim, the reference the reclaim figure sits next to.  It uses only API
memsim has had since reclaim began (Machine, vm.do_mmap, MmCore.access, PhysMem.vmstat; and
memsim.testing.with_page_cache where it exists), so run.py's ``--baseline`` can run the same
file with another checkout's interpreter.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time

PAGE = 4096
MiB = 1 << 20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory-mib", type=int, required=True)
    ap.add_argument("--ratio", type=int, default=4)
    ap.add_argument("--no-pressure", action="store_true")
    ap.add_argument("--kernel", default="v5.14")
    ap.add_argument("--quantum", type=int, default=512)
    args = ap.parse_args(argv)
    from memsim import vm
    from memsim.machine import Machine, MachineSpec
    from memsim.vmstat import vm_event_item as EV

    length = args.ratio * args.memory_mib * MiB
    mem = args.memory_mib * MiB if not args.no_pressure else length + length // 4 + 64 * MiB
    m = Machine(MachineSpec(cpus=1, nodes=(mem,), kernel=args.kernel), with_slab=False)
    try:                                # the file is on the page-cache plugin's disk
        from memsim.testing import with_page_cache
        with_page_cache(m)
    except ImportError:                 # a checkout from before it: the core's built-in file
        pass
    t = m.spawn("bench")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, length, "r", "file", totalram=total)
    core, mm, vs = m.mmcore, t.mm, m.physmem.vmstat
    pages = length // PAGE
    gc.disable()
    t0 = time.perf_counter()
    progress = 0
    while progress < pages:
        progress, ret, _ = core.access(mm, v, v.vm_start, v.vm_end, False, 0, PAGE, 0, progress,
                                       args.quantum)
        if ret:
            raise RuntimeError(f"fault failed: {ret:#x}")
    dt = time.perf_counter() - t0
    gc.enable()
    steal = vs.vm_event(EV.PGSTEAL_DIRECT) + vs.vm_event(EV.PGSTEAL_KSWAPD)
    scan = vs.vm_event(EV.PGSCAN_DIRECT) + vs.vm_event(EV.PGSCAN_KSWAPD)
    json.dump({"memory_mib": args.memory_mib, "ratio": args.ratio, "kernel": args.kernel,
               "no_pressure": args.no_pressure, "pages_read": pages, "seconds": dt,
               "reclaimed": steal, "scanned": scan, "reclaimed_per_s": steal / dt,
               "pages_read_per_s": pages / dt}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
