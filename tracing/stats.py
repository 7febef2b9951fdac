"""Statistics over a trace, in one streaming pass: what ``memsim trace stats`` prints.

:class:`TraceStats` takes :class:`~memsim.tracing.record.Record`\\ s one at a time
(:meth:`TraceStats.add`) and keeps only counters, so memory does not grow with the trace (with
``timeline=True`` it also keeps every ``rss_stat`` point, 16 bytes each).  :meth:`TraceStats.as_dict`
returns the document ``memsim trace stats --json`` prints; its keys are stable and documented in
docs/traces.md ("stats --json").  :func:`format_stats` renders that document as text tables.

What the events mean (tracepoints.md 3-5, 9; FORMAT-NOTES 10):

* ``rss_stat``: one event per update of one mm counter; ``size`` is the counter's new value in
  **bytes**; ``member`` 0 MM_FILEPAGES, 1 MM_ANONPAGES, 2 MM_SWAPENTS, 3 MM_SHMEMPAGES; ``mm_id``
  identifies the mm until its exit teardown, after which a later mm may get the same id
  (:class:`MmLives`).  The RSS of an mm is FILE + ANON + SHMEM.
* ``mm_page_alloc`` (order, migratetype; a failed allocation stores pfn -1, printed as
  ``page=0000000000000000 pfn=0x0``), ``mm_page_free`` (order).  ``mm_page_free_batched`` fires
  *in addition to* ``mm_page_free`` for each page of a batch and ``mm_page_alloc_zone_locked``
  when the buddy lists hand a block to the allocator (a per-CPU refill), so both are counted in
  their own columns and never added to the allocation/free totals.
* ``mm_filemap_add_to_page_cache`` / ``mm_filemap_delete_from_page_cache``: one folio of
  ``2**order`` pages (order 0 on kernels without the field) of inode (dev, ino).
* memcg events (``count_memcg_events``, ``mod_memcg_state``, ``mod_memcg_lruvec_state``): a
  delta ``val`` of stat ``item`` (a raw enum index) of cgroup ``memcg_id``; ``memcg_flush_stats``
  is counted per cgroup.
"""
from __future__ import annotations

from array import array
from typing import Any, Dict, Iterable, List, Optional, Tuple

PAGE_SIZE = 4096
#: rss_stat ``member`` values and their names (enum mm_counter, include/linux/mm_types_task.h).
RSS_MEMBERS = {0: "MM_FILEPAGES", 1: "MM_ANONPAGES", 2: "MM_SWAPENTS", 3: "MM_SHMEMPAGES"}
_MEMBER_BY_NAME = {v: k for k, v in RSS_MEMBERS.items()}
#: members that make up the resident set (VmRSS = FILE + ANON + SHMEM)
RSS_RESIDENT = (0, 1, 3)
MEMCG_DELTA_EVENTS = ("count_memcg_events", "mod_memcg_state", "mod_memcg_lruvec_state")
SCHEMA = "memsim.trace.stats/1"
_U64 = 1 << 64


# -- field access shared with memsim.tracing.plot ------------------------------------------------
def rss_member(fields: Dict[str, Any]) -> Optional[int]:
    """The counter index of an rss_stat record (``member``; a printed ``type`` name as fallback)."""
    m = fields.get("member")
    if isinstance(m, int):
        return m
    t = fields.get("type")
    if isinstance(t, str):
        return _MEMBER_BY_NAME.get(t)
    return t if isinstance(t, int) else None


def _is_null(v: Any) -> bool:
    if isinstance(v, int):
        return v == 0
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("(null)", "(nil)", "null"):
            return True
        try:
            return int(s, 16) == 0
        except ValueError:
            return False
    return False


def alloc_failed(fields: Dict[str, Any]) -> bool:
    """A failed mm_page_alloc: pfn -1 (binary), or pfn 0 with a NULL (or no) page (text).

    pfn 0 is never handed out on x86 (the first page is reserved), so ``pfn=0x0`` means failure.
    """
    pfn = fields.get("pfn")
    if not isinstance(pfn, int):
        return False
    if pfn == -1 or pfn == _U64 - 1:
        return True
    if pfn == 0:
        page = fields.get("page")
        return page is None or _is_null(page)
    return False


