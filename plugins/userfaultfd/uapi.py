"""The userfaultfd ABI (include/uapi/linux/userfaultfd.h, userfaultfd.md section 1): syscall
flags, ioctl numbers, feature bits, registration and per-ioctl mode bits, message layout.

Numbers are the kernel's, bit for bit; the names are what workloads and the Python API use.
"""
from __future__ import annotations

import struct
from typing import Dict

# -- the syscall's flags (x86-64 values) ------------------------------------------------------
O_CLOEXEC = 0x80000
O_NONBLOCK = 0x800
UFFD_USER_MODE_ONLY = 0x1
SYSCALL_FLAGS: Dict[str, int] = {"O_CLOEXEC": O_CLOEXEC, "O_NONBLOCK": O_NONBLOCK,
                                 "UFFD_USER_MODE_ONLY": UFFD_USER_MODE_ONLY}

# -- ioctls: _IOC(dir, 0xAA, nr, size) -------------------------------------------------------
UFFDIO = 0xAA
UFFD_API = 0xAA
_UFFDIO_REGISTER = 0x00
_UFFDIO_UNREGISTER = 0x01
_UFFDIO_WAKE = 0x02
_UFFDIO_COPY = 0x03
_UFFDIO_ZEROPAGE = 0x04
_UFFDIO_MOVE = 0x05
_UFFDIO_WRITEPROTECT = 0x06
_UFFDIO_CONTINUE = 0x07
_UFFDIO_POISON = 0x08
_UFFDIO_API = 0x3F

UFFDIO_REGISTER = 0xC020AA00
UFFDIO_UNREGISTER = 0x8010AA01
UFFDIO_WAKE = 0x8010AA02
UFFDIO_COPY = 0xC028AA03
UFFDIO_ZEROPAGE = 0xC020AA04
UFFDIO_MOVE = 0xC028AA05
UFFDIO_WRITEPROTECT = 0xC018AA06
UFFDIO_CONTINUE = 0xC020AA07
UFFDIO_POISON = 0xC020AA08
UFFDIO_API = 0xC018AA3F
#: /dev/userfaultfd's one ioctl (_IO(0xAA, 0x00)), v6.1+
USERFAULTFD_IOC_NEW = 0xAA00

#: UFFD_API_IOCTLS: what UFFDIO_API's reply offers
UFFD_API_IOCTLS = (1 << _UFFDIO_REGISTER) | (1 << _UFFDIO_UNREGISTER) | (1 << _UFFDIO_API)

# -- feature bits (uffdio_api.features) -------------------------------------------------------
UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0
UFFD_FEATURE_EVENT_FORK = 1 << 1
UFFD_FEATURE_EVENT_REMAP = 1 << 2
UFFD_FEATURE_EVENT_REMOVE = 1 << 3
UFFD_FEATURE_MISSING_HUGETLBFS = 1 << 4
UFFD_FEATURE_MISSING_SHMEM = 1 << 5
UFFD_FEATURE_EVENT_UNMAP = 1 << 6
UFFD_FEATURE_SIGBUS = 1 << 7
UFFD_FEATURE_THREAD_ID = 1 << 8
UFFD_FEATURE_MINOR_HUGETLBFS = 1 << 9
UFFD_FEATURE_MINOR_SHMEM = 1 << 10
UFFD_FEATURE_EXACT_ADDRESS = 1 << 11
UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12
UFFD_FEATURE_WP_UNPOPULATED = 1 << 13
UFFD_FEATURE_POISON = 1 << 14
UFFD_FEATURE_WP_ASYNC = 1 << 15
UFFD_FEATURE_MOVE = 1 << 16
FEATURES: Dict[str, int] = {
    "PAGEFAULT_FLAG_WP": UFFD_FEATURE_PAGEFAULT_FLAG_WP, "EVENT_FORK": UFFD_FEATURE_EVENT_FORK,
    "EVENT_REMAP": UFFD_FEATURE_EVENT_REMAP, "EVENT_REMOVE": UFFD_FEATURE_EVENT_REMOVE,
    "MISSING_HUGETLBFS": UFFD_FEATURE_MISSING_HUGETLBFS, "MISSING_SHMEM": UFFD_FEATURE_MISSING_SHMEM,
    "EVENT_UNMAP": UFFD_FEATURE_EVENT_UNMAP, "SIGBUS": UFFD_FEATURE_SIGBUS,
    "THREAD_ID": UFFD_FEATURE_THREAD_ID, "MINOR_HUGETLBFS": UFFD_FEATURE_MINOR_HUGETLBFS,
    "MINOR_SHMEM": UFFD_FEATURE_MINOR_SHMEM, "EXACT_ADDRESS": UFFD_FEATURE_EXACT_ADDRESS,
    "WP_HUGETLBFS_SHMEM": UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
    "WP_UNPOPULATED": UFFD_FEATURE_WP_UNPOPULATED, "POISON": UFFD_FEATURE_POISON,
    "WP_ASYNC": UFFD_FEATURE_WP_ASYNC, "MOVE": UFFD_FEATURE_MOVE,
}
#: 6.18's internal "UFFDIO_API done" bit of ctx->features (userfaultfd_set_initialized)
UFFD_FEATURE_INITIALIZED = 1 << 31

