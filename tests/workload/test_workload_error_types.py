"""memsim.errors: one module, messages '<where>: <problem>; <fix>', exit codes 2 and 1."""
import pytest

from memsim.errors import (EXIT_BAD_INPUT, EXIT_EXPECTATION, ExpectationFailed, InvalidValue, Location,
                           MemsimError, PluginError, TraceError, UsageError, WorkloadError)


def test_location_reads_file_line_column():
    assert str(Location("w.yaml", 3, 7)) == "w.yaml:3:7"
    assert str(Location("w.yaml", 3)) == "w.yaml:3"
    assert str(Location("w.yaml")) == "w.yaml"


def test_location_is_frozen():
    with pytest.raises(AttributeError):
        Location("w.yaml", 1, 1).line = 2


def test_workload_error_message_shape():
    err = WorkloadError(Location("w.yaml", 2, 3), "unknown key 'cpu' in machine", "did you mean 'cpus'?")
    assert str(err) == "w.yaml:2:3: unknown key 'cpu' in machine; did you mean 'cpus'?"
    assert (err.where, err.problem, err.fix) == (Location("w.yaml", 2, 3), "unknown key 'cpu' in machine",
                                                 "did you mean 'cpus'?")
    assert str(WorkloadError("w.yaml", "the workload is empty", "write a mapping")) == \
        "w.yaml: the workload is empty; write a mapping"


@pytest.mark.parametrize("cls, code", [(WorkloadError, 2), (UsageError, 2), (TraceError, 2), (PluginError, 2),
                                       (ExpectationFailed, 1)])
def test_exit_codes(cls, code):
    assert issubclass(cls, MemsimError)
    assert cls("x", "p", "f").exit_code == code
    assert EXIT_BAD_INPUT == 2 and EXIT_EXPECTATION == 1


def test_optional_parts_are_left_out():
    assert str(UsageError(None, "no workload given", "pass a file")) == "no workload given; pass a file"
    assert str(ExpectationFailed(Location("w.yaml", 9, 9), "rss anon is 4 KiB, expected 8 KiB")) == \
        "w.yaml:9:9: rss anon is 4 KiB, expected 8 KiB"


def test_invalid_value_carries_a_key_path_and_no_location():
    err = InvalidValue("bad", "fix it", key="length")
    assert err.where is None and err.key == ("length",) and not err.on_key
    assert str(err) == "bad; fix it"
    assert InvalidValue("bad", key=("buddyinfo", "Node 0, zone DMA"), on_key=True).key == \
        ("buddyinfo", "Node 0, zone DMA")


def test_errors_survive_pickling():
    import pickle
    for err in (WorkloadError(Location("w.yaml", 1, 2), "p", "f"), InvalidValue("p", "f", key="x", on_key=True),
                ExpectationFailed(None, "p")):
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err) and again.__dict__ == err.__dict__
