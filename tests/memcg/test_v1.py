"""The cgroup v1 memory controller's other knobs (v1files.py) against the live 6.18 kernel's
answers (tests/memcg/probes/memcg_errno.txt, memcg_limit.txt), and oom_kill_disable: a user
fault in a memcg OOM waits until the limit is raised (mem_cgroup_oom_synchronize)."""
import json
import textwrap

import pytest

from memsim.testing import run_text

M = "/sys/fs/cgroup/memory"
PROFILES = ("v5.14", "v6.18")


def workload(steps, kernel="v6.18", extra_tasks=""):
    body = textwrap.indent(textwrap.dedent(steps), "      ")
    return (f"machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 256 MiB}}]}}\n"
            f"cgroup: {{version: 1}}\ntasks:\n  - name: app\n    cpu: 0\n    steps:\n{body}{extra_tasks}")


def run(steps, **kw):
    r = run_text(workload(steps, **kw), events=())
    assert r.error is None, r.error
    return r


#: memcg_errno.txt: (file, data written, errno, what it reads back after)
ERRNO_ROWS = [
    ("memory.soft_limit_in_bytes", "10M", None, "10485760"),         # errno.soft_limit_10M
    ("memory.soft_limit_in_bytes", "abc", "EINVAL", "10485760"),     # errno.soft_limit_abc
    ("memory.kmem.tcp.limit_in_bytes", "10M", None, "10485760"),     # errno.kmem_tcp_limit_10M
    ("memory.move_charge_at_immigrate", "1", "EINVAL", "0"),         # errno.move_charge_1
    ("memory.move_charge_at_immigrate", "3", "EINVAL", "0"),         # errno.move_charge_3
    ("memory.move_charge_at_immigrate", "0", None, "0"),             # errno.move_charge_0
    ("memory.move_charge_at_immigrate", "4", "EINVAL", "0"),         # errno.move_charge_4
    ("memory.swappiness", "30", None, "30"),                         # errno.swappiness_30
    ("memory.swappiness", "101", None, "101"),                       # errno.swappiness_101
    ("memory.swappiness", "201", "EINVAL", "101"),                   # errno.swappiness_201
    ("memory.swappiness", "abc", "EINVAL", "101"),                   # errno.swappiness_abc
    ("memory.oom_control", "1", None, "oom_kill_disable 1\nunder_oom 0\noom_kill 0"),
    ("memory.oom_control", "0", None, "oom_kill_disable 0\nunder_oom 0\noom_kill 0"),
    ("memory.oom_control", "2", "EINVAL", "oom_kill_disable 0\nunder_oom 0\noom_kill 0"),
    ("memory.force_empty", "0", None, None),                         # errno.force_empty_0_empty
    ("memory.force_empty", "abc", None, None),                       # errno.force_empty_abc
    ("memory.pressure_level", "low", "EINVAL", ""),                  # errno.pressure_level
    ("cgroup.event_control", "abc", "EINVAL", None),                 # errno.event_control_garbage
    ("memory.kmem.slabinfo", "0", "EINVAL", ""),                     # errno.write_readonly.kmem.slabinfo
    ("memory.numa_stat", "0", "EINVAL", None),                       # errno.write_readonly.numa_stat
]


@pytest.mark.parametrize("kernel", PROFILES)
def test_the_v1_knobs_answer_as_the_live_kernel(kernel):
    """Each row of memcg_errno.txt, written in order to one child cgroup: the errno and what the
    file reads back."""
    steps = f"- mkdir: {{path: {M}/a}}\n"
    for name, data, errno, after in ERRNO_ROWS:
        steps += f"- write_file: {{path: {M}/a/{name}, data: {json.dumps(data)}}}\n"
        if errno:
            steps += f"- expect: {{errno: {errno}}}\n"
        if after is not None:
            text = after + "\n" if after else ""
            steps += f"- expect: {{file: {{path: {M}/a/{name}, equals: {json.dumps(text)}}}}}\n"
    run(steps, kernel=kernel)


def test_a_v1_child_has_the_live_kernels_files():
    """memcg_errno.txt `errno.ls_child`: the names and modes of a child's files (but the
    vendor kernel's memory.shown_ram_in_bytes, not upstream)."""
    r = run(f"- mkdir: {{path: {M}/a}}\n")
    want = {}
    for line in open(__file__.replace("test_v1.py", "probes/memcg_errno.txt")):
        if line.startswith("errno.ls_child"):
            mode, name = line.rstrip("\n").split("\t")[2].split(" ")
            want[name] = mode
    want.pop("memory.shown_ram_in_bytes")
    got = {}
    for path, inode in r.machine.vfs.iterate(f"{M}/a"):
        name = path.rsplit("/", 1)[1]
        if name != "a":
            got[name] = _mode_text(inode)
    assert got == want


def _mode_text(inode) -> str:
    mode = inode.i_mode if hasattr(inode, "i_mode") else inode
    bits = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return "-" + bits


