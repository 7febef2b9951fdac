"""Typed registries through which plugins extend memsim (STYLE 6: typed objects, not dicts).

A plugin adds a workload step, a configuration section, a procfs/sysfs file, a filesystem type
(:class:`memsim.vfs.FileSystemType`), a /proc/meminfo line or a summary row by calling a registry
method with one of these objects from its ``memsim_register_*`` hook.
Trace events are declared with :class:`memsim.tracing.events.EventDecl` and added to the
:class:`memsim.tracing.events.EventRegistry`.  Values and keys a plugin adds to the core's own
steps and sections (an mmap ``type`` or flag, a ``machine`` key, an ``expect`` key) are
:class:`MmapType`, :class:`MmapFlag`, :class:`MachineKey` and :class:`ExpectKey` objects added to
the :class:`Extensions` registry.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Callable, Dict, Mapping, Optional, Sequence, Tuple


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
      "thread" names a new task too (clone's ``thread``), whose nested steps share the names of
      the task that defines it (one address space) instead of starting with a copy.
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
    """A file of /proc or /sys that a plugin adds (e.g. /proc/buddyinfo).

    A static file exists from boot: ``render(machine)`` returns its text exactly as the kernel
    prints it, and ``write(machine, data: bytes)`` (optional) takes a write: it returns the bytes
    it consumed (None: all) or raises :class:`memsim.vfs.VfsError` with the kernel's errno
    (parse numbers with :func:`memsim.pseudofs.proc_dointvec_minmax`); a write that sleeps
    returns a generator instead (:mod:`memsim.pseudofs`).  ``mode`` defaults to
    0444, 0644 with ``write``, 0200 with ``write`` alone.

    A path holding ``{...}`` (``/sys/devices/system/node/node{N}/meminfo``) documents files the
    plugin creates and removes itself while the machine runs (``machine.procfs``,
    ``machine.sysfs``: :class:`memsim.pseudofs.PseudoFs`); such a declaration has neither
    ``render`` nor ``write``.  Every file is listed in docs/workloads.md with its plugin.
    """

    path: str
    doc: str
    render: Optional[Callable[[Any], str]] = None
    plugin: str = "core"
    write: Optional[Callable[[Any, bytes], Optional[int]]] = None
    mode: Optional[int] = None

    def __post_init__(self):
        if not (self.path.startswith("/proc/") or self.path.startswith("/sys/")):
            raise ValueError(f"file {self.path!r}: the path must start with /proc/ or /sys/")
        if "{" in self.path:
            if self.render is not None or self.write is not None:
                raise ValueError(f"file {self.path!r}: a path with a {{placeholder}} documents files "
                                 "created at run time, and has no render or write")
        elif self.render is None and self.write is None:
            raise ValueError(f"file {self.path!r}: give render, write or both")

    @property
    def dynamic(self) -> bool:
        """Whether this declares files the plugin creates at run time."""
        return "{" in self.path


@dataclass(frozen=True)
class MeminfoLine:
    """The value of a /proc/meminfo line that a plugin models (HugePages_Total, SwapTotal...).

    ``name`` is the line's name as the kernel prints it, without the colon; it must be a line
    of /proc/meminfo in the machine's kernel profile that the core leaves to plugins
    (memsim.mmstat.PLUGIN_LINES).  ``value(machine)`` returns bytes for a line printed in kB,
    a plain number for HugePages_*.  ``node_value(machine, nid)`` gives the same line of
    /sys/devices/system/node/nodeN/meminfo, for the lines the kernel prints per node."""

    name: str
    doc: str
    value: Callable[[Any], int]
    plugin: str = "core"
    node_value: Optional[Callable[[Any, int], int]] = None


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


# ----------------------------------------------------------------------------------------------
# Extensions: values and keys a plugin adds to the core's steps and sections
# ----------------------------------------------------------------------------------------------

#: ``setup(ctx, vma, args)``: called by the ``mmap`` step once the core has created the mapping,
#: with the step context (:class:`memsim.workload.runner.StepContext`), the new
#: :class:`memsim.mm.VmArea` and the step's args (``args["type"]``, ``args["flags"]``, ...), e.g.
#: to install the plugin's ``vm_ops``.  Raising :class:`memsim.vm.MmError` (errno, detail) fails
#: the mmap: the new mapping is unmapped and the task sees the errno.
MmapSetup = Callable[[Any, Any, Mapping[str, Any]], None]
#: ``prepare(ctx, request)``: called by the ``mmap`` step before the core creates the mapping, to
#: change the :class:`memsim.vm.MmapRequest` (length, alignment, extra VM_* flags, accounting,
#: the address_space to map), as ``ksys_mmap_pgoff()`` does for MAP_HUGETLB.  May raise
#: :class:`memsim.vm.MmError` to fail the mmap before anything is mapped.
MmapPrepare = Callable[[Any, Any], None]
#: ``check(ctx, value)``: called by the ``expect`` step with the step context and the key's
#: converted value when the step gives the key; raises ``ctx.expectation_failed(...)`` when the
#: state does not match.
ExpectCheck = Callable[[Any, Any], None]

#: The core mmap types a plugin type is built as (:attr:`MmapType.base`).
MMAP_BASES = ("anon", "shared", "file", "file-shared")

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_FLAG_NAME = re.compile(r"^MAP_[A-Z0-9_]+$")
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MmapType:
    """A value of the ``mmap`` step's ``type``: how a new mapping is backed.

    The core builds the mapping as its ``base`` type (``anon``, ``shared``, ``file`` or
    ``file-shared``: accounting, VM_SHARED, the file or shmem object), after ``prepare`` (if any)
    adjusted the request, then calls ``setup`` with the new VmArea.  ``plugin`` is filled in with
    the registering plugin's name when left empty.
    """

    name: str
    doc: str
    base: str = "anon"
    setup: Optional[MmapSetup] = None
    prepare: Optional[MmapPrepare] = None
    plugin: str = ""


@dataclass(frozen=True)
class MmapFlag:
    """A ``MAP_*`` name the ``mmap`` step's ``flags`` list accepts, with the kernel's value.

    ``prepare`` and ``setup`` are called as for :class:`MmapType` (after the type's), in the order
    the workload lists the flags; a flag with neither only passes its bit to the core
    (``memsim.vm.do_mmap``'s ``map_flags``).
    """

    name: str
    value: int
    doc: str
    setup: Optional[MmapSetup] = None
    prepare: Optional[MmapPrepare] = None
    plugin: str = ""


@dataclass(frozen=True)
class MachineKey:
    """A key of the ``machine`` section (a boot parameter such as ``hugepages`` or ``cma``).

    The plugin reads the converted value (default applied) from ``config.machine.settings[NAME]``
    in its machine-stage hooks (``machine.spec.settings`` once the machine exists).  The Param
    must not be required: a workload that does not use the plugin leaves the key out.
    """

    param: Param
    plugin: str = ""

    @property
    def name(self) -> str:
        return self.param.name


@dataclass(frozen=True)
class ExpectKey:
    """A key of the ``expect`` step and the function that checks it.

    The Param has no default (an absent key checks nothing); when a step gives the key, ``check``
    is called with the step context and the converted value, after the core's keys.
    """

    param: Param
    check: ExpectCheck
    plugin: str = ""

    @property
    def name(self) -> str:
        return self.param.name


class Extensions:
    """The values and keys plugins add to the core's steps and sections, each kind by name.

    ``add()`` takes an :class:`MmapType`, :class:`MmapFlag`, :class:`MachineKey` or
    :class:`ExpectKey`; a name the core already has, or one another plugin added, is refused
    (through :func:`memsim.plugin_host.collect_registries`, with both plugins' names).  The
    loader and the docs read the extended declarations through
    :func:`memsim.workload.core_schema.extended_step` and
    :func:`memsim.workload.core_schema.machine_params`.
    """

    kind = "extension"
    item_type = (MmapType, MmapFlag, MachineKey, ExpectKey)

    def __init__(self) -> None:
        self.mmap_types: Dict[str, MmapType] = {}
        self.mmap_flags: Dict[str, MmapFlag] = {}
        self.machine_keys: Dict[str, MachineKey] = {}
        self.expect_keys: Dict[str, ExpectKey] = {}
        self._derived: Dict[str, Any] = {}

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, cached until the next :meth:`add` (the extended declarations the loader
        reads for every step)."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    @staticmethod
    def describe(item) -> str:
        """How an extension reads in a message: ``mmap type 'hugetlb'``, ``machine key 'cma'``."""
        kind = {MmapType: "mmap type", MmapFlag: "mmap flag", MachineKey: "machine key",
                ExpectKey: "expect key"}.get(type(item), "extension")
        return f"{kind} {getattr(item, 'name', '?')!r}"

    def key_of(self, item) -> str:
        return self.describe(item)

    def _table(self, item) -> Dict[str, Any]:
        return {MmapType: self.mmap_types, MmapFlag: self.mmap_flags, MachineKey: self.machine_keys,
                ExpectKey: self.expect_keys}[type(item)]

    def add(self, item) -> None:
        from memsim.errors import InvalidValue
        from memsim.workload import core_schema
        if not isinstance(item, self.item_type):
            raise TypeError(f"the extension registry takes MmapType, MmapFlag, MachineKey or ExpectKey, "
                            f"not {type(item).__name__}")
        what = self.describe(item)
        if isinstance(item, (MachineKey, ExpectKey)) and not isinstance(item.param, Param):
            raise InvalidValue(f"{what}: param is a {type(item.param).__name__}, not a Param",
                               "declare the key with memsim.registry.Param(name, type, doc, ...)")
        if not item.plugin:
            raise InvalidValue(f"{what} names no plugin", "set plugin= to your plugin's name")
        core = core_schema.core_extension_names(type(item))
        if item.name in core:
            raise InvalidValue(f"{what} is built into memsim ({core[item.name]})",
                               "give it another name")
        if isinstance(item, MmapType):
            if not _TYPE_NAME.match(item.name):
                raise InvalidValue(f"{what}: a type name is lower case: letters, digits and '-'",
                                   "e.g. 'hugetlb' or 'dax-file'")
            if item.base not in MMAP_BASES:
                raise InvalidValue(f"{what}: base {item.base!r} is not a core mmap type",
                                   f"use one of {', '.join(MMAP_BASES)}")
        elif isinstance(item, MmapFlag):
            if not _FLAG_NAME.match(item.name):
                raise InvalidValue(f"{what}: a flag is named MAP_* in capitals, as in the kernel",
                                   "e.g. MAP_HUGETLB")
            if not isinstance(item.value, int) or isinstance(item.value, bool) or not 0 < item.value < 1 << 32:
                raise InvalidValue(f"{what}: value {item.value!r} is not a mmap flag value",
                                   "give the kernel's value, e.g. 0x40000 for MAP_HUGETLB")
            same = [f for f in core_schema.MMAP_FLAGS + tuple(self.mmap_flags.values()) if f.value == item.value]
            if same:
                by = "built in" if same[0].plugin == "core" else f"added by plugin {same[0].plugin!r}"
                raise InvalidValue(f"{what} has the value {item.value:#x} of {same[0].name} ({by})",
                                   "give the kernel's value of your flag")
        else:
            if not _KEY_NAME.match(item.name):
                raise InvalidValue(f"{what}: a key is lower case: letters, digits and '_'", "e.g. 'hugepages'")
            if item.param.required:
                raise InvalidValue(f"{what} is required", "give it a default: a workload that does not "
                                   "use the plugin leaves it out")
            if isinstance(item, ExpectKey) and item.param.default is not None:
                raise InvalidValue(f"{what} has a default", "remove default=: an expect key the step does "
                                   "not give checks nothing")
            if isinstance(item, ExpectKey) and not callable(item.check):
                raise InvalidValue(f"{what}: check is not callable", "pass check=function(ctx, value)")
        table = self._table(item)
        if item.name in table:
            raise ValueError(f"{what} is registered twice (by {table[item.name].plugin} and {item.plugin})")
        table[item.name] = item
        self._derived.clear()

    def __iter__(self):
        for table in (self.mmap_types, self.mmap_flags, self.machine_keys, self.expect_keys):
            yield from table.values()

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Registries:
    """All registries a plugin can add to, handed to the ``memsim_register_*`` hooks, and the
    plugins they were collected from (``plugins_loaded``; ``plugins_disabled``: ``-p no:NAME``).
    ``owners`` maps (registry kind, name) -> the plugin that added it: ``("step", "hello")`` ->
    ``"hello"`` (what a message names when the step fails)."""

    steps: Registry = field(default_factory=lambda: Registry("step", StepType))
    sections: Registry = field(default_factory=lambda: Registry("section", SectionSpec))
    files: Registry = field(default_factory=lambda: Registry("file", ProcFile))
    filesystems: Registry = field(default_factory=lambda: Registry("filesystem type", _fs_type()))
    meminfo: Registry = field(default_factory=lambda: Registry("meminfo line", MeminfoLine))
    summary: Registry = field(default_factory=lambda: Registry("summary row", SummaryRow))
    extensions: Extensions = field(default_factory=Extensions)
    patches: Any = field(default_factory=lambda: _patch_registry())
    plugins_loaded: Tuple[str, ...] = ()
    plugins_disabled: Tuple[str, ...] = ()
    owners: Dict[Tuple[str, str], str] = field(default_factory=dict)


def _patch_registry():
    from memsim.patches import PatchRegistry
    return PatchRegistry()


def _fs_type() -> type:
    from memsim.vfs import FileSystemType
    return FileSystemType
