"""Issue 5: reload Point-Tron (2 instances, cluster mode) 5 times under continuous requests,
with and without keep-alive: zero failed requests, zero connection errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from supervisor_core import Supervisor, build_app
from tests.helpers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed"
    return found


async def test_five_rolling_reloads_under_load_lose_no_request(tmp_path: Path) -> None:
    sim_port, web_port = free_port(), free_port()
    sim = build_app(
        {
            "name": "tron-sim",
            "script": script("tron-sim"),
            "args": ["--port", str(sim_port), "--block-interval", "0.2", "--seed", "1"],
        },
        base_dir=tmp_path,
    )
    web = build_app(
        {
            "name": "point-tron",
            "script": script("point-tron"),
            "instances": 2,
            "exec_mode": "cluster",
            "wait_ready": True,
            "listen_timeout": "20s",
            "kill_timeout": "10s",
            "listen": {"host": "127.0.0.1", "port": web_port},
            "env": {
                "TRON_RPC_URL": f"http://127.0.0.1:{sim_port}",
                "TRON_POLLING_INTERVAL": "200",
                "DB_PATH": str(tmp_path / "pt.db"),
                "LOG_LEVEL": "WARNING",
            },
        },
        base_dir=tmp_path,
    )
    notices: list[str] = []
    ok = 0
    failures: list[str] = []
    async with Supervisor(ptm_home=tmp_path / "home", on_notice=notices.append) as sup:
        await sup.add(sim)
        await sup.add(web)
        await sup.wait_until(lambda infos: all(i.status == "online" for i in infos), timeout=30)
        first = {i.pid for i in sup.info("point-tron")}
        stop = anyio.Event()

        async def client(number: int, keep_alive: bool) -> None:
            nonlocal ok
            limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)
            async with httpx.AsyncClient(timeout=10, limits=limits) as http:
                while not stop.is_set():
                    try:
                        answer = await http.get(f"http://127.0.0.1:{web_port}/health")
                    except httpx.HTTPError as exc:
                        failures.append(f"client {number}: {exc!r}")
                        continue
                    if answer.status_code == 200:
                        ok += 1
                    else:
                        failures.append(f"client {number}: HTTP {answer.status_code}")

        async with anyio.create_task_group() as tg:
            # Two clients open a connection per request; the third keeps its connection
            # alive (a browser, a proxy's pool) and must be moved off an old instance
            # without a failed request.
            for number in range(3):
                tg.start_soon(client, number, number == 2)
            for _ in range(5):
                infos = await sup.reload("point-tron")
                assert [i.status for i in infos] == ["online", "online"]
            stop.set()
        infos = sup.info("point-tron")
        assert [i.restarts for i in infos] == [5, 5]
        assert not {i.pid for i in infos} & first
    assert failures == [], failures[:5]
    assert ok > 50
    assert not [n for n in notices if "not ready" in n or "SIGKILL" in n], notices
