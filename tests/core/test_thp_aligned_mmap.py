"""THP-aligned anonymous mappings (mm/mmap.c __get_unmapped_area -> thp_get_unmapped_area_vmflags
of v6.18), pinned to what tests/core/probes/thp_aligned_mmap.c saw on the live 6.18 kernel
(tests/core/probes/thp_aligned_mmap.txt).  Issue 11: "THP-aligned anonymous mappings".

memsim maps the probe's process image (its mappings in the mmap area) at the same addresses
first, so every case sees the same free gaps as on the kernel, and must then return the
kernel's address for every case: private anonymous mappings whose length is a multiple of
2 MiB and that have no hint are 2 MiB aligned (at the top of the padded area when that is
aligned already), shared anonymous ones and other lengths are not, a free hint is taken as it
is, and mremap moves a private anonymous mapping the same way.
"""
from __future__ import annotations

import pathlib

import pytest

from memsim import vm
from memsim.machine import Machine, MachineSpec
from memsim.testing import with_page_cache

PROBES = pathlib.Path(__file__).parent / "probes"
MiB = 1 << 20
PAGE = 4096
MAP_NORESERVE = 0x4000              # no overcommit accounting: the 1 GiB case fits any machine


def recorded():
    return [line.split() for line in (PROBES / "thp_aligned_mmap.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def machine(kernel):
    m = with_page_cache(Machine(MachineSpec(cpus=2, nodes=(64 * MiB,), kernel=kernel), with_slab=False))
    t = m.spawn("thp_aligned_mmap")
    m.set_current(t)
    return m, t


def mmap(m, t, length, kind="anon", hint=None, map_flags=0):
    return vm.do_mmap(m.mmcore, t.mm, m.files, length, "rw", kind, hint=hint,
                      map_flags=map_flags | MAP_NORESERVE).vm_start


def replay(kernel):
    """Every case of the recorded probe run replayed on memsim: [(line, memsim's address)]."""
    m, t = machine(kernel)
    out = []
    last = None
    for fields in recorded():
        what = fields[0]
        if what == "image":
            start, end = int(fields[1], 16), int(fields[2], 16)
            mmap(m, t, end - start, hint=start, map_flags=vm.MAP_FIXED)
            continue
        length, hint = int(fields[1], 16), int(fields[2], 16)
        if what in ("private", "shared", "private-noreserve", "private-hint"):
            addr = mmap(m, t, length, "shared" if what == "shared" else "anon", hint or None)
            vm.do_munmap(m.mmcore, t.mm, addr, length)
        elif what == "sequence":
            addr = last = mmap(m, t, length)
        elif what == "fixed":                   # right below the last of the sequence
            addr = mmap(m, t, length, hint=last - length, map_flags=vm.MAP_FIXED_NOREPLACE)
        elif what == "mremap":                  # the last of the sequence grows and moves
            addr = vm.do_mremap(m.mmcore, t.mm, last, 2 * MiB, length, vm.MREMAP_MAYMOVE)
        else:
            raise AssertionError(f"unknown probe line {fields}")
        out.append((fields, addr))
    return out


def test_v618_places_every_anonymous_mmap_where_the_live_kernel_did():
    cases = replay("v6.18")
    assert len(cases) == 24
    assert [f"{a:#x}" for _f, a in cases] == [f[3] for f, _a in cases]


def test_the_probe_saw_alignment_exactly_for_private_pmd_multiple_lengths_without_hint():
    """What the recorded answer says, independent of memsim: the rule the profile follows."""
    for fields in recorded():
        if fields[0] in ("private", "shared", "private-noreserve", "private-hint"):
            length, hint, addr = (int(x, 16) for x in fields[1:4])
            aligned = fields[0] in ("private", "private-noreserve") and not hint \
                and length % (2 * MiB) == 0
            assert (addr % (2 * MiB) == 0) == aligned, fields


def test_v514_keeps_the_plain_top_down_placement():
    """v5.14 (before "mm: align larger anonymous mappings on THP boundaries"): a 2 MiB private
    mapping ends at the top of the highest gap, like any other length."""
    for fields, addr in replay("v5.14"):
        if fields[0] == "private" and fields[1] == "0x200000":
            assert addr == 0x7ffff7dd2000 - 2 * MiB      # the gap below the probe's image
            return
    raise AssertionError("no 2 MiB private case in the recording")


@pytest.mark.parametrize("kernel, pte_tables", [("v5.14", 9), ("v6.18", 8)])
def test_an_aligned_mapping_needs_one_pte_table_per_2mib(kernel, pte_tables):
    """16 MiB touched: 8 PTE tables when the mapping starts on a 2 MiB boundary (v6.18), 9 when
    it starts one page below one (memsim's v5.14 placement under mmap_base 0x7ffff7fff000)."""
    m, t = machine(kernel)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 16 * MiB, "rw", "anon", map_flags=MAP_NORESERVE)
    before = m.mmcore.nr_pagetable
    assert m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)[1] == 0
    # one PMD table for the range on both (nr_pagetable, NR_PAGETABLE): the rest are PTE tables
    assert m.mmcore.nr_pagetable - before - 1 == pte_tables
