"""Large folios in diskfs's page cache (v6.18: mapping_set_large_folios on every regular file, as
ext4 since 6.16): readahead's page_cache_ra_order() allocates compound pages, each one
multi-index entry of i_pages, and every path that meets one handles it whole -- the read copy,
a write dirtying it, fault-around mapping its pages, writeback writing all its blocks, reclaim
taking it with one shadow over its range, truncate / punch hole / invalidate / drop_caches, and
migration refusing it.  The orders are those of the live kernel (probes/ra_probe_lf.txt,
replayed in test_readahead.py); v5.14 reads order-0 pages only."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.plugins.pagecache.diskfs import (DISKFS_MOUNT_POINT, DISKFS_TYPE, check_invariants,
                                             mount_boot_disk, set_large_folios)
from memsim.testing import build_machine, trace_text
from memsim.vfs import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, O_CREAT, O_RDWR,
                        POSIX_FADV_DONTNEED)
from memsim.vmstat import node_stat_item as NS

MiB = 1 << 20
PAGE = 4096
PG_referenced = 2
PG_dirty = 3
PG_active = 6
PAGES = 256
DATA = bytes((i * 7) & 255 for i in range(256)) * 16 * PAGES


def machine(kernel="v6.18", events=()):
    if events:
        m = build_machine(events=list(events), kernel=kernel, cpus=1)
        mount_boot_disk(m)
    else:
        m = Machine(MachineSpec(cpus=1, nodes=(64 * MiB,), kernel=kernel), with_slab=False)
        m.vfs.register_filesystem(DISKFS_TYPE)
        mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def on_disk(m, t, pages=PAGES):
    """A file of ``pages`` pages of DATA on the disk, dropped from the cache, open read-write."""
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.pwrite(fd, DATA[:pages * PAGE], 0)
    t.files.fsync(fd)
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_DONTNEED)
    f = t.files.fget(fd)
    assert f.f_mapping.nrpages == 0
    return fd, f


def read_sequentially(t, fd, pages=PAGES, chunk=4):
    """The file read in ``chunk``-page reads: readahead ramps its orders up (2, 3, 4, 5)."""
    return b"".join(t.files.pread(fd, chunk * PAGE, i * PAGE) for i in range(0, pages, chunk))


def cached(f):
    return f.f_inode.i_sb.s_fs_info.filemap.cached_pages(f.f_mapping)


def folios(m, f):
    """{first index: order} of the file's cached folios."""
    out, c = {}, cached(f)
    for index in sorted(c):
        info = m.physmem.page_info(c[index])
        if info["compound_head"] == 0 or info["compound_order"]:
            out[index] = info["compound_order"]
    return out


