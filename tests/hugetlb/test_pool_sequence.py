"""The live 6.18 kernel's hugetlb pool sequence (tests/hugetlb/probes/pool_sequence.txt, README
there) replayed step by step on memsim's v6.18 profile: after each dump the probe took, every
counter it recorded -- the /proc/sys/vm and sysfs files, node0's files and meminfo lines,
/proc/meminfo's HugePages_* and Hugetlb, htlb_buddy_alloc_success/fail and nr_hugetlb -- must
read the same.  Steps 2, 3, 25 and 26 (bad input, the 1 GiB hstate's files) are the pool's
(tests/hugetlb/test_pool.py) and not replayed here.

nr_hugetlb follows the fixture's explanation (README "Surprise 1"): 6.18's gather_surplus_pages()
frees the surplus pages of a failed reservation through free_huge_folio(), which lowers
NR_HUGETLB for pages that never raised it, and the global read clamps the negative node value
to 0."""
import re
from pathlib import Path

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.testing import run_text, task_summary

FIXTURE = Path(__file__).parent / "probes" / "pool_sequence.txt"
H2 = "/sys/kernel/mm/hugepages/hugepages-2048kB"
N0 = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB"


def fixture_dumps():
    """[(label, {field: value})] of every dump of the fixture, in order."""
    dumps = []
    label = None
    fields = {}
    for line in FIXTURE.read_text().splitlines():
        m = re.match(r"^\s+\[(.*)\]$", line)
        if m:
            label, fields = m.group(1), {}
            dumps.append((label, fields))
            continue
        if label is None:
            continue
        s = line.strip()
        for prefix in ("proc:", "sysfs:", "node0:", "meminfo:", "vmstat:"):
            if s.startswith(prefix):
                body = s[len(prefix):]
                if prefix == "node0:":
                    files, _, mi = body.partition("|")
                    for k, v in re.findall(r"(\w+)=(\d+)", files):
                        fields[f"node0.{k}"] = int(v)
                    for k, v in re.findall(r"(\w+)=(\d+)", mi):
                        fields[f"node0.meminfo.{k}"] = int(v)
                elif prefix == "vmstat:":
                    for k, v in re.findall(r"(\w+)=(\d+)", re.sub(r"\([+-]?\d+\)", "", body)):
                        fields[f"vmstat.{k}"] = int(v)
                else:
                    for k, v in re.findall(r"(\w+)=(\d+)", body):
                        fields[f"{prefix[:-1]}.{k}"] = int(v)
    return dumps


def _read(m, path) -> str:
    return m.vfs.read_file(path).decode()


def _lines(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.replace(":", " ", 1).partition(" ") if ":" in line else line.partition(" ")
        out[k.strip()] = v.strip()
    return out


def snapshot(m):
    """The probe's dump() of memsim's files."""
    f = {}
    for k in ("nr_hugepages", "nr_hugepages_mempolicy", "nr_overcommit_hugepages"):
        f[f"proc.{k}"] = int(_read(m, f"/proc/sys/vm/{k}"))
    for k, name in (("nr_hugepages", "nr_hugepages"), ("nr_hugepages_mempolicy", "nr_hugepages_mempolicy"),
                    ("free", "free_hugepages"), ("resv", "resv_hugepages"),
                    ("surplus", "surplus_hugepages"), ("nr_overcommit", "nr_overcommit_hugepages")):
        f[f"sysfs.{k}"] = int(_read(m, f"{H2}/{name}"))
    for k, name in (("nr_hugepages", "nr_hugepages"), ("free", "free_hugepages"),
                    ("surplus", "surplus_hugepages")):
        f[f"node0.{k}"] = int(_read(m, f"{N0}/{name}"))
    node_mi = {}
    for line in _read(m, "/sys/devices/system/node/node0/meminfo").splitlines():
        mm = re.match(r"Node 0 HugePages_(\w+):\s+(\d+)", line)
        if mm:
            node_mi[mm.group(1)] = int(mm.group(2))
    for k in ("Total", "Free", "Surp"):
        f[f"node0.meminfo.{k}"] = node_mi[k]
    mi = _lines(_read(m, "/proc/meminfo"))
    for k in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb"):
        f[f"meminfo.{k}"] = int(mi[k].split()[0])
    vs = _lines(_read(m, "/proc/vmstat"))
    for k in ("htlb_buddy_alloc_success", "htlb_buddy_alloc_fail", "nr_hugetlb"):
        f[f"vmstat.{k}"] = int(vs[k]) if k in vs else None
    return f


class Snapshots:
    """A test plugin with a ``snapshot`` step that records the dump of the machine."""

    __name__ = "snapshots"

    def __init__(self):
        self.taken = []

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("snapshot", "record the hugetlb counters (tests)",
                           (Param("label", "str", "what the probe called this dump", required=True),),
                           run=self.run, plugin="snapshots"))

    def run(self, ctx, step):
        self.taken.append((step.args["label"], snapshot(ctx.machine)))


