"""Read an ecosystem file (TOML) into a validated :class:`Ecosystem`.

The whole file is checked before anything is returned; the first mistake (in file order:
top-level keys, ``[defaults]``, each ``[[apps]]`` entry, then ``[[notify]]``) raises a
:class:`ConfigError` whose text is one line: ``FILE: KEY: reason (got VALUE)``.

Merging: each ``[[apps]]`` entry is laid over ``[defaults]``. A key set in both takes the
app's value, except the ``env`` and ``env_<name>`` tables, which are merged variable by
variable. The environment of an app is ``env`` (defaults, then the app), with
``env_<name>`` (defaults, then the app) on top when ``env="<name>"`` is asked for. Variable
values are strings; integers, floats and booleans are turned into the text TOML shows
(``3000`` -> ``"3000"``, ``true`` -> ``"true"``).

Relative paths: ``cwd``, ``out_file`` and ``error_file`` are relative to the ecosystem file's
folder (``base_dir``); ``script``, ``command``'s program and ``watch`` paths are relative to the
app's ``cwd``. Nothing is created: a missing log folder is the log writer's business.
"""

from __future__ import annotations

import os
import re
import signal
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from supervisor_core.config._cron import check_cron
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._fields import (
    Table,
    boolean,
    command_line,
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
from supervisor_core.config._program import resolve_program
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
from supervisor_core.errors import ConfigError

__all__ = ["DEFAULT_DATE_FORMAT", "build_app", "load_ecosystem", "parse_ecosystem", "ptm_home"]

DEFAULT_DATE_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss.SSSZ"

APP_KEYS: Final = frozenset(
    {
        "name",
        "script",
        "command",
        "args",
        "cwd",
        "interpreter",
        "instances",
        "exec_mode",
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
        "env",
        "health_check",
        "listen",
    }
)
_TOP_KEYS: Final = frozenset({"defaults", "apps", "notify"})
_HEALTH_KEYS: Final = frozenset({"url", "interval", "timeout", "failures"})
_LISTEN_KEYS: Final = frozenset({"host", "port"})
_NOTIFY_KEYS: Final = frozenset({"events", "apps", "webhook", "command"})
EVENTS: Final = ("crash", "errored", "memory", "health", "restart")
_NOT_IN_DEFAULTS: Final = {
    key: "not allowed in [defaults]; set it in each [[apps]] entry"
    for key in ("name", "script", "command")
}

_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _is_env_overlay(key: str) -> bool:
    return key.startswith("env_") and _ENV_NAME.fullmatch(key[4:]) is not None


# ---------------------------------------------------------------------------------------------
# Entry points


def load_ecosystem(path: str | os.PathLike[str], env: str | None = None) -> Ecosystem:
    """Read and validate the ecosystem file at ``path``, with the ``--env`` overlay ``env``."""
    file = os.fspath(path)
    try:
        raw = Path(file).read_bytes()
    except FileNotFoundError:
        raise ConfigError("no such file", file=file) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not an ecosystem file", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=file) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (line {line})", file=file) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_reason(str(exc)), file=file) from None
    absolute = _normalized(Path(file))
    return _parse(data, file=file, path=absolute, env=env, base_dir=absolute.parent)


def parse_ecosystem(
    data: Mapping[str, Any],
    *,
    path: Path | None,
    env: str | None = None,
    base_dir: Path | None = None,
) -> Ecosystem:
    """Validate an ecosystem already in memory (``tomllib`` output, or a dict built in code).

    ``path`` names the file in errors and in :attr:`Ecosystem.path`; relative paths are taken
    from ``base_dir``, by default the folder of ``path``, or the current directory.
    """
    absolute = _normalized(path) if path is not None else None
    if base_dir is None:
        base_dir = absolute.parent if absolute is not None else Path.cwd()
    file = str(path) if path is not None else None
    return _parse(data, file=file, path=absolute, env=env, base_dir=_normalized(base_dir))


