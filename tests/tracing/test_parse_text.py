"""memsim.tracing.textparse: text traces read back (FORMAT-NOTES 1-4, 6, 9, 10).

Scenarios: the captured 6.18 ``trace`` file and its ``trace-cmd report`` twin parse completely;
the payload fields come back typed through each event's print fmt; the real captures in
tests/tracing/data (record-tgid, trace_pipe with LOST lines, noirq-info, the counter clock,
trace-cmd report -R/-t/-l) parse with their dialect detected; synthetic lines cover each edge
case; bad lines are problems (``file:N``), strict mode raises at the first; columns equal
records; and a memsim run's text parses back to exactly what memsim recorded.
"""
import collections
import gzip
import io
import re
from pathlib import Path

import pytest

from memsim.errors import TraceError
from memsim.tracing.columns import column_name
from memsim.tracing.columns import Columns
from memsim.tracing.formats import FormatSet
from memsim.tracing.printfmt import compile_decl
from memsim.tracing.reader import open_trace
from memsim.tracing.textparse import TextReader

DATA = Path(__file__).parent / "data"
M64 = (1 << 64) - 1
# an independent reading of a kernel trace line (comm, pid, cpu, flags, µs timestamp, name)
LINE_RE = re.compile(r"^\s*(.+?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(\S{4,5}\s+)?"
                     r"(\d+)\.(\d+):\s+(\w+):\s*(.*)$")


def reader(text, name="t.txt", **kw):
    data = text.encode() if isinstance(text, str) else text
    return TextReader(name, io.BytesIO(data), **kw)


def parse(text, **kw):
    r = reader(text, **kw)
    return r, list(r.records())


def assert_columns_equal_records(cols: Columns, recs):
    """Every record's common values and fields are in its event table's row."""
    pos = collections.Counter()
    for seq, rec in enumerate(recs):
        t = cols[rec.full_name]
        i = pos[rec.full_name]
        pos[rec.full_name] += 1
        assert t["seq"][i] == seq
        assert (t["ts"][i], t["cpu"][i], t["pid"][i], t["comm"][i], t["flags"][i]) == \
            (rec.ts, rec.cpu, rec.pid, rec.comm, rec.flags)
        assert t["tgid"][i] == (-1 if rec.tgid is None else rec.tgid)
        for k, v in rec.fields.items():
            assert t[column_name(k)][i] == v, (rec, k)
    assert sum(pos.values()) == len(cols)


# -- the captured 6.18 trace (FORMAT-NOTES 1-3, 10) -----------------------------------------
@pytest.fixture(scope="module")
def corpus(traces_dir):
    path = traces_dir / "ftrace-mm-workload.txt.gz"
    r = open_trace(str(path))
    recs = list(r.records())
    with gzip.open(path, "rt") as f:
        lines = [l.rstrip("\n") for l in f if not l.startswith("#")]
    return r, recs, lines


def test_corpus_parses_completely(corpus):
    r, recs, lines = corpus
    assert isinstance(r, TextReader)
    assert len(recs) == 22851 == len(lines)
    assert r.nproblems == 0 and r.problems == []
    want = collections.Counter(LINE_RE.match(l).group(7) for l in lines)
    assert collections.Counter(x.event for x in recs) == want
    assert {x.full_name for x in recs} >= {"kmem:rss_stat", "kmem:mm_page_alloc",
                                           "filemap:mm_filemap_add_to_page_cache",
                                           "memcg:mod_memcg_lruvec_state"}


def test_corpus_header_meta(corpus):
    r = corpus[0]
    assert r.meta["format"] == "text" and r.meta["dialect"] == "kernel"
    assert (r.meta["entries"], r.meta["entries_written"]) == (22851, 22851)
    assert r.meta["ncpus"] == 2
    assert r.meta["tracer"] == "nop"
    assert r.meta["flags_width"] == 5
    assert r.meta["tgid"] is False
    assert r.meta["clock"] == "local"
    assert r.meta["lost"] == []


def test_corpus_context_fields(corpus):
    _, recs, lines = corpus
    for rec, line in zip(recs, lines):
        m = LINE_RE.match(line)
        assert rec.comm == m.group(1).strip() and rec.pid == int(m.group(2))
        assert rec.cpu == int(m.group(3)) and rec.flags == m.group(4).strip()
        assert rec.ts == int(m.group(5)) * 10**9 + int(m.group(6)) * 1000
        assert rec.tgid is None and rec.payload == m.group(8)


