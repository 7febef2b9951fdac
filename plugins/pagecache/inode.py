"""Inode lifetime for the page-cache filesystems (fs/inode.c, fs/super.c's inode shrinker).

Shared by tmpfs (``shmem_inode_cache``) and the disk filesystem (``inode_cache``):

* inodes are slab objects: :meth:`InodeCache.super_operations` gives a filesystem the
  :class:`memsim.vfs.SuperOperations` whose ``alloc_inode`` takes the inode from the cache
  (alloc_inode() -> ``kmem_cache_alloc``), so the objects show in /proc/slabinfo and their size
  follows the ``no-nrexceptional`` seed change (BootOptions.slab.nrexceptional: 8 bytes more
  per object); the inode's ``i_data`` (an :class:`memsim.mm.AddressSpace`) has its address
  inside that object, so page->mapping is unique across superblocks;
* evict(): ``->evict_inode`` is the filesystem's (shmem_evict_inode()) or
  truncate_inode_pages_final() + :func:`clear_inode`, whose BUG_ON(nrpages) (and, before
  v5.13's "mm: remove nrexceptional from inode", BUG_ON(nrexceptional)) is an
  :class:`InodeBug`; destroy_inode() gives the object back to its cache and takes the mapping
  out of the reverse map's page->mapping table (Rmap.unregister_mapping);
* the inode LRU: an inode whose last reference goes while it still has a name (i_nlink > 0)
  is kept cached (iput_final() -> inode_add_lru()) on its superblock's LRU; a per-superblock
  shrinker (``super_cache_count`` / ``super_cache_scan``, registered as alloc_super() does)
  walks it with :func:`inode_lru_isolate`: an inode with pages has them invalidated
  (invalidate_mapping_pages(), counted in pginodesteal or kswapd_inodesteal) and is retried;
  one without is evicted, its final truncate clearing any shadow entries (pagecache.md
  scenario 16).

Which inodes the LRU takes follows the profile: v5.14 keeps every unused inode on it and
inode_lru_isolate() tests ``nrpages``; from v5.16 ("vfs: keep inodes with page cache off the
inode shrinker LRU") only inodes whose mapping is shrinkable (mapping_shrinkable(): empty, or
a single shadow at index 0) are on it, and inode_lru_isolate() drops the others from it.  The
kernel puts such an inode back when its last page leaves the cache (filemap_remove_folio(),
__remove_mapping(), shadow_lru_isolate()); memsim, whose core does not call back, looks at the
unused inodes kept off the LRU each time the shrinker counts (:meth:`SuperInodes.requeue`).

Policy, not a hot path: nothing here runs per page.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

from memsim.dcache import InodesStat
from memsim.mm import AddressSpace
from memsim.profiles import GFP_KERNEL, ProfileTable, __GFP_FS as GFP_FS
from memsim.shrinker import (PY_DEFAULT_SEEKS as DEFAULT_SEEKS, PY_SHRINK_EMPTY, PY_SHRINK_STOP,
                             PY_SHRINKER_MEMCG_AWARE as SHRINKER_MEMCG_AWARE,
                             PY_SHRINKER_NUMA_AWARE as SHRINKER_NUMA_AWARE)
from memsim.vfs import I_CLEAR, I_FREEING, Inode, SuperBlock, SuperOperations

__all__ = ["InodeBug", "SlabInode", "InodeCache", "SuperInodes", "clear_inode", "I_REFERENCED",
           "mapping_shrinkable", "inode_cache_for"]

#: inode->i_state bit of an inode used again while on the LRU (include/linux/fs.h, __I_REFERENCED 8)
I_REFERENCED = 1 << 8
#: the batch alloc_super() gives the superblock's shrinker
SUPER_SHRINK_BATCH = 1024
#: Where ``i_data`` sits in the object memsim hands out (an address inside it; the kernel's
#: offset of i_data in struct inode is not observable in memsim's output).
I_DATA_OFFSET = 0x100

#: v5.16+ "vfs: keep inodes with page cache off the inode shrinker LRU": only inodes whose mapping
#: is shrinkable are on the LRU, and inode_lru_isolate() tests mapping_empty(), not nrpages
LRU_NEEDS_SHRINKABLE = ProfileTable("pagecache.inode_lru_needs_shrinkable",
                                    {"v5.14": False, "v6.18": True})

# list_lru walk results (include/linux/list_lru.h)
LRU_REMOVED, LRU_ROTATE, LRU_SKIP, LRU_RETRY = range(4)


class InodeBug(AssertionError):
    """A BUG_ON() of the inode code fired (clear_inode() with pages still cached): a bug in
    memsim or a filesystem plugin, never the user's (a run reports it as a PluginBug, exit 3)."""


