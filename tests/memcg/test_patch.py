"""The memcg-rstat switch: its demo (configs/patch-memcg-rstat.yaml, the seed's 32 CPUs x 32
subgroups) run both ways, and the modes each state and profile selects."""
import os

import pytest

from memsim.testing import run_text

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "configs", "patch-memcg-rstat.yaml")


def demo(state, kernel="v5.14"):
    text = open(DEMO).read().replace("machine: {cpus: 32, kernel: v5.14,",
                                     f"machine: {{cpus: 32, kernel: {kernel}, patches: {{memcg-rstat: {state}}},")
    r = run_text(text, events=())
    assert r.error is None, r.error
    return r


def metrics(r):
    impl = r.registries.patches.get("memcg-rstat")
    return {m.name: m.compute(r.machine) for m in impl.metrics}


def test_with_rstat_the_root_shows_every_fault_and_without_it_none():
    """The seed's case: every (subgroup, CPU) pair counts 31 faults, under the batch of 32, so
    without rstat none of the 31,744 reach the root's memory.stat; with it a read flushes them."""
    on, off = metrics(demo("on")), metrics(demo("off"))
    assert on["stat_pgfault"] == 32 * 32 * 31 and on["pgfault_missed"] == 0
    assert off["stat_pgfault"] == 0 and off["pgfault_missed"] == 32 * 32 * 31
    assert on["stat_flush_nodes"] > 32 * 33 and off["stat_flush_nodes"] == 0


def test_the_error_stays_within_the_seeds_bound():
    """memcg.md 6.3: at most 32 x CPUs x (cgroups in the subtree) per item."""
    off = metrics(demo("off"))
    assert off["pgfault_missed"] <= 32 * 32 * 34          # root, p and 32 subgroups


@pytest.mark.parametrize("kernel, state, mode", [
    ("v5.14", "on", "exact"), ("v6.18", "on", "throttled"),
    ("v5.14", "off", "batched"), ("v6.18", "off", "batched")])
def test_the_state_and_profile_choose_the_statistics_mode(kernel, state, mode):
    from memsim.plugins.memcg.rstat import MODES
    r = run_text(f"machine: {{kernel: {kernel}, patches: {{memcg-rstat: {state}}}}}\n"
                 "tasks: [{name: a, steps: [{sleep: {duration: 1}}]}]\n",
                 events=())
    assert r.error is None, r.error
    tree = r.machine.plugin_state["memcg"].host.stat_tree
    assert tree.mode == MODES[mode]