def test_corpus_rss_stat_fields(corpus):
    _, recs, _ = corpus
    rss = [x for x in recs if x.event == "rss_stat"]
    assert len(rss) == 1991
    names = {"MM_FILEPAGES": 0, "MM_ANONPAGES": 1, "MM_SWAPENTS": 2, "MM_SHMEMPAGES": 3}
    for x in rss:
        assert set(x.fields) == {"mm_id", "curr", "member", "size"}
        assert all(type(v) is int for v in x.fields.values())
        m = re.fullmatch(r"mm_id=(\d+) curr=(\d+) type=(\w+) size=(-?\d+)B", x.payload)
        assert x.fields == {"mm_id": int(m.group(1)), "curr": int(m.group(2)),
                            "member": names[m.group(3)], "size": int(m.group(4))}


def test_corpus_filemap_fields(corpus):
    _, recs, _ = corpus
    fm = [x for x in recs if x.event.startswith("mm_filemap")]
    assert len(fm) == 453 + 695
    for x in fm:
        m = re.fullmatch(r"dev (\d+):(\d+) ino ([0-9a-f]+) pfn=0x([0-9a-f]+) ofs=(\d+) order=(\d+)",
                         x.payload)
        assert x.fields == {"s_dev": (int(m.group(1)) << 20) | int(m.group(2)),
                            "i_ino": int(m.group(3), 16), "pfn": int(m.group(4), 16),
                            "index": int(m.group(5)) >> 12, "order": int(m.group(6))}
    assert fm[0].fields["s_dev"] == (254 << 20) | 0


def test_corpus_gfp_flags_resolve_through_the_format_table(corpus, traces_dir):
    """The numbers printed again by the event's own table give the text of the trace."""
    _, recs, _ = corpus
    fs = FormatSet.from_dir(str(traces_dir / "formats"))
    fmt = compile_decl(fs.by_name("mm_page_alloc"))
    allocs = [x for x in recs if x.event == "mm_page_alloc"]
    assert len(allocs) == 2336
    seen = {}
    for x in allocs:
        gfp = x.fields["gfp_flags"]
        printed = x.payload.rsplit("gfp_flags=", 1)[1]
        seen[printed] = gfp
        again = fmt.payload(dict(x.fields))
        assert again.rsplit("gfp_flags=", 1)[1] == printed
    assert seen["GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP"] == 0x440DC0
    assert all(type(v) is int for v in seen.values())
    assert allocs[0].fields["page"] == 0x7C1ED87D          # hashed %p under its label


def test_corpus_columns_equal_records(corpus, traces_dir):
    r, recs, _ = corpus
    cols = open_trace(str(traces_dir / "ftrace-mm-workload.txt.gz")).columns()
    assert len(cols) == 22851
    assert_columns_equal_records(cols, recs)
    t = cols["kmem:rss_stat"]
    assert t["size"].typecode == "q" and t["mm_id"].typecode == "q"
    assert cols["kmem:mm_page_alloc"]["gfp_flags"].typecode == "Q"


def test_batches_are_bounded_and_seq_continues(traces_dir):
    r = open_trace(str(traces_dir / "ftrace-mm-workload.txt.gz"))
    sizes = []
    seqs = []
    for b in r.batches(size=5000):
        sizes.append(len(b))
        for t in b:
            seqs.extend(t["seq"])
    assert sizes == [5000] * 4 + [2851]
    assert sorted(seqs) == list(range(22851))


# -- trace-cmd report (FORMAT-NOTES 6) ------------------------------------------------------
def test_report_dialect_parses_completely(traces_dir):
    path = traces_dir / "trace-mm-workload.report.txt.gz"
    r = open_trace(str(path))
    recs = list(r.records())
    assert len(recs) == 22894 and r.nproblems == 0
    assert r.meta["dialect"] == "trace-cmd" and r.meta["ncpus"] == 2
    assert r.meta["flags_width"] is None
    with gzip.open(path, "rt") as f:
        names = collections.Counter(l.split(": ")[1].split(":")[0].strip()
                                    for l in f if not l.startswith("cpus="))
    assert collections.Counter(x.event for x in recs) == names
    assert all(x.flags is None for x in recs)
    first = next(x for x in recs if x.event == "rss_stat")
    assert first.fields == {"mm_id": 1308728620, "curr": 0, "member": 1, "size": 4096}
    alloc = next(x for x in recs if x.event == "mm_page_alloc")
    assert alloc.fields["page"] == alloc.fields["pfn"] == 0x116DA0
    assert_columns_equal_records(open_trace(str(path)).columns(), recs)


