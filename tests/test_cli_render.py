"""What ``ptm`` prints: list table, describe, log lines, monit frame, units, colour choice."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.cli._describe import mask_env, render_describe
from supervisor_core.cli._format import human_bytes, human_duration, use_color
from supervisor_core.cli._lines import LogLine, format_log_line, label_width
from supervisor_core.cli._list import render_list
from supervisor_core.cli._monit_view import MonitState
from supervisor_core.cli._monit_view import render as render_monit
from supervisor_core.config import build_app
from supervisor_core.config._loader import APP_KEYS
from supervisor_core.daemon._views import spec_view
from tests.test_daemon_views import every_setting

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 0,
        "name": "web",
        "instance": 0,
        "pid": 4242,
        "status": "online",
        "restarts": 0,
        "unstable_restarts": 0,
        "uptime_s": 12.5,
        "started_at": "2026-11-28T21:00:00Z",
        "cpu_percent": 0.4,
        "memory_bytes": 41943040,
        "exit_code": None,
        "exec_mode": "fork",
        "out_file": "/home/u/.ptm/logs/web-out.log",
        "error_file": "/home/u/.ptm/logs/web-error.log",
        "last_restart_reason": None,
    }
    base.update(fields)
    return base


MIXED = [
    row(id=0, name="point-tron", pid=12345, restarts=2, uptime_s=11000, cpu_percent=0.4),
    row(id=1, name="api", instance=0, pid=7, exec_mode="cluster", cpu_percent=12.3),
    row(
        id=1,
        name="api",
        instance=1,
        pid=None,
        status="waiting restart",
        restarts=17,
        uptime_s=None,
        cpu_percent=None,
        memory_bytes=None,
        exit_code=1,
        exec_mode="cluster",
    ),
    row(
        id=2,
        name="nightly-report-generator-with-a-long-name",
        pid=None,
        status="stopped",
        uptime_s=None,
        cpu_percent=None,
        memory_bytes=None,
        exit_code=0,
    ),
    row(id=3, name="x", pid=None, status="errored", uptime_s=None, memory_bytes=None),
]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (describe shows run times in local time)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------------------------------------
# Units


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0b"),
        (1, "1b"),
        (1023, "1023b"),
        (1024, "1.0kb"),
        (1536, "1.5kb"),
        (10 * 1024 - 1, "10kb"),
        (340 * 1024, "340kb"),
        (1024 * 1024 - 1, "1.0mb"),  # never "1024kb"
        (int(1.2 * 1024**2), "1.2mb"),
        (41943040, "40mb"),
        (int(2.1 * 1024**3), "2.1gb"),
        (3 * 1024**4, "3.0tb"),
        (5 * 1024**6, "5.0eb"),
        (2**70, "1024eb"),  # beyond the last unit the number grows
    ],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert human_bytes(n) == text


def test_human_bytes_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        human_bytes(-1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (float("nan"), "-"),
        (0, "0s"),
        (0.9, "0s"),
        (45, "45s"),
        (59.99, "59s"),
        (60, "1m"),
        (12 * 60 + 59, "12m"),
        (3599, "59m"),
        (3600, "1h"),
        (3 * 3600 + 1, "3h"),
        (86399, "23h"),
        (86400, "1D"),
        (2.9 * 86400, "2D"),
        (400 * 86400, "400D"),
        (-3, "0s"),  # a clock that went back
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


# ---------------------------------------------------------------------------------------------
# ptm list


def test_list_columns_align_with_mixed_widths() -> None:
    lines = render_list(MIXED, color=False).splitlines()
    assert len(lines) == 3 + len(MIXED) + 1  # rule, header, rule, rows, rule
    assert len({len(line) for line in lines}) == 1
    bars = {tuple(i for i, ch in enumerate(line) if ch in "│┬┼┴┌┐├┤└┘") for line in lines}
    assert len(bars) == 1  # every separator at the same column on every line
    header = [cell.strip() for cell in lines[1].strip("│").split("│")]
    assert header == ["id", "name", "mode", "pid", "status", "↺", "uptime", "cpu", "mem"]


def test_list_cells() -> None:
    lines = render_list(MIXED, color=False).splitlines()
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in lines[3:-1]]
    assert cells[0] == ["0", "point-tron", "fork", "12345", "online", "2", "3h", "0.4%", "40mb"]
    assert cells[1] == ["1", "api:0", "cluster", "7", "online", "0", "12s", "12%", "40mb"]
    assert cells[2] == ["1", "api:1", "cluster", "-", "waiting restart", "17", "-", "-", "-"]
    assert cells[3][1] == "nightly-report-generator-with-a-long-name"
    assert cells[4][:5] == ["3", "x", "fork", "-", "errored"]


def test_list_unknown_values_are_dashes_never_na() -> None:
    empty = {key: None for key in row()}
    text = render_list([empty], color=False)
    assert "N/A" not in text and "None" not in text
    cells = [c.strip() for c in text.splitlines()[3].strip("│").split("│")]
    assert cells == ["-"] * 9


def test_list_numbers_are_right_aligned() -> None:
    lines = render_list([row(pid=7), row(id=1, name="b", pid=123456)], color=False).splitlines()
    pid_cells = [line.split("│")[4] for line in lines[3:5]]
    assert pid_cells == ["      7 ", " 123456 "]


def test_list_without_color_has_no_ansi() -> None:
    assert "\x1b" not in render_list(MIXED, color=False)
    assert "\x1b" not in render_list(MIXED, color=False, width=50)


def test_list_colors_statuses() -> None:
    text = render_list(MIXED, color=True)
    assert "\x1b[32monline\x1b[0m" in text
    assert "\x1b[33mwaiting restart\x1b[0m" in text
    assert "\x1b[90mstopped\x1b[0m" in text
    assert "\x1b[31merrored\x1b[0m" in text
    for status in ("launching", "stopping"):
        assert f"\x1b[33m{status}\x1b[0m" in render_list([row(status=status)], color=True)
    # Colour changes nothing visible.
    assert plain(text) == render_list(MIXED, color=False)


def test_list_truncates_names_to_fit() -> None:
    natural = max(len(line) for line in render_list(MIXED, color=False).splitlines())
    width = natural - 20
    lines = render_list(MIXED, color=False, width=width).splitlines()
    assert max(len(line) for line in lines) <= width
    name = lines[6].split("│")[2].strip()
    assert name == "nightly-report-gener…"  # 41 characters cut by 20, the last one "…"
    header = [cell.strip() for cell in lines[1].strip("│").split("│")]
    assert len(header) == 9  # names shrank; no column had to go


@pytest.mark.parametrize("width", range(36, 140, 7))
def test_list_fits_every_width(width: int) -> None:
    text = render_list(MIXED, color=True, width=width)
    assert max(len(line) for line in plain(text).splitlines()) <= width
    assert "waiting restart" in text  # the status is never dropped or cut


def test_list_narrow_drops_least_useful_columns_first() -> None:
    lines = render_list(MIXED, color=False, width=50).splitlines()
    header = [cell.strip() for cell in lines[1].strip("│").split("│")]
    assert header == ["id", "name", "status", "↺", "mem"]


def test_list_empty_is_a_friendly_hint() -> None:
    text = render_list([], color=True)
    assert "\n" not in text
    assert "ptm start ecosystem.toml" in text


def test_list_single_instance_has_no_suffix() -> None:
    lines = render_list([row(name="web")], color=False).splitlines()
    assert "web " in lines[3] and "web:0" not in lines[3]


# ---------------------------------------------------------------------------------------------
# ptm describe


def test_mask_env() -> None:
    env = {
        "DB_PASSWORD": "hunter2",
        "api_key": "k",
        "GITHUB_TOKEN": "t",
        "MY_SECRET": "s",
        "USER_PWD": "p",
        "Passphrase": "x",
        "LOG_LEVEL": "info",
        "PATH": "/usr/bin",
    }
    masked = mask_env(env)
    assert masked == {
        "DB_PASSWORD": "****",
        "api_key": "****",
        "GITHUB_TOKEN": "****",
        "MY_SECRET": "****",
        "USER_PWD": "****",
        "Passphrase": "****",
        "LOG_LEVEL": "info",
        "PATH": "/usr/bin",
    }


def _posix(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _describe_data(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "server.py").write_text("")
    app = build_app(
        {
            "name": "api",
            "script": "server.py",
            "args": ["--port", "8000", "--title", "my api"],
            "instances": 2,
            "max_memory_restart": "512M",
            "exp_backoff_restart_delay": "100ms",
            "kill_timeout": "8s",
            "kill_signal": "SIGINT",
            "stop_exit_codes": [0, 3],
            "log_date_format": "YYYY-MM-DD HH:mm:ss",
            "health_check": {"url": "http://127.0.0.1:8000/health", "failures": 5},
        },
        base_dir=tmp_path,
    )
    runs = [
        {
            "run_id": 9,
            "instance": 0,
            "pid": 12400,
            "started_at": "2026-11-28T21:12:01Z",
            "ended_at": None,
            "exit_code": None,
            "signal": None,
            "end_reason": None,
            "error": None,
        },
        {
            "run_id": 8,
            "instance": 0,
            "pid": 12390,
            "started_at": "2026-11-28T21:02:00Z",
            "ended_at": "2026-11-28T21:12:00Z",
            "exit_code": None,
            "signal": 9,
            "end_reason": "memory",
            "error": None,
        },
        {
            "run_id": 7,
            "instance": 1,
            "pid": 12391,
            "started_at": _posix("2026-11-28T20:20:00+00:00"),  # POSIX seconds work too
            "ended_at": _posix("2026-11-28T20:20:30+00:00"),
            "exit_code": None,
            "signal": "SIGTERM",
            "end_reason": "stop",
            "error": None,
        },
        {
            "run_id": 6,
            "instance": 0,
            "pid": None,
            "started_at": "2026-11-28T20:00:00Z",
            "ended_at": "2026-11-28T20:00:00Z",
            "exit_code": None,
            "signal": None,
            "end_reason": "spawn failed",
            "error": "no such file: server.py",
        },
        {
            "run_id": 5,
            "instance": 0,
            "pid": 12377,
            "started_at": "2026-11-28T19:00:00+00:00",
            "ended_at": "2026-11-28T19:01:58+00:00",
            "exit_code": 1,
            "signal": None,
            "end_reason": "crash",
            "error": None,
        },
    ]
    return {
        "name": "api",
        "id": None,
        "ids": [1, 2],
        "source": "/srv/api/ecosystem.toml",
        "processes": [
            row(id=1, name="api", instance=0, pid=12400, restarts=3, last_restart_reason="memory"),
            row(id=2, name="api", instance=1, pid=12433, restarts=1, last_restart_reason="stop"),
        ],
        "spec": spec_view(app),
        "env": {"LOG_LEVEL": "info", "DB_PASSWORD": "hunter2", "api_token": "abc123"},
        "runs": runs,
    }


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i] and lines[i][0] != " " and lines[i][0] not in "┌│├└"
        ),
        len(lines),
    )
    return lines[start + 1 : end]


def test_describe_sections(tmp_path: Path, utc: None) -> None:
    text = render_describe(_describe_data(tmp_path), color=False)
    assert "\x1b" not in text
    assert text.splitlines()[0] == "api (ids 1, 2, 2 instances, from /srv/api/ecosystem.toml)"
    for title in ("Processes", "Config", "Environment", "Restart history"):
        assert any(line.startswith(title) for line in text.splitlines()), title


def test_describe_of_one_process_names_it(tmp_path: Path, utc: None) -> None:
    """``ptm describe 2``: the daemon sends that process's row only."""
    data = _describe_data(tmp_path)
    data.update(id=2, ids=[2], processes=data["processes"][1:])
    text = render_describe(data, color=False)
    assert text.splitlines()[0] == "api:1 (id 2, instance 1 of 2, from /srv/api/ecosystem.toml)"


