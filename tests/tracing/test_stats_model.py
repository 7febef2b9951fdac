"""``trace stats`` from column batches against a per-record model (STYLE 13).

:class:`memsim.tracing.stats.TraceStats` computes every section from column batches with the
Cython kernels of :mod:`memsim.tracing._colstats` (and a row-by-row path for tables whose columns
are not integer arrays).  :class:`Model` below is the straightforward per-record reading of the
same rules (tracepoints.md 3-5, 9; FORMAT-NOTES 10): what the document must be.  Random records of
every event the stats read -- odd values included (strings where numbers belong, missing fields,
unsigned 64-bit values, unknown members, ``<...>`` comms, two systems with an ``rss_stat``) --
go through both, in batches of random sizes; the documents must be equal.
"""
import os
from array import array

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memsim.tracing import _colstats
from memsim.tracing.columns import ColumnBuilder
from memsim.tracing.record import Record
from memsim.tracing.stats import (MmLives, RssCounter, TraceStats, alloc_failed, filemap_key,
                                  folio_order, memcg_id, rss_member)

EXAMPLES = settings(max_examples=int(os.environ.get("MEMSIM_FUZZ_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Model:
    """One record at a time, plain Python: the reference of every section."""

    def __init__(self, timeline=False):
        self.st = TraceStats(timeline=timeline)      # its as_dict() renders the model's state
        self.st.mms = MmLives()                      # of the Python MmRss, fed row by row
        self.timeline = timeline

    def add(self, rec):
        s, f = self.st, rec.fields
        s.total += 1
        s.by_event[rec.full_name] = s.by_event.get(rec.full_name, 0) + 1
        s.by_cpu[rec.cpu] = s.by_cpu.get(rec.cpu, 0) + 1
        p = s.pids.get(rec.pid)
        if p is None:
            s.pids[rec.pid] = [1, rec.comm]
        else:
            p[0] += 1
            if rec.comm != "<...>":
                p[1] = rec.comm
        s.first_ts = rec.ts if s.first_ts is None else min(s.first_ts, rec.ts)
        s.last_ts = rec.ts if s.last_ts is None else max(s.last_ts, rec.ts)
        ev = rec.event
        if ev == "rss_stat":                        # the per-record rules of MmLives
            m, size = rss_member(f), f.get("size")
            if m is None or not isinstance(size, int):
                return
            mm = s.mms.update(f.get("mm_id"), m, size, f.get("curr"), rec.pid, rec.comm)
            c = mm.counters.get(m)
            if c is None:
                mm.counters[m] = RssCounter(rec.ts, size, self.timeline)
            else:
                c.update(rec.ts, size)
        elif ev == "mm_page_alloc":
            row = s._order_row(folio_order(f))
            if alloc_failed(f):
                row[4] += 1
            else:
                row[0] += 1
                mt = f.get("migratetype")
                if isinstance(mt, int):
                    s.migratetypes[mt] = s.migratetypes.get(mt, 0) + 1
        elif ev in ("mm_page_free", "mm_page_free_batched", "mm_page_alloc_zone_locked"):
            col = {"mm_page_free": 1, "mm_page_free_batched": 2, "mm_page_alloc_zone_locked": 3}[ev]
            s._order_row(folio_order(f))[col] += 1
        elif ev in ("mm_filemap_add_to_page_cache", "mm_filemap_delete_from_page_cache"):
            row = s.files.setdefault(filemap_key(f), [0, 0, 0, 0])
            i = 0 if ev == "mm_filemap_add_to_page_cache" else 1
            row[i] += 1
            row[i + 2] += 1 << folio_order(f)
        elif ev in ("count_memcg_events", "mod_memcg_state", "mod_memcg_lruvec_state"):
            items = s.memcg.setdefault(memcg_id(f), {}).setdefault(ev, {})
            row = items.setdefault(f.get("item"), [0, 0])
            row[0] += 1
            if isinstance(f.get("val"), int):
                row[1] += f["val"]
        elif ev == "memcg_flush_stats":
            key = memcg_id(f)
            s.memcg_flushes[key] = s.memcg_flushes.get(key, 0) + 1

    def as_dict(self):
        return self.st.as_dict()


# -- random records --------------------------------------------------------------------------
U64 = st.integers(0, (1 << 64) - 1)
small = st.integers(0, 6)
odd = st.one_of(st.just("?"), st.just("0x1f"), st.none())          # what a text may leave


def maybe(strategy, p_odd=0.08):
    return st.one_of(strategy, odd) if p_odd else strategy


FIELDS = {
    "rss_stat": lambda: st.fixed_dictionaries(
        {"mm_id": st.sampled_from([7, 9, 11, "a1b2"]), "curr": st.sampled_from([0, 1, 1, 2]),
         "member": st.sampled_from([0, 1, 1, 2, 3, 5]),
         "size": st.one_of(st.just(0), st.just(0), st.integers(-4096, 1 << 30))},
        optional={"type": st.sampled_from(["MM_ANONPAGES", "MM_SHMEMPAGES", "bogus"])}),
    "mm_page_alloc": lambda: st.fixed_dictionaries(
        {"pfn": st.one_of(st.integers(0, 4), U64, st.just((1 << 64) - 1)), "order": maybe(small),
         "migratetype": maybe(st.integers(0, 3))},
        optional={"page": st.sampled_from(["0000000000000000", "00000000deadbeef", "(null)"])}),
    "mm_page_free": lambda: st.fixed_dictionaries({"pfn": U64, "order": maybe(st.integers(-2, 70))}),
    "mm_page_free_batched": lambda: st.fixed_dictionaries({"pfn": U64}),
    "mm_page_alloc_zone_locked": lambda: st.fixed_dictionaries({"pfn": U64, "order": small}),
    "mm_filemap_add_to_page_cache": lambda: st.fixed_dictionaries(
        {"s_dev": st.sampled_from([(254 << 20) | 3, 0x00100001]), "i_ino": st.sampled_from([0x1b, 0x3f8da]),
         "order": maybe(small)}),
    "mm_filemap_delete_from_page_cache": lambda: st.one_of(
        st.fixed_dictionaries({"s_dev": st.just((254 << 20) | 3), "i_ino": st.sampled_from([0x1b, 7]),
                               "order": small}),
        st.fixed_dictionaries({"dev": st.just("0:1"), "ino": st.sampled_from(["1b", "zz"])})),
    "count_memcg_events": lambda: st.fixed_dictionaries(
        {"id": st.sampled_from([1, 5579]), "item": small, "val": maybe(U64)}),
    "mod_memcg_state": lambda: st.fixed_dictionaries(
        {"id": st.sampled_from([1, 5579]), "item": maybe(small), "val": st.integers(-(1 << 40), 1 << 40)}),
    "mod_memcg_lruvec_state": lambda: st.fixed_dictionaries(
        {"memcg_id": st.sampled_from([1, 2]), "item": small, "val": st.integers(-9, 9)}),
    "memcg_flush_stats": lambda: st.fixed_dictionaries({"id": st.sampled_from([1, 5579, "x"])}),
    "kmalloc": lambda: st.fixed_dictionaries({"bytes_req": small}),
}
SYSTEMS = {"rss_stat": ["kmem", "kmem", "other"], "kmalloc": ["kmem", ""]}


@st.composite
def records(draw):
    out = []
    ts = draw(st.integers(0, 1 << 40))
    for _ in range(draw(st.integers(0, 60))):
        ev = draw(st.sampled_from(sorted(FIELDS)))
        system = draw(st.sampled_from(SYSTEMS.get(ev, ["kmem", "memcg", "filemap"])))
        ts += draw(st.integers(0, 5000))
        pid = draw(st.sampled_from([0, 100, 101, 102, 1 << 22]))
        comm = draw(st.sampled_from(["<...>", "<idle>", "app", "kid", "app"]))
        out.append(Record(system, ev, pid, None, comm, draw(st.sampled_from([0, 1, 3, 2000])),
                          ts, ".....", draw(FIELDS[ev]())))
    return out


@EXAMPLES
@given(records(), st.integers(1, 40), st.booleans())
def test_batches_agree_with_the_per_record_model(recs, batch, timeline):
    model = Model(timeline)
    for r in recs:
        model.add(r)
    got = TraceStats(timeline=timeline).update(recs, batch_size=batch).as_dict()
    assert got == model.as_dict()


def test_odd_columns_take_the_row_path_with_the_same_rules():
    """A value that is not a number turns a column into a list; the table is then read row by
    row (and a folio order outside 0..63 counts as 0)."""
    recs = [Record("kmem", "mm_page_alloc", 1, None, "a", 0, 1, None,
                   {"pfn": 5, "order": "?", "migratetype": 1}),
            Record("kmem", "mm_page_alloc", 1, None, "a", 0, 2, None,
                   {"pfn": 6, "order": 2, "migratetype": 1}),
            Record("kmem", "mm_page_free", 1, None, "a", 0, 3, None, {"pfn": 6, "order": 99})]
    pg = TraceStats().update(recs).as_dict()["pages"]
    assert pg["by_order"]["0"]["alloc"] == 1 and pg["by_order"]["2"]["alloc"] == 1
    assert pg["by_order"]["0"]["free"] == 1


# -- the kernels -----------------------------------------------------------------------------
def test_group_count_keys_and_exact_unsigned_sums():
    keys = array("q", [i % 100 for i in range(1000)])         # more keys than the first table
    vals = array("Q", [(1 << 64) - 1] * 1000)
    got = _colstats.group_count((keys,), vals)
    assert len(got) == 100
    assert got[(7,)] == [10, 10 * ((1 << 64) - 1)]
    got = _colstats.group_count((array("Q", [(1 << 64) - 1, 1]), array("q", [-1, -1])))
    assert got == {((1 << 64) - 1, -1): [1, None], (1, -1): [1, None]}


def test_rows_equal_matches_raw_bits():
    col = array("Q", [0, 5, (1 << 64) - 1, 3])
    assert _colstats.rows_equal(col, (-1, 0)) == [0, 2]
    assert _colstats.rows_equal(array("q", [-1, 1]), ((1 << 64) - 1,)) == [0]


def test_common_counts_runs_and_unknown_comms():
    by_cpu, by_pid, last, lo, hi = _colstats.common_counts(
        array("q", [10, 11, 12, 13]), array("q", [5, 3, 9, 4]), array("q", [0, 1, 0, 5000]),
        array("q", [7, 7, 8, 7]), ["a", "<...>", "b", "<...>"])
    assert by_cpu == {0: 2, 1: 1, 5000: 1} and by_pid == {7: 3, 8: 1}
    assert last == {7: (10, "a"), 8: (12, "b")} and (lo, hi) == (3, 9)
