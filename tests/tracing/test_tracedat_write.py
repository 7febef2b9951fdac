"""memsim.tracing.tracedat_write: trace.dat files the real ``trace-cmd report`` reads
(FORMAT-NOTES 5, 7, 8; the layout of ../shared/traces/trace-mm-workload.dat).

A memsim run's trace.dat, in each layout trace-cmd 3.1.6 reads (v7+zstd, v7 uncompressed, v6),
must report the same events as memsim's own ``trace`` text -- count, order, comm/pid/cpu, µs and
ns time stamps, payload -- with nothing on stderr.  The page packer must lay records out as the
ring buffer does, time extends and long records included.
"""
import io
import os
import random
import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memsim.errors import TraceError, UsageError
from memsim.ring import Clock, TraceBuffer, decode_subbuffer
from memsim.testing import dialect_neutral, run_text, trace_text
from memsim.tracing import kallsyms
from memsim.tracing.events import EventDecl, layout_fields
from memsim.tracing.formats import FormatSet
from memsim.tracing.record import Record
from memsim.tracing.text import irq_info
from memsim.tracing.tracedat_write import (CpuStat, buffer_cpu_stats, dump_trace_dat,
                                           encode_record, irq_info_flags, pack_pages,
                                           write_buffer_trace_dat, write_trace_dat)

TRACE_CMD = shutil.which("trace-cmd")
needs_trace_cmd = pytest.mark.skipif(TRACE_CMD is None,
                                     reason="trace-cmd is not installed (apt install trace-cmd)")
LAYOUTS = [(7, "zstd"), (7, "none"), (6, "none")]

# Two CPUs, several pages (more than one zstd chunk of 10 pages on CPU 0), gaps of 200 ms,
# 500 ms and 3 s (time extends: deltas >= 2**27 ns) and every kmem event kind.
WORKLOAD = """\
machine:
  cpus: 2
  nodes:
    - memory: 64 MiB
  kernel: {kernel}
tasks:
  - name: toucher
    steps:
      - mmap: {{name: heap, length: 4 MiB}}
      - touch: {{vma: heap, access: write}}
      - sleep: {{duration: 500ms}}
      - kmalloc: {{name: small, size: 100, count: 4}}
      - kfree: {{name: small}}
      - sleep: {{duration: 3s}}
      - munmap: {{vma: heap}}
  - name: second
    cpu: 1
    steps:
      - sleep: {{duration: 200ms}}
      - mmap: {{name: b, length: 128 KiB}}
      - touch: {{vma: b, access: write}}
"""

# kernel 'trace' line and trace-cmd report line (FORMAT-NOTES 1, 6)
KERNEL_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S{4,5}\s+"
                         r"(?P<ts>\d+\.\d+): (?P<name>\w+): (?P<payload>.*)$")
REPORT_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+"
                         r"(?P<ts>\d+\.\d+): (?P<name>\w+):\s+(?P<payload>.*)$")


def parse(lines, pattern):
    out = []
    for line in lines:
        m = pattern.match(line)
        assert m is not None, line
        out.append(m.groupdict())
    return out


