"""A filesystem's mapping with its own address_space_operations whose pages live in the core's
i_pages (the page-cache plugin's way; tests/pagecache/ipagesops is a minimal one): the filemap
events fire from the core's primitives on its path too -- the delete before NR_FILE_PAGES is
undone (tracepoints.md 5) -- and truncate / invalidate work on it (pagecache.md 7)."""
import os

import pytest

from memsim import vm
from memsim.mm import AddressSpace
from memsim.testing import build_extension, build_machine, trace_text
from memsim.vmstat import node_stat_item as NS

PAGE = 4096
INACTIVE_FILE = 2


@pytest.fixture(scope="module")
def ipagesops(tmp_path_factory):
    pytest.importorskip("Cython", reason="the Cython test plugin needs Cython to build")
    return build_extension(os.path.join(os.path.dirname(__file__), "ipagesops", "ipagesops.pyx"),
                           tmp_path_factory.mktemp("ipagesops-build"))


def setup(mod, pages, kernel="v6.18", launder=False):
    m = build_machine(events=["filemap:*"], kernel=kernel, cpus=1, nodes=(32 << 20,))
    t = m.spawn("t")
    m.set_current(t)
    mapping = AddressSpace(0x42, "plugin-file", s_dev=(8 << 20) | 1, i_size=pages * PAGE)
    ops = mod.IPagesOps()
    ops.install(m, mapping, launder)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, "r", "file", totalram=total,
                   vm_file=mapping)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    m.physmem.lru_add_drain_py()
    return m, t, mapping, ops


def file_pages(m):
    return m.physmem.vmstat.global_node_page_state_snapshot(NS.NR_FILE_PAGES)


def test_reclaim_fires_delete_before_nr_file_pages_drops(ipagesops):
    """Reclaim's __remove_mapping -> __delete_from_page_cache through the plugin's op: inside
    the op, right after the core's page_cache_delete_page, the delete record is written and
    NR_FILE_PAGES still counts the page; the core takes it down after the op returns."""
    m, t, mapping, ops = setup(ipagesops, 4)
    text = trace_text(m)
    assert text.count("mm_filemap_add_to_page_cache: dev 8:1 ino 42 ") == 4
    assert text.count("mm_filemap_fault: dev=8:1 ino=42 ") == 4
    before, records = file_pages(m), text.count("\n")
    while mapping.nrpages:
        m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE)
    assert [n for _, n in ops.deletes] == [before - i for i in range(4)]
    assert [r for r, _ in ops.deletes] == [records + 1 + i for i in range(4)]
    assert file_pages(m) == before - 4
    assert trace_text(m).count("mm_filemap_delete_from_page_cache: dev 8:1 ino 42 ") == 4
    assert len(mapping.shadows()) == 4                  # reclaim left its shadows
    assert m.workingset.check([mapping]) == []


def test_truncate_and_invalidate_work_on_a_plugin_mapping(ipagesops):
    """truncate_inode_pages_range and invalidate_inode_pages2_range on a mapping with a_ops:
    its pages are in i_pages, so the same C loops take them (no op is needed)."""
    m, t, mapping, ops = setup(ipagesops, 8, launder=True)
    m.mmcore.set_page_dirty_py(mapping.i_pages[1])
    assert m.mmcore.truncate_setsize(mapping, 6 * PAGE) == 2
    assert m.mmcore.invalidate_inode_pages2_range(mapping, 0, 3) == 0
    assert ops.launders == 1                            # the dirty page was laundered first
    assert sorted(i for i, e in mapping.i_pages.items()) == [4, 5]
    assert trace_text(m).count("mm_filemap_delete_from_page_cache") == 6
    m.physmem.lru_add_drain_py()
    assert m.check_invariants() == []
