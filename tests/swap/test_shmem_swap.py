"""shmem/tmpfs swap (plugins/pagecache/shmem.pyx with the swap plugin's swap_ops, issue 16):
shmem_writepage through reclaim, shmem_swapin_page from faults, read, write and fallocate,
shmem_free_swap on truncate, hole punch and unlink, shmem_unuse at swapoff, the memcg charge
on swap-in; pagecache.md scenario 20 and userfaultfd.md scenario 23, under both profiles.
Machines are built in Python as tests/swap/test_swap.py builds them (``machine()``)."""
import textwrap

import pytest

from memsim import vm
from memsim.plugins.swap.testing import swap_machine
from memsim.testing import build_machine, run_text, with_page_cache
from memsim.vfs import O_CREAT, O_RDWR, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
from memsim.vmstat import ITEM_BY_NAME, node_stat_item as NS

PAGE = 4096
SWAPFILE = "/mnt/disk/swapfile"
KERNELS = ("v5.14", "v6.18")
#: the swap_map byte of a slot shmem owns (swap.md 3, transition H): v5.14 SWAP_MAP_SHMEM,
#: v6.18 (v6.13 "mm: remove SWAP_MAP_SHMEM") an ordinary count of 1
SHMEM_COUNT = {"v5.14": 0xbf, "v6.18": 0x01}


def machine(kernel="v5.14", cpus=4, mem=64 << 20, slots=1024, memcg=None):
    """A machine with swap (one swap file of ``slots`` slots), a tmpfs at /mnt/t and, with
    ``memcg`` = 1 or 2, the memory controller; task ``app`` current."""
    m, t = swap_machine(kernel, cpus, mem, slots, memcg)
    m.vfs.do_mkdirat("/mnt/t")
    m.vfs.do_mount("none", "/mnt/t", "tmpfs", "")
    return m, t


def host(m):
    return m.plugin_state["swap"].host


