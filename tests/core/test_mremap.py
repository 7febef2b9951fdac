"""mremap(2) as mm/mremap.c (v5.14) does it: shrink, grow in place, move (MREMAP_MAYMOVE),
MREMAP_FIXED, MREMAP_DONTUNMAP, the kernel's errnos, and what a moved VMA takes with it.

Every case ends with the ``--check`` invariants (rss vs page tables, mapcounts, refcounts) and,
where data moved, the bytes written before the move are read back after it."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import PyUserfaultfdOps, PyVmOps
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096
MAYMOVE, FIXED, DONTUNMAP = vm.MREMAP_MAYMOVE, vm.MREMAP_FIXED, vm.MREMAP_DONTUNMAP


@pytest.fixture
def m():
    machine = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(128 * MiB,)), with_slab=False))
    yield machine
    assert machine.check_invariants() == []


@pytest.fixture
def t(m):
    task = m.spawn("app")
    m.set_current(task)
    return task


def totalram(m):
    return sum(z["managed"] for z in m.physmem.zones_info())


def mmap(m, t, length, kind="anon", **kw):
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, kw.pop("prot", "rw"), kind,
                      totalram=totalram(m), **kw)


def mremap(m, t, addr, old_len, new_len, flags=0, new_addr=0):
    return vm.do_mremap(m.mmcore, t.mm, addr, old_len, new_len, flags, new_addr, totalram(m))


def fill(m, t, v, start, npages, tag="p"):
    """Fault in and write ``tag<i>`` at the start of each page."""
    assert m.mmcore.access(t.mm, v, start, start + npages * PAGE, True)[1] == 0
    for i in range(npages):
        m.physmem.write_bytes(m.mmcore.pfn_of(t.mm, start + i * PAGE), 0, f"{tag}{i:04d}".encode())


def read(m, t, addr, n=6):
    pfn = m.mmcore.pfn_of(t.mm, addr)
    return None if pfn is None else m.physmem.read_bytes(pfn, 0, n)


def errno_of(fn, *args, **kw):
    with pytest.raises(vm.MmError) as info:
        fn(*args, **kw)
    return info.value.errno


# -- shrink and grow ---------------------------------------------------------------------------

def test_shrink_unmaps_the_tail_and_drops_its_rss(m, t):
    v = mmap(m, t, 16 * PAGE)
    fill(m, t, v, v.vm_start, 16)
    start = v.vm_start
    assert mremap(m, t, start, 16 * PAGE, 6 * PAGE) == start
    assert [(x.vm_start, x.vm_end) for x in t.mm.vmas] == [(start, start + 6 * PAGE)]
    assert m.rss(t)["MM_ANONPAGES"] == 6
    assert read(m, t, start + 5 * PAGE) == b"p0005\x00"
    assert m.mmcore.pfn_of(t.mm, start + 6 * PAGE) is None
    assert m.check_invariants() == []


def test_shrinking_an_unmapped_range_succeeds(m, t):
    # v5.14 checks nothing before the munmap of the tail: the "shrink" of nothing returns addr
    assert mremap(m, t, 0x500000000000, 8 * PAGE, 4 * PAGE) == 0x500000000000


def test_grow_in_place_when_nothing_follows(m, t):
    v = mmap(m, t, 8 * PAGE, hint=0x600000000000)
    fill(m, t, v, v.vm_start, 8)
    assert mremap(m, t, v.vm_start, 8 * PAGE, 32 * PAGE) == 0x600000000000
    assert v.vm_end == 0x600000000000 + 32 * PAGE and len(t.mm.vmas) == 1
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0      # the new tail faults in
    assert read(m, t, v.vm_start + 7 * PAGE) == b"p0007\x00"
    assert m.rss(t)["MM_ANONPAGES"] == 32


def test_grow_blocked_by_a_neighbour_is_enomem_without_maymove(m, t):
    v = mmap(m, t, 8 * PAGE, hint=0x600000000000)
    mmap(m, t, 8 * PAGE, hint=0x600000000000 + 8 * PAGE)
    assert errno_of(mremap, m, t, v.vm_start, 8 * PAGE, 16 * PAGE) == "ENOMEM"
    assert v.vm_end == 0x600000000000 + 8 * PAGE


def test_grow_with_maymove_moves_the_pages_and_keeps_rss(m, t):
    v = mmap(m, t, 16 * PAGE, hint=0x600000000000)
    mmap(m, t, 8 * PAGE, hint=0x600000000000 + 16 * PAGE)
    fill(m, t, v, v.vm_start, 16)
    rss = m.rss(t)
    old = v.vm_start
    pfns = [m.mmcore.pfn_of(t.mm, old + i * PAGE) for i in range(16)]
    new = mremap(m, t, old, 16 * PAGE, 64 * PAGE, MAYMOVE)
    assert new != old
    assert m.rss(t) == rss                                    # move_page_tables: rss unchanged
    assert t.mm.find_vma(old) is None                         # the old range is unmapped
    nv = t.mm.find_vma(new)
    assert (nv.vm_start, nv.vm_end) == (new, new + 64 * PAGE)
    for i in range(16):
        assert m.mmcore.pfn_of(t.mm, new + i * PAGE) == pfns[i]           # the same pages
        assert read(m, t, new + i * PAGE) == f"p{i:04d}".encode()[:6].ljust(6, b"\0")
    # copy_vma keeps vm_pgoff: page->index still matches, so rmap finds the page at its new place
    assert nv.vm_pgoff == old // PAGE
    assert m.mmcore.rmap.rmap_walk(pfns[3]) == [(nv, new + 3 * PAGE, 4)]
    assert m.check_invariants() == []
    assert m.mmcore.access(t.mm, nv, new, new + 64 * PAGE, True)[1] == 0
    assert m.rss(t)["MM_ANONPAGES"] == 64


def test_moving_part_of_a_vma_splits_it(m, t):
    v = mmap(m, t, 16 * PAGE, hint=0x600000000000)
    fill(m, t, v, v.vm_start, 16)
    new = mremap(m, t, v.vm_start + 4 * PAGE, 4 * PAGE, 4 * PAGE, MAYMOVE | FIXED, 0x610000000000)
    assert new == 0x610000000000
    spans = [(x.vm_start - 0x600000000000, x.vm_end - 0x600000000000) for x in t.mm.vmas]
    assert spans == [(0, 4 * PAGE), (8 * PAGE, 16 * PAGE), (0x10000000000, 0x10000000000 + 4 * PAGE)]
    assert [read(m, t, new + i * PAGE) for i in range(4)] == [f"p{i:04d}\x00".encode() for i in range(4, 8)]
    assert m.rss(t)["MM_ANONPAGES"] == 16


def test_a_never_faulted_anonymous_vma_starts_afresh_at_its_new_address(m, t):
    v = mmap(m, t, 4 * PAGE, hint=0x600000000000)
    new = mremap(m, t, v.vm_start, 4 * PAGE, 4 * PAGE, MAYMOVE | FIXED, 0x620000000000)
    assert t.mm.find_vma(new).vm_pgoff == 0x620000000000 // PAGE      # copy_vma: no anon_vma yet


def test_a_pmd_aligned_move_takes_whole_page_tables(m, t):
    src, dst = 0x600000000000, 0x640000000000
    v = mmap(m, t, 4 * MiB, hint=src)
    fill(m, t, v, src, 1024)
    tables = m.mmcore.nr_pagetable
    # (DONTUNMAP, so that no munmap frees the old tables and hides what was allocated)
    assert mremap(m, t, src, 4 * MiB, 4 * MiB, MAYMOVE | DONTUNMAP, dst) == dst
    # move_normal_pmd: the two PTE tables are re-hung under the new pmd table, which (with the
    # pud above it, not counted in NR_PAGETABLE) is all that is allocated
    assert m.mmcore.nr_pagetable == tables + 1
    assert read(m, t, dst + 1000 * PAGE) == b"p1000\x00"
    assert m.rss(t)["MM_ANONPAGES"] == 1024


# -- MREMAP_FIXED ------------------------------------------------------------------------------

def test_fixed_unmaps_what_was_at_the_target(m, t):
    a = mmap(m, t, 8 * PAGE, hint=0x600000000000)
    b = mmap(m, t, 8 * PAGE, hint=0x700000000000)
    fill(m, t, a, a.vm_start, 8, "a")
    fill(m, t, b, b.vm_start, 8, "b")
    assert mremap(m, t, a.vm_start, 8 * PAGE, 8 * PAGE, MAYMOVE | FIXED, 0x700000000000) == 0x700000000000
    assert [x.vm_start for x in t.mm.vmas] == [0x700000000000]
    assert read(m, t, 0x700000000000 + 2 * PAGE) == b"a0002\x00"
    assert m.rss(t)["MM_ANONPAGES"] == 8                       # b's pages went with the munmap


def test_fixed_below_mmap_min_addr_is_eperm(m, t):
    a = mmap(m, t, 8 * PAGE)
    assert errno_of(mremap, m, t, a.vm_start, 8 * PAGE, 8 * PAGE, MAYMOVE | FIXED, 0x1000) == "EPERM"


# -- MREMAP_DONTUNMAP --------------------------------------------------------------------------

def test_dontunmap_leaves_the_old_range_mapped_and_empty(m, t):
    v = mmap(m, t, 8 * PAGE, hint=0x600000000000)
    fill(m, t, v, v.vm_start, 8)
    new = mremap(m, t, v.vm_start, 8 * PAGE, 8 * PAGE, MAYMOVE | DONTUNMAP)
    assert t.mm.find_vma(0x600000000000) is v and v.vm_end == 0x600000000000 + 8 * PAGE
    assert all(m.mmcore.pfn_of(t.mm, 0x600000000000 + i * PAGE) is None for i in range(8))
    assert read(m, t, new + 6 * PAGE) == b"p0006\x00"
    assert m.rss(t)["MM_ANONPAGES"] == 8
    # the whole VMA moved: its anon_vma links were dropped; the next fault starts a new one
    assert v.anon_vma == 0 and v.anon_vma_chain == []
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert m.mmcore.pfn_of(t.mm, v.vm_start) == m.mmcore.zero_pfn        # fresh zero-fill
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    assert read(m, t, v.vm_start) == b"\0" * 6
    assert m.rss(t)["MM_ANONPAGES"] == 16
    assert m.check_invariants() == []


def test_dontunmap_of_a_shared_mapping_refaults_the_same_pages(m, t):
    # v5.13+ allows MREMAP_DONTUNMAP on any mapping but VM_DONTEXPAND / VM_PFNMAP ones
    v = mmap(m, t, 4 * PAGE, "shared", hint=0x600000000000)
    fill(m, t, v, v.vm_start, 4)
    new = mremap(m, t, v.vm_start, 4 * PAGE, 4 * PAGE, MAYMOVE | DONTUNMAP, 0x610000000000)
    assert new == 0x610000000000                                # the hint was free
    assert m.mmcore.pfn_of(t.mm, v.vm_start) is None
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert read(m, t, v.vm_start + PAGE) == read(m, t, new + PAGE) == b"p0001\x00"
    assert m.rss(t)["MM_SHMEMPAGES"] == 8                       # both ranges map the 4 shmem pages


def test_dontunmap_clears_vm_locked_of_the_old_vma(m, t):
    v = mmap(m, t, 4 * PAGE)
    v.vm_flags |= 0x2000                                        # VM_LOCKED
    mremap(m, t, v.vm_start, 4 * PAGE, 4 * PAGE, MAYMOVE | DONTUNMAP)
    assert not v.vm_flags & 0x2000


# -- what moves with a VMA ---------------------------------------------------------------------

def test_a_moved_vma_keeps_its_file_offset_ops_policy_and_uffd_context(m, t):
    calls = []
    ops = PyVmOps(open=lambda vma: calls.append(("open", vma.vm_start)),
                  close=lambda vma: calls.append(("close", vma.vm_start)))
    remaps = []
    m.mmcore.install_userfaultfd_ops(PyUserfaultfdOps(remap=lambda vma, o, n, l: remaps.append((vma, o, n, l))))
    v = mmap(m, t, 8 * PAGE, "file", file="data.bin", offset=4 * PAGE, hint=0x600000000000)
    v.set_vm_ops(ops)
    v.set_policy(2, (0,))                                       # MPOL_BIND to node 0
    v.vm_userfaultfd_ctx = "uffd"
    new = mremap(m, t, v.vm_start + 2 * PAGE, 4 * PAGE, 4 * PAGE, MAYMOVE | FIXED, 0x700000000000)
    nv = t.mm.find_vma(new)
    assert nv.vm_file is v.vm_file and nv.vm_pgoff == 4 + 2
    assert nv.has_vm_ops and nv.policy == (2, 0, (0,)) and nv.vm_userfaultfd_ctx == "uffd"
    assert ("open", new) in calls
    assert remaps == [(nv, 0x600000000000 + 2 * PAGE, new, 4 * PAGE)]     # mremap_userfaultfd_prep
    assert nv in v.vm_file.i_mmap                               # the file's i_mmap knows the new VMA


def test_a_may_split_refusal_fails_the_move(m, t):
    v = mmap(m, t, 8 * PAGE)
    v.set_vm_ops(PyVmOps(may_split=lambda vma, addr: -22))
    assert errno_of(mremap, m, t, v.vm_start + PAGE, 2 * PAGE, 2 * PAGE, MAYMOVE | FIXED,
                    0x700000000000) == "EINVAL"
    assert len(t.mm.vmas) == 1


def test_old_length_zero_duplicates_a_shared_mapping(m, t):
    v = mmap(m, t, 4 * PAGE, "shared")
    fill(m, t, v, v.vm_start, 4)
    new = mremap(m, t, v.vm_start, 0, 4 * PAGE, MAYMOVE)
    nv = t.mm.find_vma(new)
    assert t.mm.find_vma(v.vm_start) is v and nv.vm_file is v.vm_file
    assert m.mmcore.access(t.mm, nv, new, new + 4 * PAGE, False)[1] == 0
    assert read(m, t, new + 3 * PAGE) == b"p0003\x00"
    # ... which makes no sense for a private mapping
    p = mmap(m, t, 4 * PAGE)
    assert errno_of(mremap, m, t, p.vm_start, 0, 4 * PAGE, MAYMOVE) == "EINVAL"


def test_growing_a_file_mapping_in_place_does_not_grow_the_file(m, t):
    v = mmap(m, t, 2 * PAGE, "file", file="small.bin", hint=0x600000000000)
    assert mremap(m, t, v.vm_start, 2 * PAGE, 4 * PAGE) == v.vm_start
    assert v.vm_file.i_size == 2 * PAGE
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + 2 * PAGE, False)[1] == 0
    # a page beyond the end of the file: VM_FAULT_SIGBUS (the workload sees SIGBUS BUS_ADRERR)
    assert m.mmcore.access(t.mm, v, v.vm_start + 2 * PAGE, v.vm_end, False)[1] == 0x2


# -- the errno table (mm/mremap.c of v5.14) ----------------------------------------------------

@pytest.mark.parametrize("case, errno", [
    ("unknown flag", "EINVAL"),
    ("fixed without maymove", "EINVAL"),
    ("dontunmap without maymove", "EINVAL"),
    ("dontunmap with a new size", "EINVAL"),
    ("unaligned old address", "EINVAL"),
    ("new length 0", "EINVAL"),
    ("unaligned new address", "EINVAL"),
    ("new range overlaps the old", "EINVAL"),
    ("new range beyond TASK_SIZE", "EINVAL"),
    ("old range unmapped", "EFAULT"),
    ("old range spans two VMAs", "EFAULT"),
    ("old range runs past its VMA into a hole", "EFAULT"),
    ("cannot grow in place", "ENOMEM"),
    ("grow beyond memory", "ENOMEM"),
])
def test_mremap_errnos(m, t, case, errno):
    base = 0x600000000000
    v = mmap(m, t, 16 * PAGE, hint=base)
    mmap(m, t, 4 * PAGE, hint=base + 16 * PAGE)          # a neighbour right after it
    args = {
        "unknown flag": (base, 4 * PAGE, 4 * PAGE, 8),
        "fixed without maymove": (base, 4 * PAGE, 4 * PAGE, FIXED, 0x700000000000),
        "dontunmap without maymove": (base, 4 * PAGE, 4 * PAGE, DONTUNMAP),
        "dontunmap with a new size": (base, 4 * PAGE, 8 * PAGE, MAYMOVE | DONTUNMAP),
        "unaligned old address": (base + 12, 4 * PAGE, 8 * PAGE, MAYMOVE),
        "new length 0": (base, 4 * PAGE, 0, MAYMOVE),
        "unaligned new address": (base, 4 * PAGE, 4 * PAGE, MAYMOVE | FIXED, 0x700000000010),
        "new range overlaps the old": (base, 8 * PAGE, 8 * PAGE, MAYMOVE | FIXED, base + 4 * PAGE),
        "new range beyond TASK_SIZE": (base, 4 * PAGE, 4 * PAGE, MAYMOVE | FIXED, vm.TASK_SIZE - 2 * PAGE),
        "old range unmapped": (0x500000000000, 4 * PAGE, 8 * PAGE, MAYMOVE),
        "old range spans two VMAs": (base + 12 * PAGE, 8 * PAGE, 16 * PAGE, MAYMOVE),
        "old range runs past its VMA into a hole": (base + 16 * PAGE, 8 * PAGE, 8 * PAGE, MAYMOVE | FIXED,
                                                    0x700000000000),
        "cannot grow in place": (base, 16 * PAGE, 32 * PAGE, 0),
        "grow beyond memory": (base, 16 * PAGE, (totalram(m) + 64) * PAGE, MAYMOVE),
    }[case]
    assert errno_of(mremap, m, t, *args) == errno
    assert (v.vm_start, v.vm_end) == (base, base + 16 * PAGE)          # nothing changed


def test_spanning_vmas_after_an_mprotect_split_is_efault(m, t):
    v = mmap(m, t, 16 * PAGE)
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start + 8 * PAGE, 8 * PAGE, "r")
    assert errno_of(mremap, m, t, v.vm_start, 16 * PAGE, 32 * PAGE, MAYMOVE) == "EFAULT"


def test_hugetlb_vmas_cannot_be_remapped(m, t):
    v = mmap(m, t, 4 * MiB)
    v.vm_flags |= 0x400000                                   # VM_HUGETLB
    assert errno_of(mremap, m, t, v.vm_start, 2 * MiB, 4 * MiB, MAYMOVE) == "EINVAL"
    v.vm_flags &= ~0x400000


def test_exit_after_moves_returns_every_page(m):
    free0 = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 2 * MiB)
    fill(m, t, v, v.vm_start, 512)
    new = mremap(m, t, v.vm_start, 2 * MiB, 4 * MiB, MAYMOVE | FIXED, 0x650000000000)
    mremap(m, t, new, 1 * MiB, 1 * MiB, MAYMOVE | DONTUNMAP)
    m.exit_task(t)
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == free0
