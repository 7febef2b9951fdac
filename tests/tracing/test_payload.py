"""memsim.tracing.payload: an event's print fmt compiled into its inverse (FORMAT-NOTES 9, 10).

Scenarios: every print fmt memsim knows compiles; symbolic values, flags, partial bits and
shifted fields come back as the record's numbers; the keyed fallback reads older kernels and
``trace-cmd report -R``; and (property) Formatter -> text -> inverse gives the fields back, in
the pure-Python reference matcher and in the Cython scanner alike.
"""
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memsim.hashptr import hash_pointer, key_from_seed
from memsim.tracing import _textscan
from memsim.tracing.columns import column_name
from memsim.tracing.events import EventDecl, layout_fields
from memsim.tracing.formats import FormatSet, default_formats
from memsim.tracing.kmem import kmem_events
from memsim.tracing.payload import (SLOT_INT, SLOT_STR, compile_payload, generic_value,
                                    unknown_payload)
from memsim.tracing.printfmt import compile_decl, print_flags
from memsim.tracing.textparse import TextReader

KEY = key_from_seed(11)
M64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def formats():
    return default_formats()


def pattern(formats, name):
    return compile_payload(formats.by_name(name))


def scan_payload(decl, payload):
    """The fields the Cython scanner gets from one payload of ``decl``."""
    fs = FormatSet()
    fs.add(decl)
    line = f"            bash-42      [000] ..... 1.000000: {decl.name}: {payload}\n"
    r = TextReader("t", io.BytesIO(line.encode()), formats=fs, strict=True)
    recs = list(r.records())
    assert len(recs) == 1
    cols = TextReader("t", io.BytesIO(line.encode()), formats=fs, strict=True).columns()
    return recs[0].fields, cols


# -- every print fmt compiles ----------------------------------------------------------------
def all_decls():
    out = list(FormatSet.bundled())
    for profile in ("v5.14", "v6.18"):
        out += [d for d in kmem_events(profile)]
    return out


def test_bundled_catalog_has_the_110_captured_events_ftrace_print_and_error_report_end():
    names = {d.full_name for d in FormatSet.bundled()}
    assert len(names) == 112 and {"ftrace:print", "error_report:error_report_end"} <= names


@pytest.mark.parametrize("decl", all_decls(), ids=lambda d: d.full_name)
def test_every_print_fmt_compiles_to_an_inverse(decl):
    """Each of the 112 catalog events and memsim's own (v5.14, v6.18) compiles into a pattern
    (or falls back to keyed parsing cleanly) that the Cython scanner accepts."""
    pat = compile_payload(decl)
    assert pat.compiled, pat.reason
    slots, ops, raw = pat.program()
    _textscan.Program((slots, ops))
    assert raw is not None
    _textscan.Program((slots, raw))
    fields = {f.name for f in decl.fields}
    for s in pat.slots:
        if s.is_field:
            assert s.name in fields


def test_unsupported_print_fmt_falls_back_to_keyed():
    decl = EventDecl("x", "weird", layout_fields([("int", "a", 4, True), ("int", "b", 4, True)]),
                     '"a=%d%d", REC->a, REC->b')
    pat = compile_payload(decl)
    assert not pat.compiled and "followed by another number" in pat.reason
    assert pat.program()[1] is None
    assert pat.parse("a=12 b=0x10") == {"a": 12, "b": 16}
    assert pat.parse("b=3") == {"b": 3}


def test_unparsable_print_fmt_is_keyed_only():
    decl = EventDecl("x", "broken", layout_fields([("int", "a", 4, True)]), '"a=%d", REC->a +')
    pat = compile_payload(decl)
    assert not pat.compiled
    assert pat.parse("a=5") == {"a": 5}


# -- FORMAT-NOTES 10: the fields of the captured events --------------------------------------
def test_rss_stat_member_and_size_in_bytes(formats):
    p = pattern(formats, "rss_stat")
    assert p.match("mm_id=488984262 curr=1 type=MM_FILEPAGES size=1720320B") == {
        "mm_id": 488984262, "curr": 1, "member": 0, "size": 1720320}
    assert p.match("mm_id=1 curr=0 type=MM_SHMEMPAGES size=-4096B")["member"] == 3
    assert p.match("mm_id=1 curr=0 type=0x7 size=0B")["member"] == 7      # unmatched: 0x..
    assert p.match("mm_id=1 curr=0 type=0xffffffffffffffff size=0B")["member"] == -1


