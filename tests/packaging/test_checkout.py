"""memsim imported from its own checkout works as the installed package does (issue 9).

The checkout's ``memsim/`` is found first when the checkout is the current directory
(``python -c``, ``python -m``), but ``tracing/`` and ``plugins/`` install as ``memsim.tracing`` and
``memsim.plugins``, and a plain ``pip install .`` builds the Cython extensions into site-packages
only.  Scenarios:

1. From the repository root, ``import memsim.tracing`` and the CLI work, whether the checkout's
   extensions are built in place (``pip install -e .``) or not (CI's ``pip install .``).
2. A checkout without built extensions hands over to the installed memsim.
3. A checkout without built extensions and no installed memsim fails saying how to build them.
4. A checkout with built extensions and no editable install finds its tracing/ and plugins/.
5. The demo's generated files are git-ignored.
"""
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memsim

REPO = Path(__file__).resolve().parents[2]


def python(*args, cwd, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env if env is not None else dict(os.environ), timeout=120)


def test_import_from_the_repository_root():
    proc = python("-c", "import memsim.tracing, memsim.plugins.kmem; from memsim.tracing import open_trace; "
                        "print(memsim.tracing.__name__, memsim.plugins.kmem.__name__)", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "memsim.tracing memsim.plugins.kmem\n"


def test_the_cli_runs_from_the_repository_root():
    proc = python("-m", "memsim.cli", "run", "configs/examples/../fork-cow.yaml", "--json", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert '"workload": "configs/examples/../fork-cow.yaml"' in proc.stdout


def checkout(tmp_path, built=False):
    """A checkout's skeleton: setup.py, tracing/ and plugins/ packages, memsim/__init__.py (the
    real one) and, if ``built``, a stand-in for a compiled core module."""
    root = tmp_path / "checkout"
    (root / "memsim").mkdir(parents=True)
    (root / "tracing").mkdir()
    (root / "plugins").mkdir()
    (root / "setup.py").write_text("")
    (root / "tracing" / "__init__.py").write_text("WHERE = 'checkout tracing'\n")
    (root / "plugins" / "__init__.py").write_text("WHERE = 'checkout plugins'\n")
    shutil.copy(REPO / "memsim" / "__init__.py", root / "memsim" / "__init__.py")
    if built:
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        (root / "memsim" / f"physmem{suffix}").write_bytes(b"")
    return root


def test_an_unbuilt_checkout_hands_over_to_the_installed_memsim(tmp_path):
    root = checkout(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    installed = Path(memsim.__file__).parent        # this test run's memsim, as the installed one
    os.symlink(installed, site / "memsim", target_is_directory=True)
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = python("-c", "import memsim, memsim.tracing, memsim.workload.runner; print(memsim.__file__); "
                        "print(hasattr(memsim.tracing, 'WHERE'), memsim.run.__module__)", cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{site / 'memsim' / '__init__.py'}\nFalse memsim.api\n"


def test_an_unbuilt_checkout_without_an_installed_memsim_says_how_to_build(tmp_path):
    root = checkout(tmp_path)
    # -S: no site-packages, so no installed memsim; -E: no PYTHONPATH
    proc = python("-S", "-E", "-c", "import memsim", cwd=root)
    assert proc.returncode == 1
    last = proc.stderr.rstrip("\n").splitlines()[-1]
    assert last == (f"ImportError: memsim: the checkout at {root} has no compiled extensions "
                    "(memsim/physmem.*.so); build them in place with `pip install -e .` (or `python "
                    "setup.py build_ext --inplace`), or `pip install .` and import memsim from another "
                    "directory")


def test_a_built_checkout_finds_its_tracing_and_plugins(tmp_path):
    root = checkout(tmp_path, built=True)
    proc = python("-S", "-E", "-c", "import memsim.tracing, memsim.plugins; "
                                    "print(memsim.tracing.WHERE, '/', memsim.plugins.WHERE); "
                                    "print(memsim.tracing.__file__)", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"checkout tracing / checkout plugins\n{root / 'tracing' / '__init__.py'}\n"
    proc = python("-S", "-E", "-c", "import memsim.setup", cwd=root)    # nothing else of the checkout
    assert proc.returncode == 1 and "No module named 'memsim.setup'" in proc.stderr


def test_the_demos_output_is_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("trace.txt", "trace.dat", "out.dat", "out.png", "compare.png", "trace.report.txt"):
        proc = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO)
        assert proc.returncode == 0, f"{name} is not git-ignored"
    proc = subprocess.run(["git", "check-ignore", "-q", "configs/trace.txt"], cwd=REPO)
    assert proc.returncode == 1        # only at the top: a file of that name elsewhere is kept
