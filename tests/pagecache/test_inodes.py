"""Inode lifetime in the page-cache plugin (plugins/pagecache/inode.py; fs/inode.c, fs/super.c):
slab inodes whose i_data lives inside the object, evict -> final truncate -> clear_inode, the
inode LRU and the per-superblock shrinker (/work/shared/spec/pagecache.md scenarios 1, 16, 24).

The filesystem here is a small one of this test's own (``lrufs``): regular files whose page
cache is the core's i_pages with no a_ops, so the tests reach pages and shadows through the
core's own fault and reclaim paths; ``forget`` drops a file's dentry as prune_dcache_sb() would,
leaving its inode unused with its name (i_nlink 1)."""
import pytest

from memsim import vm
from memsim.hookspecs import hookimpl
from memsim.testing import build_machine
from memsim.vfs import (FileOperations, FileSystemType, InodeOperations, O_CREAT, O_RDWR, S_IFREG,
                        SuperBlock, simple_unlink)
from memsim.vmstat import vm_event_item as EV

from memsim.plugins.pagecache.inode import (I_REFERENCED, InodeBug, InodeCache, SlabInode,
                                            clear_inode, mapping_shrinkable)

MiB = 1 << 20
PAGE = 4096
KERNELS = ("v5.14", "v6.18")


class LruFs:
    """``mount -t lrufs``: regular files in the page cache under diskfs's generic a_ops (a
    Filemap of its own), inodes from inode_cache through InodeCache."""

    __name__ = "lrufs"

    def __init__(self):
        self.caches = []

    @hookimpl
    def memsim_register_filesystems(self, filesystems):
        filesystems.add(FileSystemType("lrufs", "inode LRU test filesystem", self.mount, plugin="lrufs"))

    def mount(self, fc):
        from memsim.plugins.pagecache.filemap import Filemap
        cache = InodeCache(fc.machine, "inode_cache")
        filemap = Filemap(fc.machine.mmcore, fc.machine.physmem)
        self.caches.append(cache)
        fops = FileOperations(mmap=lambda file, vma: None)

        def create(dir, name, mode):
            inode = cache.new_inode(sb, S_IFREG | mode, InodeOperations(), fops, name)
            inode.i_data.i_size = 1 << 30
            inode.i_size = 1 << 30
            filemap.install(inode.i_data)
            return sb.d_alloc(dir, name, inode)

        sb = SuperBlock(fc.fs_type, 0o755, InodeOperations(create=create, unlink=simple_unlink),
                        s_op=cache.super_operations(), s_dev=(0 << 20) | 77)
        cache.init_mapping(sb.s_root.d_inode)
        return sb


def machine(kernel="v5.14", mib=32):
    fs = LruFs()
    m = build_machine(plugins=[fs], kernel=kernel, nodes=(mib * MiB,))
    t = m.spawn("app")
    m.set_current(t)
    m.vfs.do_mkdirat("/mnt/d")
    m.vfs.do_mount("none", "/mnt/d", "lrufs")
    return m, t, fs.caches[-1]


def create(m, t, name):
    fd = m.vfs.open(t.files, f"/mnt/d/{name}", O_CREAT | O_RDWR)
    return fd, t.files.fget(fd).f_inode


def read_pages(m, t, fd, first, n):
    """Fault pages first..first+n-1 of the file in through a private read mapping, unmap."""
    file = t.files.fget(fd)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    v = vm.do_mmap(m.mmcore, t.mm, m.files, n * PAGE, "r", "file", offset=first * PAGE,
                   totalram=total, filp=file)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, n * PAGE)
    m.physmem.lru_add_drain_py()


def forget(m, name):
    """prune_dcache_sb() of one unused dentry: the name stays (i_nlink 1), the inode is unused."""
    path = m.vfs.path_lookup(f"/mnt/d/{name}")
    path.dentry.d_sb.d_delete(path.dentry)


