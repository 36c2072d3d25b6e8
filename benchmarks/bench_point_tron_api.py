"""Point-Tron API latency on a large database: p50/p99 of /api/blocks/stats and /health.

    python -m benchmarks.bench_point_tron_api [--quick] [--blocks N] [--requests N]

Fills a fresh database with N blocks (default 200,000: about a week at 3 s per block, the
newest stamped now), written directly through ``Database.insert_blocks`` in large batches.
Then starts the real ``point-tron`` process on it (uvicorn on 127.0.0.1, following a stalled
``tron-sim`` whose head is the last stored block, so the poller stays idle but alive) and
drives a steady load from a local httpx client. Prints a markdown table; the target is
p99 < 50 ms. Only 127.0.0.1 is contacted, and every process started is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx

from point_tron.chain import Block, last_digit
from point_tron.db import Database
from point_tron.sim import ChainSpec

TARGET_P99_MS = 50.0
SEED = 1
INTERVAL_MS = 3000
BIN = Path(sys.executable).parent
JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123456789"


async def fill(db_path: Path, spec: ChainSpec, count: int) -> float:
    """Store blocks 0..count-1 of ``spec``; seconds taken."""
    started = time.perf_counter()
    db = await Database.open(db_path)
    try:
        batch: list[Block] = []
        for n in range(count):
            block_hash = spec.block_id(n)
            digit = last_digit(block_hash)
            batch.append(
                Block(
                    number=n,
                    hash=block_hash,
                    timestamp_ms=spec.timestamp_ms(n),
                    witness_address=spec.witness(n),
                    parent_hash=spec.block_id(n - 1) if n else "0" * 64,
                    tx_count=spec.tx_count(n),
                    last_digit=digit,
                    is_odd=digit % 2 == 1,
                )
            )
            if len(batch) == 20_000 or n == count - 1:
                await db.insert_blocks(batch, ZoneInfo("UTC"))
                batch = []
    finally:
        await db.close()
    return time.perf_counter() - started


@contextmanager
def process(args: list[str], env: dict[str, str], ready: str) -> Iterator[re.Match[str]]:
    """Start a process, wait (20 s at most) for a stdout line matching ``ready``, stop it after."""
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        seen = []
        for line in proc.stdout:
            seen.append(line.rstrip())
            match = re.search(ready, line)
            if match:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{args[0]} not ready in 20 s: {seen}")
        else:
            raise SystemExit(f"{args[0]} exited ({proc.wait()}): {seen}")
        yield match
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def measure(
    base: str, path: str, requests: int, concurrency: int, headers: dict[str, str]
) -> list[float]:
    """Latencies (ms) of ``requests`` GETs from ``concurrency`` steady workers."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        for _ in range(50):  # warm-up: connections, SQLite page cache
            (await client.get(path)).raise_for_status()
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_point_tron_api")
    parser.add_argument("--blocks", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="300 requests per endpoint")
    parser.add_argument("--requests", type=int, default=None, help="per endpoint (2000)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.requests is None:
        quick = args.quick or os.environ.get("PTM_BENCH_QUICK", "") == "1"
        args.requests = 300 if quick else 2000

    now_ms = int(time.time() * 1000)
    genesis = now_ms - (args.blocks - 1) * INTERVAL_MS
    spec = ChainSpec(seed=SEED, interval_ms=INTERVAL_MS, genesis_ms=genesis)
    with tempfile.TemporaryDirectory(prefix="bench-point-tron-") as tmp:
        db_path = Path(tmp) / "point-tron.db"
        fill_s = anyio.run(fill, db_path, spec, args.blocks)
        sim_args = [
            str(BIN / "tron-sim"),
            *("--port", "0", "--seed", str(SEED), "--block-interval", "3"),
            *("--start-height", str(args.blocks - 1), "--genesis-ms", str(genesis), "--stall"),
        ]
        with process(sim_args, dict(os.environ), r"listening on (http://\S+)") as sim:
            env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
            env.update(
                PORT="0",
                DB_PATH=str(db_path),
                TRON_RPC_URL=sim.group(1),
                JWT_SECRET=JWT_SECRET,
                RETENTION_DAYS="0",
                LOG_LEVEL="INFO",  # the "listening" line is INFO
            )
            with process([str(BIN / "point-tron")], env, r'"message": "listening on ') as up:
                port = json.loads(up.string)["port"]
                base = f"http://127.0.0.1:{port}"
                login = httpx.post(
                    f"{base}/api/auth/login", json={"username": "admin", "password": "admin123"}
                )
                token = login.json()["data"]["token"]
                auth = {"Authorization": f"Bearer {token}"}
                rows = []
                for path in ("/api/blocks/stats", "/health"):
                    lat = anyio.run(measure, base, path, args.requests, args.concurrency, auth)
                    p99 = percentile(lat, 99)
                    rows.append(
                        f"| `{path}` | {len(lat)} | {percentile(lat, 50):.1f} | {p99:.1f} |"
                        f" {statistics.fmean(lat):.1f} | {'yes' if p99 < TARGET_P99_MS else 'NO'} |"
                    )
    print(
        f"\n### Point-Tron API latency ({args.blocks:,} blocks stored in {fill_s:.1f} s;"
        f" {args.concurrency} concurrent clients, keep-alive)\n"
    )
    print(f"| endpoint | requests | p50 ms | p99 ms | mean ms | p99 < {TARGET_P99_MS:.0f} ms |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
