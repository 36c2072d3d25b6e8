"""cron_restart: the evaluator (fields, Vixie's day rule, month ends, daylight saving time),
the scheduler on a fake clock, and the driver restarting a real process with reason cron."""

from __future__ import annotations

import dataclasses
import functools
import random
import re
import time
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from supervisor_core import Supervisor
from supervisor_core._info import ProcessInfo
from supervisor_core.config import parse_ecosystem
from supervisor_core.config._cron import CronSchedule, check_cron
from supervisor_core.drivers import DEFAULT_DRIVERS, cron_driver
from supervisor_core.drivers._cron import MAX_SLEEP, restart_where, run_schedule
from supervisor_core.errors import ConfigError
from supervisor_core.process import UP
from tests.helpers import python_app

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def at(
    year: int,
    month: int,
    day: int,
    *clock: int,
    tz: ZoneInfo = BERLIN,
    fold: int = 0,
) -> float:
    """POSIX seconds of a wall-clock time (hour, minute, second, microsecond) in ``tz``."""
    hour, minute, second, micro = (*clock, 0, 0, 0, 0)[:4]
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz, fold=fold)
    return moment.timestamp()


def show(instant: float, tz: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(instant, tz).strftime("%Y-%m-%d %H:%M%z")


def fires(expression: str, start: float, count: int, tz: ZoneInfo = BERLIN) -> list[str]:
    schedule = CronSchedule.parse(expression)
    result = []
    instant = start
    for _ in range(count):
        instant = schedule.next_fire(instant, tz)
        result.append(show(instant, tz))
    return result


# --------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("expression", "field", "values"),
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("5/15 * * * *", "minutes", {5, 20, 35, 50}),
        ("1-10/3 * * * *", "minutes", {1, 4, 7, 10}),
        ("0,30,59 * * * *", "minutes", {0, 30, 59}),
        ("0 9-17 * * *", "hours", {9, 10, 11, 12, 13, 14, 15, 16, 17}),
        ("0 */6 * * *", "hours", {0, 6, 12, 18}),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("0 0 * jan-dec/2 *", "months", {1, 3, 5, 7, 9, 11}),
        ("0 0 * Jun,DEC *", "months", {6, 12}),
        ("0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 * * 0,7", "weekdays", {0}),
        ("0 0 * * 5-7", "weekdays", {5, 6, 0}),
        ("0 0 * * sun", "weekdays", {0}),
        ("0 0 * * */2", "weekdays", {0, 2, 4, 6}),
        ("0 3 * * *", "seconds", {0}),  # five fields: at second 0
        ("*/20 * * * * *", "seconds", {0, 20, 40}),  # six: seconds first, as croner (PM2)
        ("0 */5 * * * *", "minutes", {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}),
        ("0 */5 * * * *", "seconds", {0}),
        ("15,45 0 3 * * MON", "weekdays", {1}),
    ],
)
def test_fields(expression: str, field: str, values: set[int]) -> None:
    assert getattr(CronSchedule.parse(expression), field) == values


