"""What ``ptm`` prints: the list table, ``describe``, log lines, the ``monit`` frame, units.

Every function here is pure (text in, text out) and imports only the standard library, so that
``ptm list`` starts fast. Rows are ``ptm jlist`` elements (``docs/api.md``): mappings whose
values may all be ``None`` (shown as ``-``, never "N/A"). Colour is ANSI SGR and only ever added
when the caller asks for it (see :func:`use_color`); the visible layout is the same either way.

Units: memory in powers of 1024 with lowercase units (``0b``, ``1023b``, ``1.0kb``, ``340kb``,
``1.2mb``, ``2.1gb``: one decimal below 10, whole numbers from 10); durations as one unit,
rounded down (``45s``, ``12m``, ``3h``, ``2D``).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import signal
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, TextIO

__all__ = [
    "SECRET_KEY",
    "LogLine",
    "format_log_line",
    "human_bytes",
    "human_duration",
    "label_width",
    "mask_env",
    "render_describe",
    "render_list",
    "render_monit_frame",
    "use_color",
]

SECRET_KEY: Final = re.compile(r"pass|secret|token|key|pwd", re.IGNORECASE)
"""Environment variable names whose values ``describe`` masks."""

MASK: Final = "****"
NONE: Final = "-"
ELLIPSIS: Final = "…"

_RESET = "\x1b[0m"
_BOLD = "1"
_HEADER = "1;36"
_STDERR = "31"
_STATUS_STYLE: Final = {
    "online": "32",
    "stopped": "90",
    "errored": "31",
    "waiting restart": "33",
    "launching": "33",
    "stopping": "33",
}
_APP_COLORS: Final = ("36", "32", "35", "33", "34", "96", "92", "95")
_BYTE_UNITS: Final = ("kb", "mb", "gb", "tb", "pb", "eb")


# ---------------------------------------------------------------------------------------------
# Units and small helpers


def human_bytes(n: int | None) -> str:
    """``n`` bytes as ``0b``, ``1023b``, ``1.0kb``, ``340kb``, ``1.2mb``, ``2.1gb``; None is ``-``.

    Powers of 1024; one decimal below 10 of a unit, whole numbers from 10; a value that would
    round up to 1024 of a unit is shown in the next one (``1.0mb``, never ``1024kb``).
    """
    if n is None:
        return NONE
    if n < 0:
        raise ValueError(f"a byte count cannot be negative (got {n})")
    if n < 1024:
        return f"{n}b"
    value = float(n)
    for index, unit in enumerate(_BYTE_UNITS):
        value /= 1024
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        last = index == len(_BYTE_UNITS) - 1
        if float(text) < 1024 or last:
            return f"{text}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """An uptime as one unit, rounded down: ``45s``, ``12m``, ``3h``, ``2D``; ``None`` is ``-``.

    A negative value (a clock that went back) reads ``0s``.
    """
    if seconds is None or math.isnan(seconds):
        return NONE
    total = max(0, math.floor(seconds)) if math.isfinite(seconds) else 0
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m"
    if total < 86400:
        return f"{total // 3600}h"
    return f"{total // 86400}D"


def _exact_duration(seconds: float) -> str:
    """A configured duration, exactly, in the ecosystem file's notation: ``100ms``, ``1.6s``,
    ``90s``, ``5m``, ``2h`` (minutes and hours only when whole)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _cpu(percent: float | None) -> str:
    if percent is None:
        return NONE
    return f"{percent:.1f}%" if percent < 9.95 else f"{percent:.0f}%"


def _text(value: object) -> str:
    if value is None or value == "":
        return NONE
    return str(value)


def _style(text: str, code: str | None, color: bool) -> str:
    if not color or not code or not text:
        return text
    return f"\x1b[{code}m{text}{_RESET}"


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    if len(text) <= width:
        return text
    if width <= 0:
        return ""
    return text[: width - 1] + ELLIPSIS


def _app_color(name: str) -> str:
    return _APP_COLORS[zlib.crc32(name.encode()) % len(_APP_COLORS)]


