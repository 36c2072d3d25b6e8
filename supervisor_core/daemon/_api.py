"""The status socket's HTTP API (``/v1``): a thin layer over :class:`DaemonService`.

Every error becomes ``{"error": "...", "kind": "..."}`` with a 4xx/5xx status (docs/api.md);
no request can kill the daemon.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSON
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from supervisor_core.daemon._history import RESOLUTIONS
from supervisor_core.daemon._loghub import LogHub
from supervisor_core.daemon._metrics import CONTENT_TYPE as METRICS_TYPE
from supervisor_core.daemon._metrics import metrics_text
from supervisor_core.daemon._service import DaemonService
from supervisor_core.errors import (
    BadRequest,
    ConfigError,
    ProcessError,
    PtmError,
    StateError,
    UnknownAppError,
)

__all__ = ["create_api"]

log = logging.getLogger("ptm.api")

Handler = Callable[[Request], Awaitable[Response]]


class JSONResponse(_StarletteJSON):
    """Starlette's, with every character past ASCII escaped: a file name or variable that is
    not UTF-8 (its bytes are U+DC80..U+DCFF in Python) is sent as ``"\\udce9"``, which the
    client reads back as the same bytes, where Starlette's encoder failed (a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status)


MAX_BODY = 1024 * 1024
"""The largest request body the socket reads (an ecosystem entry is a few kilobytes)."""
MAX_DEPTH = 32
"""How deeply a request's JSON may nest (an app's settings nest three levels)."""


class _TooLarge(BadRequest):
    """A request body over :data:`MAX_BODY` (answered 413, never read whole)."""


def _kind(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, _TooLarge):
        return 413, "too_large"
    if isinstance(exc, BadRequest):
        return 400, "bad_request"
    if isinstance(exc, ConfigError):
        return 400, "config"
    if isinstance(exc, UnknownAppError):
        return 404, "unknown_app"
    if isinstance(exc, StateError | ProcessError):
        return 409, "state"
    return 500, "internal"


