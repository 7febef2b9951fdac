# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Shrinkers: the kernel's shrinker_list and the slab-shrinking half of reclaim.

Models mm/shrinker.c of v6.18 (mm/vmscan.c of v5.14: the same code before it moved):
``do_shrink_slab`` (freeable = count_objects; the deferred work taken with xchg_nr_deferred;
delta = (freeable >> priority) * 4 / seeks, or freeable / 2 for seeks 0; total_scan =
min((nr >> priority) + delta, 2 * freeable); batches of ``batch`` (SHRINK_BATCH 128) while
total_scan >= batch or >= freeable; slabs_scanned; next_deferred = min(max(nr + delta -
scanned, 0), 2 * freeable) given back with add_nr_deferred) and ``shrink_slab`` over the
registered shrinkers, with the vmscan:mm_shrink_slab_start / _end events (core slots 23 and
24).  drop_slab (``echo 2 > /proc/sys/vm/drop_caches``) is :meth:`ShrinkerList.drop_slab`.

Not modelled: the memcg half (shrink_slab_memcg, the per-memcg shrinker_info bitmaps and
deferred counts: memsim's memcg is a plugin that has no shrinker maps yet, so a call for a
non-root memcg shrinks nothing, as with a memcg that has no shrinker bit set), the
reclaim_state's reclaimed_slab pages (a shrinker that frees slab pages does not add them to
sc->nr_reclaimed), shrinker debugfs (/sys/kernel/debug/shrinker, CONFIG_SHRINKER_DEBUG), and
the rwsem/RCU that concurrent registration needs (memsim runs one step at a time).
"""
from libc.stdlib cimport calloc, free
from libc.string cimport memset, strncpy
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport gfp_t
from memsim.physmem cimport PhysMem
from memsim.vmstat cimport count_vm_events, SLABS_SCANNED
from memsim.ring cimport TraceBuffer, EV_MM_SHRINK_SLAB_START, EV_MM_SHRINK_SLAB_END

#: struct shrinkers live here in the emulated kernel (their ``shr=%p``): one 0x100 slot each
SHRINKER_BASE = 0xffffffff83100000
SHRINKER_STRIDE = 0x100
cdef uint64_t C_SHRINKER_BASE = 0xffffffff83100000ULL
cdef uint64_t C_SHRINKER_STRIDE = 0x100

# Python names of the C constants, for plugins written in Python and for tests
PY_SHRINK_BATCH = SHRINK_BATCH
PY_DEFAULT_SEEKS = DEFAULT_SEEKS
PY_SHRINK_STOP = SHRINK_STOP
PY_SHRINK_EMPTY = SHRINK_EMPTY
PY_SHRINKER_NUMA_AWARE = SHRINKER_NUMA_AWARE
PY_SHRINKER_MEMCG_AWARE = SHRINKER_MEMCG_AWARE
PY_SHRINKER_NONSLAB = SHRINKER_NONSLAB

from memsim.profiles import ProfileTable

#: the kernel-API family each profile has (5.14: register_shrinker(struct shrinker *); 6.0 added
#: a name to it; 6.7 replaced it with shrinker_alloc / shrinker_register / shrinker_free)
SHRINKER_API = ProfileTable("shrinker.api", {"v5.14": "register_shrinker", "v6.18": "shrinker_alloc"})


def text_symbol(str name):
    """The kernel text address of function ``name`` (what a shrinker's scan_objects shows as in
    ``%pS``), from memsim.tracing.kallsyms' fixed table; ValueError names the known ones."""
    from memsim.tracing.kallsyms import default_kallsyms
    try:
        return default_kallsyms().symbol_addr(name)
    except KeyError:
        raise ValueError(f"scan_symbol {name!r} is no kernel text symbol memsim knows; name a "
                         "shrinker's scan function of memsim.tracing.kallsyms (super_cache_scan, "
                         "scan_shadow_nodes, deferred_split_scan, kfree_rcu_shrink_scan) or leave "
                         "it out (memsim_shrinker_scan)") from None


cdef inline long lmin(long a, long b) noexcept nogil:
    return a if a < b else b


