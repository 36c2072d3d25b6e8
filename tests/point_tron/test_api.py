"""Every Point-Tron API route against a real database filled by the real poller."""

from __future__ import annotations

import json
from typing import Any

import pytest

from point_tron import kline
from point_tron.queries import day_bounds
from point_tron.routes._common import now_ms
from tests.point_tron.conftest import HEAD, START_BLOCK, Service, expected_blocks, wait_until

pytestmark = pytest.mark.anyio


async def get_data(svc: Service, url: str, status: int = 200) -> Any:
    response = await svc.client.get(url, headers=svc.auth)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is (status < 400)
    return body.get("data")


async def test_health_healthy_in_the_documented_shape(service: Service) -> None:
    response = await service.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "data"}
    data = body["data"]
    assert set(data) == {"status", "timestamp", "uptime", "database", "rpcPolling"}
    assert data["status"] == "healthy"
    assert data["timestamp"].endswith("Z") and len(data["timestamp"]) == 24
    assert isinstance(data["uptime"], float)
    start, end, _ = day_bounds(now_ms(), service.settings.stats_tz)
    today = sum(1 for b in expected_blocks(service.chain) if start <= b.timestamp < end)
    assert data["database"] == {"isConnected": True, "totalBlocks": 200, "todayBlocks": today}
    assert data["rpcPolling"] == {"isActive": True, "interval": 20, "consecutiveErrors": 0}


async def test_health_degraded_while_rpc_fails_then_healthy(service: Service) -> None:
    service.faults.http_error_rate = 1.0
    await wait_until(lambda: service.poller.consecutive_errors >= 2)
    response = await service.client.get("/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "degraded"
    assert data["rpcPolling"]["consecutiveErrors"] >= 2

    service.faults.http_error_rate = 0.0
    await wait_until(lambda: service.poller.consecutive_errors == 0)
    response = await service.client.get("/health")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "healthy"


async def test_health_unhealthy_503_when_poll_loop_dead(service: Service) -> None:
    await service.poller.stop()
    assert service.poller.alive is False
    response = await service.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert "poll loop" in body["error"]
    assert body["data"]["status"] == "unhealthy"
    assert body["data"]["database"]["isConnected"] is True


async def test_health_unhealthy_503_when_database_closed(service: Service) -> None:
    await service.poller.stop()
    await service.db.close()
    response = await service.client.get("/health")
    assert response.status_code == 503
    data = response.json()["data"]
    assert data["status"] == "unhealthy"
    assert data["database"] == {"isConnected": False, "totalBlocks": None, "todayBlocks": None}


async def test_an_exception_in_a_handler_is_a_json_500(service: Service) -> None:
    await service.poller.stop()
    await service.db.close()  # every query now raises
    response = await service.client.get("/api/blocks/stats", headers=service.auth)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "success": False,
        "error": "internal server error",
        "code": "internal_error",
    }


async def test_blocks_stats(service: Service) -> None:
    data = await get_data(service, "/api/blocks/stats")
    blocks = expected_blocks(service.chain)
    start, end, _ = day_bounds(now_ms(), service.settings.stats_tz)
    today = [b for b in blocks if start <= b.timestamp < end]
    odd = sum(b.is_odd for b in today)
    assert (data["todayTotal"], data["todayOdd"], data["todayEven"]) == (
        len(today),
        odd,
        len(today) - odd,
    )
    hours: dict[str, list[int]] = {}
    for b in today:
        hour = f"{(b.timestamp - start) // 3_600_000:02d}"
        hours.setdefault(hour, [0, 0])
        hours[hour][0] += 1
        hours[hour][1] += b.is_odd
    assert data["hourlyStats"] == [
        {"hour": h, "total": t, "odd": o, "even": t - o} for h, (t, o) in sorted(hours.items())
    ]
    head = blocks[-1]
    assert data["currentBlock"] == {
        "number": HEAD,
        "hash": head.hash,
        "timestamp": head.timestamp,
        "lastDigit": head.last_digit,
        "isOdd": head.is_odd,
    }


