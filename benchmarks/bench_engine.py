"""ptm's engine against bare-Python baselines measured in the same run.

    python -m benchmarks.bench_engine [--quick] [--only respawn|logs|memory|idle ...]

1. crash → respawn: an app that exits at once, restarted by a Supervisor (restart_delay 0,
   min_uptime 0), against a ``subprocess.Popen(...).wait()`` loop running the same child.
   The Python child stamps ``time.time()`` into a file as its first and last act, so the gap
   is "previous child's exit → next child's first line"; for ``/bin/true`` the figure is the
   spawn-to-spawn period. Target: within 1.5x of the bare loop.
2. log throughput: one child writes N numbered 100-byte lines; ptm timestamps them
   (``YYYY-MM-DDTHH:mm:ss.SSSZ``) into a rotating file (10 MiB x 10); the baseline copies the
   same child's pipe to a file with os.read/os.write. Every line is checked to be there, in
   order. Target: at least 1/3 of the raw copy's lines/s.
3. memory kill: a child prints ``time.time()`` right before allocating far past
   max_memory_restart; ptm's figure runs to the ``stopping`` event with reason ``memory``, the
   baseline's to a plain psutil polling loop noticing the same crossing. In check intervals,
   at 1 s and 0.25 s. Target: median within 1.5 intervals.
4. idle: a Supervisor in its own process with 50 ``sleep 1000`` apps (logs on, memory checked
   every second), against a plain Python process holding 50 such children and reading their
   memory once a second. CPU as % of one core (median of several windows) and RSS. Target:
   ptm idle CPU below 1% of one core.

Prints one markdown table: measure | ptm | baseline | ratio | target | ok?
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from benchmarks._util import Row, markdown_table, median, quick_requested, thread_cpu_seconds

if TYPE_CHECKING:
    from supervisor_core import StateEvent
    from supervisor_core.config import AppSpec, LogSpec, MemoryPolicy

T = TypeVar("T")
MIB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
DATE_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSSZ"
PART_NAMES = ("respawn", "logs", "memory", "idle")

RESPAWN_TARGET = 1.5
LOG_TARGET = 1 / 3
MEMORY_TARGET = 1.5
IDLE_CPU_TARGET = 1.0
MAX_SUPERVISOR_FAILURES = 10
MEMORY_LIMIT = 64 * MIB
MEMORY_ALLOCATION = 160 * MIB


@dataclass(frozen=True)
class Plan:
    """How much to repeat each measure."""

    respawn_rounds: int
    respawn_cycles: int
    log_lines: int
    log_rounds: int
    memory_runs: tuple[tuple[float, int], ...]
    idle_windows: int
    idle_apps: int = 50
    idle_window: float = 5.0
    idle_settle: float = 3.0
    idle_interval: float = 1.0


FULL = Plan(
    respawn_rounds=3,
    respawn_cycles=25,
    log_lines=800_000,
    log_rounds=7,
    memory_runs=((1.0, 9), (0.25, 15)),
    idle_windows=4,
)
QUICK = Plan(
    respawn_rounds=2,
    respawn_cycles=10,
    log_lines=400_000,
    log_rounds=3,
    memory_runs=((1.0, 3), (0.25, 5)),
    idle_windows=2,
)

# ---------------------------------------------------------------------------- the children
STAMP_CHILD = """\
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, ("S %.6f\\n" % time.time()).encode())
os.write(fd, ("E %.6f\\n" % time.time()).encode())
os._exit(1)
"""
"""Stamps its start and its exit (as late as possible: no interpreter teardown), exits 1."""

LINES_CHILD = """\
import os, sys, time
n = int(sys.argv[1])
pad = b" " + b"x" * 90
body = b"".join(b"%09d%s\\n" % (i, pad) for i in range(1, n))
os.write(1, b"%09d t=%.6f\\n" % (0, time.time()))
view = memoryview(body)
while view:
    view = view[os.write(1, view[:65536]):]
