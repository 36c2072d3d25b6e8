"""Saying a recurring problem once a minute, not once per occurrence.

Running out of file descriptors, for one, fails every sample and every accept until it is
over; logging each one filled ``daemon.log`` at 13 MB a second. A :class:`Throttle` lets a
message through at most once per ``period`` for each key and counts what it held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """``allow(key)`` is True at most once per ``period`` seconds for each key."""

    def __init__(self, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        return True

    def held_back(self, key: str) -> int:
        """How many were held back since the last one let through (and forget them)."""
        return self._held.pop(key, 0)

    def say(self, key: str, text: str, emit: Callable[[str], None]) -> None:
        """``emit(text)`` if allowed, noting how many like it were held back before."""
        if not self.allow(key):
            return
        held = self.held_back(key)
        emit(f"{text} ({held} more like it in the last minute)" if held else text)
