"""A node that goes back, lags or forks, with real processes: ``point-tron`` following a real
``tron-sim`` that is restarted under it, made to lag, or made to reorganise.

Point-Tron must notice (``/health`` says ``degraded`` with the reason and the gap, one log
line), recover by itself, and end with every block once, each the node's, and the score and
daily statistics exactly what the stored blocks add up to.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from point_tron.chain import last_digit
from point_tron.sim import DEFAULT_START_HEIGHT, ChainSpec
from tests.point_tron.conftest import Proc, bin_path, listening_port, point_tron_env, running

pytestmark = pytest.mark.slow

INTERVAL_S = 0.1  # tron-sim's block interval
POLL_MS = 100  # Point-Tron's polling interval


@contextmanager
def sim(*flags: str, port: int = 0) -> Iterator[tuple[Proc, str]]:
    """A real tron-sim (seed 1) on ``port`` (0: a free one); yields it and its base URL."""
    args = [bin_path("tron-sim"), "--port", str(port), "--seed", "1"]
    args += ["--block-interval", str(INTERVAL_S), *flags]
    with running(args, dict(os.environ)) as proc:
        url = proc.wait_for(r"listening on (http://\S+)").group(1)
        try:
            yield proc, url
        finally:
            assert proc.terminate() == 0


def health(base: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/health", timeout=5)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_health(
    base: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = health(base)
        if check(data):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"/health never showed {what}: {data}")
        time.sleep(0.01)


def stored_head(db_path: Path) -> int | None:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT MAX(block_number) FROM blocks").fetchone()[0]


def wait_stored(db_path: Path, at_least: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        head = stored_head(db_path)
        if head is not None and head >= at_least:
            return head
        if time.monotonic() > deadline:
            raise AssertionError(f"the database never reached block {at_least} (at {head})")
        time.sleep(0.02)


def sim_state(url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{url}/sim/state", timeout=5).json()
    return state


def assert_exact(db_path: Path, spec: ChainSpec, first: int) -> int:
    """Every block first..last once, each the node's; score and daily stats add up. Last."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        blocks = conn.execute(
            "SELECT block_number, block_hash, is_odd FROM blocks ORDER BY block_number"
        ).fetchall()
        points = conn.execute(
            "SELECT block_number, block_hash, point_change, cumulative_score"
            " FROM block_points ORDER BY block_number"
        ).fetchall()
        days = conn.execute(
            "SELECT SUM(total_blocks), SUM(odd_count), SUM(even_count) FROM daily_stats"
        ).fetchone()
    numbers = [row[0] for row in blocks]
    assert numbers == list(range(first, first + len(numbers))), "a block missed or doubled"
    assert [row[0] for row in points] == numbers
    score = 0
    odd = 0
    for (number, block_hash, is_odd), (_, point_hash, change, cumulative) in zip(
        blocks, points, strict=True
    ):
        assert block_hash == point_hash == spec.block_id(number), f"block {number}"
        assert bool(is_odd) == (last_digit(block_hash) % 2 == 1)
        assert change == (-1 if is_odd else 1)
        score += change
        odd += bool(is_odd)
        assert cumulative == score, f"the score at block {number}"
    assert tuple(days) == (len(blocks), odd, len(blocks) - odd), "daily_stats"
    return numbers[-1]


def point_tron(tmp_path: Path, rpc_url: str) -> tuple[dict[str, str], Path]:
    env = point_tron_env(
        tmp_path,
        rpc_url,
        START_BLOCK=str(DEFAULT_START_HEIGHT),
        TRON_POLLING_INTERVAL=str(POLL_MS),
        STATS_TZ="UTC",
        RETENTION_DAYS="0",
    )
    return env, Path(env["DB_PATH"])


def log_lines(app: Proc, pattern: str, timeout: float = 20.0) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(app.wait_for(pattern, timeout).string)
    return entry


def test_simulator_restarted_under_point_tron(tmp_path: Path) -> None:
    """The bug report: tron-sim (no --data-dir) restarts at 60000000, below the database."""
    with ExitStack() as stack:
        sim1, url = stack.enter_context(sim())
        env, db_path = point_tron(tmp_path, url)
        app = stack.enter_context(running([bin_path("point-tron")], env))
        base = f"http://127.0.0.1:{listening_port(app)}"
        wait_stored(db_path, DEFAULT_START_HEIGHT + 30)
        assert health(base)["status"] == "healthy"
        assert sim1.terminate() == 0
        _, url2 = stack.enter_context(sim(port=int(url.rsplit(":", 1)[1])))
        assert url2 == url
        data = wait_health(
            base, lambda d: d.get("chain", {}).get("state") == "behind", "the node behind"
        )
        assert data["status"] == "degraded"
        chain = data["chain"]
        ours = stored_head(db_path)
        assert chain["storedHeight"] == ours
        assert chain["nodeHeight"] < ours and chain["gap"] == ours - chain["nodeHeight"]
        assert "behind" in chain["reason"]
        entry = log_lines(app, r"the node is behind us")
        assert entry["level"] == "WARNING"
        wait_health(base, lambda d: d["status"] == "healthy", "healthy again")
        wait_stored(db_path, ours + 10)
        assert app.terminate() == 0
        lines = app.rest()
    assert sum("the node is behind us" in line for line in lines) == 1, "logged once"
    assert any("the node caught up" in line for line in lines)
    assert_exact(db_path, ChainSpec(seed=1), DEFAULT_START_HEIGHT)


