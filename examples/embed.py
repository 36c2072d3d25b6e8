"""Supervise two workers inside your own program, with no daemon.

Run it: python examples/embed.py   (it stops by itself after a few seconds)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio

from supervisor_core import Supervisor, build_app

WORKER = """
import os, sys, time
n = int(os.environ["PTM_INSTANCE"])
print(f"worker {n} ready", flush=True)
if n == 1:
    time.sleep(0.5)
    sys.exit(1)   # instance 1 crashes: the supervisor restarts it
time.sleep(60)
"""


def show(app: str, instance: int, stream: str, lines: list[bytes]) -> None:
    for line in lines:
        print(f"{app}:{instance} | {line.decode(errors='replace')}")


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ptm-embed-"))
    (folder / "worker.py").write_text(WORKER)
    spec = build_app(
        {
            "name": "worker",
            "script": "worker.py",
            "instances": 2,
            "restart_delay": "200ms",
            "out_file": "logs/worker-out.log",
            "error_file": "logs/worker-error.log",
        },
        base_dir=folder,
    )
    async with Supervisor(on_output=show) as sup, anyio.create_task_group() as tg:

        async def print_events() -> None:
            async with sup.subscribe() as events:
                async for event in events:
                    print(f"event: {event.app}:{event.instance} -> {event.status}")

        tg.start_soon(print_events)
        await sup.add(spec)
        # Instance 1 crashes after 0.5 s; wait until it is back online after its restart.
        await sup.wait_until(
            lambda infos: infos[1].restarts == 1 and infos[1].status == "online", timeout=10
        )
        for info in sup.processes():
            print(
                f"{info.name}:{info.instance} {info.status} pid={info.pid} "
                f"restarts={info.restarts} last_reason={info.last_restart_reason}"
            )
        await sup.restart("worker")  # a manual restart of both instances
        print("after restart:", [(i.instance, i.restarts) for i in sup.info("worker")])
        tg.cancel_scope.cancel()
    print("logs in", folder / "logs", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