def report(path, *args):
    r = subprocess.run([TRACE_CMD, "report", *args, str(path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module", params=["v6.18", "v5.14"])
def run(request):
    return run_text(WORKLOAD.format(kernel=request.param))


def merged_records(tb):
    """(ts, cpu, payload) in the order of the kernel's ``trace`` (lowest CPU wins a tie)."""
    recs = [(ts, cpu, p) for cpu in range(tb.ncpus) for ts, p in tb.records(cpu)]
    return sorted(recs, key=lambda r: (r[0], r[1]))


def write_run(run, path, version, compression):
    m = run.machine
    write_buffer_trace_dat(str(path), m.tb, m.events, m.comms, profile_name=m.profile.name,
                           version=version, compression=compression)


# -- trace-cmd report reads what memsim wrote ------------------------------------------------
@needs_trace_cmd
@pytest.mark.parametrize("version,compression", LAYOUTS)
def test_report_prints_the_events_of_memsims_trace_text(run, tmp_path, version, compression):
    """Same count, order, comm/pid/cpu, µs time stamps and payload (but for %p/%pS) as the
    kernel-format text memsim renders; stderr empty (FORMAT-NOTES 6, 8)."""
    path = tmp_path / "trace.dat"
    write_run(run, path, version, compression)
    r = report(path)
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == "cpus=2"
    got = parse(lines[1:], REPORT_LINE)
    want = parse(trace_text(run).splitlines(), KERNEL_LINE)
    assert len(got) == len(want) > 5000
    for g, w in zip(got, want):
        assert (g["comm"], g["pid"], g["cpu"], g["ts"], g["name"]) == \
            (w["comm"], w["pid"], w["cpu"], w["ts"], w["name"])
        assert dialect_neutral(g["payload"]) == dialect_neutral(w["payload"])
    # the payloads with nothing to normalize are equal as printed (page= aside)
    rss = [(g["payload"], w["payload"]) for g, w in zip(got, want) if g["name"] == "rss_stat"]
    assert rss and all(a == b for a, b in rss)


@needs_trace_cmd
@pytest.mark.parametrize("version,compression", LAYOUTS)
def test_report_t_gives_the_recorded_ns(run, tmp_path, version, compression):
    """``trace-cmd report -t``: the exact ns of every record, time extends included."""
    path = tmp_path / "trace.dat"
    write_run(run, path, version, compression)
    r = report(path, "-t")
    assert r.stderr == ""
    got = parse(r.stdout.splitlines()[1:], REPORT_LINE)
    want = merged_records(run.machine.tb)
    assert [(int(g["ts"].replace(".", "")), int(g["cpu"])) for g in got] == \
        [(ts, cpu) for ts, cpu, _ in want]
    assert max(b[0] - a[0] for a, b in zip(want, want[1:])) >= 1 << 27


@needs_trace_cmd
def test_report_raw_fields_are_the_record_fields(run, tmp_path):
    """``trace-cmd report -R`` prints the fields of each record as memsim packed them."""
    path = tmp_path / "trace.dat"
    write_run(run, path, 7, "zstd")
    got = parse(report(path, "-R").stdout.splitlines()[1:], REPORT_LINE)
    reg = run.machine.events
    for g, (_, _, payload) in zip(got, merged_records(run.machine.tb)):
        decl, fields = reg.decode(payload)
        assert g["name"] == decl.name
        for token in g["payload"].split():
            name, _, value = token.partition("=")
            want = fields[name]
            if name == "call_site":                  # %pS without the size
                assert value == kallsyms.resolve(want).split("/")[0]
            elif isinstance(want, str):
                assert value == want
            else:
                assert int(value, 0) % (1 << 64) == want % (1 << 64), (name, token)


@needs_trace_cmd
@pytest.mark.parametrize("version,compression", LAYOUTS)
def test_trace_cmd_dump_and_convert_accept_the_file(run, tmp_path, version, compression):
    """``trace-cmd dump --all`` walks every section and option; ``convert`` copies the file to a
    version 7 one that reports the same text."""
    path = tmp_path / "trace.dat"
    write_run(run, path, version, compression)
    d = subprocess.run([TRACE_CMD, "dump", "--all", str(path)], capture_output=True, text=True)
    assert d.returncode == 0 and d.stderr == ""
    assert "[local] global counter" in d.stdout and "Linux memsim" in d.stdout
    assert f"read events: {run.machine.tb.stats()[0][0]}" in d.stdout
    conv = tmp_path / "conv.dat"
    c = subprocess.run([TRACE_CMD, "convert", "-i", str(path), "-o", str(conv)],
                       capture_output=True, text=True)
    assert c.returncode == 0
    assert report(conv).stdout == report(path).stdout


# -- records that do not come from a ring buffer ------------------------------------------
NOTE = EventDecl("memsim_test", "note",
                 layout_fields([("__data_loc char[]", "msg", 4, False),
                                ("unsigned long", "seq", 8, False),
                                ("int", "delta", 4, True)]),
                 '"seq=%lu delta=%d msg=%s", REC->seq, REC->delta, __get_str(msg)',
                 plugin="test")
NOTE_ID = 900


@needs_trace_cmd
@pytest.mark.parametrize("version,compression", LAYOUTS)
def test_packed_long_records_and_big_deltas_report_exactly(tmp_path, version, compression):
    """Records longer than 112 bytes (type_len 0), deltas of 2**27 ns and more (time extends),
    an idle CPU: trace-cmd prints every record with its exact ns and its string."""
    rnd = random.Random(7)
    recs, ts = [], 5_000_000_000
    for i in range(400):
        ts += rnd.choice([0, 1, 999, (1 << 27) - 1, 1 << 27, (1 << 27) + 5, 1 << 40, 77])
        msg = "m%d-" % i + "x" * rnd.choice([0, 1, 10, 100, 150, 1000])
        rec = Record("memsim_test", "note", 4321, None, "writer", 1, ts, "d..2.",
                     {"msg": msg, "seq": i, "delta": -i})
        recs.append((ts, msg, encode_record(NOTE, NOTE_ID, rec)))
    fs = FormatSet()
    fs.add(NOTE, NOTE_ID)
    path = tmp_path / "notes.dat"
    write_trace_dat(str(path), formats=fs, cpu_pages=[[], pack_pages([(t, b) for t, _, b in recs])],
                    cmdlines={4321: "writer"}, version=version, compression=compression)
    r = report(path, "-t")
    assert r.stderr == ""
    got = parse(r.stdout.splitlines()[1:], REPORT_LINE)
    assert len(got) == len(recs)
    for i, (g, (t, msg, _)) in enumerate(zip(got, recs)):
        assert (g["comm"], g["pid"], g["cpu"]) == ("writer", "4321", "001")
        assert int(g["ts"].replace(".", "")) == t
        assert g["payload"] == f"seq={i} delta={-i} msg={msg}"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 3, 1000, (1 << 27) - 1, 1 << 27, 1 << 33]) |
                          st.integers(0, 1 << 45),
                          st.binary(min_size=1, max_size=600)), max_size=80))
