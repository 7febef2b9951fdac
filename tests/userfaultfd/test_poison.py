"""UFFDIO_POISON (v6.6+, so only the v6.18 profile) against the live kernel's probe
``probes/uffd_poison.txt``, memory type by memory type (probe README row 34).

The probe's sequence on a mapping ``A`` of six units: unit 1 written through A (present), units
2 and 4 in the page cache without a PTE in A (not anon_private), then POISON, the accesses,
COPY, ZEROPAGE and CONTINUE over the markers in the probe's order.  Each step's errno and output
field is read from the fixture line of the same item, so a test cannot drift from what the
kernel did.  This VM's kernel has no CONFIG_MEMORY_FAILURE, so an access to a marker is SIGBUS
BUS_ADRERR there: the workloads set ``machine.config`` to match; with the option (memsim's
default) it is BUS_MCEERR_AR.
"""
import textwrap

import pytest

from memsim.testing import run_text, task_summary

from .test_kernel_618_table import APRIV, ASH, HUGE, SHM, SHMP, memory, unit
from .test_move import _fixture

POISON = _fixture("uffd_poison.txt")
TYPES = (APRIV, ASH, SHM, SHMP, HUGE)
NO_MEMORY_FAILURE = "kernel: v6.18, config: {CONFIG_MEMORY_FAILURE: false},"


def want(item, mt):
    return POISON[(item, mt)]


def call(op, mt, page, length=None, mode=None, field=None):
    """The step of an ioctl over unit ``page`` of A, then the expects of its fixture line."""
    P = unit(mt)
    src = ", src: src" if op == "uffdio_copy" else ""
    m = f", mode: [{mode}]" if mode else ""
    return f"- {op}: {{uffd: u, vma: A, offset: {page * P}, length: {length or P}{src}{m}}}\n"


def outcome(line, field, args=None):
    """OK: the field's value; an errno: expect it, and the field (-errno) unless the kernel
    left it untouched (then a direct call checks that nothing was written back)."""
    s = ""
    if line["result"] != "OK" and line[field] != "untouched":
        s += f"- expect: {{errno: {line['result']}}}\n"
    if line[field] == "untouched":
        s += (f"- probe: {{fn: api_error, args: {{call: uffdio_poison, errno: {line['result']}, "
              f"out: {{}}, args: {args}}}}}\n")
    else:
        s += f"- expect: {{result: {{{field}: {int(line[field])}}}}}\n"
    return s


def marker(line, mt, page):
    """pagemap of the probe: a poison marker is a swap entry to pagemap on anon and shmem
    (present 0, swap 1) and nothing at all on hugetlb (present 0, swap 0)."""
    pm = dict(kv.split("=") for kv in line["pagemap"].split(","))
    return (f"- probe: {{fn: poison_marker, args: {{vma: A, offset: {page * unit(mt)}, "
            f"present: {pm['present']}, swap: {pm['swap']}}}}}\n")


