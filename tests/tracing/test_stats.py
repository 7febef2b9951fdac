"""memsim.tracing.stats: the numbers behind ``memsim trace stats`` (docs/traces.md "stats --json").

Scenarios: rss_stat semantics (tracepoints.md 3: one event per counter update, size in bytes,
member 0 FILE / 1 ANON / 2 SWAPENTS / 3 SHMEM, mm_id per mm), page allocator events
(tracepoints.md 4: failed allocations, free_batched on top of mm_page_free), filemap folios
(FORMAT-NOTES 10), memcg deltas; then the shared 6.18 capture against an independent count.
"""
import gzip
import json
import re
from collections import Counter

import pytest

from memsim.tracing.record import Record
from memsim.tracing.stats import (SCHEMA, TraceStats, alloc_failed, collect, filemap_key,
                                  format_stats)


def rec(event, ts, fields, *, system="kmem", pid=100, comm="app", cpu=0):
    return Record(system, event, pid, None, comm, cpu, ts, ".....", fields)


def rss(ts, mm, member, size, curr=1, pid=100, comm="app"):
    return rec("rss_stat", ts, {"mm_id": mm, "curr": curr, "member": member, "size": size},
               pid=pid, comm=comm)


def test_empty_stream_has_every_section():
    doc = TraceStats().as_dict()
    assert doc["schema"] == SCHEMA
    assert doc["events"] == {"total": 0, "by_event": {}, "by_cpu": {}}
    assert doc["time"] == {"first_ns": None, "last_ns": None, "span_s": 0.0, "events_per_s": None}
    assert doc["rss"] == [] and doc["memcg"] == [] and doc["pids"] == []
    assert doc["pages"]["by_order"] == {} and doc["pages"]["net_pages"] == 0
    assert doc["page_cache"]["files"] == []
    json.dumps(doc)
    assert "0 events" in format_stats(doc)


def test_rss_per_mm_first_last_min_max_and_final_total():
    st = TraceStats().update([
        rss(1000, 7, 1, 4096), rss(2000, 7, 1, 3 * 4096), rss(3000, 7, 0, 8192),
        rss(4000, 7, 3, 4096), rss(5000, 7, 1, 4096), rss(6000, 7, 2, 4096),
        rss(7000, 9, 1, 4096, curr=0, pid=101, comm="kid"),
    ])
    doc = st.as_dict()
    mm7, mm9 = doc["rss"]
    assert mm7["mm_id"] == 7 and mm9["mm_id"] == 9
    anon = mm7["counters"]["MM_ANONPAGES"]
    assert (anon["first"], anon["last"], anon["min"], anon["max"], anon["updates"]) == \
        (4096, 4096, 4096, 3 * 4096, 3)
    assert (anon["first_ns"], anon["last_ns"]) == (1000, 5000)
    assert set(mm7["counters"]) == {"MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES", "MM_SWAPENTS"}
    # final RSS = FILE + ANON + SHMEM (SWAPENTS is not resident)
    assert mm7["final_rss_pages"] == 2 + 1 + 1 and mm7["final_rss_bytes"] == 4 * 4096
    # peak: ANON 3 pages + FILE 2 + SHMEM 1 at t=4000
    assert mm7["peak_rss_pages"] == 6
    assert mm7["tasks"] == [{"pid": 100, "comm": "app"}]
    assert mm9["tasks"] == []               # only curr=0 updates: owner unknown
    assert "timeline" not in anon


def test_rss_timeline_only_when_asked():
    st = TraceStats(timeline=True).update([rss(1, 7, 1, 4096), rss(2, 7, 1, 0)])
    t = st.as_dict()["rss"][0]["counters"]["MM_ANONPAGES"]["timeline"]
    assert t == {"ns": [1, 2], "bytes": [4096, 0]}


def test_rss_type_name_is_accepted_when_member_is_missing():
    st = TraceStats().update([rec("rss_stat", 1, {"mm_id": 1, "curr": 1, "type": "MM_SHMEMPAGES",
                                                  "size": 8192})])
    assert st.as_dict()["rss"][0]["counters"]["MM_SHMEMPAGES"]["last"] == 8192


@pytest.mark.parametrize("fields, failed", [
    ({"pfn": 0x1234, "order": 0}, False),
    ({"pfn": (1 << 64) - 1, "order": 0}, True),                  # binary: pfn -1UL
    ({"pfn": -1, "order": 0}, True),
    ({"pfn": 0, "page": "0000000000000000", "order": 0}, True),  # text: page=(null) pfn=0x0
    ({"pfn": 0, "page": 0, "order": 0}, True),
    ({"pfn": 0, "order": 0}, True),
    ({"pfn": 0, "page": "00000000deadbeef", "order": 0}, False),
])
def test_alloc_failure(fields, failed):
    assert alloc_failed(fields) is failed


