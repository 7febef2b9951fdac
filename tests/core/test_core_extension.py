"""Regression tests for the defects under the core's extension points (issue 7, part 1): huge
leaves outside the fault path, VMA interception across split and fork, non-present PTEs,
userfaultfd on shmem, fault-around's window, gigantic pages.  Each test failed before the fix."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.testing import with_page_cache
from memsim.mm import (
    PyUserfaultfdOps, PyVmOps, VM_UFFD_MINOR, VM_UFFD_MISSING, VM_UFFD_WP, pte_marker_entry,
    swap_pte, PY_PTE_MARKER_POISONED, PY_PTE_MARKER_UFFD_WP, PY_VM_FAULT_HWPOISON,
    PY_VM_FAULT_NOPAGE, PY_VM_FAULT_SIGBUS,
)

MiB, GiB = 1 << 20, 1 << 30
PAGE = 4096
GFP_HIGHUSER_MOVABLE_COMP = 0x100CCA | 0x40000


def machine(kernel="v5.14", mem=256 * MiB):
    return with_page_cache(Machine(MachineSpec(cpus=2, nodes=(mem,), kernel=kernel), with_slab=False))


def mmap(m, t, length, kind="anon", hint=None, **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, hint=hint, totalram=total, **kw)


def task(m):
    t = m.spawn("app")
    m.set_current(t)
    return t


def compound(m, order=9):
    """A new compound page with only the reference the mapping will hold."""
    pfn = m.physmem.alloc(order, GFP_HIGHUSER_MOVABLE_COMP)
    assert pfn is not None
    return pfn


def node_stat(m, name):
    """A node counter, the per-CPU differentials included (global_node_page_state_snapshot)."""
    from memsim.vmstat import node_stat_item
    return m.physmem.vmstat.global_node_page_state_snapshot(getattr(node_stat_item, name))


def anon_leaf(m, t, v, addr):
    """A PMD leaf mapping an anonymous compound page, as do_huge_pmd_anonymous_page maps one."""
    head = compound(m)
    m.mmcore.page_set_anon_rmap(head, v, addr)
    assert m.mmcore.map_huge_page(t.mm, v, addr, head, 3, True) == 0
    m.physmem.put(head)                 # the allocation's reference: the leaf holds it now
    return head


# -- huge leaves ----------------------------------------------------------------------------------

def test_munmap_of_a_pmd_leaf_uncounts_and_frees_the_compound_page():
    m = machine()
    t = task(m)
    v = mmap(m, t, 4 * MiB, hint=0x7f0000000000)
    free_before = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    mapped = node_stat(m, "NR_ANON_MAPPED")
    head = anon_leaf(m, t, v, v.vm_start)
    assert m.rss(t)["MM_ANONPAGES"] == 512
    assert node_stat(m, "NR_ANON_MAPPED") == mapped + 512 and node_stat(m, "NR_ANON_THPS") == 512
    assert m.check_invariants() == []
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 4 * MiB)
    assert m.rss(t)["MM_ANONPAGES"] == 0 and min(t.mm.rss_raw) >= 0
    assert node_stat(m, "NR_ANON_MAPPED") == mapped and node_stat(m, "NR_ANON_THPS") == 0
    assert m.physmem.page_info(head)["buddy"]
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() >= free_before - 8  # page tables
    assert m.check_invariants() == []


def test_file_leaf_counts_filepages_and_munmap_does_not_drive_them_negative():
    m = machine()
    t = task(m)
    v = mmap(m, t, 4 * MiB, "file", file="big", hint=0x7f0000000000)
    head = compound(m)
    m.mmcore.add_to_page_cache(head, v.vm_file, 0)
    m.mmcore.map_huge_page(t.mm, v, v.vm_start, head, 3, False)
    assert m.rss(t)["MM_FILEPAGES"] == 512
    assert m.check_invariants() == []
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 4 * MiB)
    assert m.rss(t)["MM_FILEPAGES"] == 0 and min(t.mm.rss_raw) >= 0
    assert m.physmem.page_info(head)["refcount"] == 1     # the "cache"'s reference only
    assert m.check_invariants() == []


def test_fork_copies_a_leaf_write_protected_and_a_write_splits_then_copies():
    m = machine()
    p = task(m)
    v = mmap(m, p, 2 * MiB, hint=0x7f0000000000)
    head = anon_leaf(m, p, v, v.vm_start)
    assert m.rss(p)["MM_ANONPAGES"] == 512
    c = m.fork(p, "child")
    assert m.rss(c)["MM_ANONPAGES"] == 512
    assert m.mmcore.entire_mapcount(head) == 2
    assert not p.mm.pte(v.vm_start) & 0x2 and not c.mm.pte(v.vm_start) & 0x2
    assert m.check_invariants() == []
    m.set_current(c)
    cv = c.mm.find_vma(v.vm_start)
    assert m.mmcore.access(c.mm, cv, v.vm_start + 5 * PAGE, v.vm_start + 6 * PAGE, True)[1] == 0
    # the child's leaf was split into PTEs; the written page is a private copy
    assert not c.mm.pte(v.vm_start) & 0x80
    assert m.mmcore.pfn_of(c.mm, v.vm_start + 5 * PAGE) != head + 5
    assert m.mmcore.pfn_of(c.mm, v.vm_start + 6 * PAGE) == head + 6
    assert m.rss(c)["MM_ANONPAGES"] == 512
    assert m.check_invariants() == []
    # after the child exits the parent owns the page alone: a write reuses the leaf
    # the compound page counts as mapped: the parent's leaf, and the child's PTEs
    assert node_stat(m, "NR_ANON_THPS") == 512
    m.exit_task(c)
    m.set_current(p)
    assert m.mmcore.access(p.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
    assert p.mm.pte(v.vm_start) & 0x80 and p.mm.pte(v.vm_start) & 0x2
    assert m.check_invariants() == []


def test_a_partial_munmap_splits_an_anonymous_leaf():
    m = machine()
    t = task(m)
    v = mmap(m, t, 2 * MiB, hint=0x7f0000000000)
    mapped = node_stat(m, "NR_ANON_MAPPED")
    anon_leaf(m, t, v, v.vm_start)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start + 8 * PAGE, PAGE)
    assert m.rss(t)["MM_ANONPAGES"] == 511
    # split: no longer a THP mapping; one subpage unmapped
    assert node_stat(m, "NR_ANON_THPS") == 0 and node_stat(m, "NR_ANON_MAPPED") == mapped + 511
    assert m.check_invariants() == []
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 2 * MiB)
    assert node_stat(m, "NR_ANON_MAPPED") == mapped


def test_pfn_of_a_pud_leaf_keeps_all_18_bits_of_the_offset():
    m = machine(mem=2 * GiB)
    t = task(m)
    v = mmap(m, t, GiB, hint=0x7f0000000000 & ~(GiB - 1))
    head = m.physmem.alloc_contig_pages(1 << 18)
    assert head is not None
    m.physmem.prep_compound_gigantic_page(head, 18)
    assert m.mmcore.map_huge_page(t.mm, v, v.vm_start, head, 2, True) == 0
    assert m.mmcore.pfn_of(t.mm, v.vm_start + 0x12345 * PAGE) == head + 0x12345
    assert m.check_invariants() == []


# -- VMA interception across split and fork -------------------------------------------------------

class Recorder:
    def __init__(self):
        self.calls = []

    def ops(self, **kw):
        return PyVmOps(open=lambda vma: self.calls.append(("open", vma.vm_start)),
                       close=lambda vma: self.calls.append(("close", vma.vm_start)),
                       **kw)


def test_a_split_vma_keeps_its_vm_ops_and_private_data_and_gets_open():
    m = machine()
    t = task(m)
    v = mmap(m, t, 16 * PAGE, "file", file="f")
    r = Recorder()
    faults = []

    def fault(mm, vma, address, flags, pgoff):
        faults.append(address)
        return PY_VM_FAULT_SIGBUS, None

    v.set_vm_ops(r.ops(fault=fault))
    v.vm_private_data = "mine"
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start + 4 * PAGE, 4 * PAGE, "r")
    assert len(t.mm.vmas) == 3
    assert all(x.has_vm_ops and x.vm_private_data == "mine" for x in t.mm.vmas)
    assert [c for c, _ in r.calls] == ["open", "open"]
    upper = t.mm.vmas[2]
    assert m.mmcore.access(t.mm, upper, upper.vm_start, upper.vm_start + PAGE, False)[1] == PY_VM_FAULT_SIGBUS
    assert faults == [upper.vm_start]
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 16 * PAGE)
    assert [c for c, _ in r.calls].count("close") == 3


def test_may_split_refuses_a_cut_with_its_errno():
    m = machine()
    t = task(m)
    v = mmap(m, t, 16 * PAGE)
    v.set_vm_ops(PyVmOps(may_split=lambda vma, addr: -22))
    with pytest.raises(vm.MmError) as e:
        vm.do_mprotect(m.mmcore, t.mm, v.vm_start + PAGE, PAGE, "r")
    assert e.value.errno == "EINVAL"
    assert len(t.mm.vmas) == 1


def test_fork_carries_vm_ops_and_clears_userfaultfd_without_fork_events():
    m = machine()
    p = task(m)
    a = mmap(m, p, 16 * PAGE)
    b = mmap(m, p, 16 * PAGE)
    r = Recorder()
    a.set_vm_ops(r.ops())
    for v, ctx in ((a, "plain"), (b, "fork")):
        v.vm_flags |= VM_UFFD_MISSING
        v.vm_userfaultfd_ctx = ctx
    m.mmcore.install_userfaultfd_ops(PyUserfaultfdOps(
        handle_userfault=lambda *a: PY_VM_FAULT_SIGBUS,
        dup=lambda vma, new: vma.vm_userfaultfd_ctx == "fork"))
    c = m.fork(p, "child")
    ca, cb = c.mm.find_vma(a.vm_start), c.mm.find_vma(b.vm_start)
    assert ca.has_vm_ops and ("open", a.vm_start) in r.calls
    assert not ca.vm_flags & VM_UFFD_MISSING and ca.vm_userfaultfd_ctx is None
    assert cb.vm_flags & VM_UFFD_MISSING and cb.vm_userfaultfd_ctx == "fork"


# -- non-present PTEs -----------------------------------------------------------------------------

def test_a_swap_pte_is_not_overwritten_by_a_new_page():
    m = machine()
    t = task(m)
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.set_pte(t.mm, v.vm_start, swap_pte(0, 7))
    t.mm.inc_mm_counter(2)                       # MM_SWAPENTS, as try_to_unmap counts it
    assert m.check_invariants() == []
    # no swap plugin: a bad PTE, SIGBUS; the entry stays
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == PY_VM_FAULT_SIGBUS
    assert t.mm.pte(v.vm_start) == swap_pte(0, 7)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 4 * PAGE)
    assert t.mm.rss_raw[2] == 0
    assert m.check_invariants() == []


def test_check_counts_swap_entries_against_mm_swapents():
    m = machine()
    t = task(m)
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.set_pte(t.mm, v.vm_start, swap_pte(1, 3))
    assert any("MM_SWAPENTS" in p for p in m.check_invariants())


def test_a_poison_marker_faults_with_hwpoison_on_v618():
    m = machine("v6.18")
    t = task(m)
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.set_pte(t.mm, v.vm_start, pte_marker_entry(m.mmcore.swp_pte_marker, PY_PTE_MARKER_POISONED))
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == PY_VM_FAULT_HWPOISON
    assert m.mmcore.count_nonpresent(t.mm, v) == (0, 1)
    assert m.check_invariants() == []


def test_a_uffd_wp_marker_maps_write_protected_and_the_write_raises_wp():
    m = machine("v6.18")
    t = task(m)
    v = mmap(m, t, 4 * PAGE)
    v.vm_flags |= VM_UFFD_WP
    seen = []

    def handler(mm, vma, address, flags, reason):
        seen.append(reason)
        m.mmcore.change_protection(mm, address & ~0xFFF, (address & ~0xFFF) + PAGE, True, 2)
        return PY_VM_FAULT_NOPAGE

    m.mmcore.set_userfault_handler(handler)
    m.mmcore.set_pte(t.mm, v.vm_start, pte_marker_entry(m.mmcore.swp_pte_marker, PY_PTE_MARKER_UFFD_WP))
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
    assert seen == [VM_UFFD_WP]
    assert m.rss(t)["MM_ANONPAGES"] == 1
    assert m.check_invariants() == []


def test_the_marker_encoding_is_an_ordinary_swap_entry_on_v514():
    m = machine("v5.14")
    t = task(m)
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.set_pte(t.mm, v.vm_start, pte_marker_entry(31, PY_PTE_MARKER_POISONED))
    t.mm.inc_mm_counter(2)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == PY_VM_FAULT_SIGBUS
    assert m.check_invariants() == []


# -- shmem faults reach userfaultfd ---------------------------------------------------------------

def test_shmem_missing_and_minor_faults_reach_userfaultfd():
    m = machine()
    t = task(m)
    v = mmap(m, t, 4 * PAGE, "shared")
    seen = []
    m.mmcore.set_userfault_handler(lambda mm, vma, addr, flags, reason: seen.append(reason) or PY_VM_FAULT_SIGBUS)
    v.vm_flags |= VM_UFFD_MISSING
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == PY_VM_FAULT_SIGBUS
    assert seen == [VM_UFFD_MISSING]
    v.vm_flags &= ~VM_UFFD_MISSING
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0      # cache it
    m.mmcore.zap_page_range(t.mm, v, v.vm_start, v.vm_end)                 # MADV_DONTNEED
    v.vm_flags |= VM_UFFD_MINOR
    assert m.mmcore.access(t.mm, v, v.vm_start + PAGE, v.vm_start + 2 * PAGE, False)[1] == PY_VM_FAULT_SIGBUS
    assert seen == [VM_UFFD_MISSING, VM_UFFD_MINOR]
    assert m.check_invariants() == []


@pytest.mark.parametrize("first_index, others", [(3, 15), (505, 6)])
def test_fault_around_window_as_the_live_kernel(first_index, others):
    """kernel-6.18-observed.md: 16 cached pages, a read of p0: 15 others are mapped when p0 is
    at PTE index 3, only 6 at index 505 (the window stops at the page table's end)."""
    m = machine("v6.18")
    t = task(m)
    base = 0x7f0000000000 + first_index * PAGE
    v = mmap(m, t, 16 * PAGE, "file", file="cached", hint=base)
    assert v.vm_start == base
    cache = {}
    for i in range(16):                          # the file's 16 pages are in the page cache
        pfn = m.physmem.alloc(0, 0x100CCA)
        m.mmcore.add_to_page_cache(pfn, v.vm_file, i)
        v.vm_file.i_pages[i] = cache[i] = pfn
    windows = []

    def map_pages(mm, vma, address, start, end):
        windows.append((start, end))
        for pgoff in range(start, end + 1):
            m.mmcore.map_page(mm, vma, vma.vm_start + (pgoff - vma.vm_pgoff) * PAGE, cache[pgoff],
                              False, pgoff != 0)
        return PY_VM_FAULT_NOPAGE

    v.set_vm_ops(PyVmOps(fault=lambda mm, vma, a, f, pgoff: (0, cache[pgoff]), map_pages=map_pages))
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)[1] == 0
    mapped = sum(1 for i in range(16) if m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) is not None)
    assert mapped - 1 == others
    assert windows == [(0, others)]
    # a VM_UFFD_MINOR VMA does no fault-around
    m.mmcore.zap_page_range(t.mm, v, v.vm_start, v.vm_end)
    v.vm_flags |= VM_UFFD_MINOR
    m.mmcore.set_userfault_handler(lambda mm, vma, addr, flags, reason: PY_VM_FAULT_SIGBUS)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, False)
    assert windows == [(0, others)]


