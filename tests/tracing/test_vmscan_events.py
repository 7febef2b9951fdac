"""vmscan:mm_vmscan_direct_reclaim_begin/_end (include/trace/events/vmscan.h): declarations per
profile against the live 6.18 kernel's format files, and the records direct reclaim emits."""
import re
from pathlib import Path

import pytest

from memsim import vm
from memsim.testing import build_machine, trace_text
from memsim.tracing.events import EventRegistry
from memsim.tracing.formatfile import format_file
from memsim.tracing.vmscan import vmscan_events

MiB = 1 << 20
CATALOG = Path(__file__).resolve().parents[2] / "tracing" / "catalog" / "v6.18" / "vmscan"


def drop_id(text):
    return re.sub(r"^ID: \d+\n", "", text, flags=re.M)


@pytest.mark.parametrize("event", ["mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end"])
def test_v618_format_equals_the_live_kernel(event):
    reg = EventRegistry()
    for d in vmscan_events("v6.18"):
        reg.add(d)
    ours = drop_id(format_file(reg.get(f"vmscan:{event}"), 1))
    assert ours == drop_id((CATALOG / event / "format").read_text())
    try:
        live = Path(f"/sys/kernel/tracing/events/vmscan/{event}/format").read_text()
    except OSError:
        return
    assert ours == drop_id(live)


def test_v514_gfp_flags_is_a_4_byte_gfp_t():
    d = {x.name: x for x in vmscan_events("v5.14")}["mm_vmscan_direct_reclaim_begin"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in d.fields] == [
        ("int", "order", 8, 4), ("gfp_t", "gfp_flags", 12, 4)]


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_page_cache_fault_under_pressure_brackets_its_reclaim(kernel):
    m = build_machine(events=["vmscan:*"], kernel=kernel, cpus=1, nodes=(32 * MiB,))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    lines = [l.split(": ", 1)[1] for l in trace_text(m).splitlines() if "mm_vmscan_direct" in l]
    assert lines and len(lines) % 2 == 0
    # a page-cache page: GFP_HIGHUSER_MOVABLE (plus 5.14's __GFP_SKIP_KASAN_POISON bit)
    assert lines[0].startswith("mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE")
    ends = [int(l.rsplit("=", 1)[1]) for l in lines[1::2]]
    assert all(l.startswith("mm_vmscan_direct_reclaim_end: nr_reclaimed=") for l in lines[1::2])
    assert all(n >= 32 for n in ends)