def use_color(stream: TextIO) -> bool:
    """Whether to colour ``stream``: a terminal, ``NO_COLOR`` unset or empty, ``TERM`` not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (ValueError, AttributeError):  # a closed stream, or not a real file
        return False


# ---------------------------------------------------------------------------------------------
# Tables


class _Column(NamedTuple):
    key: str
    header: str
    right: bool = False


Cell = tuple[str, str | None]
"""The visible text of a cell and its ANSI style (or ``None``)."""


def _table(
    columns: Sequence[_Column],
    rows: Sequence[Mapping[str, Cell]],
    widths: Mapping[str, int],
    *,
    color: bool,
) -> list[str]:
    """A box table; ``widths`` are the inner widths (cells longer than that are ellipsized)."""

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (widths[c.key] + 2) for c in columns) + right

    def line(cells: Iterable[tuple[_Column, Cell]]) -> str:
        parts = []
        for column, (text, code) in cells:
            width = widths[column.key]
            visible = _fit(text, width)
            pad = " " * (width - len(visible))
            styled = _style(visible, code, color)
            parts.append(f" {pad}{styled} " if column.right else f" {styled}{pad} ")
        return "│" + "│".join(parts) + "│"

    lines = [rule("┌", "┬", "┐")]
    lines.append(line((c, (c.header, _HEADER)) for c in columns))
    lines.append(rule("├", "┼", "┤"))
    lines.extend(line((c, row[c.key]) for c in columns) for row in rows)
    lines.append(rule("└", "┴", "┘"))
    return lines


def _natural_widths(
    columns: Sequence[_Column], rows: Sequence[Mapping[str, Cell]]
) -> dict[str, int]:
    return {c.key: max([len(c.header), *(len(row[c.key][0]) for row in rows)]) for c in columns}


def _table_width(columns: Sequence[_Column], widths: Mapping[str, int]) -> int:
    return sum(widths[c.key] + 3 for c in columns) + 1


def _shrink(
    columns: list[_Column],
    widths: dict[str, int],
    *,
    width: int | None,
    flexible: Sequence[tuple[str, int]],
    droppable: Sequence[str],
) -> list[_Column]:
    """Fit a table into ``width``: narrow the ``flexible`` columns (down to their minimum,
    ellipsizing), then drop ``droppable`` columns in order. Returns the columns kept."""
    if width is None:
        return columns
    for key, minimum in flexible:
        excess = _table_width(columns, widths) - width
        if excess <= 0:
            return columns
        if any(c.key == key for c in columns):
            widths[key] = max(min(minimum, widths[key]), widths[key] - excess)
    for key in droppable:
        if _table_width(columns, widths) <= width:
            break
        columns = [c for c in columns if c.key != key]
    return columns


# ---------------------------------------------------------------------------------------------
# ptm list

_LIST_COLUMNS: Final = (
    _Column("id", "id"),
    _Column("name", "name"),
    _Column("mode", "mode"),
    _Column("pid", "pid", right=True),
    _Column("status", "status"),
    _Column("restarts", "↺", right=True),
    _Column("uptime", "uptime", right=True),
    _Column("cpu", "cpu", right=True),
    _Column("mem", "mem", right=True),
)
# When the terminal is too narrow even with short names, these go first.
_LIST_DROPPABLE: Final = ("mode", "pid", "cpu", "uptime", "restarts", "mem")
_NAME_MIN: Final = 8

EMPTY_LIST: Final = (
    "No app is running. Start one with: ptm start ecosystem.toml (ptm init writes one)"
)


def _labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``name``, or ``name:instance`` for every row of an app that has more than one."""
    count: dict[str, int] = {}
    for row in rows:
        name = _text(row.get("name"))
        count[name] = count.get(name, 0) + 1
    labels = []
    for row in rows:
        name = _text(row.get("name"))
        instance = row.get("instance")
        many = count[name] > 1 or (isinstance(instance, int) and instance > 0)
        labels.append(f"{name}:{instance}" if many and instance is not None else name)
    return labels


def _status_cell(status: object) -> Cell:
    text = _text(status)
    return text, _STATUS_STYLE.get(text)


