"""One managed instance: a single task that owns its process(es) and its state.

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
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.abc import Process, TaskGroup, TaskStatus

from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
from supervisor_core.config._specs import AppSpec
from supervisor_core.errors import PtmError, SpawnError, StateError
from supervisor_core.monitor import Monitor, TreeSample
from supervisor_core.process import (
    Event,
    Status,
    build_env,
    decide_after_exit,
    descendant_pids,
    pid_still_ours,
    signal_process,
    spawn,
    stop_tree,
    transition,
)

if TYPE_CHECKING:
    from supervisor_core.logs import InstanceLogSink

__all__ = ["Instance", "OutputCallback", "ReadinessProbe", "RunCallback", "Stream"]

Stream = Literal["out", "err"]
OutputCallback = Callable[[str, int, Stream, list[bytes]], None]
"""Called with (app, instance, stream, lines) for every batch of output lines."""
RunCallback = Callable[[str, int, str, RunRecord], None]
"""Called with (app, instance, run_id, record) when a run starts (``ended_at`` None) and when
it ends."""
ReadinessProbe = Callable[[AppSpec, int], Awaitable[bool]]
"""One health probe of an instance for ``wait_ready``: True when it answered healthy."""

_SETPRIV = shutil.which("setpriv")
_BASH = shutil.which("bash") or "/bin/bash"  # dash cannot name fds above 9
MAX_RUNS_KEPT = 100
DISPLAY_SAMPLE_INTERVAL = 5.0
"""How often cpu and memory are read for an app without ``max_memory_restart``."""
PIPE_DRAIN_TIMEOUT = 2.0
"""After a run's tree is gone, how long to wait for the last bytes of its pipes."""
READINESS_PROBE_INTERVAL = 0.1
"""How often ``wait_ready`` probes the health check while an instance starts."""

_Kind = Literal[
    "start",
    "stop",
    "restart",
    "reload",
    "exited",
    "memory",
    "unhealthy",
    "ready",
    "not_ready",
    "restart_due",
    "delete",
]


@dataclass
class _Message:
    kind: _Kind
    reason: RestartReason | None = None
    token: int | None = None
    detail: str | None = None
    only_if: frozenset[str] | None = None
    never_answered: bool = False
    done: anyio.Event | None = None
    error: BaseException | None = None


@dataclass
class _Run:
    """One process of the instance, from spawn to the end of its tree."""

    token: int
    run_id: str
    proc: Process
    started_mono: float
    started_wall: float
    pumps_left: int = 0
    pumps_done: anyio.Event = field(default_factory=anyio.Event)
    ready: anyio.Event = field(default_factory=anyio.Event)
    """Set when the process sent ``READY=1`` on ``$NOTIFY_SOCKET``."""
    status_text: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


