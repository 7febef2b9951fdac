"""The memcg plugin: the cgroup hierarchy, the charge of user pages through the per-CPU stock,
the counters and their files, and the errnos of bad input (memcg.md sections 2-4, 7 and 9),
under both profiles and both cgroup versions.  Numbers the live 6.18 kernel showed come from
the probes in tests/memcg/probes (each test names its fixture line)."""
import json
import textwrap

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.testing import run_text, task_summary

KIB = 1024
PAGE = 4096
BATCH = {"v5.14": 32, "v6.18": 64}
PROFILES = ("v5.14", "v6.18")


def workload(steps, kernel="v5.14", version=2, cpus=4, memory="256 MiB", extra=""):
    body = textwrap.indent(textwrap.dedent(steps), "      ")
    return (f"machine: {{cpus: {cpus}, kernel: {kernel}, nodes: [{{memory: {memory}}}]}}\n"
            f"cgroup: {{version: {version}}}\n{extra}"
            f"tasks:\n  - name: app\n    cpu: 0\n    steps:\n{body}")


def run(steps, **kw):
    r = run_text(workload(steps, **kw), events=())
    assert r.error is None, r.error
    return r


def host(r):
    return r.machine.plugin_state["memcg"].host


CG = "/sys/fs/cgroup"


def in_cgroup(path="a"):
    return (f"        - mkdir: {{path: {CG}/{path}}}\n"
            f"        - write_file: {{path: {CG}/{path}/cgroup.procs, data: '0'}}\n")


def populated(name="buf", length="1 MiB"):
    """memcg.md 9's setup, "page tables for the faulting addresses already populated": the
    mapping (a VMA, slab objects charged as kmem) is made and its first page touched (the
    page tables, kmem pages) while the task is still in the root cgroup, which charges no
    kernel memory.  The tests then touch from offset 4 KiB."""
    return (f"        - mmap: {{name: {name}, length: {length}}}\n"
            f"        - touch: {{vma: {name}, length: 4 KiB}}\n")


# -- scenarios 1 and 2: the first fault charges a batch, the next ones come from the stock --------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_1_2_a_fault_charges_a_whole_batch_and_the_stock_serves_the_rest(kernel):
    """memcg.md scenarios 1 and 2 (v5.14: 32 pages), and memcg_batch.txt
    `batch.pte_present.fault 1 usage=262144` / `jump ... after_fault=65` (v6.18: 64)."""
    b = BATCH[kernel]
    r = run(populated() + in_cgroup() + f"""\
        - touch: {{vma: buf, offset: 4 KiB, length: 4 KiB}}
        - expect: {{file: {{path: {CG}/a/memory.current, equals: "{b * PAGE}\\n"}}}}
        - touch: {{vma: buf, offset: 4 KiB, length: {b * 4} KiB}}
        - expect: {{file: {{path: {CG}/a/memory.current, equals: "{b * PAGE}\\n"}}}}
        - touch: {{vma: buf, offset: 4 KiB, length: {b * 4 + 4} KiB}}
        - expect: {{file: {{path: {CG}/a/memory.current, equals: "{2 * b * PAGE}\\n"}}}}
        - sleep: {{duration: 3 s}}
        - expect: {{file: {{path: {CG}/a/memory.stat, contains: "anon {(b + 1) * PAGE}\\n"}}}}
        """, kernel=kernel)
    h = host(r)
    a = r.machine.plugin_state["memcg"].cgroup_at("a").memcg
    assert h.stock_of(0) == (a.id, b - 1)           # 2b charged, b + 1 used


class PageProbe:
    """The test step ``page_memcg: {vma}``: records (memcg_data, page_memcg) of the page that
    maps the start of the mapping."""

    def __init__(self):
        self.seen = []

    def run(self, ctx, step):
        m = ctx.data.mappings[step.args["vma"]]
        pfn = ctx.machine.mmcore.pfn_of(ctx.task.mm, m.start)
        h = ctx.machine.plugin_state["memcg"].host
        self.seen.append((ctx.machine.physmem.page_info(pfn)["memcg_data"], h.page_memcg(pfn)))

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("page_memcg", "a test's look at a page's memcg", (
            Param("vma", "str", "the mapping", required=True),), self.run, plugin="t"))


