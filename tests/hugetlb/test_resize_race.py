"""Concurrent resizes and the resize mutex (hugetlb.md section 2 and scenario 7; the
hugetlb-resize-mutex switch and its demo)."""
import pytest

from memsim.testing import run_text

CONFIG = "configs/patch-hugetlb-resize-mutex.yaml"
SEEDS = range(60)


def with_patch(text, state):
    return text.replace("machine:\n", f"machine:\n  patches: {{hugetlb-resize-mutex: {state}}}\n", 1)


def outcome(text, seed):
    r = run_text(text, events=(), seed=seed)
    h = r.machine.plugin_state["hugetlb"]
    return r.error, tuple(h.default_hstate.node_counts(n)[0] for n in range(2)), h.stats


def test_with_the_mutex_two_node_writers_always_end_four_and_four():
    text = open(CONFIG).read()
    for seed in SEEDS:
        error, split, stats = outcome(text, seed)
        assert error is None, (seed, error)
        assert split == (4, 4) and stats.get("alloc_outside_mask", 0) == 0


def test_without_it_some_seeds_split_the_pool_wrongly_or_allocate_outside_the_mask():
    text = with_patch(open(CONFIG).read(), "off")
    failed = outside = 0
    splits = set()
    for seed in SEEDS:
        error, split, stats = outcome(text, seed)
        failed += error is not None
        outside += stats.get("alloc_outside_mask", 0) > 0
        splits.add(split)
    assert failed > 0 and outside > 0
    assert len(splits) > 1                  # the outcome depends on the interleaving


def test_the_same_seed_gives_the_same_interleaving():
    text = with_patch(open(CONFIG).read(), "off")
    assert outcome(text, 7)[1] == outcome(text, 7)[1]


SCENARIO_7 = """\
machine:
  cpus: 2
  nodes: [{memory: 256 MiB}, {memory: 256 MiB}]
tasks:
  - name: w1
    cpu: 0
    steps:
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "100"}
  - name: w2
    cpu: 1
    steps:
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "0"}
      - read_file: {path: /proc/sys/vm/nr_hugepages, expect: "%s"}
"""


def test_scenario_7_writers_of_one_hstate_run_one_after_the_other():
    """W2 either runs first (then W1 leaves 100) or waits for W1 and leaves 0; never a mix."""
    finals = set()
    for seed in range(30):
        r = run_text(SCENARIO_7 % "0\\n", events=(), seed=seed, check=True)
        h = r.machine.plugin_state["hugetlb"].default_hstate
        finals.add(h.nr_huge_pages)
        if r.error is not None:             # W2 read before W1 finished: it ran first
            assert h.nr_huge_pages == 100
    assert finals <= {0, 100} and len(finals) == 2


def test_writers_of_different_hstates_do_not_wait_for_each_other():
    text = """\
machine:
  cpus: 2
  nodes: [{memory: 2048 MiB}]
tasks:
  - name: w1
    cpu: 0
    steps:
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "50"}
  - name: w2
    cpu: 1
    steps:
      - write_file: {path: /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages, data: "1"}
"""
    r = run_text(text, events=(), seed=3)
    hg = r.machine.plugin_state["hugetlb"]
    assert r.error is None
    assert (hg.hstates[0].nr_huge_pages, hg.hstates[1].nr_huge_pages) == (50, 1)
    assert hg.hstates[0].resize_lock.owner is None and hg.hstates[1].resize_lock.owner is None
