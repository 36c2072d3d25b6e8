"""How asyncio learns that a child exited."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

__all__ = ["freeze_child_watcher", "use_pidfd_child_watcher"]


class _FreezableWatcher(asyncio.PidfdChildWatcher):
    """asyncio's pidfd watcher that can stop reaping: before ``ptm update`` execs the new
    image, no child may be reaped (its exit status is for the new image to read)."""

    def freeze(self) -> None:
        loop: Any = getattr(self, "_loop")  # noqa: B009 (asyncio's own attributes)
        callbacks: dict[int, tuple[int, Any, Any]] = getattr(self, "_callbacks")  # noqa: B009
        for pidfd, _callback, _args in callbacks.values():
            loop._remove_reader(pidfd)


_installed: _FreezableWatcher | None = None


def freeze_child_watcher() -> bool:
    """Reap no child from now on; False when ptm's watcher is not the one in use (Python
    3.12+ awaits children by itself: a child that ends during the exec loses its status)."""
    if _installed is None:
        return False
    _installed.freeze()
    return True


def use_pidfd_child_watcher() -> None:
    """On Python 3.11, await children with pidfds instead of one waiting thread per child
    (3.12 does this by itself): less memory and a faster respawn."""
    if sys.version_info >= (3, 12) or not hasattr(asyncio, "PidfdChildWatcher"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return  # kernel without pidfd: keep the default watcher
    global _installed
    watcher = _FreezableWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
    _installed = watcher
