"""One managed instance: a single task that owns its process(es) and carries out what the
decision core (:func:`supervisor_core.process._state.step`) says.

Every change (a command, an exit, a memory alarm, readiness, the end of a restart delay)
arrives as a message in the instance's inbox and is handled by :meth:`Instance.run`, one at
a time, so two operations can never race: a restart never spawns while the old tree is
alive, and a stop during a restart delay cancels the restart. The one moment two processes
of an instance live together is a rolling reload: the new one must be ready before the old
one is stopped.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from supervisor_core._handover import (
    adopted_run,
    adopted_state,
    freeze_run,
    freeze_state,
    handover_blocker,
)
from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
from supervisor_core._runs import OutputCallback, Run, RunCallback, Runner, RunSetup, Stream
from supervisor_core.config import AppSpec
from supervisor_core.errors import PtmError, SpawnError, StateError
from supervisor_core.process import (
    Counters,
    ReadinessProbe,
    Rules,
    State,
    Status,
    step,
    stop_tree,
)
from supervisor_core.process import messages as m

__all__ = ["Instance", "OutputCallback", "ReadinessProbe", "RunCallback", "RunSetup", "Stream"]


@dataclass
class _Message:
    event: m.Input
    done: anyio.Event | None = None
    error: BaseException | None = None
    last: bool = False
    """The instance ends after this one (delete)."""


class Instance:
    """Instance ``index`` of an app. Create it, run :meth:`run` in a task group, then send it
    commands with :meth:`start`, :meth:`stop`, :meth:`restart`, :meth:`reload` and
    :meth:`delete`."""

    def __init__(
        self,
        spec: AppSpec,
        index: int,
        setup: RunSetup,
        *,
        emit: Callable[[StateEvent], None],
        adopt: dict[str, Any] | None = None,
    ) -> None:
        self._adopt = adopt
        """What the previous image of the daemon handed over (``ptm update``)."""
        self.index = index
        self.health: dict[str, object] | None = None
        """The last health-check result (set by the health-check driver)."""
        self._state = State()
        self.counters = Counters()
        self._emit = emit
        self._notice = setup.notice
        self._sink = setup.log_sink
        self._wall = setup.wall_clock
        self._clock = setup.clock
        self._listen_fd = setup.listen_fd
        self._rules = Rules(
            label=f"{spec.name}:{index}",
            policy=spec.restart,
            wait_ready=spec.readiness.wait_ready,
        )
        self._runner = Runner(
            spec,
            index,
            setup,
            post_exit=lambda token: self._post(_Message(m.Exited(token))),
            post_memory=lambda token: self._post(_Message(m.MemoryAlarm(token))),
            is_online=lambda: self.status is Status.ONLINE,
        )
        self._send, self._inbox = anyio.create_memory_object_stream[_Message](math.inf)
        self._timer: anyio.CancelScope | None = None
        self._tg: TaskGroup | None = None

    # ----------------------------------------------------------------- state
    @property
    def key(self) -> tuple[str, int]:
        return (self.spec.name, self.index)

    @property
    def spec(self) -> AppSpec:
        """The app's settings; the next run is launched from it. Set it only to a spec that
        differs in what a run is launched with (``--update-env``: the inherited environment,
        so maybe the command line)."""
        return self._runner.spec

    @spec.setter
    def spec(self, spec: AppSpec) -> None:
        self._runner.spec = spec

    @property
    def status(self) -> Status:
        return self._state.status

    @property
    def restarts(self) -> int:
        return self.counters.restarts

    @property
    def unstable_restarts(self) -> int:
        return self.counters.unstable_restarts

    @property
    def last_restart_reason(self) -> RestartReason | None:
        return self.counters.last_restart_reason

    @property
    def runs(self) -> deque[RunRecord]:
        return self._runner.runs

    @property
    def pid(self) -> int | None:
        run = self._runner.current
        return run.pid if run is not None else None

    @property
    def run_id(self) -> str | None:
        run = self._runner.current
        return run.run_id if run is not None else None

    def reset_counters(self) -> None:
        """``ptm reset``: zero the restart counters."""
        self.counters = Counters()

    def info(self) -> ProcessInfo:
        run = self._runner.current
        logs = self._sink
        return ProcessInfo(
            name=self.spec.name,
            instance=self.index,
            pid=run.pid if run is not None else None,
            status=self.status,
            restarts=self.restarts,
            unstable_restarts=self.unstable_restarts,
            started_at=run.record.started_at if run is not None else None,
            uptime=(self._clock.now() - run.started) if run is not None else None,
            cpu_percent=self._runner.cpu_percent if run is not None else None,
            memory_bytes=self._runner.memory_bytes if run is not None else None,
            exit_code=self._runner.last_exit_code,
            last_restart_reason=self.last_restart_reason,
            exec_mode=self.spec.exec_mode,
            out_file=str(logs.out_path) if logs is not None else None,
            error_file=str(logs.err_path) if logs is not None else None,
            health=dict(self.health) if self.health is not None else None,
            restarts_by_reason=dict(self.counters.by_reason),
        )

    # ----------------------------------------------------------------- commands
    async def start(self) -> None:
        await self._request(m.Start())

    async def stop(self) -> None:
        await self._request(m.Stop())

    async def restart(
        self, reason: RestartReason = "manual", *, only_if: Collection[Status] | None = None
    ) -> None:
        """Restart. ``only_if``: only when the status (checked when the command is handled,
        so a stop that came first wins) is one of these."""
        await self._request(m.Restart(reason, frozenset(only_if) if only_if is not None else None))

    async def reload(self) -> None:
        """Start a new process, wait until it is ready, then stop the old one gracefully.
        If the new one never becomes ready it is stopped, the old one keeps running, and
        :class:`StateError` says why."""
        await self._request(m.Reload(shared_socket=self._listen_fd is not None))

    async def delete(self) -> None:
        """Stop, then end :meth:`run`."""
        await self._request(m.Stop(), last=True)

    async def unhealthy(self, detail: str, *, never_answered: bool = False) -> None:
        """Restart the running process with reason ``health``, counted like a crash (and as
        an unstable run if it ``never_answered`` its health check)."""
        await self._request(m.Unhealthy(self._runner.token, detail, never_answered), answer=False)

    def notify(self, pid: int, fields: dict[str, str]) -> bool:
        """An sd_notify datagram from ``pid``; True if it came from one of our processes."""
        return self._runner.notify(pid, fields)

    def send_signal(self, sig: int) -> int | None:
        """Send ``sig`` to the instance's main process; returns its pid (None if not running)."""
        return self._runner.signal(sig)

    async def _request(self, event: m.Input, *, last: bool = False, answer: bool = True) -> None:
        """Send ``event`` and wait until it is handled; its error is raised if ``answer``."""
        message = _Message(event, done=anyio.Event(), last=last)
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the instance task has ended: nothing runs any more
        assert message.done is not None
        await message.done.wait()
        if answer and message.error is not None:
            raise message.error

    def _post(self, message: _Message) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send.send_nowait(message)

    # ----------------------------------------------------------------- ptm update
    def handover_blocker(self) -> str | None:
        """Why the instance cannot be handed over to a new daemon image now (None: it can)."""
        runner = self._runner
        busy = bool(self._inbox.statistics().current_buffer_used) or (
            runner.incoming is not None or runner.retiring is not None
        )
        return handover_blocker(self._rules.label, self.status, runner.current, busy)

    def freeze(self) -> dict[str, Any]:
        """Stop reading the run's pipes and describe the instance for the next image."""
        runner = self._runner
        return {
            **freeze_state(self._state, self.counters),
            "token": runner.token,
            "last_exit_code": runner.last_exit_code,
            "last_signal": runner.last_signal,
            "run": freeze_run(runner.current) if runner.current is not None else None,
        }

    def _resume(self, desc: dict[str, Any]) -> None:
        runner = self._runner
        run = None
        if desc["run"] is not None:
            try:
                run = adopted_run(desc["run"], Run)
            except (ChildProcessError, OSError) as exc:
                pid = desc["run"]["pid"]
                self._notice(f"{self._rules.label}: pid {pid} was lost in the update: {exc}")
                assert self._tg is not None
                self._tg.start_soon(self._stop_lost, desc["run"])
        self._state, self.counters = adopted_state(desc, run)
        runner.token = int(desc["token"])
        runner.last_exit_code = desc["last_exit_code"]
        runner.last_signal = desc["last_signal"]
        if run is not None:
            runner.runs.append(run.record)
            runner.adopt(run)
            runner.watch(run)
        if self._state.restart_at is not None:
            self._schedule_restart(self._state.restart_at)

    async def _stop_lost(self, run: dict[str, Any]) -> None:
        """What a run lost in the update left (found by its mark and its cgroup) is stopped,
        and its cgroup removed: nothing else would, while this daemon owns it."""
        stop = self._runner.spec.stop
        await stop_tree(
            None,
            pgid=None,  # its pid is no child of ours: it may belong to someone else now
            run_id=str(run["run_id"]),
            started_at=float(run["started_at"]),
            sig=stop.kill_signal,
            timeout=stop.kill_timeout,
            cgroup=Path(run["cgroup"]) if run["cgroup"] else None,
        )

    # ----------------------------------------------------------------- the task
    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Handle messages until deleted (or cancelled); always leaves nothing running."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._runner.task_group = tg
                if self._adopt is not None:
                    self._resume(self._adopt)
                    self._adopt = None
                task_status.started()
                while True:
                    message = await self._inbox.receive()
                    try:
                        await self._apply(self._with_facts(message.event))
                    except PtmError as exc:
                        message.error = exc
                    except Exception as exc:  # a bug must not end the instance (or the daemon)
                        what = type(message.event).__name__
                        self._notice(f"{self._rules.label} internal error handling {what}: {exc!r}")
                        message.error = StateError(f"{self._rules.label}: internal error: {exc!r}")
                    finally:
                        if message.done is not None:
                            message.done.set()
                    if message.last:
                        tg.cancel_scope.cancel()  # ends the output pumps of the last run
                        break
        finally:
            with anyio.CancelScope(shield=True):
                await self._runner.discard_incoming("stop")
                await self._apply(m.Shutdown())
                if self._sink is not None:
                    self._sink.close()
                self._send.close()
                # Answer whatever was still queued: the instance has stopped for good.
                while True:
                    try:
                        pending = self._inbox.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                        break
                    if pending.done is not None:
                        pending.done.set()
                self._inbox.close()

    def _with_facts(self, event: m.Input) -> m.Input:
        """Add what only the process can tell when the message is handled."""
        run = self._runner.current
        if isinstance(event, m.NotReady) and run is not None and run.token == event.token:
            return m.NotReady(event.token, event.detail, exited=run.proc.returncode is not None)
        return event

    async def _apply(self, event: m.Input) -> None:
        """Step the decision core, carry out its actions, and feed back what they tell."""
        pending: deque[m.Input] = deque([event])
        while pending:
            state, counters, actions = step(
                self._state, self.counters, pending.popleft(), self._clock.now(), self._rules
            )
            self._state, self.counters = state, counters
            if state.status is not Status.WAITING_RESTART and self._timer is not None:
                self._timer.cancel()  # stopped or started meanwhile: no restart is due
                self._timer = None
            for action in actions:
                fed_back = await self._do(action)
                if fed_back is not None:
                    pending.append(fed_back)

    async def _do(self, action: m.Action) -> m.Input | None:
        runner = self._runner
        match action:
            case m.Emit(status=status, previous=previous, reason=reason, delay=delay):
                self._emit_state(status, previous, reason, delay)
            case m.Notice(text=text):
                self._notice(text)
            case m.Spawn():
                try:
                    run = await runner.start_process()
                except SpawnError as exc:
                    return m.SpawnFailed(str(exc))
                runner.adopt(run)
                return m.Spawned(run.facts)
            case m.WatchReadiness():
                assert self._tg is not None and runner.current is not None
                self._tg.start_soon(self._report_readiness, runner.current)
            case m.Terminate(reason=reason):
                return m.Terminated(await runner.terminate(reason))
            case m.ScheduleRestart(at=at):
                self._schedule_restart(at)
            case m.SpawnIncoming():
                return await self._spawn_incoming()
            case m.Swap():
                runner.swap()
            case m.Retire(reason=reason):
                await runner.retire(reason)
            case m.Discard(reason=reason):
                await runner.discard_incoming(reason)
            case m.Fail(text=text):
                raise StateError(text)
        return None

    def _schedule_restart(self, at: float) -> None:
        assert self._tg is not None
        if self._timer is not None:
            self._timer.cancel()
        scope = self._timer = anyio.CancelScope()

        async def alarm() -> None:
            with scope:
                await self._clock.sleep_until(at)
                self._post(_Message(m.RestartDue(at)))

        self._tg.start_soon(alarm)

    async def _report_readiness(self, run: Run) -> None:
        ok, detail = await self._runner.await_ready(run)
        self._post(_Message(m.Ready(run.token, detail) if ok else m.NotReady(run.token, detail)))

    async def _spawn_incoming(self) -> m.IncomingReady:
        """Reload: a new process beside the current one, and whether it became ready."""
        try:
            new = await self._runner.start_process()
        except SpawnError as exc:
            raise StateError(
                f"reload of {self._rules.label} failed: {exc}; the old process runs on"
            ) from exc
        self._runner.incoming = new
        ok, detail = await self._runner.await_ready(new)
        return m.IncomingReady(new.facts, ok, detail)

    def _emit_state(
        self, status: Status, previous: Status, reason: str | None, delay: float | None
    ) -> None:
        runner = self._runner
        self._emit(
            StateEvent(
                app=self.spec.name,
                instance=self.index,
                status=status,
                previous=previous,
                timestamp=self._wall(),
                pid=self.pid,
                exit_code=runner.last_exit_code if not status.running else None,
                signal=runner.last_signal if not status.running else None,
                reason=reason,
                delay=delay,
            )
        )
