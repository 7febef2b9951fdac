"""One workload, one variant: the file with the command line's ``--set`` and ``--patch`` values
applied, loaded with the plugins and registries that variant needs.

``memsim run``, ``compare`` and ``sweep`` all go through here::

    host = Host(disabled=("hello",))
    source = WorkloadSource.read("configs/patch-rss-stat-symbolic.yaml")
    prepared = host.prepare(source, [patch_override("rss-stat-symbolic", False)])
    Run(prepared.workload, prepared.registries, prepared.events, host.pm, seed=3).execute()

An :class:`Override` replaces (or adds) one value of the YAML node tree at a dotted path before
the loader reads it, so every value keeps its ``file:line:column`` and a value given on the
command line is reported as ``--set machine.cpus=0: ...``.  ``--patch NAME=STATE`` is the
override of ``machine.patches.NAME``.

The kernel profile and the seed changes' states decide which trace events exist (kmem:rss_stat's
print format depends on ``rss-stat-symbolic``), so the registries are collected for the variant's
``machine.kernel`` and ``machine.patches``; :class:`Host` keeps them per (kernel, states), and the
prepared workload per variant, so that a sweep loads each variant once per process.

A :class:`WorkloadSource` is the file's name and text: what a sweep ships to its workers, which
need not see the file.
"""
from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from memsim.errors import Location, UsageError, WorkloadError
from memsim.patches import PATCH_NAMES, PatchStates, check_patch_name, default_states, parse_state, unavailable
from memsim.profiles import DEFAULT_PROFILE, PROFILES, get_profile

__all__ = ["Override", "WorkloadSource", "Prepared", "Host", "parse_set", "parse_patch",
           "parse_seed", "patch_override", "setting_override", "split_values", "apply_overrides"]

_MAP_TAG = "tag:yaml.org,2002:map"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

Component = Union[str, int]


@dataclass(frozen=True)
class Override:
    """One value given on the command line: ``text`` (YAML) at the dotted ``path`` of the
    workload (``("machine", "cpus")``); ``option`` is how the user wrote it, for messages."""

    path: Tuple[Component, ...]
    text: str
    option: str

    @property
    def key(self) -> str:
        return ".".join(str(c) for c in self.path)


