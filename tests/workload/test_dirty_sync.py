"""Dirty shared file pages (mm/page-writeback.c, mm/memory.c): a write fault dirties the page
(fault_dirty_shared_page: NR_FILE_DIRTY, /proc/meminfo Dirty), the PTE's dirty bit goes to the
page at unmap (zap_pte_range), drop_caches cannot drop a dirty page, and the `sync` step writes
them back (filemap_write_and_wait: nr_written), write-protecting the PTEs (page_mkclean) so the
next write faults and dirties the page again (wp_page_shared).  Run with --check."""
import textwrap

import pytest

from memsim.testing import run_text

PROLOGUE = """\
machine:
  nodes: [{memory: 64 MiB}]
  kernel: %s
tasks:
  - name: app
    steps:
      - mmap: {name: f, length: 1 MiB, type: file-shared, file: data}
      - touch: {vma: f, access: write}
      - expect: {meminfo: {Dirty: 1024 kB}}
"""


def run(kernel, steps):
    text = PROLOGUE % kernel + textwrap.indent(textwrap.dedent(steps), " " * 6)
    r = run_text(text, events=(), check=True)
    assert r.error is None, r.error
    return r


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_dirty_pages_stay_through_munmap_and_drop_caches_until_sync(kernel):
    r = run(kernel, """\
        - munmap: {vma: f}
        - expect: {meminfo: {Dirty: 1024 kB}}
        - write_file: {path: /proc/sys/vm/drop_caches, data: "1"}
        - expect: {meminfo: {Dirty: 1024 kB}}
        - sync: {}
        - expect: {meminfo: {Dirty: 0 kB, Writeback: 0 kB}}
        - write_file: {path: /proc/sys/vm/drop_caches, data: "1"}
        - write_file: {path: /proc/sys/vm/stat_refresh, data: "1"}
        - expect: {file: {path: /proc/vmstat, fields: {nr_dirtied: 256, nr_written: 256, nr_file_pages: 0}}}
    """)
    assert len(r.machine.files.files["data"].shadows()) == 0       # dropped, not reclaimed


def test_a_write_after_sync_faults_and_dirties_the_page_again():
    r = run("v6.18", """\
        - sync: {}
        - expect: {meminfo: {Dirty: 0 kB}}
        - touch: {vma: f, access: write}
        - expect: {meminfo: {Dirty: 1024 kB}}
    """)
    # sync write-protected the 256 PTEs (page_mkclean), so the second pass took 256 more
    # write-protect faults on the shared mapping (wp_page_shared)
    faults = next(t["faults"] for t in r.summary()["tasks"] if t["name"] == "app")
    assert faults.get("shared", 0) == 512, faults


def test_a_read_only_pass_leaves_the_pages_clean():
    r = run_text(textwrap.dedent(PROLOGUE % "v6.18").replace(
        "touch: {vma: f, access: write}", "touch: {vma: f, access: read}").replace(
        "Dirty: 1024 kB", "Dirty: 0 kB"), events=(), check=True)
    assert r.error is None, r.error
