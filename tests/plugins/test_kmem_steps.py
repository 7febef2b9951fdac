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


@pytest.mark.parametrize("kernel, flag, printed", [
    ("v5.14", "__GFP_ATOMIC", "GFP_KERNEL|__GFP_ATOMIC"),       # bit 9 in 5.14, removed in 6.4
    ("v6.18", "__GFP_NO_OBJ_EXT", "GFP_KERNEL|__GFP_NO_OBJ_EXT"),  # bit 24 in 6.18
])
def test_gfp_names_are_read_with_the_machine_profile_table(kernel, flag, printed):
    text = WL.replace("machine: {", f"machine: {{kernel: {kernel}, ").replace(
        "size: 100}", f"size: 100, gfp: GFP_KERNEL|{flag}}}")
    run = run_text(text, events=("kmem:kmalloc",))
    assert run.error is None
    assert body(run)[0].split("gfp_flags=")[1].split()[0] == printed


def test_a_gfp_name_of_another_kernel_fails_at_its_key():
    text = WL.replace("machine: {", "machine: {kernel: v6.18, ").replace(
        "size: 100}", "size: 100, gfp: GFP_KERNEL|__GFP_ATOMIC}")
    run = run_text(text, events=())
    assert isinstance(run.error, WorkloadError)
    assert str(run.error) == ("test.yaml:5:44: '__GFP_ATOMIC' is not a gfp flag of kernel v6.18; "
                              "use the flags show_gfp_flags prints on v6.18")
