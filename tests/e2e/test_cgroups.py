"""With cgroup v2 available, each run has its own cgroup, and a stop leaves nothing behind:
not even processes that double-forked, left the session and scrubbed their environment (20 of
20 such survived ``ptm stop`` before). Without it (``PTM_CGROUPS=off`` here), they escape:
the same test shows what the cgroup is for."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from supervisor_core.process import CgroupTree
from tests.e2e.conftest import PTM, Ptm, wait_gone

ESCAPER = """
import os, sys, time
out = sys.argv[1]
for _ in range(20):
    if os.fork() == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            os.execve("/bin/sleep", ["sleep", "1000"], {})  # no PTM_RUN_ID, no group
        with open(out, "a") as f:
            f.write(f"{grandchild}\\n")
        os._exit(0)
for _ in range(20):
    os.wait()
print("escaped", flush=True)
while True:
    time.sleep(1)
"""

needs_cgroups = pytest.mark.skipif(
    CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy on this machine"
)


def escapees(ptm: Ptm) -> set[int]:
    ptm.write("escaper.py", ESCAPER)
    pids = ptm.cwd / "escaped.pids"
    ptm.write(
        "ecosystem.toml",
        f'[[apps]]\nname = "escaper"\nscript = "escaper.py"\nargs = ["{pids}"]\n'
        'kill_timeout = "1s"\n',
    )
    ptm.ok("start", "ecosystem.toml")
    deadline = time.monotonic() + 20
    while not pids.exists() or len(pids.read_text().split()) < 20:
        assert time.monotonic() < deadline, "the app did not fork its 20 escapees"
        time.sleep(0.05)
    found = {int(pid) for pid in pids.read_text().split()}
    for pid in found:
        process = psutil.Process(pid)
        assert "PTM_RUN_ID" not in process.environ()  # the mark cannot find them
        assert os.getpgid(pid) != os.getpgid(ptm.jlist()[0]["pid"])  # nor the group
    return found


def kill_left(pids: set[int], wait: float = 5) -> set[int]:
    left = wait_gone(pids, wait)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # our own app's grandchildren, by pid
    return left


@needs_cgroups
def test_a_stop_kills_what_escaped_group_session_and_environment(ptm: Ptm) -> None:
    pids = escapees(ptm)
    (run_cgroup,) = [
        path
        for path in CgroupTree.find().base.iterdir()  # type: ignore[union-attr]
        if path.is_dir() and psutil.Process(ptm.jlist()[0]["pid"]).pid in CgroupTree.members(path)
    ]
    assert pids <= set(CgroupTree.members(run_cgroup))
    try:
        ptm.ok("stop", "escaper")
        assert kill_left(pids) == set(), "escaped processes outlived ptm stop"
        assert not run_cgroup.exists()  # removed once empty
    finally:
        kill_left(pids)


@needs_cgroups
def test_without_cgroups_the_same_processes_escape(
    ptm: Ptm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTM_CGROUPS", "off")
    pids = escapees(ptm)
    try:
        ptm.ok("stop", "escaper")
        assert kill_left(pids, wait=0) == pids  # all 20 survived the stop: what cgroups fix
    finally:
        kill_left(pids)


def sigkilled_daemon_cgroups(ptm: Ptm, tree: CgroupTree) -> set[Path]:
    """Two apps under a daemon killed with SIGKILL: the run cgroups it left (emptied, as the
    apps ended with it through the parent-death signal)."""
    ptm.ecosystem(("app", 2))
    ptm.ok("start", "ecosystem.toml")
    pids = {row["pid"] for row in ptm.wait_online(2)}
    left = {path for path in tree.base.iterdir() if set(CgroupTree.members(path)) & pids}
    assert len(left) == 2
    daemon = ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    assert wait_gone(pids, 10) == set()
    # Emptied; or removed already by a ptm another test started meanwhile (any ptm's start
    # removes the empty run cgroups of an owner that is gone).
    assert all(not path.is_dir() or CgroupTree.members(path) == [] for path in left)
    assert all(path.name.startswith(f"{daemon}-") for path in left)  # named after their owner
    return left


@needs_cgroups
def test_the_next_ptm_run_removes_the_run_cgroups_a_sigkilled_daemon_left(ptm: Ptm) -> None:
    """A daemon killed with SIGKILL cannot remove its runs' cgroups. The next start of ptm on
    the machine (here ``ptm run``) removes them: their owner is gone."""
    tree = CgroupTree.find()
    assert tree is not None
    left = sigkilled_daemon_cgroups(ptm, tree)
    ptm.write("once.py", "print('done', flush=True)\n")
    ptm.write("once.toml", '[[apps]]\nname = "once"\nscript = "once.py"\nautorestart = false\n')
    done = ptm("run", "once.toml", timeout=30)
    assert done.returncode == 0, done.stderr
    assert [path for path in left if path.exists()] == []


@needs_cgroups
def test_the_next_daemon_of_another_home_removes_them_too(ptm: Ptm, tmp_path: Path) -> None:
    """Not by the killed daemon's run records (another PTM_HOME has none of them, and a run
    spawned just before the SIGKILL may not be recorded yet): by their dead owner."""
    tree = CgroupTree.find()
    assert tree is not None
    left = sigkilled_daemon_cgroups(ptm, tree)
    other = {**os.environ, "PTM_HOME": str(tmp_path / "other-home")}
    try:
        started = subprocess.run(
            [*PTM, "jlist"], capture_output=True, text=True, timeout=40, env=other
        )
        assert started.returncode == 0, started.stderr
        assert [path for path in left if path.exists()] == []
    finally:
        subprocess.run([*PTM, "kill"], capture_output=True, timeout=60, env=other)


@needs_cgroups
def test_the_next_ptm_run_stops_what_a_sigkilled_ptm_run_left_running(ptm: Ptm) -> None:
    """``ptm run`` killed with SIGKILL: its app gets its kill_signal from the kernel and ends,
    but the app's own child is told nothing and runs on, an orphan in the run's cgroup (and
    holding whatever port it held: pm2#2530's duplicates, with EADDRINUSE). No daemon's
    restore knows that run; the next ``ptm run`` stops what is left in the cgroups of a
    supervisor that is gone, then removes them."""
    ptm.write(
        "parent.py",
        """
        import os, subprocess, time
        kid = subprocess.Popen(["sleep", "1000"])
        print("family", os.getpid(), kid.pid, flush=True)
        while True:
            time.sleep(0.1)
        """,
    )
    ptm.write("family.toml", '[[apps]]\nname = "family"\nscript = "parent.py"\n')
    run = subprocess.Popen(
        [*PTM, "run", "family.toml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ptm.cwd,
    )
    pids: set[int] = set()
    try:
        assert run.stdout is not None
        deadline = time.monotonic() + 20
        for line in run.stdout:
            if line.startswith(b"family | family"):
                pids = {int(x) for x in line.split()[-2:]}
                break
            assert time.monotonic() < deadline
        assert pids, "the app never said it was up"
        app, kid = sorted(pids, key=lambda pid: psutil.Process(pid).create_time())
        run.kill()
        run.communicate(timeout=15)
        assert wait_gone({app}, 10) == set()  # the kernel's parent-death signal
        assert wait_gone({kid}, 1) == {kid}  # told nothing: left running
        ptm.write("once.py", "print('done', flush=True)\n")
        ptm.write("once.toml", '[[apps]]\nname = "once"\nscript = "once.py"\nautorestart = false\n')
        done = ptm("run", "once.toml", timeout=30)
        assert done.returncode == 0, done.stderr
        assert wait_gone({kid}, 10) == set(), "the next ptm run left the orphan running"
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        kill_left(pids, wait=0)