def post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}{path}", json=body, timeout=5)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_a_reorg_of_depth_5_is_rolled_back_and_fetched_again(tmp_path: Path) -> None:
    with sim("--stall", "--initial-blocks", "30") as (_, url):
        head = DEFAULT_START_HEIGHT + 30
        env, db_path = point_tron(tmp_path, url)
        with running([bin_path("point-tron")], env) as app:
            base = f"http://127.0.0.1:{listening_port(app)}"
            wait_stored(db_path, head)
            assert health(base)["status"] == "healthy"
            # slow answers keep the fork visible from the rollback to the next clean tick
            post(url, "/sim/faults", {"latency_ms": 200})
            fork = post(url, "/sim/reorg", {"depth": 5})["forks"][0]
            assert fork == head - 5
            data = wait_health(
                base, lambda d: d.get("chain", {}).get("state") == "fork", "the fork"
            )
            assert data["status"] == "degraded"
            chain = data["chain"]
            assert (chain["gap"], chain["storedHeight"], chain["nodeHeight"]) == (5, head, head)
            assert f"rolled back 5 blocks above the common ancestor {fork}" in chain["reason"]
            assert chain["lastReorg"]["depth"] == 5 and chain["lastReorg"]["forkHeight"] == fork
            entry = log_lines(app, r"the node is on another branch")
            assert entry["level"] == "WARNING"
            wait_health(base, lambda d: d["status"] == "healthy", "healthy again")
            assert "chain" not in health(base)  # the documented healthy shape
            status = httpx.get(
                f"{base}/api/system/status",
                headers={"Authorization": f"Bearer {login(base)}"},
                timeout=5,
            ).json()["data"]
            assert status["rpcPolling"]["chain"]["state"] == "ok"
            assert status["rpcPolling"]["chain"]["lastReorg"]["depth"] == 5
            post(url, "/sim/faults", {"latency_ms": 0, "stall": False})
            wait_stored(db_path, head + 10)
            assert app.terminate() == 0
            lines = app.rest()
    assert sum("the node is on another branch" in line for line in lines) == 1, "logged once"
    assert any("the node is on our chain again" in line for line in lines)
    assert_exact(db_path, ChainSpec(seed=1, forks=(fork,)), DEFAULT_START_HEIGHT)


def login(base: str) -> str:
    response = httpx.post(
        f"{base}/api/auth/login", json={"username": "admin", "password": "admin123"}, timeout=5
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["token"]
    return token


def test_a_lagging_node_is_waited_for_without_busy_polling(tmp_path: Path) -> None:
    with sim("--data-dir", str(tmp_path / "sim")) as (_, url):
        env, db_path = point_tron(tmp_path, url)
        with running([bin_path("point-tron")], env) as app:
            base = f"http://127.0.0.1:{listening_port(app)}"
            wait_stored(db_path, DEFAULT_START_HEIGHT + 20)
            post(url, "/sim/faults", {"stall": True})
            state = sim_state(url)
            wait_stored(db_path, state["head"])
            post(url, "/sim/lag", {"blocks": 25})
            data = wait_health(
                base, lambda d: d.get("chain", {}).get("state") == "behind", "the node behind"
            )
            assert data["status"] == "degraded"
            assert data["chain"]["gap"] == 25
            assert data["chain"]["nodeHeight"] == state["head"] - 25
            # stalled and behind: Point-Tron asks for the head only, less and less often. Five
            # requests at the polling interval take 0.5 s; with the backoff 3.1 s or more.
            requests = sim_state(url)["requests"]
            started = time.monotonic()
            deadline = started + 20
            while sim_state(url)["requests"] < requests + 5:  # /sim/ requests are not counted
                assert time.monotonic() < deadline, "Point-Tron stopped asking for the head"
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            assert elapsed >= 2.0, f"5 head requests in {elapsed:.2f} s while the node was behind"
            assert sum("the node is behind us" in line for line in app.seen) <= 1
            assert stored_head(db_path) == state["head"]  # nothing stored while behind
            post(url, "/sim/faults", {"stall": False})
            wait_health(base, lambda d: d["status"] == "healthy", "healthy again", timeout=30)
            wait_stored(db_path, state["head"] + 5)
            assert app.terminate() == 0
    assert_exact(db_path, ChainSpec(seed=1), DEFAULT_START_HEIGHT)


def test_a_simulator_restarted_with_its_data_dir_and_lag_resumes_the_chain(
    tmp_path: Path,
) -> None:
    data_dir = str(tmp_path / "sim")
    with ExitStack() as stack:
        sim1, url = stack.enter_context(sim("--data-dir", data_dir))
        env, db_path = point_tron(tmp_path, url)
        app = stack.enter_context(running([bin_path("point-tron")], env))
        base = f"http://127.0.0.1:{listening_port(app)}"
        wait_stored(db_path, DEFAULT_START_HEIGHT + 20)
        assert sim1.terminate() == 0
        port = int(url.rsplit(":", 1)[1])
        sim2, _ = stack.enter_context(sim("--data-dir", data_dir, "--lag", "100", port=port))
        assert any("resuming the chain in" in line for line in sim2.seen)
        data = wait_health(
            base, lambda d: d.get("chain", {}).get("state") == "behind", "the node behind"
        )
        assert data["status"] == "degraded" and data["chain"]["gap"] > 0
        wait_health(base, lambda d: d["status"] == "healthy", "healthy again", timeout=30)
        last = wait_stored(db_path, data["chain"]["storedHeight"] + 5)
        assert app.terminate() == 0
        lines = app.rest()
    assert not any("another branch" in line for line in lines)  # the same chain: no rollback
    assert assert_exact(db_path, ChainSpec(seed=1), DEFAULT_START_HEIGHT) >= last
