"""Sizes and durations (memsim.units): the forms docs/workloads.md lists under "Types"."""
import pytest
from hypothesis import given, strategies as st

from memsim.errors import InvalidValue, MemsimError
from memsim.units import (MAX_DURATION, MAX_SIZE, format_duration, format_size, parse_duration,
                          parse_size)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@pytest.mark.parametrize("text, nbytes", [
    (4096, 4096),
    ("4096", 4096),
    (0, 0),
    ("0", 0),
    ("12k", 12 * KiB),
    ("12K", 12 * KiB),
    ("12 KiB", 12 * KiB),
    ("12 kib", 12 * KiB),
    ("12KB", 12 * KiB),
    ("12 kB", 12 * KiB),           # /proc/meminfo's spelling
    ("1 GiB", GiB),
    ("1G", GiB),
    ("1Gi", GiB),
    ("2M", 2 * MiB),
    ("2 MB", 2 * MiB),             # binary, like memparse(): never 2000000
    ("1.5 GiB", 3 * GiB // 2),
    ("0.5k", 512),
    (".5k", 512),
    ("1 T", 1 << 40),
    ("0x1000", 4096),
    ("0X10", 16),
    ("1_000", 1000),
    ("  8 MiB  ", 8 * MiB),
    ("100 B", 100),
    ("100 bytes", 100),
    ("010", 10),                   # decimal, not YAML 1.1 octal
    (4096.0, 4096),
    ("15 EiB", 15 << 60),
])
def test_parse_size_accepts(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("value, problem, fix_part", [
    ("", "the size is empty", "write a byte count"),
    ("   ", "the size is empty", "write a byte count"),
    (-1, "size -1 is negative", "0 or more"),
    ("-4k", "size '-4k' is negative", "0 or more"),
    ("1.5", "size '1.5' is not a whole number of bytes", "fraction"),
    (1.5, "size 1.5 is not a whole number of bytes", "fraction"),
    ("0.1k", "size '0.1k' is not a whole number of bytes", "fraction"),
    ("12 XB", "size '12 XB' has an unknown unit 'XB'", "K, KB and KiB all mean 1024"),
    ("12 kbit", "size '12 kbit' has an unknown unit 'kbit'", "write a byte count"),
    ("4 K B", "size '4 K B' has an unknown unit 'K B'", "write a byte count"),
    ("0x10k", "size '0x10k' is not a hexadecimal number", "no unit"),
    ("lots", "size 'lots' is not a size", "write a byte count"),
    (True, "True is not a size", "write a byte count"),
    ([1], "[1] is not a size", "write a byte count"),
    ("16 EiB", "size '16 EiB' is too large", "16 EiB"),
])
def test_parse_size_refuses_with_the_value_and_the_accepted_forms(value, problem, fix_part):
    with pytest.raises(InvalidValue) as info:
        parse_size(value)
    assert info.value.problem == problem
    assert fix_part in info.value.fix
    assert isinstance(info.value, MemsimError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, ns", [
    (500, 500),
    ("500", 500),
    ("100ns", 100),
    ("1us", 1000),
    ("1 µs", 1000),
    ("2ms", 2_000_000),
    ("2 MS", 2_000_000),
    ("1.5s", 1_500_000_000),
    ("0.5us", 500),
    ("0", 0),
])
def test_parse_duration_accepts(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("value, problem", [
    ("", "the duration is empty"),
    ("-1ms", "duration '-1ms' is negative"),
    (-5, "duration -5 is negative"),
    ("1.5ns", "duration '1.5ns' is not a whole number of nanoseconds"),
    ("1 fortnight", "duration '1 fortnight' has an unknown unit 'fortnight'"),
    ("1m", "duration '1m' has an unknown unit 'm'"),
    ("soon", "duration 'soon' is not a duration"),
    (2.5, "duration 2.5 is not a whole number of nanoseconds"),
])
def test_parse_duration_refuses(value, problem):
    with pytest.raises(InvalidValue) as info:
        parse_duration(value)
    assert info.value.problem == problem
    assert info.value.fix


@pytest.mark.parametrize("nbytes, text", [
    (0, "0 B"), (1, "1 B"), (4097, "4097 B"), (4096, "4 KiB"), (1408 * KiB, "1408 KiB"),
    (GiB, "1 GiB"), (3 * GiB // 2, "1536 MiB"), (100 * GiB, "100 GiB"), (1 << 60, "1 EiB"),
])
def test_format_size(nbytes, text):
    assert format_size(nbytes) == text


@pytest.mark.parametrize("ns, text", [(0, "0 ns"), (7, "7 ns"), (1500, "1500 ns"), (2_000_000, "2 ms"),
                                      (3_000_000_000, "3 s")])
def test_format_duration(ns, text):
    assert format_duration(ns) == text


@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_format_size_round_trips(nbytes):
    assert parse_size(format_size(nbytes)) == nbytes


@given(st.integers(min_value=0, max_value=50).map(lambda shift: 1 << shift) | st.integers(0, 1 << 40))
def test_format_size_round_trips_powers(nbytes):
    assert parse_size(format_size(nbytes)) == nbytes


@given(st.integers(min_value=0, max_value=MAX_DURATION))
def test_format_duration_round_trips(ns):
    assert parse_duration(format_duration(ns)) == ns


@given(st.text(max_size=12))
def test_parse_size_only_ever_raises_invalid_value(text):
    try:
        assert parse_size(text) >= 0
    except InvalidValue as exc:
        assert exc.problem and exc.fix
