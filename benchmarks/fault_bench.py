"""One fault-throughput measurement, run in a process of its own by benchmarks/run.py.

    python benchmarks/fault_bench.py --pages N [--events kmem:rss_stat,...] [--noop-charge]
                                     [--memcg DEPTH]

Anonymous write faults over an N-page mapping through MmCore.access() in chunks of 512 pages
(the path a workload's touch step takes, with its returns to Python), timed inside the process;
prints one JSON object.  It uses only API that memsim has had since its first release (Machine,
vm.do_mmap, MmCore.access), so run.py can run the very same file with another checkout's
interpreter (``--baseline``) and compare the two side by side.

``--noop-charge`` installs the Cython test plugin's memcg charge/uncharge (they only count):
the cost of a per-page ops-table call (tests/plugins/opscount, built with
memsim.testing.build_extension into benchmarks/results/).

``--memcg DEPTH`` installs the memcg plugin (cgroup v2) and runs the faulting task in a cgroup
DEPTH levels below the root (/l1/l2/...), so every page is charged through the stock and the
page counters of each level and every statistic goes through rstat (issue 15's benchmark: within
1.3x of the time without memcg).  It is new API: ``--baseline`` runs only without it.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

PAGE = 4096
HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, required=True)
    ap.add_argument("--events", default="")
    ap.add_argument("--noop-charge", action="store_true")
    ap.add_argument("--quantum", type=int, default=512)
    ap.add_argument("--memcg", type=int, default=-1, help="cgroup depth of the task (-1: no memcg)")
    args = ap.parse_args(argv)
    from memsim import vm
    from memsim.machine import Machine, MachineSpec
    from memsim.plugin_host import collect_registries, get_plugin_manager
    from memsim.profiles import get_profile

    events = [e for e in args.events.split(",") if e]
    mem = ((args.pages * PAGE * 9 // 8) // (4 << 20) + 8) * (4 << 20)
    trace_kb = (args.pages * 48) // 1024 + 4096 if events else 1408
    spec = MachineSpec(cpus=1, nodes=(mem,), trace_buffer_kb=trace_kb)
    _, reg = collect_registries(get_plugin_manager(), get_profile(spec.kernel))
    if events:
        reg.enable(events)
    m = Machine(spec, reg)
    counter = None
    if args.noop_charge:
        from memsim.testing import build_extension
        mod = build_extension(os.path.join(HERE, "..", "tests", "plugins", "opscount", "opscount.pyx"),
                              os.path.join(HERE, "results", "build"))
        counter = mod.OpsCounter()
        counter.install(m, -1, True)
    t = m.spawn("bench")
    m.set_current(t)
    if args.memcg >= 0:
        _memcg(m, t, args.memcg)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, args.pages * PAGE, "rw", "anon", totalram=total)
    core, mm = m.mmcore, t.mm
    gc.disable()
    t0 = time.perf_counter()
    progress = 0
    while progress < args.pages:
        progress, ret, _ = core.access(mm, v, v.vm_start, v.vm_end, True, 0, PAGE, 0, progress,
                                       args.quantum)
        if ret:
            raise RuntimeError(f"fault failed: {ret:#x}")
    dt = time.perf_counter() - t0
    gc.enable()
    faults = core.fault_counts_dict()["anon"]
    stats = m.tb.stats()
    out = {"pages": args.pages, "events": events, "noop_charge": args.noop_charge,
           "seconds": dt, "faults": faults, "faults_per_s": faults / dt,
           "events_written": sum(e for e, _ in stats), "events_dropped": sum(d for _, d in stats)}
    if counter is not None:
        out["charges"] = counter.counts_dict()["memcg.charge"]
    if args.memcg >= 0:
        out["memcg_depth"] = args.memcg
        out["memcg_charges"] = m.plugin_state["memcg"].host.nr_charges
    json.dump(out, sys.stdout)
    return 0


def _memcg(m, task, depth: int) -> None:
    """The memcg plugin's controller on the machine (as its memsim_machine_created builds it,
    without the mount) and ``task`` in /l1/.../lDEPTH."""
    from memsim.plugins.memcg import CHARGE_BATCH, RSTAT_MODE
    from memsim.plugins.memcg.cgroupfs import Hierarchy
    from memsim.plugins.memcg.memcontrol import MemcgHost, state_units
    from memsim.plugins.memcg.rstat import StatTree
    from memsim.vmstat import VM_EVENT_NAMES
    prof = m.profile
    tree = StatTree(m.physmem.ncpus, state_units(), len(VM_EVENT_NAMES), RSTAT_MODE[prof],
                    charge_batch=CHARGE_BATCH[prof])
    host = MemcgHost(m.physmem, tree, charge_batch=CHARGE_BATCH[prof])
    host.install()
    h = Hierarchy(m, host, 2, prof)
    m.plugin_state["memcg"] = h
    cg = h.root
    for level in range(depth):
        cg = h.mkdir(cg, f"l{level + 1}")
        if level + 1 < depth:
            cg.subtree_control.add("memory")        # cgroup.subtree_control: +memory
    h.fork(None, task)
    h.attach(task, cg)


if __name__ == "__main__":
    sys.exit(main())
