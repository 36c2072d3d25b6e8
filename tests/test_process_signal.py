"""Signalling our own child never reaps it behind asyncio's back.

The subprocess module polls (waitpid WNOHANG) before it signals. A child that had just been
killed through its process group was reaped there, and asyncio then reported exit code 255
instead of SIGKILL (a CI failure of the kill_timeout test). These tests make the race
deterministic: asyncio's pidfd watcher reaps only when the event loop runs, and the test
holds the loop while the child is a zombie.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.abc import Process

from supervisor_core.process import pid_still_ours, signal_process, stop_tree

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pidfd_watcher() -> AsyncIterator[None]:
    """asyncio's pidfd child watcher for this test only (it is bound to one loop)."""
    if not hasattr(asyncio, "PidfdChildWatcher") or sys.version_info >= (3, 12):
        pytest.skip("needs Python 3.11's pluggable child watchers")
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        pytest.skip("no pidfd on this kernel")
    previous = asyncio.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
    try:
        yield
    finally:
        asyncio.set_child_watcher(previous)
        watcher.close()


async def _sleeper() -> Process:
    return await anyio.open_process(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _hold_until_zombie(pid: int) -> None:
    """Block (without yielding to the loop) until ``pid`` is a zombie; 10 s deadline."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat", "rb") as file:
            state = file.read().rsplit(b")", 1)[1].split()[0]
        if state == b"Z":
            return
        time.sleep(0.001)
    raise AssertionError(f"pid {pid} never became a zombie")


async def test_signal_to_a_just_killed_child_keeps_its_real_exit_status(
    pidfd_watcher: None,
) -> None:
    proc = await _sleeper()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        _hold_until_zombie(proc.pid)
        signal_process(proc, signal.SIGTERM)  # the old code reaped the zombie right here
        with anyio.fail_after(10):
            code = await proc.wait()
        assert code == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_signal_process_after_the_exit_is_known_sends_nothing() -> None:
    proc = await _sleeper()
    os.kill(proc.pid, signal.SIGKILL)
    with anyio.fail_after(10):
        await proc.wait()
    assert signal_process(proc, signal.SIGTERM) is False


async def test_stop_tree_escalation_reports_the_sigkill(pidfd_watcher: None) -> None:
    """stop_tree's SIGKILL to the group and then to the child itself: the child's own exit
    status is SIGKILL, never 255."""
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print(1, flush=True); time.sleep(60)"
    )
    proc = await anyio.open_process(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        with anyio.fail_after(10):
            await proc.stdout.receive()  # SIGTERM is ignored from here on
        report = await stop_tree(
            proc,
            pgid=proc.pid,
            run_id="no-such-run",
            started_at=time.time(),
            sig=signal.SIGTERM,
            timeout=0.2,
        )
        assert report.escalated
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_a_reaped_pid_is_not_ours_even_before_asyncio_knows(pidfd_watcher: None) -> None:
    """Between the watcher's reap and asyncio recording the exit, ``returncode`` is still
    None but the pid may already be someone else's: nothing is sent to it."""
    proc = await _sleeper()
    assert pid_still_ours(proc)
    os.kill(proc.pid, signal.SIGKILL)
    _hold_until_zombie(proc.pid)
    assert pid_still_ours(proc)  # a zombie keeps its pid
    os.waitpid(proc.pid, os.WNOHANG)  # noqa: ASYNC222 - a zombie: the watcher's reap, loop not told
    assert proc.returncode is None
    assert not pid_still_ours(proc)
    assert signal_process(proc, signal.SIGTERM) is False
    with anyio.fail_after(10):
        await proc.wait()  # asyncio finds it reaped (its 255); nothing is left to clean up
