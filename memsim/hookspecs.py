"""The plugin contract: every hook a memsim plugin can implement (STYLE 5).

A plugin is a module (or any object) whose functions are marked with :data:`hookimpl` and named
after the hooks below; it is found through the ``memsim`` entry-point group, like the built-in
plugins ``kmem`` and ``core_steps`` (STYLE 4).  See docs/plugins.md for a guide.

The hooks follow the lifecycle of a run:

1. **Registration** — once per run, before any workload file is read, a plugin adds its workload
   sections, steps, trace events, /proc and /sys files, filesystem types, /proc/meminfo lines
   and summary rows to typed registries (:mod:`memsim.registry`, :mod:`memsim.tracing.events`).
   Nothing is returned.
2. **Machine** — before the core machine is built, a plugin chooses the boot options it needs
   (slab options, kernel command-line parameters); after it is built, a plugin reads its
   configuration and installs its typed ops tables into the core (the memcg charge table on the
   page allocator, per-VMA fault interception, ...).  ``--check`` asks every plugin for invariant
   violations after every scheduler slice.
3. **Task** — a task is created (forked, or started by the workload) or exits.
4. **Run** — just before the first step, and after the last one.

The machine, task and run hooks are called in plugin dependency order (a plugin after the
plugins it requires, :class:`memsim.plugin_host.PluginSpec`); the teardown hook
``memsim_task_exit`` in the reverse order.

There are deliberately no per-page or per-fault hooks: a pluggy call per page would dominate the
run time, and it would hand every plugin the whole machine.  Per-page work goes through the typed
ops tables a plugin installs in :func:`memsim_machine_created`, which the Cython core calls
directly.

The host calls every hook with keyword arguments, so an implementation may accept any subset of
a hook's parameters, in any order.  No hook here is ``firstresult``: every implementation is called.
Importing this module only creates the two markers (STYLE 9).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

import pluggy

if TYPE_CHECKING:  # pragma: no cover - names for annotations only
    from memsim.boot import BootOptions
    from memsim.patches import PatchRegistry, PatchStates
    from memsim.profiles import KernelProfile
    from memsim.task import TaskStruct
    from memsim.registry import Extensions, Registry
    from memsim.tracing.events import EventRegistry

PROJECT_NAME = "memsim"

#: Marks a hook declaration below.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin's hook implementation: ``from memsim.hookspecs import hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Registration stage: called once, in this order, by memsim.plugin_host.collect_registries.
# --------------------------------------------------------------------------------------------

@hookspec
def memsim_register_sections(sections: Registry) -> None:
    """Add the top-level workload sections this plugin reads (e.g. ``hugetlb:``, ``memcg:``).

    Each section is a :class:`memsim.registry.SectionSpec` whose ``params`` declare every key with
    a type, a default and a one-line description; the workload loader rejects unknown keys and
    hands the validated, frozen section to :func:`memsim_machine_created`.

    :param sections: the registry of :class:`memsim.registry.SectionSpec`; call
        ``sections.add(SectionSpec(...))``.  A name another plugin already added is an error that
        names both plugins.
    """


@hookspec
def memsim_register_steps(steps: Registry) -> None:
    """Add workload steps (``- NAME: {params}``) that this plugin executes.

    Each step is a :class:`memsim.registry.StepType`; its ``run(ctx, step)`` is called with the
    step context (``ctx.machine``, ``ctx.task``, ``ctx.emit``, ``ctx.fail``, ``ctx.advance``) and
    the validated step (``step.args``, ``step.where``).

    :param steps: the registry of :class:`memsim.registry.StepType`; call
        ``steps.add(StepType(...))``.  A name another plugin already added is an error that names
        both plugins.
    """


@hookspec
def memsim_register_extensions(extensions: Extensions) -> None:
    """Add values and keys to the core's own steps and sections.

    Each is a typed object of :mod:`memsim.registry`: an :class:`~memsim.registry.MmapType` (a
    value of mmap's ``type``, built as a core type, with ``prepare``/``setup`` callbacks that
    receive the request and the new VmArea), an :class:`~memsim.registry.MmapFlag` (a ``MAP_*``
    name for mmap's ``flags``, with the kernel's value), a :class:`~memsim.registry.MachineKey`
    (a ``machine`` key such as a boot parameter, read back from ``config.machine.settings``) or
    an :class:`~memsim.registry.ExpectKey` (an ``expect`` key and the function that checks it).
    The loader validates them like the core's keys and docs/workloads.md shows which plugin
    added each one.

    :param extensions: the :class:`memsim.registry.Extensions` registry; call
        ``extensions.add(MmapFlag(...))``.  A name the core already has, or one another plugin
        added, is an error that names both plugins.
    """


@hookspec
def memsim_register_events(events: EventRegistry, profile: KernelProfile,
                           patch_states: PatchStates) -> None:
    """Declare the trace events this plugin emits, once each (STYLE 7).

    Each event is a :class:`memsim.tracing.events.EventDecl` (system, name, typed fields, print
    format); its format file, emitter and text formatter all derive from that declaration.  Use
    ``profile`` where an event's layout or flags differ between the emulated kernels, and
    ``patch_states`` where a seed change alters an event (kmem:rss_stat's print format before
    ``rss-stat-symbolic``).

    :param events: the :class:`memsim.tracing.events.EventRegistry`; call
        ``events.add(EventDecl(...))``.  A ``system:name`` another plugin already declared is an
        error that names both plugins.
    :param profile: the :class:`memsim.profiles.KernelProfile` being emulated (``v5.14``,
        ``v6.18``, ...); read it, do not keep it.
    :param patch_states: the :class:`memsim.patches.PatchStates` of the run (which seed changes
        are on): ``patch_states.enabled("rss-stat-symbolic")``.
    """


@hookspec
def memsim_register_files(files: Registry) -> None:
    """Add the /proc and /sys files this plugin provides (e.g. ``/proc/buddyinfo``).

    Static files are created in the machine's procfs or sysfs at boot; files that exist per
    object (per node, hstate or cgroup) are declared with a ``{placeholder}`` path for the docs
    and created by the plugin while the machine runs (``machine.sysfs.create_file(...)`` in
    :func:`memsim_machine_created` or a step).

    :param files: the registry of :class:`memsim.registry.ProcFile`, keyed by path; call
        ``files.add(ProcFile(path, doc, render, write=...))`` where ``render(machine)`` returns
        the file's text exactly as the kernel formats it and ``write(machine, data)`` takes a
        write or raises :class:`memsim.vfs.VfsError` with the kernel's errno.
    """


@hookspec
def memsim_register_filesystems(filesystems: Registry) -> None:
    """Add the filesystem types this plugin provides (``mount -t NAME``: tmpfs, hugetlbfs, cgroup2).

    Each is a :class:`memsim.vfs.FileSystemType` whose ``mount(fc)`` returns the
    :class:`memsim.vfs.SuperBlock` to mount for an :class:`memsim.vfs.FsContext` (source,
    options, the machine), or raises :class:`memsim.vfs.VfsError` (EINVAL for an option it does
    not take).  Every machine registers them at boot, after the core's rootfs, proc and sysfs.

    :param filesystems: the registry of :class:`memsim.vfs.FileSystemType`, keyed by name; call
        ``filesystems.add(FileSystemType(name, doc, mount, plugin=...))``.  A name another plugin
        (or the core) already has is an error that names both.
    """


@hookspec
def memsim_register_meminfo(meminfo: Registry, profile: KernelProfile) -> None:
    """Provide the /proc/meminfo lines this plugin models (hugetlb: HugePages_*; swap: SwapTotal...).

    The core prints every line of the profile's /proc/meminfo in the kernel's order; a line
    the core leaves to plugins (``memsim.mmstat.PLUGIN_LINES``) prints 0 unless a plugin gives
    its value here.  Lines the core computes from its counters (AnonPages, Cached, ...) cannot
    be contributed: update the counter instead.

    :param meminfo: the registry of :class:`memsim.registry.MeminfoLine`, keyed by line name; call
        ``meminfo.add(MeminfoLine(name, doc, value, node_value=...))``.  A line another plugin
        already provides is an error that names both.
    :param profile: the :class:`memsim.profiles.KernelProfile` being emulated: contribute only
        the lines its /proc/meminfo has (Zswap exists in v6.18, not in v5.14).
    """


@hookspec
def memsim_register_summary(summary: Registry) -> None:
    """Add rows to the run summary (printed at the end of a run and by ``--json``).

    :param summary: the registry of :class:`memsim.registry.SummaryRow`; call
        ``summary.add(SummaryRow(name, doc, compute))`` where ``compute(machine)`` returns a
        JSON-serialisable value.
    """


@hookspec
def memsim_register_patches(patches: PatchRegistry) -> None:
    """Attach this plugin's implementation to the seed changes it owns (docs/patches.md).

    The table of the nine seed changes is the core's (:data:`memsim.patches.SEED_PATCHES`); the
    plugin that owns one adds a :class:`memsim.patches.PatchImpl`: how memsim models the change,
    the emulated files worth comparing with it on and off, its metrics and the trace events
    ``memsim compare`` records.  A workload may switch a change only when its implementation is
    registered.  The plugin reads the state of the run with ``machine.patches.enabled(name)``.

    :param patches: the :class:`memsim.patches.PatchRegistry`; call
        ``patches.add(PatchImpl(name, model, files=..., metrics=...))``.  A name not in the
        table, a change another plugin owns, or a second implementation is an error.
    """


# --------------------------------------------------------------------------------------------
# Machine stage: the core machine exists; plugins configure themselves and hook into the core.
# --------------------------------------------------------------------------------------------

@hookspec
def memsim_machine_configure(options: BootOptions, config: Any) -> None:
    """Choose the boot options this plugin needs, before the core machine is built.

    Called once per run, in plugin dependency order, before anything of the machine exists: set
    what the core reads while it boots, from your configuration.  For example a memcg plugin
    with ``nokmem: true`` sets ``options.slab.nokmem = True`` before the slab allocator creates
    its kmalloc-cg caches, and a hugetlb plugin adds ``options.add_param("hugepages", 512)``.
    Later hooks read the frozen options from ``machine.boot``.  The machine of a test built
    directly (``Machine(spec, events)``) boots with the defaults.

    :param options: the :class:`memsim.boot.BootOptions` the machine will be built with
        (``options.slab``: :class:`memsim.boot.SlabBootOptions`; ``options.add_param``);
        change its fields, do not keep it.
    :param config: the frozen, validated :class:`memsim.workload.schema.Workload`: your
        sections in ``config.sections[NAME]``, your machine keys in
        ``config.machine.settings[NAME]``.
    """


@hookspec
def memsim_machine_created(machine: Any, config: Any) -> None:
    """Configure this plugin for a newly built machine and install its ops tables into the core.

    Read only your own section(s) from ``config``, create your subsystem state, and install typed
    ops tables on the core objects you extend (for example the memcg charge table on the page
    allocator, or fault interception on the VMAs you manage).  This is the only place where a
    plugin attaches to the core; there are no per-page hooks.  For a configuration the plugin
    cannot honour, raise an error whose message reads ``<where>: <problem>; <fix>`` (STYLE 12).

    :param machine: the core machine that was just built (nodes, zones, mms, trace buffers).
    :param config: the frozen, validated :class:`memsim.workload.schema.Workload`; a plugin
        reads only the sections it registered with :func:`memsim_register_sections`, from
        ``config.sections[NAME]``: a read-only mapping holding every declared key, defaults
        applied (``config.given_sections`` says which ones the file wrote).
    """


@hookspec
def memsim_check_invariants(machine: Any, full: bool) -> List[str]:
    """Check this plugin's invariants; called by ``--check`` after every scheduler slice.

    Also called once more at the end of the run, with ``full`` true.  Not ``firstresult``:
    every plugin is asked and the lists are concatenated
    (:func:`memsim.plugin_host.check_invariants`).  Check only your own state and the core
    counters you change; do not repair anything.  A slice ends after each step and at each
    preemption point inside a long step (every ``machine.quantum`` pages a ``touch`` walks).
    A slice that leaves work queued with ``machine.task_work_add`` pending is not checked (the
    state that work completes need not satisfy your invariants); the end-of-run check comes
    after every work has run.
    An implementation may leave out the ``full`` parameter (pluggy passes only what it names).

    :param machine: the machine after the slice just run.
    :param full: the end-of-run check: walk everything, however large (the core's
        ``Machine.check_invariants(full=True)``); false after a slice, when a check whose cost
        grows with the size of the state (a walk of every page) may cover only what is small
        or what changed.
    :return: one ``"<where>: <problem>"`` string per violated invariant; an empty list if all
        hold.
    """


# --------------------------------------------------------------------------------------------
# Task stage: tasks are created and exit (coarse lifecycle; no per-page work here).
# --------------------------------------------------------------------------------------------

@hookspec
def memsim_task_fork(parent: Optional[TaskStruct], child: TaskStruct) -> None:
    """A task was created: forked or cloned (copy_process(), where cgroup_post_fork() runs), or started.

    Called once the child has its mm and its ``real_parent``, as the parent (``current``), in
    plugin dependency order.  A memcg plugin puts the child in its parent's cgroup here.

    :param parent: the forking (or thread-creating) task, or None for a task the workload starts
        (``tasks:``).
    :param child: the new :class:`memsim.task.TaskStruct`: after a fork ``child.real_parent is
        parent``; a thread (``child.tgid == parent.tgid``, the same mm) shares its creator's
        ``real_parent``, as CLONE_THREAD does.
    """


@hookspec
def memsim_task_exit(task: TaskStruct) -> None:
    """A task exits: called from do_exit() after its mm is released, where cgroup_exit() runs.

    Called in reverse plugin dependency order (a plugin before the plugins it requires), before
    the task's children are reparented.  Drop what your plugin keeps for the task.

    :param task: the exiting :class:`memsim.task.TaskStruct` (``task.mm`` is already None).
    """


# --------------------------------------------------------------------------------------------
# Run stage: around the execution of the workload's steps.
# --------------------------------------------------------------------------------------------

@hookspec
def memsim_run_start(machine: Any) -> None:
    """Called once, after every plugin's :func:`memsim_machine_created` and before the first step.

    :param machine: the configured machine about to run the workload.
    """


@hookspec
def memsim_run_finished(machine: Any, summary: dict) -> None:
    """Called once, after the last step, before the summary is printed.

    :param machine: the machine after the run.
    :param summary: the mutable summary mapping printed at the end of a run and by ``--json``;
        add keys prefixed with your plugin's name, do not remove other plugins' keys.  Prefer
        :func:`memsim_register_summary` for values that can be computed from the machine.
    """
