"""diskfs regular files in the page cache (plugins/pagecache/filemap.pyx): buffered I/O, the
backing store, reclaim leaving shadows and refaults reading the bytes back, the write path over
a shadow, writeback, and the counters (pagecache.md §10 scenarios 4-9; §5, §6)."""
import pytest

from memsim.machine import Machine, MachineSpec
from memsim.plugins.pagecache.diskfs import (DISKFS_DEV, DISKFS_MOUNT_POINT, DISKFS_TYPE,
                                             mount_boot_disk)
from memsim.vfs import O_CREAT, O_RDWR, VfsError
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV

MiB = 1 << 20
PAGE = 4096
INACTIVE_FILE, ACTIVE_FILE = 2, 3
PG_dirty, PG_active, PG_workingset, PG_uptodate = 3, 5, 6, 2
KERNELS = ("v5.14", "v6.18")


def machine(kernel="v6.18", mib=32):
    m = Machine(MachineSpec(cpus=1, nodes=(mib * MiB,), kernel=kernel), with_slab=False)
    m.vfs.register_filesystem(DISKFS_TYPE)
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def open_file(m, t, name="f", flags=O_RDWR | O_CREAT):
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/{name}", flags)
    return fd, t.files.fget(fd)


def store(file):
    return file.f_inode.i_sb.s_fs_info.filemap.store_of(file.f_mapping)


def cached(file):
    return file.f_inode.i_sb.s_fs_info.filemap.cached_pages(file.f_mapping)


