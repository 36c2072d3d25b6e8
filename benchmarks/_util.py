"""Small helpers shared by the benchmarks: medians, the results table, the quick switch.

Every benchmark prints one markdown table of rows ``measure | ptm | baseline | ratio |
target | ok?``: ptm's figure, the same figure for a baseline measured in the same run, their
ratio, the target and whether it was met.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = [
    "PTM",
    "QUICK_ENV",
    "Row",
    "daemon_home",
    "markdown_table",
    "median",
    "quick_requested",
    "thread_cpu_seconds",
]

QUICK_ENV = "PTM_BENCH_QUICK"
"""Set to ``1`` by ``python -m benchmarks --quick``: benchmarks then repeat less."""


def quick_requested(argv: Sequence[str] = ()) -> bool:
    """Whether to run fewer repetitions: ``--quick`` given, or ``PTM_BENCH_QUICK=1`` set."""
    return "--quick" in argv or os.environ.get(QUICK_ENV, "") == "1"


def median(values: Iterable[float]) -> float:
    """The median; a clear error (naming no figure) when nothing was measured."""
    data = list(values)
    if not data:
        raise ValueError("no samples were measured")
    return statistics.median(data)


@dataclass(frozen=True)
class Row:
    """One line of a results table. ``ratio`` is ptm / baseline (None when not meaningful);
    ``ok`` is None when the measure has no target."""

    measure: str
    ptm: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None


def _ok(ok: bool | None) -> str:
    if ok is None:
        return "—"
    return "yes" if ok else "**NO**"


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table (without a trailing newline)."""
    lines = [
        "| measure | ptm | baseline | ratio | target | ok? |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.measure} | {row.ptm} | {row.baseline} | {ratio} | {row.target} "
            f"| {_ok(row.ok)} |"
        )
    return "\n".join(lines)


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` in nanosecond precision (``schedstat``), where
    ``cpu_times()`` counts 10 ms ticks: over a 5 s window that would be 0.2% steps."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
        except FileNotFoundError:  # a thread that just ended
            continue
    return total / 1e9


PTM = [sys.executable, "-m", "supervisor_core.cli"]
"""The ``ptm`` command as this Python runs it."""


@contextlib.contextmanager
def daemon_home() -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """A temporary ``(PTM_HOME, work folder, environment)``; the daemon started there is
    stopped with ``ptm kill`` at the end (SIGKILL by pid if it is still there)."""
    with tempfile.TemporaryDirectory(prefix="ptm-bench-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        work.mkdir()
        env = dict(os.environ, PTM_HOME=str(home))
        try:
            yield home, work, env
        finally:
            pid_file = home / "ptm.pid"
            daemon = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
            subprocess.run([*PTM, "kill"], env=env, capture_output=True, timeout=120)
            if daemon is not None and psutil.pid_exists(daemon):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(daemon, signal.SIGKILL)
