"""The state machine and the restart policy, without a single process."""

from __future__ import annotations

import json

import pytest

from supervisor_core.config import RestartPolicy
from supervisor_core.errors import StateError
from supervisor_core.process import Event, Status, backoff_delay, decide_after_exit, transition
from supervisor_core.process._state import ENDED, RESTARTABLE, RUNNING, UP


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (Status.STOPPED, Event.START, Status.LAUNCHING),
        (Status.LAUNCHING, Event.SPAWNED, Status.ONLINE),
        (Status.ONLINE, Event.STOP, Status.STOPPING),
        (Status.STOPPING, Event.EXITED_STOPPED, Status.STOPPED),
        (Status.ONLINE, Event.EXITED_RESTART, Status.WAITING_RESTART),
        (Status.WAITING_RESTART, Event.RESTART_DUE, Status.LAUNCHING),
        (Status.WAITING_RESTART, Event.STOP, Status.STOPPED),
        (Status.ONLINE, Event.EXITED_ERRORED, Status.ERRORED),
        (Status.LAUNCHING, Event.EXITED_ERRORED, Status.ERRORED),
        (Status.ERRORED, Event.START, Status.LAUNCHING),
        (Status.STOPPING, Event.EXITED_RELAUNCH, Status.LAUNCHING),
    ],
)
def test_legal_transitions(status: Status, event: Event, expected: Status) -> None:
    assert transition(status, event) is expected


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (Status.STOPPED, Event.SPAWNED),
        (Status.ONLINE, Event.START),
        (Status.STOPPED, Event.RESTART_DUE),
        (Status.ERRORED, Event.SPAWNED),
        (Status.STOPPED, Event.EXITED_RESTART),
    ],
)
def test_illegal_transitions_raise_our_error(status: Status, event: Event) -> None:
    with pytest.raises(StateError, match=f"illegal transition: {event.value} while"):
        transition(status, event)


def test_clean_exit_code_in_stop_exit_codes_stays_stopped() -> None:
    policy = RestartPolicy(stop_exit_codes=frozenset({0}))
    decision = decide_after_exit(policy, exit_code=0, uptime=10.0, unstable_restarts=3)
    assert decision.event is Event.EXITED_STOPPED
    other = decide_after_exit(policy, exit_code=1, uptime=10.0, unstable_restarts=0)
    assert other.event is Event.EXITED_RESTART


def test_autorestart_false_stays_stopped() -> None:
    decision = decide_after_exit(
        RestartPolicy(autorestart=False), exit_code=1, uptime=0.1, unstable_restarts=0
    )
    assert decision.event is Event.EXITED_STOPPED


def test_signal_exit_is_never_a_stop_exit_code() -> None:
    policy = RestartPolicy(stop_exit_codes=frozenset({0}))
    decision = decide_after_exit(policy, exit_code=None, uptime=5.0, unstable_restarts=0)
    assert decision.event is Event.EXITED_RESTART


def test_crash_loop_reaches_errored_after_max_restarts() -> None:
    policy = RestartPolicy(max_restarts=3, min_uptime=1.0)
    unstable = 0
    events = []
    for _ in range(4):
        decision = decide_after_exit(policy, exit_code=1, uptime=0.1, unstable_restarts=unstable)
        unstable = decision.unstable_restarts
        events.append(decision.event)
    assert events == [Event.EXITED_RESTART] * 3 + [Event.EXITED_ERRORED]


def test_a_good_run_resets_the_unstable_count() -> None:
    policy = RestartPolicy(max_restarts=2, min_uptime=1.0)
    decision = decide_after_exit(policy, exit_code=1, uptime=5.0, unstable_restarts=2)
    assert decision.event is Event.EXITED_RESTART
    assert decision.unstable_restarts == 0


def test_max_restarts_zero_never_restarts_an_unstable_run() -> None:
    policy = RestartPolicy(max_restarts=0)
    decision = decide_after_exit(policy, exit_code=1, uptime=0.0, unstable_restarts=0)
    assert decision.event is Event.EXITED_ERRORED


def test_backoff_doubles_caps_and_resets() -> None:
    policy = RestartPolicy(exp_backoff_restart_delay=0.1, max_restarts=100, backoff_cap=1.0)
    delays = []
    unstable = 0
    for _ in range(7):
        decision = decide_after_exit(policy, exit_code=1, uptime=0.0, unstable_restarts=unstable)
        unstable = decision.unstable_restarts
        delays.append(decision.delay)
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    after_good_run = decide_after_exit(policy, exit_code=1, uptime=5.0, unstable_restarts=6)
    assert after_good_run.delay == pytest.approx(0.1)


def test_restart_delay_without_backoff_is_fixed() -> None:
    policy = RestartPolicy(restart_delay=0.25, max_restarts=100)
    assert backoff_delay(policy, 1) == 0.25
    assert backoff_delay(policy, 10) == 0.25


def test_backoff_never_below_restart_delay() -> None:
    policy = RestartPolicy(restart_delay=0.5, exp_backoff_restart_delay=0.1)
    assert backoff_delay(policy, 1) == 0.5
    assert backoff_delay(policy, 4) == pytest.approx(0.8)


def test_status_is_the_word_pm2_users_read() -> None:
    assert Status.ONLINE == "online"
    assert json.dumps({"status": Status.WAITING_RESTART}) == '{"status": "waiting restart"}'
    assert f"{Status.ERRORED}" == "errored"


def test_the_status_sets() -> None:
    assert {s for s in Status if s.running} == RUNNING
    assert set(Status) == RUNNING | ENDED and not RUNNING & ENDED
    assert {Status.LAUNCHING, Status.ONLINE} == UP
    assert {
        Status.LAUNCHING,
        Status.ONLINE,
        Status.WAITING_RESTART,
        Status.ERRORED,
    } == RESTARTABLE
    assert "online" in UP and "stopped" not in RESTARTABLE
