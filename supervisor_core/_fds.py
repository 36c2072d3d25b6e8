"""File descriptors: how many this process may still open, and raising its own limit."""

from __future__ import annotations

import errno
import os
import resource
from typing import Final

__all__ = [
    "DAEMON_RESERVE",
    "SPAWN_RESERVE",
    "check_reserve",
    "free_descriptors",
    "raise_descriptor_limit",
]

DAEMON_RESERVE: Final = 32
"""Descriptors kept free for the daemon itself (its socket's connections, state.db, reading
/proc): a log file is not opened, and no app started, that would leave fewer. Out of
descriptors, apps wait and their lines are dropped (said once), but ``ptm`` still reaches the
daemon and can stop it."""
SPAWN_RESERVE: Final = DAEMON_RESERVE + 8
"""Descriptors free for a spawn to start: the reserve, plus what one start takes at once
(pipes, the exec check, the pidfd that watches the child). With fewer, ptm does not start the
child at all rather than lose track of one it started."""


def check_reserve(what: str, needed: int = DAEMON_RESERVE) -> None:
    """Raise OSError(EMFILE) when fewer than ``needed`` descriptors are free."""
    free = free_descriptors()
    if free is not None and free < needed:
        raise OSError(
            errno.EMFILE,
            f"Too many open files: {free} descriptors free, {needed} kept for the daemon"
            " (raise the limit: ulimit -n, LimitNOFILE=)",
            what,
        )


def free_descriptors() -> int | None:
    """How many more descriptors this process may open (None: no limit)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        used = len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself held
    except OSError:
        return 0
    return soft - used


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; returns (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        return soft, soft
    return soft, hard
