"""A state.db that is not ours or not whole is set aside, never taken for a fresh start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from supervisor_core.errors import StateError
from supervisor_core.store import StateStore, StoredApp, open_state
from supervisor_core.store._db import SCHEMA_VERSION

pytestmark = pytest.mark.anyio

NOW = 1_796_000_000.0  # the clock the set-aside name's timestamp is read from
STAMP = "20261130T005320Z"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def web() -> StoredApp:
    return StoredApp(
        name="web",
        entry={"name": "web", "script": "web.py", "env": {"MARK": "find-me-here"}},
        base_dir="/srv",
        env_name=None,
        source="/srv/ecosystem.toml",
        desired="running",
        position=-1,
    )


async def a_state_with_one_app(path: Path) -> bytes:
    async with await StateStore.open(path) as store:
        await store.upsert_app(web())
    return path.read_bytes()  # noqa: ASYNC240 - a test's small file


async def test_a_whole_file_is_opened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await a_state_with_one_app(path)
    opened = await open_state(path, clock=lambda: NOW)
    async with opened.store as store:
        assert [app.name for app in await store.apps()] == ["web"]
    assert (opened.set_aside, opened.reason) == (None, None)


async def test_a_truncated_file_is_set_aside_not_taken_for_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await a_state_with_one_app(path)
    path.write_bytes(b"")  # truncated to 0 bytes
    opened = await open_state(path, clock=lambda: NOW)
    async with opened.store as store:
        assert await store.apps() == []  # a new, whole file
    assert opened.set_aside == tmp_path / f"state.db.damaged-{STAMP}"
    assert opened.set_aside.read_bytes() == b""
    assert opened.reason == f"{path}: empty (0 bytes), not a whole state database"


async def test_flipped_bytes_in_a_row_are_a_one_line_reason_not_a_decoding_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    good = await a_state_with_one_app(path)
    at = good.index(b"find-me-here")
    path.write_bytes(good[:at] + b"\xff\xfe\xff" + good[at + 3 :])  # not UTF-8 any more
    opened = await open_state(path, clock=lambda: NOW)
    await opened.store.close()
    assert opened.set_aside is not None and opened.set_aside.read_bytes() != good
    assert opened.reason is not None and "\n" not in opened.reason
    assert opened.reason.startswith(f"{path}: a row cannot be read (")


async def test_damaged_pages_are_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    good = await a_state_with_one_app(path)
    page = 4096
    damaged = bytearray(good)
    damaged[page + 8 : page + 40] = b"\x07" * 32  # inside the second page's header and cells
    path.write_bytes(bytes(damaged))
    opened = await open_state(path, clock=lambda: NOW)
    await opened.store.close()
    assert opened.set_aside == tmp_path / f"state.db.damaged-{STAMP}"
    assert opened.reason is not None and opened.reason.startswith(f"{path}: ")


async def test_a_database_of_something_else_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    db.close()
    opened = await open_state(path, clock=lambda: NOW)
    await opened.store.close()
    assert opened.set_aside is not None
    assert sqlite3.connect(opened.set_aside).execute("SELECT * FROM customers").fetchall() == []
    second = await open_state(path.with_name("other.db"), clock=lambda: NOW)
    await second.store.close()
    assert second.set_aside is None


async def test_two_set_asides_in_one_second_keep_both(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    for _ in range(2):
        path.write_bytes(b"")
        opened = await open_state(path, clock=lambda: NOW)
        await opened.store.close()
    assert sorted(p.name for p in tmp_path.glob("state.db.damaged-*")) == [  # noqa: ASYNC240
        f"state.db.damaged-{STAMP}",
        f"state.db.damaged-{STAMP}-2",
    ]


async def test_a_newer_ptms_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await a_state_with_one_app(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="written by a newer ptm"):
        await open_state(path, clock=lambda: NOW)
    assert not list(tmp_path.glob("state.db.damaged-*"))  # noqa: ASYNC240


async def test_a_caller_env_that_is_not_an_object_of_strings_is_a_damaged_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    await a_state_with_one_app(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE apps SET caller_env = '{\"FOO\": 1}'")
    db.close()
    opened = await open_state(path, clock=lambda: NOW)
    await opened.store.close()
    assert opened.set_aside == tmp_path / f"state.db.damaged-{STAMP}"
    assert opened.reason is not None
    assert opened.reason.startswith(f"{path}: a row cannot be read (caller_env")
