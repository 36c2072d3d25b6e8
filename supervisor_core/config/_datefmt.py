"""``log_date_format``: compile a PM2/moment (or strftime) date format into a fast formatter.

A compiled format is called for every log line, so it does the work once per second: the
whole-second part of the text (date, time, zone) is built when the second changes and kept;
a call within the same second only formats the sub-second digits (a table lookup for ``SSS``).

Moment tokens (local time zone):

=========  =========================================  ==================
token      meaning                                    example
=========  =========================================  ==================
YYYY, YY   year, 4 or 2 digits                        2026, 26
MMMM, MMM  month name (English), long or short        November, Nov
MM, M      month, 2 digits or no padding              03, 3
DD, D      day of month                               07, 7
dddd, ddd  weekday name (English), long or short      Saturday, Sat
HH, H      hour 0-23                                  09, 9
hh, h      hour 1-12                                  09, 9
mm, m      minute                                     05, 5
ss, s      second                                     04, 4
S...       fraction of a second, 1 to 9 digits        SSS: 123
A, a       AM/PM, am/pm
Z, ZZ      UTC offset                                 +01:00, +0100
X, x       Unix time in seconds, in milliseconds      1795986000
[text]     literal text                               [T] or [at]
\\c        the character c, literally
=========  =========================================  ==================

Characters that are not moment tokens (``T``, ``-``, ``:``, spaces, ...) are copied as they
are, as moment does. Letters that moment *does* treat as tokens but ptm does not implement
(``Q``, ``Do``, ``DDD``, ``w``, ``W``, ``E``, ``k``, ``z``, ``N``, ``y``, ``g``, ...) are an
error rather than silently printed as letters: put literal text in ``[brackets]``.

A format that contains ``%`` is a :func:`time.strftime` format instead, where ``%f`` is the
microseconds (6 digits) as in :mod:`datetime`.

Timestamps are rounded to the microsecond as :mod:`datetime` does, then truncated for fewer
digits (``SSS`` is the millisecond the timestamp falls in). A format without sub-second tokens
shows the whole second the timestamp falls in.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from supervisor_core.config._specs import DateFormatter

__all__ = ["compile_date_format"]

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Moment's own tokenizer (moment/src/lib/format/format.js), so that a run such as "DDD" is read
# as the one token moment would see, not as "DD" followed by "D".
_MOMENT_TOKEN = re.compile(
    r"\[([^\[\]]*)\]"
    r"|\\(.)"
    r"|(Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[ow]?|W[oW]?|Qo?|N{1,5}|YYYYYY|YYYYY|YYYY|YY"
    r"|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|Y)"
    r"|(.)",
    re.DOTALL,
)

_SecondPart = Callable[[time.struct_time, int], str]
"""Formats a token from the local time of the whole second (and the second itself)."""


def _offset(st: time.struct_time, sep: str) -> str:
    minutes = (st.tm_gmtoff or 0) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{sep}{minutes:02d}"


def _hour12(st: time.struct_time) -> int:
    return st.tm_hour % 12 or 12


_SECOND_TOKENS: Final[dict[str, _SecondPart]] = {
    "YYYY": lambda st, _sec: f"{st.tm_year:04d}",
    "YY": lambda st, _sec: f"{st.tm_year % 100:02d}",
    "MMMM": lambda st, _sec: _MONTHS[st.tm_mon - 1],
    "MMM": lambda st, _sec: _MONTHS[st.tm_mon - 1][:3],
    "MM": lambda st, _sec: f"{st.tm_mon:02d}",
    "M": lambda st, _sec: str(st.tm_mon),
    "DD": lambda st, _sec: f"{st.tm_mday:02d}",
    "D": lambda st, _sec: str(st.tm_mday),
    "dddd": lambda st, _sec: _WEEKDAYS[st.tm_wday],
    "ddd": lambda st, _sec: _WEEKDAYS[st.tm_wday][:3],
    "HH": lambda st, _sec: f"{st.tm_hour:02d}",
    "H": lambda st, _sec: str(st.tm_hour),
    "hh": lambda st, _sec: f"{_hour12(st):02d}",
    "h": lambda st, _sec: str(_hour12(st)),
    "mm": lambda st, _sec: f"{st.tm_min:02d}",
    "m": lambda st, _sec: str(st.tm_min),
    "ss": lambda st, _sec: f"{st.tm_sec:02d}",
    "s": lambda st, _sec: str(st.tm_sec),
    "A": lambda st, _sec: "PM" if st.tm_hour >= 12 else "AM",
    "a": lambda st, _sec: "pm" if st.tm_hour >= 12 else "am",
    "Z": lambda st, _sec: _offset(st, ":"),
    "ZZ": lambda st, _sec: _offset(st, ""),
    "X": lambda _st, sec: str(sec),
}

_SubSecond = Callable[[int, int], str]
"""Formats a token from (whole second, microseconds)."""


@functools.cache
def _fraction_table(digits: int) -> tuple[str, ...]:
    """Every value of a 1 to 3 digit fraction as text; one table for every app's format (a
    table of ``SSS`` is 1,000 strings, 60 kB: the daemon once kept one per app)."""
    return tuple(f"{i:0{digits}d}" for i in range(10**digits))


def _fraction(digits: int) -> _SubSecond:
    if digits <= 3:
        divisor = 10 ** (6 - digits)
        table = _fraction_table(digits)
        return lambda _sec, us: table[us // divisor]
    return lambda _sec, us: f"{us:06d}{'0' * (digits - 6)}"[:digits]


def _unix_millis(sec: int, us: int) -> str:
    return str(sec * 1000 + us // 1000)


class _SecondToken(NamedTuple):
    render: _SecondPart


class _SubSecondToken(NamedTuple):
    render: _SubSecond


# A compiled format is a sequence of parts: literal text, whole-second tokens and sub-second
# tokens.
_Part = str | _SecondToken | _SubSecondToken


def _moment_parts(fmt: str) -> list[_Part]:
    parts: list[_Part] = []
    for match in _MOMENT_TOKEN.finditer(fmt):
        bracketed, escaped, token, char = match.groups()
        if bracketed is not None:
            parts.append(bracketed)
        elif escaped is not None:
            parts.append(escaped)
        elif char is not None:
            if char == "[":
                raise ValueError("'[' without a closing ']'")
            parts.append(char)
        elif token in _SECOND_TOKENS:
            parts.append(_SecondToken(_SECOND_TOKENS[token]))
        elif token.startswith("S"):
            parts.append(_SubSecondToken(_fraction(len(token))))
        elif token == "x":
            parts.append(_SubSecondToken(_unix_millis))
        else:
            raise ValueError(
                f"date token {token!r} is not supported; put literal text in [brackets]"
            )
    return parts


def _strftime_parts(fmt: str) -> list[_Part]:
    parts: list[_Part] = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char != "%":
            literal.append(char)
            i += 1
            continue
        if i + 1 == len(fmt):
            raise ValueError("ends with a lone '%'")
        directive = fmt[i : i + 2]
        i += 2
        if directive == "%f":
            if literal:
                parts.append(_strftime_chunk("".join(literal)))
                literal = []
            parts.append(_SubSecondToken(_fraction(6)))
        else:
            literal.append(directive)
    if literal:
        parts.append(_strftime_chunk("".join(literal)))
    return parts


def _strftime_chunk(chunk: str) -> _Part:
    if "%" not in chunk:
        return chunk
    return _SecondToken(lambda st, _sec: time.strftime(chunk, st))


def compile_date_format(fmt: str) -> DateFormatter:
    """Compile ``fmt`` (moment tokens, or strftime when it contains ``%``).

    Raises :class:`ValueError` for a token ptm does not implement or a malformed format.
    """
    if not isinstance(fmt, str):
        raise ValueError("a date format must be a string")
    parts = _strftime_parts(fmt) if "%" in fmt else _moment_parts(fmt)
    second_parts: list[str | _SecondPart] = []
    segments: list[list[str | _SecondPart]] = [second_parts]
    fractions: list[_SubSecond] = []
    for part in parts:
        if isinstance(part, str):
            second_parts.append(part)
        elif isinstance(part, _SecondToken):
            second_parts.append(part.render)
        else:
            fractions.append(part.render)
            second_parts = []
            segments.append(second_parts)
    if not fractions:
        return _WholeSecondFormat(fmt, segments)
    if len(fractions) == 1:
        return _OneFractionFormat(fmt, segments, fractions)
    return _ManyFractionsFormat(fmt, segments, fractions)


def _render(segment: Sequence[str | _SecondPart], st: time.struct_time, sec: int) -> str:
    return "".join(piece if isinstance(piece, str) else piece(st, sec) for piece in segment)


def _split(timestamp: float) -> tuple[int, int]:
    """(whole second, microseconds), rounded to the microsecond exactly like :mod:`datetime`."""
    sec = int(timestamp)
    us = round((timestamp - sec) * 1_000_000)  # the subtraction is exact; round half to even
    if us >= 1_000_000:
        return sec + 1, us - 1_000_000
    if us < 0:
        return sec - 1, us + 1_000_000
    return sec, us


class _Format:
    """Common state: the source text, the per-second cache, and the sub-second parts (each
    written between two segments)."""

    __slots__ = ("_cache", "_fractions", "_segments", "source")

    def __init__(
        self,
        source: str,
        segments: Sequence[Sequence[str | _SecondPart]],
        fractions: Sequence[_SubSecond] = (),
    ) -> None:
        self.source = source
        self._segments = tuple(tuple(segment) for segment in segments)
        self._fractions = tuple(fractions)
        self._cache: tuple[int, tuple[str, ...]] = (-(2**63), ())

    def _texts(self, sec: int) -> tuple[str, ...]:
        cached_sec, texts = self._cache
        if cached_sec != sec:
            st = time.localtime(sec)
            texts = tuple(_render(segment, st, sec) for segment in self._segments)
            self._cache = (sec, texts)
        return texts

    def __repr__(self) -> str:
        return f"<date format {self.source!r}>"

    def __eq__(self, other: object) -> bool:
        # Equal formats give equal text, so specs built twice from one file compare equal.
        if not isinstance(other, _Format):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)


class _WholeSecondFormat(_Format):
    __slots__ = ()

    def __call__(self, timestamp: float) -> str:
        sec = int(timestamp)
        if timestamp < sec:  # int() truncates towards zero; before 1970 we want the floor
            sec -= 1
        cached_sec, texts = self._cache
        if cached_sec != sec:
            texts = self._texts(sec)
        return texts[0]


class _OneFractionFormat(_Format):
    __slots__ = ()

    def __call__(self, timestamp: float) -> str:
        sec = int(timestamp)
        us = round((timestamp - sec) * 1_000_000)
        if not 0 <= us < 1_000_000:
            sec, us = _split(timestamp)
        cached_sec, texts = self._cache
        if cached_sec != sec:
            texts = self._texts(sec)
        return texts[0] + self._fractions[0](sec, us) + texts[1]


class _ManyFractionsFormat(_Format):
    __slots__ = ()

    def __call__(self, timestamp: float) -> str:
        sec, us = _split(timestamp)
        texts = self._texts(sec)
        out = [texts[0]]
        for fraction, text in zip(self._fractions, texts[1:], strict=True):
            out.append(fraction(sec, us))
            out.append(text)
        return "".join(out)
