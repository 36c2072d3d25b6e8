"""PM2's ecosystem keys into ptm's: every key is mapped, converted or dropped with a reason.

:func:`pm2_tables` takes what a PM2 file holds (``{"apps": [...], "deploy": ...}``, a list of
apps, or one app) and returns ptm's TOML-shaped tables (``{"apps": [...]}``) with a
:class:`Note` for each key. It checks only what it must to convert; the values are validated
afterwards by the one compiler, exactly as if they had been written in ``ecosystem.toml``.
A key PM2 does not have either is an error with a did-you-mean.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final, Literal, NamedTuple

from supervisor_core.config._app import APP_KEYS, is_env_key
from supervisor_core.config._fields import _PM2_ALIASES, suggest
from supervisor_core.config._jsvalues import js_string, json_text
from supervisor_core.errors import ConfigError

__all__ = ["Note", "NoteKind", "pm2_tables", "pm2_warnings"]

NoteKind = Literal["mapped", "converted", "dropped"]


@dataclass(frozen=True)
class Note:
    """What became of one PM2 key: ``key`` is its path (``apps[0].vizion``, ``deploy``)."""

    kind: NoteKind
    key: str
    text: str = ""
    warn: bool = False
    """A conversion that changes how the app runs: said at ``ptm start`` as well."""


# PM2's names (and aliases) of a ptm key spelt differently: those an ecosystem file's checks
# hint at (``_fields``), less cron (converted, see _cron) and username (dropped), plus one.
_RENAMED: Final = {
    **{key: ours for key, ours in _PM2_ALIASES.items() if key not in ("cron", "username")},
    "interpreterArgs": "interpreter_args",
}

_DURATIONS: Final = frozenset(
    {"min_uptime", "restart_delay", "exp_backoff_restart_delay", "kill_timeout", "listen_timeout"}
)

_APM = "PM2's monitoring agent (PM2 Plus / Node APM); ptm samples cpu and memory itself"
# PM2 keys with no ptm equivalent, and why.
_DROPPED: Final = {
    "name_prefix": "internal to PM2",
    "namespace": "ptm has no namespaces; act on a file's apps with ptm stop|restart FILE",
    "kill_retry_time": "ptm waits for the exit itself; there is no poll interval to set",
    "shutdown_with_message": "a Windows workaround (IPC 'shutdown'); ptm sends kill_signal",
    "treekill": "ptm always stops the whole process tree",
    "watch_delay": "ptm's watch has its own fixed debounce",
    "watch_options": "chokidar options; ptm's watch uses watchfiles",
    "filter_env": "ptm has no filter for inherited variables",
    "append_env_to_name": "ptm keeps the name as written; --env is shown by ptm describe",
    "log_file": "ptm has no combined out+err file; ptm logs NAME shows both, in order",
    "log": "ptm has no combined out+err file; ptm logs NAME shows both, in order",
    "disable_logs": "ptm always writes the log files (rotated by log_file_max_size)",
    "log_type": "ptm writes plain lines; ptm logs --json gives JSON",
    "pid_file": "ptm keeps pids in its state; ptm pid NAME prints them",
    "pid": "ptm keeps pids in its state; ptm pid NAME prints them",
    "username": "informational in PM2 (uid is the user an app runs as)",
    "source_map_support": "Node source maps; pass --enable-source-maps in interpreter_args",
    "disable_source_map_support": "Node source maps; ptm does not inject them",
    "vizion": "git metadata shown by PM2; ptm does not track versions",
    "pmx": _APM,
    "automation": _APM,
    "trace": _APM,
    "disable_trace": _APM,
    "v8": _APM,
    "event_loop_inspector": _APM,
    "deep_monitoring": _APM,
    "io": "PM2 Plus settings",
    "post_update": "commands run after a PM2 Plus pull; ptm has no deploy",
    "force": "ptm never starts an app twice: a name already known is restarted",
    "windowsHide": "Windows only",
    "execute_command": "internal to PM2",
    "write": "internal to PM2",
    "install_url": "internal to PM2",
}
_TOP_DROPPED: Final = {
    "deploy": "PM2's git deploy over ssh; ptm has no deploy (see ptm export for other runners)",
}
PM2_TIME_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss"
"""The stamp PM2's ``time: true`` writes (its ``PM2_LOG_DATE_FORMAT``)."""

_CLUSTER_NOTE: Final = (
    '"cluster" -> "fork": PM2 cluster is Node\'s cluster module; in ptm each'
    " instance is its own process, and cluster mode means ptm binds a port from"
    " [apps.listen] and hands it to every instance on fd 3 (LISTEN_FDS); an app that binds"
    " PORT itself runs one instance per port"
)
_WAIT_READY_NOTE: Final = (
    "PM2 waits for process.send('ready') (Node IPC), which ptm does not have: the app must"
    " send READY=1 to $NOTIFY_SOCKET, or set [apps.health_check]; else the start fails after"
    " listen_timeout"
)


