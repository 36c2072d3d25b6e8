"""The simulator's Starlette app: the node's three block endpoints plus /sim/* controls."""

from __future__ import annotations

import json
import random
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from point_tron.sim._chain import Chain
from point_tron.sim._faults import Faults

__all__ = ["ABORT_SCOPE_KEY", "BATCH_LIMIT", "build_app"]

ABORT_SCOPE_KEY = "tron_sim.abort"  # set by the sim's server: closes the socket at once
BATCH_LIMIT = 100  # java-tron answers {} to getblockbylimitnext beyond 100 blocks


def build_app(chain: Chain, faults: Faults | None = None, *, fault_seed: int = 0) -> Starlette:
    """The app serving `chain`. `faults` (mutable, shared) may be changed while it runs."""
    active = faults if faults is not None else Faults()
    rng = random.Random(fault_seed)
    counters = {"requests": 0, "faults": 0}

    async def now_block(request: Request) -> Response:
        return _block_response(chain, chain.head)

    async def block_by_num(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return JSONResponse({"Error": str(exc)})
        num = body.get("num", 0)
        if not _is_int(num):
            return JSONResponse({"Error": f"num must be an integer, not {num!r}"})
        if not chain.has(num):
            return JSONResponse({})
        return _block_response(chain, num)

    async def block_by_limit_next(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return JSONResponse({"Error": str(exc)})
        start, end = body.get("startNum", 0), body.get("endNum", 0)
        if not (_is_int(start) and _is_int(end)):
            return JSONResponse({"Error": "startNum and endNum must be integers"})
        if not (end > 0 and end > start and end - start <= BATCH_LIMIT):
            return JSONResponse({})
        numbers = range(max(start, 0), min(end, chain.head + 1))
        if not numbers:
            return JSONResponse({})
        content = b'{"block":[' + b",".join(chain.spec.encoded(n) for n in numbers) + b"]}"
        return Response(content, media_type="application/json")

    async def state(request: Request) -> Response:
        return JSONResponse(_state(chain, active, counters))

    async def set_faults(request: Request) -> Response:
        try:
            changes = await _body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        reset = changes.pop("reset", False)
        stall = changes.pop("stall", None)
        if not isinstance(reset, bool) or not (stall is None or isinstance(stall, bool)):
            return JSONResponse({"error": "reset and stall must be true or false"}, 400)
        try:
            if reset:
                active.reset()
            active.update(changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if stall is True:
            chain.stall()
        elif stall is False or reset:
            chain.unstall()
        return JSONResponse(_state(chain, active, counters))

    async def advance(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        blocks = body.get("blocks", 1)
        if not _is_int(blocks) or blocks < 0:
            return JSONResponse(
                {"error": f"blocks must be a whole number >= 0, not {blocks!r}"}, 400
            )
        chain.advance(blocks)
        return JSONResponse(_state(chain, active, counters))

    async def reorg(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        depth = body.get("depth", 1)
        if not _is_int(depth):
            return JSONResponse({"error": f"depth must be a whole number, not {depth!r}"}, 400)
        try:
            chain.reorg(depth)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(_state(chain, active, counters))

    async def lag(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        blocks = body.get("blocks", 0)
        if not _is_int(blocks) or blocks < 0:
            return JSONResponse(
                {"error": f"blocks must be a whole number >= 0, not {blocks!r}"}, 400
            )
        chain.set_lag(blocks)
        return JSONResponse(_state(chain, active, counters))

    wallet = ["GET", "POST"]
    return Starlette(
        routes=[
            Route("/wallet/getnowblock", now_block, methods=wallet),
            Route("/wallet/getblockbynum", block_by_num, methods=wallet),
            Route("/wallet/getblockbylimitnext", block_by_limit_next, methods=wallet),
            Route("/sim/state", state, methods=["GET"]),
            Route("/sim/faults", set_faults, methods=["POST"]),
            Route("/sim/advance", advance, methods=["POST"]),
            Route("/sim/reorg", reorg, methods=["POST"]),
            Route("/sim/lag", lag, methods=["POST"]),
        ],
        middleware=[Middleware(_FaultLayer, faults=active, rng=rng, counters=counters)],
    )


class _FaultLayer:
    """Applies the current Faults to /wallet/* requests before the endpoints see them."""

    def __init__(
        self, app: ASGIApp, *, faults: Faults, rng: random.Random, counters: dict[str, int]
    ) -> None:
        self.app = app
        self.faults = faults
        self.rng = rng
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/wallet/"):
            await self.app(scope, receive, send)
            return
        self.counters["requests"] += 1
        if self.faults.latency_ms:
            await anyio.sleep(self.faults.latency_ms / 1000)
        kind = self.faults.draw(self.rng)
        if kind is not None:
            self.counters["faults"] += 1
        if kind == "drop":
            abort = scope.get(ABORT_SCOPE_KEY)
            if abort is None:  # in-process (no socket to close): fail the same way a client would
                raise ConnectionResetError("tron-sim dropped the connection")
            abort()
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        response: Response | None = None
        if kind == "http_error":
            status = self.faults.http_error_status
            response = PlainTextResponse(f"tron-sim: injected HTTP {status}", status)
        elif kind == "error_body":
            response = JSONResponse({"Error": self.faults.error_message})
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _block_response(chain: Chain, number: int) -> Response:
    return Response(chain.spec.encoded(number), media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object posted, or a GET's query parameters. Raises ValueError."""
    if request.method == "GET":
        return {
            k: int(v) if v.lstrip("-").isdigit() else v for k, v in request.query_params.items()
        }
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _state(chain: Chain, faults: Faults, counters: dict[str, int]) -> dict[str, Any]:
    spec = chain.spec
    return {
        "head": chain.head,
        "produced": chain.produced,
        "lag": chain.lag,
        "forks": list(spec.forks),
        "start_height": chain.start_height,
        "stalled": chain.stalled,
        "seed": spec.seed,
        "interval_ms": spec.interval_ms,
        "genesis_ms": spec.genesis_ms,
        "max_txs": spec.max_txs,
        "faults": faults.as_dict(),
        "requests": counters["requests"],
        "faults_injected": counters["faults"],
    }
