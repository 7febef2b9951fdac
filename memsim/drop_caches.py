"""``/proc/sys/vm/drop_caches`` (fs/drop_caches.c): drop the clean page cache (1), the slab
caches' freeable objects through the shrinkers (2), both (3); bit 4 silences the kernel's
message from the next write on.

The write is drop_caches_sysctl_handler(): proc_dointvec_minmax into ``sysctl_drop_caches``
(1..4: SYSCTL_ONE, SYSCTL_FOUR; a zero-length write keeps the old value, and the handler still
runs with it), then

* bit 1: lru_add_drain_all() (v6.5+: on v5.14 a page still in a CPU's lru_add pagevec holds
  that reference, so it stays cached), drop_pagecache_sb() of every superblock — for every inode with
  pages, newest first (inode_sb_list_add puts new inodes at the head of s_inodes),
  invalidate_mapping_pages(mapping, 0, -1) (:func:`memsim.truncate.invalidate_mapping_pages`) —
  and the ``drop_pagecache`` vm event;
* bit 2: drop_slab() (:meth:`memsim.shrinker.ShrinkerList.drop_slab`: v5.14 loops per node,
  v6.18 over all nodes) and ``drop_slab``;
* unless silenced, ``pr_info("%s (%d): drop_caches: %d\\n", comm, pid, value)``, then the
  silence is ``stfu |= value & 4``.

The inodes are those of every superblock (a filesystem's files, whose pages are in their
mappings' i_pages whatever their a_ops; shmem pages are always dirty, so drop_caches never
frees them).  The file is mode 0200: even root cannot read it (EACCES).  Probed on the 6.18 VM:
tests/core/probes/drop_caches.c.
"""
from __future__ import annotations

from typing import List

from memsim.profiles import ProfileTable

#: drop_slab()'s loop: per node (v5.14's drop_slab_node) or over all nodes at once (v6.18)
DROP_SLAB_PER_NODE = ProfileTable("drop_caches.drop_slab_per_node", {"v5.14": True, "v6.18": False})
#: drop_caches drains the per-CPU LRU batches first ("fs: drop_caches: draining pages before
#: dropping caches", 6.5)
DRAIN_FIRST = ProfileTable("drop_caches.drain_first", {"v5.14": False, "v6.18": True})
#: the table's extra2: SYSCTL_FOUR in both kernels (the 6.18 VM's vendor kernel takes up to 63)
DROP_CACHES_MAX = ProfileTable("drop_caches.max", {"v5.14": 4, "v6.18": 4})
#: inode->i_state bits drop_pagecache_sb() skips besides I_FREEING (include/linux/fs.h)
I_WILL_FREE = 1 << 4
I_NEW = 1 << 3


class DropCaches:
    """The sysctl's state: ``sysctl_drop_caches`` (the last value written), ``stfu`` (the
    message is silenced) and ``log``, the kernel messages it printed (the ``pr_info`` lines)."""

    def __init__(self):
        self.value = 0
        self.stfu = 0
        self.log: List[str] = []

    def drop_pagecache(self, machine) -> int:
        """iterate_supers(drop_pagecache_sb): every superblock, oldest first
        (``machine.vfs.super_blocks``), every inode of it newest first (``s_inodes``), skipping
        one being freed (I_FREEING, I_WILL_FREE, I_NEW) or whose mapping has no pages (nrpages
        == 0: a shadow-only inode keeps its shadows, pagecache.md scenario 15), and
        invalidate_mapping_pages(mapping, 0, -1) on the others.  Returns the pages dropped."""
        from memsim.truncate import invalidate_mapping_pages
        from memsim.vfs import I_FREEING
        dropped = 0
        for sb in list(machine.vfs.super_blocks):
            for inode in sb.inodes():
                mapping = inode.i_mapping
                if mapping is None or inode.i_state & (I_FREEING | I_WILL_FREE | I_NEW) \
                        or mapping.nrpages == 0:
                    continue                        # nrpages == 0: skipped, shadows and all
                dropped += invalidate_mapping_pages(machine.mmcore, mapping)
        return dropped

    def write(self, machine, data: bytes) -> int:
        """drop_caches_sysctl_handler() for a write of ``data``; returns the bytes taken."""
        from memsim.pseudofs import proc_dointvec_minmax
        from memsim.vmstat import ITEM_BY_NAME
        took = 0
        if data:
            self.value, took = proc_dointvec_minmax(data, 1, DROP_CACHES_MAX[machine.profile])
        vs = machine.physmem.vmstat
        if self.value & 1:
            if DRAIN_FIRST[machine.profile]:
                machine.physmem.lru_add_drain_py(True)   # lru_add_drain_all()
            self.drop_pagecache(machine)
            vs.count_vm_events(ITEM_BY_NAME["drop_pagecache"][1], 1)
        if self.value & 2:
            machine.shrinkers.drop_slab(DROP_SLAB_PER_NODE[machine.profile])
            vs.count_vm_events(ITEM_BY_NAME["drop_slab"][1], 1)
        if not self.stfu:
            pid = machine.current.pid
            self.log.append(f"{machine.comms.get(pid, '?')} ({pid}): drop_caches: {self.value}")
        self.stfu |= self.value & 4
        return took


def drop_caches_store(machine, data: bytes) -> int:
    """The /proc/sys/vm/drop_caches write (ProcFile.write)."""
    return machine.drop_caches.write(machine, data)
