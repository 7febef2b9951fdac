"""/proc/sys/vm/drop_caches (fs/drop_caches.c, mm/truncate.c invalidate_mapping_pages):
1 drops the clean, unmapped page cache, 2 frees what the shrinkers can (drop_slab), 3 both, 4
silences the message; the vm events; read and bad writes as the live 6.18 kernel answers them
(tests/core/probes/drop_caches.c; pagecache.md 7 and scenario 13/15)."""
import textwrap

import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.shrinker import PY_SHRINK_EMPTY
from memsim.testing import with_page_cache, run_text
from memsim.vfs import O_RDONLY, O_WRONLY, VfsError
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV

MiB = 1 << 20
PAGE = 4096
PATH = "/proc/sys/vm/drop_caches"

# What the live 6.18 VM answered (tests/core/probes/drop_caches.c): bytes taken or errno.
PROBE_MODE = 0o200
PROBE_OPEN_RDONLY = "EACCES"
PROBE_WRITES = {"1": 1, "2\n": 2, "3": 1, "4": 1, "0": "EINVAL", "-1": "EINVAL", "abc": "EINVAL",
                "3abc": "EINVAL", "": 0, " 3 \n": 4, "0x3": 3, "3 4": 2, "1 x": 2}
# ... and where memsim follows upstream instead: that vendor kernel takes 1..63, upstream 5.14
# and 6.18 have extra2 = SYSCTL_FOUR
PROBE_VENDOR_ONLY = {"5": 1, "7": 1, "63": 1}


def machine(kernel="v6.18", nodes=(64 * MiB,)):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=nodes, kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def write(m, t, data):
    fd = m.vfs.open(t.files, PATH, O_WRONLY)
    try:
        return t.files.write(fd, data)
    except VfsError as e:
        return e.errno
    finally:
        t.files.close_fd(fd)


def free_pages(m):
    """Free pages, in the buddy lists and the per-CPU lists."""
    return m.physmem.nr_free_pages() + sum(p["count"] for z in m.physmem.zones_info() for p in z["pcp"])


def cached(m):
    """Pages in the built-in page cache (the mappings' nrpages)."""
    return sum(a.nrpages for a in m.files.files.values())


def read_file(m, t, pages, name="data.bin"):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, "r", "file", file=name, totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    return f


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_writes_and_reads_answer_as_the_kernel(kernel):
    m, t = machine(kernel)
    inode = m.vfs.path_lookup(PATH).dentry.d_inode
    assert inode.i_mode & 0o7777 == PROBE_MODE
    with pytest.raises(VfsError) as e:
        m.vfs.open(t.files, PATH, O_RDONLY)
    assert e.value.errno == PROBE_OPEN_RDONLY
    for data, want in PROBE_WRITES.items():
        assert write(m, t, data.encode()) == want, data
    for data in PROBE_VENDOR_ONLY:
        assert write(m, t, data.encode()) == "EINVAL", data


def test_1_drops_the_clean_unmapped_page_cache_and_counts_drop_pagecache():
    m, t = machine()
    vs = m.physmem.vmstat
    f = read_file(m, t, 256)
    g = read_file(m, t, 64, "lib.so")
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, f.vm_end - f.vm_start)
    m.physmem.lru_add_drain_py(True)
    free0 = free_pages(m)
    assert cached(m) == 320
    assert write(m, t, b"1") == 1
    # data.bin is unmapped: its 256 pages go; lib.so is still mapped: its 64 stay
    assert len(m.files.files["data.bin"].i_pages) == 0
    assert len(m.files.files["lib.so"].i_pages) == 64
    assert vs.global_node_page_state_snapshot(NS.NR_FILE_PAGES) == 64
    assert vs.vm_event(EV.DROP_PAGECACHE) == 1 and vs.vm_event(EV.DROP_SLAB) == 0
    assert list(m.physmem.check_lru()) == []
    assert free_pages(m) == free0 + 256
    # pages the batch still held are drained first (lru_add_drain_all), so they go too
    vm.do_munmap(m.mmcore, t.mm, g.vm_start, g.vm_end - g.vm_start)
    write(m, t, b"1")
    assert cached(m) == 0
    assert vs.vm_event(EV.DROP_PAGECACHE) == 2


def test_a_mapped_page_stays_where_it_is_on_the_lru():
    # invalidate_mapping_pages: a mapped page fails invalidate_inode_page, and
    # deactivate_file_page's lru_deactivate_file_fn leaves a mapped page alone
    m, t = machine()
    read_file(m, t, 16)
    m.physmem.lru_add_drain_py(True)
    before = m.physmem.lru_sizes(0)
    write(m, t, b"1")
    assert m.physmem.lru_sizes(0) == before
    assert m.physmem.vmstat.vm_event(EV.PGROTATED) == 0


