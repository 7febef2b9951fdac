"""The filemap trace events (memsim.tracing.filemap, tracepoints.md 5): their format files
under both profiles, their text, and where the core's C code fires them -- add after the page
is in i_pages (after mm_page_alloc, before the page reaches the LRU), delete before the
accounting is undone, fault before the lookup, none for shmem insertions or the swap cache."""
import pytest

from memsim.testing import (with_page_cache, assert_format_is_the_live_kernels, build_machine, run_text,
                            trace_text)
from memsim.tracing.events import EventRegistry
from memsim.tracing.filemap import filemap_events
from memsim.tracing.formatfile import format_file

V618 = ["file_check_and_advance_wb_err", "filemap_set_wb_err", "mm_filemap_fault",
        "mm_filemap_map_pages", "mm_filemap_get_pages", "mm_filemap_add_to_page_cache",
        "mm_filemap_delete_from_page_cache"]


@pytest.mark.parametrize("event", V618)
def test_v618_formats_are_the_live_kernels(event):
    """v6.18 reproduces tracing/catalog/v6.18/filemap/*/format (and this VM's, when it has
    tracefs) byte for byte apart from the ID."""
    assert_format_is_the_live_kernels(filemap_events("v6.18"), "filemap", event)


def test_v618_declares_the_kernels_events_in_its_id_order():
    assert [d.name for d in filemap_events("v6.18")] == V618        # IDs 595..601 on the VM


def test_v514_has_the_5_14_layout_and_no_6_12_events():
    """5.14's filemap.h: add/delete without ``order`` and with ``page=%p`` derived from the pfn;
    no mm_filemap_fault / map_pages / get_pages (6.12)."""
    decls = {d.name: d for d in filemap_events("v5.14")}
    assert list(decls) == ["file_check_and_advance_wb_err", "filemap_set_wb_err",
                           "mm_filemap_add_to_page_cache", "mm_filemap_delete_from_page_cache"]
    reg = EventRegistry()
    for d in decls.values():
        reg.add(d)
    text = format_file(reg.get("filemap:mm_filemap_add_to_page_cache"), 1)
    assert "\tfield:unsigned long pfn;\toffset:8;\tsize:8;\tsigned:0;\n" in text
    assert "\tfield:dev_t s_dev;\toffset:32;\tsize:4;\tsigned:0;\n" in text
    assert "order" not in text
    assert text.endswith(
        'print fmt: "dev %d:%d ino %lx page=%p pfn=0x%lx ofs=%lu", '
        "((unsigned int) ((REC->s_dev) >> 20)), ((unsigned int) ((REC->s_dev) & ((1U << 20) - 1))), "
        "REC->i_ino, (((struct page *)vmemmap_base) + (REC->pfn)), REC->pfn, REC->index << 12\n")


def test_the_plugin_registers_them_after_kmem_keeping_kmems_ids():
    """The pagecache plugin's hook runs last: kmem:rss_stat keeps the live kernel's ID 646, the
    core events get their slots 26-28 and the plugin's C events slots from 32."""
    m = with_page_cache(build_machine(kernel="v6.18"))
    assert m.events.id_of("kmem:rss_stat") == 646
    assert m.events.slot_of("filemap:mm_filemap_add_to_page_cache") == 26
    assert m.events.slot_of("filemap:mm_filemap_delete_from_page_cache") == 27
    assert m.events.slot_of("filemap:mm_filemap_fault") == 28
    assert m.events.slot_of("filemap:mm_filemap_map_pages") >= 32
    assert m.events.slot_of("filemap:mm_filemap_get_pages") >= 32


READ_TRUNCATE = """
machine: {{cpus: 1, nodes: [{{memory: 32 MiB}}], kernel: {kernel}}}
tasks:
  - name: reader
    steps:
      - mmap: {{name: f, length: 128 KiB, type: file, file: f.dat, prot: r}}
      - touch: {{vma: f, access: read}}
      - munmap: {{vma: f}}
"""


