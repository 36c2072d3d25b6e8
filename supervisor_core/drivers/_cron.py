"""``cron_restart``: restart an app's running instances at each time its schedule names.

Times are read in the local time zone (the daemon's ``TZ``), with the daylight-saving rules
of :class:`~supervisor_core.config.CronSchedule`. Only running instances (``online``
or ``launching``) are restarted: a stopped app stays stopped, an ``errored`` one stays
errored, and one waiting to restart after a crash restarts on its own. The restart counts
with reason ``cron`` and does not count as unstable.

The clock and the sleep are parameters, so tests run days of schedule in milliseconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import tzinfo
from typing import Final, NoReturn

import anyio

from supervisor_core._info import RestartReason
from supervisor_core.config import AppSpec, CronSchedule
from supervisor_core.drivers._control import AppControl
from supervisor_core.errors import PtmError
from supervisor_core.process import UP, Status

__all__ = ["MAX_SLEEP", "cron_driver", "restart_where", "run_schedule"]

MAX_SLEEP: Final = 60.0
"""The longest single sleep while waiting for the next time: a change of the system clock
(NTP, a resumed laptop) is noticed within this many seconds."""


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def restart_where(
    sup: AppControl, name: str, reason: RestartReason, statuses: Collection[Status]
) -> list[int]:
    """Restart, all at once, the instances of ``name`` whose status is in ``statuses``;
    returns the indexes that were in such a status when asked. Each instance checks its
    status again when it handles the command, so a stop that came first wins."""
    chosen = [info.instance for info in sup.info(name) if info.status in statuses]
    if chosen:
        await sup.restart(name, reason, only_if=statuses)
    return chosen


async def run_schedule(
    schedule: CronSchedule,
    fire: Callable[[], Awaitable[object]],
    *,
    clock: Clock = time.time,
    sleep: Sleep = anyio.sleep,
    tz: tzinfo | None = None,
) -> NoReturn:
    """Call ``fire`` at each instant ``schedule`` names, from now on, forever.

    A time missed because the clock jumped forward (or ``fire`` took more than a minute) is
    not caught up: the next time is always counted from the later of the last one and now.
    """
    after = clock()
    while True:
        due = schedule.next_fire(after, tz)
        while (remaining := due - clock()) > 0:
            await sleep(min(remaining, MAX_SLEEP))
        await fire()
        after = max(due, clock())


async def cron_driver(
    sup: AppControl,
    spec: AppSpec,
    *,
    clock: Clock = time.time,
    sleep: Sleep = anyio.sleep,
    tz: tzinfo | None = None,
) -> None:
    """The ``cron_restart`` driver: nothing for an app without a schedule."""
    if spec.cron_restart is None:
        return
    schedule = CronSchedule.parse(spec.cron_restart)

    async def fire() -> None:
        # A failed spawn is the instance's to report (and retry); the next time comes anyway.
        with contextlib.suppress(PtmError):
            await restart_where(sup, spec.name, "cron", UP)

    await run_schedule(schedule, fire, clock=clock, sleep=sleep, tz=tz)
