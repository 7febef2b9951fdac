"""Format files read back (tracing/formats.py): the captured 6.18 files, memsim's own, the catalog."""
import filecmp
import os

import pytest

import memsim.tracing.formats as formats_module
from memsim.errors import TraceError
from memsim.tracing.events import EventRegistry
from memsim.tracing.formatfile import format_file
from memsim.tracing.formats import FormatSet, default_formats, parse_format
from memsim.tracing.kmem import kmem_events
from memsim.tracing.printfmt import compile_decl


def test_every_captured_format_file_parses(traces_dir):
    n = 0
    for sub in ("formats", "formats-extra"):
        fs = FormatSet.from_dir(str(traces_dir / sub))
        for type_id, decl in fs.items():
            path = traces_dir / sub / decl.system / decl.name / "format"
            text = path.read_text()
            # reading and printing again gives the file back, byte for byte
            assert format_file(decl, type_id) == text, path
            n += 1
    assert n == 9 + 110
    assert FormatSet.from_dir(str(traces_dir / "formats")).header_page.startswith("\tfield: u64 timestamp")


# /sys/kernel/tracing/events/ftrace/print/format of this project's VM (Linux 6.18.44): the event
# ``echo TEXT > trace_marker`` records, bundled next to the 110 mm events of the shared capture
FTRACE_PRINT_FORMAT = """name: print
ID: 5
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;
\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;

print fmt: "%ps: %s", (void *)REC->ip, REC->buf
"""


#: catalog files copied from this project's VM rather than the shared capture, each held against
#: the live tracefs file by its plugin's tests (tests/kasan: error_report_end)
FROM_THE_VM = {"error_report:error_report_end"}


def test_the_bundled_catalog_is_the_captured_files(traces_dir):
    cat = FormatSet.bundled("v6.18")
    assert len(cat) == 110 + 1 + len(FROM_THE_VM)
    assert FROM_THE_VM <= {decl.full_name for decl in cat}
    root = os.path.join(os.path.dirname(formats_module.__file__), "catalog", "v6.18")
    for decl in cat:
        rel = os.path.join(decl.system, decl.name, "format")
        if decl.full_name == "ftrace:print":
            with open(os.path.join(root, rel)) as f:
                assert f.read() == FTRACE_PRINT_FORMAT
            continue
        if decl.full_name in FROM_THE_VM:
            continue
        assert filecmp.cmp(os.path.join(root, rel), traces_dir / "formats-extra" / rel, shallow=False)


@pytest.mark.parametrize("profile", ["v5.14", "v6.18"])
def test_memsims_own_formats_round_trip(profile):
    reg = EventRegistry()
    for d in kmem_events(profile):
        reg.add(d)
    for type_id, decl in reg.items():
        got_id, got = parse_format(format_file(decl, type_id), decl.system)
        assert got_id == type_id
        assert got.fields == decl.fields and got.print_fmt == decl.print_fmt
        compile_decl(got)


def test_ids_and_names_resolve():
    fs = default_formats()
    rss = fs.by_name("rss_stat")
    assert rss.full_name == "kmem:rss_stat" and fs.by_name("kmem:rss_stat") is rss
    assert fs.id_of("kmem:rss_stat") == 646 and fs.by_id(646) is rss
    assert fs.by_name("mm_filemap_add_to_page_cache").system == "filemap"
    assert "nosuch_event" not in fs


def test_array_and_data_loc_fields():
    text = ("name: demo\nID: 900\nformat:\n"
            "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
            "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
            "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
            "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
            "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
            "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;\n\n"
            'print fmt: "comm=%s name=%s", REC->comm, __get_str(name)\n')
    type_id, decl = parse_format(text, "demo")
    assert type_id == 900
    assert [(f.ctype, f.name) for f in decl.fields] == [("char[16]", "comm"), ("__data_loc char[]", "name")]
    assert format_file(decl, 900) == text


@pytest.mark.parametrize("text, problem", [
    ("ID: 5\nformat:\n", "no 'name:' or 'ID:' line"),
    ("name: x\nID: five\n", "is not a number"),
    ("name: x\nID: 5\nformat:\n\tfield:int;\toffset:8;\tsize:4;\tsigned:1;\n", "cannot read the field declaration"),
    ("name: x\nID: 5\nformat:\n\tfield:int a;\toffset:eight;\n", "cannot read the field line"),
])
def test_malformed_format_files_name_the_line(text, problem):
    with pytest.raises(TraceError) as e:
        parse_format(text, "demo", "x/format")
    assert problem in str(e.value) and str(e.value).startswith("x/format")


def test_from_dir_refuses_what_is_not_a_format_tree(tmp_path):
    with pytest.raises(TraceError, match="is not a directory"):
        FormatSet.from_dir(str(tmp_path / "missing"))
    with pytest.raises(TraceError, match="holds no"):
        FormatSet.from_dir(str(tmp_path))
