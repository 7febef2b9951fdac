"""memsim: a Linux memory-management emulator.

The Cython core (physical memory, mm and page tables, faults, rss counters, trace ring buffers)
lives in this package; subsystems are pluggy plugins (memsim.plugins), tracing is memsim.tracing,
and workloads are YAML files run by the ``memsim`` CLI or by :func:`memsim.run`::

    import memsim
    result = memsim.run("configs/anon-touch.yaml", seed=3)
    print(result.status, result.read_file("/proc/meminfo"))

Nothing happens at import (STYLE 9): ``memsim.run`` and ``memsim.RunResult`` are loaded from
:mod:`memsim.api` on first use.

Imported from a source checkout (the repository root is the current directory, so this file is
``memsim/__init__.py`` of the checkout rather than the installed copy), the package finds its
parts as the installed one does: ``tracing/`` and ``plugins/`` of the checkout are
``memsim.tracing`` and ``memsim.plugins`` (:class:`_CheckoutFinder`), and a checkout whose Cython
extensions were never built in place (``pip install .`` builds them into site-packages only)
hands over to the installed copy, or says how to build them (:func:`_use_checkout`).
"""
import os as _os
import sys as _sys
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["run", "RunResult", "__version__"]

if TYPE_CHECKING:                                       # pragma: no cover
    from memsim.api import RunResult, run  # noqa: F401

#: Source directories of a checkout that install under ``memsim.``: setup.py's package_dir.
_RENAMED = {"memsim.tracing": "tracing", "memsim.plugins": "plugins"}
#: A Cython module of the core: its absence means the extensions were not built in place.
_PROBE = "physmem"


def __getattr__(name: str):
    if name in ("run", "RunResult"):
        from memsim import api
        return getattr(api, name)
    raise AttributeError(f"module 'memsim' has no attribute {name!r}")


class _CheckoutFinder:
    """Finds ``memsim.tracing`` and ``memsim.plugins`` in the checkout ``root`` (its
    ``tracing/`` and ``plugins/``), as setup.py's package_dir installs them.

    On ``sys.meta_path`` after the standard finders, so an editable install's finder (or anything
    else that finds them first) wins; it answers only while ``memsim`` is this checkout's copy.
    """

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        folder = _RENAMED.get(fullname)
        package = _sys.modules.get("memsim")
        if folder is None or _os.path.dirname(_os.path.dirname(getattr(package, "__file__", "") or "")) != self.root:
            return None
        from importlib.util import spec_from_file_location
        location = _os.path.join(self.root, folder)
        return spec_from_file_location(fullname, _os.path.join(location, "__init__.py"),
                                       submodule_search_locations=[location])


def _checkout_root(here: str):
    """The checkout this package is the source copy of, or None (an installed copy)."""
    root = _os.path.dirname(here)
    markers = ("setup.py", _os.path.join("tracing", "__init__.py"), _os.path.join("plugins", "__init__.py"))
    if all(_os.path.isfile(_os.path.join(root, m)) for m in markers):
        return root
    return None


def _built(here: str) -> bool:
    from importlib.machinery import EXTENSION_SUFFIXES
    return any(_os.path.isfile(_os.path.join(here, _PROBE + suffix)) for suffix in EXTENSION_SUFFIXES)


def _use_checkout(here: str, root: str) -> None:
    """This file is a checkout's ``memsim/__init__.py``: the checkout's ``tracing/`` and
    ``plugins/`` become ``memsim.tracing`` and ``memsim.plugins``; without extensions built in
    place, the installed memsim (found on ``sys.path`` without the checkout) replaces this module
    in ``sys.modules`` -- the import then gives what it gives from any other directory -- and
    without an installed one the import fails saying how to build them."""
    if _built(here):
        if not any(isinstance(f, _CheckoutFinder) and f.root == root for f in _sys.meta_path):
            _sys.meta_path.append(_CheckoutFinder(root))
        return
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec
    real_root = _os.path.realpath(root)
    elsewhere = [p for p in _sys.path if _os.path.realpath(p or _os.curdir) != real_root]
    spec = PathFinder.find_spec("memsim", elsewhere)
    if spec is None or spec.origin is None or _os.path.realpath(_os.path.dirname(spec.origin)) == _os.path.realpath(here):
        raise ImportError(
            f"memsim: the checkout at {root} has no compiled extensions (memsim/{_PROBE}.*.so); "
            "build them in place with `pip install -e .` (or `python setup.py build_ext --inplace`), "
            "or `pip install .` and import memsim from another directory", name="memsim", path=__file__)
    installed = module_from_spec(spec)
    _sys.modules["memsim"] = installed      # the import statement returns sys.modules["memsim"]
    try:
        spec.loader.exec_module(installed)
    except BaseException:
        _sys.modules.pop("memsim", None)
        raise


_root = _checkout_root(_os.path.dirname(_os.path.abspath(__file__)))
if _root is not None:
    _use_checkout(_os.path.dirname(_os.path.abspath(__file__)), _root)
del _root
