"""Every dependency pyproject.toml declares is imported by memsim's code (issue 9: declared
dependencies are used or dropped), and every third-party module the code imports is declared."""
import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("memsim", "tracing", "plugins") for p in sorted((REPO / d).rglob("*.py"))]
#: distribution name -> the module it installs
MODULE_OF = {"click": "click", "pluggy": "pluggy", "pyyaml": "yaml", "rich": "rich", "zstandard": "zstandard"}
#: imported only when an extra is installed (each says so when it is missing)
EXTRAS = {"pandas", "matplotlib", "dask", "distributed", "pyarrow", "numpy", "Cython", "setuptools", "pytest"}


def declared():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [re.split(r"[<>=!~ \[;]", dep, 1)[0].lower() for dep in project["dependencies"]]


def imported():
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_declared_dependency_is_imported():
    modules = imported()
    for dist in declared():
        assert dist in MODULE_OF, f"{dist}: add the module it installs to MODULE_OF"
        assert MODULE_OF[dist] in modules, f"{dist} is declared in pyproject.toml but never imported: drop it"


def test_every_third_party_import_is_declared_or_an_extra():
    third_party = {m for m in imported() if m not in sys.stdlib_module_names and m != "memsim"} \
        if hasattr(sys, "stdlib_module_names") else set()
    undeclared = third_party - {MODULE_OF[d] for d in declared()} - EXTRAS
    assert not undeclared, f"imported but not declared in pyproject.toml: {sorted(undeclared)}"
