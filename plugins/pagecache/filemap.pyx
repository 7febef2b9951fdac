# cython: language_level=3
"""The page cache of a disk-backed filesystem's regular files, in C.

:class:`Filemap` is the context of the typed ``address_space_operations`` (memsim/mm.pxd) it
installs on each regular file's mapping (``Filemap.install``); the core calls them on its fault
and reclaim paths, never Python per page:

* ``lookup`` — find_get_page(): the page at an index of ``i_pages`` (a shadow reads as none);
* ``alloc`` — a page-cache miss of the fault path: page_cache_alloc(), add_to_page_cache_lru()
  (the core's insertion, ``MmCore.add_to_page_cache_locked``; a shadow it replaces is a refault:
  workingset_refault() before the LRU add, unless the allocation is for a write, __GFP_WRITE)
  and ->readpage, which reads the page's block back from the file's :class:`BackingStore`
  (pgpgin + 8 sectors; a hole reads zeros without I/O);
* ``writepage`` — the page's bytes go to the backing store (pgpgout + 8 sectors), between
  set_page_writeback() and end_page_writeback(): the emulated disk completes a write at once,
  or, under reclaim's plug, when shrink_page_list() flushes it (``MmCore.submit_page_write``);
* ``delete_from_page_cache`` — __delete_from_page_cache() leaving reclaim's workingset shadow in
  ``i_pages`` (``MmCore.page_cache_delete_page``);
* ``map_pages`` — filemap_map_pages() for the core's fault-around: one loop over
  ``XArray.find`` in [start, end] (clipped to i_size), skipping value entries, locked and
  !uptodate pages and PTEs that are not none, mapping the rest with ``MmCore.do_set_pte``
  (prefault) and FK_AROUND; then filemap:mm_filemap_map_pages (v6.18);
* ``page_mkwrite`` — filemap_page_mkwrite(): VM_FAULT_NOPAGE for a page truncated away, else
  the page is dirtied;
* ``dirty_folio`` — filemap_dirty_folio() (v5.14 __set_page_dirty_nobuffers):
  ``MmCore.set_page_dirty``'s accounting (NR_FILE_DIRTY, NR_DIRTIED);
* ``migratepage`` — migrate_page_move_mapping(): the new page takes the old one's slot.

The buffered I/O of the filesystem's ``read_iter``/``write_iter`` are C loops here too:
:meth:`Filemap.read_iter` (generic_file_read_iter() -> filemap_read(): batches of cached pages,
a miss read in through the file's readahead window, mark_page_accessed(), the bytes copied,
filemap:mm_filemap_get_pages per batch) and :meth:`Filemap.write_iter`
(generic_perform_write(): pages found or created with __GFP_WRITE, the bytes copied, the page
dirtied).  Readahead is mm/readahead.c's: page_cache_sync_ra / page_cache_async_ra (v6.18) or
ondemand_readahead (v5.14) over a ``file_ra_state``, read through page_cache_ra_order(): large
folios of the ramping ra->order on a mapping with large folio support (v6.18 diskfs: one
multi-index entry each, ``Filemap.ra_alloc_folio``), else page_cache_ra_unbounded() with
order-0 pages; a PG_readahead marker; force_page_cache_ra() for FMODE_RANDOM, a file
without a window and POSIX_FADV_WILLNEED (:meth:`Filemap.force_page_cache_readahead`).
Every op takes a large folio whole from its head (a subpage's lookup is head + offset).
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport (pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PG_locked, PG_uptodate,
                            PG_dirty, PG_content, PG_reclaim, PG_writeback, GFP_WRITE_,
                            PAGE_MAPPING_ANON, PG_head, PG_tail, GFP_COMP_)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport (MmCore, MmStruct, VmArea, AddressSpace, XArray, vm_fault,
                        writeback_control, address_space_operations, FK_AROUND, FK_FILE_READ,
                        VM_FAULT_NOPAGE, XA_SLOTS, XA_SLOTS_SHIFT, compound_head_page, folio_nr,
                        mapping_max_folio_order, AS_FOLIO_ORDER_MAX, AS_FOLIO_ORDER_BITS,
                        MAX_PAGECACHE_ORDER)
from memsim.vmstat cimport count_vm_events, PGPGIN, PGPGOUT
from memsim.workingset cimport xa_is_value

cdef enum:
    SECTORS_PER_PAGE = 8                # PAGE_SIZE >> SECTOR_SHIFT: what submit_bio() counts
    FOLIO_BATCH_SIZE = 31               # a folio_batch: filemap_get_pages()' batch (v5.14: 15)
    PG_readahead = PG_reclaim           # the same bit (include/linux/page-flags.h)
    RA_CHUNK = 512                      # force_page_cache_ra(): 2 MiB / PAGE_SIZE a chunk

cdef uint64_t ULONG_MAX = 0xffffffffffffffffULL


# ----------------------------------------------------------------------------------------------
# the readahead window (mm/readahead.c)
# ----------------------------------------------------------------------------------------------

cdef inline uint64_t roundup_pow_of_two(uint64_t n) noexcept:
    cdef uint64_t r = 1
    while r < n:
        r <<= 1
    return r


cdef inline uint64_t get_init_ra_size(uint64_t size, uint64_t max_pages) noexcept:
    """get_init_ra_size(): the first window of a stream, from the request rounded up to a power
    of two: x4 when small (<= max/32), x2 when medium (<= max/4), else max."""
    cdef uint64_t newsize = roundup_pow_of_two(size)
    if newsize <= max_pages // 32:
        return newsize * 4
    if newsize <= max_pages // 4:
        return newsize * 2
    return max_pages


cdef inline uint64_t get_next_ra_size(file_ra_state* ra, uint64_t max_pages) noexcept:
    """get_next_ra_size(): the next window: x4 below max/16, x2 up to max/2, else max."""
    cdef uint64_t cur = ra.size
    if cur < max_pages // 16:
        return 4 * cur
    if cur <= max_pages // 2:
        return 2 * cur
    return max_pages


cdef inline unsigned int ilog2(uint64_t n) noexcept:
    cdef unsigned int r = 0
    while n > 1:
        n >>= 1
        r += 1
    return r


cdef inline unsigned int ffs0(uint64_t n) noexcept:
    """__ffs(): the lowest set bit's number (n != 0)."""
    cdef unsigned int r = 0
    while not (n & 1):
        n >>= 1
        r += 1
    return r


cdef inline pfn_t folio_head(Filemap fm, pfn_t pfn) noexcept:
    """page_folio(): the head of a large folio's page, else the page."""
    if fm.pm.mem_map[pfn].flags & (1ULL << PG_tail):
        return fm.pm.mem_map[pfn].compound_head
    return pfn