class Instance:
    """Instance ``index`` of an app. Create it, run :meth:`run` in a task group, then send it
    commands with :meth:`start`, :meth:`stop`, :meth:`restart`, :meth:`reload` and
    :meth:`delete`."""

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
        notify_socket: Path | None = None,
        listen_fd: int | None = None,
        readiness_probe: ReadinessProbe | None = None,
        claim_notify: Callable[[int], list[tuple[int, dict[str, str]]]] | None = None,
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
        self._notify_socket = notify_socket
        self._listen_fd = listen_fd
        self._readiness_probe = readiness_probe
        self._claim_notify = claim_notify
        self._send, self._inbox = anyio.create_memory_object_stream[_Message](math.inf)
        self._run: _Run | None = None
        self._incoming: _Run | None = None  # the new process of a reload, until it takes over
        self._token = 0  # identifies runs; messages about an old run carry an old token
        self._restart_at: float | None = None
        self._memory_alarm_token: int | None = None
        self._pending_reason: RestartReason | None = None
        self._tg: TaskGroup | None = None

    # ----------------------------------------------------------------- public commands
    @property
    def key(self) -> tuple[str, int]:
        return (self.spec.name, self.index)

    @property
    def pid(self) -> int | None:
        return self._run.pid if self._run is not None else None

    async def start(self) -> None:
        await self._request("start")

    async def stop(self) -> None:
        await self._request("stop")

    async def restart(
        self, reason: RestartReason = "manual", *, only_if: Collection[str] | None = None
    ) -> None:
        """Restart. ``only_if``: only when the status (checked when the command is handled,
        so a stop that came first wins) is one of these."""
        await self._request("restart", reason, only_if=only_if)

    async def reload(self) -> None:
        """Start a new process, wait until it is ready, then stop the old one gracefully.
        If the new one never becomes ready it is stopped, the old one keeps running, and
        :class:`StateError` says why."""
        await self._request("reload", "manual")

    async def delete(self) -> None:
        """Stop, then end :meth:`run`."""
        await self._request("delete")

    async def unhealthy(self, detail: str, *, never_answered: bool = False) -> None:
        """Restart the running process with reason ``health``, counted like a crash (and as
        an unstable run if it ``never_answered`` its health check)."""
        done = anyio.Event()
        message = _Message("unhealthy", reason="health", token=self._token, done=done)
        message.detail = detail
        message.never_answered = never_answered
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        await done.wait()

    def notify(self, pid: int, fields: dict[str, str]) -> bool:
        """An sd_notify datagram from ``pid``; True if it came from one of our processes."""
        for run in (self._run, self._incoming):
            if run is None or run.proc.returncode is not None:
                continue
            if pid != run.pid and pid not in descendant_pids(run.pid):
                continue
            _apply_notify(run, fields)
            return True
        return False

    def send_signal(self, sig: int) -> int | None:
        """Send ``sig`` to the instance's main process; returns its pid (None if not running)."""
        run = self._run
        if run is None or run.proc.returncode is not None:
            return None
        if not signal_process(run.proc, sig):
            return None
        return run.pid

    def reset_counters(self) -> None:
        """``ptm reset``: zero the restart counters."""
        self.restarts = 0
        self.unstable_restarts = 0
        self.last_restart_reason = None

    @property
    def run_id(self) -> str | None:
        return self._run.run_id if self._run is not None else None

    def info(self) -> ProcessInfo:
        run = self._run
        logs = self._sink
        return ProcessInfo(
            name=self.spec.name,
            instance=self.index,
            pid=run.pid if run is not None else None,
            status=self.status,
            restarts=self.restarts,
            unstable_restarts=self.unstable_restarts,
            started_at=run.started_wall if run is not None else None,
            uptime=(anyio.current_time() - run.started_mono) if run is not None else None,
            cpu_percent=self.cpu_percent if run is not None else None,
            memory_bytes=self.memory_bytes if run is not None else None,
            exit_code=self.last_exit_code,
            last_restart_reason=self.last_restart_reason,
            exec_mode=self.spec.exec_mode,
            out_file=str(logs.out_path) if logs is not None else None,
            error_file=str(logs.err_path) if logs is not None else None,
            health=dict(self.health) if self.health is not None else None,
        )

    async def _request(
        self,
        kind: _Kind,
        reason: RestartReason | None = None,
        *,
        only_if: Collection[str] | None = None,
    ) -> None:
        done = anyio.Event()
        message = _Message(
            kind,
            reason=reason,
            done=done,
            only_if=frozenset(only_if) if only_if is not None else None,
        )
        try:
            self._send.send_nowait(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the instance task has ended: nothing runs any more
        await done.wait()
        if message.error is not None:
            raise message.error

    def _post(self, message: _Message) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send.send_nowait(message)

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
                    except Exception as exc:  # a bug must not end the instance (or the daemon)
                        self._notice(
                            f"{self.spec.name}:{self.index} internal error handling "
                            f"{message.kind}: {exc!r}"
                        )
                        message.error = StateError(
                            f"{self.spec.name}:{self.index}: internal error: {exc!r}"
                        )
                    finally:
                        if message.done is not None:
                            message.done.set()
                    if message.kind == "delete":
                        tg.cancel_scope.cancel()  # ends the output pumps of the last run
                        break
        finally:
            with anyio.CancelScope(shield=True):
                if self._incoming is not None:
                    await self._stop_run(self._incoming, "stop")
                    self._incoming = None
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

    def _current(self, token: int | None) -> _Run | None:
        """The current run if ``token`` names it (messages about old runs are stale)."""
        run = self._run
        return run if run is not None and run.token == token else None

    async def _handle(self, message: _Message) -> None:
        kind = message.kind
        if kind in ("start", "stop", "delete", "restart", "reload"):
            self._pending_reason = None  # a command supersedes a pending health restart
        if kind == "start":
            if not self.status.running:
                if self.status is not Status.WAITING_RESTART:
                    self.unstable_restarts = 0
                await self._launch()
        elif kind in ("stop", "delete"):
            if self._run is not None:
                await self._terminate("stop")
                self._set(Event.EXITED_STOPPED, reason="stop")
            elif self.status is Status.WAITING_RESTART:
                self._restart_at = None
                self._set(Event.STOP, reason="stop")
        elif kind in ("restart", "memory"):
            if kind == "memory" and self._current(message.token) is None:
                return  # an alarm about a run that is already gone
            if message.only_if is not None and self.status not in message.only_if:
                return  # e.g. a cron restart of an app that was stopped meanwhile
            reason = message.reason or "manual"
            self._count_restart(reason)
            if self._run is not None:
                await self._terminate(reason)
                self._set(Event.EXITED_RELAUNCH, reason=reason)
                await self._spawn_run()
            else:
                await self._launch(reason=reason)
        elif kind == "reload":
            await self._reload()
        elif kind == "unhealthy":
            run = self._current(message.token)
            if run is None:
                return  # about a run that is already gone
            self._notice(f"{self.spec.name}:{self.index} unhealthy: {message.detail}: restarting")
            uptime = 0.0 if message.never_answered else anyio.current_time() - run.started_mono
            await self._terminate("health")
            self._decide(exit_code=None, uptime=uptime, reason="health")
            if self.status is Status.WAITING_RESTART:
                self._pending_reason = "health"  # the restart, when due, says why
        elif kind == "ready":
            if self._current(message.token) is not None and self.status is Status.LAUNCHING:
                self._set(Event.SPAWNED, reason=message.detail)
        elif kind == "not_ready":
            run = self._current(message.token)
            if run is None or self.status is not Status.LAUNCHING:
                return
            if run.proc.returncode is not None:
                await self._on_exit()  # it exited: an exit, with its code (stop_exit_codes)
                return
            self._notice(f"{self.spec.name}:{self.index} not ready: {message.detail}")
            uptime = anyio.current_time() - run.started_mono
            await self._terminate("not ready")
            self._decide(exit_code=None, uptime=uptime, reason="not ready")
        elif kind == "restart_due":
            self._restart_at = None
            reason = self._pending_reason or "crash"
            self._pending_reason = None
            self._count_restart(reason)
            await self._launch(reason=reason)
        elif kind == "exited" and self._current(message.token) is not None:
            await self._on_exit()

    def _count_restart(self, reason: RestartReason) -> None:
        self.restarts += 1
        self.last_restart_reason = reason
        if reason == "manual":
            self.unstable_restarts = 0

    # ----------------------------------------------------------------- runs
    async def _launch(self, reason: str | None = None) -> None:
        self._set(Event.START, reason=reason)
        await self._spawn_run()

    async def _spawn_run(self) -> None:
        """Spawn a process (status launching; online at once, or once ready with
        ``wait_ready``), or handle a failed spawn as an unstable exit."""
        try:
            run = await self._start_process()
        except SpawnError as exc:
            self._notice(f"{self.spec.name}:{self.index} {exc}")
            self._decide(exit_code=None, uptime=0.0)
            return
        self._run = run
        self.cpu_percent = None
        self.memory_bytes = None
        if self.spec.readiness.wait_ready:
            assert self._tg is not None
            self._tg.start_soon(self._report_readiness, run)
        else:
            self._set(Event.SPAWNED)

    async def _start_process(self) -> _Run:
        """Spawn one process with its pumps, exit watcher and sampling; the caller decides
        what it means for the status. Raises SpawnError (the failed run is recorded)."""
        spec = self.spec
        self._token += 1
        run_id = uuid.uuid4().hex
        env = build_env(
            app=spec.name,
            instance=self.index,
            app_env=spec.env,
            run_id=run_id,
            ptm_home=str(self._ptm_home) if self._ptm_home is not None else None,
        )
        if self._notify_socket is not None:
            env["NOTIFY_SOCKET"] = str(self._notify_socket)
        else:
            env.pop("NOTIFY_SOCKET", None)
        pass_fds: tuple[int, ...] = ()
        if self._listen_fd is not None:
            env["LISTEN_FDS"] = "1"
            env["LISTEN_FDNAMES"] = spec.name
            pass_fds = (self._listen_fd,)
        else:
            for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
                env.pop(key, None)
        started_wall = self._wall()
        started_mono = anyio.current_time()
        try:
            argv = self._argv()
            with anyio.CancelScope(shield=True):  # a cancelled spawn must not leak a child
                proc = await spawn(argv, cwd=spec.cwd, env=env, pass_fds=pass_fds)
        except SpawnError as exc:
            failed = RunRecord(
                pid=None,
                started_at=started_wall,
                ended_at=self._wall(),
                end_reason="spawn failed",
                error=str(exc),
            )
            self.runs.append(failed)
            self._report_run(run_id, failed)
            raise
        run = _Run(self._token, run_id, proc, started_mono, started_wall)
        if self._claim_notify is not None:  # what it said before we knew its pid
            for _pid, fields in self._claim_notify(proc.pid):
                _apply_notify(run, fields)
        self.runs.append(RunRecord(pid=proc.pid, started_at=started_wall))
        self._report_run(run_id, self.runs[-1])
        assert self._tg is not None
        pipes: tuple[tuple[anyio.abc.ByteReceiveStream | None, Stream], ...] = (
            (proc.stdout, "out"),
            (proc.stderr, "err"),
        )
        for stream, name in pipes:
            if stream is not None:
                run.pumps_left += 1
                self._tg.start_soon(self._pump, stream, name, run)
        self._tg.start_soon(self._wait_exit, run)
        interval = spec.memory.memory_check_interval
        if spec.memory.max_memory_restart is None:
            # Without a limit the figures are only for display: sample less often.
            interval = max(interval, DISPLAY_SAMPLE_INTERVAL)
        self._monitor.watch(self._monitor_key(run), proc.pid, interval, self._on_sample(run))
        return run

    def _monitor_key(self, run: _Run) -> tuple[str, int, int]:
        return (self.spec.name, self.index, run.token)

    def _argv(self) -> tuple[str, ...]:
        """The command line. With a shared listening socket, behind a ``bash`` that moves it to
        fd 3 and sets ``LISTEN_PID`` to the app's own pid (systemd's convention); when the
        instance must die with the supervisor (the daemon), behind ``setpriv --pdeathsig``:
        if the daemon is killed, the kernel sends the app its kill_signal."""
        argv = self.spec.argv
        wrapped = self._die_with_supervisor and _SETPRIV is not None
        if wrapped or self._listen_fd is not None:
            program = argv[0]
            resolved = program if "/" in program else shutil.which(program)
            if resolved is None or not os.access(resolved, os.X_OK):
                raise SpawnError(
                    f"cannot start {program!r} in {str(self.spec.cwd)!r}: "
                    "No such file or not executable"
                )
            argv = (resolved, *argv[1:])
        if self._listen_fd is not None:
            fd = self._listen_fd
            move = "" if fd == 3 else f"exec 3<&{fd} {fd}<&-; "
            script = f'LISTEN_PID=$$; export LISTEN_PID; {move}exec "$@"'
            argv = (_BASH, "-c", script, "ptm-listen", *argv)
        if wrapped:
            assert _SETPRIV is not None
            signame = self.spec.stop.kill_signal.name.removeprefix("SIG")
            argv = (_SETPRIV, "--pdeathsig", signame, "--", *argv)
        return argv

    def _report_run(self, run_id: str, record: RunRecord) -> None:
        if self._on_run is not None:
            with contextlib.suppress(Exception):
                self._on_run(self.spec.name, self.index, run_id, record)

    async def _wait_exit(self, run: _Run) -> None:
        await run.proc.wait()
        self._post(_Message("exited", token=run.token))

    async def _pump(self, stream: anyio.abc.ByteReceiveStream, name: Stream, run: _Run) -> None:
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
            run.pumps_left -= 1
            if run.pumps_left <= 0:
                run.pumps_done.set()

    def _on_sample(self, run: _Run) -> Callable[[TreeSample | None], None]:
        limit = self.spec.memory.max_memory_restart

        def on_sample(sample: TreeSample | None) -> None:
            if sample is None or self._run is not run:
                return
            self.cpu_percent = sample.cpu_percent
            self.memory_bytes = sample.memory_bytes
            if (
                limit is not None
                and sample.memory_bytes > limit
                and self._memory_alarm_token != run.token
                and self.status is Status.ONLINE
            ):
                self._memory_alarm_token = run.token
                self._notice(
                    f"{self.spec.name}:{self.index} memory {sample.memory_bytes} bytes "
                    f"is over the limit of {limit}: restarting"
                )
                self._post(_Message("memory", reason="memory", token=run.token))

        return on_sample

    # ----------------------------------------------------------------- readiness
    async def _await_ready(self, run: _Run) -> tuple[bool, str]:
        """Whether a new process becomes ready: with ``wait_ready``, it sends ``READY=1`` or
        its health check passes within ``listen_timeout``; without, it is still running after
        ``min_uptime``."""
        spec = self.spec
        outcome: list[tuple[bool, str]] = []
        if not spec.readiness.wait_ready:
            with anyio.move_on_after(spec.restart.min_uptime):
                await run.proc.wait()
                return False, f"exited with code {run.proc.returncode} while starting"
            return True, "up"
        timeout = spec.readiness.listen_timeout
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:

                def decide(ok: bool, detail: str) -> None:
                    if not outcome:
                        outcome.append((ok, detail))
                    tg.cancel_scope.cancel()

                async def by_notify() -> None:
                    await run.ready.wait()
                    decide(True, "READY=1")

                async def by_exit() -> None:
                    await run.proc.wait()
                    decide(False, f"exited with code {run.proc.returncode} while starting")

                async def by_health() -> None:
                    probe = self._readiness_probe
                    if probe is None or spec.health_check is None:
                        return
                    if self._listen_fd is not None:
                        # Behind a shared socket any instance (the old one, in a reload)
                        # may answer: only READY=1 from this very process counts.
                        return
                    while not await probe(spec, self.index):  # noqa: ASYNC110 - HTTP polling
                        await anyio.sleep(READINESS_PROBE_INTERVAL)
                    decide(True, "health check passed")

                tg.start_soon(by_notify)
                tg.start_soon(by_exit)
                tg.start_soon(by_health)
        if outcome:
            return outcome[0]
        if (
            spec.health_check is not None
            and self._readiness_probe is not None
            and self._listen_fd is None
        ):
            return False, f"neither READY=1 nor a passing health check within {timeout:g}s"
        return False, f"no READY=1 within {timeout:g}s"

    async def _report_readiness(self, run: _Run) -> None:
        ok, detail = await self._await_ready(run)
        self._post(_Message("ready" if ok else "not_ready", token=run.token, detail=detail))

    async def _reload(self) -> None:
        """Replace the running process by a new one that is ready first (zero downtime with
        a shared listening socket); without a running process, a plain start."""
        old = self._run
        if old is None or self.status is not Status.ONLINE or self._listen_fd is None:
            # Without a shared socket a second process beside the old one would meet
            # "address already in use": restart this instance (the caller waits until it is
            # online before the next one).
            self._count_restart("manual")
            if old is not None:
                await self._terminate("manual")
                self._set(Event.EXITED_RELAUNCH, reason="manual")
                await self._spawn_run()
            else:
                await self._launch(reason="manual")
            return
        label = f"{self.spec.name}:{self.index}"
        try:
            new = await self._start_process()
        except SpawnError as exc:
            raise StateError(f"reload of {label} failed: {exc}; the old process runs on") from exc
        self._incoming = new
        ok, detail = await self._await_ready(new)
        if not ok:
            await self._stop_run(new, "not ready")
            self._incoming = None
            raise StateError(
                f"reload of {label}: the new process was not ready ({detail}); "
                f"it was stopped and the old one (pid {old.pid}) runs on"
            )
        # Swap: the new run is the instance's from now on; then the old one stops gracefully.
        self._incoming = None
        self._run = new
        self.cpu_percent = None
        self.memory_bytes = None
        self._count_restart("manual")
        self._emit_state(reason="reload")
        await self._stop_run(old, "manual")

    # ----------------------------------------------------------------- ends of runs
    async def _terminate(self, end_reason: str) -> None:
        """Stop the current run's whole tree (status stopping); no-op without a run."""
        run = self._run
        if run is None:
            return
        self._set(Event.STOP, reason=end_reason)
        await self._stop_run(run, end_reason)
        self._run = None
        self.cpu_percent = None
        self.memory_bytes = None

    async def _stop_run(self, run: _Run, end_reason: str) -> int | None:
        """Stop one run's tree: kill_signal, kill_timeout, SIGKILL; record its end."""
        known = self._monitor.sampler.handles(self._monitor.unwatch(self._monitor_key(run)))
        stop = self.spec.stop
        report = await stop_tree(
            run.proc,
            # Once reaped, its pid (and group id) may belong to someone else: then only the
            # processes found by the run's mark are signalled.
            pgid=run.pid if pid_still_ours(run.proc) else None,
            run_id=run.run_id,
            started_at=run.started_wall,
            sig=stop.kill_signal,
            timeout=stop.kill_timeout,
            known=known,
        )
        if report.escalated:
            self._notice(
                f"{self.spec.name}:{self.index} did not stop within {stop.kill_timeout:g}s of "
                f"{stop.kill_signal.name}: sent SIGKILL to {report.killed} process(es)"
            )
        return await self._end_run(run, end_reason)

    async def _on_exit(self) -> None:
        """The process exited by itself: clean up what is left of its tree, then apply the
        restart policy."""
        run = self._run
        assert run is not None
        uptime = anyio.current_time() - run.started_mono
        code = await self._stop_run(run, "crash")
        self._run = None
        self.cpu_percent = None
        self.memory_bytes = None
        self._decide(exit_code=code, uptime=uptime)

    async def _end_run(self, run: _Run, end_reason: str) -> int | None:
        """Let the pumps deliver the last lines, then record the end of ``run``; returns its
        exit code (None if it was killed by a signal)."""
        with anyio.move_on_after(PIPE_DRAIN_TIMEOUT):
            await run.pumps_done.wait()
        rc = run.proc.returncode
        code = rc if rc is not None and rc >= 0 else None
        sig = -rc if rc is not None and rc < 0 else None
        self.last_exit_code = code
        self.last_signal = sig
        for position in range(len(self.runs) - 1, -1, -1):
            record = self.runs[position]
            if record.pid == run.pid and record.started_at == run.started_wall:
                if record.ended_at is None:
                    self.runs[position] = replace(
                        record,
                        ended_at=self._wall(),
                        exit_code=code,
                        signal=sig,
                        end_reason=end_reason,
                    )
                    self._report_run(run.run_id, self.runs[position])
                break
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
        self._emit_state(previous=previous, reason=reason, delay=delay)

    def _emit_state(
        self,
        *,
        previous: Status | None = None,
        reason: str | None = None,
        delay: float | None = None,
    ) -> None:
        self._emit(
            StateEvent(
                app=self.spec.name,
                instance=self.index,
                status=self.status,
                previous=previous or self.status,
                timestamp=self._wall(),
                pid=self.pid,
                exit_code=self.last_exit_code if not self.status.running else None,
                signal=self.last_signal if not self.status.running else None,
                reason=reason,
                delay=delay if self.status is Status.WAITING_RESTART else None,
            )
        )


def _apply_notify(run: _Run, fields: dict[str, str]) -> None:
    if "STATUS" in fields:
        run.status_text = fields["STATUS"]
    if fields.get("READY") == "1":
        run.ready.set()
