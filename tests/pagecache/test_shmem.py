"""tmpfs, shmem and memfd in the page-cache plugin (plugins/pagecache/tmpfs.py, shmem.pyx,
memfd.py, steps.py; mm/shmem.c, mm/memfd.c).

The errnos and sizes are those the live 6.18 kernel gave tests/pagecache/probes/memfd_seals.c
(recorded in probes/memfd_seals.txt, read by :func:`probe`); the counters follow pagecache.md
section 3 (shmem: NR_FILE_PAGES and NR_SHMEM, nrpages) and section 5.3 (a shmem page never
leaves a shadow)."""
import pathlib
import textwrap

import pytest

from memsim import vm
from memsim.errors import WorkloadError
from memsim.testing import build_machine, run_text
from memsim.vfs import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, O_CREAT,
                        O_RDONLY, O_RDWR, VfsError)
from memsim.vmstat import node_stat_item as NS

from memsim.plugins.pagecache.inode import SlabInode
from memsim.plugins.pagecache.memfd import (MFD_ALLOW_SEALING, MFD_EXEC, MFD_NOEXEC_SEAL,
                                            memfd_add_seals, memfd_create, memfd_get_seals)
from memsim.plugins.pagecache.tmpfs import (F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
                                            ShmemInode, get_tmpfs, shmem_mapping)

MiB = 1 << 20
KiB = 1 << 10
PAGE = 4096
KERNELS = ("v5.14", "v6.18")
PROBES = pathlib.Path(__file__).parent / "probes"


def probe():
    """{call: result} of tests/pagecache/probes/memfd_seals.txt (the live 6.18 kernel)."""
    out = {}
    for line in (PROBES / "memfd_seals.txt").read_text().splitlines():
        if " -> " in line and not line.startswith("#"):
            call, result = line.rsplit(" -> ", 1)
            out[call] = result
    return out


def probe_line(prefix):
    return next(l for l in (PROBES / "memfd_seals.txt").read_text().splitlines() if l.startswith(prefix))


def machine(kernel="v6.18", mib=64, **kw):
    m = build_machine(kernel=kernel, nodes=(mib * MiB,), **kw)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def mount(m, opts="", path="/mnt/t"):
    m.vfs.do_mkdirat(path)
    return m.vfs.do_mount("none", path, "tmpfs", opts)


def stat(m, item):
    return m.physmem.vmstat.global_node_page_state_snapshot(int(getattr(NS, item)))


def errno_of(call, *args):
    try:
        call(*args)
    except VfsError as e:
        return e.errno
    return None


# -- tmpfs: mounting ---------------------------------------------------------------------------
def test_tmpfs_mount_options_and_their_errors_are_the_kernels():
    """Unknown option, bad size, empty size, size without a value: EINVAL (probe); the root is
    ino 1, mode 1777, two links; the superblock has its own anonymous device."""
    p = probe()
    m, t = machine()
    m.vfs.do_mkdirat("/mnt/p")
    for opts, call in (("foo=1", "mount tmpfs foo=1"), ("size=abc", "mount tmpfs size=abc"),
                       ("size=", "mount tmpfs size="), ("size", "mount tmpfs size")):
        assert errno_of(m.vfs.do_mount, "none", "/mnt/p", "tmpfs", opts) == p[call] == "EINVAL"
    mnt = m.vfs.do_mount("none", "/mnt/p", "tmpfs", "size=16k,nr_inodes=3,mode=0750")
    root = mnt.mnt_sb.s_root.d_inode
    assert probe_line("tmpfs root:") == "tmpfs root: mode 41777 nlink 2 ino 1"
    assert (root.i_ino, root.i_nlink) == (1, 2) and root.i_mode == 0o40750
    info = mnt.mnt_sb.s_fs_info
    assert info.sbinfo.max_blocks == 4 and info.max_inodes == 3
    other = mount(m, "", "/mnt/q").mnt_sb
    assert mnt.mnt_sb.s_dev >> 20 == 0 and mnt.mnt_sb.s_dev != other.s_dev
    total = sum(z["managed"] for z in m.physmem.zones_info())
    assert other.s_fs_info.sbinfo.max_blocks == total // 2     # default: half of RAM
    assert mount(m, "size=50%", "/mnt/r").mnt_sb.s_fs_info.sbinfo.max_blocks == total // 2
    assert mount(m, "nr_blocks=7,uid=0,gid=0", "/mnt/s").mnt_sb.s_fs_info.sbinfo.max_blocks == 7
    m.vfs.do_mkdirat("/mnt/u")
    assert errno_of(m.vfs.do_mount, "none", "/mnt/u", "tmpfs", "uid=root") == "EINVAL"


def test_nr_inodes_counts_the_root_and_a_full_tmpfs_is_enospc():
    """nr_inodes=3: the root, a and b; c is ENOSPC (probe).  size=16k: a 64 KiB write is short
    (16384), the next ENOSPC; fallocate of more than size= is ENOSPC at once (probe)."""
    p = probe()
    m, t = machine()
    mount(m, "size=16k,nr_inodes=3")
    a = m.vfs.open(t.files, "/mnt/t/a", O_CREAT | O_RDWR)
    m.vfs.open(t.files, "/mnt/t/b", O_CREAT | O_RDWR)
    assert errno_of(m.vfs.open, t.files, "/mnt/t/c", O_CREAT | O_RDWR) == p["open c (nr_inodes=3)"]
    assert t.files.write(a, bytes(64 * KiB)) == int(p["write 64k to a (size=16k)"]) == 16384
    assert errno_of(t.files.write, a, b"x") == p["write 1 more"] == "ENOSPC"
    assert errno_of(t.files.fallocate, a, 0, 0, 64 * KiB) == p["fallocate(0, 0, 64k) of a (size=16k)"]
    file = t.files.fget(a)
    assert file.f_mapping.nrpages == 4 and file.f_inode.i_size == 16384


