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
STARTING_WAIT = 300.0
"""How long a daemon that has taken ``ptm.pid`` (so it is ptm's daemon, alive, starting) is
waited for, whatever ``timeout`` says: its start includes stopping what a killed daemon left,
each run up to its app's ``kill_timeout``."""
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
        starting = _starting_daemon(files.pid_file)
        if starting is not None:  # a second daemon would only exit: wait for this one
            pid = _wait_for_starting(files, starting, timeout)
            if pid is not None:
                return pid
        return _spawn_and_wait(home, argv, timeout)  # none, or it was stopping and is gone
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


def _starting_daemon(pid_file: Path) -> int | None:
    """The pid of a ptm daemon that is alive but does not answer yet: it binds its socket
    only once it has restored every app, after stopping what a killed daemon left (up to
    each app's kill_timeout). None when ``ptm.pid`` names no live daemon (a killed one)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    words = cmdline.split(b"\0")
    daemon = b"supervisor_core.daemon" in words or b"daemon" in words[1:3]  # ptm daemon
    return pid if daemon else None


def _wait_for_starting(files: Home, pid: int, timeout: float) -> int | None:
    """The pid of the daemon ``pid`` once it answers; None if it exits first (it was
    stopping, or failed: the next one says why)."""
    deadline = time.monotonic() + max(timeout, STARTING_WAIT)
    while True:
        answered = daemon_pid(files.socket)
        if answered is not None:
            return answered
        if _starting_daemon(files.pid_file) != pid:
            return None
        if time.monotonic() >= deadline:
            raise DaemonNotRunning(
                f"the daemon (pid {pid}) is starting but did not answer on {files.socket}"
                f" within {max(timeout, STARTING_WAIT):g} s; see {files.daemon_log}"
            )
        time.sleep(_POLL * 10)


def _spawn_and_wait(home: Path, argv: Sequence[str], timeout: float) -> int:
    log_path = Home(home).daemon_log
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise Home(home).unusable(exc) from None
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
            if _starting_daemon(Home(home).pid_file) == child:  # ours, and starting
                return _waited_for(child, home, timeout, offset)
            raise DaemonNotRunning(
                f"the daemon (pid {child}) did not answer on {socket} within {timeout:g} s;"
                f" see {log_path}"
            )
        time.sleep(_POLL)


def _waited_for(child: int, home: Path, timeout: float, offset: int) -> int:
    """Our daemon ``child`` took ``ptm.pid`` but is still starting: wait for it (reaping it
    if it exits) as for one another command started."""
    files = Home(home)
    pid = _wait_for_starting(files, child, timeout)
    if pid is not None:
        return pid
    code = _exit_status(child) or "exit status unknown"
    raise DaemonNotRunning(
        f"the daemon exited ({code}) while starting; {files.daemon_log}:"
        f" {_tail(files.daemon_log, offset)}"
    )


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
    return " / ".join(lines[-_QUOTED_LINES:]) or f"(nothing written{_full(path.parent)})"


def _full(folder: Path) -> str:
    """Why a daemon that failed wrote nothing to its log: the disk is full (it could write
    neither its pid nor its reason), or nothing (an empty string)."""
    try:
        disk = os.statvfs(folder)
    except OSError:
        return ""
    root = os.geteuid() == 0  # root may use the blocks kept for it; others may not
    blocks, inodes = (disk.f_bfree, disk.f_ffree) if root else (disk.f_bavail, disk.f_favail)
    if blocks == 0 or (disk.f_files and inodes == 0):
        return f": no space left on the file system of {folder}"
    return ""
