"""Fixtures for memsim.tracing tests: the shared capture folder, registries, buffers."""
import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir():
    """../shared of the repo (or $MEMSIM_SHARED); None if absent."""
    env = os.environ.get("MEMSIM_SHARED")
    p = Path(env) if env else REPO.parent / "shared"
    return p if (p / "traces").is_dir() else None


@pytest.fixture(scope="session")
def traces_dir():
    d = shared_dir()
    if d is None:
        pytest.skip("captured traces not found: set MEMSIM_SHARED to the shared folder")
    return d / "traces"


@pytest.fixture(scope="session")
def capture_lines(traces_dir):
    """The event lines of the captured 6.18 ``trace`` file (ftrace-mm-workload.txt.gz)."""
    with gzip.open(traces_dir / "ftrace-mm-workload.txt.gz", "rt") as f:
        text = f.read()
    return text, [l for l in text.splitlines() if not l.startswith("#")]


@pytest.fixture(params=["v5.14", "v6.18"])
def profile_name(request):
    return request.param


@pytest.fixture
def kmem_registry():
    """kmem_registry(profile) -> an EventRegistry holding that profile's kmem events."""
    from memsim.tracing.events import EventRegistry
    from memsim.tracing.kmem import kmem_events

    def make(profile, enable="kmem"):
        reg = EventRegistry()
        for d in kmem_events(profile):
            reg.add(d)
        if enable:
            reg.enable(enable)
        return reg
    return make
