"""Which state changes are alerts, and the JSON an alert carries.

A :class:`~supervisor_core.StateEvent` is one change of status of one instance; an alert is
one of five kinds, decided from the event alone (plus the app's ``stop_exit_codes``):

* ``crash``: the process ended by itself (the previous status was ``launching`` or
  ``online``: ptm did not ask it to stop), or never became ready (``wait_ready``: ptm
  stopped it with reason ``not ready``), and ptm does not take the end as a clean finish.
  That is every such event going to ``waiting restart`` or ``errored`` (exit code 0
  included: a service is meant to keep running), and one going to ``stopped`` unless the exit
  code is 0 or in ``stop_exit_codes``. A program that cannot be started at all counts too.
* ``errored``: the status became ``errored`` (too many unstable restarts in a row).
* ``memory``: the status became ``stopping`` with reason ``memory``.
* ``health``: the status became ``stopping`` with reason ``health``.
* ``restart``: the status became ``launching`` with a restart reason (``crash``,
  ``memory``, ``health``, ``manual``, ``cron``, ``watch``; a first start has none), or a
  reload put its new process in place (``online`` → ``online``, reason ``reload``).

One event can be two alerts: a crash that reaches the crash-loop limit is ``crash`` and
``errored``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from supervisor_core._info import RunRecord, StateEvent
from supervisor_core._version import __version__
from supervisor_core.config import ALERT_KINDS, AlertKind
from supervisor_core.process import ENDED, UP, Status

__all__ = ["ALERT_KINDS", "AlertKind", "alert_kinds", "alert_payload", "ended_run", "iso_utc"]


def alert_kinds(
    event: StateEvent, stop_exit_codes: Iterable[int] = frozenset()
) -> tuple[AlertKind, ...]:
    """The alerts ``event`` is (often none), in :data:`ALERT_KINDS` order."""
    kinds: list[AlertKind] = []
    status = event.status
    by_itself = event.previous in UP or event.reason == "not ready"
    if status in ENDED and by_itself:
        clean = (
            status == Status.STOPPED
            and event.signal is None
            and (event.exit_code == 0 or event.exit_code in set(stop_exit_codes))
        )
        if not clean:
            kinds.append("crash")
    if status == Status.ERRORED:
        kinds.append("errored")
    if status == Status.STOPPING and event.reason == "memory":
        kinds.append("memory")
    if status == Status.STOPPING and event.reason == "health":
        kinds.append("health")
    if (status == Status.LAUNCHING and event.reason is not None) or (
        status == Status.ONLINE and event.reason == "reload"
    ):
        kinds.append("restart")
    return tuple(kinds)


def ended_run(event: StateEvent, runs: Iterable[RunRecord]) -> RunRecord | None:
    """The run an exit event is about: the latest one that ended at or before the event."""
    ended = [r for r in runs if r.ended_at is not None and r.ended_at <= event.timestamp]
    return max(ended, key=lambda r: r.ended_at or 0.0, default=None)


def iso_utc(timestamp: float) -> str:
    """POSIX seconds → ISO 8601 UTC with milliseconds (``2026-11-28T21:00:00.123Z``)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_payload(
    kind: AlertKind,
    event: StateEvent,
    *,
    run: RunRecord | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """The JSON object posted or piped for one alert.

    ``pid``, ``exit_code`` and ``signal`` describe the process the alert is about: the one
    that ended (``crash``, ``errored``: taken from ``run``, the run that ended, when known),
    the one being stopped (``memory``, ``health``); ``restart`` has no pid yet (``null``).
    """
    pid, exit_code, sig = event.pid, event.exit_code, event.signal
    if run is not None and event.status in ENDED:
        pid, exit_code, sig = run.pid, run.exit_code, run.signal
    return {
        "event": kind,
        "app": event.app,
        "instance": event.instance,
        "status": event.status,
        "previous": event.previous,
        "pid": pid,
        "exit_code": exit_code,
        "signal": sig,
        "reason": event.reason,
        "timestamp": iso_utc(event.timestamp),
        "host": host if host is not None else socket.gethostname(),
        "ptm_version": __version__,
    }