def node(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def event(m, item):
    return m.physmem.vmstat.vm_event(getattr(EV, item))


def counters(m):
    return {k: node(m, "WORKINGSET_" + k) for k in ("REFAULT_FILE", "ACTIVATE_FILE", "RESTORE_FILE")}


def flags(m, pfn):
    return m.physmem.page_info(pfn)["flags"]


def vmstat(m):
    return dict(line.split() for line in m.vfs.read_file("/proc/vmstat").decode().splitlines())


def evict(m, file, index):
    """Reclaim one page at a time until ``index`` of the file is a shadow."""
    for _ in range(400):
        if index in file.f_mapping.shadows():
            return file.f_mapping.shadows()[index]
        if not m.vmscan.try_to_free_pages(0, 1):
            m.physmem.lru_add_drain_py()
    raise AssertionError(f"index {index} was never evicted")


# -- the file system ---------------------------------------------------------------------------
def test_the_disk_is_mounted_with_its_device_and_inode_numbers():
    m, t = machine()
    assert f"/dev/vda {DISKFS_MOUNT_POINT} diskfs rw,relatime 0 0\n" in \
        m.vfs.read_file("/proc/mounts").decode()
    _, f = open_file(m, t, "a")
    _, g = open_file(m, t, "b")
    assert (f.f_inode.i_ino, g.f_inode.i_ino) == (12, 13)
    assert f.f_mapping.s_dev == DISKFS_DEV == 254 << 20 and f.f_mapping.i_ino == 12
    assert f.f_mapping.has_a_ops and f.f_mapping.host is f.f_inode
    assert m.vfs.path_lookup(DISKFS_MOUNT_POINT).dentry.d_inode.i_ino == 2
    # a second disk: the next virtio minor range
    m.vfs.do_mkdirat("/mnt/b")
    m.vfs.do_mount("/dev/vdb", "/mnt/b", "diskfs")
    fd = m.vfs.open(t.files, "/mnt/b/x", O_RDWR | O_CREAT)
    assert t.files.fget(fd).f_mapping.s_dev == (254 << 20) | 16
    with pytest.raises(VfsError) as e:
        m.vfs.do_mount("/dev/vdc", "/mnt", "diskfs", "size=1G")
    assert e.value.errno == "EINVAL"


def test_write_then_read_returns_the_bytes_and_stops_at_the_end_of_file():
    m, t = machine()
    fd, f = open_file(m, t)
    data = bytes(range(256)) * 40                               # 10240 bytes: 3 pages
    assert t.files.write(fd, data) == len(data)
    assert f.f_inode.i_size == f.f_mapping.i_size == len(data)
    assert t.files.pread(fd, 100, 4090) == data[4090:4190]    # across a page boundary
    assert t.files.pread(fd, 1 << 20, 10000) == data[10000:]  # short at the end of file
    assert t.files.pread(fd, 10, len(data)) == b""
    assert f.f_mapping.nrpages == 3 and sorted(cached(f)) == [0, 1, 2]
    assert node(m, "NR_FILE_PAGES") == 3 and node(m, "NR_FILE_DIRTY") == 3
    for pfn in cached(f).values():
        assert flags(m, pfn) & (1 << PG_dirty) and flags(m, pfn) & (1 << PG_uptodate)
    # a hole reads zeros without I/O
    assert t.files.pwrite(fd, b"z", 5 * PAGE) == 1
    assert t.files.pread(fd, 3, 4 * PAGE) == bytes(3)
    assert event(m, "PGPGIN") == 0


def test_fsync_writes_the_dirty_pages_to_the_disk_and_counts_pgpgout():
    """filemap_write_and_wait through write_one_page -> ->writepage: clean pages, NR_FILE_DIRTY
    back to 0, NR_WRITTEN and pgpgout (8 sectors a page; /proc/vmstat shows KiB)."""
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.write(fd, b"a" * PAGE + b"b" * 100)
    before = vmstat(m)
    t.files.fsync(fd)
    assert node(m, "NR_FILE_DIRTY") == 0 and node(m, "NR_WRITEBACK") == 0
    assert node(m, "NR_WRITTEN") == 2 and node(m, "NR_DIRTIED") == 2
    assert event(m, "PGPGOUT") == 16
    assert int(vmstat(m)["pgpgout"]) - int(before["pgpgout"]) == 8
    assert store(f).read(0) == b"a" * PAGE
    assert store(f).read(1) == b"b" * 100 + bytes(PAGE - 100)  # the tail past i_size is zeros
    assert all(not flags(m, p) & (1 << PG_dirty) for p in cached(f).values())
    t.files.fsync(fd)                                           # nothing dirty: nothing written
    assert event(m, "PGPGOUT") == 16


# -- scenarios 4-9 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS)
def test_reclaim_leaves_a_shadow_and_the_refault_reads_the_bytes_back(kernel):
    """Scenario 4 on a disk file: the clean page at index 5 is reclaimed; nrpages 0, the
    mapping is not empty, slot 5 holds a shadow decoding to (memcg 0, node 0, E, 0), the clock
    moved by one.  The refault (a read miss) reads the bytes written back from the disk
    (pgpgin + 8 sectors) and replaces the shadow."""
    m, t = machine(kernel)
    fd, f = open_file(m, t)
    data = b"refault!" * 512
    t.files.pwrite(fd, data, 5 * PAGE)
    t.files.fsync(fd)
    m.physmem.lru_add_drain_py()
    clock = m.workingset.nonresident_age(0)
    assert m.vmscan.try_to_free_pages(0, 1) == 1
    mapping = f.f_mapping
    assert mapping.nrpages == 0 and not mapping.mapping_empty()
    assert list(mapping.shadows()) == [5]
    assert m.workingset.unpack(mapping.shadows()[5]) == (0, 0, clock, False)
    assert m.workingset.nonresident_age(0) == clock + 1
    assert node(m, "NR_FILE_PAGES") == 0
    pgpgin = event(m, "PGPGIN")
    before = counters(m)
    assert t.files.pread(fd, PAGE, 5 * PAGE) == data
    assert event(m, "PGPGIN") == pgpgin + 8
    assert counters(m)["REFAULT_FILE"] == before["REFAULT_FILE"] + 1
    assert mapping.nrpages == 1 and mapping.shadows() == {}
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_dirty_page_is_written_before_it_is_evicted(kernel):
    """Scenario 5: reclaim does not evict a dirty page: it stays, no shadow, no eviction
    moves the clock (its activation does: move_pages_to_lru ages the lruvec by the pages it
    puts back active); the flusher reclaim wakes writes it through ->writepage and its end rotates it
    to the inactive tail, where the next pass evicts it -- and the bytes come back."""
    m, t = machine(kernel)
    fd, f = open_file(m, t)
    t.files.pwrite(fd, b"dirty" * 800, 5 * PAGE)
    m.physmem.lru_add_drain_py()
    [pfn] = cached(f).values()
    clock = m.workingset.nonresident_age(0)
    assert m.vmscan.try_to_free_pages(0, 1) == 0
    assert cached(f) == {5: pfn} and f.f_mapping.shadows() == {}
    assert m.workingset.nonresident_age(0) == clock + 1          # the activation, no eviction
    assert store(f).read(5)[:10] == b"dirtydirty"          # the flusher wrote it
    assert not flags(m, pfn) & (1 << PG_dirty) and not flags(m, pfn) & (1 << PG_active)
    assert m.physmem.lru_pages(0, INACTIVE_FILE)[-1] == pfn
    assert m.vmscan.try_to_free_pages(0, 1) == 1
    assert 5 in f.f_mapping.shadows()
    assert t.files.pread(fd, 10, 5 * PAGE) == b"dirtydirty"


def _active_pages(m, t, n):
    """``n`` pages of another file read twice: active (mark_page_accessed twice)."""
    fd, f = open_file(m, t, "hot")
    t.files.pwrite(fd, bytes(n * PAGE), 0)
    t.files.fsync(fd)
    active = m.physmem.lru_sizes(0)[ACTIVE_FILE]
    m.physmem.lru_add_drain_py()
    for pfn in cached(f).values():
        m.physmem.mark_accessed(pfn)
        m.physmem.mark_accessed(pfn)
    m.physmem.lru_add_drain_py()
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] == active + n
    return f


