# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-row loops of ``memsim trace stats`` (:mod:`memsim.tracing.stats`), over column batches.

:class:`~memsim.tracing.stats.TraceStats` reads a trace as :class:`~memsim.tracing.columns.Columns`
(one :class:`~memsim.tracing.columns.EventTable` per event, integer columns as 8-byte
``array('q')``/``array('Q')``); what must look at every row is here, in C:

* :func:`common_counts`: events per CPU and per pid, each pid's last comm other than
  ``<...>`` (``__trace_find_cmdline``'s "unknown"), the first and last timestamp;
* :func:`group_count`: rows and the sum of a value column per distinct key (up to four integer
  columns) -- the page allocator per order, the page cache per file, memcg deltas per
  cgroup and item;
* :func:`rows_equal`: the rows whose value is one of a few (the rare failed allocations);
* :func:`rss_scan`: the ``rss_stat`` updates of each mm in file order (first, last, min, max
  and peak of FILE + ANON + SHMEM), kept in :class:`MmRss`/:class:`RssCounter`.

An unsigned column (``'Q'``) gives unsigned Python ints, as its values were read; sums are
exact (128-bit).
"""
from cpython.array cimport array
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t, uint8_t, INT64_MIN, INT64_MAX
from libc.stdlib cimport calloc, free

cdef extern from *:
    """
    static inline __int128 ms_i128_of_u64(unsigned long long v) { return (__int128)v; }
    static inline long long ms_i128_hi(__int128 v) { return (long long)(v >> 64); }
    static inline unsigned long long ms_i128_lo(__int128 v) { return (unsigned long long)v; }
    """
    ms_i128 ms_i128_of_u64(uint64_t v) nogil
    int64_t ms_i128_hi(ms_i128 v) nogil
    uint64_t ms_i128_lo(ms_i128 v) nogil

# __trace_find_cmdline's comm of a pid it does not know
UNKNOWN_COMM = "<...>"
DEF NSMALL_CPU = 1024
DEF MAXKEYS = 4


cdef object i128_to_py(ms_i128 v):
    """A 128-bit integer as a Python int."""
    if v >= INT64_MIN and v <= INT64_MAX:
        return PyLong_FromLongLong(<int64_t>v)
    return (PyLong_FromLongLong(ms_i128_hi(v)) << 64) + PyLong_FromUnsignedLongLong(ms_i128_lo(v))


cdef inline const int64_t* col_ptr(array a) except NULL:
    if a.ob_descr.itemsize != 8:
        raise TypeError("integer columns are 8-byte arrays ('q' or 'Q')")
    return <const int64_t*>a.data.as_voidptr


cdef inline bint is_unsigned(array a) noexcept:
    return a.ob_descr.typecode == b'Q'


cdef inline object py_int(int64_t v, bint unsigned):
    return PyLong_FromUnsignedLongLong(<uint64_t>v) if unsigned else PyLong_FromLongLong(v)


def common_counts(array seq not None, array ts not None, array cpu not None,
                  array pid not None, list comm not None):
    """Over the rows of one table: ``(by_cpu, by_pid, last_comm, first_ts, last_ts)`` --
    events per CPU and per pid (dicts), ``last_comm[pid] = (seq, comm)`` of the pid's last row
    whose comm is not ``<...>``, and the smallest and largest ``ts`` (None for no rows)."""
    cdef Py_ssize_t n = len(seq), i, run_end = -1
    cdef const int64_t* s = col_ptr(seq)
    cdef const int64_t* t = col_ptr(ts)
    cdef const int64_t* c = col_ptr(cpu)
    cdef const int64_t* p = col_ptr(pid)
    cdef int64_t small[NSMALL_CPU]
    cdef int64_t v, tmin = 0, tmax = 0, run_pid = 0, run_n = 0
    cdef PyObject* run_comm = NULL
    cdef PyObject* cm
    cdef PyObject* hit
    if len(ts) < n or len(cpu) < n or len(pid) < n or PyList_GET_SIZE(comm) < n:
        raise ValueError("the common columns differ in length")
    cdef dict by_cpu = {}, by_pid = {}, last_comm = {}
    for i in range(NSMALL_CPU):
        small[i] = 0
    if n:
        tmin = tmax = t[0]
    for i in range(n):
        v = c[i]
        if 0 <= v < NSMALL_CPU:
            small[v] += 1
        else:
            key = PyLong_FromLongLong(v)
            by_cpu[key] = by_cpu.get(key, 0) + 1
        v = t[i]
        if v < tmin:
            tmin = v
        elif v > tmax:
            tmax = v
        cm = PyList_GET_ITEM(comm, i)
        if run_end < 0 or p[i] != run_pid or cm != run_comm:
            if run_end >= 0:
                _flush_pid(by_pid, last_comm, run_pid, run_n, s[run_end], <object>run_comm)
            run_pid = p[i]
            run_comm = cm
            run_n = 0
        run_n += 1
        run_end = i
    if run_end >= 0:
        _flush_pid(by_pid, last_comm, run_pid, run_n, s[run_end], <object>run_comm)
    for i in range(NSMALL_CPU):
        if small[i]:
            key = PyLong_FromLongLong(i)
            by_cpu[key] = by_cpu.get(key, 0) + small[i]
    if not n:
        return by_cpu, by_pid, last_comm, None, None
    return by_cpu, by_pid, last_comm, tmin, tmax


cdef int _flush_pid(dict by_pid, dict last_comm, int64_t pid, int64_t n, int64_t seq,
                    object comm) except -1:
    key = PyLong_FromLongLong(pid)
    cdef PyObject* hit = PyDict_GetItem(by_pid, key)
    PyDict_SetItem(by_pid, key, (<object>hit if hit != NULL else 0) + n)
    if comm != UNKNOWN_COMM:
        last_comm[key] = (seq, comm)
    return 0


cdef inline uint64_t mix(uint64_t h, uint64_t v) noexcept nogil:
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)
    h ^= h >> 31
    h *= 0xbf58476d1ce4e5b9ULL
    return h ^ (h >> 29)


def group_count(tuple keys not None, array vals=None):
    """Rows per distinct key over the integer columns ``keys`` (1 to 4 arrays of one table),
    and the sum of ``vals`` per key: ``{key tuple: [rows, sum or None]}``."""
    cdef int k = len(keys), j, slot_ok
    if k < 1 or k > MAXKEYS:
        raise ValueError(f"1 to {MAXKEYS} key columns, not {k}")
    cdef const int64_t* kp[MAXKEYS]
    cdef bint uns[MAXKEYS]
    cdef Py_ssize_t n = len(keys[0]), i
    for j in range(k):
        kp[j] = col_ptr(<array>keys[j])
        uns[j] = is_unsigned(<array>keys[j])
        if len(keys[j]) < n:
            raise ValueError("the key columns differ in length")
    cdef const int64_t* vp = NULL
    cdef bint vuns = False
    if vals is not None:
        vp = col_ptr(vals)
        vuns = is_unsigned(vals)
        if len(vals) < n:
            raise ValueError("the value column is shorter than the keys")
    cdef Py_ssize_t cap = 64, used = 0, mask, s, prev = -1, ncap, q
    cdef int64_t* tk = <int64_t*>calloc(cap * k, sizeof(int64_t))
    cdef int64_t* cnt = <int64_t*>calloc(cap, sizeof(int64_t))
    cdef ms_i128* sums = <ms_i128*>calloc(cap, sizeof(ms_i128))
    cdef uint8_t* occ = <uint8_t*>calloc(cap, 1)
    cdef int64_t* tk2
    cdef int64_t* cnt2
    cdef ms_i128* sums2
    cdef uint8_t* occ2
    cdef uint64_t h
    cdef bint same
    if tk == NULL or cnt == NULL or sums == NULL or occ == NULL:
        free(tk); free(cnt); free(sums); free(occ)
        raise MemoryError()
    try:
        for i in range(n):
            # a run of equal keys (common: the same cgroup, order or file) skips the hash
            same = prev >= 0
            if same:
                for j in range(k):
                    if tk[prev * k + j] != kp[j][i]:
                        same = False
                        break
            if same:
                s = prev
            else:
                if (used + 1) * 2 > cap:
                    ncap = cap * 2
                    tk2 = <int64_t*>calloc(ncap * k, sizeof(int64_t))
                    cnt2 = <int64_t*>calloc(ncap, sizeof(int64_t))
                    sums2 = <ms_i128*>calloc(ncap, sizeof(ms_i128))
                    occ2 = <uint8_t*>calloc(ncap, 1)
                    if tk2 == NULL or cnt2 == NULL or sums2 == NULL or occ2 == NULL:
                        free(tk2); free(cnt2); free(sums2); free(occ2)
                        raise MemoryError()
                    for q in range(cap):
                        if not occ[q]:
                            continue
                        h = 0
                        for j in range(k):
                            h = mix(h, <uint64_t>tk[q * k + j])
                        s = <Py_ssize_t>(h & <uint64_t>(ncap - 1))
                        while occ2[s]:
                            s = (s + 1) & (ncap - 1)
                        occ2[s] = 1
                        for j in range(k):
                            tk2[s * k + j] = tk[q * k + j]
                        cnt2[s] = cnt[q]
                        sums2[s] = sums[q]
                    free(tk); free(cnt); free(sums); free(occ)
                    tk, cnt, sums, occ, cap = tk2, cnt2, sums2, occ2, ncap
                mask = cap - 1
                h = 0
                for j in range(k):
                    h = mix(h, <uint64_t>kp[j][i])
                s = <Py_ssize_t>(h & <uint64_t>mask)
                while occ[s]:
                    slot_ok = 1
                    for j in range(k):
                        if tk[s * k + j] != kp[j][i]:
                            slot_ok = 0
                            break
                    if slot_ok:
                        break
                    s = (s + 1) & mask
                if not occ[s]:
                    occ[s] = 1
                    used += 1
                    for j in range(k):
                        tk[s * k + j] = kp[j][i]
                prev = s
            cnt[s] += 1
            if vp != NULL:
                sums[s] += ms_i128_of_u64(<uint64_t>vp[i]) if vuns else <ms_i128>vp[i]
        out = {}
        for s in range(cap):
            if not occ[s]:
                continue
            key = tuple([py_int(tk[s * k + j], uns[j]) for j in range(k)])
            out[key] = [cnt[s], i128_to_py(sums[s]) if vp != NULL else None]
        return out
    finally:
        free(tk); free(cnt); free(sums); free(occ)


def rows_equal(array col not None, tuple values not None):
    """The indices of the rows whose raw 64-bit value is one of ``values`` (few expected)."""
    cdef const int64_t* p = col_ptr(col)
    cdef Py_ssize_t n = len(col), i
    cdef int m = len(values), j
    cdef int64_t want[8]
    if m > 8:
        raise ValueError("at most 8 values")
    for j in range(m):
        v = values[j] & 0xFFFFFFFFFFFFFFFF         # the raw bits, as either typecode holds them
        want[j] = <int64_t>(v - (1 << 64) if v >> 63 else v)
    out = []
    for i in range(n):
        for j in range(m):
            if p[i] == want[j]:
                out.append(i)
                break
    return out


cdef class RssCounter:
    """One counter of one mm: first/last/min/max size in bytes, the number of updates, the
    first and last update time, and with ``timeline`` every (ts, size) point."""

    def __cinit__(self, int64_t ts, int64_t size, bint timeline):
        self.first = self.last = self.min = self.max = size
        self.updates = 1
        self.first_ts = self.last_ts = ts
        if timeline:
            self.ts = array("q", [ts])
            self.size = array("q", [size])
        else:
            self.ts = self.size = None

    cpdef int update(self, int64_t ts, int64_t size) except -1:
        self.last = size
        if size < self.min:
            self.min = size
        if size > self.max:
            self.max = size
        self.updates += 1
        self.last_ts = ts
        if self.ts is not None:
            (<array>self.ts).append(ts)
            (<array>self.size).append(size)
        return 0


cdef class MmRss:
    """The rss_stat history of one life of one mm (:class:`memsim.tracing.stats.MmLives`):
    ``counters`` (member -> :class:`RssCounter`), ``tasks`` (pid -> comm of the tasks that
    updated it as current), the current FILE/ANON/SWAP/SHMEM bytes and the largest
    FILE + ANON + SHMEM seen (``peak``), its ``owner`` (comm-pid) and whether it ``ended``."""

    def __cinit__(self, mm_id, life=0):
        self.mm_id = mm_id
        self.life = life
        self.owner = None
        self.ended = False
        self.counters = {}
        self.tasks = {}
        cdef int i
        for i in range(4):
            self.current[i] = 0
        self.slots = [None, None, None, None]
        self.peak128 = 0

    def resident(self):
        """FILE + ANON + SHMEM now, in bytes (VmRSS)."""
        return i128_to_py(<ms_i128>self.current[0] + self.current[1] + self.current[3])

    @property
    def peak(self):
        return i128_to_py(self.peak128)

    @property
    def current_bytes(self):
        return [self.current[0], self.current[1], self.current[2], self.current[3]]


def rss_scan(lives not None, mm_col, array member not None, array size not None,
             array ts not None, curr, array pid not None, list comm not None, bint timeline):
    """Feed the rows of an ``rss_stat`` table, in file order, to the :class:`MmRss` of each
    ``mm_col`` value, by the rules of :class:`memsim.tracing.stats.MmLives` (``lives``: its
    ``live`` dict, ``all`` list and ``_count`` dict are kept up to date): the live mm of that
    id, or a new life of it; its owner (comm-pid of the first task, or of the first that
    updated it as current); the end of its life when every counter is back to 0.

    ``mm_col``: an integer array, a list of keys, or None (no mm_id field: one mm, key None);
    ``curr``: an integer array or None; ``member``, ``size``, ``ts``, ``pid``: integer
    arrays; ``comm``: the list of comms.  A row updates its counter (``member``), the current
    bytes and the peak; ``curr == 1`` names the task (the first comm seen for each pid).
    """
    cdef dict live = lives.live
    cdef list all_ = lives.all
    cdef dict count = lives._count
    cdef Py_ssize_t n = len(member), i
    cdef const int64_t* mp = col_ptr(member)
    cdef const int64_t* sp = col_ptr(size)
    cdef const int64_t* tp = col_ptr(ts)
    cdef const int64_t* pp = col_ptr(pid)
    cdef const int64_t* cp = NULL
    cdef const int64_t* kp = NULL
    cdef bint kuns = False, had, is_curr
    cdef list klist = None
    cdef int64_t m, sz, last_key = 0
    cdef bint have_last = False
    cdef MmRss mm = None
    cdef ms_i128 r
    cdef PyObject* hit
    if len(size) < n or len(ts) < n or len(pid) < n or PyList_GET_SIZE(comm) < n:
        raise ValueError("the rss_stat columns differ in length")
    if curr is not None:
        cp = col_ptr(<array>curr)
        if len(curr) < n:
            raise ValueError("the curr column is short")
    if isinstance(mm_col, array):
        kp = col_ptr(<array>mm_col)
        kuns = is_unsigned(<array>mm_col)
        if len(mm_col) < n:
            raise ValueError("the mm_id column is short")
    elif mm_col is not None:
        klist = list(mm_col)
        if len(klist) < n:
            raise ValueError("the mm_id column is short")
    for i in range(n):
        if kp != NULL:
            if not have_last or kp[i] != last_key:
                last_key = kp[i]
                have_last = True
                mm = _life_of(live, all_, count, py_int(kp[i], kuns))
        elif klist is not None:
            key = <object>PyList_GET_ITEM(klist, i)
            if mm is None or not (mm.mm_id is key or mm.mm_id == key):
                mm = _life_of(live, all_, count, key)
        elif mm is None:
            mm = _life_of(live, all_, count, None)
        m = mp[i]
        sz = sp[i]
        is_curr = cp != NULL and cp[i] == 1
        if mm.owner is None or (is_curr and not mm.tasks):
            mm.owner = f"{<object>PyList_GET_ITEM(comm, i)}-{pp[i]}"
        if is_curr:
            pkey = PyLong_FromLongLong(pp[i])
            if PyDict_GetItem(mm.tasks, pkey) == NULL:
                mm.tasks[pkey] = <object>PyList_GET_ITEM(comm, i)
        if 0 <= m < 4:
            hit = PyList_GET_ITEM(mm.slots, m)
            if <object>hit is None:
                c = RssCounter(tp[i], sz, timeline)
                mm.slots[m] = c
                mm.counters[PyLong_FromLongLong(m)] = c
            else:
                (<RssCounter>hit).update(tp[i], sz)
            had = (mm.current[0] != 0 or mm.current[1] != 0 or mm.current[2] != 0
                   or mm.current[3] != 0 or mm.peak128 > 0)
            mm.current[m] = sz
            r = <ms_i128>mm.current[0] + mm.current[1] + mm.current[3]
            if r > mm.peak128:
                mm.peak128 = r
            if had and mm.current[0] == 0 and mm.current[1] == 0 and mm.current[2] == 0 \
                    and mm.current[3] == 0:         # exit_mmap: everything is gone
                mm.ended = True
                del live[mm.mm_id]
                mm = None                           # the next row of this id starts a life
                have_last = False
        else:
            key = PyLong_FromLongLong(m)
            hit = PyDict_GetItem(mm.counters, key)
            if hit == NULL:
                mm.counters[key] = RssCounter(tp[i], sz, timeline)
            else:
                (<RssCounter>hit).update(tp[i], sz)
    return None


cdef MmRss _life_of(dict live, list all_, dict count, object key):
    """The live mm of ``key``, or a new life of it."""
    cdef PyObject* hit = PyDict_GetItem(live, key)
    if hit != NULL:
        return <MmRss>hit
    life = count.get(key, 0)
    count[key] = life + 1
    mm = MmRss(key, life)
    live[key] = mm
    all_.append(mm)
    return mm