def _list_cells(row: Mapping[str, Any], label: str) -> dict[str, Cell]:
    return {
        "id": (_text(row.get("id")), None),
        "name": (label, _BOLD),
        "mode": (_text(row.get("exec_mode")), None),
        "pid": (_text(row.get("pid")), None),
        "status": _status_cell(row.get("status")),
        "restarts": (_text(row.get("restarts")), None),
        "uptime": (human_duration(row.get("uptime_s")), None),
        "cpu": (_cpu(row.get("cpu_percent")), None),
        "mem": (human_bytes(row.get("memory_bytes")), None),
    }


def render_list(rows: Sequence[Mapping[str, Any]], *, color: bool, width: int | None = None) -> str:
    """The ``ptm list`` table, one line per instance, fitted into ``width`` columns if given.

    Too wide: names are ellipsized (down to 8 characters), then the least useful columns are
    left out (mode, pid, cpu, uptime, restarts, mem). The instances of an app share its ``id``
    and are named ``name:0``, ``name:1``... An empty ``rows`` gives a line with a hint.
    """
    if not rows:
        return EMPTY_LIST
    cells = [_list_cells(row, label) for row, label in zip(rows, _labels(rows), strict=True)]
    columns = list(_LIST_COLUMNS)
    widths = _natural_widths(columns, cells)
    columns = _shrink(
        columns,
        widths,
        width=width,
        flexible=[("name", _NAME_MIN)],
        droppable=_LIST_DROPPABLE,
    )
    return "\n".join(_table(columns, cells, widths, color=color))


# ---------------------------------------------------------------------------------------------
# ptm describe


def mask_env(env: Mapping[str, object]) -> dict[str, str]:
    """``env`` with the value of every name matching :data:`SECRET_KEY` replaced by ``****``."""
    return {
        key: MASK if SECRET_KEY.search(key) else ("" if value is None else str(value))
        for key, value in env.items()
    }


def _bool(value: object) -> str:
    return _text(value) if not isinstance(value, bool) else ("true" if value else "false")


def _duration_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    return _exact_duration(float(value))


def _size_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return _text(value)
    return human_bytes(value)


def _list_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else NONE
    return _text(value)


def _args_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return shlex.join(str(v) for v in value) if value else NONE
    return _text(value)


def _health_value(value: object) -> str:
    if not isinstance(value, Mapping):
        return _text(value)
    parts = [_text(value.get("url"))]
    if value.get("interval_s") is not None:
        parts.append(f"every {_duration_value(value['interval_s'])}")
    if value.get("timeout_s") is not None:
        parts.append(f"timeout {_duration_value(value['timeout_s'])}")
    if value.get("failures") is not None:
        parts.append(f"restart after {value['failures']} failures")
    return ", ".join(parts)


def _listen_value(value: object) -> str:
    if not isinstance(value, Mapping):
        return _text(value)
    return f"{value.get('host') or '127.0.0.1'}:{_text(value.get('port'))}"


Shown = tuple[str, str, Callable[[object], str]]
"""A key of the spec view, the name the Config section gives it, how its value is written."""

