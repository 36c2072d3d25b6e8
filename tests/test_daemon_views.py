"""The API's JSON views, without a daemon: every setting of an AppSpec is in the spec view."""

from __future__ import annotations

import dataclasses
import json
import signal
import typing
from pathlib import Path
from typing import Any

from supervisor_core import RunRecord
from supervisor_core._info import ProcessInfo
from supervisor_core.config import (
    AppSpec,
    HealthCheckSpec,
    ListenSpec,
    LogSpec,
    MemoryPolicy,
    ReadinessSpec,
    RestartPolicy,
    StopPolicy,
    WatchSpec,
    compile_date_format,
)
from supervisor_core.daemon._views import iso, process_row, run_row, spec_view

# Where each setting of an AppSpec is in the spec view. ``name`` and ``env`` are describe's own
# ``name`` and ``env``, beside ``spec``.
WHERE: dict[str, str | None] = {
    "name": None,
    "env": None,
    "argv": "argv",
    "cwd": "cwd",
    "script": "script",
    "args": "args",
    "interpreter": "interpreter",
    "interpreter_args": "interpreter_args",
    "instances": "instances",
    "exec_mode": "exec_mode",
    "increment_var": "increment_var",
    "env_name": "env_name",
    "restart.autorestart": "autorestart",
    "restart.stop_exit_codes": "stop_exit_codes",
    "restart.max_restarts": "max_restarts",
    "restart.min_uptime": "min_uptime_s",
    "restart.restart_delay": "restart_delay_s",
    "restart.exp_backoff_restart_delay": "exp_backoff_restart_delay_s",
    "restart.backoff_cap": "backoff_cap_s",
    "stop.kill_signal": "kill_signal",
    "stop.kill_timeout": "kill_timeout_s",
    "memory.max_memory_restart": "max_memory_restart",
    "memory.memory_check_interval": "memory_check_interval_s",
    "readiness.wait_ready": "wait_ready",
    "readiness.listen_timeout": "listen_timeout_s",
    "logs.out_file": "out_file",
    "logs.error_file": "error_file",
    "logs.merge_logs": "merge_logs",
    "logs.date_format": "log_date_format",
    "logs.max_size": "log_file_max_size",
    "logs.max_files": "log_file_max_files",
    "logs.compress": "log_compress",
    "logs.rotate_interval": "log_rotate_interval",
    "logs.compress_delay": "log_compress_delay",
    "logs.file_mode": "log_file_mode",
    "health_check.url": "health_check.url",
    "health_check.interval": "health_check.interval_s",
    "health_check.timeout": "health_check.timeout_s",
    "health_check.failures": "health_check.failures",
    "listen.port": "listen.port",
    "listen.host": "listen.host",
    "cron_restart": "cron_restart",
    "watch.paths": "watch",
    "watch.ignore": "ignore_watch",
    "autostart": "autostart",
    "user": "user",
    "group": "group",
}


def setting_paths(cls: type, prefix: str = "") -> set[str]:
    """Every leaf setting of a spec dataclass, as ``field`` or ``group.field``."""
    hints = typing.get_type_hints(cls)
    paths: set[str] = set()
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        groups = [t for t in (typing.get_args(hint) or (hint,)) if dataclasses.is_dataclass(t)]
        if groups:
            paths |= setting_paths(groups[0], f"{prefix}{field.name}.")
        else:
            paths.add(prefix + field.name)
    return paths


