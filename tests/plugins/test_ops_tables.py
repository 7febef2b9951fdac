"""Every ops table of the core, filled in by a test plugin written in Cython (opscount/): a
fault-heavy workload reaches each one, ``--check`` holds after every slice, and the counts agree
with the trace (each page allocation calls KASAN's alloc hook once, each free its free hook).

The plugin is compiled once per session with memsim.testing.build_extension (Cython and a C
compiler are test dependencies)."""
import os
import textwrap

import pytest

from memsim import vm
from memsim.hookspecs import hookimpl
from memsim.mm import VM_HUGETLB, VM_UFFD_MINOR, VM_UFFD_MISSING, VM_UFFD_WP
from memsim.registry import Param, StepType
from memsim.testing import with_page_cache, build_extension, run_text, trace_text
from memsim.tracing.events import EventDecl, Field
from memsim.workload.runner import Mapping

HERE = os.path.dirname(os.path.abspath(__file__))
KiB, MiB = 1 << 10, 1 << 20


@pytest.fixture(scope="session")
def opscount(tmp_path_factory):
    pytest.importorskip("Cython", reason="the Cython test plugin needs Cython to build")
    return build_extension(os.path.join(HERE, "opscount", "opscount.pyx"),
                           tmp_path_factory.mktemp("opscount-build"))


class OpsPlugin:
    """The pluggy side of the test plugin: its event, its steps and the installation."""

    def __init__(self, mod, noop_memcg=False):
        self.mod = mod
        self.noop_memcg = noop_memcg
        self.counter = None

    @hookimpl
    def memsim_register_events(self, events):
        events.add(EventDecl(
            "opscount", "op_call",
            (Field("int", "op", 8, 4, 1), Field("unsigned long", "address", 16, 8, 0)),
            '"op=%d address=0x%lx", REC->op, REC->address',
            c_values=("op", "address"), plugin="opscount", doc="an ops-table call (from C)"))

    @hookimpl
    def memsim_machine_created(self, machine):
        self.counter = self.mod.OpsCounter()
        self.counter.install(machine, machine.events.slot_of("opscount:op_call"), self.noop_memcg)

    def _mmap(self, ctx, name, length, kind, hint=None):
        m = ctx.machine
        total = sum(z["managed"] for z in m.physmem.zones_info())
        v = vm.do_mmap(m.mmcore, ctx.task.mm, m.files, length, "rw", kind,
                       file=name if kind.startswith("file") else None, hint=hint, name=name,
                       totalram=total)
        ctx.mappings[name] = Mapping(v.vm_start, v.vm_end, kind)
        return v

    def ops_file(self, ctx, step):
        v = self._mmap(ctx, step.args["name"], step.args["length"], "file-shared", hint=0x7e0000000000)
        self.counter.own_file(v.vm_file)
        self.counter.own_vma(v)

    def ops_huge(self, ctx, step):
        v = self._mmap(ctx, step.args["name"], step.args["length"], "anon", hint=0x7f0000000000)
        assert v.vm_start % (2 * MiB) == 0
        v.vm_flags |= VM_HUGETLB
        self.counter.own_vma(v, huge=True)

    def ops_uffd(self, ctx, step):
        m = ctx.mappings[step.args["vma"]]
        v = ctx.task.mm.find_vma(m.start)
        v.vm_flags |= {"missing": VM_UFFD_MISSING, "minor": VM_UFFD_MINOR, "wp": VM_UFFD_WP}[step.args["mode"]]
        v.vm_userfaultfd_ctx = "fork-events" if step.args["fork_events"] else "ctx"
        if step.args["mode"] == "wp":
            ctx.machine.mmcore.change_protection(ctx.task.mm, m.start, m.end, False, 1)

    def ops_zap(self, ctx, step):
        m = ctx.mappings[step.args["vma"]]
        v = ctx.task.mm.find_vma(m.start)
        ctx.machine.mmcore.zap_page_range(ctx.task.mm, v, m.start, m.start + step.args["length"])

    def ops_swap_out(self, ctx, step):
        m = ctx.mappings[step.args["vma"]]
        core = ctx.machine.mmcore
        for i in range(step.args["pages"]):
            addr = m.start + i * 4096
            ctx.machine.physmem.write_bytes(core.pfn_of(ctx.task.mm, addr), 0, b"page %d" % i)
            self.counter.swap_out(core.pfn_of(ctx.task.mm, addr))

    def ops_check(self, ctx, step):
        m = ctx.mappings[step.args["vma"]]
        assert ctx.machine.physmem.check_access(m.start, step.args["length"], True) == 0

    @hookimpl
    def memsim_register_steps(self, steps):
        name = Param("name", "str", "mapping name", required=True, defines="vma")
        length = Param("length", "size", "bytes", required=True)
        vma = Param("vma", "str", "mapping", required=True, refers="vma")
        steps.add(StepType("ops_file", "a file mapping served by the plugin", (name, length), self.ops_file, plugin="t"))
        steps.add(StepType("ops_huge", "a VM_HUGETLB mapping served by the plugin", (name, length), self.ops_huge, plugin="t"))
        steps.add(StepType("ops_uffd", "register a mapping with the plugin's userfaultfd",
                           (vma, Param("mode", "enum", "mode", required=True, choices=("missing", "minor", "wp")),
                            Param("fork_events", "bool", "keep it in forked children", default=False)),
                           self.ops_uffd, plugin="t"))
        steps.add(StepType("ops_zap", "MADV_DONTNEED", (vma, length), self.ops_zap, plugin="t"))
        steps.add(StepType("ops_swap_out", "swap out the first pages",
                           (vma, Param("pages", "int", "pages", required=True)), self.ops_swap_out, plugin="t"))
        steps.add(StepType("ops_check", "KASAN-checked accesses", (vma, length), self.ops_check, plugin="t"))


