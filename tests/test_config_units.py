"""Sizes and durations as ecosystem files write them."""

from __future__ import annotations

import pytest

from supervisor_core.config import parse_duration, parse_size

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (2048, 2048),
        ("2048", 2048),
        ("512M", 512 * MIB),
        ("512m", 512 * MIB),
        ("100MB", 100 * MIB),
        ("100mb", 100 * MIB),
        ("1.5G", GIB + GIB // 2),
        ("10K", 10 * KIB),
        ("10KB", 10 * KIB),
        ("10 K", 10 * KIB),
        (" 7B ", 7),
        ("1G", GIB),
        ("0.5K", 512),
        ("0.1K", 102),  # fractions of a byte are rounded down
    ],
)
def test_parse_size(value: object, expected: int) -> None:
    assert parse_size(value) == expected
    assert type(parse_size(value)) is int


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "a size cannot be negative"),
        ("-1M", "not a size"),
        ("", "not a size"),
        ("M", "not a size"),
        ("12T", "not a size"),
        ("12 MiB", "not a size"),
        ("1,5G", "not a size"),
        (True, "a size must be an integer"),
        (1.5, "a size must be an integer"),
        (None, "a size must be an integer"),
        ([1], "a size must be an integer"),
    ],
)
def test_parse_size_rejects(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_size(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (1600, 1.6),
        (3000, 3.0),
        ("1600ms", 1.6),
        ("1600MS", 1.6),
        ("10s", 10.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("0.5h", 1800.0),
        ("100ms", 0.1),
        ("300", 0.3),  # digits alone are milliseconds, like an integer
        (" 2 s ", 2.0),
    ],
)
def test_parse_duration(value: object, expected: float) -> None:
    assert parse_duration(value) == pytest.approx(expected)
    assert type(parse_duration(value)) is float


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-5, "a duration cannot be negative"),
        ("-5s", "not a duration"),
        ("", "not a duration"),
        ("s", "not a duration"),
        ("5d", "not a duration"),
        ("5 minutes", "not a duration"),
        ("1m30s", "not a duration"),
        (1.5, 'a bare number is milliseconds and must be an integer; write "1.5s"'),
        (False, "a duration must be an integer"),
        (None, "a duration must be an integer"),
    ],
)
def test_parse_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(value)


@pytest.mark.parametrize(
    "text",
    ["0.1s", "1.1", "1.005s", "0.3m", "0.7h", "33.333333333333333333s", ".5s", "0.000001ms", "7"],
)
def test_a_duration_is_the_float_nearest_its_exact_value(text: str) -> None:
    """Exact arithmetic (integers, once Decimal), then one rounding: never 0.1 * 3 drift."""
    from fractions import Fraction

    number = text.rstrip("smh") or "0"
    per_unit = {"ms": Fraction(1, 1000), "s": 1, "m": 60, "h": 3600}
    unit = text[len(number) :] or "ms"
    assert parse_duration(text) == float(Fraction(number) * per_unit[unit])


@pytest.mark.parametrize(
    ("text", "expected"), [("1.9999999999K", 2047), ("0.001G", 1073741), (".5M", MIB // 2)]
)
def test_a_fraction_of_a_byte_is_rounded_down_exactly(text: str, expected: int) -> None:
    assert parse_size(text) == expected
