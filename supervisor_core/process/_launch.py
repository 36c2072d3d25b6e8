"""The launch plan of one run: its command line, environment and inherited fds.

Nothing here starts a process: :func:`launch_plan` turns an app's spec and the supervisor's
plumbing (the ``$NOTIFY_SOCKET`` path, a shared listening socket, whether apps must die with
the supervisor) into a :class:`LaunchPlan` that a spawner executes. The only thing it looks
at is the file system, to resolve the program when it must be named behind a wrapper.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor_core.config import AppSpec
from supervisor_core.errors import SpawnError
from supervisor_core.process._spawn import build_env

__all__ = ["BASH", "SETPRIV", "LaunchPlan", "launch_argv", "launch_plan"]

SETPRIV = shutil.which("setpriv")
BASH = shutil.which("bash") or "/bin/bash"  # dash cannot name fds above 9
_LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


@dataclass(frozen=True)
class LaunchPlan:
    """What to execute for one run."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    pass_fds: tuple[int, ...] = ()


def launch_plan(
    spec: AppSpec,
    index: int,
    *,
    run_id: str,
    ptm_home: Path | None = None,
    notify_socket: Path | None = None,
    listen_fd: int | None = None,
    die_with_supervisor: bool = False,
    base_env: Mapping[str, str] | None = None,
    setpriv: str | None = SETPRIV,
) -> LaunchPlan:
    """The plan of one run of instance ``index`` of ``spec``. Raises SpawnError when the
    program must be resolved (behind a wrapper) and cannot be found."""
    env = build_env(
        app=spec.name,
        instance=index,
        app_env=spec.env,
        run_id=run_id,
        ptm_home=str(ptm_home) if ptm_home is not None else None,
        base=base_env,
    )
    if notify_socket is not None:
        env["NOTIFY_SOCKET"] = str(notify_socket)
    else:
        env.pop("NOTIFY_SOCKET", None)
    pass_fds: tuple[int, ...] = ()
    if listen_fd is not None:
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = spec.name
        pass_fds = (listen_fd,)
    else:
        for key in _LISTEN_VARS:
            env.pop(key, None)
    argv = launch_argv(
        spec,
        listen_fd=listen_fd,
        setpriv=setpriv if die_with_supervisor else None,
    )
    return LaunchPlan(argv=argv, cwd=spec.cwd, env=env, pass_fds=pass_fds)


def launch_argv(
    spec: AppSpec, *, listen_fd: int | None = None, setpriv: str | None = None
) -> tuple[str, ...]:
    """The command line. With a shared listening socket, behind a ``bash`` that moves it to
    fd 3 and sets ``LISTEN_PID`` to the app's own pid (systemd's convention); with
    ``setpriv`` (the instance must die with the supervisor, as under the daemon), behind
    ``setpriv --pdeathsig``: if the daemon is killed, the kernel sends the app its
    kill_signal."""
    argv = spec.argv
    if setpriv is not None or listen_fd is not None:
        program = argv[0]
        resolved = program if "/" in program else shutil.which(program)
        if resolved is None or not os.access(resolved, os.X_OK):
            raise SpawnError(
                f"cannot start {program!r} in {str(spec.cwd)!r}: No such file or not executable"
            )
        argv = (resolved, *argv[1:])
    if listen_fd is not None:
        move = "" if listen_fd == 3 else f"exec 3<&{listen_fd} {listen_fd}<&-; "
        script = f'LISTEN_PID=$$; export LISTEN_PID; {move}exec "$@"'
        argv = (BASH, "-c", script, "ptm-listen", *argv)
    if setpriv is not None:
        signame = spec.stop.kill_signal.name.removeprefix("SIG")
        argv = (setpriv, "--pdeathsig", signame, "--", *argv)
    return argv
