"""A hostile node: every field of a block is checked, and a bad block is refused, with a reason.

The node is the simulator's chain served over real HTTP, with one block altered. Point-Tron
must store nothing from a batch holding it (heights are never skipped), keep its database
small, and log one short line saying which field was wrong.
"""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from point_tron.db import Database
from point_tron.ingest import Poller
from point_tron.sim import Chain
from tests.point_tron.test_ingest_support import settings_for, wait_until

UTC = ZoneInfo("UTC")
FIRST, BAD, HEAD = 9000, 9001, 9002
TWO_MB = 2 * 1024 * 1024

Mutation = Callable[[dict[str, Any]], None]


def _raw(block: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = block["block_header"]["raw_data"]
    return raw


def _set_raw(key: str, value: Any) -> Mutation:
    def mutate(block: dict[str, Any]) -> None:
        _raw(block)[key] = value

    return mutate


def _set(key: str, value: Any) -> Mutation:
    def mutate(block: dict[str, Any]) -> None:
        block[key] = value

    return mutate


HOSTILE: dict[str, tuple[Mutation, str]] = {
    "2 MB block id": (_set("blockID", "0" * 16 + "ab" * (TWO_MB // 2)), "blockID"),
    "block id not hex": (_set("blockID", "0" * 16 + "zz" * 24), "blockID"),
    "block id of another height": (_set("blockID", f"{BAD + 1:016x}" + "ab" * 24), "blockID"),
    "2 MB witness": (_set_raw("witness_address", "41" + "ab" * (TWO_MB // 2)), "witness_address"),
    "witness not an address": (_set_raw("witness_address", "hello"), "witness_address"),
    "base58 witness with a bad checksum": (
        _set_raw("witness_address", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"),
        "witness_address",
    ),
    "no witness": (lambda block: _raw(block).pop("witness_address"), "witness_address"),
    "2 MB parent hash": (_set_raw("parentHash", "ab" * (TWO_MB // 2)), "parentHash"),
    "timestamp past year 9999": (_set_raw("timestamp", 10**17), "timestamp"),
    "number beyond 64 bits": (_set_raw("number", 2**64), "number"),
    "transactions not a list": (_set("transactions", "x" * TWO_MB), "transactions"),
}


def _hostile_node(chain: Chain, mutate: Mutation) -> Starlette:
    def block(number: int) -> dict[str, Any]:
        data = copy.deepcopy(chain.spec.block(number))
        if number == BAD:
            mutate(data)
        return data

    async def now_block(request: Request) -> JSONResponse:
        return JSONResponse(block(chain.head))

    async def by_num(request: Request) -> JSONResponse:
        number = (await request.json())["num"]
        return JSONResponse(block(number) if FIRST <= number <= chain.head else {})

    async def by_limit_next(request: Request) -> JSONResponse:
        body = await request.json()
        start, end = body["startNum"], min(body["endNum"], chain.head + 1)
        return JSONResponse({"block": [block(n) for n in range(start, end)]})

    return Starlette(
        routes=[
            Route("/wallet/getnowblock", now_block, methods=["POST"]),
            Route("/wallet/getblockbynum", by_num, methods=["POST"]),
            Route("/wallet/getblockbylimitnext", by_limit_next, methods=["POST"]),
        ]
    )


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


@asynccontextmanager
async def _serve(app: Starlette) -> AsyncIterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        await wait_until(lambda: server.started)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
    sock.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _size(db_path: Path) -> int:
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_block_is_refused_with_a_short_logged_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    mutate, field = HOSTILE[case]
    chain = Chain.new(
        seed=3, interval_ms=3000, start_height=FIRST, initial_blocks=HEAD - FIRST, stalled=True
    )
    assert chain.head == HEAD
    db_path = tmp_path / "pt.db"
    db = await Database.open(db_path)
    size_before = _size(db_path)
    caplog.set_level(logging.WARNING, logger="point_tron.ingest")
    try:
        async with _serve(_hostile_node(chain, mutate)) as url:
            settings = settings_for(tmp_path, url, START_BLOCK=str(FIRST))
            poller = Poller(db, settings, stats_tz=UTC)
            async with anyio.create_task_group() as tg:
                await tg.start(poller.run)
                await wait_until(lambda: poller.consecutive_errors >= 2)
                await poller.stop()
        assert (await db.last_stored()).block_number is None  # nothing from the batch
    finally:
        await db.close()
    assert poller.last_error is not None
    assert "refused" in poller.last_error and field in poller.last_error
    assert len(poller.last_error) < 400
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals and all(len(m) < 500 for m in refusals), refusals
    assert _size(db_path) - size_before < 1024 * 1024


@pytest.mark.anyio
async def test_the_same_node_without_the_hostile_block_is_followed(tmp_path: Path) -> None:
    chain = Chain.new(
        seed=3, interval_ms=3000, start_height=FIRST, initial_blocks=HEAD - FIRST, stalled=True
    )
    db = await Database.open(tmp_path / "pt.db")
    try:
        async with _serve(_hostile_node(chain, lambda block: None)) as url:
            poller = Poller(db, settings_for(tmp_path, url, START_BLOCK=str(FIRST)), stats_tz=UTC)
            async with anyio.create_task_group() as tg:
                await tg.start(poller.run)

                stream = poller.subscribe()
                with anyio.fail_after(10):
                    async for batch in stream:
                        if batch[-1].block.number == HEAD:
                            break
                stream.close()
                await poller.stop()
        assert (await db.last_stored()).block_number == HEAD
        assert poller.consecutive_errors == 0
    finally:
        await db.close()
