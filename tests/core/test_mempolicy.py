"""NUMA memory policy: set_mempolicy(2) and mbind(2) with mpol_new()'s rules and errnos
(mm/mempolicy.c of v5.14), and where the pages then land on a two-node machine."""
import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.mm import task_mempolicy
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096
BIND, PREFERRED, INTERLEAVE, LOCAL = vm.MPOL_BIND, vm.MPOL_PREFERRED, vm.MPOL_INTERLEAVE, vm.MPOL_LOCAL
STATIC, RELATIVE, BALANCING = vm.MPOL_F_STATIC_NODES, vm.MPOL_F_RELATIVE_NODES, vm.MPOL_F_NUMA_BALANCING


def machine(kernel="v5.14", node_mib=64):
    # CPU 0 is on node 0, CPU 1 on node 1
    return with_page_cache(Machine(MachineSpec(cpus=2, nodes=(node_mib * MiB, node_mib * MiB), kernel=kernel),
                   with_slab=False))


@pytest.fixture
def m():
    mach = machine()
    yield mach
    assert mach.check_invariants() == []


def spawn(m, cpu=0):
    t = m.spawn(f"app{cpu}", cpu=cpu)
    m.set_current(t)
    return t


def mmap(m, t, length, kind="anon", **kw):
    total = sum(z["managed"] for z in m.physmem.zones_info())
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, totalram=total, **kw)


def set_mempolicy(m, t, mode, nodes=(), flags=0):
    p = m.profile
    vm.do_set_mempolicy(t, mode, flags, nodes, range(len(m.spec.nodes)), p.mpol_max,
                        p.mpol_numa_balancing_modes)


def mbind(m, t, start, length, mode, nodes=(), flags=0):
    p = m.profile
    vm.do_mbind(m.mmcore, t.mm, start, length, mode, flags, nodes, range(len(m.spec.nodes)),
                p.mpol_max, p.mpol_numa_balancing_modes)


def nodes_of(m, t, start, npages):
    """The node of each page mapped in [start, start + npages pages)."""
    return [m.physmem.page_info(m.mmcore.pfn_of(t.mm, start + i * PAGE))["node"] for i in range(npages)]


def touch(m, t, v, start=None, npages=None):
    start = v.vm_start if start is None else start
    end = v.vm_end if npages is None else start + npages * PAGE
    return m.mmcore.access(t.mm, v, start, end, True)[1]


# -- where the pages land ----------------------------------------------------------------------

def test_default_allocates_on_the_node_of_the_cpu(m):
    for cpu in (0, 1):
        t = spawn(m, cpu)
        v = mmap(m, t, 16 * PAGE)
        assert touch(m, t, v) == 0
        assert set(nodes_of(m, t, v.vm_start, 16)) == {cpu}