def test_describe_masks_secrets(tmp_path: Path, utc: None) -> None:
    text = render_describe(_describe_data(tmp_path), color=False)
    env = [line.split() for line in _section(text, "Environment") if line.strip()]
    assert env == [["DB_PASSWORD", "****"], ["LOG_LEVEL", "info"], ["api_token", "****"]]
    assert "hunter2" not in text and "abc123" not in text


def test_describe_config_in_file_units(tmp_path: Path, utc: None) -> None:
    text = render_describe(_describe_data(tmp_path), color=False)
    config = {
        parts[0]: parts[1]
        for parts in (line.strip().split(None, 1) for line in _section(text, "Config"))
        if len(parts) == 2
    }
    assert config["script"] == "server.py"
    assert config["args"] == "--port 8000 --title 'my api'"
    assert config["cwd"] == str(tmp_path)
    assert config["interpreter"] == sys.executable or config["interpreter"].endswith("python")
    assert config["instances"] == "2"
    assert config["kill_signal"] == "SIGINT"
    assert config["kill_timeout"] == "8s"
    assert config["max_memory_restart"] == "512mb"
    assert config["exp_backoff_restart_delay"] == "100ms"
    assert config["min_uptime"] == "1s"
    assert config["restart_delay"] == "0s"
    assert config["stop_exit_codes"] == "0, 3"
    assert config["log_date_format"] == "YYYY-MM-DD HH:mm:ss"
    assert config["log_file_max_size"] == "10mb"
    assert config["health_check"] == (
        "http://127.0.0.1:8000/health, every 10s, timeout 2s, restart after 5 failures"
    )
    assert config["listen"] == "-"
    assert config["out_file"].endswith("/logs/api-out.log")


