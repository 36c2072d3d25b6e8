"""supervisor_core.client against a small HTTP server on a real Unix socket (no daemon)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import socketserver
import stat
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_core.client import Client, ensure_daemon
from supervisor_core.client._failures import connect_failure
from supervisor_core.client._spawn import start_daemon
from supervisor_core.errors import (
    ApiError,
    ClientError,
    DaemonNotRunning,
    SocketPermissionDenied,
)

Handler = Callable[[BaseHTTPRequestHandler, bytes], None]


def reply(handler: BaseHTTPRequestHandler, status: int, body: object, *, raw: bool = False) -> None:
    data = body if raw and isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class FakeDaemon:
    """A threaded HTTP/1.1 server on ``home/ptm.sock``; ``routes`` maps "METHOD /path"."""

    def __init__(self, home: Path) -> None:
        self.socket = home / "ptm.sock"
        self.routes: dict[str, Handler] = {}
        self.requests: list[tuple[str, str, Any]] = []
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, json.loads(body) if body else None))
                route = fake.routes.get(f"{self.command} {self.path.split('?')[0]}")
                if route is None:
                    reply(self, 404, {"error": f"no such path {self.path}", "kind": "not_found"})
                else:
                    route(self, body)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = socketserver.ThreadingUnixStreamServer(str(self.socket), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, route: str, body: object, status: int = 200) -> None:
        self.routes[route] = lambda handler, _: reply(handler, status, body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fake(ptm_home: Path) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(ptm_home)
    yield daemon
    daemon.close()


@pytest.fixture
def client(ptm_home: Path) -> Iterator[Client]:
    with Client(ptm_home, timeout=2.0, autostart=False) as c:
        yield c


ROW = {"id": 0, "name": "api", "instance": 0, "pid": 42, "status": "online"}


def test_calls_send_the_documented_requests(fake: FakeDaemon, client: Client) -> None:
    fake.json("GET /v1/processes", [ROW])
    fake.json("POST /v1/processes", {"started": ["api"], "restarted": [], "processes": [ROW]})
    eco = "/srv/my app/ecosystem.toml"
    fake.json(f"GET /v1/processes/{'%2Fsrv%2Fmy%20app%2Fecosystem.toml'}", {"name": "api"})
    fake.json("POST /v1/processes/api/scale", {"processes": [ROW]})
    fake.json("POST /v1/processes/0/signal", {"signalled": [42]})
    fake.json("DELETE /v1/processes/all", {"deleted": ["api"]})
    fake.json("GET /v1/logs", {"lines": [{"app": "api", "instance": 0, "stream": "out"}]})
    fake.json("POST /v1/save", {"path": "/x/dump.toml", "apps": 1})

    assert client.processes() == [ROW]
    assert client.start_app({"name": "api", "script": "api.py"}, "rel")["started"] == ["api"]
    assert client.start_ecosystem(
        "eco.toml", only=["api"], env="production", caller_env={"FOO": "bar"}, update_env=True
    )["processes"]
    assert client.describe(eco) == {"name": "api"}
    assert client.scale("api", 3) == {"processes": [ROW]}
    assert client.signal(0, "SIGUSR1") == {"signalled": [42]}
    assert client.delete("all") == {"deleted": ["api"]}
    assert client.logs("api", lines=5, stream="err")[0]["app"] == "api"
    assert client.save(force=True)["apps"] == 1

    cwd = os.getcwd()
    assert fake.requests == [
        ("GET", "/v1/processes", None),
        ("POST", "/v1/processes", {"app": {"name": "api", "script": "api.py"},
                                   "base_dir": os.path.join(cwd, "rel"),
                                   "caller_env": None, "update_env": False}),
        ("POST", "/v1/processes", {"ecosystem": os.path.join(cwd, "eco.toml"),
                                   "only": ["api"], "env": "production",
                                   "caller_env": {"FOO": "bar"}, "update_env": True}),
        ("GET", "/v1/processes/%2Fsrv%2Fmy%20app%2Fecosystem.toml", None),
        ("POST", "/v1/processes/api/scale", {"instances": 3}),
        ("POST", "/v1/processes/0/signal", {"signal": "SIGUSR1"}),
        ("DELETE", "/v1/processes/all", None),
        ("GET", "/v1/logs?app=api&lines=5&stream=err", None),
        ("POST", "/v1/save", {"force": True}),
    ]  # fmt: skip


def test_an_error_answer_is_an_api_error_with_status_kind_and_message(
    fake: FakeDaemon, client: Client
) -> None:
    fake.json("POST /v1/processes/nope/stop", {"error": "no app named 'nope'",
                                               "kind": "unknown_app"}, 404)  # fmt: skip
    with pytest.raises(ApiError) as caught:
        client.stop("nope")
    assert (caught.value.status, caught.value.kind) == (404, "unknown_app")
    assert str(caught.value) == "no app named 'nope'"


def test_an_error_answer_without_json_still_says_what_failed(
    fake: FakeDaemon, client: Client
) -> None:
    fake.routes["POST /v1/processes/api/restart"] = lambda h, _: reply(
        h, 502, b"<html>bad gateway</html>", raw=True
    )
    with pytest.raises(ApiError) as caught:
        client.restart("api")
    assert (caught.value.status, caught.value.kind) == (502, "internal")
    assert str(caught.value) == "the daemon answered 502 to POST /v1/processes/api/restart"


def test_an_answer_that_is_not_json_is_a_client_error(fake: FakeDaemon, client: Client) -> None:
    fake.routes["GET /v1/info"] = lambda h, _: reply(h, 200, b"pong", raw=True)
    with pytest.raises(ClientError, match="not JSON"):
        client.info()


def test_no_socket_means_daemon_not_running(ptm_home: Path, client: Client) -> None:
    with pytest.raises(DaemonNotRunning) as caught:
        client.processes()
    assert str(caught.value) == f"daemon not running (no socket at {ptm_home / 'ptm.sock'})"


def test_a_stale_socket_means_daemon_not_running(ptm_home: Path, client: Client) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(ptm_home / "ptm.sock"))  # bound, never listening: connect is refused
    try:
        with pytest.raises(DaemonNotRunning, match="nothing answers at"):
            client.processes()
    finally:
        stale.close()


def test_a_permission_error_on_connect_is_socket_permission_denied(client: Client) -> None:
    # Tests run as root here, where a mode-0600 socket of another user cannot be made to fail;
    # the mapping is checked on the exception chain httpx really builds.
    try:
        try:
            raise PermissionError(errno.EACCES, "Permission denied")
        except PermissionError as low:
            raise httpx.ConnectError("[Errno 13] Permission denied") from low
    except httpx.ConnectError as exc:
        mapped = connect_failure(client.socket, exc)
    assert isinstance(mapped, SocketPermissionDenied)
    assert "permission denied on" in str(mapped)


def test_a_slow_answer_is_a_client_error_naming_the_request(
    fake: FakeDaemon, ptm_home: Path
) -> None:
    def slow_reply(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        time.sleep(1.0)
        reply(handler, 200, [])

    fake.routes["GET /v1/processes"] = slow_reply
    with (
        Client(ptm_home, timeout=0.2, autostart=False) as slow,
        pytest.raises(ClientError) as caught,
    ):
        slow.processes()
    assert not isinstance(caught.value, (ApiError, DaemonNotRunning))
    assert "did not answer GET /v1/processes within 0.2 s" in str(caught.value)


def test_a_dropped_connection_is_a_client_error(fake: FakeDaemon, client: Client) -> None:
    def drop(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    fake.routes["POST /v1/processes/api/stop"] = drop
    with pytest.raises(ClientError, match="lost the connection to the daemon during POST"):
        client.stop("api")


def chunked_lines(handler: BaseHTTPRequestHandler, lines: Iterator[bytes]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/x-ndjson")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for line in lines:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        handler.wfile.flush()
    handler.wfile.write(b"0\r\n\r\n")


def test_follow_logs_yields_each_line_as_it_comes(fake: FakeDaemon, client: Client) -> None:
    first_seen = threading.Event()

    def lines() -> Iterator[bytes]:
        yield json.dumps({"app": "api", "line": "one"}).encode() + b"\n"
        assert first_seen.wait(5)  # the second line exists only once the first was read
        yield b"\n" + json.dumps({"app": "api", "line": "two"}).encode() + b"\n"

    fake.routes["GET /v1/logs/follow"] = lambda h, _: chunked_lines(h, lines())
    got = []
    for item in client.follow_logs("api", stream="out"):
        got.append(item["line"])
        first_seen.set()
    assert got == ["one", "two"]
    assert fake.requests[-1][1] == "/v1/logs/follow?app=api&stream=out"


def test_a_stream_answered_with_an_error_raises_before_iterating(
    fake: FakeDaemon, client: Client
) -> None:
    fake.json("GET /v1/logs/follow", {"error": "no app named 'x'", "kind": "unknown_app"}, 404)
    with pytest.raises(ApiError, match="no app named 'x'"):
        client.follow_logs("x")


def test_events_yields_state_changes(fake: FakeDaemon, client: Client) -> None:
    event = {"app": "api", "instance": 0, "status": "online", "previous": "launching"}
    fake.routes["GET /v1/events"] = lambda h, _: chunked_lines(
        h, iter([json.dumps(event).encode() + b"\n"])
    )
    assert list(client.events()) == [event]


# -- ensure_daemon ---------------------------------------------------------------------------

FAKE_DAEMON = """
    import json, os, socketserver, sys, time
    from http.server import BaseHTTPRequestHandler
    from pathlib import Path

    home = Path(os.environ["PTM_HOME"])
    with open(home / "spawns", "a") as f:
        f.write(f"{os.getpid()}\\n")
    mode, delay = sys.argv[1], float(sys.argv[2])
    print("fake daemon starting", flush=True)
    if mode == "fail":
        print("fake daemon: cannot bind, giving up", file=sys.stderr, flush=True)
        sys.exit(3)
    time.sleep(delay)
    if mode == "mute":
        time.sleep(60)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = json.dumps({"pid": os.getpid(), "version": "0", "home": str(home)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingUnixStreamServer(str(home / "ptm.sock"), H)
    server.daemon_threads = True
    server.serve_forever()
"""


@pytest.fixture
def fake_daemon(tmp_path: Path, ptm_home: Path) -> Iterator[Callable[..., list[str]]]:
    script = tmp_path / "fake_daemon.py"
    script.write_text(textwrap.dedent(FAKE_DAEMON))

    def argv(mode: str = "serve", delay: float = 0.0) -> list[str]:
        return [sys.executable, str(script), mode, str(delay)]

    yield argv
    for pid in spawned(ptm_home):
        try:
            # Only a child of ours that is not reaped yet: a reaped pid may belong to
            # another process by now, and must never be signalled.
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                continue
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def spawned(home: Path) -> list[int]:
    path = home / "spawns"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_ensure_daemon_starts_one_detached_daemon_and_then_reuses_it(
    ptm_home: Path, fake_daemon: Callable[..., list[str]]
) -> None:
    home = ptm_home / "sub"  # missing: created private
    pid = start_daemon(home, fake_daemon(delay=0.2), timeout=10)
    assert (home / "spawns").read_text() == f"{pid}\n"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert os.getsid(pid) == pid  # its own session: a Ctrl-C in the shell does not reach it
    assert "fake daemon starting" in (home / "daemon.log").read_text()
    assert start_daemon(home, fake_daemon(), timeout=10) == pid
    assert spawned(home) == [pid]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_two_racing_starts_spawn_exactly_one_daemon(
    ptm_home: Path, fake_daemon: Callable[..., list[str]]
) -> None:
    pids: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            pids.append(start_daemon(ptm_home, fake_daemon(delay=0.3), timeout=10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert len(spawned(ptm_home)) == 1
    assert pids == spawned(ptm_home) * 3


def test_a_daemon_that_exits_while_starting_is_reported_with_its_log(
    ptm_home: Path, fake_daemon: Callable[..., list[str]]
) -> None:
    (ptm_home / "daemon.log").write_text("an old line from yesterday\n")
    with pytest.raises(DaemonNotRunning) as caught:
        start_daemon(ptm_home, fake_daemon("fail"), timeout=10)
    message = str(caught.value)
    assert "the daemon exited (exit code 3) while starting" in message
    assert "fake daemon: cannot bind, giving up" in message
    assert "yesterday" not in message
    assert "\n" not in message


def test_a_daemon_that_never_answers_times_out(
    ptm_home: Path, fake_daemon: Callable[..., list[str]]
) -> None:
    with pytest.raises(DaemonNotRunning, match=r"did not answer on .*ptm\.sock within 0\.5 s"):
        start_daemon(ptm_home, fake_daemon("mute"), timeout=0.5)


def test_a_program_that_cannot_run_is_reported(ptm_home: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="cannot start the daemon"):
        start_daemon(ptm_home, [str(ptm_home / "missing-python")], timeout=1)


def test_ensure_daemon_returns_the_pid_of_a_daemon_already_serving(fake: FakeDaemon) -> None:
    fake.json("GET /v1/info", {"pid": 4242, "version": "0"})
    assert ensure_daemon(fake.socket.parent) == 4242


def test_a_socket_answering_something_else_is_not_mistaken_for_the_daemon(
    fake: FakeDaemon,
) -> None:
    with pytest.raises(ClientError, match="not ptm's daemon"):
        ensure_daemon(fake.socket.parent)