def pm2_tables(data: object, file: str) -> tuple[dict[str, Any], tuple[Note, ...]]:
    """ptm's ``{"apps": [...]}`` for the PM2 ``data`` read from ``file``, and the notes."""
    notes: list[Note] = []
    if data is None or data == {} or data == []:
        raise ConfigError("exports nothing: no apps (module.exports = { apps: [...] })", file=file)
    if isinstance(data, list):
        apps: object = data
    elif isinstance(data, Mapping):
        if "apps" in data:
            apps = data["apps"]
            for key in data:
                if key in _TOP_DROPPED:
                    notes.append(Note("dropped", key, _TOP_DROPPED[key]))
                elif key != "apps":
                    raise ConfigError(suggest(key, {"apps", "deploy"}), file=file, key=key)
        elif "script" in data or "exec" in data:
            apps = [data]  # one app on its own, as PM2 accepts
        else:
            for key in data:
                hint = suggest(str(key), {"apps", "deploy"})
                if "did you mean" in hint:  # a misspelt apps
                    raise ConfigError(
                        "no apps; a PM2 file holds { apps: [...] }: " + hint,
                        file=file,
                        key=str(key),
                    )
            raise ConfigError(
                "not a PM2 ecosystem file: it has no apps and no script"
                " (a PM2 file holds { apps: [...] }, or one app)",
                file=file,
            )
    else:
        raise ConfigError(
            "must hold { apps: [...] }, a list of apps or one app",
            file=file,
            value=data,
            has_value=True,
        )
    if isinstance(apps, Mapping):
        apps = [apps]
    if not isinstance(apps, list) or not apps:
        raise ConfigError(
            "must be a non-empty list of apps", file=file, key="apps", value=apps, has_value=True
        )
    tables = [_app(app, f"apps[{index}]", file, notes) for index, app in enumerate(apps)]
    return {"apps": tables}, tuple(notes)


def pm2_warnings(notes: tuple[Note, ...], file: str) -> tuple[str, ...]:
    """What ``ptm start`` says of a PM2 file: one line naming every dropped key, and each
    conversion that changes how an app runs."""
    lines = [f"{file}: {note.key}: {note.text}" for note in notes if note.warn]
    dropped = [note.key for note in notes if note.kind == "dropped"]
    if dropped:
        lines.append(
            f"{file}: PM2 keys with no ptm equivalent, ignored: {', '.join(dropped)}"
            f" (ptm import {file} says why)"
        )
    return tuple(lines)


# ---------------------------------------------------------------------------------------------
# One app


