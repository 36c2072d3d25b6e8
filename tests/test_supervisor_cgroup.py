"""A run is born in its own cgroup: what the app forks before the supervisor has had time to
move its pid is inside it too, and a stop ends it. (The supervisor used to move the pid into
the cgroup only after the spawn returned; on a busy machine an app could fork first, and its
children stayed outside.)"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest

from supervisor_core import Supervisor
from supervisor_core.config import AppSpec, RestartPolicy
from supervisor_core.process import CgroupTree, ChildProcess, spawn

FORKER = """
import os, sys, time
child = os.fork()
if child == 0:
    os.execv("/bin/sleep", ["sleep", "1000"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(child))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(1)
"""

needs_cgroups = pytest.mark.skipif(
    CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy on this machine"
)


def cgroup_of(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next(line[3:] for line in lines if line.startswith("0::"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return "X"


@needs_cgroups
@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_what_the_app_forks_before_the_supervisor_moves_it_is_in_its_cgroup(
    tmp_path: Path,
) -> None:
    script, marker = tmp_path / "forker.py", tmp_path / "child.pid"
    script.write_text(FORKER)

    async def slow_spawner(
        argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int] = ()
    ) -> ChildProcess:
        """The real spawn, returning only once the app has forked: the supervisor's own move
        of the pid comes after the fork, as it can on a busy machine."""
        proc = await spawn(argv, cwd=cwd, env=env, pass_fds=pass_fds)
        with anyio.fail_after(15):
            while not marker.exists():  # noqa: ASYNC110 (a file the app writes)
                await anyio.sleep(0.01)
        return proc

    spec = AppSpec(name="forker", argv=(sys.executable, str(script), str(marker)), cwd=tmp_path)
    child = None
    try:
        async with Supervisor(
            write_logs=False,
            drivers=(),
            spawner=slow_spawner,
            cgroups=CgroupTree.find(),
            die_with_supervisor=True,
        ) as sup:
            await sup.add(spec)
            [info] = sup.info("forker")
            assert info.pid is not None
            child = int(marker.read_text())
            run_cgroup = cgroup_of(info.pid)
            assert "/ptm-runs/" in run_cgroup
            assert cgroup_of(child) == run_cgroup  # born inside, not moved too late
        with anyio.fail_after(10):  # leaving the supervisor stopped the run: the cgroup too
            while alive(child):  # noqa: ASYNC110 (a pid ending)
                await anyio.sleep(0.02)
    finally:
        if child is not None and alive(child):
            os.kill(child, signal.SIGKILL)  # our app's own child, by pid


PARENT_THAT_EXITS = """
import os, sys
child = os.fork()
if child == 0:
    os.execv("/bin/sleep", ["sleep", "1000"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(child))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
"""


@needs_cgroups
@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_an_app_gone_before_the_supervisor_moves_it_leaves_no_cgroup(
    tmp_path: Path,
) -> None:
    """The app forks and exits, and is reaped, before the supervisor's own move of its pid
    (which then fails: no such process). Its child is still in the run's cgroup: the run must
    keep that cgroup, stop the child with it and remove it. (The supervisor used to drop the
    cgroup there; its rmdir failed while the child was in it, and the emptied cgroup stayed.)"""
    script, marker = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(PARENT_THAT_EXITS)
    child_cgroup: list[Path] = []

    async def late_spawner(
        argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int] = ()
    ) -> ChildProcess:
        """The real spawn, returning only once the app has exited and been reaped."""
        proc = await spawn(argv, cwd=cwd, env=env, pass_fds=pass_fds)
        with anyio.fail_after(15):
            await proc.wait()
        child_cgroup.append(cgroup_path(int(marker.read_text())))
        return proc

    spec = AppSpec(
        name="parent",
        argv=(sys.executable, str(script), str(marker)),
        cwd=tmp_path,
        restart=RestartPolicy(autorestart=False),
    )
    child = None
    try:
        async with Supervisor(
            write_logs=False,
            drivers=(),
            spawner=late_spawner,
            cgroups=CgroupTree.find(),
            die_with_supervisor=True,
        ) as sup:
            await sup.add(spec)
            child = int(marker.read_text())
            with anyio.fail_after(15):
                while sup.info("parent")[0].status != "stopped":  # noqa: ASYNC110
                    await anyio.sleep(0.02)
        [cgroup] = child_cgroup
        assert "/ptm-runs/" in str(cgroup)
        with anyio.fail_after(10):
            while alive(child):  # noqa: ASYNC110 (a pid ending)
                await anyio.sleep(0.02)
        assert not cgroup.exists(), f"{cgroup} was left behind"
    finally:
        if child is not None and alive(child):
            os.kill(child, signal.SIGKILL)  # our app's own child, by pid


def cgroup_path(pid: int) -> Path:
    """Where ``pid``'s cgroup is in the file system."""
    tree = CgroupTree.find()
    assert tree is not None
    mount = tree.base.parents[len(Path(cgroup_of(os.getpid())).parts) - 1]
    return mount / cgroup_of(pid).lstrip("/")


@needs_cgroups
@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_a_run_lost_in_an_update_has_its_cgroup_emptied_and_removed(
    tmp_path: Path,
) -> None:
    """``ptm update``: the new image cannot adopt a run whose pid is no child of its own (it
    ended during the exec and something reaped it). What that run left in its cgroup is
    stopped and the cgroup removed; the daemon owns it, so no later sweep would."""
    tree = CgroupTree.find()
    assert tree is not None
    run_id = uuid.uuid4().hex
    cgroup = tree.create(run_id)
    assert cgroup is not None
    # A sh joins the cgroup, leaves a sleep there and exits: the sleep is no child of ours.
    out = await anyio.run_process(
        ["sh", "-c", f'echo 0 >"{cgroup}/cgroup.procs"; sleep 1000 >/dev/null 2>&1 & echo $!']
    )
    left = int(out.stdout)
    try:
        assert CgroupTree.members(cgroup) == [left]
        run = {
            "token": 1,
            "run_id": run_id,
            "pid": left,
            "started": 0.0,
            "started_at": time.time(),
            "cgroup": str(cgroup),
            "ready": True,
            "status_text": None,
            "pipes": {},
        }
        instance = {
            "status": "online",
            "restart_at": None,
            "pending_reason": None,
            "restarts": 0,
            "unstable_restarts": 0,
            "last_restart_reason": None,
            "by_reason": [],
            "token": 1,
            "last_exit_code": None,
            "last_signal": None,
            "run": run,
        }
        spec = AppSpec(name="lost", argv=("sleep", "1000"), cwd=tmp_path)
        notices: list[str] = []
        async with Supervisor(
            write_logs=False, drivers=(), cgroups=tree, on_notice=notices.append
        ) as sup:
            await sup.add(spec, adopt={"listen_fd": None, "instances": [instance]})
            assert any("was lost in the update" in notice for notice in notices), notices
            with anyio.fail_after(15):
                while cgroup.exists():  # noqa: ASYNC110 (the kernel's cgroup folder)
                    await anyio.sleep(0.02)
        assert not alive(left)
    finally:
        if alive(left):
            os.kill(left, signal.SIGKILL)  # the sleep this test left, by pid
        with anyio.move_on_after(10):
            while cgroup.exists() and CgroupTree.members(cgroup):  # noqa: ASYNC110
                await anyio.sleep(0.02)
        with contextlib.suppress(OSError):
            os.rmdir(cgroup)


@needs_cgroups
@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_a_spawner_that_fails_in_any_way_leaves_no_cgroup(tmp_path: Path) -> None:
    """The run's cgroup is made before the spawn; a spawn that fails with something else than
    SpawnError (an embedded Supervisor's own spawner, a bug) removes it too."""
    tree = CgroupTree.find()
    assert tree is not None
    tried: list[Path] = []

    async def broken_spawner(
        argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int] = ()
    ) -> ChildProcess:
        tried.append(Path(argv[3]))  # sh -c JOIN <cgroup> ...: the run's cgroup
        raise RuntimeError("the spawner broke")

    spec = AppSpec(name="broken", argv=("sleep", "1000"), cwd=tmp_path)
    async with Supervisor(
        write_logs=False, drivers=(), spawner=broken_spawner, cgroups=tree
    ) as sup:
        with contextlib.suppress(Exception):
            await sup.add(spec)
    assert tried and tried[0].parent == tree.base
    assert not tried[0].exists(), f"{tried[0]} was left behind"
