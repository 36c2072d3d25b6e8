"""``ptm update``: how long from the command to the new daemon image answering.

    python -m benchmarks.bench_update [--quick]

With 3 apps (one writing 5,000 lines a second) and with 20 apps, the daemon already
running: the wall time of ``ptm update`` (a new Python process each time; the command returns
once the re-executed daemon answers ``GET /v1/daemon``), and, inside it, the time the daemon
reports between its re-execution and answering. Baseline: a cold daemon start, ``ptm ping``
with no daemon running (the cost of a new daemon image with nothing to adopt). After each
update every app must still have its pid and no restart, or the benchmark fails.

Prints one markdown table: measure | ptm | baseline | ratio | target | ok?
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks._util import PTM, Row, daemon_home, markdown_table, median, quick_requested
from supervisor_core.client import Client

TARGET_S = 3.0
FAST = """
import os, time
n, start = 0, time.monotonic()
while True:
    due = int((time.monotonic() - start) * 5000)
    while n < due:
        os.write(1, f"{n:09d} {'x' * 60}\\n".encode())
        n += 1
    time.sleep(0.002)
"""


def run(*args: str, env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*PTM, *args], env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def ecosystem(work: Path, apps: int) -> Path:
    (work / "fast.py").write_text(FAST)
    tables = ['[[apps]]\nname = "fast"\nscript = "fast.py"\nkill_timeout = "1s"\n']
    tables += [
        f'[[apps]]\nname = "idle-{i}"\ncommand = ["sleep", "1000"]\nkill_timeout = "1s"\n'
        for i in range(apps - 1)
    ]
    path = work / f"apps{apps}.toml"
    path.write_text("\n".join(tables))
    return path


def wait_online(client: Client, count: int, timeout: float = 60) -> list[tuple[int, int]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = client.processes()
        if len(rows) == count and all(r["status"] == "online" for r in rows):
            return [(int(r["pid"]), int(r["restarts"])) for r in rows]
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all {count} online after {timeout} s")
        time.sleep(0.01)


def cold_start_seconds(runs: int) -> float:
    times = []
    for _ in range(runs):
        with daemon_home() as (_home, work, env):
            times.append(run("ping", env=env, cwd=work))
    return median(times)


def update_seconds(apps: int, runs: int) -> tuple[float, float]:
    """Median wall time of ``ptm update``, and of re-execution → answering (daemon side)."""
    walls, inside = [], []
    with daemon_home() as (home, work, env):
        run("start", str(ecosystem(work, apps)), env=env, cwd=work)
        with Client(home, autostart=False) as client:
            before = wait_online(client, apps)
            time.sleep(0.5)
            for _ in range(runs):
                walls.append(run("update", env=env, cwd=work))
                answered = time.time()
                info = client.info()
                inside.append(answered - float(info["reexecuted_at"]))
                after = wait_online(client, apps)
                if after != before:
                    raise RuntimeError(f"an app changed in the update: {before} -> {after}")
    return median(walls), median(inside)


def measure(runs: int) -> list[Row]:
    cold = cold_start_seconds(runs)
    rows = []
    for apps in (3, 20):
        wall, inside = update_seconds(apps, runs)
        rows.append(
            Row(
                f"`ptm update`, {apps} apps, command → new image answers (median of {runs})",
                f"{wall:.2f} s",
                f"{cold:.2f} s (cold `ptm ping`)",
                wall / cold,
                f"< {TARGET_S:g} s",
                wall < TARGET_S,
            )
        )
        rows.append(
            Row(
                f"of which exec → answering, {apps} apps (at most, as the command saw it)",
                f"{inside:.2f} s",
                "—",
                None,
                "—",
                None,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    quick = quick_requested(sys.argv[1:] if argv is None else argv)
    print(markdown_table(measure(2 if quick else 5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
