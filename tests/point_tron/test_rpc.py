"""rpc.py: the three calls, retries with backoff (sleep injected), every failure shape."""

from __future__ import annotations

import json

import httpx
import pytest

from point_tron.errors import RpcError
from point_tron.rpc import RpcSettings, TronRpc, backoff_s
from point_tron.sim import Chain, Faults, build_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def scripted(answers: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[dict]]:
    """A transport answering from `answers` in turn; records each request's path and body."""
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            {"path": request.url.path, "body": json.loads(request.content), **request.headers}
        )
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


BLOCK = {
    "blockID": "00000000000003e8" + "ab" * 24,
    "block_header": {
        "raw_data": {
            "number": 1000,
            "timestamp": 1_700_000_000_000,
            "witness_address": "41" + "aa" * 20,
            "parentHash": "00000000000003e7" + "cd" * 24,
        }
    },
}


def test_backoff_is_1_2_4_then_capped_at_5() -> None:
    assert [backoff_s(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


@pytest.mark.anyio
async def test_retries_then_succeeds_waiting_1_then_2_seconds() -> None:
    transport, seen = scripted(
        [
            httpx.Response(503),
            httpx.Response(200, json={"Error": "busy"}),
            httpx.Response(200, json=BLOCK),
        ]
    )
    sleeps = Sleeps()
    async with TronRpc(
        RpcSettings("http://node", retry_times=3), sleep=sleeps, transport=transport
    ) as rpc:
        block = await rpc.get_now_block()
    assert block.number == 1000 and block.last_digit == 8  # ...03e8abab...
    assert sleeps.waits == [1.0, 2.0]
    assert [s["path"] for s in seen] == ["/wallet/getnowblock"] * 3
    assert seen[0]["body"] == {}
    assert seen[0]["content-type"] == "application/json"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(500), "HTTP 500"),
        (httpx.Response(200, json={"Error": "class java.lang.NullPointerException"}), "node error"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "not a JSON object"),
        (httpx.ConnectError("refused"), "ConnectError"),
        (httpx.RemoteProtocolError("Server disconnected"), "RemoteProtocolError"),
        (httpx.ReadTimeout("slow"), "no answer within"),
    ],
)
async def test_every_attempt_failing_raises_rpc_error(
    answer: httpx.Response | Exception, message: str
) -> None:
    transport, seen = scripted([answer] * 4)
    sleeps = Sleeps()
    async with TronRpc(
        RpcSettings("http://node", retry_times=4), sleep=sleeps, transport=transport
    ) as rpc:
        with pytest.raises(RpcError, match=message) as info:
            await rpc.get_now_block()
    assert "after 4 attempt(s)" in str(info.value)
    assert len(seen) == 4
    assert sleeps.waits == [1.0, 2.0, 4.0]


@pytest.mark.anyio
async def test_unparseable_block_is_an_rpc_error_without_retry() -> None:
    transport, seen = scripted([httpx.Response(200, json={"blockID": "ab"})])
    async with TronRpc(RpcSettings("http://node"), sleep=Sleeps(), transport=transport) as rpc:
        with pytest.raises(RpcError, match=r"getnowblock: refused a block: .* 'block_header'"):
            await rpc.get_now_block()
    assert len(seen) == 1


@pytest.mark.anyio
async def test_api_key_header_and_block_by_num() -> None:
    transport, seen = scripted([httpx.Response(200, json=BLOCK), httpx.Response(200, json={})])
    settings = RpcSettings("http://node/", api_key="key-123")
    async with TronRpc(settings, sleep=Sleeps(), transport=transport) as rpc:
        assert (await rpc.get_block_by_num(1000)) is not None
        assert await rpc.get_block_by_num(2000) is None  # the node answers {} for unknown
    assert seen[0]["tron-pro-api-key"] == "key-123"
    assert seen[0]["path"] == "/wallet/getblockbynum"
    assert [s["body"] for s in seen] == [{"num": 1000}, {"num": 2000}]


@pytest.mark.anyio
async def test_block_by_num_checks_the_number() -> None:
    transport, _ = scripted([httpx.Response(200, json=BLOCK)])
    async with TronRpc(RpcSettings("http://node"), sleep=Sleeps(), transport=transport) as rpc:
        with pytest.raises(RpcError, match="answered block 1000"):
            await rpc.get_block_by_num(999)


@pytest.mark.anyio
async def test_against_the_simulator_in_process() -> None:
    chain = Chain.new(seed=7, interval_ms=3000, start_height=5000, initial_blocks=300, stalled=True)
    transport = httpx.ASGITransport(app=build_app(chain))
    async with TronRpc(RpcSettings("http://sim"), sleep=Sleeps(), transport=transport) as rpc:
        head = await rpc.get_now_block()
        assert head.number == 5300
        batch = await rpc.get_blocks_by_limit_next(5250, 5350)  # the node has up to 5300
        assert [b.number for b in batch] == list(range(5250, 5301))
        assert batch[-1] == head
        assert batch[1].parent_hash == batch[0].hash
        assert all(b.hash[:16] == f"{b.number:016x}" for b in batch)
        assert all(b.timestamp_ms == chain.spec.timestamp_ms(b.number) for b in batch)
        assert await rpc.get_block_by_num(5301) is None
        with pytest.raises(ValueError, match=r"1\.\.100"):
            await rpc.get_blocks_by_limit_next(0, 101)


@pytest.mark.anyio
async def test_latency_beyond_the_timeout_fails_each_attempt() -> None:
    chain = Chain.new(stalled=True)
    app = build_app(chain, Faults(latency_ms=2000))
    sleeps = Sleeps()
    settings = RpcSettings("http://sim", timeout_ms=50, retry_times=2)
    async with TronRpc(settings, sleep=sleeps, transport=httpx.ASGITransport(app=app)) as rpc:
        with pytest.raises(RpcError, match="no answer within 50 ms"):
            await rpc.get_now_block()
    assert sleeps.waits == [1.0]
