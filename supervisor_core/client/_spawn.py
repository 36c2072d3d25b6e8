"""Start the daemon on first use: one daemon per ``$PTM_HOME``, even when commands race.

``ensure_daemon`` asks the socket first; only when nothing answers does it take an exclusive
``flock`` on ``$PTM_HOME/daemon.lock``, ask again (another command may have started the daemon
while we waited for the lock) and then spawn ``python -m supervisor_core.daemon`` in a new
session, its output appended to ``$PTM_HOME/daemon.log``. It returns once the daemon answers
``GET /v1/info``, or raises :class:`~supervisor_core.errors.DaemonNotRunning` quoting the end of
``daemon.log`` when the daemon exits first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from supervisor_core._home import Home
from supervisor_core._httpx import httpx
from supervisor_core.client._socket import check_socket
from supervisor_core.errors import ClientError, DaemonNotRunning

__all__ = ["DAEMON_COMMAND", "ensure_daemon"]

DAEMON_COMMAND = ("-m", "supervisor_core.daemon")
"""Arguments after ``sys.executable`` that run the daemon."""

_POLL = 0.005
"""Seconds between two looks for the new daemon's socket (a failed look is one connect()
to a missing path, a few microseconds: polling often costs nothing and answers sooner)."""
_QUOTED_LINES = 3


def ensure_daemon(home: Path | None = None, *, timeout: float = 10.0) -> int:
    """Make sure a daemon serves ``home`` (default ``$PTM_HOME``); return its pid.

    Starts one if none answers, and waits up to ``timeout`` seconds for it to answer.
    """
    home = home if home is not None else Home.from_env().root
    return start_daemon(home, [sys.executable, *DAEMON_COMMAND], timeout=timeout)


def start_daemon(home: Path, argv: Sequence[str], *, timeout: float = 10.0) -> int:
    """:func:`ensure_daemon` with the daemon's command line given (tests use a fake daemon)."""
    files = Home(home)
    with _Probe(files.socket) as probe:
        pid = probe.pid()
        if pid is not None:
            return pid
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(files.spawn_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pid = probe.pid()  # started by another command while we waited for the lock?
            if pid is not None:
                return pid
            return _spawn_and_wait(home, argv, probe, timeout)
        finally:
            os.close(lock)  # releases the lock


def _spawn_and_wait(home: Path, argv: Sequence[str], probe: _Probe, timeout: float) -> int:
    log_path = Home(home).daemon_log
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        offset = os.fstat(log).st_size
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
        ]
        env = {**os.environ, "PTM_HOME": str(home)}
        try:
            child = os.posix_spawn(argv[0], list(argv), env, file_actions=actions, setsid=True)
        except OSError as exc:
            raise DaemonNotRunning(
                f"cannot start the daemon ({argv[0]}): {exc.strerror or exc}"
            ) from None
    finally:
        os.close(log)
    deadline = time.monotonic() + timeout
    while True:
        pid = probe.pid()
        if pid is not None:
            return pid
        code = _exit_status(child)
        if code is not None:
            raise DaemonNotRunning(
                f"the daemon exited ({code}) while starting; {log_path}: {_tail(log_path, offset)}"
            )
        if time.monotonic() >= deadline:
            raise DaemonNotRunning(
                f"the daemon (pid {child}) did not answer on {probe.socket} within {timeout:g} s;"
                f" see {log_path}"
            )
        time.sleep(_POLL)


def _exit_status(pid: int) -> str | None:
    """How our child ``pid`` ended (reaping it), or None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "exit status unknown"
    if done == 0:
        return None
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _tail(path: Path, offset: int) -> str:
    """The last few non-empty lines written to ``path`` after ``offset``, as one line."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            text = file.read()[-8192:].decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read it: {exc.strerror or exc})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-_QUOTED_LINES:]) or "(nothing written)"


class _Probe:
    """Asks ``GET /v1/info`` on the socket: the daemon's pid, or None when nothing answers."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket), verify=False),
            base_url="http://ptm",
            timeout=2.0,
            trust_env=False,
        )

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def pid(self) -> int | None:
        try:
            check_socket(self.socket, timeout=2.0)
        except DaemonNotRunning:
            return None  # no socket yet, or a stale one left by a daemon that died
        try:
            response = self._http.get("/v1/info")
        except httpx.TransportError:
            return None  # a hung daemon, or one going away: a new one may start
        with contextlib.suppress(ValueError):
            body = response.json()
            pid = body.get("pid") if isinstance(body, dict) else None
            if response.status_code == 200 and isinstance(pid, int):
                return pid
        raise ClientError(
            f"{self.socket} answers GET /v1/info with {response.status_code}, not ptm's daemon"
        )
