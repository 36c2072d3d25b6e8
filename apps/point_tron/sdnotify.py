"""The sd_notify protocol: tell a supervisor (systemd, ptm) that the service is ready.

A datagram like ``READY=1`` to the Unix socket named by ``$NOTIFY_SOCKET`` (a path, or
``@name`` for the abstract namespace). Without the variable this does nothing.
"""

from __future__ import annotations

import os
import socket

__all__ = ["sd_notify"]


def sd_notify(state: str, *, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1\\nSTATUS=serving"``); True if it was sent."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError:
        return False
    return True
