"""Read an ecosystem file (TOML) into a validated :class:`Ecosystem`: the one compiler.

A PM2 file (``ecosystem.config.js``, ``*.json``, ``*.yaml``) is first turned into the same
tables by ``_pm2`` and ``_pm2keys``, then compiled here like TOML; what that conversion has
to say is in :attr:`Ecosystem.warnings`.

The file is read once (:func:`load_ecosystem`) and checked whole before anything is returned;
the first mistake (in file order: top-level keys, ``[defaults]``, each ``[[apps]]`` entry, then
``[[notify]]``) raises a :class:`ConfigError` whose text is one line: ``FILE: KEY: reason (got
VALUE)``. The :class:`Ecosystem` holds, per app, the frozen :class:`AppSpec` and the app's
standalone entry (what the daemon stores, see :mod:`supervisor_core.config._app`), and the
``[[notify]]`` specs.

Merging: each ``[[apps]]`` entry is laid over ``[defaults]``. A key set in both takes the
app's value, except the ``env`` and ``env_<name>`` tables, which are merged variable by
variable. The environment of an app is ``env`` (defaults, then the app), with
``env_<name>`` (defaults, then the app) on top when ``env="<name>"`` is asked for. Variable
values are strings; integers, floats and booleans are turned into the text TOML shows
(``3000`` -> ``"3000"``, ``true`` -> ``"true"``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from supervisor_core._home import Home
from supervisor_core.config._app import (
    APP_KEYS,
    ENV_NAME,
    compile_app,
    env_table,
    is_env_key,
    normalized,
)
from supervisor_core.config._fields import Table, command_line, http_url, string_list
from supervisor_core.config._pm2 import TOO_DEEP, is_pm2_file, read_pm2
from supervisor_core.config._pm2keys import Note, pm2_warnings
from supervisor_core.config._specs import ALERT_KINDS, AlertKind, AppSpec, Ecosystem, NotifySpec
from supervisor_core.errors import ConfigError

__all__ = [
    "build_app",
    "compile_entry",
    "file_problem",
    "load_ecosystem",
    "parse_ecosystem",
    "ptm_home",
    "read_source",
]

_TOP_KEYS: Final = frozenset({"defaults", "apps", "notify"})
_NOTIFY_KEYS: Final = frozenset({"events", "apps", "webhook", "command"})
_NOT_IN_DEFAULTS: Final = {
    key: "not allowed in [defaults]; set it in each [[apps]] entry"
    for key in ("name", "script", "command")
}
_TOML_POSITION: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


# ---------------------------------------------------------------------------------------------
# Entry points


def read_source(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML tables of the file at ``path``: the only place an ecosystem file is read.

    A PM2 file (``ecosystem.config.js``, ``*.json``, ``*.yaml``, see :func:`is_pm2_file`) is
    read as data and its keys turned into ptm's (``config/_pm2keys.py``)."""
    return _read(path)[0]


_NOT_FILES: Final = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


NOT_TEXT: Final = "is not UTF-8 text; ptm keeps paths as text (state.db, dump.toml): rename it"
"""Why a path whose bytes are not UTF-8 (Python holds them as U+DC80..U+DCFF) is refused by
the commands that hand it to the daemon: it could run, but be neither stored nor saved."""