WORKLOAD = textwrap.dedent("""\
    machine: {cpus: 2, nodes: [{memory: 256 MiB}], kernel: v6.18}
    tasks:
      - name: main
        cpu: 0
        steps:
          - mmap: {name: anon, length: 8 MiB}
          - touch: {vma: anon, access: write}
          - ops_file: {name: f, length: 1 MiB}
          - touch: {vma: f, access: read}
          - ops_zap: {vma: f, length: 1 MiB}
          - touch: {vma: f, access: read}
          - touch: {vma: f, access: write, length: 64 KiB}
          - ops_huge: {name: h, length: 4 MiB}
          - touch: {vma: h, access: write}
          - mprotect: {vma: h, offset: 4 KiB, length: 8 KiB, prot: r}
          - expect: {errno: EINVAL}
          - mmap: {name: u, length: 1 MiB}
          - ops_uffd: {vma: u, mode: missing, fork_events: true}
          - touch: {vma: u, access: write, length: 64 KiB}
          - mmap: {name: sh, length: 1 MiB, type: shared}
          - touch: {vma: sh, access: write, length: 64 KiB}
          - ops_uffd: {vma: sh, mode: minor}
          - ops_zap: {vma: sh, length: 64 KiB}
          - touch: {vma: sh, access: read, length: 64 KiB}
          - ops_uffd: {vma: anon, mode: wp}
          - touch: {vma: anon, access: write, length: 16 KiB}
          - ops_swap_out: {vma: anon, pages: 32}
          - fork:
              child: kid
              cpu: 1
              steps:
                - read: {vma: anon, offset: 8 KiB, expect: page 2}
                - touch: {vma: anon, access: read, length: 128 KiB}
                - exit: {}
          - sleep: {duration: 1ms}
          - touch: {vma: anon, access: read, length: 128 KiB}
          - read: {vma: anon, offset: 12 KiB, expect: page 3}
          - kmalloc: {name: big, size: 12 KiB, gfp: GFP_KERNEL|__GFP_ACCOUNT}
          - kmalloc: {name: small, size: 100, count: 50}
          - kfree: {name: big}
          - kfree: {name: small}
          - ops_check: {vma: anon, length: 64 KiB}
          - munmap: {vma: f}
          - munmap: {vma: u}
          - munmap: {vma: h}
    """)