def test_shm_mnt_is_made_on_first_use_with_the_kernels_device():
    """No tmpfs state, slab inode or shrinker until something uses shmem (a machine that uses
    none runs as without the plugin); memfds live on shm_mnt, 0:1 on 6.18 (probe: stat dev)."""
    m, t = machine()
    assert "pagecache.tmpfs" not in m.plugin_state
    assert not any(s[1] == "sb-tmpfs" for s in m.shrinkers.shrinkers())
    assert probe_line("stat:") == "stat: mode 100777 nlink 0 dev 0:1 size 0"
    fd = memfd_create(m, t.files, "x")
    inode = t.files.fget(fd).f_inode
    assert inode.i_sb.s_dev == 1 and inode.i_mode == 0o100777 and inode.i_nlink == 0
    assert inode.i_sb is get_tmpfs(m).shm_mnt().mnt_sb
    m514, t514 = machine("v5.14")
    fd = memfd_create(m514, t514.files, "x")
    assert t514.files.fget(fd).f_inode.i_sb.s_dev == 5   # the built-in shmem's 0:5


# -- shmem pages: counters, no shadows ----------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS)
def test_shmem_pages_count_in_nr_shmem_and_cached_and_go_with_the_file(kernel):
    """Writing 10 pages: nrpages 10, NR_FILE_PAGES and NR_SHMEM +10 (Shmem and Cached in
    /proc/meminfo), PG_swapbacked pages on the anon LRU, dirty; truncating to 6000 bytes keeps
    two pages (the second zeroed from byte 1904); unlink + close frees all."""
    m, t = machine(kernel)
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    mapping = file.f_mapping
    assert shmem_mapping(mapping) and mapping.swapbacked and isinstance(file.f_inode, ShmemInode)
    base = {k: stat(m, k) for k in ("NR_FILE_PAGES", "NR_SHMEM")}
    mi0 = m.meminfo()
    assert t.files.write(fd, b"x" * (10 * PAGE)) == 10 * PAGE
    assert mapping.nrpages == 10
    assert stat(m, "NR_FILE_PAGES") == base["NR_FILE_PAGES"] + 10
    assert stat(m, "NR_SHMEM") == base["NR_SHMEM"] + 10
    mi = m.meminfo()
    assert mi["Shmem"] - mi0["Shmem"] == 10 * PAGE and mi["Cached"] - mi0["Cached"] == 10 * PAGE
    pfn = mapping.i_pages[3]
    m.physmem.lru_add_drain_py()
    info = m.physmem.page_info(pfn)
    assert info["flags"] & (1 << 19) and info["flags"] & (1 << 3)          # PG_swapbacked, PG_dirty
    assert info["flags"] & (1 << 2)                                         # PG_uptodate
    assert info["mapping"] == mapping.addr and info["index"] == 3 and info["refcount"] == 1
    assert pfn in m.physmem.lru_pages(0, 0)                                 # LRU_INACTIVE_ANON
    t.files.ftruncate(fd, 6000)
    assert mapping.nrpages == 2 and stat(m, "NR_SHMEM") == base["NR_SHMEM"] + 2
    assert t.files.pread(fd, 8, 1896) == b"x" * 8
    assert m.physmem.read_bytes(mapping.i_pages[1], 1904, 2192) == bytes(2192)
    m.vfs.do_unlinkat("/mnt/t/f")
    assert mapping.nrpages == 2                  # still open
    t.files.close_fd(fd)
    assert mapping.nrpages == 0 and mapping.mapping_empty()
    assert stat(m, "NR_SHMEM") == base["NR_SHMEM"] and stat(m, "NR_FILE_PAGES") == base["NR_FILE_PAGES"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_shmem_page_never_leaves_a_shadow(kernel):
    """pagecache.md 5.3: reclaim plants shadows only for pages on the file LRU; shmem pages are
    swap-backed (the anon LRU, not scanned without swap), and truncate, hole punch and eviction
    remove them without a value entry; no xa_node of a shmem mapping is a shadow node."""
    m, t = machine(kernel, mib=32)
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    mapping = t.files.fget(fd).f_mapping
    t.files.write(fd, bytes(64 * PAGE))
    nodes = stat(m, "WORKINGSET_NODES")
    m.vmscan.try_to_free_pages(0, 1024)
    m.drop_caches.write(m, b"3")
    assert mapping.nrpages == 64 and not mapping.shadows()
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 32 * PAGE)
    t.files.ftruncate(fd, 40 * PAGE)
    assert mapping.nrpages == 8 and not mapping.shadows() and len(mapping.i_pages) == 8
    assert stat(m, "WORKINGSET_NODES") == nodes


def test_a_read_of_a_hole_reads_zeros_and_allocates_nothing():
    """shmem_file_read_iter (SGP_READ): holes read as zeros; no page is added."""
    m, t = machine()
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    t.files.ftruncate(fd, 1 * MiB)
    t.files.pwrite(fd, b"abc", 8192)
    assert t.files.pread(fd, 8, 8190) == b"\0\0abc\0\0\0"
    assert t.files.pread(fd, 100, 1 * MiB - 10) == bytes(10)
    assert t.files.fget(fd).f_mapping.nrpages == 1


def test_punch_hole_needs_keep_size_and_other_modes_are_eopnotsupp():
    """FALLOC_FL_PUNCH_HOLE alone: EOPNOTSUPP (vfs_fallocate); FALLOC_FL_ZERO_RANGE:
    EOPNOTSUPP (shmem_fallocate) -- both as the probe saw; a punched hole frees the whole pages
    and zeroes the partial ones' bytes; allocation dirties every page and grows i_size unless
    KEEP_SIZE."""
    p = probe()
    m, t = machine()
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    assert errno_of(t.files.fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE) == p["fallocate(PUNCH_HOLE)"]
    assert errno_of(t.files.fallocate, fd, FALLOC_FL_ZERO_RANGE, 0, PAGE) == p["fallocate(ZERO_RANGE)"]
    t.files.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 * PAGE)
    assert file.f_mapping.nrpages == 4 and file.f_inode.i_size == 0
    t.files.fallocate(fd, 0, 0, 4 * PAGE)
    assert file.f_inode.i_size == 4 * PAGE
    t.files.pwrite(fd, b"y" * (4 * PAGE), 0)
    t.files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * PAGE)
    assert sorted(file.f_mapping.i_pages.keys()) == [0, 2, 3]
    assert t.files.pread(fd, 4 * PAGE, 0) == b"y" * 100 + bytes(2 * PAGE) + b"y" * (2 * PAGE - 100)