def stat(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(int(getattr(NS, item)))


def vmstat(m, name):
    return m.physmem.vmstat.vm_event(ITEM_BY_NAME[name][1])


def meminfo(m):
    return {l.split(":")[0]: int(l.split()[1])
            for l in m.vfs.read_file("/proc/meminfo").decode().splitlines()}


def reclaim(m):
    """Reclaim passes over the inactive anon list (where shmem pages live) until nothing more
    goes; with memcg, global reclaim over every memcg.  A dirty shmem page is written to swap
    by one pass (shmem_writepage) and freed by the next, once its write ended."""
    m.physmem.lru_add_drain_py()
    for _ in range(2):                  # the pass that writes, the pass that frees
        if "memcg" in m.plugin_state:
            while m.vmscan.try_to_free_pages(0, 32):
                pass
        else:
            while m.vmscan.shrink_inactive_list_py(0, 0)[0]:
                pass


def tmpfs_file(m, t, npages, name="f"):
    """/mnt/t/NAME with ``npages`` pages, page i starting with b"page<i>"; its fd and mapping."""
    fd = m.vfs.open(t.files, f"/mnt/t/{name}", O_CREAT | O_RDWR)
    for i in range(npages):
        t.files.pwrite(fd, (b"page%d" % i).ljust(PAGE, b"."), i * PAGE)
    return fd, t.files.fget(fd).f_mapping


def swap_entries(mapping):
    """{index: raw i_pages entry} of the mapping's value entries (swp_to_radix_entry)."""
    return {i: e for i, e in mapping.i_pages.items() if e < 0}


def entry_of(raw):
    """The swap entry (type, offset) of a shmem value entry (stored as ~entry)."""
    e = ~raw
    return e >> 58, e & ((1 << 58) - 1)


# -- swap-out through reclaim, swap-in through read ------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_a_tmpfs_files_pages_swap_out_through_reclaim_and_come_back_with_their_bytes(kernel):
    """shmem_writepage: each dirty page leaves the page cache for a slot (its i_pages slot a
    swap value entry, info->swapped, NR_SHMEM and NR_FILE_PAGES down, the slot's count shmem's:
    0xbf on v5.14, 1 on v6.18), is written (pswpout) and freed; the blocks stay the file's.
    A read brings each back (shmem_swapin_page: pswpin, the value entry replaced, the slot
    freed: SwapFree back), dirty."""
    m, t = machine(kernel)
    h = host(m)
    fd, mapping = tmpfs_file(m, t, 8)
    sbinfo = t.files.fget(fd).f_inode.i_sb.s_fs_info.sbinfo
    shmem0, file0 = stat(m, "NR_SHMEM"), stat(m, "NR_FILE_PAGES")
    free0 = meminfo(m)["SwapFree"]
    reclaim(m)
    assert mapping.nrpages == 0 and mapping.swapped == 8 and mapping.private_data == 8
    assert sbinfo.used_blocks == 8
    vals = swap_entries(mapping)
    assert sorted(vals) == list(range(8))
    for raw in vals.values():
        typ, off = entry_of(raw)
        assert typ == 0 and h.swap_map(0, off) == SHMEM_COUNT[kernel]
    assert stat(m, "NR_SHMEM") == shmem0 - 8 and stat(m, "NR_FILE_PAGES") == file0 - 8
    assert vmstat(m, "pswpout") == 8 and meminfo(m)["SwapCached"] == 0
    assert meminfo(m)["SwapFree"] == free0 - 8 * 4      # 1023 slots, 4 CPUs: no slots cache
    assert m.check_invariants() == []
    assert t.files.pread(fd, 8 * PAGE, 0) == b"".join((b"page%d" % i).ljust(PAGE, b".")
                                                       for i in range(8))
    assert mapping.nrpages == 8 and mapping.swapped == 0 and swap_entries(mapping) == {}
    assert vmstat(m, "pswpin") == 8
    assert stat(m, "NR_SHMEM") == shmem0 and sbinfo.used_blocks == 8
    assert all(h.swap_map(0, off) in (0, 0x40) for off in range(1, 16))
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_shared_anonymous_mappings_pages_swap_out_and_fault_back_major(kernel):
    """MAP_SHARED|MAP_ANONYMOUS: MADV_PAGEOUT unmaps the written pages and shmem_writepage
    puts them in swap; a read fault on each is a major fault (pgmajfault) that reads it back
    (swap readahead brings its neighbours into the swap cache) with its bytes."""
    m, t = machine(kernel)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, 4 * PAGE, "rw", "shared", totalram=total)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    for i in range(4):
        m.physmem.write_bytes(m.mmcore.pfn_of(t.mm, a.vm_start + i * PAGE), 0, b"shared%d" % i)
    mapping = a.vm_file
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    reclaim(m)
    assert mapping.nrpages == 0 and mapping.swapped == 4
    assert all(not t.mm.pte(a.vm_start + i * PAGE) & 1 for i in range(4))
    assert m.check_invariants() == []
    maj = vmstat(m, "pgmajfault")
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, False)[1] == 0
    assert [m.physmem.read_bytes(m.mmcore.pfn_of(t.mm, a.vm_start + i * PAGE), 0, 7)
            for i in range(4)] == [b"shared%d" % i for i in range(4)]
    assert vmstat(m, "pgmajfault") > maj and vmstat(m, "pswpin") == 4
    assert mapping.nrpages == 4 and mapping.swapped == 0
    assert m.check_invariants() == []


# -- pagecache.md scenario 20 ----------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_pagecache_20_shmem_swap_entries_are_not_shadows(kernel):
    """Scenario 20: a tmpfs file of 4 pages, 1 swapped out: nrpages 3, info->swapped 1,
    alloced 4 = nrpages + swapped; the slot holds a swap value entry (not a workingset shadow:
    no shadow-node tracking for the mapping); the core's truncate leaves it to shmem, whose
    truncate frees it."""
    m, t = machine(kernel)
    host(m).page_cluster = 0                # no readahead: exactly the pages read come back
    fd, mapping = tmpfs_file(m, t, 4)
    nodes0 = dict(m.workingset.shadow_nodes)
    reclaim(m)
    assert mapping.swapped == 4 and dict(m.workingset.shadow_nodes) == nodes0  # a leaf of values only
    for i in (0, 1, 3):
        t.files.pread(fd, 1, i * PAGE)
    assert mapping.nrpages == 3 and mapping.swapped == 1 and mapping.private_data == 4
    assert mapping.private_data == mapping.nrpages + mapping.swapped
    vals = swap_entries(mapping)
    assert list(vals) == [2]
    typ, off = entry_of(vals[2])
    assert host(m).swap_map(typ, off) == SHMEM_COUNT[kernel]
    assert len(mapping.i_pages) == 4
    # truncate_inode_pages_range over index 2: truncate_exceptional_pvec_entries leaves a
    # shmem mapping's value entry to shmem
    m.mmcore.truncate_inode_pages_range(mapping, 2 * PAGE, 3 * PAGE - 1)
    assert swap_entries(mapping) == vals and mapping.swapped == 1
    assert m.check_invariants() == []
    t.files.ftruncate(fd, 2 * PAGE)                             # shmem's: shmem_free_swap
    assert swap_entries(mapping) == {} and mapping.swapped == 0 and mapping.private_data == 2
    assert host(m).swap_map(typ, off) == 0
    assert m.check_invariants() == []


