"""``ptm logs``: past and followed lines are the file's lines, with their true instance."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from typing import Any

from tests.e2e.conftest import APP, PTM, Ptm
from tests.e2e.test_cli_lifecycle import wait_log

STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def _stamped_app(ptm: Ptm, instances: int = 1) -> None:
    ptm.write("app.py", APP)
    ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "tick"
        script = "app.py"
        instances = {instances}
        kill_timeout = "2s"
        log_date_format = "YYYY-MM-DD HH:mm:ss"
        """,
    )


def _follower(ptm: Ptm, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PTM, "logs", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ptm.cwd,
        env=dict(os.environ),
    )


def test_followed_lines_keep_the_timestamp_of_the_file(ptm: Ptm) -> None:
    _stamped_app(ptm)
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    wait_log(ptm, ["tick", "--nostream"], "ready")
    with _follower(ptm, "tick", "--lines", "1", "--out", "--json") as follower:
        try:
            assert follower.stdout is not None
            past: dict[str, Any] = json.loads(follower.stdout.readline())
            assert STAMPED.match(past["line"]), past
            os.kill(pid, signal.SIGUSR1)
            followed: dict[str, Any] = json.loads(follower.stdout.readline())
            assert STAMPED.match(followed["line"]), followed
            assert followed["line"].endswith(" got SIGUSR1")
            written = (ptm.home / "logs" / "tick-out.log").read_text().splitlines()
            assert written[-1] == followed["line"]
            assert followed == {"app": "tick", "instance": 0, "stream": "out"} | {
                "line": followed["line"]
            }
        finally:
            follower.kill()


def test_past_lines_of_a_merged_file_carry_their_instance(ptm: Ptm) -> None:
    _stamped_app(ptm, instances=3)
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(3)
    by_pid = {row["pid"]: row["instance"] for row in rows}

    def readies() -> list[dict[str, Any]]:
        out = ptm.ok("logs", "tick", "--nostream", "--out", "--json")
        items = [json.loads(line) for line in out.splitlines()]
        return [item for item in items if " ready " in item["line"]]

    deadline = time.monotonic() + 10
    while len(found := readies()) < 3:
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    for item in found:
        assert STAMPED.match(item["line"]), item  # the line as written, marker left out
        pid = int(item["line"].rsplit(" ", 1)[1])
        assert item["instance"] == by_pid[pid], (item, by_pid)
    text = ptm.ok("logs", "tick", "--nostream", "--out")
    for pid, instance in by_pid.items():
        assert re.search(rf"^tick:{instance} \| \S+ \S+ ready {pid}$", text, re.M), text


def test_kill_ends_a_follower_cleanly(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    wait_log(ptm, ["api", "--nostream"], "ready")
    with _follower(ptm, "api", "--lines", "1", "--out") as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            assert follower.stdout.readline().startswith("api | ready")
            ptm.ok("kill")
            assert follower.wait(10) == 0
            assert follower.stdout.read() == ""
            assert follower.stderr.read() == "[ptm] the daemon stopped\n"
        finally:
            if follower.poll() is None:
                follower.kill()
    log = (ptm.home / "daemon.log").read_text()
    assert "Traceback" not in log and "CancelledError" not in log, log