def test_describe_reads_seconds_suffixed_keys() -> None:
    spec = {
        "argv": ["/usr/bin/python3", "/srv/w.py", "--fast"],
        "min_uptime_s": 1.0,
        "kill_timeout_s": 1.6,
        "restart_delay_s": 0.25,
        "exp_backoff_restart_delay_s": None,
        "max_memory_restart": 200 * 1024 * 1024,
        "something_new": 3,
    }
    text = render_describe({"name": "w", "spec": spec}, color=False)
    config = dict(line.strip().split(None, 1) for line in _section(text, "Config") if line)
    assert config == {
        "argv": "/usr/bin/python3 /srv/w.py --fast",
        "min_uptime": "1s",
        "restart_delay": "250ms",
        "exp_backoff_restart_delay": "-",
        "kill_timeout": "1.6s",
        "max_memory_restart": "200mb",
        "something_new": "3",
    }


def test_describe_shows_every_key_of_the_spec_view_under_a_file_key(tmp_path: Path) -> None:
    text = render_describe({"name": "web", "spec": spec_view(every_setting(tmp_path))}, color=False)
    config = dict(line.strip().split(None, 1) for line in _section(text, "Config") if line)
    # The ecosystem file's keys (``command`` is shown as ``argv``; name and env have their own
    # place), plus what the file does not set: the --env name and the backoff cap.
    assert set(config) == (APP_KEYS - {"name", "command", "env"}) | {
        "argv",
        "env_name",
        "backoff_cap",
    }
    assert config["stop_exit_codes"] == "0, 3"
    assert config["min_uptime"] == "2.5s"
    assert config["restart_delay"] == "250ms"
    assert config["backoff_cap"] == "30s"
    assert config["memory_check_interval"] == "2s"
    assert config["max_memory_restart"] == "512mb"
    assert config["log_file_max_size"] == "1.0kb"
    assert config["wait_ready"] == "true"
    assert config["listen_timeout"] == "4s"
    assert config["cron_restart"] == "0 3 * * *"
    assert config["watch"] == str(tmp_path / "src")
    assert config["ignore_watch"] == "*.pyc"
    assert config["health_check"] == (
        "http://127.0.0.1:8000/health, every 1m, timeout 3s, restart after 4 failures"
    )
    assert config["listen"] == "0.0.0.0:8000"
    assert config["autostart"] == "false"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (0.1, "100ms"), (1.6, "1.6s"), (59, "59s"), (60, "1m"), (90, "90s"),
     (300, "5m"), (3600, "1h"), (5400, "90m"), (7200, "2h")],
)  # fmt: skip
def test_describe_durations_in_file_notation(seconds: float, shown: str) -> None:
    text = render_describe({"name": "w", "spec": {"kill_timeout_s": seconds}}, color=False)
    assert _section(text, "Config")[0] == f"  kill_timeout  {shown}"


