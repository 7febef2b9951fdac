"""diskfs's dentries in the dentry cache (memsim/dcache.py, fs/dcache.c) and the inode lifetime
behind them: unused dentries on the superblock's dentry LRU, super_cache_scan() pruning them
before the inodes (prune_dcache_sb -> dentry_kill -> iput -> the inode LRU -> prune_icache_sb),
the inode read back from the disk's inode table at the next lookup (ext4_lookup -> ext4_iget),
/proc/sys/fs/dentry-state, inode-nr and inode-state (pagecache.md section 10 scenario 16 on
the disk filesystem)."""
import pytest

from memsim.dcache import DCACHE_LRU_LIST, DCACHE_REFERENCED, prune_dcache_sb
from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT, mount_boot_disk
from memsim.testing import build_machine, trace_text
from memsim.vfs import I_FREEING, O_CREAT, O_RDONLY, O_RDWR, VfsError
from memsim.vmstat import node_stat_item as NS

MiB = 1 << 20
PAGE = 4096
KERNELS = ("v5.14", "v6.18")
DISK = DISKFS_MOUNT_POINT


def machine(kernel="v5.14"):
    m = build_machine(kernel=kernel, cpus=1, nodes=(64 * MiB,))
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def write_file(m, t, path, data, evict=False):
    """Write ``data`` to a new file and sync it; with ``evict``, reclaim its pages while it is
    still open (an unused dentry would be pruned by the reclaim's shrink_slab), then close."""
    fd = m.vfs.open(t.files, path, O_RDWR | O_CREAT)
    t.files.pwrite(fd, data, 0)
    t.files.fsync(fd)
    inode = t.files.fget(fd).f_inode
    if evict:
        evict_all(m, inode.i_data)
    t.files.close_fd(fd)
    return inode


def read_back(m, t, path, count):
    fd = m.vfs.open(t.files, path, O_RDONLY)
    try:
        return t.files.pread(fd, count, 0), t.files.fget(fd).f_inode
    finally:
        t.files.close_fd(fd)


def dentry_of(m, path):
    parent, name = path.rsplit("/", 1)
    return m.vfs.path_lookup(parent).dentry.d_subdirs.get(name)


def evict_all(m, mapping):
    """Reclaim until the mapping holds only shadows."""
    for _ in range(2000):
        if mapping.nrpages == 0:
            return
        if not m.vmscan.try_to_free_pages(0, 1):
            m.physmem.lru_add_drain_py()
    raise AssertionError("the file's pages were never all evicted")


def proc(m, path):
    return m.vfs.read_file(path).decode()


def pattern(pages):
    return bytes((i * 7 + i // PAGE) & 0xff for i in range(pages * PAGE))


@pytest.mark.parametrize("kernel, pages", [("v5.14", 4), ("v6.18", 1)])
def test_scenario_16_on_diskfs_shadow_only_inode_goes_after_its_dentry(kernel, pages):
    """Scenario 16 on the disk: file B, written and closed, its pages reclaimed (shadows only);
    its dentry is unused on the dentry LRU and pins the inode.  echo 2 > drop_caches (the
    "sb-diskfs" shrinker's super_cache_scan): the dentry is pruned first (its object freed, the
    inode's last reference dropped: the inode goes on the inode LRU), then the inode shrinker
    evicts B directly (nrpages 0); the final truncate clears the shadows.  (v6.18 keeps an inode
    with shadow nodes off the LRU: one page, whose shadow sits at index 0, is shrinkable; its
    isolate empties the mapping first and retries.)  The
    next open reads the inode back from the disk: a new inode of the same number, an empty page
    cache, the bytes from the disk, no refault counted (the shadows are gone)."""
    m, t = machine(kernel)
    data = pattern(pages)
    b = write_file(m, t, f"{DISK}/b", data, evict=True)
    mapping = b.i_data
    assert mapping.nrpages == 0 and not mapping.mapping_empty()
    d = dentry_of(m, f"{DISK}/b")
    assert d.d_count == 0 and d.d_flags & DCACHE_LRU_LIST and b.i_count == 1
    objects = (d.d_addr, b.i_addr)
    ino, refaults = b.i_ino, m.physmem.vmstat.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_FILE)
    m.drop_caches.write(m, b"2")
    if kernel == "v6.18":
        # inode_lru_isolate() of a mapping not empty (its one shadow) invalidates it and
        # returns LRU_RETRY, which ends a walk of one; drop_slab()'s loop stops as it freed
        # only the dentry: the next shrink evicts B
        assert dentry_of(m, f"{DISK}/b") is None and b.i_lru and mapping.mapping_empty()
        m.drop_caches.write(m, b"2")
    assert b.i_state & I_FREEING and mapping.mapping_empty() and mapping.nrpages == 0
    assert dentry_of(m, f"{DISK}/b") is None and d.d_inode is None
    # dentry_free() and destroy_inode() free the objects from RCU callbacks: the grace period
    # in progress ends at the next preemption point, the callbacks run at the one after
    m.quiescent_state(t)
    assert all(m.slab.object_info(addr)["allocated"] for addr in objects)
    m.quiescent_state(t)
    assert not any(m.slab.object_info(addr)["allocated"] for addr in objects)
    got, again = read_back(m, t, f"{DISK}/b", len(data))
    assert got == data
    assert again is not b and again.i_ino == ino and again.i_size == len(data)
    assert m.physmem.vmstat.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_FILE) == refaults


