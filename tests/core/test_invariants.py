"""--check: the core's invariants, and the first broken one named (issue 2, section 2)."""
import textwrap

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
