"""memsim.tracing.columns: one column-naming rule for every reader (docs/traces.md, "columns").

Scenario: ``oom:mark_victim`` has payload fields ``pid`` and ``comm`` besides the task's own.
The generic :class:`ColumnBuilder`, the Cython text scanner and the trace.dat decoder all keep
the task's in the common ``pid``/``comm`` columns and put the fields in ``pid_``/``comm_``.
"""
import pytest

from memsim.tracing.columns import COMMON_COLUMNS, ColumnBuilder, column_name
from memsim.tracing.convert import DatBuilder, guarded_records
from memsim.tracing.reader import TraceReader, open_trace
from memsim.tracing.record import Record
from memsim.tracing.tracedat import DatReader

VICTIM = ("             oom-1234    [001] d..1.   440.440600: mark_victim: pid=4321 comm=victim "
          "total-vm=1000kB anon-rss=10kB file-rss:20kB shmem-rss:0kB uid=1000 pgtables=8kB "
          "oom_score_adj=-5\n"
          "        workload-6923    [000] ...1.   440.440700: rss_stat: mm_id=7 curr=1 "
          "type=MM_ANONPAGES size=4096B\n")


def test_column_name_rule():
    assert [column_name(c) for c in COMMON_COLUMNS] == [c + "_" for c in COMMON_COLUMNS]
    assert column_name("mm_id") == "mm_id" and column_name("pid_") == "pid_"


def test_column_builder_keeps_the_task_and_the_fields_apart():
    b = ColumnBuilder()
    b.add(Record("oom", "mark_victim", 1234, None, "oom", 1, 5, "d..1.",
                 {"pid": 4321, "comm": "victim", "flags": 3, "uid": 0}))
    t = b.build()["oom:mark_victim"]
    assert (list(t["pid"]), t["comm"], t["flags"]) == ([1234], ["oom"], ["d..1."])
    assert (list(t["pid_"]), t["comm_"], list(t["flags_"])) == ([4321], ["victim"], [3])
    assert t.field_names == ["pid_", "comm_", "flags_", "uid"]


def victim_table(batches):
    cols = None
    for batch in batches:
        cols = batch["oom:mark_victim"].columns if cols is None else cols
    return cols


@pytest.fixture
def victim_text(tmp_path):
    p = tmp_path / "victim.txt"
    p.write_text(VICTIM)
    return str(p)


def check(cols):
    assert list(cols["pid"]) == [1234] and cols["comm"] == ["oom"]
    assert list(cols["pid_"]) == [4321] and cols["comm_"] == ["victim"]
    assert list(cols["oom_score_adj"]) == [-5]


def test_text_reader_columns_generic_and_cython_agree(victim_text):
    with open_trace(victim_text) as r:
        cython_cols = victim_table(r.batches())
    with open_trace(victim_text) as r:
        generic_cols = victim_table(TraceReader.batches(r))       # the ColumnBuilder path
    check(cython_cols)
    check(generic_cols)
    assert list(cython_cols) == list(generic_cols)


def test_trace_dat_columns_follow_the_same_rule(victim_text, tmp_path):
    with open_trace(victim_text) as r:
        b = DatBuilder(r)
        b.add_all(guarded_records(r))
    dat = str(tmp_path / "victim.dat")
    b.write(dat)
    with DatReader(dat) as r:
        cols = victim_table(r.batches())
        rec = next(x for x in r.records() if x.event == "mark_victim")
    check(cols)
    assert rec.fields["pid"] == 4321 and rec.fields["comm"] == "victim"   # records keep the names


@pytest.mark.parametrize("name", ["ftrace-mm-workload.txt.gz", "trace-mm-workload.dat"])
def test_columns_to_pandas_match_the_records(traces_dir, name):
    """The columnar form (the ``memsim[frame]`` extra): one DataFrame per event whose rows are the
    records of that event, in file order (``seq`` merges them back)."""
    pd = pytest.importorskip("pandas", reason="pandas is the optional memsim[frame] extra")
    path = str(traces_dir / name)
    frames = open_trace(path).columns().to_pandas()
    recs = list(open_trace(path).records())
    assert sum(len(f) for f in frames.values()) == len(recs)
    rss = frames["kmem:rss_stat"]
    want = [r for r in recs if r.full_name == "kmem:rss_stat"]
    assert list(rss["member"]) == [r.fields["member"] for r in want]
    assert list(rss["size"]) == [r.fields["size"] for r in want]
    assert list(rss["ts"]) == [r.ts for r in want]
    assert rss["size"].dtype == "int64" and rss["mm_id"].dtype.kind in "iu"
    order = pd.concat([f[["seq", "ts"]] for f in frames.values()]).sort_values("seq")
    assert list(order["seq"]) == list(range(len(recs)))
    assert list(order["ts"]) == [r.ts for r in recs]
