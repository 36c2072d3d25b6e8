"""The real ``ptm`` against a real daemon in the test's own PTM_HOME; always cleaned up."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.client import Client
from supervisor_core.errors import ClientError
from tests.helpers import alive

# The console script the install put beside this interpreter: what users run.
PTM = [str(Path(sys.executable).with_name("ptm"))]

APP = """
import os, signal, sys, time
signal.signal(signal.SIGUSR1, lambda *_: print("got SIGUSR1", flush=True))
print(f"ready {os.getpid()}", flush=True)
print("an error line", file=sys.stderr, flush=True)
while True:
    time.sleep(0.1)
"""

Rows = list[dict[str, Any]]


class Ptm:
    """Runs ``ptm`` in ``cwd`` with the test's PTM_HOME; remembers every app pid it saw."""

    def __init__(self, home: Path, cwd: Path) -> None:
        self.home = home
        self.cwd = cwd
        self.app_pids: set[int] = set()

    def __call__(self, *args: str, timeout: float = 40) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PTM, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.cwd,
            env=dict(os.environ),
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert done.stderr == "", done.stderr
        return done.stdout

    def jlist(self) -> Rows:
        rows: Rows = json.loads(self.ok("jlist"))
        self.app_pids.update(row["pid"] for row in rows if row["pid"])
        return rows

    def wait_rows(self, predicate: Callable[[Rows], bool], timeout: float = 15) -> Rows:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.jlist()
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout} s: {rows}")
            time.sleep(0.05)

    def wait_online(self, count: int, timeout: float = 15) -> Rows:
        return self.wait_rows(
            lambda rows: len(rows) == count and all(r["status"] == "online" for r in rows),
            timeout,
        )

    def daemon_pid(self) -> int | None:
        try:
            return int((self.home / "ptm.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def write(self, name: str, text: str) -> Path:
        path = self.cwd / name
        path.write_text(textwrap.dedent(text))
        return path

    def ecosystem(self, *apps: tuple[str, int], name: str = "ecosystem.toml") -> Path:
        """A file of apps running :data:`APP` (name, instances), quick to stop, no timestamps."""
        self.write("app.py", APP)
        tables = [
            f'[[apps]]\nname = "{app}"\nscript = "app.py"\ninstances = {count}\n'
            f'kill_timeout = "2s"\nlog_date_format = ""\n'
            for app, count in apps
        ]
        return self.write(name, "\n".join(tables))


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture
def ptm(ptm_home: Path, tmp_path: Path) -> Iterator[Ptm]:
    runner = Ptm(ptm_home, tmp_path)
    yield runner
    # Whatever happened: stop the daemon (ptm kill, else SIGKILL), then no app may be left.
    with contextlib.suppress(ClientError), Client(ptm_home, autostart=False) as client:
        runner.app_pids.update(row["pid"] for row in client.processes() if row["pid"])
    daemon = runner.daemon_pid()
    problems = []
    try:
        killed = runner("kill", timeout=60)
    except subprocess.TimeoutExpired:  # a wedged daemon: still SIGKILLed below
        problems.append("ptm kill did not return within 60 s")
    else:
        if killed.returncode != 0:
            problems.append(f"ptm kill failed: {killed.stderr}")
    if daemon is not None and alive(daemon):
        os.kill(daemon, signal.SIGKILL)
        problems.append(f"daemon {daemon} survived ptm kill")
    left = wait_gone(runner.app_pids, 10)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        problems.append(f"app processes left running: {sorted(left)}")
    assert not problems, problems