class SlabInode(Inode):
    """A ``struct inode`` living in a slab object: ``i_addr`` is the object's address,
    ``i_data`` the address_space embedded in it (``inode->i_data``; ``i_mapping`` points at it
    for a file with a page cache), ``i_lru`` whether it is on its superblock's inode LRU."""

    __slots__ = ("i_addr", "i_data", "i_lru", "i_cache", "i_nid", "i_boot")

    def __init__(self, sb: SuperBlock):
        super().__init__(sb)
        self.i_addr = 0
        self.i_data: Optional[AddressSpace] = None
        self.i_lru = False
        self.i_cache: Optional["InodeCache"] = None
        self.i_nid = 0                      # the node of its slab page (its list_lru node)
        self.i_boot = False                 # a boot-time inode without a slab object


def clear_inode(inode: SlabInode) -> None:
    """clear_inode(): BUG_ON(inode->i_data.nrpages) — and, before v5.13 (the mapping keeps
    nrexceptional), BUG_ON(inode->i_data.nrexceptional) — then I_FREEING | I_CLEAR.  A
    shadow-only mapping is legal here only on a v5.13+ kernel after a final truncate that did
    not run (the kernel no longer asserts mapping_empty())."""
    mapping = inode.i_data
    if mapping is not None:
        if mapping.nrpages:
            raise InodeBug(f"clear_inode({inode!r}): kernel BUG: {mapping.nrpages} pages still cached "
                           "(BUG_ON(inode->i_data.nrpages)); the final truncate must remove them")
        if mapping.keep_nrexceptional and mapping.nrexceptional:
            raise InodeBug(f"clear_inode({inode!r}): kernel BUG: {mapping.nrexceptional} exceptional "
                           "entries left (BUG_ON(inode->i_data.nrexceptional), before v5.13)")
    inode.i_state |= I_FREEING | I_CLEAR


def mapping_shrinkable(mapping: Optional[AddressSpace]) -> bool:
    """mapping_shrinkable() (include/linux/pagemap.h, v5.16+): no entry at all, or only a value
    entry at index 0 (kept in the XArray's head, where the shadow-node shrinker cannot reach
    it)."""
    if mapping is None or mapping.mapping_empty():
        return True
    if mapping.nrpages == 0 and len(mapping.i_pages) == 1:
        return mapping.i_pages.get(0, 0) < 0
    return False


