"""The API's read queries (SELECT only) against Point-Tron's SQLite schema.

Every function takes the read connection (``Database.read``) and returns plain values; rows
are read by position so the connection's row factory does not matter. Each query is a range
scan on an index (``blocks.timestamp``, ``block_points.timestamp``, the UNIQUE
``block_number`` columns), so none of them walks the whole table on a large database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from point_tron.kline import (
    BLOCKS_PER_CANDLE,
    Candle,
    offset_segments,
    wall_to_utc_ms,
)

__all__ = [
    "BucketAggregate",
    "HourlyRow",
    "TodayStats",
    "UserRow",
    "block_candles",
    "block_count",
    "block_number_range",
    "bucket_aggregates",
    "current_block",
    "daily_stats_row",
    "day_bounds",
    "latest_blocks",
    "points_in_window",
    "points_window_stats",
    "today_block_count",
    "today_stats",
    "user_by_id",
    "user_by_username",
]

_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    password_hash: str


@dataclass(frozen=True)
class HourlyRow:
    hour: str  # "00".."23", wall clock in STATS_TZ
    total: int
    odd: int
    even: int

    def to_json(self) -> dict[str, Any]:
        return {"hour": self.hour, "total": self.total, "odd": self.odd, "even": self.even}


@dataclass(frozen=True)
class TodayStats:
    total: int
    odd: int
    even: int
    hourly: list[HourlyRow]


@dataclass(frozen=True)
class BucketAggregate:
    key: int  # wall-clock ms // period_ms in STATS_TZ
    start_ms: int  # UTC instant where the bucket starts
    open: int  # cumulative score after the bucket's first block
    close: int  # ... after its last block
    low: int
    high: int
    count: int

    def candle(self) -> Candle:
        return Candle(self.start_ms, self.open, self.high, self.low, self.close, self.count)


def _bool(value: Any) -> bool:
    return bool(value)


def day_bounds(now_ms: int, tz: ZoneInfo) -> tuple[int, int, str]:
    """``(start_ms, end_ms, "YYYY-MM-DD")`` of the day holding ``now_ms`` in ``tz``."""
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    next_midnight = midnight + timedelta(days=1)  # wall-clock arithmetic: DST-safe
    return (
        round(midnight.timestamp() * 1000),
        round(next_midnight.timestamp() * 1000),
        midnight.strftime("%Y-%m-%d"),
    )


async def _one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> Any:
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()


async def _all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[Any]:
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())


# --- users -------------------------------------------------------------------------------


async def user_by_username(conn: aiosqlite.Connection, username: str) -> UserRow | None:
    row = await _one(
        conn, "SELECT id, username, password FROM users WHERE username = ?", [username]
    )
    return UserRow(int(row[0]), str(row[1]), str(row[2])) if row else None


async def user_by_id(conn: aiosqlite.Connection, user_id: int) -> UserRow | None:
    row = await _one(conn, "SELECT id, username, password FROM users WHERE id = ?", [user_id])
    return UserRow(int(row[0]), str(row[1]), str(row[2])) if row else None


# --- blocks ------------------------------------------------------------------------------


async def block_count(conn: aiosqlite.Connection) -> int:
    row = await _one(conn, "SELECT COUNT(*) FROM blocks")
    return int(row[0])


async def today_block_count(conn: aiosqlite.Connection, now_ms: int, tz: ZoneInfo) -> int:
    start, end, _ = day_bounds(now_ms, tz)
    row = await _one(
        conn, "SELECT COUNT(*) FROM blocks WHERE timestamp >= ? AND timestamp < ?", [start, end]
    )
    return int(row[0])


async def block_number_range(conn: aiosqlite.Connection) -> tuple[int | None, int | None]:
    row = await _one(conn, "SELECT MIN(block_number), MAX(block_number) FROM blocks")
    return (row[0], row[1]) if row else (None, None)


async def today_stats(conn: aiosqlite.Connection, now_ms: int, tz: ZoneInfo) -> TodayStats:
    """Today's totals and per-hour split (wall-clock hours in ``tz``), from ``blocks``."""
    start, end, _ = day_bounds(now_ms, tz)
    rows = await _all(
        conn,
        "SELECT (timestamp - ?) / ? AS h, COUNT(*), SUM(is_odd) FROM blocks"
        " WHERE timestamp >= ? AND timestamp < ? GROUP BY h ORDER BY h",
        [start, _HOUR_MS, start, end],
    )
    # Elapsed hours since local midnight map to wall-clock hours (two elapsed hours share a
    # label on the day a DST change repeats an hour; they are merged).
    merged: dict[str, list[int]] = {}
    for elapsed, total, odd in rows:
        label = datetime.fromtimestamp((start + int(elapsed) * _HOUR_MS) / 1000, tz).strftime("%H")
        slot = merged.setdefault(label, [0, 0])
        slot[0] += int(total)
        slot[1] += int(odd or 0)
    hourly = [HourlyRow(h, t, o, t - o) for h, (t, o) in sorted(merged.items())]
    total = sum(r.total for r in hourly)
    odd = sum(r.odd for r in hourly)
    return TodayStats(total=total, odd=odd, even=total - odd, hourly=hourly)


