"""Snapshots handed to users: frozen, ``None`` for unknown, never "N/A"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from supervisor_core._status import Status

__all__ = ["ProcessInfo", "RestartReason", "RunRecord", "StateEvent"]

RestartReason = Literal["crash", "memory", "health", "cron", "watch", "manual"]


@dataclass(frozen=True)
class RunRecord:
    """One run of one instance: from spawn to exit (the one model of a run: what the
    supervisor reports, what ``state.db`` keeps and what the API shows)."""

    pid: int | None
    started_at: float
    """Wall-clock time (POSIX seconds) of the spawn."""
    ended_at: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    """The signal that killed it, when it did not exit by itself."""
    end_reason: str | None = None
    """Why the run ended: ``crash`` (it exited by itself), ``stop``, or a restart reason
    (``manual``, ``memory``, ...), or ``spawn failed``."""
    error: str | None = None
    """For a run that could not start: why."""
    run_id: str | None = None
    """The run's own id (``PTM_RUN_ID`` in its environment); set where runs are kept."""
    app: str | None = None
    instance: int | None = None
    create_time: float | None = None
    """The process's start time as the kernel reports it (psutil), to tell a reused pid."""

    @property
    def uptime(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one instance, as ``ptm jlist`` shows it."""

    name: str
    instance: int
    pid: int | None
    status: Status
    restarts: int
    unstable_restarts: int
    started_at: float | None
    """Wall-clock time of the current run's spawn (None when not running)."""
    uptime: float | None
    cpu_percent: float | None
    memory_bytes: int | None
    exit_code: int | None
    last_restart_reason: RestartReason | None
    exec_mode: str = "fork"
    out_file: str | None = None
    error_file: str | None = None
    health: Mapping[str, object] | None = None
    """The last health-check result (``ok``, ``detail``, ``at``, ``failures``), if any."""
    restarts_by_reason: Mapping[str, int] | None = None
    """``restarts`` by reason (``crash``, ``memory``, ``health``, ``cron``, ``watch``,
    ``manual``)."""


@dataclass(frozen=True)
class StateEvent:
    """A change of status of one instance."""

    app: str
    instance: int
    status: Status
    previous: Status
    timestamp: float
    pid: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    """Why: a restart reason, ``crash``, ``stop``, ``errored``' details..."""
    delay: float | None = None
    """For ``waiting restart``: seconds until the restart."""
