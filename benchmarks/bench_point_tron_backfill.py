"""Point-Tron back-fill speed: catch up 20,000 blocks from a real tron-sim process.

    python -m benchmarks.bench_point_tron_backfill [--blocks N]

Starts `python -m point_tron.sim` on a free port with N blocks already produced (the head
then stays put: one block an hour), runs Database + Poller in this process with START_BLOCK
at the first of them, and times the catch-up from the first request to the last commit. It
prints a markdown table; the target is at least 2,000 blocks/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio

from point_tron.config import load_settings
from point_tron.db import Database
from point_tron.ingest import Poller

TARGET_BLOCKS_PER_S = 2000
START_HEIGHT = 60_000_000


async def _catch_up(url: str, db_path: Path, first: int, head: int) -> float:
    settings = load_settings(
        {
            "DB_PATH": str(db_path),
            "TRON_RPC_URL": url,
            "START_BLOCK": str(first),
            "RETENTION_DAYS": "0",
            "TRON_POLLING_INTERVAL": "3000",
        }
    )
    db = await Database.open(db_path)
    try:
        poller = Poller(db, settings, stats_tz=ZoneInfo("UTC"))
        with poller.subscribe() as stream:
            async with anyio.create_task_group() as tg:
                started = time.perf_counter()
                await tg.start(poller.run)
                async for batch in stream:
                    if batch[-1].block.number >= head:
                        break
                elapsed = time.perf_counter() - started
                await poller.stop()
        async with db.read.execute("SELECT COUNT(*), MIN(block_number) FROM blocks") as cursor:
            count, low = await cursor.fetchone() or (0, 0)
        if (count, low) != (head - first + 1, first):
            raise SystemExit(f"stored {count} blocks from {low}, expected {head - first + 1}")
        return elapsed
    finally:
        await db.close()


def run(blocks: int) -> tuple[int, float]:
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "point_tron.sim",
            "--port",
            "0",
            "--block-interval",
            "3600",
            "--start-height",
            str(START_HEIGHT),
            "--initial-blocks",
            str(blocks),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        if not line.startswith("tron-sim listening on "):
            raise SystemExit(f"tron-sim did not start: {line!r}")
        url = line.split()[-1]
        head = START_HEIGHT + blocks
        with tempfile.TemporaryDirectory() as tmp:
            elapsed = anyio.run(_catch_up, url, Path(tmp) / "bench.db", head - blocks + 1, head)
        return blocks, elapsed
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        if sim.stdout is not None:
            sim.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20_000)
    args = parser.parse_args(argv)
    blocks, elapsed = run(args.blocks)
    rate = blocks / elapsed
    print("### Point-Tron back-fill (tron-sim over HTTP → Poller → SQLite)\n")
    print("| blocks | seconds | blocks/s | target |")
    print("|---:|---:|---:|---:|")
    verdict = "met" if rate >= TARGET_BLOCKS_PER_S else "MISSED"
    print(f"| {blocks:,} | {elapsed:.2f} | {rate:,.0f} | ≥ {TARGET_BLOCKS_PER_S:,} ({verdict}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
