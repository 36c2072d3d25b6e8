"""What the daemon does: apps by name or id, their desired state, logs, save/resurrect.

The API (``_api.py``) is a thin HTTP layer over :class:`DaemonService`; everything here is
plain async methods that raise our own errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from supervisor_core._home import Home
from supervisor_core._info import RunRecord
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.config import AppSpec, Ecosystem, build_app, instance_count, port_clash
from supervisor_core.daemon._alerts import Alerts
from supervisor_core.daemon._history import HistoryKeeper
from supervisor_core.daemon._logtail import tail_logs
from supervisor_core.daemon._registry import Registry
from supervisor_core.daemon._restore import (
    dump_apps,
    file_apps,
    restore,
    script_app,
    with_caller_env,
    with_new_env,
)
from supervisor_core.daemon._runs import RunWriter
from supervisor_core.daemon._targets import Selection, parse_signal
from supervisor_core.daemon._update import check_update
from supervisor_core.daemon._views import daemon_info, describe_view
from supervisor_core.errors import PtmError, StateError
from supervisor_core.process import ACTIVE
from supervisor_core.store import StateStore, StoredApp, dump_ids, write_dump

__all__ = ["DaemonService"]

log = logging.getLogger("ptm.daemon")


class DaemonService:
    """The daemon's state and commands. Mutating commands are serialised by one lock, so two
    racing ``ptm start`` never start an app twice.

    The :class:`Supervisor` owns the apps (specs and instances); the service keeps only what
    the daemon adds to each: the :class:`StoredApp` (its entry, position, source file and
    desired state), in ``state.db`` and in memory."""

    def __init__(
        self,
        home: Home,
        supervisor: Supervisor,
        store: StateStore,
        history: HistoryKeeper | None = None,
    ) -> None:
        self.home = home
        self.sup = supervisor
        self.store = store
        self.started_at = time.time()
        self.reexecuted_at: float | None = None  # when ptm update last re-executed it
        self.update_to: str | None = None  # set with shutdown: re-execute, not stop
        self.shutdown = anyio.Event()
        self._kept = Registry(supervisor)
        self._lock = anyio.Lock()
        self.run_writer = RunWriter(store)
        self._alerts = Alerts(supervisor, store)
        self.history = history if history is not None else HistoryKeeper(store)

    # ----------------------------------------------------------------- the daemon's tasks
    def on_run(self, app: str, instance: int, run_id: str, record: RunRecord) -> None:
        """The supervisor's run callback (see :class:`RunWriter`)."""
        self.run_writer.on_run(app, instance, run_id, record)

    async def write_runs(self) -> None:
        """Persist run starts and ends, in order (a task for the daemon's lifetime)."""
        await self.run_writer.run()

    async def run_notify(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver the kept alerts (a task for the daemon's lifetime; see :class:`Alerts`)."""
        await self._alerts.run(task_status=task_status)

    async def restore(
        self, adopt: Mapping[str, Any] | None = None, previous: int | None = None
    ) -> None:
        """Stop what a killed daemon (pid ``previous``) left, bring back every app (or adopt
        them: ptm update)."""
        self._kept.apps = await restore(self.sup, self.store, adopt, previous=previous)
        for name in self._kept.managed():  # in ptm list order: a new database numbers them so
            await self._assign_ids(name)

    async def _assign_ids(self, name: str, wanted: list[int] | None = None) -> None:
        """Keep the process ids of ``name``'s instances (new instances get new ids, removed
        ones free theirs)."""
        count = len(self.sup.info(name))
        self._kept.ids[name] = await self.store.assign_ids(name, count, wanted or ())

    # ----------------------------------------------------------------- targets
    def select(self, target: str) -> Selection:
        """The apps (and instances) a target names (see :meth:`Registry.select`)."""
        return self._kept.select(target)

    def resolve(self, target: str) -> list[str]:
        """The names of the apps a target names (or whose process it names)."""
        return list(self.select(target))

    # ----------------------------------------------------------------- reading
    def rows(self, selection: Selection | list[str] | None = None) -> list[dict[str, Any]]:
        """``jlist`` rows (of the apps or instances selected), in ``ptm list`` order."""
        if isinstance(selection, list):
            selection = dict.fromkeys(selection)
        return self._kept.rows(selection)

    async def describe(self, target: str) -> dict[str, Any]:
        """One app; a process id shows only that process (and its runs)."""
        name, picked = self._kept.one(target)
        stored = self._kept.apps[name]
        if picked is not None and len(picked) == 1:
            runs = await self.store.runs(name, instance=picked[0], limit=50)
        else:
            runs = await self.store.runs(name, limit=50)
        return describe_view(
            name=name,
            source=stored.source,
            desired=stored.desired,
            processes=self.rows({name: picked}),
            spec=self.sup.spec(name),
            runs=runs,
        )

    def info(self) -> dict[str, Any]:
        return daemon_info(
            pid=os.getpid(),
            version=__version__,
            uptime=time.time() - self.started_at,
            home=str(self.home.root),
            apps=len(self._kept.managed()),
            processes=len(self.rows()),
            reexecuted_at=self.reexecuted_at,
        )

    async def update(self) -> dict[str, Any]:
        """``ptm update`` (see :mod:`._update`); StateError when refused (nothing changed)."""
        async with self._lock:  # no start, stop or save in the middle
            if self.update_to is None:
                self.update_to = await check_update(self.home, self.sup)
                self.shutdown.set()
        return {"pid": os.getpid(), "from": __version__, "to": self.update_to}

    def metric_rows(self) -> list[dict[str, Any]]:
        """``jlist`` rows with each instance's restarts by reason, for ``GET /v1/metrics``."""
        return self._kept.rows(by_reason=True)

    def log_figures(self) -> dict[str, float]:
        files = self.sup.log_files
        return {
            "apps": len(self._kept.managed()),
            "log_bytes_written": files.bytes_written if files is not None else 0,
            "log_lines_dropped": files.lines_dropped if files is not None else 0,
        }

    # ----------------------------------------------------------------- starting
    async def start_ecosystem(
        self,
        path: str,
        *,
        only: list[str] | None = None,
        env: str | None = None,
        caller_env: Mapping[str, str] | None = None,
        update_env: bool = False,
    ) -> dict[str, Any]:
        """PM2's startOrRestart for a file: validate all of it, then start new apps and
        restart known ones with their new settings. New apps inherit ``caller_env``; known
        ones keep the environment they inherit unless ``update_env``."""
        async with self._lock:
            known = {} if update_env else self._kept.apps
            ecosystem, pairs = await anyio.to_thread.run_sync(
                lambda: file_apps(path, env, only, caller_env, known)
            )
            await self._keep_alerts(ecosystem)
            answer = await self._start_specs(pairs)
            if ecosystem.warnings:
                answer["warnings"] = list(ecosystem.warnings)
            return answer

    async def start_app(
        self,
        entry: Mapping[str, Any],
        base_dir: str,
        *,
        caller_env: Mapping[str, str] | None = None,
        update_env: bool = False,
    ) -> dict[str, Any]:
        """``ptm start script.py --name x``: one app from a table built by the CLI (the
        environment as for :meth:`start_ecosystem`)."""
        async with self._lock:
            spec = build_app(entry, base_dir=Path(base_dir), caller_env=caller_env)
            pair = (spec, script_app(spec, entry, base_dir))
            known = {} if update_env else self._kept.apps
            return await self._start_specs(with_caller_env([pair], known, caller_env))

    async def _keep_alerts(self, ecosystem: Ecosystem) -> None:
        if ecosystem.path is not None:
            names = [app.name for app in ecosystem.apps]
            await self._alerts.keep(str(ecosystem.path), ecosystem.notify, names)

    async def _start_specs(
        self,
        pairs: list[tuple[AppSpec, StoredApp]],
        wanted_ids: Mapping[str, list[int]] | None = None,
    ) -> dict[str, Any]:
        started: list[str] = []
        restarted: list[str] = []
        for spec, template in pairs:
            autostart = spec.autostart
            known = spec.name in self.sup.names
            # The supervisor first: an app it could not take (a port in use...) is neither
            # listed nor stored, and the daemon's next start does not trip over it.
            if known:
                await self.sup.replace(spec, start=autostart)
            else:
                await self.sup.add(spec, start=autostart)
            try:
                self._kept.apps[spec.name] = await self.store.upsert_app(
                    dataclasses.replace(template, desired="running" if autostart else "stopped")
                )
                await self._assign_ids(spec.name, (wanted_ids or {}).get(spec.name))
                if autostart:  # every instance was started again
                    await self.store.set_stopped(spec.name, None, False)
            except Exception:
                if not known:  # not kept, so not run: the next daemon would not know it
                    with contextlib.suppress(PtmError):
                        await self.sup.delete(spec.name)
                raise
            (restarted if known else started).append(spec.name)
        names = started + restarted
        return {"started": started, "restarted": restarted, "processes": self.rows(names)}

    # ----------------------------------------------------------------- acting
    async def act(
        self, action: str, target: str, *, caller_env: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """stop / start / restart / reload of every app the target names. A start also says
        which apps it ``started`` and which were already ``running`` (left alone). With
        ``caller_env`` (``--update-env``) the apps inherit it from now on."""
        async with self._lock:
            selection = self.select(target)
            names = list(selection)
            if caller_env is not None:
                await self._update_env(names, caller_env)
            running: list[str] = []
            for name, picked in selection.items():
                if action == "stop":
                    await self.sup.stop(name, picked)
                    if picked is not None:  # stays stopped while its app runs
                        await self.store.set_stopped(name, picked, True)
                    # An app is stopped once every instance is (one process stopped by id
                    # leaves the app running).
                    if all(i.status not in ACTIVE for i in self.sup.info(name)):
                        await self._set_desired(name, "stopped")
                elif action == "start":
                    infos = self.sup.info(name)
                    if all(
                        i.status in ACTIVE for i in infos if picked is None or i.instance in picked
                    ):
                        running.append(name)
                    await self.sup.start(name, picked)
                    await self._set_desired(name, "running")
                elif action == "restart":
                    await self.sup.restart(name, "manual", instances=picked)
                    await self._set_desired(name, "running")
                elif action == "reload":
                    await self.sup.reload(name, picked)
                    await self._set_desired(name, "running")
                else:
                    raise StateError(f"unknown action {action!r}")
                if action != "stop":
                    await self.store.set_stopped(name, picked, False)
            answer: dict[str, Any] = {"processes": self.rows(selection)}
            if action == "start":
                answer["started"] = [name for name in names if name not in running]
                answer["running"] = running
            return answer

    async def _update_env(self, names: list[str], caller_env: Mapping[str, str]) -> None:
        """Every app of ``names`` inherits ``caller_env`` from its next run on (each is
        compiled with it first: an interpreter no longer on its PATH changes nothing)."""
        pairs = await anyio.to_thread.run_sync(with_new_env, self._kept.apps, names, caller_env)
        for spec, new in pairs:
            self.sup.update_env(spec)
            self._kept.apps[new.name] = await self.store.upsert_app(new)

    async def _set_desired(self, name: str, desired: str) -> None:
        stored = self._kept.apps[name]
        if stored.desired != desired:
            await self.store.set_desired(name, desired)
            self._kept.apps[name] = dataclasses.replace(stored, desired=desired)  # type: ignore[arg-type]

    async def delete(self, target: str) -> dict[str, Any]:
        """Delete the apps a target names, freeing their process ids. A process id deletes
        that process: its app's last instance (the app is scaled down by one; instances are
        always ``0..N-1``), or the app when it is its only instance."""
        async with self._lock:
            deleted: list[str] = []
            freed: list[int] = []
            for name, picked in self.select(target).items():
                ids = self._kept.ids.get(name, [])
                count = len(self.sup.info(name))
                if picked is not None and count > 1:
                    (instance,) = picked
                    if instance != count - 1:
                        raise StateError(
                            f"process {ids[instance]} is {name}:{instance}, not the last instance"
                            f" of {name} (instances stay 0..N-1): delete process {ids[-1]}, scale"
                            f" {name}, or delete {name}"
                        )
                    await self._scale(name, count - 1)
                    deleted.append(f"{name}:{instance}")
                    freed.append(ids[instance])
                    continue
                await self.sup.delete(name)
                await self.store.delete_app(name)
                del self._kept.apps[name]
                freed.extend(self._kept.ids.pop(name, []))
                deleted.append(name)
            await self._alerts.drop_orphans({s.source for s in self._kept.managed().values()})
            return {"deleted": deleted, "ids": freed}

    async def scale(self, target: str, instances: int | None, *, change: int = 0) -> dict[str, Any]:
        """To ``instances``, or by ``change`` (PM2's +N / -N) from the instances it has now."""
        async with self._lock:
            name, _ = self._kept.one(target)
            if instances is None:
                current = len(self.sup.info(name))
                instances = current + change
                if instances < 1:
                    raise StateError(
                        f"cannot scale {name!r} by {change:+d}: it has {current}, and an app"
                        " keeps at least 1 (ptm stop stops it, ptm delete removes it)"
                    )
            try:
                instance_count(instances)
            except ValueError as exc:
                raise StateError(f"cannot scale {name!r} to {instances}: {exc}") from None
            await self._scale(name, instances)
            clash = port_clash(self.sup.spec(name), instances)
            return {"processes": self.rows([name]), "warnings": [clash] if clash else []}

    async def _scale(self, name: str, instances: int) -> None:
        await self.sup.scale(name, instances)
        stored = self._kept.apps[name]
        scaled = dataclasses.replace(stored, entry={**stored.entry, "instances": instances})
        self._kept.apps[name] = await self.store.upsert_app(scaled)
        await self._assign_ids(name)

    def send_signal(self, target: str, signame: str) -> dict[str, Any]:
        sig = parse_signal(signame)
        pids: list[int] = []
        for name, picked in self.select(target).items():
            pids.extend(self.sup.send_signal(name, sig, picked))
        return {"signalled": pids}

    def reset(self, target: str) -> dict[str, Any]:
        selection = self.select(target)
        for name, picked in selection.items():
            self.sup.reset(name, picked)
        return {"processes": self.rows(selection)}

    # ----------------------------------------------------------------- logs
    async def tail(self, app: str | None, lines: int, stream: str) -> list[dict[str, Any]]:
        """The last ``lines`` lines of each log file of the target ``app`` (every app when
        None); for a process id, only the lines of that instance."""
        return await tail_logs(self.sup, self.select(app) if app else None, lines, stream)

    def flush(self, app: str | None) -> list[str]:
        files = self.sup.log_files
        if files is None:
            return []
        names = self.resolve(app) if app else list(self._kept.managed())
        for name in names:
            files.truncate(name)
        return [str(p) for name in names for p in files.paths(name)]

    def reload_logs(self) -> None:
        if self.sup.log_files is not None:
            self.sup.log_files.reopen_all()

    # ----------------------------------------------------------------- save / resurrect
    async def save(self, *, force: bool = False) -> dict[str, Any]:
        async with self._lock:
            apps = list(self._kept.managed().values())
            notify = await self._alerts.for_dump({app.name for app in apps})
            path = await anyio.to_thread.run_sync(
                lambda: write_dump(
                    self.home.dump, apps, force=force, notify=notify, ids=dict(self._kept.ids)
                )
            )
            return {"path": str(path), "apps": len(apps), "notify": len(notify)}

    async def resurrect(self, caller_env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Start the apps of dump.toml that are not running; each inherits its stored
        environment, or (an app the daemon does not know) ``caller_env``."""
        if not self.home.dump.exists():
            raise StateError(f"no dump at {self.home.dump}; run ptm save first")
        async with self._lock:
            ecosystem, dumped = await anyio.to_thread.run_sync(
                lambda: dump_apps(self.home.dump, caller_env, self._kept.apps)
            )
            # The saved process ids, given back where they are free.
            saved_ids = dump_ids(await anyio.Path(self.home.dump).read_text("utf-8", "replace"))
            managed = self._kept.managed()
            skipped: list[str] = []
            pairs: list[tuple[AppSpec, StoredApp]] = []
            for spec, stored in dumped:
                if spec.name in managed and any(
                    i.status in ACTIVE for i in self.sup.info(spec.name)
                ):
                    skipped.append(spec.name)
                    continue
                pairs.append((spec, stored))
            result = await self._start_specs(pairs, saved_ids)
            # The dump's alerts now stand for its apps; alerts of files none of whose apps is
            # managed any more are dropped (no alert twice).
            await self._keep_alerts(ecosystem)
            await self._alerts.drop_orphans({s.source for s in self._kept.managed().values()})
            return {"started": result["started"] + result["restarted"], "skipped": skipped}