@pytest.fixture(scope="module")
def report_variants():
    out = {}
    for k in "Rtl":
        r = open_trace(str(DATA / f"report-{k}.txt.gz"))
        out[k] = (r, list(r.records()))
    return out


def test_report_variants_agree(report_variants):
    """-t (ns), -l (latency columns) and -R (raw fields) of the same 300 events."""
    (rr, raw), (rt, ns), (rl, lat) = (report_variants[k] for k in "Rtl")
    for r in (rr, rt, rl):
        assert r.nproblems == 0 and r.meta["dialect"] == "trace-cmd"
    assert len(raw) == len(ns) == len(lat) == 300
    assert rl.meta["flags_width"] == 5 and rt.meta["flags_width"] is None
    for a, b, c in zip(raw, ns, lat):
        assert a.event == b.event == c.event and a.pid == b.pid == c.pid
        assert a.cpu == b.cpu == c.cpu
        assert c.flags is not None and len(c.flags) == 5 and a.flags is None
        assert abs(b.ts - c.ts) <= 500 and c.ts % 1000 == 0      # -t keeps the ns
        assert b.fields == c.fields
        # -R has the raw fields: every recoverable field agrees
        for k, v in a.fields.items():
            if k in b.fields:
                assert b.fields[k] == v, (a, b)
    assert any(x.ts % 1000 for x in ns)
    assert sum(1 for x in raw if x.event.startswith("mm_filemap")) == 15


# -- real captures (tests/tracing/data/README.md) ---------------------------------------------
def load(name, **kw):
    r = open_trace(str(DATA / name), **kw)
    return r, list(r.records())


def test_capture_record_tgid():
    r, recs = load("ftrace-tgid.txt.gz")
    assert r.meta["dialect"] == "kernel" and r.meta["tgid"] is True
    assert len(recs) == 300 and r.nproblems == 0
    assert all(x.tgid is not None for x in recs)
    assert recs[0].tgid == recs[0].pid == 20134
    assert_columns_equal_records(open_trace(str(DATA / "ftrace-tgid.txt.gz")).columns(), recs)


def test_capture_trace_pipe_with_lost_events():
    r, recs = load("ftrace-pipe-lost.txt.gz")
    assert r.meta["dialect"] == "trace_pipe"
    assert r.meta["lost"] == [(0, 8677), (1, 16932)]
    assert r.nproblems == 0 and len(recs) == 734
    assert recs[0].comm == "<idle>" and recs[0].pid == 0


def test_capture_noirq_info():
    r, recs = load("ftrace-noirq.txt.gz")
    assert r.meta["flags_width"] is None and r.meta["dialect"] == "kernel"
    assert len(recs) == 300 and r.nproblems == 0
    assert all(x.flags is None for x in recs)


def test_capture_counter_clock():
    r, recs = load("ftrace-counter.txt.gz")
    assert r.meta["clock"] == "counter" and r.meta["flags_width"] == 5
    assert len(recs) == 300 and r.nproblems == 0
    assert [x.ts for x in recs[:3]] == [2, 3, 4]
    assert all(a.ts < b.ts for a, b in zip(recs, recs[1:]))


# -- synthetic edge cases ----------------------------------------------------------------------
RSS = "rss_stat: mm_id=1 curr=0 type=MM_ANONPAGES size=4096B"


def test_four_char_flags_of_older_kernels():
    text = ("# tracer: nop\n#\n#                                _-----=> irqs-off\n"
            f"          parent-1000    [000] d.h2     0.000001: {RSS}\n")
    r, (x,) = parse(text)
    assert x.flags == "d.h2" and r.meta["flags_width"] == 4
    assert x.fields["member"] == 1


def test_noirq_line_without_flags():
    r, (x,) = parse(f"            bash-55      [001]   12.000004: {RSS}\n")
    assert x.flags is None and x.ts == 12_000_004_000 and r.meta["flags_width"] is None