# The spec view's keys (durations in seconds end in ``_s``), in groups, under the file's names.
_SPEC_GROUPS: Final[tuple[tuple[Shown, ...], ...]] = (
    (
        ("script", "script", _text),
        ("args", "args", _args_value),
        ("argv", "argv", _args_value),
        ("cwd", "cwd", _text),
        ("interpreter", "interpreter", _text),
        ("exec_mode", "exec_mode", _text),
        ("instances", "instances", _text),
        ("env_name", "env_name", _text),
        ("autostart", "autostart", _bool),
    ),
    (
        ("autorestart", "autorestart", _bool),
        ("stop_exit_codes", "stop_exit_codes", _list_value),
        ("max_restarts", "max_restarts", _text),
        ("min_uptime_s", "min_uptime", _duration_value),
        ("restart_delay_s", "restart_delay", _duration_value),
        ("exp_backoff_restart_delay_s", "exp_backoff_restart_delay", _duration_value),
        ("backoff_cap_s", "backoff_cap", _duration_value),
        ("cron_restart", "cron_restart", _text),
        ("watch", "watch", _list_value),
        ("ignore_watch", "ignore_watch", _list_value),
    ),
    (
        ("kill_signal", "kill_signal", _text),
        ("kill_timeout_s", "kill_timeout", _duration_value),
        ("max_memory_restart", "max_memory_restart", _size_value),
        ("memory_check_interval_s", "memory_check_interval", _duration_value),
        ("wait_ready", "wait_ready", _bool),
        ("listen_timeout_s", "listen_timeout", _duration_value),
        ("health_check", "health_check", _health_value),
        ("listen", "listen", _listen_value),
    ),
    (
        ("out_file", "out_file", _text),
        ("error_file", "error_file", _text),
        ("merge_logs", "merge_logs", _bool),
        ("log_date_format", "log_date_format", _text),
        ("log_file_max_size", "log_file_max_size", _size_value),
        ("log_file_max_files", "log_file_max_files", _text),
        ("log_compress", "log_compress", _bool),
    ),
)
_SPEC_KNOWN: Final = frozenset(key for group in _SPEC_GROUPS for key, _, _ in group)


def _key_values(pairs: Sequence[tuple[str, str]], *, indent: str = "  ") -> list[str]:
    width = max((len(key) for key, _ in pairs), default=0)
    return [f"{indent}{key.ljust(width)}  {value}".rstrip() for key, value in pairs]


def _spec_lines(spec: Mapping[str, Any]) -> list[str]:
    groups: list[list[tuple[str, str]]] = []
    for group in _SPEC_GROUPS:
        pairs = [(name, show(spec[key])) for key, name, show in group if key in spec]
        if pairs:
            groups.append(pairs)
    extra = [(key, _text(spec[key])) for key in spec if key not in _SPEC_KNOWN]
    if extra:
        groups.append(extra)
    width = max((len(key) for pairs in groups for key, _ in pairs), default=0)
    lines: list[str] = []
    for pairs in groups:
        if lines:
            lines.append("")
        lines.extend(f"  {key.ljust(width)}  {value}".rstrip() for key, value in pairs)
    return lines


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
        return _text(value)
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
        return _signal_name(sig), _STATUS_STYLE["errored"]
    if isinstance(sig, str) and sig:
        return sig, _STATUS_STYLE["errored"]
    if code is not None:
        return str(code), (_STATUS_STYLE["online"] if code == 0 else _STATUS_STYLE["errored"])
    if run.get("ended_at") is None and not run.get("error"):
        return "running", _STATUS_STYLE["online"]
    return NONE, None


def _run_reason(run: Mapping[str, Any]) -> str:
    reason = _text(run.get("end_reason"))
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
        "instance": (_text(run.get("instance")), None),
        "pid": (_text(run.get("pid")), None),
        "ran": (human_duration(ran), None),
        "exit": _run_exit(run),
        "reason": (_run_reason(run), None),
    }


_PROCESS_COLUMNS: Final = (
    _Column("instance", "instance", right=True),
    _Column("pid", "pid", right=True),
    _Column("status", "status"),
    _Column("restarts", "↺", right=True),
    _Column("unstable", "unstable", right=True),
    _Column("uptime", "uptime", right=True),
    _Column("cpu", "cpu", right=True),
    _Column("mem", "mem", right=True),
    _Column("exit", "last exit", right=True),
    _Column("reason", "reason"),
)
_RUN_COLUMNS: Final = (
    _Column("started", "started"),
    _Column("ended", "ended"),
    _Column("instance", "instance", right=True),
    _Column("pid", "pid", right=True),
    _Column("ran", "ran", right=True),
    _Column("exit", "exit"),
    _Column("reason", "reason"),
)


