"""What the daemon keeps of each app the supervisor runs, and what is read from it: the
apps and processes a target names, and the ``jlist`` rows."""

from __future__ import annotations

from typing import Any

from supervisor_core._supervisor import Supervisor
from supervisor_core.daemon._targets import Selection, select
from supervisor_core.daemon._views import process_row
from supervisor_core.errors import UnknownAppError
from supervisor_core.store import StoredApp

__all__ = ["Registry"]


class Registry:
    """The :class:`StoredApp` of each app (its entry, position, source file and desired
    state) and the process id of each instance, beside the :class:`Supervisor`, which owns
    the apps' specs and instances."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self.apps: dict[str, StoredApp] = {}
        """What the daemon adds to each app the supervisor runs, by name."""
        self.ids: dict[str, list[int]] = {}
        """The process id of each instance, by app (``self.ids[app][instance]``)."""

    def managed(self) -> dict[str, StoredApp]:
        """The apps the supervisor runs, with what the daemon keeps of each, in id order."""
        live = set(self.sup.names)
        kept = [stored for name, stored in self.apps.items() if name in live]
        return {stored.name: stored for stored in sorted(kept, key=lambda s: s.position)}

    def select(self, target: str) -> Selection:
        """The apps (and instances) a target names: a name, a process id, ``all``, or an
        ecosystem file (see :func:`~supervisor_core.daemon._targets.select`)."""
        return select(target, self.managed(), self.ids)

    def one(self, target: str) -> tuple[str, tuple[int, ...] | None]:
        """The one app a target names (and its instances)."""
        selection = self.select(target)
        if len(selection) != 1:
            raise UnknownAppError(f"{target!r} names {len(selection)} apps; give one name")
        return next(iter(selection.items()))

    def rows(
        self, selection: Selection | None = None, *, by_reason: bool = False
    ) -> list[dict[str, Any]]:
        """``jlist`` rows (of the apps or instances selected), in ``ptm list`` order; with
        ``by_reason``, each with its restarts by reason (``GET /v1/metrics``)."""
        out: list[dict[str, Any]] = []
        for name, stored in self.managed().items():
            if selection is not None and name not in selection:
                continue
            picked = None if selection is None else selection[name]
            try:
                infos = self.sup.info(name)
            except UnknownAppError:  # never let one inconsistency break every listing
                continue
            ids = self.ids.get(name, [])
            for info in infos:
                if picked is not None and info.instance not in picked:
                    continue
                process_id = ids[info.instance] if info.instance < len(ids) else None
                row = process_row(info, process_id=process_id, desired=stored.desired)
                if by_reason:
                    row["restarts_by_reason"] = dict(info.restarts_by_reason or {})
                out.append(row)
        return out
