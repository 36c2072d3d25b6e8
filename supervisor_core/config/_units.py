"""Sizes and durations as an ecosystem file writes them (PM2's conventions).

* Sizes: an integer is bytes; a string is a number with an optional ``K``/``M``/``G`` unit
  (powers of 1024) and an optional ``B``, case-insensitive: ``"512M"``, ``"100MB"``,
  ``"1.5G"``, ``"10k"``, ``"2048"``. Fractions of a byte are rounded down.
* Durations: an integer is milliseconds (as in PM2); a string is a number with a unit
  ``ms``, ``s``, ``m`` or ``h``: ``"1600ms"``, ``"10s"``, ``"1.5s"``, ``"5m"``, ``"1h"``. A
  string of digits alone is milliseconds too. The result is seconds.

Both raise :class:`ValueError` with a short reason; the loader adds the file, key and value.
Negative values never parse.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_duration", "parse_size"]

_SIZE_UNITS: Final = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([KMG]?)B?\s*", re.IGNORECASE)

# Seconds per unit as (numerator, denominator): the arithmetic is exact on integers (no
# Decimal: the daemon parses every file it starts, and ``decimal`` is 0.4 MB resident).
_DURATION_UNITS: Final = {"": (1, 1000), "MS": (1, 1000), "S": (1, 1), "M": (60, 1), "H": (3600, 1)}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*", re.IGNORECASE)


def _exact(number: str) -> tuple[int, int]:
    """``"1.5"`` as (15, 10): a decimal number the patterns matched, as an exact fraction."""
    whole, _dot, fraction = number.partition(".")
    return int(whole + fraction or "0"), 10 ** len(fraction)


def parse_size(value: object) -> int:
    """Bytes from an integer (bytes) or a string such as ``"512M"`` or ``"100MB"``."""
    if isinstance(value, bool):
        raise ValueError('a size must be an integer (bytes) or a string such as "512M"')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError('a size must be an integer (bytes) or a string such as "512M"')
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError('not a size; use bytes or a number with K, M or G, such as "512M"')
    number, unit = match.groups()
    numerator, denominator = _exact(number)
    return numerator * _SIZE_UNITS[unit.upper()] // denominator


def parse_duration(value: object) -> float:
    """Seconds from an integer (milliseconds) or a string such as ``"10s"`` or ``"1600ms"``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        if isinstance(value, float):
            raise ValueError(
                'a bare number is milliseconds and must be an integer; write "1.5s" for seconds'
            )
        raise ValueError('a duration must be an integer (milliseconds) or a string such as "10s"')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value / 1000
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError('not a duration; use a number with ms, s, m or h, such as "10s"')
    number, unit = match.groups()
    numerator, denominator = _exact(number)
    per_unit, unit_denominator = _DURATION_UNITS[(unit or "").upper()]
    # int / int is correctly rounded: the float nearest the exact number of seconds
    return numerator * per_unit / (denominator * unit_denominator)
