"""The plugin host: finds, loads, disables and lists memsim plugins, and fills the registries.

Every plugin, built-in or third-party, is an entry point in the ``memsim`` group (STYLE 4); the
built-in ``kmem`` and ``core_steps`` are :data:`ESSENTIAL` and cannot be disabled.  The hooks a
plugin can implement are declared in :mod:`memsim.hookspecs`.

A plugin declares the plugins it needs with a module-level :class:`PluginSpec` named
``MEMSIM_PLUGIN``; the machine-stage and run-stage hooks are called in that dependency order
(:data:`ORDERED_HOOKS`: required plugins first; :data:`TEARDOWN_HOOKS` in reverse), not in
pluggy's registration order.

Typical use (the CLI does this)::

    pm = get_plugin_manager(disabled=["hello"])             # -p no:hello
    registries, events = collect_registries(pm, get_profile("v5.14"))
    ...
    pm.hook.memsim_machine_created(machine=machine, config=workload)

Nothing happens at import (STYLE 9): plugins are found and imported by
:func:`get_plugin_manager`, and registries are filled by :func:`collect_registries`.  Every
problem is a :class:`memsim.errors.PluginError` (exit code 2) reading ``<where>: <problem>; <fix>``.
"""
from __future__ import annotations

import difflib
import importlib.metadata as importlib_metadata
from dataclasses import dataclass, is_dataclass, replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pluggy

from memsim import hookspecs
from memsim.errors import MemsimError, PluginBug, PluginError
from memsim.registry import Registries

__all__ = [
    "ENTRY_POINT_GROUP",
    "ESSENTIAL",
    "SPEC_ATTRIBUTE",
    "ORDERED_HOOKS",
    "TEARDOWN_HOOKS",
    "PluginSpec",
    "PluginInfo",
    "get_plugin_manager",
    "list_plugins",
    "collect_registries",
    "check_invariants",
    "plugin_bug",
]

#: The entry-point group every memsim plugin is registered in (pyproject ``[project.entry-points.memsim]``).
ENTRY_POINT_GROUP = "memsim"

#: Plugins without which memsim cannot run; ``-p no:NAME`` refuses them.  Registered first, in this order.
ESSENTIAL = ("kmem", "core_steps")

# The hooks in the order they are declared (lifecycle order), for listing a plugin's hooks.
_HOOK_ORDER = tuple(name for name in vars(hookspecs) if name.startswith("memsim_"))

# Registration hooks, in the order collect_registries calls them, with the argument that receives
# the registry.
_REGISTRATION_HOOKS = (
    ("memsim_register_sections", "sections"),
    ("memsim_register_steps", "steps"),
    ("memsim_register_extensions", "extensions"),
    ("memsim_register_events", "events"),
    ("memsim_register_files", "files"),
    ("memsim_register_filesystems", "filesystems"),
    ("memsim_register_meminfo", "meminfo"),
    ("memsim_register_summary", "summary"),
    ("memsim_register_patches", "patches"),
)

#: The hooks called in plugin dependency order (required plugins first): every hook of the
#: machine and run stages.  tryfirst/trylast and hook wrappers are refused on them.
ORDERED_HOOKS = tuple(name for name in _HOOK_ORDER
                      if name not in {hook for hook, _ in _REGISTRATION_HOOKS})
#: Teardown hooks: called in reverse dependency order (a plugin before the plugins it requires).
TEARDOWN_HOOKS = tuple(name for name in ("memsim_task_exit",) if name in ORDERED_HOOKS)

