"""The daemon and the ``ptm`` command, measured for real in a temporary PTM_HOME.

    python -m benchmarks.bench_cli [--quick]

1. ``ptm jlist`` and ``ptm list`` with 20 apps running: median wall time of the whole command
   (a new Python process each time), against a bare Python process that sends the same
   ``GET /v1/processes`` with the standard library's http.client and prints the JSON.
   Target: at most 100 ms. ``supervisor_core`` is byte-compiled first, as an installed
   package is (with ``PYTHONDONTWRITEBYTECODE=1`` set, every run would otherwise compile
   ptm's own modules again: about 10 ms more of each command).
2. ``ptm start --no-wait`` of a file with 50 apps (``sleep 1000``): from the command's launch
   until every instance is ``online`` (without ``--no-wait`` the command would also wait for
   ``min_uptime``, 1 s, which is not what this measures), against 50 ``subprocess.Popen`` of
   the same program; once with the daemon already running (target: under 1.5 s) and once
   cold, in a new PTM_HOME with no daemon, so that ``ptm start`` starts it first (target: at
   most 1.0 s).
3. The daemon with 20 apps, idle: its RSS, and its CPU as % of one core over several windows
   (median), against a bare Python interpreter's RSS. Targets: at most 25 MB, under 0.1% of a
   core.
4. An app writing 20 MB of 100-byte lines as fast as it can, timed by the app itself: with 20
   ``ptm logs`` followers that never read (they fall behind and skip), against no follower,
   runs alternating. Target: within 10% (followers never slow the app).

Prints one markdown table: measure | ptm | baseline | ratio | target | ok?
"""

from __future__ import annotations

import compileall
import contextlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import supervisor_core
from benchmarks._util import (
    PTM,
    Row,
    daemon_home,
    markdown_table,
    median,
    quick_requested,
    thread_cpu_seconds,
)
from supervisor_core.client import Client

MB = 1000 * 1000
LIST_TARGET_MS = 100.0
START_TARGET_S = 1.5
COLD_START_TARGET_S = 1.0
RSS_TARGET_MB = 25.0
CPU_TARGET = 0.1

BARE_GET = """
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
conn = Conn("ptm")
conn.request("GET", "/v1/processes")
print(json.dumps(json.loads(conn.getresponse().read())))
"""


SPEW = """
import sys, time
pad = "x" * 90
write = sys.stdout.write
started = time.perf_counter()
for n in range(200_000):
    write(f"{n:08d} {pad}\\n")
sys.stdout.flush()
with open(sys.argv[1], "w") as done:
    done.write(str(time.perf_counter() - started))
"""
FOLLOWERS = 20
FOLLOWER_TARGET = 1.10


@dataclass(frozen=True)
class Plan:
    list_runs: int
    start_runs: int
    cpu_windows: int
    follower_runs: int = 5
    cold_runs: int = 5
    cpu_window_s: float = 5.0
    settle_s: float = 3.0


def ecosystem(folder: Path, apps: int, prefix: str) -> Path:
    path = folder / f"{prefix}.toml"
    path.write_text(
        "\n".join(
            f'[[apps]]\nname = "{prefix}-{i}"\ncommand = ["sleep", "1000"]\nkill_timeout = "1s"\n'
            for i in range(apps)
        )
    )
    return path


def ptm(*args: str, env: dict[str, str], cwd: Path) -> None:
    subprocess.run([*PTM, *args], env=env, cwd=cwd, check=True, capture_output=True, timeout=120)


