"""The gfp of user pages under each profile, pinned to what tests/core/probes/user_page_gfp.c
saw on the live 6.18 kernel (tests/core/probes/user_page_gfp.txt).  Issue 11: "gfp flags".

On 6.18 every user folio comes from folio_alloc / vma_alloc_folio, which add __GFP_COMP: COW
copies, shmem pages and page-cache pages as well as anonymous and zero-page replacements; a file
page read in by a fault comes from readahead (readahead_gfp_mask under memalloc_nofs_save).
"""
from __future__ import annotations

import pathlib

import pytest

from memsim import vm
from memsim.testing import with_page_cache, build_machine, trace_text

PROBES = pathlib.Path(__file__).parent / "probes"
MiB = 1 << 20
PAGE = 4096


def live():
    rows = [line.split() for line in (PROBES / "user_page_gfp.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return {name: gfp for name, gfp in rows}


class Probe:
    """The probe's cases on a memsim machine: the user pages (migratetype 1) each allocated."""

    def __init__(self, kernel):
        self.m = with_page_cache(build_machine(kernel=kernel, cpus=2, events=["kmem:mm_page_alloc"],
                               nodes=(128 * MiB,)))
        self.t = self.m.spawn("user_page_gfp")
        self.m.set_current(self.t)
        self.seen = 0

    def mmap(self, kind, prot="rw", task=None, **kw):
        task = task or self.t
        return vm.do_mmap(self.m.mmcore, task.mm, self.m.files, PAGE, prot, kind,
                          totalram=1 << 20, **kw)

    def touch(self, v, write, task=None):
        task = task or self.t
        assert self.m.mmcore.access(task.mm, v, v.vm_start, v.vm_end, write)[1] == 0

    def user_pages(self):
        """gfp_flags of the movable pages allocated since the last call."""
        lines = trace_text(self.m).splitlines()
        new, self.seen = lines[self.seen:], len(lines)
        return [line.split("gfp_flags=")[1] for line in new
                if "mm_page_alloc:" in line and "migratetype=1 " in line]

    def run(self):
        out = {}
        v = self.mmap("anon")
        self.touch(v, True)
        out["anon"] = self.user_pages()
        v = self.mmap("anon")
        self.touch(v, False)
        self.touch(v, True)
        out["zero"] = self.user_pages()
        v = self.mmap("anon")
        self.touch(v, True)
        child = self.m.fork(self.t, "user_page_gfp")
        self.user_pages()
        self.m.set_current(child)
        self.touch(next(c for c in child.mm.vmas if c.vm_start == v.vm_start), True, child)
        out["cow"] = self.user_pages()
        self.m.set_current(self.t)
        v = self.mmap("file-shared", "r", file="user_page_gfp.dat")
        self.touch(v, False)
        out["file_read"] = self.user_pages()
        v = self.mmap("file", file="user_page_gfp2.dat")
        self.touch(v, True)
        out["file_cow"] = self.user_pages()
        v = self.mmap("shared")
        self.touch(v, True)
        out["shared_anon"] = self.user_pages()
        return out


def test_v618_user_pages_have_the_live_kernels_gfp():
    got = Probe("v6.18").run()
    want = live()
    for case in ("anon", "zero", "cow", "file_read", "shared_anon"):
        assert got[case] == [want[case]], case
    # do_cow_fault: the private copy first, then the file page the fault reads in
    assert got["file_cow"] == [want["file_cow"], want["file_read"]]
    assert want["shmem"] == want["shared_anon"]


def test_v514_user_pages_keep_their_gfp():
    got = Probe("v5.14").run()
    assert got["cow"] == ["GFP_HIGHUSER_MOVABLE"]
    assert got["file_read"] == ["GFP_HIGHUSER_MOVABLE"]
    assert got["anon"] == got["zero"] == ["GFP_HIGHUSER_MOVABLE|__GFP_ZERO"]
