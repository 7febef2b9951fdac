"""Page tables and the fault path: anonymous, zero-page, copy-on-write after fork, file and
shmem faults, munmap and mprotect (mm/memory.c, mm/mmap.c, kernel/fork.c)."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096


@pytest.fixture
def m():
    machine = with_page_cache(Machine(MachineSpec(cpus=2, nodes=(128 * MiB,)), with_slab=False))   # page counts exact
    yield machine
    assert machine.check_invariants() == []


def mmap(m, task, length, kind="anon", prot="rw", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, task.mm, m.files, length, prot, kind, totalram=total, **kw)


def test_pte_format_and_four_levels(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 64 * PAGE)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)[1] == 0
    pte = t.mm.pte(v.vm_start)
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start)
    assert pte & 0x1 and pte & 0x2 and pte & 0x4          # present, writable, user
    assert pte & 0x40                                     # dirty
    assert (pte & 0x000FFFFFFFFFF000) >> 12 == pfn
    # pud + pmd + pte tables were allocated for the first fault (the pgd came with the mm)
    assert t.mm.pgtables_bytes == 3 * PAGE
    info = m.physmem.page_info(pfn)
    # the PTE's reference and the lru_add batch's (lru_cache_add_inactive_or_unevictable)
    assert info["refcount"] == 2 and info["mapcount"] == 1 and info["mapping"] & 1
    assert m.physmem.lru_batch(0) == [pfn]
    m.physmem.lru_add_drain_py()
    assert m.physmem.page_info(pfn)["refcount"] == 1 and m.physmem.lru_pages(0, 0) == [pfn]


def test_read_fault_maps_the_zero_page(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 16 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)
    assert m.mmcore.pfn_of(t.mm, v.vm_start) == m.mmcore.zero_pfn
    assert m.rss(t)["MM_ANONPAGES"] == 0
    assert m.mmcore.fault_counts_dict()["zero"] == 16
    # writing then copies from the zero page (wp_page_copy), counting ANON
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    assert m.rss(t)["MM_ANONPAGES"] == 16
    assert m.mmcore.fault_counts_dict()["cow"] == 16


def test_touching_mapped_pages_does_not_fault(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 32 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    before = m.mmcore.fault_counts_dict()
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    assert m.mmcore.fault_counts_dict() == before
    assert t.rss_events == 32          # check_sync_rss_stat ran once per fault only


def test_cow_after_fork_copies_then_reuses(m):
    p = m.spawn("parent")
    m.set_current(p)
    v = mmap(m, p, 8 * PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    m.physmem.lru_add_drain_py()    # else v5.14 copies a page its lru_add batch still holds (test_lru)
    pfn0 = m.mmcore.pfn_of(p.mm, v.vm_start)
    c = m.fork(p, "child")
    cv = c.mm.find_vma(v.vm_start)
    # shared and write-protected in both
    assert m.mmcore.pfn_of(c.mm, v.vm_start) == pfn0
    assert not p.mm.pte(v.vm_start) & 0x2 and not c.mm.pte(v.vm_start) & 0x2
    assert m.mmcore.page_counts(pfn0) == (2, 2)
    assert m.rss(c)["MM_ANONPAGES"] == 8
    m.set_current(c)
    m.mmcore.access(c.mm, cv, v.vm_start, v.vm_start + PAGE, True)
    assert m.mmcore.pfn_of(c.mm, v.vm_start) != pfn0          # copied
    assert m.mmcore.page_counts(pfn0) == (1, 1)
    m.set_current(p)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_start + PAGE, True)
    assert m.mmcore.pfn_of(p.mm, v.vm_start) == pfn0          # reused (wp_page_reuse)
    faults = m.mmcore.fault_counts_dict()
    assert faults["cow"] == 1 and faults["reuse"] == 1
    m.exit_task(c)
    m.exit_task(p)


def test_cow_copies_page_contents(m):
    p = m.spawn("parent")
    m.set_current(p)
    v = mmap(m, p, PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    m.physmem.write_bytes(m.mmcore.pfn_of(p.mm, v.vm_start), 100, b"hello")
    c = m.fork(p, "child")
    m.set_current(c)
    m.mmcore.access(c.mm, c.mm.vmas[0], v.vm_start, v.vm_end, True)
    cp = m.mmcore.pfn_of(c.mm, v.vm_start)
    assert m.physmem.read_bytes(cp, 100, 5) == b"hello"
    m.physmem.write_bytes(cp, 100, b"HELLO")
    assert m.physmem.read_bytes(m.mmcore.pfn_of(p.mm, v.vm_start), 100, 5) == b"hello"


def test_fork_skips_vmas_without_anon_vma(m):
    p = m.spawn("parent")
    m.set_current(p)
    v = mmap(m, p, 4 * PAGE)
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, False)      # zero page only: no anon_vma
    c = m.fork(p, "child")
    assert c.mm.pte(v.vm_start) == 0                           # not copied: the child refaults


def test_munmap_frees_pages_and_tables(m):
    t = m.spawn("app")
    m.set_current(t)
    free0 = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    v = mmap(m, t, 4 * MiB)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 4 * MiB)
    assert t.mm.vmas == []
    assert m.rss(t)["MM_ANONPAGES"] == 0
    # the pte, pmd and pud tables went too (nothing else is mapped)
    assert t.mm.pgtables_bytes == 0
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == free0


def test_munmap_middle_splits_the_vma(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 16 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    start = v.vm_start
    vm.do_munmap(m.mmcore, t.mm, start + 4 * PAGE, 8 * PAGE)
    assert [(x.vm_start - start, x.vm_end - start) for x in t.mm.vmas] == [(0, 4 * PAGE), (12 * PAGE, 16 * PAGE)]
    assert m.rss(t)["MM_ANONPAGES"] == 8


def test_mprotect_read_only_then_write_faults_sigsegv(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 4 * PAGE)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    m.physmem.lru_add_drain_py()    # else v5.14 copies a page its lru_add batch still holds (test_lru)
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start, 4 * PAGE, "r")
    assert not t.mm.pte(v.vm_start) & 0x2
    ret = m.mmcore.access(t.mm, t.mm.vmas[0], v.vm_start, v.vm_end, True)[1]
    assert ret == 0x40                                          # VM_FAULT_SIGSEGV
    vm.do_mprotect(m.mmcore, t.mm, v.vm_start, 4 * PAGE, "rw")
    assert m.mmcore.access(t.mm, t.mm.vmas[0], v.vm_start, v.vm_end, True)[1] == 0
    assert m.mmcore.fault_counts_dict()["reuse"] == 4


def test_mprotect_unmapped_range_is_enomem(m):
    t = m.spawn("app")
    m.set_current(t)
    with pytest.raises(vm.MmError) as e:
        vm.do_mprotect(m.mmcore, t.mm, 0x10000, PAGE, "r")
    assert e.value.errno == "ENOMEM"


def test_mmap_larger_than_memory_is_enomem(m):
    t = m.spawn("app")
    with pytest.raises(vm.MmError) as e:
        mmap(m, t, 1 << 30)
    assert e.value.errno == "ENOMEM"
    # a read-only private mapping is not accounted: it succeeds
    assert mmap(m, t, 1 << 30, prot="r").vm_end - (1 << 30) >= 0


def test_shared_anonymous_mapping_counts_shmem_and_is_shared_by_fork(m):
    p = m.spawn("parent")
    m.set_current(p)
    v = mmap(m, p, 4 * PAGE, kind="shared")
    m.mmcore.access(p.mm, v, v.vm_start, v.vm_end, True)
    assert m.rss(p)["MM_SHMEMPAGES"] == 4
    c = m.fork(p, "child")
    m.set_current(c)
    m.mmcore.access(c.mm, c.mm.vmas[0], v.vm_start, v.vm_end, True)
    # same pages: the shmem object's page cache
    assert m.mmcore.pfn_of(c.mm, v.vm_start) == m.mmcore.pfn_of(p.mm, v.vm_start)
    assert m.rss(c)["MM_SHMEMPAGES"] == 4


def test_private_file_mapping_read_then_cow(m):
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 4 * PAGE, kind="file", file="data.bin")
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)
    assert m.rss(t)["MM_FILEPAGES"] == 4
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_start + PAGE, True)
    r = m.rss(t)
    assert r["MM_FILEPAGES"] == 3 and r["MM_ANONPAGES"] == 1


def test_exit_returns_everything(m):
    free0 = m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages()
    t = m.spawn("app")
    m.set_current(t)
    v = mmap(m, t, 2 * MiB)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    c = m.fork(t, "child")
    m.exit_task(c)
    m.exit_task(t)
    assert m.physmem.nr_free_pages() + m.physmem.nr_pcp_pages() == free0   # pgds and tables too


def test_pmd_and_pud_leaves_map_huge_pages(m):
    t = m.spawn("app")
    m.set_current(t)
    head = m.physmem.alloc(9, 0xCC0 | 0x40000 | 0x200000)       # __GFP_COMP | __GFP_THISNODE
    addr = 0x40000000
    m.mmcore.set_huge_pte(t.mm, addr, (head << 12) | 0x67, 3)
    assert m.mmcore.huge_pte(t.mm, addr) & 0x80                 # _PAGE_PSE
    assert m.mmcore.pfn_of(t.mm, addr + 5 * PAGE) == head + 5
    m.mmcore.set_huge_pte(t.mm, 1 << 31, (0x40000 << 12) | 0x67, 2)
    assert m.mmcore.pfn_of(t.mm, (1 << 31) + 3 * PAGE) == 0x40000 + 3
    m.mmcore.clear_huge_pte(t.mm, addr)
    m.mmcore.clear_huge_pte(t.mm, 1 << 31)
    assert m.mmcore.pfn_of(t.mm, addr) is None
    m.physmem.free(head, 9)
