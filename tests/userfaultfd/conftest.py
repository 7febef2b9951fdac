"""Helpers of the userfaultfd tests (the fixture ``uffd`` is this module): a workload from a
block of steps, and the ``probe`` test step that looks at what the steps cannot (a VMA's uffd
flags, the Python API's output fields, a dropped capability, fdinfo)."""
from __future__ import annotations

import sys
from collections.abc import Mapping
import textwrap

import pytest
from string import Template

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.testing import run_text

KIB = 1024
PAGE = 4096
HPAGE = 2 << 20
VM_UFFD_MISSING = 0x200
VM_UFFD_WP = 0x1000
VM_UFFD_MINOR = 1 << 37
VM_HUGETLB = 0x00400000
VM_UFFD_FLAGS = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR
MODE_FLAGS = {"MISSING": VM_UFFD_MISSING, "WP": VM_UFFD_WP, "MINOR": VM_UFFD_MINOR}

#: UFFDIO_API's reply and UFFDIO_REGISTER's ioctls per profile (userfaultfd.md 1.3, 4.3, 12)
FEATURES = {"v5.14": 0x7FF, "v6.18": 0x1FFFF}
API_IOCTLS = 0x8000000000000003
IOCTLS = {
    "v5.14": {"anon_missing": 0x1C, "anon_wp": 0x5C, "shmem_missing": 0x1C, "shmem_minor": 0x9C,
              "shmem_missing_wp": None, "huge_missing": 0x0C, "huge_minor": 0x8C},
    "v6.18": {"anon_missing": 0x13C, "anon_wp": 0x17C, "shmem_missing": 0x13C, "shmem_minor": 0x1BC,
              "shmem_missing_wp": 0x17C, "huge_missing": 0x10C, "huge_minor": 0x18C},
}
KERNELS = ("v5.14", "v6.18")


def _errors(step_ctx, problem):
    return step_ctx.expectation_failed(problem, "", None)


def _vma(ctx, name, offset=0):
    m = ctx.mapping_named(name) if hasattr(ctx, "mapping_named") else ctx.data.mappings[name]
    return ctx.task.mm.find_vma(m.start + offset)


def probe_vma_modes(ctx, vma, modes, offset=0, owner=None):
    """The VMA at vma+offset has exactly the uffd flags of ``modes`` (a list of MISSING, WP,
    MINOR; [] = unregistered, and then no context either); ``owner`` (a uffd's fd name): its
    context owns the VMA."""
    v = _vma(ctx, vma, offset)
    want = 0
    for n in modes:
        want |= MODE_FLAGS[n]
    got = v.vm_flags & VM_UFFD_FLAGS
    if got != want:
        raise _errors(ctx, f"VMA {vma}+{offset:#x}: uffd flags {got:#x}, expected {want:#x}")
    if not modes and v.vm_userfaultfd_ctx is not None:
        raise _errors(ctx, f"VMA {vma}+{offset:#x} has no uffd flag but still a context")
    if owner is not None:
        from memsim.plugins.userfaultfd import api
        want_ctx = api.uffd_ctx(ctx.task, ctx.data.fds[owner])
        if v.vm_userfaultfd_ctx is not want_ctx:
            raise _errors(ctx, f"VMA {vma}+{offset:#x} is owned by {v.vm_userfaultfd_ctx}, "
                          f"expected {want_ctx}")


