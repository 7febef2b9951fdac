# cython: language_level=3
# Reclaim from memory cgroups (mm/memcontrol.c's lruvec and protection parts, as mm/vmscan.c
# calls them): each memcg's lruvecs, mem_cgroup_iter, memory.min / memory.low's effective
# protection, and try_to_free_mem_cgroup_pages behind MemcgHost.reclaim.
from libc.stdint cimport int64_t, uint64_t
from memsim.physmem cimport PhysMem, lruvec
from memsim.vmscan cimport Vmscan
from memsim.plugins.memcg.memcontrol cimport MemcgHost, MemCgroup


cdef class MemcgReclaim:
    cdef PhysMem pm
    cdef readonly Vmscan vmscan
    cdef readonly MemcgHost host
    cdef int nr_nodes
    cdef int root_id                    # mem_cgroup_id(root_mem_cgroup): its lruvecs are the nodes'
    cdef int cap                        # ids the arrays below have room for
    cdef lruvec** lruvecs               # by memcg id: its nr_nodes lruvecs (NULL: no memcg)
    cdef int* parent                    # by id: the parent's id (0: none)
    cdef int* first_child               # by id: the css children, oldest first (the sibling list)
    cdef int* last_child
    cdef int* next_sibling
    cdef uint64_t* emin                 # by id: page_counter.emin / elow of ``memory``
    cdef uint64_t* elow
    cdef public bint recursive_prot     # cgroup2 memory_recursiveprot (effective_protection)
    cdef public bint unprotected_target # v6.3+ mem_cgroup_unprotected(): the target is never protected
    cdef _grow(self, int need)
    cdef MemCgroup memcg(self, int id)
    cdef int iter_next(self, int root, int prev) noexcept
    cdef uint64_t children_usage(self, int id, bint low) noexcept
    cdef void calculate_protection(self, int root, int id) noexcept
    cdef int64_t mem_cgroup_get_nr_swap_pages(self, int id) noexcept


# mem_cgroup_get_nr_swap_pages() in the form of a memcg_reclaim_ops slot (``ctx`` the
# MemcgReclaim, ``memcg`` an id, 0 the root), for the core's can_reclaim_anon_pages(memcg)
cdef int64_t get_nr_swap_pages_op(void* ctx, int memcg) noexcept
