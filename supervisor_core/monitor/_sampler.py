"""Sampling cpu and memory of whole process trees, with one psutil.Process per pid."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import psutil

from supervisor_core._throttle import Throttle
from supervisor_core.process import descendant_pids

__all__ = ["Monitor", "TreeSample", "TreeSampler"]

log = logging.getLogger("ptm.monitor")
_THROTTLE = Throttle()


@dataclass(frozen=True)
class TreeSample:
    """cpu and RSS summed over a process and all its descendants."""

    cpu_percent: float | None
    """None on the first sample of a root (psutil needs two readings)."""
    memory_bytes: int
    pids: tuple[int, ...]
    taken_at: float


class TreeSampler:
    """Reads process trees; keeps one psutil.Process per pid across samples.

    The first ``cpu_percent()`` of a new psutil.Process is meaningless, so the objects are
    kept between samples and dropped only when their process is gone.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._clock = clock

    def _proc(self, pid: int, *, trusted: bool = False) -> psutil.Process | None:
        """The kept handle of ``pid``. ``trusted``: the pid is our own unreaped child, so it
        cannot have been reused and the create-time check is skipped."""
        proc = self._procs.get(pid)
        if proc is not None:
            if trusted or proc.is_running():
                return proc
            del self._procs[pid]
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # prime: the next call measures from now
        except psutil.Error:
            return None
        self._procs[pid] = proc
        return proc

    def handles(self, pids: tuple[int, ...]) -> list[psutil.Process]:
        """The kept psutil handles of ``pids`` (create time pinned when first seen)."""
        return [p for pid in pids if (p := self._procs.get(pid)) is not None]

    def sample(self, root: int) -> TreeSample | None:
        """One reading of ``root``'s tree, or None when ``root`` is gone."""
        root_known = root in self._procs
        root_proc = self._proc(root, trusted=True)
        if root_proc is None:
            return None
        total_cpu = 0.0
        total_rss = 0
        seen: list[int] = []
        for pid in [root, *descendant_pids(root)]:
            proc = root_proc if pid == root else self._proc(pid)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    total_rss += proc.memory_info().rss
                    total_cpu += proc.cpu_percent(None)
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            seen.append(pid)
        return TreeSample(
            cpu_percent=round(total_cpu, 1) if root_known else None,
            memory_bytes=total_rss,
            pids=tuple(seen),
            taken_at=self._clock(),
        )

    def forget(self, pids: tuple[int, ...]) -> None:
        for pid in pids:
            self._procs.pop(pid, None)


@dataclass
class _Target:
    root: int
    interval: float
    on_sample: Callable[[TreeSample | None], None]
    due: float
    pids: tuple[int, ...] = field(default=())


class Monitor:
    """One periodic task that samples every watched tree on its own interval."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.sampler = TreeSampler(clock)
        self._clock = clock
        self._targets: dict[object, _Target] = {}
        self._wake = anyio.Event()

    def watch(
        self,
        key: object,
        root: int,
        interval: float,
        on_sample: Callable[[TreeSample | None], None],
    ) -> None:
        """Sample ``root``'s tree every ``interval`` seconds, first at once."""
        self._targets[key] = _Target(root, interval, on_sample, due=self._clock())
        self._wake.set()

    def unwatch(self, key: object) -> tuple[int, ...]:
        """Stop sampling; returns the pids seen in the tree at the last sample."""
        target = self._targets.pop(key, None)
        if target is None:
            return ()
        self.sampler.forget(target.pids)
        return target.pids

    def known_pids(self, key: object) -> tuple[int, ...]:
        target = self._targets.get(key)
        return target.pids if target is not None else ()

    def tick(self) -> float:
        """Sample what is due; return the time of the next due sample (inf if none)."""
        now = self._clock()
        for target in list(self._targets.values()):
            if target.due > now:
                continue
            try:
                sample = self.sampler.sample(target.root)
            except psutil.Error:  # the tree changed under us: no reading this time
                sample = None
            except OSError as exc:  # out of descriptors...: no reading this time, said once
                sample = None
                _THROTTLE.say(
                    type(exc).__name__ + str(exc.errno),
                    f"cannot sample processes: {exc.strerror or exc}",
                    log.warning,
                )
            if sample is not None:
                target.pids = sample.pids
            # Aligned on multiples of the interval: targets with one interval are sampled
            # together, so 50 apps cost one wake-up per interval, not 50.
            target.due = (math.floor(now / target.interval) + 1) * target.interval
            with contextlib.suppress(Exception):
                target.on_sample(sample)
        return min((t.due for t in self._targets.values()), default=math.inf)

    async def run(self) -> None:
        """Sample forever (until cancelled)."""
        while True:
            next_due = self.tick()
            self._wake = anyio.Event()
            with anyio.move_on_after(max(next_due - self._clock(), 0.0)):
                await self._wake.wait()
