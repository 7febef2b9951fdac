"""The seed changes as switches: the fixed table of the nine kernel changes memsim exists to show
(../shared/seeds/000_f9870291787486ec.txt), their on/off state on a machine, and what the plugin
that owns each one attaches to it.

The table is the core's; the names are fixed because users write them in workloads
(``machine: {patches: {uffd-minor: off}}``) and on the command line (``--patch uffd-minor=off``).
A plugin that implements a change adds a :class:`PatchImpl` in ``memsim_register_patches``: how
memsim models it, the emulated files worth comparing with it on and off, and the metrics that
show its effect.  It reads the state with ``machine.patches.enabled(name)``; what is decided
before the machine exists reads it from the ``patch_states`` argument of
``memsim_register_events`` (an event's print format) or from ``config.machine.patches`` in
``memsim_machine_configure`` (boot options, slab geometry).

A change is on by default on every kernel that merged it (all nine are in v5.14, so both
profiles have them all); turning one off shows the kernel before the change.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from memsim.errors import UsageError

__all__ = ["SeedPatch", "SEED_PATCHES", "PATCH_NAMES", "PatchMetric", "PatchImpl", "PatchRegistry",
           "PatchStates", "STATE_WORDS", "seed_patch", "parse_state", "suggest_patch", "default_states",
           "check_patch_name", "plugin_state", "unavailable"]


@dataclass(frozen=True)
class SeedPatch:
    """One seed change: its fixed name, the upstream commit (subject and id), the kernel release
    that merged it, one line on what it changes, and the plugin that owns it."""

    name: str
    subject: str
    commit: str
    merged: Tuple[int, int]
    summary: str
    plugin: str

    @property
    def merged_in(self) -> str:
        return f"v{self.merged[0]}.{self.merged[1]}"


#: The nine seed changes, in the order of the seed file.
SEED_PATCHES: Tuple[SeedPatch, ...] = (
    SeedPatch("uffd-minor", "userfaultfd: add minor fault registration mode", "7677f7fd8be7",
              (5, 13), "userfaultfd minor faults (a page in the page cache but not mapped here) and "
              "UFFDIO_CONTINUE, for hugetlbfs (v5.13) and shmem (v5.14)", "userfaultfd"),
    SeedPatch("hugetlb-contig-dissolve", "mm: make alloc_contig_range handle free hugetlb pages",
              "369fa227c219", (5, 14), "alloc_contig_range replaces a free huge page in its range "
              "with a fresh one on the same node instead of failing", "hugetlb"),
    SeedPatch("hugetlb-resize-mutex", "hugetlb: add per-hstate mutex to synchronize user adjustments",
              "2938396771c8", (5, 13), "a per-hstate mutex serialises nr_hugepages resizes, so "
              "concurrent resizes no longer race on next_nid_to_alloc", "hugetlb"),
    SeedPatch("no-nrexceptional", "mm: remove nrexceptional from inode", "8bc3c481b3d0", (5, 13),
              "address_space loses nrexceptional: emptiness is mapping_empty(), and inodes are 8 "
              "bytes smaller (more objects per inode_cache / shmem_inode_cache slab)", "pagecache"),
    SeedPatch("kasan-tag-fe", "kasan: initialize shadow to TAG_INVALID for SW_TAGS", "",
              (5, 12), "software tag-based KASAN starts its shadow at 0xFE (invalid) instead of 0xFF: "
              "never-allocated memory reads like freed memory and redzones, and reports of wild "
              "accesses through tagged pointers print memory tag fe",
              "kasan"),
    SeedPatch("rss-stat-symbolic", "mm, tracing: improve rss_stat tracepoint message", "", (5, 13),
              "kmem:rss_stat prints the counter's name (type=MM_ANONPAGES) instead of its index "
              "(member=1)", "kmem"),
    SeedPatch("objcg-kmem", "mm: memcontrol: use obj_cgroup APIs to charge kmem pages", "b4e0b68fbd9d",
              (5, 13), "kmem pages (page tables, large kmalloc) are charged through an obj_cgroup, so "
              "they no longer pin a removed memory cgroup", "memcg"),
    SeedPatch("swapin-charge-first", "memcg: charge before adding to swapcache on swapin",
              "0add0c77a9bd", (5, 13), "a page read in from swap is charged to its memcg before it "
              "enters the swap cache, so the per-memcg swapcached statistic is right", "swap"),
    SeedPatch("memcg-rstat", "mm: memcontrol: switch to rstat", "2d146aa3aa84", (5, 13),
              "memcg statistics propagate through rstat, flushed when read, instead of per-CPU "
              "batches that lose up to 32 pages per CPU and cgroup", "memcg"),
)

PATCH_NAMES: Tuple[str, ...] = tuple(p.name for p in SEED_PATCHES)
_BY_NAME: Dict[str, SeedPatch] = {p.name: p for p in SEED_PATCHES}

#: The words a state is written with.
STATE_WORDS = {"on": True, "off": False}


def seed_patch(name: str) -> SeedPatch:
    return _BY_NAME[name]


def suggest_patch(name: str) -> str:
    close = difflib.get_close_matches(name, PATCH_NAMES, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else f"the seed changes are: {', '.join(PATCH_NAMES)}"


def check_patch_name(name: str, where: str) -> SeedPatch:
    """The seed change called ``name``, or a UsageError at ``where`` suggesting the closest."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(where, f"there is no seed change called {name!r}", suggest_patch(name)) from None


