"""Build memsim: the Cython core (memsim/*.pyx) plus the memsim.plugins and memsim.tracing packages.

``plugins/`` and ``tracing/`` live at the top of the tree for readability and install as
``memsim.plugins`` and ``memsim.tracing``; no top-level package other than ``memsim`` is installed.
The .pxd files are installed so that a plugin written in Cython can ``cimport memsim.physmem``.
"""
import glob
import os
import shutil

from setuptools import Extension, setup

from Cython.Build import cythonize

HERE = os.path.dirname(os.path.abspath(__file__))


def pxd_include_dir():
    """A directory in which ``memsim/tracing`` is ``tracing/``, for Cython's include path.

    Cython finds the .pxd of the module it compiles by the module's dotted name under its
    include path (``<dir>/memsim/tracing/_textscan.pxd``); the tracing sources live in
    ``tracing/`` and install as ``memsim.tracing``, so ``build/cython-include/memsim/tracing``
    is a link to ``tracing/`` (a copy of its .pxd files where links are not available).
    """
    inc = os.path.join(HERE, "build", "cython-include")
    pkg = os.path.join(inc, "memsim")
    link = os.path.join(pkg, "tracing")
    src = os.path.join(HERE, "tracing")
    os.makedirs(pkg, exist_ok=True)
    if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(src):
        return inc
    if os.path.islink(link):
        os.unlink(link)
    try:
        os.symlink(src, link, target_is_directory=True)
    except OSError:
        os.makedirs(link, exist_ok=True)
        for pxd in glob.glob(os.path.join(src, "*.pxd")):
            shutil.copy2(pxd, link)
    return inc


def extensions():
    exts = []
    only = os.environ.get("MEMSIM_BUILD_ONLY")        # development: rebuild a subset, e.g. "mm,ring"
    # memsim/*.pyx -> memsim.<name>; tracing/*.pyx -> memsim.tracing.<name> (the trace parsers)
    pyxs = sorted(glob.glob(os.path.join("memsim", "*.pyx"))) + sorted(glob.glob(os.path.join("tracing", "*.pyx")))
    for pyx in pyxs:
        name = pyx[:-4].replace(os.sep, ".")
        if name.startswith("tracing."):
            name = "memsim." + name
        if only and name.split(".")[-1] not in only.split(","):
            continue
        exts.append(Extension(name, [pyx], extra_compile_args=["-O2", "-Wno-unused-function", "-Wno-sign-compare"]))
    return cythonize(
        exts,
        compiler_directives={"language_level": "3", "embedsignature": True},
        include_path=[HERE, pxd_include_dir()],
        quiet=True,
    )


setup(
    packages=["memsim", "memsim.workload", "memsim.plugins", "memsim.tracing"],
    package_dir={"memsim": "memsim", "memsim.plugins": "plugins", "memsim.tracing": "tracing"},
    package_data={"memsim": ["*.pxd", "*.pyi", "py.typed"],
                  "memsim.tracing": ["catalog/*/header_*", "catalog/*/*/*/format", "*.pxd", "*.pyi"]},
    ext_modules=extensions(),
    zip_safe=False,
)
