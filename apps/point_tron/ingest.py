"""The Poller: one loop that follows the node's head and stores every block, in order.

Each tick reads the head, then back-fills every height from the last stored block + 1 up to
the head, BATCH_LIMIT blocks per getblockbylimitnext call (getblockbynum for any block a
batch lacks), each batch written in one transaction (see Database.insert_blocks). On an
empty database it starts at the head, or at START_BLOCK when that is set. A tick that fails
counts in `consecutive_errors` (reset by the next good tick); the loop itself never dies of
it. Stored batches go to subscribers through bounded streams; a subscriber whose buffer is
full is dropped (its stream ends), so a slow reader never holds up ingest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from point_tron.chain import Block, StoredBlock
from point_tron.config import Settings
from point_tron.db import Database
from point_tron.errors import RpcError, SettingsError
from point_tron.rpc import BATCH_LIMIT, RpcSettings, TronRpc

__all__ = ["SUBSCRIBER_BUFFER", "Poller", "StoredBlock"]

log = logging.getLogger("point_tron.ingest")
SUBSCRIBER_BUFFER = 64  # batches a subscriber may fall behind before it is dropped
RETENTION_EVERY_S = 86400.0


class Poller:
    """Follows the chain into the database. Run `run()` in a task; `stop()` ends it."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        stats_tz: ZoneInfo,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.stats_tz = stats_tz
        self.start_block = settings.start_block
        self.retention_days = settings.retention_days
        self.is_active = True
        self.interval_ms = settings.polling_interval_ms
        self.consecutive_errors = 0
        self.last_error: str | None = None
        self.last_success_at: float | None = None  # wall clock (epoch seconds)
        self.alive = False
        self._transport = transport
        self._retry_sleep = retry_sleep
        self._clock = clock
        self._rpc_settings = RpcSettings(
            url=settings.rpc_url,
            api_key=settings.api_key,
            timeout_ms=settings.timeout_ms,
            retry_times=settings.retry_times,
        )
        self._rpc: TronRpc | None = None
        self._wake = anyio.Event()
        self._stopping = False
        self._done = anyio.Event()
        self._tick_scope: anyio.CancelScope | None = None
        self._subscribers: dict[
            MemoryObjectReceiveStream[list[StoredBlock]], MemoryObjectSendStream[list[StoredBlock]]
        ] = {}
        self._last_pruned_at: float | None = None

    @property
    def rpc_settings(self) -> RpcSettings:
        return self._rpc_settings

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The loop. Returns after stop() (or when cancelled); RPC errors never end it.

        A Poller runs once: after stop() a new run() returns at once.
        """
        if self.alive:
            raise RuntimeError("this Poller is already running")
        self.alive = True
        task_status.started()
        try:
            while not self._stop_requested():
                started = anyio.current_time()
                if self.is_active:
                    await self._guarded_tick()
                if self._stop_requested():
                    break
                delay = self.interval_ms / 1000 - (anyio.current_time() - started)
                if delay > 0 or not self.is_active:
                    with anyio.move_on_after(delay if self.is_active else math.inf):
                        await self._wake.wait()
                    self._wake = anyio.Event()
        finally:
            self.alive = False
            with anyio.CancelScope(shield=True):
                if self._rpc is not None:
                    await self._rpc.aclose()
                    self._rpc = None
                for send in self._subscribers.values():
                    send.close()
                self._subscribers.clear()
            self._done.set()

    def _stop_requested(self) -> bool:
        return self._stopping

    def pause(self) -> None:
        """Stop polling now (the loop stays alive); `resume()` starts it again at once.

        A fetch in flight is abandoned; a batch being written is finished first.
        """
        self.is_active = False
        if self._tick_scope is not None:
            self._tick_scope.cancel()

    def resume(self) -> None:
        self.is_active = True
        self._wake.set()

    async def stop(self) -> None:
        """Finish the batch being written, then let the loop return; waits for it."""
        self._stopping = True
        if self._tick_scope is not None:
            self._tick_scope.cancel()  # a fetch is abandoned; a write is shielded
        self._wake.set()
        if self.alive:
            await self._done.wait()

    async def apply_rpc_settings(
        self, *, url: str, api_key: str | None, timeout_ms: int, retry_times: int, interval_ms: int
    ) -> None:
        """Use new node settings from the next tick on (no restart). Raises SettingsError."""
        if not url.lower().startswith(("http://", "https://")):
            raise SettingsError("rpcUrl", url, "expected an http:// or https:// URL")
        for name, value, minimum in (
            ("timeout", timeout_ms, 1),
            ("retryTimes", retry_times, 1),
            ("pollingInterval", interval_ms, 1),
        ):
            if value < minimum:
                raise SettingsError(name, value, f"must be at least {minimum}")
        self._rpc_settings = RpcSettings(
            url=url.rstrip("/"), api_key=api_key, timeout_ms=timeout_ms, retry_times=retry_times
        )
        self.interval_ms = interval_ms
        self._wake.set()

    def subscribe(self) -> MemoryObjectReceiveStream[list[StoredBlock]]:
        """A stream of stored batches (block-number order). Dropped when it falls behind."""
        send, receive = anyio.create_memory_object_stream[list[StoredBlock]](SUBSCRIBER_BUFFER)
        self._subscribers[receive] = send
        return receive

    def unsubscribe(self, stream: MemoryObjectReceiveStream[list[StoredBlock]]) -> None:
        send = self._subscribers.pop(stream, None)
        if send is not None:
            send.close()
        stream.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _guarded_tick(self) -> None:
        with anyio.CancelScope() as scope:
            self._tick_scope = scope
            try:
                await self._tick()
            except (RpcError, OSError, ValueError, RuntimeError) as exc:
                self._fail(str(exc))
            except Exception as exc:  # e.g. sqlite3 errors: counted, logged, never fatal
                log.exception("poll tick failed")
                self._fail(f"{type(exc).__name__}: {exc}")
            else:
                self.consecutive_errors = 0
                self.last_error = None
                self.last_success_at = self._clock()
        self._tick_scope = None

    def _fail(self, message: str) -> None:
        self.consecutive_errors += 1
        self.last_error = message
        log.warning("poll tick failed (%d in a row): %s", self.consecutive_errors, message)

    async def _tick(self) -> None:
        if self._rpc is None or self._rpc.settings != self._rpc_settings:
            if self._rpc is not None:
                await self._rpc.aclose()
            self._rpc = TronRpc(
                self._rpc_settings, sleep=self._retry_sleep, transport=self._transport
            )
        rpc = self._rpc
        await self._maybe_prune()
        head = await rpc.get_now_block()
        last = await self.db.last_stored()
        if last.block_number is None:
            start = head.number if self.start_block is None else min(self.start_block, head.number)
        else:
            start = last.block_number + 1
        for batch_start in range(start, head.number + 1, BATCH_LIMIT):
            if self._stopping:
                return
            batch_end = min(batch_start + BATCH_LIMIT, head.number + 1)
            blocks = await self._fetch(rpc, batch_start, batch_end, head)
            stored = await self.db.insert_blocks(blocks, self.stats_tz)
            if stored:
                self._publish(stored)

    async def _fetch(self, rpc: TronRpc, start: int, end: int, head: Block) -> list[Block]:
        if start == head.number:
            return [head]
        blocks = await rpc.get_blocks_by_limit_next(start, end)
        have = {block.number for block in blocks}
        for number in range(start, end):
            if number in have:
                continue
            block = head if number == head.number else await rpc.get_block_by_num(number)
            if block is None:
                raise RpcError(f"the node has no block {number} (head {head.number})")
            blocks.append(block)
        blocks.sort(key=lambda block: block.number)
        return blocks

    async def _maybe_prune(self) -> None:
        if self.retention_days <= 0:
            return
        now = self._clock()
        if self._last_pruned_at is not None and now - self._last_pruned_at < RETENTION_EVERY_S:
            return
        cutoff_ms = int((now - self.retention_days * 86400) * 1000)
        blocks, points = await self.db.prune(cutoff_ms)
        self._last_pruned_at = now
        if blocks or points:
            log.info("retention: pruned %d blocks and %d block_points rows", blocks, points)

    def _publish(self, stored: list[StoredBlock]) -> None:
        for receive, send in list(self._subscribers.items()):
            try:
                send.send_nowait(stored)
            except anyio.WouldBlock:
                log.warning("dropping a subscriber that fell %d batches behind", SUBSCRIBER_BUFFER)
                send.close()
                del self._subscribers[receive]
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                del self._subscribers[receive]