@dataclass(frozen=True)
class WorkloadSource:
    """A workload file's name (for messages) and its text."""

    filename: str
    text: str

    @classmethod
    def read(cls, path) -> "WorkloadSource":
        """The file at ``path``; a file that cannot be read or is not UTF-8 is a WorkloadError."""
        name = str(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            raise WorkloadError(name, "is a directory", "give a workload file") from None
        except OSError as exc:
            raise WorkloadError(name, f"cannot read the workload: {exc.strerror or exc}",
                                "check the path and its permissions") from None
        try:
            return cls(name, data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise WorkloadError(Location(name, line, column),
                                f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                                "save the workload as UTF-8") from None


# ----------------------------------------------------------------------------------------------
# Parsing the options
# ----------------------------------------------------------------------------------------------

def split_values(text: str) -> List[str]:
    """``V1,V2,...`` split at the commas outside brackets and quotes (``[a, b],c`` is two values)."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _parse_path(key: str, option: str) -> Tuple[Component, ...]:
    parts = key.split(".")
    if not key or not all(parts):
        raise UsageError(option, f"{key!r} is not a dotted path",
                         "write the workload key as section.key, e.g. machine.cpus or tasks.0.cpu")
    out: List[Component] = []
    for part in parts:
        if part.isdigit():
            out.append(int(part))
        elif _KEY.match(part):
            out.append(part)
        else:
            raise UsageError(option, f"{part!r} in {key!r} is not a key name",
                             "keys are letters, digits, '_' and '-'; list items are numbers (tasks.0)")
    return tuple(out)


def parse_set(text: str, many: bool, option: str = "--set") -> Tuple[Tuple[Component, ...], List[str]]:
    """``KEY=VALUE`` (``many``: ``KEY=V1,V2``) -> (path, values as YAML text)."""
    key, sep, value = text.partition("=")
    where = f"{option} {text}"
    if not sep:
        raise UsageError(where, "no '=' in the setting",
                         f"write {option} KEY={'V1,V2' if many else 'VALUE'}, e.g. machine.cpus=2")
    path = _parse_path(key.strip(), where)
    values = split_values(value) if many else [value.strip()]
    if any(v == "" for v in values):
        raise UsageError(where, "a value is empty", "give a value after '=' (and between commas)")
    return path, values


def setting_override(key: str, text: str, option: str) -> Override:
    """The override that sets the workload value at the dotted ``key`` to ``text`` (YAML);
    ``option`` names it in messages (``settings['machine.cpus']``)."""
    return Override(_parse_path(key.strip(), option), text, option)


def parse_seed(value: Union[int, str], where: str = "--seed") -> int:
    """The seed ``value`` (an int, or its decimal text as ``--seed`` gives it), checked against
    ``machine.seed``'s bounds (0 to 2**64-1) as the workload's own seed is; ``where`` names it
    in messages."""
    from memsim.workload.core_schema import MACHINE_PARAMS
    param = next(p for p in MACHINE_PARAMS if p.name == "seed")
    lo, hi = param.minimum, param.maximum
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        seed = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        seed = value
    else:
        raise UsageError(where, f"the seed must be an integer, not {value!r}",
                         f"give a whole number from {lo} to {hi}")
    if seed < lo:
        raise UsageError(where, f"the seed is {seed}, below the minimum of {lo}", f"give at least {lo}")
    if seed > hi:
        raise UsageError(where, f"the seed is {seed}, above the maximum of {hi}", f"give at most {hi}")
    return seed


def parse_patch(text: str, many: bool, bare_ok: bool = False,
                option: str = "--patch") -> Tuple[str, List[bool]]:
    """``NAME=on|off`` (``many``: ``NAME=on,off``; ``bare_ok``: ``NAME`` alone means both) ->
    (name, states).  An unknown name suggests the closest."""
    name, sep, value = text.partition("=")
    where = f"{option} {text}"
    name = name.strip()
    check_patch_name(name, where)
    if not sep:
        if bare_ok:
            return name, [True, False]
        raise UsageError(where, "no state given", f"write {option} {name}={'on,off' if many else 'off'}")
    words = split_values(value) if many else [value]
    states = [parse_state(w, where) for w in words]
    if len(set(states)) != len(states):
        raise UsageError(where, "a state is given twice", f"write {option} {name}=on,off")
    return name, states


def patch_override(name: str, on: bool, option: Optional[str] = None) -> Override:
    """The override that sets seed change ``name`` on or off (``--patch NAME=on``)."""
    word = "on" if on else "off"
    return Override(("machine", "patches", name), word, option or f"--patch {name}={word}")


# ----------------------------------------------------------------------------------------------
# Applying overrides to the YAML node tree
# ----------------------------------------------------------------------------------------------

def _mark(option: str) -> yaml.Mark:
    return yaml.Mark(option, 0, 0, 0, None, None)


def _value_node(ov: Override) -> Node:
    stream = io.StringIO(ov.text)
    stream.name = ov.option                 # the loader reports this node's location as the option
    try:
        node = yaml.compose(stream, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(ov.option, f"the value is not valid YAML: {problem}",
                         "quote it, e.g. --set 'tasks.0.name=\"a: b\"'") from None
    if node is None:
        raise UsageError(ov.option, "the value is empty", "give a value after '='")
    return node


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return f"the value {node.value!r}"


def _find_key(node: MappingNode, key: str) -> Optional[int]:
    for i, (knode, _) in enumerate(node.value):
        if isinstance(knode, ScalarNode) and knode.tag != _MERGE_TAG and knode.value == key:
            return i
    return None


def _merged_value(node: MappingNode, key: str) -> Optional[Node]:
    """The value ``key`` gets from the mapping's merge keys (``<<: *base``), if any."""
    for knode, vnode in node.value:
        if knode.tag != _MERGE_TAG:
            continue
        for source in (vnode.value if isinstance(vnode, SequenceNode) else [vnode]):
            if isinstance(source, MappingNode):
                i = _find_key(source, key)
                if i is not None:
                    return source.value[i][1]
                found = _merged_value(source, key)
                if found is not None:
                    return found
    return None


def _step(node: Node, comp: Component, ov: Override, done: str, last: bool,
          value: Optional[Node]) -> Node:
    """The child ``comp`` of ``node`` (created if missing); the last component is replaced by
    ``value``."""
    mark = _mark(ov.option)
    here = done or "the workload"
    if isinstance(node, MappingNode):
        key = str(comp)
        i = _find_key(node, key)
        if last:
            if i is None:
                node.value.append((ScalarNode(_STR_TAG, key, mark, mark), value))
            else:
                node.value[i] = (node.value[i][0], value)
            return value
        if i is not None:
            child = node.value[i][1]
            if isinstance(child, ScalarNode) and child.tag == "tag:yaml.org,2002:null":
                child = MappingNode(_MAP_TAG, [], mark, mark)
                node.value[i] = (node.value[i][0], child)
            return child
        merged = _merged_value(node, key)
        child = copy.deepcopy(merged) if merged is not None else MappingNode(_MAP_TAG, [], mark, mark)
        node.value.append((ScalarNode(_STR_TAG, key, mark, mark), child))
        return child
    if isinstance(node, SequenceNode):
        if isinstance(comp, int):
            if comp >= len(node.value):
                raise UsageError(ov.option, f"{here} has {len(node.value)} item(s), no item {comp}",
                                 f"give an index from 0 to {len(node.value) - 1}")
            index = comp
        else:
            index = next((j for j, item in enumerate(node.value) if isinstance(item, MappingNode)
                          and (k := _find_key(item, "name")) is not None
                          and item.value[k][1].value == comp), None)
            if index is None:
                raise UsageError(ov.option, f"no item of {here} is named {comp!r}",
                                 f"give the item's name or index, e.g. {here}.0")
        if last:
            node.value[index] = value
            return value
        return node.value[index]
    raise UsageError(ov.option, f"{here} is {_describe(node)}, which has no key {comp!r}",
                     "check the dotted path against the workload (docs/workloads.md)")


def apply_overrides(root: Node, overrides: Iterable[Override]) -> Node:
    """``root`` with each override's value put at its path (missing mappings are created)."""
    if not isinstance(root, MappingNode):
        return root                         # the loader reports what the file should be
    for ov in overrides:
        value = _value_node(ov)
        node = root
        done: List[str] = []
        for i, comp in enumerate(ov.path):
            node = _step(node, comp, ov, ".".join(done), i == len(ov.path) - 1, value)
            done.append(str(comp))
    return root


def peek(root: Node) -> Tuple[str, Dict[str, bool]]:
    """The kernel profile and the seed-change states the workload asks for, read leniently
    (the loader reports what is wrong): the default profile, and no states, where unreadable."""
    kernel, patches = DEFAULT_PROFILE, {}
    if not isinstance(root, MappingNode):
        return kernel, patches
    i = _find_key(root, "machine")
    machine = root.value[i][1] if i is not None else None
    if not isinstance(machine, MappingNode):
        return kernel, patches
    k = _find_key(machine, "kernel")
    if k is not None and isinstance(machine.value[k][1], ScalarNode) and machine.value[k][1].value in PROFILES:
        kernel = machine.value[k][1].value
    p = _find_key(machine, "patches")
    if p is not None and isinstance(machine.value[p][1], MappingNode):
        for knode, vnode in machine.value[p][1].value:
            if (isinstance(knode, ScalarNode) and knode.value in PATCH_NAMES
                    and isinstance(vnode, ScalarNode) and vnode.value in ("on", "off")):
                patches[knode.value] = vnode.value == "on"
    return kernel, patches


# ----------------------------------------------------------------------------------------------
# Loading a variant
# ----------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """A workload variant ready to run: ``Run(workload, registries, events, pm)``."""

    workload: Any
    registries: Any
    events: Any
    pm: Any


class Host:
    """The plugins (loaded once, minus ``disabled``) and what they register, per kernel profile
    and seed-change states; and the workloads prepared with them."""

    def __init__(self, disabled: Sequence[str] = (), pm=None):
        from memsim.plugin_host import get_plugin_manager
        self.disabled = tuple(disabled)
        self.pm = pm if pm is not None else get_plugin_manager(disabled=self.disabled)
        self._registries: Dict[Tuple[str, Tuple[str, ...]], Tuple[Any, Any]] = {}
        self._prepared: Dict[Any, Prepared] = {}

    def registries(self, kernel: str, states: Optional[PatchStates] = None):
        """(Registries, EventRegistry) for ``kernel`` with the seed changes ``states`` (the
        profile's defaults if None); collected once per (kernel, states)."""
        from memsim.plugin_host import collect_registries
        if kernel not in PROFILES:
            import difflib
            close = difflib.get_close_matches(kernel, list(PROFILES), 1)
            raise UsageError("--kernel", f"unknown kernel profile {kernel!r}",
                             (f"did you mean {close[0]!r}? " if close else "") + f"known: {', '.join(PROFILES)}")
        profile = get_profile(kernel)
        if states is None:
            states = default_states(profile)
        key = (kernel, states.off())
        if key not in self._registries:
            self._registries[key] = collect_registries(self.pm, profile, patch_states=states)
        return self._registries[key]

    def check_patches(self, names: Iterable[str], option: str = "--patch") -> None:
        """Every named seed change can be switched here (its plugin is loaded), else a UsageError."""
        registries, _ = self.registries(DEFAULT_PROFILE)
        for name in names:
            seed = check_patch_name(name, option)
            why = unavailable(seed, registries)
            if why is not None:
                raise UsageError(f"{option} {name}", *why)

    def prepare(self, source: WorkloadSource, overrides: Sequence[Override] = (),
                events: Sequence[str] = ()) -> Prepared:
        """Load ``source`` with ``overrides`` applied, under the registries of the kernel and
        seed-change states it ends up with; ``events`` (set_event globs) are the trace events to
        record (none: nothing is recorded).  Cached per (source, overrides)."""
        from memsim.workload.loader import _compose, _Loader
        key = (source, tuple(overrides))
        prepared = self._prepared.get(key)
        if prepared is None:
            root = apply_overrides(_compose(source.text, source.filename), overrides)
            kernel, patches = peek(root)
            states = default_states(get_profile(kernel)).with_states(patches)
            registries, registry = self.registries(kernel, states)
            workload = _Loader(source.filename, registries).workload(root)
            if workload.machine.kernel != kernel or workload.machine.patches != states:
                registries, registry = self.registries(workload.machine.kernel, workload.machine.patches)
                workload = _Loader(source.filename, registries).workload(root)
            prepared = self._prepared[key] = Prepared(workload, registries, registry, self.pm)
        try:
            prepared.events.enable(list(events), append=False)
        except ValueError as e:
            raise UsageError("--events", str(e), "see 'memsim events' for the event names") from None
        return prepared
