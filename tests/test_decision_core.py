"""The decision core (``process._state.step``) without a single process, and the Supervisor
driven by a fake spawner and a fake clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from supervisor_core import Supervisor
from supervisor_core._info import StateEvent
from supervisor_core.config import AppSpec, RestartPolicy
from supervisor_core.process._state import (
    RESTARTABLE,
    UP,
    Counters,
    Rules,
    RunFacts,
    State,
    Status,
    step,
)
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
    Reload,
    Restart,
    RestartDue,
    Retire,
    ScheduleRestart,
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

FAST = pytest.mark.timeout(2)  # each test takes milliseconds; a hang fails fast


# ------------------------------------------------------------------------------ a pure driver
@dataclass
class Core:
    """Feeds events to ``step`` like the instance task does: Spawn is answered with Spawned
    (a new token, pid 1000+token, started now) and Terminate with Terminated."""

    rules: Rules
    state: State = field(default_factory=State)
    counters: Counters = field(default_factory=Counters)
    now: float = 0.0
    exit_code: int | None = 1
    """What Terminate reports: the exit code of the ending run."""
    tokens: int = 0
    log: list[Action] = field(default_factory=list)

    def feed(self, event: Input) -> list[Action]:
        """All the actions ``event`` leads to, fed-back facts included."""
        actions: list[Action] = []
        pending = [event]
        while pending:
            self.state, self.counters, done = step(
                self.state, self.counters, pending.pop(0), self.now, self.rules
            )
            actions.extend(done)
            for action in done:
                if isinstance(action, Spawn):
                    self.tokens += 1
                    pending.append(Spawned(RunFacts(self.tokens, 1000 + self.tokens, self.now)))
                elif isinstance(action, Terminate):
                    pending.append(Terminated(self.exit_code))
        self.log.extend(actions)
        return actions

    @property
    def token(self) -> int:
        assert self.state.run is not None
        return self.state.run.token

    def crash(self, after: float) -> list[Action]:
        """The current run exits by itself ``after`` seconds."""
        self.now += after
        return self.feed(Exited(self.token))

    def restart_when_due(self) -> list[Action]:
        assert self.state.restart_at is not None
        self.now = self.state.restart_at
        return self.feed(RestartDue(self.state.restart_at))


def emits(actions: Sequence[Action]) -> list[tuple[str, str | None]]:
    return [(a.status.value, a.reason) for a in actions if isinstance(a, Emit)]


def core(**policy: object) -> Core:
    return Core(Rules(label="app:0", policy=RestartPolicy(**policy)))  # type: ignore[arg-type]


def online(c: Core) -> Core:
    assert emits(c.feed(Start())) == [("launching", None), ("online", None)]
    assert c.state.status is Status.ONLINE
    return c


# ------------------------------------------------------------------------------ crash loop
@FAST
def test_a_crash_loop_ends_errored_after_max_restarts() -> None:
    c = online(core(max_restarts=3, min_uptime=1.0, restart_delay=0.5))
    for n in range(1, 4):
        actions = c.crash(after=0.1)
        assert actions[0] == Terminate("crash")  # the rest of its tree, no "stopping"
        assert emits(actions) == [("waiting restart", "crash")]
        assert ScheduleRestart(c.now + 0.5) in actions
        assert c.counters.unstable_restarts == n
        assert emits(c.restart_when_due()) == [("launching", "crash"), ("online", None)]
        assert c.counters.restarts == n
    assert emits(c.crash(after=0.1)) == [("errored", "errored")]
    assert c.state.status is Status.ERRORED
    assert c.state.run is None
    assert c.counters == Counters(restarts=3, unstable_restarts=4, last_restart_reason="crash")


@FAST
def test_start_after_errored_begins_a_new_crash_loop_count() -> None:
    c = online(core(max_restarts=0))
    assert emits(c.crash(after=0.0)) == [("errored", "errored")]
    online(c)
    assert c.counters.unstable_restarts == 0


@FAST
def test_a_clean_exit_code_stays_stopped() -> None:
    c = online(core(stop_exit_codes=frozenset({0})))
    c.exit_code = 0
    assert emits(c.crash(after=5.0)) == [("stopped", "exit")]
    assert not any(isinstance(a, ScheduleRestart) for a in c.log)


# ------------------------------------------------------------------------------ backoff
@FAST
def test_backoff_doubles_then_resets_after_a_run_longer_than_min_uptime() -> None:
    c = online(core(exp_backoff_restart_delay=0.1, backoff_cap=1.0, min_uptime=1.0))
    delays = []
    for _ in range(6):
        actions = c.crash(after=0.2)
        delays.extend(a.delay for a in actions if isinstance(a, Emit))
        c.restart_when_due()
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert c.counters.unstable_restarts == 6
    actions = c.crash(after=1.5)  # a good run
    assert [a.delay for a in actions if isinstance(a, Emit)] == pytest.approx([0.1])
    assert c.counters.unstable_restarts == 0
    assert c.state.restart_at == pytest.approx(c.now + 0.1)


# ------------------------------------------------------------------------------ reasons
@FAST
def test_memory_restart_stops_then_starts_at_once() -> None:
    c = online(core())
    old = c.token
    actions = c.feed(MemoryAlarm(old))
    assert emits(actions) == [("stopping", "memory"), ("launching", "memory"), ("online", None)]
    assert Terminate("memory") in actions
    assert c.token != old
    assert c.counters == Counters(restarts=1, unstable_restarts=0, last_restart_reason="memory")
    assert c.feed(MemoryAlarm(old)) == []  # an alarm about a run that is gone


@FAST
def test_unhealthy_waits_its_delay_and_restarts_with_reason_health() -> None:
    c = online(core(autorestart=False, restart_delay=2.0, min_uptime=1.0))
    c.now += 30.0
    actions = c.feed(Unhealthy(c.token, "HTTP 500"))
    assert actions[0] == Notice("app:0 unhealthy: HTTP 500: restarting")
    assert emits(actions) == [("stopping", "health"), ("waiting restart", "health")]
    assert c.counters.unstable_restarts == 0  # it was up for 30 s
    assert emits(c.restart_when_due()) == [("launching", "health"), ("online", None)]
    assert c.counters.last_restart_reason == "health"


@FAST
def test_never_healthy_counts_as_unstable_and_ends_errored() -> None:
    c = online(core(max_restarts=1, min_uptime=1.0))
    c.now += 60.0
    c.feed(Unhealthy(c.token, "timeout", never_answered=True))
    assert c.counters.unstable_restarts == 1
    c.restart_when_due()
    assert c.feed(Unhealthy(c.token - 1, "late")) == []  # about a run that is gone
    c.now += 60.0
    assert emits(c.feed(Unhealthy(c.token, "timeout", never_answered=True)))[-1] == (
        "errored",
        "errored",
    )


@FAST
def test_cron_restarts_only_what_is_up() -> None:
    c = online(core())
    actions = c.feed(Restart("cron", only_if=UP))
    assert emits(actions) == [("stopping", "cron"), ("launching", "cron"), ("online", None)]
    c.feed(Stop())
    assert c.feed(Restart("cron", only_if=UP)) == []
    assert c.state.status is Status.STOPPED
    assert c.counters.restarts == 1


@FAST
def test_watch_restarts_an_errored_app_but_not_a_stopped_one() -> None:
    c = online(core(max_restarts=0))
    c.crash(after=0.0)
    assert c.state.status is Status.ERRORED
    actions = c.feed(Restart("watch", only_if=RESTARTABLE))
    assert not any(isinstance(a, Terminate) for a in actions)  # nothing ran
    assert emits(actions) == [("launching", "watch"), ("online", None)]
    c.feed(Stop())
    assert c.feed(Restart("watch", only_if=RESTARTABLE)) == []


@FAST
def test_a_manual_restart_resets_the_crash_loop_count() -> None:
    c = online(core(min_uptime=1.0))
    c.crash(after=0.1)
    c.restart_when_due()
    assert c.counters.unstable_restarts == 1
    c.feed(Restart())
    assert c.counters == Counters(restarts=2, unstable_restarts=0, last_restart_reason="manual")


# ------------------------------------------------------------------------------ stop
@FAST
def test_stop_during_a_restart_delay_cancels_the_restart() -> None:
    c = online(core(restart_delay=5.0))
    c.crash(after=2.0)
    due = c.state.restart_at
    assert due is not None
    assert emits(c.feed(Stop())) == [("stopped", "stop")]
    assert c.state.restart_at is None
    c.now = due
    assert c.feed(RestartDue(due)) == []
    assert c.state.status is Status.STOPPED
    assert c.counters.restarts == 0


@FAST
def test_stop_of_a_running_process() -> None:
    c = online(core())
    actions = c.feed(Stop())
    assert actions[1] == Terminate("stop")
    assert emits(actions) == [("stopping", "stop"), ("stopped", "stop")]
    assert c.feed(Stop()) == []


# ------------------------------------------------------------------------------ readiness
@FAST
def test_a_process_that_never_gets_ready_is_restarted_as_not_ready() -> None:
    c = Core(Rules(label="app:0", policy=RestartPolicy(restart_delay=1.0), wait_ready=True))
    actions = c.feed(Start())
    assert WatchReadiness() in actions
    assert c.state.status is Status.LAUNCHING
    c.now += 3.0
    actions = c.feed(NotReady(c.token, "no READY=1 within 3s"))
    assert actions[0] == Notice("app:0 not ready: no READY=1 within 3s")
    assert emits(actions) == [("stopping", "not ready"), ("waiting restart", "not ready")]
    assert emits(c.restart_when_due())[0] == ("launching", "crash")


@FAST
def test_not_ready_because_it_exited_is_an_exit() -> None:
    c = Core(Rules(label="app:0", policy=RestartPolicy(autorestart=False), wait_ready=True))
    c.feed(Start())
    actions = c.feed(NotReady(c.token, "exited with code 1", exited=True))
    assert actions[0] == Terminate("crash")
    assert emits(actions) == [("stopped", "exit")]


@FAST
def test_a_failed_spawn_is_an_unstable_exit() -> None:
    c = core(max_restarts=5)
    c.state, c.counters, actions = step(c.state, c.counters, Start(), 0.0, c.rules)
    assert actions[-1] == Spawn()
    c.state, c.counters, actions = step(
        c.state, c.counters, SpawnFailed("no such file"), 0, c.rules
    )
    assert actions[0] == Notice("app:0 no such file")
    assert emits(actions) == [("waiting restart", "crash")]
    assert c.counters.unstable_restarts == 1


# ------------------------------------------------------------------------------ reload
@FAST
def test_a_reload_whose_new_process_never_gets_ready_keeps_the_old_one() -> None:
    c = online(core())
    before = (c.state, c.counters)
    assert c.feed(Reload(shared_socket=True)) == [SpawnIncoming()]
    new = RunFacts(token=9, pid=2000, started=c.now)
    actions = c.feed(IncomingReady(new, ok=False, detail="no READY=1 within 5s"))
    assert actions[0] == Discard("not ready")
    assert isinstance(actions[1], Fail)
    assert "not ready (no READY=1 within 5s)" in actions[1].text
    assert "(pid 1001) runs on" in actions[1].text
    assert (c.state, c.counters) == before


@FAST
def test_a_reload_whose_new_process_is_ready_swaps_then_retires_the_old_one() -> None:
    c = online(core())
    c.feed(Reload(shared_socket=True))
    new = RunFacts(token=9, pid=2000, started=c.now)
    actions = c.feed(IncomingReady(new, ok=True, detail="READY=1"))
    assert actions == [Swap(), Emit(Status.ONLINE, Status.ONLINE, "reload"), Retire("manual")]
    assert c.state.run == new
    assert c.counters.restarts == 1


@FAST
def test_a_reload_without_a_shared_socket_is_a_restart() -> None:
    c = online(core())
    actions = c.feed(Reload(shared_socket=False))
    assert emits(actions) == [("stopping", "manual"), ("launching", "manual"), ("online", None)]


# ------------------------------------------------------------------------------ with a Supervisor
@dataclass
class FakeProcess:
    """A process that exits with ``code`` when ``exit`` is called; no pipes."""

    pid: int
    returncode: int | None = None
    stdout: None = None
    stderr: None = None
    ended: anyio.Event = field(default_factory=anyio.Event)

    async def wait(self) -> int:
        await self.ended.wait()
        assert self.returncode is not None
        return self.returncode

    def exit(self, code: int) -> None:
        self.returncode = code
        self.ended.set()


@dataclass
class FakeSpawner:
    """Each spawn is a FakeProcess that exits at once with ``exit_code`` (None: runs)."""

    exit_code: int | None = 1
    started: list[FakeProcess] = field(default_factory=list)
    envs: list[Mapping[str, str]] = field(default_factory=list)

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        pass_fds: Sequence[int] = (),
    ) -> FakeProcess:
        # pids above any pid_max: nothing real is ever signalled
        proc = FakeProcess(pid=1 << 30 | len(self.started))
        self.started.append(proc)
        self.envs.append(env)
        if self.exit_code is not None:
            proc.exit(self.exit_code)
        return proc


class FakeClock:
    def __init__(self) -> None:
        self.time = 100.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self.time:
            await anyio.lowlevel.checkpoint()
            return
        woken = anyio.Event()
        self._sleepers.append((deadline, woken))
        await woken.wait()

    def advance(self, seconds: float) -> None:
        self.time += seconds
        for deadline, woken in list(self._sleepers):
            if deadline <= self.time:
                self._sleepers.remove((deadline, woken))
                woken.set()


def fake_app(tmp_path: Path, **policy: object) -> AppSpec:
    return AppSpec(
        name="fake",
        argv=("/nonexistent/fake-app",),
        cwd=tmp_path,
        restart=RestartPolicy(**policy),  # type: ignore[arg-type]
    )


async def next_status(events: MemoryObjectReceiveStream[StateEvent], status: str) -> StateEvent:
    with anyio.fail_after(1):
        while (event := await events.receive()).status != status:
            pass
    return event


@pytest.mark.anyio
@pytest.mark.timeout(5)
async def test_supervisor_crash_loop_on_a_fake_clock(tmp_path: Path) -> None:
    spawner, clock = FakeSpawner(exit_code=3), FakeClock()
    spec = fake_app(tmp_path, max_restarts=2, min_uptime=1.0, restart_delay=10.0)
    async with (
        Supervisor(write_logs=False, drivers=(), spawner=spawner, clock=clock) as sup,
        sup.subscribe() as events,
    ):
        await sup.add(spec)
        for n in range(1, 3):
            waiting = await next_status(events, "waiting restart")
            assert (waiting.exit_code, waiting.delay) == (3, 10.0)
            assert len(spawner.started) == n  # nothing before the delay is over
            clock.advance(10.0)
            assert (await next_status(events, "launching")).reason == "crash"
        errored = await next_status(events, "errored")
        assert errored.reason == "errored"
        [info] = sup.info("fake")
        assert (info.status, info.restarts, info.unstable_restarts) == ("errored", 2, 3)
        assert len(spawner.started) == 3
        assert [run.end_reason for run in sup.runs("fake")] == ["crash"] * 3
        assert spawner.envs[0]["PTM_APP_NAME"] == "fake"


@pytest.mark.anyio
@pytest.mark.timeout(5)
async def test_supervisor_stop_during_the_restart_delay(tmp_path: Path) -> None:
    spawner, clock = FakeSpawner(exit_code=1), FakeClock()
    spec = fake_app(tmp_path, restart_delay=5.0)
    async with (
        Supervisor(write_logs=False, drivers=(), spawner=spawner, clock=clock) as sup,
        sup.subscribe() as events,
    ):
        await sup.add(spec)
        await next_status(events, "waiting restart")
        [info] = await sup.stop("fake")
        assert info.status == "stopped"
        clock.advance(60.0)
        await anyio.wait_all_tasks_blocked()
        assert len(spawner.started) == 1
        assert sup.info("fake")[0].status == "stopped"
