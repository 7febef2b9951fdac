"""Fuzzing the text parser: no input makes it crash (STYLE 12: never a traceback).

Scenarios: arbitrary text, random mutations and truncations of real corpus lines, and random
bytes (invalid UTF-8 included) -- the non-strict reader never raises and counts what it skips,
the strict reader raises only TraceError; records and columns agree on every input; and the
Cython payload matcher agrees with the pure-Python reference on mutated payloads.
"""
import gzip
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memsim.errors import TraceError
from memsim.tracing.formats import default_formats
from memsim.tracing.payload import compile_payload
from memsim.tracing.textparse import TextReader

FUZZ = settings(max_examples=int(os.environ.get("MEMSIM_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FORMATS = default_formats()

# a few real lines of each dialect, used as seeds when the shared captures are absent too
SEEDS = [
    b"        workload-6923    [000] ...1.   440.440206: rss_stat: mm_id=488984262 curr=1 "
    b"type=MM_FILEPAGES size=1720320B",
    b"        workload-6923    [000] .....   440.440220: mm_page_alloc: page=000000007c1ed87d "
    b"pfn=0x136a55 order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP",
    b"        workload-6923    [000] d..2.   440.449083: mm_filemap_delete_from_page_cache: "
    b"dev 254:0 ino 20c0d6 pfn=0x1072e0 ofs=65536 order=4",
    b"         python3-20134   (  20134) [001] ..... 13492.993739: mm_page_free: "
    b"page=00000000d9947ab5 pfn=0x109928 order=0",
    b"        workload-14655 [001]  1159.695877271: rss_stat:             mm_id=1308728620 curr=0 "
    b"type=MM_ANONPAGES size=4096B",
    b"workload-14655   1d..3.  1159.705046: mod_memcg_lruvec_state: memcg_id=5579 item=0 val=-1",
    b"        workload-14655 [001]  1159.695851: mm_page_alloc:         pfn=0x116da0 order=0 "
    b"gfp_flags=0x440dc0 migratetype=0",
    b"CPU:0 [LOST 8677 EVENTS]",
    b"# entries-in-buffer/entries-written: 22851/22851   #P:2",
    b"cpus=2",
]


def corpus_seeds():
    """SEEDS plus a sample of the captured trace's lines when the shared folder is there."""
    try:
        env = os.environ.get("MEMSIM_SHARED")
        p = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
        with gzip.open(p / "traces" / "ftrace-mm-workload.txt.gz", "rb") as f:
            lines = f.read().split(b"\n")
        return SEEDS + lines[:12] + lines[12::997]
    except OSError:
        return SEEDS


LINES = corpus_seeds()


def check_never_raises(data: bytes) -> None:
    r = TextReader("fuzz.txt", io.BytesIO(data), formats=FORMATS)
    recs = list(r.records())
    assert r.nproblems >= 0
    for x in recs:
        assert isinstance(x.fields, dict) and isinstance(x.comm, str)
    cols = TextReader("fuzz.txt", io.BytesIO(data), formats=FORMATS).columns()
    assert len(cols) == len(recs)
    try:
        list(TextReader("fuzz.txt", io.BytesIO(data), formats=FORMATS, strict=True).records())
    except TraceError as e:
        assert str(e).startswith("fuzz.txt:")
    try:
        TextReader("fuzz.txt", io.BytesIO(data), formats=FORMATS, strict=True).columns()
    except TraceError:
        pass


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    check_never_raises(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    check_never_raises(data)


_mutation = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 200)),
    st.tuples(st.just("del"), st.integers(0, 200), st.integers(1, 20)),
    st.tuples(st.just("ins"), st.integers(0, 200), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("set"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("ins"), st.integers(0, 200),
              st.sampled_from([b" ", b"-", b"[", b"]", b":", b"(", b")", b"0x", b"|", b"=",
                               b"\xff", b"\xc3", b"\n", b"\r", b"#", b"9" * 25])),
)


def mutate(line: bytes, muts) -> bytes:
    b = bytearray(line)
    for m in muts:
        i = min(m[1], len(b))
        if m[0] == "cut":
            del b[i:]
        elif m[0] == "del":
            del b[i:i + m[2]]
        elif m[0] == "ins":
            b[i:i] = m[2]
        elif m[0] == "set" and i < len(b):
            b[i] = m[2]
    return bytes(b)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(LINES), st.lists(_mutation, max_size=4)),
                min_size=1, max_size=8))
def test_mutated_corpus_lines(items):
    data = b"\n".join(mutate(line, muts) for line, muts in items) + b"\n"
    check_never_raises(data)


@FUZZ
@given(st.sampled_from([l for l in LINES
                        if b": " in l and not l.startswith((b"#", b"CPU", b"cpus"))]),
       st.lists(_mutation, max_size=3))
def test_cython_payload_matcher_agrees_with_the_reference(line, muts):
    """On valid UTF-8 payloads, mutated or not, the C matcher and the Python reference
    (PayloadPattern.parse) give the same fields."""
    r = TextReader("fuzz.txt", io.BytesIO(line), formats=FORMATS)
    (rec,) = list(r.records())
    head = line[:len(line) - len(rec.payload.encode())]
    payload = mutate(rec.payload.encode(), muts)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return
    if "\n" in text or "\r" in text:
        return
    r2 = TextReader("fuzz.txt", io.BytesIO(head + payload + b"\n"), formats=FORMATS)
    recs = list(r2.records())
    if len(recs) != 1:
        return
    decl = FORMATS.by_name(rec.event)
    pat = compile_payload(decl)
    assert recs[0].fields == pat.parse(recs[0].payload), (recs[0].payload,)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_tiny_chunks_on_junk(size):
    data = b"\n".join(LINES) + b"\xff\xfe junk \x00 [1] -2 \n\n"
    whole = list(TextReader("f", io.BytesIO(data), formats=FORMATS).records())
    assert list(TextReader("f", io.BytesIO(data), formats=FORMATS, chunk_size=size).records()) \
        == whole