def test_describe_run_history_with_signal_exits(tmp_path: Path, utc: None) -> None:
    text = render_describe(_describe_data(tmp_path), color=False)
    history = _section(text, "Restart history")
    assert text.count("Restart history (newest first, 5)") == 1
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in history[3:-1]]
    header = [c.strip() for c in history[1].strip("│").split("│")]
    assert header == ["started", "ended", "instance", "pid", "ran", "exit", "reason"]
    assert cells[0] == ["2026-11-28 21:12:01", "-", "0", "12400", "-", "running", "-"]
    assert cells[1] == [
        "2026-11-28 21:02:00",
        "2026-11-28 21:12:00",
        "0",
        "12390",
        "10m",
        "SIGKILL",
        "memory",
    ]
    assert cells[2][0] == "2026-11-28 20:20:00"
    assert cells[2][4:] == ["30s", "SIGTERM", "stop"]
    assert cells[3][3:] == ["-", "0s", "-", "spawn failed: no such file: server.py"]
    assert cells[4][4:] == ["1m", "1", "crash"]


def test_describe_history_is_limited(tmp_path: Path, utc: None) -> None:
    data = _describe_data(tmp_path)
    data["runs"] = data["runs"] * 3
    text = render_describe(data, color=False, history=4)
    assert "Restart history (newest first, 4 of 15)" in text
    assert len(_section(text, "Restart history")) == 3 + 4 + 1


