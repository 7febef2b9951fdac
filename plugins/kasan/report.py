"""KASAN's reports: when one is printed, its bug type and its text, line by line as v5.14 prints them.

mm/kasan/report.c, report_sw_tags.c, report_tags.c and tags.c (kasan.md section 7):

* ``report_enabled()``: an access report is printed unless the task's ``kasan_depth`` is not 0,
  and, without multi-shot, only the first since boot (the "reported" bit).  An invalid-free report
  (``kasan_report_invalid_free``) is printed every time in v5.14 and never sets the bit;
* ``end_report()``: the ``error_report:error_report_end`` event, the closing line, TAINT_BAD_PAGE,
  then a panic when panic_on_warn is set and multi-shot is off;
* the bug type (``kasan_get_bug_type``): with CONFIG_KASAN_TAGS_IDENTIFY an address in a slab page
  is a use-after-free when the pointer's tag is one of the object's recorded free tags, else an
  out-of-bounds; otherwise invalid-access (out-of-bounds for an access that wraps around);
* the text: header, tags, the task's stack, the object and its alloc/free tracks, the page, and
  16 shadow bytes per row around the first bad granule.

memsim's stacks are what it knows: the call trace of the emulated path (kallsyms names with
plausible offsets, memsim.tracing.kallsyms) ending in the caller a step named; a track's stack
is the hooks down to the call site the allocation or free came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from memsim.errors import KernelPanic
from memsim.tracing.error_report import ERROR_DETECTOR_KASAN
from memsim.tracing.kallsyms import call_site, default_kallsyms

SEPARATOR = "=" * 66
#: report.c: META_BYTES_PER_ROW granules per row, META_ROWS_AROUND_ADDR rows each side
META_BYTES_PER_ROW = 16
META_MEM_BYTES_PER_ROW = META_BYTES_PER_ROW * 16
META_ROWS_AROUND_ADDR = 2
DIRECT_MAP = 0xFFFF888000000000
SHADOWED_START = 0xFFFF800000000000
VMEMMAP_BASE = 0xFFFFEA0000000000       # x86-64 vmemmap_base without KASLR (struct page addresses)
PAGE_SIZE = 4096

#: include/linux/kernel.h taint_flags[] of v5.14 (TAINT_FLAGS_COUNT 18): (c_true, c_false)
TAINT_FLAGS = ("PG", "F ", "S ", "R ", "M ", "B ", "U ", "D ", "A ", "W ", "C ", "I ", "O ", "E ",
               "L ", "K ", "X ", "T ")
TAINT_BAD_PAGE = 5
TAINT_WARN = 9

#: what one report is counted as (``expect: {kasan_reports: {KIND: N}}``)
KINDS = ("use-after-free", "out-of-bounds", "invalid-access", "double-free or invalid-free")

#: include/linux/page-flags.h names of the PG_ bits memsim keeps (mm/debug.c pageflag_names)
PAGEFLAG_NAMES = ((0, "locked"), (1, "referenced"), (2, "uptodate"), (3, "dirty"), (4, "lru"),
                  (5, "active"), (6, "workingset"), (7, "waiters"), (8, "error"), (9, "slab"),
                  (10, "owner_priv_1"), (11, "arch_1"), (12, "reserved"), (13, "private"),
                  (14, "private_2"), (15, "writeback"), (16, "head"), (17, "mappedtodisk"),
                  (18, "reclaim"), (19, "swapbacked"), (20, "unevictable"), (21, "mlocked"))


def reset_tag(p: int) -> int:
    """kasan_reset_tag(): bit 55 sign-extended into the top byte."""
    return p | (0xFF << 56) if p & (1 << 55) else p & ~(0xFF << 56)


def get_tag(p: int) -> int:
    return (p >> 56) & 0xFF


def set_tag(p: int, tag: int) -> int:
    return (p & ~(0xFF << 56)) | (tag << 56)


def sym(name: str) -> str:
    """%pS of a return address inside ``name``."""
    return default_kallsyms().resolve(call_site(name)) or name


def sym_addr(addr: int) -> str:
    """%pS of ``addr`` (hex when no symbol holds it)."""
    return default_kallsyms().resolve(addr) or f"0x{addr:x}"


def function_of(addr: int) -> Optional[str]:
    hit = default_kallsyms().lookup(addr)
    return hit[0] if hit else None


@dataclass
class Settings:
    """The ``kasan:`` section as the reporter reads it."""

    multi_shot: bool = False            # kasan_multi_shot (boot parameter)
    tags_identify: bool = False         # CONFIG_KASAN_TAGS_IDENTIFY
    panic_on_warn: bool = False         # /proc/sys/kernel/panic_on_warn


@dataclass
class Report:
    """One printed report."""

    kind: str
    addr: int                           # the id error_report_end carries
    lines: List[str]
    pointer_tag: int
    memory_tag: Optional[int]
    pid: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass
class Reporter:
    """KASAN's report state for one machine (kasan_flags, current->kasan_depth, the taint)."""

    machine: object
    host: object                        # memsim.plugins.kasan.sw_tags.KasanHost
    settings: Settings
    reported: bool = False              # KASAN_BIT_REPORTED
    depth: Dict[int, int] = field(default_factory=dict)    # pid -> current->kasan_depth
    counts: Dict[str, int] = field(default_factory=dict)
    reports: List[Report] = field(default_factory=list)
    suppressed: int = 0                 # access reports report_enabled() refused
    taint: int = 0                      # tainted_mask
    warnings: int = 0
    _caches: Dict[int, object] = field(default_factory=dict)

    # -- report_enabled, kasan_disable_current / kasan_enable_current ---------------------------
    def kasan_disable_current(self, pid: int) -> None:
        """current->kasan_depth-- (v5.14's sign: a disabled task has depth -1)."""
        self.depth[pid] = self.depth.get(pid, 0) - 1

    def kasan_enable_current(self, pid: int) -> None:
        self.depth[pid] = self.depth.get(pid, 0) + 1

    def report_enabled(self, pid: int) -> bool:
        if self.depth.get(pid, 0) != 0:
            return False
        if self.settings.multi_shot:
            return True
        if self.reported:
            return False
        self.reported = True
        return True

    # -- the two entry points the C host calls --------------------------------------------------
    def access(self, addr: int, size: int, write: bool, ip: int) -> bool:
        """kasan_report(): print the report of a bad access unless report_enabled() refuses;
        True if printed (the access is then "invalid")."""
        cur = self.machine.current
        if not self.report_enabled(cur.pid):
            self.suppressed += 1
            return False
        untagged = reset_tag(addr)
        has_shadow = untagged >= SHADOWED_START
        first_bad = self.first_bad_addr(addr, size) if has_shadow else untagged
        kind = self.bug_type(addr, size)
        lines = [SEPARATOR, f"BUG: KASAN: {kind} in {sym_addr(ip)}"]
        what = "Write" if write else "Read"
        who = f"by task {cur.task.comm if cur.task is not None else 'swapper/0'}/{cur.pid}"
        lines.append(f"{what} of size {size} at addr {addr:016x} {who}" if size else
                     f"{what} at addr {addr:016x} {who}")
        mem_tag = None
        if has_shadow:
            mem_tag = self.host.shadow_byte(first_bad)
            lines.append(f"Pointer tag: [{get_tag(addr):02x}], memory tag: [{mem_tag:02x}]")
        lines.append("")
        trace = ["kasan_report", _hwasan(size, write), function_of(ip)]
        if has_shadow:
            lines += self.address_description(untagged, get_tag(addr), trace)
            lines.append("")
            lines += self.memory_metadata(first_bad)
        else:
            lines += self.dump_stack(trace)
        self.end_report(lines, kind, addr, get_tag(addr), mem_tag)
        return True

    def invalid_free(self, ptr: int, ip: int) -> None:
        """kasan_report_invalid_free(): always printed in v5.14 (no report_enabled())."""
        tag = get_tag(ptr)
        obj = reset_tag(ptr)
        mem_tag = self.host.shadow_byte(obj)
        kind = "double-free or invalid-free"
        caller = function_of(ip)
        lines = [SEPARATOR, f"BUG: KASAN: {kind} in {sym_addr(ip)}",
                 f"Pointer tag: [{tag:02x}], memory tag: [{mem_tag:02x}]", ""]
        info = self.page_of(obj)
        if info is not None and info["flags"] & (1 << 9):
            trace = ["kasan_report_invalid_free", "__kasan_slab_free", "slab_free_freelist_hook",
                     "kfree" if self.cache_of(info).kmalloc_type >= 0 else "kmem_cache_free", caller]
        else:
            trace = ["kasan_report_invalid_free", "__kasan_kfree_large", "free_nonslab_page", "kfree",
                     caller]
        lines += self.address_description(obj, tag, trace)
        lines.append("")
        lines += self.memory_metadata(obj)
        self.end_report(lines, kind, obj, tag, mem_tag)

    # -- pieces ----------------------------------------------------------------------------------
    def first_bad_addr(self, addr: int, size: int) -> int:
        """kasan_find_first_bad_addr(): the access address plus 16 * k for the first granule
        whose shadow is not the pointer's tag (not rounded down)."""
        tag = get_tag(addr)
        p = reset_tag(addr)
        end = p + size
        while p < end and self.host.shadow_byte(p) == tag:
            p += 16
        return p

    def page_of(self, addr: int) -> Optional[dict]:
        """kasan_addr_to_page(): the head struct page of a direct-map address in memory."""
        pm = self.machine.physmem
        if not DIRECT_MAP <= addr < DIRECT_MAP + (pm.max_pfn << 12):
            return None
        pfn = (addr - DIRECT_MAP) >> 12
        info = pm.page_info(pfn)
        if info["flags"] & (1 << 36):               # PG_tail
            pfn = info["compound_head"]
            info = pm.page_info(pfn)
        info["pfn"] = pfn
        return info

    def cache_of(self, info: dict):
        """page->slab_cache of a slab page."""
        cache = self._caches.get(info["mapping"])
        if cache is None:
            self._caches = {c.addr: c for c in self.machine.slab.caches()}
            cache = self._caches[info["mapping"]]
        return cache

    def bug_type(self, addr: int, size: int) -> str:
        """kasan_get_bug_type() of report_sw_tags.c."""
        if self.settings.tags_identify:
            info = self.page_of(reset_tag(addr))
            if info is not None and info["flags"] & (1 << 9):      # PageSlab
                obj = self.host.object_info(self.cache_of(info), addr)
                if obj["alloc"] is not None and any(t == get_tag(addr) for t, _, _ in obj["frees"]):
                    return "use-after-free"
                return "out-of-bounds"
        if addr + size >= 1 << 64:
            return "out-of-bounds"
        return "invalid-access"

    def tainted(self) -> str:
        """print_tainted()."""
        if not self.taint:
            return "Not tainted"
        return "Tainted: " + "".join(f[0] if self.taint >> i & 1 else f[1]
                                     for i, f in enumerate(TAINT_FLAGS))

    def release(self) -> str:
        return {"v5.14": "5.14.0", "v6.18": "6.18.0"}.get(self.machine.profile.name, "5.14.0")

    def dump_stack(self, frames: List[Optional[str]]) -> List[str]:
        """dump_stack_lvl(): the task line, the hardware line and the call trace (arm64's)."""
        cur = self.machine.current
        comm = cur.task.comm if cur.task is not None else "swapper/0"
        lines = [f"CPU: {cur.cpu} PID: {cur.pid} Comm: {comm[:20]} {self.tainted()} {self.release()} #1",
                 "Hardware name: memsim (DT)", "Call trace:"]
        for name in ["dump_backtrace", "show_stack", "dump_stack_lvl"] + frames:
            if name is None:
                continue
            # the unwinder starts in dump_backtrace itself: its entry is the function's start
            lines.append(" " + (sym_addr(default_kallsyms().symbol_addr(name))
                                if name == "dump_backtrace" else sym(name)))
        return lines

    def address_description(self, addr: int, tag: int, frames: List[Optional[str]]) -> List[str]:
        """print_address_description(): the stack, then the object and its tracks (a slab page),
        then the page."""
        lines = self.dump_stack(["print_address_description"] + frames)
        lines.append("")
        info = self.page_of(addr)
        if info is not None and info["flags"] & (1 << 9):
            lines += self.describe_object(self.cache_of(info), addr, tag)
        if info is not None:
            lines.append("The buggy address belongs to the page:")
            lines += self.dump_page(info)
        return lines

    def describe_object(self, cache, addr: int, tag: int) -> List[str]:
        """describe_object(): the alloc track, the free track kasan_get_free_track() picks, and
        where the address is relative to the object."""
        obj = self.host.object_info(cache, addr)
        start = obj["object"]
        lines: List[str] = []
        if obj["alloc"] is not None:
            pid, ip = obj["alloc"]
            kmalloc = cache.kmalloc_type >= 0
            lines += self.track("Allocated", pid, ip, ["kasan_save_stack", "kasan_set_track",
                                "__kasan_kmalloc" if kmalloc else "__kasan_slab_alloc",
                                "__kmalloc" if kmalloc else "kmem_cache_alloc"])
            lines.append("")
            frees = obj["frees"]
            i = next((i for i, (t, _, _) in enumerate(frees) if t == tag), None) \
                if self.settings.tags_identify else 0
            if i is None:
                i = obj["free_track_idx"]
            _, fpid, fip = frees[i]
            lines += self.track("Freed", fpid, fip, ["kasan_save_stack", "kasan_set_track",
                                "kasan_set_free_info", "__kasan_slab_free", "slab_free_freelist_hook",
                                "kfree" if kmalloc else "kmem_cache_free"])
            lines.append("")
        size = cache.object_size
        lines.append(f"The buggy address belongs to the object at {start:016x}")
        lines.append(f" which belongs to the cache {cache.name} of size {size}")
        if addr < start:
            rel, n = "to the left", start - addr
        elif addr >= start + size:
            rel, n = "to the right", addr - (start + size)
        else:
            rel, n = "inside", addr - start
        lines.append(f"The buggy address is located {n} bytes {rel} of")
        lines.append(f" {size}-byte region [{start:016x}, {start + size:016x})")
        lines.append("")
        return lines

    def track(self, prefix: str, pid: int, ip: int, hooks: List[str]) -> List[str]:
        """print_track(): "(stack is not available)" for a track never saved."""
        lines = [f"{prefix} by task {pid}:"]
        if ip == 0:
            lines.append("(stack is not available)")
        else:
            lines += [" " + sym(h) for h in hooks] + [" " + sym_addr(ip)]
        return lines

    def dump_page(self, info: dict) -> List[str]:
        """__dump_page(): the page line, the compound line, the flags, the raw words, the reason."""
        from memsim.hashptr import hash_pointer
        k0, k1 = self.machine.ptr_key
        pfn = info["pfn"]
        page_ptr = VMEMMAP_BASE + pfn * 64

        def p(v):
            return f"{hash_pointer(v, k0, k1):016x}" if v else "0000000000000000"
        mapcount = 0 if info["flags"] & (1 << 9) else max(info["mapcount"], 0)
        mapping = 0 if info["flags"] & (1 << 9) else info["mapping"]
        lines = [f"page:{p(page_ptr)} refcount:{info['refcount']} mapcount:{mapcount} "
                 f"mapping:{p(mapping)} index:{info['index']:#x} pfn:{pfn:#x}"]
        if info["flags"] & (1 << 16):
            lines.append(f"head:{p(page_ptr)} order:{info['compound_order']} compound_mapcount:0 "
                         f"compound_pincount:0")
        names = [n for bit, n in PAGEFLAG_NAMES if info["flags"] >> bit & 1]
        # page->flags with the node and zone in memsim's own top bits (the kernel's positions
        # depend on its config: SECTIONS/NODES/ZONES_PGSHIFT)
        zone = {"DMA": 0, "DMA32": 1, "Normal": 2, "Movable": 3}.get(info["zone"], 2)
        flags = (info["flags"] & ((1 << 22) - 1)) | (info["node"] << 54) | (zone << 51)
        fields = "|".join(names + [f"node={info['node']}", f"zone={zone}"])
        lines.append(f"flags: {flags:#x}({fields})")
        # a slab page's private is memsim's own slab record (a host pointer): the kernel's word
        # there is the slab's counters, which memsim does not keep as such
        private = 0 if info["flags"] & (1 << 9) else info["private"]
        words = [flags, 0xDEAD000000000100, 0xDEAD000000000122, info["mapping"], info["index"],
                 private, ((info["refcount"] & 0xFFFFFFFF) << 32) | ((info["mapcount"] - 1) & 0xFFFFFFFF),
                 info["memcg_data"]]
        lines.append("raw: " + " ".join(f"{w:016x}" for w in words[:4]))
        lines.append("raw: " + " ".join(f"{w:016x}" for w in words[4:]))
        lines.append("page dumped because: kasan: bad access detected")
        return lines

    def memory_metadata(self, addr: int) -> List[str]:
        """print_memory_metadata(): five rows of 16 shadow bytes, the caret under the guilty
        granule (meta_pointer_offset: 3 + 16 + (addr - row) / 16 * 3 + 1)."""
        row = (addr & ~(META_MEM_BYTES_PER_ROW - 1)) - META_ROWS_AROUND_ADDR * META_MEM_BYTES_PER_ROW
        lines = ["Memory state around the buggy address:"]
        for i in range(-META_ROWS_AROUND_ADDR, META_ROWS_AROUND_ADDR + 1):
            row &= (1 << 64) - 1
            shadow = self.host.shadow_bytes(row, META_BYTES_PER_ROW)
            lines.append(f"{'>' if i == 0 else ' '}{row:016x}: " + " ".join(f"{b:02x}" for b in shadow))
            if row <= addr < row + META_MEM_BYTES_PER_ROW:
                lines.append(" " * (3 + 16 + (addr - row) // 16 * 3) + "^")
            row += META_MEM_BYTES_PER_ROW
        return lines

    def end_report(self, lines: List[str], kind: str, addr: int, ptag: int,
                   mtag: Optional[int]) -> None:
        """end_report(): the tracepoint, the closing line, the taint, the panic check."""
        m = self.machine
        cur = m.current
        if m.events is not None:
            m.events.emit(m.tb, cur.cpu, cur.pid, "error_report:error_report_end",
                          error_detector=ERROR_DETECTOR_KASAN, id=addr)
        lines.append(SEPARATOR)
        self.taint |= 1 << TAINT_BAD_PAGE
        report = Report(kind, addr, lines, ptag, mtag, cur.pid)
        self.reports.append(report)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        m.printk(report.text)
        if self.settings.panic_on_warn and not self.settings.multi_shot:
            self.panic()

    def warn(self, func: str, addr: int, size: int) -> None:
        """WARN_ON() in kasan_poison / kasan_unpoison (a misaligned address or size): the warning,
        TAINT_WARN, and panic_on_warn's panic."""
        self.warnings += 1
        line = 87 if func == "kasan_poison" else 118     # estimated v5.14 mm/kasan/shadow.c lines
        cur = self.machine.current
        lines = ["------------[ cut here ]------------",
                 f"WARNING: CPU: {cur.cpu} PID: {cur.pid} at mm/kasan/shadow.c:{line} {sym(func)}",
                 "Modules linked in:"]
        lines += self.dump_stack([func])[:2] + ["Call trace:", " " + sym(func)]
        lines.append(f"---[ end trace {self.warnings:016x} ]---")
        self.taint |= 1 << TAINT_WARN
        self.machine.printk("\n".join(lines) + "\n")
        if self.settings.panic_on_warn:
            self.panic()

    def panic(self) -> None:
        """panic("panic_on_warn set ...\\n"): the run stops."""
        self.settings.panic_on_warn = False
        self.machine.printk("Kernel panic - not syncing: panic_on_warn set ...\n")
        raise KernelPanic(None, "Kernel panic - not syncing: panic_on_warn set ... (a KASAN report "
                          "with panic_on_warn and without multi-shot)",
                          "set kasan: {multi_shot: true} or panic_on_warn: false to go on after a report")


def _hwasan(size: int, write: bool) -> str:
    """The outline check a compiler emits for an access of ``size`` bytes."""
    n = str(size) if size in (1, 2, 4, 8, 16) else "N"
    return f"__hwasan_{'store' if write else 'load'}{n}_noabort"
