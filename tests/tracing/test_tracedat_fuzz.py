"""memsim.tracing.tracedat on damaged files: truncation and byte mutations.

Whatever the bytes, the reader must never show a traceback: in the default (non-strict) mode it
yields what it can decode and reports the rest as problems; with ``strict=True`` the first
damage is a :class:`~memsim.errors.TraceError` and nothing else.  A truncated file yields, for
each CPU, a prefix of that CPU's records, merged in the full file's order, and says what is
missing.
"""
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memsim.errors import TraceError
from memsim.tracing.events import EventRegistry
from memsim.tracing.formats import FormatSet
from memsim.tracing.kmem import kmem_events
from memsim.tracing.tracedat import DatReader
from memsim.tracing.tracedat_write import dump_trace_dat, pack_pages

# MEMSIM_FUZZ_EXAMPLES=3000 for a longer run (as in test_parse_fuzz.py)
FUZZ_EXAMPLES = int(os.environ.get("MEMSIM_FUZZ_EXAMPLES", "300"))

LAYOUTS = [(7, "zstd"), (7, "none"), (6, "none")]


def small_trace(version, compression, n=1500, seed=1):
    """Two CPUs of kmem records (several zstd chunks on CPU 1), as trace.dat bytes."""
    import io
    reg = EventRegistry()
    for d in kmem_events("v6.18"):
        reg.add(d)
    fs = FormatSet.from_registry(reg)
    rss, free = fs.get("kmem:rss_stat"), fs.get("kmem:mm_page_free")
    cache = fs.get("kmem:kmem_cache_free")
    rnd = random.Random(seed)
    per_cpu = [[], []]
    ts = 10**12
    for i in range(n):
        ts += rnd.choice([0, 1, 700, 1 << 28])
        cpu = 0 if i % 4 == 0 else 1
        k = i % 3
        if k == 0:
            rec = rss.codec.pack(fs.id_of(rss.full_name), 0, 1, 100 + cpu,
                                 dict(mm_id=i, curr=1, member=1, size=4096 * i))
        elif k == 1:
            rec = free.codec.pack(fs.id_of(free.full_name), 1, 2, 100, dict(pfn=i, order=0))
        else:
            rec = cache.codec.pack(fs.id_of(cache.full_name), 0, 0, 7,
                                   dict(call_site=0, ptr=i, name="kmalloc-%d" % i))
        per_cpu[cpu].append((ts, rec))
    f = io.BytesIO()
    dump_trace_dat(f, formats=fs, cpu_pages=[pack_pages(p) for p in per_cpu],
                   cmdlines={100: "a", 101: "b"}, version=version, compression=compression)
    return f.getvalue()


@pytest.fixture(scope="module", params=LAYOUTS, ids=lambda l: f"v{l[0]}-{l[1]}")
def small(request):
    data = small_trace(*request.param)
    r = DatReader("small.dat", data=data)
    full = list(r.records())
    assert len(full) == 1500 and not r.problems
    return data, full


def keyed(recs):
    return [(x.cpu, x.ts, x.event, tuple(sorted(x.fields.items()))) for x in recs]


def check_prefix(got, full):
    """Per CPU a prefix of the full records, merged in the full file's order."""
    g, f = keyed(got), keyed(full)
    for cpu in (0, 1):
        mine = [x for x in g if x[0] == cpu]
        assert mine == [x for x in f if x[0] == cpu][:len(mine)]
    it = iter(f)
    assert all(x in it for x in g)              # a subsequence of the full list


def read_all(data, strict=False):
    r = DatReader("cut.dat", data=data, strict=strict)
    recs = list(r.records())
    n = sum(len(b) for b in r.batches(257))
    assert n == len(recs)
    return r, recs