# -- registration modes -----------------------------------------------------------------------
UFFDIO_REGISTER_MODE_MISSING = 1 << 0
UFFDIO_REGISTER_MODE_WP = 1 << 1
UFFDIO_REGISTER_MODE_MINOR = 1 << 2
REGISTER_MODES: Dict[str, int] = {"MISSING": UFFDIO_REGISTER_MODE_MISSING,
                                  "WP": UFFDIO_REGISTER_MODE_WP, "MINOR": UFFDIO_REGISTER_MODE_MINOR}

# -- per-ioctl mode bits ----------------------------------------------------------------------
UFFDIO_COPY_MODE_DONTWAKE = 1 << 0
UFFDIO_COPY_MODE_WP = 1 << 1
UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1 << 0
UFFDIO_WRITEPROTECT_MODE_WP = 1 << 0
UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1 << 1
UFFDIO_CONTINUE_MODE_DONTWAKE = 1 << 0
UFFDIO_CONTINUE_MODE_WP = 1 << 1
UFFDIO_POISON_MODE_DONTWAKE = 1 << 0
UFFDIO_MOVE_MODE_DONTWAKE = 1 << 0
UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 1 << 1
#: mode names per ioctl, as a workload writes them
MODES: Dict[str, Dict[str, int]] = {
    "copy": {"DONTWAKE": UFFDIO_COPY_MODE_DONTWAKE, "WP": UFFDIO_COPY_MODE_WP},
    "zeropage": {"DONTWAKE": UFFDIO_ZEROPAGE_MODE_DONTWAKE},
    "writeprotect": {"WP": UFFDIO_WRITEPROTECT_MODE_WP, "DONTWAKE": UFFDIO_WRITEPROTECT_MODE_DONTWAKE},
    "continue": {"DONTWAKE": UFFDIO_CONTINUE_MODE_DONTWAKE, "WP": UFFDIO_CONTINUE_MODE_WP},
    "poison": {"DONTWAKE": UFFDIO_POISON_MODE_DONTWAKE},
    "move": {"DONTWAKE": UFFDIO_MOVE_MODE_DONTWAKE, "ALLOW_SRC_HOLES": UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES},
}

# -- messages (struct uffd_msg, 32 bytes, packed) -------------------------------------------------
UFFD_EVENT_PAGEFAULT = 0x12
UFFD_EVENT_FORK = 0x13
UFFD_EVENT_REMAP = 0x14
UFFD_EVENT_REMOVE = 0x15
UFFD_EVENT_UNMAP = 0x16
EVENT_NAMES = {UFFD_EVENT_PAGEFAULT: "pagefault", UFFD_EVENT_FORK: "fork", UFFD_EVENT_REMAP: "remap",
               UFFD_EVENT_REMOVE: "remove", UFFD_EVENT_UNMAP: "unmap"}
UFFD_PAGEFAULT_FLAG_WRITE = 1 << 0
UFFD_PAGEFAULT_FLAG_WP = 1 << 1
UFFD_PAGEFAULT_FLAG_MINOR = 1 << 2
PAGEFAULT_FLAGS: Dict[str, int] = {"WRITE": UFFD_PAGEFAULT_FLAG_WRITE, "WP": UFFD_PAGEFAULT_FLAG_WP,
                                   "MINOR": UFFD_PAGEFAULT_FLAG_MINOR}
MSG_SIZE = 32


def msg_pagefault(flags: int, address: int, ptid: int) -> bytes:
    """userfault_msg(): event 0x12, the reason and access flags, the address, the thread id."""
    return struct.pack("<BBHIQQI4x", UFFD_EVENT_PAGEFAULT, 0, 0, 0, flags, address, ptid)


def msg_event(event: int, *args: int) -> bytes:
    """A non-cooperative event: FORK (ufd u32), REMAP (from, to, len), REMOVE/UNMAP (start, end)."""
    if event == UFFD_EVENT_FORK:
        return struct.pack("<BBHII20x", event, 0, 0, 0, args[0])
    body = struct.pack("<" + "Q" * len(args), *args)
    return struct.pack("<BBHI", event, 0, 0, 0) + body + bytes(24 - len(body))


def decode_msg(raw: bytes) -> dict:
    """A 32-byte uffd_msg as a dict: ``event`` (its name) and its fields."""
    event = raw[0]
    name = EVENT_NAMES.get(event, hex(event))
    if event == UFFD_EVENT_PAGEFAULT:
        flags, address, ptid = struct.unpack_from("<QQI", raw, 8)
        return {"event": name, "flags": flags, "address": address, "ptid": ptid}
    if event == UFFD_EVENT_FORK:
        return {"event": name, "ufd": struct.unpack_from("<I", raw, 8)[0]}
    if event == UFFD_EVENT_REMAP:
        f, t, n = struct.unpack_from("<QQQ", raw, 8)
        return {"event": name, "from": f, "to": t, "len": n}
    start, end = struct.unpack_from("<QQ", raw, 8)
    return {"event": name, "start": start, "end": end}


def flag_names(value: int, table: Dict[str, int]) -> str:
    """``value`` as NAME|NAME (0 when empty; unknown bits in hex)."""
    names = [n for n, b in table.items() if value & b]
    rest = value & ~sum(b for n, b in table.items() if value & b)
    if rest:
        names.append(hex(rest))
    return "|".join(names) if names else "0"
