"""Compile an event's exported ``print fmt`` once into a fast Python formatter.

The kernel prints an event's payload by running its TP_printk; a tool that only has the format
file (trace-cmd, perf, us) evaluates the exported ``print fmt`` instead: a C format string plus C
argument expressions over ``REC->field`` (tracepoints.md 2.2-2.3, FORMAT-NOTES 9).  This module
parses that text ONCE, type-checks the expressions with C's rules (integer promotions, usual
arithmetic conversions, pointer arithmetic on ``struct page *``), folds everything that does not
depend on the record (the huge gfp flag tables become plain integers), and generates a Python
function that formats one record with a single ``%`` operation.  Formatting a million records
never re-parses anything.

Semantics follow the kernel, not glibc:

* ``%p`` hashes the pointer (lib/vsprintf.c ``ptr_to_id``): NULL and ERR_PTR values print raw as
  16 hex digits, anything else as ``"00000000"`` + 8 hex digits of the 32-bit keyed siphash
  (:func:`memsim.hashptr.hash_pointer`, same key as kmem:rss_stat's mm_id).  ``%px`` prints raw.
* ``%pS``/``%pB`` print ``name+0xoff/0xsize`` via :mod:`memsim.tracing.kallsyms` (``0x<addr>``
  when no symbol holds the address), ``%ps`` just the name.
* ``__print_symbolic``/``__print_flags`` are ``trace_print_symbols_seq``/``trace_print_flags_seq``
  (kernel/trace/trace_output.c): first match wins, unmatched values print as ``0x%lx``, flags are
  consumed in table order and leftover bits are appended as ``0x%lx``; a ``{ 0, NULL }`` entry
  ends a table.
* ``%#x`` of 0 prints ``0x0`` (the kernel's ``number()``), ``%d`` of an ``unsigned int`` is
  reinterpreted as ``int``, ``%lu`` of a ``long`` as ``unsigned long``, and so on.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from memsim.hashptr import hash_pointer

M64 = (1 << 64) - 1
VMEMMAP_BASE = 0xFFFFEA0000000000       # x86-64 vmemmap_base without KASLR
SIZEOF_STRUCT_PAGE = 64
MAX_ERRNO = 4095


class PrintFmtError(ValueError):
    """A print fmt this compiler cannot evaluate (message says where and why)."""


# ---------------------------------------------------------------------------------------------
# C types
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CType:
    """The C type of an expression: ``kind`` is "int", "bool", "ptr" or "str"."""

    kind: str
    bits: int = 32
    signed: bool = True
    pointee: int = 1          # sizeof(*p) for pointer arithmetic

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


INT = CType("int", 32, True)
UINT = CType("int", 32, False)
LONG = CType("int", 64, True)
ULONG = CType("int", 64, False)
BOOL = CType("bool", 8, False)
STR = CType("str", 0, False)
VOIDP = CType("ptr", 64, False, 1)

# typedefs seen in mm trace events: name -> (bits, signed)
_TYPEDEFS: Dict[str, Tuple[int, bool]] = {
    "gfp_t": (32, False), "size_t": (64, False), "ssize_t": (64, True), "pid_t": (32, True),
    "dev_t": (32, False), "ino_t": (64, False), "loff_t": (64, True), "pgoff_t": (64, False),
    "sector_t": (64, False), "phys_addr_t": (64, False), "dma_addr_t": (64, False),
    "isolate_mode_t": (32, False), "uintptr_t": (64, False), "vm_flags_t": (64, False),
    "u8": (8, False), "u16": (16, False), "u32": (32, False), "u64": (64, False),
    "s8": (8, True), "s16": (16, True), "s32": (32, True), "s64": (64, True),
    "__u8": (8, False), "__u16": (16, False), "__u32": (32, False), "__u64": (64, False),
    "__s8": (8, True), "__s16": (16, True), "__s32": (32, True), "__s64": (64, True),
    "uint8_t": (8, False), "uint16_t": (16, False), "uint32_t": (32, False),
    "uint64_t": (64, False), "int8_t": (8, True), "int16_t": (16, True), "int32_t": (32, True),
    "int64_t": (64, True), "atomic_t": (32, True), "atomic_long_t": (64, True),
}
_STRUCT_SIZES = {"page": SIZEOF_STRUCT_PAGE}
_QUALIFIERS = {"const", "volatile", "__force", "__user", "__iomem", "__rcu", "__bitwise"}
_BASE_WORDS = {"unsigned", "signed", "long", "int", "short", "char", "void", "bool", "_Bool",
               "struct", "enum", "union"}
_TYPE_START = _BASE_WORDS | _QUALIFIERS | set(_TYPEDEFS)


def ctype_from_words(words: Sequence[str], stars: int = 0) -> CType:
    """The CType of a C type name given as words (``["unsigned", "long"]``) and ``*`` count."""
    w = [x for x in words if x not in _QUALIFIERS]
    if stars:
        if stars > 1:
            return CType("ptr", 64, False, 8)
        if w[:1] == ["struct"] or w[:1] == ["union"]:
            return CType("ptr", 64, False, _STRUCT_SIZES.get(w[1] if len(w) > 1 else "", 1))
        if not w or w == ["void"] or "char" in w:
            return VOIDP
        base = ctype_from_words(w)
        return CType("ptr", 64, False, max(1, base.bits // 8))
    if not w:
        raise PrintFmtError("empty type name in a cast")
    if w[0] == "enum":
        return INT
    if w[0] in ("struct", "union") or w == ["void"]:
        raise PrintFmtError(f"cannot use type {' '.join(words)!r} as a value")
    if len(w) == 1 and w[0] in _TYPEDEFS:
        bits, signed = _TYPEDEFS[w[0]]
        return CType("int", bits, signed)
    if w[0] in ("bool", "_Bool"):
        return BOOL
    signed = "unsigned" not in w
    if "char" in w:
        return CType("int", 8, signed)
    if "short" in w:
        return CType("int", 16, signed)
    if "long" in w:
        return CType("int", 64, signed)
    return CType("int", 32, signed)


def field_ctype(ctype: str, size: int, signed: bool) -> CType:
    """The CType of a record field declared as ``ctype`` (format-file spelling)."""
    if ctype.startswith("__data_loc") or ctype.startswith("__rel_loc"):
        return STR
    if "[" in ctype:
        if ctype.replace("unsigned ", "").replace("signed ", "").startswith("char"):
            return STR
        raise PrintFmtError(f"array field type {ctype!r} is not supported in print fmt")
    if "*" in ctype:
        words = ctype.replace("*", " ").split()
        return ctype_from_words(words, ctype.count("*"))
    if ctype.split()[-1] in ("bool", "_Bool"):
        return BOOL
    return CType("int", size * 8, bool(signed))


def _promote(t: CType) -> CType:
    if t.kind == "bool" or (t.kind == "int" and t.bits < 32):
        return INT
    if t.kind == "ptr":
        return ULONG
    return t


def _usual(a: CType, b: CType) -> CType:
    """C's usual arithmetic conversions (LP64)."""
    a, b = _promote(a), _promote(b)
    if a == b:
        return a
    if a.signed == b.signed:
        return a if a.bits >= b.bits else b
    uns, sig = (a, b) if not a.signed else (b, a)
    return uns if uns.bits >= sig.bits else sig


