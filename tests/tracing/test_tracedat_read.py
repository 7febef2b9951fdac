"""memsim.tracing.tracedat: reading trace-cmd's trace.dat (FORMAT-NOTES 5, 7, 8).

The shared capture (v7 + zstd, written by trace-cmd 3.1.6 ``extract``) must give all its 22,894
events in ``trace-cmd report`` order with the ns time stamps of ``trace-cmd report -t``; the
v6 and uncompressed v7 copies ``trace-cmd convert`` makes must give the same records; the
columnar path must equal the record path.  Hand-built files cover what the capture does not:
big-endian files, a 4-byte kernel long, time extends, absolute time stamps, padding, long
records, lost events and damaged pages.
"""
import re
import shutil
import struct
import subprocess
from array import array

import pytest

from memsim.errors import TraceError
from memsim.tracing.columns import ColumnBuilder
from memsim.tracing.formatfile import format_file, header_event
from memsim.tracing.kmem import kmem_events
from memsim.tracing.reader import open_trace
from memsim.tracing.tracedat import DatReader, FileKallsyms, field_kind

TRACE_CMD = shutil.which("trace-cmd")
needs_trace_cmd = pytest.mark.skipif(TRACE_CMD is None,
                                     reason="trace-cmd is not installed (apt install trace-cmd)")
NEVENTS = 22894


# -- a small trace.dat v6 builder (both endiannesses, any long size) ---------------------------
RSS = next(d for d in kmem_events("v6.18") if d.name == "rss_stat")
RSS_ID = 646


def header_page_text(long_size=8, page_size=4096):
    data = 8 + long_size
    return ("\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
            f"\tfield: local_t commit;\toffset:8;\tsize:{long_size};\tsigned:1;\n"
            "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
            f"\tfield: char data;\toffset:{data};\tsize:{page_size - data};\tsigned:0;\n")


def rss_payload(mm_id, size, big=False, pid=1, flags=0, preempt=0, member=1):
    e = ">" if big else "<"
    return struct.pack(e + "HBBiIIi4xq", RSS_ID, flags, preempt, pid, mm_id, 1, member, size)