@pytest.mark.parametrize("active, activated", [(50, True), (5, False)])
def test_a_refault_within_the_active_list_activates(active, activated):
    """Scenarios 4, 6 and 7 with the spec's numbers: the clock at 100, page 5 is evicted
    (shadow E = 100, clock 101), 10 more evictions (clock 111): the refault distance is 11.
    With 50 active file pages (no swap: the workingset is NR_ACTIVE_FILE) the read miss inserts
    the page active (workingset_refault_file and _activate_file + 1, clock 112); with 5 it is
    counted as a refault only, stays inactive, and the clock stays at 111."""
    m, t = machine()
    hot = _active_pages(m, t, active)
    dummy = next(iter(cached(hot).values()))
    ws = m.workingset
    while ws.nonresident_age(0) < 100:
        ws.eviction(dummy)                          # age the lruvec's clock to 100
    fd, f = open_file(m, t)
    t.files.pwrite(fd, b"x" * PAGE, 5 * PAGE)
    t.files.fsync(fd)
    m.physmem.lru_add_drain_py()
    assert ws.nonresident_age(0) == 100
    # page 5 is the only inactive page: shrinking the inactive list evicts it
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE)[0] == 1
    assert f.f_mapping.nrpages == 0 and not f.f_mapping.mapping_empty()
    assert ws.unpack(f.f_mapping.shadows()[5]) == (0, 0, 100, False)      # scenario 4
    assert ws.nonresident_age(0) == 101
    for _ in range(10):
        ws.eviction(dummy)                          # ten more evictions on the lruvec
    assert ws.nonresident_age(0) == 111
    before = counters(m)
    assert t.files.pread(fd, 1, 5 * PAGE) == b"x"
    after = counters(m)
    assert after["REFAULT_FILE"] == before["REFAULT_FILE"] + 1
    assert after["ACTIVATE_FILE"] == before["ACTIVATE_FILE"] + activated
    assert ws.nonresident_age(0) == 111 + activated
    new = cached(f)[5]
    m.physmem.lru_add_drain_py()
    assert bool(flags(m, new) & (1 << PG_active)) is activated
    assert f.f_mapping.shadows() == {} and f.f_mapping.nrpages == 1


def test_a_former_active_page_is_restored_on_refault():
    """Scenario 8: page 5 was active (read twice) when reclaim deactivated it (PG_workingset)
    and evicted it: the shadow has the workingset bit; its refault within NR_ACTIVE_FILE is
    activated with PG_workingset, workingset_restore_file + 1."""
    m, t = machine("v5.14")
    fd, f = open_file(m, t)
    t.files.pwrite(fd, b"w" * PAGE, 5 * PAGE)
    t.files.fsync(fd)
    for _ in range(2):
        t.files.pread(fd, PAGE, 5 * PAGE)
        m.physmem.lru_add_drain_py()
    _active_pages(m, t, 100)
    cold_fd, _ = open_file(m, t, "cold")
    t.files.pwrite(cold_fd, bytes(100 * PAGE), 0)
    t.files.fsync(cold_fd)
    m.physmem.lru_add_drain_py()
    shadow = evict(m, f, 5)
    assert m.workingset.unpack(shadow)[3] is True
    before = counters(m)
    assert t.files.pread(fd, 1, 5 * PAGE) == b"w"
    after = counters(m)
    assert {k: after[k] - before[k] for k in after} == \
        {"REFAULT_FILE": 1, "ACTIVATE_FILE": 1, "RESTORE_FILE": 1}
    pfn = cached(f)[5]
    assert flags(m, pfn) & (1 << PG_workingset)
    m.physmem.lru_add_drain_py()
    assert pfn in m.physmem.lru_pages(0, ACTIVE_FILE)


