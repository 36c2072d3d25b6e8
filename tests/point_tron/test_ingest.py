"""ingest.py: the Poller against the simulator in-process (httpx.ASGITransport)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from point_tron.chain import Block, last_digit
from point_tron.config import Settings
from point_tron.db import Database
from point_tron.errors import SettingsError
from point_tron.ingest import SUBSCRIBER_BUFFER, Poller, StoredBlock
from point_tron.sim import Chain, Faults, build_app
from tests.point_tron.test_ingest_support import (
    Recording,
    expected,
    settings_for,
    stored_rows,
    until_stored,
    wait_until,
)

UTC = ZoneInfo("UTC")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def no_wait(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def sim(height: int = 5000, **faults: int) -> tuple[Chain, Faults, Recording]:
    chain = Chain.new(seed=4, interval_ms=3000, start_height=height, stalled=True)
    fault_state = Faults(**faults)  # type: ignore[arg-type]
    return chain, fault_state, Recording(httpx.ASGITransport(app=build_app(chain, fault_state)))


@asynccontextmanager
async def opened_poller(
    settings: Settings, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[tuple[Database, Poller, MemoryObjectReceiveStream[list[StoredBlock]]]]:
    """A database in the test's folder, a poller on it, and a subscription; all closed after."""
    db = await Database.open(settings.db_path)
    poller = Poller(db, settings, stats_tz=UTC, transport=transport)
    stream = poller.subscribe()
    try:
        yield db, poller, stream
    finally:
        stream.close()
        await db.close()


@pytest.mark.anyio
async def test_fresh_database_starts_at_the_head_then_backfills_in_batches(tmp_path: Path) -> None:
    chain, _, transport = sim()
    async with opened_poller(settings_for(tmp_path), transport) as (db, poller, stream):
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            assert poller.alive
            with pytest.raises(RuntimeError, match="already running"):
                await poller.run()
            first = await until_stored(stream, 5000)
            assert [[s.block.number for s in b] for b in first] == [[5000]]
            chain.advance(250)
            batches = await until_stored(stream, 5250)
            assert [len(b) for b in batches] == [100, 100, 50]
            await poller.stop()
        assert not poller.alive
        limit_calls = [
            body for _, path, body in transport.calls if path == "/wallet/getblockbylimitnext"
        ]
        assert {"startNum": 5001, "endNum": 5101} in limit_calls
        assert "/wallet/getblockbynum" not in transport.paths()
        rows, days = await stored_rows(db)
        scores, want_days = expected(chain.spec, 5000, 5250, UTC)
        assert rows == list(zip(range(5000, 5251), scores, strict=True))
        assert days == want_days
        assert poller.consecutive_errors == 0 and poller.last_success_at is not None
        assert abs(poller.last_success_at - time.time()) < 60


@pytest.mark.anyio
async def test_start_block_backfills_from_there(tmp_path: Path) -> None:
    _, _, transport = sim()
    async with opened_poller(settings_for(tmp_path, START_BLOCK="4790"), transport) as (
        db,
        poller,
        stream,
    ):
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            batches = await until_stored(stream, 5000)
            await poller.stop()
        assert [b[0].block.number for b in batches] == [4790, 4890, 4990]
        rows, _ = await stored_rows(db)
        assert [n for n, _ in rows] == list(range(4790, 5001))


@pytest.mark.anyio
async def test_no_gap_after_the_poller_was_stopped_while_100_blocks_came(tmp_path: Path) -> None:
    chain, _, transport = sim()
    db = await Database.open(tmp_path / "pt.db")
    settings = settings_for(tmp_path)
    try:
        poller = Poller(db, settings, stats_tz=UTC, transport=transport)
        stream = poller.subscribe()
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            chain.advance(10)
            await until_stored(stream, 5010)
            await poller.stop()
        stream.close()
        chain.advance(100)  # produced while nobody was polling
        poller = Poller(db, settings, stats_tz=UTC, transport=transport)
        stream = poller.subscribe()
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5110)
            await poller.stop()
        rows, days = await stored_rows(db)
        scores, want_days = expected(chain.spec, 5000, 5110, UTC)
        assert rows == list(zip(range(5000, 5111), scores, strict=True))
        assert days == want_days
    finally:
        stream.close()
        await db.close()