cdef inline bint page_cache_present(XArray i_pages, uint64_t index) noexcept:
    cdef int64_t e
    return i_pages.load(index, &e) and not xa_is_value(e)


cdef uint64_t page_cache_next_miss(XArray i_pages, uint64_t index, uint64_t max_scan) noexcept:
    """page_cache_next_miss(): the lowest index of [index, index + max_scan) with no page (a
    shadow is a miss); index + max_scan if there is none (0 on a wrap)."""
    cdef uint64_t i = 0
    while i < max_scan:
        if index + i < index:
            return 0
        if not page_cache_present(i_pages, index + i):
            return index + i
        i += 1
    return index + max_scan


cdef uint64_t page_cache_prev_miss(XArray i_pages, uint64_t index, uint64_t max_scan) noexcept:
    """page_cache_prev_miss(): the highest index of [index - max_scan + 1, index] with no
    page; index - max_scan if there is none, ULONG_MAX when the search passed index 0."""
    cdef uint64_t i = 0
    while i < max_scan:
        if i > index:
            return ULONG_MAX
        if not page_cache_present(i_pages, index - i):
            return index - i
        i += 1
    return index - max_scan if max_scan <= index else ULONG_MAX


cdef int ra_load(object ra, file_ra_state* st) except -1:
    """A File's FileRaState (memsim.vfs) into the C struct a read works on (None: no window)."""
    if ra is None:
        st.start = st.size = st.async_size = st.ra_pages = 0
        st.order = 0
        st.prev_pos = -1
        return 0
    st.start = ra.start
    st.size = ra.size
    st.async_size = ra.async_size
    st.ra_pages = ra.ra_pages
    st.order = ra.order
    st.prev_pos = ra.prev_pos
    return 0


cdef int ra_store(file_ra_state* st, object ra) except -1:
    if ra is None:
        return 0
    ra.start = st.start
    ra.size = st.size
    ra.async_size = st.async_size
    ra.order = st.order
    ra.prev_pos = st.prev_pos
    return 0


def mapping_set_max_folio_order(AddressSpace mapping, unsigned int order):
    """mapping_set_folio_order_range(mapping, 0, order): the largest folio the mapping's page
    cache takes (0: no large folio support)."""
    if order > MAX_PAGECACHE_ORDER:
        raise ValueError(f"folio order {order} is above MAX_PAGECACHE_ORDER ({MAX_PAGECACHE_ORDER})")
    mapping.flags = (mapping.flags & ~(((1UL << AS_FOLIO_ORDER_BITS) - 1) << AS_FOLIO_ORDER_MAX)) \
        | (<unsigned long>order << AS_FOLIO_ORDER_MAX)


def mapping_max_order(AddressSpace mapping):
    """mapping_max_folio_order() (tests)."""
    return mapping_max_folio_order(mapping.flags)


cdef class BackingStore:
    """The blocks of one file on the emulated disk (see filemap.pxd)."""

    def __init__(self):
        self.blocks = {}

    def truncate(self, uint64_t size):
        """The blocks past ``size`` go (ext4_truncate() freeing them) and the tail of a partial
        last block is zeroed (block_truncate_page())."""
        cdef uint64_t first = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        for index in [i for i in self.blocks if i >= first]:
            del self.blocks[index]
        self._zero_tail(size)

    def punch_hole(self, uint64_t start, uint64_t end):
        """FALLOC_FL_PUNCH_HOLE of bytes [start, end): the whole blocks inside go (a hole), the
        partial ones at either end get zeros there."""
        cdef uint64_t first = (start + PAGE_SIZE - 1) >> PAGE_SHIFT, last = end >> PAGE_SHIFT
        for index in [i for i in self.blocks if first <= i < last]:
            del self.blocks[index]
        self._zero_range(start, min(end, first << PAGE_SHIFT))
        if end > (last << PAGE_SHIFT) and last >= first:
            self._zero_range(last << PAGE_SHIFT, end)

    def _zero_tail(self, uint64_t size):
        if size & (PAGE_SIZE - 1):
            self._zero_range(size, (size | (PAGE_SIZE - 1)) + 1)

    def _zero_range(self, uint64_t start, uint64_t end):
        """Zero bytes [start, end) of one block."""
        cdef uint64_t index = start >> PAGE_SHIFT, off = start & (PAGE_SIZE - 1)
        if end <= start:
            return
        block = self.blocks.get(index)
        if not block:
            return
        data = bytearray(block)
        data[off:off + (end - start)] = bytes(end - start)
        self.blocks[index] = bytes(data)

    def read(self, uint64_t index):
        """The bytes of block ``index`` (4096 of them) or None for a hole."""
        block = self.blocks.get(index)
        if block is None:
            return None
        return block if block else bytes(PAGE_SIZE)

    def __len__(self):
        return len(self.blocks)


# ----------------------------------------------------------------------------------------------
# address_space_operations
# ----------------------------------------------------------------------------------------------

cdef pfn_t _lookup(void* ctx, AddressSpace mapping, uint64_t index) except? 0xfffffffffffffffe:
    """find_get_page() (filemap_get_entry without FGP_ENTRY): the page, or NO_PFN for an empty
    slot or a shadow."""
    cdef int64_t e
    if not mapping.i_pages.load(index, &e) or xa_is_value(e):
        return NO_PFN
    return <pfn_t>e


cdef pfn_t _alloc(void* ctx, AddressSpace mapping, uint64_t index, gfp_t gfp, MmStruct mm,
                  int* major) except? 0xfffffffffffffffe:
    """filemap_fault()'s miss: page_cache_ra_unbounded() (or __filemap_get_folio(FGP_CREAT))
    reads the page in: a major fault."""
    cdef Filemap fm = <Filemap>ctx
    cdef pfn_t pfn = fm.add_to_page_cache_lru(mapping, index, gfp, mm)
    if pfn != NO_PFN:
        fm.readpage(fm.store_for(mapping), pfn, index)
        major[0] = 1
    return pfn


cdef int _migratepage(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                      pfn_t new) except? -1000000:
    """migrate_page_move_mapping(): ``new`` takes ``old``'s slot (the counts stay)."""
    cdef int64_t e
    if (<Filemap>ctx).pm.mem_map[old].flags & ((1ULL << PG_head) | (1ULL << PG_tail)):
        return -16                          # a large folio: memsim does not migrate it (-EBUSY)
    if not mapping.i_pages.load(index, &e) or e != <int64_t>old:
        return -16                          # -EBUSY (-EAGAIN in the kernel: it moved meanwhile)
    mapping.i_pages.store(index, <int64_t>new)
    return 0


cdef int _writepage(void* ctx, AddressSpace mapping, pfn_t pfn,
                    writeback_control* wbc) except? -1000000:
    return (<Filemap>ctx).writepage(mapping, pfn)


