"""The /v1 API in-process: a real Supervisor, a real state.db, real children."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from supervisor_core import RunRecord, Supervisor
from supervisor_core._home import Home
from supervisor_core.cli._describe import render_describe
from supervisor_core.daemon._api import create_api
from supervisor_core.daemon._history import HISTORY_INTERVAL, HistoryKeeper
from supervisor_core.daemon._loghub import LogHub
from supervisor_core.daemon._server import ApiServer, PeerCheckedSocket, bind_socket, peer_uid
from supervisor_core.daemon._service import DaemonService
from supervisor_core.store import StateStore
from tests.helpers import eventually, free_port

pytestmark = pytest.mark.anyio

WORKER = """
import os, signal, sys, time
signal.signal(signal.SIGUSR1, lambda *a: print("got usr1", flush=True))
print("hello from", os.environ["PTM_APP_NAME"], os.environ["PTM_INSTANCE"], flush=True)
print("to stderr", file=sys.stderr, flush=True)
while True:
    time.sleep(1)
"""


def write_eco(folder: Path, body: str) -> Path:
    (folder / "worker.py").write_text(WORKER)
    path = folder / "ecosystem.toml"
    path.write_text(textwrap.dedent(body))
    return path


class Harness:
    def __init__(self, client: httpx.AsyncClient, service: DaemonService, home: Home) -> None:
        self.client = client
        self.service = service
        self.home = home

    async def wait_rows(self, predicate, timeout: float = 10.0) -> list[dict]:
        with anyio.fail_after(timeout):
            while True:
                rows = (await self.client.get("/v1/processes")).json()
                if predicate(rows):
                    return rows
                await anyio.sleep(0.02)


@pytest.fixture
async def api(ptm_home: Path) -> AsyncIterator[Harness]:
    """The real API served by uvicorn on the real 0600 Unix socket, as in the daemon."""
    home = Home.from_env()
    assert home.root == ptm_home
    hub = LogHub()
    store = await StateStore.open(home.state_db)
    try:
        service: DaemonService | None = None

        def on_run(app: str, instance: int, run_id: str, record: RunRecord) -> None:
            if service is not None:  # what the daemon wires (daemon/_main.py)
                service.on_run(app, instance, run_id, record)

        history = HistoryKeeper(store)  # fed by the samples, as in the daemon
        async with Supervisor(
            ptm_home=home.root,
            on_output=hub.publish,
            on_run=on_run,
            on_sample=history.on_sample,
            sample_interval=HISTORY_INTERVAL,
        ) as sup:
            service = DaemonService(home, sup, store, history)
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.write_runs)
                sockets: list[socket.socket] = [bind_socket(home.socket)]
                server = ApiServer(
                    uvicorn.Config(
                        create_api(service, hub),
                        lifespan="off",
                        log_level="warning",
                        timeout_graceful_shutdown=1,
                    )
                )
                tg.start_soon(server.serve, sockets)
                await eventually(lambda: server.started)
                transport = httpx.AsyncHTTPTransport(uds=str(home.socket))
                async with httpx.AsyncClient(transport=transport, base_url="http://ptm") as c:
                    yield Harness(c, service, home)
                server.request_exit()
                tg.cancel_scope.cancel()
            for sock in sockets:
                sock.close()
    finally:
        await store.close()


async def test_start_list_describe_restart_stop_delete(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "worker"
        script = "worker.py"
        instances = 2
        kill_timeout = "2s"
        log_date_format = ""
        """,
    )
    answer = await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["started"] == ["worker"] and body["restarted"] == []
    rows = body["processes"]
    assert [(r["id"], r["name"], r["instance"], r["status"]) for r in rows] == [
        (0, "worker", 0, "online"),
        (1, "worker", 1, "online"),  # each process has its own id
    ]
    expected_keys = {
        "id", "pm_id", "name", "instance", "pid", "status", "restarts", "unstable_restarts",
        "uptime_s", "started_at", "cpu_percent", "memory_bytes", "exit_code", "exec_mode",
        "out_file", "error_file", "last_restart_reason", "desired", "health",
    }  # fmt: skip
    assert set(rows[0]) == expected_keys
    assert rows[0]["started_at"].endswith("Z")
    assert rows[0]["out_file"] == str(api.home.logs / "worker-out.log")

    answer = await api.client.post("/v1/processes/worker/restart")
    rows = answer.json()["processes"]
    assert [(r["restarts"], r["last_restart_reason"]) for r in rows] == [(1, "manual")] * 2

    # A second start of the same file restarts it with new settings (startOrRestart).
    eco.write_text(eco.read_text().replace("instances = 2", "instances = 1"))
    body = (await api.client.post("/v1/processes", json={"ecosystem": str(eco)})).json()
    assert body["restarted"] == ["worker"] and len(body["processes"]) == 1
    assert body["processes"][0]["restarts"] == 2

    described = (await api.client.get("/v1/processes/worker")).json()
    assert described["source"] == str(eco)
    assert described["spec"]["kill_timeout_s"] == 2.0
    assert described["env"] == {}
    ends = [r["end_reason"] for r in described["runs"] if r["ended_at"]]
    assert "manual" in ends

    by_id = (await api.client.post("/v1/processes/0/stop")).json()["processes"]
    assert [r["status"] for r in by_id] == ["stopped"]
    assert by_id[0]["desired"] == "stopped"
    deleted = (await api.client.delete("/v1/processes/worker")).json()
    assert deleted == {"deleted": ["worker"], "ids": [0]}
    assert (await api.client.get("/v1/processes")).json() == []


