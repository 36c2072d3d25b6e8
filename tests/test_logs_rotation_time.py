"""RotatingWriter by time (log_rotate_interval), compression delay and file mode.

The wall clock is injected, so a day passes in a microsecond; the time zone is set with TZ.
"""

from __future__ import annotations

import calendar
import gzip
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_core.logs import RotatingWriter, rotated_files
from supervisor_core.logs._period import period_of


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Errors(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def utc(text: str) -> float:
    """``2026-12-04 13:05:00`` (UTC) as POSIX seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC by default; a test may set another TZ with ``set_zone``."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def set_zone(monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
    monkeypatch.setenv("TZ", tz)
    time.tzset()


def names(path: Path) -> list[str]:
    return [p.name for p in rotated_files(path)]


def test_daily_rotation_at_the_first_write_of_a_new_day_names_the_day(
    tmp_path: Path, zone: None
) -> None:
    path = tmp_path / "app-out.log"
    clock = Clock(utc("2026-12-04 09:00:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"morning\n")
    clock.now = utc("2026-12-04 23:59:59")
    writer.write(b"last of the 4th\n")
    assert names(path) == []  # nothing rotates at the boundary itself
    clock.now = utc("2026-12-05 00:00:00")
    writer.write(b"first of the 5th\n")
    writer.close()
    assert names(path) == ["app-out__20261204T000000Z-0001.log"]
    assert (tmp_path / names(path)[0]).read_bytes() == b"morning\nlast of the 4th\n"
    assert path.read_bytes() == b"first of the 5th\n"


def test_a_quiet_log_is_named_for_the_day_of_its_lines_not_the_day_it_rotates(
    tmp_path: Path, zone: None
) -> None:
    path = tmp_path / "quiet.log"
    clock = Clock(utc("2026-12-01 12:00:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"on the 1st\n")
    clock.now = utc("2026-12-04 08:00:00")  # three silent days later
    writer.write(b"on the 4th\n")
    writer.close()
    assert names(path) == ["quiet__20261201T000000Z-0001.log"]  # no empty files in between


def test_hourly_rotation(tmp_path: Path, zone: None) -> None:
    path = tmp_path / "h.log"
    clock = Clock(utc("2026-12-04 13:05:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="hourly"
    )
    for minute in ("13:05:00", "13:59:59", "14:00:00", "14:30:00", "16:10:00"):
        clock.now = utc(f"2026-12-04 {minute}")
        writer.write(f"{minute}\n".encode())
    writer.close()
    assert names(path) == ["h__20261204T130000Z-0001.log", "h__20261204T140000Z-0001.log"]
    assert [_read(p) for p in rotated_files(path)] == [
        b"13:05:00\n13:59:59\n",
        b"14:00:00\n14:30:00\n",
    ]
    assert path.read_bytes() == b"16:10:00\n"


def test_days_are_local_days_named_by_their_start_in_utc(
    tmp_path: Path, zone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_zone(monkeypatch, "CST-8")  # UTC+8, no daylight saving (like Asia/Shanghai)
    path = tmp_path / "cn.log"
    clock = Clock(utc("2026-12-04 15:59:59"))  # 23:59:59 on the 4th, local time
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"late on the 4th\n")
    clock.now = utc("2026-12-04 16:00:00")  # local midnight
    writer.write(b"the 5th\n")
    writer.close()
    # The 4th, local time, began at 2026-12-03 16:00 UTC.
    assert names(path) == ["cn__20261203T160000Z-0001.log"]


def test_a_day_across_a_daylight_saving_change_has_25_hours(
    zone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_zone(monkeypatch, "CET-1CEST,M3.5.0,M10.5.0/3")
    start, end = period_of(utc("2026-10-25 12:00:00"), "daily")  # clocks went back at 03:00
    assert (start, end) == (utc("2026-10-24 22:00:00"), utc("2026-10-25 23:00:00"))
    assert end - start == 25 * 3600


def test_size_rotations_within_a_day_share_its_stamp_in_order(tmp_path: Path, zone: None) -> None:
    path = tmp_path / "busy.log"
    clock = Clock(utc("2026-12-04 10:00:00"))
    writer = RotatingWriter(
        path, max_size=20, max_files=3, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    batches = [b"batch %02d..........\n" % i for i in range(5)]  # 20 bytes: one per file
    for batch in batches:
        clock.now += 60
        writer.write(batch)
    clock.now = utc("2026-12-05 00:00:01")
    writer.write(b"next day\n")
    writer.close()
    # Five files of the 4th were rotated (four by size, the last by time); three are kept,
    # the newest three, in the order they were written.
    assert names(path) == [
        "busy__20261204T000000Z-0003.log",
        "busy__20261204T000000Z-0004.log",
        "busy__20261204T000000Z-0005.log",
    ]
    assert [_read(p) for p in rotated_files(path)] == batches[2:]


def test_counters_continue_after_a_restart_even_when_lower_ones_were_pruned(
    tmp_path: Path, zone: None
) -> None:
    path = tmp_path / "r.log"
    (tmp_path / "r__20261204T000000Z-0007.log.gz").write_bytes(b"earlier")
    clock = Clock(utc("2026-12-04 10:00:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"x\n")
    clock.now = utc("2026-12-05 10:00:00")
    writer.write(b"y\n")
    writer.close()
    assert names(path)[-1] == "r__20261204T000000Z-0008.log"


def test_a_file_left_from_an_earlier_day_is_rotated_under_that_day(
    tmp_path: Path, zone: None
) -> None:
    path = tmp_path / "old.log"
    path.write_bytes(b"written on the 2nd\n")
    mtime = utc("2026-12-02 18:00:00")
    os.utime(path, (mtime, mtime))
    clock = Clock(utc("2026-12-04 10:00:00"))  # the daemon starts again two days later
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"today\n")
    writer.close()
    assert names(path) == ["old__20261202T000000Z-0001.log"]
    assert path.read_bytes() == b"today\n"


def test_an_empty_file_is_not_rotated(tmp_path: Path, zone: None) -> None:
    path = tmp_path / "e.log"
    clock = Clock(utc("2026-12-04 10:00:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"x\n")
    writer.truncate()  # ptm flush
    clock.now = utc("2026-12-05 10:00:00")
    writer.write(b"y\n")
    clock.now = utc("2026-12-05 11:00:00")
    writer.write(b"z\n")
    writer.close()
    assert names(path) == []
    assert path.read_bytes() == b"y\nz\n"


@pytest.mark.parametrize("delay", [0, 1, 2])
def test_compress_delay_keeps_the_newest_rotated_files_plain(tmp_path: Path, delay: int) -> None:
    path = tmp_path / "d.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=10, max_files=10, compress=True, compress_delay=delay, on_error=errors
    )
    batches = [b"batch %d...\n" % i for i in range(5)]
    for batch in batches:
        writer.write(batch)
    writer.close(wait=True)
    rotated = rotated_files(path)
    assert len(rotated) == 4
    plain = [p.name.endswith(".log") for p in rotated]
    assert plain == [False] * (4 - delay) + [True] * delay
    assert [_read(p) for p in rotated] == batches[:4]
    assert errors == []


def test_compress_delay_beyond_max_files_compresses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "n.log"
    writer = RotatingWriter(path, max_size=10, max_files=2, compress=True, compress_delay=5)
    for i in range(5):
        writer.write(b"batch %d...\n" % i)
    writer.close(wait=True)
    assert [p.name.endswith(".log") for p in rotated_files(path)] == [True, True]


def test_files_get_exactly_the_file_mode_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "m.log"
    old = os.umask(0o077)  # would make 0640 into 0600
    try:
        writer = RotatingWriter(path, max_size=10, max_files=10, compress=True, file_mode=0o644)
        writer.write(b"0123456789\n")
        writer.write(b"rotates\n")  # the new file after a rotation too
        writer.close(wait=True)
    finally:
        os.umask(old)
    (gz,) = rotated_files(path)
    assert gz.name.endswith(".gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(gz.stat().st_mode) == 0o644


def test_an_existing_file_keeps_its_mode_until_it_is_rotated(tmp_path: Path) -> None:
    path = tmp_path / "keep.log"
    path.write_bytes(b"")
    path.chmod(0o600)
    writer = RotatingWriter(path, max_size=10, max_files=10, compress=False, file_mode=0o640)
    writer.write(b"0123456789\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    writer.write(b"rotates\n")
    writer.close()
    (rotated,) = rotated_files(path)
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_on_open_gets_every_new_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "o.log"
    seen: list[tuple[int, int]] = []

    def on_open(fd: int) -> None:
        st = os.fstat(fd)
        seen.append((st.st_dev, st.st_ino))

    writer = RotatingWriter(path, max_size=10, max_files=10, compress=False, on_open=on_open)
    first = path.stat().st_ino
    writer.write(b"0123456789\n")
    writer.write(b"rotates\n")
    second = path.stat().st_ino
    writer.reopen()
    writer.close()
    assert [ino for _, ino in seen] == [first, second, second]
    assert first != second


def test_a_clock_set_back_does_not_stop_time_rotation(tmp_path: Path, zone: None) -> None:
    """A clock that ran ahead (a wrong RTC at boot) and was set back by NTP: the file of the
    future day is rotated at the next write, and days rotate again from the right one."""
    path = tmp_path / "app.log"
    clock = Clock(utc("2027-06-01 09:00:00"))
    writer = RotatingWriter(
        path, max_size=0, max_files=10, compress=False, wall_clock=clock, rotate_interval="daily"
    )
    writer.write(b"written while the clock was ahead\n")
    clock.now = utc("2026-12-04 09:00:00")  # set back
    writer.write(b"on the 4th\n")
    clock.now = utc("2026-12-05 00:00:01")
    writer.write(b"on the 5th\n")
    writer.close()
    assert names(path) == ["app__20261204T000000Z-0001.log", "app__20270601T000000Z-0001.log"]
    assert (tmp_path / names(path)[0]).read_bytes() == b"on the 4th\n"
    assert path.read_bytes() == b"on the 5th\n"
