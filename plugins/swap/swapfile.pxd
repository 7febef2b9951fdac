# cython: language_level=3
# Swap devices, their slots, the swap cache and swap-in (mm/swapfile.c, mm/swap_slots.c,
# mm/swap_state.c, mm/page_io.c, mm/swap_cgroup.c, do_swap_page of mm/memory.c).
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from memsim._types cimport pfn_t, gfp_t
from memsim.physmem cimport PhysMem
from memsim.mm cimport MmCore, MmStruct, VmArea, vm_fault

# include/linux/swap.h: the swap_map byte
cdef enum:
    SWAP_HAS_CACHE = 0x40               # a swap-cache page exists (or is being set up)
    COUNT_CONTINUED = 0x80              # the count goes on in a continuation page
    SWAP_MAP_MAX = 0x3e                 # the largest count the first byte holds
    SWAP_MAP_BAD = 0x3f
    SWAP_MAP_SHMEM = 0xbf               # owned by shmem/tmpfs
    SWAP_CONT_MAX = 0x7f                # the largest count of a continuation byte
    SWAP_BATCH = 64
    SWAP_SLOTS_CACHE_SIZE = 64
    SWAP_ADDRESS_SPACE_SHIFT = 14       # one swap-cache address_space per 16384 slots
    SWAPFILE_CLUSTER = 256

# swap_info_struct.flags
cdef enum:
    SWP_USED = 0x1
    SWP_WRITEOK = 0x2
    SWP_DISCARDABLE = 0x4
    SWP_SOLIDSTATE = 0x10
    SWP_CONTINUED = 0x20
    SWP_BLKDEV = 0x40
    SWP_ACTIVATED = 0x80
    SWP_STABLE_WRITES = 0x800
    SWP_SYNCHRONOUS_IO = 0x1000

# struct swap_info_struct (the parts memsim keeps), plus the slot-indexed tables of one device:
# the swap cache's entries (0 empty, pfn + 1 a page, < 0 a workingset shadow as i_pages keeps
# it: memsim.workingset.shadow_to_entry) and the swap_cgroup records (mm/swap_cgroup.c).
cdef struct swap_info:
    unsigned int flags
    int prio
    int type
    uint64_t max                        # slots, with the header and bad ones
    uint64_t pages                      # usable slots
    uint64_t inuse_pages
    uint64_t lowest_bit
    uint64_t highest_bit
    uint8_t* swap_map
    int64_t* cache                      # swap_address_space() xarrays, by offset
    uint16_t* cgroup                    # swap_cgroup_ctrl records, by offset
    uint64_t cache_pages                # the address spaces' nrpages, together
    uint64_t read_ns                    # emulated time of one page read (swap_readpage)
    uint64_t write_ns                   # and of one page write

# struct swap_slots_cache (one per CPU)
cdef struct swap_slots_cache:
    uint64_t slots[SWAP_SLOTS_CACHE_SIZE]
    int nr
    int cur
    uint64_t slots_ret[SWAP_SLOTS_CACHE_SIZE]
    int n_ret


