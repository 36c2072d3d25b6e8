"""The notifier: turns a supervisor's state changes into alerts and delivers them.

Each ``[[notify]]`` entry is a channel with its own bounded queue and its own worker task, so
a slow or dead webhook delays nothing but its own alerts: never supervision (the notifier is
just another subscriber of the event stream, and only ever appends to queues), and never the
other entries. A failed delivery is retried after 1 s, 2 s and 4 s, then given up; every
failure is reported through ``on_notice``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio
from anyio.abc import TaskStatus

from supervisor_core._info import StateEvent
from supervisor_core.config import NotifySpec
from supervisor_core.errors import PtmError
from supervisor_core.notify._deliver import (
    COMMAND_TIMEOUT,
    WEBHOOK_TIMEOUT,
    Outcome,
    post_webhook,
    run_command,
    webhook_client,
)
from supervisor_core.notify._events import AlertKind, alert_kinds, alert_payload, ended_run

if TYPE_CHECKING:
    import httpx

    from supervisor_core._supervisor import Supervisor

__all__ = ["DRAIN_TIMEOUT", "MAX_QUEUE", "RETRY_DELAYS", "Notifier"]

RETRY_DELAYS: Final = (1.0, 2.0, 4.0)
"""Waits before the 2nd, 3rd and 4th (last) attempt of a delivery."""
MAX_QUEUE: Final = 1000
"""Alerts waiting per entry; beyond it the oldest waiting alert is dropped (with a notice)."""
DRAIN_TIMEOUT: Final = 10.0
"""When the supervisor stops: how long the alerts still queued get to be delivered."""


@dataclass(frozen=True)
class _Alert:
    kind: AlertKind
    app: str
    instance: int
    body: bytes

    @property
    def what(self) -> str:
        return f"{self.kind} alert for {self.app}:{self.instance}"


class _Channel:
    """One ``[[notify]]`` entry: which alerts it takes, its queue, its worker."""

    def __init__(self, index: int, spec: NotifySpec, owner: Notifier) -> None:
        self.spec = spec
        self._owner = owner
        if spec.webhook is not None:
            self.label = f"notify[{index}] webhook {spec.webhook}"
        else:
            self.label = f"notify[{index}] command {shlex.join(spec.command or ())}"
        self._queue: deque[_Alert] = deque()
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._busy = False
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Alerts queued or being delivered."""
        return len(self._queue) + int(self._busy)

    def accepts(self, kind: AlertKind, app: str) -> bool:
        apps = self.spec.apps
        return kind in self.spec.events and (apps is None or app in apps)

    def put(self, alert: _Alert) -> None:
        if len(self._queue) >= self._owner.max_queue:
            oldest = self._queue.popleft()
            self.dropped += 1
            self._owner.notice(
                f"{self.label}: {self._owner.max_queue} alerts are waiting; dropped the oldest "
                f"({oldest.what}; {self.dropped} dropped so far)"
            )
        self._queue.append(alert)
        if self._idle.is_set():
            self._idle = anyio.Event()
        self._wake.set()

    async def idle(self) -> None:
        """Return once nothing is queued or being delivered."""
        await self._idle.wait()

    async def run(self) -> None:
        async with AsyncExitStack() as stack:
            client = None
            if self.spec.webhook is not None:
                client = await stack.enter_async_context(
                    webhook_client(self._owner.webhook_timeout)
                )
            while True:
                if not self._queue:
                    self._idle.set()
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                alert = self._queue.popleft()
                self._busy = True
                try:
                    await self._deliver(alert, client)
                finally:
                    self._busy = False

    async def _deliver(self, alert: _Alert, client: httpx.AsyncClient | None) -> None:
        delays = self._owner.retry_delays
        attempts = len(delays) + 1
        for attempt in range(attempts):
            outcome = await self._once(alert, client)
            if outcome.ok:
                if outcome.detail:
                    self._owner.notice(f"{self.label}: {alert.what}: {outcome.detail}")
                return
            if attempt < len(delays):
                self._owner.notice(
                    f"{self.label}: {alert.what} not delivered (attempt {attempt + 1} of "
                    f"{attempts}): {outcome.detail}; next try in {delays[attempt]:g}s"
                )
                await anyio.sleep(delays[attempt])
            else:
                self._owner.notice(
                    f"{self.label}: {alert.what} not delivered after {attempts} attempts: "
                    f"{outcome.detail}; giving up"
                )

    async def _once(self, alert: _Alert, client: httpx.AsyncClient | None) -> Outcome:
        if client is not None and self.spec.webhook is not None:
            return await post_webhook(
                client, self.spec.webhook, alert.body, timeout=self._owner.webhook_timeout
            )
        env = {
            **os.environ,
            "PTM_EVENT": alert.kind,
            "PTM_APP_NAME": alert.app,
            "PTM_INSTANCE": str(alert.instance),
        }
        return await run_command(
            self.spec.command or (),
            alert.body,
            env=env,
            cwd=self._owner.cwd,
            timeout=self._owner.command_timeout,
        )


