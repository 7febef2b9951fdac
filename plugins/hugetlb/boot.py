"""Boot-time huge page pools: the ``hugepages=``, ``hugepagesz=`` and ``default_hugepagesz=``
kernel parameters (mm/hugetlb.c hugepages_setup, hugepagesz_setup, default_hugepagesz_setup)
and hugetlb_hstate_alloc_pages().

The workload's ``machine`` keys of the same names are written onto the machine's kernel command
line (memsim.boot.BootOptions) in ``memsim_machine_configure``; once the machine exists they are
read back from it, so ``/proc/cmdline`` and the pools agree.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from memsim.errors import InvalidValue
from memsim.registry import MachineKey, Param

MiB, GiB = 1 << 20, 1 << 30
#: x86-64's huge page sizes (PMD and, with pdpe1gb, PUD)
SIZES = (2 * MiB, 1 * GiB)
_NAMES = {2 * MiB: "2M", 1 * GiB: "1G"}


def _check_size(value: int) -> int:
    if value not in SIZES:
        raise InvalidValue(f"{value} bytes is not a huge page size of x86-64",
                           "use 2 MiB or 1 GiB")
    return value


def parse_hugepages(text: str, nr_nodes: Optional[int] = None) -> Tuple[int, Dict[int, int]]:
    """hugepages_setup(): "N" (pages, spread over the nodes) or "node:N,node:N" (pages per
    node).  Returns (total, {node: pages}); the per-node map is empty for the plain form."""
    text = str(text).strip()
    if text.isdigit():
        return int(text), {}
    per_node: Dict[int, int] = {}
    for part in text.split(","):
        node, colon, count = part.strip().partition(":")
        if not colon or not node.isdigit() or not count.isdigit():
            raise InvalidValue(f"hugepages={text!r} is neither a count nor node:count pairs",
                               "write a number (512) or node:count pairs (\"0:256,1:256\")")
        nid = int(node)
        if nr_nodes is not None and nid >= nr_nodes:
            raise InvalidValue(f"hugepages={text!r} names node {nid}, but the machine has "
                               f"{nr_nodes} node{'s' if nr_nodes != 1 else ''}",
                               f"use nodes 0 to {nr_nodes - 1}")
        per_node[nid] = per_node.get(nid, 0) + int(count)
    return sum(per_node.values()), per_node


def _check_hugepages(value: str) -> str:
    parse_hugepages(value)
    return value


def machine_keys():
    """The ``machine`` keys: one boot pool (``hugepages`` of size ``hugepagesz``) and the
    default huge page size."""
    return (
        MachineKey(Param("hugepages", "str", "huge pages allocated at boot (hugepages=): a count, spread "
                         "over the nodes, or node:count pairs such as \"0:256,1:256\"; of size "
                         "hugepagesz", check=_check_hugepages)),
        MachineKey(Param("hugepagesz", "size", "the size of the boot pool 'hugepages' fills (hugepagesz=): "
                         "2 MiB or 1 GiB; default: default_hugepagesz", check=_check_size)),
        MachineKey(Param("default_hugepagesz", "size", "the default huge page size (default_hugepagesz=): "
                         "/proc/sys/vm/nr_hugepages*, the HugePages_* lines of /proc/meminfo and "
                         "MAP_HUGETLB without a size", default="2 MiB", check=_check_size)),
    )


def configure(options, config) -> None:
    """Write the keys onto the kernel command line, in the order the kernel wants them."""
    settings = config.machine.settings
    given = config.machine.given_settings
    if "default_hugepagesz" in given:
        options.add_param("default_hugepagesz", _NAMES[settings["default_hugepagesz"]])
    if "hugepagesz" in given:
        options.add_param("hugepagesz", _NAMES[settings["hugepagesz"]])
    if "hugepages" in given:
        options.add_param("hugepages", str(settings["hugepages"]).strip())


def _size_of(text: str) -> int:
    """memparse() of a hugepagesz= value."""
    text = text.strip().upper()
    units = {"K": 1 << 10, "M": MiB, "G": GiB}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def boot_request(boot) -> Tuple[int, Optional[int], Dict[int, int]]:
    """(default size, boot pool size or None, per-node counts with -1 for "spread") from the
    machine's command line."""
    default = _size_of(boot.param("default_hugepagesz") or "2M")
    count_text = boot.param("hugepages")
    if count_text is None:
        return default, None, {}
    size = _size_of(boot.param("hugepagesz") or _NAMES[default])
    total, per_node = parse_hugepages(count_text)
    return default, size, (per_node if per_node else {-1: total})


def alloc_boot_pools(hg, boot) -> None:
    """hugetlb_hstate_alloc_pages(): the boot pool.  Node-specific counts are allocated on their
    node (hugetlb_hstate_alloc_pages_onenode); a plain count goes round robin over the nodes with
    memory, as a runtime resize would.  A gigantic page comes from a contiguous range here (the
    kernel takes it from memblock before the buddy allocator starts: MemTotal counts it either
    way).  ``max_huge_pages`` ends at what was allocated (report_hugepages)."""
    default, size, request = boot_request(boot)
    hg.set_default(hg.by_size(default))
    if size is None:
        return
    h = hg.by_size(size)
    noretry = 0
    heads = []
    if -1 in request:
        mask = hg.memory_nodes
        for _ in range(request[-1]):
            head, noretry = h.alloc_pool_page(mask, noretry)
            if head is None:
                break
            heads.append(head)
    else:
        for nid, count in sorted(request.items()):
            for _ in range(count):
                head, noretry = h.alloc_fresh_on_node(nid, noretry)
                if head is None:
                    break
                heads.append(head)
    h.add_new_pages(heads, through_free=False)
    h.max_huge_pages = h.nr_huge_pages
