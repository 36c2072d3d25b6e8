"""config.py: the environment into Settings; one clear line per bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from point_tron.config import DEFAULT_JWT_SECRET, load_settings, parse_duration_s
from point_tron.errors import SettingsError


def test_defaults() -> None:
    s = load_settings({})
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.db_path == Path("./data/point-tron.db")
    assert s.rpc_url == "https://api.trongrid.io"
    assert s.api_key is None
    assert (s.timeout_ms, s.retry_times, s.polling_interval_ms) == (5000, 3, 3000)
    assert s.jwt_secret is None  # generated beside the database by main
    assert s.jwt_expires_in_s == 7 * 86400
    assert (s.default_admin_username, s.default_admin_password) == ("admin", "admin123")
    assert s.stats_tz.key == "UTC"
    assert s.log_dir is None and s.log_level == "INFO"
    assert s.retention_days == 90 and s.start_block is None
    assert s.production is False and s.listen_fds == 0
    assert s.trusted_proxies == ()  # X-Forwarded-For ignored unless TRUSTED_PROXIES is set


def test_values_are_read() -> None:
    s = load_settings(
        {
            "HOST": "0.0.0.0",
            "PORT": "8080",
            "DB_PATH": "/tmp/x/pt.db",
            "TRON_RPC_URL": "http://127.0.0.1:8090/",
            "TRON_API_KEY": "k-1",
            "TRON_TIMEOUT": "250",
            "TRON_RETRY_TIMES": "1",
            "TRON_POLLING_INTERVAL": "50",
            "JWT_SECRET": "s3cret",
            "JWT_EXPIRES_IN": "24h",
            "STATS_TZ": "Asia/Shanghai",
            "LOG_DIR": "/tmp/logs",
            "LOG_LEVEL": "warn",
            "RETENTION_DAYS": "0",
            "START_BLOCK": "60000000",
            "NODE_ENV": "production",
        }
    )
    assert s.port == 8080 and s.host == "0.0.0.0"
    assert s.rpc_url == "http://127.0.0.1:8090"  # trailing slash dropped
    assert s.api_key == "k-1"
    assert (s.timeout_ms, s.retry_times, s.polling_interval_ms) == (250, 1, 50)
    assert s.jwt_expires_in_s == 86400
    assert s.stats_tz.key == "Asia/Shanghai"
    assert s.log_dir == Path("/tmp/logs") and s.log_level == "WARNING"
    assert s.retention_days == 0 and s.start_block == 60_000_000
    assert s.production


def test_development_logs_debug() -> None:
    assert load_settings({"NODE_ENV": "development"}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("TRON_POLLING_INTERVAL", "3s", "whole number"),
        ("TRON_POLLING_INTERVAL", "0", "at least 1"),
        ("TRON_TIMEOUT", "-5", "at least 1"),
        ("TRON_RETRY_TIMES", "three", "whole number"),
        ("PORT", "70000", "at most 65535"),
        ("TRON_RPC_URL", "api.trongrid.io", "http:// or https://"),
        ("TRON_RPC_URL", "ftp://node", "http:// or https://"),
        ("STATS_TZ", "Mars/Olympus", "unknown time zone"),
        ("STATS_TZ", "../../etc/passwd", "unknown time zone"),
        ("JWT_EXPIRES_IN", "7x", "unit"),
        ("JWT_EXPIRES_IN", "0s", "at least one second"),
        ("LOG_LEVEL", "LOUD", "one of"),
        ("RETENTION_DAYS", "-1", "at least 0"),
        ("START_BLOCK", "head", "whole number"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value})
    message = str(info.value)
    assert message.startswith(f"{variable}={value!r}: ")
    assert problem in message
    assert "\n" not in message
    assert info.value.variable == variable


@pytest.mark.parametrize("variable", ["NODE_ENV", "APP_ENV"])
def test_default_secret_refused_in_production(variable: str) -> None:
    with pytest.raises(SettingsError, match=f"JWT_SECRET.*{variable}=production"):
        load_settings({variable: "production", "JWT_SECRET": DEFAULT_JWT_SECRET})
    assert load_settings({variable: "production", "JWT_SECRET": "x" * 32}).production
    # Unset: main generates a random secret beside the database, in production too.
    assert load_settings({variable: "production"}).jwt_secret is None


def test_listen_fds_only_for_this_process() -> None:
    assert load_settings({"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())}).listen_fds == 1
    assert load_settings({"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid() + 1)}).listen_fds == 0
    assert load_settings({"LISTEN_FDS": "1"}).listen_fds == 0
    with pytest.raises(SettingsError, match="LISTEN_FDS"):
        load_settings({"LISTEN_FDS": "one", "LISTEN_PID": str(os.getpid())})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4321")
    assert load_settings().port == 4321


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604800),
        ("24h", 86400),
        ("30m", 1800),
        ("60s", 60),
        ("1500ms", 1),
        ("90", 90),
        ("1w", 604800),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds
