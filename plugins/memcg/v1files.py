"""The cgroup v1 memory controller's other knobs (mm/memcontrol-v1.c, kernel/cgroup/cgroup-v1.c).

The files a v1 memory cgroup has besides its counters and memory.stat (files.py), as the live
6.18 kernel lists them (memcg_errno.txt `errno.ls_child`) and answers writes to them
(`errno.*` lines; kernel-6.18-observed.md "Deprecated v1 knobs"):

* ``memory.swappiness`` (0-200, EINVAL above; the root's is vm.swappiness), ``memory.soft_limit_in_bytes``
  (a size or -1), ``memory.oom_control`` (oom_kill_disable 0/1, EINVAL otherwise and on the root;
  reads oom_kill_disable, under_oom, oom_kill), ``memory.move_charge_at_immigrate`` (0; memsim
  moves no charges, so 1-3 are EINVAL on both profiles -- v6.x refuses them too),
  ``memory.force_empty`` (write-only: drain the stocks and reclaim until the memcg is empty or 16
  rounds reclaimed nothing; EINVAL on the root), ``memory.kmem.tcp.*`` (the socket-buffer
  counter: memsim has no sockets, so its usage stays 0; its limit is kept),
  ``memory.kmem.slabinfo`` (empty since v5.9), ``memory.numa_stat`` (the LRU pages of the memcg
  and of its subtree, per node), ``memory.pressure_level`` (read empty, written
  EINVAL), ``cgroup.event_control`` (write-only: memsim has no eventfd, so a registration fails:
  EBADF for an fd that is not open, EINVAL otherwise), ``cgroup.clone_children`` and
  ``notify_on_release`` (0 or 1).

Not modelled: soft-limit reclaim (kswapd's soft limit tree) and the per-memcg swappiness in
reclaim (memsim's reclaim reads vm.swappiness); both values are kept and read back.  The
kernel's dmesg deprecation warnings for these knobs are not printed: memsim keeps no kernel log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from memsim.vfs import VfsError

PAGE_SIZE = 4096
#: mem_cgroup_swappiness_write(): MAX_SWAPPINESS
MAX_SWAPPINESS = 200


@dataclass
class V1Knobs:
    """The v1 knobs of one memory cgroup (the kernel keeps them in struct mem_cgroup)."""
    swappiness: int = 60
    soft_limit: int = -1                    # pages; -1: PAGE_COUNTER_MAX
    oom_kill_disable: bool = False
    clone_children: bool = False
    notify_on_release: bool = False
    tcp: Dict[str, int] = field(default_factory=lambda: {"usage": 0, "max": -1, "watermark": 0,
                                                         "failcnt": 0})


def knobs(cg: Any) -> V1Knobs:
    """The cgroup's knobs (made at mkdir, files.populate; a child inherits its parent's swappiness --
    mem_cgroup_swappiness(parent), vm.swappiness for the root -- and oom_kill_disable, as
    mem_cgroup_css_alloc() does)."""
    k = getattr(cg, "v1", None)
    if k is None:
        parent = knobs(cg.parent) if cg.parent is not None else None
        k = V1Knobs()
        if parent is not None:
            k.swappiness = (cg.hierarchy.machine.vmscan.swappiness if cg.parent.parent is None
                            else parent.swappiness)
            k.oom_kill_disable = parent.oom_kill_disable
        cg.v1 = k
    return k


def _u64(data: bytes) -> int:
    from memsim.plugins.memcg.files import parse_u64
    return parse_u64(data)


# -- memory.swappiness -----------------------------------------------------------------------------

def _swappiness_show(h, cg) -> str:
    """mem_cgroup_swappiness(): the root's (and cgroup v2's) is vm.swappiness."""
    if cg.parent is None:
        return f"{h.machine.vmscan.swappiness}\n"
    return f"{knobs(cg).swappiness}\n"


def _swappiness_store(h, cg, data: bytes) -> None:
    """mem_cgroup_swappiness_write(): 0..200; the root's write sets vm.swappiness."""
    v = _u64(data)
    if v > MAX_SWAPPINESS:
        raise VfsError("EINVAL", f"swappiness {v} is above {MAX_SWAPPINESS}")
    if cg.parent is None:
        h.machine.vmscan.swappiness = v
    else:
        knobs(cg).swappiness = v


# -- memory.soft_limit_in_bytes ---------------------------------------------------------------------

def _soft_limit_show(h, cg) -> str:
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    pages = knobs(cg).soft_limit
    return f"{(PAGE_COUNTER_MAX_PAGES if pages < 0 else pages) * PAGE_SIZE}\n"


