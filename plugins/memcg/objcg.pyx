# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Kernel memory in memory cgroups, in C: obj_cgroups, kmem pages and slab objects.

The core calls this module through ``memcg_ops.kmem_charge`` / ``kmem_uncharge`` (every
``__GFP_ACCOUNT`` page the allocator hands out or frees: page tables, large kmallocs) and
through the slab allocator's ``slab_memcg_ops`` (every object of a ``SLAB_ACCOUNT`` cache or of
a ``__GFP_ACCOUNT`` kmalloc).  What happens, as mm/memcontrol.c of v5.14 has it (memcg.md 2.3,
2.4, 3.3, 4.4, 4.5 and 5):

* ``get_obj_cgroup_from_current()``: no charge from interrupts or kernel threads unless an
  active memcg is set; otherwise the first memcg from current's up to (not including) the root
  that has an obj_cgroup -- tasks in the root cgroup charge no kernel memory;
* a kmem page (``__memcg_kmem_charge_page``): ``obj_cgroup_charge_pages()`` (try_charge_memcg
  on the obj_cgroup's memcg; on cgroup v1 the kmem counter too), then
  ``memcg_data = objcg | MEMCG_DATA_KMEM``; the page holds a reference on the obj_cgroup, none
  on the memcg, and its uncharge goes to whoever owns the obj_cgroup *then*;
* a slab object: ``obj_full_size`` = s->size + 8 bytes charged through the per-CPU object
  stock (``obj_cgroup_charge``: whole pages from the page counters, the rest of the last page
  kept in the stock), its obj_cgroup stored in the slab page's vector (``memcg_data = vector |
  MEMCG_DATA_OBJCGS``), its bytes added to slab_(un)reclaimable through the stock's cached
  statistics (``mod_objcg_state``); freeing it gives the bytes back to the stock, which
  uncharges whole pages once it holds more than a page;
* at a memcg's offline (``memcg_offline_kmem`` / ``memcg_reparent_objcgs``) its obj_cgroup and
  every one it inherited move to the parent: they point at the parent from then on, and the
  obj_cgroup's initial reference is dropped; the last reference releases it
  (``obj_cgroup_release``: whole pages of its leftover bytes uncharged).

