"""Shrinkers (memsim.shrinker: include/linux/shrinker.h, mm/shrinker.c of v6.18, mm/vmscan.c of
v5.14): registration in each profile's terms, do_shrink_slab's arithmetic, shrink_slab from
reclaim and drop_slab's loop per profile.

The one real cache memsim's core has for a shrinker is the workingset's shadow nodes (the
"mm-shadow" shrinker, registered at boot: the last test); the VFS's dentries are the pseudo
filesystems' tree, the built-in file mappings have no dentry or inode cache, SLUB has no
shrinker.  The other tests register a test cache: ``objects`` free objects that scan_objects
frees."""
import pytest

from memsim import vm
from memsim.errors import PluginError
from memsim.machine import Machine, MachineSpec
from memsim.shrinker import (PY_DEFAULT_SEEKS, PY_SHRINK_BATCH, PY_SHRINK_EMPTY, PY_SHRINK_STOP,
                             PY_SHRINKER_MEMCG_AWARE, PY_SHRINKER_NUMA_AWARE, Shrinker, ShrinkerList)
from memsim.vmstat import vm_event_item as EV
from memsim.testing import with_page_cache

MiB = 1 << 20
PAGE = 4096


class Cache:
    """A test cache of ``objects`` objects per node; records every call."""

    def __init__(self, objects, nodes=1, numa=False):
        self.objects = [objects] * nodes
        self.numa = numa
        self.calls = []
        self.stop = False
        self.scan_less = None           # scan_objects reports this many scanned

    def count(self, sc):
        self.calls.append(("count", sc.nid, sc.gfp_mask))
        n = self.objects[sc.nid] if self.numa else sum(self.objects)
        return n if n else PY_SHRINK_EMPTY

    def scan(self, sc):
        self.calls.append(("scan", sc.nid, sc.nr_to_scan))
        if self.stop:
            return PY_SHRINK_STOP
        nid = sc.nid if self.numa else max(range(len(self.objects)), key=lambda i: self.objects[i])
        n = min(sc.nr_to_scan, self.objects[nid])
        self.objects[nid] -= n
        if self.scan_less is not None:
            sc.nr_scanned = self.scan_less
        return n


def machine(kernel="v6.18", nodes=(64 * MiB,)):
    return Machine(MachineSpec(cpus=1, nodes=nodes, kernel=kernel), with_slab=False)


def register(m, cache, seeks=PY_DEFAULT_SEEKS, batch=0, name="test_cache"):
    flags = PY_SHRINKER_NUMA_AWARE if cache.numa else 0
    if m.shrinkers.api == "shrinker_alloc":
        s = m.shrinkers.shrinker_alloc_py(flags, name, cache.count, cache.scan, seeks, batch)
    else:
        s = Shrinker(cache.count, cache.scan, seeks, batch, flags, name)
    m.shrinkers.register(s)
    return s


@pytest.mark.parametrize("kernel,api", [("v5.14", "register_shrinker"), ("v6.18", "shrinker_alloc")])
def test_each_profile_registers_in_its_kernels_terms(kernel, api):
    m = machine(kernel)
    assert m.shrinkers.api == api
    s = register(m, Cache(10))
    assert s.registered and len(m.shrinkers) == 2        # after the core's mm-shadow
    assert [x[1] for x in m.shrinkers.shrinkers()] == ["mm-shadow", "test_cache"]
    m.shrinkers.unregister(s)
    assert not s.registered and len(m.shrinkers) == 1
    if kernel == "v5.14":
        # 6.7 added shrinker_alloc; a 5.14 kernel has only register_shrinker
        with pytest.raises(PluginError, match="register_shrinker"):
            m.shrinkers.shrinker_alloc_py(0, "x", len, len)


def test_registering_twice_is_refused():
    m = machine()
    s = register(m, Cache(10))
    with pytest.raises(ValueError, match="already registered"):
        m.shrinkers.register(s)


