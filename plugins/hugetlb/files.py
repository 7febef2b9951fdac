"""The files users touch: /proc/sys/vm/nr_hugepages*, /sys/kernel/mm/hugepages/hugepages-*/,
/sys/devices/system/node/nodeN/hugepages/, and the HugePages_* / Hugetlb lines of
/proc/meminfo and the node meminfo files (mm/hugetlb.c: hugetlb_sysctl_handler_common,
hugetlb_overcommit_handler, the hstate attributes, hugetlb_report_meminfo,
hugetlb_report_node_meminfo; hugetlb.md section 9).

Reads are the kernel's ``"%lu\\n"``.  Writes parse as the kernel does (sysctl:
proc_doulongvec_minmax; sysfs: kstrtoul) and resize through :mod:`.resize`.
"""
from __future__ import annotations

from typing import Any, Optional

from memsim.registry import MeminfoLine, ProcFile
from memsim.vfs import VfsError
from memsim.pseudofs import proc_doulongvec_minmax, proc_dointvec_minmax

from memsim.plugins.hugetlb import resize

ULONG_MAX = (1 << 64) - 1
_ERRNO = {22: "EINVAL", 12: "ENOMEM", 16: "EBUSY", 34: "ERANGE"}

# enum mempolicy modes (include/uapi/linux/mempolicy.h)
MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL = 1, 2, 3, 4


def state(machine):
    """The machine's :class:`memsim.plugins.hugetlb.hstate.Hugetlb`."""
    return machine.plugin_state["hugetlb"]


def kstrtoul(data: bytes) -> int:
    """kstrtoul(buf, 10): an optional '+', decimal digits, an optional newline, nothing else
    (EINVAL; ERANGE above ULONG_MAX)."""
    text = bytes(data).split(b"\0", 1)[0]
    if text.startswith(b"+"):
        text = text[1:]
    digits = 0
    while digits < len(text) and 0x30 <= text[digits] <= 0x39:
        digits += 1
    if digits == 0:
        raise VfsError("EINVAL", f"{bytes(data)!r} is not a number")
    value = int(text[:digits])
    if value > ULONG_MAX:
        raise VfsError("ERANGE", f"{value} does not fit an unsigned long")
    rest = text[digits:]
    if rest not in (b"", b"\n"):
        raise VfsError("EINVAL", f"{bytes(data)!r} is not a number")
    return value


def init_nodemask_of_mempolicy(machine) -> Optional[int]:
    """init_nodemask_of_mempolicy(): the writer's policy nodes as a mask, None for the default
    policy (the caller then uses every node with memory)."""
    from memsim.mm import task_mempolicy
    cur = machine.current
    task = cur.task
    pol = task_mempolicy(task) if task is not None else None
    if pol is None:
        return None
    mode, _flags, nodes = pol
    if mode == MPOL_PREFERRED:
        return 1 << nodes[0]
    if mode == MPOL_LOCAL:
        return 1 << state(machine).local_node()
    mask = 0
    for n in nodes:                     # BIND, INTERLEAVE, PREFERRED_MANY, WEIGHTED_INTERLEAVE
        mask |= 1 << n
    return mask


def nr_hugepages_store(machine, h, count: int, nid: Optional[int], obey_mempolicy: bool):
    """__nr_hugepages_store_common(): the node mask (a node's file: that node; the mempolicy
    files: the writer's policy nodes; else every node with memory), then the resize.  A
    generator returning 0 or a negative errno."""
    hg = state(machine)
    # (gigantic_page_runtime_supported(): x86-64 has ARCH_HAS_GIGANTIC_PAGE, so no EINVAL here;
    # without CONFIG_CONTIG_ALLOC set_max_huge_pages refuses to grow a gigantic pool)
    if nid is not None:
        mask = 1 << nid
    else:
        mask = (init_nodemask_of_mempolicy(machine) if obey_mempolicy else None) or hg.memory_nodes
    lock = h.resize_lock if hg.resize_mutex else None
    return (yield from resize.set_max_huge_pages(hg, h, count, nid, mask, lock=lock, stats=hg.stats))


def _finish(ret: int, took: int) -> int:
    if ret < 0:
        raise VfsError(_ERRNO.get(-ret, "EINVAL"), "set_max_huge_pages failed")
    return took


def _resize(machine, h, count: int, nid: Optional[int], obey_mempolicy: bool, took: int):
    """The rest of a write once its number is parsed: the resize (which sleeps: the store
    returns this generator), then the bytes taken."""
    ret = yield from nr_hugepages_store(machine, h, count, nid, obey_mempolicy)
    return _finish(ret, took)


# -- /proc/sys/vm ------------------------------------------------------------------------------

