"""Start the daemon on first use: one daemon per ``$PTM_HOME``, even when commands race.

``ensure_daemon`` asks the socket first; only when nothing answers does it take an exclusive
``flock`` on ``$PTM_HOME/daemon.lock``, ask again (another command may have started the daemon
while we waited for the lock) and then spawn ``python -m supervisor_core.daemon`` in a new
session, its output appended to ``$PTM_HOME/daemon.log``. It returns once the daemon answers
``GET /v1/info``, or raises :class:`~supervisor_core.errors.DaemonNotRunning` quoting the end of
``daemon.log`` when the daemon exits first.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from supervisor_core._home import Home
from supervisor_core.client._failures import connect_failure
from supervisor_core.client._light import BadAnswer, ConnectFailed, get
from supervisor_core.errors import ClientError, DaemonNotRunning

__all__ = ["DAEMON_COMMAND", "daemon_pid", "ensure_daemon"]

DAEMON_COMMAND = ("-P", "-m", "supervisor_core.daemon")
"""Arguments after ``sys.executable`` that run the daemon. ``-P``: the daemon starts in the
folder of the command that starts it, and ``-m`` alone would put that folder first on
``sys.path``, so a project's own ``json.py`` (or another ptm checkout) would be imported in
place of the daemon's modules."""

_POLL = 0.005
"""Seconds between two looks for the new daemon's socket (a failed look is one connect()
to a missing path, a few microseconds: polling often costs nothing and answers sooner)."""
_QUOTED_LINES = 3
_PROBE_TIMEOUT = 2.0


def ensure_daemon(home: Path | None = None, *, timeout: float = 10.0) -> int:
    """Make sure a daemon serves ``home`` (default ``$PTM_HOME``); return its pid.

    Starts one if none answers, and waits up to ``timeout`` seconds for it to answer.
    """
    home = home if home is not None else Home.from_env().root
    return start_daemon(home, [sys.executable, *DAEMON_COMMAND], timeout=timeout)


def start_daemon(home: Path, argv: Sequence[str], *, timeout: float = 10.0) -> int:
    """:func:`ensure_daemon` with the daemon's command line given (tests use a fake daemon)."""
    files = Home(home)
    pid = daemon_pid(files.socket)
    if pid is not None:
        return pid
    files.create()  # PTM_HOME that cannot be a folder: a ConfigError naming it
    try:
        lock = os.open(files.spawn_lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise files.unusable(exc) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = daemon_pid(files.socket)  # started by another command while we waited for it?
        if pid is not None:
            return pid
        return _spawn_and_wait(home, argv, timeout)
    finally:
        os.close(lock)  # releases the lock


def daemon_pid(socket: Path) -> int | None:
    """Ask ``GET /v1/info`` on ``socket``: the daemon's pid, or None when nothing answers.

    A socket we may not open raises (:class:`SocketPermissionDenied`), and so does one that
    answers something else than ptm's daemon would.
    """
    try:
        status, body = get(socket, "/v1/info", _PROBE_TIMEOUT)
    except ConnectFailed as exc:
        failure = connect_failure(socket, exc.error)
        if isinstance(failure, DaemonNotRunning):
            return None  # no socket yet, or a stale one left by a daemon that died
        raise failure from None
    except (OSError, BadAnswer):
        return None  # a hung daemon, or one going away: a new one may start
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    pid = answer.get("pid") if isinstance(answer, dict) else None
    if status == 200 and isinstance(pid, int):
        return pid
    raise ClientError(f"{socket} answers GET /v1/info with {status}, not ptm's daemon")


def _spawn_and_wait(home: Path, argv: Sequence[str], timeout: float) -> int:
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
    socket = Home(home).socket
    while True:
        pid = daemon_pid(socket)
        if pid is not None:
            return pid
        code = _exit_status(child)
        if code is not None:
            raise DaemonNotRunning(
                f"the daemon exited ({code}) while starting; {log_path}: {_tail(log_path, offset)}"
            )
        if time.monotonic() >= deadline:
            raise DaemonNotRunning(
                f"the daemon (pid {child}) did not answer on {socket} within {timeout:g} s;"
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
