"""Issue 5's health-check test: Point-Tron's poller dies inside a live process, /health goes
503, and ptm (the real daemon) restarts it with reason ``health`` within interval × failures
plus a margin; the new process is healthy again.

Real processes throughout: ``ptm start`` runs the daemon, which runs ``tron-sim`` and
``point-tron``; the poller is killed with Point-Tron's SIGUSR2 fault drill
(``POINT_TRON_FAULT_DRILLS=1``) sent through ``ptm signal``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_core.client import Client
from tests.e2e.conftest import Ptm
from tests.helpers import free_port

pytestmark = pytest.mark.slow

INTERVAL = 0.3
FAILURES = 2
MARGIN = 2.5
"""Seconds beyond interval × failures: the probe itself (a fresh connection each time), the
tick the death falls into, and the polling of this test on a shared 2-core machine."""

Row = dict[str, Any]


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def ecosystem(ptm: Ptm, sim_port: int, port: int) -> Path:
    return ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "tron-sim"
        script = "{bin_path("tron-sim")}"
        args = ["--port", "{sim_port}", "--seed", "1", "--block-interval", "0.2",
                "--initial-blocks", "50"]
        kill_timeout = "3s"

        [[apps]]
        name = "point-tron"
        script = "{bin_path("point-tron")}"
        kill_timeout = "5s"
        log_date_format = ""

        [apps.env]
        PORT = "{port}"
        DB_PATH = "{ptm.cwd / "data" / "point-tron.db"}"
        TRON_RPC_URL = "http://127.0.0.1:{sim_port}"
        TRON_POLLING_INTERVAL = "100"
        TRON_RETRY_TIMES = "1"
        JWT_SECRET = "e2e-secret-e2e-secret-e2e-secret-0123456789"
        POINT_TRON_FAULT_DRILLS = "1"

        [apps.health_check]
        url = "http://127.0.0.1:{port}/health"
        interval = "{int(INTERVAL * 1000)}ms"
        timeout = "1s"
        failures = {FAILURES}
        """,
    )


def point_tron(client: Client) -> Row:
    rows = [row for row in client.processes() if row["name"] == "point-tron"]
    assert len(rows) == 1, rows
    return rows[0]


def wait_row(
    client: Client, ptm: Ptm, predicate: Callable[[Row], bool], timeout: float = 20
) -> tuple[Row, float]:
    """Poll the daemon until Point-Tron's row satisfies ``predicate``; the row and when."""
    deadline = time.monotonic() + timeout
    while True:
        row = point_tron(client)
        if row["pid"]:
            ptm.app_pids.add(row["pid"])
        if predicate(row):
            return row, time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {row}")
        time.sleep(0.02)


def first_503(url: str, timeout: float = 5) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=5)
        if response.status_code == 503:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered 503: {response.text}")
        time.sleep(0.01)


def healthy(row: Row) -> bool:
    health = row["health"]
    return row["status"] == "online" and health is not None and health["ok"] is True


def test_a_dead_poller_gets_point_tron_restarted_for_health(ptm: Ptm) -> None:
    sim_port, port = free_port(), free_port()
    ecosystem(ptm, sim_port, port)
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2, timeout=30)
    with Client(ptm.home, autostart=False) as client:
        first, _ = wait_row(client, ptm, healthy)
        assert first["health"]["detail"] == "HTTP 200" and first["health"]["failures"] == 0
        old_pid = first["pid"]
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert body["data"]["status"] == "healthy"

        killed_at = time.monotonic()
        client.signal("point-tron", "SIGUSR2")
        # Until ptm acts, the live process answers 503: the poll loop is dead.
        response = first_503(f"http://127.0.0.1:{port}/health")
        assert "the poll loop is not running" in response.json()["error"]
        _, seen_at = wait_row(client, ptm, lambda r: r["pid"] != old_pid)
        took = seen_at - killed_at
        assert took <= INTERVAL * FAILURES + MARGIN, f"restarted after {took:.2f} s"

        new, _ = wait_row(client, ptm, lambda r: r["pid"] not in (None, old_pid) and healthy(r))
        assert new["last_restart_reason"] == "health"
        assert new["restarts"] == 1
        runs = client.describe("point-tron")["runs"]
        ended = [run for run in runs if run["pid"] == old_pid]
        assert ended and ended[0]["end_reason"] == "health", runs

    after = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    assert after.status_code == 200 and after.json()["data"]["status"] == "healthy"
    shown = ptm.ok("describe", "point-tron")
    assert "Health (last check)" in shown
    assert "✓ HTTP 200" in shown
    lines = ptm.ok("logs", "point-tron", "--lines", "200", "--nostream")
    assert "SIGUSR2: fault drill: killing the poll loop" in lines