# -- gigantic pages -------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel, frees", [("v5.14", 1 << 18), ("v6.18", 1)])
def test_a_gigantic_page_goes_back_to_the_buddy_allocator(kernel, frees):
    from memsim.testing import build_machine
    m = with_page_cache(build_machine(nodes=(2 * GiB,), kernel=kernel, events=("kmem:mm_page_free",)))
    before = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    head = m.physmem.alloc_contig_pages(1 << 18)
    assert head is not None and head % (1 << 18) == 0
    m.physmem.prep_compound_gigantic_page(head, 18)
    assert m.physmem.page_info(head)["compound_order"] == 18
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == before - (1 << 18)
    m.physmem.free_gigantic_page(head, 18)
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == before
    m.physmem.drain_all_pages()
    assert m.physmem.free_counts(0, "DMA32")[10] >= 256      # merged back to 1 GiB of max-order blocks
    assert m.physmem.check_invariants() == []
    assert sum(e + d for e, d in m.tb.stats()) == frees     # v5.14: page by page; v6.18: one folio


@pytest.mark.parametrize("written, stored", [(b"16384\n", 16384), (b"10000", 8192), (b"0x2000", 8192),
                                             (b"0", 4096), (b"2097152", 2097152)])
def test_fault_around_bytes_is_the_debugfs_knob(written, stored):
    """mm/memory.c fault_around_bytes_set(): rounded down to a power of two, at least a page."""
    m = machine("v6.18")
    assert m.vfs.read_file("/sys/kernel/debug/fault_around_bytes") == b"65536\n"
    m.vfs.write_file("/sys/kernel/debug/fault_around_bytes", written)
    assert m.mmcore.fault_around_bytes == stored
    assert m.vfs.read_file("/sys/kernel/debug/fault_around_bytes") == b"%d\n" % stored


