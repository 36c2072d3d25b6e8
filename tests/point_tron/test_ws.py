"""WS /ws: auth, welcome, subscriptions, ping, and updates pushed when the poller stores blocks.

The real app runs under a real uvicorn (in-process, on a socket bound to 127.0.0.1:0) with
its lifespan, so the hub follows the real poller; the client is the ``websockets`` library.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from point_tron.auth import AuthUser, issue_token
from tests.point_tron.conftest import HEAD, Service, expected_blocks, wait_until

pytestmark = pytest.mark.anyio


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def ws_url(service: Service) -> AsyncIterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        service.app, log_config=None, lifespan="on", ws="websockets-sansio", access_log=False
    )
    server = _Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        await wait_until(lambda: server.started)
        try:
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            server.should_exit = True
    sock.close()


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        return json.loads(await ws.recv())


async def recv_type(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            message = await recv(ws, timeout)
            if message["type"] == kind:
                return message


@pytest.mark.parametrize("query", ["", "?token=", "?token=not.a.jwt", "?token=WRONGSECRET"])
async def test_without_a_valid_token_the_socket_closes_4401(ws_url: str, query: str) -> None:
    if query == "?token=WRONGSECRET":
        query = "?token=" + issue_token(AuthUser(1, "admin"), "another-secret" * 4, 60)
    async with connect(ws_url + query) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


@pytest.mark.parametrize("offered", [["bearer"], ["bearer", "not.a.jwt"], ["bearer", "WRONG"]])
async def test_a_bad_bearer_subprotocol_closes_4401(ws_url: str, offered: list[str]) -> None:
    if offered[-1] == "WRONG":
        offered = ["bearer", issue_token(AuthUser(1, "admin"), "another-secret" * 4, 60)]
    async with connect(ws_url, subprotocols=[Subprotocol(p) for p in offered]) as ws:
        assert ws.subprotocol == "bearer"  # answered, so a browser sees the 4401
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_the_token_as_a_bearer_subprotocol_keeps_it_out_of_the_url(
    service: Service, ws_url: str
) -> None:
    offered = [Subprotocol("bearer"), Subprotocol(service.token)]
    async with connect(ws_url, subprotocols=offered) as ws:
        assert ws.subprotocol == "bearer"
        assert (await recv(ws))["type"] == "welcome"


async def test_messages_in_the_language_of_the_handshake(service: Service, ws_url: str) -> None:
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    async with connect(f"{ws_url}?token={service.token}", additional_headers=zh) as ws:
        assert (await recv(ws))["data"]["message"] == "欢迎，admin"
        await ws.send(json.dumps({"type": "subscribe", "channel": "block"}))
        assert (await recv(ws))["data"]["message"] == "已订阅 block"
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "block"}))
        assert (await recv(ws))["data"]["message"] == "已取消订阅 block"
        await ws.send(json.dumps({"type": "subscribe", "channel": "trades"}))
        error = (await recv(ws))["data"]
        assert error == {
            "message": "未知频道 'trades'；可用频道：block, kline, stats",
            "code": "ws_unknown_channel",
        }
        await ws.send("{oops")
        assert (await recv(ws))["data"] == {
            "message": "消息格式错误：不是 JSON",
            "code": "ws_not_json",
        }
    # the lang cookie wins, as for the pages and the API
    cookie = {**zh, "Cookie": "lang=en"}
    async with connect(f"{ws_url}?token={service.token}", additional_headers=cookie) as ws:
        assert (await recv(ws))["data"]["message"] == "welcome, admin"
        await ws.send(json.dumps({"type": "dance"}))
        assert (await recv(ws))["data"] == {
            "message": "unknown message type 'dance'",
            "code": "ws_unknown_type",
        }
    async with connect(f"{ws_url}?token=nope", additional_headers=zh) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4401,
        "未授权：需要有效的访问令牌（子协议 bearer）",
    )


async def test_welcome_subscribe_ping_and_errors(service: Service, ws_url: str) -> None:
    async with connect(f"{ws_url}?token={service.token}") as ws:
        welcome = await recv(ws)
        assert welcome["type"] == "welcome"
        assert welcome["clientId"].startswith("client_")
        assert welcome["data"]["supportedSubscriptions"] == ["block", "kline", "stats"]

        await ws.send(json.dumps({"type": "subscribe", "channel": "block"}))
        subscribed = await recv(ws)
        assert subscribed["type"] == "subscribed"
        assert subscribed["data"]["channel"] == "block"
        assert subscribed["data"]["totalSubscriptions"] == 1

        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"

        await ws.send(json.dumps({"type": "subscribe", "channel": "trades"}))
        error = await recv(ws)
        assert error["type"] == "error" and "'trades'" in error["data"]["message"]

        await ws.send("{oops")
        assert "not JSON" in (await recv(ws))["data"]["message"]

        await ws.send(json.dumps({"type": "dance"}))
        assert "'dance'" in (await recv(ws))["data"]["message"]

        await ws.send(json.dumps({"type": "getStatus"}))
        status = await recv(ws)
        assert status["data"]["websocket"] == {"connectedClients": 1, "totalSubscriptions": 1}

        await ws.send(json.dumps({"type": "unsubscribe", "channel": "block"}))
        unsubscribed = await recv(ws)
        assert unsubscribed["type"] == "unsubscribed"
        assert unsubscribed["data"]["totalSubscriptions"] == 0


async def test_updates_are_pushed_for_every_new_block(service: Service, ws_url: str) -> None:
    async with connect(f"{ws_url}?token={service.token}") as ws:
        await recv_type(ws, "welcome")
        for channel in ("block", "stats", "kline"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            await recv_type(ws, "subscribed")

        service.chain.advance(3)
        blocks = [await recv_type(ws, "update") for _ in range(3)]
        assert [m["channel"] for m in blocks] == ["block"] * 3
        expected = expected_blocks(service.chain, last=HEAD + 3)[-3:]
        for message, block in zip(blocks, expected, strict=True):
            assert isinstance(message["timestamp"], int)
            assert message["data"] == {
                "blockNumber": block.number,
                "blockHash": block.hash,
                "timestamp": block.timestamp,
                "lastDigit": block.last_digit,
                "isOdd": block.is_odd,
                "pointChange": block.change,
                "cumulativeScore": block.score,
                "witnessAddress": service.chain.spec.witness(block.number),
                "txCount": service.chain.spec.tx_count(block.number),
            }
        kline = await recv_type(ws, "update")
        assert kline["channel"] == "kline"
        assert kline["data"]["kline"]["close"] == expected[-1].score
        stats = await recv_type(ws, "update")
        assert stats["channel"] == "stats"
        assert stats["data"]["currentBlock"]["number"] == HEAD + 3


async def test_unsubscribed_channels_get_nothing(service: Service, ws_url: str) -> None:
    async with connect(f"{ws_url}?token={service.token}") as ws:
        await recv_type(ws, "welcome")
        await ws.send(json.dumps({"type": "subscribe", "channel": "stats"}))
        await recv_type(ws, "subscribed")
        service.chain.advance(1)
        update = await recv_type(ws, "update")
        assert update["channel"] == "stats"  # no "block" update came first
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"  # and none after it either