"""
"""Line 0 carries the time it starts writing; lines 1..n-1 are ``<number> xxx...``."""
LINE_PAD = b" " + b"x" * 90

MEMORY_CHILD = """\
import os, random, sys, time
interval, size = float(sys.argv[1]), int(sys.argv[2])
time.sleep(0.3 + random.random() * interval)  # a random phase against the checks
print(os.getpid(), time.time(), flush=True)
blob = b"x" * size
time.sleep(120)
"""
"""Prints ``<pid> <time>`` right before touching ``size`` bytes, then waits to be killed."""


def _write_child(directory: Path, name: str, code: str) -> Path:
    path = directory / name
    path.write_text(code)
    return path


def _progress(text: str) -> None:
    print(f"[bench_engine] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- ptm helpers
def _app(
    name: str,
    argv: Sequence[str],
    cwd: Path,
    *,
    autorestart: bool = True,
    memory: MemoryPolicy | None = None,
    logs: LogSpec | None = None,
) -> AppSpec:
    from supervisor_core.config import AppSpec, MemoryPolicy, RestartPolicy, StopPolicy

    return AppSpec(
        name=name,
        argv=tuple(argv),
        cwd=cwd,
        script=argv[-1],
        restart=RestartPolicy(autorestart=autorestart, restart_delay=0.0, min_uptime=0.0),
        stop=StopPolicy(kill_timeout=5.0),
        memory=memory or MemoryPolicy(),
        logs=logs,
    )


async def _watch(
    spec: AppSpec,
    until: Callable[[StateEvent], bool],
    *,
    timeout: float,
    write_logs: bool = False,
    on_output: Callable[[str, int, Any, list[bytes]], None] | None = None,
) -> list[StateEvent]:
    """Supervise ``spec`` until ``until(event)`` holds; return the events seen (that one
    last). The app is stopped before returning."""
    import anyio

    from supervisor_core import Supervisor

    seen: list[StateEvent] = []
    async with Supervisor(write_logs=write_logs, on_output=on_output) as sup:
        async with sup.subscribe(max_buffer=1_000_000) as events:
            await sup.add(spec)
            with anyio.fail_after(timeout):
                async for event in events:
                    seen.append(event)
                    if event.status == "errored":
                        raise SystemExit(f"bench_engine: {spec.name} went errored: {event}")
                    if until(event):
                        break
        await sup.stop(spec.name)
    return seen


def _run_async(func: Callable[..., Any], *args: Any) -> Any:
    import anyio

    return anyio.run(func, *args)


def _innermost(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _retrying(notes: list[str], what: str, run: Callable[..., T], *args: Any) -> T:
    """``run(*args)``, run again (3 times in all at most) when the Supervisor fails; each
    failure is added to ``notes`` so that the report shows it. A failed check of the results
    (SystemExit) is not retried."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        try:
            return run(*args)
        except Exception as exc:
            notes.append(
                f"{what}: the Supervisor failed ({_innermost(exc)}); "
                f"measured again (attempt {attempt} of {attempts})"
            )
            if attempt == attempts:
                raise SystemExit(f"bench_engine: {what}: {_innermost(exc)}") from exc
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- 1. respawn
def _stamp_gaps(path: Path) -> list[float]:
    """Seconds from each child's exit stamp to the next child's start stamp."""
    gaps: list[float] = []
    last_exit: float | None = None
    for line in path.read_text().splitlines():
        kind, value = line.split()
        stamp = float(value)
        if kind == "S":
            if last_exit is not None:
                gaps.append(stamp - last_exit)
            last_exit = None
        elif kind == "E":
            last_exit = stamp
        else:  # "X": the Supervisor failed here; no gap across it
            last_exit = None
    return gaps


def _periods(stamps: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(stamps)]


def _bare_spawns(argv: Sequence[str], count: int) -> list[float]:
    """The baseline: spawn, wait, spawn again; returns the time right after each spawn."""
    spawned: list[float] = []
    for _ in range(count):
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        spawned.append(time.time())
        proc.wait()
    return spawned


def _spawn_segment(spec: AppSpec, wanted: int, online: list[float]) -> None:
    """One Supervisor restarting ``spec`` until ``wanted`` spawns; appends the ``online``
    events' times to ``online`` as they come (so they survive a failure)."""

    def enough(event: StateEvent) -> bool:
        if event.status == "online":
            online.append(event.timestamp)
        return len(online) >= wanted

    async def run() -> list[StateEvent]:
        return await _watch(spec, enough, timeout=60 + wanted)

    _run_async(run)