def _app(app: object, where: str, file: str, notes: list[Note]) -> dict[str, Any]:
    if not isinstance(app, Mapping):
        raise ConfigError(
            "must be an object (one app)", file=file, key=where, value=app, has_value=True
        )
    table: dict[str, Any] = {}
    written: dict[str, str] = {}  # ptm key -> the PM2 key it came from
    extra: dict[str, str] = {}  # a value made what PM2 makes of it: path -> how

    def put(pm2_key: str, key: str, value: Any) -> None:
        if key in written:
            raise ConfigError(
                f"set twice, as {written[key]} and as {pm2_key}; keep one",
                file=file,
                key=f"{where}.{pm2_key}",
            )
        written[key] = pm2_key
        table[key] = value

    for raw_key, value in app.items():
        key = str(raw_key)
        path = f"{where}.{key}"
        if value is None:
            notes.append(Note("dropped", path, "null: left unset, ptm's default applies"))
            continue
        if key in _DROPPED:
            notes.append(Note("dropped", path, _DROPPED[key]))
            continue
        if key == "port":
            continue  # below, once env is known
        if is_env_key(key) and isinstance(value, Mapping):
            value = _env_strings(value, path, extra, notes)
        if key in _NUMBERS:
            number = _number(value)
            if number is not value:
                how = "a number in a string, as PM2" if isinstance(value, str) else "as node"
                extra[path] = f"{value!r} -> {number}, {how} reads it"
                value = number
        if key in _ARG_LISTS and isinstance(value, list):
            strings = [js_string(item) for item in value]
            if strings != value:  # node turns numbers into strings: ["--port", 3000]
                value = strings
                extra[path] = "numbers and booleans as strings, as node passes them"
        convert = _CONVERTERS.get(key)
        if convert is not None:
            try:
                done = convert(key, value, app)
            except ValueError as exc:
                raise ConfigError(
                    str(exc), file=file, key=path, value=value, has_value=True
                ) from None
            if done.target is not None:
                put(key, done.target, done.value)
            notes.append(Note(done.kind, path, done.text, done.warn))
            continue
        if key in _RENAMED:
            target = _RENAMED[key]
            put(key, target, value)
            notes.append(Note("converted", path, f"renamed {target}"))
            continue
        if key in _DURATIONS and isinstance(value, int) and not isinstance(value, bool):
            text = _duration_text(value)
            put(key, key, text)
            notes.append(Note("converted", path, f'{value} (milliseconds) -> "{text}"'))
            continue
        if key in APP_KEYS or is_env_key(key):
            put(key, key, value)
            notes.append(Note("mapped", path, _MAPPED_NOTES.get(key, "")))
            if key == "wait_ready" and value is True and "health_check" not in app:
                notes.append(Note("converted", path, _WAIT_READY_NOTE, warn=True))
            continue
        raise ConfigError(suggest(key, _KNOWN), file=file, key=path)

    for index, note in enumerate(notes):
        if note.key in extra:
            text = extra[note.key]
            notes[index] = Note(
                "converted", note.key, f"{note.text}; {text}" if note.text else text
            )
    _log_paths(table, written, where, notes)
    if "name" not in table:
        script = table.get("script")
        if isinstance(script, str) and script.strip():
            table = {"name": PurePath(script).stem, **table}
            notes.append(Note("converted", f"{where}.name", "not set: the script's name, as PM2"))
    port = app.get("port")
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int | str):
            raise ConfigError(
                "must be a port number (PM2 sets env.PORT from it)",
                file=file,
                key=f"{where}.port",
                value=port,
                has_value=True,
            )
        given = table.get("env", {})
        if isinstance(given, Mapping) and "PORT" not in given:
            table["env"] = {**given, "PORT": str(port)}
            notes.append(Note("converted", f"{where}.port", "env.PORT, as PM2 sets it"))
        elif isinstance(given, Mapping):
            notes.append(Note("dropped", f"{where}.port", "env already sets PORT"))
    return table


_ARG_LISTS: Final = frozenset({"args", "node_args", "interpreter_args", "interpreterArgs"})
# PM2 keys whose schema type is a number (less instances and port, converted on their own):
# PM2's Config._valid reads "10" as 10 (parseFloat when !isNaN). A JSON or YAML 10.0 is 10.
_NUMBERS: Final = _DURATIONS | {"max_restarts", "uid", "user", "gid"}
_INTEGER: Final = re.compile(r"\s*[-+]?[0-9]+(\.0*)?\s*")


