"""The examples of docs/plugins.md run (STYLE 16: docs describe what exists).

Code blocks marked ``<!-- tested: hugedemo -->`` are one plugin module, assembled in page order;
``<!-- tested: hugedemo workload -->`` blocks are workloads run with it; ``<!-- tested: snippet -->``
blocks are executed on their own.
"""
import re
import types
from pathlib import Path

import pytest

from memsim.errors import ExpectationFailed, PluginError
from memsim.plugin_host import collect_registries, get_plugin_manager, list_plugins
from memsim.profiles import get_profile
from memsim.testing import run_text
from memsim.workload.docs import render_reference

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"<!-- tested: ([\w ]+) -->\n```(\w+)\n(.*?)```", re.S)


def blocks(tag):
    found = [(lang, body) for name, lang, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
             if name.strip() == tag]
    assert found, f"docs/plugins.md has no block tested as {tag!r}"
    return found


def hugedemo():
    module = types.ModuleType("hugedemo")
    module.__version__ = "0.1.0"
    source = "\n".join(body for lang, body in blocks("hugedemo") if lang == "python")
    exec(compile(source, f"{GUIDE}:hugedemo", "exec"), module.__dict__)
    return module


def test_the_guide_plugin_loads_with_its_declaration():
    pm = get_plugin_manager(disabled=("hugetlb",), extra_plugins=[hugedemo()])
    info = next(i for i in list_plugins(pm) if i.name == "hugedemo")
    assert (info.requires, info.after) == (("kmem",), ("memcg",))
    assert pm.plugin_order.index("hugedemo") > pm.plugin_order.index("kmem")


def test_the_guide_shows_what_memsim_plugins_prints():
    """The guide's `memsim plugins` table is the command's output with hugedemo loaded (given
    the distribution the guide names: here it is registered directly, without one)."""
    import dataclasses

    from memsim.cli import plugins_table
    text = GUIDE.read_text(encoding="utf-8")
    shown = text[text.index("`memsim plugins` lists the plugins in that order"):]
    shown = shown[shown.index("```text\n") + len("```text\n"):]
    shown = shown[:shown.index("```")]
    infos = [dataclasses.replace(i, dist="hugedemo") if i.name == "hugedemo" else i
             for i in list_plugins(get_plugin_manager(disabled=("hugetlb",), extra_plugins=[hugedemo()]))]
    assert shown == plugins_table(infos)


@pytest.mark.parametrize("index", range(len(blocks("hugedemo workload"))))
def test_the_guide_workloads_run(index):
    lang, text = blocks("hugedemo workload")[index]
    assert lang == "yaml"
    r = run_text(text, disabled=("hugetlb",), plugins=[hugedemo()], events=())
    assert r.error is None, r.error


def test_the_guide_expect_key_fails_where_it_should():
    _, text = blocks("hugedemo workload")[0]
    r = run_text(text.replace("free_hugepages: 2", "free_hugepages: 3"), disabled=("hugetlb",), plugins=[hugedemo()], events=())
    assert isinstance(r.error, ExpectationFailed)
    assert "2 huge pages are free, expected 3" in str(r.error)


def test_the_guide_profile_table_covers_every_profile():
    plugin = hugedemo()
    assert plugin.GFP_FIELD[get_profile("v6.18")] == ("unsigned long", 8)
    with pytest.raises(PluginError, match="it has no value for kernel profile 'v6.18'"):
        plugin.ProfileTable("hugedemo.gfp_field", {"v5.14": ("gfp_t", 4)})


def test_the_reference_names_the_guide_plugin():
    registries, _ = collect_registries(get_plugin_manager(disabled=("hugetlb",), extra_plugins=[hugedemo()]), get_profile("v5.14"))
    text = render_reference(registries)
    assert "| `MAP_HUGETLB` | `0x40000` | back the mapping with 2 MiB huge pages *(plugin `hugedemo`)* |" in text


@pytest.mark.parametrize("index", range(len(blocks("snippet"))))
def test_the_guide_snippets_run(index):
    lang, source = blocks("snippet")[index]
    assert lang == "python"
    exec(compile(source, f"{GUIDE}:snippet{index}", "exec"), {"__name__": f"snippet{index}"})
