"""``reader.meta``: one schema for every reader (memsim.tracing.record, "Reader meta").

Scenarios: each kind of text (the kernel's ``trace`` file, ``trace_pipe`` output with lost
events, ``trace-cmd report -t``, an integer clock, no irq-info column) and a trace.dat give the
common keys with the documented values and types; :meth:`Renderer.for_reader` reads them (the
payload dialect, the clock, the flags column).
"""
from pathlib import Path

import pytest

from memsim.tracing.convert import DatBuilder, guarded_records
from memsim.tracing.reader import open_trace
from memsim.tracing.record import FORMATS, TEXT_DIALECTS, new_meta
from memsim.tracing.report import Renderer
from memsim.tracing.tracedat import DatReader

DATA = Path(__file__).parent / "data"
COMMON = set(new_meta("text"))


def read(path):
    r = open_trace(str(path))
    recs = list(r.records())
    return r, recs


def check_schema(m):
    assert COMMON <= set(m)
    assert m["format"] in FORMATS
    assert m["dialect"] in TEXT_DIALECTS if m["format"] == "text" else m["dialect"] is None
    for k in ("ncpus", "entries", "entries_written"):
        assert m[k] is None or type(m[k]) is int, k
    assert isinstance(m["clock"], str) and m["flags_width"] in (None, 4, 5)
    assert type(m["tgid"]) is bool and isinstance(m["lost"], list)


@pytest.mark.parametrize("name, want", [
    ("ftrace-noirq.txt.gz", dict(dialect="kernel", ncpus=2, entries=24678, entries_written=24678,
                                 clock="local", flags_width=None, tgid=False, lost=[])),
    ("ftrace-tgid.txt.gz", dict(dialect="kernel", clock="local", tgid=True)),
    ("ftrace-counter.txt.gz", dict(clock="counter", flags_width=5)),
    ("ftrace-pipe-lost.txt.gz", dict(dialect="trace_pipe", entries=None, entries_written=None,
                                     lost=[(0, 8677), (1, 16932)])),
    ("report-t.txt.gz", dict(dialect="trace-cmd", ncpus=2, clock="local", flags_width=None)),
])
def test_text_meta(name, want):
    r, recs = read(DATA / name)
    assert recs and r.meta["format"] == "text"
    check_schema(r.meta)
    assert {k: r.meta[k] for k in want} == want


def test_text_meta_before_reading_has_every_key(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("")
    r = open_trace(str(p))
    assert r.meta == new_meta("text", dialect="trace_pipe", tracer=None, buffers=[""],
                              buffer=None, buffer_width=None, buffer_records={})


def test_trace_dat_meta(tmp_path):
    with open_trace(str(DATA / "ftrace-tgid.txt.gz")) as r:
        b = DatBuilder(r)
        n = b.add_all(guarded_records(r))
    path = str(tmp_path / "t.dat")
    b.write(path)
    r, recs = read(path)
    assert isinstance(r, DatReader) and len(recs) == n
    check_schema(r.meta)
    m = r.meta
    assert (m["format"], m["dialect"], m["clock"], m["flags_width"], m["tgid"], m["lost"]) == \
        ("trace.dat", None, "local", 5, False, [])
    assert m["entries"] == m["entries_written"] == n and m["ncpus"] == b.ncpus


@pytest.mark.parametrize("name, payload_style, flags, ns_clock", [
    ("ftrace-noirq.txt.gz", "kernel", False, True),          # kernel text without irq-info
    ("ftrace-pipe-lost.txt.gz", "kernel", True, True),
    ("ftrace-counter.txt.gz", "kernel", True, False),
    ("report-t.txt.gz", "trace-cmd", True, True),
])
def test_renderer_for_reader_reads_the_meta(name, payload_style, flags, ns_clock):
    r = open_trace(str(DATA / name))
    list(r.records())
    rend = Renderer.for_reader("kernel", r)
    assert (rend.payload_style, rend.flags, rend.ns_clock, rend.width) == \
        (payload_style, flags, ns_clock, r.meta["flags_width"] or 5)
    assert Renderer.for_reader("kernel", r, flags=True).flags        # overrides win
