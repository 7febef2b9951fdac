"""memsim.tracing.printfmt: print fmt evaluation with kernel semantics (tracepoints.md 2.3, 11)."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memsim.hashptr import hash_pointer, key_from_seed
from memsim.tracing import kallsyms
from memsim.tracing.kmem import kmem_events
from memsim.tracing.printfmt import (INT, LONG, UINT, ULONG, VMEMMAP_BASE, CType, Formatter,
                                     PrintFmtError, compile_decl, field_ctype)

KEY = key_from_seed(7)
M64 = (1 << 64) - 1
PTR = CType("ptr", 64, False, 1)


def fmt(text, **fields):
    return Formatter(text, fields, ptr_key=KEY)


def decl(profile, name):
    return next(d for d in kmem_events(profile) if d.name == name)


def payload(profile, event, /, **values):
    return compile_decl(decl(profile, event), ptr_key=KEY).payload(values)


def hashed(ptr):
    return "00000000%08x" % hash_pointer(ptr, *KEY)


# -- scenarios of tracepoints.md section 11 --------------------------------------------------
@pytest.mark.parametrize("member,name", [(0, "MM_FILEPAGES"), (1, "MM_ANONPAGES"),
                                         (2, "MM_SWAPENTS"), (3, "MM_SHMEMPAGES"), (7, "0x7"),
                                         (-1, "0xffffffffffffffff")])
def test_scenario_1_symbolic_member(profile_name, member, name):
    """Scenario 1: type= is the member's name; unknown members print as 0x<hex>."""
    text = payload(profile_name, "rss_stat", mm_id=1726253524, curr=1, member=member, size=40960)
    assert text == f"mm_id=1726253524 curr=1 type={name} size=40960B"


def test_scenario_12_mm_id_equals_low_bits_of_p(profile_name):
    """Scenario 12: %p of the mm pointer is "00000000"+H and mm_id == int(H, 16)."""
    mm = 0xFFFF888104A3C000
    mm_id = hash_pointer(mm, *KEY)
    p = fmt('"%p", REC->mm', mm=PTR).payload({"mm": mm})
    assert re.fullmatch(r"00000000[0-9a-f]{8}", p)
    text = payload(profile_name, "rss_stat", mm_id=mm_id, curr=0, member=1, size=-40960)
    assert text == f"mm_id={int(p, 16)} curr=0 type=MM_ANONPAGES size=-40960B"


def test_scenario_13_page_alloc_failure(profile_name):
    """Scenario 13: a failed allocation (pfn -1) prints a NULL page and pfn=0x0."""
    text = payload(profile_name, "mm_page_alloc", pfn=M64, order=3, migratetype=1,
                   gfp_flags=0xCC0)
    assert text == "page=0000000000000000 pfn=0x0 order=3 migratetype=1 gfp_flags=GFP_KERNEL"


def test_page_is_hashed_struct_page_address(profile_name):
    text = payload(profile_name, "mm_page_free", pfn=0x1234, order=2)
    assert text == f"page={hashed(VMEMMAP_BASE + 0x1234 * 64)} pfn=0x1234 order=2"


def test_scenario_15_kmalloc_from_cache():
    """Scenario 15 (format side): call_site=<sym>+0x../0x.. ptr=<hash> sizes, gfp."""
    site = kallsyms.call_site("workload_kmalloc")
    ptr = 0xFFFF888100ABC080
    v514 = payload("v5.14", "kmalloc", call_site=site, ptr=ptr, bytes_req=100, bytes_alloc=128,
                   gfp_flags=0xCC0)
    assert re.fullmatch(r"call_site=workload_kmalloc\+0x[0-9a-f]+/0x[0-9a-f]+ "
                        r"ptr=00000000[0-9a-f]{8} bytes_req=100 bytes_alloc=128 "
                        r"gfp_flags=GFP_KERNEL", v514), v514
    assert v514.split()[1] == f"ptr={hashed(ptr)}"
    v618 = payload("v6.18", "kmalloc", call_site=site, ptr=ptr, bytes_req=100, bytes_alloc=128,
                   gfp_flags=0x400CC0, node=-1)
    assert v618.endswith(" gfp_flags=GFP_KERNEL_ACCOUNT node=-1 accounted=true")
    v618 = payload("v6.18", "kmalloc", call_site=site, ptr=ptr, bytes_req=100, bytes_alloc=128,
                   gfp_flags=0xCC0, node=0)
    assert v618.endswith(" gfp_flags=GFP_KERNEL node=0 accounted=false")


