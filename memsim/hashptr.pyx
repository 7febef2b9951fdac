# cython: language_level=3, cdivision=True
"""Pointer hashing for ``%p`` and ``mm_id`` (lib/vsprintf.c ptr_to_hashval, lib/siphash.c).

The kernel hashes a pointer with SipHash-2-4 of the 64-bit value under a boot-random key and keeps
the low 32 bits.  memsim derives the key from the run seed, so a run is reproducible, and uses the
same function for ``%p`` text and for kmem:rss_stat's ``mm_id`` (tracepoints.md 3.2).
"""
from libc.stdint cimport uint64_t, uint32_t

VMEMMAP_BASE = 0xffffea0000000000       # x86-64 vmemmap_base without KASLR
PAGE_OFFSET_BASE = 0xffff888000000000   # x86-64 direct map base without KASLR
SIZEOF_STRUCT_PAGE = 64


cdef inline uint64_t rotl(uint64_t x, int b) noexcept nogil:
    return (x << b) | (x >> (64 - b))


cdef uint64_t siphash_1u64(uint64_t first, uint64_t k0, uint64_t k1) noexcept nogil:
    """siphash_1u64(first, key): SipHash-2-4 of one little-endian u64 (lib/siphash.c)."""
    cdef uint64_t v0 = 0x736f6d6570736575ULL ^ k0
    cdef uint64_t v1 = 0x646f72616e646f6dULL ^ k1
    cdef uint64_t v2 = 0x6c7967656e657261ULL ^ k0
    cdef uint64_t v3 = 0x7465646279746573ULL ^ k1
    cdef uint64_t b = (<uint64_t>8) << 56
    cdef uint64_t m
    cdef int i, r
    for i in range(2):
        m = first if i == 0 else b
        v3 ^= m
        for r in range(2):
            v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
            v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
            v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        v0 ^= m
    v2 ^= 0xff
    for r in range(4):
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    return (v0 ^ v1) ^ (v2 ^ v3)


cdef uint32_t ptr_to_hashval(uint64_t ptr, uint64_t k0, uint64_t k1) noexcept nogil:
    """__ptr_to_hashval on 64-bit: siphash of the pointer, low 32 bits kept."""
    return <uint32_t>(siphash_1u64(ptr, k0, k1) & 0xffffffffULL)


def hash_pointer(uint64_t ptr, uint64_t k0, uint64_t k1):
    """Python entry: the 32-bit hash ``%p`` prints (as "00000000%08x") for ``ptr``."""
    return ptr_to_hashval(ptr, k0, k1)


def siphash(uint64_t first, uint64_t k0, uint64_t k1):
    return siphash_1u64(first, k0, k1)


def key_from_seed(seed):
    """The (k0, k1) ptr_key of an emulated boot with this seed (deterministic)."""
    import hashlib
    d = hashlib.sha256(b"memsim-ptr-key:%d" % int(seed)).digest()
    return int.from_bytes(d[:8], "little"), int.from_bytes(d[8:16], "little")
