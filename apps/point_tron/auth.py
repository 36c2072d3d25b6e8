"""Authentication: bcrypt passwords, HS256 JWTs, the login rate limit and the API guard.

Tokens carry ``userId``, ``username``, ``iat`` and ``exp`` (``JWT_EXPIRES_IN``), signed with
``JWT_SECRET`` (HS256, compatible with the original Node service's tokens). Every ``/api/``
route except ``POST /api/auth/login`` needs ``Authorization: Bearer <token>`` naming a user
that still exists; :class:`ApiAuthMiddleware` enforces that and puts the user in
``request.state.user``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import bcrypt
import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from point_tron import queries
from point_tron.routes._common import fail

__all__ = [
    "PUBLIC_API_PATHS",
    "ApiAuthMiddleware",
    "AuthUser",
    "RateLimiter",
    "bearer_token",
    "decode_token",
    "ensure_default_admin",
    "hash_password",
    "issue_token",
    "user_for_token",
    "verify_password",
]

PUBLIC_API_PATHS = frozenset({"/api/auth/login"})
BCRYPT_ROUNDS = 10  # the original's cost; its $2a$10$ hashes verify here too


@dataclass(frozen=True)
class AuthUser:
    id: int
    username: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username}


def hash_password(password: str) -> str:
    """A bcrypt hash; raises ValueError for a password longer than bcrypt's 72 bytes."""
    raw = password.encode()
    if len(raw) > 72:
        raise ValueError("password is longer than bcrypt's 72-byte limit")
    return bcrypt.hashpw(raw, bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    raw = password.encode()
    if len(raw) > 72:
        return False
    try:
        return bcrypt.checkpw(raw, password_hash.encode())
    except ValueError:  # not a bcrypt hash
        return False


def issue_token(user: AuthUser, secret: str, expires_in_s: int, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    payload = {
        "userId": user.id,
        "username": user.username,
        "iat": issued,
        "exp": issued + expires_in_s,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm="HS256")


def decode_token(token: str, secret: str) -> AuthUser | None:
    """The token's user if the signature and expiry are valid, else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            payload = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "userId"]}
            )
    except jwt.PyJWTError:
        return None
    user_id, username = payload.get("userId"), payload.get("username")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(username, str):
        return None
    return AuthUser(user_id, username)


def bearer_token(header: str | None) -> str | None:
    """The token of ``Bearer <token>`` (the scheme is required, unlike the original)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def user_for_token(db: Any, token: str | None, secret: str) -> AuthUser | None:
    """The user a token names, if the token is valid and the user still exists."""
    if not token:
        return None
    claimed = decode_token(token, secret)
    if claimed is None:
        return None
    row = await queries.user_by_id(db.read, claimed.id)
    return AuthUser(row.id, row.username) if row is not None else None


async def ensure_default_admin(db: Any, username: str, password: str) -> bool:
    """Create the default admin unless that username exists; True if it was created."""
    if await queries.user_by_username(db.write, username) is not None:
        return False
    hashed = await anyio.to_thread.run_sync(hash_password, password)
    cursor = await db.write.execute(
        "INSERT INTO users (username, password) VALUES (?, ?) ON CONFLICT(username) DO NOTHING",
        (username, hashed),
    )
    await db.write.commit()
    return bool(cursor.rowcount)


class RateLimiter:
    """Fixed-window counter per key: at most ``limit`` hits per ``window_s`` seconds."""

    def __init__(
        self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the window resets."""
        now = self._clock()
        if len(self._windows) > 10_000:  # prune expired windows now and then
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window_s}
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.limit:
            return max(self.window_s - (now - start), 0.0)
        self._windows[key] = (start, count + 1)
        return None


class ApiAuthMiddleware:
    """401 for ``/api/`` requests without a valid bearer token (login excepted)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path in PUBLIC_API_PATHS:
            await self.app(scope, receive, send)
            return
        pt = scope["app"].state.pt
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        token = bearer_token(header)
        if token is None:
            await fail(scope, "missing_token", 401)(scope, receive, send)
            return
        user = await user_for_token(pt.db, token, pt.settings.jwt_secret)
        if user is None:
            await fail(scope, "invalid_token", 401)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)
