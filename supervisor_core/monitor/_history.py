"""What each process's cpu and memory were: every second for 10 minutes, every minute for 24 h.

Compact by design (the daemon keeps one per process and must stay small): each process has
two ring buffers of ``array('f')`` (4 bytes a value), allocated once, indexed by the absolute
second or minute, so recording a sample allocates nothing. A slot nobody wrote is NaN (no
sample: the process was not running, or sampling skipped that second).

A minute's point is the **mean** cpu of its samples (cpu load over the minute, as a cpu-time
counter would give it) and the **largest** memory (a peak is what a memory limit or the OOM
killer meets; a mean would hide it). A minute is closed when a sample of a later minute
arrives, or by :meth:`History.close_minutes` (which the daemon calls once a minute, so a
stopped process's last minute is closed too); closed minutes are handed out once, to be
stored.

Standard library only.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "MINUTES_KEPT",
    "SECONDS_KEPT",
    "History",
    "HistoryKey",
    "MinutePoint",
    "Resolution",
    "Series",
    "history_key",
]

SECONDS_KEPT: Final = 600
"""Per-second points kept (10 minutes)."""
MINUTES_KEPT: Final = 1440
"""Per-minute points kept (24 hours)."""

Resolution = Literal["second", "minute"]
HistoryKey = tuple[str, int]
"""Whose history: (app name, instance index). Built by :func:`history_key` only."""

_NAN: Final = math.nan


def history_key(app: str, instance: int) -> HistoryKey:
    """The one place that says what a history belongs to (an app's instance, for now)."""
    return (app, instance)


@dataclass(frozen=True)
class MinutePoint:
    """One closed minute of one process: what ``state.db`` keeps."""

    key: HistoryKey
    minute: int
    """POSIX minute: ``int(t // 60)``."""
    cpu_percent: float | None
    """The mean of the minute's cpu samples (None: none had a cpu figure)."""
    memory_bytes: float
    """The largest memory sample of the minute."""


@dataclass(frozen=True)
class Series:
    """Evenly spaced points, oldest first; the last one is at ``end`` (POSIX seconds, the
    start of its second or minute). None where there was no sample."""

    step: int
    end: int
    cpu_percent: list[float | None]
    memory_bytes: list[float | None]


def _value(x: float) -> float | None:
    return None if math.isnan(x) else x


class _Ring:
    """``size`` slots of cpu and memory (float32), slot ``n % size`` holding step ``n``."""

    __slots__ = ("cpu", "last", "mem")

    def __init__(self, size: int) -> None:
        self.cpu = array("f", [_NAN]) * size
        self.mem = array("f", [_NAN]) * size
        self.last = -1
        """The newest step written (-1: none yet)."""

    def put(self, step: int, cpu: float, mem: float) -> None:
        size = len(self.cpu)
        if step == self.last + 1:  # the next step, as every second: nothing skipped
            self.cpu[step % size] = cpu
            self.mem[step % size] = mem
            self.last = step
            return
        if self.last >= 0:
            if step <= self.last - size:
                return  # older than what the ring holds
            # Steps skipped since the last write had no sample: blank their old contents.
            for skipped in range(self.last + 1, min(step, self.last + size + 1)):
                self.cpu[skipped % size] = _NAN
                self.mem[skipped % size] = _NAN
        self.cpu[step % size] = cpu
        self.mem[step % size] = mem
        self.last = max(self.last, step)

    def fill(self, step: int, cpu: float, mem: float) -> None:
        """:meth:`put` for a ring filled oldest first from nothing (no gap to blank)."""
        size = len(self.cpu)
        self.cpu[step % size] = cpu
        self.mem[step % size] = mem
        if step > self.last:
            self.last = step

    def window(self, end: int, count: int) -> tuple[list[float | None], list[float | None]]:
        size = len(self.cpu)
        cpu: list[float | None] = []
        mem: list[float | None] = []
        for step in range(end - count + 1, end + 1):
            if self.last < 0 or step > self.last or step <= self.last - size:
                cpu.append(None)
                mem.append(None)
            else:
                cpu.append(_value(self.cpu[step % size]))
                mem.append(_value(self.mem[step % size]))
        return cpu, mem


class _Process:
    """The two rings of one process and the minute being gathered."""

    __slots__ = ("cpu_n", "cpu_sum", "mem_max", "minute", "minutes", "seconds")

    def __init__(self) -> None:
        self.seconds = _Ring(SECONDS_KEPT)
        self.minutes = _Ring(MINUTES_KEPT)
        self.minute = -1  # the minute being gathered (-1: none)
        self.cpu_sum = 0.0
        self.cpu_n = 0
        self.mem_max = 0.0

    def close(self) -> tuple[int, float | None, float] | None:
        """End the minute being gathered: (minute, mean cpu, max memory), kept in the ring."""
        if self.minute < 0:
            return None
        cpu = self.cpu_sum / self.cpu_n if self.cpu_n else None
        point = (self.minute, cpu, self.mem_max)
        self.minutes.put(self.minute, _NAN if cpu is None else cpu, self.mem_max)
        self.minute, self.cpu_sum, self.cpu_n, self.mem_max = -1, 0.0, 0, 0.0
        return point


class History:
    """The histories of every process, by :data:`HistoryKey`. Not thread-safe (the daemon's
    event loop is its only user)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._procs: dict[HistoryKey, _Process] = {}
        self._closed: list[MinutePoint] = []

    def __len__(self) -> int:
        return len(self._procs)

    def keys(self) -> list[HistoryKey]:
        return list(self._procs)

    def _process(self, key: HistoryKey) -> _Process:
        proc = self._procs.get(key)
        if proc is None:
            proc = self._procs[key] = _Process()
        return proc

    def record(
        self, key: HistoryKey, cpu_percent: float | None, memory_bytes: int, at: float | None = None
    ) -> None:
        """One sample of ``key``'s tree, taken at ``at`` (POSIX seconds; now by default)."""
        now = self._clock() if at is None else at
        second = math.floor(now)
        minute = second // 60
        proc = self._procs.get(key) or self._process(key)
        cpu = _NAN if cpu_percent is None else float(cpu_percent)
        mem = float(memory_bytes)
        proc.seconds.put(second, cpu, mem)
        if proc.minute != minute:
            self._keep(key, proc.close())
            proc.minute = minute
        if cpu_percent is not None:
            proc.cpu_sum += cpu
            proc.cpu_n += 1
        if mem > proc.mem_max:
            proc.mem_max = mem

    def _keep(self, key: HistoryKey, point: tuple[int, float | None, float] | None) -> None:
        if point is not None:
            self._closed.append(MinutePoint(key, *point))

    def close_minutes(self, now: float | None = None) -> list[MinutePoint]:
        """Close every minute before the current one and hand out the minutes closed since the
        last call, oldest first (each is handed out once)."""
        current = math.floor(self._clock() if now is None else now) // 60
        for key, proc in self._procs.items():
            if 0 <= proc.minute < current:
                self._keep(key, proc.close())
        closed, self._closed = self._closed, []
        return closed

    def load(self, rows: Iterable[tuple[HistoryKey, int, float | None, float]]) -> None:
        """Minutes kept by an earlier daemon (``state.db``): (key, minute, mean cpu, largest
        memory), each process's oldest first, into a history that has none yet."""
        rings: dict[HistoryKey, _Ring] = {}
        for key, minute, cpu, memory in rows:
            ring = rings.get(key)
            if ring is None:
                ring = rings[key] = self._process(key).minutes
            ring.fill(minute, _NAN if cpu is None else cpu, memory)

    def retain(self, keys: Iterable[HistoryKey]) -> None:
        """Forget every process but ``keys`` (a deleted app, an instance scaled away)."""
        wanted = set(keys)
        for key in [k for k in self._procs if k not in wanted]:
            del self._procs[key]

    def series(
        self,
        key: HistoryKey,
        resolution: Resolution,
        points: int | None = None,
        now: float | None = None,
    ) -> Series:
        """The last ``points`` (at most, and by default, all that are kept) of ``key`` ending
        now: seconds end at the current second, minutes at the last closed minute."""
        second = math.floor(self._clock() if now is None else now)
        if resolution == "second":
            step, kept, end = 1, SECONDS_KEPT, second
        else:
            step, kept, end = 60, MINUTES_KEPT, second // 60 - 1
        count = kept if points is None else max(0, min(points, kept))
        proc = self._procs.get(key)
        if proc is None:
            empty: list[float | None] = [None] * count
            return Series(step, end * step, empty, list(empty))
        ring = proc.seconds if resolution == "second" else proc.minutes
        cpu, mem = ring.window(end, count)
        return Series(step, end * step, cpu, mem)