#: The module-level name of a plugin's :class:`PluginSpec`.
SPEC_ATTRIBUTE = "MEMSIM_PLUGIN"


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin declares about itself, as a module-level ``MEMSIM_PLUGIN`` object::

        from memsim.plugin_host import PluginSpec

        MEMSIM_PLUGIN = PluginSpec(requires=("kmem",), after=("hugetlb",))

    ``requires`` names the plugins this one cannot work without: each must be installed and
    enabled (else :func:`get_plugin_manager` raises a :class:`~memsim.errors.PluginError` naming
    both plugins), and their machine-stage and run-stage hooks run before this plugin's.
    ``after`` names plugins whose hooks must run first *if they are loaded*; a missing or disabled
    one is ignored.  A cycle through ``requires`` or ``after`` is an error naming the cycle.
    A plugin without ``MEMSIM_PLUGIN`` requires nothing.
    """

    requires: Tuple[str, ...] = ()
    after: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for attr in ("requires", "after"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            value = tuple(value)
            if not all(isinstance(name, str) and name for name in value):
                raise TypeError(f"PluginSpec.{attr} takes plugin names (non-empty strings), not {value!r}")
            object.__setattr__(self, attr, value)


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``memsim plugins`` shows it."""

    name: str                       # the entry-point name (``-p no:NAME`` uses it)
    version: Optional[str]          # the distribution's version (a directly registered plugin: its __version__)
    dist: Optional[str]             # the distribution that provides it; None if registered directly
    hooks: Tuple[str, ...]          # the memsim_* hooks it implements, in lifecycle order
    requires: Tuple[str, ...] = ()  # the plugins it requires (PluginSpec.requires)
    after: Tuple[str, ...] = ()     # the plugins it runs after when they are loaded (PluginSpec.after)


class _PluginManager(pluggy.PluginManager):
    """A pluggy PluginManager with the memsim hookspecs, remembering each plugin's distribution."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.plugin_dists: Dict[str, Any] = {}      # plugin name -> importlib.metadata.Distribution
        self.plugin_specs: Dict[str, PluginSpec] = {}
        #: plugin names in dependency order (required first), set by get_plugin_manager
        self.plugin_order: Tuple[str, ...] = ()
        self._rank: Dict[str, int] = {}

    def set_plugin_order(self, order: Sequence[str]) -> None:
        self.plugin_order = tuple(order)
        self._rank = {name: i for i, name in enumerate(order)}

    def _hookexec(self, hook_name, methods, kwargs, firstresult):
        # pluggy calls ``methods`` from the last to the first: sort the ordered hooks so that
        # the plugins run in dependency order (reversed for teardown hooks).  Plugins
        # registered after get_plugin_manager have no rank and run last, in pluggy's order.
        if self._rank and hook_name in ORDERED_HOOKS:
            last = len(self._rank)
            rank = [self._rank.get(impl.plugin_name, last) for impl in methods]
            index = sorted(range(len(methods)), key=lambda i: (rank[i], -i),
                           reverse=hook_name not in TEARDOWN_HOOKS)
            methods = [methods[i] for i in index]
        if hook_name not in ORDERED_HOOKS:
            return super()._hookexec(hook_name, methods, kwargs, firstresult)
        try:
            return super()._hookexec(hook_name, methods, kwargs, firstresult)
        except MemsimError:
            raise
        except Exception as exc:
            raise plugin_bug(self, _raiser(methods, exc), f"hook {hook_name}", exc, hook=hook_name) from exc


def _raiser(methods, exc: BaseException) -> Optional[str]:
    """The plugin whose hook implementation (one of ``methods``) raised ``exc``: the outermost
    frame of the traceback that runs one of them."""
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in methods}
    tb = exc.__traceback__
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            return name
        tb = tb.tb_next
    return None


def plugin_bug(pm, plugin: Optional[str], what: str, exc: BaseException, *,
               step: Optional[str] = None, hook: Optional[str] = None) -> PluginBug:
    """The :class:`~memsim.errors.PluginBug` for ``exc``, raised by ``what`` (``step 'greet' at
    w.yaml:7:9``, ``hook memsim_machine_created``) of ``plugin``: a built-in plugin's is a bug in
    memsim, another's a bug in that plugin, which ``-p no:NAME`` leaves out."""
    problem = f"{what} raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    dist = _dist_name(getattr(pm, "plugin_dists", {}).get(plugin)) if plugin else None
    if plugin is None:
        where, fix = None, "this is a bug in a plugin: `memsim --debug ...` shows the traceback"
    elif plugin in ESSENTIAL or dist == "memsim":
        where = f"plugin {plugin!r}"
        fix = ("this is a bug in memsim: please report it with the workload and seed "
               "(`memsim --debug ...` shows the traceback)")
    else:
        where = f"plugin {plugin!r}"
        fix = (f"this is a bug in the plugin: report it to its authors (`memsim --debug ...` shows "
               f"the traceback), or run without it (-p no:{plugin})")
    return PluginBug(where, problem, fix, plugin=plugin, step=step, hook=hook)


