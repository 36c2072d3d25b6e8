"""``/api/config/rpc`` (GET/POST) and ``/api/config/rpc/polling`` (start/stop).

RPC settings posted here are validated, stored in the ``config`` table (key ``rpc``, a JSON
object) and applied to the running poller at once; stored settings override the environment
at the next start too (see :func:`load_rpc_config`). Pausing polling is stored as well (key
``polling.active``), so a paused service stays paused across restarts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from point_tron.i18n import language_for, translate
from point_tron.routes._common import BadRequest, ok, read_json_object, state

__all__ = [
    "POLLING_KEY",
    "RPC_KEY",
    "RpcConfig",
    "apply_stored_config",
    "load_rpc_config",
    "routes",
]

log = logging.getLogger(__name__)

RPC_KEY = "rpc"
POLLING_KEY = "polling.active"
# field in the API body -> (attribute, minimum, maximum)
_INT_FIELDS: dict[str, tuple[str, int, int]] = {
    "timeout": ("timeout_ms", 100, 120_000),
    "retryTimes": ("retry_times", 1, 10),
    "pollingInterval": ("interval_ms", 10, 3_600_000),
}
_FIELDS = {"rpcUrl", "apiKey", *_INT_FIELDS}


@dataclass(frozen=True)
class RpcConfig:
    url: str
    api_key: str | None
    timeout_ms: int
    retry_times: int
    interval_ms: int

    @classmethod
    def from_settings(cls, settings: Any) -> RpcConfig:
        return cls(
            url=settings.rpc_url,
            api_key=settings.api_key,
            timeout_ms=settings.timeout_ms,
            retry_times=settings.retry_times,
            interval_ms=settings.polling_interval_ms,
        )

    def updated(self, body: dict[str, Any]) -> RpcConfig:
        """A copy with the API body's fields applied; BadRequest names a bad field."""
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise BadRequest(
                "unknown_field", field=repr(unknown[0]), fields=", ".join(sorted(_FIELDS))
            )
        changes: dict[str, Any] = {}
        if "rpcUrl" in body:
            url = body["rpcUrl"]
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise BadRequest("bad_rpc_url", value=repr(url))
            changes["url"] = url.rstrip("/")
        if "apiKey" in body:
            key = body["apiKey"]
            if key is not None and not isinstance(key, str):
                raise BadRequest("bad_api_key", value=repr(key))
            changes["api_key"] = key or None
        for name, (attr, low, high) in _INT_FIELDS.items():
            if name in body:
                value = body[name]
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not low <= value <= high
                ):
                    raise BadRequest(
                        "bad_int_range", name=name, low=low, high=high, value=repr(value)
                    )
                changes[attr] = value
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "rpcUrl": self.url,
            "apiKeySet": self.api_key is not None,
            "timeout": self.timeout_ms,
            "retryTimes": self.retry_times,
            "pollingInterval": self.interval_ms,
        }


async def load_rpc_config(db: Any, settings: Any) -> tuple[RpcConfig, str]:
    """The effective RPC settings and where they come from (``database``/``environment``)."""
    base = RpcConfig.from_settings(settings)
    raw = await db.get_config(RPC_KEY)
    if raw is None:
        return base, "environment"
    try:
        stored = json.loads(raw)
        return replace(base, **{k: stored[k] for k in asdict(base) if k in stored}), "database"
    except (ValueError, TypeError) as exc:
        log.warning("ignoring unreadable stored rpc config", extra={"fields": {"error": repr(exc)}})
        return base, "environment"


async def apply_stored_config(db: Any, settings: Any, poller: Any) -> None:
    """At start: apply stored RPC settings and a stored pause to the poller."""
    config, source = await load_rpc_config(db, settings)
    if source == "database":
        await poller.apply_rpc_settings(
            url=config.url,
            api_key=config.api_key,
            timeout_ms=config.timeout_ms,
            retry_times=config.retry_times,
            interval_ms=config.interval_ms,
        )
        log.info("applied stored rpc settings", extra={"fields": {"rpcUrl": config.url}})
    if await db.get_config(POLLING_KEY) == "false":
        poller.pause()
        log.info("polling is paused (stored setting)")


async def _describe(pt: Any) -> dict[str, Any]:
    config, source = await load_rpc_config(pt.db, pt.settings)
    poller = pt.poller
    return {
        **config.to_json(),
        "isPollingActive": bool(poller.is_active),
        "consecutiveErrors": poller.consecutive_errors,
        "lastError": poller.last_error,
        "source": source,
    }


async def get_rpc(request: Request) -> JSONResponse:
    return ok(await _describe(state(request)))


async def post_rpc(request: Request) -> JSONResponse:
    pt = state(request)
    body = await read_json_object(request)
    current, _ = await load_rpc_config(pt.db, pt.settings)
    config = current.updated(body)
    await pt.db.set_config(
        RPC_KEY, json.dumps(asdict(config)), "RPC settings set through POST /api/config/rpc"
    )
    await pt.poller.apply_rpc_settings(
        url=config.url,
        api_key=config.api_key,
        timeout_ms=config.timeout_ms,
        retry_times=config.retry_times,
        interval_ms=config.interval_ms,
    )
    log.info("rpc settings updated", extra={"fields": config.to_json()})
    return ok(
        {
            "message": translate(language_for(request.scope["headers"]), "api.rpc_saved"),
            "needRestart": False,
            "config": await _describe(pt),
        }
    )


async def post_polling(request: Request) -> JSONResponse:
    pt = state(request)
    body = await read_json_object(request)
    action = body.get("action")
    if action not in ("start", "stop"):
        raise BadRequest("bad_action", value=repr(action))
    if action == "start":
        pt.poller.resume()
    else:
        pt.poller.pause()
    await pt.db.set_config(
        POLLING_KEY,
        "true" if action == "start" else "false",
        "polling on/off (POST /api/config/rpc/polling)",
    )
    status = "started" if action == "start" else "stopped"
    log.info(f"polling {status}")
    return ok(
        {
            "status": status,
            "isPollingActive": bool(pt.poller.is_active),
            "pollingInterval": pt.poller.interval_ms,
            "message": translate(language_for(request.scope["headers"]), f"api.polling_{status}"),
        }
    )


routes: list[BaseRoute] = [
    Route("/api/config/rpc", get_rpc, methods=["GET"]),
    Route("/api/config/rpc", post_rpc, methods=["POST"]),
    Route("/api/config/rpc/polling", post_polling, methods=["POST"]),
]