def test_a_fault_heavy_run_reaches_every_ops_table(opscount):
    plugin = OpsPlugin(opscount)
    # the test plugin fills every ops table, userfaultfd's too: the real plugin is left out
    run = run_text(WORKLOAD, plugins=[plugin], events=("*:*",), check=True, disabled=("userfaultfd", "memcg"))
    assert run.error is None, run.error
    assert run.checks_run > 10
    c = plugin.counter.counts_dict()
    never = [op for op, n in c.items() if n == 0]
    # remap needs mremap; alloc_contig_range's hooks and migratepage are driven below
    assert set(never) == {"uffd.remap", "aops.migratepage", "hugetlb.isolate_or_dissolve",
                          "hugetlb.migrate_huge_page", "hugetlb.putback"}, never
    # exact counts of what the workload asked for
    assert c["uffd.missing"] == 16                      # 64 KiB written in u
    assert c["uffd.minor"] == 16                        # 64 KiB of cached shmem read after the zap
    assert c["uffd.wp"] == 4                            # 16 KiB written under uffd-wp
    assert c["vm.huge_fault"] == 2 and c["vm.pagesize"] >= 2
    assert c["hugetlb.free_huge_page"] == 2             # both huge pages freed at munmap
    assert c["swap.swap_duplicate"] == 32               # the fork copied 32 swap PTEs
    assert c["swap.do_swap_page"] == 64                 # 32 in the child, 32 in the parent
    assert c["swap.swap_free"] == 64
    assert c["uffd.dup"] >= 2                           # u (fork events) and anon (wp)
    assert c["vm.may_split"] == 1                       # the refused mprotect split
    # every read fault tries fault-around: 256 on the empty cache, then after the zap each of
    # 16 faults maps its whole 16-page window (fault_around_bytes 64 KiB, an aligned mapping)
    assert c["vm.map_pages"] == 256 + 16 and c["fault_around.pages"] == 256
    assert c["memcg.swapin_charge"] == 64
    # every page allocation after the install went through KASAN's alloc hook, every free
    # through its free hook: compare with mm_page_alloc / mm_page_free in the trace
    lines = trace_text(run).splitlines()
    allocs = [l for l in lines if " mm_page_alloc: " in l and "page=(null)" not in l]
    frees = [l for l in lines if " mm_page_free: " in l]
    assert c["kasan.alloc_pages"] == len(allocs)
    assert c["kasan.free_pages"] == len(frees)
    assert c["memcg.kmem_charge"] == sum(1 for l in allocs if "ACCOUNT" in l)
    # the plugin's C-emitted event: one record per counted op call
    hits = sum(n for op, n in c.items() if op.split(".")[0] in ("vm", "aops", "uffd", "swap"))
    assert sum(1 for l in lines if " op_call: op=" in l) == hits


def test_alloc_contig_range_calls_the_hugetlb_and_migratepage_hooks(opscount):
    from memsim.testing import build_machine
    m = with_page_cache(build_machine(nodes=(128 * MiB,), kernel="v6.18"))
    counter = opscount.OpsCounter()
    counter.install(m)
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    f = vm.do_mmap(m.mmcore, t.mm, m.files, 64 * KiB, "rw", "file-shared", file="cached", totalram=total)
    counter.own_file(f.vm_file)
    counter.own_vma(f)
    m.mmcore.access(t.mm, f, f.vm_start, f.vm_end, True)
    file_pfn = m.mmcore.pfn_of(t.mm, f.vm_start)
    m.physmem.write_bytes(file_pfn, 0, b"cached")
    # a range holding cached, mapped file pages: migrated through ->migratepage, bytes kept
    start = file_pfn & ~1023
    assert m.physmem.alloc_contig_range(start, start + 1024) == 0
    moved = m.mmcore.pfn_of(t.mm, f.vm_start)
    assert not start <= moved < start + 1024
    assert m.physmem.read_bytes(moved, 0, 6) == b"cached"
    assert counter.counts_dict()["aops.migratepage"] == 16
    assert m.check_invariants() == []
    m.physmem.free_contig_range(start, 1024)
    h = vm.do_mmap(m.mmcore, t.mm, m.files, 2 * MiB, "rw", "anon", hint=0x7f0000000000, totalram=total)
    h.vm_flags |= VM_HUGETLB
    counter.own_vma(h, huge=True)
    m.mmcore.access(t.mm, h, h.vm_start, h.vm_end, True)
    huge_pfn = m.mmcore.pfn_of(t.mm, h.vm_start)
    # a range holding an in-use huge page the plugin cannot move: EBUSY after its hooks ran.
    # __alloc_contig_migrate_range calls migrate_pages() over the isolated list until the fifth
    # try without progress (the failed page stays on the list), then puts it back
    start = huge_pfn & ~1023
    assert m.physmem.alloc_contig_range(start, start + 1024) == -16
    c = counter.counts_dict()
    assert c["hugetlb.isolate_or_dissolve"] == 1 and c["hugetlb.migrate_huge_page"] == 5
    assert c["hugetlb.putback"] == 1
    assert m.check_invariants() == []
    # the plugin gone (isolate_or_dissolve_huge_page NULL): the scanner skips the huge page and
    # goes on, the final test_pages_isolated() refuses the range
    counter.drop_contig_hooks()
    assert m.physmem.alloc_contig_range(start, start + 1024) == -16
    assert counter.counts_dict()["hugetlb.isolate_or_dissolve"] == 1
    assert m.mmcore.pfn_of(t.mm, h.vm_start) == huge_pfn
    assert m.check_invariants() == []