def test_scenario_1_the_page_records_its_memcg_and_pgpgin_counts_once():
    probe = PageProbe()
    r = run_text(workload(in_cgroup() + """\
        - mmap: {name: buf, length: 4 KiB}
        - touch: {vma: buf}
        - page_memcg: {vma: buf}
        """), events=(), plugins=(probe,))
    assert r.error is None, r.error
    a = r.machine.plugin_state["memcg"].cgroup_at("a").memcg
    [(data, memcg)] = probe.seen
    assert data == a.id << 2 and data & 3 == 0 and memcg is a
    from memsim.vmstat import ITEM_BY_NAME
    tree = host(r).stat_tree
    assert tree.read_event_local(a.stats, ITEM_BY_NAME["pgpgin"][1]) == 1
    assert tree.read_event_local(a.stats, ITEM_BY_NAME["pgpgout"][1]) == 1     # freed at exit


# -- scenario 3: exact charges near the limit -------------------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_3_near_the_limit_each_charge_is_exact_and_counts_one_failure(kernel):
    """memcg.md scenario 3; memcg_limit.txt `limit.fault` lines: usage 4096 .. 40960, failcnt
    1 .. 10, max_usage 40960 (v1 on 6.18)."""
    r = run(populated(length="44 KiB") + """\
        - mkdir: {path: /sys/fs/cgroup/memory/a}
        - write_file: {path: /sys/fs/cgroup/memory/a/memory.limit_in_bytes, data: "40960"}
        - write_file: {path: /sys/fs/cgroup/memory/a/cgroup.procs, data: "0"}
        - touch: {vma: buf, offset: 4 KiB}
        - expect: {file: {path: /sys/fs/cgroup/memory/a/memory.usage_in_bytes, equals: "40960\\n"}}
        - expect: {file: {path: /sys/fs/cgroup/memory/a/memory.failcnt, equals: "10\\n"}}
        - expect: {file: {path: /sys/fs/cgroup/memory/a/memory.max_usage_in_bytes, equals: "40960\\n"}}
        - expect: {file: {path: /sys/fs/cgroup/memory/a/memory.memsw.failcnt, equals: "0\\n"}}
        """, kernel=kernel, version=1)
    h = host(r)
    assert h.stock_of(0)[1] == 0


def test_scenario_3_v2_memory_events_max_stays_0_when_no_reclaim_was_needed():
    run(populated(length="44 KiB") + f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.max, data: "40960"}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - touch: {{vma: buf, offset: 4 KiB}}
        - expect: {{file: {{path: {CG}/a/memory.current, equals: "40960\\n"}}}}
        - expect: {{file: {{path: {CG}/a/memory.events, equals: "low 0\\nhigh 0\\nmax 0\\noom 0\\noom_kill 0\\n"}}}}
        """)


# -- scenario 4 and the slow path ------------------------------------------------------------------

def test_scenario_4_a_charge_that_cannot_block_fails_without_a_max_event():
    r = run(in_cgroup() + "        - sleep: {duration: 1 ms}\n")
    h = host(r)
    a = r.machine.plugin_state["memcg"].cgroup_at("a").memcg
    a.set_counter("memory", "max", 2)
    assert h.charge(a, 2) == 0
    assert h.charge(a, 1, gfp=0) == -12             # GFP_NOWAIT: -ENOMEM
    assert a.memory_events()["max"] == 0
    assert a.counter("memory")["usage"] == 2
    assert h.charge(a, 1, gfp=0x8000) == 0          # __GFP_NOFAIL: forced past the limit
    assert a.counter("memory")["usage"] == 3


@pytest.mark.parametrize("kernel", PROFILES)
def test_past_the_limit_with_nothing_reclaimable_the_memcg_oom_killer_kills_inside_the_cgroup(kernel):
    """memcg_limit.txt `limit.fault11`: without swap the 11th page's charge ends in the memcg OOM
    killer, which kills the faulting process (SIGKILL); memory.events counts max, oom, oom_kill."""
    r = run_text(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.max, data: "40960"}}
        - fork:
            child: hog
            steps:
              - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
              - mmap: {{name: buf, length: 44 KiB}}
              - touch: {{vma: buf}}
        - sleep: {{duration: 10 ms}}
        - expect: {{file: {{path: {CG}/a/memory.events, contains: "oom 1\\noom_kill 1\\n"}}}}
        """, kernel=kernel), events=())
    assert r.error is None, r.error
    hog = task_summary(r, "hog")
    assert hog["killed_by"] == "SIGKILL" and hog["signals"][0]["sender"] == "oom_kill"
    a = r.machine.plugin_state["memcg"].cgroup_at("a").memcg
    assert a.memory_events()["max"] >= 1 and a.counter("memory")["max"] == 10