def test_kmem_cache_alloc_name_and_accounted():
    text = payload("v6.18", "kmem_cache_alloc", call_site=kallsyms.call_site("anon_vma_prepare"),
                   ptr=0, name="anon_vma", bytes_req=88, bytes_alloc=96, gfp_flags=0xCC0,
                   node=-1, accounted=1)
    assert text == ("call_site=anon_vma_prepare+0x1b/0x40 ptr=0000000000000000 name=anon_vma "
                    "bytes_req=88 bytes_alloc=96 gfp_flags=GFP_KERNEL node=-1 accounted=true")


def test_scenario_16_kfree_null(profile_name):
    """Scenario 16: kfree(NULL) prints ptr=0000000000000000."""
    site = kallsyms.call_site("kfree")
    assert payload(profile_name, "kfree", call_site=site, ptr=0) == \
        f"call_site={kallsyms.resolve(site)} ptr=0000000000000000"


def test_percpu_refill_v514_is_order_zero():
    base = dict(pfn=5, migratetype=1)
    assert payload("v5.14", "mm_page_alloc_zone_locked", order=0, **base).endswith(
        "percpu_refill=1")
    assert payload("v5.14", "mm_page_alloc_zone_locked", order=2, **base).endswith(
        "percpu_refill=0")
    assert payload("v6.18", "mm_page_alloc_zone_locked", order=2, percpu_refill=1,
                   **base).endswith("percpu_refill=1")


def test_extfrag_pageblock_order_min_t():
    text = payload("v6.18", "mm_page_alloc_extfrag", pfn=1, alloc_order=0, fallback_order=-1,
                   alloc_migratetype=0, fallback_migratetype=1, change_ownership=0)
    # (int)-1 < (unsigned int)9 compares as unsigned: fragmenting=0
    assert "pageblock_order=9 " in text and "fragmenting=0 " in text


# -- C expression semantics --------------------------------------------------------------------
@pytest.mark.parametrize("ct,v,expected", [
    (UINT, 0xFFFFFFFF, "-1 4294967295 4294967295 4294967295 ffffffff"),
    (INT, -1, "-1 4294967295 -1 18446744073709551615 ffffffff"),
    (ULONG, M64, "-1 4294967295 -1 18446744073709551615 ffffffff"),
    (LONG, -5, "-5 4294967291 -5 18446744073709551611 fffffffb"),
])
def test_conversion_reinterprets_like_vsnprintf(ct, v, expected):
    f = fmt('"%d %u %ld %lu %x", REC->a, REC->a, REC->a, REC->a, REC->a', a=ct)
    assert f.payload({"a": v}) == expected


def test_literals_and_suffixes():
    f = fmt('"%lu %lx %d %u %ld", -1UL, -1UL, 0x7fffffff + 1, 1U << 31, 1L << 40')
    assert f.payload({}) == "18446744073709551615 ffffffffffffffff -2147483648 2147483648 " \
                            "1099511627776"


@pytest.mark.parametrize("a,b", [(0, 0), (3, 5), (0xFFFF, 1), (7, 0)])
def test_operators(a, b):
    f = fmt('"%d %d %d %d %d %d %d %d %d %lu %d %d", REC->a && REC->b, REC->a || REC->b, !REC->a,'
            ' REC->a == REC->b, REC->a != REC->b, (REC->a << 4 | 3) & ~1, REC->a >> 1,'
            ' REC->a * 3 - REC->b, REC->a ^ REC->b, ~REC->x, REC->a < REC->b ? 10 : 20,'
            ' -REC->a + +REC->b', a=INT, b=INT, x=ULONG)
    exp = [int(bool(a and b)), int(bool(a or b)), int(not a), int(a == b), int(a != b),
           ((a << 4 | 3) & ~1), a >> 1, a * 3 - b, a ^ b, ~a & M64, 10 if a < b else 20, -a + b]
    assert f.payload({"a": a, "b": b, "x": a}) == " ".join(map(str, exp))


