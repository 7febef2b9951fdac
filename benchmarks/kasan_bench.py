"""KASAN measurements, run in a process of their own by benchmarks/run.py (``--only kasan``).

    python benchmarks/kasan_bench.py --what access|alloc|fault --kasan on|off [--n N]

``access``: one ``access`` step of N 8-byte loads of one word of a kmalloc'd 4 KiB buffer
through its tagged pointer (``count``: a loop, every load checked by kasan_check_range in C), and
N loads through a 0xFF pointer (the match-all early exit); ``alloc``: a ``kmalloc`` step of N
64-byte objects and the ``kfree`` of them (tagging, redzones, the alloc and free tracks);
``fault``: N anonymous write faults (every page tagged by the page allocator's hook).  Each
step is timed in-run (``Run.step_observer``); prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys

MACHINE = "machine: {{cpus: 1, kernel: v5.14, nodes: [{{memory: {mib} MiB}}]}}\n"


def workload(what: str, kasan: bool, n: int) -> str:
    mib = 512 if what != "fault" else n * 4096 // (1 << 20) + 256
    text = MACHINE.format(mib=mib)
    if kasan:
        text += "kasan: {mode: sw_tags, tags_identify: true}\n"
    text += "tasks:\n  - name: t\n    steps:\n"
    if what == "access":
        text += ("      - kmalloc: {name: buf, size: 4096}\n"
                 f"      - access: {{object: buf, size: 8, count: {n}, stride: 0}}\n"
                 f"      - access: {{object: buf, size: 8, count: {n}, stride: 0, tag: 0xff}}\n")
    elif what == "alloc":
        text += (f"      - kmalloc: {{name: objs, size: 64, count: {n}}}\n"
                 "      - kfree: {name: objs}\n")
    else:
        text += (f"      - mmap: {{name: heap, length: {n * 4096}}}\n"
                 "      - touch: {vma: heap}\n")
    return text


def measure(what: str, kasan: bool, n: int) -> dict:
    from run import run_timed
    run, marks = run_timed(workload(what, kasan, n), "kasan-bench.yaml")
    span = [(marks[i][0], marks[i + 1][1] - marks[i][1]) for i in range(len(marks) - 1)]
    out = {"what": what, "kasan": kasan, "n": n}
    if what == "access":
        tagged, native = [t for op, t in span if op == "access"]
        st = run.machine.plugin_state.get("kasan")
        if st is not None and st.reporter.reports:
            raise RuntimeError("the benchmark's accesses were reported")
        out.update(tagged_s=tagged, tagged_per_s=n / tagged, native_s=native, native_per_s=n / native)
    elif what == "alloc":
        kmalloc = next(t for op, t in span if op == "kmalloc")
        kfree = next(t for op, t in span if op == "kfree")
        out.update(kmalloc_s=kmalloc, kmalloc_per_s=n / kmalloc, kfree_s=kfree, kfree_per_s=n / kfree)
    else:
        touch = next(t for op, t in span if op == "touch")
        out.update(touch_s=touch, faults_per_s=n / touch)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", choices=("access", "alloc", "fault"), required=True)
    ap.add_argument("--kasan", choices=("on", "off"), default="on")
    ap.add_argument("--n", type=int, default=1 << 20)
    a = ap.parse_args()
    print(json.dumps(measure(a.what, a.kasan == "on", a.n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
