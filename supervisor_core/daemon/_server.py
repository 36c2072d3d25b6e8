"""The Unix socket (mode 0600, same-uid peers only) and uvicorn serving the API on it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import socket
import stat
import struct
import time
from collections.abc import Callable, Generator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio

from supervisor_core._throttle import Throttle
from supervisor_core.daemon._uvicorn import Server

__all__ = ["ApiServer", "PeerCheckedSocket", "adopt_socket", "bind_socket", "peer_uid"]

log = logging.getLogger("ptm.daemon")
_THROTTLE = Throttle()

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return int(_UCRED.unpack(raw)[1])


MAX_CONNECTIONS = 256
"""Connections served at once; more are closed as soon as they are accepted. (An idle one is
closed by uvicorn 5 s after its last answer, one that sends no whole request by
:data:`HEAD_TIMEOUT`; the cap keeps a burst from using every descriptor.)"""

HEAD_TIMEOUT = 10.0
"""Seconds a connection has to send a whole request head, from when it was made or its last
answer was sent. uvicorn times only the wait after an answer, and stops at the first byte:
256 connections that each sent half a request held every place for ever, and ``ptm`` could
no longer reach the daemon."""

_SHED_ERRORS = (errno.EMFILE, errno.ENFILE)


class PeerCheckedSocket(socket.socket):
    """A listening Unix socket whose ``accept`` closes connections from another uid, and
    connections beyond :attr:`limit` (``live`` says how many are open).

    asyncio's server calls ``accept()`` on the socket it is given, so the checks happen
    before a single byte is read, whatever serves the connection. Out of descriptors,
    ``accept`` sheds the waiting connection through a descriptor kept in reserve, instead of
    raising: asyncio (3.11) would log the error once per backlog slot and schedule as many
    retries, each doing the same, which filled ``daemon.log`` at 13 MB a second.
    """

    refused = 0
    shed = 0
    limit = MAX_CONNECTIONS
    live: Callable[[], int] | None = None
    _spare: int | None = None

    def keep_spare(self) -> None:
        """Hold one descriptor in reserve for shedding (see the class docstring)."""
        if self._spare is None:
            with contextlib.suppress(OSError):
                self._spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def accept(self) -> tuple[socket.socket, object]:
        while True:
            try:
                conn, address = super().accept()
            except OSError as exc:
                if exc.errno not in _SHED_ERRORS:
                    raise
                self._shed_one(exc)
                continue
            if self.live is not None and self.live() >= self.limit:
                self._count_shed(f"more than {self.limit} connections at once")
                conn.close()
                continue
            try:
                uid = peer_uid(conn)
            except OSError:
                uid = -1
            if uid == os.getuid():
                return conn, address
            type(self).refused += 1
            conn.close()

    def _shed_one(self, exc: OSError) -> None:
        """Accept the waiting connection with the spare descriptor and close it at once."""
        if self._spare is None:
            raise BlockingIOError(errno.EAGAIN, "out of descriptors") from exc
        os.close(self._spare)
        self._spare = None
        try:
            conn, _ = super().accept()  # BlockingIOError when nothing waits: asyncio's own
            conn.close()
        finally:
            self.keep_spare()
        self._count_shed(exc.strerror or str(exc))

    def _count_shed(self, why: str) -> None:
        type(self).shed += 1
        _THROTTLE.say(why, f"closed a connection to the socket at once: {why}", log.error)

    def close(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        super().close()


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
    sock.keep_spare()
    return sock


def adopt_socket(fd: int) -> PeerCheckedSocket:
    """The listening socket the previous daemon image bound (``ptm update``): connections
    that arrived during the exec wait in its backlog."""
    sock = PeerCheckedSocket(fileno=fd)
    sock.setblocking(False)
    sock.keep_spare()
    return sock


class ApiServer(Server):
    """uvicorn without its own signal handling (the daemon handles signals in one place) and
    without its 10-per-second housekeeping tick, so an idle daemon stays idle:

    - the ``Date`` header is brought up to date when a request's bytes arrive (at most once
      a second), not by a timer;
    - the loop checking ``should_exit`` sleeps until the next whole second of the monotonic
      clock, the beat the app sampling (:class:`~supervisor_core.monitor.Monitor`) keeps
      too, so both run in one wake-up of the event loop; :meth:`request_exit` ends it at once.

    With :meth:`keep_socket`, each tick also checks that the socket file is still the one it
    listens on: one deleted (or replaced) by hand is bound again, so ``ptm`` can still reach
    the daemon and stop it."""

    _nap: anyio.CancelScope | None = None
    _kept: Path | None = None
    _kept_inode: int | None = None
    _date_second: int | None = None

    def count_connections(self, sock: PeerCheckedSocket) -> None:
        """Let ``sock`` refuse connections past its limit, counting this server's."""
        sock.live = lambda: len(self.server_state.connections)

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
            self.count_connections(sock)
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
        if self._nap is not None:
            self._nap.cancel()

    def refresh_date(self) -> None:
        """The ``Date`` header of the answers, as uvicorn's tick sets it, if a second has
        passed since it was last set."""
        second = int(time.time())
        if second == self._date_second:
            return
        self._date_second = second
        config = self.config
        date = [(b"date", formatdate(second, usegmt=True).encode())] if config.date_header else []
        self.server_state.default_headers = date + config.encoded_headers

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.http_protocol_class = _served(self.config.http_protocol_class, self)
        await super().startup(sockets)

    async def main_loop(self) -> None:
        self.refresh_date()
        # Counter 1: uvicorn's tick checks should_exit (and limit_max_requests) only.
        while not await self.on_tick(1):
            await self._check_socket()
            now = time.monotonic()
            try:
                with anyio.CancelScope() as self._nap:
                    await anyio.sleep(math.floor(now) + 1 - now)
            finally:
                self._nap = None


