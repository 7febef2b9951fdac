"""--check over the memory cgroups (memcg.md 2 and 4): every charged page names a live memcg,
and each memcg's ``memory`` counter holds what is charged to it and its descendants: its user
pages, its kmem pages (those of its own obj_cgroup: a reparented one's were charged to the
memcg it was made for), its stocks (slab bytes are charged in pages through the object stocks
and are not counted, so this is a lower bound); no memcg was freed with pages still on its
lruvecs; and an online memcg's private id is alive (its online id reference)."""
from __future__ import annotations

from typing import Any, Dict, List


def check(h: Any, full: bool) -> List[str]:
    """The whole check walks every page: it runs with the full checks (the run's end, and
    ``--check`` of a sweep), not after every slice."""
    if not full:
        return []
    host = h.host
    charged, bad = host.charged_totals()
    if host.kmem is not None:               # kmem pages, where their charge went
        for mid, n in host.kmem.kmem_pages_by_memcg(unreparented=True).items():
            charged[mid] = charged.get(mid, 0) + n
    out: List[str] = [f"memcg: page {pfn:#x} is charged to a memcg that was freed" for pfn in bad[:10]]
    out += [f"memcg: memcg {mid} was freed with {n} pages on its lruvecs"
            for mid, n in getattr(h, "lruvec_leaks", [])]
    out += [f"memcg: memcg {m.id} ({_path(m)}) is online but its private id was removed"
            for m in host.memcgs.values() if m.online and m.id_refs < 1]
    stocks: Dict[int, int] = {}
    for cpu in range(host.ncpus):
        for mid, n in host.stocks_of(cpu):
            stocks[mid] = stocks.get(mid, 0) + n
    if host.v1:
        return out                      # v1 counters also hold kmem; the sums differ by it
    # bottom-up: a memcg's usage = its pages + its stock + its children's usage
    expect: Dict[int, int] = {}
    for m in sorted(host.memcgs.values(), key=lambda m: -_depth(m)):
        if m.parent is None:
            continue
        want = charged.get(m.id, 0) + stocks.get(m.id, 0) + expect.pop(m.id, 0)
        usage = m.counter("memory")["usage"]
        if usage < want:
            out.append(f"memcg: memcg {m.id} ({_path(m)}) has usage {usage} pages but holds "
                       f"{want} (its pages, stock and children)")
        expect[m.parent.id] = expect.get(m.parent.id, 0) + usage
    return out


def _depth(m) -> int:
    d = 0
    while m.parent is not None:
        d += 1
        m = m.parent
    return d


def _path(m) -> str:
    cg = m.cgroup
    return f"/{cg.path}" if cg is not None else "?"