def write_every_setting(folder: Path, port: int) -> Path:
    """An app that sets watch, cron_restart, health_check and listen (and more)."""
    (folder / "src").mkdir()
    return write_eco(
        folder,
        f"""
        [[apps]]
        name = "web"
        script = "worker.py"
        exec_mode = "cluster"
        instances = 2
        cron_restart = "0 3 * * *"
        watch = ["src"]
        ignore_watch = ["*.pyc", "__pycache__"]
        listen_timeout = "4s"
        restart_delay = "250ms"

        [apps.listen]
        host = "127.0.0.1"
        port = {port}

        [apps.health_check]
        url = "http://127.0.0.1:{port}/health"
        interval = "1m"
        timeout = "3s"
        failures = 4
        """,
    )


async def test_describe_shows_every_setting(api: Harness, tmp_path: Path) -> None:
    port = free_port()
    eco = write_every_setting(tmp_path, port)
    answer = await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    assert answer.status_code == 200, answer.text
    described = (await api.client.get("/v1/processes/web")).json()
    spec = described["spec"]
    assert spec["exec_mode"] == "cluster" and spec["instances"] == 2
    assert spec["cron_restart"] == "0 3 * * *"
    assert spec["watch"] == [str(tmp_path / "src")]
    assert spec["ignore_watch"] == ["*.pyc", "__pycache__"]
    assert spec["listen"] == {"host": "127.0.0.1", "port": port}
    assert spec["health_check"] == {
        "url": f"http://127.0.0.1:{port}/health",
        "interval_s": 60.0,
        "timeout_s": 3.0,
        "failures": 4,
    }
    assert spec["wait_ready"] is False and spec["listen_timeout_s"] == 4.0
    assert spec["restart_delay_s"] == 0.25 and spec["backoff_cap_s"] == 15.0
    assert spec["autostart"] is True
    assert json.loads(json.dumps(spec)) == spec

    # ptm describe shows each of them under the file's key, in the file's units.
    text = render_describe(described, color=False)
    lines = text.splitlines()
    start = lines.index("Config")
    end = lines.index("Environment")
    config = dict(line.strip().split(None, 1) for line in lines[start + 1 : end] if line)
    assert config["exec_mode"] == "cluster"
    assert config["cron_restart"] == "0 3 * * *"
    assert config["watch"] == str(tmp_path / "src")
    assert config["ignore_watch"] == "*.pyc, __pycache__"
    assert config["listen"] == f"127.0.0.1:{port}"
    assert config["health_check"] == (
        f"http://127.0.0.1:{port}/health, every 1m, timeout 3s, restart after 4 failures"
    )
    assert config["wait_ready"] == "false"
    assert config["listen_timeout"] == "4s"
    assert config["restart_delay"] == "250ms"
    assert config["backoff_cap"] == "15s"
    assert config["autostart"] == "true"
    assert not any(key.endswith("_s") for key in config)  # every key has the file's name


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("POST", "/v1/processes", b"{not json", 400, "bad_request"),
        ("POST", "/v1/processes", b"[1, 2]", 400, "bad_request"),
        ("POST", "/v1/processes", b"{}", 400, "bad_request"),
        ("POST", "/v1/processes", b'{"ecosystem": 3}', 400, "bad_request"),
        ("POST", "/v1/processes", b'{"ecosystem": "/nonexistent/e.toml"}', 400, "config"),
        # found by trying: 500s (a NUL, a lone surrogate), a relative path read from PTM_HOME,
        # and an env no program can be started with (the app crash-looped, never saying why)
        ("POST", "/v1/processes", b'{"ecosystem": "/tmp/e\\u0000.toml"}', 400, "bad_request"),
        ("POST", "/v1/processes", b'{"ecosystem": "/tmp/\\ud800.toml"}', 400, "bad_request"),
        ("POST", "/v1/processes", b'{"ecosystem": "e.toml"}', 400, "bad_request"),
        (
            "POST",
            "/v1/processes",
            b'{"app": {"name": "x", "script": "/bin/true"}, "base_dir": "."}',
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/processes",
            b'{"app": {"name": "x", "script": "/bin/true", "env": '
            b'{"A": "\\udbff"}}, "base_dir": "/"}',
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/processes",
            b'{"ecosystem": "/nonexistent/e.toml", "caller_env": {"A": "\\ud800"}}',
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/processes/ghost/restart",
            b'{"caller_env": {"\\ud800": "x"}}',
            400,
            "bad_request",
        ),
        ("POST", "/v1/processes/ghost/stop", b"", 404, "unknown_app"),
        ("POST", "/v1/processes/all/stop", b"", 404, "unknown_app"),
        ("POST", "/v1/processes/7/restart", b"", 404, "unknown_app"),
        ("GET", "/v1/processes/ghost", b"", 404, "unknown_app"),
        ("GET", "/v1/nothing", b"", 404, "not_found"),
        ("GET", "/v1/logs?lines=abc", b"", 400, "bad_request"),
        ("GET", "/v1/logs?stream=sideways", b"", 400, "bad_request"),
        ("POST", "/v1/save", b'{"force": "yes"}', 400, "bad_request"),
        ("POST", "/v1/resurrect", b"", 409, "state"),
    ],
)
async def test_bad_requests_get_4xx_with_a_message(
    api: Harness, method: str, path: str, body: bytes, status: int, kind: str
) -> None:
    answer = await api.client.request(method, path, content=body)
    assert answer.status_code == status, answer.text
    data = answer.json()
    assert data["kind"] == kind
    assert data["error"] and "\n" not in data["error"]
    # and the daemon is still fine
    assert (await api.client.get("/v1/info")).status_code == 200


