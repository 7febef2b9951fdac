"""Kernel profiles: the named kernel behaviours memsim can emulate.

``v5.14`` is the kernel that carries every seed change (../shared/seeds); ``v6.18`` follows what
the live 6.18 kernel did (../shared/spec/kernel-6.18-observed.md, ../shared/traces).  Subsystem
plugins read the profile to choose between the two behaviours; every seed change can also be
switched off on its own in the plugin's configuration section.

What differs between the kernels is data, never a test of a profile's name: the core reads the
attributes of :class:`KernelProfile`, and a plugin keeps the values it alone needs in a
:class:`ProfileTable` in its own package (one value per profile, checked to cover them all), so
adding a profile here makes every table that lacks a value for it fail loudly.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Mapping, TypeVar, Union

GFP_KERNEL = 0xCC0
GFP_KERNEL_ACCOUNT = 0x400CC0
__GFP_ZERO = 0x100
__GFP_COMP = 0x40000
__GFP_SKIP_KASAN_POISON = 0x1000000
GFP_HIGHUSER = 0x100CC2
__GFP_MOVABLE = 0x8
__GFP_FS = 0x80
__GFP_NOWARN = 0x2000
__GFP_NORETRY = 0x10000
__GFP_KSWAPD_RECLAIM = 0x800


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
    gfp_readahead: int = 0          # a regular file's page read in by a fault (0: gfp_user)
    gfp_anon_vma_clone: int = GFP_KERNEL    # anon_vma_clone()'s anon_vma_chain objects
    thp_get_unmapped_area: bool = False     # anonymous mmaps of PMD-multiple lengths are 2 MiB aligned
    pte_markers: bool = False       # PTE markers (v5.19+): uffd-wp on none PTEs, UFFDIO_POISON
    swp_pte_marker: int = 0         # the swap type of PTE markers (SWP_PTE_MARKER)
    gigantic_folio_free: bool = False   # v6.11+: a gigantic folio is freed as one block
    char_signed: bool = True        # x86 ``char`` is signed (the kernel builds with -funsigned-char since 6.2)
    mpol_max: int = 5               # MPOL_MAX: MPOL_PREFERRED_MANY (5) is v5.15+, WEIGHTED_INTERLEAVE v6.9+
    mpol_numa_balancing_modes: tuple = (2,)     # modes MPOL_F_NUMA_BALANCING goes with (BIND; v6.7+ PREFERRED_MANY)
    lru_batch_size: int = 15        # PAGEVEC_SIZE of the per-CPU lru_add batch (pagevec 15; folio_batch 31)
    munmap_lru_drain: bool = True   # unmap_region/exit_mmap/zap_page_range call lru_add_drain() before
                                    # tlb_gather_mmu (removed in v6.14: "mm: remove unnecessary calls to lru_add_drain";
                                    # munmap and exit both seen not draining on 6.18: tests/core/probes/lru_drain.c)
    wp_reuse_drains_lru: bool = False   # do_wp_page drains the lru caches before the refcount check (v5.18+)
    lru_cost_rotations: bool = False    # lru_note_cost(nr_io * SWAP_CLUSTER_MAX + nr_rotated), and
                                        # shrink_active_list notes its rotations (v6.3+: "make rotations
                                        # a secondary factor in balancing anon vs file"); before: nr_pageout
    # mm/workingset.c's shadow entries: NODES_SHIFT (CONFIG_NODES_SHIFT 10 on x86-64 distribution
    # kernels, MAX_NUMNODES 1024 as memsim emulates; the live 6.18 kernel's config says 10) and
    # MEM_CGROUP_ID_SHIFT (16 in both) size the fields a shadow packs; CONFIG_LRU_GEN is off
    # (the live 6.18 kernel has it unset), so both profiles use the double-CLOCK shadows.
    nodes_shift: int = 10
    mem_cgroup_id_shift: int = 16
    # v6.5+ split workingset_test_recent() out of workingset_refault(): the refault is counted
    # before the evicting memcg is looked up (so also when it is gone) and swap is checked on the
    # evicting memcg; v5.14 gives up before counting and checks the faulting page's memcg.
    workingset_test_recent: bool = False
    mlock_fbatch: bool = False      # v6.1+ mm/mlock.c (Hugh Dickins' rework): mlock_fbatch, mlock_count,
                                    # munlock at rmap removal; before: __munlock_pagevec, clear_page_mlock
    reclaim_writes_file: bool = True    # kswapd's pageout() writes dirty file pages (gone by v6.18:
                                        # "We no longer attempt to writeback filesystem folios here")
    # The free path at munmap and exit (mm/mmu_gather.c, mm/swap.c; probe:
    # tests/core/probes/munmap_free_path.c, recorded in tests/core/data/munmap_free_path.txt):
    mmu_gather_nr_pages_slot: bool = False  # v6.8+ __tlb_remove_folio_pages_size(): a batch counts as
                                            # full at max - 1 (a slot stays free for an encoded nr_pages),
                                            # so batches hold 7 and 509 pages instead of 8 and 510
    folios_put_refs: bool = False   # v6.9+: free_pages_and_swap_cache() -> folios_put_refs() in folio
                                    # batches of 31, freed in order (free_unref_folios); before:
                                    # release_pages() of the whole batch, freed in reverse order
    rcu_table_free: bool = False    # x86 v6.14+ (MMU_GATHER_RCU_TABLE_FREE always): page tables go to
                                    # tlb_remove_table()'s batch page and are freed after an RCU grace
                                    # period, in softirq; before (no paravirt): tlb_remove_page()
    trace_context: bool = False     # records carry the context they are written in (under the PTE
                                    # lock: preempt depth + 1; RCU callbacks: softirq, idle's depth 1)
    # Page migration (mm/migrate.c, mm/page_alloc.c; issue 13):
    contig_skip_hugetlb: bool = False   # v6.4+ pfn_range_valid_contig() refuses ranges holding PageHuge
                                        # pages ("mm: page_alloc: skip regions with hugetlbfs pages when
                                        # allocating 1G pages"); v5.14: only PageReserved (eb14d4eefdc4)
    contig_replace_free_hugetlb: bool = False   # v6.14+ alloc_contig_range() replaces the free huge pages
                                        # left in the range after migration (replace_free_hugepage_folios,
                                        # "mm: replace free hugepage folios after migration")
    migrate_stats_in_pages: bool = False    # migrate_pages() counts a hugetlb page as its number of pages
                                            # in nr_succeeded / nr_failed_pages (and pgmigrate_*); 5.14: as 1
    migration_entry_ad: bool = False    # v6.1+ migration entries keep the young and dirty bits ("mm:
                                        # remember young/dirty bit for page migrations"); before, a
                                        # migrated page's new leaves are old and clean
    pgfault_at_end: bool = False    # handle_mm_fault() counts PGFAULT (vmstat and memcg) after the
                                    # fault, in mm_account_fault(), and not for a VM_FAULT_RETRY;
                                    # v5.14 counts it first, for every try (6.18:
                                    # tests/memcg/probes/memcg_trace.txt, PGFAULT after the charge)

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
        char_signed=True,
        # 5.14 too reads file pages with readahead_gfp_mask() under memalloc_nofs_save() and
        # clones anon_vma chains with GFP_NOWAIT | __GFP_NOWARN; the profile keeps the values its
        # traces have always had (gfp_user, GFP_KERNEL) so that they do not change.

    ),
    "v6.18": KernelProfile(
        name="v6.18",
        doc="Linux 6.18 as observed live: per-CPU rss counters, folio allocations with __GFP_COMP.",
        trace_flags_width=5,
        split_rss_counting=False,
        gfp_user_anon=GFP_HIGHUSER | __GFP_MOVABLE | __GFP_ZERO | __GFP_COMP,
        gfp_pgtable=GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_COMP,
        rss_stat_preempt=1,
        # every user folio goes through folio_alloc / vma_alloc_folio, which add __GFP_COMP: COW
        # copies (wp_page_copy, do_cow_fault), shmem and page-cache pages
        # (tests/core/probes/user_page_gfp.c on the live 6.18 kernel)
        gfp_user=GFP_HIGHUSER | __GFP_MOVABLE | __GFP_COMP,
        # page_cache_ra_unbounded(): readahead_gfp_mask() = mapping gfp | __GFP_NORETRY |
        # __GFP_NOWARN, under memalloc_nofs_save() (no __GFP_FS), through filemap_alloc_folio
        gfp_readahead=(GFP_HIGHUSER | __GFP_MOVABLE | __GFP_NOWARN | __GFP_NORETRY | __GFP_COMP) & ~__GFP_FS,
        # anon_vma_chain_alloc(GFP_NOWAIT | __GFP_NOWARN); 6.18's GFP_NOWAIT holds __GFP_NOWARN
        gfp_anon_vma_clone=__GFP_KSWAPD_RECLAIM | __GFP_NOWARN,
        # __get_unmapped_area() -> thp_get_unmapped_area_vmflags() (v6.7+, "mm: align larger
        # anonymous mappings on THP boundaries", since limited to PMD-multiple lengths and no hint):
        # tests/core/probes/thp_aligned_mmap.c
        thp_get_unmapped_area=True,
        pte_markers=True,
        # the last of the 32 swap types: MAX_SWAPFILES + HWPOISON + MIGRATION + DEVICE
        swp_pte_marker=31,
        gigantic_folio_free=True,
        char_signed=False,
        mpol_max=7,
        mpol_numa_balancing_modes=(2, 5),
        pgfault_at_end=True,
        lru_batch_size=31,
        munmap_lru_drain=False,
        workingset_test_recent=True,
        wp_reuse_drains_lru=True,
        lru_cost_rotations=True,
        reclaim_writes_file=False,
        mlock_fbatch=True,
        mmu_gather_nr_pages_slot=True,
        folios_put_refs=True,
        rcu_table_free=True,
        trace_context=True,
        contig_skip_hugetlb=True,
        contig_replace_free_hugetlb=True,
        migrate_stats_in_pages=True,
        migration_entry_ad=True,
    ),
}

DEFAULT_PROFILE = "v5.14"


def get_profile(name: str) -> KernelProfile:
    """The profile called ``name``; raises KeyError with the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown kernel profile {name!r}; known: {', '.join(PROFILES)}") from None