def test_madvise_remove_punches_a_hole_through_a_shared_mapping():
    """MADV_REMOVE (probe: 0) on a shared mapping of a tmpfs file: the pages are unmapped and
    leave the cache; touching again allocates zeroed pages."""
    m, t = machine()
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.ftruncate(fd, 16 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 16 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    assert file.f_mapping.nrpages == 16
    assert probe()["madvise(MADV_REMOVE) of it"] == "0"
    vm.do_madvise(m.mmcore, t.mm, v.vm_start, 4 * PAGE, 9)
    assert file.f_mapping.nrpages == 12 and m.mmcore.pfn_of(t.mm, v.vm_start) is None


def test_touching_a_full_tmpfs_through_a_mapping_is_sigbus():
    """shmem_fault() -> vmf_error(-ENOSPC): SIGBUS, not an OOM."""
    m, t = machine()
    mount(m, "size=8k")
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.ftruncate(fd, 4 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 4 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    done, ret = m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[:2]
    assert file.f_mapping.nrpages == 2
    assert ret & 0x2                             # VM_FAULT_SIGBUS
    assert m.mmcore.fault_counts_dict()["sigbus"] == 1


# -- inodes of shmem_inode_cache -----------------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS)
def test_tmpfs_inodes_come_from_shmem_inode_cache_and_are_pinned_by_their_dentries(kernel):
    """Every tmpfs inode is a shmem_inode_cache object; a file with a name keeps its inode
    (i_count from the dentry), so it never reaches the inode LRU; unlink frees the object."""
    m, t = machine(kernel)
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    inode = t.files.fget(fd).f_inode
    assert isinstance(inode, SlabInode)
    assert m.slab.object_info(inode.i_addr)["cache"] == "shmem_inode_cache"
    t.files.close_fd(fd)
    assert inode.i_count == 1 and not inode.i_lru
    addr = inode.i_addr
    m.vfs.do_unlinkat("/mnt/t/f")
    m.rcu_barrier()                                 # call_rcu(i_callback)
    assert not m.slab.object_info(addr)["allocated"]


def test_the_nrexceptional_boot_option_makes_shmem_inodes_8_bytes_larger():
    """Scenario 24 through the plugin's inodes: with nrexceptional kept (the seed change off)
    shmem_inode_cache's objects are 8 bytes larger and the mappings keep the counter."""
    from memsim.boot import BootOptions
    sizes = {}
    for keep in (False, True):
        boot = BootOptions()
        boot.slab.nrexceptional = keep
        m, t = machine("v5.14", boot=boot)
        mount(m)
        fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
        assert t.files.fget(fd).f_mapping.keep_nrexceptional == keep
        sizes[keep] = m.slab.find_cache("shmem_inode_cache").size
    assert sizes[True] == sizes[False] + 8 == 720                # 712 -> 720: 23 -> 22 per 16 KiB


# -- memfd_create and seals ----------------------------------------------------------------------
def test_memfd_create_flags_and_names_as_the_probe():
    p = probe()
    m, t = machine()
    assert errno_of(memfd_create, m, t.files, "a" * 250) == p["memfd_create(250 bytes)"] == "EINVAL"
    assert memfd_create(m, t.files, "a" * 249) >= 3
    assert errno_of(memfd_create, m, t.files, "x", 0x100) == p["memfd_create(flags 0x100)"]
    assert errno_of(memfd_create, m, t.files, "x", MFD_EXEC | MFD_NOEXEC_SEAL) == \
        p["memfd_create(MFD_EXEC|MFD_NOEXEC_SEAL)"]
    m514, t514 = machine("v5.14")
    assert errno_of(memfd_create, m514, t514.files, "x", MFD_EXEC) == "EINVAL"  # no MFD_EXEC in 5.14
    fd = memfd_create(m, t.files, "n", MFD_NOEXEC_SEAL)
    f = t.files.fget(fd)
    assert f.f_inode.i_mode == 0o100666 and memfd_get_seals(f) == 0x20


@pytest.mark.parametrize("kernel, bytes_req", [("v5.14", 12), ("v6.18", 256)])
def test_memfd_create_allocates_as_the_live_kernel(kernel, bytes_req):
    """__do_sys_memfd_create: the name is kmalloc'ed ("memfd:" + name + NUL on v5.14; NAME_MAX + 1
    on 6.18, as probes/memfd_trace.txt shows for "hello"), the inode comes from
    shmem_inode_cache (744 bytes in a 752-byte slot on 6.18, GFP_KERNEL, accounted), the name is
    kfreed.  (memsim makes shm_mnt, and its root inode, at the first memfd.)"""
    from memsim.testing import trace_text
    m, t = machine(kernel, events=["kmem:kmalloc", "kmem:kfree", "kmem:kmem_cache_alloc"])
    memfd_create(m, t.files, "hello")
    lines = trace_text(m).splitlines()
    kmalloc = next(l for l in lines if "kmalloc:" in l)
    assert "call_site=__do_sys_memfd_create" in kmalloc and f"bytes_req={bytes_req} " in kmalloc
    assert any("kfree: call_site=__do_sys_memfd_create" in l for l in lines)
    inode = [l for l in lines if "call_site=shmem_alloc_inode" in l][-1]
    assert "gfp_flags=GFP_KERNEL" in inode
    if kernel == "v6.18":
        live = [l for l in (PROBES / "memfd_trace.txt").read_text().splitlines() if "memfd_create" in l
                or "shmem_inode_cache" in l]
        assert "bytes_req=256 bytes_alloc=256 gfp_flags=GFP_KERNEL" in live[0]
        tail = lambda l: l.split("name=")[1] if "name=" in l else l.split("bytes_req=")[1]
        assert tail(inode) == tail(live[1])
        assert tail(kmalloc) == tail(live[0])


def test_seals_errnos_are_the_probes():
    """F_ADD_SEALS: EPERM without MFD_ALLOW_SEALING (seals read F_SEAL_SEAL), EINVAL for an
    unknown seal, EBUSY for F_SEAL_WRITE while a shared mapping of a writable fd exists (read
    only too), EPERM for a read-only fd, EINVAL for a file that is not shmem's; the sealed
    operations' errnos."""
    p = probe()
    m, t = machine()
    nos = t.files.fget(memfd_create(m, t.files, "nos"))
    assert errno_of(memfd_add_seals, m, nos, F_SEAL_WRITE) == p["add_seals(no MFD_ALLOW_SEALING, F_SEAL_WRITE)"]
    assert memfd_get_seals(nos) == int(p["get_seals(no MFD_ALLOW_SEALING)"]) == F_SEAL_SEAL
    fd = memfd_create(m, t.files, "s", MFD_ALLOW_SEALING)
    f = t.files.fget(fd)
    assert memfd_get_seals(f) == int(p["get_seals(MFD_ALLOW_SEALING)"]) == 0
    assert errno_of(memfd_add_seals, m, f, 0x400) == p["add_seals(0x400)"]
    t.files.ftruncate(fd, 64 * KiB)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    for prot, call in (("rw", "add_seals(F_SEAL_WRITE) with a shared rw mapping"),
                       ("r", "add_seals(F_SEAL_WRITE) with a shared r mapping")):
        v = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * KiB, prot, "file-shared", totalram=total, filp=f)
        assert errno_of(memfd_add_seals, m, f, F_SEAL_WRITE) == p[call] == "EBUSY"
        vm.do_munmap(m.mmcore, t.mm, v.vm_start, 64 * KiB)
    memfd_add_seals(m, f, F_SEAL_WRITE)
    assert memfd_get_seals(f) == int(p["get_seals"])
    assert errno_of(t.files.write, fd, b"x") == p["write(1) sealed write"]
    assert errno_of(t.files.pwrite, fd, b"x", 0) == p["pwrite(1 at 0) sealed write"]
    assert errno_of(t.files.fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE) == \
        p["fallocate(PUNCH_HOLE|KEEP_SIZE) sealed write"]
    assert p["fallocate(0, 0, 128k) sealed write"] == "0"
    assert errno_of(t.files.fallocate, fd, 0, 0, 128 * KiB) is None
    assert p["ftruncate(128k) sealed write (grows it)"] == "0"
    assert errno_of(t.files.ftruncate, fd, 128 * KiB) is None
    memfd_add_seals(m, f, F_SEAL_SHRINK | F_SEAL_GROW)
    assert errno_of(t.files.ftruncate, fd, 4 * KiB) == p["ftruncate(4k) sealed shrink"]
    assert p["ftruncate(128k) sealed grow, the size already"] == "0"
    assert errno_of(t.files.ftruncate, fd, 128 * KiB) is None        # the same size
    assert errno_of(t.files.ftruncate, fd, 64 * KiB) == p["ftruncate(64k) sealed shrink"]
    memfd_add_seals(m, f, F_SEAL_SEAL)
    assert errno_of(memfd_add_seals, m, f, F_SEAL_SHRINK) == p["add_seals(F_SEAL_SHRINK) after F_SEAL_SEAL"]
    assert errno_of(memfd_add_seals, m, f, 0x400) == p["add_seals(0x400) after F_SEAL_SEAL"]
    f.f_mode &= ~2                              # as an O_RDONLY open of /proc/self/fd/N
    assert errno_of(memfd_add_seals, m, f, F_SEAL_SHRINK) == \
        p["add_seals(F_SEAL_SHRINK) on an O_RDONLY open"]
    f.f_mode |= 2


def test_grow_seal_makes_a_write_past_eof_short_and_fallocate_eperm():
    """F_SEAL_GROW: a 2-byte pwrite at 8191 of an 8 KiB file writes 1 (the page inside i_size),
    one byte there writes 1; fallocate past i_size EPERM, with KEEP_SIZE inside it fine."""
    p = probe()
    m, t = machine()
    fd = memfd_create(m, t.files, "g", MFD_ALLOW_SEALING)
    f = t.files.fget(fd)
    t.files.ftruncate(fd, 8192)
    memfd_add_seals(m, f, F_SEAL_GROW)
    assert t.files.pwrite(fd, b"xy", 8191) == int(p["pwrite(2 at 8191) sealed grow"]) == 1
    assert t.files.pwrite(fd, b"x", 8191) == int(p["pwrite(1 at 8191) sealed grow"])
    assert errno_of(t.files.fallocate, fd, 0, 0, 16384) == p["fallocate(0, 0, 16k) sealed grow"]
    assert errno_of(t.files.fallocate, fd, FALLOC_FL_KEEP_SIZE, 0, 8192) is None
    assert f.f_inode.i_size == 8192


@pytest.mark.parametrize("kernel", KERNELS)
def test_write_sealed_memfd_refuses_shared_writable_mappings(kernel):
    """mmap of a F_SEAL_WRITE memfd: shared rw EPERM (probe); shared read-only allowed on 6.18
    (probe: ok, and mprotect to rw EACCES: VM_MAYWRITE is gone), EPERM on 5.14
    (mapping_map_writable() for any VM_SHARED mapping); private rw fine."""
    p = probe()
    m, t = machine(kernel)
    fd = memfd_create(m, t.files, "w", MFD_ALLOW_SEALING)
    f = t.files.fget(fd)
    t.files.ftruncate(fd, 64 * KiB)
    memfd_add_seals(m, f, F_SEAL_WRITE)
    total = sum(z["managed"] for z in m.physmem.zones_info())

    def mmap(prot, kind):
        try:
            return vm.do_mmap(m.mmcore, t.mm, m.files, 64 * KiB, prot, kind, totalram=total, filp=f)
        except vm.MmError as e:
            return e.errno
    assert mmap("rw", "file-shared") == p["mmap(shared rw) sealed write"] == "EPERM"
    ro = mmap("r", "file-shared")
    if kernel == "v6.18":
        assert p["mmap(shared r) sealed write"] == "ok" and not isinstance(ro, str)
        assert not ro.vm_flags & 0x20
        with pytest.raises(vm.MmError) as e:
            vm.do_mprotect(m.mmcore, t.mm, ro.vm_start, 64 * KiB, "rw")
        assert e.value.errno == p["mprotect(rw) of it"] == "EACCES"
    else:
        assert ro == "EPERM"
    assert not isinstance(mmap("rw", "file"), str) and p["mmap(private rw) sealed write"] == "ok"


def test_memfd_lives_while_open_or_mapped_and_its_inode_is_freed_after():
    """A memfd has no link: its last reference (the fd, then the mapping) evicts it and frees
    its shmem_inode_cache object; NR_SHMEM comes back."""
    m, t = machine()
    shmem0 = stat(m, "NR_SHMEM")
    fd = memfd_create(m, t.files, "buf")
    f = t.files.fget(fd)
    inode, mapping = f.f_inode, f.f_mapping
    t.files.ftruncate(fd, 8 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 8 * PAGE, "rw", "file-shared", totalram=total, filp=f)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    assert stat(m, "NR_SHMEM") == shmem0 + 8 and mapping.name == "/memfd:buf (deleted)"
    t.files.close_fd(fd)
    addr = inode.i_addr
    assert m.slab.object_info(addr)["allocated"] and mapping.nrpages == 8
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    m.rcu_barrier()                                 # call_rcu(i_callback)
    assert not m.slab.object_info(addr)["allocated"] and mapping.mapping_empty()
    assert stat(m, "NR_SHMEM") == shmem0


def test_shmem_zero_setup_backs_a_vma_with_an_unlinked_shmem_file():
    """shmem_zero_setup(vma): a dev/zero file of the VMA's size on shm_mnt; the VMA holds it."""
    from memsim.plugins.pagecache.tmpfs import shmem_zero_setup
    m, t = machine()
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 4 * PAGE, "rw", "anon", totalram=total)
    shmem_zero_setup(m, v)
    assert v.vm_file.name == "/dev/zero (deleted)" and v.vm_file.i_size == 4 * PAGE
    inode = v.vm_file.host
    assert shmem_mapping(v.vm_file) and inode.i_count == 1 and inode.i_nlink == 0
    assert inode.i_sb is get_tmpfs(m).shm_mnt().mnt_sb