def test_rss_stat_older_kernel_member_is_numeric(formats):
    """A 5.x kernel prints member=%d (and trace-cmd -R member=1): same field, same value."""
    p = pattern(formats, "rss_stat")
    assert p.match("mm_id=7 curr=0 member=1 size=4096B") is None
    assert p.parse("mm_id=7 curr=0 member=1 size=4096B") == {
        "mm_id": 7, "curr": 0, "member": 1, "size": 4096}
    assert p.parse("mm_id=7 curr=0 member=1 size=4096") == {
        "mm_id": 7, "curr": 0, "member": 1, "size": 4096}
    assert p.parse("mm_id=7 curr=0 type=MM_ANONPAGES") == {"mm_id": 7, "curr": 0, "member": 1}


def test_filemap_recovers_s_dev_ino_index(formats):
    p = pattern(formats, "mm_filemap_delete_from_page_cache")
    f = p.match("dev 254:0 ino 20c0d6 pfn=0x1072e0 ofs=65536 order=4")
    assert f == {"s_dev": (254 << 20) | 0, "i_ino": 0x20C0D6, "pfn": 0x1072E0,
                 "index": 65536 >> 12, "order": 4}
    assert p.match("dev 8:17 ino 1 pfn=0x1 ofs=0 order=0")["s_dev"] == (8 << 20) | 17


def test_filemap_raw_fields_from_trace_cmd_R(formats):
    """trace-cmd report -R prints the record's fields: i_ino in hex (as the print fmt does),
    index 0x-hex, s_dev decimal."""
    p = pattern(formats, "mm_filemap_add_to_page_cache")
    f = p.parse(" pfn=0x11ea80 i_ino=20c008 index=0x10 s_dev=266338304 order=4")
    assert f == {"pfn": 0x11EA80, "i_ino": 0x20C008, "index": 16, "s_dev": 266338304, "order": 4}


def test_map_pages_range_inverts_both_ends(formats):
    p = pattern(formats, "mm_filemap_map_pages")
    f = p.match("dev=254:1 ino=a ofs=4096-16383")
    assert f == {"s_dev": (254 << 20) | 1, "i_ino": 10, "index": 1, "last_index": 3}


