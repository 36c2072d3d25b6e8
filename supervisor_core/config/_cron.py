"""``cron_restart``: check that a cron expression is well formed (five fields).

Only the syntax is checked here (numbers in range, ``*``, ranges ``a-b``, steps ``/n``,
lists ``a,b``, and month/weekday names); evaluating the schedule is the scheduler's job.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["check_cron"]


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_MONTH_NAMES: Final = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
_DAY_NAMES: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

_FIELDS: Final = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES),
    _Field("day of week", 0, 7, _DAY_NAMES),
)

_ITEM = re.compile(r"(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?")


def _value(text: str, field: _Field) -> int:
    if text.isdigit():
        number = int(text)
    elif text.upper() in field.names:
        # Month names count from 1, weekday names from 0 (SUN).
        number = field.names.index(text.upper()) + field.low
    else:
        raise ValueError(f"cron {field.name} {text!r} is not a number")
    if not field.low <= number <= field.high:
        raise ValueError(f"cron {field.name} {number} is outside {field.low}-{field.high}")
    return number


def _check_item(item: str, field: _Field) -> None:
    match = _ITEM.fullmatch(item)
    if match is None:
        raise ValueError(f"cron {field.name} {item!r} is not a number, *, range, step or list")
    star, start, end, step = match.groups()
    if step is not None and int(step) == 0:
        raise ValueError(f"cron {field.name} step in {item!r} must be at least 1")
    if star:
        return
    first = _value(start, field)
    if end is not None and _value(end, field) < first:
        raise ValueError(f"cron {field.name} range {item!r} goes backwards")


def check_cron(expression: str) -> str:
    """Return ``expression`` normalised to single spaces, or raise :class:`ValueError`."""
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(
            "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
        )
    for text, field in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            _check_item(item, field)
    return " ".join(fields)