def _sysctl_nr_hugepages_write(obey_mempolicy: bool):
    def write(machine, data: bytes):
        """hugetlb_sysctl_handler_common(): proc_doulongvec_minmax, then the resize of the
        default hstate."""
        count, took = proc_doulongvec_minmax(data)
        return _resize(machine, state(machine).default_hstate, count, None, obey_mempolicy, took)
    return write


def _sysctl_overcommit_write(machine, data: bytes):
    """hugetlb_overcommit_handler(): EINVAL for a gigantic default hstate; never allocates."""
    h = state(machine).default_hstate
    if h.gigantic:
        raise VfsError("EINVAL", "a gigantic hstate has no overcommit")
    value, took = proc_doulongvec_minmax(data)
    h.nr_overcommit_huge_pages = value
    return took


def _shm_group_write(machine, data: bytes):
    """sysctl_hugetlb_shm_group (proc_dointvec): the group allowed SHM_HUGETLB segments."""
    value, took = proc_dointvec_minmax(data)
    state(machine).shm_group = value
    return took


def sysctl_files():
    """The /proc/sys/vm files (default hstate)."""
    return (
        ProcFile("/proc/sys/vm/nr_hugepages", "the default hstate's persistent pool size "
                 "(max_huge_pages); a write resizes it over every node with memory",
                 render=lambda m: f"{state(m).default_hstate.max_huge_pages}\n",
                 write=_sysctl_nr_hugepages_write(False)),
        ProcFile("/proc/sys/vm/nr_hugepages_mempolicy", "as nr_hugepages, but a write resizes over "
                 "the writer's NUMA mempolicy nodes",
                 render=lambda m: f"{state(m).default_hstate.max_huge_pages}\n",
                 write=_sysctl_nr_hugepages_write(True)),
        ProcFile("/proc/sys/vm/nr_overcommit_hugepages", "the default hstate's surplus limit",
                 render=lambda m: f"{state(m).default_hstate.nr_overcommit_huge_pages}\n",
                 write=_sysctl_overcommit_write),
        ProcFile("/proc/sys/vm/hugetlb_shm_group", "the group that may create SHM_HUGETLB segments",
                 render=lambda m: f"{state(m).shm_group}\n", write=_shm_group_write),
    )


# -- sysfs -------------------------------------------------------------------------------------

def _nr_store(machine, h, nid, obey_mempolicy):
    def store(_private, data: bytes):
        """nr_hugepages_store_common(): kstrtoul, then __nr_hugepages_store_common()."""
        return _resize(machine, h, kstrtoul(data), nid, obey_mempolicy, len(data))
    return store


def _overcommit_store(machine, h):
    def store(_private, data: bytes):
        """nr_overcommit_hugepages_store(): EINVAL for a gigantic hstate, then kstrtoul."""
        if h.gigantic:
            raise VfsError("EINVAL", "a gigantic hstate has no overcommit")
        h.nr_overcommit_huge_pages = kstrtoul(data)
        return len(data)
    return store


def _demote_size_show(h):
    return lambda _m: f"{4 << h.demote_order}kB\n"


def _demote_size_store(machine, h):
    def store(_private, data: bytes):
        """demote_size_store(): memparse, an existing smaller hstate of at least PMD order."""
        from memsim.plugins.hugetlb.boot import _size_of
        hg = state(machine)
        try:
            size = _size_of(bytes(data).decode("ascii", "replace").strip() or "0")
        except ValueError:
            size = 0
        dst = hg.by_size(size)
        if dst is None or dst.order < 9 or dst.order >= h.order:
            raise VfsError("EINVAL", f"{bytes(data)!r} is not a smaller huge page size")
        h.demote_order = dst.order
        return len(data)
    return store


def _demote_store(machine, h, nid):
    def store(_private, data: bytes):
        """demote_store(): split up to N free pages (free - resv of the node or hstate) into
        pages of demote_size, under the resize mutex."""
        from memsim.plugins.hugetlb.demote import demote_pages
        count = kstrtoul(data)

        def run():
            ret = yield from demote_pages(machine, h, nid, count)
            return _finish(ret, len(data))
        return run()
    return store