T = TypeVar("T")


class ProfileTable(Generic[T]):
    """Values that differ between the emulated kernels: one per profile, every profile covered.

    A plugin keeps such tables in its own package instead of editing this module, and reads the
    value for the machine's profile::

        from memsim.profiles import ProfileTable

        #: struct hstate's sysfs name of the default huge page size
        DEFAULT_HSTATE = ProfileTable("hugetlb.default_hstate", {
            "v5.14": "hugepages-2048kB",
            "v6.18": "hugepages-2048kB",
        })

        name = DEFAULT_HSTATE[machine.profile]          # or DEFAULT_HSTATE["v6.18"]

    The table is checked when it is built (at the import of the plugin module, or in the hook
    that builds it): a profile without a value, or a key that names no profile, is a
    :class:`memsim.errors.PluginError` naming the table and the profile.  Values are not copied;
    make them immutable (numbers, strings, tuples, frozen dataclasses).
    """

    __slots__ = ("what", "_values")

    def __init__(self, what: str, values: Mapping[str, T]):
        from memsim.errors import PluginError
        where = f"profile table {what!r}"
        unknown = [name for name in values if name not in PROFILES]
        if unknown:
            raise PluginError(where, f"{unknown[0]!r} is not a kernel profile",
                              f"key the table by the profiles of memsim.profiles: {', '.join(PROFILES)}")
        missing = [name for name in PROFILES if name not in values]
        if missing:
            raise PluginError(where, f"it has no value for kernel profile {missing[0]!r}"
                              + (f" (nor for {', '.join(map(repr, missing[1:]))})" if missing[1:] else ""),
                              f"give a value for every profile: {', '.join(PROFILES)}")
        self.what = what
        self._values: Mapping[str, T] = MappingProxyType({name: values[name] for name in PROFILES})

    def __getitem__(self, profile: Union[KernelProfile, str]) -> T:
        """The value for ``profile`` (a :class:`KernelProfile` or its name)."""
        name = profile.name if isinstance(profile, KernelProfile) else get_profile(profile).name
        return self._values[name]

    def items(self):
        """(profile name, value) pairs, in the order of :data:`PROFILES`."""
        return self._values.items()

    def __repr__(self) -> str:
        return f"ProfileTable({self.what!r}, {dict(self._values)!r})"
