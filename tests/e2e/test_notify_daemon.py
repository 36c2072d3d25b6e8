"""[[notify]] under the daemon: ``ptm start`` a file with a webhook entry, crash its app, the
webhook (a local HTTP server in the test) receives the alert; the entries are kept in
state.db, so a daemon killed with SIGKILL and started again by the next command keeps
alerting; starting the file again replaces them and deleting its apps drops them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Ptm, wait_gone

CRASHER = """
import os, pathlib, sys, time
trigger = pathlib.Path("crash-now")
print(f"ready {os.getpid()}", flush=True)
while not trigger.exists():
    time.sleep(0.02)
trigger.unlink()
sys.exit(3)
"""


class Webhook:
    """An HTTP server on 127.0.0.1 in a thread, keeping every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                with hook._cond:
                    hook.bodies.append(body)
                    hook._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.bodies) >= count, timeout):
                raise AssertionError(f"{count} alerts expected within {timeout} s: {self.bodies}")
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def ecosystem(ptm: Ptm, notify: str) -> Path:
    ptm.write("crasher.py", CRASHER)
    return ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "web"
        script = "crasher.py"
        kill_timeout = "2s"
        log_date_format = ""
        {notify}
        """,
    )


def stored_notify(home: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT source, entries FROM notify").fetchall()
    finally:
        db.close()
    return {source: json.loads(entries) for source, entries in rows}


def crash(ptm: Ptm) -> int:
    """Make the online app exit with code 3; returns the pid that crashed."""
    [row] = ptm.wait_online(1)
    (ptm.cwd / "crash-now").write_text("now")
    return int(row["pid"])


def test_the_daemon_alerts_and_keeps_alerting_after_a_sigkill(ptm: Ptm, webhook: Webhook) -> None:
    path = ecosystem(
        ptm,
        f"""
        [[notify]]
        events = ["crash", "restart"]
        webhook = "{webhook.url}"
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    pid = crash(ptm)
    first, restart = webhook.wait_for(2)
    assert (first["event"], first["app"], first["status"]) == ("crash", "web", "waiting restart")
    assert (first["pid"], first["exit_code"], first["reason"]) == (pid, 3, "crash")
    assert (restart["event"], restart["status"], restart["reason"]) == (
        "restart",
        "launching",
        "crash",
    )
    assert stored_notify(ptm.home) == {
        str(path): [
            {
                "events": ["crash", "restart"],
                "apps": ["web"],
                "webhook": webhook.url,
                "command": None,
            }
        ]
    }

    [row] = ptm.wait_online(1)
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    assert wait_gone({daemon, row["pid"]}, 10) == set()
    # The next command starts a daemon: it restores the app (a start, not a restart) and
    # the alerts, so the next crash is posted too.
    pid = crash(ptm)
    bodies = webhook.wait_for(4)
    assert [(b["event"], b["reason"]) for b in bodies[2:]] == [
        ("crash", "crash"),
        ("restart", "crash"),
    ]
    assert bodies[2]["pid"] == pid != first["pid"]


def test_starting_the_file_again_replaces_its_entries_and_delete_drops_them(
    ptm: Ptm, webhook: Webhook
) -> None:
    path = ecosystem(
        ptm,
        f"""
        [[notify]]
        events = ["crash"]
        webhook = "{webhook.url}"
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    assert [e["events"] for e in stored_notify(ptm.home)[str(path)]] == [["crash"]]
    ecosystem(
        ptm,
        f"""
        [[notify]]
        events = ["errored"]
        webhook = "{webhook.url}"

        [[notify]]
        events = ["restart"]
        command = ["sh", "-c", "cat > last-alert.json"]
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    assert [e["events"] for e in stored_notify(ptm.home)[str(path)]] == [["errored"], ["restart"]]
    pid = crash(ptm)
    # The command runs in the file's folder with the alert on stdin.
    alert = ptm.cwd / "last-alert.json"
    deadline = time.monotonic() + 15
    while not (alert.exists() and alert.read_text().endswith("}")):
        assert time.monotonic() < deadline, "no restart alert from the command"
        time.sleep(0.05)
    restart = json.loads(alert.read_text())
    assert (restart["event"], restart["app"], restart["reason"]) == ("restart", "web", "crash")
    assert webhook.bodies == []  # the old crash entry is gone, and nothing errored
    ptm.app_pids.add(pid)

    ptm.ok("delete", "web")
    assert stored_notify(ptm.home) == {}