def build_app(
    entry: Mapping[str, Any], *, base_dir: Path | None = None, env: str | None = None
) -> AppSpec:
    """One app from a single ``[[apps]]``-style mapping (``ptm start script.py`` without a file).

    Errors name the keys as ``apps[0].<key>``.
    """
    return parse_ecosystem({"apps": [dict(entry)]}, path=None, env=env, base_dir=base_dir).apps[0]


# ---------------------------------------------------------------------------------------------
# Helpers


def _toml_reason(message: str) -> str:
    match = _TOML_POSITION.search(message)
    if match is None:
        return f"invalid TOML: {message}"
    detail = message[: match.start()]
    return f"invalid TOML at line {match[1]}, column {match[2]}: {detail}"


def _normalized(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.normpath(path))


def _relative(text: str, base: Path) -> Path:
    return _normalized(base / Path(text).expanduser())


def ptm_home() -> Path:
    """``$PTM_HOME``, or ``~/.ptm``; read now, never created here."""
    return _normalized(Path(os.environ.get("PTM_HOME") or "~/.ptm"))


def _app_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _APP_NAME.fullmatch(value) is None:
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            " (it names log files)"
        )
    if value.isdigit():
        raise ValueError("must not be only digits (numbers mean process ids)")
    if value == "all":
        raise ValueError("'all' is reserved (ptm stop all)")
    return value


MAX_INSTANCES = 1024


def _instances(value: object) -> int:
    if value == "max":
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError('must be an integer of at least 1, or "max" (one per CPU)')
    if value > MAX_INSTANCES:
        raise ValueError(f"must be at most {MAX_INSTANCES}")
    return value


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
        if key == "env" or _is_env_overlay(key):
            continue
        if walk(value):
            raise table.error(key, "must not contain a NUL character", value=value)


def _exec_mode(value: object) -> ExecMode:
    if value == "fork":
        return "fork"
    if value == "cluster":
        return "cluster"
    raise ValueError('must be "fork" or "cluster"')


def _host(value: object) -> str:
    text = string(value)
    if any(char.isspace() for char in text):
        raise ValueError("must be a host name or address without spaces")
    return text


def _cron(value: object) -> str | None:
    if not isinstance(value, str):
        raise ValueError('must be a cron expression such as "0 3 * * *"')
    if not value.strip():
        return None
    return check_cron(value)


def _date_format(value: object) -> DateFormatter | None:
    if not isinstance(value, str):
        raise ValueError("must be a string (moment tokens, or strftime with %)")
    if value == "":
        return None
    return compile_date_format(value)


def _events(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a non-empty list of events ({', '.join(EVENTS)})")
    for event in value:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
    return frozenset(value)


def _env_table(owner: Table, key: str) -> dict[str, str]:
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


# ---------------------------------------------------------------------------------------------
# The file


def _parse(
    data: Mapping[str, Any],
    *,
    file: str | None,
    path: Path | None,
    env: str | None,
    base_dir: Path,
) -> Ecosystem:
    if env is not None and _ENV_NAME.fullmatch(env) is None:
        raise ConfigError(
            "not a valid environment name (letters, digits, '_', '-')",
            file=file,
            key="--env",
            value=env,
            has_value=True,
        )
    top = Table(data, "", file)
    top.check_keys(_TOP_KEYS)
    defaults = top.table("defaults") or Table({}, "defaults", file)
    defaults.check_keys(APP_KEYS, also_valid=_is_env_overlay, refused=_NOT_IN_DEFAULTS)
    # Validate the defaults' own variables once, with their own key paths.
    defaults_env = {
        key: _env_table(defaults, key)
        for key in defaults.data
        if key == "env" or _is_env_overlay(key)
    }

    entries = data.get("apps")
    if entries is None:
        raise top.missing("apps", "no apps; add at least one [[apps]] entry")
    if not isinstance(entries, list) or not entries:
        raise top.error("apps", "must be a non-empty array of tables ([[apps]])", value=entries)

    home = ptm_home()
    apps: list[AppSpec] = []
    seen: dict[str, int] = {}
    overlay_found = False
    for index, entry in enumerate(entries):
        where = f"apps[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                "must be a table ([[apps]])", file=file, key=where, value=entry, has_value=True
            )
        own = Table(entry, where, file)
        own.check_keys(APP_KEYS, also_valid=_is_env_overlay)
        name = own.require("name", _app_name)
        if name in seen:
            raise own.error("name", f"duplicate name, also used by apps[{seen[name]}]", value=name)
        seen[name] = index
        app = _app(own, defaults, defaults_env, env=env, base_dir=base_dir, home=home)
        overlay_found = overlay_found or app.env_name is not None
        apps.append(app)

    if env is not None and not overlay_found:
        raise ConfigError(
            f"no app defines env_{env}", file=file, key="--env", value=env, has_value=True
        )
    notify = _notify(top, set(seen))
    return Ecosystem(path=path, apps=tuple(apps), notify=notify)


