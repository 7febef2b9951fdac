"""The readahead window of diskfs's buffered reads (plugins/pagecache/filemap.pyx: mm/readahead.c's
page_cache_sync_ra / page_cache_async_ra, v5.14's ondemand_readahead, force_page_cache_ra),
file_ra_state per open file, the bdi's read_ahead_kb in sysfs and the readahead advice of
fadvise (mm/fadvise.c).  pagecache.md has no readahead scenario; the windows are the kernel
source's arithmetic, worked out in each test, and the v6.18 ones are those the live kernel read
(probes/ra_probe.sh on an ext4 without large folios: :func:`test_the_windows_are_those_the_live_kernel_reads`)."""
import pytest

from memsim.machine import Machine, MachineSpec
from memsim.plugins.pagecache.diskfs import (DISKFS_MOUNT_POINT, DISKFS_TYPE, mount_boot_disk,
                                             set_large_folios)
from memsim.vfs import (FMODE_RANDOM, O_CREAT, O_RDONLY, O_RDWR, POSIX_FADV_DONTNEED,
                        POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                        POSIX_FADV_WILLNEED, VfsError)
from memsim.vmstat import node_stat_item as NS

MiB = 1 << 20
PAGE = 4096
KERNELS = ("v5.14", "v6.18")
PG_readahead = 18                           # PG_reclaim's bit


def machine(kernel="v6.18", mib=64, large_folios=False):
    """A machine with diskfs mounted; v6.18's large folios off unless ``large_folios`` (the
    windows of these tests are those of an ext4 without them: the order-0 probe)."""
    m = Machine(MachineSpec(cpus=1, nodes=(mib * MiB,), kernel=kernel), with_slab=False)
    m.vfs.register_filesystem(DISKFS_TYPE)
    mount_boot_disk(m)
    if not large_folios:
        set_large_folios(m, 0)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def on_disk(m, t, pages, name="f"):
    """A file of ``pages`` pages written to the disk and dropped from the cache; an fd open
    for reading on it (a new open file: a new file_ra_state)."""
    path = f"{DISKFS_MOUNT_POINT}/{name}"
    w = m.vfs.open(t.files, path, O_RDWR | O_CREAT)
    t.files.write(w, bytes(range(256)) * 16 * pages)
    t.files.fsync(w)
    m.vfs.fadvise(t.files, w, 0, 0, POSIX_FADV_DONTNEED)
    t.files.close_fd(w)
    fd = m.vfs.open(t.files, path, O_RDONLY)
    file = t.files.fget(fd)
    assert file.f_mapping.nrpages == 0
    return fd, file


def cached(file):
    return file.f_inode.i_sb.s_fs_info.filemap.cached_pages(file.f_mapping)


def marked(m, file):
    """The indices of the file's cached pages with PG_readahead."""
    return sorted(i for i, pfn in cached(file).items()
                  if m.physmem.page_info(pfn)["flags"] & (1 << PG_readahead))


def window(file):
    ra = file.f_ra
    return ra.start, ra.size, ra.async_size


def node(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(NS, item))


def vmstat(m):
    return dict(line.split() for line in m.vfs.read_file("/proc/vmstat").decode().splitlines())


@pytest.mark.parametrize("kernel", KERNELS)
def test_sequential_reads_ramp_the_window_from_the_marker(kernel):
    """A 4 KiB read at the file's start misses: the initial window is get_init_ra_size(1, 32) =
    4 pages, async_size 3, PG_readahead on page 1.  Each read of a marked page moves the
    window on and grows it (get_next_ra_size: x2 up to max/2, then max = ra_pages 32), marking
    its first page: [4, 12), [12, 28), [28, 60); the last one reaching EOF (64 pages) is
    clipped and unmarked.  Every page read in costs 8 sectors of pgpgin (4 KiB in
    /proc/vmstat).  v5.14's read batch reaches one page past the read (last_index; fixed by
    5956592ce337 in 6.3), so its first read already meets the marker on page 1 and reads
    [4, 12) at once; from there both kernels agree."""
    m, t = machine(kernel)
    fd, f = on_disk(m, t, 64)
    pgpgin = int(vmstat(m)["pgpgin"])
    first = [(0, 4, (0, 4, 3), [1]), (1, 12, (4, 8, 8), [4])] if kernel == "v6.18" else \
        [(0, 12, (4, 8, 8), [4]), (1, 12, (4, 8, 8), [4])]
    steps = first + [(4, 28, (12, 16, 16), [12]), (12, 60, (28, 32, 32), [28]),
                     (28, 64, (60, 32, 32), [])]
    for index, nrpages, win, marks in steps:
        assert t.files.pread(fd, PAGE, index * PAGE) == bytes(range(256)) * 16
        assert f.f_mapping.nrpages == nrpages, index
        assert window(f) == win and marked(m, f) == marks, index
    assert int(vmstat(m)["pgpgin"]) - pgpgin == 64 * 4
    # the pages in between are hits: no readahead, the window stays
    for index in range(64):
        t.files.pread(fd, PAGE, index * PAGE)
    assert window(f) == (60, 32, 32) and f.f_mapping.nrpages == 64


