"""Trace events, declared once (STYLE 7), and the registry that binds them to the ring buffer.

An :class:`EventDecl` says what ``include/trace/events/*.h`` says: system, name, the typed fields
of the record (C type, offset, size, signedness as the format file prints them) and the print
format as the kernel exports it.  Everything else derives from it:

* the record layout the Cython core writes for a *core event* (:data:`CORE_EVENTS`): the core
  emits from C with a fixed value vector, :meth:`EventRegistry.bind` tells each ring-buffer slot
  where each value goes for the active profile;
* records of Python-side (plugin) events, packed by :meth:`EventRegistry.emit`;
* the ``events/<system>/<event>/format`` file (:mod:`memsim.tracing.formatfile`);
* the text formatter (:mod:`memsim.tracing.printfmt`) and record decoding (:meth:`decode`).

Record layout (tracepoints.md 2.1): ``u16 common_type, u8 common_flags, u8 common_preempt_count,
s32 common_pid``, then the fields; a ``__data_loc char[]`` field holds ``offset | len << 16`` of
a NUL-terminated string appended after the fixed part.  memsim appends strings at
``fixed_size`` (what the Cython core does); the kernel appends them at ``offsetof(__data)``,
which differs only when the struct has tail padding -- readers must (and do) use the data_loc.
"""
from __future__ import annotations

import difflib
import fnmatch
import struct
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

COMMON_HEADER = struct.Struct("<HBBi")
COMMON_HEADER_SIZE = 8


