"""The core's i_pages under what a filesystem asks of it (pagecache.md 2.3, 4, 7 and section
10's scenarios 11, 14, 15 and 22): truncate with byte offsets (partial pages zeroed),
truncate_pagecache / truncate_setsize / truncate_pagecache_range, invalidate_inode_pages2_range,
multi-index value entries split on insert, drop_caches over the superblocks' inodes, and the
XArray giving back emptied chunks.  Every mapping here has a_ops NULL or is a superblock's
inode: the primitives are the same for the page-cache plugin's files."""
import pytest

from memsim import vm
from memsim.mm import AddressSpace, XArray
from memsim.testing import with_page_cache, RamFilesPlugin, build_machine

PAGE = 4096
MiB = 1 << 20


def machine(kernel="v6.18", mib=32, **kw):
    m = with_page_cache(build_machine(kernel=kernel, cpus=1, nodes=(mib * MiB,), **kw))
    t = m.spawn("t")
    m.set_current(t)
    return m, t


def mmap(m, t, mapping, pages, kind="file", prot="r", offset=0):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, pages * PAGE, prot, kind, offset=offset * PAGE,
                      totalram=total, vm_file=mapping)


def read_pages(m, t, mapping, pages, fill=None):
    """Read pages 0..pages-1 of ``mapping`` into its cache (then unmapped, on the LRU); with
    ``fill``, every byte of each page is set to it."""
    if mapping.i_size < pages * PAGE:
        mapping.i_size = pages * PAGE
    v = mmap(m, t, mapping, pages)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, v.vm_end - v.vm_start)
    m.physmem.lru_add_drain_py()
    if fill is not None:
        for i in range(pages):
            m.physmem.write_bytes(mapping.i_pages[i], 0, bytes([fill]) * PAGE)


def shadow(m, eviction):
    return m.workingset.pack(0, 0, eviction, False)


def pages_of(mapping):
    return sorted(i for i, e in mapping.i_pages.items() if e >= 0)


def values_of(mapping):
    return sorted(i for i, e in mapping.i_pages.items() if e < 0)


def four_pages_four_shadows(m, t):
    """Pages 0-3 full of 0xff and shadows at 4-7 (scenarios 10 and 11's setup)."""
    mapping = m.files.file("f", 8 * PAGE)
    read_pages(m, t, mapping, 4, fill=0xff)
    for i in range(4, 8):
        m.mmcore.page_cache_plant_value(mapping, i, 0, shadow(m, 100 + i))
    return mapping


# -- truncate -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_partial_truncate_zeroes_the_tail_of_the_last_page(kernel):
    """Scenario 11: truncate to 6000 bytes keeps page 0 as it was and page 1 with bytes
    1904..4095 zeroed, removes pages 2-3 and the shadows 4-7: nrpages 2."""
    m, t = machine(kernel)
    mapping = four_pages_four_shadows(m, t)
    p0, p1 = mapping.i_pages[0], mapping.i_pages[1]
    assert m.mmcore.truncate_setsize(mapping, 6000) == 2
    assert mapping.i_size == 6000
    assert pages_of(mapping) == [0, 1] and values_of(mapping) == [] and mapping.nrpages == 2
    assert m.physmem.read_bytes(p0, 0, PAGE) == b"\xff" * PAGE
    assert m.physmem.read_bytes(p1, 0, 1904) == b"\xff" * 1904
    assert m.physmem.read_bytes(p1, 1904, PAGE - 1904) == bytes(PAGE - 1904)
    assert m.check_invariants() == []


def test_truncate_pagecache_leaves_i_size_to_the_filesystem():
    """truncate_pagecache() only drops the cache (the kernel's filesystems set i_size first,
    truncate_setsize does both)."""
    m, t = machine()
    mapping = four_pages_four_shadows(m, t)
    assert m.mmcore.truncate_pagecache(mapping, PAGE) == 3
    assert mapping.i_size == 8 * PAGE and pages_of(mapping) == [0]


def test_truncate_unmaps_the_pages_it_removes():
    """A mapped page beyond the new size leaves the page tables too (truncate_pagecache's
    unmap_mapping_range, then truncate_cleanup_folio for one mapped meanwhile)."""
    m, t = machine()
    mapping = m.files.file("f", 4 * PAGE)
    v = mmap(m, t, mapping, 4, kind="file-shared", prot="rw")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    assert m.mmcore.truncate_setsize(mapping, 2 * PAGE) == 2
    assert t.mm.pte(v.vm_start + PAGE) and not t.mm.pte(v.vm_start + 2 * PAGE)
    assert pages_of(mapping) == [0, 1]
    m.physmem.lru_add_drain_py()
    assert m.check_invariants() == []