# -- workload steps ------------------------------------------------------------------------------
MEMFD_YAML = textwrap.dedent("""\
    machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v6.18}
    tasks:
      - name: app
        steps:
          - memfd_create: {name: m, flags: [MFD_ALLOW_SEALING]}
          - ftruncate: {fd: m, length: 64 KiB}
          - mmap: {name: v, length: 64 KiB, type: fd-shared, fd: m}
          - touch: {vma: v, access: write}
          - pwrite: {fd: m, offset: 0, data: hello}
          - add_seals: {fd: m, seals: [F_SEAL_WRITE]}
          - expect: {errno: EBUSY}
          - munmap: {vma: v}
          - add_seals: {fd: m, seals: [F_SEAL_WRITE, F_SEAL_SHRINK]}
          - write: {fd: m, data: x}
          - expect: {errno: EPERM}
          - ftruncate: {fd: m, length: 4 KiB}
          - expect: {errno: EPERM}
          - mmap: {name: w, length: 64 KiB, type: fd-shared, fd: m}
          - expect: {errno: EPERM}
          - pread: {fd: m, offset: 0, expect: hello}
          - write_file: {path: /proc/sys/vm/stat_refresh, data: '1'}
          - expect: {file: {path: /proc/meminfo, fields: {Shmem: 64 KiB}}}
          - mkdir: {path: /mnt/t}
          - mount: {type: tmpfs, path: /mnt/t, options: size=1m}
          - create_files: {dir: /mnt/t, count: 100, size: 4 KiB}
          - create_files: {dir: /mnt/t, count: 300, size: 4 KiB, prefix: g}
          - expect: {errno: ENOSPC}
    """)