def _lines(run, *names):
    return [l for l in trace_text(run).splitlines() if any(f" {n}: " in l for n in names)]


def test_v618_text_and_order_of_a_read_fault():
    """A read fault on a regular file: mm_filemap_fault (before the lookup), the page's
    mm_page_alloc, then mm_filemap_add_to_page_cache once it is in i_pages ("....." : i_pages is
    unlocked again), then its mm_lru_insertion when the lru_add batch moves."""
    run = run_text(READ_TRUNCATE.format(kernel="v6.18"))
    lines = _lines(run, "mm_filemap_fault", "mm_filemap_add_to_page_cache", "mm_page_alloc",
                   "mm_lru_insertion")
    faults = [l for l in lines if "mm_filemap_fault" in l]
    adds = [l for l in lines if "mm_filemap_add_to_page_cache" in l]
    assert [f.split("mm_filemap_fault: ")[1] for f in faults] == [
        f"dev=254:0 ino=c ofs={4096 * i}" for i in range(32)]
    assert len(adds) == 32
    for i, add in enumerate(adds[:8]):          # the first 31 reach the LRU with their batch
        pfn = add.split("pfn=")[1].split()[0]
        assert add.endswith(f"mm_filemap_add_to_page_cache: dev 254:0 ino c pfn={pfn} "
                            f"ofs={4096 * i} order=0")
        assert "] ..... " in add
        at = lines.index(add)
        alloc = next(j for j, l in enumerate(lines) if "mm_page_alloc:" in l and f"pfn={pfn} " in l)
        lru = next(j for j, l in enumerate(lines) if "mm_lru_insertion:" in l and f"pfn={pfn} " in l)
        assert lines.index(faults[i]) < alloc < at < lru


def test_v514_text_prints_the_page_of_mm_page_alloc():
    """v5.14: ``page=%p`` is pfn_to_page(pfn), hashed as every %p: the same text as the page's
    mm_page_alloc shows; no mm_filemap_fault (6.12)."""
    run = run_text(READ_TRUNCATE.format(kernel="v5.14"))
    lines = _lines(run, "mm_filemap_add_to_page_cache", "mm_page_alloc", "mm_filemap_fault")
    adds = [l for l in lines if "mm_filemap_add_to_page_cache" in l]
    assert len(adds) == 32 and not any("mm_filemap_fault" in l for l in lines)
    for i, add in enumerate(adds):
        pfn = add.split("pfn=")[1].split()[0]
        page = add.split("page=")[1].split()[0]
        assert add.endswith(f"dev 254:0 ino c page={page} pfn={pfn} ofs={4096 * i}")
        alloc = next(l for l in lines if "mm_page_alloc:" in l and f"pfn={pfn} " in l)
        assert f"page={page} " in alloc


@pytest.mark.parametrize("kernel,ctx", [("v5.14", "d..1"), ("v6.18", "d..2.")])
def test_truncate_fires_delete_per_page_before_the_pages_are_freed(kernel, ctx):
    """Scenario 10's truncate: one delete per page, in index order, under the i_pages lock
    (v6.18 also the inode's i_lock), each before the page's mm_page_free (the batch is released
    after it left i_pages); the shadows removed fire nothing."""
    m = with_page_cache(build_machine(events=["filemap:*", "kmem:mm_page_free", "kmem:mm_page_free_batched"],
                      kernel=kernel, cpus=1))
    t = m.spawn("t")
    m.set_current(t)
    mapping = _read(m, t, 8)
    pfns = [mapping.i_pages[i] for i in range(8)]
    m.physmem.lru_add_drain_py()
    before = trace_text(m).count("\n")
    assert m.mmcore.truncate_pagecache(mapping, 0) == 8
    lines = trace_text(m).splitlines()[before:]
    deletes = [l for l in lines if "mm_filemap_delete_from_page_cache" in l]
    assert [int(l.split("pfn=")[1].split()[0], 16) for l in deletes] == pfns
    assert all(f"] {ctx} " in l for l in deletes)
    assert [int(l.split("ofs=")[1].split()[0]) for l in deletes] == [4096 * i for i in range(8)]
    for pfn in pfns:
        d = next(j for j, l in enumerate(lines) if "delete_from" in l and f"pfn={pfn:#x} " in l)
        f = next(j for j, l in enumerate(lines) if "mm_page_free" in l and f"pfn={pfn:#x} " in l)
        assert d < f


