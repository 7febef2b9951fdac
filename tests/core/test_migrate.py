"""Page migration in the core (mm/migrate.c, mm/page_alloc.c; issue 13's seams):
MmCore.migrate_huge_page_mappings (the unmap / copy / remap part of unmap_and_move_huge_page a
hugetlb plugin calls), migrate_pages() over alloc_contig_range's isolated batches with its
counters and migrate:mm_migrate_pages events, pfn_range_valid_contig per profile.  The hugetlb
side with a plugin (isolate, migrate_huge_page, the destructor) is in
tests/plugins/test_ops_tables.py."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.testing import trace_text, with_page_cache
from memsim.vmstat import vm_event_item

MiB = 1 << 20
PAGE = 4096
GFP_HIGHUSER_MOVABLE_COMP = 0x100CCA | 0x40000
_PAGE_RW, _PAGE_ACCESSED, _PAGE_DIRTY = 0x2, 0x20, 0x40


def machine(kernel="v5.14", mem=256 * MiB):
    return with_page_cache(Machine(MachineSpec(cpus=2, nodes=(mem,), kernel=kernel), with_slab=False))


def traced(kernel):
    from memsim.testing import build_machine
    return with_page_cache(build_machine(nodes=(256 * MiB,), kernel=kernel, events=("migrate:*",)))


def task(m):
    t = m.spawn("app")
    m.set_current(t)
    return t


def mmap(m, t, length, kind="anon", hint=None, **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, hint=hint, totalram=total, **kw)


def anon_leaf(m, t, v, addr):
    """A PMD leaf mapping an anonymous compound page (do_huge_pmd_anonymous_page)."""
    head = m.physmem.alloc(9, GFP_HIGHUSER_MOVABLE_COMP)
    m.mmcore.page_set_anon_rmap(head, v, addr)
    assert m.mmcore.map_huge_page(t.mm, v, addr, head, 3, True) == 0
    m.physmem.put(head)
    return head


def events(m):
    return m.physmem.vmstat.vm_event(vm_event_item.PGMIGRATE_SUCCESS), \
        m.physmem.vmstat.vm_event(vm_event_item.PGMIGRATE_FAIL)


# -- migrate_huge_page_mappings -------------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_huge_page_mapped_in_two_processes_moves_with_its_bytes_and_counts(kernel):
    m = machine(kernel)
    p = task(m)
    v = mmap(m, p, 2 * MiB, hint=0x7f0000000000)
    old = anon_leaf(m, p, v, v.vm_start)
    m.physmem.write_bytes(old, 0, b"head")
    m.physmem.write_bytes(old + 511, 100, b"last subpage")
    child = m.fork(p, "child")
    assert m.mmcore.entire_mapcount(old) == 2
    leaf_before = m.mmcore.huge_pte(p.mm, v.vm_start)
    assert leaf_before & _PAGE_ACCESSED and not leaf_before & _PAGE_RW    # COW after fork
    m.physmem.get(old)                              # the caller's (isolation) reference
    new = m.physmem.alloc(9, GFP_HIGHUSER_MOVABLE_COMP)
    assert m.mmcore.migrate_huge_page_mappings_py(old, new) == 0
    for t in (p, child):
        assert m.mmcore.pfn_of(t.mm, v.vm_start) == new
        assert m.mmcore.pfn_of(t.mm, v.vm_start + 511 * PAGE) == new + 511
    assert m.mmcore.entire_mapcount(new) == 2 and m.mmcore.entire_mapcount(old) == 0
    assert m.physmem.page_info(new)["refcount"] == 3        # two leaves and the allocation's
    assert m.physmem.page_info(old)["refcount"] == 1        # the isolation reference only
    assert m.physmem.page_info(new)["mapping"] != 0 and m.physmem.page_info(old)["mapping"] == 0
    assert m.physmem.read_bytes(new, 0, 4) == b"head"
    assert m.physmem.read_bytes(new + 511, 100, 12) == b"last subpage"
    leaf = m.mmcore.huge_pte(p.mm, v.vm_start)
    assert leaf & ~0xFFFFFFFFFF000 & ~(_PAGE_ACCESSED | _PAGE_DIRTY) == \
        leaf_before & ~0xFFFFFFFFFF000 & ~(_PAGE_ACCESSED | _PAGE_DIRTY)      # same permissions
    if kernel == "v6.18":       # the migration entry kept young and dirty
        assert leaf & (_PAGE_ACCESSED | _PAGE_DIRTY) == leaf_before & (_PAGE_ACCESSED | _PAGE_DIRTY)
    else:                       # pte_mkold(mk_pte(new, vm_page_prot)); the dirt went to PG_dirty
        assert not leaf & (_PAGE_ACCESSED | _PAGE_DIRTY)
        assert m.physmem.page_info(new)["flags"] & (1 << 3)
    assert m.rss(p)["MM_ANONPAGES"] == 512 and m.rss(child)["MM_ANONPAGES"] == 512
    assert m.check_invariants() == []
    m.physmem.put(old)                              # putback: the old page is freed
    m.physmem.put(new)                              # the allocation's reference
    assert m.physmem.page_info(old)["buddy"]
    assert m.check_invariants() == []
    # the moved page is still the processes': a write in the child copies it (COW), the
    # parent keeps the bytes
    m.set_current(child)
    m.mmcore.access(child.mm, v, v.vm_start, v.vm_start + PAGE, True)
    assert m.physmem.read_bytes(m.mmcore.pfn_of(p.mm, v.vm_start), 0, 4) == b"head"
    assert m.check_invariants() == []


def test_an_extra_reference_makes_it_eagain_and_changes_nothing():
    """migrate_huge_page_move_mapping's reference check: a pin (a reference no leaf, cache or
    isolation accounts for) makes the move -EAGAIN."""
    m = machine()
    p = task(m)
    v = mmap(m, p, 2 * MiB, hint=0x7f0000000000)
    old = anon_leaf(m, p, v, v.vm_start)
    m.physmem.get(old)
    m.physmem.get(old)                              # a pin
    new = m.physmem.alloc(9, GFP_HIGHUSER_MOVABLE_COMP)
    assert m.mmcore.migrate_huge_page_mappings_py(old, new) == -11
    assert m.mmcore.pfn_of(p.mm, v.vm_start) == old and m.mmcore.entire_mapcount(new) == 0
    assert m.physmem.page_info(new)["refcount"] == 1
    m.physmem.put(old)
    m.physmem.put(old)
    m.physmem.put(new)
    assert m.check_invariants() == []


def test_bad_arguments_are_api_errors():
    m = machine()
    p = task(m)
    v = mmap(m, p, 2 * MiB, hint=0x7f0000000000)
    old = anon_leaf(m, p, v, v.vm_start)
    small = m.physmem.alloc(0)
    with pytest.raises(ValueError, match="not the head of an order-9 compound page"):
        m.mmcore.migrate_huge_page_mappings_py(old, small)
    with pytest.raises(ValueError, match="is in use"):
        m.mmcore.migrate_huge_page_mappings_py(old, old)
    with pytest.raises(ValueError, match="not the head of a PMD or PUD sized"):
        m.mmcore.migrate_huge_page_mappings_py(small, old)


# -- migrate_pages over alloc_contig_range's batches --------------------------------------------

@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_alloc_contig_range_migrates_in_batches_of_32_one_event_each(kernel):
    """__alloc_contig_migrate_range: isolate up to COMPACT_CLUSTER_MAX (32) pages, one
    migrate_pages() (MIGRATE_SYNC, MR_CONTIG_RANGE) each: 40 mapped pages are two calls; the
    scan then reaches the end with nothing isolated, so there is no third."""
    m = traced(kernel)
    t = task(m)
    v = mmap(m, t, 40 * PAGE, hint=0x7f0000000000)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    pfns = [m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) for i in range(40)]
    start, end = min(pfns) & ~1023, (max(pfns) | 1023) + 1
    assert end - start == 1024, "the test wants the 40 pages in one 4 MiB unit"
    others = [pfn for pfn in range(start, end) if not m.physmem.page_info(pfn)["buddy"]
              and pfn not in pfns and m.physmem.page_info(pfn)["refcount"] > 0]
    assert others == []
    ok, fail = events(m)
    r = m.physmem.alloc_contig_range(start, end)
    assert r == 0
    assert all(not start <= m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) < end for i in range(40))
    ok2, fail2 = events(m)
    assert ok2 - ok == 40
    lines = [l.split(": ", 2)[-1] for l in trace_text(m).splitlines() if "mm_migrate_pages:" in l]
    split = "nr_split=0 " if kernel == "v6.18" else ""
    want = [f"nr_succeeded={n} nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 "
            f"{split}mode=MIGRATE_SYNC reason=contig_range" for n in (32, 8)]
    assert lines == want
    starts = [l for l in trace_text(m).splitlines() if "mm_migrate_pages_start:" in l]
    assert len(starts) == (len(lines) if kernel == "v6.18" else 0)
    m.physmem.free_contig_range(start, end - start)
    assert m.check_invariants() == []


def test_an_empty_range_still_calls_migrate_pages_once():
    """migrate_pages() runs (and traces) over the empty list the scan of a free range leaves."""
    m = traced("v5.14")
    task(m)
    start = m.physmem.alloc_contig_pages(1024)
    assert start is not None
    m.physmem.free_contig_range(start, 1024)
    before = trace_text(m).count("mm_migrate_pages:")
    assert m.physmem.alloc_contig_range(start, start + 1024) == 0
    lines = [l for l in trace_text(m).splitlines() if "mm_migrate_pages:" in l][before:]
    assert len(lines) == 1 and "nr_succeeded=0 nr_failed=0" in lines[0]
    m.physmem.free_contig_range(start, 1024)


# -- pfn_range_valid_contig and the API errors ----------------------------------------------------

@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_thp_does_not_make_a_range_invalid_on_either_kernel(kernel):
    """pfn_range_valid_contig() never refused a THP: v5.14 checks PageReserved only, v6.4+ adds
    PageHuge.  A range holding an anonymous compound page is tried (and is busy: memsim moves
    no THP), so alloc_contig_pages goes on to the next range instead of skipping it unseen."""
    m = traced(kernel)
    p = task(m)
    v = mmap(m, p, 2 * MiB, hint=0x7f0000000000)
    head = anon_leaf(m, p, v, v.vm_start)
    base = head & ~1023
    assert m.physmem.pfn_range_valid_contig(base, 1024)
    got = m.physmem.alloc_contig_pages(1024, nodes={0})
    assert got is not None and not got <= head < got + 1024
    assert m.physmem.alloc_contig_range(base, base + 1024) == -16
    assert m.mmcore.pfn_of(p.mm, v.vm_start) == head
    m.physmem.free_contig_range(got, 1024)
    assert m.check_invariants() == []


def test_a_range_outside_memory_names_the_range():
    m = machine(mem=64 * MiB)
    end = m.physmem.max_pfn
    with pytest.raises(ValueError, match=rf"\[{end - 4:#x}, {end + 4:#x}\) is not a range of memory"):
        m.physmem.alloc_contig_range(end - 4, end + 4)
    with pytest.raises(ValueError, match=r"start_isolate_page_range: \[.*\) .*is not a range of memory"):
        m.physmem.start_isolate_page_range(end - 4, end + 4)
