"""``point-tron``: the service's entry point.

Start: load settings (a bad value: one line on stderr, exit 2) → bind the listening socket
(or take fd 3 when started with ``LISTEN_FDS``) → open the database (migrations) → create the
default admin if absent → start the poller → serve with uvicorn, logging one ``listening``
line. SIGTERM/SIGINT: stop taking requests, close WebSockets, stop the poller after the
batch being written, close the database, exit 0. A second signal forces the HTTP side down.

Fault drill (for operators testing their supervision): with ``POINT_TRON_FAULT_DRILLS=1``,
SIGUSR2 stops the poll loop as if it had crashed, so ``/health`` answers 503 and a health
check should restart the service. Without it SIGUSR2 is logged and ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from point_tron.app import create_app
from point_tron.auth import ensure_default_admin
from point_tron.config import DEFAULT_JWT_SECRET, Settings, load_settings
from point_tron.db import Database
from point_tron.errors import SettingsError
from point_tron.ingest import Poller
from point_tron.logging import configure_logging
from point_tron.routes.config import apply_stored_config
from point_tron.sdnotify import sd_notify
from point_tron.secret_file import SecretFileError, load_or_create_secret, secret_path

__all__ = ["CloseWhenDraining", "main", "serve", "stop_accepting"]

log = logging.getLogger("point_tron")

SYSTEMD_FIRST_FD = 3
FAULT_DRILLS_ENV = "POINT_TRON_FAULT_DRILLS"
GRACEFUL_SHUTDOWN_S = 2.0  # in-flight requests get this long; well inside ptm's 5 s kill_timeout


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (``serve`` owns the signals), telling when up."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_started()


def _listening_socket(settings: Settings) -> socket.socket:
    """fd 3 when a supervisor passed a socket (LISTEN_FDS), else a new one on HOST:PORT."""
    if settings.listen_fds >= 1:
        for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)  # not for our children
        sock = socket.socket(fileno=SYSTEMD_FIRST_FD)
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # accepted sockets inherit it
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose
    # listener says TCP; without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


async def _run_poller(
    poller: Poller, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """The poll loop; if it ever crashes, log it and leave ``/health`` to report it (503)."""
    try:
        await poller.run(task_status=task_status)
    except Exception:
        log.exception("the poll loop crashed")


async def _watch_fault_drills(
    poller_scope: anyio.CancelScope,
    enabled: bool,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """SIGUSR2: kill the poll loop (a fault drill) when ``enabled``; else log and ignore it."""
    with anyio.open_signal_receiver(signal.SIGUSR2) as signals:
        task_status.started()
        async for _ in signals:
            if not enabled:
                log.warning(f"SIGUSR2 ignored: fault drills are off ({FAULT_DRILLS_ENV} is not 1)")
            elif poller_scope.cancel_called:
                log.warning("SIGUSR2: fault drill: the poll loop is already dead")
            else:
                log.warning("SIGUSR2: fault drill: killing the poll loop; /health will answer 503")
                poller_scope.cancel()


async def stop_accepting(server: uvicorn.Server) -> None:
    """Stop taking new connections; keep every connection already accepted.

    Not asyncio's ``Server.close()`` at once: a connection accepted in the same loop
    iteration is set up by a task that has not run yet, and once the server is closed that
    task fails an assertion (``Server._attach``) and drops the connection unanswered (the
    client of a rolling reload sees ``ReadError``). So: remove the listener's reader (no
    more accepting), let those tasks take their first step (one iteration: they attach
    their connection there), then close. Closing our listener refuses new connections at
    once rather than queueing them to be reset at exit; behind a shared socket (fd 3) it
    closes only our descriptor and the other instances take them. Before uvicorn has
    started there is nothing to stop.
    """
    listeners = list(getattr(server, "servers", ()))  # set by uvicorn's startup
    loop = asyncio.get_running_loop()
    for listener in listeners:
        for sock in listener.sockets:
            loop.remove_reader(sock.fileno())
    await anyio.lowlevel.checkpoint()
    for listener in listeners:
        listener.close()


class CloseWhenDraining:
    """ASGI wrapper: once ``draining`` is set, every HTTP response says ``Connection: close``.

    A keep-alive client then opens its next connection elsewhere (another instance behind
    the shared socket) instead of reusing one that this process is about to close, which
    would race with the client's next request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.draining:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


DRAIN_S = 0.5
"""After SIGTERM: how long connections accepted just before get to send their request."""