def test_a_large_read_uses_the_disks_io_pages_and_reads_half_the_window_async():
    """A read larger than the window (ractl_max_pages: up to bdi->io_pages = 320, max_sectors_kb
    1280): the initial window is 320 pages, async_size 160 (v6.18: half of it, as the request
    covers it all), so the read of 2 MiB (512 pages) crosses the marker at page 160, which
    brings [320, 640) in marked at 320, and that marker brings [640, 960) in."""
    m, t = machine("v6.18", mib=128)
    fd, f = on_disk(m, t, 1024)
    assert len(t.files.read(fd, 2 * MiB)) == 2 * MiB
    assert window(f) == (640, 320, 320) and f.f_mapping.nrpages == 960
    assert marked(m, f) == [640]
    assert f.f_ra.prev_pos == 2 * MiB


def test_v514_an_initial_window_all_async_takes_the_next_one_in_at_once():
    """v5.14's ondemand_readahead(): a request of the window's size at index 0 gives size ==
    async_size, so readit merges the next window: size stays at max, async_size max / 2."""
    m, t = machine("v5.14")
    fd, f = on_disk(m, t, 128)
    assert len(t.files.read(fd, 32 * PAGE)) == 32 * PAGE
    assert window(f)[:2] == (32, 32)          # [0, 32) with its marker at 16, then [32, 64)
    assert f.f_mapping.nrpages == 64


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_window_clipped_at_eof_keeps_its_lookahead(kernel):
    """do_page_cache_ra() clips a window at the file's last page but keeps lookahead_size: a
    32-page read of a 20-page file opens [0, 32) with async_size 16 (v5.14: 32, merged at
    readit to 16), clipped to 20 pages with the marker at 20 - 16 = 4; the read meets it and
    the async readahead, not at the expected index 16, rebuilds the window from the cached run
    (page_cache_next_miss: 20) -- [20, 52), nothing left to read.  The live 6.18 kernel did the
    same (probes/ra_probe.txt, "short b")."""
    m, t = machine(kernel)
    fd, f = on_disk(m, t, 20)
    assert len(t.files.pread(fd, 32 * PAGE, 0)) == 20 * PAGE
    assert sorted(cached(f)) == list(range(20)) and marked(m, f) == []
    assert window(f) == (20, 32, 32)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_small_random_read_reads_only_itself_and_keeps_the_window(kernel):
    """A miss far from the last read with no cached history before it (page_cache_prev_miss
    finds the gap at once; v5.14 try_context_readahead fails) reads just the request and leaves
    file_ra_state alone."""
    m, t = machine(kernel)
    fd, f = on_disk(m, t, 64)
    t.files.pread(fd, 100, 0)
    before = window(f)
    t.files.pread(fd, PAGE, 40 * PAGE)
    assert 40 in cached(f) and 41 not in cached(f) and window(f) == before


def test_a_miss_after_a_cached_run_reads_a_window_of_that_history():
    """v6.18 page_cache_sync_ra(): a miss at 8 with pages 0-7 cached (a stream another fd
    read) and the file cached from its start: contig_count 8, doubled, + the request = 17
    pages, async_size 1 -- its marker is the window's last page."""
    m, t = machine("v6.18")
    fd, f = on_disk(m, t, 64)
    other = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDONLY)
    m.vfs.fadvise(t.files, other, 0, 0, POSIX_FADV_RANDOM)
    for index in range(8):
        t.files.pread(other, PAGE, index * PAGE)
    assert sorted(cached(f)) == list(range(8))
    t.files.pread(fd, PAGE, 8 * PAGE)
    assert window(f) == (8, 17, 1) and sorted(cached(f)) == list(range(25))
    assert marked(m, f) == [24]


@pytest.mark.parametrize("kernel", KERNELS)
def test_fadvise_random_reads_what_is_asked_and_normal_brings_readahead_back(kernel):
    """POSIX_FADV_RANDOM sets FMODE_RANDOM: a miss is force_page_cache_ra() of the request
    alone; POSIX_FADV_NORMAL clears it."""
    m, t = machine(kernel)
    fd, f = on_disk(m, t, 64)
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_RANDOM)
    assert f.f_mode & FMODE_RANDOM
    t.files.pread(fd, 3 * PAGE, 0)
    assert sorted(cached(f)) == [0, 1, 2] and marked(m, f) == []
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_NORMAL)
    assert not f.f_mode & FMODE_RANDOM
    t.files.pread(fd, PAGE, 3 * PAGE)
    assert f.f_mapping.nrpages > 4


