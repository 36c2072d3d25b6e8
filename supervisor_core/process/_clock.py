"""The monotonic clock an instance reads and sleeps on, injectable so that tests can drive
restart delays and readiness deadlines with a fake."""

from __future__ import annotations

from typing import Protocol

import anyio

__all__ = ["ANYIO_CLOCK", "AnyioClock", "Clock"]


class Clock(Protocol):
    """Monotonic seconds, and a sleep until one of them."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class AnyioClock:
    """The event loop's clock (what ``anyio.move_on_after`` uses)."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)


ANYIO_CLOCK: Clock = AnyioClock()