def allocated(m, addr):
    """Whether the slab object at ``addr`` is allocated (not on a freelist)."""
    return m.slab.object_info(addr)["allocated"]


def ev(m, item):
    return m.physmem.vmstat.vm_event(int(item))


# -- slab inodes ------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS)
def test_new_inode_is_a_slab_object_with_an_empty_mapping_inside_it(kernel):
    """Scenario 1 on a slab inode: nrpages 0, mapping_empty; the object is counted in
    inode_cache's /proc/slabinfo line; i_data's address lies inside the object."""
    m, t, cache = machine(kernel)
    root = m.vfs.path_lookup("/mnt/d").dentry.d_inode
    assert allocated(m, root.i_addr) and cache.nr_inodes == 1
    fd, inode = create(m, t, "a")
    assert isinstance(inode, SlabInode) and inode.i_mapping is inode.i_data
    mapping = inode.i_data
    assert mapping.nrpages == 0 and mapping.mapping_empty()
    assert mapping.host is inode and mapping.i_ino == inode.i_ino and mapping.s_dev == 77
    size = m.slab.find_cache("inode_cache").size
    assert inode.i_addr < mapping.addr < inode.i_addr + size
    assert m.slab.object_info(inode.i_addr)["cache"] == "inode_cache" and allocated(m, inode.i_addr)
    assert cache.nr_inodes == 2 and inode.i_addr != root.i_addr
    slabinfo = m.vfs.read_file("/proc/slabinfo").decode()
    line = next(l for l in slabinfo.splitlines() if l.startswith("inode_cache "))
    assert int(line.split()[1]) >= 2 and int(line.split()[3]) == size


def test_mappings_of_two_superblocks_never_share_an_address():
    """i_data's address comes from the slab object, not from i_ino: inode 2 of two
    superblocks has two page->mapping values (AddressSpace(i_ino) would collide)."""
    m, t, cache = machine()
    m.vfs.do_mkdirat("/mnt/e")
    m.vfs.do_mount("none", "/mnt/e", "lrufs")
    _, a = create(m, t, "x")
    fd = m.vfs.open(t.files, "/mnt/e/x", O_CREAT | O_RDWR)
    b = t.files.fget(fd).f_inode
    assert a.i_ino == b.i_ino and a.i_sb is not b.i_sb
    assert a.i_data.addr != b.i_data.addr


@pytest.mark.parametrize("kernel", KERNELS)
def test_unlinked_inode_is_evicted_and_its_object_freed(kernel):
    """unlink + close: iput_final -> evict -> truncate_inode_pages_final (AS_EXITING, pages
    gone) -> clear_inode -> destroy_inode: the slab object is freed, the mapping leaves the
    page->mapping table, and the object goes back to its cache after an RCU grace period
    (call_rcu(i_callback): until then /proc/slabinfo counts it)."""
    m, t, cache = machine(kernel)
    fd, inode = create(m, t, "a")
    read_pages(m, t, fd, 0, 4)
    mapping = inode.i_data
    assert mapping.nrpages == 4 and m.mmcore.rmap.mappings.get(mapping.addr) is mapping
    addr = inode.i_addr
    m.vfs.do_unlinkat("/mnt/d/a")
    assert mapping.nrpages == 4                      # still open
    t.files.close_fd(fd)
    assert mapping.nrpages == 0 and mapping.mapping_empty() and mapping.flags & (1 << 4)
    assert mapping.addr not in m.mmcore.rmap.mappings
    assert allocated(m, addr)                       # i_callback waits for a grace period
    m.rcu_barrier()
    assert not allocated(m, addr)
    assert inode.i_addr == 0 and cache.nr_inodes == 1          # the root is left


def test_clear_inode_bugs_on_pages_left_behind():
    """clear_inode(): BUG_ON(nrpages) — an evict_inode that did not truncate is a bug."""
    m, t, cache = machine()
    fd, inode = create(m, t, "a")
    read_pages(m, t, fd, 0, 1)
    with pytest.raises(InodeBug, match="BUG_ON.inode->i_data.nrpages"):
        clear_inode(inode)


