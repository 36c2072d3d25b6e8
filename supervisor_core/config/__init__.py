"""Ecosystem files (TOML) into frozen, validated specs."""

from supervisor_core.config._cron import CronSchedule
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._loader import build_app, load_ecosystem, parse_ecosystem, ptm_home
from supervisor_core.config._specs import (
    AppSpec,
    DateFormatter,
    Ecosystem,
    ExecMode,
    HealthCheckSpec,
    ListenSpec,
    LogSpec,
    MemoryPolicy,
    NotifySpec,
    ReadinessSpec,
    RestartPolicy,
    StopPolicy,
    WatchSpec,
)
from supervisor_core.config._units import parse_duration, parse_size

__all__ = [
    "AppSpec",
    "CronSchedule",
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
    "StopPolicy",
    "WatchSpec",
    "build_app",
    "compile_date_format",
    "load_ecosystem",
    "parse_duration",
    "parse_ecosystem",
    "parse_size",
    "ptm_home",
]