async def test_history_latest_blocks_and_a_day(service: Service) -> None:
    rows = await get_data(service, "/api/blocks/history?limit=5")
    assert [r["block_number"] for r in rows] == [1199, 1198, 1197, 1196, 1195]
    by_number = {b.number: b for b in expected_blocks(service.chain)}
    for row in rows:
        expected = by_number[row["block_number"]]
        assert row["block_hash"] == expected.hash
        assert row["is_odd"] is expected.is_odd
        assert row["timestamp"] == expected.timestamp
    day = day_bounds(by_number[HEAD].timestamp, service.settings.stats_tz)[2]
    row = await get_data(service, f"/api/blocks/history?date={day}")
    in_day = [
        b
        for b in by_number.values()
        if day_bounds(b.timestamp, service.settings.stats_tz)[2] == day
    ]
    assert row["date"] == day
    assert row["total_blocks"] == len(in_day)
    assert row["odd_count"] == sum(b.is_odd for b in in_day)
    assert await get_data(service, "/api/blocks/history?date=2001-01-01") is None
    for bad in ("2024-13-01", "yesterday", "2024-1-1"):
        response = await service.client.get(f"/api/blocks/history?date={bad}", headers=service.auth)
        assert response.status_code == 400
        assert bad in response.json()["error"]


async def test_points_with_window_stats(service: Service) -> None:
    data = await get_data(service, "/api/blocks/points?limit=50")
    blocks = expected_blocks(service.chain)
    assert data["timeRange"] == "1day"
    assert [p["block_number"] for p in data["points"]] == list(range(HEAD - 49, HEAD + 1))
    assert [p["cumulative_score"] for p in data["points"]] == [b.score for b in blocks[-50:]]
    assert [p["point_change"] for p in data["points"]] == [b.change for b in blocks[-50:]]
    odd = sum(b.is_odd for b in blocks)
    # stats cover the whole window (all 200 blocks are within the last day), not just the 50
    assert data["stats"] == {
        "totalBlocks": 200,
        "oddBlocks": odd,
        "evenBlocks": 200 - odd,
        "totalPointChange": sum(b.change for b in blocks),
        "currentScore": blocks[-1].score,
        "startScore": blocks[0].score,
        "maxScore": max(b.score for b in blocks),
        "minScore": min(b.score for b in blocks),
    }
    week = await get_data(service, "/api/blocks/points?timeRange=1week")
    assert len(week["points"]) == 200 and week["timeRange"] == "1week"


async def test_points_trend_first_last_min_max(service: Service) -> None:
    data = await get_data(service, "/api/blocks/points/trend?timeRange=1month")
    blocks = expected_blocks(service.chain)
    tz = service.settings.stats_tz
    days: dict[str, list[int]] = {}
    for b in blocks:
        days.setdefault(day_bounds(b.timestamp, tz)[2], []).append(b.score)
    assert data["timeRange"] == "1month"
    assert data["trend"] == [
        {
            "date": day,
            "day_start_score": scores[0],
            "day_end_score": scores[-1],
            "min_score": min(scores),
            "max_score": max(scores),
            "block_count": len(scores),
        }
        for day, scores in sorted(days.items())
    ]
    hourly = await get_data(service, "/api/blocks/points/trend")
    start, end, _ = day_bounds(now_ms(), tz)
    assert sum(h["block_count"] for h in hourly["trend"]) == sum(
        1 for b in blocks if start <= b.timestamp < end
    )
    for entry in hourly["trend"]:
        assert set(entry) == {
            "hour",
            "hour_start_score",
            "hour_end_score",
            "min_score",
            "max_score",
            "block_count",
        }
        assert entry["min_score"] <= entry["hour_start_score"] <= entry["max_score"]


