"""The client's GET by the standard library (client/_light.py), on real Unix sockets.

The answers of a real daemon (uvicorn) are read by every e2e test (``ptm jlist``, ``list``,
``describe`` use this path); here the same reader meets what a daemon could send at the edges
(chunked bodies, bodies ended by the connection, broken answers) and each way a call fails,
mapped to the same errors as a call carried by httpx (tests/test_client.py).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_core.client import Client
from supervisor_core.client._light import Answer, BadAnswer, read_answer
from supervisor_core.errors import (
    ApiError,
    ClientError,
    DaemonNotRunning,
    SocketPermissionDenied,
)
from tests.test_client import FakeDaemon

ROWS = [{"id": 0, "name": "api", "status": "online"}]


class RawServer:
    """Answers every connection on ``path`` with the bytes ``answer``, then hangs up; the
    requests it read are kept in ``requests``."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        break
                    request += data
                self.requests.append(request)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def raw(ptm_home: Path) -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for server in servers:
        server.close()


def serve(servers: list[RawServer], home: Path, answer: bytes) -> RawServer:
    server = RawServer(home / "ptm.sock", answer)
    servers.append(server)
    return server


def client_of(home: Path, timeout: float = 5.0) -> Client:
    return Client(home, timeout=timeout, autostart=False)


# -- what the daemon sends ---------------------------------------------------------------------


def test_a_content_length_answer_is_read_and_the_request_is_plain_http_1_1(
    raw: list[RawServer], ptm_home: Path
) -> None:
    body = json.dumps({"lines": [{"app": "api", "line": "hello"}]}).encode()
    server = serve(
        raw,
        ptm_home,
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body),
    )
    with client_of(ptm_home) as client:
        assert client.info() == json.loads(body)
        assert client.logs("my app", lines=5, stream="err") == [{"app": "api", "line": "hello"}]
    first, second = server.requests
    assert first == (
        b"GET /v1/info HTTP/1.1\r\nHost: ptm\r\nAccept: application/json\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert second.startswith(b"GET /v1/logs?app=my+app&lines=5&stream=err HTTP/1.1\r\n")


def test_a_chunked_answer_is_read(raw: list[RawServer], ptm_home: Path) -> None:
    serve(
        raw,
        ptm_home,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'9\r\n[{"id": 0\r\n1A;ext=1\r\n, "name": "api", "status"\r\n'
        b'c\r\n: "online"}]\r\n0\r\nX-Trailer: yes\r\n\r\n',
    )
    with client_of(ptm_home) as client:
        assert client.processes() == ROWS


def test_an_answer_ended_by_the_connection_is_read(raw: list[RawServer], ptm_home: Path) -> None:
    serve(raw, ptm_home, b"HTTP/1.1 200 OK\r\n\r\n" + json.dumps(ROWS).encode())
    with client_of(ptm_home) as client:
        assert client.processes() == ROWS


def test_a_json_error_answer_is_an_api_error(raw: list[RawServer], ptm_home: Path) -> None:
    body = b'{"error": "no app named \'nope\'", "kind": "unknown_app"}'
    serve(
        raw,
        ptm_home,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    with client_of(ptm_home) as client, pytest.raises(ApiError) as caught:
        client.describe("nope")
    assert (caught.value.status, caught.value.kind) == (404, "unknown_app")
    assert str(caught.value) == "no app named 'nope'"


def test_an_error_answer_that_is_not_json_names_the_status(
    raw: list[RawServer], ptm_home: Path
) -> None:
    serve(raw, ptm_home, b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
    with client_of(ptm_home) as client, pytest.raises(ApiError) as caught:
        client.processes()
    assert (caught.value.status, caught.value.kind) == (500, "internal")
    assert str(caught.value) == "the daemon answered 500 to GET /v1/processes"


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # the daemon hung up without a word
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]",  # shorter than it says
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]",  # no last chunk
    ],
    ids=["nothing", "not-http", "short-body", "unfinished-chunks"],
)
def test_a_broken_answer_is_a_client_error_naming_the_request(
    raw: list[RawServer], ptm_home: Path, answer: bytes
) -> None:
    serve(raw, ptm_home, answer)
    with client_of(ptm_home) as client, pytest.raises(ClientError) as caught:
        client.processes()
    assert type(caught.value) is ClientError
    assert str(caught.value).startswith(
        "lost the connection to the daemon during GET /v1/processes"
    )


