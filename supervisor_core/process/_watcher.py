"""How asyncio learns that a child exited."""

from __future__ import annotations

import asyncio
import os
import sys

__all__ = ["use_pidfd_child_watcher"]


def use_pidfd_child_watcher() -> None:
    """On Python 3.11, await children with pidfds instead of one waiting thread per child
    (3.12 does this by itself): less memory and a faster respawn."""
    if sys.version_info >= (3, 12) or not hasattr(asyncio, "PidfdChildWatcher"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return  # kernel without pidfd: keep the default watcher
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