def time_buckets(service: Service, period_ms: int) -> dict[int, list[Any]]:
    buckets: dict[int, list[Any]] = {}
    for b in expected_blocks(service.chain):
        buckets.setdefault(b.timestamp // period_ms * period_ms, []).append(b)  # UTC
    return buckets


async def test_kline_time_buckets(service: Service) -> None:
    data = await get_data(service, "/api/blocks/kline?period=1m&limit=100")
    assert data["period"] == "1m"
    expected = [
        {
            "timestamp": start,
            "open": group[0].score,
            "high": max(b.score for b in group),
            "low": min(b.score for b in group),
            "close": group[-1].score,
            "volume": len(group),
        }
        for start, group in sorted(time_buckets(service, 60_000).items())
    ]
    assert data["klineData"] == expected  # 200 blocks x 3 s = 10-11 minutes: all inside 100


async def test_kline_realtime_splits_the_open_candle(service: Service) -> None:
    data = await get_data(service, "/api/blocks/kline?period=1h&limit=5&realtime=true")
    buckets = time_buckets(service, 3_600_000)
    current_start = now_ms() // 3_600_000 * 3_600_000
    if current_start in buckets:
        assert data["currentCandle"]["timestamp"] == current_start
        assert data["currentCandle"]["volume"] == len(buckets[current_start])
        assert data["currentCandle"]["close"] == expected_blocks(service.chain)[-1].score
    assert all(c["timestamp"] < current_start for c in data["klineData"])
    assert (
        sum(c["volume"] for c in data["klineData"]) + data.get("currentCandle", {}).get("volume", 0)
        == 200
    )


async def test_kline_1minute_candles_of_20_blocks(service: Service) -> None:
    data = await get_data(service, "/api/blocks/kline/1minute?limit=3")
    blocks = {b.number: b for b in expected_blocks(service.chain)}
    assert data["recordsPerCandle"] == 20 and data["candleCount"] == 3
    expected = []
    for first in (1140, 1160, 1180):
        group = [blocks[n] for n in range(first, first + 20)]
        expected.append(
            {
                "timestamp": group[0].timestamp,
                "open": group[0].score,
                "high": max(b.score for b in group),
                "low": min(b.score for b in group),
                "close": group[-1].score,
                "volume": 20,
            }
        )
    assert data["klineData"] == expected


async def test_kline_indicators_match_the_candles(service: Service) -> None:
    candles = (await get_data(service, "/api/blocks/kline?period=1m&limit=100"))["klineData"]
    data = await get_data(service, "/api/blocks/kline/indicators?period=1m&limit=100")
    closes = [float(c["close"]) for c in candles]
    ind = data["indicators"]
    assert data["timestamps"] == [c["timestamp"] for c in candles]
    assert len(ind["ma5"]) == len(ind["rsi"]) == len(candles)
    assert ind["ma5"][:4] == [None] * 4
    assert ind["ma5"][4] == pytest.approx(sum(closes[:5]) / 5)
    assert ind["ma20"] == [None] * len(candles)  # fewer than 20 candles: never defined
    assert ind["rsi"] == [None if v is None else round(v, 4) for v in kline.rsi(closes)]


async def test_kline_stats(service: Service) -> None:
    candles = (await get_data(service, "/api/blocks/kline?period=1m&limit=100"))["klineData"]
    data = await get_data(service, "/api/blocks/kline/stats?period=1m")
    stats = data["stats"]
    changes = [c["close"] - c["open"] for c in candles]
    assert stats["totalChange"] == candles[-1]["close"] - candles[0]["open"]
    assert stats["positiveCount"] == sum(1 for c in changes if c > 0)
    assert stats["negativeCount"] == sum(1 for c in changes if c < 0)
    assert stats["maxGain"] == max([c for c in changes if c > 0], default=0)
    assert stats["avgVolume"] == pytest.approx(200 / len(candles), abs=1e-3)


@pytest.mark.parametrize(
    "url",
    [
        "/api/blocks/kline?period=2m",
        "/api/blocks/kline/indicators?period=week",
        "/api/blocks/kline/stats?period=1M",
        "/api/blocks/kline?realtime=maybe",
        "/api/blocks/points?timeRange=1year",
        "/api/blocks/points/trend?timeRange=all",
        "/api/blocks/points?limit=0",
        "/api/blocks/points?limit=5001",
        "/api/blocks/history?limit=-1",
        "/api/blocks/kline?limit=abc",
        "/api/blocks/kline/1minute?limit=1e3",
    ],
)
async def test_bad_query_parameters_are_400(service: Service, url: str) -> None:
    response = await service.client.get(url, headers=service.auth)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    name, _, value = url.partition("?")[2].partition("=")
    assert name in body["error"] and repr(value) in body["error"]


async def test_limit_5000_is_accepted(service: Service) -> None:
    data = await get_data(service, "/api/blocks/points?limit=5000")
    assert len(data["points"]) == 200


async def test_rpc_config_get_post_applies_without_restart(service: Service) -> None:
    data = await get_data(service, "/api/config/rpc")
    assert data == {
        "rpcUrl": "http://tron-sim.invalid",
        "apiKeySet": False,
        "timeout": 2000,
        "retryTimes": 1,
        "pollingInterval": 20,
        "isPollingActive": True,
        "consecutiveErrors": 0,
        "lastError": None,
        "source": "environment",
    }
    response = await service.client.post(
        "/api/config/rpc",
        headers=service.auth,
        json={"pollingInterval": 30, "timeout": 1500, "retryTimes": 2, "apiKey": "k-123"},
    )
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert body["needRestart"] is False
    assert body["config"]["pollingInterval"] == 30 and body["config"]["source"] == "database"
    assert service.poller.interval_ms == 30
    assert service.poller.rpc_settings.timeout_ms == 1500
    assert service.poller.rpc_settings.retry_times == 2
    assert service.poller.rpc_settings.api_key == "k-123"
    stored = json.loads(await service.db.get_config("rpc") or "{}")
    assert stored["interval_ms"] == 30 and stored["api_key"] == "k-123"
    # the poller keeps following the chain with the new settings
    service.chain.advance(3)
    await service.ingest_to_head()


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"rpcUrl": "ftp://node"}, "rpcUrl"),
        ({"rpcUrl": "node:8090"}, "rpcUrl"),
        ({"timeout": "5000"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"retryTimes": 11}, "retryTimes"),
        ({"pollingInterval": True}, "pollingInterval"),
        ({"pollingIntervall": 100}, "pollingIntervall"),
        ({"apiKey": 12}, "apiKey"),
    ],
)
async def test_rpc_config_rejects_bad_values(
    service: Service, body: dict[str, Any], word: str
) -> None:
    response = await service.client.post("/api/config/rpc", headers=service.auth, json=body)
    assert response.status_code == 400
    assert word in response.json()["error"]
    assert await service.db.get_config("rpc") is None
    assert service.poller.interval_ms == 20