def parse_state(word: str, where: str) -> bool:
    try:
        return STATE_WORDS[word.strip().lower()]
    except KeyError:
        raise UsageError(where, f"{word!r} is not a patch state", "write on or off") from None


@dataclass(frozen=True)
class PatchMetric:
    """A number that shows a patch's effect, computed from the machine at the end of a run
    (``compute(machine) -> int | float``): the dying cgroups left behind, the error of a
    statistic, the objects per slab.  ``name`` is lower case (letters, digits, ``_``); ``unit``
    says what it counts (``pages``, ``bytes``, ``ns``...)."""

    name: str
    doc: str
    compute: Callable[[Any], Any]
    unit: str = ""


@dataclass(frozen=True)
class PatchImpl:
    """What the plugin that owns a seed change attaches to it (``memsim_register_patches``):

    * ``model``: how memsim models the change, one paragraph (docs/patches.md prints it);
    * ``files``: the emulated files worth comparing with the change on and off (paths in the
      machine's namespace: ``/proc/meminfo``, ``/sys/fs/cgroup/memory.stat``...);
    * ``metrics``: the numbers that show its effect (:class:`PatchMetric`);
    * ``events``: the trace events (set_event globs) ``memsim compare`` records to show it;
    * ``plugin``: filled in with the registering plugin's name.

    Its demo workload is ``configs/patch-<name>.yaml``.
    """

    name: str
    model: str
    files: Tuple[str, ...] = ()
    metrics: Tuple[PatchMetric, ...] = ()
    events: Tuple[str, ...] = ()
    plugin: str = ""

    @property
    def demo(self) -> str:
        return f"configs/patch-{self.name}.yaml"

    @property
    def seed(self) -> SeedPatch:
        return _BY_NAME[self.name]


_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PatchRegistry:
    """The implementations plugins attach to the seed changes, keyed by the change's name.

    ``add()`` refuses a name that is not in :data:`SEED_PATCHES` (suggesting the closest), an
    implementation from a plugin other than the change's owner, and a second implementation.
    """

    kind = "seed change"
    item_type = PatchImpl

    def __init__(self) -> None:
        self._items: Dict[str, PatchImpl] = {}

    def add(self, item: PatchImpl) -> None:
        from memsim.errors import InvalidValue
        if not isinstance(item, PatchImpl):
            raise TypeError(f"the seed change registry takes PatchImpl, not {type(item).__name__}")
        seed = _BY_NAME.get(item.name)
        if seed is None:
            raise InvalidValue(f"there is no seed change called {item.name!r}", suggest_patch(item.name))
        if item.plugin != seed.plugin:
            raise InvalidValue(f"seed change {item.name!r} belongs to plugin {seed.plugin!r}, not "
                               f"{item.plugin!r}", "only the owning plugin implements a seed change "
                               "(see `memsim patches`)")
        if not item.model.strip():
            raise InvalidValue(f"seed change {item.name!r} has no model",
                               "say in model= how the plugin models the change")
        names = set()
        for metric in item.metrics:
            if not isinstance(metric, PatchMetric):
                raise InvalidValue(f"seed change {item.name!r}: a metric is a {type(metric).__name__}",
                                   "declare metrics as memsim.patches.PatchMetric(name, doc, compute)")
            if not _METRIC_NAME.match(metric.name) or metric.name in names:
                raise InvalidValue(f"seed change {item.name!r}: metric name {metric.name!r} is "
                                   "invalid or repeated", "name each metric once, in lower case "
                                   "(letters, digits, '_')")
            names.add(metric.name)
        for path in item.files:
            if not path.startswith("/"):
                raise InvalidValue(f"seed change {item.name!r}: file {path!r} is not an absolute path",
                                   "give the file's path in the emulated machine, e.g. /proc/meminfo")
        for other in self._items.values():
            clash = names & {m.name for m in other.metrics}
            if clash:
                raise InvalidValue(f"metric {sorted(clash)[0]!r} of seed change {item.name!r} is also a "
                                   f"metric of {other.name!r} (plugin {other.plugin!r})",
                                   "give each metric its own name (sweeps and compare key the "
                                   "metrics by name)")
        if item.name in self._items:
            raise ValueError(f"seed change {item.name!r} is implemented twice")
        self._items[item.name] = item

    def get(self, name: str) -> Optional[PatchImpl]:
        return self._items.get(name)

    def key_of(self, item) -> str:
        return f"seed change {getattr(item, 'name', '?')!r}"

    def describe(self, item) -> str:
        return self.key_of(item)

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[PatchImpl]:
        return (self._items[n] for n in PATCH_NAMES if n in self._items)

    def names(self) -> Tuple[str, ...]:
        return tuple(n for n in PATCH_NAMES if n in self._items)

    def metrics(self, names: Optional[Iterable[str]] = None) -> Tuple[PatchMetric, ...]:
        """The metrics of the seed changes ``names`` (all the implemented ones if None), in
        table order."""
        wanted = set(PATCH_NAMES if names is None else names)
        return tuple(m for impl in self for m in impl.metrics if impl.name in wanted)

    def __len__(self) -> int:
        return len(self._items)


