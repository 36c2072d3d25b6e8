"""state.db: real SQLite files: migrations, WAL, mode 0600, apps, runs, concurrency, bad files."""

from __future__ import annotations

import math
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from supervisor_core import RunRecord
from supervisor_core.errors import StateError, UnknownAppError
from supervisor_core.store import DamagedState, StateStore, StoredApp, _db
from supervisor_core.store._db import MIGRATIONS, RUNS_KEPT, SCHEMA_VERSION

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app(name: str, **changes: Any) -> StoredApp:
    values: dict[str, Any] = {
        "name": name,
        "entry": {"name": name, "script": f"{name}.py", "env": {"PORT": 3000}},
        "base_dir": "/srv/project",
        "env_name": None,
        "source": "/srv/project/ecosystem.toml",
        "desired": "running",
        "position": -1,
    }
    values.update(changes)
    return StoredApp(**values)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


def one_line_error(info: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# Opening, migrations, file properties


async def test_creates_and_migrates_a_new_file_with_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.db"
    store = await StateStore.open(path)
    try:
        assert path.exists()
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
    finally:
        await store.close()
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in raw(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"apps", "runs"} <= tables


async def test_an_empty_file_is_not_taken_for_a_fresh_start(tmp_path: Path) -> None:
    """ptm never leaves a 0-byte state.db (the schema is written at the first open): one is a
    truncated file, and taking it for a fresh start lost every app silently."""
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    with pytest.raises(DamagedState, match="empty"):
        await StateStore.open(path)
    assert path.read_bytes() == b""


async def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
        await store.record_run_start(
            RunRecord(run_id="r1", app="web", instance=0, pid=10, create_time=1.0, started_at=2.0)
        )
    async with await StateStore.open(path) as store:
        assert [a.name for a in await store.apps()] == ["web"]
        assert [r.run_id for r in await store.runs("web")] == ["r1"]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_an_older_database_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
    version_2 = ("ALTER TABLE apps ADD COLUMN note TEXT", "UPDATE apps SET note = 'kept'")
    monkeypatch.setattr(_db, "MIGRATIONS", (*MIGRATIONS, version_2))
    monkeypatch.setattr(_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    async with await StateStore.open(path) as store:
        assert [a.name for a in await store.apps()] == ["web"]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert raw(path, "SELECT name, note FROM apps") == [("web", "kept")]


async def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
    broken = ("ALTER TABLE apps ADD COLUMN note TEXT", "UPDATE no_such_table SET x = 1")
    monkeypatch.setattr(_db, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StateError) as info:
        await StateStore.open(path)
    assert (
        one_line_error(info)
        == f"{path}: cannot use the state database: no such table: no_such_table"
    )
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    columns = [row[1] for row in raw(path, "PRAGMA table_info(apps)")]
    assert "note" not in columns


async def test_wal_mode_and_private_wal_files(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web", caller_env={"API_TOKEN": "s3cret"}))
        assert raw(path, "PRAGMA journal_mode") == [("wal",)]
        wal = path.with_name("state.db-wal")
        assert wal.exists()
        # The inherited environments (secrets) are in these three files: the owner's only.
        for file in (path, wal, path.with_name("state.db-shm")):
            assert mode(file) == 0o600, file


async def test_the_page_cache_is_small(tmp_path: Path) -> None:
    """SQLite's default cache (2,000 KiB) would keep every page the daemon ever read."""
    async with await StateStore.open(tmp_path / "state.db") as store:
        [(pages,)] = await store._db.execute_fetchall("PRAGMA cache_size")
        assert pages == -_db.CACHE_KIB == -256


async def test_the_caller_env_is_kept_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        assert (await store.upsert_app(app("web"))).caller_env is None
        env = {"FOO": "bar", "PATH": "/usr/bin", "NAME": "é ✓"}
        assert (await store.upsert_app(app("web", caller_env=env))).caller_env == env
    async with await StateStore.open(path) as store:
        assert (await store.apps())[0].caller_env == env
        await store.set_desired("web", "stopped")
        assert (await store.apps())[0].caller_env == env
        assert (await store.upsert_app(app("web", caller_env=None))).caller_env is None


async def test_a_version_4_database_gets_the_caller_env_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    with monkeypatch.context() as patch:
        patch.setattr(_db, "MIGRATIONS", MIGRATIONS[:4])
        patch.setattr(_db, "SCHEMA_VERSION", 4)
        async with await StateStore.open(path) as store:
            await store._rows(
                "INSERT INTO apps (name, position, entry, base_dir, desired, updated_at)"
                " VALUES ('web', 0, '{}', '/srv', 'running', 0)"
            )
    async with await StateStore.open(path) as store:
        (web,) = await store.apps()
    assert web.name == "web" and web.caller_env is None
    assert raw(path, "PRAGMA user_version") == [(5,)] == [(SCHEMA_VERSION,)]


async def test_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = await StateStore.open(path)
    second = await StateStore.open(path)
    try:

        async def writer(store: StateStore, prefix: str) -> None:
            for index in range(30):
                await store.upsert_app(app(f"{prefix}{index}"))
                await start(
                    store,
                    f"{prefix}-{index}",
                    f"{prefix}{index}",
                    pid=index + 1,
                    create_time=1.0,
                    started_at=float(index),
                )

        async with anyio.create_task_group() as group:
            group.start_soon(writer, first, "a")
            group.start_soon(writer, second, "b")
            group.start_soon(writer, first, "c")
        apps = await second.apps()
        assert len(apps) == 90
        assert sorted(a.position for a in apps) == list(range(90))
    finally:
        await first.close()
        await second.close()


async def test_a_write_waits_for_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        locked = threading.Event()
        released: list[float] = []

        def hold_lock() -> None:
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE apps SET desired = desired")
            locked.set()
            time.sleep(0.3)  # hold the lock: the store's write must wait this long
            released.append(time.monotonic())
            db.execute("COMMIT")
            db.close()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        try:
            assert await anyio.to_thread.run_sync(locked.wait, 10)
            stored = await store.upsert_app(app("web"))
            done = time.monotonic()
        finally:
            await anyio.to_thread.run_sync(holder.join)
        assert stored.position == 0
        assert done >= released[0]


async def test_a_file_that_is_not_sqlite_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StateError) as info:
        await StateStore.open(path)
    assert one_line_error(info) == f"{path}: not a ptm state database (file is not a database)"
    assert path.read_text().startswith("these are my notes")


async def test_a_sqlite_file_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    db.close()
    with pytest.raises(StateError) as info:
        await StateStore.open(path)
    assert one_line_error(info) == (
        f"{path}: an SQLite database of something else (tables: customers),"
        " not a ptm state database"
    )
    assert raw(path, "PRAGMA user_version") == [(0,)]


async def test_a_database_from_a_newer_ptm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError) as info:
        await StateStore.open(path)
    assert one_line_error(info).startswith(
        f"{path}: written by a newer ptm (schema version {SCHEMA_VERSION + 1};"
    )


async def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError) as info:
        await StateStore.open(tmp_path)
    assert one_line_error(info) == f"{tmp_path}: is a directory, not a state database"


