"""``log_date_format``: moment tokens and strftime, compiled once, fast per call."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from supervisor_core.config import compile_date_format

# 2026-11-28 21:00:00 UTC, a Saturday.
SAT_2100_UTC = 1795899600


def _set_tz(value: str | None) -> None:
    if value is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = value
    time.tzset()


@pytest.fixture
def set_tz() -> Iterator[Callable[[str], None]]:
    saved = os.environ.get("TZ")
    try:
        yield _set_tz
    finally:
        _set_tz(saved)


@pytest.fixture
def utc(set_tz: Callable[[str], None]) -> None:
    set_tz("UTC")


@pytest.mark.usefixtures("utc")
def test_default_format_gives_pm2_iso_text() -> None:
    fmt = compile_date_format("YYYY-MM-DDTHH:mm:ss.SSSZ")
    assert fmt(SAT_2100_UTC + 0.123) == "2026-11-28T21:00:00.123+00:00"
    assert fmt.source == "YYYY-MM-DDTHH:mm:ss.SSSZ"


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("YYYY-MM-DD HH:mm:ss", "2026-11-28 21:00:00"),
        ("YY", "26"),
        ("MMMM MMM MM M", "November Nov 11 11"),
        ("DD D", "28 28"),
        ("dddd ddd", "Saturday Sat"),
        ("HH H hh h A a", "21 21 09 9 PM pm"),
        ("mm m ss s", "00 0 00 0"),
        ("S SS SSS SSSS SSSSSS SSSSSSSSS", "1 12 123 1234 123456 123456000"),
        ("Z ZZ", "+00:00 +0000"),
        ("X", str(SAT_2100_UTC)),
        ("x", f"{SAT_2100_UTC}123"),
        ("[Today is] dddd", "Today is Saturday"),
        ("YYYY [YYYY] MM", "2026 YYYY 11"),
        ("[]HH", "21"),
        (r"\Y\Y HH", "YY 21"),
        ("HH:mm:ss TUVbcfi", "21:00:00 TUVbcfi"),  # not moment tokens: copied
        ("[at] h a", "at 9 pm"),
        ("", ""),
        ("%Y-%m-%d %H:%M:%S.%f %z", "2026-11-28 21:00:00.123456 +0000"),
        ("%H:%M %%f %%", "21:00 %f %"),
        ("%f|%f", "123456|123456"),
        ("%A %B", "Saturday November"),
    ],
)
def test_tokens(fmt: str, expected: str) -> None:
    assert compile_date_format(fmt)(SAT_2100_UTC + 0.123456) == expected


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(
    ("hour", "h12", "ampm"),
    [(0, "12", "AM"), (1, "01", "AM"), (11, "11", "AM"), (12, "12", "PM"), (23, "11", "PM")],
)
def test_twelve_hour_clock(hour: int, h12: str, ampm: str) -> None:
    midnight = SAT_2100_UTC - 21 * 3600
    assert compile_date_format("hh A")(midnight + hour * 3600) == f"{h12} {ampm}"


@pytest.mark.parametrize(
    ("tz", "z", "zz"),
    [
        ("UTC", "+00:00", "+0000"),
        ("CST-8", "+08:00", "+0800"),
        ("EST+5", "-05:00", "-0500"),
        ("IST-5:30", "+05:30", "+0530"),
        ("NST+3:30", "-03:30", "-0330"),
    ],
)
def test_offsets_follow_the_local_zone(
    set_tz: Callable[[str], None], tz: str, z: str, zz: str
) -> None:
    set_tz(tz)
    assert compile_date_format("Z|ZZ")(SAT_2100_UTC) == f"{z}|{zz}"


def test_local_time_zone_is_used(set_tz: Callable[[str], None]) -> None:
    set_tz("CST-8")
    fmt = compile_date_format("YYYY-MM-DDTHH:mm:ss.SSSZ")
    assert fmt(SAT_2100_UTC + 0.5) == "2026-11-29T05:00:00.500+08:00"


@pytest.mark.usefixtures("utc")
def test_matches_datetime_for_many_timestamps() -> None:
    rng = random.Random(1234)
    moment = compile_date_format("YYYY-MM-DD HH:mm:ss.SSS")
    strftime = compile_date_format("%Y-%m-%d %H:%M:%S.%f")
    whole = compile_date_format("YYYY-MM-DD HH:mm:ss")
    stamps = [rng.uniform(0, 4e9) for _ in range(2000)]
    # Runs within one second, and the edges of a second, exercise the cache.
    stamps += [SAT_2100_UTC + i / 7 for i in range(50)]
    stamps += [SAT_2100_UTC - 0.0001, SAT_2100_UTC, SAT_2100_UTC + 0.9999, SAT_2100_UTC + 1]
    for ts in stamps:
        expected = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")
        assert strftime(ts) == expected
        assert moment(ts) == expected[:-3]
        if ts == int(ts) or expected[-6:] != "000000":
            assert whole(ts) == datetime.fromtimestamp(int(ts)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.usefixtures("utc")
def test_timestamps_before_1970_use_the_floor() -> None:
    fmt = compile_date_format("YYYY-MM-DD HH:mm:ss.SSS")
    assert fmt(-0.25) == "1969-12-31 23:59:59.750"
    assert compile_date_format("HH:mm:ss")(-0.25) == "23:59:59"


@pytest.mark.usefixtures("utc")
def test_several_sub_second_tokens() -> None:
    fmt = compile_date_format("ss.SSS|SS|x")
    assert fmt(SAT_2100_UTC + 1.987) == f"01.987|98|{SAT_2100_UTC + 1}987"
    assert fmt(SAT_2100_UTC + 2.004) == f"02.004|00|{SAT_2100_UTC + 2}004"


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize("fmt", ["YYYY-MM-DD HH:mm:ss", "YYYY-MM-DDTHH:mm:ss.SSSZ", "%H:%M:%S.%f"])
def test_whole_second_text_is_computed_once_per_second(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    compiled = compile_date_format(fmt)
    calls: list[float] = []
    real_localtime = time.localtime

    def counting_localtime(secs: float | None = None) -> time.struct_time:
        calls.append(secs if secs is not None else -1)
        return real_localtime(secs)

    monkeypatch.setattr(time, "localtime", counting_localtime)
    texts = {compiled(SAT_2100_UTC + i / 1000) for i in range(1000)}
    assert calls == [SAT_2100_UTC]
    assert len(texts) == (1 if fmt == "YYYY-MM-DD HH:mm:ss" else 1000)
    compiled(SAT_2100_UTC + 1.5)
    assert calls == [SAT_2100_UTC, SAT_2100_UTC + 1]


@pytest.mark.usefixtures("utc")
def test_is_cheap_per_call() -> None:
    # ~1 µs or less per call is expected; the bound is loose so a busy machine cannot fail it.
    fmt = compile_date_format("YYYY-MM-DD HH:mm:ss")
    stamps = [SAT_2100_UTC + i / 200_000 for i in range(200_000)]
    started = time.perf_counter()
    for ts in stamps:
        fmt(ts)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [
        ("Q", "date token 'Q' is not supported; put literal text in \\[brackets\\]"),
        ("Do MMM", "date token 'Do' is not supported"),
        ("DDD", "date token 'DDD' is not supported"),
        ("DDDD", "date token 'DDDD' is not supported"),
        ("d", "date token 'd' is not supported"),
        ("Mo", "date token .Mo. is not supported"),
        ("YYY", "date token 'Y' is not supported"),
        ("W", "date token 'W'"),
        ("w", "date token 'w'"),
        ("E", "date token 'E'"),
        ("kk", "date token 'kk'"),
        ("zz", "date token 'zz'"),
        ("N", "date token 'N'"),
        ("gggg", "date token 'gggg'"),
        ("[HH:mm", "'\\[' without a closing '\\]'"),
        ("%H:%M %", "ends with a lone '%'"),
    ],
)
def test_bad_formats(fmt: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        compile_date_format(fmt)


def test_equal_sources_compare_equal() -> None:
    first = compile_date_format("YYYY-MM-DD HH:mm:ss")
    assert first == compile_date_format("YYYY-MM-DD HH:mm:ss")
    assert hash(first) == hash(compile_date_format("YYYY-MM-DD HH:mm:ss"))
    assert first != compile_date_format("YYYY-MM-DD HH:mm")
    assert first != "YYYY-MM-DD HH:mm:ss"


def test_not_a_string() -> None:
    with pytest.raises(ValueError, match="a date format must be a string"):
        compile_date_format(12)  # type: ignore[arg-type]


def test_every_app_with_the_same_format_shares_its_sub_second_table() -> None:
    """The daemon compiles each app's format; ``SSS`` needs a table of 1,000 strings (60 kB),
    which twenty apps once held twenty times over."""
    import tracemalloc

    compile_date_format("YYYY-MM-DD HH:mm:ss.SSS")  # the first one builds the table
    tracemalloc.start()
    try:
        kept = [compile_date_format("YYYY-MM-DD HH:mm:ss.SSS") for _ in range(20)]
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == 20
    assert used < 20 * 10_000, f"{used} bytes for 20 compiled formats"
