"""Sizes and durations as workloads and the command line write them.

Sizes are byte counts.  A size is a whole number of bytes (``4096``, ``0x1000``) or a number
with a binary unit: ``12k``, ``12K``, ``12 KiB``, ``12KB``, ``2M``, ``2 MB``, ``1 GiB``, ``1.5G``.
**Every unit is a power of 1024**, whatever its spelling — ``K``, ``KB``, ``kB`` and ``KiB`` all
mean 1024 bytes, as in the kernel's ``memparse()`` (``mem=2G``, ``hugepagesz=2M``) and
``/proc/meminfo`` (``MemTotal: 1024 kB``).  memsim has no decimal units, so ``2 MB`` is 2097152
bytes, never 2000000.  Units are case-insensitive; a space between number and unit is optional; a
fraction is allowed with a unit as long as the result is a whole number of bytes (``1.5 KiB`` is
1536; ``0.1 KiB`` is refused).  Hexadecimal (``0x``) takes no unit.  Decimal numbers are decimal
even with leading zeros (``010`` is ten, not YAML 1.1's octal eight).

Durations are nanoseconds of emulated time: ``500`` (ns), ``100ns``, ``1us`` (or ``µs``),
``2ms``, ``1.5s``; the result must be a whole number of nanoseconds.

Parsers raise :class:`memsim.errors.InvalidValue` whose message names the value and whose fix
lists the accepted forms.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Union

from memsim.errors import InvalidValue

__all__ = [
    "SIZE_FORMS",
    "DURATION_FORMS",
    "MAX_SIZE",
    "MAX_DURATION",
    "parse_size",
    "parse_duration",
    "format_size",
    "format_duration",
]

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

#: The largest size memsim accepts (a 64-bit byte count).
MAX_SIZE = (1 << 64) - 1
#: The largest duration memsim accepts (a signed 64-bit nanosecond count, ~292 years).
MAX_DURATION = (1 << 63) - 1

#: The accepted spellings of a size, for error messages and the reference.
SIZE_FORMS = ("write a byte count (4096, 0x1000) or a number with a binary unit "
              "(12k, 12 KiB, 2M, 1.5 GiB); K, KB and KiB all mean 1024")
#: The accepted spellings of a duration, for error messages and the reference.
DURATION_FORMS = "write nanoseconds (500) or a number with a unit: ns, us, ms, s (100ns, 1.5ms, 2s)"

_SIZE_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_SIZE_UNIT_NAMES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_SIZE_RE = re.compile(
    r"""^(?:0x(?P<hex>[0-9a-f](?:_?[0-9a-f])*)
          |(?P<num>[0-9](?:_?[0-9])*(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[a-z]*))$""",
    re.IGNORECASE | re.VERBOSE)
_SIZE_UNIT_RE = re.compile(r"^(?:(?P<prefix>[kmgtpe])(?:ib?|b)?|b|bytes?)?$", re.IGNORECASE)

_DURATION_NS = {"": 1, "ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000,
                "ms": 1000_000, "s": 1000_000_000}
_DURATION_UNIT_NAMES = (("s", 1000_000_000), ("ms", 1000_000), ("us", 1000), ("ns", 1))
_DURATION_RE = re.compile(
    r"^(?P<num>[0-9](?:_?[0-9])*(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[^\s0-9.]*)$")

Number = Union[int, float, str]


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def parse_size(value: Number) -> int:
    """The number of bytes ``value`` stands for (see the module docstring for the forms).

    :raises InvalidValue: for an empty, negative, fractional-byte, too large or malformed value,
        or an unknown unit; the message names the value and the fix lists the accepted forms.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidValue(f"{_show(value)} is not a size", SIZE_FORMS)
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidValue(f"size {_show(value)} is negative", "sizes are byte counts of 0 or more")
        if isinstance(value, float) and not value.is_integer():
            raise InvalidValue(f"size {value} is not a whole number of bytes",
                               "write a whole byte count, or a fraction with a unit (1.5 KiB)")
        return _size_limit(int(value), value)
    text = value.strip()
    if not text:
        raise InvalidValue("the size is empty", SIZE_FORMS)
    if text.startswith("-"):
        raise InvalidValue(f"size {value!r} is negative", "sizes are byte counts of 0 or more")
    if text.startswith("+"):
        text = text[1:]
    m = _SIZE_RE.match(text)
    if m is None:
        unit_match = re.match(r"^[0-9._]+\s*(.+)$", text)
        if unit_match and not re.match(r"^0x", text, re.IGNORECASE):
            raise InvalidValue(f"size {value!r} has an unknown unit {unit_match.group(1)!r}", SIZE_FORMS)
        if re.match(r"^0x", text, re.IGNORECASE):
            raise InvalidValue(f"size {value!r} is not a hexadecimal number",
                               "a 0x size takes hexadecimal digits and no unit (0x1000)")
        raise InvalidValue(f"size {value!r} is not a size", SIZE_FORMS)
    if m.group("hex") is not None:
        return _size_limit(int(m.group("hex").replace("_", ""), 16), value)
    unit = _SIZE_UNIT_RE.match(m.group("unit"))
    if unit is None:
        raise InvalidValue(f"size {value!r} has an unknown unit {m.group('unit')!r}", SIZE_FORMS)
    shift = _SIZE_SHIFTS[(unit.group("prefix") or "").lower()]
    nbytes = Fraction(m.group("num").replace("_", "")) * (1 << shift)
    if nbytes.denominator != 1:
        raise InvalidValue(f"size {value!r} is not a whole number of bytes",
                           "use a smaller unit or a fraction that comes out whole (1.5 KiB)")
    return _size_limit(int(nbytes), value)


def _size_limit(nbytes: int, value) -> int:
    if nbytes > MAX_SIZE:
        raise InvalidValue(f"size {_show(value)} is too large", "sizes must be below 16 EiB (2^64 bytes)")
    return nbytes


def parse_duration(value: Number) -> int:
    """The number of nanoseconds ``value`` stands for: ``500``, ``100ns``, ``1us``, ``2ms``, ``1.5s``.

    :raises InvalidValue: for an empty, negative, fractional-nanosecond, too large or malformed
        value, or an unknown unit.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidValue(f"{_show(value)} is not a duration", DURATION_FORMS)
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidValue(f"duration {_show(value)} is negative", "durations are 0 or more")
        if isinstance(value, float) and not value.is_integer():
            raise InvalidValue(f"duration {value} is not a whole number of nanoseconds",
                               "write whole nanoseconds, or a fraction with a unit (1.5us)")
        return _duration_limit(int(value), value)
    text = value.strip()
    if not text:
        raise InvalidValue("the duration is empty", DURATION_FORMS)
    if text.startswith("-"):
        raise InvalidValue(f"duration {value!r} is negative", "durations are 0 or more")
    if text.startswith("+"):
        text = text[1:]
    m = _DURATION_RE.match(text)
    if m is None:
        raise InvalidValue(f"duration {value!r} is not a duration", DURATION_FORMS)
    unit = m.group("unit")
    scale = _DURATION_NS.get(unit.lower() if unit.isascii() else unit)
    if scale is None:
        raise InvalidValue(f"duration {value!r} has an unknown unit {unit!r}", DURATION_FORMS)
    ns = Fraction(m.group("num").replace("_", "")) * scale
    if ns.denominator != 1:
        raise InvalidValue(f"duration {value!r} is not a whole number of nanoseconds",
                           "use a smaller unit (1.5us rather than 0.0015ms)")
    return _duration_limit(int(ns), value)


def _duration_limit(ns: int, value) -> int:
    if ns > MAX_DURATION:
        raise InvalidValue(f"duration {_show(value)} is too large", "durations must be below 2^63 ns")
    return ns


def format_size(nbytes: int) -> str:
    """``nbytes`` in the largest binary unit that divides it exactly: ``1 GiB``, ``1408 KiB``,
    ``4097 B``.  ``parse_size(format_size(n)) == n`` for every n from 0 to MAX_SIZE."""
    nbytes = int(nbytes)
    if nbytes < 0:
        return "-" + format_size(-nbytes)
    shift = 60
    while shift:
        if nbytes and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift} {_SIZE_UNIT_NAMES[shift // 10]}"
        shift -= 10
    return f"{nbytes} B"


def format_duration(ns: int) -> str:
    """``ns`` in the largest unit that divides it exactly: ``2 ms``, ``1500 us``, ``7 ns``.
    ``parse_duration(format_duration(n)) == n`` for every n from 0 to MAX_DURATION."""
    ns = int(ns)
    if ns < 0:
        return "-" + format_duration(-ns)
    for name, scale in _DURATION_UNIT_NAMES:
        if ns and ns % scale == 0:
            return f"{ns // scale} {name}"
    return f"{ns} ns"
