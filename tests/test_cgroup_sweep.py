"""A run cgroup is named after its owner, ``<pid>-<start time>-<run id>``; at its start a
daemon or ``ptm run`` removes every empty one whose owner is gone (a daemon killed with
SIGKILL cannot remove those of its runs), and nothing else: not one with a process in it, not
one whose owner still runs, not a cgroup that is not ptm's. Real cgroups, real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_core.process import CgroupTree

needs_cgroups = pytest.mark.skipif(
    CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy on this machine"
)


def tag(pid: int) -> str:
    """``<pid>-<start time in clock ticks>``, as /proc/PID/stat gives it."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return f"{pid}-{stat.rsplit(')', 1)[1].split()[19]}"


@pytest.fixture
def made() -> Iterator[list[Path]]:
    """The cgroups a test makes (under the shared ``ptm-runs``): removed after it, and only
    those (others there belong to other runs of ptm)."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        with contextlib.suppress(OSError):
            os.rmdir(path)


@pytest.fixture
def tree() -> CgroupTree:
    found = CgroupTree.find()
    assert found is not None
    return found


@needs_cgroups
def test_the_sweep_removes_only_empty_run_cgroups_whose_owner_is_gone(
    tree: CgroupTree, made: list[Path]
) -> None:
    gone = subprocess.Popen(["sleep", "1000"])
    dead_owner = tag(gone.pid)
    gone.kill()
    gone.wait()  # reaped: that pid and start time name no process any more
    assert not Path(f"/proc/{gone.pid}").exists() or tag(gone.pid) != dead_owner

    def make(name: str) -> Path:
        path = tree.base / name
        path.mkdir()
        made.append(path)
        return path

    stale = make(f"{dead_owner}-{uuid.uuid4().hex}")
    probe = make(f"probe-{gone.pid}")
    old_unnamed = make(uuid.uuid4().hex)  # a ptm before owners were named
    an_hour_ago = time.time() - 3600
    os.utime(old_unnamed, (an_hour_ago, an_hour_ago))
    mine = make(f"{tree.owner}-{uuid.uuid4().hex}")  # this process runs: still its owner's
    busy = make(f"{dead_owner}-{uuid.uuid4().hex}")
    new_unnamed = make(uuid.uuid4().hex)  # maybe made just now, about to be joined
    not_ptms = make(f"other-{uuid.uuid4().hex}")
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        assert CgroupTree.add(busy, sleeper.pid)

        removed = tree.sweep()

        assert {stale, probe, old_unnamed} <= set(removed)
        assert not set(removed) & {mine, busy, new_unnamed, not_ptms}
        assert not stale.exists() and not probe.exists() and not old_unnamed.exists()
        assert mine.is_dir() and new_unnamed.is_dir() and not_ptms.is_dir()
        assert busy.is_dir() and CgroupTree.members(busy) == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()


@needs_cgroups
def test_a_run_cgroup_names_its_owner_and_is_found_by_run_id_alone(
    tree: CgroupTree, made: list[Path]
) -> None:
    run_id = uuid.uuid4().hex
    path = tree.create(run_id)
    assert path is not None
    made.append(path)
    assert path.name == f"{tag(os.getpid())}-{run_id}"
    assert tree.existing(run_id) == path
    # The next daemon (another pid) finds a killed daemon's run cgroup by its run id.
    assert CgroupTree(tree.base).existing(run_id) == path
    assert tree.existing(uuid.uuid4().hex) is None