# -- truncate, hole punch, unlink of swapped pages ---------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_truncate_punch_and_unlink_free_the_swapped_slots(kernel):
    """shmem_undo_range's shmem_free_swap: ftruncate to 2 pages frees the slots of pages 2-5
    (swap_map 0, SwapFree back once the slots cache returns them), a hole punch of page 1
    frees its slot, unlink + close frees the rest; info->swapped and the blocks follow."""
    m, t = machine(kernel)
    h = host(m)
    fd, mapping = tmpfs_file(m, t, 6)
    sbinfo = t.files.fget(fd).f_inode.i_sb.s_fs_info.sbinfo
    reclaim(m)
    offs = {i: entry_of(e)[1] for i, e in swap_entries(mapping).items()}
    assert len(offs) == 6
    t.files.ftruncate(fd, 2 * PAGE)
    assert mapping.swapped == 2 and sorted(swap_entries(mapping)) == [0, 1]
    assert mapping.private_data == 2 and sbinfo.used_blocks == 2
    if kernel == "v5.14":
        h.drain_slots_caches()
    assert all(h.swap_map(0, offs[i]) == 0 for i in range(2, 6))
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE, PAGE)
    assert mapping.swapped == 1 and list(swap_entries(mapping)) == [0]
    if kernel == "v5.14":
        h.drain_slots_caches()
    assert h.swap_map(0, offs[1]) == 0
    assert m.check_invariants() == []
    t.files.close_fd(fd)
    m.vfs.do_unlinkat("/mnt/t/f")
    if kernel == "v5.14":
        h.drain_slots_caches()
    assert all(h.swap_map(0, off) == 0 for off in offs.values())
    assert sbinfo.used_blocks == 0
    assert meminfo(m)["SwapFree"] == meminfo(m)["SwapTotal"]
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_write_and_fallocate_read_swapped_pages_back(kernel):
    """SGP_WRITE and SGP_FALLOC on a swapped page: shmem_swapin_page first; the write lands on
    the page's old bytes, fallocate allocates only the holes."""
    m, t = machine(kernel)
    fd, mapping = tmpfs_file(m, t, 2)
    reclaim(m)
    assert mapping.swapped == 2
    t.files.pwrite(fd, b"NEW", PAGE + 10)
    assert mapping.swapped == 1 and t.files.pread(fd, 16, PAGE) == b"page1.....NEW..."
    t.files.fallocate(fd, 0, 0, 4 * PAGE)
    assert mapping.swapped == 0 and mapping.nrpages == 4
    assert t.files.pread(fd, 5, 0) == b"page0"
    assert m.check_invariants() == []


# -- swapoff ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_swapoff_brings_shmem_pages_back(kernel):
    """try_to_unuse's shmem_unuse: every tmpfs page swapped to the area comes back into its
    page cache (dirty, info->swapped 0) and the area goes."""
    from memsim.plugins.swap.swapon import sys_swapoff
    m, t = machine(kernel)
    fd, mapping = tmpfs_file(m, t, 5)
    reclaim(m)
    assert mapping.swapped == 5
    list(sys_swapoff(m, SWAPFILE))
    assert mapping.swapped == 0 and mapping.nrpages == 5
    assert SWAPFILE not in m.vfs.read_file("/proc/swaps").decode()
    assert t.files.pread(fd, 5, 4 * PAGE) == b"page4"
    assert m.check_invariants() == []