def test_describe_colors_and_fits(tmp_path: Path, utc: None) -> None:
    data = _describe_data(tmp_path)
    colored = render_describe(data, color=True, width=70)
    assert "\x1b[31mSIGKILL\x1b[0m" in colored
    assert "\x1b[32monline\x1b[0m" in colored
    assert plain(colored) == render_describe(data, color=False, width=70)
    tables = [line for line in plain(colored).splitlines() if line[:1] in "┌│├└"]
    assert tables and max(len(line) for line in tables) <= 70


def test_describe_minimal_data() -> None:
    text = render_describe({"name": "solo"}, color=False)
    assert text.startswith("solo (0 instances)")
    assert "no run yet" in text
    assert "N/A" not in text


def test_spec_view_is_json_safe(tmp_path: Path) -> None:
    (tmp_path / "w.py").write_text("")
    spec = spec_view(build_app({"name": "w", "script": "w.py"}, base_dir=tmp_path))
    assert json.loads(json.dumps(spec)) == spec
    assert spec["kill_signal"] == "SIGTERM"
    assert spec["kill_timeout_s"] == 5.0
    assert spec["max_memory_restart"] is None


# ---------------------------------------------------------------------------------------------
# ptm logs


def test_log_line_plain() -> None:
    assert format_log_line("api", 0, "out", "hello\n", color=False, width=0) == "api | hello"
    assert format_log_line("api", 0, "err", "oops", color=False, width=0) == "api ! oops"


