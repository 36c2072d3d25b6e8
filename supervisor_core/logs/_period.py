"""The periods of time rotation (``log_rotate_interval``): local hours or local days.

A period is ``[start, end)`` in POSIX seconds. Boundaries are those of the local time zone
(the daemon's ``TZ``), like ``cron_restart``, ``logrotate``'s ``daily`` and the timestamps in
front of each line: ``"daily"`` starts at local midnight, ``"hourly"`` at each local hour.
Across a daylight-saving change a day has 23 or 25 hours.
"""

from __future__ import annotations

import math
import time

from supervisor_core.config import RotateInterval

__all__ = ["period_of"]


def period_of(timestamp: float, interval: RotateInterval) -> tuple[float, float]:
    """The ``(start, end)`` of the period holding ``timestamp``."""
    sec = math.floor(timestamp)
    local = time.localtime(sec)
    if interval == "hourly":
        # Zone offsets are whole minutes, so the local hour starts this many seconds ago.
        start = float(sec - local.tm_min * 60 - local.tm_sec)
        return start, start + 3600.0
    day = (local.tm_year, local.tm_mon, local.tm_mday)
    start = _local_midnight(*day)
    end = _local_midnight(day[0], day[1], day[2] + 1)  # mktime normalises the 32nd
    if not start <= sec < end:  # a zone whose midnight is skipped or repeated: be safe
        start = float(sec - local.tm_hour * 3600 - local.tm_min * 60 - local.tm_sec)
        end = start + 86400.0
    return start, end


def _local_midnight(year: int, month: int, day: int) -> float:
    return time.mktime((year, month, day, 0, 0, 0, 0, 0, -1))
