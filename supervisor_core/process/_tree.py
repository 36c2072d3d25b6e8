"""Finding and stopping a whole process tree, including what escaped the process group."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec

import anyio
import psutil

from supervisor_core._throttle import Throttle
from supervisor_core.process._cgroup import CgroupTree
from supervisor_core.process._spawn import RUN_ID_VAR, ChildProcess, signal_process

__all__ = [
    "TreeStopReport",
    "descendants",
    "find_marked",
    "stop_left_run",
    "stop_tree",
    "wait_gone",
]

P = ParamSpec("P")
log = logging.getLogger("ptm.process")
_THROTTLE = Throttle()

_GRACE_AFTER_KILL = 5.0
"""How long to wait for SIGKILLed processes to disappear (they cannot refuse)."""


def _children_pids(pid: int) -> list[int] | None:
    """Direct children from /proc/PID/task/*/children; None when the kernel lacks the file."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}"):
                return out
            return None
        except OSError:
            continue
    return out


def descendant_pids(pid: int) -> list[int]:
    """Every descendant pid of ``pid`` (not ``pid`` itself), cheaply.

    Reads only the tree's own /proc entries when the kernel offers ``children`` files, so the
    cost grows with the tree, not with the number of processes on the machine.
    """
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        kids = _children_pids(parent)
        if kids is None:  # no CONFIG_PROC_CHILDREN: fall back to psutil's full scan
            try:
                return [p.pid for p in psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                return []
        found.extend(kids)
        stack.extend(kids)
    return found


def descendants(pid: int) -> list[psutil.Process]:
    """psutil handles of every descendant of ``pid`` (their create time pinned now)."""
    procs: list[psutil.Process] = []
    for child in descendant_pids(pid):
        with contextlib.suppress(psutil.Error, OSError):
            procs.append(psutil.Process(child))
    return procs


def find_marked(run_id: str, *, since: float) -> list[psutil.Process]:
    """Processes of this user created at or after ``since`` whose environment carries
    ``PTM_RUN_ID=run_id``: the descendants of a run, even those that left its tree.

    One pass over /proc with plain reads (a psutil object is made only for a match), so a
    crash-loop restart stays cheap on a busy machine.
    """
    needle = f"{RUN_ID_VAR}={run_id}".encode()
    uid = os.getuid()
    found: list[psutil.Process] = []
    try:
        entries = os.scandir("/proc")
    except OSError as exc:  # out of descriptors: the group and the known pids still get it
        _THROTTLE.say(
            "scandir", f"cannot look for escaped processes: {exc.strerror or exc}", log.warning
        )
        return found
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid != uid:
                    continue
                with open(f"/proc/{entry.name}/environ", "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if needle not in data or needle not in data.split(b"\0"):
                continue
            try:
                proc = psutil.Process(int(entry.name))
                if proc.create_time() >= since - 1.0:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
    return found


async def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has exited (pidfd: no polling); return those still alive."""
    pending = list(procs)
    with anyio.move_on_after(timeout):
        for proc in pending:
            await _wait_one(proc)
    return [p for p in pending if _is_alive(p)]


def _is_alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
    except OSError:  # /proc cannot be read (out of descriptors): ask the kernel, no file needed
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True


async def _wait_one(proc: psutil.Process) -> None:
    if not _is_alive(proc):
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd here: poll, never psutil's wait (it would reap our children)
        while _is_alive(proc):  # noqa: ASYNC110 - nothing to await for a non-child without pidfd
            await anyio.sleep(0.05)
        return
    try:
        if not _is_alive(proc):  # pid reused between the check and pidfd_open
            return
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)


def _signal(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)  # psutil checks the create time: never a reused pid


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@dataclass(frozen=True)
class TreeStopReport:
    """What stopping a tree took."""

    escalated: bool
    """SIGKILL was needed (something outlived kill_timeout)."""
    killed: int
    """How many processes got SIGKILL."""
    survivors: int
    """Processes still alive even after SIGKILL (should be 0; unkillable D-state)."""


def _in_cgroup(cgroup: Path | None) -> list[psutil.Process]:
    procs: list[psutil.Process] = []
    for pid in CgroupTree.members(cgroup) if cgroup is not None else ():
        with contextlib.suppress(psutil.Error, OSError):
            procs.append(psutil.Process(pid))
    return procs


def _shielded(
    stop: Callable[P, Awaitable[TreeStopReport]],
) -> Callable[P, Awaitable[TreeStopReport]]:
    """``stop`` shielded from cancellation (once started, it finishes, so cancelling a
    supervisor never leaves an orphan behind), then the run's emptied cgroup removed."""

    @functools.wraps(stop)
    async def shielded(*args: P.args, **kwargs: P.kwargs) -> TreeStopReport:
        with anyio.CancelScope(shield=True):
            try:
                report = await stop(*args, **kwargs)
            finally:
                cgroup = kwargs.get("cgroup")
                if isinstance(cgroup, Path):
                    await CgroupTree.remove(cgroup)
        return report

    return shielded


@_shielded
async def stop_tree(
    process: ChildProcess | None,
    *,
    pgid: int | None,
    run_id: str,
    started_at: float,
    sig: int,
    timeout: float,
    known: Iterable[psutil.Process] = (),
    cgroup: Path | None = None,
) -> TreeStopReport:
    """Stop one run's whole tree: ``sig`` to the group and every known descendant, wait up
    to ``timeout``, then SIGKILL whatever is left, including processes that left the group.

    ``pgid`` None: do not signal a process group (its leader is gone and the id may have
    been reused); only the ``known`` processes and those marked with ``run_id``. ``cgroup``:
    the run's own cgroup, whose members are part of the tree whatever they did (and which is
    removed once empty).
    """
    members: dict[int, psutil.Process] = {}
    tree = descendants(pgid) if pgid is not None else []
    main_pid = process.pid if process is not None else None
    for proc in [*known, *tree, *find_marked(run_id, since=started_at), *_in_cgroup(cgroup)]:
        if proc.pid != main_pid:  # our own child is awaited through ``process`` only
            members.setdefault(proc.pid, proc)
    if pgid is not None:
        _killpg(pgid, sig)
    if process is not None and process.returncode is None and _group_of(process.pid) != pgid:
        signal_process(process, sig)  # it left its group: tell it directly
    _signal(members.values(), sig)

    deadline = anyio.current_time() + timeout
    if process is not None and process.returncode is None:
        with anyio.move_on_after(timeout):
            await process.wait()
    remaining = max(deadline - anyio.current_time(), 0.0)
    survivors = await wait_gone(list(members.values()), remaining)
    main_alive = process is not None and process.returncode is None
    if not survivors and not main_alive:
        # Children forked during the grace period are found by their mark.
        late = [
            p
            for p in [*find_marked(run_id, since=started_at), *_in_cgroup(cgroup)]
            if p.pid != main_pid and _is_alive(p)
        ]
        if not late:
            return TreeStopReport(escalated=False, killed=0, survivors=0)
        survivors = late

    # Escalate: SIGKILL to the group and the cgroup, then to every survivor and marked process.
    if pgid is not None:
        _killpg(pgid, signal.SIGKILL)
    in_cgroup = _in_cgroup(cgroup)
    if cgroup is not None:
        CgroupTree.kill(cgroup)
    for proc in [*find_marked(run_id, since=started_at), *in_cgroup]:
        if proc.pid != main_pid:
            members.setdefault(proc.pid, proc)
    targets = [p for p in {**members, **{p.pid: p for p in survivors}}.values() if _is_alive(p)]
    _signal(targets, signal.SIGKILL)
    if process is not None and process.returncode is None:
        signal_process(process, signal.SIGKILL)
        with anyio.move_on_after(_GRACE_AFTER_KILL):
            await process.wait()
    left = await wait_gone(targets, _GRACE_AFTER_KILL)
    return TreeStopReport(
        escalated=True,
        killed=len(targets) + (1 if main_alive else 0),
        survivors=len(left),
    )


async def stop_left_run(cgroup: Path, run_id: str, timeout: float) -> TreeStopReport:
    """Stop what a supervisor that is gone left of its run ``run_id``: every process in the
    run's ``cgroup`` or marked with ``run_id`` gets SIGTERM, then SIGKILL after ``timeout``;
    the emptied cgroup is removed."""
    return await stop_tree(
        None,
        pgid=None,
        run_id=run_id,
        started_at=0.0,  # any process marked with that run id
        sig=signal.SIGTERM,
        timeout=timeout,
        cgroup=cgroup,
    )
