"""``$NOTIFY_SOCKET``: the sd_notify protocol, so apps written for systemd work unchanged.

One datagram socket per supervisor, in a private folder (0700). ``SO_PASSCRED`` makes the
kernel attach the sender's pid to every datagram, so a message is trusted only if it comes
from a process ptm started (or one of its descendants).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio

__all__ = ["NotifySocket", "parse_notify"]

_UCRED = struct.Struct("3i")  # pid, uid, gid
MAX_DATAGRAM = 4096


def parse_notify(data: bytes) -> dict[str, str]:
    """``READY=1\\nSTATUS=...`` → {"READY": "1", "STATUS": "..."}; junk lines are skipped."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


class NotifySocket:
    """Receives sd_notify datagrams and hands ``(pid, fields)`` to a callback."""

    def __init__(self, adopt: tuple[int, str] | None = None) -> None:
        if adopt is not None:  # the previous daemon image's socket (ptm update)
            fd, path = adopt
            self.path = Path(path)
            self._folder = self.path.parent
            self._sock = socket.socket(fileno=fd)
            self._sock.set_inheritable(False)
            return
        self._folder = Path(tempfile.mkdtemp(prefix="ptm-notify-"))
        self.path = self._folder / "notify.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.bind(str(self.path))
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self._sock.setblocking(False)
        except OSError:
            self.close()
            raise

    async def serve(self, on_message: Callable[[int, dict[str, str]], None]) -> None:
        """Read datagrams until cancelled."""
        uid = os.getuid()
        while True:
            await anyio.wait_readable(self._sock)
            while True:
                try:
                    data, ancillary, _flags, _addr = self._sock.recvmsg(
                        MAX_DATAGRAM, socket.CMSG_SPACE(_UCRED.size)
                    )
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                pid = None
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        sender_pid, sender_uid, _gid = _UCRED.unpack(payload[: _UCRED.size])
                        if sender_uid == uid:
                            pid = sender_pid
                if pid is not None:
                    with contextlib.suppress(Exception):
                        on_message(pid, parse_notify(data))

    def inheritable(self) -> tuple[int, str]:
        """The socket's descriptor (inheritable across ``execve`` now) and path."""
        self._sock.set_inheritable(True)
        return self._sock.fileno(), str(self.path)

    def close(self) -> None:
        self._sock.close()
        shutil.rmtree(self._folder, ignore_errors=True)