def _is_text(value: object) -> bool:
    """No string in ``value`` holds bytes that are not UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list | tuple):
        return all(_is_text(item) for item in value)
    if isinstance(value, Mapping):
        return all(_is_text(key) and _is_text(item) for key, item in value.items())
    return True


def file_problem(path: str | os.PathLike[str]) -> ConfigError | None:
    """Why ``path`` is not an ecosystem file to hand to the daemon (None: a regular file).

    The daemon reads the file for ``ptm start`` under the lock every start, stop and kill
    waits for: a FIFO with no writer would block that read, and the daemon, for ever. (The
    commands that read the file themselves, ``ptm run`` and ``ptm export``, read a FIFO as
    ``cat`` would: ``ptm run <(envsubst < ecosystem.toml)``.)"""
    file = os.fspath(path)
    try:
        mode = os.stat(file).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return ConfigError("no such file", file=file)
    except OSError as exc:
        return ConfigError(f"cannot read: {exc.strerror or exc}", file=file)
    if stat.S_ISDIR(mode):
        return ConfigError("is a directory, not an ecosystem file", file=file)
    kind = next((name for test, name in _NOT_FILES if test(mode)), None)
    if kind is not None:
        return ConfigError(f"not a regular file ({kind}); give the path of a file", file=file)
    absolute = os.path.abspath(file)
    if not _is_text(absolute):
        return ConfigError(f"its path {NOT_TEXT}", file=absolute)
    return None


def _read(
    path: str | os.PathLike[str], caller_env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], tuple[Note, ...]]:
    file = os.fspath(path)
    if is_pm2_file(file):
        return read_pm2(file, caller_env)
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
        return tomllib.loads(text), ()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_reason(str(exc)), file=file) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(TOO_DEEP, file=file) from None


def load_ecosystem(
    path: str | os.PathLike[str],
    env: str | None = None,
    *,
    caller_env: Mapping[str, str] | None = None,
) -> Ecosystem:
    """Read and validate the ecosystem file at ``path``, with the ``--env`` overlay ``env``.
    ``caller_env`` is the environment the apps inherit under their ``env`` (see
    :attr:`AppSpec.inherit_env`; ``None``: this process's own)."""
    file = os.fspath(path)
    absolute = normalized(Path(file))
    data, notes = _read(file, caller_env)
    ecosystem = _parse(
        data,
        file=file,
        path=absolute,
        env=env,
        base_dir=absolute.parent,
        caller_env=caller_env,
    )
    if notes:
        ecosystem = dataclasses.replace(ecosystem, warnings=pm2_warnings(notes, file))
    return ecosystem


def parse_ecosystem(
    data: Mapping[str, Any],
    *,
    path: Path | None = None,
    env: str | None = None,
    base_dir: Path | None = None,
    caller_env: Mapping[str, str] | None = None,
) -> Ecosystem:
    """Validate an ecosystem already in memory (``tomllib`` output, or a dict built in code).

    ``path`` names the file in errors and in :attr:`Ecosystem.path`; relative paths are taken
    from ``base_dir``, by default the folder of ``path``, or the current directory.
    """
    absolute = normalized(path) if path is not None else None
    if base_dir is None:
        base_dir = absolute.parent if absolute is not None else Path.cwd()
    file = str(path) if path is not None else None
    return _parse(
        data,
        file=file,
        path=absolute,
        env=env,
        base_dir=normalized(base_dir),
        caller_env=caller_env,
    )


def build_app(
    entry: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    env: str | None = None,
    caller_env: Mapping[str, str] | None = None,
) -> AppSpec:
    """One app from a single ``[[apps]]``-style mapping (``ptm start script.py`` without a file).

    Errors name the keys as ``apps[0].<key>``. The daemon keeps the table and its folder as
    text (state.db, dump.toml), so a path whose bytes are not UTF-8 (``ptm start
    $'caf\\xe9.py'``, or from a folder named so) is refused here, before anything runs.
    """
    for key, value in sorted(entry.items(), key=lambda item: item[0] != "script"):
        if not _is_text(value):  # the script first: the name defaults to its stem
            raise ConfigError(NOT_TEXT, key=f"apps[0].{key}", value=value, has_value=True)
    if base_dir is not None and not _is_text(str(base_dir)):
        raise ConfigError(f"the folder {base_dir} {NOT_TEXT}")
    data = {"apps": [dict(entry)]}
    return parse_ecosystem(data, path=None, env=env, base_dir=base_dir, caller_env=caller_env).apps[
        0
    ]


def compile_entry(
    entry: Mapping[str, Any],
    *,
    base_dir: Path,
    env: str | None = None,
    caller_env: Mapping[str, str] | None = None,
) -> AppSpec:
    """The spec of a standalone entry (one of :attr:`Ecosystem.entries`, kept by the daemon),
    resolved now: its program must still exist. ``env`` applies when the entry has that
    overlay; ``caller_env`` is the environment it inherits. Errors name the bare key
    (``script: ...``); the caller says which app it was."""
    if not isinstance(entry, Mapping):
        raise ConfigError("must be a table", value=entry, has_value=True)
    own = Table(entry, "", None)
    own.check_keys(APP_KEYS, also_valid=is_env_key)
    if env is not None and f"env_{env}" not in entry:
        env = None
    spec, _ = compile_app(
        own,
        Table({}, "defaults", None),
        {},
        env=env,
        base_dir=base_dir,
        home=ptm_home(),
        caller_env=caller_env,
    )
    return spec


def ptm_home() -> Path:
    """``$PTM_HOME``, or ``~/.ptm``; read now, never created here."""
    return Home.from_env().root


# ---------------------------------------------------------------------------------------------
# The file


def _toml_reason(message: str) -> str:
    match = _TOML_POSITION.search(message)
    if match is None:
        return f"invalid TOML: {message}"
    detail = message[: match.start()]
    return f"invalid TOML at line {match[1]}, column {match[2]}: {detail}"


def _parse(
    data: Mapping[str, Any],
    *,
    file: str | None,
    path: Path | None,
    env: str | None,
    base_dir: Path,
    caller_env: Mapping[str, str] | None = None,
    absent: list[ConfigError] | None = None,
) -> Ecosystem:
    """The ecosystem of ``data``; with ``absent``, files, programs and accounts missing on
    this machine are noted there instead of refused (see :func:`compile_app`)."""
    if env is not None and ENV_NAME.fullmatch(env) is None:
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
    defaults.check_keys(APP_KEYS, also_valid=is_env_key, refused=_NOT_IN_DEFAULTS)
    # Validate the defaults' own variables once, with their own key paths.
    defaults_env = {key: env_table(defaults, key) for key in defaults.data if is_env_key(key)}

    entries = data.get("apps")
    if entries is None:
        raise top.missing("apps", "no apps; add at least one [[apps]] entry")
    if not isinstance(entries, list) or not entries:
        raise top.error("apps", "must be a non-empty array of tables ([[apps]])", value=entries)

    home = ptm_home()
    apps: list[AppSpec] = []
    standalone: list[Mapping[str, Any]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"apps[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                "must be a table ([[apps]])", file=file, key=where, value=entry, has_value=True
            )
        own = Table(entry, where, file)
        own.check_keys(APP_KEYS, also_valid=is_env_key)
        name = own.data.get("name")
        if isinstance(name, str) and name in seen:
            raise own.error("name", f"duplicate name, also used by apps[{seen[name]}]", value=name)
        app, alone = compile_app(
            own,
            defaults,
            defaults_env,
            env=env,
            base_dir=base_dir,
            home=home,
            caller_env=caller_env,
            absent=absent,
        )
        seen[app.name] = index
        apps.append(app)
        standalone.append(MappingProxyType(alone))

    if env is not None and all(app.env_name is None for app in apps):
        raise ConfigError(
            f"no app defines env_{env}", file=file, key="--env", value=env, has_value=True
        )
    notify = _notify(top, set(seen))
    return Ecosystem(path=path, apps=tuple(apps), notify=notify, entries=tuple(standalone))


def _events(value: object) -> frozenset[AlertKind]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a non-empty list of events ({', '.join(ALERT_KINDS)})")
    for event in value:
        if event not in ALERT_KINDS:
            raise ValueError(f"unknown event {event!r}; events are {', '.join(ALERT_KINDS)}")
    return frozenset(kind for kind in ALERT_KINDS if kind in value)


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