async def current_block(conn: aiosqlite.Connection) -> dict[str, Any] | None:
    row = await _one(
        conn,
        "SELECT block_number, block_hash, timestamp, last_digit, is_odd"
        " FROM blocks ORDER BY block_number DESC LIMIT 1",
    )
    if row is None:
        return None
    return {
        "number": row[0],
        "hash": row[1],
        "timestamp": row[2],
        "lastDigit": row[3],
        "isOdd": _bool(row[4]),
    }


async def latest_blocks(conn: aiosqlite.Connection, limit: int) -> list[dict[str, Any]]:
    rows = await _all(
        conn,
        "SELECT b.id, b.block_number, b.block_hash, b.timestamp, b.last_digit, b.is_odd,"
        " b.created_at, b.witness_address, b.tx_count, p.point_change, p.cumulative_score"
        " FROM blocks b LEFT JOIN block_points p ON p.block_number = b.block_number"
        " ORDER BY b.block_number DESC LIMIT ?",
        [limit],
    )
    return [
        {
            "id": r[0],
            "block_number": r[1],
            "block_hash": r[2],
            "timestamp": r[3],
            "last_digit": r[4],
            "is_odd": _bool(r[5]),
            "created_at": r[6],
            "witness_address": r[7],
            "tx_count": r[8],
            "point_change": r[9],
            "cumulative_score": r[10],
        }
        for r in rows
    ]


async def daily_stats_row(conn: aiosqlite.Connection, date: str) -> dict[str, Any] | None:
    row = await _one(
        conn,
        "SELECT id, date, total_blocks, odd_count, even_count, updated_at"
        " FROM daily_stats WHERE date = ?",
        [date],
    )
    if row is None:
        return None
    return {
        "id": row[0],
        "date": row[1],
        "total_blocks": row[2],
        "odd_count": row[3],
        "even_count": row[4],
        "updated_at": row[5],
    }


# --- points ------------------------------------------------------------------------------

_POINT_COLUMNS = (
    "id, block_number, block_hash, timestamp, last_digit, is_odd, point_change,"
    " cumulative_score, created_at"
)


def _point(r: Any) -> dict[str, Any]:
    return {
        "id": r[0],
        "block_number": r[1],
        "block_hash": r[2],
        "timestamp": r[3],
        "last_digit": r[4],
        "is_odd": _bool(r[5]),
        "point_change": r[6],
        "cumulative_score": r[7],
        "created_at": r[8],
    }