def _fits(a: CType, b: CType) -> bool:
    """Every value of type ``a`` is representable in ``b``."""
    if b.kind == "bool":
        return a.kind == "bool"
    if a.kind == "bool":
        return b.bits > 1
    if not a.signed:
        return (not b.signed and a.bits <= b.bits) or (b.signed and a.bits < b.bits)
    return b.signed and a.bits <= b.bits


def _wrap(v: int, t: CType) -> int:
    if t.kind == "bool":
        return 1 if v else 0
    v &= t.mask
    if t.signed and v >> (t.bits - 1):
        v -= 1 << t.bits
    return v


# ---------------------------------------------------------------------------------------------
# Lexer and parser (C expression subset of exported print fmts)
# ---------------------------------------------------------------------------------------------
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<chr>'(?:[^'\\]|\\.)+')
  | (?P<num>(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!?:(){}\[\],<>.])
""", re.X | re.S)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


def _unescape(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            if m is None:
                raise PrintFmtError("\\x escape without hex digits")
            out.append(chr(int(m.group(0), 16) & 0xFF))
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        else:
            out.append(_ESCAPES.get(n, n))
            i += 2
    return "".join(out)


def _tokenize(text: str) -> List[Tuple[str, str]]:
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise PrintFmtError(f"unexpected character {text[pos]!r} at offset {pos}")
        kind = m.lastgroup
        if kind != "ws":
            toks.append((kind, m.group(0)))
        pos = m.end()
    toks.append(("eof", ""))
    return toks


def _int_literal(text: str) -> Tuple[int, CType]:
    """Value and C type of an integer constant (C11 6.4.4.1, LP64)."""
    m = re.match(r"(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)$", text)
    digits, suffix = m.group(1), m.group(2).lower()
    if digits[:2].lower() == "0x":
        v, decimal = int(digits, 16), False
    elif len(digits) > 1 and digits[0] == "0":
        v, decimal = int(digits, 8), False
    else:
        v, decimal = int(digits), True
    uns, nl = "u" in suffix, suffix.count("l")
    if uns:
        t = ULONG if nl or v > 0xFFFFFFFF else UINT
    elif nl:
        t = LONG if v < 1 << 63 else ULONG
    elif decimal:
        t = INT if v < 1 << 31 else LONG if v < 1 << 63 else ULONG
    else:
        t = (INT if v < 1 << 31 else UINT if v < 1 << 32 else LONG if v < 1 << 63 else ULONG)
    return v, t


_BINARY_PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7,
                "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}


class _Parser:
    """Recursive descent over the tokens of ``"fmt", arg, arg...``; builds tuple ASTs."""

    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self, k: int = 0) -> Tuple[str, str]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tuple[str, str]:
        t = self.toks[self.i]
        if t[0] != "eof":
            self.i += 1
        return t

    def expect(self, text: str) -> None:
        kind, t = self.next()
        if t != text:
            raise PrintFmtError(f"expected {text!r}, found {t or 'end of text'!r}")

    def parse_print_fmt(self) -> Tuple[str, List[Any]]:
        if self.peek()[0] != "str":
            raise PrintFmtError("print fmt must start with a string literal")
        fmt = self._strings()
        args = []
        while self.peek()[1] == ",":
            self.next()
            args.append(self.ternary())
        if self.peek()[0] != "eof":
            raise PrintFmtError(f"unexpected {self.peek()[1]!r} after argument {len(args)}")
        return fmt, args

    def _strings(self) -> str:
        parts = []
        while self.peek()[0] == "str":
            parts.append(_unescape(self.next()[1][1:-1]))
        return "".join(parts)

    def ternary(self):
        cond = self.binary(1)
        if self.peek()[1] == "?":
            self.next()
            a = self.ternary()
            self.expect(":")
            b = self.ternary()
            return ("?:", cond, a, b)
        return cond

    def binary(self, min_prec: int):
        left = self.unary()
        while True:
            op = self.peek()
            prec = _BINARY_PREC.get(op[1]) if op[0] == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.next()
            right = self.binary(prec + 1)
            left = ("bin", op[1], left, right)

    def _is_cast(self) -> bool:
        if self.peek()[1] != "(":
            return False
        kind, word = self.peek(1)
        return kind == "id" and word in _TYPE_START

    def unary(self):
        kind, t = self.peek()
        if kind == "op" and t in ("!", "~", "-", "+"):
            self.next()
            return ("un", t, self.unary())
        if self._is_cast():
            self.next()
            words, stars = [], 0
            while self.peek()[1] != ")":
                k, w = self.next()
                if k == "eof":
                    raise PrintFmtError("unterminated cast")
                if w == "*":
                    stars += 1
                elif k == "id":
                    words.append(w)
                else:
                    raise PrintFmtError(f"unexpected {w!r} in a cast")
            self.next()
            # the type's words ride along for evaluators that need its spelling (libtraceevent)
            return ("cast", ctype_from_words(words, stars), self.unary(),
                    " ".join(words) + " *" * stars)
        return self.primary()

    def primary(self):
        kind, t = self.next()
        if kind == "num":
            v, ct = _int_literal(t)
            return ("num", v, ct)
        if kind == "chr":
            return ("num", ord(_unescape(t[1:-1])), INT)
        if kind == "str":
            self.i -= 1
            return ("str", self._strings())
        if kind == "id":
            if t == "REC" and self.peek()[1] == "->":
                self.next()
                k, name = self.next()
                if k != "id":
                    raise PrintFmtError(f"expected a field name after REC->, found {name!r}")
                return ("field", name)
            if self.peek()[1] == "(":
                self.next()
                args = []
                if self.peek()[1] != ")":
                    while True:
                        args.append(self.init_or_expr())
                        if self.peek()[1] != ",":
                            break
                        self.next()
                self.expect(")")
                return ("call", t, args)
            return ("id", t)
        if t == "(":
            e = self.ternary()
            self.expect(")")
            return e
        if t == "{":
            raise PrintFmtError("a { ... } list is only allowed as an argument of a helper")
        raise PrintFmtError(f"unexpected {t or 'end of text'!r} in an expression")

    def init_or_expr(self):
        if self.peek()[1] != "{":
            return self.ternary()
        self.next()
        items = []
        while self.peek()[1] != "}":
            items.append(self.init_or_expr())
            if self.peek()[1] == ",":
                self.next()
            elif self.peek()[1] != "}":
                raise PrintFmtError(f"expected ',' or '}}' in a {{ ... }} list, "
                                    f"found {self.peek()[1] or 'end of text'!r}")
        self.next()
        return ("init", items)


# ---------------------------------------------------------------------------------------------
# Code generation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _E:
    code: str
    t: CType
    const: Any = None          # folded value, or None when it depends on the record

    @property
    def is_const(self) -> bool:
        return self.const is not None


def _const(v: Any, t: CType) -> _E:
    if t.kind == "str":
        return _E(repr(v), t, v)
    v = _wrap(v, t) if t.kind != "ptr" else v & M64
    return _E(repr(v), t, v)


def print_symbolic(value: int, table: Sequence[Tuple[int, Optional[str]]]) -> str:
    """Reference ``trace_print_symbols_seq`` (value as unsigned long)."""
    value &= M64
    for v, name in table:
        if name is None:
            break
        if v & M64 == value:
            return name
    return "0x%x" % value


def print_flags(value: int, delim: str, table: Sequence[Tuple[int, Optional[str]]]) -> str:
    """Reference ``trace_print_flags_seq`` (value as unsigned long)."""
    flags = value & M64
    out = []
    for mask, name in table:
        if name is None or not flags:
            break
        mask &= M64
        if flags & mask != mask:
            continue
        flags &= ~mask
        out.append(name)
    if flags:
        out.append("0x%x" % flags)
    return (delim or "").join(out)


_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
        "<=": operator.le, ">=": operator.ge}

_CONV_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?"
                      r"(?P<len>hh|h|ll|l|L|q|z|Z|j|t)?(?P<conv>[diouxXcspn%])")
_SIGNED_BY_LEN = {"": INT, "h": CType("int", 16, True), "hh": CType("int", 8, True)}
_UNSIGNED_BY_LEN = {"": UINT, "h": CType("int", 16, False), "hh": CType("int", 8, False)}


class _Compiler:
    def __init__(self, fields: Mapping[str, CType], symbols: Mapping[str, Tuple[int, CType]],
                 where: str):
        self.fields = fields
        self.symbols = symbols
        self.where = where
        self.used: Dict[str, str] = {}          # field name -> local variable
        self.ns: Dict[str, Any] = {}
        self._n = 0

    def err(self, msg: str) -> PrintFmtError:
        return PrintFmtError(f"{self.where}: {msg}")

    def helper(self, prefix: str, obj: Any) -> str:
        name = f"_{prefix}{self._n}"
        self._n += 1
        self.ns[name] = obj
        return name

    # -- conversions -----------------------------------------------------------------------
    def convert(self, e: _E, t: CType) -> _E:
        if t.kind == "str" or e.t.kind == "str":
            if t.kind == e.t.kind:
                return e
            raise self.err(f"cannot use {'a string' if e.t.kind == 'str' else 'a number'} "
                           f"where {'a string' if t.kind == 'str' else 'a number'} is needed")
        if e.is_const:
            return _const(e.const, t)
        if t.kind == "bool":
            return _E(f"(1 if {e.code} else 0)", t)
        src = ULONG if e.t.kind == "ptr" else e.t
        dst = ULONG if t.kind == "ptr" else t
        if _fits(src, dst):
            return _E(e.code, t)
        if not dst.signed:
            return _E(f"({e.code} & {dst.mask:#x})", t)
        half = 1 << (dst.bits - 1)
        return _E(f"((({e.code}) + {half:#x} & {dst.mask:#x}) - {half:#x})", t)

    def wrap(self, code: str, t: CType) -> _E:
        if not t.signed:
            return _E(f"(({code}) & {t.mask:#x})", t)
        half = 1 << (t.bits - 1)
        return _E(f"((({code}) + {half:#x} & {t.mask:#x}) - {half:#x})", t)

    # -- expressions -----------------------------------------------------------------------
    def gen(self, node) -> _E:
        kind = node[0]
        if kind == "num":
            return _const(node[1], node[2])
        if kind == "str":
            return _const(node[1], STR)
        if kind == "field":
            name = node[1]
            if name not in self.fields:
                raise self.err(f"print fmt uses REC->{name}, which is not a field of the event")
            var = self.used.setdefault(name, f"f_{name}")
            return _E(var, self.fields[name])
        if kind == "id":
            if node[1] in self.symbols:
                v, t = self.symbols[node[1]]
                return _const(v, t)
            raise self.err(f"unknown identifier {node[1]!r} (an enum TRACE_DEFINE_ENUM did not "
                           f"rewrite?); pass its value in symbols=")
        if kind == "cast":
            e = self.gen(node[2])
            return self.convert(e, node[1])
        if kind == "un":
            return self.gen_unary(node[1], self.gen(node[2]))
        if kind == "bin":
            return self.gen_binary(node[1], node[2], node[3])
        if kind == "?:":
            return self.gen_ternary(node)
        if kind == "call":
            return self.gen_call(node[1], node[2])
        if kind == "init":
            raise self.err("a { ... } list is only allowed inside __print_flags/__print_symbolic")
        raise self.err(f"cannot evaluate {kind}")

    def gen_unary(self, op: str, e: _E) -> _E:
        if e.t.kind == "str":
            if op == "!":
                return _const(0, INT) if e.is_const else _E(f"(0 if {e.code} else 1)", INT)
            raise self.err(f"cannot apply {op} to a string")
        if op == "!":
            if e.is_const:
                return _const(0 if e.const else 1, INT)
            return _E(f"(0 if {e.code} else 1)", INT)
        t = _promote(e.t)
        x = self.convert(e, t)
        if x.is_const:
            v = {"~": ~x.const, "-": -x.const, "+": x.const}[op]
            return _const(v, t)
        if op == "+":
            return x
        if op == "~":
            return _E(f"(~{x.code})", t) if t.signed else _E(f"(~{x.code} & {t.mask:#x})", t)
        return self.wrap(f"-{x.code}", t)

    def gen_binary(self, op: str, ln, rn) -> _E:
        l, r = self.gen(ln), self.gen(rn)
        if op in ("&&", "||"):
            if l.is_const and r.is_const:
                lv, rv = bool(l.const), bool(r.const)
                v = (lv and rv) if op == "&&" else (lv or rv)
                return _const(int(v), INT)
            if l.is_const:          # C short-circuit on a constant left side
                if op == "&&":
                    return _E(f"(1 if {r.code} else 0)", INT) if l.const else _const(0, INT)
                return _const(1, INT) if l.const else _E(f"(1 if {r.code} else 0)", INT)
            py = "and" if op == "&&" else "or"
            return _E(f"(1 if ({l.code} {py} {r.code}) else 0)", INT)
        if l.t.kind == "str" or r.t.kind == "str":
            raise self.err(f"cannot apply {op} to a string")
        if op in ("==", "!=", "<", ">", "<=", ">="):
            if l.t.kind == "ptr" or r.t.kind == "ptr":
                t = ULONG
            else:
                t = _usual(l.t, r.t)
            a, b = self.convert(l, t), self.convert(r, t)
            if a.is_const and b.is_const:
                return _const(int(_CMP[op](a.const, b.const)), INT)
            return _E(f"({a.code} {op} {b.code})", INT)
        if op in ("+", "-") and (l.t.kind == "ptr" or r.t.kind == "ptr"):
            return self.gen_pointer_arith(op, l, r)
        if op in ("<<", ">>"):
            t = _promote(l.t)
            a, b = self.convert(l, t), self.convert(r, _promote(r.t))
            if a.is_const and b.is_const:
                return _const(a.const << b.const if op == "<<" else a.const >> b.const, t)
            if op == ">>":
                return _E(f"({a.code} >> {b.code})", t)
            return self.wrap(f"{a.code} << {b.code}", t)
        t = _usual(l.t, r.t)
        a, b = self.convert(l, t), self.convert(r, t)
        if op in ("/", "%"):
            if a.is_const and b.is_const:
                if b.const == 0:
                    raise self.err("division by zero in print fmt")
                q = abs(a.const) // abs(b.const) * (1 if (a.const >= 0) == (b.const >= 0) else -1)
                return _const(q if op == "/" else a.const - q * b.const, t)
            name = "_cdiv" if op == "/" else "_cmod"
            self.ns[name] = _cdiv if op == "/" else _cmod
            return self.wrap(f"{name}({a.code}, {b.code})", t)
        if a.is_const and b.is_const:
            v = {"+": a.const + b.const, "-": a.const - b.const, "*": a.const * b.const,
                 "&": a.const & b.const, "|": a.const | b.const, "^": a.const ^ b.const}[op]
            return _const(v, t)
        code = f"{a.code} {op} {b.code}"
        if op in ("&", "|", "^"):
            return _E(f"({code})", t)
        return self.wrap(code, t)

    def gen_pointer_arith(self, op: str, l: _E, r: _E) -> _E:
        if l.t.kind == "ptr" and r.t.kind == "ptr":
            if op != "-":
                raise self.err("cannot add two pointers")
            size = l.t.pointee
            a, b = self.convert(l, ULONG), self.convert(r, ULONG)
            if a.is_const and b.is_const:
                return _const(_cdiv(_wrap(a.const - b.const, LONG), size), LONG)
            self.ns["_cdiv"] = _cdiv
            return _E(f"_cdiv({self.wrap(f'{a.code} - {b.code}', LONG).code}, {size})", LONG)
        p, n = (l, r) if l.t.kind == "ptr" else (r, l)
        if op == "-" and p is r:
            raise self.err("cannot subtract a pointer from an integer")
        size = p.t.pointee
        pv = self.convert(p, ULONG)
        nv = self.convert(n, LONG if _promote(n.t).signed else ULONG)
        if pv.is_const and nv.is_const:
            return _const(pv.const + (-1 if op == "-" else 1) * nv.const * size, p.t)
        scaled = nv.code if size == 1 else f"{nv.code} * {size}"
        return _E(f"(({pv.code} {op} {scaled}) & {M64:#x})", p.t)

    def gen_ternary(self, node) -> _E:
        c = self.gen(node[1])
        a, b = self.gen(node[2]), self.gen(node[3])
        if a.t.kind == "str" or b.t.kind == "str":
            if a.t.kind != b.t.kind:
                raise self.err("?: mixes a string and a number")
            t = STR
        elif a.t.kind == "ptr" or b.t.kind == "ptr":
            t = a.t if a.t.kind == "ptr" else b.t
        else:
            t = _usual(a.t, b.t)
        a, b = self.convert(a, t), self.convert(b, t)
        if c.is_const:
            return a if c.const else b
        return _E(f"({a.code} if {c.code} else {b.code})", t)

    def _table(self, items, what: str) -> List[Tuple[int, Optional[str]]]:
        table = []
        for it in items:
            if it[0] != "init" or len(it[1]) != 2:
                raise self.err(f"{what}: expected {{ value, \"name\" }} entries")
            v = self.gen(it[1][0])
            nm = self.gen(it[1][1])
            if not v.is_const:
                raise self.err(f"{what}: table values must be constants")
            if nm.t.kind == "ptr" and nm.const == 0:
                table.append((v.const & M64, None))
                break                                   # { 0, NULL } ends the table
            if nm.t.kind != "str" or not nm.is_const:
                raise self.err(f"{what}: table names must be string literals")
            table.append((v.const & M64, nm.const))
        return table

    def gen_call(self, name: str, args) -> _E:
        if name in ("__print_symbolic", "__print_symbolic_u64"):
            if not args:
                raise self.err(f"{name}() needs a value")
            v = self.convert(self.gen(args[0]), ULONG)
            table = self._table(args[1:], name)
            lookup: Dict[int, str] = {}
            for val, nm in table:
                if nm is not None:
                    lookup.setdefault(val, nm)
            if v.is_const:
                return _const(print_symbolic(v.const, table), STR)
            get = lookup.get

            def sym(value, _get=get):
                r = _get(value)
                return r if r is not None else "0x%x" % value
            return _E(f"{self.helper('sym', sym)}({v.code})", STR)
        if name in ("__print_flags", "__print_flags_u64"):
            if len(args) < 2:
                raise self.err(f"{name}() needs a value and a delimiter")
            v = self.convert(self.gen(args[0]), ULONG)
            d = self.gen(args[1])
            if d.t.kind != "str" or not d.is_const:
                raise self.err(f"{name}(): the delimiter must be a string literal")
            table = self._table(args[2:], name)
            if v.is_const:
                return _const(print_flags(v.const, d.const, table), STR)
            return _E(f"{self.helper('flags', _flags_fn(d.const, table))}({v.code})", STR)
        if name == "__get_str":
            if len(args) != 1 or args[0][0] not in ("id", "field"):
                raise self.err("__get_str() takes a field name")
            fname = args[0][1]
            if self.fields.get(fname) != STR:
                raise self.err(f"__get_str({fname}): no string field {fname!r}")
            return self.gen(("field", fname))
        if name == "__builtin_expect":
            return self.gen(args[0])
        raise self.err(f"helper {name}() is not supported by memsim's print fmt compiler")


_LTE_MASKS = {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF, "s8": 0xFF, "s16": 0xFFFF,
              "s32": 0xFFFFFFFF, "char": 0xFF, "short": 0xFFFF, "int": 0xFFFFFFFF}


class _LteCompiler(_Compiler):
    """Code generation with libtraceevent's semantics (event-parse.c ``eval_num_arg``,
    ``eval_type_str``, ``print_str_arg``): every number is an unsigned 64-bit value."""

    def __init__(self, fields: Mapping[str, CType], symbols: Mapping[str, Tuple[int, CType]],
                 where: str, kallsyms: Any):
        super().__init__({n: (STR if t.kind == "str" else ULONG) for n, t in fields.items()},
                         symbols, where)
        self.src_fields = dict(fields)
        self.kallsyms = kallsyms
        self.str_spec: Optional[str] = None     # "%-8s" while generating a %s argument

    @staticmethod
    def _u(v: int) -> _E:
        return _E(repr(v & M64), ULONG, v & M64)

    def _leaf(self, e: _E) -> _E:
        """print_str_to_seq: a string piece printed with the %s conversion's flags/width."""
        spec = self.str_spec
        if spec is None or e.t.kind != "str":
            return e
        if e.is_const:
            return _const(spec % e.const, STR)
        return _E(f"({spec!r} % {e.code})", STR)

    def _gen(self, node) -> _E:
        kind = node[0]
        if kind == "num":
            return self._u(node[1])
        if kind == "str":
            return self._leaf(_const(node[1], STR))
        if kind == "field":
            name = node[1]
            if name not in self.fields:
                raise self.err(f"print fmt uses REC->{name}, which is not a field of the event")
            var = self.used.setdefault(name, f"f_{name}")
            t = self.src_fields[name]
            if t.kind == "str":
                return self._leaf(_E(var, STR))
            if t.kind == "int" and t.signed:        # tep_read_number: unsigned of its size
                return _E(f"({var} & {t.mask:#x})", ULONG)
            return _E(var, ULONG)
        if kind == "id":
            if node[1] in self.symbols:
                v, _t = self.symbols[node[1]]
                return self._u(int(v))
            addr = None                             # test_for_symbol: kallsyms, else 0
            if self.kallsyms is not None and hasattr(self.kallsyms, "symbol_addr"):
                try:
                    addr = self.kallsyms.symbol_addr(node[1])
                except (KeyError, ValueError):
                    addr = None
            return self._u(addr or 0)
        if kind == "cast":
            e = self.gen(node[2])
            if e.t.kind == "str":
                return e
            spelling = node[3] if len(node) > 3 else ""
            if spelling.endswith("*") or spelling.startswith("struct"):
                return e
            if spelling.startswith("unsigned "):
                spelling = spelling[len("unsigned "):]
            mask = _LTE_MASKS.get(spelling)
            if mask is None:
                return e
            if e.is_const:
                return self._u(e.const & mask)
            return _E(f"({e.code} & {mask:#x})", ULONG)
        return super().gen(node)

    def gen_unary(self, op: str, e: _E) -> _E:
        if e.t.kind == "str":
            return super().gen_unary(op, e)
        if e.is_const:
            return self._u({"!": 0 if e.const else 1, "~": ~e.const, "-": -e.const,
                            "+": e.const}[op])
        if op == "!":
            return _E(f"(0 if {e.code} else 1)", ULONG)
        if op == "~":
            return _E(f"(~{e.code} & {M64:#x})", ULONG)
        if op == "-":
            return _E(f"(-{e.code} & {M64:#x})", ULONG)
        return e

    def gen(self, node) -> _E:
        if node[0] == "binr":                       # an operator already rotated: no rotation
            return self._binary(node[1], self.gen(node[2]), self.gen(node[3]))
        return self._gen(node)

    def gen_binary(self, op: str, ln, rn) -> _E:
        # process_op: a right operand that is an operator of lower precedence (it can only be
        # one in parentheses) is rotated above this one: a < (b ? c : d) is (a < b) ? c : d
        if rn[0] == "?:":
            return self.gen(("?:", ("binr", op, ln, rn[1]), rn[2], rn[3]))
        if rn[0] == "bin" and _BINARY_PREC[rn[1]] < _BINARY_PREC[op]:
            return self.gen(("bin", rn[1], ("binr", op, ln, rn[2]), rn[3]))
        return self._binary(op, self.gen(ln), self.gen(rn))

    def _binary(self, op: str, l: _E, r: _E) -> _E:
        if l.t.kind == "str" or r.t.kind == "str":
            raise self.err(f"cannot apply {op} to a string")
        if l.is_const and r.is_const:
            a, b = l.const, r.const
            if op in ("/", "%"):
                v = (a // b if op == "/" else a % b) if b else 0
            elif op in ("&&", "||"):
                v = int((a and b) if op == "&&" else (a or b))
            elif op in _CMP:
                v = int(_CMP[op](a, b))
            else:
                v = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b,
                     "<<": a << (b & 63), ">>": a >> (b & 63)}[op]
            return self._u(v)
        a, b = l.code, r.code
        if op in ("&&", "||"):
            py = "and" if op == "&&" else "or"
            return _E(f"(1 if ({a} {py} {b}) else 0)", ULONG)
        if op in _CMP:
            return _E(f"(1 if {a} {op} {b} else 0)", ULONG)
        if op in ("/", "%"):
            self.ns["_udiv"] = _udiv if op == "/" else _umod
            name = "_udiv" if op == "/" else "_umod"
            self.ns[name] = _udiv if op == "/" else _umod
            return _E(f"{name}({a}, {b})", ULONG)
        if op in ("&", "|", "^"):
            return _E(f"({a} {op} {b})", ULONG)
        if op == ">>":
            return _E(f"({a} >> ({b} & 63))", ULONG)
        if op == "<<":
            return _E(f"(({a} << ({b} & 63)) & {M64:#x})", ULONG)
        return _E(f"(({a} {op} {b}) & {M64:#x})", ULONG)

    def _fval(self, node) -> int:
        """eval_flag(arg_eval(value)): a number, or -1 for what is not one (an identifier the
        kernel did not rewrite, a negative value), as libtraceevent's ``long long``."""
        while node[0] == "cast":
            node = node[2]
        if node[0] == "num":
            v = node[1]
        elif node[0] == "id":
            return _LTE_FLAG_NAMES.get(node[1], -1)
        else:
            spec, self.str_spec = self.str_spec, None
            try:
                e = self.gen(node)
            finally:
                self.str_spec = spec
            if not e.is_const or e.t.kind == "str":
                raise self.err("table values must be constants")
            v = e.const
        v &= M64
        return -1 if v >> 63 else v

    def _lte_table(self, items, what: str) -> List[Tuple[int, str]]:
        table = []
        for it in items:
            if it[0] != "init" or len(it[1]) != 2:
                raise self.err(f"{what}: expected {{ value, \"name\" }} entries")
            fval = self._fval(it[1][0])
            nm = it[1][1]
            if nm[0] == "str":
                name = nm[1]
            else:                                   # { 0, NULL }: the name is arg_eval's "0"
                spec, self.str_spec = self.str_spec, None
                try:
                    e = self.gen(nm)
                finally:
                    self.str_spec = spec
                if not e.is_const:
                    raise self.err(f"{what}: table names must be constants")
                name = str(e.const if e.t.kind == "str" else _wrap(e.const, LONG))
            table.append((fval, name))
        return table

    def gen_call(self, name: str, args) -> _E:
        if name not in ("__print_symbolic", "__print_symbolic_u64", "__print_flags",
                        "__print_flags_u64"):
            return super().gen_call(name, args)
        flags = name.startswith("__print_flags")
        if len(args) < (2 if flags else 1):
            raise self.err(f"{name}() needs a value{' and a delimiter' if flags else ''}")
        spec, self.str_spec = self.str_spec, None
        try:
            v = self.convert(self.gen(args[0]), ULONG)
            if flags:
                d = self.gen(args[1])
                if d.t.kind != "str" or not d.is_const:
                    raise self.err(f"{name}(): the delimiter must be a string literal")
                table = self._lte_table(args[2:], name)
                fn = _lte_flags_fn(d.const, table, spec)
            else:
                table = self._lte_table(args[1:], name)
                fn = _lte_symbolic_fn(table, spec)
        finally:
            self.str_spec = spec
        if v.is_const:
            return _const(fn(v.const), STR)
        return _E(f"{self.helper('sym', fn)}({v.code})", STR)


