"""The Unix socket (mode 0600, same-uid peers only) and uvicorn serving the API on it."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Generator
from pathlib import Path

import anyio

from supervisor_core.daemon._uvicorn import uvicorn

__all__ = ["ApiServer", "PeerCheckedSocket", "bind_socket", "peer_uid"]

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return int(_UCRED.unpack(raw)[1])


class PeerCheckedSocket(socket.socket):
    """A listening Unix socket whose ``accept`` closes connections from another uid.

    asyncio's server calls ``accept()`` on the socket it is given, so the check happens
    before a single byte is read, whatever serves the connection.
    """

    refused = 0

    def accept(self) -> tuple[socket.socket, object]:
        while True:
            conn, address = super().accept()
            try:
                uid = peer_uid(conn)
            except OSError:
                uid = -1
            if uid == os.getuid():
                return conn, address
            type(self).refused += 1
            conn.close()


def bind_socket(path: Path) -> PeerCheckedSocket:
    """Bind ``path`` with mode 0600 (never world-accessible, not even for an instant).

    The caller holds the daemon's pid lock, so a socket file already there is stale (left by
    a daemon killed with SIGKILL) and is removed.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = PeerCheckedSocket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling (the daemon handles signals in one place) and
    without its 10-per-second housekeeping tick: it wakes once a second, or at once when
    :meth:`request_exit` is called, so an idle daemon stays idle."""

    _wake: anyio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True
        if self._wake is not None:
            self._wake.set()

    async def main_loop(self) -> None:
        self._wake = anyio.Event()
        while not await self.on_tick(0):  # counter 0: refresh the Date header each second
            with anyio.move_on_after(1.0):
                await self._wake.wait()