def test_v1_root_swappiness_is_vm_swappiness_and_a_child_inherits_its_parents():
    r = run(f"""\
        - write_file: {{path: {M}/memory.swappiness, data: "30"}}
        - expect: {{file: {{path: /proc/sys/vm/swappiness, equals: "30\\n"}}}}
        - mkdir: {{path: {M}/a}}
        - expect: {{file: {{path: {M}/a/memory.swappiness, equals: "30\\n"}}}}
        - write_file: {{path: {M}/a/memory.swappiness, data: "10"}}
        - mkdir: {{path: {M}/a/b}}
        - expect: {{file: {{path: {M}/a/b/memory.swappiness, equals: "10\\n"}}}}
        - write_file: {{path: {M}/memory.oom_control, data: "1"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {M}/memory.force_empty, data: "1"}}
        - expect: {{errno: EINVAL}}
        """)


@pytest.mark.parametrize("kernel", PROFILES)
def test_oom_kill_disable_makes_the_11th_fault_wait_until_the_limit_is_raised(kernel):
    """memcg_limit.txt `limit.nooom.*`: limit 10 pages and oom_kill_disable 1; the 11th fault
    waits (worker_state=D, under_oom 1, no kill); raising the limit to 11 pages ends the wait:
    usage 45056, under_oom 0, oom_kill 0; failcnt 29 while it waits (10 faults, then the
    11th's 19 refused tries: the batch, the exact page, the one after the drain and 16
    retries) and 30 after (the retried fault's batch)."""
    r = run(f"""\
        - mmap: {{name: r, length: 48 KiB}}
        - touch: {{vma: r, length: 4 KiB}}
        - mkdir: {{path: {M}/nooom}}
        - write_file: {{path: {M}/nooom/memory.limit_in_bytes, data: "40960"}}
        - write_file: {{path: {M}/nooom/memory.oom_control, data: "1"}}
        - fork:
            child: worker
            steps:
              - write_file: {{path: {M}/nooom/cgroup.procs, data: "0"}}
              - touch: {{vma: r, offset: 4 KiB, length: 40 KiB}}
              - touch: {{vma: r, offset: 44 KiB, length: 4 KiB}}
              - sleep: {{duration: 1 s}}
        - sleep: {{duration: 1 s}}
        - expect: {{file: {{path: {M}/nooom/memory.oom_control, equals: "oom_kill_disable 1\\nunder_oom 1\\noom_kill 0\\n"}}}}
        - expect: {{file: {{path: {M}/nooom/memory.usage_in_bytes, equals: "40960\\n"}}}}
        - expect: {{file: {{path: {M}/nooom/memory.failcnt, equals: "29\\n"}}}}
        - write_file: {{path: {M}/nooom/memory.limit_in_bytes, data: "45056"}}
        - sleep: {{duration: 1 ms}}
        - expect: {{file: {{path: {M}/nooom/memory.oom_control, equals: "oom_kill_disable 1\\nunder_oom 0\\noom_kill 0\\n"}}}}
        - expect: {{file: {{path: {M}/nooom/memory.usage_in_bytes, equals: "45056\\n"}}}}
        - expect: {{file: {{path: {M}/nooom/memory.failcnt, equals: "30\\n"}}}}
        """, kernel=kernel)
    from memsim.testing import task_summary
    w = task_summary(r, "worker")
    assert w["killed_by"] is None and w["exited"] and w["faults"]["oom"] == 1


def test_v1_numa_stat_counts_a_memcgs_lru_pages_and_its_subtrees_per_node():
    """memcg_numa_stat_show(): b's 100 anonymous pages (those already moved from the CPU's
    lru_add batch onto b's lruvec) show in b's anon and total, in a's hierarchical_ lines only,
    and in the root's hierarchical_ lines; pages, per node."""
    import sys
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from test_kmem import Snap
    snap = Snap(lambda ctx: {p: dict(_numa(ctx.machine.vfs.read_file(f"{M}{p}/memory.numa_stat").decode()))
                             for p in ("", "/a", "/a/b")})
    r = run_text(workload(f"""\
        - mkdir: {{path: {M}/a}}
        - mkdir: {{path: {M}/a/b}}
        - write_file: {{path: {M}/a/b/cgroup.procs, data: "0"}}
        - mmap: {{name: buf, length: 400 KiB}}
        - touch: {{vma: buf}}
        - snap: {{label: touched}}
        """), events=(), plugins=(snap,))
    assert r.error is None, r.error
    s = snap.seen["touched"]
    b_anon = s["/a/b"]["anon"]
    assert 100 - 31 < b_anon[0] <= 100 and b_anon == (b_anon[0], [b_anon[0]])
    assert s["/a/b"]["total"] == b_anon and s["/a/b"]["hierarchical_anon"] == b_anon
    assert s["/a"]["anon"] == (0, [0]) and s["/a"]["hierarchical_anon"] == b_anon
    assert s[""]["hierarchical_anon"][0] >= b_anon[0]
    assert list(s["/a"]) == ["total", "file", "anon", "unevictable", "hierarchical_total",
                             "hierarchical_file", "hierarchical_anon", "hierarchical_unevictable"]


def _numa(text):
    for line in text.splitlines():
        head, *nodes = line.split(" ")
        name, total = head.split("=")
        yield name, (int(total), [int(n.split("=")[1]) for n in nodes])