def test_fadvise_sequential_doubles_the_window_and_willneed_reads_ahead():
    """POSIX_FADV_SEQUENTIAL: ra_pages = 2 x the bdi's (64); POSIX_FADV_WILLNEED:
    force_page_cache_readahead() of the range's pages, at most max(io_pages 320, ra_pages),
    in 2 MiB chunks, without markers."""
    m, t = machine("v6.18", mib=128)
    fd, f = on_disk(m, t, 1024)
    assert f.f_ra.ra_pages == 32
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    assert f.f_ra.ra_pages == 64
    m.vfs.fadvise(t.files, fd, 10, 5 * PAGE, POSIX_FADV_WILLNEED)    # pages 0-5 (partial ends)
    assert sorted(cached(f)) == list(range(6)) and marked(m, f) == []
    m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_WILLNEED)            # the whole file: 320 pages
    assert sorted(cached(f)) == list(range(320))
    with pytest.raises(VfsError):
        m.vfs.fadvise(t.files, fd, 0, -1, POSIX_FADV_WILLNEED)


def test_read_ahead_kb_in_sysfs_sets_the_window_of_files_opened_after():
    """/sys/class/bdi/254:0/read_ahead_kb and /sys/block/vda/queue/read_ahead_kb show the disk's
    ra_pages in KiB (128: VM_READAHEAD_PAGES) and set it; a file opened before keeps the
    window it copied at open (file_ra_state_init).  With 0, a miss reads one page."""
    m, t = machine("v6.18")
    assert m.vfs.read_file("/sys/class/bdi/254:0/read_ahead_kb") == b"128\n"
    assert m.vfs.read_file("/sys/block/vda/queue/read_ahead_kb") == b"128\n"
    fd, f = on_disk(m, t, 64)
    w = m.vfs.open(t.files, "/sys/block/vda/queue/read_ahead_kb", O_RDWR)
    t.files.write(w, b"0\n")
    assert m.vfs.read_file("/sys/class/bdi/254:0/read_ahead_kb") == b"0\n"
    with pytest.raises(VfsError) as e:
        t.files.write(w, b"lots\n")
    assert e.value.errno == "EINVAL"
    assert f.f_ra.ra_pages == 32                                   # opened before
    gd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDONLY)
    assert t.files.fget(gd).f_ra.ra_pages == 0
    t.files.pread(gd, PAGE, 0)
    assert sorted(cached(f)) == [0]


@pytest.mark.parametrize("kernel", KERNELS)
def test_readahead_over_shadows_counts_refaults(kernel):
    """Pages readahead brings back over their shadows are refaults (workingset_refault in
    filemap_add_folio / add_to_page_cache_lru), each counted in workingset_refault_file."""
    m, t = machine(kernel, mib=32)
    fd, f = on_disk(m, t, 64)
    t.files.pread(fd, 64 * PAGE, 0)
    assert f.f_mapping.nrpages == 64
    m.physmem.lru_add_drain_py()
    while f.f_mapping.nrpages:
        if not m.vmscan.try_to_free_pages(0, 32):
            m.physmem.lru_add_drain_py()
    assert len(f.f_mapping.shadows()) == 64
    refaults = node(m, "WORKINGSET_REFAULT_FILE")
    g = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDONLY)
    assert t.files.pread(g, 64 * PAGE, 0) == bytes(range(256)) * 16 * 64
    assert node(m, "WORKINGSET_REFAULT_FILE") - refaults == 64 and f.f_mapping.shadows() == {}


# -- the live kernel's windows (tests/pagecache/probes/ra_probe.{c,sh,txt}) ---------------------
def probe_scenarios(name="ra_probe.txt"):
    """[(file, ops, [(event, {field: int})])] of probes/ra_probe.txt: what the live 6.18 kernel's
    readahead trace events showed for each run of ra_probe on an ext4 without large folios
    (ra_probe_lf.txt: with them, and the folios added, event "add")."""
    import os
    import re
    out = []
    with open(os.path.join(os.path.dirname(__file__), "probes", name)) as f:
        for line in f:
            if line.startswith("## "):
                path, *ops = line[3:].split()
                out.append((path.split("/")[-1], ops, []))
            elif line.strip():
                name, rest = line.split(":", 1)
                out[-1][2].append((name, {k: int(v, 0) for k, v in re.findall(r"(\w+)=(-?\d+)", rest)}))
    return out


