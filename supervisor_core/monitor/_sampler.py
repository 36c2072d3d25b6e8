"""Sampling cpu and memory of whole process trees: /proc read directly, psutil as a fallback.

The history samples every app every second, so one tree's reading is the daemon's hot path:
:mod:`supervisor_core.monitor._procfs` reads each process's cpu time and RSS with one
``/proc/PID/stat`` read. psutil is kept for what that cannot do: systems without such a /proc,
a pid whose stat file cannot be read, and the handles :meth:`TreeSampler.handles` gives the
tree stop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import psutil

from supervisor_core._throttle import Throttle
from supervisor_core.monitor._procfs import (
    AVAILABLE,
    CgroupProcs,
    ProcStat,
    StatFile,
    read_pss,
    read_stat,
    tree_pids,
)

__all__ = ["MemoryLimit", "Monitor", "TreeSample", "TreeSampler"]

log = logging.getLogger("ptm.monitor")
_THROTTLE = Throttle()


@dataclass(frozen=True, slots=True)
class TreeSample:
    """cpu and RSS summed over a process and all its descendants."""

    cpu_percent: float | None
    """None on the first sample of a root (cpu% needs two readings)."""
    memory_bytes: int
    pids: tuple[int, ...]
    taken_at: float


@dataclass(slots=True)
class _Seen:
    """The last reading of one process: its identity, cpu seconds, and when (monotonic)."""

    start_ticks: int
    cpu_seconds: float
    at: float


class TreeSampler:
    """Reads process trees; remembers each process's last cpu time between samples.

    A process's cpu% is its cpu time since the previous sample over the time between them,
    as psutil's ``cpu_percent(None)`` computes it; a process seen for the first time counts
    0, and a tree's first sample has no cpu figure. ``clock`` stamps the samples
    (``taken_at``); the cpu% uses the real monotonic time between readings.

    Each root (an instance's main process) and its run's ``cgroup.procs`` are kept open, one
    descriptor each, until :meth:`forget` or :meth:`close`; the other processes of a tree,
    which may be many, are opened at each reading.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[int, _Seen] = {}
        self._files: dict[int, StatFile] = {}  # roots
        self._cgroups: dict[int, CgroupProcs] = {}  # by root
        self._procs: dict[int, psutil.Process] = {}  # psutil fallback only
        self._clock = clock

    def _proc(self, pid: int, *, trusted: bool = False) -> psutil.Process | None:
        """The kept psutil handle of ``pid``. ``trusted``: the pid is our own unreaped child,
        so it cannot have been reused and the create-time check is skipped."""
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
        """psutil handles of those of ``pids`` that are still the processes sampled (a pid
        reused since is left out); their create time is pinned now."""
        found: list[psutil.Process] = []
        for pid in pids:
            proc = self._procs.get(pid)
            if proc is not None:
                found.append(proc)
                continue
            seen = self._seen.get(pid)
            if seen is None:
                continue
            with contextlib.suppress(psutil.Error, OSError):
                proc = psutil.Process(pid)
                # Checked after psutil pinned its create time: a pid reused before that
                # shows another start time here.
                stat = read_stat(pid)
                if stat is not None and stat.start_ticks == seen.start_ticks:
                    found.append(proc)
        return found

    def sample(self, root: int, cgroup: Path | None = None) -> TreeSample | None:
        """One reading of ``root``'s tree (the members of its run's ``cgroup`` if it has
        one), or None when ``root`` is gone."""
        root_known = root in self._seen or root in self._procs
        members = None
        if cgroup is not None:
            members = self._cgroups.get(root)
            if members is None or (members.path is not cgroup and members.path != cgroup):
                if members is not None:
                    members.close()
                members = self._cgroups[root] = CgroupProcs(cgroup)
        pids = tree_pids(root, members)  # just [root] when it is gone
        now = time.monotonic()
        total_cpu = 0.0
        total_rss = 0
        seen: list[int] = []
        for pid in pids:
            reading = self._read(pid, now, trusted=pid == root)
            if reading is None:
                if pid == root:
                    self.forget((root,))
                    return None
                continue
            total_cpu += reading[0]
            total_rss += reading[1]
            seen.append(pid)
        return TreeSample(
            cpu_percent=round(total_cpu, 1) if root_known else None,
            memory_bytes=total_rss,
            pids=tuple(seen),
            taken_at=self._clock(),
        )

    def memory_of(self, sample: TreeSample) -> int:
        """The memory of ``sample``'s tree with the pages its processes share counted once
        (:meth:`shared_once`), for a limit to judge; a single process's RSS as it is. Call it
        only once the RSS sum matters (it is over a limit): it costs far more than a sample.
        """
        if len(sample.pids) < 2:
            return sample.memory_bytes
        shared_once = self.shared_once(sample.pids)
        return sample.memory_bytes if shared_once is None else shared_once

    def shared_once(self, pids: tuple[int, ...]) -> int | None:
        """The memory of the processes ``pids`` with each page they share counted once: the
        sum of their PSS (a process whose PSS cannot be read counts its RSS, one gone counts
        nothing). A tree's RSS sum counts the pages its forked workers share with their
        parent once per worker. None without Linux's /proc (the RSS sum is all there is).
        Costly (see :func:`read_pss`): for a figure that matters, not for every sample."""
        if not AVAILABLE:
            return None
        total = 0
        for pid in pids:
            pss = read_pss(pid)
            if pss is None:
                with contextlib.suppress(OSError):
                    stat = read_stat(pid)
                    pss = stat.rss_bytes if stat is not None else 0
            total += pss or 0
        return total

    def _read(self, pid: int, now: float, *, trusted: bool = False) -> tuple[float, int] | None:
        """(cpu% since the last reading, RSS) of ``pid``; None when it is gone."""
        if AVAILABLE and pid not in self._procs:
            try:
                stat = self._stat(pid, keep=trusted)
            except OSError:
                stat = None  # unreadable here: psutil below
            else:
                if stat is None:
                    self._seen.pop(pid, None)
                    return None
                cpu_seconds, rss, start_ticks = stat
                last = self._seen.get(pid)
                if last is None or last.start_ticks != start_ticks:
                    self._seen[pid] = _Seen(start_ticks, cpu_seconds, now)
                    return 0.0, rss  # new here (or a reused pid): cpu from now on
                elapsed = now - last.at
                used = cpu_seconds - last.cpu_seconds
                last.cpu_seconds, last.at = cpu_seconds, now  # updated in place: no garbage
                return (used / elapsed * 100 if elapsed > 0 else 0.0), rss
        proc = self._proc(pid, trusted=trusted)
        if proc is None:
            return None
        try:
            with proc.oneshot():
                return proc.cpu_percent(None), proc.memory_info().rss
        except psutil.Error:
            self._procs.pop(pid, None)
            return None

    def _stat(self, pid: int, *, keep: bool) -> ProcStat | None:
        """``pid``'s figures (None: gone), through a kept descriptor when ``keep``."""
        if not keep:
            return read_stat(pid)
        file = self._files.get(pid)
        if file is None:
            try:
                file = StatFile(pid)
            except (FileNotFoundError, ProcessLookupError):
                return None
            self._files[pid] = file
        try:
            stat = file.read()
        except OSError:
            del self._files[pid]
            file.close()
            raise
        if stat is None:
            del self._files[pid]
        return stat

    def forget(self, pids: tuple[int, ...]) -> None:
        """Drop what is known of ``pids`` (and close their descriptors)."""
        for pid in pids:
            self._procs.pop(pid, None)
            self._seen.pop(pid, None)
            file = self._files.pop(pid, None)
            if file is not None:
                file.close()
            members = self._cgroups.pop(pid, None)
            if members is not None:
                members.close()

    def close(self) -> None:
        """Forget everything: every kept descriptor is closed."""
        self.forget(tuple({*self._seen, *self._procs, *self._files, *self._cgroups}))


class MemoryLimit:
    """One run's ``max_memory_restart``, judged on each sample: over by the RSS sum (free, in
    every sample), and then, for a tree of several processes, over by the sum of their PSS
    too (:meth:`TreeSampler.memory_of`: the pages forked workers share count once). The PSS
    is read in a worker thread (it costs the kernel milliseconds per process), one reading at
    a time; ``alarm`` gets the figure that was over the limit, on the event loop."""

    def __init__(
        self,
        limit: int,
        sampler: TreeSampler,
        alarm: Callable[[int], None],
        task_group: anyio.abc.TaskGroup,
    ) -> None:
        self.limit = limit
        self._sampler = sampler
        self._alarm = alarm
        self._task_group = task_group
        self._confirming = False

    def check(self, sample: TreeSample) -> None:
        if sample.memory_bytes <= self.limit or self._confirming:
            return
        if len(sample.pids) < 2:
            self._alarm(sample.memory_bytes)
            return
        self._confirming = True
        self._task_group.start_soon(self._confirm, sample)

    async def _confirm(self, sample: TreeSample) -> None:
        try:
            memory = await anyio.to_thread.run_sync(self._sampler.memory_of, sample)
        finally:
            self._confirming = False
        if memory > self.limit:
            self._alarm(memory)


@dataclass
class _Target:
    root: int
    interval: float
    on_sample: Callable[[TreeSample | None], None]
    due: float
    cgroup: Path | None = None
    pids: tuple[int, ...] = field(default=())


class Monitor:
    """One periodic task that samples every watched tree on its own interval."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.sampler = TreeSampler(clock)
        self._clock = clock
        self._targets: dict[object, _Target] = {}
        self._nap: anyio.CancelScope | None = None

    def watch(
        self,
        key: object,
        root: int,
        interval: float,
        on_sample: Callable[[TreeSample | None], None],
        *,
        cgroup: Path | None = None,
    ) -> None:
        """Sample ``root``'s tree every ``interval`` seconds, first at once; with ``cgroup``
        (the run's own), the tree is the cgroup's members."""
        self._targets[key] = _Target(root, interval, on_sample, due=self._clock(), cgroup=cgroup)
        if self._nap is not None:
            self._nap.cancel()  # wake run() to sample it now

    def unwatch(self, key: object) -> tuple[int, ...]:
        """Stop sampling; returns the pids seen in the tree at the last sample."""
        target = self._targets.pop(key, None)
        if target is None:
            return ()
        self.sampler.forget(target.pids)
        return target.pids

    def close(self) -> None:
        """Stop sampling everything and close the sampler's descriptors."""
        self._targets.clear()
        self.sampler.close()

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
                sample = self.sampler.sample(target.root, target.cgroup)
            except psutil.Error:  # the tree changed under us: no reading this time
                sample = None
            except OSError as exc:  # out of descriptors...: no reading this time, said once
                sample = None
                _THROTTLE.say(
                    type(exc).__name__ + str(exc.errno),
                    f"cannot sample processes: {exc.strerror or exc}",
                    log.warning,
                )
            if sample is not None and sample.pids != target.pids:
                # Processes that left the tree: their last readings are not needed any more.
                self.sampler.forget(tuple(set(target.pids).difference(sample.pids)))
                target.pids = sample.pids
            # Aligned on multiples of the interval: targets with one interval are sampled
            # together, so 50 apps cost one wake-up per interval, not 50.
            target.due = (math.floor(now / target.interval) + 1) * target.interval
            # Not contextlib.suppress: that is two calls and an object per target per tick.
            try:  # noqa: SIM105
                target.on_sample(sample)
            except Exception:  # a callback's failure must not stop the sampling
                pass
        return min((t.due for t in self._targets.values()), default=math.inf)

    async def run(self) -> None:
        """Sample forever (until cancelled).

        Between two ticks the task sleeps, and :meth:`watch` cancels that sleep. A plain
        sleep, not a wait with a timeout: a timeout that expires is delivered as a
        cancellation (an exception thrown into the task and a few more turns of the event
        loop), which every second was a large part of an idle daemon's cpu.
        """
        while True:
            next_due = self.tick()
            try:
                with anyio.CancelScope() as self._nap:
                    if math.isinf(next_due):
                        await anyio.sleep_forever()
                    else:
                        await anyio.sleep(max(next_due - self._clock(), 0.0))
            finally:
                self._nap = None