def test_memfd_and_create_files_steps_run_under_check():
    run = run_text(MEMFD_YAML, check=True)
    m = run.machine
    names = m.vfs.path_lookup("/mnt/t").dentry.d_subdirs
    assert len([n for n in names if n.startswith("f")]) == 100
    assert len([n for n in names if n.startswith("g")]) == 157      # 256 pages of size=1m, then ENOSPC


@pytest.mark.parametrize("bad, token, words", [
    ("- memfd_create: {name: n, flags: [MFD_CLOEXEC, MFD_CLOEXEC]}", "MFD_CLOEXEC]", "given twice"),
    ("- memfd_create: {name: n, flag: [MFD_CLOEXEC]}", "flag", "unknown key 'flag'"),
    ("- memfd_create: {name: n, flags: [MFD_CLOSEXEC]}", "MFD_CLOSEXEC", "MFD_CLOSEXEC"),
    ("- add_seals: {fd: nosuch, seals: [F_SEAL_WRITE]}", "nosuch", "nosuch"),
    ("- add_seals: {fd: m, seals: [F_SEAL_WRTE]}", "F_SEAL_WRTE", "F_SEAL_WRTE"),
    ("- create_files: {dir: mnt, count: 3}", "mnt", "absolute path"),
    ("- create_files: {dir: /mnt, count: 0}", "0", "count"),
    ("- create_files: {dir: /mnt, count: 3, prefix: a/b}", "a/b", "prefix"),
    ("- create_files: {dir: /mnt, count: 3, sise: 4}", "sise", "unknown key 'sise'"),
])
def test_bad_step_keys_are_load_errors_at_their_line_and_column(bad, token, words):
    """A mistake in a plugin step is a load error at its line and column, exit code 2."""
    text = ("machine: {cpus: 1, nodes: [{memory: 64 MiB}]}\n"
            "tasks:\n"
            "  - name: app\n"
            "    steps:\n"
            "      - memfd_create: {name: m}\n"
            f"      {bad}\n")
    column = 7 + bad.rindex(token) if token == "MFD_CLOEXEC]" else 7 + bad.index(token)
    with pytest.raises(WorkloadError) as e:
        run_text(text)
    assert e.value.exit_code == 2
    assert str(e.value).startswith(f"test.yaml:6:{column}:"), str(e.value)
    assert words in str(e.value)