def snap(label):
    return f"      - snapshot: {{label: \"{label}\"}}\n"


def probe_workload(kernel="v6.18"):
    """The probe's actions (pool_sequence.c), as one task and a forked child (step 17)."""
    w = f"""\
machine:
  kernel: {kernel}
  nodes: [{{memory: 512 MiB}}]
tasks:
  - name: probe
    steps:
{snap("baseline")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "abc"}}
      - expect: {{errno: EINVAL}}
      - write_file: {{path: {H2}/nr_overcommit_hugepages, data: "-1"}}
      - expect: {{errno: EINVAL}}
{snap("after bad input (values must be unchanged)")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "8"}}
{snap("pool of 8")}\
      - mkdir: {{path: /tmp/probes13_hugetlbfs}}
      - mount: {{type: hugetlbfs, path: /tmp/probes13_hugetlbfs, source: none}}
      - open: {{name: f, path: /tmp/probes13_hugetlbfs/file, flags: [O_CREAT, O_RDWR]}}
      - mmap: {{name: fm, length: 8 MiB, type: fd-shared, fd: f}}
{snap("file mapped, nothing touched")}\
      - touch: {{vma: fm, length: 4 MiB}}
{snap("2 faulted")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "2"}}
{snap("after shrink 8->2")}\
      - munmap: {{vma: fm}}
{snap("after munmap, file still exists")}\
      - close: {{fd: f}}
      - unlink: {{path: /tmp/probes13_hugetlbfs/file}}
{snap("after unlink")}\
      - write_file: {{path: {H2}/nr_hugepages, data: "8"}}
{snap("pool of 8 (sysfs write)")}\
      - mmap: {{name: priv, length: 16 MiB, flags: [MAP_HUGETLB]}}
{snap("mapped 8, not touched")}\
      - touch: {{vma: priv}}
{snap("8 in use")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "0"}}
{snap("after shrink 8->0 with 8 used")}\
      - munmap: {{vma: priv, offset: 10 MiB, length: 6 MiB}}
{snap("5 in use, all surplus")}\
      - write_file: {{path: /proc/sys/vm/nr_overcommit_hugepages, data: "3"}}
      - mmap: {{name: p1, length: 2 MiB, flags: [MAP_HUGETLB]}}
      - expect: {{errno: ENOMEM}}
      - mmap: {{name: s1, length: 2 MiB, type: shared, flags: [MAP_HUGETLB]}}
      - expect: {{errno: ENOMEM}}
{snap("overcommit 3, surplus 5")}\
      - write_file: {{path: {H2}/nr_overcommit_hugepages, data: "8"}}
      - mmap: {{name: s2, length: 4 MiB, type: shared, flags: [MAP_HUGETLB]}}
{snap("after mmap of 2 reserved pages")}\
      - mmap: {{name: s3, length: 4 MiB, type: shared, flags: [MAP_HUGETLB]}}
      - expect: {{errno: ENOMEM}}
      - mmap: {{name: p3, length: 4 MiB, flags: [MAP_HUGETLB]}}
      - expect: {{errno: ENOMEM}}
{snap("after the refused mmaps (counters unchanged)")}\
      - fork:
          child: child
          steps:
            - mmap: {{name: nr, length: 4 MiB, flags: [MAP_HUGETLB, MAP_NORESERVE]}}
            - touch: {{vma: nr, length: 2 MiB}}
            - snapshot: {{label: "child: 1st NORESERVE page faulted"}}
            - touch: {{vma: nr, offset: 2 MiB}}
            - snapshot: {{label: "not reached: SIGBUS kills the child"}}
      - sleep: {{duration: 10 ms}}
{snap("after the child is gone")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "8"}}
{snap("after grow 0->8")}\
      - munmap: {{vma: priv}}
      - munmap: {{vma: s2}}
{snap("all unmapped")}\
      - open: {{name: g, path: /tmp/probes13_hugetlbfs/file2, flags: [O_CREAT, O_RDWR]}}
      - mmap: {{name: gm, length: 4 MiB, type: fd-shared, fd: g}}
      - touch: {{vma: gm}}
      - munmap: {{vma: gm}}
      - close: {{fd: g}}
{snap("munmapped and closed, not unlinked")}\
      - unlink: {{path: /tmp/probes13_hugetlbfs/file2}}
{snap("after unlink")}\
      - memfd_create: {{name: mfd, flags: [MFD_HUGETLB]}}
      - ftruncate: {{fd: mfd, length: 6 MiB}}
      - mmap: {{name: mm, length: 6 MiB, type: fd-shared, fd: mfd}}
{snap("memfd mapped, 0 faulted")}\
      - touch: {{vma: mm, length: 4 MiB}}
{snap("memfd 2 faulted")}\
      - munmap: {{vma: mm}}
{snap("memfd munmapped, fd still open")}\
      - close: {{fd: mfd}}
{snap("memfd closed")}\
      - mkdir: {{path: /tmp/probes13_hugetlbfs_min}}
      - mount: {{type: hugetlbfs, path: /tmp/probes13_hugetlbfs_min, source: none, options: "pagesize=2M,min_size=4M"}}
{snap("mounted min_size=4M")}\
      - umount: {{path: /tmp/probes13_hugetlbfs_min}}
{snap("unmounted")}\
      - write_file: {{path: {N0}/nr_hugepages, data: "4"}}
{snap("node0 := 4")}\
      - write_file: {{path: {N0}/nr_hugepages, data: "6"}}
{snap("node0 := 6")}\
      - write_file: {{path: /proc/sys/vm/nr_hugepages_mempolicy, data: "3"}}
{snap("proc nr_hugepages_mempolicy := 3")}\
      - write_file: {{path: {H2}/nr_hugepages_mempolicy, data: "5"}}
{snap("sysfs nr_hugepages_mempolicy := 5")}\
      - write_file: {{path: /proc/sys/vm/nr_overcommit_hugepages, data: "0"}}
      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: "0"}}
{snap("final")}\
"""
    return w


