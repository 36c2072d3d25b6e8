"""The status of an instance, and the sets of statuses that mean something, defined once.

A leaf module (nothing of ptm imported), so that the snapshots of ``_info`` can carry a
:class:`Status` without importing the process machinery; :mod:`supervisor_core.process`
re-exports it.
"""

from __future__ import annotations

import enum

__all__ = ["ACTIVE", "ENDED", "RESTARTABLE", "RUNNING", "UP", "Status"]


class Status(enum.StrEnum):
    """PM2's words, so that ``ptm list`` reads as a PM2 user expects.

    A ``str``: ``Status.ONLINE == "online"``, and JSON shows the word.
    """

    LAUNCHING = "launching"
    ONLINE = "online"
    STOPPING = "stopping"
    STOPPED = "stopped"
    WAITING_RESTART = "waiting restart"
    ERRORED = "errored"

    @property
    def running(self) -> bool:
        """A process exists (or is being started or stopped)."""
        return self in RUNNING


RUNNING: frozenset[Status] = frozenset({Status.LAUNCHING, Status.ONLINE, Status.STOPPING})
"""A process exists (or is being started or stopped)."""
ENDED: frozenset[Status] = frozenset(Status) - RUNNING
"""No process exists."""
UP: frozenset[Status] = frozenset({Status.LAUNCHING, Status.ONLINE})
"""A process runs and nobody asked it to stop: what a cron restart restarts, and where an
exit is one the process chose by itself."""
RESTARTABLE: frozenset[Status] = frozenset(
    {Status.LAUNCHING, Status.ONLINE, Status.WAITING_RESTART, Status.ERRORED}
)
"""What a file change restarts: every instance the user has not stopped (and that is not
being stopped)."""
ACTIVE: frozenset[Status] = UP | {Status.WAITING_RESTART}
"""Running, or about to run again by itself: what ``ptm resurrect`` leaves alone."""
