"""Health checks: poll ``[apps.health_check]``'s URL and restart what stops answering.

One :func:`health_driver` runs beside each app that has a health check (see
``docs/health.md``):

- **What is probed.** ``url`` with ``{instance}`` replaced by the instance number is one URL
  per instance, probed for that instance. A URL without ``{instance}`` names the app as a
  whole (every instance behind one port, as in cluster mode): it is probed once per interval
  and its result is every instance's.
- **A probe** is one ``GET`` (no redirects followed, no proxy, no keep-alive) that must answer
  within ``timeout``. An HTTP status below 500 is an answer (``ok``); a 5xx, a timeout, a
  refused, reset or closed connection is a **miss**.
- **Only running processes are judged**: a unit is probed while its instance (for the app: at
  least one instance) is ``online``; a result that comes back after the process stopped,
  restarted or started stopping is dropped.
- **Grace period.** A new run's misses are not counted until it has answered once or has been
  up for ``max(interval, listen_timeout)``; they are still recorded, ``(grace period)`` after
  the detail.
- After ``failures`` consecutive counted misses it calls
  :meth:`~supervisor_core.Supervisor.report_unhealthy` for the unit's online instances, one
  after the other (the engine restarts them with reason ``health`` under the crash rules:
  backoff, ``min_uptime``, ``max_restarts`` → ``errored``) and counts from zero again.
- Every probe's result goes to :meth:`~supervisor_core.Supervisor.set_health` as
  ``{"ok", "detail", "at", "failures"}`` (shown by ``jlist`` and ``describe``).

:func:`probe` is the single probe, for other code that needs one; :func:`health_check_passes`
is one probe of an instance, shaped for ``wait_ready``'s readiness hook.
"""

from __future__ import annotations

import errno
import math
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup

from supervisor_core._httpx import httpx
from supervisor_core._info import ProcessInfo
from supervisor_core._version import __version__
from supervisor_core.config import AppSpec, HealthCheckSpec
from supervisor_core.drivers._control import AppControl
from supervisor_core.errors import UnknownAppError

__all__ = [
    "INSTANCE_PLACEHOLDER",
    "HealthResult",
    "health_check_passes",
    "health_driver",
    "instance_url",
    "probe",
    "probe_client",
]

INSTANCE_PLACEHOLDER = "{instance}"
"""In a health-check URL: replaced by the instance number (one URL per instance)."""

GRACE_NOTE = " (grace period)"
"""Appended to the detail of a miss that did not count because the run is new."""


@dataclass(frozen=True)
class HealthResult:
    """What one probe found."""

    ok: bool
    """An answer below HTTP 500 within the timeout."""
    detail: str
    """``HTTP 200``, ``HTTP 503``, ``timeout after 2s``, ``connection refused``..."""
    at: float
    """Wall-clock time (POSIX seconds) the probe started."""
    status_code: int | None = None
    """The HTTP status, when there was an answer."""

    def as_mapping(self, failures: int) -> dict[str, object]:
        """The ``health`` of a ``jlist`` row: ``{"ok", "detail", "at", "failures"}``."""
        return {"ok": self.ok, "detail": self.detail, "at": iso_utc(self.at), "failures": failures}


def iso_utc(timestamp: float) -> str:
    """POSIX seconds → ``2026-11-28T21:00:00.123Z``."""
    whole = math.floor(timestamp)
    millis = min(999, int((timestamp - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def instance_url(url: str, instance: int) -> str:
    """``url`` with every ``{instance}`` replaced by ``instance`` (other text untouched)."""
    return url.replace(INSTANCE_PLACEHOLDER, str(instance))


def probe_client() -> httpx.AsyncClient:
    """A client fit for :func:`probe`: no proxy or certificates from the environment's proxy
    variables, no redirects followed, a new connection per probe (so a restarted app is
    never judged on a stale pooled connection)."""
    return httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"User-Agent": f"ptm-health/{__version__}"},
    )


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:g}ms"
    return f"{value:g}s"


_ERRNO_TEXT: Mapping[int, str] = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection closed",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