# -- the hierarchy: rmdir, dying cgroups, cgroup.stat, fork ----------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_14_page_cache_pins_a_removed_cgroup_until_it_is_freed(kernel):
    """memcg.md scenario 14; memcg_dying.txt: rmdir succeeds, the cgroup stays dying while its
    page-cache pages are charged, and goes when the file is deleted."""
    run(f"""\
        - mkdir: {{path: {CG}/c}}
        - mkdir: {{path: /mnt/t}}
        - mount: {{type: tmpfs, path: /mnt/t}}
        - fork:
            child: writer
            steps:
              - write_file: {{path: {CG}/c/cgroup.procs, data: '0'}}
              - open: {{path: /mnt/t/f, name: f, flags: [O_WRONLY, O_CREAT]}}
              - write: {{fd: f, data: "{'x' * 20480}"}}
              - close: {{fd: f}}
        - sleep: {{duration: 3 s}}
        - expect: {{file: {{path: {CG}/c/memory.stat, contains: "shmem 20480\\n"}}}}
        - rmdir: {{path: {CG}/c}}
        - expect: {{file: {{path: {CG}/cgroup.stat, equals: "{STAT[kernel].format(0, 1)}"}}}}
        - unlink: {{path: /mnt/t/f}}
        - expect: {{file: {{path: {CG}/cgroup.stat, equals: "{STAT[kernel].format(0, 0)}"}}}}
        """, kernel=kernel)


#: the root's cgroup.stat with no live child and {0}/{1} dying ones: v6.12+ adds the memory
#: controller's css counts (the live kernel's layout: probes/cgroup2_stat.txt)
STAT = {"v5.14": "nr_descendants {0}\\nnr_dying_descendants {1}\\n",
        "v6.18": "nr_descendants {0}\\nnr_subsys_memory 1\\nnr_dying_descendants {1}\\n"
                 "nr_dying_subsys_memory {1}\\n"}


def test_rmdir_refuses_a_cgroup_with_a_task_or_a_child_and_removes_an_empty_one():
    """memcg_errno.txt `errno.rmdir_with_task EBUSY`, `errno.rmdir_with_child EBUSY`."""
    run(f"""\
        - mkdir: {{path: {CG}/a}}
        - mkdir: {{path: {CG}/a/b}}
        - rmdir: {{path: {CG}/a}}
        - expect: {{errno: EBUSY}}
        - write_file: {{path: {CG}/a/b/cgroup.procs, data: '0'}}
        - rmdir: {{path: {CG}/a/b}}
        - expect: {{errno: EBUSY}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {CG}/a/b}}
        - rmdir: {{path: {CG}/a}}
        - mkdir: {{path: {CG}/a}}
        - mkdir: {{path: {CG}/a}}
        - expect: {{errno: EEXIST}}
        - mkdir: {{path: {CG}/x/y}}
        - expect: {{errno: ENOENT}}
        """)