def test_pack_pages_round_trips_through_decode_subbuffer(items):
    """pack_pages -> memsim.ring.decode_subbuffer gives back every (ts, record), padded to 4
    bytes; commit counts the data; a page's time stamp is its first record's."""
    ts, recs = 1000, []
    for delta, rec in items:
        ts += delta
        recs.append((ts, rec))
    pages = pack_pages(recs)
    decoded = []
    for page in pages:
        assert len(page) == 4096
        page_ts, commit = struct.unpack_from("<QQ", page)
        got = decode_subbuffer(page)
        assert got and got[0][0] == page_ts and 0 < commit <= 4080
        assert not page[16 + commit:].strip(b"\0")
        decoded += got
    assert decoded == [(t, r + bytes(-len(r) % 4)) for t, r in recs]


def test_pack_pages_lays_records_out_like_the_ring_buffer():
    """The same records give the same bytes as memsim's ring buffer (TraceBuffer.write)."""
    clock = Clock(10)
    tb = TraceBuffer(1, 1024, clock)
    rnd = random.Random(3)
    for i in range(3000):
        clock.now += rnd.choice([0, 5, 1 << 27, (1 << 27) - 1, 1 << 30, 12345])
        tb.write_record(0, bytes([i & 0xFF]) * rnd.choice([8, 13, 40, 112, 113, 200, 700]))
    assert len(tb.subbuffers(0)) > 20 and tb.stats() == [(3000, 0)]
    assert pack_pages(tb.records(0)) == tb.subbuffers(0)


def test_pack_pages_matches_a_workload_run(run):
    for cpu in range(run.machine.tb.ncpus):
        tb = run.machine.tb
        assert pack_pages(tb.records(cpu)) == tb.subbuffers(cpu)


def test_pack_pages_rejects_what_the_kernel_cannot_store():
    with pytest.raises(ValueError, match="before the previous one"):
        pack_pages([(10, b"a" * 8), (9, b"b" * 8)])
    with pytest.raises(ValueError, match="do not fit"):
        pack_pages([(0, b"x" * 4073)])
    assert len(pack_pages([(0, b"x" * 4072)])) == 1
    assert pack_pages([]) == []


# -- encode_record ---------------------------------------------------------------------------
@pytest.mark.parametrize("width", [4, 5])
def test_irq_info_flags_inverts_irq_info(width):
    """Every flags/preempt combination the kernel can print comes back from its text."""
    seen = set()
    for flags in range(256):
        for preempt in (0, 1, 2, 0x1f if width == 5 else 0xf):
            text = irq_info(flags, preempt, width)
            if text in seen:
                continue
            seen.add(text)
            assert irq_info(*irq_info_flags(text), width) == text
    assert irq_info_flags(None) == (0, 0)
    with pytest.raises(ValueError):
        irq_info_flags("d..")


