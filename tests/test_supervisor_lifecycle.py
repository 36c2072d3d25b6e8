"""The supervisor with real child processes: restarts, backoff, crash loops, stop."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import anyio
import pytest

from supervisor_core import Supervisor
from supervisor_core._info import StateEvent
from supervisor_core.config import AppSpec, RestartPolicy, StopPolicy
from tests.helpers import Output, alive, kill_if_alive, python_app

pytestmark = pytest.mark.anyio


async def test_crash_is_restarted_after_the_delay(tmp_path: Path) -> None:
    spec = python_app(
        tmp_path,
        "crashy",
        "import sys; print('up', flush=True); sys.exit(3)",
        restart=RestartPolicy(restart_delay=0.3, min_uptime=0.0, max_restarts=100),
    )
    async with Supervisor(write_logs=False) as sup:
        async with sup.subscribe() as stream:
            await sup.add(spec)
            events: list[StateEvent] = []
            with anyio.fail_after(15):
                async for event in stream:
                    events.append(event)
                    if sum(e.status == "online" for e in events) >= 3:
                        break
        waits = [e for e in events if e.status == "waiting restart"]
        assert waits and all(e.exit_code == 3 and e.delay == pytest.approx(0.3) for e in waits)
        for wait in waits[:2]:
            relaunch = next(
                e for e in events if e.status == "launching" and e.timestamp > wait.timestamp
            )
            # Wall-clock stamps of two events taken by the actor: on a loaded machine (CI) one
            # was seen 16 ms short of the 0.3 s delay, which runs on the monotonic clock from
            # the exit. Without the delay the gap would be a few milliseconds.
            assert relaunch.timestamp - wait.timestamp >= 0.25
        info = sup.info("crashy")[0]
        assert info.restarts >= 2
        assert info.last_restart_reason == "crash"
        runs = sup.runs("crashy")
        assert [r.exit_code for r in runs[:2]] == [3, 3]
        assert all(r.end_reason == "crash" for r in runs[:2])


async def test_backoff_grows_then_resets_after_a_good_run(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    # Runs 1-4 crash at once; run 5 stays up past min_uptime, then crashes; then at once again.
    # min_uptime 1 s: an interpreter that starts slowly on a loaded machine is still unstable.
    code = f"""
        import pathlib, sys, time
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text()) + 1 if p.exists() else 1
        p.write_text(str(n))
        if n == 5:
            time.sleep(1.3)
        sys.exit(1)
    """
    spec = python_app(
        tmp_path,
        "backoff",
        code,
        restart=RestartPolicy(exp_backoff_restart_delay=0.05, min_uptime=1.0, max_restarts=50),
    )
    async with Supervisor(write_logs=False) as sup:
        async with sup.subscribe() as stream:
            await sup.add(spec)
            delays: list[float] = []
            with anyio.fail_after(20):
                async for event in stream:
                    if event.status == "waiting restart":
                        assert event.delay is not None
                        delays.append(event.delay)
                        if len(delays) == 6:
                            break
        await sup.stop("backoff")
    # 4 unstable runs: 0.05, 0.1, 0.2, 0.4; run 5 was good: back to 0.05; run 6 unstable again.
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.05, 0.05])


async def test_crash_loop_ends_errored_after_max_restarts(tmp_path: Path) -> None:
    spec = python_app(
        tmp_path,
        "loop",
        "import sys; sys.exit(7)",
        restart=RestartPolicy(max_restarts=3, min_uptime=5.0),
    )
    async with Supervisor(write_logs=False) as sup:
        async with sup.subscribe() as stream:
            await sup.add(spec)
            with anyio.fail_after(20):
                async for event in stream:
                    if event.status == "errored":
                        assert event.exit_code == 7
                        assert event.reason == "errored"
                        break
        info = sup.info("loop")[0]
        assert info.status == "errored"
        assert info.restarts == 3
        assert info.exit_code == 7
        assert len(sup.runs("loop")) == 4
        # errored stays errored until started again; a start runs it again.
        async with sup.subscribe() as stream:
            await sup.start("loop")
            with anyio.fail_after(20):
                async for event in stream:
                    if event.status == "errored":
                        break
        assert len(sup.runs("loop")) == 8


async def test_stop_exit_codes_and_autorestart_false(tmp_path: Path) -> None:
    done = python_app(
        tmp_path,
        "done",
        "print('bye')",
        restart=RestartPolicy(stop_exit_codes=frozenset({0})),
    )
    once = python_app(
        tmp_path, "once", "import sys; sys.exit(2)", restart=RestartPolicy(autorestart=False)
    )
    async with Supervisor(write_logs=False) as sup:
        await sup.add(done)
        await sup.add(once)
        infos = await sup.wait_until(
            lambda infos: all(i.status == "stopped" for i in infos), timeout=10
        )
        by_name = {i.name: i for i in infos}
        assert by_name["done"].exit_code == 0
        assert by_name["once"].exit_code == 2
        assert by_name["done"].restarts == by_name["once"].restarts == 0


async def test_a_missing_program_ends_errored_with_the_reason(tmp_path: Path) -> None:
    spec = AppSpec(
        name="ghost",
        argv=(str(tmp_path / "no-such-program"),),
        cwd=tmp_path,
        restart=RestartPolicy(max_restarts=2),
    )
    notices: list[str] = []
    async with Supervisor(write_logs=False, on_notice=notices.append) as sup:
        await sup.add(spec)
        infos = await sup.wait_until(lambda i: i[0].status == "errored", timeout=10)
        assert infos[0].pid is None
        runs = sup.runs("ghost")
        assert len(runs) == 3
        assert all(r.end_reason == "spawn failed" and r.error for r in runs)
        assert "no-such-program" in (runs[0].error or "")
    assert any("cannot start" in n for n in notices)


async def test_stop_during_restart_delay_cancels_the_restart(tmp_path: Path) -> None:
    spec = python_app(
        tmp_path,
        "slowretry",
        "import sys; sys.exit(1)",
        restart=RestartPolicy(restart_delay=30.0),
    )
    async with Supervisor(write_logs=False) as sup:
        await sup.add(spec)
        await sup.wait_until(lambda i: i[0].status == "waiting restart", timeout=10)
        await sup.stop("slowretry")
        assert sup.info("slowretry")[0].status == "stopped"
        assert len(sup.runs("slowretry")) == 1


async def test_environment_of_each_instance(tmp_path: Path) -> None:
    code = """
        import os
        keys = ["PTM_APP_NAME", "PTM_INSTANCE", "NODE_APP_INSTANCE", "PYTHONUNBUFFERED", "GREETING"]
        print(" ".join(os.environ.get(k, "-") for k in keys))
        import time; time.sleep(60)
    """
    out = Output()
    spec = python_app(tmp_path, "envy", code, instances=2, env={"GREETING": "hi"})
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: len(out.of("envy")) == 2)
    assert sorted(out.of("envy")) == [b"envy 0 0 1 hi", b"envy 1 1 1 hi"]


async def test_manual_restart_counts_and_never_overlaps(tmp_path: Path) -> None:
    """The new process binds the same port without 'address already in use': the old tree
    (here a grandchild holding the port) is gone before the new one starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"""
        import os, socket, subprocess, sys, time
        s = socket.socket()
        s.bind(("127.0.0.1", {port}))
        s.listen()
        # a grandchild inherits the listening socket and outlives nothing on its own
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 pass_fds=[s.fileno()])
        print("bound", os.getpid(), child.pid, flush=True)
        time.sleep(60)
    """
    out = Output()
    spec = python_app(tmp_path, "web", code, stop=StopPolicy(kill_timeout=2.0))
    pids: list[int] = []
    try:
        async with Supervisor(write_logs=False, on_output=out) as sup:
            await sup.add(spec)
            await out.wait_for(lambda: len(out.of("web")) == 1)
            info = await sup.restart("web")
            assert info[0].restarts == 1
            assert info[0].last_restart_reason == "manual"
            await out.wait_for(lambda: len(out.of("web")) == 2)
            pids = [int(x) for line in out.of("web") for x in line.split()[1:]]
            assert all(line.startswith(b"bound") for line in out.of("web"))
            assert not alive(pids[0]) and not alive(pids[1])
            assert sup.info("web")[0].status == "online"
        assert not any(alive(p) for p in pids)
    finally:
        kill_if_alive(pids)


