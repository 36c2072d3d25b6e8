"""``$PTM_HOME/state.db``: the apps the daemon manages, and the runs of their instances.

One SQLite file in WAL mode (readers never wait for the writer, ``synchronous=NORMAL``), a busy
timeout so that two writers queue instead of failing, mode 0600. The schema is created and
upgraded by numbered migrations recorded in ``PRAGMA user_version``.

Every write is one SQL statement (an upsert, an ``UPDATE ... RETURNING``; deleting an app
removes its runs through a trigger), so a write is atomic on its own and a cancelled coroutine
can never leave a transaction open on the shared connection.

Tables (version 5)::

    apps(name PK, position UNIQUE, entry JSON, base_dir, env_name, source, desired, updated_at,
         caller_env JSON)                                 -- caller_env since version 5
    runs(run_id PK, app, instance, pid, create_time, started_at, ended_at, exit_code, signal,
         end_reason, error)
    notify(source PK, entries JSON, updated_at)          -- since version 2
    processes(id PK, app, instance, stopped, UNIQUE (app, instance))  -- since version 3
    history(app, instance, minute, cpu, memory; PK (app, instance, minute))  -- since version 4

``processes`` holds the process id of each instance (``ptm list``'s ``id``), and whether it
was stopped by its id while its app runs: deleting an app frees its ids through a trigger.
``history`` holds each instance's cpu and memory, a row a minute for 24 hours; deleting an app
deletes its rows through a trigger.

Timestamps are POSIX seconds (floats). ``caller_env`` is the environment of the caller of
``ptm start`` that the app inherits (it may hold secrets: one more reason for mode 0600).
"""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import aiosqlite

from supervisor_core._info import RunRecord
from supervisor_core.errors import StateError, UnknownAppError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_KIB",
    "MIGRATIONS",
    "RUNS_KEPT",
    "SCHEMA_VERSION",
    "DamagedState",
    "Desired",
    "MinuteRow",
    "StateStore",
    "StoredApp",
]

Desired = Literal["running", "stopped"]
_DESIRED: Final = ("running", "stopped")

RUNS_KEPT: Final = 1000
"""Ended runs kept per instance; older ones are deleted as new ones end."""

MinuteRow = tuple[str, int, int, float | None, float]
"""One minute of one process's history: (app, instance, POSIX minute, mean cpu %, max bytes)."""

BUSY_TIMEOUT_MS: Final = 5000
"""How long a write waits for another writer (another connection) before failing."""

CACHE_KIB: Final = 256
"""SQLite's page cache for the connection (``PRAGMA cache_size``), in KiB. Its default,
2,000 KiB, fills with every page read or written: a day of history (1 MB a day for 20
processes) and the runs end up cached by a daemon that reads them once. state.db's hot pages
(the apps, the newest minutes) fit in 256 KiB; a cold page is read from the OS's cache."""

_MINUTES_PER_STATEMENT: Final = 500

