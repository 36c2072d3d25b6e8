"""Ecosystem files (TOML) into frozen, validated specs."""

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
]
