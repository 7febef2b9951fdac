"""pagemap:mm_lru_insertion and mm_lru_activate (include/trace/events/pagemap.h): declarations
per profile against the live 6.18 kernel's format files, and the records the LRU code emits."""
import re

import pytest

from memsim import vm
from memsim.testing import build_machine, trace_text
from memsim.testing import assert_format_is_the_live_kernels
from memsim.tracing.pagemap import pagemap_events

PAGE = 4096
@pytest.mark.parametrize("event", ["mm_lru_insertion", "mm_lru_activate"])
def test_v618_format_equals_the_live_kernel(event):
    """The catalog files were copied from this VM's /sys/kernel/tracing/events/pagemap/*/format
    (Linux 6.18); when that kernel is running, compare with it too."""
    assert_format_is_the_live_kernels(pagemap_events("v6.18"), "pagemap", event)


def test_v514_names_the_page_not_the_folio():
    d = {x.name: x for x in pagemap_events("v5.14")}
    ins = d["mm_lru_insertion"]
    assert [(f.ctype, f.name, f.offset, f.size) for f in ins.fields] == [
        ("struct page *", "page", 8, 8), ("unsigned long", "pfn", 16, 8),
        ("enum lru_list", "lru", 24, 4), ("unsigned long", "flags", 32, 8)]
    assert ins.print_fmt.startswith('"page=%p pfn=0x%lx lru=%d flags=%s%s%s%s%s%s", REC->page,')
    assert d["mm_lru_activate"].print_fmt == '"page=%p pfn=0x%lx", REC->page, REC->pfn'


@pytest.mark.parametrize("kernel,size", [("v5.14", 15), ("v6.18", 31)])
def test_insertion_fires_when_the_batch_moves_with_the_flags_of_that_moment(kernel, size):
    """tracepoints.md scenario 7's rule: the event fires at the batch's move, not at
    lru_cache_add; a faulted anonymous page is mapped by then: "Ma b  " (mapped, anon, swapbacked)."""
    m = build_machine(events=["pagemap:*"], kernel=kernel, cpus=1)
    t = m.spawn("app")
    m.set_current(t)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * PAGE, "rw", "anon", totalram=1 << 20)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + (size - 1) * PAGE, True)
    assert "mm_lru_insertion" not in trace_text(m)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + size * PAGE, True)
    lines = [l for l in trace_text(m).splitlines() if "mm_lru_insertion" in l]
    pfns = [m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) for i in range(size)]
    name = "folio" if kernel == "v6.18" else "page"
    assert len(lines) == size
    for line, pfn in zip(lines, pfns):
        assert re.search(rf"mm_lru_insertion: {name}=\S+ pfn=0x{pfn:x} lru=0 flags=Ma b  $", line), line


def test_activate_fires_once_per_page_moved_to_the_active_list():
    m = build_machine(events=["pagemap:mm_lru_activate"], kernel="v6.18", cpus=1)
    pm = m.physmem
    pfn = pm.alloc(0, 0x1100CCA)
    pm.lru_cache_add_py(pfn)
    pm.lru_add_drain_py()
    pm.mark_accessed(pfn)
    pm.mark_accessed(pfn)
    pm.mark_accessed(pfn)                    # already queued: referenced again, no second move
    pm.lru_add_drain_py()
    lines = [l for l in trace_text(m).splitlines() if "mm_lru_activate" in l]
    assert len(lines) == 1 and lines[0].endswith(f"pfn=0x{pfn:x}")
