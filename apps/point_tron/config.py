"""The environment, read once into a frozen Settings; every bad value is a SettingsError.

| variable | default |
|---|---|
| HOST, PORT | 127.0.0.1, 3000 |
| DB_PATH | ./data/point-tron.db |
| TRON_RPC_URL, TRON_API_KEY | https://api.trongrid.io, unset |
| TRON_TIMEOUT, TRON_RETRY_TIMES, TRON_POLLING_INTERVAL | 5000 ms, 3, 3000 ms |
| JWT_SECRET, JWT_EXPIRES_IN | unset: generated beside the database (see secret_file), 7d |
| DEFAULT_ADMIN_USERNAME, DEFAULT_ADMIN_PASSWORD | admin, admin123 |
| STATS_TZ | UTC |
| LOG_DIR, LOG_LEVEL | unset (stdout), INFO (DEBUG when NODE_ENV=development) |
| (in LOG_DIR) | point-tron.log; point-tron-N.log for instance N > 0 (PTM_INSTANCE, ...) |
| ACCESS_LOG | 0: no line per request; 1 logs method, path, status and milliseconds |
| RETENTION_DAYS | 90 (0 keeps everything) |
| START_BLOCK | unset: a fresh database starts at the head |
| NODE_ENV / APP_ENV | "production" in either turns on `production` |
| LISTEN_FDS, LISTEN_PID | socket activation: fds from 3 when LISTEN_PID is this process |
| TRUSTED_PROXIES | unset: X-Forwarded-For/-Proto are ignored; else addresses/networks (a,b/24) |
| POLLER | auto: poll when PTM_INSTANCE (else NODE_APP_INSTANCE) is unset or 0; on; off |
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from point_tron.errors import SettingsError

__all__ = ["DEFAULT_JWT_SECRET", "Settings", "load_settings", "parse_duration_s"]

DEFAULT_JWT_SECRET = "your-super-secret-jwt-key-change-in-production"
"""The original's published default: warned about when set explicitly, refused in production."""
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)?\s*$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31557600}


@dataclass(frozen=True)
class Settings:
    """Everything Point-Tron reads from its environment, validated."""

    host: str
    port: int
    db_path: Path
    rpc_url: str
    api_key: str | None
    timeout_ms: int
    retry_times: int
    polling_interval_ms: int
    jwt_secret: str | None  # None: use the secret generated beside the database
    jwt_expires_in_s: int
    default_admin_username: str
    default_admin_password: str
    stats_tz: zoneinfo.ZoneInfo
    log_dir: Path | None
    log_level: str
    retention_days: int
    start_block: int | None
    production: bool
    listen_fds: int
    trusted_proxies: tuple[str, ...] = ()  # whose X-Forwarded-For names the client
    polls: bool = True  # False: follow the database the polling instance fills (POLLER)
    log_name: str = "point-tron.log"  # in log_dir: point-tron-N.log for instance N > 0
    access_log: bool = False  # one INFO line per HTTP request (ACCESS_LOG)


def parse_duration_s(text: str) -> int:
    """`7d`, `24h`, `30m`, `60s`, `1500ms` (the `ms` package's units) → whole seconds.

    A bare number is seconds (as jsonwebtoken treats a numeric expiresIn). Raises ValueError.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("expected a number with an optional unit ms, s, m, h, d, w or y")
    seconds = float(match.group(1)) * _UNIT_S[(match.group(2) or "s").lower()]
    if seconds < 1:
        raise ValueError("must be at least one second")
    return int(seconds)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read Settings from `environ` (default os.environ). Raises SettingsError."""
    env = os.environ if environ is None else environ
    reader = _Reader(env)
    node_env = env.get("NODE_ENV", "").strip().lower()
    app_env = env.get("APP_ENV", "").strip().lower()
    production = "production" in (node_env, app_env)

    jwt_secret = reader.optional_text("JWT_SECRET")
    if production and jwt_secret == DEFAULT_JWT_SECRET:
        which = "NODE_ENV" if node_env == "production" else "APP_ENV"
        raise SettingsError(
            "JWT_SECRET", "<default>", f"set a secret of your own when {which}=production"
        )
    level_default = "DEBUG" if node_env == "development" else "INFO"
    log_level = reader.text("LOG_LEVEL", level_default).upper()
    if log_level not in _LOG_LEVELS:
        raise SettingsError("LOG_LEVEL", log_level, f"expected one of {', '.join(_LOG_LEVELS)}")
    log_dir = env.get("LOG_DIR", "").strip()
    api_key = env.get("TRON_API_KEY", "").strip()

    return Settings(
        host=reader.text("HOST", "127.0.0.1"),
        port=reader.integer("PORT", 3000, minimum=0, maximum=65535),
        db_path=Path(reader.text("DB_PATH", "./data/point-tron.db")),
        rpc_url=reader.url("TRON_RPC_URL", "https://api.trongrid.io"),
        api_key=api_key or None,
        timeout_ms=reader.integer("TRON_TIMEOUT", 5000, minimum=1),
        retry_times=reader.integer("TRON_RETRY_TIMES", 3, minimum=1, maximum=100),
        polling_interval_ms=reader.integer("TRON_POLLING_INTERVAL", 3000, minimum=1),
        jwt_secret=jwt_secret,
        jwt_expires_in_s=reader.duration("JWT_EXPIRES_IN", "7d"),
        default_admin_username=reader.text("DEFAULT_ADMIN_USERNAME", "admin"),
        default_admin_password=reader.text("DEFAULT_ADMIN_PASSWORD", "admin123"),
        stats_tz=reader.zone("STATS_TZ", "UTC"),
        log_dir=Path(log_dir) if log_dir else None,
        log_level="WARNING" if log_level == "WARN" else log_level,
        retention_days=reader.integer("RETENTION_DAYS", 90, minimum=0),
        start_block=reader.optional_integer("START_BLOCK", minimum=0),
        production=production,
        listen_fds=_listen_fds(env),
        trusted_proxies=reader.proxies("TRUSTED_PROXIES"),
        polls=_polls(env),
        log_name=_log_name(env),
        access_log=reader.switch("ACCESS_LOG", False),
    )


