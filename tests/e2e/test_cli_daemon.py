"""The daemon as ptm starts, finds, kills and recovers it; the socket's contract."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.e2e.conftest import PTM, Ptm, wait_gone
from tests.helpers import alive


def processes_running(script: Path) -> list[int]:
    """Pids of live processes whose command line runs ``script``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if str(script) in (proc.info["cmdline"] or []) and proc.info["status"] != "zombie":
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def daemons_of(home: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if "supervisor_core.daemon" not in cmdline or proc.info["status"] == "zombie":
                continue
            if proc.environ().get("PTM_HOME") == str(home):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_sigkilled_daemon_leaves_no_orphan_and_no_duplicate(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 2))
    ptm.ok("start", "ecosystem.toml")
    ptm.ok("stop", "api")  # stopped apps must stay stopped after the recovery
    before = ptm.wait_rows(
        lambda rows: [r["status"] for r in rows] == ["stopped", "online", "online"]
    )
    old_pids = {r["pid"] for r in before if r["pid"]}
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    assert wait_gone({daemon}, 10) == set()

    rows = ptm.wait_rows(  # the next command starts a new daemon, which takes over
        lambda rows: [r["status"] for r in rows] == ["stopped", "online", "online"]
    )
    assert ptm.daemon_pid() not in (None, daemon)
    assert wait_gone(old_pids, 10) == set()  # the old daemon's apps were swept
    new_pids = {r["pid"] for r in rows if r["pid"]}
    assert len(new_pids) == 2 and not new_pids & old_pids
    assert sorted(processes_running(ptm.cwd / "app.py")) == sorted(new_pids)
    assert daemons_of(ptm.home) == [ptm.daemon_pid()]


