"""Records printed back as text, in the kernel's ``trace`` dialect or ``trace-cmd report``'s.

* ``kernel``: kernel/trace/trace_output.c ``trace_print_context`` + the event's TP_printk, as
  :mod:`memsim.tracing.text` prints memsim's own ring buffer (``%16s-%-7d [%03d] <irq-info>
  %5lu.%06lu: name: payload``, the µs rounded as ``ns2usecs`` does), after the 12-line header
  (FORMAT-NOTES 1-3);
* ``trace-cmd``: trace-cmd 3.1.6's tracecmd/trace-read.c ``trace_show_data`` with libtraceevent
  1.7's ``tep_print_event``: ``%16s-%-5d [%03d]``, the time as ``" %6.1000d:"`` (µs, rounded:
  ``print_event_time`` adds ``div / 2``; always ``%5llu.%06llu``, 0 included) or with ``ns=True``
  ``" %9.1d:"``, then
  ``print_event_name`` (`` name: `` padded to 20 characters of name) and the payload that
  libtraceevent computes from the print fmt (FORMAT-NOTES 6; ``cpus=N`` is the only header line).

A trace.dat recorded from tracefs instances prints as ``trace-cmd report`` prints several
buffers (trace-read.c ``print_handle_file``): in ``trace-cmd`` style every line starts with the
record's buffer name right-aligned to the longest instance name and ``": "`` (the top-level
buffer's lines with as many spaces and two more); the kernel style has no such column (each
instance has its own ``trace`` file).

ftrace's ``print`` event (what ``echo TEXT > trace_marker`` records) prints as its own output
function does, not through its print fmt: the kernel's ``trace_print_print`` puts the symbol of
``ip`` where the event name goes (``tracing_mark_write: TEXT``); trace-cmd prints
``print:`` and libtraceevent's ``%ps: %s`` (``print:                tracing_mark_write: TEXT``).
The text's trailing newline ends the line.

The payload is the record's own ``payload`` text when it was printed in the same dialect
(``payload_style``), else the event's print fmt evaluated over ``rec.fields``: with the kernel's
semantics for ``kernel`` (``%p`` hashed with ``ptr_key``) and libtraceevent's for ``trace-cmd``
(``%p`` is glibc's ``0x...``, unknown symbols such as ``vmemmap_base`` are 0 and pointer
arithmetic is not scaled, so ``page=`` equals the pfn; see
:class:`memsim.tracing.printfmt.Formatter`).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from memsim.errors import UsageError
from memsim.tracing.columns import COMMON_COLUMNS, column_name
from memsim.tracing.printfmt import PrintFmtError, compile_decl
from memsim.tracing.text import _HEADER_4, _HEADER_5

STYLES = ("kernel", "trace-cmd")
# a text reader's meta["dialect"] -> the dialect of its records' payload texts
_PAYLOAD_STYLES = {"kernel": "kernel", "trace_pipe": "kernel", "trace-cmd": "trace-cmd"}
NS_CLOCKS = ("local", "global", "perf", "mono", "mono_raw", "boot", "tai")

# print_func_help_header (kernel/trace/trace.c): the header without the irq-info legend
_HEADER_NOIRQ = ("#           TASK-PID     CPU#     TIMESTAMP  FUNCTION\n"
                 "#              | |         |         |         |\n")


# libtraceevent plugins that trace-cmd report loads (/usr/lib/*/traceevent/plugins) for mm events
_KMEM_CALL_SITE = frozenset({"kmem:kfree", "kmem:kmalloc", "kmem:kmalloc_node",
                             "kmem:kmem_cache_alloc", "kmem:kmem_cache_alloc_node",
                             "kmem:kmem_cache_free"})
_TLB_REASONS = {0: "flush on task switch", 1: "remote shootdown", 2: "local shootdown",
                3: "local mm shootdown"}


def _field_mask(decl: Any, name: str) -> int:
    for f in decl.fields:
        if f.name == name:
            return (1 << (8 * f.size)) - 1 if f.size else (1 << 64) - 1
    return (1 << 64) - 1


def _raw_payload(fields: Mapping[str, Any]) -> str:
    """The fields as ``name=value`` (what is printed when no print fmt can be evaluated)."""
    return " ".join(f"{k}={v}" for k, v in fields.items())


class Renderer:
    """Prints records (:class:`~memsim.tracing.record.Record`) as text lines.

    :param style: ``"kernel"`` (the ``trace`` file) or ``"trace-cmd"`` (``trace-cmd report``).
    :param formats: a :class:`~memsim.tracing.formats.FormatSet` holding the events' print fmts
        (a :class:`~memsim.tracing.tracedat.DatReader`'s ``formats``).
    :param ptr_key: the boot's ``%p`` hash key (kernel style; default (0, 0)).
    :param flags: kernel style: print the irq-info column (options/irq-info).
    :param ns: trace-cmd style: nanosecond time stamps (``trace-cmd report -t``).
    :param kallsyms: symbols for ``%pS`` and plugin_kmem (a reader's ``kallsyms``; memsim's
        own table by default).
    :param payload_style: the dialect of ``rec.payload`` texts (``"kernel"`` for the kernel's
        ``trace``/``trace_pipe``, ``"trace-cmd"`` for ``trace-cmd report`` output); a payload
        is reused only in its own dialect.  None: payloads are kernel text.
    :param clock: the trace clock (``local``.. print seconds.µs, ``counter``, ``uptime``,
        ``x86-tsc`` a raw count).
    :param buffer_width: trace-cmd style: the trace has instance buffers, the longest name has
        this many characters (each line starts with the record's buffer name); None: no
        buffer column.
    """

    def __init__(self, style: str, formats: Any, *, ptr_key: Optional[Tuple[int, int]] = None,
                 flags: bool = True, ns: bool = False, kallsyms: Any = None,
                 payload_style: Optional[str] = None, clock: str = "local", width: int = 5,
                 buffer_width: Optional[int] = None):
        if style not in STYLES:
            raise UsageError("--style", f"unknown text style {style!r}",
                             f"use one of {', '.join(STYLES)}")
        self.style = style
        self.formats = formats
        self.ptr_key = tuple(ptr_key) if ptr_key is not None else (0, 0)
        self.flags = flags
        self.ns = ns
        if kallsyms is None:
            from memsim.tracing.kallsyms import default_kallsyms
            kallsyms = default_kallsyms()
        self.kallsyms = kallsyms
        self.payload_style = payload_style or "kernel"
        self.ns_clock = clock in NS_CLOCKS
        self.width = width
        self.buffer_width = buffer_width if style == "trace-cmd" else None
        self._fmt: Dict[str, Any] = {}
        self._names: Dict[str, str] = {}
        self._prefix: Dict[Tuple[str, int, int], str] = {}
        self._last_ts = -1
        self._stamp = ""

    # -- header ----------------------------------------------------------------------------
    def header(self, meta: Mapping[str, Any]) -> str:
        """The text before the first line: the kernel's ``#`` header (entries, #P from
        ``meta``), or trace-cmd's ``cpus=N``."""
        ncpus = meta.get("ncpus") or 0
        if self.style == "trace-cmd":
            return f"cpus={ncpus}\n"
        entries = meta.get("entries")
        if entries is None:
            entries = meta.get("nrecords") or 0
        written = meta.get("entries_written")
        if written is None:
            written = entries
        width = meta.get("flags_width", self.width)
        legend = (_HEADER_4 if width == 4 else _HEADER_5) if self.flags else _HEADER_NOIRQ
        return ("# tracer: nop\n#\n"
                f"# entries-in-buffer/entries-written: {entries}/{written}   #P:{ncpus}\n#\n"
                + legend)

    # -- payload ---------------------------------------------------------------------------
    def _formatter(self, rec) -> Any:
        return self._formatter_of(rec.system, rec.event, rec.full_name)

    def _formatter_of(self, system: str, event: str, name: str) -> Any:
        f = self._fmt.get(name)
        if f is None and name not in self._fmt:
            decl = self.formats.get(name) if system else self.formats.by_name(name)
            if decl is None:
                decl = self.formats.by_name(event)
            if decl is not None:
                try:
                    if self.style == "kernel":
                        f = compile_decl(decl, ptr_key=self.ptr_key, kallsyms=self.kallsyms)
                    else:
                        f = compile_decl(decl, kallsyms=self.kallsyms, libtraceevent=True)
                except PrintFmtError:
                    f = None
            self._fmt[name] = f
        return f

    def payload(self, rec) -> str:
        """The payload text of ``rec`` in this dialect."""
        if rec.payload is not None and self.payload_style == self.style:
            return rec.payload
        if self.style == "trace-cmd":
            name = rec.full_name
            if name == "tlb:tlb_flush":
                text = self._plugin_tlb(rec)
                if text is not None:
                    return text
            elif name in _KMEM_CALL_SITE:
                return self._plugin_kmem(rec) + self._print_fmt(rec)
        return self._print_fmt(rec)

    def _plugin_kmem(self, rec) -> str:
        """plugin_kmem.c call_site_handler: ``(function+0xoff) `` before the payload."""
        val = rec.fields.get("call_site")
        if not isinstance(val, int) or self.kallsyms is None:
            return ""
        hit = self.kallsyms.lookup(val & ((1 << 64) - 1))
        if hit is None:
            return ""
        return "(%s+0x%x) " % (hit[0], hit[1] & 0xFFFFFFFF)

    def _plugin_tlb(self, rec) -> Optional[str]:
        """plugin_tlb.c tlb_flush_handler (replaces the print fmt)."""
        pages, reason = rec.fields.get("pages"), rec.fields.get("reason")
        if not isinstance(pages, int) or not isinstance(reason, int):
            return None
        decl = self.formats.get(rec.full_name)
        pages &= _field_mask(decl, "pages") if decl is not None else (1 << 64) - 1
        if pages >> 63:
            pages -= 1 << 64
        reason &= _field_mask(decl, "reason") if decl is not None else (1 << 64) - 1
        return f"pages={pages} reason={_TLB_REASONS.get(reason, '')} ({reason})"

    def _print_fmt(self, rec) -> str:
        f = self._formatter(rec)
        if f is not None:
            try:
                return f.payload(rec.fields)
            except (KeyError, TypeError, ValueError, OverflowError):
                pass
        if rec.payload is not None:
            return rec.payload
        return _raw_payload(rec.fields)

    # -- lines -----------------------------------------------------------------------------
    def _stamp_of(self, ts: int) -> str:
        if self.style == "kernel":
            if not self.ns_clock:
                return " %12d" % ts
            us = (ts + 500) // 1000                     # ns2usecs rounds
            return " %5d.%06d" % divmod(us, 1000000)
        if not self.ns_clock:
            return "%12d:" % ts
        if self.ns:                                     # " %9.1d:"
            return " %5d.%09d:" % divmod(ts, 1000000000)
        return " %5d.%06d:" % divmod((ts + 500) // 1000, 1000000)   # " %6.1000d:" rounds

    def _symbol(self, ip: Any) -> str:
        """The ``%ps`` of an ``ip`` field: the kernel's ``seq_print_ip_sym`` (``0`` for NULL,
        ``0x%08lx`` when no symbol holds it) or libtraceevent's (``0x%llx``); a name a text
        trace printed is kept."""
        if isinstance(ip, str):
            return ip
        if not isinstance(ip, int):
            return "0"
        if self.style == "kernel" and ip == 0:
            return "0"
        hit = self.kallsyms.lookup(ip & ((1 << 64) - 1)) if self.kallsyms is not None else None
        if hit is not None:
            return hit[0]
        return ("0x%08x" if self.style == "kernel" else "0x%x") % (ip & ((1 << 64) - 1))

    def _print_line(self, rec, prefix: str) -> str:
        """ftrace's ``print`` (trace_marker): kernel ``trace_print_print`` or trace-cmd's
        ``print:`` and ``%ps: %s``, the text's trailing newline dropped."""
        return f"{prefix}{self._stamp}{self._print_rest(rec)}"

    def _print_rest(self, rec) -> str:
        """The part of :meth:`_print_line` after the time stamp."""
        buf = rec.fields.get("buf")
        if not isinstance(buf, str):
            buf = rec.payload or ""
        if buf.endswith("\n"):
            buf = buf[:-1]
        sym = self._symbol(rec.fields.get("ip"))
        if self.style == "kernel":
            return f": {sym}: {buf}"
        return f" print: {' ' * 15}{sym}: {buf}"

    def _prefix_of(self, comm: str, pid: int, cpu: int, flags: Optional[str],
                   tgid: Optional[int], buffer: str = "") -> str:
        """The text before the time stamp: (buffer,) task, (tgid,) CPU (and irq-info)."""
        if self.style == "kernel":
            prefix = f"{comm:>16}-{pid:<7} "
            if tgid is not None:
                prefix += f"({tgid:7d}) "
            prefix += f"[{cpu:03d}] "
            if self.flags:
                prefix += (flags if flags is not None else "." * self.width)
            return prefix
        prefix = f"{comm:>16}-{pid:<5} [{cpu:03d}]"
        bw = self.buffer_width
        if bw is not None:                              # print_handle_file
            prefix = (f"{buffer:>{bw}}: " if buffer else " " * (bw + 2)) + prefix
        return prefix

    def _name_of(self, event: str) -> str:
        """The event's name as printed between the stamp and the payload."""
        name = self._names.get(event)
        if name is None:
            if self.style == "kernel":
                name = f": {event}: "
            else:                                       # print_event_name
                name = f" {event}: " + " " * max(0, 20 - len(event))
            self._names[event] = name
        return name

    def line(self, rec) -> str:
        """One line of text for ``rec``, without the newline."""
        ts = rec.ts
        if ts != self._last_ts:
            self._last_ts = ts
            self._stamp = self._stamp_of(ts)
        bw = self.buffer_width
        key = (rec.comm, rec.pid, rec.cpu, rec.flags, rec.tgid, rec.buffer if bw else "")
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = self._prefix_of(rec.comm, rec.pid, rec.cpu, rec.flags, rec.tgid, rec.buffer)
            if len(self._prefix) < 65536:
                self._prefix[key] = prefix
        if rec.event == "print" and rec.system == "ftrace":
            return self._print_line(rec, prefix)
        name = self._names.get(rec.event)
        if name is None:
            name = self._name_of(rec.event)
        payload = self.payload(rec)
        if self.style == "trace-cmd" and payload.endswith("\n"):
            payload = payload[:-1]
        return f"{prefix}{self._stamp}{name}{payload}"

    # -- column batches --------------------------------------------------------------------
    def _stamp_form(self) -> int:
        from memsim.tracing import _render
        if not self.ns_clock:
            return _render.STAMP_CALL
        if self.style == "kernel":
            return _render.STAMP_US
        return _render.STAMP_NS_COLON if self.ns else _render.STAMP_US_COLON

    def table_payloads(self, t: Any) -> List[str]:
        """The payload of every row of the :class:`~memsim.tracing.columns.EventTable` ``t``,
        as :meth:`payload` gives it for the row's record: the print fmt evaluated over whole
        columns, or the text's own payloads (``t.payloads``) in their dialect; a table the
        columns cannot do (a plugin's handler, a value the print fmt refuses, a field some
        rows lack) goes row by row through :meth:`payload`."""
        system, _, event = t.name.rpartition(":")
        n = len(t)
        if t.name == "ftrace:print":                  # its own output function (_print_rest)
            return self._row_payloads(t, system, event, self._print_rest)
        if t.payloads is not None and self.payload_style == self.style:
            return t.payloads
        if self.style == "trace-cmd" and (t.name == "tlb:tlb_flush" or t.name in _KMEM_CALL_SITE):
            return self._row_payloads(t, system, event)
        f = self._formatter_of(system, event, t.name)
        if f is not None:
            cols = []
            for fname in f.fields_used:
                col = t.columns.get(column_name(fname))
                if col is None or (type(col) is list and None in col):
                    return self._row_payloads(t, system, event)
                cols.append(col)
            try:
                return f.payload_columns(n, *cols)
            except (KeyError, TypeError, ValueError, OverflowError):
                pass
        return self._row_payloads(t, system, event)

    def _row_payloads(self, t: Any, system: str, event: str, payload_of=None) -> List[str]:
        from memsim.tracing.record import Record
        payload_of = payload_of or self.payload
        c = t.columns
        names = [(k, k[:-1] if k.endswith("_") and k[:-1] in COMMON_COLUMNS else k)
                 for k in c if k not in COMMON_COLUMNS]
        texts = t.payloads
        buffers = c.get("buffer")
        out = []
        for i in range(len(t)):
            fields = {}
            for k, fname in names:
                v = c[k][i]
                if v is not None:
                    fields[fname] = v
            tgid = c["tgid"][i]
            rec = Record(system, event, c["pid"][i], tgid if tgid >= 0 else None, c["comm"][i],
                         c["cpu"][i], c["ts"][i], c["flags"][i], fields,
                         texts[i] if texts is not None else None,
                         buffers[i] if buffers is not None else "")
            out.append(payload_of(rec))
        return out

    def _buffers_of(self, t: Any) -> Optional[List[str]]:
        """The buffer column when lines print it (trace-cmd style, instance buffers)."""
        if self.buffer_width is None:
            return None
        b = t.columns.get("buffer")
        return b if b is not None else [""] * len(t)

    def _table_name(self, t: Any) -> str:
        """What goes between the stamp and the payload (the print event puts it in its own)."""
        return "" if t.name == "ftrace:print" else self._name_of(t.name.rpartition(":")[2])

    def batch_lines(self, cols: Any) -> List[str]:
        """The lines (without newline) of a :class:`~memsim.tracing.columns.Columns` batch, in
        file order: what :meth:`line` gives for each of its records."""
        from memsim.tracing import _render
        tables = [t for t in cols.tables.values() if len(t)]
        n = sum(len(t) for t in tables)
        if not n:
            return []
        base = min(min(t.columns["seq"]) for t in tables)
        out: List[Any] = [None] * n
        form = self._stamp_form()
        strip = self.style == "trace-cmd"
        parts = []
        for t in tables:
            c = t.columns
            event = t.name.rpartition(":")[2]
            lines = _render.assemble(c["ts"], c["pid"], c["cpu"], c["tgid"], c["comm"], c["flags"],
                                     self._buffers_of(t), self._table_name(t),
                                     self.table_payloads(t), self._prefix_of, self._stamp_of, form,
                                     strip and t.name != "ftrace:print")
            parts.append((c["seq"], lines))
        try:
            for seq, lines in parts:
                _render.scatter(out, seq, base, lines)
        except IndexError:                      # seq not contiguous: sort the rows
            rows = sorted((s, l) for seq, lines in parts for s, l in zip(seq, lines))
            out = [l for _, l in rows]
        return out

    def batch_text(self, cols: Any) -> bytes:
        """The lines of a :class:`~memsim.tracing.columns.Columns` batch in file order, each
        with its newline, as UTF-8: what :meth:`line` gives for each of its records."""
        from memsim.tracing import _render
        tables = [t for t in cols.tables.values() if len(t)]
        n = sum(len(t) for t in tables)
        if not n:
            return b""
        specs = []
        for t in tables:
            c = t.columns
            specs.append((c["seq"], c["ts"], c["pid"], c["cpu"], c["tgid"], c["comm"], c["flags"],
                          self._buffers_of(t), self._table_name(t), self.table_payloads(t),
                          self.style == "trace-cmd" and t.name != "ftrace:print"))
        base = min(min(t.columns["seq"]) for t in tables)
        try:
            return _render.batch_text(specs, n, base, self._prefix_of, self._stamp_of,
                                      self._stamp_form())
        except IndexError:                      # seq not contiguous
            return ("\n".join(self.batch_lines(cols)) + "\n").encode("utf-8")

    def lines(self, records: Iterable[Any]) -> Iterator[str]:
        """``line(rec) + "\\n"`` of every record."""
        for rec in records:
            yield self.line(rec) + "\n"

    def render(self, records: Iterable[Any], meta: Mapping[str, Any], out) -> None:
        """Write the header and every line to ``out`` (a text stream)."""
        out.write(self.header(meta))
        buf = []
        for line in self.lines(records):
            buf.append(line)
            if len(buf) >= 8192:
                out.write("".join(buf))
                buf.clear()
        if buf:
            out.write("".join(buf))

    @classmethod
    def for_reader(cls, style: str, reader: Any, **kw) -> "Renderer":
        """A renderer set up from a reader: its formats, kallsyms, and from its ``meta`` (the
        schema of :mod:`memsim.tracing.record`) the clock, the flags column and the dialect
        of its payload texts.

        A kernel text without the irq-info column (``flags_width`` None) prints none back;
        every other input gets the column, ``flags_width`` wide (default 5).  A trace with
        instance buffers (``meta["buffers"]``) gets trace-cmd's buffer column.  Keyword
        arguments override what the reader gives.
        """
        meta = getattr(reader, "meta", {}) or {}
        dialect = meta.get("dialect")
        width = meta.get("flags_width")
        instances = [b for b in meta.get("buffers") or () if b]
        if meta.get("buffer_width") is not None:      # a trace-cmd text with buffer columns
            kw.setdefault("buffer_width", meta["buffer_width"])
        elif instances:
            kw.setdefault("buffer_width", max(len(b) for b in instances))
        kw.setdefault("kallsyms", getattr(reader, "kallsyms", None))
        kw.setdefault("clock", meta.get("clock") or "local")
        kw.setdefault("flags", not (dialect in ("kernel", "trace_pipe") and width is None))
        kw.setdefault("width", width or 5)
        kw.setdefault("payload_style", _PAYLOAD_STYLES.get(dialect))
        return cls(style, reader.formats, **kw)


__all__ = ["Renderer", "STYLES"]
