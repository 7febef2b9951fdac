"""The OOM killer of the core (mm/oom_kill.c as memsim.oom models it) and the watermark sysctls
(__setup_per_zone_wmarks), on a bare machine and through small workloads."""
import textwrap

import pytest

from memsim.errors import OutOfMemoryPanic
from memsim.oom import oom_badness, oom_score_points, totalpages
from memsim.testing import build_machine, run_text, task_summary, trace_text
from memsim.vm import do_mmap

MiB = 1 << 20
PAGE = 4096

# Probe on the live 6.18 kernel (this VM, 6.18.44, no swap): a process that malloc()ed and wrote
# 256 MiB, then read /proc/self/status and /proc/self/oom_score, wrote oom_score_adj and read it
# again (tests/core/probes/oom_score.c).  MemTotal 24683792 kB; VmRSS 263516 kB, VmPTE 560 kB,
# VmSwap 0 kB.
PROBE_TOTALPAGES = 24683792 // 4
PROBE_POINTS = 263516 // 4 + 560 // 4                        # rss + page tables, in pages
PROBE_OOM_SCORE = {0: 673, 500: 1006}                        # oom_score_adj -> /proc/self/oom_score


def run(text, **kw):
    return run_text(textwrap.dedent(text), events=kw.pop("events", ("oom:*",)), **kw)


