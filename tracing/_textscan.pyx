# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The hot loop of the text trace parser: line headers and payload patterns, in C.

One :class:`Scanner` walks a large chunk of text line by line:

* the line header the kernel's ``trace_print_context`` (kernel/trace/trace_output.c) prints --
  ``"%16s-%-7d "`` comm/pid, an optional ``"(%7d) "`` TGID, ``"[%03d] "`` CPU, the optional
  irq-info flags (``trace_print_lat_fmt``, 4 or 5 characters), the timestamp
  (``" %5lu.%06lu"`` or a raw ``%llu`` counter), the bare event name -- and the same header as
  trace-cmd's ``print_trace_fmt`` prints it (``trace-cmd report``: no flags column, the name
  padded to 21 columns; ``-l`` latency columns; ``-t`` nanosecond timestamps);
* the payload, through the event's compiled inverse (:meth:`memsim.tracing.payload.PayloadPattern.program`):
  literal pieces compared with memcmp, integers parsed in C, ``__print_symbolic`` /
  ``__print_flags`` tokens (``trace_print_symbols_seq`` / ``trace_print_flags_seq`` output)
  looked up in a C hash table keyed by the token bytes;
* each event goes straight into per-event typed columns (``array('q')``/``array('Q')``, lists
  for strings) -- or, for :meth:`Scanner.scan` with ``want_records``, into a
  :class:`~memsim.tracing.record.Record`.

