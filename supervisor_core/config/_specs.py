"""Frozen, typed specs: what an ecosystem file means once it has been validated.

Durations are seconds (float), sizes are bytes (int). Paths are absolute. Nothing here reads
files or the environment: :mod:`supervisor_core.config._loader` builds these.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, get_args

__all__ = [
    "ALERT_KINDS",
    "ROTATE_INTERVALS",
    "AlertKind",
    "AppSpec",
    "DateFormatter",
    "Ecosystem",
    "ExecMode",
    "HealthCheckSpec",
    "ListenSpec",
    "LogSpec",
    "MemoryPolicy",
    "NotifySpec",
    "ReadinessSpec",
    "RestartPolicy",
    "RotateInterval",
    "StopPolicy",
    "WatchSpec",
]

ExecMode = Literal["fork", "cluster"]
AlertKind = Literal["crash", "errored", "memory", "health", "restart"]
ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)
"""What a ``[[notify]]`` entry's ``events`` may name, in the order alerts are sent."""

KIB = 1024
MIB = 1024 * KIB
LOG_MAX_SIZE = 10 * MIB
"""``log_file_max_size``'s default."""
LOG_MAX_FILES = 10
"""``log_file_max_files``'s default."""
LOG_FILE_MODE = 0o640
"""``log_file_mode``'s default: logs may hold secrets, so not world-readable."""
RotateInterval = Literal["daily", "hourly"]
ROTATE_INTERVALS: tuple[RotateInterval, ...] = get_args(RotateInterval)
"""What ``log_rotate_interval`` may be: a local day or a local hour."""


class DateFormatter(Protocol):
    """A compiled ``log_date_format``: turns a POSIX timestamp into the line prefix."""

    @property
    def source(self) -> str:
        """The format as written in the ecosystem file."""
        ...

    def __call__(self, timestamp: float) -> str: ...


def _empty_env() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RestartPolicy:
    """When and how an exited instance is started again."""

    autorestart: bool = True
    stop_exit_codes: frozenset[int] = frozenset()
    max_restarts: int = 16
    min_uptime: float = 1.0
    restart_delay: float = 0.0
    exp_backoff_restart_delay: float | None = None
    backoff_cap: float = 15.0


@dataclass(frozen=True)
class StopPolicy:
    """How an instance is asked to stop, and how long it gets before SIGKILL."""

    kill_signal: signal.Signals = signal.SIGTERM
    kill_timeout: float = 5.0


@dataclass(frozen=True)
class MemoryPolicy:
    """The memory limit over the instance's whole process tree."""

    max_memory_restart: int | None = None
    memory_check_interval: float = 1.0


@dataclass(frozen=True)
class ReadinessSpec:
    """``wait_ready`` / ``listen_timeout``."""

    wait_ready: bool = False
    listen_timeout: float = 3.0


@dataclass(frozen=True)
class HealthCheckSpec:
    """``[apps.health_check]``."""

    url: str
    interval: float = 10.0
    timeout: float = 2.0
    failures: int = 3


@dataclass(frozen=True)
class ListenSpec:
    """``[apps.listen]``: the socket ptm binds once and shares (cluster mode)."""

    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class WatchSpec:
    """``watch`` / ``ignore_watch``; ``paths`` empty means watching is off."""

    paths: tuple[Path, ...] = ()
    ignore: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.paths)


@dataclass(frozen=True)
class LogSpec:
    """Where an app's output goes and how the files are kept bounded."""

    out_file: Path
    error_file: Path
    merge_logs: bool = True
    date_format: DateFormatter | None = None
    max_size: int = LOG_MAX_SIZE
    max_files: int = LOG_MAX_FILES
    compress: bool = False
    rotate_interval: RotateInterval | None = None
    """Also rotate at the first write of each new local day or hour; None: by size only."""
    compress_delay: int = 0
    """The newest rotated files left uncompressed (logrotate's ``delaycompress`` is 1)."""
    file_mode: int = LOG_FILE_MODE
    """Mode of the log files ptm creates (exactly, not masked by the umask)."""


@dataclass(frozen=True)
class AppSpec:
    """One ``[[apps]]`` entry with ``[defaults]`` merged in and the ``--env`` overlay applied."""

    name: str
    argv: tuple[str, ...]
    """The full command line: interpreter (if any), its arguments, script, then args."""
    cwd: Path
    script: str = ""
    """The script or command as written in the file (for display)."""
    args: tuple[str, ...] = ()
    interpreter: str | None = None
    interpreter_args: tuple[str, ...] = ()
    """Arguments for the interpreter, before the script (PM2's ``node_args``)."""
    instances: int = 1
    exec_mode: ExecMode = "fork"
    increment_var: str | None = None
    """A variable of ``env`` (an integer) that instance N gets plus N (PM2's ``increment_var``)."""
    env: Mapping[str, str] = field(default_factory=_empty_env)
    """The effective environment given to the app, on top of ptm's own variables."""
    env_name: str | None = None
    """The ``--env`` overlay that was applied, if any."""
    restart: RestartPolicy = RestartPolicy()
    stop: StopPolicy = StopPolicy()
    memory: MemoryPolicy = MemoryPolicy()
    readiness: ReadinessSpec = ReadinessSpec()
    logs: LogSpec | None = None
    """``None`` only for specs built in code without logs (output is then discarded)."""
    health_check: HealthCheckSpec | None = None
    listen: ListenSpec | None = None
    cron_restart: str | None = None
    watch: WatchSpec = WatchSpec()
    autostart: bool = True
    """Start the app when its file is started or resurrected; ``False``: registered, stopped."""
    user: str | None = None
    """Run as this user (with its groups and ``HOME``); needs a daemon running as root."""
    group: str | None = None
    """Run with this group (default: the user's own group)."""


@dataclass(frozen=True)
class NotifySpec:
    """A ``[[notify]]`` entry: where to send which events."""

    events: frozenset[AlertKind]
    apps: frozenset[str] | None = None
    webhook: str | None = None
    command: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Ecosystem:
    """A whole validated ecosystem file."""

    path: Path | None
    apps: tuple[AppSpec, ...]
    notify: tuple[NotifySpec, ...] = ()
    entries: tuple[Mapping[str, Any], ...] = ()
    """``entries[i]`` is ``apps[i]``'s standalone table: its ``[[apps]]`` entry with
    ``[defaults]`` merged in and its ``env``/``env_<name>`` tables kept, so that
    ``compile_entry(entries[i], base_dir=path.parent, env=...)`` gives ``apps[i]`` again.
    This is what the daemon stores and ``ptm save`` writes (empty for an ecosystem built in
    code)."""
    warnings: tuple[str, ...] = ()
    """What the file's reading has to say (a PM2 file: the keys ptm ignored, and conversions
    that change how an app runs); ``ptm start`` and ``ptm run`` print them."""

    def app(self, name: str) -> AppSpec:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(name)
