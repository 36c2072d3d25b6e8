"""Opening ``state.db`` at the daemon's start: a file that is not ours or not whole is set aside.

A truncated or damaged state file must never pass for a fresh start (every app silently
gone) nor stop the daemon with a raw decoding error. :func:`open_state` renames such a file
(with its ``-wal`` and ``-shm``) to ``state.db.damaged-<UTC time>``, keeps it for a post
mortem, and opens a new one; the daemon then says so in one line and starts from
``dump.toml`` when there is one. A state file written by a newer ptm is not damaged: it is
refused, untouched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supervisor_core.errors import StateError
from supervisor_core.store._db import DamagedState, StateStore

__all__ = ["OpenedState", "open_state"]


@dataclass(frozen=True)
class OpenedState:
    store: StateStore
    set_aside: Path | None = None
    """Where the damaged file went (None: it was whole)."""
    reason: str | None = None
    """What was wrong with it."""


async def open_state(path: Path, *, clock: Callable[[], float] = time.time) -> OpenedState:
    """Open the state database at ``path``, setting a damaged one aside (module docstring)."""
    try:
        return OpenedState(await StateStore.open(path))
    except DamagedState as exc:
        reason = str(exc)
    aside = _set_aside(path, reason, clock())
    return OpenedState(await StateStore.open(path), set_aside=aside, reason=reason)


def _set_aside(path: Path, reason: str, now: float) -> Path:
    """Rename the state file (and its ``-wal``/``-shm``) beside itself; returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    try:
        for suffix in ("-wal", "-shm", ""):
            source = Path(f"{path}{suffix}")
            if source.exists():
                os.rename(source, f"{aside}{suffix}")
    except OSError as exc:
        raise StateError(f"{reason}; cannot set it aside: {exc.strerror or exc}") from None
    return aside
