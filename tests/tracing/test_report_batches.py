"""``trace report`` from column batches prints what the per-record renderer prints.

:func:`memsim.tracing.convert.write_text` renders a whole trace from column batches
(:meth:`Renderer.batch_text`: print fmts over whole columns, lines put together in C); a
selection still goes record by record (:meth:`Renderer.line`).  The two must give the same
bytes, whatever the input: the real captures (kernel text, trace-cmd text, trace.dat), the
corpus' odd texts (no irq-info, tgid, counter clock, trace_pipe) and trace.dat files of
instance buffers (trace-cmd's buffer column) and trace_marker prints, lines whose payload the
pattern does not match, random values in every mm event, and kmem events that trace-cmd's
plugins print.
"""
import gzip
import io
import random
from array import array
from pathlib import Path

import pytest

from memsim.tracing.columns import Columns, EventTable
from memsim.tracing.convert import render_text, write_text
from memsim.tracing.reader import open_trace
from memsim.tracing.report import Renderer
from memsim.tracing.tracedat import DatReader, FileKallsyms

DATA = Path(__file__).parent / "data"
STYLES = [("kernel", False), ("trace-cmd", False), ("trace-cmd", True)]


def by_records(path, style, ns):
    with open_trace(str(path)) as r:
        out = io.StringIO()
        render_text(r, r.records(), out, style=style, ns=ns)
        return out.getvalue()


def by_batches(path, style, ns):
    with open_trace(str(path)) as r:
        out = io.StringIO()
        assert write_text(r, out, style=style, ns=ns)[0] > 0
        return out.getvalue()


def small_batches(path, style, ns, size):
    """Renderer.batch_text over batches of ``size`` events (many seq bases)."""
    with open_trace(str(path)) as r:
        rend = Renderer.for_reader(style, r, ns=ns)
        return b"".join(rend.batch_text(b) for b in r.batches(size, payloads=True)).decode()


def corpus():
    """The corpus' texts and trace.dat files (instance buffers, trace_marker prints)."""
    yield from sorted(DATA.glob("*.txt.gz"))
    yield from sorted(DATA.glob("*.dat")) + sorted(DATA.glob("*.dat.gz"))


@pytest.mark.parametrize("style,ns", STYLES)
def test_captures_by_batches_equal_by_records(traces_dir, style, ns):
    for name in ("trace-mm-workload.dat", "ftrace-mm-workload.txt.gz",
                 "trace-mm-workload.report.txt.gz"):
        path = traces_dir / name
        want = by_records(path, style, ns)
        assert by_batches(path, style, ns) == want, name
        body = want.split("\n", 1)[1] if style == "trace-cmd" else "".join(
            l + "\n" for l in want.splitlines() if not l.startswith("#"))
        assert small_batches(path, style, ns, 997) == body, name


@pytest.mark.parametrize("path", list(corpus()), ids=lambda p: p.name)
@pytest.mark.parametrize("style,ns", STYLES)
def test_corpus_by_batches_equal_by_records(path, style, ns):
    assert by_batches(path, style, ns) == by_records(path, style, ns)


@pytest.mark.parametrize("style,ns", STYLES)
def test_payloads_the_pattern_does_not_match(traces_dir, tmp_path, style, ns):
    """Lines read through the keyed fallback (fields missing, values that are not numbers)
    make their tables go row by row, with the same text."""
    with gzip.open(traces_dir / "ftrace-mm-workload.txt.gz", "rt") as f:
        lines = f.read().splitlines(keepends=True)
    rnd = random.Random(4)
    out = []
    for line in lines:
        if not line.startswith("#") and rnd.random() < 0.05:
            head, sep, payload = line.partition(": ")
            head2, sep2, payload2 = payload.partition(": ")
            payload2 = rnd.choice(["mm_id=zz curr=1 type=MM_ANONPAGES size=4096B\n",
                                   "garbage\n", "order=3\n", "memcg_id=1 item=x val=2\n"])
            line = head + sep + head2 + sep2 + payload2
        out.append(line)
    path = tmp_path / "odd.txt"
    path.write_text("".join(out))
    want = by_records(path, style, ns)
    assert by_batches(path, style, ns) == want
    assert small_batches(path, style, ns, 13) == "".join(
        l + "\n" for l in want.splitlines() if not l.startswith(("#", "cpus=")))


