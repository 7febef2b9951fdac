"""memsim.tracing.events: declarations, registry, set_event semantics, binding, emit/decode."""
import pytest

from memsim.ring import Clock, TraceBuffer
from memsim.tracing.events import (CORE_EVENTS, DEFAULT_ID_BASE, EventDecl, EventRegistry, Field,
                                   layout_fields)
from memsim.tracing.kmem import kmem_events

M64 = (1 << 64) - 1


class FakeBuffer:
    """Records what EventRegistry.bind tells a TraceBuffer."""

    def __init__(self):
        self.slots = {}
        self.enabled = {}
        self.written = []

    def bind_core_event(self, slot, type_id, fixed_size, offsets, sizes, str_off, flags, preempt):
        self.slots[slot] = (type_id, fixed_size, list(offsets), list(sizes), str_off, flags,
                            preempt)

    def set_core_enabled(self, slot, on):
        self.enabled[slot] = on

    def write_record(self, cpu, rec):
        self.written.append((cpu, rec))


def names(profile):
    return [d.name for d in kmem_events(profile)]


# -- declarations ------------------------------------------------------------------------------
def test_kmem_event_sets():
    common = {"rss_stat", "mm_page_alloc", "mm_page_free", "mm_page_free_batched",
              "mm_page_alloc_zone_locked", "mm_page_pcpu_drain", "kmalloc", "kfree",
              "kmem_cache_alloc", "kmem_cache_free"}
    assert set(names("v5.14")) == common | {"kmalloc_node", "kmem_cache_alloc_node"}
    assert common <= set(names("v6.18"))
    assert not {"kmalloc_node", "kmem_cache_alloc_node"} & set(names("v6.18"))
    with pytest.raises(KeyError, match="known: v5.14, v6.18"):
        kmem_events("v4.19")


@pytest.mark.parametrize("profile,event,size", [
    ("v5.14", "rss_stat", 32), ("v5.14", "mm_page_free", 24), ("v5.14", "mm_page_alloc", 32),
    ("v5.14", "kmem_cache_free", 32), ("v5.14", "kmalloc", 48), ("v5.14", "kmalloc_node", 48),
    ("v6.18", "mm_page_alloc", 40), ("v6.18", "kmalloc", 56), ("v6.18", "kmem_cache_alloc", 64),
    ("v6.18", "mm_page_free_batched", 16),
])
def test_fixed_size_is_struct_size(profile, event, size):
    d = next(d for d in kmem_events(profile) if d.name == event)
    assert d.fixed_size == size


def test_v514_layout_section_4():
    """tracepoints.md 4: gfp_t is 4 bytes, kmalloc has no node, *_node add node at 44."""
    d = {x.name: x for x in kmem_events("v5.14")}
    assert [(f.name, f.offset, f.size) for f in d["kmalloc"].fields] == [
        ("call_site", 8, 8), ("ptr", 16, 8), ("bytes_req", 24, 8), ("bytes_alloc", 32, 8),
        ("gfp_flags", 40, 4)]
    assert d["kmalloc_node"].field("node").offset == 44
    assert [(f.name, f.offset, f.size) for f in d["mm_page_alloc"].fields] == [
        ("pfn", 8, 8), ("order", 16, 4), ("gfp_flags", 20, 4), ("migratetype", 24, 4)]
    assert d["mm_page_alloc_zone_locked"].fixed_size == 24
    assert d["kmem_cache_free"].field("name") == Field("__data_loc char[]", "name", 24, 4, True)


def test_core_declarations_cover_their_value_order(profile_name):
    """Every field of a core event is a value the core passes (or its one string)."""
    for d in kmem_events(profile_name):
        if d.core_slot is None:
            continue
        system, name, order = CORE_EVENTS[d.core_slot]
        assert (system, name) == (d.system, d.name)
        numeric = [f.name for f in d.fields if not f.is_data_loc]
        assert set(numeric) <= set(order), d.name
        assert sum(f.is_data_loc for f in d.fields) <= 1


def test_decl_validation():
    with pytest.raises(ValueError, match="overlaps"):
        EventDecl("t", "e", (Field("int", "a", 8, 4, True), Field("int", "b", 10, 4, True)), '""')
    with pytest.raises(ValueError, match="core slot 0 belongs to kmem:rss_stat"):
        EventDecl("t", "e", (), '""', core_slot=0)
    with pytest.raises(ValueError, match="duplicate"):
        EventDecl("t", "e", layout_fields([("int", "a", 4, True), ("int", "a", 4, True)]), '""')


