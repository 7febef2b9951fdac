"""The kernel objects of the kmem workload steps, and the table other plugins read them from.

The steps ``kmalloc`` / ``kfree``, ``kmem_cache_create`` / ``kmem_cache_alloc`` /
``kmem_cache_free`` and ``alloc_pages`` / ``free_pages`` act as a driver in the emulated kernel
would: each allocation step names a group of objects (``name``, one per step: a later allocation
step with the same name replaces the group), and a free step frees every live object of a group.
What they allocated is kept per task (pid) and group name in an :class:`ObjectTable`:

* :func:`lookup` ``(machine, pid, name, index=0)`` gives one object as a :class:`KObject`
  (None when the task has no such group or the group no such index), :func:`group` all of a
  group's; a group a free step freed stays in the table with ``freed=True`` (its ``addr`` is then
  the stale pointer: what a use-after-free or a double free would use);
* ``addr`` is exactly what the allocator returned: a KASAN plugin's tag in its top byte is kept
  (:func:`pointer_of` builds a pointer into the object with another tag, for a bad access).

``machine.plugin_state["kmem.objects"][pid][name]`` keeps the live addresses of each group, as
before this table existed (a free step pops the group).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

from memsim.errors import InvalidValue

__all__ = ["KObject", "ObjectTable", "lookup", "group", "pointer_of", "object_table", "PAGE_OFFSET",
           "KINDS", "MAX_PAGE_ORDER", "slab_flag_names", "parse_slab_flags", "check_slab_flags"]

#: The x86-64 direct map (page_offset_base without KASLR): page_address(page) of pfn is
#: ``PAGE_OFFSET + (pfn << PAGE_SHIFT)``.
PAGE_OFFSET = 0xFFFF888000000000
PAGE_SHIFT = 12
#: The kinds of object: kmalloc(), kmem_cache_alloc(), alloc_pages().
KINDS = ("kmalloc", "cache", "pages")
#: The largest order alloc_pages() hands out (MAX_ORDER - 1 of v5.14, MAX_PAGE_ORDER of v6.18).
MAX_PAGE_ORDER = 10

_ADDR_BITS = (1 << 56) - 1
_STATE_KEY = "kmem.table"
_LIVE_KEY = "kmem.objects"


@dataclass(frozen=True)
class KObject:
    """One kernel object a kmem step allocated.

    ``name``/``index``: its group (the allocation step's ``name``) and place in it (0 to
    count - 1).  ``addr``: the pointer the allocator returned, tag and all (for ``pages``:
    page_address(), ``PAGE_OFFSET + (pfn << 12)`` with the page's KASAN tag in the top byte,
    0xFF when KASAN is off: ``PhysMem.page_address``).
    ``kind``: ``kmalloc``, ``cache`` (kmem_cache_alloc) or ``pages`` (alloc_pages).  ``freed``:
    a free step freed it (``addr`` is then a stale pointer).  ``cache``: the slab cache it came
    from (kmalloc and cache objects; None for a kmalloc above KMALLOC_MAX_CACHE_SIZE, which the
    page allocator served, and for kmalloc(0)'s ZERO_SIZE_PTR).  ``pfn``/``order``: the first
    page and the order of a ``pages`` block or of such a large kmalloc (None for slab
    objects)."""

    name: str
    index: int
    addr: int
    kind: str
    freed: bool = False
    cache: Optional[str] = None
    pfn: Optional[int] = None
    order: Optional[int] = None


@dataclass
class _Group:
    kind: str
    objects: List[KObject]
    #: where the step that freed the group is (file:line:column), once one did
    freed_at: Optional[str] = None


class ObjectTable:
    """The objects of the kmem steps of one machine, per task pid and group name."""

    def __init__(self) -> None:
        self._groups: Dict[Tuple[int, str], _Group] = {}

    def new_group(self, pid: int, name: str, kind: str) -> _Group:
        """An allocation step's group (replacing an earlier one of the same name)."""
        g = self._groups[(pid, name)] = _Group(kind, [])
        return g

    def get(self, pid: int, name: str) -> Optional[_Group]:
        return self._groups.get((pid, name))

    def names(self, pid: int) -> List[str]:
        """The group names of task ``pid``, in the order they were allocated."""
        return [name for (p, name) in self._groups if p == pid]

    def mark_freed(self, pid: int, name: str, where: str) -> None:
        g = self._groups[(pid, name)]
        g.objects = [replace(obj, freed=True) for obj in g.objects]
        g.freed_at = where


def mark_object_freed(machine, pid: int, name: str, index: int) -> None:
    """Object ``index`` of group ``name`` was freed by another step than the group's free step
    (e.g. the kasan plugin's ``kfree_pointer``): it is no longer live, and its free step leaves
    it alone."""
    g = object_table(machine).get(pid, name)
    obj = g.objects[index]
    g.objects[index] = replace(obj, freed=True)
    live = machine.plugin_state.get(_LIVE_KEY, {}).get(pid, {}).get(name)
    if live is not None and obj.addr in live:
        live.remove(obj.addr)


def object_table(machine) -> ObjectTable:
    """The machine's :class:`ObjectTable` (an empty one until a kmem step allocates)."""
    table = machine.plugin_state.get(_STATE_KEY)
    if table is None:
        table = machine.plugin_state[_STATE_KEY] = ObjectTable()
    return table


def lookup(machine, pid: int, name: str, index: int = 0) -> Optional[KObject]:
    """Object ``index`` of the group ``name`` that a kmem step of task ``pid`` allocated, freed
    or not; None when the task has no such group or the group has no object ``index`` (an
    allocation that failed part way has fewer than it asked for)."""
    g = object_table(machine).get(pid, name)
    if g is None or not 0 <= index < len(g.objects):
        return None
    return g.objects[index]


def group(machine, pid: int, name: str) -> Tuple[KObject, ...]:
    """Every object of the group ``name`` of task ``pid``, by index (empty: no such group)."""
    g = object_table(machine).get(pid, name)
    return tuple(g.objects) if g is not None else ()


def pointer_of(obj: KObject, offset: int = 0, tag: Optional[int] = None) -> int:
    """A pointer ``offset`` bytes into ``obj`` (negative: before it), carrying ``obj.addr``'s
    tag, or ``tag`` (0 to 255) in the top byte when given: the pointer a bad access uses
    (out of bounds, a wrong tag)."""
    ptr = (obj.addr + offset) & 0xFFFFFFFFFFFFFFFF
    if tag is None:
        return ptr
    if not isinstance(tag, int) or isinstance(tag, bool) or not 0 <= tag <= 0xFF:
        raise ValueError(f"pointer_of: tag {tag!r} is not a pointer tag; give 0 to 255 (0xff: "
                         "match-all)")
    return (ptr & _ADDR_BITS) | (tag << 56)


# -- SLAB_* flags by name ------------------------------------------------------------------------

@lru_cache(maxsize=1)
def slab_flag_names() -> Dict[str, int]:
    """Every SLAB_* flag memsim.slab knows, name -> value (include/linux/slab.h)."""
    from memsim import slab
    return {name: int(getattr(slab, name)) for name in dir(slab)
            if name.startswith("SLAB_") and isinstance(getattr(slab, name), int)}


def _flag_parts(text) -> List[str]:
    return [part.strip() for part in str(text).split("|") if part.strip()]


def check_slab_flags(text) -> str:
    """A ``flags`` value of kmem_cache_create: SLAB_* names joined by ``|`` (or numbers); an
    unknown name is refused with the closest known one."""
    parse_slab_flags(text)
    return text


def parse_slab_flags(text) -> int:
    """The slab_flags_t of ``SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT`` (names or numbers; ``0`` or an
    empty string: none)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    known = slab_flag_names()
    flags = 0
    for part in _flag_parts(text):
        if part.lower().startswith("0x") or part.isdigit():
            flags |= int(part, 0)
        elif part in known:
            flags |= known[part]
        else:
            close = difflib.get_close_matches(part, list(known), 1)
            raise InvalidValue(f"unknown slab flag {part!r}",
                               f"did you mean {close[0]!r}?" if close else
                               "write SLAB_* names joined by |, e.g. SLAB_HWCACHE_ALIGN|SLAB_ACCOUNT "
                               f"(known: {', '.join(sorted(known))})")
    return flags