@pytest.mark.parametrize("style,ns", STYLES)
def test_random_mm_values_and_plugin_events(traces_dir, tmp_path, style, ns):
    """Every mm event of the capture's formats with random values (all ones, 0, gfp-like),
    and kmem events whose call_site trace-cmd's plugin prints: batches equal records."""
    from memsim.tracing.formats import FormatSet
    from memsim.tracing.tracedat_write import pack_pages, write_trace_dat
    src = DatReader(str(traces_dir / "trace-mm-workload.dat"))
    rnd = random.Random(11)
    fs = FormatSet()
    fs.header_page, fs.header_event = src.formats.header_page, src.formats.header_event
    recs, ts = [], 10**12

    def value(f):
        if f.is_data_loc:
            return rnd.choice(["anon_vma", "", "kmalloc-64"])
        if f.is_array:
            return rnd.choice(["bash", "kworker/u8:2"])
        bits = 8 * f.size
        x = rnd.random()
        return (0 if x < 0.2 else (1 << bits) - 1 if x < 0.3 else rnd.randrange(16) if x < 0.6
                else rnd.getrandbits(bits))

    for type_id, decl in src.formats.items():
        if decl.system not in ("kmem", "filemap", "memcg", "vmscan", "tlb", "oom", "huge_memory"):
            continue
        fs.add(decl, type_id)
        for _ in range(6):
            ts += rnd.randrange(0, 3000)
            values = {f.name: value(f) for f in decl.fields}
            recs.append((ts, decl.codec.pack(type_id, rnd.getrandbits(8), rnd.getrandbits(8),
                                             rnd.choice([0, 1, 14655]), values)))
    recs.sort(key=lambda r: r[0])
    path = tmp_path / "mm.dat"
    write_trace_dat(str(path), formats=fs, cpu_pages=[pack_pages(recs)],
                    cmdlines={14655: "workload", 1: "systemd"}, kallsyms=src.kallsyms_text)
    want = by_records(path, style, ns)
    assert len(want.splitlines()) > 300
    assert by_batches(path, style, ns) == want
    assert small_batches(path, style, ns, 7) in (want.split("\n", 1)[1], "".join(
        l + "\n" for l in want.splitlines() if not l.startswith("#")))


def test_rows_out_of_seq_order_are_sorted():
    """A batch whose seq values are not one run (columns made by hand) is still printed in
    seq order."""
    from memsim.tracing.formats import FormatSet
    cols = {"seq": array("q", [30, 10]), "ts": array("q", [2000, 1000]), "cpu": array("q", [0, 1]),
            "pid": array("q", [5, 6]), "tgid": array("q", [-1, -1]), "comm": ["a", "b"],
            "flags": [None, None]}
    t = EventTable("x:ev", cols, payloads=["second", "first"])
    rend = Renderer("kernel", FormatSet(), payload_style="kernel", flags=False)
    from memsim.tracing.record import Record
    want = [rend.line(Record("x", "ev", 6, None, "b", 1, 1000, None, {}, "first")),
            rend.line(Record("x", "ev", 5, None, "a", 0, 2000, None, {}, "second"))]
    assert want[0].endswith("0.000001: ev: first")
    assert rend.batch_text(Columns({"x:ev": t})).decode().splitlines() == want


def test_kallsyms_symbol_before_the_first_lookup_is_the_parsed_one(traces_dir):
    text = DatReader(str(traces_dir / "trace-mm-workload.dat")).kallsyms_text
    names = [l.split()[2] for l in text.splitlines()[::997] if len(l.split()) >= 3]
    names += ["vmemmap_base", "no_such_symbol", "_text"]
    text += "ffffffffc0000000 t _text [dup]\nnot-hex T _text\n"
    lazy, parsed = FileKallsyms(text), FileKallsyms(text)
    parsed.lookup(0)
    assert [lazy.symbol_addr(n) for n in names] == [parsed.symbol_addr(n) for n in names]
    assert lazy.symbol_addr("_text") == 0xffffffffc0000000


SELECTIONS = [
    dict(events=("kmem:rss_stat",)),
    dict(events=("rss_stat", "filemap", "nosuch:*"), pids=(14656, 6924)),
    dict(cpus=(1,)),
    dict(events=("kmem:mm_page_*",), t_from=1159_700_000_000, t_to=1159_800_000_000),
    dict(t_from=440_450_000_000, t_to=440_460_000_000, pids=(6923,)),
    dict(events=("memcg",), t_from=10**15),             # a window that holds none
    dict(pids=(424242,)),
]


@pytest.mark.parametrize("style", ["kernel", "trace-cmd"])
@pytest.mark.parametrize("sel", SELECTIONS, ids=lambda d: ",".join(sorted(d)))
def test_selections_by_batches_equal_by_records(traces_dir, style, sel):
    """-e/--pid/--cpu/--from/--to over column batches (select_columns) print what select()
    over records prints, and the matcher learns the same (unused and unkept globs)."""
    from memsim.tracing.select import EventMatcher, Selection, select
    selection = Selection(**sel)
    for name in ("trace-mm-workload.dat", "ftrace-mm-workload.txt.gz"):
        path = str(traces_dir / name)
        m1 = EventMatcher(selection.events)
        with open_trace(path) as r:
            want = io.StringIO()
            render_text(r, select(r.records(), selection, m1), want, style=style,
                        exact_count=True)
        m2 = EventMatcher(selection.events)
        with open_trace(path) as r:
            got = io.StringIO()
            nread, written = write_text(r, got, style=style, selection=selection, matcher=m2)
        assert got.getvalue() == want.getvalue(), name
        assert nread > 20000 and written == len(want.getvalue().splitlines()) - (
            1 if style == "trace-cmd" else 12)
        assert (m2.unused(), m2.unkept()) == (m1.unused(), m1.unkept())
