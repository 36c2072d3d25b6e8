"""The TRON full node's HTTP API: getnowblock, getblockbynum, getblockbylimitnext.

Every call is a POST with a JSON body. One call makes up to `retry_times` attempts, each
bounded by `timeout_ms`, waiting 1 s, 2 s, 4 s, ... (capped at 5 s) between them. A non-2xx
status, a 2xx body carrying an `Error` key, a dropped connection, a timeout or a body that
is not JSON all count as a failed attempt; after the last one the call raises RpcError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from point_tron.chain import Block, block_from_json
from point_tron.errors import RpcError

__all__ = ["BATCH_LIMIT", "RpcSettings", "TronRpc", "backoff_s"]

BATCH_LIMIT = 100  # a full node answers getblockbylimitnext for at most 100 blocks
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RpcSettings:
    url: str
    api_key: str | None = None
    timeout_ms: int = 5000
    retry_times: int = 3


def backoff_s(attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1-based): 1, 2, 4, then 5 s."""
    return float(min(2 ** (attempt - 1), 5))


class TronRpc:
    """An httpx.AsyncClient speaking to one node. Close it with `aclose()` (or `async with`)."""

    def __init__(
        self,
        settings: RpcSettings,
        *,
        sleep: Sleep = anyio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        headers = {"Content-Type": "application/json", "User-Agent": "Point-Tron/2.0"}
        if settings.api_key:
            headers["TRON-PRO-API-KEY"] = settings.api_key
        timeout = settings.timeout_ms / 1000
        self._client = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def __aenter__(self) -> TronRpc:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_now_block(self) -> Block:
        """The head block."""
        return _parse(await self.call("/wallet/getnowblock", {}), "getnowblock")

    async def get_block_by_num(self, num: int) -> Block | None:
        """Block `num`, or None when the node does not have it (it answers `{}`)."""
        data = await self.call("/wallet/getblockbynum", {"num": num})
        if not data:
            return None
        block = _parse(data, f"getblockbynum {num}")
        if block.number != num:
            raise RpcError(f"getblockbynum {num}: the node answered block {block.number}")
        return block

    async def get_blocks_by_limit_next(self, start: int, end: int) -> list[Block]:
        """Blocks start..end-1 that the node has (at most BATCH_LIMIT), in ascending order."""
        if not 0 < end - start <= BATCH_LIMIT:
            raise ValueError(
                f"getblockbylimitnext takes 1..{BATCH_LIMIT} blocks, not {start}..{end}"
            )
        data = await self.call("/wallet/getblockbylimitnext", {"startNum": start, "endNum": end})
        raw_blocks = data.get("block", [])
        if not isinstance(raw_blocks, list):
            raise RpcError(f"getblockbylimitnext {start}..{end}: 'block' is not a list")
        blocks = sorted(
            (_parse(item, f"getblockbylimitnext {start}..{end}") for item in raw_blocks),
            key=lambda block: block.number,
        )
        return [block for block in blocks if start <= block.number < end]

    async def call(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST `body` to `endpoint` with retries; the JSON object answered. Raises RpcError."""
        attempts = self.settings.retry_times
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(endpoint, body)
            except RpcError as exc:
                last = str(exc)
            if attempt < attempts:
                await self._sleep(backoff_s(attempt))
        raise RpcError(f"{endpoint} failed after {attempts} attempt(s): {last}")

    async def _attempt(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        timeout_s = self.settings.timeout_ms / 1000
        try:
            with anyio.fail_after(timeout_s):
                response = await self._client.post(endpoint, json=body)
        except TimeoutError:
            raise RpcError(f"no answer within {self.settings.timeout_ms} ms") from None
        except httpx.TimeoutException:
            raise RpcError(f"no answer within {self.settings.timeout_ms} ms") from None
        except (httpx.HTTPError, OSError) as exc:
            raise RpcError(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        if not response.is_success:
            raise RpcError(f"HTTP {response.status_code} {response.reason_phrase}")
        try:
            data = response.json()
        except ValueError:
            raise RpcError("the answer is not JSON") from None
        if not isinstance(data, dict):
            raise RpcError("the answer is not a JSON object")
        if "Error" in data:
            raise RpcError(f"node error: {data['Error']}")
        return data


def _parse(data: Mapping[str, Any], what: str) -> Block:
    try:
        return block_from_json(data)
    except ValueError as exc:
        raise RpcError(f"{what}: {exc}") from None
