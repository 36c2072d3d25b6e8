"""The live-update WebSocket (``WS /ws``) and its broadcast hub.

Protocol (JSON text frames):

- the token: offered as subprotocols ``bearer, <jwt>`` (``new WebSocket(url, ["bearer",
  token])``; the server answers ``Sec-WebSocket-Protocol: bearer``), so it never appears in
  a URL or an access log; ``/ws?token=<jwt>`` is still accepted (the log lines redact it).
- on connect, with a valid token: ``{"type": "welcome", "clientId", "timestamp", "data":
  {"message", "supportedSubscriptions": ["block", "kline", "stats"], "serverTime"}}``;
  without one, the socket is closed with code 4401 (unauthorized).
- client → server: ``{"type": "subscribe"|"unsubscribe", "channel"}`` → ``subscribed`` /
  ``unsubscribed``; ``{"type": "ping"}`` → ``pong``; ``{"type": "getStatus"}`` → ``status``;
  anything else → ``{"type": "error", "data": {"message", "code"}}``: ``code`` is stable
  (``ws_not_json``, ``ws_not_object``, ``ws_unknown_channel``, ``ws_unknown_type``), the
  message is in the language of the handshake (``lang`` cookie, ``Accept-Language``), as the
  welcome and the 4401 close reason are.
- server → client, for every batch of new blocks the poller stores:
  ``{"type": "update", "channel": "block", "timestamp", "data": <block>}`` once per block,
  then one ``kline`` update (the current 1-minute candle) and one ``stats`` update (today's
  totals, as ``GET /api/blocks/stats``) to the clients subscribed to those channels.

Each client has a bounded outbox; a client that stops reading is disconnected (code 1013)
rather than slowing everyone else down.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from point_tron import queries
from point_tron.auth import user_for_token
from point_tron.i18n import language_for, translate
from point_tron.kline import PERIODS, bucket_window, to_utc_iso
from point_tron.routes._common import now_ms

__all__ = ["CHANNELS", "CLOSE_UNAUTHORIZED", "WebSocketHub", "block_json", "stats_json"]

log = logging.getLogger(__name__)

CHANNELS = ("block", "kline", "stats")
CLOSE_UNAUTHORIZED = 4401
BEARER_SUBPROTOCOL = "bearer"
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
OUTBOX_SIZE = 512


def block_json(stored: Any) -> dict[str, Any]:
    """One stored block (``ingest.StoredBlock``) as the ``block`` channel's data."""
    block = stored.block
    return {
        "blockNumber": block.number,
        "blockHash": block.hash,
        "timestamp": block.timestamp_ms,
        "lastDigit": block.last_digit,
        "isOdd": block.is_odd,
        "pointChange": stored.point_change,
        "cumulativeScore": stored.cumulative_score,
        "witnessAddress": block.witness_address,
        "txCount": block.tx_count,
    }


async def stats_json(db: Any, tz: Any, at_ms: int) -> dict[str, Any]:
    """Today's totals, odd rate, hourly split and current block (``/api/blocks/stats``)."""
    today = await queries.today_stats(db.read, at_ms, tz)
    return {
        "todayTotal": today.total,
        "todayOdd": today.odd,
        "todayEven": today.even,
        "oddRate": round(today.odd / today.total * 100, 2) if today.total else 0,
        "hourlyStats": [h.to_json() for h in today.hourly],
        "currentBlock": await queries.current_block(db.read),
    }


@dataclass(eq=False)
class _Client:
    id: str
    websocket: WebSocket
    outbox: MemoryObjectSendStream[dict[str, Any] | None]
    inbox: MemoryObjectReceiveStream[dict[str, Any] | None]
    channels: set[str] = field(default_factory=set)
    close_code: int = CLOSE_GOING_AWAY
    language: str = "en"

    def post(self, message: dict[str, Any] | None) -> bool:
        try:
            self.outbox.send_nowait(message)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True


