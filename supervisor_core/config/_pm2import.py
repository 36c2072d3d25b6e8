"""``ptm import``: a PM2 ecosystem file written as a commented ``ecosystem.toml``.

The TOML holds the tables :func:`read_pm2` made, so it loads to the same specs: that is
checked before the text is returned, for the file's ``env`` and every ``env_<name>``. The
file may have been written for another machine: a ``cwd``, script, program, ``watch`` path or
account that is not on this one does not stop the conversion; it is listed in
:attr:`ImportedFile.absent` (``ptm start`` of either file still refuses it). Each
app's table is preceded by comments saying what was converted or dropped, and why. Paths
relative to the PM2 file's folder (``cwd``, ``out_file``, ``error_file``) are made absolute
when the TOML is written to another folder.
"""

from __future__ import annotations

import os
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor_core.config._app import is_env_key, normalized, relative
from supervisor_core.config._loader import _parse
from supervisor_core.config._pm2 import read_pm2
from supervisor_core.config._pm2keys import Note
from supervisor_core.config._specs import AppSpec
from supervisor_core.config._writer import ecosystem_text
from supervisor_core.errors import ConfigError

__all__ = ["ImportedFile", "import_pm2"]

_BASE_DIR_PATHS = ("cwd", "out_file", "error_file")


@dataclass(frozen=True)
class ImportedFile:
    """The TOML text of a PM2 file, and what became of each of its keys."""

    text: str
    notes: tuple[Note, ...]
    apps: tuple[str, ...]
    absent: tuple[str, ...] = ()
    """What is not on this machine (``FILE: apps[0].script: no such file in ...``), once
    each: written as it is, for the machine the file was written for."""


def import_pm2(path: str | os.PathLike[str], output: str | os.PathLike[str]) -> ImportedFile:
    """The ``ecosystem.toml`` text, to be written at ``output``, for the PM2 file ``path``."""
    file = os.fspath(path)
    if os.fspath(path).lower().endswith(".toml"):
        raise ConfigError("already a ptm ecosystem file (TOML); nothing to import", file=file)
    data, notes = read_pm2(file)
    source = normalized(Path(file))
    absent: list[ConfigError] = []
    before = _specs(data, source, source.parent, absent)  # errors name the PM2 file
    target = normalized(Path(output))
    moved = target.parent != source.parent
    tables: list[tuple[str, dict[str, Any]]] = []
    for index, table in enumerate(data["apps"]):
        table = dict(table)
        if moved:
            table.setdefault("cwd", str(source.parent))
            for key in _BASE_DIR_PATHS:
                value = table.get(key)
                if isinstance(value, str) and value.strip():
                    table[key] = str(relative(value, source.parent))
        tables.append((_app_comment(f"apps[{index}]", table["name"], notes), table))
    text = ecosystem_text(_header(file, target.name, notes), tables)
    after = _specs(tomllib.loads(text), target, target.parent, [])
    if after != before:  # a bug of the conversion, never the user's
        raise ConfigError(f"the TOML written for {file} would not load to the same apps")
    return ImportedFile(
        text=text,
        notes=notes,
        apps=tuple(name for name, _ in before[None]),
        absent=tuple(dict.fromkeys(str(error) for error in absent)),
    )


def _specs(
    data: Mapping[str, Any], path: Path, base_dir: Path, absent: list[ConfigError]
) -> dict[str | None, list[tuple[str, AppSpec]]]:
    """The apps of ``data`` for no ``--env`` and for each ``env_<name>`` it has; what is not
    on this machine goes to ``absent``."""
    names: set[str | None] = {None}
    for table in data["apps"]:
        names.update(key[4:] for key in table if is_env_key(key) and key != "env")
    return {
        env: [
            (app.name, app)
            for app in _parse(
                data, file=str(path), path=path, env=env, base_dir=base_dir, absent=absent
            ).apps
        ]
        for env in sorted(names, key=lambda name: name or "")
    }


def _lines(notes: Sequence[Note], prefix: str) -> list[str]:
    lines = []
    for note in notes:
        key = note.key[len(prefix) + 1 :] if prefix else note.key
        if note.kind == "converted":
            text = f"{key}: {note.text}"
        elif note.kind == "dropped":
            text = f"{key} dropped: {note.text}"
        else:
            continue
        lines.extend(textwrap.wrap(text, 95, initial_indent="#   ", subsequent_indent="#     "))
    return lines


def _app_comment(where: str, name: str, notes: Sequence[Note]) -> str:
    own = [note for note in notes if note.key.startswith(where + ".")]
    lines = [f"# {name}: PM2's {where}"]
    changed = _lines(own, where)
    if changed:
        lines.append("# Converted or dropped:")
        lines.extend(changed)
    return "\n".join(lines) + "\n"


def _header(file: str, name: str, notes: Sequence[Note]) -> str:
    lines = [
        f"# Written by `ptm import` from the PM2 file {os.path.abspath(file)}.",
        f"# It loads to the same apps. Start them with: ptm start {name} [--env NAME]",
        "# (see docs/coming-from-pm2.md for every PM2 key and command).",
    ]
    top = [note for note in notes if "." not in note.key and note.kind == "dropped"]
    if top:
        lines.append("# Dropped:")
        lines.extend(_lines(top, ""))
    return "\n".join(lines) + "\n"
