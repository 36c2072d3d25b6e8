"""Runs into ``state.db``: the supervisor reports each start and end, one task writes them.

The supervisor's callback must never wait, so each :class:`RunRecord` is queued (with the
process's create time, read at once while the pid is surely the run's) and written in order
by :meth:`RunWriter.run`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import anyio
import psutil
from anyio.streams.memory import MemoryObjectSendStream

from supervisor_core._info import RunRecord
from supervisor_core._throttle import Throttle
from supervisor_core.errors import StateError
from supervisor_core.store import StateStore

__all__ = ["RunWriter"]

log = logging.getLogger("ptm.daemon")

MAX_QUEUED = 100_000
"""Run facts waiting to be written; past that the newest are dropped (never a wait)."""


class RunWriter:
    """Persists the runs the supervisor reports (``on_run``), in order."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._send: MemoryObjectSendStream[RunRecord] | None = None
        self._pending = 0
        self._throttle = Throttle()

    def on_run(self, app: str, instance: int, run_id: str, record: RunRecord) -> None:
        """The supervisor's run callback: queue the fact for :meth:`run`."""
        create_time = None
        if record.ended_at is None and record.pid is not None:
            with contextlib.suppress(psutil.Error):
                create_time = psutil.Process(record.pid).create_time()
        fact = dataclasses.replace(
            record, run_id=run_id, app=app, instance=instance, create_time=create_time
        )
        if self._send is not None:
            with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
                self._send.send_nowait(fact)
                self._pending += 1

    async def run(self) -> None:
        """Write run starts and ends as they come (a task for the daemon's lifetime)."""
        send, receive = anyio.create_memory_object_stream[RunRecord](MAX_QUEUED)
        self._send = send
        async with send, receive:
            async for fact in receive:
                try:
                    await self._write(fact)
                except StateError as exc:  # state.db locked, full, read-only: one line
                    what = "end" if fact.ended_at is not None else "start"
                    text = f"could not record the {what} of a run of {fact.app}:{fact.instance}"
                    self._throttle.say("state", f"{text}: {exc}", log.error)
                except Exception:
                    log.exception("could not record a run of %s:%s", fact.app, fact.instance)
                finally:
                    self._pending -= 1

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued run is written (before
        ``ptm update`` re-executes the daemon). True if it was."""
        with anyio.move_on_after(timeout):
            while self._pending:  # noqa: ASYNC110 (a poll: rare, and short)
                await anyio.sleep(0.01)
        return not self._pending

    async def _write(self, record: RunRecord) -> None:
        if record.ended_at is None or record.pid is None:
            await self._store.record_run_start(record)
        if record.ended_at is not None:
            await self._store.record_run_end(record)
