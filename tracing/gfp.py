"""``show_gfp_flags``: the gfp flag name tables of v5.14 and v6.18, as numbers and as the C text
the kernel exports in print fmts.

The exported print fmt of an event that prints gfp flags is the preprocessor's stringification of
``show_gfp_flags(__entry->gfp_flags)`` (include/trace/events/mmflags.h) with every GFP macro fully
expanded.  Instead of pasting that 4-kB string per event, this module rebuilds it from the macro
definitions: each builder below mirrors one ``#define`` with the spacing of its source text
(stringification keeps one space where the source had whitespace and none elsewhere; an
expansion inherits the whitespace before the macro's name; ``__force`` expands to nothing but
leaves the space before ``gfp_t``, hence ``(( gfp_t)``).

v6.18 is checked byte for byte against the captured format files (tests/tracing).  v5.14 is a
RECONSTRUCTION from the 5.14 headers: ``___GFP_*`` are plain hex constants (``0x400u``) in
include/linux/gfp.h, the mmflags.h table lists ``{(unsigned long)GFP_..., "GFP_..."}`` without
``__force`` (so no space after the parenthesis), its last entry is written
``{(unsigned long)__GFP_SKIP_KASAN_POISON,"__GFP_SKIP_KASAN_POISON"}`` (no space after the comma)
and there is no ``{ 0, NULL }`` terminator.  The table order and the two KASAN names follow
tracepoints.md 4.1; note that upstream added the ``__GFP_ZEROTAGS``/``__GFP_SKIP_KASAN_POISON``
names in a patch posted 2021-08-16 ("mmflags.h: add missing __GFP_ZEROTAGS and
__GFP_SKIP_KASAN_POISON names"), which may only have reached v5.15; without them 0x800000 and
0x1000000 would print as leftover hex.  No captured 5.14 format file was available to compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, List, Tuple

from memsim.profiles import ProfileTable
from memsim.tracing.printfmt import M64, print_flags


# ---------------------------------------------------------------------------------------------
# v6.18: include/linux/gfp_types.h (enum ___GFP_*_BIT rewritten to numbers by
# TRACE_DEFINE_ENUM, BIT() from vdso/bits.h + vdso/const.h + uapi/linux/const.h)
# ---------------------------------------------------------------------------------------------
def _v618_entries() -> List[Tuple[str, str]]:
    def BIT(n: int) -> str:                  # (UL(1) << (nr)), UL(x) = (((x##UL)))
        return f"((((1UL))) << ({n}))"

    def G(n: int) -> str:                    # __GFP_X = ((__force gfp_t)___GFP_X)
        return f"(( gfp_t){BIT(n)})"

    RECLAIM = f"(( gfp_t)({BIT(10)}|{BIT(11)}))"
    HIGH, IO, FS, DIRECT, KSWAPD, NOWARN = G(5), G(6), G(7), G(10), G(11), G(13)
    COMP, NOMEMALLOC, HARDWALL, ACCOUNT = G(18), G(19), G(20), G(22)
    HIGHMEM, MOVABLE = G(1), G(3)
    SKIP_KASAN = "(( gfp_t)0)"               # __GFP_SKIP_KASAN without KASAN_HW_TAGS

    KERNEL = f"({RECLAIM} | {IO} | {FS})"
    USER = f"({RECLAIM} | {IO} | {FS} | {HARDWALL})"
    HIGHUSER = f"({USER} | {HIGHMEM})"
    HIGHUSER_MOVABLE = f"({HIGHUSER} | {MOVABLE} | {SKIP_KASAN})"
    TRANSHUGE_LIGHT = f"(({HIGHUSER_MOVABLE} | {COMP} | {NOMEMALLOC} | {NOWARN}) & ~{RECLAIM})"
    TRANSHUGE = f"({TRANSHUGE_LIGHT} | {DIRECT})"
    entries = [
        ("GFP_TRANSHUGE", TRANSHUGE),
        ("GFP_TRANSHUGE_LIGHT", TRANSHUGE_LIGHT),
        ("GFP_HIGHUSER_MOVABLE", HIGHUSER_MOVABLE),
        ("GFP_HIGHUSER", HIGHUSER),
        ("GFP_USER", USER),
        ("GFP_KERNEL_ACCOUNT", f"({KERNEL} | {ACCOUNT})"),
        ("GFP_KERNEL", KERNEL),
        ("GFP_NOFS", f"({RECLAIM} | {IO})"),
        ("GFP_ATOMIC", f"({HIGH}|{KSWAPD})"),
        ("GFP_NOIO", f"({RECLAIM})"),
        ("GFP_NOWAIT", f"({KSWAPD} | {NOWARN})"),
        ("GFP_DMA", G(0)),
        ("GFP_DMA32", G(2)),
        ("__GFP_RECLAIM", RECLAIM),
    ]
    # TRACE_GFP_FLAGS: one entry per bit, in bit order
    bits = ["__GFP_DMA", "__GFP_HIGHMEM", "__GFP_DMA32", "__GFP_MOVABLE", "__GFP_RECLAIMABLE",
            "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_ZERO", None, "__GFP_DIRECT_RECLAIM",
            "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL",
            "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP", "__GFP_NOMEMALLOC",
            "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT", "__GFP_ZEROTAGS",
            "__GFP_NO_OBJ_EXT"]
    entries += [(name, G(bit)) for bit, name in enumerate(bits) if name is not None]
    return entries


def _v618_show_gfp_flags(arg: str) -> str:
    table = ", ".join(f'{{( unsigned long){expr}, "{name}"}}' for name, expr in _v618_entries())
    return (f'({arg}) ? __print_flags({arg}, "|", {table}, {{ 0, ((void *)0) }} ) '
            f': "none"')


# ---------------------------------------------------------------------------------------------
# v5.14: include/linux/gfp.h (___GFP_* are hex literals) and include/trace/events/mmflags.h
# ---------------------------------------------------------------------------------------------
_V514_BITS = {
    "DMA": "0x01u", "HIGHMEM": "0x02u", "DMA32": "0x04u", "MOVABLE": "0x08u",
    "RECLAIMABLE": "0x10u", "HIGH": "0x20u", "IO": "0x40u", "FS": "0x80u", "ZERO": "0x100u",
    "ATOMIC": "0x200u", "DIRECT_RECLAIM": "0x400u", "KSWAPD_RECLAIM": "0x800u",
    "WRITE": "0x1000u", "NOWARN": "0x2000u", "RETRY_MAYFAIL": "0x4000u", "NOFAIL": "0x8000u",
    "NORETRY": "0x10000u", "MEMALLOC": "0x20000u", "COMP": "0x40000u", "NOMEMALLOC": "0x80000u",
    "HARDWALL": "0x100000u", "THISNODE": "0x200000u", "ACCOUNT": "0x400000u",
    "ZEROTAGS": "0x800000u", "SKIP_KASAN_POISON": "0x1000000u",
}


def _v514_entries() -> List[Tuple[str, str]]:
    g = {k: f"(( gfp_t){v})" for k, v in _V514_BITS.items()}        # ((__force gfp_t)___GFP_X)
    RECLAIM = "(( gfp_t)(0x400u|0x800u))"
    KERNEL = f"({RECLAIM} | {g['IO']} | {g['FS']})"
    USER = f"({RECLAIM} | {g['IO']} | {g['FS']} | {g['HARDWALL']})"
    HIGHUSER = f"({USER} | {g['HIGHMEM']})"
    HIGHUSER_MOVABLE = f"({HIGHUSER} | {g['MOVABLE']} | {g['SKIP_KASAN_POISON']})"
    TRANSHUGE_LIGHT = (f"(({HIGHUSER_MOVABLE} | {g['COMP']} | {g['NOMEMALLOC']} | "
                       f"{g['NOWARN']}) & ~{RECLAIM})")
    TRANSHUGE = f"({TRANSHUGE_LIGHT} | {g['DIRECT_RECLAIM']})"
    return [
        ("GFP_TRANSHUGE", TRANSHUGE),
        ("GFP_TRANSHUGE_LIGHT", TRANSHUGE_LIGHT),
        ("GFP_HIGHUSER_MOVABLE", HIGHUSER_MOVABLE),
        ("GFP_HIGHUSER", HIGHUSER),
        ("GFP_USER", USER),
        ("GFP_KERNEL_ACCOUNT", f"({KERNEL} | {g['ACCOUNT']})"),
        ("GFP_KERNEL", KERNEL),
        ("GFP_NOFS", f"({RECLAIM} | {g['IO']})"),
        ("GFP_ATOMIC", f"({g['HIGH']}|{g['ATOMIC']}|{g['KSWAPD_RECLAIM']})"),
        ("GFP_NOIO", f"({RECLAIM})"),
        ("GFP_NOWAIT", f"({g['KSWAPD_RECLAIM']})"),
        ("GFP_DMA", g["DMA"]),
        ("__GFP_HIGHMEM", g["HIGHMEM"]),
        ("GFP_DMA32", g["DMA32"]),
        ("__GFP_HIGH", g["HIGH"]),
        ("__GFP_ATOMIC", g["ATOMIC"]),
        ("__GFP_IO", g["IO"]),
        ("__GFP_FS", g["FS"]),
        ("__GFP_NOWARN", g["NOWARN"]),
        ("__GFP_RETRY_MAYFAIL", g["RETRY_MAYFAIL"]),
        ("__GFP_NOFAIL", g["NOFAIL"]),
        ("__GFP_NORETRY", g["NORETRY"]),
        ("__GFP_COMP", g["COMP"]),
        ("__GFP_ZERO", g["ZERO"]),
        ("__GFP_NOMEMALLOC", g["NOMEMALLOC"]),
        ("__GFP_MEMALLOC", g["MEMALLOC"]),
        ("__GFP_HARDWALL", g["HARDWALL"]),
        ("__GFP_THISNODE", g["THISNODE"]),
        ("__GFP_RECLAIMABLE", g["RECLAIMABLE"]),
        ("__GFP_MOVABLE", g["MOVABLE"]),
        ("__GFP_ACCOUNT", g["ACCOUNT"]),
        ("__GFP_WRITE", g["WRITE"]),
        ("__GFP_RECLAIM", RECLAIM),
        ("__GFP_DIRECT_RECLAIM", g["DIRECT_RECLAIM"]),
        ("__GFP_KSWAPD_RECLAIM", g["KSWAPD_RECLAIM"]),
        ("__GFP_ZEROTAGS", g["ZEROTAGS"]),
        ("__GFP_SKIP_KASAN_POISON", g["SKIP_KASAN_POISON"]),
    ]


def _v514_show_gfp_flags(arg: str) -> str:
    entries = _v514_entries()
    parts = [f'{{(unsigned long){expr}, "{name}"}}' for name, expr in entries[:-1]]
    name, expr = entries[-1]
    parts.append(f'{{(unsigned long){expr},"{name}"}}')      # mmflags.h: no blank after ","
    return f'({arg}) ? __print_flags({arg}, "|", {", ".join(parts)} ) : "none"'


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _GfpDialect:
    """How one kernel spells its gfp flags in print fmts."""

    entries: Callable[[], List[Tuple[str, str]]]      # (name, C text of the mask), table order
    show_expr: Callable[[str], str]                   # show_gfp_flags(arg) expanded
    account_expr: str                                 # (__force unsigned long)__GFP_ACCOUNT


_DIALECTS: ProfileTable[_GfpDialect] = ProfileTable("tracing.gfp show_gfp_flags", {
    "v5.14": _GfpDialect(_v514_entries, _v514_show_gfp_flags, "( unsigned long)(( gfp_t)0x400000u)"),
    "v6.18": _GfpDialect(_v618_entries, _v618_show_gfp_flags,
                         "( unsigned long)(( gfp_t)((((1UL))) << (22)))"),
})


def _dialect(profile_name: str) -> _GfpDialect:
    try:
        return _DIALECTS[profile_name]
    except KeyError as exc:
        raise ValueError(f"gfp: {exc.args[0]}") from None


def show_gfp_flags_expr(profile_name: str, arg: str = "REC->gfp_flags") -> str:
    """The print-fmt text ``show_gfp_flags(arg)`` expands to on ``profile_name``."""
    return _dialect(profile_name).show_expr(arg)


def gfp_account_expr(profile_name: str) -> str:
    """``(__force unsigned long)__GFP_ACCOUNT`` as exported (v6.18 kmalloc ``accounted=``)."""
    return _dialect(profile_name).account_expr


@lru_cache(maxsize=None)
def gfp_table(profile_name: str) -> Tuple[Tuple[int, str], ...]:
    """(mask, name) pairs in table order, the masks evaluated from the exported C text."""
    from memsim.tracing.printfmt import Formatter
    out = []
    for name, expr in _dialect(profile_name).entries():
        f = Formatter(f'"%lx", {expr}', {}, name=f"gfp {name}")
        out.append((int(f.payload({}), 16), name))
    return tuple(out)


def show_gfp_flags(value: int, profile_name: str = "v5.14") -> str:
    """``show_gfp_flags``: the names of ``value`` ("none" for 0), e.g. GFP_KERNEL|__GFP_ZERO."""
    value &= M64
    if not value:
        return "none"
    return print_flags(value, "|", gfp_table(profile_name))


# Named values (v5.14 bits, tracepoints.md 4.1) for code and tests that build gfp masks.
GFP_BITS_V514: Dict[str, int] = {"__GFP_" + k: int(v.rstrip("u"), 16)
                                 for k, v in _V514_BITS.items()}
