"""docs/patches.md is generated from the seed-change registry (python -m memsim.patchdocs).

Scenario: issue 8, part 4 — per change, what it changes in the kernel, how memsim models it, its
demo workload and the `memsim compare` output measured on it; a test fails when the page is stale.
"""
import importlib.metadata
from pathlib import Path

from memsim.hookspecs import hookimpl
from memsim.patchdocs import REGENERATE, render_patches
from memsim.patches import SEED_PATCHES, PatchImpl, PatchMetric
from memsim.plugin_host import ENTRY_POINT_GROUP, get_plugin_manager
from memsim.workload.variant import Host

#: the source tree (the installed memsim has no configs/ or docs/)
REPO = Path(__file__).resolve().parents[2]
DOC_PATH = REPO / "docs" / "patches.md"

DEMO = """\
machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
tasks:
  - name: app
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf, access: write}
"""


def without_kasan():
    """memsim's own plugins (its entry points) less kasan: an install without the kasan plugin."""
    return [ep for ep in importlib.metadata.distribution("memsim").entry_points
            if ep.group == ENTRY_POINT_GROUP and ep.name != "kasan"]


class kasan:  # noqa: N801  (registered under its class name, in place of the built-in kasan)
    """A stand-in owner of kasan-tag-fe with a stub model and metric the test controls."""

    @hookimpl
    def memsim_register_patches(self, patches):
        patches.add(PatchImpl(
            "kasan-tag-fe", "A stub model: the error is 32 pages without the change.",
            files=("/proc/meminfo",),
            metrics=(PatchMetric("stat_error_pages", "pages the statistics miss",
                                 lambda m: 0 if m.patches.enabled("kasan-tag-fe") else 32, "pages"),)))


def test_docs_file_is_the_rendered_page_of_the_builtin_plugins():
    assert DOC_PATH.read_text(encoding="utf-8") == render_patches(root=REPO), \
        f"docs/patches.md is stale: run {REGENERATE}"


def test_the_page_has_the_table_and_a_section_per_change():
    text = DOC_PATH.read_text(encoding="utf-8")
    for seed in SEED_PATCHES:
        assert f"| [`{seed.name}`](#{seed.name}) | {seed.subject} |" in text
        assert f"\n## `{seed.name}`\n" in text
    assert text.count(" | implemented |") == len(SEED_PATCHES)                  # every plugin is written
    for plugin in ("swap", "hugetlb", "pagecache", "kmem", "kasan"):
        assert f"| `{plugin}` | implemented |" in text
    assert "not implemented" not in text
    # the demo of the implemented change, measured: the print fmt and the metric differ
    section = text.split("\n## `rss-stat-symbolic`\n", 1)[1].split("\n## ", 1)[0]
    assert "**Demo:** `configs/patch-rss-stat-symbolic.yaml`." in section
    assert "```text\nmemsim compare configs/patch-rss-stat-symbolic.yaml --patch rss-stat-symbolic\n" in section
    assert '    off: print fmt: "mm_id=%u curr=%d member=%d size=%ldB"' in section
    assert "| `rss_stat_by_index` | lines |" in section
    row = next(line for line in section.splitlines() if line.startswith("  rss_stat_by_index"))
    assert row.split()[2] == "0" and row.split()[4].startswith("+")
    # no-nrexceptional's demo, measured: the seed's objects per 16 KiB slab under v5.14
    section = text.split("\n## `no-nrexceptional`\n", 1)[1].split("\n## ", 1)[0]
    assert "**Demo:** `configs/patch-no-nrexceptional.yaml`." in section
    assert "**Files compared:** `/proc/slabinfo`, `/proc/meminfo`." in section
    rows = {line.split()[0]: line.split()[2:] for line in section.splitlines()
            if line.startswith("  ") and "_objs_per_slab" in line}
    assert rows == {"inode_cache_objs_per_slab": ["27", "26", "-1"],
                    "shmem_inode_cache_objs_per_slab": ["23", "22", "-1"]}
    assert "meminfo Slab" in section


def test_a_change_whose_plugin_is_not_installed_or_silent_is_documented_as_not_implemented(tmp_path):
    host = Host(pm=get_plugin_manager(entry_points=without_kasan()))
    text = render_patches(host, root=Path(tmp_path))
    assert text.count("| not implemented (plugin not written yet) |") == 1
    assert "| `kasan` | not implemented (plugin not written yet) |" in text
    section = text.split("\n## `kasan-tag-fe`\n", 1)[1].split("\n## ", 1)[0]
    assert ("**How memsim models it:** not implemented yet: the kasan plugin does not exist yet, so "
            "`--patch kasan-tag-fe` is refused with a message naming the plugin." in section)
    assert "**Demo:** `configs/patch-kasan-tag-fe.yaml` does not exist yet." in section
    assert "**Metrics" not in section and "memsim compare" not in section
    # the owner is loaded but implements nothing
    silent = type("kasan", (), {})()
    text = render_patches(Host(pm=get_plugin_manager(entry_points=without_kasan(), extra_plugins=[silent])),
                          root=Path(tmp_path))
    assert "| `kasan` | not implemented (the plugin does not implement it yet) |" in text
    assert "**How memsim models it:** not implemented yet: the kasan plugin does not implement it yet" in text


def test_a_plugin_implementation_and_its_demo_are_documented(tmp_path):
    host = Host(pm=get_plugin_manager(entry_points=without_kasan(), extra_plugins=[kasan()]))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "patch-kasan-tag-fe.yaml").write_text(DEMO)
    text = render_patches(host, root=Path(tmp_path))
    section = text.split("\n## `kasan-tag-fe`\n", 1)[1]
    assert "| `kasan` | implemented |" in text
    assert "| `memcg` | implemented |" in text                              # objcg-kmem, memcg-rstat
    assert "| `swap` | implemented |" in text                               # swapin-charge-first
    assert "not implemented (plugin not written yet)" not in text
    assert "**How memsim models it:** A stub model: the error is 32 pages without the change." in section
    assert "**Files compared:** `/proc/meminfo`. **Trace events whose formats are compared:** none named." in section
    assert "| `stat_error_pages` | pages | pages the statistics miss |" in section
    assert "```text\nmemsim compare configs/patch-kasan-tag-fe.yaml --patch kasan-tag-fe\n" in section
    assert "  /proc/meminfo: the same on both sides" in section
    assert "  stat_error_pages (pages)" in section and "+32\n```" in section
    # the demo of rss-stat-symbolic is not in this root: said so, and nothing is run
    assert "**Demo:** `configs/patch-rss-stat-symbolic.yaml` does not exist yet." in text
    assert render_patches(host, root=Path(tmp_path)) == text                # deterministic