def test_clear_inode_checks_nrexceptional_only_before_the_patch():
    """Pre-5.13 (the no-nrexceptional change off): BUG_ON(nrexceptional) too; after it a
    mapping whose shadows survived does not trip clear_inode (pagecache.md 4.2 item 4)."""
    m, t, cache = machine()
    _, inode = create(m, t, "a")
    inode.i_data.nrexceptional = 3                 # as if shadows had been left
    clear_inode(inode)                             # keep_nrexceptional off: not checked
    inode.i_state = 0
    inode.i_data.keep_nrexceptional = True
    with pytest.raises(InodeBug, match="nrexceptional"):
        clear_inode(inode)


# -- the inode LRU and its shrinker: scenario 16 -------------------------------------------------
def shadows_only(m, t, name, n=4):
    """An unused inode (no reference, i_nlink 1) whose mapping holds only shadows at 0..n-1."""
    fd, inode = create(m, t, name)
    read_pages(m, t, fd, 0, n)
    t.files.close_fd(fd)
    assert m.vmscan.try_to_free_pages(0, n) >= n
    mapping = inode.i_data
    assert mapping.nrpages == 0 and not mapping.mapping_empty()
    forget(m, name)
    assert inode.i_count == 0 and inode.i_nlink == 1
    return inode


def test_scenario_16_shadow_only_inode_is_evicted_by_the_inode_shrinker_v514():
    """Scenario 16 (v5.14): unused inode B holding only shadows is on the LRU; the inode cache
    shrink (echo 2 > drop_caches) evicts it directly (nrpages 0: no invalidate, no
    pginodesteal); its final truncate clears the shadows and clear_inode sees nrpages 0; the
    slab object is freed; slabs_scanned counts the walk."""
    m, t, cache = machine("v5.14")
    b = shadows_only(m, t, "b")
    st = cache.super_inodes(b.i_sb)
    assert b.i_lru and list(st.lru.values()) == [b]
    mapping = b.i_data
    addr = b.i_addr
    steal, scanned = ev(m, EV.PGINODESTEAL), ev(m, EV.SLABS_SCANNED)
    m.drop_caches.write(m, b"2")
    assert b.i_state & (1 << 5) and mapping.mapping_empty() and mapping.nrpages == 0
    assert not b.i_lru and not st.lru
    m.rcu_barrier()
    assert not allocated(m, addr)
    assert ev(m, EV.PGINODESTEAL) == steal
    assert ev(m, EV.SLABS_SCANNED) > scanned


def test_scenario_16_on_v618_inodes_with_shadow_nodes_stay_off_the_lru():
    """v5.16+ ("keep inodes with page cache off the inode shrinker LRU"): B's shadows sit in an
    xa_node, so its mapping is not shrinkable and the inode shrinker leaves it alone; once the
    shadows go (here: the mapping is emptied), the next count puts B on the LRU and it is
    evicted.  A single shadow at index 0 (in the XArray's head) is shrinkable at once."""
    m, t, cache = machine("v6.18")
    b = shadows_only(m, t, "b")
    st = cache.super_inodes(b.i_sb)
    assert not b.i_lru and not mapping_shrinkable(b.i_data)
    m.drop_caches.write(m, b"2")
    assert not b.i_state & (1 << 5) and not b.i_data.mapping_empty()
    c = shadows_only(m, t, "c", n=1)                # one shadow, at index 0
    assert mapping_shrinkable(c.i_data) and c.i_lru
    m.mmcore.invalidate_mapping_pages(b.i_data, 0)  # B's shadows cleared
    m.drop_caches.write(m, b"2")
    assert b.i_state & (1 << 5) and c.i_state & (1 << 5)
    assert c.i_data.mapping_empty() and not st.lru and not st.off_lru


