"""Serving the simulator with uvicorn, able to drop a connection without answering."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.abc
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from point_tron.sim._app import ABORT_SCOPE_KEY, build_app
from point_tron.sim._chain import Chain
from point_tron.sim._faults import Faults

__all__ = ["SimServer", "serve_sim"]

STARTUP_TIMEOUT_S = 10.0


class _DroppingH11(H11Protocol):
    """uvicorn's h11 protocol that lets the app abort the TCP connection (a "dropped" reply)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner: ASGIApp = self.app

        async def with_abort(scope: Scope, receive: Receive, send: Send) -> None:
            scope[ABORT_SCOPE_KEY] = self._abort
            await inner(scope, receive, send)

        self.app = with_abort

    def _abort(self) -> None:
        self.transport.abort()


class _Server(uvicorn.Server):
    """Leaves signals to its owner (the CLI handles them; tests have none)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SimServer:
    """One uvicorn server for a simulator app on host:port (port 0: a free one)."""

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.host = host
        self.port = port
        self.url = ""
        config = uvicorn.Config(
            app, http=_DroppingH11, ws="none", lifespan="off", log_level=log_level
        )
        self._server = _Server(config)
        self._sock: socket.socket | None = None

    def bind(self) -> str:
        """Bind the listening socket now (raises OSError); the URL, with the real port."""
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self.port = sock.getsockname()[1]
            self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind (unless bound) and serve; `task_status.started(url)` once accepting.

        Returns after shutdown().
        """
        self.bind()
        assert self._sock is not None
        with self._sock:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._server.serve, [self._sock])
                with anyio.fail_after(STARTUP_TIMEOUT_S):
                    while not self._server.started:
                        if self._server.should_exit:
                            raise OSError(f"tron-sim could not serve on {self.url}")
                        await anyio.sleep(0.005)
                task_status.started(self.url)
        self._sock = None

    def shutdown(self) -> None:
        self._server.should_exit = True


@asynccontextmanager
async def serve_sim(
    chain: Chain, faults: Faults | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve `chain` over real HTTP for the block; yields the base URL."""
    server = SimServer(build_app(chain, faults, fault_seed=chain.spec.seed), host=host, port=port)
    async with anyio.create_task_group() as tg:
        url = await tg.start(server.serve)
        try:
            yield url
        finally:
            server.shutdown()