POLLER_CHOICES = ("auto", "on", "off")


def _polls(env: Mapping[str, str]) -> bool:
    """POLLER: ``on``, ``off``, or ``auto`` (the default): poll unless a supervisor's instance
    number (PTM_INSTANCE, else NODE_APP_INSTANCE) says this is not instance 0. Instances of
    one app share the database, and one poller is enough: the others follow it."""
    raw = _Reader(env).text("POLLER", "auto").lower()
    if raw not in POLLER_CHOICES:
        raise SettingsError("POLLER", raw, f"expected one of {', '.join(POLLER_CHOICES)}")
    if raw != "auto":
        return raw == "on"
    instance = _instance(env)
    return instance is None or instance == "0"


def _instance(env: Mapping[str, str]) -> str | None:
    """The instance number a supervisor gives (PTM_INSTANCE, else NODE_APP_INSTANCE)."""
    for name in ("PTM_INSTANCE", "NODE_APP_INSTANCE"):
        instance = env.get(name, "").strip()
        if instance:
            return instance
    return None


def _log_name(env: Mapping[str, str]) -> str:
    """The file in LOG_DIR: ``point-tron.log``, ``point-tron-N.log`` for instance N > 0.

    Instances of one app share LOG_DIR, and each rotates its file at midnight by renaming it:
    two processes renaming one file lose the day before and write on under its name."""
    instance = _instance(env)
    if instance is not None and instance.isdigit() and int(instance) > 0:
        return f"point-tron-{int(instance)}.log"
    return "point-tron.log"


def _listen_fds(env: Mapping[str, str]) -> int:
    """The systemd convention: LISTEN_FDS counts only when LISTEN_PID names this process."""
    if "LISTEN_FDS" not in env:
        return 0
    reader = _Reader(env)
    count = reader.integer("LISTEN_FDS", 0, minimum=0)
    pid = reader.optional_integer("LISTEN_PID", minimum=1)
    return count if pid == os.getpid() else 0


class _Reader:
    """Casts one variable at a time, raising SettingsError that names it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.optional_integer(name, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def optional_integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            value = int(raw, 10)
        except ValueError:
            raise SettingsError(name, raw, "expected a whole number") from None
        if minimum is not None and value < minimum:
            raise SettingsError(name, raw, f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise SettingsError(name, raw, f"must be at most {maximum}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, raw, "expected 1 or 0 (true/false, yes/no, on/off)")

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise SettingsError(name, value, "expected an http:// or https:// URL")
        return value.rstrip("/")

    def duration(self, name: str, default: str) -> int:
        raw = self.text(name, default)
        try:
            return parse_duration_s(raw)
        except ValueError as exc:
            raise SettingsError(name, raw, str(exc)) from None

    def proxies(self, name: str) -> tuple[str, ...]:
        """Comma-separated IP addresses or networks (``10.0.0.0/8``); ``*`` trusts any peer."""
        raw = self._raw(name)
        if raw is None:
            return ()
        items = tuple(item.strip() for item in raw.split(",") if item.strip())
        if items == ("*",):
            return items
        for item in items:
            try:
                if "/" in item:
                    ipaddress.ip_network(item, strict=False)
                else:
                    ipaddress.ip_address(item)
            except ValueError:
                raise SettingsError(
                    name, raw, f"{item!r} is not an IP address or network (10.0.0.0/8)"
                ) from None
        return items

    def zone(self, name: str, default: str) -> zoneinfo.ZoneInfo:
        raw = self.text(name, default)
        try:
            return zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise SettingsError(name, raw, "unknown time zone (try UTC or Asia/Shanghai)") from None