def _dist_name(dist) -> Optional[str]:
    return dist.metadata["Name"] if dist is not None else None


def _dist_label(dist) -> str:
    return f"{_dist_name(dist)} {dist.version}" if dist is not None else "no distribution"


def _discover_entry_points() -> List[Tuple[Any, Any]]:
    """(entry point, distribution) for every entry point of the memsim group, in sys.path order."""
    found = []
    for dist in importlib_metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.append((ep, dist))
    return found


def _by_name(pairs: Iterable[Tuple[Any, Any]]) -> Dict[str, Tuple[Any, Any]]:
    """Entry points keyed by plugin name; a second copy of the same distribution is shadowed."""
    plugins: Dict[str, Tuple[Any, Any]] = {}
    for ep, dist in pairs:
        if ep.name in plugins:
            first_ep, first_dist = plugins[ep.name]
            if _dist_name(first_dist) == _dist_name(dist) and (dist is not None or first_ep.value == ep.value):
                continue    # the same distribution found twice on sys.path: the first one wins
            raise PluginError(
                f"plugin {ep.name!r}",
                f"provided both by {_dist_label(first_dist)} ({first_ep.value}) "
                f"and by {_dist_label(dist)} ({ep.value})",
                "uninstall one of them")
        plugins[ep.name] = (ep, dist)
    return plugins


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"the plugins are: {', '.join(sorted(known)) or '(none)'} (see `memsim plugins`)"


def _extra_name(plugin) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):
        return name
    return type(plugin).__name__


def _register(pm: _PluginManager, name: str, plugin, where: str) -> None:
    """Register one plugin and check its hook implementations against the hookspecs."""
    # A hook implementation without @hookimpl would be silently ignored by pluggy.
    for hook_name in _HOOK_ORDER:
        function = getattr(plugin, hook_name, None)
        if callable(function) and pm.parse_hookimpl_opts(plugin, hook_name) is None:
            raise PluginError(where, f"{hook_name} is not marked as a hook implementation",
                              "decorate it with @hookimpl (from memsim.hookspecs import hookimpl)")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(where, " ".join(str(exc).split()),
                          "give the hook only the parameters in docs/plugins.md") from exc
    except ValueError as exc:       # pluggy: this name or this object is registered already
        raise PluginError(where, str(exc), "register each plugin once, under its own name") from exc
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.spec is None and any(impl.plugin is plugin and not impl.optionalhook
                                       for impl in caller.get_hookimpls()):
            pm.unregister(plugin)
            raise PluginError(where, f"{caller.name} is not a memsim hook", _suggest(caller.name, _HOOK_ORDER))
        if caller.name in ORDERED_HOOKS:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                option = next((o for o in ("hookwrapper", "wrapper", "tryfirst", "trylast")
                               if getattr(impl, o, False)), None)
                if option is not None:
                    pm.unregister(plugin)
                    raise PluginError(where, f"{caller.name} is marked {option}=True, but the machine "
                                      "and run hooks are called in plugin dependency order",
                                      f"drop {option}=True and declare the order with "
                                      f"{SPEC_ATTRIBUTE} = PluginSpec(requires=..., after=...)")
    spec = getattr(plugin, SPEC_ATTRIBUTE, None)
    if spec is None:
        spec = PluginSpec()
    elif not isinstance(spec, PluginSpec):
        pm.unregister(plugin)
        raise PluginError(where, f"{SPEC_ATTRIBUTE} is a {type(spec).__name__}, not a PluginSpec",
                          f"write {SPEC_ATTRIBUTE} = PluginSpec(requires=(...)) "
                          "(from memsim.plugin_host import PluginSpec)")
    pm.plugin_specs[name] = spec


