"""``GET /health``: the shape monitors parse, with healthy / degraded / unhealthy.

- ``healthy`` (200): database open, poll loop alive, last RPC tick succeeded;
- ``degraded`` (200): the RPC is failing (``consecutiveErrors > 0``), or the node is not on
  our chain (then ``data.chain`` says why: ``state`` ``behind``, ``fork`` or
  ``fork_too_deep``, with the reason and the gap; see point_tron.ingest); restarting the
  app cannot fix the network, so a supervisor should not restart it;
- ``unhealthy`` (503): the database is closed or the poll loop is dead; restart it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from point_tron import queries
from point_tron.i18n import language_for, translate
from point_tron.kline import to_utc_iso
from point_tron.routes._common import error_body, now_ms, state

__all__ = ["chain_json", "health", "routes"]

log = logging.getLogger(__name__)


def chain_json(poller: Any) -> dict[str, Any]:
    """Whether the node is on our chain: ``{"state": "ok"}`` or the issue, plus the last
    rollback (``lastReorg``, null if none since start)."""
    issue = poller.chain_issue
    data: dict[str, Any] = {"state": "ok"} if issue is None else issue.as_json()
    data["lastReorg"] = poller.last_reorg
    return data


async def health(request: Request) -> JSONResponse:
    pt = state(request)
    at = now_ms()
    try:
        connected = bool(await pt.db.is_connected())
    except Exception:
        connected = False
    total: int | None = None
    today: int | None = None
    if connected:
        try:
            total = await queries.block_count(pt.db.read)
            today = await queries.today_block_count(pt.db.read, at, pt.settings.stats_tz)
        except Exception as exc:
            log.warning("health: database query failed", extra={"fields": {"error": repr(exc)}})
            connected = False
    poller = pt.poller
    problems = []
    if not connected:
        problems.append("problem.db_disconnected")
    if not poller.alive:
        problems.append("problem.poll_loop_dead")
    if problems:
        status = "unhealthy"
    elif poller.consecutive_errors > 0 or poller.chain_issue is not None:
        status = "degraded"
    else:
        status = "healthy"
    data: dict[str, Any] = {
        "status": status,
        "timestamp": to_utc_iso(at),
        "uptime": round(time.time() - pt.started_at, 3),
        "database": {"isConnected": connected, "totalBlocks": total, "todayBlocks": today},
        "rpcPolling": {
            "isActive": bool(poller.is_active),
            "interval": poller.interval_ms,
            "consecutiveErrors": poller.consecutive_errors,
        },
    }
    if not poller.polls:  # POLLER: another instance polls the node; this one follows it
        data["rpcPolling"]["role"] = "follower"
    if poller.chain_issue is not None:
        data["chain"] = chain_json(poller)
    if problems:
        language = language_for(request.scope["headers"])
        said = "; ".join(translate(language, key) for key in problems)
        body = {**error_body(language, "unhealthy", problems=said), "data": data}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"success": True, "data": data})


routes: list[BaseRoute] = [Route("/health", health, methods=["GET"])]
