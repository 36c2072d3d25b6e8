"""What the daemon does: apps by name or id, their desired state, logs, save/resurrect.

The API (``_api.py``) is a thin HTTP layer over :class:`DaemonService`; everything here is
plain async methods that raise our own errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal as signal_module
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psutil
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from supervisor_core._home import Home
from supervisor_core._info import RunRecord
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.config import AppSpec, NotifySpec, build_app, load_ecosystem
from supervisor_core.daemon._views import daemon_info, describe_view, process_row
from supervisor_core.errors import ConfigError, PtmError, StateError, UnknownAppError
from supervisor_core.logs import tail_lines
from supervisor_core.notify import Notifier, specs_from_json, specs_to_json
from supervisor_core.process import stop_tree
from supervisor_core.store import (
    StateStore,
    StoredApp,
    app_spec,
    stored_apps_from_file,
    write_dump,
)

__all__ = ["DaemonService"]

log = logging.getLogger("ptm.daemon")


@dataclass
class _Managed:
    stored: StoredApp
    spec: AppSpec


@dataclass(frozen=True)
class _RunNote:
    app: str
    instance: int
    run_id: str
    record: RunRecord
    create_time: float | None


class DaemonService:
    """The daemon's state and commands. Mutating commands are serialised by one lock, so two
    racing ``ptm start`` never start an app twice."""

    def __init__(self, home: Home, supervisor: Supervisor, store: StateStore) -> None:
        self.home = home
        self.sup = supervisor
        self.store = store
        self.started_at = time.time()
        self.shutdown = anyio.Event()
        self._apps: dict[str, _Managed] = {}
        self._lock = anyio.Lock()
        self._runs_send: MemoryObjectSendStream[_RunNote] | None = None
        self._notifiers: dict[str, anyio.CancelScope] = {}
        self._notify_tg: TaskGroup | None = None

    # ----------------------------------------------------------------- runs → state.db
    def on_run(self, app: str, instance: int, run_id: str, record: RunRecord) -> None:
        """The supervisor's run callback: queue the fact for the writer task."""
        create_time = None
        if record.ended_at is None and record.pid is not None:
            with contextlib.suppress(psutil.Error):
                create_time = psutil.Process(record.pid).create_time()
        if self._runs_send is not None:
            with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
                self._runs_send.send_nowait(_RunNote(app, instance, run_id, record, create_time))

    async def write_runs(self) -> None:
        """Persist run starts and ends, in order (a task for the daemon's lifetime)."""
        send, receive = anyio.create_memory_object_stream[_RunNote](100_000)
        self._runs_send = send
        async with send, receive:
            async for note in receive:
                try:
                    await self._write_run(note)
                except Exception:
                    log.exception("could not record a run of %s:%d", note.app, note.instance)

    async def _write_run(self, note: _RunNote) -> None:
        record = note.record
        if record.ended_at is None or record.pid is None:
            await self.store.record_run_start(
                run_id=note.run_id,
                app=note.app,
                instance=note.instance,
                pid=record.pid,
                create_time=note.create_time,
                started_at=record.started_at,
            )
        if record.ended_at is not None:
            await self.store.record_run_end(
                run_id=note.run_id,
                ended_at=record.ended_at,
                exit_code=record.exit_code,
                signal=record.signal,
                end_reason=record.end_reason,
                error=record.error,
            )

    # ----------------------------------------------------------------- alerts ([[notify]])
    async def run_notify(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver the alerts of the kept ``[[notify]]`` entries, one notifier per ecosystem
        file (a task for the daemon's lifetime; started once every notifier listens)."""
        async with anyio.create_task_group() as tg:
            self._notify_tg = tg
            for source, text in (await self.store.notify_entries()).items():
                try:
                    await self._start_notifier(source, specs_from_json(text, source=source))
                except ConfigError as exc:
                    log.error("cannot restore the alerts of %s: %s", source, exc)
            task_status.started()
            await anyio.sleep_forever()

    async def _keep_notify(self, env: str | None, entries: list[StoredApp]) -> None:
        """Keep the file's ``[[notify]]`` entries (replacing what it had); an entry without
        ``apps`` covers the apps of its own file."""
        source = entries[0].source if entries else None
        if source is None:
            return
        names = frozenset(entry.name for entry in entries)
        specs = [
            spec if spec.apps is not None else dataclasses.replace(spec, apps=names)
            for spec in load_ecosystem(source, env).notify
        ]
        await self.store.set_notify(source, specs_to_json(specs))
        await self._start_notifier(source, specs)

    async def _drop_orphan_notify(self) -> None:
        """Forget the alerts of files none of whose apps is managed any more."""
        sources = {managed.stored.source for managed in self._apps.values()}
        for source in await self.store.notify_entries():
            if source not in sources:
                await self.store.set_notify(source, "[]")
                await self._start_notifier(source, ())

    async def _start_notifier(self, source: str, specs: Sequence[NotifySpec]) -> None:
        old = self._notifiers.pop(source, None)
        if old is not None:
            old.cancel()
        if not specs or self._notify_tg is None:
            return
        scope = anyio.CancelScope()
        self._notifiers[source] = scope
        notifier = Notifier(
            specs, on_notice=lambda text: log.warning("%s", text), cwd=Path(source).parent
        )
        await self._notify_tg.start(self._run_notifier, notifier, scope)

    async def _run_notifier(
        self, notifier: Notifier, scope: anyio.CancelScope, *, task_status: TaskStatus[None]
    ) -> None:
        with scope:
            await notifier.run(self.sup, task_status=task_status)

    # ----------------------------------------------------------------- start-up
    async def restore(self) -> None:
        """After a start (or a crash of the previous daemon): stop whatever the previous
        daemon left running, then bring back every app as it should be."""
        stored_apps = await self.store.apps()
        kill_timeouts: dict[str, float] = {}
        specs: dict[str, AppSpec] = {}
        for stored in stored_apps:
            try:
                specs[stored.name] = app_spec(stored)
                kill_timeouts[stored.name] = specs[stored.name].stop.kill_timeout
            except ConfigError as exc:
                log.error("cannot restore app %s: %s", stored.name, exc)
        await self._sweep_orphans(kill_timeouts)
        for stored in stored_apps:
            spec = specs.get(stored.name)
            if spec is None:
                continue
            try:
                await self.sup.add(spec, start=stored.desired == "running")
            except PtmError as exc:  # one app that cannot start must not keep the daemon down
                log.error("cannot restore app %s: %s", stored.name, exc)
                continue
            self._apps[stored.name] = _Managed(stored, spec)
        log.info("restored %d app(s)", len(self._apps))

    async def _sweep_orphans(self, kill_timeouts: Mapping[str, float]) -> None:
        """Stop the processes of runs that never ended (the previous daemon was killed)."""
        runs = await self.store.open_runs()
        for run in runs:
            known: list[psutil.Process] = []
            leader_alive = False
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(run.pid)
                if abs(proc.create_time() - run.create_time) < 0.05:
                    known.append(proc)
                    leader_alive = True
            report = await stop_tree(
                None,
                pgid=run.pid if leader_alive else None,
                run_id=run.run_id,
                started_at=run.started_at,
                sig=signal_module.SIGTERM,
                timeout=kill_timeouts.get(run.app, 5.0),
                known=known,
            )
            log.warning(
                "run %s of %s:%d (pid %d) outlived the previous daemon: stopped%s",
                run.run_id,
                run.app,
                run.instance,
                run.pid,
                " with SIGKILL" if report.escalated else "",
            )
        if runs:
            await self.store.close_open_runs(ended_at=time.time(), end_reason="daemon died")

    # ----------------------------------------------------------------- targets
    def resolve(self, target: str) -> list[str]:
        """App names for a target: a name, a numeric id, ``all``, or an ecosystem file."""
        if target == "all":
            names = list(self._apps)
            if not names:
                raise UnknownAppError("no app is managed by the daemon")
            return names
        if target in self._apps:
            return [target]
        if target.isdigit():
            for name, managed in self._apps.items():
                if managed.stored.position == int(target):
                    return [name]
            raise UnknownAppError(f"no app with id {target}")
        if "/" in target or target.endswith(".toml"):
            path = os.path.abspath(target)
            names = [n for n, m in self._apps.items() if m.stored.source == path]
            if not names:
                raise UnknownAppError(f"no app was started from {path}")
            return names
        raise UnknownAppError(f"no app named {target!r}")

    def _one(self, target: str) -> str:
        names = self.resolve(target)
        if len(names) != 1:
            raise UnknownAppError(f"{target!r} names {len(names)} apps; give one name")
        return names[0]

    # ----------------------------------------------------------------- reading
    def rows(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """``jlist`` rows, in id order."""
        out: list[dict[str, Any]] = []
        for name, managed in sorted(self._apps.items(), key=lambda kv: kv[1].stored.position):
            if names is not None and name not in names:
                continue
            try:
                infos = self.sup.info(name)
            except UnknownAppError:  # never let one inconsistency break every listing
                continue
            out.extend(
                process_row(info, app_id=managed.stored.position, desired=managed.stored.desired)
                for info in infos
            )
        return out

    async def describe(self, target: str) -> dict[str, Any]:
        name = self._one(target)
        managed = self._apps[name]
        runs = await self.store.runs(name, limit=50)
        return describe_view(
            name=name,
            app_id=managed.stored.position,
            source=managed.stored.source,
            desired=managed.stored.desired,
            processes=self.rows([name]),
            spec=managed.spec,
            runs=runs,
        )

    def info(self) -> dict[str, Any]:
        return daemon_info(
            pid=os.getpid(),
            version=__version__,
            uptime=time.time() - self.started_at,
            home=str(self.home.root),
            apps=len(self._apps),
            processes=len(self.rows()),
        )

    # ----------------------------------------------------------------- starting
    async def start_ecosystem(
        self, path: str, *, only: list[str] | None = None, env: str | None = None
    ) -> dict[str, Any]:
        """PM2's startOrRestart for a file: validate all of it, then start new apps and
        restart known ones with their new settings."""
        async with self._lock:
            entries = all_entries = stored_apps_from_file(path, env)  # validates it all first
            if only:
                names = {e.name for e in entries}
                unknown = [n for n in only if n not in names]
                if unknown:
                    raise ConfigError(f"--only: no app named {unknown[0]!r}", file=path)
                entries = [e for e in entries if e.name in only]
            await self._keep_notify(env, all_entries)
            return await self._start_specs([(app_spec(e), e) for e in entries])

    async def start_app(self, entry: Mapping[str, Any], base_dir: str) -> dict[str, Any]:
        """``ptm start script.py --name x``: one app from a table built by the CLI."""
        async with self._lock:
            spec = build_app(entry, base_dir=Path(base_dir))
            stored = StoredApp(
                name=spec.name,
                entry=dict(entry),
                base_dir=base_dir,
                env_name=None,
                source=None,
                desired="running",
                position=-1,
            )
            return await self._start_specs([(spec, stored)])

    async def _start_specs(self, pairs: list[tuple[AppSpec, StoredApp]]) -> dict[str, Any]:
        started: list[str] = []
        restarted: list[str] = []
        for spec, template in pairs:
            autostart = spec.autostart
            known = spec.name in self._apps
            # The supervisor first: an app it could not take (a port in use...) is neither
            # listed nor stored, and the daemon's next start does not trip over it.
            try:
                if known:
                    await self.sup.replace(spec, start=autostart)
                else:
                    await self.sup.add(spec, start=autostart)
            except PtmError:
                if known and spec.name not in self.sup.names:
                    self._apps.pop(spec.name, None)  # the old one is gone too
                raise
            try:
                stored = await self.store.upsert_app(
                    dataclasses.replace(
                        template,
                        env_name=spec.env_name,
                        desired="running" if autostart else "stopped",
                    )
                )
            except Exception:
                if not known:
                    with contextlib.suppress(PtmError):
                        await self.sup.delete(spec.name)
                raise
            self._apps[spec.name] = _Managed(stored, spec)
            (restarted if known else started).append(spec.name)
        names = started + restarted
        return {"started": started, "restarted": restarted, "processes": self.rows(names)}

    # ----------------------------------------------------------------- acting
    async def act(self, action: str, target: str) -> dict[str, Any]:
        """stop / start / restart / reload of every app the target names."""
        async with self._lock:
            names = self.resolve(target)
            for name in names:
                if action == "stop":
                    await self.sup.stop(name)
                    await self._set_desired(name, "stopped")
                elif action == "start":
                    await self.sup.start(name)
                    await self._set_desired(name, "running")
                elif action == "restart":
                    await self.sup.restart(name, "manual")
                    await self._set_desired(name, "running")
                elif action == "reload":
                    await self.sup.reload(name)
                    await self._set_desired(name, "running")
                else:
                    raise StateError(f"unknown action {action!r}")
            return {"processes": self.rows(names)}

    async def _set_desired(self, name: str, desired: str) -> None:
        managed = self._apps[name]
        if managed.stored.desired != desired:
            await self.store.set_desired(name, desired)
            managed.stored = dataclasses.replace(managed.stored, desired=desired)  # type: ignore[arg-type]

    async def delete(self, target: str) -> dict[str, Any]:
        async with self._lock:
            names = self.resolve(target)
            for name in names:
                await self.sup.delete(name)
                await self.store.delete_app(name)
                del self._apps[name]
            await self._drop_orphan_notify()
            return {"deleted": names}

    async def scale(self, target: str, instances: int) -> dict[str, Any]:
        async with self._lock:
            name = self._one(target)
            if instances < 1:
                raise StateError(f"cannot scale {name!r} to {instances}: at least 1 instance")
            await self.sup.scale(name, instances)
            managed = self._apps[name]
            entry = {**managed.stored.entry, "instances": instances}
            managed.stored = await self.store.upsert_app(
                dataclasses.replace(managed.stored, entry=entry)
            )
            managed.spec = dataclasses.replace(managed.spec, instances=instances)
            return {"processes": self.rows([name])}

    def send_signal(self, target: str, signame: str) -> dict[str, Any]:
        sig = parse_signal(signame)
        pids: list[int] = []
        for name in self.resolve(target):
            pids.extend(self.sup.send_signal(name, sig))
        return {"signalled": pids}

    def reset(self, target: str) -> dict[str, Any]:
        names = self.resolve(target)
        for name in names:
            self.sup.reset(name)
        return {"processes": self.rows(names)}

    # ----------------------------------------------------------------- logs
    def log_paths(self, app: str | None, stream: str) -> list[tuple[str, int, str, Path]]:
        """(app, instance, stream, path) of each distinct log file."""
        names = self.resolve(app) if app else list(self._apps)
        seen: set[Path] = set()
        out: list[tuple[str, int, str, Path]] = []
        for name in names:
            for info in self.sup.info(name):
                for kind, file in (("out", info.out_file), ("err", info.error_file)):
                    if file is None or stream not in ("both", kind):
                        continue
                    path = Path(file)
                    if path in seen:
                        continue
                    seen.add(path)
                    out.append((name, info.instance, kind, path))
        return out

    async def tail(self, app: str | None, lines: int, stream: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for name, instance, kind, path in self.log_paths(app, stream):
            found = await anyio.to_thread.run_sync(tail_lines, path, lines)
            result.extend(
                {
                    "app": name,
                    "instance": instance,
                    "stream": kind,
                    "line": raw.decode("utf-8", "replace"),
                }
                for raw in found
            )
        return result

    def flush(self, app: str | None) -> list[str]:
        files = self.sup.log_files
        if files is None:
            return []
        names = self.resolve(app) if app else list(self._apps)
        for name in names:
            files.truncate(name)
        return [str(p) for name in names for p in files.paths(name)]

    def reload_logs(self) -> None:
        if self.sup.log_files is not None:
            self.sup.log_files.reopen_all()

    # ----------------------------------------------------------------- save / resurrect
    async def save(self, *, force: bool = False) -> dict[str, Any]:
        async with self._lock:
            apps = [m.stored for m in sorted(self._apps.values(), key=lambda m: m.stored.position)]
            notify = await self._notify_for_dump({app.name for app in apps})
            path = await anyio.to_thread.run_sync(
                lambda: write_dump(self.home.dump, apps, force=force, notify=notify)
            )
            return {"path": str(path), "apps": len(apps), "notify": len(notify)}

    async def _notify_for_dump(self, names: set[str]) -> list[dict[str, Any]]:
        """The kept ``[[notify]]`` entries, as tables naming the saved apps they cover."""
        tables: list[dict[str, Any]] = []
        for source, text in (await self.store.notify_entries()).items():
            for spec in specs_from_json(text, source=source):
                covered = sorted(names if spec.apps is None else spec.apps & names)
                if not covered:
                    continue
                table: dict[str, Any] = {"events": sorted(spec.events), "apps": covered}
                if spec.webhook is not None:
                    table["webhook"] = spec.webhook
                if spec.command is not None:
                    table["command"] = list(spec.command)
                tables.append(table)
        return tables

    async def resurrect(self) -> dict[str, Any]:
        if not self.home.dump.exists():
            raise StateError(f"no dump at {self.home.dump}; run ptm save first")
        async with self._lock:
            entries = stored_apps_from_file(self.home.dump, None)
            skipped: list[str] = []
            pairs: list[tuple[AppSpec, StoredApp]] = []
            for entry in entries:
                if entry.name in self._apps and any(
                    i.status in ("online", "launching", "waiting restart")
                    for i in self.sup.info(entry.name)
                ):
                    skipped.append(entry.name)
                    continue
                pairs.append((app_spec(entry), entry))
            result = await self._start_specs(pairs)
            # The dump's alerts now stand for its apps; alerts of files none of whose apps is
            # managed any more are dropped (no alert twice).
            await self._keep_notify(None, entries)
            await self._drop_orphan_notify()
            return {"started": result["started"] + result["restarted"], "skipped": skipped}


def parse_signal(name: str) -> int:
    text = name.strip().upper()
    if text.isdigit():
        number = int(text)
        if number in {s.value for s in signal_module.Signals}:
            return number
    else:
        if not text.startswith("SIG"):
            text = "SIG" + text
        with contextlib.suppress(KeyError):
            return int(signal_module.Signals[text])
    raise ConfigError(f"unknown signal {name!r}")
