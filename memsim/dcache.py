"""The dentry cache's unused dentries (fs/dcache.c): references, the per-superblock dentry LRU,
its pruning, the ``dentry`` slab objects and /proc/sys/fs/dentry-state.

A superblock opts in by being built with ``SuperBlock(..., dcache=machine.vfs.dcache)``: its
dentries (other than the root) are then objects of the ``dentry`` slab cache (``__d_alloc``:
kmem_cache_alloc(dentry_cache, GFP_KERNEL)) that count references (``d_count``:
``d_lockref.count``).  The dentry of a name holds a reference to its inode and to its parent
directory; an open file holds its dentry, and so does a VMA mapping the file (the inode's
``i_dentry``: memsim.vm.vma_get_file); a mount holds its mount point.  When the last
reference goes (:func:`dput`) a dentry still reachable by name (hashed) stays cached with no
user: it goes on its superblock's dentry LRU (``s_dentry_lru``, a list_lru with one list per
node, the node of the dentry's slab page; ``d_lru_add``: ``nr_dentry_unused`` + 1) or, already
there, is marked DCACHE_REFERENCED (retain_dentry()).  An unhashed one (its name was unlinked
while it was in use) is killed then (dentry_kill()).  :func:`prune_dcache_sb` is the
superblock shrinker's first half (super_cache_scan() -> prune_dcache_sb(): list_lru_shrink_walk
with dentry_lru_isolate(), then shrink_dentry_list()): a dentry in use again leaves the LRU, a
referenced one gets one more pass, the others are killed: the name leaves its directory's
cache, the inode loses the dentry's reference (iput(): an unused inode with a name goes on the
inode LRU, for the filesystem's ``prune_icache_sb`` to evict), the object is freed after an RCU
grace period (dentry_free() -> call_rcu(__d_free): MmCore.call_rcu), and the parent loses a reference (a parent
left unused is killed in the same walk, as shrink_dentry_list() does).  A later lookup of the
name asks the filesystem again (``->lookup``, which reads the inode back: iget()).

The superblocks of rootfs, procfs, sysfs, tmpfs and the other in-memory filesystems keep the
kernel's pinned dentries (ramfs's "extra count - pin the dentry in core"): they never reach the
LRU, and memsim does not model them as slab objects (as it models none of the objects a booted
kernel already has), so ``dget``/``dput`` leave them alone.

The path walk allocates the dentry of a name the cache lacks before it asks the filesystem
(``SuperBlock.d_alloc_parallel``: lookup_slow(), lookup_open()), so a dentry's object comes
before the inode ``->lookup`` or ``->create`` makes, and that one dentry is instantiated.

Not modelled: negative dentries (the dentry of a failed lookup is freed when the system call
ends, and the unlink of an unused name kills its dentry, where the kernel keeps both negative
on the LRU: ``nr_negative`` is 0), dentry
names too long for the inline name (the kernel kmallocs an external_name for them),
d_op->d_delete and DCACHE_DONTCACHE.

Policy, not a hot path: nothing here runs per page.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, List

from memsim.profiles import GFP_KERNEL  # __d_alloc()'s kmem_cache_alloc(_lru)

if TYPE_CHECKING:                                   # pragma: no cover
    from memsim.vfs import Dentry, SuperBlock

__all__ = ["Dcache", "dget", "dput", "prune_dcache_sb", "shrink_dcache_sb", "d_unhashed",
           "DCACHE_REFERENCED", "DCACHE_LRU_LIST", "DENTRY_CACHE", "dentry_state_text"]

#: d_flags bits (include/linux/dcache.h)
DCACHE_REFERENCED = 0x00000040
DCACHE_LRU_LIST = 0x00080000
#: The slab cache of dentries (dcache_init(): KMEM_CACHE_USERCOPY(dentry, ...))
DENTRY_CACHE = "dentry"
#: dentry_stat.age_limit (fs/dcache.c): 45 seconds, printed, never used
AGE_LIMIT = 45

# list_lru walk results (include/linux/list_lru.h)
LRU_REMOVED, LRU_ROTATE = 0, 1


class Dcache:
    """The machine's dentry cache: the ``dentry`` slab cache (the machine's slab allocator, or
    none: then dentries have made-up addresses), ``nr_dentry`` (dentries allocated and not yet
    freed) and ``nr_unused`` (on a dentry LRU: ``nr_dentry_unused``)."""

    def __init__(self, machine: Any = None):
        self.machine = machine
        self.nr_dentry = 0
        self.nr_unused = 0
        self._fake = 0

    # -- the slab objects (__d_alloc, dentry_free) --------------------------------------------
    def d_alloc_object(self, dentry: "Dentry") -> None:
        """__d_alloc(): the dentry's object from the ``dentry`` cache (ENOMEM when it cannot be
        had); its node is that of the slab page (the list_lru node it will go on)."""
        slab = getattr(self.machine, "slab", None)
        if slab is not None:
            addr = slab.cache_alloc(DENTRY_CACHE, GFP_KERNEL, "__d_alloc")
            if not addr:
                from memsim.vfs import VfsError
                raise VfsError("ENOMEM", "no memory for a dentry")
            dentry.d_addr = addr
            dentry.d_nid = self.machine.physmem.page_info(slab.object_info(addr)["slab_pfn"])["node"]
        else:
            self._fake += 1
            dentry.d_addr = 0xffff888400000000 + self._fake * 0xc0
        self.nr_dentry += 1

    def dentry_free(self, dentry: "Dentry") -> None:
        """dentry_free(): the object goes back to its cache after an RCU grace period (a
        dentry that was hashed was visible to RCU walkers: call_rcu(__d_free))."""
        addr = dentry.d_addr
        dentry.d_addr = 0
        self.nr_dentry -= 1
        slab = getattr(self.machine, "slab", None)
        if slab is None or not addr:
            return

        def __d_free() -> None:
            slab.cache_free(DENTRY_CACHE, addr, "__d_free")
        self.machine.mmcore.call_rcu(__d_free)

    # -- the LRU (d_lru_add, d_lru_del) -----------------------------------------------------
    def d_lru_add(self, dentry: "Dentry") -> None:
        dentry.d_flags |= DCACHE_LRU_LIST
        self.nr_unused += 1
        dentry.d_sb.s_dentry_lru.setdefault(dentry.d_nid, OrderedDict())[id(dentry)] = dentry

    def d_lru_del(self, dentry: "Dentry") -> None:
        dentry.d_flags &= ~DCACHE_LRU_LIST
        self.nr_unused -= 1
        del dentry.d_sb.s_dentry_lru[dentry.d_nid][id(dentry)]

    def state(self) -> List[int]:
        """dentry_stat as proc_nr_dentry() fills it: nr_dentry, nr_unused, age_limit,
        want_pages, nr_negative, dummy."""
        return [self.nr_dentry, self.nr_unused, AGE_LIMIT, 0, 0, 0]


def d_unhashed(dentry: "Dentry") -> bool:
    """d_unhashed(): the name no longer leads to this dentry (it left its directory's cache)."""
    return not dentry.is_root and dentry.d_parent.d_subdirs.get(dentry.d_name) is not dentry


def dget(dentry: "Dentry") -> "Dentry":
    """dget(): one more reference (a pinned dentry of a filesystem without a dentry LRU: none
    is counted)."""
    if dentry.d_sb.s_dcache is not None:
        dentry.d_count += 1
    return dentry


def dput(dentry: "Dentry") -> None:
    """dput(): drop a reference; at the last one a hashed dentry is kept on the LRU (or marked
    referenced there: retain_dentry()) and an unhashed one is killed (dentry_kill()), which
    may leave its parent unused in turn."""
    dcache = dentry.d_sb.s_dcache
    if dcache is None:
        return
    while dentry is not None:
        if dentry.d_count <= 0:
            raise AssertionError(f"dput() of {dentry!r} with no reference")
        dentry.d_count -= 1
        if dentry.d_count:
            return
        if dentry.is_root or not d_unhashed(dentry):
            if not dentry.d_flags & DCACHE_LRU_LIST:
                dcache.d_lru_add(dentry)
            else:
                dentry.d_flags |= DCACHE_REFERENCED
            return
        dentry = _dentry_kill(dcache, dentry)


def _dentry_kill(dcache: Dcache, dentry: "Dentry"):
    """__dentry_kill(): off the LRU, out of the directory's cache (__d_drop, dentry_unlist),
    the inode's reference dropped (dentry_unlink_inode() -> iput()), the object freed
    (dentry_free()); returns the parent, whose reference the dentry held (None for a root)."""
    from memsim.vfs import iput
    if dentry.d_flags & DCACHE_LRU_LIST:
        dcache.d_lru_del(dentry)
    parent = None if dentry.is_root else dentry.d_parent
    if parent is not None and parent.d_subdirs.get(dentry.d_name) is dentry:
        del parent.d_subdirs[dentry.d_name]
    if parent is not None and dentry.d_inode is None:      # never instantiated (in lookup)
        key = (id(parent), dentry.d_name)
        if dentry.d_sb.s_in_lookup.get(key) is dentry:
            del dentry.d_sb.s_in_lookup[key]
    inode = dentry.d_inode
    dentry.d_inode = None
    if inode is not None and inode.i_dentry is dentry:
        inode.i_dentry = None                       # hlist_del_init(&dentry->d_u.d_alias)
    if inode is not None and inode.i_count > 0:
        iput(inode)
    dcache.dentry_free(dentry)
    return parent


def dentry_lru_isolate(dcache: Dcache, dentry: "Dentry", dispose: list) -> int:
    """dentry_lru_isolate(): a dentry in use again leaves the LRU (it comes back at its last
    dput); a referenced one loses the mark and rotates; any other moves to the dispose list."""
    if dentry.d_count:
        dcache.d_lru_del(dentry)
        return LRU_REMOVED
    if dentry.d_flags & DCACHE_REFERENCED:
        dentry.d_flags &= ~DCACHE_REFERENCED
        return LRU_ROTATE
    dcache.d_lru_del(dentry)
    dispose.append(dentry)
    return LRU_REMOVED


def prune_dcache_sb(sb: "SuperBlock", nr_to_scan: int, nid: int = 0) -> int:
    """prune_dcache_sb(): list_lru_shrink_walk() of node ``nid``'s dentry LRU of ``sb`` (at most
    ``nr_to_scan`` dentries looked at, oldest first) with dentry_lru_isolate(), then
    shrink_dentry_list(): every dentry isolated is killed, and each parent left unused with it.
    Returns the dentries the walk removed from the LRU (what list_lru_walk counts as freed)."""
    dcache = sb.s_dcache
    if dcache is None:
        return 0
    lru = sb.s_dentry_lru.get(nid)
    dispose: list = []
    freed = 0
    while nr_to_scan > 0 and lru:
        nr_to_scan -= 1
        dentry = next(iter(lru.values()))
        if dentry_lru_isolate(dcache, dentry, dispose) == LRU_ROTATE:
            lru.move_to_end(id(dentry))
        else:
            freed += 1
    shrink_dentry_list(dcache, dispose)
    return freed


def shrink_dentry_list(dcache: Dcache, dispose: list) -> None:
    """shrink_dentry_list(): kill each dentry still unused; a parent whose last reference that
    drops is killed too (v5.14 __dput_to_list(), v6.8+ shrink_kill())."""
    for dentry in dispose:
        if dentry.d_count:
            continue
        parent = _dentry_kill(dcache, dentry)
        while parent is not None:
            parent.d_count -= 1
            if parent.d_count or parent.is_root:
                break
            parent = _dentry_kill(dcache, parent)


def shrink_dcache_sb(sb: "SuperBlock") -> int:
    """shrink_dcache_sb(): prune every unused dentry of ``sb``, node by node, until none is
    left (generic_shutdown_super()'s shrink_dcache_for_umount() for the unused ones)."""
    total = 0
    while any(sb.s_dentry_lru.values()):
        for nid in sorted(sb.s_dentry_lru):
            lru = sb.s_dentry_lru[nid]
            for d in lru.values():
                d.d_flags &= ~DCACHE_REFERENCED
            total += prune_dcache_sb(sb, len(lru), nid)
    return total


def dentry_state_text(machine: Any) -> str:
    """/proc/sys/fs/dentry-state: proc_doulongvec_minmax of dentry_stat, six longs separated by
    tabs (probed on the 6.18 VM: ``210975\\t208736\\t45\\t0\\t79800\\t0``; v5.14 prints the same
    six fields)."""
    return "\t".join(str(v) for v in machine.vfs.dcache.state()) + "\n"


def inode_nr_text(machine: Any) -> str:
    """/proc/sys/fs/inode-nr: nr_inodes and nr_unused (the inodes on an inode LRU), tab
    separated (the first two longs of inodes_stat, proc_nr_inodes())."""
    st = machine.vfs.inodes_stat
    return f"{st.nr_inodes}\t{st.nr_unused}\n"


def inode_state_text(machine: Any) -> str:
    """/proc/sys/fs/inode-state: inodes_stat's seven longs (nr_inodes, nr_unused, dummy[5])."""
    st = machine.vfs.inodes_stat
    return "\t".join(str(v) for v in (st.nr_inodes, st.nr_unused, 0, 0, 0, 0, 0)) + "\n"


class InodesStat:
    """inodes_stat (fs/inode.c): ``nr_inodes`` (the per-CPU nr_inodes: inodes allocated from a
    slab cache and not yet destroyed) and ``nr_unused`` (on an inode LRU), kept by the
    filesystems whose inodes are slab objects (memsim.plugins.pagecache.inode)."""

    def __init__(self):
        self.nr_inodes = 0
        self.nr_unused = 0
