"""Build memsim: the Cython core (memsim/*.pyx) plus the memsim.plugins and memsim.tracing packages.

``plugins/`` and ``tracing/`` live at the top of the tree for readability and install as
``memsim.plugins`` and ``memsim.tracing``; no top-level package other than ``memsim`` is installed.
Each built-in plugin is a package ``plugins/<name>/`` (an ``__init__.py``, more Python modules,
and ``.pyx``/``.pxd`` files built as ``memsim.plugins.<name>.<module>``), found by globbing, so a
new subsystem needs no edit here.  The .pxd files are installed so that a plugin written in
Cython can ``cimport memsim.physmem`` (or ``memsim.plugins.<name>.<module>``).
"""
import glob
import os
import shutil

from setuptools import Extension, setup

from Cython.Build import cythonize

HERE = os.path.dirname(os.path.abspath(__file__))


#: Source directories that install under another name: ``tracing/`` is ``memsim/tracing``.
RENAMED = {"tracing": "memsim.tracing", "plugins": "memsim.plugins"}


def _link_or_copy(src, link, pattern):
    """``link`` -> ``src`` (a copy of ``src``'s ``pattern`` files where links are not available)."""
    if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(src):
        return
    if os.path.islink(link):
        os.unlink(link)
    try:
        os.symlink(src, link, target_is_directory=True)
    except OSError:
        for path in glob.glob(os.path.join(src, pattern), recursive=True):
            dest = os.path.join(link, os.path.relpath(path, src))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(path, dest)


def pxd_include_dir():
    """A directory in which ``memsim/tracing`` is ``tracing/`` and ``memsim/plugins`` is
    ``plugins/``, for Cython's include path.

    Cython finds the .pxd of the module it compiles (and of every module it cimports) by the
    module's dotted name under its include path (``<dir>/memsim/tracing/_textscan.pxd``,
    ``<dir>/memsim/plugins/hugetlb/hstate.pxd``); those sources live in ``tracing/`` and
    ``plugins/``, so ``build/cython-include/memsim/{tracing,plugins}`` are links to them (copies
    of their .pxd files where links are not available).
    """
    inc = os.path.join(HERE, "build", "cython-include")
    pkg = os.path.join(inc, "memsim")
    os.makedirs(pkg, exist_ok=True)
    _link_or_copy(os.path.join(HERE, "tracing"), os.path.join(pkg, "tracing"), "*.pxd")
    _link_or_copy(os.path.join(HERE, "plugins"), os.path.join(pkg, "plugins"), "**/*.pxd")
    return inc


def plugin_packages(root="."):
    """The built-in plugin packages: ``plugins/<name>/__init__.py`` -> ``memsim.plugins.<name>``
    (and their subpackages)."""
    found = []
    for init in sorted(glob.glob(os.path.join(root, "plugins", "**", "__init__.py"), recursive=True)):
        rel = os.path.relpath(os.path.dirname(init), os.path.join(root, "plugins"))
        if rel != ".":
            found.append("memsim.plugins." + rel.replace(os.sep, "."))
    return found


def module_name(pyx):
    """The dotted name a .pyx builds as: ``tracing/_textscan.pyx`` -> ``memsim.tracing._textscan``,
    ``plugins/hugetlb/hstate.pyx`` -> ``memsim.plugins.hugetlb.hstate``."""
    parts = os.path.normpath(pyx)[:-4].split(os.sep)
    head = RENAMED.get(parts[0])
    return ".".join([head] + parts[1:]) if head else ".".join(parts)


def pyx_sources(root="."):
    """Every Cython module, relative to ``root``: memsim/*.pyx, tracing/*.pyx, plugins/**/*.pyx."""
    patterns = (("memsim", "*.pyx"), ("tracing", "*.pyx"), ("plugins", "**", "*.pyx"))
    found = []
    for pattern in patterns:
        found += sorted(os.path.relpath(p, root)
                        for p in glob.glob(os.path.join(root, *pattern), recursive=True))
    return found


def extensions():
    exts = []
    only = os.environ.get("MEMSIM_BUILD_ONLY")        # development: rebuild a subset, e.g. "mm,ring"
    for pyx in pyx_sources():
        name = module_name(pyx)
        if only and name.split(".")[-1] not in only.split(","):
            continue
        exts.append(Extension(name, [pyx], extra_compile_args=["-O2", "-Wno-unused-function", "-Wno-sign-compare"]))
    return cythonize(
        exts,
        compiler_directives={"language_level": "3", "embedsignature": True},
        include_path=[HERE, pxd_include_dir()],
        quiet=True,
    )


PLUGIN_PACKAGES = plugin_packages()

setup(
    packages=["memsim", "memsim.workload", "memsim.plugins", "memsim.tracing"] + PLUGIN_PACKAGES,
    package_dir={"memsim": "memsim", "memsim.plugins": "plugins", "memsim.tracing": "tracing"},
    package_data={"memsim": ["*.pxd", "*.pyi", "py.typed"],
                  "memsim.tracing": ["catalog/*/header_*", "catalog/*/*/*/format", "*.pxd", "*.pyi"],
                  **{package: ["*.pxd", "*.pyi"] for package in PLUGIN_PACKAGES}},
    ext_modules=extensions(),
    zip_safe=False,
)
