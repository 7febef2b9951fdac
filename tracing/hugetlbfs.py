"""The hugetlbfs trace events (include/trace/events/hugetlbfs.h, new in v6.6) of the v6.18
profile; v5.14 has none.

The declarations reproduce the live 6.18 kernel's format files (catalog/v6.18/hugetlbfs, copied
from /sys/kernel/tracing/events/hugetlbfs/*/format) byte for byte apart from ``ID:``
(tests/tracing/test_hugetlbfs_events.py).  The hugetlb plugin emits them from Python
(memsim.plugins.hugetlb.hugetlbfs): hugetlbfs_get_inode() (alloc_inode), hugetlbfs_setattr(),
hugetlbfs_fallocate() (at its end, with the result), hugetlbfs_evict_inode() and
hugetlbfs_free_inode().  The list is in the order the 6.18 kernel numbers them (fallocate 1287
first, alloc_inode 1291 last).
"""
from __future__ import annotations

from typing import List

from memsim.profiles import ProfileTable
from memsim.tracing.events import EventDecl, layout_fields

U, S = False, True

#: include/trace/events/hugetlbfs.h exists (v6.6+)
_HAS_EVENTS: ProfileTable[bool] = ProfileTable("tracing.hugetlbfs events", {"v5.14": False, "v6.18": True})

_DEV = '((unsigned int) ((REC->dev) >> 20)), ((unsigned int) ((REC->dev) & ((1U << 20) - 1)))'
_INODE_FIELDS = [("dev_t", "dev", 4, U), ("ino_t", "ino", 8, U), ("__u16", "mode", 2, U),
                 ("loff_t", "size", 8, S), ("unsigned int", "nlink", 4, U),
                 ("unsigned int", "seals", 4, U), ("blkcnt_t", "blocks", 8, U)]
_INODE_FMT = ('"dev %d,%d ino %lu mode 0%o size %lld nlink %u seals %u blocks %llu", '
              f'{_DEV}, (unsigned long) REC->ino, REC->mode, REC->size, REC->nlink, REC->seals, '
              '(unsigned long long)REC->blocks')


def hugetlbfs_events(profile: str) -> List[EventDecl]:
    """The hugetlbfs events of ``profile`` ("v5.14": none)."""
    if not _HAS_EVENTS[profile]:
        return []
    return [
        EventDecl("hugetlbfs", "hugetlbfs_fallocate", layout_fields([
            ("dev_t", "dev", 4, U), ("ino_t", "ino", 8, U), ("int", "mode", 4, S),
            ("loff_t", "offset", 8, S), ("loff_t", "len", 8, S), ("loff_t", "size", 8, S),
            ("int", "ret", 4, S)]),
            '"dev %d,%d ino %lu mode 0%o offset %lld len %lld size %lld ret %d", '
            f'{_DEV}, (unsigned long)REC->ino, REC->mode, (unsigned long long)REC->offset, '
            '(unsigned long long)REC->len, (unsigned long long)REC->size, REC->ret',
            plugin="hugetlb", doc="hugetlbfs_fallocate() ended: the file, the mode, the range, "
                                  "i_size after it and the result (0 or a negative errno)."),
        EventDecl("hugetlbfs", "hugetlbfs_setattr", layout_fields([
            ("dev_t", "dev", 4, U), ("ino_t", "ino", 8, U), ("unsigned int", "d_len", 4, U),
            ("__data_loc char[]", "d_name", 4, U), ("unsigned int", "ia_valid", 4, U),
            ("unsigned int", "ia_mode", 4, U), ("loff_t", "old_size", 8, S),
            ("loff_t", "ia_size", 8, S)]),
            '"dev %d,%d ino %lu name %.*s valid %#x mode 0%o old_size %lld size %lld", '
            f'{_DEV}, (unsigned long)REC->ino, REC->d_len, __get_str(d_name), REC->ia_valid, '
            'REC->ia_mode, REC->old_size, REC->ia_size',
            plugin="hugetlb", doc="hugetlbfs_setattr(): a truncate of a file (memsim's only "
                                  "setattr; valid ATTR_SIZE|ATTR_MTIME|ATTR_CTIME|ATTR_FILE)."),
        EventDecl("hugetlbfs", "hugetlbfs_free_inode", layout_fields(_INODE_FIELDS), _INODE_FMT,
                  plugin="hugetlb", doc="hugetlbfs_free_inode(): the inode's memory goes."),
        EventDecl("hugetlbfs", "hugetlbfs_evict_inode", layout_fields(_INODE_FIELDS), _INODE_FMT,
                  plugin="hugetlb", doc="hugetlbfs_evict_inode(): the last reference of an "
                                        "unlinked file went; its pages and reservations follow."),
        EventDecl("hugetlbfs", "hugetlbfs_alloc_inode", layout_fields([
            ("dev_t", "dev", 4, U), ("ino_t", "ino", 8, U), ("ino_t", "dir", 8, U),
            ("__u16", "mode", 2, U)]),
            f'"dev %d,%d ino %lu dir %lu mode 0%o", {_DEV}, (unsigned long) REC->ino, '
            '(unsigned long) REC->dir, REC->mode',
            plugin="hugetlb", doc="hugetlbfs_get_inode(): a new inode in directory dir (0: "
                                  "none, a file of an internal mount)."),
    ]