async def test_a_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where PTM_HOME should be\n")
    path = blocker / "state.db"
    with pytest.raises(StateError) as info:
        await StateStore.open(path)
    assert one_line_error(info) == (
        f"{path}: cannot open the state database: {blocker} is not a folder"
    )


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path / "state.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StateError, match="closed"):
        await store.apps()


# ---------------------------------------------------------------------------------------------
# Apps


async def test_upsert_assigns_positions_and_keeps_them(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        first = await store.upsert_app(app("a", position=7))
        assert first.position == 0
        assert (await store.upsert_app(app("b"))).position == 1
        assert (await store.upsert_app(app("c"))).position == 2
        changed = await store.upsert_app(
            app(
                "b",
                entry={"name": "b", "command": "sleep 1"},
                base_dir="/elsewhere",
                env_name="production",
                source=None,
                desired="stopped",
                position=0,
            )
        )
        assert changed == app(
            "b",
            entry={"name": "b", "command": "sleep 1"},
            base_dir="/elsewhere",
            env_name="production",
            source=None,
            desired="stopped",
            position=1,
        )
        assert [(a.name, a.position) for a in await store.apps()] == [
            ("a", 0),
            ("b", 1),
            ("c", 2),
        ]
        assert (await store.apps())[1] == changed


async def test_delete_and_the_next_position(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        for name in ("a", "b", "c"):
            await store.upsert_app(app(name))
        await store.delete_app("c")
        assert (await store.upsert_app(app("d"))).position == 2
        await store.delete_app("a")
        assert [(a.name, a.position) for a in await store.apps()] == [("b", 1), ("d", 2)]
        assert (await store.upsert_app(app("e"))).position == 3
        with pytest.raises(UnknownAppError, match="no app named 'a'"):
            await store.delete_app("a")


async def test_entries_keep_their_values(tmp_path: Path) -> None:
    entry = {
        "name": "web",
        "script": "web.py",
        "args": ["--port", "8000"],
        "instances": 2,
        "autorestart": False,
        "ratio": 0.5,
        "health_check": {"url": "http://127.0.0.1:8000/", "failures": 3},
        "env": {"PORT": 8000, "DEBUG": True, "NAME": "é ✓"},
    }
    async with await StateStore.open(tmp_path / "state.db") as store:
        stored = await store.upsert_app(app("web", entry=entry))
    assert dict(stored.entry) == entry
    async with await StateStore.open(tmp_path / "state.db") as store:
        assert dict((await store.apps())[0].entry) == entry


@pytest.mark.parametrize("bad", [{1, 2}, Path("/x"), math.nan])
async def test_an_entry_that_cannot_be_stored_is_a_state_error(tmp_path: Path, bad: Any) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        with pytest.raises(StateError) as info:
            await store.upsert_app(app("web", entry={"name": "web", "odd": bad}))
        assert one_line_error(info).startswith("app 'web': its settings cannot be stored")
        assert await store.apps() == []


async def test_set_desired(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        await store.upsert_app(app("web"))
        await store.set_desired("web", "stopped")
        assert (await store.apps())[0].desired == "stopped"
        await store.set_desired("web", "running")
        assert (await store.apps())[0].desired == "running"
        with pytest.raises(UnknownAppError, match="no app named 'nope'"):
            await store.set_desired("nope", "stopped")
        with pytest.raises(StateError, match="must be 'running' or 'stopped'"):
            await store.set_desired("web", "paused")
        with pytest.raises(StateError, match="must be 'running' or 'stopped'"):
            await store.upsert_app(app("other", desired="online"))


# ---------------------------------------------------------------------------------------------
# Runs


async def start(store: StateStore, run_id: str, app_name: str = "web", **values: Any) -> None:
    fields: dict[str, Any] = {
        "app": app_name,
        "instance": 0,
        "pid": 100,
        "create_time": 1000.5,
        "started_at": 2000.0,
    }
    fields.update(values)
    await store.record_run_start(RunRecord(run_id=run_id, **fields))


async def end(store: StateStore, run_id: str, **values: Any) -> None:
    """The end of run ``run_id`` (as the daemon reports it, with the start's fields unused)."""
    await store.record_run_end(RunRecord(pid=None, started_at=0.0, run_id=run_id, **values))


async def test_runs_start_end_and_order(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        await start(store, "r1", started_at=10.0)
        await start(store, "r2", instance=1, pid=101, started_at=11.0)
        await start(store, "r3", pid=None, create_time=None, started_at=12.0)
        await start(store, "o1", app_name="other", started_at=13.0)
        await end(store, "r1", ended_at=15.0, exit_code=None, signal=9, end_reason="memory")
        await end(
            store,
            "r3",
            ended_at=12.0,
            exit_code=None,
            signal=None,
            end_reason="spawn",
            error="no such file",
        )
        runs = await store.runs("web")
        assert [r.run_id for r in runs] == ["r3", "r2", "r1"]
        r1 = runs[2]
        assert (r1.pid, r1.create_time, r1.started_at, r1.ended_at) == (100, 1000.5, 10.0, 15.0)
        assert (r1.exit_code, r1.signal, r1.end_reason, r1.error) == (None, 9, "memory", None)
        assert runs[0].error == "no such file"
        assert runs[1].ended_at is None
        assert [r.run_id for r in await store.runs("web", instance=0)] == ["r3", "r1"]
        assert [r.run_id for r in await store.runs("web", limit=1)] == ["r3"]
        assert await store.runs("nobody") == []


async def test_run_errors(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        await start(store, "r1")
        with pytest.raises(StateError, match="refused by the database"):
            await start(store, "r1")
        ended: dict[str, Any] = {
            "ended_at": 3.0,
            "exit_code": 0,
            "signal": None,
            "end_reason": "exit",
        }
        with pytest.raises(StateError, match="no run 'r9' was recorded"):
            await end(store, "r9", **ended)
        await end(store, "r1", **ended)
        with pytest.raises(StateError, match="run 'r1' has already ended"):
            await end(store, "r1", **{**ended, "exit_code": 1})
        assert (await store.runs("web"))[0].exit_code == 0
        with pytest.raises(StateError, match="limit"):
            await store.runs("web", limit=-1)


async def test_open_runs_and_closing_them(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await start(store, "ended", started_at=1.0)
        await end(store, "ended", ended_at=2.0, exit_code=0, signal=None, end_reason="exit")
        await start(store, "alive", pid=200, create_time=55.5, started_at=3.0)
        await start(store, "alive2", instance=1, pid=201, create_time=56.5, started_at=4.0)
        await start(store, "no-pid", pid=None, create_time=None, started_at=5.0)
    # The daemon died; a new one opens the file.
    async with await StateStore.open(path) as store:
        assert await store.open_runs() == [
            RunRecord(
                run_id="alive", app="web", instance=0, pid=200, create_time=55.5, started_at=3.0
            ),
            RunRecord(
                run_id="alive2", app="web", instance=1, pid=201, create_time=56.5, started_at=4.0
            ),
        ]
        assert await store.close_open_runs(ended_at=9.0, end_reason="daemon-lost") == 3
        assert await store.open_runs() == []
        assert await store.close_open_runs(ended_at=10.0, end_reason="daemon-lost") == 0
        runs = {r.run_id: r for r in await store.runs("web")}
        assert runs["alive"].ended_at == 9.0
        assert runs["alive"].end_reason == "daemon-lost"
        assert runs["no-pid"].end_reason == "daemon-lost"
        assert runs["ended"].end_reason == "exit"
        assert runs["ended"].ended_at == 2.0


async def test_prune_keeps_the_newest_runs_of_each_instance(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        for index in range(10):
            await start(store, f"a0-{index}", started_at=float(index))
            await end(
                store,
                f"a0-{index}",
                ended_at=index + 0.5,
                exit_code=1,
                signal=None,
                end_reason="crash",
            )
        await start(store, "a0-open", started_at=11.0)
        for index in range(2):
            await start(store, f"a1-{index}", instance=1, started_at=float(index))
            await end(
                store, f"a1-{index}", ended_at=20.0, exit_code=0, signal=None, end_reason="exit"
            )
        for index in range(5):
            await start(store, f"b0-{index}", app_name="b", started_at=float(index))
            await end(
                store, f"b0-{index}", ended_at=20.0, exit_code=0, signal=None, end_reason="exit"
            )
        assert await store.prune_runs(keep_per_instance=3) == 8 + 2
        assert [r.run_id for r in await store.runs("web", instance=0)] == [
            "a0-open",
            "a0-9",
            "a0-8",
        ]
        assert [r.run_id for r in await store.runs("web", instance=1)] == ["a1-1", "a1-0"]
        assert [r.run_id for r in await store.runs("b")] == ["b0-4", "b0-3", "b0-2"]
        assert await store.prune_runs(keep_per_instance=3) == 0
        # Open runs are never pruned, even with nothing kept.
        assert await store.prune_runs(keep_per_instance=0) == 2 + 2 + 3
        assert [r.run_id for r in await store.runs("web")] == ["a0-open"]
        with pytest.raises(StateError, match="keep_per_instance"):
            await store.prune_runs(keep_per_instance=-1)


async def test_deleting_an_app_forgets_its_runs(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        await store.upsert_app(app("web"))
        await store.upsert_app(app("other"))
        await start(store, "w1")
        await start(store, "o1", app_name="other")
        await store.delete_app("web")
        assert await store.runs("web") == []
        assert [r.run_id for r in await store.runs("other")] == ["o1"]


async def test_ended_runs_beyond_runs_kept_are_deleted_as_runs_end(tmp_path: Path) -> None:
    """A crash loop cannot grow state.db: each end keeps the newest RUNS_KEPT of its instance."""
    async with await StateStore.open(tmp_path / "state.db") as store:
        await start(store, "other", instance=1, started_at=0.5)
        await start(store, "open", started_at=0.0)  # still running: never deleted
        for i in range(RUNS_KEPT + 40):
            await start(store, f"r{i}", started_at=1.0 + i)
            await end(
                store, f"r{i}", ended_at=1.5 + i, exit_code=1, signal=None, end_reason="crash"
            )
        runs = await store.runs("web", 0, limit=10 * RUNS_KEPT)
        ended = [run for run in runs if run.ended_at is not None]
        assert len(ended) == RUNS_KEPT
        assert min(run.started_at for run in ended) == 1.0 + 40  # the oldest went first
        assert {run.run_id for run in runs} >= {"open"}
        assert [run.run_id for run in await store.runs("web", 1)] == ["other"]


# ---------------------------------------------------------------------------------------------
# Process ids


async def test_process_ids_are_kept_and_freed_only_by_delete(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
        await store.upsert_app(app("api"))
        assert await store.assign_ids("web", 2) == [0, 1]
        assert await store.assign_ids("api", 1) == [2]
        assert await store.assign_ids("web", 2) == [0, 1]  # a known instance keeps its id
        assert await store.assign_ids("web", 3) == [0, 1, 3]  # scaling up: the next id
        assert await store.assign_ids("web", 1) == [0]  # scaling down frees 1 and 3
        assert await store.process_ids() == {"api": [2], "web": [0]}
        assert await store.assign_ids("web", 2) == [0, 3]  # one more than the highest in use
    async with await StateStore.open(path) as store:  # a daemon restart keeps them
        assert await store.process_ids() == {"api": [2], "web": [0, 3]}
        await store.delete_app("web")  # delete frees the app's ids
        assert await store.process_ids() == {"api": [2]}
        await store.upsert_app(app("web"))
        assert await store.assign_ids("web", 2) == [3, 4]


async def test_wanted_process_ids_are_given_when_free(tmp_path: Path) -> None:
    """ptm resurrect asks for the ids the dump saved: a free one is given back, a taken one
    is not (the instance gets the next id)."""
    async with await StateStore.open(tmp_path / "state.db") as store:
        await store.upsert_app(app("api"))
        await store.upsert_app(app("web"))
        assert await store.assign_ids("api", 1, wanted=[5]) == [5]
        assert await store.assign_ids("web", 3, wanted=[5, 2]) == [6, 2, 7]
        with pytest.raises(StateError, match="0 or more instances"):
            await store.assign_ids("web", -1)


async def test_a_version_2_database_gets_the_processes_table(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO apps VALUES ('web', 0, '{\"name\": \"web\"}', '/', NULL, NULL,"
            " 'running', 0)"
        )
    db.close()
    async with await StateStore.open(path) as store:
        assert [a.name for a in await store.apps()] == ["web"]
        assert await store.process_ids() == {}  # the daemon numbers them at its start
        assert await store.assign_ids("web", 2) == [0, 1]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION >= 3


async def test_a_version_3_database_gets_the_history_table(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1], *MIGRATIONS[2]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 3")
        db.execute(
            "INSERT INTO apps VALUES ('web', 0, '{\"name\": \"web\"}', '/', NULL, NULL,"
            " 'running', 0)"
        )
    db.close()
    async with await StateStore.open(path) as store:
        assert [a.name for a in await store.apps()] == ["web"]
        assert await store.minutes(since=0) == []
        await store.record_minutes([("web", 0, 100, 1.5, 2048.0)])
        assert await store.minutes(since=0) == [("web", 0, 100, 1.5, 2048.0)]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(5,)]


async def test_processes_stopped_by_id_are_remembered(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
        await store.upsert_app(app("api"))
        await store.assign_ids("web", 3)
        await store.assign_ids("api", 1)
        await store.set_stopped("web", [0, 2], True)
        await store.set_stopped("api", [0], True)
        await store.set_stopped("api", None, False)  # the app started by name
    async with await StateStore.open(path) as store:
        assert await store.stopped_instances() == {"web": {0, 2}}
        await store.set_stopped("web", [2], False)
        assert await store.stopped_instances() == {"web": {0}}
        await store.assign_ids("web", 0)  # scaled to 0: its processes are deleted
        assert await store.stopped_instances() == {}


async def test_a_missing_process_id_is_given_again(tmp_path: Path) -> None:
    """An instance without an id (a row lost) is not a damaged database: it gets a new one."""
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(app("web"))
        assert await store.assign_ids("web", 3) == [0, 1, 2]
    raw_delete = sqlite3.connect(path)
    with raw_delete:
        raw_delete.execute("DELETE FROM processes WHERE instance = 1")
    raw_delete.close()
    async with await StateStore.open(path) as store:
        assert await store.process_ids() == {"web": [0]}
        assert await store.assign_ids("web", 3) == [0, 3, 2]