async def _watch_signals(
    server: _Server,
    closer: CloseWhenDraining,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if server.should_exit:
                log.warning(f"{name} again: forcing shutdown")
                server.force_exit = True
            else:
                log.info(f"{name}: shutting down")
                # Stop accepting first, then let connections accepted a moment ago send their
                # request: uvicorn's shutdown closes idle connections at once, which would
                # drop them. With a socket shared by several instances (ptm's cluster mode),
                # the others take every new connection meanwhile.
                closer.draining = True
                await stop_accepting(server)
                await anyio.sleep(DRAIN_S)
                server.should_exit = True


async def serve(settings: Settings, sock: socket.socket, *, fault_drills: bool = False) -> int:
    """Run the service on ``sock`` until a signal; returns the exit code. ``fault_drills``:
    SIGUSR2 kills the poll loop (else it is ignored)."""
    started_at = time.time()
    db = await Database.open(settings.db_path)
    try:
        if await ensure_default_admin(
            db, settings.default_admin_username, settings.default_admin_password
        ):
            log.info(f"created the default admin user {settings.default_admin_username!r}")
        poller = Poller(db, settings, stats_tz=settings.stats_tz, polls=settings.polls)
        if not settings.polls:
            log.info("not polling the node (POLLER): following the blocks another instance stores")
        await apply_stored_config(db, settings, poller)
        app = create_app(settings, db, poller, started_at=started_at)
        host, port = sock.getsockname()[:2]

        def announce() -> None:
            log.info(
                f"listening on http://{host}:{port}",
                extra={"fields": {"host": host, "port": port, "pid": os.getpid()}},
            )
            sd_notify(f"READY=1\nSTATUS=listening on http://{host}:{port}")

        closer = CloseWhenDraining(app)
        config = uvicorn.Config(
            closer,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
            server_header=False,
            # X-Forwarded-For decides the client address (the login rate limit's key): only
            # from proxies named in TRUSTED_PROXIES, never by default (uvicorn would trust
            # 127.0.0.1, so anything on the host could rotate it to dodge the limit).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=list(settings.trusted_proxies) or "",
        )
        server = _Server(config, announce)
        poller_scope = anyio.CancelScope()

        async def run_poller(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            with poller_scope:
                await _run_poller(poller, task_status=task_status)

        async with anyio.create_task_group() as tg:
            await tg.start(run_poller)
            await tg.start(_watch_signals, server, closer)
            await tg.start(_watch_fault_drills, poller_scope, fault_drills)
            await server.serve(sockets=[sock])
            sd_notify("STOPPING=1")
            log.info("http server stopped; stopping the poller")
            with anyio.move_on_after(GRACEFUL_SHUTDOWN_S):
                await poller.stop()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await db.close()
    log.info("stopped")
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="point-tron",
        description="TRON block statistics with an admin dashboard. Configured by environment"
        " variables (PORT, DB_PATH, TRON_RPC_URL, ...); see docs/point-tron.md.",
    )
    parser.add_argument("--host", help="listen address (overrides HOST)")
    parser.add_argument("--port", help="listen port (overrides PORT)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    environ: dict[str, str] = dict(os.environ)
    if args.host is not None:
        environ["HOST"] = args.host
    if args.port is not None:
        environ["PORT"] = args.port
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        print(f"point-tron: {exc}", file=sys.stderr)
        return 2
    if len(settings.default_admin_password.encode()) > 72:
        print(
            "point-tron: DEFAULT_ADMIN_PASSWORD is longer than 72 bytes (bcrypt's limit)",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level, settings.log_dir, log_name=settings.log_name)
    if settings.jwt_secret is None:
        path = secret_path(settings.db_path)
        try:
            secret, created = load_or_create_secret(settings.db_path)
        except SecretFileError as exc:
            print(f"point-tron: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"point-tron: {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        settings = dataclasses.replace(settings, jwt_secret=secret)
        if created:
            log.info(
                f"generated a JWT secret in {path} (mode 0600); it is used from now on"
                " (set JWT_SECRET to use your own)"
            )
    elif settings.jwt_secret == DEFAULT_JWT_SECRET:
        log.warning(
            "JWT_SECRET is the published default: anyone can make a valid admin token;"
            " unset it (a random secret is then generated beside the database) or set your own"
        )
    elif len(settings.jwt_secret.encode()) < 32:
        log.warning("JWT_SECRET is shorter than 32 bytes; use a longer random secret")
    try:
        sock = _listening_socket(settings)
    except OSError as exc:
        where = "fd 3" if settings.listen_fds else f"{settings.host}:{settings.port}"
        print(f"point-tron: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        drills = environ.get(FAULT_DRILLS_ENV) == "1"
        result: Any = anyio.run(functools.partial(serve, settings, sock, fault_drills=drills))
    finally:
        sock.close()
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
