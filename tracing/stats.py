"""Statistics over a trace, in one streaming pass: what ``memsim trace stats`` prints.

:class:`TraceStats` takes the trace as column batches (:meth:`TraceStats.add_batch`, the
:class:`~memsim.tracing.columns.Columns` a reader's ``batches()`` yields; records given to
:meth:`TraceStats.update` are made into batches first) and keeps only counters, so memory does
not grow with the trace (with ``timeline=True`` it also keeps every ``rss_stat`` point, 16 bytes
each).  The loops over rows run in C (:mod:`memsim.tracing._colstats`).  :meth:`TraceStats.as_dict`
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

from memsim.tracing import _colstats
from memsim.tracing._colstats import UNKNOWN_COMM, RssCounter  # noqa: F401 (re-exported)
from memsim.tracing.columns import COMMON_COLUMNS, EventTable

_COMMON = frozenset(COMMON_COLUMNS)

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
# RssCounter is the Cython accumulator of memsim.tracing._colstats; TraceStats's mms are
# _colstats.MmRss (rss_scan feeds them, with MmLives's rules); MmRss below is MmLives's own
# (memsim trace plot)
_FREE_COLUMN = {"mm_page_free": 1, "mm_page_free_batched": 2, "mm_page_alloc_zone_locked": 3}
_FILEMAP_COLUMN = {"mm_filemap_add_to_page_cache": 0, "mm_filemap_delete_from_page_cache": 1}


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


def _int_col(t, name: str):
    """Column ``name`` of table ``t`` when it is an 8-byte integer array; None when ``t`` has
    no such column; False when it holds anything else (the table then takes the slow path)."""
    c = t.columns.get(name)
    if c is None:
        return None
    return c if isinstance(c, array) and c.itemsize == 8 else False


def _is_ints(col) -> bool:
    return isinstance(col, array)


def _order_of(o: Any) -> int:
    """:func:`folio_order` of a value."""
    return o if isinstance(o, int) and 0 <= o < 64 else 0


class _Row:
    """One row of a table for the slow path (columns that are not integer arrays): what the
    per-record functions above read."""

    __slots__ = ("event", "ts", "pid", "comm", "fields")

    def __init__(self, event: str, row: Dict[str, Any]):
        self.event = event
        self.ts = row["ts"]
        self.pid = row["pid"]
        self.comm = row["comm"]
        # columns back to field names (column_name appended "_" to a field named as a common
        # column: oom:mark_victim's pid_); None is a field the row lacks
        self.fields = {(k[:-1] if k.endswith("_") and k[:-1] in _COMMON else k): v
                       for k, v in row.items() if k not in _COMMON and v is not None}


def _rows(t, event: str):
    for row in t.rows():
        yield _Row(event, row)


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
    """Counts over a trace read as column batches; feed :meth:`add_batch` (or
    :meth:`update_batches`, or records through :meth:`update`), read :meth:`as_dict`.

    Every section is computed from the batch's per-event tables: the loops over rows are the
    Cython kernels of :mod:`memsim.tracing._colstats`; a table whose columns are not integer
    arrays (a field that holds strings in one text line and numbers in another) is read row by
    row with the same rules.
    """

    def __init__(self, *, timeline: bool = False):
        self.timeline = timeline
        self.total = 0
        self.by_event: Dict[str, int] = {}
        self.by_cpu: Dict[int, int] = {}
        self.pids: Dict[int, List[Any]] = {}          # pid -> [events, comm]
        self._comm_seq: Dict[int, int] = {}           # pid -> seq of the comm in self.pids
        self.first_ts: Optional[int] = None
        self.last_ts: Optional[int] = None
        self.mms = MmLives()
        # per order: [alloc, free, free_batched, alloc_zone_locked, alloc_failed]
        self.orders: Dict[int, List[int]] = {}
        self.migratetypes: Dict[int, int] = {}
        self.files: Dict[Tuple[str, Any], List[int]] = {}  # -> [adds, deletes, pages+, pages-]
        self.memcg: Dict[Any, Dict[str, Dict[int, List[int]]]] = {}   # id -> event -> item -> [n, sum]
        self.memcg_flushes: Dict[Any, int] = {}
        self._batch = {
            "rss_stat": self._rss_stat,
            "mm_page_alloc": self._page_alloc,
            "mm_page_free": self._page_free,
            "mm_page_free_batched": self._page_free,
            "mm_page_alloc_zone_locked": self._page_free,
            "mm_filemap_add_to_page_cache": self._filemap,
            "mm_filemap_delete_from_page_cache": self._filemap,
            "count_memcg_events": self._memcg_delta,
            "mod_memcg_state": self._memcg_delta,
            "mod_memcg_lruvec_state": self._memcg_delta,
            "memcg_flush_stats": self._memcg_flush,
        }

    # -- feeding -----------------------------------------------------------------------------
    def update_batches(self, batches: Iterable) -> "TraceStats":
        """:meth:`add_batch` every :class:`~memsim.tracing.columns.Columns` of ``batches``
        (a reader's :meth:`~memsim.tracing.reader.TraceReader.batches`)."""
        for cols in batches:
            self.add_batch(cols)
        return self

    def update(self, records: Iterable, batch_size: int = 65536) -> "TraceStats":
        """Records (:class:`~memsim.tracing.record.Record`) made into column batches first."""
        from memsim.tracing.columns import ColumnBuilder
        b = ColumnBuilder()
        n = 0
        for rec in records:
            b.add(rec)
            n += 1
            if n == batch_size:
                self.add_batch(b.build())
                n = 0
        if n:
            self.add_batch(b.build())
        return self

    def add(self, rec) -> None:
        """One record (a batch of one: prefer :meth:`update` or :meth:`add_batch`)."""
        self.update((rec,))

    def add_batch(self, cols) -> None:
        """Count one :class:`~memsim.tracing.columns.Columns` batch (rows in file order)."""
        by_bare: Dict[str, list] = {}
        for name, t in cols.tables.items():
            n = len(t)
            if not n:
                continue
            self.total += n
            self.by_event[name] = self.by_event.get(name, 0) + n
            self._common(t)
            bare = name.rpartition(":")[2]
            if bare in self._batch:
                by_bare.setdefault(bare, []).append(t)
        for bare, tables in by_bare.items():
            if bare == "rss_stat" and len(tables) > 1:
                tables = [_merge_by_seq(tables)]        # two systems' rss_stat: in file order
            for t in tables:
                self._batch[bare](bare, t)

    def _common(self, t) -> None:
        c = t.columns
        by_cpu, by_pid, last_comm, tmin, tmax = _colstats.common_counts(
            c["seq"], c["ts"], c["cpu"], c["pid"], c["comm"])
        for cpu, k in by_cpu.items():
            self.by_cpu[cpu] = self.by_cpu.get(cpu, 0) + k
        pids = self.pids
        for pid, k in by_pid.items():
            p = pids.get(pid)
            if p is None:
                pids[pid] = [k, UNKNOWN_COMM]
            else:
                p[0] += k
        seqs = self._comm_seq
        for pid, (seq, comm) in last_comm.items():
            if seqs.get(pid, -1) < seq:
                seqs[pid] = seq
                pids[pid][1] = comm
        if tmin is not None:
            if self.first_ts is None or tmin < self.first_ts:
                self.first_ts = tmin
            if self.last_ts is None or tmax > self.last_ts:
                self.last_ts = tmax

    def _order_row(self, order: int) -> List[int]:
        row = self.orders.get(order)
        if row is None:
            row = self.orders[order] = [0, 0, 0, 0, 0]
        return row

    # -- rss_stat ----------------------------------------------------------------------------
    def _rss_stat(self, event: str, t) -> None:
        member, size, curr, mm = (_int_col(t, "member"), _int_col(t, "size"), _int_col(t, "curr"),
                                  t.columns.get("mm_id"))
        c = t.columns
        if _is_ints(member) and _is_ints(size) and curr is not False:
            _colstats.rss_scan(self.mms, mm, member, size, c["ts"], curr, c["pid"], c["comm"],
                               self.timeline)
            return
        # slow path: rss_member's fallbacks (a printed type name), values that are not numbers
        keep = array("q")
        members = array("q")
        sizes = array("q")
        currs = array("q")
        for i, row in enumerate(_rows(t, event)):
            m, sz = rss_member(row.fields), row.fields.get("size")
            if m is None or not isinstance(sz, int):
                continue
            keep.append(i)
            members.append(m)
            sizes.append(sz)
            currs.append(1 if row.fields.get("curr") == 1 else 0)
        mm_keys = [mm[i] for i in keep] if mm is not None else None
        _colstats.rss_scan(self.mms, mm_keys, members, sizes, array("q", [c["ts"][i] for i in keep]),
                           currs, array("q", [c["pid"][i] for i in keep]),
                           [c["comm"][i] for i in keep], self.timeline)

    # -- page allocator ----------------------------------------------------------------------
    def _page_alloc(self, event: str, t) -> None:
        order, pfn, mt = _int_col(t, "order"), _int_col(t, "pfn"), _int_col(t, "migratetype")
        if order is False or pfn is False or mt is False or (order is None and mt is None):
            for row in _rows(t, event):
                self._page_alloc_row(row.fields)
            return
        keys = tuple(k for k in (order, mt) if k is not None)
        groups = _colstats.group_count(keys)
        failed: Dict[int, int] = {}
        if pfn is not None:
            page = t.columns.get("page")
            for i in _colstats.rows_equal(pfn, (-1, 0)):
                f = {"pfn": pfn[i]}
                if page is not None:
                    f["page"] = page[i]
                if alloc_failed(f):
                    key = tuple(k[i] for k in keys)
                    groups[key][0] -= 1
                    o = _order_of(order[i]) if order is not None else 0
                    failed[o] = failed.get(o, 0) + 1
        for key, (n, _) in groups.items():
            o = _order_of(key[0]) if order is not None else 0
            row = self._order_row(o)
            row[0] += n
            if mt is not None and n:
                m = key[-1]
                self.migratetypes[m] = self.migratetypes.get(m, 0) + n
        for o, n in failed.items():
            self._order_row(o)[4] += n

    def _page_alloc_row(self, f) -> None:
        row = self._order_row(folio_order(f))
        if alloc_failed(f):
            row[4] += 1
            return
        row[0] += 1
        mt = f.get("migratetype")
        if isinstance(mt, int):
            self.migratetypes[mt] = self.migratetypes.get(mt, 0) + 1

    def _page_free(self, event: str, t) -> None:
        """mm_page_free, mm_page_free_batched, mm_page_alloc_zone_locked: events per order."""
        col = _FREE_COLUMN[event]
        order = _int_col(t, "order")
        if order is None:
            self._order_row(0)[col] += len(t)
        elif order is False:
            for row in _rows(t, event):
                self._order_row(folio_order(row.fields))[col] += 1
        else:
            for (o,), (n, _) in _colstats.group_count((order,)).items():
                self._order_row(_order_of(o))[col] += n

    # -- page cache --------------------------------------------------------------------------
    def _filemap(self, event: str, t) -> None:
        col = _FILEMAP_COLUMN[event]
        s_dev, ino, order = _int_col(t, "s_dev"), _int_col(t, "i_ino"), _int_col(t, "order")
        if not (_is_ints(s_dev) and _is_ints(ino)) or order is False:
            for row in _rows(t, event):
                r = self._file_row(row.fields)
                r[col] += 1
                r[col + 2] += 1 << folio_order(row.fields)
            return
        keys = (s_dev, ino) if order is None else (s_dev, ino, order)
        for key, (n, _) in _colstats.group_count(keys).items():
            dev = f"{key[0] >> 20}:{key[0] & 0xFFFFF}"
            r = self.files.get((dev, key[1]))
            if r is None:
                r = self.files[(dev, key[1])] = [0, 0, 0, 0]
            r[col] += n
            r[col + 2] += n << (_order_of(key[2]) if order is not None else 0)

    def _file_row(self, f) -> List[int]:
        key = filemap_key(f)
        row = self.files.get(key)
        if row is None:
            row = self.files[key] = [0, 0, 0, 0]
        return row

    # -- memcg -------------------------------------------------------------------------------
    def _memcg_delta(self, event: str, t) -> None:
        ids = _int_col(t, "id") if "id" in t.columns else _int_col(t, "memcg_id")
        item, val = _int_col(t, "item"), _int_col(t, "val")
        if not (_is_ints(ids) and _is_ints(item)) or val is False:
            for row in _rows(t, event):
                f = row.fields
                self._memcg_add(memcg_id(f), event, f.get("item"), 1,
                                f.get("val") if isinstance(f.get("val"), int) else 0)
            return
        for (mid, it), (n, total) in _colstats.group_count((ids, item), val).items():
            self._memcg_add(mid, event, it, n, total or 0)

    def _memcg_add(self, mid: Any, event: str, item: Any, n: int, total: int) -> None:
        items = self.memcg.setdefault(mid, {}).setdefault(event, {})
        row = items.get(item)
        if row is None:
            row = items[item] = [0, 0]
        row[0] += n
        row[1] += total

    def _memcg_flush(self, event: str, t) -> None:
        ids = _int_col(t, "id") if "id" in t.columns else _int_col(t, "memcg_id")
        if _is_ints(ids):
            counts = {k[0]: n for k, (n, _) in _colstats.group_count((ids,)).items()}
        else:
            counts = {}
            for row in _rows(t, event):
                key = memcg_id(row.fields)
                counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            self.memcg_flushes[key] = self.memcg_flushes.get(key, 0) + n

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


def _merge_by_seq(tables: List[Any]) -> Any:
    """Tables of one batch as one, rows in file order (``seq``)."""
    rows = sorted((r for t in tables for r in t.rows()), key=lambda r: r["seq"])
    names = list(dict.fromkeys(k for t in tables for k in t.columns))
    cols: Dict[str, Any] = {}
    for k in names:
        vals = [r.get(k) for r in rows]
        ok = all(isinstance(v, int) and -(1 << 63) <= v < (1 << 63) for v in vals)
        cols[k] = array("q", vals) if ok else vals
    return EventTable(tables[0].name, cols)


def collect(reader, *, timeline: bool = False) -> Dict[str, Any]:
    """One pass over ``reader.batches()``; the ``stats --json`` document."""
    st = TraceStats(timeline=timeline)
    st.update_batches(reader.batches())
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
