# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The mm's invariants against the page tables, for ``--check``: checked on what changed.

What is checked (CONFIG_DEBUG_VM's kind of checks, against what the page tables say):

* per mm: each rss counter (the atomic counter plus every task's cached delta, as
  ``Machine.rss``) equals what its page tables map -- present, non-special PTEs by the kind of
  their page (mm_counter()), huge leaves outside hugetlb VMAs (512 or 262144 pages each), swap
  entries for MM_SWAPENTS (PTE markers left out) -- and ``hugetlb_usage`` equals the pages of
  the huge leaves in its hugetlb VMAs;
* per page: its mapcount equals the PTEs mapping it; a compound page's entire mapcount equals
  the huge leaves mapping it (and a huge leaf maps a compound head); a page's refcount is at
  least its mappings (the PTEs of all its subpages and its huge leaves).

Checking all of that walks every page table: the cost grows with mapped memory, and a run
that checks after every scheduler slice would pay it once per slice.  So :class:`MmCheck`
keeps a shadow of the tables as they were at the last check: for each table page, a copy of its
512 entries and the pages they add to each counter; per pfn, the PTEs and huge leaves mapping
it.  The page tables record every table written since (``PageTables.touch``, one flag test in
the walk), and every table freed; a check diffs only those tables against their copies,
updates the per-mm totals and per-pfn counts, and verifies the rss counters of every mm (a few
numbers each) and the pages whose mappings changed.  Its cost is the tables written and the
pages mapped or unmapped since the last check, not the machine's size.

A full check (:meth:`MmCheck.check` with ``full=True``; the first one, and the last of a run)
rebuilds the shadow from every table of every live mm and verifies every mapped page.
What an incremental check cannot see is a count that changed while no table did (a mapcount
or refcount changed behind the page tables' back): the full check at the end of the run does.
"""
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from libc.stdlib cimport calloc, free, qsort
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint64_t

from memsim._types cimport (
    pfn_t, NO_PFN, PAGE_SHIFT, PTRS_PER_TABLE, _PAGE_PRESENT, _PAGE_PSE, _PAGE_SPECIAL, PTE_PFN_MASK,
    PG_head, PG_tail, PG_table, PG_pgtable_changed, MM_SWAPENTS,
)
from memsim.page cimport page
from memsim.mm cimport (
    MmCore, MmStruct, VmArea, PageTables, pgtable_change, table_entries, compound_head_page,
    mm_counter, compound_mapcount_ptr, pte_present, pte_to_swp_entry, swp_type,
)
from memsim.physmem cimport PhysMem

cdef uint64_t C_VM_HUGETLB = 0x400000
cdef int HUGETLB = 4                   # index of hugetlb pages in the counts
RSS_NAMES = ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES")


cdef int _cmp_pfn(const void* a, const void* b) noexcept nogil:
    cdef pfn_t x = (<const pfn_t*>a)[0], y = (<const pfn_t*>b)[0]
    return (x > y) - (x < y)


cdef int vec_push(pfn_vec* v, pfn_t pfn) except -1:
    cdef size_t cap
    cdef pfn_t* grown
    if v.n == v.cap:
        cap = v.cap * 2 if v.cap else 4096
        grown = <pfn_t*>PyMem_Realloc(v.v, cap * sizeof(pfn_t))
        if grown == NULL:
            raise MemoryError()
        v.v = grown
        v.cap = cap
    v.v[v.n] = pfn
    v.n += 1
    return 0


cdef void vec_sort_unique(pfn_vec* v) noexcept:
    cdef size_t i, j = 0
    if v.n < 2:
        return
    qsort(v.v, v.n, sizeof(pfn_t), _cmp_pfn)
    for i in range(1, v.n):
        if v.v[i] != v.v[j]:
            j += 1
            v.v[j] = v.v[i]
    v.n = j + 1


cdef inline int span_shift(int level) noexcept nogil:
    """log2 of the bytes a table of ``level`` maps: 21 (pte), 30 (pmd), 39 (pud)."""
    return PAGE_SHIFT + 9 * (5 - level)


cdef class TableShadow:
    def __cinit__(self, uint64_t mm_seq, uint64_t base, int level):
        self.mm_seq = mm_seq
        self.base = base
        self.level = level
        memset(self.snap, 0, sizeof(self.snap))
        memset(self.counts, 0, sizeof(self.counts))


cdef class MmCheck:
    """The shadow of a machine's page tables and the checks made against it (module text).

    ``MmCheck(core)`` starts recording the tables written (``PageTables.track_changes``); the
    first :meth:`check` is full whatever it is asked."""

    def __cinit__(self, MmCore core):
        self.core = core
        self.pgt = core.pgt
        self.pm = core.pgt.pm
        self.ready = False
        self.pte_maps = NULL
        self.leaf_maps = NULL
        self.tables = {}
        self.totals = {}
        self.tables_examined = 0

    def __dealloc__(self):
        free(self.pte_maps)
        free(self.leaf_maps)
        PyMem_Free(self.touched.v)
        PyMem_Free(self.touched_leaves.v)
        PyMem_Free(self.heads.v)

    def close(self):
        """Stop recording changed tables (the checks are over)."""
        self.pgt.track_changes = False
        self._drop_changes()
        self.ready = False

    cdef void _drop_changes(self) noexcept:
        cdef size_t i
        cdef pgtable_change* c
        for i in range(self.pgt.nr_changes):
            c = &self.pgt.changes[i]
            if c.level:
                self.pm.mem_map[c.table].flags &= ~(1ULL << PG_pgtable_changed)
        self.pgt.nr_changes = 0

    cdef int _reset(self) except -1:
        """Forget the shadow: every count zero (calloc: the OS backs pages as they are used)."""
        free(self.pte_maps)
        free(self.leaf_maps)
        self.pte_maps = <int32_t*>calloc(self.pm.max_pfn, sizeof(int32_t))
        self.leaf_maps = <int32_t*>calloc(self.pm.max_pfn, sizeof(int32_t))
        if self.pte_maps == NULL or self.leaf_maps == NULL:
            raise MemoryError()
        self.tables = {}
        self.totals = {}
        self._drop_changes()
        self.pgt.changes_lost = False
        self.pgt.track_changes = True
        return 0

    # -- bringing the shadow up to date ---------------------------------------------------------
    cdef int _map(self, uint64_t e, int level, int sign) except -1:
        """Count (sign 1) or uncount (-1) the mapping entry ``e`` of a table of ``level``."""
        cdef pfn_t pfn
        if not (e & _PAGE_PRESENT):
            return 0
        pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
        if pfn >= self.pm.max_pfn:
            return 0
        if level == 4:
            if e & _PAGE_SPECIAL:
                return 0
            self.pte_maps[pfn] += sign
            vec_push(&self.touched, pfn)
        elif e & _PAGE_PSE:
            self.leaf_maps[pfn] += sign
            vec_push(&self.touched_leaves, pfn)
        return 0

    cdef int _count(self, TableShadow sh, MmStruct mm, int64_t* counts) except -1:
        """The pages each counter gets from ``sh``'s current entries (snap, just updated)."""
        cdef int i, shift = span_shift(sh.level) - 9
        cdef uint64_t e, nr
        cdef pfn_t pfn
        cdef VmArea vma
        memset(counts, 0, NR_TABLE_COUNTS * sizeof(int64_t))
        for i in range(PTRS_PER_TABLE):
            e = sh.snap[i]
            if e == 0:
                continue
            if sh.level == 4:
                if e & _PAGE_PRESENT:
                    if not (e & _PAGE_SPECIAL):
                        pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                        if pfn < self.pm.max_pfn:
                            counts[mm_counter(compound_head_page(self.pm, pfn))] += 1
                elif not pte_present(e):
                    if not (self.core.pte_markers and
                            swp_type(pte_to_swp_entry(e)) == self.core.swp_pte_marker):
                        counts[MM_SWAPENTS] += 1
            elif (e & _PAGE_PRESENT) and (e & _PAGE_PSE):
                pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                if pfn >= self.pm.max_pfn:
                    continue
                nr = 1ULL << (shift - PAGE_SHIFT)
                vma = mm.find_vma(sh.base + (<uint64_t>i << shift)) if mm is not None else None
                if vma is not None and vma.vm_flags & C_VM_HUGETLB:
                    counts[HUGETLB] += nr
                else:
                    counts[mm_counter(&self.pm.mem_map[pfn])] += nr
        return 0

    cdef int _update(self, pfn_t table, uint64_t mm_seq, uint64_t addr, int level,
                     dict mms) except -1:
        """Diff a written table against its copy: mappings added and removed, counts moved."""
        cdef TableShadow sh = self.tables.get(table)
        cdef uint64_t* ents = table_entries(self.pm, table)
        cdef uint64_t old, new
        cdef int64_t counts[NR_TABLE_COUNTS]
        cdef int i
        if sh is None:
            sh = TableShadow(mm_seq, (addr >> span_shift(level)) << span_shift(level), level)
            self.tables[table] = sh
        for i in range(PTRS_PER_TABLE):
            old = sh.snap[i]
            new = ents[i]
            if old != new:
                self._map(old, sh.level, -1)
                self._map(new, sh.level, 1)
                sh.snap[i] = new
        self._count(sh, mms.get(sh.mm_seq), counts)
        total = self.totals.get(sh.mm_seq)
        if total is None:
            total = self.totals[sh.mm_seq] = [0] * NR_TABLE_COUNTS
        for i in range(NR_TABLE_COUNTS):
            if counts[i] != sh.counts[i]:
                total[i] += counts[i] - sh.counts[i]
                sh.counts[i] = counts[i]
        self.tables_examined += 1
        return 0

    cdef int _forget(self, pfn_t table) except -1:
        """A freed table: what its entries mapped at the last check is mapped no more."""
        cdef TableShadow sh = self.tables.pop(table, None)
        cdef int i
        if sh is None:
            return 0
        for i in range(PTRS_PER_TABLE):
            if sh.snap[i]:
                self._map(sh.snap[i], sh.level, -1)
        total = self.totals.get(sh.mm_seq)
        if total is not None:
            for i in range(NR_TABLE_COUNTS):
                total[i] -= sh.counts[i]
        return 0

    cdef int _walk_tables(self, MmStruct mm, pfn_t table, int level, uint64_t base,
                          dict pending) except -1:
        """Every table below ``table`` (of ``level``), as written (the full check)."""
        cdef uint64_t* ents = table_entries(self.pm, table)
        cdef int i, shift = span_shift(level) - 9
        cdef uint64_t e
        if level >= 2:
            pending[table] = (mm.seq, base, level)
        if level == 4:
            return 0
        for i in range(PTRS_PER_TABLE):
            e = ents[i]
            if (e & _PAGE_PRESENT) and not (e & _PAGE_PSE):
                self._walk_tables(mm, (e & PTE_PFN_MASK) >> PAGE_SHIFT, level + 1,
                                  base + (<uint64_t>i << shift), pending)
        return 0

    # -- the check ------------------------------------------------------------------------------
    def check(self, list rss, bint full=False):
        """Bring the shadow up to date and verify (see the module text).  ``rss``: one
        ``(mm, [MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES])`` per live mm, the
        counters as the tasks see them (atomic counter plus cached deltas).  Full: rebuild the
        shadow from every table and verify every mapped page.  Returns the problems found."""
        cdef MmStruct mm
        cdef size_t i
        cdef pgtable_change* c
        cdef dict pending = {}
        cdef dict mms = {}
        full = full or not self.ready or self.pgt.changes_lost
        for mm, _ in rss:
            mms[mm.seq] = mm
        self.touched.n = self.touched_leaves.n = self.heads.n = 0
        self.tables_examined = 0
        if full:
            self._reset()
            for mm, _ in rss:
                if mm.pgd != NO_PFN:
                    self._walk_tables(mm, mm.pgd, 1, 0, pending)
        else:
            for i in range(self.pgt.nr_changes):
                c = &self.pgt.changes[i]
                if c.level == 0:
                    pending.pop(c.table, None)
                    self._forget(c.table)
                else:
                    pending[c.table] = (c.mm_seq, c.addr, c.level)
            self._drop_changes()
        for table, (seq, addr, level) in pending.items():
            if self.pm.mem_map[<pfn_t>table].flags & (1ULL << PG_table):
                self._update(table, seq, addr, level, mms)
        self.ready = True
        return self._verify(rss)

    cdef list _verify(self, list rss):
        cdef list problems = []
        cdef MmStruct mm
        cdef size_t i
        cdef pfn_t pfn, head, j, end
        cdef page* p
        cdef int64_t n, total
        for mm, vals in rss:
            counts = self.totals.get(mm.seq) or [0] * NR_TABLE_COUNTS
            for i in range(4):
                if counts[i] != vals[i]:
                    what = "swap entries" if i == MM_SWAPENTS else "page tables map"
                    problems.append(f"mm {mm.mm_id}: {RSS_NAMES[i]} counts {vals[i]} pages "
                                    f"but its {what} {counts[i]}")
            if counts[HUGETLB] != mm.hugetlb_usage:
                problems.append(f"mm {mm.mm_id}: hugetlb_usage is {mm.hugetlb_usage} pages but "
                                f"its hugetlb leaves map {counts[HUGETLB]}")
        vec_sort_unique(&self.touched)
        for i in range(self.touched.n):
            pfn = self.touched.v[i]
            n = self.pte_maps[pfn]
            if n <= 0:
                continue
            p = &self.pm.mem_map[pfn]
            if p._mapcount != n:
                problems.append(f"pfn {pfn:#x}: mapcount {p._mapcount} but {n} PTEs map it")
            vec_push(&self.heads, p.compound_head if p.flags & (1ULL << PG_tail) else pfn)
        vec_sort_unique(&self.touched_leaves)
        for i in range(self.touched_leaves.n):
            head = self.touched_leaves.v[i]
            n = self.leaf_maps[head]
            if n <= 0:
                continue
            if not (self.pm.mem_map[head].flags & (1ULL << PG_head)):
                problems.append(f"pfn {head:#x}: {n} huge leaves map it but it is not a compound head")
            elif compound_mapcount_ptr(self.pm, head)[0] != n:
                problems.append(f"pfn {head:#x}: entire mapcount "
                                f"{compound_mapcount_ptr(self.pm, head)[0]} but {n} huge leaves map it")
            vec_push(&self.heads, head)
        vec_sort_unique(&self.heads)
        for i in range(self.heads.n):
            head = self.heads.v[i]
            p = &self.pm.mem_map[head]
            total = self.leaf_maps[head]
            if p.flags & (1ULL << PG_head):
                end = min(head + (1ULL << p.compound_order), self.pm.max_pfn)
                for j in range(head, end):
                    total += self.pte_maps[j]
            else:
                total += self.pte_maps[head]
            if p._refcount < total:
                problems.append(f"pfn {head:#x}: refcount {p._refcount} below its {total} mappings")
        return problems