def test_an_answer_that_is_not_json_is_a_client_error(raw: list[RawServer], ptm_home: Path) -> None:
    serve(raw, ptm_home, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
    with client_of(ptm_home) as client, pytest.raises(ClientError, match="not JSON"):
        client.info()


# -- the reader's edges, without a socket ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]extra", Answer(200, b"[]")),
        (b"HTTP/1.0 200 OK\n\n[1]", Answer(200, b"[1]")),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
            Answer(201, b"{}"),
        ),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", Answer(204, b"")),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", Answer(200, b"raw")),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Answer(200, b"")),
    ],
    ids=["extra-ignored", "http-1.0-lf", "interim-100", "no-content", "other-coding", "empty"],
)
def test_the_reader_frames_bodies_as_http_1_1_says(data: bytes, answer: Answer) -> None:
    assert read_answer(io.BytesIO(data)) == answer


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"HTTP/1.1 abc OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"x" * 70000 + b"\r\n\r\n", "longer than 65536"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "longer than its"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100 headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "ended in its headers"),
    ],
    ids=["status", "length", "header", "long-line", "chunk-size", "chunk-overrun", "many", "cut"],
)
def test_the_reader_refuses_what_is_not_http(data: bytes, says: str) -> None:
    with pytest.raises(BadAnswer, match=says):
        read_answer(io.BytesIO(data))


# -- each way a call fails -------------------------------------------------------------------


def test_no_socket_is_daemon_not_running(ptm_home: Path) -> None:
    with client_of(ptm_home) as client, pytest.raises(DaemonNotRunning) as caught:
        client.processes()
    assert str(caught.value) == f"daemon not running (no socket at {ptm_home / 'ptm.sock'})"


def test_a_socket_nobody_listens_on_is_daemon_not_running(ptm_home: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(ptm_home / "ptm.sock"))  # bound, never listening: connect is refused
        with client_of(ptm_home) as client, pytest.raises(DaemonNotRunning) as caught:
            client.info()
    assert str(caught.value) == f"daemon not running (nothing answers at {ptm_home / 'ptm.sock'})"


def test_a_daemon_that_accepts_and_never_answers_times_out(ptm_home: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(ptm_home / "ptm.sock"))
        mute.listen(1)  # the connect completes in the backlog; nothing is ever read or sent
        started = time.monotonic()
        with client_of(ptm_home, timeout=0.2) as client, pytest.raises(ClientError) as caught:
            client.processes()
        took = time.monotonic() - started
    assert type(caught.value) is ClientError
    assert str(caught.value) == (
        f"the daemon did not answer GET /v1/processes within 0.2 s (see {ptm_home / 'daemon.log'})"
    )
    assert 0.15 < took < 10


def test_a_socket_we_may_not_open_is_socket_permission_denied(tmp_path: Path) -> None:
    """A real EACCES: as root the call is made by a child that became ``nobody`` (who may not
    enter the test's folder); as another user the socket's mode forbids it."""
    home = tmp_path / "private"
    home.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(home / "ptm.sock"))
        listener.listen(1)
        os.chmod(home / "ptm.sock", 0)
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports through the pipe)
            outcome = b"no outcome"
            try:
                os.close(read_end)
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                Client(home, timeout=2.0, autostart=False).processes()
                outcome = b"connected"
            except SocketPermissionDenied as exc:
                outcome = f"denied: {exc}".encode()
            except BaseException as exc:
                outcome = repr(exc).encode()
            finally:
                os.write(write_end, outcome)
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            outcome = reader.read().decode()
        os.waitpid(child, 0)
    assert outcome == (
        f"denied: permission denied on {home / 'ptm.sock'} (is it another user's daemon?)"
    )


# -- what a call loads -----------------------------------------------------------------------

LOADS = """
import sys
from pathlib import Path
from supervisor_core.client import Client

with Client(Path(sys.argv[1]), timeout=5, autostart=False) as client:
    rows = client.processes()
    info = client.info()
    after_gets = "httpx" in sys.modules
    client.stop("api")
    print(rows[0]["name"], info["pid"], after_gets, "httpx" in sys.modules)
"""


@pytest.fixture
def fake(ptm_home: Path) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(ptm_home)
    yield daemon
    daemon.close()


def test_gets_never_load_httpx_and_the_first_post_does(fake: FakeDaemon, ptm_home: Path) -> None:
    fake.json("GET /v1/processes", ROWS)
    fake.json("GET /v1/info", {"pid": 4242})
    fake.json("POST /v1/processes/api/stop", {"processes": ROWS})
    done = subprocess.run(
        [sys.executable, "-c", LOADS, str(ptm_home)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "api 4242 False True\n"
    assert [(method, path) for method, path, _ in fake.requests] == [
        ("GET", "/v1/processes"),
        ("GET", "/v1/info"),
        ("POST", "/v1/processes/api/stop"),
    ]