def _read(m, t, pages, name="f.dat"):
    from memsim import vm
    size = pages * 4096
    mapping = m.files.file(name, size)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, size, "r", "file", name, 0, totalram=total)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    return mapping


def test_delete_fires_before_nr_file_pages_drops():
    """tracepoints.md 5: the delete event fires before the accounting is undone.  The core's
    primitive every path takes a page out of i_pages with (page_cache_delete_page) fires it and
    leaves NR_FILE_PAGES to its caller, which takes it down afterwards."""
    from memsim.vmstat import node_stat_item as NS
    m = with_page_cache(build_machine(events=["filemap:mm_filemap_delete_from_page_cache"], kernel="v6.18", cpus=1))
    t = m.spawn("t")
    m.set_current(t)
    mapping = _read(m, t, 2)
    vs = m.physmem.vmstat
    file_pages = vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES)
    pfn = mapping.i_pages[1]
    m.mmcore.page_cache_delete_page_py(mapping, 1, pfn)
    assert trace_text(m).count("mm_filemap_delete_from_page_cache") == 1
    assert vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES) == file_pages
    assert 1 not in mapping.i_pages and mapping.nrpages == 1


def test_shmem_insertions_fire_no_add_but_shmem_faults_no_fault_event():
    """shmem_add_to_page_cache() and shmem_fault() have no tracepoints: a shared anonymous
    mapping (a shm_mnt object) fires neither add nor fault while it is touched.  Its pages
    leave through shmem_undo_range -> truncate_inode_folio -> filemap_remove_folio when the
    last unmap evicts the object, which does fire the delete event, once per page."""
    run = run_text("""
machine: {cpus: 1, nodes: [{memory: 32 MiB}], kernel: v6.18}
tasks:
  - name: t
    steps:
      - mmap: {name: s, length: 64 KiB, type: shared}
      - touch: {vma: s}
      - munmap: {vma: s}
""")
    lines = trace_text(run).splitlines()
    filemap = [i for i, line in enumerate(lines) if "filemap" in line]
    assert any("mm_page_alloc" in line for line in lines)
    assert len(filemap) == 16 and all("mm_filemap_delete_from_page_cache" in lines[i]
                                      for i in filemap)


def test_swap_cache_pages_fire_no_filemap_event(tmp_path_factory):
    """add_to_swap_cache / __delete_from_swap_cache have no tracepoint: an anonymous page that
    reclaim puts in the swap cache, writes and takes out again (the swap ops of the test plugin
    tests/plugins/reclaimops) fires no filemap event."""
    import os
    from memsim import vm
    from memsim.testing import build_extension
    pytest.importorskip("Cython", reason="the Cython test plugin needs Cython to build")
    reclaimops = build_extension(os.path.join(os.path.dirname(__file__), "..", "plugins",
                                              "reclaimops", "reclaimops.pyx"),
                                 tmp_path_factory.mktemp("reclaimops-build"))
    m = with_page_cache(build_machine(events=["filemap:*", "vmscan:mm_vmscan_writepage"], kernel="v5.14", cpus=1))
    ops = reclaimops.ReclaimOps()
    ops.install(m)
    t = m.spawn("t")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, 4096, "rw", "anon", totalram=total)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    m.physmem.lru_add_drain_py()
    m.vmscan.shrink_inactive_list_py(0, 0)                  # young: kept
    assert m.vmscan.shrink_inactive_list_py(0, 0) == (1, 1)  # through the swap cache and out
    assert ops.counts_dict()["delete_from_swap_cache"] == 1
    text = trace_text(m)
    assert "mm_vmscan_writepage" in text and "filemap" not in text