def _dependency_order(pm: _PluginManager, names: Sequence[str], disabled: Iterable[str],
                      known: Sequence[str]) -> List[str]:
    """``names`` (in load order) sorted so that every plugin comes after those it requires or
    runs after; ties keep the load order.  Checks that every requirement is loaded."""
    loaded = set(names)
    disabled = set(disabled)
    for name in names:
        for req in pm.plugin_specs[name].requires:
            if req in loaded:
                continue
            where = f"plugin {name!r}"
            if req == name:
                continue                    # reported as a cycle below
            if req in disabled:
                raise PluginError(where, f"it requires plugin {req!r}, which is disabled (-p no:{req})",
                                  f"remove -p no:{req}, or disable {name!r} too (-p no:{name})")
            close = difflib.get_close_matches(req, [n for n in known if n != name], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginError(where, f"it requires plugin {req!r}, which is not installed{hint}",
                              f"install the distribution that provides {req!r}, or run with -p no:{name}")
    before = {name: [dep for dep in pm.plugin_specs[name].requires + pm.plugin_specs[name].after
                     if dep in loaded] for name in names}
    order: List[str] = []
    placed: set = set()
    remaining = list(names)
    while remaining:
        ready = next((n for n in remaining if all(dep in placed for dep in before[n])), None)
        if ready is None:
            cycle = _find_cycle(remaining, before)
            raise PluginError(f"plugin {cycle[0]!r}",
                              "plugins require each other in a cycle: " + " -> ".join(cycle),
                              f"remove one of these requirements ({SPEC_ATTRIBUTE} requires/after); "
                              "A -> B reads 'A requires or runs after B'")
        order.append(ready)
        placed.add(ready)
        remaining.remove(ready)
    return order


def _find_cycle(names: Sequence[str], before: Dict[str, List[str]]) -> List[str]:
    """A cycle among ``names`` through ``before``, as [a, b, ..., a]."""
    pending = set(names)
    path: List[str] = []
    node = names[0]
    while node not in path:
        path.append(node)
        node = next(dep for dep in before[node] if dep in pending)
    return path[path.index(node):] + [node]


def get_plugin_manager(disabled: Iterable[str] = (), extra_plugins: Iterable[Any] = (), *,
                       entry_points: Optional[Iterable[Any]] = None) -> pluggy.PluginManager:
    """Find and load the memsim plugins, except those in ``disabled``.

    :param disabled: plugin names to leave out (the NAME of ``-p no:NAME``).  They are never
        imported, so this also works around a plugin that fails to import.  An essential plugin or
        a name that no plugin has is a :class:`memsim.errors.PluginError`.
    :param extra_plugins: plugin objects or modules registered directly, after the entry points,
        under their ``__name__`` (or class name); for tests.
    :param entry_points: use these ``importlib.metadata.EntryPoint`` objects instead of the
        installed ``memsim`` group (tests use it to load exactly the plugins they want).  When
        None, every installed plugin is loaded and the essential ones must be among them.
    :return: a ``pluggy.PluginManager`` with the hookspecs of :mod:`memsim.hookspecs` and the
        plugins registered: essential ones first (in :data:`ESSENTIAL` order), then the other
        entry points by name, then ``extra_plugins``.  pluggy calls the last registered first
        (the registration hooks); the hooks of :data:`ORDERED_HOOKS` are called in dependency
        order, given by ``pm.plugin_order``.
    :raises PluginError: for the cases above, for a plugin that cannot be imported or whose
        hook implementations do not match the hookspecs, for a plugin that requires one that
        is disabled or not installed, and for plugins that require each other in a cycle.
    """
    disabled = tuple(disabled)
    pm = _PluginManager()
    if entry_points is None:
        candidates = _by_name(_discover_entry_points())
        for name in ESSENTIAL:
            if name not in candidates:
                raise PluginError(
                    f"plugin {name!r}",
                    f"the essential plugin is not installed (no {name!r} entry point in the "
                    f"{ENTRY_POINT_GROUP!r} group)",
                    "reinstall memsim")
    else:
        candidates = _by_name((ep, getattr(ep, "dist", None)) for ep in entry_points)
    extras = [(_extra_name(plugin), plugin) for plugin in extra_plugins]

    known = list(candidates) + [name for name, _ in extras]
    for name in disabled:
        if name in ESSENTIAL:
            raise PluginError(f"-p no:{name}", f"{name!r} is an essential plugin and cannot be disabled",
                              f"remove -p no:{name}")
        if name not in known:
            raise PluginError(f"-p no:{name}", f"there is no plugin called {name!r}", _suggest(name, known))
        pm.set_blocked(name)

    def load_order(name: str):
        return (0, ESSENTIAL.index(name), "") if name in ESSENTIAL else (1, 0, name)

    for name in sorted(candidates, key=load_order):
        if pm.is_blocked(name):
            continue
        ep, dist = candidates[name]
        where = f"entry point '{ep.name} = {ep.value}' ({_dist_label(dist)})"
        try:
            plugin = ep.load()
        except Exception as exc:
            fix = "reinstall memsim" if name in ESSENTIAL else f"fix or reinstall it, or run with -p no:{name}"
            if isinstance(exc, MemsimError):      # e.g. an incomplete ProfileTable built at import
                raise PluginError(where, f"cannot load the plugin: {exc.where}: {exc.problem}",
                                  exc.fix or fix) from exc
            raise PluginError(where, f"cannot load the plugin: {type(exc).__name__}: {exc}", fix) from exc
        _register(pm, name, plugin, where)
        pm.plugin_dists[name] = dist
    for name, plugin in extras:
        if not pm.is_blocked(name):
            _register(pm, name, plugin, f"plugin {name!r}")
    loaded = [name for name, plugin in pm.list_name_plugin() if plugin is not None]
    pm.set_plugin_order(_dependency_order(pm, loaded, disabled, known))
    return pm


def list_plugins(pm: pluggy.PluginManager) -> List[PluginInfo]:
    """The registered (not disabled) plugins, in dependency order (the order in which their
    machine-stage hooks run: required plugins first)."""
    dists = getattr(pm, "plugin_dists", {})
    specs = getattr(pm, "plugin_specs", {})
    order = {name: i for i, name in enumerate(_HOOK_ORDER)}
    rank = {name: i for i, name in enumerate(getattr(pm, "plugin_order", ()))}
    pairs = [(name, plugin) for name, plugin in pm.list_name_plugin()
             if plugin is not None]                 # None: blocked with -p no:NAME
    pairs.sort(key=lambda pair: rank.get(pair[0], len(rank)))
    infos = []
    for name, plugin in pairs:
        hooks = sorted({caller.name for caller in pm.get_hookcallers(plugin) or ()},
                       key=lambda hook: (order.get(hook, len(order)), hook))
        dist = dists.get(name)
        version = dist.version if dist is not None else getattr(plugin, "__version__", None)
        spec = specs.get(name) or PluginSpec()
        infos.append(PluginInfo(name=name, version=version, dist=_dist_name(dist), hooks=tuple(hooks),
                                requires=spec.requires, after=spec.after))
    return infos


class _RegistryView:
    """What one plugin's ``memsim_register_*`` hook receives: the registry, with each added name
    remembered against that plugin, so that a duplicate is reported with both plugins' names."""

    def __init__(self, registry, kind: str, plugin_name: str, owners: Dict[str, str]):
        self._registry = registry
        self._kind = kind
        self._plugin_name = plugin_name
        self._owners = owners

    def _key(self, item) -> Optional[str]:
        if self._kind == "event":
            system, name = getattr(item, "system", None), getattr(item, "name", None)
            return f"{system}:{name}" if system and name else None
        key_of = getattr(self._registry, "key_of", None)
        if key_of is not None:
            return key_of(item)
        return getattr(item, "name", None) or getattr(item, "path", None)

    def _label(self, item, key: str) -> str:
        describe = getattr(self._registry, "describe", None)
        return describe(item) if describe is not None else f"{self._kind} {key!r}"

    def add(self, item) -> None:
        if is_dataclass(item) and not isinstance(item, type) and getattr(item, "plugin", None) == "":
            item = replace(item, plugin=self._plugin_name)      # "" means "the plugin adding it"
        key = self._key(item)
        where = f"plugin {self._plugin_name!r}"
        owner = self._owners.get(key) if key is not None else None
        if owner == self._plugin_name:
            raise PluginError(where, f"{self._label(item, key)} is added twice", "add it once")
        if owner is not None:
            raise PluginError(
                where, f"{self._label(item, key)} is already registered by plugin {owner!r}",
                f"rename one of them, or disable one with -p no:{self._plugin_name} or -p no:{owner}")
        try:
            self._registry.add(item)
        except MemsimError as exc:
            raise PluginError(where, exc.problem, exc.fix) from exc
        except TypeError as exc:
            item_type = getattr(self._registry, "item_type", None)
            if isinstance(item_type, tuple):
                fix = "add one of " + ", ".join(f"{t.__module__}.{t.__name__}" for t in item_type)
            else:
                fix = f"add a {item_type.__module__}.{item_type.__name__}" if item_type else ""
            raise PluginError(where, str(exc), fix) from exc
        except ValueError as exc:
            raise PluginError(where, str(exc)) from exc
        if key is not None:
            self._owners[key] = self._plugin_name

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._registry, name)

    def __contains__(self, name) -> bool:
        return name in self._registry

    def __iter__(self):
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)