class WebSocketHub:
    """Connected clients, their subscriptions, and the fan-out of the poller's new blocks."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._clients: dict[str, _Client] = {}
        self.started_at_ms = now_ms()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def subscription_count(self) -> int:
        return sum(len(c.channels) for c in self._clients.values())

    # --- the fan-out task ------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Forward every batch of new blocks to the subscribed clients until cancelled."""
        poller = self._state.poller
        stream = poller.subscribe()
        task_status.started()
        try:
            async with stream:
                async for batch in stream:
                    try:
                        await self.publish(batch)
                    except Exception:
                        log.exception("websocket broadcast failed")
        finally:
            poller.unsubscribe(stream)

    async def publish(self, batch: list[Any]) -> None:
        if not batch or not self._clients:
            return
        wanted = {ch for c in self._clients.values() for ch in c.channels}
        if "block" in wanted:
            for stored in batch:
                self._broadcast("block", block_json(stored))
        if "kline" in wanted:
            self._broadcast("kline", await self._kline_update())
        if "stats" in wanted:
            self._broadcast(
                "stats", await stats_json(self._state.db, self._state.settings.stats_tz, now_ms())
            )

    async def _kline_update(self) -> dict[str, Any]:
        tz = self._state.settings.stats_tz
        at = now_ms()
        window = bucket_window(PERIODS["1m"], 5, at, tz)
        buckets = await queries.bucket_aggregates(
            self._state.db.read,
            start_ms=window.start_ms,
            period_ms=window.period_ms,
            now_ms=at,
            tz=tz,
        )
        candles = [b.candle().to_json() for b in buckets]
        return {"period": "1m", "kline": candles[-1] if candles else None, "recentKlines": candles}

    def _broadcast(self, channel: str, data: dict[str, Any]) -> None:
        message = {"type": "update", "channel": channel, "timestamp": now_ms(), "data": data}
        for client in list(self._clients.values()):
            if channel in client.channels and not client.post(message):
                log.warning(
                    "websocket client too slow; disconnecting",
                    extra={"fields": {"clientId": client.id}},
                )
                client.close_code = CLOSE_TRY_AGAIN_LATER
                client.outbox.close()
                self._clients.pop(client.id, None)

    async def close_all(self) -> None:
        """Ask every client to close (code 1001) and forget them."""
        for client in list(self._clients.values()):
            client.close_code = CLOSE_GOING_AWAY
            if not client.post(None):
                client.outbox.close()
        self._clients.clear()

    # --- one connection --------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        settings = self._state.settings
        subprotocol, token = _offered_token(websocket.scope.get("subprotocols") or [])
        if token is None:
            token = websocket.query_params.get("token")
        user = await user_for_token(self._state.db, token, settings.jwt_secret)
        language = language_for(websocket.scope.get("headers", []))
        await websocket.accept(subprotocol=subprotocol)
        if user is None:
            await websocket.close(CLOSE_UNAUTHORIZED, translate(language, "error.ws_unauthorized"))
            return
        outbox, inbox = anyio.create_memory_object_stream[dict[str, Any] | None](OUTBOX_SIZE)
        client = _Client(f"client_{secrets.token_hex(6)}", websocket, outbox, inbox)
        client.language = language
        self._clients[client.id] = client
        client.post(
            {
                "type": "welcome",
                "clientId": client.id,
                "timestamp": now_ms(),
                "data": {
                    "message": translate(language, "ws.welcome", username=user.username),
                    "supportedSubscriptions": list(CHANNELS),
                    "serverTime": to_utc_iso(now_ms()),
                },
            }
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sender, client, tg.cancel_scope)
                await self._receiver(client)
                tg.cancel_scope.cancel()
        finally:
            self._clients.pop(client.id, None)
            outbox.close()
            inbox.close()

    async def _sender(self, client: _Client, scope: anyio.CancelScope) -> None:
        try:
            async with client.inbox:
                async for message in client.inbox:
                    if message is None:
                        break
                    await client.websocket.send_text(json.dumps(message))
            await client.websocket.close(client.close_code)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        scope.cancel()

    async def _receiver(self, client: _Client) -> None:
        while True:
            message = await client.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            reply = self._answer(client, text or "")
            if reply is not None and not client.post(reply):
                return

    def _answer(self, client: _Client, text: str) -> dict[str, Any] | None:
        try:
            msg = json.loads(text)
        except ValueError:
            return _error(client, "ws_not_json")
        if not isinstance(msg, dict):
            return _error(client, "ws_not_object")
        kind = msg.get("type")
        channel = msg.get("channel")
        if kind in ("subscribe", "unsubscribe"):
            if channel not in CHANNELS:
                return _error(
                    client,
                    "ws_unknown_channel",
                    channel=repr(channel),
                    channels=", ".join(CHANNELS),
                )
            if kind == "subscribe":
                client.channels.add(channel)
            else:
                client.channels.discard(channel)
            return {
                "type": f"{kind}d",
                "timestamp": now_ms(),
                "data": {
                    "channel": channel,
                    "message": translate(client.language, f"ws.{kind}d", channel=channel),
                    "totalSubscriptions": len(client.channels),
                    "channels": sorted(client.channels),
                },
            }
        if kind == "ping":
            return {"type": "pong", "timestamp": now_ms()}
        if kind == "getStatus":
            poller = self._state.poller
            return {
                "type": "status",
                "timestamp": now_ms(),
                "data": {
                    "websocket": {
                        "connectedClients": self.client_count,
                        "totalSubscriptions": self.subscription_count(),
                    },
                    "rpcPolling": {
                        "isActive": bool(poller.is_active),
                        "interval": poller.interval_ms,
                        "consecutiveErrors": poller.consecutive_errors,
                    },
                },
            }
        return _error(client, "ws_unknown_type", type=repr(kind))


def _offered_token(subprotocols: list[str]) -> tuple[str | None, str | None]:
    """(the subprotocol to answer, the token) from ``Sec-WebSocket-Protocol: bearer, <jwt>``."""
    if BEARER_SUBPROTOCOL not in subprotocols:
        return None, None
    index = subprotocols.index(BEARER_SUBPROTOCOL)
    token = subprotocols[index + 1] if index + 1 < len(subprotocols) else None
    return BEARER_SUBPROTOCOL, token


def _error(client: _Client, code: str, **params: Any) -> dict[str, Any]:
    message = translate(client.language, f"error.{code}", **params)
    return {"type": "error", "timestamp": now_ms(), "data": {"message": message, "code": code}}