def _number(value: object) -> object:
    """``value`` as the integer PM2 makes of it, when it is one in a string (``"10"``,
    ``" 10 "``, ``"10.0"``) or a whole float; else ``value`` itself, for the compiler to
    check (``"ten"``, ``"10.5"``: an error naming the key, as in TOML)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value.strip().split(".")[0])
    return value


def _env_strings(
    env: Mapping[Any, Any], path: str, extra: dict[str, str], notes: list[Note]
) -> dict[Any, Any]:
    """An ``env`` table's values as the strings PM2 gives the app: an object or a list is its
    ``JSON.stringify`` (``mergeEnvironmentVariables``), and so is ``null`` (its ``typeof`` is
    ``"object"``): ``"null"``; a number or a boolean is written by node's ``spawn`` as
    JavaScript does. Anything else is left for the compiler to check."""
    nested = [name for name, item in env.items() if isinstance(item, Mapping | list)]
    if nested:
        extra[path] = f"{', '.join(map(str, nested))}: objects as JSON text, as PM2"
    for name, item in env.items():
        if item is None:
            text = (
                'null -> "null", as PM2 sets it (to leave the variable unset, remove the key;'
                ' for an empty value, write "")'
            )
            notes.append(Note("converted", f"{path}.{name}", text, warn=True))
    return {
        name: json_text(item) if name in nested or item is None else js_string(item)
        for name, item in env.items()
    }


def _log_paths(
    table: dict[str, Any], written: Mapping[str, str], where: str, notes: list[Note]
) -> None:
    """PM2's ``"NULL"`` log is ``/dev/null``, and PM2 takes a relative log path from the
    app's ``cwd`` (ptm from the file's folder): such a path is joined to ``cwd``."""
    cwd = table.get("cwd")
    for key in ("out_file", "error_file"):
        value = table.get(key)
        if not isinstance(value, str):
            continue
        if value == "NULL":
            text = '"NULL" -> "/dev/null" (no log, as PM2)'
            table[key] = "/dev/null"
        elif (
            isinstance(cwd, str)
            and cwd.strip()
            and value.strip()
            and not posixpath.isabs(value)
            and not value.startswith("~")
        ):
            table[key] = posixpath.join(cwd, value)
            text = f'"{table[key]}": relative to cwd, as PM2 takes it'
        else:
            continue
        path = f"{where}.{written[key]}"
        if written[key] != key:
            text = f"renamed {key}, {text}"
        notes[:] = [note for note in notes if note.key != path]
        notes.append(Note("converted", path, text))


_MAPPED_NOTES: Final = {
    "max_memory_restart": "the same units (K, M, G: powers of 1024); ptm measures the whole tree",
    "log_date_format": "moment tokens, read by ptm as they are",
    "log_file_max_size": "ptm rotates the files itself, no pm2-logrotate needed",
    "log_file_max_files": "rotated files kept per log",
    "merge_logs": "ptm's default is true",
}


def _duration_text(ms: int) -> str:
    if ms < 0:
        return str(ms)  # left for the compiler to refuse
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return "0s" if ms == 0 else f"{ms}ms"


class Converted(NamedTuple):
    """What a converter made of one PM2 key: ``value`` for the ptm key ``target`` (none:
    nothing is written), and its note."""

    target: str | None
    value: Any
    kind: NoteKind
    text: str
    warn: bool = False


def _same(key: str, value: object) -> Converted:
    """Written as it is; the compiler says what is wrong with it, if anything."""
    return Converted(key, value, "mapped", "")


def _instances(key: str, value: object, app: Mapping[str, Any]) -> Converted:
    digits = value.strip().lstrip("-") if isinstance(value, str) else ""
    # ASCII digits only (int() refuses '²'), and few: int() refuses past 4300 digits
    if isinstance(value, str) and digits.isascii() and digits.isdigit() and len(digits) <= 18:
        number = _instances(key, int(value), app)  # "0" and "-1" as 0 and -1
        text = f"{value!r}: {number.text}" if number.text else f"{value!r} -> {number.value}"
        return number._replace(kind="converted", text=text)
    if isinstance(value, bool) or not isinstance(value, int) or value > 0:
        return _same(key, value)
    if value == 0:
        return Converted(key, "max", "converted", '0 -> "max" (one per CPU)')
    count = max(1, (os.cpu_count() or 1) + value)
    return Converted(key, count, "converted", f"{value} (CPUs{value}) -> {count} on this machine")


def _exec_mode(key: str, value: object, app: Mapping[str, Any]) -> Converted:
    if value == "fork_mode":
        return Converted(key, "fork", "converted", '"fork_mode" -> "fork"')
    if value in ("cluster", "cluster_mode"):
        if "listen" in app:
            return Converted(key, "cluster", "mapped", "cluster on the [apps.listen] socket")
        return Converted(key, "fork", "converted", _CLUSTER_NOTE, warn=True)
    return _same(key, value)


def _time(key: str, value: object, app: Mapping[str, Any]) -> Converted:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    if "log_date_format" in app:
        return Converted(None, value, "mapped", "the stamp is log_date_format's")
    if value:
        text = f'true -> log_date_format "{PM2_TIME_FORMAT}"'
        return Converted("log_date_format", PM2_TIME_FORMAT, "converted", text)
    text = 'false -> log_date_format "" (no stamps, as PM2)'
    return Converted("log_date_format", "", "converted", text)


def _cron(key: str, value: object, app: Mapping[str, Any]) -> Converted:
    if value == 0 or value == "0":
        return Converted(None, value, "mapped", "0: no scheduled restart, ptm's default")
    if key == "cron":
        return Converted("cron_restart", value, "converted", "renamed cron_restart")
    return _same(key, value)


def _instance_var(key: str, value: object, app: Mapping[str, Any]) -> Converted:
    if value == "NODE_APP_INSTANCE":
        return Converted(None, value, "mapped", "ptm sets NODE_APP_INSTANCE (and PTM_INSTANCE)")
    text = f"ptm names the instance variable NODE_APP_INSTANCE and PTM_INSTANCE, not {value}"
    return Converted(None, value, "dropped", text)


_CONVERTERS: Final[Mapping[str, Callable[[str, object, Mapping[str, Any]], Converted]]] = {
    "instances": _instances,
    "exec_mode": _exec_mode,
    "time": _time,
    "cron": _cron,
    "cron_restart": _cron,
    "instance_var": _instance_var,
}
_KNOWN: Final = frozenset(APP_KEYS | set(_RENAMED) | set(_DROPPED) | set(_CONVERTERS) | {"port"})