def node(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def vmstat(m):
    return {k: int(v) for k, v in (line.split() for line in m.vfs.read_file("/proc/vmstat").decode().splitlines())}


def checks(m):
    assert check_invariants(m) == [] and m.check_invariants() == []


def test_readahead_adds_each_large_folio_once_and_counts_its_pages():
    """A sequential read of a 256-page file in 16 KiB reads: the windows ramp ra->order by 2 a
    time (capped by ilog2(size), 5 for the 32-page window), each folio one multi-index entry:
    nrpages and NR_FILE_PAGES count pages, the LRU holds one entry per folio with its pages in
    the list's size, and filemap:mm_filemap_add_to_page_cache fires once per folio with its
    order, as 6.18 prints it."""
    m, t = machine(events=["filemap:mm_filemap_add_to_page_cache"])
    fd, f = on_disk(m, t)
    pages0 = node(m, "NR_FILE_PAGES")
    assert read_sequentially(t, fd) == DATA
    got = folios(m, f)
    assert sorted(set(got.values())) == [0, 2, 3, 4, 5]
    assert sum(1 << o for o in got.values()) == PAGES == f.f_mapping.nrpages
    assert node(m, "NR_FILE_PAGES") - pages0 == PAGES
    for index, order in got.items():
        assert f.f_mapping.i_pages.get_order_py(index) == order
        assert index % (1 << order) == 0
    m.physmem.lru_add_drain_py()
    ours = [p for p in m.physmem.lru_pages(0, 2) if m.physmem.page_info(p)["mapping"]
            == m.physmem.page_info(cached(f)[0])["mapping"]]
    assert len(ours) == len(got)
    adds = [line.split("mm_filemap_add_to_page_cache: ", 1)[1] for line in trace_text(m).splitlines()
            if "mm_filemap_add_to_page_cache:" in line and " ino c " in line]
    adds = adds[-len(got):]                 # after the write's own (order-0) adds
    assert [(int(a.split("ofs=")[1].split()[0]) // PAGE, int(a.split("order=")[1])) for a in adds] \
        == sorted(got.items())
    checks(m)


def test_v514_and_a_switched_off_filesystem_read_order_0_pages():
    for kernel, order in (("v5.14", 0), ("v6.18", 0)):
        m, t = machine(kernel)
        if kernel == "v6.18":
            set_large_folios(m, order)
        fd, f = on_disk(m, t)
        assert read_sequentially(t, fd) == DATA
        assert set(folios(m, f).values()) == {0} and f.f_mapping.nrpages == PAGES


def test_reading_a_folio_page_by_page_marks_it_accessed_once():
    """filemap_read() marks the first folio of a batch accessed only when the read does not
    continue in the folio the last one ended in (pos_same_folio): eight 4 KiB reads of an
    order-3 folio leave it referenced, not activated (a second mark would activate it)."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd, 32)
    assert folios(m, f)[24] == 3
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_DONTNEED)
    read_sequentially(t, fd, 24)            # the window's readahead brings [24, 32) in again
    m.physmem.lru_add_drain_py()
    head = cached(f)[24]
    assert folios(m, f)[24] == 3
    for i in range(24, 32):
        assert t.files.pread(fd, PAGE, i * PAGE) == DATA[i * PAGE:(i + 1) * PAGE]
    flags = m.physmem.page_info(head)["flags"]
    assert flags & (1 << PG_referenced) and not flags & (1 << PG_active)


def test_a_write_dirties_the_whole_folio_and_writeback_writes_all_its_pages():
    """A 10-byte write into page 25 of the order-3 folio [24, 32): the folio is dirty,
    NR_FILE_DIRTY and nr_dirtied count its 8 pages (folio_account_dirtied); fsync writes all 8
    blocks (pgpgout 8 x 4 KiB, nr_written 8, through set_page_writeback / end_page_writeback
    of the folio) and the bytes come back from the disk after the cache is dropped."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd, 32)
    assert folios(m, f)[24] == 3
    before = vmstat(m)
    dirtied, written = node(m, "NR_DIRTIED"), node(m, "NR_WRITTEN")
    t.files.pwrite(fd, b"Z" * 10, 25 * PAGE + 5)
    assert node(m, "NR_FILE_DIRTY") == 8 and node(m, "NR_DIRTIED") - dirtied == 8
    assert m.physmem.page_info(cached(f)[24])["flags"] & (1 << PG_dirty)
    t.files.fsync(fd)
    after = vmstat(m)
    assert node(m, "NR_FILE_DIRTY") == 0 and node(m, "NR_WRITEBACK") == 0
    assert after["pgpgout"] - before["pgpgout"] == 8 * 4
    assert node(m, "NR_WRITTEN") - written == 8
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_DONTNEED)
    assert f.f_mapping.nrpages == 0
    expect = DATA[:25 * PAGE + 5] + b"Z" * 10 + DATA[25 * PAGE + 15:32 * PAGE]
    assert t.files.pread(fd, 32 * PAGE, 0) == expect
    checks(m)


def test_fault_around_maps_the_pages_of_large_folios_and_reclaim_unmaps_them():
    """A shared mapping of the cached file, read through: fault-around maps every page of the
    large folios (filemap_map_pages over the multi-index entries), each page's mapcount 1,
    NR_FILE_MAPPED the pages, the folio's refcount the cache's plus one per PTE.  A write
    through one PTE dirties its folio whole.  Reclaim then unmaps each folio through rmap
    (try_to_unmap of every page), writes the dirty one, and takes them whole: pgsteal counts
    pages, each folio leaves one shadow entry of its order over its range."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd)
    got = folios(m, f)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, PAGES * PAGE, "rw", "file-shared", filp=f)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert node(m, "NR_FILE_MAPPED") == PAGES
    head = cached(f)[64]
    assert got[64] == 5
    assert [m.physmem.page_info(head + i)["mapcount"] for i in range(32)] == [1] * 32
    assert m.physmem.page_info(head)["refcount"] == 1 + 32
    assert m.mmcore.access(t.mm, v, v.vm_start + 70 * PAGE, v.vm_start + 71 * PAGE, True)[1] == 0
    assert node(m, "NR_FILE_DIRTY") == 32
    checks(m)
    before = vmstat(m)
    for _ in range(100):
        if f.f_mapping.nrpages == 0:
            break
        if not m.vmscan.try_to_free_pages(0, 32):
            m.physmem.lru_add_drain_py()
    assert f.f_mapping.nrpages == 0 and node(m, "NR_FILE_MAPPED") == 0
    after = vmstat(m)
    steal = sum(after[k] - before[k] for k in ("pgsteal_direct", "pgsteal_kswapd"))
    assert steal >= PAGES and after["pgsteal_file"] - before["pgsteal_file"] == steal
    assert after["pgscan_file"] - before["pgscan_file"] >= steal
    assert node(m, "NR_ISOLATED_FILE") == 0
    shadows = f.f_mapping.shadows()
    assert sorted(shadows) == list(range(PAGES))
    for index, order in got.items():
        assert f.f_mapping.i_pages.get_order_py(index) == order
    # the mapping faults the bytes back, the written ones from the disk
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert t.files.pread(fd, PAGE, 70 * PAGE) == DATA[70 * PAGE:71 * PAGE]
    checks(m)


def test_truncate_and_punch_hole_take_whole_folios_and_keep_a_dirty_partial_one():
    """Punching [25, 27) out of the clean order-3 folio [24, 32): memsim does not split a file
    folio, so truncate_inode_partial_folio() takes the kernel's path for a failed split -- a
    clean folio is truncated whole (its other pages are read back from the disk later), while
    a hole punched in a dirty one zeroes the range and keeps the folio.  A hole over whole
    folios removes them whole.  ftruncate into a folio: the same rules at the new end."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd)
    got = folios(m, f)
    assert got[24] == 3 and got[32] == 4 and got[48] == 4
    n = f.f_mapping.nrpages
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 25 * PAGE, 2 * PAGE)
    assert not any(i in cached(f) for i in range(24, 32)) and f.f_mapping.nrpages == n - 8
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 32 * PAGE, 32 * PAGE)
    assert not any(i in cached(f) for i in range(32, 64)) and f.f_mapping.nrpages == n - 40
    # a dirty folio keeps its pages, zeroed in the hole
    t.files.pwrite(fd, b"D" * PAGE, 66 * PAGE)
    assert folios(m, f)[64] == 5
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65 * PAGE + 100, 2 * PAGE)
    assert all(i in cached(f) for i in range(64, 96))
    got = t.files.pread(fd, 4 * PAGE, 64 * PAGE)
    assert got[:PAGE + 100] == DATA[64 * PAGE:65 * PAGE + 100]
    assert got[PAGE + 100:3 * PAGE + 100] == bytes(2 * PAGE)
    assert got[3 * PAGE + 100:] == DATA[67 * PAGE + 100:68 * PAGE]
    t.files.fsync(fd)
    # ftruncate inside the clean order-5 folio [96, 128): it goes whole
    assert folios(m, f)[96] == 5
    t.files.ftruncate(fd, 100 * PAGE + 10)
    assert max(cached(f)) < 96
    assert t.files.pread(fd, 5 * PAGE, 96 * PAGE) == DATA[96 * PAGE:100 * PAGE + 10]
    checks(m)


