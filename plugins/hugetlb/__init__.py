"""hugetlb: huge page pools (issue 13).

The hstates with their per-node free lists, counters and round robin (``hstate``, Cython), the
pool resize (``resize``), boot-time pools from ``hugepages=`` / ``hugepagesz=`` /
``default_hugepagesz=`` (``boot``), the files under /proc/sys/vm, /sys/kernel/mm/hugepages and
/sys/devices/system/node/nodeN/hugepages and the HugePages_* lines of /proc/meminfo (``files``),
and v6.18's demote (``demote``).  docs/architecture.md ("The hugetlb plugin") describes them.

The allocator meets hugetlb pages only through ``hugetlb_page_ops`` (memsim/physmem.pxd): this
plugin's ``free_huge_page`` is the destructor of every PG_hugetlb compound page.
"""
from __future__ import annotations

from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec
from memsim.profiles import ProfileTable

MEMSIM_PLUGIN = PluginSpec(requires=("kmem", "core_steps"))

#: The folio-era pool (v6.x): resize adds its new pages in one batch at the end
#: (prep_and_add_allocated_folios), a node write counts persistent pages only, the 1 GiB hstate
#: can be demoted, and NR_HUGETLB counts the folios in use.
FOLIO_POOL = ProfileTable("hugetlb.folio_pool", {"v5.14": False, "v6.18": True})


@hookimpl
def memsim_register_extensions(extensions):
    """The machine keys hugepages, hugepagesz and default_hugepagesz (memsim.plugins.hugetlb.boot)."""
    from memsim.plugins.hugetlb.boot import machine_keys
    from memsim.plugins.hugetlb.cma import machine_key
    for key in machine_keys() + (machine_key(),):
        extensions.add(key)
    from memsim.plugins.hugetlb.mmap import mmap_flags
    for flag in mmap_flags():                   # MAP_HUGETLB, MAP_HUGE_* (memsim.plugins.hugetlb.mmap)
        extensions.add(flag)


@hookimpl
def memsim_register_steps(steps):
    """alloc_contig_range, free_contig_range, cma_alloc, cma_release (memsim.plugins.hugetlb.steps)."""
    from memsim.plugins.hugetlb.steps import step_types
    for st in step_types():
        steps.add(st)


@hookimpl
def memsim_register_patches(patches):
    """hugetlb-resize-mutex and hugetlb-contig-dissolve (memsim.plugins.hugetlb.patch)."""
    from memsim.plugins.hugetlb.patch import contig_patch_impl, patch_impl
    patches.add(patch_impl())
    patches.add(contig_patch_impl())


@hookimpl
def memsim_register_files(files):
    """/proc/sys/vm/nr_hugepages, nr_hugepages_mempolicy, nr_overcommit_hugepages,
    hugetlb_shm_group, and the per-hstate and per-node sysfs files (memsim.plugins.hugetlb.files)."""
    from memsim.plugins.hugetlb.files import dynamic_files, sysctl_files
    for f in sysctl_files() + dynamic_files():
        files.add(f)


@hookimpl
def memsim_register_meminfo(meminfo, profile):
    """HugePages_Total/Free/Rsvd/Surp, Hugepagesize and Hugetlb (both profiles have them)."""
    from memsim.plugins.hugetlb.files import meminfo_lines
    for line in meminfo_lines():
        meminfo.add(line)


@hookimpl
def memsim_machine_configure(options, config):
    """The boot pool's keys become hugepages=, hugepagesz=, default_hugepagesz= on the command line."""
    from memsim.plugins.hugetlb.boot import configure
    configure(options, config)


@hookimpl
def memsim_machine_created(machine, config):
    """hugetlb_init(): the hstates, the destructor in the allocator's ops table, the boot pool,
    and the sysfs directories."""
    from memsim.plugins.hugetlb import patch
    from memsim.plugins.hugetlb.boot import alloc_boot_pools
    from memsim.plugins.hugetlb.cma import activate_areas
    from memsim.plugins.hugetlb.contig import Contig
    from memsim.plugins.hugetlb.files import create_sysfs
    from memsim.plugins.hugetlb.hstate import Hugetlb
    from memsim.sched import Mutex
    p = machine.profile
    hg = Hugetlb(machine.physmem, p.gfp_user, FOLIO_POOL[p],
                 resize_locks=(Mutex("resize_lock", current=machine.current),
                               Mutex("resize_lock", current=machine.current)))
    hg.resize_mutex = patch.enabled(machine)
    hg.task_work = lambda fn: machine.task_work_add(machine.current.task, fn)
    hg.install()
    Contig(hg, machine.mmcore, patch.contig_enabled(machine)).install()
    machine.plugin_state["hugetlb"] = hg
    machine.plugin_state["hugetlb.cma"] = activate_areas(machine, machine.spec.settings.get("cma", ()))
    alloc_boot_pools(hg, machine.boot)
    create_sysfs(machine)
    from memsim.plugins.hugetlb.fault import HugetlbMaps
    maps = HugetlbMaps(hg, machine.mmcore, FOLIO_POOL[p])
    maps.install()                              # mappings: the destructor's subpool step first
    machine.plugin_state["hugetlb.maps"] = maps


@hookimpl
def memsim_check_invariants(machine, full):
    """--check: every hstate's counters against its free lists (hugetlb.md 1.2)."""
    hg = machine.plugin_state.get("hugetlb")
    from memsim.plugins.hugetlb.hugetlbfs import check_invariants as check_mappings
    return (hg.check() if hg is not None else []) + check_mappings(machine)


@hookimpl
def memsim_register_filesystems(filesystems):
    """hugetlbfs (memsim.plugins.hugetlb.hugetlbfs)."""
    from memsim.plugins.hugetlb.hugetlbfs import hugetlbfs_type
    filesystems.add(hugetlbfs_type())


@hookimpl(trylast=True)     # after kmem's: its events keep the live kernel's IDs
def memsim_register_events(events, profile, patch_states):
    """v6.18's hugetlbfs:* events (memsim.tracing.hugetlbfs); v5.14 has none."""
    from memsim.tracing.hugetlbfs import hugetlbfs_events
    for decl in hugetlbfs_events(profile.name):
        events.add(decl)
