"""The Poller: one loop that follows the node's head and stores every block, in order.

Each tick reads the head, then back-fills every height from the last stored block + 1 up to
the head, BATCH_LIMIT blocks per getblockbylimitnext call (getblockbynum for any block a
batch lacks), each batch written in one transaction (see Database.insert_blocks). On an
empty database it starts at the head, or at START_BLOCK when that is set. A tick that fails
counts in `consecutive_errors` (reset by the next good tick); the loop itself never dies of
it. Stored batches go to subscribers through bounded streams; a subscriber whose buffer is
full is dropped (its stream ends), so a slow reader never holds up ingest.

Every tick also checks that the node is on our chain (`chain_issue`, shown by /health):

- the node's head is below our last block (a restarted simulator, a node that lags):
  state ``behind``; nothing is stored, and the loop polls the head only, backing off from the
  polling interval to LAG_WAIT_MAX_S, until the node passes our last block;
- the node has another block at a height we stored (its hash differs from ours, or its next
  block's parentHash is not our last block's hash): state ``fork``; the common ancestor is
  found (at most MAX_REORG_DEPTH blocks down), every block above it is rolled back with its
  points and daily counts in one transaction, and ingest fetches again from there;
- no common ancestor within MAX_REORG_DEPTH stored blocks (another network): state
  ``fork_too_deep``; nothing is rolled back or stored until the node is on our chain again.

Each state is logged once when it begins and once when it ends; it ends on the first tick
that finds the node on our chain, at or above our last block.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from point_tron.chain import Block, StoredBlock
from point_tron.chain_issue import ChainIssue
from point_tron.config import Settings
from point_tron.db import Database
from point_tron.errors import RpcError, SettingsError
from point_tron.follow import follow
from point_tron.rpc import BATCH_LIMIT, RpcSettings, TronRpc

__all__ = [
    "LAG_WAIT_MAX_S",
    "MAX_REORG_DEPTH",
    "SUBSCRIBER_BUFFER",
    "ChainIssue",
    "Poller",
    "StoredBlock",
]

log = logging.getLogger("point_tron.ingest")
SUBSCRIBER_BUFFER = 64  # batches a subscriber may fall behind before it is dropped
RETENTION_EVERY_S = 86400.0
MAX_REORG_DEPTH = 1000  # the most stored blocks a fork may roll back
LAG_WAIT_MAX_S = 3.0  # the longest wait between head checks while the node is behind


class _ForkFound(Exception):
    """A tick met a block that does not link to ours: roll back, then fetch again."""


class Poller:
    """Follows the chain into the database (polls=False: see follow). `stop()` ends `run()`."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        stats_tz: ZoneInfo,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.time,
        polls: bool = True,
    ) -> None:
        self.db = db
        self.polls = polls  # False: follow what another instance's poller stores (POLLER)
        self._followed: int | None = None  # the last block a follower has published
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
        self.chain_issue: ChainIssue | None = None
        self.last_reorg: dict[str, Any] | None = None  # the last rollback, for /health
        self._behind_ticks = 0

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
                delay = self._wait_s() - (anyio.current_time() - started)
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

    def _wait_s(self) -> float:
        """The time between ticks: the polling interval, or a backoff while the node is behind
        us (or on another chain), since nothing but its head can change that."""
        interval = self.interval_ms / 1000
        issue = self.chain_issue
        if issue is None or issue.state == "fork" or self._behind_ticks <= 1:
            return interval
        backoff = interval * 2 ** min(self._behind_ticks - 1, 16)
        return float(min(backoff, max(interval, LAG_WAIT_MAX_S)))

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
        if not self.polls:
            self._followed = await follow(self.db, self._followed, self._publish)
            return
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
            await self._ingest(rpc, head, start, None)
            self._chain_ok(head)
            return
        ours = last.block_number
        if head.number <= ours:
            stored = (await self.db.block_hashes(head.number, head.number)).get(head.number)
            if stored is not None and stored != head.hash:
                await self._roll_back(
                    rpc, head, ours, f"the node's block {head.number} differs from ours"
                )
                return
            if head.number < ours:
                self._behind(head, ours)
                return
            self._chain_ok(head)
            return
        try:
            await self._ingest(rpc, head, ours + 1, await self._hash_at(ours))
        except _ForkFound as fork:
            await self._roll_back(rpc, head, ours, str(fork))
            return
        self._chain_ok(head)

    async def _hash_at(self, number: int) -> str | None:
        return (await self.db.block_hashes(number, number)).get(number)

    async def _ingest(self, rpc: TronRpc, head: Block, start: int, parent: str | None) -> None:
        """Fetch and store start..head; each block must link to the one before (`parent`:
        our stored block start-1's hash). Raises _ForkFound when the first one does not."""
        for batch_start in range(start, head.number + 1, BATCH_LIMIT):
            if self._stopping:
                return
            batch_end = min(batch_start + BATCH_LIMIT, head.number + 1)
            blocks = await self._fetch(rpc, batch_start, batch_end, head)
            for block in blocks:
                if parent is not None and block.parent_hash != parent:
                    if block.number == start:
                        raise _ForkFound(
                            f"the node's block {block.number} does not follow our block"
                            f" {block.number - 1} (its parentHash is not our hash)"
                        )
                    raise RpcError(
                        f"the node's blocks {block.number - 1} and {block.number} do not link"
                        " (it changed branch while we fetched); trying again"
                    )
                parent = block.hash
            stored = await self.db.insert_blocks(blocks, self.stats_tz)
            if stored:
                self._publish(stored)

    def _set_issue(self, issue: ChainIssue) -> None:
        """Record `issue`; log it when a new state begins (not on every tick)."""
        current = self.chain_issue
        if current is not None and current.state == issue.state:
            self.chain_issue = replace(issue, since=current.since)
            return
        self.chain_issue = issue
        log.warning("%s", issue.reason)

    def _chain_ok(self, head: Block) -> None:
        """This tick found the node on our chain: end any issue (logged once)."""
        self._behind_ticks = 0
        issue = self.chain_issue
        if issue is None:
            return
        self.chain_issue = None
        if issue.state == "behind":
            log.info(
                "the node caught up: its head is %d, our last block was %d; ingest resumed",
                head.number,
                issue.stored_height,
            )
        else:
            log.info("the node is on our chain again (head %d); ingest resumed", head.number)

    def _behind(self, head: Block, ours: int) -> None:
        self._behind_ticks += 1
        gap = ours - head.number
        self._set_issue(
            ChainIssue(
                "behind",
                f"the node is behind us: its head is {head.number}, our last block is {ours}"
                f" ({gap} blocks); waiting for it to catch up",
                ours,
                head.number,
                gap,
                self._clock(),
            )
        )

    async def _roll_back(self, rpc: TronRpc, head: Block, ours: int, why: str) -> None:
        """Find the common ancestor, delete every stored block above it; the next tick (or this
        one's caller) fetches again from there."""
        ancestor, compared = await self._common_ancestor(rpc, min(head.number, ours), ours)
        if ancestor is None:
            self._behind_ticks += 1
            self._set_issue(
                ChainIssue(
                    "fork_too_deep",
                    f"the node is on another chain: {why}, and none of our last {compared}"
                    f" blocks (up to {ours}) is the node's; not rolling back more than"
                    f" {MAX_REORG_DEPTH} blocks: nothing is stored until the node is on our"
                    " chain again (another network? check TRON_RPC_URL)",
                    ours,
                    head.number,
                    compared,
                    self._clock(),
                )
            )
            return
        self._behind_ticks = 0
        deleted = await self.db.roll_back_above(ancestor, self.stats_tz)
        self.last_reorg = {
            "forkHeight": ancestor,
            "depth": deleted,
            "storedHeight": ours,
            "nodeHeight": head.number,
            "at": round(self._clock() * 1000),
        }
        self._set_issue(
            ChainIssue(
                "fork",
                f"the node is on another branch: {why}; rolled back {deleted} blocks above"
                f" the common ancestor {ancestor} (our last block was {ours}); fetching again",
                ours,
                head.number,
                deleted,
                self._clock(),
            )
        )

    async def _common_ancestor(self, rpc: TronRpc, top: int, ours: int) -> tuple[int | None, int]:
        """The highest height <= top where the node's block is ours, looking at most
        MAX_REORG_DEPTH blocks below `ours`; (None, blocks compared) when there is none."""
        lowest = await self.db.first_stored()
        floor = max(lowest if lowest is not None else top, ours - MAX_REORG_DEPTH)
        compared = 0
        high = top
        while high >= floor:
            low = max(floor, high - BATCH_LIMIT + 1)
            stored = await self.db.block_hashes(low, high)
            theirs = {b.number: b.hash for b in await rpc.get_blocks_by_limit_next(low, high + 1)}
            for number in range(high, low - 1, -1):
                if number not in theirs:
                    raise RpcError(f"the node has no block {number} (looking for a fork point)")
                if stored.get(number) == theirs[number]:
                    return number, compared
                compared += 1
            high = low - 1
        return None, compared

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