cdef class ShrinkerList:
    """The registered shrinkers of a machine (``shrinker_list``), in registration order, and
    what reclaim and drop_caches do with them.  ``api`` is the registration family of the
    machine's kernel: ``"register_shrinker"`` (v5.14) or ``"shrinker_alloc"`` (v6.18); the other
    family's calls raise, naming the right one."""

    def __cinit__(self, PhysMem pm, str api="shrinker_alloc", symbol_of=None):
        if api not in ("register_shrinker", "shrinker_alloc"):
            raise ValueError(f"ShrinkerList: api {api!r}; use 'register_shrinker' (v5.14) or "
                             "'shrinker_alloc' (v6.18)")
        self.pm = pm
        self.nr_nodes = pm.nr_nodes
        self.api = api
        self.head = NULL
        self.tail = NULL
        self.next_id = 0
        self.owners = {}
        self.symbol_of = symbol_of
        self.busy = 0

    def __dealloc__(self):
        cdef shrinker* s = self.head
        cdef shrinker* nxt
        while s != NULL:
            nxt = s.next
            free(s.nr_deferred)
            s.nr_deferred = NULL
            s.flags &= ~SHRINKER_REGISTERED
            s.next = s.prev = NULL
            if s.flags & SHRINKER_PYOWNED:
                (<Shrinker>s.private_data).owner_ptr = NULL
            elif s.flags & SHRINKER_ALLOCATED:
                free(s)                 # shrinker_alloc()ed and never shrinker_free()d
            s = nxt
        self.head = self.tail = NULL

    cdef int check_api(self, str fn) except -1:
        from memsim.errors import PluginError
        if fn == "register_shrinker" or fn == "unregister_shrinker":
            if self.api != "register_shrinker":
                raise PluginError(f"{fn}()", "the v6.18 kernel has no register_shrinker (removed "
                                  "in 6.7)", "allocate it with shrinker_alloc(flags, name), then "
                                  "shrinker_register(); shrinker_free() unregisters and frees it")
        elif self.api != "shrinker_alloc":
            raise PluginError(f"{fn}()", "the v5.14 kernel has no shrinker_alloc / shrinker_register "
                              "/ shrinker_free (added in 6.7)", "fill a struct shrinker and call "
                              "register_shrinker(); unregister_shrinker() takes it off")
        return 0

    cdef int check_idle(self, str fn) except -1:
        """Registering or unregistering from inside a count/scan call would wait for the
        shrinker_rwsem shrink_slab holds (v5.14), or for the shrinker's own reference
        (shrinker_free on v6.18): the kernel deadlocks, memsim refuses."""
        if self.busy:
            from memsim.errors import PluginError
            raise PluginError(f"{fn}()", "called from a shrinker's count_objects or scan_objects, "
                              "while shrink_slab runs (the kernel would deadlock)",
                              "register and unregister shrinkers outside of their callbacks")
        return 0

    cdef int _link(self, shrinker* s, str scan_symbol) except -1:
        """__prealloc_shrinker() + register_shrinker_prepared(): nr_deferred per node (one for a
        shrinker that is not NUMA aware), list_add_tail to shrinker_list, SHRINKER_REGISTERED."""
        self.check_idle("register")
        if s.flags & SHRINKER_REGISTERED:
            raise ValueError(f"shrinker {s.name.decode()!r} is already registered")
        if s.count_objects == NULL or s.scan_objects == NULL:
            raise ValueError("a shrinker needs count_objects and scan_objects")
        if s.seeks < 0 or s.batch < 0:
            raise ValueError("a shrinker's seeks and batch are at least 0 (DEFAULT_SEEKS, 0 = SHRINK_BATCH)")
        cdef uint64_t scan_addr = 0
        if scan_symbol and self.symbol_of is not None:
            scan_addr = self.symbol_of(scan_symbol)
        s.nr_deferred = <long*>calloc(self.nr_nodes if s.flags & SHRINKER_NUMA_AWARE else 1, sizeof(long))
        if s.nr_deferred == NULL:
            raise MemoryError()
        s.id = self.next_id
        self.next_id += 1
        s.addr = C_SHRINKER_BASE + <uint64_t>s.id * C_SHRINKER_STRIDE
        s.scan_addr = scan_addr
        s.prev = self.tail
        s.next = NULL
        if self.tail != NULL:
            self.tail.next = s
        else:
            self.head = s
        self.tail = s
        s.flags |= SHRINKER_REGISTERED
        return 0

    cdef int _unlink(self, shrinker* s) except -1:
        """unregister_shrinker() / the first half of shrinker_free(): off the list, its
        deferred work dropped."""
        if not s.flags & SHRINKER_REGISTERED:
            return 0
        self.check_idle("unregister")
        if s.prev != NULL:
            s.prev.next = s.next
        else:
            self.head = s.next
        if s.next != NULL:
            s.next.prev = s.prev
        else:
            self.tail = s.prev
        s.next = s.prev = NULL
        s.flags &= ~SHRINKER_REGISTERED
        free(s.nr_deferred)
        s.nr_deferred = NULL
        if s.flags & SHRINKER_PYOWNED:
            (<Shrinker>s.private_data).owner_ptr = NULL
        if self.owners is not None:
            self.owners.pop(s.id, None)
        return 0

    cdef int register_shrinker(self, shrinker* s, str scan_symbol=None) except -1:
        """register_shrinker() of v5.14: a struct shrinker the caller owns (it stays valid
        until unregister_shrinker)."""
        self.check_api("register_shrinker")
        return self._link(s, scan_symbol)

    cdef int unregister_shrinker(self, shrinker* s) except -1:
        """unregister_shrinker() of v5.14."""
        self.check_api("unregister_shrinker")
        return self._unlink(s)

    cdef shrinker* shrinker_alloc(self, unsigned int flags, str name) except NULL:
        """shrinker_alloc() of v6.18: a zeroed shrinker with ``flags`` (SHRINKER_NUMA_AWARE,
        SHRINKER_MEMCG_AWARE, SHRINKER_NONSLAB), seeks DEFAULT_SEEKS, and its name; the caller
        sets count_objects, scan_objects (and seeks, batch, private_data), then calls
        shrinker_register."""
        self.check_api("shrinker_alloc")
        if flags & ~(SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE | SHRINKER_NONSLAB):
            raise ValueError(f"shrinker_alloc({name!r}): flags {flags:#x}; give SHRINKER_NUMA_AWARE, "
                             "SHRINKER_MEMCG_AWARE and SHRINKER_NONSLAB only")
        cdef shrinker* s = <shrinker*>calloc(1, sizeof(shrinker))
        if s == NULL:
            raise MemoryError()
        s.flags = flags | SHRINKER_ALLOCATED
        s.seeks = DEFAULT_SEEKS
        s.id = -1
        b = name.encode()[:SHRINKER_NAME_LEN - 1]
        strncpy(s.name, b, SHRINKER_NAME_LEN - 1)
        return s

    cdef int shrinker_register(self, shrinker* s, str scan_symbol=None) except -1:
        """shrinker_register() of v6.18."""
        self.check_api("shrinker_register")
        if not s.flags & SHRINKER_ALLOCATED:
            raise ValueError("shrinker_register: the shrinker was not made by shrinker_alloc")
        return self._link(s, scan_symbol)

    cdef int shrinker_free(self, shrinker* s) except -1:
        """shrinker_free() of v6.18: unregister (if registered) and free the struct."""
        self.check_api("shrinker_free")
        if s == NULL:
            return 0
        self._unlink(s)
        free(s)
        return 0

    cdef unsigned long do_shrink_slab(self, shrink_control* sc, shrinker* s, int priority) except? 0xfffffffffffffffd:
        """do_shrink_slab() (mm/shrinker.c of v6.18, mm/vmscan.c of v5.14: the same code)."""
        cdef unsigned long freed = 0, ret, nr_to_scan
        cdef unsigned long long delta
        cdef long total_scan, freeable, nr, new_nr, next_deferred, scanned = 0
        cdef long batch_size = s.batch if s.batch else SHRINK_BATCH
        cdef int dnid = sc.nid if s.flags & SHRINKER_NUMA_AWARE else 0
        cdef TraceBuffer tb = self.pm.tb
        cdef uint64_t vals[9]
        freeable = <long>s.count_objects(s, sc)
        if freeable == 0 or <unsigned long>freeable == SHRINK_EMPTY:
            return <unsigned long>freeable
        # xchg_nr_deferred(): take the deferred work (memcg-aware: the memcg's, not modelled)
        nr = s.nr_deferred[dnid]
        s.nr_deferred[dnid] = 0
        if s.seeks:
            delta = <unsigned long long>(freeable >> priority)
            delta *= 4
            delta //= <unsigned long long>s.seeks
        else:
            delta = <unsigned long long>(freeable // 2)
        total_scan = nr >> priority
        total_scan += <long>delta
        total_scan = lmin(total_scan, 2 * freeable)
        if tb.core[EV_MM_SHRINK_SLAB_START].enabled:
            vals[0] = s.addr; vals[1] = s.scan_addr; vals[2] = <uint64_t><int64_t>sc.nid
            vals[3] = <uint64_t>nr; vals[4] = sc.gfp_mask; vals[5] = <uint64_t>freeable
            vals[6] = delta; vals[7] = <uint64_t>total_scan; vals[8] = <uint64_t><int64_t>priority
            tb.emit(EV_MM_SHRINK_SLAB_START, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        while total_scan >= batch_size or total_scan >= freeable:
            nr_to_scan = <unsigned long>lmin(batch_size, total_scan)
            sc.nr_to_scan = nr_to_scan
            sc.nr_scanned = nr_to_scan
            ret = s.scan_objects(s, sc)
            if ret == SHRINK_STOP:
                break
            freed += ret
            count_vm_events(self.pm.vs, SLABS_SCANNED, sc.nr_scanned)
            total_scan -= <long>sc.nr_scanned
            scanned += <long>sc.nr_scanned
        next_deferred = nr + <long>delta - scanned
        if next_deferred < 0:
            next_deferred = 0
        next_deferred = lmin(next_deferred, 2 * freeable)
        # add_nr_deferred()
        s.nr_deferred[dnid] += next_deferred
        new_nr = s.nr_deferred[dnid]
        if tb.core[EV_MM_SHRINK_SLAB_END].enabled:
            vals[0] = s.addr; vals[1] = <uint64_t><int64_t>sc.nid; vals[2] = s.scan_addr
            vals[3] = <uint64_t>nr; vals[4] = <uint64_t>new_nr
            vals[5] = <uint64_t><int64_t>(<int>freed); vals[6] = <uint64_t>total_scan
            tb.emit(EV_MM_SHRINK_SLAB_END, self.pm.cur.cpu, self.pm.cur.pid, vals, NULL, 0)
        return freed

    cdef unsigned long shrink_slab(self, gfp_t gfp, int nid, void* memcg, int priority) except? 0xfffffffffffffffd:
        """shrink_slab(): every registered shrinker's do_shrink_slab for node ``nid`` at
        ``priority``; SHRINK_EMPTY counts as 0.  A non-root ``memcg`` goes to
        shrink_slab_memcg, which memsim does not model yet (nothing is freed).  Returns the
        objects freed."""
        cdef unsigned long ret, freed = 0
        cdef shrink_control sc
        cdef shrinker* s = self.head
        cdef shrinker* nxt
        if memcg != NULL:
            return 0
        self.busy += 1                  # down_read(&shrinker_rwsem)
        try:
            while s != NULL:
                sc.gfp_mask = gfp
                sc.nid = nid
                sc.memcg = memcg
                sc.nr_to_scan = 0
                sc.nr_scanned = 0
                ret = self.do_shrink_slab(&sc, s, priority)
                if ret == SHRINK_EMPTY:
                    ret = 0
                freed += ret
                s = s.next
        finally:
            self.busy -= 1
        return freed

    # -- Python ---------------------------------------------------------------------------
    def py_shrink_slab(self, gfp_t gfp=0xcc0, int nid=0, int priority=0):
        """shrink_slab(gfp, nid, root memcg, priority) from Python; returns the objects freed."""
        if not 0 <= nid < self.nr_nodes:
            raise ValueError(f"no node {nid}")
        if not 0 <= priority <= 12:
            raise ValueError(f"priority {priority}: use 0 (DEF_PRIORITY 12 is the gentlest) to 12")
        return self.shrink_slab(gfp, nid, NULL, priority)

    def drop_slab(self, bint per_node_loop):
        """drop_slab(): shrink_slab(GFP_KERNEL, nid, memcg, 0) over every node (and memcg: only
        the root here) until a round frees little: ``while ((freed >> shift++) > 1)``.  v5.14
        loops per node (drop_slab_node); v6.18 loops over all nodes at once (drop_slab).
        Returns the objects freed."""
        cdef unsigned long freed, total = 0
        cdef int nid, shift
        if per_node_loop:
            for nid in range(self.nr_nodes):
                shift = 0
                while True:
                    freed = self.shrink_slab(0xcc0, nid, NULL, 0)
                    total += freed
                    if not (freed >> shift) > 1:
                        break
                    shift += 1
        else:
            shift = 0
            while True:
                freed = 0
                for nid in range(self.nr_nodes):
                    freed += self.shrink_slab(0xcc0, nid, NULL, 0)
                total += freed
                if not (freed >> shift) > 1:
                    break
                shift += 1
        return total

    def register(self, Shrinker s, str scan_symbol=None):
        """Register a Python :class:`Shrinker` in the profile's terms: register_shrinker (v5.14)
        or shrinker_register (v6.18; ``s`` came from :meth:`shrinker_alloc`)."""
        if self.api == "register_shrinker":
            self.register_shrinker(s.s, scan_symbol or s.scan_symbol)
        else:
            self.shrinker_register(s.s, scan_symbol or s.scan_symbol)
        self.owners[s.s.id] = s
        s.owner_ptr = <void*>self

    def unregister(self, Shrinker s):
        """unregister_shrinker (v5.14) or shrinker_free (v6.18) of a Python :class:`Shrinker`."""
        if s.owner_ptr != <void*>self:
            raise ValueError("the shrinker is not registered here")
        self._unlink(s.s)

    def shrinker_alloc_py(self, unsigned int flags, str name, count_objects, scan_objects,
                          int seeks=DEFAULT_SEEKS, long batch=0, str scan_symbol=None):
        """shrinker_alloc(flags, name) for a plugin written in Python (v6.18 only): a
        :class:`Shrinker` calling ``count_objects(sc)`` and ``scan_objects(sc)``, to pass to
        :meth:`register`."""
        self.check_api("shrinker_alloc")
        return Shrinker(count_objects, scan_objects, seeks, batch, flags, name, scan_symbol)

    def shrinkers(self):
        """[(id, name, flags, seeks, batch, nr_deferred per node)] in list order."""
        out = []
        cdef shrinker* s = self.head
        cdef int n
        while s != NULL:
            n = self.nr_nodes if s.flags & SHRINKER_NUMA_AWARE else 1
            out.append((s.id, s.name.decode(), s.flags, s.seeks, s.batch,
                        tuple(s.nr_deferred[i] for i in range(n))))
            s = s.next
        return out

    def __len__(self):
        cdef int n = 0
        cdef shrinker* s = self.head
        while s != NULL:
            n += 1
            s = s.next
        return n


# -- shrinkers written in Python -------------------------------------------------------------
cdef class ShrinkControl:
    """``struct shrink_control`` as a Python shrinker sees it during one call: ``gfp_mask``,
    ``nid``, ``nr_to_scan``, ``memcg`` (None: global reclaim) and ``nr_scanned``, which
    scan_objects may change (how many it really looked at)."""

    @property
    def gfp_mask(self):
        return self.sc.gfp_mask

    @property
    def nid(self):
        return self.sc.nid

    @property
    def nr_to_scan(self):
        return self.sc.nr_to_scan

    @property
    def memcg(self):
        return None

    @property
    def nr_scanned(self):
        return self.sc.nr_scanned

    @nr_scanned.setter
    def nr_scanned(self, unsigned long value):
        self.sc.nr_scanned = value


cdef unsigned long _py_call(shrinker* s, shrink_control* sc, bint scan) except? 0xfffffffffffffffd:
    cdef Shrinker owner = <Shrinker>s.private_data
    cdef ShrinkControl view = ShrinkControl.__new__(ShrinkControl)
    view.sc = sc
    try:
        ret = (owner.scan_objects if scan else owner.count_objects)(view)
    finally:
        view.sc = NULL
    if ret is None or ret < 0:
        raise ValueError(f"shrinker {owner.name!r}: {'scan' if scan else 'count'}_objects returned "
                         f"{ret!r}; return a number of objects, SHRINK_EMPTY or SHRINK_STOP")
    return <unsigned long>ret


cdef unsigned long _py_count(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd:
    return _py_call(s, sc, False)


cdef unsigned long _py_scan(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd:
    return _py_call(s, sc, True)


cdef class Shrinker:
    """A shrinker whose count_objects / scan_objects are Python callables taking a
    :class:`ShrinkControl`: ``count_objects(sc)`` returns how many objects could be freed
    (0 or SHRINK_EMPTY: none), ``scan_objects(sc)`` frees up to ``sc.nr_to_scan`` of them and
    returns how many it freed (SHRINK_STOP: it cannot now).  They are called once per
    do_shrink_slab and once per batch (SHRINK_BATCH objects), never per page, which is why a
    Python shrinker is allowed (STYLE 9a).  ``scan_symbol`` names scan_objects in the traces
    (``%pS``): a kernel function of memsim.tracing.kallsyms' table, ``memsim_shrinker_scan`` by
    default."""

    def __cinit__(self, count_objects, scan_objects, int seeks=DEFAULT_SEEKS, long batch=0,
                  unsigned int flags=0, str name="python", str scan_symbol=None):
        if not callable(count_objects) or not callable(scan_objects):
            raise TypeError("Shrinker(count_objects, scan_objects): give two callables")
        if flags & ~(SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE | SHRINKER_NONSLAB):
            raise ValueError(f"Shrinker({name!r}): flags {flags:#x}; give SHRINKER_NUMA_AWARE, "
                             "SHRINKER_MEMCG_AWARE and SHRINKER_NONSLAB only")
        self.s = <shrinker*>calloc(1, sizeof(shrinker))
        if self.s == NULL:
            raise MemoryError()
        self.count_objects = count_objects
        self.scan_objects = scan_objects
        self.name = name
        self.scan_symbol = scan_symbol or "memsim_shrinker_scan"
        self.s.count_objects = _py_count
        self.s.scan_objects = _py_scan
        self.s.seeks = seeks
        self.s.batch = batch
        self.s.flags = flags | SHRINKER_ALLOCATED | SHRINKER_PYOWNED
        self.s.private_data = <void*>self
        self.s.id = -1
        self.owner_ptr = NULL
        b = name.encode()[:SHRINKER_NAME_LEN - 1]
        strncpy(self.s.name, b, SHRINKER_NAME_LEN - 1)

    def __dealloc__(self):
        if self.s != NULL:
            if self.owner_ptr != NULL:  # a cycle collected it first: leave the list
                (<ShrinkerList>self.owner_ptr)._unlink(self.s)
            free(self.s.nr_deferred)
            free(self.s)
            self.s = NULL

    @property
    def owner(self):
        """The :class:`ShrinkerList` it is registered on, or None."""
        return <object>self.owner_ptr if self.owner_ptr != NULL else None

    @property
    def registered(self):
        return bool(self.s.flags & SHRINKER_REGISTERED)

    @property
    def nr_deferred(self):
        """The deferred scan work per node (one value unless SHRINKER_NUMA_AWARE)."""
        if self.s.nr_deferred == NULL or self.owner_ptr == NULL:
            return ()
        cdef int n = (<ShrinkerList>self.owner_ptr).nr_nodes if self.s.flags & SHRINKER_NUMA_AWARE else 1
        return tuple(self.s.nr_deferred[i] for i in range(n))

    @property
    def seeks(self):
        return self.s.seeks

    @property
    def batch(self):
        return self.s.batch


# -- the core's own shrinkers ------------------------------------------------------------------
def register_workingset_shadow_shrinker(ShrinkerList sl, workingset, vmstat):
    """workingset_init()'s shadow-node shrinker (mm/workingset.c): "mm-shadow", seeks 0 (its
    count reports only nodes beyond the limit, all expendable), SHRINKER_NUMA_AWARE |
    SHRINKER_MEMCG_AWARE; count_shadow_nodes / scan_shadow_nodes are memsim.workingset's.  The
    count reads the node's workingset_nodes (the shadow_nodes list's length on that node, as
    list_lru_shrink_count does) against max_nodes = node present pages >> 3 (XA_CHUNK_SHIFT
    6 - 3), so a shrink_slab pass does not walk the list.  Returns the registered Shrinker."""
    from memsim.vmstat import node_stat_item
    cdef int nid
    item = int(node_stat_item.WORKINGSET_NODES)
    present = [0] * sl.nr_nodes
    for z in sl.pm.zones_info():
        present[z["node"]] += z["end_pfn"] - z["start_pfn"]
    max_nodes = [p >> 3 for p in present]

    def count_shadow_nodes(ShrinkControl sc):
        nodes = vmstat.node_page_state_snapshot(sc.nid, item)
        if nodes <= 0:
            return SHRINK_EMPTY
        return nodes - max_nodes[sc.nid] if nodes > max_nodes[sc.nid] else 0

    def scan_shadow_nodes(ShrinkControl sc):
        return workingset.scan_shadow_nodes(sc.nid, sc.nr_to_scan)

    s = Shrinker(count_shadow_nodes, scan_shadow_nodes, 0, 0,
                 SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE, "mm-shadow", "scan_shadow_nodes")
    sl.register(s)
    return s
