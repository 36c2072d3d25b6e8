"""Ecosystem files written by ptm (``ptm save``'s dump): standalone entries back into TOML.

:func:`dump_table` turns a standalone entry (see :attr:`Ecosystem.entries`) into the
``[[apps]]`` table of a file that may live anywhere:

* ``cwd`` always written, and ``cwd``, ``out_file`` and ``error_file`` made absolute (they
  were relative to the folder of the file the app came from); ``script``, ``command`` and
  ``watch`` stay as written, relative to that absolute ``cwd``;
* the effective environment in ``env`` (``env`` with the ``--env`` overlay applied; the
  ``env_<name>`` tables are not written);
* ``autostart`` as asked (``false`` for an app that was stopped, so it stays stopped).

:func:`ecosystem_text` writes whole files and checks that each table reads back unchanged.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from supervisor_core.config._app import is_env_key, relative
from supervisor_core.errors import StateError

__all__ = ["dump_table", "ecosystem_text"]

_BASE_DIR_PATHS: Final = ("out_file", "error_file")


def _plain(value: Any, where: str) -> Any:
    """A TOML-writable copy of ``value`` (mappings to dicts, tuples to lists)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, where) for item in value]
    if value is None:
        raise StateError(f"cannot save {where}: TOML has no null value")
    return value


def dump_table(
    name: str,
    entry: Mapping[str, Any],
    *,
    base_dir: Path,
    env_name: str | None,
    autostart: bool,
) -> dict[str, Any]:
    """The ``[[apps]]`` table of the standalone ``entry`` (see the module docstring)."""
    cwd = entry.get("cwd")
    if cwd is None:
        cwd = str(base_dir)
    elif isinstance(cwd, str) and cwd.strip():
        cwd = str(relative(cwd, base_dir))
    table: dict[str, Any] = {"name": name, "cwd": cwd}
    for key, value in entry.items():
        if key not in table and not is_env_key(key):
            table[key] = _plain(value, f"{name}.{key}")
    for key in _BASE_DIR_PATHS:
        value = table.get(key)
        if isinstance(value, str) and value.strip():
            table[key] = str(relative(value, base_dir))
    table["autostart"] = autostart
    env = dict(_plain(entry.get("env", {}), f"{name}.env"))
    if env_name is not None:
        overlay = f"env_{env_name}"
        env.update(_plain(entry.get(overlay, {}), f"{name}.{overlay}"))
    if env:
        table["env"] = env
    return table


def ecosystem_text(
    header: str,
    apps: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    notify: Sequence[Mapping[str, Any]] = (),
    empty_note: str = "# No apps.",
) -> str:
    """A whole file: ``header`` (comment lines), then each ``(comment, table)`` of ``apps``
    as an ``[[apps]]`` entry, then the ``[[notify]]`` tables. Names must be unique; a table
    that would not read back as it is (a value TOML cannot hold) is a :class:`StateError`."""
    names = [table["name"] for _, table in apps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StateError(f"cannot save: app names must be unique ({', '.join(duplicates)})")
    parts = [header]
    if not apps:
        parts.append(f"\n{empty_note}\napps = []\n")
    for comment, entry in apps:
        name = entry["name"]
        try:
            table = _table_text("apps", "[[apps]]", entry)
            written = tomllib.loads(table)
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot save app {name!r}: {exc}") from None
        if written != {"apps": [entry]}:
            raise StateError(f"cannot save app {name!r}: its settings do not fit in TOML")
        parts.append("\n" + comment + table)
    for alert in notify:
        try:
            parts.append("\n" + _table_text("notify", "[[notify]]", dict(alert)))
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot save a [[notify]] entry: {exc}") from None
    return "".join(parts)


def _toml_key(key: str) -> str:
    """``key`` as TOML writes it (bare, or quoted when it has to be)."""
    import tomli_w  # here, not at the top: only ``ptm save`` writes TOML

    return tomli_w.dumps({key: 0})[: -len(" = 0\n")]


def _table_text(path: str, header: str, table: Mapping[str, Any]) -> str:
    """``table`` under ``header``, its sub-tables as ``[path.key]`` sections after it.

    (tomli_w alone would write a short ``[[apps]]`` entry as an inline ``apps = [...]``
    array, which cannot be followed by another app's.)
    """
    import tomli_w

    plain = {key: value for key, value in table.items() if not isinstance(value, Mapping)}
    text = f"{header}\n{tomli_w.dumps(plain)}"
    for key, value in table.items():
        if isinstance(value, Mapping):
            sub = f"{path}.{_toml_key(key)}"
            text += "\n" + _table_text(sub, f"[{sub}]", value)
    return text
