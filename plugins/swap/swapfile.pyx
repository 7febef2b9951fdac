# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Swap devices, slots, the swap cache and swap-in: the C side of the swap plugin.

``SwapHost`` is one machine's swap (the kernel's swap_info[] and everything hung on it):

* slots (mm/swapfile.c): ``swap_map`` bytes with SWAP_HAS_CACHE and count continuation
  (``cont``: the continuation pages' counts; a continuation page is a real order-0 page
  allocated when a count passes SWAP_MAP_MAX), the free-slot window, ``nr_swap_pages`` and
  ``total_swap_pages``, priority order (swap_avail_head), the per-CPU slots cache
  (mm/swap_slots.c: allocation batches of 64 and the return batch, *enabled* / *active*);
* the swap cache (mm/swap_state.c): per slot a page or a workingset shadow, NR_FILE_PAGES,
  NR_SWAPCACHE, swap_cache_info; the swap_cgroup records (mm/swap_cgroup.c);
* I/O (mm/page_io.c): the bytes and stamp of a page are kept per slot (``store``), PSWPIN /
  PSWPOUT, an emulated read time per device;
* swap-in (do_swap_page, __read_swap_cache_async with the charge before or after the swap
  cache as ``charge_first`` says, swap_cluster_readahead, the SWP_SYNCHRONOUS_IO path);
* the core's ``swap_ops`` (memsim/mm.pxd) filled with these, and swapoff's unuse_pte.

Memory cgroups are reached only through the core's ``memcg_ops`` (NULL: no memcg).
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from memsim._types cimport (pfn_t, gfp_t, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PTE_PFN_MASK,
                            _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_DIRTY, _PAGE_ACCESSED,
                            _PAGE_UFFD_WP, PG_owner_priv_1, PG_swapbacked, PG_dirty,
                            PG_writeback, PG_reclaim, PG_active, PG_content, PG_mlocked,
                            PAGE_MAPPING_ANON, MM_ANONPAGES, MM_SWAPENTS, GFP_KERNEL)
from memsim.page cimport page
from memsim.physmem cimport PhysMem
from memsim.mm cimport (MmCore, MmStruct, VmArea, vm_fault, writeback_control, swp_entry,
                        swp_type, swp_offset, pte_to_swp_entry, swp_entry_to_pte,
                        VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_WRITE,
                        VM_FAULT_ERROR, FAULT_FLAG_WRITE, _PAGE_SWP_UFFD_WP)
from memsim.vmstat cimport (page_to_nid, __mod_node_page_state, __mod_lruvec_page_state,
                            count_vm_event, count_vm_events, NR_FILE_PAGES, NR_SWAPCACHE,
                            NR_ANON_MAPPED, PSWPIN, PSWPOUT, SWAP_RA, SWAP_RA_HIT)
from memsim.workingset cimport shadow_to_entry, entry_to_shadow

PG_swapcache = PG_owner_priv_1
PG_readahead = PG_reclaim

cdef uint64_t VM_WRITE = 0x2, VM_SHARED = 0x8, VM_LOCKED = 0x2000
cdef uint64_t PMD_SIZE = 1ULL << 21
# mm/swap_state.c: vma->swap_readahead_info packs the last fault address, the window and hits
cdef uint64_t SWAP_RA_WIN_SHIFT = PAGE_SHIFT // 2
cdef uint64_t SWAP_RA_HITS_MASK = (1ULL << SWAP_RA_WIN_SHIFT) - 1
cdef uint64_t SWAP_RA_HITS_MAX = SWAP_RA_HITS_MASK
cdef uint64_t SWAP_RA_WIN_MASK = (PAGE_SIZE - 1) & ~SWAP_RA_HITS_MASK
cdef unsigned int SWAP_RA_ORDER_CEILING = 5
cdef int ENOMEM = 12, ENOENT = 2, EEXIST = 17, EINVAL = 22