def test_bind_allocates_on_its_nodes_only(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    assert task_mempolicy(t) == (BIND, 0, (1,))
    v = mmap(m, t, 16 * PAGE)
    assert touch(m, t, v) == 0
    assert set(nodes_of(m, t, v.vm_start, 16)) == {1}


def test_preferred_falls_back_when_its_node_is_full():
    m = machine(node_mib=16)
    t = spawn(m, 0)
    set_mempolicy(m, t, PREFERRED, [1])
    v = mmap(m, t, 24 * MiB)
    assert touch(m, t, v) == 0                                  # more than node 1 holds
    placed = nodes_of(m, t, v.vm_start, 24 * MiB // PAGE)
    assert placed[0] == 1 and placed[-1] == 0
    assert placed.count(1) > placed.count(0) > 0


def test_interleave_alternates_by_page_offset(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, INTERLEAVE, [0, 1])
    v = mmap(m, t, 16 * PAGE)
    assert touch(m, t, v) == 0
    # interleave_nid(): the VMA's page offset (vm_pgoff + index) modulo the node count
    want = [(v.vm_pgoff + i) % 2 for i in range(16)]
    assert nodes_of(m, t, v.vm_start, 16) == want


def test_bind_fails_with_enomem_when_its_nodes_are_full_while_others_are_not():
    m = machine(node_mib=16)
    m.physmem.set_oom_killer(None)          # the allocator alone: the slow path gives up
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    v = mmap(m, t, 24 * MiB)
    assert touch(m, t, v) == 0x1                                # VM_FAULT_OOM
    free = [0, 0]
    for z in m.physmem.zones_info():
        free[z["node"]] += z["free"]
    assert free[0] > 2048                                       # node 0 still has memory
    assert m.check_invariants() == []


def test_bind_full_nodes_invoke_the_oom_killer():
    # __alloc_pages_may_oom() is reached with the policy's nodemask (CONSTRAINT_MEMORY_POLICY in
    # the kernel): the only task is chosen, and its access stops with SIGKILL pending
    m = machine(node_mib=16)
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    v = mmap(m, t, 24 * MiB)
    assert touch(m, t, v) == 0
    assert t.sigkill_pending and t.oom_victim
    assert [k.pid for k in m.oom.kills] == [t.pid]


def test_preferred_without_nodes_is_local(m):
    t = spawn(m, 1)
    set_mempolicy(m, t, PREFERRED, [])
    assert task_mempolicy(t) == (LOCAL, 0, ())
    v = mmap(m, t, 4 * PAGE)
    assert touch(m, t, v) == 0 and set(nodes_of(m, t, v.vm_start, 4)) == {1}


def test_preferred_keeps_the_first_node(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, PREFERRED, [1, 0])
    assert task_mempolicy(t) == (PREFERRED, 0, (0,))


def test_nodes_without_memory_are_dropped(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1, 7])
    assert task_mempolicy(t) == (BIND, 0, (1,))


def test_relative_nodes_fold_onto_the_allowed_nodes(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [3], RELATIVE)                    # 3 mod 2 nodes -> the second
    assert task_mempolicy(t) == (BIND, RELATIVE, (1,))


def test_default_removes_the_policy(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    set_mempolicy(m, t, vm.MPOL_DEFAULT)
    assert task_mempolicy(t) is None


def test_page_cache_pages_follow_the_task_policy(m):
    # alloc_pages() for the page cache applies the task's policy (alloc_pages_current)
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    v = mmap(m, t, 4 * PAGE, "file", file="data")
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, False)[1] == 0
    assert set(nodes_of(m, t, v.vm_start, 4)) == {1}


def test_fork_and_clone_copy_the_task_policy(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, INTERLEAVE, [0, 1])
    child = m.fork(t, "child")
    thread = m.clone_thread(t, "thread")
    assert task_mempolicy(child) == task_mempolicy(thread) == (INTERLEAVE, 0, (0, 1))
    set_mempolicy(m, t, BIND, [0])                              # a copy, not shared
    assert task_mempolicy(child) == (INTERLEAVE, 0, (0, 1))
    m.exit_task(child)
    m.exit_task(thread)


# -- mpol_new(), sanitize_mpol_flags(), get_nodes(): the errnos --------------------------------

@pytest.mark.parametrize("mode, nodes, flags, kernel", [
    (BIND, [], 0, "v5.14"),                     # an empty nodemask
    (INTERLEAVE, [], 0, "v5.14"),
    (BIND, [5], 0, "v5.14"),                    # no node with memory left
    (BIND, [1024], 0, "v5.14"),                 # beyond MAX_NUMNODES
    (vm.MPOL_DEFAULT, [0], 0, "v5.14"),         # default takes no nodes
    (LOCAL, [0], 0, "v5.14"),                   # nor does local
    (PREFERRED, [], STATIC, "v5.14"),           # local allocation cannot be static
    (BIND, [0], STATIC | RELATIVE, "v5.14"),
    (INTERLEAVE, [0], BALANCING, "v5.14"),      # NUMA balancing goes with bind only
    (vm.MPOL_PREFERRED_MANY, [0], 0, "v5.14"),  # MPOL_PREFERRED_MANY is v5.15+
    (6, [0], 0, "v5.14"),                       # beyond MPOL_MAX
    (BIND, [0], 1 << 3, "v5.14"),               # an unknown mode flag
])
def test_set_mempolicy_einval(mode, nodes, flags, kernel):
    m = machine(kernel)
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    with pytest.raises(vm.MmError) as info:
        set_mempolicy(m, t, mode, nodes, flags)
    assert info.value.errno == "EINVAL"
    assert task_mempolicy(t) == (BIND, 0, (1,))                 # unchanged


def test_what_newer_kernels_accept():
    m = machine("v6.18")
    t = spawn(m, 0)
    set_mempolicy(m, t, vm.MPOL_PREFERRED_MANY, [1])
    set_mempolicy(m, t, vm.MPOL_PREFERRED_MANY, [1], BALANCING)
    set_mempolicy(m, t, BIND, [0, 1], BALANCING)
    assert task_mempolicy(t) == (BIND, BALANCING, (0, 1))


# -- mbind -------------------------------------------------------------------------------------

def test_mbind_splits_the_vma_at_the_range_edges(m):
    t = spawn(m, 0)
    v = mmap(m, t, 16 * PAGE)
    start = v.vm_start
    mbind(m, t, start + 4 * PAGE, 8 * PAGE, BIND, [1])
    spans = [(x.vm_start - start, x.vm_end - start, x.policy) for x in t.mm.vmas]
    assert spans == [(0, 4 * PAGE, None), (4 * PAGE, 12 * PAGE, (BIND, 0, (1,))), (12 * PAGE, 16 * PAGE, None)]
    for x in t.mm.vmas:
        assert touch(m, t, x) == 0
    assert nodes_of(m, t, start, 16) == [0] * 4 + [1] * 8 + [0] * 4
    # the same policy again changes nothing (mpol_equal): no further split
    mbind(m, t, start + 4 * PAGE, 4 * PAGE, BIND, [1])
    assert len(t.mm.vmas) == 3


def test_mbind_policy_wins_over_the_task_policy(m):
    t = spawn(m, 0)
    set_mempolicy(m, t, BIND, [1])
    v = mmap(m, t, 8 * PAGE)
    mbind(m, t, v.vm_start, 8 * PAGE, PREFERRED, [0])
    assert touch(m, t, v) == 0 and set(nodes_of(m, t, v.vm_start, 8)) == {0}


def test_mbind_interleave_across_a_range(m):
    t = spawn(m, 1)
    v = mmap(m, t, 32 * PAGE)
    mbind(m, t, v.vm_start, 32 * PAGE, INTERLEAVE, [0, 1])
    assert touch(m, t, v) == 0
    placed = nodes_of(m, t, v.vm_start, 32)
    assert placed.count(0) == placed.count(1) == 16


def test_mbind_leaves_pages_already_there(m):
    t = spawn(m, 0)
    v = mmap(m, t, 8 * PAGE)
    assert touch(m, t, v, npages=4) == 0
    mbind(m, t, v.vm_start, 8 * PAGE, BIND, [1])                # no MPOL_MF_MOVE
    assert touch(m, t, v) == 0
    assert nodes_of(m, t, v.vm_start, 8) == [0] * 4 + [1] * 4


@pytest.mark.parametrize("case, errno", [
    ("unaligned start", "EINVAL"),
    ("empty nodemask", "EINVAL"),
    ("hole at the head", "EFAULT"),
    ("hole in the middle", "EFAULT"),
    ("hole at the tail", "EFAULT"),
    ("nothing mapped, even for default", "EFAULT"),
])
def test_mbind_errnos(m, case, errno):
    t = spawn(m, 0)
    base = 0x600000000000
    mmap(m, t, 8 * PAGE, hint=base)
    mmap(m, t, 8 * PAGE, hint=base + 12 * PAGE)               # a 4-page hole between them
    start, length, mode, nodes = {
        "unaligned start": (base + 100, PAGE, BIND, [1]),
        "empty nodemask": (base, PAGE, BIND, []),
        "hole at the head": (base - 2 * PAGE, 4 * PAGE, BIND, [1]),
        "hole in the middle": (base, 20 * PAGE, BIND, [1]),
        "hole at the tail": (base + 12 * PAGE, 12 * PAGE, BIND, [1]),
        "nothing mapped, even for default": (base + 8 * PAGE, 4 * PAGE, vm.MPOL_DEFAULT, []),
    }[case]
    with pytest.raises(vm.MmError) as info:
        mbind(m, t, start, length, mode, nodes)
    assert info.value.errno == errno
    assert [x.policy for x in t.mm.vmas] == [None, None]
    assert len(t.mm.vmas) == 2


def test_mbind_default_tolerates_holes(m):
    t = spawn(m, 0)
    base = 0x600000000000
    a = mmap(m, t, 8 * PAGE, hint=base)
    b = mmap(m, t, 8 * PAGE, hint=base + 12 * PAGE)
    a.set_policy(BIND, (1,))
    b.set_policy(BIND, (1,))
    mbind(m, t, base, 20 * PAGE, vm.MPOL_DEFAULT)              # MPOL_MF_DISCONTIG_OK
    assert a.policy is None and b.policy is None


def test_mbind_of_a_zero_length_does_nothing(m):
    t = spawn(m, 0)
    mbind(m, t, 0x600000000000, 0, BIND, [])                   # returns before mpol_new


def test_preferred_many_tries_its_nodes_first_then_any():
    """alloc_pages_preferred_many() (v5.15+): the local node is not among the policy's nodes,
    so pages land on the policy's node until it is full, then anywhere."""
    m = machine("v6.18", node_mib=32)
    t = spawn(m, cpu=0)
    set_mempolicy(m, t, vm.MPOL_PREFERRED_MANY, (1,))
    v = mmap(m, t, 48 * MiB)
    assert touch(m, t, v) == 0
    nodes = nodes_of(m, t, v.vm_start, (48 * MiB) // PAGE)
    assert nodes[0] == 1 and nodes[-1] == 0
    assert nodes.count(1) > nodes.count(0)
    assert m.check_invariants() == []


def test_mbind_on_a_shmem_mapping_places_its_pages(m):
    """shmem pages follow the mapping's (shared) policy, not the task's (shmem_set_policy ->
    mpol_set_shared_policy, shmem_alloc_folio -> mpol_shared_policy_lookup)."""
    t = spawn(m, cpu=0)
    v = mmap(m, t, 16 * PAGE, "shared")
    mbind(m, t, v.vm_start, 16 * PAGE, BIND, (1,))
    assert touch(m, t, v) == 0
    assert set(nodes_of(m, t, v.vm_start, 16)) == {1}