def _hstate_files(machine, h, base: str, nid: Optional[int]) -> None:
    sysfs = machine.sysfs
    hg = state(machine)
    node = nid is not None

    def counter(get):
        return lambda _m: f"{get()}\n"
    if node:
        sysfs.create_file(f"{base}/nr_hugepages", show=counter(lambda: h.node_counts(nid)[0]),
                          store=_nr_store(machine, h, nid, False), private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/free_hugepages", show=counter(lambda: h.node_counts(nid)[1]),
                          private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/surplus_hugepages", show=counter(lambda: h.node_counts(nid)[2]),
                          private=machine, plugin="hugetlb")
    else:
        sysfs.create_file(f"{base}/nr_hugepages", show=counter(lambda: h.nr_huge_pages),
                          store=_nr_store(machine, h, None, False), private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/nr_hugepages_mempolicy", show=counter(lambda: h.nr_huge_pages),
                          store=_nr_store(machine, h, None, True), private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/nr_overcommit_hugepages",
                          show=counter(lambda: h.nr_overcommit_huge_pages),
                          store=_overcommit_store(machine, h), private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/free_hugepages", show=counter(lambda: h.free_huge_pages),
                          private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/resv_hugepages", show=counter(lambda: h.resv_huge_pages),
                          private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/surplus_hugepages", show=counter(lambda: h.surplus_huge_pages),
                          private=machine, plugin="hugetlb")
    if hg.v6 and h.demote_order:        # v5.16+: hstate_demote_attr_group
        sysfs.create_file(f"{base}/demote", store=_demote_store(machine, h, nid), mode=0o200,
                          private=machine, plugin="hugetlb")
        sysfs.create_file(f"{base}/demote_size", show=_demote_size_show(h),
                          store=_demote_size_store(machine, h), mode=0o644, private=machine,
                          plugin="hugetlb")


def create_sysfs(machine) -> None:
    """hugetlb_sysfs_init() and hugetlb_register_node(): one directory per hstate, globally and
    under every node."""
    hg = state(machine)
    for h in hg.hstates:
        _hstate_files(machine, h, f"kernel/mm/hugepages/{h.name}", None)
        for nid in range(hg.nr_nodes):
            _hstate_files(machine, h, f"devices/system/node/node{nid}/hugepages/{h.name}", nid)


def dynamic_files():
    """The per-hstate and per-node files, for docs/workloads.md."""
    hs = "/sys/kernel/mm/hugepages/hugepages-{kB}kB"
    node = "/sys/devices/system/node/node{N}/hugepages/hugepages-{kB}kB"
    return (
        ProcFile(f"{hs}/nr_hugepages", "the hstate's pool size including surplus (nr_huge_pages); "
                 "a write resizes it over every node with memory"),
        ProcFile(f"{hs}/nr_hugepages_mempolicy", "as nr_hugepages, over the writer's mempolicy nodes"),
        ProcFile(f"{hs}/nr_overcommit_hugepages", "the surplus limit (EINVAL for 1 GiB pages)"),
        ProcFile(f"{hs}/free_hugepages", "pages on the free lists"),
        ProcFile(f"{hs}/resv_hugepages", "reserved, not yet faulted pages"),
        ProcFile(f"{hs}/surplus_hugepages", "pages beyond the persistent pool"),
        ProcFile(f"{hs}/demote", "v6.18, 1 GiB: write N to split up to N free pages into demote_size pages"),
        ProcFile(f"{hs}/demote_size", "v6.18, 1 GiB: the size demote splits into (2048kB)"),
        ProcFile(f"{node}/nr_hugepages", "the node's pool size; a write resizes the node's pool"),
        ProcFile(f"{node}/free_hugepages", "the node's free pages"),
        ProcFile(f"{node}/surplus_hugepages", "the node's surplus pages"),
        ProcFile(f"{node}/demote", "v6.18, 1 GiB: demote on this node"),
        ProcFile(f"{node}/demote_size", "v6.18, 1 GiB: the hstate's demote size"),
    )


# -- meminfo -----------------------------------------------------------------------------------

def meminfo_lines():
    """hugetlb_report_meminfo() and hugetlb_report_node_meminfo(): the default hstate's counts
    and size, and Hugetlb (every hstate's pool in kB)."""
    def default(m):
        return state(m).default_hstate

    def count(get):
        # a machine built without the plugin's machine hooks (a bare test machine) has no pool
        return lambda m: get(default(m)) if "hugetlb" in m.plugin_state else 0

    def node_count(i):
        return lambda m, n: default(m).node_counts(n)[i] if "hugetlb" in m.plugin_state else 0

    return (
        MeminfoLine("HugePages_Total", "the default hstate's nr_huge_pages",
                    count(lambda h: h.nr_huge_pages), node_value=node_count(0)),
        MeminfoLine("HugePages_Free", "the default hstate's free_huge_pages",
                    count(lambda h: h.free_huge_pages), node_value=node_count(1)),
        MeminfoLine("HugePages_Rsvd", "the default hstate's resv_huge_pages", count(lambda h: h.resv_huge_pages)),
        MeminfoLine("HugePages_Surp", "the default hstate's surplus_huge_pages",
                    count(lambda h: h.surplus_huge_pages), node_value=node_count(2)),
        MeminfoLine("Hugepagesize", "the default huge page size",
                    lambda m: default(m).size if "hugetlb" in m.plugin_state else 2 << 20),
        MeminfoLine("Hugetlb", "every hstate's pool: nr_huge_pages x size",
                    lambda m: state(m).total_pages() * 4096 if "hugetlb" in m.plugin_state else 0),
    )