A payload the pattern does not match is tried against the event's raw field list
(libtraceevent's output without the print fmt, ``trace-cmd report -R``), then goes to the
pattern's Python ``keyed`` fallback.  Lines that are not events (headers,
``CPU:N [LOST k EVENTS]``, junk) go to the Python callback ``on_other``.  Nothing here raises on bad input: problems are collected as
``(line number, message)`` for :class:`memsim.tracing.textparse.TextReader`.
"""
from cpython.array cimport array, resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.dict cimport PyDict_SetItem
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcmp, memchr, memcpy
from libc.stdlib cimport malloc, realloc, free, calloc

from memsim.tracing.columns import Columns, EventTable, column_name
from memsim.tracing.record import Record

cdef extern from "string.h" nogil:
    void* memmem(const void* h, size_t hl, const void* n, size_t nl)

cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)

# The op codes (OP_*, X_*), MAXSLOTS, the header results (H_*), the structs and the cdef
# classes' attributes are declared in _textscan.pxd.

_HEADER_ERRORS = {
    H_NOCPU: "not a trace event line: no '-PID [CPU]' fields",
    H_NOTS: "no timestamp after the CPU/flags fields",
    H_NONAME: "no 'event_name:' after the timestamp",
}

cdef inline bint _isdigit(char c) noexcept nogil:
    return c >= 48 and c <= 57

cdef inline int _hexval(char c) noexcept nogil:
    if c >= 48 and c <= 57:
        return c - 48
    if c >= 97 and c <= 102:
        return c - 87
    if c >= 65 and c <= 70:
        return c - 55
    return -1


# ---------------------------------------------------------------------------------------------
# A hash table keyed by byte strings (C, no Python objects per lookup; BMEntry in the .pxd)
# ---------------------------------------------------------------------------------------------
cdef inline uint64_t _hash(const char* k, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 1469598103934665603ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <uint8_t>k[i]) * 1099511628211ULL
    return h ^ (h >> 29)


cdef class ByteMap:
    """bytes -> int64, open addressing; ``limit`` caps the entries (put() then does nothing)."""


    def __cinit__(self, Py_ssize_t limit=1 << 20):
        self.cap = 64
        self.n = 0
        self.tab = <BMEntry*>malloc(self.cap * sizeof(BMEntry))
        self.acap = 4096
        self.alen = 0
        self.arena = <char*>malloc(self.acap)
        self.limit = limit
        if self.tab == NULL or self.arena == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        for i in range(self.cap):
            self.tab[i].koff = -1

    def __dealloc__(self):
        free(self.tab)
        free(self.arena)

    cdef inline bint get(self, const char* k, Py_ssize_t n, int64_t* out) noexcept:
        cdef uint64_t h = _hash(k, n)
        cdef Py_ssize_t mask = self.cap - 1
        cdef Py_ssize_t i = <Py_ssize_t>(h & <uint64_t>mask)
        cdef BMEntry* e
        while True:
            e = &self.tab[i]
            if e.koff < 0:
                return False
            if e.hash == h and e.klen == n and memcmp(self.arena + e.koff, k, n) == 0:
                out[0] = e.value
                return True
            i = (i + 1) & mask

    cdef int _grow(self) except -1:
        cdef Py_ssize_t oldcap = self.cap, i, j, mask
        cdef BMEntry* old = self.tab
        cdef BMEntry* t = <BMEntry*>malloc(oldcap * 2 * sizeof(BMEntry))
        if t == NULL:
            raise MemoryError()
        self.cap = oldcap * 2
        mask = self.cap - 1
        for i in range(self.cap):
            t[i].koff = -1
        for i in range(oldcap):
            if old[i].koff >= 0:
                j = <Py_ssize_t>(old[i].hash & <uint64_t>mask)
                while t[j].koff >= 0:
                    j = (j + 1) & mask
                t[j] = old[i]
        self.tab = t
        free(old)
        return 0

    cdef int put(self, const char* k, Py_ssize_t n, int64_t v) except -1:
        if self.n >= self.limit:
            return 0
        if (self.n + 1) * 2 > self.cap:
            self._grow()
        cdef char* a
        cdef Py_ssize_t need = self.alen + n
        if need > self.acap:
            while need > self.acap:
                self.acap *= 2
            a = <char*>realloc(self.arena, self.acap)
            if a == NULL:
                raise MemoryError()
            self.arena = a
        cdef uint64_t h = _hash(k, n)
        cdef Py_ssize_t mask = self.cap - 1
        cdef Py_ssize_t i = <Py_ssize_t>(h & <uint64_t>mask)
        while self.tab[i].koff >= 0:
            if self.tab[i].hash == h and self.tab[i].klen == n and \
                    memcmp(self.arena + self.tab[i].koff, k, n) == 0:
                self.tab[i].value = v
                return 0
            i = (i + 1) & mask
        memcpy(self.arena + self.alen, k, n)
        self.tab[i].hash = h
        self.tab[i].koff = self.alen
        self.tab[i].klen = n
        self.tab[i].value = v
        self.alen += n
        self.n += 1
        return 0

    def __len__(self):
        return self.n

    def lookup(self, bytes key):
        """The value of ``key`` or None (for tests)."""
        cdef int64_t v
        if self.get(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), &v):
            return v
        return None

    def insert(self, bytes key, int64_t value):
        self.put(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), value)


cdef class StrCache:
    """bytes -> the same ``str`` object (comms, flags, zone names repeat a lot)."""


    def __cinit__(self, Py_ssize_t limit=1 << 18):
        self.map = ByteMap(limit)
        self.objs = []

    cdef inline object get(self, const char* k, Py_ssize_t n):
        cdef int64_t i
        if self.map.get(k, n, &i):
            return self.objs[i]
        o = PyUnicode_DecodeUTF8(k, n, "replace")
        if self.map.n < self.map.limit:
            self.map.put(k, n, len(self.objs))
            self.objs.append(o)
        return o


# ---------------------------------------------------------------------------------------------
# Compiled payload programs (the Op and Alt structs are declared in the .pxd)
# ---------------------------------------------------------------------------------------------
cdef class Program:
    """A payload pattern in C form, built from ``PayloadPattern.program()``."""


    def __cinit__(self, tuple program):
        slots, ops = program
        self.keep = []
        self.names = []
        self.nslots = len(slots)
        if self.nslots > MAXSLOTS:
            raise ValueError("too many slots")
        cdef int i
        for i, (name, kind, size, signed) in enumerate(slots):
            self.names.append(name)
            self.kind[i] = kind
            self.size[i] = size
            self.sgn[i] = 1 if signed else 0
        ndyn = sum(1 for o in ops if o[0] == OP_CHOICE and o[3] is not None)
        nalts = sum(len(o[2]) for o in ops if o[0] == OP_CHOICE)
        self.nops = len(ops)
        self.total = self.nops + ndyn
        self.ops = <Op*>calloc(max(self.total, 1), sizeof(Op))
        self.alts = <Alt*>calloc(max(nalts, 1), sizeof(Alt))
        if self.ops == NULL or self.alts == NULL:
            raise MemoryError()
        cdef int d = self.nops
        self.nalts = 0
        for i, o in enumerate(ops):
            self._fill(&self.ops[i], o)
            if o[0] == OP_CHOICE and o[3] is not None:
                self._fill(&self.ops[d], o[3])
                self.ops[i].dyn = d
                d += 1
        # the literal that ends each delimited value
        cdef int j
        for i in range(self.nops):
            if i + 1 < self.nops and self.ops[i + 1].kind == OP_LIT:
                self.ops[i].has_term = 1
                self.ops[i].term = self.ops[i + 1].lit
                self.ops[i].termlen = self.ops[i + 1].litlen
            if self.ops[i].dyn >= 0:
                j = self.ops[i].dyn
                self.ops[j].has_term = self.ops[i].has_term
                self.ops[j].term = self.ops[i].term
                self.ops[j].termlen = self.ops[i].termlen

    cdef void _xops(self, Op* op, tuple xops):
        op.nx = min(len(xops), MAXX)
        cdef int k
        for k in range(op.nx):
            op.xc[k] = xops[k][0]
            op.xk[k] = <uint64_t>(xops[k][1] & 0xFFFFFFFFFFFFFFFF)

    cdef int _fill(self, Op* op, tuple o) except -1:
        cdef bytes b
        cdef ByteMap m
        op.kind = o[0]
        op.slot = -1
        op.dyn = -1
        op.text_slot = -1
        if op.kind == OP_LIT:
            b = o[1]
            self.keep.append(b)
            op.lit = PyBytes_AS_STRING(b)
            op.litlen = PyBytes_GET_SIZE(b)
        elif op.kind == OP_NUM:
            op.slot = o[1]
            self._xops(op, o[2])
            op.base = o[3]
            op.is_signed = 1 if o[4] else 0
            op.prefix0x = 1 if o[5] else 0
        elif op.kind in (OP_PTR, OP_CHAR):
            op.slot = o[1]
            self._xops(op, o[2])
        elif op.kind == OP_SYM or op.kind == OP_FLAGS:
            op.slot = o[1]
            self._xops(op, o[2])
            table = o[3] if op.kind == OP_SYM else o[4]
            m = ByteMap()
            for k, v in table.items():
                v = (v & 0xFFFFFFFFFFFFFFFF)
                if v >= (1 << 63):
                    v -= 1 << 64
                m.put(PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k), <int64_t>v)
            self.keep.append(m)
            op.map = <void*>m
            if op.kind == OP_FLAGS:
                b = o[3]
                self.keep.append(b)
                op.delim = PyBytes_AS_STRING(b)
                op.delimlen = PyBytes_GET_SIZE(b)
                m = ByteMap(1 << 16)
                self.keep.append(m)
                op.cache = <void*>m
        elif op.kind == OP_STR:
            op.slot = o[1]
        elif op.kind == OP_CHOICE:
            op.text_slot = o[1]
            op.alt0 = self.nalts
            op.nalts = len(o[2])
            for text, slot, value in o[2]:
                self.keep.append(text)
                self.alts[self.nalts].text = PyBytes_AS_STRING(text)
                self.alts[self.nalts].len = PyBytes_GET_SIZE(text)
                self.alts[self.nalts].slot = slot
                self.alts[self.nalts].value = <uint64_t>(value & 0xFFFFFFFFFFFFFFFF)
                self.nalts += 1
        else:
            raise ValueError(f"unknown op {op.kind}")
        return 0

    def __dealloc__(self):
        free(self.ops)
        free(self.alts)


cdef inline uint64_t _apply(const Op* op, uint64_t v) noexcept nogil:
    cdef int k
    cdef uint64_t c
    cdef int64_t a, b
    for k in range(op.nx):
        c = op.xk[k]
        if op.xc[k] == X_SHL:
            v = v << c if c < 64 else 0
        elif op.xc[k] == X_SHR:
            v = v >> c if c < 64 else 0
        elif op.xc[k] == X_AND:
            v = v & c
        elif op.xc[k] == X_MUL:
            v = v * c
        elif op.xc[k] == X_DIV:
            a = <int64_t>v
            b = <int64_t>c
            if b != 0 and not (a == <int64_t>0x8000000000000000 and b == -1):
                v = <uint64_t>(a / b)
        elif op.xc[k] == X_ADD:
            v = v + c
        elif op.xc[k] == X_NEG:
            v = <uint64_t>0 - v
        elif op.xc[k] == X_NOT:
            v = ~v
        elif op.xc[k] == X_LOG2:
            if v == 0:
                v = 0
            else:
                v = 63 - __builtin_clzll(v)
    return v


cdef inline Py_ssize_t _parse_num(const char* s, Py_ssize_t pos, Py_ssize_t end, int base,
                                  int prefix0x, uint64_t* out) noexcept nogil:
    """Parse an integer at s[pos:end]; returns the end position or -1."""
    while pos < end and s[pos] == 32:
        pos += 1
    cdef bint neg = False
    if pos < end and s[pos] == 45:
        neg = True
        pos += 1
    if (prefix0x or base == 0) and pos + 1 < end and s[pos] == 48 and (s[pos + 1] == 120 or s[pos + 1] == 88):
        if base == 0 or base == 16:
            pos += 2
            base = 16
    elif base == 0:
        base = 10
    cdef Py_ssize_t start = pos
    cdef uint64_t v = 0
    cdef int d
    if base == 10:
        while pos < end and _isdigit(s[pos]):
            v = v * 10 + <uint64_t>(s[pos] - 48)
            pos += 1
    elif base == 16:
        while pos < end:
            d = _hexval(s[pos])
            if d < 0:
                break
            v = (v << 4) | <uint64_t>d
            pos += 1
    else:
        while pos < end and s[pos] >= 48 and s[pos] <= 55:
            v = (v << 3) | <uint64_t>(s[pos] - 48)
            pos += 1
    if pos == start:
        return -1
    out[0] = (<uint64_t>0 - v) if neg else v
    return pos


cdef inline bint _hex_token(const char* s, Py_ssize_t a, Py_ssize_t b, uint64_t* out) noexcept nogil:
    """``0x<hex>`` exactly filling s[a:b]."""
    if b - a < 3 or s[a] != 48 or (s[a + 1] != 120 and s[a + 1] != 88):
        return False
    cdef uint64_t v = 0
    cdef int d
    cdef Py_ssize_t i
    for i in range(a + 2, b):
        d = _hexval(s[i])
        if d < 0:
            return False
        v = (v << 4) | <uint64_t>d
    out[0] = v
    return True


# ---------------------------------------------------------------------------------------------
# Line header (the Line struct is declared in the .pxd)
# ---------------------------------------------------------------------------------------------
cdef inline Py_ssize_t _pid_before(const char* s, Py_ssize_t cs, Py_ssize_t e, Line* L) noexcept nogil:
    """Parse ``comm-PID`` ending at s[e] (inclusive) with the comm starting at cs; returns the
    position of the '-' or -1."""
    cdef Py_ssize_t pe = e
    cdef int64_t pid = 0
    while e >= cs and _isdigit(s[e]):
        e -= 1
    if e == pe or e < cs or s[e] != 45 or pe - e > 18:
        return -1
    cdef Py_ssize_t k
    for k in range(e + 1, pe + 1):
        pid = pid * 10 + (s[k] - 48)
    L.pid = pid
    L.comm = cs
    L.commlen = e - cs
    return e


cdef int _parse_rest(const char* s, Py_ssize_t q, Py_ssize_t n, Line* L, bint flags_ok) noexcept nogil:
    """Flags (if ``flags_ok``), timestamp, event name, payload start; q is after the CPU field."""
    cdef Py_ssize_t te, k
    L.flags = 0
    L.flagslen = 0
    if flags_ok and q < n and s[q] != 32:
        te = q
        while te < n and s[te] != 32:
            te += 1
        if te < n and s[te - 1] != 58 and (te - q == 4 or te - q == 5) and not _isdigit(s[q]):
            L.flags = q
            L.flagslen = te - q
            q = te
    while q < n and s[q] == 32:
        q += 1
    cdef uint64_t sec = 0, frac = 0
    cdef int nd = 0
    k = q
    while q < n and _isdigit(s[q]):
        sec = sec * 10 + <uint64_t>(s[q] - 48)
        q += 1
    if q == k or q >= n:
        return H_NOTS
    if s[q] == 46:
        q += 1
        while q < n and _isdigit(s[q]):
            if nd < 9:
                frac = frac * 10 + <uint64_t>(s[q] - 48)
                nd += 1
            q += 1
        while nd < 9:
            frac *= 10
            nd += 1
        L.ts = <int64_t>(sec * 1000000000ULL + frac)
        L.ts_int = 0
    else:
        L.ts = <int64_t>sec
        L.ts_int = 1
    if q >= n or s[q] != 58:
        return H_NOTS
    q += 1
    while q < n and s[q] == 32:
        q += 1
    k = q
    while q < n and s[q] != 58 and s[q] != 32:
        q += 1
    if q == k or q >= n or s[q] != 58:
        return H_NONAME
    L.name = k
    L.namelen = q - k
    q += 1
    k = q
    while q < n and s[q] == 32:
        q += 1
    L.padded = 1 if (q - k > 1 and L.namelen + 1 < 21 and q - k >= 21 - (L.namelen + 1) + 1) else 0
    L.payload = q
    return H_OK


cdef int parse_header(const char* s, Py_ssize_t n, Line* L) noexcept nogil:
    """The context fields of one line (``trace_print_context`` / trace-cmd ``print_trace_fmt``)."""
    cdef Py_ssize_t i = 0, j, k, e, cs, q, t
    cdef int64_t cpu, tgid
    cdef const char* p
    cdef int r, err = H_OK
    while i < n and s[i] == 32:
        i += 1
    cs = i
    if i >= n:
        return H_NOCPU
    L.has_tgid = 0
    L.tgid = -1
    j = cs + 1
    while j < n:
        p = <const char*>memchr(s + j, 91, n - j)        # '['
        if p == NULL:
            break
        j = p - s
        if s[j - 1] == 32:
            k = j + 1
            cpu = 0
            while k < n and _isdigit(s[k]) and k - j < 12:
                cpu = cpu * 10 + (s[k] - 48)
                k += 1
            if k > j + 1 and k < n and s[k] == 93:            # ']'
                e = j - 1
                while e > cs and s[e] == 32:
                    e -= 1
                L.has_tgid = 0
                L.tgid = -1
                if s[e] == 41:                                # ')': "(%7d) " TGID
                    t = e - 1
                    while t > cs and s[t] != 40:
                        t -= 1
                    if s[t] == 40:
                        q = t + 1
                        while q < e and s[q] == 32:
                            q += 1
                        tgid = 0
                        if q < e and _isdigit(s[q]):
                            while q < e and _isdigit(s[q]) and tgid < <int64_t>1000000000000:
                                tgid = tgid * 10 + (s[q] - 48)
                                q += 1
                            if q == e:
                                L.has_tgid = 1
                                L.tgid = tgid
                        elif q < e and s[q] == 45:
                            while q < e and s[q] == 45:
                                q += 1
                            if q == e:
                                L.has_tgid = 1
                                L.tgid = -1
                        if L.has_tgid:
                            e = t - 1
                            while e > cs and s[e] == 32:
                                e -= 1
                if _pid_before(s, cs, e, L) >= 0:
                    L.cpu = cpu
                    q = k + 1
                    if q < n and s[q] == 32:
                        q += 1
                    r = _parse_rest(s, q, n, L, True)
                    if r == H_OK:
                        return r
                    err = r                 # a '[N]' inside the comm: try the next one
        j += 1
    # trace-cmd report -l: "comm-pid <cpu><flags> ts: name: payload" (no brackets)
    r = _parse_latency(s, cs, n, L)
    return err if (r != H_OK and err != H_OK) else r


cdef int _parse_latency(const char* s, Py_ssize_t cs, Py_ssize_t n, Line* L) noexcept nogil:
    cdef Py_ssize_t c = cs, t, te, tb, e, k
    cdef const char* p
    cdef int64_t cpu
    while c < n:
        p = <const char*>memchr(s + c, 58, n - c)          # ':'
        if p == NULL:
            return H_NOCPU
        c = p - s
        t = c - 1
        while t > cs and (_isdigit(s[t]) or s[t] == 46):
            t -= 1
        if t < c - 1 and s[t] == 32 and _isdigit(s[t + 1]):
            # s[t+1:c] is the timestamp; before it spaces, then "<cpu><flags>"
            te = t
            while te > cs and s[te] == 32:
                te -= 1
            tb = te
            while tb > cs and s[tb] != 32:
                tb -= 1
            if s[tb] == 32:
                k = tb + 1
                cpu = 0
                while k <= te and _isdigit(s[k]) and k - tb < 12:
                    cpu = cpu * 10 + (s[k] - 48)
                    k += 1
                if k > tb + 1 and (te - k + 1 == 4 or te - k + 1 == 5):
                    e = tb
                    while e > cs and s[e] == 32:
                        e -= 1
                    if _pid_before(s, cs, e, L) >= 0:
                        L.cpu = cpu
                        L.has_tgid = 0
                        L.tgid = -1
                        if _parse_rest(s, t + 1, n, L, False) != H_OK:
                            return H_NOCPU
                        L.flags = k
                        L.flagslen = te - k + 1
                        return H_OK
        c += 1
    return H_NOCPU


def parse_line_header(bytes line):
    """The header fields of one line as a dict, or ``(None, message)`` (for sniffing/tests)."""
    cdef Line L
    cdef const char* s = PyBytes_AS_STRING(line)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(line)
    while n > 0 and (s[n - 1] == 10 or s[n - 1] == 13):
        n -= 1
    cdef int r = parse_header(s, n, &L)
    if r != H_OK:
        return None, _HEADER_ERRORS[r]
    return {"comm": line[L.comm:L.comm + L.commlen].decode("utf-8", "replace"), "pid": L.pid,
            "tgid": L.tgid if L.has_tgid and L.tgid >= 0 else None, "has_tgid": bool(L.has_tgid),
            "cpu": L.cpu, "flags": line[L.flags:L.flags + L.flagslen].decode("utf-8", "replace")
            if L.flagslen else None, "ts": L.ts, "ts_int": bool(L.ts_int),
            "name": line[L.name:L.name + L.namelen].decode("utf-8", "replace"),
            "payload": line[L.payload:n].decode("utf-8", "replace"), "padded": bool(L.padded)}, None


# ---------------------------------------------------------------------------------------------
# Per-event columns
# ---------------------------------------------------------------------------------------------
cdef array _QARR = array("q")
cdef array _UARR = array("Q")
_MISSING = object()


cdef class Table:
    """The columns of one event in the current batch."""


    def __cinit__(self, str name, Program prog, list names, list typecodes):
        self.name = name
        self.prog = prog
        self.names = names
        self.n = 0
        self.cap = 256
        self.icols = [array("q") for _ in range(5)]
        self.comm = []
        self.flags = []
        self.nslots = len(names)
        self.scols = []
        self.seen = 0
        self.extra = {}
        self.payloads = None
        cdef int i
        for i in range(self.nslots):
            self.objmode[i] = 0
            tc = typecodes[i]
            self.scols.append([] if tc is None else array(tc))
        for a in self.icols:
            resize(<array>a, self.cap)
        for i in range(self.nslots):
            if typecodes[i] is not None:
                resize(<array>self.scols[i], self.cap)
        self._refresh()

    cdef void _refresh(self):
        cdef int i
        cdef array a
        for i in range(5):
            a = <array>self.icols[i]
            self.cptr[i] = <int64_t*>a.data.as_voidptr
        for i in range(self.nslots):
            o = self.scols[i]
            if type(o) is array and not self.objmode[i]:
                a = <array>o
                self.sptr[i] = <int64_t*>a.data.as_voidptr
            else:
                self.sptr[i] = NULL

    cdef int _grow(self) except -1:
        cdef Py_ssize_t cap = self.cap * 2
        cdef int i
        for a in self.icols:
            resize(<array>a, cap)
        for i in range(self.nslots):
            o = self.scols[i]
            if type(o) is array:
                resize(<array>o, cap)
        self.cap = cap
        self._refresh()
        return 0

    cdef inline int common(self, int64_t seq, const Line* L, object comm, object flags) except -1:
        if self.n == self.cap:
            self._grow()
        cdef Py_ssize_t r = self.n
        self.cptr[0][r] = seq
        self.cptr[1][r] = L.ts
        self.cptr[2][r] = L.cpu
        self.cptr[3][r] = L.pid
        self.cptr[4][r] = L.tgid if L.has_tgid else -1
        PyList_Append(self.comm, comm)
        PyList_Append(self.flags, flags)
        return 0

    cdef int _to_objects(self, int i) except -1:
        """Slot ``i`` becomes a list (a value that does not fit its array arrived)."""
        cdef array a = <array>self.scols[i]
        lst = list(a[:self.n])
        self.scols[i] = lst
        self.objmode[i] = 1
        self.sptr[i] = NULL
        return 0

    cdef int slot_values(self, int64_t* ival, list svals, uint64_t present) except -1:
        """Commit the payload values of the row started by :meth:`common`."""
        cdef Py_ssize_t r = self.n
        cdef int i
        cdef Program P = self.prog
        self.seen |= present
        for i in range(self.nslots):
            if P.kind[i] == 0 and not self.objmode[i]:
                self.sptr[i][r] = ival[i] if (present >> i) & 1 else 0
            elif P.kind[i] == 0:
                if (present >> i) & 1:
                    PyList_Append(<list>self.scols[i], PyLong_FromUnsignedLongLong(<uint64_t>ival[i])
                                  if P.sgn[i] == 0 and P.size[i] == 8 else PyLong_FromLongLong(ival[i]))
                else:
                    PyList_Append(<list>self.scols[i], None)
            else:
                PyList_Append(<list>self.scols[i], svals[i] if (present >> i) & 1 else None)
        self.n = r + 1
        return 0

    cdef int dict_values(self, dict fields) except -1:
        """Commit a row whose payload went through the Python fallback."""
        cdef Py_ssize_t r = self.n
        cdef int i
        cdef Program P = self.prog
        cdef object v
        rest = dict(fields)
        for i in range(self.nslots):
            v = rest.pop(self.names[i], _MISSING)
            if v is not _MISSING:
                self.seen |= (<uint64_t>1) << i
            if v is _MISSING and not self.objmode[i] and P.kind[i] == 0:
                self._to_objects(i)         # the row lacks the field: None, as its record does
            if self.objmode[i] or P.kind[i] != 0:
                (<list>self.scols[i]).append(None if v is _MISSING else v)
                continue
            if isinstance(v, int):
                if self.scols[i].typecode == "Q":
                    if 0 <= v < (1 << 64):
                        self.sptr[i][r] = <int64_t>(<uint64_t>v)
                        continue
                elif -(1 << 63) <= v < (1 << 63):
                    self.sptr[i][r] = <int64_t>v
                    continue
            self._to_objects(i)
            (<list>self.scols[i]).append(v)
        for k, v in rest.items():
            col = self.extra.get(k)
            if col is None:
                col = self.extra[k] = [None] * r
            elif len(col) < r:
                col.extend([None] * (r - len(col)))
            col.append(v)
        self.n = r + 1
        return 0

    def build(self):
        """The :class:`EventTable` of this batch's rows."""
        cdef int i
        cdef Py_ssize_t n = self.n
        names = ("seq", "ts", "cpu", "pid", "tgid")
        cols = {}
        for i in range(5):
            a = self.icols[i]
            resize(<array>a, n)
            cols[names[i]] = a
        cols["comm"] = self.comm
        cols["flags"] = self.flags
        cols["buffer"] = [""] * n        # a text names no buffer (TextReader sets prefixed ones)
        for i in range(self.nslots):
            o = self.scols[i]
            if not (self.seen >> i) & 1:
                continue
            if type(o) is array:
                resize(<array>o, n)
                if self.objmode[i]:
                    o = list(o)
            cols[column_name(self.names[i])] = o
        for k, col in self.extra.items():
            if len(col) < n:
                col.extend([None] * (n - len(col)))
            if all(type(x) is int and -(1 << 63) <= x < (1 << 63) for x in col):
                col = array("q", col)
            k = column_name(k)
            while k in cols:
                k = k + "_"
            cols[k] = col
        et = EventTable(self.name, cols)
        et.payloads = self.payloads
        return et


