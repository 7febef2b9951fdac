# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""shmem's page cache (mm/shmem.c), in C: the address_space_operations every tmpfs, memfd and
shared-anonymous mapping of one superblock share, and the per-page loops of read, write,
fallocate and truncate.

One :class:`ShmemSb` per tmpfs superblock (``struct shmem_sb_info``) is the ``ctx`` of its
mappings' a_ops, so the block accounting (``size=``: sbinfo->max_blocks / used_blocks) is a C
field the fault path reads:

* ``lookup`` -- find_get_page(): a value entry reads as no page (shmem never stores shadows:
  its pages are swap-backed; its value entries are the swap entries of pages swapped out);
* ``alloc`` -- shmem_get_folio_gfp()'s miss: a swap value entry is read back
  (:meth:`ShmemSb.shmem_swapin_page`, a major fault when the swap cache missed), else (see
  :meth:`ShmemSb.shmem_alloc_and_add`) a
  block from the superblock (-ENOSPC when size= is reached), the page, its memcg charge,
  shmem_add_to_page_cache() through the core's __add_to_page_cache_locked (page->mapping,
  PG_swapbacked, NR_FILE_PAGES and NR_SHMEM, nrpages), shmem_recalc_inode() and
  lru_cache_add() (the anon LRU: a swap-backed page); a new page is never major;
* ``delete_from_page_cache`` -- __delete_from_page_cache() of a shmem page: its slot emptied,
  never a shadow.  The block is not given back here, whoever removes the page (shmem's own
  truncate, or the core behind shmem's back: fadvise DONTNEED's generic
  invalidate_mapping_pages, drop_caches, reclaim): the file's ``info->alloced``
  (``AddressSpace.private_data``) still counts it until the next shmem_recalc_inode() of the
  file -- at the end of a truncate or hole punch (shmem_undo_range), at its next page
  allocation, and (v6.7+) when an allocation finds the superblock full -- finds alloced above
  nrpages and gives the difference back (:meth:`ShmemSb.shmem_recalc_inode`);
* ``migratepage`` -- shmem_migrate_folio()'s slot replacement;
* ``writepage`` -- shmem_writepage(): reclaim's pageout() of a dirty, unmapped shmem page
  moves it to the swap cache (the swap plugin's ``swap_ops``: a slot, add_to_swap_cache,
  swap_shmem_alloc, swap_writepage) and leaves the slot's swap value entry
  (swp_to_radix_entry) in i_pages; info->swapped (``AddressSpace.swapped``) counts them, so
  info->alloced == nrpages + swapped.  Without swap the page is redirtied and activated;
* ``map_pages`` -- filemap_map_pages() (filemap.pyx), once :meth:`ShmemSb.set_filemap`
  gave it a Filemap for the core and the trace slot (tmpfs always does);
* ``dirty_folio`` NULL: the core's set_page_dirty, which only flags a swap-backed page
  (v5.14 __set_page_dirty_no_writeback, v6.18 noop_dirty_folio);
* ``set_policy`` -- shmem_set_policy() (mbind() of a shmem VMA): the inode's shared policy
  (:class:`SharedPolicy`, mpol_set_shared_policy()) learns the policy for the file range the
  VMA maps.  Every page shmem allocates for the file -- fault, write, fallocate -- follows it
  (shmem_alloc_folio() with shmem_get_pgoff_policy(); v5.14 shmem_alloc_page() through a
  pseudo-VMA), or the task's policy where the file has none.