cdef class SwapHost:
    """One machine's swap: its devices (swap_info[]), their slots, the swap cache and the
    swap-in paths, and the core's swap_ops filled with them (``install``)."""

    def __cinit__(self, PhysMem pm, MmCore core, int max_swapfiles):
        self.pm = pm
        self.core = core
        self.max_swapfiles = max_swapfiles
        self.si = <swap_info**>calloc(max_swapfiles, sizeof(swap_info*))
        self.slots = <swap_slots_cache*>calloc(pm.ncpus, sizeof(swap_slots_cache))
        if self.si == NULL or self.slots == NULL:
            raise MemoryError()
        self.avail = []
        self.least_priority = -1
        self.page_cluster = 3
        self.vma_ra_enabled = True
        self.store = {}
        self.cont = {}
        self.cont_pages = {}
        self.charge_first = True
        self.swapout_first = True
        self.retry_sleeps = False
        self.slots_cache_on = True
        self.swap_map_shmem = True

    def __dealloc__(self):
        cdef int t
        if self.si != NULL:
            for t in range(self.max_swapfiles):
                if self.si[t] != NULL:
                    self._free_info(self.si[t])
            free(self.si)
        free(self.slots)

    cdef void _free_info(self, swap_info* s) noexcept:
        free(s.swap_map)
        free(s.cache)
        free(s.cgroup)
        free(s)

    # -- the core's ops ------------------------------------------------------------------------
    def install(self):
        """Fill the core's swap_ops with this swap (and keep it alive as long as the core)."""
        self.core.keep_alive("swap", self)
        self.core.swap.ctx = <void*>self
        self.core.swap.do_swap_page = _do_swap_page
        self.core.swap.swap_free = _swap_free
        self.core.swap.swap_duplicate = _swap_duplicate
        self.core.swap.swap_out = _swap_out
        self.core.swap.swap_writepage = _swap_writepage
        self.core.swap.delete_from_swap_cache = _delete_from_swap_cache
        self.core.swap.free_swap_cache = _free_swap_cache
        self.core.swap.nr_swap_pages = _nr_swap_pages
        self.core.swap.total_swap_pages = _total_swap_pages
        self.core.swap.shmem_add_to_swap = _shmem_add_to_swap
        self.core.swap.swap_shmem_alloc = _swap_shmem_alloc
        self.core.swap.shmem_swapin = _shmem_swapin
        self.core.swap.take_from_swap_cache = _take_from_swap_cache

    # -- devices (swapon / swapoff) --------------------------------------------------------------
    def add_device(self, uint64_t max_slots, int prio, unsigned int flags, uint64_t read_ns,
                   uint64_t write_ns, bad=()):
        """The tail of sys_swapon(): alloc_swap_info() (the lowest free type), setup_swap_map
        (slot 0 is the header, ``bad`` slots SWAP_MAP_BAD), swap_cgroup_swapon, the swap
        cache's address spaces (init_swap_address_space), then enable_swap_info(): a priority
        < 0 asks for the next default one (--least_priority), the device joins swap_avail_head,
        nr_swap_pages and total_swap_pages grow.  Returns the type."""
        cdef int t
        cdef swap_info* s
        cdef uint64_t off
        for t in range(self.max_swapfiles):
            if self.si[t] == NULL:
                break
        else:
            raise OverflowError("MAX_SWAPFILES devices are on")
        s = <swap_info*>calloc(1, sizeof(swap_info))
        if s == NULL:
            raise MemoryError()
        s.swap_map = <uint8_t*>calloc(max_slots, 1)
        s.cache = <int64_t*>calloc(max_slots, sizeof(int64_t))
        s.cgroup = <uint16_t*>calloc(max_slots, sizeof(uint16_t))
        if s.swap_map == NULL or s.cache == NULL or s.cgroup == NULL:
            self._free_info(s)
            raise MemoryError()
        s.type = t
        s.max = max_slots
        s.swap_map[0] = SWAP_MAP_BAD
        s.pages = max_slots - 1
        for off in bad:
            if 0 < off < max_slots and s.swap_map[off] == 0:
                s.swap_map[off] = SWAP_MAP_BAD
                s.pages -= 1
        s.lowest_bit = 1
        s.highest_bit = max_slots - 1
        s.flags = flags | SWP_USED | SWP_WRITEOK
        s.read_ns = read_ns
        s.write_ns = write_ns
        if prio >= 0:
            s.prio = prio
        else:
            self.least_priority -= 1
            s.prio = self.least_priority
        self.si[t] = s
        if t >= self.nr_swapfiles:
            self.nr_swapfiles = t + 1
        self.nr_swap_pages += s.pages
        self.total_swap_pages += s.pages
        if not s.flags & SWP_SOLIDSTATE:
            self.nr_rotate_swap += 1        # a rotational device: cluster readahead
        self._add_avail(t)
        self.slots_enabled = True           # __reenable_swap_slots_cache(): has_usable_swap()
        return t

    def _add_avail(self, int t):
        """plist_add to swap_avail_head: highest priority first; equal ones after the others
        (round-robin: get_swap_pages requeues the one it used)."""
        cdef int i, prio = self.si[t].prio
        for i in range(len(self.avail)):
            if self.si[<int>self.avail[i]].prio < prio:
                self.avail.insert(i, t)
                return
        self.avail.append(t)

    def device(self, int t):
        """One device's state (for /proc/swaps, tests and swapoff), or None."""
        cdef swap_info* s
        if not 0 <= t < self.nr_swapfiles or self.si[t] == NULL:
            return None
        s = self.si[t]
        return {"type": t, "prio": s.prio, "flags": s.flags, "max": s.max, "pages": s.pages,
                "inuse_pages": s.inuse_pages, "lowest_bit": s.lowest_bit,
                "highest_bit": s.highest_bit, "cache_pages": s.cache_pages,
                "read_ns": s.read_ns, "write_ns": s.write_ns}

    def types(self):
        return [t for t in range(self.nr_swapfiles) if self.si[t] != NULL]

    def swap_map(self, int t, uint64_t offset):
        """swap_map[offset] of device ``t`` (the byte)."""
        cdef swap_info* s = self._dev(t)
        if offset >= s.max:
            raise IndexError(offset)
        return s.swap_map[offset]

    def swap_cgroup(self, int t, uint64_t offset):
        """lookup_swap_cgroup_id()."""
        cdef swap_info* s = self._dev(t)
        if offset >= s.max:
            raise IndexError(offset)
        return s.cgroup[offset]

    def cached_pfn(self, uint64_t entry):
        """The swap cache's page of ``entry``, or None (a shadow or nothing)."""
        cdef pfn_t pfn = self.cache_page(entry)
        return None if pfn == NO_PFN else pfn

    def shadow_of(self, uint64_t entry):
        """The workingset shadow the swap cache keeps for ``entry`` (0: none)."""
        cdef swap_info* s = self.info(entry)
        if s == NULL or s.cache[swp_offset(entry)] >= 0:
            return 0
        return entry_to_shadow(s.cache[swp_offset(entry)])

    def swapcount(self, uint64_t entry):
        """swp_swapcount(): the references of ``entry``, continuation pages included."""
        return self.swp_swapcount(entry)

    cdef swap_info* _dev(self, int t) except NULL:
        if not 0 <= t < self.nr_swapfiles or self.si[t] == NULL:
            raise ValueError(f"no swap device of type {t}")
        return self.si[t]

    def disable(self, int t):
        """The start of swapoff: del_from_avail_list, SWP_WRITEOK cleared, the device's free
        slots leave nr_swap_pages and total_swap_pages (they come back if swapoff fails:
        ``reenable``); the slots cache is disabled (disable_swap_slots_cache_lock) and
        drained."""
        cdef swap_info* s = self._dev(t)
        if t in self.avail:
            self.avail.remove(t)
        s.flags &= ~SWP_WRITEOK
        self.nr_swap_pages -= s.pages - s.inuse_pages
        self.total_swap_pages -= s.pages
        self.slots_enabled = False
        self.drain_slots_caches()

    def reenable(self, int t):
        """reinsert_swap_info() after a failed try_to_unuse()."""
        cdef swap_info* s = self._dev(t)
        s.flags |= SWP_WRITEOK
        self.nr_swap_pages += s.pages - s.inuse_pages
        self.total_swap_pages += s.pages
        self._add_avail(t)
        self.slots_enabled = True

    def remove_device(self, int t):
        """The end of swapoff (every slot free): the device is gone; a default priority is
        given back (least_priority++); the slots cache comes back if a device is left."""
        cdef swap_info* s = self._dev(t)
        cdef uint64_t off
        cdef int u
        for off in range(1, s.max):
            if s.swap_map[off] and s.swap_map[off] != SWAP_MAP_BAD:
                raise RuntimeError(f"swap device {t} still has slot {off} in use")
        if s.prio < 0:
            # swapoff: the devices with a lower default priority move up one
            for u in range(self.nr_swapfiles):
                if self.si[u] != NULL and u != t and self.si[u].prio < s.prio:
                    self.si[u].prio += 1
            self.least_priority += 1
        if not s.flags & SWP_SOLIDSTATE:
            self.nr_rotate_swap -= 1
        for key in [k for k in self.cont_pages if k[0] == t]:
            for pfn in self.cont_pages.pop(key):
                self.pm.put_page(pfn)
        self._free_info(s)
        self.si[t] = NULL
        while self.nr_swapfiles and self.si[self.nr_swapfiles - 1] == NULL:
            self.nr_swapfiles -= 1
        self.slots_enabled = False
        for u in range(self.nr_swapfiles):
            if self.si[u] != NULL:
                self.slots_enabled = True

    def used_entries(self, int t):
        """The offsets of device ``t`` whose count is not zero (try_to_unuse's find_next_to_unuse)."""
        cdef swap_info* s = self._dev(t)
        cdef uint64_t off
        return [off for off in range(1, s.max)
                if s.swap_map[off] & ~SWAP_HAS_CACHE and s.swap_map[off] != SWAP_MAP_BAD]

    def cached_entries(self, int t):
        """The offsets of device ``t`` whose swap-cache slot holds a page."""
        cdef swap_info* s = self._dev(t)
        cdef uint64_t off
        return [off for off in range(1, s.max) if s.cache[off] > 0]

    # -- slot references (mm/swapfile.c) ----------------------------------------------------------
    cdef swap_info* info(self, uint64_t entry) noexcept:
        """swp_swap_info() / get_swap_device(): NULL for an entry of no device or beyond it."""
        cdef int t = <int>swp_type(entry)
        cdef swap_info* s
        if t >= self.nr_swapfiles:
            return NULL
        s = self.si[t]
        if s == NULL or swp_offset(entry) >= s.max or swp_offset(entry) == 0:
            return NULL
        return s

    cdef int swap_count_of(self, uint64_t entry) noexcept:
        """__swap_count(): the first map byte without SWAP_HAS_CACHE (COUNT_CONTINUED kept)."""
        cdef swap_info* s = self.info(entry)
        if s == NULL:
            return 0
        return s.swap_map[swp_offset(entry)] & ~SWAP_HAS_CACHE

    cdef int64_t swp_swapcount(self, uint64_t entry) noexcept:
        """swp_swapcount(): the whole count, continuation pages included."""
        cdef swap_info* s = self.info(entry)
        cdef int64_t count, n = 1
        cdef uint8_t b
        if s == NULL:
            return 0
        b = s.swap_map[swp_offset(entry)]
        if b == SWAP_MAP_SHMEM | SWAP_HAS_CACHE or b == SWAP_MAP_SHMEM:
            return 1
        count = b & ~(SWAP_HAS_CACHE | COUNT_CONTINUED)
        if not b & COUNT_CONTINUED:
            return count
        levels = self.cont.get((s.type, swp_offset(entry)), ())
        n = SWAP_MAP_MAX + 1
        for lv in levels:
            count += (<int64_t>lv) * n
            n *= SWAP_CONT_MAX + 1
        return count

    cdef uint64_t scan_swap_map_slot(self, swap_info* s) noexcept:
        """scan_swap_map_slots() for one slot: the lowest free offset of the window (memsim
        allocates lowest-free-first: no SSD clusters); 0 when full."""
        cdef uint64_t off
        if not s.flags & SWP_WRITEOK:
            return 0
        off = s.lowest_bit
        while off <= s.highest_bit:
            if s.swap_map[off] == 0:
                return off
            off += 1
        return 0

    cdef int swap_range_alloc(self, swap_info* s, uint64_t offset) except -1:
        """swap_range_alloc(): the window's bounds follow; inuse_pages++; a full device leaves
        swap_avail_head."""
        if offset == s.lowest_bit:
            s.lowest_bit += 1
        if offset == s.highest_bit:
            s.highest_bit -= 1
        s.inuse_pages += 1
        if s.inuse_pages == s.pages:
            s.lowest_bit = s.max
            s.highest_bit = 0
            if s.type in self.avail:
                self.avail.remove(s.type)
        return 0

    cdef int swap_range_free(self, swap_info* s, uint64_t offset) except -1:
        """swap_range_free(): the window widens, a full device is available again,
        nr_swap_pages++, inuse_pages--; the swap cache's shadow of the slot goes
        (clear_shadow_from_swap_cache)."""
        if offset < s.lowest_bit:
            s.lowest_bit = offset
        if offset > s.highest_bit:
            was_full = s.highest_bit == 0
            s.highest_bit = offset
            if was_full and s.flags & SWP_WRITEOK and s.type not in self.avail:
                self._add_avail(s.type)
        s.inuse_pages -= 1
        if s.flags & SWP_WRITEOK:
            self.nr_swap_pages += 1
        if s.cache[offset] < 0:
            s.cache[offset] = 0
        if self.store:
            self.store.pop(swp_entry(s.type, offset), None)
        return 0

    cdef int get_swap_pages(self, int n, uint64_t* out) except -1:
        """get_swap_pages(n, entries, 1): reserve up to ``n`` slots (map byte SWAP_HAS_CACHE)
        from the devices in priority order (the one used goes behind its equals); the
        reservation leaves nr_swap_pages at once.  Returns how many it got."""
        cdef int got = 0, t
        cdef swap_info* s
        cdef uint64_t off
        if self.nr_swap_pages <= 0:
            return 0
        if n > self.nr_swap_pages:
            n = <int>self.nr_swap_pages
        self.nr_swap_pages -= n             # atomic_long_sub(n_goal, &nr_swap_pages)
        for t in (self.avail if len(self.avail) == 1 else list(self.avail)):
            s = self.si[t]
            if len(self.avail) > 1:
                # requeue among equal priorities (plist_requeue)
                self.avail.remove(t)
                self._add_avail(t)
            while got < n:
                off = self.scan_swap_map_slot(s)
                if off == 0:
                    break
                s.swap_map[off] = SWAP_HAS_CACHE
                self.swap_range_alloc(s, off)
                out[got] = swp_entry(t, off)
                got += 1
            if got == n:
                break
        if got < n:
            self.nr_swap_pages += n - got   # atomic_long_add(n_goal - n_ret, &nr_swap_pages)
        return got

    cdef int check_cache_active(self) except -1:
        """check_cache_active(): the slots cache turns active above num_online_cpus() * 320
        free slots and inactive (every CPU's cache drained) below num_online_cpus() * 128."""
        cdef int64_t pages = self.nr_swap_pages
        cdef int ncpus = self.pm.ncpus
        if not self.slots_active:
            if pages > ncpus * 320:
                self.slots_active = True
        elif pages < ncpus * 128:
            self.slots_active = False
            self.drain_slots_caches()
        return 0

    def drain_slots_caches(self):
        """drain_slots_cache(): every CPU's allocation batch (put_swap_page of each entry) and
        return batch (swapcache_free_entries) go back."""
        cdef int cpu, i
        cdef swap_slots_cache* c
        for cpu in range(self.pm.ncpus):
            c = &self.slots[cpu]
            for i in range(c.cur, c.cur + c.nr):
                self.swapcache_free_entries(&c.slots[i], 1)
            c.nr = 0
            c.cur = 0
            if c.n_ret:
                self.swapcache_free_entries(c.slots_ret, c.n_ret)
                c.n_ret = 0

    cdef uint64_t get_swap_page(self, pfn_t pfn) except? 0xffffffffffffffff:
        """get_swap_page() of an order-0 page: from this CPU's slots cache when it is enabled
        and active (refilled by get_swap_pages(SWAP_SLOTS_CACHE_SIZE)), else one slot
        directly; then mem_cgroup_try_charge_swap() (failing: put_swap_page, entry 0) and the
        slot's swap_cgroup record.  0: no slot."""
        cdef uint64_t entry = 0
        cdef swap_slots_cache* c
        cdef int got, id = 0
        cdef swap_info* s
        if self.slots_cache_on:
            self.check_cache_active()
        if self.slots_cache_on and self.slots_enabled and self.slots_active:
            c = &self.slots[self.pm.cur.cpu]
            if c.nr == 0:
                c.cur = 0
                c.nr = self.get_swap_pages(SWAP_SLOTS_CACHE_SIZE, c.slots)
            if c.nr:
                entry = c.slots[c.cur]
                c.slots[c.cur] = 0
                c.cur += 1
                c.nr -= 1
        if entry == 0 and not (self.slots_cache_on and self.slots_enabled and self.slots_active):
            self.get_swap_pages(1, &entry)
        if self.pm.memcg.try_charge_swap != NULL:
            id = self.pm.memcg.try_charge_swap(self.pm.memcg.ctx, pfn, 1 if entry else 0)
            if id < 0:
                self.put_swap_page(entry)
                return 0
            if entry and id > 0:
                s = self.info(entry)
                s.cgroup[swp_offset(entry)] = <uint16_t>id
        return entry

    cdef int __swap_duplicate(self, uint64_t entry, int usage) except? -1000000:
        """__swap_duplicate(): ``usage`` SWAP_HAS_CACHE (swapcache_prepare: -EEXIST when the bit
        is set already, -ENOENT when the slot has no count) or 1 (a reference: at SWAP_MAP_MAX
        the count goes on in a continuation page, -ENOMEM when there is none; a free slot
        -ENOENT; a shmem-owned slot stays as it is)."""
        cdef swap_info* s = self.info(entry)
        cdef uint64_t off = swp_offset(entry)
        cdef uint8_t b, has_cache, count
        if s == NULL:
            return -EINVAL
        b = s.swap_map[off]
        if b == SWAP_MAP_BAD:
            return -ENOENT
        has_cache = b & SWAP_HAS_CACHE
        count = b & ~SWAP_HAS_CACHE
        if usage == SWAP_HAS_CACHE:
            if not has_cache and count:
                has_cache = SWAP_HAS_CACHE
            elif has_cache:
                return -EEXIST
            else:
                return -ENOENT
        elif count or has_cache:
            if count == SWAP_MAP_SHMEM:
                pass
            elif (count & ~COUNT_CONTINUED) < SWAP_MAP_MAX:
                count += usage
            elif (count & ~COUNT_CONTINUED) > SWAP_MAP_MAX:
                return -EINVAL
            elif self._count_continued_inc(s, off):
                count = COUNT_CONTINUED
            else:
                return -ENOMEM
        else:
            return -ENOENT
        s.swap_map[off] = count | has_cache
        return 0

    cdef bint _count_continued_inc(self, swap_info* s, uint64_t off) except -1:
        """swap_count_continued(SWAP_MAP_MAX): carry one into the continuation pages of the
        slot's swap_map page, level by level (each byte up to SWAP_CONT_MAX); False when a level
        that is needed has no page (add_swap_count_continuation must allocate it)."""
        pages = self.cont_pages.get((s.type, off >> PAGE_SHIFT), [])
        levels = self.cont.setdefault((s.type, off), [])
        cdef int i = 0
        while True:
            if i >= len(pages):
                if not levels or all(v == 0 for v in levels):
                    del self.cont[(s.type, off)]
                return False
            if i >= len(levels):
                levels.append(0)
            if levels[i] < SWAP_CONT_MAX:
                levels[i] += 1
                for j in range(i):
                    levels[j] = 0
                return True
            i += 1

    cdef bint _count_continued_dec(self, swap_info* s, uint64_t off) except -1:
        """swap_count_continued(0): borrow one from the continuation counts; True when some
        count is left there (the first byte becomes SWAP_MAP_MAX | COUNT_CONTINUED or
        SWAP_MAP_MAX)."""
        levels = self.cont.get((s.type, off))
        cdef int i
        if not levels:
            return False
        for i in range(len(levels)):
            if levels[i]:
                levels[i] -= 1
                for j in range(i):
                    levels[j] = SWAP_CONT_MAX
                break
        if all(v == 0 for v in levels):
            del self.cont[(s.type, off)]
            return False
        return True

    cdef int add_swap_count_continuation(self, uint64_t entry) except -1:
        """add_swap_count_continuation(): a page (GFP_KERNEL; the unmap asks with GFP_ATOMIC)
        for the next continuation level of the slot's swap_map page; -ENOMEM without one."""
        cdef swap_info* s = self.info(entry)
        cdef pfn_t pfn
        if s == NULL:
            return 0
        key = (s.type, swp_offset(entry) >> PAGE_SHIFT)
        pfn = self.pm.alloc_pages(GFP_KERNEL, 0, -1)
        if pfn == NO_PFN:
            return -ENOMEM
        self.cont_pages.setdefault(key, []).append(pfn)
        s.flags |= SWP_CONTINUED
        return 0

    cdef int swap_duplicate(self, uint64_t entry) except? -1000000:
        """swap_duplicate() with its callers' retry: -ENOMEM from __swap_duplicate gets a
        continuation page and tries again; -ENOMEM only when no page can be had.  -EINVAL /
        -ENOENT map to 0 (a bad entry is ignored, as swap_duplicate does)."""
        cdef int err
        while True:
            err = self.__swap_duplicate(entry, 1)
            if err != -ENOMEM:
                return 0 if err in (-EINVAL, -ENOENT) else err
            if self.add_swap_count_continuation(entry) < 0:
                return -ENOMEM

    cdef int swapcache_prepare(self, uint64_t entry) except? -1000000:
        """swapcache_prepare(): set SWAP_HAS_CACHE (transition C)."""
        return self.__swap_duplicate(entry, SWAP_HAS_CACHE)

    cdef uint8_t __swap_entry_free_locked(self, swap_info* s, uint64_t off, int usage) except? 0xff:
        """__swap_entry_free_locked(): drop SWAP_HAS_CACHE or one reference (through the
        continuation pages, and a shmem slot at once); returns the new byte (0: queue the slot
        for its final free; the byte is left at SWAP_HAS_CACHE until then)."""
        cdef uint8_t b = s.swap_map[off]
        cdef uint8_t has_cache = b & SWAP_HAS_CACHE
        cdef uint8_t count = b & ~SWAP_HAS_CACHE
        if usage == SWAP_HAS_CACHE:
            has_cache = 0
        elif count == SWAP_MAP_SHMEM:
            count = 0
        elif (count & ~COUNT_CONTINUED) <= SWAP_MAP_MAX:
            if count == COUNT_CONTINUED:
                if self._count_continued_dec(s, off):
                    count = SWAP_MAP_MAX | COUNT_CONTINUED
                else:
                    count = SWAP_MAP_MAX
            else:
                count -= 1
        usage = count | has_cache
        s.swap_map[off] = usage if usage else SWAP_HAS_CACHE
        return usage

    cdef int free_swap_slot(self, uint64_t entry) except -1:
        """free_swap_slot(): onto this CPU's return batch when the slots cache is enabled and
        active (a full batch is flushed first: swapcache_free_entries), else freed now."""
        cdef swap_slots_cache* c
        if self.slots_cache_on and self.slots_enabled and self.slots_active:
            c = &self.slots[self.pm.cur.cpu]
            if c.n_ret >= SWAP_SLOTS_CACHE_SIZE:
                self.swapcache_free_entries(c.slots_ret, c.n_ret)
                c.n_ret = 0
            c.slots_ret[c.n_ret] = entry
            c.n_ret += 1
            return 0
        return self.swapcache_free_entries(&entry, 1)

    cdef int swapcache_free_entries(self, uint64_t* entries, int n) except -1:
        """swapcache_free_entries(): swap_entry_free() of each (sorted by device in the
        kernel; memsim frees in order)."""
        cdef int i
        for i in range(n):
            self.swap_entry_free(entries[i])
        return 0

    cdef int swap_entry_free(self, uint64_t entry) except -1:
        """swap_entry_free() (transition G): the byte 0, mem_cgroup_uncharge_swap() of the
        slot's record, swap_range_free()."""
        cdef swap_info* s = self.info(entry)
        cdef uint64_t off = swp_offset(entry)
        cdef int id
        if s == NULL:
            return 0
        s.swap_map[off] = 0
        id = s.cgroup[off]
        if id:
            s.cgroup[off] = 0
            if self.pm.memcg.uncharge_swap != NULL:
                self.pm.memcg.uncharge_swap(self.pm.memcg.ctx, id, 1, False)
        self.swap_range_free(s, off)
        return 0

    cdef int put_swap_page(self, uint64_t entry) except -1:
        """put_swap_page() of an order-0 page (transition D): SWAP_HAS_CACHE dropped; a slot
        left with nothing is freed (free_swap_slot)."""
        cdef swap_info* s = self.info(entry)
        if s == NULL:
            return 0
        if self.__swap_entry_free_locked(s, swp_offset(entry), SWAP_HAS_CACHE) == 0:
            self.free_swap_slot(entry)
        return 0

    cdef int swap_free(self, uint64_t entry) except -1:
        """swap_free() (transition E): one reference dropped; nothing left: free_swap_slot."""
        cdef swap_info* s = self.info(entry)
        if s == NULL:
            return 0
        if self.__swap_entry_free_locked(s, swp_offset(entry), 1) == 0:
            self.free_swap_slot(entry)
        return 0

    cdef int free_swap_and_cache(self, uint64_t entry) except -1:
        """free_swap_and_cache() (transition F, zap of a swap PTE): swap_free's step, then if
        only the swap cache holds the slot and the page is not mapped or swap is full,
        try_to_free_swap() of the cached page."""
        cdef swap_info* s = self.info(entry)
        cdef uint8_t left
        cdef pfn_t pfn
        if s == NULL:
            return 0
        left = self.__swap_entry_free_locked(s, swp_offset(entry), 1)
        if left == SWAP_HAS_CACHE:
            pfn = self.cache_page(entry)
            if pfn != NO_PFN and (self.pm.mem_map[pfn]._mapcount <= 0 or self.vm_swap_full()):
                self.try_to_free_swap(pfn)
        elif left == 0:
            self.free_swap_slot(entry)
        return 0

    cdef bint vm_swap_full(self) noexcept:
        """vm_swap_full(): less than half of the swap is free."""
        return self.nr_swap_pages * 2 < self.total_swap_pages

    # -- the swap cache (mm/swap_state.c) -----------------------------------------------------------
    cdef pfn_t cache_page(self, uint64_t entry) noexcept:
        cdef swap_info* s = self.info(entry)
        cdef int64_t v
        if s == NULL:
            return NO_PFN
        v = s.cache[swp_offset(entry)]
        return <pfn_t>(v - 1) if v > 0 else NO_PFN

    cdef bint use_vma_readahead(self) noexcept:
        """swap_use_vma_readahead(): /sys/kernel/mm/swap/vma_ra_enabled and no rotational swap
        area on (nr_rotate_swap)."""
        return self.vma_ra_enabled and self.nr_rotate_swap == 0

    cdef pfn_t lookup_swap_cache(self, uint64_t entry, VmArea vma, uint64_t addr) except? 0xfffffffffffffffe:
        """lookup_swap_cache(): find_total++, and find_success++ on a hit; a hit on a page
        readahead brought in (PG_readahead, cleared) counts swap_ra_hit and a readahead hit: in
        the VMA's swap_readahead_info with VMA readahead (which also records ``addr``), else in
        swapin_readahead_hits."""
        cdef pfn_t pfn = self.cache_page(entry)
        cdef page* p
        cdef bint readahead, vma_ra
        cdef uint64_t ra, win, hits
        self.find_total += 1
        if pfn == NO_PFN:
            return NO_PFN
        self.find_success += 1
        p = &self.pm.mem_map[pfn]
        readahead = (p.flags & (1ULL << PG_readahead)) != 0
        p.flags &= ~(1ULL << PG_readahead)
        vma_ra = self.use_vma_readahead()
        if vma is not None and vma_ra:
            ra = vma.swap_readahead_info
            win = (ra & SWAP_RA_WIN_MASK) >> SWAP_RA_WIN_SHIFT
            hits = ra & SWAP_RA_HITS_MASK
            if readahead and hits < SWAP_RA_HITS_MAX:
                hits += 1
            vma.swap_readahead_info = (addr & ~(<uint64_t>PAGE_SIZE - 1)) | (win << SWAP_RA_WIN_SHIFT) | hits
        if readahead:
            count_vm_event(self.pm.vs, SWAP_RA_HIT)
            if vma is None or not vma_ra:
                self.ra_hits += 1
        return pfn

    cdef int add_to_swap_cache(self, pfn_t pfn, uint64_t entry, uint64_t* shadow) except -1:
        """add_to_swap_cache(): the page's reference, PG_swapcache, page->private = entry, the
        slot's old shadow handed back, nrpages, NR_FILE_PAGES (node) and NR_SWAPCACHE (node,
        and the memcg the page is charged to now), add_total.  -ENOMEM when the XArray could
        not grow (``fail_add_to_swap_cache``, for tests)."""
        cdef swap_info* s = self.info(entry)
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t off = swp_offset(entry)
        if self.fail_add_to_swap_cache > 0:
            self.fail_add_to_swap_cache -= 1
            return -ENOMEM
        p._refcount += 1
        p.flags |= 1ULL << PG_swapcache
        if shadow != NULL:
            shadow[0] = entry_to_shadow(s.cache[off]) if s.cache[off] < 0 else 0
        p.private = entry
        s.cache[off] = <int64_t>pfn + 1
        s.cache_pages += 1
        __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_FILE_PAGES, 1)
        if self.charge_first:
            __mod_lruvec_page_state(self.pm.vs, p, NR_SWAPCACHE, 1)
            if p.memcg_data:            # the memcg's NR_SWAPCACHE (memory.stat swapcached)
                self.memcg_cache_pages += 1
                if self.memcg_cache_pages > self.memcg_cache_peak:
                    self.memcg_cache_peak = self.memcg_cache_pages
        else:                   # v5.12 had no NR_SWAPCACHE item: the node's count backs SwapCached
            __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_SWAPCACHE, 1)
        self.add_total += 1
        return 0

    cdef int __delete_from_swap_cache(self, pfn_t pfn, uint64_t entry, uint64_t shadow) except -1:
        """__delete_from_swap_cache(): the slot gets ``shadow`` (or nothing), private 0,
        PG_swapcache cleared, nrpages, NR_FILE_PAGES, NR_SWAPCACHE (of the memcg the page is
        charged to now) down, del_total.  Neither the map byte nor the reference."""
        cdef swap_info* s = self.info(entry)
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t off = swp_offset(entry)
        s.cache[off] = shadow_to_entry(shadow) if shadow else 0
        s.cache_pages -= 1
        p.private = 0
        p.flags &= ~(1ULL << PG_swapcache)
        __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_FILE_PAGES, -1)
        if self.charge_first:
            __mod_lruvec_page_state(self.pm.vs, p, NR_SWAPCACHE, -1)
            if p.memcg_data:
                self.memcg_cache_pages -= 1
        else:                   # v5.12 had no NR_SWAPCACHE item: the node's count backs SwapCached
            __mod_node_page_state(self.pm.vs, page_to_nid(p), NR_SWAPCACHE, -1)
        self.del_total += 1
        return 0

    cdef int delete_from_swap_cache(self, pfn_t pfn) except -1:
        """delete_from_swap_cache(): __delete_from_swap_cache() without a shadow,
        put_swap_page() (transition D), and the swap cache's reference dropped."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t entry = p.private
        self.__delete_from_swap_cache(pfn, entry, 0)
        self.put_swap_page(entry)
        self.pm.put_page(pfn)
        return 0

    cdef bint try_to_free_swap(self, pfn_t pfn) except -1:
        """try_to_free_swap(): a swap-cache page not under writeback whose slot no swap PTE
        references leaves the swap cache (delete_from_swap_cache) and is dirtied."""
        cdef page* p = &self.pm.mem_map[pfn]
        if not p.flags & (1ULL << PG_swapcache) or p.flags & (1ULL << PG_writeback):
            return False
        if self.swap_count_of(p.private) != 0:
            return False
        self.delete_from_swap_cache(pfn)
        p.flags |= 1ULL << PG_dirty
        return True

    cdef int swap_out(self, pfn_t pfn, uint64_t* entry) except? -1000000:
        """add_to_swap(): get_swap_page(), add_to_swap_cache() (failing: put_swap_page), and
        the page dirtied so that pageout writes it."""
        cdef uint64_t e = self.get_swap_page(pfn)
        cdef page* p = &self.pm.mem_map[pfn]
        if e == 0:
            return -ENOMEM
        if self.add_to_swap_cache(pfn, e, NULL) != 0:
            self.put_swap_page(e)
            return -ENOMEM
        p.flags |= 1ULL << PG_dirty
        entry[0] = e
        return 0

    cdef int remove_swap_mapping(self, pfn_t pfn, uint64_t entry) except -1:
        """__remove_mapping() of a swap-cache page: the shadow (workingset_eviction, when the
        page was reclaimed: no PTE maps it), mem_cgroup_swapout() and
        __delete_from_swap_cache() in the profile's order (v5.13-v6.1: swapout first, so a v1
        memcg's NR_SWAPCACHE is not decremented -- the swapcached drift v6.2 fixed), then
        put_swap_page().  The caller drops the swap cache's reference."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef uint64_t shadow = 0
        cdef swap_info* s = self.info(entry)
        cdef int id
        if p._mapcount <= 0:
            shadow = self.core.workingset.workingset_eviction(pfn, NULL, 0)
        if self.swapout_first:
            self._swapout(pfn, entry, s)
            self.__delete_from_swap_cache(pfn, entry, shadow)
        else:
            self.__delete_from_swap_cache(pfn, entry, shadow)
            self._swapout(pfn, entry, s)
        self.put_swap_page(entry)
        return 0

    cdef int _swapout(self, pfn_t pfn, uint64_t entry, swap_info* s) except -1:
        """mem_cgroup_swapout() (v1): the page's charge moves to the slot's record."""
        cdef int id
        if self.pm.memcg.swapout == NULL or self.pm.mem_map[pfn]._mapcount > 0:
            return 0
        id = self.pm.memcg.swapout(self.pm.memcg.ctx, pfn, 1)
        if id > 0:
            s.cgroup[swp_offset(entry)] = <uint16_t>id
        return 0

    # -- I/O (mm/page_io.c) -------------------------------------------------------------------
    cdef int swap_writepage(self, pfn_t pfn, uint64_t entry) except -1:
        """swap_writepage() -> __swap_writepage(): the page's bytes and stamp go to the slot,
        PSWPOUT; writeback set, and ended when the emulated disk completes the write (a
        SWP_SYNCHRONOUS_IO device at once, else at the end of reclaim's plug)."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef object buf
        cdef uint64_t stamp = 0
        if p.flags & (1ULL << PG_content):
            buf = self.pm.content.get(pfn)
            if self.pm.stamps != NULL:
                stamp = self.pm.stamps[pfn]
            self.store[entry] = (bytes(buf) if buf is not None else None, stamp)
        elif self.store:
            self.store.pop(entry, None)
        count_vm_event(self.pm.vs, PSWPOUT)
        self.swapouts += 1
        self.core.set_page_writeback(pfn)
        if self.info(entry).flags & SWP_SYNCHRONOUS_IO:
            self.core.end_page_writeback(pfn)
        else:
            self.core.submit_page_write(pfn)
        return 0

    cdef int swap_readpage(self, pfn_t pfn, uint64_t entry, bint synchronous) except -1:
        """swap_readpage(): the slot's bytes and stamp into the page, PSWPIN, PG_uptodate; a
        read the faulting task waits for (the target page) costs the device's read time."""
        cdef page* p = &self.pm.mem_map[pfn]
        cdef swap_info* s = self.info(entry)
        got = self.store.get(entry) if self.store else None
        if got is not None:
            if got[0] is not None:
                self.pm.content[pfn] = bytearray(got[0])
            if got[1]:
                self.pm.stamp_frame(pfn, got[1])
            p.flags |= 1ULL << PG_content
        count_vm_event(self.pm.vs, PSWPIN)
        self.swapins += 1
        if synchronous and s != NULL:
            self.pm.tb.clock.now += s.read_ns
        return 0

    # -- swap-in (mm/swap_state.c, mm/memory.c) ------------------------------------------------------
    cdef int charge_swapin(self, pfn_t pfn, object mm, gfp_t gfp, uint64_t entry) except -1:
        """mem_cgroup_swapin_charge_page() with the slot's swap_cgroup record."""
        cdef swap_info* s = self.info(entry)
        if self.pm.memcg.swapin_charge == NULL:
            return 0
        return self.pm.memcg.swapin_charge(self.pm.memcg.ctx, pfn, mm, gfp,
                                           s.cgroup[swp_offset(entry)] if s != NULL else 0)

    cdef int swapin_uncharge_swap(self, uint64_t entry) except -1:
        """mem_cgroup_swapin_uncharge_swap(): with v1 memory+swap accounting the slot's swap
        charge and record go (the page carries the charge now); else nothing."""
        cdef swap_info* s = self.info(entry)
        cdef uint64_t off = swp_offset(entry)
        if s == NULL or self.pm.memcg.uncharge_swap == NULL or s.cgroup[off] == 0:
            return 0
        if self.pm.memcg.uncharge_swap(self.pm.memcg.ctx, s.cgroup[off], 1, True):
            s.cgroup[off] = 0
        return 0

    cdef pfn_t __read_swap_cache_async(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                        uint64_t addr, bint* allocated) except? 0xfffffffffffffffe:
        """__read_swap_cache_async(): the cached page, or a new one -- swapcache_prepare()
        (-EEXIST: someone is inserting, look again; -ENOENT: the slot went), then with the
        swapin-charge-first change the charge (mem_cgroup_swapin_charge_page), add_to_swap_cache()
        and mem_cgroup_swapin_uncharge_swap(); without it (v5.12) add_to_swap_cache() first and
        the charge after (failing: delete_from_swap_cache).  A failure puts the slot's
        SWAP_HAS_CACHE back (put_swap_page) and frees the page, which uncharges it.  A shadow
        found in the slot is a refault (workingset_refault); the page goes to the LRU."""
        cdef pfn_t pfn
        cdef int err
        cdef uint64_t shadow = 0
        cdef page* p
        cdef object mm = None
        allocated[0] = False
        while True:
            if self.info(entry) == NULL:
                return NO_PFN
            pfn = self.cache_page(entry)
            if pfn != NO_PFN:
                return pfn
            if self.swap_count_of(entry) == 0 and not self.swapoff_running:
                return NO_PFN
            if self.fail_swapin_alloc > 0:     # tests: the allocation fails (fail_page_alloc)
                self.fail_swapin_alloc -= 1
                return NO_PFN
            pfn = self.core.alloc_user_page(gfp, vma, addr)
            if pfn == NO_PFN:
                return NO_PFN
            err = self.swapcache_prepare(entry)
            if err == 0:
                break
            self.pm.put_page(pfn)
            if err != -EEXIST:
                return NO_PFN
            # -EEXIST: someone holds SWAP_HAS_CACHE (cond_resched / v5.15+
            # schedule_timeout_uninterruptible(1), then look again).  memsim's tasks do not
            # interleave inside this function, so an insertion in flight has finished; a bit held
            # with no page in the cache (a slot queued for its final free) cannot change while
            # this task waits, so give up rather than spin
            if self.retry_sleeps:
                self.pm.tb.clock.now += 1000000
            if self.cache_page(entry) == NO_PFN:
                return NO_PFN
        p = &self.pm.mem_map[pfn]
        p.flags |= 1ULL << PG_swapbacked
        if self.charge_first:
            if self.charge_swapin(pfn, mm, gfp, entry) != 0:
                self.put_swap_page(entry)
                self.pm.put_page(pfn)
                return NO_PFN
            if self.add_to_swap_cache(pfn, entry, &shadow) != 0:
                self.put_swap_page(entry)
                self.pm.put_page(pfn)
                return NO_PFN
            self.swapin_uncharge_swap(entry)
        else:
            if self.add_to_swap_cache(pfn, entry, &shadow) != 0:
                self.put_swap_page(entry)
                self.pm.put_page(pfn)
                return NO_PFN
            if self.pm.memcg.swapin_charge != NULL:
                self.uncharged_adds += 1        # in the swap cache, not yet charged
            err = self.charge_swapin(pfn, mm, gfp, entry)
            if err != 0:
                self.delete_from_swap_cache(pfn)
                self.pm.put_page(pfn)
                return NO_PFN
            self.swapin_uncharge_swap(entry)
        if shadow:
            self.core.workingset.workingset_refault(pfn, shadow)
        self.pm.lru_cache_add(pfn)
        allocated[0] = True
        return pfn

    cdef pfn_t read_swap_cache_async(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                      uint64_t addr) except? 0xfffffffffffffffe:
        """read_swap_cache_async(): __read_swap_cache_async(), and swap_readpage() of a page it
        allocated (the caller holds the page's reference)."""
        cdef bint allocated = False
        cdef pfn_t pfn = self.__read_swap_cache_async(entry, gfp, vma, addr, &allocated)
        if pfn == NO_PFN:
            return NO_PFN
        if allocated:
            self.swap_readpage(pfn, entry, True)
        else:
            self.pm.mem_map[pfn]._refcount += 1
        return pfn

    cdef int readahead_one(self, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                           bint target) except -1:
        """One slot of a readahead window (the loops of swap_cluster_readahead and
        swap_vma_readahead): __read_swap_cache_async(), and a page it allocated read -- the
        fault's own page as the read the fault waits for, the others marked PG_readahead and
        counted in swap_ra -- and released (the swap cache keeps it).  A page already cached
        is left as it is."""
        cdef bint allocated = False
        cdef pfn_t p = self.__read_swap_cache_async(entry, gfp, vma, addr, &allocated)
        if p == NO_PFN or not allocated:
            return 0
        self.swap_readpage(p, entry, target)
        if not target:
            self.pm.mem_map[p].flags |= 1ULL << PG_readahead
            count_vm_event(self.pm.vs, SWAP_RA)
        self.pm.put_page(p)
        return 0

    cdef unsigned int __swapin_nr_pages(self, uint64_t prev_offset, uint64_t offset,
                                        unsigned int hits, unsigned int max_pages,
                                        unsigned int prev_win) noexcept:
        """__swapin_nr_pages(): the readahead window from the hits since the last call: hits + 2
        pages, 1 when there were none unless the offset follows the previous one, else rounded
        up to a power of two (at least 4); at most ``max_pages``, never below half the previous
        window."""
        cdef unsigned int pages = hits + 2, roundup
        if pages == 2:
            if offset != prev_offset + 1 and offset != prev_offset - 1:
                pages = 1
        else:
            roundup = 4
            while roundup < pages:
                roundup <<= 1
            pages = roundup
        if pages > max_pages:
            pages = max_pages
        if pages < prev_win / 2:
            pages = prev_win / 2
        return pages

    cdef unsigned int swapin_nr_pages(self, uint64_t offset) noexcept:
        """swapin_nr_pages() (cluster readahead): the window from swapin_readahead_hits (taken
        and reset), prev_offset (moved only by a call without hits) and last_readahead_pages;
        2^page_cluster at most (1: no readahead)."""
        cdef unsigned int hits, pages, max_pages = 1U << self.page_cluster
        if max_pages <= 1:
            return 1
        hits = self.ra_hits
        self.ra_hits = 0
        pages = self.__swapin_nr_pages(self.ra_prev_offset, offset, hits, max_pages,
                                       self.ra_last_pages)
        if not hits:
            self.ra_prev_offset = offset
        self.ra_last_pages = pages
        return pages

    cdef pfn_t swap_cluster_readahead(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                       uint64_t addr) except? 0xfffffffffffffffe:
        """swap_cluster_readahead(): the aligned window of swapin_nr_pages() slots around the
        target (slot 0 skipped, the end clamped to the device): every slot is read in
        (readahead_one: the others marked PG_readahead and counted in swap_ra), then the target
        is taken from the swap cache (read_swap_cache_async)."""
        cdef uint64_t offset = swp_offset(entry), start, end, off
        cdef unsigned int mask = self.swapin_nr_pages(offset) - 1
        cdef swap_info* s = self.info(entry)
        if mask and s != NULL:
            start = offset & ~(<uint64_t>mask)
            end = offset | mask
            if start == 0:
                start = 1
            if end >= s.max:
                end = s.max - 1
            for off in range(start, end + 1):
                self.readahead_one(swp_entry(s.type, off), gfp, vma, addr, off == offset)
            self.pm.lru_add_drain()
        return self.read_swap_cache_async(entry, gfp, vma, addr)

    cdef pfn_t swap_vma_readahead(self, uint64_t fentry, gfp_t gfp, VmArea vma, vm_fault* vmf) except? 0xfffffffffffffffe:
        """swap_vma_readahead() with swap_ra_info(): the window (__swapin_nr_pages of the VMA's
        swap_readahead_info: its last fault address, window and hits; at most
        2^min(page_cluster, SWAP_RA_ORDER_CEILING)) is placed after the fault when the last one
        was the page before, before it when it was the page after, else around it, clamped to
        the VMA and the fault's PMD; every swap PTE in it is read (the others marked
        PG_readahead, counted in swap_ra, released), then the fault's page
        (read_swap_cache_async)."""
        cdef uint64_t faddr = vmf.address, fpfn = faddr >> PAGE_SHIFT, ra = vma.swap_readahead_info
        cdef uint64_t pfn = (ra & ~(<uint64_t>PAGE_SIZE - 1)) >> PAGE_SHIFT
        cdef unsigned int prev_win = <unsigned int>((ra & SWAP_RA_WIN_MASK) >> SWAP_RA_WIN_SHIFT)
        cdef unsigned int hits = <unsigned int>(ra & SWAP_RA_HITS_MASK)
        cdef unsigned int order = self.page_cluster if self.page_cluster < SWAP_RA_ORDER_CEILING else SWAP_RA_ORDER_CEILING
        cdef unsigned int max_win = 1U << order, win, left
        cdef uint64_t lpfn, rpfn, start, end, a, e, entry
        cdef uint64_t pmd_start = (faddr & ~(<uint64_t>PMD_SIZE - 1)) >> PAGE_SHIFT
        cdef uint64_t* pte
        cdef int err
        cdef swap_info* s
        if max_win == 1:
            return self.read_swap_cache_async(fentry, gfp, vma, faddr)
        win = self.__swapin_nr_pages(pfn, fpfn, hits, max_win, prev_win)
        vma.swap_readahead_info = (faddr & ~(<uint64_t>PAGE_SIZE - 1)) | (<uint64_t>win << SWAP_RA_WIN_SHIFT)
        if win == 1:
            return self.read_swap_cache_async(fentry, gfp, vma, faddr)
        if fpfn == pfn + 1:
            lpfn, rpfn = fpfn, fpfn + win
        elif pfn == fpfn + 1:
            lpfn, rpfn = fpfn - win + 1, fpfn + 1
        else:
            left = (win - 1) / 2
            lpfn, rpfn = fpfn - left, fpfn + win - left
        start = max(lpfn, max(vma.vm_start >> PAGE_SHIFT, pmd_start))
        end = min(rpfn, min(vma.vm_end >> PAGE_SHIFT, pmd_start + 512))
        for a in range(start, end):
            err = 0
            pte = self.core.walk(vma.vm_mm, a << PAGE_SHIFT, False, &err)
            if pte == NULL or err:
                continue
            e = pte[0]
            if e == 0 or e & _PAGE_PRESENT:
                continue
            entry = pte_to_swp_entry(e)
            s = self.info(entry)
            if s == NULL:
                continue                    # a PTE marker or another non-swap entry
            self.readahead_one(entry, gfp, vma, faddr, a == fpfn)
        self.pm.lru_add_drain()
        return self.read_swap_cache_async(fentry, gfp, vma, faddr)

    cdef pfn_t swapin_readahead(self, uint64_t entry, gfp_t gfp, VmArea vma, vm_fault* vmf) except? 0xfffffffffffffffe:
        """swapin_readahead(): VMA-based readahead when swap_use_vma_readahead(), else the
        swap-offset cluster."""
        if self.use_vma_readahead():
            return self.swap_vma_readahead(entry, gfp, vma, vmf)
        return self.swap_cluster_readahead(entry, gfp, vma, vmf.address)

    cdef int page_add_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) except -1:
        """page_add_anon_rmap() of a swap-cache page: the mapcount; the first mapping gives a
        page without an anon_vma the VMA's (__page_set_anon_rmap) and NR_ANON_MAPPED."""
        cdef page* p = &self.pm.mem_map[pfn]
        if p._mapcount <= 0:
            p._mapcount = 0
            if not p.mapping & PAGE_MAPPING_ANON:
                p.mapping = self.core.anon_vma_prepare(vma) | PAGE_MAPPING_ANON
                p.index = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
            __mod_lruvec_page_state(self.pm.vs, p, NR_ANON_MAPPED, 1)
        p._mapcount += 1
        return 0

    cdef int do_swap_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
        """do_swap_page() for a swap entry: the swap cache, else a new page -- on a
        SWP_SYNCHRONOUS_IO device with a count of 1 read directly (the swap cache skipped:
        charged, swapin_uncharge_swap, page->private = entry around the read), else through
        swap_cluster_readahead; VM_FAULT_MAJOR for a page read in.  Then the PTE is checked
        again, MM_ANONPAGES +1 and MM_SWAPENTS -1 (add_mm_counter_fast: the task's cache on v5.14), a write
        fault on a page only this PTE wants takes it out of the swap cache (reuse_swap_page)
        and maps it writable, the rmap, swap_free(), try_to_free_swap() when swap is full or
        the VMA is locked, and a write that could not reuse goes on to do_wp_page (COW)."""
        cdef uint64_t entry = pte_to_swp_entry(vmf.orig_pte)
        cdef swap_info* s = self.info(entry)
        cdef pfn_t pfn
        cdef page* p
        cdef int ret = 0
        cdef bint write = vmf.flags & FAULT_FLAG_WRITE, skipped = False, exclusive
        cdef uint64_t pte, shadow
        cdef int64_t v
        if s == NULL:
            return VM_FAULT_SIGBUS          # print_bad_pte: no such device or offset
        pfn = self.lookup_swap_cache(entry, vma, vmf.address)
        if pfn == NO_PFN:
            if s.flags & SWP_SYNCHRONOUS_IO and self.swap_count_of(entry) == 1:
                pfn = self.core.alloc_user_page(self.core.gfp_user, vma, vmf.address)
                if pfn != NO_PFN:
                    p = &self.pm.mem_map[pfn]
                    p.flags |= 1ULL << PG_swapbacked
                    if self.charge_swapin(pfn, mm, GFP_KERNEL, entry) != 0:
                        self.pm.put_page(pfn)
                        return VM_FAULT_OOM
                    self.swapin_uncharge_swap(entry)
                    v = s.cache[swp_offset(entry)]
                    if v < 0:
                        self.core.workingset.workingset_refault(pfn, entry_to_shadow(v))
                    self.pm.lru_cache_add(pfn)
                    p.private = entry
                    self.swap_readpage(pfn, entry, True)
                    p.private = 0
                    skipped = True
            else:
                pfn = self.swapin_readahead(entry, self.core.gfp_user, vma, vmf)
            if pfn == NO_PFN:
                if vmf.pte[0] == vmf.orig_pte:
                    return VM_FAULT_OOM
                return 0
            ret = VM_FAULT_MAJOR
        else:
            self.pm.mem_map[pfn]._refcount += 1
        p = &self.pm.mem_map[pfn]
        if not skipped and (not p.flags & (1ULL << PG_swapcache) or p.private != entry):
            self.pm.put_page(pfn)           # the page left the cache meanwhile
            return ret
        if vmf.pte[0] != vmf.orig_pte:
            self.pm.put_page(pfn)
            return ret
        mm.add_mm_counter_fast(MM_ANONPAGES, 1)
        mm.add_mm_counter_fast(MM_SWAPENTS, -1)
        pte = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
        if vmf.orig_pte & _PAGE_SWP_UFFD_WP:
            pte |= _PAGE_UFFD_WP
        # reuse_swap_page(): a write fault on a page no other mapping or swap PTE wants
        exclusive = False
        if write and vma.vm_flags & VM_WRITE and not vmf.orig_pte & _PAGE_SWP_UFFD_WP:
            if skipped:
                exclusive = True
            elif p._mapcount <= 0 and self.swp_swapcount(entry) == 1 and \
                    not p.flags & (1ULL << PG_writeback):
                self.delete_from_swap_cache(pfn)
                p.flags |= 1ULL << PG_dirty
                exclusive = True
        if exclusive:
            pte |= _PAGE_RW | _PAGE_DIRTY
            write = False
            ret |= VM_FAULT_WRITE
        vmf.pte[0] = pte
        if skipped:
            self.core.page_add_new_anon_rmap(pfn, vma, vmf.address)
        else:
            self.page_add_anon_rmap(pfn, vma, vmf.address)
        self.swap_free(entry)
        if p.flags & (1ULL << PG_swapcache) and \
                (self.vm_swap_full() or vma.vm_flags & VM_LOCKED or p.flags & (1ULL << PG_mlocked) or
                 (self.pm.memcg.swap_full != NULL and self.pm.memcg.swap_full(self.pm.memcg.ctx, pfn))):
            self.try_to_free_swap(pfn)
        if write:
            vmf.orig_pte = pte
            ret |= self.core.do_wp_page(mm, vma, vmf)
        return ret

    cdef int unuse_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte,
                       uint64_t entry, pfn_t pfn) except -1:
        """unuse_pte() (swapoff): the swap PTE becomes an old, read-only PTE of the page
        (MM_SWAPENTS -1, MM_ANONPAGES +1: direct counters, each an rss_stat), the rmap, and
        swap_free() of the entry."""
        self.pm.mem_map[pfn]._refcount += 1          # get_page(): the PTE's reference
        mm.add_mm_counter(MM_SWAPENTS, -1, False)
        mm.add_mm_counter(MM_ANONPAGES, 1, False)
        pte[0] = (pfn << PAGE_SHIFT) | _PAGE_PRESENT | _PAGE_USER | \
            (_PAGE_UFFD_WP if pte[0] & _PAGE_SWP_UFFD_WP else 0)
        self.page_add_anon_rmap(pfn, vma, addr)
        self.swap_free(entry)
        return 0

    def unuse_vma(self, MmStruct mm, VmArea vma, int t):
        """unuse_vma() -> unuse_pte_range() of one VMA for device ``t``: every swap PTE of the
        device is swapped in (read_swap_cache_async, no readahead) and mapped again.  Returns
        0, or -ENOMEM when a page could not be had (what was done stays)."""
        cdef uint64_t addr = vma.vm_start, e, entry
        cdef uint64_t* pte
        cdef int err
        cdef pfn_t pfn
        while addr < vma.vm_end:
            err = 0
            pte = self.core.walk(mm, addr, False, &err)
            if pte == NULL or err:
                addr += PAGE_SIZE
                continue
            e = pte[0]
            if e == 0 or e & _PAGE_PRESENT:
                addr += PAGE_SIZE
                continue
            entry = pte_to_swp_entry(e)
            if swp_type(entry) != t:
                addr += PAGE_SIZE
                continue
            pfn = self.read_swap_cache_async(entry, self.core.gfp_user, vma, addr)
            if pfn == NO_PFN:
                if self.info(entry) == NULL or self.swap_count_of(entry) == 0:
                    addr += PAGE_SIZE
                    continue
                return -ENOMEM
            if pte[0] == e:
                self.unuse_pte(mm, vma, addr, pte, entry, pfn)
            self.pm.mark_page_accessed(pfn)
            self.pm.put_page(pfn)
            addr += PAGE_SIZE
        return 0

    def free_cached(self, int t):
        """try_to_unuse()'s last step for device ``t``: every swap-cache page left (no PTE
        refers to its slot) is dirtied and deleted from the swap cache (try_to_free_swap)."""
        cdef swap_info* s = self._dev(t)
        cdef uint64_t off
        cdef pfn_t pfn
        for off in range(1, s.max):
            if s.cache[off] > 0:
                pfn = <pfn_t>(s.cache[off] - 1)
                self.pm.mem_map[pfn]._refcount += 1
                self.try_to_free_swap(pfn)
                self.pm.put_page(pfn)

    # -- shmem (mm/shmem.c's calls into the swap code) ------------------------------------------------
    cdef int shmem_add_to_swap(self, pfn_t pfn, uint64_t* entry) except? -1000000:
        """shmem_writepage()'s get_swap_page() and add_to_swap_cache() (failing: put_swap_page);
        the page stays as pageout() left it, clean, for swap_writepage.  0 or -ENOMEM."""
        cdef uint64_t e = self.get_swap_page(pfn)
        if e == 0:
            return -ENOMEM
        if self.add_to_swap_cache(pfn, e, NULL) != 0:
            self.put_swap_page(e)
            return -ENOMEM
        entry[0] = e
        return 0

    cdef int swap_shmem_alloc(self, uint64_t entry) except -1:
        """swap_shmem_alloc() (transition H): the slot's count is shmem's, SWAP_MAP_SHMEM with
        SWAP_HAS_CACHE kept (0xff while the page is in the swap cache, 0xbf after); from v6.13
        ("mm: remove SWAP_MAP_SHMEM") swap_duplicate_nr(): a count of 1 (0x41, then 0x01)."""
        # __swap_duplicate(entry, SWAP_MAP_SHMEM): the reserved slot's count 0 + 0xbf
        self.__swap_duplicate(entry, SWAP_MAP_SHMEM if self.swap_map_shmem else 1)
        return 0

    cdef pfn_t shmem_swapin(self, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                            int* major) except? 0xfffffffffffffffe:
        """shmem_swapin_page()'s read: lookup_swap_cache() (a hit takes a reference), else a
        major fault's read, shmem_swapin() -> swap_cluster_readahead() (never VMA readahead)
        through shmem's pseudo-VMA, whose mm is NULL (the charge goes to the slot's recorded
        memcg, or the current task's).  NO_PFN: no memory, or the slot is free."""
        cdef pfn_t pfn = self.lookup_swap_cache(entry, None, 0)     # (swap, NULL, 0)
        if pfn != NO_PFN:
            self.pm.mem_map[pfn]._refcount += 1
            return pfn
        major[0] = 1
        return self.swap_cluster_readahead(entry, gfp, vma, addr)

    # -- Python entry points (steps, files, tests) ---------------------------------------------------
    def info_lines(self):
        """show_swap_cache_info(): its four lines."""
        return [f"{self.total_swapcache_pages()} pages in swap cache",
                f"Swap cache stats: add {self.add_total}, delete {self.del_total}, "
                f"find {self.find_success}/{self.find_total}",
                f"Free swap  = {self.free_swap_kb()}kB",
                f"Total swap = {self.total_swap_pages * 4}kB"]

    def total_swapcache_pages(self):
        """total_swapcache_pages(): the pages of every device's swap-cache address spaces."""
        cdef int t
        cdef uint64_t n = 0
        for t in range(self.nr_swapfiles):
            if self.si[t] != NULL:
                n += self.si[t].cache_pages
        return n

    def free_swap_kb(self):
        """si_swapinfo()'s freeswap: nr_swap_pages plus the in-use pages of devices being
        swapped off, in kB."""
        cdef int t
        cdef int64_t n = self.nr_swap_pages
        for t in range(self.nr_swapfiles):
            if self.si[t] != NULL and not self.si[t].flags & SWP_WRITEOK:
                n += self.si[t].inuse_pages
        return n * 4

    def slots_cache_state(self, int cpu):
        """(nr, cur, n_ret) of CPU ``cpu``'s slots cache."""
        cdef swap_slots_cache* c = &self.slots[cpu]
        return c.nr, c.cur, c.n_ret

    def swap_free_py(self, uint64_t entry):
        self.swap_free(entry)

    def swap_duplicate_py(self, uint64_t entry):
        return self.swap_duplicate(entry)

    def swapcache_prepare_py(self, uint64_t entry):
        return self.swapcache_prepare(entry)

    def put_swap_page_py(self, uint64_t entry):
        self.put_swap_page(entry)

    def get_swap_page_py(self, pfn_t pfn=NO_PFN):
        """get_swap_page() (a reservation; no page needed without memcg)."""
        return self.get_swap_page(pfn)

    def read_swap_cache_async_py(self, uint64_t entry, VmArea vma, uint64_t addr):
        cdef pfn_t pfn = self.read_swap_cache_async(entry, self.core.gfp_user, vma, addr)
        return None if pfn == NO_PFN else pfn

    def try_to_free_swap_py(self, pfn_t pfn):
        return self.try_to_free_swap(pfn)

    def readahead_window(self, uint64_t offset):
        """swapin_nr_pages(offset) (it updates the readahead state)."""
        return self.swapin_nr_pages(offset)

    def counters(self):
        return {"add_total": self.add_total, "del_total": self.del_total,
                "find_success": self.find_success, "find_total": self.find_total,
                "swapins": self.swapins, "swapouts": self.swapouts,
                "uncharged_adds": self.uncharged_adds,
                "memcg_cache_pages": self.memcg_cache_pages,
                "memcg_cache_peak": self.memcg_cache_peak,
                "nr_swap_pages": self.nr_swap_pages, "total_swap_pages": self.total_swap_pages}


