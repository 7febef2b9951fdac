"""The ``no-nrexceptional`` seed change ("mm: remove nrexceptional from inode", v5.13) as a switch.

On (every kernel from v5.13, both profiles' default): ``struct address_space`` has no
``nrexceptional``; emptiness is ``mapping_empty()`` where the series put it.  Off (the kernel
before it): the inode caches' objects are 8 bytes larger (``BootOptions.slab.nrexceptional``,
applied by the slab allocator to the caches that embed an address_space) and every inode's
``i_data`` keeps the counter (``AddressSpace.keep_nrexceptional``, set by
:class:`memsim.plugins.pagecache.inode.InodeCache` from the boot option), which the core
maintains and tests where 5.12 did.

:func:`configure` turns the patch state into the boot option before the machine is built;
:func:`patch_impl` is what ``memsim compare`` / ``memsim sweep`` / docs/patches.md show:
objects per slab of ``inode_cache`` and ``shmem_inode_cache``, their slab memory and the
machine's total Slab, all read from the machine's slab allocator at the end of a run.
"""
from __future__ import annotations

from typing import Any, List

__all__ = ["PATCH", "MODEL", "patch_impl", "configure", "check_invariants", "inode_mappings", "objs_per_slab",
           "cache_slab_bytes", "slab_bytes"]

PATCH = "no-nrexceptional"
PAGE_SIZE = 4096
#: the caches whose objects embed a struct address_space (slab_layout BootCache.embeds_mapping)
INODE_CACHES = ("inode_cache", "shmem_inode_cache")

MODEL = (
    "On (v5.13 and later, the default of both profiles): `struct address_space` has no "
    "`nrexceptional`. memsim's mappings count only their pages (`nrpages`); shadow entries are "
    "counted by nobody (the shadow-node shrinker works from the xa_node counts, `--check` counts "
    "them by walking i_pages and insists `nrexceptional` stays 0), and each emptiness test is the "
    "one the kernel uses at that site: `mapping_empty()` in truncate_inode_pages_range, "
    "truncate_inode_pages_final and invalidate_inode_pages2_range, `nrpages` in drop_caches, the "
    "v5.14 inode LRU, mapping_needs_writeback and clear_inode's `BUG_ON`. "
    "Off (v5.12): the plugin sets the boot option `slab.nrexceptional` before the machine is "
    "built, so the caches that embed an address_space (`inode_cache`, `shmem_inode_cache`) have "
    "objects 8 bytes larger (v5.14: strides 608 and 720 instead of 600 and 712, 26 and 22 objects "
    "per 16 KiB slab instead of 27 and 23), and every inode's `i_data` keeps `nrexceptional`: + 1 "
    "when a page leaves a shadow (page_cache_delete), - 1 when a page or a truncate/invalidate "
    "replaces or clears one, - the node's values when the shadow-node shrinker frees a node; the "
    "emptiness tests become `nrpages == 0 && nrexceptional == 0`, clear_inode also has "
    "`BUG_ON(nrexceptional)`, and `--check` compares the counter with the value entries. "
    "Every inode the plugin creates (diskfs at /mnt/disk, tmpfs mounts, shm_mnt's memfds and "
    "shared anonymous memory, the files `type: file` mappings name) follows the switch. The pages, "
    "faults and trace records of a workload are the same on both sides; the slab pages of the "
    "inode caches, and so Slab in /proc/meminfo, are not.")


def _cache(machine: Any, name: str):
    slab = getattr(machine, "slab", None)
    return slab.find_cache(name) if slab is not None else None


def objs_per_slab(name: str):
    """A metric: the objects one slab of cache ``name`` holds (/proc/slabinfo objperslab)."""
    def compute(machine: Any) -> int:
        s = _cache(machine, name)
        return int(s.objects) if s is not None else 0
    return compute


def objsize(name: str):
    """A metric: the stride of cache ``name``'s objects (/proc/slabinfo objsize)."""
    def compute(machine: Any) -> int:
        s = _cache(machine, name)
        return int(s.size) if s is not None else 0
    return compute


