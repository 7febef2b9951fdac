# cython: language_level=3
"""Shrinkers (include/linux/shrinker.h, mm/shrinker.c of v6.18, mm/vmscan.c of v5.14): the
caches outside the LRU lists that reclaim and drop_caches ask to free objects.

A plugin written in Cython fills a ``struct shrinker`` with its count_objects / scan_objects
functions and registers it on the machine's :class:`ShrinkerList` (``machine.shrinkers``), in
the terms of the machine's kernel profile: ``register_shrinker`` / ``unregister_shrinker`` on
v5.14 (the plugin owns the struct), ``shrinker_alloc`` / ``shrinker_register`` /
``shrinker_free`` on v6.18 (the list allocates it and frees it).  A plugin written in Python
uses :class:`Shrinker` (its count and scan are called once per batch, not per object).
"""
from libc.stdint cimport uint64_t, int64_t
from memsim._types cimport gfp_t
from memsim.physmem cimport PhysMem

cdef enum:
    SHRINK_BATCH = 128                  # mm/shrinker.c (v5.14: mm/vmscan.c)
    DEFAULT_SEEKS = 2                   # include/linux/shrinker.h
    SHRINKER_NAME_LEN = 48
    # shrinker->flags (v6.18 values: BIT(0)..BIT(4); v5.14 had no ALLOCATED bit and the others
    # one lower, which nothing outside this module can see)
    SHRINKER_REGISTERED = 1 << 0
    SHRINKER_ALLOCATED = 1 << 1
    SHRINKER_NUMA_AWARE = 1 << 2
    SHRINKER_MEMCG_AWARE = 1 << 3
    SHRINKER_NONSLAB = 1 << 4
    SHRINKER_PYOWNED = 1 << 30          # memsim's: the struct belongs to a Python Shrinker

# What count_objects / scan_objects may return besides a number (include/linux/shrinker.h)
cdef extern from *:
    """
    #define MEMSIM_SHRINK_STOP (~0UL)
    #define MEMSIM_SHRINK_EMPTY (~0UL - 1)
    #define MEMSIM_SHRINK_FAILED (~0UL - 2)
    """
    unsigned long SHRINK_STOP "MEMSIM_SHRINK_STOP"      # scan_objects cannot make progress
    unsigned long SHRINK_EMPTY "MEMSIM_SHRINK_EMPTY"    # count_objects: the cache is empty
    unsigned long SHRINK_FAILED "MEMSIM_SHRINK_FAILED"  # memsim's exception value (an error raised)

# struct shrink_control
cdef struct shrink_control:
    gfp_t gfp_mask
    int nid                             # the node being shrunk
    unsigned long nr_to_scan            # how many objects scan_objects should look at
    unsigned long nr_scanned            # how many it did (it may lower or raise it)
    void* memcg                         # the mem_cgroup being shrunk; NULL: global (root)

cdef struct shrinker

ctypedef unsigned long (*count_objects_fn)(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd
ctypedef unsigned long (*scan_objects_fn)(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd

# struct shrinker (the fields memsim uses; plugins fill count_objects, scan_objects, seeks,
# batch, flags and private_data, the rest is the list's)
cdef struct shrinker:
    count_objects_fn count_objects
    scan_objects_fn scan_objects
    long batch                          # objects per scan_objects call; 0: SHRINK_BATCH
    int seeks                           # cost to recreate an object (DEFAULT_SEEKS); 0: trim hard
    unsigned int flags                  # SHRINKER_*
    void* private_data
    # set at registration
    int id                              # registration order (the shrinker_idr id of 6.18)
    long* nr_deferred                   # scan work left over, per node (or one: not NUMA aware)
    char name[SHRINKER_NAME_LEN]        # v6.18's shrinker->name (CONFIG_SHRINKER_DEBUG)
    uint64_t addr                       # its kernel address: mm_shrink_slab_*'s shr=%p
    uint64_t scan_addr                  # address of scan_objects: mm_shrink_slab_*'s %pS
    shrinker* next                      # shrinker_list, in registration order
    shrinker* prev

cdef class ShrinkerList:
    cdef PhysMem pm
    cdef readonly int nr_nodes
    cdef readonly str api               # "register_shrinker" (v5.14) or "shrinker_alloc" (v6.18)
    cdef shrinker* head
    cdef shrinker* tail
    cdef int next_id
    cdef dict owners                    # id -> the Python object that keeps a shrinker alive
    cdef object symbol_of               # name -> text address (kallsyms), for %pS
    cdef int busy                       # shrink_slab is running (it holds shrinker_rwsem)
    cdef int check_idle(self, str fn) except -1
    cdef int check_api(self, str fn) except -1
    cdef int _link(self, shrinker* s, str scan_symbol) except -1
    cdef int _unlink(self, shrinker* s) except -1
    cdef int register_shrinker(self, shrinker* s, str scan_symbol=*) except -1
    cdef int unregister_shrinker(self, shrinker* s) except -1
    cdef shrinker* shrinker_alloc(self, unsigned int flags, str name) except NULL
    cdef int shrinker_register(self, shrinker* s, str scan_symbol=*) except -1
    cdef int shrinker_free(self, shrinker* s) except -1
    cdef unsigned long do_shrink_slab(self, shrink_control* sc, shrinker* s, int priority) except? 0xfffffffffffffffd
    cdef unsigned long shrink_slab(self, gfp_t gfp, int nid, void* memcg, int priority) except? 0xfffffffffffffffd

cdef class ShrinkControl:
    cdef shrink_control* sc             # valid during one count/scan call only

cdef class Shrinker:
    cdef shrinker* s
    cdef readonly object count_objects
    cdef readonly object scan_objects
    cdef readonly str name
    cdef readonly str scan_symbol
    cdef void* owner_ptr                # the ShrinkerList it is registered on (borrowed: the
                                        # list holds the Shrinker, and clears this when it goes)