def test_a_hole_punch_zeroes_the_partial_pages_and_keeps_cow_copies():
    """truncate_pagecache_range(1000, 9999) (FALLOC_FL_PUNCH_HOLE of bytes 1000..9999): page 1
    lies inside the hole and goes (unmapped from the shared mapping); page 0 keeps bytes
    0..999, page 2 bytes 1808..4095, page 3 is untouched; a private COW copy of page 1 stays
    (the hole does not take anonymous copies)."""
    m, t = machine()
    mapping = m.files.file("f", 4 * PAGE)
    read_pages(m, t, mapping, 4, fill=0xff)
    pfns = [mapping.i_pages[i] for i in range(4)]
    shared = mmap(m, t, mapping, 4, kind="file-shared", prot="rw")
    private = mmap(m, t, mapping, 4, kind="file", prot="rw")
    assert m.mmcore.access(t.mm, shared, shared.vm_start, shared.vm_end, False)[1] == 0
    assert m.mmcore.access(t.mm, private, private.vm_start + PAGE, private.vm_start + 2 * PAGE,
                           True)[1] == 0                    # COW copy of page 1
    cow = m.mmcore.pfn_of(t.mm, private.vm_start + PAGE)
    assert cow != pfns[1]
    assert m.mmcore.truncate_pagecache_range(mapping, 1000, 9999) == 1
    assert pages_of(mapping) == [0, 2, 3]
    assert not t.mm.pte(shared.vm_start + PAGE) and t.mm.pte(shared.vm_start)
    assert m.mmcore.pfn_of(t.mm, private.vm_start + PAGE) == cow
    rb = m.physmem.read_bytes
    assert rb(pfns[0], 0, 1000) == b"\xff" * 1000 and rb(pfns[0], 1000, PAGE - 1000) == bytes(PAGE - 1000)
    assert rb(pfns[2], 0, 1808) == bytes(1808) and rb(pfns[2], 1808, PAGE - 1808) == b"\xff" * (PAGE - 1808)
    assert rb(pfns[3], 0, PAGE) == b"\xff" * PAGE
    m.physmem.lru_add_drain_py()
    assert m.check_invariants() == []


def test_a_range_inside_one_page_only_zeroes():
    m, t = machine()
    mapping = m.files.file("f", 2 * PAGE)
    read_pages(m, t, mapping, 2, fill=0xff)
    p = mapping.i_pages[0]
    assert m.mmcore.truncate_inode_pages_range(mapping, 100, 199) == 0
    assert pages_of(mapping) == [0, 1]
    rb = m.physmem.read_bytes
    assert rb(p, 0, 100) == b"\xff" * 100 and rb(p, 100, 100) == bytes(100)
    assert rb(p, 200, PAGE - 200) == b"\xff" * (PAGE - 200)


# -- invalidate_inode_pages2_range ------------------------------------------------------------------
@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_invalidate2_unmaps_removes_and_clears_shadows(kernel):
    """Scenario 14: page 0 mapped by a process, a shadow at 1; invalidate 0..1 unmaps page 0
    from the process and removes it, clears the shadow, returns 0; the mapping is empty."""
    m, t = machine(kernel)
    mapping = m.files.file("f", 2 * PAGE)
    v = mmap(m, t, mapping, 1)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    m.mmcore.page_cache_plant_value(mapping, 1, 0, shadow(m, 7))
    assert m.mmcore.invalidate_inode_pages2_range(mapping, 0, 1) == 0
    assert not t.mm.pte(v.vm_start)
    assert mapping.nrpages == 0 and mapping.mapping_empty()
    m.physmem.lru_add_drain_py()
    assert m.check_invariants() == []


def test_invalidate2_leaves_a_dirty_page_without_launder_and_says_ebusy():
    """A dirty page with no a_ops launder_folio (ext4 and tmpfs have none) stays: -EBUSY; the
    clean page next to it goes."""
    m, t = machine()
    mapping = m.files.file("f", 2 * PAGE)
    read_pages(m, t, mapping, 2)
    m.mmcore.set_page_dirty_py(mapping.i_pages[1])
    assert m.mmcore.invalidate_inode_pages2(mapping) == -16
    assert pages_of(mapping) == [1]
    assert m.check_invariants() == []


def test_invalidate2_of_an_empty_mapping_does_nothing():
    m, t = machine()
    assert m.mmcore.invalidate_inode_pages2(m.files.file("f", PAGE)) == 0