def test_at_priority_12_a_small_cache_is_left_alone_and_the_work_deferred():
    # delta = (freeable >> 12) * 4 / seeks: 10000 >> 12 = 2 -> delta 4; total_scan 4 is below
    # the batch (128) and below freeable, so nothing is scanned and the 4 go to nr_deferred
    m = machine()
    c = Cache(10000)
    s = register(m, c)
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 12) == 0
    assert [k for k, *_ in c.calls] == ["count"]
    assert s.nr_deferred == (4,)
    m.shrinkers.py_shrink_slab(0xcc0, 0, 12)
    assert s.nr_deferred == (8,)                    # nr + delta - scanned (0)


def test_priority_0_scans_in_batches_and_caps_the_deferred_work_at_twice_the_cache():
    # freeable 1000 at priority 0: delta = 1000 * 4 / 2 = 2000, total_scan = min(2000, 2000);
    # batches of 128 while total_scan >= 128 (15 batches: 1920 scanned, 80 left); the cache
    # empties after 8 of them; next_deferred = 0 + 2000 - 1920 = 80
    m = machine()
    c = Cache(1000)
    s = register(m, c)
    vs = m.physmem.vmstat
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 0) == 1000
    scans = [n for k, _, n in c.calls if k == "scan"]
    assert scans == [PY_SHRINK_BATCH] * 15
    assert s.nr_deferred == (80,)
    assert vs.vm_event(EV.SLABS_SCANNED) == 15 * 128
    # an empty cache: count returns SHRINK_EMPTY, nothing else happens, the deferral stays
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 0) == 0
    assert s.nr_deferred == (80,)


def test_seeks_0_trims_half_the_cache_whatever_the_priority():
    m = machine()
    c = Cache(1000)
    register(m, c, seeks=0)
    # delta = freeable / 2 = 500: 3 batches of 128 (384), then 116 < 128 and < 1000 stops
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 12) == 384


def test_a_cache_smaller_than_a_batch_is_scanned_whole_when_total_scan_reaches_it():
    m = machine()
    c = Cache(50)
    register(m, c)
    # priority 0: delta = 200, total_scan = min(200, 100) = 100 >= freeable 50: scan
    # min(128, 100) = 100 at once
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 0) == 50
    assert [n for k, _, n in c.calls if k == "scan"] == [100]


def test_shrink_stop_ends_the_scan_and_defers_the_rest():
    m = machine()
    c = Cache(1000)
    c.stop = True
    s = register(m, c)
    assert m.shrinkers.py_shrink_slab(0xcc0, 0, 0) == 0
    assert [k for k, *_ in c.calls] == ["count", "scan"]
    assert s.nr_deferred == (2000,)                 # min(0 + 2000 - 0, 2 * 1000)


def test_scan_objects_may_say_it_scanned_fewer_objects():
    m = machine()
    c = Cache(1000)
    c.scan_less = 64
    register(m, c, batch=128)
    m.shrinkers.py_shrink_slab(0xcc0, 0, 0)
    # total_scan 2000 goes down by 64 per call: batches until it is below 128
    assert len([k for k, *_ in c.calls if k == "scan"]) == (2000 - 128) // 64 + 1


def test_numa_aware_shrinkers_defer_per_node():
    m = machine(nodes=(64 * MiB, 64 * MiB))
    aware = Cache(10000, nodes=2, numa=True)
    plain = Cache(10000)
    sa = register(m, aware, name="aware")
    sp = register(m, plain, name="plain")
    m.shrinkers.py_shrink_slab(0xcc0, 1, 12)
    assert sa.nr_deferred == (0, 4)
    assert sp.nr_deferred == (4,)                   # not NUMA aware: one count, node 0's slot
    assert aware.calls[0][1] == 1 and plain.calls[0][1] == 1     # both are told the node