def test_cgroup_procs_takes_a_pid_or_0_and_the_kernels_errnos():
    """memcg_errno.txt: `abc` and `-1` EINVAL, a pid nobody has ESRCH, 0 moves the writer."""
    run(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: abc}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: "-1"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: "99999"}}
        - expect: {{errno: ESRCH}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: "0"}}
        - expect: {{file: {{path: {CG}/a/cgroup.procs, equals: "1000\\n"}}}}
        - write_file: {{path: {CG}/a/memory.current, data: "0"}}
        - expect: {{errno: EINVAL}}
        """)


def test_a_forked_child_starts_in_its_parents_cgroup_and_stays_when_the_parent_moves():
    """memcg_kmem_fork.txt `fork.child_cgroup` and `fork.parent_moved`."""
    run(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - fork:
            child: kid
            steps:
              - sleep: {{duration: 2 ms}}
              - expect: {{file: {{path: {CG}/a/cgroup.procs, equals: "1001\\n"}}}}
        - sleep: {{duration: 1 ms}}
        - expect: {{file: {{path: {CG}/a/cgroup.procs, equals: "1000\\n1001\\n"}}}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        """)


def test_v2_subtree_control_decides_which_cgroups_have_a_memcg():
    """A cgroup has memory.* files (its own memcg) only when its parent's subtree_control
    enables memory; enabling needs the controller in the parent (ENOENT) and no processes in
    the cgroup (EBUSY); writing a process into a cgroup that enables a controller is EBUSY."""
    run(f"""\
        - mkdir: {{path: {CG}/a}}
        - mkdir: {{path: {CG}/a/b}}
        - read_file: {{path: {CG}/a/memory.current}}
        - read_file: {{path: {CG}/a/b/memory.current}}
        - expect: {{errno: ENOENT}}
        - write_file: {{path: {CG}/a/b/cgroup.subtree_control, data: "+memory"}}
        - expect: {{errno: ENOENT}}
        - write_file: {{path: {CG}/a/cgroup.subtree_control, data: "+cpu"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/cgroup.subtree_control, data: "+memory"}}
        - read_file: {{path: {CG}/a/b/memory.current}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - expect: {{errno: EBUSY}}
        - write_file: {{path: {CG}/a/b/cgroup.procs, data: '0'}}
        - write_file: {{path: {CG}/a/b/cgroup.subtree_control, data: "+memory"}}
        - expect: {{errno: EBUSY}}
        """)


# -- limits as the kernel parses them ---------------------------------------------------------------

@pytest.mark.parametrize("data, errno, shown", [
    ("-5M", "EINVAL", None), ("abc", "EINVAL", None), ("1.5M", "EINVAL", None),
    ("max", None, "max\n"), ("1k", None, "0\n"), ("4097", None, "4096\n"), ("010", None, "0\n"),
    ("0x1000", None, "4096\n"), ("1G", None, "1073741824\n"), (" 8192\n", None, "8192\n"),
])
def test_memory_max_parses_like_page_counter_memparse(data, errno, shown):
    """memcg_errno.txt `errno.limit_write.*` (v1 there; v2's memory.max takes "max" where v1
    takes "-1")."""
    steps = f"- mkdir: {{path: {CG}/a}}\n- write_file: {{path: {CG}/a/memory.max, data: {json.dumps(data)}}}\n"
    steps += f"- expect: {{errno: {errno}}}\n" if errno else \
        f"- expect: {{file: {{path: {CG}/a/memory.max, equals: {json.dumps(shown)}}}}}\n"
    run(steps)


def test_v1_limits_keep_memory_at_or_below_memsw_and_read_back_as_the_kernel_prints():
    """memcg.md scenario 19 (memsw may not go below memory.limit, unlimited at first, so the
    limit comes first); memcg_errno.txt `errno.limit_above_memsw EINVAL`,
    `errno.memsw_below_limit EINVAL`, `errno.limit_write.-1` (9223372036854771712)."""
    m = "/sys/fs/cgroup/memory/a"
    run(f"""\
        - mkdir: {{path: {m}}}
        - write_file: {{path: {m}/memory.limit_in_bytes, data: "-5M"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {m}/memory.memsw.limit_in_bytes, data: 200M}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {m}/memory.limit_in_bytes, data: 100M}}
        - write_file: {{path: {m}/memory.memsw.limit_in_bytes, data: 200M}}
        - write_file: {{path: {m}/memory.limit_in_bytes, data: 300M}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {m}/memory.memsw.limit_in_bytes, data: 50M}}
        - expect: {{errno: EINVAL}}
        - expect: {{file: {{path: {m}/memory.limit_in_bytes, equals: "104857600\\n"}}}}
        - write_file: {{path: {m}/memory.memsw.limit_in_bytes, data: "-1"}}
        - write_file: {{path: {m}/memory.limit_in_bytes, data: "-1"}}
        - expect: {{file: {{path: {m}/memory.limit_in_bytes, equals: "9223372036854771712\\n"}}}}
        - write_file: {{path: {m}/memory.use_hierarchy, data: "0"}}
        - expect: {{errno: EINVAL}}
        - read_file: {{path: {m}/memory.max}}
        - expect: {{errno: ENOENT}}
        """, version=1)


