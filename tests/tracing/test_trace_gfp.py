"""memsim.tracing.gfp: show_gfp_flags tables and rendering (tracepoints.md 4.1, scenario 18)."""
import pytest

from memsim.hashptr import key_from_seed
from memsim.tracing.gfp import gfp_table, show_gfp_flags, show_gfp_flags_expr
from memsim.tracing.kmem import kmem_events
from memsim.tracing.printfmt import compile_decl

# tracepoints.md 4.1, in table order
SPEC_V514 = [
    ("GFP_TRANSHUGE", 0x11C24CA), ("GFP_TRANSHUGE_LIGHT", 0x11C20CA),
    ("GFP_HIGHUSER_MOVABLE", 0x1100CCA), ("GFP_HIGHUSER", 0x100CC2), ("GFP_USER", 0x100CC0),
    ("GFP_KERNEL_ACCOUNT", 0x400CC0), ("GFP_KERNEL", 0xCC0), ("GFP_NOFS", 0xC40),
    ("GFP_ATOMIC", 0xA20), ("GFP_NOIO", 0xC00), ("GFP_NOWAIT", 0x800), ("GFP_DMA", 0x1),
    ("__GFP_HIGHMEM", 0x2), ("GFP_DMA32", 0x4), ("__GFP_HIGH", 0x20), ("__GFP_ATOMIC", 0x200),
    ("__GFP_IO", 0x40), ("__GFP_FS", 0x80), ("__GFP_NOWARN", 0x2000),
    ("__GFP_RETRY_MAYFAIL", 0x4000), ("__GFP_NOFAIL", 0x8000), ("__GFP_NORETRY", 0x10000),
    ("__GFP_COMP", 0x40000), ("__GFP_ZERO", 0x100), ("__GFP_NOMEMALLOC", 0x80000),
    ("__GFP_MEMALLOC", 0x20000), ("__GFP_HARDWALL", 0x100000), ("__GFP_THISNODE", 0x200000),
    ("__GFP_RECLAIMABLE", 0x10), ("__GFP_MOVABLE", 0x8), ("__GFP_ACCOUNT", 0x400000),
    ("__GFP_WRITE", 0x1000), ("__GFP_RECLAIM", 0xC00), ("__GFP_DIRECT_RECLAIM", 0x400),
    ("__GFP_KSWAPD_RECLAIM", 0x800), ("__GFP_ZEROTAGS", 0x800000),
    ("__GFP_SKIP_KASAN_POISON", 0x1000000),
]

SCENARIO_18 = {
    "v5.14": [
        (0xCC0, "GFP_KERNEL"), (0xDC0, "GFP_KERNEL|__GFP_ZERO"),
        (0x440CC0, "GFP_KERNEL_ACCOUNT|__GFP_COMP"), (0x1100CCA, "GFP_HIGHUSER_MOVABLE"),
        (0x1100DCA, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
        (0x1346CCA, "GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|"
                    "__GFP_THISNODE"),
        (0x2A20, "GFP_ATOMIC|__GFP_NOWARN"), (0, "none"), (0x8000CC0, "GFP_KERNEL|0x8000000"),
    ],
    "v6.18": [   # 6.18 bit values (no __GFP_ATOMIC, 0x1000000 is __GFP_NO_OBJ_EXT)
        (0xCC0, "GFP_KERNEL"), (0x440DC0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP"),
        (0x140DCA, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP"), (0x2800, "GFP_NOWAIT"),
        (0x1346CCA, "GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|"
                    "__GFP_THISNODE|__GFP_NO_OBJ_EXT"),
        (0, "none"), (0x8000CC0, "GFP_KERNEL|0x8000000"),
    ],
}


def test_v514_table_equals_spec():
    """The masks evaluated from the reconstructed 5.14 C text equal tracepoints.md 4.1."""
    assert [(n, m) for m, n in gfp_table("v5.14")] == SPEC_V514


def test_v618_expression_equals_capture(traces_dir):
    text = (traces_dir / "formats" / "kmem" / "mm_page_alloc" / "format").read_text()
    assert show_gfp_flags_expr("v6.18") in text


@pytest.mark.parametrize("profile", ["v5.14", "v6.18"])
def test_scenario_18_gfp_rendering(profile):
    """Scenario 18: show_gfp_flags examples, through the compiled mm_page_alloc print fmt."""
    d = next(x for x in kmem_events(profile) if x.name == "mm_page_alloc")
    f = compile_decl(d, ptr_key=key_from_seed(1))
    for value, text in SCENARIO_18[profile]:
        assert show_gfp_flags(value, profile) == text
        out = f.payload({"pfn": 1, "order": 0, "migratetype": 0, "gfp_flags": value})
        assert out.endswith(f" gfp_flags={text}"), (hex(value), out)


def test_unknown_profile():
    with pytest.raises(ValueError, match="known: v5.14, v6.18"):
        show_gfp_flags_expr("v3.10")
