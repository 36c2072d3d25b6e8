"""Readiness (sd_notify, listen_timeout), a shared listening socket, rolling reload."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import anyio
import httpx
import pytest

from supervisor_core import ListenSpec, ReadinessSpec, StateError, Supervisor
from tests.helpers import Output, free_port, python_app

pytestmark = pytest.mark.anyio

# A tiny HTTP server on the socket ptm hands over (fd 3), that says READY=1 when it serves,
# and answers with its pid. With SLOW_READY set it never says so.
SERVER = """
import os, signal, socket, sys, time

def notify(text):
    path = os.environ.get("NOTIFY_SOCKET")
    if path:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(text.encode(), path)
        s.close()

assert os.environ["LISTEN_FDS"] == "1" and os.environ["LISTEN_PID"] == str(os.getpid())
listener = socket.socket(fileno=3)
stopping = False

def on_term(*_):
    global stopping
    stopping = True

signal.signal(signal.SIGTERM, on_term)
listener.settimeout(0.05)
print("serving", os.getpid(), flush=True)
if not os.environ.get("NEVER_READY"):
    notify("STATUS=serving\\nREADY=1")
while not stopping:
    try:
        conn, _ = listener.accept()
    except (TimeoutError, InterruptedError):
        continue
    with conn:
        conn.settimeout(2)
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        body = str(os.getpid()).encode()
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s"
                     % (len(body), body))