def test_two_pings_at_once_start_exactly_one_daemon(ptm: Ptm) -> None:
    pings = [
        subprocess.Popen(
            [*PTM, "ping"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ptm.cwd,
            env=dict(os.environ),
        )
        for _ in range(2)
    ]
    outputs = []
    for ping in pings:
        with ping:
            out, err = ping.communicate(timeout=30)
            assert ping.returncode == 0, err
            outputs.append(out)
    pid = ptm.daemon_pid()
    assert outputs == [f"pong: daemon pid {pid}, ptm {version()}\n"] * 2
    assert daemons_of(ptm.home) == [pid]


def version() -> str:
    from supervisor_core import __version__

    return __version__


def test_the_daemon_imports_nothing_from_the_folder_ptm_is_run_in(ptm: Ptm) -> None:
    """``ptm start`` is run from a project's folder. ``python -m`` puts that folder first on
    sys.path, so a project's own ``json.py`` (or a checkout of another ptm) took the place of
    the daemon's module: the daemon did not start, or ran the other code."""
    ptm.write("json.py", 'raise ImportError("the json.py of the project folder")\n')
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    assert "json.py" not in (ptm.home / "daemon.log").read_text()


def test_the_socket_is_private_and_rejects_malformed_requests(ptm: Ptm) -> None:
    ptm.ok("ping")
    sock = ptm.home / "ptm.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    transport = httpx.HTTPTransport(uds=str(sock))
    with httpx.Client(transport=transport, base_url="http://ptm") as raw:
        bad = raw.post("/v1/processes", content=b"{not json")
        assert bad.status_code == 400
        assert bad.json()["kind"] == "bad_request"
        typed = raw.post("/v1/processes/api/scale", json={"instances": "three"})
        assert typed.status_code in (400, 404)
        missing = raw.get("/v1/nothing-here")
        assert (missing.status_code, missing.json()["kind"]) == (404, "not_found")
        info = raw.get("/v1/info").json()
        assert info["pid"] == ptm.daemon_pid() and info["home"] == str(ptm.home)


def test_kill_leaves_nothing_running(ptm: Ptm) -> None:
    ptm.write(
        "parent.py",
        """
        import subprocess, sys, time
        kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("grandchild.pid", "w").write(str(kid.pid))
        time.sleep(120)
        """,
    )
    ptm.write(
        "family.toml",
        """
        [[apps]]
        name = "family"
        script = "parent.py"
        kill_timeout = "2s"
        """,
    )
    ptm.ok("start", "family.toml")
    rows = ptm.wait_online(1)
    grandchild_file = ptm.cwd / "grandchild.pid"
    deadline = time.monotonic() + 10
    while not grandchild_file.exists() or not grandchild_file.read_text():
        assert time.monotonic() < deadline, "the app never started its child"
        time.sleep(0.02)
    grandchild = int(grandchild_file.read_text())
    ptm.app_pids.add(grandchild)
    daemon = ptm.daemon_pid()
    assert daemon is not None

    out = ptm.ok("kill")
    assert f"daemon stopped (pid {daemon})" in out
    assert not alive(daemon)  # `ptm kill` returns once the daemon is gone
    assert wait_gone({rows[0]["pid"], grandchild}, 5) == set()
    assert not (ptm.home / "ptm.sock").exists()
    assert not (ptm.home / "ptm.pid").exists()
    assert ptm.ok("kill") == "[ptm] no daemon running\n"
    assert not (ptm.home / "ptm.sock").exists()  # and kill did not start one


def test_list_and_jlist_import_only_what_they_need(ptm: Ptm) -> None:
    # (httpcore imports anyio's top-level package, about 1 ms: allowed; its backends are not)
    ptm.ok("ping")
    code = (
        "import sys, io, contextlib\n"
        "from supervisor_core.cli import main\n"
        "for command in ('jlist', 'list'):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main([command]) == 0\n"
        "heavy = {'anyio._backends._asyncio', 'psutil', 'starlette', 'uvicorn', 'aiosqlite',\n"
        "         'supervisor_core.config', 'supervisor_core._supervisor', 'tomllib',\n"
        "         'supervisor_core.daemon', 'supervisor_core.store'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == []


def test_daemon_foreground_serves_until_sigterm(ptm: Ptm) -> None:
    """What the systemd unit runs: `ptm daemon --foreground`, stopped by SIGTERM."""
    with subprocess.Popen(
        [*PTM, "daemon", "--foreground"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ptm.cwd,
        env=dict(os.environ),
    ) as daemon:
        try:
            deadline = time.monotonic() + 15
            while ptm.daemon_pid() != daemon.pid:
                assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
                assert time.monotonic() < deadline, "the foreground daemon never wrote ptm.pid"
                time.sleep(0.02)
            assert ptm.ok("ping").startswith(f"pong: daemon pid {daemon.pid},")
            ptm.ecosystem(("api", 1))
            ptm.ok("start", "ecosystem.toml")
            app = ptm.wait_online(1)[0]["pid"]
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
            assert wait_gone({app}, 5) == set()
            assert not (ptm.home / "ptm.sock").exists()
        finally:
            if daemon.poll() is None:
                daemon.kill()


def test_a_truncated_state_db_is_set_aside_and_the_dump_restored(ptm: Ptm) -> None:
    """A state.db truncated to 0 bytes was taken as a fresh start: every app silently gone."""
    ptm.ecosystem(("api", 1), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    ptm.ok("save")
    ptm.ok("kill")
    state = ptm.home / "state.db"
    state.write_bytes(b"")

    ptm.ok("ping")
    rows = ptm.wait_online(2)
    assert sorted(row["name"] for row in rows) == ["api", "worker"]
    (aside,) = ptm.home.glob("state.db.damaged-*")
    assert aside.read_bytes() == b""
    reports = [
        line for line in (ptm.home / "daemon.log").read_text().splitlines() if "kept it" in line
    ]
    assert len(reports) == 1, reports
    assert f"{state}: empty (0 bytes), not a whole state database: kept it as {aside}" in reports[0]
    assert f"restoring {ptm.home / 'dump.toml'}" in reports[0]


def test_a_deleted_socket_is_bound_again_by_the_running_daemon(ptm: Ptm) -> None:
    """A deleted ptm.sock left the daemon unreachable: `ptm kill` said no daemon was running."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    daemon = ptm.daemon_pid()
    socket_file = ptm.home / "ptm.sock"
    before = socket_file.stat().st_ino
    socket_file.unlink()
    deadline = time.monotonic() + 10
    while not socket_file.exists():
        assert time.monotonic() < deadline, "the daemon did not bind its socket again"
        time.sleep(0.05)
    assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600
    assert socket_file.stat().st_ino != before
    assert str(daemon) in ptm.ok("ping")  # the same daemon, not a new one
    assert [row["name"] for row in ptm.jlist()] == ["api"]
    assert "was removed or replaced: listening on it again" in (ptm.home / "daemon.log").read_text()


def test_ptm_metrics_prints_the_prometheus_exposition(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 2))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    text = ptm.ok("metrics")
    assert 'ptm_process_up{app="api",id="0",instance="0"} 1.0' in text
    assert 'ptm_process_up{app="api",id="1",instance="1"} 1.0' in text  # its own id
    assert "ptm_apps 1.0" in text


def test_a_command_that_waits_fails_when_the_daemon_stops_answering(ptm: Ptm) -> None:
    """``ptm stop`` (and start, restart, delete: every call that waits as long as the daemon
    works) hung for ever on a daemon that had stopped answering (stopped, its event loop
    wedged): the wait has no read timeout, since a stop may take the app's kill_timeout.
    PM2 users know it as ``pm2 stop`` hanging (pm2#1971, #2607). Now the command asks the
    daemon on a second connection, every 10 s, whether it answers at all, and fails in one
    line (exit 1) when it does not; a daemon that answers again carries on."""
    ptm.ecosystem(("app", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGSTOP)
    try:
        began = time.monotonic()
        done = ptm("stop", "app", timeout=60)
        took = time.monotonic() - began
    finally:
        os.kill(daemon, signal.SIGCONT)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert took < 35, took  # two client timeouts (10 s each), and a loaded machine
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("ptm: the daemon stopped answering during POST "), done.stderr
    # Once it answers again, it carries out what it was sent, and answers as before.
    ptm.wait_rows(lambda rows: rows[0]["status"] == "stopped", timeout=20)
    ptm.ok("start", "app")


def _read_until(conn: socket.socket, wanted: bytes, timeout: float) -> bytes:
    conn.settimeout(timeout)
    seen = b""
    while wanted not in seen:
        piece = conn.recv(65536)
        assert piece, f"closed before {wanted!r}: {seen[-300:]!r}"
        seen += piece
    return seen


def test_connections_that_never_send_a_whole_request_do_not_lock_ptm_out(ptm: Ptm) -> None:
    """300 connections that each sent half a request held all 256 places for ever (uvicorn
    times only the wait after an answer), and ``ptm list`` failed with 'connection reset'.
    Now one that sends no whole request head in 10 s is closed; a follower, whose request
    is being answered, is not, however long it waits for a line."""
    ptm.ecosystem(("app", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    path = str(ptm.home / "ptm.sock")
    follower = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    held: list[socket.socket] = []
    try:
        follower.connect(path)
        follower.sendall(b"GET /v1/logs/follow?app=app HTTP/1.1\r\nHost: ptm\r\n\r\n")
        _read_until(follower, b"200 OK", 20)
        for _ in range(300):
            half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            held.append(half)
            half.connect(path)
            half.sendall(b"GET /v1/info HTTP/1.1\r\nHost: ptm\r\n")
        for half in held:  # each is closed: past the 256 at once, the others within 10 s
            half.settimeout(30)
            assert half.recv(1) == b""
        assert json.loads(ptm.ok("jlist"))[0]["status"] == "online"
        ptm.ok("restart", "app")  # the follower, 10 s and more without a line, still follows
        _read_until(follower, b"ready ", 20)
    finally:
        follower.close()
        for half in held:
            half.close()