# -- statistics --------------------------------------------------------------------------------------

def test_scenario_18_v1_local_and_total_keys():
    """memcg.md scenario 18 (v5.14: a read flushes, so both are exact at once): P has
    cache 0 and total_cache 40960, C has both 40960."""
    m = "/sys/fs/cgroup/memory"
    run(f"""\
        - mkdir: {{path: {m}/p}}
        - mkdir: {{path: {m}/p/c}}
        - mkdir: {{path: /mnt/t}}
        - mount: {{type: tmpfs, path: /mnt/t}}
        - write_file: {{path: {m}/p/c/cgroup.procs, data: '0'}}
        - open: {{path: /mnt/t/f, name: f, flags: [O_WRONLY, O_CREAT]}}
        - write: {{fd: f, data: "{'x' * 40960}"}}
        - expect: {{file: {{path: {m}/p/memory.stat, fields: {{cache: "0", total_cache: "40960"}}}}}}
        - expect: {{file: {{path: {m}/p/c/memory.stat, fields: {{cache: "40960", total_cache: "40960"}}}}}}
        """, version=1)


def test_the_v618_v1_memory_stat_has_the_live_kernels_keys_in_its_order():
    """memcg_stat.txt `stat.keys`: the 42 keys of this VM's v1 memory.stat, in order."""
    import pathlib
    fixture = (pathlib.Path(__file__).parent / "probes" / "memcg_stat.txt").read_text()
    line = next(l for l in fixture.splitlines() if l.startswith("stat.keys"))
    count, keys = line.split("\t")[1], line.split("\t")[2].split(",")
    assert int(count) == len(keys) == 42
    r = run("- mkdir: {path: /sys/fs/cgroup/memory/a}\n- sleep: {duration: 1 ms}\n",
            kernel="v6.18", version=1)
    text = r.machine.vfs.read_file("/sys/fs/cgroup/memory/a/memory.stat").decode()
    assert [l.split()[0] for l in text.splitlines()] == keys


def test_check_passes_on_a_workload_that_moves_tasks_and_removes_cgroups():
    text = workload(in_cgroup() + f"""\
        - mmap: {{name: buf, length: 1 MiB}}
        - touch: {{vma: buf}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {CG}/a}}
        - munmap: {{vma: buf}}
        """)
    r = run_text(text, events=(), check=True)
    assert r.error is None, r.error


def _stale_after(n, kernel="v6.18"):
    """memcg_stale.c's measurement: a fresh v1 memcg, n anonymous faults on CPU 0 (the page
    tables already there), then memory.stat's rss at once: True when the read is stale."""
    m = "/sys/fs/cgroup/memory/a"
    r = run_text(workload(f"""\
        - mmap: {{name: pre, length: 4 KiB}}
        - touch: {{vma: pre}}
        - mkdir: {{path: {m}}}
        - write_file: {{path: {m}/cgroup.procs, data: '0'}}
        - mmap: {{name: buf, length: {n * 4} KiB}}
        - touch: {{vma: buf}}
        - expect: {{file: {{path: {m}/memory.stat, fields: {{rss: {n * PAGE}, total_rss: {n * PAGE}}}}}}}
        - sleep: {{duration: 2500 ms}}
        """, kernel=kernel, version=1, cpus=2), events=())
    if r.error is None:
        return False
    assert "rss" in str(r.error), r.error
    return True