def collect_registries(pm: pluggy.PluginManager, profile, events=None, patch_states=None):
    """Call the registration hooks, in lifecycle order, and return what the plugins registered.

    Each plugin's implementation is called on its own (in pluggy's call order) with keyword
    arguments, so that a duplicate name or a failing hook is reported with the plugin's name;
    hook wrappers are therefore not supported on registration hooks.

    :param pm: a plugin manager from :func:`get_plugin_manager`.
    :param profile: the :class:`memsim.profiles.KernelProfile` being emulated, passed to
        ``memsim_register_events``.
    :param events: the :class:`memsim.tracing.events.EventRegistry` to fill; a new empty one if
        None.
    :param patch_states: the :class:`memsim.patches.PatchStates` of the run, passed to
        ``memsim_register_events``; the profile's defaults (every seed change it merged on) if
        None.
    :return: ``(Registries, EventRegistry)``.
    :raises PluginError: for a duplicate name, an object of the wrong type, or a hook that raises.
    """
    if events is None:
        from memsim.tracing.events import EventRegistry
        events = EventRegistry()
    from memsim.patches import default_states
    if patch_states is None:
        patch_states = default_states(profile)
    registries = Registries()
    names = [name for name, plugin in pm.list_name_plugin()]
    registries.plugins_loaded = tuple(name for name, plugin in pm.list_name_plugin() if plugin is not None)
    registries.plugins_disabled = tuple(name for name in names if pm.is_blocked(name))
    targets = {
        "sections": (registries.sections, registries.sections.kind),
        "steps": (registries.steps, registries.steps.kind),
        "extensions": (registries.extensions, registries.extensions.kind),
        "events": (events, "event"),
        "files": (registries.files, registries.files.kind),
        "filesystems": (registries.filesystems, registries.filesystems.kind),
        "meminfo": (registries.meminfo, registries.meminfo.kind),
        "summary": (registries.summary, registries.summary.kind),
        "patches": (registries.patches, registries.patches.kind),
    }
    for hook_name, argument in _REGISTRATION_HOOKS:
        registry, kind = targets[argument]
        owners: Dict[str, str] = {}
        # pluggy calls the implementations from the end of get_hookimpls() to its start.
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            where = f"plugin {impl.plugin_name!r}"
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                raise PluginError(where, f"{hook_name} is a hook wrapper",
                                  "registration hooks take plain implementations; drop wrapper=True")
            kwargs = {argument: _RegistryView(registry, kind, impl.plugin_name, owners), "profile": profile,
                      "patch_states": patch_states}
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except PluginError:
                raise
            except MemsimError as exc:
                raise PluginError(where, f"{hook_name}: {exc.problem}", exc.fix) from exc
            except Exception as exc:
                raise PluginError(where, f"{hook_name} failed: {type(exc).__name__}: {exc}",
                                  f"fix the plugin, or run with -p no:{impl.plugin_name}") from exc
        registries.owners.update(((kind, key), plugin) for key, plugin in owners.items())
    return registries, events


def check_invariants(pm: pluggy.PluginManager, machine, full: bool = True) -> List[str]:
    """Every plugin's ``memsim_check_invariants`` problems, concatenated (empty: all hold)."""
    problems: List[str] = []
    for result in pm.hook.memsim_check_invariants(machine=machine, full=full):
        problems.extend(result or ())
    return problems