def test_log_lines_align_and_name_instances() -> None:
    width = label_width({"api": 2, "point-tron": 1})
    assert width == len("point-tron")
    a = format_log_line("api", 1, "out", "x", color=False, width=width, instances=2)
    b = format_log_line("point-tron", 0, "out", "y", color=False, width=width)
    c = format_log_line("api", 0, "out", "z", color=False, width=width, instances=2)
    assert a == "api:1      | x"
    assert b == "point-tron | y"
    assert c == "api:0      | z"
    assert a.index("|") == b.index("|") == c.index("|")


def test_log_line_keeps_long_text() -> None:
    text = "x" * 500
    assert format_log_line("a", 0, "out", text, color=False, width=3).endswith(text)


def test_log_line_colors() -> None:
    out = format_log_line("api", 0, "out", "hello", color=True, width=0)
    err = format_log_line("api", 0, "err", "oops", color=True, width=0)
    assert out.startswith("\x1b[") and plain(out) == "api | hello"
    assert "\x1b[31moops\x1b[0m" in err and plain(err) == "api ! oops"
    # One app, one colour; the colour does not depend on the stream.
    assert out.split("api")[0] == err.split("api")[0]


# ---------------------------------------------------------------------------------------------
# use_color


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_use_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_color(_Stream(tty=True))
    assert not use_color(_Stream(tty=False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Stream(tty=True))
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
    assert use_color(_Stream(tty=True))
    monkeypatch.setenv("TERM", "dumb")
    assert not use_color(_Stream(tty=True))
    monkeypatch.setenv("TERM", "xterm")
    closed = io.StringIO()
    closed.close()
    assert not use_color(closed)


# ---------------------------------------------------------------------------------------------
# ptm monit (the screen; the keys are driven in tests/e2e/test_monit_tty.py)

LOGS = [LogLine("api", 0, "err" if i % 5 == 0 else "out", f"line {i}") for i in range(40)]
SECONDS = [float(i % 10) for i in range(60)]


def monit_state(**changes: Any) -> MonitState:
    state = MonitState(
        rows=MIXED,
        recent={("api", 0): (list(SECONDS), [50e6] * 50 + [100e6] * 10)},
        detail={
            "second": {"step": 1, "end": 0, "cpu_percent": SECONDS * 10, "memory_bytes": []},
            "minute": {"step": 60, "end": 0, "cpu_percent": [None] * 1440, "memory_bytes": []},
        },
        logs=LOGS,
        selected=("api", 0),
    )
    for key, value in changes.items():
        setattr(state, key, value)
    return state


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40), (40, 12), (20, 6), (200, 8)])
def test_monit_screen_fills_the_terminal_exactly(width: int, height: int) -> None:
    for color in (False, True):
        for state in (monit_state(), monit_state(question="restart api?"), MonitState()):
            lines = render_monit(state, width=width, height=height, color=color)
            assert len(lines) == height
            assert max(len(plain(line)) for line in lines) <= width
            if not color:
                assert not any("\x1b" in line for line in lines)


def test_monit_screen_lists_selects_and_shows_the_selected_process() -> None:
    lines = render_monit(monit_state(), width=110, height=30)
    assert lines[0].startswith("ptm monit · 4 apps · 2/5 online")
    assert lines[0].endswith("q or Ctrl-C to quit")
    listed = [line for line in lines if " api:" in line or " point-tron " in line]
    selected = [line for line in listed if line.startswith("▶")]
    assert len(selected) == 1 and " api:0 " in selected[0]
    # The selected row's cpu sparkline: the last seconds, one mark each, on a 0-9% scale.
    assert "▁▂▃▃▄▅▆▆▇█" in selected[0] and "12%" in selected[0]
    assert "▅▅▅▅██████████ " in selected[0]  # memory, 50 then 100 MB, on a scale from 0
    assert any(line.startswith("── api:0 ") for line in lines)
    assert any("pid 7 · online" in line for line in lines)
    assert any(line.strip().startswith("10 min  cpu") for line in lines)
    # Its newest log lines fill the rest; stderr is marked with !.
    assert lines[-2] == "| line 39" and "! line 35" in lines
    assert lines[-1].startswith("↑↓ select  r restart  l reload  s stop  t start")