def clean_pages(m, t, fd, n):
    """Read-fault pages 0..n-1 of a tmpfs file through a mapping (holes: clean zero pages),
    then unmap them and drain the LRU batch: pages only the cache holds."""
    file = t.files.fget(fd)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, n * PAGE, "r", "file-shared", totalram=total, filp=file)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, n * PAGE)
    m.physmem.lru_add_drain_py()


@pytest.mark.parametrize("kernel", KERNELS)
def test_blocks_of_pages_dropped_behind_shmems_back_come_back_at_the_files_recalc(kernel):
    """shmem_recalc_inode(): fadvise DONTNEED (the generic invalidate_mapping_pages) drops a
    full tmpfs's clean pages, but their blocks stay accounted to the file (info->alloced) until
    its next recalc.  Another file's write is ENOSPC on both kernels.  The file's own write:
    v5.14 takes the block first (shmem_inode_acct_block) and is ENOSPC too; v6.7+ adds the page
    first and, finding the superblock full, recalcs the file (its 4 lost blocks back) and goes
    on.  A truncate's shmem_undo_range() ends with a recalc as well."""
    m, t = machine(kernel)
    mount(m, "size=16k")
    f = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    g = m.vfs.open(t.files, "/mnt/t/g", O_CREAT | O_RDWR)
    t.files.ftruncate(f, 4 * PAGE)
    clean_pages(m, t, f, 4)
    mapping = t.files.fget(f).f_mapping
    sbinfo = t.files.fget(f).f_inode.i_sb.s_fs_info.sbinfo
    assert sbinfo.used_blocks == 4 and mapping.private_data == 4
    m.vfs.fadvise(t.files, f, 0, 0, 4)                          # POSIX_FADV_DONTNEED
    assert mapping.nrpages == 0 and sbinfo.used_blocks == 4 and mapping.private_data == 4
    assert errno_of(t.files.pwrite, g, b"g", 0) == "ENOSPC"
    if kernel == "v5.14":
        assert errno_of(t.files.pwrite, f, b"f", 0) == "ENOSPC"
        t.files.ftruncate(f, 0)                                 # shmem_undo_range -> recalc
        assert sbinfo.used_blocks == 0 and mapping.private_data == 0
        t.files.ftruncate(f, 4 * PAGE)
        assert t.files.pwrite(f, b"f", 0) == 1
    else:
        assert t.files.pwrite(f, b"f", 0) == 1
    assert sbinfo.used_blocks == 1 == mapping.private_data == mapping.nrpages
    assert t.files.pwrite(g, b"g" * (3 * PAGE), 0) == 3 * PAGE
    assert errno_of(t.files.pwrite, g, b"x", 3 * PAGE) == "ENOSPC"


@pytest.mark.parametrize("kernel", KERNELS)
def test_umount_of_a_tmpfs_frees_its_files_and_its_shrinker(kernel):
    """kill_litter_super(): the dentries' pins go, every inode no one holds is evicted (pages,
    NR_SHMEM, slab objects), the sb-tmpfs shrinker is freed; a file still mapped outlives the
    mount until its VMA goes."""
    m, t = machine(kernel)
    shmem0 = stat(m, "NR_SHMEM")
    mount(m)
    m.vfs.do_mkdirat("/mnt/t/d")
    fd = m.vfs.open(t.files, "/mnt/t/d/a", O_CREAT | O_RDWR)
    t.files.write(fd, bytes(3 * PAGE))
    file = t.files.fget(fd)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 3 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    fb = m.vfs.open(t.files, "/mnt/t/b", O_CREAT | O_RDWR)
    t.files.write(fb, bytes(2 * PAGE))
    b = t.files.fget(fb).f_inode
    baddr = b.i_addr
    assert errno_of(m.vfs.do_umount, "/mnt/t") == "EBUSY"     # open files
    t.files.close_fd(fd)
    t.files.close_fd(fb)
    assert stat(m, "NR_SHMEM") == shmem0 + 5
    m.vfs.do_umount("/mnt/t")
    m.rcu_barrier()                                 # call_rcu(i_callback)
    assert not m.slab.object_info(baddr)["allocated"] and b.i_data.nrpages == 0
    assert stat(m, "NR_SHMEM") == shmem0 + 3                   # a's pages: still mapped
    assert not any(s[1] == "sb-tmpfs" for s in m.shrinkers.shrinkers())
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 3 * PAGE)
    assert stat(m, "NR_SHMEM") == shmem0


def test_fadvise_dontneed_drops_only_clean_unmapped_shmem_pages():
    """generic_fadvise(POSIX_FADV_DONTNEED) on tmpfs (shmem has no ->fadvise): the clean pages
    a read fault of a hole made (zeros) go; written (dirty) and mapped pages stay; their blocks
    come back at the file's next shmem_recalc_inode() (here the one shmem_getattr() would do);
    EINVAL for an unknown advice."""
    m, t = machine()
    mount(m, "size=64k")
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.ftruncate(fd, 8 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 8 * PAGE, "r", "file-shared", totalram=total, filp=file)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start + 4 * PAGE, 4 * PAGE)      # pages 4-7 unmapped
    t.files.pwrite(fd, b"keep", 5 * PAGE)                               # page 5 dirty
    m.physmem.lru_add_drain_py()
    sbinfo = file.f_inode.i_sb.s_fs_info.sbinfo
    assert file.f_mapping.nrpages == 8 and sbinfo.used_blocks == 8
    m.vfs.fadvise(t.files, fd, 0, 0, 4)                                 # POSIX_FADV_DONTNEED
    assert sorted(file.f_mapping.i_pages.keys()) == [0, 1, 2, 3, 5]
    assert sbinfo.used_blocks == 8                  # until the file's shmem_recalc_inode()
    assert sbinfo.recalc_inode(file.f_mapping) == 3 and sbinfo.used_blocks == 5
    assert errno_of(m.vfs.fadvise, t.files, fd, 0, 0, 9) == "EINVAL"


