"""The buddy allocator, per-CPU lists, watermarks and pageblock isolation (mm/page_alloc.c)."""
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from memsim.physmem import PhysMem
from memsim.ring import TraceBuffer
from memsim.task import Current

MiB = 1 << 20
GFP_KERNEL = 0xCC0
GFP_HIGHUSER_MOVABLE = 0x1100CCA
GFP_COMP_ = 0x40000
GFP_THISNODE_ = 0x200000


def make(nodes=(64 * MiB,), cpus=1, pcp=True):
    pm = PhysMem(list(nodes), cpus, TraceBuffer(cpus), Current())
    pm.pcp_enabled = pcp
    return pm


def test_struct_page_is_64_bytes():
    assert PhysMem.sizeof_page() == 64


def test_fresh_zone_is_all_max_order_blocks():
    pm = make()
    # 64 MiB: DMA (16 MiB = 4 blocks of 4 MiB) and DMA32 (48 MiB = 12 blocks)
    assert pm.free_counts(0, "DMA") == [0] * 10 + [4]
    assert pm.free_counts(0, "DMA32") == [0] * 10 + [12]
    assert pm.nr_free_pages() == 16384
    assert pm.check_invariants() == []


def test_split_takes_the_smallest_block_and_expands():
    pm = make(pcp=False)
    pfn = pm.alloc(0, GFP_KERNEL)
    # one order-10 block split down: one free block at each order 0..9
    assert pm.free_counts(0, "DMA32") == [1] * 10 + [11]
    assert pm.page_info(pfn)["refcount"] == 1
    assert pm.check_invariants() == []


def test_free_merges_buddies_back():
    pm = make(pcp=False)
    pfns = [pm.alloc(0, GFP_KERNEL) for _ in range(5)]
    for p in pfns:
        pm.free(p)
    assert pm.free_counts(0, "DMA32") == [0] * 10 + [12]
    assert pm.check_invariants() == []


def test_orders_and_compound_pages():
    pm = make(pcp=False)
    head = pm.alloc(9, GFP_KERNEL | GFP_COMP_)
    assert head % 512 == 0
    tail = pm.page_info(head + 5)
    assert tail["compound_head"] == head
    assert pm.page_info(head)["compound_order"] == 9
    pm.free(head, 9)
    assert pm.page_info(head + 5)["compound_head"] == 0
    assert pm.check_invariants() == []


def test_pcp_refill_takes_a_batch():
    pm = make()
    zone = [z for z in pm.zones_info() if z["zone"] == "DMA32"][0]
    batch = zone["pcp"][0]["batch"]
    pm.alloc(0, GFP_HIGHUSER_MOVABLE)
    zone = [z for z in pm.zones_info() if z["zone"] == "DMA32"][0]
    assert zone["pcp"][0]["count"] == batch - 1
    assert pm.nr_pcp_pages() == batch - 1
    assert pm.check_invariants() == []


def test_pcp_drains_at_high():
    pm = make()
    pfns = [pm.alloc(0, GFP_HIGHUSER_MOVABLE) for _ in range(2000)]
    for p in pfns:
        pm.free(p)
    zone = [z for z in pm.zones_info() if z["zone"] == "DMA32"][0]
    assert zone["pcp"][0]["count"] < zone["pcp"][0]["high"]
    pm.drain_all_pages()
    assert pm.nr_pcp_pages() == 0
    assert pm.nr_free_pages() == 16384
    assert pm.check_invariants() == []


def test_watermark_min_stops_allocation():
    pm = make(nodes=(16 * MiB,), pcp=False)      # DMA only
    got = 0
    while pm.alloc(0, GFP_KERNEL) is not None:
        got += 1
    zone = pm.zones_info()[0]
    assert zone["free"] <= zone["min"] + 1
    assert got == 4096 - zone["free"]
    assert pm.check_invariants() == []


def test_thisnode_stays_on_its_node():
    pm = make(nodes=(16 * MiB, 16 * MiB), pcp=False)
    n1 = pm.node_range(1)
    while True:
        p = pm.alloc(0, GFP_KERNEL | GFP_THISNODE_, 1)
        if p is None:
            break
        assert n1[0] <= p < n1[1]
    # without THISNODE the allocation falls back to node 0
    p = pm.alloc(0, GFP_KERNEL, 1)
    assert p is not None and p < n1[0]


def test_one_tib_machine_builds_lazily():
    pm = make(nodes=(1 << 40,))
    assert pm.nr_free_pages() == (1 << 40) >> 12
    p = pm.alloc(0, GFP_KERNEL)
    assert p is not None


def test_isolation_primitive():
    pm = make(pcp=False)
    start = 8192
    old = pm.start_isolate_page_range(start, start + 512)
    assert old == [1]                               # MIGRATE_MOVABLE
    assert pm.get_pageblock_migratetype(start) == 5   # MIGRATE_ISOLATE
    assert pm.test_pages_isolated(start, start + 512) == 0
    # an isolated block is not handed out
    for _ in range(200):
        p = pm.alloc(0, GFP_HIGHUSER_MOVABLE)
        assert not (start <= p < start + 512)
    taken = pm.isolate_freepages_range(start, start + 512)
    assert taken == 512
    for p in range(start, start + 512):
        pm.free(p)
    pm.undo_isolate_page_range(start, start + 512, old)
    assert pm.get_pageblock_migratetype(start) == 1
    assert pm.check_invariants() == []


def test_isolation_refuses_busy_unmovable_block():
    pm = make(pcp=False)
    p = pm.alloc(0, GFP_KERNEL)                      # an unmovable allocation
    pb = p & ~511
    assert pm.get_pageblock_migratetype(pb) == 0     # stolen for MIGRATE_UNMOVABLE
    assert pm.start_isolate_page_range(pb, pb + 512) is None
    assert pm.get_pageblock_migratetype(pb) == 0


class BuddyModel(RuleBasedStateMachine):
    """The allocator against a simple model: allocated blocks never overlap, the free count
    is total minus what is out, and the core's own invariants hold after every step."""

    def __init__(self):
        super().__init__()
        self.pm = make(nodes=(32 * MiB,), cpus=2)
        self.total = self.pm.nr_free_pages()
        self.blocks = {}

    @rule(order=st.integers(0, 10), movable=st.booleans(), cpu=st.integers(0, 1))
    def alloc(self, order, movable, cpu):
        self.pm.set_current(cpu, 1)
        gfp = (GFP_HIGHUSER_MOVABLE if movable else GFP_KERNEL) | (GFP_COMP_ if order else 0)
        p = self.pm.alloc(order, gfp)
        if p is None:
            return
        assert p % (1 << order) == 0
        for q, o in self.blocks.items():
            assert p + (1 << order) <= q or q + (1 << o) <= p, "overlapping allocations"
        self.blocks[p] = order

    @precondition(lambda self: self.blocks)
    @rule(data=st.data(), cpu=st.integers(0, 1))
    def free(self, data, cpu):
        self.pm.set_current(cpu, 1)
        p = data.draw(st.sampled_from(sorted(self.blocks)))
        self.pm.free(p, self.blocks.pop(p))

    @rule()
    def drain(self):
        self.pm.drain_all_pages()

    @invariant()
    def counts(self):
        out = sum(1 << o for o in self.blocks.values())
        assert self.pm.nr_free_pages() + self.pm.nr_pcp_pages() + out == self.total
        assert self.pm.check_invariants() == []


TestBuddyModel = BuddyModel.TestCase
TestBuddyModel.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
