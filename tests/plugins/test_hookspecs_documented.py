"""The hookspecs are the contract, and the plugin guide documents all of it (STYLE 5).

Every hook in memsim.hookspecs is a ``memsim_*`` hookspec with a summary line and a ``:param:``
entry per argument, and docs/plugins.md shows each hook with its full signature.
"""
import inspect
import re
from pathlib import Path

import pytest

from memsim import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hook_functions():
    return [(name, obj) for name, obj in vars(hookspecs).items()
            if inspect.isfunction(obj) and obj.__module__ == hookspecs.__name__]


HOOKS = [name for name, _ in hook_functions()]


def parameters(name):
    return list(inspect.signature(getattr(hookspecs, name)).parameters)


def test_the_contract_has_the_hooks_of_every_lifecycle_stage():
    assert HOOKS == [
        "memsim_register_sections", "memsim_register_steps", "memsim_register_extensions",
        "memsim_register_events",
        "memsim_register_files", "memsim_register_filesystems", "memsim_register_meminfo",
        "memsim_register_summary", "memsim_register_patches",
        "memsim_machine_configure", "memsim_machine_created", "memsim_check_invariants",
        "memsim_task_fork", "memsim_task_exit",
        "memsim_run_start", "memsim_run_finished",
    ]


@pytest.mark.parametrize("name", HOOKS)
def test_every_function_is_a_prefixed_hookspec(name):
    assert name.startswith("memsim_")
    assert getattr(getattr(hookspecs, name), "memsim_spec", None) is not None, \
        f"{name} is not decorated with @hookspec"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_a_summary_and_documents_each_parameter(name):
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc, f"{name} has no docstring"
    lines = doc.splitlines()
    assert lines[0].strip() and lines[0].rstrip().endswith("."), f"{name}: the first line is not a summary sentence"
    assert len(lines) == 1 or not lines[1].strip(), f"{name}: the summary is not a single line"
    for param in parameters(name):
        assert re.search(rf":param {param}:", doc), f"{name}: no ':param {param}:' entry"
    documented = re.findall(r":param (\w+):", doc)
    assert sorted(documented) == sorted(parameters(name)), f"{name}: documents parameters it does not take"


@pytest.mark.parametrize("name", HOOKS)
def test_firstresult_is_noted_where_it_applies(name):
    spec_opts = getattr(getattr(hookspecs, name), "memsim_spec")
    if spec_opts.get("firstresult"):
        assert "firstresult" in inspect.getdoc(getattr(hookspecs, name))


@pytest.mark.parametrize("name", HOOKS)
def test_the_plugin_guide_shows_every_hook_with_its_signature(name):
    text = DOCS.read_text(encoding="utf-8")
    signature = f"{name}({', '.join(parameters(name))})"
    assert signature in text, f"docs/plugins.md does not show {signature}"


def test_the_plugin_guide_shows_no_hook_that_does_not_exist():
    text = DOCS.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\b(memsim_\w+)\(", text))
    assert mentioned <= set(HOOKS), f"docs/plugins.md shows unknown hooks: {sorted(mentioned - set(HOOKS))}"