@pytest.mark.parametrize("kernel", KERNELS)
def test_inode_with_pages_has_them_invalidated_and_counted_as_inodesteal(kernel):
    """inode_lru_isolate() on an inode with clean cached pages: invalidate_mapping_pages()
    drops them (pginodesteal, outside kswapd), the walk retries and the inode then goes
    (v5.14: after the I_REFERENCED rotation its iput gave it).  v6.18 keeps the inode off the
    LRU while it has pages: once they are dropped, the empty inode is shrinkable."""
    m, t, cache = machine(kernel)
    fd, a = create(m, t, "a")
    read_pages(m, t, fd, 0, 3)
    t.files.close_fd(fd)
    forget(m, "a")
    steal = ev(m, EV.PGINODESTEAL)
    st = cache.super_inodes(a.i_sb)
    if kernel == "v5.14":
        assert a.i_lru
        freed = st.prune_icache_sb(10)
        assert ev(m, EV.PGINODESTEAL) == steal + 3 and a.i_data.nrpages == 0
        assert freed == 1 and a.i_state & (1 << 5)
    else:
        assert not a.i_lru
        m.drop_caches.write(m, b"2")
        assert a.i_data.nrpages == 3 and not a.i_state & (1 << 5)
        m.mmcore.invalidate_mapping_pages(a.i_data, 0)     # drop_pagecache_sb()'s call
        m.drop_caches.write(m, b"2")
        assert a.i_state & (1 << 5) and ev(m, EV.PGINODESTEAL) == steal


def test_referenced_inode_gets_one_more_pass_and_one_in_use_leaves_the_lru():
    """I_REFERENCED rotates (and is cleared); an inode taken again (i_count) is removed from
    the LRU lazily by the walk, not evicted."""
    m, t, cache = machine("v5.14")
    fa, a = create(m, t, "a")
    fb, b = create(m, t, "b")
    for fd, f in ((fa, "a"), (fb, "b")):
        t.files.close_fd(fd)
        forget(m, f)
    st = cache.super_inodes(a.i_sb)
    assert list(st.lru.values()) == [a, b]
    a.i_state |= I_REFERENCED
    b.i_count = 1                                   # ihold() while on the LRU
    freed = st.prune_icache_sb(2)
    assert freed == 0 and not b.i_lru and list(st.lru.values()) == [a]
    assert not a.i_state & I_REFERENCED
    assert st.prune_icache_sb(1) == 1 and a.i_state & (1 << 5)
    b.i_count = 0


def test_super_shrinker_is_registered_per_superblock_with_the_kernels_name():
    """alloc_super(): "sb-<type>", DEFAULT_SEEKS, batch 1024, NUMA and memcg aware; the
    traces name super_cache_scan."""
    for kernel in KERNELS:
        m, t, cache = machine(kernel)
        names = [s[1] for s in m.shrinkers.shrinkers()]
        assert names.count("sb-lrufs") == 1
        sid, name, flags, seeks, batch, _ = next(s for s in m.shrinkers.shrinkers() if s[1] == "sb-lrufs")
        assert (seeks, batch) == (2, 1024) and flags & (1 << 2) and flags & (1 << 3)


def test_inodesteal_under_kswapd_is_kswapd_inodesteal():
    """inode_lru_isolate() counts the pages it invalidates in kswapd_inodesteal when kswapd
    runs it (current_is_kswapd()), pginodesteal otherwise."""
    m, t, cache = machine("v5.14")
    fd, a = create(m, t, "a")
    read_pages(m, t, fd, 0, 2)
    t.files.close_fd(fd)
    forget(m, "a")
    m.kswapds = [t]                                   # as if this task were kswapd0
    before = (ev(m, EV.KSWAPD_INODESTEAL), ev(m, EV.PGINODESTEAL))
    cache.super_inodes(a.i_sb).prune_icache_sb(4)
    assert (ev(m, EV.KSWAPD_INODESTEAL), ev(m, EV.PGINODESTEAL)) == (before[0] + 2, before[1])