# eval_flag's names for values that are not numbers (event-parse.c ``flags[]``)
_LTE_FLAG_NAMES = {"HI_SOFTIRQ": 0, "TIMER_SOFTIRQ": 1, "NET_TX_SOFTIRQ": 2,
                   "NET_RX_SOFTIRQ": 3, "BLOCK_SOFTIRQ": 4, "IRQ_POLL_SOFTIRQ": 5,
                   "TASKLET_SOFTIRQ": 6, "SCHED_SOFTIRQ": 7, "HRTIMER_SOFTIRQ": 8,
                   "RCU_SOFTIRQ": 9, "HRTIMER_NORESTART": 0, "HRTIMER_RESTART": 1}


def _lte_symbolic_fn(table: Sequence[Tuple[int, str]], spec: Optional[str]) -> Callable[[int], str]:
    """print_str_arg TEP_PRINT_SYMBOL: the first entry equal to the value (names printed with
    the %s spec), else ``0x%llx`` (without it)."""
    lookup: Dict[int, str] = {}
    for fval, nm in table:
        lookup.setdefault(fval & M64, spec % nm if spec else nm)

    def sym(value: int, _get=lookup.get) -> str:
        r = _get(value)
        return r if r is not None else "0x%x" % value
    return sym


def _lte_flags_fn(delim: str, table: Sequence[Tuple[int, str]],
                  spec: Optional[str]) -> Callable[[int], str]:
    """print_str_arg TEP_PRINT_FLAGS: entries in order; one whose value is not a number
    (fval < 0) prints when nothing is left; masks that are all set print and are cleared;
    leftover bits print as ``0x%llx``."""
    entries = tuple((fval, spec % nm if spec else nm) for fval, nm in table)
    cache: Dict[int, str] = {}

    def flags(value: int) -> str:
        r = cache.get(value)
        if r is not None:
            return r
        val = value & M64
        out: List[str] = []
        printed = False
        for fval, nm in entries:
            if not val and fval < 0:
                out.append(nm)
                break
            if fval > 0 and val & fval == fval:
                if printed and delim:
                    out.append(delim)
                out.append(nm)
                printed = True
                val &= ~fval
        if val:
            if printed and delim:
                out.append(delim)
            out.append("0x%x" % val)
        r = "".join(out)
        if len(cache) < 4096:
            cache[value] = r
        return r
    return flags


