"""A machine with swap, for tests of swap and of what meets it (``swap_machine``): built as
memsim.testing.build_machine builds one, with the page-cache filesystems, optionally the memory
controller, this plugin's machine hook, one swap area on and a task current."""
from __future__ import annotations

PAGE_SIZE = 4096
SWAPFILE = "/mnt/disk/swapfile"


def swap_machine(kernel: str = "v5.14", cpus: int = 4, mem: int = 64 << 20, slots: int = 1024,
                 memcg=None, path: str = SWAPFILE, prio: int = -1):
    """(machine, task ``app``): a swap area of ``slots`` slots at ``path`` (a file on the disk,
    /dev/zram0 or another /dev device) with priority ``prio`` (-1: the default); ``memcg`` 1 or 2
    adds the memory controller (cgroup v1 with memsw accounting, or v2)."""
    from memsim.plugins import swap as swapplugin
    from memsim.plugins.swap.swapon import mkswap, sys_swapon
    from memsim.testing import build_machine, with_page_cache
    m = with_page_cache(build_machine(cpus=cpus, kernel=kernel, nodes=(mem,)))
    if memcg:
        from memsim.plugins import memcg as memcgplugin

        class Config:
            sections = {"cgroup": {"version": memcg, "swap_account": True}}
        memcgplugin.memsim_machine_created(m, Config())
    swapplugin.memsim_machine_created(m, None)
    t = m.spawn("app")
    m.set_current(t)
    mkswap(m, path, slots * PAGE_SIZE)
    sys_swapon(m, path, prio)
    return m, t