"""


def cluster_app(tmp_path: Path, port: int, *, instances: int = 2, **env: str):
    spec = python_app(tmp_path, "web", SERVER, instances=instances, env=env)
    return dataclasses.replace(
        spec,
        exec_mode="cluster",
        listen=ListenSpec(port=port),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=5.0),
    )


async def test_instances_share_one_socket_and_are_online_only_when_ready(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = Output()
    async with Supervisor(write_logs=False, on_output=out) as sup:
        async with sup.subscribe() as events:
            await sup.add(cluster_app(tmp_path, port))
            await sup.wait_until(lambda infos: all(i.status == "online" for i in infos), timeout=10)
            seen = []
            while True:
                try:
                    seen.append(events.receive_nowait())
                except anyio.WouldBlock:
                    break
        online = [e for e in seen if e.status == "online"]
        assert {e.reason for e in online} == {"READY=1"}
        pids = [i.pid for i in sup.info("web")]
        # Each instance holds ptm's one listening socket as its fd 3 (same inode)...
        shared = os.fstat(sup._listen["web"][1].fileno()).st_ino
        assert [os.stat(f"/proc/{pid}/fd/3").st_ino for pid in pids] == [shared, shared]
        # ...and the port answers (whichever instance the kernel hands the connection to).
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/")
        assert int(answer.text) in pids


async def test_never_ready_counts_as_a_failed_start(tmp_path: Path) -> None:
    from supervisor_core import RestartPolicy

    spec = dataclasses.replace(
        cluster_app(tmp_path, free_port(), instances=1, NEVER_READY="1"),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=0.3),
        restart=RestartPolicy(max_restarts=1, min_uptime=5.0),
    )
    notices: list[str] = []
    async with Supervisor(write_logs=False, on_notice=notices.append) as sup:
        await sup.add(spec)
        infos = await sup.wait_until(lambda i: i[0].status == "errored", timeout=10)
        assert infos[0].restarts == 1
        runs = sup.runs("web")
        assert [r.end_reason for r in runs] == ["not ready", "not ready"], (runs, notices)
    assert any("no READY=1 within 0.3s" in n for n in notices)


async def test_rolling_reload_without_a_refused_request(tmp_path: Path) -> None:
    port = free_port()
    failures: list[str] = []
    served_by: set[int] = set()
    async with Supervisor(write_logs=False) as sup:
        await sup.add(cluster_app(tmp_path, port))
        await sup.wait_until(lambda infos: all(i.status == "online" for i in infos), timeout=10)
        first = {i.pid for i in sup.info("web")}
        done = anyio.Event()
        async with httpx.AsyncClient() as client:
            served_by.add(int((await client.get(f"http://127.0.0.1:{port}/")).text))

        async def load() -> None:
            async with httpx.AsyncClient(timeout=5) as client:
                while not done.is_set():
                    try:
                        answer = await client.get(f"http://127.0.0.1:{port}/")
                        served_by.add(int(answer.text))
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        async with anyio.create_task_group() as tg:
            tg.start_soon(load)
            for _ in range(3):
                infos = await sup.reload("web")
                assert all(i.status == "online" for i in infos)
            done.set()
        last = {i.pid for i in sup.info("web")}
        async with httpx.AsyncClient() as client:
            served_by.add(int((await client.get(f"http://127.0.0.1:{port}/")).text))
        assert not first & last
        assert [i.restarts for i in sup.info("web")] == [3, 3]
        assert all(i.last_restart_reason == "manual" for i in sup.info("web"))
    assert failures == []
    assert served_by & first and served_by & last  # old ones served, then the new ones


async def test_reload_keeps_the_old_process_when_the_new_one_is_never_ready(
    tmp_path: Path,
) -> None:
    port = free_port()
    flag = tmp_path / "never-ready"
    code = SERVER.replace(
        'if not os.environ.get("NEVER_READY"):',
        f"if not os.path.exists({str(flag)!r}):",
    )
    spec = dataclasses.replace(
        python_app(tmp_path, "web", code),
        exec_mode="cluster",
        listen=ListenSpec(port=port),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=0.5),
    )
    async with Supervisor(write_logs=False) as sup:
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "online", timeout=10)
        old = sup.info("web")[0].pid
        flag.write_text("x")
        with pytest.raises(StateError, match=r"was not ready .*runs on"):
            await sup.reload("web")
        info = sup.info("web")[0]
        assert info.pid == old and info.status == "online" and info.restarts == 0
        assert sup.runs("web")[-1].end_reason == "not ready"
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == str(old)


async def test_the_socket_survives_a_replace_and_a_busy_port_is_one_clear_error(
    tmp_path: Path,
) -> None:
    from supervisor_core import ProcessError

    port = free_port()
    async with Supervisor(write_logs=False) as sup:
        spec = cluster_app(tmp_path, port, instances=1)
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "online", timeout=10)
        fd = sup._listen["web"][1].fileno()
        await sup.replace(dataclasses.replace(spec, env={"X": "1"}))
        assert sup._listen["web"][1].fileno() == fd
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            busy = squatter.getsockname()[1]
            other = dataclasses.replace(spec, name="other", listen=ListenSpec(port=busy))
            with pytest.raises(ProcessError, match=f"cannot listen on 127.0.0.1:{busy}"):
                await sup.add(other)


async def test_fork_mode_reload_restarts_one_instance_at_a_time(tmp_path: Path) -> None:
    """Without a shared socket each instance is restarted in turn: instance 1 is still
    running the old process while instance 0 restarts."""
    code = """
        import os, time
        print("up", os.environ["PTM_INSTANCE"], os.getpid(), flush=True)
        while True:
            time.sleep(1)
    """
    out = Output()
    spec = python_app(tmp_path, "workers", code, instances=2)
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: len(out.of("workers")) == 2)
        async with sup.subscribe() as events:
            infos = await sup.reload("workers")
            seen = []
            while True:
                try:
                    seen.append(events.receive_nowait())
                except anyio.WouldBlock:
                    break
        assert [i.status for i in infos] == ["online", "online"]
        assert [i.restarts for i in infos] == [1, 1]
        order = [(e.instance, e.status) for e in seen]
        # instance 0 is online again before instance 1 starts stopping
        assert order.index((0, "online")) < order.index((1, "stopping"))


async def test_wait_ready_by_a_passing_health_check(tmp_path: Path) -> None:
    """No READY=1: the instance is online once its health URL answers."""
    from supervisor_core import HealthCheckSpec

    port = free_port()
    code = f"""
        import http.server, time
        time.sleep(0.3)  # not answering yet: still launching
        server = http.server.HTTPServer(("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler)
        server.serve_forever()
    """
    spec = dataclasses.replace(
        python_app(tmp_path, "plain", code),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=10.0),
        health_check=HealthCheckSpec(url=f"http://127.0.0.1:{port}/", interval=60.0),
    )
    async with Supervisor(write_logs=False) as sup, sup.subscribe() as events:
        await sup.add(spec)
        with anyio.fail_after(10):
            async for event in events:
                if event.status == "online":
                    assert event.reason == "health check passed"
                    break


def test_a_health_url_may_put_the_instance_in_the_port(tmp_path: Path) -> None:
    from supervisor_core import parse_ecosystem

    (tmp_path / "app.py").write_text("")
    eco = parse_ecosystem(
        {
            "apps": [
                {
                    "name": "web",
                    "script": "app.py",
                    "health_check": {"url": "http://127.0.0.1:300{instance}/health"},
                }
            ]
        },
        path=None,
        base_dir=tmp_path,
    )
    assert eco.apps[0].health_check is not None
    assert eco.apps[0].health_check.url == "http://127.0.0.1:300{instance}/health"


async def test_an_exit_while_waiting_to_be_ready_keeps_its_exit_code(tmp_path: Path) -> None:
    """A wait_ready app that exits 0 before READY=1: stop_exit_codes apply (it stays stopped)."""
    from supervisor_core import RestartPolicy

    spec = dataclasses.replace(
        python_app(tmp_path, "oneshot", "print('done')"),
        readiness=ReadinessSpec(wait_ready=True, listen_timeout=5.0),
        restart=RestartPolicy(stop_exit_codes=frozenset({0})),
    )
    async with Supervisor(write_logs=False) as sup:
        await sup.add(spec)
        infos = await sup.wait_until(lambda i: i[0].status in ("stopped", "errored"), timeout=10)
        assert infos[0].status == "stopped" and infos[0].exit_code == 0
