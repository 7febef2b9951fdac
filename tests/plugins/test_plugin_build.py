"""setup.py builds a plugin package without being edited for it (issue 7, "Plugin layout").

A subsystem is a folder ``plugins/<name>/``: its Python modules install as
``memsim.plugins.<name>``, each ``.pyx`` builds as ``memsim.plugins.<name>.<module>``, its
``.pxd`` files are installed next to them, and a ``.pyx`` can cimport both the core
(``memsim._types``) and another module of a plugin (``memsim.plugins.<name>.<module>``).
The scenario builds a small tree holding memsim's setup.py and such a plugin.
"""
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if importlib.util.find_spec("Cython") is None:
        pytest.skip("Cython is not installed")
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy2(ROOT / "setup.py", tree / "setup.py")
    (tree / "memsim" / "workload").mkdir(parents=True)
    for pxd in ("_types.pxd",):
        shutil.copy2(ROOT / "memsim" / pxd, tree / "memsim" / pxd)
    for init in ("memsim", "memsim/workload", "tracing", "plugins"):
        (tree / init).mkdir(exist_ok=True)
        (tree / init / "__init__.py").write_text("")
    demo = tree / "plugins" / "demo"
    demo.mkdir()
    (demo / "__init__.py").write_text('"""A plugin package with two Cython modules."""\n')
    (demo / "base.pxd").write_text("cdef int twice(int x) noexcept\n")
    (demo / "base.pyx").write_text("cdef int twice(int x) noexcept:\n    return 2 * x\n")
    (demo / "fast.pyx").write_text(textwrap.dedent("""\
        from memsim._types cimport pfn_t
        from memsim.plugins.demo.base cimport twice

        def four_pages():
            cdef pfn_t n = twice(2)
            return n
        """))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-base", "out"],
                          cwd=tree, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    libs = list((tree / "out").glob("lib*"))
    assert len(libs) == 1, libs
    return libs[0]


def test_the_plugin_package_is_installed_under_memsim_plugins(built):
    demo = built / "memsim" / "plugins" / "demo"
    assert (demo / "__init__.py").is_file()
    assert (demo / "base.pxd").is_file()          # a Cython plugin elsewhere can cimport it


def test_each_pyx_builds_as_a_module_of_the_plugin_package(built):
    demo = built / "memsim" / "plugins" / "demo"
    assert len(list(demo.glob("fast*.so")) + list(demo.glob("fast*.pyd"))) == 1
    assert len(list(demo.glob("base*.so")) + list(demo.glob("base*.pyd"))) == 1
    assert not list(built.glob("plugins")), "the plugin must not install as a top-level package"


def test_the_built_module_runs_with_its_cimports(built):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from memsim.plugins.demo import fast; print(fast.four_pages())")
    proc = subprocess.run([sys.executable, "-c", code, str(built)], capture_output=True, text=True,
                          cwd=built.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"