def test_check_finds_a_broken_tmpfs():
    """--check of tmpfs: clean after real use; a value entry planted in a shmem mapping, or a
    block count below the pages, is reported."""
    from memsim.plugins.pagecache.tmpfs import check_invariants
    m, t = machine()
    mount(m, "nr_inodes=10")
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    t.files.write(fd, bytes(3 * PAGE))
    memfd_create(m, t.files, "x")
    assert check_invariants(m) == []
    file = t.files.fget(fd)
    sbinfo = file.f_inode.i_sb.s_fs_info.sbinfo
    sbinfo.used_blocks = 1
    assert any("used_blocks 1, but its files hold 3 blocks" in p for p in check_invariants(m))
    sbinfo.used_blocks = 3
    file.f_inode.i_sb.s_fs_info.free_inodes += 1
    assert any("inodes reserved" in p for p in check_invariants(m))


def test_a_freed_shmem_page_takes_its_bytes_along():
    """A page truncate frees leaves no bytes for its next owner: the next file that gets the
    frame reads zeros and its own writes (a stale frame used to keep PG_content clear, hiding a
    write made through a mapping from read())."""
    m, t = machine()
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/a", O_CREAT | O_RDWR)
    t.files.write(fd, b"secret" * 100)
    pfn = t.files.fget(fd).f_mapping.i_pages[0]
    t.files.ftruncate(fd, 0)
    m.physmem.lru_add_drain_py()
    assert m.physmem.read_bytes(pfn, 0, 6) == bytes(6)
    g = memfd_create(m, t.files, "next")
    t.files.ftruncate(g, PAGE)
    f = t.files.fget(g)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, PAGE, "rw", "file-shared", totalram=total, filp=f)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    page = m.mmcore.pfn_of(t.mm, v.vm_start)
    assert t.files.pread(g, 6, 0) == bytes(6)
    m.physmem.write_bytes(page, 0, b"mapped")
    assert t.files.pread(g, 6, 0) == b"mapped"


def test_shmem_fires_the_filemap_delete_event_but_not_the_add():
    """shmem_add_to_page_cache() has no filemap event; its pages leave through
    __filemap_remove_folio(), which fires mm_filemap_delete_from_page_cache (6.18 format:
    dev 0:N of the tmpfs, the inode number, the index, order 0)."""
    from memsim.testing import trace_text
    m, t = machine("v6.18", events=["filemap:*"])
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    t.files.write(fd, bytes(2 * PAGE) + b"x")
    inode = t.files.fget(fd).f_inode
    assert "mm_filemap_add_to_page_cache" not in trace_text(m)
    t.files.ftruncate(fd, 0)
    deletes = [l for l in trace_text(m).splitlines() if "mm_filemap_delete_from_page_cache" in l]
    assert len(deletes) == 3
    assert f"dev 0:{inode.i_sb.s_dev} ino {inode.i_ino:x}" in deletes[0]


@pytest.fixture(scope="module")
def fakeswap(tmp_path_factory):
    """tests/core/fakeswap: swap_ops.swap_out filled (a swap device with no room), so reclaim
    scans the anon lists, where shmem pages live."""
    import os
    from memsim.testing import build_extension
    return build_extension(os.path.join(os.path.dirname(__file__), "..", "core", "fakeswap",
                                        "fakeswap.pyx"), tmp_path_factory.mktemp("fakeswap-build"))


@pytest.mark.parametrize("kernel", KERNELS)
def test_reclaim_with_swap_keeps_dirty_shmem_pages_and_drops_clean_ones_without_shadows(kernel, fakeswap):
    """With swap possible the anon lists are scanned: a dirty shmem page has no ->writepage
    here (shmem swap is a later issue) and is activated; a clean one (a hole a read fault
    filled: zeros) is dropped through shmem's delete op, without a shadow; its block comes back
    at the file's next shmem_recalc_inode(); --check holds."""
    from memsim.plugins.pagecache.tmpfs import check_invariants
    m, t = machine(kernel, mib=32)
    fakeswap.install(m.mmcore)
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.ftruncate(fd, 64 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * PAGE, "r", "file-shared", totalram=total, filp=file)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 64 * PAGE)
    t.files.pwrite(fd, b"d" * (8 * PAGE), 0)            # pages 0-7 dirty
    m.physmem.lru_add_drain_py()
    sbinfo = file.f_inode.i_sb.s_fs_info.sbinfo
    m.vmscan.try_to_free_pages(0, 4096)
    mapping = file.f_mapping
    assert sorted(mapping.i_pages.keys()) == list(range(8)) and not mapping.shadows()
    assert t.files.pread(fd, 8, 0) == b"d" * 8
    assert sbinfo.used_blocks == 64 and sbinfo.recalc_inode(mapping) == 56    # lost behind its back
    assert sbinfo.used_blocks == 8
    assert check_invariants(m) == []
    fakeswap.remove(m.mmcore)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_read_fault_on_tmpfs_maps_the_cached_pages_around_it(kernel):
    """shmem_vm_ops.map_pages = filemap_map_pages(): one read fault on a tmpfs file whose 16
    pages are cached maps all 16 (the 64 KiB fault-around window), the other 15 as
    fault-around; 6.18 fires mm_filemap_map_pages once."""
    from memsim.testing import trace_text
    m, t = machine(kernel, events=["filemap:*"])
    mount(m)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.write(fd, b"z" * (16 * PAGE))
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 16 * PAGE, "r", "file-shared", totalram=total, filp=file)
    before = m.mmcore.fault_counts_dict()
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)
    after = m.mmcore.fault_counts_dict()
    assert all(m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) == file.f_mapping.i_pages[i]
               for i in range(16))
    assert after["fault_around"] - before["fault_around"] == 15
    events = [l for l in trace_text(m).splitlines() if "mm_filemap_map_pages" in l]
    assert len(events) == (1 if kernel == "v6.18" else 0)