def test_2_runs_the_shrinkers_and_counts_drop_slab():
    m, t = machine()
    objects = [500]
    calls = []

    def count(sc):
        calls.append(sc.gfp_mask)
        return objects[0] or PY_SHRINK_EMPTY

    def scan(sc):
        n = min(sc.nr_to_scan, objects[0])
        objects[0] -= n
        return n
    s = m.shrinkers.shrinker_alloc_py(0, "test_cache", count, scan)
    m.shrinkers.register(s)
    f = read_file(m, t, 8)
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, f.vm_end - f.vm_start)
    assert write(m, t, b"2") == 1
    assert objects == [0]
    assert set(calls) == {0xcc0}                       # drop_slab: GFP_KERNEL
    assert cached(m) == 8                              # the page cache is bit 1's
    vs = m.physmem.vmstat
    assert vs.vm_event(EV.DROP_SLAB) == 1 and vs.vm_event(EV.DROP_PAGECACHE) == 0
    assert vs.vm_event(EV.SLABS_SCANNED) > 0
    objects[0] = 100
    write(m, t, b"3")
    assert objects == [0] and cached(m) == 0
    assert vs.vm_event(EV.DROP_SLAB) == 2 and vs.vm_event(EV.DROP_PAGECACHE) == 1


def test_the_message_until_bit_4_silences_it_and_an_empty_write_reruns_the_last_value():
    m, t = machine()
    for data in (b"1", b"2"):
        write(m, t, data)
    # a zero-length write: the kernel's proc_dointvec takes nothing and the handler runs with the
    # old value (the probe: drop_pagecache +1 after a "1").  memsim's vfs_write returns 0 before
    # ->write for an empty buffer, so the handler is called directly here
    assert m.drop_caches.write(m, b"") == 0
    for data in (b"4", b"3"):
        write(m, t, data)
    # pr_info("%s (%d): drop_caches: %d\n", current->comm, pid, value) unless stfu; the write
    # with bit 4 still prints, the ones after it do not
    assert m.drop_caches.log == ["app (1000): drop_caches: 1", "app (1000): drop_caches: 2",
                                 "app (1000): drop_caches: 2", "app (1000): drop_caches: 4"]
    # the empty write ran bit 2 again: drop_slab counted for "2", "", "3"
    assert m.physmem.vmstat.vm_event(EV.DROP_SLAB) == 3


def test_a_workload_drops_the_caches_with_write_file():
    r = run_text(textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: t
            steps:
              - mmap: {name: f, length: 1 MiB, type: file, file: data.bin, prot: r}
              - touch: {vma: f, access: read}
              - munmap: {vma: f}
              - write_file: {path: /proc/sys/vm/drop_caches, data: "3"}
              - write_file: {path: /proc/sys/vm/drop_caches, data: "0"}
              - expect: {errno: EINVAL}
              - read_file: {path: /proc/sys/vm/drop_caches}
              - expect: {errno: EACCES}
        """), events=())
    assert r.error is None, r.error
    m = r.machine
    assert cached(m) == 0
    assert m.physmem.vmstat.vm_event(EV.DROP_PAGECACHE) == 1


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_only_v618_drains_the_lru_batches_before_dropping(kernel):
    # "fs: drop_caches: draining pages before dropping caches" (6.5): a page still in a CPU's
    # lru_add batch holds the batch's reference, so invalidate_inode_page's
    # page_ref_freeze(page, 2) fails and 5.14 keeps it; 6.18 drains first
    m, t = machine(kernel)
    m.mmcore.munmap_lru_drain = False           # leave the last pages in the batch at munmap
    f = read_file(m, t, 40)
    vm.do_munmap(m.mmcore, t.mm, f.vm_start, f.vm_end - f.vm_start)
    write(m, t, b"1")
    left = cached(m)
    if kernel == "v5.14":
        assert 0 < left < m.physmem.lru_batch_size
    else:
        assert left == 0
    assert list(m.physmem.check_lru()) == []


def test_shadows_go_with_the_pages_but_a_shadow_only_file_keeps_them():
    # pagecache.md scenario 15: drop_pagecache_sb skips an inode whose nrpages is 0, so its
    # shadows survive; invalidate_mapping_pages clears the shadows of the files it visits
    m, t = machine(nodes=(16 * MiB,))
    for name in ("old.dat", "new.dat"):
        f = read_file(m, t, 64, name)
        vm.do_munmap(m.mmcore, t.mm, f.vm_start, f.vm_end - f.vm_start)
    m.physmem.lru_add_drain_py(True)
    old, new = m.files.files["old.dat"], m.files.files["new.dat"]
    while old.nrpages:                  # reclaim old.dat (the LRU's tail) entirely
        assert m.vmscan.try_to_free_pages(0, 32) > 0
    assert len(old.shadows()) > 0
    big = read_file(m, t, 3000, "big.dat")          # push some of new.dat out as well
    vm.do_munmap(m.mmcore, t.mm, big.vm_start, big.vm_end - big.vm_start)
    shadows_old = len(old.shadows())
    write(m, t, b"1")
    assert len(old.shadows()) == shadows_old and len(old.i_pages) == shadows_old
    for mapping in (new, m.files.files["big.dat"]):
        assert len(mapping.i_pages) == 0 and len(mapping.shadows()) == 0
    assert m.check_invariants() == []