def test_truncation_sweep(small):
    data, full = small
    step = max(1, len(data) // 150)
    offsets = sorted(set(range(0, len(data), step)) | {len(data) - 1, len(data) - 4096, 11, 12})
    for cut in offsets:
        r, recs = read_all(data[:cut])
        check_prefix(recs, full)
        assert r.problems, f"no problem reported for a cut at {cut}"
        with pytest.raises(TraceError):
            read_all(data[:cut], strict=True)


def test_truncation_inside_the_data_keeps_the_complete_records(small):
    """v6 keeps its CPU offsets before the data; v7 + zstd is recovered by walking the chunks;
    uncompressed v7 pages cannot be told apart by CPU once the BUFFER option is lost."""
    data, full = small
    r, recs = read_all(data[:len(data) - len(data) // 20])
    text = " | ".join(map(str, r.problems))
    if data[10:11] == b"7" and b"none\0" in data[:40]:
        assert recs == [] and "the CPU data cannot be assigned to CPUs" in text
    else:
        assert 0 < len(recs) < len(full)
        assert "missing" in text


@settings(max_examples=FUZZ_EXAMPLES // 25, deadline=None, suppress_health_check=list(HealthCheck))
@given(frac=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_capture(traces_dir, frac):
    """The shared capture cut anywhere: a v7 file whose BUFFER option (at its end) is lost
    still gives the complete compressed chunks of each CPU."""
    data = (traces_dir / "trace-mm-workload.dat").read_bytes()
    full = capture_records(traces_dir)
    cut = int(frac * len(data))
    r, recs = read_all(data[:cut])
    check_prefix(recs, full)
    assert r.problems


_CAPTURE = {}


def capture_records(traces_dir):
    if "recs" not in _CAPTURE:
        _CAPTURE["recs"] = list(DatReader(str(traces_dir / "trace-mm-workload.dat")).records())
    return _CAPTURE["recs"]


def test_capture_cut_in_cpu1_data_recovers_without_the_buffer_option(traces_dir):
    data = (traces_dir / "trace-mm-workload.dat").read_bytes()
    full = capture_records(traces_dir)
    r, recs = read_all(data[:1200000])                  # inside CPU 1's compressed chunks
    check_prefix(recs, full)
    assert sum(1 for x in recs if x.cpu == 0) == 990 and 0 < len(recs) < len(full)
    text = " | ".join(map(str, r.problems))
    assert "found the data of 2 CPU(s) by walking the flyrecord section" in text
    assert "cpu 1: " in text and "compressed chunks missing" in text


mutations = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1,
                     max_size=8)


def mutate(data, muts):
    b = bytearray(data)
    for pos, val in muts:
        b[pos % len(b)] = val
    return bytes(b)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda l: f"v{l[0]}-{l[1]}")
@settings(max_examples=FUZZ_EXAMPLES // 5, deadline=None, suppress_health_check=list(HealthCheck))
@given(muts=mutations, header=st.booleans())
def test_mutations_never_raise_anything_but_trace_error(layout, muts, header):
    data = _SMALL.setdefault(layout, small_trace(*layout, n=400))
    if header:                       # aim at the metadata, where most parsing happens
        limit = data.find(b"flyrecord") if layout[0] == 6 else 6000
        muts = [(p % max(limit, 1), v) for p, v in muts]
    bad = mutate(data, muts)
    read_all(bad)                    # non-strict: never raises
    try:
        read_all(bad, strict=True)
    except TraceError:
        pass


_SMALL = {}


@settings(max_examples=FUZZ_EXAMPLES // 20, deadline=None, suppress_health_check=list(HealthCheck))
@given(muts=mutations)
def test_capture_mutations(traces_dir, muts):
    """Mutations of the real capture's CPU data (chunk headers, zstd frames)."""
    data = (traces_dir / "trace-mm-workload.dat").read_bytes()
    muts = [(1142784 + p % (1235073 - 1142784), v) for p, v in muts]
    bad = mutate(data, muts)
    read_all(bad)
    try:
        read_all(bad, strict=True)
    except TraceError:
        pass
