"""The filemap trace events (include/trace/events/filemap.h) of the v5.14 and v6.18 profiles.

v6.18 declarations reproduce the live 6.18 kernel's format files byte for byte (apart from
``ID:``; tracing/catalog/v6.18/filemap, tests/pagecache/test_filemap_events.py keeps them).
v5.14 declares what 5.14's filemap.h has: ``mm_filemap_add_to_page_cache`` and
``mm_filemap_delete_from_page_cache`` (class mm_filemap_op_page_cache: ``pfn, i_ino, index,
s_dev``, no ``order``; the print shows ``page=%p`` computed from the pfn, ``pfn_to_page`` ->
``(((struct page *)vmemmap_base) + (REC->pfn))`` as kmem.h's v5.14 print fmts spell it) and the
two writeback-error events.  ``mm_filemap_fault``, ``mm_filemap_map_pages`` and
``mm_filemap_get_pages`` came in 6.12 ("mm: add pagecache tracepoints", Google), so v5.14 has
none of them.  The v5.14 print fmts are RECONSTRUCTIONS (no captured 5.14 format files were
available): the 5.14 TP_printk arguments after preprocessing.

Who fires what (tracepoints.md 5):

* add -- the core's insertion into a regular file's page cache
  (``MmCore.page_cache_store``: __add_to_page_cache_locked / __filemap_add_folio), after the
  memcg charge and the store, once i_pages is unlocked; never for shmem
  (shmem_add_to_page_cache has no tracepoint) nor the swap cache;
* delete -- ``MmCore.page_cache_delete_page`` (__delete_from_page_cache /
  __filemap_remove_folio, and each page of delete_from_page_cache_batch in truncate), under
  the i_pages lock (v6.18 also under the inode's i_lock: ``d..2.``) and before NR_FILE_PAGES is
  taken down; shmem pages too (their truncation goes through filemap_remove_folio); never the
  swap cache;
* fault -- the core's ``filemap_fault`` for a regular file, after the i_size check (a fault
  beyond EOF has none) and before the page-cache lookup; shmem faults (shmem_fault) have none;
* map_pages, get_pages -- the page-cache plugin's C code (filemap_map_pages,
  filemap_get_pages), through the slots the registry gives their ``c_values``.

The kernel numbers these events 595-601 on the captured 6.18 machine; memsim's EventRegistry
numbers events in registration order, so their IDs differ (the ``ID:`` line is not compared).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import get_profile
from memsim.tracing.events import EventDecl, layout_fields

U = False

#: CORE_EVENTS slots of the events the core emits (memsim/ring.pxd EV_MM_FILEMAP_*)
ADD_TO_PAGE_CACHE_SLOT = 26
DELETE_FROM_PAGE_CACHE_SLOT = 27
FAULT_SLOT = 28

#: MAJOR(s_dev), MINOR(s_dev) as the format file prints them (include/linux/kdev_t.h:
#: MINORBITS 20)
_DEV = "((unsigned int) ((REC->s_dev) >> 20)), ((unsigned int) ((REC->s_dev) & ((1U << 20) - 1)))"
_PAGE = "(((struct page *)vmemmap_base) + (REC->pfn))"
_RANGE_FMT = (f'"dev=%d:%d ino=%lx ofs=%lld-%lld", {_DEV}, REC->i_ino, ((loff_t)REC->index) << 12, '
              '((((loff_t)REC->last_index + 1) << 12) - 1)')

#: The plugin that declares them: the page cache's
PLUGIN = "pagecache"


def _op_page_cache(name: str, slot: int, v6: bool, flags: int, preempt: int,
                   doc: str) -> EventDecl:
    """An event of class mm_filemap_op_page_cache (add / delete)."""
    fields = [("unsigned long", "pfn", 8, U), ("unsigned long", "i_ino", 8, U),
              ("unsigned long", "index", 8, U), ("dev_t", "s_dev", 4, U)]
    if v6:
        fields.append(("unsigned char", "order", 1, U))
        fmt = (f'"dev %d:%d ino %lx pfn=0x%lx ofs=%lu order=%u", {_DEV}, REC->i_ino, REC->pfn, '
               'REC->index << 12, REC->order')
    else:
        fmt = (f'"dev %d:%d ino %lx page=%p pfn=0x%lx ofs=%lu", {_DEV}, REC->i_ino, {_PAGE}, '
               'REC->pfn, REC->index << 12')
    return EventDecl("filemap", name, layout_fields(fields), fmt, core_slot=slot,
                     common_flags=flags, preempt_count=preempt, plugin=PLUGIN, doc=doc)


def _wb_err_events() -> List[EventDecl]:
    doc = (" memsim models no I/O errors (a write never fails), so it is declared but never "
           "fires.")
    set_wb_err = EventDecl(
        "filemap", "filemap_set_wb_err",
        layout_fields([("unsigned long", "i_ino", 8, U), ("dev_t", "s_dev", 4, U),
                       ("errseq_t", "errseq", 4, U)]),
        f'"dev=%d:%d ino=0x%lx errseq=0x%x", {_DEV}, REC->i_ino, REC->errseq',
        plugin=PLUGIN,
        doc="filemap_set_wb_err(): a writeback error was recorded in mapping->wb_err." + doc)
    check_and_advance = EventDecl(
        "filemap", "file_check_and_advance_wb_err",
        layout_fields([("struct file *", "file", 8, U), ("unsigned long", "i_ino", 8, U),
                       ("dev_t", "s_dev", 4, U), ("errseq_t", "old", 4, U),
                       ("errseq_t", "new", 4, U)]),
        f'"file=%p dev=%d:%d ino=0x%lx old=0x%x new=0x%x", REC->file, {_DEV}, REC->i_ino, '
        'REC->old, REC->new',
        plugin=PLUGIN,
        doc="file_check_and_advance_wb_err() (fsync) saw a new writeback error." + doc)
    return [check_and_advance, set_wb_err]


def filemap_events(profile_name: str) -> List[EventDecl]:
    """The filemap event declarations of kernel profile ``profile_name``, in the order the
    kernel numbers them (the reverse of filemap.h's: file_check_and_advance_wb_err 595 ...
    delete 601 on 6.18)."""
    profile = get_profile(profile_name)
    v6 = profile.version >= (6, 12)
    # the delete runs under xa_lock_irq (irqs off, one lock); 6.18 also holds the inode's i_lock
    # around it ("vfs: keep inodes with page cache off the inode shrinker LRU", 5.18): d..2.
    add = _op_page_cache(
        "mm_filemap_add_to_page_cache", ADD_TO_PAGE_CACHE_SLOT, v6, 0, 0,
        "A page (folio) went into a regular file's page cache (__add_to_page_cache_locked / "
        "__filemap_add_folio), after its memcg charge; not shmem, not the swap cache.")
    delete = _op_page_cache(
        "mm_filemap_delete_from_page_cache", DELETE_FROM_PAGE_CACHE_SLOT, v6, 0x01, 2 if v6 else 1,
        "A page left a file's or shmem's page cache (__delete_from_page_cache: reclaim, "
        "truncate, invalidate), before NR_FILE_PAGES was taken down; not the swap cache.")
    out = _wb_err_events()
    if not v6:
        return out + [add, delete]
    fault = EventDecl(
        "filemap", "mm_filemap_fault",
        layout_fields([("unsigned long", "i_ino", 8, U), ("dev_t", "s_dev", 4, U),
                       ("unsigned long", "index", 8, U)]),
        f'"dev=%d:%d ino=%lx ofs=%lld", {_DEV}, REC->i_ino, ((loff_t)REC->index) << 12',
        core_slot=FAULT_SLOT, plugin=PLUGIN,
        doc="filemap_fault() on a regular file's page inside i_size (shmem faults have none).")
    range_fields = layout_fields([("unsigned long", "i_ino", 8, U), ("dev_t", "s_dev", 4, U),
                                  ("unsigned long", "index", 8, U),
                                  ("unsigned long", "last_index", 8, U)])
    map_pages = EventDecl(
        "filemap", "mm_filemap_map_pages", range_fields, _RANGE_FMT,
        c_values=("i_ino", "s_dev", "index", "last_index"), plugin=PLUGIN,
        doc="filemap_map_pages() (fault-around) mapped the cached pages of [index, last_index]; "
            "emitted by the page-cache plugin's a_ops map_pages.")
    get_pages = EventDecl(
        "filemap", "mm_filemap_get_pages", range_fields, _RANGE_FMT,
        c_values=("i_ino", "s_dev", "index", "last_index"), plugin=PLUGIN,
        doc="filemap_get_pages() found (or read in) the pages of [index, last_index] for a "
            "buffered read; emitted by the page-cache plugin's read path.")
    return out + [fault, map_pages, get_pages, add, delete]
