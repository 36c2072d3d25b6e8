"""Support for the ingest tests (no tests here): settings, transports, the chain's truth."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
from anyio.abc import ObjectReceiveStream

from point_tron.chain import StoredBlock, last_digit
from point_tron.config import Settings, load_settings
from point_tron.db import Database
from point_tron.sim import ChainSpec


def settings_for(tmp_path: Path, url: str = "http://sim", **env: str) -> Settings:
    values = {
        "DB_PATH": str(tmp_path / "pt.db"),
        "TRON_RPC_URL": url,
        "TRON_RETRY_TIMES": "1",
        "TRON_POLLING_INTERVAL": "20",
        "TRON_TIMEOUT": "5000",
        "RETENTION_DAYS": "0",
    }
    values.update(env)
    return load_settings(values)


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to `inner`, noting (host, path, body); can punch holes in batches."""

    def __init__(self, inner: httpx.AsyncBaseTransport, holes: Iterable[int] = ()) -> None:
        self.inner = inner
        self.holes = set(holes)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.calls.append((request.url.host, request.url.path, body))
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/wallet/getblockbylimitnext" or not self.holes:
            return response
        data = json.loads(await response.aread())
        data["block"] = [
            b
            for b in data.get("block", [])
            if b["block_header"]["raw_data"]["number"] not in self.holes
        ]
        return httpx.Response(response.status_code, json=data)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.calls]

    async def aclose(self) -> None:
        await self.inner.aclose()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    """Check `predicate` every few milliseconds until it holds; fail after `timeout`."""
    with anyio.fail_after(timeout):
        while True:
            if predicate():
                return
            await anyio.sleep(0.005)


async def until_stored(
    stream: ObjectReceiveStream[list[StoredBlock]], number: int, timeout: float = 20
) -> list[list[StoredBlock]]:
    """The batches received until one reaches `number` (fails after `timeout`)."""
    batches = []
    with anyio.fail_after(timeout):
        async for batch in stream:
            batches.append(batch)
            if batch[-1].block.number >= number:
                return batches
    raise AssertionError(f"the stream ended before block {number}")


def expected(
    spec: ChainSpec, first: int, last: int, tz: ZoneInfo, score: int = 0
) -> tuple[list[int], dict[str, tuple[int, int, int]]]:
    """Running scores and daily (total, odd, even) for blocks first..last, recomputed."""
    scores = []
    days: dict[str, list[int]] = {}
    for n in range(first, last + 1):
        odd = last_digit(spec.block_id(n)) % 2 == 1
        score += -1 if odd else 1
        scores.append(score)
        day = datetime.fromtimestamp(spec.timestamp_ms(n) / 1000, tz).strftime("%Y-%m-%d")
        counts = days.setdefault(day, [0, 0])
        counts[0 if odd else 1] += 1
    return scores, {d: (o + e, o, e) for d, (o, e) in days.items()}


async def stored_rows(
    db: Database,
) -> tuple[list[tuple[int, int]], dict[str, tuple[int, int, int]]]:
    """(block_number, cumulative_score) in order, and daily_stats, as stored."""
    async with db.read.execute(
        "SELECT b.block_number, p.cumulative_score FROM blocks b"
        " JOIN block_points p USING (block_number) ORDER BY b.block_number"
    ) as cursor:
        rows = [(int(r[0]), int(r[1])) for r in await cursor.fetchall()]
    async with db.read.execute(
        "SELECT date, total_blocks, odd_count, even_count FROM daily_stats"
    ) as cursor:
        days = {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in await cursor.fetchall()}
    return rows, days