# ---------------------------------------------------------------------------------------------
# Events and the scanner
# ---------------------------------------------------------------------------------------------
cdef class Event:

    def __cinit__(self, str full_name, str system, str event, object program, object pattern):
        self.full_name = full_name
        self.system = system
        self.event = event
        self.pattern = pattern
        self.table = None
        slots = program[0] if program is not None else ()
        ops = program[1] if program is not None else None
        raw = program[2] if program is not None else None
        self.prog = Program((slots, ops or ()))
        self.raw = Program((slots, raw)) if raw else None
        self.names = list(self.prog.names)
        self.typecodes = []
        cdef int i
        for i in range(self.prog.nslots):
            if self.prog.kind[i] != 0:
                self.typecodes.append(None)
            elif self.prog.size[i] == 8 and not self.prog.sgn[i]:
                self.typecodes.append("Q")
            else:
                self.typecodes.append("q")
        self.has_prog = ops is not None


cdef class Scanner:
    """Walks chunks of a text trace (see the module docstring).

    ``resolve(name: bytes) -> (full_name, system, event, program or None, pattern)`` is called
    once per event name; ``on_other(lineno, line: bytes) -> bool`` for every line that is not an
    event (True: handled, e.g. a header; False: a problem).
    """


    def __cinit__(self, resolve, on_other, bint strict=False):
        self.resolve = resolve
        self.on_other = on_other
        self.strict = strict
        self.lineno = 1
        self.seq = 0
        self.problems = []
        self.first = None
        self.names = ByteMap()
        self.events = []
        self.batch_events = []
        self.batch_rows = 0
        self.comms = StrCache()
        self.flagstrs = StrCache(4096)
        self.strs = StrCache()
        self.svals = [None] * MAXSLOTS
        self.last_namelen = -1
        self.last_event = None

    cdef Event _event(self, const char* name, Py_ssize_t n):
        cdef int64_t idx
        cdef Event ev
        if n == self.last_namelen and memcmp(name, self.last_name, n) == 0:
            return self.last_event                  # runs of one event skip the hash
        if self.names.get(name, n, &idx):
            ev = <Event>self.events[idx]
            if n <= 64:
                memcpy(self.last_name, name, n)
                self.last_namelen = n
                self.last_event = ev
            return ev
        full, system, event, program, pattern = self.resolve(PyBytes_FromStringAndSize(name, n))
        ev = Event(full, system, event, program, pattern)
        self.events.append(ev)
        self.names.put(name, n, len(self.events) - 1)
        return ev

    # -- payload ---------------------------------------------------------------------------
    cdef inline void _put(self, int slot, uint64_t v):
        if slot >= 0:
            self.ival[slot] |= <int64_t>v
            self.present |= (<uint64_t>1) << slot

    cdef int _token_op(self, Program P, const Op* op, const char* s, Py_ssize_t a, Py_ssize_t b) except -1:
        """A delimited value s[a:b] through a str/sym/flags op; 1 on success, 0 on mismatch."""
        cdef int64_t v
        cdef uint64_t acc, m
        cdef Py_ssize_t x, y
        cdef const char* d
        cdef ByteMap cache
        if op.kind == OP_STR:
            if op.slot >= 0:
                self.svals[op.slot] = self.strs.get(s + a, b - a)
                self.present |= (<uint64_t>1) << op.slot
            return 1
        if op.kind == OP_SYM:
            if (<ByteMap>op.map).get(s + a, b - a, &v):
                self._put(op.slot, _apply(op, <uint64_t>v))
                return 1
            if _hex_token(s, a, b, &acc):
                self._put(op.slot, _apply(op, acc))
                return 1
            return 0
        if op.kind == OP_FLAGS:
            cache = <ByteMap>op.cache
            if cache.get(s + a, b - a, &v):
                self._put(op.slot, _apply(op, <uint64_t>v))
                return 1
            acc = 0
            x = a
            while True:
                if op.delimlen > 0:
                    d = <const char*>memmem(s + x, b - x, op.delim, op.delimlen)
                    y = b if d == NULL else d - s
                else:
                    y = b
                if (<ByteMap>op.map).get(s + x, y - x, &v):
                    acc |= <uint64_t>v
                elif _hex_token(s, x, y, &m):
                    acc |= m
                else:
                    return 0
                if y >= b:
                    break
                x = y + op.delimlen
            cache.put(s + a, b - a, <int64_t>acc)
            self._put(op.slot, _apply(op, acc))
            return 1
        return 0

    cdef int _match(self, Program P, const char* s, Py_ssize_t pos, Py_ssize_t end) except -1:
        """Run the program over s[pos:end]; 1 matched (values in ival/svals/present), 0 not."""
        cdef int i, k, r
        cdef const Op* op
        cdef const Alt* alt
        cdef uint64_t v
        cdef Py_ssize_t p2, stop, a, b
        cdef const char* f
        cdef int nslots = P.nslots
        for i in range(nslots):
            self.ival[i] = 0
        self.present = 0
        for i in range(P.nops):
            op = &P.ops[i]
            if op.kind == OP_LIT:
                if end - pos < op.litlen or memcmp(s + pos, op.lit, op.litlen) != 0:
                    return 0
                pos += op.litlen
            elif op.kind == OP_NUM:
                p2 = _parse_num(s, pos, end, op.base, op.prefix0x, &v)
                if p2 < 0:
                    return 0
                self._put(op.slot, _apply(op, v))
                pos = p2
            elif op.kind == OP_PTR:
                while pos < end and s[pos] == 32:
                    pos += 1
                if end - pos >= 6 and memcmp(s + pos, b"(null)", 6) == 0:
                    self._put(op.slot, 0)
                    pos += 6
                    continue
                p2 = _parse_num(s, pos, end, 16, 1, &v)
                if p2 < 0:
                    return 0
                self._put(op.slot, _apply(op, v))
                pos = p2
            elif op.kind == OP_CHAR:
                if pos >= end:
                    return 0
                self._put(op.slot, _apply(op, <uint8_t>s[pos]))
                pos += 1
            elif op.kind == OP_CHOICE and op.dyn < 0:
                r = 0
                for k in range(op.alt0, op.alt0 + op.nalts):
                    alt = &P.alts[k]
                    if end - pos >= alt.len and memcmp(s + pos, alt.text, alt.len) == 0:
                        if alt.slot >= 0:
                            self._put(alt.slot, alt.value)
                        if op.text_slot >= 0:
                            self.svals[op.text_slot] = self.strs.get(alt.text, alt.len)
                            self.present |= (<uint64_t>1) << op.text_slot
                        pos += alt.len
                        r = 1
                        break
                if not r:
                    return 0
            else:
                # a value delimited by the next literal (or the end)
                if op.has_term:
                    f = <const char*>memmem(s + pos, end - pos, op.term, op.termlen)
                    if f == NULL:
                        return 0
                    stop = f - s
                else:
                    stop = end
                a = pos
                b = stop
                while a < b and s[a] == 32:
                    a += 1
                while b > a and s[b - 1] == 32:
                    b -= 1
                if op.kind == OP_CHOICE:
                    r = 0
                    for k in range(op.alt0, op.alt0 + op.nalts):
                        alt = &P.alts[k]
                        if alt.len == b - a and memcmp(s + a, alt.text, alt.len) == 0:
                            if alt.slot >= 0:
                                self._put(alt.slot, alt.value)
                            r = 1
                            break
                    if not r and not self._token_op(P, &P.ops[op.dyn], s, a, b):
                        return 0
                elif not self._token_op(P, op, s, a, b):
                    return 0
                pos = stop
        while pos < end and s[pos] == 32:
            pos += 1
        if pos != end:
            return 0
        # wrap each value to its field's C type
        cdef int64_t x
        cdef int bits
        for i in range(nslots):
            if P.kind[i] == 0 and P.size[i] < 8 and (self.present >> i) & 1:
                bits = 8 * P.size[i]
                x = self.ival[i] & ((<int64_t>1 << bits) - 1)
                if P.sgn[i] and (x >> (bits - 1)) & 1:
                    x -= (<int64_t>1 << bits)
                self.ival[i] = x
        return 1

    cdef dict _fields(self, Program P):
        cdef dict d = {}
        cdef int i
        for i in range(P.nslots):
            if (self.present >> i) & 1:
                if P.kind[i] != 0:
                    PyDict_SetItem(d, P.names[i], self.svals[i])
                elif P.sgn[i] == 0 and P.size[i] == 8:
                    PyDict_SetItem(d, P.names[i], PyLong_FromUnsignedLongLong(<uint64_t>self.ival[i]))
                else:
                    PyDict_SetItem(d, P.names[i], PyLong_FromLongLong(self.ival[i]))
        return d

    # -- the loop --------------------------------------------------------------------------
    def scan(self, buf, Py_ssize_t pos, Py_ssize_t end, bint want_records,
             Py_ssize_t limit, list out):
        """Parse the lines of ``buf[pos:end]`` (``bytes`` or a ``bytearray``; a line without a
        newline at ``end`` counts as a whole line).  Stops after ``limit`` events.  Columns go
        to the current batch (:meth:`build`); with ``want_records`` Records are appended to
        ``out``.

        Returns ``(pos, events, stop)``: stop is 0 at ``end``, 1 at the limit, 2 at a problem in
        strict mode.
        """
        cdef const unsigned char[::1] view = buf
        cdef Py_ssize_t nbuf = view.shape[0]
        cdef const char* s = <const char*>&view[0] if nbuf else NULL
        cdef Py_ssize_t ls, le, nl, lend
        cdef const char* p
        cdef Line L
        cdef int r
        cdef Py_ssize_t rows = 0
        cdef Event ev
        cdef Table t
        cdef Program P
        cdef object comm, flags
        if end > nbuf:
            end = nbuf
        if pos < 0:
            pos = 0
        while pos < end:
            if rows >= limit:
                return pos, rows, 1
            ls = pos
            p = <const char*>memchr(s + pos, 10, end - pos)
            if p == NULL:
                nl = end
                pos = end
            else:
                nl = p - s
                pos = nl + 1
            le = nl
            if le > ls and s[le - 1] == 13:
                le -= 1
            lend = le
            if le == ls or s[ls] == 35:                 # blank or '#'
                if le > ls:
                    self.on_other(self.lineno, PyBytes_FromStringAndSize(s + ls, le - ls))
                self.lineno += 1
                continue
            r = parse_header(s + ls, le - ls, &L)
            if r != H_OK:
                if not self.on_other(self.lineno, PyBytes_FromStringAndSize(s + ls, le - ls)):
                    self.problems.append((self.lineno, _HEADER_ERRORS[r]))
                    if self.strict:
                        self.lineno += 1
                        return pos, rows, 2
                self.lineno += 1
                continue
            self.lineno += 1
            if self.first is None:
                self.first = {"flags_width": L.flagslen if L.flagslen else None,
                              "has_tgid": bool(L.has_tgid), "ts_int": bool(L.ts_int),
                              "padded": bool(L.padded)}
            ev = self._event(s + ls + L.name, L.namelen)
            P = ev.prog
            comm = self.comms.get(s + ls + L.comm, L.commlen)
            flags = self.flagstrs.get(s + ls + L.flags, L.flagslen) if L.flagslen else None
            r = self._match(P, s + ls, L.payload, le - ls) if ev.has_prog else 0
            if not r and ev.raw is not None:
                r = self._match(ev.raw, s + ls, L.payload, le - ls)
            rows += 1
            if want_records:
                if r:
                    fields = self._fields(P)
                else:
                    fields = ev.pattern.keyed(PyUnicode_DecodeUTF8(s + ls + L.payload, le - ls - L.payload, "replace"))
                out.append(Record(ev.system, ev.event, L.pid, L.tgid if L.has_tgid and L.tgid >= 0 else None,
                                  comm, L.cpu, L.ts, flags, fields,
                                  PyUnicode_DecodeUTF8(s + ls + L.payload, le - ls - L.payload, "replace")))
                continue
            t = ev.table
            if t is None:
                t = ev.table = Table(ev.full_name, P, ev.names, ev.typecodes)
                self.batch_events.append(ev)
                if self.keep_payloads:
                    t.payloads = []
            if self.keep_payloads:
                t.payloads.append(PyUnicode_DecodeUTF8(s + ls + L.payload, le - ls - L.payload, "replace"))
            t.common(self.seq, &L, comm, flags)
            self.seq += 1
            self.batch_rows += 1
            if r:
                t.slot_values(self.ival, self.svals, self.present)
            else:
                t.dict_values(ev.pattern.keyed(PyUnicode_DecodeUTF8(s + ls + L.payload, le - ls - L.payload, "replace")))
        return pos, rows, 0

    def build(self):
        """The :class:`Columns` of the current batch; starts a new batch."""
        tables = {}
        cdef Event ev
        for ev in self.batch_events:
            et = ev.table.build()
            if ev.full_name in tables:
                tables[ev.full_name].extend(et)
            else:
                tables[ev.full_name] = et
            ev.table = None
        self.batch_events = []
        self.batch_rows = 0
        return Columns(tables)
