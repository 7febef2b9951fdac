"""open_trace: format detection and compressed inputs (gzip, zstd), damaged ones included."""
import gzip

import pytest
import zstandard

from memsim.errors import TraceError
from memsim.tracing.reader import open_trace

LINES = "".join(
    f"            bash-1234    [002] ...1. {100 + i // 1000}.{i % 1000:06d}: rss_stat: mm_id=7 curr=1 "
    f"type=MM_ANONPAGES size={4096 * (i + 1)}B\n" for i in range(3000))


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_plain_gzip_and_zstd_read_alike(tmp_path):
    raw = LINES.encode()
    paths = [_write(tmp_path, "t.txt", raw), _write(tmp_path, "t.txt.gz", gzip.compress(raw)),
             _write(tmp_path, "t.txt.zst", zstandard.ZstdCompressor().compress(raw))]
    got = [[(r.ts, r.fields["size"]) for r in open_trace(p).records()] for p in paths]
    assert len(got[0]) == 3000 and got[0] == got[1] == got[2]
    assert got[0][0] == (100_000_000_000, 4096)


def test_zstd_of_several_frames_reads_them_all(tmp_path):
    c = zstandard.ZstdCompressor()
    half = len(LINES) // 2
    cut = LINES.rindex("\n", 0, half) + 1
    p = _write(tmp_path, "t.zst", c.compress(LINES[:cut].encode()) + c.compress(LINES[cut:].encode()))
    assert sum(1 for _ in open_trace(p).records()) == 3000


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_truncated_compressed_text_keeps_the_lines_before_and_says_so(tmp_path, kind):
    raw = LINES.encode()
    data = gzip.compress(raw) if kind == "gz" else zstandard.ZstdCompressor(level=1).compress(raw)
    p = _write(tmp_path, f"t.{kind}", data[:len(data) * 2 // 3])
    r = open_trace(p)
    recs = list(r.records())
    assert 0 < len(recs) < 3000
    assert [x.fields["size"] for x in recs] == [4096 * (i + 1) for i in range(len(recs))]
    assert r.nproblems >= 1
    assert any("truncated" in pr.problem or "ended" in pr.problem or "end" in pr.problem
               for pr in r.problems), r.problems
    with pytest.raises(TraceError):
        list(open_trace(p, strict=True).records())


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_damaged_start_of_compressed_file_is_a_clean_error(tmp_path, kind):
    raw = LINES.encode()
    data = gzip.compress(raw) if kind == "gz" else zstandard.ZstdCompressor().compress(raw)
    bad = data[:12] + b"\xff" * 30 + data[42:]
    p = _write(tmp_path, f"bad.{kind}", bad)
    with pytest.raises(TraceError) as e:
        list(open_trace(p).records())
    assert str(e.value).startswith(p + ":")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(TraceError, match="no such file"):
        open_trace(str(tmp_path / "nope.txt"))
    with pytest.raises(TraceError, match="is a directory"):
        open_trace(str(tmp_path))


def test_trace_dat_is_detected_through_compression(tmp_path, traces_dir):
    dat = (traces_dir / "trace-mm-workload.dat").read_bytes()
    p = _write(tmp_path, "t.dat.zst", zstandard.ZstdCompressor().compress(dat))
    r = open_trace(p)
    assert r.kind == "trace.dat"
    assert sum(1 for _ in r.records()) == 22894