def test_page_allocator_per_order():
    recs = [
        rec("mm_page_alloc", 1, {"pfn": 0x100, "order": 0, "migratetype": 1, "gfp_flags": 0xcc0}),
        rec("mm_page_alloc", 2, {"pfn": 0x200, "order": 2, "migratetype": 0, "gfp_flags": 0xcc0}),
        rec("mm_page_alloc", 3, {"pfn": (1 << 64) - 1, "order": 3, "migratetype": 0, "gfp_flags": 0}),
        rec("mm_page_alloc_zone_locked", 4, {"pfn": 0x300, "order": 0, "migratetype": 1}),
        rec("mm_page_free", 5, {"pfn": 0x100, "order": 0}),
        rec("mm_page_free_batched", 6, {"pfn": 0x100}),
        rec("mm_page_free", 7, {"pfn": 0x200, "order": 2}),
    ]
    pg = TraceStats().update(recs).as_dict()["pages"]
    assert pg["by_order"] == {
        "0": {"alloc": 1, "free": 1, "free_batched": 1, "alloc_zone_locked": 1, "alloc_failed": 0},
        "2": {"alloc": 1, "free": 1, "free_batched": 0, "alloc_zone_locked": 0, "alloc_failed": 0},
        "3": {"alloc": 0, "free": 0, "free_batched": 0, "alloc_zone_locked": 0, "alloc_failed": 1},
    }
    # batched frees and zone-locked refills are not added on top (they double-count pages)
    assert (pg["alloc_pages"], pg["free_pages"], pg["net_pages"]) == (5, 5, 0)
    assert pg["alloc_failed"] == 1
    assert pg["migratetype"] == {"0": 1, "1": 1}


def test_page_cache_per_file_weighted_by_order():
    def fm(event, ts, ino, order):
        return rec(event, ts, {"pfn": 0x10, "i_ino": ino, "index": 0, "s_dev": (254 << 20) | 3,
                               "order": order}, system="filemap")
    recs = [fm("mm_filemap_add_to_page_cache", 1, 0x20c0d6, 4),
            fm("mm_filemap_add_to_page_cache", 2, 0x20c0d6, 0),
            fm("mm_filemap_delete_from_page_cache", 3, 0x20c0d6, 4),
            fm("mm_filemap_delete_from_page_cache", 4, 0x1b, 0)]
    pc = TraceStats().update(recs).as_dict()["page_cache"]
    assert (pc["adds"], pc["deletes"], pc["pages_added"], pc["pages_deleted"], pc["net_pages"]) == \
        (2, 2, 17, 17, 0)
    assert pc["files"] == [
        {"dev": "254:3", "ino": 0x1b, "adds": 0, "deletes": 1, "pages_added": 0, "pages_deleted": 1},
        {"dev": "254:3", "ino": 0x20c0d6, "adds": 2, "deletes": 1, "pages_added": 17, "pages_deleted": 16},
    ]
    assert filemap_key({"dev": "0:1", "ino": "1b"}) == ("0:1", 0x1b)


def test_memcg_counts_and_sums_per_id_event_item():
    def mc(event, ts, mid, item, val):
        return rec(event, ts, {"id": mid, "item": item, "val": val}, system="memcg")
    recs = [mc("mod_memcg_state", 1, 5579, 55, 1), mc("mod_memcg_state", 2, 5579, 55, -3),
            mc("count_memcg_events", 3, 5579, 0, 1), mc("mod_memcg_lruvec_state", 4, 1, 4, 2),
            rec("memcg_flush_stats", 5, {"id": 5579, "stats_updates": 3, "force": 0, "needs_flush": 1},
                system="memcg")]
    m = TraceStats().update(recs).as_dict()["memcg"]
    assert m == [
        {"memcg_id": 1, "events": {"mod_memcg_lruvec_state": {"4": {"count": 1, "sum": 2}}}, "flushes": 0},
        {"memcg_id": 5579, "events": {"count_memcg_events": {"0": {"count": 1, "sum": 1}},
                                      "mod_memcg_state": {"55": {"count": 2, "sum": -2}}},
         "flushes": 1},
    ]


def test_counts_pids_time_and_rate():
    recs = [rec("kmalloc", 1_000_000_000, {}, pid=1, comm="a", cpu=1),
            rec("kfree", 1_500_000_000, {}, pid=2, comm="b"),
            rec("kfree", 3_000_000_000, {}, pid=2, comm="b")]
    doc = TraceStats().update(recs).as_dict()
    assert doc["events"]["by_event"] == {"kmem:kfree": 2, "kmem:kmalloc": 1}
    assert doc["events"]["by_cpu"] == {"0": 2, "1": 1}
    assert doc["pids"] == [{"pid": 2, "comm": "b", "events": 2}, {"pid": 1, "comm": "a", "events": 1}]
    assert doc["time"]["span_s"] == 2.0 and doc["time"]["events_per_s"] == 1.5
    text = format_stats(doc)
    assert "kmem:kfree" in text and "span 2.000000 s" in text