@pytest.mark.parametrize("length", [PAGE, 100])
def test_a_write_over_a_shadow_is_no_refault(length):
    """Scenario 9: a buffered write that creates the page (write_begin: FGP_WRITE, so
    __GFP_WRITE) replaces the shadow without refault or activation accounting; a partial write
    reads the rest of the block first (pgpgin), a whole-page one does not."""
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.pwrite(fd, b"o" * PAGE, 5 * PAGE)
    t.files.fsync(fd)
    m.physmem.lru_add_drain_py()
    evict(m, f, 5)
    before, pgpgin = counters(m), event(m, "PGPGIN")
    assert t.files.pwrite(fd, b"n" * length, 5 * PAGE) == length
    assert counters(m) == before
    assert f.f_mapping.shadows() == {} and f.f_mapping.nrpages == 1
    assert event(m, "PGPGIN") == pgpgin + (8 if length < PAGE else 0)
    assert t.files.pread(fd, PAGE, 5 * PAGE) == b"n" * length + b"o" * (PAGE - length)
    assert flags(m, cached(f)[5]) & (1 << PG_dirty)


# -- truncate, unlink ------------------------------------------------------------------------------
def test_ftruncate_drops_pages_shadows_and_blocks_past_the_new_size():
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.write(fd, b"q" * (8 * PAGE))
    t.files.fsync(fd)
    m.physmem.lru_add_drain_py()
    evict(m, f, 0)
    evict(m, f, 1)
    t.files.ftruncate(fd, PAGE + 100)       # index 1 is partial: its shadow stays (scenario 10/11)
    assert cached(f) == {} and sorted(f.f_mapping.shadows()) == [0, 1]
    assert sorted(store(f).blocks) == [0, 1]
    assert store(f).read(1) == b"q" * 100 + bytes(PAGE - 100)
    t.files.ftruncate(fd, 3 * PAGE)                          # grow: the tail reads zeros
    assert t.files.pread(fd, 200, PAGE + 50) == b"q" * 50 + bytes(150)
    # page 0 read back from its block: a read at the file's start opens a readahead window
    # (get_init_ra_size(1, 32) = 4 pages, clipped to i_size), so page 2 comes in with it
    assert t.files.pread(fd, 10, 0) == b"q" * 10
    assert node(m, "NR_FILE_PAGES") == f.f_mapping.nrpages == 3 and f.f_mapping.shadows() == {}
    with pytest.raises(VfsError) as e:
        t.files.ftruncate(fd, -1)
    assert e.value.errno == "EINVAL"


def test_an_unlinked_file_lives_while_open_and_goes_with_its_pages_at_close():
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.write(fd, b"u" * (3 * PAGE))
    mapping = f.f_mapping
    m.vfs.do_unlinkat(f"{DISKFS_MOUNT_POINT}/f")
    assert t.files.pread(fd, 3, 0) == b"uuu" and mapping.nrpages == 3
    t.files.close_fd(fd)
    assert mapping.nrpages == 0 and mapping.mapping_empty() and not mapping.in_rmap
    assert node(m, "NR_FILE_PAGES") == 0 and node(m, "NR_FILE_DIRTY") == 0
    assert f.f_inode.i_sb.s_fs_info.evicted == 1
    assert m.check_invariants() == []


def test_a_4_gib_read_builds_no_bytes_and_is_cheap():
    """A length-only read (the workload's read without expect) brings the pages in without
    building bytes; the same read again only looks them up."""
    from memsim.vfs import vfs_read_discard
    m, t = machine(mib=96)
    fd, f = open_file(m, t)
    t.files.ftruncate(fd, 64 * MiB)
    assert vfs_read_discard(f, 64 * MiB, 0) == 64 * MiB
    assert f.f_mapping.nrpages == 16384 and event(m, "PGPGIN") == 0
    assert vfs_read_discard(f, 64 * MiB, 0) == 64 * MiB
    assert m.physmem.lru_sizes(0)[ACTIVE_FILE] + m.physmem.lru_sizes(0)[INACTIVE_FILE] >= 16000


def test_check_walks_the_disk_files_page_caches_and_blocks():
    from memsim.plugins.pagecache.diskfs import check_invariants
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.write(fd, b"c" * (2 * PAGE))
    t.files.fsync(fd)
    assert check_invariants(m) == []
    f.f_mapping.nrpages += 1
    store(f).blocks[9] = b""
    problems = check_invariants(m)
    assert any("3 page entries" in p or "nrpages says 3" in p for p in problems), problems
    assert any("blocks [9] past i_size 8192" in p for p in problems), problems
    f.f_mapping.nrpages -= 1


