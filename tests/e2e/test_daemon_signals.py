"""Signals to the daemon: SIGHUP reopens the app logs and daemon.log after a logrotate-style
move; SIGTERM stops every app gracefully and leaves no socket or pid file."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.e2e.conftest import Ptm, wait_gone


def wait_for_text(path: Path, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}")


def test_sighup_reopens_logs_moved_away(ptm: Ptm) -> None:
    ptm.ecosystem(("app", 1))
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(1)
    out = Path(rows[0]["out_file"])
    wait_for_text(out, "ready")
    daemon_log = ptm.home / "daemon.log"
    rotated, rotated_daemon = out.with_name("app-out.log.1"), ptm.home / "daemon.log.1"
    out.rename(rotated)
    daemon_log.rename(rotated_daemon)
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGHUP)
    wait_for_text(daemon_log, "SIGHUP: reopened the log files")  # in a new daemon.log
    ptm.ok("signal", "SIGUSR1", "app")
    wait_for_text(out, "got SIGUSR1")  # a new file at the usual path
    assert "got SIGUSR1" not in rotated.read_text()
    assert "ready" in rotated.read_text()


def test_sigterm_stops_the_apps_and_the_daemon(ptm: Ptm) -> None:
    ptm.ecosystem(("app", 2))
    ptm.ok("start", "ecosystem.toml")
    pids = {row["pid"] for row in ptm.wait_online(2)}
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGTERM)
    assert wait_gone({daemon, *pids}, 15) == set()
    assert not (ptm.home / "ptm.sock").exists()
    assert not (ptm.home / "ptm.pid").exists()
    log = (ptm.home / "daemon.log").read_text()
    assert "SIGTERM: stopping every app, then the daemon" in log
    assert "daemon stopped" in log