async def test_malformed_json_is_400(service: Service) -> None:
    for url in ("/api/config/rpc", "/api/config/rpc/polling", "/api/auth/login"):
        response = await service.client.post(
            url,
            headers={**service.auth, "content-type": "application/json"},
            content=b"{not json",
        )
        assert response.status_code == 400, url
        assert "malformed JSON" in response.json()["error"]
    response = await service.client.post("/api/config/rpc", headers=service.auth, json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]


async def test_polling_stop_and_start(service: Service) -> None:
    response = await service.client.post(
        "/api/config/rpc/polling", headers=service.auth, json={"action": "stop"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "stopped"
    assert service.poller.is_active is False
    assert await service.db.get_config("polling.active") == "false"
    health = (await service.client.get("/health")).json()["data"]
    assert health["rpcPolling"]["isActive"] is False

    response = await service.client.post(
        "/api/config/rpc/polling", headers=service.auth, json={"action": "start"}
    )
    assert response.json()["data"] == {
        "status": "started",
        "isPollingActive": True,
        "pollingInterval": 20,
        "message": "polling started",
    }
    service.chain.advance(2)
    await service.ingest_to_head()
    response = await service.client.post(
        "/api/config/rpc/polling", headers=service.auth, json={"action": "pause"}
    )
    assert response.status_code == 400
    assert "'pause'" in response.json()["error"]


async def test_system_status(service: Service) -> None:
    data = await get_data(service, "/api/system/status")
    assert data["rpcPolling"]["isActive"] is True
    assert data["rpcPolling"]["alive"] is True
    assert data["rpcPolling"]["interval"] == 20
    assert data["rpcPolling"]["consecutiveErrors"] == 0
    assert data["rpcPolling"]["lastBlockTime"] > 0
    assert data["database"]["totalBlocks"] == 200
    assert data["database"]["oldestBlock"] == START_BLOCK
    assert data["database"]["newestBlock"] == HEAD
    assert data["memory"]["used"] > 0
    assert data["uptime"] >= 0


async def test_unknown_api_route_is_json_404(service: Service) -> None:
    response = await service.client.get("/api/blocks/nope", headers=service.auth)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "not found: GET /api/blocks/nope",
        "code": "not_found",
    }
    response = await service.client.delete("/api/blocks/stats", headers=service.auth)
    assert response.status_code == 405
    assert response.json()["success"] is False


async def test_security_headers(service: Service) -> None:
    for url in ("/health", "/login", "/api/blocks/stats", "/static/charts.js"):
        response = await service.client.get(url, headers=service.auth)
        assert response.status_code == 200, url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp


async def test_pages_are_served_without_external_resources(service: Service) -> None:
    response = await service.client.get("/")
    assert response.status_code == 302 and response.headers["location"] == "/login"
    for page in ("/login", "/admin", "/kline"):
        response = await service.client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "http://" not in html and "https://" not in html  # nothing from the internet
        assert "<script>" not in html and "style=" not in html  # CSP forbids inline code
