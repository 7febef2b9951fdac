"""memsim.tracing.convert: a trace read out again as text or trace.dat (docs/traces.md,
"memsim trace report" and "memsim trace convert"), without the CLI.

Scenarios: a kernel ``trace`` file comes back byte for byte; a selection's header counts the
lines printed; a headerless ``trace_pipe`` text gets its counts and CPU count from the records;
text -> trace.dat turns memsim ``%pS`` symbols back into addresses (and stores memsim's
kallsyms), writes other non-numbers as 0 and skips events with no format, each with a warning;
trace.dat -> trace.dat keeps the file's kallsyms; what a reader skipped is summarised, and an
input of which nothing could be read is refused; outputs are written all at once or not at all.
"""
import gzip
import io
import os
import zlib

import pytest

from memsim.fileio import umask

from memsim.errors import TraceError, UsageError
from memsim.tracing import kallsyms
from memsim.tracing.convert import (DatBuilder, atomic_output, guarded_records, open_input,
                                    problems_summary, read_errors, render_text, symbol_addr,
                                    write_text)
from memsim.tracing.record import Problem
from memsim.tracing.select import Selection
from memsim.tracing.tracedat import DatReader

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: 40/45   #P:4
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""
EVENTS = """\
        workload-6923    [000] ...1.   440.440206: rss_stat: mm_id=488984262 curr=1 type=MM_FILEPAGES size=1720320B
        workload-6923    [000] ...1.   440.440209: count_memcg_events: memcg_id=5579 item=23 val=1
        workload-6923    [001] .....   440.440520: mm_page_free: page=00000000f9a88794 pfn=0x10f862 order=0
        workload-6923    [002] .....   440.440521: mm_page_free: page=00000000525fd95e pfn=0x120eb5 order=0
"""
KFREE = kallsyms.default_kallsyms().lookup(kallsyms.call_site("kfree"))


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def text_of(path, **kw):
    out = io.StringIO()
    with open_input(path) as r:
        counts = write_text(r, out, **kw)
    return out.getvalue(), counts


def test_a_kernel_trace_file_comes_back_byte_for_byte(tmp_path):
    text, counts = text_of(write(tmp_path, "t.txt", HEADER + EVENTS))
    assert text == HEADER + EVENTS
    assert counts == (4, 4)


def test_a_selection_header_counts_the_lines_printed(tmp_path):
    text, counts = text_of(write(tmp_path, "t.txt", HEADER + EVENTS),
                           selection=Selection(events=("mm_page_*",)))
    assert counts == (4, 2)
    assert "# entries-in-buffer/entries-written: 2/2   #P:4\n" in text
    assert text.endswith(EVENTS.split("\n", 2)[2])


def test_a_headerless_pipe_text_gets_counts_and_cpus_from_the_records(tmp_path):
    text, _ = text_of(write(tmp_path, "pipe.txt", EVENTS))
    assert text == HEADER.replace("40/45   #P:4", "4/4   #P:3") + EVENTS
    text, _ = text_of(write(tmp_path, "pipe.txt", EVENTS), style="trace-cmd")
    assert text.startswith("cpus=3\n") and len(text.splitlines()) == 5


def test_render_text_of_no_records(tmp_path):
    with open_input(write(tmp_path, "t.txt", HEADER)) as r:
        out = io.StringIO()
        assert render_text(r, iter(()), out) == 0
    assert out.getvalue() == HEADER                           # the input's counts
    with open_input(write(tmp_path, "t.txt", HEADER)) as r:
        out = io.StringIO()
        render_text(r, iter(()), out, exact_count=True)
    assert "entries-written: 0/0   #P:4" in out.getvalue()


def test_symbol_addr_only_for_memsim_symbols():
    name, off, size = KFREE
    assert symbol_addr(f"{name}+0x{off:x}/0x{size:x}") == kallsyms.call_site("kfree")
    assert symbol_addr(f"{name}+0x{size + 1:x}/0x{size:x}") is None   # past its end
    assert symbol_addr("vfs_read+0x7a/0x290") is None and symbol_addr("0x10") is None


@pytest.fixture
def mixed_text(tmp_path):
    name, off, size = KFREE
    return write(tmp_path, "mixed.txt", EVENTS + (
        f"        workload-6923    [000] .....   440.440530: kfree: call_site={name}+0x{off:x}/0x{size:x} ptr=0\n"
        "        workload-6923    [000] .....   440.440531: kfree: call_site=vfs_read+0x7a/0x290 ptr=0\n"
        "        workload-6923    [003] .....   440.440700: my_event: x=1\n"))


