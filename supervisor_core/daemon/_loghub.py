"""Live output lines fanned out to followers (``ptm logs``), never slowing the apps.

The supervisor's output callback (:meth:`LogHub.publish`) runs in the pump that reads an
app's pipe, so whatever it costs, the app waits for. It therefore encodes each batch of lines
once (ndjson, the answer's own bytes), whatever the number of followers, and hands the same
bytes to each follower: O(followers) per batch, not O(followers x lines).

Each follower has a budget of :data:`FOLLOWER_BUDGET` bytes waiting to be sent. A follower that
does not keep up (a slow terminal, a client that stopped reading) falls behind at the first
batch that does not fit: from then on it is skipped at the cost of one test a batch (no
encoding, no queueing, no wake-up; see docs/benchmarks.md), until it has sent everything that
waited; then it is told, in order, in the stream itself: ``{"skipped": N}`` stands where N
lines were left out (counted from the hub's running count of lines per app, instance and
stream, not one by one). It is handed what waits :data:`PIECE` bytes at a time, so that the
server's own write buffer holds a piece, not a second budget. The log files always have every
line; a follower never holds more than its budget in the daemon.

When the daemon stops, :meth:`LogHub.end` ends every stream: each follower gets what waits
for it, then :data:`STOPPED`, and its stream ends, so a client tells a daemon that stopped
from a connection that was lost.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

import anyio

__all__ = ["FOLLOWER_BUDGET", "PIECE", "STOPPED", "UPDATED", "Follower", "LogHub"]

FOLLOWER_BUDGET: Final = 1 << 20
"""Bytes of lines that may wait for one follower before the next batches are skipped."""

STOPPED: Final = b'{"daemon": "stopped"}\n'
"""The last line of every follow stream when the daemon stops."""
UPDATED: Final = b'{"daemon": "updated"}\n'
"""The last line of every follow stream before ``ptm update`` replaces the daemon."""


PIECE: Final = 1 << 16
"""At most this much (or one batch) is handed to the server at a time for one follower."""

Key = tuple[str, int, str]
"""An app, an instance, a stream."""


@dataclass(eq=False)
class Follower:
    """One ``ptm logs -f``: what waits to be sent to it, in order."""

    only: Mapping[str, frozenset[int] | None] | None
    """The apps followed, each with the instances followed (None: all); None: every app."""
    stream: str | None
    budget: int
    published: Mapping[Key, int] = field(default_factory=dict)
    """The hub's running count of lines published, by app, instance and stream."""
    queue: deque[bytes] = field(default_factory=deque)
    """Encoded batches."""
    size: int = 0
    behind_at: int | None = None
    """Fell behind: how many of its lines had been published before the first it skipped."""
    closed: bool = False
    ending: bool = False
    """The daemon stops: what waits is sent, then :data:`STOPPED`."""
    done: bool = False
    """:data:`STOPPED` was handed out: the stream is over."""
    _told: int = 0
    _wake: anyio.Event = field(default_factory=anyio.Event)
    _last: bytes = STOPPED

    def follows(self, app: str, instance: int, stream: str) -> bool:
        """Whether lines of this app, instance and stream are for this follower."""
        if self.stream is not None and self.stream != stream:
            return False
        if self.only is None:
            return True
        if app not in self.only:
            return False
        instances = self.only[app]
        return instances is None or instance in instances

    def _lines(self) -> int:
        """Every line published so far for this follower."""
        return sum(n for key, n in self.published.items() if self.follows(*key))

    @property
    def skipped(self) -> int:
        """Every line skipped so far (told, or not yet: for tests and the daemon's figures)."""
        behind = 0 if self.behind_at is None else self._lines() - self.behind_at
        return self._told + behind

    def offer(self, chunk: bytes, lines: int) -> bool:
        """Queue an encoded batch of ``lines`` lines; False (and fall behind) if it does not
        fit."""
        if self.size + len(chunk) > self.budget:
            self.fall_behind()
            return False
        self.queue.append(chunk)
        self.size += len(chunk)
        self._wake.set()
        return True

    def fall_behind(self) -> None:
        """Skip every line from the batch being published until what waits is sent."""
        self.behind_at = self._lines()
        self._wake.set()

    def end(self, last: bytes = STOPPED) -> None:
        """End the stream after what waits with ``last`` (the daemon stops, or updates)."""
        self.ending = True
        self._last = last
        self._wake.set()

    async def next(self) -> bytes:
        """What waits (at least one line or notice, at most about :data:`PIECE` bytes), in
        order; waits for it. Once ended, the last answer ends with :data:`STOPPED` and
        :attr:`done` is set."""
        while not self.queue and self.behind_at is None and not self.ending:
            self._wake = anyio.Event()
            await self._wake.wait()
        parts: list[bytes] = []
        handed = 0
        while self.queue and handed < PIECE:
            parts.append(self.queue.popleft())
            handed += len(parts[-1])
        self.size -= handed
        if not self.queue:
            if self.behind_at is not None:
                count = self._lines() - self.behind_at
                self._told += count
                self.behind_at = None
                parts.append(_skipped(count))
            if self.ending:
                parts.append(self._last)
                self.done = True
        return b"".join(parts)


