"""Ecosystem files (TOML) into frozen, validated specs."""

from supervisor_core.config._app import instance_count, is_env_key
from supervisor_core.config._cron import CronSchedule
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._loader import (
    build_app,
    compile_entry,
    load_ecosystem,
    parse_ecosystem,
    ptm_home,
    read_source,
)
from supervisor_core.config._specs import (
    ALERT_KINDS,
    AlertKind,
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
from supervisor_core.config._writer import dump_table, ecosystem_text

__all__ = [
    "ALERT_KINDS",
    "AlertKind",
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
    "compile_entry",
    "dump_table",
    "ecosystem_text",
    "instance_count",
    "is_env_key",
    "load_ecosystem",
    "parse_duration",
    "parse_ecosystem",
    "parse_size",
    "ptm_home",
    "read_source",
]
