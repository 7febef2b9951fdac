"""Whatever the text, loading it gives a Workload or a WorkloadError: never another exception (a
traceback is a bug, STYLE 12)."""
from hypothesis import HealthCheck, given, settings, strategies as st

from memsim.errors import WorkloadError
from memsim.workload.docs import _EXAMPLE, core_registries
from memsim.workload.loader import load_workload_text

REGISTRIES = core_registries()
TOKENS = ["\n", " ", "  ", ":", "- ", "{", "}", "[", "]", ",", "&a", "*a", "<<: ", "'", '"', "#", "!!", "\t",
          "mmap", "touch", "fork", "expect", "length", "vma", "buf", "1 GiB", "-1", "0x", "k", "1.5", "~", "null",
          "true", "errno", "ENOMEM", "steps", "name", "tasks", "machine", "cpus", "nodes", "memory", "---", "x-"]


def _load(text):
    try:
        load_workload_text(text, "fuzz.yaml", REGISTRIES)
    except WorkloadError as exc:
        assert str(exc).startswith("fuzz.yaml")
        assert exc.problem and exc.fix


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example_never_raises_anything_but_workload_error(data):
    text = _EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        insert = data.draw(st.lists(st.sampled_from(TOKENS), max_size=3).map("".join))
        text = text[:i] + insert + text[j:]
    _load(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_never_raises_anything_but_workload_error(text):
    _load(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_but_workload_error(text):
    _load(text)
