"""The validated, frozen form of a workload file, as :mod:`memsim.workload.loader` builds it.

Everything here is immutable: tuples for sequences and :class:`types.MappingProxyType` for
mappings, so a run configuration can be shared by the runner, the plugins and the report without
anyone changing it under the others' feet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Tuple

from memsim.errors import Location

__all__ = ["Workload", "MachineConfig", "TaskConfig", "Step", "freeze"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def freeze(value: Any) -> Any:
    """``value`` with dicts made read-only mappings and lists made tuples, recursively."""
    if isinstance(value, (dict, MappingProxyType)):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)) and not isinstance(value, Step):
        return tuple(freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Step:
    """One step of a task: ``- op: {args}``.

    ``args`` holds every declared parameter of the step type, defaults applied (None for an absent
    optional parameter without a default), values converted: sizes, durations, addresses and
    ints are ints, enums and strs are strs, bools are bools, lists are tuples, mappings are
    read-only mappings, nested step lists (``fork.steps``) are tuples of :class:`Step`.
    ``where`` is the location of the step's name; ``arg_where`` maps each parameter the workload
    wrote to the location of its value (a defaulted parameter is absent: use
    ``arg_where.get(key, where)``).
    """

    op: str
    args: Mapping[str, Any]
    where: Location
    arg_where: Mapping[str, Location] = field(default_factory=lambda: _EMPTY)

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class TaskConfig:
    """A top-level task: ``name`` (unique in the workload), ``comm`` (at most 15 characters),
    the ``cpu`` it starts on (resolved: the given one, or round robin by task index), its
    ``steps``, the ``where`` of its list item and its ``oom_score_adj``."""

    name: str
    comm: str
    cpu: int
    steps: Tuple[Step, ...]
    where: Location
    #: /proc/PID/oom_score_adj at the start (-1000 .. 1000)
    oom_score_adj: int = 0


@dataclass(frozen=True)
class MachineConfig:
    """The ``machine`` section: ``nodes`` holds each NUMA node's memory in bytes,
    ``trace_buffer_kb`` the per-CPU ring buffer size in KiB (tracefs ``buffer_size_kb``),
    ``trace_overwrite`` what it does when full (tracefs ``options/overwrite``).

    ``settings`` holds the keys plugins added to the section (:class:`memsim.registry.MachineKey`,
    e.g. boot parameters), every one with its default applied; ``given_settings`` names those the
    file wrote.

    ``patches`` is the state of every seed change (:class:`memsim.patches.PatchStates`: the
    kernel profile's defaults, then ``machine.patches`` and ``--patch``; left out, the
    profile's defaults); ``given_patches`` names the changes the file or the command line
    switched.  ``config`` holds the kernel build options the file set (the rest keep their
    defaults: :meth:`memsim.machine.Machine.kconfig`).
    """

    cpus: int = 1
    nodes: Tuple[int, ...] = (1 << 30,)
    trace_buffer_kb: int = 1408
    kernel: str = "v5.14"
    seed: int = 0
    quantum: int = 512
    trace_overwrite: bool = True
    where: Optional[Location] = None
    settings: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    given_settings: frozenset = frozenset()
    patches: Any = None
    given_patches: frozenset = frozenset()
    #: kernel build options (``machine.config``), every one in core_schema.KCONFIG
    config: Mapping[str, bool] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if self.patches is None:                # the profile's defaults
            from memsim.patches import default_states
            from memsim.profiles import PROFILES, get_profile
            if self.kernel in PROFILES:
                object.__setattr__(self, "patches", default_states(get_profile(self.kernel)))

    @property
    def memory(self) -> int:
        """Total memory of all nodes, in bytes."""
        return sum(self.nodes)


@dataclass(frozen=True)
class Workload:
    """A loaded workload.

    ``sections`` maps every registered plugin section to its converted keys (defaults applied);
    a section the file does not write is present with its defaults, unless it has a required key.
    ``given_sections`` names the sections the file wrote.  ``tasks`` are the top-level tasks in
    file order (forked children are ``fork`` steps inside them).
    """

    path: str
    machine: MachineConfig
    sections: Mapping[str, Mapping[str, Any]]
    tasks: Tuple[TaskConfig, ...]
    given_sections: frozenset = frozenset()
    section_where: Mapping[str, Location] = field(default_factory=lambda: _EMPTY)
