"""The kmem plugin's kmalloc/kfree steps and their events (tracepoints.md scenarios 15 and the
large-kfree ordering of section 10)."""
import textwrap

import pytest

from memsim.errors import WorkloadError
from memsim.testing import run_text, trace_text

WL = textwrap.dedent("""\
    machine: {nodes: [{memory: 64 MiB}]}
    tasks:
      - name: drv
        steps:
          - kmalloc: {name: a, size: 100}
          - kmalloc: {name: big, size: 12 KiB}
          - kfree: {name: big}
          - kfree: {name: a}
    """)


def body(run):
    return [l.split(": ", 1)[1] for l in trace_text(run).splitlines()]


def test_scenario_15_kmalloc_100_takes_a_128_byte_slot():
    run = run_text(WL, events=("kmem:kmalloc",))
    assert run.error is None
    first = body(run)[0]
    assert first.startswith("kmalloc: call_site=workload_kmalloc+0x")
    assert "bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL" in first


def test_large_kmalloc_uses_the_page_allocator_and_kfree_comes_first():
    run = run_text(WL, events=("kmem:kmalloc", "kmem:kfree", "kmem:mm_page_alloc", "kmem:mm_page_free"))
    lines = body(run)
    big = next(i for i, l in enumerate(lines) if "bytes_req=12288" in l)
    assert "bytes_alloc=16384" in lines[big]
    assert lines[big - 1].startswith("mm_page_alloc:") and "order=2" in lines[big - 1]
    assert "__GFP_COMP" in lines[big - 1] and "__GFP_COMP" not in lines[big]
    kf = [i for i, l in enumerate(lines) if l.startswith("kfree:")]
    assert lines[kf[0] + 1].startswith("mm_page_free:") and "order=2" in lines[kf[0] + 1]


def test_unknown_gfp_flag_is_a_located_error():
    text = WL.replace("size: 100}", "size: 100, gfp: GFP_KERNAL}")
    with pytest.raises(WorkloadError) as e:
        run_text(text)
    assert "test.yaml:5:" in str(e.value) and "did you mean 'GFP_KERNEL'" in str(e.value)
