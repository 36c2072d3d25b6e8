"""Point-Tron's SQLite database: two connections, numbered migrations, the ingest batch write.

Tables are the original Node app's (users, blocks, daily_stats, block_points, config), so a
database it created keeps working; migration 2 adds blocks.witness_address and
blocks.tx_count, migration 3 makes the time-range indexes covering. `PRAGMA user_version`
holds the number of the last migration applied; each migration runs in its own transaction.
The `write` connection is the one writer (ingest, users, config) and hands out transactions
one at a time; `read` is query-only, for the API.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import anyio

from point_tron.chain import Block, StoredBlock, point_change
from point_tron.schema import MIGRATIONS, SCHEMA_VERSION, migrate

__all__ = ["BUSY_TIMEOUT_MS", "MIGRATIONS", "SCHEMA_VERSION", "Database", "LastStored"]


BUSY_TIMEOUT_MS = 5000
_FILE_MODE = 0o600


@dataclass(frozen=True)
class LastStored:
    """The highest block stored and the running score after it (0 on an empty database)."""

    block_number: int | None
    cumulative_score: int


class Database:
    """The two connections. Make one with `await Database.open(path)`; `await close()`."""

    write: aiosqlite.Connection
    read: aiosqlite.Connection

    def __init__(self, path: Path, write: aiosqlite.Connection, read: aiosqlite.Connection):
        self.path = path
        self.write = write
        self.read = read
        self._write_lock = anyio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Create the folder, connect twice, set WAL/synchronous/busy_timeout, migrate.

        The file (and its -wal/-shm, which SQLite creates with the file's mode) is 0600: it
        holds the admin's password hash and a stored TRON api key. A folder it creates is
        0700; an existing file readable by others is made 0600.
        """
        path = Path(path)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(path)
        write = await _connect(path)
        try:
            await _use_wal(write)
            await migrate(write)
            read = await _connect(path)
        except BaseException:
            await write.close()
            raise
        await read.execute("PRAGMA query_only=ON")
        return cls(path, write, read)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            try:
                await self.write.execute("PRAGMA optimize")
            finally:
                await self.write.close()
        await self.read.close()

    async def is_connected(self) -> bool:
        if self._closed:
            return False
        try:
            async with self.read.execute("SELECT 1") as cursor:
                return await cursor.fetchone() == (1,)
        except (sqlite3.Error, ValueError):
            return False

    async def schema_version(self) -> int:
        async with self.read.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE on the writer; COMMIT on success, ROLLBACK on any exception.

        One transaction at a time: others wait. The commit is shielded from cancellation,
        so a cancelled caller never leaves a transaction open.
        """
        async with self._write_lock:
            await self.write.execute("BEGIN IMMEDIATE")
            try:
                yield self.write
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.write.rollback()
                raise
            with anyio.CancelScope(shield=True):
                await self.write.commit()

    async def get_config(self, key: str) -> str | None:
        async with self.read.execute("SELECT value FROM config WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_config(self, key: str, value: str, description: str = "") -> None:
        async with self.transaction() as conn:
            await conn.execute(
                """INSERT INTO config (key, value, description, updated_at)
                   VALUES (?, ?, ?, CURRENT_TIMESTAMP)
                   ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                       description = excluded.description, updated_at = CURRENT_TIMESTAMP""",
                (key, value, description),
            )

    async def last_stored(self) -> LastStored:
        """The highest stored block number and the running score of the last block_points row."""
        return await _last_stored(self.read)

    async def insert_blocks(self, blocks: Iterable[Block], stats_tz: ZoneInfo) -> list[StoredBlock]:
        """Store blocks above the highest stored one, in one transaction; the rows inserted.

        blocks, block_points (the score continues from the last stored row) and daily_stats
        (keyed by each block's own date in `stats_tz`) change together or not at all. Blocks
        at or below the highest stored number are skipped, so a replayed batch counts nothing
        twice; `ON CONFLICT DO NOTHING` and a row-count check guard the same rule.
        """
        ordered = sorted({block.number: block for block in blocks}.values(), key=_number)
        if not ordered:
            return []
        shield = anyio.CancelScope(shield=True)
        with shield:
            async with self.transaction() as conn:
                last = await _last_stored(conn)
                fresh = [
                    b for b in ordered if last.block_number is None or b.number > last.block_number
                ]
                if not fresh:
                    return []
                stored = _score(fresh, last.cumulative_score)
                await _write_rows(conn, stored, stats_tz)
        return stored

    async def stored_above(self, number: int, limit: int) -> list[StoredBlock]:
        """Stored blocks above ``number`` (at most ``limit``, in order), as the poller stored
        them: what an instance that does not poll publishes to its WebSocket clients."""
        async with self.read.execute(
            """SELECT b.block_number, b.block_hash, b.timestamp, b.witness_address, b.tx_count,
                      b.last_digit, b.is_odd, p.point_change, p.cumulative_score
               FROM blocks b JOIN block_points p ON p.block_number = b.block_number
               WHERE b.block_number > ? ORDER BY b.block_number LIMIT ?""",
            (number, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            StoredBlock(
                Block(
                    number=int(r[0]),
                    hash=str(r[1]),
                    timestamp_ms=int(r[2]),
                    witness_address=str(r[3] or ""),
                    parent_hash="",
                    tx_count=int(r[4] or 0),
                    last_digit=int(r[5]),
                    is_odd=bool(r[6]),
                ),
                int(r[7]),
                int(r[8]),
            )
            for r in rows
        ]

    async def block_hashes(self, low: int, high: int) -> dict[int, str]:
        """The stored hash of every stored block low..high (inclusive), by number."""
        async with self.read.execute(
            "SELECT block_number, block_hash FROM blocks WHERE block_number BETWEEN ? AND ?",
            (low, high),
        ) as cursor:
            return {int(number): str(block_hash) for number, block_hash in await cursor.fetchall()}

    async def first_stored(self) -> int | None:
        """The lowest stored block number (None on an empty database)."""
        async with self.read.execute("SELECT MIN(block_number) FROM blocks") as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def roll_back_above(self, number: int, stats_tz: ZoneInfo) -> int:
        """Delete every block above `number`, with its block_points row and its daily count.

        One transaction (shielded from cancellation): blocks, block_points and daily_stats
        change together, so the running score and the statistics stay what the blocks left
        add up to; a day left with no block loses its daily_stats row. The blocks deleted.
        """
        with anyio.CancelScope(shield=True):
            async with self.transaction() as conn:
                async with conn.execute(
                    "SELECT timestamp, is_odd FROM blocks WHERE block_number > ?", (number,)
                ) as cursor:
                    rows = list(await cursor.fetchall())
                days: dict[str, list[int]] = {}
                for timestamp, odd in rows:
                    day = datetime.fromtimestamp(timestamp / 1000, stats_tz).strftime("%Y-%m-%d")
                    counts = days.setdefault(day, [0, 0])
                    counts[0 if odd else 1] += 1
                await conn.executemany(
                    """UPDATE daily_stats SET total_blocks = total_blocks - ?,
                           odd_count = odd_count - ?, even_count = even_count - ?,
                           updated_at = CURRENT_TIMESTAMP
                       WHERE date = ?""",
                    [(odd + even, odd, even, day) for day, (odd, even) in days.items()],
                )
                await conn.execute("DELETE FROM daily_stats WHERE total_blocks <= 0")
                await conn.execute("DELETE FROM blocks WHERE block_number > ?", (number,))
                await conn.execute("DELETE FROM block_points WHERE block_number > ?", (number,))
        return len(rows)

    async def prune(self, older_than_ms: int) -> tuple[int, int]:
        """Delete blocks and block_points rows with timestamp < older_than_ms.

        The highest row of each table is always kept: it is where ingest resumes and where
        the running score continues. Returns (blocks deleted, block_points deleted).
        """
        async with self.transaction() as conn:
            blocks = await conn.execute(
                """DELETE FROM blocks WHERE timestamp < ?
                   AND block_number < (SELECT MAX(block_number) FROM blocks)""",
                (older_than_ms,),
            )
            points = await conn.execute(
                """DELETE FROM block_points WHERE timestamp < ?
                   AND block_number < (SELECT MAX(block_number) FROM block_points)""",
                (older_than_ms,),
            )
            return blocks.rowcount, points.rowcount


def _number(block: Block) -> int:
    return block.number


def _score(blocks: Sequence[Block], score: int) -> list[StoredBlock]:
    stored = []
    for block in blocks:
        change = point_change(block.is_odd)
        score += change
        stored.append(StoredBlock(block, change, score))
    return stored


async def _write_rows(
    conn: aiosqlite.Connection, stored: Sequence[StoredBlock], stats_tz: ZoneInfo
) -> None:
    cursor = await conn.executemany(
        """INSERT INTO blocks (block_number, block_hash, timestamp, last_digit, is_odd,
                               witness_address, tx_count)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(block_number) DO NOTHING""",
        [
            (
                b.number,
                b.hash,
                b.timestamp_ms,
                b.last_digit,
                int(b.is_odd),
                b.witness_address,
                b.tx_count,
            )
            for b in (s.block for s in stored)
        ],
    )
    if cursor.rowcount != len(stored):
        raise sqlite3.IntegrityError(
            f"blocks: {len(stored) - cursor.rowcount} of {len(stored)} rows already present"
        )
    cursor = await conn.executemany(
        """INSERT INTO block_points (block_number, block_hash, timestamp, last_digit, is_odd,
                                     point_change, cumulative_score)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(block_number) DO NOTHING""",
        [
            (
                s.block.number,
                s.block.hash,
                s.block.timestamp_ms,
                s.block.last_digit,
                int(s.block.is_odd),
                s.point_change,
                s.cumulative_score,
            )
            for s in stored
        ],
    )
    if cursor.rowcount != len(stored):
        raise sqlite3.IntegrityError(
            f"block_points: {len(stored) - cursor.rowcount} of {len(stored)} rows already present"
        )
    days: dict[str, list[int]] = {}
    for s in stored:
        day = datetime.fromtimestamp(s.block.timestamp_ms / 1000, stats_tz).strftime("%Y-%m-%d")
        counts = days.setdefault(day, [0, 0])
        counts[0 if s.block.is_odd else 1] += 1
    await conn.executemany(
        """INSERT INTO daily_stats (date, total_blocks, odd_count, even_count, updated_at)
           VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)
           ON CONFLICT(date) DO UPDATE SET
               total_blocks = total_blocks + excluded.total_blocks,
               odd_count = odd_count + excluded.odd_count,
               even_count = even_count + excluded.even_count,
               updated_at = CURRENT_TIMESTAMP""",
        [(day, odd + even, odd, even) for day, (odd, even) in days.items()],
    )


async def _last_stored(conn: aiosqlite.Connection) -> LastStored:
    async with conn.execute(
        """SELECT (SELECT MAX(block_number) FROM blocks),
                  (SELECT MAX(block_number) FROM block_points),
                  (SELECT cumulative_score FROM block_points
                   ORDER BY block_number DESC LIMIT 1)"""
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    numbers = [n for n in (row[0], row[1]) if n is not None]
    return LastStored(max(numbers) if numbers else None, int(row[2] or 0))


def _make_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if absent; make it and its -wal/-shm/-journal 0600.

    SQLite would create the file with 0644 under a usual umask. Not through a symbolic link
    another user could have put there: a link is followed only to tighten nothing.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _FILE_MODE)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        return  # a link (an administrator's choice of location): SQLite opens the target
    try:
        _tighten(fd)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        try:
            fd = os.open(side, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            _tighten(fd)
        finally:
            os.close(fd)


def _tighten(fd: int) -> None:
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o700)


async def _use_wal(conn: aiosqlite.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to BUSY_TIMEOUT_MS: processes opening one
    new file at once (a cluster's instances) get "database is locked" while another one
    switches it to WAL, without SQLite's busy handler waiting for them."""
    deadline = anyio.current_time() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or anyio.current_time() > deadline:
                raise
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.1)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        await conn.close()
        raise
    return conn