@pytest.mark.anyio
async def test_holes_in_a_batch_are_fetched_one_by_one(tmp_path: Path) -> None:
    chain, _, transport = sim()
    transport.holes = {5003, 5040}
    async with opened_poller(settings_for(tmp_path, START_BLOCK="5000"), transport) as (
        db,
        poller,
        stream,
    ):
        chain.advance(60)
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5060)
            await poller.stop()
        by_num = [
            body["num"] for _, path, body in transport.calls if path == "/wallet/getblockbynum"
        ]
        assert by_num == [5003, 5040]
        rows, _ = await stored_rows(db)
        assert [n for n, _ in rows] == list(range(5000, 5061))


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["http_error_next", "error_body_next"])
async def test_failed_ticks_count_and_recovery_resets(tmp_path: Path, fault: str) -> None:
    chain, faults, transport = sim()
    db = await Database.open(tmp_path / "pt.db")
    poller = Poller(
        db, settings_for(tmp_path), stats_tz=UTC, transport=transport, retry_sleep=no_wait
    )
    stream = poller.subscribe()
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5000)
            faults.update({fault: 4})
            chain.advance(5)
            await wait_until(lambda: poller.consecutive_errors == 4)
            assert poller.last_error is not None
            assert ("HTTP 503" if fault == "http_error_next" else "node error") in poller.last_error
            assert poller.alive
            await until_stored(stream, 5005)  # the faults are used up: it recovers
            await wait_until(lambda: poller.consecutive_errors == 0)
            assert poller.last_error is None
            await poller.stop()
        rows, _ = await stored_rows(db)
        assert [n for n, _ in rows] == list(range(5000, 5006))
    finally:
        stream.close()
        await db.close()


@pytest.mark.anyio
async def test_a_slow_subscriber_is_dropped_and_ingest_goes_on(tmp_path: Path) -> None:
    chain, _, transport = sim()
    db = await Database.open(tmp_path / "pt.db")
    poller = Poller(
        db, settings_for(tmp_path, START_BLOCK="5000"), stats_tz=UTC, transport=transport
    )
    fast = poller.subscribe()
    slow = poller.subscribe()  # never read while ingest runs
    unsubscribed = poller.subscribe()
    poller.unsubscribe(unsubscribed)
    assert poller.subscriber_count == 2
    target = 5000 + (SUBSCRIBER_BUFFER + 6) * 100
    try:
        chain.advance(target - 5000)
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            batches = await until_stored(fast, target, timeout=50)
            assert poller.subscriber_count == 1  # the slow one was dropped
            await poller.stop()
        numbers = [s.block.number for batch in batches for s in batch]
        assert numbers == list(range(5000, target + 1))
        kept = [batch async for batch in slow]  # what it had buffered, then its end
        assert len(kept) == SUBSCRIBER_BUFFER
        assert kept[0][0].block.number == 5000
    finally:
        fast.close()
        slow.close()
        await db.close()


@pytest.mark.anyio
async def test_pause_resume_and_new_rpc_settings(tmp_path: Path) -> None:
    chain, _, transport = sim()
    async with (
        opened_poller(settings_for(tmp_path), transport) as (_db, poller, stream),
        anyio.create_task_group() as tg,
    ):
        await tg.start(poller.run)
        await until_stored(stream, 5000)
        poller.pause()
        assert not poller.is_active
        calls = len(transport.calls)
        chain.advance(3)
        await anyio.sleep(0.2)  # ten intervals: a paused poller asks nothing
        assert len(transport.calls) == calls
        assert poller.alive and poller.consecutive_errors == 0
        poller.resume()
        await until_stored(stream, 5003)
        with pytest.raises(SettingsError, match="rpcUrl"):
            await poller.apply_rpc_settings(
                url="node:8090", api_key=None, timeout_ms=100, retry_times=1, interval_ms=10
            )
        with pytest.raises(SettingsError, match="retryTimes"):
            await poller.apply_rpc_settings(
                url="http://a", api_key=None, timeout_ms=100, retry_times=0, interval_ms=10
            )
        await poller.apply_rpc_settings(
            url="http://other-node:8090",
            api_key="k",
            timeout_ms=900,
            retry_times=2,
            interval_ms=15,
        )
        assert poller.interval_ms == 15
        chain.advance(1)
        await until_stored(stream, 5004)
        assert transport.calls[-1][0] == "other-node"
        assert poller.rpc_settings.timeout_ms == 900
        await poller.stop()


