# cython: language_level=3
"""Swap space for the memcg tests: fills ``swap_ops.swap_out`` (every add_to_swap fails with
-ENOMEM) and, optionally, ``swap_ops.nr_swap_pages`` (get_nr_swap_pages(): a fixed count), so
mem_cgroup_get_nr_swap_pages() has a swap device to look at."""
from libc.stdint cimport int64_t, uint64_t
from memsim._types cimport pfn_t
from memsim.mm cimport MmCore

cdef int64_t _free = 0


cdef int _swap_out(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000:
    return -12


cdef int64_t _nr_swap_pages(void* ctx) noexcept:
    return _free


def install(MmCore core, free=None):
    """Fill ``core``'s swap_out, and nr_swap_pages with ``free`` slots (None: leave it NULL)."""
    global _free
    core.swap.swap_out = _swap_out
    if free is None:
        core.swap.nr_swap_pages = NULL
    else:
        _free = free
        core.swap.nr_swap_pages = _nr_swap_pages


def remove(MmCore core):
    core.swap.swap_out = NULL
    core.swap.nr_swap_pages = NULL