def test_tgid_column_known_and_unknown():
    text = (f"           <...>-4242  (-------) [003] ..s2.   12.000002: {RSS}\n"
            f"          <idle>-0     (      0) [000] d.h1.   12.000003: {RSS}\n"
            f"            bash-77    (     70) [001] .....   12.000004: {RSS}\n")
    r, recs = parse(text)
    assert [(x.comm, x.pid, x.tgid) for x in recs] == [("<...>", 4242, None), ("<idle>", 0, 0),
                                                       ("bash", 77, 70)]
    assert r.meta["tgid"] is True
    assert list(reader(text).columns()["kmem:rss_stat"]["tgid"]) == [-1, 0, 70]


def test_comm_with_spaces_dashes_colons_and_brackets():
    text = (f" kworker/u8:2-my-12-345   [001] d..2.   440.449083: {RSS}\n"
            f"      a [1] b-77    [000] .N... 1.000001: {RSS}\n"
            f"  x-1 [2]-9     [000] ..... 1.000002: {RSS}\n")
    _, recs = parse(text)
    assert [(x.comm, x.pid) for x in recs] == [("kworker/u8:2-my-12", 345), ("a [1] b", 77),
                                               ("x-1 [2]", 9)]


def test_lost_event_lines_are_meta_not_problems():
    text = (f"CPU:1 [LOST 12 EVENTS]\n            bash-55   [001] ..... 1.000000: {RSS}\n"
            "CPU:0 [LOST EVENTS]\n[LOST EVENTS]\n")
    r, recs = parse(text)
    assert len(recs) == 1 and r.nproblems == 0
    assert r.meta["lost"] == [(1, 12), (0, None), (None, None)]
    assert r.meta["dialect"] == "trace_pipe"


def test_trace_cmd_ns_timestamps():
    padded = RSS.replace(": ", ":             ", 1)            # name: padded to 21 columns
    text = f"cpus=4\n            bash-55   [003]  1159.695877271: {padded}\n"
    r, (x,) = parse(text)
    assert x.ts == 1159_695_877_271 and x.cpu == 3
    assert r.meta["dialect"] == "trace-cmd" and r.meta["ncpus"] == 4
    assert x.fields["member"] == 1 and x.payload.startswith("mm_id=1")


def test_trace_cmd_raw_fields():
    text = ("cpus=2\n"
            "        workload-14655 [001]  1159.695851: mm_page_alloc:         "
            "pfn=0x116da0 order=0 "
            "gfp_flags=0x440dc0 migratetype=0\n"
            "        workload-14655 [001]  1159.695877: rss_stat:              mm_id=1308728620 "
            "curr=0 member=1 size=4096\n")
    _, (a, b) = parse(text)
    assert a.fields == {"pfn": 0x116DA0, "order": 0, "gfp_flags": 0x440DC0, "migratetype": 0}
    assert b.fields == {"mm_id": 1308728620, "curr": 0, "member": 1, "size": 4096}


def test_older_kernel_numeric_member():
    _, (x,) = parse("            bash-55   [001] ....   1.000000: rss_stat: mm_id=7 curr=1 "
                    "member=3 size=8192B\n")
    assert x.fields == {"mm_id": 7, "curr": 1, "member": 3, "size": 8192}


def test_unknown_event_generic_fields():
    _, (x, y) = parse("            bash-55   [001] ..... 1.000000: my_probe: a=1 b=0x10 c=hi\n"
                      "            bash-55   [001] ..... 1.000001: my_probe: free text\n")
    assert x.system == "" and x.full_name == "my_probe"
    assert x.fields == {"a": 1, "b": 16, "c": "hi"} and y.fields == {}
    assert y.payload == "free text"
    cols = reader("            bash-55   [001] ..... 1.000000: my_probe: a=1 b=0x10 c=hi\n"
                  "            bash-55   [001] ..... 1.000001: my_probe: free text\n").columns()
    assert list(cols["my_probe"]["a"]) == [1, None]


def test_field_columns_named_like_common_columns():
    """oom:mark_victim has a ``pid`` field: its column is ``pid_``."""
    text = ("            oomk-55   [001] ..... 1.000000: mark_victim: pid=1234 comm=victim "
            "total-vm=100kB anon-rss=8kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB "
            "oom_score_adj=0\n")
    _, (x,) = parse(text)
    assert x.pid == 55 and x.fields["pid"] == 1234 and x.fields["comm"] == "victim"
    t = reader(text).columns()["oom:mark_victim"]
    assert list(t["pid"]) == [55] and list(t["pid_"]) == [1234]
    assert t["comm"] == ["oomk"] and t["comm_"] == ["victim"]


