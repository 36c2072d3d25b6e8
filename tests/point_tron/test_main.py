"""The real ``point-tron`` process against a real ``tron-sim`` process."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.point_tron.conftest import bin_path, listening_port, point_tron_env, running, tron_sim

pytestmark = pytest.mark.slow

# Puts the listening socket on fd 3 and execs, so LISTEN_PID is the server's own pid.
LAUNCHER = (
    "import os, sys\n"
    "fd = int(sys.argv[1])\n"
    "os.dup2(fd, 3)\n"
    "os.close(fd)\n"
    "os.environ['LISTEN_FDS'] = '1'\n"
    "os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def wait_for_blocks(base: str, at_least: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{base}/health", timeout=5)
        data = response.json()["data"]
        if response.status_code == 200 and (data["database"]["totalBlocks"] or 0) >= at_least:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"health never showed {at_least} blocks: {data}")
        time.sleep(0.05)


def test_serves_health_follows_the_chain_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    with (
        tron_sim() as rpc_url,
        running([bin_path("point-tron")], point_tron_env(tmp_path, rpc_url)) as app,
    ):
        port = listening_port(app)
        base = f"http://127.0.0.1:{port}"
        data = wait_for_blocks(base, 3)
        assert data["status"] == "healthy"
        assert data["rpcPolling"] == {"isActive": True, "interval": 100, "consecutiveErrors": 0}
        login = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "admin123"}
        )
        assert login.status_code == 200
        token = login.json()["data"]["token"]
        stats = httpx.get(f"{base}/api/blocks/stats", headers={"Authorization": f"Bearer {token}"})
        assert stats.json()["data"]["currentBlock"]["number"] > 0

        started = time.monotonic()
        assert app.terminate(timeout=5) == 0
        assert time.monotonic() - started < 4
        lines = app.rest()
    for line in lines:
        entry = json.loads(line)  # every line is JSON
        assert {"timestamp", "level", "logger", "message"} <= set(entry)
    messages = [json.loads(line)["message"] for line in lines]
    assert any(m.startswith("created the default admin") for m in messages)
    assert "SIGTERM: shutting down" in messages
    assert messages[-1] == "stopped"
    assert (tmp_path / "data" / "point-tron.db").exists()


def test_serves_on_a_socket_passed_as_fd_3(tmp_path: Path) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = point_tron_env(tmp_path, "http://127.0.0.1:9")  # no node: health is degraded
    env["PORT"] = "1"  # would fail to bind: proves the passed socket is used
    with (
        sock,
        running(
            [sys.executable, "-c", LAUNCHER, str(sock.fileno()), bin_path("point-tron")],
            env,
            pass_fds=(sock.fileno(),),
        ) as app,
    ):
        sock.close()  # only the child holds the listening socket now
        assert listening_port(app) == port
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert response.status_code == 200
        app.popen.send_signal(signal.SIGINT)
        assert app.popen.wait(timeout=5) == 0


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "http://127.0.0.1:9", TRON_POLLING_INTERVAL="soon")
    with running([bin_path("point-tron")], env) as app:
        assert app.popen.wait(timeout=10) == 2
        lines = app.rest()
    assert lines == ["point-tron: TRON_POLLING_INTERVAL='soon': expected a whole number"]


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        env = point_tron_env(tmp_path, "http://127.0.0.1:9", PORT=str(port))
        with running([bin_path("point-tron")], env) as app:
            assert app.popen.wait(timeout=10) == 1
            lines = app.rest()
    assert len(lines) == 1
    assert lines[0].startswith(f"point-tron: cannot listen on 127.0.0.1:{port}: ")


def test_a_second_instance_follows_the_database_the_first_one_fills(tmp_path: Path) -> None:
    """PTM_INSTANCE=1 (what ptm gives a cluster's second instance): no poller of its own, yet
    healthy, and it sees the blocks instance 0 stores in the shared database."""
    with (
        tron_sim() as rpc_url,
        running([bin_path("point-tron")], point_tron_env(tmp_path, rpc_url)) as first,
        running(
            [bin_path("point-tron")],
            point_tron_env(tmp_path, rpc_url, PTM_INSTANCE="1", NODE_APP_INSTANCE="1"),
        ) as second,
    ):
        polling = wait_for_blocks(f"http://127.0.0.1:{listening_port(first)}", 3)
        assert "role" not in polling["rpcPolling"]
        second_port = listening_port(second)
        base = f"http://127.0.0.1:{second_port}"
        seen = wait_for_blocks(base, polling["database"]["totalBlocks"] + 2)
        assert seen["status"] == "healthy"
        assert seen["rpcPolling"]["role"] == "follower"
        # Its WebSocket clients get live blocks too: from the database, not from a poller.
        login = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "admin123"}
        )
        token = login.json()["data"]["token"]
        url = f"ws://127.0.0.1:{second_port}/ws"
        with ws_connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)]) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "channel": "block"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            update = json.loads(ws.recv(timeout=10))
        assert (update["type"], update["channel"]) == ("update", "block"), update
        assert update["data"]["blockNumber"] > seen["database"]["totalBlocks"] // 2
        assert second.terminate(timeout=5) == 0
        assert first.terminate(timeout=5) == 0
        messages = [json.loads(line)["message"] for line in second.rest()]
    assert any(m.startswith("not polling the node (POLLER)") for m in messages)
    assert not any("poll tick" in m for m in messages)