def folio_order(fields: Dict[str, Any]) -> int:
    o = fields.get("order")
    return o if isinstance(o, int) and 0 <= o < 64 else 0


def filemap_key(fields: Dict[str, Any]) -> Tuple[str, Any]:
    """``("MAJ:MIN", ino)`` of a filemap event (from s_dev/i_ino, or the printed dev/ino)."""
    s_dev = fields.get("s_dev")
    if isinstance(s_dev, int):
        dev = f"{s_dev >> 20}:{s_dev & 0xFFFFF}"
    else:
        dev = str(fields.get("dev", "?"))
    ino = fields.get("i_ino", fields.get("ino"))
    if isinstance(ino, str):
        try:
            ino = int(ino, 16)
        except ValueError:
            pass
    return dev, ino


def memcg_id(fields: Dict[str, Any]) -> Any:
    return fields.get("id", fields.get("memcg_id"))


# -- accumulators ------------------------------------------------------------------------------
class RssCounter:
    """One counter of one mm: first/last/min/max size in bytes and the number of updates."""

    __slots__ = ("first", "last", "min", "max", "updates", "first_ts", "last_ts", "ts", "size")

    def __init__(self, ts: int, size: int, timeline: bool):
        self.first = self.last = self.min = self.max = size
        self.updates = 1
        self.first_ts = self.last_ts = ts
        self.ts = array("q", [ts]) if timeline else None
        self.size = array("q", [size]) if timeline else None

    def update(self, ts: int, size: int) -> None:
        self.last = size
        if size < self.min:
            self.min = size
        if size > self.max:
            self.max = size
        self.updates += 1
        self.last_ts = ts
        if self.ts is not None:
            self.ts.append(ts)
            self.size.append(size)


class MmRss:
    """The rss_stat history of one life of one mm (see :class:`MmLives`)."""

    __slots__ = ("mm_id", "life", "counters", "tasks", "current", "peak", "owner", "ended")

    def __init__(self, mm_id: int, life: int = 0):
        self.mm_id = mm_id
        self.life = life                     # 0 for the first mm with this id, 1 the next...
        self.counters: Dict[int, RssCounter] = {}
        self.tasks: Dict[int, str] = {}      # pid -> comm of the tasks that updated it as current
        self.current = [0, 0, 0, 0]          # bytes, by member 0..3
        self.peak = 0                        # largest FILE+ANON+SHMEM seen, bytes
        self.owner: Optional[str] = None     # comm-pid: see MmLives
        self.ended = False                   # torn down within the trace

    def resident(self) -> int:
        return sum(self.current[m] for m in RSS_RESIDENT)


class MmLives:
    """The lives of the mms behind ``rss_stat``'s ``mm_id``: :meth:`update` gives the
    :class:`MmRss` an event updates.

    ``mm_id`` is a hash of the ``mm_struct``'s address, and a freed mm_struct is soon
    reallocated to a later process (fork's ``dup_mm``, exec's ``mm_alloc``): the same id then
    names another mm.  An mm's life ends at its exit teardown (``exit_mmap`` unmaps everything:
    every counter, swap entries included, is back to 0 after having been above 0); the next
    event with that id starts a new :class:`MmRss`.  Each is named ``comm-pid`` after the first
    task that updated it as the current task (``curr=1``), else the first task seen (the parent
    that copied it at fork, the task that exec'd into it); :meth:`names` makes the names unique
    (``#2``... for a second mm of one task, as after an exec that reused the id).
    """

    def __init__(self) -> None:
        self.live: Dict[Any, MmRss] = {}     # mm_id -> the mm that has it now
        self.all: List[MmRss] = []           # every life, in order of appearance
        self._count: Dict[Any, int] = {}

    def update(self, mm_id: Any, member: int, size: int, curr: Any, pid: int, comm: str,
               new=MmRss) -> MmRss:
        mm = self.live.get(mm_id)
        if mm is None:
            n = self._count.get(mm_id, 0)
            self._count[mm_id] = n + 1
            mm = self.live[mm_id] = new(mm_id, n)
            self.all.append(mm)
        if mm.owner is None or (curr == 1 and not mm.tasks):
            mm.owner = f"{comm}-{pid}"
        if curr == 1 and pid not in mm.tasks:
            mm.tasks[pid] = comm
        if 0 <= member < 4:
            had = any(mm.current) or mm.peak > 0
            mm.current[member] = size
            r = mm.resident()
            if r > mm.peak:
                mm.peak = r
            if had and not any(mm.current):     # exit_mmap: everything is gone
                mm.ended = True
                del self.live[mm_id]
        return mm

    def names(self) -> Dict[int, str]:
        """``id(mm)`` -> its unique ``comm-pid`` name."""
        out: Dict[int, str] = {}
        seen: Dict[str, int] = {}
        for mm in self.all:
            base = mm.owner or str(mm.mm_id)
            k = seen.get(base, 0) + 1
            seen[base] = k
            out[id(mm)] = base if k == 1 else f"{base}#{k}"
        return out


