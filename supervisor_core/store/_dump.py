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

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from supervisor_core.config import (
    Ecosystem,
    dump_table,
    ecosystem_text,
    parse_ecosystem,
    read_source,
)
from supervisor_core.errors import ConfigError, StateError
from supervisor_core.store._db import StoredApp

__all__ = [
    "BACKUP_SUFFIX",
    "backup_path",
    "dump_entry",
    "dump_ids",
    "dump_text",
    "read_dump",
    "write_dump",
]

BACKUP_SUFFIX: Final = ".bak"


def backup_path(path: Path) -> Path:
    """Where the previous dump is kept: ``dump.toml.bak`` beside ``dump.toml``."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def dump_entry(app: StoredApp) -> dict[str, Any]:
    """The ``[[apps]]`` table that ``ptm save`` writes for ``app``."""
    return dump_table(
        app.name,
        app.entry,
        base_dir=Path(app.base_dir),
        env_name=app.env_name,
        autostart=app.desired == "running",
    )


_IDS_LINE: Final = re.compile(r'^# ("(?:[^"\\]|\\.)*") ids? ([0-9]+(?:, [0-9]+)*):', re.M)
"""The comment that gives an app's process ids: ``# "api" ids 3, 4: from ...``."""


def _comment(app: StoredApp, ids: Sequence[int] | None) -> str:
    origin = f"from {app.source}" if app.source is not None else "started without a file"
    env = f", --env {app.env_name}" if app.env_name is not None else ""
    known = ""
    if ids:
        word = "id" if len(ids) == 1 else "ids"
        known = f"{json.dumps(app.name)} {word} {', '.join(map(str, ids))}: "
    return f"# {known}{origin}{env}; {app.desired} when saved\n"


def dump_ids(text: str) -> dict[str, list[int]]:
    """The process ids a dump's comments give each app (``ptm resurrect`` gives them back
    when they are free); an app without that comment is left out."""
    ids: dict[str, list[int]] = {}
    for match in _IDS_LINE.finditer(text):
        try:
            name = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(name, str):
            ids[name] = [int(number) for number in match.group(2).split(", ")]
    return ids


def dump_text(
    apps: Sequence[StoredApp],
    *,
    saved_at: float | None = None,
    notify: Sequence[Mapping[str, Any]] = (),
    ids: Mapping[str, Sequence[int]] | None = None,
) -> str:
    """The text of a dump of ``apps`` (in the given order), then ``notify`` entries (tables
    of an ecosystem file's ``[[notify]]``: events, apps, webhook or command). ``ids`` are
    the process ids of each app's instances, written in its comment (:func:`dump_ids`)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved_at))
    header = (
        f"# Written by `ptm save` at {stamp}: the apps ptm managed and their desired state.\n"
        "# An ecosystem file: `ptm resurrect` reads it back. autostart = false marks an app\n"
        "# that was stopped: it is registered again, but not started.\n"
    )
    return ecosystem_text(
        header,
        [(_comment(app, (ids or {}).get(app.name)), dump_entry(app)) for app in apps],
        notify=notify,
        empty_note="# No apps were registered when this was saved.",
    )


def _apps_in(path: Path) -> int | None:
    """How many apps the dump at ``path`` has (0 if none, or no file); None: unreadable."""
    if not path.exists():
        return 0
    try:
        apps = read_source(path).get("apps")
    except ConfigError:
        return None
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
    ids: Mapping[str, Sequence[int]] | None = None,
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
    data = dump_text(apps, notify=notify, ids=ids).encode("utf-8")
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


def read_dump(path: Path, *, caller_env: Mapping[str, str] | None = None) -> Ecosystem:
    """The dump at ``path`` as an :class:`Ecosystem` (read once; errors as ``load_ecosystem``
    gives them), its apps inheriting ``caller_env`` (``None``: this process's environment).

    A missing dump is a :class:`StateError`; a dump saved with no apps (``apps = []``, which
    an ecosystem file may not say) gives an :class:`Ecosystem` without apps.
    """
    path = Path(os.path.normpath(Path(path).expanduser().absolute()))
    if not path.exists():
        raise StateError(f"no dump at {path}; run ptm save first")
    data = read_source(path)
    if data == {"apps": []}:
        return Ecosystem(path=path, apps=())
    return parse_ecosystem(data, path=path, caller_env=caller_env)
