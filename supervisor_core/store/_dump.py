"""``$PTM_HOME/dump.toml``: what ``ptm save`` writes and ``ptm resurrect`` reads.

The dump is a plain ecosystem file: one ``[[apps]]`` table per app, each standing alone
(``[defaults]`` already merged in), with

* ``cwd`` always written, and ``cwd``, ``out_file`` and ``error_file`` made absolute (they
  were relative to the folder of the file the app came from); ``script``, ``command`` and
  ``watch`` stay as written, relative to that absolute ``cwd``;
* the effective environment in ``env`` (``env`` with the ``--env`` overlay applied; the
  ``env_<name>`` tables are not written);
* ``autostart = false`` for an app that was stopped, so it stays stopped on resurrect
  (``true`` for the others).

It is written atomically: a temporary file in the same folder, fsync, rename over the dump,
fsync of the folder. The previous dump is kept as ``dump.toml.bak``; both are mode 0600. A
crash at any moment leaves either the old or the new dump, whole. Saving no apps over a dump
that has apps is refused unless ``force=True`` (PM2's dump wiped to ``[]`` on reboot).

These functions block (small files, fsync); call them from a worker thread in the daemon.
"""

from __future__ import annotations

import os
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import tomli_w

from supervisor_core.config import Ecosystem, load_ecosystem
from supervisor_core.errors import StateError
from supervisor_core.store._db import StoredApp
from supervisor_core.store._entries import is_env_key

__all__ = ["BACKUP_SUFFIX", "backup_path", "dump_entry", "dump_text", "read_dump", "write_dump"]

BACKUP_SUFFIX: Final = ".bak"
_BASE_DIR_PATHS: Final = ("out_file", "error_file")


def backup_path(path: Path) -> Path:
    """Where the previous dump is kept: ``dump.toml.bak`` beside ``dump.toml``."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def _under(base: Path, text: str) -> str:
    """``text`` made absolute from ``base`` the way the loader does (``~`` expanded)."""
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base / path
    return os.path.normpath(path)


def _plain(value: Any, where: str) -> Any:
    """A TOML-writable copy of ``value`` (mappings to dicts, tuples to lists)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, where) for item in value]
    if value is None:
        raise StateError(f"cannot save {where}: TOML has no null value")
    return value


def dump_entry(app: StoredApp) -> dict[str, Any]:
    """The ``[[apps]]`` table that ``ptm save`` writes for ``app`` (see the module docstring)."""
    base = Path(app.base_dir)
    cwd = app.entry.get("cwd")
    if cwd is None:
        cwd = str(base)
    elif isinstance(cwd, str) and cwd.strip():
        cwd = _under(base, cwd)
    entry: dict[str, Any] = {"name": app.name, "cwd": cwd}
    for key, value in app.entry.items():
        if key not in entry and not is_env_key(key):
            entry[key] = _plain(value, f"{app.name}.{key}")
    for key in _BASE_DIR_PATHS:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            entry[key] = _under(base, value)
    entry["autostart"] = app.desired == "running"
    env = dict(_plain(app.entry.get("env", {}), f"{app.name}.env"))
    if app.env_name is not None:
        overlay = f"env_{app.env_name}"
        env.update(_plain(app.entry.get(overlay, {}), f"{app.name}.{overlay}"))
    if env:
        entry["env"] = env
    return entry


def _comment(app: StoredApp) -> str:
    origin = f"from {app.source}" if app.source is not None else "started without a file"
    env = f", --env {app.env_name}" if app.env_name is not None else ""
    return f"# id {app.position}: {origin}{env}; {app.desired} when saved\n"


