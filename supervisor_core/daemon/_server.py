"""The Unix socket (mode 0600, same-uid peers only) and uvicorn serving the API on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from collections.abc import Generator
from pathlib import Path

import anyio

from supervisor_core.daemon._uvicorn import uvicorn

__all__ = ["ApiServer", "PeerCheckedSocket", "bind_socket", "peer_uid"]

log = logging.getLogger("ptm.daemon")

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
    :meth:`request_exit` is called, so an idle daemon stays idle.

    With :meth:`keep_socket`, each tick also checks that the socket file is still the one it
    listens on: one deleted (or replaced) by hand is bound again, so ``ptm`` can still reach
    the daemon and stop it."""

    _wake: anyio.Event | None = None
    _kept: Path | None = None
    _kept_inode: int | None = None

    def keep_socket(self, path: Path) -> None:
        """Bind ``path`` again whenever it stops being the socket bound now."""
        self._kept = path
        self._kept_inode = _inode(path)

    async def _check_socket(self) -> None:
        path = self._kept
        if path is None or _inode(path) == self._kept_inode:
            return
        try:
            sock = bind_socket(path)
        except OSError as exc:
            log.error("%s is gone and cannot be bound again: %s", path, exc.strerror or exc)
            self._kept_inode = _inode(path)  # said once; tried again if it changes
            return
        config = self.config

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
            )

        server = await asyncio.get_running_loop().create_server(
            create_protocol, sock=sock, backlog=config.backlog
        )
        self.servers.append(server)
        self._kept_inode = _inode(path)
        log.warning("%s was removed or replaced: listening on it again", path)

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
            await self._check_socket()
            with anyio.move_on_after(1.0):
                await self._wake.wait()


def _inode(path: Path) -> int | None:
    """The socket file's inode (None: no socket there)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_ino if stat.S_ISSOCK(info.st_mode) else None
