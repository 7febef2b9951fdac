"""Take a printed payload apart again: an event's ``print fmt`` compiled into its INVERSE.

The kernel prints a payload by running TP_printk (``trace_raw_output_<event>``), trace-cmd by
evaluating the exported ``print fmt`` (libtraceevent ``pretty_print``).  A text trace parser
needs the other direction: from ``mm_id=488984262 curr=1 type=MM_FILEPAGES size=1720320B``
back to the record's fields ``mm_id``, ``curr``, ``member``, ``size``.  :func:`compile_payload`
reads the print fmt once (the AST of :mod:`memsim.tracing.printfmt`) and builds a
:class:`PayloadPattern`:

* a sequence of literal pieces and conversions (``%u``, ``%lx``, ``%s`` ...);
* for each conversion, its argument expression INVERTED back to a field: ``REC->f`` and casts
  give the field itself, ``REC->f << k`` gives ``value >> k``, ``REC->f >> k`` and
  ``REC->f & mask`` give partial bits that are OR-combined (``dev %d:%d`` from
  ``s_dev >> 20`` and ``s_dev & ((1U << 20) - 1)`` recovers ``s_dev``), ``x * k``, ``x + k``,
  ``1UL << x`` likewise; ternaries are inverted through their field arm;
* ``__print_symbolic`` (``trace_print_symbols_seq``) becomes a name -> value table (an unmatched
  value printed as ``0x..`` is read back as that number), ``__print_flags``
  (``trace_print_flags_seq``) a name -> mask table whose tokens are OR-ed (a trailing ``0x..``
  adds the leftover bits), a string ternary (``(REC->gfp_flags) ? __print_flags(...) : "none"``,
  ``REC->write ? "true" : "false"``) a choice of texts that set the condition's field;
* ``%s`` of ``__get_str(f)`` or a ``char[]`` field gives the string.

A conversion no field can be recovered from (a hashed ``page=%p``, ``%pS`` symbols, a
comparison such as ``fragmenting=%d``) is kept under its printed LABEL, the word before ``=``
in the preceding literal (``page``), as an int (numbers, pointers) or a str.

When a payload does not match the pattern, :meth:`PayloadPattern.match_raw` tries the raw field
list libtraceevent prints without the print fmt (``trace-cmd report -R``: ``name=value`` for
every field in format order), and then :meth:`PayloadPattern.keyed` reads whatever
``key=value`` tokens there are (an older kernel, another version of the event): a key that is
a FIELD converts with the field's type, a key that is a LABEL through that label's
conversions.  So ``member=1`` (a 5.x kernel, or ``-R``) and ``type=MM_ANONPAGES`` (6.18) both
give ``fields["member"] == 1``.

The same pattern drives the Cython scanner (:mod:`memsim.tracing._textscan`) through
:meth:`PayloadPattern.program`; :meth:`PayloadPattern.match` is the pure-Python reference
implementation of that program (the tests hold the two together).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from memsim.tracing.printfmt import (_CONV_RE, BOOL, STR, ULONG, VMEMMAP_BASE, VOIDP,
                                     PrintFmtError, _Compiler, _Parser, field_ctype)

M64 = (1 << 64) - 1

# op codes shared with _textscan.pyx (keep in sync)
OP_LIT, OP_NUM, OP_PTR, OP_CHAR, OP_SYM, OP_FLAGS, OP_STR, OP_CHOICE = range(8)
# inverse transform codes (applied left to right to the parsed value, as uint64)
X_SHL, X_SHR, X_AND, X_MUL, X_DIV, X_ADD, X_NEG, X_NOT, X_LOG2 = range(9)
_XNAMES = {"shl": X_SHL, "shr": X_SHR, "and": X_AND, "mul": X_MUL, "div": X_DIV, "add": X_ADD,
           "neg": X_NEG, "not": X_NOT, "log2": X_LOG2}

# slot kinds
SLOT_INT, SLOT_STR = 0, 1

_SYMBOLS = {"vmemmap_base": (VMEMMAP_BASE, ULONG), "NULL": (0, VOIDP), "true": (1, BOOL),
            "false": (0, BOOL)}


@dataclass
class Slot:
    """One output value of a payload: a field of the event or a printed label.

    ``size``/``signed`` say how an int slot wraps (the C type of the field); ``typecode`` is
    the :class:`array.array` code of its column (``Q`` for unsigned 64-bit values).
    """

    name: str
    kind: int                 # SLOT_INT or SLOT_STR
    size: int = 8
    signed: bool = True
    is_field: bool = True

    @property
    def typecode(self) -> str:
        return "Q" if (self.kind == SLOT_INT and self.size == 8 and not self.signed) else "q"

    def wrap(self, v: int) -> int:
        """The C value of the field from its recovered bits."""
        bits = 8 * self.size
        v &= (1 << bits) - 1
        if self.signed and v >> (bits - 1):
            v -= 1 << bits
        return v


@dataclass
class Conv:
    """One conversion of the print fmt and how to read it back.

    ``kind`` is one of ``num``, ``ptr``, ``char``, ``sym``, ``flags``, ``str``, ``choice``.
    ``slot`` is the index of the slot it writes (-1: none), ``xops`` the inverse transform.
    """

    kind: str
    label: str
    spec: str
    slot: int = -1
    base: int = 10
    signed: bool = True
    prefix0x: bool = False          # '#' flag: the conversion prints 0x itself
    xops: Tuple[Tuple[int, int], ...] = ()
    table: Dict[str, int] = dc_field(default_factory=dict)
    delim: str = "|"
    alts: Tuple[Tuple[str, int, int], ...] = ()     # choice: (text, slot or -1, value)
    dynamic: Optional["Conv"] = None                # choice: the arm that is not a constant
    text_slot: int = -1                             # choice: store the chosen text here
    prefix: str = ""                                # literal text between "label=" and the value


class PayloadPattern:
    """The inverse of one event's print fmt (see the module docstring).

    ``pieces`` alternate literal ``str`` and :class:`Conv`; ``slots`` are the values a payload
    yields.  ``compiled`` is False when the print fmt could not be turned into a pattern
    (``reason`` says why): every payload then goes through :meth:`keyed`.
    """

    def __init__(self, decl: Any):
        self.decl = decl
        self.name = decl.full_name if decl is not None else ""
        self.pieces: List[Any] = []
        self.raw_pieces: List[Any] = []
        self.slots: List[Slot] = []
        self.slot_index: Dict[str, int] = {}
        self.compiled = False
        self.reason = ""
        self.labels: Dict[str, List[int]] = {}     # label -> indexes of its convs in pieces
        self.field_types: Dict[str, Slot] = {}
        self.hex_fields: set = set()
        self.sym_of_field: Dict[str, Conv] = {}
        if decl is not None:
            for f in decl.fields:
                self.field_types[f.name] = _field_slot(f)

    # -- slots ---------------------------------------------------------------------------
    def _slot(self, name: str, kind: int, size: int = 8, signed: bool = True,
              is_field: bool = True) -> int:
        i = self.slot_index.get(name)
        if i is not None:
            return i
        self.slots.append(Slot(name, kind, size, signed, is_field))
        self.slot_index[name] = len(self.slots) - 1
        return len(self.slots) - 1

    def field_slot(self, name: str) -> int:
        s = self.field_types[name]
        return self._slot(name, s.kind, s.size, s.signed, True)

    def recovered(self) -> List[str]:
        """The slots (fields and labels) a payload matching the print fmt gives values to."""
        out: List[str] = []
        for p in self.pieces:
            if isinstance(p, str):
                continue
            for c in (p, p.dynamic):
                if c is None:
                    continue
                idx = [c.slot, c.text_slot] + [a[1] for a in c.alts]
                for i in idx:
                    if i >= 0 and self.slots[i].name not in out:
                        out.append(self.slots[i].name)
        return out

    # -- the Cython program ----------------------------------------------------------------
    def program(self) -> Optional[tuple]:
        """``(slots, ops, raw_ops)`` for :class:`memsim.tracing._textscan.Event`, or None
        when the event has no format; ``ops`` is None when the print fmt did not compile,
        ``raw_ops`` the program of the raw field list (:meth:`match_raw`).

        slots: ``(name, kind, size, signed)``; ops: ``(OP_LIT, bytes)``,
        ``(OP_NUM, slot, xops, base, signed, prefix0x)`` (base 0: decimal or ``0x`` hex),
        ``(OP_PTR, slot, xops)``, ``(OP_CHAR, slot, xops)``,
        ``(OP_SYM, slot, xops, {bytes: value})``, ``(OP_FLAGS, slot, xops, delim, {bytes: mask})``,
        ``(OP_STR, slot)``, ``(OP_CHOICE, text_slot, ((bytes, slot, value), ...), dynamic op
        or None)``.
        """
        if self.decl is None:
            return None
        slots = tuple((s.name, s.kind, s.size, s.signed) for s in self.slots)
        ops = tuple(_op_tuple(p) for p in self.pieces) if self.compiled else None
        raw = tuple(_op_tuple(p) for p in self.raw_pieces) if self.raw_pieces else None
        return slots, ops, raw

    # -- reference matcher -----------------------------------------------------------------
    def match(self, text: str) -> Optional[Dict[str, Any]]:
        """The fields of ``text`` if it matches the pattern exactly, else None."""
        if not self.compiled:
            return None
        return self._match(self.pieces, text)

    def match_raw(self, text: str) -> Optional[Dict[str, Any]]:
        """The fields of the raw list ``f1=v1 f2=v2 ...`` of every field in format order
        (libtraceevent's raw output, ``trace-cmd report -R``), else None."""
        if not self.raw_pieces:
            return None
        return self._match(self.raw_pieces, text)

    def _match(self, pieces: Sequence[Any], text: str) -> Optional[Dict[str, Any]]:
        vals: Dict[int, Any] = {}
        end = _run(pieces, 0, text, 0, len(text), vals)
        if end is None:
            return None
        while end < len(text) and text[end] == " ":
            end += 1
        if end != len(text):
            return None
        return self._finish(vals)

    def _finish(self, vals: Dict[int, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for i, v in vals.items():
            s = self.slots[i]
            out[s.name] = s.wrap(v) if s.kind == SLOT_INT else v
        return out

    def parse(self, text: str) -> Dict[str, Any]:
        """:meth:`match`, else :meth:`match_raw`, else :meth:`keyed` (what the scanner does
        for each line)."""
        r = self.match(text)
        if r is None:
            r = self.match_raw(text)
        return r if r is not None else self.keyed(text)

    # -- keyed fallback --------------------------------------------------------------------
    def keyed(self, text: str) -> Dict[str, Any]:
        """Fields from the ``key=value`` tokens of ``text`` (see the module docstring)."""
        out: Dict[str, Any] = {}
        for m in _KV_RE.finditer(text):
            key, value = m.group(1), m.group(2)
            got = None
            if key in self.labels:
                got = self._keyed_label(key, value)
            if got is not None:
                for k, v in got.items():
                    if k in out and isinstance(v, int) and isinstance(out[k], int) \
                            and k in self.field_types:
                        v = self.field_types[k].wrap(out[k] | v)
                    out[k] = v
                continue
            if key in self.field_types:
                v = self._keyed_field(key, value)
                if v is not None:
                    out[key] = v
                    continue
            out[key] = generic_value(value)
        return out

    def _keyed_label(self, label: str, value: str) -> Optional[Dict[str, Any]]:
        idx = self.labels[label]
        pieces: List[Any] = []
        for n, i in enumerate(idx):
            if n:
                between = self.pieces[idx[n - 1] + 1:i]
                if any(not isinstance(p, str) for p in between):
                    break
                pieces.append("".join(between))
            pieces.append(self.pieces[i])
        first = pieces[0]
        for start in ((len(first.prefix),) if first.prefix and value.startswith(first.prefix)
                      else ()) + (0,):
            vals: Dict[int, Any] = {}
            end = _run(pieces, 0, value, start, len(value), vals)
            if end is None:
                continue
            rest = value[end:]
            if rest and not rest.isalpha():            # a unit suffix (4096B, 12kB) is fine
                continue
            return self._finish(vals)
        return None

    def _keyed_field(self, name: str, value: str) -> Any:
        slot = self.field_types[name]
        if slot.kind == SLOT_STR:
            return value
        v = _int_token(value, name in self.hex_fields)
        if v is None:
            conv = self.sym_of_field.get(name)
            if conv is not None:
                vals: Dict[int, Any] = {}
                if _run([conv], 0, value, 0, len(value), vals) == len(value):
                    v = vals.get(conv.slot)
        return None if v is None else slot.wrap(v)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
_KV_RE = re.compile(r"(?:(?<=[\s,(])|^)([A-Za-z_][\w\-.]*)=(\S*)")
_INT_RE = re.compile(r"-?(?:0[xX][0-9a-fA-F]{1,32}|\d{1,40})")


def generic_value(value: str) -> Any:
    """A ``key=value`` value of an unknown key: an int for decimal or ``0x`` hex, else str."""
    if _INT_RE.fullmatch(value):
        neg = value.startswith("-")
        body = value[1:] if neg else value
        n = int(body[2:], 16) if body[:2] in ("0x", "0X") else int(body)
        return -n if neg else n
    return value


def _int_token(value: str, hex_field: bool) -> Optional[int]:
    """A field's number: 0x-hex, decimal (optionally with a unit suffix such as ``B``), or hex
    digits when the print fmt prints the field in hex."""
    v = value
    neg = v.startswith("-")
    if neg:
        v = v[1:]
    if len(v) > 40:                 # no C integer has that many digits
        return None
    if v[:2] in ("0x", "0X") and len(v) > 2 and all(c in "0123456789abcdefABCDEF" for c in v[2:]):
        n = int(v[2:], 16)
    elif hex_field and v and all(c in "0123456789abcdefABCDEF" for c in v):
        n = int(v, 16)
    elif v.isdigit() and v.isascii():
        n = int(v)
    else:
        m = re.fullmatch(r"(\d+)[A-Za-z]+", v)
        if m is not None:
            n = int(m.group(1))
        elif v and all(c in "0123456789abcdefABCDEF" for c in v):
            n = int(v, 16)
        else:
            return None
    return -n if neg else n


def _field_slot(f: Any) -> Slot:
    try:
        t = field_ctype(f.ctype, f.size, f.signed)
    except PrintFmtError:
        t = None
    if t is STR or (t is not None and t.kind == "str"):
        return Slot(f.name, SLOT_STR)
    size = f.size if f.size in (1, 2, 4, 8) else 8
    signed = bool(f.signed) if t is None or t.kind == "int" else False
    return Slot(f.name, SLOT_INT, size, signed)


def _op_tuple(p: Any) -> tuple:
    if isinstance(p, str):
        return (OP_LIT, p.encode("utf-8"))
    if p.kind == "num":
        return (OP_NUM, p.slot, p.xops, p.base, p.signed, p.prefix0x)
    if p.kind == "ptr":
        return (OP_PTR, p.slot, p.xops)
    if p.kind == "char":
        return (OP_CHAR, p.slot, p.xops)
    if p.kind == "sym":
        return (OP_SYM, p.slot, p.xops, {k.encode("utf-8"): v for k, v in p.table.items()})
    if p.kind == "flags":
        return (OP_FLAGS, p.slot, p.xops, p.delim.encode("utf-8"),
                {k.encode("utf-8"): v for k, v in p.table.items()})
    if p.kind == "str":
        return (OP_STR, p.slot)
    if p.kind == "choice":
        return (OP_CHOICE, p.text_slot, tuple((t.encode("utf-8"), s, v) for t, s, v in p.alts),
                _op_tuple(p.dynamic) if p.dynamic is not None else None)
    raise ValueError(p.kind)


def apply_xops(v: int, xops: Sequence[Tuple[int, int]], signed: bool = True) -> int:
    """The inverse transform on a parsed value (uint64 arithmetic, as the C scanner does)."""
    v &= M64
    for code, k in xops:
        if code == X_SHL:
            v = (v << k) & M64 if k < 64 else 0
        elif code == X_SHR:
            v = v >> k if k < 64 else 0
        elif code == X_AND:
            v &= k & M64
        elif code == X_MUL:
            v = (v * k) & M64
        elif code == X_DIV:
            if k:
                a = v - (1 << 64) if v >> 63 else v
                q = abs(a) // abs(k)
                v = (q if (a >= 0) == (k >= 0) else -q) & M64
        elif code == X_ADD:
            v = (v + k) & M64
        elif code == X_NEG:
            v = (-v) & M64
        elif code == X_NOT:
            v = ~v & M64
        elif code == X_LOG2:
            v = max(v.bit_length() - 1, 0)
    return v


# ---------------------------------------------------------------------------------------------
# the reference interpreter (what _textscan.pyx does in C)
# ---------------------------------------------------------------------------------------------
_HEX = "0123456789abcdefABCDEF"


def _next_lit(pieces: Sequence[Any], i: int) -> Optional[str]:
    """The literal right after piece ``i`` (None: the payload's end)."""
    if i + 1 < len(pieces) and isinstance(pieces[i + 1], str):
        return pieces[i + 1]
    return None


def _token(text: str, pos: int, end: int, lit: Optional[str]) -> Optional[Tuple[str, int]]:
    """The text up to the next literal (first occurrence) or the end, stripped of spaces."""
    if lit is None:
        stop = end
    else:
        stop = text.find(lit, pos, end)
        if stop < 0:
            return None
    return text[pos:stop].strip(" "), stop


def _num(text: str, pos: int, end: int, base: int, prefix0x: bool) -> Optional[Tuple[int, int]]:
    while pos < end and text[pos] == " ":
        pos += 1
    neg = False
    if pos < end and text[pos] == "-":
        neg = True
        pos += 1
    if prefix0x and base == 16 and text[pos:pos + 2] in ("0x", "0X"):
        pos += 2
    if base == 0:                       # raw values: 0x-hex or decimal
        if text[pos:pos + 2] in ("0x", "0X"):
            pos += 2
            base = 16
        else:
            base = 10
    digits = "0123456789" if base == 10 else _HEX if base == 16 else "01234567"
    start = pos
    v = 0
    while pos < end and text[pos] in digits:
        v = (v * base + int(text[pos], 16)) & M64
        pos += 1
    if pos == start:
        return None
    return ((-v) & M64 if neg else v), pos


def _put(vals: Dict[int, Any], slot: int, v: int) -> None:
    if slot >= 0:
        vals[slot] = vals.get(slot, 0) | v


def _run(pieces: Sequence[Any], i: int, text: str, pos: int, end: int,
         vals: Dict[int, Any]) -> Optional[int]:
    """Match ``pieces`` against ``text[pos:end]``; fills ``vals`` (slot -> value); returns the
    end position or None."""
    for i in range(i, len(pieces)):
        p = pieces[i]
        if isinstance(p, str):
            if not text.startswith(p, pos):
                return None
            pos += len(p)
            continue
        r = _conv(p, pieces, i, text, pos, end, vals)
        if r is None:
            return None
        pos = r
    return pos


def _conv(p: Conv, pieces, i, text, pos, end, vals) -> Optional[int]:
    k = p.kind
    if k == "num":
        r = _num(text, pos, end, p.base, p.prefix0x)
        if r is None:
            return None
        _put(vals, p.slot, apply_xops(r[0], p.xops))
        return r[1]
    if k == "ptr":
        while pos < end and text[pos] == " ":
            pos += 1
        if text.startswith("(null)", pos):
            _put(vals, p.slot, 0)
            return pos + 6
        r = _num(text, pos, end, 16, text[pos:pos + 2] in ("0x", "0X"))
        if r is None:
            return None
        _put(vals, p.slot, apply_xops(r[0], p.xops))
        return r[1]
    if k == "char":
        if pos >= end:
            return None
        _put(vals, p.slot, apply_xops(ord(text[pos]), p.xops))
        return pos + 1
    if k == "choice" and p.dynamic is None:
        for t, slot, v in p.alts:              # longest first (compile_payload sorts them)
            if text.startswith(t, pos):
                if slot >= 0:
                    _put(vals, slot, v)
                if p.text_slot >= 0:
                    vals[p.text_slot] = t
                return pos + len(t)
        return None
    tok = _token(text, pos, end, _next_lit(pieces, i))
    if tok is None:
        return None
    s, stop = tok
    if k == "str":
        if p.slot >= 0:
            vals[p.slot] = s
        return stop
    if k == "choice":
        for t, slot, v in p.alts:
            if s == t:
                if slot >= 0:
                    _put(vals, slot, v)
                return stop
        p = p.dynamic
        k = p.kind
        if k == "str":
            if p.slot >= 0:
                vals[p.slot] = s
            return stop
    if k == "sym":
        v = p.table.get(s)
        if v is None:
            v = _hex_token(s)
            if v is None:
                return None
        _put(vals, p.slot, apply_xops(v, p.xops))
        return stop
    if k == "flags":
        v = 0
        for part in s.split(p.delim) if p.delim else [s]:
            m = p.table.get(part)
            if m is None:
                m = _hex_token(part)
                if m is None:
                    return None
            v |= m
        _put(vals, p.slot, apply_xops(v, p.xops))
        return stop
    return None


def _hex_token(s: str) -> Optional[int]:
    if len(s) > 2 and s[:2] in ("0x", "0X") and all(c in _HEX for c in s[2:]):
        return int(s[2:], 16) & M64
    return None


# ---------------------------------------------------------------------------------------------
# compiling a print fmt
# ---------------------------------------------------------------------------------------------
class _Unsupported(Exception):
    pass


def compile_payload(decl: Any) -> PayloadPattern:
    """The :class:`PayloadPattern` of an :class:`~memsim.tracing.events.EventDecl` (never
    raises: an unsupported print fmt gives a pattern with ``compiled`` False)."""
    pat = PayloadPattern(decl)
    try:
        _compile(pat, decl)
        pat.compiled = True
        _compile_raw(pat, decl)
    except (_Unsupported, PrintFmtError, RecursionError) as e:
        pat.reason = str(e) or type(e).__name__
        pat.pieces = []
        pat.slots = []
        pat.slot_index = {}
        pat.labels = {}
        pat.compiled = False
        try:                        # keyed parsing still benefits from the labels
            _compile(pat, decl, labels_only=True)
        except (_Unsupported, PrintFmtError, RecursionError):
            pat.pieces, pat.slots, pat.slot_index, pat.labels = [], [], {}, {}
        _compile_raw(pat, decl)
    return pat


def _compile_raw(pat: PayloadPattern, decl: Any) -> None:
    """The raw field list libtraceevent prints without the print fmt (``trace-cmd report -R``):
    `` name=value`` for every field in format order, numbers in decimal or ``0x`` hex (hex
    digits without ``0x`` for a field the print fmt prints with ``%x``), strings as they are.
    A field whose name is taken by a label of another kind is read but not kept."""
    pieces: List[Any] = []
    for i, f in enumerate(decl.fields):
        pieces.append(("" if i == 0 else " ") + f.name + "=")
        ft = pat.field_types[f.name]
        j = pat.slot_index.get(f.name)
        if j is None:
            if len(pat.slots) >= 64:
                pat.raw_pieces = []
                return
            j = pat.field_slot(f.name)
        elif pat.slots[j].kind != ft.kind:
            j = -1
        if ft.kind == SLOT_STR:
            pieces.append(Conv("str", f.name, "%s", slot=j))
        else:
            hexf = f.name in pat.hex_fields
            pieces.append(Conv("num", f.name, "%x" if hexf else "%d", slot=j,
                               base=16 if hexf else 0, prefix0x=True))
    for i, p in enumerate(pieces):      # a string needs a literal after it, or the end
        if isinstance(p, Conv) and p.kind == "str" and i + 1 < len(pieces) \
                and not isinstance(pieces[i + 1], str):
            pat.raw_pieces = []
            return
    pat.raw_pieces = pieces


def unknown_payload() -> PayloadPattern:
    """The pattern of an event no format names: generic ``key=value`` parsing."""
    return PayloadPattern(None)


def _label_of(literal: str, prev: Optional[str], index: int) -> str:
    """The word before ``=`` (or ``:``/space) at the end of ``literal``: ``type`` of
    ``" type="``, ``pfn`` of ``" pfn=0x"``; punctuation only (``:`` of ``dev %d:%d``) keeps the
    previous conversion's label; else ``arg<index>``."""
    lit = re.sub(r"(?<=[=:\s(])0[xX]?$", "", literal)
    if lit in ("0x", "0X", "0"):
        lit = ""
    m = re.search(r"([A-Za-z_][\w\-]*)[^\w]*$", lit)
    if m is not None and (m.end(1) == len(lit) or lit[m.end(1)] in "=: ("):
        return m.group(1)
    if prev is not None and re.search(r"[A-Za-z0-9_]", lit) is None:
        return prev
    return f"arg{index}"


def _prefix_of(literal: str) -> str:
    """The part of a literal after ``label=`` (e.g. ``0x`` of ``pfn=0x``)."""
    m = re.search(r"[=:]([^=:\s]*)$", literal)
    return m.group(1) if m else ""


class _Ctx:
    def __init__(self, pat: PayloadPattern, decl: Any):
        self.pat = pat
        self.fields = {f.name: field_ctype(f.ctype, f.size, f.signed) for f in decl.fields
                       if _safe_ctype(f) is not None}
        self.comp = _Compiler(self.fields, _SYMBOLS, decl.full_name)

    def const(self, node) -> Optional[Any]:
        if node[0] in ("field",):
            return None
        try:
            e = self.comp.gen(node)
        except (PrintFmtError, RecursionError, TypeError, ValueError, KeyError):
            return None
        return e.const if e.is_const else None

    def is_ptr(self, node) -> bool:
        try:
            return self.comp.gen(node).t.kind == "ptr"
        except (PrintFmtError, RecursionError, TypeError, ValueError, KeyError):
            return False

    def int_field(self, name: str) -> bool:
        s = self.pat.field_types.get(name)
        return s is not None and s.kind == SLOT_INT


def _safe_ctype(f):
    try:
        return field_ctype(f.ctype, f.size, f.signed)
    except PrintFmtError:
        return None


def _invert(ctx: _Ctx, node) -> Optional[Tuple[str, Tuple[Tuple[int, int], ...]]]:
    """``(field, xops)`` such that applying xops to the printed value gives (bits of) the
    field, or None."""
    kind = node[0]
    if kind == "field":
        return (node[1], ()) if ctx.int_field(node[1]) else None
    if kind == "cast":
        return _invert(ctx, node[2])
    if kind == "call" and node[1] == "__builtin_expect" and node[2]:
        return _invert(ctx, node[2][0])
    if kind == "un":
        sub = _invert(ctx, node[2])
        if sub is None:
            return None
        if node[1] == "+":
            return sub
        if node[1] == "-":
            return sub[0], ((X_NEG, 0),) + sub[1]
        if node[1] == "~":
            return sub[0], ((X_NOT, 0),) + sub[1]
        return None
    if kind == "bin":
        op, l, r = node[1], node[2], node[3]
        lc, rc = ctx.const(l), ctx.const(r)
        if lc is not None and rc is not None:
            return None
        if op in ("<<", ">>") and rc is not None:
            sub = _invert(ctx, l)
            if sub is None or not isinstance(rc, int) or not 0 <= rc < 64:
                return None
            return sub[0], ((X_SHR if op == "<<" else X_SHL, rc),) + sub[1]
        if op == "<<" and lc == 1:
            sub = _invert(ctx, r)
            return None if sub is None else (sub[0], ((X_LOG2, 0),) + sub[1])
        c, e = (rc, l) if rc is not None else (lc, r)
        if c is None or not isinstance(c, int):
            return None
        if op in ("+", "-") and (ctx.is_ptr(l) or ctx.is_ptr(r)):
            return None                             # pointer arithmetic scales by sizeof
        sub = _invert(ctx, e)
        if sub is None:
            return None
        if op == "&":
            return sub[0], ((X_AND, c & M64),) + sub[1]
        if op == "*" and c:
            return sub[0], ((X_DIV, c),) + sub[1]
        if op == "+":
            return sub[0], ((X_ADD, (-c) & M64),) + sub[1]
        if op == "-":
            if rc is not None:                      # e - c
                return sub[0], ((X_ADD, c & M64),) + sub[1]
            return sub[0], ((X_NEG, 0), (X_ADD, c & M64)) + sub[1]     # c - e
        return None
    if kind == "?:":
        a, b = node[2], node[3]
        ia, ib = _invert(ctx, a), _invert(ctx, b)
        if ia is not None and ib is not None:
            return ia if ia == ib else None
        return ia if ia is not None else ib
    return None


def _truthy(ctx: _Ctx, cond) -> Optional[Tuple[str, int, int]]:
    """For a ternary's condition: ``(field, bits when true, bits when false)`` or None."""
    neg = False
    while cond[0] == "un" and cond[1] == "!":
        neg = not neg
        cond = cond[2]
    while cond[0] == "cast" or (cond[0] == "call" and cond[1] == "__builtin_expect"):
        cond = cond[2] if cond[0] == "cast" else cond[2][0]
    t: Optional[Tuple[str, int]] = None
    if cond[0] == "field" and ctx.int_field(cond[1]):
        t = (cond[1], 1)
    elif cond[0] == "bin" and cond[1] == "&":
        lc, rc = ctx.const(cond[2]), ctx.const(cond[3])
        c, e = (rc, cond[2]) if rc is not None else (lc, cond[3])
        if isinstance(c, int) and c:
            sub = _invert(ctx, e)
            if sub is not None and not sub[1]:
                t = (sub[0], c & M64)
    if t is None:
        return None
    return (t[0], 0, t[1]) if neg else (t[0], t[1], 0)


def _table(ctx: _Ctx, items) -> Dict[str, int]:
    """``{ value, "NAME" }`` entries -> {NAME: value} (the first entry of a name wins)."""
    out: Dict[str, int] = {}
    for it in items:
        if it[0] != "init" or len(it[1]) != 2:
            raise _Unsupported("a symbol table entry is not { value, \"name\" }")
        v = ctx.const(it[1][0])
        nm = ctx.const(it[1][1])
        if nm is not None and not isinstance(nm, str) and nm == 0:
            break                                   # { 0, NULL } ends a table
        if not isinstance(v, int) or not isinstance(nm, str):
            raise _Unsupported("a symbol table entry is not constant (unknown enum?)")
        out.setdefault(nm, v & M64)
    return out


def _string_conv(ctx: _Ctx, node, label: str, spec: str) -> Optional[Conv]:
    """A ``%s`` argument; None when nothing can be recovered from it."""
    pat = ctx.pat
    kind = node[0]
    if kind == "call" and node[1] == "__get_str" and len(node[2]) == 1 \
            and node[2][0][0] in ("id", "field"):
        name = node[2][0][1]
        if name in pat.field_types and pat.field_types[name].kind == SLOT_STR:
            return Conv("str", label, spec, slot=pat.field_slot(name))
        return None
    if kind == "field" and node[1] in pat.field_types \
            and pat.field_types[node[1]].kind == SLOT_STR:
        return Conv("str", label, spec, slot=pat.field_slot(node[1]))
    if kind == "call" and node[1] in ("__print_symbolic", "__print_symbolic_u64") and node[2]:
        inv = _invert(ctx, node[2][0])
        if inv is None:
            return None
        try:
            table = _table(ctx, node[2][1:])
        except _Unsupported:
            return None
        c = Conv("sym", label, spec, slot=pat.field_slot(inv[0]), xops=inv[1], table=table)
        pat.sym_of_field.setdefault(inv[0], c)
        return c
    if kind == "call" and node[1] in ("__print_flags", "__print_flags_u64") and len(node[2]) >= 2:
        inv = _invert(ctx, node[2][0])
        delim = ctx.const(node[2][1])
        if inv is None or not isinstance(delim, str):
            return None
        try:
            table = _table(ctx, node[2][2:])
        except _Unsupported:
            return None
        c = Conv("flags", label, spec, slot=pat.field_slot(inv[0]), xops=inv[1], table=table,
                 delim=delim)
        pat.sym_of_field.setdefault(inv[0], c)
        return c
    if kind == "?:":
        arms = [node[2], node[3]]
        tr = _truthy(ctx, node[1])
        alts: List[Tuple[str, int, int]] = []
        dynamic: Optional[Conv] = None
        for n, arm in enumerate(arms):
            c = ctx.const(arm)
            if isinstance(c, str):
                if tr is not None:
                    bits = tr[1] if n == 0 else tr[2]
                    alts.append((c, pat.field_slot(tr[0]), bits))
                else:
                    alts.append((c, -1, 0))
            else:
                if dynamic is not None:
                    return None
                dynamic = _string_conv(ctx, arm, label, spec)
                if dynamic is None or dynamic.kind == "choice":
                    return None
        if tr is None and dynamic is None:
            # the condition cannot be inverted: keep the chosen text under the label
            alts.sort(key=lambda a: -len(a[0]))
            return Conv("choice", label, spec, alts=tuple(alts), text_slot=-2)
        if tr is None and dynamic is not None:
            return None
        alts.sort(key=lambda a: -len(a[0]))
        return Conv("choice", label, spec, alts=tuple(alts), dynamic=dynamic)
    return None


def _label_slot(pat: PayloadPattern, label: str, kind: int, signed: bool = True) -> int:
    """A slot for a value kept under its label (``page``, ``page_2`` if taken)."""
    name = label
    n = 2
    while name in pat.slot_index:
        name = f"{label}_{n}"
        n += 1
    return pat._slot(name, kind, 8, signed, is_field=False)


def _compile(pat: PayloadPattern, decl: Any, labels_only: bool = False) -> None:
    try:
        fmt, args = _Parser(decl.print_fmt).parse_print_fmt()
    except PrintFmtError as e:
        raise _Unsupported(f"cannot parse the print fmt: {e}") from None
    ctx = _Ctx(pat, decl)
    pieces: List[Any] = []
    lit: List[str] = []
    argi = 0
    prev_label: Optional[str] = None
    nconv = 0
    pos = 0
    deferred: List[Tuple[Conv, Any]] = []     # non-invertible convs: slots assigned last

    def take():
        nonlocal argi
        if argi >= len(args):
            raise _Unsupported("the format has more conversions than arguments")
        a = args[argi]
        argi += 1
        return a

    while pos < len(fmt):
        j = fmt.find("%", pos)
        if j < 0:
            lit.append(fmt[pos:])
            break
        lit.append(fmt[pos:j])
        m = _CONV_RE.match(fmt, j)
        if m is None:
            raise _Unsupported(f"bad conversion at {fmt[j:j + 6]!r}")
        pos = m.end()
        conv, flags, width, prec = m.group("conv"), m.group("flags"), m.group("width"), m.group("prec")
        if conv == "%":
            lit.append("%")
            continue
        if width == "*":
            take()
        if prec == "*":
            take()
        spec = m.group(0)
        arg = take()
        literal = "".join(lit)
        if conv == "s":
            c = ctx.const(arg)
            if isinstance(c, str):                      # a constant string is literal text
                lit.append(c)
                continue
        if conv == "p":
            ext = re.match(r"[A-Za-z0-9]*", fmt[pos:]).group(0)
            pos += len(ext)
            spec += ext
        label = _label_of(literal, prev_label, nconv)
        prev_label = label
        nconv += 1
        lit = []
        if literal:
            pieces.append(literal)
        prefix = _prefix_of(literal) if literal else ""
        c: Optional[Conv]
        if conv in "diuxXoc":
            base = 16 if conv in "xX" else 8 if conv == "o" else 10
            signed = conv in "di"
            inv = _invert(ctx, arg)
            kind = "char" if conv == "c" else "num"
            if inv is not None:
                c = Conv(kind, label, spec, slot=pat.field_slot(inv[0]), base=base, signed=signed,
                         prefix0x="#" in flags, xops=inv[1])
                if base == 16 and not inv[1]:
                    pat.hex_fields.add(inv[0])
            else:
                c = Conv(kind, label, spec, base=base, signed=signed, prefix0x="#" in flags)
                deferred.append((c, SLOT_INT))
        elif conv == "p":
            kind0 = spec[2:3]
            if kind0 in ("S", "s", "B", "F", "f", "R"):
                c = Conv("str", label, spec)
                deferred.append((c, SLOT_STR))
            elif kind0 == "x":                          # %px: raw, invertible
                inv = _invert(ctx, arg)
                if inv is not None:
                    c = Conv("ptr", label, spec, slot=pat.field_slot(inv[0]), xops=inv[1])
                else:
                    c = Conv("ptr", label, spec)
                    deferred.append((c, SLOT_INT))
            elif kind0 in ("", "K"):
                c = Conv("ptr", label, spec)            # hashed: kept under the label
                deferred.append((c, SLOT_INT))
            else:
                raise _Unsupported(f"pointer extension {spec!r} is not supported")
        elif conv == "s":
            c = _string_conv(ctx, arg, label, spec)
            if c is None:
                c = Conv("str", label, spec)
                deferred.append((c, SLOT_STR))
            elif c.kind == "choice" and c.text_slot == -2:
                deferred.append((c, SLOT_STR))
        else:
            raise _Unsupported(f"conversion {spec!r} is not supported")
        c.prefix = prefix
        pieces.append(c)
        pat.labels.setdefault(label, []).append(len(pieces) - 1)
    if lit and "".join(lit):
        pieces.append("".join(lit))
    if argi != len(args):
        raise _Unsupported(f"{len(args) - argi} argument(s) left over after the format")
    for c, kind in deferred:        # labels of values no field is recovered from
        signed = c.signed if c.kind == "num" else False
        c.slot = _label_slot(pat, c.label, kind, signed)
        if c.kind == "choice":
            c.text_slot = c.slot
            c.slot = -1
    pat.pieces = pieces
    if labels_only:
        return
    if len(pat.slots) > 64:
        raise _Unsupported("more than 64 values in one payload")
    # a value whose end is found by searching for the next literal needs one
    for i, p in enumerate(pieces):
        if isinstance(p, str):
            continue
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        delimited = p.kind in ("str", "sym", "flags") or (p.kind == "choice"
                                                           and p.dynamic is not None)
        if delimited and nxt is not None and not isinstance(nxt, str):
            raise _Unsupported(f"{p.spec} (label {p.label}) is followed by another conversion")
        if p.kind in ("num", "ptr") and isinstance(nxt, Conv) and nxt.kind in ("num", "ptr"):
            raise _Unsupported(f"{p.spec} is followed by another number")