def test_v618_an_inode_with_shadow_nodes_outlives_its_dentry_and_is_found_again():
    """v5.16+: B's four shadows are in an xa_node, so its mapping is not shrinkable: pruning the
    dentry leaves B unused and off the inode LRU; the next lookup finds the same inode in the
    inode hash (iget: __iget) and a read refaults from the shadows."""
    m, t = machine("v6.18")
    data = pattern(4)
    b = write_file(m, t, f"{DISK}/b", data, evict=True)
    m.drop_caches.write(m, b"2")
    assert dentry_of(m, f"{DISK}/b") is None
    assert not b.i_state & I_FREEING and b.i_count == 0 and not b.i_lru
    refaults = m.physmem.vmstat.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_FILE)
    got, again = read_back(m, t, f"{DISK}/b", len(data))
    assert got == data and again is b
    assert m.physmem.vmstat.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_FILE) == refaults + 4


@pytest.mark.parametrize("kernel", KERNELS)
def test_dentry_state_and_inode_nr_follow_the_dcache(kernel):
    """/proc/sys/fs/dentry-state: six tab-separated longs (the 6.18 VM printed
    "210975\\t208736\\t45\\t0\\t79800\\t0"): nr_dentry, nr_unused, age_limit 45, want_pages,
    nr_negative, dummy; inode-nr two and inode-state seven.  A file held open has a dentry in
    use; closed, it is unused; pruned, both go and the inode with them (drop_caches 2 after
    drop_caches 1 emptied its cache)."""
    m, t = machine(kernel)
    base = [int(v) for v in proc(m, "/proc/sys/fs/dentry-state").split("\t")]
    assert base[2:] == [45, 0, 0, 0] and len(proc(m, "/proc/sys/fs/inode-state").split("\t")) == 7
    fd = m.vfs.open(t.files, f"{DISK}/a", O_RDWR | O_CREAT)
    t.files.pwrite(fd, b"x" * 10, 0)
    t.files.fsync(fd)
    st = [int(v) for v in proc(m, "/proc/sys/fs/dentry-state").split("\t")]
    assert st[:2] == [base[0] + 1, base[1]]                     # in use: not on the LRU
    nr = [int(v) for v in proc(m, "/proc/sys/fs/inode-nr").split("\t")]
    t.files.close_fd(fd)
    st = [int(v) for v in proc(m, "/proc/sys/fs/dentry-state").split("\t")]
    assert st[:2] == [base[0] + 1, base[1] + 1]
    m.physmem.lru_add_drain_py()        # v5.14: a page in the lru_add pagevec stays cached
    m.vfs.write_file("/proc/sys/vm/drop_caches", b"1")
    m.vfs.write_file("/proc/sys/vm/drop_caches", b"2")
    assert proc(m, "/proc/sys/fs/dentry-state").split("\t")[:2] == [str(base[0]), str(base[1])]
    assert proc(m, "/proc/sys/fs/inode-nr") == f"{nr[0] - 1}\t{nr[1]}\n"


