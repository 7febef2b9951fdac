"""Emulated kernel text symbols: what ``%pS`` resolves a ``call_site`` to, and /proc/kallsyms.

memsim has no kernel image, so the call sites its core reports (``kmalloc`` from
``anon_vma_prepare``, a page-table page from ``__pte_alloc``, ...) need addresses that resolve back
to names the way ``sprint_symbol`` does: ``name+0xOFF/0xSIZE`` (lib/vsprintf.c ``symbol_string``,
kernel/kallsyms.c ``__sprint_symbol``).  The table below is fixed, so addresses are the same in
every run; text starts at ``0xffffffff81000000`` (x86-64 ``_text`` without KASLR).

A call site is a return address inside the calling function, so :func:`call_site` returns
``symbol_addr(name)`` plus a small per-symbol offset, and ``%pS`` of it prints
``name+0x<off>/0x<size>`` like a real trace.  tracepoints.md 2.3: tests compare only the name.
"""
from __future__ import annotations

import bisect
from typing import Dict, Iterable, List, Optional, Tuple

TEXT_BASE = 0xFFFFFFFF81000000
SYMBOL_ALIGN = 16

# (name, size, call-site offset).  Order = address order.  Sizes are plausible x86-64 sizes;
# "kmalloc_order_trace+0x1e/0x80" is the example of tracepoints.md 2.3.
_DEFAULT_SYMBOLS: Tuple[Tuple[str, int, int], ...] = (
    ("startup_64", 0x40, 0x0),
    # kernel/fork.c, kernel/exit.c
    ("vm_area_alloc", 0x60, 0x1c),
    ("vm_area_dup", 0xb0, 0x23),
    ("mm_alloc", 0x50, 0x1a),
    ("dup_mm", 0x5c0, 0x4d),
    ("copy_process", 0x1c40, 0x2b7),
    ("vm_area_free", 0x40, 0x17),
    ("__mmdrop", 0x140, 0x6e),
    ("do_exit", 0xb60, 0x19e),
    # mm/memory.c
    ("__pte_alloc", 0xf0, 0x1f),
    ("__pud_alloc", 0xe0, 0x2a),
    ("__pmd_alloc", 0x170, 0x2a),
    ("wp_page_copy", 0x6a0, 0xb9),
    ("do_anonymous_page", 0x4e0, 0x10b),
    ("handle_mm_fault", 0x2d0, 0x8e),
    # mm/mempolicy.c
    ("alloc_pages_vma", 0x290, 0x5a),
    ("vma_alloc_folio_noprof", 0x120, 0x4b),
    # mm/rmap.c
    ("__anon_vma_prepare", 0x190, 0x3b),
    ("anon_vma_prepare", 0x40, 0x1b),
    ("anon_vma_clone", 0x1c0, 0x5e),
    ("anon_vma_fork", 0x130, 0x5e),
    ("unlink_anon_vmas", 0x1a0, 0x7c),
    # mm/page_alloc.c
    ("__alloc_pages", 0x2f0, 0x9c),
    ("__free_pages", 0x90, 0x22),
    # mm/slab_common.c, mm/slub.c (5.14 and 6.18 names)
    ("kmalloc_order", 0xd0, 0x39),
    ("kmalloc_order_trace", 0x80, 0x1e),
    ("kmalloc_large_noprof", 0x90, 0x1f),
    ("kmem_cache_alloc", 0x2a0, 0x5b),
    ("kmem_cache_alloc_noprof", 0x2a0, 0x5b),
    ("kmem_cache_free", 0x2d0, 0x64),
    ("__kmalloc", 0x2b0, 0x6d),
    ("__kmalloc_noprof", 0x2b0, 0x6d),
    ("__kmalloc_cache_noprof", 0x230, 0x51),
    ("kfree", 0x290, 0x7a),
    # memsim's own workload step that calls kmalloc (a "driver" in the emulated kernel)
    ("workload_kmalloc", 0x60, 0x24),
    ("workload_kfree", 0x40, 0x12),
    # appended later (the addresses above stay as they were)
    ("__put_anon_vma", 0x130, 0x6a),             # mm/rmap.c: anon_vma_free() is inline in it
    # kernel/trace/trace.c: the ip of every ftrace print record a trace_marker write makes
    ("tracing_mark_write", 0x1b0, 0x9a),
    # shrinkers' scan_objects (mm_shrink_slab_start/_end print it with %pS): the kernel's that
    # plugins model, and the one memsim.shrinker.Shrinker (a shrinker written in Python) shows
    ("super_cache_scan", 0x1b0, 0x0),             # fs/super.c: the dentry and inode caches
    ("scan_shadow_nodes", 0x50, 0x0),             # mm/workingset.c: the shadow-node shrinker
    ("deferred_split_scan", 0x2e0, 0x0),          # mm/huge_memory.c
    ("kfree_rcu_shrink_scan", 0xd0, 0x0),         # kernel/rcu/tree.c
    ("memsim_shrinker_scan", 0x80, 0x0),
    # fs/inode.c, mm/shmem.c: the inode caches' kmem_cache_alloc / kmem_cache_free callers
    ("alloc_inode", 0xd0, 0x5b),                  # alloc_inode_sb(sb, inode_cachep, GFP_KERNEL)
    ("free_inode_nonrcu", 0x20, 0x12),
    ("shmem_alloc_inode", 0x40, 0x1a),
    ("shmem_free_in_core_inode", 0x50, 0x2b),
    ("__do_sys_memfd_create", 0x1f0, 0xa4),        # mm/memfd.c: kmalloc of "memfd:" + name
    # fs/dcache.c: the dentry cache's kmem_cache_alloc / kmem_cache_free callers
    ("__d_alloc", 0x240, 0x46),
    ("__d_free", 0x30, 0x1b),
    # fs/hugetlbfs/inode.c: hugetlbfs_inode_cache's callers (sizes from the live 6.18 kallsyms;
    # the call offsets are estimates)
    ("hugetlbfs_alloc_inode", 0x90, 0x1f),
    ("hugetlbfs_free_inode", 0x60, 0x2c),
    # memsim's workload steps that call kmem_cache_alloc / kmem_cache_free (memsim.plugins.kmem)
    ("workload_kmem_cache_alloc", 0x60, 0x24),
    ("workload_kmem_cache_free", 0x40, 0x12),
    # KASAN (mm/kasan, arch/arm64: a report's call trace and the alloc/free tracks' stacks; sizes
    # are plausible arm64 v5.14 sizes, the call offsets estimates)
    ("dump_backtrace", 0x1b0, 0x0),
    ("show_stack", 0x30, 0x1c),
    ("dump_stack_lvl", 0x84, 0x68),
    ("print_address_description", 0x2b8, 0x74),
    ("kasan_report", 0x250, 0x1e4),
    ("kasan_report_invalid_free", 0x110, 0x9c),
    ("kasan_check_range", 0x1a0, 0x15c),
    ("__hwasan_load1_noabort", 0x20, 0x18),
    ("__hwasan_load2_noabort", 0x20, 0x18),
    ("__hwasan_load4_noabort", 0x20, 0x18),
    ("__hwasan_load8_noabort", 0x20, 0x18),
    ("__hwasan_load16_noabort", 0x20, 0x18),
    ("__hwasan_loadN_noabort", 0x20, 0x18),
    ("__hwasan_store1_noabort", 0x20, 0x18),
    ("__hwasan_store2_noabort", 0x20, 0x18),
    ("__hwasan_store4_noabort", 0x20, 0x18),
    ("__hwasan_store8_noabort", 0x20, 0x18),
    ("__hwasan_store16_noabort", 0x20, 0x18),
    ("__hwasan_storeN_noabort", 0x20, 0x18),
    ("kasan_poison", 0xa0, 0x7c),
    ("kasan_unpoison", 0xa0, 0x7c),
    ("kasan_save_stack", 0x58, 0x2c),
    ("kasan_set_track", 0x30, 0x24),
    ("kasan_set_free_info", 0x40, 0x2c),
    ("__kasan_slab_alloc", 0xb0, 0x88),
    ("__kasan_kmalloc", 0xb8, 0x90),
    ("__kasan_slab_free", 0x180, 0x140),
    ("__kasan_kfree_large", 0x70, 0x50),
    ("slab_free_freelist_hook", 0x1c0, 0x110),
    ("free_nonslab_page", 0xc0, 0x44),
    # lib/test_kasan.c's cases, which memsim's KASAN steps may name as the function doing the
    # access or the free (the kasan plugin's ``caller``), and memsim's own step
    ("kmalloc_oob_right", 0x1a0, 0x68),
    ("kmalloc_oob_left", 0x1a0, 0x68),
    ("kmalloc_node_oob_right", 0x1a0, 0x68),
    ("kmalloc_pagealloc_oob_right", 0x1a0, 0x68),
    ("kmalloc_pagealloc_uaf", 0x1a0, 0x68),
    ("kmalloc_pagealloc_invalid_free", 0x1a0, 0x68),
    ("pagealloc_oob_right", 0x1a0, 0x68),
    ("pagealloc_uaf", 0x1a0, 0x68),
    ("kmalloc_large_oob_right", 0x1a0, 0x68),
    ("kmalloc_uaf", 0x1a0, 0x68),
    ("kmalloc_uaf2", 0x1a0, 0x68),
    ("kmalloc_double_kzfree", 0x1a0, 0x68),
    ("kmem_cache_oob", 0x1a0, 0x68),
    ("kmem_cache_double_free", 0x1a0, 0x68),
    ("kmem_cache_invalid_free", 0x1a0, 0x68),
    ("kmem_cache_rcu_uaf", 0x1a0, 0x68),
    ("ksize_unpoisons_memory", 0x1a0, 0x68),
    ("match_all_not_assigned", 0x1a0, 0x68),
    ("match_all_ptr_tag", 0x1a0, 0x68),
    ("match_all_mem_tag", 0x1a0, 0x68),
    ("kasan_wild_access", 0x1a0, 0x68),
    ("workload_access", 0x60, 0x24),
)


