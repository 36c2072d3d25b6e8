"""The README's main job: ``ptm start examples/ecosystem.toml`` brings up the TRON node
simulator and Point-Tron (2 instances on one shared socket) under the daemon, Point-Tron
follows the chain, and ``ptm reload point-tron`` under steady load loses no request.

The example file is run as shipped, but for its ports (free ones, so the test never meets a
Point-Tron the developer left running) and its pace (blocks every 0.2 s, not 3 s)."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Ptm
from tests.helpers import free_port

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ecosystem.toml"


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"examples/ecosystem.toml no longer has {old!r} once"
    return text.replace(old, new)


def start_example(ptm: Ptm, monkeypatch: pytest.MonkeyPatch) -> str:
    """``ptm start`` of the example with free ports; Point-Tron's base URL once it follows."""
    # As the README says: the venv's bin on PATH, where the apps' console scripts are.
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    sim_port, web_port = free_port(), free_port()
    text = EXAMPLE.read_text()
    text = _edit(text, '"--port", "8090"', f'"--port", "{sim_port}"')
    text = _edit(text, '"--block-interval", "3"', '"--block-interval", "0.2"')
    text = _edit(text, "port = 3000\n", f"port = {web_port}\n")
    text = _edit(text, '"http://127.0.0.1:8090"', f'"http://127.0.0.1:{sim_port}"')
    text = _edit(text, 'TRON_POLLING_INTERVAL = "3000"', 'TRON_POLLING_INTERVAL = "200"')
    (ptm.cwd / "examples").mkdir()
    (ptm.cwd / "examples" / "ecosystem.toml").write_text(text)

    ptm.ok("start", "examples/ecosystem.toml")
    rows = ptm.wait_online(3, timeout=30)
    assert sorted(r["name"] for r in rows) == ["point-tron", "point-tron", "tron-sim"]
    base = f"http://127.0.0.1:{web_port}"
    wait_for_blocks(base, 3)
    return base


def wait_for_blocks(base: str, at_least: int) -> dict[str, Any]:
    """/health's data once it answers 200 with at least ``at_least`` stored blocks."""
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(f"{base}/health", timeout=5)
            data: Any = health.json()["data"]
            if health.status_code == 200 and (data["database"]["totalBlocks"] or 0) >= at_least:
                return dict(data)
        except httpx.TransportError:
            data = "not listening yet"
        assert time.monotonic() < deadline, f"Point-Tron never followed the chain: {data}"
        time.sleep(0.1)


def test_ptm_start_of_the_example_runs_point_tron_against_the_simulator(
    ptm: Ptm, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = start_example(ptm, monkeypatch)
    table = ptm.ok("list")
    assert "point-tron" in table and "tron-sim" in table
    data = wait_for_blocks(base, 3)
    assert data["status"] == "healthy"
    assert httpx.get(f"{base}/login", timeout=5).status_code == 200
    assert (ptm.cwd / "data" / "point-tron.db").is_file()  # cwd = ".." of the file
    # No JWT_SECRET in the example: Point-Tron generated one, kept beside the database.
    secret = ptm.cwd / "data" / "point-tron.db.jwt-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((ptm.cwd / "data" / "point-tron.db").stat().st_mode) == 0o600
    logs = ptm.ok("logs", "point-tron", "--nostream", "--lines", "50")
    assert "listening on http://" in logs
    assert [r["restarts"] for r in ptm.jlist()] == [0, 0, 0]


def test_reload_of_the_example_under_steady_load_loses_no_request(
    ptm: Ptm, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = start_example(ptm, monkeypatch)
    before = {r["pid"] for r in ptm.jlist() if r["name"] == "point-tron"}
    stop = threading.Event()
    lock = threading.Lock()
    answered: list[int] = []
    roles: set[str] = set()
    failures: list[str] = []

    def client(number: int, keep_alive: bool) -> None:
        # One request at a time per client (3 clients): steady, bounded load on 127.0.0.1.
        limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as http:
            while not stop.is_set():
                try:
                    answer = http.get(f"{base}/health")
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"client {number}: {exc!r}")
                    continue
                with lock:
                    if answer.status_code == 200:
                        answered.append(number)
                        roles.add(answer.json()["data"]["rpcPolling"].get("role", "poller"))
                    else:
                        failures.append(f"client {number}: HTTP {answer.status_code}")

    threads = [threading.Thread(target=client, args=(n, n == 2)) for n in range(3)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(answered) < 30:  # the load is on before the reload starts
            assert time.monotonic() < deadline, f"no steady load: {failures[:3]}"
            time.sleep(0.01)
        reloaded = ptm("reload", "point-tron")
        during = len(answered)
        deadline = time.monotonic() + 10
        while len(answered) < during + 30:  # and still on after it
            assert time.monotonic() < deadline, f"no answers after the reload: {failures[:3]}"
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    assert reloaded.returncode == 0, (reloaded.stdout, reloaded.stderr)
    assert failures == [], failures[:5]
    assert len(answered) > 60
    assert roles <= {"poller", "follower"}
    rows = [r for r in ptm.jlist() if r["name"] == "point-tron"]
    assert [r["status"] for r in rows] == ["online", "online"]
    assert [r["restarts"] for r in rows] == [1, 1]
    assert not {r["pid"] for r in rows} & before
    # The new instance 0 polls again: the chain keeps being followed.
    stored = wait_for_blocks(base, 3)["database"]["totalBlocks"]
    wait_for_blocks(base, stored + 5)
    # Instance 1 never polled, before or after the reload; instance 0 always did.
    logs = ptm.ok("logs", "point-tron", "--nostream", "--lines", "1000").splitlines()
    following = [line.split(" |")[0] for line in logs if "not polling the node (POLLER)" in line]
    assert following == ["point-tron:1", "point-tron:1"], following