With the ``objcg-kmem`` seed change off (v5.12) a kmem page is charged to the memcg itself:
``memcg_data = memcg | MEMCG_DATA_KMEM`` and a css reference, so a kmem page that outlives its
cgroup keeps the memcg dying (slab objects went through obj_cgroups already in v5.9).
"""
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from memsim._types cimport pfn_t, gfp_t, PG_head, GFP_NOFAIL_
from memsim.page cimport page
from memsim.physmem cimport PhysMem, MEMCG_DATA_OBJCGS, MEMCG_DATA_KMEM
from memsim.slab cimport KmemCache, SlabAllocator, SLAB_RECLAIM_ACCOUNT
from memsim.task cimport TaskStruct
from memsim.vmstat cimport NR_SLAB_RECLAIMABLE_B, NR_SLAB_UNRECLAIMABLE_B
from memsim.plugins.memcg.memcontrol cimport (
    MemCgroup, MemcgHost, page_counter, mod_memcg_state, mod_memcg_lruvec_state,
    counter_try_charge, counter_charge,
    counter_uncharge, mem_cgroup_is_descendant)

DEF PAGE_SIZE = 4096
DEF PAGE_SHIFT = 12
DEF OBJ_POINTER_SIZE = 8                # sizeof(struct obj_cgroup *): a vector slot
DEF PAGE_OFFSET = 0xffff888000000000   # the direct map (slab.pyx C_PAGE_OFFSET)


cdef class ObjCgroup:
    """struct obj_cgroup: ``memcg`` is its owner now, ``refcnt`` its percpu_ref."""

    def __repr__(self):
        state = "released" if self.released else ("killed" if self.killed else "live")
        return (f"<ObjCgroup {self.id} of memcg {self.origin} -> {self.memcg.id} {state} "
                f"refcnt={self.refcnt} nr_charged_bytes={self.nr_charged_bytes}>")


cdef class ObjcgHost:
    """The kmem side of a :class:`MemcgHost`: the obj_cgroups by id, the per-CPU object stocks
    and the ops the core and the slab allocator call.  ``via_objcg`` is the ``objcg-kmem``
    change; ``account_kmem_stat`` is v6.18's memcg_account_kmem() (the MEMCG_KMEM statistic,
    memory.stat ``kernel``, and a forced v1 kmem charge); ``v1_kmem_try`` is v5.14's v1 kmem
    counter, try-charged."""

    def __cinit__(self, MemcgHost h, SlabAllocator slab, bint via_objcg=True,
                  bint account_kmem_stat=False, bint v1_kmem_try=True, int memcg_kmem_item=-1,
                  bint v6=False):
        self.h = h
        self.v6 = v6
        self.orig = {}
        self.task_objcg = {}
        self.pm = h.pm
        self.slab = slab
        self.cpu = h.cpu
        self.via_objcg = via_objcg
        self.account_kmem_stat = account_kmem_stat and memcg_kmem_item >= 0
        self.v1_kmem_try = v1_kmem_try
        self.memcg_kmem_item = memcg_kmem_item
        self.objcgs = {}
        self.active_memcg = {}
        self.warnings = []
        self.id_cap = 64
        self.by_id = <void**>PyMem_Calloc(self.id_cap, sizeof(void*))
        self.stock = <obj_stock*>PyMem_Calloc(h.ncpus, sizeof(obj_stock))
        if self.by_id == NULL or self.stock == NULL:
            raise MemoryError()
        for cpu in range(h.ncpus):
            self.stock[cpu].cached_pgdat = -1

    def __dealloc__(self):
        PyMem_Free(self.by_id)
        PyMem_Free(self.stock)

    def install(self):
        """Fill the core's kmem ops and the slab allocator's memcg hooks; every memcg already
        made gets its obj_cgroup."""
        cdef SlabAllocator slab = <SlabAllocator>self.slab
        self.pm.memcg.kmem_charge = _kmem_charge
        self.pm.memcg.kmem_uncharge = _kmem_uncharge
        self.pm.memcg.split_page_memcg = _split_page_memcg
        slab.memcg_ops.pre_alloc = _slab_pre_alloc
        slab.memcg_ops.post_alloc = _slab_post_alloc
        slab.memcg_ops.free_hook = _slab_free_hook
        slab.memcg_ops.free_slab = _free_slab
        slab.memcg_ops.ctx = <void*>self
        self.h.kmem = self
        self.h.kmem_page_memcg = _kmem_page_memcg
        self.h.kmem_ctx = <void*>self
        for m in list(self.h.memcgs.values()):
            if m.parent is not None and m.online:
                self.online_kmem(m)

    def uninstall(self):
        cdef SlabAllocator slab = <SlabAllocator>self.slab
        self.pm.memcg.kmem_charge = NULL
        self.pm.memcg.kmem_uncharge = NULL
        self.pm.memcg.split_page_memcg = NULL
        memset(&slab.memcg_ops, 0, sizeof(slab.memcg_ops))
        self.h.kmem = None
        self.h.kmem_page_memcg = NULL
        self.h.kmem_ctx = NULL

    # -- the obj_cgroup lifecycle ---------------------------------------------------------------
    def online_kmem(self, MemCgroup memcg):
        """memcg_online_kmem(): a new obj_cgroup for ``memcg`` (refcount 1, the memcg's)."""
        cdef ObjCgroup objcg = ObjCgroup.__new__(ObjCgroup)
        cdef int id = 1
        cdef void** p
        cdef int cap
        while id < self.id_cap and self.by_id[id] != NULL:
            id += 1
        if id >= self.id_cap:
            cap = self.id_cap * 2
            p = <void**>PyMem_Realloc(self.by_id, cap * sizeof(void*))
            if p == NULL:
                raise MemoryError()
            memset(&p[self.id_cap], 0, (cap - self.id_cap) * sizeof(void*))
            self.by_id = p
            self.id_cap = cap
        objcg.id = id
        objcg.memcg = memcg
        objcg.origin = memcg.id
        objcg.refcnt = 1
        self.by_id[id] = <void*>objcg
        self.objcgs[id] = objcg
        memcg.objcg = objcg
        if self.v6:                         # memcg->orig_objcg: kept until the memcg is freed
            objcg.refcnt += 1
            self.orig[memcg.id] = objcg
        return objcg

    def css_free(self, MemCgroup memcg):
        """mem_cgroup_css_free() (v6.x): the memcg's reference on its orig_objcg goes."""
        cdef ObjCgroup objcg = self.orig.pop(memcg.id, None)
        if objcg is not None:
            self.obj_cgroup_put(objcg, 1, self.cpu[0])

    def task_exit(self, int pid):
        """mem_cgroup_exit() (v6.x): the task's current->objcg reference goes."""
        cached = self.task_objcg.pop(pid, None)
        if cached is not None:
            self.obj_cgroup_put(<ObjCgroup>cached[0], 1, self.cpu[0])

    def offline_kmem(self, MemCgroup memcg):
        """memcg_offline_kmem() -> memcg_reparent_objcgs(): the memcg's obj_cgroup is detached
        and joins the ones it inherited; all of them now belong to the parent and move onto its
        list; the detached one's initial reference is dropped (percpu_ref_kill)."""
        cdef ObjCgroup objcg = memcg.objcg
        cdef MemCgroup parent = memcg.parent if memcg.parent is not None else self.h.root
        cdef ObjCgroup it
        if objcg is None:
            return
        memcg.objcg = None
        memcg.objcg_list.insert(0, objcg)           # list_add()
        for it in memcg.objcg_list:
            it.memcg = parent
        parent.objcg_list[0:0] = memcg.objcg_list   # list_splice()
        memcg.objcg_list = []
        objcg.killed = True
        self.obj_cgroup_put(objcg, 1, self.cpu[0])

    cdef ObjCgroup objcg_of(self, int id):
        if id <= 0 or id >= self.id_cap or self.by_id[id] == NULL:
            return None
        return <ObjCgroup>self.by_id[id]

    def get(self, int id):
        """The obj_cgroup with this id (None once released)."""
        return self.objcg_of(id)

    cdef void obj_cgroup_put(self, ObjCgroup objcg, int64_t n, int cpu) noexcept:
        """obj_cgroup_put(): the last reference of a killed obj_cgroup releases it
        (obj_cgroup_release): the whole pages of its leftover bytes are uncharged from its
        owner, through ``cpu``'s stock; a leftover that is not whole pages is the kernel's
        one-time warning, and its remainder is never uncharged."""
        cdef int64_t nr_pages
        objcg.refcnt -= n
        if objcg.refcnt > 0 or not objcg.killed or objcg.released:
            return
        objcg.released = True
        if objcg.nr_charged_bytes & (PAGE_SIZE - 1):
            self.warnings.append(f"obj_cgroup_release: obj_cgroup {objcg.id} has "
                                 f"{objcg.nr_charged_bytes} charged bytes, not whole pages")
        nr_pages = objcg.nr_charged_bytes >> PAGE_SHIFT
        if nr_pages:
            self.obj_cgroup_uncharge_pages(objcg, nr_pages, cpu)
        try:
            objcg.memcg.objcg_list.remove(objcg)
        except ValueError:
            pass
        self.by_id[objcg.id] = NULL
        self.objcgs.pop(objcg.id, None)

    # -- whom to charge (memcg_kmem_bypass, get_obj_cgroup_from_current) ------------------------
    def set_active_memcg(self, int pid, MemCgroup memcg):
        """set_active_memcg() for task ``pid`` (None: unset): its kernel allocations charge
        ``memcg`` even from a kernel thread."""
        if memcg is None:
            self.active_memcg.pop(pid, None)
        else:
            self.active_memcg[pid] = memcg

    cdef MemCgroup current_kmem_memcg(self):
        """The memcg current's kernel allocations start from: the active memcg, else current's
        own; None when memcg_kmem_bypass() says no charge (no task: an interrupt; no mm: a
        kernel thread)."""
        cdef TaskStruct cur = self.pm.cur.task
        cdef object active = None
        if cur is not None and self.active_memcg:
            active = self.active_memcg.get(cur.pid)
        if active is not None:
            return <MemCgroup>active
        if cur is None or cur.mm is None:
            return None
        return self.h.root if cur.memcg is None else <MemCgroup>cur.memcg

    cdef ObjCgroup get_obj_cgroup_from_current(self):
        """get_obj_cgroup_from_current(): the first obj_cgroup from current's memcg up to, not
        including, the root (a reference taken); None: no charge.  v6.x (current_obj_cgroup):
        a task keeps the one it found in current->objcg, with a reference, until it has moved
        to another cgroup (current_objcg_update) or exits."""
        cdef MemCgroup memcg = self.current_kmem_memcg()
        cdef ObjCgroup objcg = None
        cdef TaskStruct cur
        cdef object cached
        if self.v6 and memcg is not None:
            cur = self.pm.cur.task
            if cur is not None and not (self.active_memcg and cur.pid in self.active_memcg):
                cached = self.task_objcg.get(cur.pid)
                if cached is not None and cached[1] is memcg:
                    objcg = <ObjCgroup>cached[0]
                    objcg.refcnt += 1
                    return objcg
                if cached is not None:
                    del self.task_objcg[cur.pid]
                    self.obj_cgroup_put(<ObjCgroup>cached[0], 1, self.cpu[0])
                objcg = self.objcg_walk(memcg)
                if objcg is not None:
                    objcg.refcnt += 2           # current->objcg's, and the caller's
                    self.task_objcg[cur.pid] = (objcg, memcg)
                return objcg
        objcg = self.objcg_walk(memcg)
        if objcg is not None:
            objcg.refcnt += 1
        return objcg

    cdef ObjCgroup objcg_walk(self, MemCgroup memcg):
        """__get_obj_cgroup_from_memcg(): the first memcg up to, not including, the root that
        still has an obj_cgroup."""
        while memcg is not None and memcg.parent is not None:
            if memcg.objcg is not None:
                return <ObjCgroup>memcg.objcg
            memcg = memcg.parent
        return None

    # -- pages (obj_cgroup_charge_pages, obj_cgroup_uncharge_pages) ------------------------------
    cdef void account_kmem(self, MemCgroup memcg, int64_t nr) noexcept:
        """memcg_account_kmem() (v6.18): MEMCG_KMEM, and the v1 kmem counter forced."""
        if self.account_kmem_stat:
            mod_memcg_state(self.h, memcg, self.memcg_kmem_item, nr)
        if self.h.v1:
            if nr > 0:
                counter_charge(&memcg.kmem, nr)
            else:
                counter_uncharge(&memcg.kmem, -nr)

    cdef int obj_cgroup_charge_pages(self, ObjCgroup objcg, gfp_t gfp, int64_t nr) except -2:
        """obj_cgroup_charge_pages(): try_charge_memcg() on the obj_cgroup's owner (the root
        too, once reparented there), then the kmem side: v5.14 v1 try-charges the kmem counter
        (forced with __GFP_NOFAIL, else the memory charge is cancelled: -ENOMEM); v6.18
        accounts MEMCG_KMEM.  0 or -1."""
        return self.memcg_kmem_charge(objcg.memcg, gfp, nr)

    cdef int memcg_kmem_charge(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2:
        cdef page_counter* fail = NULL
        if self.h.try_charge_memcg(memcg, gfp, nr):
            return -1
        if self.h.v1 and self.v1_kmem_try and not self.account_kmem_stat:
            if not counter_try_charge(&memcg.kmem, nr, &fail):
                if gfp & GFP_NOFAIL_:
                    counter_charge(&memcg.kmem, nr)
                    return 0
                counter_uncharge(&memcg.memory, nr)        # cancel_charge()
                if self.h.memsw:
                    counter_uncharge(&memcg.swap, nr)
                return -1
            return 0
        self.account_kmem(memcg, nr)
        return 0

    cdef void obj_cgroup_uncharge_pages(self, ObjCgroup objcg, int64_t nr, int cpu) noexcept:
        """obj_cgroup_uncharge_pages(): the kmem side, then the pages to ``cpu``'s page stock
        (refill_stock), which gives them back to the counters past a batch (v6.x: not for the
        root, whose stock is never refilled)."""
        self.memcg_kmem_uncharge(objcg.memcg, nr, cpu)

    cdef void memcg_kmem_uncharge(self, MemCgroup memcg, int64_t nr, int cpu) noexcept:
        if self.h.v1 and self.v1_kmem_try and not self.account_kmem_stat:
            counter_uncharge(&memcg.kmem, nr)
        else:
            self.account_kmem(memcg, -nr)
        if not self.v6 or memcg.parent is not None:
            self.h.refill_stock_on(memcg, nr, cpu)

    # -- the object stock (consume_obj_stock, drain_obj_stock, refill_obj_stock) ---------------
    cdef bint consume_obj_stock(self, ObjCgroup objcg, uint32_t nr_bytes) noexcept:
        cdef obj_stock* st = &self.stock[self.cpu[0]]
        if st.cached == objcg.id and st.nr_bytes >= nr_bytes:
            st.nr_bytes -= nr_bytes
            return True
        return False

    cdef void drain_obj_stock(self, int cpu) noexcept:
        """drain_obj_stock(): the stock's whole pages uncharged, its sub-page rest added to the
        obj_cgroup's nr_charged_bytes, its cached statistics pushed, its reference dropped."""
        cdef obj_stock* st = &self.stock[cpu]
        cdef ObjCgroup old = self.objcg_of(st.cached)
        cdef int64_t nr_pages
        if old is None:
            st.cached = 0
            return
        if st.nr_bytes:
            nr_pages = st.nr_bytes >> PAGE_SHIFT
            if nr_pages and self.v6:        # v6.x: straight back to the counters
                self.account_kmem(old.memcg, -nr_pages)
                if old.memcg.parent is not None:
                    self.h.memcg_uncharge(old.memcg, nr_pages)
            elif nr_pages:
                self.obj_cgroup_uncharge_pages(old, nr_pages, cpu)
            old.nr_charged_bytes += st.nr_bytes & (PAGE_SIZE - 1)
            st.nr_bytes = 0
        self.flush_stock_stats(st, old)
        st.cached_pgdat = -1
        st.cached = 0
        self.obj_cgroup_put(old, 1, cpu)

    def drain_obj_stock_py(self, int cpu):
        """drain_obj_stock() of ``cpu``'s object stock (drain_local_stock)."""
        self.drain_obj_stock(cpu)

    def obj_stock_flush_required(self, int cpu, MemCgroup root_memcg):
        """obj_stock_flush_required(): ``cpu``'s object stock caches an obj_cgroup whose owner
        *now* is ``root_memcg`` or a descendant."""
        cdef ObjCgroup objcg = self.objcg_of(self.stock[cpu].cached)
        return objcg is not None and mem_cgroup_is_descendant(objcg.memcg, root_memcg)

    cdef void cache_objcg(self, obj_stock* st, ObjCgroup objcg, int cpu) noexcept:
        """The stock switches to ``objcg``: the old one drained, a reference taken, and the
        obj_cgroup's nr_charged_bytes moved into the stock."""
        self.drain_obj_stock(cpu)
        objcg.refcnt += 1
        st.cached = objcg.id
        st.nr_bytes = <uint32_t>objcg.nr_charged_bytes
        objcg.nr_charged_bytes = 0

    cdef void refill_obj_stock(self, ObjCgroup objcg, uint32_t nr_bytes, bint allow_uncharge) noexcept:
        """refill_obj_stock(): bytes back into this CPU's stock (switching it to ``objcg``
        first, which allows the uncharge); with ``allow_uncharge`` a stock holding more than a
        page uncharges its whole pages."""
        cdef int cpu = self.cpu[0]
        cdef obj_stock* st = &self.stock[cpu]
        cdef int64_t nr_pages = 0
        if st.cached != objcg.id:
            self.cache_objcg(st, objcg, cpu)
            allow_uncharge = True
        st.nr_bytes += nr_bytes
        if allow_uncharge and st.nr_bytes > PAGE_SIZE:
            nr_pages = st.nr_bytes >> PAGE_SHIFT
            st.nr_bytes &= PAGE_SIZE - 1
        if nr_pages:
            self.obj_cgroup_uncharge_pages(objcg, nr_pages, cpu)

    cdef int obj_cgroup_charge(self, ObjCgroup objcg, gfp_t gfp, uint64_t size) except -2:
        """obj_cgroup_charge(): from this CPU's stock, else whole pages, the rest of the last
        one kept in the stock (allow_uncharge false).  0 or -1."""
        cdef int64_t nr_pages
        cdef uint64_t nr_bytes
        if self.consume_obj_stock(objcg, <uint32_t>size):
            return 0
        nr_pages = <int64_t>(size >> PAGE_SHIFT)
        nr_bytes = size & (PAGE_SIZE - 1)
        if nr_bytes:
            nr_pages += 1
        if self.obj_cgroup_charge_pages(objcg, gfp, nr_pages):
            return -1
        if nr_bytes:
            self.refill_obj_stock(objcg, <uint32_t>(PAGE_SIZE - nr_bytes), False)
        return 0

    cdef void mod_objcg_state(self, ObjCgroup objcg, int nid, int idx, int64_t nr) noexcept:
        """mod_objcg_state(): slab bytes of ``objcg`` cached in this CPU's stock (the first
        change always, then until they pass a page) before they reach its memcg."""
        cdef int cpu = self.cpu[0]
        cdef obj_stock* st = &self.stock[cpu]
        cdef int64_t* b
        if st.cached != objcg.id:
            self.cache_objcg(st, objcg, cpu)
            st.cached_pgdat = nid
        elif st.cached_pgdat != nid:
            self.flush_stock_stats(st, objcg)
            st.cached_pgdat = nid
        b = &st.nr_slab_reclaimable_b if idx == NR_SLAB_RECLAIMABLE_B else &st.nr_slab_unreclaimable_b
        if b[0] == 0:
            b[0] = nr
            nr = 0
        else:
            b[0] += nr
            if b[0] > PAGE_SIZE or b[0] < -PAGE_SIZE:
                nr = b[0]
                b[0] = 0
            else:
                nr = 0
        if nr:
            self.mod_objcg_mlstate(objcg, idx, nr)

    cdef void flush_stock_stats(self, obj_stock* st, ObjCgroup objcg) noexcept:
        """The slab statistics a stock has cached pushed to ``objcg``'s memcg."""
        if st.nr_slab_reclaimable_b:
            self.mod_objcg_mlstate(objcg, NR_SLAB_RECLAIMABLE_B, st.nr_slab_reclaimable_b)
            st.nr_slab_reclaimable_b = 0
        if st.nr_slab_unreclaimable_b:
            self.mod_objcg_mlstate(objcg, NR_SLAB_UNRECLAIMABLE_B, st.nr_slab_unreclaimable_b)
            st.nr_slab_unreclaimable_b = 0

    cdef void mod_objcg_mlstate(self, ObjCgroup objcg, int idx, int64_t nr) noexcept:
        """mod_objcg_mlstate(): the memcg part of the lruvec statistic, for the owner now."""
        mod_memcg_lruvec_state(self.h, objcg.memcg, idx, nr)

    def kmem_pages_by_memcg(self, bint unreparented=False):
        """{memcg id: pages} of every kmem page, by page_memcg() (its owner now); with
        ``unreparented``, only those whose obj_cgroup was not handed to an ancestor (whose
        charge is in their memcg's own counter)."""
        return _kmem_pages_by_memcg(self, unreparented)

    def obj_stock_of(self, int cpu):
        """(obj_cgroup id, nr_bytes, reclaimable bytes, unreclaimable bytes) of a CPU's stock."""
        cdef obj_stock* st = &self.stock[cpu]
        return st.cached, st.nr_bytes, st.nr_slab_reclaimable_b, st.nr_slab_unreclaimable_b

    # -- slab pages' vectors ----------------------------------------------------------------------
    cdef int32_t* page_objcgs(self, pfn_t head) noexcept:
        """page_objcgs_check(): the slab page's vector of obj_cgroup ids, or NULL."""
        cdef uint64_t data = self.pm.mem_map[head].memcg_data
        if not data & MEMCG_DATA_OBJCGS:
            return NULL
        return <int32_t*>(data & ~<uint64_t>3)

    def slab_object_objcg(self, pfn_t head, unsigned int idx):
        """The obj_cgroup a slab object's vector slot holds (None: unaccounted)."""
        cdef int32_t* vec = self.page_objcgs(head)
        if vec == NULL:
            return None
        return self.objcg_of(vec[idx])

    def mem_cgroup_from_obj(self, uint64_t addr):
        """mem_cgroup_from_obj(): the memcg a kernel object is charged to now (a slab object's
        obj_cgroup's owner, a kmem page's page_memcg), or None."""
        cdef SlabAllocator slab = <SlabAllocator>self.slab
        cdef unsigned int idx
        cdef pfn_t head
        if slab.virt_to_slab(addr, &idx, &head) != NULL:
            objcg = self.slab_object_objcg(head, idx)
            return None if objcg is None else objcg.memcg
        head = <pfn_t>((addr - PAGE_OFFSET) >> PAGE_SHIFT)
        return self.h.page_memcg(head)


# -- the ops tables ---------------------------------------------------------------------------------

cdef int _kmem_charge(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1:
    """__memcg_kmem_charge_page(): 0 (charged, or nobody to charge) or 1 (the charge failed:
    the allocator frees the page and fails)."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef ObjcgHost k = <ObjcgHost>h.kmem
    cdef int64_t nr = <int64_t>1 << order
    cdef ObjCgroup objcg
    cdef MemCgroup memcg
    if k.via_objcg:
        objcg = k.get_obj_cgroup_from_current()
        if objcg is None:
            return 0
        if k.obj_cgroup_charge_pages(objcg, gfp, nr):
            k.obj_cgroup_put(objcg, 1, k.cpu[0])
            return 1
        h.pm.mem_map[pfn].memcg_data = ((<uint64_t>objcg.id) << 2) | MEMCG_DATA_KMEM
        return 0
    # v5.12: get_mem_cgroup_from_current(), __memcg_kmem_charge(), the page pins the memcg
    memcg = k.current_kmem_memcg()
    if memcg is None or memcg.parent is None:
        return 0
    if k.memcg_kmem_charge(memcg, gfp, nr):
        return 1
    memcg.css_refs += 1
    h.pm.mem_map[pfn].memcg_data = ((<uint64_t>memcg.id) << 2) | MEMCG_DATA_KMEM
    return 0


cdef int _kmem_uncharge(void* ctx, pfn_t pfn, unsigned int order) except -1:
    """__memcg_kmem_uncharge_page(): the owner now (objcg->memcg) gets the pages back through
    this CPU's stock; the page's reference goes.  v5.12: the memcg the page names."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef ObjcgHost k = <ObjcgHost>h.kmem
    cdef page* p = &h.pm.mem_map[pfn]
    cdef int64_t nr = <int64_t>1 << order
    cdef int id = <int>(p.memcg_data >> 2)
    cdef ObjCgroup objcg
    cdef MemCgroup memcg
    p.memcg_data = 0
    if k.via_objcg:
        objcg = k.objcg_of(id)
        if objcg is None:
            return 0
        k.obj_cgroup_uncharge_pages(objcg, nr, k.cpu[0])
        k.obj_cgroup_put(objcg, 1, k.cpu[0])
        return 0
    memcg = h.memcg_of(id)
    if memcg is None:
        return 0
    k.memcg_kmem_uncharge(memcg, nr, k.cpu[0])
    h.css_put(memcg, 1)
    return 0


cdef void _split_page_memcg(void* ctx, pfn_t pfn, unsigned int order) noexcept:
    """split_page_memcg(): the head's memcg_data on every page of the block, with nr - 1 more
    references -- on the obj_cgroup of a kmem page (obj_cgroup_get_many, the seed's fix "forget
    to obtain the ref to objcg in split_page_memcg"), on the memcg otherwise (css_get_many)."""
    cdef MemcgHost h = <MemcgHost>ctx
    cdef ObjcgHost k = <ObjcgHost>h.kmem
    cdef uint64_t data = h.pm.mem_map[pfn].memcg_data
    cdef int64_t nr = <int64_t>1 << order
    cdef pfn_t i
    cdef ObjCgroup objcg
    cdef MemCgroup memcg
    if data & MEMCG_DATA_OBJCGS:
        return
    for i in range(pfn + 1, pfn + <pfn_t>nr):
        h.pm.mem_map[i].memcg_data = data
    if data & MEMCG_DATA_KMEM and k.via_objcg:
        objcg = k.objcg_of(<int>(data >> 2))
        if objcg is not None:
            objcg.refcnt += nr - 1
        return
    memcg = h.memcg_of(<int>(data >> 2))
    if memcg is not None:
        memcg.css_refs += nr - 1


cdef void* _kmem_page_memcg(void* ctx, uint64_t data) noexcept:
    cdef ObjcgHost k = <ObjcgHost>ctx
    cdef int id = <int>(data >> 2)
    if k.via_objcg:
        if id <= 0 or id >= k.id_cap or k.by_id[id] == NULL:
            return NULL
        return <void*>(<ObjCgroup>k.by_id[id]).memcg
    if id <= 0 or id >= k.h.id_cap:
        return NULL
    return k.h.by_id[id]


cdef inline uint64_t obj_full_size(KmemCache s) noexcept:
    return s.size + OBJ_POINTER_SIZE


cdef inline int cache_vmstat_idx(KmemCache s) noexcept:
    return NR_SLAB_RECLAIMABLE_B if s.flags & SLAB_RECLAIM_ACCOUNT else NR_SLAB_UNRECLAIMABLE_B


cdef int _slab_pre_alloc(void* ctx, KmemCache s, gfp_t gfp, uint64_t* objcgp) except -1:
    """memcg_slab_pre_alloc_hook() (v5.14): current's obj_cgroup charged obj_full_size; 1 when
    the charge fails (the allocation then fails).  v6.x charges in the post-alloc hook: here
    only current_obj_cgroup()."""
    cdef ObjcgHost k = <ObjcgHost>ctx
    cdef ObjCgroup objcg = k.get_obj_cgroup_from_current()
    objcgp[0] = 0
    if objcg is None:
        return 0
    if k.v6:
        objcgp[0] = <uint64_t>objcg.id
        k.alloc_gfp = gfp                   # for the charge in the post-alloc hook
        return 0
    if k.obj_cgroup_charge(objcg, gfp, obj_full_size(s)):
        k.obj_cgroup_put(objcg, 1, k.cpu[0])
        return 1
    objcgp[0] = <uint64_t>objcg.id
    return 0


cdef int _slab_post_alloc(void* ctx, KmemCache s, uint64_t objcg_id, pfn_t slab_pfn,
                          unsigned int idx, uint64_t addr) except -1:
    """memcg_slab_post_alloc_hook(): the object's vector slot (the vector made on the first
    accounted object of the slab page), a reference, and its bytes through mod_objcg_state;
    a failed allocation gives its charge back.  The pre-hook's reference is dropped.  v6.x
    charges obj_full_size here, after the vector: 1 when the charge fails (the allocator
    frees the object again)."""
    cdef ObjcgHost k = <ObjcgHost>ctx
    cdef ObjCgroup objcg = k.objcg_of(<int>objcg_id)
    cdef int32_t* vec
    cdef page* p
    cdef unsigned int order, nobj
    if objcg is None:
        return 0
    if addr:
        vec = k.page_objcgs(slab_pfn)
        if vec == NULL:                     # memcg_alloc_page_obj_cgroups()
            p = &k.pm.mem_map[slab_pfn]
            order = p.compound_order if p.flags & (1ULL << PG_head) else 0
            nobj = ((<unsigned int>PAGE_SIZE << order) // s.size) + 1
            vec = <int32_t*>calloc(nobj, sizeof(int32_t))
            if vec == NULL:                 # the object stays unaccounted
                if not k.v6:
                    k.refill_obj_stock(objcg, <uint32_t>obj_full_size(s), True)
                k.obj_cgroup_put(objcg, 1, k.cpu[0])
                return 0
            p.memcg_data = (<uint64_t>vec) | MEMCG_DATA_OBJCGS
            k.nr_vectors += 1
        if k.v6 and k.obj_cgroup_charge(objcg, k.alloc_gfp, obj_full_size(s)):
            k.obj_cgroup_put(objcg, 1, k.cpu[0])
            return 1
        objcg.refcnt += 1
        vec[idx] = objcg.id
        k.mod_objcg_state(objcg, k.pm.page_to_nid(slab_pfn), cache_vmstat_idx(s),
                          <int64_t>obj_full_size(s))
    elif not k.v6:
        k.refill_obj_stock(objcg, <uint32_t>obj_full_size(s), True)       # obj_cgroup_uncharge
    k.obj_cgroup_put(objcg, 1, k.cpu[0])
    return 0


cdef int _slab_free_hook(void* ctx, KmemCache s, pfn_t slab_pfn, unsigned int idx) except -1:
    """memcg_slab_free_hook(): the slot cleared, the bytes uncharged to the stock, the
    statistic lowered, the object's reference dropped."""
    cdef ObjcgHost k = <ObjcgHost>ctx
    cdef int32_t* vec = k.page_objcgs(slab_pfn)
    cdef ObjCgroup objcg
    if vec == NULL or vec[idx] == 0:
        return 0
    objcg = k.objcg_of(vec[idx])
    vec[idx] = 0
    if objcg is None:
        return 0
    k.refill_obj_stock(objcg, <uint32_t>obj_full_size(s), True)           # obj_cgroup_uncharge
    k.mod_objcg_state(objcg, k.pm.page_to_nid(slab_pfn), cache_vmstat_idx(s),
                      -<int64_t>obj_full_size(s))
    k.obj_cgroup_put(objcg, 1, k.cpu[0])
    return 0


cdef void _free_slab(void* ctx, pfn_t slab_pfn) noexcept:
    """memcg_free_slab_cgroups(): the vector goes with its slab page."""
    cdef ObjcgHost k = <ObjcgHost>ctx
    cdef int32_t* vec = k.page_objcgs(slab_pfn)
    if vec != NULL:
        free(vec)
        k.nr_vectors -= 1


def _kmem_pages_by_memcg(ObjcgHost k, bint unreparented):
    """{memcg id: pages} of every kmem page, by page_memcg() (the owner now), in one C pass;
    ``unreparented``: only pages whose obj_cgroup still belongs to the memcg it was made for."""
    cdef pfn_t pfn
    cdef page* p
    cdef uint64_t data
    cdef void* m
    cdef ObjCgroup objcg
    out = {}
    for pfn in range(k.pm.max_pfn):
        p = &k.pm.mem_map[pfn]
        data = p.memcg_data
        if not data & MEMCG_DATA_KMEM:
            continue
        if unreparented and k.via_objcg:
            objcg = k.objcg_of(<int>(data >> 2))
            if objcg is None or objcg.killed:
                continue
        m = _kmem_page_memcg(<void*>k, data)
        if m != NULL:
            mid = (<MemCgroup>m).id
            out[mid] = out.get(mid, 0) + ((1 << p.compound_order) if p.flags & (1ULL << PG_head) else 1)
    return out