def test_the_noop_charge_is_called_once_per_user_page(opscount):
    plugin = OpsPlugin(opscount, noop_memcg=True)
    run = run_text(textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: t
            steps:
              - mmap: {name: b, length: 4 MiB}
              - touch: {vma: b, access: write}
        """), plugins=[plugin], events=(), check=False, disabled=("memcg",))
    assert run.error is None, run.error
    c = plugin.counter.counts_dict()
    assert c["memcg.charge"] == 1024 and c["memcg.uncharge"] == 1024
    assert c["kasan.alloc_pages"] == 0 and c["memcg.kmem_charge"] == 0


def test_a_cython_plugin_uses_the_shadow_api(opscount):
    """memsim.workingset's per-page API, cimported by a plugin: the shadow it gets at eviction
    decodes to the clock it was taken at, and handing it back at the refault counts one
    workingset_refault_file (not activated: distance 1 > 0 active pages)."""
    from memsim.machine import Machine, MachineSpec
    from memsim.vmstat import node_stat_item as NS
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(32 * MiB,)), with_slab=False))
    pfn = m.physmem.alloc()
    clock = m.workingset.nonresident_age(0)
    shadow = opscount.workingset_cycle(m, pfn)
    assert m.workingset.unpack(shadow) == (0, 0, clock, False)
    vs = m.physmem.vmstat
    assert vs.global_node_page_state_snapshot(NS.WORKINGSET_REFAULT_FILE) == 1
    assert vs.global_node_page_state_snapshot(NS.WORKINGSET_ACTIVATE_FILE) == 0
    assert m.workingset.nonresident_age(0) == clock + 1


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_alloc_contig_range_migrates_an_in_use_huge_page_through_the_core(opscount, kernel):
    """hugetlb.md 8.6 from the plugin's side: a huge page mapped by PMD leaves in two processes
    is isolated (isolate_or_dissolve_huge_page), moved by the plugin's migrate_huge_page through
    MmCore.migrate_huge_page_mappings (a cdef call from another Cython module), the old page
    freed by its isolation reference; the range is then free.  migrate_pages() is traced once
    per call: v5.14 counts the huge page as 1, v6.18 as 512 and traces the start too."""
    from memsim.testing import build_machine, trace_text
    from memsim.vmstat import vm_event_item
    m = with_page_cache(build_machine(nodes=(128 * MiB,), kernel=kernel, events=("migrate:*",)))
    counter = opscount.OpsCounter()
    counter.install(m)
    counter.move_huge = True
    t = m.spawn("app")
    m.set_current(t)
    total = sum(z["managed"] for z in m.physmem.zones_info())
    h = vm.do_mmap(m.mmcore, t.mm, m.files, 2 * MiB, "rw", "anon", hint=0x7f0000000000, totalram=total)
    h.vm_flags |= VM_HUGETLB
    counter.own_vma(h, huge=True)
    m.mmcore.access(t.mm, h, h.vm_start, h.vm_end, True)
    old = m.mmcore.pfn_of(t.mm, h.vm_start)
    m.physmem.write_bytes(old + 3, 8, b"subpage3")
    child = m.fork(t, "child")
    assert m.mmcore.entire_mapcount(old) == 2
    success = m.physmem.vmstat.vm_event(vm_event_item.PGMIGRATE_SUCCESS)
    frees = counter.counts_dict()["hugetlb.free_huge_page"]
    assert m.physmem.alloc_contig_range(old, old + 512) == 0
    new = m.mmcore.pfn_of(t.mm, h.vm_start)
    assert new == m.mmcore.pfn_of(child.mm, h.vm_start) and not old <= new < old + 512
    assert m.mmcore.entire_mapcount(new) == 2
    assert m.physmem.page_info(new)["refcount"] == 2        # one per leaf
    assert m.physmem.read_bytes(new + 3, 8, 8) == b"subpage3"
    c = counter.counts_dict()
    assert c["hugetlb.isolate_or_dissolve"] == 1 and c["hugetlb.migrate_huge_page"] == 1
    assert c["hugetlb.free_huge_page"] == frees + 1 and c["hugetlb.putback"] == 0
    moved = 512 if kernel == "v6.18" else 1
    # pfn_range_valid_contig: v6.4+ refuses a range holding a hugetlb page (alloc_contig_pages
    # does not try it), v5.14 checks PageReserved only
    assert m.physmem.pfn_range_valid_contig(new, 512) is (kernel == "v5.14")
    assert m.physmem.vmstat.vm_event(vm_event_item.PGMIGRATE_SUCCESS) == success + moved
    lines = [l.split(": ", 2)[-1] for l in trace_text(m).splitlines() if "mm_migrate_pages" in l]
    end = (f"nr_succeeded={moved} nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 "
           + ("nr_split=0 " if kernel == "v6.18" else "") + "mode=MIGRATE_SYNC reason=contig_range")
    start = ["mode=MIGRATE_SYNC reason=contig_range"] if kernel == "v6.18" else []
    assert lines == start + [end]
    assert m.check_invariants() == []
    m.physmem.free_contig_range(old, 512)
    assert m.check_invariants() == []
