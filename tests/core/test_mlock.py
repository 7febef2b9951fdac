"""mlock(2), mlock2(2), munlock(2), mlockall(2) and munlockall(2) (mm/mlock.c) per profile:
v5.14 mlocks in __mm_populate (FOLL_MLOCK) and munlocks through __munlock_pagevec; v6.18 (after
the 6.1 rework) goes through the per-CPU mlock_fbatch and folio->mlock_count and munlocks as the
rmap goes.  The unevictable list against NR_MLOCK and the unevictable_pgs_* events, reclaim
leaving mlocked pages alone, and the system calls' errors (issue 10, "LRU lists": the
unevictable list)."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.vmstat import vm_event_item as EV, zone_stat_item as ZS
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096
INACTIVE_ANON, ACTIVE_ANON, INACTIVE_FILE, ACTIVE_FILE, UNEVICTABLE = range(5)
PG_mlocked = 1 << 21
EVENTS = ("culled", "rescued", "mlocked", "munlocked", "cleared", "stranded")
KERNELS = ("v5.14", "v6.18")


def setup(kernel, mem=128 * MiB):
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(mem,), kernel=kernel), with_slab=False))
    t = m.spawn("app")
    m.set_current(t)
    return m, t


def mmap(m, t, length, kind="anon", prot="rw", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, prot, kind, totalram=total, **kw)


def touch(m, t, v, npages, write=True, first=0):
    start = v.vm_start + first * PAGE
    assert m.mmcore.access(t.mm, v, start, start + npages * PAGE, write)[1] == 0


def state(m):
    """unevictable_pgs_* events, NR_MLOCK (zones summed) and the LRU list sizes of node 0."""
    vs = m.physmem.vmstat
    vs.refresh_vm_stats()
    out = {e: vs.vm_event(getattr(EV, "UNEVICTABLE_PG" + e.upper())) for e in EVENTS}
    out["nr_mlock"] = sum(vs.zone_page_state(0, z, ZS.NR_MLOCK) for z in range(4))
    out["lru"] = m.physmem.lru_sizes(0)
    return out


def ev(culled=0, rescued=0, mlocked=0, munlocked=0, cleared=0, stranded=0, nr_mlock=0, lru=None):
    return {"culled": culled, "rescued": rescued, "mlocked": mlocked, "munlocked": munlocked,
            "cleared": cleared, "stranded": stranded, "nr_mlock": nr_mlock, "lru": lru}


@pytest.mark.parametrize("kernel", KERNELS)
def test_mlock_moves_present_and_new_pages_to_the_unevictable_list(kernel):
    """4 pages faulted before mlock, 4 faulted by its __mm_populate: all 8 end mlocked on the
    unevictable list (v5.14: mlock_vma_page after lru_add_drain, the new ones mlocked at fault;
    v6.18: mlock_vma_pages_range's mlock_folio, then mlock_new_folio at fault, the
    populate's final lru_add_drain processing the mlock_fbatch)."""
    m, t = setup(kernel)
    v = mmap(m, t, 8 * PAGE)
    touch(m, t, v, 4)
    m.physmem.lru_add_drain_py()
    assert m.physmem.lru_sizes(0) == [4, 0, 0, 0, 0]
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    assert state(m) == ev(culled=8, mlocked=8, nr_mlock=8, lru=[0, 0, 0, 0, 8])
    assert t.mm.locked_vm == 8 and v.vm_flags & vm.VM_LOCKED
    assert all(m.physmem.page_info(m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE))["flags"] & PG_mlocked
               for i in range(8))
    assert m.check_invariants() == []
    # munlock: PG_mlocked cleared, each page back on an evictable list
    vm.do_munlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    m.physmem.lru_add_drain_py()
    assert state(m) == ev(culled=8, mlocked=8, munlocked=8, rescued=8, lru=[8, 0, 0, 0, 0])
    assert t.mm.locked_vm == 0 and not v.vm_flags & vm.VM_LOCKED
    assert m.check_invariants() == []