@dataclass(frozen=True)
class Field:
    """One record field, spelled as the format file prints it."""

    ctype: str      # "unsigned long", "const void *", "__data_loc char[]", "char[16]", "gfp_t"
    name: str
    offset: int
    size: int
    signed: bool

    @property
    def is_data_loc(self) -> bool:
        return self.ctype.startswith("__data_loc")

    @property
    def is_array(self) -> bool:
        return "[" in self.ctype and not self.is_data_loc

    @property
    def align(self) -> int:
        if self.is_data_loc:
            return 4
        if self.is_array:
            n = int(self.ctype[self.ctype.index("[") + 1:self.ctype.index("]")] or 1)
            return max(1, min(8, self.size // max(n, 1)))
        return max(1, min(8, self.size))


COMMON_FIELDS = (
    Field("unsigned short", "common_type", 0, 2, False),
    Field("unsigned char", "common_flags", 2, 1, False),
    Field("unsigned char", "common_preempt_count", 3, 1, False),
    Field("int", "common_pid", 4, 4, True),
)
COMMON_NAMES = tuple(f.name for f in COMMON_FIELDS)


def layout_fields(spec: Sequence[Tuple[str, str, int, bool]]) -> Tuple[Field, ...]:
    """Place ``(ctype, name, size, signed)`` fields after the common header with natural
    alignment, as the compiler lays out ``struct trace_event_raw_<event>``."""
    out = []
    off = COMMON_HEADER_SIZE
    for ctype, name, size, signed in spec:
        f = Field(ctype, name, 0, size, signed)
        off = (off + f.align - 1) // f.align * f.align
        out.append(Field(ctype, name, off, size, signed))
        off += size
    return tuple(out)


class RecordCodec:
    """Packs and unpacks one event's binary records (built once per declaration)."""

    def __init__(self, decl: "EventDecl"):
        self.decl = decl
        dec = ["<HBBi"]
        enc = ["<HBBi"]
        pos = COMMON_HEADER_SIZE
        self.names: Tuple[str, ...] = COMMON_NAMES + tuple(f.name for f in decl.fields)
        self.str_index: List[Tuple[int, str]] = []     # (tuple index, "loc" | "array")
        self.masks: List[int] = []
        for i, f in enumerate(decl.fields):
            if f.offset > pos:
                dec.append(f"{f.offset - pos}x")
                enc.append(f"{f.offset - pos}x")
            if f.is_data_loc:
                dec.append("I")
                enc.append("I")
                self.str_index.append((4 + i, "loc"))
            elif f.is_array:
                dec.append(f"{f.size}s")
                enc.append(f"{f.size}s")
                # a flexible array (ftrace's print: char buf[], size 0) runs to the record's end
                self.str_index.append((4 + i, "flex" if f.size == 0 else "array"))
            else:
                code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(f.size)
                if code is None:
                    raise ValueError(f"{decl.full_name}: field {f.name} has unsupported size "
                                     f"{f.size}; use 1, 2, 4 or 8 bytes or an array")
                dec.append(code if f.signed else code.upper())
                enc.append(code.upper())
            self.masks.append((1 << (8 * f.size)) - 1)
            pos = f.offset + f.size
        self.fixed_size = decl.fixed_size
        tail = self.fixed_size - pos
        self.dec = struct.Struct("".join(dec))
        self.enc = struct.Struct("".join(enc) + (f"{tail}x" if tail > 0 else ""))
        self.field_names = tuple(f.name for f in decl.fields)
        self.has_strings = bool(self.str_index)

    def unpack(self, payload: bytes) -> Tuple[Any, ...]:
        """The record as a tuple laid out as :attr:`names`; strings decoded to ``str``."""
        t = self.dec.unpack_from(payload)
        if not self.has_strings:
            return t
        t = list(t)
        for i, kind in self.str_index:
            if kind == "loc":
                loc = t[i]
                off = loc & 0xFFFF
                raw = payload[off:off + (loc >> 16)]
            elif kind == "flex":                 # char buf[] (size 0): the rest of the record
                raw = payload[self.decl.fields[i - 4].offset:]
            else:
                raw = t[i]
            t[i] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return tuple(t)

    def pack(self, type_id: int, flags: int, preempt: int, pid: int,
             values: Mapping[str, Any]) -> bytes:
        vals: List[Any] = [type_id, flags & 0xFF, preempt & 0xFF, pid]
        strings: List[bytes] = []
        loc_at: List[int] = []
        flex = b""
        for (f, mask) in zip(self.decl.fields, self.masks):
            try:
                v = values[f.name]
            except KeyError:
                raise TypeError(f"{self.decl.full_name}: missing value for field {f.name!r}; "
                                f"pass {f.name}=...") from None
            if f.is_data_loc:
                b = (v if isinstance(v, bytes) else str(v).encode()) + b"\0"
                loc_at.append(len(vals))
                strings.append(b)
                vals.append(0)
            elif f.is_array:
                b = v if isinstance(v, bytes) else str(v).encode()
                if f.size == 0:                 # char buf[]: written after the fixed part
                    flex = b + b"\0"
                vals.append(b[:f.size])
            else:
                vals.append(int(v) & mask)
        if len(values) > len(self.field_names):
            extra = set(values) - set(self.field_names)
            if extra:
                raise TypeError(f"{self.decl.full_name}: no field(s) {', '.join(sorted(extra))}; "
                                f"fields are {', '.join(self.field_names)}")
        off = self.fixed_size
        for i, b in zip(loc_at, strings):
            vals[i] = off | (len(b) << 16)
            off += len(b)
        rec = self.enc.pack(*vals)
        if flex:
            rec += flex
        return rec + b"".join(strings) if strings else rec


@dataclass(frozen=True)
class EventDecl:
    """One trace event: ``include/trace/events/<system>.h``'s TRACE_EVENT, as data."""

    system: str
    name: str
    fields: Tuple[Field, ...]           # event fields only; the common header is implicit
    print_fmt: str                      # the text after "print fmt: ", as the kernel exports it
    core_slot: Optional[int] = None     # CORE_EVENTS slot the Cython core emits it through
    #: For a plugin event emitted from C: the order of the values its C code passes to
    #: TraceBuffer.emit (field names; a __data_loc string goes as the string argument).  The
    #: registry then gives it a slot (EventRegistry.slot_of) from FIRST_PLUGIN_SLOT up.
    c_values: Tuple[str, ...] = ()
    common_flags: int = 0               # default irq/resched flags of a record
    preempt_count: int = 0              # default preempt count of a record
    plugin: str = "core"
    doc: str = ""

    def __post_init__(self):
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "c_values", tuple(self.c_values))
        pos = COMMON_HEADER_SIZE
        names = set(COMMON_NAMES)
        for f in self.fields:
            if f.offset < pos:
                raise ValueError(f"{self.system}:{self.name}: field {f.name} at offset {f.offset} "
                                 f"overlaps the previous field (ends at {pos}); fix the offsets")
            if f.name in names:
                raise ValueError(f"{self.system}:{self.name}: duplicate field {f.name}")
            names.add(f.name)
            pos = f.offset + f.size
        if self.c_values:
            if self.core_slot is not None:
                raise ValueError(f"{self.system}:{self.name}: give either core_slot (a core "
                                 f"event) or c_values (a plugin event emitted from C), not both")
            names = {f.name for f in self.fields}
            for v in self.c_values:
                if v not in names:
                    raise ValueError(f"{self.system}:{self.name}: c_values names {v!r}, which is "
                                     f"not a field; use the field names")
            if len(self.c_values) > MAX_EVENT_FIELDS:
                raise ValueError(f"{self.system}:{self.name}: at most {MAX_EVENT_FIELDS} "
                                 f"c_values (a C event slot's limit)")
        if self.core_slot is not None:
            want = CORE_EVENTS.get(self.core_slot)
            if want is None or (want[:2] != (self.system, self.name)
                                and CORE_EVENT_RENAMES.get(self.core_slot) != (self.system, self.name)):
                raise ValueError(f"{self.full_name}: core slot {self.core_slot} belongs to "
                                 f"{':'.join(want[:2]) if want else 'no event'}; use the slot of "
                                 f"CORE_EVENTS that names this event")

    @property
    def full_name(self) -> str:
        return f"{self.system}:{self.name}"

    @cached_property
    def fixed_size(self) -> int:
        """sizeof(struct trace_event_raw_<name>) without the dynamic data: header + fields,
        rounded up to the largest field alignment."""
        end = max([COMMON_HEADER_SIZE] + [f.offset + f.size for f in self.fields])
        align = max([4] + [f.align for f in self.fields])
        return (end + align - 1) // align * align

    @cached_property
    def codec(self) -> RecordCodec:
        return RecordCodec(self)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.full_name} has no field {name!r}")

    @property
    def string_field(self) -> Optional[Field]:
        for f in self.fields:
            if f.is_data_loc:
                return f
        return None


