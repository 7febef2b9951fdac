"""The files of a cgroup: cgroup.* (kernel/cgroup/cgroup.c) and memory.* (mm/memcontrol.c).

v2 (cgroup2): cgroup.procs, cgroup.controllers, cgroup.subtree_control, cgroup.stat,
memory.current, memory.min, memory.low, memory.high, memory.max, memory.events,
memory.events.local, memory.stat, memory.swap.current, memory.swap.high, memory.swap.max,
memory.swap.events (the root has cgroup.* and memory.stat only).  v1 (the memory controller's own hierarchy): cgroup.procs,
tasks, memory.usage_in_bytes, memory.limit_in_bytes, memory.max_usage_in_bytes,
memory.failcnt, memory.stat, memory.use_hierarchy and the memory.memsw.* and memory.kmem.*
counters (kmem.limit_in_bytes limits on v5.14; v6.x parses a write and ignores it).

A limit is written as the kernel parses it (page_counter_memparse(): "max" — v1: "-1" — or a
size with an optional K, M, G, T, P or E suffix, rounded down to pages; anything else is EINVAL).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from memsim.profiles import GFP_KERNEL, ProfileTable
from memsim.vfs import VfsError
from memsim.vmstat import ITEM_BY_NAME

PAGE_SIZE = 4096


def _node(name: str) -> int:
    """The index of a node_stat_item or vm_event_item by its /proc/vmstat name."""
    return ITEM_BY_NAME[name][1]


def memparse(text: str) -> int:
    """memparse(): simple_strtoull (base 0) and a K/M/G/T/P/E suffix; ValueError when text is
    left after it (page_counter_memparse's ``*end != '\\0'``)."""
    s = text
    i = 0
    base = 10
    if s[:2].lower() == "0x" and len(s) > 2:
        base, i = 16, 2
    elif s[:1] == "0" and len(s) > 1 and s[1].isdigit():
        base, i = 8, 1
    digits = "0123456789abcdef"[:base]
    j = i
    while j < len(s) and s[j].lower() in digits:
        j += 1
    value = int(s[i:j], base) if j > i else 0
    rest = s[j:]
    shift = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
    if rest[:1].lower() in shift:
        value <<= shift[rest[0].lower()]
        rest = rest[1:]
    if rest:
        raise ValueError(text)
    return value & ((1 << 64) - 1)


def page_counter_memparse(data: bytes, max_word: str) -> int:
    """page_counter_memparse() after strstrip(): pages, or PAGE_COUNTER_MAX for ``max_word``."""
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    text = data.decode(errors="replace").strip()
    if text == max_word:
        return PAGE_COUNTER_MAX_PAGES
    try:
        nbytes = memparse(text)
    except ValueError:
        raise VfsError("EINVAL", f"{text!r} is not a size") from None
    return min(nbytes // PAGE_SIZE, PAGE_COUNTER_MAX_PAGES)


def parse_u64(data: bytes, what: str = "a number") -> int:
    """kstrtoull() of a cgroup file write (after strstrip()): EINVAL unless a decimal >= 0."""
    text = data.decode(errors="replace").strip()
    try:
        v = int(text, 10)
    except ValueError:
        raise VfsError("EINVAL", f"{text!r} is not {what}") from None
    if v < 0:
        raise VfsError("EINVAL", f"{text!r} is not {what}: it is negative")
    return v


def _show_max(pages: int) -> str:
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    return "max\n" if pages >= PAGE_COUNTER_MAX_PAGES else f"{pages * PAGE_SIZE}\n"


# -- memory.stat ------------------------------------------------------------------------------------

def _v2_keys_514() -> Tuple[Tuple[str, str, Any], ...]:
    """memory_stats[] and the events of v5.14's memory_stat_format() (memcg.md 7.1): (key,
    kind, item) with kind "state" (item a node_stat_item or memcg item; scaled by its unit),
    "count" (a state item printed as a plain count), "slab" (the sum) or "event"."""
    return (
        ("anon", "state", "nr_anon_pages"), ("file", "state", "nr_file_pages"),
        ("kernel_stack", "state", "nr_kernel_stack"), ("pagetables", "state", "nr_page_table_pages"),
        ("percpu", "state", "MEMCG_PERCPU_B"), ("sock", "state", "MEMCG_SOCK"),
        ("shmem", "state", "nr_shmem"), ("file_mapped", "state", "nr_mapped"),
        ("file_dirty", "state", "nr_dirty"), ("file_writeback", "state", "nr_writeback"),
        ("swapcached", "state", "nr_swapcached"),
        ("anon_thp", "state", "nr_anon_transparent_hugepages"),
        ("file_thp", "state", "nr_file_hugepages"), ("shmem_thp", "state", "nr_shmem_hugepages"),
        ("inactive_anon", "state", "nr_inactive_anon"), ("active_anon", "state", "nr_active_anon"),
        ("inactive_file", "state", "nr_inactive_file"), ("active_file", "state", "nr_active_file"),
        ("unevictable", "state", "nr_unevictable"),
        ("slab_reclaimable", "state", "nr_slab_reclaimable"),
        ("slab_unreclaimable", "state", "nr_slab_unreclaimable"), ("slab", "slab", None),
        ("workingset_refault_anon", "count", "workingset_refault_anon"),
        ("workingset_refault_file", "count", "workingset_refault_file"),
        ("workingset_activate_anon", "count", "workingset_activate_anon"),
        ("workingset_activate_file", "count", "workingset_activate_file"),
        ("workingset_restore_anon", "count", "workingset_restore_anon"),
        ("workingset_restore_file", "count", "workingset_restore_file"),
        ("workingset_nodereclaim", "count", "workingset_nodereclaim"),
        ("pgfault", "event", ("pgfault",)), ("pgmajfault", "event", ("pgmajfault",)),
        ("pgrefill", "event", ("pgrefill",)),
        ("pgscan", "event", ("pgscan_kswapd", "pgscan_direct")),
        ("pgsteal", "event", ("pgsteal_kswapd", "pgsteal_direct")),
        ("pgactivate", "event", ("pgactivate",)), ("pgdeactivate", "event", ("pgdeactivate",)),
        ("pglazyfree", "event", ("pglazyfree",)), ("pglazyfreed", "event", ("pglazyfreed",)),
        ("thp_fault_alloc", "event", ("thp_fault_alloc",)),
        ("thp_collapse_alloc", "event", ("thp_collapse_alloc",)),
    )


def _v2_keys_618() -> Tuple[Tuple[str, str, Any], ...]:
    """v6.x memory_stats[] then memcg_stat_format()'s events, as the 6.12-era mm/memcontrol.c
    lists them (CONFIG_ZSWAP, CONFIG_SWAP, CONFIG_TRANSPARENT_HUGEPAGE, no NUMA balancing;
    hugetlb only with memory_hugetlb_accounting, which memsim does not offer).  Items memsim
    has no source for (zswap, vmalloc, sec_pagetables, demotion) print 0."""
    k514 = {k[0]: k for k in _v2_keys_514()}
    zero = ("zero", None)
    return (
        k514["anon"], k514["file"], ("kernel", "state", "MEMCG_KMEM"), k514["kernel_stack"],
        k514["pagetables"], ("sec_pagetables",) + zero, k514["percpu"], k514["sock"],
        ("vmalloc",) + zero, k514["shmem"], ("zswap",) + zero, ("zswapped",) + zero,
        k514["file_mapped"], k514["file_dirty"], k514["file_writeback"], k514["swapcached"],
        k514["anon_thp"], k514["file_thp"], k514["shmem_thp"], k514["inactive_anon"],
        k514["active_anon"], k514["inactive_file"], k514["active_file"], k514["unevictable"],
        k514["slab_reclaimable"], k514["slab_unreclaimable"], k514["slab"],
        k514["workingset_refault_anon"], k514["workingset_refault_file"],
        k514["workingset_activate_anon"], k514["workingset_activate_file"],
        k514["workingset_restore_anon"], k514["workingset_restore_file"],
        k514["workingset_nodereclaim"],
        ("pgdemote_kswapd",) + zero, ("pgdemote_direct",) + zero, ("pgdemote_khugepaged",) + zero,
        ("pgscan", "event", ("pgscan_kswapd", "pgscan_direct")),
        ("pgsteal", "event", ("pgsteal_kswapd", "pgsteal_direct")),
        ("pgscan_kswapd", "event", ("pgscan_kswapd",)), ("pgscan_direct", "event", ("pgscan_direct",)),
        ("pgscan_khugepaged",) + zero, ("pgsteal_kswapd", "event", ("pgsteal_kswapd",)),
        ("pgsteal_direct", "event", ("pgsteal_direct",)), ("pgsteal_khugepaged",) + zero,
        k514["pgfault"], k514["pgmajfault"], k514["pgrefill"], k514["pgactivate"],
        k514["pgdeactivate"], k514["pglazyfree"], k514["pglazyfreed"],
        ("swpin_zero",) + zero, ("swpout_zero",) + zero, ("zswpin",) + zero, ("zswpout",) + zero,
        ("zswpwb",) + zero, k514["thp_fault_alloc"], k514["thp_collapse_alloc"],
        ("thp_swpout",) + zero, ("thp_swpout_fallback",) + zero,
    )


#: memory.stat (v2) keys per profile
V2_STAT_KEYS = ProfileTable("memcg.v2_stat_keys", {"v5.14": _v2_keys_514(), "v6.18": _v2_keys_618()})

#: v1 memory.stat: (key, kind, item) of memcg1_stat_format(); kinds as above plus "v1_rss"
V1_STAT_KEYS = ProfileTable("memcg.v1_stat_keys", {
    "v5.14": (("cache", "state", "nr_file_pages"), ("rss", "state", "nr_anon_pages"),
              ("rss_huge", "state", "nr_anon_transparent_hugepages"),
              ("shmem", "state", "nr_shmem"), ("mapped_file", "state", "nr_mapped"),
              ("dirty", "state", "nr_dirty"), ("writeback", "state", "nr_writeback"),
              ("swap", "state", "MEMCG_SWAP"),
              ("pgpgin", "event", ("pgpgin",)), ("pgpgout", "event", ("pgpgout",)),
              ("pgfault", "event", ("pgfault",)), ("pgmajfault", "event", ("pgmajfault",))),
    "v6.18": (("cache", "state", "nr_file_pages"), ("rss", "state", "nr_anon_pages"),
              ("rss_huge", "state", "nr_anon_transparent_hugepages"),
              ("shmem", "state", "nr_shmem"), ("mapped_file", "state", "nr_mapped"),
              ("dirty", "state", "nr_dirty"), ("writeback", "state", "nr_writeback"),
              ("workingset_refault_anon", "count", "workingset_refault_anon"),
              ("workingset_refault_file", "count", "workingset_refault_file"),
              ("swap", "state", "MEMCG_SWAP"), ("swapcached", "state", "nr_swapcached"),
              ("pgpgin", "event", ("pgpgin",)), ("pgpgout", "event", ("pgpgout",)),
              ("pgfault", "event", ("pgfault",)), ("pgmajfault", "event", ("pgmajfault",))),
})
V1_LRU_KEYS = (("inactive_anon", "nr_inactive_anon"), ("active_anon", "nr_active_anon"),
               ("inactive_file", "nr_inactive_file"), ("active_file", "nr_active_file"),
               ("unevictable", "nr_unevictable"))


def _item(name: str) -> int:
    from memsim.plugins.memcg import memcontrol as mc
    if name.startswith("MEMCG_"):
        return getattr(mc, name)
    return _node(name)


def _unit(item: int) -> int:
    """memcg_page_state_unit()."""
    from memsim.plugins.memcg import memcontrol as mc
    if item in (_node("nr_slab_reclaimable"), _node("nr_slab_unreclaimable"), mc.MEMCG_PERCPU_B):
        return 1
    if item == _node("nr_kernel_stack"):
        return 1024
    return PAGE_SIZE


def _state(memcg, item: int, local: bool) -> int:
    tree = memcg.host.stat_tree
    return tree.read_local(memcg.stats, item) if local else tree.read(memcg.stats, item)


def _event(memcg, names, local: bool) -> int:
    tree = memcg.host.stat_tree
    read = tree.read_event_local if local else tree.read_event
    return sum(max(0, read(memcg.stats, _node(n))) for n in names)


def _value(memcg, kind: str, item, local: bool = False) -> int:
    if kind == "zero":
        return 0
    if kind == "event":
        return _event(memcg, item, local)
    if kind == "slab":
        return sum(_state(memcg, _item(n), local) for n in ("nr_slab_reclaimable", "nr_slab_unreclaimable"))
    i = _item(item)
    v = _state(memcg, i, local)
    return v if kind == "count" else v * _unit(i)


def memory_stat_v2(h, cg) -> str:
    """memory_stat_format(): the reader's flush (per profile), then every key (``swapcached``
    only with the swapin-charge-first change: v5.13's NR_SWAPCACHE)."""
    memcg = cg.effective_memcg()
    memcg.host.stat_tree.stat_flush_for_read(memcg.stats, h.machine.clock.now)
    keys = V2_STAT_KEYS[h.profile]
    if not h.machine.patches.enabled("swapin-charge-first"):
        keys = [k for k in keys if k[0] != "swapcached"]    # v5.12: no NR_SWAPCACHE item
    return "".join(f"{key} {_value(memcg, kind, item)}\n" for key, kind, item in keys)


def memory_stat_v1(h, cg) -> str:
    """memcg1_stat_format(): local values, the LRU lists, the hierarchical limits, then total_*."""
    memcg = cg.memcg
    memcg.host.stat_tree.stat_flush_for_read(memcg.stats, h.machine.clock.now)
    # memcg1_stat_format(): "swap" only with memsw accounting (do_memsw_account())
    keys = [k for k in V1_STAT_KEYS[h.profile] if k[0] != "swap" or memcg.host.memsw]
    if not h.machine.patches.enabled("swapin-charge-first"):
        keys = [k for k in keys if k[0] != "swapcached"]    # v5.12: no NR_SWAPCACHE item
    lines: List[str] = []
    for key, kind, item in keys:
        lines.append(f"{key} {_value(memcg, kind, item, local=True)}")
    for key, item in V1_LRU_KEYS:
        lines.append(f"{key} {_value(memcg, 'state', item, local=True)}")
    mem_limit = memsw_limit = None
    m = memcg
    while m is not None and m.parent is not None:
        c = m.counter("memory")["max"]
        mem_limit = c if mem_limit is None else min(mem_limit, c)
        s = m.counter("memsw")["max"]
        memsw_limit = s if memsw_limit is None else min(memsw_limit, s)
        m = m.parent
    from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
    mem_limit = PAGE_COUNTER_MAX_PAGES if mem_limit is None else mem_limit
    memsw_limit = PAGE_COUNTER_MAX_PAGES if memsw_limit is None else memsw_limit
    lines.append(f"hierarchical_memory_limit {mem_limit * PAGE_SIZE}")
    if memcg.host.memsw:
        lines.append(f"hierarchical_memsw_limit {memsw_limit * PAGE_SIZE}")
    for key, kind, item in keys:
        lines.append(f"total_{key} {_value(memcg, kind, item)}")
    for key, item in V1_LRU_KEYS:
        lines.append(f"total_{key} {_value(memcg, 'state', item)}")
    return "\n".join(lines) + "\n"


# -- the files --------------------------------------------------------------------------------------

def _procs_show(h, cg) -> str:
    pids = sorted({t.tgid for t in cg.tasks.values()}) if h.version == 1 else \
        list(dict.fromkeys(t.tgid for t in cg.tasks.values()))
    return "".join(f"{p}\n" for p in pids)


def _tasks_show(h, cg) -> str:
    return "".join(f"{p}\n" for p in sorted(cg.tasks))


def _tasks_store(h, cg, data: bytes) -> None:
    """cgroup1_tasks_write(): one thread (0: the writer) moves, not its whole process."""
    task = _pid_task(h, data)
    h.attach_thread(task, cg)


def _pid_task(h, data: bytes) -> Any:
    """The task a pid written to cgroup.procs or tasks names (0: the writer): EINVAL for
    anything but a pid, ESRCH for a pid nobody has."""
    pid = parse_u64(data, "a pid")
    m = h.machine
    task = m.current.task if pid == 0 else m.tasks.get(pid)
    if task is None:
        raise VfsError("ESRCH", f"no process {pid}")
    return task


def _procs_store(h, cg, data: bytes) -> None:
    """__cgroup_procs_write(): a pid (0: the writer), EINVAL for anything else, ESRCH for a pid
    no process has; v2 refuses a cgroup that enables controllers for its children (EBUSY:
    no internal processes), except the root."""
    task = _pid_task(h, data)
    m = h.machine
    leader = next((t for t in m.thread_group(task) if t.pid == t.tgid), task)
    if h.version == 2 and cg.parent is not None and cg.subtree_control:
        raise VfsError("EBUSY", f"cgroup /{cg.path} enables controllers for its children")
    h.attach(leader, cg)


def _subtree_show(h, cg) -> str:
    return "memory\n" if "memory" in cg.subtree_control else "\n"


def _controllers_show(h, cg) -> str:
    return "memory\n" if cg.parent is None or "memory" in cg.parent.subtree_control else "\n"


def _subtree_store(h, cg, data: bytes) -> None:
    """cgroup_subtree_control_write(): "+memory" / "-memory"; EINVAL for another token, ENOENT
    when the cgroup itself lacks the controller, EBUSY with processes in a non-root cgroup
    (enable) or a child that enables it (disable)."""
    for tok in data.decode(errors="replace").split():
        if tok[:1] not in "+-" or tok[1:] != "memory":
            raise VfsError("EINVAL", f"{tok!r}: only +memory and -memory")
        if tok[0] == "+":
            if cg.parent is not None and "memory" not in cg.parent.subtree_control:
                raise VfsError("ENOENT", "the memory controller is not enabled for this cgroup")
            if cg.parent is not None and cg.tasks:
                raise VfsError("EBUSY", "the cgroup has processes")
            if "memory" in cg.subtree_control:
                continue
            cg.subtree_control.add("memory")
            for child in cg.children.values():
                _enable_memory(h, child)
        else:
            if "memory" not in cg.subtree_control:
                continue
            if any("memory" in c.subtree_control for c in cg.children.values()):
                raise VfsError("EBUSY", "a child cgroup enables memory")
            cg.subtree_control.discard("memory")
            for child in cg.children.values():
                _disable_memory(h, child)


def _enable_memory(h, cg) -> None:
    cg.memcg = h.host.css_alloc(cg.parent.effective_memcg(), cg)
    if h.reclaim is not None:
        h.reclaim.css_online(cg.memcg)          # its lruvecs
    populate(h, cg, memory_only=True)
    for t in cg.tasks.values():
        t.memcg = cg.memcg


def _disable_memory(h, cg) -> None:
    memcg = cg.memcg
    for name in list(cg_memory_files(h, cg)):
        h.fs.remove(f"{cg.path}/{name}")
    cg.memcg = None
    for t in cg.tasks.values():
        t.memcg = cg.effective_memcg()
    if memcg is not None:
        h.host.css_offline(memcg)


#: cgroup.stat counts each controller's csses (v6.12: nr_subsys_<ss>, nr_dying_subsys_<ss>) for
#: the controllers bound to cgroup2; the live 6.18 kernel (probe: cgroup2_stat.txt) prints them
#: around nr_dying_descendants.  memsim's only controller is memory.
STAT_SUBSYS = ProfileTable("memcg.cgroup_stat_subsys", {"v5.14": False, "v6.18": True})


def _stat_show(h, cg) -> str:
    """cgroup_stat_show(): nr_descendants, [nr_subsys_memory: the memory css and its online
    descendants' (0 without one)], nr_dying_descendants, [nr_dying_subsys_memory: the
    offline memcgs of the subtree not yet freed]."""
    if not STAT_SUBSYS[h.profile]:
        return f"nr_descendants {h.nr_descendants(cg)}\nnr_dying_descendants {h.nr_dying_descendants(cg)}\n"
    from memsim.plugins.memcg.memcontrol import is_descendant
    own = cg.memcg
    live = dying = 0
    for m in h.host.memcgs.values():
        c = m.cgroup
        under = c is cg or (c is not None and c.is_below(cg))
        if not under:
            continue
        if m.online:
            live += own is not None and is_descendant(m, own)
        else:
            dying += 1
    return (f"nr_descendants {h.nr_descendants(cg)}\nnr_subsys_memory {live}\n"
            f"nr_dying_descendants {h.nr_dying_descendants(cg)}\nnr_dying_subsys_memory {dying}\n")


def _counter_file(name: str, field: str, scale: int = PAGE_SIZE):
    def show(h, cg) -> str:
        return f"{cg.memcg.counter(name)[field] * scale}\n"
    return show


def _limit_show(name: str, field: str, max_word: str):
    def show(h, cg) -> str:
        v = cg.memcg.counter(name)[field]
        if max_word == "-1":
            from memsim.plugins.memcg.memcontrol import PAGE_COUNTER_MAX_PAGES
            return f"{min(v, PAGE_COUNTER_MAX_PAGES) * PAGE_SIZE}\n"
        return _show_max(v) if field in ("max", "high") else f"{v * PAGE_SIZE}\n"
    return show


def _v2_limit_store(field: str):
    def store(h, cg, data: bytes) -> None:
        pages = page_counter_memparse(data, "max")
        if field == "max":
            _set_max(h, cg.memcg, "memory", pages)
        elif field == "high":
            _set_high(h, cg.memcg, pages)
        else:
            cg.memcg.set_counter("memory", field, pages)
    return store


def _reclaim(h, memcg, nr_pages: int, may_swap: bool = True) -> int:
    """try_to_free_mem_cgroup_pages(memcg, nr_pages, GFP_KERNEL, may_swap) through the host's
    ``reclaim`` slot (0 without one)."""
    if h.host.reclaim is None:
        return 0
    return h.host.reclaim(memcg, nr_pages, GFP_KERNEL, may_swap)


def _set_high(h, memcg, pages: int) -> None:
    """memory_high_write(): the new high at once; while usage is above it, the stocks are
    drained once, then reclaim runs for the excess (GFP_KERNEL) until usage fits, the writer
    has a fatal signal, or 16 more rounds reclaimed nothing; no event, no OOM."""
    memcg.set_counter("memory", "high", pages)
    drained = False
    retries = 16                                        # MAX_RECLAIM_RETRIES
    cur = h.machine.current.task
    while True:
        usage = memcg.counter("memory")["usage"]
        if usage <= pages:
            break
        if cur is not None and cur.sigkill_pending:
            break                                       # signal_pending(current)
        if not drained:
            h.host.drain_all_stock(memcg)
            drained = True
            continue
        if not _reclaim(h, memcg, usage - pages):
            if retries == 0:
                break
            retries -= 1


def _v2_swap_max_store(h, cg, data: bytes) -> None:
    """swap_max_write(): the swap counter's max ("max" or a size); no reclaim."""
    cg.memcg.set_counter("swap", "max", page_counter_memparse(data, "max"))


def _v2_swap_high_store(h, cg, data: bytes) -> None:
    """swap_high_write() (v5.8+): the swap counter's high ("max" or a size,
    page_counter_set_high); no reclaim -- a task charging above it is throttled on its way
    back to user mode (mem_cgroup_handle_over_high, memory.swap.events ``high``)."""
    cg.memcg.set_counter("swap", "high", page_counter_memparse(data, "max"))


def _swap_events_show(h, cg) -> str:
    """swap_events_show(): the hierarchical memory.swap.events counts."""
    ev = cg.memcg.swap_events()
    return f"high {ev['high']}\nmax {ev['max']}\nfail {ev['fail']}\n"


def _set_max(h, memcg, counter: str, pages: int) -> None:
    """memory_max_write(): the new max at once; while usage is above it, the stocks are drained
    once, then reclaim runs for the excess (GFP_KERNEL) until 16 rounds reclaimed nothing
    (nr_reclaims), then the memcg OOM killer runs (memory.events ``oom``) until usage fits,
    nothing is left to kill, or the writer itself has a fatal signal."""
    from memsim.plugins.memcg.memcontrol import MEMORY_EVENT_NAMES
    memcg.set_counter(counter, "max", pages)
    drained = False
    nr_reclaims = 16                                    # MAX_RECLAIM_RETRIES
    cur = h.machine.current.task
    while memcg.counter(counter)["usage"] > pages:
        if cur is not None and cur.sigkill_pending:
            break                                       # signal_pending(current)
        if not drained:
            h.host.drain_all_stock(memcg)
            drained = True
            continue
        if nr_reclaims:
            if not _reclaim(h, memcg, memcg.counter(counter)["usage"] - pages):
                nr_reclaims -= 1
            continue
        h.host.memory_event_py(memcg, MEMORY_EVENT_NAMES.index("oom"))
        if h.host.oom is None or not h.host.oom(memcg, GFP_KERNEL, 0):
            break


#: __memory_events_show()'s lines: v5.17 added oom_group_kill, v6.14 sock_throttled
EVENT_KEYS = ProfileTable("memcg.memory_events", {
    "v5.14": ("low", "high", "max", "oom", "oom_kill"),
    "v6.18": ("low", "high", "max", "oom", "oom_kill", "oom_group_kill", "sock_throttled")})


def _events_show(local: bool):
    def show(h, cg) -> str:
        ev = cg.memcg.memory_events(local)
        return "".join(f"{k} {ev[k]}\n" for k in EVENT_KEYS[h.profile])
    return show


#: memory.reclaim (v5.19: proactive reclaim of a cgroup)
HAS_MEMORY_RECLAIM = ProfileTable("memcg.memory_reclaim", {"v5.14": False, "v6.18": True})


def _memory_reclaim_store(h, cg, data: bytes) -> None:
    """memory_reclaim() -> user_proactive_reclaim(): a size (memparse, in pages) and options
    (``swappiness=N`` 0..200, ``swappiness=max``; anything else EINVAL), then
    try_to_free_mem_cgroup_pages() in batches of a quarter of what is left, draining the LRU
    batches before the last try, until the size is reclaimed: EAGAIN once 16 more rounds
    reclaimed nothing, EINTR on a fatal signal.  memsim's reclaim has one swappiness
    (vm.swappiness): the option is checked, not applied -- without swap it changes nothing."""
    text = data.decode(errors="replace").strip()
    head, _, opts = text.partition(" ")
    if not head:
        raise VfsError("EINVAL", "memory.reclaim takes a size")
    try:
        nbytes = memparse(head)
    except ValueError:
        raise VfsError("EINVAL", f"{head!r} is not a size") from None
    for opt in opts.split():
        key, _, value = opt.partition("=")
        if key != "swappiness":
            raise VfsError("EINVAL", f"unknown option {opt!r}")
        if value != "max":
            try:
                sw = int(value, 10)
            except ValueError:
                raise VfsError("EINVAL", f"swappiness {value!r}") from None
            if not 0 <= sw <= 200:
                raise VfsError("EINVAL", f"swappiness {sw} is not in 0..200")
    nr_to_reclaim = nbytes // PAGE_SIZE
    memcg = cg.memcg
    retries = 16                                        # MAX_RECLAIM_RETRIES
    cur = h.machine.current.task
    reclaimed = 0
    while reclaimed < nr_to_reclaim:
        if cur is not None and cur.sigkill_pending:
            raise VfsError("EINTR", "a fatal signal is pending")
        if not retries:
            h.machine.physmem.lru_add_drain_py(True)   # lru_add_drain_all(): the last try
        got = _reclaim(h, memcg, (nr_to_reclaim - reclaimed) // 4)
        if not got:
            if not retries:
                raise VfsError("EAGAIN", f"reclaimed {reclaimed} of {nr_to_reclaim} pages")
            retries -= 1
        reclaimed += got


def _oom_group_store(h, cg, data: bytes) -> None:
    """memory_oom_group_write(): kstrtoint (base 0), then only 0 or 1."""
    text = data.decode(errors="replace").strip()
    try:
        v = int(text, 0)
    except ValueError:
        raise VfsError("EINVAL", f"{text!r} is not a number") from None
    if v not in (0, 1):
        raise VfsError("EINVAL", "memory.oom.group takes 0 or 1")
    cg.oom_group = bool(v)


def _v1_limit_store(counter: str):
    def store(h, cg, data: bytes) -> None:
        """mem_cgroup_write() RES_LIMIT -> mem_cgroup_resize_max(): memory.limit must stay at
        or below memsw.limit (EINVAL); while usage is above the new limit the stocks are
        drained once, then reclaim runs one page at a time (may_swap unless it is the memsw
        limit), and a round that reclaims nothing fails the write with EBUSY."""
        pages = page_counter_memparse(data, "-1")
        memcg = cg.memcg
        if counter == "memory" and h.host.memsw and pages > memcg.counter("memsw")["max"]:
            raise VfsError("EINVAL", "memory.limit_in_bytes above memory.memsw.limit_in_bytes")
        if counter == "memsw" and pages < memcg.counter("memory")["max"]:
            raise VfsError("EINVAL", "memory.memsw.limit_in_bytes below memory.limit_in_bytes")
        drained = False
        while memcg.counter(counter)["usage"] > pages:  # page_counter_set_max(): -EBUSY
            if not drained:
                h.host.drain_all_stock(memcg)
                drained = True
                continue
            if not _reclaim(h, memcg, 1, counter != "memsw"):
                raise VfsError("EBUSY", "usage is above the new limit and reclaim freed nothing")
        enlarge = pages > memcg.counter(counter)["max"]
        memcg.set_counter(counter, "max", pages)
        if enlarge:
            h.oom_recover(memcg)            # memcg1_oom_recover(): OOM waiters try again
    return store


#: memory.kmem.limit_in_bytes: v5.14 sets the kmem counter's max (memcg_update_kmem_max; the
#: deprecated knob still limits); since v6.1 a write is parsed and ignored, and the file reads
#: unlimited (memcg_errno.txt `errno.kmem_limit_10M OK ... read=9223372036854771712`)
KMEM_LIMIT_WORKS = ProfileTable("memcg.kmem_limit_works", {"v5.14": True, "v6.18": False})


def _kmem_limit_store(h, cg, data: bytes) -> None:
    """mem_cgroup_write() _KMEM / RES_LIMIT: page_counter_memparse() (EINVAL), then v5.14's
    page_counter_set_max() of the kmem counter (EBUSY below usage) or, v6.x, nothing."""
    pages = page_counter_memparse(data, "-1")
    if not KMEM_LIMIT_WORKS[h.profile]:
        return
    memcg = cg.memcg
    if memcg.counter("kmem")["usage"] > pages:
        raise VfsError("EBUSY", "kmem usage is above the new limit")
    memcg.set_counter("kmem", "max", pages)


def _reset_store(counter: str, field: str):
    def store(h, cg, data: bytes) -> None:
        """mem_cgroup_reset(): any write resets the watermark (to usage) or failcnt."""
        memcg = cg.memcg
        if field == "watermark":
            memcg.set_counter(counter, "watermark", memcg.counter(counter)["usage"])
        else:
            memcg.set_counter(counter, "failcnt", 0)
    return store


def _v1_usage_show(counter: str):
    def show(h, cg) -> str:
        """mem_cgroup_usage(): the root's from statistics (memcg.md 3.2)."""
        memcg = cg.memcg
        if memcg.parent is None:
            tree = memcg.host.stat_tree
            tree.flush(memcg.stats)
            pages = (tree.read(memcg.stats, _node("nr_file_pages"))
                     + tree.read(memcg.stats, _node("nr_anon_pages")))
            if counter == "memsw":
                from memsim.plugins.memcg import memcontrol as mc
                pages += tree.read(memcg.stats, mc.MEMCG_SWAP)
            return f"{pages * PAGE_SIZE}\n"
        return f"{memcg.counter(counter)['usage'] * PAGE_SIZE}\n"
    return show


def _use_hierarchy_store(h, cg, data: bytes) -> None:
    text = data.decode(errors="replace").strip()
    if text == "1":
        return
    if text == "0":
        raise VfsError("EINVAL", "use_hierarchy=0 is not supported")
    raise VfsError("EINVAL", f"{text!r}")


def cg_memory_files(h, cg) -> Dict[str, Tuple[Any, Any]]:
    """name -> (show(h, cg), store(h, cg, data) or None) of the memory controller's files."""
    root = cg.parent is None
    if h.version == 2:
        files: Dict[str, Tuple[Any, Any]] = {"memory.stat": (memory_stat_v2, None)}
        if HAS_MEMORY_RECLAIM[h.profile]:
            files["memory.reclaim"] = (None, _memory_reclaim_store)
        if not root:
            files.update({
                "memory.current": (_counter_file("memory", "usage"), None),
                "memory.min": (_limit_show("memory", "min", "max"), _v2_limit_store("min")),
                "memory.low": (_limit_show("memory", "low", "max"), _v2_limit_store("low")),
                "memory.high": (_limit_show("memory", "high", "max"), _v2_limit_store("high")),
                "memory.max": (_limit_show("memory", "max", "max"), _v2_limit_store("max")),
                "memory.events": (_events_show(False), None),
                "memory.events.local": (_events_show(True), None),
                "memory.oom.group": (lambda h, cg: f"{int(getattr(cg, 'oom_group', False))}\n",
                                     _oom_group_store),
                # swap_files[] in the kernel's order (memsim offers no memory.peak, so no
                # v6.5+ memory.swap.peak either)
                "memory.swap.current": (_counter_file("swap", "usage"), None),
                "memory.swap.high": (_limit_show("swap", "high", "max"), _v2_swap_high_store),
                "memory.swap.max": (_limit_show("swap", "max", "max"), _v2_swap_max_store),
                "memory.swap.events": (_swap_events_show, None),
            })
        return files
    files = {
        "memory.usage_in_bytes": (_v1_usage_show("memory"), None),
        "memory.limit_in_bytes": (_limit_show("memory", "max", "-1"), _v1_limit_store("memory")),
        "memory.max_usage_in_bytes": (_counter_file("memory", "watermark"), _reset_store("memory", "watermark")),
        "memory.failcnt": (_counter_file("memory", "failcnt", 1), _reset_store("memory", "failcnt")),
        "memory.stat": (memory_stat_v1, None),
        "memory.use_hierarchy": (lambda h, cg: "1\n", _use_hierarchy_store),
        "memory.kmem.usage_in_bytes": (_counter_file("kmem", "usage"), None),
        "memory.kmem.limit_in_bytes": (_limit_show("kmem", "max", "-1"), _kmem_limit_store),
        "memory.kmem.max_usage_in_bytes": (_counter_file("kmem", "watermark"), _reset_store("kmem", "watermark")),
        "memory.kmem.failcnt": (_counter_file("kmem", "failcnt", 1), _reset_store("kmem", "failcnt")),
    }
    from memsim.plugins.memcg.v1files import v1_files
    files.update(v1_files(h, cg))
    if h.host.memsw:
        files.update({
            "memory.memsw.usage_in_bytes": (_v1_usage_show("memsw"), None),
            "memory.memsw.limit_in_bytes": (_limit_show("memsw", "max", "-1"), _v1_limit_store("memsw")),
            "memory.memsw.max_usage_in_bytes": (_counter_file("memsw", "watermark"), _reset_store("memsw", "watermark")),
            "memory.memsw.failcnt": (_counter_file("memsw", "failcnt", 1), _reset_store("memsw", "failcnt")),
        })
    return files


def populate(h, cg, memory_only: bool = False) -> None:
    """The files of a new cgroup (cgroup_addrm_files / css_populate_dir)."""
    def add(name, show, store):
        h.fs.create_file(f"{cg.path}/{name}" if cg.path else name,
                         show=(lambda c, show=show: show(h, c)) if show else None,
                         store=(lambda c, data, store=store: store(h, c, data)) if store else None,
                         private=cg, plugin="memcg")
    if not memory_only:
        add("cgroup.procs", _procs_show, _procs_store)
        if h.version == 2:
            add("cgroup.controllers", _controllers_show, None)
            add("cgroup.subtree_control", _subtree_show, _subtree_store)
            add("cgroup.stat", _stat_show, None)
        else:
            from memsim.plugins.memcg.v1files import knobs, v1_core_files, v1_root_files
            knobs(cg)                       # mem_cgroup_css_alloc(): what it inherits, now
            add("tasks", _tasks_show, _tasks_store)
            for name, (show, store) in v1_core_files(h, cg).items():
                add(name, show, store)
            if cg.parent is None:
                for name, (show, store) in v1_root_files(h, cg).items():
                    add(name, show, store)
    if cg.memcg is not None:
        for name, (show, store) in cg_memory_files(h, cg).items():
            add(name, show, store)