def test_flags_follow_vixie_star_rule() -> None:
    fixed = CronSchedule.parse("30 2 1 * MON")
    assert (fixed.days_restricted, fixed.weekdays_restricted, fixed.follows_clock) == (
        True,
        True,
        False,
    )
    starred = CronSchedule.parse("*/5 2 */2 * *")
    assert (starred.days_restricted, starred.weekdays_restricted, starred.follows_clock) == (
        False,
        False,
        True,
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * *", "a cron expression has 5 fields"),
        ("0 0 3 * * * 2030", "or 6 (seconds first)"),
        ("60 * * * * *", "cron second 60 is outside 0-59"),
        ("61 * * * *", "cron minute 61 is outside 0-59"),
        ("0 0 0 * *", "cron day of month 0 is outside 1-31"),
        ("*/0 * * * *", "step in '*/0' must be at least 1"),
        ("0 0 * * FUNDAY", "cron day of week 'FUNDAY' is not a number"),
        ("5-1 * * * *", "range '5-1' goes backwards"),
        ("0 0 30 2 *", "never matches: no day 30 in FEB"),
        ("0 0 31 4,6,9,11 *", "never matches: no day 31 in APR,JUN,SEP,NOV"),
    ],
)
def test_bad_expressions(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_cron(expression)


def test_check_cron_normalises_and_accepts_reachable_days() -> None:
    assert check_cron("0  3 * *   MON-FRI") == "0 3 * * MON-FRI"
    assert check_cron(" 0 */5  * * * * ") == "0 */5 * * * *"
    assert check_cron("0 0 29 2 *") == "0 0 29 2 *"  # leap years
    assert check_cron("0 0 30 2 MON") == "0 0 30 2 MON"  # either day rule: Mondays of February


def test_loader_reports_a_schedule_that_never_matches(tmp_path: Path) -> None:
    (tmp_path / "w.py").write_text("")
    data = {"apps": [{"name": "w", "script": "w.py", "cron_restart": "0 0 31 2 *"}]}
    with pytest.raises(ConfigError, match=r"apps\[0\]\.cron_restart: .*never matches"):
        parse_ecosystem(data, path=None, base_dir=tmp_path)


# --------------------------------------------------------------------- matching
def test_matches_minute_hour() -> None:
    nightly = CronSchedule.parse("0 3 * * *")
    assert nightly.matches(datetime(2025, 5, 7, 3, 0))
    assert not nightly.matches(datetime(2025, 5, 7, 3, 1))
    assert not nightly.matches(datetime(2025, 5, 7, 15, 0))


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    schedule = CronSchedule.parse("0 0 1 * MON")
    assert schedule.matches(datetime(2025, 10, 1))  # a Wednesday, the 1st
    assert schedule.matches(datetime(2025, 10, 6))  # a Monday
    assert schedule.matches(datetime(2025, 9, 1))  # both
    assert not schedule.matches(datetime(2025, 10, 7))  # a Tuesday, the 7th


def test_day_fields_and_when_one_starts_with_star() -> None:
    # Vixie: "*/2" starts with "*", so both must match: odd days that are Mondays.
    schedule = CronSchedule.parse("0 0 */2 * MON")
    assert schedule.matches(datetime(2025, 10, 13))  # Monday the 13th
    assert not schedule.matches(datetime(2025, 10, 6))  # Monday the 6th
    assert not schedule.matches(datetime(2025, 10, 3))  # Friday the 3rd
    weekdays = CronSchedule.parse("0 0 * * SAT,SUN")
    assert weekdays.matches(datetime(2025, 10, 4))
    assert not weekdays.matches(datetime(2025, 10, 6))


def test_month_field() -> None:
    schedule = CronSchedule.parse("0 0 1 JAN,jul *")
    assert schedule.matches(datetime(2025, 7, 1))
    assert not schedule.matches(datetime(2025, 6, 1))


# --------------------------------------------------------------------- next times
def test_next_times_across_month_and_year_ends() -> None:
    utc = ZoneInfo("UTC")
    assert fires("0 0 31 * *", at(2025, 1, 31, tz=utc), 3, utc) == [
        "2025-03-31 00:00+0000",
        "2025-05-31 00:00+0000",
        "2025-07-31 00:00+0000",
    ]
    assert fires("0 0 29 2 *", at(2025, 3, 1, tz=utc), 2, utc) == [
        "2028-02-29 00:00+0000",
        "2032-02-29 00:00+0000",
    ]
    assert fires("59 23 31 12 *", at(2025, 12, 31, 23, 59, tz=utc), 1, utc) == [
        "2026-12-31 23:59+0000"
    ]
    assert fires("0 0 1 1 *", at(2025, 12, 31, 23, 59, 59, tz=utc), 1, utc) == [
        "2026-01-01 00:00+0000"
    ]
    assert fires("0 12 * * SUN", at(2025, 10, 4, 13, tz=utc), 2, utc) == [
        "2025-10-05 12:00+0000",
        "2025-10-12 12:00+0000",
    ]


def test_seconds_field_fires_within_the_minute() -> None:
    utc = ZoneInfo("UTC")
    seconds = "%Y-%m-%d %H:%M:%S"

    def fire_times(expression: str, start: float, count: int) -> list[str]:
        schedule = CronSchedule.parse(expression)
        result = []
        for _ in range(count):
            start = schedule.next_fire(start, utc)
            result.append(datetime.fromtimestamp(start, utc).strftime(seconds))
        return result

    assert fire_times("*/20 * * * * *", at(2025, 5, 7, 3, 0, 5, 500000, tz=utc), 4) == [
        "2025-05-07 03:00:20",
        "2025-05-07 03:00:40",
        "2025-05-07 03:01:00",
        "2025-05-07 03:01:20",
    ]
    # PM2's "every 5 minutes" written with seconds: at second 0 of minutes 0, 5, ...
    assert fire_times("0 */5 * * * *", at(2025, 5, 7, 3, 0, 0, tz=utc), 2) == [
        "2025-05-07 03:05:00",
        "2025-05-07 03:10:00",
    ]
    assert fire_times("30 59 23 31 12 *", at(2025, 12, 31, 23, 59, 30, tz=utc), 1) == [
        "2026-12-31 23:59:30"
    ]
    # Five fields fire at second 0, as before.
    assert fire_times("0 3 * * *", at(2025, 5, 7, 3, 0, 0, 1, tz=utc), 1) == ["2025-05-08 03:00:00"]


def test_seconds_at_a_skipped_fixed_time_fire_once_at_the_jump() -> None:
    # Berlin, 30 March 2025: 02:00 CET jumps to 03:00 CEST; 02:30:00 and 02:30:30 never show.
    assert fires("0,30 30 2 * * *", at(2025, 3, 29, 12), 2) == [
        "2025-03-30 03:00+0200",
        "2025-03-31 02:30+0200",
    ]


def test_next_is_strictly_after() -> None:
    schedule = CronSchedule.parse("0 3 * * *")
    start = at(2025, 5, 7, 3, 0)
    assert show(schedule.next_fire(start, BERLIN)) == "2025-05-08 03:00+0200"
    assert show(schedule.next_fire(start - 0.5, BERLIN)) == "2025-05-07 03:00+0200"


def test_leap_day_with_a_weekday_can_be_far() -> None:
    # dom and dow both restricted: either. 29 Feb or any Friday in February.
    utc = ZoneInfo("UTC")
    assert fires("0 0 29 2 FRI", at(2025, 3, 1, tz=utc), 3, utc) == [
        "2026-02-06 00:00+0000",
        "2026-02-13 00:00+0000",
        "2026-02-20 00:00+0000",
    ]


def _brute_force(schedule: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    found = []
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < end:
        if schedule.matches(moment):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


def _random_field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return "*"
    if kind == 1:
        return f"*/{rng.randint(1, (high - low) // 2 + 1)}"
    a = rng.randint(low, high)
    if kind == 2:
        return str(a)
    b = rng.randint(a, high)
    if kind == 3:
        return f"{a}-{b}"
    if kind == 4:
        return f"{a}-{b}/{rng.randint(1, 5)}"
    return ",".join(str(rng.randint(low, high)) for _ in range(3))


def test_next_times_agree_with_minute_by_minute_matching() -> None:
    """Random expressions over two months in UTC: jumping ahead field by field finds exactly
    the minutes that checking every minute finds."""
    rng = random.Random(20251026)
    utc = ZoneInfo("UTC")
    start = datetime(2024, 1, 28, 22, 17, tzinfo=utc)  # across a leap February
    end = start + timedelta(days=40)
    for _ in range(25):
        expression = " ".join(
            [
                _random_field(rng, 0, 59),
                _random_field(rng, 0, 23),
                _random_field(rng, 1, 28),
                _random_field(rng, 1, 12),
                _random_field(rng, 0, 7),
            ]
        )
        schedule = CronSchedule.parse(expression)
        expected = _brute_force(schedule, start.replace(tzinfo=None), end.replace(tzinfo=None))
        got = []
        instant = start.timestamp()
        while (instant := schedule.next_fire(instant, utc)) < end.timestamp():
            got.append(datetime.fromtimestamp(instant, utc).replace(tzinfo=None))
        assert got == expected, expression


def test_next_seconds_agree_with_second_by_second_matching() -> None:
    """Random six-field expressions over ten hours in UTC, across a day end and a leap day,
    checked every second."""
    rng = random.Random(20261205)
    utc = ZoneInfo("UTC")
    start = datetime(2024, 2, 28, 22, 17, 31, tzinfo=utc)
    end = start + timedelta(hours=10)
    total = 0
    for _ in range(8):
        expression = " ".join(
            [
                _random_field(rng, 0, 59),
                _random_field(rng, 0, 59),
                _random_field(rng, 0, 23),
                "*",
                "*",
                "*",
            ]
        )
        schedule = CronSchedule.parse(expression)
        expected = []
        moment = start.replace(tzinfo=None) + timedelta(seconds=1)
        while moment < end.replace(tzinfo=None):
            if schedule.matches(moment):
                expected.append(moment)
            moment += timedelta(seconds=1)
        got = []
        instant = start.timestamp()
        while (instant := schedule.next_fire(instant, utc)) < end.timestamp():
            got.append(datetime.fromtimestamp(instant, utc).replace(tzinfo=None))
        assert got == expected, expression
        total += len(got)
    assert total > 100  # the expressions do fire in the window


# --------------------------------------------------------------------- daylight saving time
def test_fixed_time_in_the_skipped_hour_fires_once_at_the_jump() -> None:
    # Berlin, 30 March 2025: 02:00 CET jumps to 03:00 CEST.
    assert fires("30 2 * * *", at(2025, 3, 29, 12), 2) == [
        "2025-03-30 03:00+0200",
        "2025-03-31 02:30+0200",
    ]
    # Every minute of 02:xx that matches fires once, together with 03:00 itself.
    assert fires("0,20,40 2-3 * * *", at(2025, 3, 30, 0), 4) == [
        "2025-03-30 03:00+0200",
        "2025-03-30 03:20+0200",
        "2025-03-30 03:40+0200",
        "2025-03-31 02:00+0200",
    ]


def test_fixed_time_in_the_repeated_hour_fires_the_first_time_only() -> None:
    # Berlin, 26 October 2025: 03:00 CEST falls back to 02:00 CET.
    assert fires("30 2 * * *", at(2025, 10, 25, 12), 2) == [
        "2025-10-26 02:30+0200",
        "2025-10-27 02:30+0100",
    ]
    # Starting during the second pass: the first one is over, the next is tomorrow.
    assert fires("30 2 * * *", at(2025, 10, 26, 2, 10, fold=1), 1) == ["2025-10-27 02:30+0100"]


def test_schedules_that_follow_the_clock() -> None:
    assert fires("*/30 * * * *", at(2025, 10, 26, 1, 15), 6) == [
        "2025-10-26 01:30+0200",
        "2025-10-26 02:00+0200",
        "2025-10-26 02:30+0200",
        "2025-10-26 02:00+0100",
        "2025-10-26 02:30+0100",
        "2025-10-26 03:00+0100",
    ]
    assert fires("*/30 * * * *", at(2025, 3, 30, 1, 15), 3) == [
        "2025-03-30 01:30+0100",
        "2025-03-30 03:00+0200",
        "2025-03-30 03:30+0200",
    ]
    # Hourly at minute 0 (hour "*"): 02:00 both times, 02:00 never in spring.
    assert fires("0 * * * *", at(2025, 11, 2, 0, 30, tz=NEW_YORK), 3, NEW_YORK) == [
        "2025-11-02 01:00-0400",
        "2025-11-02 01:00-0500",
        "2025-11-02 02:00-0500",
    ]


@pytest.fixture
def berlin_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("berlin_local_time")
def test_local_time_is_the_default_zone() -> None:
    schedule = CronSchedule.parse("30 2 * * *")
    instant = schedule.next_fire(at(2025, 3, 29, 12))
    assert show(instant) == "2025-03-30 03:00+0200"
    instant = schedule.next_fire(at(2025, 10, 25, 12))
    assert show(instant) == "2025-10-26 02:30+0200"
    assert show(schedule.next_fire(instant)) == "2025-10-27 02:30+0100"


# --------------------------------------------------------------------- the scheduler
class FakeTime:
    """A wall clock that moves only when told: ``sleep`` waits until ``advance`` passes its
    end; ``sleeps`` lists every sleep asked for."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._moved = anyio.Event()
        self._slept = anyio.Event()

    def clock(self) -> float:
        return self.now

    async def wait_sleeps(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` sleeps have been asked for."""
        with anyio.fail_after(timeout):
            while len(self.sleeps) < count:
                await self._slept.wait()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._slept.set()
        self._slept = anyio.Event()
        end = self.now + seconds
        while self.now < end:
            await self._moved.wait()

    def advance(self, to: float) -> None:
        self.now = to
        self._moved.set()
        self._moved = anyio.Event()


class RunningClock:
    """A wall clock that jumps to the end of every sleep at once."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
async def test_scheduler_fires_at_each_time_over_a_week() -> None:
    clock = RunningClock(at(2025, 10, 20, 8, 55, 30))  # a Monday
    fired: list[str] = []

    async def fire() -> None:
        fired.append(show(clock.now))
        if len(fired) == 12:
            tg.cancel_scope.cancel()

    schedule = CronSchedule.parse("0 9,17 * * MON-FRI")
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(run_schedule, clock=clock.clock, sleep=clock.sleep, tz=BERLIN),
            schedule,
            fire,
        )
    assert fired == [
        f"2025-10-{day} {hour}:00{offset}"
        for day, offset in [
            ("20", "+0200"),
            ("21", "+0200"),
            ("22", "+0200"),
            ("23", "+0200"),
            ("24", "+0200"),
            ("27", "+0100"),  # after the change to winter time on the 26th
        ]
        for hour in ("09", "17")
    ]
    assert max(clock.sleeps) <= MAX_SLEEP  # a clock change is noticed within a minute


@pytest.mark.anyio
async def test_scheduler_fires_at_seconds() -> None:
    clock = RunningClock(at(2025, 10, 20, 8, 59, 50))
    fired: list[str] = []

    async def fire() -> None:
        fired.append(datetime.fromtimestamp(clock.now, BERLIN).strftime("%H:%M:%S"))
        if len(fired) == 4:
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(run_schedule, clock=clock.clock, sleep=clock.sleep, tz=BERLIN),
            CronSchedule.parse("*/15 * * * * *"),
            fire,
        )
    assert fired == ["09:00:00", "09:00:15", "09:00:30", "09:00:45"]


@pytest.mark.anyio
async def test_scheduler_does_not_catch_up_after_a_clock_jump() -> None:
    time_ = FakeTime(at(2025, 5, 7, 2, 59, 50))
    fired: list[str] = []

    async def fire() -> None:
        fired.append(show(time_.now))

    schedule = CronSchedule.parse("0 * * * *")
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(run_schedule, clock=time_.clock, sleep=time_.sleep, tz=BERLIN),
            schedule,
            fire,
        )
        await time_.wait_sleeps(1)
        assert time_.sleeps == [10.0]
        time_.advance(at(2025, 5, 7, 3, 0, 0, 200000))  # woken a little late
        await time_.wait_sleeps(2)
        assert len(fired) == 1
        time_.advance(at(2025, 5, 7, 9, 30))  # the machine slept for hours
        await time_.wait_sleeps(3)
        time_.advance(at(2025, 5, 7, 10, 0))
        await time_.wait_sleeps(4)
        tg.cancel_scope.cancel()
    assert fired == [
        "2025-05-07 03:00+0200",
        "2025-05-07 09:30+0200",  # the missed 04:00 fires once, late; 05:00..09:00 do not
        "2025-05-07 10:00+0200",
    ]


# --------------------------------------------------------------------- the driver
def test_cron_driver_is_a_default_driver() -> None:
    assert cron_driver in DEFAULT_DRIVERS


@pytest.mark.anyio
async def test_driver_restarts_running_instances_with_reason_cron(tmp_path: Path) -> None:
    """A real supervisor and real processes; only the clock is fake. The running app is
    restarted at 03:00 with reason cron; the stopped one stays stopped."""
    time_ = FakeTime(at(2025, 5, 7, 2, 59, 30))
    driver = functools.partial(cron_driver, clock=time_.clock, sleep=time_.sleep, tz=BERLIN)
    code = "import time\nprint('up', flush=True)\nwhile True: time.sleep(1)\n"
    running = dataclasses.replace(python_app(tmp_path, "nightly", code), cron_restart="0 3 * * *")
    stopped = dataclasses.replace(python_app(tmp_path, "parked", code), cron_restart="0 3 * * *")
    async with Supervisor(write_logs=False, drivers=[driver]) as sup:
        [before] = await sup.add(running)
        await sup.add(stopped, start=False)
        await time_.wait_sleeps(2)  # both drivers wait for 03:00
        assert before.pid is not None and before.status == "online"
        async with sup.subscribe() as events:
            time_.advance(at(2025, 5, 7, 3, 0))
            with anyio.fail_after(10):
                async for event in events:
                    if event.app == "nightly" and event.status == "online":
                        break
        await time_.wait_sleeps(4)  # both fired and wait for 04:00
        [after] = sup.info("nightly")
        assert after.pid not in (None, before.pid)
        assert after.last_restart_reason == "cron"
        assert after.restarts == 1
        assert after.unstable_restarts == 0
        [parked] = sup.info("parked")
        assert parked.status == "stopped" and parked.pid is None and parked.restarts == 0


@pytest.mark.anyio
async def test_driver_without_schedule_returns_at_once(tmp_path: Path) -> None:
    spec = python_app(tmp_path, "plain", "pass\n")
    with anyio.fail_after(1):
        await cron_driver(None, spec)  # type: ignore[arg-type]


class FakeSupervisor:
    """Only what restart_where uses: info, restart, restart_instance."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, ...]] = []

    def info(self, name: str) -> list[ProcessInfo]:
        return [
            ProcessInfo(
                name=name,
                instance=index,
                pid=None,
                status=status,
                restarts=0,
                unstable_restarts=0,
                started_at=None,
                uptime=None,
                cpu_percent=None,
                memory_bytes=None,
                exit_code=None,
                last_restart_reason=None,
            )
            for index, status in enumerate(self.statuses)
        ]

    async def restart(self, name: str, reason: str, *, only_if: Collection[str]) -> None:
        self.calls.append(("restart", name, reason, ",".join(sorted(only_if))))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("statuses", "chosen", "calls"),
    [
        (["online", "online"], [0, 1], [("restart", "a", "cron", "launching,online")]),
        (
            ["online", "stopped", "launching", "errored", "waiting restart"],
            [0, 2],
            # every instance checks its own status when it handles the command
            [("restart", "a", "cron", "launching,online")],
        ),
        (["stopped", "errored"], [], []),
    ],
)
async def test_restart_where_picks_instances_by_status(
    statuses: list[str], chosen: list[int], calls: list[tuple[str, ...]]
) -> None:
    sup = FakeSupervisor(statuses)
    assert await restart_where(sup, "a", "cron", UP) == chosen  # type: ignore[arg-type]
    assert sorted(sup.calls) == calls