# -- the ops table ------------------------------------------------------------------------------
cdef int _do_swap_page(void* ctx, MmStruct mm, VmArea vma, vm_fault* vmf) except -1:
    return (<SwapHost>ctx).do_swap_page(mm, vma, vmf)


cdef int _swap_free(void* ctx, uint64_t entry) except -1:
    return (<SwapHost>ctx).free_swap_and_cache(entry)


cdef int _swap_duplicate(void* ctx, uint64_t entry) except? -1000000:
    return (<SwapHost>ctx).swap_duplicate(entry)


cdef int _swap_out(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000:
    return (<SwapHost>ctx).swap_out(pfn, entry)


cdef int _swap_writepage(void* ctx, pfn_t pfn, uint64_t entry, writeback_control* wbc) except? -1000000:
    return (<SwapHost>ctx).swap_writepage(pfn, entry)


cdef int _delete_from_swap_cache(void* ctx, pfn_t pfn, uint64_t entry) except -1:
    return (<SwapHost>ctx).remove_swap_mapping(pfn, entry)


cdef int _free_swap_cache(void* ctx, pfn_t pfn) except -1:
    cdef SwapHost h = <SwapHost>ctx
    return 1 if h.try_to_free_swap(pfn) else 0


cdef int64_t _nr_swap_pages(void* ctx) noexcept:
    return (<SwapHost>ctx).nr_swap_pages


cdef int64_t _total_swap_pages(void* ctx) noexcept:
    return (<SwapHost>ctx).total_swap_pages


def entry_of(unsigned int type, uint64_t offset):
    """swp_entry(type, offset) as a number (what page->private and the swap cache hold)."""
    return swp_entry(type, offset)


def entry_parts(uint64_t entry):
    """(type, offset) of a swap entry."""
    return swp_type(entry), swp_offset(entry)


# -- the shmem swap_ops --------------------------------------------------------------------------
cdef int _shmem_add_to_swap(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000:
    return (<SwapHost>ctx).shmem_add_to_swap(pfn, entry)


cdef int _swap_shmem_alloc(void* ctx, uint64_t entry) except -1:
    return (<SwapHost>ctx).swap_shmem_alloc(entry)


cdef pfn_t _shmem_swapin(void* ctx, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                         int* major) except? 0xfffffffffffffffe:
    return (<SwapHost>ctx).shmem_swapin(entry, gfp, vma, addr, major)


cdef int _take_from_swap_cache(void* ctx, pfn_t pfn) except -1:
    """delete_from_swap_cache() of a page shmem took back (see SwapHost.delete_from_swap_cache)."""
    return (<SwapHost>ctx).delete_from_swap_cache(pfn)
