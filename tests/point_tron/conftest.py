"""Fixtures for Point-Tron's web tests: a real database filled by the real poller.

``service`` opens a real SQLite database in tmp_path, creates the default admin, and runs the
real Poller against the real simulator app (in-process, through httpx.ASGITransport) until
every block from START_BLOCK to the (stalled) head is stored. Tests then talk to the real
Starlette app through ``service.client`` (httpx.ASGITransport) with ``service.auth`` headers.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from point_tron.app import create_app
from point_tron.auth import AuthUser, ensure_default_admin, issue_token
from point_tron.chain import last_digit
from point_tron.config import Settings, load_settings
from point_tron.db import Database
from point_tron.ingest import Poller
from point_tron.sim import Chain, Faults, build_app

START_BLOCK = 1000
HEAD = 1199  # 200 blocks stored, 3 s apart, the newest stamped "now"
JWT_SECRET = "test-secret-test-secret-test-secret-0123456789"
ADMIN = ("admin", "admin123")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "DB_PATH": str(tmp_path / "data" / "point-tron.db"),
        "TRON_RPC_URL": "http://tron-sim.invalid",
        "TRON_POLLING_INTERVAL": "20",
        "TRON_RETRY_TIMES": "1",
        "TRON_TIMEOUT": "2000",
        "START_BLOCK": str(START_BLOCK),
        "JWT_SECRET": JWT_SECRET,
        "STATS_TZ": "UTC",
        "RETENTION_DAYS": "0",
    }
    env.update(extra)
    return env


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0
) -> None:
    """Poll ``condition`` every 10 ms until true; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await anyio.sleep(0.01)


@dataclass
class Service:
    settings: Settings
    db: Database
    poller: Poller
    chain: Chain
    faults: Faults
    app: Starlette
    client: httpx.AsyncClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def stored_head(self) -> int | None:
        return (await self.db.last_stored()).block_number

    async def ingest_to_head(self, timeout: float = 10.0) -> None:
        head = self.chain.head

        async def done() -> bool:
            return await self.stored_head() == head

        await wait_until(done, timeout)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    settings = load_settings(service_env(tmp_path))
    chain = Chain.new(
        seed=1,
        interval_ms=3000,
        start_height=START_BLOCK,
        initial_blocks=HEAD - START_BLOCK,
        stalled=True,
    )
    faults = Faults()
    sim = build_app(chain, faults, fault_seed=1)
    db = await Database.open(settings.db_path)
    try:
        await ensure_default_admin(db, *ADMIN)
        poller = Poller(
            db, settings, stats_tz=settings.stats_tz, transport=httpx.ASGITransport(app=sim)
        )
        app = create_app(settings, db, poller, started_at=time.time())
        token = issue_token(AuthUser(1, ADMIN[0]), JWT_SECRET, 3600)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://point-tron.test") as client,
            anyio.create_task_group() as tg,
        ):
            await tg.start(poller.run)
            svc = Service(settings, db, poller, chain, faults, app, client, token)
            await svc.ingest_to_head()
            try:
                yield svc
            finally:
                await poller.stop()
                tg.cancel_scope.cancel()
    finally:
        await db.close()


@dataclass(frozen=True)
class ExpectedBlock:
    number: int
    hash: str
    timestamp: int
    last_digit: int
    is_odd: bool
    change: int
    score: int


def expected_blocks(
    chain: Chain, first: int = START_BLOCK, last: int = HEAD
) -> list[ExpectedBlock]:
    """What the database must hold for ``first..last``, worked out from the chain itself."""
    out: list[ExpectedBlock] = []
    score = 0
    for n in range(first, last + 1):
        block_hash = chain.spec.block_id(n)
        digit = last_digit(block_hash)
        change = -1 if digit % 2 else 1
        score += change
        out.append(
            ExpectedBlock(
                n, block_hash, chain.spec.timestamp_ms(n), digit, bool(digit % 2), change, score
            )
        )
    return out


# --- real processes (test_main.py, test_browser.py) ----------------------------------
E2E_JWT_SECRET = "e2e-secret-e2e-secret-e2e-secret-0123456789"


def bin_path(name: str) -> str:
    """A console script of this venv (point-tron, tron-sim)."""
    return str(Path(sys.executable).parent / name)


class Proc:
    def __init__(self, args: Sequence[str], env: dict[str, str], **popen: Any) -> None:
        self.popen = subprocess.Popen(
            list(args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **popen,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first line (from now on) matching ``pattern``; fails after ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s: {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"exited ({self.popen.wait()}) before {pattern!r}: {self.seen}"
                )
            self.seen.append(line)
            match = regex.search(line)
            if match:
                return match

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait; SIGKILL after ``timeout`` (and fail the caller's check)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"pid {self.popen.pid} ignored SIGTERM for {timeout}s") from None

    def rest(self) -> list[str]:
        """Every line after the process ended."""
        self._reader.join(timeout=5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)


@contextmanager
def running(args: Sequence[str], env: dict[str, str], **popen: Any) -> Iterator[Proc]:
    proc = Proc(args, env, **popen)
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.popen.wait()
        if proc.popen.stdout is not None:
            proc._reader.join(timeout=5)
            proc.popen.stdout.close()


@contextmanager
def tron_sim(block_interval: float = 0.2, initial_blocks: int = 50) -> Iterator[str]:
    """A real ``tron-sim`` on a free port; yields its base URL."""
    args = [
        bin_path("tron-sim"),
        "--port",
        "0",
        "--seed",
        "1",
        "--block-interval",
        str(block_interval),
        "--initial-blocks",
        str(initial_blocks),
    ]
    with running(args, dict(os.environ)) as sim:
        url = sim.wait_for(r"listening on (http://\S+)").group(1)
        yield url
        assert sim.terminate() == 0


def point_tron_env(tmp_path: Path, rpc_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "PTM_"))}
    env.update(
        {
            "PORT": "0",
            "DB_PATH": str(tmp_path / "data" / "point-tron.db"),
            "TRON_RPC_URL": rpc_url,
            "TRON_POLLING_INTERVAL": "100",
            "TRON_RETRY_TIMES": "1",
            "JWT_SECRET": E2E_JWT_SECRET,
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def listening_port(proc: Proc, timeout: float = 20.0) -> int:
    """Wait for point-tron's JSON "listening" line; its port."""
    line = proc.wait_for(r'"message": "listening on ', timeout).string
    return int(json.loads(line)["port"])