def _ptm_spawns(
    spec: AppSpec,
    count: int,
    notes: list[str],
    what: str,
    on_failure: Callable[[], None] | None = None,
) -> list[list[float]]:
    """ptm restarting ``spec`` after each exit until ``count`` spawns were seen; the spawn
    times, one list per Supervisor. Should a Supervisor fail, the spawns it made still count,
    the failure is noted and a new Supervisor carries on (``on_failure`` is called first)."""
    segments: list[list[float]] = []
    failures: list[str] = []
    while (done := sum(map(len, segments))) < count:
        online: list[float] = []
        segments.append(online)
        try:
            _spawn_segment(spec, count - done, online)
        except Exception as exc:
            failures.append(_innermost(exc))
            if len(failures) >= MAX_SUPERVISOR_FAILURES:
                raise SystemExit(f"bench_engine: {what}: {failures[-1]}") from exc
            if on_failure is not None:
                on_failure()
    if failures:
        notes.append(
            f"{what}: the Supervisor failed {len(failures)} time(s) in {count} spawns "
            f"({failures[0]}); the spawns before each failure are kept, and a new Supervisor "
            "went on"
        )
    return segments


def _ptm_gaps(spec: AppSpec, stamps: Path, count: int, notes: list[str]) -> list[float]:
    """ptm restarting the stamping child ``count`` times; its exit → next start gaps."""
    stamps.unlink(missing_ok=True)

    def separate() -> None:  # no gap across two Supervisors
        with open(stamps, "a") as fh:
            fh.write("X 0\n")

    _ptm_spawns(spec, count, notes, "respawn, Python child", separate)
    return _stamp_gaps(stamps)


def bench_respawn(plan: Plan, tmp: Path, notes: list[str]) -> list[Row]:
    child = _write_child(tmp, "stamp_child.py", STAMP_CHILD)
    true = shutil.which("true") or "/bin/true"
    py_gaps: dict[str, list[float]] = {"ptm": [], "bare": []}
    true_periods: dict[str, list[float]] = {"ptm": [], "bare": []}
    n = plan.respawn_cycles
    for r in range(plan.respawn_rounds):
        stamps = tmp / f"bare-{r}.stamps"
        _bare_spawns([sys.executable, str(child), str(stamps)], n)
        py_gaps["bare"] += _stamp_gaps(stamps)
        stamps = tmp / f"ptm-{r}.stamps"
        crasher = _app("crasher", [sys.executable, str(child), str(stamps)], tmp)
        py_gaps["ptm"] += _ptm_gaps(crasher, stamps, n, notes)
        true_periods["bare"] += _periods(_bare_spawns([true], n))
        for segment in _ptm_spawns(_app("true", [true], tmp), n, notes, "respawn, /bin/true"):
            true_periods["ptm"] += _periods(segment)
        _progress(f"respawn round {r + 1}/{plan.respawn_rounds}")
    rows = []
    for label, figures in (
        ("crash → respawn, Python child: exit → next start (ms)", py_gaps),
        ("crash → respawn, /bin/true: spawn → spawn period (ms)", true_periods),
    ):
        ptm, bare = median(figures["ptm"]) * 1000, median(figures["bare"]) * 1000
        rows.append(
            Row(
                f"{label}, median of {len(figures['ptm'])}",
                f"{ptm:.1f}",
                f"{bare:.1f}",
                ptm / bare,
                f"≤ {RESPAWN_TARGET}x baseline",
                ptm <= RESPAWN_TARGET * bare,
            )
        )
    return rows


# ---------------------------------------------------------------------------- 2. logs
def _check_lines(files: Sequence[Path], count: int, *, stamped: bool) -> float:
    """Check that ``files`` hold lines 0..count-1 in order (none lost, none doubled, first
    and last intact); return the start time written in line 0."""
    expected = 0
    started = 0.0
    last = b""
    for path in files:
        with open(path, "rb") as fh:
            for raw in fh:
                line = raw.rstrip(b"\n")
                if stamped:
                    stamp, _, line = line.partition(b" ")
                    if stamp[4:5] != b"-" or stamp[10:11] != b"T":
                        raise SystemExit(f"bench_engine: {path}: bad timestamp {stamp!r}")
                if int(line[:9]) != expected:
                    raise SystemExit(
                        f"bench_engine: {path}: expected line {expected}, found {line[:40]!r}"
                    )
                if expected == 0:
                    started = float(line.partition(b"t=")[2])
                expected += 1
                last = line
    if expected != count:
        raise SystemExit(f"bench_engine: {count} lines written, {expected} found in {files}")
    if last != b"%09d%s" % (count - 1, LINE_PAD):
        raise SystemExit(f"bench_engine: the last line is damaged: {last[:60]!r}")
    return started