def probe_api_error(ctx, call, errno, out=None, uffd="u", args=None):
    """Call ``api.<call>(machine, task, fd, *args)`` (args: numbers, or {vma: NAME, offset: N}
    for an address); it must raise UffdError(errno) whose ``out`` is ``out`` exactly ({} = the
    kernel wrote nothing back)."""
    from memsim.plugins.userfaultfd import api
    resolved = []
    for a in args or ():
        if isinstance(a, Mapping):
            m = ctx.data.mappings[a["vma"]]
            a = m.start + a.get("offset", 0)
        resolved.append(a)
    fd = ctx.data.fds[uffd] if uffd is not None else None
    fn = getattr(api, call)
    try:
        if fd is None:
            fn(ctx.machine, ctx.task, *resolved)
        else:
            fn(ctx.machine, ctx.task, fd, *resolved)
    except api.UffdError as e:
        if e.errno != errno:
            raise _errors(ctx, f"{call} failed with {e.errno} ({e.detail}), expected {errno}")
        if out is not None and e.out != out:
            raise _errors(ctx, f"{call}: output fields {e.out}, expected {out}")
        return
    raise _errors(ctx, f"{call} succeeded, expected {errno}")


def probe_fdinfo(ctx, uffd="u", equals=None, contains=None):
    """/proc/PID/fdinfo/FD of the uffd, through the file namespace."""
    fd = ctx.data.fds[uffd]
    path = f"/proc/{ctx.task.tgid}/fdinfo/{fd}"
    from memsim.vfs import O_RDONLY
    vfs = ctx.machine.vfs
    try:
        f = vfs.open(ctx.task.files, path, O_RDONLY)
    except Exception as e:          # noqa: BLE001 - the file does not exist
        raise _errors(ctx, f"cannot open {path}: {e}")
    try:
        text = ctx.task.files.read(f, 1 << 16)
    finally:
        ctx.task.files.close_fd(f)
    if isinstance(text, bytes):
        text = text.decode()
    if equals is not None and text != equals:
        raise _errors(ctx, f"{path} is {text!r}, expected {equals!r}")
    if contains is not None and (text is None or contains not in text):
        raise _errors(ctx, f"{path} is {text!r}, expected it to contain {contains!r}")


def probe_pte_count(ctx, vma, present, length=None, offset=0):
    """How many pages of vma[offset, offset+length) have a present PTE."""
    h = ctx.machine.plugin_state["userfaultfd"]
    m = ctx.data.mappings[vma]
    start = m.start + offset
    end = start + (length if length is not None else m.end - start)
    n = 0
    for a in range(start, end, PAGE):
        if h.pte(ctx.task.mm, a) & 1:
            n += 1
    if n != present:
        raise _errors(ctx, f"{n} pages of {vma} mapped, expected {present}")


def probe_present(ctx, vma, map, offset=0):
    """The pagemap present bit of each page of vma from offset on, as the probes print it: one
    character a page, ``P`` present (the zero page too), ``-`` not (uffd_move.txt's src=/dst=)."""
    h = ctx.machine.plugin_state["userfaultfd"]
    m = ctx.data.mappings[vma]
    got = "".join("P" if h.pte(ctx.task.mm, m.start + offset + i * PAGE) & 1 else "-"
                  for i in range(len(map)))
    if got != map:
        raise _errors(ctx, f"{vma}+{offset:#x}: present map {got}, expected {map}")


def probe_rmap(ctx, vma, offset=0, mapcount=1):
    """The page mapped at vma+offset has ``mapcount`` and its rmap (page->mapping and index)
    leads back to that address of that VMA (folio_move_anon_rmap after a MOVE), and to
    ``mapcount`` places in all."""
    h = ctx.machine.plugin_state["userfaultfd"]
    m = ctx.data.mappings[vma]
    addr = m.start + offset
    e = h.pte(ctx.task.mm, addr)
    if not e & 1:
        raise _errors(ctx, f"{vma}+{offset:#x} is not mapped")
    pfn = (e & 0x000ffffffffff000) >> 12
    info = ctx.machine.physmem.page_info(pfn)
    if info["mapcount"] != mapcount:
        raise _errors(ctx, f"{vma}+{offset:#x}: mapcount {info['mapcount']}, expected {mapcount}")
    found = [(v.vm_start, a) for v, a, _lvl in ctx.machine.mmcore.rmap.rmap_walk(pfn)]
    want_vma = ctx.task.mm.find_vma(addr)
    if (want_vma.vm_start, addr) not in found or len(found) != mapcount:
        raise _errors(ctx, f"{vma}+{offset:#x}: rmap_walk finds {[(hex(s), hex(a)) for s, a in found]}")


