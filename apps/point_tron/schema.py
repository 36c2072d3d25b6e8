"""Point-Tron's schema: numbered migrations, applied in order, each in its own transaction.

Tables are the original Node app's (users, blocks, daily_stats, block_points, config), so a
database it created keeps working; migration 2 adds blocks.witness_address and
blocks.tx_count, migration 3 makes the time-range indexes covering. `PRAGMA user_version`
holds the number of the last migration applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]


async def _m1_original_schema(conn: aiosqlite.Connection) -> None:
    """The original app's tables, exactly (IF NOT EXISTS: an old database already has them)."""
    for statement in (
        """CREATE TABLE IF NOT EXISTS users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username VARCHAR(50) UNIQUE NOT NULL,
            password VARCHAR(255) NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS blocks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            block_number BIGINT UNIQUE NOT NULL,
            block_hash VARCHAR(66) NOT NULL,
            timestamp BIGINT NOT NULL,
            last_digit INTEGER NOT NULL,
            is_odd BOOLEAN NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS daily_stats (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            date DATE UNIQUE NOT NULL,
            total_blocks INTEGER DEFAULT 0,
            odd_count INTEGER DEFAULT 0,
            even_count INTEGER DEFAULT 0,
            updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS config (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key VARCHAR(100) UNIQUE NOT NULL,
            value TEXT NOT NULL,
            description VARCHAR(255),
            updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS block_points (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            block_number BIGINT UNIQUE NOT NULL,
            block_hash VARCHAR(66) NOT NULL,
            timestamp BIGINT NOT NULL,
            last_digit INTEGER NOT NULL,
            is_odd BOOLEAN NOT NULL,
            point_change INTEGER NOT NULL,
            cumulative_score INTEGER NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
        "CREATE INDEX IF NOT EXISTS idx_blocks_timestamp ON blocks(timestamp)",
        "CREATE INDEX IF NOT EXISTS idx_block_points_timestamp ON block_points(timestamp)",
    ):
        await conn.execute(statement)


async def _m2_block_details(conn: aiosqlite.Connection) -> None:
    """witness_address and tx_count; drop indexes that UNIQUE already gives; score old blocks."""
    async with conn.execute("PRAGMA table_info(blocks)") as cursor:
        columns = {row[1] for row in await cursor.fetchall()}
    if "witness_address" not in columns:
        await conn.execute(
            "ALTER TABLE blocks ADD COLUMN witness_address VARCHAR(42) NOT NULL DEFAULT ''"
        )
    if "tx_count" not in columns:
        await conn.execute("ALTER TABLE blocks ADD COLUMN tx_count INTEGER NOT NULL DEFAULT 0")
    for index in ("idx_blocks_number", "idx_block_points_number", "idx_daily_stats_date"):
        await conn.execute(f"DROP INDEX IF EXISTS {index}")
    # The original rebuilt block_points from blocks at start when it was empty; do it once,
    # here, in this migration's transaction.
    await conn.execute(
        """INSERT INTO block_points (block_number, block_hash, timestamp, last_digit, is_odd,
                                     point_change, cumulative_score)
           SELECT block_number, block_hash, timestamp, last_digit, is_odd,
                  CASE WHEN is_odd THEN -1 ELSE 1 END,
                  SUM(CASE WHEN is_odd THEN -1 ELSE 1 END)
                      OVER (ORDER BY block_number ROWS UNBOUNDED PRECEDING)
           FROM blocks WHERE NOT EXISTS (SELECT 1 FROM block_points)"""
    )


async def _m3_covering_indexes(conn: aiosqlite.Connection) -> None:
    """Time-range indexes that also hold what the API reads (parity, score): index-only scans."""
    for statement in (
        "DROP INDEX IF EXISTS idx_blocks_timestamp",
        "CREATE INDEX IF NOT EXISTS idx_blocks_timestamp_odd ON blocks(timestamp, is_odd)",
        "DROP INDEX IF EXISTS idx_block_points_timestamp",
        "CREATE INDEX IF NOT EXISTS idx_block_points_timestamp_score"
        " ON block_points(timestamp, cumulative_score)",
    ):
        await conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    _m1_original_schema,
    _m2_block_details,
    _m3_covering_indexes,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, migration in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            if row and int(row[0]) >= number:  # another process applied it while we waited
                await conn.rollback()
                continue
            await migration(conn)
            await conn.execute(f"PRAGMA user_version={number}")
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
