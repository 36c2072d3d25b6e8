"""One cgroup (v2) per run, where the system lets ptm have one: nothing escapes a stop.

A process group and the run's ``PTM_RUN_ID`` mark find every descendant that stays in the
group or keeps its environment. A process that double-forks, calls ``setsid`` *and* scrubs
its environment escapes both; it cannot leave its cgroup. So when ptm may create cgroups (it
runs as root, or inside a delegated subtree: a systemd unit with ``Delegate=yes``, or the
user's own ``user@.service``), each run gets ``<ptm's cgroup>/ptm-runs/<owner>-<run id>``
(``<owner>`` is the supervisor's ``<pid>-<start time>``, the same across ``ptm update``). Its
first process is born there (a ``sh`` joins it before it becomes the app, and the supervisor
moves the pid there again once spawned), and a stop ends with the cgroup's ``cgroup.kill``
(or SIGKILL to each member on kernels before 5.14). No controller is enabled: the cgroup only
tells who belongs to the run.

A stop removes the emptied cgroup. Where no stop could run (the daemon was killed with
SIGKILL and its apps ended with it), the next daemon or ``ptm run`` removes, at its start,
every empty run cgroup whose owner is no longer alive (:meth:`CgroupTree.sweep`).

Where no writable cgroup v2 hierarchy is found (cgroup v1 only, no delegation), runs are
stopped as before, by group and mark; ``PTM_CGROUPS=off`` turns cgroups off on purpose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from pathlib import Path
from typing import Final

import anyio

__all__ = ["CgroupTree"]

RUNS_FOLDER: Final = "ptm-runs"
_EMPTY_WAIT: Final = 5.0
_LEGACY_AGE: Final = 60.0
"""A run cgroup named without its owner (ptm before owners were named) is swept once empty
for this long: it cannot be one a live supervisor has just made and is about to join."""
_LEGACY_NAME: Final = re.compile(r"[0-9a-f]{32}")
_OWNED_NAME: Final = re.compile(r"(\d+)-(\d+)-([0-9a-f]{32})")
_PROBE_NAME: Final = re.compile(r"probe-(\d+)")


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``.../unified``)."""
    for line in _lines("/proc/self/mountinfo"):
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split(" ")[4])
    return None


def _started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None: no such process, or one that has
    ended and waits to be reaped). With the pid, it names one process: a pid used again has
    another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _owner_tag(pid: int) -> str | None:
    """``<pid>-<start time>``: the owner part of a run cgroup's name (None: no such process)."""
    started = _started(pid)
    return None if started is None else f"{pid}-{started}"


