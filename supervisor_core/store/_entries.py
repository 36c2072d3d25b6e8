"""Ecosystem files into :class:`StoredApp` entries, and stored entries back into specs.

An entry is the app's own ``[[apps]]`` table with ``[defaults]`` laid under it exactly as the
loader does: a key of the app wins over the default, and the ``env`` and ``env_<name>`` tables
are merged variable by variable (the app's variable wins). The merged ``env`` and ``env_<name>``
tables are kept apart, so the entry with its ``env_name`` gives the same environment as the
file with ``--env``. Each entry therefore stands alone: ``build_app(entry, base_dir=...,
env=...)`` gives the same :class:`AppSpec` as loading the whole file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from supervisor_core.config import AppSpec, build_app, load_ecosystem, parse_ecosystem
from supervisor_core.errors import ConfigError
from supervisor_core.store._db import StoredApp

__all__ = ["app_spec", "is_env_key", "merged_entry", "stored_apps_from_file"]

_ENV_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def is_env_key(key: str) -> bool:
    """``env`` or an ``env_<name>`` overlay table."""
    return key == "env" or (key.startswith("env_") and _ENV_NAME.fullmatch(key[4:]) is not None)


def merged_entry(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """One ``[[apps]]`` table with ``[defaults]`` laid under it (see the module docstring)."""
    entry: dict[str, Any] = {"name": own["name"]} if "name" in own else {}
    for key, value in defaults.items():
        if not is_env_key(key) and key not in own:
            entry[key] = value
    for key, value in own.items():
        if not is_env_key(key):
            entry[key] = value
    env_keys = [key for key in defaults if is_env_key(key)]
    env_keys += [key for key in own if is_env_key(key) and key not in defaults]
    for key in env_keys:
        entry[key] = {**defaults.get(key, {}), **own.get(key, {})}
    return entry


def _absolute(path: str | os.PathLike[str]) -> Path:
    full = Path(path).expanduser()
    if not full.is_absolute():
        full = Path.cwd() / full
    return Path(os.path.normpath(full))


def stored_apps_from_file(
    path: str | os.PathLike[str], env_name: str | None = None
) -> list[StoredApp]:
    """The apps of the ecosystem file at ``path`` (with ``--env env_name``), each standing alone.

    The whole file is validated first (a :class:`ConfigError` names the file, key and value).
    Each app's ``desired`` is ``"running"``, or ``"stopped"`` when it says ``autostart =
    false``; its ``env_name`` is the overlay it really got (``None`` when it has no
    ``env_<env_name>`` table); ``position`` is its index in the file (the store assigns the
    real one).
    """
    load_ecosystem(path, env_name)  # every error, with the loader's precise messages
    source = _absolute(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"changed while being read: {exc}", file=os.fspath(path)) from None
    # Validate exactly the data the entries are taken from (the file may have just changed).
    ecosystem = parse_ecosystem(data, path=source, env=env_name)
    defaults: Mapping[str, Any] = data.get("defaults", {})
    result: list[StoredApp] = []
    for position, (own, spec) in enumerate(zip(data["apps"], ecosystem.apps, strict=True)):
        result.append(
            StoredApp(
                name=spec.name,
                entry=merged_entry(defaults, own),
                base_dir=str(source.parent),
                env_name=spec.env_name,
                source=str(source),
                desired="running" if spec.autostart else "stopped",
                position=position,
            )
        )
    return result


def app_spec(app: StoredApp) -> AppSpec:
    """The :class:`AppSpec` of a stored app, resolved now (its program must still exist).

    A stored entry that no longer resolves (a deleted script or folder) is a
    :class:`ConfigError` naming the app: ``FILE: stored app 'web': script: ...``.
    """
    env = app.env_name
    if env is not None and f"env_{env}" not in app.entry:
        env = None
    try:
        return build_app(app.entry, base_dir=Path(app.base_dir), env=env)
    except ConfigError as exc:
        text = str(exc).removeprefix("apps[0].")
        raise ConfigError(f"stored app {app.name!r}: {text}", file=app.source) from None
