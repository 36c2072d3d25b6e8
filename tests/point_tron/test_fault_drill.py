"""The SIGUSR2 fault drill of the real ``point-tron`` process (against a real ``tron-sim``):
with POINT_TRON_FAULT_DRILLS=1 it kills the poll loop and /health answers 503; without, the
signal is logged and ignored."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.point_tron.conftest import bin_path, listening_port, point_tron_env, running, tron_sim

pytestmark = pytest.mark.slow


def wait_health(base: str, status_code: int, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{base}/health", timeout=5)
        if response.status_code == status_code:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"/health never answered {status_code}: {response.text}")
        time.sleep(0.05)


def test_sigusr2_kills_the_poll_loop_when_drills_are_on(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "", POINT_TRON_FAULT_DRILLS="1")
    with tron_sim() as rpc_url:
        env["TRON_RPC_URL"] = rpc_url
        with running([bin_path("point-tron")], env) as app:
            base = f"http://127.0.0.1:{listening_port(app)}"
            assert wait_health(base, 200).json()["data"]["status"] == "healthy"
            app.popen.send_signal(signal.SIGUSR2)
            app.wait_for(r"SIGUSR2: fault drill: killing the poll loop")
            body = wait_health(base, 503).json()
            assert body["success"] is False
            assert body["data"]["status"] == "unhealthy"
            assert "the poll loop is not running" in body["error"]
            app.popen.send_signal(signal.SIGUSR2)
            app.wait_for(r"the poll loop is already dead")
            assert httpx.get(f"{base}/health", timeout=5).status_code == 503  # still serving
            assert app.terminate() == 0


def test_sigusr2_is_ignored_without_drills(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "")
    env.pop("POINT_TRON_FAULT_DRILLS", None)
    with tron_sim() as rpc_url:
        env["TRON_RPC_URL"] = rpc_url
        with running([bin_path("point-tron")], env) as app:
            base = f"http://127.0.0.1:{listening_port(app)}"
            wait_health(base, 200)
            app.popen.send_signal(signal.SIGUSR2)
            app.wait_for(r"SIGUSR2 ignored: fault drills are off")
            response = httpx.get(f"{base}/health", timeout=5)
            assert response.status_code == 200
            assert response.json()["data"]["status"] == "healthy"
            assert app.popen.poll() is None
            assert app.terminate() == 0
