"""The runs of one instance: spawning a process with its pipes, exit watcher and sampling;
stopping its whole tree; recording each run from spawn to end.

:class:`Runner` does what the instance's decisions ask and nothing more: it never decides
whether to restart. What it learns in the background (an exit, a memory alarm) it posts to
the instance's inbox.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.abc import ByteReceiveStream, TaskGroup

from supervisor_core._info import RunRecord
from supervisor_core.config import AppSpec
from supervisor_core.errors import SpawnError
from supervisor_core.monitor import MemoryLimit, Monitor, TreeSample
from supervisor_core.process import (
    CgroupTree,
    ChildProcess,
    Clock,
    ReadinessProbe,
    RunFacts,
    Spawner,
    await_ready,
    descendant_pids,
    launch_plan,
    pid_still_ours,
    signal_process,
    stop_tree,
)

if TYPE_CHECKING:
    from supervisor_core.logs import InstanceLogSink, LineSplitter

__all__ = [
    "DISPLAY_SAMPLE_INTERVAL",
    "MAX_RUNS_KEPT",
    "PIPE_DRAIN_TIMEOUT",
    "OutputCallback",
    "Run",
    "RunCallback",
    "RunSetup",
    "Runner",
    "SampleCallback",
    "Stream",
]

Stream = Literal["out", "err"]
OutputCallback = Callable[[str, int, Stream, list[bytes]], None]
"""Called with (app, instance, stream, lines) for every batch of output lines."""
RunCallback = Callable[[str, int, str, RunRecord], None]
"""Called with (app, instance, run_id, record) when a run starts (``ended_at`` None) and when
it ends."""
SampleCallback = Callable[[str, int, TreeSample], None]
"""Called with (app, instance, sample) for every sample of an instance's current run."""

MAX_RUNS_KEPT = 100
DISPLAY_SAMPLE_INTERVAL = 5.0
"""How often cpu and memory are read for an app without ``max_memory_restart``."""
PIPE_DRAIN_TIMEOUT = 2.0
"""After a run's tree is gone, how long to wait for the last bytes of its pipes."""


