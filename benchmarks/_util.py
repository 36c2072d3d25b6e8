"""Small helpers shared by the benchmarks: medians, the results table, the quick switch.

Every benchmark prints one markdown table of rows ``measure | ptm | baseline | ratio |
target | ok?``: ptm's figure, the same figure for a baseline measured in the same run, their
ratio, the target and whether it was met.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["QUICK_ENV", "Row", "markdown_table", "median", "quick_requested"]

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
