"""The plugin host: finds, loads, disables and lists memsim plugins, and fills the registries.

Every plugin, built-in or third-party, is an entry point in the ``memsim`` group (STYLE 4); the
built-in ``kmem`` and ``core_steps`` are :data:`ESSENTIAL` and cannot be disabled.  The hooks a
plugin can implement are declared in :mod:`memsim.hookspecs`.

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
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pluggy

from memsim import hookspecs
from memsim.errors import MemsimError, PluginError
from memsim.registry import Registries

__all__ = [
    "ENTRY_POINT_GROUP",
    "ESSENTIAL",
    "PluginInfo",
    "get_plugin_manager",
    "list_plugins",
    "collect_registries",
    "check_invariants",
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
    ("memsim_register_events", "events"),
    ("memsim_register_files", "files"),
    ("memsim_register_summary", "summary"),
)


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``memsim plugins`` shows it."""

    name: str                       # the entry-point name (``-p no:NAME`` uses it)
    version: Optional[str]          # the distribution's version (a directly registered plugin: its __version__)
    dist: Optional[str]             # the distribution that provides it; None if registered directly
    hooks: Tuple[str, ...]          # the memsim_* hooks it implements, in lifecycle order


class _PluginManager(pluggy.PluginManager):
    """A pluggy PluginManager with the memsim hookspecs, remembering each plugin's distribution."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.plugin_dists: Dict[str, Any] = {}      # plugin name -> importlib.metadata.Distribution


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
        entry points by name, then ``extra_plugins``.  pluggy calls the last registered first.
    :raises PluginError: for the cases above, and for a plugin that cannot be imported or whose
        hook implementations do not match the hookspecs.
    """
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
            raise PluginError(where, f"cannot load the plugin: {type(exc).__name__}: {exc}", fix) from exc
        _register(pm, name, plugin, where)
        pm.plugin_dists[name] = dist
    for name, plugin in extras:
        if not pm.is_blocked(name):
            _register(pm, name, plugin, f"plugin {name!r}")
    return pm


def list_plugins(pm: pluggy.PluginManager) -> List[PluginInfo]:
    """The registered (not disabled) plugins, in registration order."""
    dists = getattr(pm, "plugin_dists", {})
    order = {name: i for i, name in enumerate(_HOOK_ORDER)}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:          # blocked with -p no:NAME
            continue
        hooks = sorted({caller.name for caller in pm.get_hookcallers(plugin) or ()},
                       key=lambda hook: (order.get(hook, len(order)), hook))
        dist = dists.get(name)
        version = dist.version if dist is not None else getattr(plugin, "__version__", None)
        infos.append(PluginInfo(name=name, version=version, dist=_dist_name(dist), hooks=tuple(hooks)))
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
        return getattr(item, "name", None) or getattr(item, "path", None)

    def add(self, item) -> None:
        key = self._key(item)
        where = f"plugin {self._plugin_name!r}"
        owner = self._owners.get(key) if key is not None else None
        if owner == self._plugin_name:
            raise PluginError(where, f"{self._kind} {key!r} is added twice", "add it once")
        if owner is not None:
            raise PluginError(
                where, f"{self._kind} {key!r} is already registered by plugin {owner!r}",
                f"rename one of them, or disable one with -p no:{self._plugin_name} or -p no:{owner}")
        try:
            self._registry.add(item)
        except MemsimError as exc:
            raise PluginError(where, exc.problem, exc.fix) from exc
        except TypeError as exc:
            item_type = getattr(self._registry, "item_type", None)
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


def collect_registries(pm: pluggy.PluginManager, profile, events=None):
    """Call the registration hooks, in lifecycle order, and return what the plugins registered.

    Each plugin's implementation is called on its own (in pluggy's call order) with keyword
    arguments, so that a duplicate name or a failing hook is reported with the plugin's name;
    hook wrappers are therefore not supported on registration hooks.

    :param pm: a plugin manager from :func:`get_plugin_manager`.
    :param profile: the :class:`memsim.profiles.KernelProfile` being emulated, passed to
        ``memsim_register_events``.
    :param events: the :class:`memsim.tracing.events.EventRegistry` to fill; a new empty one if
        None.
    :return: ``(Registries, EventRegistry)``.
    :raises PluginError: for a duplicate name, an object of the wrong type, or a hook that raises.
    """
    if events is None:
        from memsim.tracing.events import EventRegistry
        events = EventRegistry()
    registries = Registries()
    targets = {
        "sections": (registries.sections, registries.sections.kind),
        "steps": (registries.steps, registries.steps.kind),
        "events": (events, "event"),
        "files": (registries.files, registries.files.kind),
        "summary": (registries.summary, registries.summary.kind),
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
            kwargs = {argument: _RegistryView(registry, kind, impl.plugin_name, owners), "profile": profile}
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except PluginError:
                raise
            except MemsimError as exc:
                raise PluginError(where, f"{hook_name}: {exc.problem}", exc.fix) from exc
            except Exception as exc:
                raise PluginError(where, f"{hook_name} failed: {type(exc).__name__}: {exc}",
                                  f"fix the plugin, or run with -p no:{impl.plugin_name}") from exc
    return registries, events


def check_invariants(pm: pluggy.PluginManager, machine) -> List[str]:
    """Every plugin's ``memsim_check_invariants`` problems, concatenated (empty: all hold)."""
    problems: List[str] = []
    for result in pm.hook.memsim_check_invariants(machine=machine):
        problems.extend(result or ())
    return problems