# -- registry ------------------------------------------------------------------------------------
def test_ids_in_registration_order_and_duplicates(kmem_registry):
    reg = kmem_registry("v6.18", enable=None)
    ids = [i for i, _ in reg.items()]
    assert ids == list(range(DEFAULT_ID_BASE, DEFAULT_ID_BASE + len(reg)))
    assert reg.by_id(reg.id_of("kmem:kfree")) is reg.get("kmem:kfree")
    with pytest.raises(ValueError, match="already registered"):
        reg.add(reg.get("kmem:kfree"))
    other = EventRegistry(id_base=300)
    d = reg.get("kmem:rss_stat")
    assert other.add(d) == 300
    with pytest.raises(KeyError, match="did you mean 'kmem:rss_stat'"):
        reg.get("kmem:rss_sta")


@pytest.mark.parametrize("pattern,expected", [
    ("kmem:rss_stat", {"kmem:rss_stat"}),
    ("rss_stat", {"kmem:rss_stat"}),
    ("kmem:mm_page_free*", {"kmem:mm_page_free", "kmem:mm_page_free_batched"}),
    (":kfree", {"kmem:kfree"}),
])
def test_set_event_patterns(kmem_registry, pattern, expected):
    reg = kmem_registry("v5.14", enable=None)
    assert set(reg.enable(pattern)) == expected


@pytest.mark.parametrize("pattern", ["kmem", "kmem:*", "*:*", "all", "*", "kmem:"])
def test_set_event_everything(kmem_registry, pattern):
    reg = kmem_registry("v5.14", enable=None)
    assert reg.enable(pattern) == [d.full_name for d in reg]


def test_set_event_disable_and_errors(kmem_registry):
    reg = kmem_registry("v5.14", enable=None)
    reg.enable(["kmem:*", "!kmem:kfree", "!mm_page_free_batched"])
    assert "kmem:kfree" not in reg.enabled() and "kmem:mm_page_free_batched" not in reg.enabled()
    assert reg.is_enabled("kmem:rss_stat")
    reg.disable("kmem")
    assert reg.enabled() == []
    reg.enable("kmem:kfree")
    assert reg.enable("kmem:rss_stat", append=False) == ["kmem:rss_stat"]   # "> set_event"
    with pytest.raises(ValueError):
        reg.enable("kmem:kfree nothing-here")
    assert reg.enabled() == ["kmem:rss_stat"]                                # unchanged
    with pytest.raises(ValueError, match=r"set_event: no trace event matches 'kmem:rss_stats'; "
                                         r"did you mean 'kmem:rss_stat'\?"):
        reg.enable("kmem:rss_stats")
    with pytest.raises(ValueError, match="did you mean 'kmem'"):
        reg.enable("kmme")


def test_bind_fake_buffer_v514(kmem_registry):
    reg = kmem_registry("v5.14", enable="kmem:kmalloc kmem:kmem_cache_free")
    tb = FakeBuffer()
    reg.bind(tb)
    type_id, size, offs, sizes, str_off, flags, preempt = tb.slots[3]
    assert (type_id, size, str_off) == (reg.id_of("kmem:kmalloc"), 48, 0xFFFF)
    assert offs == [8, 16, 24, 32, 40, 0] and sizes == [8, 8, 8, 8, 4, 0]  # no node on 5.14
    assert tb.slots[6][4] == 24                                           # name's data_loc
    assert tb.slots[11][3] == [8, 8, 8, 8, 4, 4, 0]                       # node, no accounted
    assert tb.enabled == {s: s in (3, 6) for s in tb.slots}
    reg.enable("kmem:rss_stat")                                           # updates bound buffers
    assert tb.enabled[0] is True
    assert set(tb.slots) == {d.core_slot for d in reg if d.core_slot is not None}


def test_bind_v618_flags_and_preempt(kmem_registry):
    reg = kmem_registry("v6.18")
    tb = FakeBuffer()
    reg.bind(tb)
    assert tb.slots[0][5:] == (0, 1)          # rss_stat: ...1.
    assert tb.slots[1][5:] == (0, 0)          # mm_page_alloc: .....
    assert tb.slots[5][2] == [8, 16, 32, 40, 48, 56, 60] and tb.slots[5][4] == 24
    assert tb.slots[5][3] == [8, 8, 8, 8, 8, 4, 1]


def test_bind_real_buffer_enable_state(kmem_registry):
    reg = kmem_registry("v6.18", enable="kmem:rss_stat")
    tb = TraceBuffer(2, 16)
    reg.bind(tb)
    assert tb.core_enabled(0) and not tb.core_enabled(1)
    assert not tb.core_enabled(10)            # no kmalloc_node on 6.18: slot stays unbound
    reg.enable("!rss_stat kmem:mm_page_alloc")
    assert not tb.core_enabled(0) and tb.core_enabled(1)


