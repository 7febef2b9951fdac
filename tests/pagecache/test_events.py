"""filemap:mm_filemap_map_pages and mm_filemap_get_pages (tracepoints.md §5; 6.18's
include/trace/events/filemap.h) emitted from the C loops of plugins/pagecache/filemap.pyx:
fault-around's window once it found a page, and each filemap_get_pages() batch of a read.

The declarations are the tracing package's (tracing/filemap.py) when it has them; until then
this test declares the two events itself, from the live 6.18 kernel's format files."""
from memsim.hookspecs import hookimpl
from memsim import vm
from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT, mount_boot_disk
from memsim.testing import build_machine, trace_text
from memsim.tracing.events import EventDecl, layout_fields
from memsim.vfs import O_CREAT, O_RDWR

PAGE = 4096
NAMES = ("mm_filemap_map_pages", "mm_filemap_get_pages")


class FilemapRangeEvents:
    """Declares the two events (c_values i_ino, s_dev, index, last_index) unless a plugin did."""

    __name__ = "filemap-range-events"

    @hookimpl(trylast=True)
    def memsim_register_events(self, events, profile, patch_states):
        if profile.name != "v6.18":
            return
        U = False
        for name in NAMES:
            try:
                events.get(f"filemap:{name}")
                continue
            except KeyError:
                pass
            events.add(EventDecl(
                "filemap", name,
                layout_fields([("unsigned long", "i_ino", 8, U), ("dev_t", "s_dev", 4, U),
                               ("unsigned long", "index", 8, U),
                               ("unsigned long", "last_index", 8, U)]),
                '"dev=%d:%d ino=%lx ofs=%lld-%lld", ((unsigned int) ((REC->s_dev) >> 20)), '
                '((unsigned int) ((REC->s_dev) & ((1U << 20) - 1))), REC->i_ino, '
                '((loff_t)REC->index) << 12, ((((loff_t)REC->last_index + 1) << 12) - 1)',
                c_values=("i_ino", "s_dev", "index", "last_index"), plugin="test"))


def machine():
    m = build_machine(events=["filemap:*"], plugins=[FilemapRangeEvents()], kernel="v6.18")
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def payloads(m, name):
    return [line.split(f"{name}: ", 1)[1] for line in trace_text(m).splitlines() if f" {name}: " in line]


def test_the_declarations_match_the_live_kernels_format():
    from memsim.testing import assert_format_is_the_live_kernels
    m, _ = machine()
    decls = [m.events.get(f"filemap:{n}") for n in NAMES]
    for n in NAMES:
        assert_format_is_the_live_kernels(decls, "filemap", n)


def test_get_pages_fires_per_read_batch_with_the_rest_of_the_read():
    """filemap_read(): each filemap_get_pages() call covers [ki_pos >> 12, DIV_ROUND_UP(end) - 1]
    and returns a batch of at most 31 pages: 70 pages read in 3 batches."""
    m, t = machine()
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.ftruncate(fd, 70 * PAGE)
    assert len(t.files.pread(fd, 70 * PAGE, 0)) == 70 * PAGE
    assert payloads(m, "mm_filemap_get_pages") == [
        f"dev=254:0 ino=c ofs={lo * PAGE}-{70 * PAGE - 1}" for lo in (0, 31, 62)]


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