def test_pointer_arithmetic_and_null():
    f = fmt('"%px %px %p", (((struct page *)vmemmap_base) + (REC->pfn)), ((void *)0) + 3,'
            ' REC->pfn != -1UL ? (((struct page *)vmemmap_base) + (REC->pfn)) : ((void *)0)',
            pfn=ULONG)
    assert f.payload({"pfn": 0x1000}).split() == [
        "%016x" % (VMEMMAP_BASE + 0x1000 * 64), "0000000000000003",
        hashed(VMEMMAP_BASE + 0x1000 * 64)]
    assert f.payload({"pfn": M64}).split()[2] == "0000000000000000"


def test_error_pointers_print_raw():
    f = fmt('"%p", REC->p', p=PTR)
    assert f.payload({"p": (1 << 64) - 12}) == "fffffffffffffff4"      # ERR_PTR(-ENOMEM)
    assert f.payload({"p": 16}) == hashed(16)                           # ZERO_SIZE_PTR is hashed
    raw = Formatter('"%p", REC->p', {"p": PTR}, ptr_key=KEY, hash_ptr=False)
    assert raw.payload({"p": 0xFFFF888100000000}) == "ffff888100000000"


def test_symbols():
    addr = kallsyms.symbol_addr("dup_mm")
    f = fmt('"%pS|%ps|%pS", (void *)REC->a, (void *)REC->a, (void *)REC->b', a=ULONG, b=ULONG)
    assert f.payload({"a": addr + 0x10, "b": 0x1234}) == "dup_mm+0x10/0x5c0|dup_mm|0x1234"


def test_printf_flags_width_and_strings():
    f = fmt('"[%5d|%-5d|%05d|%#x|%#o|%c|%%|%.3s|%s]" "\\t\\"x\\"", REC->a, REC->a, REC->a,'
            ' REC->a, REC->a, 65, "abcdef", __get_str(name)', a=INT, name=field_ctype(
                "__data_loc char[]", 4, False))
    assert f.payload({"a": 42, "name": "anon_vma"}) == \
        '[   42|42   |00042|0x2a|052|A|%|abc|anon_vma]\t"x"'
    assert fmt('"%#x %#o", 0, 0').payload({}) == "0x0 0"         # kernel number(), not glibc


def test_no_arguments_and_literal_percent():
    assert fmt('"order=0 100%%"').payload({}) == "order=0 100%"


def test_payload_tuple_matches_payload(profile_name):
    d = decl(profile_name, "mm_page_alloc")
    f = compile_decl(d, ptr_key=KEY)
    values = {"pfn": 0x1234, "order": 1, "gfp_flags": 0xDC0, "migratetype": 0}
    t = (0, 0, 0, 0) + tuple(values[x.name] for x in d.fields)
    assert f.payload_tuple(t) == f.payload(values)


@pytest.mark.parametrize("text,match", [
    ('"%d", REC->nope', "not a field"),
    ('"%d", SOME_ENUM', "unknown identifier 'SOME_ENUM'"),
    ('"%d %d", REC->a', "more conversions than arguments"),
    ('"%d", REC->a, REC->a', "left over"),
    ('"%s", __print_hex(REC->a, 4)', "__print_hex"),
    ('"%s", REC->a', "a number"),
    ('"%d" REC->a', "unexpected"),
])
def test_compile_errors_say_where(text, match):
    with pytest.raises(PrintFmtError, match=match) as e:
        Formatter(text, {"a": INT}, name="test:event")
    assert str(e.value).startswith("test:event: ")


def test_symbols_parameter_resolves_unrewritten_enums():
    f = Formatter('"%s", __print_symbolic(REC->a, { MY_ENUM, "mine" })', {"a": INT},
                  symbols={"MY_ENUM": (5, INT)})
    assert f.payload({"a": 5}) == "mine"


