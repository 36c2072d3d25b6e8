"""One ``[[apps]]`` entry, with ``[defaults]`` laid under it, into an :class:`AppSpec`.

:func:`compile_app` is the only place that knows what an app's keys mean. It returns the
frozen spec and the app's *standalone entry*: its own table with ``[defaults]`` merged in (a
key of the app wins; the ``env`` and ``env_<name>`` tables are merged variable by variable and
kept apart), so that compiling the entry alone, with the same ``--env``, gives the same spec.
That entry is what the daemon stores and what ``ptm save`` writes.

Relative paths: ``cwd``, ``out_file`` and ``error_file`` are relative to the ecosystem file's
folder (``base_dir``); ``script``, ``command``'s program and ``watch`` paths are relative to the
app's ``cwd``. Nothing is created: a missing log folder is the log writer's business.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from supervisor_core._home import Home
from supervisor_core.config import _values as values
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._fields import (
    Table,
    boolean,
    duration,
    exit_codes,
    http_url,
    integer,
    kill_signal,
    positive_duration,
    positive_size,
    string,
    string_list,
)
from supervisor_core.config._program import refuse_or_note, resolve_program
from supervisor_core.config._specs import (
    LOG_FILE_MODE,
    LOG_MAX_FILES,
    LOG_MAX_SIZE,
    AppSpec,
    ExecMode,
    HealthCheckSpec,
    ListenSpec,
    LogSpec,
    MemoryPolicy,
    ReadinessSpec,
    RestartPolicy,
    StopPolicy,
    WatchSpec,
)
from supervisor_core.config._values import MAX_INSTANCES, instance_count
from supervisor_core.errors import ConfigError

__all__ = [
    "APP_KEYS",
    "DEFAULT_DATE_FORMAT",
    "ENV_NAME",
    "MAX_INSTANCES",
    "compile_app",
    "env_table",
    "instance_count",
    "is_env_key",
    "relative",
]

DEFAULT_DATE_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss.SSSZ"

APP_KEYS: Final = frozenset(
    {
        "name",
        "script",
        "command",
        "args",
        "cwd",
        "interpreter",
        "interpreter_args",
        "instances",
        "exec_mode",
        "increment_var",
        "autostart",
        "autorestart",
        "stop_exit_codes",
        "max_restarts",
        "min_uptime",
        "restart_delay",
        "exp_backoff_restart_delay",
        "max_memory_restart",
        "memory_check_interval",
        "kill_signal",
        "kill_timeout",
        "wait_ready",
        "listen_timeout",
        "cron_restart",
        "watch",
        "ignore_watch",
        "out_file",
        "error_file",
        "merge_logs",
        "log_date_format",
        "log_file_max_size",
        "log_file_max_files",
        "log_compress",
        "log_compress_delay",
        "log_rotate_interval",
        "log_file_mode",
        "env",
        "health_check",
        "listen",
        "user",
        "group",
    }
)
_HEALTH_KEYS: Final = frozenset({"url", "interval", "timeout", "failures"})
_LISTEN_KEYS: Final = frozenset({"host", "port"})

ENV_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""What may follow ``env_`` in an overlay table's name (and what ``--env`` may be)."""

# The defaults, written once: in the spec classes.
_RESTART: Final = RestartPolicy()
_STOP: Final = StopPolicy()
_MEMORY: Final = MemoryPolicy()
_READINESS: Final = ReadinessSpec()
_HEALTH: Final = HealthCheckSpec(url="")


def is_env_key(key: str) -> bool:
    """``env`` or an ``env_<name>`` overlay table."""
    return key == "env" or _is_env_overlay(key)


def _is_env_overlay(key: str) -> bool:
    return key.startswith("env_") and ENV_NAME.fullmatch(key[4:]) is not None


def normalized(path: Path) -> Path:
    """``path`` with ``~`` expanded, made absolute from the current folder, normalised."""
    path = path.expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.normpath(path))


def relative(text: str, base: Path) -> Path:
    """A path as written in the file, taken from ``base`` (``~`` expanded), normalised."""
    return normalized(base / Path(text).expanduser())


def _refuse_nul(table: Table) -> None:
    """No string of an app may hold a NUL: no program, path or argument can (the env tables
    say so themselves, with their own message)."""

    def walk(value: object) -> bool:
        if isinstance(value, str):
            return "\0" in value
        if isinstance(value, list):
            return any(walk(item) for item in value)
        if isinstance(value, Mapping):
            return any(walk(item) for item in value.values())
        return False

    for key, value in table.data.items():
        if is_env_key(key):
            continue
        if walk(value):
            raise table.error(key, "must not contain a NUL character", value=value)


