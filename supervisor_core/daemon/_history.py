"""Each process's cpu and memory over time: fed by the supervisor's samples, its minutes kept
in ``state.db`` (24 hours), served by ``GET /v1/processes/{target}/history``.

The seconds (10 minutes) live only in memory; the minutes are written once a minute and read
back when the daemon starts. What a point means (mean cpu, largest memory of a minute) is
:mod:`supervisor_core.monitor`'s :class:`~supervisor_core.monitor.History`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import anyio

from supervisor_core.errors import StateError
from supervisor_core.monitor import (
    MINUTES_KEPT,
    History,
    HistoryKey,
    Resolution,
    Series,
    TreeSample,
    history_key,
)
from supervisor_core.store import MinuteRow, StateStore

__all__ = ["HISTORY_INTERVAL", "RESOLUTIONS", "HistoryKeeper"]

log = logging.getLogger("ptm.daemon")

HISTORY_INTERVAL: Final = 1.0
"""How often the daemon samples each app (the history's per-second points)."""
RESOLUTIONS: Final[tuple[Resolution, ...]] = ("second", "minute")
_PRUNE_EVERY: Final = 60
"""Minutes between two deletions of rows older than 24 hours."""


def _cpu(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _mem(value: float | None) -> int | None:
    return None if value is None else int(value)


def _key(row: Mapping[str, Any]) -> HistoryKey:
    return history_key(str(row["name"]), int(row["instance"]))


def series_view(series: Series) -> dict[str, Any]:
    """A series as JSON: ``end`` is the POSIX time of the last point, ``step`` the seconds
    between points, oldest first, ``null`` where there was no sample."""
    return {
        "step": series.step,
        "end": series.end,
        "cpu_percent": [_cpu(v) for v in series.cpu_percent],
        "memory_bytes": [_mem(v) for v in series.memory_bytes],
    }


LOAD_PAGE: Final = 1440
"""Minutes read back from ``state.db`` at a time (a day of one process). All at once, a day
of 20 processes (28,800 rows, three copies of them on the way) left the daemon 12 MB larger
for good: freed, but scattered among objects that stay."""


def _points(rows: Iterable[MinuteRow]) -> Iterator[tuple[HistoryKey, int, float | None, float]]:
    for app, instance, minute, cpu, memory in rows:
        try:
            key = history_key(str(app), int(instance))
            yield key, int(minute), None if cpu is None else float(cpu), float(memory)
        except (TypeError, ValueError):  # a damaged row: skipped
            continue


class HistoryKeeper:
    """The daemon's :class:`History`, with its minutes in ``state.db``."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.history = History(clock)
        self._store = store
        self._clock = clock

    def on_sample(self, app: str, instance: int, sample: TreeSample) -> None:
        """The supervisor's sample callback."""
        self.history.record(history_key(app, instance), sample.cpu_percent, sample.memory_bytes)

    def _day_ago(self) -> int:
        return math.floor(self._clock()) // 60 - MINUTES_KEPT

    async def load(self) -> int:
        """Read back the last 24 hours of minutes (and delete older ones); returns how many
        minutes were read. A damaged row is skipped."""
        since = self._day_ago()
        loaded = 0
        after: tuple[str, int, int] | None = None
        try:
            await self._store.prune_minutes(since)
            while rows := await self._store.minutes(since, after, LOAD_PAGE):
                after = (rows[-1][0], rows[-1][1], rows[-1][2])
                points = list(_points(rows))
                self.history.load(points)
                loaded += len(points)
        except StateError as exc:
            log.error("cannot read the kept history: %s", exc)
        return loaded

    async def save_minutes(self) -> int:
        """Close the minutes that are over and write them; returns how many were written."""
        points = self.history.close_minutes()
        rows: list[MinuteRow] = [
            (p.key[0], p.key[1], p.minute, p.cpu_percent, p.memory_bytes) for p in points
        ]
        if rows:
            await self._store.record_minutes(rows)
        return len(rows)

    async def run(self, rows: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        """First read back the kept minutes (:meth:`load`: in the background, so that they
        never delay the daemon's start). Then once a minute, just after it turns: write the
        minutes that ended, forget the processes that are gone (``rows`` gives the ``jlist``
        rows of those that are not), and once an hour delete rows older than 24 hours. A
        task for the daemon's lifetime."""
        await self.load()
        turns = 0
        while True:
            now = self._clock()
            await anyio.sleep(60 - now % 60 + 0.5)
            try:
                await self.save_minutes()
                turns += 1
                if turns % _PRUNE_EVERY == 0:
                    await self._store.prune_minutes(self._day_ago())
            except StateError as exc:
                log.error("cannot keep the history: %s", exc)
            self.history.retain(_key(row) for row in rows())

    def view(
        self,
        rows: Sequence[Mapping[str, Any]],
        resolution: Resolution | None = None,
        points: int | None = None,
    ) -> dict[str, Any]:
        """``{"processes": [...]}``: for each ``jlist`` row, its series at ``resolution``
        (both when None), the last ``points`` of each (all kept when None)."""
        wanted = RESOLUTIONS if resolution is None else (resolution,)
        now = self._clock()
        out: list[dict[str, Any]] = []
        for row in rows:
            key = _key(row)
            item: dict[str, Any] = {
                "id": row.get("id"),
                "name": row["name"],
                "instance": row["instance"],
            }
            for res in wanted:
                item[res] = series_view(self.history.series(key, res, points, now=now))
            out.append(item)
        return {"processes": out}