C_TOKENS = ['"%d"', '"%s"', '"%p"', '"x\\x41"', ", ", "REC->a", "REC->s", "(", ")", "{", "}",
            " ? ", " : ", "-1UL", "0x10", "(unsigned int)", "(void *)", " + ", " << ", " && ",
            "__print_flags(", "__print_symbolic(", "__get_str(s)", '"|"', "!", "~", "*"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(C_TOKENS), max_size=12))
def test_compiler_fails_only_with_printfmt_error(tokens):
    """Whatever the text, compiling either works or raises PrintFmtError (parser robustness)."""
    text = "".join(tokens)
    try:
        f = Formatter(text, {"a": INT, "s": field_ctype("__data_loc char[]", 4, False)})
    except PrintFmtError:
        return
    f.payload({"a": 3, "s": "x"})


# -- __print_flags / __print_symbolic against a straightforward reference ---------------------
def ref_print_flags(value, delim, table):
    value &= M64
    names = []
    for mask, name in table:
        if not value:
            break
        if value & mask == mask:
            names.append(name)
            value &= ~mask
    if value:
        names.append(hex(value))
    return delim.join(names)


def ref_print_symbolic(value, table):
    value &= M64
    for v, name in table:
        if v == value:
            return name
    return hex(value)


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc", min_size=1, max_size=10)
masks = st.one_of(st.integers(0, 0xFFFF), st.integers(0, M64),
                  st.sampled_from([1, 2, 4, 0x400, 0xCC0, 0x400CC0]))


def table_text(table):
    return ", ".join('{ %#x, "%s" }' % (m, n) for m, n in table)


@settings(max_examples=150, deadline=None)
@given(table=st.lists(st.tuples(masks, names), max_size=8),
       value=st.integers(0, M64), delim=st.sampled_from(["|", ",", " | ", ""]))
def test_print_flags_matches_reference(table, value, delim):
    f = Formatter('"%%s", __print_flags(REC->v, "%s", %s)' % (delim, table_text(table))
                  if table else '"%%s", __print_flags(REC->v, "%s")' % delim, {"v": ULONG})
    assert f.payload({"v": value}) == ref_print_flags(value, delim, table)


@settings(max_examples=150, deadline=None)
@given(table=st.lists(st.tuples(st.integers(-2**31, 2**31 - 1), names), max_size=8),
       value=st.integers(-2**31, 2**31 - 1))
def test_print_symbolic_matches_reference(table, value):
    entries = "".join(", " + table_text([(m & M64, n)]) for m, n in table)
    f = Formatter('"%%s", __print_symbolic(REC->v%s)' % entries, {"v": INT})
    assert f.payload({"v": value}) == ref_print_symbolic(value, [(m & M64, n) for m, n in table])


@settings(max_examples=100, deadline=None)
@given(table=st.lists(st.tuples(masks, names), min_size=1, max_size=6),
       value=st.integers(0, M64), stop=st.integers(0, 6))
def test_print_flags_null_entry_ends_table(table, value, stop):
    stop = min(stop, len(table))
    entries = table_text(table[:stop]) + (", " if stop else "") + "{ 0, ((void *)0) }"
    if stop < len(table):
        entries += ", " + table_text(table[stop:])
    f = Formatter('"%%s", __print_flags(REC->v, "|", %s )' % entries, {"v": ULONG})
    assert f.payload({"v": value}) == ref_print_flags(value, "|", table[:stop])


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-2**63, 2**63 - 1),
       ctype=st.sampled_from([INT, UINT, LONG, ULONG, CType("int", 16, True),
                              CType("int", 8, False)]))
def test_integer_conversions_match_c(value, ctype):
    bits = ctype.bits
    v = value & ((1 << bits) - 1)
    if ctype.signed and v >> (bits - 1):
        v -= 1 << bits
    f = Formatter('"%d %u %ld %lu %lx %hd", REC->a, REC->a, REC->a, REC->a, REC->a, REC->a',
                  {"a": ctype})

    def s(x, b):
        x &= (1 << b) - 1
        return x - (1 << b) if x >> (b - 1) else x
    exp = [s(v, 32), v & 0xFFFFFFFF, s(v, 64), v & M64, "%x" % (v & M64), s(v, 16)]
    assert f.payload({"a": v}) == " ".join(map(str, exp))
