"""The vmscan events (include/trace/events/vmscan.h): declarations per profile against the live
6.18 kernel's format files (tracing/catalog/v6.18/vmscan, copied from
/sys/kernel/tracing/events/vmscan), and the records direct reclaim and kswapd emit."""
import re

import pytest

from memsim import vm
from memsim.testing import with_page_cache, build_machine, trace_text
from memsim.testing import assert_format_is_the_live_kernels
from memsim.tracing.vmscan import vmscan_events

MiB = 1 << 20


EMITTED = ["mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end",
           "mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep", "mm_vmscan_wakeup_kswapd",
           "mm_vmscan_lru_isolate", "mm_vmscan_lru_shrink_inactive", "mm_vmscan_lru_shrink_active"]


@pytest.mark.parametrize("event", EMITTED)
def test_v618_format_equals_the_live_kernel(event):
    assert_format_is_the_live_kernels(vmscan_events("v6.18"), "vmscan", event)


def test_v514_gfp_flags_is_a_4_byte_gfp_t():
    d = {x.name: x for x in vmscan_events("v5.14")}["mm_vmscan_direct_reclaim_begin"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in d.fields] == [
        ("int", "order", 8, 4), ("gfp_t", "gfp_flags", 12, 4)]


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_page_cache_fault_under_pressure_brackets_its_reclaim(kernel):
    m = with_page_cache(build_machine(events=["vmscan:*"], kernel=kernel, cpus=1, nodes=(32 * MiB,)))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    lines = [l.split(": ", 1)[1] for l in trace_text(m).splitlines() if "mm_vmscan_direct" in l]
    assert lines and len(lines) % 2 == 0
    # a page-cache page: GFP_HIGHUSER_MOVABLE (plus 5.14's __GFP_SKIP_KASAN_POISON bit); v6.18
    # reads it in through readahead: readahead_gfp_mask() without __GFP_FS
    # (tests/core/probes/user_page_gfp.txt, file_read)
    gfp = "GFP_HIGHUSER_MOVABLE" if kernel == "v5.14" else \
        "GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL"
    assert lines[0].startswith("mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=" + gfp)
    ends = [int(l.rsplit("=", 1)[1]) for l in lines[1::2]]
    assert all(l.startswith("mm_vmscan_direct_reclaim_end: nr_reclaimed=") for l in lines[1::2])
    assert all(n >= 32 for n in ends)


def test_v514_lru_isolate_has_isolate_mode_and_wakeup_a_4_byte_gfp():
    d = {x.name: x for x in vmscan_events("v5.14")}
    iso = d["mm_vmscan_lru_isolate"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in iso.fields][-2:] == [
        ("isolate_mode_t", "isolate_mode", 48, 4), ("int", "lru", 52, 4)]
    assert iso.print_fmt.startswith('"isolate_mode=%d classzone=%d order=%d ')
    assert iso.print_fmt.split('", ')[1].startswith("REC->isolate_mode, REC->highest_zoneidx, ")
    wake = d["mm_vmscan_wakeup_kswapd"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in wake.fields][-1] == ("gfp_t", "gfp_flags", 20, 4)
    # the other four are as on 6.18
    six = {x.name: x for x in vmscan_events("v6.18")}
    for name in ("mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep", "mm_vmscan_lru_shrink_inactive",
                 "mm_vmscan_lru_shrink_active"):
        assert d[name].fields == six[name].fields and d[name].print_fmt == six[name].print_fmt


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_direct_reclaim_records_its_lru_scan(kernel):
    # no kswapd on a bare machine: the fault reclaims for itself, isolate and shrink_inactive
    # records in between begin and end, nr_reclaimed adding up to what end says
    m = with_page_cache(build_machine(events=["vmscan:*"], kernel=kernel, cpus=1, nodes=(32 * MiB,)))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 40 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    lines = [l.split(": ", 1)[1] for l in trace_text(m).splitlines()]
    begin = lines.index(next(l for l in lines if l.startswith("mm_vmscan_direct_reclaim_begin")))
    end = lines.index(next(l for l in lines if l.startswith("mm_vmscan_direct_reclaim_end")))
    inner = lines[begin + 1:end]
    assert inner and all(l.startswith(("mm_vmscan_lru_isolate:", "mm_vmscan_lru_shrink_inactive:"))
                         for l in inner)
    got = sum(int(re.search(r" nr_reclaimed=(\d+)", l).group(1)) for l in inner
              if l.startswith("mm_vmscan_lru_shrink_inactive"))
    assert got == int(lines[end].rsplit("=", 1)[1])
    iso = inner[0]
    mode = "isolate_mode=0 " if kernel == "v5.14" else ""
    # direct reclaim at DEF_PRIORITY scans the inactive file list >> 12: one batch of what is
    # there (the fault's gfp_zone is ZONE_MOVABLE, empty or not: classzone=3)
    assert re.fullmatch(mode + r"mm_vmscan_lru_isolate: classzone=3 order=0 nr_requested=(\d+) "
                        r"nr_scanned=\1 nr_skipped=0 nr_taken=\1 lru=inactive_file", iso.replace(
                            "mm_vmscan_lru_isolate: isolate_mode=0 ", "isolate_mode=0 mm_vmscan_lru_isolate: "))
    assert inner[1].endswith(" priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC")


# -- pageout()'s event: vmscan:mm_vmscan_writepage (v5.14) / mm_vmscan_write_folio (v6.18) --------

def test_v618_write_folio_format_equals_the_live_kernel():
    assert_format_is_the_live_kernels(vmscan_events("v6.18"), "vmscan", "mm_vmscan_write_folio")


def test_v514_names_it_writepage_with_the_same_layout():
    names = {d.name: d for d in vmscan_events("v5.14")}
    assert "mm_vmscan_write_folio" not in names
    d = names["mm_vmscan_writepage"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in d.fields] == [
        ("unsigned long", "pfn", 8, 8), ("int", "reclaim_flags", 16, 4)]
    assert d.core_slot == 22


def test_kswapd_writing_a_dirty_file_page_emits_writepage():
    """v5.14: RECLAIM_WB_FILE|RECLAIM_WB_ASYNC for a file page kswapd writes (pageout)."""
    m = with_page_cache(build_machine(events=["vmscan:mm_vmscan_writepage"], kernel="v5.14", cpus=1,
                      nodes=(32 * MiB,)))
    t = m.spawn("app")
    m.set_current(t)
    m.vmscan.flusher_writeback = False                  # the page is reclaim's to write
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 4096, "r", "file", file="data", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, f.vm_start)
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, 4096)
    m.physmem.lru_add_drain_py()
    m.mmcore.set_page_dirty_py(pfn)
    m.vmscan.set_pgdat_flag(0, 0)                       # PGDAT_DIRTY
    m.vmscan.shrink_inactive_list_py(0, 2, kswapd=True)  # PG_reclaim, activated
    m.vmscan.shrink_active_list_py(0, 3)
    assert "mm_vmscan_writepage" not in trace_text(m)
    m.vmscan.shrink_inactive_list_py(0, 2, kswapd=True)
    lines = [l.split(": ", 1)[1] for l in trace_text(m).splitlines() if "mm_vmscan_writepage" in l]
    assert len(lines) == 1                              # %p: a hashed pointer, as the kernel prints
    assert re.fullmatch(rf"mm_vmscan_writepage: page=[0-9a-f]{{16}} pfn={pfn:#x} "
                        r"flags=RECLAIM_WB_FILE\|RECLAIM_WB_ASYNC", lines[0])