cdef class SwapHost:
    cdef PhysMem pm
    cdef MmCore core
    cdef swap_info** si                 # swap_info[], by type
    cdef readonly int nr_swapfiles
    cdef readonly int max_swapfiles
    cdef readonly int64_t nr_swap_pages     # free slots (atomic_long_t nr_swap_pages)
    cdef readonly int64_t total_swap_pages
    cdef list avail                     # swap_avail_head: types of usable devices, by priority
    cdef readonly int least_priority
    cdef swap_slots_cache* slots        # one per CPU
    cdef readonly bint slots_enabled    # swap_slot_cache_enabled
    cdef readonly bint slots_active     # swap_slot_cache_active
    cdef public bint slots_cache_on     # CONFIG: the per-CPU slots cache exists (v5.14..v6.9)
    cdef readonly uint64_t add_total, del_total, find_success, find_total   # swap_cache_info
    cdef public int page_cluster        # /proc/sys/vm/page-cluster
    cdef public bint vma_ra_enabled     # /sys/kernel/mm/swap/vma_ra_enabled (enable_vma_readahead)
    cdef readonly int nr_rotate_swap    # areas on a rotational device (cluster readahead then)
    cdef int ra_hits                    # swapin_readahead_hits
    cdef uint64_t ra_prev_offset        # swapin_nr_pages(): prev_offset
    cdef unsigned int ra_last_pages     # last_readahead_pages
    cdef public bint charge_first       # swapin-charge-first: charge before add_to_swap_cache
    cdef public bint swapout_first      # v5.13..v6.1 __remove_mapping: mem_cgroup_swapout before
                                        # __delete_from_swap_cache (the v1 swapcached drift)
    cdef public bint retry_sleeps       # v5.15+: -EEXIST waits one jiffy (v5.14 cond_resched)
    cdef readonly dict store            # entry -> (bytes or None, stamp): what was written
    cdef readonly dict cont             # (type, offset) -> [continuation counts, level 1 first]
    cdef readonly dict cont_pages       # (type, map page) -> [pfns of its continuation pages]
    cdef public bint swapoff_running    # try_to_unuse() is working (the zero-count test is off)
    cdef public int fail_add_to_swap_cache  # tests: the next N add_to_swap_cache calls -ENOMEM
    cdef public int fail_swapin_alloc   # tests: the next N swap-in page allocations fail
    # the swapin-charge-first metric: swap-ins that entered the swap cache uncharged
    cdef readonly uint64_t uncharged_adds
    # swap-cache pages counted in a memcg's NR_SWAPCACHE (what memory.stat swapcached sums), and
    # their peak
    cdef readonly int64_t memcg_cache_pages, memcg_cache_peak
    cdef readonly uint64_t swapins, swapouts
    cdef public bint swap_map_shmem     # swap_shmem_alloc() marks the slot SWAP_MAP_SHMEM (before
                                        # v6.13; later an ordinary count of 1)

    cdef void _free_info(self, swap_info* s) noexcept
    cdef swap_info* _dev(self, int t) except NULL
    # slots
    cdef swap_info* info(self, uint64_t entry) noexcept
    cdef int swap_count_of(self, uint64_t entry) noexcept
    cdef int64_t swp_swapcount(self, uint64_t entry) noexcept
    cdef uint64_t get_swap_page(self, pfn_t pfn) except? 0xffffffffffffffff
    cdef int get_swap_pages(self, int n, uint64_t* out) except -1
    cdef uint64_t scan_swap_map_slot(self, swap_info* s) noexcept
    cdef int swap_range_alloc(self, swap_info* s, uint64_t offset) except -1
    cdef int swap_range_free(self, swap_info* s, uint64_t offset) except -1
    cdef int __swap_duplicate(self, uint64_t entry, int usage) except? -1000000
    cdef bint _count_continued_inc(self, swap_info* s, uint64_t off) except -1
    cdef bint _count_continued_dec(self, swap_info* s, uint64_t off) except -1
    cdef int add_swap_count_continuation(self, uint64_t entry) except -1
    cdef int swap_duplicate(self, uint64_t entry) except? -1000000
    cdef int swapcache_prepare(self, uint64_t entry) except? -1000000
    cdef uint8_t __swap_entry_free_locked(self, swap_info* s, uint64_t offset, int usage) except? 0xff
    cdef int free_swap_slot(self, uint64_t entry) except -1
    cdef int swapcache_free_entries(self, uint64_t* entries, int n) except -1
    cdef int swap_entry_free(self, uint64_t entry) except -1
    cdef int put_swap_page(self, uint64_t entry) except -1
    cdef int swap_free(self, uint64_t entry) except -1
    cdef int free_swap_and_cache(self, uint64_t entry) except -1
    cdef int check_cache_active(self) except -1
    cdef bint vm_swap_full(self) noexcept
    # the swap cache
    cdef bint use_vma_readahead(self) noexcept
    cdef pfn_t lookup_swap_cache(self, uint64_t entry, VmArea vma, uint64_t addr) except? 0xfffffffffffffffe
    cdef pfn_t cache_page(self, uint64_t entry) noexcept
    cdef int add_to_swap_cache(self, pfn_t pfn, uint64_t entry, uint64_t* shadow) except -1
    cdef int __delete_from_swap_cache(self, pfn_t pfn, uint64_t entry, uint64_t shadow) except -1
    cdef int delete_from_swap_cache(self, pfn_t pfn) except -1
    cdef bint try_to_free_swap(self, pfn_t pfn) except -1
    cdef int swap_out(self, pfn_t pfn, uint64_t* entry) except? -1000000
    cdef int remove_swap_mapping(self, pfn_t pfn, uint64_t entry) except -1
    cdef int _swapout(self, pfn_t pfn, uint64_t entry, swap_info* s) except -1
    # I/O
    cdef int swap_writepage(self, pfn_t pfn, uint64_t entry) except -1
    cdef int swap_readpage(self, pfn_t pfn, uint64_t entry, bint synchronous) except -1
    # swap-in
    cdef pfn_t __read_swap_cache_async(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                        uint64_t addr, bint* allocated) except? 0xfffffffffffffffe
    cdef pfn_t read_swap_cache_async(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                      uint64_t addr) except? 0xfffffffffffffffe
    cdef int readahead_one(self, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                           bint target) except -1
    cdef unsigned int __swapin_nr_pages(self, uint64_t prev_offset, uint64_t offset,
                                        unsigned int hits, unsigned int max_pages,
                                        unsigned int prev_win) noexcept
    cdef unsigned int swapin_nr_pages(self, uint64_t offset) noexcept
    cdef pfn_t swap_cluster_readahead(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                       uint64_t addr) except? 0xfffffffffffffffe
    cdef pfn_t swap_vma_readahead(self, uint64_t fentry, gfp_t gfp, VmArea vma,
                                   vm_fault* vmf) except? 0xfffffffffffffffe
    cdef pfn_t swapin_readahead(self, uint64_t entry, gfp_t gfp, VmArea vma,
                                 vm_fault* vmf) except? 0xfffffffffffffffe
    cdef int charge_swapin(self, pfn_t pfn, object mm, gfp_t gfp, uint64_t entry) except -1
    cdef int swapin_uncharge_swap(self, uint64_t entry) except -1
    cdef int do_swap_page(self, MmStruct mm, VmArea vma, vm_fault* vmf) except -1
    cdef int page_add_anon_rmap(self, pfn_t pfn, VmArea vma, uint64_t addr) except -1
    cdef int unuse_pte(self, MmStruct mm, VmArea vma, uint64_t addr, uint64_t* pte,
                       uint64_t entry, pfn_t pfn) except -1
    # shmem (the shmem_* swap_ops)
    cdef int shmem_add_to_swap(self, pfn_t pfn, uint64_t* entry) except? -1000000
    cdef int swap_shmem_alloc(self, uint64_t entry) except -1
    cdef pfn_t shmem_swapin(self, uint64_t entry, gfp_t gfp, VmArea vma, uint64_t addr,
                            int* major) except? 0xfffffffffffffffe