def env_table(owner: Table, key: str) -> dict[str, str]:
    """The variables of ``owner[key]`` (``env`` or ``env_<name>``) as strings."""
    table = owner.table(key)
    if table is None:
        return {}
    result: dict[str, str] = {}
    for name, value in table.data.items():
        if not name or "=" in name or "\0" in name:
            raise table.missing(name, "not a valid environment variable name")
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = str(value)
        else:
            raise table.error(
                name, "must be a string (numbers and booleans are converted)", value=value
            )
        if "\0" in text:
            raise table.error(name, "must not contain a NUL character", value=value)
        result[name] = text
    return result


def compile_app(
    own: Table,
    defaults: Table,
    defaults_env: Mapping[str, Mapping[str, str]],
    *,
    env: str | None,
    base_dir: Path,
    home: Path,
    caller_env: Mapping[str, str] | None = None,
    absent: list[ConfigError] | None = None,
) -> tuple[AppSpec, dict[str, Any]]:
    """The spec of the app ``own`` (``[defaults]`` laid under it) and its standalone entry.

    ``defaults_env`` holds the defaults' ``env``/``env_<name>`` tables, validated once by the
    caller. ``caller_env`` is the environment the app inherits under its ``env`` (the caller's
    of ``ptm start``; ``None``: this process's own): its ``PATH`` finds the interpreter and
    the program unless the app's ``env`` sets one. Errors name the table where the wrong
    value was written. With an ``absent`` list, what is not on this machine (``cwd``, the
    script or program, ``watch`` paths, ``user`` and ``group``) is noted there instead of
    refused (``ptm import`` of a file written for another machine).
    """
    name = own.require("name", values.app_name)
    for table in (own, defaults):
        _refuse_nul(table)

    # Environment: validated table by table (so errors name where a variable was written).
    own_env = {key: env_table(own, key) for key in own.data if is_env_key(key)}
    variables = {**defaults_env.get("env", {}), **own_env.get("env", {})}
    env_name: str | None = None
    if env is not None:
        overlay_key = f"env_{env}"
        if overlay_key in defaults_env or overlay_key in own_env:
            env_name = env
            variables.update(defaults_env.get(overlay_key, {}))
            variables.update(own_env.get(overlay_key, {}))

    # Every other key: the app's value, else the default's (errors name where it was written).
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, value in defaults.data.items():
        if not is_env_key(key) and key not in own.data:
            merged[key] = value
            origins[key] = "defaults"
    merged.update((key, value) for key, value in own.data.items() if not is_env_key(key))
    table = Table(merged, own.path, own.file, origins)
    entry = {"name": name, **merged}
    for key in [*(k for k in defaults.data if is_env_key(k)), *own_env]:
        entry.setdefault(key, {**defaults.data.get(key, {}), **own.data.get(key, {})})

    cwd_text = table.optional("cwd", string)
    cwd = relative(cwd_text, base_dir) if cwd_text is not None else base_dir
    if cwd_text is not None and not cwd.is_dir():
        reason = "not a directory" if cwd.exists() else "no such directory"
        refuse_or_note(absent, table.error("cwd", f"{reason}: {cwd}", value=cwd_text))

    inherited = os.environ if caller_env is None else caller_env
    program = resolve_program(
        table, cwd, variables.get("PATH"), inherited.get("PATH", os.defpath), absent
    )

    exec_mode: ExecMode = table.get("exec_mode", values.exec_mode, "fork")
    listen_table = table.table("listen")
    if exec_mode == "cluster" and listen_table is None:
        raise table.missing(
            "listen", 'required when exec_mode = "cluster" (the port the instances share)'
        )
    if exec_mode == "fork" and listen_table is not None:
        raise table.missing(
            "listen", 'only allowed with exec_mode = "cluster"; remove it or use cluster mode'
        )
    listen: ListenSpec | None = None
    if listen_table is not None:
        listen_table.check_keys(_LISTEN_KEYS)
        listen = ListenSpec(
            port=listen_table.require("port", integer(1, 65535)),
            host=listen_table.get("host", values.host, "127.0.0.1"),
        )

    backoff = table.optional("exp_backoff_restart_delay", duration)
    restart = RestartPolicy(
        autorestart=table.get("autorestart", boolean, _RESTART.autorestart),
        stop_exit_codes=table.get("stop_exit_codes", exit_codes, _RESTART.stop_exit_codes),
        max_restarts=table.get("max_restarts", integer(0), _RESTART.max_restarts),
        min_uptime=table.get("min_uptime", duration, _RESTART.min_uptime),
        restart_delay=table.get("restart_delay", duration, _RESTART.restart_delay),
        exp_backoff_restart_delay=backoff or None,
    )
    stop = StopPolicy(
        kill_signal=table.get("kill_signal", kill_signal, _STOP.kill_signal),
        kill_timeout=table.get("kill_timeout", duration, _STOP.kill_timeout),
    )
    memory = MemoryPolicy(
        max_memory_restart=table.optional("max_memory_restart", positive_size),
        memory_check_interval=table.get(
            "memory_check_interval", positive_duration, _MEMORY.memory_check_interval
        ),
    )
    readiness = ReadinessSpec(
        wait_ready=table.get("wait_ready", boolean, _READINESS.wait_ready),
        listen_timeout=table.get("listen_timeout", positive_duration, _READINESS.listen_timeout),
    )
    health_check: HealthCheckSpec | None = None
    health_table = table.table("health_check")
    if health_table is not None:
        health_table.check_keys(_HEALTH_KEYS)
        health_check = HealthCheckSpec(
            url=health_table.require("url", http_url),
            interval=health_table.get("interval", positive_duration, _HEALTH.interval),
            timeout=health_table.get("timeout", positive_duration, _HEALTH.timeout),
            failures=health_table.get("failures", integer(1), _HEALTH.failures),
        )

    increment_var = table.optional("increment_var", string)
    if increment_var is not None:
        base = variables.get(increment_var)
        digits = (base or "").strip().lstrip("-")
        # ASCII digits only (int() refuses '²', which str.isdigit accepts), and not so many
        # that int() refuses them (past 4300)
        if base is None or not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
            raise table.error(
                "increment_var",
                f"{increment_var} must be set to an integer in env (instance N gets it plus N)",
                value=increment_var,
            )

    spec = AppSpec(
        name=name,
        argv=program.argv,
        cwd=cwd,
        script=program.script,
        args=program.args,
        interpreter=program.interpreter,
        interpreter_args=program.interpreter_args,
        instances=table.get("instances", values.instances, 1),
        exec_mode=exec_mode,
        increment_var=increment_var,
        env=MappingProxyType(variables),
        env_name=env_name,
        inherit_env=None if caller_env is None else MappingProxyType(dict(caller_env)),
        restart=restart,
        stop=stop,
        memory=memory,
        readiness=readiness,
        logs=_logs(table, name, base_dir, home),
        health_check=health_check,
        listen=listen,
        cron_restart=table.optional("cron_restart", values.cron),
        watch=_watch(table, cwd, absent),
        autostart=table.get("autostart", boolean, True),
        user=_account(table, "user", values.user, absent),
        group=_account(table, "group", values.group, absent),
    )
    return spec, entry