def _transport_detail(exc: httpx.TransportError) -> str:
    """A short, stable text for a failed connection: the OS error found under ``exc``."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):  # its errno is OpenSSL's, not the system's
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, OSError) and cause.errno is not None:
            return _ERRNO_TEXT.get(cause.errno) or os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed without an answer"
    text = str(exc).strip()
    return f"connection failed: {text}" if text else f"connection failed: {type(exc).__name__}"


async def probe(check: HealthCheckSpec, url: str, client: httpx.AsyncClient) -> HealthResult:
    """``GET url`` once, with ``check.timeout`` for the whole exchange (connect to status
    line; the body is not read). Never raises for the app's faults: a 5xx, a timeout or a
    connection error is a result with ``ok=False``."""
    at = time.time()
    timed_out = f"timeout after {_seconds(check.timeout)}"
    detail = timed_out
    status: int | None = None
    with anyio.move_on_after(check.timeout):
        try:
            async with client.stream("GET", url, timeout=check.timeout) as response:
                status = response.status_code
        except httpx.TimeoutException:
            detail = timed_out
        except httpx.TransportError as exc:
            detail = _transport_detail(exc)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = f"request failed: {exc}"
    if status is not None:
        return HealthResult(ok=status < 500, detail=f"HTTP {status}", at=at, status_code=status)
    return HealthResult(ok=False, detail=detail, at=at)


async def health_check_passes(spec: AppSpec, instance: int) -> bool:
    """One probe of ``instance``'s health-check URL: whether it answered (below HTTP 500).
    False for an app without a health check. Fits ``Supervisor(readiness_probe=...)``."""
    check = spec.health_check
    if check is None:
        return False
    async with probe_client() as client:
        result = await probe(check, instance_url(check.url, instance), client)
    return result.ok


# ---------------------------------------------------------------------------------------------
# The driver


@dataclass(frozen=True)
class _Unit:
    """What one URL answers for: one instance, or (``instance`` None) the whole app."""

    instance: int | None
    url: str

    def members(self, rows: Sequence[ProcessInfo]) -> list[ProcessInfo]:
        return [r for r in rows if self.instance is None or r.instance == self.instance]


RunKey = tuple[tuple[int, int | None], ...]


@dataclass
class _Count:
    """The consecutive misses of one unit's current run."""

    run: RunKey
    failures: int = 0
    answered: bool = False


def _units(check: HealthCheckSpec, rows: Sequence[ProcessInfo]) -> list[_Unit]:
    if INSTANCE_PLACEHOLDER in check.url:
        return [_Unit(r.instance, instance_url(check.url, r.instance)) for r in rows]
    return [_Unit(None, check.url)] if rows else []


def _online(members: Sequence[ProcessInfo]) -> list[ProcessInfo]:
    return [r for r in members if r.status == "online"]


def _run_key(online: Sequence[ProcessInfo]) -> RunKey:
    return tuple((r.instance, r.pid) for r in online)


class _HealthChecker:
    def __init__(self, sup: AppControl, spec: AppSpec, check: HealthCheckSpec) -> None:
        self.sup = sup
        self.name = spec.name
        self.check = check
        self.grace = max(check.interval, spec.readiness.listen_timeout)
        self.counts: dict[int | None, _Count] = {}
        self.reporting: set[int | None] = set()

    async def run(self) -> None:
        async with probe_client() as client, anyio.create_task_group() as reports:
            next_at = anyio.current_time()
            while True:
                try:
                    await self._tick(client, reports)
                except UnknownAppError:
                    if self.name not in self.sup.names:
                        return  # deleted while we looked (scaled down: look again)
                next_at = max(next_at + self.check.interval, anyio.current_time())
                await anyio.sleep_until(next_at)

    async def _tick(self, client: httpx.AsyncClient, reports: TaskGroup) -> None:
        rows = self.sup.info(self.name)
        due: list[tuple[_Unit, RunKey]] = []
        for unit in _units(self.check, rows):
            if unit.instance in self.reporting:
                continue
            online = _online(unit.members(rows))
            if online:
                due.append((unit, _run_key(online)))
        results: dict[int | None, HealthResult] = {}

        async def one(unit: _Unit) -> None:
            results[unit.instance] = await probe(self.check, unit.url, client)

        async with anyio.create_task_group() as probes:
            for unit, _ in due:
                probes.start_soon(one, unit)

        rows = self.sup.info(self.name)
        for unit, run in due:
            online = _online(unit.members(rows))
            if _run_key(online) != run:
                continue  # it stopped, restarted or started stopping meanwhile: no verdict
            self._judge(unit, run, online, results[unit.instance], reports)

    def _judge(
        self,
        unit: _Unit,
        run: RunKey,
        online: Sequence[ProcessInfo],
        result: HealthResult,
        reports: TaskGroup,
    ) -> None:
        count = self.counts.get(unit.instance)
        if count is None or count.run != run:
            count = self.counts[unit.instance] = _Count(run)
        detail = result.detail
        if result.ok:
            count.failures = 0
            count.answered = True
        elif count.answered or min(r.uptime or 0.0 for r in online) >= self.grace:
            count.failures += 1
        else:
            detail += GRACE_NOTE
        record = HealthResult(result.ok, detail, result.at, result.status_code)
        for row in online:
            self.sup.set_health(self.name, row.instance, record.as_mapping(count.failures))
        if count.failures >= self.check.failures:
            why = f"{result.detail} ({count.failures} misses in a row)"
            count.failures = 0
            self.reporting.add(unit.instance)
            never = not count.answered
            reports.start_soon(self._report, unit, [r.instance for r in online], why, never)

    async def _report(
        self, unit: _Unit, instances: Sequence[int], detail: str, never_answered: bool
    ) -> None:
        try:
            for index in instances:
                try:
                    await self.sup.report_unhealthy(
                        self.name, index, detail, never_answered=never_answered
                    )
                except UnknownAppError:
                    return  # deleted or scaled down meanwhile
        finally:
            self.reporting.discard(unit.instance)


async def health_driver(sup: AppControl, spec: AppSpec) -> None:
    """The :data:`~supervisor_core.drivers.AppDriver` of ``[apps.health_check]``: polls
    while the app is managed; returns at once for an app without a health check."""
    if spec.health_check is None:
        return
    await _HealthChecker(sup, spec, spec.health_check).run()
