"""A process's cpu time and RSS read straight from ``/proc``: the sampler's hot path.

One ``/proc/PID/stat`` read gives all three figures the sampler needs: the cpu time
(``utime + stime``, fields 14 and 15, in clock ticks), the RSS (field 24, in pages: the same
counter as ``statm``'s resident pages, which psutil's ``memory_info().rss`` reads) and the
start time (field 22), which with the pid names one process, so a reused pid is noticed. That
is about a third of what psutil's ``oneshot()``, ``memory_info()`` and ``cpu_percent()`` cost.
The pids of a tree come from the run's cgroup (``cgroup.procs``, one read) when it has one,
else from ``/proc/PID/task/*/children`` (:func:`~supervisor_core.process.descendant_pids`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from supervisor_core.process import descendant_pids

__all__ = [
    "AVAILABLE",
    "CgroupProcs",
    "ProcStat",
    "StatFile",
    "read_pss",
    "read_stat",
    "tree_pids",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
AVAILABLE = os.path.exists("/proc/self/stat")
"""False where there is no Linux /proc: the sampler uses psutil instead."""

_FLAGS = os.O_RDONLY | os.O_CLOEXEC


class ProcStat(NamedTuple):
    cpu_seconds: float
    """User and system cpu time of the process (not of its reaped children)."""
    rss_bytes: int
    start_ticks: int
    """When the process started, in clock ticks after boot: with the pid, its identity."""


def read_stat(pid: int) -> ProcStat | None:
    """The figures of ``pid``; None when it is gone.

    Raises :class:`OSError` when ``/proc/PID/stat`` cannot be read for another reason (a
    ``hidepid`` mount...): the caller asks psutil then.
    """
    try:
        fd = os.open(f"/proc/{pid}/stat", _FLAGS)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        data = os.read(fd, 4096)
    except ProcessLookupError:  # exited between the open and the read
        return None
    finally:
        os.close(fd)
    return _parse(data)


def _parse(data: bytes) -> ProcStat | None:
    # The command name (field 2) may hold spaces and parentheses: split after its last ")",
    # no further than field 24 (the rest stays one piece).
    fields = data[data.rfind(b")") + 2 :].split(None, 22)
    if len(fields) < 22:
        return None  # exited as we read (an empty file)
    # fields[0] is field 3 (state): field N is fields[N - 3].
    return ProcStat(
        (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        int(fields[21]) * PAGE_SIZE,
        int(fields[19]),
    )


def read_pss(pid: int) -> int | None:
    """The proportional set size of ``pid`` in bytes: its resident pages, each one shared
    with N processes counted 1/N (``Pss`` of ``/proc/PID/smaps_rollup``, Linux 4.14). Summed
    over a tree that forked workers, the pages they share count once, where RSS counts them
    in every worker. None when it cannot be read (the process is gone, no such file).

    Costly: the kernel walks the process's page tables (about 2 ms for 200 MiB), some 200
    times the cost of :func:`read_stat`; read it only to confirm a figure that matters.
    """
    try:
        fd = os.open(f"/proc/{pid}/smaps_rollup", _FLAGS)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    start = data.find(b"\nPss:")
    if start < 0:
        return None
    fields = data[start + 5 : data.find(b"\n", start + 1)].split()
    try:
        return int(fields[0]) * 1024  # "Pss:   40037 kB"
    except (IndexError, ValueError):
        return None


class StatFile:
    """``/proc/PID/stat`` kept open, for a process sampled again and again: each reading is
    one ``pread``, not an open, a read and a close. The descriptor stays bound to the process
    it was opened for: once that has exited (and been reaped) the read fails, even if the pid
    names another process by then."""

    __slots__ = ("fd",)

    def __init__(self, pid: int) -> None:
        """Raises :class:`OSError` (:class:`FileNotFoundError`: ``pid`` is gone)."""
        self.fd: int | None = os.open(f"/proc/{pid}/stat", _FLAGS)

    def read(self) -> ProcStat | None:
        """The figures now; None once the process is gone (the file is closed then)."""
        if self.fd is None:
            return None
        try:
            stat = _parse(os.pread(self.fd, 4096, 0))
        except ProcessLookupError:
            stat = None
        if stat is None:
            self.close()
        return stat

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


class CgroupProcs:
    """A run cgroup's ``cgroup.procs`` kept open: its members, read with ``pread``."""

    __slots__ = ("fd", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def members(self) -> list[int] | None:
        """The pids in the cgroup; None if it cannot be read (gone)."""
        try:
            if self.fd is None:
                self.fd = os.open(os.path.join(self.path, "cgroup.procs"), _FLAGS)
            data = os.pread(self.fd, 65536, 0)
            # The kernel hands this file out a page (4 KiB) at a time, and a line is at most
            # 8 bytes: a read this short was the whole file, no second call needed to be sure.
            if len(data) >= 2048:
                chunks = [data]
                while len(chunks[-1]) >= 2048:
                    chunks.append(os.pread(self.fd, 65536, sum(map(len, chunks))))
                data = b"".join(chunks)
        except OSError:
            self.close()
            return None
        return list(map(int, data.split()))

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def tree_pids(root: int, cgroup: CgroupProcs | None = None) -> list[int]:
    """``root`` first, then the other processes of its run: the members of ``cgroup`` when
    ``root`` is one of them (escaped daemons included), else ``root``'s descendants."""
    if cgroup is not None:
        members = cgroup.members()
        if members is not None and root in members:
            if members[0] != root:  # already first (often: the oldest): nothing to move
                members.remove(root)
                members.insert(0, root)
            # The caller's own int object: the sampler's dicts, keyed by it, then find the
            # root by identity, without reading the key kept in each (cold between ticks).
            members[0] = root
            return members
    return [root, *descendant_pids(root)]
