"""The kmem subsystem: the core's trace events and the procfs files of physical memory.

An essential built-in plugin: it declares kmem:rss_stat, kmem:mm_page_alloc, kmem:mm_page_free,
the slab events and the per-CPU list events for the machine's kernel profile (the Cython core
emits them through typed slots bound from these declarations), and /proc/buddyinfo,
/proc/meminfo, /proc/zoneinfo and /proc/slabinfo.
"""
from __future__ import annotations

from memsim.hookspecs import hookimpl
from memsim.registry import ProcFile


@hookimpl
def memsim_register_events(events, profile):
    from memsim.tracing.kmem import kmem_events
    for decl in kmem_events(profile.name):
        events.add(decl)


def _zoneinfo(machine) -> str:
    out = []
    for z in machine.physmem.zones_info():
        out.append(f"Node {z['node']}, zone {z['zone']:>8}\n"
                   f"  pages free     {z['free']}\n"
                   f"        min      {z['min']}\n"
                   f"        low      {z['low']}\n"
                   f"        high     {z['high']}\n"
                   f"        spanned  {z['end_pfn'] - z['start_pfn']}\n"
                   f"        present  {z['end_pfn'] - z['start_pfn']}\n"
                   f"        managed  {z['managed']}\n"
                   f"        protection: ({', '.join(str(r) for r in z['lowmem_reserve'])})\n"
                   f"  pagesets\n" +
                   "".join(f"    cpu: {c}\n              count: {p['count']}\n"
                           f"              high:  {p['high']}\n              batch: {p['batch']}\n"
                           for c, p in enumerate(z["pcp"])) +
                   f"  start_pfn:           {z['start_pfn']}\n")
    return "".join(out)


def _slabinfo(machine) -> str:
    if machine.slab is None:
        return "slabinfo - version: 2.1\n"
    return machine.slab.slabinfo()


@hookimpl
def memsim_register_files(files):
    files.add(ProcFile("/proc/buddyinfo", "free blocks per order of every zone",
                       lambda m: m.physmem.buddyinfo(), plugin="kmem"))
    files.add(ProcFile("/proc/meminfo", "memory totals (the subset memsim models)",
                       lambda m: m.meminfo_text(), plugin="kmem"))
    files.add(ProcFile("/proc/zoneinfo", "per-zone watermarks, free pages and per-CPU lists",
                       _zoneinfo, plugin="kmem"))
    files.add(ProcFile("/proc/slabinfo", "slab caches (slabinfo 2.1)", _slabinfo, plugin="kmem"))
