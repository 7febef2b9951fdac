# cython: language_level=3
"""NUMA memory policy decisions of mm/mempolicy.c (v5.14), inline for the allocation paths.

The policy itself (``struct mempolicy``) is declared in memsim/_types.pxd; a task's policy hangs
off its TaskStruct (set_mempolicy), a VMA's off its VmArea (mbind).  A NULL policy is the default:
allocate on the node of the current CPU, fall back along the zonelist.
"""
from libc.stdint cimport uint64_t
from memsim._types cimport (mempolicy, node_isset, NODEMASK_WORDS, MPOL_PREFERRED, MPOL_BIND,
                            MPOL_INTERLEAVE, MPOL_PREFERRED_MANY)

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil
    int __builtin_popcountll(unsigned long long) nogil


cdef inline int first_node(const mempolicy* pol) noexcept nogil:
    """first_node(pol->nodes); -1 when the mask is empty."""
    cdef int w
    cdef uint64_t x
    for w in range(NODEMASK_WORDS):
        x = pol.nodes[w]
        if x:
            return w * 64 + <int>__builtin_ctzll(x)
    return -1


cdef inline int next_node_in(int prev, const mempolicy* pol) noexcept nogil:
    """next_node_in(): the next node of the mask after ``prev``, wrapping around."""
    cdef int n
    for n in range(prev + 1, NODEMASK_WORDS * 64):
        if node_isset(pol, n):
            return n
    return first_node(pol)


cdef inline int nodes_weight(const mempolicy* pol) noexcept nogil:
    cdef int w, c = 0
    for w in range(NODEMASK_WORDS):
        c += __builtin_popcountll(pol.nodes[w])
    return c


cdef inline int policy_node(const mempolicy* pol, int nd) noexcept nogil:
    """policy_node(): the preferred node of MPOL_PREFERRED, else the local node ``nd``
    (MPOL_PREFERRED_MANY starts from the local node, trying its nodes first: see
    alloc_pages_preferred_many in physmem)."""
    if pol.mode == MPOL_PREFERRED:
        nd = first_node(pol)
    return nd


cdef inline const uint64_t* policy_nodemask(const mempolicy* pol) noexcept nogil:
    """policy_nodemask(): MPOL_BIND restricts the zonelist to its nodes."""
    if pol.mode == MPOL_BIND:
        return pol.nodes
    return NULL


cdef inline int interleave_nodes(mempolicy* pol, int local) noexcept nogil:
    """interleave_nodes(): the task's next interleave node (current->il_prev advances)."""
    cdef int nxt = next_node_in(pol.il_prev, pol)
    if nxt < 0:
        return local
    pol.il_prev = nxt
    return nxt


cdef inline int offset_il_node(const mempolicy* pol, uint64_t n, int local) noexcept nogil:
    """offset_il_node(): the (n mod weight)-th node of the mask."""
    cdef int nnodes = nodes_weight(pol)
    cdef int nid, i, target
    if nnodes == 0:
        return local
    target = <int>(<unsigned int>n % <unsigned int>nnodes)
    nid = first_node(pol)
    for i in range(target):
        nid = next_node_in(nid, pol)
    return nid

