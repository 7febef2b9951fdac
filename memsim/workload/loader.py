"""Load a workload file into the frozen dataclasses of :mod:`memsim.workload.schema`.

The loader reads the YAML node tree (``yaml.compose`` with the safe loader), so every key and value
keeps its line and column, and validates it against the declarations in the registries: the
built-in ``machine`` section and tasks (:mod:`memsim.workload.core_schema`), the sections and steps
plugins registered (:class:`memsim.registry.SectionSpec`, :class:`memsim.registry.StepType`).
It knows no step by name: what a step accepts is what its :class:`~memsim.registry.Param` tuple
declares.

Every mistake is a :class:`memsim.errors.WorkloadError` reading ``file:line:column: problem; fix``
with the column on the offending key or value.  A parameter declaration a plugin got wrong (an
unknown type, an invalid default) is a :class:`memsim.errors.PluginError`.

YAML notes: anchors, aliases and merge keys (``<<: *base``) work; a key written twice in one mapping
is an error (a merged key may be overridden); numbers are decimal even with leading zeros; top-level
keys starting with ``x-`` are ignored, to hold anchors (``x-common: &common {...}``).
"""
from __future__ import annotations

import difflib
import re
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Set, Tuple, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from memsim.errors import InvalidValue, Location, PluginError, WorkloadError
from memsim.registry import Param, Registries
from memsim.units import (DURATION_FORMS, SIZE_FORMS, format_duration, format_size, parse_duration,
                          parse_size)
from memsim.workload import core_schema
from memsim.workload.schema import MachineConfig, Step, TaskConfig, Workload, freeze

__all__ = ["load_workload", "load_workload_text", "MAX_VALUES", "MAX_DEPTH"]

#: A workload may expand (through aliases) to at most this many YAML values.
MAX_VALUES = 1_000_000
#: Values may nest at most this deep (a deeper tree is almost surely a recursive alias).
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
_MERGE = _TAG + "merge"
_BUILTIN_SECTIONS = ("machine", "tasks")
_TYPES = ("int", "size", "duration", "str", "bool", "enum", "address", "steps", "map", "list", "cpu")
_INT_RE = re.compile(r"^[-+]?(?:0x[0-9a-f](?:_?[0-9a-f])*|0b[01](?:_?[01])*|0o[0-7](?:_?[0-7])*"
                     r"|[0-9](?:_?[0-9])*)$", re.IGNORECASE)
_TRUE = ("true", "yes", "on")

Path = Tuple[Union[str, int], ...]
Rec = Dict[Path, Tuple[Location, Location]]   # path -> (location of its key, of its value)


def load_workload(path, registries: Registries) -> Workload:
    """Read and validate the workload file at ``path``.

    :raises WorkloadError: the file cannot be read, is not UTF-8, is not valid YAML or does not
        follow docs/workloads.md.
    """
    from memsim.workload.variant import WorkloadSource
    source = WorkloadSource.read(path)
    return load_workload_text(source.text, source.filename, registries)


def load_workload_text(text: str, filename: str, registries: Registries) -> Workload:
    """Validate the workload ``text``; ``filename`` is used in error locations and as ``path``."""
    root = _compose(text, filename)
    return _Loader(filename, registries).workload(root)


# ----------------------------------------------------------------------------------------------
# YAML parsing
# ----------------------------------------------------------------------------------------------

def _yaml_fix(problem: str) -> str:
    if "'\\t'" in problem:
        return "indent with spaces: YAML does not allow tabs"
    if "mapping values are not allowed" in problem:
        return "put each 'key: value' on its own line, or quote a value that holds ': '"
    if "undefined alias" in problem:
        return "define the anchor (&name) before using *name"
    if "expected <block end>" in problem or "did not find expected" in problem:
        return "check the indentation: items of one list or mapping start in the same column"
    if "unacceptable character" in problem or "special characters are not allowed" in problem:
        return "remove the control character, or quote and escape it"
    return "check the indentation and quoting here"