@pytest.mark.parametrize("written", [b"2101248", b"-1", b"lots"])
def test_fault_around_bytes_refuses_what_the_kernel_refuses(written):
    from memsim.vfs import VfsError
    m = machine("v6.18")
    with pytest.raises(VfsError) as e:
        m.vfs.write_file("/sys/kernel/debug/fault_around_bytes", written)
    assert e.value.errno == "EINVAL"
    assert m.mmcore.fault_around_bytes == 65536


def test_a_smaller_fault_around_window_maps_fewer_pages():
    m = machine("v6.18")
    t = task(m)
    m.vfs.write_file("/sys/kernel/debug/fault_around_bytes", b"16384")
    v = mmap(m, t, 16 * PAGE, "file", file="cached", hint=0x7f0000000000)
    cache = {}
    for i in range(16):
        pfn = m.physmem.alloc(0, 0x100CCA)
        m.mmcore.add_to_page_cache(pfn, v.vm_file, i)
        v.vm_file.i_pages[i] = cache[i] = pfn
    windows = []

    def map_pages(mm, vma, address, start, end):
        windows.append((start, end))
        return 0

    v.set_vm_ops(PyVmOps(fault=lambda mm, vma, a, f, pgoff: (0, cache[pgoff]), map_pages=map_pages))
    m.mmcore.access(t.mm, v, v.vm_start + 5 * PAGE, v.vm_start + 6 * PAGE, False)
    assert windows == [(4, 7)]
