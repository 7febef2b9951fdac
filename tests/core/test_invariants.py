"""--check: the core's invariants, and the first broken one named (issue 2, section 2)."""
import textwrap

import pytest

from memsim import vm
from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.registry import StepType
from memsim.testing import run_text

MiB = 1 << 20


def test_a_healthy_machine_has_no_problems():
    m = Machine(MachineSpec(nodes=(32 * MiB,)))
    t = m.spawn("a")
    m.set_current(t)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 1 * MiB, "rw", "anon", totalram=1 << 20)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    assert m.check_invariants() == []


def test_a_pte_without_rmap_and_rss_is_reported():
    m = Machine(MachineSpec(nodes=(32 * MiB,)))
    t = m.spawn("a")
    m.set_current(t)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, 1 * MiB, "rw", "anon", totalram=1 << 20)
    pfn = m.physmem.alloc(0, 0xCC0)
    m.physmem.set_page_memcg_data(pfn, 0)
    # map a page behind the fault path's back: an anon-looking PTE without rmap or rss
    m.mmcore.set_pte(t.mm, v.vm_start, (pfn << 12) | 0x67)
    problems = m.check_invariants()
    assert any(f"pfn {pfn:#x}: mapcount 0 but 1 PTEs map it" in p for p in problems)
    assert any("MM_FILEPAGES counts 0 pages but its page tables map 1" in p for p in problems)


class Corrupter:
    @hookimpl
    def memsim_register_steps(self, steps):
        def corrupt(ctx, step):
            pfn = ctx.machine.physmem.alloc(0, 0xCC0)
            m = ctx.mappings["buf"]
            ctx.machine.mmcore.set_pte(ctx.task.mm, m.start, (pfn << 12) | 0x67)
        steps.add(StepType("corrupt", "map a page behind the kernel's back", (), corrupt, plugin="t"))


def test_check_mode_stops_at_the_first_broken_invariant():
    text = textwrap.dedent("""\
        machine: {nodes: [{memory: 32 MiB}]}
        tasks:
          - name: a
            steps:
              - mmap: {name: buf, length: 64 KiB}
              - corrupt: {}
              - touch: {vma: buf}
        """)
    run = run_text(text, plugins=[Corrupter()], check=True)
    assert run.error is not None and run.error.exit_code == 3
    assert "invariant broken after a step of a-1000" in str(run.error)
    assert "mapcount 0 but 1 PTEs map it" in str(run.error) or "page tables map 1" in str(run.error)
    run = run_text(text, plugins=[Corrupter()], check=False)
    assert run.error is None


# -- the check of what changed (issue 9: --check costs what changed, not the machine's size) ---
def touched(mib=32):
    m = Machine(MachineSpec(nodes=(128 * MiB,)))
    t = m.spawn("a")
    m.set_current(t)
    v = vm.do_mmap(m.mmcore, t.mm, m.files, mib * MiB, "rw", "anon", totalram=1 << 20)
    m.mmcore.access(t.mm, v, v.vm_start, v.vm_end, True)
    return m, t, v


def new_page(m):
    pfn = m.physmem.alloc(0, 0xCC0)
    m.physmem.set_page_memcg_data(pfn, 0)
    return pfn


def map_new_page(m, t, v):
    pfn = new_page(m)
    m.mmcore.set_pte(t.mm, v.vm_start + 5 * 4096, (pfn << 12) | 0x67)
    return [f"pfn {pfn:#x}: mapcount 0 but 1 PTEs map it",
            "MM_FILEPAGES counts 0 pages but its page tables map 1"]


def map_a_mapped_page_twice(m, t, v):
    pfn = m.mmcore.pfn_of(t.mm, v.vm_start + 7 * 4096)
    m.mmcore.set_pte(t.mm, v.vm_end + 9 * 4096, (pfn << 12) | 0x67)    # past the VMA's end
    return [f"pfn {pfn:#x}: mapcount 1 but 2 PTEs map it",
            f"pfn {pfn:#x}: refcount 1 below its 2 mappings",
            "MM_ANONPAGES counts 8192 pages but its page tables map 8193"]


def unmap_behind_the_back(m, t, v):
    m.mmcore.set_pte(t.mm, v.vm_start + 3 * 4096, 0)
    return ["MM_ANONPAGES counts 8192 pages but its page tables map 8191"]


def huge_leaf_on_a_plain_page(m, t, v):
    pfn = new_page(m)
    addr = (v.vm_end + (4 << 20)) & ~((2 << 20) - 1)
    m.mmcore.set_huge_pte(t.mm, addr, (pfn << 12) | 0x67, 3)
    return [f"pfn {pfn:#x}: 1 huge leaves map it but it is not a compound head"]


@pytest.mark.parametrize("corrupt", [map_new_page, map_a_mapped_page_twice,
                                     unmap_behind_the_back, huge_leaf_on_a_plain_page])
def test_a_check_of_the_changes_finds_what_a_full_check_finds(corrupt):
    """Corruptions made after a check: the next check, which looks at what changed only,
    reports them as the full check does (the same problems, each once)."""
    m, t, v = touched()
    assert m.check_invariants(full=True) == []
    wanted = corrupt(m, t, v)
    problems = m.check_invariants(full=False)
    for w in wanted:
        assert any(w in p for p in problems), (w, problems)
    assert sorted(problems) == sorted(m.check_invariants(full=True))
    m.stop_checks()


def test_a_check_of_the_changes_costs_the_tables_written():
    """After a full check of 32 MiB mapped (16 PTE tables and more), touching one page of a
    new mapping diffs one PTE table and its parents, not the 16."""
    m, t, v = touched()
    assert m.check_invariants(full=True) == []
    full = m._mmcheck.tables_examined
    assert full >= 16
    assert m.check_invariants(full=False) == [] and m._mmcheck.tables_examined == 0
    w = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * 1024, "rw", "anon", totalram=1 << 20)
    m.mmcore.access(t.mm, w, w.vm_start, w.vm_start + 4096, True)
    assert m.check_invariants(full=False) == []
    assert 1 <= m._mmcheck.tables_examined <= 3
    m.stop_checks()
