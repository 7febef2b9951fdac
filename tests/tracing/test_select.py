"""memsim.tracing.select: what ``memsim trace report -e/--pid/--cpu/--from/--to`` keeps.

Scenarios (docs/traces.md, "memsim trace report"): set_event-style globs by system, event and
both; a bare system name selects the system as ``echo kmem > set_event`` does; the globs that
matched nothing are reported; pid, CPU and an inclusive time window combine; the time forms
(seconds as printed, or a number with a unit) and the ones refused, each naming its option.
"""
import pytest

from memsim.errors import UsageError
from memsim.tracing.record import Record
from memsim.tracing.select import EventMatcher, Selection, parse_time, select


def rec(system, event, pid=1, cpu=0, ts=0):
    return Record(system, event, pid, None, "t", cpu, ts, None, {})


RECS = [rec("kmem", "rss_stat", pid=10, cpu=0, ts=1_000),
        rec("kmem", "mm_page_alloc", pid=10, cpu=1, ts=2_000),
        rec("kmem", "mm_page_free", pid=20, cpu=1, ts=3_000),
        rec("filemap", "mm_filemap_add_to_page_cache", pid=20, cpu=0, ts=4_000),
        rec("", "my_event", pid=30, cpu=2, ts=5_000)]


def names(records):
    return [r.event for r in records]


@pytest.mark.parametrize("globs, want", [
    (["kmem:*"], ["rss_stat", "mm_page_alloc", "mm_page_free"]),
    (["kmem:mm_page_*"], ["mm_page_alloc", "mm_page_free"]),
    (["*:rss_stat"], ["rss_stat"]),
    (["rss_stat"], ["rss_stat"]),
    (["kmem"], ["rss_stat", "mm_page_alloc", "mm_page_free"]),       # a whole system
    ([":mm_filemap_*"], ["mm_filemap_add_to_page_cache"]),            # empty system part
    (["my_event"], ["my_event"]),                                     # an event with no system
    (["rss_stat", "filemap"], ["rss_stat", "mm_filemap_add_to_page_cache"]),
    (["KMEM"], []),                                                   # case-sensitive
])
def test_event_globs(globs, want):
    assert names(select(RECS, Selection(events=tuple(globs)))) == want


def test_unused_globs_are_listed_in_order():
    m = EventMatcher(["kmem:rss_*", "nope:*", "sched", "mm_page_free"])
    list(select(RECS, Selection(events=m.globs), m))
    assert m.unused() == ["nope:*", "sched"]


def test_a_bare_glob_does_not_match_the_empty_system():
    m = EventMatcher(["*"])
    assert m("", "my_event")                    # by the event name
    assert not EventMatcher(["k*"])("", "my_event")


def test_pid_cpu_and_window_combine_inclusively():
    sel = Selection(pids=(10, 20), cpus=(1,), t_from=2_000, t_to=3_000)
    assert names(select(RECS, sel)) == ["mm_page_alloc", "mm_page_free"]
    assert names(select(RECS, Selection(t_from=5_000))) == ["my_event"]
    assert names(select(RECS, Selection(t_to=999))) == []


def test_an_empty_selection_passes_the_stream_through():
    sel = Selection()
    assert not sel.active
    it = iter(RECS)
    assert list(select(it, sel)) == RECS
    assert Selection(t_from=0).active and Selection(cpus=(0,)).active


@pytest.mark.parametrize("text, ns", [
    ("440.44", 440_440_000_000), ("440", 440_000_000_000), (".5", 500_000_000),
    ("440440ms", 440_440_000_000), ("5us", 5_000), ("5µs", 5_000), ("12ns", 12),
    ("2s", 2_000_000_000), (" 7 NS ", 7), ("1.000000001", 1_000_000_001),
])
def test_time_forms(text, ns):
    assert parse_time(text, "--from") == ns


@pytest.mark.parametrize("text, problem", [
    ("soon", "is not a time"), ("5 minutes", "is not a time"), ("-1", "is not a time"),
    ("1.5ns", "is not a whole number of nanoseconds"),
])
def test_bad_times_name_the_option_and_the_forms(text, problem):
    with pytest.raises(UsageError) as e:
        parse_time(text, "--to")
    msg = str(e.value)
    assert msg.startswith("--to: ") and problem in msg and "440440ms" in msg