# -- the shared 6.18 capture, against an independent count of its lines ------------------------
LINE = re.compile(r"\]\s+\S+\s+\d+\.\d+: (\w+): (.*)$")


def _corpus_counts(path):
    events, rss_last, allocs = Counter(), {}, Counter()
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = LINE.search(line)
            events[m.group(1)] += 1
            if m.group(1) == "rss_stat":
                kv = dict(x.split("=") for x in m.group(2).split())
                rss_last[(int(kv["mm_id"]), kv["type"])] = int(kv["size"][:-1])
            elif m.group(1) == "mm_page_alloc":
                allocs[int(re.search(r"order=(\d+)", m.group(2)).group(1))] += 1
    return events, rss_last, allocs


def test_corpus_stats_match_an_independent_count(traces_dir):
    from memsim.tracing.reader import open_trace
    path = traces_dir / "ftrace-mm-workload.txt.gz"
    pytest.importorskip("memsim.tracing.textparse", reason="the text parser has not landed yet")
    events, rss_last, allocs = _corpus_counts(path)
    with open_trace(str(path)) as r:
        doc = collect(r)
    assert doc["events"]["total"] == sum(events.values()) == 22851
    assert {k.split(":")[-1]: v for k, v in doc["events"]["by_event"].items()} == dict(events)
    assert doc["skipped"] == 0
    got = {(mm["mm_id"], name): c["last"] for mm in doc["rss"] for name, c in mm["counters"].items()}
    assert got == rss_last
    assert {int(o): r["alloc"] + r["alloc_failed"] for o, r in doc["pages"]["by_order"].items()
            if r["alloc"] + r["alloc_failed"]} == dict(allocs)
    assert doc["page_cache"]["adds"] == events["mm_filemap_add_to_page_cache"]
    assert sum(sum(v["count"] for v in items.values())
               for m in doc["memcg"] for ev, items in m["events"].items()) == \
        events["count_memcg_events"] + events["mod_memcg_state"] + events["mod_memcg_lruvec_state"]


def test_a_reused_mm_id_is_a_new_mm_after_the_exit_teardown():
    """mm_id hashes the mm_struct's address: after exit_mmap brought every counter to 0, the
    next event with that id is a later process's mm, its own series named comm-pid.  As in the
    VM capture instances-v7.dat (mm_id 2782954133: the shell's old mm, then dd's)."""
    st = TraceStats().update([
        rss(1000, 5, 1, 8192, pid=100, comm="sh"), rss(2000, 5, 0, 4096, pid=100, comm="sh"),
        rss(3000, 5, 0, 0, curr=0, pid=100, comm="sh"),
        rss(4000, 5, 2, 4096, curr=0, pid=100, comm="sh"),      # a swap entry: still alive
        rss(5000, 5, 1, 0, curr=0, pid=100, comm="sh"),
        rss(6000, 5, 2, 0, curr=0, pid=100, comm="sh"),         # the teardown is complete
        # the parent's fork (dup_mm, curr=0) copies into a freed mm_struct: the same id
        rss(7000, 5, 1, 4096, curr=0, pid=100, comm="sh"),
        rss(8000, 5, 1, 3 * 4096, pid=101, comm="dd"),
    ])
    doc = st.as_dict()
    first, second = doc["rss"]
    assert (first["mm_id"], second["mm_id"]) == (5, 5)
    assert (first["name"], first["ended"]) == ("sh-100", True)
    assert (second["name"], second["ended"]) == ("dd-101", False)
    assert first["counters"]["MM_ANONPAGES"]["updates"] == 2
    assert second["counters"]["MM_ANONPAGES"]["first"] == 4096
    assert second["tasks"] == [{"pid": 101, "comm": "dd"}] and second["final_rss_pages"] == 3
    text = format_stats(doc)
    assert re.search(r"^  sh-100 +5 +sh-100 +MM_FILEPAGES", text, re.M)
    assert re.search(r"^  dd-101 +5 +dd-101 +MM_ANONPAGES", text, re.M)
    assert re.search(r"^ +exited +0\.00 +0\.01$", text, re.M)
    # an mm never updated as current is named after the task that touched it
    st = TraceStats().update([rss(1, 9, 1, 4096, curr=0, pid=7, comm="bash")])
    assert st.as_dict()["rss"][0]["name"] == "bash-7"


def test_the_shell_and_dd_of_the_capture_are_separate_mms():
    from pathlib import Path
    from memsim.tracing.reader import open_trace
    path = Path(__file__).parent / "data" / "instances-v7.dat"
    with open_trace(str(path), buffer="memsim_test") as r:
        doc = TraceStats().update(r.records()).as_dict(r)
    names = [(mm["mm_id"], mm["name"], mm["ended"]) for mm in doc["rss"]]
    assert names == [(2077064016, "dd-25691", True), (2782954133, "work.sh-25657#2", True),
                     (2782954133, "dd-25690", True), (3114567400, "work.sh-25657", True)]
