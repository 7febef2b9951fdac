# cython: language_level=3
from libc.stdint cimport uint64_t, uint32_t
cdef uint64_t siphash_1u64(uint64_t first, uint64_t k0, uint64_t k1) noexcept nogil
cdef uint32_t ptr_to_hashval(uint64_t ptr, uint64_t k0, uint64_t k1) noexcept nogil