def test_a_dentry_used_again_is_referenced_and_gets_one_more_pass():
    """retain_dentry(): the last dput of a dentry already on the LRU marks it
    DCACHE_REFERENCED; dentry_lru_isolate() clears the mark and rotates it once; one in use
    leaves the LRU without being freed."""
    m, t = machine()
    write_file(m, t, f"{DISK}/a", b"a")
    write_file(m, t, f"{DISK}/b", b"b")
    a, b = dentry_of(m, f"{DISK}/a"), dentry_of(m, f"{DISK}/b")
    read_back(m, t, f"{DISK}/a", 1)                        # a: used again, referenced
    assert a.d_flags & DCACHE_REFERENCED and not b.d_flags & DCACHE_REFERENCED
    fd = m.vfs.open(t.files, f"{DISK}/b", O_RDONLY)        # b: in use, still on the LRU
    sb = a.d_sb
    assert prune_dcache_sb(sb, 2, a.d_nid) == 1            # a rotated, b removed (in use)
    assert not a.d_flags & DCACHE_REFERENCED and a.d_flags & DCACHE_LRU_LIST
    assert not b.d_flags & DCACHE_LRU_LIST and dentry_of(m, f"{DISK}/b") is b
    assert prune_dcache_sb(sb, 1, a.d_nid) == 1 and dentry_of(m, f"{DISK}/a") is None
    t.files.close_fd(fd)
    assert b.d_flags & DCACHE_LRU_LIST                     # back at its last dput


def test_a_directory_goes_with_its_last_child_and_lookups_rebuild_the_path():
    """shrink_dentry_list(): a child's death drops its parent's last reference, so an unused
    directory is killed in the same prune; the path is then looked up from the disk, component
    by component, and --ls (readdir) still lists every file."""
    m, t = machine()
    m.vfs.do_mkdirat(f"{DISK}/d")
    write_file(m, t, f"{DISK}/d/f", b"hello")
    d = dentry_of(m, f"{DISK}/d")
    assert d.d_count == 1                                   # the child's reference
    m.vfs.write_file("/proc/sys/vm/drop_caches", b"3")
    assert dentry_of(m, f"{DISK}/d") is None
    assert read_back(m, t, f"{DISK}/d/f", 5)[0] == b"hello"
    m.vfs.write_file("/proc/sys/vm/drop_caches", b"3")
    paths = [p for p, _ in m.vfs.iterate(DISK)]
    assert paths == [DISK, f"{DISK}/d", f"{DISK}/d/f"]
    with pytest.raises(VfsError, match="ENOTEMPTY"):
        m.vfs.do_rmdir(f"{DISK}/d")


@pytest.mark.parametrize("kernel", KERNELS)
def test_unlink_of_an_open_file_kills_its_dentry_at_the_last_close(kernel):
    """d_delete() of a dentry in use unhashes it; the last dput kills it (no LRU), the inode
    (no link left) is evicted and its disk inode freed; the name is gone from the disk."""
    m, t = machine(kernel)
    fd = m.vfs.open(t.files, f"{DISK}/u", O_RDWR | O_CREAT)
    t.files.pwrite(fd, b"z" * 100, 0)
    inode = t.files.fget(fd).f_inode
    d = t.files.fget(fd).f_path.dentry
    info = inode.i_sb.s_fs_info
    m.vfs.do_unlinkat(f"{DISK}/u")
    assert d.d_count == 1 and not d.d_flags & DCACHE_LRU_LIST and not inode.i_state & I_FREEING
    t.files.close_fd(fd)
    assert inode.i_state & I_FREEING and d.d_inode is None and inode.i_ino not in info.disk
    with pytest.raises(VfsError, match="ENOENT"):
        m.vfs.open(t.files, f"{DISK}/u", O_RDONLY)


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_walk_allocates_the_dentry_before_the_filesystem_makes_the_inode(kernel):
    """lookup_open() / lookup_slow(): d_alloc_parallel() allocates the dentry of a name not in
    the cache before ->create (or ->lookup's ext4_iget) allocates the inode, and the one dentry
    is instantiated; a lookup that finds nothing frees it at the end of the call (memsim keeps
    no negative dentry), after an RCU grace period."""
    m = build_machine(events=["kmem:kmem_cache_alloc", "kmem:kmem_cache_free"], kernel=kernel,
                      cpus=1, nodes=(64 * MiB,))
    mount_boot_disk(m)
    t = m.spawn("app")
    m.set_current(t)
    before = len(trace_text(m).splitlines())
    fd = m.vfs.open(t.files, f"{DISK}/new", O_RDWR | O_CREAT)
    sites = [l.split("call_site=")[1].split("+")[0] for l in trace_text(m).splitlines()[before:]
             if "kmem_cache_alloc" in l]
    assert sites == ["__d_alloc", "alloc_inode"]
    t.files.close_fd(fd)
    with pytest.raises(VfsError, match="ENOENT"):
        m.vfs.open(t.files, f"{DISK}/missing", O_RDONLY)
    assert proc(m, "/proc/sys/fs/dentry-state").split("\t")[:2] == ["1", "1"]
    m.rcu_barrier()
    lines = [l for l in trace_text(m).splitlines() if "kmem_cache" in l]
    assert "__d_alloc" in lines[-2] and "__d_free" in lines[-1]