def probe_poison_marker(ctx, vma, present, swap, offset=0):
    """/proc/PID/pagemap's present and swap bits of vma+offset as the probes print them, with
    a poison marker there when neither is set on hugetlb or swap is set elsewhere:
    pagemap_pte_range() shows a PTE marker as a swap entry, pagemap_hugetlb_range() shows only
    present entries (and the uffd-wp bit)."""
    h = ctx.machine.plugin_state["userfaultfd"]
    v = _vma(ctx, vma, offset)
    addr = ctx.data.mappings[vma].start + offset
    huge = bool(v.vm_flags & VM_HUGETLB)
    e = h.huge_pte(ctx.task.mm, addr, HPAGE) if huge else h.pte(ctx.task.mm, addr)
    got_present = int(bool(e & 1))
    got_swap = int(not huge and not e & 1 and e != 0)
    if (got_present, got_swap) != (present, swap):
        raise _errors(ctx, f"{vma}+{offset:#x}: pagemap present={got_present},swap={got_swap}, "
                           f"expected present={present},swap={swap}")
    if not present and not h.is_marker(e, 2):
        raise _errors(ctx, f"{vma}+{offset:#x}: no poison marker (entry {e:#x})")


def probe_uffd_wp_bit(ctx, vma, bit, offset=0):
    """pagemap's PM_UFFD_WP (bit 57) of a present page of the task: the PTE's _PAGE_UFFD_WP."""
    h = ctx.machine.plugin_state["userfaultfd"]
    e = h.pte(ctx.task.mm, ctx.data.mappings[vma].start + offset)
    if not e & 1:
        raise _errors(ctx, f"{vma}+{offset:#x} is not present")
    got = int(bool(e & 0x400))
    if got != bit:
        raise _errors(ctx, f"{vma}+{offset:#x} in task {ctx.task.name}: uffd-wp bit {got}, expected {bit}")


PROBES = {"vma_modes": probe_vma_modes, "poison_marker": probe_poison_marker,
          "uffd_wp_bit": probe_uffd_wp_bit, "api_error": probe_api_error,
          "fdinfo": probe_fdinfo, "pte_count": probe_pte_count, "present": probe_present,
          "rmap": probe_rmap}


class Probe:
    """The ``probe: {fn: NAME, args: {...}}`` test step."""

    def run(self, ctx, step):
        PROBES[step.args["fn"]](ctx, **(step.args["args"] or {}))

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("probe", "a test's look at the machine", (
            Param("fn", "str", "the probe", required=True),
            Param("args", "map", "its arguments", default={})), self.run, plugin="t"))


PROBE = Probe()


def workload(steps: str, kernel: str = "v6.18", cpus: int = 2, memory: str = "128 MiB",
             **subst) -> str:
    """A one-task workload (task ``app``) of the dedented ``steps``; $NAME in them is replaced
    by ``subst[NAME]`` (a string.Template, so the YAML's braces stay as they are)."""
    body = Template(textwrap.dedent(steps)).substitute(**subst)
    return (f"machine: {{cpus: {cpus}, kernel: {kernel}, nodes: [{{memory: {memory}}}]}}\n"
            f"tasks:\n  - name: app\n    steps:\n" + textwrap.indent(body, "      "))


def run(steps: str, kernel: str = "v6.18", **subst):
    return run_text(workload(steps, kernel, **subst), plugins=(PROBE,), events=())


def ok(steps: str, kernel: str = "v6.18", **subst):
    r = run(steps, kernel, **subst)
    assert r.error is None, r.error
    return r


@pytest.fixture
def uffd():
    """This module: ``uffd.ok(steps, kernel, **subst)``, ``uffd.FEATURES``..."""
    return sys.modules[__name__]