def test_crlf_and_missing_final_newline():
    _, recs = parse(f"            bash-55   [001] ..... 1.000000: {RSS}\r\n"
                    f"            bash-55   [001] ..... 1.000001: {RSS}")
    assert len(recs) == 2 and recs[0].payload == recs[1].payload


def test_lines_split_across_chunks(corpus, traces_dir):
    """Tiny read sizes cut lines anywhere: same records."""
    _, recs, _ = corpus
    with gzip.open(traces_dir / "ftrace-mm-workload.txt.gz", "rb") as f:
        data = f.read()[:200_000]
    whole = list(reader(data).records())
    for size in (1, 97, 4096):
        assert list(reader(data, chunk_size=size).records()) == whole
    assert whole[:-1] == recs[:len(whole) - 1]        # the last line is cut short


# -- problems ----------------------------------------------------------------------------------
BAD = (f"            bash-55   [001] ..... 1.000000: {RSS}\n"
       "this line is not an event\n"
       "            bash-55   [001] ..... garbage: rss_stat: x\n"
       f"            bash-55   [001] ..... 1.000002: {RSS}\n")


def test_malformed_lines_are_counted_and_skipped():
    r, recs = parse(BAD, name="bad.txt")
    assert len(recs) == 2
    assert r.nproblems == 2
    assert [str(p).split(":")[1] for p in r.problems] == ["2", "3"]
    assert str(r.problems[0]).startswith("bad.txt:2: not a trace event line")
    assert str(r.problems[1]).startswith("bad.txt:3: ")
    r2 = reader(BAD, name="bad.txt")
    assert len(r2.columns()) == 2 and r2.nproblems == 2


def test_strict_raises_at_the_first_bad_line():
    r = reader(BAD, name="bad.txt", strict=True)
    got = []
    with pytest.raises(TraceError) as e:
        for x in r.records():
            got.append(x)
    assert len(got) == 1
    assert str(e.value).startswith("bad.txt:2: not a trace event line")
    with pytest.raises(TraceError, match="bad.txt:2"):
        reader(BAD, name="bad.txt", strict=True).columns()


def test_truncated_gzip_keeps_what_came_before(tmp_path):
    """A cut-off .gz: the lines before the damage, then one problem (strict: TraceError)."""
    text = "".join(f"            bash-55   [001] ..... {i}.000000: {RSS}\n"
                   for i in range(20000)).encode()
    data = gzip.compress(text)
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[:len(data) // 2])
    r = open_trace(str(path))
    recs = list(r.records())
    assert 0 < len(recs) < 20000 and r.nproblems == 1    # the cut last line is dropped, not parsed
    assert str(r.problems[0]).startswith(f"{path}: cannot read further: Compressed file ended before "
                                         "the end-of-stream marker was reached")
    assert recs[-1].ts == (len(recs) - 1) * 10**9
    assert [x.ts for x in recs[:3]] == [0, 10**9, 2 * 10**9]
    with pytest.raises(TraceError, match="cannot read further"):
        list(open_trace(str(path), strict=True).records())


def test_second_pass_rewinds_a_seekable_stream():
    r = reader(BAD)
    a = list(r.records())
    b = list(r.records())
    assert a == b and r.nproblems == 2


def test_second_pass_on_a_pipe_is_refused():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buf):
            n = self.b.readinto(buf)
            return n

    r = TextReader("pipe", io.BufferedReader(Pipe(BAD.encode())))
    list(r.records())
    with pytest.raises(TraceError, match="already read"):
        list(r.records())


# -- memsim round trip ------------------------------------------------------------------------
WORKLOAD = """
machine:
  cpus: 2
  kernel: {kernel}
  nodes:
    - memory: 256 MiB
tasks:
  - name: parent
    cpu: 0
    steps:
      - mmap: {{name: buf, length: 2 MiB}}
      - touch: {{vma: buf, access: write}}
      - kmalloc: {{name: small, size: 100, count: 10}}
      - kmalloc: {{name: big, size: 12 KiB, gfp: GFP_KERNEL|__GFP_ACCOUNT}}
      - fork:
          child: child
          cpu: 1
          steps:
            - touch: {{vma: buf, length: 512 KiB, access: write}}
            - exit: {{}}
      - kfree: {{name: big}}
      - kfree: {{name: small}}
      - munmap: {{vma: buf}}
  - name: io worker-2
    cpu: 1
    steps:
      - mmap: {{name: b2, length: 1 MiB}}
      - touch: {{vma: b2, access: write}}
"""


