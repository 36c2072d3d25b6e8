"""Tasks that run beside each app: health checks, cron restarts, file watching.

Each is an :data:`AppDriver`: ``async def driver(sup, spec)``, running while the app is
managed and doing nothing for an app that does not use its feature; ``sup`` is an
:class:`AppControl` (the supervisor, seen through the few methods drivers call).
The drivers named here import their machinery (httpx, watchfiles) only for an app that uses
the feature, so a supervisor without health checks or watching stays small; the other names
are imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from supervisor_core._lazy import import_on_first_use
from supervisor_core.config import AppSpec
from supervisor_core.drivers._control import AppControl, AppDriver

if TYPE_CHECKING:
    from supervisor_core.drivers._health import (
        HealthResult,
        instance_url,
        probe,
        probe_client,
    )
    from supervisor_core.drivers._watch import DEFAULT_IGNORE, WATCH_DEBOUNCE, WatchFilter

__all__ = [
    "DEFAULT_DRIVERS",
    "DEFAULT_IGNORE",
    "WATCH_DEBOUNCE",
    "AppControl",
    "AppDriver",
    "HealthResult",
    "WatchFilter",
    "cron_driver",
    "health_check_passes",
    "health_driver",
    "instance_url",
    "probe",
    "probe_client",
    "watch_driver",
]


async def cron_driver(sup: AppControl, spec: AppSpec, **options: Any) -> None:
    """``cron_restart``: see :func:`supervisor_core.drivers._cron.cron_driver`."""
    if not spec.cron_restart:
        return
    from supervisor_core.drivers._cron import cron_driver as run

    await run(sup, spec, **options)


async def health_driver(sup: AppControl, spec: AppSpec, **options: Any) -> None:
    """``[apps.health_check]``: see :func:`supervisor_core.drivers._health.health_driver`."""
    if spec.health_check is None:
        return
    from supervisor_core.drivers._health import health_driver as run

    await run(sup, spec, **options)


async def watch_driver(sup: AppControl, spec: AppSpec, **options: Any) -> None:
    """``watch``: see :func:`supervisor_core.drivers._watch.watch_driver`."""
    if not spec.watch.enabled:
        return
    from supervisor_core.drivers._watch import watch_driver as run

    await run(sup, spec, **options)


async def health_check_passes(spec: AppSpec, instance: int) -> bool:
    """One probe of the instance's health check (``wait_ready``'s readiness hook); False for
    an app without one."""
    if spec.health_check is None:
        return False
    from supervisor_core.drivers._health import health_check_passes as probe_once

    return await probe_once(spec, instance)


DEFAULT_DRIVERS: Sequence[AppDriver] = (cron_driver, health_driver, watch_driver)
"""What every Supervisor runs unless told otherwise."""

_LAZY = {
    "HealthResult": "_health",
    "instance_url": "_health",
    "probe": "_health",
    "probe_client": "_health",
    "DEFAULT_IGNORE": "_watch",
    "WATCH_DEBOUNCE": "_watch",
    "WatchFilter": "_watch",
}


def __getattr__(name: str) -> Any:
    return import_on_first_use(__name__, _LAZY, globals(), name)
