# cython: language_level=3
"""Physical memory: nodes, zones, the buddy allocator, per-CPU page lists, pageblocks, frames."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from memsim._types cimport pfn_t, gfp_t, MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, MAX_NR_ZONES, mempolicy, NIL32
from memsim.page cimport page
from memsim.ring cimport TraceBuffer
from memsim.task cimport Current
from memsim.vmstat cimport VmStat, vmstat_t

cdef struct free_area:
    uint32_t head[MIGRATE_TYPES]        # first pfn of each free list, NIL32 if empty
    uint64_t nr_free                    # free blocks of this order, all migratetypes

cdef struct per_cpu_pages:
    int32_t count
    int32_t high
    int32_t batch
    uint32_t head[MIGRATE_PCPTYPES]

cdef struct zone:
    int32_t nid
    int32_t idx
    pfn_t zone_start_pfn
    pfn_t zone_end_pfn                  # exclusive
    uint64_t managed_pages
    uint64_t free_pages                 # NR_FREE_PAGES (buddy only, not the pcp lists)
    uint64_t wmark[3]                   # WMARK_MIN, WMARK_LOW, WMARK_HIGH
    uint64_t used_pages                 # pages handed out by the allocator and not freed
    uint64_t deferred_units             # free max-order blocks whose struct pages are not set up
    uint64_t deferred_cursor            # next unit index to look at for a deferred block
    uint64_t lowmem_reserve[MAX_NR_ZONES]
    uint64_t nr_isolate_pageblock
    free_area area[MAX_ORDER]
    per_cpu_pages* pcp                  # one per CPU

# ----------------------------------------------------------------------------------------------
# Ops tables the allocator calls (NULL by default; a plugin fills them in at machine creation)
# ----------------------------------------------------------------------------------------------
# memcg (mm/memcontrol.c as the allocator, the fault path and swap call it).  page->memcg_data
# belongs to memcg; its low bits are the kernel's MEMCG_DATA_OBJCGS (0x1: a slab page's obj_cgroup
# vector) and MEMCG_DATA_KMEM (0x2: a kmem page charged through an obj_cgroup).
# charge: mem_cgroup_charge() of a user page (anonymous, COW copy, page cache, shmem): 0 or
#   -ENOMEM (the fault then fails with VM_FAULT_OOM).
# swapin_charge: mem_cgroup_swapin_charge_page() of a page read in from a swap slot whose
#   swap_cgroup record is ``id`` (0: none): the memcg with that ID if it is online, else the memcg
#   of ``mm`` (None: the active memcg, else current's mm's, else the root); 0 or -ENOMEM.  The
#   slot's swap charge is not touched.
# uncharge: mem_cgroup_uncharge() of a user page on its last put, before it is freed.
# kmem_charge: __memcg_kmem_charge_page() of a __GFP_ACCOUNT allocation (page tables, large
#   kmalloc, ...), called by __alloc_pages before mm_page_alloc: 0 or -ENOMEM (the pages are
#   freed again and the allocation fails).
# kmem_uncharge: __memcg_kmem_uncharge_page() in free_pages_prepare, after mm_page_free.
# mod_lruvec_page_state: the memcg part of mod_lruvec_page_state() (e.g. NR_SWAPCACHE).
ctypedef int (*memcg_charge_fn)(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp, object mm) except -1
ctypedef int (*memcg_swapin_charge_fn)(void* ctx, pfn_t pfn, object mm, gfp_t gfp, int id) except -1
# The swap side (mm/memcontrol.c's swap hooks as the swap plugin calls them).  ``id`` is the
# private memcg ID a slot's swap_cgroup record holds (mm/swap_cgroup.c lives in the swap plugin):
# each recorded slot holds one reference on that ID (mem_cgroup_id_get_many), so an offline memcg
# stays until its slots are freed.
# try_charge_swap: mem_cgroup_try_charge_swap() of page ``pfn`` given ``nr`` slots by
#   get_swap_page (``nr`` 0: no slot was found -- memory.swap.events fail on the page's memcg,
#   returns 0).  cgroup v2: the page's memcg or its closest ancestor with a live ID is charged
#   (not the root), MEMCG_SWAP += nr; returns the ID to record (> 0), or -ENOMEM (swap.max:
#   events max and fail; nothing recorded).  cgroup v1 or an uncharged page: 0 (nothing to record).
# swapout: mem_cgroup_swapout() (__remove_mapping of a swap-cache page; cgroup v1 only): the
#   page's charge moves to its slot -- memcg_data cleared, memory uncharged, memsw kept (moved
#   to the recorded memcg), MEMCG_SWAP += nr; returns the ID to record, 0 on v2 / uncharged.
# uncharge_swap: mem_cgroup_uncharge_swap() of ``nr`` slots whose record was ``id`` (the swap
#   plugin has cleared the record): v2 swap counter or v1 memsw -nr (not the root), MEMCG_SWAP
#   -nr, the ID references dropped.  ``swapin``: mem_cgroup_swapin_uncharge_swap() -- only with
#   v1 memory+swap accounting; returns 1 when it uncharged (the caller clears the record), else
#   0 and nothing changes.
# swap_full: the memcg part of mem_cgroup_swap_full() (v2): the page's memcg or a non-root
#   ancestor uses at least half its swap.high or swap.max.
ctypedef int (*memcg_try_charge_swap_fn)(void* ctx, pfn_t pfn, int nr) except -1000000
ctypedef int (*memcg_swapout_fn)(void* ctx, pfn_t pfn, int nr) except -1
ctypedef int (*memcg_uncharge_swap_fn)(void* ctx, int id, int nr, bint swapin) except -1
ctypedef int (*memcg_swap_full_fn)(void* ctx, pfn_t pfn) except -1
ctypedef int (*memcg_uncharge_fn)(void* ctx, pfn_t pfn, unsigned int order) except -1
ctypedef int (*memcg_kmem_charge_fn)(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1
ctypedef int (*memcg_mod_lruvec_fn)(void* ctx, pfn_t pfn, int idx, int64_t val) except -1
# count_event_mm: count_memcg_event_mm() of a fault (PGFAULT in handle_mm_fault, PGMAJFAULT
#   where the fault read the page in): the event counts for the memcg of the mm's owner.
ctypedef void (*memcg_count_event_fn)(void* ctx, object mm, int item, uint64_t n) noexcept
# split_page_memcg: split_page() of a non-compound block of ``order`` whose head is charged:
#   every page takes the head's memcg_data, each with a reference of its own (the objcg's for a
#   kmem page, the css's else).
ctypedef void (*memcg_split_fn)(void* ctx, pfn_t pfn, unsigned int order) noexcept

cdef struct memcg_ops:
    memcg_charge_fn charge
    memcg_swapin_charge_fn swapin_charge
    memcg_uncharge_fn uncharge
    memcg_kmem_charge_fn kmem_charge
    memcg_uncharge_fn kmem_uncharge
    memcg_mod_lruvec_fn mod_lruvec_page_state
    memcg_count_event_fn count_event_mm
    memcg_split_fn split_page_memcg
    memcg_try_charge_swap_fn try_charge_swap
    memcg_swapout_fn swapout
    memcg_uncharge_swap_fn uncharge_swap
    memcg_swap_full_fn swap_full
    void* ctx

cdef enum:
    MEMCG_DATA_OBJCGS = 0x1
    MEMCG_DATA_KMEM = 0x2

# KASAN (mm/kasan/*.c as the page and slab allocators call it).  ``s`` is the slab's KmemCache.
# Pointer-returning ops return the (possibly tagged) pointer the caller hands out.
# alloc_pages / free_pages: post_alloc_hook's kasan_alloc_pages / free_pages_prepare's poisoning.
# poison_slab: allocate_slab's kasan_poison_slab; init_slab_obj: setup_object's kasan_init_slab_obj.
# slab_alloc / kmalloc / kmalloc_large: the allocation hooks (kmalloc poisons its redzone);
#   ``ip`` is the allocation's call site (_RET_IP_), for the alloc track (kasan_set_track).
# slab_free: slab_free_hook's kasan_slab_free: 1 = an invalid or double free was reported and the
#   object is NOT freed.  kfree_large: kasan_kfree_large (v5.14 ignores its result).
# check_range: kasan_check_range() of a checked access: 0 = fine, 1 = a bad access was reported.
ctypedef int (*kasan_alloc_pages_fn)(void* ctx, pfn_t pfn, unsigned int order, gfp_t gfp) except -1
ctypedef int (*kasan_free_pages_fn)(void* ctx, pfn_t pfn, unsigned int order) except -1
ctypedef int (*kasan_poison_slab_fn)(void* ctx, object s, pfn_t pfn, unsigned int order) except -1
ctypedef uint64_t (*kasan_init_obj_fn)(void* ctx, object s, uint64_t obj) except? 0
ctypedef uint64_t (*kasan_slab_alloc_fn)(void* ctx, object s, uint64_t obj, gfp_t gfp, uint64_t ip) except? 0
ctypedef uint64_t (*kasan_kmalloc_fn)(void* ctx, object s, uint64_t obj, uint64_t size, gfp_t gfp,
                                     uint64_t ip) except? 0
ctypedef uint64_t (*kasan_kmalloc_large_fn)(void* ctx, uint64_t ptr, uint64_t size, gfp_t gfp,
                                           uint64_t ip) except? 0
ctypedef int (*kasan_slab_free_fn)(void* ctx, object s, uint64_t ptr, uint64_t ip) except -1
ctypedef int (*kasan_kfree_large_fn)(void* ctx, uint64_t ptr, uint64_t ip) except -1
ctypedef int (*kasan_check_range_fn)(void* ctx, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1

cdef struct kasan_ops:
    kasan_alloc_pages_fn alloc_pages
    kasan_free_pages_fn free_pages
    kasan_poison_slab_fn poison_slab
    kasan_init_obj_fn init_slab_obj
    kasan_slab_alloc_fn slab_alloc
    kasan_kmalloc_fn kmalloc
    kasan_kmalloc_large_fn kmalloc_large
    kasan_slab_free_fn slab_free
    kasan_kfree_large_fn kfree_large
    kasan_check_range_fn check_range
    void* ctx

# hugetlb pages as the allocator meets them (mm/hugetlb.c).
# free_huge_page: the HUGETLB_PAGE_DTOR: a PG_hugetlb compound page's last reference went.
# isolate_or_dissolve_huge_page: alloc_contig_range found the PG_hugetlb page ``head`` in its range:
#   0 = dissolved or isolated (its pages are free or will be migrated), else a negative errno.
# migrate_huge_page: one attempt of migrate_pages() (unmap_and_move_huge_page) at an in-use huge
#   page that isolate_or_dissolve_huge_page isolated: 0 = moved (the old page put back, its
#   isolation reference dropped), -EAGAIN = try again in the next pass, -ENOMEM = no target
#   (migrate_pages stops), another errno = failed this time (it stays isolated: the caller
#   may call again, then puts it back).  MmCore.migrate_huge_page_mappings does the unmap,
#   copy and remap of the core's part.
# putback_active_hugepage: a huge page still isolated when __alloc_contig_migrate_range gives up
#   (putback_movable_pages): make it Migratable again and drop the isolation reference.
ctypedef int (*free_huge_page_fn)(void* ctx, pfn_t head) except -1
ctypedef int (*isolate_or_dissolve_fn)(void* ctx, pfn_t head) except? -1000000

cdef struct hugetlb_page_ops:
    free_huge_page_fn free_huge_page
    isolate_or_dissolve_fn isolate_or_dissolve_huge_page
    isolate_or_dissolve_fn migrate_huge_page
    void* ctx
    free_huge_page_fn putback_active_hugepage

# migrate_pages() (mm/migrate.c): enum migrate_mode and enum migrate_reason values as the
# migrate:mm_migrate_pages event prints them, and the batch alloc_contig_range isolates at once.
cdef enum:
    MIGRATE_ASYNC = 0
    MIGRATE_SYNC_LIGHT = 1
    MIGRATE_SYNC = 2
    MR_COMPACTION = 0
    MR_MEMORY_FAILURE = 1
    MR_MEMORY_HOTPLUG = 2
    MR_SYSCALL = 3
    MR_MEMPOLICY_MBIND = 4
    MR_NUMA_MISPLACED = 5
    MR_CONTIG_RANGE = 6
    COMPACT_CLUSTER_MAX = 32            # SWAP_CLUSTER_MAX: pages isolated for one migrate_pages()

# __alloc_contig_migrate_range()'s state, kept across a reschedule: the scan position, the batch
# isolated so far (``lst[:n]``, ``nr`` pages) and the tries of the current batch.  A hugetlb page
# whose free is in flight makes the scan stop with -EAGAIN at that page; the caller yields
# (cond_resched) and calls again with the same state.
cdef struct contig_scan:
    pfn_t pfn
    pfn_t end
    int n
    int tries
    uint64_t nr
    bint started
    bint isolating
    pfn_t lst[COMPACT_CLUSTER_MAX + 1]

# Page migration of in-use base pages (mm/migrate.c), installed by the mm core (memsim.mm), which
# owns the reverse map: one attempt (unmap_and_move), not counted: 0 when the page was moved
# elsewhere (and freed), else a negative errno.  PhysMem.migrate_pages counts and traces.
ctypedef int (*migrate_page_fn)(void* ctx, pfn_t pfn) except? -1000000

cdef struct migrate_ops:
    migrate_page_fn migrate_page
    void* ctx
    # isolate_migratepages_block's test of an in-use base page: 1 if migrate_pages may take it
    # (an LRU page: isolate_lru_page; a page of a cache whose ->migratepage moves it: the
    # non-LRU movable page of isolate_movable_page), 0 if the scan passes it by
    migrate_page_fn isolate_page

# ----------------------------------------------------------------------------------------------
# LRU lists (mm/swap.c, include/linux/mm_inline.h, include/linux/mmzone.h)
# ----------------------------------------------------------------------------------------------
# enum lru_list: LRU_BASE + LRU_ACTIVE * active + LRU_FILE * file; LRU_UNEVICTABLE last.
cdef enum:                              # enum lru_list
    LRU_INACTIVE_ANON = 0
    LRU_ACTIVE_ANON = 1
    LRU_INACTIVE_FILE = 2
    LRU_ACTIVE_FILE = 3
    LRU_UNEVICTABLE = 4
    NR_LRU_LISTS = 5

cdef enum:
    LRU_ACTIVE = 1
    LRU_FILE = 2
    LRU_BATCH_MAX = 31                  # the largest per-CPU batch (v6.18 PAGEVEC_SIZE)

# struct lruvec: the LRU lists of one node (and, once memcg installs them, of one memcg on one
# node).  The lists are circular, linked by pfn through page.lru_next/lru_prev (NIL32 = empty);
# the head is the most recently added page, reclaim scans from the tail.  nr_pages counts each
# list (the kernel's lru_zone_size summed over zones), zone_nr_pages each list per zone
# (mem_cgroup_per_node.lru_zone_size[zid][lru], at zid * NR_LRU_LISTS + lru); nonresident_age
# is workingset's clock.  memcg_id is mem_cgroup_id(lruvec_memcg(lruvec)): 0 for the node's own
# lruvec, which is also the root memcg's.
cdef struct lruvec:
    uint32_t head[NR_LRU_LISTS]
    uint64_t nr_pages[NR_LRU_LISTS]
    uint64_t nonresident_age
    int32_t nid
    uint64_t anon_cost                  # lru_note_cost(): what reclaiming anon / file has cost,
    uint64_t file_cost                  #   decayed (get_scan_count's SCAN_FRACT weighs them)
    uint64_t refaults[2]                # snapshot_refaults(): WORKINGSET_ACTIVATE_ANON / _FILE
    int32_t memcg_id
    uint64_t zone_nr_pages[MAX_NR_ZONES * NR_LRU_LISTS]

# struct pagevec (v5.14) / struct folio_batch (v6.18): pages waiting on one CPU, each holding a
# reference, until the batch is moved onto the LRU; ``size`` is the profile's PAGEVEC_SIZE.
cdef struct lru_batch:
    int32_t nr
    uint32_t pfns[LRU_BATCH_MAX]

# struct cpu_fbatches (lru_pvecs in v5.14): the lru_add batch and the activate batch of a CPU.
cdef struct cpu_fbatches:
    lru_batch lru_add
    lru_batch lru_activate
    lru_batch mlock                     # mlock_fbatch (v6.1+): pfn | MLOCK_LRU_FOLIO / MLOCK_NEW_FOLIO

# memcg's lruvecs (mem_cgroup_page_lruvec / folio_lruvec): NULL by default, then every page is
# on its node's lruvec; memcg returns the lruvec of the page's memcg on the page's node.
# parent_lruvec: the lruvec of the parent memcg on the same node, NULL at the root (the node's
#   own lruvec); workingset_age_nonresident ages a lruvec and all its ancestors.  NULL op: none.
# mem_cgroup_lruvec: the lruvec of the memcg whose id a shadow entry stores (mem_cgroup_from_id +
#   mem_cgroup_lruvec), NULL when that memcg was deleted since the eviction (workingset_refault
#   then gives up).  NULL op: memcg is disabled, every id means the node's lruvec.
# mem_cgroup_iter: the memcg after ``prev`` (an id; 0: none yet) in the pre-order walk of
#   ``root``'s subtree (root first; 0 means the root memcg), dying memcgs included as css_tryget
#   takes them; 0 at the end.  With it, reclaim and --check visit every memcg's lruvec (the
#   root's is the node's own).  NULL op: there is only the node's lruvec.
ctypedef lruvec* (*folio_lruvec_fn)(void* ctx, pfn_t pfn) noexcept
ctypedef lruvec* (*parent_lruvec_fn)(void* ctx, lruvec* lv) noexcept
ctypedef lruvec* (*mem_cgroup_lruvec_fn)(void* ctx, int memcgid, int nid) noexcept
ctypedef int (*mem_cgroup_iter_fn)(void* ctx, int root, int prev) noexcept

cdef struct lruvec_ops:
    folio_lruvec_fn folio_lruvec
    parent_lruvec_fn parent_lruvec
    mem_cgroup_lruvec_fn mem_cgroup_lruvec
    mem_cgroup_iter_fn mem_cgroup_iter
    void* ctx

# Page reclaim (mm/vmscan.c), installed by memsim.vmscan.Vmscan: the allocator's slow path calls
# try_to_free_pages(gfp, order, nid) (direct reclaim of the zonelist starting at node nid) and
# gets the number of pages reclaimed.  NULL: no reclaim, an allocation failing at the min
# watermark fails.
# wakeup_kswapd: wakeup_kswapd() of the node of zone ``zid`` on ``nid`` (wake_all_kswapds calls
#   it once per node of the zonelist, with that node's highest eligible zone).
# zone_reclaimable_pages: zone_reclaimable_pages() of zone ``zone_idx`` (nid * MAX_NR_ZONES + zid):
#   its file LRU pages, and its anon ones when anon can be reclaimed (swap_ops.swap_out).
ctypedef uint64_t (*try_to_free_pages_fn)(void* ctx, gfp_t gfp, unsigned int order, int nid) except? 0xffffffffffffffff
ctypedef int (*wakeup_kswapd_fn)(void* ctx, int nid, int zid, gfp_t gfp, unsigned int order,
                                 int highest_zoneidx) except -1
ctypedef uint64_t (*zone_reclaimable_pages_fn)(void* ctx, int zone_idx) noexcept

cdef struct reclaim_ops:
    try_to_free_pages_fn try_to_free_pages
    wakeup_kswapd_fn wakeup_kswapd
    zone_reclaimable_pages_fn zone_reclaimable_pages
    void* ctx

# The OOM killer (mm/oom_kill.c) as the allocator's slow path calls it; the core installs it
# (PhysMem.set_oom_killer: memsim.oom.OomKiller, whose policy is Python: it runs once per OOM,
# never per page).  NULL: an allocation that fails both watermark passes fails.
# out_of_memory: out_of_memory() for a failed allocation of ``order`` with ``gfp`` on ``nid``
#   (``nodemask``: the policy's nodes, a bit per node; 0 = no nodemask):
#   1 = progress (a victim was killed and its memory reaped, or current is a victim already and
#   may use the reserves), 0 = none; raises memsim.errors.OutOfMemoryPanic when no task can be
#   killed (the kernel panics: "System is deadlocked on memory").
ctypedef int (*out_of_memory_fn)(void* ctx, gfp_t gfp, unsigned int order, int nid,
                                 uint64_t nodemask) except -1

cdef struct oom_ops:
    out_of_memory_fn out_of_memory
    void* ctx

cdef class PhysMem:
    cdef page* mem_map
    cdef readonly pfn_t max_pfn
    cdef readonly int nr_nodes
    cdef readonly int ncpus
    cdef zone* zones                    # nr_nodes * MAX_NR_ZONES
    cdef uint8_t* pageblock_mt          # one migratetype per 2 MiB pageblock
    cdef uint8_t* unit_ready            # per max-order unit: struct pages set up (deferred init)
    cdef pfn_t* node_start
    cdef pfn_t* node_end
    cdef int32_t* cpu_node
    cdef uint64_t* node_alloc_pages     # pages allocated per node (statistics)
    cdef uint64_t* node_free_pages_cnt  # pages freed per node
    cdef readonly TraceBuffer tb
    cdef readonly Current cur
    cdef dict content                   # pfn -> bytearray(4096): written page contents
    cdef uint64_t* stamps               # pfn -> a page's stamp (writer, generation); NULL: none yet
    cdef memcg_ops memcg
    cdef kasan_ops kasan
    cdef hugetlb_page_ops hugetlb
    cdef migrate_ops migrate
    cdef oom_ops oom
    cdef object oom_killer              # what oom.ctx points at (kept alive here)
    cdef public uint64_t watermark_scale_factor   # vm.watermark_scale_factor (default 10)
    cdef public bint free_gigantic_as_folio      # v6.11+: a gigantic folio frees as one block
    cdef public bint contig_skip_hugetlb    # v6.4+: pfn_range_valid_contig refuses PageHuge ranges
    cdef public bint contig_replace_free_hugetlb    # v6.14+: replace_free_hugepage_folios after migration
    cdef public bint migrate_stats_in_pages # migrate_pages counts a hugetlb page as its nr of pages (v6.18; v5.14: 1)
    cdef public bint pcp_enabled
    cdef uint64_t _min_free_kbytes
    cdef uint64_t list_changes          # free-list and per-CPU list operations so far (--check)
    cdef uint64_t list_changes_checked  # ... at the last check that walked the lists
    cdef readonly VmStat vmstat         # the zone, node and event counters (memsim.vmstat)
    cdef vmstat_t* vs                   # &vmstat.vs, for the cdef inline helpers of vmstat.pxd
    cdef lruvec* lruvecs                # one per node (pgdat->__lruvec)
    cdef cpu_fbatches* fbatches         # one per CPU
    cdef lruvec_ops lru_ops
    cdef reclaim_ops reclaim
    cdef bint in_reclaim                # PF_MEMALLOC of the task in direct reclaim: no recursion
    cdef public int lru_batch_size      # PAGEVEC_SIZE: 15 (v5.14), 31 (v6.18)
    cdef public bint mlock_fbatch_enabled   # v6.1+ mm/mlock.c: mlock_fbatch and folio->mlock_count
    cdef public bint trace_context      # records carry their context (TraceBuffer.ctx_preempt): v6.18
    cdef public bint folios_put_refs_enabled    # v6.9+: release_pages is folios_put_refs: folio batches of 31,
                                        # freed by free_unref_folios in batch order (before: reversed)
    cdef uint32_t* mlock_count          # folio->mlock_count per pfn (v6.18; see mlock_folio)
    cdef uint64_t lru_changes           # LRU list operations so far (--check)
    cdef uint64_t lru_changes_checked   # ... at the last check that walked the lists

    cdef inline page* pfn_to_page(self, pfn_t pfn) noexcept nogil:
        return &self.mem_map[pfn]
    cdef pfn_t alloc_pages(self, gfp_t gfp, unsigned int order, int nid) except? 0xfffffffffffffffe
    cdef pfn_t alloc_pages_nodemask(self, gfp_t gfp, unsigned int order, int nid, const uint64_t* nodemask) except? 0xfffffffffffffffe
    cdef pfn_t alloc_pages_direct_reclaim(self, gfp_t gfp, unsigned int order, int nid, const uint64_t* nodemask) except? 0xfffffffffffffffe
    cdef pfn_t alloc_pages_preferred_many(self, gfp_t gfp, unsigned int order, int nid,
                                          const mempolicy* pol) except? 0xfffffffffffffffe
    cdef pfn_t alloc_page_interleave(self, gfp_t gfp, unsigned int order, int nid) except? 0xfffffffffffffffe
    cdef int put_page(self, pfn_t pfn) except -1
    cdef int free_compound(self, pfn_t head) except -1
    cdef int mem_cgroup_uncharge(self, pfn_t pfn) except -1
    cdef int split_large_buddy(self, zone* z, pfn_t pfn, unsigned int order) except -1
    cdef int kasan_check_range(self, uint64_t addr, uint64_t size, bint write, uint64_t ip) except -1
    cdef int free_pages(self, pfn_t pfn, unsigned int order) except -1
    cdef int split_page(self, pfn_t pfn, unsigned int order) except -1
    cdef int free_pages_prepare(self, pfn_t pfn, unsigned int order) except -1
    cdef int free_unref_page_commit(self, pfn_t pfn) except -1
    cdef int free_unref_page_list(self, pfn_t* pfns, int n) except -1
    cdef int free_unref_folios(self, pfn_t* pfns, unsigned int* orders, int n) except -1
    cdef int free_pages_ok(self, pfn_t pfn, unsigned int order) except -1
    cdef zone* page_zone(self, pfn_t pfn) noexcept nogil
    cdef int page_to_nid(self, pfn_t pfn) noexcept nogil
    cdef pfn_t alloc_pages_slowpath_oom(self, gfp_t gfp, unsigned int order, int nid,
                                        const uint64_t* nodemask) except? 0xfffffffffffffffe
    cdef pfn_t alloc_pages_may_oom(self, gfp_t gfp, unsigned int order, int nid,
                                   const uint64_t* nodemask, int* did_some_progress) except? 0xfffffffffffffffe
    cdef pfn_t get_page_from_freelist(self, gfp_t gfp, unsigned int order, int nid, int alloc_wmark,
                                      const uint64_t* nodemask) except? 0xfffffffffffffffe
    cdef pfn_t rmqueue(self, zone* z, unsigned int order, int mt) except? 0xfffffffffffffffe
    cdef pfn_t rmqueue_smallest(self, zone* z, unsigned int order, int mt) noexcept
    cdef pfn_t rmqueue_fallback(self, zone* z, unsigned int order, int mt) noexcept
    cdef int rmqueue_bulk(self, zone* z, per_cpu_pages* pcp, int count, int mt) except -1
    cdef int free_one_page(self, zone* z, pfn_t pfn, unsigned int order, int mt) noexcept
    cdef int free_pcppages_bulk(self, zone* z, per_cpu_pages* pcp, int count) except -1
    cdef void list_add(self, uint32_t* head, pfn_t pfn) noexcept
    cdef void list_add_tail(self, uint32_t* head, pfn_t pfn) noexcept
    cdef void list_del(self, uint32_t* head, pfn_t pfn) noexcept
    cdef uint32_t area_first(self, zone* z, unsigned int order, int mt) noexcept
    cdef void ready_unit(self, zone* z, uint64_t unit) noexcept
    cdef int prep_new_page(self, pfn_t pfn, unsigned int order, gfp_t gfp) except -1
    cdef int copy_content(self, pfn_t dst, pfn_t src) except -1
    cdef int stamp_frame(self, pfn_t pfn, uint64_t value) except -1
    cdef _init_zone(self, zone* z, int ncpus)
    cdef _free_range_now(self, zone* z, pfn_t start, pfn_t end)
    cdef _setup_per_zone_wmarks(self)
    cdef setup_per_zone_wmarks(self)
    cdef _move_block_owner(self, zone* z, pfn_t pfn, int order, int old_mt, int new_mt)
    cdef int64_t _move_freepages(self, zone* z, pfn_t start, pfn_t end, int new_mt) except -1
    cdef pfn_t _rmqueue_locked(self, zone* z, unsigned int order, int mt) noexcept
    cdef bint zone_watermark_ok(self, zone* z, unsigned int order, uint64_t mark, int highest_zoneidx, gfp_t gfp) noexcept
    cdef bint __zone_watermark_ok(self, zone* z, unsigned int order, uint64_t mark, int highest_zoneidx,
                                  gfp_t gfp, int64_t free_pages) noexcept
    cdef int wake_all_kswapds(self, unsigned int order, gfp_t gfp, int nid, const uint64_t* nodemask) except -1
    cdef bint should_reclaim_retry(self, gfp_t gfp, unsigned int order, int nid, const uint64_t* nodemask,
                                   bint did_some_progress, int* no_progress_loops) except -1
    cdef _remerge(self, zone* z, pfn_t start, pfn_t end)
    cdef _refree(self, zone* z, pfn_t start, pfn_t end)
    cdef bint _block_has_allocated(self, pfn_t start)
    cdef int drop_content(self, pfn_t pfn, unsigned int order) except -1
    cdef int _alloc_contig_migrate_range(self, contig_scan* st) except? -1000000
    cdef int _isolate_migratepages_range(self, contig_scan* st) except? -1000000
    cdef int migrate_pages(self, pfn_t* lst, int* n, int mode, int reason) except? -1000000
    cdef int putback_movable_pages(self, pfn_t* lst, int n) except -1
    cdef bint _pfn_range_valid_contig(self, pfn_t start, uint64_t nr) noexcept
    # LRU lists (mm/swap.c)
    cdef lruvec* folio_lruvec(self, pfn_t pfn) noexcept
    cdef void update_lru_size(self, lruvec* lv, int lru, page* p, int64_t nr) noexcept
    cdef void lruvec_add_folio(self, lruvec* lv, pfn_t pfn) noexcept
    cdef void lruvec_add_folio_tail(self, lruvec* lv, pfn_t pfn) noexcept
    cdef void lruvec_link_folio(self, lruvec* lv, pfn_t pfn, bint tail) noexcept
    cdef void lruvec_del_folio(self, lruvec* lv, pfn_t pfn) noexcept
    cdef int lru_cache_add(self, pfn_t pfn) except -1
    cdef int lru_cache_add_inactive_or_unevictable(self, pfn_t pfn, bint vm_locked) except -1
    cdef int lru_add_fn(self, pfn_t pfn) except -1
    cdef int pagevec_lru_add(self, lru_batch* b) except -1
    cdef int activate_page(self, pfn_t pfn) except -1
    cdef int pagevec_activate(self, lru_batch* b) except -1
    cdef int lru_add_drain_cpu(self, int cpu) except -1
    cdef int lru_add_drain(self) except -1
    cdef int lru_add_drain_all(self) except -1
    cdef int mark_page_accessed(self, pfn_t pfn) except -1
    cdef void workingset_age_nonresident(self, lruvec* lv, uint64_t nr_pages) noexcept
    cdef void workingset_activation(self, pfn_t pfn) noexcept
    cdef int page_cache_release(self, pfn_t pfn) noexcept
    cdef int release_pages(self, pfn_t* pfns, int n) except -1
    cdef int folios_put_refs(self, pfn_t* pfns, int n) except -1
    cdef pfn_t put_folio_ref(self, pfn_t pfn, uint64_t free_at_once) except? 0
    # mlock (mm/mlock.c)
    cdef bint isolate_lru_page(self, pfn_t pfn) except -1
    cdef int putback_lru_page(self, pfn_t pfn) except -1
    cdef int mlock_vma_page(self, pfn_t pfn) except -1
    cdef int clear_page_mlock(self, pfn_t pfn) except -1
    cdef int mlock_fbatch_add(self, pfn_t pfn, uint32_t tag) except -1
    cdef int mlock_folio(self, pfn_t pfn) except -1
    cdef int mlock_new_folio(self, pfn_t pfn) except -1
    cdef int munlock_folio(self, pfn_t pfn) except -1
    cdef int mlock_folio_batch(self, lru_batch* b) except -1
    cdef int mlock_drain_cpu(self, int cpu) except -1
    cdef int64_t _walk_lruvec(self, lruvec* lv, list problems, dict mlock_held, bint no_tasks) except -1


# Circular lists of pages linked by pfn through page.lru_next/lru_prev (NIL32: empty), the head the
# first entry: the LRU lists' and the hugetlb plugin's free and active lists.
cdef inline void lru_link(page* mem_map, uint32_t* head, pfn_t pfn, bint tail) noexcept nogil:
    """list_add() / list_add_tail() on a circular pfn list (the LRU's; no --check counting)."""
    cdef page* p = &mem_map[pfn]
    cdef uint32_t first = head[0], last
    if first == NIL32:
        p.lru_next = <uint32_t>pfn
        p.lru_prev = <uint32_t>pfn
        head[0] = <uint32_t>pfn
        return
    last = mem_map[first].lru_prev
    p.lru_next = first
    p.lru_prev = last
    mem_map[last].lru_next = <uint32_t>pfn
    mem_map[first].lru_prev = <uint32_t>pfn
    if not tail:
        head[0] = <uint32_t>pfn


cdef inline void lru_unlink(page* mem_map, uint32_t* head, pfn_t pfn) noexcept nogil:
    """list_del() on a circular pfn list."""
    cdef page* p = &mem_map[pfn]
    if p.lru_next == <uint32_t>pfn:
        head[0] = NIL32
    else:
        mem_map[p.lru_prev].lru_next = p.lru_next
        mem_map[p.lru_next].lru_prev = p.lru_prev
        if head[0] == <uint32_t>pfn:
            head[0] = p.lru_next
    p.lru_next = NIL32
    p.lru_prev = NIL32
