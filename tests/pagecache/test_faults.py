"""Faults on mapped diskfs files through the typed a_ops (filemap_fault's miss -> ->alloc and
->readpage, filemap_map_pages for fault-around, filemap_page_mkwrite, filemap_dirty_folio):
the fault-around window of kernel-6.18-observed.md, major faults reading the disk, SIGBUS past
EOF, a private COW of a file page, and the dirty accounting of shared writes."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT, DISKFS_TYPE, mount_boot_disk
from memsim.vfs import O_CREAT, O_RDWR
from memsim.vmstat import node_stat_item as NS, vm_event_item as EV

MiB = 1 << 20
PAGE = 4096
VM_FAULT_SIGBUS = 0x2
PG_dirty = 3


def machine(kernel="v6.18"):
    m = Machine(MachineSpec(cpus=1, nodes=(32 * MiB,), kernel=kernel), with_slab=False)
    m.vfs.register_filesystem(DISKFS_TYPE)
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def disk_file(m, t, data, name="f"):
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/{name}", O_RDWR | O_CREAT)
    if data:
        t.files.pwrite(fd, data, 0)
        t.files.fsync(fd)
    return fd, t.files.fget(fd)


def mmap(m, t, file, length, prot="r", shared=False, hint=None):
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, prot, "file-shared" if shared else "file",
                      hint=hint, filp=file)


def faults(m):
    return m.mmcore.fault_counts_dict()


def node(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def mapped(m, t, v, pages):
    return sum(1 for i in range(pages) if m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) is not None)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
@pytest.mark.parametrize("first_index, others", [(3, 15), (505, 6)])
def test_fault_around_maps_the_cached_neighbours_as_the_live_kernel(kernel, first_index, others):
    """kernel-6.18-observed.md: 16 cached pages, a read of p0: 15 others are mapped when p0 is
    at PTE index 3, only 6 at index 505 (the window starts at max(ALIGN_DOWN(idx, 16), the VMA's
    start) and stops at the page table's end).  One fault: the faulting page counted as a file
    read (filemap_map_pages mapped it: VM_FAULT_NOPAGE), the others as fault_around."""
    m, t = machine(kernel)
    _, f = disk_file(m, t, bytes(range(16)) * (16 * PAGE // 16))
    base = 0x7f0000000000 + first_index * PAGE
    v = mmap(m, t, f, 16 * PAGE, hint=base)
    assert v.vm_start == base
    before = faults(m)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == 0
    after = faults(m)
    assert after["fault_around"] - before["fault_around"] == others
    assert after["file_read"] - before["file_read"] == 1
    assert after["major"] == before["major"]
    assert mapped(m, t, v, 16) == others + 1
    assert m.rss(t)["MM_FILEPAGES"] == others + 1
    # the rest of the mapping: the pages fault-around did not reach are faulted (and mapped
    # around) again, with no major fault: all are cached
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert mapped(m, t, v, 16) == 16 and faults(m)["major"] == before["major"]
    assert m.check_invariants() == []


def test_fault_around_skips_value_entries_and_stops_at_the_end_of_file():
    m, t = machine()
    fd, f = disk_file(m, t, b"e" * (10 * PAGE + 1))       # 11 pages, the last partial
    m.vfs.fadvise(t.files, fd, 4 * PAGE, PAGE, 4)                  # POSIX_FADV_DONTNEED: page 4 goes
    assert 4 not in f.f_inode.i_sb.s_fs_info.filemap.cached_pages(f.f_mapping)
    v = mmap(m, t, f, 16 * PAGE, hint=0x7f0000000000)
    before = faults(m)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == 0
    # pages 0-10 but 4 cached; the window 0-15 is clipped to the last page of i_size (10)
    assert faults(m)["fault_around"] - before["fault_around"] == 9
    assert mapped(m, t, v, 16) == 10


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_cold_mapped_file_faults_major_and_reads_the_bytes_from_the_disk(kernel):
    m, t = machine(kernel)
    data = b"".join(bytes([i]) * PAGE for i in range(8))
    fd, f = disk_file(m, t, data)
    m.vfs.fadvise(t.files, fd, 0, 0, 4)                            # drop the clean pages
    assert f.f_mapping.nrpages == 0
    v = mmap(m, t, f, 8 * PAGE)
    pgpgin, majflt = m.physmem.vmstat.vm_event(EV.PGPGIN), m.physmem.vmstat.vm_event(EV.PGMAJFAULT)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert m.physmem.vmstat.vm_event(EV.PGMAJFAULT) - majflt == 8    # nothing around to map
    assert m.physmem.vmstat.vm_event(EV.PGPGIN) - pgpgin == 8 * 8
    for i in range(8):
        pfn = m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE)
        assert m.physmem.read_bytes(pfn, 0, PAGE) == bytes([i]) * PAGE


def test_touching_a_mapping_past_the_end_of_file_is_sigbus():
    m, t = machine()
    _, f = disk_file(m, t, b"s" * (PAGE + 1))
    v = mmap(m, t, f, 4 * PAGE)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + 2 * PAGE, False)[1] == 0
    progress, code, addr = m.mmcore.access(t.mm, v, v.vm_start + 2 * PAGE, v.vm_end, False)
    assert code == VM_FAULT_SIGBUS and addr == v.vm_start + 2 * PAGE


def test_a_private_write_copies_the_file_page():
    """do_cow_fault(): the file page is read in (->fault), copied to a new anonymous page that
    is mapped writable; the file and its cached page keep their bytes."""
    m, t = machine()
    fd, f = disk_file(m, t, b"orig" * 1024)
    v = mmap(m, t, f, PAGE, prot="rw")
    before = faults(m)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    assert faults(m)["file_cow"] - before["file_cow"] == 1
    anon = m.mmcore.pfn_of(t.mm, v.vm_start)
    cached = f.f_inode.i_sb.s_fs_info.filemap.cached_pages(f.f_mapping)[0]
    assert anon != cached
    m.physmem.write_bytes(anon, 0, b"COPY")
    assert t.files.pread(fd, 8, 0) == b"origorig"
    assert m.rss(t)["MM_ANONPAGES"] == 1 and node(m, "NR_FILE_DIRTY") == 0


def test_a_shared_write_dirties_the_page_and_fsync_cleans_and_write_protects_it():
    """A read fault maps a shared file page read-only (it is dirty-accounted); the write
    fault (do_wp_page -> wp_page_shared) runs filemap_page_mkwrite, which dirties it
    (NR_FILE_DIRTY, NR_DIRTIED); fsync writes it (clear_page_dirty_for_io write-protects the
    PTE) and the next write dirties it again."""
    m, t = machine()
    fd, f = disk_file(m, t, bytes(2 * PAGE))
    v = mmap(m, t, f, 2 * PAGE, prot="rw", shared=True)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start)
    assert node(m, "NR_FILE_DIRTY") == 0
    dirtied = node(m, "NR_DIRTIED")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
    assert m.mmcore.pfn_of(t.mm, v.vm_start) == pfn                 # no copy: the shared page
    assert node(m, "NR_FILE_DIRTY") == 1 and node(m, "NR_DIRTIED") == dirtied + 1
    assert m.physmem.page_info(pfn)["flags"] & (1 << PG_dirty)
    # a write fault on a page not mapped yet: do_shared_fault
    before = faults(m)
    assert m.mmcore.access(t.mm, v, v.vm_start + PAGE, v.vm_end, True)[1] == 0
    assert faults(m)["shared"] - before["shared"] == 1 and node(m, "NR_FILE_DIRTY") == 2
    m.physmem.write_bytes(pfn, 0, b"through the mapping")
    t.files.fsync(fd)
    assert node(m, "NR_FILE_DIRTY") == 0 and node(m, "NR_WRITTEN") >= 2
    store = f.f_inode.i_sb.s_fs_info.filemap.store_of(f.f_mapping)
    assert store.read(0).startswith(b"through the mapping")
    # write-protected again: the next write faults and dirties the page again
    before = faults(m)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
    assert faults(m)["shared"] - before["shared"] == 1 and node(m, "NR_FILE_DIRTY") == 1
    assert m.check_invariants() == []


def test_a_shared_mapping_truncated_under_it_faults_sigbus():
    m, t = machine()
    fd, f = disk_file(m, t, b"t" * (2 * PAGE))
    v = mmap(m, t, f, 2 * PAGE, prot="rw", shared=True)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    t.files.ftruncate(fd, PAGE)
    assert mapped(m, t, v, 2) == 1 and f.f_mapping.nrpages == 1
    assert m.mmcore.access(t.mm, v, v.vm_start + PAGE, v.vm_end, True)[1] == VM_FAULT_SIGBUS
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