# Core slot -> (system, name, value order): the uint64 vector the Cython core passes to
# TraceBuffer.emit for each event (memsim/ring.pxd EV_*).  A value the active profile's
# declaration lacks is skipped (size 0); at most one __data_loc string goes as the string arg.
CORE_EVENTS: Dict[int, Tuple[str, str, Tuple[str, ...]]] = {
    0: ("kmem", "rss_stat", ("mm_id", "curr", "member", "size")),
    1: ("kmem", "mm_page_alloc", ("pfn", "order", "gfp_flags", "migratetype")),
    2: ("kmem", "mm_page_free", ("pfn", "order")),
    3: ("kmem", "kmalloc", ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags", "node")),
    4: ("kmem", "kfree", ("call_site", "ptr")),
    5: ("kmem", "kmem_cache_alloc",
        ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags", "node", "accounted")),
    6: ("kmem", "kmem_cache_free", ("call_site", "ptr")),
    7: ("kmem", "mm_page_free_batched", ("pfn",)),
    8: ("kmem", "mm_page_alloc_zone_locked", ("pfn", "order", "migratetype", "percpu_refill")),
    9: ("kmem", "mm_page_pcpu_drain", ("pfn", "order", "migratetype")),
    10: ("kmem", "kmalloc_node",
         ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags", "node")),
    11: ("kmem", "kmem_cache_alloc_node",
         ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags", "node", "accounted")),
    # the pointer goes twice: v5.14 names the field page, v6.18 folio (the other is skipped)
    12: ("pagemap", "mm_lru_insertion", ("page", "folio", "pfn", "lru", "flags")),
    13: ("pagemap", "mm_lru_activate", ("page", "folio", "pfn")),
    14: ("vmscan", "mm_vmscan_direct_reclaim_begin", ("order", "gfp_flags")),
    15: ("vmscan", "mm_vmscan_direct_reclaim_end", ("nr_reclaimed",)),
    16: ("vmscan", "mm_vmscan_kswapd_wake", ("nid", "zid", "order")),
    17: ("vmscan", "mm_vmscan_kswapd_sleep", ("nid",)),
    18: ("vmscan", "mm_vmscan_wakeup_kswapd", ("nid", "zid", "order", "gfp_flags")),
    # isolate_mode: v5.14 only (the field went in v5.18)
    19: ("vmscan", "mm_vmscan_lru_isolate",
         ("highest_zoneidx", "order", "nr_requested", "nr_scanned", "nr_skipped", "nr_taken",
          "isolate_mode", "lru")),
    20: ("vmscan", "mm_vmscan_lru_shrink_inactive",
         ("nid", "nr_scanned", "nr_reclaimed", "nr_dirty", "nr_writeback", "nr_congested",
          "nr_immediate", "nr_activate0", "nr_activate1", "nr_ref_keep", "nr_unmap_fail",
          "priority", "reclaim_flags")),
    21: ("vmscan", "mm_vmscan_lru_shrink_active",
         ("nid", "nr_taken", "nr_active", "nr_deactivated", "nr_referenced", "priority",
          "reclaim_flags")),
    # memsim.shrinker's do_shrink_slab
    23: ("vmscan", "mm_shrink_slab_start", ("shr", "shrink", "nid", "nr_objects_to_shrink",
                                            "gfp_flags", "cache_items", "delta", "total_scan",
                                            "priority")),
    24: ("vmscan", "mm_shrink_slab_end", ("shr", "nid", "shrink", "unused_scan", "new_scan",
                                          "retval", "total_scan")),
    25: ("oom", "reclaim_retry_zone",
         ("node", "zone_idx", "order", "reclaimable", "available", "min_wmark",
          "no_progress_loops", "wmark_check")),
    # issue 10's evict part: pageout()'s event (v6.18 calls it mm_vmscan_write_folio)
    22: ("vmscan", "mm_vmscan_writepage", ("pfn", "reclaim_flags")),
    # issue 12's page cache (include/trace/events/filemap.h, memsim.tracing.filemap): neither
    # profile records the page pointer (v5.14 prints page=%p from the pfn), v5.14 has no order
    # and no mm_filemap_fault; an absent field is skipped
    26: ("filemap", "mm_filemap_add_to_page_cache", ("page", "pfn", "i_ino", "index", "s_dev", "order")),
    27: ("filemap", "mm_filemap_delete_from_page_cache",
         ("page", "pfn", "i_ino", "index", "s_dev", "order")),
    28: ("filemap", "mm_filemap_fault", ("i_ino", "index", "s_dev")),
    # issue 13: migrate_pages() (include/trace/events/migrate.h, memsim.tracing.migrate); v5.14
    # has no large_folio_split (skipped) and no mm_migrate_pages_start
    29: ("migrate", "mm_migrate_pages", ("succeeded", "failed", "thp_succeeded", "thp_failed",
                                         "thp_split", "large_folio_split", "mode", "reason")),
    30: ("migrate", "mm_migrate_pages_start", ("mode", "reason")),
}

#: Core slots whose event a later kernel renamed: slot -> (system, the later name).  A profile's
#: declaration may bind the slot under either name.
CORE_EVENT_RENAMES: Dict[int, Tuple[str, str]] = {
    22: ("vmscan", "mm_vmscan_write_folio"),
}

#: Slots of the trace buffer (memsim/ring.pxd): 0..31 core events, 32..95 plugin C events.
FIRST_PLUGIN_SLOT = 32
N_EVENT_SLOTS = 96
MAX_EVENT_FIELDS = 16

# First event ID handed out.  With the kmem events registered first in kmem_events("v6.18")
# order, IDs equal the captured 6.18 kernel's (rss_stat 646 ... kmem_cache_alloc 659).
DEFAULT_ID_BASE = 646


class EventRegistry:
    """Every trace event of a machine, with tracefs-style enabling (all disabled at first)."""

    def __init__(self, id_base: int = DEFAULT_ID_BASE):
        self._decls: Dict[str, EventDecl] = {}
        self._ids: Dict[str, int] = {}
        self._by_id: Dict[int, EventDecl] = {}
        self._slots: Dict[int, str] = {}
        self._c_slots: Dict[str, int] = {}
        self._enabled: set = set()
        self._bound: Any = weakref.WeakSet()     # TraceBuffers bound: a finished machine's goes
        self._next_id = id_base

    # -- declarations ----------------------------------------------------------------------
    def add(self, decl: EventDecl) -> int:
        """Register ``decl``; returns its numeric ID (assigned in registration order)."""
        if not isinstance(decl, EventDecl):
            raise TypeError(f"EventRegistry.add: expected an EventDecl, got {type(decl).__name__}")
        if decl.full_name in self._decls:
            raise ValueError(f"trace event {decl.full_name} is already registered "
                             f"(by plugin {self._decls[decl.full_name].plugin}); "
                             f"register each event once")
        if decl.core_slot is not None and decl.core_slot in self._slots:
            raise ValueError(f"{decl.full_name}: core slot {decl.core_slot} is already taken by "
                             f"{self._slots[decl.core_slot]}")
        if self._next_id > 0xFFFF:
            raise ValueError("trace event IDs exhausted (common_type is 16 bits)")
        type_id = self._next_id
        self._next_id += 1
        decl.codec                       # validate the layout now, not on first emit
        self._decls[decl.full_name] = decl
        self._ids[decl.full_name] = type_id
        self._by_id[type_id] = decl
        if decl.c_values:
            slot = FIRST_PLUGIN_SLOT + sum(1 for s in self._slots if s >= FIRST_PLUGIN_SLOT)
            if slot >= N_EVENT_SLOTS:
                raise ValueError(f"{decl.full_name}: every C event slot is taken "
                                 f"({N_EVENT_SLOTS - FIRST_PLUGIN_SLOT} plugin events emitted "
                                 f"from C); emit this one from Python (no c_values)")
            self._c_slots[decl.full_name] = slot
            self._slots[slot] = decl.full_name
            for tb in self._bound:
                self._bind_slot(tb, decl)
        if decl.core_slot is not None:
            self._slots[decl.core_slot] = decl.full_name
            for tb in self._bound:
                self._bind_slot(tb, decl)
        return type_id

    def slot_of(self, full_name: str) -> int:
        """The trace-buffer slot of an event emitted from C (its EventDecl has c_values, or it
        is a core event): C code checks ``tb.core[slot].enabled`` and calls ``tb.emit(slot,
        cpu, pid, vals, s, slen)`` with the values in c_values order."""
        decl = self.get(full_name)
        if decl.core_slot is not None:
            return decl.core_slot
        try:
            return self._c_slots[full_name]
        except KeyError:
            raise KeyError(f"{full_name} is not emitted from C; declare it with c_values") from None

    def get(self, full_name: str) -> EventDecl:
        try:
            return self._decls[full_name]
        except KeyError:
            raise KeyError(f"no trace event {full_name!r}{self._suggest(full_name)}") from None

    def id_of(self, full_name: str) -> int:
        self.get(full_name)
        return self._ids[full_name]

    def by_id(self, type_id: int) -> EventDecl:
        try:
            return self._by_id[type_id]
        except KeyError:
            raise KeyError(f"no trace event with ID {type_id}") from None

    def __iter__(self) -> Iterator[EventDecl]:
        return iter(self._decls.values())

    def __len__(self) -> int:
        return len(self._decls)

    def __contains__(self, full_name: object) -> bool:
        return full_name in self._decls

    def items(self) -> Iterator[Tuple[int, EventDecl]]:
        """(ID, declaration) in registration order."""
        return ((self._ids[n], d) for n, d in self._decls.items())

    # -- enabling (tracefs set_event) ------------------------------------------------------
    def _suggest(self, token: str) -> str:
        cands = list(self._decls)
        cands += sorted({d.system for d in self}) + [d.name for d in self]
        best = difflib.get_close_matches(token, cands, n=1, cutoff=0.5)
        return f"; did you mean {best[0]!r}?" if best else ""

    def matching(self, pattern: str) -> List[str]:
        """The events a ``set_event`` glob names (``kmem:rss_stat``, ``kmem:*``, ``kmem``,
        ``*:*``), in registration order; none is an empty list."""
        return self._match(pattern.strip())

    def _match(self, token: str) -> List[str]:
        if token in ("all", "*", "*:*"):
            return list(self._decls)
        if ":" in token:
            sys_pat, ev_pat = token.split(":", 1)
            sys_pat = sys_pat or "*"
            ev_pat = ev_pat or "*"
            return [n for n, d in self._decls.items()
                    if fnmatch.fnmatchcase(d.system, sys_pat)
                    and fnmatch.fnmatchcase(d.name, ev_pat)]
        # no colon: the kernel matches the word against both system and event names
        return [n for n, d in self._decls.items()
                if fnmatch.fnmatchcase(d.system, token) or fnmatch.fnmatchcase(d.name, token)]

    def enable(self, patterns: Union[str, Iterable[str]], append: bool = True) -> List[str]:
        """Apply ``set_event`` lines: ``kmem:rss_stat``, ``kmem:*``, ``kmem``, ``rss_stat``,
        ``*:*``, ``all`` (fnmatch globs allowed in either part); a leading ``!`` disables.
        ``append=False`` is ``echo ... > set_event``: everything else is disabled first.
        Returns the enabled events afterwards; nothing changes if a pattern matches nothing."""
        if isinstance(patterns, str):
            patterns = patterns.split()
        changes = []
        for raw in patterns:
            token = raw.strip()
            if not token:
                continue
            on = not token.startswith("!")
            if not on:
                token = token[1:]
            names = self._match(token)
            if not names:
                hint = self._suggest(token) or "; list the events with iter(registry)"
                raise ValueError(f"set_event: no trace event matches {token!r}{hint}")
            changes.append((on, names))
        if not append:
            self._enabled.clear()
        for on, names in changes:
            if on:
                self._enabled.update(names)
            else:
                self._enabled.difference_update(names)
        for tb in self._bound:
            self._apply_enabled(tb)
        return self.enabled()

    def disable(self, patterns: Union[str, Iterable[str]]) -> List[str]:
        if isinstance(patterns, str):
            patterns = patterns.split()
        return self.enable(["!" + p.lstrip("!") for p in patterns])

    def enabled(self) -> List[str]:
        """Enabled events, in registration order."""
        return [n for n in self._decls if n in self._enabled]

    def is_enabled(self, full_name: str) -> bool:
        return full_name in self._enabled

    # -- ring buffer -----------------------------------------------------------------------
    def _bind_slot(self, tb: Any, decl: EventDecl) -> None:
        if decl.core_slot is not None:
            slot, order = decl.core_slot, CORE_EVENTS[decl.core_slot][2]
        else:
            slot, order = self._c_slots[decl.full_name], decl.c_values
        by_name = {f.name: f for f in decl.fields}
        offsets, sizes = [], []
        for v in order:
            f = by_name.get(v)
            offsets.append(f.offset if f is not None else 0)
            sizes.append(f.size if f is not None else 0)
        s = decl.string_field
        tb.bind_core_event(slot, self._ids[decl.full_name], decl.fixed_size,
                           offsets, sizes, s.offset if s is not None else 0xFFFF,
                           decl.common_flags, decl.preempt_count)
        tb.set_core_enabled(slot, decl.full_name in self._enabled)

    def _apply_enabled(self, tb: Any) -> None:
        for slot, name in self._slots.items():
            tb.set_core_enabled(slot, name in self._enabled)

    def bind(self, tb: Any) -> None:
        """Give ``tb`` (a memsim.ring.TraceBuffer) the layout, ID and enable state of every core
        event; later :meth:`enable` calls and added core events update it too."""
        for slot, name in self._slots.items():
            self._bind_slot(tb, self._decls[name])
        self._bound.add(tb)

    def emit(self, tb: Any, cpu: int, pid: int, full_name: str, /, *,
             _common_flags: Optional[int] = None, _preempt_count: Optional[int] = None,
             **values: Any) -> None:
        """Write one record of ``full_name`` (fields as keyword arguments) to ``tb`` on ``cpu``;
        a no-op when the event is disabled.  Flags/preempt default to the declaration's, in the
        buffer's current context.  The first four parameters are positional-only, so events may
        have fields named cpu/pid."""
        if full_name not in self._enabled:
            if full_name not in self._decls:
                self.get(full_name)
            return
        decl = self._decls[full_name]
        # the declaration's values in the buffer's current context (TraceBuffer.ctx_flags /
        # ctx_preempt, as the C emitter adds them), unless the caller gives its own
        rec = decl.codec.pack(self._ids[full_name],
                              (decl.common_flags | getattr(tb, "ctx_flags", 0))
                              if _common_flags is None else _common_flags,
                              (decl.preempt_count + getattr(tb, "ctx_preempt", 0))
                              if _preempt_count is None else _preempt_count,
                              pid, values)
        tb.write_record(cpu, rec)

    def decode(self, payload: bytes) -> Tuple[EventDecl, Dict[str, Any]]:
        """(declaration, {field: value}) of one record (common header included); the dict
        holds the four ``common_*`` fields too, and strings for ``__data_loc`` fields."""
        if len(payload) < COMMON_HEADER_SIZE:
            raise ValueError(f"trace record of {len(payload)} bytes is shorter than the header")
        decl = self.by_id(payload[0] | payload[1] << 8)
        codec = decl.codec
        return decl, dict(zip(codec.names, codec.unpack(payload)))