def _label_value(text, label, kind):
    m = re.search(rf"(?:^|[ ,]){re.escape(label)}=(\S+)", text)
    tok = m.group(1)
    return int(tok, 16) if kind == "ptr" else tok


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_memsim_round_trip(kernel, tmp_path):
    """What memsim recorded in its ring buffer == what the text parser reads back."""
    from memsim.testing import run_text
    from memsim.tracing.text import TextRenderer, comm_of, irq_info
    run = run_text(WORKLOAD.format(kernel=kernel), events=("kmem:*",))
    m = run.machine
    reg = m.events
    renderer = TextRenderer(reg, m.profile.name, m.comms, m.ptr_key)
    path = tmp_path / "trace.txt"
    with open(path, "w") as f:
        renderer.render(m.tb, f)
    r = open_trace(str(path), registry=reg)
    recs = list(r.records())
    assert r.nproblems == 0
    width = m.profile.trace_flags_width
    expected = []
    for ts, cpu, p in TextRenderer.merged(m.tb):
        decl, vals = reg.decode(p)
        expected.append((decl, vals, ts, cpu))
    assert len(recs) == len(expected) > 100
    assert collections.Counter(x.full_name for x in recs) == \
        collections.Counter(d.full_name for d, *_ in expected)
    assert r.meta["flags_width"] == width
    formatters = {}
    for rec, (decl, vals, ts, cpu) in zip(recs, expected):
        pid = vals["common_pid"]
        assert (rec.full_name, rec.pid, rec.cpu, rec.comm) == \
            (decl.full_name, pid, cpu, comm_of(pid, m.comms))
        assert rec.ts == (ts + 500) // 1000 * 1000
        assert rec.flags == irq_info(vals["common_flags"], vals["common_preempt_count"], width)
        pat = r.patterns[decl.full_name]
        want = {}
        recovered = pat.recovered()
        for s in pat.slots:
            if s.is_field and s.name in recovered:
                v = vals[s.name]
                if s.name == "pfn" and v == M64 and "-1UL" in decl.print_fmt:
                    v = 0
                want[s.name] = s.wrap(v) if s.kind == 0 else v
        fmt = formatters.setdefault(decl.full_name, compile_decl(decl, ptr_key=m.ptr_key))
        text = fmt.payload(vals)
        assert rec.payload == text
        for s in pat.slots:
            if not s.is_field and s.name in recovered:
                conv = next(c for c in pat.pieces if not isinstance(c, str)
                            and (c.slot == pat.slot_index[s.name]
                                 or c.text_slot == pat.slot_index[s.name]))
                want[s.name] = _label_value(text, conv.label, conv.kind)
                if conv.kind == "num":
                    want[s.name] = int(want[s.name])
        assert rec.fields == want, (rec, vals)
    cols = open_trace(str(path), registry=reg).columns()
    assert_columns_equal_records(cols, recs)


def test_memsim_cli_trace_parses(tmp_path):
    """``memsim run --trace`` output reads back with the counts of the summary."""
    from click.testing import CliRunner
    from memsim.cli import main
    cfg = tmp_path / "w.yaml"
    cfg.write_text(WORKLOAD.format(kernel="v6.18"))
    out = tmp_path / "x.txt"
    res = CliRunner().invoke(main, ["run", str(cfg), "--trace", str(out), "--json",
                                    "--events", "kmem:rss_stat,kmem:mm_page_alloc"])
    assert res.exit_code == 0, res.output
    import json
    summary = json.loads(res.output[res.output.index("{"):])
    r = open_trace(str(out))
    recs = list(r.records())
    assert r.nproblems == 0
    assert len(recs) == summary["events"]["written"]
    assert {x.full_name for x in recs} == {"kmem:rss_stat", "kmem:mm_page_alloc"}
    assert (r.meta["entries"], r.meta["entries_written"]) == (len(recs), len(recs))
    assert {x.comm for x in recs} == {"parent", "io worker-2"}       # a comm with a space
