# cython: language_level=3
"""A test cache with a shrinker written in Cython, registered in the machine's kernel's terms:
a struct shrinker the plugin owns and register_shrinker (v5.14), or shrinker_alloc +
shrinker_register + shrinker_free (v6.18).  Its objects are a count; scan_objects frees them."""
from libc.string cimport memset
from memsim.shrinker cimport (ShrinkerList, shrinker, shrink_control, SHRINK_EMPTY,
                              SHRINKER_NUMA_AWARE, DEFAULT_SEEKS)


cdef unsigned long count_objects(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd:
    cdef Cache c = <Cache>s.private_data
    c.counts += 1
    return c.objects if c.objects else SHRINK_EMPTY


cdef unsigned long scan_objects(shrinker* s, shrink_control* sc) except? 0xfffffffffffffffd:
    cdef Cache c = <Cache>s.private_data
    cdef unsigned long n = sc.nr_to_scan if sc.nr_to_scan < c.objects else c.objects
    c.objects -= n
    c.scans += 1
    return n


cdef class Cache:
    cdef public unsigned long objects
    cdef public unsigned long counts
    cdef public unsigned long scans
    cdef shrinker own                   # v5.14: the plugin's own struct
    cdef shrinker* allocated            # v6.18: shrinker_alloc()'s
    cdef ShrinkerList sl

    def __init__(self, ShrinkerList sl, unsigned long objects):
        cdef shrinker* s
        self.sl = sl
        self.objects = objects
        if sl.api == "register_shrinker":
            memset(&self.own, 0, sizeof(shrinker))
            s = &self.own
            s.seeks = DEFAULT_SEEKS
        else:
            s = self.allocated = sl.shrinker_alloc(0, "shrinkcache")
        s.count_objects = count_objects
        s.scan_objects = scan_objects
        s.private_data = <void*>self
        if sl.api == "register_shrinker":
            sl.register_shrinker(s, "super_cache_scan")
        else:
            sl.shrinker_register(s, "super_cache_scan")

    def close(self):
        if self.sl.api == "register_shrinker":
            self.sl.unregister_shrinker(&self.own)
        elif self.allocated != NULL:
            self.sl.shrinker_free(self.allocated)
            self.allocated = NULL

    def wrong_api(self):
        """Call the other kernel's registration (it raises)."""
        cdef shrinker* s
        if self.sl.api == "register_shrinker":
            s = self.sl.shrinker_alloc(0, "wrong")
        else:
            self.sl.register_shrinker(&self.own)