def dump_text(
    apps: Sequence[StoredApp],
    *,
    saved_at: float | None = None,
    notify: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The text of a dump of ``apps`` (in the given order), then ``notify`` entries (tables
    of an ecosystem file's ``[[notify]]``: events, apps, webhook or command)."""
    names = [app.name for app in apps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StateError(f"cannot save: app names must be unique ({', '.join(duplicates)})")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved_at))
    parts = [
        f"# Written by `ptm save` at {stamp}: the apps ptm managed and their desired state.\n"
        "# An ecosystem file: `ptm resurrect` reads it back. autostart = false marks an app\n"
        "# that was stopped: it is registered again, but not started.\n"
    ]
    if not apps:
        parts.append("\n# No apps were registered when this was saved.\napps = []\n")
    for app in apps:
        entry = dump_entry(app)
        try:
            table = _table_text("apps", "[[apps]]", entry)
            written = tomllib.loads(table)
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot save app {app.name!r}: {exc}") from None
        if written != {"apps": [entry]}:
            raise StateError(f"cannot save app {app.name!r}: its settings do not fit in TOML")
        parts.append("\n" + _comment(app) + table)
    for alert in notify:
        try:
            parts.append("\n" + _table_text("notify", "[[notify]]", dict(alert)))
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot save a [[notify]] entry: {exc}") from None
    return "".join(parts)


def _toml_key(key: str) -> str:
    """``key`` as TOML writes it (bare, or quoted when it has to be)."""
    return tomli_w.dumps({key: 0})[: -len(" = 0\n")]


def _table_text(path: str, header: str, table: Mapping[str, Any]) -> str:
    """``table`` under ``header``, its sub-tables as ``[path.key]`` sections after it.

    (tomli_w alone would write a short ``[[apps]]`` entry as an inline ``apps = [...]``
    array, which cannot be followed by another app's.)
    """
    plain = {key: value for key, value in table.items() if not isinstance(value, Mapping)}
    text = f"{header}\n{tomli_w.dumps(plain)}"
    for key, value in table.items():
        if isinstance(value, Mapping):
            sub = f"{path}.{_toml_key(key)}"
            text += "\n" + _table_text(sub, f"[{sub}]", value)
    return text


def _apps_in(path: Path) -> int | None:
    """How many apps the dump at ``path`` has (0 if none, or no file); None: unreadable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    apps = data.get("apps")
    return len(apps) if isinstance(apps, list) else None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Temporary files left by a save that crashed before its rename."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_dump(
    path: Path,
    apps: Sequence[StoredApp],
    *,
    force: bool = False,
    notify: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write ``apps`` (and the ``[[notify]]`` entries that alert about them) to the dump at
    ``path`` atomically, keeping the old one as ``.bak``.

    Refuses (:class:`StateError`) to replace a dump that has apps, or one that cannot be read,
    with an empty list unless ``force``. Returns ``path``. One save at a time: the daemon
    serialises them (a save removes the temporary files that crashed saves left behind).
    """
    path = Path(path)
    if not apps and not force:
        existing = _apps_in(path)
        if existing is None:
            raise StateError(
                f"not saving an empty list over {path}, which cannot be read (it may be damaged)"
                "; nothing is registered. Use force (ptm save --force) to replace it"
            )
        if existing:
            raise StateError(
                f"not replacing {path} ({existing} app{'s' if existing != 1 else ''}) with an"
                " empty list: nothing is registered. Use force (ptm save --force) to save it"
            )
    data = dump_text(apps, notify=notify).encode("utf-8")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale_temps(path)  # also those of dump.toml.bak (.dump.toml.bak.*.tmp)
        try:
            previous: bytes | None = path.read_bytes()
        except FileNotFoundError:
            previous = None
        if previous is not None:
            _atomic_write(backup_path(path), previous)
        _atomic_write(path, data)
    except OSError as exc:
        raise StateError(f"{path}: cannot write the dump: {exc.strerror or exc}") from None
    return path


def read_dump(path: Path) -> Ecosystem:
    """The dump at ``path`` as an :class:`Ecosystem` (``load_ecosystem``; errors as it gives).

    A missing dump is a :class:`StateError`; a dump saved with no apps (``apps = []``, which
    ``load_ecosystem`` refuses) gives an :class:`Ecosystem` without apps.
    """
    path = Path(path)
    if not path.exists():
        raise StateError(f"no dump at {path}; run ptm save first")
    try:
        data: dict[str, Any] | None = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = None  # load_ecosystem says what is wrong
    if data == {"apps": []}:
        return Ecosystem(path=Path(os.path.normpath(path.expanduser().absolute())), apps=())
    return load_ecosystem(path)
