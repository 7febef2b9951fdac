"""What the SLUB allocator's boot caches look like under each kernel profile.

The struct sizes behind ``mm_struct``, ``vm_area_struct``, ``anon_vma``... and the rules that turn
an object size into a slab geometry (``calculate_order``, ``s->allocflags``) changed between v5.14
and v6.18.  :class:`memsim.slab.SlabAllocator` takes one :class:`SlabLayout` (the v5.14 one by
default); :class:`memsim.machine.Machine` passes ``SLAB_LAYOUT[machine.profile]``.

A layout is data: the boot caches with their object size, alignment, flags and constructor, in the
order the kernel creates them (``/proc/slabinfo`` lists the newest first), the order in which the
kmalloc caches are created, and three switches for the v6.x rules.  The stride, objects per slab
and pages per slab then follow from ``calculate_sizes()`` as in the kernel, for the machine's CPU
count (``slub_min_objects`` = 4 * (fls(nr_cpus) + 1)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from memsim.profiles import ProfileTable

__all__ = ["BootCache", "SlabLayout", "SLAB_LAYOUT", "V514", "V618"]

# slab_flags_t bits (include/linux/slab.h), the values memsim.slab uses
SLAB_HWCACHE_ALIGN = 0x00002000
SLAB_RECLAIM_ACCOUNT = 0x00020000
SLAB_PANIC = 0x00040000
SLAB_TYPESAFE_BY_RCU = 0x00080000
SLAB_MEM_SPREAD = 0x00100000
SLAB_ACCOUNT = 0x04000000

# enum kmalloc_cache_type of memsim.slab (its index into KMALLOC_TYPE_PREFIX)
KMALLOC_NORMAL, KMALLOC_CGROUP, KMALLOC_RECLAIM, KMALLOC_DMA = 0, 1, 2, 3


@dataclass(frozen=True)
class BootCache:
    """One ``kmem_cache_create()`` of the boot code.

    ``object_size`` is ``s->object_size`` (the kmem_cache_alloc tracepoint's bytes_req);
    ``freeptr_in_object``: a SLAB_TYPESAFE_BY_RCU cache whose struct holds its own free pointer
    (``kmem_cache_args.use_freeptr_offset``, v6.13+), so the stride does not grow by a word;
    ``embeds_mapping``: the object embeds a struct address_space (grows by 8 bytes with the
    ``nrexceptional`` boot option).
    """

    name: str
    object_size: int
    align: int
    flags: int
    ctor: bool = False
    embeds_mapping: bool = False
    freeptr_in_object: bool = False
    where: str = ""


@dataclass(frozen=True)
class SlabLayout:
    """The boot caches and geometry rules of one kernel.

    ``calc_order_v68``: ``calculate_order()`` as rewritten in v6.8 ("mm/slub: attempt to find
    layouts up to 1/2 waste in calculate_order()"): the lowest order that holds min_objects, then
    the first order up to slub_max_order with at most 1/16, 1/8, 1/4, 1/2 of it wasted; before,
    min_objects itself was lowered step by step.  ``always_comp``: ``s->allocflags`` always has
    __GFP_COMP (v6.10, "mm/slub: always use __GFP_COMP"), so order-0 slab pages are allocated
    with it too.  ``kmalloc_types``: the order ``create_kmalloc_caches()`` walks the kmalloc
    types in; ``kmalloc_odd_first``: kmalloc-96 and kmalloc-192 are created before kmalloc-8 in
    each type (v6.x), not right after kmalloc-64 and -128.
    """

    boot_caches: Tuple[BootCache, ...]
    calc_order_v68: bool = False
    always_comp: bool = False
    kmalloc_types: Tuple[int, ...] = (KMALLOC_NORMAL, KMALLOC_CGROUP, KMALLOC_RECLAIM, KMALLOC_DMA)
    kmalloc_odd_first: bool = False


# x86-64 v5.14:
#  * mm_struct: sizeof(struct mm_struct) + cpumask_size(), SLAB_HWCACHE_ALIGN: the 1088-byte
#    object of /proc/slabinfo on x86-64 5.x distribution kernels (30 per order-3 slab); the exact
#    sizeof is configuration dependent and was not re-measured here.
#  * vm_area_struct: 200 = the v5.14 field list with CONFIG_SWAP, CONFIG_NUMA, CONFIG_USERFAULTFD
#    (vm_start..vm_userfaultfd_ctx, 25 words); KMEM_CACHE(), so align = __alignof__ = 8.
#  * anon_vma: 80 = root + rw_semaphore (40 with RWSEM_SPIN_ON_OWNER) + refcount + degree +
#    parent + rb_root_cached; constructor anon_vma_ctor and TYPESAFE_BY_RCU add the free pointer
#    word: stride 88, 46 per slab.
#  * anon_vma_chain: 64 = vma + anon_vma + same_vma + rb + rb_subtree_last.
#  * dentry: sizeof(struct dentry) 192 (the 5.x x86-64 layout: d_iname of DNAME_INLINE_LEN 32),
#    KMEM_CACHE_USERCOPY(), so align = __alignof__ = 8: 21 per page; dcache_init() makes it
#    just before inode_init() makes inode_cache.
#  * inode_cache / shmem_inode_cache: sizeof(struct inode) 592 and sizeof(struct
#    shmem_inode_info) 704 after the nrexceptional removal (pagecache.md 8: strides 600/712,
#    27/23 objects per 16 KiB slab; 608/720 and 26/22 with nrexceptional back).
#  * hugetlbfs_inode_cache: struct hugetlbfs_inode_info = struct shared_policy (16) + struct inode
#    (592) + seals, 616; SLAB_ACCOUNT only, constructor init_once (init_hugetlbfs_fs()).
V514 = SlabLayout(boot_caches=(
    BootCache("anon_vma", 80, 0, SLAB_TYPESAFE_BY_RCU | SLAB_PANIC | SLAB_ACCOUNT, ctor=True,
              where="mm/rmap.c anon_vma_init"),
    BootCache("anon_vma_chain", 64, 8, SLAB_PANIC | SLAB_ACCOUNT,
              where="mm/rmap.c anon_vma_init (KMEM_CACHE)"),
    BootCache("mm_struct", 1088, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
              where="kernel/fork.c proc_caches_init"),
    BootCache("vm_area_struct", 200, 8, SLAB_PANIC | SLAB_ACCOUNT,
              where="kernel/fork.c proc_caches_init (KMEM_CACHE)"),
    BootCache("dentry", 192, 8, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD | SLAB_ACCOUNT,
              where="fs/dcache.c dcache_init (KMEM_CACHE_USERCOPY)"),
    BootCache("inode_cache", 592, 0, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD | SLAB_ACCOUNT,
              ctor=True, embeds_mapping=True, where="fs/inode.c inode_init"),
    BootCache("shmem_inode_cache", 704, 0, SLAB_PANIC | SLAB_ACCOUNT, ctor=True, embeds_mapping=True,
              where="mm/shmem.c shmem_init_inodecache"),
    BootCache("hugetlbfs_inode_cache", 616, 0, SLAB_ACCOUNT, ctor=True, embeds_mapping=True,
              where="fs/hugetlbfs/inode.c init_hugetlbfs_fs"),
))

# x86-64 v6.18, measured on the live 6.18.44 VM (2 CPUs) on 2026-12-05: object_size, align, the
# flags (hwcache_align, destroy_by_rcu, reclaim_account) and ctor from /sys/kernel/slab/<cache>/
# (tests/core/data/slab-sysfs-6.18.44.txt); the strides, objects and pages per slab they give
# are the ones of its /proc/slabinfo (tests/core/data/slabinfo-geometry-6.18.44.txt, checked by
# tests/core/test_slab_layout.py):
#  * mm_struct 1568 B, HWCACHE_ALIGN: stride 1600, 20 per order-3 slab;
#  * anon_vma 96 B + the free pointer word (anon_vma_ctor, TYPESAFE_BY_RCU): stride 104, 39 per page;
#  * anon_vma_chain 64 B: 64 per page (the kernel merges other 64-byte caches into it);
#  * vm_area_struct 192 B, HWCACHE_ALIGN | TYPESAFE_BY_RCU with the free pointer inside the
#    struct (vm_freeptr, use_freeptr_offset): stride 192, 21 per page (mm/vma_init.c);
#  * dentry 192 B, align 8, no constructor: stride 192, 21 per page;
#  * inode_cache 616 B + the free pointer (init_once): stride 624, 13 per order-1 slab;
#  * shmem_inode_cache 744 B + the free pointer (shmem_init_inode): stride 752, 21 per order-2 slab;
#  * hugetlbfs_inode_cache 624 B (struct inode + seals; 6.7 dropped its shared_policy) + the free
#    pointer (init_once): stride 632, 25 per order-2 slab, SLAB_ACCOUNT only.
# Creation order as its /proc/slabinfo lists them (newest first): mm_struct, anon_vma,
# anon_vma_chain, vm_area_struct, dentry, inode_cache, shmem_inode_cache, hugetlbfs_inode_cache
# (fs_initcall: much later).  (SLAB_MEM_SPREAD is gone in
# v6.8; its bit means nothing to memsim's geometry.)
V618 = SlabLayout(
    boot_caches=(
        BootCache("mm_struct", 1568, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
                  where="kernel/fork.c mm_cache_init"),
        BootCache("anon_vma", 96, 0, SLAB_TYPESAFE_BY_RCU | SLAB_PANIC | SLAB_ACCOUNT, ctor=True,
                  where="mm/rmap.c anon_vma_init"),
        BootCache("anon_vma_chain", 64, 8, SLAB_PANIC | SLAB_ACCOUNT,
                  where="mm/rmap.c anon_vma_init (KMEM_CACHE)"),
        BootCache("vm_area_struct", 192, 0,
                  SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_TYPESAFE_BY_RCU | SLAB_ACCOUNT,
                  freeptr_in_object=True, where="mm/vma_init.c vma_state_init"),
        BootCache("dentry", 192, 8, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_ACCOUNT,
                  where="fs/dcache.c dcache_init (KMEM_CACHE_USERCOPY)"),
        BootCache("inode_cache", 616, 0, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_ACCOUNT, ctor=True,
                  embeds_mapping=True, where="fs/inode.c inode_init"),
        BootCache("shmem_inode_cache", 744, 0, SLAB_PANIC | SLAB_ACCOUNT, ctor=True,
                  embeds_mapping=True, where="mm/shmem.c shmem_init_inodecache"),
        BootCache("hugetlbfs_inode_cache", 624, 0, SLAB_ACCOUNT, ctor=True, embeds_mapping=True,
                  where="fs/hugetlbfs/inode.c init_hugetlbfs_fs"),
    ),
    calc_order_v68=True,
    always_comp=True,
    # enum kmalloc_cache_type of v6.18: NORMAL, RECLAIM, DMA, CGROUP (its /proc/slabinfo lists
    # kmalloc-cg-* first, then dma-kmalloc-*, kmalloc-rcl-*, kmalloc-*)
    kmalloc_types=(KMALLOC_NORMAL, KMALLOC_RECLAIM, KMALLOC_DMA, KMALLOC_CGROUP),
    kmalloc_odd_first=True,
)

#: The slab layout of each kernel profile.
SLAB_LAYOUT: ProfileTable[SlabLayout] = ProfileTable("slab layout", {"v5.14": V514, "v6.18": V618})