async def test_sigterm_ignoring_tree_is_killed_at_kill_timeout(tmp_path: Path) -> None:
    """A child that ignores SIGTERM, a grandchild in its group and one that escaped with
    setsid: all are gone once stop returns, after about kill_timeout."""
    code = """
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        sleeper = ignore + "time.sleep(60)"
        same_group = subprocess.Popen([sys.executable, "-c", sleeper])
        escaped = subprocess.Popen([sys.executable, "-c", sleeper], start_new_session=True)
        time.sleep(0.3)
        print("pids", os.getpid(), same_group.pid, escaped.pid, flush=True)
        time.sleep(60)
    """
    out = Output()
    notices: list[str] = []
    spec = python_app(tmp_path, "stubborn", code, stop=StopPolicy(kill_timeout=0.5))
    pids: list[int] = []
    try:
        async with Supervisor(write_logs=False, on_output=out, on_notice=notices.append) as sup:
            await sup.add(spec)
            await out.wait_for(lambda: any(x.startswith(b"pids") for x in out.of("stubborn")))
            line = next(x for x in out.of("stubborn") if x.startswith(b"pids"))
            pids = [int(x) for x in line.split()[1:]]
            assert os.getpgid(pids[2]) != os.getpgid(pids[0])
            start = anyio.current_time()
            await sup.stop("stubborn")
            took = anyio.current_time() - start
            assert 0.45 <= took < 5.0
            assert [alive(p) for p in pids] == [False, False, False]
            runs = sup.runs("stubborn")
            assert runs[-1].signal == signal.SIGKILL
            assert runs[-1].end_reason == "stop"
        assert any("SIGKILL" in n and "0.5s" in n for n in notices)
    finally:
        kill_if_alive(pids)