def _soft_limit_store(h, cg, data: bytes) -> None:
    """mem_cgroup_write() RES_SOFT_LIMIT: page_counter_memparse() with "-1"."""
    from memsim.plugins.memcg.files import page_counter_memparse
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    pages = page_counter_memparse(data, "-1")
    knobs(cg).soft_limit = -1 if pages >= PAGE_COUNTER_MAX_PAGES else pages


# -- memory.oom_control -----------------------------------------------------------------------------

def _oom_control_show(h, cg) -> str:
    """mem_cgroup_oom_control_read(): oom_kill_disable, under_oom, oom_kill."""
    k = knobs(cg)
    kills = cg.memcg.memory_events()["oom_kill"] if cg.parent is not None else 0
    return (f"oom_kill_disable {int(k.oom_kill_disable)}\nunder_oom {int(cg.memcg.under_oom > 0)}\n"
            f"oom_kill {kills}\n")


def _oom_control_store(h, cg, data: bytes) -> None:
    """mem_cgroup_oom_control_write(): 0 or 1, not on the root (EINVAL); turning it off wakes
    the tasks waiting in the memcg's OOM (memcg1_oom_recover)."""
    v = _u64(data)
    if cg.parent is None or v not in (0, 1):
        raise VfsError("EINVAL", "oom_control takes 0 or 1, and not on the root")
    knobs(cg).oom_kill_disable = bool(v)
    if not v:
        h.oom_recover(cg.memcg)


# -- memory.move_charge_at_immigrate ------------------------------------------------------------------

def _move_charge_store(h, cg, data: bytes) -> None:
    """mem_cgroup_move_charge_write(): v6.x accepts only 0 (the feature is gone); v5.14 would
    take 1-3 and move the task's charges at attach, which memsim does not model, so it
    refuses them as v6.x does rather than accept a move it would not make."""
    v = _u64(data)
    if v != 0:
        raise VfsError("EINVAL", "move_charge_at_immigrate is deprecated: only 0")


# -- memory.force_empty -------------------------------------------------------------------------------

def _force_empty_store(h, cg, data: bytes) -> None:
    """mem_cgroup_force_empty_write(): not on the root (EINVAL); any text: drain this CPU's
    LRU batches and every stock of the memcg, then reclaim a page at a time until the memcg
    is empty or 16 rounds freed nothing (mem_cgroup_force_empty)."""
    from memsim.plugins.memcg.files import _reclaim
    if cg.parent is None:
        raise VfsError("EINVAL", "force_empty of the root")
    memcg = cg.memcg
    h.machine.physmem.lru_add_drain_py(True)        # lru_add_drain_all()
    h.host.drain_all_stock(memcg)
    retries = 16
    while retries and memcg.counter("memory")["usage"]:
        if not _reclaim(h, memcg, 1, True):         # try_to_free_mem_cgroup_pages()
            retries -= 1


# -- memory.kmem.tcp.* -------------------------------------------------------------------------------

def _tcp_show(field_: str, scale: int = PAGE_SIZE):
    def show(h, cg) -> str:
        from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
        v = knobs(cg).tcp[field_]
        if field_ == "max" and v < 0:
            v = PAGE_COUNTER_MAX_PAGES
        return f"{v * scale}\n"
    return show


def _tcp_limit_store(h, cg, data: bytes) -> None:
    """memcg_update_tcp_max(): the limit is kept (memcg_errno.txt `errno.kmem_tcp_limit_10M`)."""
    from memsim.plugins.memcg.files import page_counter_memparse
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    pages = page_counter_memparse(data, "-1")
    knobs(cg).tcp["max"] = -1 if pages >= PAGE_COUNTER_MAX_PAGES else pages


def _tcp_reset(field_: str):
    def store(h, cg, data: bytes) -> None:
        tcp = knobs(cg).tcp
        tcp[field_] = tcp["usage"] if field_ == "watermark" else 0
    return store


# -- cgroup.event_control, memory.pressure_level, cgroup core files ------------------------------

def _event_control_store(h, cg, data: bytes) -> None:
    """memcg_write_event_control(): "<event_fd> <control_fd> [args]".  memsim has no eventfd:
    a malformed line or an fd that is open (not an eventfd) is EINVAL, an fd that is not
    open EBADF."""
    parts = data.decode(errors="replace").split()
    try:
        efd, cfd = int(parts[0], 10), int(parts[1], 10)
    except (IndexError, ValueError):
        raise VfsError("EINVAL", "cgroup.event_control takes '<event_fd> <control_fd> [args]'") from None
    task = h.machine.current.task
    files = getattr(task, "files", None) if task is not None else None
    if files is None or efd not in files.fdt or cfd not in files.fdt:
        raise VfsError("EBADF", f"fd {efd} or {cfd} is not open")
    raise VfsError("EINVAL", f"fd {efd} is not an eventfd")


