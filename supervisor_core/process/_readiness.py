"""Whether a new process becomes ready: ``READY=1``, a passing health check, or (without
``wait_ready``) simply still running after ``min_uptime``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from supervisor_core.config import AppSpec
from supervisor_core.process._clock import Clock
from supervisor_core.process._spawn import ChildProcess

__all__ = ["READINESS_PROBE_INTERVAL", "ReadinessProbe", "await_ready"]

ReadinessProbe = Callable[[AppSpec, int], Awaitable[bool]]
"""One health probe of an instance for ``wait_ready``: True when it answered healthy."""
READINESS_PROBE_INTERVAL = 0.1
"""How often ``wait_ready`` probes the health check while an instance starts."""

Outcome = tuple[bool, str]


async def await_ready(
    spec: AppSpec,
    index: int,
    proc: ChildProcess,
    notified: anyio.Event,
    *,
    clock: Clock,
    probe: ReadinessProbe | None = None,
    shared_socket: bool = False,
) -> Outcome:
    """(ready, why). With ``wait_ready``, ready when ``notified`` (it sent ``READY=1``) or
    ``probe`` passes within ``listen_timeout``; without, when ``proc`` is still running after
    ``min_uptime``. An exit first is never ready.

    Behind a ``shared_socket`` any instance (the old one, in a reload) may answer the health
    check: then only ``READY=1`` from this very process counts.
    """
    exited_text = "exited with code {} while starting"
    if not spec.readiness.wait_ready:
        deadline = clock.now() + spec.restart.min_uptime
        outcome = await _first(
            _on_exit(proc, exited_text),
            _at(clock, deadline, (True, "up")),
        )
        assert outcome is not None
        return outcome
    timeout = spec.readiness.listen_timeout
    use_probe = probe is not None and spec.health_check is not None and not shared_socket
    if use_probe:
        timed_out = f"neither READY=1 nor a passing health check within {timeout:g}s"
    else:
        timed_out = f"no READY=1 within {timeout:g}s"
    contenders = [
        _on_event(notified, (True, "READY=1")),
        _on_exit(proc, exited_text),
        _at(clock, clock.now() + timeout, (False, timed_out)),
    ]
    if use_probe:
        assert probe is not None
        contenders.append(_on_probe(probe, spec, index))
    outcome = await _first(*contenders)
    assert outcome is not None
    return outcome


Contender = Callable[[], Awaitable[Outcome]]


async def _first(*contenders: Contender) -> Outcome | None:
    """The outcome of the first contender to finish; the others are cancelled."""
    outcome: list[Outcome] = []
    async with anyio.create_task_group() as tg:

        async def run(contender: Contender) -> None:
            result = await contender()
            if not outcome:
                outcome.append(result)
            tg.cancel_scope.cancel()

        for contender in contenders:
            tg.start_soon(run, contender)
    return outcome[0] if outcome else None


def _on_exit(proc: ChildProcess, text: str) -> Contender:
    async def wait() -> Outcome:
        await proc.wait()
        return False, text.format(proc.returncode)

    return wait


def _on_event(event: anyio.Event, outcome: Outcome) -> Contender:
    async def wait() -> Outcome:
        await event.wait()
        return outcome

    return wait


def _at(clock: Clock, deadline: float, outcome: Outcome) -> Contender:
    async def wait() -> Outcome:
        await clock.sleep_until(deadline)
        return outcome

    return wait


def _on_probe(probe: ReadinessProbe, spec: AppSpec, index: int) -> Contender:
    async def wait() -> Outcome:
        while not await probe(spec, index):  # noqa: ASYNC110 - HTTP polling
            await anyio.sleep(READINESS_PROBE_INTERVAL)
        return True, "health check passed"

    return wait