def _raw_copy(child: Path, count: int, out: Path) -> float:
    """The baseline: copy the child's stdout pipe to ``out``; returns lines/s."""
    proc = subprocess.Popen([sys.executable, str(child), str(count)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    pipe = proc.stdout.fileno()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while data := os.read(pipe, 65536):
            os.write(fd, data)
        proc.wait()
        ended = time.time()
    finally:
        os.close(fd)
        proc.stdout.close()
    started = _check_lines([out], count, stamped=False)
    return count / (ended - started)


def _ptm_logs(child: Path, count: int, directory: Path) -> float:
    """ptm pumping the same child into timestamped, rotating logs; returns lines/s."""
    from supervisor_core.config import LogSpec, compile_date_format
    from supervisor_core.logs import rotated_files

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    out = directory / "lines-out.log"
    logs = LogSpec(
        out_file=out,
        error_file=directory / "lines-err.log",
        date_format=compile_date_format(DATE_FORMAT),
    )
    spec = _app(
        "lines", [sys.executable, str(child), str(count)], directory, autorestart=False, logs=logs
    )

    def exited(event: StateEvent) -> bool:
        return event.status == "stopped"

    async def run() -> list[StateEvent]:
        return await _watch(spec, exited, timeout=300, write_logs=True)

    events: list[StateEvent] = _run_async(run)
    ended = events[-1].timestamp
    started = _check_lines([*rotated_files(out), out], count, stamped=True)
    return count / (ended - started)


def bench_logs(plan: Plan, tmp: Path, notes: list[str]) -> list[Row]:
    child = _write_child(tmp, "lines_child.py", LINES_CHILD)
    rates: dict[str, list[float]] = {"ptm": [], "raw": []}
    for r in range(plan.log_rounds):
        raw_file, directory = tmp / f"raw-{r}.log", tmp / f"ptm-logs-{r}"
        for kind in ("raw", "ptm") if r % 2 == 0 else ("ptm", "raw"):  # neither always first
            if kind == "raw":
                rates["raw"].append(_raw_copy(child, plan.log_lines, raw_file))
            else:
                rate = _retrying(notes, "logs", _ptm_logs, child, plan.log_lines, directory)
                rates["ptm"].append(rate)
        raw_file.unlink()
        shutil.rmtree(directory)
        _progress(f"logs round {r + 1}/{plan.log_rounds}")
    # Each round's ratio compares two runs a moment apart: the load of the moment cancels out.
    ratios = [fast / bare for fast, bare in zip(rates["ptm"], rates["raw"], strict=True)]
    ratio = median(ratios)
    notes.append(
        f"log throughput: ptm / raw per round from {min(ratios):.2f} to {max(ratios):.2f}; "
        "the ratio shown is their median"
    )
    return [
        Row(
            f"log throughput, {plan.log_lines:,} lines of 100 B, timestamps + rotation "
            f"(lines/s), median of {plan.log_rounds}",
            f"{median(rates['ptm']):,.0f}",
            f"{median(rates['raw']):,.0f}",
            ratio,
            "≥ 1/3 of baseline",
            ratio >= LOG_TARGET,
        )
    ]


# ---------------------------------------------------------------------------- 3. memory
def _poll_memory(child: Path, interval: float) -> float:
    """The baseline: sample the child's RSS every ``interval`` (first at spawn) with psutil
    and kill it once over the limit; returns seconds from its printed time to the notice."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, str(child), str(interval), str(MEMORY_ALLOCATION)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        handle = psutil.Process(proc.pid)
        due = time.monotonic()
        deadline = due + 30 + interval
        while handle.memory_info().rss <= MEMORY_LIMIT:
            if time.monotonic() > deadline:
                raise SystemExit("bench_engine: the memory child never crossed the limit")
            due += interval
            time.sleep(max(due - time.monotonic(), 0.0))
        noticed = time.time()
        proc.terminate()
        printed = float(proc.stdout.read().split()[1])
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return noticed - printed


def _ptm_memory(child: Path, interval: float, runs: int, cwd: Path) -> list[float]:
    """ptm restarting the child each time it crosses the limit; for each run, seconds from
    its printed time to the ``stopping`` event with reason ``memory``."""
    from supervisor_core.config import MemoryPolicy

    printed: dict[int, float] = {}

    def on_output(app: str, instance: int, stream: Any, lines: list[bytes]) -> None:
        for line in lines:
            pid, stamp = line.split()
            printed[int(pid)] = float(stamp)

    seen: list[StateEvent] = []

    def memory_stop(event: StateEvent) -> bool:
        if event.status == "stopping" and event.reason == "memory":
            seen.append(event)
        return len(seen) >= runs

    spec = _app(
        "hog",
        [sys.executable, str(child), str(interval), str(MEMORY_ALLOCATION)],
        cwd,
        memory=MemoryPolicy(max_memory_restart=MEMORY_LIMIT, memory_check_interval=interval),
    )

    async def run() -> list[StateEvent]:
        return await _watch(
            spec, memory_stop, timeout=runs * (interval + 5) + 30, on_output=on_output
        )

    events: list[StateEvent] = _run_async(run)
    stops = [e for e in events if e.status == "stopping" and e.reason == "memory"]
    missing = [e.pid for e in stops if e.pid not in printed]
    if missing:
        raise SystemExit(f"bench_engine: no time printed by memory child(ren) {missing}")
    return [e.timestamp - printed[e.pid] for e in stops if e.pid is not None]


def bench_memory(plan: Plan, tmp: Path, notes: list[str]) -> list[Row]:
    child = _write_child(tmp, "memory_child.py", MEMORY_CHILD)
    rows = []
    for interval, runs in plan.memory_runs:
        what = f"memory at {interval:g} s"
        ptm_runs = _retrying(notes, what, _ptm_memory, child, interval, runs, tmp)
        ptm = median(ptm_runs) / interval
        bare = median(_poll_memory(child, interval) for _ in range(runs)) / interval
        _progress(f"memory at {interval:g} s done")
        rows.append(
            Row(
                f"memory limit crossed → kill, check every {interval:g} s "
                f"(check intervals), median of {runs}",
                f"{ptm:.2f} ({ptm * interval * 1000:.0f} ms)",
                f"{bare:.2f} ({bare * interval * 1000:.0f} ms)",
                ptm / bare,
                f"≤ {MEMORY_TARGET} intervals",
                ptm <= MEMORY_TARGET,
            )
        )
    return rows


# ---------------------------------------------------------------------------- 4. idle
def _wait_for_eof(timeout: float | None) -> bool:
    """Wait up to ``timeout`` (None: for ever) for our stdin to close; True once it has."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return bool(ready) and not os.read(sys.stdin.fileno(), 1)


def idle_ptm(apps: int, interval: float, directory: Path) -> None:
    """The supervisor of the idle measure (its own process): ``apps`` apps of ``sleep
    1000`` with log files, memory checked every ``interval``; prints ``ready`` once all are
    online and runs until its stdin closes."""
    import anyio

    from supervisor_core import Supervisor
    from supervisor_core.config import LogSpec, MemoryPolicy

    sleep = shutil.which("sleep") or "/bin/sleep"

    async def run() -> None:
        async with Supervisor() as sup:
            for i in range(apps):
                logs = LogSpec(
                    out_file=directory / f"idle-{i}-out.log",
                    error_file=directory / f"idle-{i}-err.log",
                )
                memory = MemoryPolicy(memory_check_interval=interval)
                await sup.add(
                    _app(f"idle-{i}", [sleep, "1000"], directory, memory=memory, logs=logs)
                )
            online = sum(p.status == "online" for p in sup.processes())
            print(f"ready {online}", flush=True)
            await anyio.to_thread.run_sync(_wait_for_eof, None, abandon_on_cancel=True)

    anyio.run(run)


def idle_bare(apps: int, interval: float) -> None:
    """The baseline of the idle measure: ``apps`` children of ``sleep 1000`` and a plain
    loop reading their memory (and cpu) with psutil every ``interval``."""
    import psutil

    sleep = shutil.which("sleep") or "/bin/sleep"
    procs = [
        subprocess.Popen(
            [sleep, "1000"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(apps)
    ]
    try:
        handles = [psutil.Process(p.pid) for p in procs]
        print(f"ready {len(handles)}", flush=True)
        due = time.monotonic()
        while True:
            for handle in handles:
                with handle.oneshot():
                    handle.memory_info()
                    handle.cpu_percent(None)
            due += interval
            if _wait_for_eof(max(due - time.monotonic(), 0.0)):
                break
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def _start_idle(kind: str, plan: Plan, directory: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "benchmarks.bench_engine", "--idle-process", kind]
    argv += ["--apps", str(plan.idle_apps), "--interval", str(plan.idle_interval)]
    argv += ["--dir", str(directory)]
    return subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _wait_ready(proc: subprocess.Popen[bytes], kind: str, apps: int) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else b""
    if line.split() != [b"ready", str(apps).encode()]:
        raise SystemExit(f"bench_engine: the {kind} idle process did not start: {line!r}")


def _end_idle(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def bench_idle(plan: Plan, tmp: Path, notes: list[str]) -> list[Row]:
    import psutil

    directory = tmp / "idle"
    directory.mkdir()
    procs = {"ptm": _start_idle("ptm", plan, directory), "bare": _start_idle("bare", plan, tmp)}
    try:
        for kind, proc in procs.items():
            _wait_ready(proc, kind, plan.idle_apps)
        handles = {kind: psutil.Process(proc.pid) for kind, proc in procs.items()}
        precise = os.path.exists("/proc/self/schedstat")

        def cpu_seconds(kind: str) -> float:
            if precise:
                return thread_cpu_seconds(handles[kind].pid)
            times = handles[kind].cpu_times()  # in clock ticks (10 ms): coarse
            return times.user + times.system

        time.sleep(plan.idle_settle)  # past the start-up burst
        percents: dict[str, list[float]] = {"ptm": [], "bare": []}
        for _ in range(plan.idle_windows):
            before = {kind: cpu_seconds(kind) for kind in handles}
            started = time.monotonic()
            time.sleep(plan.idle_window)
            elapsed = time.monotonic() - started
            for kind in handles:
                percents[kind].append((cpu_seconds(kind) - before[kind]) / elapsed * 100)
        rss = {kind: handle.memory_info().rss / MIB for kind, handle in handles.items()}
    finally:
        for proc in procs.values():
            _end_idle(proc)
    _progress("idle done")
    ptm_cpu, bare_cpu = median(percents["ptm"]), median(percents["bare"])
    seconds = plan.idle_windows * plan.idle_window
    return [
        Row(
            f"idle CPU, {plan.idle_apps} apps, memory checked every "
            f"{plan.idle_interval:g} s (% of one core, median of {plan.idle_windows} "
            f"windows over {seconds:g} s)",
            f"{ptm_cpu:.3f}",
            f"{bare_cpu:.3f}",
            ptm_cpu / bare_cpu if bare_cpu > 0 else None,
            f"< {IDLE_CPU_TARGET:g}%",
            ptm_cpu < IDLE_CPU_TARGET,
        ),
        Row(
            f"idle RSS, {plan.idle_apps} apps (MiB)",
            f"{rss['ptm']:.1f}",
            f"{rss['bare']:.1f}",
            rss["ptm"] / rss["bare"],
            "—",
            None,
        ),
    ]


# ---------------------------------------------------------------------------- main
PARTS: dict[str, Callable[[Plan, Path, list[str]], list[Row]]] = {
    "respawn": bench_respawn,
    "logs": bench_logs,
    "memory": bench_memory,
    "idle": bench_idle,
}


def _machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{today}; {os.cpu_count()} CPUs; load average {load}; "
        f"Python {platform.python_version()}; {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_engine", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--only", action="append", choices=PART_NAMES, default=[], help="run only this part"
    )
    # The two processes of the idle measure run this module again with these:
    parser.add_argument("--idle-process", choices=("ptm", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--apps", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.idle_process == "ptm":
        idle_ptm(args.apps, args.interval, args.dir or Path.cwd())
        return
    if args.idle_process == "bare":
        idle_bare(args.apps, args.interval)
        return

    quick = args.quick or quick_requested()
    plan = QUICK if quick else FULL
    parts = [name for name in PART_NAMES if not args.only or name in args.only]
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ptm-bench-") as tmp:
        for name in parts:
            rows += PARTS[name](plan, Path(tmp), notes)
    print(f"### ptm engine against bare Python{' (quick)' if quick else ''}\n")
    print(markdown_table(rows))
    print(f"\n{_machine()}")
    for note in notes:
        print(f"\n- {note}")


if __name__ == "__main__":
    main()
