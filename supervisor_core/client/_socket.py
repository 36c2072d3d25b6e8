"""Connecting to the daemon's socket, and what a failure to connect means."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from supervisor_core.errors import ClientError, DaemonNotRunning, SocketPermissionDenied

__all__ = ["check_socket", "connect_errno", "connect_failure"]


def check_socket(path: Path, timeout: float) -> None:
    """Connect to ``path`` once and hang up, raising what a failed connect means.

    Asked before httpx connects, because httpcore leaks the socket of a refused connect
    (a ResourceWarning in the caller's process).
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(timeout)
        probe.connect(str(path))
    except OSError as exc:
        raise connect_failure(path, exc) from None
    finally:
        probe.close()


def connect_failure(path: Path, exc: BaseException) -> ClientError:
    """The ClientError for a failed connect to ``path`` (``exc``, or an error it wraps)."""
    code = connect_errno(exc)
    if code == errno.ENOENT:
        return DaemonNotRunning(f"daemon not running (no socket at {path})")
    if code == errno.ECONNREFUSED:
        return DaemonNotRunning(f"daemon not running (nothing answers at {path})")
    if code in (errno.EACCES, errno.EPERM):
        return SocketPermissionDenied(f"permission denied on {path} (is it another user's daemon?)")
    if isinstance(exc, TimeoutError):
        return ClientError(f"the daemon did not accept a connection on {path} in time")
    return ClientError(f"cannot connect to {path}: {exc}")


def connect_errno(exc: BaseException) -> int | None:
    """The errno of ``exc``, or of the OSError an httpx/httpcore error was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None
