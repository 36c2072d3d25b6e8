"""A daemon's start: stop what a killed daemon left running, then bring back every app; and
what the daemon keeps of the apps of a file (:func:`stored_apps`)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil

from supervisor_core._supervisor import Supervisor
from supervisor_core.config import (
    AppSpec,
    Ecosystem,
    StopPolicy,
    compile_entry,
    file_problem,
    load_ecosystem,
)
from supervisor_core.errors import ConfigError, PtmError
from supervisor_core.process import CgroupTree, stop_left_run, stop_tree
from supervisor_core.store import StateStore, StoredApp, read_dump

__all__ = [
    "dump_apps",
    "file_apps",
    "restore",
    "script_app",
    "stored_apps",
    "stored_spec",
    "sweep_leftovers",
    "with_caller_env",
    "with_new_env",
]

log = logging.getLogger("ptm.daemon")

_DEFAULT_KILL_TIMEOUT = StopPolicy().kill_timeout


def stored_spec(app: StoredApp) -> AppSpec:
    """The spec of a stored app, resolved now (its program must still exist). One that no
    longer resolves (a deleted script or folder) is a :class:`ConfigError` naming the app:
    ``FILE: stored app 'web': script: ...``."""
    try:
        return compile_entry(
            app.entry, base_dir=Path(app.base_dir), env=app.env_name, caller_env=app.caller_env
        )
    except ConfigError as exc:
        raise ConfigError(f"stored app {app.name!r}: {exc}", file=app.source) from None


def with_caller_env(
    pairs: Iterable[tuple[AppSpec, StoredApp]],
    known: Mapping[str, StoredApp],
    caller_env: Mapping[str, str] | None,
) -> list[tuple[AppSpec, StoredApp]]:
    """The apps of a ``ptm start`` (or resurrect) with the environment each inherits: an app
    of ``known`` keeps its stored one (and is compiled again with it), any other takes
    ``caller_env`` (compiled with it already). ``--update-env`` passes no ``known``."""
    out: list[tuple[AppSpec, StoredApp]] = []
    for spec, stored in pairs:
        old = known.get(spec.name)
        if old is None:
            out.append((spec, dataclasses.replace(stored, caller_env=caller_env)))
        else:
            kept = dataclasses.replace(stored, caller_env=old.caller_env)
            out.append((stored_spec(kept), kept))
    return out


def file_apps(
    path: str | Path,
    env: str | None,
    only: list[str] | None,
    caller_env: Mapping[str, str] | None,
    known: Mapping[str, StoredApp],
) -> tuple[Ecosystem, list[tuple[AppSpec, StoredApp]]]:
    """The file at ``path`` read and checked whole (its one read: it stats every script and
    folder it names, so call it off the event loop), and its apps (those of ``only``) with
    what the daemon keeps of each, inheriting as :func:`with_caller_env` says."""
    problem = file_problem(path)  # a FIFO would block this read, and the daemon's lock
    if problem is not None:
        raise problem
    ecosystem = load_ecosystem(path, env, caller_env=caller_env)
    pairs = stored_apps(ecosystem)
    if only:
        unknown = [name for name in only if name not in {s.name for s, _ in pairs}]
        if unknown:
            raise ConfigError(f"--only: no app named {unknown[0]!r}", file=str(path))
        pairs = [(spec, stored) for spec, stored in pairs if spec.name in only]
    return ecosystem, with_caller_env(pairs, known, caller_env)


def dump_apps(
    path: Path, caller_env: Mapping[str, str] | None, known: Mapping[str, StoredApp]
) -> tuple[Ecosystem, list[tuple[AppSpec, StoredApp]]]:
    """:func:`file_apps` for ``ptm resurrect``: the dump at ``path`` read by the store, which
    knows a dump saved with no apps (``ptm save --force``: ``apps = []``, which an ecosystem
    file may not say) as nothing to start. Blocks like :func:`file_apps`."""
    ecosystem = read_dump(path, caller_env=caller_env)
    return ecosystem, with_caller_env(stored_apps(ecosystem), known, caller_env)


def with_new_env(
    apps: Mapping[str, StoredApp], names: Iterable[str], caller_env: Mapping[str, str]
) -> list[tuple[AppSpec, StoredApp]]:
    """The apps ``names`` compiled again to inherit ``caller_env`` (``--update-env``); a
    :class:`ConfigError` when one no longer resolves with it (its interpreter not on PATH)."""
    news = [dataclasses.replace(apps[name], caller_env=caller_env) for name in names]
    return [(stored_spec(new), new) for new in news]


def script_app(spec: AppSpec, entry: Mapping[str, Any], base_dir: str) -> StoredApp:
    """What the daemon keeps of the app of ``ptm start SCRIPT`` (its table, no file)."""
    return StoredApp(
        name=spec.name,
        entry=dict(entry),
        base_dir=base_dir,
        env_name=None,
        source=None,
        desired="running",
        position=-1,
    )


def stored_apps(ecosystem: Ecosystem) -> list[tuple[AppSpec, StoredApp]]:
    """Each app of a loaded file with what the daemon keeps of it (``position`` is its index
    in the file; the store assigns the real one)."""
    assert ecosystem.path is not None
    return [
        (
            spec,
            StoredApp(
                name=spec.name,
                entry=dict(entry),
                base_dir=str(ecosystem.path.parent),
                env_name=spec.env_name,
                source=str(ecosystem.path),
                desired="running" if spec.autostart else "stopped",
                position=position,
            ),
        )
        for position, (spec, entry) in enumerate(
            zip(ecosystem.apps, ecosystem.entries, strict=True)
        )
    ]


async def restore(
    sup: Supervisor,
    store: StateStore,
    adopt: Mapping[str, Any] | None = None,
    *,
    previous: int | None = None,
) -> dict[str, StoredApp]:
    """Stop whatever the previous daemon (pid ``previous``, if it was killed) left running,
    then add every stored app to ``sup`` (started when it should run). Returns the apps
    restored; one that cannot be is logged and left out. After ``ptm update``, ``adopt`` holds
    what the previous image handed over by app name: those apps carry on with their
    processes instead."""
    adopt = adopt or {}
    kept_runs = {
        inst["run"]["run_id"]
        for app in adopt.values()
        for inst in app["instances"]
        if inst["run"] is not None
    }
    stored_apps = await store.apps()
    specs: dict[str, AppSpec] = {}
    for stored in stored_apps:
        try:
            specs[stored.name] = stored_spec(stored)
        except ConfigError as exc:
            log.error("cannot restore app %s: %s", stored.name, exc)
    await _sweep_orphans(
        store,
        {name: spec.stop.kill_timeout for name, spec in specs.items()},
        sup.cgroups,
        kept_runs,
    )
    if previous is not None and sup.cgroups is not None:
        await _sweep_unrecorded(sup.cgroups, previous)
    await store.prune_runs()
    restored: dict[str, StoredApp] = {}
    held = await store.stopped_instances()  # stopped by their process id: they stay stopped
    for stored in stored_apps:
        spec = specs.get(stored.name)
        if spec is None:
            continue
        running, stopped = stored.desired == "running", held.get(stored.name, set())
        try:
            handed = adopt.get(stored.name)  # ptm update: its instances carry on as they were
            await sup.add(spec, start=running and not stopped and handed is None, adopt=handed)
            if running and stopped and handed is None:
                count = len(sup.info(stored.name))
                await sup.start(stored.name, [i for i in range(count) if i not in stopped])
        except PtmError as exc:  # one app that cannot start must not keep the daemon down
            log.error("cannot restore app %s: %s", stored.name, exc)
            continue
        restored[stored.name] = stored
    log.info("restored %d app(s)", len(restored))
    return restored


async def sweep_leftovers(store: StateStore, cgroups: CgroupTree | None, previous: int) -> int:
    """``ptm kill`` when the daemon (pid ``previous``) was killed: stop what it left running,
    as the next daemon's start would, and start nothing. Returns how many runs were stopped;
    theirs are closed as ``daemon died``, so the next daemon starts the apps once each."""
    kill_timeouts: dict[str, float] = {}
    for stored in await store.apps():
        with contextlib.suppress(ConfigError):  # a program gone: the default kill_timeout
            kill_timeouts[stored.name] = stored_spec(stored).stop.kill_timeout
    count = await _sweep_orphans(store, kill_timeouts, cgroups, set())
    if cgroups is not None:
        count += await _sweep_unrecorded(cgroups, previous)
    return count


async def _sweep_orphans(
    store: StateStore,
    kill_timeouts: Mapping[str, float],
    cgroups: CgroupTree | None,
    kept: set[str],
) -> int:
    """Stop the processes of runs that never ended (the previous daemon was killed), but
    those in ``kept`` (handed over by ``ptm update``); how many runs that was."""
    runs = [run for run in await store.open_runs() if run.run_id not in kept]
    for run in runs:
        assert run.pid is not None and run.create_time is not None  # open runs have both
        assert run.run_id is not None and run.app is not None
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
            sig=signal.SIGTERM,
            timeout=kill_timeouts.get(run.app, _DEFAULT_KILL_TIMEOUT),
            known=known,
            cgroup=cgroups.existing(run.run_id) if cgroups is not None else None,
        )
        log.warning(
            "run %s of %s:%s (pid %d) outlived the previous daemon: stopped%s",
            run.run_id,
            run.app,
            run.instance,
            run.pid,
            " with SIGKILL" if report.escalated else "",
        )
    for run in runs:
        assert run.run_id is not None
        with contextlib.suppress(PtmError):
            await store.record_run_end(
                dataclasses.replace(
                    run, ended_at=time.time(), exit_code=None, signal=None, end_reason="daemon died"
                )
            )
    return len(runs)


async def _sweep_unrecorded(cgroups: CgroupTree, previous: int) -> int:
    """Stop what is left in the cgroups of the killed daemon ``previous`` that its recorded
    runs did not account for: runs it spawned just before it was killed, before it could
    write them to state.db (nothing else knows them); their cgroups are removed. Returns
    how many runs that was."""
    left = cgroups.left_by(previous)
    for path, run_id in left:
        await stop_left_run(path, run_id, _DEFAULT_KILL_TIMEOUT)
        log.warning(
            "stopped an unrecorded run %s of the previous daemon (pid %d)", run_id, previous
        )
    return len(left)