def every_setting(tmp_path: Path) -> AppSpec:
    """An AppSpec in which no setting has its default value."""
    return AppSpec(
        name="web",
        argv=("/usr/bin/python3", "-X", "dev", str(tmp_path / "web.py"), "--port", "8000"),
        cwd=tmp_path,
        script="web.py",
        args=("--port", "8000"),
        interpreter="/usr/bin/python3",
        interpreter_args=("-X", "dev"),
        instances=3,
        exec_mode="cluster",
        env={"LOG_LEVEL": "debug"},
        env_name="production",
        restart=RestartPolicy(
            autorestart=False,
            stop_exit_codes=frozenset({3, 0}),
            max_restarts=4,
            min_uptime=2.5,
            restart_delay=0.25,
            exp_backoff_restart_delay=0.1,
            backoff_cap=30.0,
        ),
        stop=StopPolicy(kill_signal=signal.SIGINT, kill_timeout=8.0),
        memory=MemoryPolicy(max_memory_restart=512 * 1024 * 1024, memory_check_interval=2.0),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=4.0),
        logs=LogSpec(
            out_file=tmp_path / "out.log",
            error_file=tmp_path / "err.log",
            merge_logs=False,
            date_format=compile_date_format("HH:mm:ss"),
            max_size=1024,
            max_files=3,
            compress=True,
            rotate_interval="hourly",
            compress_delay=1,
            file_mode=0o600,
        ),
        health_check=HealthCheckSpec(
            url="http://127.0.0.1:8000/health", interval=60.0, timeout=3.0, failures=4
        ),
        listen=ListenSpec(port=8000, host="0.0.0.0"),
        cron_restart="0 3 * * *",
        increment_var="PORT",
        watch=WatchSpec(paths=(tmp_path / "src",), ignore=("*.pyc",)),
        autostart=False,
        user="nobody",
        group="nogroup",
    )


def lookup(view: dict[str, Any], where: str) -> Any:
    value: Any = view
    for part in where.split("."):
        value = value[part]
    return value


def test_the_spec_view_shows_every_setting_of_an_app_spec(tmp_path: Path) -> None:
    assert setting_paths(AppSpec) == set(WHERE)  # a new setting must be placed in the view
    view = spec_view(every_setting(tmp_path))
    assert json.loads(json.dumps(view)) == view
    shown = {where.split(".")[0] for where in WHERE.values() if where is not None}
    assert set(view) == shown
    for where in WHERE.values():
        if where is not None:
            assert lookup(view, where) is not None, where
    assert view["stop_exit_codes"] == [0, 3]
    assert view["kill_signal"] == "SIGINT"
    assert view["min_uptime_s"] == 2.5 and view["backoff_cap_s"] == 30.0
    assert view["watch"] == [str(tmp_path / "src")] and view["ignore_watch"] == ["*.pyc"]
    assert view["health_check"] == {
        "url": "http://127.0.0.1:8000/health",
        "interval_s": 60.0,
        "timeout_s": 3.0,
        "failures": 4,
    }
    assert view["listen"] == {"host": "0.0.0.0", "port": 8000}
    assert view["log_date_format"] == "HH:mm:ss"
    assert view["log_rotate_interval"] == "hourly" and view["log_compress_delay"] == 1
    assert view["log_file_mode"] == "0600"  # as written in the file: octal text
    assert view["autostart"] is False and view["wait_ready"] is True


def test_unset_settings_are_null(tmp_path: Path) -> None:
    view = spec_view(AppSpec(name="w", argv=("w",), cwd=tmp_path))
    for key in ("health_check", "listen", "cron_restart", "interpreter", "out_file"):
        assert view[key] is None, key
    assert view["watch"] == [] and view["ignore_watch"] == []


def test_process_and_run_rows() -> None:
    info = ProcessInfo(
        name="web",
        instance=1,
        pid=4242,
        status="online",
        restarts=2,
        unstable_restarts=0,
        started_at=0.0,
        uptime=12.34567,
        cpu_percent=0.5,
        memory_bytes=1024,
        exit_code=None,
        last_restart_reason="manual",
        health={"ok": True, "detail": "HTTP 200", "at": "1970-01-01T00:00:00.000Z"},
    )
    row = process_row(info, process_id=3, desired="running")
    assert row["id"] == row["pm_id"] == 3  # the process's own id, under PM2's name too
    assert row["instance"] == 1 and row["desired"] == "running"
    assert row["uptime_s"] == 12.346 and row["started_at"] == "1970-01-01T00:00:00Z"
    assert row["health"] == {"ok": True, "detail": "HTTP 200", "at": "1970-01-01T00:00:00.000Z"}
    run = RunRecord(
        run_id="r1",
        app="web",
        instance=1,
        pid=None,
        create_time=None,
        started_at=86400.0,
        ended_at=None,
        exit_code=None,
        signal=None,
        end_reason=None,
        error=None,
    )
    assert run_row(run) == {
        "run_id": "r1",
        "instance": 1,
        "pid": None,
        "started_at": "1970-01-02T00:00:00Z",
        "ended_at": None,
        "exit_code": None,
        "signal": None,
        "end_reason": None,
        "error": None,
    }
    assert iso(None) is None
