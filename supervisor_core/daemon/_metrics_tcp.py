"""``[daemon] metrics_address``: the metrics on TCP, for Prometheus to scrape.

A small HTTP/1.1 server of its own (asyncio streams), apart from the API: it answers only
``GET /metrics`` (404 elsewhere, 405 for another method), one request per connection, and can
change nothing. With a token (``metrics_token_file``, required for a non-loopback address)
every scrape must send ``Authorization: Bearer <token>``; the comparison takes the same time
whatever the token sent, and a missing or wrong one is answered 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable

__all__ = ["MetricsListener"]

log = logging.getLogger("ptm.daemon")

_MAX_HEAD = 8192
_READ_TIMEOUT = 5.0
_MAX_CONNECTIONS = 16
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class MetricsListener:
    """Serves ``render()`` (the exposition, ``content_type``) on ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        render: Callable[[], bytes],
        content_type: str,
        token: str | None,
    ) -> None:
        self.host = host
        self.port = port
        self._render = render
        self._content_type = content_type
        self._token = None if token is None else f"Bearer {token}".encode()
        self._server: asyncio.Server | None = None
        self._live = 0
        self.refused = 0

    async def start(self) -> None:
        """Bind and listen (raises OSError when the address cannot be bound)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True, limit=_MAX_HEAD
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._live += 1
        try:
            if self._live > _MAX_CONNECTIONS:
                await self._answer(writer, 503, b"too many scrapes at once\n")
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                await self._answer(writer, 400, b"bad request\n")
                return
            if len(head) > _MAX_HEAD:
                await self._answer(writer, 400, b"request head too large\n")
                return
            status, body = self._respond(head)
            await self._answer(writer, status, body, ok=status == 200)
        except (ConnectionError, OSError):
            pass
        finally:
            self._live -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, bytes]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, b"bad request\n"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if target != "/metrics":
            return 404, b"only /metrics is served here\n"
        if method != "GET":
            return 405, b"only GET\n"
        if self._token is not None:
            sent = b""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "authorization":
                    sent = value.strip().encode("latin-1")
            if not hmac.compare_digest(sent, self._token):
                self.refused += 1
                return 401, b"a bearer token is required\n"
        try:
            return 200, self._render()
        except Exception:
            log.exception("metrics scrape failed")
            return 500, b"internal error\n"

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, *, ok: bool = False
    ) -> None:
        kind = self._content_type if ok else "text/plain; charset=utf-8"
        head = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Content-Type: {kind}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if status == 401:
            head.append('WWW-Authenticate: Bearer realm="ptm"')
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
