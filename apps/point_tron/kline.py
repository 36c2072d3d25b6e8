"""K-line (candlestick) arithmetic over the cumulative score: pure functions, no I/O.

The "price" is ``block_points.cumulative_score``. A candle's ``open`` is the score after the
first block in the candle (not the previous close), ``close`` the score after the last one,
``high``/``low`` the extremes and ``volume`` the number of blocks.

Time buckets are aligned to wall-clock time in ``STATS_TZ``: a ``1d`` candle starts at local
midnight and a ``4h`` candle at local 00/04/08/...; the SQL side groups rows by
``(timestamp + utc_offset) // period`` where the UTC offset is piecewise constant between
DST transitions (:func:`offset_segments`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "BLOCKS_PER_CANDLE",
    "PERIODS",
    "BucketWindow",
    "Candle",
    "bucket_window",
    "candle_stats",
    "moving_average",
    "offset_at",
    "offset_segments",
    "rsi",
    "to_utc_iso",
    "wall_to_utc_ms",
]

PERIODS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
BLOCKS_PER_CANDLE = 20
_EPOCH = datetime(1970, 1, 1)
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Candle:
    timestamp: int  # ms, UTC instant of the candle's start
    open: int
    high: int
    low: int
    close: int
    volume: int

    def to_json(self) -> dict[str, int]:
        return {
            "timestamp": self.timestamp,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


def offset_at(ms: int, tz: ZoneInfo) -> int:
    """The UTC offset of ``tz`` at the instant ``ms``, in ms."""
    delta = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    return int(delta.total_seconds() * 1000) if delta is not None else 0


def wall_to_utc_ms(wall_ms: int, tz: ZoneInfo) -> int:
    """The instant whose wall-clock time in ``tz`` is ``wall_ms`` (ms since the local epoch)."""
    naive = _EPOCH + timedelta(milliseconds=wall_ms)
    return round(naive.replace(tzinfo=tz).timestamp() * 1000)


def offset_segments(start_ms: int, end_ms: int, tz: ZoneInfo) -> list[tuple[int, int]]:
    """Split ``[start_ms, end_ms]`` where the UTC offset changes.

    Returns ``[(until_ms, offset_ms), ...]``: the offset applies to instants before
    ``until_ms``; the last entry's ``until_ms`` is ``end_ms + 1``. Transitions are found by
    sampling once a day and bisecting to the second (zones change offset at most twice a year).
    """
    segments: list[tuple[int, int]] = []
    current = offset_at(start_ms, tz)
    probe = start_ms
    while probe < end_ms:
        nxt = min(probe + _DAY_MS, end_ms)
        nxt_offset = offset_at(nxt, tz)
        if nxt_offset != current:
            lo, hi = probe, nxt  # offset(lo) == current, offset(hi) != current
            while hi - lo > 1000:
                mid = (lo + hi) // 2
                if offset_at(mid, tz) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi, current))
            current = nxt_offset
        probe = nxt
    segments.append((end_ms + 1, current))
    return segments


@dataclass(frozen=True)
class BucketWindow:
    period_ms: int
    start_ms: int  # UTC instant where the oldest wanted bucket starts
    first_key: int  # bucket key (wall-clock ms // period) of that bucket
    current_key: int  # key of the bucket that contains "now"


def bucket_window(period_ms: int, buckets: int, now_ms: int, tz: ZoneInfo) -> BucketWindow:
    """The window of ``buckets`` wall-clock-aligned buckets ending with the one holding now."""
    current_key = (now_ms + offset_at(now_ms, tz)) // period_ms
    first_key = current_key - (buckets - 1)
    return BucketWindow(
        period_ms=period_ms,
        start_ms=wall_to_utc_ms(first_key * period_ms, tz),
        first_key=first_key,
        current_key=current_key,
    )


def moving_average(closes: Sequence[float], n: int) -> list[float | None]:
    """Simple moving average of ``n`` closes; ``None`` for the first ``n - 1`` entries."""
    out: list[float | None] = []
    total = 0.0
    for i, value in enumerate(closes):
        total += value
        if i >= n:
            total -= closes[i - n]
        out.append(total / n if i >= n - 1 else None)
    return out


def rsi(closes: Sequence[float], n: int = 14) -> list[float | None]:
    """RSI over the last ``n`` changes, plain averages (as the original; not Wilder's).

    Entry ``i`` is defined from ``i >= n``; ``avg_loss == 0`` gives 100.
    """
    out: list[float | None] = [None] * len(closes)
    for i in range(n, len(closes)):
        gains = 0.0
        losses = 0.0
        for j in range(i - n + 1, i + 1):
            change = closes[j] - closes[j - 1]
            if change > 0:
                gains += change
            else:
                losses -= change
        avg_gain, avg_loss = gains / n, losses / n
        out[i] = 100.0 if avg_loss == 0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def candle_stats(candles: Sequence[Candle]) -> dict[str, float | int]:
    """Change statistics over candles (``change = close - open`` per candle)."""
    if not candles:
        return {
            "totalChange": 0,
            "maxGain": 0,
            "maxLoss": 0,
            "positiveCount": 0,
            "negativeCount": 0,
            "avgVolume": 0,
            "volatility": 0,
            "winRate": 0,
        }
    changes = [c.close - c.open for c in candles]
    n = len(changes)
    mean = sum(changes) / n
    variance = max(sum(c * c for c in changes) / n - mean * mean, 0.0)
    positive = sum(1 for c in changes if c > 0)
    return {
        "totalChange": candles[-1].close - candles[0].open,
        "maxGain": max([c for c in changes if c > 0], default=0),
        "maxLoss": abs(min([c for c in changes if c < 0], default=0)),
        "positiveCount": positive,
        "negativeCount": sum(1 for c in changes if c < 0),
        "avgVolume": round(sum(c.volume for c in candles) / n, 4),
        "volatility": round(math.sqrt(variance), 4),
        "winRate": round(positive / n * 100, 4),
    }


def to_utc_iso(ms: int) -> str:
    """``2024-01-01T12:00:00.000Z`` for an epoch-ms instant."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