def test_punching_a_hole_drops_the_whole_pages_and_blocks_and_zeroes_the_edges():
    from memsim.vfs import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
    m, t = machine()
    fd, f = open_file(m, t)
    t.files.write(fd, b"h" * (4 * PAGE))
    t.files.fsync(fd)
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE - 10, 2 * PAGE + 20)
    assert sorted(cached(f)) == [0, 3] and sorted(store(f).blocks) == [0, 3]
    assert f.f_inode.i_size == 4 * PAGE
    assert t.files.pread(fd, 4 * PAGE, 0) == \
        b"h" * (PAGE - 10) + bytes(2 * PAGE + 20) + b"h" * (PAGE - 10)
    m.vfs.fadvise(t.files, fd, 0, 0, 4)                    # drop the cache: the disk agrees
    assert f.f_mapping.nrpages == 0
    assert t.files.pread(fd, 4 * PAGE, 0) == \
        b"h" * (PAGE - 10) + bytes(2 * PAGE + 20) + b"h" * (PAGE - 10)


PG_referenced = 1


@pytest.mark.parametrize("kernel, marked_past_the_read", [("v5.14", True), ("v6.18", False)])
def test_a_read_marks_its_first_page_accessed_unless_the_last_read_ended_there(kernel,
                                                                                 marked_past_the_read):
    """filemap_read(): reads within one page mark it once; a read that starts where the last
    one ended at a page boundary marks its first page on v6.18 (pos_same_folio with the last
    byte read) but not on v5.14, which compared prev_pos's page ("filemap: Correct the
    conditions for marking a folio as accessed", v5.17).  v5.14's filemap_get_read_batch()
    reached one page past the read (last_index, fixed by 5956592ce337 in 6.3), so a read ending
    at a page boundary marked the next cached page already: either way page 1 is marked once,
    never activated."""
    m, t = machine(kernel)
    fd, f = open_file(m, t)
    t.files.write(fd, b"r" * (3 * PAGE))
    m.physmem.lru_add_drain_py()
    t.files.fsync(fd)
    pages = cached(f)
    r = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", 0)
    assert t.files.read(r, 100) == b"r" * 100
    assert flags(m, pages[0]) & (1 << PG_referenced)
    assert t.files.read(r, 100) == b"r" * 100           # the same page again: not marked twice
    m.physmem.lru_add_drain_py()
    assert not flags(m, pages[0]) & (1 << PG_active)
    assert t.files.read(r, PAGE - 200) == b"r" * (PAGE - 200)
    assert bool(flags(m, pages[1]) & (1 << PG_referenced)) is marked_past_the_read
    assert t.files.read(r, PAGE) == b"r" * PAGE          # starts where the last read ended
    m.physmem.lru_add_drain_py()
    assert flags(m, pages[1]) & (1 << PG_referenced) and not flags(m, pages[1]) & (1 << PG_active)


def test_v514_kswapd_writes_a_dirty_page_through_writepage_and_reclaims_it_when_the_write_ended():
    """pageout() (v5.14's kswapd, the page seen again with PG_reclaim and PGDAT_DIRTY set;
    the flusher shortcut off): ->writepage stores the bytes (pgpgout) and submits the write,
    which waits in shrink_page_list's plug: the page is kept under writeback (nr_pageout,
    NR_VMSCAN_WRITE), and when the plug is flushed the disk ends the write, which rotates the
    page to the inactive tail (pgrotated); the next pass reclaims it, leaving a shadow, and
    the refault reads the bytes."""
    m, t = machine("v5.14")
    m.vmscan.flusher_writeback = False
    fd, f = open_file(m, t)
    t.files.pwrite(fd, b"kswapd" * 600, 0)
    m.physmem.lru_add_drain_py()
    m.vmscan.set_pgdat_flag(0, 0)                                   # PGDAT_DIRTY
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
    assert store(f).blocks == {}                                    # not written: activated
    m.vmscan.shrink_active_list_py(0, ACTIVE_FILE)
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (0, 1)
    assert m.vmscan.last_reclaim_stat["nr_pageout"] == 1
    assert node(m, "NR_VMSCAN_WRITE") == 1 and event(m, "PGPGOUT") == 8
    assert event(m, "PGROTATED") == 1 and node(m, "NR_WRITEBACK") == 0
    assert node(m, "NR_WRITTEN") == 1 and f.f_mapping.nrpages == 1
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE, kswapd=True) == (1, 1)
    assert list(f.f_mapping.shadows()) == [0] and f.f_mapping.nrpages == 0
    assert t.files.pread(fd, 12, 0) == b"kswapdkswapd"


