"""``ptm update``: what an instance hands to the next image of the daemon, and taking it up.

:func:`freeze_run` stops reading the pipes of the instance's run between two reads (see
:class:`~supervisor_core.process.PipeReader`) and describes the instance in JSON: its status,
restart counters, a restart that is due, and its run (pid, run id, the monotonic start,
which the next image shares since ``execve`` keeps the clock, the pipes' descriptors, made
inheritable, and each pipe's unterminated line). :func:`adopted_run` makes a
:class:`~supervisor_core._runs.Run` of such a description again in the next image.
:func:`freeze_apps`, :func:`first_blocker` and :func:`adopted_instances` do the same for the
Supervisor's apps and sockets, which it passes in.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from supervisor_core._info import RunRecord
from supervisor_core.config import AppSpec
from supervisor_core.process import (
    AdoptedProcess,
    Counters,
    PipeReader,
    RunFacts,
    State,
    Status,
)

if TYPE_CHECKING:
    from supervisor_core._runs import Run
    from supervisor_core.process import NotifySocket

__all__ = [
    "HANDED_OVER",
    "Freezable",
    "HandedSockets",
    "adopted_instances",
    "adopted_run",
    "adopted_state",
    "first_blocker",
    "freeze_apps",
    "freeze_run",
    "freeze_state",
    "handover_blocker",
]

HANDED_OVER = frozenset({Status.ONLINE, Status.STOPPED, Status.ERRORED, Status.WAITING_RESTART})
"""The statuses an instance can be handed over in; another (a start, stop or reload under
way) makes ``ptm update`` wait for it to finish."""


def handover_blocker(label: str, status: Status, run: Run | None, busy: bool) -> str | None:
    """Why the instance cannot be handed over now (None: it can)."""
    if busy or status not in HANDED_OVER:
        return f"{label} is {status.value}"
    if status is Status.ONLINE and (run is None or run.proc.returncode is not None):
        return f"{label} has just exited"
    if run is not None and not all(
        isinstance(s, PipeReader) for s in (run.proc.stdout, run.proc.stderr) if s is not None
    ):
        return f"{label} was not started with ptm's own pipes"
    return None


def freeze_run(run: Run) -> dict[str, Any]:
    """Stop reading ``run``'s pipes (for good) and describe it for the next image."""
    pipes: dict[str, Any] = {}
    for name, stream in (("out", run.proc.stdout), ("err", run.proc.stderr)):
        if not isinstance(stream, PipeReader) or stream.closed:
            continue  # that pipe reached its end: its last line is written
        fd = stream.detach()
        os.set_inheritable(fd, True)
        splitter = run.splitters.get(name)
        pending = splitter.pending if splitter is not None else b""
        pipes[name] = {"fd": fd, "pending": base64.b64encode(pending).decode()}
    return {
        "token": run.token,
        "run_id": run.run_id,
        "pid": run.pid,
        "started": run.started,
        "started_at": run.record.started_at,
        "cgroup": str(run.cgroup) if run.cgroup is not None else None,
        "ready": run.ready.is_set(),
        "status_text": run.status_text,
        "pipes": pipes,
    }


def freeze_state(state: State, counters: Counters) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "restart_at": state.restart_at,
        "pending_reason": state.pending_reason,
        "restarts": counters.restarts,
        "unstable_restarts": counters.unstable_restarts,
        "last_restart_reason": counters.last_restart_reason,
        "by_reason": [list(pair) for pair in counters.by_reason],
    }


def adopted_state(desc: dict[str, Any], run: Run | None) -> tuple[State, Counters]:
    """The instance's state and counters as the previous image left them. An online run that
    could not be adopted (it ended during the exec) leaves the instance ``errored``."""
    counters = Counters(
        int(desc["restarts"]),
        int(desc["unstable_restarts"]),
        desc["last_restart_reason"],
        tuple((reason, int(count)) for reason, count in desc["by_reason"]),
    )
    status = Status(desc["status"])
    if run is not None:
        return State(Status.ONLINE, run=RunFacts(run.token, run.pid, run.started)), counters
    if status is Status.WAITING_RESTART and desc["restart_at"] is not None:
        at, reason = float(desc["restart_at"]), desc["pending_reason"]
        return State(status, restart_at=at, pending_reason=reason), counters
    if status not in HANDED_OVER or status is Status.ONLINE:
        return State(Status.ERRORED), counters
    return State(status), counters


def adopted_run(desc: dict[str, Any], run_type: type[Run]) -> Run:
    """The run the previous image described, with readers on its pipes (raises
    ``ChildProcessError`` when its process is no longer a child of ours)."""
    readers: dict[str, PipeReader | None] = {"out": None, "err": None}
    for name, pipe in desc["pipes"].items():
        fd = int(pipe["fd"])
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
        readers[name] = PipeReader(fd)
    try:
        proc = AdoptedProcess(int(desc["pid"]), readers["out"], readers["err"])
    except (ChildProcessError, OSError):
        for reader in readers.values():
            if reader is not None:
                os.close(reader.fd)
        raise
    record = RunRecord(pid=proc.pid, started_at=float(desc["started_at"]))
    run = run_type(
        int(desc["token"]),
        str(desc["run_id"]),
        proc,
        float(desc["started"]),
        record,
        status_text=desc["status_text"],
        cgroup=Path(desc["cgroup"]) if desc["cgroup"] else None,
    )
    if desc["ready"]:
        run.ready.set()
    from supervisor_core.logs import LineSplitter

    for name, pipe in desc["pipes"].items():
        pending = base64.b64decode(pipe["pending"])
        run.splitters[name] = LineSplitter(pending=pending)
    return run


class Freezable(Protocol):
    """An instance, as handing over sees it."""

    def handover_blocker(self) -> str | None: ...
    def freeze(self) -> dict[str, Any]: ...


class HandedSockets(Protocol):
    """The apps' shared listening sockets (:class:`~supervisor_core._plumbing.ListenSockets`)."""

    def inheritable(self) -> dict[str, int]: ...
    def adopt(self, spec: AppSpec, fd: int) -> None: ...


def first_blocker(instances: Iterable[Freezable]) -> str | None:
    """Why the apps cannot go to a new daemon image now (None: they can)."""
    return next(filter(None, (inst.handover_blocker() for inst in instances)), None)


def freeze_apps(
    instances: Mapping[str, Sequence[Freezable]],
    sockets: HandedSockets,
    notify: NotifySocket | None,
) -> dict[str, Any]:
    """Stop reading every pipe; describe every app's instances and the sockets, descriptors
    made inheritable, for the next image. Nothing may run in this process after it but
    ``execve``."""
    fds = sockets.inheritable()
    apps = {
        name: {"instances": [inst.freeze() for inst in insts], "listen_fd": fds.get(name)}
        for name, insts in instances.items()
    }
    return {"apps": apps, "notify": notify.inheritable() if notify is not None else None}


def adopted_instances(
    spec: AppSpec, adopt: Mapping[str, Any] | None, sockets: HandedSockets
) -> list[Any]:
    """What each instance of ``spec`` was (None past them), the app's listening socket taken
    up; [] for an app that is not adopted."""
    if adopt is None:
        return []
    if adopt["listen_fd"] is not None:
        sockets.adopt(spec, int(adopt["listen_fd"]))
    return [*adopt["instances"], *[None] * spec.instances]