def _udiv(a: int, b: int) -> int:
    return a // b if b else 0


def _umod(a: int, b: int) -> int:
    return a % b if b else 0


def _cdiv(a: int, b: int) -> int:
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _cmod(a: int, b: int) -> int:
    return a - _cdiv(a, b) * b if b else 0


def _flags_fn(delim: str, table: Sequence[Tuple[int, Optional[str]]]) -> Callable[[int], str]:
    """A memoising ``trace_print_flags_seq`` for one table (gfp values repeat a lot)."""
    cache: Dict[int, str] = {}
    entries = []
    for mask, nm in table:
        if nm is None:
            break
        entries.append((mask, nm))
    entries = tuple(entries)

    def flags(value: int) -> str:
        r = cache.get(value)
        if r is None:
            r = print_flags(value, delim, entries)
            if len(cache) < 4096:
                cache[value] = r
        return r
    return flags


# ---------------------------------------------------------------------------------------------
# Formatter
# ---------------------------------------------------------------------------------------------
class Formatter:
    """A compiled print fmt.

    ``payload(values)`` formats a record given as a mapping of field name -> value (strings for
    ``__data_loc`` fields); ``payload_tuple(t)`` formats the tuple a record decodes to, laid out as
    ``layout`` (field names; the fast path of the text renderer).

    ``libtraceevent=True`` evaluates the print fmt the way libtraceevent 1.7 (event-parse.c,
    what ``trace-cmd report`` uses) does instead of the way the kernel's TP_printk would print:

    * every value is an unsigned 64-bit number (``eval_num_arg``): a field is read as an unsigned
      number of its size (``tep_read_number``: a signed ``int`` of -1 is 0xffffffff), operators
      work on u64, a cast to ``char``/``short``/``int`` (or ``u8``..``s32``) only masks the value
      and any other cast (``long``, typedefs, every pointer) leaves it alone (``eval_type_str``),
      so pointer arithmetic is not scaled by the size of the pointee;
    * an identifier that is neither a field nor in ``symbols`` is looked up in ``kallsyms``
      (``test_for_symbol``) and is otherwise 0, so ``vmemmap_base + pfn`` is the pfn;
    * ``%p`` is glibc's (``0x...``, ``(nil)`` for 0); ``%pS``/``%pF`` print ``name+0xoff`` and
      ``%ps``/``%pf`` the name, ``0x...`` when no symbol holds the address (``print_function``);
    * ``__print_flags`` skips table entries whose mask is 0 (``fval > 0``).
    """

    def __init__(self, print_fmt: str, fields: Mapping[str, CType], *,
                 ptr_key: Tuple[int, int] = (0, 0), kallsyms: Any = None, hash_ptr: bool = True,
                 symbols: Optional[Mapping[str, Tuple[int, CType]]] = None,
                 layout: Optional[Sequence[str]] = None, name: str = "print fmt",
                 libtraceevent: bool = False):
        if libtraceevent:
            syms = {"NULL": (0, ULONG)}
        else:
            syms = {"vmemmap_base": (VMEMMAP_BASE, ULONG), "NULL": (0, VOIDP),
                    "true": (1, BOOL), "false": (0, BOOL)}
        if symbols:
            syms.update(symbols)
        self.print_fmt = print_fmt
        self.name = name
        self.libtraceevent = libtraceevent
        comp = _LteCompiler(fields, syms, name, kallsyms) if libtraceevent else \
            _Compiler(fields, syms, name)
        try:
            fmt, args = _Parser(print_fmt).parse_print_fmt()
        except PrintFmtError as e:
            raise PrintFmtError(f"{name}: {e}") from None
        if libtraceevent:
            pyfmt, codes = self._format_string(fmt, args, comp, ptr_key, kallsyms, False,
                                               lte=True)
        else:
            pyfmt, codes = self._format_string(fmt, args, comp, ptr_key, kallsyms, hash_ptr)
        self.fields_used = tuple(comp.used)
        ret = (f"return {pyfmt!r} % ({', '.join(codes)},)" if codes
               else f"return {pyfmt.replace('%%', '%')!r}")
        src = ["def payload(v):"]
        src += [f"    {var} = v[{fname!r}]" for fname, var in comp.used.items()]
        src.append("    " + ret)
        if layout is None:
            layout = list(fields)
        names = [comp.used.get(f, "_") for f in layout]
        src.append("def payload_tuple(t):")
        if any(n != "_" for n in names):
            src.append(f"    ({', '.join(names)},) = t")
        src.append("    " + ret)
        # payload_columns(n, *columns of fields_used): the payloads of n rows, a list; each
        # distinct combination of values is formatted once (values repeat: a memcg item, a
        # counter's few sizes)
        used = list(comp.used.values())
        src.append(f"def payload_columns(n{''.join(', c_' + v for v in used)}):")
        expr = ret[len("return "):]
        if not used:
            src.append(f"    return [{expr}] * n")
        else:
            if len(used) == 1:
                src.append(f"    keys = c_{used[0]}")
                target = used[0]
            else:
                src.append(f"    keys = list(zip({', '.join('c_' + v for v in used)}))")
                target = f"({', '.join(used)},)"
            src.append(f"    done = {{k: {expr} for k in dict.fromkeys(keys) for {target} in (k,)}}")
            src.append("    return list(map(done.__getitem__, keys))")
        self.source = "\n".join(src) + "\n"
        ns = dict(comp.ns)
        exec(compile(self.source, f"<print fmt of {name}>", "exec"), ns)
        self.payload: Callable[[Mapping[str, Any]], str] = ns["payload"]
        self.payload_tuple: Callable[[Sequence[Any]], str] = ns["payload_tuple"]
        self.payload_columns: Callable[..., List[str]] = ns["payload_columns"]

    @staticmethod
    def _format_string(fmt: str, args, comp: _Compiler, ptr_key, kallsyms, hash_ptr,
                       lte: bool = False):
        out: List[str] = []
        codes: List[str] = []
        argi = 0

        def take(what: str) -> _E:
            nonlocal argi
            if argi >= len(args):
                raise comp.err(f"format has more conversions than arguments (at {what})")
            e = comp.gen(args[argi])
            argi += 1
            return e

        pos = 0
        while pos < len(fmt):
            j = fmt.find("%", pos)
            if j < 0:
                out.append(fmt[pos:].replace("%", "%%"))
                break
            out.append(fmt[pos:j])
            m = _CONV_RE.match(fmt, j)
            if m is None:
                raise comp.err(f"bad conversion at {fmt[j:j + 6]!r}")
            pos = m.end()
            conv, flags, width, prec, ln = (m.group("conv"), m.group("flags"), m.group("width"),
                                            m.group("prec"), m.group("len") or "")
            if conv == "%":
                out.append("%%")
                continue
            if width == "*":
                codes.append(comp.convert(take("*"), INT).code)
            if prec == "*":
                codes.append(comp.convert(take(".*"), INT).code)
            spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "")
            if conv in "di":
                t = _SIGNED_BY_LEN.get(ln, LONG)
                codes.append(comp.convert(take(m.group(0)), t).code)
                out.append(spec + "d")
            elif conv in "uxXo":
                t = _UNSIGNED_BY_LEN.get(ln, ULONG)
                e = comp.convert(take(m.group(0)), t)
                if lte and conv in "xX" and "#" in flags:     # glibc: %#x of 0 is "0"
                    codes.append(f"{comp.helper('alt', _glibc_alt(spec + conv))}({e.code})")
                    out.append("%s")
                elif conv == "o" and "#" in flags:    # kernel: "0" prefix, not Python's "0o"
                    codes.append(f"('0%o' % {e.code} if {e.code} else '0')")
                    out.append(spec.replace("#", "").replace("0", "") + "s")
                else:
                    codes.append(e.code)
                    out.append(spec + ("d" if conv == "u" else conv))
            elif conv == "c":
                codes.append(comp.convert(take("%c"), CType("int", 8, False)).code)
                out.append(spec + "c")
            elif conv == "s" and lte and "*" not in spec:
                comp.str_spec = spec + "s" if spec != "%" else None
                try:
                    codes.append(comp.convert(take("%s"), STR).code)
                finally:
                    comp.str_spec = None
                out.append("%s")
            elif conv == "s":
                codes.append(comp.convert(take("%s"), STR).code)
                out.append(spec + "s")
            elif conv == "p":
                ext = re.match(r"[A-Za-z0-9]*", fmt[pos:]).group(0)
                pos += len(ext)
                e = comp.convert(take("%p" + ext), ULONG)
                kind = ext[:1]
                if lte:                     # libtraceevent print_pointer
                    if kind in ("S", "F", "s", "f"):
                        fn = _lte_ksym_fn(kallsyms, kind in ("S", "F"))
                    elif kind in ("M", "m", "I", "i", "U", "h"):
                        raise comp.err(f"pointer extension %p{ext} is not supported")
                    else:
                        fn = _glibc_ptr
                    codes.append(f"{comp.helper('ptr', fn)}({e.code})")
                elif kind == "x" or (kind in ("", "K") and not hash_ptr):
                    comp.ns["_praw"] = _praw
                    codes.append(f"_praw({e.code})")
                elif kind in ("", "K"):
                    codes.append(f"{comp.helper('hp', _hash_ptr_fn(ptr_key))}({e.code})")
                elif kind in ("S", "B", "F", "R"):
                    codes.append(f"{comp.helper('ksym', _ksym_fn(kallsyms, True))}({e.code})")
                elif kind in ("s", "f"):
                    codes.append(f"{comp.helper('ksym', _ksym_fn(kallsyms, False))}({e.code})")
                else:
                    raise comp.err(f"pointer extension %p{ext} is not supported")
                out.append("%s")
            else:
                raise comp.err(f"conversion %{conv} is not supported")
            nstar = (width == "*") + (prec == "*")
            if lte and nstar and out[-1] != "%s":
                # libtraceevent prints a conversion whose '*' argument is negative literally
                piece, args_ = out.pop(), [codes.pop() for _ in range(nstar + 1)][::-1]
                fn = _star_fn(piece, m.group(0))
                codes.append(f"{comp.helper('star', fn)}({', '.join(args_)})")
                out.append("%s")
        if argi != len(args):
            raise comp.err(f"{len(args) - argi} argument(s) left over after the format")
        return "".join(out), codes