async def test_config_error_names_file_key_and_value(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path, '[[apps]]\nname = "w"\nscript = "worker.py"\nmax_memory_restar = "1G"\n'
    )
    answer = await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert str(eco) in message and "max_memory_restar" in message and "did you mean" in message
    assert (await api.client.get("/v1/processes")).json() == []


async def test_start_one_script_scale_signal_reset(api: Harness, tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    answer = await api.client.post(
        "/v1/processes",
        json={"app": {"name": "solo", "script": "worker.py"}, "base_dir": str(tmp_path)},
    )
    assert answer.status_code == 200, answer.text
    rows = (await api.client.post("/v1/processes/solo/scale", json={"instances": 3})).json()
    assert [r["instance"] for r in rows["processes"]] == [0, 1, 2]
    bad = await api.client.post("/v1/processes/solo/scale", json={"instances": "x"})
    assert bad.status_code == 400
    for body in ({}, {"instances": 2, "change": 1}):  # one of the two, not none, not both
        bad = await api.client.post("/v1/processes/solo/scale", json=body)
        assert (bad.status_code, bad.json()["kind"]) == (400, "bad_request")
    rows = (await api.client.post("/v1/processes/solo/scale", json={"change": 1})).json()
    assert [r["instance"] for r in rows["processes"]] == [0, 1, 2, 3]
    rows = (await api.client.post("/v1/processes/solo/scale", json={"change": -1})).json()
    assert [r["instance"] for r in rows["processes"]] == [0, 1, 2]
    sent = (await api.client.post("/v1/processes/solo/signal", json={"signal": "USR1"})).json()
    assert len(sent["signalled"]) == 3
    bad = await api.client.post("/v1/processes/solo/signal", json={"signal": "SIGNOPE"})
    assert bad.status_code == 400 and "SIGNOPE" in bad.json()["error"]
    # docs/api.md: a bad signal name is a malformed request, not a bad ecosystem file
    assert bad.json()["kind"] == "bad_request"
    await api.client.post("/v1/processes/solo/restart")
    rows = (await api.client.post("/v1/processes/solo/reset")).json()["processes"]
    assert all(r["restarts"] == 0 for r in rows)
    described = (await api.client.get("/v1/processes/solo")).json()
    assert described["source"] is None and described["spec"]["instances"] == 3


async def test_logs_tail_follow_and_flush(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path,
        '[[apps]]\nname = "talk"\nscript = "worker.py"\nlog_date_format = ""\n',
    )
    await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    out = api.home.logs / "talk-out.log"
    await eventually(lambda: out.exists() and b"hello from" in out.read_bytes())
    lines = (await api.client.get("/v1/logs", params={"app": "talk", "lines": 5})).json()["lines"]
    assert {"app": "talk", "instance": 0, "stream": "out", "line": "hello from talk 0"} in lines
    assert any(x["stream"] == "err" and x["line"] == "to stderr" for x in lines)
    only_err = (await api.client.get("/v1/logs", params={"stream": "err"})).json()["lines"]
    assert {x["stream"] for x in only_err} == {"err"}

    got: list[dict] = []
    async with api.client.stream("GET", "/v1/logs/follow", params={"app": "talk"}) as stream:
        await api.client.post("/v1/processes/talk/signal", json={"signal": "SIGUSR1"})
        with anyio.fail_after(10):
            async for line in stream.aiter_lines():
                got.append(json.loads(line))
                if got[-1]["line"] == "got usr1":
                    break
    assert got[-1] == {"app": "talk", "instance": 0, "stream": "out", "line": "got usr1"}

    flushed = (await api.client.post("/v1/logs/flush", json={"app": "talk"})).json()["flushed"]
    assert str(out) in flushed
    assert out.read_bytes() == b""
    assert (await api.client.post("/v1/logs/reload")).json() == {"reopened": True}


async def test_events_stream(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(tmp_path, '[[apps]]\nname = "ev"\nscript = "worker.py"\n')
    seen: list[dict] = []
    async with api.client.stream("GET", "/v1/events") as stream:
        await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
        with anyio.fail_after(10):
            async for line in stream.aiter_lines():
                seen.append(json.loads(line))
                if seen[-1]["status"] == "online":
                    break
    assert [e["status"] for e in seen] == ["launching", "online"]
    assert seen[-1]["app"] == "ev" and isinstance(seen[-1]["pid"], int)


async def test_save_and_resurrect(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "a"
        script = "worker.py"

        [[apps]]
        name = "b"
        script = "worker.py"
        """,
    )
    await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    await api.client.post("/v1/processes/b/stop")
    saved = (await api.client.post("/v1/save")).json()
    assert saved == {"path": str(api.home.dump), "apps": 2, "notify": 0}
    # resurrect skips what runs, and a stopped app stays stopped
    await api.client.delete("/v1/processes/b")
    result = (await api.client.post("/v1/resurrect")).json()
    assert result == {"started": ["b"], "skipped": ["a"]}
    rows = (await api.client.get("/v1/processes")).json()
    assert sorted((r["name"], r["status"]) for r in rows) == [("a", "online"), ("b", "stopped")]
    # never replace a good dump with an empty one by accident
    await api.client.delete("/v1/processes/all")
    refused = await api.client.post("/v1/save")
    assert refused.status_code == 409 and refused.json()["kind"] == "state"
    forced = await api.client.post("/v1/save", json={"force": True})
    assert forced.status_code == 200 and forced.json()["apps"] == 0
    # docs/state.md: the empty list (apps = []) resurrects to nothing, not to an error
    empty = await api.client.post("/v1/resurrect")
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"started": [], "skipped": []}


async def test_the_socket_is_0600(api: Harness) -> None:
    assert stat.S_IMODE(api.home.socket.stat().st_mode) == 0o600
    assert (await api.client.get("/v1/info")).status_code == 200


async def test_the_date_header_is_current_on_a_kept_alive_connection(api: Harness) -> None:
    """The server has no timer refreshing its Date header: a request refreshes it, so the
    second answer on the same connection, a second later, carries the new date."""
    from email.utils import parsedate_to_datetime

    first = await api.client.get("/v1/info")
    first_date = parsedate_to_datetime(first.headers["date"]).timestamp()
    assert abs(first_date - time.time()) < 2
    await anyio.sleep(max(first_date + 1 - time.time(), 0) + 0.05)  # into the next second
    before = int(time.time())
    assert before > first_date
    second = await api.client.get("/v1/info")
    after = time.time()
    assert second.extensions["network_stream"] is first.extensions["network_stream"]
    assert [k for k, _ in second.headers.multi_items()].count("date") == 1
    second_date = parsedate_to_datetime(second.headers["date"]).timestamp()
    assert before <= second_date <= after


def test_a_peer_of_another_uid_is_refused_at_accept() -> None:
    """SO_PEERCRED: even with the file mode opened, another user's connection is closed
    before a byte is read, and the owner's next connection is served."""
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another uid")
    folder = Path(tempfile.mkdtemp(prefix="ptm-peer-"))
    try:
        folder.chmod(0o755)
        path = folder / "peer.sock"
        sock = bind_socket(path)
        sock.setblocking(True)
        path.chmod(0o666)
        before = PeerCheckedSocket.refused
        code = (
            "import os, socket, sys; os.setgid(65534); os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "try:\n    s.sendall(b'hello'); print(repr(s.recv(100)))\n"
            "except (BrokenPipeError, ConnectionResetError):\n    print('reset')\n"
        )
        stranger = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        owner = socket.socket(socket.AF_UNIX)
        try:
            accepted: list[socket.socket] = []

            def accept() -> None:
                accepted.append(sock.accept()[0])

            thread = threading.Thread(target=accept, daemon=True)
            thread.start()
            out, err = stranger.communicate(timeout=10)
            assert out.strip() in ("b''", "reset"), err  # closed without an answer
            owner.connect(str(path))
            thread.join(timeout=10)
            assert len(accepted) == 1
            assert peer_uid(accepted[0]) == os.getuid()
            assert PeerCheckedSocket.refused == before + 1
            accepted[0].close()
        finally:
            owner.close()
            sock.close()
            if stranger.poll() is None:
                stranger.kill()
                stranger.wait()
    finally:
        shutil.rmtree(folder)


async def test_save_keeps_the_alerts_and_resurrect_brings_them_back(
    api: Harness, tmp_path: Path
) -> None:
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "a"
        script = "worker.py"

        [[apps]]
        name = "b"
        script = "worker.py"

        [[notify]]
        events = ["crash", "errored"]
        webhook = "http://127.0.0.1:9/alerts"

        [[notify]]
        events = ["memory"]
        apps = ["b"]
        command = ["true"]
        """,
    )
    await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    saved = (await api.client.post("/v1/save")).json()
    assert saved["notify"] == 2
    from supervisor_core import load_ecosystem

    dumped = load_ecosystem(api.home.dump)
    assert sorted((sorted(n.apps or ()), n.webhook, n.command) for n in dumped.notify) == [
        (["a", "b"], "http://127.0.0.1:9/alerts", None),
        (["b"], None, ("true",)),
    ]
    # After a loss of state: resurrect registers the dump's alerts, once.
    await api.client.delete("/v1/processes/all")
    await api.client.post("/v1/resurrect")
    kept = await api.service.store.notify_entries()
    assert list(kept) == [str(api.home.dump)]
    assert len(json.loads(kept[str(api.home.dump)])) == 2


async def test_an_app_that_cannot_start_is_neither_listed_nor_stored(
    api: Harness, tmp_path: Path
) -> None:
    """A cluster app whose port is taken: 409, and the daemon stays whole (no half-registered
    app that would break every listing or the next daemon's start)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        eco = write_eco(
            tmp_path,
            f"""
            [[apps]]
            name = "web"
            script = "worker.py"
            exec_mode = "cluster"

            [apps.listen]
            port = {port}
            """,
        )
        answer = await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    assert answer.status_code == 409
    assert f"cannot listen on 127.0.0.1:{port}" in answer.json()["error"]
    assert (await api.client.get("/v1/processes")).json() == []
    assert await api.service.store.apps() == []
    assert (await api.client.get("/v1/info")).json()["processes"] == 0


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ({"name": "nul", "script": "worker.py", "args": ["1\u00000"]}, "NUL"),
        ({"name": "many", "script": "worker.py", "instances": 10**11}, "at most 1024"),
    ],
)
async def test_bad_app_tables_are_400_config(
    api: Harness, tmp_path: Path, app: dict, message: str
) -> None:
    write_eco(tmp_path, "")
    answer = await api.client.post("/v1/processes", json={"app": app, "base_dir": str(tmp_path)})
    assert answer.status_code == 400 and answer.json()["kind"] == "config"
    assert message in answer.json()["error"]
    assert (await api.client.get("/v1/processes")).json() == []


async def test_scale_beyond_the_instance_limit_is_refused_and_changes_nothing(
    api: Harness, tmp_path: Path
) -> None:
    """The file's limit (1024 instances) holds on the API too: an app scaled past it was
    accepted, then lost at the daemon's next start and made the whole dump unreadable."""
    (tmp_path / "worker.py").write_text(WORKER)
    await api.client.post(
        "/v1/processes",
        json={"app": {"name": "sl", "script": "worker.py"}, "base_dir": str(tmp_path)},
    )
    for count in (1100, 0, -3):
        answer = await api.client.post("/v1/processes/sl/scale", json={"instances": count})
        assert answer.status_code == 409, answer.text
        assert f"cannot scale 'sl' to {count}" in answer.json()["error"]
    assert len((await api.client.get("/v1/processes")).json()) == 1
    (stored,) = await api.service.store.apps()
    assert "instances" not in stored.entry


async def test_a_body_over_the_limit_is_413_without_being_read(api: Harness) -> None:
    """100 MB were accepted (the daemon's RSS peaked at 916 MB); a body is at most 1 MiB."""
    from supervisor_core.daemon._api import MAX_BODY

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * (1 << 20)

    declared = await api.client.post(
        "/v1/processes", content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json() == {
        "error": f"the request body is over {MAX_BODY} bytes",
        "kind": "too_large",
    }
    # Without a Content-Length (chunked): refused as soon as the limit is passed.
    try:
        streamed = await api.client.post("/v1/processes", content=chunks())
    except httpx.TransportError:
        pass  # the daemon answered and closed while the client was still sending
    else:
        assert streamed.status_code == 413
    assert (await api.client.get("/v1/processes")).status_code == 200  # still serving


async def test_deeply_nested_json_is_400_not_500(api: Harness) -> None:
    for depth in (100_000, 40):
        body = '{"app": ' + "[" * depth + "]" * depth + ', "base_dir": "/"}'
        answer = await api.client.post("/v1/processes", content=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["kind"] == "bad_request"
        assert "nests deeper than 32 levels" in answer.json()["error"]


async def test_metrics_in_prometheus_format(api: Harness, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    (tmp_path / "worker.py").write_text(WORKER)
    await api.client.post(
        "/v1/processes",
        json={
            "app": {"name": "m", "script": "worker.py", "instances": 2},
            "base_dir": str(tmp_path),
        },
    )
    await api.wait_rows(lambda rows: all(r["status"] == "online" for r in rows))
    await api.client.post("/v1/processes/m/restart")
    rows = await api.wait_rows(
        lambda rows: all(r["status"] == "online" and r["memory_bytes"] for r in rows)
    )
    answer = await api.client.get("/v1/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    by = {
        name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for name, family in families.items()
    }
    labels0 = (("app", "m"), ("id", str(rows[0]["id"])), ("instance", "0"))
    assert by["ptm_process_up"][labels0] == 1.0
    labels1 = (("app", "m"), ("id", str(rows[1]["id"])), ("instance", "1"))
    assert rows[0]["id"] != rows[1]["id"]  # each process is labelled with its own id
    assert by["ptm_process_resident_memory_bytes"][labels1] > 0
    assert by["ptm_process_status"][(*labels0[:2], ("instance", "0"), ("status", "online"))] == 1.0
    assert (
        by["ptm_process_restarts"][(*labels0[:2], ("instance", "0"), ("reason", "manual"))] == 1.0
    )
    assert "ptm_process_cpu_seconds_total" in {
        s.name for s in families["ptm_process_cpu_seconds"].samples
    }
    assert by["ptm_apps"][()] == 1.0
    assert by["ptm_processes"][()] == 2.0
    assert "ptm_log_bytes_written" in families and "ptm_log_lines_dropped" in families


SHOW_ENV = """
import os, time
print("FOO=" + os.environ.get("FOO", "-"), "DAEMON=" + os.environ.get("PTM_TEST_DAEMON", "-"),
      flush=True)
while True:
    time.sleep(1)
"""


async def _foo_lines(api: Harness, count: int) -> list[str]:
    log = api.home.logs / "show-out.log"
    with anyio.fail_after(10):
        while True:
            lines = [
                line.split("FOO=", 1)[1]
                for line in (log.read_text().splitlines() if log.exists() else [])
                if "FOO=" in line
            ]
            if len(lines) >= count:
                return lines
            await anyio.sleep(0.02)


async def test_apps_inherit_the_caller_env_which_is_kept_until_update_env(
    api: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTM_TEST_DAEMON", "daemon-only")  # the daemon's own: not inherited
    (tmp_path / "show.py").write_text(SHOW_ENV)
    caller = {"PATH": os.environ["PATH"], "FOO": "bar"}
    entry = {"name": "show", "script": "show.py", "log_date_format": ""}
    body = {"app": entry, "base_dir": str(tmp_path), "caller_env": caller}
    answer = await api.client.post("/v1/processes", json=body)
    assert answer.status_code == 200, answer.text
    assert await _foo_lines(api, 1) == ["bar DAEMON=-"]
    stored = {app.name: app for app in await api.service.store.apps()}
    assert stored["show"].caller_env == caller
    spec = (await api.client.get("/v1/processes/show")).json()["spec"]
    assert spec["inherit_env"] == ["FOO", "PATH"]

    # Started again with the same name: the settings are new, the environment is kept...
    again = {**body, "caller_env": {**caller, "FOO": "other"}}
    assert (await api.client.post("/v1/processes", json=again)).status_code == 200
    assert (await _foo_lines(api, 2))[1] == "bar DAEMON=-"
    # ...unless update_env.
    again["update_env"] = True
    assert (await api.client.post("/v1/processes", json=again)).status_code == 200
    assert (await _foo_lines(api, 3))[2] == "other DAEMON=-"
    # restart: kept without caller_env, replaced with it.
    assert (await api.client.post("/v1/processes/show/restart")).status_code == 200
    assert (await _foo_lines(api, 4))[3] == "other DAEMON=-"
    newer = {"caller_env": {**caller, "FOO": "newer"}}
    assert (await api.client.post("/v1/processes/show/restart", json=newer)).status_code == 200
    assert (await _foo_lines(api, 5))[4] == "newer DAEMON=-"
    stored = {app.name: app for app in await api.service.store.apps()}
    assert stored["show"].caller_env == newer["caller_env"]

    # Without caller_env (an API client that sends none), the daemon's own environment.
    plain = {"app": {**entry, "name": "plain"}, "base_dir": str(tmp_path)}
    assert (await api.client.post("/v1/processes", json=plain)).status_code == 200
    stored = {app.name: app for app in await api.service.store.apps()}
    assert stored["plain"].caller_env is None


@pytest.mark.parametrize(
    "caller_env", [["FOO=bar"], {"FOO": 1}, {"": "x"}, {"A=B": "x"}, {"FOO": "a\0b"}]
)
async def test_a_malformed_caller_env_is_refused(
    api: Harness, tmp_path: Path, caller_env: object
) -> None:
    (tmp_path / "show.py").write_text(SHOW_ENV)
    body = {"app": {"name": "show", "script": "show.py"}, "base_dir": str(tmp_path)}
    answer = await api.client.post("/v1/processes", json={**body, "caller_env": caller_env})
    assert answer.status_code == 400 and answer.json()["kind"] == "bad_request"
    answer = await api.client.post("/v1/processes/all/restart", json={"caller_env": caller_env})
    assert answer.status_code == 400
    assert (await api.client.get("/v1/processes")).json() == []


async def test_the_interpreter_is_found_on_the_caller_path(api: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    runner = folder / "mypython"
    runner.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    runner.chmod(0o755)
    (tmp_path / "show.py").write_text(SHOW_ENV)
    entry = {"name": "show", "script": "show.py", "interpreter": "mypython"}
    body = {"app": entry, "base_dir": str(tmp_path)}
    refused = await api.client.post("/v1/processes", json=body)  # not on the daemon's PATH
    assert refused.status_code == 400 and "interpreter: program not found" in refused.text
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    answer = await api.client.post("/v1/processes", json={**body, "caller_env": {"PATH": path}})
    assert answer.status_code == 200, answer.text
    spec = (await api.client.get("/v1/processes/show")).json()["spec"]
    assert spec["interpreter"] == str(runner)
    # --update-env from a shell where it is not on PATH: refused, nothing changed.
    bad = {"caller_env": {"PATH": "/nowhere"}}
    answer = await api.client.post("/v1/processes/show/restart", json=bad)
    assert answer.status_code == 400 and "interpreter" in answer.text
    stored = {app.name: app for app in await api.service.store.apps()}
    assert stored["show"].caller_env == {"PATH": path}


async def test_history_of_each_instance_per_second(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "worker"
        script = "worker.py"
        instances = 2
        kill_timeout = "2s"
        """,
    )
    assert (await api.client.post("/v1/processes", json={"ecosystem": str(eco)})).is_success

    async def history(query: str) -> httpx.Response:
        return await api.client.get(f"/v1/processes/worker/history{query}")

    # Sampled every second: within a few seconds each instance has memory points and a cpu
    # figure (the first sample of a process has none).
    with anyio.fail_after(20):
        while True:
            body = (await history("?resolution=second&points=30")).json()
            seconds = [p["second"] for p in body["processes"]]
            if all(
                sum(m is not None for m in s["memory_bytes"]) >= 2
                and any(c is not None for c in s["cpu_percent"])
                for s in seconds
            ):
                break
            await anyio.sleep(0.2)
    rows = (await api.client.get("/v1/processes")).json()
    assert [(p["id"], p["name"], p["instance"]) for p in body["processes"]] == [
        (r["id"], "worker", r["instance"]) for r in rows
    ]
    for proc in body["processes"]:
        assert set(proc) == {"id", "name", "instance", "second"}  # one resolution asked
        second = proc["second"]
        assert second["step"] == 1 and len(second["cpu_percent"]) == 30
        assert abs(second["end"] - time.time()) < 5
        memory = [m for m in second["memory_bytes"] if m is not None]
        # The first sample may catch the `sh` that moves a new process into its cgroup before it
        # execs Python (under 1 MB); the newest is the Python's own RSS.
        assert all(m > 0 for m in memory) and memory[-1] > 1_000_000
    both = (await history("")).json()["processes"][0]
    assert len(both["second"]["memory_bytes"]) == 600
    assert len(both["minute"]["memory_bytes"]) == 1440 and both["minute"]["step"] == 60
    one = (await api.client.get(f"/v1/processes/{rows[1]['id']}/history?points=1")).json()
    assert [(p["name"], p["instance"]) for p in one["processes"]] == [("worker", 1)]
    every = (await api.client.get("/v1/processes/all/history?points=1")).json()
    assert len(every["processes"]) == 2
    bad = await history("?resolution=hour")
    assert bad.status_code == 400
    assert "resolution must be second or minute" in bad.json()["error"]
    assert (await history("?points=0")).status_code == 400
    assert (await api.client.get("/v1/processes/nope/history")).status_code == 404


async def test_a_process_id_acts_on_that_one_instance(api: Harness, tmp_path: Path) -> None:
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "one"
        script = "worker.py"
        kill_timeout = "2s"
        log_date_format = ""

        [[apps]]
        name = "pair"
        script = "worker.py"
        instances = 2
        kill_timeout = "2s"
        log_date_format = ""
        """,
    )  # pair's instances share their log files (merge_logs is on by default)
    answer = await api.client.post("/v1/processes", json={"ecosystem": str(eco)})
    assert answer.status_code == 200, answer.text
    rows = await api.wait_rows(lambda rows: all(r["status"] == "online" for r in rows))
    assert [(r["id"], r["name"], r["instance"]) for r in rows] == [
        (0, "one", 0),
        (1, "pair", 0),
        (2, "pair", 1),
    ]
    before = {r["id"]: r for r in rows}
    out = Path(rows[1]["out_file"])
    assert out == Path(rows[2]["out_file"])
    await eventually(lambda: b"pair 0" in out.read_bytes() and b"pair 1" in out.read_bytes())

    acted = (await api.client.post("/v1/processes/1/restart")).json()["processes"]
    assert [(r["id"], r["restarts"], r["last_restart_reason"]) for r in acted] == [(1, 1, "manual")]
    rows = await api.wait_rows(lambda rows: all(r["status"] == "online" for r in rows))
    after = {r["id"]: r for r in rows}
    assert after[1]["pid"] != before[1]["pid"]
    for untouched in (0, 2):
        assert after[untouched]["pid"] == before[untouched]["pid"]
        assert after[untouched]["restarts"] == 0

    async def lines(target: str) -> list[dict[str, Any]]:
        answer = await api.client.get("/v1/logs", params={"app": target, "lines": 50})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["lines"])

    # Only the lines of that instance, though both write to the same files.
    await eventually(lambda: out.read_bytes().count(b"hello from pair 0") == 2, timeout=15)
    assert {(i["app"], i["instance"]) for i in await lines("1")} == {("pair", 0)}
    second = await lines("2")
    assert {(i["app"], i["instance"]) for i in second} == {("pair", 1)}
    assert [i["line"] for i in second if i["stream"] == "out"] == ["hello from pair 1"]

    described = (await api.client.get("/v1/processes/2")).json()
    assert (described["name"], described["id"], described["ids"]) == ("pair", 2, [2])
    assert [r["instance"] for r in described["processes"]] == [1]
    assert {r["instance"] for r in described["runs"]} == {1}
    assert (await api.client.get("/v1/processes/pair")).json()["ids"] == [1, 2]

    signalled = await api.client.post("/v1/processes/2/signal", json={"signal": "USR1"})
    assert signalled.json() == {"signalled": [after[2]["pid"]]}
    reset = (await api.client.post("/v1/processes/1/reset")).json()["processes"]
    assert [(r["id"], r["restarts"]) for r in reset] == [(1, 0)]

    stopped = (await api.client.post("/v1/processes/2/stop")).json()["processes"]
    assert [(r["id"], r["status"], r["desired"]) for r in stopped] == [(2, "stopped", "running")]
    assert [r["status"] for r in await api.wait_rows(lambda _: True)] == [
        "online",
        "online",
        "stopped",
    ]

    # Instances stay 0..N-1: only an app's last instance can be deleted by its id.
    refused = await api.client.delete("/v1/processes/1")
    assert refused.status_code == 409
    assert "process 1 is pair:0, not the last instance of pair" in refused.json()["error"]
    deleted = (await api.client.delete("/v1/processes/2")).json()
    assert deleted == {"deleted": ["pair:1"], "ids": [2]}
    rows = await api.wait_rows(lambda _: True)
    assert [(r["id"], r["name"], r["instance"]) for r in rows] == [(0, "one", 0), (1, "pair", 0)]
    assert (await api.client.post("/v1/processes/2/restart")).status_code == 404

    scaled = (await api.client.post("/v1/processes/pair/scale", json={"instances": 3})).json()
    assert [r["id"] for r in scaled["processes"]] == [1, 2, 3]  # one more than the highest
    unknown = await api.client.post("/v1/processes/9/restart")
    assert unknown.status_code == 404 and unknown.json()["error"] == "no process with id 9"


async def test_logs_of_a_process_after_a_scale_up(api: Harness, tmp_path: Path) -> None:
    """Instance 0 wrote without a marker before the scale up: those lines are its own."""
    eco = write_eco(
        tmp_path,
        """
        [[apps]]
        name = "grow"
        script = "worker.py"
        kill_timeout = "2s"
        log_date_format = ""
        """,
    )
    assert (await api.client.post("/v1/processes", json={"ecosystem": str(eco)})).is_success
    rows = await api.wait_rows(lambda rows: rows[0]["status"] == "online")
    out = Path(rows[0]["out_file"])
    await eventually(lambda: out.exists() and b"hello from grow 0" in out.read_bytes())
    await api.client.post("/v1/processes/grow/scale", json={"instances": 2})
    await eventually(lambda: b"hello from grow 1" in out.read_bytes())

    def shown(answer: httpx.Response) -> set[tuple[int, str]]:
        lines = answer.json()["lines"]
        return {(i["instance"], i["line"]) for i in lines if i["stream"] == "out"}

    first = await api.client.get("/v1/logs", params={"app": "0", "lines": 10})
    second = await api.client.get("/v1/logs", params={"app": "1", "lines": 10})
    assert shown(first) == {(0, "hello from grow 0")}
    assert shown(second) == {(1, "hello from grow 1")}
