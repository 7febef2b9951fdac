# cython: language_level=3
"""Declarations of :mod:`memsim.tracing._textscan` (the text-trace hot loop), for ``cimport``.

The payload-program op codes and limits, the C structs (a byte-keyed hash entry, a program op
and alternative, a parsed line header) and the extension types: :class:`ByteMap`,
:class:`StrCache`, :class:`Program` (a compiled payload pattern), :class:`Table` (one event's
columns in a batch), :class:`Event` and :class:`Scanner`.  The implementation and the
docstrings are in ``_textscan.pyx``.
"""
from cpython.array cimport array
from libc.stdint cimport int64_t, uint64_t, uint8_t

# op codes (memsim.tracing.payload)
cdef enum:
    OP_LIT = 0
    OP_NUM = 1
    OP_PTR = 2
    OP_CHAR = 3
    OP_SYM = 4
    OP_FLAGS = 5
    OP_STR = 6
    OP_CHOICE = 7
    X_SHL = 0
    X_SHR = 1
    X_AND = 2
    X_MUL = 3
    X_DIV = 4
    X_ADD = 5
    X_NEG = 6
    X_NOT = 7
    X_LOG2 = 8
    MAXX = 8
    MAXSLOTS = 64
    H_OK = 0
    H_NOCPU = 1
    H_NOTS = 2
    H_NONAME = 3


cdef struct BMEntry:
    uint64_t hash
    Py_ssize_t koff          # -1: empty
    Py_ssize_t klen
    int64_t value


cdef struct Op:
    int kind
    int slot
    int nx
    int xc[MAXX]
    uint64_t xk[MAXX]
    int base
    int is_signed
    int prefix0x
    const char* lit
    Py_ssize_t litlen
    int has_term
    const char* term
    Py_ssize_t termlen
    void* map            # ByteMap: name -> value (sym, flags)
    void* cache          # ByteMap: whole flags token -> value
    const char* delim
    Py_ssize_t delimlen
    int alt0
    int nalts
    int dyn              # index of the dynamic op, -1
    int text_slot

cdef struct Alt:
    const char* text
    Py_ssize_t len
    int slot
    uint64_t value


cdef struct Line:
    Py_ssize_t comm
    Py_ssize_t commlen
    int64_t pid
    int64_t tgid
    int has_tgid
    int64_t cpu
    Py_ssize_t flags
    Py_ssize_t flagslen
    int64_t ts
    int ts_int           # 1: raw integer clock
    Py_ssize_t name
    Py_ssize_t namelen
    Py_ssize_t payload
    int padded           # name followed by trace-cmd's padding


cdef class ByteMap:
    cdef BMEntry* tab
    cdef Py_ssize_t cap
    cdef Py_ssize_t n
    cdef char* arena
    cdef Py_ssize_t alen
    cdef Py_ssize_t acap
    cdef Py_ssize_t limit

    cdef inline bint get(self, const char* k, Py_ssize_t n, int64_t* out) noexcept
    cdef int _grow(self) except -1
    cdef int put(self, const char* k, Py_ssize_t n, int64_t v) except -1


cdef class StrCache:
    cdef ByteMap map
    cdef list objs

    cdef inline object get(self, const char* k, Py_ssize_t n)


cdef class Program:
    cdef Op* ops

    cdef int nops            # main ops (dynamic ones follow)
    cdef int total
    cdef Alt* alts
    cdef int nalts
    cdef int nslots
    cdef uint8_t kind[MAXSLOTS]
    cdef uint8_t size[MAXSLOTS]
    cdef uint8_t sgn[MAXSLOTS]
    cdef list names
    cdef list keep

    cdef void _xops(self, Op* op, tuple xops)
    cdef int _fill(self, Op* op, tuple o) except -1


cdef class Table:
    cdef public str name
    cdef Py_ssize_t n
    cdef Py_ssize_t cap
    cdef list icols           # common int columns: seq ts cpu pid tgid
    cdef list comm
    cdef list flags
    cdef int nslots

    cdef list scols           # per slot: array (int) or list
    cdef uint8_t objmode[MAXSLOTS]
    cdef int64_t* cptr[5]
    cdef int64_t* sptr[MAXSLOTS]
    cdef uint64_t seen
    cdef Program prog
    cdef list names
    cdef dict extra           # columns of fallback keys that are no slot
    cdef public list payloads # the rows' payload texts (Scanner.keep_payloads), else None

    cdef void _refresh(self)
    cdef int _grow(self) except -1
    cdef inline int common(self, int64_t seq, const Line* L, object comm, object flags) except -1
    cdef int _to_objects(self, int i) except -1
    cdef int slot_values(self, int64_t* ival, list svals, uint64_t present) except -1
    cdef int dict_values(self, dict fields) except -1


cdef class Event:
    cdef public str full_name
    cdef public str system
    cdef public str event
    cdef Program prog
    cdef Program raw
    cdef public object pattern
    cdef Table table
    cdef list names           # slot names as str
    cdef list typecodes
    cdef public bint has_prog


cdef class Scanner:
    cdef public object resolve
    cdef public object on_other
    cdef public bint strict
    cdef public bint keep_payloads       # batches carry each row's payload text

    cdef public Py_ssize_t lineno        # number of the next line (1-based)
    cdef public int64_t seq

    cdef public list problems            # (lineno, message)
    cdef public object first             # header dict of the first event line
    cdef ByteMap names
    cdef list events
    cdef list batch_events
    cdef public Py_ssize_t batch_rows
    cdef StrCache comms
    cdef StrCache flagstrs
    cdef StrCache strs
    cdef int64_t ival[MAXSLOTS]
    cdef list svals
    cdef uint64_t present
    cdef char last_name[64]              # the last event name looked up, and its Event
    cdef Py_ssize_t last_namelen
    cdef Event last_event

    cdef Event _event(self, const char* name, Py_ssize_t n)
    cdef inline void _put(self, int slot, uint64_t v)
    cdef int _token_op(self, Program P, const Op* op, const char* s, Py_ssize_t a, Py_ssize_t b) except -1
    cdef int _match(self, Program P, const char* s, Py_ssize_t pos, Py_ssize_t end) except -1
    cdef dict _fields(self, Program P)