@dataclass
class Run:
    """One process of the instance, from spawn to the end of its tree."""

    token: int
    run_id: str
    proc: ChildProcess
    started: float
    """Monotonic time of the spawn."""
    record: RunRecord
    """As it was recorded at the spawn (pid, wall-clock start)."""
    pumps_left: int = 0
    pumps_done: anyio.Event = field(default_factory=anyio.Event)
    ready: anyio.Event = field(default_factory=anyio.Event)
    """Set when the process sent ``READY=1`` on ``$NOTIFY_SOCKET``."""
    status_text: str | None = None
    cgroup: Path | None = None
    """The run's own cgroup (see :class:`~supervisor_core.process.CgroupTree`), if any."""
    splitters: dict[str, LineSplitter] = field(default_factory=dict)
    """Each pipe's unterminated line (``ptm update`` hands it to the next image)."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def facts(self) -> RunFacts:
        """What the decision core knows of it."""
        return RunFacts(self.token, self.pid, self.started)

    def apply_notify(self, fields: dict[str, str]) -> None:
        if "STATUS" in fields:
            self.status_text = fields["STATUS"]
        if fields.get("READY") == "1":
            self.ready.set()


@dataclass(frozen=True)
class RunSetup:
    """What the runs of one instance need from their supervisor besides the spec: the
    supervisor makes it, the :class:`~supervisor_core._instance.Instance` passes it on to its
    :class:`Runner`."""

    monitor: Monitor
    notice: Callable[[str], None]
    claim_notify: Callable[[int], list[tuple[int, dict[str, str]]]]
    """What a process said on ``$NOTIFY_SOCKET`` before its pid was known."""
    # The supervisor's settings (their defaults are the Supervisor's).
    on_output: OutputCallback | None
    output_as_written: bool
    """Hand ``on_output`` each line with the timestamp its log file got."""
    on_run: RunCallback | None
    ptm_home: Path | None
    wall_clock: Callable[[], float]
    die_with_supervisor: bool
    readiness_probe: ReadinessProbe | None
    spawner: Spawner
    clock: Clock
    cgroups: CgroupTree | None
    """Where each run gets its own cgroup (None: stopped by group and mark only)."""
    on_sample: SampleCallback | None
    sample_interval: float
    """How often cpu and memory are read for an app without ``max_memory_restart``."""
    # The instance's own, added by the supervisor for each.
    log_sink: InstanceLogSink | None = None
    notify_socket: Path | None = None
    listen_fd: int | None = None


class Runner:
    """Owns the processes of one instance: the current run, the new one of a reload
    (``incoming``) and the old one it replaces (``retiring``)."""

    def __init__(
        self,
        spec: AppSpec,
        index: int,
        setup: RunSetup,
        *,
        post_exit: Callable[[int], None],
        post_memory: Callable[[int], None],
        is_online: Callable[[], bool],
    ) -> None:
        self.spec = spec
        self.index = index
        self.current: Run | None = None
        self.incoming: Run | None = None  # the new process of a reload, until it takes over
        self.retiring: Run | None = None  # the old process of a reload, once replaced
        self.token = 0  # identifies runs; messages about an old run carry an old token
        self.runs: deque[RunRecord] = deque(maxlen=MAX_RUNS_KEPT)
        self.last_exit_code: int | None = None
        self.last_signal: int | None = None
        self.cpu_percent: float | None = None
        self.memory_bytes: int | None = None
        self.task_group: TaskGroup | None = None
        self._label = f"{spec.name}:{index}"
        self._setup = setup
        self._post_exit = post_exit
        self._post_memory = post_memory
        self._is_online = is_online
        self._memory_alarm_token: int | None = None

    def notify(self, pid: int, fields: dict[str, str]) -> bool:
        """An sd_notify datagram from ``pid``; True if it came from one of our processes."""
        for run in (self.current, self.incoming):
            if run is None or run.proc.returncode is not None:
                continue
            if pid != run.pid and pid not in descendant_pids(run.pid):
                continue
            run.apply_notify(fields)
            return True
        return False

    def signal(self, sig: int) -> int | None:
        """Send ``sig`` to the current run's main process; returns its pid (None if not
        running)."""
        run = self.current
        if run is None or run.proc.returncode is not None:
            return None
        if not signal_process(run.proc, sig):
            return None
        return run.pid

    async def await_ready(self, run: Run) -> tuple[bool, str]:
        """Whether ``run`` becomes ready (see :func:`~supervisor_core.process._readiness.
        await_ready`), and why."""
        return await await_ready(
            self.spec,
            self.index,
            run.proc,
            run.ready,
            clock=self._setup.clock,
            probe=self._setup.readiness_probe,
            shared_socket=self._setup.listen_fd is not None,
        )

    # ----------------------------------------------------------------- starting
    async def start_process(self) -> Run:
        """Spawn one process with its pumps, exit watcher and sampling; the caller decides
        what it means for the status. Raises SpawnError (the failed run is recorded)."""
        spec = self.spec
        self.token += 1
        run_id = uuid.uuid4().hex
        started_wall = self._setup.wall_clock()
        started = self._setup.clock.now()
        cgroup = self._setup.cgroups.create(run_id) if self._setup.cgroups is not None else None
        try:
            plan = launch_plan(
                spec,
                self.index,
                run_id=run_id,
                ptm_home=self._setup.ptm_home,
                notify_socket=self._setup.notify_socket,
                listen_fd=self._setup.listen_fd,
                die_with_supervisor=self._setup.die_with_supervisor,
                cgroup=cgroup,  # the app is born in it: what it forks at once is in it too
            )
            with anyio.CancelScope(shield=True):  # a cancelled spawn must not leak a child
                proc = await self._setup.spawner(
                    plan.argv, cwd=plan.cwd, env=plan.env, pass_fds=plan.pass_fds
                )
                cgroup = self._joined(cgroup, proc.pid)
        except BaseException as exc:  # no process: no use for the cgroup (any failure)
            if cgroup is not None:
                with contextlib.suppress(OSError):
                    os.rmdir(cgroup)
            if not isinstance(exc, SpawnError):
                raise
            failed = RunRecord(
                pid=None,
                started_at=started_wall,
                ended_at=self._setup.wall_clock(),
                end_reason="spawn failed",
                error=str(exc),
            )
            self.runs.append(failed)
            self._report_run(run_id, failed)
            raise
        record = RunRecord(pid=proc.pid, started_at=started_wall)
        run = Run(self.token, run_id, proc, started, record, cgroup=cgroup)
        for _pid, fields in self._setup.claim_notify(proc.pid):  # said before we knew its pid
            run.apply_notify(fields)
        self.runs.append(record)
        self._report_run(run_id, record)
        self.watch(run)
        return run

    def watch(self, run: Run) -> None:
        """Start the pumps, the exit watcher and the sampling of ``run`` (a new one, or one
        adopted after ``ptm update``)."""
        tg = self.task_group
        assert tg is not None
        proc = run.proc
        pipes: tuple[tuple[ByteReceiveStream | None, Stream], ...] = (
            (proc.stdout, "out"),
            (proc.stderr, "err"),
        )
        for stream, name in pipes:
            if stream is not None:
                run.pumps_left += 1
                tg.start_soon(self._pump, stream, name, run)
        if run.pumps_left == 0:
            run.pumps_done.set()
        tg.start_soon(self._wait_exit, run)
        interval = self.spec.memory.memory_check_interval
        if self.spec.memory.max_memory_restart is None:
            # Without a limit the figures are only for display: sample less often.
            interval = max(interval, self._setup.sample_interval)
        self._setup.monitor.watch(
            self._monitor_key(run), proc.pid, interval, self._on_sample(run), cgroup=run.cgroup
        )

    @staticmethod
    def _joined(cgroup: Path | None, pid: int) -> Path | None:
        """``cgroup`` with ``pid`` in it (the launch joined it; this makes sure), or None when
        there is none or nothing is in it (the run goes without). An app already reaped fails
        the move but may have left children in it: the run keeps it, to stop and remove it."""
        if cgroup is None or CgroupTree.add(cgroup, pid) or CgroupTree.members(cgroup):
            return cgroup
        with contextlib.suppress(OSError):
            os.rmdir(cgroup)
        return None

    def adopt(self, run: Run) -> None:
        """``run`` is the instance's current one from now on."""
        self.current = run
        self.cpu_percent = None
        self.memory_bytes = None

    def swap(self) -> None:
        """Reload: the incoming run becomes the current one; the old one is retiring."""
        self.retiring, self.current, self.incoming = self.current, self.incoming, None
        self.cpu_percent = None
        self.memory_bytes = None

    # ----------------------------------------------------------------- ends of runs
    async def terminate(self, end_reason: str) -> int | None:
        """Stop the current run's whole tree; returns its exit code (None if killed by a
        signal, or without a run)."""
        run = self.current
        if run is None:
            return None
        code = await self._stop_run(run, end_reason)
        self.current = None
        self.cpu_percent = None
        self.memory_bytes = None
        return code

    async def retire(self, end_reason: str) -> None:
        if self.retiring is not None:
            await self._stop_run(self.retiring, end_reason)
            self.retiring = None

    async def discard_incoming(self, end_reason: str) -> None:
        if self.incoming is not None:
            await self._stop_run(self.incoming, end_reason)
            self.incoming = None

    async def _stop_run(self, run: Run, end_reason: str) -> int | None:
        """Stop one run's tree: kill_signal, kill_timeout, SIGKILL; record its end."""
        monitor, key = self._setup.monitor, self._monitor_key(run)
        # The handles first: unwatch forgets what the sampler knew of these pids.
        known = monitor.sampler.handles(monitor.known_pids(key))
        monitor.unwatch(key)
        stop = self.spec.stop
        report = await stop_tree(
            run.proc,
            # Once reaped, its pid (and group id) may belong to someone else: then only the
            # processes found by the run's mark are signalled.
            pgid=run.pid if pid_still_ours(run.proc) else None,
            run_id=run.run_id,
            started_at=run.record.started_at,
            sig=stop.kill_signal,
            timeout=stop.kill_timeout,
            known=known,
            cgroup=run.cgroup,
        )
        if report.escalated:
            self._setup.notice(
                f"{self._label} did not stop within {stop.kill_timeout:g}s of "
                f"{stop.kill_signal.name}: sent SIGKILL to {report.killed} process(es)"
            )
        return await self._end_run(run, end_reason)

    async def _end_run(self, run: Run, end_reason: str) -> int | None:
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
            if self.runs[position] is run.record:
                ended = replace(
                    run.record,
                    ended_at=self._setup.wall_clock(),
                    exit_code=code,
                    signal=sig,
                    end_reason=end_reason,
                )
                self.runs[position] = ended
                self._report_run(run.run_id, ended)
                break
        return code

    def _report_run(self, run_id: str, record: RunRecord) -> None:
        if self._setup.on_run is not None:
            with contextlib.suppress(Exception):
                self._setup.on_run(self.spec.name, self.index, run_id, record)

    # ----------------------------------------------------------------- background
    def _monitor_key(self, run: Run) -> tuple[str, int, int]:
        return (self.spec.name, self.index, run.token)

    async def _wait_exit(self, run: Run) -> None:
        await run.proc.wait()
        self._post_exit(run.token)

    async def _pump(self, stream: ByteReceiveStream, name: Stream, run: Run) -> None:
        from supervisor_core.logs import LineSplitter, pump_lines

        app, index, sink, echo = (
            self.spec.name,
            self.index,
            self._setup.log_sink,
            self._setup.on_output,
        )
        as_written = self._setup.output_as_written

        def on_lines(lines: list[bytes]) -> None:
            stamp = sink.write(name, lines) if sink is not None else b""
            if echo is not None:
                echo(
                    app,
                    index,
                    name,
                    [stamp + line for line in lines] if stamp and as_written else lines,
                )

        splitter = run.splitters.setdefault(name, LineSplitter())
        try:
            await pump_lines(stream, on_lines, splitter=splitter)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await stream.aclose()  # ptm's own pipe readers close their descriptor
            run.pumps_left -= 1
            if run.pumps_left <= 0:
                run.pumps_done.set()

    def _on_sample(self, run: Run) -> Callable[[TreeSample | None], None]:
        limit = self.spec.memory.max_memory_restart
        keep = self._setup.on_sample

        def alarm(memory: int) -> None:
            if self.current is run and self._memory_alarm_token != run.token and self._is_online():
                self._memory_alarm_token = run.token
                text = f"{self._label} memory {memory} bytes is over the limit of {limit}"
                self._setup.notice(f"{text}: restarting")
                self._post_memory(run.token)

        tg, sampler = self.task_group, self._setup.monitor.sampler
        judge = MemoryLimit(limit, sampler, alarm, tg) if limit is not None and tg else None

        def on_sample(sample: TreeSample | None) -> None:
            if sample is None or self.current is not run:
                return
            self.cpu_percent = sample.cpu_percent
            self.memory_bytes = sample.memory_bytes
            if keep is not None:
                keep(self.spec.name, self.index, sample)
            if judge is not None:
                judge.check(sample)

        return on_sample
