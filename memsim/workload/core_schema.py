"""Declarations of the built-in workload keys: the ``machine`` section, tasks and the core steps.

Each core step is a :class:`CoreStep` (name, one-line doc, Params, cross-key check, example);
``plugins/core_steps.py`` turns them into :class:`memsim.registry.StepType` objects with their run
functions through :func:`step_type`, so this module holds no behaviour beyond validation.  Every
Param has a type, a default and a one-line description (STYLE 11); docs/workloads.md is rendered
from these declarations by :mod:`memsim.workload.docs`.

Args a step receives after loading (beyond the plain conversions of :class:`Param` types):
``write.data``, ``read.expect``, ``write_file.data`` and ``read_file.expect`` are ``bytes``
(decoded with ``encoding``), ``read.length`` is filled in from ``read.expect`` when not given,
``mkdir.mode`` is an int (written in octal), and ``expect.buddyinfo`` keys are normalised to
``"Node N, zone ZONE"``.
"""
from __future__ import annotations

import errno as _errno
import difflib
import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import AbstractSet, Any, Callable, Dict, Mapping, Optional, Tuple

from memsim.errors import InvalidValue
from memsim.patches import SEED_PATCHES
from memsim.profiles import DEFAULT_PROFILE, PROFILES
from memsim.registry import (ExpectKey, Extensions, MachineKey, MmapFlag, MmapType, Param, StepType)
from memsim.signals import SI_CODES, SIGNALS
from memsim.units import format_size
from memsim.vm import MCL_FLAGS, MLOCK_FLAGS, MPOL_MODE_FLAG_NAMES, MPOL_MODES, MREMAP_FLAGS

__all__ = [
    "PAGE_SIZE", "MAX_ORDER", "NODE_ALIGN", "TASK_COMM_LEN", "ERRNO_NAMES", "MEMINFO_KEYS",
    "MACHINE_DOC", "MACHINE_PARAMS", "TASK_DOC", "TASK_PARAMS",
    "MMAP_PARAMS", "MUNMAP_PARAMS", "MPROTECT_PARAMS", "TOUCH_PARAMS", "WRITE_PARAMS",
    "READ_PARAMS", "FORK_PARAMS", "EXIT_PARAMS", "SLEEP_PARAMS", "EXPECT_PARAMS",
    "MREMAP_PARAMS", "MLOCK_PARAMS", "MUNLOCK_PARAMS", "MLOCKALL_PARAMS", "MUNLOCKALL_PARAMS",
    "CLONE_PARAMS", "EXIT_GROUP_PARAMS", "SET_MEMPOLICY_PARAMS", "MBIND_PARAMS",
    "SIGNAL_NAMES",
    "MKDIR_PARAMS", "RMDIR_PARAMS", "MOUNT_PARAMS", "UMOUNT_PARAMS", "READ_FILE_PARAMS",
    "WRITE_FILE_PARAMS",
    "CoreStep", "CORE_STEPS", "step_type", "core_step_types",
    "MMAP_TYPES", "MMAP_FLAGS", "core_extension_names", "extended_step", "machine_params",
]

PAGE_SIZE = 4096
#: Orders 0..10 of the buddy allocator (v5.14 MAX_ORDER = 11; v6.18 MAX_PAGE_ORDER = 10): the
#: number of columns of /proc/buddyinfo.
MAX_ORDER = 11
#: A node's memory is a whole number of max-order blocks (order 10: 1024 pages, 4 MiB).
NODE_ALIGN = PAGE_SIZE << (MAX_ORDER - 1)
#: The longest ``comm`` (TASK_COMM_LEN 16, including the terminating NUL).
TASK_COMM_LEN = 16
#: Nodes memsim can emulate (x86-64 MAX_NUMNODES with NODES_SHIFT 10).
MAX_NUMNODES = 1024
#: Free-list links in the core are 32-bit pfns, so all nodes together stay below 2^32 pages.
MAX_MEMORY = (1 << 32) * PAGE_SIZE - NODE_ALIGN


# ----------------------------------------------------------------------------------------------
# Checks shared by several declarations
# ----------------------------------------------------------------------------------------------

def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _whole_pages(value: int) -> int:
    if value % PAGE_SIZE:
        lower = value // PAGE_SIZE * PAGE_SIZE
        raise InvalidValue(f"{format_size(value)} is not a whole number of pages",
                           f"use a multiple of 4 KiB, e.g. {format_size(lower)} or "
                           f"{format_size(lower + PAGE_SIZE)}")
    return value


def _whole_kib(value: int) -> int:
    if value % 1024:
        raise InvalidValue(f"{format_size(value)} is not a whole number of KiB",
                           "/proc/meminfo counts in kB (1024 bytes): use a multiple of 1 KiB")
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise InvalidValue("the name is empty", "give a name of at least one character")
    return value


# ----------------------------------------------------------------------------------------------
# machine:
# ----------------------------------------------------------------------------------------------

def _check_node_memory(value: int) -> int:
    if value % NODE_ALIGN:
        lower = value // NODE_ALIGN * NODE_ALIGN
        hint = f"{format_size(lower)} or {format_size(lower + NODE_ALIGN)}" if lower else "4 MiB"
        raise InvalidValue(f"{format_size(value)} is not a multiple of 4 MiB",
                           f"use {hint}: a node holds whole order-10 buddy blocks (4 MiB each)")
    return value


def _check_nodes(nodes) -> Any:
    if not nodes:
        raise InvalidValue("the machine has no node", "give at least one node, e.g. [{memory: 1 GiB}]")
    if len(nodes) > MAX_NUMNODES:
        raise InvalidValue(f"{len(nodes)} nodes are too many", f"emulate at most {MAX_NUMNODES} nodes")
    total = sum(node["memory"] for node in nodes)
    if total > MAX_MEMORY:
        raise InvalidValue(f"the nodes hold {format_size(total)} in all, too much to emulate",
                           "keep the total below 16 TiB (2^32 pages)")
    return nodes


def _check_trace_buffer(value: int) -> int:
    if value % 1024:
        raise InvalidValue(f"{format_size(value)} is not a whole number of KiB",
                           "use a multiple of 1 KiB (tracefs buffer_size_kb), e.g. 1408 KiB")
    return value


MACHINE_DOC = "The emulated machine: CPUs, NUMA nodes and their memory, trace buffers, kernel profile."

#: Kernel build options a workload can set (``machine.config``): name -> (default, what it changes)
KCONFIG: Dict[str, Tuple[bool, str]] = {
    "CONFIG_MEMORY_FAILURE": (
        True, "a fault on a poisoned page (a hwpoisoned page, UFFDIO_POISON's marker) raises "
        "SIGBUS BUS_MCEERR_AR with si_addr_lsb (do_sigbus()); false: BUS_ADRERR, as a kernel "
        "built without it (this project's 6.18 test VM) gives"),
}

