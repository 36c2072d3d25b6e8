"""The life of one instance as a pure state machine.

Nothing here touches a process or a clock: :func:`transition` maps (status, event) to the
next status and :func:`decide_after_exit` applies the restart policy to an exit. The instance
task (``supervisor_core._instance``) feeds them facts; unit tests drive them directly.

::

    stopped ──start──▶ launching ──spawned──▶ online ──stop──▶ stopping ──exited──▶ stopped
       ▲                  │  ▲                  │
       │                  │  └─restart_due── waiting restart ◀──exited(restart)──┘
       │                  └──exited(give up)──▶ errored ──start──▶ launching
       └────────stop─────────── waiting restart / errored
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from supervisor_core.config._specs import RestartPolicy
from supervisor_core.errors import StateError

__all__ = [
    "ENDED",
    "RESTARTABLE",
    "RUNNING",
    "UP",
    "Event",
    "ExitDecision",
    "Status",
    "backoff_delay",
    "decide_after_exit",
    "transition",
]


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


class Event(enum.Enum):
    START = "start"  # asked to run (by a command, or the first start)
    SPAWNED = "spawned"  # the process exists
    STOP = "stop"  # asked to stop (by a command, a restart or a limit)
    EXITED_STOPPED = "exited_stopped"  # it exited and stays down
    EXITED_RESTART = "exited_restart"  # it exited and will be restarted after a delay
    EXITED_RELAUNCH = "exited_relaunch"  # it exited on purpose and starts again at once
    EXITED_ERRORED = "exited_errored"  # it exited and the crash-loop limit is reached
    RESTART_DUE = "restart_due"  # the restart delay is over


S, E = Status, Event

_TABLE: dict[tuple[Status, Event], Status] = {
    (S.STOPPED, E.START): S.LAUNCHING,
    (S.ERRORED, E.START): S.LAUNCHING,
    (S.WAITING_RESTART, E.START): S.LAUNCHING,
    (S.WAITING_RESTART, E.RESTART_DUE): S.LAUNCHING,
    (S.WAITING_RESTART, E.STOP): S.STOPPED,
    (S.ERRORED, E.STOP): S.ERRORED,
    (S.STOPPED, E.STOP): S.STOPPED,
    (S.LAUNCHING, E.SPAWNED): S.ONLINE,
    (S.LAUNCHING, E.STOP): S.STOPPING,
    (S.ONLINE, E.STOP): S.STOPPING,
    (S.STOPPING, E.STOP): S.STOPPING,
}
for _running in (S.LAUNCHING, S.ONLINE, S.STOPPING):
    _TABLE[(_running, E.EXITED_STOPPED)] = S.STOPPED
    _TABLE[(_running, E.EXITED_RESTART)] = S.WAITING_RESTART
    _TABLE[(_running, E.EXITED_RELAUNCH)] = S.LAUNCHING
    _TABLE[(_running, E.EXITED_ERRORED)] = S.ERRORED


def transition(status: Status, event: Event) -> Status:
    """The status after ``event``; an event the status does not allow raises StateError."""
    try:
        return _TABLE[(status, event)]
    except KeyError:
        raise StateError(f"illegal transition: {event.value} while {status.value}") from None


def backoff_delay(policy: RestartPolicy, unstable_restarts: int) -> float:
    """The wait before the next restart.

    Without ``exp_backoff_restart_delay`` this is ``restart_delay``. With it, the first
    restart after a good run waits the base value and each further unstable restart doubles
    it, capped at ``backoff_cap``; the larger of that and ``restart_delay`` is used.
    """
    base = policy.exp_backoff_restart_delay
    if base is None:
        return policy.restart_delay
    exponent = max(unstable_restarts - 1, 0)
    # 2**64 overflows nothing in Python, but keep the float small before multiplying.
    grown = base * (2.0 ** min(exponent, 64))
    return max(policy.restart_delay, min(grown, policy.backoff_cap))


@dataclass(frozen=True)
class ExitDecision:
    """What an exit leads to."""

    event: Event
    unstable_restarts: int
    delay: float = 0.0


def decide_after_exit(
    policy: RestartPolicy,
    *,
    exit_code: int | None,
    uptime: float,
    unstable_restarts: int,
) -> ExitDecision:
    """Apply the restart policy to an exit the supervisor did not ask for.

    ``exit_code`` is None when the process was killed by a signal or never started.
    ``unstable_restarts`` is the count of consecutive unstable runs before this one. A run
    shorter than ``min_uptime`` is unstable; a longer one resets the count. After
    ``max_restarts`` unstable restarts, the next unstable exit makes the app ``errored``.
    """
    if not policy.autorestart or (exit_code is not None and exit_code in policy.stop_exit_codes):
        return ExitDecision(Event.EXITED_STOPPED, unstable_restarts=0)
    unstable = unstable_restarts + 1 if uptime < policy.min_uptime else 0
    if unstable > policy.max_restarts:
        return ExitDecision(Event.EXITED_ERRORED, unstable_restarts=unstable)
    return ExitDecision(
        Event.EXITED_RESTART,
        unstable_restarts=unstable,
        delay=backoff_delay(policy, unstable if unstable else 1),
    )
