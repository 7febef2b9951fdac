"""vmscan:mm_shrink_slab_start / _end (include/trace/events/vmscan.h): the declarations per profile
against the live 6.18 kernel's format files, and the records do_shrink_slab emits."""
import re

import pytest

from memsim.testing import build_machine, trace_text
from memsim.testing import assert_format_is_the_live_kernels
from memsim.tracing.vmscan import shrink_slab_events

MiB = 1 << 20


@pytest.mark.parametrize("event", ["mm_shrink_slab_start", "mm_shrink_slab_end"])
def test_v618_format_equals_the_live_kernel(event):
    assert_format_is_the_live_kernels(shrink_slab_events("v6.18"), "vmscan", event)


def test_v514_gfp_flags_is_a_4_byte_gfp_t():
    d = {x.name: x for x in shrink_slab_events("v5.14")}["mm_shrink_slab_start"]
    assert [(f.name, f.offset, f.size) for f in d.fields] == [
        ("shr", 8, 8), ("shrink", 16, 8), ("nid", 24, 4), ("nr_objects_to_shrink", 32, 8),
        ("gfp_flags", 40, 4), ("cache_items", 48, 8), ("delta", 56, 8), ("total_scan", 64, 8),
        ("priority", 72, 4)]
    assert d.fields[4].ctype == "gfp_t"


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_do_shrink_slab_brackets_each_shrinker_with_start_and_end(kernel):
    m = build_machine(events=["vmscan:mm_shrink_slab_*"], kernel=kernel, cpus=1, nodes=(16 * MiB,))
    objects = [1000]

    def count(sc):
        return objects[0]

    def scan(sc):
        n = min(sc.nr_to_scan, objects[0])
        objects[0] -= n
        return n
    from memsim.shrinker import Shrinker
    s = Shrinker(count, scan, name="test_cache")
    m.shrinkers.register(s)
    m.shrinkers.py_shrink_slab(0xcc0, 0, 0)
    lines = [l.split(": ", 1)[1] for l in trace_text(m).splitlines()]
    assert len(lines) == 2
    start, end = lines
    # freeable 1000 at priority 0: delta 2000, total_scan min(2000, 2000); 15 batches of 128
    # scanned 1920, 80 left, deferred 80; the cache freed all 1000
    assert re.fullmatch(r"mm_shrink_slab_start: memsim_shrinker_scan\+0x0/0x80 [0-9a-f]{16}: nid: 0 "
                        r"objects to shrink 0 gfp_flags GFP_KERNEL cache items 1000 delta 2000 "
                        r"total_scan 2000 priority 0", start), start
    assert re.fullmatch(r"mm_shrink_slab_end: memsim_shrinker_scan\+0x0/0x80 [0-9a-f]{16}: nid: 0 "
                        r"unused scan count 0 new scan count 80 total_scan 80 last shrinker "
                        r"return val 1000", end), end
    assert start.split()[2] == end.split()[2]      # the same struct shrinker (hashed %p)


def test_a_shrinker_names_a_known_kernel_function_as_its_scan():
    m = build_machine(kernel="v6.18", cpus=1, nodes=(16 * MiB,))
    from memsim.shrinker import Shrinker
    m.shrinkers.register(Shrinker(len, len, name="sb-ext4", scan_symbol="super_cache_scan"))
    with pytest.raises(ValueError, match="no kernel text symbol"):
        m.shrinkers.register(Shrinker(len, len, name="x", scan_symbol="my_scan"))
    assert len(m.shrinkers) == 2                       # with the core's mm-shadow
