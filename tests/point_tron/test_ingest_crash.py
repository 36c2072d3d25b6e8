"""SIGKILL in the middle of a catch-up: no duplicate, no gap, the right score and daily stats.

The simulator and the poller (tests/point_tron/ingest_worker.py) run as real processes. The
worker is killed six times while it back-fills, restarted each time, and finally left to
catch up; the database is then checked against the chain recomputed from the seed.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from point_tron.sim import ChainSpec
from tests.point_tron.test_ingest_support import expected

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = 1_000_000
# 2024-03-01 00:00 in Shanghai falls on block START + 1500, so the catch-up spans two days.
MIDNIGHT_MS = 1_709_222_400_000
INTERVAL_MS = 50
GENESIS_MS = MIDNIGHT_MS - (START + 1500) * INTERVAL_MS


class Child:
    """A child process whose stdout lines arrive in a queue (read by a thread)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout: float = 20) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from {self.proc.args[:3]} in {timeout} s") from None
        if line is None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"the child exited ({self.proc.wait()}): {err[-2000:]}")
        return line

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def sim_url() -> Iterator[str]:
    sim = Child(
        [
            sys.executable,
            "-m",
            "point_tron.sim",
            "--port",
            "0",
            "--seed",
            "5",
            "--block-interval",
            str(INTERVAL_MS / 1000),
            "--start-height",
            str(START),
            "--initial-blocks",
            "3000",
            "--genesis-ms",
            str(GENESIS_MS),
        ]
    )
    try:
        line = sim.next_line()
        assert line.startswith("tron-sim listening on "), line
        yield line.split()[-1]
    finally:
        sim.finish()


def start_worker(db_path: Path, url: str) -> Child:
    env = {
        **os.environ,
        "DB_PATH": str(db_path),
        "TRON_RPC_URL": url,
        "TRON_POLLING_INTERVAL": "20",
        "TRON_RETRY_TIMES": "1",
        "START_BLOCK": str(START),
        "STATS_TZ": "Asia/Shanghai",
        "RETENTION_DAYS": "0",
    }
    worker = Child([sys.executable, "-m", "tests.point_tron.ingest_worker"], env=env)
    assert worker.next_line() == "ready"
    return worker


@pytest.mark.slow
def test_sigkill_mid_catch_up_leaves_a_consistent_database(tmp_path: Path, sim_url: str) -> None:
    db_path = tmp_path / "pt.db"
    seen_last = START - 1
    for batches_before_kill in (2, 5, 3, 7, 4, 6):  # six kills at different points
        worker = start_worker(db_path, sim_url)
        try:
            for i in range(batches_before_kill):
                word, first, last, _score = worker.next_line().split()
                assert word == "batch"
                if i == 0:  # a batch committed just before a kill may never have been printed
                    assert int(first) > seen_last
                else:
                    assert int(first) == seen_last + 1
                seen_last = int(last)
            os.kill(worker.proc.pid, signal.SIGKILL)
            assert worker.proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            worker.finish()

    # Freeze the head, let a fresh worker catch up to it, and stop it gracefully.
    state = httpx.post(f"{sim_url}/sim/faults", json={"stall": True}, timeout=10).json()
    head = state["head"]
    worker = start_worker(db_path, sim_url)
    try:
        while True:
            word, _first, last, _score = worker.next_line().split()
            if int(last) >= head:
                break
        os.kill(worker.proc.pid, signal.SIGTERM)
        assert worker.proc.wait(timeout=20) == 0
    finally:
        worker.finish()

    spec = ChainSpec(seed=5, interval_ms=INTERVAL_MS, genesis_ms=GENESIS_MS, max_txs=12)
    scores, days = expected(spec, START, head, SHANGHAI)
    assert len(days) == 2
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        numbers = [r[0] for r in conn.execute("SELECT block_number FROM blocks ORDER BY 1")]
        assert numbers == list(range(START, head + 1))  # every height, none twice
        points = conn.execute(
            "SELECT block_number, cumulative_score FROM block_points ORDER BY 1"
        ).fetchall()
        assert points == list(zip(range(START, head + 1), scores, strict=True))
        stats = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT date, total_blocks, odd_count, even_count FROM daily_stats"
            )
        }
        assert stats == days
        hashes = conn.execute(
            "SELECT block_number, block_hash, timestamp FROM blocks WHERE block_number IN (?, ?)",
            (START, head),
        ).fetchall()
        assert hashes == [
            (START, spec.block_id(START), spec.timestamp_ms(START)),
            (head, spec.block_id(head), spec.timestamp_ms(head)),
        ]
    finally:
        conn.close()
