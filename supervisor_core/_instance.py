"""One managed instance: a single task that owns its process and its state.

Every change (a command, an exit, a memory alarm, the end of a restart delay) arrives as a
message in the instance's inbox and is handled by :meth:`Instance.run`, one at a time, so two
operations can never race: a restart never spawns while the old tree is alive, and a stop
during a restart delay cancels the restart.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.abc import Process, TaskGroup, TaskStatus

from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
from supervisor_core.config._specs import AppSpec
from supervisor_core.errors import PtmError, SpawnError
from supervisor_core.monitor import Monitor, TreeSample
from supervisor_core.process import (
    Event,
    Status,
    build_env,
    decide_after_exit,
    spawn,
    stop_tree,
    transition,
)

if TYPE_CHECKING:
    from supervisor_core.logs import InstanceLogSink

__all__ = ["Instance", "OutputCallback", "RunCallback", "Stream"]

Stream = Literal["out", "err"]
OutputCallback = Callable[[str, int, Stream, list[bytes]], None]
"""Called with (app, instance, stream, lines) for every batch of output lines."""
RunCallback = Callable[[str, int, str, RunRecord], None]
"""Called with (app, instance, run_id, record) when a run starts (``ended_at`` None) and when
it ends."""

_SETPRIV = shutil.which("setpriv")
MAX_RUNS_KEPT = 100
DISPLAY_SAMPLE_INTERVAL = 2.0
"""How often cpu and memory are read for an app without ``max_memory_restart``."""
PIPE_DRAIN_TIMEOUT = 2.0
"""After a run's tree is gone, how long to wait for the last bytes of its pipes."""

_Kind = Literal[
    "start", "stop", "restart", "exited", "memory", "unhealthy", "restart_due", "delete"
]


@dataclass
class _Message:
    kind: _Kind
    reason: RestartReason | None = None
    token: int | None = None
    detail: str | None = None
    done: anyio.Event | None = None
    error: BaseException | None = None


