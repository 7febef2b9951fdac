"""filemap:mm_filemap_map_pages and mm_filemap_get_pages (tracepoints.md §5; 6.18's
include/trace/events/filemap.h; declared in tracing/filemap.py) emitted from the C loops of
plugins/pagecache/filemap.pyx: fault-around's window once it found a page, and each
filemap_get_pages() batch of a read."""
from memsim import vm
import pytest

from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT, mount_boot_disk, set_large_folios
from memsim.testing import build_machine, trace_text
from memsim.vfs import O_CREAT, O_RDWR

PAGE = 4096


def machine(kernel="v6.18"):
    m = build_machine(events=["filemap:*"], kernel=kernel)
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def payloads(m, name):
    return [line.split(f"{name}: ", 1)[1] for line in trace_text(m).splitlines() if f" {name}: " in line]


@pytest.mark.parametrize("large_folios", [False, True])
def test_get_pages_fires_per_read_batch_with_the_rest_of_the_read(large_folios):
    """filemap_read(): each filemap_get_pages() call covers [ki_pos >> 12, DIV_ROUND_UP(end) - 1]
    and returns a batch of at most 31 folios, ending early after a PG_readahead folio: the
    70-page read's window is [0, 70) (ractl_max_pages lets it reach the request) with its
    marker at 70 - 35, so the batches start at 0, 31, 36 (after the marker) and 67 -- with
    large folios too (page_cache_ra_order's loop reads the first window as order-0 folios)."""
    starts = (0, 31, 36, 67)
    m, t = machine()
    if not large_folios:
        set_large_folios(m, 0)
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.ftruncate(fd, 70 * PAGE)
    assert len(t.files.pread(fd, 70 * PAGE, 0)) == 70 * PAGE
    assert payloads(m, "mm_filemap_get_pages") == [
        f"dev=254:0 ino=c ofs={lo * PAGE}-{70 * PAGE - 1}" for lo in starts]


def test_map_pages_fires_with_the_window_clipped_to_the_end_of_file():
    m, t = machine()
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.pwrite(fd, b"m" * (10 * PAGE), 0)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 16 * PAGE, "r", "file", hint=0x7f0000000000,
                   filp=t.files.fget(fd))
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == 0
    assert payloads(m, "mm_filemap_map_pages") == [f"dev=254:0 ino=c ofs=0-{10 * PAGE - 1}"]
    # a window with no cached page: next_uptodate_folio() finds none, no event
    v2 = vm.do_mmap(m.mmcore, t.mm, m.files, 4 * PAGE, "r", "file", offset=0, filp=t.files.fget(fd))
    t.files.ftruncate(fd, 0)
    t.files.ftruncate(fd, 4 * PAGE)
    assert m.mmcore.access(t.mm, v2, v2.vm_start, v2.vm_start + PAGE, False)[1] == 0
    assert len(payloads(m, "mm_filemap_map_pages")) == 1


def test_v514_has_neither_event_and_emits_nothing():
    """The range events came in 6.12: a v5.14 machine declares and emits neither."""
    m, t = machine("v5.14")
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.ftruncate(fd, 4 * PAGE)
    t.files.pread(fd, 4 * PAGE, 0)
    info = t.files.fget(fd).f_inode.i_sb.s_fs_info
    assert (info.filemap.ev_map_pages, info.filemap.ev_get_pages) == (-1, -1)
    assert "mm_filemap_get_pages" not in trace_text(m)


def test_the_core_fires_add_and_delete_for_disk_file_pages():
    """The add/delete events come from the core's primitives the a_ops use: a read miss adds,
    truncation deletes (dev 254:0, the file's inode number, the byte offset)."""
    m, t = machine()
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.ftruncate(fd, 2 * PAGE)
    t.files.pread(fd, 2 * PAGE, 0)
    t.files.ftruncate(fd, 0)
    adds = payloads(m, "mm_filemap_add_to_page_cache")
    deletes = payloads(m, "mm_filemap_delete_from_page_cache")
    assert [a.split(" pfn=")[0] for a in adds] == ["dev 254:0 ino c"] * 2
    assert [a.split(" ofs=")[1] for a in adds] == ["0 order=0", "4096 order=0"]
    assert [d.split(" ofs=")[1] for d in deletes] == ["0 order=0", "4096 order=0"]
