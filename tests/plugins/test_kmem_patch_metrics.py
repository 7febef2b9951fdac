"""kmem's metrics of seed change rss-stat-symbolic read the trace as ``memsim run --trace`` prints
it: the payload text of every kmem:rss_stat line (with its newline), and the lines that print
the counter's index (``member=N``, the change turned off)."""
import os

import pytest

from memsim.tracing.text import TextRenderer
from memsim.workload.outcome import run_metrics
from memsim.workload.runner import Run
from memsim.workload.variant import Host, WorkloadSource, patch_override

DEMO = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "patch-rss-stat-symbolic.yaml")


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_rss_stat_metrics_equal_the_trace_text(on, kernel):
    host = Host()
    source = WorkloadSource.read(DEMO)
    from memsim.workload.variant import Override
    p = host.prepare(source, [patch_override("rss-stat-symbolic", on),
                              Override(("machine", "kernel"), kernel, f"--set machine.kernel={kernel}")],
                     events=["kmem:rss_stat"])
    run = Run(p.workload, p.registries, p.events, host.pm, seed=3).execute()
    m = run.machine
    text = TextRenderer(m.events, m.profile.name, m.comms, m.ptr_key)
    payloads = [line.split(": rss_stat: ", 1)[1] for line in text.lines(m.tb) if ": rss_stat: " in line]
    assert payloads, "the demo must emit rss_stat lines"
    metrics = run_metrics(run, ["rss-stat-symbolic"])
    assert metrics["rss_stat_text_bytes"] == sum(len(x) for x in payloads)
    assert metrics["rss_stat_by_index"] == sum(" member=" in x for x in payloads)
    assert (metrics["rss_stat_by_index"] == 0) == on
