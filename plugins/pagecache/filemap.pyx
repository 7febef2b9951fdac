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
:meth:`Filemap.read_iter` (generic_file_read_iter() -> filemap_read(): batches of pages looked
up or read in, mark_page_accessed(), the bytes copied, filemap:mm_filemap_get_pages per batch)
and :meth:`Filemap.write_iter` (generic_perform_write(): pages found or created with
__GFP_WRITE, the bytes copied, the page dirtied).
"""
from libc.stdint cimport uint64_t, int64_t, uint32_t
from memsim._types cimport (pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PG_locked, PG_uptodate,
                            PG_dirty, PG_content, GFP_WRITE_, PAGE_MAPPING_ANON)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport (MmCore, MmStruct, VmArea, AddressSpace, XArray, vm_fault,
                        writeback_control, address_space_operations, FK_AROUND, FK_FILE_READ,
                        VM_FAULT_NOPAGE, XA_SLOTS, XA_SLOTS_SHIFT)
from memsim.vmstat cimport count_vm_events, PGPGIN, PGPGOUT
from memsim.workingset cimport xa_is_value

cdef enum:
    SECTORS_PER_PAGE = 8                # PAGE_SIZE >> SECTOR_SHIFT: what submit_bio() counts
    FOLIO_BATCH_SIZE = 31               # a folio_batch: filemap_get_pages()' batch (v5.14: 15)


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
        fm.readpage(fm.stores.get(mapping), pfn, index)
        major[0] = 1
    return pfn


cdef int _migratepage(void* ctx, AddressSpace mapping, uint64_t index, pfn_t old,
                      pfn_t new) except? -1000000:
    """migrate_page_move_mapping(): ``new`` takes ``old``'s slot (the counts stay)."""
    cdef int64_t e
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
    slots in place (xas_next_entry); a range past its dense table or an array with multi-index
    entries goes through ``XArray.find``."""
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
    if i_pages.nr_multi == 0 and (end >> XA_SLOTS_SHIFT) < i_pages.nr_chunks:
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
    p = &fm.pm.mem_map[pfn]
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
    cdef page* p = &fm.pm.mem_map[vmf.page]
    if p.mapping != mapping.addr or vmf.pgoff >= (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
        return VM_FAULT_NOPAGE
    fm.dirty_folio(mapping, vmf.page)
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
        """Give a regular file's mapping these a_ops and an empty backing store (a new file)."""
        mapping.a_ops = &self.aops
        mapping.a_ops_owner = self
        self.stores[mapping] = BackingStore()

    def forget(self, AddressSpace mapping):
        """The file is gone (evict): its blocks are freed."""
        self.stores.pop(mapping, None)

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
        cdef uint64_t shadow = 0
        cdef int err
        if pfn == NO_PFN:
            return NO_PFN
        if self.core.charge(pfn, mm, gfp) != 0:
            self.pm.put_page(pfn)
            return NO_PFN
        err = self.core.add_to_page_cache_locked(pfn, mapping, index, &shadow)
        if err != 0:                        # -EEXIST: the caller looked the index up first
            self.pm.put_page(pfn)
            raise RuntimeError(f"{mapping!r}: index {index} is cached already")
        if shadow and not (gfp & GFP_WRITE_):
            self.core.workingset.workingset_refault(pfn, shadow)
        self.pm.lru_cache_add(pfn)
        return pfn

    cdef int readpage(self, BackingStore store, pfn_t pfn, uint64_t index) except -1:
        """->readpage (mpage_readpage) from the file's ``store``: the block of ``index`` is
        read into the page (pgpgin + 8 sectors); a hole is zeroed without I/O.  PG_uptodate."""
        cdef page* p = &self.pm.mem_map[pfn]
        if store is not None and store.blocks:
            block = store.blocks.get(index)
            if block is not None:
                count_vm_events(self.pm.vs, PGPGIN, SECTORS_PER_PAGE)
                self.nr_readpage += 1
                if block:
                    self.pm.content[pfn] = bytearray(block)
                    p.flags |= 1ULL << PG_content
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
        cdef uint64_t index = p.index, tail
        cdef BackingStore store = self.stores.get(mapping)
        self.core.set_page_writeback(pfn)
        if store is not None and index < (mapping.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT:
            if p.flags & (1ULL << PG_content):
                data = self.pm.content[pfn]
                tail = mapping.i_size - (index << PAGE_SHIFT)
                if tail < PAGE_SIZE:
                    data = bytearray(data)
                    data[tail:] = bytes(PAGE_SIZE - tail)
                store.blocks[index] = bytes(data)
            else:
                store.blocks[index] = b""
            count_vm_events(self.pm.vs, PGPGOUT, SECTORS_PER_PAGE)
            self.nr_writepage += 1
        self.core.submit_page_write(pfn)
        return 0

    cdef int dirty_folio(self, AddressSpace mapping, pfn_t pfn) except -1:
        """filemap_dirty_folio() (v5.14 __set_page_dirty_nobuffers): PG_dirty with the
        accounting of account_page_dirtied (MmCore.set_page_dirty); the inode's I_DIRTY_PAGES
        needs no state here (sync walks every inode).  1 if the page was newly dirtied."""
        if self.pm.mem_map[pfn].flags & (1ULL << PG_dirty):
            return 0
        self.core.set_page_dirty(pfn)
        return 1

    # -- buffered I/O ----------------------------------------------------------------------
    def read_iter(self, AddressSpace mapping, uint64_t pos, uint64_t count, bytearray buf=None,
                  MmStruct mm=None, int64_t prev_pos=-1):
        """generic_file_read_iter() -> filemap_read() of at most ``count`` bytes at ``pos``,
        stopping at i_size: batches of up to PAGEVEC_SIZE pages (15 on v5.14, a folio_batch of
        31 on v6.18: ``PhysMem.lru_batch_size``) -- filemap_get_pages(): the cached pages, a
        missing one read in as readahead would, then mm_filemap_get_pages -- each page's bytes
        appended to ``buf``, or none built when ``buf`` is None.  Every page of a batch is
        marked accessed but the first, which is marked only if the read does not continue in
        the page the previous one ended in: ``prev_pos`` is the file's
        file_ra_state.prev_pos, where that read ended (-1: none), compared by page as v5.14
        does (``ra_same_page_end``: ``pos >> 12 == prev_pos >> 12``) or, from v5.17, with the
        last byte read (pos_same_folio(pos, prev_pos - 1)).  Pages are charged to ``mm``'s
        memcg.  Returns the bytes read (the new prev_pos is ``pos`` plus that, when it is not
        0); -ENOMEM (as a negative number) if memory ran out before any was read."""
        cdef uint64_t isize = mapping.i_size, end, index, last_index, batch_end, i
        cdef uint64_t off, n, done = 0, at = pos
        cdef uint64_t batch = self.pm.lru_batch_size if self.pm.lru_batch_size > 0 else FOLIO_BATCH_SIZE
        cdef int64_t prev = prev_pos, key
        cdef pfn_t pfn
        cdef int64_t e
        cdef XArray i_pages = mapping.i_pages
        cdef dict content = self.pm.content
        cdef BackingStore store = self.stores.get(mapping)
        if pos >= isize or count == 0:
            return 0
        end = pos + count if pos + count < isize else isize
        index = pos >> PAGE_SHIFT
        last_index = (end + PAGE_SIZE - 1) >> PAGE_SHIFT
        while index < last_index:
            batch_end = index + batch if index + batch < last_index else last_index
            for i in range(index, batch_end):
                if i_pages.load(i, &e) and not xa_is_value(e):
                    pfn = <pfn_t>e
                else:
                    pfn = self.add_to_page_cache_lru(mapping, i, self.core.gfp_user, mm)
                    if pfn == NO_PFN:
                        return done if done else -12
                    self.readpage(store, pfn, i)
                if i != index:
                    self.pm.mark_page_accessed(pfn)
                else:
                    key = prev >> PAGE_SHIFT if self.ra_same_page_end else (prev - 1) >> PAGE_SHIFT
                    if key != <int64_t>(at >> PAGE_SHIFT):
                        self.pm.mark_page_accessed(pfn)
                off = at & (PAGE_SIZE - 1)
                n = PAGE_SIZE - off
                if n > end - at:
                    n = end - at
                if buf is not None:
                    if self.pm.mem_map[pfn].flags & (1ULL << PG_content):
                        buf += (<bytearray>content[pfn])[off:off + n]
                    else:
                        buf += bytes(n)
                at += n
                done += n
                prev = <int64_t>at                  # ra->prev_pos = iocb->ki_pos
            self.emit_range(self.ev_get_pages, mapping, index, last_index - 1)
            index = batch_end
        return done

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
                    self.readpage(self.stores.get(mapping), pfn, index)
                else:
                    self.pm.mem_map[pfn].flags |= 1ULL << PG_uptodate
            p = &self.pm.mem_map[pfn]
            if p.flags & (1ULL << PG_content):
                buf = <bytearray>content[pfn]
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
