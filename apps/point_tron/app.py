"""The Starlette application: routes, middleware, error handling and the WebSocket hub.

Layers, outermost first: security headers → catch-all (no exception ever escapes as an
HTML 500; it is logged and answered with the JSON envelope) → API auth (401 on ``/api/``
without a valid bearer token) → Starlette's HTTPException handling (JSON 400/404/405; a 404
outside ``/api/`` is the HTML "page not found" with links back) → routes. Error messages are
in the request's language (:mod:`point_tron.i18n`); their ``code`` does not change with it.
The lifespan runs the hub that forwards the poller's new blocks to WebSocket clients.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from point_tron.auth import ApiAuthMiddleware, RateLimiter
from point_tron.routes import auth as auth_routes
from point_tron.routes import blocks as block_routes
from point_tron.routes import config as config_routes
from point_tron.routes import health as health_routes
from point_tron.routes import pages as page_routes
from point_tron.routes import system as system_routes
from point_tron.routes._common import ApiError, fail
from point_tron.ws import WebSocketHub

__all__ = ["LOGIN_RATE_LIMIT", "SECURITY_HEADERS", "AccessLogMiddleware", "AppState", "create_app"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("point_tron.access")

STATIC_DIR = Path(__file__).parent / "static"
LOGIN_RATE_LIMIT = 200  # requests per minute per client on POST /api/auth/login
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": CSP,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


@dataclass
class AppState:
    """What every handler reaches through ``request.app.state.pt``."""

    settings: Any  # point_tron.config.Settings
    db: Any  # point_tron.db.Database
    poller: Any  # point_tron.ingest.Poller
    started_at: float  # time.time() when the service started (for uptime)
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(LOGIN_RATE_LIMIT, 60.0))
    hub: WebSocketHub = field(init=False)

    def __post_init__(self) -> None:
        self.hub = WebSocketHub(self)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(SECURITY_HEADERS)
                if is_api:
                    extra["cache-control"] = "no-store"
                for name, value in extra.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AccessLogMiddleware:
    """``ACCESS_LOG=1``: one INFO line per HTTP request once it is answered, e.g.
    ``GET /api/blocks 200 3.2ms`` with the fields ``method``, ``path`` (without the query
    string, which may hold a token), ``status`` (null when no answer was sent) and ``ms``.
    WebSocket connections are not in it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            ms = round((time.perf_counter() - started) * 1000, 1)
            method, path = scope.get("method", "-"), scope.get("path", "-")
            access_log.info(
                f"{method} {path} {status if status is not None else '-'} {ms}ms",
                extra={"fields": {"method": method, "path": path, "status": status, "ms": ms}},
            )


class CatchAllMiddleware:
    """Log any exception a handler raises and answer 500 in the JSON envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception(
                "unhandled error",
                extra={"fields": {"path": scope.get("path"), "error": repr(exc)}},
            )
            if started:
                return
            if scope["type"] == "http":
                await fail(scope, "internal_error", 500)(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011, "reason": "internal error"})


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if isinstance(exc, ApiError):
        return fail(request, exc.code, exc.status_code, headers, **exc.params)
    where = {"method": request.method, "path": request.url.path}
    if exc.status_code == 404:
        if not request.url.path.startswith("/api/") and request.method in ("GET", "HEAD"):
            return page_routes.not_found_page(request)
        return fail(request, "not_found", 404, headers, **where)
    if exc.status_code == 405:
        return fail(request, "method_not_allowed", 405, headers, **where)
    return fail(request, "http_error", exc.status_code, headers, detail=str(exc.detail))


async def _websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.app.state.pt.hub.serve(websocket)


def create_app(settings: Any, db: Any, poller: Any, *, started_at: float) -> Starlette:
    """Point-Tron's ASGI app over an open ``Database`` and a ``Poller`` (running or not).

    ``settings.jwt_secret`` must be set (``main`` puts the generated one there when
    ``JWT_SECRET`` is unset); ValueError otherwise.
    """
    if not settings.jwt_secret:
        raise ValueError("settings.jwt_secret is unset: no key to sign and check tokens with")
    state = AppState(settings=settings, db=db, poller=poller, started_at=started_at)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            await tg.start(state.hub.run)
            try:
                yield
            finally:
                await state.hub.close_all()
                tg.cancel_scope.cancel()

    routes: list[BaseRoute] = [
        *health_routes.routes,
        *auth_routes.routes,
        *block_routes.routes,
        *config_routes.routes,
        *system_routes.routes,
        *page_routes.routes,
        WebSocketRoute("/ws", _websocket_endpoint),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    access = [Middleware(AccessLogMiddleware)] if getattr(settings, "access_log", False) else []
    app = Starlette(
        routes=routes,
        middleware=[
            *access,
            Middleware(SecurityHeadersMiddleware),
            Middleware(CatchAllMiddleware),
            Middleware(ApiAuthMiddleware),
        ],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    app.state.pt = state
    return app