class Notifier:
    """Delivers the alerts of ``specs`` (the ``[[notify]]`` entries of an ecosystem file) for
    one :class:`~supervisor_core.Supervisor`::

        notifier = Notifier(ecosystem.notify, on_notice=print, cwd=ecosystem.path.parent)
        async with anyio.create_task_group() as tg, Supervisor() as sup:
            await tg.start(notifier.run, sup)
            await sup.add(...)

    Commands run in ``cwd`` (the ecosystem file's folder), with the alert's JSON on stdin and
    ``PTM_EVENT``, ``PTM_APP_NAME`` and ``PTM_INSTANCE`` added to the environment.
    ``on_notice(text)`` gets every failed attempt, dropped alert and command output.
    """

    def __init__(
        self,
        specs: Sequence[NotifySpec],
        *,
        on_notice: Callable[[str], None],
        cwd: Path | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        webhook_timeout: float = WEBHOOK_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        max_queue: int = MAX_QUEUE,
        drain_timeout: float = DRAIN_TIMEOUT,
        host: str | None = None,
    ) -> None:
        self.specs = tuple(specs)
        self.cwd = cwd
        self.retry_delays = tuple(retry_delays)
        self.webhook_timeout = webhook_timeout
        self.command_timeout = command_timeout
        self.max_queue = max(1, max_queue)
        self.drain_timeout = drain_timeout
        self.host = host if host is not None else socket.gethostname()
        self._on_notice = on_notice
        self._channels = [_Channel(i, spec, self) for i, spec in enumerate(self.specs)]

    def notice(self, text: str) -> None:
        with contextlib.suppress(Exception):
            self._on_notice(text)

    async def run(
        self, sup: Supervisor, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver alerts until the supervisor closes (then the queued ones get
        ``drain_timeout`` seconds) or until cancelled. Reports started once subscribed."""
        if not self._channels:
            task_status.started()
            return
        async with anyio.create_task_group() as tg:
            for channel in self._channels:
                tg.start_soon(channel.run)
            async with sup.subscribe() as events:
                task_status.started()
                async for event in events:
                    self.dispatch(sup, event)
            waiting = sum(channel.pending for channel in self._channels)
            if waiting:
                self.notice(
                    f"notify: delivering {waiting} alert(s) before shutting down "
                    f"(at most {self.drain_timeout:g}s)"
                )
            with anyio.move_on_after(self.drain_timeout):
                for channel in self._channels:
                    await channel.idle()
            left = sum(channel.pending for channel in self._channels)
            if left:
                self.notice(f"notify: {left} alert(s) not delivered before shutting down")
            tg.cancel_scope.cancel()

    def dispatch(self, sup: Supervisor, event: StateEvent) -> None:
        """Queue the alerts ``event`` is, for every entry that wants them (never waits)."""
        try:
            spec = sup.spec(event.app)
            stop_codes: frozenset[int] = spec.restart.stop_exit_codes
            runs = sup.runs(event.app, event.instance)
        except PtmError:  # deleted meanwhile
            stop_codes, runs = frozenset(), []
        kinds = alert_kinds(event, stop_codes)
        if not kinds:
            return
        run = ended_run(event, runs)
        for kind in kinds:
            wanted = [c for c in self._channels if c.accepts(kind, event.app)]
            if not wanted:
                continue
            payload = alert_payload(kind, event, run=run, host=self.host)
            alert = _Alert(kind, event.app, event.instance, json.dumps(payload).encode())
            for channel in wanted:
                channel.put(alert)
