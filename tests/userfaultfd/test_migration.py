"""The post-copy live migration of configs/patch-uffd-minor.yaml (migration.py), small: a guest
pre-copied in rounds while it dirties pages, switched over, served and drained, then every page
checked against the source at the pause -- with the uffd-minor change (MINOR registration) and
without it (stale pages punched out, MISSING registration), on shmem and hugetlbfs."""
import textwrap

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import StepType
from memsim.testing import run_text


def workload(kernel="v6.18", minor="on", huge=False, size="8 MiB", dirty=400):
    flags = "[MFD_HUGETLB]" if huge else "[]"
    pool = "  hugepages: \"16\"\n" if huge else ""
    return textwrap.dedent(f"""\
        machine:
          cpus: 4
          kernel: {kernel}
          nodes: [{{memory: 256 MiB}}]
          patches: {{uffd-minor: {minor}}}
        """) + pool + textwrap.dedent(f"""\
        tasks:
          - name: source
            steps:
              - mmap: {{name: ram, length: {size}}}
              - touch: {{vma: ram, access: write, stamp: true}}
              - guest_run: {{vma: ram, pages_per_ms: {dirty}, until: mig}}
              - migrate_wait: {{migration: mig}}
          - name: dest
            steps:
              - memfd_create: {{name: f, memfd_name: guest, flags: {flags}}}
              - ftruncate: {{fd: f, length: {size}}}
              - mmap: {{name: A, length: {size}, type: fd-shared, fd: f}}
              - mmap: {{name: B, length: {size}, type: fd-shared, fd: f}}
              - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
              - uffdio_api: {{uffd: u}}
              - migrate_precopy: {{migration: mig, from: {{task: source, vma: ram}}, to: B, rounds: 2,
                                  bandwidth: 256 MiB}}
              - migrate_switchover: {{migration: mig, uffd: u, vma: A}}
              - clone:
                  thread: monitor
                  steps:
                    - migrate_serve: {{migration: mig, uffd: u}}
              - clone:
                  thread: copier
                  steps:
                    - migrate_drain: {{migration: mig, uffd: u}}
              - clone:
                  thread: vcpu
                  steps:
                    - guest_run: {{vma: A, pages_per_ms: 200, duration: 2ms}}
              - migrate_wait: {{migration: mig}}
              - sleep: {{duration: 3ms}}
              - migrate_verify: {{migration: mig}}
        """)


def migration(run):
    return run.machine.plugin_state["userfaultfd.migrations"]["mig"]


@pytest.mark.parametrize("huge", [False, True], ids=["shmem", "hugetlbfs"])
@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_minor_faults_serve_the_stale_pages_in_place(kernel, huge):
    """With uffd-minor: nothing is punched, every page is verified, some faults fetched a stale
    page and the rest found theirs current."""
    run = run_text(workload(kernel, "on", huge), events=())
    assert run.error is None, run.error
    m = migration(run)
    assert m.stats["punched"] == 0 and m.stats["mismatches"] == 0
    assert m.stats["verified"] == m.npages and m.npages == 2048
    assert m.stale_left == 0 and m.converged_at is not None
    assert m.stats["postcopy_pages"] > 0                # the guest dirtied pages after round 2
    assert m.stats["minor_fetched"] + m.stats["minor_current"] > 0
    assert m.stats["missing_fetched"] == 0
    assert len(m.rounds) == 2 and m.rounds[0] == m.npages and m.rounds[1] < m.npages


@pytest.mark.parametrize("huge", [False, True], ids=["shmem", "hugetlbfs"])
def test_without_minor_faults_the_stale_pages_are_punched_first(huge):
    """Without uffd-minor: every stale page is punched out before the resume (a longer pause)
    and served by MISSING faults and UFFDIO_COPY; the result is as correct."""
    on = run_text(workload("v6.18", "on", huge), events=())
    off = run_text(workload("v6.18", "off", huge), events=())
    assert on.error is None and off.error is None, (on.error, off.error)
    a, b = migration(on), migration(off)
    assert b.stats["punched"] == b.stats["postcopy_pages"] > 0
    assert b.stats["minor_current"] == b.stats["minor_fetched"] == 0
    assert b.stats["mismatches"] == 0
    pause_on, pause_off = a.resumed_at - a.pause_start, b.resumed_at - b.pause_start
    assert pause_off > pause_on
    assert on.machine.plugin_state["userfaultfd"].stats["minor"] > 0
    assert off.machine.plugin_state["userfaultfd"].stats["minor"] == 0


class Corrupt:
    """A test step that changes one target page's stamp behind the migration's back."""

    @hookimpl
    def memsim_register_steps(self, steps):
        def corrupt(ctx, step):
            m = ctx.mappings["B"]
            pfn = ctx.machine.mmcore.pfn_of(ctx.task.mm, m.start + 4096 * 7)
            ctx.machine.physmem.stamp(pfn, 0x1234)
        steps.add(StepType("corrupt", "lose a page", (), corrupt, plugin="t"))


def test_the_verification_catches_a_lost_page():
    text = workload("v6.18", "on").replace("      - migrate_verify: {migration: mig}",
                                           "      - corrupt: {}\n      - migrate_verify: {migration: mig}")
    run = run_text(text, plugins=[Corrupt()], events=())
    assert run.error is not None and "differ from the source at the pause (first: page 7)" in str(run.error)


def test_a_migration_step_before_the_precopy_is_a_workload_error():
    text = textwrap.dedent("""\
        tasks:
          - name: t
            steps:
              - migrate_wait: {migration: nope}
        """)
    run = run_text(text, events=())
    assert run.error is not None and "no migration named 'nope' has started" in str(run.error)


@pytest.mark.parametrize("step, message", [
    ("- guest_run: {vma: ram}", "guest_run needs an end"),
    ("- migrate_drain: {migration: mig, uffd: u}", "migration 'mig' has not switched over yet"),
    ("- migrate_verify: {migration: mig}", "migration 'mig' has not switched over yet"),
])
def test_migration_steps_out_of_order_are_workload_errors(step, message):
    """A migration step used before what it needs names the step and the missing one: no
    traceback, no run that never ends."""
    text = textwrap.dedent("""\
        tasks:
          - name: src
            steps:
              - mmap: {name: ram, length: 1 MiB}
              - guest_run: {vma: ram, until: mig}
          - name: dst
            steps:
              - mmap: {name: ram, length: 1 MiB}
              - memfd_create: {name: f}
              - ftruncate: {fd: f, length: 1 MiB}
              - mmap: {name: B, length: 1 MiB, type: fd-shared, fd: f}
              - userfaultfd: {name: u, flags: [O_NONBLOCK]}
              - uffdio_api: {uffd: u}
              - migrate_precopy: {migration: mig, from: {task: src, vma: ram}, to: B}
        """) + "      " + step + "\n"
    from memsim.errors import WorkloadError
    try:
        error = run_text(text, events=()).error     # found while running
    except WorkloadError as e:                      # found when the file is loaded
        error = e
    assert error is not None and message in str(error)
    assert error.exit_code == 2


def test_a_guest_waiting_for_a_migration_that_never_comes_ends_with_the_run():
    text = textwrap.dedent("""\
        tasks:
          - name: t
            steps:
              - mmap: {name: ram, length: 1 MiB}
              - guest_run: {vma: ram, until: never}
        """)
    run = run_text(text, events=())
    assert run.error is None
