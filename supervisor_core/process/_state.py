"""The life of one instance as a pure state machine.

Nothing here touches a process or a clock: :func:`transition` maps (status, event) to the
next status, :func:`decide_after_exit` applies the restart policy to an exit, and
:func:`step` is the whole decision core of one instance (restart counting, backoff, crash
loop, restart reasons): ``step(state, counters, event, now, rules) -> (state, counters,
actions)``. The instance task (``supervisor_core._instance``) feeds it facts and carries out
its actions; unit tests drive it directly.

::

    stopped ──start──▶ launching ──spawned──▶ online ──stop──▶ stopping ──exited──▶ stopped
       ▲                  │  ▲                  │
       │                  │  └─restart_due── waiting restart ◀──exited(restart)──┘
       │                  └──exited(give up)──▶ errored ──start──▶ launching
       └────────stop─────────── waiting restart / errored
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from supervisor_core._status import ACTIVE, ENDED, RESTARTABLE, RUNNING, UP, Status
from supervisor_core.config import RestartPolicy
from supervisor_core.errors import StateError
from supervisor_core.process.messages import (
    Action,
    Discard,
    Emit,
    Exited,
    Fail,
    IncomingReady,
    Input,
    MemoryAlarm,
    Notice,
    NotReady,
    Ready,
    Reload,
    Restart,
    RestartDue,
    Retire,
    RunFacts,
    ScheduleRestart,
    Shutdown,
    Spawn,
    Spawned,
    SpawnFailed,
    SpawnIncoming,
    Start,
    Stop,
    Swap,
    Terminate,
    Terminated,
    Unhealthy,
    WatchReadiness,
)

if TYPE_CHECKING:
    from supervisor_core._info import RestartReason

__all__ = [
    "ACTIVE",
    "ENDED",
    "RESTARTABLE",
    "RUNNING",
    "UP",
    "Counters",
    "Event",
    "ExitDecision",
    "Rules",
    "RunFacts",
    "State",
    "Status",
    "Step",
    "backoff_delay",
    "decide_after_exit",
    "step",
    "transition",
]


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


# ------------------------------------------------------------------------------ the core
# What happens to one instance, as one pure function: ``step(state, counters, event, now,
# rules)`` returns the next state and counters and the actions the instance task carries out
# (the events and actions are in ``messages``).


AfterStop = Literal["stopped", "relaunch", "decide"]


@dataclass(frozen=True)
class State:
    status: Status = Status.STOPPED
    run: RunFacts | None = None
    after_stop: AfterStop | None = None
    """What the end of the run being stopped leads to."""
    reason: str | None = None
    """Why the run is being stopped (the reason of the next event, or of the decision)."""
    uptime: float = 0.0
    """The uptime that counts for the decision after the stop."""
    restart_at: float | None = None
    """When status is ``waiting restart``: the monotonic time the restart is due."""
    pending_reason: RestartReason | None = None
    """The reason the restart gives when it is due (``crash`` when None)."""


@dataclass(frozen=True)
class Counters:
    restarts: int = 0
    unstable_restarts: int = 0
    last_restart_reason: RestartReason | None = None
    by_reason: tuple[tuple[RestartReason, int], ...] = field(default=(), compare=False)
    """The restarts counted so far, by reason (for metrics)."""

    def count(self, reason: RestartReason) -> Counters:
        """One more restart; a manual one starts a new crash-loop count."""
        unstable = 0 if reason == "manual" else self.unstable_restarts
        tally = dict(self.by_reason)
        tally[reason] = tally.get(reason, 0) + 1
        return Counters(self.restarts + 1, unstable, reason, tuple(sorted(tally.items())))


@dataclass(frozen=True)
class Rules:
    """What the decisions need of the app's spec."""

    label: str
    """``app:instance``, for the notices."""
    policy: RestartPolicy
    wait_ready: bool = False


class Step(NamedTuple):
    state: State
    counters: Counters
    actions: tuple[Action, ...] = ()