def test_drop_caches_drops_the_disk_files_clean_pages_and_skips_shadow_only_ones():
    """Scenario 15 on the disk: drop_pagecache_sb walks diskfs's inodes; file A's clean page
    goes without a shadow, file B (shadows only, nrpages 0) is skipped and keeps them; a dirty
    page stays."""
    m, t = machine()
    fa, a = open_file(m, t, "a")
    fb, b = open_file(m, t, "b")
    fc, c = open_file(m, t, "c")
    t.files.write(fb, b"b" * PAGE)
    t.files.fsync(fb)
    m.physmem.lru_add_drain_py()
    evict(m, b, 0)
    t.files.write(fa, b"a" * PAGE)
    t.files.fsync(fa)
    t.files.write(fc, b"c" * PAGE)                       # dirty
    m.physmem.lru_add_drain_py()
    m.vfs.write_file("/proc/sys/vm/drop_caches", b"1")
    assert a.f_mapping.nrpages == 0 and a.f_mapping.mapping_empty()
    assert b.f_mapping.nrpages == 0 and list(b.f_mapping.shadows()) == [0]
    assert c.f_mapping.nrpages == 1
    assert t.files.pread(fa, 1, 0) == b"a" and t.files.pread(fb, 1, 0) == b"b"


def test_a_partial_truncate_keeps_the_first_pages_and_zeroes_the_tail_in_cache_and_on_disk():
    """Scenarios 10 and 11 on the disk: pages 0-3 cached, 4-7 shadows; ftruncate to 6000
    bytes keeps page 0, keeps page 1 with bytes 1904..4095 zeroed (in the cache and in its
    block), removes pages 2-3 and the shadows 4-7: nrpages 2.  Then to 0: nothing left."""
    m, t = machine()
    fd, f = open_file(m, t)
    data = bytes(range(256)) * 128                       # 8 pages
    t.files.pwrite(fd, data[4 * PAGE:], 4 * PAGE)
    t.files.fsync(fd)
    m.physmem.lru_add_drain_py()
    assert m.vmscan.shrink_inactive_list_py(0, INACTIVE_FILE)[0] == 4     # 4-7: shadows
    t.files.pwrite(fd, data[:4 * PAGE], 0)
    t.files.fsync(fd)
    mapping = f.f_mapping
    assert sorted(cached(f)) == [0, 1, 2, 3] and sorted(mapping.shadows()) == [4, 5, 6, 7]
    t.files.ftruncate(fd, 6000)
    assert sorted(cached(f)) == [0, 1] and mapping.shadows() == {} and mapping.nrpages == 2
    page1 = m.physmem.read_bytes(cached(f)[1], 0, PAGE)
    expect = (bytes(range(256)) * 16)[:1904] + bytes(PAGE - 1904)
    assert page1 == expect and store(f).read(1) == expect
    assert sorted(store(f).blocks) == [0, 1]
    t.files.ftruncate(fd, 0)
    assert mapping.mapping_empty() and len(store(f)) == 0


def test_disk_inodes_are_inode_cache_objects_freed_at_evict():
    """diskfs takes its SuperOperations from the inode cache: each file is an inode_cache slab
    object (its i_data inside it), freed when the unlinked file's last reference goes."""
    from memsim.testing import build_machine
    m = build_machine(kernel="v6.18")
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    info = m.vfs.path_lookup(DISKFS_MOUNT_POINT).dentry.d_sb.s_fs_info
    before = info.inodes.nr_inodes
    fds = [open_file(m, t, f"f{i}") for i in range(3)]
    assert info.inodes.nr_inodes == before + 3
    inode = fds[0][1].f_inode
    assert m.slab.object_info(inode.i_addr)["cache"] == "inode_cache"
    assert inode.i_addr < inode.i_mapping.addr < inode.i_addr + m.slab.find_cache("inode_cache").size
    t.files.write(fds[0][0], b"x" * PAGE)
    m.vfs.do_unlinkat(f"{DISKFS_MOUNT_POINT}/f0")
    t.files.close_fd(fds[0][0])
    assert info.inodes.nr_inodes == before + 2 and inode.i_addr == 0
    assert m.check_invariants() == []