MACHINE_PARAMS: Tuple[Param, ...] = (
    Param("cpus", "int", "emulated CPUs", default=1, minimum=1, maximum=256),
    Param("nodes", "list",
          "NUMA nodes, each with its memory; a node's memory is a multiple of 4 MiB (one order-10 "
          "buddy block), so its zones and pageblocks hold whole max-order blocks",
          default=({"memory": "1 GiB"},),
          items=(Param("memory", "size", "the node's memory, a multiple of 4 MiB",
                       required=True, minimum=NODE_ALIGN, check=_check_node_memory),),
          check=_check_nodes),
    Param("trace_buffer", "size", "ring buffer per CPU (tracefs buffer_size_kb), a multiple of 1 KiB",
          default="1408 KiB", minimum=4096, maximum=1 << 30, check=_check_trace_buffer),
    Param("trace_overwrite", "bool",
          "what a full ring buffer does (tracefs options/overwrite): true overwrites the oldest "
          "events, false drops new ones; matters for --trace-ring and --events without a trace "
          "(--trace records every event)", default=True),
    Param("kernel", "enum", "kernel profile to emulate (memsim/profiles.py)",
          default=DEFAULT_PROFILE, choices=tuple(PROFILES)),
    Param("seed", "int", "scheduler and pointer-hash seed (overridable with --seed)",
          default=0, minimum=0, maximum=(1 << 64) - 1),
    Param("quantum", "int", "pages a long step touches before a preemption point",
          default=512, minimum=1),
    Param("patches", "map",
          "seed changes turned on or off (docs/patches.md; `memsim patches` lists them); a change "
          "not named is on on every kernel that merged it; overridden by --patch NAME=on|off",
          items=tuple(Param(p.name, "enum", f"{p.summary} ({p.plugin} plugin)", choices=("on", "off"))
                      for p in SEED_PATCHES)),
    Param("config", "map",
          "kernel build options (Kconfig) that change what a program sees, true (=y) or false",
          items=tuple(Param(name, "bool", doc, default=default)
                      for name, (default, doc) in KCONFIG.items())),
)


# ----------------------------------------------------------------------------------------------
# tasks:
# ----------------------------------------------------------------------------------------------

def _check_comm(value: str) -> str:
    if not value:
        raise InvalidValue("it is empty", "give a name of 1 to 15 characters, or leave comm out")
    if len(value) > TASK_COMM_LEN - 1:
        raise InvalidValue(f"{value!r} is {len(value)} characters long, more than 15",
                           f"shorten it, e.g. to {value[:TASK_COMM_LEN - 1]!r} (TASK_COMM_LEN is 16)")
    return value


TASK_DOC = ("A task (a process, with one thread until a `clone` step adds more): its name, the CPU "
            "it starts on and its steps.")

TASK_PARAMS: Tuple[Param, ...] = (
    Param("name", "str", "unique task name", required=True, check=_non_empty, defines="task"),
    Param("comm", "str", "command name shown in traces, at most 15 characters "
          "(default: the name, cut to 15 characters)", check=_check_comm),
    Param("cpu", "cpu", "CPU the task starts on (default: round robin, task i on CPU i % cpus)"),
    Param("oom_score_adj", "int", "the process's /proc/PID/oom_score_adj as it starts: -1000 "
          "(the OOM killer never chooses it) to 1000 (chosen first); children and threads "
          "inherit it", default=0, minimum=-1000, maximum=1000),
    Param("steps", "steps", "what the task does, in order", required=True),
)


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------

PROTS = ("none", "r", "rw", "rx", "rwx")

_VMA = Param("vma", "str", "name of the mapping (an earlier mmap's name)", required=True, refers="vma")
_OFFSET = Param("offset", "size", "offset into the mapping", default=0)
_LENGTH_TO_END = Param("length", "size", "length of the range (default: to the end of the mapping)",
                       minimum=1)
_ENCODING = Param("encoding", "enum", "text: UTF-8 as written; hex: pairs of hex digits, spaces allowed",
                  default="text", choices=("text", "hex"))


#: The core's mmap types: each is its own base (memsim.vm.do_mmap's ``kind``).
MMAP_TYPES: Tuple[MmapType, ...] = (
    MmapType("anon", "private anonymous memory (MAP_PRIVATE|MAP_ANONYMOUS)", "anon", plugin="core"),
    MmapType("shared", "shared anonymous memory, backed by shmem (MAP_SHARED|MAP_ANONYMOUS): a "
             "/dev/zero object on shm_mnt (needs the pagecache plugin)", "shared", plugin="core"),
    MmapType("file", "a private mapping (MAP_PRIVATE) of the file named by file, opened "
             "read-write and created if missing (/mnt/disk/NAME unless NAME is absolute), grown "
             "to the end of the mapping: writes are copied on write (needs the pagecache plugin)",
             "file", plugin="core"),
    MmapType("file-shared", "a shared mapping (MAP_SHARED) of the file named by file, as for "
             "file: writes go to the file's pages (needs the pagecache plugin)", "file-shared",
             plugin="core"),
    MmapType("fd", "a private mapping (MAP_PRIVATE) of the open file named by fd: writes are "
             "copied on write; the file must be open for reading (EACCES)", "fd", plugin="core"),
    MmapType("fd-shared", "a shared mapping (MAP_SHARED) of the open file named by fd: writes go to "
             "the file's pages; prot with w needs the file open for writing (EACCES)", "fd-shared",
             plugin="core"),
)

#: The mmap bases that map an open file (the ``fd`` key).
FD_BASES = ("fd", "fd-shared")

#: MAP_NORESERVE, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE with their x86-64 values
#: (include/uapi/asm-generic/mman*.h); memsim.vm.do_mmap and the mmap step act on them.
MMAP_FLAGS: Tuple[MmapFlag, ...] = (
    MmapFlag("MAP_FIXED", 0x10, "map at exactly addr, replacing what is mapped there", plugin="core"),
    MmapFlag("MAP_NORESERVE", 0x4000, "do not account the mapping against the commit limit "
             "(VM_NORESERVE; overcommit is heuristic)", plugin="core"),
    MmapFlag("MAP_POPULATE", 0x8000, "fault the whole mapping in at once (same as populate: true)",
             plugin="core"),
    MmapFlag("MAP_FIXED_NOREPLACE", 0x100000, "map at exactly addr; fail with EEXIST if something "
             "is mapped there", plugin="core"),
)

#: mmap(2) flags spelled as the ``type`` of the mmap step, not in ``flags``.
_TYPE_FLAGS = ("MAP_SHARED", "MAP_PRIVATE", "MAP_ANONYMOUS", "MAP_SHARED_VALIDATE")


