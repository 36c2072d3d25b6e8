"""``cron_restart``: check a cron expression (five fields, or six with seconds first) and work
out when it fires.

:func:`check_cron` is what the loader calls: numbers in range, ``*``, ranges ``a-b``, steps
``/n``, lists ``a,b``, month and weekday names, and a schedule that can match at all. Five
fields are Vixie cron's (the schedule fires at second 0 of each minute it names); six put a
seconds field first, as croner, PM2's cron library, reads them: ``0 */5 * * * *`` is every
five minutes, ``*/20 * * * * *`` every 20 seconds.
:class:`CronSchedule` evaluates it, in local time (or a given time zone), with Vixie cron's
rules:

- ``a/n`` (a single value with a step) means ``a-max/n``: ``5/15`` in the minute field is
  5, 20, 35, 50.
- Day of week 0 and 7 are both Sunday; names are ``SUN``..``SAT`` and ``JAN``..``DEC``.
- When both day of month and day of week are restricted (neither starts with ``*``), a day
  matches if **either** matches: ``0 3 1 * MON`` fires on the 1st and on every Monday.
- Daylight saving time, as in Vixie cron: a schedule at fixed times (neither the second,
  the minute nor the hour field starts with ``*``, such as ``30 2 * * *``) fires at a time
  the clock skips (02:30 when 02:00 jumps to 03:00) once, at the jump, and at a time the
  clock repeats (02:30 when 03:00 falls back to 02:00) once, the first time. A schedule that
  follows the clock (``*/15 * * * *``, ``0 * * * *``) fires at the times the clock shows:
  none for the skipped hour, both times for the repeated one.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Final, NamedTuple

__all__ = ["CronSchedule", "check_cron"]


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

_SECOND: Final = _Field("second", 0, 59)
_MINUTE, _HOUR, _DOM, _MONTH, _DOW = _FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES),
    _Field("day of week", 0, 7, _DAY_NAMES),
)

_ITEM = re.compile(r"(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?")

_SEARCH_YEARS: Final = 9
"""How far ahead a next time is searched: a 29 February with a given weekday can take 8 years
to come back (no leap day in 2100), and a valid schedule always matches within that."""

_MINUTE_DELTA: Final = timedelta(minutes=1)
_DST_MARGIN: Final = timedelta(hours=3)
"""More than any daylight-saving shift: how far back a repeated hour can send the clock."""


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


def _item_values(item: str, field: _Field) -> range:
    """The values one list item stands for (raises :class:`ValueError` when malformed)."""
    match = _ITEM.fullmatch(item)
    if match is None:
        raise ValueError(f"cron {field.name} {item!r} is not a number, *, range, step or list")
    star, start, end, step_text = match.groups()
    step = int(step_text) if step_text is not None else 1
    if step == 0:
        raise ValueError(f"cron {field.name} step in {item!r} must be at least 1")
    if star:
        return range(field.low, field.high + 1, step)
    first = _value(start, field)
    if end is not None:
        last = _value(end, field)
        if last < first:
            raise ValueError(f"cron {field.name} range {item!r} goes backwards")
    else:
        last = field.high if step_text is not None else first
    return range(first, last + 1, step)


def _field_values(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_item_values(item, field))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression (five fields, or six with seconds first): the values each
    field allows."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    """Days of the month, 1-31."""
    months: frozenset[int]
    weekdays: frozenset[int]
    """Days of the week, 0 (Sunday) to 6 (Saturday); a 7 in the expression is stored as 0."""
    days_restricted: bool
    weekdays_restricted: bool
    """Whether the field does not start with ``*`` (Vixie cron's test for the OR rule)."""
    follows_clock: bool = False
    """The second, minute or hour field starts with ``*``: fire at every time the clock shows
    (twice in a repeated hour, never in a skipped one) rather than once a day at fixed times."""
    seconds: frozenset[int] = frozenset({0})
    """Seconds of the minute, 0-59: ``{0}`` for a five-field expression."""

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Parse ``expression``, or raise :class:`ValueError` naming the field at fault."""
        fields = expression.split()
        if len(fields) not in (len(_FIELDS), len(_FIELDS) + 1):
            raise ValueError(
                "a cron expression has 5 fields: minute hour day-of-month month day-of-week,"
                " or 6 (seconds first)"
            )
        written = " ".join(fields)
        second = fields.pop(0) if len(fields) > len(_FIELDS) else "0"
        minute, hour, dom, month, dow = fields
        schedule = cls(
            expression=written,
            seconds=_field_values(second, _SECOND),
            minutes=_field_values(minute, _MINUTE),
            hours=_field_values(hour, _HOUR),
            days=_field_values(dom, _DOM),
            months=_field_values(month, _MONTH),
            weekdays=frozenset(day % 7 for day in _field_values(dow, _DOW)),
            days_restricted=not dom.startswith("*"),
            weekdays_restricted=not dow.startswith("*"),
            follows_clock=any(field.startswith("*") for field in (second, minute, hour)),
        )
        schedule._check_reachable()
        return schedule

    def _check_reachable(self) -> None:
        """A day-of-month-only schedule must name a day that some chosen month has."""
        if self.weekdays_restricted and self.days_restricted:
            return  # either matches: every week has the weekday
        if not self.days_restricted:
            return  # every day of every month, or a weekday: every month has it
        longest = max(calendar.monthrange(2024, month)[1] for month in self.months)
        if min(self.days) > longest:
            months = ",".join(_MONTH_NAMES[month - 1] for month in sorted(self.months))
            raise ValueError(f"cron expression never matches: no day {min(self.days)} in {months}")

    # ----------------------------------------------------------------- matching
    def day_matches(self, moment: datetime) -> bool:
        """Whether the date of ``moment`` is a day the schedule runs on (month included)."""
        if moment.month not in self.months:
            return False
        in_days = moment.day in self.days
        in_weekdays = moment.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def matches(self, moment: datetime) -> bool:
        """Whether the wall-clock second of ``moment`` is one the schedule fires at."""
        return moment.second in self.seconds and self._minute_matches(moment)

    def _minute_matches(self, moment: datetime) -> bool:
        return (
            moment.minute in self.minutes and moment.hour in self.hours and self.day_matches(moment)
        )

    def next_wall_time(self, after: datetime) -> datetime:
        """The first matching wall-clock second strictly after ``after`` (naive, no DST)."""
        base = after.replace(microsecond=0, tzinfo=None, fold=0)
        seconds = sorted(self.seconds)
        if self._minute_matches(base):  # a later second of the same minute
            second = next((s for s in seconds if s > base.second), None)
            if second is not None:
                return base.replace(second=second)
        return self._next_minute(base).replace(second=seconds[0])

    def _next_minute(self, after: datetime) -> datetime:
        """The first matching wall-clock minute strictly after the minute of ``after``."""
        moment = after.replace(second=0) + _MINUTE_DELTA
        limit = datetime(moment.year + _SEARCH_YEARS, 1, 1)
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        while moment < limit:
            if moment.month not in self.months:
                year, month = divmod(moment.year * 12 + moment.month, 12)  # the next month
                moment = datetime(year, month + 1, 1)
                continue
            if not self.day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            hour = next((h for h in hours if h >= moment.hour), None)
            if hour is None:
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if hour > moment.hour:
                moment = moment.replace(hour=hour, minute=0)
            minute = next((m for m in minutes if m >= moment.minute), None)
            if minute is None:
                moment = moment.replace(minute=0) + timedelta(hours=1)
                continue
            return moment.replace(minute=minute)
        raise ValueError(f"cron expression {self.expression!r} never matches")

    def next_fire(self, after: float, tz: tzinfo | None = None) -> float:
        """The first instant (POSIX seconds) strictly after ``after`` at which the schedule
        fires, reading wall-clock time in ``tz`` (``None``: the local time zone)."""
        wall = _wall(after, tz)
        if not (self.follows_clock and wall.fold == 0 and _repeated(wall, tz)):
            # Walls after ``wall`` come in the order of their instants.
            candidate = wall
            while True:
                candidate = self.next_wall_time(candidate)
                instants = [i for i in self._instants(candidate, tz) if i > after]
                if instants:
                    return min(instants)
        # In the first pass of a repeated hour: the second pass shows earlier walls again.
        best = math.inf
        candidate = wall - _DST_MARGIN
        while candidate <= wall + 2 * _DST_MARGIN or best == math.inf:
            candidate = self.next_wall_time(candidate)
            best = min([best, *(i for i in self._instants(candidate, tz) if i > after)])
        return best

    def _instants(self, wall: datetime, tz: tzinfo | None) -> list[float]:
        """The instants at which the schedule fires for the wall-clock time ``wall``."""
        first = wall.replace(tzinfo=tz, fold=0).timestamp()
        if _wall(first, tz) != wall:  # skipped by the clock
            return [] if self.follows_clock else [_jump(wall, first, tz)]
        second = wall.replace(tzinfo=tz, fold=1).timestamp()
        if second != first and self.follows_clock:  # shown twice
            return [first, second]
        return [first]


def _wall(instant: float, tz: tzinfo | None) -> datetime:
    """The naive wall-clock time at ``instant`` in ``tz`` (local when None); ``fold`` is 1
    the second time the clock shows it."""
    return datetime.fromtimestamp(instant, tz).replace(tzinfo=None)


def _repeated(wall: datetime, tz: tzinfo | None) -> bool:
    """Whether the clock shows ``wall`` twice."""
    first = wall.replace(tzinfo=tz, fold=0).timestamp()
    return first != wall.replace(tzinfo=tz, fold=1).timestamp() and _wall(first, tz) == wall


def _jump(wall: datetime, after_jump: float, tz: tzinfo | None) -> float:
    """The instant the clock jumped over ``wall`` (which it never showed).

    ``after_jump`` is ``wall`` read with the offset before the jump (fold=0), an instant
    after it; fold=1 reads it with the offset after the jump, an instant before it.
    """
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(after_jump)
    while high - low > 1:  # the first second whose wall time is past ``wall``
        middle = (low + high) // 2
        if _wall(middle, tz) > wall:
            high = middle
        else:
            low = middle
    return float(high)


def check_cron(expression: str) -> str:
    """Return ``expression`` normalised to single spaces, or raise :class:`ValueError`."""
    return CronSchedule.parse(expression).expression
