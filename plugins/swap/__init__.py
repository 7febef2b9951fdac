"""swap: swap areas, the swap cache, swap-out under reclaim and swap-in (issue 16).

``swapfile`` (C) is the kernel's swap_info[] with its slots (swap_map, SWAP_HAS_CACHE, count
continuation, the per-CPU slots cache of v5.14), the swap cache with its workingset shadows,
the swap_cgroup records, page I/O and do_swap_page with readahead and the synchronous-device
path; it fills the core's ``swap_ops`` (memsim/mm.pxd) and calls memcg through ``memcg_ops``.
``swapon`` has mkswap, swapon(2), swapoff(2) and /proc/swaps; ``steps`` the workload steps;
``files`` the /proc files and meminfo lines; ``patch`` the ``swapin-charge-first`` switch.
docs/architecture.md ("The swap plugin") describes them.
"""
from __future__ import annotations

from memsim.hookspecs import hookimpl
from memsim.plugin_host import PluginSpec
from memsim.profiles import ProfileTable

MEMSIM_PLUGIN = PluginSpec(requires=("kmem", "core_steps", "pagecache"))

#: MAX_SWAPFILES: v5.14 on x86-64 with DEVICE_PRIVATE, MIGRATION and MEMORY_FAILURE, 32 types
#: less 4 device, 2 migration and 1 hwpoison types (include/linux/swap.h); v6.18 as this VM's
#: kernel took them (tests/swap/probes/max_swapfiles.sh: the 29th swapon is EPERM)
MAX_SWAPFILES = ProfileTable("swap.max_swapfiles", {"v5.14": 25, "v6.18": 28})
#: mm/swap_slots.c: the per-CPU slots cache (removed in v6.14, "mm, swap: remove swap slot cache")
SLOTS_CACHE = ProfileTable("swap.slots_cache", {"v5.14": True, "v6.18": False})
#: __remove_mapping() calls mem_cgroup_swapout() before __delete_from_swap_cache() (v5.13-v6.1;
#: v6.2 "mm: memcg: fix swapcached stat accounting" deletes first)
SWAPOUT_FIRST = ProfileTable("swap.swapout_first", {"v5.14": True, "v6.18": False})
#: __read_swap_cache_async's -EEXIST retry: v5.14 cond_resched(); v5.15+ sleeps a jiffy
RETRY_SLEEPS = ProfileTable("swap.retry_sleeps", {"v5.14": False, "v6.18": True})
#: swap_shmem_alloc() marks a shmem slot SWAP_MAP_SHMEM (0xbf); v6.13 "mm: remove
#: SWAP_MAP_SHMEM" makes it an ordinary count of 1
SWAP_MAP_SHMEM = ProfileTable("swap.swap_map_shmem", {"v5.14": True, "v6.18": False})


def state(machine):
    """The machine's swap (memsim.plugins.swap.swapon.SwapState), or None."""
    return machine.plugin_state.get("swap")


@hookimpl
def memsim_register_steps(steps):
    """mkswap, swapon, swapoff (memsim.plugins.swap.steps)."""
    from memsim.plugins.swap.steps import step_types
    for st in step_types():
        steps.add(st)


@hookimpl
def memsim_register_files(files):
    """/proc/swaps and /proc/sys/vm/page-cluster (memsim.plugins.swap.files)."""
    from memsim.plugins.swap.files import proc_files
    for f in proc_files():
        files.add(f)


@hookimpl
def memsim_register_meminfo(meminfo, profile):
    """SwapTotal and SwapFree (SwapCached is the core's NR_SWAPCACHE)."""
    from memsim.plugins.swap.files import meminfo_lines
    for line in meminfo_lines():
        meminfo.add(line)


@hookimpl
def memsim_register_patches(patches):
    """swapin-charge-first (memsim.plugins.swap.patch)."""
    from memsim.plugins.swap.patch import patch_impl
    patches.add(patch_impl())


@hookimpl
def memsim_register_summary(summary):
    from memsim.plugins.swap.files import summary_rows
    for row in summary_rows():
        summary.add(row)


@hookimpl
def memsim_machine_created(machine, config):
    """swapfile_init(): the swap host in the core's swap_ops, with the profile's code paths and
    the seed change's state."""
    from memsim.plugins.swap.swapfile import SwapHost
    from memsim.plugins.swap.swapon import SwapState
    prof = machine.profile
    host = SwapHost(machine.physmem, machine.mmcore, MAX_SWAPFILES[prof])
    host.slots_cache_on = SLOTS_CACHE[prof]
    host.swapout_first = SWAPOUT_FIRST[prof]
    host.retry_sleeps = RETRY_SLEEPS[prof]
    host.swap_map_shmem = SWAP_MAP_SHMEM[prof]
    host.charge_first = machine.patches.enabled("swapin-charge-first")
    host.install()
    machine.plugin_state["swap"] = SwapState(host)


@hookimpl
def memsim_check_invariants(machine, full):
    """--check: the swap accounting adds up (memsim.plugins.swap.check)."""
    from memsim.plugins.swap.check import check
    st = state(machine)
    return check(machine, st, full) if st is not None else []
