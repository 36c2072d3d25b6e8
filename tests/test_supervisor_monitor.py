"""Memory limits over the whole process tree, and the cpu/memory figures."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from supervisor_core import Supervisor
from supervisor_core.config import MemoryPolicy
from supervisor_core.monitor import TreeSample
from tests.helpers import Output, python_app

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


async def test_memory_hog_grandchild_restarts_the_app_within_about_one_interval(
    tmp_path: Path,
) -> None:
    """The child itself is small; its grandchild grows past the limit. The tree's RSS counts,
    and the restart (reason memory) follows within about one check interval."""
    flag = tmp_path / "hog-once"
    hog = tmp_path / "hog_grandchild.py"
    hog.write_text(
        "import time\n"
        "time.sleep(0.5)\n"
        "print(time.time(), flush=True)\n"
        "blob = b'x' * (200 * 1024 * 1024)\n"
        "time.sleep(60)\n"
    )
    code = f"""
        import pathlib, subprocess, sys, time
        flag = pathlib.Path({str(flag)!r})
        if flag.exists():
            print("calm", flush=True)
            time.sleep(60)
        flag.write_text("x")
        subprocess.run([sys.executable, {str(hog)!r}])
    """
    interval = 0.25
    out = Output()
    spec = python_app(
        tmp_path,
        "hog",
        code,
        memory=MemoryPolicy(max_memory_restart=100 * MIB, memory_check_interval=interval),
    )
    notices: list[str] = []
    async with Supervisor(write_logs=False, on_output=out, on_notice=notices.append) as sup:
        async with sup.subscribe() as events:
            await sup.add(spec)
            with anyio.fail_after(20):
                async for event in events:
                    if event.status == "stopping" and event.reason == "memory":
                        stopping_at = time.time()
                        break
        await out.wait_for(lambda: b"calm" in out.of("hog"))
        crossed_at = float(out.of("hog")[0])
        info = sup.info("hog")[0]
        assert info.last_restart_reason == "memory"
        assert info.restarts == 1
        assert sup.runs("hog")[0].end_reason == "memory"
    # The limit is crossed just after the grandchild printed the time (one memset later).
    assert stopping_at - crossed_at < interval * 2 + 0.5
    assert any("over the limit" in n for n in notices)


async def test_memory_a_forked_tree_shares_counts_once_and_never_restarts_it(
    tmp_path: Path,
) -> None:
    """A pre-fork server (gunicorn --preload, a multiprocessing pool): the parent fills
    120 MiB, then forks 3 workers that share those pages. Each process's RSS counts them, so
    the sum of the tree's RSS is over 480 MiB while the tree uses about 130 MiB: with a
    300 MiB limit the app was restarted for memory every second, for ever (PM2 users of
    cluster mode saw the same). The shared pages count once (PSS): no restart."""
    code = """
        import os, time
        blob = bytearray(120 * 1024 * 1024)
        for i in range(0, len(blob), 4096):
            blob[i] = 1  # every page touched: resident, private to the parent until forked
        for _ in range(3):
            if os.fork() == 0:
                while True:
                    time.sleep(1)  # never writes: shares every page with the parent
        print("forked", flush=True)
        while True:
            time.sleep(1)
    """
    limit = 300 * MIB
    out = Output()
    over: list[int] = []  # samples of the four processes whose RSS sum is over the limit
    ten_over = anyio.Event()

    def on_sample(app: str, instance: int, sample: TreeSample) -> None:
        if len(sample.pids) == 4 and sample.memory_bytes > limit:
            over.append(sample.memory_bytes)
            if len(over) >= 10:  # ten checks that saw the shared pages four times
                ten_over.set()

    spec = python_app(
        tmp_path,
        "prefork",
        code,
        memory=MemoryPolicy(max_memory_restart=limit, memory_check_interval=0.1),
    )
    notices: list[str] = []
    async with Supervisor(
        write_logs=False, on_output=out, on_notice=notices.append, on_sample=on_sample
    ) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: b"forked" in out.of("prefork"))
        with anyio.fail_after(20):
            await ten_over.wait()
        info = sup.info("prefork")[0]
        assert (info.restarts, info.status) == (0, "online"), notices
        assert not any("over the limit" in n for n in notices), notices


async def test_cpu_and_memory_are_reported_for_running_instances(tmp_path: Path) -> None:
    code = """
        import time
        print("ready", flush=True)
        end = time.time() + 60
        while time.time() < end:
            pass
    """
    out = Output()
    spec = python_app(
        tmp_path,
        "busy",
        code,
        memory=MemoryPolicy(max_memory_restart=1024 * MIB, memory_check_interval=0.1),
    )
    async with Supervisor(write_logs=False, on_output=out) as sup:
        await sup.add(spec)
        await out.wait_for(lambda: bool(out.of("busy")))
        with anyio.fail_after(10):
            while True:
                info = sup.info("busy")[0]
                if info.cpu_percent is not None and info.cpu_percent > 20:
                    break
                await anyio.sleep(0.05)
        assert info.memory_bytes is not None and info.memory_bytes > 1 * MIB
        await sup.stop("busy")
        stopped = sup.info("busy")[0]
        assert stopped.cpu_percent is None and stopped.memory_bytes is None
        assert stopped.pid is None and stopped.uptime is None


def test_a_reaped_process_gives_no_sample_never_an_error() -> None:
    """Regression: a child reaped between two reads must not raise out of the sampler (that
    ended the monitor task and with it the whole supervisor)."""
    import subprocess
    import sys

    from supervisor_core.monitor import Monitor, TreeSampler

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    sampler = TreeSampler()
    assert sampler.sample(proc.pid) is None

    samples: list[object] = []
    monitor = Monitor()

    class Exploding(TreeSampler):
        def sample(self, root: int, cgroup: object = None):  # type: ignore[override]
            import psutil

            raise psutil.NoSuchProcess(root)

    monitor.sampler = Exploding()
    monitor.watch("key", proc.pid, 1.0, samples.append)
    monitor.tick()
    assert samples == [None]


def test_samples_are_aligned_to_the_interval() -> None:
    """Targets watched at different moments wake the monitor together."""
    from supervisor_core.monitor import Monitor

    now = [100.3]
    monitor = Monitor(clock=lambda: now[0])
    monitor.watch("a", 1, 1.0, lambda s: None)
    now[0] = 100.7
    monitor.watch("b", 1, 1.0, lambda s: None)
    assert monitor.tick() == 101.0


async def test_a_target_watched_while_the_monitor_sleeps_is_sampled_at_once() -> None:
    """run() sleeps until the next due sample (here an hour away); watch() ends that sleep,
    so a new target's first sample comes at once, not at the next due time."""
    import os

    from supervisor_core.monitor import Monitor

    monitor = Monitor()
    first: list[TreeSample | None] = []
    second: list[TreeSample | None] = []
    got_first, got_second = anyio.Event(), anyio.Event()

    def on_first(sample: TreeSample | None) -> None:
        first.append(sample)
        got_first.set()

    def on_second(sample: TreeSample | None) -> None:
        second.append(sample)
        got_second.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor.run)
        monitor.watch("first", os.getpid(), 3600.0, on_first)
        with anyio.fail_after(10):
            await got_first.wait()
        await anyio.lowlevel.checkpoint()  # run() is asleep again, for an hour
        monitor.watch("second", os.getpid(), 3600.0, on_second)
        with anyio.fail_after(10):
            await got_second.wait()
        tg.cancel_scope.cancel()
    assert len(first) == 1 and first[0] is not None
    assert len(second) == 1 and second[0] is not None
    monitor.close()