def _compose(text: str, filename: str) -> Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(filename, mark.line + 1, mark.column + 1) if mark else filename
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in f"{exc.problem} {exc.context}":
            raise WorkloadError(where, "the file holds more than one YAML document",
                                "remove the '---' separator: a workload is one document") from None
        if exc.context and exc.problem and exc.context_mark:
            problem = f"{problem} ({exc.context} at line {exc.context_mark.line + 1})"
        raise WorkloadError(where, f"invalid YAML: {problem}", _yaml_fix(problem)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise WorkloadError(Location(filename, line, column),
                            f"invalid YAML: the character {char!r} is not allowed",
                            "remove it, or quote the value and write it as an escape") from None
    except yaml.YAMLError as exc:
        raise WorkloadError(filename, f"invalid YAML: {exc}", "check the file's syntax") from None
    except RecursionError:
        raise WorkloadError(filename, "the YAML nests too deeply", "flatten the nested lists or mappings") from None
    if root is None:
        raise WorkloadError(filename, "the workload is empty",
                            "write a mapping with a 'machine' and a 'tasks' section (see docs/workloads.md)")
    return root


def _describe(node: Node) -> str:
    """How a value reads in an error message: ``a list``, ``the string 'two'``, ``the number 2.5``."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    tag = node.tag
    if tag == _NULL:
        return "an empty value"
    if tag == _BOOL:
        return f"the boolean {value}"
    if tag in (_INT, _FLOAT):
        return f"the number {value}"
    if tag == _TAG + "timestamp":
        return f"the date {value}"
    if tag == _STR:
        return f"the string {value!r}"
    return f"a value tagged {tag}"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _suggest(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"did you mean {close[0]!r}?" if close else ""


def _list_names(names: Sequence[str], limit: int = 12) -> str:
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", ... ({len(names)} in all, see docs/workloads.md)"
    return ", ".join(names)


def _placeholder(p: Param) -> str:
    if p.type == "enum":
        return "|".join(p.choices)
    return {"int": "N", "size": "SIZE", "duration": "DURATION", "str": "TEXT", "bool": "true",
            "address": "ADDRESS", "steps": "[STEPS]", "map": "{...}", "list": "[...]",
            "cpu": "CPU"}.get(p.type, p.type.upper())


def _show(p: Param, value: int) -> str:
    if p.type == "size":
        return format_size(value)
    if p.type == "duration":
        return format_duration(value)
    if p.type == "address":
        return hex(value)
    return str(value)


_NOUN = {"int": "number", "size": "size", "duration": "duration", "address": "address", "cpu": "CPU"}


class _Scope:
    """Names defined so far in one process (per kind: "vma", ...), for ``defines``/``refers``.

    A forked child (``defines="task"``) starts with a copy of its parent's names; a thread
    (``defines="thread"``) shares its process's: a name either defines is known to both, and a
    name a thread uses before the file defines it (its process may create it later) is checked
    once the process's steps are all read (``deferred``)."""

    def __init__(self, task: str, names: Optional[Dict[str, Dict[str, Location]]] = None,
                 deferred: Optional[list] = None, thread: bool = False):
        self.task = task
        self.names: Dict[str, Dict[str, Location]] = {} if names is None else names
        self.deferred: List[Tuple[str, str, Location, str, str]] = [] if deferred is None else deferred
        self.thread = thread

    def child(self, task: str) -> "_Scope":
        return _Scope(task, {kind: dict(names) for kind, names in self.names.items()})

    def thread_of(self, task: str) -> "_Scope":
        return _Scope(task, self.names, self.deferred, thread=True)


class _Loader:
    def __init__(self, filename: str, registries: Registries):
        self.file = filename
        self.registries = registries
        self.cpus = 1
        self.values = 0
        self.task_names: Dict[str, Location] = {}
        self.task_refs: List[Tuple[str, str, Location]] = []
        self._defaults: Dict[int, Tuple[Param, Any]] = {}

    # -- locations and errors ---------------------------------------------------------------

    def loc(self, node: Node) -> Location:
        mark = node.start_mark
        if mark.buffer is None:
            # a value given as an override (--set, --patch; settings= of memsim.run): composed
            # from a stream named by the option (memsim.workload.variant), while the workload's
            # own text is composed from a string, whose marks keep it
            return Location(mark.name)
        return Location(self.file, mark.line + 1, mark.column + 1)

    def fail(self, at: Union[Node, Location, str], problem: str, fix: str) -> NoReturn:
        where = self.loc(at) if isinstance(at, Node) else at
        raise WorkloadError(where, problem, fix)

    def disabled_hint(self, name: str, known: Sequence[str]) -> str:
        """What to say of an unknown step or section ``name`` when plugins are disabled
        (``-p no:NAME``).  A disabled plugin is never imported, so what it would register is not
        known: a plugin of the same name is named as the likely provider, otherwise the
        disabled plugins are listed as possible ones."""
        disabled = tuple(getattr(self.registries, "plugins_disabled", ()))
        if not disabled:
            return ""
        if name in disabled:
            return (f"the disabled plugin {name!r} may provide it (-p no:{name} was given; disabled "
                    f"plugins are not loaded): run without -p no:{name}")
        close = _suggest(name, known)
        options = ", ".join(f"-p no:{d}" for d in disabled)
        return ((close + " Or is" if close else "is") + f" it provided by a disabled plugin? ({options} "
                "was given; disabled plugins are not loaded)")

    def tick(self, node: Node, depth: int) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            self.fail(node, f"the workload expands to more than {MAX_VALUES} values",
                      "check for aliases that repeat large lists")
        if depth > MAX_DEPTH:
            self.fail(node, f"values nest more than {MAX_DEPTH} deep (a recursive alias?)",
                      "remove the alias that refers to the mapping or list holding it")
        if not node.tag.startswith(_TAG) or node.tag == _TAG + "binary":
            tag = "!!" + node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
            self.fail(node, f"the YAML tag {tag} is not supported", "remove the tag")

    # -- mappings ---------------------------------------------------------------------------

    def pairs(self, node: MappingNode, what: str, depth: int = 0) -> List[Tuple[str, Node, Node]]:
        """The (key, key node, value node) of a mapping, merge keys applied, duplicates refused."""
        explicit: List[Tuple[str, Node, Node]] = []
        seen: Dict[str, Node] = {}
        merged: List[Tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                merged.extend(self.merge_sources(vnode, what, depth + 1))
                continue
            if not isinstance(knode, ScalarNode):
                self.fail(knode, f"a key in {what} is {_describe(knode)}", "keys are plain names")
            key = knode.value
            if key in seen:
                self.fail(knode, f"duplicate key {key!r} in {what} ({_first(knode, seen[key])})",
                          "remove one of them")
            seen[key] = knode
            explicit.append((key, knode, vnode))
        for key, knode, vnode in merged:
            if key not in seen:
                seen[key] = knode
                explicit.append((key, knode, vnode))
        return explicit

    def merge_sources(self, vnode: Node, what: str, depth: int) -> List[Tuple[str, Node, Node]]:
        if depth > MAX_DEPTH:
            self.fail(vnode, "merge keys nest too deeply (a recursive alias?)", "remove the recursive merge")
        sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
        out: List[Tuple[str, Node, Node]] = []
        seen: Set[str] = set()
        for source in sources:
            if not isinstance(source, MappingNode):
                self.fail(source, f"a merge key '<<' takes a mapping or a list of mappings, not "
                          f"{_describe(source)}", "merge an anchored mapping: '<<: *name'")
            for key, knode, value in self.pairs(source, what, depth + 1):
                if key not in seen:
                    seen.add(key)
                    out.append((key, knode, value))
        return out

    def params(self, node: Optional[Node], params: Sequence[Param], owner: str, prefix: str,
               at: Node, depth: int, defer_steps: bool = False):
        """Convert the keys of a mapping against ``params``.

        Returns (args, where, given, rec, pending): ``pending`` holds the (param, value node) of
        "steps" params when ``defer_steps`` (the caller converts them with the right scope).
        """
        known = {p.name: p for p in params}
        args: Dict[str, Any] = {}
        where: Dict[str, Location] = {}
        given: Set[str] = set()
        rec: Rec = {}
        pending: List[Tuple[Param, Node]] = []
        for key, knode, vnode in (self.pairs(node, owner, depth) if node is not None else ()):
            p = known.get(key)
            if p is None:
                fix = _suggest(key, list(known)) or (
                    f"{owner} takes {_list_names(known)}" if known else f"{owner} takes no keys")
                self.fail(knode, f"unknown key {key!r} in {owner}", fix)
            if _is_null(vnode):
                self.fail(knode, f"{prefix}.{key} has no value",
                          f"write '{key}: {_placeholder(p)}' ({p.doc}), or remove {key}")
            rec[(key,)] = (self.loc(knode), self.loc(vnode))
            where[key] = self.loc(vnode)
            given.add(key)
            if defer_steps and p.type == "steps":
                pending.append((p, vnode))
                continue
            args[key] = self.convert(vnode, p, f"{prefix}.{key}", (key,), rec, depth + 1)
        for p in params:
            if p.name in given:
                continue
            if p.required:
                self.fail(at, f"{owner} is missing {p.name!r}",
                          f"add '{p.name}: {_placeholder(p)}' ({p.doc})")
            args[p.name] = self.default(p, f"{prefix}.{p.name}")
        return args, where, given, rec, pending

    def default(self, p: Param, what: str) -> Any:
        """``p.default`` converted like a value written in a workload (cached per Param)."""
        if p.default is None:
            return None
        key = id(p)
        if key not in self._defaults:
            try:
                node = yaml.compose(yaml.safe_dump(p.default, default_flow_style=True), Loader=yaml.SafeLoader)
                self._defaults[key] = (p, self.convert(node, p, what, (), {}, 0))
            except (WorkloadError, yaml.YAMLError) as exc:
                raise PluginError(f"parameter {what}", f"its default {p.default!r} is invalid: "
                                  f"{getattr(exc, 'problem', exc)}",
                                  "fix the Param declaration") from None
        return self._defaults[key][1]

    def locate(self, exc: InvalidValue, base: Path, rec: Rec, fallback: Location) -> Location:
        found = rec.get(base + exc.key)
        if found is None:
            return fallback
        return found[0] if exc.on_key else found[1]

    # -- values -----------------------------------------------------------------------------

    def convert(self, node: Node, p: Param, what: str, path: Path, rec: Rec, depth: int,
                scope: Optional[_Scope] = None) -> Any:
        self.tick(node, depth)
        rec.setdefault(path, (self.loc(node), self.loc(node)))
        if _is_null(node):
            self.fail(node, f"{what} has no value", f"write {_placeholder(p)} ({p.doc})")
        handler = getattr(self, "to_" + p.type, None) if p.type in _TYPES else None
        if handler is None:
            raise PluginError(f"parameter {what}", f"unknown parameter type {p.type!r}",
                              f"use one of {', '.join(_TYPES)}")
        if p.type == "steps":
            if scope is None:
                raise PluginError(f"parameter {what}", "a 'steps' parameter outside a step or task",
                                  "declare 'steps' parameters only on steps")
            return self.to_steps(node, what, scope, depth)
        value = handler(node, p, what, path, rec, depth)
        if p.type in _NOUN:
            if p.minimum is not None and value < p.minimum:
                if p.minimum == 1 and value == 0:
                    self.fail(node, f"{what} is 0", f"give a {_NOUN[p.type]} greater than zero")
                self.fail(node, f"{what} is {_show(p, value)}, below the minimum of {_show(p, p.minimum)}",
                          f"give at least {_show(p, p.minimum)}")
            if p.maximum is not None and value > p.maximum:
                self.fail(node, f"{what} is {_show(p, value)}, above the maximum of {_show(p, p.maximum)}",
                          f"give at most {_show(p, p.maximum)}")
        if p.check is not None:
            try:
                value = p.check(value)
            except InvalidValue as exc:
                self.fail(self.locate(exc, path, rec, self.loc(node)), f"invalid {what}: {exc.problem}", exc.fix)
        return value

    def scalar(self, node: Node, what: str, expected: str, fix: str) -> ScalarNode:
        if not isinstance(node, ScalarNode):
            self.fail(node, f"{what} must be {expected}, not {_describe(node)}", fix)
        return node

    def to_int(self, node, p, what, path, rec, depth) -> int:
        example = p.default if isinstance(p.default, int) and not isinstance(p.default, bool) else (p.minimum or 1)
        fix = f"write a whole number, e.g. {example}"
        node = self.scalar(node, what, "an integer", fix)
        text = node.value.strip()
        if _INT_RE.match(text):
            if node.tag == _INT or (node.tag == _STR and node.style is None):
                return _parse_int(text)
            if node.tag == _STR:
                self.fail(node, f"{what} must be an integer, not {_describe(node)}", "remove the quotes")
        if node.tag == _FLOAT:
            try:
                if float(text).is_integer():
                    fix = f"write it without a fraction: {int(float(text))}"
            except ValueError:
                pass
        self.fail(node, f"{what} must be an integer, not {_describe(node)}", fix)

    def to_cpu(self, node, p, what, path, rec, depth) -> int:
        cpu = self.to_int(node, p, what, path, rec, depth)
        if not 0 <= cpu < self.cpus:
            if self.cpus == 1:
                self.fail(node, f"{what} is {cpu} but the machine has only CPU 0",
                          "use CPU 0, or raise machine.cpus")
            self.fail(node, f"{what} is {cpu} but the machine has CPUs 0 to {self.cpus - 1}",
                      f"use a CPU from 0 to {self.cpus - 1}, or raise machine.cpus")
        return cpu

    def _parsed(self, node, p, what, parse, expected, forms) -> int:
        node = self.scalar(node, what, expected, forms)
        if node.tag == _BOOL:
            self.fail(node, f"{what} must be {expected}, not {_describe(node)}", forms)
        try:
            return parse(node.value)
        except InvalidValue as exc:
            self.fail(node, f"invalid {what}: {exc.problem}", exc.fix)

    def to_size(self, node, p, what, path, rec, depth) -> int:
        if p.minimum is not None and p.minimum < 0 and isinstance(node, ScalarNode) \
                and node.value.strip().startswith("-"):     # a signed size (ftruncate's off_t)
            return -self._parsed(ScalarNode(_STR, node.value.strip()[1:], node.start_mark,
                                            node.end_mark), p, what, parse_size, "a size", SIZE_FORMS)
        return self._parsed(node, p, what, parse_size, "a size", SIZE_FORMS)

    def to_duration(self, node, p, what, path, rec, depth) -> int:
        return self._parsed(node, p, what, parse_duration, "a duration", DURATION_FORMS)

    def to_address(self, node, p, what, path, rec, depth) -> int:
        fix = "write a number such as 0x7f0000000000"
        node = self.scalar(node, what, "an address", fix)
        text = node.value.strip().replace("_", "")
        if node.tag in (_INT, _STR) and re.fullmatch(r"0x[0-9a-f]+|[0-9]+", text, re.IGNORECASE):
            value = int(text, 16) if text[:2].lower() == "0x" else int(text)
            if value >= 1 << 64:
                self.fail(node, f"{what} {node.value} does not fit in 64 bits", fix)
            return value
        if text.startswith("-"):
            self.fail(node, f"{what} {node.value} is negative", fix)
        self.fail(node, f"{what} must be an address, not {_describe(node)}", fix)

    def to_str(self, node, p, what, path, rec, depth) -> str:
        node = self.scalar(node, what, "a string",
                           "write text; quote it if it starts with '{' or '[' or holds ': '")
        return node.value

    def to_bool(self, node, p, what, path, rec, depth) -> bool:
        node = self.scalar(node, what, "true or false", "write true or false")
        if node.tag != _BOOL:
            fix = ("remove the quotes" if node.style in ("'", '"') and node.value.lower() in
                   ("true", "false", "yes", "no", "on", "off") else "write true or false")
            self.fail(node, f"{what} must be true or false, not {_describe(node)}", fix)
        return node.value.lower() in _TRUE

    def to_enum(self, node, p, what, path, rec, depth) -> str:
        choices = ", ".join(p.choices)
        node = self.scalar(node, what, f"one of {choices}", f"write one of {choices}")
        if node.value not in p.choices:
            self.fail(node, f"invalid {what}: {node.value!r} is not one of {choices}",
                      _suggest(node.value, p.choices) or f"write one of {choices}")
        return node.value

    def to_map(self, node, p, what, path, rec, depth) -> Mapping[str, Any]:
        if not isinstance(node, MappingNode):
            example = f"{p.items[0].name}: {_placeholder(p.items[0])}" if p.items else "key: value"
            self.fail(node, f"{what} must be a mapping, not {_describe(node)}",
                      f"write key: value pairs, e.g. {{{example}}}")
        if p.items:
            args, _, _, sub, _ = self.params(node, p.items, what, what, node, depth)
            for sub_path, locs in sub.items():
                rec[path + sub_path] = locs
            return MappingProxyType({k: v for k, v in args.items() if v is not None})
        out: Dict[str, Any] = {}
        for key, knode, vnode in self.pairs(node, what, depth):
            rec[path + (key,)] = (self.loc(knode), self.loc(vnode))
            if p.of is not None:
                out[key] = self.convert(vnode, p.of, f"{what}[{key!r}]", path + (key,), rec, depth + 1)
            else:
                out[key] = self.plain(vnode, depth + 1)
        return MappingProxyType(out)

    def to_list(self, node, p, what, path, rec, depth) -> Tuple[Any, ...]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list, not {_describe(node)}",
                      "write the items one per line as '- item', or as [a, b]")
        out = []
        for i, item in enumerate(node.value):
            rec[path + (i,)] = (self.loc(item), self.loc(item))
            item_what = f"{what}[{i}]"
            if p.items:
                out.append(self.to_map(item, Param(p.name, "map", p.doc, items=p.items),
                                       item_what, path + (i,), rec, depth + 1))
            elif p.of is not None:
                out.append(self.convert(item, p.of, item_what, path + (i,), rec, depth + 1))
            else:
                out.append(self.plain(item, depth + 1))
        return tuple(out)

    def plain(self, node: Node, depth: int) -> Any:
        """A value of a free map or list, as plain (frozen) Python data."""
        self.tick(node, depth)
        if isinstance(node, MappingNode):
            return MappingProxyType({k: self.plain(v, depth + 1) for k, _, v in self.pairs(node, "a mapping", depth)})
        if isinstance(node, SequenceNode):
            return tuple(self.plain(v, depth + 1) for v in node.value)
        if node.tag == _INT and _INT_RE.match(node.value.strip()):
            return _parse_int(node.value.strip())
        try:
            return freeze(yaml.constructor.SafeConstructor().construct_object(node, deep=True))
        except yaml.YAMLError as exc:
            self.fail(node, f"cannot read {_describe(node)}: {getattr(exc, 'problem', exc)}", "write a plain value")

    # -- steps and tasks --------------------------------------------------------------------

    def to_steps(self, node: Node, what: str, scope: _Scope, depth: int) -> Tuple[Step, ...]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list of steps, not {_describe(node)}",
                      "write one '- STEP: {...}' item per step")
        return tuple(self.step(item, scope, depth + 1) for item in node.value)

    def step(self, node: Node, scope: _Scope, depth: int) -> Step:
        self.tick(node, depth)
        steps = self.registries.steps
        if isinstance(node, ScalarNode) and node.value in steps:
            self.fail(node, f"the step {node.value!r} is not a mapping",
                      f"write '- {node.value}: {{}}' (a step is '- NAME: {{params}}')")
        if not isinstance(node, MappingNode):
            self.fail(node, f"a step must be a one-key mapping '- STEP: {{params}}', not {_describe(node)}",
                      "write e.g. '- touch: {vma: buf}'")
        pairs = self.pairs(node, "a step", depth)
        if not pairs:
            self.fail(node, "the step is an empty mapping", "write '- STEP: {params}'")
        if len(pairs) > 1:
            names = [key for key, _, _ in pairs]
            first, _, first_value = pairs[0]
            st = steps.get(first)
            st = core_schema.extended_step(st, self.registries.extensions) if st is not None else None
            if st is not None and _is_null(first_value) and all(
                    any(p.name == key for p in st.params) for key in names[1:]):
                fix = (f"indent {', '.join(map(repr, names[1:]))} under '{first}:', "
                       f"or write '- {first}: {{{names[1]}: ...}}'")
            else:
                fix = "start each step with its own '- '"
            self.fail(pairs[1][1], f"a step has {len(names)} keys ({', '.join(map(repr, names))}); "
                      "a step is a mapping with exactly one key, the step name", fix)
        op, knode, vnode = pairs[0]
        st = steps.get(op)
        if st is None:
            self.fail(knode, f"unknown step {op!r}", self.disabled_hint(op, steps.names()) or _suggest(op, steps.names())
                      or f"known steps: {_list_names(sorted(steps.names()), 30)}")
        st = core_schema.extended_step(st, self.registries.extensions)
        if not _is_null(vnode) and not isinstance(vnode, MappingNode):
            required = [p for p in st.params if p.required]
            example = f"{required[0].name}: {_placeholder(required[0])}" if required else ""
            self.fail(vnode, f"the parameters of step {op!r} must be a mapping, not {_describe(vnode)}",
                      f"write '- {op}: {{{example}}}'")
        args, where, given, rec, pending = self.params(
            None if _is_null(vnode) else vnode, st.params, f"step {op!r}", op, knode, depth, defer_steps=True)
        new_task = self.names(st.params, args, where, op, scope)
        thread = any(p.defines == "thread" and args.get(p.name) is not None for p in st.params)
        for p, steps_node in pending:
            if new_task is None:
                nested = scope
            else:
                nested = scope.thread_of(new_task) if thread else scope.child(new_task)
            args[p.name] = self.convert(steps_node, p, f"{op}.{p.name}", (p.name,), rec, depth + 1, nested)
            if nested.deferred is not scope.deferred:
                self.resolve(nested)
        if st.check is not None:
            try:
                args = dict(st.check(MappingProxyType(args), frozenset(given)))
            except InvalidValue as exc:
                self.fail(self.locate(exc, (), rec, self.loc(knode)), exc.problem, exc.fix)
        order = [p.name for p in st.params]
        args = {**{k: args[k] for k in order if k in args}, **args}
        where = {k: where[k] for k in order if k in where}
        return Step(op, MappingProxyType(args), self.loc(knode), MappingProxyType(where))

    def names(self, params: Sequence[Param], args: Mapping[str, Any], where: Mapping[str, Location],
              owner: str, scope: _Scope) -> Optional[str]:
        """Check ``refers`` and record ``defines``; returns the name of a task this step creates."""
        new_task = None
        for p in params:
            value = args.get(p.name)
            if not p.refers or value is None:
                continue
            if p.refers == "task":
                self.task_refs.append((f"{owner}.{p.name}", value, where[p.name]))
                continue
            known = scope.names.get(p.refers, {})
            if value not in known and scope.thread:
                scope.deferred.append((p.refers, value, where[p.name], f"{owner}.{p.name}", scope.task))
                continue
            if value not in known:
                definers = self.definers(p.refers)
                fix = _suggest(value, list(known)) or (
                    f"define it first, with an earlier {definers} step" if definers
                    else f"define the {p.refers} first")
                self.fail(where[p.name], f"{owner}.{p.name} {value!r} names no {p.refers} defined "
                          f"earlier in task {scope.task!r}", fix)
        for p in params:
            value = args.get(p.name)
            if not p.defines or value is None:
                continue
            if p.defines in ("task", "thread"):
                first = self.task_names.get(value)
                if first is not None:
                    self.fail(where[p.name], f"duplicate task name {value!r} (first used at line {first.line})",
                              "give each task a unique name")
                self.task_names[value] = where[p.name]
                new_task = value
                continue
            names = scope.names.setdefault(p.defines, {})
            first = names.get(value)
            if first is not None:
                self.fail(where[p.name], f"duplicate {p.defines} name {value!r} in task {scope.task!r} "
                          f"(first defined at line {first.line})", f"give each {p.defines} its own name")
            names[value] = where[p.name]
        return new_task

    def resolve(self, scope: _Scope) -> None:
        """Check the names threads of ``scope``'s process used before the file defined them:
        each must be defined somewhere in the process (its threads included)."""
        for kind, value, where, owner, task in scope.deferred:
            known = scope.names.get(kind, {})
            if value not in known:
                definers = self.definers(kind)
                fix = _suggest(value, list(known)) or (
                    f"define it with a {definers} step of that process" if definers
                    else f"define the {kind} first")
                self.fail(where, f"{owner} {value!r} names no {kind} of the process of task "
                          f"{task!r} (its threads included)", fix)
        scope.deferred.clear()

    def definers(self, kind: str) -> str:
        found = [f"'{st.name}' ({st.name}.{p.name})" for st in self.registries.steps
                 for p in st.params if p.defines == kind]
        return " or ".join(found)

    def task(self, node: Node, index: int) -> TaskConfig:
        what = f"tasks[{index}]"
        self.tick(node, 1)
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping, not {_describe(node)}",
                      "write a task as '- name: NAME' followed by 'steps:'")
        args, where, given, rec, pending = self.params(node, core_schema.TASK_PARAMS, "a task", what,
                                                       node, 1, defer_steps=True)
        scope = _Scope(args["name"])
        self.names(core_schema.TASK_PARAMS, args, where, what, scope)
        for p, steps_node in pending:
            args[p.name] = self.convert(steps_node, p, f"{what}.{p.name}", (p.name,), rec, 2, scope)
        self.resolve(scope)
        comm = args["comm"] if args["comm"] is not None else args["name"][:core_schema.TASK_COMM_LEN - 1]
        cpu = args["cpu"] if args["cpu"] is not None else index % self.cpus
        return TaskConfig(name=args["name"], comm=comm, cpu=cpu, steps=args["steps"], where=self.loc(node),
                          oom_score_adj=args["oom_score_adj"])

    # -- the whole file ---------------------------------------------------------------------

    def section(self, name: str, knode: Optional[Node], vnode: Optional[Node], params, check,
                given_out: Optional[Set[str]] = None, rec_out: Optional[Rec] = None):
        if vnode is not None and not _is_null(vnode) and not isinstance(vnode, MappingNode):
            self.fail(vnode, f"the {name} section must be a mapping, not {_describe(vnode)}",
                      f"write 'key: value' lines indented under '{name}:'")
        if knode is not None:
            body = vnode if isinstance(vnode, MappingNode) else None
            args, _, given, rec, _ = self.params(body, params, name, name, knode, 1)
        else:                       # left out of the file: every key takes its default
            args, given, rec = {p.name: self.default(p, f"{name}.{p.name}") for p in params}, set(), {}
        if check is not None:
            try:
                args = dict(check(MappingProxyType(args), frozenset(given)))
            except InvalidValue as exc:
                self.fail(self.locate(exc, (), rec, self.loc(knode) if knode is not None else self.file),
                          f"invalid {name}: {exc.problem}", exc.fix)
        if given_out is not None:
            given_out.update(given)
        if rec_out is not None:
            rec_out.update(rec)
        return args

    def patch_states(self, kernel: str, given: Mapping[str, str], rec: Rec):
        """The seed changes' states: the profile's defaults, then ``machine.patches``; a change
        whose plugin is not loaded (or does not implement it) cannot be switched."""
        from memsim.patches import default_states, seed_patch, unavailable
        from memsim.profiles import get_profile
        for name in given:
            why = unavailable(seed_patch(name), self.registries)
            if why is not None:
                self.fail(rec.get(("patches", name), (self.file,))[0], *why)
        return default_states(get_profile(kernel)).with_states({n: v == "on" for n, v in given.items()})

    def workload(self, root: Node) -> Workload:
        if not isinstance(root, MappingNode):
            self.fail(root, f"the workload must be a mapping of sections, not {_describe(root)}",
                      "write 'machine:' and 'tasks:' at the top level (see docs/workloads.md)")
        registered = self.registries.sections
        for name in _BUILTIN_SECTIONS:
            if name in registered:
                spec = registered.get(name)
                raise PluginError(f"plugin {spec.plugin!r}", f"it registers a section named {name!r}, "
                                  "which is built in", "give the section another name")
        known = list(_BUILTIN_SECTIONS) + list(registered.names())
        given: Dict[str, Tuple[Node, Node]] = {}
        for key, knode, vnode in self.pairs(root, "the workload"):
            if key.startswith("x-"):
                continue
            if key not in known:
                self.fail(knode, f"unknown section {key!r}", self.disabled_hint(key, known) or _suggest(key, known) or (
                    f"known sections: {', '.join(known)} (a plugin's section needs the plugin loaded)"))
            given[key] = (knode, vnode)

        knode, vnode = given.get("machine", (None, None))
        machine_given: Set[str] = set()
        machine_rec: Rec = {}
        m = self.section("machine", knode, vnode, core_schema.machine_params(self.registries.extensions),
                         None, machine_given, machine_rec)
        plugin_keys = self.registries.extensions.machine_keys
        given_patches = dict(m["patches"] or {})
        machine = MachineConfig(cpus=m["cpus"], nodes=tuple(n["memory"] for n in m["nodes"]),
                                trace_buffer_kb=m["trace_buffer"] // 1024, kernel=m["kernel"],
                                seed=m["seed"], quantum=m["quantum"],
                                trace_overwrite=m["trace_overwrite"],
                                where=self.loc(knode) if knode is not None else None,
                                settings=MappingProxyType({k: m[k] for k in plugin_keys}),
                                given_settings=frozenset(k for k in machine_given if k in plugin_keys),
                                patches=self.patch_states(m["kernel"], given_patches, machine_rec),
                                given_patches=frozenset(given_patches),
                                config=MappingProxyType({k: v for k, v in (m["config"] or {}).items()
                                                         if v is not None}))
        self.cpus = machine.cpus

        sections: Dict[str, Mapping[str, Any]] = {}
        where: Dict[str, Location] = {}
        for spec in registered:
            if spec.name in given:
                knode, vnode = given[spec.name]
                sections[spec.name] = MappingProxyType(self.section(spec.name, knode, vnode, spec.params, spec.check))
                where[spec.name] = self.loc(knode)
            elif not any(p.required for p in spec.params):
                sections[spec.name] = MappingProxyType(self.section(spec.name, None, None, spec.params, spec.check))

        if "tasks" not in given:
            self.fail(self.file, "the workload has no 'tasks' section",
                      "add 'tasks:' with at least one task (see docs/workloads.md)")
        knode, vnode = given["tasks"]
        if _is_null(vnode) or (isinstance(vnode, SequenceNode) and not vnode.value):
            self.fail(knode, "the workload has no task", "add at least one task under 'tasks:' ('- name: app')")
        if not isinstance(vnode, SequenceNode):
            fix = ("write each task as a list item: '- name: NAME'" if isinstance(vnode, MappingNode)
                   else "write the tasks as a list of '- name: NAME' items")
            self.fail(vnode, f"tasks must be a list, not {_describe(vnode)}", fix)
        tasks = tuple(self.task(item, i) for i, item in enumerate(vnode.value))

        for what, name, loc in self.task_refs:
            if name not in self.task_names:
                self.fail(loc, f"{what} {name!r} names no task of the workload",
                          _suggest(name, list(self.task_names)) or "name a task or a forked child")
        return Workload(path=self.file, machine=machine, sections=MappingProxyType(sections), tasks=tasks,
                        given_sections=frozenset(k for k in given if k not in _BUILTIN_SECTIONS),
                        section_where=MappingProxyType(where))


def _first(here: Node, first: Node) -> str:
    if here.start_mark.line == first.start_mark.line:
        return f"first at column {first.start_mark.column + 1}"
    return f"first at line {first.start_mark.line + 1}"


def _parse_int(text: str) -> int:
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    low = text.lower()
    if low.startswith("0x"):
        return sign * int(low[2:], 16)
    if low.startswith("0b"):
        return sign * int(low[2:], 2)
    if low.startswith("0o"):
        return sign * int(low[2:], 8)
    return sign * int(text, 10)
