"""Scale, signal, reset, replace (startOrRestart) and dying with the supervisor."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from supervisor_core import Supervisor
from tests.helpers import Output, alive, kill_if_alive, python_app

pytestmark = pytest.mark.anyio

SLEEPER = """
    import os, signal, sys, time
    signal.signal(signal.SIGUSR1, lambda *a: print("usr1", flush=True))
    print("up", os.environ["PTM_INSTANCE"], os.environ.get("COLOR", "-"), flush=True)
    while True:
        time.sleep(1)
"""


async def test_scale_up_and_down_keeps_running_instances(tmp_path: Path) -> None:
    out = Output()
    spec = python_app(tmp_path, "pool", SLEEPER, instances=2)
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: len(out.of("pool")) == 2)
        before = [i.pid for i in sup.info("pool")]
        infos = await sup.scale("pool", 4)
        assert [i.instance for i in infos] == [0, 1, 2, 3]
        assert [i.pid for i in infos[:2]] == before
        assert all(i.status == "online" for i in infos)
        await out.wait_for(lambda: len(out.of("pool")) == 4)
        dropped = [i.pid for i in infos[1:]]
        infos = await sup.scale("pool", 1)
        assert [(i.instance, i.pid) for i in infos] == [(0, before[0])]
        assert not any(alive(p) for p in dropped if p)
        assert sup.spec("pool").instances == 1


async def test_signal_and_reset(tmp_path: Path) -> None:
    out = Output()
    spec = python_app(tmp_path, "sig", SLEEPER)
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: len(out.of("sig")) == 1)
        pids = sup.send_signal("sig", signal.SIGUSR1)
        assert pids == [sup.info("sig")[0].pid]
        await out.wait_for(lambda: b"usr1" in out.of("sig"))
        await sup.restart("sig")
        assert sup.info("sig")[0].restarts == 1
        infos = sup.reset("sig")
        assert infos[0].restarts == 0 and infos[0].last_restart_reason is None
        await sup.stop("sig")
        assert sup.send_signal("sig", signal.SIGUSR1) == []


async def test_replace_restarts_with_new_settings_and_keeps_counters(tmp_path: Path) -> None:
    out = Output()
    spec = python_app(tmp_path, "app", SLEEPER, env={"COLOR": "red"})
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.replace(spec)  # unknown: added
        await out.wait_for(lambda: out.of("app") == [b"up 0 red"])
        old_pid = sup.info("app")[0].pid
        new = dataclasses.replace(spec, env={"COLOR": "blue"}, instances=2)
        infos = await sup.replace(new)
        await out.wait_for(lambda: len(out.of("app")) == 3)
        assert sorted(out.of("app")[1:]) == [b"up 0 blue", b"up 1 blue"]
        assert old_pid is not None and not alive(old_pid)
        assert [(i.restarts, i.last_restart_reason) for i in infos] == [(1, "manual"), (0, None)]


def test_apps_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    """With die_with_supervisor (what the daemon uses), SIGKILL of the supervising process
    makes the kernel send each app its kill_signal: nothing keeps running unmanaged."""
    app_code = textwrap.dedent(
        """
        import os, time
        print("app", os.getpid(), flush=True)
        time.sleep(60)
        """
    )
    (tmp_path / "app.py").write_text(app_code)
    runner = textwrap.dedent(
        f"""
        import sys, anyio
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from supervisor_core import Supervisor, build_app

        def show(app, i, stream, lines):
            for line in lines:
                print(line.decode(), flush=True)

        async def main():
            spec = build_app({{"name": "victim", "script": "app.py", "instances": 2}},
                             base_dir=__import__("pathlib").Path({str(tmp_path)!r}))
            async with Supervisor(write_logs=False, on_output=show,
                                  die_with_supervisor=True) as sup:
                await sup.add(spec)
                await anyio.sleep(60)

        anyio.run(main)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", runner], stdout=subprocess.PIPE, cwd=tmp_path)
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 15
        while len(pids) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith(b"app "):
                pids.append(int(line.split()[1]))
        assert len(pids) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(alive(p) for p in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        kill_if_alive(pids)


async def test_die_with_supervisor_keeps_spawn_errors_clear(tmp_path: Path) -> None:
    from supervisor_core import AppSpec, RestartPolicy

    spec = AppSpec(
        name="ghost",
        argv=(str(tmp_path / "missing"),),
        cwd=tmp_path,
        restart=RestartPolicy(max_restarts=0),
    )
    async with Supervisor(write_logs=False, die_with_supervisor=True) as sup:
        await sup.add(spec)
        await sup.wait_until(lambda i: i[0].status == "errored", timeout=10)
        assert "missing" in (sup.runs("ghost")[0].error or "")


async def test_unhealthy_restarts_follow_the_crash_rules(tmp_path: Path) -> None:
    """report_unhealthy restarts with reason health; quick unhealthy runs are unstable and
    end errored after max_restarts, with backoff between them."""
    from supervisor_core import RestartPolicy

    out = Output()
    spec = python_app(
        tmp_path,
        "sick",
        SLEEPER,
        restart=RestartPolicy(max_restarts=2, min_uptime=30.0, restart_delay=0.05),
    )
    async with Supervisor(write_logs=False, on_output=out) as sup:
        async with sup.subscribe() as events:
            await sup.add(spec)
            sup.set_health("sick", 0, {"ok": False, "detail": "HTTP 503", "failures": 3})
            assert sup.info("sick")[0].health == {"ok": False, "detail": "HTTP 503", "failures": 3}
            statuses: list[tuple[str, str | None]] = []
            for _ in range(3):
                await sup.wait_until(lambda i: i[0].status == "online", timeout=10)
                await sup.report_unhealthy("sick", 0, "HTTP 503 three times")
            with anyio.fail_after(10):
                async for event in events:
                    statuses.append((event.status, event.reason))
                    if event.status == "errored":
                        break
        info = sup.info("sick")[0]
        assert info.status == "errored"
        assert info.restarts == 2 and info.last_restart_reason == "health"
        assert ("stopping", "health") in statuses
        assert ("waiting restart", "health") in statuses
        assert [r.end_reason for r in sup.runs("sick")] == ["health"] * 3


async def test_a_conditional_restart_never_revives_a_stopped_app(tmp_path: Path) -> None:
    """A cron/watch restart that arrives after a stop is dropped by the instance itself."""
    spec = python_app(tmp_path, "quiet", SLEEPER)
    async with Supervisor(write_logs=False) as sup:
        await sup.add(spec)
        await sup.stop("quiet")
        infos = await sup.restart("quiet", "cron", only_if={"online", "launching"})
        assert infos[0].status == "stopped" and infos[0].restarts == 0
        await sup.start("quiet")
        infos = await sup.restart("quiet", "cron", only_if={"online", "launching"})
        assert infos[0].restarts == 1 and infos[0].last_restart_reason == "cron"


async def test_a_never_healthy_run_counts_as_unstable(tmp_path: Path) -> None:
    """Health restarts of runs that never answered end errored even when each run outlived
    min_uptime (else an always-unhealthy app would restart forever)."""
    from supervisor_core import RestartPolicy

    code = """
        import os, time
        time.sleep(0.3)
        print("up", os.getpid(), flush=True)
        time.sleep(60)
    """
    out = Output()
    spec = python_app(
        tmp_path, "never", code, restart=RestartPolicy(max_restarts=1, min_uptime=0.1)
    )
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        for run in range(1, 3):
            await out.wait_for(lambda run=run: len(out.of("never")) == run)  # up > min_uptime
            await sup.report_unhealthy("never", 0, "refused", never_answered=True)
        infos = await sup.wait_until(lambda i: i[0].status == "errored", timeout=10)
        assert infos[0].restarts == 1


async def test_a_crash_after_a_health_restart_is_a_crash(tmp_path: Path) -> None:
    """The reason of a pending health restart never sticks to a later, ordinary crash."""
    from supervisor_core import RestartPolicy

    flag = tmp_path / "crash-now"
    code = f"""
        import os, pathlib, sys, time
        print("up", os.getpid(), flush=True)
        while not pathlib.Path({str(flag)!r}).exists():
            time.sleep(0.02)
        sys.exit(3)
    """
    out = Output()
    spec = python_app(
        tmp_path, "mixed", code, restart=RestartPolicy(max_restarts=0, min_uptime=30.0)
    )
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: len(out.of("mixed")) == 1)
        await sup.report_unhealthy("mixed", 0, "HTTP 503")
        await sup.wait_until(lambda i: i[0].status == "errored", timeout=10)
        await sup.start("mixed")
        await out.wait_for(lambda: len(out.of("mixed")) == 2)
        async with sup.subscribe() as events:
            flag.write_text("x")
            with anyio.fail_after(10):
                async for event in events:
                    if event.status in ("errored", "waiting restart"):
                        assert event.reason in ("crash", "errored")
                        break
        assert sup.runs("mixed")[-1].end_reason == "crash"
        assert sup.info("mixed")[0].last_restart_reason != "health"
