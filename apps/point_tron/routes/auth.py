"""``POST /api/auth/login`` (rate-limited, no token) and ``POST /api/auth/verify``."""

from __future__ import annotations

import math

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from point_tron import queries
from point_tron.auth import AuthUser, hash_password, issue_token, verify_password
from point_tron.routes._common import fail, ok, read_json_object, state

__all__ = ["login", "routes", "verify"]

# Checked when the username is unknown, so both failures take a bcrypt check's time.
_DUMMY_HASH = hash_password("point-tron: no such user")


async def login(request: Request) -> JSONResponse:
    pt = state(request)
    client = request.client.host if request.client else "unknown"
    retry_after = pt.login_limiter.hit(client)
    if retry_after is not None:
        return fail(
            request,
            "rate_limited",
            429,
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )
    body = await read_json_object(request)
    username, password = body.get("username"), body.get("password")
    if (
        not isinstance(username, str)
        or not username
        or not isinstance(password, str)
        or not password
    ):
        return fail(request, "credentials_required", 400)
    row = await queries.user_by_username(pt.db.read, username)
    stored_hash = row.password_hash if row is not None else _DUMMY_HASH
    good = await anyio.to_thread.run_sync(verify_password, password, stored_hash)
    if row is None or not good:
        return fail(request, "wrong_credentials", 401)
    user = AuthUser(row.id, row.username)
    token = issue_token(user, pt.settings.jwt_secret, pt.settings.jwt_expires_in_s)
    return ok({"token": token, "user": user.to_json()})


async def verify(request: Request) -> JSONResponse:
    user: AuthUser = request.state.user
    return ok({"valid": True, "user": user.to_json()})


routes: list[BaseRoute] = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/verify", verify, methods=["POST", "GET"]),
]