def _served(protocol: type[asyncio.Protocol], server: ApiServer) -> type[asyncio.Protocol]:
    """uvicorn's h11 ``protocol`` that refreshes ``server``'s ``Date`` header before it reads
    a request (uvicorn reads the server's default headers when a request starts), and closes
    a connection that sends no whole request head within :data:`HEAD_TIMEOUT` (with uvicorn's
    own keep-alive timer, so a connection waiting for its head holds one timer, and a request
    being answered, a follower's stream among them, none)."""
    base: Any = getattr(protocol, "_ptm_base", protocol)

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        base.connection_made(self, transport)
        self._ptm_waiting = time.monotonic()
        _time_the_head(self)

    def data_received(self: Any, data: bytes) -> None:
        server.refresh_date()
        base.data_received(self, data)  # stops uvicorn's (or our) timer first
        _time_the_head(self)

    def on_response_complete(self: Any) -> None:
        self._ptm_waiting = time.monotonic()  # uvicorn's keep-alive timer starts now
        base.on_response_complete(self)

    def head_timeout(self: Any) -> None:
        why = f"closed a connection that sent no whole request in {HEAD_TIMEOUT:g} s"
        _THROTTLE.say("head", why, log.warning)
        base.timeout_keep_alive_handler(self)

    return type(
        f"Served{base.__name__}",
        (base,),
        {
            "connection_made": connection_made,
            "data_received": data_received,
            "on_response_complete": on_response_complete,
            "_ptm_head_timeout": head_timeout,
            "_ptm_base": base,
        },
    )


def _time_the_head(conn: Any) -> None:
    """Arm the head's deadline when ``conn`` waits for a request and nothing times it."""
    cycle = conn.cycle
    waiting = cycle is None or cycle.response_complete
    if not waiting or conn.timeout_keep_alive_task is not None or conn.transport.is_closing():
        return
    left = conn._ptm_waiting + HEAD_TIMEOUT - time.monotonic()
    conn.timeout_keep_alive_task = conn.loop.call_later(max(left, 0), conn._ptm_head_timeout)


def _inode(path: Path) -> int | None:
    """The socket file's inode (None: no socket there)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_ino if stat.S_ISSOCK(info.st_mode) else None