def test_mm_page_alloc_gfp_flags_through_the_table(formats):
    p = pattern(formats, "mm_page_alloc")
    text = ("page=000000007c1ed87d pfn=0x136a55 order=0 migratetype=0 "
            "gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
    f = p.match(text)
    assert f["gfp_flags"] == 0x440DC0
    assert f["page"] == 0x7C1ED87D                  # the hashed %p, kept under its label
    assert f["pfn"] == 0x136A55 and f["order"] == 0 and f["migratetype"] == 0
    decl = formats.by_name("mm_page_alloc")
    # the same number printed by the format's own table gives the same text
    assert compile_decl(decl).payload({"pfn": 0x136A55, "order": 0, "migratetype": 0,
                                       "gfp_flags": 0x440DC0}).endswith(
        "gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
    assert p.match(text.replace("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP", "none"))[
        "gfp_flags"] == 0
    assert p.match(text.replace("|__GFP_COMP", "|__GFP_COMP|0x80000000"))[
        "gfp_flags"] == 0x80440DC0
    assert p.match(text.replace("__GFP_ZERO", "__GFP_BOGUS")) is None


def test_trace_cmd_report_page_is_pfn_like(formats):
    p = pattern(formats, "mm_page_alloc")
    f = p.match("page=0x116da0 pfn=0x116da0 order=0 migratetype=0 gfp_flags=GFP_NOWAIT")
    assert f["page"] == 0x116DA0 and f["gfp_flags"] == 0x2800


def test_string_ternaries_set_the_condition_field(formats):
    p = pattern(formats, "mm_compaction_end")
    base = "zone_start=0x1 migrate_pfn=0x2 free_pfn=0x3 zone_end=0x4, mode={} status=success"
    assert p.match(base.format("sync"))["sync"] == 1
    assert p.match(base.format("async"))["sync"] == 0
    assert p.match(base.format("async"))["status"] == 8


def test_lru_insertion_flag_characters(formats):
    p = pattern(formats, "mm_lru_insertion")
    f = p.match("folio=00000000abcdef01 pfn=0x10 lru=2 flags=Ma bd ")
    assert f["flags"] == 0x0001 | 0x0002 | 0x0010 | 0x0020
    assert p.match("folio=00000000abcdef01 pfn=0x10 lru=2 flags= f    ")["flags"] == 0


def test_symbol_with_spaces_and_padded_symbol(formats):
    p = pattern(formats, "tlb_flush")
    # pages is an unsigned long: TLB_FLUSH_ALL prints as -1 with %ld
    assert p.match("pages:-1 reason:remote shootdown (1)") == {"pages": M64, "reason": 1}
    p = pattern(formats, "mm_compaction_defer_compaction")
    f = p.match("node=0 zone=DMA32    order=3 order_failed=2 consider=1 limit=64")
    assert f["idx"] == 1 and f["defer_shift"] == 6 and f["considered"] == 1


def test_non_invertible_values_are_kept_under_their_label(formats):
    p = pattern(formats, "kmalloc")
    f = p.match("call_site=kmalloc_order_trace+0x1e/0x80 ptr=00000000deadbeef bytes_req=100 "
                "bytes_alloc=128 gfp_flags=GFP_KERNEL node=-1 accounted=false")
    assert f["call_site"] == "kmalloc_order_trace+0x1e/0x80"
    assert f["ptr"] == 0xDEADBEEF
    assert f["accounted"] == "false"
    assert f["gfp_flags"] == 0xCC0 and f["node"] == -1
    slots = {s.name: s for s in p.slots}
    assert not slots["accounted"].is_field and slots["accounted"].kind == SLOT_STR
    assert slots["gfp_flags"].kind == SLOT_INT and slots["gfp_flags"].typecode == "Q"


def test_strings_of_data_loc_fields(formats):
    p = pattern(formats, "kmem_cache_free")
    f = p.match("call_site=do_exit+0x19e/0xb60 ptr=0000000012345678 name=vm_area_struct")
    assert f["name"] == "vm_area_struct"


def test_raw_field_list_of_trace_cmd_R(formats):
    """libtraceevent's raw output: every field in format order, decimal or 0x-hex, hex digits
    for a field the print fmt prints with %x."""
    p = pattern(formats, "mm_filemap_add_to_page_cache")
    text = "pfn=0x11ea80 i_ino=20c008 index=0x10 s_dev=266338304 order=4"
    assert p.match(text) is None
    assert p.match_raw(text) == {"pfn": 0x11EA80, "i_ino": 0x20C008, "index": 16,
                                 "s_dev": 266338304, "order": 4}
    p = pattern(formats, "kmalloc")
    f = p.match_raw("call_site=0xffffffff81234567 ptr=0xffff888100000000 bytes_req=8 "
                    "bytes_alloc=8 gfp_flags=0xcc0 node=-1")
    assert f["ptr"] == 0xFFFF888100000000 and f["node"] == -1 and f["gfp_flags"] == 0xCC0
    assert "call_site" not in f            # its slot holds the %pS text of the print fmt


def test_unknown_event_generic_key_values():
    p = unknown_payload()
    assert p.parse("a=1 b=0x1f c=-7 d=hello e=12kB") == {"a": 1, "b": 31, "c": -7,
                                                          "d": "hello", "e": "12kB"}
    assert p.parse("no pairs here") == {}
    assert generic_value("-0x10") == -16


# -- round trip: Formatter(fields) -> text -> inverse -> fields --------------------------------
def _memsim_decls():
    seen = []
    for profile in ("v5.14", "v6.18"):
        for d in kmem_events(profile):
            seen.append((profile, d))
    return seen


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)


def _value(f, draw):
    if f.ctype.startswith("__data_loc") or "[" in f.ctype:
        return draw(_name)
    if f.ctype in ("bool", "_Bool"):
        return draw(st.integers(0, 1))
    bits = 8 * f.size
    if f.name == "pfn":             # pfn -1 prints as 0 (the ternary): not recoverable
        return draw(st.integers(0, (1 << 52) - 1))
    if f.signed:
        return draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    return draw(st.integers(0, (1 << bits) - 1))


def _recoverable(pat):
    names = set(pat.recovered())
    return {s.name for s in pat.slots if s.is_field and s.name in names}


@pytest.mark.parametrize("profile,decl", _memsim_decls(),
                         ids=lambda x: x if isinstance(x, str) else x.name)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_memsim_events(profile, decl, data):
    """Hypothesis over field values: the text memsim prints parses back to the same fields."""
    values = {f.name: _value(f, data.draw) for f in decl.fields}
    text = compile_decl(decl, ptr_key=KEY).payload(values)
    pat = compile_payload(decl)
    got = pat.match(text)
    assert got is not None, text
    for name in _recoverable(pat):
        want = values[name]
        if name in pat.field_types and pat.field_types[name].kind == SLOT_INT:
            want = pat.field_types[name].wrap(want)
        assert got[name] == want, (name, text)
    # what no field is recovered from: the hashed pointer under its label
    if "ptr" in got and not any(s.name == "ptr" and s.is_field for s in pat.slots):
        assert got["ptr"] == (values["ptr"] if values["ptr"] in (0,) or values["ptr"] >= M64 - 4094
                              else hash_pointer(values["ptr"], *KEY))
    # the Cython scanner agrees with the reference matcher, records and columns alike
    fields, cols = scan_payload(decl, text)
    assert fields == got
    table = cols[decl.full_name]
    for k, v in got.items():
        col = table[column_name(k)]
        assert col[0] == v


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, M64))
def test_gfp_flags_any_value_round_trips(value):
    decl = next(d for d in kmem_events("v6.18") if d.name == "mm_page_alloc")
    pat = compile_payload(decl)
    text = compile_decl(decl, ptr_key=KEY).payload(
        {"pfn": 1, "order": 0, "migratetype": 0, "gfp_flags": value})
    assert pat.match(text)["gfp_flags"] == value


