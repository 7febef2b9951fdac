# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""vmstat: the zone, node and event counters of mm/vmstat.c (see vmstat.pxd for the layout).

This module holds the counters and the arithmetic; the text of /proc/vmstat, /proc/meminfo and
the per-node sysfs files is made in Python by :mod:`memsim.mmstat` from the values read here.
The names below are v5.14's ``vmstat_text[]``, in enum order.
"""
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from libc.stdint cimport int8_t, int64_t, uint64_t

from memsim._types cimport MAX_NR_ZONES
from memsim.task cimport Current

#: enum zone_stat_item, as vmstat_text names them
ZONE_STAT_NAMES = (
    "nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
    "nr_zone_active_file", "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock",
    "nr_bounce", "nr_zspages", "nr_free_cma",
)
#: enum numa_stat_item
NUMA_STAT_NAMES = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
                   "numa_other")
#: enum node_stat_item
NODE_STAT_NAMES = (
    "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable",
    "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file",
    "workingset_nodes", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "workingset_nodereclaim", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_writeback", "nr_writeback_temp", "nr_shmem",
    "nr_shmem_hugepages", "nr_shmem_pmdmapped", "nr_file_hugepages", "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages", "nr_vmscan_write", "nr_vmscan_immediate_reclaim",
    "nr_dirtied", "nr_written", "nr_kernel_misc_reclaimable", "nr_foll_pin_acquired",
    "nr_foll_pin_released", "nr_kernel_stack", "nr_page_table_pages", "nr_swapcached",
    "nr_hugetlb",
)
#: node items a v5.14 kernel does not have (its vmstat_text[] omits them)
NODE_STAT_NAMES_NOT_V5_14 = ("nr_hugetlb",)
#: enum writeback_stat_item
WRITEBACK_STAT_NAMES = ("nr_dirty_threshold", "nr_dirty_background_threshold")
#: enum vm_event_item
VM_EVENT_NAMES = (
    "pgpgin", "pgpgout", "pswpin", "pswpout",
    "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_movable",
    "allocstall_dma", "allocstall_dma32", "allocstall_normal", "allocstall_movable",
    "pgskip_dma", "pgskip_dma32", "pgskip_normal", "pgskip_movable",
    "pgfree", "pgactivate", "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault", "pglazyfreed",
    "pgrefill", "pgreuse", "pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct",
    "pgscan_direct_throttle", "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
    "zone_reclaim_failed", "pginodesteal", "slabs_scanned", "kswapd_inodesteal",
    "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun", "pgrotated",
    "drop_pagecache", "drop_slab", "oom_kill",
    "numa_pte_updates", "numa_huge_pte_updates", "numa_hint_faults", "numa_hint_faults_local",
    "numa_pages_migrated", "pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
    "thp_migration_fail", "thp_migration_split",
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "compact_stall",
    "compact_fail", "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
    "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
    "unevictable_pgs_stranded",
    "thp_fault_alloc", "thp_fault_fallback", "thp_fault_fallback_charge", "thp_collapse_alloc",
    "thp_collapse_alloc_failed", "thp_file_alloc", "thp_file_fallback",
    "thp_file_fallback_charge", "thp_file_mapped", "thp_split_page", "thp_split_page_failed",
    "thp_deferred_split_page", "thp_split_pmd", "thp_split_pud", "thp_zero_page_alloc",
    "thp_zero_page_alloc_failed", "thp_swpout", "thp_swpout_fallback",
    "balloon_inflate", "balloon_deflate", "balloon_migrate", "swap_ra", "swap_ra_hit",
    "direct_map_level2_splits", "direct_map_level3_splits",
)

#: Node items /proc/vmstat and the node vmstat file print in huge pages (vmstat_item_print_in_thp).
PRINT_IN_THP = ("nr_anon_transparent_hugepages", "nr_file_hugepages", "nr_shmem_hugepages",
                "nr_shmem_pmdmapped", "nr_file_pmdmapped")

assert len(ZONE_STAT_NAMES) == NR_VM_ZONE_STAT_ITEMS
assert len(NUMA_STAT_NAMES) == NR_VM_NUMA_EVENT_ITEMS
assert len(NODE_STAT_NAMES) == NR_VM_NODE_STAT_ITEMS
assert len(WRITEBACK_STAT_NAMES) == NR_VM_WRITEBACK_STAT_ITEMS
assert len(VM_EVENT_NAMES) == NR_VM_EVENT_ITEMS


cdef int fls(unsigned long x) noexcept:
    cdef int r = 0
    while x:
        r += 1
        x >>= 1
    return r


cdef class VmStat:
    """The vmstat counters of one machine: per zone, per node, per CPU and global.

    ``VmStat(nr_nodes, ncpus, cur)``; :meth:`init_zones` then sets the per-CPU thresholds from
    the zones' managed pages (refresh_zone_stat_thresholds) and the boot values.
    """

    def __cinit__(self, int nr_nodes, int ncpus, Current cur):
        cdef int n
        if nr_nodes < 1 or ncpus < 1:
            raise ValueError("vmstat needs at least one node and one CPU")
        memset(&self.vs, 0, sizeof(vmstat_t))
        self.vs.nr_nodes = nr_nodes
        self.vs.ncpus = ncpus
        self.cur = cur
        self.vs.cpu = &cur.cpu
        self.vs.zones = <zone_vmstat*>calloc(nr_nodes * MAX_NR_ZONES, sizeof(zone_vmstat))
        self.vs.nodes = <node_vmstat*>calloc(nr_nodes, sizeof(node_vmstat))
        self.vs.vm_event_states = <vm_event_state*>calloc(ncpus, sizeof(vm_event_state))
        if self.vs.zones == NULL or self.vs.nodes == NULL or self.vs.vm_event_states == NULL:
            raise MemoryError("cannot reserve host memory for the vmstat counters")
        for n in range(nr_nodes):
            self.vs.nodes[n].per_cpu_nodestats = <per_cpu_nodestat*>calloc(ncpus, sizeof(per_cpu_nodestat))
            if self.vs.nodes[n].per_cpu_nodestats == NULL:
                raise MemoryError("cannot reserve host memory for the vmstat counters")

    def __dealloc__(self):
        cdef int i
        if self.vs.zones != NULL:
            for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
                free(self.vs.zones[i].per_cpu_zonestats)
        if self.vs.nodes != NULL:
            for i in range(self.vs.nr_nodes):
                free(self.vs.nodes[i].per_cpu_nodestats)
        free(self.vs.zones)
        free(self.vs.nodes)
        free(self.vs.vm_event_states)

    def init_zones(self, managed_pages, free_pages):
        """setup_zone_pageset() + refresh_zone_stat_thresholds() at boot, and the boot counts.

        ``managed_pages`` and ``free_pages`` hold one value per zone, indexed
        nid * MAX_NR_ZONES + zone.  Free pages start folded in NR_FREE_PAGES; PGFREE starts at
        the pages the boot CPU freed into the buddy allocator (__free_pages_core)."""
        cdef int i, cpu
        cdef uint64_t boot_freed = 0
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if managed_pages[i] and self.vs.zones[i].per_cpu_zonestats == NULL:
                self.vs.zones[i].per_cpu_zonestats = <per_cpu_zonestat*>calloc(
                    self.vs.ncpus, sizeof(per_cpu_zonestat))
                if self.vs.zones[i].per_cpu_zonestats == NULL:
                    raise MemoryError("cannot reserve host memory for the vmstat counters")
            self.vs.zones[i].vm_stat[<int>NR_FREE_PAGES] = free_pages[i]
            self.vs.vm_zone_stat[<int>NR_FREE_PAGES] += free_pages[i]
            boot_freed += managed_pages[i]
        self.vs.vm_event_states[0].event[<int>PGFREE] += boot_freed
        self.refresh_zone_stat_thresholds(managed_pages)

    def refresh_zone_stat_thresholds(self, managed_pages):
        """refresh_zone_stat_thresholds(): calculate_normal_threshold() for every populated
        zone and CPU; a node's threshold is the largest of its zones'."""
        cdef int i, cpu, nid, threshold, mem
        for nid in range(self.vs.nr_nodes):
            for cpu in range(self.vs.ncpus):
                self.vs.nodes[nid].per_cpu_nodestats[cpu].stat_threshold = 0
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if not managed_pages[i] or self.vs.zones[i].per_cpu_zonestats == NULL:
                continue
            mem = <int>(managed_pages[i] >> (27 - 12))     # memory in 128 MB units
            threshold = min(125, 2 * fls(self.vs.ncpus) * (1 + fls(mem)))
            nid = i // MAX_NR_ZONES
            for cpu in range(self.vs.ncpus):
                self.vs.zones[i].per_cpu_zonestats[cpu].stat_threshold = <int8_t>threshold
                if threshold > self.vs.nodes[nid].per_cpu_nodestats[cpu].stat_threshold:
                    self.vs.nodes[nid].per_cpu_nodestats[cpu].stat_threshold = <int8_t>threshold

    # -- folding ----------------------------------------------------------------------------
    cdef void refresh_cpu_vm_stats(self, int cpu) noexcept:
        """refresh_cpu_vm_stats(): move one CPU's differentials into the zone, node and
        global counters."""
        cdef int i, item
        cdef int8_t v
        cdef per_cpu_zonestat* pz
        cdef per_cpu_nodestat* pn
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if self.vs.zones[i].per_cpu_zonestats == NULL:
                continue
            pz = &self.vs.zones[i].per_cpu_zonestats[cpu]
            for item in range(NR_VM_ZONE_STAT_ITEMS):
                v = pz.vm_stat_diff[item]
                if v:
                    pz.vm_stat_diff[item] = 0
                    zone_page_state_add(&self.vs, i, item, v)
        for i in range(self.vs.nr_nodes):
            pn = &self.vs.nodes[i].per_cpu_nodestats[cpu]
            for item in range(NR_VM_NODE_STAT_ITEMS):
                v = pn.vm_node_stat_diff[item]
                if v:
                    pn.vm_node_stat_diff[item] = 0
                    node_page_state_add(&self.vs, i, item, v)

    cdef void fold_vm_numa_events(self) noexcept:
        """fold_vm_numa_events(): every CPU's NUMA events into the zones and the global ones."""
        cdef int i, cpu, item
        cdef uint64_t v
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if self.vs.zones[i].per_cpu_zonestats == NULL:
                continue
            for cpu in range(self.vs.ncpus):
                for item in range(NR_VM_NUMA_EVENT_ITEMS):
                    v = self.vs.zones[i].per_cpu_zonestats[cpu].vm_numa_event[item]
                    if v:
                        self.vs.zones[i].per_cpu_zonestats[cpu].vm_numa_event[item] = 0
                        self.vs.zones[i].vm_numa_event[item] += v
                        self.vs.vm_numa_event[item] += v

    def refresh_vm_stats(self):
        """vmstat_refresh() (/proc/sys/vm/stat_refresh) and vmstat_update() on every CPU:
        fold all differentials."""
        cdef int cpu
        for cpu in range(self.vs.ncpus):
            self.refresh_cpu_vm_stats(cpu)

    def pending_diffs(self):
        """Whether some CPU holds an unfolded differential (need_update())."""
        cdef int i, cpu, item
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if self.vs.zones[i].per_cpu_zonestats == NULL:
                continue
            for cpu in range(self.vs.ncpus):
                for item in range(NR_VM_ZONE_STAT_ITEMS):
                    if self.vs.zones[i].per_cpu_zonestats[cpu].vm_stat_diff[item]:
                        return True
        for i in range(self.vs.nr_nodes):
            for cpu in range(self.vs.ncpus):
                for item in range(NR_VM_NODE_STAT_ITEMS):
                    if self.vs.nodes[i].per_cpu_nodestats[cpu].vm_node_stat_diff[item]:
                        return True
        return False

    # -- reading (include/linux/vmstat.h) ---------------------------------------------------
    @property
    def nr_nodes(self):
        return self.vs.nr_nodes

    @property
    def ncpus(self):
        return self.vs.ncpus

    def _zone(self, int nid, int zid):
        if not 0 <= nid < self.vs.nr_nodes or not 0 <= zid < MAX_NR_ZONES:
            raise ValueError(f"no zone {zid} on node {nid}")
        return nid * MAX_NR_ZONES + zid

    def global_zone_page_state(self, int item):
        """global_zone_page_state(): the global counter, never below 0."""
        return max(0, self.vs.vm_zone_stat[item])

    def global_node_page_state(self, int item):
        """global_node_page_state_pages(): the global counter in pages, never below 0."""
        return max(0, self.vs.vm_node_stat[item])

    def zone_page_state(self, int nid, int zid, int item):
        """zone_page_state(): the zone's folded counter, never below 0."""
        return max(0, self.vs.zones[self._zone(nid, zid)].vm_stat[item])

    def zone_page_state_snapshot(self, int nid, int zid, int item):
        """zone_page_state_snapshot(): the zone's counter plus every CPU's differential."""
        cdef int i = self._zone(nid, zid), cpu
        cdef int64_t x = self.vs.zones[i].vm_stat[item]
        if self.vs.zones[i].per_cpu_zonestats != NULL:
            for cpu in range(self.vs.ncpus):
                x += self.vs.zones[i].per_cpu_zonestats[cpu].vm_stat_diff[item]
        return max(0, x)

    def node_page_state(self, int nid, int item):
        """node_page_state_pages(): the node's folded counter in pages, never below 0."""
        if not 0 <= nid < self.vs.nr_nodes:
            raise ValueError(f"no node {nid}")
        return max(0, self.vs.nodes[nid].vm_stat[item])

    def node_page_state_snapshot(self, int nid, int item):
        """The node's counter plus every CPU's differential (what the page tables hold)."""
        cdef int cpu
        cdef int64_t x = self.vs.nodes[nid].vm_stat[item]
        for cpu in range(self.vs.ncpus):
            x += self.vs.nodes[nid].per_cpu_nodestats[cpu].vm_node_stat_diff[item]
        return max(0, x)

    def global_zone_page_state_snapshot(self, int item):
        """The global counter plus every CPU's differential of every zone: the exact value
        /proc/vmstat shows after a fold."""
        cdef int i, cpu
        cdef int64_t x = self.vs.vm_zone_stat[item]
        for i in range(self.vs.nr_nodes * MAX_NR_ZONES):
            if self.vs.zones[i].per_cpu_zonestats != NULL:
                for cpu in range(self.vs.ncpus):
                    x += self.vs.zones[i].per_cpu_zonestats[cpu].vm_stat_diff[item]
        return max(0, x)

    def global_node_page_state_snapshot(self, int item):
        """The global node counter plus every CPU's differential, in pages."""
        cdef int i, cpu
        cdef int64_t x = self.vs.vm_node_stat[item]
        for i in range(self.vs.nr_nodes):
            for cpu in range(self.vs.ncpus):
                x += self.vs.nodes[i].per_cpu_nodestats[cpu].vm_node_stat_diff[item]
        return max(0, x)

    def sum_zone_node_page_state(self, int nid, int item):
        """sum_zone_node_page_state(): the zone counter summed over a node's zones."""
        cdef int zid
        cdef int64_t total = 0
        for zid in range(MAX_NR_ZONES):
            total += max(0, self.vs.zones[nid * MAX_NR_ZONES + zid].vm_stat[item])
        return total

    def global_numa_event_state(self, int item):
        """global_numa_event_state() after fold_vm_numa_events()."""
        self.fold_vm_numa_events()
        return self.vs.vm_numa_event[item]

    def zone_numa_event_state(self, int nid, int zid, int item):
        """zone_numa_event_state() after fold_vm_numa_events()."""
        self.fold_vm_numa_events()
        return self.vs.zones[self._zone(nid, zid)].vm_numa_event[item]

    def sum_zone_numa_event_state(self, int nid, int item):
        """sum_zone_numa_event_state() after fold_vm_numa_events()."""
        cdef int zid
        cdef uint64_t total = 0
        self.fold_vm_numa_events()
        for zid in range(MAX_NR_ZONES):
            total += self.vs.zones[nid * MAX_NR_ZONES + zid].vm_numa_event[item]
        return total

    def all_vm_events(self):
        """all_vm_events(): every event summed over the CPUs, in enum order."""
        cdef int cpu, item
        out = [0] * NR_VM_EVENT_ITEMS
        for item in range(NR_VM_EVENT_ITEMS):
            total = 0
            for cpu in range(self.vs.ncpus):
                total += self.vs.vm_event_states[cpu].event[item]
            out[item] = total
        return out

    def vm_event(self, int item):
        """One event summed over the CPUs."""
        cdef int cpu
        cdef uint64_t total = 0
        for cpu in range(self.vs.ncpus):
            total += self.vs.vm_event_states[cpu].event[item]
        return total

    def stat_threshold(self, int nid, int zid, int cpu=0):
        """The per-CPU stat_threshold of a zone (0 for an unpopulated zone)."""
        cdef int i = self._zone(nid, zid)
        if self.vs.zones[i].per_cpu_zonestats == NULL:
            return 0
        return self.vs.zones[i].per_cpu_zonestats[cpu].stat_threshold

    # -- updates from Python (plugins written in Python, tests) ------------------------------
    def mod_zone_page_state(self, int nid, int zid, int item, int64_t delta):
        """mod_zone_page_state() on the current CPU."""
        cdef int i = self._zone(nid, zid)
        if self.vs.zones[i].per_cpu_zonestats == NULL:
            raise ValueError(f"zone {zid} of node {nid} is not populated")
        __mod_zone_page_state(&self.vs, i, item, delta)

    def mod_node_page_state(self, int nid, int item, int64_t delta):
        """mod_node_page_state() on the current CPU (NR_SLAB_*_B in bytes)."""
        if not 0 <= nid < self.vs.nr_nodes:
            raise ValueError(f"no node {nid}")
        __mod_node_page_state(&self.vs, nid, item, delta)

    def count_vm_events(self, int item, uint64_t delta=1):
        """count_vm_events() on the current CPU."""
        if not 0 <= item < NR_VM_EVENT_ITEMS:
            raise ValueError(f"no vm_event_item {item}")
        count_vm_events(&self.vs, item, delta)

    def count_numa_event(self, int nid, int zid, int item, uint64_t delta=1):
        """__count_numa_events() on the current CPU (e.g. NUMA_INTERLEAVE_HIT)."""
        cdef int i = self._zone(nid, zid)
        if self.vs.zones[i].per_cpu_zonestats == NULL:
            raise ValueError(f"zone {zid} of node {nid} is not populated")
        __count_numa_events(&self.vs, i, item, delta)


#: name -> (kind, index): kind is "zone", "numa", "node", "writeback" or "event"
ITEM_BY_NAME = {}
for _kind, _names in (("zone", ZONE_STAT_NAMES), ("numa", NUMA_STAT_NAMES), ("node", NODE_STAT_NAMES),
                      ("writeback", WRITEBACK_STAT_NAMES), ("event", VM_EVENT_NAMES)):
    for _i, _n in enumerate(_names):
        ITEM_BY_NAME[_n] = (_kind, _i)
del _kind, _names, _i, _n
