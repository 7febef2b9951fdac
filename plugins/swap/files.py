"""The swap plugin's files: /proc/swaps, /proc/sys/vm/page-cluster, the SwapTotal / SwapFree
lines of /proc/meminfo (si_swapinfo) and the run summary's swap row."""
from __future__ import annotations

from memsim.pseudofs import proc_dointvec_minmax
from memsim.registry import MeminfoLine, ProcFile, SummaryRow

#: /proc/sys/vm/page-cluster's bounds (extra1 SYSCTL_ZERO; v6.1+ page_cluster_max 31)
PAGE_CLUSTER_MAX = 31


#: /proc/sys/vm/page-cluster before swap_setup() ran (a machine built without the plugin's hook)
DEFAULT_PAGE_CLUSTER = 3


def _host(machine):
    """The machine's SwapHost, or None (a machine built without this plugin's machine hook)."""
    st = machine.plugin_state.get("swap")
    return st.host if st is not None else None


def _page_cluster_write(machine, data: bytes):
    value, used = proc_dointvec_minmax(data, 0, PAGE_CLUSTER_MAX)
    if _host(machine) is not None:
        _host(machine).page_cluster = value
    return used


def _page_cluster(machine) -> str:
    h = _host(machine)
    return f"{h.page_cluster if h is not None else DEFAULT_PAGE_CLUSTER}\n"


def _swap_total(machine) -> int:
    h = _host(machine)
    return h.total_swap_pages * 4096 if h is not None else 0


def _swap_free(machine) -> int:
    h = _host(machine)
    return h.free_swap_kb() * 1024 if h is not None else 0


def _vma_ra(machine) -> str:
    h = _host(machine)
    return "true\n" if h is None or h.vma_ra_enabled else "false\n"


def _vma_ra_write(machine, data: bytes):
    """vma_ra_enabled_store(): "true"/"1" or "false"/"0" (a prefix match), else EINVAL."""
    from memsim.vfs import VfsError
    if data.startswith(b"true") or data.startswith(b"1"):
        on = True
    elif data.startswith(b"false") or data.startswith(b"0"):
        on = False
    else:
        raise VfsError("EINVAL", f"vma_ra_enabled takes true or false, not {data!r}")
    if _host(machine) is not None:
        _host(machine).vma_ra_enabled = on
    return None


def proc_files():
    from memsim.plugins.swap.swapon import proc_swaps
    return (
        ProcFile("/proc/swaps", "the swap areas that are on (swap_show): path, type, size and "
                 "used in kB, priority", render=proc_swaps, plugin="swap"),
        ProcFile("/proc/sys/vm/page-cluster", "log2 of the swap-in readahead window "
                 "(swapin_nr_pages; 0: no readahead)",
                 render=_page_cluster,
                 write=_page_cluster_write, plugin="swap"),
        ProcFile("/sys/kernel/mm/swap/vma_ra_enabled", "VMA-based swap readahead (used while no "
                 "rotational swap area is on; else the swap-offset cluster)", render=_vma_ra,
                 write=_vma_ra_write, plugin="swap"),
    )


def meminfo_lines():
    return (
        MeminfoLine("SwapTotal", "total_swap_pages (si_swapinfo), the areas that are on",
                    _swap_total, plugin="swap"),
        MeminfoLine("SwapFree", "nr_swap_pages plus the used pages of areas being swapped off "
                    "(si_swapinfo)", _swap_free, plugin="swap"),
    )


def _summary(machine):
    st = machine.plugin_state.get("swap")
    if st is None:
        return None
    c = st.host.counters()
    return {"areas": len(st.areas), "total_kb": c["total_swap_pages"] * 4,
            "free_kb": st.host.free_swap_kb(), "swapouts": c["swapouts"], "swapins": c["swapins"],
            "swap_cache_pages": st.host.total_swapcache_pages()}


def summary_rows():
    return (SummaryRow("swap", "swap areas, total and free kB, pages written and read, pages in "
                       "the swap cache", _summary, plugin="swap"),)