The write and read loops run in C; a read of a hole reads zeros without allocating
(shmem_file_read_iter's SGP_READ), a write allocates (SGP_WRITE) and dirties the page
(shmem_write_end()).  Truncate is shmem's own (shmem_undo_range(), as shmem_truncate_range()
and shmem_evict_inode() call it, not truncate_inode_pages_range()), partial pages zeroed, swap
entries freed (shmem_free_swap).  Read, write, fallocate, a partial page's zeroing, faults and
UFFDIO_CONTINUE read a swapped page back first (shmem_getpage_gfp() -> shmem_swapin_page());
swapoff brings every swapped page of a device back (:meth:`ShmemSb.unuse`, shmem_unuse()).
"""
from libc.stdint cimport uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset, memcpy
from memsim._types cimport (pfn_t, gfp_t, NO_PFN, PAGE_SIZE, PAGE_SHIFT, PG_dirty, PG_content,
                            PG_swapbacked, PG_locked, PG_writeback, PG_uptodate, mempolicy,
                            MPOL_INTERLEAVE, MPOL_PREFERRED_MANY)
from memsim.mempolicy cimport offset_il_node, policy_node, policy_nodemask
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport (AddressSpace, MmCore, MmStruct, VmArea, XArray, vm_fault,
                        address_space_operations, writeback_control, mapping_empty, pte_present,
                        swp_type, AOP_WRITEPAGE_ACTIVATE)
from memsim.vmstat cimport page_to_nid, __mod_lruvec_page_state, NR_FILE_PAGES, NR_SHMEM
from memsim.plugins.pagecache.filemap cimport Filemap, filemap_map_pages

# include/uapi/asm-generic/errno-base.h
cdef enum:
    EIO = 5
    ENOMEM = 12
    EFAULT = 14
    EEXIST = 17
    ENOSPC = 28


cdef inline uint64_t radix_to_swp_entry(int64_t e) noexcept nogil:
    """radix_to_swp_entry() of a shmem value entry as i_pages keeps it: the i_pages entry of
    xa_mk_value(entry) (shadow_to_entry(swp_to_radix_entry(entry))) is ~entry."""
    return <uint64_t>(~e)


cdef inline int64_t swp_to_radix_entry(uint64_t entry) noexcept nogil:
    """swp_to_radix_entry(): the i_pages value entry of a swap entry (see radix_to_swp_entry)."""
    return ~(<int64_t>entry)


cdef pfn_t _shmem_lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    """find_get_page() on a shmem mapping: a page entry, else NO_PFN."""
    cdef int64_t e
    if not mapping.i_pages.load(index, &e) or e < 0:
        return NO_PFN
    return <pfn_t>e


cdef pfn_t _shmem_alloc(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp, MmStruct mm,
                        int* major) except? 0xfffffffffffffffe:
    """shmem_fault() -> shmem_get_folio_gfp(SGP_CACHE) on a miss: a new page (minor); a full
    tmpfs (-ENOSPC) in *major, which the core turns into SIGBUS (vmf_error())."""
    cdef int err = 0, m = 0
    cdef int64_t e
    cdef pfn_t pfn
    if mapping.i_pages.load(index, &e) and e < 0:
        pfn = (<ShmemSb>ctx).shmem_swapin_page(mapping, index, e, gfp, &m, &err)
        if pfn == NO_PFN:
            if err != -ENOMEM:
                major[0] = err
            return NO_PFN
        major[0] = m
        return pfn
    pfn = (<ShmemSb>ctx).shmem_alloc_and_add(mapping, index, gfp, mm, &err)
    if pfn == NO_PFN and err != -ENOMEM:
        major[0] = err
    return pfn


cdef int _shmem_writepage(void* ctx, AddressSpace mapping, pfn_t pfn,
                          writeback_control* wbc) except? -1000000:
    """shmem_writepage() (v6.16+ shmem_writeout()) of the clean, unmapped page pageout() hands
    it: with swap and for reclaim, get_swap_page() and add_to_swap_cache() (the swap_ops'
    shmem_add_to_swap: the memcg swap charge, the swap cache's reference, NR_SWAPCACHE), then
    shmem_recalc_inode() and info->swapped++, swap_shmem_alloc() (SWAP_MAP_SHMEM on v5.14),
    shmem_delete_from_page_cache() -- the slot gets swp_to_radix_entry(swap), nrpages,
    NR_FILE_PAGES and NR_SHMEM down, page->mapping NULL, the page cache's reference put -- and
    swap_writepage().  No swap, no slot (or swap.max), or a write not for reclaim (the
    kernel's WARN_ON_ONCE): the page is redirtied (set_page_dirty); reclaim gets
    AOP_WRITEPAGE_ACTIVATE (it keeps the page), another caller 0."""
    cdef ShmemSb sb = <ShmemSb>ctx
    cdef MmCore core = sb.core
    cdef page* p = &sb.pm.mem_map[pfn]
    cdef uint64_t entry = 0, index = p.index
    if core.swap.shmem_add_to_swap == NULL or not wbc.for_reclaim or \
            core.swap.shmem_add_to_swap(core.swap.ctx, pfn, &entry) != 0:
        core.set_page_dirty(pfn)            # redirty: kept, locked, for reclaim; else 0
        return AOP_WRITEPAGE_ACTIVATE if wbc.for_reclaim else 0
    sb.shmem_recalc_inode(mapping, 0)
    mapping.swapped += 1
    core.swap.swap_shmem_alloc(core.swap.ctx, entry)
    # shmem_delete_from_page_cache(page, swp_to_radix_entry(swap)): shmem_replace_entry, no
    # filemap tracepoint; a swap entry was counted in nrexceptional before v5.13
    mapping.i_pages.store(index, swp_to_radix_entry(entry))
    p.mapping = 0
    mapping.nrpages -= 1
    if mapping.keep_nrexceptional:
        mapping.nrexceptional += 1
    core.xa_node_account(mapping, index, 0, 1, page_to_nid(p))
    __mod_lruvec_page_state(sb.pm.vs, p, NR_FILE_PAGES, -1)
    __mod_lruvec_page_state(sb.pm.vs, p, NR_SHMEM, -1)
    p._refcount -= 1                        # put_page(): the swap cache holds it now
    sb.swapouts += 1
    return core.swap.swap_writepage(core.swap.ctx, pfn, entry, wbc)


cdef int _shmem_delete(void* ctx, AddressSpace mapping, pfn_t pfn, uint64_t shadow) except -1:
    """__delete_from_page_cache() of a shmem page: the slot is emptied (shadow is never kept
    for shmem: a swap-backed page has no workingset shadow here); its block stays accounted
    until shmem_recalc_inode() finds it gone."""
    cdef ShmemSb sb = <ShmemSb>ctx
    cdef page* p = &sb.pm.mem_map[pfn]
    sb.core.page_cache_delete_page(mapping, p.index, pfn, 0)
    return 0


cdef int _shmem_migratepage(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                            pfn_t new) except? -1000000:
    """shmem_migrate_folio() -> migrate_page_move_mapping(): the slot now holds ``new``."""
    cdef int64_t e
    if not mapping.i_pages.load(index, &e) or e != <int64_t>old:
        return -16                          # -EBUSY: the page left the cache meanwhile
    mapping.i_pages.store(index, <int64_t>new)
    return 0


cdef int _shmem_map_pages(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t start_pgoff,
                          uint64_t end_pgoff) except -1:
    """shmem_vm_ops.map_pages = filemap_map_pages() (filemap.pyx, over i_pages)."""
    return filemap_map_pages((<ShmemSb>ctx).fm, mm, vma, vmf, start_pgoff, end_pgoff)


cdef int _shmem_set_policy(void* ctx, VmArea vma, const mempolicy* new) except? -1000000:
    """shmem_set_policy() -> mpol_set_shared_policy(&info->policy, vma, new): the file range
    [vm_pgoff, vm_pgoff + vma_pages) now has ``new`` (NULL or MPOL_DEFAULT: none)."""
    cdef ShmemSb sb = <ShmemSb>ctx
    cdef AddressSpace mapping = vma.vm_file
    cdef uint64_t start = vma.vm_pgoff
    cdef uint64_t end = start + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT)
    cdef SharedPolicy sp = sb.policies.get(id(mapping))
    if sp is None:
        if new == NULL or new.mode == 0:
            return 0
        sp = SharedPolicy()
        sb.policies[id(mapping)] = sp
    sp.replace(start, end, new)
    if sp.nr == 0:
        del sb.policies[id(mapping)]
    sb.nr_policies = len(sb.policies)
    return 0


cdef class SharedPolicy:
    """``struct shared_policy`` of one shmem inode: file ranges [start, end) (page indices)
    with their policy (``sp_node``), sorted, none overlapping."""

    def __dealloc__(self):
        free(self.nodes)

    cdef const mempolicy* lookup(self, uint64_t index) noexcept nogil:
        """mpol_shared_policy_lookup(): the policy of the range holding ``index``, or NULL."""
        cdef int i
        for i in range(self.nr):
            if self.nodes[i].start <= index < self.nodes[i].end:
                return &self.nodes[i].pol
        return NULL

    cdef int replace(self, uint64_t start, uint64_t end, const mempolicy* new) except -1:
        """shared_policy_replace(): the ranges overlapping [start, end) are cut back to what
        lies outside it, then [start, end) gets ``new`` (unless MPOL_DEFAULT)."""
        cdef sp_node* out = <sp_node*>malloc((self.nr + 2) * sizeof(sp_node))
        cdef int i, n = 0, j
        cdef sp_node tmp
        if out == NULL:
            raise MemoryError()
        for i in range(self.nr):
            if self.nodes[i].start < start:
                out[n] = self.nodes[i]
                if out[n].end > start:
                    out[n].end = start
                n += 1
            if self.nodes[i].end > end:
                out[n] = self.nodes[i]
                if out[n].start < end:
                    out[n].start = end
                n += 1
        if new != NULL and new.mode != 0:
            out[n].start = start
            out[n].end = end
            memcpy(&out[n].pol, new, sizeof(mempolicy))
            n += 1
        for i in range(1, n):                   # by start (a few ranges: insertion sort)
            tmp = out[i]
            j = i - 1
            while j >= 0 and out[j].start > tmp.start:
                out[j + 1] = out[j]
                j -= 1
            out[j + 1] = tmp
        free(self.nodes)
        self.nodes = out
        self.nr = n
        return 0

    def ranges(self):
        """[(start, end, (mode, nodes...))] for tests and messages."""
        cdef int i
        return [(self.nodes[i].start, self.nodes[i].end, self.nodes[i].pol.mode)
                for i in range(self.nr)]


cdef class ShmemSb:
    """``struct shmem_sb_info`` of one tmpfs superblock with the a_ops its mappings share:
    ``max_blocks`` (size= in pages, 0 for no limit) and ``used_blocks``.  :meth:`install`
    gives a mapping these a_ops."""

    def __cinit__(self, MmCore core, uint64_t max_blocks=0):
        self.core = core
        self.pm = core.pm
        self.max_blocks = max_blocks
        self.used_blocks = 0
        self.mappings = {}
        self.policies = {}
        self.nr_policies = 0
        memset(&self.aops, 0, sizeof(address_space_operations))
        self.aops.lookup = _shmem_lookup
        self.aops.alloc = _shmem_alloc
        self.aops.delete_from_page_cache = _shmem_delete
        self.aops.migratepage = _shmem_migratepage
        self.aops.set_policy = _shmem_set_policy
        self.aops.writepage = _shmem_writepage
        self.aops.ctx = <void*>self
        self.pvma = VmArea(0, PAGE_SIZE, 0, "shmem pseudo-vma")
        self.pvma.vm_policy = <mempolicy*>calloc(1, sizeof(mempolicy))    # the VMA frees it
        if self.pvma.vm_policy == NULL:
            raise MemoryError()

    def install(self, AddressSpace mapping):
        """inode->i_mapping->a_ops = &shmem_aops (shmem_get_inode()); the mapping is
        swap-backed (mapping_set_unevictable is not used: shmem pages live on the anon LRU)."""
        if not mapping.swapbacked:
            raise ValueError(f"{mapping!r}: a shmem mapping is swap-backed")
        mapping.a_ops = &self.aops
        mapping.a_ops_owner = self
        self.mappings[id(mapping)] = mapping

    def forget(self, AddressSpace mapping):
        """The mapping's inode is evicted: it no longer counts in the superblock's blocks, and
        its shared policy goes (mpol_free_shared_policy())."""
        self.mappings.pop(id(mapping), None)
        self.policies.pop(id(mapping), None)
        self.nr_policies = len(self.policies)

    def shared_policy(self, AddressSpace mapping):
        """The mapping's shared policy as [(start, end, mode)] (empty: none)."""
        sp = self.policies.get(id(mapping))
        return [] if sp is None else sp.ranges()

    cdef pfn_t shmem_alloc_page(self, gfp_t gfp, AddressSpace mapping,
                                uint64_t index) except? 0xfffffffffffffffe:
        """shmem_alloc_folio() (v5.14 shmem_alloc_page()): the file's shared policy at
        ``index`` (mpol_shared_policy_lookup()), else the task's (get_task_policy()), else the
        local node; an interleave policy picks its node by ``i_ino + index``
        (shmem_get_pgoff_policy()'s ilx; v5.14's pseudo-VMA has vm_pgoff = index + i_ino)."""
        cdef const mempolicy* pol = NULL
        cdef SharedPolicy sp
        cdef int local
        if self.nr_policies:
            sp = self.policies.get(id(mapping))
            if sp is not None:
                pol = sp.lookup(index)
        if pol == NULL or pol.mode == 0:
            pol = self.core.cur.mempolicy
            if pol == NULL or pol.mode == 0:
                return self.pm.alloc_pages(gfp, 0, -1)
        local = self.pm.cpu_node[self.core.cur.cpu]
        if pol.mode == MPOL_INTERLEAVE:
            return self.pm.alloc_page_interleave(gfp, 0, offset_il_node(pol, mapping.i_ino + index, local))
        if pol.mode == MPOL_PREFERRED_MANY:
            return self.pm.alloc_pages_preferred_many(gfp, 0, local, <mempolicy*>pol)
        return self.pm.alloc_pages_nodemask(gfp, 0, policy_node(pol, local), policy_nodemask(pol))

    cdef int64_t shmem_recalc_inode(self, AddressSpace mapping, int64_t alloced) except? -1:
        """shmem_recalc_inode(inode, alloced, 0): the file's info->alloced
        (``mapping.private_data``) grows by ``alloced``; the pages it lost since the last call
        ("the mm can drop undirtied hole pages behind our back": every removal) are
        alloced - swapped - nrpages (info->swapped: ``mapping.swapped``), and their blocks go
        back to the superblock (shmem_inode_unacct_blocks).  Returns the blocks given back."""
        cdef int64_t freed
        mapping.private_data += alloced
        freed = mapping.private_data - mapping.swapped - <int64_t>mapping.nrpages
        if freed <= 0:
            return 0
        mapping.private_data -= freed
        self.used_blocks -= <uint64_t>freed if <uint64_t>freed <= self.used_blocks else self.used_blocks
        return freed

    def recalc_inode(self, AddressSpace mapping):
        """:meth:`shmem_recalc_inode` of ``mapping`` from Python (shmem_getattr() does one when
        alloced and nrpages differ); returns the blocks given back."""
        return self.shmem_recalc_inode(mapping, 0)

    def set_filemap(self, Filemap fm):
        """Fault-around for this superblock's mappings: map_pages = filemap_map_pages() with
        ``fm``'s core and mm_filemap_map_pages slot (shmem_vm_ops.map_pages)."""
        self.fm = fm
        self.aops.map_pages = _shmem_map_pages

    @property
    def has_map_pages(self):
        return self.aops.map_pages != NULL

    cdef pfn_t shmem_alloc_and_add(self, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                   MmStruct mm, int* err) except? 0xfffffffffffffffe:
        """A new page for ``index``: a block of the superblock (-ENOSPC in *err when size= is
        reached), a page (-ENOMEM), its memcg charge (-ENOMEM), the core's
        __add_to_page_cache_locked, shmem_recalc_inode(inode, 1, 0), lru_cache_add(); the
        page is uptodate (shmem_get_folio_gfp() zeroes a new folio and marks it so; a write
        fills it).  NO_PFN on failure.

        The block is taken in the kernel's order: v5.14 shmem_alloc_and_acct_page() takes it
        first (shmem_inode_acct_block(): a full superblock is ENOSPC at once, blocks freed
        behind shmem's back notwithstanding); v6.7+ shmem_alloc_and_add_folio() takes it after
        the page is in the cache, and when the superblock is full first gives back what this
        file lost behind shmem's back (its recalc, "except our folio is there in cache") and
        tries again, removing the page if it is still full."""
        cdef pfn_t pfn
        cdef uint64_t shadow = 0
        cdef int64_t freed, e
        cdef int r
        if not self.acct_after_add:
            if self.max_blocks and self.used_blocks >= self.max_blocks:
                err[0] = -ENOSPC
                return NO_PFN
            self.used_blocks += 1           # shmem_inode_acct_block()
        pfn = self.shmem_alloc_page(gfp, mapping, index)
        if pfn == NO_PFN:
            err[0] = -ENOMEM
        elif self.core.charge(pfn, mm, gfp) != 0:
            self.pm.put_page(pfn)
            pfn = NO_PFN
            err[0] = -ENOMEM
        else:
            # shmem_add_to_page_cache(expected NULL): a swap entry there is -EEXIST too
            r = -EEXIST if mapping.i_pages.load(index, &e) else \
                self.core.add_to_page_cache_locked(pfn, mapping, index, &shadow)
            if r != 0:                      # shmem_add_to_page_cache(): the expected entry was NULL
                self.pm.mem_map[pfn].mapping = 0
                self.pm.put_page(pfn)
                pfn = NO_PFN
                err[0] = r
        if pfn == NO_PFN:
            if not self.acct_after_add:
                self.used_blocks -= 1       # shmem_inode_unacct_blocks()
            return NO_PFN
        if self.acct_after_add:
            if self.max_blocks and self.used_blocks >= self.max_blocks:
                freed = 1 + mapping.private_data - mapping.swapped - <int64_t>mapping.nrpages
                if freed > 0:
                    mapping.private_data -= freed
                    self.used_blocks -= <uint64_t>freed
                if self.used_blocks >= self.max_blocks:
                    self.shmem_remove_page(mapping, index, pfn)     # filemap_remove_folio()
                    err[0] = -ENOSPC
                    return NO_PFN
            self.used_blocks += 1           # shmem_inode_acct_blocks()
        self.shmem_recalc_inode(mapping, 1)
        self.pm.mem_map[pfn].flags |= 1ULL << PG_uptodate    # cleared, or about to be written
        self.pm.lru_cache_add(pfn)
        return pfn

    def mfill_atomic_pte(self, MmStruct mm, VmArea vma, uint64_t dst, int64_t src_pfn,
                         bint zeropage, bint wp):
        """shmem_mfill_atomic_pte() (UFFDIO_COPY / UFFDIO_ZEROPAGE into a shared shmem VMA):
        a block of the superblock (-ENOMEM when size= is reached: shmem_inode_acct_block),
        a new page with the source frame's bytes (``src_pfn``; -1: the copy faulted, -EFAULT)
        or zeroes, -EFAULT past the file's end, the memcg charge, the page cache (-EEXIST when
        a page is there: the minor-fault situation), then the PTE (-EEXIST when one is there:
        the page leaves the cache again).  The page is dirty and on the LRU, the inode's
        alloced grows.  0 or a negative errno."""
        cdef AddressSpace mapping = vma.vm_file
        cdef uint64_t pgoff = ((dst - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
        cdef pfn_t pfn
        cdef uint64_t shadow = 0
        cdef uint64_t* pte
        cdef int err = 0, r
        cdef int64_t e
        cdef bint writable
        if self.max_blocks and self.used_blocks >= self.max_blocks:
            return -ENOMEM
        self.used_blocks += 1
        if not zeropage and src_pfn < 0:
            self.used_blocks -= 1
            return -EFAULT
        pfn = self.shmem_alloc_page(self.core.gfp_user, mapping, pgoff)
        if pfn == NO_PFN:
            self.used_blocks -= 1
            return -ENOMEM
        if not zeropage:
            self.pm.copy_content(pfn, <pfn_t>src_pfn)
        if pgoff >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
            self.pm.put_page(pfn)
            self.used_blocks -= 1
            return -EFAULT
        if self.core.charge(pfn, mm, self.core.gfp_user) != 0:
            self.pm.put_page(pfn)
            self.used_blocks -= 1
            return -ENOMEM
        # shmem_add_to_page_cache(expected NULL): a page or a swap entry there is -EEXIST
        r = -EEXIST if mapping.i_pages.load(pgoff, &e) else \
            self.core.add_to_page_cache_locked(pfn, mapping, pgoff, &shadow)
        if r != 0:
            self.pm.mem_map[pfn].mapping = 0
            self.pm.put_page(pfn)
            self.used_blocks -= 1
            return r
        self.pm.mem_map[pfn].flags |= (1ULL << PG_uptodate) | (1ULL << PG_dirty)
        self.pm.lru_cache_add(pfn)
        pte = self.core.pgt.walk(mm, dst, True, &err)
        if pte == NULL or err or (pte[0] != 0 and pte_present(pte[0])):
            self.shmem_remove_page(mapping, pgoff, pfn)
            self.used_blocks -= 1
            return -ENOMEM if pte == NULL else -EEXIST
        pte[0] = 0                          # a uffd-wp marker the page replaces
        writable = (vma.vm_flags & 0x2) != 0    # VM_WRITE (the VMA is VM_SHARED)
        self.core.do_set_pte(mm, vma, dst & ~(<uint64_t>PAGE_SIZE - 1), pte, pfn, writable, False)
        if wp:
            pte[0] = (pte[0] & ~(<uint64_t>0x2)) | 0x400       # _PAGE_RW off, _PAGE_UFFD_WP
        self.shmem_recalc_inode(mapping, 1)
        return 0

    cdef int shmem_remove_page(self, AddressSpace mapping, uint64_t index, pfn_t pfn) except -1:
        """truncate_inode_folio() of a shmem page (unmapped already): folio_cancel_dirty()
        (a swap-backed page has no dirty accounting), filemap_remove_folio() through the core's
        __delete_from_page_cache (our delete op, NR_FILE_PAGES and NR_SHMEM, page->mapping),
        then the cache's reference is put."""
        cdef page* p = &self.pm.mem_map[pfn]
        p.flags &= ~(1ULL << PG_dirty)
        self.core.delete_from_page_cache(mapping, pfn, 0)
        self.pm.put_page(pfn)
        return 0

    # -- swap (mm/shmem.c with the swap plugin's swap_ops) ------------------------------------
    cdef pfn_t shmem_swapin_page(self, AddressSpace mapping, uint64_t index, int64_t e, gfp_t gfp,
                                 int* major, int* err) except? 0xfffffffffffffffe:
        """shmem_swapin_page() (v6.x shmem_swapin_folio()) of the swap value entry ``e`` at
        ``index``: the swap_ops' shmem_swapin -- lookup_swap_cache(), else (*major = 1: the
        caller's PGMAJFAULT) shmem_swapin() -> swap_cluster_readahead() (shmem never uses VMA
        readahead) through shmem_pseudo_vma_init()'s VMA (the
        file's shared policy at ``index``, vm_pgoff = index + i_ino, no mm: the charge is
        mem_cgroup_swapin_charge_page()'s, to the memcg the slot's swap_cgroup record names, or
        the current task's) -- then shmem_add_to_page_cache() replacing the value entry (the page
        is charged already: no charge there; nrpages, NR_FILE_PAGES, NR_SHMEM), info->swapped--,
        shmem_recalc_inode(), delete_from_swap_cache() (swap_ops take_from_swap_cache),
        set_page_dirty() and swap_free().  The page's reference is then the page cache's.
        NO_PFN with -ENOMEM in *err when no page could be had (-EIO without swap)."""
        cdef MmCore core = self.core
        cdef uint64_t entry = radix_to_swp_entry(e), shadow = 0
        cdef const mempolicy* pol = NULL
        cdef SharedPolicy sp
        cdef pfn_t pfn
        if core.swap.shmem_swapin == NULL:
            err[0] = -EIO
            return NO_PFN
        if self.nr_policies:
            sp = self.policies.get(id(mapping))
            if sp is not None:
                pol = sp.lookup(index)
        if pol != NULL:
            memcpy(self.pvma.vm_policy, pol, sizeof(mempolicy))
        else:
            memset(self.pvma.vm_policy, 0, sizeof(mempolicy))   # the task's (get_task_policy)
        self.pvma.vm_pgoff = index + mapping.i_ino
        pfn = core.swap.shmem_swapin(core.swap.ctx, entry, gfp, self.pvma, 0, major)
        if pfn == NO_PFN:
            err[0] = -ENOMEM
            return NO_PFN
        core.add_to_page_cache_locked(pfn, mapping, index, &shadow)   # over the value entry
        mapping.swapped -= 1
        self.shmem_recalc_inode(mapping, 0)
        core.swap.take_from_swap_cache(core.swap.ctx, pfn)
        core.set_page_dirty(pfn)
        core.swap.swap_free(core.swap.ctx, entry)
        self.swapins += 1
        return pfn

    cdef int shmem_free_swap(self, AddressSpace mapping, uint64_t index, int64_t e) except -1:
        """shmem_free_swap(): the swap value entry leaves i_pages (xa_cmpxchg to NULL; one
        nrexceptional less before v5.13) and free_swap_and_cache() of its entry (the swap_ops'
        swap_free: the shmem count goes, and a page of it still in the swap cache goes with it
        when nothing maps it).  The caller takes info->swapped down."""
        cdef MmCore core = self.core
        mapping.i_pages.erase(index)
        if mapping.keep_nrexceptional:
            mapping.nrexceptional -= 1
        core.xa_node_account(mapping, index, -1, -1, 0)
        if core.swap.swap_free != NULL:
            core.swap.swap_free(core.swap.ctx, radix_to_swp_entry(e))
        return 0

    cdef pfn_t shmem_getpage_noalloc(self, AddressSpace mapping, uint64_t index,
                                     int* err) except? 0xfffffffffffffffe:
        """shmem_getpage(SGP_READ / SGP_NOALLOC): the cached page at ``index``, a swapped one
        read back (shmem_swapin_page), NO_PFN for a hole (nothing allocated) or a failure
        (*err)."""
        cdef int64_t e
        cdef int major = 0
        if not mapping.i_pages.load(index, &e):
            return NO_PFN
        if e >= 0:
            return <pfn_t>e
        return self.shmem_swapin_page(mapping, index, e, self.core.gfp_user, &major, err)

    def getpage(self, AddressSpace mapping, uint64_t index):
        """shmem_getpage(SGP_NOALLOC) from Python (UFFDIO_CONTINUE's mcontinue_atomic_pte, tests):
        the page's pfn, a swapped page read back first; -1 for a hole, or a negative errno."""
        cdef int err = 0
        cdef pfn_t pfn = self.shmem_getpage_noalloc(mapping, index, &err)
        if pfn == NO_PFN:
            return err if err else -1
        return pfn

    def unuse(self, unsigned int type):
        """shmem_unuse() for swapoff of device ``type``, this superblock's part: every file
        with swapped pages (info->swapped, shmem_swaplist) has each swap entry of the device
        read back into its page cache (shmem_unuse_inode -> shmem_swapin_page, SGP_CACHE);
        one C loop over each file's i_pages.  Returns the pages brought back, or -ENOMEM when
        a page could not be had (what was brought back stays)."""
        cdef AddressSpace mapping
        cdef uint64_t index
        cdef int64_t e
        cdef int major, err
        cdef int64_t done = 0
        for mapping in list(self.mappings.values()):
            if mapping.swapped <= 0:
                continue
            index = 0
            while mapping.i_pages.find(index, 0xffffffffffffffff, &index, &e):
                if e < 0 and swp_type(radix_to_swp_entry(e)) == type:
                    major = err = 0
                    if self.shmem_swapin_page(mapping, index, e, self.core.gfp_user,
                                              &major, &err) == NO_PFN:
                        return err
                    done += 1
                if index == 0xffffffffffffffff:
                    break
                index += 1
        return done

    # -- the file operations' loops --------------------------------------------------------
    def read(self, AddressSpace mapping, uint64_t pos, uint64_t count, object buf):
        """shmem_file_read_iter(): up to ``count`` bytes at ``pos``, stopping at i_size; a hole
        reads as zeros and allocates nothing (SGP_READ); a swapped page is read back first
        (shmem_swapin_page).  Appends the bytes to ``buf`` (a bytearray) unless it is None.
        Returns the bytes read (a negative errno when the first page could not be read back)."""
        cdef uint64_t size = mapping.i_size, end, at, index, off, n
        cdef int64_t e
        cdef int err = 0, major = 0
        cdef dict content = self.pm.content
        if pos >= size or count == 0:
            return 0
        end = pos + count if pos + count < size else size
        at = pos
        while at < end:
            index = at >> PAGE_SHIFT
            off = at & (PAGE_SIZE - 1)
            n = PAGE_SIZE - off
            if n > end - at:
                n = end - at
            if mapping.i_pages.load(index, &e) and e < 0:      # SGP_READ: swapped, read it back
                if self.shmem_swapin_page(mapping, index, e, self.core.gfp_user, &major,
                                          &err) == NO_PFN:
                    return at - pos if at > pos else err
            if buf is not None:
                frame = None
                if mapping.i_pages.load(index, &e) and e >= 0 and \
                        self.pm.mem_map[<pfn_t>e].flags & (1ULL << PG_content):
                    frame = content.get(<pfn_t>e)   # (a stamped page may have no bytes)
                if frame is not None:
                    buf += (<bytearray>frame)[off:off + n]
                else:
                    buf += bytes(n)
            at += n
        return end - pos

    def write(self, AddressSpace mapping, uint64_t pos, bytes data, MmStruct mm=None):
        """shmem_file_write_iter() -> generic_perform_write(): per page, shmem_write_begin()
        (SGP_WRITE: the page is allocated if missing) and shmem_write_end() (the bytes, PG_dirty
        through set_page_dirty, i_size grown).  Returns ``(written, errno)``: what was written
        before the first failure and that failure's negative errno (0: none)."""
        cdef uint64_t done = 0, total = len(data), at, index, off, n
        cdef int64_t e
        cdef pfn_t pfn
        cdef int err = 0, major = 0
        cdef const unsigned char[:] src = data
        cdef bytearray frame
        cdef dict content = self.pm.content
        while done < total:
            at = pos + done
            index = at >> PAGE_SHIFT
            off = at & (PAGE_SIZE - 1)
            n = PAGE_SIZE - off
            if n > total - done:
                n = total - done
            if mapping.i_pages.load(index, &e) and e >= 0:
                pfn = <pfn_t>e
            elif mapping.i_pages.load(index, &e):   # a swap entry: shmem_swapin_page
                pfn = self.shmem_swapin_page(mapping, index, e, self.core.gfp_user, &major, &err)
                if pfn == NO_PFN:
                    break
            else:
                pfn = self.shmem_alloc_and_add(mapping, index, self.core.gfp_user, mm, &err)
                if pfn == NO_PFN:
                    break
            frame = content.get(pfn)
            if frame is None and data.count(b"\0", done, done + n) != n:
                frame = bytearray(PAGE_SIZE)    # zeros into a frame without bytes: nothing to keep
                content[pfn] = frame
                self.pm.mem_map[pfn].flags |= 1ULL << PG_content
            if frame is not None:
                frame[off:off + n] = src[done:done + n]
            self.core.set_page_dirty(pfn)
            done += n
            if pos + done > mapping.i_size:
                mapping.i_size = pos + done
        return done, err

    def fallocate(self, AddressSpace mapping, uint64_t start, uint64_t end):
        """shmem_fallocate() without a mode: every missing page of indices [start, end) is
        allocated (SGP_FALLOC; a swapped one is read back) and dirtied (set_page_dirty, so that pressure would swap rather
        than drop it).  On failure the pages this call allocated are freed again
        (shmem_undo_range(unfalloc)) and the negative errno is returned; 0 on success."""
        cdef uint64_t index = start
        cdef int64_t e
        cdef pfn_t pfn
        cdef int err = 0, major = 0
        cdef list added = []
        while index < end:
            if mapping.i_pages.load(index, &e) and e < 0:
                # SGP_FALLOC on a swapped page: read back (not this call's to undo)
                if self.shmem_swapin_page(mapping, index, e, self.core.gfp_user, &major,
                                          &err) != NO_PFN:
                    index += 1
                    continue
                for index in added:
                    if mapping.i_pages.load(index, &e) and e >= 0:
                        self.shmem_remove_page(mapping, index, <pfn_t>e)
                self.shmem_recalc_inode(mapping, 0)
                return err
            if not (mapping.i_pages.load(index, &e) and e >= 0):
                pfn = self.shmem_alloc_and_add(mapping, index, self.core.gfp_user, None, &err)
                if pfn == NO_PFN:
                    for index in added:     # shmem_undo_range(unfalloc)
                        if mapping.i_pages.load(index, &e) and e >= 0:
                            self.shmem_remove_page(mapping, index, <pfn_t>e)
                    self.shmem_recalc_inode(mapping, 0)
                    return err
                added.append(index)
                self.core.set_page_dirty(pfn)
            index += 1
        return 0

    def undo_range(self, AddressSpace mapping, uint64_t lstart, uint64_t lend=0xffffffffffffffff):
        """shmem_undo_range(inode, lstart, lend, false): every page wholly inside [lstart, lend]
        leaves the cache (truncate_inode_folio) and is freed; the bytes of a page only partly
        inside are zeroed (truncate_inode_partial_folio's folio_zero_range); the first batch's
        release drains this CPU's lru_add batch (lru_add_drain(), before the pages go, where the
        kernel drains before dropping the batch's references); every swap entry in the range
        is freed (shmem_free_swap: free_swap_and_cache, info->swapped down); then
        shmem_recalc_inode() gives back the blocks of every page the file lost (these, and any
        removed behind shmem's back before).  The caller has unmapped the range.  One C loop
        over xa_find.  Returns the pages removed."""
        cdef uint64_t start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT, end, index, removed = 0
        cdef uint64_t partial_start = lstart & (PAGE_SIZE - 1), partial_end
        cdef int64_t nr_swaps_freed = 0
        cdef int64_t e
        cdef XArray i_pages = mapping.i_pages
        if lend == 0xffffffffffffffff:
            end = 0xffffffffffffffff
            partial_end = 0
        else:
            end = (lend + 1) >> PAGE_SHIFT          # exclusive
            partial_end = (lend + 1) & (PAGE_SIZE - 1)
        if partial_start:                           # the page holding lstart keeps its head
            if lend != 0xffffffffffffffff and (lstart >> PAGE_SHIFT) == (lend >> PAGE_SHIFT):
                self._zero(mapping, lstart >> PAGE_SHIFT, partial_start, partial_end or PAGE_SIZE)
                return 0
            self._zero(mapping, lstart >> PAGE_SHIFT, partial_start, PAGE_SIZE)
        if partial_end and end >= start:            # the page holding lend keeps its tail
            self._zero(mapping, end, 0, partial_end)
        if end != 0xffffffffffffffff and end <= start:
            return 0
        if mapping_empty(mapping):
            self.shmem_recalc_inode(mapping, 0)
            return 0
        index = start
        while i_pages.find(index, end - 1 if end != 0xffffffffffffffff else end, &index, &e):
            if e >= 0:
                if not removed:
                    # __pagevec_release() / __folio_batch_release(): lru_add_drain() of this
                    # CPU, once, so a page still in its lru_add batch is freed with the others
                    self.pm.lru_add_drain()
                self.shmem_remove_page(mapping, index, <pfn_t>e)
                removed += 1
            else:                                   # a swap entry: shmem_free_swap
                self.shmem_free_swap(mapping, index, e)
                nr_swaps_freed += 1
            if index == 0xffffffffffffffff or (end != 0xffffffffffffffff and index >= end - 1):
                break
            index += 1
        mapping.swapped -= nr_swaps_freed           # info->swapped -= nr_swaps_freed
        self.shmem_recalc_inode(mapping, 0)
        return removed

    cdef int _zero(self, AddressSpace mapping, uint64_t index, uint64_t start,
                   uint64_t stop) except -1:
        """The core's folio_zero_range() of a cached page's bytes [start, stop) (nothing for a
        hole); a swapped page is read back first (shmem_undo_range's shmem_getpage(SGP_READ))."""
        cdef int err = 0
        cdef pfn_t pfn
        if stop <= start:
            return 0
        pfn = self.shmem_getpage_noalloc(mapping, index, &err)
        if pfn == NO_PFN:
            return 0
        return self.core.folio_zero_range(pfn, start, stop - start)