def test_swapoff_without_memory_leaves_the_area_on_with_nothing_lost(monkeypatch):
    """ENOMEM from shmem_unuse: the area is put back (reenable) with the pages it had."""
    from memsim.plugins.swap.swapon import SwapError, sys_swapoff
    from memsim.plugins.pagecache import tmpfs
    m, t = machine()
    fd, mapping = tmpfs_file(m, t, 3)
    reclaim(m)
    monkeypatch.setattr(tmpfs, "shmem_unuse", lambda machine, type: -12)
    with pytest.raises(SwapError, match="ENOMEM|no memory"):
        list(sys_swapoff(m, SWAPFILE))
    assert SWAPFILE in m.vfs.read_file("/proc/swaps").decode()
    assert mapping.swapped == 3
    assert t.files.pread(fd, 5, 2 * PAGE) == b"page2"
    assert m.check_invariants() == []


# -- memcg ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_swapin_charges_the_shmem_pages_memcg(kernel):
    """v2: the slot is charged to A at swap-out (memory.swap.current, the swap_cgroup record);
    a read from a task in another cgroup B brings the page back charged to A
    (mem_cgroup_swapin_charge_page with mm NULL: the record's memcg), not to B."""
    m, t = machine(kernel, memcg=2)
    host(m).page_cluster = 0
    for name in ("A", "B"):
        m.vfs.do_mkdirat(f"/sys/fs/cgroup/{name}")
    m.vfs.write_file("/sys/fs/cgroup/A/cgroup.procs", b"%d" % t.pid)
    fd, mapping = tmpfs_file(m, t, 2)
    a_before = int(m.vfs.read_file("/sys/fs/cgroup/A/memory.current"))
    reclaim(m)
    assert mapping.swapped == 2
    assert m.vfs.read_file("/sys/fs/cgroup/A/memory.swap.current") == b"8192\n"
    A = m.plugin_state["memcg"].cgroup_at("/A").memcg
    off = entry_of(swap_entries(mapping)[0])[1]
    assert host(m).swap_cgroup(0, off) == A.id
    m.vfs.write_file("/sys/fs/cgroup/B/cgroup.procs", b"%d" % t.pid)
    b_before = int(m.vfs.read_file("/sys/fs/cgroup/B/memory.current"))
    assert t.files.pread(fd, 5, 0) == b"page0"
    pfn = mapping.i_pages[0]
    assert m.physmem.page_info(pfn)["memcg_data"] == A.id << 2     # page_memcg(): A
    assert int(m.vfs.read_file("/sys/fs/cgroup/B/memory.current")) == b_before
    assert m.check_invariants() == []


# -- userfaultfd.md scenario 23 ---------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
def test_userfaultfd_23_shmem_minor_on_a_swapped_page(kernel):
    """Scenario 23: page 0 of a memfd swapped out (MADV_PAGEOUT through B, to zram: the write
    ends at once and the page leaves the swap cache); a read through A (registered MINOR) is a
    MINOR message, not MISSING, and nothing is swapped in before it (pswpin 0); CONTINUE swaps
    the page in (pswpin 1) and maps it: mapped 4096, the reader sees B's bytes."""
    text = textwrap.dedent(f"""\
        machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 128 MiB}}]}}
        tasks:
          - name: app
            steps:
              - mkswap: {{path: /dev/zram0, size: 4 MiB}}
              - swapon: {{path: /dev/zram0}}
              - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
              - uffdio_api: {{uffd: u}}
              - memfd_create: {{name: m}}
              - ftruncate: {{fd: m, length: 16 KiB}}
              - mmap: {{name: B, length: 16 KiB, type: fd-shared, fd: m}}
              - write: {{vma: B, data: swapped}}
              - madvise: {{vma: B, length: 4 KiB, advice: MADV_PAGEOUT}}
              - expect: {{file: {{path: /proc/vmstat, fields: {{pswpout: 1, pswpin: 0}}}}}}
              - mmap: {{name: A, length: 16 KiB, type: fd-shared, fd: m}}
              - uffdio_register: {{uffd: u, vma: A, mode: [MINOR]}}
              - clone:
                  thread: t
                  steps:
                    - read: {{vma: A, offset: 0, expect: swapped}}
              - sleep: {{duration: 1000}}
              - uffd_read: {{uffd: u, expect: [{{event: pagefault, flags: [MINOR], address: {{vma: A}}}}]}}
              - expect: {{file: {{path: /proc/vmstat, fields: {{pswpin: 0}}}}}}
              - uffdio_continue: {{uffd: u, vma: A, length: 4 KiB}}
              - expect: {{result: {{mapped: 4096}}}}
              - sleep: {{duration: 1000}}
              - expect: {{file: {{path: /proc/vmstat, fields: {{pswpin: 1}}}}}}
        """)
    r = run_text(text, events=())
    assert r.error is None, r.error