class TraceStats:
    """Counts over a stream of records; feed :meth:`add`, read :meth:`as_dict`."""

    def __init__(self, *, timeline: bool = False):
        self.timeline = timeline
        self.total = 0
        self.by_event: Dict[str, int] = {}
        self.by_cpu: Dict[int, int] = {}
        self.pids: Dict[int, List[Any]] = {}          # pid -> [events, comm]
        self.first_ts: Optional[int] = None
        self.last_ts: Optional[int] = None
        self.mms = MmLives()
        # per order: [alloc, free, free_batched, alloc_zone_locked, alloc_failed]
        self.orders: Dict[int, List[int]] = {}
        self.migratetypes: Dict[int, int] = {}
        self.files: Dict[Tuple[str, Any], List[int]] = {}  # -> [adds, deletes, pages+, pages-]
        self.memcg: Dict[Any, Dict[str, Dict[int, List[int]]]] = {}   # id -> event -> item -> [n, sum]
        self.memcg_flushes: Dict[Any, int] = {}
        self._dispatch = {
            "rss_stat": self._rss_stat,
            "mm_page_alloc": self._page_alloc,
            "mm_page_free": self._page_free,
            "mm_page_free_batched": self._page_free_batched,
            "mm_page_alloc_zone_locked": self._page_alloc_zone_locked,
            "mm_filemap_add_to_page_cache": self._filemap_add,
            "mm_filemap_delete_from_page_cache": self._filemap_delete,
            "count_memcg_events": self._memcg_delta,
            "mod_memcg_state": self._memcg_delta,
            "mod_memcg_lruvec_state": self._memcg_delta,
            "memcg_flush_stats": self._memcg_flush,
        }

    # -- feeding -----------------------------------------------------------------------------
    def update(self, records: Iterable) -> "TraceStats":
        for rec in records:
            self.add(rec)
        return self

    def add(self, rec) -> None:
        self.total += 1
        name = rec.full_name
        self.by_event[name] = self.by_event.get(name, 0) + 1
        self.by_cpu[rec.cpu] = self.by_cpu.get(rec.cpu, 0) + 1
        p = self.pids.get(rec.pid)
        if p is None:
            self.pids[rec.pid] = [1, rec.comm]
        else:
            p[0] += 1
            if rec.comm != "<...>":
                p[1] = rec.comm
        ts = rec.ts
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        handler = self._dispatch.get(rec.event)
        if handler is not None:
            handler(rec, rec.fields)

    def _order_row(self, order: int) -> List[int]:
        row = self.orders.get(order)
        if row is None:
            row = self.orders[order] = [0, 0, 0, 0, 0]
        return row

    def _rss_stat(self, rec, f) -> None:
        member, size, mm_id = rss_member(f), f.get("size"), f.get("mm_id")
        if member is None or not isinstance(size, int):
            return
        mm = self.mms.update(mm_id, member, size, f.get("curr"), rec.pid, rec.comm)
        c = mm.counters.get(member)
        if c is None:
            mm.counters[member] = RssCounter(rec.ts, size, self.timeline)
        else:
            c.update(rec.ts, size)

    def _page_alloc(self, rec, f) -> None:
        row = self._order_row(folio_order(f))
        if alloc_failed(f):
            row[4] += 1
            return
        row[0] += 1
        mt = f.get("migratetype")
        if isinstance(mt, int):
            self.migratetypes[mt] = self.migratetypes.get(mt, 0) + 1

    def _page_free(self, rec, f) -> None:
        self._order_row(folio_order(f))[1] += 1

    def _page_free_batched(self, rec, f) -> None:
        self._order_row(folio_order(f))[2] += 1

    def _page_alloc_zone_locked(self, rec, f) -> None:
        self._order_row(folio_order(f))[3] += 1

    def _file_row(self, f) -> List[int]:
        key = filemap_key(f)
        row = self.files.get(key)
        if row is None:
            row = self.files[key] = [0, 0, 0, 0]
        return row

    def _filemap_add(self, rec, f) -> None:
        row = self._file_row(f)
        row[0] += 1
        row[2] += 1 << folio_order(f)

    def _filemap_delete(self, rec, f) -> None:
        row = self._file_row(f)
        row[1] += 1
        row[3] += 1 << folio_order(f)

    def _memcg_delta(self, rec, f) -> None:
        item, val = f.get("item"), f.get("val")
        by_event = self.memcg.setdefault(memcg_id(f), {})
        items = by_event.setdefault(rec.event, {})
        row = items.get(item)
        if row is None:
            row = items[item] = [0, 0]
        row[0] += 1
        if isinstance(val, int):
            row[1] += val

    def _memcg_flush(self, rec, f) -> None:
        key = memcg_id(f)
        self.memcg_flushes[key] = self.memcg_flushes.get(key, 0) + 1

    # -- results -----------------------------------------------------------------------------
    def as_dict(self, reader=None) -> Dict[str, Any]:
        """The ``stats --json`` document; ``reader`` adds the file, its meta and skipped count."""
        span_ns = (self.last_ts - self.first_ts) if self.total else 0
        doc: Dict[str, Any] = {"schema": SCHEMA}
        if reader is not None:
            doc["file"] = reader.name
            doc["meta"] = _jsonable_meta(getattr(reader, "meta", {}) or {})
        doc["events"] = {
            "total": self.total,
            "by_event": dict(sorted(self.by_event.items())),
            "by_cpu": {str(c): n for c, n in sorted(self.by_cpu.items())},
        }
        doc["skipped"] = getattr(reader, "nproblems", 0) if reader is not None else 0
        doc["time"] = {
            "first_ns": self.first_ts,
            "last_ns": self.last_ts,
            "span_s": span_ns / 1e9,
            "events_per_s": (self.total / (span_ns / 1e9)) if span_ns > 0 else None,
        }
        doc["pids"] = [{"pid": pid, "comm": comm, "events": n}
                       for pid, (n, comm) in sorted(self.pids.items(), key=lambda kv: (-kv[1][0], kv[0]))]
        names = self.mms.names()
        doc["rss"] = [self._mm_dict(mm, names[id(mm)])
                      for mm in sorted(self.mms.all, key=lambda m: (_sort_key(m.mm_id), m.life))]
        doc["pages"] = self._pages_dict()
        doc["page_cache"] = self._page_cache_dict()
        doc["memcg"] = self._memcg_list()
        return doc

    def _mm_dict(self, mm: MmRss, name: str) -> Dict[str, Any]:
        counters = {}
        for member in sorted(mm.counters):
            c = mm.counters[member]
            d = {"first": c.first, "last": c.last, "min": c.min, "max": c.max,
                 "updates": c.updates, "first_ns": c.first_ts, "last_ns": c.last_ts}
            if c.ts is not None:
                d["timeline"] = {"ns": list(c.ts), "bytes": list(c.size)}
            counters[RSS_MEMBERS.get(member, str(member))] = d
        final = mm.resident()
        return {"mm_id": mm.mm_id, "name": name, "ended": mm.ended,
                "tasks": [{"pid": p, "comm": c} for p, c in sorted(mm.tasks.items())],
                "counters": counters,
                "final_rss_bytes": final, "final_rss_pages": final // PAGE_SIZE,
                "peak_rss_bytes": mm.peak, "peak_rss_pages": mm.peak // PAGE_SIZE}

    def _pages_dict(self) -> Dict[str, Any]:
        by_order = {}
        alloc_pages = free_pages = failed = 0
        for order in sorted(self.orders):
            a, fr, fb, zl, fail = self.orders[order]
            by_order[str(order)] = {"alloc": a, "free": fr, "free_batched": fb,
                                    "alloc_zone_locked": zl, "alloc_failed": fail}
            alloc_pages += a << order
            free_pages += fr << order
            failed += fail
        return {"by_order": by_order,
                "alloc_events": sum(r[0] for r in self.orders.values()),
                "free_events": sum(r[1] for r in self.orders.values()),
                "alloc_pages": alloc_pages, "free_pages": free_pages,
                "net_pages": alloc_pages - free_pages,
                "alloc_failed": failed,
                "migratetype": {str(k): v for k, v in sorted(self.migratetypes.items())}}

    def _page_cache_dict(self) -> Dict[str, Any]:
        files = [{"dev": dev, "ino": ino, "adds": r[0], "deletes": r[1],
                  "pages_added": r[2], "pages_deleted": r[3]}
                 for (dev, ino), r in sorted(self.files.items(), key=lambda kv: (kv[0][0], _sort_key(kv[0][1])))]
        added = sum(r[2] for r in self.files.values())
        deleted = sum(r[3] for r in self.files.values())
        return {"adds": sum(r[0] for r in self.files.values()),
                "deletes": sum(r[1] for r in self.files.values()),
                "pages_added": added, "pages_deleted": deleted, "net_pages": added - deleted,
                "files": files}

    def _memcg_list(self) -> List[Dict[str, Any]]:
        out = []
        for mid in sorted(set(self.memcg) | set(self.memcg_flushes), key=_sort_key):
            events = {}
            for ev, items in sorted(self.memcg.get(mid, {}).items()):
                events[ev] = {str(item): {"count": n, "sum": s}
                              for item, (n, s) in sorted(items.items(), key=lambda kv: _sort_key(kv[0]))}
            out.append({"memcg_id": mid, "events": events, "flushes": self.memcg_flushes.get(mid, 0)})
        return out


def _sort_key(v: Any):
    return (0, v, "") if isinstance(v, int) else (1, 0, str(v))


def _jsonable_meta(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The reader's meta without the bulky or non-JSON parts: scalars, short strings and short
    lists of scalars (the text reader's ``entries`` pair becomes a list)."""
    def ok(v: Any, depth: int = 0) -> bool:
        if isinstance(v, (bool, int, float)) or v is None:
            return True
        if isinstance(v, str):
            return len(v) <= 200
        if isinstance(v, (list, tuple)) and depth == 0:
            return len(v) <= 64 and all(ok(x, 1) for x in v)
        if isinstance(v, (list, tuple)) and depth == 1:
            return len(v) <= 4 and all(ok(x, 2) for x in v)
        return False

    def plain(v: Any) -> Any:
        return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

    return {str(k): plain(v) for k, v in meta.items() if ok(v)}


def collect(reader, *, timeline: bool = False) -> Dict[str, Any]:
    """One pass over ``reader.records()``; the ``stats --json`` document."""
    st = TraceStats(timeline=timeline)
    st.update(reader.records())
    return st.as_dict(reader)


# -- text rendering --------------------------------------------------------------------------
def _mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.2f}"


def _table(headers: List[str], rows: List[List[Any]], align: str = "") -> List[str]:
    """Plain-text columns; ``align`` is one character per column, ``<`` or ``>`` (default ``>``)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    al = (align or "") + ">" * (len(headers) - len(align or ""))
    out = []
    for j, r in enumerate(cells):
        out.append("  " + "  ".join(c.ljust(w) if a == "<" else c.rjust(w)
                                    for c, w, a in zip(r, widths, al)).rstrip())
        if j == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def format_stats(doc: Dict[str, Any], *, top: int = 10) -> str:
    """The stats document as readable tables (what ``memsim trace stats`` prints)."""
    L: List[str] = []
    ev, t = doc["events"], doc["time"]
    L.append(f"{doc.get('file', 'trace')}: {ev['total']} events, {len(ev['by_event'])} event types, "
             f"{doc['skipped']} skipped")
    if ev["total"]:
        rate = f", {t['events_per_s']:.0f} events/s" if t["events_per_s"] else ""
        L.append(f"time: {t['first_ns'] / 1e9:.6f} .. {t['last_ns'] / 1e9:.6f} s "
                 f"(span {t['span_s']:.6f} s{rate})")
    if doc.get("buffers"):                  # a trace.dat of tracefs instances (--buffer)
        read = f" (read: {doc['buffer']})" if doc.get("buffer") else ""
        L.append("buffers: " + ", ".join(f"{n} {c}" for n, c in doc["buffers"].items()) + read)
    if not ev["total"]:
        return "\n".join(L)
    L += ["", "events"]
    L += _table(["event", "count", "%"],
                [[n, c, f"{100 * c / ev['total']:.1f}"]
                 for n, c in sorted(ev["by_event"].items(), key=lambda kv: (-kv[1], kv[0]))], "<")
    pids = doc["pids"]
    L += ["", f"tasks ({len(pids)} pids{', top ' + str(top) if len(pids) > top else ''})"]
    L += _table(["pid", "comm", "events"], [[p["pid"], p["comm"], p["events"]] for p in pids[:top]], "><")
    if doc["rss"]:
        L += ["", "RSS per mm (rss_stat; MiB; final RSS = FILE + ANON + SHMEM)"]
        rows = []
        for mm in doc["rss"]:
            tasks = ",".join(f"{x['comm']}-{x['pid']}" for x in mm["tasks"][:3]) or "-"
            if len(mm["tasks"]) > 3:
                tasks += ",..."
            first = True
            for name, c in mm["counters"].items():
                rows.append([mm["name"] if first else "", mm["mm_id"] if first else "",
                             tasks if first else "", name,
                             c["updates"], _mib(c["first"]), _mib(c["last"]), _mib(c["min"]),
                             _mib(c["max"])])
                first = False
            rows.append(["", "", "", "exited" if mm["ended"] else "final RSS", "", "",
                         _mib(mm["final_rss_bytes"]), "", _mib(mm["peak_rss_bytes"])])
        L += _table(["mm", "mm_id", "tasks", "counter", "updates", "first", "last", "min", "max"],
                    rows, "<<<<")
    pg = doc["pages"]
    if pg["by_order"]:
        L += ["", "page allocator (events per order; failed = page NULL)"]
        L += _table(["order", "alloc", "free", "free_batched", "alloc_zone_locked", "failed"],
                    [[o, r["alloc"], r["free"], r["free_batched"], r["alloc_zone_locked"], r["alloc_failed"]]
                     for o, r in pg["by_order"].items()])
        L.append(f"  pages allocated {pg['alloc_pages']}, freed {pg['free_pages']}, net {pg['net_pages']:+d}; "
                 f"{pg['alloc_failed']} failed allocation(s)")
        if pg["migratetype"]:
            L.append("  migratetype: " + ", ".join(f"{k}: {v}" for k, v in pg["migratetype"].items()))
    pc = doc["page_cache"]
    if pc["files"]:
        files = sorted(pc["files"], key=lambda r: -(r["adds"] + r["deletes"]))
        L += ["", f"page cache ({len(files)} files{', top ' + str(top) if len(files) > top else ''}; pages = 2**order)"]
        L += _table(["dev", "ino", "adds", "deletes", "pages+", "pages-"],
                    [[r["dev"], f"{r['ino']:x}" if isinstance(r["ino"], int) else r["ino"], r["adds"],
                      r["deletes"], r["pages_added"], r["pages_deleted"]] for r in files[:top]], "<<")
        L.append(f"  total: {pc['adds']} adds, {pc['deletes']} deletes, "
                 f"{pc['pages_added']} pages added, {pc['pages_deleted']} deleted, net {pc['net_pages']:+d}")
    if doc["memcg"]:
        L += ["", "memcg (events, sum of val, by memcg_id / event / item)"]
        rows = []
        for m in doc["memcg"]:
            first = True
            for ev_name, items in m["events"].items():
                top_items = sorted(items.items(), key=lambda kv: -kv[1]["count"])
                shown = ", ".join(f"{i}:{v['count']}/{v['sum']:+d}" for i, v in top_items[:6])
                if len(top_items) > 6:
                    shown += f", ... ({len(top_items)} items)"
                rows.append([m["memcg_id"] if first else "", ev_name,
                             sum(v["count"] for v in items.values()), shown])
                first = False
            if m["flushes"]:
                rows.append([m["memcg_id"] if first else "", "memcg_flush_stats", m["flushes"], ""])
        L += _table(["memcg_id", "event", "count", "item:count/sum"], rows, "<<><")
    return "\n".join(L)
