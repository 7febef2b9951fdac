"""Page reclaim over the LRU lists (mm/vmscan.c), work in progress: direct reclaim of the
built-in file mapping's clean pages from the allocator's slow path (issue 10, "Reclaim")."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096
INACTIVE_ANON, ACTIVE_ANON, INACTIVE_FILE, ACTIVE_FILE, UNEVICTABLE = range(5)


def setup(kernel="v5.14"):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(128 * MiB,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def test_direct_reclaim_drops_clean_file_pages_and_leaves_anon_alone():
    m, t = setup()
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 256 * PAGE, "r", "file", totalram=total)
    a = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * PAGE, "rw", "anon", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    m.physmem.lru_add_drain_py()
    vs = m.physmem.vmstat
    file_before = m.physmem.lru_sizes(0)[INACTIVE_FILE]
    cache_before = vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES)
    got = m.vmscan.try_to_free_pages(0, 32)
    # the first pass finds young PTEs (kept, PG_referenced); a later, lower priority takes them
    assert got >= 32
    sizes = m.physmem.lru_sizes(0)
    assert sizes[INACTIVE_ANON] == 64                   # no swap-out op: anon is not scanned
    assert sizes[INACTIVE_FILE] + sizes[ACTIVE_FILE] == file_before - got
    assert vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES) == cache_before - got
    assert vs.global_node_page_state_snapshot(NS.NR_ISOLATED_FILE) == 0
    assert vs.vm_event(EV.PGSTEAL_DIRECT) == vs.vm_event(EV.PGSTEAL_FILE) == got
    assert vs.vm_event(EV.PGSCAN_DIRECT) >= got and vs.vm_event(EV.ALLOCSTALL_NORMAL) == 1
    m.mmcore.sync_current_rss()
    assert m.rss(t)["MM_FILEPAGES"] == 256 - got      # unmapped through the reverse map
    assert m.check_invariants() == []
    # a reclaimed page faults back in from the file (a major fault in the built-in cache)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    assert m.check_invariants() == []


def test_reading_four_times_the_memory_through_a_file_mapping_reclaims_as_it_goes():
    """__alloc_pages_slowpath's direct reclaim: a page-cache fault that finds no free page at the
    min watermark reclaims the oldest clean file pages (the issue's benchmark scenario, small)."""
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(32 * MiB,), kernel="v5.14"), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 128 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    vs = m.physmem.vmstat
    assert vs.vm_event(EV.PGSTEAL_DIRECT) > (128 - 32) * MiB // PAGE
    assert vs.vm_event(EV.ALLOCSTALL_NORMAL) > 0
    assert m.check_invariants() == []


def test_anonymous_memory_is_not_reclaimed_without_swap():
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(32 * MiB,), kernel="v5.14"), with_slab=False))
    m.physmem.set_oom_killer(None)                      # reclaim alone: the allocation fails
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, total * PAGE, "rw", "anon", totalram=total)
    ret = m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1]
    assert ret == 0x1                                   # VM_FAULT_OOM: nothing to reclaim
    assert m.physmem.vmstat.vm_event(EV.PGSTEAL_DIRECT) == 0


def test_swappiness_is_a_sysctl_from_0_to_200():
    """/proc/sys/vm/swappiness reads 60 on this VM's 6.18 kernel as on a fresh boot."""
    from memsim.vfs import VfsError
    m, _ = setup()
    assert m.vfs.read_file("/proc/sys/vm/swappiness") == b"60\n"
    m.vfs.write_file("/proc/sys/vm/swappiness", b"200\n")
    assert m.vmscan.swappiness == 200
    with pytest.raises(VfsError, match="EINVAL"):
        m.vfs.write_file("/proc/sys/vm/swappiness", b"201\n")
    assert m.vfs.read_file("/proc/sys/vm/swappiness") == b"200\n"
