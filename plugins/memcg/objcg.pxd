# cython: language_level=3
# Kernel memory charged to memory cgroups (mm/memcontrol.c, CONFIG_MEMCG_KMEM): obj_cgroups,
# kmem pages, slab objects with their per-slab-page objcg vectors, and the per-CPU object stock.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.plugins.memcg.memcontrol cimport MemCgroup, MemcgHost

# struct obj_stock (v5.14's task_obj; one per CPU): an obj_cgroup's pre-charged bytes and its
# slab statistics not yet pushed to the memcg
cdef struct obj_stock:
    int cached                          # cached_objcg: an ObjCgroup id, 0 for none
    uint32_t nr_bytes
    int cached_pgdat                    # the node of the cached statistics, -1 for none
    int64_t nr_slab_reclaimable_b
    int64_t nr_slab_unreclaimable_b


cdef class ObjCgroup:
    """struct obj_cgroup."""
    cdef readonly int id                # what a kmem page's memcg_data and the vectors store
    cdef readonly MemCgroup memcg       # the memcg that owns it now (an ancestor once reparented)
    cdef readonly int origin            # the id of the memcg it was made for
    cdef readonly int64_t refcnt        # the percpu_ref: 1 (the memcg's) until killed, plus one per
                                        # charged slab object, kmem page and object stock
    cdef readonly int64_t nr_charged_bytes      # sub-page leftovers flushed from object stocks
    cdef readonly bint killed           # percpu_ref_kill() at the memcg's offline
    cdef readonly bint released         # obj_cgroup_release() ran


cdef class ObjcgHost:
    """The kmem side of a machine's memory controller."""
    cdef MemcgHost h
    cdef PhysMem pm
    cdef object slab                    # memsim.slab.SlabAllocator
    cdef int* cpu
    cdef void** by_id                   # ObjCgroup by id (borrowed: ``objcgs`` holds them)
    cdef int id_cap
    cdef readonly dict objcgs           # id -> ObjCgroup, every obj_cgroup not yet released
    cdef obj_stock* stock               # one per CPU
    cdef readonly bint via_objcg        # objcg-kmem on: kmem pages charged through obj_cgroups
    cdef readonly bint v6               # the v6.x code: slab objects charged after they are taken,
                                        # the memcg's orig_objcg and each task's current->objcg
                                        # references, object stock drains straight to the counters,
                                        # nothing refilled into the root's stock
    cdef dict orig                      # memcg id -> its ObjCgroup (memcg->orig_objcg, v6.x)
    cdef dict task_objcg                # pid -> (ObjCgroup, MemCgroup): current->objcg (v6.x)
    cdef gfp_t alloc_gfp                # the slab allocation in flight's gfp (pre -> post hook)
    cdef readonly bint account_kmem_stat        # v6.18 memcg_account_kmem(): MEMCG_KMEM
    cdef readonly bint v1_kmem_try      # v5.14 v1: the kmem counter is try-charged (else forced)
    cdef int memcg_kmem_item            # MEMCG_KMEM's state index
    cdef readonly dict active_memcg     # pid -> MemCgroup: set_active_memcg()
    cdef readonly list warnings         # the kernel's one-time warnings (obj_cgroup_release)
    cdef readonly uint64_t nr_vectors   # objcg vectors allocated and not yet freed

    cdef ObjCgroup objcg_of(self, int id)
    cdef MemCgroup current_kmem_memcg(self)
    cdef ObjCgroup get_obj_cgroup_from_current(self)
    cdef ObjCgroup objcg_walk(self, MemCgroup memcg)
    cdef int memcg_kmem_charge(self, MemCgroup memcg, gfp_t gfp, int64_t nr) except -2
    cdef void memcg_kmem_uncharge(self, MemCgroup memcg, int64_t nr, int cpu) noexcept
    cdef void obj_cgroup_put(self, ObjCgroup objcg, int64_t n, int cpu) noexcept
    cdef int obj_cgroup_charge_pages(self, ObjCgroup objcg, gfp_t gfp, int64_t nr) except -2
    cdef void obj_cgroup_uncharge_pages(self, ObjCgroup objcg, int64_t nr, int cpu) noexcept
    cdef void account_kmem(self, MemCgroup memcg, int64_t nr) noexcept
    cdef bint consume_obj_stock(self, ObjCgroup objcg, uint32_t nr_bytes) noexcept
    cdef void drain_obj_stock(self, int cpu) noexcept
    cdef void refill_obj_stock(self, ObjCgroup objcg, uint32_t nr_bytes, bint allow_uncharge) noexcept
    cdef void cache_objcg(self, obj_stock* st, ObjCgroup objcg, int cpu) noexcept
    cdef int obj_cgroup_charge(self, ObjCgroup objcg, gfp_t gfp, uint64_t size) except -2
    cdef void mod_objcg_state(self, ObjCgroup objcg, int nid, int idx, int64_t nr) noexcept
    cdef void flush_stock_stats(self, obj_stock* st, ObjCgroup objcg) noexcept
    cdef void mod_objcg_mlstate(self, ObjCgroup objcg, int idx, int64_t nr) noexcept
    cdef int32_t* page_objcgs(self, pfn_t head) noexcept