#: numa_stat_show()'s lines: name and the LRU lists they sum
_NUMA_STATS = (("total", (0, 1, 2, 3, 4)), ("file", (2, 3)), ("anon", (0, 1)), ("unevictable", (4,)))


def _numa_stat_show(h, cg) -> str:
    """memcg_numa_stat_show(): for each of total, file, anon and unevictable, the pages on the
    memcg's own LRU lists and per node ("total=N N0=N ..."), then the same over its subtree
    ("hierarchical_..."); pages, not bytes.  memsim reads its lruvecs' list sizes, which the
    kernel's lruvec counters track."""
    reclaim = getattr(h, "reclaim", None)
    if reclaim is None:
        raise VfsError("EINVAL", "memory.numa_stat needs the memcg lruvecs")
    memcg = cg.memcg
    nodes = range(h.machine.physmem.nr_nodes)
    own = [reclaim.lru_sizes(memcg, nid) for nid in nodes]
    subtree = [h.host.get(i) for i in reclaim.mem_cgroup_iter(memcg)]
    tree = [[0] * 5 for _ in nodes]
    for m in subtree:
        if m is None:
            continue
        for nid in nodes:
            for i, n in enumerate(reclaim.lru_sizes(m, nid)):
                tree[nid][i] += n
    out = []
    for prefix, per_node in (("", own), ("hierarchical_", tree)):
        for name, lists in _NUMA_STATS:
            counts = [sum(per_node[nid][i] for i in lists) for nid in nodes]
            out.append(f"{prefix}{name}={sum(counts)}"
                       + "".join(f" N{nid}={c}" for nid, c in zip(nodes, counts)) + "\n")
    return "".join(out)


def _flag_show(name: str):
    def show(h, cg) -> str:
        return f"{int(getattr(knobs(cg), name))}\n"
    return show


def _flag_store(name: str):
    def store(h, cg, data: bytes) -> None:
        setattr(knobs(cg), name, bool(_u64(data)))
    return store


def v1_files(h, cg) -> Dict[str, Tuple[Optional[Callable], Optional[Callable]]]:
    """name -> (show, store) of the v1 knobs of a memory cgroup (the root's included)."""
    return {
        "memory.swappiness": (_swappiness_show, _swappiness_store),
        "memory.soft_limit_in_bytes": (_soft_limit_show, _soft_limit_store),
        "memory.oom_control": (_oom_control_show, _oom_control_store),
        "memory.move_charge_at_immigrate": (lambda h, cg: "0\n", _move_charge_store),
        "memory.force_empty": (None, _force_empty_store),
        "memory.kmem.slabinfo": (lambda h, cg: "", None),
        "memory.kmem.tcp.usage_in_bytes": (_tcp_show("usage"), None),
        "memory.kmem.tcp.limit_in_bytes": (_tcp_show("max"), _tcp_limit_store),
        "memory.kmem.tcp.max_usage_in_bytes": (_tcp_show("watermark"), _tcp_reset("watermark")),
        "memory.kmem.tcp.failcnt": (_tcp_show("failcnt", 1), _tcp_reset("failcnt")),
        "memory.pressure_level": (lambda h, cg: "", None),
        "memory.numa_stat": (_numa_stat_show, None),
        "cgroup.event_control": (None, _event_control_store),
    }


def v1_core_files(h, cg) -> Dict[str, Tuple[Optional[Callable], Optional[Callable]]]:
    """cgroup1_base_files: cgroup.clone_children and notify_on_release."""
    return {"cgroup.clone_children": (_flag_show("clone_children"), _flag_store("clone_children")),
            "notify_on_release": (_flag_show("notify_on_release"), _flag_store("notify_on_release"))}


def v1_root_files(h, cg) -> Dict[str, Tuple[Optional[Callable], Optional[Callable]]]:
    """cgroup1_base_files of the root only: release_agent (the path run when a cgroup with
    notify_on_release empties: memsim runs no helper, the path is kept) and
    cgroup.sane_behavior (0)."""
    def agent_store(h, cg, data: bytes) -> None:
        cg.release_agent = data.decode(errors="replace").strip()
    return {"release_agent": (lambda h, cg: f"{getattr(cg, 'release_agent', '')}\n", agent_store),
            "cgroup.sane_behavior": (lambda h, cg: "0\n", None)}