def replay(kernel="v6.18"):
    snaps = Snapshots()
    r = run_text(probe_workload(kernel), plugins=[snaps], events=())
    return r, snaps.taken


def test_the_fixture_has_every_dump_the_replay_takes():
    labels = [label for label, _ in fixture_dumps()]
    assert len(labels) == 33
    assert labels[0] == "baseline" and labels[-1] == "final"


def test_v6_18_replays_the_live_pool_sequence_counter_for_counter():
    """pool_sequence.txt steps 1, 4-24, 27: every counter of every dump (nr_hugetlb: see the
    module doc)."""
    r, taken = replay()
    assert r.error is None, r.error
    want = fixture_dumps()
    assert len(taken) == len(want), [label for label, _ in taken]
    problems = []
    for (got_label, got), (label, expected) in zip(taken, want):
        assert label.startswith(got_label.split(" (")[0]), (got_label, label)
        for key, value in expected.items():
            if got.get(key) != value:
                problems.append(f"[{label}] {key}: memsim {got.get(key)}, kernel {value}")
    assert problems == []


def test_the_child_is_killed_by_sigbus_on_its_second_noreserve_page():
    """Step 17: the first NORESERVE fault takes the last surplus page the overcommit limit
    allows, the second is SIGBUS (alloc_surplus_huge_page refuses before asking buddy)."""
    r, taken = replay()
    labels = [label for label, _ in taken]
    assert "not reached: SIGBUS kills the child" not in labels
    assert task_summary(r, "child")["killed_by"] == "SIGBUS"
    assert task_summary(r, "probe")["killed_by"] is None


def test_v5_14_differs_only_where_the_kernels_do():
    """The same sequence on v5.14: the pool counters are the same (hugetlb.md 0: the 6.18 pool
    agrees with 5.14's arithmetic); v5.14 has no nr_hugetlb line in /proc/vmstat."""
    r, taken = replay("v5.14")
    assert r.error is None, r.error
    want = fixture_dumps()
    assert len(taken) == len(want)
    problems = []
    for (got_label, got), (label, expected) in zip(taken, want):
        assert got["vmstat.nr_hugetlb"] is None         # no such line before v6.x
        for key, value in expected.items():
            if key == "vmstat.nr_hugetlb":
                continue
            if got.get(key) != value:
                problems.append(f"[{label}] {key}: memsim {got.get(key)}, kernel {value}")
    assert problems == []
