"""What the cpu/memory history costs the daemon: memory, time per sample, state.db.

    python -m benchmarks.bench_history [--quick]

1. memory: a :class:`~supervisor_core.monitor.History` of 50 processes after 10 minutes of
   per-second samples and 24 hours of per-minute points (the most it ever holds), measured
   with ``tracemalloc``; baseline: the obvious design, a ``deque`` of ``(time, cpu, memory)``
   tuples per process and resolution, holding the same points.
2. record: the time of one ``History.record`` (a sample into the rings and the minute being
   gathered); baseline: appending a tuple to a ``deque``.
3. sampling: the time to sample one app's process tree (``TreeSampler.sample``, /proc read
   directly; these children are in no cgroup, so each tree is found through
   ``/proc/PID/task/*/children``) for 20 ``sleep`` children, and what sampling all 20 every
   second (history's rate) costs in % of one core, against every 5 s (the rate before
   history).
4. state.db: 24 hours of minutes of 50 processes (72,000 rows) written as the daemon writes
   them (50 rows a minute); the file's size, and the time a starting daemon takes to read
   them back (``HistoryKeeper.load``).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from benchmarks._util import Row, markdown_table, median, quick_requested
from supervisor_core.daemon._history import HistoryKeeper
from supervisor_core.monitor import (
    MINUTES_KEPT,
    SECONDS_KEPT,
    History,
    TreeSampler,
    history_key,
)
from supervisor_core.store import StateStore, StoredApp

PROCESSES = 50
T0 = 1_800_000_000.0


def _traced(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes allocated by ``build()`` and still held by what it returns."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def _full_history() -> History:
    history = History()
    keys = [history_key(f"app{i}", 0) for i in range(PROCESSES)]
    start_minute = int(T0) // 60 - MINUTES_KEPT
    for key in keys:
        history.load((key, start_minute + m, 1.5, 50e6 + m) for m in range(MINUTES_KEPT))
    for s in range(SECONDS_KEPT):
        for key in keys:
            history.record(key, 2.5, 50_000_000 + s, at=T0 + s)
    return history


def _full_baseline() -> dict[tuple[str, int], tuple[deque[Any], deque[Any]]]:
    kept: dict[tuple[str, int], tuple[deque[Any], deque[Any]]] = {}
    for i in range(PROCESSES):
        seconds: deque[Any] = deque(maxlen=SECONDS_KEPT)
        minutes: deque[Any] = deque(maxlen=MINUTES_KEPT)
        for m in range(MINUTES_KEPT):
            minutes.append((T0 - 60.0 * m, 1.5 + m * 1e-3, 50e6 + m))
        for s in range(SECONDS_KEPT):
            seconds.append((T0 + s, 2.5 + s * 1e-3, 50_000_000 + s))
        kept[(f"app{i}", 0)] = (seconds, minutes)
    return kept


def bench_memory() -> list[Row]:
    ptm, history = _traced(_full_history)
    base, baseline = _traced(_full_baseline)
    assert len(history) == len(baseline) == PROCESSES
    series = history.series(history_key("app0", 0), "second", now=T0 + SECONDS_KEPT - 1)
    newest = series.memory_bytes[-1]
    assert newest is not None and abs(newest - (50_000_000 + SECONDS_KEPT - 1)) <= 4  # float32
    print(
        f"memory: {ptm:,} bytes for {PROCESSES} processes ({ptm / PROCESSES:,.0f} a process);"
        f" the deque of tuples: {base:,}",
        file=sys.stderr,
    )
    return [
        Row(
            f"history of {PROCESSES} processes, 10 min of seconds + 24 h of minutes (bytes)",
            f"{ptm:,}",
            f"{base:,}",
            ptm / base,
            "≤ 1 MiB",
            ptm <= 1024 * 1024,
        ),
        Row(
            "the same, per process (bytes)",
            f"{ptm / PROCESSES:,.0f}",
            f"{base / PROCESSES:,.0f}",
            ptm / base,
            "—",
            None,
        ),
    ]


def bench_record(quick: bool) -> list[Row]:
    history = History()
    keys = [history_key(f"app{i}", 0) for i in range(PROCESSES)]
    seconds = 120 if quick else 600
    runs_ptm: list[float] = []
    runs_base: list[float] = []
    for run in range(3 if quick else 7):
        start = time.perf_counter()
        for s in range(seconds):
            at = T0 + run * seconds + s
            for key in keys:
                history.record(key, 2.5, 50_000_000, at=at)
        runs_ptm.append((time.perf_counter() - start) / (seconds * PROCESSES))
        kept = [deque[Any](maxlen=SECONDS_KEPT) for _ in keys]
        start = time.perf_counter()
        for s in range(seconds):
            at = T0 + run * seconds + s
            for ring in kept:
                ring.append((at, 2.5, 50_000_000))
        runs_base.append((time.perf_counter() - start) / (seconds * PROCESSES))
    ptm, base = median(runs_ptm) * 1e6, median(runs_base) * 1e6
    return [
        Row(
            "record one sample (µs)",
            f"{ptm:.2f}",
            f"{base:.2f}",
            ptm / base,
            "< 10 µs",
            ptm < 10,
        )
    ]


def bench_sampling(quick: bool) -> list[Row]:
    sleep = shutil.which("sleep") or "/bin/sleep"
    children = [subprocess.Popen([sleep, "1000"]) for _ in range(20)]
    try:
        sampler = TreeSampler()
        for child in children:
            sampler.sample(child.pid)  # prime cpu_percent, as the Monitor's first tick does
        rounds = 20 if quick else 100
        per_tree: list[float] = []
        for _ in range(rounds):
            start = time.perf_counter()
            for child in children:
                assert sampler.sample(child.pid) is not None
            per_tree.append((time.perf_counter() - start) / len(children))
    finally:
        for child in children:
            child.kill()
            child.wait()
    tree_us = median(per_tree) * 1e6
    every_second = tree_us * 20 / 1e6 * 100  # % of a core: 20 trees a second
    every_five = every_second / 5
    return [
        Row("sample one app's tree (µs)", f"{tree_us:.0f}", "—", None, "—", None),
        Row(
            "sampling 20 apps every 1 s / every 5 s (% of a core)",
            f"{every_second:.3f}",
            f"{every_five:.3f}",
            every_second / every_five,
            "—",
            None,
        ),
    ]


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.name.startswith("state.db"))


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.name.startswith("state.db"))


async def _state_db(directory: Path, quick: bool) -> tuple[int, float, int]:
    path = directory / "state.db"
    now = T0 + 30
    minute_now = int(now) // 60
    async with await StateStore.open(path) as store:
        for i in range(PROCESSES):
            await store.upsert_app(
                StoredApp(f"app{i}", {"name": f"app{i}"}, "/", None, None, "running", -1)
            )
        minutes = MINUTES_KEPT if not quick else 240
        for m in range(minute_now - minutes, minute_now):
            await store.record_minutes([(f"app{i}", 0, m, 1.5, 50e6 + m) for i in range(PROCESSES)])
    size = _size(directory)
    async with await StateStore.open(path) as store:  # what a starting daemon does
        keeper = HistoryKeeper(store, clock=lambda: now)
        start = time.perf_counter()
        loaded = await keeper.load()
        seconds = time.perf_counter() - start
    return size, seconds, loaded


def bench_state_db(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="ptm-bench-history-") as tmp:
        size, seconds, loaded = anyio.run(_state_db, Path(tmp), quick)
    minutes = MINUTES_KEPT if not quick else 240
    assert loaded == PROCESSES * minutes, (loaded, PROCESSES * minutes)
    return [
        Row(
            f"state.db with {PROCESSES} processes × {minutes} minutes (bytes, with its WAL)",
            f"{size:,}",
            "—",
            None,
            "—",
            None,
        ),
        Row(
            f"daemon start: read back {loaded:,} minutes (s)",
            f"{seconds:.2f}",
            "—",
            None,
            "< 1 s",
            seconds < 1.0,
        ),
    ]


def main() -> None:
    quick = quick_requested(sys.argv[1:])
    rows = bench_memory() + bench_record(quick) + bench_sampling(quick) + bench_state_db(quick)
    print(markdown_table(rows))
    print(f"\n_{os.cpu_count()} cpus; Python {sys.version.split()[0]}_")


if __name__ == "__main__":
    main()