def _log_path(table: Table, key: str, base_dir: Path, default: Path) -> Path:
    text = table.optional(key, string)
    if text is None:
        return default
    path = relative(text, base_dir)
    if path.is_dir():
        raise table.error(key, f"is a directory: {path}", value=text)
    return path


def _logs(table: Table, name: str, base_dir: Path, home: Path) -> LogSpec:
    date_format = (
        table.convert("log_date_format", table.data["log_date_format"], values.date_format)
        if "log_date_format" in table
        else compile_date_format(DEFAULT_DATE_FORMAT)
    )
    return LogSpec(
        out_file=_log_path(table, "out_file", base_dir, Home(home).logs / f"{name}-out.log"),
        error_file=_log_path(table, "error_file", base_dir, Home(home).logs / f"{name}-error.log"),
        merge_logs=table.get("merge_logs", boolean, True),
        date_format=date_format,
        max_size=table.get("log_file_max_size", positive_size, LOG_MAX_SIZE),
        max_files=table.get("log_file_max_files", integer(1), LOG_MAX_FILES),
        compress=table.get("log_compress", boolean, False),
        rotate_interval=table.get("log_rotate_interval", values.rotate_interval, None),
        compress_delay=table.get("log_compress_delay", values.compress_delay, 0),
        file_mode=table.get("log_file_mode", values.file_mode, LOG_FILE_MODE),
    )


def _account(
    table: Table, key: str, convert: Callable[[object], str], absent: list[ConfigError] | None
) -> str | None:
    """``user`` or ``group``: an account of this system; with ``absent``, another
    machine's name (or id) is noted and kept as written."""
    try:
        return table.optional(key, convert)
    except ConfigError as error:
        value = table.data[key]
        if absent is None or not error.reason.startswith("no such"):
            raise
        absent.append(error)
        return str(value)


def _watch(table: Table, cwd: Path, absent: list[ConfigError] | None = None) -> WatchSpec:
    ignore: tuple[str, ...] = table.get("ignore_watch", string_list, ())
    raw = table.data.get("watch", False)
    if isinstance(raw, bool):
        paths: tuple[Path, ...] = (cwd,) if raw else ()
    else:
        texts = table.convert("watch", raw, _watch_paths)
        paths = tuple(relative(text, cwd) for text in texts)
        for text, path in zip(texts, paths, strict=True):
            if not path.exists():
                error = table.error("watch", f"no such file or directory: {path}", value=text)
                refuse_or_note(absent, error)
    return WatchSpec(paths=paths, ignore=ignore)


def _watch_paths(value: object) -> tuple[str, ...]:
    try:
        return string_list(value)
    except ValueError:
        raise ValueError("must be true, false, a path or a list of paths") from None
