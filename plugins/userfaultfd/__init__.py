"""userfaultfd: missing, minor and write-protect faults handled by a user-space monitor
(issue 14; fs/userfaultfd.c and mm/userfaultfd.c).

* ``uffd`` (Cython): the contexts, ``handle_userfault()`` behind the core's
  ``userfaultfd_ops``, wake-ups and the fill engine of the ioctls;
* ``api``: the system call, the ioctls, read, poll, close and fdinfo as a program sees them,
  with the kernel's validation order and errnos per profile (``profile``);
* ``steps``: the workload steps (``userfaultfd``, ``uffdio_*``, ``uffd_read``, ``uffd_poll``)
  and ``expect: {result: ...}``;
* ``patch``: the ``uffd-minor`` seed change as a switch.

docs/architecture.md ("The userfaultfd plugin") describes them.
"""
from __future__ import annotations

import weakref

from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec

MEMSIM_PLUGIN = PluginSpec(requires=("core_steps",))


@hookimpl
def memsim_register_sections(sections):
    """``userfaultfd: {arch: ...}``: the architecture whose userfaultfd is emulated."""
    from memsim.registry import Param, SectionSpec
    from memsim.plugins.userfaultfd.profile import ARCHES
    sections.add(SectionSpec("userfaultfd", "what the emulated architecture's userfaultfd supports", (
        Param("arch", "enum", "x86_64 (minor faults and write protection), arm64 (minor faults, no "
              "uffd-wp) or i386 (a 32-bit kernel: no high VMA flag bits, so no minor faults, and "
              "no uffd-wp)", default="x86_64", choices=tuple(ARCHES)),
    )))


@hookimpl
def memsim_register_steps(steps):
    """userfaultfd, uffdio_api, uffdio_register, ... (memsim.plugins.userfaultfd.steps)."""
    from memsim.plugins.userfaultfd import handlers
    from memsim.plugins.userfaultfd.steps import step_types
    for st in step_types() + handlers.step_types():
        steps.add(st)


@hookimpl
def memsim_register_extensions(extensions):
    """``expect: {result: {...}}``: the output fields of the last userfaultfd step."""
    from memsim.plugins.userfaultfd.steps import expect_key
    extensions.add(expect_key())


@hookimpl
def memsim_register_files(files):
    """/proc/sys/vm/unprivileged_userfaultfd."""
    from memsim.plugins.userfaultfd.files import proc_files
    for f in proc_files():
        files.add(f)


@hookimpl
def memsim_register_patches(patches):
    """uffd-minor (memsim.plugins.userfaultfd.patch)."""
    from memsim.plugins.userfaultfd.patch import patch_impl
    patches.add(patch_impl())


@hookimpl
def memsim_machine_created(machine, config):
    """The machine's Userfaultfd in the core's ops table; the shmem and hugetlb fill engines of
    the plugins that own those mappings; /dev/userfaultfd on v6.18."""
    from memsim.plugins.userfaultfd import files
    from memsim.plugins.userfaultfd.api import settings
    from memsim.plugins.userfaultfd.profile import PROFILE
    from memsim.plugins.userfaultfd.uffd import Userfaultfd
    prof = PROFILE[machine.profile]
    h = Userfaultfd(machine, machine.mmcore, exact_address=prof.exact_address,
                    wp_shmem=prof.wp_shmem, continue_wp=prof.continue_wp)
    h.install()
    from memsim.plugins.userfaultfd import events
    events.install(h)
    h.shmem_fill = _shmem_fill
    h.hugetlb_fill = _hugetlb_fill(machine)
    machine.plugin_state["userfaultfd"] = h
    _MACHINES.add(machine)
    section = getattr(config, "sections", {}).get("userfaultfd") if config is not None else None
    settings(machine)["arch"] = section["arch"] if section else "x86_64"
    files.machine_created(machine)


@hookimpl
def memsim_check_invariants(machine, full):
    """--check (userfaultfd.md 2.2 and 9): a VMA has a context iff it has a VM_UFFD_* flag, the
    context is live (not released) and of the VMA's mm; no fault is both unread and read."""
    from memsim.plugins.userfaultfd.api import VM_UFFD_FLAGS
    h = machine.plugin_state.get("userfaultfd")
    if h is None:
        return []
    out = []
    live = set(map(id, h.ctxs))
    for task in machine.tasks.values():
        mm = task.mm
        if mm is None or task.tgid != task.pid:
            continue
        for vma in mm.vmas:
            ctx = vma.vm_userfaultfd_ctx
            if (ctx is None) != (not vma.vm_flags & VM_UFFD_FLAGS):
                out.append(f"userfaultfd: VMA {vma.vm_start:#x}-{vma.vm_end:#x} of pid {task.pid} has "
                           f"flags {vma.vm_flags & VM_UFFD_FLAGS:#x} and context {ctx!r}")
            elif ctx is not None and (id(ctx) not in live or ctx.released):
                out.append(f"userfaultfd: VMA {vma.vm_start:#x}-{vma.vm_end:#x} of pid {task.pid} "
                           f"belongs to a released context {ctx!r}")
            elif ctx is not None and ctx.mm is not None and ctx.mm is not mm:
                out.append(f"userfaultfd: VMA {vma.vm_start:#x}-{vma.vm_end:#x} of pid {task.pid} "
                           f"belongs to another mm's context {ctx!r}")
    for ctx in h.ctxs:
        pending = set(map(id, ctx.fault_pending))
        for f in ctx.fault_read:
            if id(f) in pending:
                out.append(f"userfaultfd: fault {f!r} of {ctx!r} is both unread and read")
    return out


#: the machines this plugin set up (the task hooks are not told which machine a task is on)
_MACHINES: "weakref.WeakSet" = weakref.WeakSet()


@hookimpl
def memsim_task_fork(parent, child):
    """A child inherits its parent's capabilities (the ``capset`` step)."""
    if parent is None:
        return
    from memsim.plugins.userfaultfd.api import task_fork
    for machine in list(_MACHINES):
        if machine.tasks.get(child.pid) is child:
            task_fork(machine, parent, child)


def _shmem_fill(mm, vma, dst, src_pfn, zeropage, wp):
    """shmem_mfill_atomic_pte() of the page cache plugin's tmpfs superblock of the VMA's file."""
    sb = vma.vm_file.a_ops_owner
    fill = getattr(sb, "mfill_atomic_pte", None)
    if fill is None:
        return -22                      # -EINVAL: not a shmem file this plugin knows
    return fill(mm, vma, dst, src_pfn, zeropage, wp)


def _hugetlb_fill(machine):
    def fill(ctx, vma, dst, src_mm, src, length, kind, mode):
        """hugetlb_mfill_atomic_pte() of the hugetlb plugin (its mappings' state)."""
        hg = machine.plugin_state.get("hugetlb")
        maps = getattr(hg, "mappings", None) if hg is not None else None
        if maps is None or not hasattr(maps, "mfill_atomic_hugetlb"):
            return -22
        return maps.mfill_atomic_hugetlb(ctx.host, vma, ctx.mm, dst, src_mm, src, length, kind, mode)
    return fill
