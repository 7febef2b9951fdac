"""memsim.tracing.formatfile and the kmem declarations vs the captured 6.18 format files."""
import re

import pytest

from memsim.tracing.events import EventDecl, EventRegistry, layout_fields
from memsim.tracing.formatfile import format_file, header_event, header_page
from memsim.tracing.gfp import show_gfp_flags_expr
from memsim.tracing.kmem import kmem_events

COMMON = ("\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
          "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
          "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
          "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n")


def registered(profile):
    reg = EventRegistry()
    for d in kmem_events(profile):
        reg.add(d)
    return reg


def captured(traces_dir, system, event):
    for base in ("formats", "formats-extra"):
        p = traces_dir / base / system / event / "format"
        if p.exists():
            return p.read_text()
    return None


def drop_id(text):
    return re.sub(r"^ID: \d+\n", "", text, flags=re.M)


def test_scenario_2_rss_stat_format(profile_name):
    """Scenario 2: header, common fields 0/2/3/4, blank, the four fields, blank, print fmt."""
    d = next(x for x in kmem_events(profile_name) if x.name == "rss_stat")
    assert format_file(d, 646) == (
        "name: rss_stat\nID: 646\nformat:\n" + COMMON + "\n"
        "\tfield:unsigned int mm_id;\toffset:8;\tsize:4;\tsigned:0;\n"
        "\tfield:unsigned int curr;\toffset:12;\tsize:4;\tsigned:0;\n"
        "\tfield:int member;\toffset:16;\tsize:4;\tsigned:1;\n"
        "\tfield:long size;\toffset:24;\tsize:8;\tsigned:1;\n"
        "\nprint fmt: \"mm_id=%u curr=%d type=%s size=%ldB\", REC->mm_id, REC->curr, "
        "__print_symbolic(REC->member, { 0, \"MM_FILEPAGES\" }, { 1, \"MM_ANONPAGES\" }, "
        "{ 2, \"MM_SWAPENTS\" }, { 3, \"MM_SHMEMPAGES\" }), REC->size\n")


@pytest.mark.parametrize("event", [d.name for d in kmem_events("v6.18")])
def test_v618_format_equals_capture(traces_dir, event):
    """Every v6.18 kmem declaration reproduces the captured format file (ID line aside)."""
    reg = registered("v6.18")
    cap = captured(traces_dir, "kmem", event)
    assert cap is not None, f"no captured format for kmem:{event}"
    assert drop_id(format_file(reg.get(f"kmem:{event}"), 1)) == drop_id(cap)


def test_v618_ids_match_capture_when_kmem_registers_first(traces_dir):
    reg = registered("v6.18")
    for type_id, d in reg.items():
        cap = captured(traces_dir, "kmem", d.name)
        assert format_file(d, type_id) == cap


def test_v618_declares_every_captured_kmem_event(traces_dir):
    dirs = {p.parent.name for base in ("formats", "formats-extra")
            for p in (traces_dir / base / "kmem").glob("*/format")}
    assert dirs == {d.name for d in kmem_events("v6.18")}


def test_headers_equal_capture(traces_dir):
    assert header_page("v6.18") == (traces_dir / "formats" / "header_page").read_text()
    assert header_event() == (traces_dir / "formats" / "header_event").read_text()


def test_v514_header_page_char_is_signed():
    assert header_page("v5.14").endswith("\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n")


def test_v514_reconstruction_shape():
    """v5.14: gfp_t fields, 0x..u bit constants, no { 0, NULL } terminator, signed __data_loc."""
    d = {x.name: x for x in kmem_events("v5.14")}
    kmalloc = format_file(d["kmalloc"], 1)
    assert "\tfield:gfp_t gfp_flags;\toffset:40;\tsize:4;\tsigned:0;\n" in kmalloc
    assert "node" not in kmalloc and "accounted" not in kmalloc
    assert '{(unsigned long)(( gfp_t)0x01u), "GFP_DMA"}' in kmalloc
    assert kmalloc.endswith('{(unsigned long)(( gfp_t)0x1000000u),"__GFP_SKIP_KASAN_POISON"} ) '
                            ': "none"\n')
    assert "((void *)0) }" not in show_gfp_flags_expr("v5.14")
    node = format_file(d["kmalloc_node"], 1)
    assert "\tfield:int node;\toffset:44;\tsize:4;\tsigned:1;\n" in node
    assert node.rstrip("\n").endswith(': "none", REC->node')
    assert "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:1;\n" in format_file(
        d["kmem_cache_free"], 1)
    assert format_file(d["mm_page_alloc_zone_locked"], 1).rstrip("\n").endswith(
        "REC->order, REC->migratetype, REC->order == 0")


def test_array_and_empty_field_lists():
    d = EventDecl("test", "comm", layout_fields([("char[16]", "comm", 16, True),
                                                 ("pid_t", "pid", 4, True)]),
                  '"comm=%s pid=%d", REC->comm, REC->pid')
    text = format_file(d, 9)
    assert "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:1;\n" in text
    assert "\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n" in text
    empty = EventDecl("test", "empty", (), '"x"')
    assert format_file(empty, 3) == "name: empty\nID: 3\nformat:\n" + COMMON + \
        "\n\nprint fmt: \"x\"\n"