def cache_slab_bytes(name: str):
    """A metric: the bytes of the slabs cache ``name`` holds (num_slabs x pagesperslab pages)."""
    def compute(machine: Any) -> int:
        s = _cache(machine, name)
        return int(s.pages) * PAGE_SIZE if s is not None else 0
    return compute


def slab_bytes(machine: Any) -> int:
    """/proc/meminfo Slab in bytes (SReclaimable + SUnreclaim), from the slab allocator."""
    slab = getattr(machine, "slab", None)
    return int(slab.nr_slab_pages()) * PAGE_SIZE if slab is not None else 0


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``no-nrexceptional``."""
    from memsim.patches import PatchImpl, PatchMetric
    metrics = []
    for name in INODE_CACHES:
        metrics.append(PatchMetric(f"{name}_objs_per_slab", f"objects per slab of {name} "
                                   "(/proc/slabinfo objperslab)", objs_per_slab(name), "objects"))
    for name in INODE_CACHES:
        metrics.append(PatchMetric(f"{name}_objsize", f"stride of one {name} object "
                                   "(/proc/slabinfo objsize)", objsize(name), "bytes"))
    for name in INODE_CACHES:
        metrics.append(PatchMetric(f"{name}_slab_bytes", f"memory in the slabs of {name}",
                                   cache_slab_bytes(name), "bytes"))
    metrics.append(PatchMetric("slab_bytes", "Slab of /proc/meminfo: every slab cache's memory",
                               slab_bytes, "bytes"))
    return PatchImpl(PATCH, MODEL, files=("/proc/slabinfo", "/proc/meminfo"),
                     metrics=tuple(metrics))


def configure(options: Any, config: Any) -> None:
    """memsim_machine_configure: with the change off, ``struct address_space`` gets its
    ``nrexceptional`` back (``options.slab.nrexceptional``), which makes the inode caches 8 bytes
    larger and every inode's mapping keep the counter.  With it on the option is left as it is
    (False unless another plugin wants the pre-5.13 layout)."""
    patches = getattr(getattr(config, "machine", None), "patches", None)
    if patches is not None and not patches.enabled(PATCH):
        options.slab.nrexceptional = True


def inode_mappings(machine: Any) -> List[Any]:
    """The i_data of every inode on a diskfs or tmpfs superblock (shm_mnt's included)."""
    from .inode import SlabInode
    supers = list((machine.plugin_state.get("pagecache.diskfs") or {}).get("supers", ()))
    tmpfs = machine.plugin_state.get("pagecache.tmpfs")
    if tmpfs is not None:
        supers += tmpfs.supers
    return [inode.i_data for sb in supers for inode in sb.inodes()
            if isinstance(inode, SlabInode) and inode.i_data is not None]


def check_invariants(machine: Any, mappings=None) -> List[str]:
    """``--check`` of the switch on ``mappings`` (default: :func:`inode_mappings`, every
    inode's i_data): each keeps
    nrexceptional exactly when the machine booted with it (``machine.boot.slab.nrexceptional``),
    and one that does not keep it has a zero count (nothing counts value entries after the
    change).  The count itself, when kept, is checked against the entries by the workingset
    check (memsim.workingset)."""
    keep = bool(machine.boot.slab.nrexceptional)
    if mappings is None:
        mappings = inode_mappings(machine)
    problems = []
    for mapping in mappings:
        if mapping is None:
            continue
        if bool(mapping.keep_nrexceptional) != keep:
            problems.append(f"{mapping!r}: keep_nrexceptional is {bool(mapping.keep_nrexceptional)}, "
                            f"the machine booted with slab.nrexceptional {keep} (the "
                            f"{PATCH} seed change {'off' if keep else 'on'})")
        elif not keep and mapping.nrexceptional:
            problems.append(f"{mapping!r}: nrexceptional is {mapping.nrexceptional} after the "
                            f"{PATCH} change (nothing counts value entries)")
    return problems
