"""Typed registries through which plugins extend memsim (STYLE 6: typed objects, not dicts).

A plugin adds a workload step, a configuration section, a procfs/sysfs-style file or a summary row
by calling a registry method with one of these objects from its ``memsim_register_*`` hook.
Trace events are declared with :class:`memsim.tracing.events.EventDecl` and added to the
:class:`memsim.tracing.events.EventRegistry`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Any, Callable, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Param:
    """One key of a step or section: its type, default and a one-line description.

    ``type`` is one of: "int", "size" (bytes: 4096, "12k", "1 GiB"), "duration" (ns: 500, "1ms"),
    "str", "bool", "enum" (with ``choices``), "address" (int or hex string), "steps" (a nested step
    list), "map" (free mapping validated by the step itself), "list" (a sequence), "cpu" (an int
    from 0 to ``machine.cpus`` - 1).

    ``default`` is written as in a workload ("4 KiB", "1ms") and converted like a given value;
    None with ``required=False`` means "absent" (the step computes it; say how in ``doc``).

    The optional fields below let the loader validate nested values and names with
    ``file:line:column`` errors (docs/workloads.md renders them):

    * ``minimum`` / ``maximum``: bounds of an int, size, duration, address or cpu.
    * ``items``: for "map", the keys it accepts, each a Param (unknown keys are refused with a
      suggestion); for "list", the keys of each element, which is then a mapping.
    * ``of``: for "map" without ``items``, the Param every value follows (its ``name`` is a
      placeholder for the key in the docs); for "list" without ``items``, the Param of each
      element.
    * ``check(value) -> value``: extra rules on the converted value; returns the value to keep
      (possibly normalised) or raises :class:`memsim.errors.InvalidValue`.
    * ``defines``: this str value names a new object of that kind, e.g. "vma" for mmap's
      ``name`` or "task" for fork's ``child``; names are unique per task (task names: per workload).
    * ``refers``: this str value must name an object of that kind defined by an earlier step of
      the task (or, for "task", any task of the workload).
    """

    name: str
    type: str
    doc: str
    default: Any = None
    required: bool = False
    choices: Tuple[str, ...] = ()
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    items: Tuple["Param", ...] = ()
    of: Optional["Param"] = None
    check: Optional[Callable[[Any], Any]] = None
    defines: str = ""
    refers: str = ""


@dataclass(frozen=True)
class StepType:
    """A workload step ``- NAME: {params}``.

    ``run(ctx, step)`` executes it for the current task and may be a generator that yields at
    preemption points (see memsim.sched).  ``ctx`` is a :class:`memsim.workload.runner.StepContext`.
    """

    name: str
    doc: str
    params: Tuple[Param, ...]
    run: Callable[..., Any]
    plugin: str = "core"
    example: str = ""
    #: ``check(args, given) -> args``: rules across keys (``given`` is the set of keys the
    #: workload wrote; ``args`` has the defaults applied); returns the args to keep or raises
    #: :class:`memsim.errors.InvalidValue` with ``key`` naming the offending key.
    check: Optional[Callable[[Mapping[str, Any], AbstractSet[str]], Mapping[str, Any]]] = None


@dataclass(frozen=True)
class SectionSpec:
    """A top-level workload section (``machine`` is built in; plugins add e.g. ``hugetlb``)."""

    name: str
    doc: str
    params: Tuple[Param, ...]
    plugin: str = "core"
    #: ``check(args, given) -> args``, as for :attr:`StepType.check`.
    check: Optional[Callable[[Mapping[str, Any], AbstractSet[str]], Mapping[str, Any]]] = None


@dataclass(frozen=True)
class ProcFile:
    """A procfs/sysfs-style file: ``render(machine)`` returns its text (e.g. /proc/buddyinfo)."""

    path: str
    doc: str
    render: Callable[[Any], str]
    plugin: str = "core"


@dataclass(frozen=True)
class SummaryRow:
    """A row of the run summary: ``compute(machine)`` returns a JSON-serialisable value."""

    name: str
    doc: str
    compute: Callable[[Any], Any]
    plugin: str = "core"


class Registry:
    """A name-keyed registry of one kind of typed object; duplicate names are refused."""

    def __init__(self, kind: str, item_type: type):
        self.kind = kind
        self.item_type = item_type
        self._items: dict = {}

    def add(self, item) -> None:
        if not isinstance(item, self.item_type):
            raise TypeError(f"{self.kind} registry takes {self.item_type.__name__}, not {type(item).__name__}")
        key = getattr(item, "name", None) or getattr(item, "path")
        if key in self._items:
            raise ValueError(f"{self.kind} {key!r} is registered twice "
                             f"(by {self._items[key].plugin} and {item.plugin})")
        self._items[key] = item

    def get(self, name):
        return self._items.get(name)

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(self._items.values())

    def names(self) -> Sequence[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Registries:
    """All registries a plugin can add to, handed to the ``memsim_register_*`` hooks."""

    steps: Registry = field(default_factory=lambda: Registry("step", StepType))
    sections: Registry = field(default_factory=lambda: Registry("section", SectionSpec))
    files: Registry = field(default_factory=lambda: Registry("file", ProcFile))
    summary: Registry = field(default_factory=lambda: Registry("summary row", SummaryRow))
