"""Kernel profiles: the named kernel behaviours memsim can emulate.

``v5.14`` is the kernel that carries every seed change (../shared/seeds); ``v6.18`` follows what
the live 6.18 kernel did (../shared/spec/kernel-6.18-observed.md, ../shared/traces).  Subsystem
plugins read the profile to choose between the two behaviours; every seed change can also be
switched off on its own in the plugin's configuration section.
"""
from __future__ import annotations

from dataclasses import dataclass

GFP_KERNEL = 0xCC0
GFP_KERNEL_ACCOUNT = 0x400CC0
__GFP_ZERO = 0x100
__GFP_COMP = 0x40000
__GFP_SKIP_KASAN_POISON = 0x1000000
GFP_HIGHUSER = 0x100CC2
__GFP_MOVABLE = 0x8


@dataclass(frozen=True)
class KernelProfile:
    """What differs between the emulated kernels."""

    name: str
    doc: str
    trace_flags_width: int          # irq-info characters: 4 (v5.14) or 5 (v5.15+, migrate-disable)
    split_rss_counting: bool        # per-task cached rss deltas synced every 64 events (before v6.2)
    gfp_user_anon: int              # gfp of an anonymous fault's page (alloc_zeroed_user_highpage_movable)
    gfp_pgtable: int                # gfp of a page-table page (GFP_PGTABLE_USER)
    rss_stat_preempt: int           # preempt count seen by kmem:rss_stat records
    gfp_user: int = 0x1100CCA       # GFP_HIGHUSER_MOVABLE of COW copies and page-cache pages
    pte_markers: bool = False       # PTE markers (v5.19+): uffd-wp on none PTEs, UFFDIO_POISON
    swp_pte_marker: int = 0         # the swap type of PTE markers (SWP_PTE_MARKER)
    gigantic_folio_free: bool = False   # v6.11+: a gigantic folio is freed as one block

    @property
    def version(self) -> tuple:
        return tuple(int(x) for x in self.name.lstrip("v").split("."))


PROFILES = {
    "v5.14": KernelProfile(
        name="v5.14",
        doc="Linux 5.14: the kernel of the seed changes (SPLIT_RSS_COUNTING, 4-character irq-info).",
        trace_flags_width=4,
        split_rss_counting=True,
        # GFP_HIGHUSER_MOVABLE (with __GFP_SKIP_KASAN_POISON in 5.14) | __GFP_ZERO
        gfp_user_anon=GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN_POISON | __GFP_ZERO,
        gfp_pgtable=GFP_KERNEL_ACCOUNT | __GFP_ZERO,
        rss_stat_preempt=0,
        # GFP_HIGHUSER_MOVABLE | __GFP_SKIP_KASAN_POISON (5.14 added it to user pages)
        gfp_user=GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN_POISON,
    ),
    "v6.18": KernelProfile(
        name="v6.18",
        doc="Linux 6.18 as observed live: per-CPU rss counters, folio allocations with __GFP_COMP.",
        trace_flags_width=5,
        split_rss_counting=False,
        gfp_user_anon=GFP_HIGHUSER | __GFP_MOVABLE | __GFP_ZERO | __GFP_COMP,
        gfp_pgtable=GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_COMP,
        rss_stat_preempt=1,
        gfp_user=GFP_HIGHUSER | __GFP_MOVABLE,
        pte_markers=True,
        # the last of the 32 swap types: MAX_SWAPFILES + HWPOISON + MIGRATION + DEVICE
        swp_pte_marker=31,
        gigantic_folio_free=True,
    ),
}

DEFAULT_PROFILE = "v5.14"


def get_profile(name: str) -> KernelProfile:
    """The profile called ``name``; raises KeyError with the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown kernel profile {name!r}; known: {', '.join(PROFILES)}") from None