def page(ts, items, big=False, long_size=8, page_size=4096, commit_flags=0, lost=None):
    """One sub-buffer page.  items: ("rec", delta, payload) | ("ext", delta) | ("abs", ts) |
    ("pad", delta, length: bytes after the header, its length word included) | ("null",) |
    ("raw", bytes)."""
    e = ">" if big else "<"

    def hdr(type_len, delta):
        return struct.pack(e + "I", (type_len << 27 | delta) if big else (type_len | delta << 5))

    data = b""
    for it in items:
        if it[0] == "rec":
            p = it[2] + bytes(-len(it[2]) % 4)
            if len(p) <= 112:
                data += hdr(len(p) // 4, it[1]) + p
            else:
                data += hdr(0, it[1]) + struct.pack(e + "I", len(p) + 4) + p
        elif it[0] == "ext":
            data += hdr(30, it[1] & ((1 << 27) - 1)) + struct.pack(e + "I", it[1] >> 27)
        elif it[0] == "abs":
            data += hdr(31, it[1] & ((1 << 27) - 1)) + struct.pack(e + "I", (it[1] >> 27) & 0xFFFFFFFF)
        elif it[0] == "pad":
            data += hdr(29, it[1]) + struct.pack(e + "I", it[2]) + bytes(it[2] - 4)
        elif it[0] == "null":
            data += hdr(29, 0)
        else:
            data += it[1]
    commit = len(data) | commit_flags
    tail = struct.pack(e + ("Q" if long_size == 8 else "I"), lost) if lost is not None else b""
    head = struct.pack(e + "Q", ts) + struct.pack(e + ("Q" if long_size == 8 else "I"), commit)
    body = head + data + tail
    assert len(body) <= page_size
    return body + bytes(page_size - len(body))


def build_v6(cpu_pages, big=False, long_size=8, page_size=4096, cmdlines="1 init\n",
             options=(), decls=((RSS, RSS_ID),)):
    e = ">" if big else "<"
    u32 = lambda v: struct.pack(e + "I", v)      # noqa: E731
    u64 = lambda v: struct.pack(e + "Q", v)      # noqa: E731
    out = bytearray(b"\x17\x08Dtracing6\0" + bytes([1 if big else 0, 8]) + u32(page_size))
    for name, text in (("header_page", header_page_text(long_size, page_size)),
                       ("header_event", header_event())):
        out += name.encode() + b"\0" + u64(len(text)) + text.encode()
    out += u32(0)                                   # ftrace formats
    systems = {}
    for decl, tid in decls:
        systems.setdefault(decl.system, []).append(format_file(decl, tid).encode())
    out += u32(len(systems))
    for system, texts in systems.items():
        out += system.encode() + b"\0" + u32(len(texts))
        for t in texts:
            out += u64(len(t)) + t
    ksyms = b"ffffffff81000000 T _text\nffffffff81000100 T do_thing\nffffffff81000200 T _etext\n"
    out += u32(len(ksyms)) + ksyms
    out += u32(0)                                   # printk formats
    out += u64(len(cmdlines)) + cmdlines.encode()
    out += u32(len(cpu_pages))
    out += b"options  \0"
    for oid, body in options:
        out += struct.pack(e + "HI", oid, len(body)) + body
    out += struct.pack(e + "H", 0)
    out += b"flyrecord\0"
    table_at = len(out)
    out += bytes(16 * len(cpu_pages))
    spans = []
    for pages in cpu_pages:
        out += bytes(-len(out) % page_size)
        spans.append((len(out), page_size * len(pages)))
        for p in pages:
            out += p
    for i, (off, size) in enumerate(spans):
        out[table_at + 16 * i:table_at + 16 * i + 16] = u64(off) + u64(size)
    return bytes(out)


def write(tmp_path, data, name="t.dat"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


# -- the shared capture ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def capture(traces_dir):
    path = str(traces_dir / "trace-mm-workload.dat")
    r = DatReader(path)
    return path, r, list(r.records())


def test_capture_has_every_event(capture):
    """FORMAT-NOTES 8: 22,894 events, v7, zstd, 2 CPUs, 101 systems of formats."""
    _, r, recs = capture
    assert len(recs) == NEVENTS and not r.problems
    m = r.meta
    assert (m["version"], m["compression"], m["ncpus"], m["clock"], m["page_size"]) == \
        (7, "zstd", 2, "local", 4096)
    assert m["entries"] == NEVENTS                     # CPUSTAT "read events"
    assert m["uname"].startswith("Linux") and m["tracecmd_version"].startswith("3.1.6")
    assert m["cpu_data_size"] == {0: 4826, 1: 84093}
    assert len({d.system for d in r.formats}) == 102     # 101 systems + ftrace
    assert r.formats.id_of("kmem:rss_stat") == 646
    assert r.comms[14655] == "workload" and len(r.kallsyms) > 100000
    assert {x.full_name for x in recs} == {
        "kmem:rss_stat", "kmem:mm_page_alloc", "kmem:mm_page_free",
        "filemap:mm_filemap_add_to_page_cache", "filemap:mm_filemap_delete_from_page_cache",
        "memcg:count_memcg_events", "memcg:mod_memcg_state", "memcg:mod_memcg_lruvec_state"}


def test_capture_records_are_typed(capture):
    _, _, recs = capture
    first = recs[0]
    assert (first.system, first.event, first.pid, first.tgid, first.comm, first.cpu, first.ts,
            first.flags) == ("memcg", "mod_memcg_state", 14655, None, "workload", 1,
                             1159695848968, "...1.")
    assert first.fields == {"id": 5579, "item": 55, "val": 1}
    alloc = next(x for x in recs if x.event == "mm_page_alloc")
    assert alloc.fields == {"pfn": 0x116da0, "order": 0, "gfp_flags": 0x440dc0, "migratetype": 0}
    assert any(x.fields.get("val") == -1 for x in recs if x.event == "mod_memcg_lruvec_state")
    assert {x.flags for x in recs} >= {"...1.", "d..2."}


def test_capture_is_time_ordered_with_lowest_cpu_first(capture):
    """tracecmd_peek_next_data: global ts order; per-CPU order kept."""
    _, _, recs = capture
    assert all(a.ts <= b.ts for a, b in zip(recs, recs[1:]))
    for a, b in zip(recs, recs[1:]):
        if a.ts == b.ts and a.cpu != b.cpu:
            assert a.cpu < b.cpu


@needs_trace_cmd
def test_ns_timestamps_equal_trace_cmd_report_t(capture):
    path, _, recs = capture
    out = subprocess.run([TRACE_CMD, "report", "-t", path], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "cpus=2"
    rows = []
    for line in out[1:]:
        m = re.match(r"\s*(.+)-(\d+)\s+\[(\d{3})\]\s+(\d+)\.(\d{9}): (\w+):", line)
        rows.append((m[1], int(m[2]), int(m[3]), int(m[4]) * 10**9 + int(m[5]), m[6]))
    assert rows == [(x.comm, x.pid, x.cpu, x.ts, x.event) for x in recs]


@needs_trace_cmd
@pytest.mark.parametrize("args,version,compression", [
    (["--file-version", "6"], 6, "none"),
    (["--compression", "none"], 7, "none"),
])
def test_converted_copies_give_identical_records(capture, tmp_path, args, version, compression):
    path, _, recs = capture
    out = str(tmp_path / "copy.dat")
    subprocess.run([TRACE_CMD, "convert", *args, "-i", path, "-o", out], capture_output=True,
                   check=True)
    r = DatReader(out)
    assert (r.meta["version"], r.meta["compression"]) == (version, compression)
    assert list(r.records()) == recs and not r.problems
    assert [x.comm for x in r.records()] == [x.comm for x in recs]


def test_batches_equal_records(capture):
    _, r, recs = capture
    want = ColumnBuilder()
    for x in recs:
        want.add(x)
    want = want.build()
    got = [b for b in r.batches(5000)]
    assert [len(b) for b in got] == [5000] * 4 + [NEVENTS - 20000]
    from memsim.tracing.columns import Columns
    got = Columns.concat(got)
    assert set(got.tables) == set(want.tables)
    for name, t in want.tables.items():
        g = got[name]
        assert list(g.columns) == list(t.columns)
        for col in t.columns:
            assert list(g[col]) == list(t[col]), (name, col)
        assert all(isinstance(g[c], array) for c in ("seq", "ts", "cpu", "pid", "tgid"))
    assert list(got["kmem:mm_page_alloc"]["gfp_flags"])[:1] == [0x440dc0]


def test_open_trace_picks_the_reader_for_files_and_compressed_copies(capture, tmp_path):
    import gzip
    path, _, recs = capture
    r = open_trace(path)
    assert isinstance(r, DatReader) and r.meta["version"] == 7
    gz = tmp_path / "t.dat.gz"
    with open(path, "rb") as f:
        gz.write_bytes(gzip.compress(f.read(), 1))
    r = open_trace(str(gz))
    assert isinstance(r, DatReader) and sum(1 for _ in r.records()) == NEVENTS


def test_records_can_be_read_twice(capture):
    _, r, recs = capture
    assert list(r.records()) == recs


# -- hand-built files --------------------------------------------------------------------------
@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("long_size", [8, 4])
def test_page_encoding_both_endiannesses_and_long_sizes(tmp_path, big, long_size):
    """kbuffer: time extends add (array << 27 | delta), absolute stamps take the top 5 bits of
    the running time, padding deltas count, a null padding ends the page, type_len 0 records
    carry their length; the lowest CPU wins a tie."""
    kw = dict(big=big, long_size=long_size)
    base = 0x0A00_0000_0000_0000
    p0 = page(base, [("rec", 0, rss_payload(1, 4096, big)),
                     ("rec", 5, rss_payload(2, 4096, big)),
                     ("ext", 3 << 27 | 7), ("rec", 1, rss_payload(3, 4096, big)),
                     ("pad", 10, 12), ("rec", 0, rss_payload(4, 4096, big)),
                     ("abs", (base + 10**9) & ((1 << 59) - 1)), ("rec", 0, rss_payload(5, 8, big)),
                     ("null",), ("rec", 0, rss_payload(99, 0, big))], **kw)
    long_rec = rss_payload(6, 1, big) + bytes(100)        # 132 bytes: type_len 0
    p1 = page(base + 2 * 10**9, [("rec", 0, long_rec), ("rec", 2, rss_payload(7, 1, big))], **kw)
    q0 = page(base + 5, [("rec", 0, rss_payload(50, 1, big, pid=2))], **kw)
    path = write(tmp_path, build_v6([[p0, p1], [q0]], cmdlines="1 init\n2 two words\n", **kw))
    r = DatReader(path)
    recs = list(r.records())
    assert not r.problems
    ts1 = base + 5
    ts2 = ts1 + (3 << 27 | 7) + 1
    want = [(1, base, 0), (2, ts1, 0), (50, ts1, 1), (3, ts2, 0), (4, ts2 + 10, 0),
            (5, base + 10**9, 0), (6, base + 2 * 10**9, 0), (7, base + 2 * 10**9 + 2, 0)]
    assert [(x.fields["mm_id"], x.ts, x.cpu) for x in recs] == want
    assert recs[2].comm == "two words" and recs[0].comm == "init"
    assert recs[0].fields == {"mm_id": 1, "curr": 1, "member": 1, "size": 4096}
    assert r.meta["endian"] == ("big" if big else "little")
    assert r.meta["long_size"] == long_size
    cols = r.columns()
    assert list(cols["kmem:rss_stat"]["mm_id"]) == [1, 2, 50, 3, 4, 5, 6, 7]


@needs_trace_cmd
def test_page_encoding_agrees_with_trace_cmd(tmp_path):
    """The same hand-built little-endian file through ``trace-cmd report -t``."""
    base = 0x0100_0000_0000
    p0 = page(base, [("rec", 0, rss_payload(1, 4096)), ("ext", 3 << 27 | 7),
                     ("rec", 1, rss_payload(3, 4096)), ("pad", 10, 12),
                     ("rec", 4, rss_payload(4, 4096)), ("abs", base + 10**9),
                     ("rec", 3, rss_payload(5, 8)), ("rec", 0, rss_payload(6, 1) + bytes(100))])
    path = write(tmp_path, build_v6([[p0], [page(base + 5, [("rec", 0, rss_payload(9, 1))])]]))
    out = subprocess.run([TRACE_CMD, "report", "-t", path], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1:]
    theirs = [int(re.search(r"(\d+)\.(\d{9}):", l)[1]) * 10**9 +
              int(re.search(r"(\d+)\.(\d{9}):", l)[2]) for l in out]
    assert theirs == [x.ts for x in DatReader(path).records()]


def test_lost_events_are_counted(tmp_path):
    p0 = page(10**9, [("rec", 0, rss_payload(1, 1))], commit_flags=1 << 31 | 1 << 30, lost=17)
    p1 = page(2 * 10**9, [("rec", 0, rss_payload(2, 1))], commit_flags=1 << 31)
    r = DatReader(write(tmp_path, build_v6([[p0], [p1]])))
    assert r.meta["lost"] == []                             # known once the records are read
    assert len(list(r.records())) == 2
    assert r.meta["missed_events"] == {0: 17, 1: -1}
    assert r.meta["missed_pages"] == {0: 1, 1: 1}
    assert r.meta["lost"] == [(0, 17), (1, None)]          # the schema's key, as text gives it


def test_damaged_record_header_skips_the_rest_of_its_page(tmp_path):
    bad = struct.pack("<II", 0, 9999)                     # type_len 0, length past the page
    p0 = page(10**9, [("rec", 0, rss_payload(1, 1)), ("raw", bad), ("rec", 0, rss_payload(2, 1))])
    p1 = page(2 * 10**9, [("rec", 0, rss_payload(3, 1))])
    path = write(tmp_path, build_v6([[p0, p1]]))
    r = DatReader(path)
    assert [x.fields["mm_id"] for x in r.records()] == [1, 3]
    assert len(r.problems) == 1
    assert str(r.problems[0]).startswith(f"{path}: cpu 0 page 0: record at byte 36 has a bad "
                                         f"length 9999")
    with pytest.raises(TraceError, match="cpu 0 page 0"):
        list(DatReader(path, strict=True).records())


def test_commit_larger_than_the_page_and_unknown_event_are_problems(tmp_path):
    p0 = page(10**9, [("rec", 0, rss_payload(1, 1))])
    p0 = p0[:8] + struct.pack("<Q", 5000) + p0[16:]
    unknown = struct.pack("<HBBi", 4242, 0, 0, 1) + bytes(8)
    p1 = page(2 * 10**9, [("rec", 0, unknown), ("rec", 0, rss_payload(2, 1)),
                          ("rec", 0, rss_payload(3, 1)[:12])])
    r = DatReader(write(tmp_path, build_v6([[p0, p1]])))
    assert [x.fields["mm_id"] for x in r.records()] == [2]
    text = " | ".join(map(str, r.problems))
    assert "page 0: the page header says 5000 bytes of data" in text
    assert "event type 4242, which no format in the file describes" in text
    assert "kmem:rss_stat record of 12 bytes is shorter than its format (32 bytes)" in text


def test_truncated_v6_reports_missing_pages(tmp_path):
    pages = [page((i + 1) * 10**9, [("rec", 0, rss_payload(i, 1))]) for i in range(40)]
    data = build_v6([pages[:3], pages])
    cut = len(data) - 12 * 4096 - 100          # inside cpu 1 page 27, after its one record
    path = write(tmp_path, data[:cut])
    r = DatReader(path)
    recs = list(r.records())
    assert [x.fields["mm_id"] for x in recs if x.cpu == 1] == list(range(28))
    assert [x.fields["mm_id"] for x in recs if x.cpu == 0] == [0, 1, 2]
    assert str(r.problems[0]) == f"{path}: cpu 1: 13 of 40 pages missing (file ends at byte {cut})"
    with pytest.raises(TraceError, match="13 of 40 pages missing"):
        DatReader(path, strict=True)


def test_not_a_trace_dat(tmp_path):
    path = write(tmp_path, b"hello world, not a trace")
    r = DatReader(path)
    assert list(r.records()) == [] and "is not a trace.dat file" in str(r.problems[0])
    with pytest.raises(TraceError, match="not a trace.dat"):
        DatReader(path, strict=True)
    with pytest.raises(TraceError, match="no such file"):
        DatReader(str(tmp_path / "missing.dat"))


def test_options_are_read(tmp_path):
    opts = [(4, b"local global [counter] uptime\0"), (5, b"Linux box 5.14.0 x86_64\0"),
            (8, struct.pack("<I", 1)), (7, struct.pack("<q", -5)),
            (2, b"CPU: 0\nentries: 0\noverrun: 3\nread events: 1\n\0")]
    r = DatReader(write(tmp_path, build_v6([[page(100, [("rec", 0, rss_payload(1, 1))])]],
                                           options=opts)))
    rec, = r.records()
    assert r.meta["clock"] == "counter" and not r.ns_clock
    assert r.meta["flags_width"] == 4 and rec.flags == "...."       # a 5.14 kernel
    assert rec.ts == 95 and r.meta["ts_offset"] == -5
    assert (r.meta["entries"], r.meta["entries_written"]) == (1, 4)


def test_field_kinds():
    assert field_kind("unsigned long", 8, False) == (0, 8)
    assert field_kind("int", 4, True) == (1, 4)
    assert field_kind("char[16]", 16, False) == (2, 1)
    assert field_kind("__data_loc char[]", 4, False) == (3, 1)
    assert field_kind("__rel_loc char[]", 4, False) == (4, 1)
    assert field_kind("unsigned long[6]", 48, False) == (5, 8)
    assert field_kind("__data_loc unsigned long[]", 4, False) == (6, 8)
    assert field_kind("u8[3]", 3, False) == (5, 1)
    assert field_kind("u128", 16, False) == (8, 1)


def test_file_kallsyms_lookup():
    k = FileKallsyms("ffffffff81000000 T _text\nffffffff81000010 t a\nffffffff81000030 T b\n"
                     "junk\n")
    assert k.lookup(0xFFFFFFFF81000015) == ("a", 5, 0x20)
    assert k.lookup(0xFFFFFFFF81000030) == ("b", 0, 0)          # the last one: only itself
    assert k.lookup(0xFFFFFFFF81000031) is None and k.lookup(5) is None
    assert k.symbol_addr("b") == 0xFFFFFFFF81000030