@pytest.mark.parametrize("adj, want", sorted(PROBE_OOM_SCORE.items()))
def test_oom_score_arithmetic_matches_the_live_kernel(adj, want):
    # oom_badness(): points + adj * (totalpages / 1000); proc_oom_score() scales to 0..2000
    badness = PROBE_POINTS + adj * (PROBE_TOTALPAGES // 1000)
    assert oom_score_points(badness, PROBE_TOTALPAGES) == want


def test_oom_score_of_an_unkillable_task_is_zero():
    assert oom_score_points(None, PROBE_TOTALPAGES) == 0
    # a very negative adj makes the scaled value negative: printed %lu, as the kernel does
    assert oom_score_points(-PROBE_TOTALPAGES, PROBE_TOTALPAGES) == 0
    assert oom_score_points(-2 * PROBE_TOTALPAGES, PROBE_TOTALPAGES) == (1 << 64) - 666


def test_oom_badness_counts_rss_swap_and_page_tables():
    m = build_machine(nodes=(64 * MiB,), kernel="v6.18")
    t = m.spawn("a", "a")
    v = do_mmap(m.mmcore, t.mm, m.files, 4 * MiB, totalram=1 << 30)
    m.set_current(t)
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    total = totalpages(m)
    want = 1024 + t.mm.pgtables_bytes // PAGE
    assert t.mm.pgtables_bytes // PAGE >= 3                 # pud, pmd and pte tables
    assert oom_badness(m, t, total) == want
    t.oom_score_adj = 300
    assert oom_badness(m, t, total) == want + 300 * (total // 1000)
    t.oom_score_adj = -1000
    assert oom_badness(m, t, total) is None                 # OOM_SCORE_ADJ_MIN: never


HOG = """\
    machine: {{cpus: 1, nodes: [{{memory: 64 MiB}}], kernel: {kernel}}}
    tasks:
      - name: hog
        steps:
          - mmap: {{name: heap, length: 63 MiB}}
          - touch: {{vma: heap, access: write}}
    """


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_task_touching_more_than_the_machine_is_oom_killed(kernel):
    r = run(HOG.format(kernel=kernel))
    assert r.error is None, r.error
    hog = task_summary(r, "hog")
    assert hog["killed_by"] == "SIGKILL" and hog["exit_code"] is None and hog["wait_status"] == 9
    s = r.summary()
    assert [k["pid"] for k in s["oom_kills"]] == [hog["pid"]]
    assert s["oom_kills"][0]["invoked_by"] == hog["pid"]    # it was allocating for itself
    m = r.machine
    assert m.physmem.vmstat.vm_event(_event("oom_kill")) == 1
    from memsim.mmstat import vmstat_text
    assert "\noom_kill 1\n" in vmstat_text(m)              # /proc/vmstat's OOM_KILL event
    # its memory went back with its exit
    assert m.meminfo()["AnonPages"] == 0
    assert m.meminfo()["MemFree"] > 60 * MiB
    assert m.check_invariants() == []


def _event(name):
    from memsim.vmstat import ITEM_BY_NAME
    return ITEM_BY_NAME[name][1]


def test_oom_events_per_profile():
    # v5.14's mark_victim records the pid only; a victim that is current is not reaped at once
    # (it is running: its SIGKILL ends it), so only mark_victim and wake_reaper are seen
    # Before the kill, should_reclaim_retry() asked every zone of the zonelist (Normal is
    # empty on a 64 MiB machine) whether reclaiming all it could would pass the min watermark:
    # no (no file pages; anon cannot go without swap; DMA is below DMA32's lowmem reserve)
    retry = ["reclaim_retry_zone: node=0 zone=DMA32    order=0 reclaimable=0 available=191 "
             "min_wmark=192 no_progress_loops=1 wmark_check=0",
             "reclaim_retry_zone: node=0 zone=DMA      order=0 reclaimable=0 available=112 "
             "min_wmark=64 no_progress_loops=1 wmark_check=0"]
    lines = [l.split(": ", 1)[1] for l in trace_text(run(HOG.format(kernel="v5.14"))).splitlines()]
    assert lines == retry + ["mark_victim: pid=1000", "wake_reaper: pid=1000"]
    lines = [l.split(": ", 1)[1] for l in trace_text(run(HOG.format(kernel="v6.18"))).splitlines()]
    assert lines[:2] == retry
    assert lines[2].startswith("mark_victim: pid=1000 comm=hog total-vm=64512kB anon-rss=")
    assert lines[2].endswith(" uid=0 pgtables=136kB oom_score_adj=0")
    # queue_oom_reaper() (v5.18+) arms a 2 s timer; the victim dies first: no wake_reaper
    assert lines[3:] == []


TWO = """\
    machine: {{cpus: 2, nodes: [{{memory: 64 MiB}}], kernel: {kernel}}}
    tasks:
      - name: big
        oom_score_adj: {big}
        steps:
          - mmap: {{name: heap, length: 40 MiB}}
          - touch: {{vma: heap, access: write}}
          - sleep: {{duration: 1ms}}
      - name: small
        oom_score_adj: {small}
        steps:
          - mmap: {{name: heap, length: 40 MiB}}
          - touch: {{vma: heap, access: write}}
    """


@pytest.mark.parametrize("kernel, events", [
    # v5.14: wake_oom_reaper() at once, the reaper unmaps the victim's private memory
    ("v5.14", ["mark_victim:", "wake_reaper:", "start_task_reaping:", "finish_task_reaping:"]),
    # v6.18: the reaper's 2 s timer finds the victim gone; its exit freed the memory
    ("v6.18", ["mark_victim:"]),
])
def test_oom_score_adj_decides_who_dies(kernel, events):
    # big holds more memory, but small's +500 outweighs it: small is killed (its memory freed at
    # once, as it is not the running task) and big finishes
    r = run(TWO.format(big=-500, small=500, kernel=kernel))
    assert r.error is None, r.error
    assert task_summary(r, "big")["exit_code"] == 0
    assert task_summary(r, "small")["killed_by"] == "SIGKILL"
    kill, = r.summary()["oom_kills"]
    assert (kill["comm"], kill["oom_score_adj"], kill["reaped"]) == ("small", 500, True)
    lines = [l.split(": ", 1)[1].split(" ")[0:2] for l in trace_text(r).splitlines()
             if "reclaim_retry_zone:" not in l]
    assert lines == [[e, "pid=1001"] for e in events]


def test_the_bigger_task_dies_without_adjustment():
    r = run(TWO.format(big=0, small=0, kernel="v6.18"))
    assert r.error is None, r.error
    killed = [t["name"] for t in r.summary()["tasks"] if t["killed_by"]]
    assert len(killed) == 1                 # one kill frees enough for the other to finish
    kill, = r.summary()["oom_kills"]
    # the victim had the most rss + page tables when chosen
    assert kill["anon_rss_kb"] > 20 * 1024


def test_no_killable_task_panics():
    # out_of_memory(): "Out of memory and no killable processes..." then panic("System is
    # deadlocked on memory"); memsim stops the run with an error naming the step
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: hog
            oom_score_adj: -1000
            steps:
              - mmap: {name: heap, length: 63 MiB}
              - touch: {vma: heap, access: write}
        """)
    assert isinstance(r.error, OutOfMemoryPanic)
    assert r.error.exit_code == 2
    text = str(r.error)
    assert text.startswith("test.yaml:7:9: Kernel panic - not syncing: System is deadlocked on "
                           "memory (out of memory and no killable processes")
    assert text.endswith("; give the machine more memory, touch less, or let some task be killed "
                         "(an oom_score_adj above -1000)")
    from memsim.workload.outcome import run_status
    assert run_status(r) == "error"


def test_bad_oom_score_adj_in_a_workload_is_located():
    from memsim.errors import WorkloadError
    with pytest.raises(WorkloadError) as e:
        run("""\
            machine: {nodes: [{memory: 64 MiB}]}
            tasks:
              - name: a
                oom_score_adj: 1001
                steps: [{sleep: {duration: 1ms}}]
            """)
    assert str(e.value).startswith("test.yaml:4:20: ")
    assert "1000" in str(e.value)


def test_proc_pid_oom_files():
    # oom_score_adj_write(): kstrtoint(strstrip(buf), 0) -> EINVAL for text, EINVAL outside
    # -1000..1000; hex is taken (the live 6.18 kernel: " 7\n" -> 7, "0x10" -> 16, "12abc" and
    # "1001" -> EINVAL); each update is traced (oom:oom_score_adj_update)
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: t
            oom_score_adj: 250
            steps:
              - read_file: {path: /proc/1000/oom_score_adj, expect: "250\\n"}
              - write_file: {path: /proc/1000/oom_score_adj, data: "1001"}
              - expect: {errno: EINVAL}
              - write_file: {path: /proc/1000/oom_score_adj, data: "12abc"}
              - expect: {errno: EINVAL}
              - write_file: {path: /proc/1000/oom_score_adj, data: " 7\\n"}
              - read_file: {path: /proc/1000/oom_score_adj, expect: "7\\n"}
              - write_file: {path: /proc/1000/oom_score_adj, data: "0x10"}
              - read_file: {path: /proc/1000/oom_score_adj, expect: "16\\n"}
              - write_file: {path: /proc/1000/oom_score_adj, data: "-1000"}
              - read_file: {path: /proc/1000/oom_score, expect: "0\\n"}
        """)
    assert r.error is None, r.error
    lines = [l.split(": ", 1)[1] for l in trace_text(r).splitlines()]
    assert lines == ["oom_score_adj_update: pid=1000 comm=t oom_score_adj=7",
                     "oom_score_adj_update: pid=1000 comm=t oom_score_adj=16",
                     "oom_score_adj_update: pid=1000 comm=t oom_score_adj=-1000"]


def test_oom_score_file_reads_the_badness():
    m = build_machine(nodes=(64 * MiB,), kernel="v6.18")
    t = m.spawn("a", "a")
    files = t.files
    fd = m.vfs.open(files, f"/proc/{t.pid}/oom_score")
    # an empty mm: 1 page-table page (the pgd is not counted) -> 0 points -> (1000 + 0) * 2 / 3
    assert files.read(fd, 100) == b"666\n"


# -- watermarks --------------------------------------------------------------------------------

def _wmarks(m):
    return [(z["min"], z["low"], z["high"]) for z in m.physmem.zones_info() if z["managed"]]


def test_watermark_scale_factor_recomputes_the_watermarks():
    # __setup_per_zone_wmarks(): low = min + max(min / 4, mult_frac(managed, factor, 10000)),
    # high = min + 2 * that distance
    m = build_machine(nodes=(1 << 30,), kernel="v6.18")
    zones = [z for z in m.physmem.zones_info() if z["managed"]]
    m.physmem.set_watermark_scale_factor(1000)
    for z, (mn, low, high) in zip(zones, _wmarks(m)):
        gap = max(mn // 4, z["managed"] // 10000 * 1000 + z["managed"] % 10000 * 1000 // 10000)
        assert (low, high) == (mn + gap, mn + 2 * gap)
    assert _wmarks(m)[-1][1] - _wmarks(m)[-1][0] > 20000     # 10% of ~256k pages


@pytest.mark.parametrize("kernel, top", [("v5.14", 1000), ("v6.18", 3000)])
def test_watermark_scale_factor_sysctl_bounds(kernel, top):
    # proc_dointvec_minmax with extra1 = 1 and extra2 = 1000 (5.14) / 3000 (6.18); the live
    # 6.18 kernel takes 3000 and refuses 3001 and 0 with EINVAL
    r = run(f"""\
        machine: {{nodes: [{{memory: 64 MiB}}], kernel: {kernel}}}
        tasks:
          - name: t
            steps:
              - read_file: {{path: /proc/sys/vm/watermark_scale_factor, expect: "10\\n"}}
              - write_file: {{path: /proc/sys/vm/watermark_scale_factor, data: "{top + 1}"}}
              - expect: {{errno: EINVAL}}
              - write_file: {{path: /proc/sys/vm/watermark_scale_factor, data: "0"}}
              - expect: {{errno: EINVAL}}
              - write_file: {{path: /proc/sys/vm/watermark_scale_factor, data: "{top}"}}
              - read_file: {{path: /proc/sys/vm/watermark_scale_factor, expect: "{top}\\n"}}
        """, events=())
    assert r.error is None, r.error
    assert r.machine.physmem.watermark_scale_factor == top


def test_the_whole_thread_group_dies_and_children_inherit_oom_score_adj():
    # __oom_kill_process(): SIGKILL to the victim's thread group (PIDTYPE_TGID); copy_signal()
    # and clone(CLONE_THREAD) give children and threads their creator's oom_score_adj
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: main
            oom_score_adj: 300
            steps:
              - mmap: {name: heap, length: 40 MiB}
              - clone:
                  thread: worker
                  steps:
                    - read_file: {path: /proc/1002/oom_score_adj, expect: "300\\n"}
                    - sleep: {duration: 100ms}
              - touch: {vma: heap, access: write}
              - sleep: {duration: 5ms}
          - name: other
            steps:
              - mmap: {name: heap, length: 30 MiB}
              - touch: {vma: heap, access: write}
              - sleep: {duration: 10ms}
        """)
    assert r.error is None, r.error
    dead = {t["name"]: t["killed_by"] for t in r.summary()["tasks"] if t["killed_by"]}
    assert dead == {"main": "SIGKILL", "worker": "SIGKILL"}
    assert task_summary(r, "other")["exit_code"] == 0


def test_panic_on_oom_and_oom_kill_allocating_task():
    # check_panic_on_oom(): panic_on_oom 1 panics for an unconstrained OOM
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: hog
            steps:
              - write_file: {path: /proc/sys/vm/panic_on_oom, data: '1'}
              - mmap: {name: heap, length: 63 MiB}
              - touch: {vma: heap, access: write}
        """)
    assert isinstance(r.error, OutOfMemoryPanic)
    assert "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled" in str(r.error)
    # oom_kill_allocating_task: the allocating task dies although the other holds more (and has
    # a higher oom_score_adj)
    text = TWO.format(big=0, small=1000, kernel="v6.18").replace(
        "      - mmap: {name: heap, length: 40 MiB}\n          - touch: {vma: heap, access: write}\n"
        "          - sleep",
        "      - write_file: {path: /proc/sys/vm/oom_kill_allocating_task, data: '1'}\n"
        "          - mmap: {name: heap, length: 40 MiB}\n          - touch: {vma: heap, access: write}\n"
        "          - sleep", 1)
    assert "oom_kill_allocating_task" in text
    r = run(text)
    assert r.error is None, r.error
    kill, = r.summary()["oom_kills"]
    assert kill["invoked_by"] == kill["pid"]


def test_a_mempolicy_oom_scales_by_the_policys_nodes():
    # constrained_alloc(): CONSTRAINT_MEMORY_POLICY when the nodemask leaves out a node with
    # memory; totalpages is then the present pages of the policy's nodes (plus swap)
    m = build_machine(nodes=(16 * MiB, 48 * MiB))
    assert m.oom.constrained_alloc(0xcc0, 0b10) == ("mempolicy", 48 * MiB // PAGE)
    assert m.oom.constrained_alloc(0xcc0, 0b11) == ("none", totalpages(m))
    assert m.oom.constrained_alloc(0xcc0 | 0x200000, 0b10)[0] == "none"      # __GFP_THISNODE


@pytest.mark.parametrize("kernel, reaped", [("v5.14", False), ("v6.18", True)])
def test_the_reaper_and_mlocked_memory(kernel, reaped):
    # __oom_reap_task_mm(): v5.14 skips what can_madv_lru_vma() refuses (VM_LOCKED, hugetlb,
    # VM_PFNMAP); v6.1+ ("mm: oom_kill: reap mlocked VMAs") only hugetlb and VM_PFNMAP
    from memsim.oom import VM_LOCKED
    m = build_machine(nodes=(64 * MiB,), kernel=kernel)
    victim, other = m.spawn("victim", "victim"), m.spawn("other", "other")
    m.set_current(victim)
    locked = do_mmap(m.mmcore, victim.mm, m.files, 1 * MiB, totalram=1 << 30)
    plain = do_mmap(m.mmcore, victim.mm, m.files, 1 * MiB, totalram=1 << 30)
    for v in (locked, plain):
        assert m.mmcore.access(victim.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    m.mmcore.sync_current_rss()
    locked.vm_flags |= VM_LOCKED
    m.set_current(other)
    m.oom.oom_kill_process(victim, 0, 0xcc0, 0)
    assert victim.sigkill_pending and victim.oom_victim
    left = m.rss_counter(victim)["MM_ANONPAGES"]
    assert left == (0 if reaped else 256)                 # the mlocked MiB stays on v5.14
    assert m.mmcore.pfn_of(victim.mm, plain.vm_start) is None
    assert m.check_invariants() == []