async def points_in_window(
    conn: aiosqlite.Connection, since_ms: int, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` points with ``timestamp >= since_ms``, oldest first."""
    rows = await _all(
        conn,
        f"SELECT {_POINT_COLUMNS} FROM block_points WHERE timestamp >= ?"
        " ORDER BY block_number DESC LIMIT ?",
        [since_ms, limit],
    )
    rows.reverse()
    return [_point(r) for r in rows]


async def points_window_stats(conn: aiosqlite.Connection, since_ms: int) -> dict[str, int]:
    """Statistics over every point with ``timestamp >= since_ms`` (not only the returned ones)."""
    agg = await _one(
        conn,
        "SELECT COUNT(*), COALESCE(SUM(is_odd), 0), COALESCE(SUM(point_change), 0),"
        " MIN(cumulative_score), MAX(cumulative_score) FROM block_points WHERE timestamp >= ?",
        [since_ms],
    )
    first = await _one(
        conn,
        "SELECT cumulative_score FROM block_points WHERE timestamp >= ?"
        " ORDER BY timestamp ASC, block_number ASC LIMIT 1",
        [since_ms],
    )
    last = await _one(
        conn,
        "SELECT cumulative_score FROM block_points WHERE timestamp >= ?"
        " ORDER BY block_number DESC LIMIT 1",
        [since_ms],
    )
    total, odd = int(agg[0]), int(agg[1])
    return {
        "totalBlocks": total,
        "oddBlocks": odd,
        "evenBlocks": total - odd,
        "totalPointChange": int(agg[2]),
        "currentScore": int(last[0]) if last else 0,
        "startScore": int(first[0]) if first else 0,
        "maxScore": int(agg[4]) if agg[4] is not None else 0,
        "minScore": int(agg[3]) if agg[3] is not None else 0,
    }


async def _scores_by_number(conn: aiosqlite.Connection, numbers: Iterable[int]) -> dict[int, int]:
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = await _all(
        conn,
        "SELECT block_number, cumulative_score FROM block_points"
        " WHERE block_number IN (SELECT value FROM json_each(?))",
        [json.dumps(wanted)],
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def bucket_aggregates(
    conn: aiosqlite.Connection, *, start_ms: int, period_ms: int, now_ms: int, tz: ZoneInfo
) -> list[BucketAggregate]:
    """OHLC + count of points from ``start_ms`` on, grouped into wall-clock buckets in ``tz``.

    Empty buckets are absent. Points stamped after ``now_ms`` still count (in their bucket).
    """
    segments = offset_segments(start_ms, max(now_ms, start_ms), tz)
    params: list[Any] = []
    if len(segments) == 1:
        offset_sql = "?"
        params.append(segments[0][1])
    else:
        arms = []
        for until, offset in segments[:-1]:
            arms.append("WHEN timestamp < ? THEN ?")
            params += [until, offset]
        offset_sql = f"CASE {' '.join(arms)} ELSE ? END"
        params.append(segments[-1][1])
    rows = await _all(
        conn,
        f"SELECT (timestamp + {offset_sql}) / ? AS k, MIN(block_number), MAX(block_number),"
        " MIN(cumulative_score), MAX(cumulative_score), COUNT(*)"
        " FROM block_points WHERE timestamp >= ? GROUP BY k ORDER BY k",
        [*params, period_ms, start_ms],
    )
    scores = await _scores_by_number(conn, [n for r in rows for n in (r[1], r[2])])
    return [
        BucketAggregate(
            key=int(r[0]),
            start_ms=wall_to_utc_ms(int(r[0]) * period_ms, tz),
            open=scores[int(r[1])],
            close=scores[int(r[2])],
            low=int(r[3]),
            high=int(r[4]),
            count=int(r[5]),
        )
        for r in rows
    ]


async def block_candles(conn: aiosqlite.Connection, candles: int) -> list[Candle]:
    """The newest ``candles`` candles of 20 consecutive block numbers each.

    Candle ``k`` covers blocks ``20k .. 20k+19``, so candles never shift as blocks arrive;
    the newest one may be incomplete (its volume says how many blocks it has so far). Its
    timestamp is its first block's timestamp.
    """
    newest = await _one(conn, "SELECT MAX(block_number) FROM block_points")
    if newest is None or newest[0] is None:
        return []
    first_group = int(newest[0]) // BLOCKS_PER_CANDLE - (candles - 1)
    rows = await _all(
        conn,
        "SELECT block_number / ? AS g, MIN(block_number), MAX(block_number),"
        " MIN(cumulative_score), MAX(cumulative_score), COUNT(*), MIN(timestamp)"
        " FROM block_points WHERE block_number >= ? GROUP BY g ORDER BY g",
        [BLOCKS_PER_CANDLE, max(first_group, 0) * BLOCKS_PER_CANDLE],
    )
    scores = await _scores_by_number(conn, [n for r in rows for n in (r[1], r[2])])
    return [
        Candle(
            timestamp=int(r[6]),
            open=scores[int(r[1])],
            high=int(r[4]),
            low=int(r[3]),
            close=scores[int(r[2])],
            volume=int(r[5]),
        )
        for r in rows
    ]
