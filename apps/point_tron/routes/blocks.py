"""``/api/blocks/*``: today's statistics, history, points (score) and K-lines."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from point_tron import queries
from point_tron.i18n import language_for, translate
from point_tron.kline import (
    BLOCKS_PER_CANDLE,
    PERIODS,
    Candle,
    bucket_window,
    candle_stats,
    moving_average,
    rsi,
)
from point_tron.routes._common import BadRequest, now_ms, ok, query_choice, query_limit, state
from point_tron.ws import stats_json

__all__ = ["routes", "time_candles"]

TIME_RANGES: dict[str, int] = {"1day": 1, "1week": 7, "1month": 30}  # days
AUTO_MIN_CANDLES = 20  # period=auto: the longest period with at least this many candles
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(1970, 1, 1)
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


async def stats(request: Request) -> JSONResponse:
    pt = state(request)
    return ok(await stats_json(pt.db, pt.settings.stats_tz, now_ms()))


async def history(request: Request) -> JSONResponse:
    pt = state(request)
    limit = query_limit(request, 100)
    date = request.query_params.get("date")
    if date:
        if not _DATE.match(date):
            raise BadRequest("bad_date", value=repr(date))
        try:
            datetime.strptime(date, "%Y-%m-%d")
        except ValueError:
            raise BadRequest("bad_calendar_date", value=repr(date)) from None
        return ok(await queries.daily_stats_row(pt.db.read, date))
    return ok(await queries.latest_blocks(pt.db.read, limit))


async def points(request: Request) -> JSONResponse:
    pt = state(request)
    time_range = query_choice(request, "timeRange", list(TIME_RANGES), "1day")
    limit = query_limit(request, 1000)
    since = now_ms() - TIME_RANGES[time_range] * _DAY_MS
    rows = await queries.points_in_window(pt.db.read, since, limit)
    window_stats = await queries.points_window_stats(pt.db.read, since)
    return ok({"points": rows, "stats": window_stats, "timeRange": time_range})


async def points_trend(request: Request) -> JSONResponse:
    pt = state(request)
    time_range = query_choice(request, "timeRange", list(TIME_RANGES), "1day")
    tz = pt.settings.stats_tz
    at = now_ms()
    if time_range == "1day":
        start, _, _ = queries.day_bounds(at, tz)
        aggs = await queries.bucket_aggregates(
            pt.db.read, start_ms=start, period_ms=_HOUR_MS, now_ms=at, tz=tz
        )
        trend: list[dict[str, Any]] = [
            {
                "hour": f"{(a.key * _HOUR_MS) % _DAY_MS // _HOUR_MS:02d}",
                "hour_start_score": a.open,
                "hour_end_score": a.close,
                "min_score": a.low,
                "max_score": a.high,
                "block_count": a.count,
            }
            for a in aggs
        ]
    else:
        window = bucket_window(_DAY_MS, TIME_RANGES[time_range], at, tz)
        aggs = await queries.bucket_aggregates(
            pt.db.read, start_ms=window.start_ms, period_ms=_DAY_MS, now_ms=at, tz=tz
        )
        trend = [
            {
                "date": (_EPOCH + timedelta(milliseconds=a.key * _DAY_MS)).strftime("%Y-%m-%d"),
                "day_start_score": a.open,
                "day_end_score": a.close,
                "min_score": a.low,
                "max_score": a.high,
                "block_count": a.count,
            }
            for a in aggs
        ]
    return ok({"trend": trend, "timeRange": time_range})


async def time_candles(
    pt: Any, period: str, limit: int, *, realtime: bool = False
) -> tuple[list[Candle], Candle | None]:
    """Up to ``limit`` time-bucket candles; with ``realtime`` the open bucket comes apart."""
    tz = pt.settings.stats_tz
    at = now_ms()
    window = bucket_window(PERIODS[period], limit + (1 if realtime else 0), at, tz)
    aggs = await queries.bucket_aggregates(
        pt.db.read, start_ms=window.start_ms, period_ms=window.period_ms, now_ms=at, tz=tz
    )
    if not realtime:
        return [a.candle() for a in aggs][-limit:], None
    current = next((a.candle() for a in aggs if a.key == window.current_key), None)
    historical = [a.candle() for a in aggs if a.key < window.current_key][-limit:]
    return historical, current


def _period(request: Request) -> str:
    return query_choice(request, "period", list(PERIODS), "1h")


async def auto_period(pt: Any, limit: int) -> str:
    """The period a chart of ``limit`` candles should open on: the longest one with at least
    ``AUTO_MIN_CANDLES`` candles (so MA20 and RSI 14 have values), else the one with the most
    candles (the shortest among equals)."""
    counts: dict[str, int] = {}
    for period in reversed(PERIODS):
        candles, _ = await time_candles(pt, period, limit)
        if len(candles) >= AUTO_MIN_CANDLES:
            return period
        counts[period] = len(candles)
    return max(PERIODS, key=lambda p: counts[p])


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise BadRequest("bad_flag", name=name, value=repr(raw))


async def kline(request: Request) -> JSONResponse:
    pt = state(request)
    period = query_choice(request, "period", [*PERIODS, "auto"], "1h")
    limit = query_limit(request, 100)
    if period == "auto":
        period = await auto_period(pt, limit)
    realtime = _flag(request, "realtime")
    historical, current = await time_candles(pt, period, limit, realtime=realtime)
    data: dict[str, Any] = {"klineData": [c.to_json() for c in historical], "period": period}
    if realtime and current is not None:
        data["currentCandle"] = current.to_json()
    return ok(data)


async def kline_1minute(request: Request) -> JSONResponse:
    pt = state(request)
    limit = query_limit(request, 100)
    candles = await queries.block_candles(pt.db.read, limit)
    return ok(
        {
            "klineData": [c.to_json() for c in candles],
            "timeFrame": "1minute",
            "candleCount": len(candles),
            "recordsPerCandle": BLOCKS_PER_CANDLE,
            "description": translate(
                language_for(request.scope["headers"]),
                "api.kline_1minute",
                per=BLOCKS_PER_CANDLE,
                count=len(candles),
            ),
        }
    )


def _rounded(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v, 4) for v in values]


async def kline_indicators(request: Request) -> JSONResponse:
    pt = state(request)
    period = _period(request)
    limit = query_limit(request, 100)
    candles, _ = await time_candles(pt, period, limit)
    closes = [float(c.close) for c in candles]
    indicators = {
        "ma5": _rounded(moving_average(closes, 5)),
        "ma10": _rounded(moving_average(closes, 10)),
        "ma20": _rounded(moving_average(closes, 20)),
        "rsi": _rounded(rsi(closes, 14)),
    }
    return ok(
        {
            "indicators": indicators,
            "timestamps": [c.timestamp for c in candles],
            "period": period,
        }
    )


async def kline_stats(request: Request) -> JSONResponse:
    pt = state(request)
    period = _period(request)
    limit = query_limit(request, 100)
    candles, _ = await time_candles(pt, period, limit)
    return ok({"stats": candle_stats(candles), "period": period})


routes: list[BaseRoute] = [
    Route("/api/blocks/stats", stats, methods=["GET"]),
    Route("/api/blocks/history", history, methods=["GET"]),
    Route("/api/blocks/points", points, methods=["GET"]),
    Route("/api/blocks/points/trend", points_trend, methods=["GET"]),
    Route("/api/blocks/kline", kline, methods=["GET"]),
    Route("/api/blocks/kline/1minute", kline_1minute, methods=["GET"]),
    Route("/api/blocks/kline/indicators", kline_indicators, methods=["GET"]),
    Route("/api/blocks/kline/stats", kline_stats, methods=["GET"]),
]
