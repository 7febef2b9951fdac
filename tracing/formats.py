"""Event format files read back: ``events/<system>/<event>/format`` -> :class:`EventDecl`.

The inverse of :mod:`memsim.tracing.formatfile`.  A parser needs an event's fields and print fmt
to decode a binary record (trace.dat, trace_pipe_raw) or to take a printed payload apart
(FORMAT-NOTES 5, 9).  Formats come from, in the order a reader consults them:

1. the caller (``--formats DIR``: a tracefs ``events/`` directory or any tree laid out as
   ``<system>/<event>/format``);
2. the trace itself (trace.dat stores every format it was recorded with);
3. memsim's own declarations (:class:`~memsim.tracing.events.EventRegistry`, all plugins);
4. the bundled catalog: the format files of 110 mm-related events captured from Linux 6.18 and
   ftrace's ``print`` (what ``trace_marker`` records) (``catalog/v6.18``), so a kernel text
   trace parses out of the box.

:class:`FormatSet` merges any of these; the first source to define an event wins.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from memsim.errors import TraceError
from memsim.tracing.events import COMMON_NAMES, EventDecl, Field

_FIELD_RE = re.compile(r"\s*field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                       r"(?:\s*signed:(?P<signed>-?\d+);)?")
_DECL_RE = re.compile(r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<dims>(?:\[[^\]]*\])*)$")


def _field(decl: str, off: int, size: int, signed: bool, where: str) -> Field:
    """``unsigned int mm_id`` / ``char comm[16]`` / ``__data_loc char[] name`` -> Field.

    Array types are stored the way :class:`Field` spells them (``char[16]``), as
    ``f_show`` prints them the other way round (``char comm[16]``).
    """
    decl = " ".join(decl.split())
    if decl.startswith("__data_loc ") or decl.startswith("__rel_loc "):
        # "__data_loc char[] name": the type includes the brackets, the name comes last
        ctype, _, name = decl.rpartition(" ")
        return Field(ctype, name, off, size, signed)
    m = _DECL_RE.match(decl)
    if m is None or not m.group("type"):
        raise TraceError(where, f"cannot read the field declaration {decl!r}",
                         "expected '<C type> <name>' as a format file prints it")
    ctype = m.group("type").strip()
    if m.group("dims"):
        ctype = ctype + m.group("dims").replace(" ", "")
    return Field(ctype, m.group("name"), off, size, signed)


def parse_format(text: str, system: str, where: str = "format") -> Tuple[int, EventDecl]:
    """Parse one ``format`` file; returns ``(type_id, decl)``.

    Raises :class:`TraceError` naming ``where`` (and the line) on anything malformed.
    """
    name: Optional[str] = None
    type_id: Optional[int] = None
    fields: List[Field] = []
    print_fmt: Optional[str] = None
    for lineno, line in enumerate(text.splitlines(), 1):
        at = f"{where}:{lineno}"
        if line.startswith("name:"):
            name = line[5:].strip()
        elif line.startswith("ID:"):
            try:
                type_id = int(line[3:].strip())
            except ValueError:
                raise TraceError(at, f"ID {line[3:].strip()!r} is not a number",
                                 "a format file's ID is the decimal common_type") from None
        elif line.startswith("print fmt:"):
            print_fmt = line[len("print fmt:"):].strip()
        elif line.lstrip().startswith("field:") or line.lstrip().startswith("field "):
            m = _FIELD_RE.match(line)
            if m is None:
                raise TraceError(at, f"cannot read the field line {line.strip()!r}",
                                 "expected 'field:<decl>;\\toffset:N;\\tsize:N;\\tsigned:N;'")
            f = _field(m.group("decl"), int(m.group("off")), int(m.group("size")),
                       (m.group("signed") or "0") not in ("0",), at)
            if f.name not in COMMON_NAMES:
                fields.append(f)
    if name is None or type_id is None:
        raise TraceError(where, "no 'name:' or 'ID:' line", "is this an event format file?")
    fields.sort(key=lambda f: f.offset)
    fixed: List[Field] = []
    end = 8
    for f in fields:                 # ftrace's own formats overlay unions; keep the first member
        if f.offset >= end:
            fixed.append(f)
            end = f.offset + f.size
    return type_id, EventDecl(system, name, tuple(fixed), print_fmt or '""', plugin="format file")


class _Pending:
    """A format file kept as text until its event is first needed (a trace.dat stores the
    formats of every event the kernel knows, a few thousand; a report uses a handful)."""

    __slots__ = ("system", "name", "type_id", "text", "where", "on_error", "fallback")

    def __init__(self, system: str, name: str, type_id: int, text: str, where: str,
                 on_error: Optional[Callable[[str, str], None]]):
        self.system = system
        self.name = name
        self.type_id = type_id
        self.text = text
        self.where = where
        self.on_error = on_error
        self.fallback: Optional[Tuple[EventDecl, Optional[int]]] = None   # a later source's


# "name: X\nID: N\n", as every format file starts
_HEAD_RE = re.compile(r"name:(?P<name>[^\n]*)\nID:(?P<id>[^\n]*)\n")


class FormatSet:
    """Event formats by ID, by ``system:event`` and by bare event name.

    Text traces name events without their system (``rss_stat:``); :meth:`by_name` resolves a bare
    name, preferring the source added first when two systems share a name.

    :meth:`add_text` keeps a format file as text and parses it when its event is first looked
    up (by name, ID or iteration); one that does not parse then is reported to the ``on_error``
    given with it and is left out, as :meth:`add` would never have seen it.
    """

    def __init__(self) -> None:
        self._by_id: Dict[int, str] = {}               # type_id -> full name (first wins)
        self._by_full: Dict[str, Any] = {}             # full name -> EventDecl or _Pending
        self._ids: Dict[str, int] = {}
        self._by_bare: Dict[str, str] = {}             # bare name -> full name (first wins)
        self.header_page: Optional[str] = None
        self.header_event: Optional[str] = None

    # -- building --------------------------------------------------------------------------
    def add(self, decl: EventDecl, type_id: Optional[int] = None) -> None:
        """Add ``decl`` unless an event of that name is already known (first source wins)."""
        full = decl.full_name
        have = self._by_full.get(full)
        if have is not None:
            if type(have) is _Pending and have.fallback is None:
                have.fallback = (decl, type_id)
            return
        self._enter(full, decl.name, decl, type_id)

    def _enter(self, full: str, bare: str, entry: Any, type_id: Optional[int]) -> None:
        self._by_full[full] = entry
        self._by_bare.setdefault(bare, full)
        if type_id is not None:
            self._ids[full] = type_id
            self._by_id.setdefault(type_id, full)

    def add_text(self, text: str, system: str, where: str,
                 on_error: Optional[Callable[[str, str], None]] = None) -> None:
        """Add the format file ``text`` of an event of ``system``, parsed when first needed
        (see the class docstring).  A text whose ``name:``/``ID:`` lines are not where a format
        file has them is parsed at once; ``on_error(where, problem)`` hears of a text that does
        not parse (without it, :class:`TraceError`/:class:`ValueError` propagate)."""
        m = _HEAD_RE.match(text)
        type_id = None
        if m is not None and "\nname:" not in text[m.end():] and "\nID:" not in text[m.end():]:
            try:
                type_id = int(m.group("id").strip())
            except ValueError:
                type_id = None
        name = m.group("name").strip() if m is not None else ""
        if type_id is None or not name:
            self._parse_now(text, system, where, on_error)
            return
        full = f"{system}:{name}"
        if full in self._by_full:
            return
        self._enter(full, name, _Pending(system, name, type_id, text, where, on_error), type_id)

    def _parse_now(self, text: str, system: str, where: str,
                   on_error: Optional[Callable[[str, str], None]]) -> None:
        try:
            type_id, decl = parse_format(text, system, where)
        except TraceError as e:
            if on_error is None:
                raise
            on_error(str(e.where), f"{e.problem}; event skipped")
            return
        except ValueError as e:                 # EventDecl: overlapping or duplicate fields
            if on_error is None:
                raise
            on_error(where, f"{e}; event skipped")
            return
        self.add(decl, type_id)

    def _resolve(self, full: str) -> Optional[EventDecl]:
        """The decl of ``full``, parsing a pending text (None when it does not parse)."""
        entry = self._by_full.get(full)
        if type(entry) is not _Pending:
            return entry
        p: _Pending = entry
        decl = None
        try:
            type_id, decl = parse_format(p.text, p.system, p.where)
        except TraceError as e:
            if p.on_error is None:
                raise
            p.on_error(str(e.where), f"{e.problem}; event skipped")
        except ValueError as e:
            if p.on_error is None:
                raise
            p.on_error(p.where, f"{e}; event skipped")
        if decl is not None and decl.full_name == full and type_id == p.type_id:
            self._by_full[full] = decl
            return decl
        # it does not parse: the event is unknown here, or a later source's decl stands in
        self._drop(full)
        if p.fallback is not None:
            self._enter(full, p.fallback[0].name, p.fallback[0], p.fallback[1])
            return p.fallback[0]
        return None

    def _drop(self, full: str) -> None:
        entry = self._by_full.pop(full)
        tid = self._ids.pop(full, None)
        if tid is not None and self._by_id.get(tid) == full:
            del self._by_id[tid]
            for other, oid in self._ids.items():         # the next source's event of that ID
                if oid == tid:
                    self._by_id[tid] = other
                    break
        bare = entry.name
        if self._by_bare.get(bare) == full:
            del self._by_bare[bare]
            for other, e in self._by_full.items():
                if e.name == bare:
                    self._by_bare[bare] = other
                    break

    def update(self, other: "FormatSet") -> "FormatSet":
        """Add every event of ``other`` that this set does not define yet; returns self."""
        for decl in other:
            self.add(decl, other.id_of(decl.full_name))
        if self.header_page is None:
            self.header_page, self.header_event = other.header_page, other.header_event
        return self

    @classmethod
    def from_dir(cls, path: str) -> "FormatSet":
        """Every ``<system>/<event>/format`` under ``path`` (a tracefs ``events`` directory, its
        parent, or a copy of either)."""
        fs = cls()
        if os.path.isdir(os.path.join(path, "events")):
            path = os.path.join(path, "events")
        if not os.path.isdir(path):
            raise TraceError(path, "is not a directory",
                             "give a tracefs events/ directory or a <system>/<event>/format tree")
        for hdr in ("header_page", "header_event"):
            p = os.path.join(path, hdr)
            if os.path.isfile(p):
                with open(p, encoding="utf-8", errors="replace") as f:
                    setattr(fs, hdr, f.read())
        for system in sorted(os.listdir(path)):
            sdir = os.path.join(path, system)
            if not os.path.isdir(sdir):
                continue
            for event in sorted(os.listdir(sdir)):
                fpath = os.path.join(sdir, event, "format")
                if not os.path.isfile(fpath):
                    continue
                with open(fpath, encoding="utf-8", errors="replace") as f:
                    type_id, decl = parse_format(f.read(), system, fpath)
                fs.add(decl, type_id)
        if not len(fs):
            raise TraceError(path, "holds no <system>/<event>/format files",
                             "give a tracefs events/ directory or a copy of one")
        return fs

    @classmethod
    def from_registry(cls, registry) -> "FormatSet":
        """memsim's own declarations, with the IDs the registry hands out."""
        from memsim.tracing.formatfile import header_event, header_page
        fs = cls()
        for type_id, decl in registry.items():
            fs.add(decl, type_id)
        fs.header_page, fs.header_event = header_page(), header_event()
        return fs

    @classmethod
    def bundled(cls, kernel: str = "v6.18") -> "FormatSet":
        """The format files captured from a real kernel that ship with memsim."""
        root = resources.files("memsim.tracing").joinpath("catalog", kernel)
        if not root.is_dir():
            raise TraceError(kernel, "no bundled format catalog for this kernel",
                             "use --formats DIR with the kernel's tracefs events/ directory")
        return cls.from_dir(str(root))

    # -- lookup ----------------------------------------------------------------------------
    def by_id(self, type_id: int) -> Optional[EventDecl]:
        full = self._by_id.get(type_id)
        return self._resolve(full) if full is not None else None

    def get(self, full_name: str) -> Optional[EventDecl]:
        return self._resolve(full_name) if full_name in self._by_full else None

    def by_name(self, name: str) -> Optional[EventDecl]:
        """An event by ``system:event`` or by its bare name."""
        if ":" in name:
            return self.get(name)
        full = self._by_bare.get(name)
        return self._resolve(full) if full is not None else None

    def id_of(self, full_name: str) -> Optional[int]:
        if type(self._by_full.get(full_name)) is _Pending:
            self._resolve(full_name)
        return self._ids.get(full_name)

    def _all(self) -> List[EventDecl]:
        for full in [f for f, e in self._by_full.items() if type(e) is _Pending]:
            self._resolve(full)
        return list(self._by_full.values())

    def items(self) -> Iterator[Tuple[Optional[int], EventDecl]]:
        for decl in self._all():
            yield self._ids.get(decl.full_name), decl

    def systems(self) -> Dict[str, List[EventDecl]]:
        out: Dict[str, List[EventDecl]] = {}
        for decl in self._all():
            out.setdefault(decl.system, []).append(decl)
        return out

    def system_names(self) -> List[str]:
        """The systems of the events, without parsing pending format texts."""
        return list(dict.fromkeys(e.system for e in self._by_full.values()))

    def __iter__(self) -> Iterator[EventDecl]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._by_full)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.by_name(name) is not None


def default_formats(registry=None, extra: Iterable[FormatSet] = ()) -> FormatSet:
    """The formats a reader uses when the caller gives none: ``extra`` first, then memsim's own
    declarations (``registry``, or every built-in event of both profiles), then the catalog."""
    fs = FormatSet()
    for e in extra:
        fs.update(e)
    if registry is None:
        from memsim.tracing.events import EventRegistry
        from memsim.tracing.kmem import kmem_events
        registry = EventRegistry()
        for decl in kmem_events("v6.18"):
            registry.add(decl)
    fs.update(FormatSet.from_registry(registry))
    fs.update(FormatSet.bundled("v6.18"))
    return fs
