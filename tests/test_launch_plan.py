"""The launch plan (argv, env, fds) and readiness, without starting a process."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from supervisor_core.config import AppSpec, RestartPolicy, StopPolicy
from supervisor_core.config._specs import ReadinessSpec
from supervisor_core.errors import SpawnError
from supervisor_core.process import RUN_ID_VAR, launch_plan
from supervisor_core.process._readiness import await_ready

FAST = pytest.mark.timeout(2)


def app(tmp_path: Path, **kw: object) -> AppSpec:
    return AppSpec(
        name="web",
        argv=(sys.executable, "-c", "pass"),
        cwd=tmp_path,
        env={"MODE": "test", "NOTIFY_SOCKET": "/app/own"},
        **kw,  # type: ignore[arg-type]
    )


@FAST
def test_plain_plan(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "LISTEN_FDS": "7", "NOTIFY_SOCKET": "/elsewhere"}
    plan = launch_plan(app(tmp_path), 2, run_id="r1", base_env=base)
    assert plan.argv == (sys.executable, "-c", "pass")
    assert plan.cwd == tmp_path
    assert plan.pass_fds == ()
    assert plan.env["PTM_INSTANCE"] == "2" and plan.env[RUN_ID_VAR] == "r1"
    assert plan.env["MODE"] == "test" and plan.env["PYTHONUNBUFFERED"] == "1"
    assert "LISTEN_FDS" not in plan.env  # never inherited from the supervisor
    assert "NOTIFY_SOCKET" not in plan.env  # without ptm's socket, none at all


@FAST
def test_the_callers_environment_is_inherited_instead_of_the_supervisors(tmp_path: Path) -> None:
    caller = {"FOO": "bar", "MODE": "caller", "PTM_APP_NAME": "spoofed", "LISTEN_FDS": "4"}
    spec = app(tmp_path, inherit_env=caller)
    plan = launch_plan(spec, 0, run_id="r", base_env={"DAEMON_ONLY": "1"})
    assert plan.env["FOO"] == "bar" and "DAEMON_ONLY" not in plan.env
    assert plan.env["MODE"] == "test"  # the app's env goes over the caller's
    assert plan.env["PTM_APP_NAME"] == "web"  # ptm's own variables win
    assert "LISTEN_FDS" not in plan.env
    daemon = launch_plan(app(tmp_path), 0, run_id="r", base_env={"DAEMON_ONLY": "1"})
    assert daemon.env["DAEMON_ONLY"] == "1" and "FOO" not in daemon.env


@FAST
def test_notify_socket_and_shared_listen_socket(tmp_path: Path) -> None:
    sock = tmp_path / "notify.sock"
    plan = launch_plan(app(tmp_path), 0, run_id="r", notify_socket=sock, listen_fd=5, base_env={})
    assert plan.env["NOTIFY_SOCKET"] == str(sock)
    assert (plan.env["LISTEN_FDS"], plan.env["LISTEN_FDNAMES"]) == ("1", "web")
    assert plan.pass_fds == (5,)
    bash, dash_c, script, name, *rest = plan.argv
    assert (dash_c, name, rest) == ("-c", "ptm-listen", [sys.executable, "-c", "pass"])
    assert bash.endswith("bash")
    assert "exec 3<&5 5<&-" in script and "LISTEN_PID=$$" in script
    on_three = launch_plan(app(tmp_path), 0, run_id="r", listen_fd=3, base_env={})
    assert "exec 3<&" not in on_three.argv[2]


@FAST
def test_die_with_supervisor_wraps_in_setpriv(tmp_path: Path) -> None:
    spec = app(tmp_path, stop=StopPolicy(kill_signal=signal.SIGINT))
    plan = launch_plan(
        spec, 0, run_id="r", die_with_supervisor=True, setpriv="/usr/bin/setpriv", base_env={}
    )
    assert plan.argv[:4] == ("/usr/bin/setpriv", "--pdeathsig", "INT", "--")
    unwrapped = launch_plan(spec, 0, run_id="r", die_with_supervisor=True, setpriv=None)
    assert unwrapped.argv == spec.argv  # no setpriv on this system: run it as is


@FAST
def test_a_cgroup_is_joined_first_by_a_shell_that_then_becomes_the_app(tmp_path: Path) -> None:
    spec = app(tmp_path)
    cgroup = tmp_path / "ptm-runs" / "r"
    plan = launch_plan(
        spec,
        0,
        run_id="r",
        die_with_supervisor=True,
        setpriv="/usr/bin/setpriv",
        base_env={},
        cgroup=cgroup,
    )
    assert plan.argv[:2] == ("/bin/sh", "-c") and plan.argv[3] == str(cgroup)
    assert plan.argv[4:6] == ("/usr/bin/setpriv", "--pdeathsig")  # the shell is outermost
    with pytest.raises(SpawnError, match="no-such-program-ptm"):  # resolved, not a 127 exit
        launch_plan(
            AppSpec(name="x", argv=("no-such-program-ptm",), cwd=tmp_path),
            0,
            run_id="r",
            cgroup=cgroup,
        )


@FAST
def test_a_program_that_cannot_be_found_behind_a_wrapper(tmp_path: Path) -> None:
    spec = AppSpec(name="x", argv=("no-such-program-ptm",), cwd=tmp_path)
    with pytest.raises(SpawnError, match="no-such-program-ptm"):
        launch_plan(spec, 0, run_id="r", listen_fd=4)


# ------------------------------------------------------------------------------ readiness
@dataclass
class Proc:
    pid: int = 1 << 30
    returncode: int | None = None
    stdout: None = None
    stderr: None = None
    ended: anyio.Event = field(default_factory=anyio.Event)

    async def wait(self) -> int:
        await self.ended.wait()
        assert self.returncode is not None
        return self.returncode


class Clock:
    """Time stands still until a sleeper's deadline is asked for; then it jumps there (or,
    when ``stopped``, never comes)."""

    def __init__(self, *, stopped: bool = False) -> None:
        self.time = 0.0
        self.stopped = stopped

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        if self.stopped:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        self.time = max(self.time, deadline)


@pytest.mark.anyio
@FAST
async def test_never_ready_within_listen_timeout(tmp_path: Path) -> None:
    spec = app(tmp_path, readiness=ReadinessSpec(wait_ready=True, listen_timeout=8.0))
    ok, detail = await await_ready(spec, 0, Proc(), anyio.Event(), clock=Clock())
    assert (ok, detail) == (False, "no READY=1 within 8s")


@pytest.mark.anyio
@FAST
async def test_ready_by_notify_and_not_ready_by_exit(tmp_path: Path) -> None:
    spec = app(tmp_path, readiness=ReadinessSpec(wait_ready=True, listen_timeout=5.0))
    notified = anyio.Event()
    notified.set()
    clock = Clock(stopped=True)
    assert await await_ready(spec, 0, Proc(), notified, clock=clock) == (True, "READY=1")
    proc = Proc(returncode=4)
    proc.ended.set()
    ok, detail = await await_ready(spec, 0, proc, anyio.Event(), clock=clock)
    assert (ok, detail) == (False, "exited with code 4 while starting")


@pytest.mark.anyio
@FAST
async def test_without_wait_ready_up_after_min_uptime(tmp_path: Path) -> None:
    spec = app(tmp_path, restart=RestartPolicy(min_uptime=30.0))
    clock = Clock()
    assert await await_ready(spec, 0, Proc(), anyio.Event(), clock=clock) == (True, "up")
    assert clock.time == 30.0
