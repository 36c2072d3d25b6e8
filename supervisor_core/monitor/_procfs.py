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

__all__ = ["AVAILABLE", "ProcStat", "read_stat", "tree_pids"]

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
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 22:
        return None  # exited as we read (an empty file)
    # fields[0] is field 3 (state): field N is fields[N - 3].
    return ProcStat(
        (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        int(fields[21]) * PAGE_SIZE,
        int(fields[19]),
    )


def tree_pids(root: int, cgroup: Path | None = None) -> list[int]:
    """``root`` first, then the other processes of its run: the members of ``cgroup`` when
    ``root`` is one of them (escaped daemons included), else ``root``'s descendants."""
    if cgroup is not None:
        try:
            fd = os.open(os.path.join(cgroup, "cgroup.procs"), _FLAGS)
            try:
                chunks = [os.read(fd, 65536)]
                while chunks[-1]:
                    chunks.append(os.read(fd, 65536))
            finally:
                os.close(fd)
        except OSError:
            pass  # the cgroup is gone: walk the tree
        else:
            members = [int(pid) for pid in b"".join(chunks).split()]
            if root in members:
                members.remove(root)
                return [root, *members]
    return [root, *descendant_pids(root)]