def test_a_python_error_in_a_shrinker_propagates():
    m = machine()

    def bad(sc):
        raise RuntimeError("broken cache")
    s = (m.shrinkers.shrinker_alloc_py(0, "bad", bad, bad))
    m.shrinkers.register(s)
    with pytest.raises(RuntimeError, match="broken cache"):
        m.shrinkers.py_shrink_slab(0xcc0, 0, 0)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_drop_slab_loops_per_node_on_v514_and_over_all_nodes_on_v618(kernel):
    # drop_slab: ``while ((freed >> shift++) > 1)``; v5.14's drop_slab_node loops on one node
    # before the next, v6.18's drop_slab runs every node in each round
    m = machine(kernel, nodes=(64 * MiB, 64 * MiB))
    c = Cache(300, nodes=2, numa=True)
    register(m, c)
    freed = m.shrinkers.drop_slab(kernel == "v5.14")
    assert freed == 600 and c.objects == [0, 0]
    nids = [nid for k, nid, _ in c.calls if k == "count"]
    if kernel == "v5.14":
        assert nids == [0, 0, 1, 1]                 # node 0 until it frees nothing, then node 1
    else:
        assert nids == [0, 1, 0, 1]


def test_direct_reclaim_shrinks_the_slab_after_each_lruvec_pass():
    # shrink_node(): shrink_lruvec, then shrink_slab(sc->gfp_mask, nid, memcg, sc->priority)
    m = with_page_cache(machine("v5.14", nodes=(32 * MiB,)))
    c = Cache(100000)
    register(m, c)
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * MiB, "r", "file", totalram=total)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    counts = [c for c in c.calls if c[0] == "count"]
    assert counts                                   # reclaim ran and asked the cache
    assert all(gfp == 0x1100cca or gfp & 0xcc0 == 0xcc0 for _, _, gfp in counts)


def test_a_shrinker_cannot_unregister_itself_while_it_is_scanned():
    # the kernel would wait for the shrinker_rwsem shrink_slab holds (v5.14) or the shrinker's
    # own reference (shrinker_free, v6.18): a deadlock; memsim refuses it
    m = machine()
    c = Cache(1000)
    holder = {}

    def scan(sc):
        m.shrinkers.unregister(holder["s"])
        return c.scan(sc)
    holder["s"] = s = m.shrinkers.shrinker_alloc_py(0, "self", c.count, scan)
    m.shrinkers.register(s)
    with pytest.raises(PluginError, match="deadlock"):
        m.shrinkers.py_shrink_slab(0xcc0, 0, 0)
    assert s.registered
    m.shrinkers.unregister(s)                       # outside its callbacks it may
    assert len(m.shrinkers) == 1                    # the core's mm-shadow


def test_bad_arguments_are_refused():
    m = machine()
    with pytest.raises(TypeError):
        Shrinker(1, 2)
    with pytest.raises(ValueError, match="flags"):
        Shrinker(len, len, flags=0x1000)
    with pytest.raises(ValueError, match="no node"):
        m.shrinkers.py_shrink_slab(0xcc0, 3, 0)
    with pytest.raises(ValueError, match="api"):
        ShrinkerList(m.physmem, "kmem_cache")


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_reclaim_prunes_shadow_nodes_through_the_mm_shadow_shrinker(kernel):
    # workingset_init() registers the shadow-node shrinker (seeks 0, NUMA and memcg aware):
    # streaming a file 16 times the size of a 16 MiB node leaves more shadow-only xa_nodes than
    # the node's limit (present pages / 8), and reclaim's shrink_slab frees some of them
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(16 * MiB,), kernel=kernel), with_slab=False))
    _, name, flags, seeks, _, _ = m.shrinkers.shrinkers()[0]
    assert (name, seeks) == ("mm-shadow", 0)
    assert flags & (PY_SHRINKER_NUMA_AWARE | PY_SHRINKER_MEMCG_AWARE) == PY_SHRINKER_NUMA_AWARE | PY_SHRINKER_MEMCG_AWARE
    t = m.spawn("reader")
    m.set_current(t)
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 256 * MiB, "r", "file", file="big", totalram=m.overcommit)
    assert m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, False)[1] == 0
    vs = m.physmem.vmstat
    assert vs.vm_event(EV.SLABS_SCANNED) > 0
    from memsim.vmstat import node_stat_item as NS
    assert vs.global_node_page_state_snapshot(NS.WORKINGSET_NODERECLAIM) > 0
    assert m.check_invariants() == []