def _app(
    own: Table,
    defaults: Table,
    defaults_env: Mapping[str, Mapping[str, str]],
    *,
    env: str | None,
    base_dir: Path,
    home: Path,
) -> AppSpec:
    name = own.require("name", _app_name)
    for table in (own, defaults):
        _refuse_nul(table)

    # Environment: validated table by table (so errors name where a variable was written).
    own_env = {
        key: _env_table(own, key) for key in own.data if key == "env" or _is_env_overlay(key)
    }
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
        if key != "env" and not _is_env_overlay(key) and key not in own.data:
            merged[key] = value
            origins[key] = "defaults"
    merged.update(
        (key, value) for key, value in own.data.items() if key != "env" and not _is_env_overlay(key)
    )
    table = Table(merged, own.path, own.file, origins)

    cwd_text = table.optional("cwd", string)
    cwd = _relative(cwd_text, base_dir) if cwd_text is not None else base_dir
    if cwd_text is not None and not cwd.is_dir():
        reason = "not a directory" if cwd.exists() else "no such directory"
        raise table.error("cwd", f"{reason}: {cwd}", value=cwd_text)

    program = resolve_program(table, cwd, variables.get("PATH"))

    exec_mode: ExecMode = table.get("exec_mode", _exec_mode, "fork")
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
            host=listen_table.get("host", _host, "127.0.0.1"),
        )

    backoff = table.optional("exp_backoff_restart_delay", duration)
    restart = RestartPolicy(
        autorestart=table.get("autorestart", boolean, True),
        stop_exit_codes=table.get("stop_exit_codes", exit_codes, frozenset()),
        max_restarts=table.get("max_restarts", integer(0), 16),
        min_uptime=table.get("min_uptime", duration, 1.0),
        restart_delay=table.get("restart_delay", duration, 0.0),
        exp_backoff_restart_delay=backoff or None,
    )
    stop = StopPolicy(
        kill_signal=table.get("kill_signal", kill_signal, signal.SIGTERM),
        kill_timeout=table.get("kill_timeout", duration, 5.0),
    )
    memory = MemoryPolicy(
        max_memory_restart=table.optional("max_memory_restart", positive_size),
        memory_check_interval=table.get("memory_check_interval", positive_duration, 1.0),
    )
    readiness = ReadinessSpec(
        wait_ready=table.get("wait_ready", boolean, False),
        listen_timeout=table.get("listen_timeout", positive_duration, 3.0),
    )
    health_check: HealthCheckSpec | None = None
    health_table = table.table("health_check")
    if health_table is not None:
        health_table.check_keys(_HEALTH_KEYS)
        health_check = HealthCheckSpec(
            url=health_table.require("url", http_url),
            interval=health_table.get("interval", positive_duration, 10.0),
            timeout=health_table.get("timeout", positive_duration, 2.0),
            failures=health_table.get("failures", integer(1), 3),
        )

    return AppSpec(
        name=name,
        argv=program.argv,
        cwd=cwd,
        script=program.script,
        args=program.args,
        interpreter=program.interpreter,
        instances=table.get("instances", _instances, 1),
        exec_mode=exec_mode,
        env=MappingProxyType(variables),
        env_name=env_name,
        restart=restart,
        stop=stop,
        memory=memory,
        readiness=readiness,
        logs=_logs(table, name, base_dir, home),
        health_check=health_check,
        listen=listen,
        cron_restart=table.optional("cron_restart", _cron),
        watch=_watch(table, cwd),
        autostart=table.get("autostart", boolean, True),
    )


