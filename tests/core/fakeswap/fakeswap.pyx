# cython: language_level=3
"""A swap device with no room, for reclaim-policy tests: fills ``swap_ops.swap_out`` so that
anon pages count as reclaimable (get_scan_count's can_reclaim_anon_pages), and answers every
add_to_swap with -ENOMEM (shrink_page_list then keeps the page)."""
from libc.stdint cimport uint64_t
from memsim._types cimport pfn_t
from memsim.mm cimport MmCore

cdef int _swap_out(void* ctx, pfn_t pfn, uint64_t* entry) except? -1000000:
    return -12


def install(MmCore core):
    """Fill ``core``'s swap_ops.swap_out."""
    core.swap.swap_out = _swap_out


def remove(MmCore core):
    core.swap.swap_out = NULL
