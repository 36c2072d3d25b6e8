"""Asking whether anything accepts connections on the daemon's socket."""

from __future__ import annotations

import socket
from pathlib import Path

from supervisor_core.client._failures import connect_failure

__all__ = ["check_socket"]


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