@pytest.mark.parametrize("n", [1, 10, 32, 47, 56, 100, 1000])
def test_v618_memory_stat_is_stale_until_enough_updates_as_the_probe_saw(n):
    """memcg_stale.txt (2 CPUs, 6.18): N <= 47 faults always stale, N >= 52 always exact, 48-51
    either.  memsim's 6.18 flush gate (rstat.pyx, memcg_vmstats_needs_flush()) is stale up to
    53 and exact from 54 on: the same threshold (MEMCG_CHARGE_BATCH x CPUs of updates), a few
    updates short per fault where memsim's fault path counts differently (the LRU batch)."""
    assert _stale_after(n) == (n <= 47)


def test_v514_memory_stat_is_exact_at_once():
    assert not _stale_after(10, kernel="v5.14")


def test_lowering_memory_max_below_usage_kills_inside_the_cgroup_until_it_fits():
    """memory_max_write(): drain, reclaim (nothing yet), then memcg OOM kills (memory.events
    oom and oom_kill) until usage is under the new max."""
    r = run_text(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - fork:
            child: hog
            steps:
              - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
              - mmap: {{name: buf, length: 1 MiB}}
              - touch: {{vma: buf}}
              - sleep: {{duration: 1 s}}
        - sleep: {{duration: 10 ms}}
        - write_file: {{path: {CG}/a/memory.max, data: 64K}}
        - sleep: {{duration: 10 ms}}
        - expect: {{file: {{path: {CG}/a/memory.events, fields: {{oom: 1, oom_kill: 1}}}}}}
        - expect: {{file: {{path: {CG}/a/memory.max, equals: "65536\\n"}}}}
        """), events=())
    assert r.error is None, r.error
    assert task_summary(r, "hog")["killed_by"] == "SIGKILL"


def _high_delay_ms(usage_pages, high_pages, nr_pages, batch=32):
    """calculate_high_delay() in jiffies (ms at HZ 1000), as mm/memcontrol.c computes it."""
    if usage_pages <= high_pages:
        return 0
    overage = ((usage_pages - high_pages) << 20) // max(high_pages, 1)
    penalty = ((overage * overage * 1000) >> 20) >> 14
    return min(penalty * nr_pages // batch, 2000)


def test_the_kernels_high_delay_table():
    """The table in mm/memcontrol.c's comment (memory.high of 100M, one batch): 101M -> 6 ms,
    105M -> 159, 110M -> 639, 117M -> 1849, then the 2 s clamp."""
    mib = 256
    assert [_high_delay_ms(u * mib, 100 * mib, 32) for u in (101, 105, 110, 117, 118)] == \
        [6, 159, 639, 1849, 2000]


def test_over_memory_high_a_task_is_throttled_in_emulated_time_and_high_is_counted():
    """memory.high 1 MiB, the task faults 2 MiB: each charge past high makes its return to user
    mode run mem_cgroup_handle_over_high(): memory.events ``high`` counts (17 a time: the first
    reclaim and 16 retries, memsim reclaiming nothing) and the task sleeps the penalty, which
    grows with the overage; nothing is killed and usage passes high."""
    r = run_text(workload(populated(length="2052 KiB") + in_cgroup() + f"""\
        - write_file: {{path: {CG}/a/memory.high, data: 1M}}
        - touch: {{vma: buf, offset: 4 KiB}}
        """), events=())
    assert r.error is None, r.error
    a = r.machine.plugin_state["memcg"].cgroup_at("a").memcg
    # 512 anon pages (and the PTE page of the next 2 MiB, wherever the mapping crosses one)
    assert a.counter("memory")["watermark"] in (512, 544)
    ev = a.memory_events()
    assert ev["max"] == 0 and ev["oom"] == 0 and ev["high"] > 0 and ev["high"] % 17 == 0
    # the sleeps: each charge of 32 pages beyond 256 pages of high, the overage at that point
    expected_ms = sum(_high_delay_ms(usage, 256, 32) for usage in range(288, 513, 32)
                      if _high_delay_ms(usage, 256, 32) > 10)
    assert r.machine.clock.now >= expected_ms * 1_000_000
    assert task_summary(r, "app")["killed_by"] is None


def test_v1_memory_stat_has_swap_only_with_memsw_accounting_and_v2_swap_max_takes_a_limit():
    """memcg1_stat_format() prints ``swap`` only when do_memsw_account(); swap_max_write()
    parses memory.swap.max as memory.max is parsed."""
    m = "/sys/fs/cgroup/memory/a"
    for account, has_swap in ((True, True), (False, False)):
        r = run_text(workload(f"- mkdir: {{path: {m}}}\n- sleep: {{duration: 1 ms}}\n", version=1)
                     .replace("cgroup: {version: 1}", f"cgroup: {{version: 1, swap_account: {str(account).lower()}}}"),
                     events=())
        assert r.error is None, r.error
        keys = [l.split()[0] for l in r.machine.vfs.read_file(f"{m}/memory.stat").decode().splitlines()]
        assert ("swap" in keys) == has_swap and ("total_swap" in keys) == has_swap
    run(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.swap.max, data: 1M}}
        - expect: {{file: {{path: {CG}/a/memory.swap.max, equals: "1048576\\n"}}}}
        - write_file: {{path: {CG}/a/memory.swap.max, data: "-1"}}
        - expect: {{errno: EINVAL}}
        """)


