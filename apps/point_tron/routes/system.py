"""``GET /api/system/status``: the poller's real state, database counts, uptime, memory."""

from __future__ import annotations

import time

import psutil
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from point_tron import queries
from point_tron.routes._common import now_ms, ok, state
from point_tron.routes.health import chain_json

__all__ = ["routes", "system_status"]

_MB = 1024 * 1024


async def system_status(request: Request) -> JSONResponse:
    pt = state(request)
    at = now_ms()
    poller = pt.poller
    oldest, newest = await queries.block_number_range(pt.db.read)
    memory = psutil.Process().memory_info()
    last_success = poller.last_success_at
    return ok(
        {
            "rpcPolling": {
                "isActive": bool(poller.is_active),
                "alive": bool(poller.alive),
                "interval": poller.interval_ms,
                "lastBlockTime": round(last_success * 1000) if last_success is not None else None,
                "consecutiveErrors": poller.consecutive_errors,
                "lastError": poller.last_error,
                "chain": chain_json(poller),
            },
            "database": {
                "isConnected": bool(await pt.db.is_connected()),
                "totalBlocks": await queries.block_count(pt.db.read),
                "todayBlocks": await queries.today_block_count(
                    pt.db.read, at, pt.settings.stats_tz
                ),
                "oldestBlock": oldest,
                "newestBlock": newest,
            },
            "websocket": {
                "connectedClients": pt.hub.client_count,
                "totalSubscriptions": pt.hub.subscription_count(),
            },
            "uptime": round(time.time() - pt.started_at, 3),
            "lastUpdate": at,
            "memory": {"used": round(memory.rss / _MB), "total": round(memory.vms / _MB)},
        }
    )


routes: list[BaseRoute] = [Route("/api/system/status", system_status, methods=["GET"])]