def _owner_alive(pid: int, started: int) -> bool:
    return _started(pid) == started


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path (``0::/system.slice/ptm.service``)."""
    return next((line[3:] for line in _lines("/proc/self/cgroup") if line.startswith("0::")), None)


class CgroupTree:
    """The run cgroups under one writable folder of the cgroup v2 hierarchy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.owner = _owner_tag(os.getpid()) or str(os.getpid())
        """This process's part of the names of the cgroups it makes."""

    @classmethod
    def find(cls) -> CgroupTree | None:
        """``<this process's cgroup>/ptm-runs`` if it can be created and used, else None."""
        if os.environ.get("PTM_CGROUPS", "").lower() in ("off", "0", "no", "false"):
            return None
        mount, own = _cgroup2_mount(), _own_cgroup()
        if mount is None or own is None:
            return None
        base = mount / own.lstrip("/") / RUNS_FOLDER
        try:
            base.mkdir(exist_ok=True)
            probe = base / f"probe-{os.getpid()}"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
        except OSError:
            return None
        if not (base / "cgroup.procs").exists():
            return None  # not a cgroup folder after all
        return cls(base)

    def path(self, run_id: str) -> Path:
        """Where this process's run ``run_id`` has its cgroup."""
        return self.base / f"{self.owner}-{run_id}"

    def existing(self, run_id: str) -> Path | None:
        """The run's cgroup if it is there, whoever made it (a daemon that was killed)."""
        found = [*self.base.glob(f"*-{run_id}"), self.base / run_id]
        return next((path for path in found if path.is_dir()), None)

    def sweep(self) -> list[Path]:
        """Remove each empty run cgroup whose owner is gone (a daemon killed with SIGKILL
        cannot remove those of its runs); returns the removed ones. A cgroup with a process
        in it is kept (the kernel refuses): the restore of a daemon stops those of its own
        runs by their run id. Also removes an empty cgroup named without its owner once it
        is a minute old, and the probe folder of a :meth:`find` that was killed."""
        removed: list[Path] = []
        try:
            paths = [path for path in self.base.iterdir() if path.is_dir()]
        except OSError:
            return removed
        now = time.time()
        for path in paths:
            stale = False  # a name not ptm's is never touched
            if owned := _OWNED_NAME.fullmatch(path.name):
                stale = not _owner_alive(int(owned[1]), int(owned[2]))
            elif probe := _PROBE_NAME.fullmatch(path.name):
                stale = _started(int(probe[1])) is None
            elif _LEGACY_NAME.fullmatch(path.name):
                with contextlib.suppress(OSError):
                    stale = now - path.stat().st_mtime > _LEGACY_AGE
            if not stale:
                continue
            try:
                os.rmdir(path)  # refused (EBUSY) while a process (or a cgroup) is in it
            except OSError:
                continue
            removed.append(path)
        return removed

    def left_by(self, pid: int) -> list[tuple[Path, str]]:
        """The run cgroups (and run ids) of the supervisor ``pid`` once it is gone (a daemon
        killed with SIGKILL); none while it runs."""
        left: list[tuple[Path, str]] = []
        with contextlib.suppress(OSError):
            for path in self.base.glob(f"{pid}-*"):
                owned = _OWNED_NAME.fullmatch(path.name)
                if owned and not _owner_alive(pid, int(owned[2])) and path.is_dir():
                    left.append((path, owned[3]))
        return left

    def orphaned(self) -> list[tuple[Path, str]]:
        """The run cgroups (and run ids) of every supervisor that is gone which still hold a
        process: what a ``ptm run`` killed with SIGKILL left running (its apps end with it,
        their own children are told nothing). A daemon's are also its restore's to stop."""
        left: list[tuple[Path, str]] = []
        with contextlib.suppress(OSError):
            for path in self.base.iterdir():
                owned = _OWNED_NAME.fullmatch(path.name)
                if owned is None or _owner_alive(int(owned[1]), int(owned[2])):
                    continue
                if path.is_dir() and self.members(path):
                    left.append((path, owned[3]))
        return left

    def create(self, run_id: str) -> Path | None:
        """The run's cgroup, made now (None: it could not be, the run goes without)."""
        path = self.path(run_id)
        try:
            path.mkdir(exist_ok=True)
        except OSError:
            return None
        return path

    @staticmethod
    def add(path: Path, pid: int) -> bool:
        """Move ``pid`` into the cgroup at ``path`` (its children will be born there)."""
        try:
            (path / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    @staticmethod
    def members(path: Path) -> list[int]:
        """The pids in the cgroup (none if it is gone)."""
        try:
            text = (path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    @staticmethod
    def kill(path: Path) -> int:
        """SIGKILL every member (``cgroup.kill``, else one by one); returns how many were in."""
        members = CgroupTree.members(path)
        if not members:
            return 0
        try:
            (path / "cgroup.kill").write_text("1")
        except OSError:
            for pid in members:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        return len(members)

    @staticmethod
    async def remove(path: Path, wait: float = _EMPTY_WAIT) -> bool:
        """Remove the (emptied) cgroup, waiting up to ``wait`` for its last members to go."""
        with anyio.move_on_after(wait):
            while True:
                try:
                    os.rmdir(path)  # a cgroup folder: no I/O to wait for
                    return True
                except FileNotFoundError:
                    return True
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        return False
                await anyio.sleep(0.01)
        return False