def test_encode_record_packs_a_record_like_the_registry(run):
    """A Record with the fields of a ring record packs to the same bytes (memsim's codec),
    strings included (kmem_cache_alloc's ``name``)."""
    reg = run.machine.events
    for _, _, payload in merged_records(run.machine.tb)[:300]:
        decl, fields = reg.decode(payload)
        rec = Record(decl.system, decl.name, fields["common_pid"], None, "x", 0, 0, None,
                     {k: v for k, v in fields.items() if not k.startswith("common_")})
        rec.fields["common_flags"] = fields["common_flags"]
        rec.fields["common_preempt_count"] = fields["common_preempt_count"]
        data = encode_record(decl, reg.id_of(decl.full_name), rec)
        assert data + bytes(-len(data) % 4) == payload         # the ring pads to 4 bytes


def test_encode_record_fills_missing_fields_and_takes_flags_from_text():
    rec = Record("memsim_test", "note", 7, None, "w", 0, 0, "dN.2", {"seq": "0x10"})
    data = encode_record(NOTE, NOTE_ID, rec)
    values = dict(zip(NOTE.codec.names, NOTE.codec.unpack(data)))
    assert values == {"common_type": NOTE_ID, "common_flags": 0x25, "common_preempt_count": 2,
                      "common_pid": 7, "msg": "", "seq": 16, "delta": 0}
    with pytest.raises(TraceError, match="not a number"):
        encode_record(NOTE, NOTE_ID, Record("s", "e", 1, None, "w", 0, 0, None, {"seq": "x"}))


# -- the layout, without trace-cmd ---------------------------------------------------------------
def sections(data):
    """(id, flags, description) of every v7 section in file order, and the option ids of each
    OPTIONS section (FORMAT-NOTES 8)."""
    strings_at = None
    out, pos = [], data.index(b"\0", 10) + 1 + 2 + 4
    pos = data.index(b"\0", data.index(b"\0", pos) + 1) + 1
    first_options = struct.unpack_from("<Q", data, pos)[0]
    pos += 8
    while pos < len(data):
        sid, flags, desc, size = struct.unpack_from("<HHIQ", data, pos)
        options = []
        if sid == 0:
            p = pos + 16
            while p < pos + 16 + size:
                oid, osize = struct.unpack_from("<HI", data, p)
                options.append(oid)
                p += 6 + osize
        if sid == 15:
            strings_at = pos
        out.append((sid, flags, desc, tuple(options)))
        pos += 16 + size
    return first_options, out, strings_at


def test_v7_layout_is_trace_cmd_extracts(traces_dir, run):
    """Section order, flags, descriptions and option order of trace-mm-workload.dat."""
    ref = (traces_dir / "trace-mm-workload.dat").read_bytes()
    buf = io.BytesIO()
    m = run.machine
    dump_trace_dat(buf, formats=FormatSet.from_registry(m.events),
                   cpu_pages=[m.tb.subbuffers(c) for c in range(2)], cmdlines=m.comms,
                   kallsyms="ffffffff81000000 T _text\n")
    mine = buf.getvalue()
    assert mine[:12] == ref[:12] == b"\x17\x08Dtracing7\0"
    ref_first, ref_secs, _ = sections(ref)
    my_first, my_secs, _ = sections(mine)
    assert [s[:3] for s in my_secs] == [s[:3] for s in ref_secs]
    assert [s[3] for s in my_secs] == [s[3] for s in ref_secs]
    assert my_secs[6][0] == 0 and struct.unpack_from("<HHIQ", mine, my_first)[0] == 0
    # the CPU data is page-aligned inside the flyrecord section
    bo = mine.index(struct.pack("<HI", 3, 63))
    cpu0 = struct.unpack_from("<Q", mine, bo + 6 + 8 + 1 + 6 + 4 + 4 + 4)[0]
    assert cpu0 % 4096 == 0


def test_uncompressed_v7_and_v6_hold_the_pages_verbatim(run):
    m = run.machine
    pages = [m.tb.subbuffers(c) for c in range(2)]
    for version in (7, 6):
        buf = io.BytesIO()
        dump_trace_dat(buf, formats=FormatSet.from_registry(m.events), cpu_pages=pages,
                       cmdlines=m.comms, version=version, compression="none")
        data = buf.getvalue()
        for cpu_pages in pages:
            blob = b"".join(cpu_pages)
            at = data.index(blob)
            assert at % 4096 == 0
    assert b"flyrecord\0" in data and b"[local]" in data


