"""The words of the decision core (:func:`supervisor_core.process._state.step`): its state
and counters, the events it is fed, and the actions it returns.

Some actions produce a fact that is fed back as the next event (Spawn → Spawned or
SpawnFailed, Terminate → Terminated, SpawnIncoming → IncomingReady); such an action is
always the last of its list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, dataclass_transform

if TYPE_CHECKING:
    from supervisor_core._info import RestartReason
    from supervisor_core._status import Status


@dataclass_transform(frozen_default=True)
class _Message:
    """The base of every message here: each subclass is made a frozen dataclass when it is
    defined."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


class RunFacts(_Message):
    """The current run, as far as decisions go."""

    token: int
    """Identifies the run: news about an older run (a stale token) is ignored."""
    pid: int
    started: float
    """Monotonic time of the spawn."""


# Events: commands ---------------------------------------------------------------------------
class Start(_Message):
    pass


class Stop(_Message):
    pass


class Restart(_Message):
    reason: RestartReason = "manual"
    only_if: frozenset[Status] | None = None
    """Only when the status is one of these (a stop that came first wins)."""


class Reload(_Message):
    shared_socket: bool
    """Old and new process can live together (a shared listening socket)."""


class Shutdown(_Message):
    """The instance task ends: stop whatever runs."""


# Events: news about a run -------------------------------------------------------------------
class Spawned(_Message):
    run: RunFacts


class SpawnFailed(_Message):
    error: str


class Exited(_Message):
    token: int


class Terminated(_Message):
    """The run being stopped (or that exited) is gone, its whole tree with it."""

    exit_code: int | None


class Ready(_Message):
    token: int
    detail: str


class NotReady(_Message):
    token: int
    detail: str
    exited: bool = False
    """The process had exited by then: an exit, with its code."""


class MemoryAlarm(_Message):
    token: int


class Unhealthy(_Message):
    token: int
    detail: str
    never_answered: bool = False
    """It never passed its health check: an unstable run whatever its uptime."""


class IncomingReady(_Message):
    """The new process of a reload is ready (``ok``) or not, and why."""

    run: RunFacts
    ok: bool
    detail: str


class RestartDue(_Message):
    at: float


Input = (
    Start
    | Stop
    | Restart
    | Reload
    | Shutdown
    | Spawned
    | SpawnFailed
    | Exited
    | Terminated
    | Ready
    | NotReady
    | MemoryAlarm
    | Unhealthy
    | IncomingReady
    | RestartDue
)


# Actions ------------------------------------------------------------------------------------
class Emit(_Message):
    """Publish a change of status."""

    status: Status
    previous: Status
    reason: str | None = None
    delay: float | None = None


class Notice(_Message):
    text: str


class Spawn(_Message):
    """Start a run; feeds back Spawned or SpawnFailed."""


class WatchReadiness(_Message):
    """Report Ready or NotReady for the current run when known."""


class Terminate(_Message):
    """Stop the current run's whole tree (``reason`` is recorded as its end); feeds back
    Terminated."""

    reason: str


class ScheduleRestart(_Message):
    """Send RestartDue(at) when the clock reaches ``at``."""

    at: float


class SpawnIncoming(_Message):
    """Reload: start a new process beside the current one and wait until it is ready or not;
    feeds back IncomingReady."""


class Swap(_Message):
    """Reload: the new process becomes the current one; the old one is kept for Retire."""


class Retire(_Message):
    """Reload: stop the old process's tree."""

    reason: str


class Discard(_Message):
    """Reload: stop the new process's tree; the old one runs on."""

    reason: str


class Fail(_Message):
    """Answer the command with StateError(text)."""

    text: str


Action = (
    Emit
    | Notice
    | Spawn
    | WatchReadiness
    | Terminate
    | ScheduleRestart
    | SpawnIncoming
    | Swap
    | Retire
    | Discard
    | Fail
)
