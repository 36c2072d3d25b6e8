"""ptm describe, monit (on a terminal and not), and startup."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from tests.e2e.conftest import APP, PTM, Ptm
from tests.helpers import free_port


def test_describe_shows_the_app_in_full(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    ptm.ok("restart", "api")
    out = ptm.ok("show", "api")
    assert out.startswith(f"api (id 0, 1 instance, from {ptm.cwd / 'ecosystem.toml'})")
    assert str(ptm.home / "logs" / "api-out.log") in out
    assert str(pid) in out  # the first run, in the restart history
    assert "manual" in out


def test_describe_shows_watch_cron_health_check_and_listen(ptm: Ptm) -> None:
    port = free_port()
    ptm.write("app.py", APP)
    (ptm.cwd / "src").mkdir()
    ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "web"
        script = "app.py"
        exec_mode = "cluster"
        kill_timeout = "2s"
        cron_restart = "30 4 * * *"
        watch = ["src"]
        ignore_watch = ["*.log"]

        [apps.listen]
        port = {port}

        [apps.health_check]
        url = "http://127.0.0.1:{port}/health"
        interval = "5m"
        failures = 2
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    out = ptm.ok("describe", "web")
    lines = out.splitlines()
    config = lines[lines.index("Config") + 1 : lines.index("Environment")]
    shown = dict(line.strip().split(None, 1) for line in config if line.strip())
    assert shown["cron_restart"] == "30 4 * * *"
    assert shown["watch"] == str(ptm.cwd / "src")
    assert shown["ignore_watch"] == "*.log"
    assert shown["listen"] == f"127.0.0.1:{port}"
    assert shown["health_check"] == (
        f"http://127.0.0.1:{port}/health, every 5m, timeout 2s, restart after 2 failures"
    )


def test_monit_without_a_terminal_prints_one_frame(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 2))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    out = ptm.ok("monit")
    assert out.startswith("ptm monit · 1 app · 2/2 online")
    assert "api:1" in out and "\x1b" not in out
    assert not out.endswith("\n\n")


def test_monit_on_a_terminal_refreshes_until_q(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    leader, follower = pty.openpty()
    env = dict(os.environ, COLUMNS="100", LINES="30", TERM="xterm")
    with subprocess.Popen(
        [*PTM, "monit"], stdin=follower, stdout=follower, stderr=follower, env=env, cwd=ptm.cwd
    ) as monit:
        os.close(follower)
        try:
            screen = read_until(leader, b"api", 15)
            assert b"\x1b[?1049h" in screen  # the alternate screen
            assert b"ptm monit" in screen
            read_until(leader, b"\x1b[H", 5)  # a second frame: it refreshes
            os.write(leader, b"q")
            assert monit.wait(10) == 0
            rest = read_until(leader, b"\x1b[?1049l", 5)  # the terminal is given back
            assert b"Traceback" not in screen + rest
        finally:
            if monit.poll() is None:
                monit.kill()
            os.close(leader)


def test_monit_leaves_when_the_daemon_stops(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    leader, follower = pty.openpty()
    env = dict(os.environ, COLUMNS="100", LINES="30", TERM="xterm")
    with subprocess.Popen(
        [*PTM, "monit"], stdin=follower, stdout=follower, stderr=follower, env=env, cwd=ptm.cwd
    ) as monit:
        os.close(follower)
        try:
            screen = read_until(leader, b"api", 15)
            ptm.ok("kill")
            assert monit.wait(10) == 0
            rest = read_until(leader, b"[ptm] the daemon stopped", 5)
            assert b"\x1b[?1049l" in rest  # the terminal is given back first
            assert b"Traceback" not in screen + rest and b"lost the connection" not in rest
            assert ptm.daemon_pid() is None  # monit did not start a new daemon
        finally:
            if monit.poll() is None:
                monit.kill()
            os.close(leader)


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not seen in {data[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            data += chunk
    assert needle in data, f"{needle!r} not seen in {data[-500:]!r}"
    return data


def test_startup_prints_a_unit_with_this_ptm_and_the_saved_apps_stop_time(ptm: Ptm) -> None:
    out = ptm.ok("startup")
    assert "TimeoutStopSec=30" in out  # nothing saved yet
    assert f"Environment=PTM_HOME={ptm.home}" in out
    exec_start = next(line for line in out.splitlines() if line.startswith("ExecStart="))
    ptm_path = exec_start.removeprefix("ExecStart=").split()[0]
    assert os.path.isabs(ptm_path) and os.access(ptm_path, os.X_OK)
    assert exec_start.endswith(" daemon --foreground")

    ptm.write("app.py", "import time\ntime.sleep(60)\n")
    ptm.write(
        "slow.toml",
        """
        [defaults]
        kill_timeout = "3s"

        [[apps]]
        name = "quick"
        script = "app.py"

        [[apps]]
        name = "slow"
        script = "app.py"
        kill_timeout = "21500ms"
        """,
    )
    ptm.ok("start", "slow.toml")
    ptm.wait_online(2)
    ptm.ok("save")
    assert "TimeoutStopSec=32" in ptm.ok("startup", "systemd")
    assert not (ptm.cwd / "ptm.service").exists()  # printing installs nothing