def _mmap_check(bases: Mapping[str, str]):
    """The mmap step's cross-key check, ``bases`` mapping every type to its core base type."""
    def check(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
        base = bases.get(args["type"], args["type"])
        if base in ("file", "file-shared") and "file" not in given:
            raise InvalidValue(f"mmap.file is required when type is {args['type']}",
                               "add file: NAME, the file to map", key="type")
        if base not in ("file", "file-shared") and "file" in given:
            raise InvalidValue(f"mmap.file is only used with a file type (type is {args['type']})",
                               "add type: file or file-shared, or remove file", key="file")
        if base in FD_BASES and "fd" not in given:
            raise InvalidValue(f"mmap.fd is required when type is {args['type']}",
                               "add fd: NAME, the open file to map (an earlier open's name)", key="type")
        if base not in FD_BASES and "fd" in given:
            raise InvalidValue(f"mmap.fd is only used with type fd or fd-shared (type is {args['type']})",
                               "add type: fd or fd-shared, or remove fd", key="fd")
        seen: dict = {}
        for i, flag in enumerate(args["flags"]):
            if flag in seen:
                raise InvalidValue(f"{flag} is given twice in mmap.flags", "list each flag once",
                                   key=("flags", i))
            seen[flag] = i
        fixed = next((f for f in ("MAP_FIXED_NOREPLACE", "MAP_FIXED") if f in seen), None)
        if fixed is not None and args["addr"] is None:
            raise InvalidValue(f"mmap with {fixed} needs addr", "add addr: ADDRESS, where the mapping "
                               "must start (a multiple of 4 KiB)", key=("flags", seen[fixed]))
        return args
    return check


_check_mmap = _mmap_check({t.name: t.base for t in MMAP_TYPES})


MMAP_PARAMS: Tuple[Param, ...] = (
    Param("name", "str", "name of the mapping, unique in the task", required=True,
          check=_non_empty, defines="vma"),
    Param("length", "size", "length of the mapping", required=True, minimum=1),
    Param("type", "enum", "how the mapping is backed (the values are listed below the table)",
          default="anon", choices=tuple(t.name for t in MMAP_TYPES)),
    Param("file", "str", "the file to map: NAME for /mnt/disk/NAME or an absolute path (required "
          "iff type is a file type)", check=_non_empty),
    Param("fd", "str", "the open file to map (required iff type is fd or fd-shared)", refers="fd"),
    Param("offset", "size", "file offset", default=0),
    Param("prot", "enum", "protection: none, r (PROT_READ), rw, rx, rwx", default="rw", choices=PROTS),
    Param("flags", "list", "MAP_* flags, each at most once (the values are listed below the table)",
          default=(), of=Param("flag", "enum", "a MAP_* flag", choices=tuple(f.name for f in MMAP_FLAGS))),
    Param("populate", "bool", "fault the whole mapping in at once (MAP_POPULATE)", default=False),
    Param("addr", "address", "address hint; with MAP_FIXED or MAP_FIXED_NOREPLACE, the address "
          "(default: the kernel chooses)"),
)

MUNMAP_PARAMS: Tuple[Param, ...] = (_VMA, _OFFSET, _LENGTH_TO_END)

MPROTECT_PARAMS: Tuple[Param, ...] = (
    _VMA, _OFFSET, _LENGTH_TO_END,
    Param("prot", "enum", "new protection: none, r, rw, rx, rwx", required=True, choices=PROTS),
)

MLOCK_PARAMS: Tuple[Param, ...] = (
    _VMA, _OFFSET, _LENGTH_TO_END,
    Param("flags", "list", "mlock2(2) flags, each at most once (none: mlock(2))", default=(),
          of=Param("flag", "enum", "an mlock2 flag", choices=tuple(MLOCK_FLAGS))),
)

MUNLOCK_PARAMS: Tuple[Param, ...] = (_VMA, _OFFSET, _LENGTH_TO_END)

MLOCKALL_PARAMS: Tuple[Param, ...] = (
    Param("flags", "list", "MCL_* flags, each at most once", required=True,
          of=Param("flag", "enum", "an mlockall flag", choices=tuple(MCL_FLAGS))),
)

MUNLOCKALL_PARAMS: Tuple[Param, ...] = ()


def _check_touch(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    if "stride" in given and args["pattern"] != "strided":
        raise InvalidValue(f"touch.stride is only used with pattern: strided (pattern is {args['pattern']})",
                           "add pattern: strided, or remove stride", key="stride")
    if "count" in given and args["pattern"] != "random":
        raise InvalidValue(f"touch.count is only used with pattern: random (pattern is {args['pattern']})",
                           "add pattern: random, or remove count", key="count")
    return args


TOUCH_PARAMS: Tuple[Param, ...] = (
    _VMA, _OFFSET, _LENGTH_TO_END,
    Param("access", "enum", "read or write each page touched", default="write", choices=("read", "write")),
    Param("pattern", "enum", "order of the pages touched: sequential, random (seeded) or strided",
          default="sequential", choices=("sequential", "random", "strided")),
    Param("stride", "size", "distance between touches (pattern: strided only)", default="4 KiB", minimum=1),
    Param("count", "int", "number of touches (pattern: random only; default: one per page of the range)",
          minimum=1),
    Param("stamp", "bool", "a write gives each page it writes a stamp of this task and step (8 bytes "
          "beside the frame, kept by every copy of the page: COW, migration, userfaultfd's COPY), "
          "so a workload can compare pages without keeping their bytes", default=False),
)


def _decode(data: str, encoding: str, key: str, what: str) -> bytes:
    if encoding == "text":
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue(f"{what} holds {data[exc.start]!r}, which UTF-8 cannot encode",
                               "write the bytes with encoding: hex", key=key) from None
    digits = "".join(data.split())
    if len(digits) % 2:
        raise InvalidValue(f"{what} has {len(digits)} hex digits, an odd number",
                           "write two hex digits per byte, e.g. 'de ad be ef'", key=key)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        bad = next(c for c in digits if c not in "0123456789abcdefABCDEF")
        raise InvalidValue(f"{what} holds {bad!r}, not a hex digit",
                           "write two hex digits (0-9, a-f) per byte, or set encoding: text",
                           key=key) from None


def _vma_or_fd(step: str, args: Mapping[str, Any], given: AbstractSet[str]) -> None:
    if ("vma" in given) == ("fd" in given):
        raise InvalidValue(f"{step} needs exactly one of vma and fd",
                           "give vma: NAME (a mapping) or fd: NAME (an open file)",
                           key="fd" if "fd" in given else None)
    if "buffer" in given and "fd" not in given:
        raise InvalidValue(f"{step}.buffer is only used with fd: it names the user memory the "
                           f"file's bytes {'go to' if step == 'read' else 'come from'}",
                           "give fd: NAME, or remove buffer", key="buffer")
    if "fd" in given and "offset" in given and "buffer" not in given:
        raise InvalidValue(f"{step}.offset is only used with vma or buffer: a {step} of a file is "
                           "at its position", f"remove offset, or use p{step} with offset",
                           key="offset")


def _check_write(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _vma_or_fd("write", args, given)
    if "buffer" in given:
        if "data" in given:
            raise InvalidValue("write.data and write.buffer both give the bytes to write",
                               "keep buffer (a write(2) from user memory) or data", key="data")
        if "length" not in given:
            raise InvalidValue("write with a buffer needs length", "add length: SIZE")
        return args
    if "length" in given:
        raise InvalidValue("write.length is only used with buffer (data gives its own length)",
                           "remove length", key="length")
    if "data" not in given:
        raise InvalidValue("write needs data (or, with fd, a buffer)", "add data: BYTES")
    data = _decode(args["data"], args["encoding"], "data", "write.data")
    if not data:
        raise InvalidValue("write.data is empty", "give at least one byte to write", key="data")
    return {**args, "data": data}


def _check_read(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _vma_or_fd("read", args, given)
    if "buffer" in given:
        # a read into user memory may come back short: expect is what it copied, length the ask
        if "length" not in given:
            raise InvalidValue("read with a buffer needs length", "add length: SIZE")
        if args["expect"] is None:
            return args
        checked = _read_expect({**args, "length": None}, "read")
        if len(checked["expect"]) > args["length"]:
            raise InvalidValue(f"read.expect holds {len(checked['expect'])} bytes, more than "
                               f"read.length ({args['length']})", "make expect shorter",
                               key="expect")
        return {**checked, "length": args["length"]}
    return _read_expect(args, "read")


def _read_expect(args: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    args = dict(args)
    if args["expect"] is not None:
        args["expect"] = _decode(args["expect"], args["encoding"], "expect", f"{step}.expect")
        if not args["expect"]:
            raise InvalidValue(f"{step}.expect is empty", "give the bytes expected, or remove expect",
                               key="expect")
        if args["length"] is None:
            args["length"] = len(args["expect"])
        elif args["length"] != len(args["expect"]):
            raise InvalidValue(f"{step}.length is {args['length']} but {step}.expect holds "
                               f"{len(args['expect'])} bytes",
                               "make them agree, or leave length out", key="length")
    elif args["length"] is None:
        raise InvalidValue(f"{step} needs length or expect", "add length: SIZE, or expect: BYTES")
    return args


_VMA_OR_FD = (
    Param("vma", "str", "name of the mapping (an earlier mmap's name); or give fd", refers="vma"),
    Param("fd", "str", "name of the open file (an earlier open's name), at its position; or give vma",
          refers="fd"),
)
_OFFSET_VMA = Param("offset", "size", "offset into the mapping (vma) or the buffer (fd with buffer)",
                    default=0)

WRITE_PARAMS: Tuple[Param, ...] = (
    *_VMA_OR_FD,
    Param("buffer", "str", "with fd: the mapping whose bytes write(2) copies into the file, a "
          "kernel access to user memory (copy_from_user(); a fault it cannot resolve makes the "
          "write short, or EFAULT if nothing was copied)", refers="vma"),
    _OFFSET_VMA,
    Param("data", "str", "the bytes to write, in the given encoding (or give buffer)"),
    Param("length", "size", "bytes to write from buffer", minimum=1),
    _ENCODING,
)

READ_PARAMS: Tuple[Param, ...] = (
    *_VMA_OR_FD,
    Param("buffer", "str", "with fd: the mapping read(2) copies the file's bytes into, a kernel "
          "access to user memory (copy_to_user(); a fault it cannot resolve makes the read "
          "short, or EFAULT if nothing was copied)", refers="vma"),
    _OFFSET_VMA,
    Param("length", "size", "bytes to read (default: the length of expect; required with buffer)",
          minimum=1),
    Param("expect", "str", "the bytes expected, in the given encoding (with buffer: the bytes "
          "read(2) copied, which a fault can make fewer than length); a mismatch fails the run"),
    _ENCODING,
)

FORK_PARAMS: Tuple[Param, ...] = (
    Param("child", "str", "name of the new task, unique in the workload", required=True,
          check=_non_empty, defines="task"),
    Param("steps", "steps", "what the child does; it starts with a copy of the parent's mappings",
          required=True),
    Param("cpu", "cpu", "CPU the child starts on (default: the scheduler's choice)"),
)

EXIT_PARAMS: Tuple[Param, ...] = (
    Param("code", "int", "exit status", default=0, minimum=0, maximum=255),
)

CLONE_PARAMS: Tuple[Param, ...] = (
    Param("thread", "str", "name of the new thread, unique in the workload", required=True,
          check=_non_empty, defines="thread"),
    Param("steps", "steps", "what the thread does; it shares the process's address space, so "
          "mappings either creates are known to both", required=True),
    Param("cpu", "cpu", "CPU the thread starts on (default: its creator's)"),
    Param("comm", "str", "the thread's command name (default: its creator's, as after "
          "pthread_create(); pthread_setname_np() would set another)", check=_check_comm),
)

EXIT_GROUP_PARAMS: Tuple[Param, ...] = (
    Param("code", "int", "exit status of every thread of the process", default=0, minimum=0,
          maximum=255),
)


def _check_flag_list(args: Mapping[str, Any], step: str) -> None:
    seen = set()
    for i, flag in enumerate(args["flags"]):
        if flag in seen:
            raise InvalidValue(f"{flag} is given twice in {step}.flags", "list each flag once",
                               key=("flags", i))
        seen.add(flag)


def _check_mremap(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _check_flag_list(args, "mremap")
    if "new_address" in given and not {"MREMAP_FIXED", "MREMAP_DONTUNMAP"} & set(args["flags"]):
        raise InvalidValue("mremap.new_address is only read with MREMAP_FIXED or MREMAP_DONTUNMAP",
                           "add MREMAP_MAYMOVE and MREMAP_FIXED to flags, or remove new_address",
                           key="new_address")
    return args


MREMAP_PARAMS: Tuple[Param, ...] = (
    _VMA,
    Param("offset", "size", "where the old range starts in the mapping (old_address = the "
          "mapping's start + offset)", default=0),
    Param("old_length", "size", "length of the old range (old_size; default: to the end of the "
          "mapping); 0 duplicates a shared mapping"),
    Param("length", "size", "the new length (new_size)", required=True),
    Param("flags", "list", "MREMAP_* flags, each at most once", default=(),
          of=Param("flag", "enum", "an mremap flag", choices=tuple(MREMAP_FLAGS))),
    Param("new_address", "address", "where to move to (with MREMAP_FIXED; a hint with "
          "MREMAP_DONTUNMAP alone)"),
    Param("name", "str", "name of the remapped range (default: the vma's name moves to it; with "
          "a new name the old one keeps the old range)", check=_non_empty, defines="vma"),
)

_MPOL_MODE = Param("mode", "enum", "default, preferred, bind, interleave, local or preferred_many "
                   "(MPOL_*; preferred_many is v5.15+: EINVAL in the v5.14 profile)",
                   required=True, choices=tuple(MPOL_MODES))
_MPOL_NODES = Param("nodes", "list", "the nodemask: node numbers (nodes without memory are "
                    "dropped; EINVAL when none is left)", default=(),
                    of=Param("node", "int", "a NUMA node number", minimum=0))
_MPOL_FLAGS = Param("flags", "list", "mode flags, each at most once", default=(),
                    of=Param("flag", "enum", "a mode flag", choices=tuple(MPOL_MODE_FLAG_NAMES)))


def _check_mpol(step: str):
    def check(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
        _check_flag_list(args, step)
        return args
    return check


SET_MEMPOLICY_PARAMS: Tuple[Param, ...] = (_MPOL_MODE, _MPOL_NODES, _MPOL_FLAGS)

MBIND_PARAMS: Tuple[Param, ...] = (_VMA, _OFFSET, _LENGTH_TO_END, _MPOL_MODE, _MPOL_NODES, _MPOL_FLAGS)

SYNC_PARAMS: Tuple[Param, ...] = ()

SLEEP_PARAMS: Tuple[Param, ...] = (
    Param("duration", "duration", "emulated time to sleep", required=True),
)

def _check_abs_path(value: str) -> str:
    if not value.startswith("/"):
        raise InvalidValue(f"{value!r} is not an absolute path",
                           f"write it from the root, e.g. '/{value.lstrip('./')}'")
    if "\0" in value:
        raise InvalidValue("the path holds a NUL character", "remove it")
    return value


def _check_mode(value: str) -> int:
    text = value.strip()
    digits = text[2:] if text[:2].lower() == "0o" else text
    if not digits or any(c not in "01234567" for c in digits):
        raise InvalidValue(f"{value!r} is not an octal mode",
                           "write the permission bits in octal, as chmod does: '0755'")
    mode = int(digits, 8)
    if mode > 0o7777:
        raise InvalidValue(f"mode {value} has bits above 07777", "use at most four octal digits, e.g. '0755'")
    return mode


_PATH = Param("path", "str", "absolute path in the machine's file namespace", required=True,
              check=_check_abs_path)


def _check_write_file(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    return {**args, "data": _decode(args["data"], args["encoding"], "data", "write_file.data")}


def _check_read_file(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    if args["expect"] is None:
        if "encoding" in given:
            raise InvalidValue("read_file.encoding is only used with expect",
                               "add expect: TEXT, or remove encoding", key="encoding")
        return args
    return {**args, "expect": _decode(args["expect"], args["encoding"], "expect", "read_file.expect")}


MKDIR_PARAMS: Tuple[Param, ...] = (
    _PATH,
    Param("mode", "str", "permission bits in octal, before the umask (022) is applied",
          default="0777", check=_check_mode),
)

RMDIR_PARAMS: Tuple[Param, ...] = (_PATH,)

MOUNT_PARAMS: Tuple[Param, ...] = (
    Param("type", "str", "filesystem type (mount -t): proc, sysfs, rootfs or one a plugin adds; "
          "an unknown one fails with ENODEV", required=True),
    Param("path", "str", "the directory to mount on (absolute)", required=True, check=_check_abs_path),
    Param("source", "str", "the source (device name) recorded for the mount", default="none"),
    Param("options", "str", "comma-separated options as mount -o takes them (ro, size=1G, ...); "
          "one the filesystem does not know fails with EINVAL", default=""),
)

UMOUNT_PARAMS: Tuple[Param, ...] = (
    Param("path", "str", "the mount point to unmount (absolute)", required=True, check=_check_abs_path),
)

READ_FILE_PARAMS: Tuple[Param, ...] = (
    _PATH,
    Param("expect", "str", "the whole contents expected, in the given encoding; a mismatch fails "
          "the run"),
    _ENCODING,
)

WRITE_FILE_PARAMS: Tuple[Param, ...] = (
    _PATH,
    Param("data", "str", "the bytes to write, in the given encoding (a number for a sysctl: '128')",
          required=True),
    _ENCODING,
)


#: open(2) flags the open step takes (include/uapi/asm-generic/fcntl.h, x86-64): the access mode
#: (at most one of the first three; none is O_RDONLY) and the creation/status flags.
OPEN_FLAGS = {"O_RDONLY": 0o0, "O_WRONLY": 0o1, "O_RDWR": 0o2, "O_CREAT": 0o100, "O_EXCL": 0o200,
              "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_DIRECTORY": 0o200000}
_ACCESS_MODES = ("O_RDONLY", "O_WRONLY", "O_RDWR")
#: fallocate(2) mode bits (include/uapi/linux/falloc.h)
FALLOC_FLAGS = {"FALLOC_FL_KEEP_SIZE": 0x01, "FALLOC_FL_PUNCH_HOLE": 0x02,
                "FALLOC_FL_COLLAPSE_RANGE": 0x08, "FALLOC_FL_ZERO_RANGE": 0x10,
                "FALLOC_FL_INSERT_RANGE": 0x20, "FALLOC_FL_UNSHARE_RANGE": 0x40}
#: posix_fadvise(2) advice (include/uapi/linux/fadvise.h, x86-64)
FADV_ADVICE = {"POSIX_FADV_NORMAL": 0, "POSIX_FADV_RANDOM": 1, "POSIX_FADV_SEQUENTIAL": 2,
               "POSIX_FADV_WILLNEED": 3, "POSIX_FADV_DONTNEED": 4, "POSIX_FADV_NOREUSE": 5}
#: madvise(2) advice the core models (include/uapi/asm-generic/mman-common.h)
MADV_ADVICE = {"MADV_DONTNEED": 4, "MADV_REMOVE": 9, "MADV_PAGEOUT": 21}

_FD = Param("fd", "str", "name of the open file (an earlier open's name)", required=True, refers="fd")


def _check_open(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _check_flag_list(args, "open")
    modes = [(i, f) for i, f in enumerate(args["flags"]) if f in _ACCESS_MODES]
    if len(modes) > 1:
        raise InvalidValue(f"open.flags has two access modes, {modes[0][1]} and {modes[1][1]}",
                           "give one of O_RDONLY, O_WRONLY, O_RDWR", key=("flags", modes[1][0]))
    return args


def _check_pread(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    return _read_expect(args, "pread")


def _check_pwrite(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    data = _decode(args["data"], args["encoding"], "data", "pwrite.data")
    if not data:
        raise InvalidValue("pwrite.data is empty", "give at least one byte to write", key="data")
    return {**args, "data": data}


def _check_fallocate(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    _check_flag_list({"flags": args["mode"]}, "fallocate")
    return args


OPEN_PARAMS: Tuple[Param, ...] = (
    _PATH,
    Param("name", "str", "name of the new fd, for the later steps (unique in the task)", required=True,
          check=_non_empty, defines="fd"),
    Param("flags", "list", "O_* flags, each at most once; one access mode (default O_RDONLY)",
          default=(), of=Param("flag", "enum", "an open flag", choices=tuple(OPEN_FLAGS))),
    Param("mode", "str", "permission bits of a file O_CREAT creates, in octal, before the umask",
          default="0666", check=_check_mode),
)

CLOSE_PARAMS: Tuple[Param, ...] = (_FD,)

PREAD_PARAMS: Tuple[Param, ...] = (
    _FD,
    Param("offset", "size", "file offset to read at (the fd's position does not move)", required=True),
    Param("length", "size", "bytes to read (default: the length of expect)", minimum=1),
    Param("expect", "str", "the bytes expected, in the given encoding; a mismatch fails the run"),
    _ENCODING,
)

PWRITE_PARAMS: Tuple[Param, ...] = (
    _FD,
    Param("offset", "size", "file offset to write at (the fd's position does not move)", required=True),
    Param("data", "str", "the bytes to write, in the given encoding", required=True),
    _ENCODING,
)

FTRUNCATE_PARAMS: Tuple[Param, ...] = (
    _FD, Param("length", "size", "the new size of the file (a negative one fails with EINVAL, "
               "as the kernel's)", required=True, minimum=-(1 << 63)),
)

UNLINK_PARAMS: Tuple[Param, ...] = (
    Param("path", "str", "the file to remove (absolute)", required=True, check=_check_abs_path),
)

FSYNC_PARAMS: Tuple[Param, ...] = (_FD,)

FALLOCATE_PARAMS: Tuple[Param, ...] = (
    _FD,
    Param("mode", "list", "FALLOC_FL_* flags, each at most once (none: allocate)", default=(),
          of=Param("flag", "enum", "a fallocate flag", choices=tuple(FALLOC_FLAGS))),
    Param("offset", "size", "start of the range", default=0),
    Param("length", "size", "length of the range", required=True),
)

FADVISE_PARAMS: Tuple[Param, ...] = (
    _FD,
    Param("advice", "enum", "the POSIX_FADV_* advice", required=True, choices=tuple(FADV_ADVICE)),
    Param("offset", "size", "start of the range", default=0),
    Param("length", "size", "length of the range (0: to the end of the file)", default=0),
)

MADVISE_PARAMS: Tuple[Param, ...] = (
    _VMA, _OFFSET, _LENGTH_TO_END,
    Param("advice", "enum", "the MADV_* advice", required=True, choices=tuple(MADV_ADVICE)),
)


#: errno names Python knows (ENOMEM, EINVAL, EFAULT, ...), as accepted by ``expect.errno``.
ERRNO_NAMES: Tuple[str, ...] = tuple(sorted(n for n in dir(_errno) if re.fullmatch(r"E[A-Z0-9]+", n)))


def _check_errno(value: str) -> str:
    if value in ERRNO_NAMES:
        return value
    if value.upper() in ERRNO_NAMES:
        fix = f"did you mean {value.upper()!r}? (errno names are upper case)"
    else:
        fix = _suggest(value, ERRNO_NAMES) or "use an errno name such as ENOMEM, EINVAL or EFAULT"
    raise InvalidValue(f"{value!r} is not an errno name", fix)


def _meminfo_keys() -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    from memsim import mmstat
    every = tuple(dict.fromkeys(k for _, lines in mmstat.MEMINFO_LINES.items() for k in lines))
    return tuple(k for k in every if k not in mmstat.COUNT_LINES), tuple(mmstat.COUNT_LINES)


#: Keys of /proc/meminfo (memsim.mmstat's lines of every profile, in the kernel's order): sizes,
#: printed in kB, and counts of huge pages.
MEMINFO_SIZE_KEYS, MEMINFO_COUNT_KEYS = _meminfo_keys()
MEMINFO_KEYS = MEMINFO_SIZE_KEYS + MEMINFO_COUNT_KEYS

#: expect.rss keys and the mm counter each one reads (enum of include/linux/mm_types_task.h).
RSS_KEYS = {"file": "MM_FILEPAGES", "anon": "MM_ANONPAGES", "swapents": "MM_SWAPENTS",
            "shmem": "MM_SHMEMPAGES"}
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
_BUDDY_KEY_RE = re.compile(r"^\s*node\s*(\d+)\s*,?\s*zone\s+(\S+)\s*$", re.IGNORECASE)


def _check_buddy_counts(value) -> Any:
    if len(value) != MAX_ORDER:
        raise InvalidValue(f"a buddyinfo line has {MAX_ORDER} free-block counts (orders 0 to "
                           f"{MAX_ORDER - 1}), not {len(value)}",
                           f"give {MAX_ORDER} numbers, as in /proc/buddyinfo")
    return value


def _check_buddyinfo(value: Mapping[str, Any]) -> Mapping[str, Any]:
    out = {}
    for key, counts in value.items():
        m = _BUDDY_KEY_RE.match(key)
        if m is None:
            raise InvalidValue(f"{key!r} is not a /proc/buddyinfo line name",
                               "write 'Node N, zone ZONE', e.g. 'Node 0, zone DMA32'",
                               key=(key,), on_key=True)
        zone = {z.lower(): z for z in ZONE_NAMES}.get(m.group(2).lower())
        if zone is None:
            raise InvalidValue(f"zone {m.group(2)!r} is not an x86-64 zone",
                               "use one of " + ", ".join(ZONE_NAMES), key=(key,), on_key=True)
        canon = f"Node {int(m.group(1))}, zone {zone}"
        if canon in out:
            raise InvalidValue(f"{canon!r} is given twice", "keep one line per node and zone",
                               key=(key,), on_key=True)
        out[canon] = counts
    return MappingProxyType(out)


#: Signal names (x86-64 numbering, memsim.signals), as accepted by ``expect.signal``.
SIGNAL_NAMES: Tuple[str, ...] = tuple(SIGNALS)


def _check_signal(value: str) -> str:
    if value in SIGNALS:
        return value
    for guess in (value.upper(), "SIG" + value.upper()):
        if guess in SIGNALS:
            raise InvalidValue(f"{value!r} is not a signal name", f"did you mean {guess!r}?")
    fix = _suggest(value, SIGNAL_NAMES) or "use a signal name such as SIGSEGV or SIGBUS"
    raise InvalidValue(f"{value!r} is not a signal name", fix)


def _check_expect(args: Mapping[str, Any], given: AbstractSet[str]) -> Mapping[str, Any]:
    if args.get("si_code") is not None and args.get("signal") is None:
        raise InvalidValue("expect.si_code is only read with expect.signal",
                           "add signal: SIGSEGV (or the signal you expect)", key="si_code")
    if not any(value is not None for value in args.values()):     # plugins' keys count too
        raise InvalidValue("expect has no assertion",
                           "give at least one of errno, signal, rss, meminfo, buddyinfo, file")
    if args.get("si_code") is not None:
        codes = SI_CODES.get(args["signal"], {})
        if args["si_code"] not in codes:
            fix = (f"{args['signal']} comes with {', '.join(codes)}" if codes
                   else f"memsim knows no si_code of {args['signal']}; remove si_code")
            raise InvalidValue(f"{args['si_code']!r} is not a si_code of {args['signal']}",
                               _suggest(args["si_code"], codes) or fix, key="si_code")
    return args


def _check_expect_file(value: Mapping[str, Any]) -> Mapping[str, Any]:
    given = [k for k in ("equals", "contains", "fields") if value.get(k) is not None]
    if not given:
        raise InvalidValue("expect.file needs one of equals, contains or fields",
                           "add equals: TEXT, contains: TEXT or fields: {NAME: VALUE}")
    if len(given) > 1:
        raise InvalidValue(f"expect.file has both {given[0]} and {given[1]}",
                           "give one of equals, contains or fields per file expectation",
                           key=(given[1],), on_key=True)
    if "fields" in given and not value["fields"]:
        raise InvalidValue("expect.file.fields is empty", "give at least one NAME: VALUE", key=("fields",))
    return value


EXPECT_PARAMS: Tuple[Param, ...] = (
    Param("errno", "str", "the previous operation must have failed with this errno (ENOMEM, EINVAL, ...)",
          check=_check_errno),
    Param("signal", "str", "the previous step must have raised this signal (SIGSEGV, SIGBUS, ...); "
          "the task's handler catches it and the task goes on after the faulting access (without "
          "this key a signal kills the process)", check=_check_signal),
    Param("si_code", "str", "with signal: its si_code (SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR, "
          "BUS_MCEERR_AR, ...)"),
    Param("rss", "map", "the task's rss counters (mm->rss_stat), in bytes",
          items=tuple(Param(k, "size", f"{counter} in bytes (whole pages)", check=_whole_pages)
                      for k, counter in RSS_KEYS.items())),
    Param("meminfo", "map", "/proc/meminfo values: sizes (kB in the file) and HugePages_* counts; "
          "exact, as after a write to /proc/sys/vm/stat_refresh (the file lags by the per-CPU "
          "vmstat differentials)",
          items=tuple(Param(k, "size", f"/proc/meminfo {k}", check=_whole_kib) for k in MEMINFO_SIZE_KEYS)
          + tuple(Param(k, "int", f"/proc/meminfo {k} (huge pages)", minimum=0) for k in MEMINFO_COUNT_KEYS)),
    Param("buddyinfo", "map", "/proc/buddyinfo lines: free blocks of each order, 0 to 10",
          of=Param("Node N, zone ZONE", "list", "free blocks of orders 0 to 10",
                   of=Param("nr_free", "int", "free blocks of one order", minimum=0),
                   check=_check_buddy_counts),
          check=_check_buddyinfo),
    Param("file", "map", "a file of the namespace (/proc, /sys, ...): its whole text, a part of "
          "it, or the values of some of its 'NAME value' lines",
          items=(Param("path", "str", "absolute path of the file", required=True, check=_check_abs_path),
                 Param("equals", "str", "the whole text expected"),
                 Param("contains", "str", "text the file must hold"),
                 Param("fields", "map", "values of 'NAME value' or 'NAME: value' lines (vmstat, "
                       "meminfo, numastat...): a number, or a size where the file prints kB",
                       of=Param("NAME", "str", "the value expected"))),
          check=_check_expect_file),
)


@dataclass(frozen=True)
class CoreStep:
    """A core step's declaration; :func:`step_type` adds the run function."""

    name: str
    doc: str
    params: Tuple[Param, ...]
    check: Optional[Callable[[Mapping[str, Any], AbstractSet[str]], Mapping[str, Any]]] = None
    example: str = ""


CORE_STEPS: Tuple[CoreStep, ...] = (
    CoreStep("mmap", "Create a mapping (mmap(2)) and name it for the later steps.", MMAP_PARAMS,
             _check_mmap,
             "- mmap: {name: buf, length: 1 GiB}\n"
             "- mmap: {name: lib, length: 64 KiB, type: file, file: libc.so, prot: rx}\n"
             "- mmap: {name: big, length: 64 GiB, flags: [MAP_NORESERVE]}\n"
             "- mmap: {name: at, length: 2 MiB, addr: 0x700000000000, flags: [MAP_FIXED_NOREPLACE]}\n"
             "- open: {path: /mnt/data, name: f, flags: [O_RDWR, O_CREAT]}\n"
             "- mmap: {name: data, length: 1 MiB, type: fd-shared, fd: f}"),
    CoreStep("munmap", "Unmap a mapping or a range of it (munmap(2)).", MUNMAP_PARAMS, None,
             "- munmap: {vma: buf, offset: 4 KiB, length: 8 KiB}"),
    CoreStep("mprotect", "Change the protection of a mapping or a range of it (mprotect(2)).",
             MPROTECT_PARAMS, None, "- mprotect: {vma: buf, prot: r}"),
    CoreStep("mlock", "Lock the pages of a mapping or a range of it in memory (mlock(2), or "
             "mlock2(2) with flags): they are faulted in (not with MLOCK_ONFAULT) and move to the "
             "unevictable LRU, which reclaim leaves alone; a hole in the range is ENOMEM.",
             MLOCK_PARAMS, None,
             "- mlock: {vma: buf}\n- mlock: {vma: buf, length: 1 MiB, flags: [MLOCK_ONFAULT]}"),
    CoreStep("munlock", "Unlock the pages of a mapping or a range of it (munlock(2)): they go back "
             "to the evictable LRU lists.", MUNLOCK_PARAMS, None, "- munlock: {vma: buf}"),
    CoreStep("mlockall", "Lock every mapping of the process (mlockall(2)): MCL_CURRENT the present "
             "ones, MCL_FUTURE those mapped later, MCL_ONFAULT only as they fault.", MLOCKALL_PARAMS,
             None, "- mlockall: {flags: [MCL_CURRENT, MCL_FUTURE]}"),
    CoreStep("munlockall", "Unlock every mapping of the process and stop locking new ones "
             "(munlockall(2)).", MUNLOCKALL_PARAMS, None, "- munlockall: {}"),
    CoreStep("touch", "Access the pages of a range, faulting them in as needed.", TOUCH_PARAMS,
             _check_touch,
             "- touch: {vma: buf, access: write}\n"
             "- touch: {vma: buf, pattern: strided, stride: 2 MiB, access: read}"),
    CoreStep("write", "Write bytes into a mapping, or into an open file at its position (write(2)): "
             "the bytes given, or with buffer those of a mapping, which the kernel reads as a "
             "kernel access to user memory.",
             WRITE_PARAMS, _check_write,
             "- write: {vma: buf, offset: 16, data: hello}\n"
             "- write: {vma: buf, data: 'de ad be ef', encoding: hex}\n"
             "- write: {fd: f, data: hello}\n"
             "- write: {fd: f, buffer: buf, offset: 16, length: 16}"),
    CoreStep("read", "Read bytes from a mapping, or from an open file at its position (read(2)), "
             "and optionally compare them; with buffer the kernel copies the file's bytes into a "
             "mapping (a kernel access to user memory).", READ_PARAMS, _check_read,
             "- read: {vma: buf, offset: 16, expect: hello}\n- read: {fd: f, length: 4 GiB}\n"
             "- read: {fd: f, buffer: buf, offset: 16, length: 16}"),
    CoreStep("fork", "Fork a child task that runs its own steps (fork(2)).", FORK_PARAMS, None,
             "- fork:\n"
             "    child: kid\n"
             "    steps:\n"
             "      - touch: {vma: buf, length: 8 KiB}\n"
             "      - exit: {}"),
    CoreStep("mremap", "Grow, shrink or move a mapping or a range of it (mremap(2)); its name "
             "follows the result.", MREMAP_PARAMS, _check_mremap,
             "- mremap: {vma: buf, length: 2 GiB, flags: [MREMAP_MAYMOVE]}\n"
             "- mremap: {vma: buf, length: 1 GiB, name: copy, flags: [MREMAP_MAYMOVE, MREMAP_DONTUNMAP]}"),
    CoreStep("clone", "Start a thread of this process (clone(2) with CLONE_VM | CLONE_THREAD | "
             "CLONE_SIGHAND, as pthread_create()) that runs its own steps.", CLONE_PARAMS, None,
             "- clone:\n"
             "    thread: worker\n"
             "    steps:\n"
             "      - touch: {vma: buf, length: 8 KiB}"),
    CoreStep("exit", "End this thread (exit(2)), as a task whose steps run out does; the process's "
             "memory is torn down with its last thread.", EXIT_PARAMS, None,
             "- exit: {}\n- exit: {code: 3}"),
    CoreStep("exit_group", "End every thread of the process (exit_group(2), as exit(3) and a return "
             "from main() do).", EXIT_GROUP_PARAMS, None, "- exit_group: {code: 1}"),
    CoreStep("set_mempolicy", "Set the task's NUMA memory policy for its later allocations "
             "(set_mempolicy(2)).", SET_MEMPOLICY_PARAMS, _check_mpol("set_mempolicy"),
             "- set_mempolicy: {mode: bind, nodes: [1]}\n"
             "- set_mempolicy: {mode: interleave, nodes: [0, 1]}\n"
             "- set_mempolicy: {mode: default}"),
    CoreStep("mbind", "Set the NUMA memory policy of a mapping or a range of it (mbind(2)); pages "
             "faulted afterwards follow it.", MBIND_PARAMS, _check_mpol("mbind"),
             "- mbind: {vma: buf, offset: 1 MiB, length: 1 MiB, mode: preferred, nodes: [1]}"),
    CoreStep("sleep", "Let emulated time pass without running the task.", SLEEP_PARAMS, None,
             "- sleep: {duration: 1ms}"),
    CoreStep("sync", "Write every dirty page of the files back (sync(2)): written shared file "
             "pages become clean, so drop_caches and reclaim can drop them.", SYNC_PARAMS, None,
             "- sync: {}"),
    CoreStep("mkdir", "Make a directory (mkdir(2)); a failure sets the errno (EEXIST, ENOENT, "
             "EPERM in sysfs, ...).", MKDIR_PARAMS, None,
             "- mkdir: {path: /mnt/data}\n- mkdir: {path: /mnt/private, mode: '0700'}"),
    CoreStep("rmdir", "Remove an empty directory (rmdir(2)); a failure sets the errno (ENOTEMPTY, "
             "EBUSY for a mount point, ...).", RMDIR_PARAMS, None, "- rmdir: {path: /mnt/data}"),
    CoreStep("mount", "Mount a filesystem on a directory (mount(2)); a failure sets the errno "
             "(ENODEV, ENOENT, EINVAL, ...).", MOUNT_PARAMS, None,
             "- mount: {type: proc, path: /mnt/proc}\n- mount: {type: rootfs, path: /mnt, options: ro}"),
    CoreStep("umount", "Unmount the filesystem mounted on a directory (umount(2)); a failure sets "
             "the errno (EINVAL if it is not a mount point, EBUSY while in use).", UMOUNT_PARAMS, None,
             "- umount: {path: /mnt/proc}"),
    CoreStep("read_file", "Open a file, read all of it and close it (as cat does); a failure sets "
             "the errno.", READ_FILE_PARAMS, _check_read_file,
             "- read_file: {path: /proc/meminfo}\n"
             "- read_file: {path: /proc/sys/vm/min_free_kbytes, expect: \"8192\\n\"}"),
    CoreStep("write_file", "Open a file for writing (creating, truncating), write the data and "
             "close it (as a shell's > does); a failure sets the errno (EINVAL for a sysctl that "
             "does not parse, EACCES, EIO...).", WRITE_FILE_PARAMS, _check_write_file,
             "- write_file: {path: /proc/sys/vm/min_free_kbytes, data: \"8192\"}\n"
             "- write_file: {path: /proc/sys/vm/stat_refresh, data: \"1\"}"),
    CoreStep("open", "Open a file (open(2)) and name the fd for the later steps; a failure sets "
             "the errno (ENOENT for a missing path without O_CREAT, EEXIST with O_EXCL, EISDIR, "
             "EACCES...) and leaves the name unbound (its uses fail with EBADF).", OPEN_PARAMS,
             _check_open,
             "- open: {path: /mnt/log, name: log, flags: [O_WRONLY, O_CREAT, O_TRUNC]}\n"
             "- open: {path: /mnt/data, name: ro}"),
    CoreStep("close", "Close an fd (close(2)); a later use of its name fails with EBADF, or reaches "
             "whatever file a later open gave the same number, as in a program.", CLOSE_PARAMS, None,
             "- close: {fd: f}"),
    CoreStep("pread", "Read bytes of an open file at an offset (pread(2)) without moving its "
             "position, and optionally compare them.", PREAD_PARAMS, _check_pread,
             "- pread: {fd: f, offset: 4 KiB, expect: hello}\n- pread: {fd: f, offset: 0, length: 1 GiB}"),
    CoreStep("pwrite", "Write bytes into an open file at an offset (pwrite(2)) without moving its "
             "position.", PWRITE_PARAMS, _check_pwrite, "- pwrite: {fd: f, offset: 4 KiB, data: hello}"),
    CoreStep("ftruncate", "Set the size of an open file (ftruncate(2)): pages past the end go; "
             "EINVAL for a file not open for writing.", FTRUNCATE_PARAMS, None,
             "- ftruncate: {fd: f, length: 1 MiB}"),
    CoreStep("unlink", "Remove a file's name (unlink(2)); the file lives on while it is open or "
             "mapped.", UNLINK_PARAMS, None, "- unlink: {path: /mnt/data}"),
    CoreStep("fsync", "Write an open file's dirty pages back and wait (fsync(2)); EINVAL for a file "
             "that cannot be synced.", FSYNC_PARAMS, None, "- fsync: {fd: f}"),
    CoreStep("fallocate", "Allocate or punch a hole in a range of an open file (fallocate(2)); "
             "FALLOC_FL_PUNCH_HOLE needs FALLOC_FL_KEEP_SIZE (else EOPNOTSUPP).", FALLOCATE_PARAMS,
             _check_fallocate,
             "- fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], offset: 4 KiB, "
             "length: 8 KiB}"),
    CoreStep("fadvise", "Advise the kernel about a range of an open file (posix_fadvise(2)): "
             "POSIX_FADV_DONTNEED drops its clean, unmapped pages from the page cache; on a "
             "file of a disk, WILLNEED reads the range ahead, SEQUENTIAL doubles the readahead "
             "window, RANDOM turns readahead off and NORMAL back on.",
             FADVISE_PARAMS, None, "- fadvise: {fd: f, advice: POSIX_FADV_DONTNEED}"),
    CoreStep("madvise", "Advise the kernel about a mapping or a range of it (madvise(2)): "
             "MADV_DONTNEED unmaps its pages, MADV_REMOVE punches a hole in the file of a shared "
             "writable mapping (EACCES otherwise).", MADVISE_PARAMS, None,
             "- madvise: {vma: buf, advice: MADV_DONTNEED}"),
    CoreStep("expect", "Check the state reached so far; a mismatch fails the run (exit code 1).",
             EXPECT_PARAMS, _check_expect,
             "- expect: {errno: ENOMEM}\n"
             "- expect: {signal: SIGSEGV, si_code: SEGV_ACCERR}\n"
             "- expect: {rss: {anon: 1 GiB, file: 0}}\n"
             "- expect: {meminfo: {AnonPages: 1 GiB}}\n"
             "- expect: {buddyinfo: {'Node 0, zone DMA': [1, 1, 1, 0, 2, 1, 1, 0, 1, 1, 3]}}\n"
             "- expect: {file: {path: /proc/vmstat, fields: {pgfree: 512}}}\n"
             "- expect: {file: {path: /proc/meminfo, contains: 'HugePages_Total:       0'}}"),
)


def step_type(name: str, run: Callable[..., Any], plugin: str = "core") -> StepType:
    """The :class:`StepType` of core step ``name`` with its ``run`` function."""
    for core in CORE_STEPS:
        if core.name == name:
            return StepType(name=core.name, doc=core.doc, params=core.params, run=run, plugin=plugin,
                            example=core.example, check=core.check)
    raise KeyError(f"no core step {name!r}; core steps: {', '.join(s.name for s in CORE_STEPS)}")


def core_step_types(runs: Mapping[str, Callable[..., Any]], plugin: str = "core") -> Tuple[StepType, ...]:
    """Every core step as a :class:`StepType`, ``runs[name]`` being its run function."""
    missing = [s.name for s in CORE_STEPS if s.name not in runs]
    if missing:
        raise KeyError(f"no run function for core step(s) {', '.join(missing)}")
    return tuple(step_type(s.name, runs[s.name], plugin) for s in CORE_STEPS)


# ----------------------------------------------------------------------------------------------
# Extensions: the core declarations with the values and keys plugins added
# ----------------------------------------------------------------------------------------------

def core_extension_names(kind: type) -> Mapping[str, str]:
    """Names the core declares for one kind of extension, each with why it is taken: a plugin
    cannot add them (:meth:`memsim.registry.Extensions.add`)."""
    if kind is MmapType:
        return {t.name: "a core mmap type" for t in MMAP_TYPES}
    if kind is MmapFlag:
        names = {f.name: "a core mmap flag" for f in MMAP_FLAGS}
        names.update({f: "written as mmap's type" for f in _TYPE_FLAGS})
        return names
    if kind is MachineKey:
        return {p.name: "a core machine key" for p in MACHINE_PARAMS}
    if kind is ExpectKey:
        return {p.name: "a core expect key" for p in EXPECT_PARAMS}
    return {}


def _with_choices(p: Param, extra: Tuple[str, ...]) -> Param:
    if p.of is not None:
        return replace(p, of=_with_choices(p.of, extra))
    return replace(p, choices=p.choices + extra)


def _extend_mmap(st: StepType, extensions: Extensions) -> StepType:
    types = tuple(extensions.mmap_types)
    flags = tuple(extensions.mmap_flags)
    params = tuple(_with_choices(p, types) if p.name == "type" and types else
                   _with_choices(p, flags) if p.name == "flags" and flags else p
                   for p in st.params)
    bases = {t.name: t.base for t in MMAP_TYPES + tuple(extensions.mmap_types.values())}
    check = _mmap_check(bases) if st.check is _check_mmap else st.check
    return replace(st, params=params, check=check)


def _extend_expect(st: StepType, extensions: Extensions) -> StepType:
    return replace(st, params=st.params + tuple(k.param for k in extensions.expect_keys.values()))


_EXTENDERS = {"mmap": _extend_mmap, "expect": _extend_expect}


def extended_step(st: StepType, extensions: Extensions) -> StepType:
    """``st`` with the values and keys plugins added to it (the mmap step's types and flags, the
    expect step's keys); any other step as it is."""
    extend = _EXTENDERS.get(st.name)
    if extend is None or not len(extensions):
        return st
    return extensions.derived(f"step {st.name} {id(st)}", lambda: extend(st, extensions))


def machine_params(extensions: Extensions) -> Tuple[Param, ...]:
    """The ``machine`` section's keys: the core's, then the plugins' :class:`MachineKey` params."""
    if not extensions.machine_keys:
        return MACHINE_PARAMS
    return extensions.derived("machine",
                              lambda: MACHINE_PARAMS + tuple(k.param for k in extensions.machine_keys.values()))
