"""The daemon's alerts: the ``[[notify]]`` entries of each started file, kept and delivered.

Each ecosystem file's entries are kept in ``state.db`` (replacing what the file had before)
and delivered by one :class:`~supervisor_core.notify.Notifier` per file; an entry without
``apps`` covers the apps of its own file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from supervisor_core._supervisor import Supervisor
from supervisor_core.config import ALERT_KINDS, NotifySpec
from supervisor_core.errors import ConfigError
from supervisor_core.notify import Notifier, specs_from_json, specs_to_json
from supervisor_core.store import StateStore

__all__ = ["Alerts"]

log = logging.getLogger("ptm.daemon")


class Alerts:
    """One notifier per ecosystem file, restored from ``state.db`` at start."""

    def __init__(self, sup: Supervisor, store: StateStore) -> None:
        self._sup = sup
        self._store = store
        self._notifiers: dict[str, anyio.CancelScope] = {}
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver the kept alerts (a task for the daemon's lifetime; started once every
        restored notifier listens)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for source, text in (await self._store.notify_entries()).items():
                try:
                    await self._start(source, specs_from_json(text, source=source))
                except ConfigError as exc:
                    log.error("cannot restore the alerts of %s: %s", source, exc)
            task_status.started()
            await anyio.sleep_forever()

    async def keep(self, source: str, specs: Sequence[NotifySpec], names: Collection[str]) -> None:
        """The alerts of the file ``source`` are now ``specs``; ``names`` are its apps."""
        covered = frozenset(names)
        specs = [
            spec if spec.apps is not None else dataclasses.replace(spec, apps=covered)
            for spec in specs
        ]
        await self._store.set_notify(source, specs_to_json(specs))
        await self._start(source, specs)

    async def drop_orphans(self, sources: Collection[str | None]) -> None:
        """Forget the alerts of files none of whose apps (from ``sources``) is managed."""
        for source in await self._store.notify_entries():
            if source not in sources:
                await self._store.set_notify(source, "[]")
                await self._start(source, ())

    async def for_dump(self, names: set[str]) -> list[dict[str, Any]]:
        """The kept entries, as ``[[notify]]`` tables naming the saved apps they cover."""
        tables: list[dict[str, Any]] = []
        for source, text in (await self._store.notify_entries()).items():
            for spec in specs_from_json(text, source=source):
                covered = sorted(names if spec.apps is None else spec.apps & names)
                if not covered:
                    continue
                events = [kind for kind in ALERT_KINDS if kind in spec.events]
                table: dict[str, Any] = {"events": events, "apps": covered}
                if spec.webhook is not None:
                    table["webhook"] = spec.webhook
                if spec.command is not None:
                    table["command"] = list(spec.command)
                tables.append(table)
        return tables

    async def _start(self, source: str, specs: Sequence[NotifySpec]) -> None:
        old = self._notifiers.pop(source, None)
        if old is not None:
            old.cancel()
        if not specs or self._tg is None:
            return
        scope = anyio.CancelScope()
        self._notifiers[source] = scope
        notifier = Notifier(
            specs, on_notice=lambda text: log.warning("%s", text), cwd=Path(source).parent
        )
        await self._tg.start(self._deliver, notifier, scope)

    async def _deliver(
        self, notifier: Notifier, scope: anyio.CancelScope, *, task_status: TaskStatus[None]
    ) -> None:
        with scope:
            await notifier.run(self._sup, task_status=task_status)