def test_monit_screen_filter_question_and_message() -> None:
    lines = render_monit(monit_state(filter="api", filtering=True), width=100, height=20)
    assert "filter: api" in lines[0]
    assert not any(" point-tron " in line for line in lines)
    assert lines[-1].startswith("/api▏")
    lines = render_monit(monit_state(filter="zzz"), width=100, height=20)
    assert "No process matches 'zzz'." in lines
    lines = render_monit(monit_state(question="restart api?"), width=100, height=20)
    assert lines[-1] == "restart api? (y/n)"
    lines = render_monit(monit_state(message="restarted api"), width=100, height=20)
    assert lines[-1] == "restarted api"


def test_monit_screen_scrolls_to_the_selected_row() -> None:
    rows = [row(id=i, name=f"app{i}") for i in range(30)]
    lines = render_monit(
        MonitState(rows=rows, selected=("app25", 0)), width=80, height=20, color=False
    )
    assert any(line.startswith("▶") and " app25 " in line for line in lines)
    assert not any(" app0 " in line for line in lines)


def test_monit_screen_narrow_leaves_the_sparklines_out() -> None:
    lines = render_monit(monit_state(), width=60, height=20)
    assert not any(c in "".join(lines[:6]) for c in "▁▂▃▄▅▆▇█")
    assert "12%" in next(line for line in lines if line.startswith("▶"))


def test_monit_no_apps() -> None:
    lines = render_monit(MonitState(), width=60, height=8)
    assert "No app is running. Start one with: ptm start ecosystem.toml" in lines
    assert len(lines) == 8


# ---------------------------------------------------------------------------------------------
# Import cost


def test_render_imports_only_the_standard_library() -> None:
    heavy = ["anyio", "httpx", "psutil", "starlette", "uvicorn", "aiosqlite", "blessed"]
    code = (
        "import sys, json\n"
        "import supervisor_core.cli._describe, supervisor_core.cli._lines\n"
        "import supervisor_core.cli._list, supervisor_core.cli._monit_view\n"
        "import supervisor_core.cli._monit, supervisor_core.cli._monit_data\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert json.loads(result.stdout) == []


# ---------------------------------------------------------------------------------------------
# docs/cli.md shows real output

DOC_ROWS = [
    row(
        id=0,
        name="point-tron",
        pid=48213,
        restarts=2,
        uptime_s=3 * 3600 + 720,
        memory_bytes=44_040_192,
        last_restart_reason="memory",
    ),
    row(
        id=1,
        name="api",
        pid=48230,
        exec_mode="cluster",
        uptime_s=754,
        cpu_percent=12.3,
        memory_bytes=52_428_800,
    ),
    row(
        id=2,
        name="api",
        instance=1,
        pid=None,
        exec_mode="cluster",
        status="waiting restart",
        restarts=5,
        unstable_restarts=3,
        uptime_s=None,
        cpu_percent=None,
        memory_bytes=None,
        exit_code=1,
    ),
    row(
        id=3,
        name="nightly-report-generator",
        pid=None,
        status="stopped",
        uptime_s=None,
        cpu_percent=None,
        memory_bytes=None,
    ),
    row(
        id=4,
        name="tron-sim",
        pid=None,
        status="errored",
        restarts=16,
        uptime_s=None,
        cpu_percent=None,
        memory_bytes=None,
    ),
]


def test_docs_show_the_real_list() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    assert render_list(DOC_ROWS, color=False) in doc
    assert render_list(DOC_ROWS, color=False, width=60) in doc
    assert render_list([], color=False) in doc