class SuperInodes:
    """One superblock's inode side: its inode LRU (``s_inode_lru``, a list_lru: one list per
    node, the node of the inode's slab page, oldest first), the unused inodes kept off it
    (v5.16+: their mapping is not shrinkable yet) and its shrinker (``sb-<type>``, NUMA aware:
    a shrink of node N counts and walks node N's list)."""

    def __init__(self, cache: "InodeCache", sb: SuperBlock):
        self.cache = cache
        self.sb = sb
        self.lrus: Dict[int, "OrderedDict[int, SlabInode]"] = {}
        self.off_lru: Dict[int, SlabInode] = {}
        self.shrinker = None
        self.dying = False                  # SB_ACTIVE cleared: generic_shutdown_super() runs

    # -- the LRU (inode_lru_list_add / _del) -----------------------------------------------
    def lru_add(self, inode: SlabInode, rotate: bool = True) -> None:
        """__inode_lru_list_add(): an unused inode (no reference, not being freed) goes to the
        LRU's tail; one already there is marked I_REFERENCED (one more pass).  From v5.16 an
        inode whose mapping still holds pages or shadow nodes stays off it."""
        if inode.i_count or inode.i_state & I_FREEING:
            return
        if self.cache.lru_needs_shrinkable and not mapping_shrinkable(inode.i_data):
            self.off_lru[id(inode)] = inode
            return
        self.off_lru.pop(id(inode), None)
        if inode.i_lru:
            if rotate:
                inode.i_state |= I_REFERENCED
            return
        self.lrus.setdefault(inode.i_nid, OrderedDict())[id(inode)] = inode
        inode.i_lru = True
        self.cache.inodes_stat.nr_unused += 1

    def lru_del(self, inode: SlabInode) -> None:
        """inode_lru_list_del()."""
        self.off_lru.pop(id(inode), None)
        if inode.i_lru:
            del self.lrus[inode.i_nid][id(inode)]
            inode.i_lru = False
            self.cache.inodes_stat.nr_unused -= 1

    @property
    def lru(self) -> "OrderedDict[int, SlabInode]":
        """Every node's list, node by node (for tests and messages)."""
        out: "OrderedDict[int, SlabInode]" = OrderedDict()
        for nid in sorted(self.lrus):
            out.update(self.lrus[nid])
        return out

    def requeue(self) -> None:
        """What the v5.16+ kernel does when a kept inode's last page or shadow node leaves its
        cache (inode_add_lru() from filemap_remove_folio(), __remove_mapping(),
        shadow_lru_isolate()): unused inodes whose mapping became shrinkable join the LRU."""
        for inode in list(self.off_lru.values()):
            if inode.i_count or inode.i_state & I_FREEING:
                del self.off_lru[id(inode)]
            elif mapping_shrinkable(inode.i_data):
                self.lru_add(inode, rotate=False)

    # -- the shrinker (fs/super.c) ---------------------------------------------------------
    def count(self, sc) -> int:
        """super_cache_count(): the unused dentries and inodes (vfs_pressure_ratio() at the
        default vfs_cache_pressure 100); SHRINK_EMPTY when there are none.  Reclaim asks it
        at every shrink_slab, so it only reads two list lengths."""
        if self.off_lru and self.cache.lru_needs_shrinkable:
            self.requeue()
        nid = sc.nid
        inodes = self.lrus.get(nid)
        dentries = self.sb.s_dentry_lru.get(nid)
        total = (len(inodes) if inodes else 0) + (len(dentries) if dentries else 0)
        return total if total else PY_SHRINK_EMPTY

    def dentry_count(self, nid: int) -> int:
        """list_lru_shrink_count() of the superblock's dentry LRU on node ``nid`` (memsim.dcache;
        none for a superblock whose dentries pin themselves)."""
        return len(self.sb.s_dentry_lru.get(nid, ()))

    def scan(self, sc) -> int:
        """super_cache_scan(): SHRINK_STOP without __GFP_FS; the scan split between the dentry
        and inode LRUs in proportion to their sizes, each getting at least one (prune_dcache_sb
        first, as dentries pin inodes; then prune_icache_sb)."""
        if not sc.gfp_mask & GFP_FS:
            return PY_SHRINK_STOP
        from memsim.dcache import prune_dcache_sb
        inodes = len(self.lrus.get(sc.nid, ()))
        dentries = self.dentry_count(sc.nid)
        total = dentries + inodes + 1
        nr = sc.nr_to_scan
        freed = prune_dcache_sb(self.sb, nr * dentries // total + 1, sc.nid)
        freed += self.prune_icache_sb(nr * inodes // total + 1, sc.nid)
        return freed

    def prune_icache_sb(self, nr_to_scan: int, nid: int = 0) -> int:
        """prune_icache_sb(): list_lru_shrink_walk() of node ``nid``'s inode LRU with
        inode_lru_isolate(), then dispose_list(): evict every inode isolated.  Returns the
        inodes freed."""
        freeable = []
        isolate = self.cache.inode_lru_isolate
        lru = self.lrus.get(nid)
        while nr_to_scan > 0 and lru:
            nr_to_scan -= 1                 # list_lru_walk_one counts every item it looks at
            inode = next(iter(lru.values()))
            ret = isolate(self, inode, freeable)
            if ret == LRU_ROTATE:
                lru.move_to_end(id(inode))
        for inode in freeable:
            self.cache.evict(inode)
        return len(freeable)


class InodeCache:
    """The inode side of one filesystem type: a slab cache of inodes and what fs/inode.c does
    with them.

    ``machine``: the machine (its slab allocator, MmCore, vmstat, shrinkers);
    ``cache``: ``"inode_cache"`` or ``"shmem_inode_cache"``; ``inode_class``: the
    :class:`SlabInode` subclass to build (shmem's keeps its seals and block counts);
    ``alloc_site`` / ``free_site``: the kernel functions that call kmem_cache_alloc/_free
    (the traces' call_site); ``swapbacked``: the mappings are shmem's (mapping_swap_backed);
    ``evict_inode(inode)``: the filesystem's ``->evict_inode``, which must leave no page cached
    and call :func:`clear_inode` (None: truncate_inode_pages_final() + clear_inode(), evict()'s
    default); ``drop_inode(inode) -> bool``: ``->drop_inode`` (None: generic_drop_inode(),
    i_nlink == 0).  The superblock's shrinker prunes its unused dentries first (the dentry LRU
    of memsim.dcache, for a superblock built with one: a filesystem whose dentries pin their
    inodes, as tmpfs's do, has none).

    Filesystems create inodes with :meth:`new_inode` (or ``sb.new_inode`` and then
    :meth:`init_mapping`)."""

    def __init__(self, machine: Any, cache: str, *, inode_class: type = SlabInode,
                 alloc_site: str = "alloc_inode", free_site: str = "free_inode_nonrcu",
                 swapbacked: bool = False,
                 evict_inode: Optional[Callable[[SlabInode], None]] = None,
                 drop_inode: Optional[Callable[[SlabInode], bool]] = None):
        if not issubclass(inode_class, SlabInode):
            raise TypeError(f"InodeCache: inode_class must be a SlabInode subclass, not {inode_class!r}")
        self.machine = machine
        self.core = machine.mmcore
        self.cache = cache
        self.inode_class = inode_class
        self.alloc_site = alloc_site
        self.free_site = free_site
        self.swapbacked = swapbacked
        self.fs_evict_inode = evict_inode
        self.fs_drop_inode = drop_inode
        #: v5.16+: only inodes with a shrinkable mapping are on the LRU (see the module doc)
        self.lru_needs_shrinkable = LRU_NEEDS_SHRINKABLE[machine.profile]
        #: the mappings keep nrexceptional (the no-nrexceptional seed change is off)
        self.keep_nrexceptional = bool(machine.boot.slab.nrexceptional)
        self.supers: Dict[int, SuperInodes] = {}
        self.nr_inodes = 0                  # allocated and not yet destroyed (nr_inodes)
        #: the machine's inodes_stat (/proc/sys/fs/inode-nr): every slab inode of every cache
        vfs = getattr(machine, "vfs", None)
        self.inodes_stat = vfs.inodes_stat if vfs is not None else InodesStat()

    # -- the superblock's side --------------------------------------------------------------
    def super_operations(self) -> SuperOperations:
        """The :class:`SuperOperations` of a superblock whose inodes come from this cache."""
        return SuperOperations(alloc_inode=self.alloc_inode, destroy_inode=self.destroy_inode,
                               evict_inode=self.evict_inode, drop_inode=self.drop_inode)

    def super_inodes(self, sb: SuperBlock) -> SuperInodes:
        """The superblock's inode LRU and shrinker, made (and the shrinker registered, as
        alloc_super() does) the first time the superblock allocates an inode."""
        st = self.supers.get(id(sb))
        if st is None:
            st = self.supers[id(sb)] = SuperInodes(self, sb)
            st.shrinker = self._register_shrinker(st)
        return st

    def _register_shrinker(self, st: SuperInodes):
        """alloc_super(): shrinker "sb-<type>" (v6.18 shrinker_alloc(SHRINKER_NUMA_AWARE |
        SHRINKER_MEMCG_AWARE, "sb-%s")), seeks DEFAULT_SEEKS, batch 1024, super_cache_scan."""
        shrinkers = getattr(self.machine, "shrinkers", None)
        if shrinkers is None:
            return None
        from memsim.shrinker import Shrinker
        flags = SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE
        name = f"sb-{st.sb.s_type.name}"
        if shrinkers.api == "shrinker_alloc":
            s = shrinkers.shrinker_alloc_py(flags, name, st.count, st.scan, DEFAULT_SEEKS,
                                            SUPER_SHRINK_BATCH, "super_cache_scan")
        else:
            s = Shrinker(st.count, st.scan, DEFAULT_SEEKS, SUPER_SHRINK_BATCH, flags, name,
                         "super_cache_scan")
        shrinkers.register(s)
        return s

    # -- alloc / destroy ---------------------------------------------------------------------
    @staticmethod
    @contextmanager
    def booting(machine: Any) -> Iterator[None]:
        """Inodes allocated inside this block are the machine's boot-time objects (the boot
        disk's root): a booted kernel has them in its caches long before any trace starts, and
        memsim, which models none of a booted kernel's slab objects, takes no slab object for
        them (their i_data gets an address of its own all the same)."""
        state = machine.plugin_state
        state["pagecache.booting"] = state.get("pagecache.booting", 0) + 1
        try:
            yield
        finally:
            state["pagecache.booting"] -= 1

    def alloc_inode(self, sb: SuperBlock) -> SlabInode:
        """alloc_inode() -> ``->alloc_inode`` (shmem_alloc_inode()) or alloc_inode_sb(sb,
        inode_cachep, GFP_KERNEL): the object from the slab cache; i_data inside it
        (inode_init_always(): ``i_mapping = &i_data``, ``mapping->host = inode``)."""
        self.super_inodes(sb)
        slab = self.machine.slab
        if self.machine.plugin_state.get("pagecache.booting"):
            slab = None                     # a boot-time object: not a modelled slab object
        if slab is not None:
            addr = slab.cache_alloc(self.cache, GFP_KERNEL, self.alloc_site)
            if not addr:
                from memsim.vfs import VfsError
                raise VfsError("ENOMEM", f"no memory for an inode ({self.cache})")
        else:                               # no slab allocator, or a boot-time inode
            n = self.machine.plugin_state.get("pagecache.fake_inodes", 0) + 1
            self.machine.plugin_state["pagecache.fake_inodes"] = n    # unique in the machine
            addr = 0xffff888300000000 + n * 0x400
        inode = self.inode_class(sb)
        inode.i_addr = addr
        inode.i_cache = self
        inode.i_boot = slab is None and self.machine.slab is not None
        if slab is not None:
            inode.i_nid = self.machine.physmem.page_info(slab.object_info(addr)["slab_pfn"])["node"]
        mapping = AddressSpace(0, "", self.swapbacked, sb.s_dev, 0, self.keep_nrexceptional)
        mapping.addr = addr + I_DATA_OFFSET
        mapping.host = inode
        inode.i_data = mapping
        self.nr_inodes += 1
        if not inode.i_boot:
            self.inodes_stat.nr_inodes += 1
        return inode

    def init_mapping(self, inode: SlabInode, name: str = "") -> AddressSpace:
        """After new_inode() numbered the inode: its i_data learns the number and a name (for
        messages), and a regular file's ``i_mapping`` is it."""
        mapping = inode.i_data
        mapping.i_ino = inode.i_ino
        mapping.name = name
        if inode.is_reg:
            inode.i_mapping = mapping
        return mapping

    def new_inode(self, sb: SuperBlock, mode: int, i_op=None, i_fop=None, name: str = "",
                  private: Any = None) -> SlabInode:
        """new_inode() of ``sb`` (whose ``s_op`` is this cache's) plus :meth:`init_mapping`."""
        from memsim.vfs import FileOperations, InodeOperations
        inode = sb.new_inode(mode, i_op if i_op is not None else InodeOperations(),
                             i_fop if i_fop is not None else FileOperations(), private)
        self.init_mapping(inode, name)
        return inode

    def destroy_inode(self, inode: SlabInode) -> None:
        """destroy_inode(): the mapping leaves the page->mapping table (Rmap.unregister_mapping,
        which refuses a mapping still holding pages), and call_rcu(i_callback) frees the object
        after a grace period (``->free_inode`` / free_inode_nonrcu(): MmCore.call_rcu), so
        /proc/slabinfo still counts it until then."""
        if inode.i_lru:
            raise InodeBug(f"destroy_inode({inode!r}): kernel BUG: still on the inode LRU")
        if inode.i_data is not None:
            try:
                self.core.rmap.unregister_mapping(inode.i_data)
            except ValueError as e:
                raise InodeBug(f"destroy_inode({inode!r}): {e}") from None
        if self.machine.slab is not None and inode.i_addr and not inode.i_boot:
            slab, cache, addr, site = self.machine.slab, self.cache, inode.i_addr, self.free_site

            def i_callback() -> None:
                slab.cache_free(cache, addr, site)
            self.core.call_rcu(i_callback)
        inode.i_addr = 0
        self.nr_inodes -= 1
        if not inode.i_boot:
            self.inodes_stat.nr_inodes -= 1

    # -- evict, iput_final ------------------------------------------------------------------
    def evict_inode(self, inode: SlabInode) -> None:
        """evict(): off the LRU (iput_final()'s inode_lru_list_del()), then the filesystem's
        ``->evict_inode``, or truncate_inode_pages_final() + clear_inode()."""
        st = self.supers.get(id(inode.i_sb))
        if st is not None:
            st.lru_del(inode)
        if self.fs_evict_inode is not None:
            self.fs_evict_inode(inode)
            if not inode.i_state & I_CLEAR:
                raise InodeBug(f"evict({inode!r}): kernel BUG: ->evict_inode did not clear_inode()")
            return
        if inode.i_data is not None:
            self.truncate_inode_pages_final(inode.i_data)
        clear_inode(inode)

    def truncate_inode_pages_final(self, mapping: AddressSpace) -> int:
        """truncate_inode_pages_final() of the core (AS_EXITING, then every page and shadow)."""
        return self.core.truncate_inode_pages_final(mapping)

    def drop_inode(self, inode: SlabInode) -> bool:
        """iput_final(): ``->drop_inode`` or generic_drop_inode() (no name left: evict now);
        an inode kept goes on its superblock's LRU (inode_add_lru())."""
        st = self.super_inodes(inode.i_sb)
        drop = self.fs_drop_inode(inode) if self.fs_drop_inode is not None else inode.i_nlink == 0
        if st.dying:                        # iput_final(): !(sb->s_flags & SB_ACTIVE): evict
            return True
        if not drop:
            st.lru_add(inode)
        return drop

    def evict(self, inode: SlabInode) -> None:
        """dispose_list()'s evict() of an inode the shrinker isolated (I_FREEING is set)."""
        from memsim.vfs import evict
        evict(inode)

    def kill_sb(self, sb: SuperBlock) -> None:
        """generic_shutdown_super() after the filesystem dropped its dentries: SB_ACTIVE goes
        (an inode whose last reference goes now is evicted at once), evict_inodes() evicts every
        unused inode, and the superblock's shrinker is freed (shrinker_free /
        unregister_shrinker).  Inodes still referenced (a mapping that outlived the mount) go
        at their last iput()."""
        from memsim.vfs import evict
        st = self.super_inodes(sb)
        st.dying = True
        for inode in sb.inodes():
            if inode.i_count or inode.i_state & I_FREEING:
                continue
            inode.i_state |= I_FREEING
            st.lru_del(inode)
            evict(inode)
        if st.shrinker is not None:
            self.machine.shrinkers.unregister(st.shrinker)
            st.shrinker = None

    # -- the shrinker's walk --------------------------------------------------------------------
    def inode_lru_isolate(self, st: SuperInodes, inode: SlabInode, freeable: list) -> int:
        """inode_lru_isolate(): an inode in use again (i_count) or, from v5.16, whose mapping is
        not shrinkable any more leaves the LRU; I_REFERENCED gets one more pass (rotate); an
        inode with pages (v5.14: ``nrpages``; v5.16+: not mapping_empty()) has them invalidated
        (invalidate_mapping_pages(): clean unmapped pages go, shadows are cleared; counted in
        kswapd_inodesteal under kswapd, pginodesteal otherwise) and is retried; any other is
        isolated for eviction (I_FREEING)."""
        mapping = inode.i_data
        if inode.i_count or inode.i_state & ~I_REFERENCED or \
                (self.lru_needs_shrinkable and not mapping_shrinkable(mapping)):
            st.lru_del(inode)
            if not inode.i_count and not inode.i_state & I_FREEING:
                st.off_lru[id(inode)] = inode      # "the last page cache deletion will requeue"
            return LRU_REMOVED
        if inode.i_state & I_REFERENCED:
            inode.i_state &= ~I_REFERENCED
            return LRU_ROTATE
        busy = mapping is not None and (not mapping.mapping_empty() if self.lru_needs_shrinkable
                                        else mapping.nrpages > 0)
        if busy:
            reap = self.core.invalidate_mapping_pages(mapping, 0)
            self._count_inodesteal(reap)
            if not self.lru_needs_shrinkable:
                # v5.14: __iget() ... iput(): the iput of an inode still on the LRU marks it
                # I_REFERENCED (inode_lru_list_add()), so the retry rotates it
                inode.i_state |= I_REFERENCED
            return LRU_RETRY
        inode.i_state |= I_FREEING
        st.lru_del(inode)
        freeable.append(inode)
        return LRU_REMOVED

    def _count_inodesteal(self, reap: int) -> None:
        if not reap:
            return
        from memsim.vmstat import vm_event_item
        task = self.machine.current.task
        kswapd = task is not None and task in getattr(self.machine, "kswapds", ())
        item = vm_event_item.KSWAPD_INODESTEAL if kswapd else vm_event_item.PGINODESTEAL
        self.machine.physmem.vmstat.count_vm_events(int(item), reap)


def inode_cache_for(inode: Inode) -> Optional[InodeCache]:
    """The :class:`InodeCache` an inode came from (None: not a slab inode)."""
    return inode.i_cache if isinstance(inode, SlabInode) else None
