"""db.py: pragmas, migrations (from the original Node app's schema), the batch write, retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from point_tron.chain import Block, last_digit
from point_tron.db import SCHEMA_VERSION, Database

UTC = ZoneInfo("UTC")
DAY_MS = 86_400_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_block(number: int, timestamp_ms: int, digit: int) -> Block:
    block_hash = f"{number:016x}" + "ab" * 23 + f"{digit}f"
    return Block(
        number=number,
        hash=block_hash,
        timestamp_ms=timestamp_ms,
        witness_address="41" + "00" * 20,
        parent_hash="",
        tx_count=number % 5,
        last_digit=last_digit(block_hash),
        is_odd=digit % 2 == 1,
    )


# The tables and indexes exactly as the original Node app created them.
ORIGINAL_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(50) UNIQUE NOT NULL,
  password VARCHAR(255) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE blocks (id INTEGER PRIMARY KEY AUTOINCREMENT, block_number BIGINT UNIQUE NOT NULL,
  block_hash VARCHAR(66) NOT NULL, timestamp BIGINT NOT NULL, last_digit INTEGER NOT NULL,
  is_odd BOOLEAN NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE daily_stats (id INTEGER PRIMARY KEY AUTOINCREMENT, date DATE UNIQUE NOT NULL,
  total_blocks INTEGER DEFAULT 0, odd_count INTEGER DEFAULT 0, even_count INTEGER DEFAULT 0,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE config (id INTEGER PRIMARY KEY AUTOINCREMENT, key VARCHAR(100) UNIQUE NOT NULL,
  value TEXT NOT NULL, description VARCHAR(255), updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE block_points (id INTEGER PRIMARY KEY AUTOINCREMENT,
  block_number BIGINT UNIQUE NOT NULL, block_hash VARCHAR(66) NOT NULL,
  timestamp BIGINT NOT NULL, last_digit INTEGER NOT NULL, is_odd BOOLEAN NOT NULL,
  point_change INTEGER NOT NULL, cumulative_score INTEGER NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_blocks_number ON blocks(block_number);
CREATE INDEX idx_blocks_timestamp ON blocks(timestamp);
CREATE INDEX idx_daily_stats_date ON daily_stats(date);
CREATE INDEX idx_block_points_number ON block_points(block_number);
CREATE INDEX idx_block_points_timestamp ON block_points(timestamp);
"""


def original_db(path: Path, *, digits: list[int], with_points: bool) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(ORIGINAL_SCHEMA)
    conn.execute(
        "INSERT INTO users (username, password) VALUES ('admin', '$2a$10$abcdefghijklmnopqrstuv')"
    )
    conn.execute("INSERT INTO config (key, value) VALUES ('rpc_url', 'https://api.trongrid.io')")
    score = 0
    for i, digit in enumerate(digits):
        block = make_block(100 + i, 1_700_000_000_000 + i * 3000, digit)
        conn.execute(
            "INSERT INTO blocks (block_number, block_hash, timestamp, last_digit, is_odd)"
            " VALUES (?, ?, ?, ?, ?)",
            (block.number, block.hash, block.timestamp_ms, block.last_digit, block.is_odd),
        )
        score += -1 if block.is_odd else 1
        if with_points:
            conn.execute(
                "INSERT INTO block_points (block_number, block_hash, timestamp, last_digit,"
                " is_odd, point_change, cumulative_score) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    block.number,
                    block.hash,
                    block.timestamp_ms,
                    block.last_digit,
                    block.is_odd,
                    -1 if block.is_odd else 1,
                    score,
                ),
            )
    conn.commit()
    conn.close()


async def fetch(db: Database, sql: str, *args: object) -> list[tuple]:
    async with db.read.execute(sql, args) as cursor:
        return list(await cursor.fetchall())