def step(state: State, counters: Counters, event: Input, now: float, rules: Rules) -> Step:
    """The next state, counters and actions after ``event`` at monotonic time ``now``."""
    if isinstance(event, (Start, Stop, Restart, Reload)):
        state = replace(state, pending_reason=None)  # a command supersedes a pending restart
    run = state.run
    match event:
        case Start():
            if state.status.running:
                return Step(state, counters)
            if state.status is not Status.WAITING_RESTART:
                counters = replace(counters, unstable_restarts=0)
            return _launch(state, counters, None)
        case Stop():
            if run is not None:
                return _terminate(state, counters, "stopped", "stop")
            if state.status is Status.WAITING_RESTART:
                return _move(replace(state, restart_at=None), counters, Event.STOP, "stop")
            return Step(state, counters)
        case Shutdown():
            if run is not None:
                return _terminate(state, counters, "stopped", "stop")
            if state.status.running:
                return _move(state, counters, Event.EXITED_STOPPED, "stop")
            return Step(state, counters)
        case Restart(reason=reason, only_if=only_if):
            if only_if is not None and state.status not in only_if:
                return Step(state, counters)  # e.g. a cron restart of an app stopped meanwhile
            return _restart(state, counters, reason)
        case MemoryAlarm(token=token):
            if run is None or run.token != token:
                return Step(state, counters)  # an alarm about a run that is already gone
            return _restart(state, counters, "memory")
        case Reload(shared_socket=shared):
            if run is None or state.status is not Status.ONLINE or not shared:
                # Without a shared socket a second process beside the old one would meet
                # "address already in use": restart this instance instead.
                return _restart(state, counters, "manual")
            return Step(state, counters, (SpawnIncoming(),))
        case IncomingReady(run=new, ok=ok, detail=detail):
            if run is None:
                raise StateError(f"reload of {rules.label}: no process to replace")
            if not ok:
                text = (
                    f"reload of {rules.label}: the new process was not ready ({detail}); "
                    f"it was stopped and the old one (pid {run.pid}) runs on"
                )
                return Step(state, counters, (Discard("not ready"), Fail(text)))
            emit = Emit(state.status, state.status, "reload")
            return Step(
                replace(state, run=new),
                counters.count("manual"),
                (Swap(), emit, Retire("manual")),
            )
        case Spawned(run=new):
            state = replace(state, run=new)
            if rules.wait_ready:
                return Step(state, counters, (WatchReadiness(),))
            return _move(state, counters, Event.SPAWNED)
        case SpawnFailed(error=error):
            decided = _decide(state, counters, None, 0.0, "crash", now, rules)
            return decided._replace(actions=(Notice(f"{rules.label} {error}"), *decided.actions))
        case Ready(token=token, detail=detail):
            if run is None or run.token != token or state.status is not Status.LAUNCHING:
                return Step(state, counters)
            return _move(state, counters, Event.SPAWNED, detail)
        case NotReady(token=token, detail=detail, exited=exited):
            if run is None or run.token != token or state.status is not Status.LAUNCHING:
                return Step(state, counters)
            if exited:  # an exit, with its code (stop_exit_codes apply)
                return _ended_by_itself(state, counters, now - run.started)
            notice = Notice(f"{rules.label} not ready: {detail}")
            state = replace(state, uptime=now - run.started)
            stopped = _terminate(state, counters, "decide", "not ready")
            return stopped._replace(actions=(notice, *stopped.actions))
        case Unhealthy(token=token, detail=detail, never_answered=never_answered):
            if run is None or run.token != token:
                return Step(state, counters)  # about a run that is already gone
            notice = Notice(f"{rules.label} unhealthy: {detail}: restarting")
            state = replace(state, uptime=0.0 if never_answered else now - run.started)
            stopped = _terminate(state, counters, "decide", "health")
            return stopped._replace(actions=(notice, *stopped.actions))
        case Exited(token=token):
            if run is None or run.token != token:
                return Step(state, counters)
            return _ended_by_itself(state, counters, now - run.started)
        case Terminated(exit_code=code):
            after, why = state.after_stop, state.reason
            state = replace(state, run=None, after_stop=None, reason=None)
            if after == "relaunch":
                return _move(state, counters, Event.EXITED_RELAUNCH, why, then=(Spawn(),))
            if after == "decide":
                return _decide(state, counters, code, state.uptime, why or "crash", now, rules)
            return _move(state, counters, Event.EXITED_STOPPED, why)
        case RestartDue(at=at):
            if state.status is not Status.WAITING_RESTART or state.restart_at != at:
                return Step(state, counters)  # stopped or started meanwhile
            reason = state.pending_reason or "crash"
            state = replace(state, restart_at=None, pending_reason=None)
            return _launch(state, counters.count(reason), reason)
    raise StateError(f"unknown event {event!r}")  # pragma: no cover - the match is complete


def _move(
    state: State,
    counters: Counters,
    event: Event,
    reason: str | None = None,
    *,
    delay: float | None = None,
    then: tuple[Action, ...] = (),
) -> Step:
    """Apply ``event`` to the status; a change (or a spawn) is emitted."""
    status = transition(state.status, event)
    actions: tuple[Action, ...] = then
    if status is not state.status or event is Event.SPAWNED:
        shown_delay = delay if status is Status.WAITING_RESTART else None
        actions = (Emit(status, state.status, reason, shown_delay), *then)
    return Step(replace(state, status=status), counters, actions)


def _launch(state: State, counters: Counters, reason: str | None) -> Step:
    return _move(state, counters, Event.START, reason, then=(Spawn(),))


def _terminate(state: State, counters: Counters, after: AfterStop, reason: str) -> Step:
    """Stop the current run (status stopping); ``after`` says what its end leads to."""
    state = replace(state, after_stop=after, reason=reason)
    return _move(state, counters, Event.STOP, reason, then=(Terminate(reason),))


def _restart(state: State, counters: Counters, reason: RestartReason) -> Step:
    counters = counters.count(reason)
    if state.run is not None:
        return _terminate(state, counters, "relaunch", reason)
    return _launch(state, counters, reason)


def _ended_by_itself(state: State, counters: Counters, uptime: float) -> Step:
    """The process exited: clean up what is left of its tree (no stopping status), then
    apply the restart policy."""
    state = replace(state, after_stop="decide", reason="crash", uptime=uptime)
    return Step(state, counters, (Terminate("crash"),))


def _decide(
    state: State,
    counters: Counters,
    exit_code: int | None,
    uptime: float,
    reason: str,
    now: float,
    rules: Rules,
) -> Step:
    """Apply the restart policy to a run that ended without a command asking for it."""
    policy = rules.policy
    if reason == "health":  # an unhealthy process is restarted even with autorestart off
        policy = replace(policy, autorestart=True)
    decision = decide_after_exit(
        policy, exit_code=exit_code, uptime=uptime, unstable_restarts=counters.unstable_restarts
    )
    counters = replace(counters, unstable_restarts=decision.unstable_restarts)
    then: tuple[Action, ...] = ()
    if decision.event is Event.EXITED_RESTART:
        at = now + decision.delay
        state = replace(state, restart_at=at)
        if reason == "health":
            state = replace(state, pending_reason="health")  # the restart, when due, says why
        then = (ScheduleRestart(at),)
    elif decision.event is Event.EXITED_ERRORED:
        reason = "errored"
    else:
        reason = "exit"
    return _move(state, counters, decision.event, reason, delay=decision.delay, then=then)