def test_invalidate_drops_whole_folios_and_deactivates_a_mapped_one():
    """fadvise(DONTNEED) / drop_caches (invalidate_mapping_pages): an unmapped clean folio goes
    whole; one a PTE maps (any of its pages) stays; a range covering only part of a folio
    leaves it (find_lock_entries skips it)."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd, 64)
    assert folios(m, f)[32] == 4
    m.vfs.fadvise(t.files, fd, 34 * PAGE, 4 * PAGE, POSIX_FADV_DONTNEED)
    assert all(i in cached(f) for i in range(32, 48))
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * PAGE, "r", "file", filp=f)
    m.mmcore.access(t.mm, v, v.vm_start + 40 * PAGE, v.vm_start + 41 * PAGE, False)
    m.physmem.lru_add_drain_py()
    assert m.drop_caches.drop_pagecache(m) >= 1
    left = cached(f)
    assert all(i in left for i in range(32, 48)), "the mapped folio stays"
    assert not any(i in left for i in range(16, 24))
    checks(m)


def test_migrating_a_large_file_folio_is_busy():
    """alloc_contig_range() over a pageblock holding a large page-cache folio: memsim does not
    migrate a large file folio (its migratepage says -EBUSY), so the range is busy."""
    m, t = machine()
    fd, f = on_disk(m, t)
    read_sequentially(t, fd, 32)
    head = cached(f)[24]
    assert folios(m, f)[24] == 3
    base = head & ~511
    assert m.physmem.alloc_contig_range(base, base + 512) == -16
    assert cached(f)[24] == head
    checks(m)
