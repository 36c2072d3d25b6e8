"""``ptm describe NAME``: one app in full (instances, health, config, environment, runs).

``data`` is the daemon's describe answer (``GET /v1/processes/{target}``, built by
``supervisor_core.daemon._views``). Standard library only.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from supervisor_core._secrets import SECRET_NAME
from supervisor_core.cli._format import (
    BOLD,
    HEADER,
    NONE,
    ROW_COLUMNS,
    STATUS_STYLE,
    Cell,
    Column,
    Layout,
    exact_duration,
    fitted_table,
    human_bytes,
    human_duration,
    row_cells,
    style,
    text,
)
from supervisor_core.cli._spark import usage_lines
from supervisor_core.errors import ApiError

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["SECRET_KEY", "describe_data", "mask_env", "render_describe"]

SECRET_KEY: Final = SECRET_NAME
"""Environment variable names whose values ``describe`` masks (one rule: ``_secrets``)."""

MASK: Final = "****"


def mask_env(env: Mapping[str, object]) -> dict[str, str]:
    """``env`` with the value of every name matching :data:`SECRET_KEY` replaced by ``****``."""
    return {
        key: MASK if SECRET_KEY.search(key) else ("" if value is None else str(value))
        for key, value in env.items()
    }


# ---------------------------------------------------------------------------------------------
# Config: every key of the spec view, under the ecosystem file's name, in its units


def _bool(value: object) -> str:
    return text(value) if not isinstance(value, bool) else ("true" if value else "false")


def _duration_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return text(value)
    return exact_duration(float(value))


def _size_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return text(value)
    return human_bytes(value)


def _list_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else NONE
    return text(value)


def _args_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return shlex.join(str(v) for v in value) if value else NONE
    return text(value)


def _health_value(value: object) -> str:
    if not isinstance(value, Mapping):
        return text(value)
    parts = [text(value.get("url"))]
    if value.get("interval_s") is not None:
        parts.append(f"every {_duration_value(value['interval_s'])}")
    if value.get("timeout_s") is not None:
        parts.append(f"timeout {_duration_value(value['timeout_s'])}")
    if value.get("failures") is not None:
        parts.append(f"restart after {value['failures']} failures")
    return ", ".join(parts)


def _listen_value(value: object) -> str:
    if not isinstance(value, Mapping):
        return text(value)
    return f"{value.get('host') or '127.0.0.1'}:{text(value.get('port'))}"


Shown = tuple[str, str, Callable[[object], str]]
"""A key of the spec view, the name the Config section gives it, how its value is written."""

# The spec view's keys (durations in seconds end in ``_s``), in groups, under the file's names.
_SPEC_GROUPS: Final[tuple[tuple[Shown, ...], ...]] = (
    (
        ("script", "script", text),
        ("args", "args", _args_value),
        ("argv", "argv", _args_value),
        ("cwd", "cwd", text),
        ("interpreter", "interpreter", text),
        ("interpreter_args", "interpreter_args", _args_value),
        ("exec_mode", "exec_mode", text),
        ("instances", "instances", text),
        ("increment_var", "increment_var", text),
        ("env_name", "env_name", text),
        ("autostart", "autostart", _bool),
        ("user", "user", text),
        ("group", "group", text),
    ),
    (
        ("autorestart", "autorestart", _bool),
        ("stop_exit_codes", "stop_exit_codes", _list_value),
        ("max_restarts", "max_restarts", text),
        ("min_uptime_s", "min_uptime", _duration_value),
        ("restart_delay_s", "restart_delay", _duration_value),
        ("exp_backoff_restart_delay_s", "exp_backoff_restart_delay", _duration_value),
        ("backoff_cap_s", "backoff_cap", _duration_value),
        ("cron_restart", "cron_restart", text),
        ("watch", "watch", _list_value),
        ("ignore_watch", "ignore_watch", _list_value),
    ),
    (
        ("kill_signal", "kill_signal", text),
        ("kill_timeout_s", "kill_timeout", _duration_value),
        ("max_memory_restart", "max_memory_restart", _size_value),
        ("memory_check_interval_s", "memory_check_interval", _duration_value),
        ("wait_ready", "wait_ready", _bool),
        ("listen_timeout_s", "listen_timeout", _duration_value),
        ("health_check", "health_check", _health_value),
        ("listen", "listen", _listen_value),
    ),
    (
        ("out_file", "out_file", text),
        ("error_file", "error_file", text),
        ("merge_logs", "merge_logs", _bool),
        ("log_date_format", "log_date_format", text),
        ("log_file_max_size", "log_file_max_size", _size_value),
        ("log_file_max_files", "log_file_max_files", text),
        ("log_compress", "log_compress", _bool),
        ("log_compress_delay", "log_compress_delay", text),
        ("log_rotate_interval", "log_rotate_interval", text),
        ("log_file_mode", "log_file_mode", text),
    ),
)
_SPEC_KNOWN: Final = frozenset(key for group in _SPEC_GROUPS for key, _, _ in group)


def _key_values(groups: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
    """Groups of ``name  value`` lines, the values aligned, a blank line between groups."""
    width = max((len(key) for pairs in groups for key, _ in pairs), default=0)
    lines: list[str] = []
    for pairs in groups:
        if lines:
            lines.append("")
        lines.extend(f"  {key.ljust(width)}  {value}".rstrip() for key, value in pairs)
    return lines


def _spec_lines(spec: Mapping[str, Any]) -> list[str]:
    groups: list[list[tuple[str, str]]] = []
    for group in _SPEC_GROUPS:
        pairs = [(name, show(spec[key])) for key, name, show in group if key in spec]
        if pairs:
            groups.append(pairs)
    extra = [(key, text(spec[key])) for key in spec if key not in _SPEC_KNOWN]
    if extra:
        groups.append(extra)
    return _key_values(groups)


# ---------------------------------------------------------------------------------------------
# Processes, health and runs


def _timestamp(value: object) -> datetime | None:
    """A POSIX time or an ISO 8601 text as an aware datetime (naive texts are UTC)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _local_time(value: object) -> str:
    """A run's time in local time, ``YYYY-MM-DD HH:MM:SS``; unreadable values as given."""
    moment = _timestamp(value)
    if moment is None:
        return text(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _run_exit(run: Mapping[str, Any]) -> Cell:
    code = run.get("exit_code")
    sig = run.get("signal")
    if isinstance(sig, int) and not isinstance(sig, bool):
        return _signal_name(sig), STATUS_STYLE["errored"]
    if isinstance(sig, str) and sig:
        return sig, STATUS_STYLE["errored"]
    if code is not None:
        return str(code), (STATUS_STYLE["online"] if code == 0 else STATUS_STYLE["errored"])
    if run.get("ended_at") is None and not run.get("error"):
        return "running", STATUS_STYLE["online"]
    return NONE, None


def _run_reason(run: Mapping[str, Any]) -> str:
    reason = text(run.get("end_reason"))
    error = run.get("error")
    if error:
        return f"{reason}: {error}" if reason != NONE else str(error)
    return reason


def _run_cells(run: Mapping[str, Any]) -> dict[str, Cell]:
    started = _timestamp(run.get("started_at"))
    ended = _timestamp(run.get("ended_at"))
    ran = (ended - started).total_seconds() if started and ended else None
    return {
        "started": (_local_time(run.get("started_at")), None),
        "ended": (_local_time(run.get("ended_at")), None),
        "instance": (text(run.get("instance")), None),
        "pid": (text(run.get("pid")), None),
        "ran": (human_duration(ran), None),
        "exit": _run_exit(run),
        "reason": (_run_reason(run), None),
    }


_PROCESSES: Final = Layout(
    columns=(
        Column("instance", "instance", right=True),
        *(ROW_COLUMNS[key] for key in ("pid", "status", "restarts")),
        Column("unstable", "unstable", right=True),
        *(ROW_COLUMNS[key] for key in ("uptime", "cpu", "mem")),
        Column("exit", "last exit", right=True),
        Column("reason", "reason"),
    ),
    flexible=(("reason", 6),),
    droppable=("unstable", "exit", "cpu", "pid", "reason", "uptime"),
)
_RUNS: Final = Layout(
    columns=(
        Column("started", "started"),
        Column("ended", "ended"),
        Column("instance", "instance", right=True),
        Column("pid", "pid", right=True),
        Column("ran", "ran", right=True),
        Column("exit", "exit"),
        Column("reason", "reason"),
    ),
    flexible=(("reason", 12),),
    droppable=("ended", "pid", "ran", "instance"),
)


def _process_cells(row: Mapping[str, Any]) -> dict[str, Cell]:
    return {
        "instance": (text(row.get("instance")), None),
        **row_cells(row),
        "unstable": (text(row.get("unstable_restarts")), None),
        "exit": (text(row.get("exit_code")), None),
        "reason": (text(row.get("last_restart_reason")), None),
    }


def _health_lines(
    processes: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], *, color: bool
) -> list[str]:
    """One line per instance: ``0  ✓ HTTP 200 at <local time>``, ``1  ✗ HTTP 503, 2 of 3
    misses at ...``, ``2  -`` (no result yet); never cut. Empty when no row has a result."""
    if not any(isinstance(row.get("health"), Mapping) for row in processes):
        return []
    check = spec.get("health_check")
    limit = check.get("failures") if isinstance(check, Mapping) else None
    labels = [text(row.get("instance")) for row in processes]
    pad = max(len(label) for label in labels)
    lines = []
    for row, label in zip(processes, labels, strict=True):
        health = row.get("health")
        if not isinstance(health, Mapping):
            lines.append(f"  {label.rjust(pad)}  {NONE}")
            continue
        good = health.get("ok") is True
        mark = style("✓" if good else "✗", STATUS_STYLE["online" if good else "errored"], color)
        detail = text(health.get("detail"))
        misses = health.get("failures")
        if not good and isinstance(misses, int) and not isinstance(misses, bool) and misses > 0:
            of = f" of {limit}" if isinstance(limit, int) and not isinstance(limit, bool) else ""
            detail += f", {misses}{of} miss{'es' if misses != 1 or of else ''}"
        if health.get("at") is not None:
            detail += f" at {_local_time(health.get('at'))}"
        lines.append(f"  {label.rjust(pad)}  {mark} {detail}")
    return lines


