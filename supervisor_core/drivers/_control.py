"""What a driver sees of the supervisor that runs it.

Drivers are typed against :class:`AppControl`, not against
:class:`~supervisor_core.Supervisor`: they need a handful of its methods, and the supervisor
imports the drivers, so the drivers must not import it back. The supervisor passes itself to
each driver, which is where mypy checks that it is an :class:`AppControl`; a test passes a
fake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Protocol

from supervisor_core._info import ProcessInfo, RestartReason
from supervisor_core._status import Status
from supervisor_core.config import AppSpec

__all__ = ["AppControl", "AppDriver"]


class AppControl(Protocol):
    """The methods of :class:`~supervisor_core.Supervisor` that drivers call."""

    @property
    def names(self) -> Collection[str]:
        """The apps managed now."""
        ...

    def info(self, name: str) -> Sequence[ProcessInfo]:
        """One row per instance of ``name``; :class:`~supervisor_core.UnknownAppError` if
        there is no such app (any more)."""
        ...

    async def restart(
        self, name: str, reason: RestartReason, *, only_if: Collection[Status] | None = None
    ) -> object:
        """Restart the instances of ``name`` (only those whose status is in ``only_if``)."""
        ...

    async def report_unhealthy(
        self, name: str, instance: int, detail: str, *, never_answered: bool = False
    ) -> None:
        """A health check gave up on an instance: restart it under the crash rules."""
        ...

    def set_health(self, name: str, instance: int, result: Mapping[str, object] | None) -> None:
        """Record the last health-check result of an instance."""
        ...

    def notice(self, text: str) -> None:
        """Say something to the user."""
        ...


AppDriver = Callable[[AppControl, AppSpec], Awaitable[None]]
"""A task that runs beside an app for as long as it is managed (health checks, cron
restarts, file watching). Started when the app is added, cancelled when it is deleted or
replaced. It acts only through :class:`AppControl`."""