def sequence(mt):
    P = unit(mt)
    s = memory(mt, pages=6, cached=() if mt == APRIV else (2, 4), api=False)
    s += f"- write: {{vma: A, offset: {P}, data: x}}\n"
    s += "- userfaultfd: {name: u, flags: [O_NONBLOCK]}\n- uffdio_api: {uffd: u, features: [POISON]}\n"
    modes = "[MISSING]" if mt == APRIV else "[MISSING, MINOR]"
    s += f"- uffdio_register: {{uffd: u, vma: A, mode: {modes}}}\n"
    reg = want("REGISTER: POISON bit 8 in ioctls", mt)
    s += f"- expect: {{result: {{ioctls: {reg['ioctls']}}}}}\n"
    line = want("POISON hole (page 0)", mt)
    s += call("uffdio_poison", mt, 0) + outcome(line, "updated") + marker(line, mt, 0)
    for item, access in (("read of poisoned page 0", "read: {vma: A, offset: 8, length: 1}"),
                         ("write to poisoned page 0", "write: {vma: A, offset: 8, data: w}")):
        line = want(item, mt)
        assert line["result"] == "no event" and line["thread"].startswith("BUS/si_code=")
        si_code = {"2": "BUS_ADRERR", "4": "BUS_MCEERR_AR"}[line["thread"].split("=")[1]]
        s += f"- {access}\n- expect: {{signal: SIGBUS, si_code: {si_code}}}\n"
        s += "- uffd_read: {uffd: u}\n- expect: {errno: EAGAIN}\n"
    s += call("uffdio_poison", mt, 1) + outcome(want("POISON present PTE (page 1)", mt), "updated")
    if mt != APRIV:
        line = want("POISON cached page, no PTE (page 2)", mt)
        s += call("uffdio_poison", mt, 2) + outcome(line, "updated") + marker(line, mt, 2)
        line = want("CONTINUE over poison marker (page 2)", mt)
        s += call("uffdio_continue", mt, 2) + outcome(line, "mapped") + marker(line, mt, 2)
        value = want("read after CONTINUE", mt)["value"]
        assert value == "0x22"      # the probe's cached byte; here the cached text
        s += f"- read: {{vma: A, offset: {2 * P}, expect: cached}}\n"
    s += call("uffdio_poison", mt, 0) + outcome(want("POISON again on poisoned page 0", mt), "updated")
    s += call("uffdio_copy", mt, 0) + outcome(want("COPY over poison marker (page 0)", mt), "copy")
    s += "- read: {vma: A, expect: fresh}\n"
    s += call("uffdio_zeropage", mt, 0) + outcome(want("ZEROPAGE on page 0 after that COPY", mt),
                                                   "zeropage")
    s += call("uffdio_poison", mt, 5) + "- expect: {result: {updated: $P}}\n"
    line = want("ZEROPAGE over poison marker (page 5)", mt)
    s += call("uffdio_zeropage", mt, 5) + outcome(line, "zeropage") + marker(line, mt, 5)
    s += call("uffdio_continue", mt, 5) + outcome(
        want("CONTINUE over poison marker on a hole (page 5)", mt), "mapped")
    s += call("uffdio_poison", mt, 3, 2 * P) + outcome(
        want("POISON [hole 3, page 4] (4 cached for non-anon, hole for anon_private)", mt), "updated")
    s += call("uffdio_poison", mt, 3, mode="DONTWAKE") + outcome(want("POISON mode DONTWAKE", mt),
                                                                 "updated")
    s += outcome(want("POISON mode bit1", mt), "updated", f"[{{vma: A, offset: {3 * P}}}, {P}, 2]")
    s += outcome(want("POISON start+1", mt), "updated", f"[{{vma: A, offset: 1}}, {P}]")
    if mt == HUGE:
        s += call("uffdio_poison", mt, 5, 4096) + outcome(want("POISON hugetlb 4K len", mt), "updated")
    # the probe closes the uffd (A is unregistered), then a second one, features 0, poisons a
    # mapping no uffd registered (B; anon_private: A)
    line = want("POISON unregistered VMA", mt)
    s += "- close: {fd: u}\n- userfaultfd: {name: u2, flags: [O_NONBLOCK]}\n- uffdio_api: {uffd: u2}\n"
    vma = "A" if mt == APRIV else "B"
    s += f"- uffdio_poison: {{uffd: u2, vma: {vma}, length: {P}}}\n" + outcome(line, "updated")
    return s


def run(uffd, steps, config=NO_MEMORY_FAILURE, **subst):
    text = uffd.workload(steps, "v6.18", **subst).replace("kernel: v6.18,", config, 1)
    r = run_text(text, plugins=(uffd.PROBE,), events=())
    assert r.error is None, r.error
    return r


@pytest.mark.parametrize("mt", TYPES)
def test_the_poison_probe_sequence(uffd, mt):
    """Every result line of uffd_poison.txt for memory type ``mt``, in the probe's order."""
    run(uffd, sequence(mt), P=unit(mt))


def test_poison_needs_no_feature(uffd):
    """"POISON hole, features=0 (POISON not requested)": OK, as the feature only advertises."""
    line = want("POISON hole, features=0 (POISON not requested)", APRIV)
    run(uffd, textwrap.dedent("""\
        - mmap: {name: A, length: 8 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING]}
        - uffdio_poison: {uffd: u, vma: A, length: 4 KiB}
        """) + outcome(line, "updated"))


@pytest.mark.parametrize("mt, lsb", [(APRIV, 12), (SHM, 12), (HUGE, 21)])
def test_with_memory_failure_an_access_to_a_marker_is_bus_mceerr_ar(uffd, mt, lsb):
    """With CONFIG_MEMORY_FAILURE (memsim's default, and most distributions' kernels) the
    marker's VM_FAULT_HWPOISON is do_sigbus()'s BUS_MCEERR_AR, si_addr_lsb the page's shift
    (hugetlb: VM_FAULT_HWPOISON_LARGE with the hstate's)."""
    r = run(uffd, memory(mt, pages=2, cached=(), api=True, register=["MISSING"]) + textwrap.dedent("""\
        - uffdio_poison: {uffd: u, vma: A, length: $P}
        - read: {vma: A, offset: 8, length: 1}
        - expect: {signal: SIGBUS, si_code: BUS_MCEERR_AR}
        """), config="kernel: v6.18,", P=unit(mt))
    [sig] = task_summary(r, "app")["signals"]
    assert sig["si_addr_lsb"] == lsb


def test_a_config_option_the_kernel_does_not_have_is_a_workload_error(uffd):
    from memsim.errors import WorkloadError
    with pytest.raises(WorkloadError) as e:
        run_text("machine: {config: {CONFIG_MEMORY_FAILUR: false}}\ntasks: []\n", events=())
    assert "CONFIG_MEMORY_FAILUR" in str(e.value) and "CONFIG_MEMORY_FAILURE" in str(e.value)