# ---------------------------------------------------------------------------------------------
# The whole page


def describe_data(client: Client, target: str) -> dict[str, Any]:
    """The daemon's describe answer with its ``history`` (none from a daemon that predates
    the history API: the page then has no Usage section)."""
    data = client.describe(target)
    with contextlib.suppress(ApiError):
        data["history"] = client.history(str(data["name"]))["processes"]
    return data


def render_describe(
    data: Mapping[str, Any], *, color: bool, width: int | None = None, history: int = 10
) -> str:
    """``ptm describe NAME``: one app in full.

    ``data`` is the daemon's describe answer (``GET /v1/processes/{target}``)::

        {"name": "api",                       # required
         "id": 0,                             # optional
         "source": "/srv/api/ecosystem.toml", # optional: the file it was started from
         "processes": [jlist row, ...],       # its instances
         "spec": {...},                       # the spec view: every setting; each key shown
                                              # under the file's name, in its units; unknown
                                              # keys are shown as is
         "env": {"NAME": "value", ...},       # the app's own variables (masked here)
         "runs": [{"run_id", "instance", "pid", "started_at", "ended_at", "exit_code",
                   "signal", "end_reason", "error"}, ...],   # newest first
         "history": [...]}                    # optional: the history answer's "processes"
                                              # (GET /v1/processes/{target}/history)

    When rows carry a ``health`` result (``[apps.health_check]``), a "Health" section shows
    each instance's last one. Times are ISO 8601 texts or POSIX seconds, shown in local time;
    ``signal`` is a number or a name. Only the first ``history`` runs are shown (the daemon
    sends them newest first).
    With ``width`` the tables are fitted as in ``ptm list`` (long reasons ellipsized, then the
    least useful columns left out); config and environment lines are never cut.
    """
    name = text(data.get("name"))
    processes: Sequence[Mapping[str, Any]] = data.get("processes") or []
    spec: Mapping[str, Any] = data.get("spec") or {}
    env: Mapping[str, object] = data.get("env") or {}
    runs: Sequence[Mapping[str, Any]] = data.get("runs") or []

    facts = []
    ids = data.get("ids") or ([data["id"]] if data.get("id") is not None else [])
    if ids:
        facts.append(f"id{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids))}")
    count = spec.get("instances")
    if len(processes) == 1 and isinstance(count, int) and count > 1:  # one process, by its id
        instance = processes[0].get("instance")
        name = f"{name}:{instance}"
        facts.append(f"instance {instance} of {count}")
    else:
        facts.append(f"{len(processes)} instance{'s' if len(processes) != 1 else ''}")
    title = style(name, BOLD, color)
    if data.get("source"):
        facts.append(f"from {data['source']}")
    lines = [f"{title} ({', '.join(facts)})", ""]

    def heading(title: str) -> None:
        if lines and lines[-1] != "":
            lines.append("")
        lines.append(style(title, HEADER, color))

    heading("Processes")
    if processes:
        cells = [_process_cells(row) for row in processes]
        lines.extend(fitted_table(_PROCESSES, cells, color=color, width=width))
    else:
        lines.append("  no instance (deleted, or scaled to 0)")

    usage = usage_lines(data.get("history") or [], width=width or 100, color=color)
    if usage:
        lines.append("")
        lines.extend(usage)

    health = _health_lines(processes, spec, color=color)
    if health:
        heading("Health (last check)")
        lines.extend(health)

    if spec:
        heading("Config")
        lines.extend(_spec_lines(spec))

    heading("Environment")
    if env:
        lines.extend(_key_values([sorted(mask_env(env).items())]))
    else:
        lines.append("  (no variables of its own)")

    shown = list(runs[: max(0, history)])
    count = f"{len(shown)} of {len(runs)}" if len(shown) < len(runs) else f"{len(runs)}"
    heading(f"Restart history (newest first, {count})")
    if shown:
        cells = [_run_cells(run) for run in shown]
        lines.extend(fitted_table(_RUNS, cells, color=color, width=width))
    else:
        lines.append("  no run yet")
    return "\n".join(lines)
