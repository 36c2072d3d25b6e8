"""Shared pieces of the HTTP layer: the JSON envelope, request parsing and validation.

Every API answer is ``{"success": bool, "data"?: ..., "error"?: "message"}``. Bad input is
raised as :class:`BadRequest` (400) with one line naming the parameter and its value.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

__all__ = [
    "MAX_LIMIT",
    "BadRequest",
    "fail",
    "now_ms",
    "ok",
    "query_choice",
    "query_limit",
    "read_json_object",
    "state",
]

MAX_LIMIT = 5000


class BadRequest(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=400, detail=detail)


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status_code)


def fail(error: str, status_code: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": error}, status_code=status_code, headers=headers
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def state(conn: HTTPConnection) -> Any:
    """The app's ``AppState`` (see :mod:`point_tron.app`)."""
    return conn.app.state.pt


def query_limit(request: Request, default: int, name: str = "limit") -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer from 1 to {MAX_LIMIT}, got {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"{name} must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return value


def query_choice(request: Request, name: str, choices: list[str], default: str) -> str:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return raw


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("the request body must be a JSON object")
    return parsed