def _skipped(count: int) -> bytes:
    return json.dumps({"skipped": count}).encode() + b"\n"


def encode(app: str, instance: int, stream: str, lines: list[bytes]) -> bytes:
    """One batch as ndjson: a ``{"app", "instance", "stream", "line"}`` object a line."""
    head = json.dumps({"app": app, "instance": instance, "stream": stream})[:-1]
    return b"".join(
        f'{head}, "line": {json.dumps(raw.decode("utf-8", "replace"))}}}\n'.encode()
        for raw in lines
    )


class LogHub:
    """``publish`` is the supervisor's output callback; :meth:`open` a follower, read it with
    :meth:`Follower.next`, :meth:`close` it when done."""

    def __init__(self, budget: int = FOLLOWER_BUDGET) -> None:
        self._budget = budget
        self._followers: list[Follower] = []
        self._published: dict[Key, int] = {}
        self._skipped_closed = 0
        self._ended = False
        self._all_closed: anyio.Event | None = None
        self.encoded_batches = 0
        """How many batches were encoded (once each, whatever the number of followers)."""

    @property
    def followers(self) -> int:
        return len(self._followers)

    @property
    def skipped(self) -> int:
        """Lines skipped by every follower, ever (the files have them)."""
        return self._skipped_closed + sum(f.skipped for f in self._followers)

    def publish(self, app: str, instance: int, stream: str, lines: list[bytes]) -> None:
        if not self._followers or not lines:
            return
        chunk: bytes | None = None
        # The batch encodes to more than its raw bytes: a follower that has no room for those
        # falls behind without anything being encoded (followers behind cost one test each).
        at_least = -1
        for follower in self._followers:
            if follower.behind_at is not None or not follower.follows(app, instance, stream):
                continue
            if at_least < 0:
                at_least = sum(map(len, lines))
            if follower.size + at_least > follower.budget:
                follower.fall_behind()
                continue
            if chunk is None:
                chunk = encode(app, instance, stream, lines)
                self.encoded_batches += 1
            follower.offer(chunk, len(lines))
        key = (app, instance, stream)
        self._published[key] = self._published.get(key, 0) + len(lines)

    def open(
        self,
        app: str | Mapping[str, Collection[int] | None] | None = None,
        stream: str | None = None,
    ) -> Follower:
        """Start following now: no line is missed from this call on. ``app`` is one app, or
        apps each with the instances to follow (None: every instance); None: every app."""
        only: dict[str, frozenset[int] | None] | None
        if app is None:
            only = None
        elif isinstance(app, str):
            only = {app: None}
        else:
            only = {k: None if v is None else frozenset(v) for k, v in app.items()}
        follower = Follower(only, stream, self._budget, self._published)
        self._followers.append(follower)
        if self._ended:
            follower.end()
        return follower

    def close(self, follower: Follower) -> None:
        follower.closed = True
        if follower in self._followers:
            self._followers.remove(follower)
            self._skipped_closed += follower.skipped
        if self._all_closed is not None and not self._followers:
            self._all_closed.set()

    async def end(self, timeout: float, *, last: bytes = STOPPED) -> bool:
        """End every stream (the daemon stops; ``last`` is :data:`UPDATED` before an update),
        and wait up to ``timeout`` seconds until each follower sent its last line and
        closed. True if they all did."""
        self._ended = True
        if not self._followers:
            return True
        self._all_closed = closed = anyio.Event()
        for follower in self._followers:
            follower.end(last)
        with anyio.move_on_after(timeout):
            await closed.wait()
        return not self._followers