def test_the_windows_are_those_the_live_kernel_reads():
    """Each ra_probe run replayed on v6.18 diskfs (a 64-page file f, an 8 MiB file big, a
    20-page file short; a new
    open file each run, the file dropped from the cache first unless K): the pages cached
    afterwards are the union of the live kernel's page_cache_ra_unbounded ranges (with what
    a K run kept), and the file's window is that of its last page_cache_ra_order event."""
    m, t = machine("v6.18", mib=128)
    on_disk(m, t, 64, "f")
    on_disk(m, t, 2048, "big")
    on_disk(m, t, 20, "short")
    for name, ops, events in probe_scenarios():
        fd, f, expected = replay(m, t, name, ops)
        for event, v in events:
            if event == "page_cache_ra_unbounded":
                expected |= set(range(v["index"], v["index"] + v["nr_to_read"]))
        assert set(cached(f)) == expected, (name, ops)
        orders = [v for event, v in events if event == "page_cache_ra_order"]
        if orders:
            assert window(f) == (orders[-1]["index"], orders[-1]["size"], orders[-1]["async_size"])
        assert f.f_ra.ra_pages == ([v["ra_pages"] for e, v in events if "ra_pages" in v] or [32])[-1]
        t.files.close_fd(fd)


def replay(m, t, name, ops, fresh=True):
    """One ra_probe run on diskfs: a new open file, dropped from the cache first unless a K run;
    returns the file and the indices cached before the run (K)."""
    path = f"{DISKFS_MOUNT_POINT}/{name}"
    fd = m.vfs.open(t.files, path, O_RDONLY)
    f = t.files.fget(fd)
    before = set()
    if ops[0] == "K":
        before = set(cached(f))
        ops = ops[1:]
    else:
        m.vfs.fadvise(t.files, fd, 0, 0, POSIX_FADV_DONTNEED)
    for op in ops:
        if op in "RSW":
            advice = {"R": POSIX_FADV_RANDOM, "S": POSIX_FADV_SEQUENTIAL, "W": POSIX_FADV_WILLNEED}
            m.vfs.fadvise(t.files, fd, 0, 0, advice[op])
        elif op in "Bb":
            t.files.pread(fd, 2 * MiB if op == "B" else 32 * PAGE, 0)
        else:
            t.files.pread(fd, PAGE, int(op) * PAGE)
    return fd, f, before


def test_the_large_folios_are_those_the_live_kernel_reads():
    """Each ra_probe run replayed on v6.18 diskfs with its large folios (the default), against
    probes/ra_probe_lf.txt: the live kernel's ext4 with large folios, its readahead events and
    the folios mm_filemap_add_to_page_cache showed.  page_cache_async_ra adds 2 to ra->order
    and rounds the window's end down to that order's alignment (at 12 the window [12, 28)
    becomes [12, 16)); page_cache_ra_order reads it as folios of min(ra->order, ilog2(size))
    -- order 2 at 4, 8 and 12, order 3 at 16; the 8 MiB read's second async window is 20
    folios of order 4 -- and stores that order back.  Every folio the kernel added is cached as
    one multi-index entry of its order, every page it read is cached, nothing else; each
    window is the last page_cache_ra_order event's, and the ra->order the next event shows is
    the one diskfs kept."""
    m, t = machine("v6.18", mib=128, large_folios=True)
    on_disk(m, t, 64, "f")
    on_disk(m, t, 2048, "big")
    on_disk(m, t, 20, "short")
    orders_seen = set()
    for name, ops, events in probe_scenarios("ra_probe_lf.txt"):
        fd, f, expected = replay(m, t, name, ops)
        folios = {}
        for event, v in events:
            if event == "page_cache_ra_unbounded":
                expected |= set(range(v["index"], v["index"] + v["nr_to_read"]))
            elif event == "add":
                index, order = v["ofs"] // PAGE, v["order"]
                folios[index] = order
                expected |= set(range(index, index + (1 << order)))
        assert set(cached(f)) == expected, (name, ops)
        for index, order in folios.items():
            assert f.f_mapping.i_pages.get_order_py(index) == order, (name, ops, index)
            pfn = cached(f)[index]
            assert m.physmem.page_info(pfn)["compound_order"] == order if order else True
            orders_seen.add(order)
        ra_orders = [v for event, v in events if event == "page_cache_ra_order"]
        if ra_orders:
            assert window(f) == (ra_orders[-1]["index"], ra_orders[-1]["size"],
                                 ra_orders[-1]["async_size"]), (name, ops)
        later = [v["order"] for event, v in events if event in ("page_cache_async_ra", "page_cache_sync_ra")]
        if len(later) > 1 and name == "f" and ops[0] == "0":
            assert f.f_ra.order == 3        # ra_order stored min(4, ilog2(8)) for the last window
        t.files.close_fd(fd)
    assert orders_seen == {0, 2, 3, 4}
