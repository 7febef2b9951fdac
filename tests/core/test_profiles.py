"""Kernel profiles hold what differs between the emulated kernels as data (issue 7, "Kernel
profile data per plugin"): attributes of KernelProfile for the core, a ProfileTable per plugin,
and no test of a profile's name anywhere in the code.
"""
import ast
from pathlib import Path

import pytest

from memsim.errors import PluginError
from memsim.profiles import PROFILES, KernelProfile, ProfileTable, get_profile

ROOT = Path(__file__).resolve().parents[2]


def test_a_table_gives_the_value_of_a_profile_by_object_or_by_name():
    table = ProfileTable("demo.width", {"v5.14": 4, "v6.18": 5})
    assert table[get_profile("v5.14")] == 4
    assert table["v6.18"] == 5
    assert list(table.items()) == [("v5.14", 4), ("v6.18", 5)]


def test_a_table_without_a_profile_is_an_error_naming_the_table_and_the_profile():
    with pytest.raises(PluginError) as info:
        ProfileTable("hugetlb.default_hstate", {"v5.14": "hugepages-2048kB"})
    assert str(info.value) == ("profile table 'hugetlb.default_hstate': it has no value for kernel "
                               "profile 'v6.18'; give a value for every profile: v5.14, v6.18")


def test_a_table_keyed_by_an_unknown_profile_is_an_error():
    with pytest.raises(PluginError, match=r"profile table 'x': 'v6.1' is not a kernel profile; "
                                          r"key the table by the profiles of memsim.profiles"):
        ProfileTable("x", {"v5.14": 1, "v6.18": 2, "v6.1": 3})


def test_an_unknown_profile_name_is_refused_on_lookup():
    table = ProfileTable("demo", {"v5.14": 1, "v6.18": 2})
    with pytest.raises(KeyError, match="unknown kernel profile 'v3.10'"):
        table["v3.10"]


@pytest.mark.parametrize("name, gfp_user, char_signed", [
    ("v5.14", 0x1100CCA, True),     # GFP_HIGHUSER_MOVABLE with __GFP_SKIP_KASAN_POISON (5.14 gfp.h)
    ("v6.18", 0x140CCA, False),     # no SKIP_KASAN; __GFP_COMP from folio_alloc; -funsigned-char since 6.2
])
def test_the_profiles_hold_what_the_core_used_to_derive_from_their_names(name, gfp_user, char_signed):
    p = get_profile(name)
    assert (p.gfp_user, p.char_signed) == (gfp_user, char_signed)


def _name_comparisons(path: Path):
    """(line, text) of every comparison with a profile name: ``x == "v5.14"``, ``"v6.18" != x``,
    ``x in ("v5.14", ...)`` — a profile name used as data (a table key, a default argument, the
    profile's own declaration) is fine."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left] + list(node.comparators):
            consts = [operand] if isinstance(operand, ast.Constant) else (
                list(operand.elts) if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [])
            if any(isinstance(c, ast.Constant) and c.value in PROFILES for c in consts):
                yield node.lineno, ast.unparse(node)


def test_no_code_compares_profile_names():
    sources = [p for d in ("memsim", "plugins", "tracing") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(sources) > 20
    found = [f"{p.relative_to(ROOT)}:{line}: {text}" for p in sources for line, text in _name_comparisons(p)]
    assert found == [], "compare profile attributes or use a ProfileTable:\n" + "\n".join(found)


def test_the_name_scan_finds_a_comparison(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('x = 1 if profile.name == "v5.14" else 2\nok = {"v6.18": 1}\n'
                   'y = p in ("v5.14", "v6.18")\n')
    assert sorted(line for line, _ in _name_comparisons(bad)) == [1, 3]
