"""Live output lines fanned out to followers (``ptm logs``), never blocking supervision."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["LogHub", "LogLine"]


@dataclass(frozen=True)
class LogLine:
    app: str
    instance: int
    stream: str
    line: str


@dataclass
class _Follower:
    send: MemoryObjectSendStream[LogLine]
    app: str | None
    stream: str | None
    dropped: int = 0


class LogHub:
    """``publish`` is the supervisor's output callback; each follower has a bounded buffer
    and loses the newest lines (with a note) when it falls behind."""

    def __init__(self, buffer: int = 10_000) -> None:
        self._buffer = buffer
        self._followers: list[_Follower] = []

    def publish(self, app: str, instance: int, stream: str, lines: list[bytes]) -> None:
        if not self._followers:
            return
        decoded: list[LogLine] | None = None
        for follower in list(self._followers):
            if follower.app is not None and follower.app != app:
                continue
            if follower.stream is not None and follower.stream != stream:
                continue
            if decoded is None:
                decoded = [
                    LogLine(app, instance, stream, raw.decode("utf-8", "replace")) for raw in lines
                ]
            for item in decoded:
                try:
                    follower.send.send_nowait(item)
                except anyio.WouldBlock:
                    follower.dropped += 1
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    with contextlib.suppress(ValueError):
                        self._followers.remove(follower)
                    break

    def open(
        self, app: str | None = None, stream: str | None = None
    ) -> tuple[object, MemoryObjectReceiveStream[LogLine]]:
        """Start following now (no line is missed from this call on); pass the token to
        :meth:`close` when done. A follower whose receive stream is closed or collected is
        dropped at the next line."""
        send, receive = anyio.create_memory_object_stream[LogLine](self._buffer)
        follower = _Follower(send, app, stream)
        self._followers.append(follower)
        return follower, receive

    def close(self, token: object) -> None:
        if isinstance(token, _Follower):
            with contextlib.suppress(ValueError):
                self._followers.remove(token)
            token.send.close()

    @asynccontextmanager
    async def follow(
        self, app: str | None = None, stream: str | None = None
    ) -> AsyncIterator[MemoryObjectReceiveStream[LogLine]]:
        token, receive = self.open(app, stream)
        try:
            yield receive
        finally:
            self.close(token)
            receive.close()