def _process_cells(row: Mapping[str, Any]) -> dict[str, Cell]:
    return {
        "instance": (_text(row.get("instance")), None),
        "pid": (_text(row.get("pid")), None),
        "status": _status_cell(row.get("status")),
        "restarts": (_text(row.get("restarts")), None),
        "unstable": (_text(row.get("unstable_restarts")), None),
        "uptime": (human_duration(row.get("uptime_s")), None),
        "cpu": (_cpu(row.get("cpu_percent")), None),
        "mem": (human_bytes(row.get("memory_bytes")), None),
        "exit": (_text(row.get("exit_code")), None),
        "reason": (_text(row.get("last_restart_reason")), None),
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
    labels = [_text(row.get("instance")) for row in processes]
    pad = max(len(label) for label in labels)
    lines = []
    for row, label in zip(processes, labels, strict=True):
        health = row.get("health")
        if not isinstance(health, Mapping):
            lines.append(f"  {label.rjust(pad)}  {NONE}")
            continue
        good = health.get("ok") is True
        mark = _style("✓" if good else "✗", _STATUS_STYLE["online" if good else "errored"], color)
        text = _text(health.get("detail"))
        misses = health.get("failures")
        if not good and isinstance(misses, int) and not isinstance(misses, bool) and misses > 0:
            of = f" of {limit}" if isinstance(limit, int) and not isinstance(limit, bool) else ""
            text += f", {misses}{of} miss{'es' if misses != 1 or of else ''}"
        if health.get("at") is not None:
            text += f" at {_local_time(health.get('at'))}"
        lines.append(f"  {label.rjust(pad)}  {mark} {text}")
    return lines


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
                   "signal", "end_reason", "error"}, ...]}   # newest first

    When rows carry a ``health`` result (``[apps.health_check]``), a "Health" section shows
    each instance's last one. Times are ISO 8601 texts or POSIX seconds, shown in local time;
    ``signal`` is a number or a name. Only the first ``history`` runs are shown (the daemon
    sends them newest first).
    With ``width`` the tables are fitted as in :func:`render_list` (long reasons ellipsized,
    then the least useful columns left out); config and environment lines are never cut.
    """
    name = _text(data.get("name"))
    processes: Sequence[Mapping[str, Any]] = data.get("processes") or []
    spec: Mapping[str, Any] = data.get("spec") or {}
    env: Mapping[str, object] = data.get("env") or {}
    runs: Sequence[Mapping[str, Any]] = data.get("runs") or []

    title = _style(name, _BOLD, color)
    facts = []
    if data.get("id") is not None:
        facts.append(f"id {data['id']}")
    facts.append(f"{len(processes)} instance{'s' if len(processes) != 1 else ''}")
    if data.get("source"):
        facts.append(f"from {data['source']}")
    lines = [f"{title} ({', '.join(facts)})", ""]

    def heading(text: str) -> None:
        if lines and lines[-1] != "":
            lines.append("")
        lines.append(_style(text, _HEADER, color))

    heading("Processes")
    if processes:
        cells = [_process_cells(row) for row in processes]
        columns = list(_PROCESS_COLUMNS)
        widths = _natural_widths(columns, cells)
        columns = _shrink(
            columns,
            widths,
            width=width,
            flexible=[("reason", 6)],
            droppable=("unstable", "exit", "cpu", "pid", "reason", "uptime"),
        )
        lines.extend(_table(columns, cells, widths, color=color))
    else:
        lines.append("  no instance (deleted, or scaled to 0)")

    health = _health_lines(processes, spec, color=color)
    if health:
        heading("Health (last check)")
        lines.extend(health)

    if spec:
        heading("Config")
        lines.extend(_spec_lines(spec))

    heading("Environment")
    if env:
        masked = mask_env(env)
        lines.extend(_key_values(sorted(masked.items())))
    else:
        lines.append("  (no variables of its own)")

    shown = list(runs[: max(0, history)])
    count = f"{len(shown)} of {len(runs)}" if len(shown) < len(runs) else f"{len(runs)}"
    heading(f"Restart history (newest first, {count})")
    if shown:
        cells = [_run_cells(run) for run in shown]
        columns = list(_RUN_COLUMNS)
        widths = _natural_widths(columns, cells)
        columns = _shrink(
            columns,
            widths,
            width=width,
            flexible=[("reason", 12)],
            droppable=("ended", "pid", "ran", "instance"),
        )
        lines.extend(_table(columns, cells, widths, color=color))
    else:
        lines.append("  no run yet")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# ptm logs


class LogLine(NamedTuple):
    """One output line of one instance, as ``GET /v1/logs`` gives it."""

    app: str
    instance: int
    stream: str
    """``out`` or ``err``."""
    line: str


def _label(app: str, instance: int, instances: int) -> str:
    return f"{app}:{instance}" if instances > 1 or instance > 0 else app


def label_width(instances: Mapping[str, int]) -> int:
    """The ``width`` to give :func:`format_log_line` so that the lines of these apps align.

    ``instances`` maps each app shown to its number of instances.
    """
    return max((len(_label(app, count - 1, count)) for app, count in instances.items()), default=0)


def _log_parts(
    app: str, instance: int, stream: str, line: str, *, width: int, instances: int
) -> tuple[str, str, str]:
    label = _label(app, instance, instances).ljust(width)
    mark = "!" if stream == "err" else "|"
    return label, mark, line.rstrip("\r\n")


def format_log_line(
    app: str,
    instance: int,
    stream: str,
    line: str,
    *,
    color: bool,
    width: int,
    instances: int = 1,
) -> str:
    """One line of ``ptm logs``: ``api | text`` for stdout, ``api ! text`` for stderr.

    ``width`` pads the app label so that the lines of several apps align (see
    :func:`label_width`); the text itself is never cut. The label reads ``api:1`` for an app
    with several ``instances`` (or any instance but the first). With ``color`` the label takes
    a colour of its own per app and stderr text is red.
    """
    label, mark, text = _log_parts(app, instance, stream, line, width=width, instances=instances)
    if not color:
        return f"{label} {mark} {text}"
    prefix = _style(f"{label} {mark}", _app_color(app), color)
    return f"{prefix} {_style(text, _STDERR, color) if stream == 'err' else text}"


# ---------------------------------------------------------------------------------------------
# ptm monit


def _bar(fraction: float | None, width: int) -> str:
    if width <= 0:
        return ""
    if fraction is None or math.isnan(fraction):
        return "[" + " " * width + "]"
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return "[" + "|" * filled + " " * (width - filled) + "]"


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def render_monit_frame(
    rows: Sequence[Mapping[str, Any]],
    recent_lines: Sequence[LogLine | tuple[str, int, str, str]],
    *,
    width: int,
    height: int,
    color: bool = False,
    memory_total: int | None = None,
) -> str:
    """One screen of ``ptm monit``: exactly ``height`` lines, none wider than ``width``.

    At the top one line per instance (status, restarts, a cpu bar out of 100% and a memory
    bar out of ``memory_total``, by default this machine's RAM), below it the newest of
    ``recent_lines`` (oldest first, as ``GET /v1/logs`` gives them) that fit. Clearing the
    screen and moving the cursor home is the caller's business.
    """
    width = max(1, width)
    height = max(1, height)
    total_mem = memory_total if memory_total is not None else _total_memory()
    online = sum(1 for row in rows if row.get("status") == "online")
    apps = len({row.get("name") for row in rows})
    title = f"ptm monit · {apps} app{'s' if apps != 1 else ''} · {online}/{len(rows)} online"
    hint = "q or Ctrl-C to quit"
    if len(title) + 2 + len(hint) <= width:
        title = title + " " * (width - len(title) - len(hint)) + hint
    lines: list[tuple[str, str | None]] = [(_fit(title, width), _BOLD), ("─" * width, None)]

    logs = [LogLine(*entry) for entry in recent_lines]
    log_room = min(len(logs), 3, max(0, height - 6))
    row_room = max(1, height - len(lines) - 2 - log_room)  # table header, logs rule

    if not rows:
        lines.append(
            (_fit("No app is running. Start one with: ptm start ecosystem.toml", width), None)
        )
    else:
        lines.extend(
            _monit_rows(rows, width=width, room=row_room, memory_total=total_mem, color=color)
        )

    rule = "── logs "
    lines.append((_fit(rule + "─" * max(0, width - len(rule)), width), None))
    room = height - len(lines)
    if room > 0 and logs:
        counts: dict[str, int] = {}
        for entry in logs:
            counts[entry.app] = max(counts.get(entry.app, 0), entry.instance + 1)
        pad = min(label_width(counts), max(0, width // 3))
        for entry in logs[-room:]:
            lines.append(
                _monit_log_line(
                    entry, width=width, pad=pad, instances=counts[entry.app], color=color
                )
            )
    out = [(_style(text, code, color) if text else text) for text, code in lines[:height]]
    out.extend("" for _ in range(height - len(out)))
    return "\n".join(out)


def _monit_log_line(
    entry: LogLine, *, width: int, pad: int, instances: int, color: bool
) -> tuple[str, None]:
    label, mark, text = _log_parts(
        entry.app, entry.instance, entry.stream, entry.line, width=pad, instances=instances
    )
    label = _fit(label, pad) if pad else label
    prefix = f"{label} {mark} "
    text = _fit(text, max(0, width - len(prefix)))
    if len(prefix) > width:
        return _fit(prefix + text, width), None
    if not color:
        return prefix + text, None
    styled = _style(prefix, _app_color(entry.app), color)
    return styled + (_style(text, _STDERR, color) if entry.stream == "err" else text), None


def _monit_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    width: int,
    room: int,
    memory_total: int | None,
    color: bool,
) -> list[tuple[str, str | None]]:
    labels = _labels(rows)
    statuses = [_text(row.get("status")) for row in rows]
    restarts = [_text(row.get("restarts")) for row in rows]
    name_w = min(max(len("app"), *(len(label) for label in labels)), max(8, width // 4))
    status_w = max(len("status"), *(len(s) for s in statuses))
    restart_w = max(1, *(len(r) for r in restarts))
    fixed = name_w + 1 + status_w + 1 + restart_w + 1
    value_w = 6  # "153%", "41.2mb", "1023kb"
    block = (width - fixed - 1) // 2  # two blocks: bar, space, value
    bar_w = block - value_w - 3 if block - value_w - 3 >= 3 else 0

    header_head = f"{'app'.ljust(name_w)} {'status'.ljust(status_w)} {'↺'.rjust(restart_w)} "
    cpu_head = "cpu".ljust(bar_w + 2 + 1 + value_w) if bar_w else "cpu".rjust(value_w)
    mem_head = "mem".ljust(bar_w + 2 + 1 + value_w) if bar_w else "mem".rjust(value_w)
    result: list[tuple[str, str | None]] = [
        (_fit(f"{header_head}{cpu_head} {mem_head}".rstrip(), width), _HEADER)
    ]
    shown = list(zip(rows, labels, statuses, restarts, strict=True))
    if len(shown) > room:
        hidden = len(shown) - room + 1
        shown = shown[: room - 1]
    else:
        hidden = 0
    for row, label, status, count in shown:
        cpu_value = row.get("cpu_percent")
        mem_value = row.get("memory_bytes")
        cpu_text = _cpu(cpu_value).rjust(value_w)
        mem_text = human_bytes(mem_value).rjust(value_w)
        if bar_w:
            cpu_frac = None if cpu_value is None else cpu_value / 100
            mem_frac = None if mem_value is None or not memory_total else mem_value / memory_total
            cpu_text = f"{_bar(cpu_frac, bar_w)} {cpu_text}"
            mem_text = f"{_bar(mem_frac, bar_w)} {mem_text}"
        head = f"{_fit(label, name_w).ljust(name_w)} "
        plain = f"{head}{status.ljust(status_w)} {count.rjust(restart_w)} {cpu_text} {mem_text}"
        plain = _fit(plain.rstrip(), width)
        if color and status in _STATUS_STYLE and plain.startswith(head + status):
            rest = plain[len(head) + len(status) :]
            plain = head + _style(status, _STATUS_STYLE[status], color) + rest
        result.append((plain, None))
    if hidden:
        result.append((_fit(f"… and {hidden} more (widen or heighten the terminal)", width), None))
    return result