def test_v6_18_memory_events_has_oom_group_kill_and_sock_throttled():
    """__memory_events_show() of 6.18: oom_group_kill (v5.17) and sock_throttled (v6.14) after
    oom_kill; v5.14's five lines are the spec's (memcg.md 7.1)."""
    run(in_cgroup() + f"""\
        - expect: {{file: {{path: {CG}/a/memory.events, equals: "low 0\\nhigh 0\\nmax 0\\noom 0\\noom_kill 0\\noom_group_kill 0\\nsock_throttled 0\\n"}}}}
        - expect: {{file: {{path: {CG}/a/memory.oom.group, equals: "0\\n"}}}}
        - write_file: {{path: {CG}/a/memory.oom.group, data: "2"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/memory.oom.group, data: "0x1"}}
        - expect: {{file: {{path: {CG}/a/memory.oom.group, equals: "1\\n"}}}}
        """, kernel="v6.18")


@pytest.mark.parametrize("kernel", PROFILES)
def test_memory_oom_group_kills_every_process_of_the_group(kernel):
    """oom_kill_process(): with memory.oom.group 1 the memcg OOM kills the chosen victim and then
    every other process of the group (oom_kill_memcg_member) but those with oom_score_adj
    -1000; memory.events counts oom_kill per process and oom_group_kill once (v6.18 shows it)."""
    r = run_text(workload(f"""\
        - mkdir: {{path: {CG}/g}}
        - write_file: {{path: {CG}/g/memory.max, data: 1M}}
        - write_file: {{path: {CG}/g/memory.oom.group, data: "1"}}
        - fork:
            child: idle
            steps:
              - write_file: {{path: {CG}/g/cgroup.procs, data: '0'}}
              - sleep: {{duration: 1 s}}
        - fork:
            child: spared
            steps:
              - write_file: {{path: /proc/1002/oom_score_adj, data: "-1000"}}
              - write_file: {{path: {CG}/g/cgroup.procs, data: '0'}}
              - sleep: {{duration: 1 s}}
        - fork:
            child: hog
            steps:
              - sleep: {{duration: 1 ms}}
              - write_file: {{path: {CG}/g/cgroup.procs, data: '0'}}
              - mmap: {{name: m, length: 2 MiB}}
              - touch: {{vma: m}}
        - sleep: {{duration: 10 ms}}
        """, kernel=kernel), events=())
    assert r.error is None, r.error
    g = r.machine.plugin_state["memcg"].cgroup_at("g").memcg
    assert task_summary(r, "hog")["killed_by"] is not None
    assert task_summary(r, "idle")["killed_by"] is not None
    assert task_summary(r, "spared")["killed_by"] is None
    ev = g.memory_events()
    assert ev["oom_kill"] == 2 and ev["oom_group_kill"] == 1