def test_v618_munmap_leaves_munlocks_in_the_mlock_fbatch_until_it_drains():
    """v6.18 munmap does not munlock first: each PTE's rmap removal queues munlock_folio()
    (munlock_vma_folio), whose batch reference keeps the page until the batch drains; v5.14's
    __do_munmap munlock_vma_pages_all()s the VMA first, so nothing is left behind."""
    m, t = setup("v6.18")
    v = mmap(m, t, 8 * PAGE)
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    pfns = [m.mmcore.pfn_of(t.mm, v.vm_start + i * PAGE) for i in range(8)]
    vm.do_munmap(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    assert t.mm.locked_vm == 0
    assert m.physmem.mlock_batch(0) == pfns
    assert state(m) == ev(culled=8, mlocked=8, nr_mlock=8, lru=[0, 0, 0, 0, 8])
    assert all(m.physmem.page_info(p)["refcount"] == 1 for p in pfns)
    m.physmem.lru_add_drain_py()        # mlock_drain_local: __munlock_folio, then folios_put
    assert state(m) == ev(culled=8, mlocked=8, munlocked=8, rescued=8, lru=[0] * 5)
    assert all(m.physmem.page_info(p)["buddy"] or m.physmem.page_info(p)["pcp"] for p in pfns)
    assert m.check_invariants() == []


def test_v514_munmap_munlocks_before_unmapping():
    m, t = setup("v5.14")
    v = mmap(m, t, 8 * PAGE)
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start + 2 * PAGE, 4 * PAGE)
    assert t.mm.locked_vm == 4
    # __munlock_pagevec's fast path: isolated, mapped once, evictable -> straight back
    assert state(m) == ev(culled=8, mlocked=8, munlocked=4, rescued=4, nr_mlock=4,
                          lru=[0, 0, 0, 0, 4])
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_exit_of_an_mlocked_process_leaves_nothing_mlocked(kernel):
    m, t = setup(kernel)
    v = mmap(m, t, 40 * PAGE)
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 40 * PAGE)
    m.exit_task(t)
    m.physmem.lru_add_drain_py(True)
    s = state(m)
    assert s["nr_mlock"] == 0 and s["lru"] == [0] * 5
    assert s["mlocked"] == 40 and s["munlocked"] == 40 and s["cleared"] == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_page_mlocked_by_another_vma_stays_mlocked(kernel):
    """Two tasks mlock the same file pages: the first munlock leaves them mlocked (v5.14
    try_to_munlock finds the other VM_LOCKED VMA and mlocks the page again; v6.18 the
    folio's mlock_count goes from 2 to 1), the second one frees them."""
    m, a = setup(kernel)
    fa = mmap(m, a, 4 * PAGE, "file", "r", file="lib")
    vm.do_mlock(m.mmcore, a.mm, fa.vm_start, 4 * PAGE)
    b = m.spawn("other")
    m.set_current(b)
    fb = mmap(m, b, 4 * PAGE, "file", "r", file="lib")
    vm.do_mlock(m.mmcore, b.mm, fb.vm_start, 4 * PAGE)
    m.physmem.lru_add_drain_py()
    pfns = [m.mmcore.pfn_of(b.mm, fb.vm_start + i * PAGE) for i in range(4)]
    assert pfns == [m.mmcore.pfn_of(a.mm, fa.vm_start + i * PAGE) for i in range(4)]
    if kernel == "v6.18":
        assert [m.physmem.folio_mlock_count(p) for p in pfns] == [2] * 4
    assert state(m)["nr_mlock"] == 4
    vm.do_munlock(m.mmcore, b.mm, fb.vm_start, 4 * PAGE)
    m.physmem.lru_add_drain_py()
    s = state(m)
    assert s["nr_mlock"] == 4 and s["lru"][UNEVICTABLE] == 4
    assert all(m.physmem.page_info(p)["flags"] & PG_mlocked for p in pfns)
    m.set_current(a)
    vm.do_munlock(m.mmcore, a.mm, fa.vm_start, 4 * PAGE)
    m.physmem.lru_add_drain_py()
    s = state(m)
    assert s["nr_mlock"] == 0 and s["lru"][UNEVICTABLE] == 0 and s["lru"][INACTIVE_FILE] == 4
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_mlock2_onfault_locks_present_pages_and_later_faults_only(kernel):
    m, t = setup(kernel)
    v = mmap(m, t, 8 * PAGE)
    touch(m, t, v, 2)
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE, vm.MLOCK_ONFAULT)
    m.physmem.lru_add_drain_py()
    assert v.vm_flags & (vm.VM_LOCKED | vm.VM_LOCKONFAULT) == vm.VM_LOCKED | vm.VM_LOCKONFAULT
    assert t.mm.locked_vm == 8
    assert m.mmcore.pfn_of(t.mm, v.vm_start + 2 * PAGE) is None     # nothing faulted in
    assert state(m)["nr_mlock"] == 2
    touch(m, t, v, 3, first=2)
    m.physmem.lru_add_drain_py()
    s = state(m)
    assert s["nr_mlock"] == 5 and s["lru"] == [0, 0, 0, 0, 5] and s["mlocked"] == 5
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_mlockall_future_locks_later_mappings(kernel):
    m, t = setup(kernel)
    before = mmap(m, t, 4 * PAGE)
    vm.do_mlockall(m.mmcore, t.mm, vm.MCL_FUTURE)
    assert not before.vm_flags & vm.VM_LOCKED and t.mm.locked_vm == 0
    after = mmap(m, t, 4 * PAGE)
    assert after.vm_flags & vm.VM_LOCKED and t.mm.locked_vm == 4
    vm.mm_populate(m.mmcore, t.mm, after.vm_start, 4 * PAGE, True)
    assert state(m)["nr_mlock"] == 4
    vm.do_mlockall(m.mmcore, t.mm, vm.MCL_CURRENT | vm.MCL_FUTURE | vm.MCL_ONFAULT)
    assert before.vm_flags & vm.VM_LOCKONFAULT and t.mm.locked_vm == 8
    vm.do_munlockall(m.mmcore, t.mm)
    m.physmem.lru_add_drain_py()
    assert t.mm.def_flags == 0 and t.mm.locked_vm == 0
    assert not any(v.vm_flags & (vm.VM_LOCKED | vm.VM_LOCKONFAULT) for v in t.mm.vmas)
    assert mmap(m, t, PAGE).vm_flags & vm.VM_LOCKED == 0
    assert state(m)["nr_mlock"] == 0
    assert m.check_invariants() == []