def test_same_trace_same_bytes(run):
    """Deterministic output (TRACEID is a hash of the CPU data): same run, same file."""
    m = run.machine
    files = []
    for _ in range(2):
        buf = io.BytesIO()
        dump_trace_dat(buf, formats=FormatSet.from_registry(m.events),
                       cpu_pages=[m.tb.subbuffers(c) for c in range(2)], cmdlines=m.comms,
                       cpustats=buffer_cpu_stats(m.tb))
        files.append(buf.getvalue())
    assert files[0] == files[1]


def test_cpustat_text_is_the_kernels_stats_file():
    """tracing_stats_read, after trace-cmd drained the buffer (the reference file's CPUSTAT)."""
    st_ = CpuStat(read_events=990, oldest_event_ts=1159717760351, now_ts=1159749060000)
    assert st_.text(0) == ("CPU: 0\nentries: 0\noverrun: 0\ncommit overrun: 0\nbytes: 0\n"
                           "oldest event ts:  1159.717760\nnow ts:  1159.749060\n"
                           "dropped events: 0\nread events: 990\n")


def test_version_6_cannot_be_compressed(tmp_path):
    with pytest.raises(UsageError, match="version 6") as e:
        write_trace_dat(str(tmp_path / "t.dat"), formats=FormatSet(), cpu_pages=[[]],
                        cmdlines={}, version=6, compression="zstd")
    assert "compression 'none'" in str(e.value)
    with pytest.raises(UsageError, match="version 5"):
        write_trace_dat(str(tmp_path / "t.dat"), formats=FormatSet(), cpu_pages=[[]],
                        cmdlines={}, version=5)
    assert not os.listdir(tmp_path)


def test_a_failed_write_keeps_the_old_file(tmp_path):
    """Atomic: a bad page aborts the write, the previous file stays, no temporary is left."""
    path = tmp_path / "t.dat"
    path.write_bytes(b"old")
    with pytest.raises(TraceError, match=r"t\.dat: cpu 0 page 0 has 100 bytes"):
        write_trace_dat(str(path), formats=FormatSet(), cpu_pages=[[b"x" * 100]], cmdlines={})
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.dat"]
    with pytest.raises(TraceError, match="does not exist"):
        write_trace_dat(str(tmp_path / "no" / "t.dat"), formats=FormatSet(), cpu_pages=[[]],
                        cmdlines={})


# -- memsim's own reader and renderer (when they exist) -----------------------------------------
def test_memsims_reader_reads_the_records_back(run, tmp_path):
    """tracing/tracedat.py DatReader reads each layout to the records memsim recorded."""
    tracedat = pytest.importorskip("memsim.tracing.tracedat")
    reg = run.machine.events
    want = []
    for ts, cpu, payload in merged_records(run.machine.tb):
        decl, fields = reg.decode(payload)
        want.append((decl.system, decl.name, fields["common_pid"], cpu, ts,
                     {f.name: fields[f.name] for f in decl.fields}))
    for version, compression in LAYOUTS:
        path = tmp_path / f"t{version}{compression}.dat"
        write_run(run, path, version, compression)
        with tracedat.DatReader(str(path)) as reader:
            recs = list(reader.records())
            assert reader.nproblems == 0
        assert [(r.system, r.event, r.pid, r.cpu, r.ts, {k: r.fields[k] for k in w[5]})
                for r, w in zip(recs, want)] == want
        assert len(recs) == len(want)
        assert [r.comm for r in recs] == [run.machine.comms[w[2]] for w in want]


@needs_trace_cmd
def test_trace_cmd_report_equals_memsims_renderer(run, tmp_path):
    """tracing/report.py Renderer("trace-cmd") prints what ``trace-cmd report`` prints, byte
    for byte, for a file memsim wrote."""
    tracedat = pytest.importorskip("memsim.tracing.tracedat")
    report_mod = pytest.importorskip("memsim.tracing.report")
    path = tmp_path / "trace.dat"
    write_run(run, path, 7, "zstd")
    with tracedat.DatReader(str(path)) as reader:
        renderer = report_mod.Renderer("trace-cmd", reader.formats)
        lines = [renderer.line(rec).rstrip("\n") for rec in reader.records()]
    assert lines == report(path).stdout.splitlines()[1:]