def test_without_swap_shmem_writepage_redirties_and_reclaim_keeps_the_page():
    """No swap plugin (swap_ops NULL): MADV_PAGEOUT of a shared anonymous page reaches
    shmem_writepage, which redirties it (AOP_WRITEPAGE_ACTIVATE): it stays in the page cache,
    dirty and active, with its bytes."""
    m = with_page_cache(build_machine(cpus=2, kernel="v5.14", nodes=(64 << 20,)))
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    a = vm.do_mmap(m.mmcore, t.mm, m.files, PAGE, "rw", "shared", totalram=total)
    assert m.mmcore.access(t.mm, a, a.vm_start, a.vm_end, True)[1] == 0
    pfn = m.mmcore.pfn_of(t.mm, a.vm_start)
    m.physmem.write_bytes(pfn, 0, b"kept")
    m.vmscan.madvise_pageout(t.mm, a.vm_start, a.vm_end)
    mapping = a.vm_file
    assert mapping.nrpages == 1 and mapping.swapped == 0 and mapping.i_pages[0] == pfn
    info = m.physmem.page_info(pfn)
    assert info["flags"] & (1 << 3) and info["flags"] & (1 << 5)     # PG_dirty, PG_active
    assert m.physmem.read_bytes(pfn, 0, 4) == b"kept"
    assert m.check_invariants() == []


#: the byte while the page is still in the swap cache: SWAP_MAP_SHMEM | SWAP_HAS_CACHE (0xff,
#: swap.md 3 transition H) on v5.14, count 1 | SWAP_HAS_CACHE on v6.18
SHMEM_CACHED = {"v5.14": 0xff, "v6.18": 0x41}


@pytest.mark.parametrize("kernel", KERNELS)
def test_between_the_write_and_the_free_the_page_is_a_swap_cache_page(kernel):
    """The pass that writes a shmem page (to a swap file: the write ends with the pass's plug)
    leaves it in the swap cache: page->mapping NULL, PG_swapcache, NR_SHMEM -1 and
    NR_FILE_PAGES unchanged (the page cache's -1, the swap cache's +1), SwapCached 4 kB,
    nr_swapcached 1, the byte SHMEM_CACHED; the next pass frees it (__remove_mapping of the
    swap cache: SwapCached 0, the byte shmem's alone)."""
    m, t = machine(kernel)
    h = host(m)
    fd, mapping = tmpfs_file(m, t, 1)
    pfn = mapping.i_pages[0]
    shmem0, file0, cached0 = stat(m, "NR_SHMEM"), stat(m, "NR_FILE_PAGES"), stat(m, "NR_SWAPCACHE")
    m.physmem.lru_add_drain_py()
    m.vmscan.shrink_inactive_list_py(0, 0)
    assert mapping.swapped == 1 and mapping.nrpages == 0
    raw = swap_entries(mapping)[0]
    typ, off = entry_of(raw)
    assert h.swap_map(typ, off) == SHMEM_CACHED[kernel]
    assert h.cached_pfn(~raw) == pfn
    info = m.physmem.page_info(pfn)
    assert info["mapping"] == 0 and info["private"] == ~raw and info["flags"] & (1 << 10)
    assert stat(m, "NR_SHMEM") == shmem0 - 1 and stat(m, "NR_FILE_PAGES") == file0
    m.vfs.write_file("/proc/sys/vm/stat_refresh", b"1")     # fold the per-CPU differentials
    assert stat(m, "NR_SWAPCACHE") == cached0 + 1 and meminfo(m)["SwapCached"] == 4
    assert m.check_invariants() == []
    reclaim(m)
    assert h.swap_map(typ, off) == SHMEM_COUNT[kernel] and h.cached_pfn(~raw) is None
    m.vfs.write_file("/proc/sys/vm/stat_refresh", b"1")
    assert stat(m, "NR_FILE_PAGES") == file0 - 1 and meminfo(m)["SwapCached"] == 0
    assert m.check_invariants() == []
