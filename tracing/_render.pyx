# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The per-row loop of ``memsim trace report`` over column batches (:mod:`memsim.tracing.report`).

:meth:`memsim.tracing.report.Renderer.batch_lines` renders one
:class:`~memsim.tracing.columns.Columns` batch: the payloads of each event table come from its
print fmt evaluated over whole columns (or from the text's own payloads); the lines are put
together here, in C:

* :func:`assemble`: ``prefix + time stamp + name + payload`` of every row of one table, the
  prefix (comm, pid, tgid, CPU, irq-info) and the stamp made once per distinct value (by the
  renderer's own Python functions, so the text is the per-record :meth:`Renderer.line`'s);
* :func:`scatter`: the lines of the tables back into file order (their ``seq``).
"""
from cpython.array cimport array
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
from libc.stdio cimport snprintf

#: the stamp forms :func:`assemble` prints itself (others go through ``stamp_of``)
STAMP_CALL = 0          # stamp_of(ts)
STAMP_US = 1            # " %5d.%06d" of the rounded microseconds (kernel trace file)
STAMP_US_COLON = 2      # " %5d.%06d:" (trace-cmd report)
STAMP_NS_COLON = 3      # " %5d.%09d:" (trace-cmd report -t)


cdef inline const int64_t* col_ptr(array a, Py_ssize_t n) except NULL:
    if a.ob_descr.itemsize != 8:
        raise TypeError("integer columns are 8-byte arrays ('q' or 'Q')")
    if len(a) < n:
        raise ValueError("a column is shorter than the table")
    return <const int64_t*>a.data.as_voidptr


def assemble(array ts not None, array pid not None, array cpu not None, array tgid not None,
             list comm not None, list flags not None, list buffers, str name not None,
             list payloads not None, prefix_of, stamp_of, int stamp_form, bint strip_newline):
    """The lines (without newline) of one table: ``prefix_of(comm, pid, cpu, flags, tgid,
    buffer)`` (tgid None for a negative one; buffer ``""`` when ``buffers`` is None) + the stamp (``stamp_form``, one of the ``STAMP_*``: a
    time stamp from 0 to 2**62 is printed here, any other through ``stamp_of(ts)``) + ``name`` + the row's payload (its
    trailing newline dropped with ``strip_newline``)."""
    cdef Py_ssize_t n = PyList_GET_SIZE(payloads), i
    cdef const int64_t* tp = col_ptr(ts, n)
    cdef const int64_t* pp = col_ptr(pid, n)
    cdef const int64_t* cp = col_ptr(cpu, n)
    cdef const int64_t* gp = col_ptr(tgid, n)
    cdef list out = [None] * n
    cdef int64_t last_ts = 0
    cdef bint have_ts = False
    cdef str stamp = None, payload
    cdef list prefixes
    cdef char buf[64]
    if PyList_GET_SIZE(comm) < n or PyList_GET_SIZE(flags) < n:
        raise ValueError("a column is shorter than the table")
    prefixes = _prefixes(n, pp, cp, gp, comm, flags, buffers, prefix_of)
    for i in range(n):
        if not have_ts or tp[i] != last_ts:
            stamp = _stamp(tp[i], stamp_form, buf)
            if stamp is None:
                stamp = stamp_of(tp[i])
            last_ts = tp[i]
            have_ts = True
        payload = <str>PyList_GET_ITEM(payloads, i)
        if strip_newline and payload.endswith("\n"):
            payload = payload[:len(payload) - 1]
        out[i] = f"{<str>PyList_GET_ITEM(prefixes, i)}{stamp}{name}{payload}"
    return out


cdef str _stamp(int64_t ts, int form, char* buf):
    cdef int64_t us
    cdef int k
    if form == 0 or ts < 0 or ts >= (<int64_t>1 << 62):
        return None
    if form == 3:
        k = snprintf(buf, 64, " %5lld.%09lld:", <long long>(ts // 1000000000), <long long>(ts % 1000000000))
    else:
        us = (ts + 500) // 1000
        k = snprintf(buf, 64, " %5lld.%06lld:" if form == 2 else " %5lld.%06lld",
                     <long long>(us // 1000000), <long long>(us % 1000000))
    return PyUnicode_DecodeASCII(buf, k, NULL)


def scatter(list out not None, array seq not None, int64_t base, list lines not None):
    """``out[seq[i] - base] = lines[i]`` for every row (the rows of a batch back in file order)."""
    cdef Py_ssize_t n = PyList_GET_SIZE(lines), i, k, size = PyList_GET_SIZE(out)
    cdef const int64_t* sp = col_ptr(seq, n)
    for i in range(n):
        k = sp[i] - base
        if k < 0 or k >= size:
            raise IndexError("a row's seq is outside its batch")
        out[k] = <object>PyList_GET_ITEM(lines, i)
    return None


cdef list _prefixes(Py_ssize_t n, const int64_t* pp, const int64_t* cp, const int64_t* gp,
                    list comm, list flags, list buffers, prefix_of):
    """The prefix of every row (one str object per distinct task, CPU, irq-info and buffer;
    ``buffers`` None: no buffer column)."""
    cdef list out = [None] * n
    cdef Py_ssize_t i
    cdef int64_t last_pid = 0, last_cpu = 0, last_tgid = 0
    cdef bint have = False
    cdef object last_comm = None, last_flags = None, last_buffer = "", prefix = None, b = ""
    if buffers is not None and PyList_GET_SIZE(buffers) < n:
        raise ValueError("a column is shorter than the table")
    cdef dict cache = {}
    cdef PyObject* hit
    for i in range(n):
        c = <object>PyList_GET_ITEM(comm, i)
        f = <object>PyList_GET_ITEM(flags, i)
        if buffers is not None:
            b = <object>PyList_GET_ITEM(buffers, i)
        if not (have and pp[i] == last_pid and cp[i] == last_cpu and gp[i] == last_tgid
                and c is last_comm and f is last_flags and b is last_buffer):
            key = (c, pp[i], cp[i], f, gp[i], b)
            hit = PyDict_GetItem(cache, key)
            if hit == NULL:
                prefix = prefix_of(c, pp[i], cp[i], f, gp[i] if gp[i] >= 0 else None, b)
                if not isinstance(prefix, str):
                    raise TypeError("prefix_of must return a str")
                if len(cache) < 65536:
                    cache[key] = prefix
            else:
                prefix = <object>hit
            last_pid, last_cpu, last_tgid, last_comm, last_flags, last_buffer = pp[i], cp[i], gp[i], c, f, b
            have = True
        out[i] = prefix
    return out


def batch_text(list tables not None, Py_ssize_t n, int64_t base, prefix_of, stamp_of,
               int stamp_form):
    """The text of a batch, one line per row in file order, UTF-8 encoded: ``tables`` is a
    list of ``(seq, ts, pid, cpu, tgid, comm, flags, buffers, name, payloads, strip_newline)``,
    one per event table,
    whose ``seq`` values are ``base .. base + n - 1`` between them (IndexError otherwise).
    Each line is :func:`assemble`'s, written straight into one buffer."""
    cdef Py_ssize_t ntab = len(tables), j, i, k, m, total = 0, pos = 0, ln
    cdef int32_t* row_tab = NULL
    cdef int32_t* row_idx = NULL
    cdef char* buf = NULL
    cdef char sbuf[64]
    cdef const char* u
    cdef const int64_t* sp
    cdef const int64_t* tp
    cdef list specs = []
    cdef list prefixes, payloads, stamps
    cdef int64_t t, last_t
    cdef bint call, have
    if n <= 0:
        return b""
    row_tab = <int32_t*>malloc(n * sizeof(int32_t))
    row_idx = <int32_t*>malloc(n * sizeof(int32_t))
    if row_tab == NULL or row_idx == NULL:
        free(row_tab)
        free(row_idx)
        raise MemoryError()
    try:
        for k in range(n):
            row_tab[k] = -1
        for j in range(ntab):
            seq, ts, pid, cpu, tgid, comm, flags, buffers, name, payloads, strip = tables[j]
            m = PyList_GET_SIZE(payloads)
            sp = col_ptr(seq, m)
            tp = col_ptr(ts, m)
            if PyList_GET_SIZE(comm) < m or PyList_GET_SIZE(flags) < m:
                raise ValueError("a column is shorter than the table")
            for i in range(m):
                k = sp[i] - base
                if k < 0 or k >= n or row_tab[k] != -1:
                    raise IndexError("the rows' seq are not the batch's")
                row_tab[k] = <int32_t>j
                row_idx[k] = <int32_t>i
            prefixes = _prefixes(m, col_ptr(pid, m), col_ptr(cpu, m), col_ptr(tgid, m),
                                 comm, flags, buffers, prefix_of)
            stamps = None
            call = stamp_form == 0
            for i in range(m):
                if tp[i] < 0 or tp[i] >= (<int64_t>1 << 62):
                    call = True
                    break
            if call:
                stamps = [None] * m
                have = False
                last_t = 0
                for i in range(m):
                    if not have or tp[i] != last_t:
                        s = _stamp(tp[i], stamp_form, sbuf)
                        if s is None:
                            s = stamp_of(tp[i])
                        last_t = tp[i]
                        have = True
                    stamps[i] = s
            for i in range(m):
                total += _ulen(<object>PyList_GET_ITEM(prefixes, i))
                total += _ulen(<object>PyList_GET_ITEM(payloads, i))
                if stamps is not None:
                    total += _ulen(<object>PyList_GET_ITEM(stamps, i))
            total += m * (_ulen(name) + 40)
            specs.append((prefixes, name, payloads, stamps, ts, bool(strip)))
        for k in range(n):
            if row_tab[k] == -1:
                raise IndexError("the rows' seq are not the batch's")
        buf = <char*>malloc(total + 1)
        if buf == NULL:
            raise MemoryError()
        for k in range(n):
            spec = <tuple>PyList_GET_ITEM(specs, row_tab[k])
            i = row_idx[k]
            prefixes = <list>spec[0]
            u = PyUnicode_AsUTF8AndSize(<object>PyList_GET_ITEM(prefixes, i), &ln)
            memcpy(buf + pos, u, ln)
            pos += ln
            stamps = <list>spec[3]
            if stamps is not None:
                u = PyUnicode_AsUTF8AndSize(<object>PyList_GET_ITEM(stamps, i), &ln)
                memcpy(buf + pos, u, ln)
                pos += ln
            else:
                t = (<const int64_t*>(<array>spec[4]).data.as_voidptr)[i]
                pos += _stamp_into(t, stamp_form, buf + pos)
            u = PyUnicode_AsUTF8AndSize(spec[1], &ln)
            memcpy(buf + pos, u, ln)
            pos += ln
            payloads = <list>spec[2]
            u = PyUnicode_AsUTF8AndSize(<object>PyList_GET_ITEM(payloads, i), &ln)
            if spec[5] and ln and u[ln - 1] == 10:
                ln -= 1
            memcpy(buf + pos, u, ln)
            pos += ln
            buf[pos] = 10
            pos += 1
            if pos > total:
                raise MemoryError("the batch's text outgrew its estimate")
        return PyBytes_FromStringAndSize(buf, pos)
    finally:
        free(row_tab)
        free(row_idx)
        free(buf)


cdef inline Py_ssize_t _ulen(object s) except -1:
    """The UTF-8 length of the str ``s``."""
    cdef Py_ssize_t ln
    if type(s) is not str:
        raise TypeError("a payload, prefix or stamp is not a str")
    PyUnicode_AsUTF8AndSize(s, &ln)
    return ln


cdef inline int _stamp_into(int64_t ts, int form, char* out) noexcept:
    """:func:`_stamp` written at ``out`` (0 <= ts < 2**62; at most 40 bytes)."""
    cdef int64_t us
    if form == 3:
        return snprintf(out, 40, " %5lld.%09lld:", <long long>(ts // 1000000000), <long long>(ts % 1000000000))
    us = (ts + 500) // 1000
    return snprintf(out, 40, " %5lld.%06lld:" if form == 2 else " %5lld.%06lld",
                    <long long>(us // 1000000), <long long>(us % 1000000))
