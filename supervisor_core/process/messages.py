"""The words of the decision core (:func:`supervisor_core.process._state.step`): its state
and counters, the events it is fed, and the actions it returns.

Some actions produce a fact that is fed back as the next event (Spawn → Spawned or
SpawnFailed, Terminate → Terminated, SpawnIncoming → IncomingReady); such an action is
always the last of its list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor_core._info import RestartReason
    from supervisor_core._status import Status


@dataclass(frozen=True)
class RunFacts:
    """The current run, as far as decisions go."""

    token: int
    """Identifies the run: news about an older run (a stale token) is ignored."""
    pid: int
    started: float
    """Monotonic time of the spawn."""


# Events: commands ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Restart:
    reason: RestartReason = "manual"
    only_if: frozenset[str] | None = None
    """Only when the status is one of these (a stop that came first wins)."""


@dataclass(frozen=True)
class Reload:
    shared_socket: bool
    """Old and new process can live together (a shared listening socket)."""


@dataclass(frozen=True)
class Shutdown:
    """The instance task ends: stop whatever runs."""


# Events: news about a run -------------------------------------------------------------------
@dataclass(frozen=True)
class Spawned:
    run: RunFacts


@dataclass(frozen=True)
class SpawnFailed:
    error: str


@dataclass(frozen=True)
class Exited:
    token: int


@dataclass(frozen=True)
class Terminated:
    """The run being stopped (or that exited) is gone, its whole tree with it."""

    exit_code: int | None


@dataclass(frozen=True)
class Ready:
    token: int
    detail: str


@dataclass(frozen=True)
class NotReady:
    token: int
    detail: str
    exited: bool = False
    """The process had exited by then: an exit, with its code."""


@dataclass(frozen=True)
class MemoryAlarm:
    token: int


@dataclass(frozen=True)
class Unhealthy:
    token: int
    detail: str
    never_answered: bool = False
    """It never passed its health check: an unstable run whatever its uptime."""


@dataclass(frozen=True)
class IncomingReady:
    """The new process of a reload is ready (``ok``) or not, and why."""

    run: RunFacts
    ok: bool
    detail: str


@dataclass(frozen=True)
class RestartDue:
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
@dataclass(frozen=True)
class Emit:
    """Publish a change of status."""

    status: Status
    previous: Status
    reason: str | None = None
    delay: float | None = None


@dataclass(frozen=True)
class Notice:
    text: str


@dataclass(frozen=True)
class Spawn:
    """Start a run; feeds back Spawned or SpawnFailed."""


@dataclass(frozen=True)
class WatchReadiness:
    """Report Ready or NotReady for the current run when known."""


@dataclass(frozen=True)
class Terminate:
    """Stop the current run's whole tree (``reason`` is recorded as its end); feeds back
    Terminated."""

    reason: str


@dataclass(frozen=True)
class ScheduleRestart:
    """Send RestartDue(at) when the clock reaches ``at``."""

    at: float


@dataclass(frozen=True)
class SpawnIncoming:
    """Reload: start a new process beside the current one and wait until it is ready or not;
    feeds back IncomingReady."""


@dataclass(frozen=True)
class Swap:
    """Reload: the new process becomes the current one; the old one is kept for Retire."""


@dataclass(frozen=True)
class Retire:
    """Reload: stop the old process's tree."""

    reason: str


@dataclass(frozen=True)
class Discard:
    """Reload: stop the new process's tree; the old one runs on."""

    reason: str


@dataclass(frozen=True)
class Fail:
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