async def test_cancelling_the_supervisor_leaves_no_orphan(tmp_path: Path) -> None:
    code = """
        import os, subprocess, sys, time
        kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
        print(os.getpid(), kid.pid, flush=True)
        time.sleep(60)
    """
    out = Output()
    spec = python_app(tmp_path, "orphan", code, instances=2)
    pids: list[int] = []
    try:
        with anyio.move_on_after(10) as scope:
            async with Supervisor(write_logs=False, on_output=out) as sup:
                await sup.add(spec)
                await out.wait_for(lambda: len(out.of("orphan")) == 2)
                pids = [int(x) for line in out.of("orphan") for x in line.split()]
                scope.cancel()
                await anyio.sleep(30)  # cancelled at once
        assert scope.cancelled_caught
        assert len(pids) == 4
        assert not any(alive(p) for p in pids)
    finally:
        kill_if_alive(pids)


async def test_delete_and_unknown_names(tmp_path: Path) -> None:
    from supervisor_core import UnknownAppError

    spec = python_app(tmp_path, "temp", "import time; time.sleep(60)")
    async with Supervisor(write_logs=False) as sup:
        await sup.add(spec)
        pid = sup.info("temp")[0].pid
        assert pid is not None and alive(pid)
        await sup.delete("temp")
        assert sup.names == []
        assert not alive(pid)
        with pytest.raises(UnknownAppError, match="no app named 'temp'"):
            await sup.stop("temp")
        with pytest.raises(UnknownAppError):
            sup.runs("temp", 0)