# -- emit / decode -----------------------------------------------------------------------------
def test_emit_disabled_is_noop(kmem_registry):
    reg = kmem_registry("v5.14", enable=None)
    tb = FakeBuffer()
    reg.emit(tb, 0, 1, "kmem:kfree", call_site=1, ptr=2)
    assert tb.written == []
    with pytest.raises(KeyError):
        reg.emit(tb, 0, 1, "kmem:nope", call_site=1)


def test_emit_decode_round_trip(kmem_registry, profile_name):
    reg = kmem_registry(profile_name)
    tb = FakeBuffer()
    reg.emit(tb, 1, 4321, "kmem:rss_stat", mm_id=0xDEADBEEF, curr=1, member=-1, size=-40960)
    reg.emit(tb, 0, 7, "kmem:mm_page_alloc", pfn=-1, order=3, gfp_flags=0x440CC0, migratetype=2,
             _common_flags=0x11, _preempt_count=2)
    reg.emit(tb, 0, 7, "kmem:kmem_cache_free", call_site=0xFFFFFFFF81000010,
             ptr=0xFFFF888100000040, name="vm_area_struct")
    (c0, r0), (c1, r1), (c2, r2) = tb.written
    d, v = reg.decode(r0)
    assert (c0, d.full_name) == (1, "kmem:rss_stat")
    assert v == {"common_type": reg.id_of("kmem:rss_stat"), "common_flags": 0,
                 "common_preempt_count": d.preempt_count, "common_pid": 4321,
                 "mm_id": 0xDEADBEEF, "curr": 1, "member": -1, "size": -40960}
    d, v = reg.decode(r1)
    assert (v["pfn"], v["order"], v["gfp_flags"], v["migratetype"]) == (M64, 3, 0x440CC0, 2)
    assert (v["common_flags"], v["common_preempt_count"]) == (0x11, 2)
    d, v = reg.decode(r2)
    assert v["name"] == "vm_area_struct" and v["ptr"] == 0xFFFF888100000040
    assert len(r2) == d.fixed_size + len("vm_area_struct") + 1


def test_emit_rejects_unknown_and_missing_fields(kmem_registry):
    reg = kmem_registry("v5.14")
    tb = FakeBuffer()
    with pytest.raises(TypeError, match="missing value for field 'ptr'"):
        reg.emit(tb, 0, 1, "kmem:kfree", call_site=1)
    with pytest.raises(TypeError, match="no field"):
        reg.emit(tb, 0, 1, "kmem:kfree", call_site=1, ptr=0, bogus=3)


def test_fields_named_cpu_and_pid_are_allowed():
    reg = EventRegistry()
    reg.add(EventDecl("test", "ev", layout_fields([("int", "cpu", 4, True),
                                                    ("int", "pid", 4, True)]),
                      '"cpu=%d pid=%d", REC->cpu, REC->pid'))
    reg.enable("test")
    tb = FakeBuffer()
    reg.emit(tb, 0, 99, "test:ev", cpu=3, pid=-4)
    assert reg.decode(tb.written[0][1])[1]["pid"] == -4


@pytest.mark.parametrize("slot,values,s", [
    (0, [0x12345678, 1, 1, 4096 * 10], None),
    (1, [M64, 2, 0x1100DCA, 1], None),
    (3, [0xFFFFFFFF81000123, 0xFFFF888100001000, 100, 128, 0xCC0, M64], None),
    (6, [0xFFFFFFFF81000123, 0xFFFF888100001000], "anon_vma_chain"),
])
def test_registry_emit_matches_core_emit_bytes(kmem_registry, profile_name, slot, values, s):
    """The Python packer and the Cython core write identical records for a declaration."""
    reg = kmem_registry(profile_name)
    tb = TraceBuffer(1, 16, Clock(1000))
    reg.bind(tb)
    tb.emit_core(slot, 0, 42, values, s)
    d = next(x for x in reg if x.core_slot == slot)
    kw = {n: v for n, v in zip(CORE_EVENTS[slot][2], values) if any(f.name == n for f in d.fields)}
    if s is not None:
        kw[d.string_field.name] = s
    reg.emit(tb, 0, 42, d.full_name, **kw)
    (_, core), (_, py) = list(tb.records(0))
    assert core == py
    assert reg.decode(core)[0] is d


def test_a_record_longer_than_a_sub_buffer_is_refused_not_written_past_the_page():
    """ring_buffer.c refuses a reservation larger than a page (BUF_MAX_DATA_SIZE); memsim's ring
    raises instead of writing past the end of its sub-buffer."""
    tb = TraceBuffer(1, 64, Clock(5))
    tb.write_record(0, b"x" * 4072)                     # 4080 bytes with its 8-byte header: fits
    with pytest.raises(ValueError, match="does not fit a 4096-byte sub-buffer"):
        tb.write_record(0, b"x" * 4073)
    assert tb.stats() == [(1, 0)]
    assert [len(p) for _, p in tb.records(0)] == [4072]