def test_inode_cache_stride_follows_the_nrexceptional_boot_option():
    """Scenario 24: inode_cache's stride 600 (no nrexceptional) gives 27 objects per 16 KiB,
    608 (kept) 26 -- the sizes v5.14's objects have (the slab's order follows the CPU count)."""
    from memsim.boot import BootOptions
    sizes = {}
    for keep in (False, True):
        boot = BootOptions()
        boot.slab.nrexceptional = keep
        fs = LruFs()
        m = build_machine(plugins=[fs], kernel="v5.14", boot=boot)
        sizes[keep] = m.slab.find_cache("inode_cache").size
    assert sizes == {False: 600, True: 608}
    assert (16384 // sizes[False], 16384 // sizes[True]) == (27, 26)


def test_the_inode_lru_is_per_node_as_list_lru():
    """s_inode_lru is a list_lru: an inode is on the list of its slab page's node, and a shrink
    of node N (the shrinker is NUMA aware) counts and frees only node N's inodes."""
    fs = LruFs()
    m = build_machine(plugins=[fs], kernel="v5.14", nodes=(32 * MiB, 32 * MiB))
    t = m.spawn("app")
    m.set_current(t)
    m.vfs.do_mkdirat("/mnt/d")
    m.vfs.do_mount("none", "/mnt/d", "lrufs")
    cache = fs.caches[-1]
    fd, a = create(m, t, "a")
    assert a.i_nid == m.physmem.page_info(m.slab.object_info(a.i_addr)["slab_pfn"])["node"] == 0
    t.files.close_fd(fd)
    a.i_nid = 1                                     # as if its slab page were on node 1
    forget(m, "a")
    st = cache.super_inodes(a.i_sb)
    assert list(st.lrus) == [1]
    m.shrinkers.py_shrink_slab(0xcc0, 0, 0)
    assert a.i_lru and not a.i_state & (1 << 5)
    m.shrinkers.py_shrink_slab(0xcc0, 1, 0)
    assert not a.i_lru and a.i_state & (1 << 5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_scenario_15_drop_caches_skips_a_shadow_only_inode_of_a_superblock(kernel):
    """Scenario 15 on slab inodes of a mounted filesystem: drop_pagecache_sb() walks the
    superblock's inodes; A's clean page goes (no shadow), shadow-only B is skipped (nrpages 0):
    its shadows stay and mapping_empty(B) is false."""
    m, t, cache = machine(kernel)
    b = shadows_only(m, t, "b")
    fa, a = create(m, t, "a")
    read_pages(m, t, fa, 0, 1)
    assert a.i_data.nrpages == 1 and a.i_data.mapping_empty() is False
    shadows = dict(b.i_data.shadows())
    m.drop_caches.write(m, b"1")
    assert a.i_data.nrpages == 0 and a.i_data.mapping_empty()
    assert b.i_data.shadows() == shadows and not b.i_data.mapping_empty()


def test_the_boot_disks_root_is_no_slab_object_so_a_run_without_files_is_unchanged():
    """The boot disk's root inode is one of a booted kernel's objects, which memsim does not
    model as slab objects (InodeCache.booting): a workload that never touches a file allocates
    no inode_cache slab; the first file it creates does."""
    from memsim.testing import run_text
    text = ("machine: {cpus: 1, nodes: [{memory: 64 MiB}]}\n"
            "tasks:\n  - name: app\n    steps:\n      - mmap: {name: a, length: 4 KiB}\n")
    run = run_text(text)
    assert run.machine.slab.find_cache("inode_cache").slabs() == []
    root = run.machine.vfs.path_lookup("/mnt/disk").dentry.d_inode
    assert isinstance(root, SlabInode) and root.i_boot and root.i_data.addr
    run = run_text(text + "      - open: {name: f, path: /mnt/disk/x, flags: [O_CREAT, O_RDWR]}\n")
    assert run.machine.slab.find_cache("inode_cache").slabs() != []
