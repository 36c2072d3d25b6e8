"""The one exception tree of ptm.

::

    PtmError                      everything ptm raises on purpose
    ├── ConfigError               a bad ecosystem file or value (file, key path, value)
    ├── ProcessError              a managed process could not be spawned, signalled or found
    │   ├── SpawnError            exec failed: missing program, bad cwd, permission
    │   └── UnknownAppError       no app (or instance) matches a name or id
    ├── StateError                an operation that the current state does not allow
    ├── LogError                  a log file could not be opened, written or rotated
    ├── BadRequest                a request to the daemon's API is malformed (daemon side)
    └── ClientError               talking to the daemon failed
        ├── DaemonNotRunning      no daemon answers on the socket (and none could be started)
        ├── SocketPermissionDenied  the socket belongs to someone else
        └── ApiError              the daemon answered with an error (status, kind, message)

Library code raises these; only the command line turns them into exit codes and one-line
messages. Nothing here ever calls ``sys.exit``.

``BadRequest`` is raised and answered inside the daemon (400, kind ``bad_request``): a program
using ptm meets it only as an :class:`ApiError` with that kind, so it is not part of the public
API (``__all__`` here and in ``supervisor_core``).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ClientError",
    "ConfigError",
    "DaemonNotRunning",
    "LogError",
    "ProcessError",
    "PtmError",
    "SocketPermissionDenied",
    "SpawnError",
    "StateError",
    "UnknownAppError",
]


class PtmError(Exception):
    """Base class of every error ptm raises on purpose."""


class ConfigError(PtmError):
    """An ecosystem file (or a value given on the command line) is wrong.

    ``file``, ``key`` and ``value`` say where; ``str(err)`` is one line naming all three.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        value: object = None,
        has_value: bool = False,
    ) -> None:
        self.file = file
        self.key = key
        self.value = value
        self.has_value = has_value
        self.reason = message
        parts: list[str] = []
        if file:
            parts.append(f"{file}:")
        if key:
            parts.append(f"{key}:")
        text = message
        if has_value:
            text = f"{message} (got {_shown(value)})"
        parts.append(text)
        super().__init__(" ".join(parts))


class ProcessError(PtmError):
    """A managed process could not be spawned, signalled or found."""


class SpawnError(ProcessError):
    """The program of an app could not be executed."""


class UnknownAppError(ProcessError):
    """No app or instance matches the given name or id."""


class StateError(PtmError):
    """The operation is not allowed in the current state (an illegal transition)."""


class LogError(PtmError):
    """A log file could not be opened, written or rotated."""


class BadRequest(PtmError):
    """A request to the daemon's API is malformed: bad JSON, a missing or mistyped field."""


class ClientError(PtmError):
    """Talking to the daemon failed."""


class DaemonNotRunning(ClientError):
    """No daemon answers on the socket, and none could be started."""


class SocketPermissionDenied(ClientError):
    """The socket exists but belongs to another user (or its mode forbids us)."""


class ApiError(ClientError):
    """The daemon answered with an error.

    ``status`` is the HTTP status, ``kind`` the error kind of docs/api.md (``config``,
    ``unknown_app``, ``state``, ``bad_request``, ``not_found``, ``internal``).
    """

    def __init__(self, message: str, *, status: int, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


_SHOWN_MAX = 200
"""The longest value a config error quotes whole: a 10 MB value gives a line a terminal can
show, its start and its length."""


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) <= _SHOWN_MAX:
        return text
    return f"{text[: _SHOWN_MAX - 40]}... ({len(text):,} characters)"
