"""The launch plan of one run: its command line, environment and inherited fds.

Nothing here starts a process: :func:`launch_plan` turns an app's spec and the supervisor's
plumbing (the ``$NOTIFY_SOCKET`` path, a shared listening socket, whether apps must die with
the supervisor) into a :class:`LaunchPlan` that a spawner executes. The only thing it looks
at is the file system, to resolve the program when it must be named behind a wrapper.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor_core.config import AppSpec
from supervisor_core.errors import ConfigError, SpawnError
from supervisor_core.process._spawn import build_env

__all__ = [
    "BASH",
    "SETPRIV",
    "LaunchPlan",
    "check_run_as",
    "launch_argv",
    "launch_plan",
    "run_as",
]

SETPRIV = shutil.which("setpriv")
BASH = shutil.which("bash") or "/bin/bash"  # dash cannot name fds above 9
SH = "/bin/sh"
_LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
_JOIN_CGROUP = '{ echo 0 >"$0/cgroup.procs"; } 2>/dev/null; exec "$@"'
"""``sh -c`` script: move this process into the cgroup named by $0 (writing 0 to cgroup.procs
moves the writer), then become the app."""


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
    cgroup: Path | None = None,
) -> LaunchPlan:
    """The plan of one run of instance ``index`` of ``spec``. Raises SpawnError when the
    program must be resolved (behind a wrapper) and cannot be found.

    The run inherits ``spec.inherit_env`` (the caller of ``ptm start``) when the spec has
    one, else ``base_env`` (default: this process's environment)."""
    env = build_env(
        app=spec.name,
        instance=index,
        app_env=spec.env,
        run_id=run_id,
        ptm_home=str(ptm_home) if ptm_home is not None else None,
        base=spec.inherit_env if spec.inherit_env is not None else base_env,
    )
    if spec.increment_var is not None:  # checked by the loader: an integer of spec.env
        env[spec.increment_var] = str(int(spec.env[spec.increment_var]) + index)
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
    if spec.user is not None:
        account = pwd.getpwnam(spec.user)
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    argv = launch_argv(
        spec,
        listen_fd=listen_fd,
        setpriv=setpriv if die_with_supervisor else None,
        identity=setpriv,
        cgroup=cgroup,
    )
    return LaunchPlan(argv=argv, cwd=spec.cwd, env=env, pass_fds=pass_fds)


def check_run_as(spec: AppSpec) -> None:
    """Refuse (ConfigError) an app that must run as another user in a process that is not
    root: only root can become someone else."""
    ids = run_as(spec)
    if ids is not None and ids != (os.geteuid(), os.getegid()) and os.geteuid() != 0:
        key = "user" if spec.user is not None else "group"
        raise ConfigError(
            f"{spec.name}: {key}: only a daemon running as root can run an app as another"
            f" user (this one runs as uid {os.geteuid()})"
        )


def run_as(spec: AppSpec) -> tuple[int, int] | None:
    """The (uid, gid) the app runs as, when it names a ``user`` or a ``group``."""
    if spec.user is None and spec.group is None:
        return None
    account = pwd.getpwnam(spec.user) if spec.user is not None else None
    uid = account.pw_uid if account is not None else os.getuid()
    if spec.group is not None:
        gid = grp.getgrnam(spec.group).gr_gid
    else:
        gid = account.pw_gid if account is not None else os.getgid()
    return uid, gid


def launch_argv(
    spec: AppSpec,
    *,
    listen_fd: int | None = None,
    setpriv: str | None = None,
    identity: str | None = SETPRIV,
    cgroup: Path | None = None,
) -> tuple[str, ...]:
    """The command line. With a shared listening socket, behind a ``bash`` that moves it to
    fd 3 and sets ``LISTEN_PID`` to the app's own pid (systemd's convention); with
    ``setpriv`` (the instance must die with the supervisor, as under the daemon), behind
    ``setpriv --pdeathsig``: if the daemon is killed, the kernel sends the app its
    kill_signal. With a ``user`` or ``group``, behind ``setpriv --reuid --regid`` (the
    ``identity`` program), with the user's supplementary groups. With a ``cgroup``, behind
    a ``sh`` that first moves itself into it, so that the app is born in its run's cgroup
    and nothing it forks, however early, is left outside (the supervisor moves the pid there
    too once it is spawned: a write that failed here is made good there)."""
    argv = spec.argv
    ids = run_as(spec)
    if ids is not None and identity is None:
        raise SpawnError("cannot run as another user: setpriv (util-linux) is not installed")
    if setpriv is not None or listen_fd is not None or ids is not None or cgroup is not None:
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
    if ids is not None:
        assert identity is not None
        groups = ("--init-groups",) if spec.user is not None else ("--clear-groups",)
        who = (f"--reuid={ids[0]}", f"--regid={ids[1]}", *groups)
        argv = (identity, *who, "--", *argv)
    if cgroup is not None:  # outermost: only the daemon's own user may write cgroup.procs
        argv = (SH, "-c", _JOIN_CGROUP, str(cgroup), *argv)
    return argv
