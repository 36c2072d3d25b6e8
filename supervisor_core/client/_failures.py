"""What a failure of a call to the daemon means, as one :class:`ClientError` or another.

Both ways of talking to the daemon use these, so that a failure reads the same whichever one
carried the call: the standard library's GET (``_light.py``: ``ptm jlist``, ``list``, ``ping``)
and httpx (``_http.py``: commands that send a body, and the streams). Each maps its own
exceptions onto these few cases: the connect failed (:func:`connect_failure`), the daemon was
too slow (:func:`timed_out`), the connection broke or the answer was not HTTP
(:func:`lost_connection`), and an answer came (:func:`decoded`, :func:`api_error`).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from supervisor_core._home import Home
from supervisor_core.errors import (
    ApiError,
    ClientError,
    DaemonNotRunning,
    PtmError,
    SocketPermissionDenied,
)

__all__ = [
    "api_error",
    "connect_errno",
    "connect_failure",
    "decoded",
    "lost_connection",
    "timed_out",
]


def connect_failure(path: Path, exc: BaseException) -> PtmError:
    """The ClientError for a failed connect to ``path`` (``exc``, or an error it wraps); a
    :class:`ConfigError` naming ``PTM_HOME`` when the folder ``path`` is in cannot hold a
    socket (it is a file, or the path is too long)."""
    home = Home(path.parent)
    too_long = home.socket_too_long()
    if too_long is not None:
        return too_long
    code = connect_errno(exc)
    if code == errno.ENOTDIR:
        return home.unusable(NotADirectoryError(code, os.strerror(code)))
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


def timed_out(what: str, timeout: float, home: Path) -> ClientError:
    """The daemon took longer than ``timeout`` to answer ``what`` (``"GET /v1/processes"``)."""
    return ClientError(
        f"the daemon did not answer {what} within {timeout:g} s (see {home / 'daemon.log'})"
    )


def lost_connection(what: str, exc: BaseException) -> ClientError:
    """The connection broke during ``what``, or what came back was not HTTP."""
    return ClientError(f"lost the connection to the daemon during {what}: {exc}")


def decoded(status: int, body: bytes, what: str) -> Any:
    """The JSON of an answer; an :class:`ApiError` for an error status."""
    if status >= 400:
        raise api_error(status, body, what)
    try:
        return json.loads(body)
    except ValueError:
        raise ClientError(f"the daemon answered {what} with something that is not JSON") from None


def api_error(status: int, body: bytes, what: str) -> ApiError:
    """The daemon's error answer: its ``{"error", "kind"}`` when it sent one, else a message
    naming the status (``kind`` ``internal`` for 5xx, ``bad_request`` for the rest)."""
    kind = "internal" if status >= 500 else "bad_request"
    message = f"the daemon answered {status} to {what}"
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        if isinstance(answer.get("error"), str) and answer["error"]:
            message = answer["error"]
        if isinstance(answer.get("kind"), str):
            kind = answer["kind"]
    return ApiError(message, status=status, kind=kind)