class PatchStates(Mapping[str, bool]):
    """The state of every seed change on one machine (read-only): ``states.enabled(name)``.

    Built from the states given; a change not given is on.  Use :func:`default_states` for a
    profile's defaults."""

    def __init__(self, states: Mapping[str, bool] = MappingProxyType({})):
        unknown = [n for n in states if n not in _BY_NAME]
        if unknown:
            raise KeyError(f"no seed change {unknown[0]!r}; {suggest_patch(unknown[0])}")
        self._states = MappingProxyType({n: bool(states[n]) for n in PATCH_NAMES if n in states})

    def enabled(self, name: str) -> bool:
        """Is the seed change ``name`` applied (the kernel after it)?"""
        if name not in _BY_NAME:
            raise KeyError(f"no seed change {name!r}; {suggest_patch(name)}")
        return self._states.get(name, True)

    def __getitem__(self, name: str) -> bool:
        return self.enabled(name)

    def __iter__(self) -> Iterator[str]:
        return iter(PATCH_NAMES)

    def __len__(self) -> int:
        return len(PATCH_NAMES)

    def off(self) -> Tuple[str, ...]:
        """The changes turned off, in table order."""
        return tuple(n for n in PATCH_NAMES if not self.enabled(n))

    def with_states(self, changes: Mapping[str, bool]) -> "PatchStates":
        """These states with ``changes`` ({name: on}) applied."""
        merged = {n: self.enabled(n) for n in PATCH_NAMES}
        merged.update(changes)
        return PatchStates(merged)

    def label(self) -> str:
        """``all on`` or the changes turned off: ``rss-stat-symbolic=off``."""
        off = self.off()
        return " ".join(f"{n}=off" for n in off) if off else "all on"

    def __repr__(self) -> str:
        return f"PatchStates(off={list(self.off())})"

    def __eq__(self, other) -> bool:
        return isinstance(other, PatchStates) and self.off() == other.off()

    def __hash__(self) -> int:
        return hash(self.off())


def default_states(profile) -> PatchStates:
    """Every change the profile's kernel merged is on, the others off."""
    return PatchStates({p.name: profile.version >= p.merged for p in SEED_PATCHES})


def plugin_state(name: str, loaded: Iterable[str], disabled: Iterable[str]) -> str:
    """Whether the plugin owning a seed change is ``loaded``, ``disabled`` (``-p no:NAME``) or
    ``missing`` (not installed: memsim does not have it yet)."""
    if name in tuple(loaded):
        return "loaded"
    if name in tuple(disabled):
        return "disabled"
    return "missing"


def unavailable(seed: SeedPatch, registries) -> Optional[Tuple[str, str]]:
    """(problem, fix) when the seed change cannot be switched on these registries (its plugin
    is disabled, not installed, or does not implement it); None when it can."""
    if registries.patches.get(seed.name) is not None:
        return None
    state = plugin_state(seed.plugin, registries.plugins_loaded, registries.plugins_disabled)
    if state == "disabled":
        return (f"seed change {seed.name!r} belongs to plugin {seed.plugin!r}, which is disabled "
                f"(-p no:{seed.plugin})", f"remove -p no:{seed.plugin}, or leave {seed.name} out")
    if state == "missing":
        return (f"seed change {seed.name!r} belongs to plugin {seed.plugin!r}, which is not "
                "installed (memsim does not have it yet)",
                f"leave {seed.name} out until the {seed.plugin} plugin exists (see `memsim patches`)")
    return (f"plugin {seed.plugin!r} is loaded but does not implement seed change {seed.name!r}",
            f"update the {seed.plugin} plugin, or leave {seed.name} out")
