"""Point-Tron's secrets: the JWT secret generated beside the database, file modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from point_tron.auth import AuthUser, issue_token
from point_tron.config import DEFAULT_JWT_SECRET
from point_tron.db import Database
from point_tron.secret_file import load_or_create_secret
from tests.point_tron.conftest import bin_path, listening_port, point_tron_env, running, tron_sim

THREE_YEARS_S = 3 * 365 * 86400


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env_without_secret(tmp_path: Path, rpc_url: str, **extra: str) -> dict[str, str]:
    env = point_tron_env(tmp_path, rpc_url, **extra)
    del env["JWT_SECRET"]
    return env


def _verify(base: str, token: str) -> int:
    response = httpx.post(
        f"{base}/api/auth/verify", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    return response.status_code


def _login(base: str) -> str:
    response = httpx.post(
        f"{base}/api/auth/login",
        json={"username": "admin", "password": "admin123"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["token"]
    return token


@pytest.mark.slow
def test_without_jwt_secret_the_default_is_refused_and_a_generated_secret_kept_across_restarts(
    tmp_path: Path,
) -> None:
    forged = issue_token(AuthUser(1, "admin"), DEFAULT_JWT_SECRET, THREE_YEARS_S)
    db_path = tmp_path / "data" / "point-tron.db"
    secret_file = tmp_path / "data" / "point-tron.db.jwt-secret"
    old_umask = os.umask(0o022)  # what a shell usually has: files would be 0644
    try:
        with tron_sim() as rpc_url:
            env = _env_without_secret(tmp_path, rpc_url)
            with running([bin_path("point-tron")], env) as app:
                base = f"http://127.0.0.1:{listening_port(app)}"
                assert _verify(base, forged) == 401  # the hand-made admin token
                token = _login(base)
                assert _verify(base, token) == 200
                assert app.terminate() == 0
                first = app.rest()
            secret = secret_file.read_text()
            assert _mode(secret_file) == 0o600
            assert any(f"generated a JWT secret in {secret_file}" in line for line in first)

            with running([bin_path("point-tron")], env) as app:
                base = f"http://127.0.0.1:{listening_port(app)}"
                assert _verify(base, token) == 200  # same secret after the restart
                assert _verify(base, forged) == 401
                assert app.terminate() == 0
                second = app.rest()
    finally:
        os.umask(old_umask)
    assert secret_file.read_text() == secret
    assert not any("generated a JWT secret" in line for line in second)
    assert secret.strip() not in "\n".join(first + second)  # never logged
    for path in (db_path, secret_file):
        assert _mode(path) == 0o600, path
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            assert _mode(side) == 0o600, side


@pytest.mark.slow
def test_an_explicit_default_secret_is_warned_about(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "http://127.0.0.1:9", JWT_SECRET=DEFAULT_JWT_SECRET)
    with running([bin_path("point-tron")], env) as app:
        listening_port(app)
        assert app.terminate() == 0
        lines = [json.loads(line) for line in app.rest()]
    warnings = [e["message"] for e in lines if e["level"] == "WARNING"]
    assert any("JWT_SECRET is the published default" in m for m in warnings), lines


def test_an_unusable_secret_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    secret_file = tmp_path / "data" / "point-tron.db.jwt-secret"
    secret_file.parent.mkdir()
    secret_file.write_text("\n")
    secret_file.chmod(0o600)
    env = _env_without_secret(tmp_path, "http://127.0.0.1:9")
    with running([bin_path("point-tron")], env) as app:
        assert app.popen.wait(timeout=20) == 2
        lines = app.rest()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"point-tron: {secret_file}: ")
    assert "delete it" in lines[0]


def test_a_secret_file_readable_by_others_is_made_0600(tmp_path: Path) -> None:
    db_path = tmp_path / "point-tron.db"
    first, created = load_or_create_secret(db_path)
    assert created and len(first) >= 43
    path = tmp_path / "point-tron.db.jwt-secret"
    path.chmod(0o644)
    again, created = load_or_create_secret(db_path)
    assert (again, created) == (first, False)
    assert _mode(path) == 0o600


def test_several_instances_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    # ptm's cluster mode starts every instance together over one database.
    code = (
        "import sys; from pathlib import Path\n"
        "from point_tron.secret_file import load_or_create_secret\n"
        "print(load_or_create_secret(Path(sys.argv[1]))[0])\n"
    )
    db = str(tmp_path / "data" / "point-tron.db")
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = {p.communicate(timeout=30)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1
    assert outputs == {(tmp_path / "data" / "point-tron.db.jwt-secret").read_text().strip()}
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["point-tron.db.jwt-secret"]


@pytest.mark.anyio
async def test_the_database_is_created_0600_and_an_old_0644_one_tightened(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        db_path = tmp_path / "new" / "point-tron.db"
        db = await Database.open(db_path)
        await db.set_config("probe", "x")  # writes: the -wal and -shm files exist now
        files = [db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm"))]
        modes = {p.name: _mode(p) for p in files}
        await db.close()
        assert modes == dict.fromkeys(modes, 0o600)
        assert _mode(db_path.parent) == 0o700  # the folder it created

        old = tmp_path / "old.db"
        old.touch(mode=0o644)
        old.chmod(0o644)
        db = await Database.open(old)
        await db.close()
        assert _mode(old) == 0o600
    finally:
        os.umask(old_umask)


@pytest.mark.slow
def test_no_token_in_any_log_after_websocket_connects(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    env = point_tron_env(tmp_path, "http://127.0.0.1:9", LOG_DIR=str(log_dir))
    with running([bin_path("point-tron")], env) as app:
        port = listening_port(app)
        token = _login(f"http://127.0.0.1:{port}")
        url = f"ws://127.0.0.1:{port}/ws"
        # The old way (a query parameter, still accepted) and the page's way (a subprotocol).
        for how in ("query", "subprotocol"):
            if how == "query":
                ws = ws_connect(f"{url}?token={token}", open_timeout=10)
            else:
                ws = ws_connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)])
            with ws:
                welcome = json.loads(ws.recv(timeout=10))
                assert welcome["type"] == "welcome", welcome
            app.wait_for(r'"WebSocket /ws')  # uvicorn's line about the connect
        assert app.terminate() == 0
        stdout = "\n".join(app.rest())
    log_file = (log_dir / "point-tron.log").read_text()
    for text in (stdout, log_file):
        assert '"WebSocket /ws' in text
        assert token not in text
        assert token.split(".")[2] not in text  # not even the signature
    assert "/ws?token=[redacted]" in stdout


def test_a_token_is_redacted_from_any_log_line() -> None:
    import io
    import logging

    from point_tron.logging import JsonFormatter

    token = issue_token(AuthUser(1, "admin"), "k" * 40, 60)
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/ws?token={token}&x=1"),
        None,
    )
    line = handler.format(record)
    assert token not in line
    assert "/ws?token=[redacted]&x=1" in line
    record = logging.LogRecord(
        "point_tron", logging.ERROR, __file__, 1, "bad header %s", (f"Bearer {token}",), None
    )
    assert token not in handler.format(record)


def _login_statuses(base: str, forwarded_for: list[str]) -> list[int]:
    """POST /api/auth/login with no body (a fast 400) once per X-Forwarded-For value."""
    with httpx.Client(base_url=base, timeout=10) as client:
        return [
            client.post("/api/auth/login", headers={"X-Forwarded-For": ip}).status_code
            for ip in forwarded_for
        ]


@pytest.mark.slow
def test_rotating_x_forwarded_for_does_not_escape_the_login_rate_limit(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "http://127.0.0.1:9")
    env.pop("FORWARDED_ALLOW_IPS", None)
    with running([bin_path("point-tron")], env) as app:
        base = f"http://127.0.0.1:{listening_port(app)}"
        statuses = _login_statuses(base, [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(201)])
        assert app.terminate() == 0
    assert statuses[:200] == [400] * 200  # counted against 127.0.0.1, whatever the header says
    assert statuses[200] == 429


@pytest.mark.slow
def test_a_configured_proxy_is_trusted_for_the_client_address(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "http://127.0.0.1:9", TRUSTED_PROXIES="127.0.0.1")
    with running([bin_path("point-tron")], env) as app:
        base = f"http://127.0.0.1:{listening_port(app)}"
        statuses = _login_statuses(base, ["10.0.0.1"] * 201 + ["10.0.0.2"])
        assert app.terminate() == 0
    assert statuses[:200] == [400] * 200
    assert statuses[200:] == [429, 400]  # 10.0.0.2 has its own budget behind the proxy


def test_a_bad_trusted_proxies_value_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = point_tron_env(tmp_path, "http://127.0.0.1:9", TRUSTED_PROXIES="127.0.0.1,proxy")
    with running([bin_path("point-tron")], env) as app:
        assert app.popen.wait(timeout=20) == 2
        lines = app.rest()
    assert len(lines) == 1 and lines[0].startswith("point-tron: TRUSTED_PROXIES="), lines