def build(path):
    with open_input(path) as r:
        b = DatBuilder(r)
        seen = b.add_all(guarded_records(r))
    return b, seen


def test_text_to_dat_symbols_zeroes_and_skips(mixed_text, tmp_path):
    b, seen = build(mixed_text)
    assert (seen, b.count, b.symbols) == (7, 6, 1)
    assert b.skipped == {"my_event": 1} and b.zeroed == {"kmem:kfree.call_site": 1}
    assert b.ncpus == 3                         # the skipped my_event's CPU 3 is not written
    w = b.warnings()
    assert w[0].startswith("1 record(s) of events with no format skipped: my_event (1); ")
    assert w[1].startswith("1 printed value(s) that are not numbers written as 0: "
                           "kmem:kfree.call_site (1); ")
    dat = str(tmp_path / "mixed.dat")
    b.write(dat, version=6, compression="none")
    with DatReader(dat) as r:
        recs = list(r.records())
        assert r.meta["version"] == 6 and r.meta["ncpus"] == 3
        assert r.kallsyms_text == kallsyms.kallsyms_text()   # the addresses the symbols got
        assert r.comms[6923] == "workload"
    sites = [x.fields["call_site"] for x in recs if x.event == "kfree"]
    assert sites == [kallsyms.call_site("kfree"), 0]


def test_dat_without_symbols_has_no_kallsyms(tmp_path):
    b, _ = build(write(tmp_path, "t.txt", HEADER + EVENTS))
    assert b.warnings() == []
    dat = str(tmp_path / "t.dat")
    b.write(dat)
    with DatReader(dat) as r:
        assert r.kallsyms_text is None and r.kallsyms is None


def test_dat_to_dat_keeps_the_files_kallsyms(mixed_text, tmp_path):
    b, _ = build(mixed_text)
    first, second = str(tmp_path / "a.dat"), str(tmp_path / "b.dat")
    b.write(first)
    b2, seen = build(first)
    assert seen == 6 and b2.symbols == 0 and not b2.zeroed
    b2.write(second)
    with DatReader(first) as a, DatReader(second) as c:
        assert a.kallsyms_text and c.kallsyms_text == a.kallsyms_text
        assert [x.key() for x in a.records()] == [x.key() for x in c.records()]


class FakeReader:
    name = path = "bad.txt"

    def __init__(self, n):
        self.problems = [Problem(f"bad.txt:{i + 1}", "not a trace event line") for i in range(n)]
        self.nproblems = n


def test_problems_summary():
    assert problems_summary(FakeReader(0), nrecords=0) == []
    lines = problems_summary(FakeReader(12), nrecords=5)
    assert lines[0] == "bad.txt:1: not a trace event line" and len(lines) == 12
    assert lines[10:] == ["... and 2 more",
                          "bad.txt: 12 spot(s) skipped; use --strict to stop at the first"]
    with pytest.raises(TraceError) as e:
        problems_summary(FakeReader(3), nrecords=0)
    assert str(e.value).startswith("bad.txt: no trace events could be read (3 spot(s) skipped, "
                                   "the first bad.txt:1: not a trace event line); give ")


def test_read_errors_become_one_line_trace_errors():
    for exc in (zlib.error("invalid stored block lengths"), EOFError("compressed file ended"),
                gzip.BadGzipFile("not a gzipped file")):
        with pytest.raises(TraceError) as e:
            with read_errors("t.gz"):
                raise exc
        assert str(e.value).startswith("t.gz: cannot read the trace: ")
    with pytest.raises(UsageError):                 # memsim's own errors pass unchanged
        with read_errors("-"):
            raise UsageError("--x", "bad")
    with pytest.raises(TraceError, match="^<stdin>: "):
        with read_errors("-"):
            raise EOFError("short")


def test_atomic_output_all_or_nothing(tmp_path):
    path = str(tmp_path / "out.txt")
    with atomic_output(path, "-o") as f:
        f.write("one\n")
    with pytest.raises(RuntimeError):
        with atomic_output(path, "-o") as f:
            f.write("two\n")
            raise RuntimeError("stop")
    assert open(path).read() == "one\n"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]      # no temporary file left
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~umask())   # as open() would make it
    with pytest.raises(UsageError, match="^-o: directory .* does not exist; create it first"):
        with atomic_output(str(tmp_path / "missing" / "x.txt"), "-o"):
            pass
