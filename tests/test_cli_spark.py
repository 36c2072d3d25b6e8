"""Sparklines: block characters from numbers, squeezing, gaps, and describe's Usage lines."""

from __future__ import annotations

from supervisor_core.cli._describe import describe_data, render_describe
from supervisor_core.cli._spark import BLOCKS, bucket, sparkline, usage_lines
from supervisor_core.errors import ApiError


def test_each_value_is_a_block_from_zero_to_the_largest() -> None:
    assert BLOCKS == "▁▂▃▄▅▆▇█"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"  # round(0.5 * 7) = 4 → ▅
    assert sparkline([]) == ""


def test_none_is_a_gap_and_flat_or_zero_series_stay_at_the_bottom() -> None:
    assert sparkline([None, 1.0, None, 0.0]) == " █ ▁"
    assert sparkline([0.0, 0.0, 0.0]) == "▁▁▁"
    assert sparkline([None, None]) == "  "


def test_a_fixed_scale_clamps_values() -> None:
    assert sparkline([0.2, 0.5, 1.0, 250.0, -3.0], high=1.0) == "▂▅██▁"
    assert sparkline([0.1, 0.2], high=100.0) == "▁▁"


def test_squeezing_takes_the_mean_or_the_largest_of_each_group() -> None:
    values: list[float | None] = [0, 8, None, None, 4, 4, 2, None]
    assert bucket(values, 4) == [4.0, None, 4.0, 2.0]
    assert bucket(values, 4, peak=True) == [8, None, 4, 2]
    assert bucket([1.0, 2.0], 10) == [1.0, 2.0]  # never stretched
    assert bucket([1.0], 0) == []
    assert sparkline(values, 4) == "█ █▅"
    assert sparkline(values, 4, peak=True) == "█ ▅▃"
    assert len(sparkline([1.0] * 600, 60)) == 60
    assert len(sparkline([1.0] * 1440, 72)) == 72


def _history(cpu: list[float | None], mem: list[float | None]) -> dict:
    return {
        "id": 0,
        "name": "api",
        "instance": 0,
        "second": {"step": 1, "end": 1000, "cpu_percent": cpu, "memory_bytes": mem},
        "minute": {
            "step": 60,
            "end": 960,
            "cpu_percent": [None] * 1440,
            "memory_bytes": [None] * 1440,
        },
    }


def test_describe_shows_cpu_and_memory_sparklines_of_the_last_ten_minutes() -> None:
    cpu: list[float | None] = [None] * 540 + [0.0] * 30 + [50.0] * 30
    mem: list[float | None] = [None] * 540 + [20.0 * 1024**2] * 30 + [40.0 * 1024**2] * 30
    page = render_describe(
        {"name": "api", "processes": [], "history": [_history(cpu, mem)]}, color=False, width=80
    )
    lines = page.splitlines()
    start = lines.index("Usage, last 10 min (a mark is 12 s)")  # 50 marks fit in 80 columns
    cpu_line, mem_line = lines[start + 1], lines[start + 2]
    assert cpu_line == "  0  cpu  " + " " * 45 + "▁▁▅██" + "  max 50%"
    assert mem_line == "     mem  " + " " * 45 + "▅▅███" + "  max 40mb"
    # No minute has a sample yet: no 24-hour lines.
    assert not any(line.startswith("Usage, last 24 h") for line in lines)


def test_the_day_lines_say_what_a_minute_point_is() -> None:
    item = _history([None] * 600, [None] * 600)
    item["minute"] = {
        "step": 60,
        "end": 960,
        "cpu_percent": [None] * 1438 + [2.0, 4.0],
        "memory_bytes": [None] * 1438 + [1024.0, 2048.0],
    }
    lines = usage_lines([item], width=100)
    assert lines[0] == "Usage, last 24 h (a mark is 20 min, a minute's mean cpu and largest memory)"
    # 72 marks; the last is the mean of 2 and 4 on cpu (3 of 4: ▆), the largest on memory.
    assert lines[1] == "  0  cpu  " + " " * 71 + "▆  max 4.0%"
    assert lines[2] == "     mem  " + " " * 71 + "█  max 2.0kb"
    assert usage_lines([_history([None] * 600, [None] * 600)]) == []


class _OldDaemon:
    """A client of a daemon that predates the history API (its route is 404 not_found)."""

    def describe(self, target: str) -> dict:
        return {"name": target, "processes": []}

    def history(self, target: str) -> dict:
        raise ApiError("GET /v1/processes/api/history: no such path", status=404, kind="not_found")


def test_describe_without_history_from_an_older_daemon_has_no_usage() -> None:
    data = describe_data(_OldDaemon(), "api")  # type: ignore[arg-type]
    assert "history" not in data
    assert "Usage" not in render_describe(data, color=False)
