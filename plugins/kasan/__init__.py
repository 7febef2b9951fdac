"""kasan: software tag-based KASAN (CONFIG_KASAN_SW_TAGS) of Linux v5.14, and the kasan-tag-fe switch.

``sw_tags`` (C) keeps the shadow (one tag per 16-byte granule), the per-CPU tag generator and the
hooks the page and slab allocators call through the core's ``kasan_ops`` (memsim/physmem.pxd),
and does every checked access; ``report`` prints the kernel's reports into the run's kernel log
and emits error_report:error_report_end; ``steps`` has the workload steps that make checked
accesses and bad frees; ``patch`` the ``kasan-tag-fe`` seed change.  docs/architecture.md ("The
kasan plugin") describes how tagged pointers map onto memsim's x86-64 address model.

Off unless the workload says ``kasan: {mode: sw_tags}``: KASAN changes the slab's geometry
(each slot carries its alloc metadata; objects are 16-byte aligned) and costs time per
allocation.
"""
from __future__ import annotations

import weakref

from memsim.errors import WorkloadError
from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec
from memsim.registry import Param, SectionSpec

MEMSIM_PLUGIN = PluginSpec(requires=("kmem",))

#: sizeof(struct kasan_alloc_meta) of SW_TAGS (mm/kasan/kasan.h): the alloc track (8 bytes),
#: KASAN_NR_FREE_STACKS free tracks (8 each), and with CONFIG_KASAN_TAGS_IDENTIFY their five
#: pointer tags and the ring index; 4-byte aligned
ALLOC_META_SIZE = {True: 8 + 5 * 8 + 5 + 1 + 2, False: 8 + 8}
#: ARCH_SLAB_MINALIGN with KASAN_SW_TAGS (arch/arm64/include/asm/cache.h): one granule
SLAB_MINALIGN = 16
#: the kernels whose KASAN memsim models
PROFILES = ("v5.14",)


#: the machines' KASAN states (the task hooks are not told which machine a task is on)
_STATES: "weakref.WeakSet" = weakref.WeakSet()


def state(machine):
    """The machine's KASAN (memsim.plugins.kasan.KasanState), or None when it is off."""
    return machine.plugin_state.get("kasan")


class KasanState:
    """What the plugin keeps per machine: the C host and the reporter."""

    def __init__(self, machine, host, reporter, settings):
        self.machine = weakref.ref(machine)
        self.host = host
        self.reporter = reporter
        self.settings = settings
        #: the demo's case labels -> (kind, memory tag) of the report the step got, or None
        self.cases = {}


def _enabled(config) -> bool:
    return config.sections.get("kasan", {}).get("mode") == "sw_tags"


@hookimpl
def memsim_register_sections(sections):
    sections.add(SectionSpec("kasan", "the Kernel Address Sanitizer, software tag-based mode", (
        Param("mode", "enum", "off, or sw_tags (CONFIG_KASAN_SW_TAGS: pointer tags, 16-byte "
              "granules, checked accesses and reports)", default="off", choices=("off", "sw_tags")),
        Param("multi_shot", "bool", "kasan_multi_shot: print every report, not only the first",
              default=False),
        Param("tags_identify", "bool", "CONFIG_KASAN_TAGS_IDENTIFY: keep the last five free tags "
              "per object to tell use-after-free from out-of-bounds (a larger slot)", default=False),
        Param("panic_on_warn", "bool", "kernel.panic_on_warn: the first report (without "
              "multi-shot) or a WARN panics and the run stops", default=False),
        Param("seed", "int", "the tag generators' seed (default: the machine's seed)", minimum=0),
    ), plugin="kasan"))


@hookimpl
def memsim_register_steps(steps):
    from memsim.plugins.kasan.steps import step_types
    for st in step_types():
        steps.add(st)


@hookimpl
def memsim_register_extensions(extensions):
    from memsim.plugins.kasan.steps import expect_key
    extensions.add(expect_key())


@hookimpl(trylast=True)     # after kmem's: its events keep the live kernel's IDs
def memsim_register_events(events, profile, patch_states):
    from memsim.tracing.error_report import error_report_events
    for decl in error_report_events(profile.name):
        events.add(decl)


@hookimpl
def memsim_register_patches(patches):
    from memsim.plugins.kasan.patch import patch_impl
    patches.add(patch_impl())


@hookimpl
def memsim_register_files(files):
    from memsim.plugins.kasan.files import proc_files
    for f in proc_files():
        files.add(f)


@hookimpl
def memsim_register_summary(summary):
    from memsim.plugins.kasan.files import summary_rows
    for row in summary_rows():
        summary.add(row)


@hookimpl
def memsim_machine_configure(options, config):
    """__kasan_cache_create(): every slot grows by the alloc metadata; objects 16-byte aligned."""
    if not _enabled(config):
        return
    if config.machine.kernel not in PROFILES:
        raise WorkloadError(config.section_where.get("kasan", config.path),
                            f"memsim models KASAN of kernel {', '.join(PROFILES)} only, not "
                            f"{config.machine.kernel} (its reports and bug types changed in v5.17-v6.2)",
                            "set machine: {kernel: v5.14}, or kasan: {mode: off}")
    options.slab.kasan_meta_size = ALLOC_META_SIZE[bool(config.sections["kasan"]["tags_identify"])]
    options.slab.min_align = SLAB_MINALIGN


@hookimpl
def memsim_machine_created(machine, config):
    """kasan_init() + kasan_init_sw_tags(): the shadow at KASAN_SHADOW_INIT, the generators
    seeded, the ops in the allocators."""
    if not _enabled(config):
        return
    from memsim.plugins.kasan.report import Reporter, Settings
    from memsim.plugins.kasan.sw_tags import KasanHost
    sec = config.sections["kasan"]
    settings = Settings(multi_shot=sec["multi_shot"], tags_identify=sec["tags_identify"],
                        panic_on_warn=sec["panic_on_warn"])
    seed = machine.spec.seed if sec["seed"] is None else sec["seed"]
    host = KasanHost(machine.physmem, machine.current, machine.spec.cpus, seed,
                     machine.patches.enabled("kasan-tag-fe"))
    host.tags_identify = settings.tags_identify
    reporter = Reporter(machine, host, settings)
    host.reporter = reporter
    host.install(machine.slab)
    st = KasanState(machine, host, reporter, settings)
    machine.plugin_state["kasan"] = st
    _STATES.add(st)


@hookimpl
def memsim_check_invariants(machine, full):
    """--check, at the end of the run: every slab page is tagged and has its slots' metadata."""
    st = state(machine)
    if st is None or not full:
        return []
    return st.host.check_slab_pages()


@hookimpl
def memsim_task_fork(parent, child):
    """dup_task_struct() copies current->kasan_depth: a child of a task with its reports
    disabled starts with them disabled."""
    if parent is None:
        return
    for st in list(_STATES):
        m = st.machine()
        if m is not None and m.tasks.get(parent.pid) is parent:
            depth = st.reporter.depth.get(parent.pid, 0)
            if depth:
                st.reporter.depth[child.pid] = depth