def _star_fn(piece: str, literal: str) -> Callable[..., str]:
    def star(*a: Any) -> str:
        if any(x < 0 for x in a[:-1]):
            return literal
        return piece % a
    return star


def _glibc_alt(spec: str) -> Callable[[int], str]:
    """glibc's ``%#x``: no ``0x`` prefix on 0."""
    plain = spec.replace("#", "")

    def alt(v: int) -> str:
        return spec % v if v else plain % v
    return alt


def _glibc_ptr(v: int) -> str:
    """glibc's ``%p``: ``(nil)`` for NULL, else ``0x`` and the lowercase hex value."""
    return "0x%x" % v if v else "(nil)"


def _lte_ksym_fn(kallsyms: Any, with_offset: bool) -> Callable[[int], str]:
    """libtraceevent's print_function: ``name+0xoff`` (``%pS``/``%pF``) or ``name``."""
    cache: Dict[int, str] = {}

    def ksym(v: int) -> str:
        r = cache.get(v)
        if r is None:
            hit = kallsyms.lookup(v) if kallsyms is not None else None
            if hit is None:
                r = "0x%x" % v
            else:
                r = "%s+0x%x" % (hit[0], hit[1]) if with_offset else hit[0]
            if len(cache) < 65536:
                cache[v] = r
        return r
    return ksym


