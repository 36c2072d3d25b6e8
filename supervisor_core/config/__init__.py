"""Ecosystem files (TOML) into frozen, validated specs."""

from supervisor_core.config._datefmt import compile_date_format
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
    "compile_date_format",
    "parse_duration",
    "parse_size",
]
