"""docs/workloads.md is generated from the declarations (python -m memsim.workload.docs)."""
from pathlib import Path

from memsim.registry import Param, SectionSpec, StepType
from memsim.workload import core_schema
from memsim.workload.docs import _EXAMPLE, builtin_registries, core_registries, render_reference
from memsim.workload.loader import load_workload_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"


def test_docs_file_is_the_rendered_reference_of_the_builtin_plugins():
    assert DOCS.read_text(encoding="utf-8") == render_reference(builtin_registries()), \
        "docs/workloads.md is stale: run python -m memsim.workload.docs docs/workloads.md"


def test_builtin_plugins_declare_the_core_steps():
    names = [s.name for s in builtin_registries().steps]
    assert set(s.name for s in core_registries().steps) <= set(names)
    assert {"kmalloc", "kfree"} <= set(names)                      # from the kmem plugin


def test_every_declared_key_is_documented():
    text = render_reference(core_registries())
    for p in core_schema.MACHINE_PARAMS + core_schema.TASK_PARAMS:
        assert f"| `{p.name}` |" in text
    for step in core_schema.CORE_STEPS:
        assert f"### `{step.name}`" in text
        for p in step.params:
            assert f"| `{p.name}` |" in text


def test_examples_in_the_reference_load():
    registries = core_registries()
    load_workload_text(_EXAMPLE, "example.yaml", registries)
    steps = "\n".join(s.example for s in core_schema.CORE_STEPS)
    indented = "".join(f"      {line}\n" for line in steps.splitlines())
    text = ("tasks:\n  - name: app\n    steps:\n      - mmap: {name: buf, length: 1 GiB}\n" + indented)
    # the mmap example maps 'buf' again: rename the first so each example is checked as written
    text = text.replace("{name: buf, length: 1 GiB}\n", "{name: buf0, length: 1 GiB}\n", 1)
    text = text.replace("      - mmap: {name: buf0", "      - mmap: {name: spare")
    load_workload_text(text, "examples.yaml", registries)


def test_render_reference_documents_plugin_sections_and_steps():
    registries = core_registries()
    registries.sections.add(SectionSpec("hugetlb", "Huge page pools.", (
        Param("nr_hugepages", "int", "persistent huge pages | per node", default=0, minimum=0),), plugin="hugetlb"))
    registries.steps.add(StepType("uffd_register", "Register a range.", (
        Param("vma", "str", "the mapping", required=True, refers="vma"),
        Param("timeout", "duration", "how long to wait", default="1ms"),),
        run=lambda ctx, step: None, plugin="userfaultfd", example="- uffd_register: {vma: buf}"))
    text = render_reference(registries)
    assert "### `hugetlb`\n\nHuge page pools. *(plugin `hugetlb`)*" in text
    assert "| `nr_hugepages` | int ≥ 0 | `0` | persistent huge pages \\| per node |" in text
    assert "### `uffd_register`\n\nRegister a range. *(plugin `userfaultfd`)*" in text
    assert "| `timeout` | duration | `1 ms` | how long to wait |" in text
    assert "```yaml\n- uffd_register: {vma: buf}\n```\n\n## How failures show\n" in text    # the last step