def test_printed_flags_are_what_the_table_prints(formats):
    """The inverse and trace_print_flags_seq agree on a mixed value."""
    decl = formats.by_name("mm_page_alloc")
    pat = compile_payload(decl)
    conv = [p for p in pat.pieces if not isinstance(p, str)][-1].dynamic
    assert conv.kind == "flags" and conv.delim == "|"
    text = print_flags(0x440DC0, "|", [(v, k) for k, v in conv.table.items()])
    assert text == "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP"


def _catalog_with_formatters():
    out = []
    for d in FormatSet.bundled():
        if d.full_name == "ftrace:print":   # printed by its own output function (test_report)
            continue
        try:
            compile_decl(d)
        except Exception:           # e.g. vmscan:mm_vmscan_throttled: an enum never rewritten
            continue
        out.append(d)
    return out


@pytest.mark.parametrize("decl", _catalog_with_formatters(), ids=lambda d: d.full_name)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_catalog_events(decl, data):
    """The 6.18 catalog events, printed by memsim's Formatter with values that survive printing
    (no shifted-out bits, a NULL-free pfn, bools for the ``x ? "a" : "b"`` conditions), parse
    back to those values -- and the Cython scanner agrees with the reference matcher."""
    pat = compile_payload(decl)
    choice_bits = {}
    for p in pat.pieces:
        if not isinstance(p, str) and p.kind == "choice":
            for _, slot, v in p.alts:
                if slot >= 0:
                    choice_bits.setdefault(pat.slots[slot].name, set()).add(v)
    values = {}
    for f in decl.fields:
        if f.ctype.startswith("__data_loc") or "[" in f.ctype:
            values[f.name] = data.draw(_name)
        elif f.name in choice_bits:
            bits = sorted(choice_bits[f.name])
            values[f.name] = sum(data.draw(st.lists(st.sampled_from(bits), unique=True)))
        else:
            values[f.name] = data.draw(st.integers(0, 4095))
    if "d_len" in values and "d_name" in values:       # "%.*s" precision
        values["d_len"] = len(values["d_name"])
    if "defer_shift" in values:
        values["defer_shift"] %= 64
    text = compile_decl(decl, ptr_key=KEY).payload(values)
    got = pat.match(text)
    assert got is not None, text
    for s in pat.slots:
        if s.is_field and s.name in _recoverable(pat):
            want = s.wrap(values[s.name]) if s.kind == SLOT_INT else values[s.name]
            assert got[s.name] == want, (s.name, text)
    fields, _ = scan_payload(decl, text)
    assert fields == got
