"""The orchestrator: apps → instances, commands, the event stream.

What ``ptm run`` and the daemon both embed, and what a Python program can use directly::

    async with Supervisor() as sup:
        await sup.add(load_ecosystem("ecosystem.toml").app("worker"))
        async with sup.subscribe() as events:
            async for event in events:
                print(event.app, event.status)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from supervisor_core._apps import App, Apps, Picked
from supervisor_core._handover import adopted_instances, first_blocker, freeze_apps
from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
from supervisor_core._instance import Instance, OutputCallback, ReadinessProbe, RunCallback
from supervisor_core._plumbing import (
    Broadcast,
    ListenSockets,
    NotifyRouter,
    each,
    wait_settled,
    wait_stable,
)
from supervisor_core._runs import DISPLAY_SAMPLE_INTERVAL, RunSetup, SampleCallback
from supervisor_core.config import AppSpec, instance_count
from supervisor_core.drivers import AppDriver
from supervisor_core.errors import StateError
from supervisor_core.monitor import Monitor
from supervisor_core.process import (
    ANYIO_CLOCK,
    CgroupTree,
    Clock,
    NotifySocket,
    Spawner,
    Status,
    check_run_as,
    run_as,
    spawn,
)

if TYPE_CHECKING:
    from supervisor_core.logs import LogFiles

__all__ = ["Supervisor"]

NoticeCallback = Callable[[str], None]


class Supervisor:
    """Keeps apps alive. An async context manager: leaving it (or cancelling it) stops every
    process it started, whole trees included.

    ``on_output(app, instance, stream, lines)`` sees every line of output (``ptm run`` prints
    them; with ``output_as_written``, with their log file's timestamp); ``on_notice(text)``
    gets the supervisor's own remarks (a SIGKILL escalation, a memory restart, a spawn
    failure). Log files are written when ``log_files`` is given, or by a
    :class:`~supervisor_core.logs.LogFiles` the supervisor creates when ``write_logs``.

    ``spawner`` starts each process (:func:`~supervisor_core.process.spawn` by default) and
    ``clock`` is the monotonic clock that restart delays and readiness deadlines run on; with
    ``wall_clock`` they let tests drive the supervisor with fakes. With ``cgroups``, each run
    gets its own cgroup, which a stop empties (:class:`~supervisor_core.process.CgroupTree`).
    ``on_sample(app, instance, sample)`` sees every cpu/memory sample, taken every
    ``sample_interval`` seconds (with ``max_memory_restart``, every ``memory_check_interval``).
    """

    def __init__(
        self,
        *,
        ptm_home: Path | None = None,
        write_logs: bool = True,
        log_files: LogFiles | None = None,
        on_output: OutputCallback | None = None,
        output_as_written: bool = False,
        on_notice: NoticeCallback | None = None,
        on_run: RunCallback | None = None,
        die_with_supervisor: bool = False,
        drivers: Sequence[AppDriver] | None = None,
        readiness_probe: ReadinessProbe | None = None,
        wall_clock: Callable[[], float] = time.time,
        spawner: Spawner = spawn,
        clock: Clock = ANYIO_CLOCK,
        cgroups: CgroupTree | None = None,
        on_sample: SampleCallback | None = None,
        sample_interval: float = DISPLAY_SAMPLE_INTERVAL,
    ) -> None:
        self._write_logs = write_logs
        self._log_files = log_files
        self._own_log_files = False
        self._on_notice = on_notice
        from supervisor_core.drivers import DEFAULT_DRIVERS, health_check_passes

        self._drivers = tuple(DEFAULT_DRIVERS if drivers is None else drivers)
        readiness_probe = readiness_probe or health_check_passes
        self._notify: NotifySocket | None = None
        self._adopt_notify: tuple[int, str] | None = None
        self._listen = ListenSockets()
        self._apps = Apps()
        self._notify_router = NotifyRouter(self._apps.all_instances)
        self._events = Broadcast()
        self._monitor = Monitor()
        self._run_setup = RunSetup(  # each instance adds its log sink and sockets
            monitor=self._monitor,
            notice=self._notice,
            on_output=on_output,
            output_as_written=output_as_written,
            on_run=on_run,
            ptm_home=ptm_home,
            wall_clock=wall_clock,
            die_with_supervisor=die_with_supervisor,
            claim_notify=self._notify_router.claim,
            readiness_probe=readiness_probe,
            spawner=spawner,
            clock=clock,
            cgroups=cgroups,
            on_sample=on_sample,
            sample_interval=sample_interval,
        )
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None

    # ----------------------------------------------------------------- lifetime
    async def __aenter__(self) -> Self:
        if self._log_files is None and self._write_logs:
            from supervisor_core.logs import LogFiles

            self._log_files = LogFiles(on_error=self._notice)
            self._own_log_files = True
        stack = AsyncExitStack()
        self._tg = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        self._tg.start_soon(self._monitor.run)
        try:
            self._notify = NotifySocket(self._adopt_notify)
        except OSError as exc:
            self._notice(f"no $NOTIFY_SOCKET for the apps (sd_notify off): {exc}")
        else:
            self._tg.start_soon(self._notify.serve, self._notify_router.on_notify)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._stack is not None and self._tg is not None
        with anyio.CancelScope(shield=True):
            await each(self._apps.all_instances(), Instance.stop)
        self._tg.cancel_scope.cancel()
        try:
            return await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            if self._notify is not None:
                self._notify.close()
            self._listen.close_all()
            self._events.close()
            if self._own_log_files and self._log_files is not None:
                self._log_files.close()

    # ----------------------------------------------------------------- apps
    async def add(
        self, spec: AppSpec, *, start: bool = True, adopt: Mapping[str, Any] | None = None
    ) -> list[ProcessInfo]:
        """Manage a new app; start its instances unless ``start`` is false or it is ``adopt``ed."""
        if spec.name in self._apps:
            raise StateError(f"an app named {spec.name!r} already exists")
        check_run_as(spec)
        handed = adopted_instances(spec, adopt, self._listen)
        self._listen.bind(spec)
        app = self._apps.add(spec)
        for index in range(spec.instances):
            await self._new_instance(app, index, handed[index] if handed else None)
        if start and adopt is None:
            await each(app.instances, Instance.start)
        if self._drivers:
            assert self._tg is not None
            self._tg.start_soon(app.run_drivers, self._drivers, self, self._notice)
        return self.info(spec.name)

    async def _new_instance(self, app: App, index: int, handed: Any = None) -> Instance:
        assert self._tg is not None, "use the Supervisor as an async context manager"
        spec, sink = app.spec, None
        if self._log_files is not None and spec.logs is not None:
            sink = self._log_files.open_sink(
                spec.name, spec.logs, index, instances=spec.instances, owner=run_as(spec)
            )
        setup = dataclasses.replace(
            self._run_setup,
            log_sink=sink,
            notify_socket=self._notify.path if self._notify is not None else None,
            listen_fd=self._listen.fd(app.spec.name),
        )
        inst = Instance(app.spec, index, setup, emit=self._events.publish, adopt=handed)
        app.instances.append(inst)
        await self._tg.start(inst.run)
        return inst

    # Commands act on every instance of the app, or on the indexes in ``instances``.
    async def start(self, name: str, instances: Picked = None) -> list[ProcessInfo]:
        await each(self._apps.pick(name, instances), Instance.start)
        return self.info(name)

    async def stop(self, name: str, instances: Picked = None) -> list[ProcessInfo]:
        await each(self._apps.pick(name, instances), Instance.stop)
        return self.info(name)

    async def restart(
        self,
        name: str,
        reason: RestartReason = "manual",
        *,
        only_if: Collection[Status] | None = None,
        instances: Picked = None,
    ) -> list[ProcessInfo]:
        """Restart every instance; with ``only_if``, only those whose status (checked by each
        instance when it handles the command) is one of these."""
        await each(self._apps.pick(name, instances), lambda i: i.restart(reason, only_if=only_if))
        return self.info(name)

    async def delete(self, name: str, *, keep_socket: bool = False) -> None:
        app = self._apps.app(name)
        app.drivers.cancel()
        await each(app.instances, Instance.delete)
        self._apps.remove(name)
        if not keep_socket:
            self._listen.close(name)

    async def reload(self, name: str, instances: Picked = None) -> list[ProcessInfo]:
        """Replace the instances one at a time: each new process must be ready before its
        old one is stopped (with a shared listening socket: no request is refused). If a new
        process never becomes ready it is stopped, its old one keeps running, the remaining
        instances are left alone, and :class:`StateError` says why."""
        for inst in self._apps.pick(name, instances):
            await inst.reload()
            await wait_settled(self._events, inst)
            if not inst.spec.readiness.wait_ready:
                await wait_stable(self._events, inst, inst.spec.restart.min_uptime)
        return self.info(name)

    async def stop_all(self) -> None:
        await each(self._apps.all_instances(), Instance.stop)

    async def replace(self, spec: AppSpec, *, start: bool = True) -> list[ProcessInfo]:
        """Start an app with new settings (PM2's startOrRestart): an unknown app is added; a
        known one is stopped, then started again from ``spec``. Restart counters are kept
        and the restart counts as ``manual``."""
        old = self._apps.get(spec.name)
        if old is None:
            return await self.add(spec, start=start)
        counters = {inst.index: inst.counters for inst in old.instances}
        self._listen.bind(spec)  # a new address that cannot be bound fails before any stop
        await self.delete(spec.name, keep_socket=True)
        infos = await self.add(spec, start=False)
        for inst in self._apps.app(spec.name).instances:
            if inst.index in counters:
                inst.counters = dataclasses.replace(
                    counters[inst.index], unstable_restarts=0, last_restart_reason=None
                )
                if start:
                    inst.counters = inst.counters.count("manual")
        if start:
            await each(self._apps.app(spec.name).instances, Instance.start)
            infos = self.info(spec.name)
        return infos

    def update_env(self, spec: AppSpec) -> None:
        """``--update-env``: the app's next runs are launched from ``spec``."""
        self._apps.app(spec.name).set_spec(spec)

    async def scale(self, name: str, instances: int) -> list[ProcessInfo]:
        """Change the number of instances: running ones stay; scaling down keeps 0..N-1."""
        try:
            if instances:  # 0 removes every instance; otherwise 1 to 1024
                instance_count(instances)
        except ValueError as exc:
            raise StateError(f"cannot scale {name!r} to {instances} instances: {exc}") from None
        app = self._apps.app(name)
        current = len(app.instances)
        if instances < current:
            removed = app.instances[instances:]
            await each(removed, Instance.delete)
            del app.instances[instances:]
        app.spec = dataclasses.replace(app.spec, instances=instances)
        for index in range(current, instances):
            inst = await self._new_instance(app, index)
            await inst.start()
        return self.info(name)

    def send_signal(self, name: str, sig: int, instances: Picked = None) -> list[int]:
        """Send ``sig`` to the main process of every running instance; returns their pids."""
        pids = [inst.send_signal(sig) for inst in self._apps.pick(name, instances)]
        return [pid for pid in pids if pid is not None]

    def reset(self, name: str, instances: Picked = None) -> list[ProcessInfo]:
        """Zero the restart counters of every instance."""
        for inst in self._apps.pick(name, instances):
            inst.reset_counters()
        return self.info(name)

    async def report_unhealthy(
        self, name: str, instance: int, detail: str, *, never_answered: bool = False
    ) -> None:
        """A health check gave up on an instance: restart it with reason ``health``, under the
        same backoff and crash-loop rules as a crash (a run shorter than ``min_uptime`` is
        unstable; too many make it ``errored``). A run that ``never_answered`` its health
        check counts as unstable whatever its uptime, so an app that is never healthy ends
        ``errored`` instead of restarting forever."""
        await self._apps.instance(name, instance).unhealthy(detail, never_answered=never_answered)

    def set_health(self, name: str, instance: int, result: Mapping[str, object] | None) -> None:
        """Record the last health-check result of an instance (shown by ``jlist``/``describe``)."""
        self._apps.instance(name, instance).health = dict(result) if result is not None else None

    @property
    def cgroups(self) -> CgroupTree | None:
        """Where each run gets its own cgroup (None: runs are stopped by group and mark)."""
        return self._run_setup.cgroups

    @property
    def log_files(self) -> LogFiles | None:
        """The log writers (``ptm flush``, ``ptm reloadLogs``), when logs are written."""
        return self._log_files

    def run_ids(self, name: str) -> list[str | None]:
        """The current run id of each instance (None when not running)."""
        return [inst.run_id for inst in self._apps.app(name).instances]

    async def restart_instance(
        self,
        name: str,
        instance: int,
        reason: RestartReason = "manual",
        *,
        only_if: Collection[Status] | None = None,
    ) -> ProcessInfo:
        inst = self._apps.instance(name, instance)
        await inst.restart(reason, only_if=only_if)
        return inst.info()

    def notice(self, text: str) -> None:
        """Say something to the user (``ptm run`` prints it, the daemon logs it)."""
        self._notice(text)

    # ----------------------------------------------------------------- reading
    @property
    def names(self) -> list[str]:
        return self._apps.names

    def spec(self, name: str) -> AppSpec:
        return self._apps.app(name).spec

    def processes(self) -> list[ProcessInfo]:
        """A snapshot of every instance of every app."""
        return [inst.info() for inst in self._apps.all_instances()]

    def info(self, name: str) -> list[ProcessInfo]:
        return [inst.info() for inst in self._apps.app(name).instances]

    def runs(self, name: str, instance: int = 0) -> list[RunRecord]:
        """The recent runs of one instance, oldest first (pid, times, exit code, reason)."""
        return list(self._apps.instance(name, instance).runs)

    @asynccontextmanager
    async def subscribe(
        self, max_buffer: int = 1000
    ) -> AsyncIterator[MemoryObjectReceiveStream[StateEvent]]:
        """Receive every state change from now on. A subscriber that falls ``max_buffer``
        events behind loses the newest ones (counted in ``dropped_events``); supervision
        never waits for it."""
        async with self._events.subscribe(max_buffer) as receive:
            yield receive

    @property
    def dropped_events(self) -> int:
        """How many events subscribers lost by falling behind."""
        return self._events.dropped

    async def wait_until(
        self, predicate: Callable[[list[ProcessInfo]], bool], timeout: float = math.inf
    ) -> list[ProcessInfo]:
        """Wait until ``predicate(self.processes())`` holds (checked at each state change)."""
        with anyio.fail_after(timeout):
            async with self.subscribe() as events:
                while not predicate(snapshot := self.processes()):
                    await events.receive()
                return snapshot

    # ----------------------------------------------------------------- ptm update
    def adopt_notify_socket(self, fd: int, path: str) -> None:
        """Take up the previous image's sd_notify socket (call it before ``async with``)."""
        self._adopt_notify = (fd, path)

    def handover_blocker(self) -> str | None:
        """Why the apps cannot go to a new daemon image now (None: they can)."""
        return first_blocker(self._apps.all_instances())

    def freeze(self) -> dict[str, Any]:
        """Stop reading every pipe; describe everything for the next image (see
        :func:`~supervisor_core._handover.freeze_apps`)."""
        return freeze_apps(self._apps.by_app(), self._listen, self._notify)

    def _notice(self, text: str) -> None:
        if self._on_notice is not None:
            with contextlib.suppress(Exception):
                self._on_notice(text)
