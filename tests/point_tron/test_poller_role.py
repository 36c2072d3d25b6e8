"""POLLER: one instance of a cluster polls the node, the others follow the shared database.

Two pollers on one database (a rolling reload overlaps the old and the new instance 0 for a
moment) store every block once, with one running score; a follower never calls the node and
publishes to its WebSocket fan-out exactly the blocks the poller stored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from point_tron.chain import StoredBlock
from point_tron.config import load_settings
from point_tron.db import SCHEMA_VERSION, Database
from point_tron.errors import SettingsError
from point_tron.ingest import Poller
from point_tron.sim import Chain, Faults, build_app
from tests.point_tron.test_db import make_block
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


@pytest.mark.parametrize(
    ("env", "polls"),
    [
        ({}, True),  # not under a supervisor
        ({"PTM_INSTANCE": "0", "NODE_APP_INSTANCE": "0"}, True),
        ({"PTM_INSTANCE": "1", "NODE_APP_INSTANCE": "1"}, False),
        ({"NODE_APP_INSTANCE": "2"}, False),  # PM2
        ({"PTM_INSTANCE": "0", "NODE_APP_INSTANCE": "3"}, True),  # ptm's own name wins
        ({"POLLER": "auto", "PTM_INSTANCE": "1"}, False),
        ({"POLLER": "on", "PTM_INSTANCE": "1"}, True),
        ({"POLLER": "OFF"}, False),
    ],
)
def test_poller_setting_decides_which_instance_polls(env: dict[str, str], polls: bool) -> None:
    assert load_settings(env).polls is polls


def test_a_bad_poller_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"POLLER.*expected one of auto, on, off"):
        load_settings({"POLLER": "sometimes"})


@pytest.mark.anyio
async def test_two_writers_racing_with_overlapping_batches_store_each_block_once(
    tmp_path: Path,
) -> None:
    blocks = [make_block(n, 1_700_000_000_000 + n * 3000, n % 10) for n in range(1, 301)]
    first = await Database.open(tmp_path / "pt.db")
    second = await Database.open(tmp_path / "pt.db")  # another connection, as another process
    try:
        async with anyio.create_task_group() as tg:
            for db in (first, second):
                for start in range(0, 300, 20):  # batches of 30 overlapping by 10
                    tg.start_soon(db.insert_blocks, blocks[start : start + 30], UTC)
        rows, days = await stored_rows(first)
    finally:
        await first.close()
        await second.close()
    assert [n for n, _ in rows] == list(range(1, 301))
    score = 0
    for (_, cumulative), block in zip(rows, blocks, strict=True):
        score += -1 if block.is_odd else 1
        assert cumulative == score
    assert sum(total for total, _, _ in days.values()) == 300


@pytest.mark.anyio
async def test_two_pollers_on_one_database_store_the_chain_once(tmp_path: Path) -> None:
    chain = Chain.new(seed=4, interval_ms=3000, start_height=5000, stalled=True)
    app = build_app(chain, Faults())
    settings = settings_for(tmp_path)
    dbs = [await Database.open(settings.db_path) for _ in range(2)]
    try:
        pollers = [
            Poller(db, settings, stats_tz=UTC, transport=httpx.ASGITransport(app=app)) for db in dbs
        ]
        top = [0]  # the highest block either poller has stored

        async def note(stream: MemoryObjectReceiveStream[list[StoredBlock]]) -> None:
            async with stream:
                async for batch in stream:
                    top[0] = max(top[0], batch[-1].block.number)

        async with anyio.create_task_group() as tg:
            for poller in pollers:
                tg.start_soon(note, poller.subscribe())
                await tg.start(poller.run)
            for height in range(5040, 5440, 40):
                chain.advance(40)
                await wait_until(lambda height=height: top[0] == height, timeout=20)  # type: ignore[misc]
            for poller in pollers:
                await poller.stop()  # ends the subscriptions, so the task group ends
        rows, days = await stored_rows(dbs[0])
        assert [p.consecutive_errors for p in pollers] == [0, 0]
    finally:
        for db in dbs:
            await db.close()
    first = rows[0][0]
    scores, want_days = expected(chain.spec, first, 5400, UTC)
    assert rows == list(zip(range(first, 5401), scores, strict=True))
    assert days == want_days


@pytest.mark.anyio
async def test_a_follower_publishes_what_the_poller_stores_without_calling_the_node(
    tmp_path: Path,
) -> None:
    chain = Chain.new(seed=4, interval_ms=3000, start_height=5000, stalled=True)
    app = build_app(chain, Faults())
    settings = settings_for(tmp_path)
    follower_settings = settings_for(tmp_path, PTM_INSTANCE="1")
    assert settings.polls and not follower_settings.polls
    poller_db = await Database.open(settings.db_path)
    follower_db = await Database.open(settings.db_path)
    follower_transport = Recording(httpx.ASGITransport(app=app))
    try:
        poller = Poller(poller_db, settings, stats_tz=UTC, transport=httpx.ASGITransport(app=app))
        follower = Poller(
            follower_db,
            follower_settings,
            stats_tz=UTC,
            transport=follower_transport,
            polls=follower_settings.polls,
        )
        polled, followed = poller.subscribe(), follower.subscribe()
        async with anyio.create_task_group() as tg:
            await tg.start(poller.run)
            await until_stored(polled, 5000)
            await tg.start(follower.run)
            # Its first tick starts at the last stored block.
            await wait_until(lambda: follower._followed is not None)
            chain.advance(250)
            stored = await until_stored(polled, 5250)
            published = await until_stored(followed, 5250)
            await follower.stop()
            await poller.stop()
        polled.close()
        followed.close()
    finally:
        await poller_db.close()
        await follower_db.close()

    def rows(batches: list[list[StoredBlock]]) -> list[tuple[int, str, int, int]]:
        return [
            (s.block.number, s.block.hash, s.point_change, s.cumulative_score)
            for batch in batches
            for s in batch
        ]

    assert rows(published) == rows(stored)
    assert published[0][0].block.number == 5001
    assert follower_transport.calls == []
    assert follower.alive is False and follower.consecutive_errors == 0


@pytest.mark.anyio
async def test_instances_opening_one_new_database_at_once_all_open_it(tmp_path: Path) -> None:
    """A cluster's instances start together over a fresh file: none may fail with "database
    is locked" (switching to WAL) or apply a migration twice."""
    for attempt in range(40):
        path = tmp_path / str(attempt) / "pt.db"
        opened = await asyncio.gather(
            *(Database.open(path) for _ in range(4)), return_exceptions=True
        )
        dbs = [db for db in opened if isinstance(db, Database)]
        try:
            assert len(dbs) == 4, [repr(e) for e in opened if not isinstance(e, Database)]
            assert {await db.schema_version() for db in dbs} == {SCHEMA_VERSION}
        finally:
            for db in dbs:
                await db.close()