class Instance:
    """Instance ``index`` of an app. Create it, run :meth:`run` in a task group, then send it
    commands with :meth:`start`, :meth:`stop`, :meth:`restart` and :meth:`delete`."""

    def __init__(
        self,
        spec: AppSpec,
        index: int,
        *,
        monitor: Monitor,
        emit: Callable[[StateEvent], None],
        notice: Callable[[str], None],
        log_sink: InstanceLogSink | None = None,
        on_output: OutputCallback | None = None,
        ptm_home: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_run: RunCallback | None = None,
        die_with_supervisor: bool = False,
    ) -> None:
        self.spec = spec
        self.index = index
        self.status = Status.STOPPED
        self.restarts = 0
        self.unstable_restarts = 0
        self.last_exit_code: int | None = None
        self.last_signal: int | None = None
        self.last_restart_reason: RestartReason | None = None
        self.runs: deque[RunRecord] = deque(maxlen=MAX_RUNS_KEPT)
        self.cpu_percent: float | None = None
        self.memory_bytes: int | None = None
        self.health: dict[str, object] | None = None
        """The last health-check result (set by the health-check driver)."""
        self._monitor = monitor
        self._emit = emit
        self._notice = notice
        self._sink = log_sink
        self._on_output = on_output
        self._ptm_home = ptm_home
        self._wall = wall_clock
        self._on_run = on_run
        self._die_with_supervisor = die_with_supervisor
        self._send, self._inbox = anyio.create_memory_object_stream[_Message](math.inf)
        self._proc: Process | None = None
        self._token = 0  # identifies the current run; stale exits carry an old token
        self._run_id = ""
        self._started_mono = 0.0
        self._started_wall: float | None = None
        self._restart_at: float | None = None
        self._memory_alarm_token: int | None = None
        self._pending_reason: RestartReason | None = None
        self._tg: TaskGroup | None = None
        self._pumps_left = 0
        self._pumps_done = anyio.Event()

    # ----------------------------------------------------------------- public commands
    @property
    def key(self) -> tuple[str, int]:
        return (self.spec.name, self.index)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        await self._request("start")

    async def stop(self) -> None:
        await self._request("stop")

    async def restart(self, reason: RestartReason = "manual") -> None:
        await self._request("restart", reason)

    async def delete(self) -> None:
        """Stop, then end :meth:`run`."""
        await self._request("delete")

    async def unhealthy(self, detail: str) -> None:
        """Restart the running process with reason ``health``, counted like a crash."""
        done = anyio.Event()
        message = _Message("unhealthy", reason="health", token=self._token, done=done)
        message.detail = detail
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        await done.wait()

    def send_signal(self, sig: int) -> int | None:
        """Send ``sig`` to the instance's main process; returns its pid (None if not running)."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return None
        try:
            proc.send_signal(signal.Signals(sig))
        except ProcessLookupError:
            return None
        return proc.pid

    def reset_counters(self) -> None:
        """``ptm reset``: zero the restart counters."""
        self.restarts = 0
        self.unstable_restarts = 0
        self.last_restart_reason = None

    @property
    def run_id(self) -> str | None:
        return self._run_id if self._proc is not None else None

    def info(self) -> ProcessInfo:
        running = self._proc is not None
        logs = self._sink
        return ProcessInfo(
            name=self.spec.name,
            instance=self.index,
            pid=self.pid,
            status=self.status.value,
            restarts=self.restarts,
            unstable_restarts=self.unstable_restarts,
            started_at=self._started_wall if running else None,
            uptime=(anyio.current_time() - self._started_mono) if running else None,
            cpu_percent=self.cpu_percent if running else None,
            memory_bytes=self.memory_bytes if running else None,
            exit_code=self.last_exit_code,
            last_restart_reason=self.last_restart_reason,
            exec_mode=self.spec.exec_mode,
            out_file=str(logs.out_path) if logs is not None else None,
            error_file=str(logs.err_path) if logs is not None else None,
            health=dict(self.health) if self.health is not None else None,
        )

    async def _request(self, kind: _Kind, reason: RestartReason | None = None) -> None:
        done = anyio.Event()
        message = _Message(kind, reason=reason, done=done)
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the instance task has ended: nothing runs any more
        await done.wait()
        if message.error is not None:
            raise message.error

    # ----------------------------------------------------------------- the task
    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Handle messages until deleted (or cancelled); always leaves nothing running."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                while True:
                    message = await self._next_message()
                    try:
                        await self._handle(message)
                    except PtmError as exc:
                        message.error = exc
                    finally:
                        if message.done is not None:
                            message.done.set()
                    if message.kind == "delete":
                        tg.cancel_scope.cancel()  # ends the output pumps of the last run
                        break
        finally:
            with anyio.CancelScope(shield=True):
                await self._terminate("stop")
                if self.status.running:
                    self._set(Event.EXITED_STOPPED, reason="stop")
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

    async def _next_message(self) -> _Message:
        while True:
            if self.status is Status.WAITING_RESTART and self._restart_at is not None:
                remaining = self._restart_at - anyio.current_time()
                with anyio.move_on_after(max(remaining, 0.0)):
                    return await self._inbox.receive()
                return _Message("restart_due")
            return await self._inbox.receive()

    async def _handle(self, message: _Message) -> None:
        kind = message.kind
        if kind == "start":
            if not self.status.running:
                if self.status is not Status.WAITING_RESTART:
                    self.unstable_restarts = 0
                await self._launch()
        elif kind in ("stop", "delete"):
            if self._proc is not None:
                await self._terminate("stop")
                self._set(Event.EXITED_STOPPED, reason="stop")
            elif self.status is Status.WAITING_RESTART:
                self._restart_at = None
                self._set(Event.STOP, reason="stop")
        elif kind in ("restart", "memory"):
            if kind == "memory" and (message.token != self._token or self._proc is None):
                return  # an alarm about a run that is already gone
            reason = message.reason or "manual"
            self.restarts += 1
            self.last_restart_reason = reason
            if reason == "manual":
                self.unstable_restarts = 0
            if self._proc is not None:
                await self._terminate(reason)
                self._set(Event.EXITED_RELAUNCH, reason=reason)
                await self._spawn_run()
            else:
                await self._launch(reason=reason)
        elif kind == "unhealthy":
            if message.token != self._token or self._proc is None:
                return  # about a run that is already gone
            self._notice(f"{self.spec.name}:{self.index} unhealthy: {message.detail}: restarting")
            uptime = anyio.current_time() - self._started_mono
            await self._terminate("health")
            self._pending_reason = "health"
            self._decide(exit_code=None, uptime=uptime, reason="health")
        elif kind == "restart_due":
            self._restart_at = None
            self.restarts += 1
            reason = self._pending_reason or "crash"
            self._pending_reason = None
            self.last_restart_reason = reason
            await self._launch(reason=reason)
        elif kind == "exited" and message.token == self._token and self._proc is not None:
            await self._on_exit()

    # ----------------------------------------------------------------- runs
    async def _launch(self, reason: str | None = None) -> None:
        self._set(Event.START, reason=reason)
        await self._spawn_run()

    async def _spawn_run(self) -> None:
        """Spawn a process (status launching → online), or handle a failed spawn as an
        unstable exit."""
        spec = self.spec
        self._token += 1
        self._run_id = uuid.uuid4().hex
        env = build_env(
            app=spec.name,
            instance=self.index,
            app_env=spec.env,
            run_id=self._run_id,
            ptm_home=str(self._ptm_home) if self._ptm_home is not None else None,
        )
        self._started_wall = self._wall()
        self._started_mono = anyio.current_time()
        try:
            argv = self._argv()
            with anyio.CancelScope(shield=True):  # a cancelled spawn must not leak a child
                proc = await spawn(argv, cwd=spec.cwd, env=env)
        except SpawnError as exc:
            failed = RunRecord(
                pid=None,
                started_at=self._started_wall,
                ended_at=self._wall(),
                end_reason="spawn failed",
                error=str(exc),
            )
            self.runs.append(failed)
            self._report_run(failed)
            self._notice(f"{spec.name}:{self.index} {exc}")
            self._decide(exit_code=None, uptime=0.0)
            return
        self._proc = proc
        self.runs.append(RunRecord(pid=proc.pid, started_at=self._started_wall))
        self._report_run(self.runs[-1])
        self.cpu_percent = None
        self.memory_bytes = None
        assert self._tg is not None
        token = self._token
        self._pumps_done = anyio.Event()
        self._pumps_left = 0
        pipes: tuple[tuple[anyio.abc.ByteReceiveStream | None, Stream], ...] = (
            (proc.stdout, "out"),
            (proc.stderr, "err"),
        )
        for stream, name in pipes:
            if stream is not None:
                self._pumps_left += 1
                self._tg.start_soon(self._pump, stream, name, self._pumps_done)
        self._tg.start_soon(self._wait_exit, proc, token)
        interval = spec.memory.memory_check_interval
        if spec.memory.max_memory_restart is None:
            # Without a limit the figures are only for display: sample less often.
            interval = max(interval, DISPLAY_SAMPLE_INTERVAL)
        self._monitor.watch(self.key, proc.pid, interval, self._make_on_sample(token))
        self._set(Event.SPAWNED)

    def _argv(self) -> tuple[str, ...]:
        """The command line, behind ``setpriv --pdeathsig`` when the instance must die with
        the supervisor (the daemon): if the daemon is killed, the kernel sends each app its
        kill_signal."""
        argv = self.spec.argv
        if not self._die_with_supervisor or _SETPRIV is None:
            return argv
        program = argv[0]
        resolved = program if "/" in program else shutil.which(program)
        if resolved is None or not os.access(resolved, os.X_OK):
            raise SpawnError(
                f"cannot start {program!r} in {str(self.spec.cwd)!r}: "
                "No such file or not executable"
            )
        signame = self.spec.stop.kill_signal.name.removeprefix("SIG")
        return (_SETPRIV, "--pdeathsig", signame, "--", resolved, *argv[1:])

    def _report_run(self, record: RunRecord) -> None:
        if self._on_run is not None:
            with contextlib.suppress(Exception):
                self._on_run(self.spec.name, self.index, self._run_id, record)

    async def _wait_exit(self, proc: Process, token: int) -> None:
        await proc.wait()
        with contextlib.suppress(anyio.ClosedResourceError):
            self._send.send_nowait(_Message("exited", token=token))

    async def _pump(
        self, stream: anyio.abc.ByteReceiveStream, name: Stream, done: anyio.Event
    ) -> None:
        from supervisor_core.logs import pump_lines

        app, index, sink, echo = self.spec.name, self.index, self._sink, self._on_output

        def on_lines(lines: list[bytes]) -> None:
            if sink is not None:
                sink.write(name, lines)
            if echo is not None:
                echo(app, index, name, lines)

        try:
            await pump_lines(stream, on_lines)
        finally:
            self._pumps_left -= 1
            if self._pumps_left <= 0 or done is not self._pumps_done:
                done.set()

    def _make_on_sample(self, token: int) -> Callable[[TreeSample | None], None]:
        limit = self.spec.memory.max_memory_restart

        def on_sample(sample: TreeSample | None) -> None:
            if sample is None or token != self._token:
                return
            self.cpu_percent = sample.cpu_percent
            self.memory_bytes = sample.memory_bytes
            if (
                limit is not None
                and sample.memory_bytes > limit
                and self._memory_alarm_token != token
                and self.status is Status.ONLINE
            ):
                self._memory_alarm_token = token
                self._notice(
                    f"{self.spec.name}:{self.index} memory {sample.memory_bytes} bytes "
                    f"is over the limit of {limit}: restarting"
                )
                self._send.send_nowait(_Message("memory", reason="memory", token=token))

        return on_sample

    async def _terminate(self, end_reason: str) -> None:
        """Stop the current run's whole tree (status stopping); no-op without a run."""
        proc = self._proc
        if proc is None:
            return
        self._set(Event.STOP, reason=end_reason)
        known = self._monitor.sampler.handles(self._monitor.unwatch(self.key))
        stop = self.spec.stop
        report = await stop_tree(
            proc,
            pgid=proc.pid,
            run_id=self._run_id,
            started_at=self._started_wall or 0.0,
            sig=stop.kill_signal,
            timeout=stop.kill_timeout,
            known=known,
        )
        if report.escalated:
            self._notice(
                f"{self.spec.name}:{self.index} did not stop within {stop.kill_timeout:g}s of "
                f"{stop.kill_signal.name}: sent SIGKILL to {report.killed} process(es)"
            )
        await self._drain_pipes()
        self._end_run(end_reason)

    async def _on_exit(self) -> None:
        """The process exited by itself: clean up what is left of its tree, then apply the
        restart policy."""
        proc = self._proc
        assert proc is not None
        uptime = anyio.current_time() - self._started_mono
        known = self._monitor.sampler.handles(self._monitor.unwatch(self.key))
        await stop_tree(
            proc,
            pgid=proc.pid,
            run_id=self._run_id,
            started_at=self._started_wall or 0.0,
            sig=self.spec.stop.kill_signal,
            timeout=self.spec.stop.kill_timeout,
            known=known,
        )
        await self._drain_pipes()
        code = self._end_run("crash")
        self._decide(exit_code=code, uptime=uptime)

    async def _drain_pipes(self) -> None:
        """Let the pumps deliver the last lines of a run whose tree is gone."""
        with anyio.move_on_after(PIPE_DRAIN_TIMEOUT):
            await self._pumps_done.wait()

    def _end_run(self, end_reason: str) -> int | None:
        """Record the end of the current run; returns its exit code (None if signalled)."""
        proc = self._proc
        assert proc is not None
        rc = proc.returncode
        code = rc if rc is not None and rc >= 0 else None
        sig = -rc if rc is not None and rc < 0 else None
        self.last_exit_code = code
        self.last_signal = sig
        if self.runs and self.runs[-1].pid == proc.pid and self.runs[-1].ended_at is None:
            self.runs[-1] = replace(
                self.runs[-1],
                ended_at=self._wall(),
                exit_code=code,
                signal=sig,
                end_reason=end_reason,
            )
            self._report_run(self.runs[-1])
        self._proc = None
        self.cpu_percent = None
        self.memory_bytes = None
        return code

    def _decide(self, *, exit_code: int | None, uptime: float, reason: str = "crash") -> None:
        policy = self.spec.restart
        if reason == "health":  # an unhealthy process is restarted even with autorestart off
            policy = replace(policy, autorestart=True)
        decision = decide_after_exit(
            policy,
            exit_code=exit_code,
            uptime=uptime,
            unstable_restarts=self.unstable_restarts,
        )
        self.unstable_restarts = decision.unstable_restarts
        if decision.event is Event.EXITED_RESTART:
            self._restart_at = anyio.current_time() + decision.delay
        if decision.event is Event.EXITED_ERRORED:
            reason = "errored"
        elif decision.event is Event.EXITED_STOPPED:
            reason = "exit"
        self._set(decision.event, reason=reason, delay=decision.delay)

    # ----------------------------------------------------------------- events
    def _set(self, event: Event, *, reason: str | None = None, delay: float | None = None) -> None:
        previous = self.status
        self.status = transition(previous, event)
        if self.status is previous and event is not Event.SPAWNED:
            return
        self._emit(
            StateEvent(
                app=self.spec.name,
                instance=self.index,
                status=self.status.value,
                previous=previous.value,
                timestamp=self._wall(),
                pid=self.pid,
                exit_code=self.last_exit_code if not self.status.running else None,
                signal=self.last_signal if not self.status.running else None,
                reason=reason,
                delay=delay if self.status is Status.WAITING_RESTART else None,
            )
        )