cdef int _delete_from_page_cache(void* ctx, AddressSpace mapping, pfn_t pfn,
                                 uint64_t shadow) except -1:
    """__delete_from_page_cache(page, shadow) -> page_cache_delete(): the shadow (0: none) takes
    the page's slot; the core undoes NR_FILE_PAGES and page->mapping."""
    cdef Filemap fm = <Filemap>ctx
    return fm.core.page_cache_delete_page(mapping, fm.pm.mem_map[pfn].index, pfn, shadow)


cdef int _map_pages(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t start_pgoff,
                    uint64_t end_pgoff) except -1:
    return filemap_map_pages(<Filemap>ctx, mm, vma, vmf, start_pgoff, end_pgoff)


cdef int filemap_map_pages(Filemap fm, MmStruct mm, VmArea vma, vm_fault* vmf,
                           uint64_t start_pgoff, uint64_t end_pgoff) except -1:
    """filemap_map_pages(): map the uptodate, unlocked cached pages of [start_pgoff, end_pgoff]
    (clipped to the last page of i_size) at their PTEs if none; VM_FAULT_NOPAGE when the
    faulting page itself was mapped (counted as the file read fault it is), every other page a
    FK_AROUND.  mm_filemap_map_pages fires once pages were looked at (next_uptodate_folio
    found one), with the clipped range.  Generic over the mapping (shmem's a_ops call it too,
    with a Filemap that only gives the core and the event slot).  The walk reads the XArray's
    slots in place (xas_next_entry; a multi-index entry's slots hold its folio's pages, head +
    offset); a range past its dense table goes through ``XArray.find``."""
    cdef AddressSpace mapping = vma.vm_file
    cdef XArray i_pages = mapping.i_pages
    cdef uint64_t index = start_pgoff, end = end_pgoff, file_end, stop, v
    cdef uint64_t* chunk
    cdef int64_t e
    cdef int ret = 0
    cdef bint found = False
    if mapping.i_size == 0:
        return 0
    file_end = ((mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1
    if end > file_end:
        end = file_end
    if index > end:
        return 0
    if (end >> XA_SLOTS_SHIFT) < i_pages.nr_chunks:     # (a large folio's slots hold its pages)
        while index <= end:
            chunk = i_pages.chunks[index >> XA_SLOTS_SHIFT]
            stop = index | (XA_SLOTS - 1)
            if stop > end:
                stop = end
            if chunk != NULL:
                while index <= stop:
                    v = chunk[index & (XA_SLOTS - 1)]
                    if v != 0 and not (v >> 63):            # a page, not a value entry
                        if map_one(fm, mm, vma, vmf, index, <pfn_t>(v - 1), &found, &ret) < 0:
                            return -1
                    index += 1
            index = stop + 1
    else:
        while i_pages.find(index, end, &index, &e):
            if not xa_is_value(e):
                map_one(fm, mm, vma, vmf, index, <pfn_t>e, &found, &ret)
            if index >= end:
                break
            index += 1
    if found:
        fm.emit_range(fm.ev_map_pages, mapping, start_pgoff, end)
    return ret


cdef inline int map_one(Filemap fm, MmStruct mm, VmArea vma, vm_fault* vmf, uint64_t index,
                        pfn_t pfn, bint* found, int* ret) except -1:
    """filemap_map_pages()' step for one cached page: an uptodate, unlocked page goes at its PTE
    if that is none (do_set_pte: the faulting address's is the fault itself, the others
    FK_AROUND)."""
    cdef uint64_t* pte = vmf.pte + (<int64_t>index - <int64_t>vmf.pgoff)
    cdef uint64_t addr
    cdef page* p
    if pte[0] != 0 and found[0]:
        return 0                            # mapped already: nothing to look at
    p = compound_head_page(fm.pm, pfn)      # the folio's flags
    if not (p.flags & (1ULL << PG_uptodate)) or (p.flags & (1ULL << PG_locked)):
        return 0
    found[0] = True
    if pte[0] != 0:
        return 0
    addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
    fm.core.do_set_pte(mm, vma, addr, pte, pfn, False, addr != vmf.address)
    if addr == vmf.address:
        ret[0] = VM_FAULT_NOPAGE
        fm.core.fault_counts[FK_FILE_READ] += 1
    else:
        fm.core.fault_counts[FK_AROUND] += 1
    return 0


cdef int _page_mkwrite(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    """filemap_page_mkwrite(): a page that truncation took out of the file meanwhile
    (page->mapping is no longer this file's) is VM_FAULT_NOPAGE, the fault retried; else the
    page is dirtied (set_page_dirty) before it becomes writable."""
    cdef Filemap fm = <Filemap>ctx
    cdef AddressSpace mapping = vma.vm_file
    cdef page* p = compound_head_page(fm.pm, vmf.page)     # the folio: a write dirties it whole
    if p.mapping != mapping.addr or vmf.pgoff >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
        return VM_FAULT_NOPAGE
    fm.dirty_folio(mapping, folio_head(fm, vmf.page))
    return 0


cdef int _dirty_folio(void* ctx, AddressSpace mapping, pfn_t pfn) except -1:
    return (<Filemap>ctx).dirty_folio(mapping, pfn)


cdef class Filemap:
    """The page cache of one filesystem's regular files: the a_ops context (see the module)."""

    def __init__(self, MmCore core, PhysMem pm):
        self.core = core
        self.pm = pm
        self.stores = {}
        self.ev_map_pages = -1
        self.ev_get_pages = -1
        self.ra_same_page_end = False
        self.max_folio_order = 0
        self.aops.lookup = _lookup
        self.aops.alloc = _alloc
        self.aops.migratepage = _migratepage
        self.aops.writepage = _writepage
        self.aops.delete_from_page_cache = _delete_from_page_cache
        self.aops.map_pages = _map_pages
        self.aops.page_mkwrite = _page_mkwrite
        self.aops.dirty_folio = _dirty_folio
        self.aops.ctx = <void*>self

    def bind_events(self, events):
        """Find the trace slots of filemap:mm_filemap_map_pages and mm_filemap_get_pages (plugin
        events emitted from C); an event not declared (or no registry) is not emitted."""
        for name in ("map_pages", "get_pages"):
            slot = -1
            if events is not None:
                try:
                    slot = events.slot_of(f"filemap:mm_filemap_{name}")
                except KeyError:
                    slot = -1
            if name == "map_pages":
                self.ev_map_pages = slot
            else:
                self.ev_get_pages = slot

    def install(self, AddressSpace mapping):
        """Give a regular file's mapping these a_ops and an empty backing store (a new file);
        with ``max_folio_order`` (v6.18: MAX_PAGECACHE_ORDER) its page cache takes large folios
        (mapping_set_large_folios(): the max folio order in ``mapping.flags``)."""
        mapping.a_ops = &self.aops
        mapping.a_ops_owner = self
        mapping_set_max_folio_order(mapping, self.max_folio_order)
        self.stores[mapping] = BackingStore()
        self.last_mapping = None

    def forget(self, AddressSpace mapping):
        """The file is gone (evict): its blocks are freed."""
        self.stores.pop(mapping, None)
        self.last_mapping = None
        self.last_store = None

    cdef BackingStore store_for(self, AddressSpace mapping):
        """The file's :class:`BackingStore` (None: not one of these files), remembered for the
        next call: a fault or read loop asks for the same file page after page."""
        if mapping is not self.last_mapping:
            self.last_store = self.stores.get(mapping)
            self.last_mapping = mapping
        return self.last_store

    def store_of(self, AddressSpace mapping):
        """The file's :class:`BackingStore`."""
        return self.stores[mapping]

    cdef void emit_range(self, int slot, AddressSpace mapping, uint64_t first,
                         uint64_t last) noexcept:
        """mm_filemap_map_pages / mm_filemap_get_pages: i_ino, s_dev, index, last_index."""
        cdef uint64_t vals[4]
        if slot < 0 or not self.pm.tb.core[slot].enabled:
            return
        vals[0] = mapping.i_ino
        vals[1] = mapping.s_dev
        vals[2] = first
        vals[3] = last
        try:
            self.pm.tb.emit(slot, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        except Exception:
            pass

    # -- allocation and the disk ----------------------------------------------------------
    cdef pfn_t page_cache_alloc(self, gfp_t gfp) except? 0xfffffffffffffffe:
        """__page_cache_alloc(): a read's page comes from readahead when the profile says how
        (``MmCore.gfp_readahead``: v6.18's readahead_gfp_mask(); if that fails, the mapping's
        gfp), a write's (__GFP_WRITE) or v5.14's with the mapping's gfp."""
        cdef pfn_t pfn
        if self.core.gfp_readahead and not (gfp & GFP_WRITE_):
            pfn = self.pm.alloc_pages(self.core.gfp_readahead, 0, -1)
            if pfn != NO_PFN:
                return pfn
        return self.pm.alloc_pages(gfp, 0, -1)

    cdef pfn_t add_to_page_cache_lru(self, AddressSpace mapping, uint64_t index, gfp_t gfp,
                                     MmStruct mm) except? 0xfffffffffffffffe:
        """page_cache_alloc() + add_to_page_cache_lru() (v6.18 filemap_add_folio()): a new page,
        charged (mem_cgroup_charge), put in i_pages by the core (__add_to_page_cache_locked:
        page->mapping, NR_FILE_PAGES, the add event); a shadow it replaced is a refault
        (workingset_refault(), which may activate the page) unless the allocation is for a write
        (__GFP_WRITE); then lru_cache_add().  NO_PFN when memory ran out."""
        cdef pfn_t pfn = self.page_cache_alloc(gfp)
        cdef int err
        if pfn == NO_PFN:
            return NO_PFN
        err = self.filemap_add_folio(mapping, pfn, index, gfp, mm)
        if err == -17:                      # -EEXIST: the caller looked the index up first
            raise RuntimeError(f"{mapping!r}: index {index} is cached already")
        return NO_PFN if err else pfn

    cdef int filemap_add_folio(self, AddressSpace mapping, pfn_t pfn, uint64_t index, gfp_t gfp,
                               MmStruct mm) except? -1000000:
        """filemap_add_folio(): the new folio ``pfn`` (order 0 or a large one) charged
        (mem_cgroup_charge), put in i_pages by the core (__filemap_add_folio: one multi-index
        entry for a large folio; page->mapping, NR_FILE_PAGES by its pages, one add event); a
        shadow it replaced is a refault (workingset_refault(), which may activate it) unless the
        allocation is for a write (__GFP_WRITE); then folio_add_lru().  On failure the folio is
        freed: -ENOMEM (charge) or -EEXIST (a page is cached in its range)."""
        cdef uint64_t shadow = 0
        cdef int err
        cdef page* p = &self.pm.mem_map[pfn]
        if p.flags & (1ULL << PG_head) and self.pm.memcg.charge != NULL:
            err = self.pm.memcg.charge(self.pm.memcg.ctx, pfn, p.compound_order, gfp, mm)
        else:
            err = self.core.charge(pfn, mm, gfp)
        if err != 0:
            self.pm.put_page(pfn)
            return -12
        err = self.core.add_to_page_cache_locked(pfn, mapping, index, &shadow)
        if err != 0:
            self.pm.put_page(pfn)
            return err
        if shadow and not (gfp & GFP_WRITE_):
            self.core.workingset.workingset_refault(pfn, shadow)
        self.pm.lru_cache_add(pfn)
        return 0

    cdef int readpage(self, BackingStore store, pfn_t pfn, uint64_t index) except -1:
        """->readpage (mpage_readpage; v6.18 ->read_folio / ->readahead) from the file's
        ``store``: the block of each page of the folio ``pfn`` at ``index`` is read into it
        (pgpgin + 8 sectors a block); a hole is zeroed without I/O.  PG_uptodate on the
        folio."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef int64_t nr = folio_nr(p), i
        if store is not None and store.blocks:
            for i in range(nr):
                block = store.blocks.get(index + i)
                if block is not None:
                    count_vm_events(self.pm.vs, PGPGIN, SECTORS_PER_PAGE)
                    self.nr_readpage += 1
                    if block:
                        self.pm.content[pfn + i] = bytearray(block)
                        self.pm.mem_map[pfn + i].flags |= 1ULL << PG_content
        p.flags |= 1ULL << PG_uptodate
        return 0

    cdef int writepage(self, AddressSpace mapping, pfn_t pfn) except -1:
        """->writepage (block_write_full_page() -> submit_bh): set_page_writeback(), the page's
        bytes to its block (the part past i_size zeroed; a page wholly past i_size, truncated
        meanwhile, is not written), pgpgout + 8 sectors, then submit_bio()
        (``MmCore.submit_page_write``): the emulated disk completes the write
        (end_page_writeback) at once, or when the plug it waits in is flushed (reclaim's).  The
        page was cleaned by the caller (clear_page_dirty_for_io)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t index = p.index, tail, i
        cdef uint64_t nr = <uint64_t>folio_nr(p)
        cdef uint64_t eof = (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
        cdef BackingStore store = self.store_for(mapping)
        self.core.set_page_writeback(pfn)
        if store is not None:
            for i in range(nr):             # a large folio: each of its blocks inside i_size
                if index + i >= eof:
                    break
                data = self.pm.content.get(pfn + i) if self.pm.mem_map[pfn + i].flags & (1ULL << PG_content) else None
                if data is not None:            # (a page's stamp does not go to the disk)
                    tail = mapping.i_size - ((index + i) << PAGE_SHIFT)
                    if tail < PAGE_SIZE:
                        data = bytearray(data)
                        data[tail:] = bytes(PAGE_SIZE - tail)
                    store.blocks[index + i] = bytes(data)
                else:
                    store.blocks[index + i] = b""
                count_vm_events(self.pm.vs, PGPGOUT, SECTORS_PER_PAGE)
                self.nr_writepage += 1
        self.core.submit_page_write(pfn)
        return 0

    cdef int dirty_folio(self, AddressSpace mapping, pfn_t pfn) except -1:
        """filemap_dirty_folio() (v5.14 __set_page_dirty_nobuffers): PG_dirty with the
        accounting of account_page_dirtied (MmCore.set_page_dirty); the inode's I_DIRTY_PAGES
        needs no state here (sync walks every inode).  A page of a large folio dirties the
        whole folio.  1 if the folio was newly dirtied."""
        if compound_head_page(self.pm, pfn).flags & (1ULL << PG_dirty):
            return 0
        self.core.set_page_dirty(pfn)
        return 1

    # -- readahead (mm/readahead.c) ----------------------------------------------------------
    cdef int64_t ra_unbounded(self, AddressSpace mapping, uint64_t index, uint64_t nr_to_read,
                              uint64_t lookahead_size, MmStruct mm) except -1:
        """page_cache_ra_unbounded(): every page of [index, index + nr_to_read) not cached is
        allocated (readahead_gfp_mask: ``page_cache_alloc``), added to i_pages and the LRU (a
        shadow there is a refault) and read in; the page ``nr_to_read - lookahead_size`` into
        the range gets PG_readahead, the marker the next async readahead starts at (none when
        lookahead_size is 0 or larger than the range).  A cached page is skipped (its batch of
        reads is submitted: read_pages()); memory running out ends the readahead.  The
        emulated disk completes each read at once.  Returns the pages added."""
        cdef uint64_t i, mark = ULONG_MAX
        cdef int64_t added = 0
        cdef pfn_t pfn
        cdef XArray i_pages = mapping.i_pages
        cdef BackingStore store = self.store_for(mapping)
        if lookahead_size <= nr_to_read:
            mark = nr_to_read - lookahead_size
        for i in range(nr_to_read):
            if page_cache_present(i_pages, index + i):
                continue
            pfn = self.add_to_page_cache_lru(mapping, index + i, self.core.gfp_user, mm)
            if pfn == NO_PFN:
                break
            if i == mark:
                self.pm.mem_map[pfn].flags |= 1ULL << PG_readahead
            self.readpage(store, pfn, index + i)
            added += 1
        self.nr_ra_pages += added
        return added

    cdef int64_t do_page_cache_ra(self, AddressSpace mapping, uint64_t index, uint64_t nr_to_read,
                                  uint64_t lookahead_size, MmStruct mm) except -1:
        """do_page_cache_ra(): readahead clipped to the page holding the file's last byte; the
        lookahead stays, so the marker of a clipped window is ``lookahead_size`` pages before
        its clipped end, or none if the window is shorter than that (both kernels; the live
        6.18 kernel's page_cache_ra_unbounded event shows the lookahead unchanged:
        tests/pagecache/probes/ra_probe.txt)."""
        cdef uint64_t isize = mapping.i_size, end_index
        if isize == 0:
            return 0
        end_index = (isize - 1) >> PAGE_SHIFT
        if index > end_index:
            return 0
        if nr_to_read > end_index - index:
            nr_to_read = end_index - index + 1
        return self.ra_unbounded(mapping, index, nr_to_read, lookahead_size, mm)

    cdef int64_t force_page_cache_ra(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                                     uint64_t nr_to_read, MmStruct mm) except -1:
        """force_page_cache_ra(): read ``nr_to_read`` pages at ``index`` whatever the window,
        at most max(bdi->io_pages, ra_pages), in 2 MiB chunks without markers."""
        cdef uint64_t max_pages = self.io_pages if self.io_pages > ra.ra_pages else ra.ra_pages
        cdef uint64_t chunk
        cdef int64_t added = 0
        if nr_to_read > max_pages:
            nr_to_read = max_pages
        while nr_to_read:
            chunk = RA_CHUNK if nr_to_read > RA_CHUNK else nr_to_read
            added += self.do_page_cache_ra(mapping, index, chunk, 0, mm)
            index += chunk
            nr_to_read -= chunk
        return added

    cdef inline uint64_t ra_max_pages(self, file_ra_state* ra, uint64_t req_size) noexcept:
        """ractl_max_pages(): ra_pages, or up to bdi->io_pages for a request larger than it."""
        cdef uint64_t max_pages = ra.ra_pages
        if req_size > max_pages and self.io_pages > max_pages:
            max_pages = req_size if req_size < self.io_pages else self.io_pages
        return max_pages

    cdef int page_cache_sync_ra(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                                uint64_t req_count, bint random, MmStruct mm) except -1:
        """page_cache_sync_readahead() on a read miss at ``index`` of ``req_count`` pages.
        Without a window (ra_pages 0) one page is read, and a FMODE_RANDOM file reads just the
        request (force_page_cache_ra).  v5.14: ondemand_readahead().  v6.18
        (page_cache_sync_ra): at the file's start, for a request larger than the window or one
        continuing the last read (index - prev_pos's page <= 1) a new window of
        get_init_ra_size() with async_size its part past the request (half of it when none);
        otherwise the pages cached just before ``index`` (page_cache_prev_miss) say whether a
        stream was there: not more than the request, a plain read of it; else a window of
        that history (doubled if it reaches the file's start) plus the request, async_size 1.
        The window is read by page_cache_ra_order(), which reads order-0 pages here (diskfs
        has no large folio support)."""
        cdef uint64_t max_pages, prev_index, miss, contig
        if ra.ra_pages == 0:
            req_count = 1
            random = True
        if random:
            self.force_page_cache_ra(mapping, ra, index, req_count, mm)
            return 0
        if self.ra_ondemand:
            return self.ondemand_readahead(mapping, ra, False, index, req_count, mm)
        max_pages = self.ra_max_pages(ra, req_count)
        prev_index = (<uint64_t>ra.prev_pos) >> PAGE_SHIFT
        if index == 0 or req_count > max_pages or index - prev_index <= 1:
            ra.start = index
            ra.size = get_init_ra_size(req_count, max_pages)
            ra.async_size = ra.size - req_count if ra.size > req_count else ra.size >> 1
        else:
            miss = page_cache_prev_miss(mapping.i_pages, index - 1, max_pages)
            contig = index - miss - 1
            if contig <= req_count:
                self.do_page_cache_ra(mapping, index, req_count, 0, mm)
                return 0
            if miss == ULONG_MAX:
                contig *= 2
            ra.start = index
            ra.size = contig + req_count if contig + req_count < max_pages else max_pages
            ra.async_size = 1
        ra.order = 0
        self.page_cache_ra_order(mapping, ra, mm)
        return 0

    cdef int page_cache_ra_order(self, AddressSpace mapping, file_ra_state* ra,
                                 MmStruct mm) except -1:
        """page_cache_ra_order() (v6.18) of the window [ra.start, ra.start + ra.size).  A
        mapping without large folio support (mapping_max_folio_order 0: v5.14, a switched-off
        filesystem) reads it as order-0 pages (ra->order back to 0, do_page_cache_ra).  Else
        the window, clipped to the page of i_size's last byte, is read as
        folios of ``new_order`` = min(ra->order, the mapping's max order, ilog2(ra->size)),
        stored back in ra->order -- each folio's order lowered to its index's alignment
        (__ffs) and so that it does not pass the window's end -- from ra_alloc_folio(); the
        folio holding ``mark`` (ra.start + size - async_size, rounded down to the folio)
        gets PG_readahead.  A folio that cannot be allocated, charged or added (a page cached
        in its range) ends the loop, and the rest of the window is read by do_page_cache_ra()
        (order-0 pages around what is cached)."""
        cdef uint64_t start = ra.start, index = start, limit, mark, isize = mapping.i_size
        cdef unsigned int new_order, order, max_order = mapping_max_folio_order(mapping.flags)
        cdef int err = 0
        if max_order == 0:
            ra.order = 0
            self.do_page_cache_ra(mapping, ra.start, ra.size, ra.async_size, mm)
            return 0
        if isize == 0 or ra.size == 0:
            return 0
        limit = (isize - 1) >> PAGE_SHIFT
        if limit > index + ra.size - 1:
            limit = index + ra.size - 1
        mark = index + ra.size - ra.async_size  # set even past EOF's page (6.18; probes "short b")
        new_order = ra.order if ra.order < max_order else max_order
        if new_order > ilog2(ra.size):
            new_order = ilog2(ra.size)
        ra.order = new_order
        while index <= limit:
            order = new_order
            if index & ((1ULL << order) - 1):
                order = ffs0(index)         # align with smaller folios
            while order > 0 and index + (1ULL << order) - 1 > limit:
                order -= 1                  # no folio past the window's end
            err = self.ra_alloc_folio(mapping, index, mark, order, mm)
            if err:
                break
            index += 1ULL << order
        if not err:
            return 0
        if ra.size > index - start:         # the fallback: what is left, order 0
            self.do_page_cache_ra(mapping, index, ra.size - (index - start), ra.async_size, mm)
        return 0

    cdef int ra_alloc_folio(self, AddressSpace mapping, uint64_t index, uint64_t mark,
                            unsigned int order, MmStruct mm) except? -1000000:
        """ra_alloc_folio(): a folio of ``order`` (a compound page, __GFP_COMP, from
        readahead_gfp_mask) at ``index``, PG_readahead if it holds ``mark`` (rounded down to its
        size), added to the page cache and the LRU (filemap_add_folio) and read in; -ENOMEM
        when no folio of that order is free, -EEXIST when a page is cached in its range."""
        cdef gfp_t gfp = self.core.gfp_readahead if self.core.gfp_readahead else self.core.gfp_user
        cdef pfn_t pfn
        cdef int err
        if order:
            pfn = self.pm.alloc_pages(gfp | GFP_COMP_, order, -1)
        else:
            pfn = self.page_cache_alloc(self.core.gfp_user)
        if pfn == NO_PFN:
            return -12
        if mark != ULONG_MAX and index == (mark & ~((1ULL << order) - 1)):
            self.pm.mem_map[pfn].flags |= 1ULL << PG_readahead
        err = self.filemap_add_folio(mapping, pfn, index, self.core.gfp_user, mm)
        if err:
            return err
        self.readpage(self.store_for(mapping), pfn, index)
        self.nr_ra_pages += 1ULL << order
        return 0

    cdef int page_cache_async_ra(self, AddressSpace mapping, file_ra_state* ra, pfn_t pfn,
                                 uint64_t index, uint64_t req_count, MmStruct mm) except -1:
        """page_cache_async_readahead(): the read met the PG_readahead page ``pfn`` at
        ``index``: nothing without a window or while the page is under writeback (the bit is
        PG_reclaim then); else the marker is cleared and the next window read: v5.14
        ondemand_readahead(hit_marker); v6.18 (page_cache_async_ra): at the expected marker
        the window moves on by its size and grows (get_next_ra_size, never shrinking), else
        (another stream moved it) the window is rebuilt from the cached run after ``index``
        (page_cache_next_miss); then ra->order += 2 and the window's end is rounded down to
        that order's alignment (at most the alignment of max_pages), async_size = size."""
        cdef uint64_t max_pages, expected, start, end, aligned_end, align, nxt
        cdef unsigned int shift
        cdef page* p = &self.pm.mem_map[pfn]
        if ra.ra_pages == 0:
            return 0
        if p.flags & (1ULL << PG_writeback):
            return 0
        p.flags &= ~(1ULL << PG_readahead)
        if self.ra_ondemand:
            return self.ondemand_readahead(mapping, ra, True, index, req_count, mm)
        max_pages = self.ra_max_pages(ra, req_count)
        # the marker's expected place, rounded down to the marked folio (v6.18)
        expected = (ra.start + ra.size - ra.async_size) & ~(<uint64_t>folio_nr(p) - 1)
        if index == expected:
            ra.start += ra.size
            nxt = get_next_ra_size(ra, max_pages)
            if nxt > ra.size:
                ra.size = nxt
        else:
            start = page_cache_next_miss(mapping.i_pages, index + 1, max_pages)
            if start == 0 or start - index > max_pages:
                return 0
            ra.start = start
            ra.size = start - index + req_count
            ra.size = get_next_ra_size(ra, max_pages)
        ra.order += 2
        shift = 0                           # ffs(max_pages) - 1
        while shift < 63 and not (max_pages >> shift) & 1:
            shift += 1
        align = 1ULL << (ra.order if ra.order < shift else shift)
        end = ra.start + ra.size
        aligned_end = end & ~(align - 1)
        if aligned_end > ra.start:
            ra.size -= end - aligned_end
        ra.async_size = ra.size
        self.page_cache_ra_order(mapping, ra, mm)
        return 0

    cdef int ondemand_readahead(self, AddressSpace mapping, file_ra_state* ra, bint hit_marker,
                                uint64_t index, uint64_t req_size, MmStruct mm) except -1:
        """ondemand_readahead() (v5.14): at the file's start a new window; at the expected
        index (the marker or the window's end) the window moves on and grows; a marker hit
        without that state rebuilds the window from the cached run after ``index``; an
        oversized read or one continuing the last (prev_pos) starts a new window; else
        try_context_readahead() looks at the pages cached before ``index``, and failing that
        the request alone is read.  At ``readit`` a window that starts at ``index`` and is all
        async (it would hit its own marker at once) takes the next window in at once."""
        cdef uint64_t max_pages = self.ra_max_pages(ra, req_size)
        cdef uint64_t prev_index, start, size, head
        if index == 0:
            pass                            # initial_readahead
        elif index == ra.start + ra.size - ra.async_size or index == ra.start + ra.size:
            ra.start += ra.size
            ra.size = get_next_ra_size(ra, max_pages)
            ra.async_size = ra.size
            return self.ondemand_readit(mapping, ra, index, max_pages, mm)
        elif hit_marker:
            start = page_cache_next_miss(mapping.i_pages, index + 1, max_pages)
            if start == 0 or start - index > max_pages:
                return 0
            ra.start = start
            ra.size = start - index + req_size
            ra.size = get_next_ra_size(ra, max_pages)
            ra.async_size = ra.size
            return self.ondemand_readit(mapping, ra, index, max_pages, mm)
        elif req_size > max_pages:
            pass
        else:
            prev_index = (<uint64_t>ra.prev_pos) >> PAGE_SHIFT
            if not index - prev_index <= 1:
                # try_context_readahead(): count_history_pages()
                head = page_cache_prev_miss(mapping.i_pages, index - 1, max_pages)
                size = index - 1 - head
                if size <= req_size:
                    self.do_page_cache_ra(mapping, index, req_size, 0, mm)
                    return 0
                if size >= index:
                    size *= 2
                ra.start = index
                ra.size = size + req_size if size + req_size < max_pages else max_pages
                ra.async_size = 1
                return self.ondemand_readit(mapping, ra, index, max_pages, mm)
        ra.start = index                    # initial_readahead
        ra.size = get_init_ra_size(req_size, max_pages)
        ra.async_size = ra.size - req_size if ra.size > req_size else ra.size
        return self.ondemand_readit(mapping, ra, index, max_pages, mm)

    cdef int ondemand_readit(self, AddressSpace mapping, file_ra_state* ra, uint64_t index,
                             uint64_t max_pages, MmStruct mm) except -1:
        cdef uint64_t add_pages
        if index == ra.start and ra.size == ra.async_size:
            add_pages = get_next_ra_size(ra, max_pages)
            if ra.size + add_pages <= max_pages:
                ra.async_size = add_pages
                ra.size += add_pages
            else:
                ra.size = max_pages
                ra.async_size = max_pages >> 1
        self.do_page_cache_ra(mapping, ra.start, ra.size, ra.async_size, mm)
        return 0

    def force_page_cache_readahead(self, AddressSpace mapping, ra, uint64_t index,
                                   uint64_t nr_to_read, MmStruct mm=None):
        """force_page_cache_readahead() (POSIX_FADV_WILLNEED, readahead(2)): ``nr_to_read``
        pages at ``index`` read in, bounded by max(io_pages, ``ra.ra_pages``) (``ra``: the
        file's :class:`memsim.vfs.FileRaState`).  Returns the pages added."""
        cdef file_ra_state st
        ra_load(ra, &st)
        return self.force_page_cache_ra(mapping, &st, index, nr_to_read, mm)

    # -- buffered I/O ----------------------------------------------------------------------
    def read_iter(self, AddressSpace mapping, uint64_t pos, uint64_t count, bytearray buf=None,
                  MmStruct mm=None, ra=None, bint random=False):
        """generic_file_read_iter() -> filemap_read() of at most ``count`` bytes at ``pos``,
        stopping at i_size, with the file's readahead state ``ra`` (a
        :class:`memsim.vfs.FileRaState`; None: no window, one page read per miss) and
        FMODE_RANDOM (``random``).  Each round is filemap_get_pages():
        filemap_get_read_batch() takes the cached pages from the position on -- at most
        PAGEVEC_SIZE (15 on v5.14, a folio_batch of 31 on v6.18: ``PhysMem.lru_batch_size``),
        stopping at a gap, a shadow, or after a PG_readahead page, and on v5.14 reaching one
        page past the read (last_index) -- and when there is none page_cache_sync_readahead()
        reads the window in and the batch is taken again (filemap_create_folio() reads one
        page if still none); a PG_readahead page last in the batch starts the async readahead
        of the next window; then mm_filemap_get_pages.  Each page's bytes are appended to
        ``buf`` (or none built when ``buf`` is None) and every page of a batch is marked
        accessed but the first, which is marked only if the read does not continue in the page
        the previous one ended in (v5.14: ``pos >> 12 == prev_pos >> 12``, prev_pos updated
        after each page; v5.17+: pos_same_folio(pos, prev_pos - 1), prev_pos set when the read
        returns).  ``ra`` is updated (the window, prev_pos).  Pages are charged to ``mm``'s
        memcg.  Returns the bytes read; -ENOMEM (as a negative number) if memory ran out
        before any was read."""
        cdef uint64_t isize = mapping.i_size, end, req_end, index, last_index, batch_max, i
        cdef uint64_t off, n, done = 0, at = pos, pindex, findex, fnr
        cdef unsigned int shift
        cdef pfn_t head
        cdef uint64_t batch = self.pm.lru_batch_size if self.pm.lru_batch_size > 0 else FOLIO_BATCH_SIZE
        cdef int64_t key, last_pos
        cdef pfn_t pfn
        cdef pfn_t pfns[FOLIO_BATCH_SIZE + 1]
        cdef int nr, j
        cdef int64_t e
        cdef XArray i_pages = mapping.i_pages
        cdef dict content = self.pm.content
        cdef file_ra_state st
        cdef page* p
        if pos >= isize or count == 0:
            return 0
        if batch > FOLIO_BATCH_SIZE:
            batch = FOLIO_BATCH_SIZE
        ra_load(ra, &st)
        last_pos = st.prev_pos
        req_end = pos + count
        end = req_end if req_end < isize else isize
        while at < end:
            # filemap_get_pages(): last_index is the page past the request (iter->count)
            index = at >> PAGE_SHIFT
            last_index = (req_end + PAGE_SIZE - 1) >> PAGE_SHIFT
            batch_max = last_index if self.read_batch_past_end else last_index - 1
            nr = self.get_read_batch(i_pages, index, batch_max, batch, pfns)
            if nr == 0:
                self.page_cache_sync_ra(mapping, &st, index, last_index - index, random, mm)
                nr = self.get_read_batch(i_pages, index, batch_max, batch, pfns)
            if nr == 0:                     # filemap_create_folio()
                pfn = self.add_to_page_cache_lru(mapping, index, self.core.gfp_user, mm)
                if pfn == NO_PFN:
                    ra_store(&st, ra)
                    return done if done else -12
                self.readpage(self.store_for(mapping), pfn, index)
                pfns[0] = pfn
                nr = 1
            p = &self.pm.mem_map[pfns[nr - 1]]
            if p.flags & (1ULL << PG_readahead):
                pindex = p.index            # filemap_readahead()
                self.page_cache_async_ra(mapping, &st, pfns[nr - 1], pindex, last_index - pindex, mm)
            self.emit_range(self.ev_get_pages, mapping, index, last_index - 1)
            # filemap_read()'s copy of the batch, folio by folio
            findex = index
            for j in range(nr):
                head = pfns[j]
                p = &self.pm.mem_map[head]
                fnr = <uint64_t>folio_nr(p)
                shift = PAGE_SHIFT
                if fnr > 1:
                    findex = p.index
                    shift = PAGE_SHIFT + p.compound_order
                if end < (findex << PAGE_SHIFT):
                    break
                if j > 0:
                    self.pm.mark_page_accessed(head)
                else:               # pos_same_folio(pos, last_pos - 1) (v5.14: prev_pos's page)
                    key = last_pos >> PAGE_SHIFT if self.ra_same_page_end else (last_pos - 1) >> shift
                    if key != <int64_t>(at >> shift):
                        self.pm.mark_page_accessed(head)
                if fnr > 1 and buf is None and not self.ra_same_page_end:
                    # a length-only read of a large folio: its bytes up to the folio's end at once
                    n = ((findex + fnr) << PAGE_SHIFT) - at
                    if n > end - at:
                        n = end - at
                    at += n
                    done += n
                    last_pos = <int64_t>at
                    findex += fnr
                    continue
                while True:         # the folio's pages, from the position on
                    pfn = head + ((at >> PAGE_SHIFT) - findex) if fnr > 1 else head
                    off = at & (PAGE_SIZE - 1)
                    n = PAGE_SIZE - off
                    if n > end - at:
                        n = end - at
                    if buf is not None and n:
                        frame = content.get(pfn) if self.pm.mem_map[pfn].flags & (1ULL << PG_content) else None
                        if frame is not None:       # (a stamped page may have no bytes)
                            buf += (<bytearray>frame)[off:off + n]
                        else:
                            buf += bytes(n)
                    at += n
                    done += n
                    last_pos = <int64_t>at      # v5.14: ra->prev_pos = iocb->ki_pos per page
                    if self.ra_same_page_end:
                        st.prev_pos = last_pos
                    if fnr == 1 or n == 0 or at >= end or (at >> PAGE_SHIFT) >= findex + fnr:
                        break
                findex += fnr
        st.prev_pos = last_pos
        ra_store(&st, ra)
        return done

    cdef int get_read_batch(self, XArray i_pages, uint64_t index, uint64_t max_index,
                            uint64_t batch, pfn_t* pfns) except -1:
        """filemap_get_read_batch(): the folios cached from ``index`` on (their heads), at most
        ``batch`` of them, none starting past ``max_index``, stopping at a gap or a shadow, and
        after a folio that is not uptodate or has PG_readahead."""
        cdef int nr = 0
        cdef int64_t e
        cdef uint64_t flags
        cdef page* hp
        while index <= max_index and <uint64_t>nr < batch:
            if not i_pages.load(index, &e) or xa_is_value(e):
                break
            hp = compound_head_page(self.pm, <pfn_t>e)
            pfns[nr] = folio_head(self, <pfn_t>e)
            nr += 1
            flags = hp.flags
            if not (flags & (1ULL << PG_uptodate)) or flags & (1ULL << PG_readahead):
                break
            if flags & (1ULL << PG_head):
                index = hp.index + (1ULL << hp.compound_order)     # folio_next_index()
            else:
                index += 1
        return nr

    def write_iter(self, AddressSpace mapping, uint64_t pos, const unsigned char[:] data,
                   MmStruct mm=None):
        """generic_perform_write(): each page of [pos, pos + len(data)) found or created by
        write_begin (grab_cache_page_write_begin: FGP_WRITE, so __GFP_WRITE and a shadow there
        is discarded without refault accounting; a page partly overwritten and not cached is
        read in first), the bytes copied, write_end dirtying it (set_page_dirty); no
        mark_page_accessed (FGP_ACCESSED is not among write_begin's flags).  i_size is the caller's (i_size_write).  Returns the bytes
        written; -ENOMEM if memory ran out before any was."""
        cdef uint64_t length = data.shape[0], at = pos, end = pos + length, index, off, n
        cdef uint64_t done = 0
        cdef pfn_t pfn
        cdef int64_t e
        cdef XArray i_pages = mapping.i_pages
        cdef dict content = self.pm.content
        cdef page* p
        cdef bytearray buf
        while at < end:
            index = at >> PAGE_SHIFT
            off = at & (PAGE_SIZE - 1)
            n = PAGE_SIZE - off
            if n > end - at:
                n = end - at
            if i_pages.load(index, &e) and not xa_is_value(e):
                pfn = <pfn_t>e
            else:
                pfn = self.add_to_page_cache_lru(mapping, index, self.core.gfp_user | GFP_WRITE_, mm)
                if pfn == NO_PFN:
                    return done if done else -12
                if n < PAGE_SIZE:           # a partial write: the rest of the page is read first
                    self.readpage(self.store_for(mapping), pfn, index)
                else:
                    self.pm.mem_map[pfn].flags |= 1ULL << PG_uptodate
            p = &self.pm.mem_map[pfn]
            frame = content.get(pfn) if p.flags & (1ULL << PG_content) else None
            if frame is not None:
                buf = <bytearray>frame
            else:
                buf = bytearray(PAGE_SIZE)
                content[pfn] = buf
                p.flags |= 1ULL << PG_content
            buf[off:off + n] = data[done:done + n]
            self.dirty_folio(mapping, pfn)
            at += n
            done += n
        return done

    def cached_pages(self, AddressSpace mapping, uint64_t start=0, uint64_t end=0xffffffffffffffff):
        """The pages of i_pages in [start, end], by index (for tests and checks)."""
        cdef uint64_t index = start
        cdef int64_t e
        out = {}
        while mapping.i_pages.find(index, end, &index, &e):
            if not xa_is_value(e):
                out[index] = <pfn_t>e
            if index == end:
                break
            index += 1
        return out
