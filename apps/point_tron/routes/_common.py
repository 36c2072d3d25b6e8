"""Shared pieces of the HTTP layer: the JSON envelope, request parsing and validation.

Every API answer is ``{"success": bool, "data"?: ..., "error"?: "message", "code"?: "key"}``.
An error's ``code`` is stable (``bad_limit``, ``not_found``, ...); its ``error`` is one line in
the request's language (see :mod:`point_tron.i18n`), from the catalogue key ``error.<code>``.
Bad input is raised as :class:`BadRequest` (400) naming the parameter and its value.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.types import Scope

from point_tron.i18n import language_for, translate

__all__ = [
    "MAX_LIMIT",
    "ApiError",
    "BadRequest",
    "error_body",
    "fail",
    "now_ms",
    "ok",
    "query_choice",
    "query_limit",
    "read_json_object",
    "state",
]

MAX_LIMIT = 5000


class ApiError(HTTPException):
    """An API error: its HTTP status, stable ``code`` and the fields of its message.

    The message is written in the request's language when the response is made.
    """

    def __init__(
        self, status_code: int, code: str, headers: dict[str, str] | None = None, **params: Any
    ) -> None:
        translate("en", f"error.{code}", **params)  # an unknown code or field fails here
        super().__init__(status_code=status_code, detail=code, headers=headers)
        self.code = code
        self.params = params


class BadRequest(ApiError):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(400, code, **params)


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status_code)


def error_body(language: str, code: str, **params: Any) -> dict[str, Any]:
    """The envelope of an error in ``language``."""
    return {"success": False, "error": translate(language, f"error.{code}", **params), "code": code}


def fail(
    where: HTTPConnection | Scope,
    code: str,
    status_code: int,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> JSONResponse:
    """The JSON error ``code`` (catalogue key ``error.<code>``) in the request's language."""
    scope = where.scope if isinstance(where, HTTPConnection) else where
    language = language_for(scope.get("headers", []))
    return JSONResponse(
        error_body(language, code, **params), status_code=status_code, headers=headers
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
        raise BadRequest("bad_limit", name=name, max=MAX_LIMIT, value=repr(raw)) from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest("bad_limit", name=name, max=MAX_LIMIT, value=repr(raw))
    return value


def query_choice(request: Request, name: str, choices: list[str], default: str) -> str:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise BadRequest("bad_choice", name=name, choices=", ".join(choices), value=repr(raw))
    return raw


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        parsed = json.loads(body) if body else None
    except UnicodeDecodeError:
        raise BadRequest("body_not_utf8") from None
    except ValueError as exc:  # json.JSONDecodeError: where, not Python's English sentence
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise BadRequest("malformed_json", line=line, column=column) from None
    if not isinstance(parsed, dict):
        raise BadRequest("not_json_object")
    return parsed
