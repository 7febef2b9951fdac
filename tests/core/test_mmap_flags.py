"""The mmap step's flags and the file-shared type (issue 7, "Extensible steps": the core's own
MAP_* flags).  Behaviour follows mm/mmap.c of 5.14: do_mmap() + get_unmapped_area() for
MAP_FIXED / MAP_FIXED_NOREPLACE (EINVAL unaligned, EPERM below mmap_min_addr, EEXIST over a
mapping), mmap_region() unmapping what MAP_FIXED replaces, accountable_mapping() skipping
VM_NORESERVE, populate_vma_page_range() for MAP_POPULATE.
"""
import textwrap

import pytest

from memsim.errors import WorkloadError
from memsim.testing import run_text
from memsim.workload.docs import core_registries
from memsim.workload.loader import load_workload_text

HEAD = "machine: {nodes: [{memory: 64 MiB}]}\ntasks:\n  - name: app\n    steps:\n"


def workload(*steps):
    return HEAD + "".join(f"      - {s}\n" for s in steps)


def run(*steps):
    r = run_text(workload(*steps), events=())
    return r


def mapping(r, name, task="app"):
    pid = next(t.pid for t in r.machine.tasks.values() if t.name == task)
    m = r.task_data[pid].mappings[name]
    return m.start, m.end


def test_map_fixed_noreplace_maps_at_the_address():
    r = run("mmap: {name: a, length: 2 MiB, addr: 0x700000000000, flags: [MAP_FIXED_NOREPLACE]}",
            "touch: {vma: a}")
    assert r.error is None
    assert mapping(r, "a") == (0x700000000000, 0x700000200000)


def test_map_fixed_noreplace_over_a_mapping_fails_with_eexist():
    r = run("mmap: {name: a, length: 8 KiB, addr: 0x700000000000, flags: [MAP_FIXED_NOREPLACE]}",
            "mmap: {name: b, length: 4 KiB, addr: 0x700000001000, flags: [MAP_FIXED_NOREPLACE]}",
            "expect: {errno: EEXIST}")
    assert r.error is None


def test_map_fixed_replaces_what_was_mapped():
    r = run("mmap: {name: a, length: 16 KiB, addr: 0x700000000000, flags: [MAP_FIXED]}",
            "touch: {vma: a}",
            "expect: {rss: {anon: 16 KiB}}",
            "mmap: {name: b, length: 8 KiB, addr: 0x700000002000, flags: [MAP_FIXED], prot: r}",
            # the replaced pages are gone: a's first two pages stay, b is new and empty
            "expect: {rss: {anon: 8 KiB}}",
            "touch: {vma: b, access: read}",
            "expect: {rss: {anon: 8 KiB}}",         # reads of b map the zero page
            "touch: {vma: a, length: 8 KiB}",
            "touch: {vma: a, offset: 8 KiB}",       # a's upper half is b's now: read-only
            "expect: {signal: SIGSEGV, si_code: SEGV_ACCERR}")
    assert r.error is None, r.error


@pytest.mark.parametrize("addr, errno", [
    ("0x700000000800", "EINVAL"),          # offset_in_page(addr)
    ("0x1000", "EPERM"),                   # below mmap_min_addr (65536), unprivileged
    ("0x7ffffffff000", "ENOMEM"),          # addr > TASK_SIZE - len
])
def test_map_fixed_address_checks(addr, errno):
    r = run(f"mmap: {{name: a, length: 8 KiB, addr: {addr}, flags: [MAP_FIXED]}}",
            f"expect: {{errno: {errno}}}")
    assert r.error is None, r.error


def test_map_noreserve_is_not_accounted():
    # 64 GiB on a 64 MiB machine: refused by the overcommit heuristic, accepted with MAP_NORESERVE.
    r = run("mmap: {name: big, length: 64 GiB}", "expect: {errno: ENOMEM}",
            "mmap: {name: big2, length: 64 GiB, flags: [MAP_NORESERVE]}",
            "touch: {vma: big2, length: 8 KiB}", "expect: {rss: {anon: 8 KiB}}")
    assert r.error is None, r.error


def test_shared_anonymous_noreserve_is_not_accounted_either():
    r = run("mmap: {name: s, length: 64 GiB, type: shared, flags: [MAP_NORESERVE]}")
    assert r.error is None, r.error


@pytest.mark.parametrize("how", ["flags: [MAP_POPULATE]", "populate: true"])
def test_map_populate_faults_the_mapping_in(how):
    r = run(f"mmap: {{name: a, length: 64 KiB, {how}}}", "expect: {rss: {anon: 64 KiB}}")
    assert r.error is None, r.error


def test_file_shared_writes_reach_the_file_and_other_mappings():
    r = run("mmap: {name: w, length: 8 KiB, type: file-shared, file: data.bin}",
            "write: {vma: w, offset: 4100, data: shared}",
            "mmap: {name: r, length: 8 KiB, type: file, file: data.bin, prot: r}",
            "read: {vma: r, offset: 4100, expect: shared}",
            "expect: {rss: {file: 8 KiB, anon: 0}}")
    assert r.error is None, r.error


def test_file_private_writes_do_not_reach_the_file():
    r = run("mmap: {name: w, length: 4 KiB, type: file, file: data.bin}",
            "write: {vma: w, data: private}",
            "mmap: {name: r, length: 4 KiB, type: file-shared, file: data.bin, prot: r}",
            "read: {vma: r, expect: \"\\0\\0\\0\\0\\0\\0\\0\"}")
    assert r.error is None, r.error


@pytest.mark.parametrize("step, message", [
    ("mmap: {name: a, length: 4k, flags: [MAP_FIXED]}",
     "w.yaml:5:45: mmap with MAP_FIXED needs addr; add addr: ADDRESS, where the mapping must start "
     "(a multiple of 4 KiB)"),
    ("mmap: {name: a, length: 4k, addr: 0x700000000000, flags: [MAP_POPULATE, MAP_POPULATE]}",
     "w.yaml:5:81: MAP_POPULATE is given twice in mmap.flags; list each flag once"),
    ("mmap: {name: a, length: 4k, flags: [MAP_HUGETLB]}",
     "w.yaml:5:45: invalid mmap.flags[0]: 'MAP_HUGETLB' is not one of MAP_FIXED, MAP_NORESERVE, "
     "MAP_POPULATE, MAP_FIXED_NOREPLACE; write one of MAP_FIXED, MAP_NORESERVE, MAP_POPULATE, "
     "MAP_FIXED_NOREPLACE"),
    ("mmap: {name: a, length: 4k, type: file-shared}",
     "w.yaml:5:43: mmap.file is required when type is file-shared; add file: NAME, the file to map"),
])
def test_flag_mistakes_are_located(step, message):
    with pytest.raises(WorkloadError) as info:
        load_workload_text(workload(step), "w.yaml", core_registries())
    assert str(info.value) == message