def wall_ms(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


def wait_online(client: Client, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = client.processes()
        if len(rows) == count and all(r["status"] == "online" for r in rows):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all {count} online after {timeout} s")
        time.sleep(0.01)


def start_seconds(home: Path, folder: Path, env: dict[str, str], runs: int) -> float:
    """``ptm start`` of 50 apps → all online, the daemon running and empty each time."""
    times = []
    with Client(home, autostart=False) as client:
        for run in range(runs):
            path = ecosystem(folder, 50, f"fifty{run}")
            started = time.perf_counter()
            subprocess.run(
                [*PTM, "start", "--no-wait", str(path)],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
            wait_online(client, 50)
            times.append(time.perf_counter() - started)
            client.delete("all")
    return median(times)


def cold_start_seconds(folder: Path, runs: int) -> float:
    """``ptm start`` of 50 apps → all online, in a new PTM_HOME each time: no daemon running,
    so the command starts it (its imports, ``state.db``) before the apps."""
    times = []
    for run in range(runs):
        path = ecosystem(folder, 50, f"cold{run}")
        with daemon_home() as (home, _work, env):
            started = time.perf_counter()
            subprocess.run(
                [*PTM, "start", "--no-wait", str(path)],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
            with Client(home, autostart=False) as client:
                wait_online(client, 50)
            times.append(time.perf_counter() - started)
    return median(times)


def popen_seconds(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        children = [subprocess.Popen(["sleep", "1000"]) for _ in range(50)]
        times.append(time.perf_counter() - started)
        for child in children:
            child.kill()
            child.wait()
    return median(times)


def idle_cpu_percent(pid: int, windows: int, window_s: float) -> float:
    """The daemon's CPU over ``windows`` windows (per-thread schedstat: nanoseconds, not the
    10 ms ticks of ``cpu_times``, which over 5 s would only tell 0.0% or 0.2%)."""
    figures = []
    for _ in range(windows):
        before = thread_cpu_seconds(pid)
        started = time.monotonic()
        time.sleep(window_s)
        used = thread_cpu_seconds(pid) - before
        figures.append(100 * used / (time.monotonic() - started))
    return median(figures)


def bare_python_rss() -> int:
    with subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print(1, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        child.stdout.readline()
        rss = int(psutil.Process(child.pid).memory_info().rss)
        child.kill()
    return rss


def spew_seconds(home: Path, work: Path, env: dict[str, str], followers: int, run: int) -> float:
    """The app's own time to write 20 MB, with ``followers`` followers that never read."""
    import httpx

    done = work / f"spew-{run}.done"
    with contextlib.ExitStack() as stack:
        for _ in range(followers):
            transport = httpx.HTTPTransport(uds=str(home / "ptm.sock"))
            client = stack.enter_context(
                httpx.Client(transport=transport, base_url="http://ptm", timeout=30)
            )
            stack.enter_context(client.stream("GET", "/v1/logs/follow", params={"app": "spew"}))
        (work / "spew.toml").write_text(
            f'[[apps]]\nname = "spew"\nscript = "spew.py"\nautorestart = false\nargs = ["{done}"]\n'
        )
        ptm("start", "--no-wait", "spew.toml", env=env, cwd=work)  # it ends within min_uptime
        deadline = time.monotonic() + 120
        while not done.exists() or not done.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the spewing app did not finish")
            time.sleep(0.02)
    return float(done.read_text())


def measure(plan: Plan) -> list[Row]:
    rows: list[Row] = []
    compileall.compile_dir(Path(supervisor_core.__file__).parent, quiet=1)
    with daemon_home() as (home, work, env):
        ptm("start", str(ecosystem(work, 20, "twenty")), env=env, cwd=work)
        with Client(home, autostart=False) as client:
            wait_online(client, 20)
            daemon = int(client.info()["pid"])
        bare = wall_ms(
            [sys.executable, "-c", BARE_GET, str(home / "ptm.sock")], env, work, plan.list_runs
        )
        for command in ("jlist", "list"):
            figure = wall_ms([*PTM, command], env, work, plan.list_runs)
            rows.append(
                Row(
                    f"`ptm {command}`, 20 apps (median of {plan.list_runs})",
                    f"{figure:.0f} ms",
                    f"{bare:.0f} ms (stdlib GET)",
                    figure / bare,
                    f"≤ {LIST_TARGET_MS:.0f} ms",
                    figure <= LIST_TARGET_MS,
                )
            )
        time.sleep(plan.settle_s)
        rss = psutil.Process(daemon).memory_info().rss
        bare_rss = bare_python_rss()
        rows.append(
            Row(
                "daemon RSS, 20 apps",
                f"{rss / MB:.1f} MB",
                f"{bare_rss / MB:.1f} MB (bare python)",
                rss / bare_rss,
                f"≤ {RSS_TARGET_MB:.0f} MB",
                rss / MB <= RSS_TARGET_MB,
            )
        )
        cpu = idle_cpu_percent(daemon, plan.cpu_windows, plan.cpu_window_s)
        rows.append(
            Row(
                f"daemon idle CPU, 20 apps (median of {plan.cpu_windows} x "
                f"{plan.cpu_window_s:g} s)",
                f"{cpu:.3f}% of a core",
                "—",
                None,
                f"< {CPU_TARGET}%",
                cpu < CPU_TARGET,
            )
        )
    with daemon_home() as (home, work, env):
        (work / "spew.py").write_text(SPEW)
        ptm("ping", env=env, cwd=work)
        alone: list[float] = []
        followed: list[float] = []
        for run in range(plan.follower_runs):
            alone.append(spew_seconds(home, work, env, 0, 2 * run))
            followed.append(spew_seconds(home, work, env, FOLLOWERS, 2 * run + 1))
        ratio = median(followed) / median(alone)
        rows.append(
            Row(
                f"an app writing 20 MB, {FOLLOWERS} followers that never read "
                f"(median of {plan.follower_runs})",
                f"{20 / median(followed):.1f} MB/s",
                f"{20 / median(alone):.1f} MB/s (no follower)",
                ratio,
                f"within {FOLLOWER_TARGET - 1:.0%}",
                ratio <= FOLLOWER_TARGET,
            )
        )
    with daemon_home() as (home, work, env):
        ptm("ping", env=env, cwd=work)
        figure = start_seconds(home, work, env, plan.start_runs)
        baseline = popen_seconds(plan.start_runs)
        rows.append(
            Row(
                f"`ptm start` 50 apps → all online (median of {plan.start_runs})",
                f"{figure:.2f} s",
                f"{baseline:.2f} s (50 Popen)",
                figure / baseline,
                f"< {START_TARGET_S} s",
                figure < START_TARGET_S,
            )
        )
    with tempfile.TemporaryDirectory(prefix="ptm-bench-") as folder:
        figure = cold_start_seconds(Path(folder), plan.cold_runs)
    rows.append(
        Row(
            f"`ptm start` 50 apps, no daemon running → all online (median of {plan.cold_runs})",
            f"{figure:.2f} s",
            f"{baseline:.2f} s (50 Popen)",
            figure / baseline,
            f"≤ {COLD_START_TARGET_S} s",
            figure <= COLD_START_TARGET_S,
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    quick = quick_requested(sys.argv[1:] if argv is None else argv)
    plan = Plan(5, 1, 2, 2, cold_runs=2) if quick else Plan(21, 3, 5, 5, cold_runs=5)
    print(markdown_table(measure(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
