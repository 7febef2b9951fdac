"""The hugetlbfs events (include/trace/events/hugetlbfs.h, v6.6+): v6.18's declarations print
the live 6.18 kernel's format files (catalog/v6.18/hugetlbfs) byte for byte with their IDs;
v5.14 has none."""
import re
from pathlib import Path

import pytest

import memsim.tracing
from memsim.testing import run_text, trace_text
from memsim.tracing.formatfile import format_file
from memsim.tracing.hugetlbfs import hugetlbfs_events

CATALOG = Path(memsim.tracing.__file__).parent / "catalog" / "v6.18" / "hugetlbfs"


@pytest.mark.parametrize("decl", hugetlbfs_events("v6.18"), ids=lambda d: d.name)
def test_v6_18_format_files_are_the_live_kernels(decl):
    want = (CATALOG / decl.name / "format").read_text()
    type_id = int(re.search(r"^ID: (\d+)$", want, re.M).group(1))
    assert format_file(decl, type_id) == want


def test_every_catalog_event_is_declared_and_v5_14_has_none():
    assert {d.name for d in hugetlbfs_events("v6.18")} == {p.name for p in CATALOG.iterdir()}
    assert hugetlbfs_events("v5.14") == []


def test_a_file_s_life_is_traced():
    text = """\
machine: {kernel: v6.18, nodes: [{memory: 128 MiB}]}
tasks:
  - name: t
    steps:
      - write_file: {path: /proc/sys/vm/nr_hugepages, data: "4"}
      - mkdir: {path: /mnt/huge}
      - mount: {type: hugetlbfs, path: /mnt/huge, source: none}
      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}
      - fallocate: {fd: f, mode: [], offset: 0, length: 4 MiB}
      - ftruncate: {fd: f, length: 2 MiB}
      - close: {fd: f}
      - unlink: {path: /mnt/huge/f}
"""
    r = run_text(text, events=("hugetlbfs:*",))
    assert r.error is None, r.error
    got = [line.split(": ", 1)[1] for line in trace_text(r).splitlines() if "hugetlbfs_" in line]
    assert got == [
        "hugetlbfs_alloc_inode: dev 0,80 ino 1 dir 0 mode 040755",          # the mount's root
        "hugetlbfs_alloc_inode: dev 0,80 ino 2 dir 1 mode 0100644",
        "hugetlbfs_fallocate: dev 0,80 ino 2 mode 00 offset 0 len 4194304 size 4194304 ret 0",
        "hugetlbfs_setattr: dev 0,80 ino 2 name f valid 0x2068 mode 00 old_size 4194304 size 2097152",
        # evict before remove_inode_hugepages (one page left: 4096 blocks), free after it
        "hugetlbfs_evict_inode: dev 0,80 ino 2 mode 0100644 size 2097152 nlink 0 seals 1 blocks 4096",
        "hugetlbfs_free_inode: dev 0,80 ino 2 mode 0100644 size 2097152 nlink 0 seals 1 blocks 0",
    ]


def test_a_failed_fallocate_is_traced_with_its_errno():
    text = """\
machine: {kernel: v6.18, nodes: [{memory: 128 MiB}]}
tasks:
  - name: t
    steps:
      - mkdir: {path: /mnt/huge}
      - mount: {type: hugetlbfs, path: /mnt/huge, source: none}
      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}
      - fallocate: {fd: f, mode: [], offset: 0, length: 2 MiB}
      - expect: {errno: ENOSPC}
"""
    r = run_text(text, events=("hugetlbfs:hugetlbfs_fallocate",))
    assert r.error is None, r.error
    assert trace_text(r).splitlines()[-1].endswith(
        "hugetlbfs_fallocate: dev 0,80 ino 2 mode 00 offset 0 len 2097152 size 0 ret -28")
