"""Live output lines fanned out to followers (``ptm logs``), never slowing the apps.

The supervisor's output callback (:meth:`LogHub.publish`) runs in the pump that reads an
app's pipe, so whatever it costs, the app waits for. It therefore encodes each batch of lines
once (ndjson, the answer's own bytes), whatever the number of followers, and hands the same
bytes to each follower: O(followers) per batch, not O(followers x lines).

Each follower has a budget of :data:`FOLLOWER_BUDGET` bytes waiting to be sent. A follower that
does not keep up (a slow terminal, a client that stopped reading) skips the batches that do
not fit, and is told in order, in the stream itself: ``{"skipped": N}`` stands where N lines
were left out. The log files always have every line; a follower never holds more than its
budget in the daemon.

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

__all__ = ["FOLLOWER_BUDGET", "STOPPED", "UPDATED", "Follower", "LogHub"]

FOLLOWER_BUDGET: Final = 1 << 20
"""Bytes of lines that may wait for one follower before the next batches are skipped."""

STOPPED: Final = b'{"daemon": "stopped"}\n'
"""The last line of every follow stream when the daemon stops."""
UPDATED: Final = b'{"daemon": "updated"}\n'
"""The last line of every follow stream before ``ptm update`` replaces the daemon."""


@dataclass(eq=False)
class Follower:
    """One ``ptm logs -f``: what waits to be sent to it, in order."""

    only: Mapping[str, frozenset[int] | None] | None
    """The apps followed, each with the instances followed (None: all); None: every app."""
    stream: str | None
    budget: int
    queue: deque[bytes | int] = field(default_factory=deque)
    """Encoded batches, and counts of skipped lines between them."""
    size: int = 0
    skipped: int = 0
    """Every line skipped so far (for tests and the daemon's own figures)."""
    closed: bool = False
    ending: bool = False
    """The daemon stops: what waits is sent, then :data:`STOPPED`."""
    done: bool = False
    """:data:`STOPPED` was handed out: the stream is over."""
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

    def offer(self, chunk: bytes, lines: int) -> None:
        """Queue an encoded batch of ``lines`` lines, or skip it if it does not fit."""
        if self.size + len(chunk) > self.budget:
            self.skip(lines)
            return
        self.queue.append(chunk)
        self.size += len(chunk)
        self._wake.set()

    def skip(self, lines: int) -> None:
        """Leave out ``lines`` lines, and say so in their place."""
        self.skipped += lines
        if self.queue and isinstance(self.queue[-1], int):
            self.queue[-1] += lines
        else:
            self.queue.append(lines)
        self._wake.set()

    def end(self, last: bytes = STOPPED) -> None:
        """End the stream after what waits with ``last`` (the daemon stops, or updates)."""
        self.ending = True
        self._last = last
        self._wake.set()

    async def next(self) -> bytes:
        """Everything waiting (at least one line or notice), in order; waits for it. Once
        ended, the last answer ends with :data:`STOPPED` and :attr:`done` is set."""
        while not self.queue and not self.ending:
            self._wake = anyio.Event()
            await self._wake.wait()
        parts: list[bytes] = []
        while self.queue:
            item = self.queue.popleft()
            parts.append(_skipped(item) if isinstance(item, int) else item)
        self.size = 0
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
        chunk: bytes | None = None
        # The batch encodes to more than its raw bytes: a follower that has no room for those
        # skips it without anything being encoded (followers that fell behind cost nothing).
        at_least = sum(len(raw) for raw in lines)
        for follower in self._followers:
            if not follower.follows(app, instance, stream):
                continue
            if follower.size + at_least > follower.budget:
                follower.skip(len(lines))
                continue
            if chunk is None:
                chunk = encode(app, instance, stream, lines)
                self.encoded_batches += 1
            follower.offer(chunk, len(lines))

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
        follower = Follower(only, stream, self._budget)
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