@pytest.mark.anyio
async def test_open_creates_folder_sets_pragmas_and_migrates(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "deep" / "er" / "pt.db")
    try:
        assert (tmp_path / "deep" / "er" / "pt.db").exists()
        assert await db.is_connected()
        assert await db.schema_version() == SCHEMA_VERSION
        for conn in (db.write, db.read):
            async with conn.execute("PRAGMA journal_mode") as c:
                assert (await c.fetchone()) == ("wal",)
            async with conn.execute("PRAGMA synchronous") as c:
                assert (await c.fetchone()) == (1,)  # NORMAL
            async with conn.execute("PRAGMA busy_timeout") as c:
                assert (await c.fetchone())[0] >= 1000
        tables = {
            r[0] for r in await fetch(db, "SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"users", "blocks", "daily_stats", "block_points", "config"} <= tables
        columns = {r[1] for r in await fetch(db, "PRAGMA table_info(blocks)")}
        assert {"witness_address", "tx_count"} <= columns
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.read.execute("DELETE FROM blocks")
    finally:
        await db.close()
    assert not await db.is_connected()


@pytest.mark.anyio
async def test_reopening_runs_no_migration_twice(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "pt.db")
    await db.insert_blocks([make_block(1, 1_700_000_000_000, 2)], UTC)
    await db.close()
    db = await Database.open(tmp_path / "pt.db")
    try:
        assert await db.schema_version() == SCHEMA_VERSION
        assert await fetch(db, "SELECT block_number FROM blocks") == [(1,)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_migrates_a_database_of_the_original_app(tmp_path: Path) -> None:
    path = tmp_path / "point-tron.db"
    original_db(path, digits=[1, 2, 4, 3, 5, 6], with_points=True)
    db = await Database.open(path)
    try:
        assert await db.schema_version() == SCHEMA_VERSION
        assert await fetch(db, "SELECT username FROM users") == [("admin",)]
        assert await db.get_config("rpc_url") == "https://api.trongrid.io"
        rows = await fetch(db, "SELECT block_number, witness_address, tx_count FROM blocks")
        assert rows[0] == (100, "", 0)
        indexes = {
            r[0] for r in await fetch(db, "SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert "idx_blocks_number" not in indexes  # redundant with UNIQUE: dropped
        assert {"idx_blocks_timestamp_odd", "idx_block_points_timestamp_score"} <= indexes
        last = await db.last_stored()
        assert (last.block_number, last.cumulative_score) == (105, -1 + 1 + 1 - 1 - 1 + 1)
        # and ingest goes on from there
        stored = await db.insert_blocks([make_block(106, 1_700_000_100_000, 7)], UTC)
        assert [(s.point_change, s.cumulative_score) for s in stored] == [(-1, -1)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_migration_scores_blocks_the_original_never_scored(tmp_path: Path) -> None:
    path = tmp_path / "point-tron.db"
    original_db(path, digits=[2, 2, 3, 8], with_points=False)
    db = await Database.open(path)
    try:
        rows = await fetch(
            db,
            "SELECT block_number, point_change, cumulative_score FROM block_points"
            " ORDER BY block_number",
        )
        assert rows == [(100, 1, 1), (101, 1, 2), (102, -1, 1), (103, 1, 2)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    path = tmp_path / "pt.db"
    conn = sqlite3.connect(path)
    conn.executescript(ORIGINAL_SCHEMA)
    conn.execute("DROP TABLE block_points")
    conn.execute("CREATE TABLE block_points (id INTEGER PRIMARY KEY, timestamp BIGINT)")  # v2 fails
    conn.execute(
        "INSERT INTO blocks (block_number, block_hash, timestamp, last_digit, is_odd)"
        " VALUES (1, 'ab1', 1, 1, 1)"
    )
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)  # v1 committed, v2 not
        columns = {r[1] for r in conn.execute("PRAGMA table_info(blocks)")}
        assert "witness_address" not in columns  # the ALTER of v2 was rolled back
    finally:
        conn.close()


@pytest.mark.anyio
async def test_insert_blocks_scores_and_counts_days_in_stats_tz(tmp_path: Path) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 2024-01-01 15:59:57 UTC is 23:59:57 in Shanghai; three seconds later is the next day there.
    t0 = 1_704_124_797_000
    blocks = [make_block(10 + i, t0 + i * 3000, d) for i, d in enumerate([1, 2, 4, 7])]
    db = await Database.open(tmp_path / "pt.db")
    try:
        stored = await db.insert_blocks(blocks, shanghai)
        assert [(s.block.number, s.point_change, s.cumulative_score) for s in stored] == [
            (10, -1, -1),
            (11, 1, 0),
            (12, 1, 1),
            (13, -1, 0),
        ]
        assert await fetch(
            db, "SELECT date, total_blocks, odd_count, even_count FROM daily_stats ORDER BY date"
        ) == [("2024-01-01", 1, 1, 0), ("2024-01-02", 3, 1, 2)]
        rows = await fetch(
            db,
            "SELECT block_number, block_hash, timestamp, last_digit, is_odd,"
            " witness_address, tx_count FROM blocks ORDER BY block_number",
        )
        assert rows[1] == (11, blocks[1].hash, t0 + 3000, 2, 0, "41" + "00" * 20, 1)
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_replayed_batch_counts_nothing_twice(tmp_path: Path) -> None:
    blocks = [make_block(n, 1_700_000_000_000 + n * 3000, n % 10) for n in range(1, 11)]
    db = await Database.open(tmp_path / "pt.db")
    try:
        first = await db.insert_blocks(blocks[:6], UTC)
        replay = await db.insert_blocks(blocks[3:], UTC)  # 4..6 again, then 7..10
        assert [s.block.number for s in first] == [1, 2, 3, 4, 5, 6]
        assert [s.block.number for s in replay] == [7, 8, 9, 10]
        assert await db.insert_blocks(blocks, UTC) == []
        assert await fetch(db, "SELECT COUNT(*), COUNT(DISTINCT block_number) FROM blocks") == [
            (10, 10)
        ]
        assert await fetch(db, "SELECT SUM(total_blocks), SUM(odd_count) FROM daily_stats") == [
            (10, 5)
        ]
        assert await fetch(
            db, "SELECT cumulative_score FROM block_points ORDER BY block_number DESC LIMIT 1"
        ) == [(0,)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_a_failed_transaction_rolls_back_everything(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "pt.db")
    insert = (
        "INSERT INTO blocks (block_number, block_hash, timestamp, last_digit, is_odd)"
        " VALUES (?, 'ab', 0, 0, 0)"
    )
    try:
        await db.insert_blocks([make_block(1, 1_700_000_000_000, 2)], UTC)
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(insert, (2,))
                await conn.execute(insert, (2,))
        assert await fetch(db, "SELECT block_number FROM blocks ORDER BY 1") == [(1,)]
        async with db.transaction() as conn:  # the writer is usable again
            await conn.execute(insert, (3,))
        assert await fetch(db, "SELECT block_number FROM blocks ORDER BY 1") == [(1,), (3,)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_ingest_resumes_above_either_table(tmp_path: Path) -> None:
    """An old database whose block_points ran ahead of blocks must not collide."""
    db = await Database.open(tmp_path / "pt.db")
    try:
        await db.insert_blocks([make_block(1, 1_700_000_000_000, 2)], UTC)
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO block_points (block_number, block_hash, timestamp, last_digit,"
                " is_odd, point_change, cumulative_score) VALUES (5, 'x', 0, 0, 0, 1, 9)"
            )
        blocks = [make_block(n, 1_700_000_000_000 + n, 2) for n in range(2, 8)]
        stored = await db.insert_blocks(blocks, UTC)
        assert [(s.block.number, s.cumulative_score) for s in stored] == [(6, 10), (7, 11)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_retention_prunes_old_rows_and_keeps_the_score(tmp_path: Path) -> None:
    now = 1_710_000_000_000
    blocks = [make_block(n, now - (10 - n) * DAY_MS, n % 10) for n in range(1, 11)]
    db = await Database.open(tmp_path / "pt.db")
    try:
        stored = await db.insert_blocks(blocks, UTC)
        score = stored[-1].cumulative_score
        days_before = await fetch(db, "SELECT SUM(total_blocks) FROM daily_stats")
        assert await db.prune(now - 3 * DAY_MS) == (6, 6)  # blocks 1..6 are older than 3 days
        assert await fetch(db, "SELECT block_number FROM blocks ORDER BY 1") == [
            (7,),
            (8,),
            (9,),
            (10,),
        ]
        assert (await db.last_stored()).cumulative_score == score
        assert await fetch(db, "SELECT SUM(total_blocks) FROM daily_stats") == days_before
        # even when every row is old, the last one stays: ingest resumes and scores from it
        assert await db.prune(now + DAY_MS) == (3, 3)
        last = await db.last_stored()
        assert (last.block_number, last.cumulative_score) == (10, score)
        nxt = await db.insert_blocks([make_block(11, now + 3000, 3)], UTC)
        assert nxt[0].cumulative_score == score - 1
    finally:
        await db.close()


@pytest.mark.anyio
async def test_config_get_and_set(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "pt.db")
    try:
        assert await db.get_config("rpc_url") is None
        await db.set_config("rpc_url", "http://127.0.0.1:8090", "node URL")
        await db.set_config("rpc_url", "http://127.0.0.1:9090")
        assert await db.get_config("rpc_url") == "http://127.0.0.1:9090"
        assert await fetch(db, "SELECT COUNT(*) FROM config") == [(1,)]
    finally:
        await db.close()


@pytest.mark.anyio
async def test_roll_back_above_removes_blocks_points_and_their_daily_counts(
    tmp_path: Path,
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    t0 = 1_704_124_797_000  # 23:59:57 in Shanghai: blocks 11.. fall on the next day there
    blocks = [make_block(10 + i, t0 + i * 3000, d) for i, d in enumerate([1, 2, 4, 7, 8])]
    db = await Database.open(tmp_path / "pt.db")
    try:
        await db.insert_blocks(blocks, shanghai)
        assert await db.block_hashes(11, 12) == {11: blocks[1].hash, 12: blocks[2].hash}
        assert await db.first_stored() == 10
        assert await db.roll_back_above(11, shanghai) == 3
        assert await fetch(db, "SELECT block_number FROM blocks ORDER BY 1") == [(10,), (11,)]
        assert await fetch(db, "SELECT block_number FROM block_points ORDER BY 1") == [
            (10,),
            (11,),
        ]
        assert await fetch(
            db, "SELECT date, total_blocks, odd_count, even_count FROM daily_stats ORDER BY date"
        ) == [("2024-01-01", 1, 1, 0), ("2024-01-02", 1, 0, 1)]
        assert (await db.last_stored()).cumulative_score == 0
        assert await db.roll_back_above(9, shanghai) == 2
        assert await fetch(db, "SELECT COUNT(*) FROM daily_stats") == [(0,)]  # empty days go
        assert await db.first_stored() is None
    finally:
        await db.close()