def _praw(v: int) -> str:
    return "%016x" % v


def _hash_ptr_fn(ptr_key: Tuple[int, int]) -> Callable[[int], str]:
    k0, k1 = int(ptr_key[0]), int(ptr_key[1])
    err = (1 << 64) - MAX_ERRNO
    h = hash_pointer

    def hp(v: int) -> str:
        if v == 0 or v >= err:          # IS_ERR_OR_NULL: printed raw
            return "%016x" % v
        return "00000000%08x" % h(v, k0, k1)
    return hp


def _ksym_fn(kallsyms: Any, with_offset: bool) -> Callable[[int], str]:
    if kallsyms is None:
        from memsim.tracing.kallsyms import default_kallsyms
        kallsyms = default_kallsyms()
    cache: Dict[int, str] = {}

    def ksym(v: int) -> str:
        r = cache.get(v)
        if r is None:
            hit = kallsyms.lookup(v)
            if hit is None:
                r = "0x%x" % v
            else:
                r = "%s+%#x/%#x" % hit if with_offset else hit[0]
            if len(cache) < 65536:
                cache[v] = r
        return r
    return ksym


def compile_decl(decl: Any, *, ptr_key: Tuple[int, int] = (0, 0), kallsyms: Any = None,
                 hash_ptr: bool = True, symbols=None, libtraceevent: bool = False) -> Formatter:
    """Compile an :class:`~memsim.tracing.events.EventDecl`'s print fmt.

    The tuple layout is ``common_type, common_flags, common_preempt_count, common_pid`` followed
    by the event fields in offset order (what ``EventDecl.record_struct`` unpacks to).
    """
    fields = {f.name: field_ctype(f.ctype, f.size, f.signed) for f in decl.fields}
    layout = ["common_type", "common_flags", "common_preempt_count", "common_pid"]
    layout += [f.name for f in decl.fields]
    return Formatter(decl.print_fmt, fields, ptr_key=ptr_key, kallsyms=kallsyms,
                     hash_ptr=hash_ptr, symbols=symbols, layout=layout, name=decl.full_name,
                     libtraceevent=libtraceevent)