def guarded(handler: Handler) -> Handler:
    """Map our errors to JSON answers; log anything else and answer 500."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except PtmError as exc:
            status, kind = _kind(exc)
            return _error(status, kind, str(exc))
        except Exception as exc:
            log.exception("error in %s %s", request.method, request.url.path)
            return _error(500, "internal", f"internal error: {type(exc).__name__}: {exc}")

    return wrapper


async def _read_body(request: Request) -> bytes:
    """The body, refused past :data:`MAX_BODY` (by its Content-Length, or as it arrives)."""
    too_large = _TooLarge(f"the request body is over {MAX_BODY} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: object) -> int:
    """How deeply ``value`` nests (without recursion: any depth is measured safely)."""
    deepest = 0
    todo: list[tuple[object, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            todo.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            todo.extend((child, depth + 1) for child in item)
    return deepest


async def _body(request: Request) -> dict[str, Any]:
    raw = await _read_body(request)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise BadRequest(f"the JSON body nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise BadRequest("the JSON body must be an object")
    if _depth(data) > MAX_DEPTH:
        raise BadRequest(f"the JSON body nests deeper than {MAX_DEPTH} levels")
    try:  # "\ud800" is valid JSON, but no path, variable or argument can hold it; U+DC80 to
        # U+DCFF are the bytes of a value that is not UTF-8 (os.environ, file names), kept
        json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise BadRequest(
            f"the JSON body holds a lone surrogate ({json.dumps(bad)}), which is not text"
        ) from None
    return data


def _path_field(data: dict[str, Any], key: str) -> str:
    """A required absolute path: the daemon's folder is not the caller's, so a relative one
    would name another file."""
    path: str = _field(data, key, str, required=True)
    if "\0" in path:
        raise BadRequest(f"field {key!r} must not contain a NUL character")
    if not os.path.isabs(path):
        raise BadRequest(f"field {key!r} must be an absolute path, got {path!r}")
    return path


def _field(
    data: dict[str, Any], key: str, kind: type | tuple[type, ...], *, required: bool = False
) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise BadRequest(f"missing field {key!r}")
        return None
    if isinstance(value, bool) and kind is int:
        raise BadRequest(f"field {key!r} must be {kind.__name__}")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BadRequest(f"field {key!r} must be {name}, got {value!r}")
    return value


def _caller_env(data: dict[str, Any]) -> dict[str, str] | None:
    """The ``caller_env`` field: the environment of the caller of ``ptm start`` (its values
    are never logged: they may be secrets)."""
    env: dict[str, str] | None = _field(data, "caller_env", dict)
    if env is not None and not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in k + v
        for k, v in env.items()
    ):
        raise BadRequest("field 'caller_env' must map variable names to strings")
    return env


def _target(request: Request) -> str:
    return unquote(str(request.path_params["target"]))


def _int_param(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}, got {value}")
    return value


def _stream_param(request: Request) -> str:
    stream = request.query_params.get("stream", "both")
    if stream not in ("out", "err", "both"):
        raise BadRequest(f"stream must be out, err or both, got {stream!r}")
    return stream


def create_api(service: DaemonService, hub: LogHub) -> Starlette:
    """The Starlette app of the socket."""

    @guarded
    async def info(request: Request) -> Response:
        return JSONResponse(service.info())

    @guarded
    async def processes(request: Request) -> Response:
        return JSONResponse(service.rows())

    @guarded
    async def start(request: Request) -> Response:
        data = await _body(request)
        caller_env = _caller_env(data)
        update_env = _field(data, "update_env", bool) or False
        if "ecosystem" in data:
            path = _path_field(data, "ecosystem")
            only = _field(data, "only", list)
            if only is not None and not all(isinstance(n, str) for n in only):
                raise BadRequest("field 'only' must be a list of names")
            env = _field(data, "env", str)
            answer = await service.start_ecosystem(
                path, only=only, env=env, caller_env=caller_env, update_env=update_env
            )
            return JSONResponse(answer)
        if "app" in data:
            entry = _field(data, "app", dict, required=True)
            base_dir = _path_field(data, "base_dir")
            answer = await service.start_app(
                entry, base_dir, caller_env=caller_env, update_env=update_env
            )
            return JSONResponse(answer)
        raise BadRequest("give either 'ecosystem' (a file path) or 'app' (an app table)")

    @guarded
    async def history(request: Request) -> Response:
        text = request.query_params.get("resolution") or None
        resolution = next((r for r in RESOLUTIONS if r == text), None)
        if text is not None and resolution is None:
            raise BadRequest(f"resolution must be second or minute, got {text!r}")
        points = _int_param(request, "points", 0, 1, 100_000) or None
        rows = service.rows(service.select(_target(request)))
        return JSONResponse(service.history.view(rows, resolution, points))

    @guarded
    async def describe(request: Request) -> Response:
        return JSONResponse(await service.describe(_target(request)))

    def action(name: str) -> Handler:
        @guarded
        async def handler(request: Request) -> Response:
            data = await _body(request)  # reject a malformed body even where none is needed
            caller_env = _caller_env(data) if name != "stop" else None
            return JSONResponse(await service.act(name, _target(request), caller_env=caller_env))

        return handler

    @guarded
    async def delete(request: Request) -> Response:
        return JSONResponse(await service.delete(_target(request)))

    @guarded
    async def scale(request: Request) -> Response:
        data = await _body(request)
        instances = _field(data, "instances", int)
        change = _field(data, "change", int)
        if (instances is None) == (change is None):
            raise BadRequest("give one of 'instances' (the new number) or 'change' (+N or -N)")
        return JSONResponse(await service.scale(_target(request), instances, change=change or 0))

    @guarded
    async def send_signal(request: Request) -> Response:
        data = await _body(request)
        signame = _field(data, "signal", (str, int), required=True)
        return JSONResponse(service.send_signal(_target(request), str(signame)))

    @guarded
    async def reset(request: Request) -> Response:
        return JSONResponse(service.reset(_target(request)))

    @guarded
    async def logs(request: Request) -> Response:
        lines = _int_param(request, "lines", 15, 0, 100_000)
        app = request.query_params.get("app") or None
        stream = _stream_param(request)
        return JSONResponse({"lines": await service.tail(app, lines, stream)})

    @guarded
    async def follow(request: Request) -> Response:
        app = request.query_params.get("app") or None
        stream = _stream_param(request)
        # 404 now, not after the stream started; a process id follows that process only.
        selection = service.select(app) if app is not None else None

        # Subscribe now, before the answer starts: no line is lost in between.
        follower = hub.open(selection, None if stream == "both" else stream)

        async def lines() -> AsyncIterator[bytes]:
            try:
                while not follower.done:  # until the daemon stops (LogHub.end)
                    yield await follower.next()
            finally:
                hub.close(follower)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @guarded
    async def flush(request: Request) -> Response:
        data = await _body(request)
        app = _field(data, "app", str)
        return JSONResponse({"flushed": service.flush(app)})

    @guarded
    async def reload_logs(request: Request) -> Response:
        service.reload_logs()
        return JSONResponse({"reopened": True})

    @guarded
    async def metrics(request: Request) -> Response:
        figures = {**service.log_figures(), "follower_lines_skipped": hub.skipped}
        text = metrics_text(service.metric_rows(), figures)
        return Response(text, media_type=METRICS_TYPE)

    @guarded
    async def events(request: Request) -> Response:
        # Subscribe now, before the answer starts: no change is lost in between.
        subscription = service.sup.subscribe()
        receive = await subscription.__aenter__()

        async def stream() -> AsyncIterator[bytes]:
            try:
                async for event in receive:
                    yield (json.dumps(asdict(event)) + "\n").encode()
            finally:
                await subscription.__aexit__(None, None, None)

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @guarded
    async def save(request: Request) -> Response:
        data = await _body(request)
        force = _field(data, "force", bool) or False
        return JSONResponse(await service.save(force=force))

    @guarded
    async def resurrect(request: Request) -> Response:
        data = await _body(request)
        return JSONResponse(await service.resurrect(_caller_env(data)))

    @guarded
    async def update(request: Request) -> Response:
        return JSONResponse(await service.update())

    @guarded
    async def kill(request: Request) -> Response:
        service.shutdown.set()
        return JSONResponse({"stopping": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            if exc.status_code == 405:
                return _error(405, "bad_request", f"method {request.method} not allowed here")
            return _error(exc.status_code, "not_found", f"no such path: {request.url.path}")
        return _error(500, "internal", "internal error")

    routes = [
        Route("/v1/info", info, methods=["GET"]),
        Route("/v1/daemon", info, methods=["GET"]),
        Route("/v1/daemon/update", update, methods=["POST"]),
        Route("/v1/metrics", metrics, methods=["GET"]),
        Route("/v1/processes", processes, methods=["GET"]),
        Route("/v1/processes", start, methods=["POST"]),
        Route("/v1/processes/{target:path}/stop", action("stop"), methods=["POST"]),
        Route("/v1/processes/{target:path}/start", action("start"), methods=["POST"]),
        Route("/v1/processes/{target:path}/restart", action("restart"), methods=["POST"]),
        Route("/v1/processes/{target:path}/reload", action("reload"), methods=["POST"]),
        Route("/v1/processes/{target:path}/scale", scale, methods=["POST"]),
        Route("/v1/processes/{target:path}/signal", send_signal, methods=["POST"]),
        Route("/v1/processes/{target:path}/reset", reset, methods=["POST"]),
        Route("/v1/processes/{target:path}/history", history, methods=["GET"]),
        Route("/v1/processes/{target:path}", describe, methods=["GET"]),
        Route("/v1/processes/{target:path}", delete, methods=["DELETE"]),
        Route("/v1/logs", logs, methods=["GET"]),
        Route("/v1/logs/follow", follow, methods=["GET"]),
        Route("/v1/logs/flush", flush, methods=["POST"]),
        Route("/v1/logs/reload", reload_logs, methods=["POST"]),
        Route("/v1/events", events, methods=["GET"]),
        Route("/v1/save", save, methods=["POST"]),
        Route("/v1/resurrect", resurrect, methods=["POST"]),
        Route("/v1/kill", kill, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found})
