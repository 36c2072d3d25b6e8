"""Spawning one instance: its own session and process group, its environment."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import ByteReceiveStream

from supervisor_core._fds import SPAWN_RESERVE, check_reserve
from supervisor_core.errors import SpawnError
from supervisor_core.process._pipes import PipedProcess, PipeReader, open_pipe

__all__ = [
    "RUN_ID_VAR",
    "ChildProcess",
    "Spawner",
    "build_env",
    "pid_still_ours",
    "signal_process",
    "spawn",
]

RUN_ID_VAR = "PTM_RUN_ID"
"""Every run gets a unique id in this variable: descendants inherit it, so a process that
escaped the process group (setsid, double fork) is still found and stopped."""


class ChildProcess(Protocol):
    """What the supervisor needs of a started process (``anyio.abc.Process`` is one)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    @property
    def stdout(self) -> ByteReceiveStream | None: ...

    @property
    def stderr(self) -> ByteReceiveStream | None: ...


class Spawner(Protocol):
    """Starts one run (:func:`spawn` is the real one); raises SpawnError when it cannot."""

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        pass_fds: Sequence[int] = (),
    ) -> ChildProcess: ...


def build_env(
    *,
    app: str,
    instance: int,
    app_env: Mapping[str, str],
    run_id: str,
    ptm_home: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one run.

    The supervisor's own environment, then ``PYTHONUNBUFFERED=1`` (so Python output reaches
    the logs at once), then the app's ``env``; ptm's identity variables come last and win.
    """
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(app_env)
    env["PTM_APP_NAME"] = app
    env["PTM_INSTANCE"] = str(instance)
    env["NODE_APP_INSTANCE"] = str(instance)
    if ptm_home is not None:
        env["PTM_HOME"] = ptm_home
    env[RUN_ID_VAR] = run_id
    return env


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    pass_fds: Sequence[int] = (),
) -> ChildProcess:
    """Start ``argv`` in a new session (so its pid is its process-group id).

    stdin is /dev/null; stdout and stderr are pipes that the caller must drain.
    Raises SpawnError (never OSError) when the program cannot be executed, and without
    starting anything when too few file descriptors are left to start it whole (a child
    whose pidfd could not be opened would be lost).
    """
    try:
        check_reserve(argv[0], SPAWN_RESERVE)
    except OSError as exc:
        raise SpawnError(f"not started: {exc.strerror}") from None
    try:
        out_read, out_write = open_pipe()
    except OSError as exc:
        raise SpawnError(f"not started: {exc.strerror or exc}") from None
    try:
        err_read, err_write = open_pipe()
    except OSError as exc:
        os.close(out_read)
        os.close(out_write)
        raise SpawnError(f"not started: {exc.strerror or exc}") from None
    try:
        proc = await anyio.open_process(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out_write,
            stderr=err_write,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        os.close(out_read)
        os.close(err_read)
        what = exc.strerror or str(exc)
        raise SpawnError(f"cannot start {argv[0]!r} in {str(cwd)!r}: {what}") from exc
    except (ValueError, TypeError) as exc:  # e.g. "embedded null byte": never a traceback
        os.close(out_read)
        os.close(err_read)
        raise SpawnError(f"cannot start {argv[0]!r} in {str(cwd)!r}: {exc}") from exc
    finally:
        os.close(out_write)  # the child holds them now
        os.close(err_write)
    return PipedProcess(proc, PipeReader(out_read), PipeReader(err_read))


def pid_still_ours(process: ChildProcess) -> bool:
    """Whether our child's pid (and so its group id) cannot belong to anyone else yet: it
    runs, or it is a zombie nobody has reaped.

    ``returncode`` alone is not enough: asyncio's child watcher reaps first and records the
    exit an event-loop iteration or more later, and in between the kernel may give the pid
    to a new process. ``waitid(WNOWAIT)`` asks the kernel without reaping anything.
    """
    if process.returncode is not None:
        return False
    try:
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False  # reaped already; asyncio has not recorded it yet
    return True


def signal_process(process: ChildProcess, sig: int) -> bool:
    """Send ``sig`` to our child ``process`` while its pid is still ours; True if sent.

    Never ``process.send_signal()``: the subprocess module polls (``waitpid(WNOHANG)``)
    before signalling, so a child that had just died (a SIGKILL to its group a moment
    before) is reaped there, and asyncio's child watcher then reports exit code 255 instead
    of the real status. ``os.kill`` reaps nothing, and :func:`pid_still_ours` keeps the
    signal from a pid that was reaped and may have been given to a stranger.
    """
    if not pid_still_ours(process):
        return False
    try:
        os.kill(process.pid, signal.Signals(sig))
    except ProcessLookupError:
        return False
    return True
