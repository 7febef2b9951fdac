"""The columnar form of a trace: one table per event, for analysis.

Events of different kinds have different fields, so a trace becomes a set of
:class:`EventTable`\\ s (one per ``system:event``), each with the common columns

* ``seq`` (position in the whole trace, so tables can be merged back in file order),
* ``ts`` (ns), ``cpu``, ``pid``, ``tgid`` (-1 when unknown), ``comm``, ``flags``,
* ``buffer`` (the tracefs instance the event was recorded in, ``""`` for the top level),

followed by one column per field, named as the field; a field whose name is a common column's
(the ``pid`` and ``comm`` of ``oom:mark_victim``) gets the column ``pid_``/``comm_``
(:func:`column_name`, the one rule every reader follows).  Numeric columns are :class:`array.array` (``q`` for signed,
``Q`` for unsigned 64-bit values), string columns plain lists; a field that some rows lack (a
record without it, a text line read through the keyed fallback) is a list with None in those
rows.  :meth:`Columns.to_pandas` turns them into pandas DataFrames (the optional
``memsim[frame]`` extra).
"""
from __future__ import annotations

from array import array
from typing import Any, Dict, Iterable, Iterator, List, MutableSequence, Optional

COMMON_COLUMNS = ("seq", "ts", "cpu", "pid", "tgid", "comm", "flags", "buffer")
_COMMON = frozenset(COMMON_COLUMNS)


def column_name(field: str) -> str:
    """The column of a payload field: its name, with ``_`` appended when it is also the name of
    a common column (a ``pid`` or ``flags`` field of the event).  Used by :class:`ColumnBuilder`
    and the Cython readers (:mod:`memsim.tracing._textscan`, :mod:`memsim.tracing._flyrecord`)."""
    return field + "_" if field in _COMMON else field


class EventTable:
    """The rows of one event: ``columns`` maps a column name to an equally long sequence."""

    __slots__ = ("name", "columns", "payloads")

    def __init__(self, name: str, columns: Dict[str, MutableSequence],
                 payloads: Optional[List[str]] = None):
        self.name = name
        self.columns = columns
        #: a text's payload of each row, as printed (``batches(payloads=True)`` of a text
        #: reader), else None
        self.payloads = payloads

    def __len__(self) -> int:
        return len(self.columns["seq"]) if "seq" in self.columns else 0

    def __getitem__(self, column: str) -> MutableSequence:
        return self.columns[column]

    @property
    def field_names(self) -> List[str]:
        return [c for c in self.columns if c not in COMMON_COLUMNS]

    def rows(self) -> Iterator[Dict[str, Any]]:
        names = list(self.columns)
        for values in zip(*(self.columns[n] for n in names)):
            yield dict(zip(names, values))

    def extend(self, other: "EventTable") -> None:
        n0 = len(self)
        if self.payloads is not None and other.payloads is not None:
            self.payloads.extend(other.payloads)
        else:
            self.payloads = None
        for name, col in other.columns.items():
            mine = self.columns.get(name)
            if mine is None:        # a field first seen in a later batch: the earlier rows lack it
                mine = self.columns[name] = [None] * n0
            if isinstance(mine, array) and isinstance(col, array) and mine.typecode == col.typecode:
                mine.extend(col)
            else:
                if isinstance(mine, array):
                    mine = self.columns[name] = list(mine)
                mine.extend(col)
        n = len(self)
        for name, col in list(self.columns.items()):
            if len(col) < n:        # a field the later batch lacks
                if isinstance(col, array):
                    col = self.columns[name] = list(col)
                col.extend([None] * (n - len(col)))

    def to_pandas(self):
        import pandas as pd
        return pd.DataFrame({n: (c if not isinstance(c, array) else _np(c))
                             for n, c in self.columns.items()})


def _np(col: array):
    import numpy as np
    return np.frombuffer(col, dtype=np.int64 if col.typecode == "q" else np.uint64).copy()


class Columns:
    """Per-event tables of a whole trace (or of one batch of it)."""

    def __init__(self, tables: Optional[Dict[str, EventTable]] = None):
        self.tables: Dict[str, EventTable] = tables if tables is not None else {}

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def __getitem__(self, event: str) -> EventTable:
        return self.tables[event]

    def __contains__(self, event: object) -> bool:
        return event in self.tables

    def __iter__(self) -> Iterator[EventTable]:
        return iter(self.tables.values())

    def extend(self, other: "Columns") -> None:
        for name, t in other.tables.items():
            mine = self.tables.get(name)
            if mine is None:
                self.tables[name] = EventTable(name, {n: (array(c.typecode, c) if isinstance(c, array)
                                                          else list(c))
                                                      for n, c in t.columns.items()})
            else:
                mine.extend(t)

    @classmethod
    def concat(cls, parts: Iterable["Columns"]) -> "Columns":
        out = cls()
        for p in parts:
            out.extend(p)
        return out

    def to_pandas(self) -> Dict[str, Any]:
        """``{"kmem:rss_stat": DataFrame, ...}`` (needs pandas: ``pip install 'memsim[frame]'``)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            from memsim.errors import UsageError
            raise UsageError("columns", "pandas is not installed",
                             "pip install 'memsim[frame]' for DataFrames") from None
        return {name: t.to_pandas() for name, t in self.tables.items()}


class ColumnBuilder:
    """Builds :class:`Columns` from :class:`~memsim.tracing.record.Record`\\ s (the generic path;
    the Cython readers fill arrays directly)."""

    def __init__(self, start_seq: int = 0):
        self.seq = start_seq
        self._tables: Dict[str, Dict[str, MutableSequence]] = {}

    def add(self, rec) -> None:
        name = rec.full_name
        cols = self._tables.get(name)
        n = 0
        if cols is None:
            cols = self._tables[name] = {"seq": array("q"), "ts": array("q"), "cpu": array("q"),
                                         "pid": array("q"), "tgid": array("q"), "comm": [],
                                         "flags": [], "buffer": []}
        else:
            n = len(cols["seq"])
        cols["seq"].append(self.seq)
        self.seq += 1
        cols["ts"].append(rec.ts)
        cols["cpu"].append(rec.cpu)
        cols["pid"].append(rec.pid)
        cols["tgid"].append(-1 if rec.tgid is None else rec.tgid)
        cols["comm"].append(rec.comm)
        cols["flags"].append(rec.flags)
        cols["buffer"].append(rec.buffer)
        for k, v in rec.fields.items():
            if k in _COMMON:
                k = column_name(k)
            col = cols.get(k)
            if col is None:         # earlier rows lack the field: None there
                col = cols[k] = (array("q") if not n and isinstance(v, int) and -(1 << 63) <= v < (1 << 63)
                                 else [None] * n)
            elif len(col) < n:
                if isinstance(col, array):
                    col = cols[k] = list(col)
                col.extend([None] * (n - len(col)))
            if isinstance(col, array):
                if isinstance(v, int) and -(1 << 63) <= v < (1 << 63):
                    col.append(v)
                    continue
                if isinstance(v, int) and 0 <= v < (1 << 64) and col.typecode == "q" and min(col, default=0) >= 0:
                    col = cols[k] = array("Q", col)
                    col.append(v)
                    continue
                col = cols[k] = list(col)
            col.append(v)
        n += 1
        for k, col in list(cols.items()):
            if len(col) < n:        # this record lacks the field
                if isinstance(col, array):
                    col = cols[k] = list(col)
                col.extend([None] * (n - len(col)))

    def build(self) -> Columns:
        out = Columns({name: EventTable(name, cols) for name, cols in self._tables.items()})
        self._tables = {}
        return out