class Kallsyms:
    """An address-sorted table of text symbols with kernel ``%pS`` resolution."""

    def __init__(self, symbols: Iterable[Tuple[str, int, int]] = _DEFAULT_SYMBOLS,
                 base: int = TEXT_BASE):
        self._addr: Dict[str, int] = {}
        self._size: Dict[str, int] = {}
        self._site: Dict[str, int] = {}
        self._starts: List[int] = []
        self._names: List[str] = []
        self._next = base
        for name, size, site in symbols:
            self.add(name, size, site)

    def add(self, name: str, size: int, call_site_offset: int = 0) -> int:
        """Append a symbol after the last one (aligned); returns its address."""
        if name in self._addr:
            raise ValueError(f"kallsyms: symbol {name!r} already exists; pick another name")
        if size <= 0 or not 0 <= call_site_offset < size:
            raise ValueError(f"kallsyms: bad size/offset for {name!r}; need 0 <= offset < size")
        addr = self._next
        self._addr[name] = addr
        self._size[name] = size
        self._site[name] = addr + call_site_offset
        self._starts.append(addr)
        self._names.append(name)
        self._next = (addr + size + SYMBOL_ALIGN - 1) & ~(SYMBOL_ALIGN - 1)
        return addr

    def symbol_addr(self, name: str) -> int:
        try:
            return self._addr[name]
        except KeyError:
            raise KeyError(f"kallsyms: no symbol {name!r}; "
                           f"add it to memsim.tracing.kallsyms") from None

    def call_site(self, name: str) -> int:
        """A return address inside ``name`` (what ``_RET_IP_`` would be for a call from it)."""
        self.symbol_addr(name)
        return self._site[name]

    def lookup(self, addr: int) -> Optional[Tuple[str, int, int]]:
        """(name, offset, size) of the symbol containing ``addr``, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        name = self._names[i]
        off = addr - self._starts[i]
        if off >= self._size[name]:
            return None
        return name, off, self._size[name]

    def resolve(self, addr: int) -> Optional[str]:
        """Kernel ``%pS`` text ``name+0xoff/0xsize`` for ``addr``; None if no symbol holds it."""
        hit = self.lookup(addr)
        if hit is None:
            return None
        return "%s+%#x/%#x" % hit          # kernel number(): "%#lx" of 0 is "0x0"

    def kallsyms_text(self) -> str:
        """/proc/kallsyms lines (``<addr> T <name>``), as trace.dat stores them."""
        lines = ["%016x T _text" % TEXT_BASE]
        lines += ["%016x T %s" % (a, n) for a, n in zip(self._starts, self._names)]
        lines.append("%016x T _etext" % self._next)
        return "\n".join(lines) + "\n"


_default: Optional[Kallsyms] = None


def default_kallsyms() -> Kallsyms:
    """The shared table (built on first use; nothing happens at import)."""
    global _default
    if _default is None:
        _default = Kallsyms()
    return _default


def symbol_addr(name: str) -> int:
    return default_kallsyms().symbol_addr(name)


def call_site(name: str) -> int:
    return default_kallsyms().call_site(name)


def resolve(addr: int) -> Optional[str]:
    return default_kallsyms().resolve(addr)


def kallsyms_text() -> str:
    return default_kallsyms().kallsyms_text()
