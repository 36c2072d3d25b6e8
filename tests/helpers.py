"""Building blocks for tests that run real child processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil

from supervisor_core.config import (
    AppSpec,
    MemoryPolicy,
    RestartPolicy,
    StopPolicy,
    load_ecosystem,
)
from supervisor_core.config._specs import LogSpec
from supervisor_core.daemon._restore import stored_apps as _stored_apps
from supervisor_core.store import StoredApp


def python_app(
    tmp_path: Path,
    name: str,
    code: str,
    *,
    restart: RestartPolicy | None = None,
    stop: StopPolicy | None = None,
    memory: MemoryPolicy | None = None,
    instances: int = 1,
    env: dict[str, str] | None = None,
    logs: LogSpec | None = None,
    args: tuple[str, ...] = (),
) -> AppSpec:
    """An app running ``code`` (dedented) with this Python."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    return AppSpec(
        name=name,
        argv=(sys.executable, str(script), *args),
        cwd=tmp_path,
        script=str(script),
        instances=instances,
        env=env or {},
        restart=restart or RestartPolicy(),
        stop=stop or StopPolicy(kill_timeout=2.0),
        memory=memory or MemoryPolicy(),
        logs=logs,
    )


class Output:
    """Collects every output line a supervisor reports; tests wait on it with a deadline."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        self._changed = anyio.Event()

    def __call__(self, app: str, instance: int, stream: str, lines: list[bytes]) -> None:
        self.lines[(app, stream)].extend(lines)
        self._changed.set()
        self._changed = anyio.Event()

    def of(self, app: str, stream: str = "out") -> list[bytes]:
        return self.lines[(app, stream)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_if_alive(pids: list[int]) -> None:
    """Last-resort cleanup of processes a test started (by pid, never by name)."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait, with a deadline, until ``predicate()`` holds (for facts with no event to await,
    such as a file's content)."""
    with anyio.fail_after(timeout):
        while True:
            if predicate():
                return
            await anyio.sleep(0.02)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stored_apps_from_file(path: str | Path, env: str | None = None) -> list[StoredApp]:
    """What the daemon stores of each app of the ecosystem file at ``path`` (read once)."""
    return [stored for _, stored in _stored_apps(load_ecosystem(path, env))]


_SQLITE_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    db.execute("PRAGMA locking_mode = EXCLUSIVE")  # readers are shut out too, until we exit
    db.execute("BEGIN EXCLUSIVE")
else:
    db.execute("BEGIN IMMEDIATE")  # the write lock: others can read, not write
db.execute("UPDATE apps SET desired = desired")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def sqlite_locker(path: Path, *, exclusive: bool = False) -> subprocess.Popen[str]:
    """Another process holding the write lock of the SQLite file at ``path`` (``exclusive``:
    readers are shut out too), returned once it holds it; closing its stdin
    (``communicate()``) lets the lock go. The caller kills it if it is still running."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _SQLITE_LOCKER, str(path), "exclusive" if exclusive else "write"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    except BaseException:
        locker.kill()
        locker.wait()
        raise
    return locker