# -- multi-index entries ---------------------------------------------------------------------------
def test_a_page_added_into_a_multi_index_value_splits_it():
    """Scenario 22: an order-2 value entry covers 4-7 (a load anywhere returns it); adding a
    page at 5 splits it: 5 holds the page (the value handed back as its shadow), 4, 6 and 7
    still the old value, each an order-0 entry now; nrpages + 1."""
    m, t = machine()
    mapping = AddressSpace(99, "g", i_size=16 * PAGE)
    s = shadow(m, 42)
    m.mmcore.page_cache_plant_value(mapping, 4, 2, s)
    assert mapping.i_pages.get_order_py(6) == 2 and mapping.i_pages.get_order_py(3) == 0
    old = mapping.i_pages[4]
    assert [mapping.i_pages.get(i) for i in range(3, 9)] == [None, old, old, old, old, None]
    pfn = mapping_page(m)
    assert m.mmcore.add_to_page_cache_locked_py(pfn, mapping, 5) == (0, s)
    assert mapping.i_pages[5] == pfn and mapping.nrpages == 1
    assert [mapping.i_pages[i] for i in (4, 6, 7)] == [old, old, old]
    assert all(mapping.i_pages.get_order_py(i) == 0 for i in range(4, 8))
    assert m.workingset.check([mapping]) == []


def test_clearing_any_index_of_a_multi_index_value_clears_all_of_it():
    """xas_store(NULL) over a multi-index entry empties every slot it covers: invalidating
    index 6 alone takes 4-7, and the xa_node counts follow."""
    m, t = machine()
    mapping = AddressSpace(98, "h", i_size=16 * PAGE)
    m.mmcore.page_cache_plant_value(mapping, 4, 2, shadow(m, 1))
    assert len(mapping.i_pages) == 4 and mapping.xa_nodes == {0: 4 | 4 << 8}
    assert m.mmcore.invalidate_mapping_pages(mapping, 6, 6) == 0
    assert mapping.mapping_empty() and mapping.xa_nodes == {}
    assert m.workingset.check([mapping]) == []


def mapping_page(m):
    """A free page for an insertion test: a page of an anonymous mapping's worth, taken
    straight from the allocator."""
    return m.physmem.alloc(0)


# -- drop_caches over the superblocks -------------------------------------------------------------
def test_drop_caches_walks_the_superblocks_and_skips_shadow_only_inodes():
    """Scenario 15 on a filesystem's inodes: A has one clean page, B only shadows (nrpages 0).
    echo 1 > drop_caches removes A's page without a shadow and leaves B alone (mapping_empty(B)
    is false)."""
    from memsim.vfs import O_CREAT, O_RDWR, FilesStruct
    m = with_page_cache(build_machine(plugins=(RamFilesPlugin(),), kernel="v6.18", cpus=1))
    t = m.spawn("t")
    m.set_current(t)
    m.vfs.do_mount("none", "/mnt", "ramfiles")
    files = FilesStruct()
    for name in ("a", "b"):
        files.close_fd(m.vfs.open(files, f"/mnt/{name}", O_CREAT | O_RDWR))
    a = m.vfs.path_lookup("/mnt/a").dentry.d_inode.i_mapping
    b = m.vfs.path_lookup("/mnt/b").dentry.d_inode.i_mapping
    assert a is not None and a not in m.files.files.values()
    read_pages(m, t, a, 1)
    m.mmcore.page_cache_plant_value(b, 0, 0, shadow(m, 3))
    assert m.drop_caches.drop_pagecache(m) == 1
    assert a.mapping_empty()
    assert b.nrpages == 0 and not b.mapping_empty() and values_of(b) == [0]


def test_superblocks_are_listed_oldest_first_until_unmounted():
    m = with_page_cache(build_machine(plugins=(RamFilesPlugin(),), cpus=1))
    before = list(m.vfs.super_blocks)
    m.vfs.do_mount("none", "/mnt", "ramfiles")
    sb = m.vfs.path_lookup("/mnt").mnt.mnt_sb
    assert m.vfs.super_blocks == before + [sb]
    m.vfs.do_umount("/mnt")
    assert m.vfs.super_blocks == before


# -- host memory -----------------------------------------------------------------------------------
def test_an_emptied_chunk_is_freed():
    """A chunk (512 slots) whose last entry goes is freed: storing and erasing far apart
    leaves no chunk behind (nr_chunks, the table, goes too when the array is empty)."""
    xa = XArray()
    for i in range(0, 4096, 7):
        xa[i] = i
    assert xa.nr_chunks_py() > 0
    for i in range(0, 4096, 7):
        del xa[i]
    assert len(xa) == 0 and xa.nr_chunks_py() == 0 and xa.find_py(0) is None
    xa[5000] = 1
    assert xa[5000] == 1 and xa.chunks_in_use_py() == 1