def test_mlock_errors():
    m, t = setup("v5.14")
    v = mmap(m, t, 8 * PAGE)
    with pytest.raises(vm.MmError) as e:
        vm.do_mlock(m.mmcore, t.mm, v.vm_start, PAGE, 2)
    assert e.value.errno == "EINVAL"
    for flags in (0, vm.MCL_ONFAULT, 8):
        with pytest.raises(vm.MmError) as e:
            vm.do_mlockall(m.mmcore, t.mm, flags)
        assert e.value.errno == "EINVAL"
    # a hole: ENOMEM, after the part before it was locked (apply_vma_lock_flags)
    vm.do_munmap(m.mmcore, t.mm, v.vm_start + 4 * PAGE, PAGE)
    with pytest.raises(vm.MmError) as e:
        vm.do_mlock(m.mmcore, t.mm, v.vm_start, 8 * PAGE)
    assert e.value.errno == "ENOMEM"
    assert t.mm.locked_vm == 4 and t.mm.find_vma(v.vm_start).vm_flags & vm.VM_LOCKED
    with pytest.raises(vm.MmError) as e:
        vm.do_munlock(m.mmcore, t.mm, v.vm_start + 4 * PAGE, PAGE)
    assert e.value.errno == "ENOMEM"
    # an unaligned start is rounded down and the length up: 200 bytes over a page boundary
    w = mmap(m, t, 8 * PAGE)
    vm.do_mlock(m.mmcore, t.mm, w.vm_start + 2 * PAGE - 100, 200)
    assert t.mm.locked_vm == 6
    parts = [x for x in t.mm.vmas if w.vm_start <= x.vm_start < w.vm_start + 8 * PAGE]
    assert [(x.vm_end - x.vm_start) // PAGE for x in parts] == [1, 2, 5]
    assert [bool(x.vm_flags & vm.VM_LOCKED) for x in parts] == [False, True, False]
    # PROT_NONE: locked, but populate fails with EFAULT, which mlock returns as ENOMEM
    n = mmap(m, t, 2 * PAGE, prot="none")
    with pytest.raises(vm.MmError) as e:
        vm.do_mlock(m.mmcore, t.mm, n.vm_start, 2 * PAGE)
    assert e.value.errno == "ENOMEM" and n.vm_flags & vm.VM_LOCKED
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_reclaim_leaves_mlocked_pages_alone_while_a_streaming_read_runs(kernel):
    m, t = setup(kernel, 32 * MiB)
    locked = mmap(m, t, 256 * PAGE, "file", "r", file="locked")
    vm.do_mlock(m.mmcore, t.mm, locked.vm_start, 256 * PAGE)
    pfns = [m.mmcore.pfn_of(t.mm, locked.vm_start + i * PAGE) for i in range(256)]
    stream = mmap(m, t, 96 * MiB, "file", "r", file="stream")
    touch(m, t, stream, 96 * MiB // PAGE, write=False)
    vs = m.physmem.vmstat
    assert vs.vm_event(EV.PGSTEAL_DIRECT) + vs.vm_event(EV.PGSTEAL_KSWAPD) > 64 * MiB // PAGE
    assert [m.mmcore.pfn_of(t.mm, locked.vm_start + i * PAGE) for i in range(256)] == pfns
    s = state(m)
    assert s["nr_mlock"] == 256 and s["lru"][UNEVICTABLE] == 256
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_reclaim_culls_unmlocked_pages_of_a_locked_vma(kernel):
    """File pages faulted into an MLOCK_ONFAULT VMA: v5.14's fault does not mlock them, so
    they sit on the file LRU until reclaim's try_to_unmap finds the VM_LOCKED VMA, mlocks
    the page, and putback_lru_page culls it; v6.18 mlocks them as they are mapped
    (__folio_add_file_rmap)."""
    m, t = setup(kernel, 32 * MiB)
    locked = mmap(m, t, 64 * PAGE, "file", "r", file="locked")
    vm.do_mlock(m.mmcore, t.mm, locked.vm_start, 64 * PAGE, vm.MLOCK_ONFAULT)
    touch(m, t, locked, 64, write=False)
    m.physmem.lru_add_drain_py()
    assert state(m)["nr_mlock"] == (64 if kernel == "v6.18" else 0)
    stream = mmap(m, t, 96 * MiB, "file", "r", file="stream")
    touch(m, t, stream, 96 * MiB // PAGE, write=False)
    m.physmem.lru_add_drain_py()
    s = state(m)
    assert s["nr_mlock"] == 64 and s["lru"][UNEVICTABLE] == 64 and s["culled"] == 64
    assert all(m.mmcore.pfn_of(t.mm, locked.vm_start + i * PAGE) is not None for i in range(64))
    assert m.check_invariants() == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_mremap_of_a_locked_mapping_moves_its_lock(kernel):
    """move_vma(): locked_vm grows by the new length, the old range's unmap takes the old
    length off, the moved pages stay mlocked and the grown part is populated and mlocked
    (mremap's mm_populate)."""
    m, t = setup(kernel)
    v = mmap(m, t, 4 * PAGE)
    vm.do_mlock(m.mmcore, t.mm, v.vm_start, 4 * PAGE)
    mmap(m, t, PAGE, hint=v.vm_end, map_flags=vm.MAP_FIXED)      # no room to grow in place
    new = vm.do_mremap(m.mmcore, t.mm, v.vm_start, 4 * PAGE, 8 * PAGE, vm.MREMAP_MAYMOVE)
    m.physmem.lru_add_drain_py()
    assert new != v.vm_start and t.mm.locked_vm == 8
    s = state(m)
    assert s["nr_mlock"] == 8 and s["lru"][UNEVICTABLE] == 8
    assert m.check_invariants() == []