@pytest.mark.anyio
async def test_stop_abandons_a_slow_fetch_promptly(tmp_path: Path) -> None:
    _, faults, transport = sim()
    async with opened_poller(settings_for(tmp_path, TRON_TIMEOUT="30000"), transport) as (
        _db,
        poller,
        stream,
    ):
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5000)
            calls = len(transport.calls)
            faults.update({"latency_ms": 20_000})
            await wait_until(lambda: len(transport.calls) > calls)  # a fetch is now waiting
            started = time.monotonic()
            with anyio.fail_after(5):
                await poller.stop()
            assert time.monotonic() - started < 2
        assert not poller.alive


@pytest.mark.anyio
async def test_retention_on_the_first_tick_keeps_the_running_score(tmp_path: Path) -> None:
    chain, _, transport = sim()
    db = await Database.open(tmp_path / "pt.db")
    old_ms = int((time.time() - 10 * 86400) * 1000)
    old = []
    for n in range(4900, 4991):
        block_hash = chain.spec.block_id(n)
        digit = last_digit(block_hash)
        old.append(Block(n, block_hash, old_ms + n, "", "", 0, digit, digit % 2 == 1))
    stored = await db.insert_blocks(old, UTC)
    score = stored[-1].cumulative_score
    poller = Poller(
        db, settings_for(tmp_path, RETENTION_DAYS="1"), stats_tz=UTC, transport=transport
    )
    stream = poller.subscribe()
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5000)
            await poller.stop()
        rows, _ = await stored_rows(db)
        assert rows[0] == (4990, score)  # the old rows went, but the last one stays
        scores, _ = expected(chain.spec, 4991, 5000, UTC, score=score)
        assert rows[1:] == list(zip(range(4991, 5001), scores, strict=True))
    finally:
        stream.close()
        await db.close()


@pytest.mark.anyio
async def test_a_longer_branch_is_noticed_by_its_parent_hash_and_rolled_back(
    tmp_path: Path,
) -> None:
    chain, _, transport = sim()
    settings = settings_for(tmp_path, START_BLOCK="4950")
    async with opened_poller(settings, transport) as (db, poller, stream):
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5000)
            fork = chain.reorg(4)  # blocks 4997.. change
            chain.advance(3)  # and the new branch is longer: no height of ours to compare
            await wait_until(lambda: poller.last_reorg is not None)
            assert poller.last_reorg is not None
            assert (poller.last_reorg["forkHeight"], poller.last_reorg["depth"]) == (fork, 4)
            await until_stored(stream, 5003)
            await wait_until(lambda: poller.chain_issue is None)
            await poller.stop()
        rows, days = await stored_rows(db)
        scores, want_days = expected(chain.spec, 4950, 5003, UTC)
        assert rows == list(zip(range(4950, 5004), scores, strict=True))
        assert days == want_days
        hashes = await db.block_hashes(4950, 5003)
        assert all(hashes[n] == chain.spec.block_id(n) for n in range(4950, 5004))


@pytest.mark.anyio
async def test_another_network_is_reported_and_nothing_is_rolled_back(tmp_path: Path) -> None:
    _, _, transport = sim()
    other = Chain.new(seed=99, interval_ms=3000, start_height=5000, stalled=True)
    settings = settings_for(tmp_path, START_BLOCK="4990")
    async with opened_poller(settings, transport) as (db, poller, stream):
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(stream, 5000)
            poller._transport = httpx.ASGITransport(app=build_app(other))
            await poller.apply_rpc_settings(
                url="http://other", api_key=None, timeout_ms=5000, retry_times=1, interval_ms=20
            )
            await wait_until(lambda: poller.chain_issue is not None)
            issue = poller.chain_issue
            assert issue is not None and issue.state == "fork_too_deep"
            assert issue.gap == 11 and "another chain" in issue.reason
            await poller.stop()
        assert poller.last_reorg is None
        rows, _ = await stored_rows(db)
        assert [n for n, _ in rows] == list(range(4990, 5001))  # nothing lost, nothing added
