"""Tasks that run beside each app: health checks, cron restarts, file watching.

Each is an :data:`~supervisor_core._supervisor.AppDriver`: ``async def driver(sup, spec)``,
running while the app is managed and doing nothing for an app that does not use its feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from supervisor_core.drivers._cron import cron_driver
from supervisor_core.drivers._health import (
    HealthResult,
    health_check_passes,
    health_driver,
    instance_url,
    probe,
    probe_client,
)
from supervisor_core.drivers._watch import DEFAULT_IGNORE, WATCH_DEBOUNCE, WatchFilter, watch_driver

if TYPE_CHECKING:
    from supervisor_core._supervisor import AppDriver

DEFAULT_DRIVERS: Sequence[AppDriver] = (cron_driver, health_driver, watch_driver)
"""What every Supervisor runs unless told otherwise."""

__all__ = [
    "DEFAULT_DRIVERS",
    "DEFAULT_IGNORE",
    "WATCH_DEBOUNCE",
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