# -- shmem's shared policy (mbind of a shmem VMA: shmem_set_policy) ------------------------------
def numa_machine(kernel):
    m = build_machine(kernel=kernel, nodes=(32 * MiB, 32 * MiB), cpus=1)
    t = m.spawn("app")
    m.set_current(t)
    mount(m)
    return m, t


def mbind(m, t, start, length, mode, nodes=()):
    p = m.profile
    vm.do_mbind(m.mmcore, t.mm, start, length, mode, 0, nodes, range(len(m.spec.nodes)),
                p.mpol_max, p.mpol_numa_balancing_modes)


def nodes_of_file(m, mapping, first, n):
    return [m.physmem.page_info(mapping.i_pages[i])["node"] for i in range(first, first + n)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_mbind_of_a_shmem_vma_sets_the_files_shared_policy(kernel):
    """mbind(MPOL_BIND, node 1) on pages 4..7 of a shared mapping of a tmpfs file: the VMA
    (split to the range) passes the policy to the file (vm_ops->set_policy: shmem_set_policy),
    so pages 4..7 of the file are allocated on node 1 whoever touches them -- the mapping
    itself, a second mapping without any policy, a write() after the munmap -- while the
    others stay local (node 0); MPOL_DEFAULT over a VMA range with a policy removes it from the
    file (over a VMA without one, mbind_range() skips the VMA: mpol_equal()) (mm/shmem.c,
    mm/mempolicy.c: mpol_set_shared_policy, shmem_alloc_folio with shmem_get_pgoff_policy)."""
    m, t = numa_machine(kernel)
    fd = m.vfs.open(t.files, "/mnt/t/f", O_CREAT | O_RDWR)
    file = t.files.fget(fd)
    t.files.ftruncate(fd, 16 * PAGE)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 8 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    start = v.vm_start
    mbind(m, t, start + 4 * PAGE, 4 * PAGE, vm.MPOL_BIND, [1])
    sbinfo = file.f_inode.i_sb.s_fs_info.sbinfo
    assert sbinfo.shared_policy(file.f_mapping) == [(4, 8, vm.MPOL_BIND)]
    w = vm.do_mmap(m.mmcore, t.mm, m.files, 8 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    assert m.mmcore.access(t.mm, w, w.vm_start, w.vm_end, True)[1] == 0     # no policy of its own
    assert nodes_of_file(m, file.f_mapping, 0, 8) == [0] * 4 + [1] * 4
    vm.do_munmap(m.mmcore, t.mm, start, 8 * PAGE)
    vm.do_munmap(m.mmcore, t.mm, w.vm_start, 8 * PAGE)
    t.files.pwrite(fd, b"x" * (8 * PAGE), 8 * PAGE)           # pages 8..15: no policy there
    assert nodes_of_file(m, file.f_mapping, 8, 8) == [0] * 8
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 16 * PAGE, "rw", "file-shared", totalram=total, filp=file)
    mbind(m, t, v.vm_start + 12 * PAGE, 4 * PAGE, vm.MPOL_BIND, [1])
    mbind(m, t, v.vm_start + 4 * PAGE, 2 * PAGE, vm.MPOL_DEFAULT)      # this VMA has none:
    assert len(sbinfo.shared_policy(file.f_mapping)) == 2                # mpol_equal(), skipped
    mbind(m, t, v.vm_start + 4 * PAGE, 4 * PAGE, vm.MPOL_BIND, [1])
    mbind(m, t, v.vm_start + 4 * PAGE, 2 * PAGE, vm.MPOL_DEFAULT)
    assert sbinfo.shared_policy(file.f_mapping) == [(6, 8, vm.MPOL_BIND), (12, 16, vm.MPOL_BIND)]
    fallocate_pages = t.files.fallocate
    t.files.ftruncate(fd, 0)
    t.files.ftruncate(fd, 16 * PAGE)
    fallocate_pages(fd, 0, 0, 16 * PAGE)                       # SGP_FALLOC follows it too
    assert nodes_of_file(m, file.f_mapping, 0, 16) == [0] * 6 + [1] * 2 + [0] * 4 + [1] * 4


@pytest.mark.parametrize("kernel", KERNELS)
def test_shmem_pages_follow_the_tasks_policy_where_the_file_has_none(kernel):
    """get_task_policy(): without a shared policy a shmem page follows set_mempolicy();
    MPOL_INTERLEAVE picks the node by i_ino + index (shmem_get_pgoff_policy's ilx; v5.14's
    pseudo-VMA vm_pgoff), so consecutive pages alternate from the inode number's parity."""
    m, t = numa_machine(kernel)
    p = m.profile
    vm.do_set_mempolicy(t, vm.MPOL_BIND, 0, [1], range(2), p.mpol_max, p.mpol_numa_balancing_modes)
    fd = m.vfs.open(t.files, "/mnt/t/b", O_CREAT | O_RDWR)
    t.files.pwrite(fd, b"b" * (4 * PAGE), 0)
    assert nodes_of_file(m, t.files.fget(fd).f_mapping, 0, 4) == [1] * 4
    vm.do_set_mempolicy(t, vm.MPOL_INTERLEAVE, 0, [0, 1], range(2), p.mpol_max,
                        p.mpol_numa_balancing_modes)
    fd = m.vfs.open(t.files, "/mnt/t/i", O_CREAT | O_RDWR)
    t.files.pwrite(fd, b"i" * (4 * PAGE), 0)
    ino = t.files.fget(fd).f_inode.i_ino
    assert nodes_of_file(m, t.files.fget(fd).f_mapping, 0, 4) == [(ino + i) % 2 for i in range(4)]