def _log_path(table: Table, key: str, base_dir: Path, default: Path) -> Path:
    text = table.optional(key, string)
    if text is None:
        return default
    path = _relative(text, base_dir)
    if path.is_dir():
        raise table.error(key, f"is a directory: {path}", value=text)
    return path


def _logs(table: Table, name: str, base_dir: Path, home: Path) -> LogSpec:
    date_format = (
        table.convert("log_date_format", table.data["log_date_format"], _date_format)
        if "log_date_format" in table
        else compile_date_format(DEFAULT_DATE_FORMAT)
    )
    return LogSpec(
        out_file=_log_path(table, "out_file", base_dir, home / "logs" / f"{name}-out.log"),
        error_file=_log_path(table, "error_file", base_dir, home / "logs" / f"{name}-error.log"),
        merge_logs=table.get("merge_logs", boolean, True),
        date_format=date_format,
        max_size=table.get("log_file_max_size", positive_size, 10 * 1024 * 1024),
        max_files=table.get("log_file_max_files", integer(1), 10),
        compress=table.get("log_compress", boolean, False),
    )


def _watch(table: Table, cwd: Path) -> WatchSpec:
    ignore: tuple[str, ...] = table.get("ignore_watch", string_list, ())
    raw = table.data.get("watch", False)
    if isinstance(raw, bool):
        paths: tuple[Path, ...] = (cwd,) if raw else ()
    else:
        texts = table.convert("watch", raw, _watch_paths)
        paths = tuple(_relative(text, cwd) for text in texts)
        for text, path in zip(texts, paths, strict=True):
            if not path.exists():
                raise table.error("watch", f"no such file or directory: {path}", value=text)
    return WatchSpec(paths=paths, ignore=ignore)


def _watch_paths(value: object) -> tuple[str, ...]:
    try:
        return string_list(value)
    except ValueError:
        raise ValueError("must be true, false, a path or a list of paths") from None


def _notify(top: Table, app_names: set[str]) -> tuple[NotifySpec, ...]:
    entries = top.data.get("notify")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise top.error("notify", "must be an array of tables ([[notify]])", value=entries)
    result: list[NotifySpec] = []
    for index, entry in enumerate(entries):
        where = f"notify[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                "must be a table ([[notify]])",
                file=top.file,
                key=where,
                value=entry,
                has_value=True,
            )
        table = Table(entry, where, top.file)
        table.check_keys(_NOTIFY_KEYS)
        events = table.require("events", _events)
        apps = table.optional("apps", string_list)
        if apps is not None:
            for app in apps:
                if app not in app_names:
                    raise table.error("apps", f"no app named {app!r} in this file", value=app)
        if "webhook" in table and "command" in table:
            raise table.error(
                "command",
                "cannot be combined with webhook; use one of them",
                value=entry["command"],
            )
        webhook = table.optional("webhook", http_url)
        command = table.optional("command", command_line)
        if command is not None and not command:
            raise table.error("command", "must not be empty", value=entry["command"])
        if webhook is None and command is None:
            raise table.missing("webhook", "required (or command)")
        result.append(
            NotifySpec(
                events=events,
                apps=frozenset(apps) if apps is not None else None,
                webhook=webhook,
                command=command,
            )
        )
    return tuple(result)
