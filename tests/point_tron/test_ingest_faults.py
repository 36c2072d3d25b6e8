"""The Poller against the simulator over real HTTP: dropped connections and slow answers."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest

from point_tron.db import Database
from point_tron.ingest import Poller
from point_tron.sim import Chain, Faults, serve_sim
from tests.point_tron.test_ingest_support import settings_for, stored_rows, until_stored, wait_until

UTC = ZoneInfo("UTC")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def no_wait(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"drop_next": 3}, "RemoteProtocolError"),  # closed without a response
        ({"latency_ms": 400}, "no answer within 100 ms"),  # slower than TRON_TIMEOUT
        ({"http_error_next": 3, "http_error_status": 500}, "HTTP 500"),
        ({"error_body_next": 3}, "node error"),
    ],
)
async def test_faults_over_http_count_and_recovery_resets(
    tmp_path: Path, fault: dict[str, int], message: str
) -> None:
    chain = Chain.new(seed=11, interval_ms=3000, start_height=9000, stalled=True)
    faults = Faults()
    db = await Database.open(tmp_path / "pt.db")
    async with serve_sim(chain, faults) as url:
        settings = settings_for(tmp_path, url, TRON_TIMEOUT="100", TRON_RETRY_TIMES="1")
        poller = Poller(db, settings, stats_tz=UTC, retry_sleep=no_wait)
        stream = poller.subscribe()
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(poller.run)
                await until_stored(stream, 9000)
                faults.update(fault)
                chain.advance(3)
                await wait_until(lambda: poller.consecutive_errors >= 3)
                assert poller.last_error is not None and message in poller.last_error
                assert poller.alive
                faults.reset()
                await until_stored(stream, 9003)
                await wait_until(lambda: poller.consecutive_errors == 0)
                assert poller.last_error is None
                await poller.stop()
            rows, _ = await stored_rows(db)
            assert [n for n, _ in rows] == [9000, 9001, 9002, 9003]
        finally:
            stream.close()
            await db.close()


@pytest.mark.anyio
async def test_retries_within_a_tick_ride_out_a_short_fault(tmp_path: Path) -> None:
    chain = Chain.new(seed=11, interval_ms=3000, start_height=9000, stalled=True)
    faults = Faults(drop_next=2)
    db = await Database.open(tmp_path / "pt.db")
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with serve_sim(chain, faults) as url:
        settings = settings_for(tmp_path, url, TRON_RETRY_TIMES="3")
        poller = Poller(db, settings, stats_tz=UTC, retry_sleep=record)
        stream = poller.subscribe()
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(poller.run)
                await until_stored(stream, 9000)
                await poller.stop()
            assert waits == [1.0, 2.0]
            assert poller.consecutive_errors == 0
        finally:
            stream.close()
            await db.close()