_MIGRATION_SOURCES: Final[tuple[tuple[str, ...], ...]] = (
    # 1: apps and runs
    (
        """
        CREATE TABLE apps (
            name       TEXT PRIMARY KEY,
            position   INTEGER NOT NULL UNIQUE,
            entry      TEXT NOT NULL,
            base_dir   TEXT NOT NULL,
            env_name   TEXT,
            source     TEXT,
            desired    TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
            updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE runs (
            run_id      TEXT PRIMARY KEY,
            app         TEXT NOT NULL,
            instance    INTEGER NOT NULL,
            pid         INTEGER,
            create_time REAL,
            started_at  REAL NOT NULL,
            ended_at    REAL,
            exit_code   INTEGER,
            signal      INTEGER,
            end_reason  TEXT,
            error       TEXT
        )
        """,
        "CREATE INDEX runs_by_instance ON runs (app, instance, started_at)",
        "CREATE INDEX runs_open ON runs (ended_at) WHERE ended_at IS NULL",
        """
        CREATE TRIGGER apps_delete_runs AFTER DELETE ON apps
        BEGIN
            DELETE FROM runs WHERE app = OLD.name;
        END
        """,
    ),
    # 2: the [[notify]] entries of each started ecosystem file
    (
        """
        CREATE TABLE notify (
            source     TEXT PRIMARY KEY,
            entries    TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    ),
    # 3: a process id for each instance, as in PM2
    (
        """
        CREATE TABLE processes (
            id       INTEGER PRIMARY KEY CHECK (id >= 0),
            app      TEXT NOT NULL,
            instance INTEGER NOT NULL CHECK (instance >= 0),
            stopped  INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
            UNIQUE (app, instance)
        )
        """,
        """
        CREATE TRIGGER apps_delete_processes AFTER DELETE ON apps
        BEGIN
            DELETE FROM processes WHERE app = OLD.name;
        END
        """,
    ),
    # 4: each process's cpu and memory, one row a minute (kept 24 hours)
    (
        """
        CREATE TABLE history (
            app      TEXT NOT NULL,
            instance INTEGER NOT NULL,
            minute   INTEGER NOT NULL,
            cpu      REAL,
            memory   REAL NOT NULL,
            PRIMARY KEY (app, instance, minute)
        ) WITHOUT ROWID
        """,
        """
        CREATE TRIGGER apps_delete_history AFTER DELETE ON apps
        BEGIN
            DELETE FROM history WHERE app = OLD.name;
        END
        """,
    ),
    # 5: the environment each app inherits (the caller's of ptm start), as a JSON object
    ("ALTER TABLE apps ADD COLUMN caller_env TEXT",),
)
MIGRATIONS: Final = tuple(
    tuple(textwrap.dedent(statement).strip() for statement in version)
    for version in _MIGRATION_SOURCES
)
"""The schema, one tuple of statements per version; never edit a released one, append."""

SCHEMA_VERSION: Final = len(MIGRATIONS)


@dataclass(frozen=True)
class StoredApp:
    """One app the daemon manages, as it was asked for.

    ``entry`` is the app's table as in an ecosystem file (``[defaults]`` merged in, the
    ``env``/``env_<name>`` tables kept), so that ``config.compile_entry(entry,
    base_dir=base_dir, env=env_name)`` gives its :class:`~supervisor_core.config.AppSpec`
    again.
    """

    name: str
    entry: Mapping[str, Any]
    base_dir: str
    """The folder that relative paths in ``entry`` (``cwd``, ``out_file``, ...) start from."""
    env_name: str | None
    """The ``--env`` overlay applied, if any."""
    source: str | None
    """The ecosystem file it came from; ``None`` for ``ptm start script.py``."""
    desired: Desired
    position: int
    """Its place in ``ptm list``. :meth:`StateStore.upsert_app` assigns it. (The ids ``ptm list``
    shows are process ids: :meth:`StateStore.assign_ids`.)"""
    caller_env: Mapping[str, str] | None = None
    """The environment the app inherits (the caller's of ``ptm start``, or of the last
    ``--update-env``); ``None``: the daemon's own."""


class DamagedState(StateError):
    """The state file is not a ptm state database, or not whole (empty, damaged pages,
    undecodable rows): :func:`~supervisor_core.store.open_state` sets it aside."""


def _entry_json(app: StoredApp) -> str:
    try:
        return json.dumps(dict(app.entry), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StateError(
            f"app {app.name!r}: its settings cannot be stored (only strings, numbers, booleans,"
            f" lists and tables): {exc}"
        ) from None


def _caller_env_json(app: StoredApp) -> str | None:
    if app.caller_env is None:
        return None
    return json.dumps(dict(app.caller_env), separators=(",", ":"))


def _caller_env(text: str | None) -> Mapping[str, str] | None:
    if text is None:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError("caller_env is not an object of strings")
    return MappingProxyType(data)


def _app_from_row(row: sqlite3.Row) -> StoredApp:
    return StoredApp(
        name=row["name"],
        entry=MappingProxyType(json.loads(row["entry"])),
        base_dir=row["base_dir"],
        env_name=row["env_name"],
        source=row["source"],
        desired=cast(Desired, row["desired"]),
        position=row["position"],
        caller_env=_caller_env(row["caller_env"]),
    )


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        app=row["app"],
        instance=row["instance"],
        pid=row["pid"],
        create_time=row["create_time"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        end_reason=row["end_reason"],
        error=row["error"],
    )


def _check_desired(desired: str) -> Desired:
    if desired not in _DESIRED:
        raise StateError(f"desired state must be 'running' or 'stopped' (got {desired!r})")
    return cast(Desired, desired)


def _emptied(path: Path) -> bool:
    """An existing state file of 0 bytes with nothing in its write-ahead log: ptm never
    leaves one (the schema is written at the first open), so it was truncated."""
    try:
        if path.stat().st_size != 0:
            return False
    except OSError:
        return False
    try:
        return Path(f"{path}-wal").stat().st_size == 0
    except OSError:
        return True


def _prepare_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) before SQLite does, and enforce 0600."""
    if path.is_dir():
        raise StateError(f"{path}: is a directory, not a state database")
    for folder in path.parents:
        if folder.exists() and not folder.is_dir():
            raise StateError(f"{path}: cannot open the state database: {folder} is not a folder")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateError(f"{path}: cannot open the state database: {exc.strerror or exc}") from None


class StateStore:
    """The daemon's state database. Open with ``await StateStore.open(path)``; close it."""

    def __init__(self, path: Path, db: aiosqlite.Connection) -> None:
        self._path = path
        self._db = db
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    # -----------------------------------------------------------------------------------------
    # Opening

    @classmethod
    async def open(cls, path: Path) -> StateStore:
        """Open (creating and migrating as needed) the database at ``path``.

        A file that is not a ptm state database, or one written by a newer ptm, is a
        :class:`StateError` naming the file.
        """
        path = Path(path)
        emptied = _emptied(path)
        _prepare_file(path)
        if emptied:
            raise DamagedState(f"{path}: empty (0 bytes), not a whole state database")
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StateError(f"{path}: cannot open the state database: {exc}") from None
        store = cls(path, db)
        try:
            db.row_factory = sqlite3.Row
            await store._configure()
            await store._migrate()
            await store._check_whole()
        except StateError:
            await db.close()
            raise
        except sqlite3.OperationalError as exc:
            await db.close()
            raise StateError(f"{path}: cannot use the state database: {exc}") from None
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise DamagedState(f"{path}: not a ptm state database ({exc})") from None
        except BaseException:
            await db.close()
            raise
        return store

    async def _configure(self) -> None:
        await self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA synchronous = NORMAL")
        await self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    async def _user_version(self) -> int:
        rows = await self._db.execute_fetchall("PRAGMA user_version")
        return int(next(iter(rows))[0])

    async def _migrate(self) -> None:
        version = await self._user_version()
        if version == SCHEMA_VERSION:
            return
        self._check_version(version)
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            version = await self._user_version()
            self._check_version(version)
            if version == 0:
                await self._check_foreign_tables()
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {number}")
            await self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            raise

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self._path}: written by a newer ptm (schema version {version}; this ptm knows"
                f" versions up to {SCHEMA_VERSION}); upgrade ptm or use another PTM_HOME"
            )

    async def _check_foreign_tables(self) -> None:
        rows = await self._db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        names = [row["name"] for row in rows]
        if names:
            raise DamagedState(
                f"{self._path}: an SQLite database of something else (tables: "
                f"{', '.join(names)}), not a ptm state database"
            )

    async def _check_whole(self) -> None:
        """SQLite's own check of every page, then every row read back as the daemon will
        read it (a flipped byte in a row's text passes the page check)."""
        verdict = [row[0] for row in await self._db.execute_fetchall("PRAGMA quick_check")]
        if verdict != ["ok"]:
            raise DamagedState(f"{self._path}: damaged ({'; '.join(map(str, verdict[:3]))})")
        try:
            for app in await self.apps():
                _check_desired(app.desired)
            for text in (await self.notify_entries()).values():
                json.loads(text)
            await self.process_ids()
            for row in await self._rows("SELECT * FROM runs"):
                _run_from_row(row)
        except (sqlite3.Error, StateError, UnicodeError, ValueError, TypeError) as exc:
            raise DamagedState(f"{self._path}: a row cannot be read ({exc})") from None

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._db.close()

    async def __aenter__(self) -> StateStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -----------------------------------------------------------------------------------------
    # Statements

    async def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if self._closed:
            raise StateError(f"{self._path}: the state database is closed")
        try:
            rows: Iterable[sqlite3.Row] = await self._db.execute_fetchall(sql, parameters)
        except sqlite3.IntegrityError as exc:
            raise StateError(f"{self._path}: refused by the database: {exc}") from None
        except sqlite3.Error as exc:
            raise StateError(f"{self._path}: state database error: {exc}") from None
        return list(rows)

    # -----------------------------------------------------------------------------------------
    # Apps

    async def upsert_app(self, app: StoredApp) -> StoredApp:
        """Store ``app``: an existing app keeps its position, a new one goes last.

        ``app.position`` is ignored; the stored app (with its position) is returned.
        """
        desired = _check_desired(app.desired)
        rows = await self._rows(
            """
            INSERT INTO apps (name, position, entry, base_dir, env_name, source, desired,
                              updated_at, caller_env)
            VALUES (?, (SELECT COALESCE(MAX(position), -1) + 1 FROM apps), ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET
                caller_env = excluded.caller_env,
                entry = excluded.entry,
                base_dir = excluded.base_dir,
                env_name = excluded.env_name,
                source = excluded.source,
                desired = excluded.desired,
                updated_at = excluded.updated_at
            RETURNING *
            """,
            (
                app.name,
                _entry_json(app),
                app.base_dir,
                app.env_name,
                app.source,
                desired,
                time.time(),
                _caller_env_json(app),
            ),
        )
        return _app_from_row(rows[0])

    async def set_desired(self, name: str, desired: str) -> None:
        """Record whether ``name`` should run; an unknown name is an UnknownAppError."""
        rows = await self._rows(
            "UPDATE apps SET desired = ?, updated_at = ? WHERE name = ? RETURNING name",
            (_check_desired(desired), time.time(), name),
        )
        if not rows:
            raise UnknownAppError(f"no app named {name!r} in {self._path}")

    async def delete_app(self, name: str) -> None:
        """Forget ``name``, its runs and its process ids (UnknownAppError if unknown)."""
        rows = await self._rows("DELETE FROM apps WHERE name = ? RETURNING name", (name,))
        if not rows:
            raise UnknownAppError(f"no app named {name!r} in {self._path}")

    async def apps(self) -> list[StoredApp]:
        """Every app, in ``ptm list`` order (by position)."""
        rows = await self._rows("SELECT * FROM apps ORDER BY position")
        return [_app_from_row(row) for row in rows]

    # -----------------------------------------------------------------------------------------
    # Process ids

    async def process_ids(self) -> dict[str, list[int]]:
        """The process id of each instance, by app: ``ids[app][instance]``, for instances
        ``0, 1, ...`` up to the first without one (:meth:`assign_ids` gives it one)."""
        rows = await self._rows("SELECT id, app, instance FROM processes ORDER BY app, instance")
        ids: dict[str, list[int]] = {}
        for row in rows:
            found = ids.setdefault(row["app"], [])
            if row["instance"] == len(found):
                found.append(int(row["id"]))
        return ids

    async def assign_ids(self, app: str, count: int, wanted: Sequence[int] = ()) -> list[int]:
        """Give instances ``0..count-1`` of ``app`` a process id each and return them.

        An instance that has one keeps it; the ids of instances ``count`` and above are
        freed. A new instance ``i`` gets ``wanted[i]`` when that id is free (``ptm
        resurrect`` gives back saved ids), else one more than the highest id in use (0 when
        none is).
        """
        if count < 0:
            raise StateError(f"an app has 0 or more instances (got {count})")
        await self._rows("DELETE FROM processes WHERE app = ? AND instance >= ?", (app, count))
        have = {
            row["instance"]
            for row in await self._rows("SELECT instance FROM processes WHERE app = ?", (app,))
        }
        for instance in range(count):
            if instance in have:
                continue
            want = wanted[instance] if instance < len(wanted) else None
            await self._rows(
                """
                INSERT INTO processes (id, app, instance) VALUES (
                    CASE WHEN ?1 IS NOT NULL AND ?1 >= 0
                              AND NOT EXISTS (SELECT 1 FROM processes WHERE id = ?1)
                         THEN ?1
                         ELSE (SELECT COALESCE(MAX(id), -1) + 1 FROM processes) END,
                    ?2, ?3)
                ON CONFLICT (app, instance) DO NOTHING
                """,
                (want, app, instance),
            )
        return (await self.process_ids()).get(app, [])

    async def set_stopped(self, app: str, instances: Sequence[int] | None, stopped: bool) -> None:
        """Record that these instances of ``app`` (every one when None) were stopped by their
        process id, so they stay stopped while the app runs (or that they were started)."""
        sql = "UPDATE processes SET stopped = ? WHERE app = ?"
        parameters: list[Any] = [stopped, app]
        if instances is not None:
            sql += " AND instance IN (SELECT value FROM json_each(?))"
            parameters.append(json.dumps(list(instances)))
        await self._rows(sql, parameters)

    async def stopped_instances(self) -> dict[str, set[int]]:
        """The instances stopped by their process id, by app."""
        rows = await self._rows("SELECT app, instance FROM processes WHERE stopped")
        stopped: dict[str, set[int]] = {}
        for row in rows:
            stopped.setdefault(row["app"], set()).add(int(row["instance"]))
        return stopped

    # -----------------------------------------------------------------------------------------
    # Notify entries

    async def set_notify(self, source: str, entries_json: str) -> None:
        """Keep the ``[[notify]]`` entries (a JSON list) of the ecosystem file ``source``,
        replacing what it had; an empty list forgets the file."""
        try:
            entries = json.loads(entries_json)
        except ValueError:
            entries = None
        if not isinstance(entries, list):
            raise StateError(f"notify entries of {source} must be a JSON list")
        if not entries:
            await self._rows("DELETE FROM notify WHERE source = ?", (source,))
            return
        await self._rows(
            "INSERT INTO notify (source, entries, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET"
            " entries = excluded.entries, updated_at = excluded.updated_at",
            (source, entries_json, time.time()),
        )

    async def notify_entries(self) -> dict[str, str]:
        """The kept ``[[notify]]`` entries: ecosystem file → its entries (JSON), by file."""
        rows = await self._rows("SELECT source, entries FROM notify ORDER BY source")
        return {row["source"]: row["entries"] for row in rows}

    # -----------------------------------------------------------------------------------------
    # Runs

    async def record_run_start(self, run: RunRecord) -> None:
        """A run began (``pid`` None: the spawn failed; record its end right after). Its
        ``run_id``, ``app`` and ``instance`` are needed; its end, if known, is not written."""
        if run.run_id is None or run.app is None or run.instance is None:
            raise StateError(f"a run to keep needs its run_id, app and instance: {run}")
        await self._rows(
            "INSERT INTO runs (run_id, app, instance, pid, create_time, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run.run_id, run.app, run.instance, run.pid, run.create_time, run.started_at),
        )

    async def record_run_end(self, run: RunRecord, *, keep: int = RUNS_KEPT) -> None:
        """``run`` (found by its ``run_id``) ended at ``run.ended_at``, with its exit code,
        signal, end reason and error; then only the newest ``keep`` ended runs of its
        instance are kept. An unknown run, or one already ended, is a StateError."""
        run_id = run.run_id
        if run_id is None or run.ended_at is None:
            raise StateError(f"a run's end needs its run_id and ended_at: {run}")
        rows = await self._rows(
            "UPDATE runs SET ended_at = ?, exit_code = ?, signal = ?, end_reason = ?, error = ?"
            " WHERE run_id = ? AND ended_at IS NULL RETURNING app, instance",
            (run.ended_at, run.exit_code, run.signal, run.end_reason, run.error, run_id),
        )
        if rows:
            app, instance = rows[0]["app"], rows[0]["instance"]
            await self._rows(
                "DELETE FROM runs WHERE rowid IN (SELECT rowid FROM runs WHERE app = ? AND"
                " instance = ? AND ended_at IS NOT NULL ORDER BY started_at DESC, rowid DESC"
                " LIMIT -1 OFFSET ?)",
                (app, instance, keep),
            )
            return
        known = await self._rows("SELECT ended_at FROM runs WHERE run_id = ?", (run_id,))
        if known:
            raise StateError(f"run {run_id!r} has already ended")
        raise StateError(f"no run {run_id!r} was recorded")

    async def open_runs(self) -> list[RunRecord]:
        """Runs with a pid and no end, oldest first: candidates to re-adopt or to close."""
        rows = await self._rows(
            "SELECT * FROM runs WHERE ended_at IS NULL AND pid IS NOT NULL"
            " AND create_time IS NOT NULL ORDER BY started_at, rowid"
        )
        return [_run_from_row(row) for row in rows]

    async def close_open_runs(self, *, ended_at: float, end_reason: str) -> int:
        """End every run without an end (with or without a pid); returns how many."""
        rows = await self._rows(
            "UPDATE runs SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL RETURNING run_id",
            (ended_at, end_reason),
        )
        return len(rows)

    async def runs(self, app: str, instance: int | None = None, limit: int = 50) -> list[RunRecord]:
        """The latest ``limit`` runs of ``app`` (of one instance if given), newest first."""
        if limit < 0:
            raise StateError(f"limit must be 0 or more (got {limit})")
        if instance is None:
            rows = await self._rows(
                "SELECT * FROM runs WHERE app = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (app, limit),
            )
        else:
            rows = await self._rows(
                "SELECT * FROM runs WHERE app = ? AND instance = ?"
                " ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (app, instance, limit),
            )
        return [_run_from_row(row) for row in rows]

    async def prune_runs(self, keep_per_instance: int = RUNS_KEPT) -> int:
        """Delete ended runs beyond the newest ``keep_per_instance`` of each instance.

        Open runs are never deleted (they count towards the number kept). Returns how many
        runs were deleted.
        """
        if keep_per_instance < 0:
            raise StateError(f"keep_per_instance must be 0 or more (got {keep_per_instance})")
        rows = await self._rows(
            """
            DELETE FROM runs WHERE ended_at IS NOT NULL AND rowid IN (
                SELECT rowid FROM (
                    SELECT rowid, ROW_NUMBER() OVER (
                        PARTITION BY app, instance ORDER BY started_at DESC, rowid DESC
                    ) AS newest
                    FROM runs
                ) WHERE newest > ?
            )
            RETURNING run_id
            """,
            (keep_per_instance,),
        )
        return len(rows)

    # -----------------------------------------------------------------------------------------
    # History (one row a minute per process)

    async def record_minutes(self, rows: Sequence[MinuteRow]) -> None:
        """Keep these minutes (a minute already kept is replaced)."""
        for start in range(0, len(rows), _MINUTES_PER_STATEMENT):
            chunk = rows[start : start + _MINUTES_PER_STATEMENT]
            await self._rows(
                "INSERT OR REPLACE INTO history (app, instance, minute, cpu, memory) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                [value for row in chunk for value in row],
            )

    async def minutes(
        self, since: int, after: tuple[str, int, int] | None = None, limit: int = -1
    ) -> list[MinuteRow]:
        """Every kept minute from ``since`` on, by process, each process's oldest first; with
        ``after`` (a row's app, instance and minute) only those after it, and at most
        ``limit`` rows: a page, so that a day of many processes is never all in memory."""
        key = ("", -1, -1) if after is None else after  # "" sorts before every app name
        rows = await self._rows(
            "SELECT app, instance, minute, cpu, memory FROM history"
            " WHERE minute >= ? AND (app, instance, minute) > (?, ?, ?)"
            " ORDER BY app, instance, minute LIMIT ?",  # the primary key's order: no sort
            (since, *key, limit),
        )
        return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    async def prune_minutes(self, before: int) -> int:
        """Delete the minutes before ``before``; returns how many."""
        rows = await self._rows("DELETE FROM history WHERE minute < ? RETURNING app", (before,))
        return len(rows)
